/*
 * report.c - the report of "odeon-load viewers" (README.md, "Output and exit status"): once the
 * workers are joined, it reads the viewers and prints, on stdout, one JSON line per viewer and a
 * summary line (--json), then the markdown table and a line with the video figures.
 *
 * It compares the decoders' frames (by the barcode's frame number: a checksum per decoder over
 * the frames every decoder decoded at one size), sums loss per SSRC, sorts the join and offer
 * times, and takes the stalls and delivered rates of the window, and (--placement,
 * --failover-after-ms) where the viewers ended up and how their failovers went. The exit
 * status comes from here: every viewer ok, loss within --max-loss-pct, no SRTP authentication
 * failure and, with --decode, checksums that agree.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "load.h"

uint64_t ssrc_lost(const ssrc_stat *s)
{
    if (s->first_ext < 0)
        return 0;
    int64_t expected = s->max_ext - s->first_ext + 1;
    return expected > (int64_t)s->received ? (uint64_t)(expected - (int64_t)s->received) : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const int64_t *sorted, int n, double q)
{
    return n ? (double)sorted[(int)(q * (n - 1) + 0.5)] / 1000.0 : -1;
}

static double since_watch_ms(const viewer *v, int64_t t)
{
    return t && v->t_watch ? (double)(t - v->t_watch) / 1000.0 : -1;
}

/* Over every session of the viewer: those a failover closed are in retired_lost. */
static uint64_t viewer_lost(const viewer *v)
{
    uint64_t lost = v->retired_lost;
    for (int i = 0; i < v->nss; i++)
        lost += ssrc_lost(&v->ss[i]);
    return lost;
}

/* Decoded-frame agreement across the --decode viewers that got media: the frames (by barcode
 * number) that every one of them decoded, and per viewer a checksum over those frames. */
typedef struct {
    int decoders;
    uint64_t common;
    uint64_t other_size; /* decoded by all, but not all at the same size (simulcast layers) */
    uint64_t checksum[64];
    uint64_t mismatched[64];
    bool agree;
} agreement;

static void compute_agreement(agreement *ag, const report_input *in)
{
    memset(ag, 0, sizeof *ag);
    const viewer *dec[64];
    int nd = 0;
    for (int i = 0; i < in->n && nd < 64; i++)
        if (in->viewers[i].rx && atomic_load(&in->viewers[i].st) == ST_OK)
            dec[nd++] = &in->viewers[i];
    ag->decoders = nd;
    for (int i = 0; i < nd; i++)
        ag->checksum[i] = 0x9e3779b97f4a7c15ULL;
    for (unsigned f = 0; f < 65536 && nd > 0; f++) {
        uint64_t h[64];
        uint32_t size[64];
        bool all = true, same = true;
        for (int i = 0; i < nd && all; i++)
            all = vp8_receiver_frame(dec[i]->rx, (uint16_t)f, &h[i], &size[i]);
        if (!all)
            continue;
        /* a frame number decoded from different simulcast layers is not the same picture */
        for (int i = 1; i < nd; i++)
            same &= size[i] == size[0];
        if (!same) {
            ag->other_size++;
            continue;
        }
        ag->common++;
        for (int i = 0; i < nd; i++) {
            ag->checksum[i] = (ag->checksum[i] ^ h[i] ^ f) * 0x100000001b3ULL;
            ag->checksum[i] ^= ag->checksum[i] >> 31;
            ag->mismatched[i] += h[i] != h[0];
        }
    }
    ag->agree = nd > 0 && ag->common > 0;
    for (int i = 1; i < nd; i++)
        ag->agree &= ag->checksum[i] == ag->checksum[0];
}

