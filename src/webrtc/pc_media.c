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
#define RTCP_MAX 1200
#define NACK_BATCH 64


/* ---- negotiation ---- */

static void stream_free(pc_stream *s)
{
    g_clear_pointer(&s->sent, odeon_nack_buffer_free);
    g_clear_pointer(&s->missing, odeon_nack_tracker_free);
}

static void route_add(odeon_pc *pc, uint32_t ssrc, int stream, bool rtx)
{
    if (ssrc == 0 || pc->route_count >= PC_MAX_ROUTES)
        return;
    for (size_t i = 0; i < pc->route_count; i++)
        if (pc->routes[i].ssrc == ssrc)
            return;
    pc->routes[pc->route_count++] = (pc_route){.ssrc = ssrc, .stream = (int16_t)stream, .rtx = rtx};
}

static void stream_setup(odeon_pc *pc, pc_stream *s, const odeon_jsep_media *neg)
{
    bool fresh = s->neg.local_ssrc != neg->local_ssrc || !s->neg.active;
    bool fresh_recv = s->neg.remote_ssrc != neg->remote_ssrc || !s->neg.active;
    s->neg = *neg;
    if (!neg->active)
        return;
    if (fresh) {
        odeon_rtp_send_stats_init(&s->send, neg->local_ssrc, neg->clock_rate);
        s->rtx_seq = (uint16_t)g_random_int();
    }
    if (fresh_recv)
        odeon_rtp_recv_stats_init(&s->recv, neg->remote_ssrc, neg->clock_rate);
    if (neg->fb_nack && neg->send && s->sent == NULL && pc->settings.nack_buffer_ms > 0)
        s->sent = odeon_nack_buffer_new(NACK_SLOTS, 1500,
                                        (int64_t)pc->settings.nack_buffer_ms * 1000, NULL);
    if (neg->fb_nack && neg->recv && s->missing == NULL)
        s->missing = odeon_nack_tracker_new(NULL, NULL);
}

