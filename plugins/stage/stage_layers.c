/*
 * stage_layers.c - simulcast / VP9 SVC layer selection and seamless rewriting for the stage's
 * viewers (contract in stage_layers.h). Three parts: the payload descriptor parsers (network
 * input, bounds-checked), the per-stage layer statistics with the choice of a layer, and the
 * per-viewer forwarding that drops what the viewer does not get and rewrites the rest so the
 * viewer sees one stream whose sequence numbers only have the host's own losses as gaps.
 *
 * Like Janus's simulcast context (rtp.c, janus_rtp_simulcasting_context), but with the quality
 * order learnt from the keyframes' resolution instead of assumed from the substream index, and
 * the choice driven by the viewer's bandwidth estimate with hysteresis.
 */
#include "stage_layers.h"

#include <string.h>
#include <strings.h>

#include "stage_rtp.h"

#define BUCKET_US 100000
#define ACTIVE_US 1000000

/* ---------------------------------------------------------------- descriptors */

/* The VP8 keyframe header (RFC 6386 §9.1): a 3-byte frame tag, the start code 9d 01 2a, then
 * 14-bit width and height (the top two bits are scaling). */
static void vp8_keyframe_size(const uint8_t *p, size_t len, stage_vp8_desc *d)
{
    if (len < 10 || p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a)
        return;
    d->width = (uint16_t)((p[6] | (p[7] << 8)) & 0x3fff);
    d->height = (uint16_t)((p[8] | (p[9] << 8)) & 0x3fff);
}

bool stage_vp8_parse(const uint8_t *p, size_t len, stage_vp8_desc *d)
{
    memset(d, 0, sizeof(*d));
    d->picture_id = d->tl0picidx = d->tid = -1;
    if (len < 1)
        return false;
    size_t off = 1;
    d->start = (p[0] & 0x10) && (p[0] & 0x07) == 0;
    if (p[0] & 0x80) {
        if (len < 2)
            return false;
        uint8_t x = p[1];
        off = 2;
        if (x & 0x80) { /* I: PictureID, 7 or 15 bits (M) */
            if (off >= len)
                return false;
            d->picture_id_off = off;
            if (p[off] & 0x80) {
                if (off + 1 >= len)
                    return false;
                d->picture_id = ((p[off] & 0x7f) << 8) | p[off + 1];
                d->picture_id_bits = 15;
                off += 2;
            } else {
                d->picture_id = p[off] & 0x7f;
                d->picture_id_bits = 7;
                off += 1;
            }
        }
        if (x & 0x40) { /* L: TL0PICIDX */
            if (off >= len)
                return false;
            d->tl0picidx_off = off;
            d->tl0picidx = p[off++];
        }
        if (x & 0x30) { /* T or K: TID | Y | KEYIDX */
            if (off >= len)
                return false;
            if (x & 0x20) {
                d->tid = p[off] >> 6;
                d->layer_sync = (p[off] & 0x20) != 0;
            }
            off++;
        }
    }
    if (off > len)
        return false;
    d->len = off;
    if (d->start && off < len && (p[off] & 0x01) == 0) {
        d->keyframe = true;
        vp8_keyframe_size(p + off, len - off, d);
    }
    return true;
}

/* The VP9 scalability structure (RFC 9628 §4.2.1), at p[*off]. */
static bool vp9_parse_ss(const uint8_t *p, size_t len, size_t *off, stage_vp9_desc *d)
{
    if (*off >= len)
        return false;
    uint8_t b = p[(*off)++];
    unsigned n_s = (b >> 5) + 1u;
    if (b & 0x10) { /* Y: a size per spatial layer */
        if (len - *off < 4u * n_s)
            return false;
        for (unsigned i = 0; i < n_s; i++, *off += 4) {
            if (i >= STAGE_LAYERS_MAX)
                continue;
            d->width[i] = (uint16_t)((p[*off] << 8) | p[*off + 1]);
            d->height[i] = (uint16_t)((p[*off + 2] << 8) | p[*off + 3]);
            d->ss_layers = (uint8_t)(i + 1);
        }
    }
    if (b & 0x08) { /* G: the picture group description */
        if (*off >= len)
            return false;
        unsigned n_g = p[(*off)++];
        for (unsigned i = 0; i < n_g; i++) {
            if (*off >= len)
                return false;
            size_t refs = (p[(*off)++] >> 2) & 0x03;
            if (len - *off < refs)
                return false;
            *off += refs;
        }
    }
    return true;
}