static double ms(int64_t us)
{
    return (double)us / 1000.0;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* The longest time without video RTP, and without a decoded frame (-1: no decoder), both
 * including the time from the last one to the end of the window. */
static int64_t viewer_video_gap(const viewer *v)
{
    return max64(v->max_video_gap_us, v->video_gap_end_us);
}

static int64_t viewer_stall(const viewer *v)
{
    if (!v->rx)
        return -1;
    vp8_receiver_stats rs;
    vp8_receiver_get_stats(v->rx, &rs);
    return rs.frames_decoded ? max64(rs.max_gap_us, v->stall_end_us) : -1;
}

/* max_gap_ms: the longest time without any RTP packet: between two in the window (a failover
 * there included), a failover's gap whenever it happened, or from the last packet to the end
 * of the window. -1: no packet at all. */
static int64_t viewer_max_gap(const viewer *v)
{
    int64_t g = v->in_window && v->last_rtp_us ? v->max_gap_us : -1;
    return max64(g, v->pl.max_recovery_us);
}

static bool viewer_ok(const viewer *v)
{
    return atomic_load(&v->st) == ST_OK && !atomic_load(&v->failed);
}

/* --placement, --failover-after-ms: the viewer's node and its failovers (in every line: the
 * defaults say "entry" and no failover). */
static void viewer_json_cluster(GString *o, const viewer *v)
{
    const placement_state *p = &v->pl;
    g_string_append_printf(o,
                           ",\"node\":\"%s\",\"failovers\":%u,\"failover_attempts\":%u,"
                           "\"recovered\":%s,\"failover_gap_ms\":%.1f,"
                           "\"failover_keyframe_ms\":%.1f,\"max_gap_ms\":%.1f",
                           p->node, p->failovers, p->attempts,
                           !p->failovers                    ? "null"
                           : viewer_ok(v) && !p->recovering ? "true"
                                                            : "false",
                           p->max_recovery_us >= 0 ? ms(p->max_recovery_us) : -1,
                           p->max_recovery_key_us >= 0 ? ms(p->max_recovery_key_us) : -1,
                           viewer_max_gap(v) >= 0 ? ms(viewer_max_gap(v)) : -1);
}

static double window_rate(const viewer *v, uint64_t c1, uint64_t c0)
{
    double win_s = v->win1_t > v->win0_t ? (double)(v->win1_t - v->win0_t) / 1e6 : 0;
    return win_s > 0 ? (double)(c1 - c0) / win_s : 0;
}

/* --frame-times (below): per node and decoder, how late each frame completed. */
typedef struct frame_delay frame_delay;
static void viewer_json_frame_delay(GString *o, const viewer *v, const frame_delay *fd);

static void viewer_json(const viewer *v, const agreement *ag, int dec_index, const frame_delay *fd)
{
    GString *o = g_string_new(NULL);
    int st = atomic_load(&v->st);
    double win_s = v->win1_t > v->win0_t ? (double)(v->win1_t - v->win0_t) / 1e6 : 0;
    g_string_append_printf(o, "{\"viewer\":%d,\"ok\":%s,\"stage\":\"%s\"", v->idx,
                           st == ST_OK && !atomic_load(&v->failed) ? "true" : "false",
                           stage_names[st]);
    if (v->error[0]) {
        char *e = g_strescape(v->error, NULL);
        g_string_append_printf(o, ",\"error\":\"%s\"", e);
        g_free(e);
    }
    g_string_append_printf(o,
                           ",\"ws_ms\":%.1f,\"offer_ms\":%.1f,\"ice_ms\":%.1f,\"dtls_ms\":%.1f,"
                           "\"webrtcup_ms\":%.1f,\"first_packet_ms\":%.1f,"
                           "\"first_keyframe_ms\":%.1f",
                           v->t_open ? (double)(v->t_open - v->t_start) / 1000.0 : -1,
                           since_watch_ms(v, v->t_offer), since_watch_ms(v, v->t_ice),
                           since_watch_ms(v, v->t_dtls), since_watch_ms(v, v->t_webrtcup),
                           since_watch_ms(v, v->t_first_pkt), since_watch_ms(v, v->t_first_key));
    g_string_append_printf(
        o,
        ",\"srtp\":\"%s\",\"packets\":%llu,\"bytes\":%llu,\"audio_packets\":%llu,"
        "\"video_packets\":%llu,\"rtcp_packets\":%llu,\"lost\":%llu,\"decrypted\":%llu,"
        "\"auth_failures\":%llu,\"slowlinks\":%llu,\"window_kbps\":%.1f,\"window_pps\":%.1f",
        v->srtp_profile ? v->srtp_profile : "", (unsigned long long)v->c.pkts,
        (unsigned long long)v->c.bytes, (unsigned long long)v->audio_pkts,
        (unsigned long long)v->video_pkts, (unsigned long long)v->rtcp_pkts,
        (unsigned long long)viewer_lost(v), (unsigned long long)v->decrypted,
        (unsigned long long)v->auth_fail, (unsigned long long)v->slowlinks,
        win_s > 0 ? (double)(v->win1.bytes - v->win0.bytes) * 8 / 1000 / win_s : 0,
        win_s > 0 ? (double)(v->win1.pkts - v->win0.pkts) / win_s : 0);
    g_string_append_printf(
        o,
        ",\"ok_ms\":%.1f,\"window_video_pps\":%.1f,\"window_video_fps\":%.2f,"
        "\"max_video_gap_ms\":%.1f,\"rtcp_sent\":%llu,\"rtcp_errors\":%llu,\"remb_bps\":%llu,"
        "\"nacks_sent\":%llu,\"repaired\":%llu,\"repair_mismatch\":%llu,\"plis_sent\":%llu",
        since_watch_ms(v, v->t_ok), window_rate(v, v->win1.video_pkts, v->win0.video_pkts),
        window_rate(v, v->win1.video_frames, v->win0.video_frames),
        v->last_video_us ? ms(viewer_video_gap(v)) : -1, (unsigned long long)v->rtcp_sent,
        (unsigned long long)v->rtcp_errors, (unsigned long long)v->remb_bps,
        (unsigned long long)v->nacks_sent, (unsigned long long)v->repaired,
        (unsigned long long)v->repair_mismatch, (unsigned long long)v->plis_sent);
    viewer_json_cluster(o, v);
    viewer_json_frame_delay(o, v, fd);
    g_string_append(o, ",\"ssrcs\":[");
    for (int i = 0; i < v->nss; i++)
        g_string_append_printf(
            o, "%s{\"ssrc\":%u,\"kind\":\"%s\",\"received\":%llu,\"lost\":%llu,\"gaps\":%llu,"
               "\"duplicates\":%llu}",
            i ? "," : "", v->ss[i].ssrc,
            v->ss[i].kind == KIND_AUDIO   ? "audio"
            : v->ss[i].kind == KIND_VIDEO ? "video"
                                          : "?",
            (unsigned long long)v->ss[i].received, (unsigned long long)ssrc_lost(&v->ss[i]),
            (unsigned long long)v->ss[i].gaps, (unsigned long long)v->ss[i].duplicates);
    g_string_append(o, "]");
    if (v->rx) {
        vp8_receiver_stats rs;
        vp8_receiver_get_stats(v->rx, &rs);
        g_string_append_printf(
            o,
            ",\"decode\":{\"frames\":%llu,\"keyframes\":%llu,\"errors\":%llu,"
            "\"before_keyframe\":%llu,\"dropped\":%llu,\"bad_barcode\":%llu,"
            "\"width\":%u,\"height\":%u",
            (unsigned long long)rs.frames_decoded, (unsigned long long)rs.keyframes,
            (unsigned long long)rs.decode_errors, (unsigned long long)rs.frames_before_key,
            (unsigned long long)rs.frames_dropped, (unsigned long long)rs.bad_barcode, rs.width,
            rs.height);
        /* sizes: when each size began, in ms since the viewer became ok (negative: decoding
         * began before the audio that completed "ok" arrived) */
        g_string_append_printf(o, ",\"stall_ms\":%.1f,\"size_changes\":%u,\"sizes\":[",
                               rs.frames_decoded ? ms(viewer_stall(v)) : -1, rs.size_changes);
        for (unsigned i = 0; i < rs.size_changes && i < VP8_SIZE_CHANGES; i++)
            g_string_append_printf(o, "%s{\"t_ms\":%.1f,\"width\":%u,\"height\":%u}", i ? "," : "",
                                   v->t_ok ? ms(rs.sizes[i].at_us - v->t_ok) : -1,
                                   rs.sizes[i].width, rs.sizes[i].height);
        g_string_append(o, "]");
        if (dec_index >= 0)
            g_string_append_printf(o,
                                   ",\"compared_frames\":%llu,\"checksum\":\"%016llx\","
                                   "\"mismatched_frames\":%llu",
                                   (unsigned long long)ag->common,
                                   (unsigned long long)ag->checksum[dec_index],
                                   (unsigned long long)ag->mismatched[dec_index]);
        g_string_append(o, "}");
    }
    g_string_append(o, "}");
    puts(o->str);
    g_string_free(o, TRUE);
}

/* Totals over all viewers; join and offer times sorted, in microseconds. */
typedef struct {
    int count[ST_COUNT], ok, up, nj, no;
    int64_t *join, *offer;
    uint64_t lost, received, auth, win_pkts, win_bytes, vlost_min, vlost_max;
    double win_s, loss_pct, pps, kbps, cpu_pct;
    /* over the ok viewers (stall: the ok decoders); -1 when there is none */
    int64_t max_stall_us, max_video_gap_us;
    double min_video_pps, min_video_fps;
} totals;

/* Sums the viewers; prints each viewer's JSON line (--json) and the first error per stage. */
static void totals_compute(totals *t, const agreement *ag, const frame_delay *fd,
                           const report_input *in)
{
    memset(t, 0, sizeof *t);
    t->join = g_new(int64_t, in->n);
    t->offer = g_new(int64_t, in->n);
    t->vlost_min = UINT64_MAX;
    t->max_stall_us = t->max_video_gap_us = -1;
    t->min_video_pps = t->min_video_fps = -1;
    bool shown[ST_COUNT] = {false};
    int di = 0;
    for (int i = 0; i < in->n; i++) {
        const viewer *v = &in->viewers[i];
        int st = atomic_load(&v->st);
        bool vok = st == ST_OK && !atomic_load(&v->failed);
        t->count[st]++;
        t->ok += vok;
        t->up += v->t_webrtcup != 0;
        if (v->t_first_key && v->t_watch)
            t->join[t->nj++] = v->t_first_key - v->t_watch;
        if (v->t_offer && v->t_watch)
            t->offer[t->no++] = v->t_offer - v->t_watch;
        uint64_t vl = viewer_lost(v);
        t->lost += vl;
        if (vok) {
            t->vlost_min = vl < t->vlost_min ? vl : t->vlost_min;
            t->vlost_max = vl > t->vlost_max ? vl : t->vlost_max;
            t->max_stall_us = max64(t->max_stall_us, viewer_stall(v));
        }
        if (vok && v->has_video) {
            double pps = window_rate(v, v->win1.video_pkts, v->win0.video_pkts);
            double fps = window_rate(v, v->win1.video_frames, v->win0.video_frames);
            t->min_video_pps =
                t->min_video_pps < 0 || pps < t->min_video_pps ? pps : t->min_video_pps;
            t->min_video_fps =
                t->min_video_fps < 0 || fps < t->min_video_fps ? fps : t->min_video_fps;
            t->max_video_gap_us = max64(t->max_video_gap_us, viewer_video_gap(v));
        }
        t->received += v->retired_received;
        for (int s = 0; s < v->nss; s++)
            t->received += v->ss[s].received;
        t->auth += v->auth_fail;
        t->win_pkts += v->win1.pkts - v->win0.pkts;
        t->win_bytes += v->win1.bytes - v->win0.bytes;
        if (v->win1_t > v->win0_t)
            t->win_s = (double)(v->win1_t - v->win0_t) / 1e6;
        if (!vok && !shown[st]) {
            shown[st] = true;
            logf_("viewers stopped at stage '%s', e.g. viewer %d: %s", stage_names[st], i,
                  v->error[0] ? v->error : "(no error reported)");
        }
        if (in->json)
            viewer_json(v, ag, v->rx && vok ? di : -1, fd);
        di += v->rx && vok;
    }
    qsort(t->join, (size_t)t->nj, sizeof *t->join, cmp_i64);
    qsort(t->offer, (size_t)t->no, sizeof *t->offer, cmp_i64);
    uint64_t expected = t->received + t->lost;
    t->loss_pct = expected ? 100.0 * (double)t->lost / (double)expected : 0;
    if (t->vlost_min == UINT64_MAX)
        t->vlost_min = 0;
    t->pps = t->win_s > 0 ? (double)t->win_pkts / t->win_s : 0;
    t->kbps = t->win_s > 0 && t->ok ? (double)t->win_bytes * 8 / 1000 / t->win_s / t->ok : 0;
    t->cpu_pct = t->win_s > 0 ? (double)in->cpu_us / (t->win_s * 1e4) : 0;
}

/* Where the ok viewers ended up (the first MAX_NODES node ids, in order of appearance; the
 * rest are counted as other_nodes) and how the failovers went; gaps in microseconds, sorted. */
#define MAX_NODES 32
typedef struct {
    int nnodes, other_nodes;
    char node[MAX_NODES][NODE_ID_MAX];
    int count[MAX_NODES];
    int failed_over, unrecovered; /* viewers that failed over; of those, not ok at the end */
    uint64_t failovers;
    int64_t *gap, *key; /* per recovered viewer: its longest failover gap, and to keyframe */
    int ngap, nkey;
    int64_t max_gap_others_us; /* max_gap_ms over the ok viewers that never failed over */
} cluster;

static void cluster_count_node(cluster *c, const char *node)
{
    for (int i = 0; i < c->nnodes; i++)
        if (strcmp(c->node[i], node) == 0) {
            c->count[i]++;
            return;
        }
    if (c->nnodes == MAX_NODES) {
        c->other_nodes++;
        return;
    }
    g_strlcpy(c->node[c->nnodes], node, NODE_ID_MAX);
    c->count[c->nnodes++] = 1;
}

static void cluster_compute(cluster *c, const report_input *in)
{
    memset(c, 0, sizeof *c);
    c->gap = g_new(int64_t, in->n);
    c->key = g_new(int64_t, in->n);
    c->max_gap_others_us = -1;
    for (int i = 0; i < in->n; i++) {
        const viewer *v = &in->viewers[i];
        const placement_state *p = &v->pl;
        bool ok = viewer_ok(v);
        if (ok)
            cluster_count_node(c, p->node);
        if (ok && !p->failovers)
            c->max_gap_others_us = max64(c->max_gap_others_us, viewer_max_gap(v));
        if (!p->failovers)
            continue;
        c->failed_over++;
        c->failovers += p->failovers;
        c->unrecovered += !ok || p->recovering;
        if (p->max_recovery_us >= 0)
            c->gap[c->ngap++] = p->max_recovery_us;
        if (p->max_recovery_key_us >= 0)
            c->key[c->nkey++] = p->max_recovery_key_us;
    }
    qsort(c->gap, (size_t)c->ngap, sizeof *c->gap, cmp_i64);
    qsort(c->key, (size_t)c->nkey, sizeof *c->key, cmp_i64);
}

/* ----- --frame-times: per-hop latency ----------------------------------------------------------
 * Each decoder recorded when every frame it decoded completed (vp8_receiver_frame_time: the
 * kernel's receive time of the frame's last packet). A node's time for a frame is the earliest
 * among its decoders; the frames of the measured window are those whose time on the entry
 * node (or, for the source's log, whose send time) lies in the window. A decoder then gives
 * one sample per window frame it also decoded: its time minus the reference's. Per node, the
 * samples of its decoders give p50/p95/max of:
 *   - frame_delay_ms: against the entry node ("entry": the viewers its own node served); the
 *     entry node's own decoders give their spread (0 for the earliest);
 *   - frame_delay_pairs_ms: against every other node (relay of a relay against its relay);
 *   - source_latency_ms (--source-frame-log): against the source's send time of the frame,
 *     the same monotonic clock (one machine).
 * Decoders that failed over are left out (their frames came from more than one node). */
#define NO_TIME INT64_MAX

typedef struct {
    double p50, p95, max;
    unsigned n;
} delay_stats;

struct frame_delay {
    int nnodes, entry; /* entry: the index of node "entry", or -1 */
    char node[MAX_NODES][NODE_ID_MAX];
    int decoders[MAX_NODES];
    int64_t *first[MAX_NODES];          /* per frame number: the node's earliest time, or NO_TIME */
    int64_t *source;                    /* per frame number: the source's send time, or NULL */
    uint64_t ref_frames, source_frames; /* window frames on the entry node, from the source */
    delay_stats pair[MAX_NODES][MAX_NODES]; /* [node][reference node] */
    delay_stats from_source[MAX_NODES];
};

static bool frame_delay_viewer(const viewer *v)
{
    return v->rx && viewer_ok(v) && !v->pl.failovers;
}

static int frame_delay_node(frame_delay *fd, const char *node)
{
    for (int i = 0; i < fd->nnodes; i++)
        if (strcmp(fd->node[i], node) == 0)
            return i;
    if (fd->nnodes == MAX_NODES)
        return -1;
    g_strlcpy(fd->node[fd->nnodes], node, NODE_ID_MAX);
    fd->first[fd->nnodes] = g_new(int64_t, 65536);
    for (unsigned f = 0; f < 65536; f++)
        fd->first[fd->nnodes][f] = NO_TIME;
    if (strcmp(node, "entry") == 0)
        fd->entry = fd->nnodes;
    return fd->nnodes++;
}

/* --source-frame-log: "<frame number> <monotonic us>" per line, as odeon-load source
 * --frame-log writes it; the frames sent in the window, by 16-bit number (the latest wins: a
 * run shorter than the 36 minutes after which the numbers wrap). NULL if unreadable. */
static int64_t *source_times(const report_input *in)
{
    FILE *f = fopen(in->source_frame_log, "r");
    if (!f) {
        logf_("cannot read --source-frame-log %s", in->source_frame_log);
        return NULL;
    }
    int64_t *t = g_new(int64_t, 65536);
    for (unsigned i = 0; i < 65536; i++)
        t[i] = NO_TIME;
    unsigned long no;
    long long us;
    while (fscanf(f, "%lu %lld", &no, &us) == 2)
        if (us >= in->window_start_us && us <= in->window_end_us)
            t[no & 0xffff] = us;
    fclose(f);
    return t;
}

/* Samples of viewer v against the reference times ref (microseconds), appended to out. */
static void delay_samples(const viewer *v, const int64_t *ref, GArray *out)
{
    for (unsigned f = 0; f < 65536; f++) {
        int64_t t;
        if (ref[f] != NO_TIME && vp8_receiver_frame_time(v->rx, (uint16_t)f, &t)) {
            int64_t d = t - ref[f];
            g_array_append_val(out, d);
        }
    }
}

static delay_stats delay_of(GArray *samples)
{
    g_array_sort(samples, cmp_i64);
    const int64_t *s = (const int64_t *)(const void *)samples->data;
    int n = (int)samples->len;
    return (delay_stats){pct_ms(s, n, 0.5), pct_ms(s, n, 0.95), pct_ms(s, n, 1.0), samples->len};
}

/* The samples of node k's decoders against ref. */
static delay_stats node_delay(const frame_delay *fd, const report_input *in, int k,
                              const int64_t *ref)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(int64_t));
    for (int i = 0; i < in->n; i++) {
        const viewer *v = &in->viewers[i];
        if (frame_delay_viewer(v) && strcmp(v->pl.node, fd->node[k]) == 0)
            delay_samples(v, ref, a);
    }
    delay_stats d = delay_of(a);
    g_array_free(a, TRUE);
    return d;
}

