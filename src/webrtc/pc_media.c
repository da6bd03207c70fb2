/*
 * pc_media.c - the peer connection's media path: demultiplexing, SRTP, incoming RTP (routing by
 * SSRC, mid, RTX unwrapping, statistics, loss tracking, transport-wide feedback), incoming RTCP
 * (reports, NACKs answered from our buffer), outgoing RTP and feedback, and the periodic work
 * (reports, NACKs, TWCC feedback, "media" and "slowlink" events).
 *
 * No allocation per packet: received datagrams are decrypted in a buffer of the connection,
 * RTCP is built in its scratch buffer, retransmission buffers are allocated at negotiation.
 * The send side (SRTP protect, send statistics, retransmission buffers, our sequence counters)
 * is under send_lock, so a plugin may also send from another thread; on the loop thread the
 * lock is never contended.
 */
#include "webrtc/pc_priv.h"

#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "webrtc/bytes.h"
#include "webrtc/rtcp.h"
#include "webrtc/rtp.h"

#define LOG_MODULE "pc"

#define NACK_SLOTS 1024
#define TWCC_SLOTS 2048
/* The send-side estimate's start and bounds: a path is assumed to carry 1 Mbit/s until the
 * peer's feedback says otherwise. */
#define BWE_START_BPS 1000000
#define BWE_MIN_BPS 50000
#define BWE_MAX_BPS 50000000
#define RTCP_MAX 1200
#define NACK_BATCH 64


/* ---- negotiation ---- */

static void stream_free(pc_stream *s)
{
    g_clear_pointer(&s->sent, odeon_nack_buffer_free);
    for (size_t k = 0; k < PC_MAX_LAYERS; k++)
        g_clear_pointer(&s->layers[k].missing, odeon_nack_tracker_free);
}

/* Returns the route of ssrc (the existing one if known), NULL for 0 or a full table. */
static pc_route *route_add(odeon_pc *pc, uint32_t ssrc, int stream, int layer, bool rtx)
{
    if (ssrc == 0)
        return NULL;
    for (size_t i = 0; i < pc->route_count; i++)
        if (pc->routes[i].ssrc == ssrc)
            return &pc->routes[i];
    if (pc->route_count >= PC_MAX_ROUTES)
        return NULL;
    pc->routes[pc->route_count] = (pc_route){
        .ssrc = ssrc, .stream = (int16_t)stream, .layer = (int8_t)layer, .rtx = rtx};
    return &pc->routes[pc->route_count++];
}

/* What one side of a negotiation says the peer sends on an m-line: how many layers, each one's
 * signalled SSRC and RTX SSRC (0: learned later) and rid (NULL unless by rid). rid style wins
 * over a SIM group: the plugin accepted it explicitly and its layers carry their names. */
typedef struct layer_plan {
    int count;
    bool by_rid, by_sim;
    uint32_t ssrc[PC_MAX_LAYERS], rtx[PC_MAX_LAYERS];
    const char *rid[PC_MAX_LAYERS];
} layer_plan;

static layer_plan plan_layers(const odeon_jsep_media *n)
{
    layer_plan p = {.count = 1, .ssrc = {n->remote_ssrc}, .rtx = {n->remote_rtx_ssrc}};
    if (!n->active || !n->recv)
        return p;
    if (n->rid_count > 0 && n->ext_rid != 0) {
        p = (layer_plan){.count = (int)MIN(n->rid_count, PC_MAX_LAYERS), .by_rid = true};
        for (int k = 0; k < p.count; k++)
            p.rid[k] = n->rids[k];
    } else if (n->remote_sim_count >= 2) {
        p = (layer_plan){.count = (int)MIN(n->remote_sim_count, PC_MAX_LAYERS), .by_sim = true};
        for (int k = 0; k < p.count; k++) {
            p.ssrc[k] = n->remote_sim_ssrcs[k];
            p.rtx[k] = n->remote_sim_rtx_ssrcs[k];
        }
    }
    return p;
}

/* A layer whose description did not change keeps what it learned (its SSRC from the first
 * packets, its statistics): a renegotiation must not lose a rid-style layer whose packets no
 * longer carry the rid. Any other layer starts over. Call with send_lock. */
static void layers_setup(pc_stream *s, const odeon_jsep_media *old, const odeon_jsep_media *neg)
{
    layer_plan was = plan_layers(old), now = plan_layers(neg);
    for (int k = 0; k < PC_MAX_LAYERS; k++) {
        pc_layer *l = &s->layers[k];
        bool same = old->active && k < was.count && was.by_rid == now.by_rid &&
                    was.by_sim == now.by_sim && was.ssrc[k] == now.ssrc[k] &&
                    was.rtx[k] == now.rtx[k] && g_strcmp0(was.rid[k], now.rid[k]) == 0;
        if (k >= now.count || !same) {
            g_clear_pointer(&l->missing, odeon_nack_tracker_free);
            memset(l, 0, sizeof *l);
        }
        if (k >= now.count)
            continue;
        if (!same) {
            l->ssrc = now.ssrc[k];
            l->rtx_ssrc = now.rtx[k];
            odeon_rtp_recv_stats_init(&l->recv, l->ssrc, neg->clock_rate);
        }
        if (neg->fb_nack && neg->recv && l->missing == NULL)
            l->missing = odeon_nack_tracker_new(NULL, NULL);
    }
    s->layer_count = now.count;
    s->simulcast = now.by_rid || now.by_sim;
    s->by_rid = now.by_rid;
}