/* The fields before the SS: PictureID, layer indices, reference indices. */
static bool vp9_parse_head(const uint8_t *p, size_t len, size_t *off, stage_vp9_desc *d)
{
    if (p[0] & 0x80) { /* I */
        if (*off >= len)
            return false;
        if (p[*off] & 0x80) {
            if (*off + 1 >= len)
                return false;
            d->picture_id = ((p[*off] & 0x7f) << 8) | p[*off + 1];
            *off += 2;
        } else {
            d->picture_id = p[(*off)++];
        }
    }
    if (p[0] & 0x20) { /* L: TID | U | SID | D, then TL0PICIDX in non-flexible mode */
        if (*off >= len)
            return false;
        uint8_t b = p[(*off)++];
        d->tid = b >> 5;
        d->switch_up = (b & 0x10) != 0;
        d->sid = (b >> 1) & 0x07;
        d->inter_layer = (b & 0x01) != 0;
        if (!d->flexible) {
            if (*off >= len)
                return false;
            d->tl0picidx = p[(*off)++];
        }
    }
    if (d->flexible && d->inter_picture) { /* up to three P_DIFF, N marks one more */
        for (int i = 0;; i++) {
            if (i == 3 || *off >= len)
                return false;
            if (!(p[(*off)++] & 0x01))
                break;
        }
    }
    return true;
}

bool stage_vp9_parse(const uint8_t *p, size_t len, stage_vp9_desc *d)
{
    memset(d, 0, sizeof(*d));
    d->picture_id = d->tl0picidx = -1;
    if (len < 1)
        return false;
    d->inter_picture = (p[0] & 0x40) != 0;
    d->flexible = (p[0] & 0x10) != 0;
    d->start = (p[0] & 0x08) != 0;
    d->end = (p[0] & 0x04) != 0;
    size_t off = 1;
    if (!vp9_parse_head(p, len, &off, d))
        return false;
    if ((p[0] & 0x02) && !vp9_parse_ss(p, len, &off, d))
        return false;
    d->len = off;
    d->keyframe = d->start && !d->inter_picture && d->sid == 0;
    return true;
}

static bool h264_key_nal(uint8_t type)
{
    return type == 5 || type == 7; /* IDR slice, SPS */
}

bool stage_h264_keyframe_start(const uint8_t *p, size_t len)
{
    if (len < 1)
        return false;
    uint8_t type = p[0] & 0x1f;
    if (type == 24) { /* STAP-A: 16-bit size, NAL unit, ... */
        size_t off = 1;
        while (len - off >= 3) {
            size_t size = ((size_t)p[off] << 8) | p[off + 1];
            off += 2;
            if (size == 0 || size > len - off)
                return false;
            if (h264_key_nal(p[off] & 0x1f))
                return true;
            off += size;
        }
        return false;
    }
    if (type == 28) /* FU-A: the first fragment only */
        return len >= 2 && (p[1] & 0x80) && h264_key_nal(p[1] & 0x1f);
    return h264_key_nal(type);
}

/* The RTP payload of pkt (padding excluded), or NULL. */
static const uint8_t *rtp_payload(const uint8_t *pkt, size_t len, size_t *plen)
{
    size_t hdr = stage_rtp_header_len(pkt, len);
    if (hdr == 0)
        return NULL;
    size_t pad = (pkt[0] & 0x20) ? pkt[len - 1] : 0;
    if (pad >= len - hdr)
        return NULL;
    *plen = len - hdr - pad;
    return pkt + hdr;
}