void pc_media_negotiated(odeon_pc *pc)
{
    odeon_jsep_media neg[PC_MAX_MEDIA];
    int n = odeon_jsep_negotiated(pc->local, pc->remote, neg, PC_MAX_MEDIA);
    if (n < 0) {
        LOG_WARN("descriptions do not match (%zu and %zu m-lines)", pc->local->media_count,
                 pc->remote->media_count);
        return;
    }
    g_mutex_lock(&pc->send_lock);
    for (int i = 0; i < n; i++)
        stream_setup(pc, &pc->streams[i], &neg[i]);
    for (size_t i = (size_t)n; i < pc->stream_count; i++) {
        stream_free(&pc->streams[i]);
        memset(&pc->streams[i], 0, sizeof pc->streams[i]);
    }
    pc->stream_count = (size_t)n;
    g_mutex_unlock(&pc->send_lock);
    pc->route_count = 0;
    bool want_twcc = false;
    uint32_t first_remote = 0;
    for (int i = 0; i < n; i++) {
        const odeon_jsep_media *m = &neg[i];
        if (!m->active || !m->recv)
            continue;
        route_add(pc, m->remote_ssrc, i, false);
        route_add(pc, m->remote_rtx_ssrc, i, true);
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
    for (size_t i = 0; i < PC_MAX_MEDIA; i++)
        stream_free(&pc->streams[i]);
    pc->stream_count = 0;
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
static int send_rtp_locked(odeon_pc *pc, pc_stream *s, uint8_t *buf, size_t len, size_t cap,
                           bool store, int64_t now)
{
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
    pc->stats.packets_out++;
    pc->stats.bytes_out += len;
    return pc_send_datagram(pc, buf, len);
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

/* Answers a NACK from the peer for packets we sent on s. Call with send_lock. */
static void retransmit(odeon_pc *pc, pc_stream *s, uint16_t seq, int64_t now)
{
    const uint8_t *pkt = NULL;
    size_t len = 0;
    if (s->sent == NULL || odeon_nack_buffer_lookup(s->sent, seq, now, &pkt, &len) != 0)
        return;
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

static uint32_t remote_ssrc_of(const pc_stream *s)
{
    return s->neg.remote_ssrc ? s->neg.remote_ssrc : s->recv.ssrc;
}

static int send_pli_locked(odeon_pc *pc, pc_stream *s)
{
    uint32_t media = remote_ssrc_of(s);
    if (media == 0)
        return ODEON_ENOENT;
    int len;
    if (!s->neg.fb_pli && s->neg.fb_fir) {
        odeon_rtcp_fir_entry e = {.ssrc = media, .seq_nr = s->fir_seq++};
        len = odeon_rtcp_build_fir(pc->scratch, RTCP_MAX, our_ssrc(pc, s), &e, 1);
    } else {
        len = odeon_rtcp_build_pli(pc->scratch, RTCP_MAX, our_ssrc(pc, s), media);
    }
    if (len < 0)
        return len;
    s->last_keyframe_request_us = odeon_clock_monotonic_us();
    return pc_send_rtcp_plain(pc, pc->scratch, (size_t)len, sizeof pc->scratch);
}

int odeon_pc_request_keyframe(odeon_pc *pc, int mindex)
{
    g_mutex_lock(&pc->send_lock);
    pc_stream *s = pc->up ? feedback_target(pc, mindex, true) : NULL;
    int rc = s ? send_pli_locked(pc, s) : ODEON_ENOTCONN;
    g_mutex_unlock(&pc->send_lock);
    return rc;
}

static size_t video_remote_ssrcs(odeon_pc *pc, uint32_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < pc->stream_count && n < cap; i++) {
        const pc_stream *s = &pc->streams[i];
        if (s->neg.active && s->neg.recv && s->neg.kind == ODEON_SDP_MEDIA_VIDEO &&
            remote_ssrc_of(s) != 0)
            out[n++] = remote_ssrc_of(s);
    }
    return n;
}

int odeon_pc_send_remb(odeon_pc *pc, uint64_t bitrate)
{
    g_mutex_lock(&pc->send_lock);
    int rc = ODEON_ENOTCONN;
    uint32_t ssrcs[PC_MAX_MEDIA];
    size_t n = pc->up ? video_remote_ssrcs(pc, ssrcs, PC_MAX_MEDIA) : 0;
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

/* Finds (and learns) where an SSRC belongs: signalled SSRCs, then the mid and repaired-rid
 * extensions, then the payload type (unique per m-line under BUNDLE). */
static pc_route *route_find(odeon_pc *pc, const odeon_rtp_view *v)
{
    for (size_t i = 0; i < pc->route_count; i++)
        if (pc->routes[i].ssrc == v->ssrc)
            return &pc->routes[i];
    int stream = -1;
    bool rtx = false;
    for (size_t i = 0; i < pc->stream_count && stream < 0; i++) {
        const pc_stream *s = &pc->streams[i];
        char mid[32];
        if (s->neg.ext_mid != 0 &&
            odeon_rtp_ext_string(v, s->neg.ext_mid, mid, sizeof mid) == 0)
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
    rtx = pc->streams[stream].neg.rtx_pt == v->payload_type;
    route_add(pc, v->ssrc, stream, rtx);
    for (size_t i = 0; i < pc->route_count; i++)
        if (pc->routes[i].ssrc == v->ssrc)
            return &pc->routes[i];
    return NULL;
}

/* RFC 4588: turns an RTX packet back into the original in place. Returns the new length or 0
 * for padding-only probes. */
static size_t rtx_unwrap(pc_stream *s, uint8_t *buf, const odeon_rtp_view *v)
{
    if (v->payload_len < 2)
        return 0;
    uint16_t osn = odeon_be16(buf + v->payload_offset);
    memmove(buf + v->payload_offset, buf + v->payload_offset + 2, v->payload_len - 2);
    size_t len = v->payload_offset + v->payload_len - 2;
    buf[0] &= 0xDF; /* padding was after the payload: gone with the new length */
    odeon_rtp_set_seq(buf, len, osn);
    odeon_rtp_set_payload_type(buf, len, (uint8_t)s->neg.pt);
    odeon_rtp_set_ssrc(buf, len, remote_ssrc_of(s));
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
    if (pc->twcc != NULL && s->neg.ext_twcc != 0) {
        uint16_t tseq;
        if (odeon_rtp_ext_twcc_seq(&v, s->neg.ext_twcc, &tseq) == 0)
            odeon_twcc_recorder_record(pc->twcc, tseq, now);
    }
    if (route->rtx) {
        if (remote_ssrc_of(s) == 0)
            return;
        len = rtx_unwrap(s, buf, &v);
        if (len == 0 || odeon_rtp_parse(buf, len, &v) != 0)
            return;
    } else if (s->recv.ssrc == 0) {
        odeon_rtp_recv_stats_init(&s->recv, v.ssrc, s->neg.clock_rate);
    }
    if (v.payload_len == 0)
        return; /* padding-only probes carry nothing for the plugin */
    if (v.ssrc == s->recv.ssrc)
        odeon_rtp_recv_stats_update(&s->recv, v.seq, v.timestamp, len, now);
    if (s->missing != NULL && v.ssrc == s->recv.ssrc) {
        size_t before = odeon_nack_tracker_missing_count(s->missing);
        odeon_nack_tracker_received(s->missing, v.seq, now);
        size_t after = odeon_nack_tracker_missing_count(s->missing);
        if (after > before)
            s->lost_this_second += (uint32_t)(after - before);
    }
    pc->stats.packets_in++;
    pc->stats.bytes_in += len;
    if (!s->receiving) {
        s->receiving = true;
        s->ever_received = true;
        pc->events.media(pc->user, s->neg.mid, s->neg.kind == ODEON_SDP_MEDIA_VIDEO, true);
    }
    odeon_media_packet packet = {
        .data = buf,
        .len = len,
        .capacity = PC_SCRATCH,
        .mindex = s->neg.mindex,
        .video = s->neg.kind == ODEON_SDP_MEDIA_VIDEO,
        .arrival_us = now,
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
            if (pc->streams[k].missing != NULL)
                odeon_nack_tracker_set_rtt(pc->streams[k].missing, rtt);
    }
}

static void handle_nack(odeon_pc *pc, const odeon_rtcp_header *h, int64_t now)
{
    odeon_rtcp_nack n;
    if (odeon_rtcp_parse_nack(h, &n) != 0)
        return;
    g_mutex_lock(&pc->send_lock);
    pc_stream *s = stream_by_local_ssrc(pc, n.media_ssrc);
    if (s != NULL) {
        uint16_t lost[NACK_BATCH];
        size_t count = odeon_rtcp_nack_lost(&n, lost, NACK_BATCH);
        if (count > NACK_BATCH)
            count = NACK_BATCH;
        pc->stats.nacks_received += count;
        s->nacked_this_second += (uint32_t)count;
        for (size_t i = 0; i < count; i++)
            retransmit(pc, s, lost[i], now);
    }
    g_mutex_unlock(&pc->send_lock);
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
            if (r.is_sr)
                for (size_t i = 0; i < pc->route_count; i++)
                    if (pc->routes[i].ssrc == r.ssrc && !pc->routes[i].rtx)
                        odeon_rtp_recv_stats_sr_received(&pc->streams[pc->routes[i].stream].recv,
                                                         r.sender.ntp, r.sender.rtp_ts, now);
            handle_report_blocks(pc, &r);
        } else if (h.pt == ODEON_RTCP_RTPFB && h.count == 1) {
            handle_nack(pc, &h, now);
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
        odeon_rtcp_report_block block;
        unsigned blocks = 0;
        if (s->neg.recv && odeon_rtp_recv_stats_report(&s->recv, now, &block) == 0)
            blocks = 1;
        odeon_rtcp_sender_info si;
        bool sr = s->neg.send && odeon_rtp_send_stats_sender_info(&s->send, now, wall, &si) == 0;
        if (!sr && blocks == 0 && !s->neg.send)
            continue;
        if (!sr && blocks == 0 && !s->send.started)
            continue;
        int len = odeon_rtcp_build_compound(pc->scratch, RTCP_MAX, our_ssrc(pc, s),
                                            sr ? &si : NULL, &block, blocks, "odeon", 5);
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
        if (s->missing == NULL || s->recv.ssrc == 0)
            continue;
        uint16_t seqs[NACK_BATCH];
        size_t n = odeon_nack_tracker_poll(s->missing, now, seqs, NACK_BATCH);
        if (n > 0) {
            int len = odeon_rtcp_build_nack(pc->scratch, RTCP_MAX, our_ssrc(pc, s), s->recv.ssrc,
                                            seqs, n);
            if (len > 0)
                pc_send_rtcp_plain(pc, pc->scratch, (size_t)len, sizeof pc->scratch);
            pc->stats.nacks_sent += n;
        }
        if (odeon_nack_tracker_take_keyframe_request(s->missing))
            send_pli_locked(pc, s);
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
        if (!s->receiving || odeon_rtp_recv_stats_receiving(&s->recv, now, timeout))
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