static void stream_setup(odeon_pc *pc, pc_stream *s, const odeon_jsep_media *neg)
{
    bool fresh = s->neg.local_ssrc != neg->local_ssrc || !s->neg.active;
    odeon_jsep_media old = s->neg;
    s->neg = *neg;
    if (!neg->active)
        return;
    if (fresh) {
        odeon_rtp_send_stats_init(&s->send, neg->local_ssrc, neg->clock_rate);
        s->rtx_seq = (uint16_t)g_random_int();
    }
    layers_setup(s, &old, neg);
    if (neg->fb_nack && neg->send && s->sent == NULL && pc->settings.nack_buffer_ms > 0 &&
        !pc->external_retransmissions)
        s->sent = odeon_nack_buffer_new(NACK_SLOTS, 1500,
                                        (int64_t)pc->settings.nack_buffer_ms * 1000, NULL);
}

void pc_media_negotiated(odeon_pc *pc)
{
    g_autofree odeon_jsep_media *neg = g_new0(odeon_jsep_media, PC_MAX_MEDIA);
    int n = odeon_jsep_negotiated(pc->local, pc->remote, neg, PC_MAX_MEDIA);
    if (n < 0) {
        LOG_WARN("descriptions do not match (%zu and %zu m-lines)", pc->local->media_count,
                 pc->remote->media_count);
        return;
    }
    g_mutex_lock(&pc->send_lock);
    if ((size_t)n > pc->stream_cap) {
        pc->streams = g_renew(pc_stream, pc->streams, (size_t)n);
        memset(&pc->streams[pc->stream_cap], 0, ((size_t)n - pc->stream_cap) * sizeof(pc_stream));
        pc->stream_cap = (size_t)n;
    }
    for (int i = 0; i < n; i++)
        stream_setup(pc, &pc->streams[i], &neg[i]);
    for (size_t i = (size_t)n; i < pc->stream_count; i++) {
        stream_free(&pc->streams[i]);
        memset(&pc->streams[i], 0, sizeof pc->streams[i]);
    }
    pc->stream_count = (size_t)n;
    bool estimate = false;
    for (int i = 0; i < n; i++)
        estimate |= neg[i].active && neg[i].send && ((neg[i].fb_twcc && neg[i].ext_twcc != 0) ||
                                                     neg[i].fb_remb);
    if (estimate && pc->bwe == NULL)
        pc->bwe = odeon_bwe_new(BWE_START_BPS, BWE_MIN_BPS, BWE_MAX_BPS);
    g_mutex_unlock(&pc->send_lock);
    pc->route_count = 0;
    bool want_twcc = false;
    uint32_t first_remote = 0;
    for (int i = 0; i < n; i++) {
        const odeon_jsep_media *m = &neg[i];
        if (!m->active || !m->recv)
            continue;
        for (int k = 0; k < pc->streams[i].layer_count; k++) {
            route_add(pc, pc->streams[i].layers[k].ssrc, i, k, false);
            route_add(pc, pc->streams[i].layers[k].rtx_ssrc, i, k, true);
        }
        want_twcc |= m->fb_twcc && m->ext_twcc != 0;
        if (first_remote == 0)
            first_remote = m->remote_ssrc;
    }
    if (want_twcc && pc->twcc == NULL)
        pc->twcc = odeon_twcc_recorder_new(TWCC_SLOTS, pc->feedback_ssrc, first_remote, NULL);
}

void pc_media_free(odeon_pc *pc)
{
    g_mutex_lock(&pc->send_lock);
    for (size_t i = 0; i < pc->stream_cap; i++)
        stream_free(&pc->streams[i]);
    g_clear_pointer(&pc->streams, g_free);
    pc->stream_count = pc->stream_cap = 0;
    g_clear_pointer(&pc->bwe, odeon_bwe_free);
    g_mutex_unlock(&pc->send_lock);
    g_clear_pointer(&pc->twcc, odeon_twcc_recorder_free);
}

/* ---- sending ---- */

int pc_send_datagram(odeon_pc *pc, const uint8_t *buf, size_t len)
{
    if (pc->ice == NULL)
        return ODEON_ENOTCONN;
    return odeon_ice_agent_send(pc->ice, buf, len);
}

/* Protects and sends a plain RTCP packet in buf (cap bytes writable). Call with send_lock. */
int pc_send_rtcp_plain(odeon_pc *pc, uint8_t *buf, size_t len, size_t cap)
{
    if (pc->srtp == NULL || pc->stopped)
        return ODEON_ENOTCONN;
    if (odeon_srtp_protect_rtcp(pc->srtp, buf, &len, cap) != 0)
        return ODEON_EIO;
    return pc_send_datagram(pc, buf, len);
}

static uint32_t our_ssrc(odeon_pc *pc, const pc_stream *s)
{
    return s && s->neg.local_ssrc ? s->neg.local_ssrc : pc->feedback_ssrc;
}

/* Call with send_lock. */
/* Our SSRC and transport-wide sequence, the send statistics and retransmission buffer, then
 * SRTP: buf is ready for the wire in *len bytes. Call with send_lock. */
static int protect_rtp_locked(odeon_pc *pc, pc_stream *s, uint8_t *buf, size_t *plen,
                              size_t cap, bool store, int64_t now)
{
    size_t len = *plen;
    odeon_rtp_view v;
    if (odeon_rtp_parse(buf, len, &v) != 0)
        return ODEON_EINVAL;
    odeon_rtp_set_ssrc(buf, len, s->neg.local_ssrc);
    if (s->neg.ext_twcc != 0)
        odeon_rtp_set_twcc_seq(buf, &v, s->neg.ext_twcc, ++pc->twcc_out_seq);
    if (store) {
        odeon_rtp_send_stats_sent(&s->send, v.timestamp, v.payload_len, now);
        if (s->sent != NULL)
            odeon_nack_buffer_insert(s->sent, v.seq, buf, len, now);
    }
    if (odeon_srtp_protect_rtp(pc->srtp, buf, &len, cap) != 0)
        return ODEON_EIO;
    if (s->neg.ext_twcc != 0 && pc->bwe != NULL)
        odeon_bwe_on_sent(pc->bwe, pc->twcc_out_seq, len, now);
    pc->stats.packets_out++;
    pc->stats.bytes_out += len;
    *plen = len;
    return 0;
}