/* ---------------------------------------------------------------- statistics */

bool stage_layer_codec_of(const char *codec, stage_layer_codec *out)
{
    static const struct {
        const char *name;
        stage_layer_codec codec;
    } known[] = {{"VP8", STAGE_CODEC_VP8}, {"VP9", STAGE_CODEC_VP9}, {"H264", STAGE_CODEC_H264}};
    for (size_t i = 0; codec != NULL && i < sizeof known / sizeof known[0]; i++)
        if (strcasecmp(codec, known[i].name) == 0) {
            *out = known[i].codec;
            return true;
        }
    return false;
}

void stage_layer_stats_init(stage_layer_stats *st, stage_layer_codec codec)
{
    memset(st, 0, sizeof(*st));
    st->codec = codec;
}

static void substream_add(stage_layer_substream *s, size_t len, int64_t now_us)
{
    if (now_us < 0)
        return; /* a monotonic clock never is; the bucket index below relies on it */
    int64_t epoch = now_us / BUCKET_US;
    size_t b = (size_t)(epoch % STAGE_LAYER_BUCKETS);
    if (s->epoch[b] != epoch) {
        s->epoch[b] = epoch;
        s->bytes[b] = 0;
    }
    s->bytes[b] += (uint32_t)len;
    s->last_us = now_us;
    s->seen = true;
}

/* Resolution is learnt from the packets that carry it: a VP8 keyframe's first packet, a VP9
 * scalability structure (sent with keyframes). H.264 is ranked by bitrate alone. */
static int stats_learn(stage_layer_stats *st, int substream, const uint8_t *pkt, size_t len)
{
    size_t plen;
    const uint8_t *p = rtp_payload(pkt, len, &plen);
    if (st->codec == STAGE_CODEC_VP8 && p != NULL) {
        stage_vp8_desc d;
        if (stage_vp8_parse(p, plen, &d) && d.width != 0 && d.height != 0) {
            st->sub[substream].width = d.width;
            st->sub[substream].height = d.height;
        }
    } else if (st->codec == STAGE_CODEC_VP9) {
        stage_vp9_desc d;
        if (p == NULL || !stage_vp9_parse(p, plen, &d))
            return -1;
        for (int i = 0; i < d.ss_layers; i++) {
            st->sub[i].width = d.width[i];
            st->sub[i].height = d.height[i];
        }
        return d.sid;
    }
    return substream;
}

void stage_layer_stats_packet(stage_layer_stats *st, int substream, const uint8_t *pkt, size_t len,
                              int64_t now_us)
{
    if (st->codec == STAGE_CODEC_VP9)
        substream = 0;
    if (substream < 0 || substream >= STAGE_LAYERS_MAX)
        return;
    int layer = stats_learn(st, substream, pkt, len);
    if (layer >= 0 && layer < STAGE_LAYERS_MAX)
        substream_add(&st->sub[layer], len, now_us);
}

uint32_t stage_layer_stats_bitrate(const stage_layer_stats *st, int layer, int64_t now_us)
{
    if (layer < 0 || layer >= STAGE_LAYERS_MAX || !st->sub[layer].seen)
        return 0;
    const stage_layer_substream *s = &st->sub[layer];
    int64_t epoch = now_us / BUCKET_US;
    uint64_t bytes = 0;
    for (size_t b = 0; b < STAGE_LAYER_BUCKETS; b++)
        if (s->epoch[b] > epoch - STAGE_LAYER_BUCKETS && s->epoch[b] <= epoch)
            bytes += s->bytes[b];
    /* The window is the nine full buckets before this one plus the part of this one gone. */
    int64_t window_us = (STAGE_LAYER_BUCKETS - 1) * BUCKET_US + now_us % BUCKET_US + 1;
    return (uint32_t)(bytes * 8 * 1000000 / (uint64_t)window_us);
}

bool stage_layer_stats_active(const stage_layer_stats *st, int layer, int64_t now_us)
{
    if (layer < 0 || layer >= STAGE_LAYERS_MAX || !st->sub[layer].seen)
        return false;
    return now_us - st->sub[layer].last_us < ACTIVE_US;
}