static void frame_delay_compute(frame_delay *fd, const report_input *in)
{
    memset(fd, 0, sizeof *fd);
    fd->entry = -1;
    if (!in->frame_times)
        return;
    for (int i = 0; i < in->n; i++) {
        const viewer *v = &in->viewers[i];
        int k = frame_delay_viewer(v) ? frame_delay_node(fd, v->pl.node) : -1;
        if (k < 0)
            continue;
        fd->decoders[k]++;
        for (unsigned f = 0; f < 65536; f++) {
            int64_t t;
            if (vp8_receiver_frame_time(v->rx, (uint16_t)f, &t) && t < fd->first[k][f])
                fd->first[k][f] = t;
        }
    }
    /* a reference counts the frames whose time lies in the window: on the entry node for the
     * main figure; for the pairs, each node's own (the same frames, give or take the edges) */
    for (int k = 0; k < fd->nnodes; k++)
        for (unsigned f = 0; f < 65536; f++)
            if (fd->first[k][f] < in->window_start_us || fd->first[k][f] > in->window_end_us)
                fd->first[k][f] = NO_TIME;
            else if (k == fd->entry)
                fd->ref_frames++;
    for (int k = 0; k < fd->nnodes; k++)
        for (int r = 0; r < fd->nnodes; r++)
            fd->pair[k][r] = node_delay(fd, in, k, fd->first[r]);
    if (in->source_frame_log && (fd->source = source_times(in)) != NULL) {
        for (unsigned f = 0; f < 65536; f++)
            fd->source_frames += fd->source[f] != NO_TIME;
        for (int k = 0; k < fd->nnodes; k++)
            fd->from_source[k] = node_delay(fd, in, k, fd->source);
    }
}