static int send_rtp_locked(odeon_pc *pc, pc_stream *s, uint8_t *buf, size_t len, size_t cap,
                           bool store, int64_t now)
{
    int rc = protect_rtp_locked(pc, s, buf, &len, cap, store, now);
    return rc != 0 ? rc : pc_send_datagram(pc, buf, len);
}

static pc_stream *send_stream(odeon_pc *pc, int mindex)
{
    if (mindex < 0 || (size_t)mindex >= pc->stream_count)
        return NULL;
    pc_stream *s = &pc->streams[mindex];
    return s->neg.active && s->neg.send ? s : NULL;
}

int odeon_pc_send_rtp(odeon_pc *pc, odeon_media_packet *p)
{
    if (p == NULL || p->data == NULL)
        return ODEON_EINVAL;
    g_mutex_lock(&pc->send_lock);
    int rc = ODEON_ENOTCONN;
    pc_stream *s = pc->up && pc->srtp ? send_stream(pc, p->mindex) : NULL;
    if (s != NULL)
        rc = send_rtp_locked(pc, s, p->data, p->len, p->capacity, true,
                             odeon_clock_monotonic_us());
    g_mutex_unlock(&pc->send_lock);
    return rc;
}

#define SEND_BATCH 64

int odeon_pc_send_rtp_batch(odeon_pc *pc, odeon_media_packet *packets, size_t n)
{
    if (packets == NULL)
        return ODEON_EINVAL;
    uint8_t *bufs[SEND_BATCH];
    size_t lens[SEND_BATCH];
    int sent = 0;
    g_mutex_lock(&pc->send_lock);
    if (!pc->up || pc->srtp == NULL || pc->ice == NULL) {
        g_mutex_unlock(&pc->send_lock);
        return ODEON_ENOTCONN;
    }
    int64_t now = odeon_clock_monotonic_us();
    for (size_t done = 0; done < n;) {
        size_t k = 0;
        for (; done < n && k < SEND_BATCH; done++) {
            odeon_media_packet *p = &packets[done];
            pc_stream *s = p->data ? send_stream(pc, p->mindex) : NULL;
            size_t len = p->len;
            if (s != NULL && protect_rtp_locked(pc, s, p->data, &len, p->capacity, true, now) == 0) {
                bufs[k] = p->data;
                lens[k++] = len;
            }
        }
        int rc = odeon_ice_agent_send_batch(pc->ice, bufs, lens, k);
        if (rc > 0)
            sent += rc;
    }
    g_mutex_unlock(&pc->send_lock);
    return sent;
}

void odeon_pc_external_retransmissions(odeon_pc *pc)
{
    g_mutex_lock(&pc->send_lock);
    pc->external_retransmissions = pc->events.retransmit != NULL;
    g_mutex_unlock(&pc->send_lock);
}

/* Sends pkt (len bytes, what we sent on s as seq) again. Call with send_lock. */
static void retransmit_packet(odeon_pc *pc, pc_stream *s, uint16_t seq, const uint8_t *pkt,
                              size_t len, int64_t now)
{
    uint8_t *buf = pc->scratch;
    size_t cap = sizeof pc->scratch;
    if (s->neg.rtx_pt >= 0 && s->neg.local_rtx_ssrc != 0) {
        /* RFC 4588: same header with the RTX payload type, SSRC and our own sequence, and the
         * original sequence number in front of the payload. */
        odeon_rtp_view v;
        if (odeon_rtp_parse(pkt, len, &v) != 0 || len + 2 > cap - ODEON_SRTP_RTP_TAIL_ROOM)
            return;
        memcpy(buf, pkt, v.payload_offset);
        odeon_put_be16(buf + v.payload_offset, seq);
        memcpy(buf + v.payload_offset + 2, pkt + v.payload_offset, v.payload_len);
        size_t out = v.payload_offset + 2 + v.payload_len;
        buf[0] &= 0xDF; /* no padding in the retransmission */
        odeon_rtp_set_payload_type(buf, out, (uint8_t)s->neg.rtx_pt);
        odeon_rtp_set_seq(buf, out, s->rtx_seq++);
        uint32_t main_ssrc = s->neg.local_ssrc;
        s->neg.local_ssrc = s->neg.local_rtx_ssrc;
        send_rtp_locked(pc, s, buf, out, cap, false, now);
        s->neg.local_ssrc = main_ssrc;
    } else {
        if (len > cap - ODEON_SRTP_RTP_TAIL_ROOM)
            return;
        memcpy(buf, pkt, len);
        send_rtp_locked(pc, s, buf, len, cap, false, now);
    }
    pc->stats.retransmissions++;
}

/* Answers a NACK from the peer for packets we sent on s, from our buffer. Call with
 * send_lock. */
static void retransmit(odeon_pc *pc, pc_stream *s, uint16_t seq, int64_t now)
{
    const uint8_t *pkt = NULL;
    size_t len = 0;
    if (s->sent != NULL && odeon_nack_buffer_lookup(s->sent, seq, now, &pkt, &len) == 0)
        retransmit_packet(pc, s, seq, pkt, len, now);
}

static pc_stream *stream_by_local_ssrc(odeon_pc *pc, uint32_t ssrc);