/* Is layer a of lower quality than layer b? */
static bool layer_below(const stage_layer_stats *st, int a, int b, int64_t now_us)
{
    if (st->codec == STAGE_CODEC_VP9)
        return a < b; /* spatial ids are in quality order by definition */
    uint32_t pa = (uint32_t)st->sub[a].width * st->sub[a].height;
    uint32_t pb = (uint32_t)st->sub[b].width * st->sub[b].height;
    if (pa != pb)
        return pa < pb;
    return stage_layer_stats_bitrate(st, a, now_us) < stage_layer_stats_bitrate(st, b, now_us);
}

int stage_layer_stats_rank(const stage_layer_stats *st, int64_t now_us, int order[STAGE_LAYERS_MAX])
{
    int n = 0;
    for (int l = 0; l < STAGE_LAYERS_MAX; l++) {
        if (!stage_layer_stats_active(st, l, now_us))
            continue;
        int i = n++;
        for (; i > 0 && layer_below(st, l, order[i - 1], now_us); i--)
            order[i] = order[i - 1];
        order[i] = l;
    }
    return n;
}

/* ---------------------------------------------------------------- choice */

/* What sending the layer costs: a VP9 spatial layer needs the ones below it too. */
static uint64_t layer_cost(const stage_layer_stats *st, const int *order, int rank, int64_t now_us)
{
    if (st->codec != STAGE_CODEC_VP9)
        return stage_layer_stats_bitrate(st, order[rank], now_us);
    uint64_t sum = 0;
    for (int r = 0; r <= rank; r++)
        sum += stage_layer_stats_bitrate(st, order[r], now_us);
    return sum;
}

int stage_layer_choose(const stage_layer_stats *st, stage_layer_hold *hold, int current,
                       uint64_t estimate_bps, int preferred, int64_t now_us)
{
    int order[STAGE_LAYERS_MAX];
    int n = stage_layer_stats_rank(st, now_us, order);
    if (n == 0)
        return -1;
    int cap = (preferred < 0 || preferred >= n) ? n - 1 : preferred;
    int fit = 0, cur = -1;
    for (int r = 0; r <= cap; r++)
        if (estimate_bps == 0 || layer_cost(st, order, r, now_us) * 10 <= estimate_bps * 9)
            fit = r;
    for (int r = 0; r < n; r++)
        if (order[r] == current)
            cur = r;
    if (cur < 0 || cur > cap || estimate_bps == 0) {
        hold->up_pending = false; /* nothing to protect, or the viewer asked for less */
        return order[fit];
    }
    if (fit <= cur) {
        hold->up_pending = false;
        /* Between 0.9 and 1.0 x estimate the current layer stays: the hysteresis band. */
        return layer_cost(st, order, cur, now_us) > estimate_bps ? order[fit] : current;
    }
    if (!hold->up_pending) {
        hold->up_pending = true;
        hold->up_since_us = now_us;
    }
    if (now_us - hold->up_since_us < STAGE_LAYER_UP_HOLD_US)
        return current;
    /* The hold stays passed until the switch is done (it happens at the layer's next
     * keyframe, maybe seconds away) or the estimate falls back. */
    return order[fit];
}

/* ---------------------------------------------------------------- viewer */

void stage_layer_viewer_init(stage_layer_viewer *v, stage_layer_codec codec, uint32_t ssrc_out)
{
    memset(v, 0, sizeof(*v));
    v->codec = codec;
    v->ssrc = ssrc_out;
    v->preferred = v->preferred_temporal = -1;
    v->current = v->target = -1;
    v->temporal = STAGE_LAYERS_MAX - 1;
}

void stage_layer_viewer_restart(stage_layer_viewer *v)
{
    v->current = v->target = -1;
    v->asked = false;
    memset(&v->hold, 0, sizeof(v->hold));
}