static void frame_delay_free(frame_delay *fd)
{
    for (int k = 0; k < fd->nnodes; k++)
        g_free(fd->first[k]);
    g_free(fd->source);
}

/* A decoder's own figures in its JSON line: against the entry node and the source. */
static void viewer_json_frame_delay(GString *o, const viewer *v, const frame_delay *fd)
{
    if (!v->rx || !v->stamped)
        return;
    delay_stats d[2] = {{-1, -1, -1, 0}, {-1, -1, -1, 0}};
    const int64_t *ref[2] = {fd->entry >= 0 ? fd->first[fd->entry] : NULL, fd->source};
    for (int i = 0; i < 2; i++)
        if (ref[i] && frame_delay_viewer(v)) {
            GArray *a = g_array_new(FALSE, FALSE, sizeof(int64_t));
            delay_samples(v, ref[i], a);
            d[i] = delay_of(a);
            g_array_free(a, TRUE);
        }
    g_string_append_printf(o,
                           ",\"frame_delay_ms\":{\"p50\":%.2f,\"p95\":%.2f,\"frames\":%u},"
                           "\"source_latency_ms\":{\"p50\":%.2f,\"p95\":%.2f,\"frames\":%u}",
                           d[0].p50, d[0].p95, d[0].n, d[1].p50, d[1].p95, d[1].n);
}