/* The same from the owner's buffer (events.retransmit), asked without send_lock, since the
 * owner's callback may end up detaching its handle. retransmit_in is used only here, on the
 * loop thread; the stream is looked up again under the lock for each packet. */
static void retransmit_external(odeon_pc *pc, int mindex, uint32_t ssrc, const uint16_t *lost,
                                size_t count, int64_t now)
{
    for (size_t i = 0; i < count; i++) {
        size_t len = pc->events.retransmit(pc->user, mindex, lost[i], pc->retransmit_in,
                                           sizeof pc->retransmit_in);
        if (len < 12 || len > sizeof pc->retransmit_in)
            continue;
        g_mutex_lock(&pc->send_lock);
        pc_stream *s = stream_by_local_ssrc(pc, ssrc);
        if (s != NULL && !pc->stopped)
            retransmit_packet(pc, s, lost[i], pc->retransmit_in, len, now);
        g_mutex_unlock(&pc->send_lock);
    }
}

static pc_stream *stream_by_local_ssrc(odeon_pc *pc, uint32_t ssrc)
{
    for (size_t i = 0; i < pc->stream_count; i++)
        if (pc->streams[i].neg.active && pc->streams[i].neg.local_ssrc == ssrc)
            return &pc->streams[i];
    return NULL;
}

/* The stream a plugin's feedback is about: its mindex, else the first receiving one of its
 * kind. */
static pc_stream *feedback_target(odeon_pc *pc, int mindex, bool video)
{
    if (mindex >= 0 && (size_t)mindex < pc->stream_count && pc->streams[mindex].neg.recv)
        return &pc->streams[mindex];
    for (size_t i = 0; i < pc->stream_count; i++) {
        pc_stream *s = &pc->streams[i];
        if (s->neg.active && s->neg.recv &&
            (s->neg.kind == ODEON_SDP_MEDIA_VIDEO) == video)
            return s;
    }
    return NULL;
}

/* The stream's first known remote SSRC (the first simulcast layer that has one). */
static uint32_t remote_ssrc_of(const pc_stream *s)
{
    for (int k = 0; k < s->layer_count; k++)
        if (s->layers[k].ssrc != 0)
            return s->layers[k].ssrc;
    return 0;
}

/* A keyframe request for one layer (only >= 0) or every layer with a known SSRC: one PLI per
 * layer in one datagram, or one FIR naming them all when the peer only does FIR. */
static int send_pli_locked(odeon_pc *pc, pc_stream *s, int only)
{
    odeon_rtcp_fir_entry fir[PC_MAX_LAYERS];
    size_t n = 0, used = 0;
    bool use_fir = !s->neg.fb_pli && s->neg.fb_fir;
    for (int k = 0; k < s->layer_count; k++) {
        uint32_t media = s->layers[k].ssrc;
        if (media == 0 || (only >= 0 && k != only))
            continue;
        if (use_fir) {
            fir[n++] = (odeon_rtcp_fir_entry){.ssrc = media, .seq_nr = s->fir_seq};
            continue;
        }
        int len = odeon_rtcp_build_pli(pc->scratch + used, RTCP_MAX - used, our_ssrc(pc, s),
                                       media);
        if (len < 0)
            return len;
        used += (size_t)len;
        n++;
    }
    if (n == 0)
        return ODEON_ENOENT;
    if (use_fir) {
        s->fir_seq++;
        int len = odeon_rtcp_build_fir(pc->scratch, RTCP_MAX, our_ssrc(pc, s), fir, n);
        if (len < 0)
            return len;
        used = (size_t)len;
    }
    s->last_keyframe_request_us = odeon_clock_monotonic_us();
    return pc_send_rtcp_plain(pc, pc->scratch, used, sizeof pc->scratch);
}

int odeon_pc_request_keyframe(odeon_pc *pc, int mindex)
{
    g_mutex_lock(&pc->send_lock);
    pc_stream *s = pc->up ? feedback_target(pc, mindex, true) : NULL;
    int rc = s ? send_pli_locked(pc, s, -1) : ODEON_ENOTCONN;
    g_mutex_unlock(&pc->send_lock);
    return rc;
}

/* Every video SSRC the peer sends us, simulcast layers included. */
static size_t video_remote_ssrcs(odeon_pc *pc, uint32_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < pc->stream_count; i++) {
        const pc_stream *s = &pc->streams[i];
        if (!s->neg.active || !s->neg.recv || s->neg.kind != ODEON_SDP_MEDIA_VIDEO)
            continue;
        for (int k = 0; k < s->layer_count && n < cap; k++)
            if (s->layers[k].ssrc != 0)
                out[n++] = s->layers[k].ssrc;
    }
    return n;
}

int odeon_pc_send_remb(odeon_pc *pc, uint64_t bitrate)
{
    g_mutex_lock(&pc->send_lock);
    int rc = ODEON_ENOTCONN;
    uint32_t ssrcs[PC_MAX_MEDIA * PC_MAX_LAYERS];
    size_t n = pc->up ? video_remote_ssrcs(pc, ssrcs, G_N_ELEMENTS(ssrcs)) : 0;
    if (n > 0) {
        int len = odeon_rtcp_build_remb(pc->scratch, RTCP_MAX, pc->feedback_ssrc, bitrate, ssrcs, n);
        rc = len < 0 ? len : pc_send_rtcp_plain(pc, pc->scratch, (size_t)len, sizeof pc->scratch);
    }
    g_mutex_unlock(&pc->send_lock);
    return rc;
}

/* Copies one feedback packet into out with this connection's SSRCs. Returns its length or 0
 * to drop it. */