void stage_layer_viewer_prefer(stage_layer_viewer *v, int quality, int temporal)
{
    v->preferred = quality;
    v->preferred_temporal = temporal;
}

int stage_layer_viewer_retarget(stage_layer_viewer *v, const stage_layer_stats *st,
                                uint64_t estimate_bps, int64_t now_us)
{
    int t = stage_layer_choose(st, &v->hold, v->current, estimate_bps, v->preferred, now_us);
    if (t >= 0)
        v->target = t;
    return t;
}

int stage_layer_viewer_target(const stage_layer_viewer *v)
{
    return v->target;
}

bool stage_layer_viewer_has_sent(const stage_layer_viewer *v)
{
    return v->started;
}

int stage_layer_viewer_current(const stage_layer_viewer *v)
{
    return v->current;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wr16(uint8_t *p, uint16_t x)
{
    p[0] = (uint8_t)(x >> 8);
    p[1] = (uint8_t)x;
}

static void wr32(uint8_t *p, uint32_t x)
{
    wr16(p, (uint16_t)(x >> 16));
    wr16(p + 2, (uint16_t)x);
}

static int temporal_target(const stage_layer_viewer *v)
{
    int t = v->preferred_temporal;
    return (t < 0 || t >= STAGE_LAYERS_MAX) ? STAGE_LAYERS_MAX - 1 : t;
}

/* Starts mapping a new input stream onto the output at its packet pkt: the next sequence
 * number, a timestamp advanced by the wall time since the last packet sent (at least one tick
 * of 90 kHz, so the viewer's jitter buffer sees a new frame), the next PictureID and
 * TL0PICIDX. */
static void rebase(stage_layer_viewer *v, const uint8_t *pkt, const stage_vp8_desc *d,
                   int64_t now_us)
{
    uint16_t seq = rd16(pkt + 2);
    uint32_t ts = rd32(pkt + 4);
    if (v->started) {
        int64_t ticks = (now_us - v->last_out_us) * 90 / 1000;
        v->seq_off = (uint16_t)(v->last_seq_out + 1 - seq);
        v->ts_off = v->last_ts_out + (uint32_t)(ticks < 1 ? 1 : ticks) - ts;
    }
    if (d != NULL && d->picture_id >= 0) {
        if (v->have_pid)
            v->pid_off = (uint16_t)(v->last_pid_out + 1 - d->picture_id);
        v->last_in_pid = (uint16_t)(d->picture_id - 1);
    }
    if (d != NULL && d->tl0picidx >= 0 && v->have_tl0)
        v->tl0_off = (uint8_t)(v->last_tl0_out + 1 - d->tl0picidx);
    v->last_in_seq = v->switch_in_seq = (uint16_t)(seq - 1);
}

/* Is the descriptor's PictureID after b (in its own 7- or 15-bit space)? */
static bool pid_newer(const stage_vp8_desc *d, uint16_t b)
{
    int mask = d->picture_id_bits == 15 ? 0x7fff : 0x7f;
    int diff = (d->picture_id - b) & mask;
    return diff != 0 && diff <= mask / 2;
}

/* A packet of the current stream that the viewer does not get: the sequence numbers after it
 * close up over it, so the viewer does not NACK what it was never meant to have. */
static void skip(stage_layer_viewer *v, uint16_t seq, const stage_vp8_desc *d)
{
    if ((int16_t)(seq - v->last_in_seq) > 0) {
        v->seq_off--;
        v->last_in_seq = seq;
    }
    /* Likewise the PictureIDs over a dropped frame: libwebrtc's VP8 reference finder waits
     * for every missing PictureID below a non-base frame's before decoding it. */
    if (d != NULL && d->start && d->picture_id >= 0 && pid_newer(d, v->last_in_pid)) {
        v->pid_off--;
        v->last_in_pid = (uint16_t)d->picture_id;
    }
}

/* Is this packet of the current stream from before the last switch (late or retransmitted)? */
static bool before_switch(const stage_layer_viewer *v, uint16_t seq)
{
    return (int16_t)(seq - v->switch_in_seq) <= 0 && (int16_t)(seq - v->last_in_seq) <= 0;
}

/* Copies pkt to out with the stream offsets applied; marker -1 keeps the host's. */
static void emit(stage_layer_viewer *v, const uint8_t *pkt, size_t len, size_t plen_off,
                 const stage_vp8_desc *d, int marker, int64_t now_us, uint8_t *out)
{
    memcpy(out, pkt, len);
    uint16_t in_seq = rd16(pkt + 2);
    uint16_t seq = (uint16_t)(in_seq + v->seq_off);
    uint32_t ts = rd32(pkt + 4) + v->ts_off;
    wr16(out + 2, seq);
    wr32(out + 4, ts);
    if (v->ssrc != 0)
        wr32(out + 8, v->ssrc);
    if (marker >= 0)
        out[1] = (uint8_t)((out[1] & 0x7f) | (marker ? 0x80 : 0));
    bool newer = !v->started || (int16_t)(seq - v->last_seq_out) > 0;
    if (d != NULL && d->picture_id >= 0) {
        uint16_t pid = (uint16_t)((d->picture_id + v->pid_off) & 0x7fff);
        uint8_t *at = out + plen_off + d->picture_id_off;
        if (d->picture_id_bits == 15)
            wr16(at, (uint16_t)(0x8000 | pid));
        else
            at[0] = (uint8_t)(pid & 0x7f);
        if (newer || !v->have_pid)
            v->last_pid_out = pid;
        if (pid_newer(d, v->last_in_pid))
            v->last_in_pid = (uint16_t)d->picture_id;
        v->have_pid = true;
    }
    if (d != NULL && d->tl0picidx >= 0) {
        uint8_t tl0 = (uint8_t)(d->tl0picidx + v->tl0_off);
        out[plen_off + d->tl0picidx_off] = tl0;
        if (newer || !v->have_tl0)
            v->last_tl0_out = tl0;
        v->have_tl0 = true;
    }
    if (newer) {
        v->last_seq_out = seq;
        v->last_ts_out = ts;
    }
    if ((int16_t)(in_seq - v->last_in_seq) > 0)
        v->last_in_seq = in_seq;
    v->last_out_us = now_us;
    v->started = true;
}

/* The keyframe request, at most once per STAGE_LAYER_KEYFRAME_ASK_US. */
static int ask_keyframe(stage_layer_viewer *v, int64_t now_us)
{
    if (v->asked && now_us - v->last_keyframe_ask_us < STAGE_LAYER_KEYFRAME_ASK_US)
        return 0;
    v->asked = true;
    v->last_keyframe_ask_us = now_us;
    return STAGE_LAYER_WANT_KEYFRAME;
}

/* VP8 temporal layers: up one layer at a layer-sync frame, down at any frame start. */
static void vp8_temporal(stage_layer_viewer *v, const stage_vp8_desc *d)
{
    int want = temporal_target(v);
    if (!d->start || d->tid < 0)
        return;
    if (d->keyframe || want < v->temporal)
        v->temporal = want;
    else if (want > v->temporal && d->layer_sync && d->tid == v->temporal + 1)
        v->temporal = d->tid;
}

static bool simulcast_keyframe(const stage_layer_viewer *v, const stage_vp8_desc *d,
                               const uint8_t *p, size_t plen)
{
    if (v->codec == STAGE_CODEC_H264)
        return stage_h264_keyframe_start(p, plen);
    return d->keyframe;
}

static int forward_simulcast(stage_layer_viewer *v, int substream, const uint8_t *pkt, size_t len,
                             int64_t now_us, uint8_t *out, size_t *out_len)
{
    size_t plen;
    const uint8_t *p = rtp_payload(pkt, len, &plen);
    stage_vp8_desc d;
    const stage_vp8_desc *dp = NULL;
    if (p == NULL || (v->codec == STAGE_CODEC_VP8 && !stage_vp8_parse(p, plen, &d)))
        return 0;
    if (v->codec == STAGE_CODEC_VP8)
        dp = &d;
    int flags = 0;
    bool switching = v->target >= 0 && v->target != v->current;
    if (switching && substream == v->target && simulcast_keyframe(v, dp, p, plen)) {
        v->current = substream;
        rebase(v, pkt, dp, now_us);
        switching = false;
    }
    if (switching)
        flags |= ask_keyframe(v, now_us);
    else
        v->asked = false; /* so the next switch asks at once */
    uint16_t seq = rd16(pkt + 2);
    if (v->current < 0 || substream != v->current || before_switch(v, seq))
        return flags;
    if (dp != NULL) {
        vp8_temporal(v, dp);
        if (dp->tid > v->temporal) {
            skip(v, seq, dp);
            return flags;
        }
    }
    emit(v, pkt, len, (size_t)(p - pkt), dp, -1, now_us, out);
    *out_len = len;
    return flags | STAGE_LAYER_FORWARD;
}

/* VP9 layers, changed at a picture start (spatial layer 0 begins): the spatial layer goes
 * to the target at a keyframe (each of its layer frames is intra or predicted from the layer
 * below) and down at any picture; the temporal layer down at once, up at a keyframe or a
 * switching-up point. Mid-picture, the spatial layer may still go up one step at a layer frame
 * that is not inter-picture predicted (K-SVC); the picture's lower layer already went out with
 * its marker then, which decoders treat as the end of a shorter picture. */
static void vp9_layers(stage_layer_viewer *v, const stage_vp9_desc *d)
{
    int want = temporal_target(v);
    if (d->start && d->sid == 0) {
        if (v->target >= 0 && (d->keyframe || v->target < v->current))
            v->current = v->target;
        if (d->keyframe || want < v->temporal)
            v->temporal = want;
        else if (want > v->temporal && d->switch_up && d->tid > v->temporal && d->tid <= want)
            v->temporal = d->tid;
    } else if (d->start && !d->inter_picture && d->sid == v->current + 1 &&
               v->current < v->target) {
        v->current = d->sid;
    }
}

static int forward_vp9(stage_layer_viewer *v, const uint8_t *pkt, size_t len, int64_t now_us,
                       uint8_t *out, size_t *out_len)
{
    size_t plen;
    const uint8_t *p = rtp_payload(pkt, len, &plen);
    stage_vp9_desc d;
    if (p == NULL || !stage_vp9_parse(p, plen, &d))
        return 0;
    int flags = 0;
    if (v->current < 0) {
        if (!d.keyframe)
            return ask_keyframe(v, now_us);
        v->current = 0;
        rebase(v, pkt, NULL, now_us);
    }
    vp9_layers(v, &d);
    /* A whole picture went by without reaching the target: only a keyframe will do. */
    if (d.start && d.sid == 0 && !d.keyframe && v->current < v->target)
        flags |= ask_keyframe(v, now_us);
    else if (v->current >= v->target)
        v->asked = false; /* so the next up-switch asks at once */
    uint16_t seq = rd16(pkt + 2);
    if (before_switch(v, seq))
        return flags;
    if (d.sid > v->current || d.tid > v->temporal) {
        skip(v, seq, NULL);
        return flags;
    }
    /* The viewer's picture ends with the highest layer it gets. */
    int marker = (pkt[1] & 0x80) || (d.end && d.sid == v->current);
    emit(v, pkt, len, (size_t)(p - pkt), NULL, marker, now_us, out);
    *out_len = len;
    return flags | STAGE_LAYER_FORWARD;
}

int stage_layer_viewer_forward(stage_layer_viewer *v, int substream, const uint8_t *pkt, size_t len,
                               int64_t now_us, uint8_t *out_buf, size_t out_cap, size_t *out_len)
{
    *out_len = 0;
    if (out_cap < len)
        return 0;
    if (v->codec == STAGE_CODEC_VP9)
        return forward_vp9(v, pkt, len, now_us, out_buf, out_len);
    return forward_simulcast(v, substream, pkt, len, now_us, out_buf, out_len);
}