static void print_delay(const char *name, const delay_stats *d, bool comma)
{
    printf("%s\"%s\":{\"p50\":%.2f,\"p95\":%.2f,\"max\":%.2f,\"frames\":%u}", comma ? "," : "",
           name, d->p50, d->p95, d->max, d->n);
}

static void print_frame_delay_json(const frame_delay *fd, const report_input *in)
{
    if (!in->frame_times) {
        printf("\"frame_delay_ms\":null,\"frame_delay_pairs_ms\":null,"
               "\"source_latency_ms\":null,");
        return;
    }
    printf("\"frame_delay_ref_frames\":%llu,\"frame_delay_decoders\":{",
           (unsigned long long)fd->ref_frames);
    for (int k = 0; k < fd->nnodes; k++)
        printf("%s\"%s\":%d", k ? "," : "", fd->node[k], fd->decoders[k]);
    printf("},\"frame_delay_ms\":{");
    for (int k = 0; fd->entry >= 0 && k < fd->nnodes; k++)
        print_delay(fd->node[k], &fd->pair[k][fd->entry], k > 0);
    printf("},\"frame_delay_pairs_ms\":{");
    for (int k = 0; k < fd->nnodes; k++) {
        printf("%s\"%s\":{", k ? "," : "", fd->node[k]);
        for (int r = 0, n = 0; r < fd->nnodes; r++)
            if (r != k)
                print_delay(fd->node[r], &fd->pair[k][r], n++ > 0);
        printf("}");
    }
    printf("},\"source_frames\":%llu,\"source_latency_ms\":",
           (unsigned long long)fd->source_frames);
    if (!fd->source) {
        printf("null,");
        return;
    }
    printf("{");
    for (int k = 0; k < fd->nnodes; k++)
        print_delay(fd->node[k], &fd->from_source[k], k > 0);
    printf("},");
}