static size_t rewrite_feedback(odeon_pc *pc, const odeon_rtcp_header *h, int mindex,
                               bool video, uint8_t *out, size_t room)
{
    size_t len = h->len;
    if (len > room || len < 12)
        return 0;
    memcpy(out, h->data, len);
    bool psfb = h->pt == ODEON_RTCP_PSFB;
    if (!psfb && h->pt != ODEON_RTCP_RTPFB)
        return 0;
    if (!psfb && h->count == 15)
        return 0; /* transport-wide feedback is per transport: never relayed */
    bool is_video = video || psfb;
    pc_stream *s = feedback_target(pc, mindex, is_video);
    if (s == NULL || remote_ssrc_of(s) == 0)
        return 0;
    uint32_t media = remote_ssrc_of(s);
    odeon_put_be32(out + 4, our_ssrc(pc, s));
    if (psfb && h->count == ODEON_RTCP_FMT_FIR) {
        odeon_put_be32(out + 8, 0);
        for (size_t off = 12; off + 8 <= len; off += 8)
            odeon_put_be32(out + off, media);
    } else if (psfb && h->count == ODEON_RTCP_FMT_AFB) {
        odeon_put_be32(out + 8, 0);
        /* REMB: "REMB", count, bitrate, then the SSRCs it applies to. */
        if (len >= 20 && memcmp(out + 12, "REMB", 4) == 0)
            for (size_t off = 20; off + 4 <= len; off += 4)
                odeon_put_be32(out + off, media);
    } else {
        odeon_put_be32(out + 8, media);
    }
    return len;
}

int odeon_pc_send_rtcp(odeon_pc *pc, odeon_media_packet *p)
{
    if (p == NULL || p->data == NULL)
        return ODEON_EINVAL;
    g_mutex_lock(&pc->send_lock);
    int rc = ODEON_ENOTCONN;
    if (pc->up && pc->srtp != NULL) {
        odeon_rtcp_iter it;
        odeon_rtcp_header h;
        size_t used = 0;
        odeon_rtcp_iter_init(&it, p->data, p->len);
        while (odeon_rtcp_iter_next(&it, &h) == 1)
            used += rewrite_feedback(pc, &h, p->mindex, p->video, pc->scratch + used,
                                     RTCP_MAX - used);
        rc = used == 0 ? 0 : pc_send_rtcp_plain(pc, pc->scratch, used, sizeof pc->scratch);
    }
    g_mutex_unlock(&pc->send_lock);
    return rc;
}

/* ---- receiving RTP ---- */

static int stream_by_mid(odeon_pc *pc, const char *mid)
{
    for (size_t i = 0; i < pc->stream_count; i++)
        if (pc->streams[i].neg.active && strcmp(pc->streams[i].neg.mid, mid) == 0)
            return (int)i;
    return -1;
}

/* The layer a packet of a rid-style simulcast stream names: rtp-stream-id on media, the
 * repaired-rtp-stream-id on RTX (RFC 8852), each falling back to the other. -1: none or not a
 * rid we accepted. */
static int layer_by_rid(const pc_stream *s, const odeon_rtp_view *v, bool rtx)
{
    uint8_t first = rtx ? s->neg.ext_repaired_rid : s->neg.ext_rid;
    uint8_t second = rtx ? s->neg.ext_rid : s->neg.ext_repaired_rid;
    char rid[sizeof s->neg.rids[0]];
    /* odeon_rtp_ext_string returns the length: > 0 is found. */
    if ((first == 0 || odeon_rtp_ext_string(v, first, rid, sizeof rid) <= 0) &&
        (second == 0 || odeon_rtp_ext_string(v, second, rid, sizeof rid) <= 0))
        return -1;
    for (int k = 0; k < s->layer_count; k++)
        if (strcmp(s->neg.rids[k], rid) == 0)
            return k;
    return -1;
}

/* Records a new SSRC of a simulcast layer (a publisher may restart a layer on a new SSRC). */
static void layer_learn(odeon_pc *pc, pc_stream *s, pc_layer *l, uint32_t ssrc, bool rtx)
{
    g_mutex_lock(&pc->send_lock);
    if (rtx) {
        l->rtx_ssrc = ssrc;
    } else if (l->ssrc != ssrc) {
        l->ssrc = ssrc;
        odeon_rtp_recv_stats_init(&l->recv, ssrc, s->neg.clock_rate);
    }
    g_mutex_unlock(&pc->send_lock);
}

/* Finds (and learns) where an SSRC belongs: signalled SSRCs, then the mid extension, then the
 * payload type (unique per m-line under BUNDLE). On a simulcast m-line the layer must be named
 * by a rid extension: an SSRC that is neither signalled nor named is dropped, since guessing
 * its layer would mix two layers' sequence spaces. */
static pc_route *route_find(odeon_pc *pc, const odeon_rtp_view *v)
{
    for (size_t i = 0; i < pc->route_count; i++)
        if (pc->routes[i].ssrc == v->ssrc)
            return &pc->routes[i];
    int stream = -1;
    bool rtx = false;
    int layer = 0;
    for (size_t i = 0; i < pc->stream_count && stream < 0; i++) {
        const pc_stream *s = &pc->streams[i];
        char mid[32];
        if (s->neg.ext_mid != 0 &&
            odeon_rtp_ext_string(v, s->neg.ext_mid, mid, sizeof mid) > 0)
            stream = stream_by_mid(pc, mid);
    }
    for (size_t i = 0; i < pc->stream_count && stream < 0; i++) {
        const pc_stream *s = &pc->streams[i];
        if (s->neg.active && s->neg.recv && (s->neg.pt == v->payload_type ||
                                             s->neg.rtx_pt == v->payload_type))
            stream = (int)i;
    }
    if (stream < 0 || !pc->streams[stream].neg.recv)
        return NULL;
    pc_stream *s = &pc->streams[stream];
    rtx = s->neg.rtx_pt == v->payload_type;
    if (s->simulcast) {
        layer = s->by_rid ? layer_by_rid(s, v, rtx) : -1;
        if (layer < 0)
            return NULL;
    }
    pc_route *route = route_add(pc, v->ssrc, stream, layer, rtx);
    if (route != NULL && s->simulcast)
        layer_learn(pc, s, &s->layers[layer], v->ssrc, rtx);
    return route;
}

/* RFC 4588: turns an RTX packet back into the original in place. Returns the new length or 0
 * for padding-only probes. */
static size_t rtx_unwrap(const pc_stream *s, const pc_layer *l, uint8_t *buf,
                         const odeon_rtp_view *v)
{
    if (v->payload_len < 2)
        return 0;
    uint16_t osn = odeon_be16(buf + v->payload_offset);
    memmove(buf + v->payload_offset, buf + v->payload_offset + 2, v->payload_len - 2);
    size_t len = v->payload_offset + v->payload_len - 2;
    buf[0] &= 0xDF; /* padding was after the payload: gone with the new length */
    odeon_rtp_set_seq(buf, len, osn);
    odeon_rtp_set_payload_type(buf, len, (uint8_t)s->neg.pt);
    odeon_rtp_set_ssrc(buf, len, l->ssrc);
    return len;
}

static void receive_rtp(odeon_pc *pc, uint8_t *buf, size_t len, int64_t now)
{
    if (odeon_srtp_unprotect_rtp(pc->srtp, buf, &len) != 0)
        return;
    odeon_rtp_view v;
    if (odeon_rtp_parse(buf, len, &v) != 0)
        return;
    pc_route *route = route_find(pc, &v);
    if (route == NULL)
        return;
    pc_stream *s = &pc->streams[route->stream];
    pc_layer *l = &s->layers[route->layer];
    if (pc->twcc != NULL && s->neg.ext_twcc != 0) {
        uint16_t tseq;
        if (odeon_rtp_ext_twcc_seq(&v, s->neg.ext_twcc, &tseq) == 0)
            odeon_twcc_recorder_record(pc->twcc, tseq, now);
    }
    if (route->rtx) {
        if (l->ssrc == 0)
            return;
        len = rtx_unwrap(s, l, buf, &v);
        if (len == 0 || odeon_rtp_parse(buf, len, &v) != 0)
            return;
    } else if (l->ssrc == 0) {
        layer_learn(pc, s, l, v.ssrc, false);
    }
    if (v.payload_len == 0)
        return; /* padding-only probes carry nothing for the plugin */
    if (v.ssrc == l->recv.ssrc)
        odeon_rtp_recv_stats_update(&l->recv, v.seq, v.timestamp, len, now);
    if (l->missing != NULL && v.ssrc == l->recv.ssrc) {
        size_t before = odeon_nack_tracker_missing_count(l->missing);
        odeon_nack_tracker_received(l->missing, v.seq, now);
        size_t after = odeon_nack_tracker_missing_count(l->missing);
        if (after > before)
            s->lost_this_second += (uint32_t)(after - before);
    }
    pc->stats.packets_in++;
    pc->stats.bytes_in += len;
    l->ever_received = true;
    if (!s->receiving) {
        s->receiving = true;
        pc->events.media(pc->user, s->neg.mid, s->neg.kind == ODEON_SDP_MEDIA_VIDEO, true);
    }
    odeon_media_packet packet = {
        .data = buf,
        .len = len,
        .capacity = PC_SCRATCH,
        .mindex = s->neg.mindex,
        .video = s->neg.kind == ODEON_SDP_MEDIA_VIDEO,
        .arrival_us = now,
        .substream = s->simulcast ? route->layer : -1,
    };
    pc->events.rtp(pc->user, &packet);
}

/* ---- receiving RTCP ---- */

static void handle_report_blocks(odeon_pc *pc, const odeon_rtcp_report *r)
{
    int64_t wall = odeon_clock_wall_us();
    for (unsigned i = 0; i < r->block_count; i++) {
        odeon_rtcp_report_block b;
        if (odeon_rtcp_report_block_at(r, i, &b) != 0)
            continue;
        int64_t rtt = 0;
        if (stream_by_local_ssrc(pc, b.ssrc) == NULL || odeon_rtp_stats_rtt(&b, wall, &rtt) != 0)
            continue;
        for (size_t k = 0; k < pc->stream_count; k++)
            for (int j = 0; j < pc->streams[k].layer_count; j++)
                if (pc->streams[k].layers[j].missing != NULL)
                    odeon_nack_tracker_set_rtt(pc->streams[k].layers[j].missing, rtt);
    }
}

static void handle_nack(odeon_pc *pc, const odeon_rtcp_header *h, int64_t now)
{
    odeon_rtcp_nack n;
    if (odeon_rtcp_parse_nack(h, &n) != 0)
        return;
    uint16_t lost[NACK_BATCH];
    size_t count = 0;
    int mindex = -1;
    g_mutex_lock(&pc->send_lock);
    pc_stream *s = stream_by_local_ssrc(pc, n.media_ssrc);
    if (s != NULL) {
        count = odeon_rtcp_nack_lost(&n, lost, NACK_BATCH);
        if (count > NACK_BATCH)
            count = NACK_BATCH;
        pc->stats.nacks_received += count;
        s->nacked_this_second += (uint32_t)count;
        mindex = s->neg.mindex;
        for (size_t i = 0; i < count && !pc->external_retransmissions; i++)
            retransmit(pc, s, lost[i], now);
    }
    bool external = pc->external_retransmissions;
    g_mutex_unlock(&pc->send_lock);
    if (external && count > 0)
        retransmit_external(pc, mindex, n.media_ssrc, lost, count, now);
}