static void print_cluster_json(const cluster *c)
{
    printf("\"nodes\":{");
    for (int i = 0; i < c->nnodes; i++)
        printf("%s\"%s\":%d", i ? "," : "", c->node[i], c->count[i]);
    printf("},\"other_nodes\":%d,\"failed_over\":%d,\"failovers\":%llu,"
           "\"failover_unrecovered\":%d,",
           c->other_nodes, c->failed_over, (unsigned long long)c->failovers, c->unrecovered);
    printf("\"failover_gap_ms_min\":%.1f,\"failover_gap_ms_p50\":%.1f,"
           "\"failover_gap_ms_p95\":%.1f,\"failover_gap_ms_max\":%.1f,",
           pct_ms(c->gap, c->ngap, 0), pct_ms(c->gap, c->ngap, 0.5), pct_ms(c->gap, c->ngap, 0.95),
           pct_ms(c->gap, c->ngap, 1.0));
    printf("\"failover_keyframe_ms_min\":%.1f,\"failover_keyframe_ms_p50\":%.1f,"
           "\"failover_keyframe_ms_p95\":%.1f,\"failover_keyframe_ms_max\":%.1f,"
           "\"max_gap_ms_no_failover\":%.1f,",
           pct_ms(c->key, c->nkey, 0), pct_ms(c->key, c->nkey, 0.5), pct_ms(c->key, c->nkey, 0.95),
           pct_ms(c->key, c->nkey, 1.0), c->max_gap_others_us >= 0 ? ms(c->max_gap_others_us) : -1);
}