static int rtcp_mindex(odeon_pc *pc, const uint8_t *buf, size_t len, bool *video)
{
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_iter_init(&it, buf, len);
    while (odeon_rtcp_iter_next(&it, &h) == 1) {
        odeon_rtcp_fb fb;
        if (odeon_rtcp_parse_fb(&h, &fb) != 0)
            continue;
        pc_stream *s = stream_by_local_ssrc(pc, fb.media_ssrc);
        if (s != NULL) {
            *video = s->neg.kind == ODEON_SDP_MEDIA_VIDEO;
            return s->neg.mindex;
        }
    }
    return -1;
}

/* The peer's transport-cc feedback and REMB feed our estimate of the path. */
static void estimate_feedback(odeon_pc *pc, const odeon_rtcp_header *h, int64_t now)
{
    odeon_rtcp_twcc fb;
    odeon_rtcp_remb remb;
    if (pc->bwe == NULL)
        return;
    if (h->pt == ODEON_RTCP_RTPFB && h->count == ODEON_RTCP_FMT_TWCC &&
        odeon_rtcp_parse_twcc(h, &fb) == 0) {
        g_mutex_lock(&pc->send_lock);
        odeon_bwe_on_feedback(pc->bwe, &fb, now);
        g_mutex_unlock(&pc->send_lock);
    } else if (h->pt == ODEON_RTCP_PSFB && h->count == ODEON_RTCP_FMT_AFB &&
               odeon_rtcp_parse_remb(h, &remb) == 0) {
        g_mutex_lock(&pc->send_lock);
        odeon_bwe_on_remb(pc->bwe, remb.bitrate, now);
        g_mutex_unlock(&pc->send_lock);
    }
}

void pc_media_estimate_stats(odeon_pc *pc, odeon_pc_stats *out)
{
    g_mutex_lock(&pc->send_lock);
    if (pc->bwe != NULL) {
        odeon_bwe_stats st;
        odeon_bwe_stats_get(pc->bwe, &st);
        out->estimate_bps = st.packets_reported > 0 ? st.estimate_bps : st.remb_bps;
        out->acked_bps = st.acked_bps;
        out->remb_bps = st.remb_bps;
        out->loss = st.loss;
        g_strlcpy(out->bwe_state, odeon_bwe_state_name(st.state), sizeof out->bwe_state);
    }
    g_mutex_unlock(&pc->send_lock);
}

uint64_t odeon_pc_bandwidth_estimate(odeon_pc *pc)
{
    uint64_t bps = 0;
    g_mutex_lock(&pc->send_lock);
    if (pc->bwe != NULL) {
        /* Before any transport-cc feedback our own estimate is only its starting guess: a
         * REMB-only peer's estimate is its REMB, and a silent peer's is unknown. */
        odeon_bwe_stats st;
        odeon_bwe_stats_get(pc->bwe, &st);
        bps = st.packets_reported > 0 ? st.estimate_bps : st.remb_bps;
    }
    g_mutex_unlock(&pc->send_lock);
    return bps;
}

static void receive_rtcp(odeon_pc *pc, uint8_t *buf, size_t len, int64_t now)
{
    if (odeon_srtp_unprotect_rtcp(pc->srtp, buf, &len) != 0)
        return;
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_iter_init(&it, buf, len);
    while (odeon_rtcp_iter_next(&it, &h) == 1) {
        if (h.pt == ODEON_RTCP_SR || h.pt == ODEON_RTCP_RR) {
            odeon_rtcp_report r;
            if (odeon_rtcp_parse_report(&h, &r) != 0)
                continue;
            for (size_t i = 0; r.is_sr && i < pc->route_count; i++) {
                const pc_route *rt = &pc->routes[i];
                pc_layer *l = &pc->streams[rt->stream].layers[rt->layer];
                if (rt->ssrc == r.ssrc && !rt->rtx && l->recv.ssrc == r.ssrc)
                    odeon_rtp_recv_stats_sr_received(&l->recv, r.sender.ntp, r.sender.rtp_ts,
                                                     now);
            }
            handle_report_blocks(pc, &r);
        } else if (h.pt == ODEON_RTCP_RTPFB && h.count == ODEON_RTCP_FMT_NACK) {
            handle_nack(pc, &h, now);
        } else {
            estimate_feedback(pc, &h, now);
        }
    }
    bool video = false;
    int mindex = rtcp_mindex(pc, buf, len, &video);
    odeon_media_packet packet = {
        .data = buf,
        .len = len,
        .capacity = PC_SCRATCH,
        .mindex = mindex,
        .video = video,
        .arrival_us = now,
        .substream = -1,
    };
    pc->events.rtcp(pc->user, &packet);
}

void pc_media_receive(odeon_pc *pc, uint8_t *data, size_t len, int64_t now)
{
    switch (odeon_rtp_demux_classify(data, len)) {
    case ODEON_DEMUX_DTLS:
        pc_dtls_feed(pc, data, len);
        return;
    case ODEON_DEMUX_RTP:
    case ODEON_DEMUX_RTCP:
        break;
    default:
        return;
    }
    if (pc->srtp == NULL || len > PC_SCRATCH - ODEON_SRTP_RTCP_TAIL_ROOM)
        return;
    /* Our own buffer: libnice's is not ours to grow, and plugins get room to relay in place. */
    static __thread uint8_t rx[PC_SCRATCH] __attribute__((aligned(16)));
    memcpy(rx, data, len);
    if (odeon_rtp_is_rtcp(rx, len))
        receive_rtcp(pc, rx, len, now);
    else
        receive_rtp(pc, rx, len, now);
}