/* The table's cluster line (--placement, --failover-after-ms or --frame-times only: the
 * table is otherwise as it always was). */
static void print_cluster_line(const cluster *c, const frame_delay *fd, const report_input *in)
{
    printf("cluster: ok viewers per node:");
    for (int i = 0; i < c->nnodes; i++)
        printf("%s %s %d", i ? "," : "", c->node[i], c->count[i]);
    if (c->other_nodes)
        printf(", other nodes %d", c->other_nodes);
    printf("; %d viewers failed over (%llu failovers), %d never recovered; gap ms (last packet "
           "-> first after) min/p50/p95/max %.0f / %.0f / %.0f / %.0f, to keyframe p50/max "
           "%.0f / %.0f; longest gap of the others %.0f ms\n",
           c->failed_over, (unsigned long long)c->failovers, c->unrecovered,
           pct_ms(c->gap, c->ngap, 0), pct_ms(c->gap, c->ngap, 0.5), pct_ms(c->gap, c->ngap, 0.95),
           pct_ms(c->gap, c->ngap, 1.0), pct_ms(c->key, c->nkey, 0.5), pct_ms(c->key, c->nkey, 1.0),
           c->max_gap_others_us >= 0 ? ms(c->max_gap_others_us) : -1);
    if (!in->frame_times)
        return;
    printf("cluster: frame delay vs the entry node, ms p50/p95 (decoders; %llu frames of the "
           "window on the entry):",
           (unsigned long long)fd->ref_frames);
    for (int k = 0; fd->entry >= 0 && k < fd->nnodes; k++)
        printf("%s %s %.1f / %.1f (%d)", k ? "," : "", fd->node[k], fd->pair[k][fd->entry].p50,
               fd->pair[k][fd->entry].p95, fd->decoders[k]);
    if (fd->entry < 0)
        printf(" no decoder on the entry node");
    if (fd->source) {
        printf("; from the source:");
        for (int k = 0; k < fd->nnodes; k++)
            printf("%s %s %.1f / %.1f", k ? "," : "", fd->node[k], fd->from_source[k].p50,
                   fd->from_source[k].p95);
    }
    printf("\n");
}

static void print_summary_json(const totals *t, const agreement *ag, const cluster *c,
                               const frame_delay *fd, const report_input *in)
{
    printf("{\"summary\":true,\"label\":\"%s\",\"plugin\":\"%s\",\"viewers\":%d,\"ok\":%d,"
           "\"webrtcup\":%d,\"join_ms_p50\":%.1f,\"join_ms_p95\":%.1f,\"join_ms_max\":%.1f,"
           "\"offer_ms_p50\":%.1f,\"lost\":%llu,\"loss_pct\":%.4f,\"lost_per_viewer_min\":%llu,"
           "\"lost_per_viewer_max\":%llu,\"window_s\":%.2f,\"window_pps\":%.1f,"
           "\"kbps_per_viewer\":%.1f,\"auth_failures\":%llu,\"decoders\":%d,"
           "\"compared_frames\":%llu,\"checksums_agree\":%s,\"loadgen_cpu_pct\":%.1f,",
           in->label, in->plugin, in->n, t->ok, t->up, pct_ms(t->join, t->nj, 0.5),
           pct_ms(t->join, t->nj, 0.95), pct_ms(t->join, t->nj, 1.0), pct_ms(t->offer, t->no, 0.5),
           (unsigned long long)t->lost, t->loss_pct, (unsigned long long)t->vlost_min,
           (unsigned long long)t->vlost_max, t->win_s, t->pps, t->kbps, (unsigned long long)t->auth,
           ag->decoders, (unsigned long long)ag->common, ag->agree ? "true" : "false", t->cpu_pct);
    printf("\"other_size_frames\":%llu,\"max_stall_ms\":%.1f,\"max_video_gap_ms\":%.1f,"
           "\"min_window_video_pps\":%.1f,\"min_window_video_fps\":%.2f,",
           (unsigned long long)ag->other_size, t->max_stall_us >= 0 ? ms(t->max_stall_us) : -1,
           t->max_video_gap_us >= 0 ? ms(t->max_video_gap_us) : -1, t->min_video_pps,
           t->min_video_fps);
    print_cluster_json(c);
    print_frame_delay_json(fd, in);
    if (in->source_fps > 0 && t->min_video_fps >= 0)
        printf("\"min_delivered_pct\":%.1f}\n", 100.0 * t->min_video_fps / in->source_fps);
    else
        printf("\"min_delivered_pct\":null}\n");
}

static void print_table(const totals *t, const agreement *ag, const report_input *in)
{
    char checks[96];
    if (ag->decoders == 0)
        snprintf(checks, sizeof checks, "no decoder");
    else
        snprintf(checks, sizeof checks, "%s (%d decoders, %llu frames)",
                 ag->agree ? "agree" : "DIFFER", ag->decoders, (unsigned long long)ag->common);
    GString *stages = g_string_new(NULL);
    for (int s = 0; s < ST_COUNT; s++)
        if (t->count[s] && s != ST_OK)
            g_string_append_printf(stages, "%s%s:%d", stages->len ? " " : "", stage_names[s],
                                   t->count[s]);
    printf("\n%s, %s %s, %.1f s; odeon-load used %.0f%% of a core over the %.0f s window\n",
           in->label, in->plugin, in->watch, in->elapsed_s, t->cpu_pct, t->win_s);
    printf("| viewers up | webrtcup | join ms p50 / p95 / max (watch->keyframe) | offer ms p50 "
           "| lost pkts (%%; per viewer min-max) | rx pkt/s (all) | kbit/s per viewer "
           "| SRTP auth fail | decoded checksums |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    printf("| %d/%d%s%s%s | %d/%d | %.0f / %.0f / %.0f | %.1f | %llu (%.3f%%; %llu-%llu) "
           "| %.0f | %.0f | %llu | %s |\n",
           t->ok, in->n, stages->len ? " (" : "", stages->str, stages->len ? ")" : "", t->up, in->n,
           pct_ms(t->join, t->nj, 0.5), pct_ms(t->join, t->nj, 0.95), pct_ms(t->join, t->nj, 1.0),
           pct_ms(t->offer, t->no, 0.5), (unsigned long long)t->lost, t->loss_pct,
           (unsigned long long)t->vlost_min, (unsigned long long)t->vlost_max, t->pps, t->kbps,
           (unsigned long long)t->auth, checks);
    g_string_free(stages, TRUE);
    char stall[48] = "no decoder", deliv[48] = "";
    if (t->max_stall_us >= 0)
        snprintf(stall, sizeof stall, "%.0f ms", ms(t->max_stall_us));
    if (in->source_fps > 0 && t->min_video_fps >= 0)
        snprintf(deliv, sizeof deliv, " (%.0f%% of --source-fps)",
                 100.0 * t->min_video_fps / in->source_fps);
    printf("video in the window: min %.1f frames/s%s, min %.0f pkt/s per viewer; longest gap "
           "%.0f ms between RTP packets; longest stall between decoded frames: %s%s\n",
           t->min_video_fps, deliv, t->min_video_pps,
           t->max_video_gap_us >= 0 ? ms(t->max_video_gap_us) : -1, stall,
           ag->other_size ? " (some frames decoded at different sizes)" : "");
}

int viewers_report(const report_input *in)
{
    agreement ag;
    compute_agreement(&ag, in);
    frame_delay fd;
    frame_delay_compute(&fd, in);
    totals t;
    totals_compute(&t, &ag, &fd, in);
    cluster c;
    cluster_compute(&c, in);
    if (in->json)
        print_summary_json(&t, &ag, &c, &fd, in);
    print_table(&t, &ag, in);
    if (in->placement || in->failover || in->frame_times)
        print_cluster_line(&c, &fd, in);
    fflush(stdout);
    g_free(t.join);
    g_free(t.offer);
    g_free(c.gap);
    g_free(c.key);
    frame_delay_free(&fd);
    bool pass = t.ok == in->n && t.loss_pct <= in->max_loss_pct && t.auth == 0 &&
                (in->decode == 0 || ag.agree);
    return pass ? 0 : 1;
}