/* ---- periodic work ---- */

static void send_reports(odeon_pc *pc, int64_t now)
{
    int64_t wall = odeon_clock_wall_us();
    bool sent = false;
    for (size_t i = 0; i < pc->stream_count; i++) {
        pc_stream *s = &pc->streams[i];
        if (!s->neg.active)
            continue;
        odeon_rtcp_report_block block[PC_MAX_LAYERS];
        unsigned blocks = 0;
        for (int k = 0; s->neg.recv && k < s->layer_count; k++)
            if (odeon_rtp_recv_stats_report(&s->layers[k].recv, now, &block[blocks]) == 0)
                blocks++;
        odeon_rtcp_sender_info si;
        bool sr = s->neg.send && odeon_rtp_send_stats_sender_info(&s->send, now, wall, &si) == 0;
        if (!sr && blocks == 0 && !s->neg.send)
            continue;
        if (!sr && blocks == 0 && !s->send.started)
            continue;
        int len = odeon_rtcp_build_compound(pc->scratch, RTCP_MAX, our_ssrc(pc, s),
                                            sr ? &si : NULL, block, blocks, "odeon", 5);
        if (len > 0)
            sent |= pc_send_rtcp_plain(pc, pc->scratch, (size_t)len, sizeof pc->scratch) == 0;
    }
    if (!sent) {
        /* Nothing flows yet: an empty RR keeps the peer's consent timer fed (RFC 3550 6.2). */
        int len = odeon_rtcp_build_compound(pc->scratch, RTCP_MAX, pc->feedback_ssrc, NULL, NULL,
                                            0, "odeon", 5);
        if (len > 0)
            pc_send_rtcp_plain(pc, pc->scratch, (size_t)len, sizeof pc->scratch);
    }
}

static void send_nacks(odeon_pc *pc, int64_t now)
{
    for (size_t i = 0; i < pc->stream_count; i++) {
        pc_stream *s = &pc->streams[i];
        for (int k = 0; k < s->layer_count; k++) {
            pc_layer *l = &s->layers[k];
            if (l->missing == NULL || l->recv.ssrc == 0)
                continue;
            uint16_t seqs[NACK_BATCH];
            size_t n = odeon_nack_tracker_poll(l->missing, now, seqs, NACK_BATCH);
            if (n > 0) {
                int len = odeon_rtcp_build_nack(pc->scratch, RTCP_MAX, our_ssrc(pc, s),
                                                l->recv.ssrc, seqs, n);
                if (len > 0)
                    pc_send_rtcp_plain(pc, pc->scratch, (size_t)len, sizeof pc->scratch);
                pc->stats.nacks_sent += n;
            }
            if (odeon_nack_tracker_take_keyframe_request(l->missing))
                send_pli_locked(pc, s, k);
        }
    }
}

static void send_twcc(odeon_pc *pc)
{
    for (int guard = 0; guard < 8 && odeon_twcc_recorder_pending(pc->twcc); guard++) {
        int len = odeon_twcc_recorder_build(pc->twcc, pc->scratch, RTCP_MAX);
        if (len <= 0)
            break;
        pc_send_rtcp_plain(pc, pc->scratch, (size_t)len, sizeof pc->scratch);
    }
}

static void check_activity(odeon_pc *pc, int64_t now)
{
    int64_t timeout = (int64_t)pc->settings.no_media_timeout_ms * 1000;
    for (size_t i = 0; i < pc->stream_count; i++) {
        pc_stream *s = &pc->streams[i];
        bool any = false;
        for (int k = 0; k < s->layer_count && !any; k++)
            any = odeon_rtp_recv_stats_receiving(&s->layers[k].recv, now, timeout);
        if (!s->receiving || any)
            continue;
        s->receiving = false;
        pc->events.media(pc->user, s->neg.mid, s->neg.kind == ODEON_SDP_MEDIA_VIDEO, false);
    }
}

static void check_slowlink(odeon_pc *pc)
{
    unsigned threshold = pc->settings.slowlink_threshold;
    for (size_t i = 0; i < pc->stream_count; i++) {
        pc_stream *s = &pc->streams[i];
        bool video = s->neg.kind == ODEON_SDP_MEDIA_VIDEO;
        if (threshold > 0 && s->lost_this_second >= threshold)
            pc->events.slowlink(pc->user, s->neg.mid, video, true, s->lost_this_second);
        if (threshold > 0 && s->nacked_this_second >= threshold)
            pc->events.slowlink(pc->user, s->neg.mid, video, false, s->nacked_this_second);
        s->lost_this_second = 0;
        s->nacked_this_second = 0;
    }
}

void pc_media_tick(odeon_pc *pc, int64_t now)
{
    g_mutex_lock(&pc->send_lock);
    send_nacks(pc, now);
    if (pc->twcc != NULL && now >= pc->next_twcc_us) {
        send_twcc(pc);
        pc->next_twcc_us = now + (int64_t)pc->settings.twcc_period_ms * 1000;
    }
    if (now >= pc->next_rtcp_us) {
        send_reports(pc, now);
        pc->next_rtcp_us = now + (int64_t)pc->settings.rtcp_interval_ms * 1000;
    }
    g_mutex_unlock(&pc->send_lock);
    check_activity(pc, now);
    if (now >= pc->next_second_us) {
        if (pc->next_second_us != 0)
            check_slowlink(pc);
        pc->next_second_us = now + 1000000;
    }
}
