/*
 * test_stage_layers.c - the stage's layer selection (plugins/stage/stage_layers.c): VP8/VP9/
 * H.264 descriptor parsing; ranking simulcast substreams by keyframe resolution, then bitrate;
 * choosing a layer from the estimate with a preference cap and hysteresis; a viewer switched
 * low -> high -> low whose output stays one stream (sequence numbers +1, timestamps rising,
 * PictureID and TL0PICIDX contiguous, switches only at keyframes, keyframe requests while
 * waiting); VP8 temporal dropping; VP9 spatial/temporal dropping with the marker moved to the
 * highest forwarded layer; malformed and truncated input dropped without a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stage_layers.h"

#define MS 1000
#define VIEWER_SSRC 0xabcdef01u

/* ---------------------------------------------------------------- packet builders */

typedef struct {
    uint16_t seq;
    uint32_t ts, ssrc;
    bool marker, start, key;
    uint16_t pid;
    uint8_t tl0;
    int tid; /* -1: no T bit */
    bool sync;
    uint16_t w, h;
    size_t fill;
} vp8_spec;

static void rtp_header(uint8_t *b, bool marker, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
    b[0] = 0x80;
    b[1] = (uint8_t)((marker ? 0x80 : 0) | 96);
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    for (int i = 0; i < 4; i++) {
        b[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
        b[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
    }
}

static size_t vp8_pkt(uint8_t *b, const vp8_spec *s)
{
    rtp_header(b, s->marker, s->seq, s->ts, s->ssrc);
    size_t o = 12;
    b[o++] = (uint8_t)(0x80 | (s->start ? 0x10 : 0));
    b[o++] = (uint8_t)(0xc0 | (s->tid >= 0 ? 0x20 : 0)); /* I, L, T */
    b[o++] = (uint8_t)(0x80 | (s->pid >> 8));
    b[o++] = (uint8_t)s->pid;
    b[o++] = s->tl0;
    if (s->tid >= 0)
        b[o++] = (uint8_t)((s->tid << 6) | (s->sync ? 0x20 : 0));
    if (s->start && s->key) {
        const uint8_t kf[10] = {0x10,          0x02,
                                0x00,          0x9d,
                                0x01,          0x2a,
                                (uint8_t)s->w, (uint8_t)(s->w >> 8),
                                (uint8_t)s->h, (uint8_t)(s->h >> 8)};
        memcpy(b + o, kf, sizeof(kf));
        o += sizeof(kf);
    } else {
        b[o++] = 0x11; /* P = 1: an interframe (or not a partition start) */
    }
    memset(b + o, 0x55, s->fill);
    return o + s->fill;
}

typedef struct {
    uint16_t seq;
    uint32_t ts;
    bool marker, b, e, p, u, d, ss;
    uint8_t sid, tid, tl0;
    uint16_t pid;
} vp9_spec;

static size_t vp9_pkt(uint8_t *b, const vp9_spec *s)
{
    rtp_header(b, s->marker, s->seq, s->ts, 0x99);
    size_t o = 12;
    b[o++] = (uint8_t)(0xa0 | (s->p ? 0x40 : 0) | (s->b ? 0x08 : 0) | (s->e ? 0x04 : 0) |
                       (s->ss ? 0x02 : 0));
    b[o++] = (uint8_t)(0x80 | (s->pid >> 8));
    b[o++] = (uint8_t)s->pid;
    b[o++] = (uint8_t)((s->tid << 5) | (s->u ? 0x10 : 0) | (s->sid << 1) | (s->d ? 1 : 0));
    b[o++] = s->tl0;
    if (s->ss) {
        b[o++] = (2 << 5) | 0x10; /* three layers with sizes */
        const uint16_t wh[6] = {320, 180, 640, 360, 1280, 720};
        for (int i = 0; i < 6; i++) {
            b[o++] = (uint8_t)(wh[i] >> 8);
            b[o++] = (uint8_t)wh[i];
        }
    }
    memset(b + o, 0x66, 100);
    return o + 100;
}

/* ---------------------------------------------------------------- parsers */

static void test_vp8_parse(void **state)
{
    (void)state;
    uint8_t b[256];
    vp8_spec s = {.seq = 1,
                  .start = true,
                  .key = true,
                  .pid = 0x1234,
                  .tl0 = 7,
                  .tid = 2,
                  .sync = true,
                  .w = 1280,
                  .h = 720};
    size_t n = vp8_pkt(b, &s);
    stage_vp8_desc d;
    assert_true(stage_vp8_parse(b + 12, n - 12, &d));
    assert_int_equal(d.len, 6);
    assert_true(d.start);
    assert_true(d.keyframe);
    assert_int_equal(d.picture_id, 0x1234);
    assert_int_equal(d.picture_id_bits, 15);
    assert_int_equal(d.picture_id_off, 2);
    assert_int_equal(d.tl0picidx, 7);
    assert_int_equal(d.tl0picidx_off, 4);
    assert_int_equal(d.tid, 2);
    assert_true(d.layer_sync);
    assert_int_equal(d.width, 1280);
    assert_int_equal(d.height, 720);
    /* A minimal descriptor: no X, an interframe. */
    const uint8_t small[] = {0x10, 0x01};
    assert_true(stage_vp8_parse(small, sizeof(small), &d));
    assert_false(d.keyframe);
    assert_int_equal(d.picture_id, -1);
    assert_int_equal(d.tid, -1);
}

static void test_vp9_parse(void **state)
{
    (void)state;
    uint8_t b[256];
    vp9_spec s = {.b = true, .ss = true, .sid = 0, .tid = 0, .tl0 = 9, .pid = 300};
    size_t n = vp9_pkt(b, &s);
    stage_vp9_desc d;
    assert_true(stage_vp9_parse(b + 12, n - 12, &d));
    assert_true(d.keyframe);
    assert_int_equal(d.picture_id, 300);
    assert_int_equal(d.tl0picidx, 9);
    assert_int_equal(d.ss_layers, 3);
    assert_int_equal(d.width[2], 1280);
    assert_int_equal(d.height[1], 360);
    assert_int_equal(d.len, 5 + 13);
    /* Flexible mode: I (7-bit), P, L, F, B; two P_DIFFs (N on the first). */
    const uint8_t flex[] = {0xf8, 0x05, (1 << 5) | (2 << 1) | 1, 0x03, 0x04, 0xaa};
    assert_true(stage_vp9_parse(flex, sizeof(flex), &d));
    assert_true(d.flexible);
    assert_false(d.keyframe);
    assert_int_equal(d.sid, 2);
    assert_int_equal(d.tid, 1);
    assert_true(d.inter_layer);
    assert_int_equal(d.tl0picidx, -1);
    assert_int_equal(d.len, 5);
}

static void test_h264_keyframe(void **state)
{
    (void)state;
    const uint8_t idr[] = {0x65, 0x88};
    const uint8_t slice[] = {0x41, 0x9a};
    const uint8_t stap[] = {0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce};
    const uint8_t fu_start[] = {0x7c, 0x85, 0x00};
    const uint8_t fu_mid[] = {0x7c, 0x05, 0x00};
    assert_true(stage_h264_keyframe_start(idr, sizeof(idr)));
    assert_false(stage_h264_keyframe_start(slice, sizeof(slice)));
    assert_true(stage_h264_keyframe_start(stap, sizeof(stap)));
    assert_true(stage_h264_keyframe_start(fu_start, sizeof(fu_start)));
    assert_false(stage_h264_keyframe_start(fu_mid, sizeof(fu_mid)));
}

/* ---------------------------------------------------------------- stats and choice */

static const uint16_t sim_w[3] = {1280, 320, 640}; /* substream 1 is the lowest */
static const uint16_t sim_h[3] = {720, 180, 360};

/* Feeds each substream a packet of sizes[l] bytes every 10 ms in [from, to), the first one a
 * keyframe with its resolution. */
static void feed(stage_layer_stats *st, int64_t from, int64_t to, const size_t sizes[3])
{
    uint8_t b[4096];
    for (int64_t t = from; t < to; t += 10 * MS) {
        for (int l = 0; l < 3; l++) {
            if (sizes[l] == 0)
                continue;
            vp8_spec s = {.seq = (uint16_t)(t / MS),
                          .start = true,
                          .key = (t == from),
                          .tid = -1,
                          .w = sim_w[l],
                          .h = sim_h[l]};
            size_t n = vp8_pkt(b, &s);
            s.fill = sizes[l] - n;
            n = vp8_pkt(b, &s);
            stage_layer_stats_packet(st, l, b, n, t);
        }
    }
}

static void test_rank(void **state)
{
    (void)state;
    stage_layer_stats st;
    stage_layer_stats_init(&st, STAGE_CODEC_VP8);
    int order[3];
    assert_int_equal(stage_layer_stats_rank(&st, 0, order), 0);
    /* The highest bitrate on the smallest picture: resolution still wins. */
    const size_t sizes[3] = {500, 1500, 700};
    feed(&st, 0, 2000 * MS, sizes);
    int64_t now = 2000 * MS;
    assert_int_equal(stage_layer_stats_rank(&st, now, order), 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    /* 500 bytes per 10 ms = 400 kbps. */
    uint32_t br = stage_layer_stats_bitrate(&st, 0, now);
    assert_in_range(br, 380000, 420000);
    /* Substream 0 stops: after a second it is no longer ranked. */
    const size_t two[3] = {0, 1500, 700};
    feed(&st, now, now + 1500 * MS, two);
    now += 1500 * MS;
    assert_false(stage_layer_stats_active(&st, 0, now));
    assert_int_equal(stage_layer_stats_rank(&st, now, order), 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);

    /* Without resolutions (H.264) the bitrate orders them. */
    stage_layer_stats_init(&st, STAGE_CODEC_H264);
    feed(&st, 0, 1000 * MS, sizes);
    assert_int_equal(stage_layer_stats_rank(&st, 1000 * MS, order), 3);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 1);
}

/* Substream 1: 160 kbps at 180p, 2: 480 kbps at 360p, 0: 1.6 Mbps at 720p. */
static void stats_three(stage_layer_stats *st, int64_t *now)
{
    stage_layer_stats_init(st, STAGE_CODEC_VP8);
    const size_t sizes[3] = {2000, 200, 600};
    feed(st, 0, 2000 * MS, sizes);
    *now = 2000 * MS;
}

static void test_choose(void **state)
{
    (void)state;
    stage_layer_stats st;
    stage_layer_hold h = {0};
    int64_t now;
    stats_three(&st, &now);
    /* No layer current: the best that fits 0.9 x estimate, at once. */
    assert_int_equal(stage_layer_choose(&st, &h, -1, 100000, -1, now), 1);
    assert_int_equal(stage_layer_choose(&st, &h, -1, 600000, -1, now), 2);
    assert_int_equal(stage_layer_choose(&st, &h, -1, 1700000, -1, now), 2); /* 1.6 > 1.53 */
    assert_int_equal(stage_layer_choose(&st, &h, -1, 2000000, -1, now), 0);
    assert_int_equal(stage_layer_choose(&st, &h, -1, 0, -1, now), 0);
    /* The preference caps. */
    assert_int_equal(stage_layer_choose(&st, &h, -1, 2000000, 1, now), 2);
    assert_int_equal(stage_layer_choose(&st, &h, -1, 0, 0, now), 1);
    assert_int_equal(stage_layer_choose(&st, &h, 0, 2000000, 0, now), 1); /* down at once */

    /* Up only after the better layer stayed affordable for a second (the host keeps
     * sending meanwhile). */
    const size_t sizes[3] = {2000, 200, 600};
    assert_int_equal(stage_layer_choose(&st, &h, 2, 2000000, -1, now), 2);
    feed(&st, now, now + 500 * MS, sizes);
    now += 500 * MS;
    assert_int_equal(stage_layer_choose(&st, &h, 2, 2000000, -1, now), 2);
    /* A dip restarts the wait. */
    assert_int_equal(stage_layer_choose(&st, &h, 2, 600000, -1, now), 2);
    assert_int_equal(stage_layer_choose(&st, &h, 2, 2000000, -1, now), 2);
    feed(&st, now, now + 990 * MS, sizes);
    now += 990 * MS;
    assert_int_equal(stage_layer_choose(&st, &h, 2, 2000000, -1, now), 2);
    feed(&st, now, now + 10 * MS, sizes);
    now += 10 * MS;
    assert_int_equal(stage_layer_choose(&st, &h, 2, 2000000, -1, now), 0);
    /* The switch waits for layer 0's keyframe: until then the answer stays the better layer
     * (a fresh wait on every call would let the target flap back and miss keyframes). */
    feed(&st, now, now + 100 * MS, sizes);
    now += 100 * MS;
    assert_int_equal(stage_layer_choose(&st, &h, 2, 2000000, -1, now), 0);
    assert_int_equal(stage_layer_choose(&st, &h, 2, 2000000, -1, now + 50 * MS), 0);

    /* Down: not while the current layer fits the whole estimate, at once when it does not. */
    assert_int_equal(stage_layer_choose(&st, &h, 0, 1700000, -1, now), 0);
    assert_int_equal(stage_layer_choose(&st, &h, 0, 1500000, -1, now), 2);
    assert_int_equal(stage_layer_choose(&st, &h, 0, 100000, -1, now), 1);
    /* Nothing active. */
    assert_int_equal(stage_layer_choose(&st, &h, 0, 100000, -1, now + 5000 * MS), -1);
}

static void test_choose_vp9_cumulative(void **state)
{
    (void)state;
    stage_layer_stats st;
    stage_layer_stats_init(&st, STAGE_CODEC_VP9);
    uint8_t b[512];
    /* 100 kbps per spatial layer: 125 bytes every 10 ms. */
    for (int64_t t = 0; t < 1000 * MS; t += 10 * MS)
        for (uint8_t sid = 0; sid < 3; sid++) {
            vp9_spec s = {.seq = 1, .b = true, .sid = sid, .p = t > 0, .ss = t == 0 && !sid};
            size_t n = vp9_pkt(b, &s);
            stage_layer_stats_packet(&st, 0, b, 125 > n ? n : 125, t);
        }
    int64_t now = 1000 * MS;
    assert_int_equal(st.sub[2].width, 1280);
    stage_layer_hold h = {0};
    /* Layer 1 costs 200 kbps, layer 2 300 kbps. */
    assert_int_equal(stage_layer_choose(&st, &h, -1, 300000, -1, now), 1);
    assert_int_equal(stage_layer_choose(&st, &h, -1, 340000, -1, now), 2);
}

/* ---------------------------------------------------------------- simulcast switching */

typedef struct {
    stage_layer_stats st;
    stage_layer_viewer v;
    uint16_t seq[3];
    uint32_t ts[3];
    uint16_t pid[3];
    uint8_t tl0[3];
    /* What the viewer got. */
    int count;
    bool started;
    uint16_t last_seq, last_pid;
    uint32_t last_ts;
    uint8_t last_tl0;
    int want_keyframe;
} sim;

static void sim_init(sim *s)
{
    memset(s, 0, sizeof(*s));
    stage_layer_stats_init(&s->st, STAGE_CODEC_VP8);
    stage_layer_viewer_init(&s->v, STAGE_CODEC_VP8, VIEWER_SSRC);
    const uint16_t seq[3] = {100, 40000, 65500}; /* one wraps */
    const uint32_t ts[3] = {1000, 4000000000u, 77};
    const uint16_t pid[3] = {5, 32760, 1000};
    const uint8_t tl0[3] = {0, 250, 100};
    memcpy(s->seq, seq, sizeof(seq));
    memcpy(s->ts, ts, sizeof(ts));
    memcpy(s->pid, pid, sizeof(pid));
    memcpy(s->tl0, tl0, sizeof(tl0));
}

/* Checks one forwarded packet against the previous one: one stream. */
static void sim_check(sim *s, const uint8_t *out, size_t n, bool switched)
{
    uint16_t seq = (uint16_t)((out[2] << 8) | out[3]);
    uint32_t ts = ((uint32_t)out[4] << 24) | ((uint32_t)out[5] << 16) | (out[6] << 8) | out[7];
    uint32_t ssrc = ((uint32_t)out[8] << 24) | ((uint32_t)out[9] << 16) | (out[10] << 8) | out[11];
    stage_vp8_desc d;
    assert_true(stage_vp8_parse(out + 12, n - 12, &d));
    assert_int_equal(ssrc, VIEWER_SSRC);
    if (switched)
        assert_true(d.keyframe); /* a switch lands on a keyframe */
    if (s->started) {
        assert_int_equal(seq, (uint16_t)(s->last_seq + 1));
        if (d.start) {
            assert_true((int32_t)(ts - s->last_ts) > 0);
            assert_int_equal(d.picture_id, (s->last_pid + 1) & 0x7fff);
            if (d.tid == 0)
                assert_int_equal(d.tl0picidx, (uint8_t)(s->last_tl0 + 1));
        } else {
            assert_int_equal(ts, s->last_ts);
            assert_int_equal(d.picture_id, s->last_pid);
        }
    }
    s->started = true;
    s->last_seq = seq;
    s->last_ts = ts;
    s->last_pid = (uint16_t)d.picture_id;
    s->last_tl0 = (uint8_t)d.tl0picidx;
    s->count++;
}

/* One 33 ms frame on every substream (three packets each, interleaved), keyframes when asked;
 * returns the substream the viewer got. */
static int sim_frame(sim *s, int64_t now, bool key, int tid, bool sync)
{
    uint8_t b[1500], out[1500];
    int got = -1;
    for (int l = 0; l < 3 && tid <= 0; l++)
        s->tl0[l]++; /* TL0PICIDX counts the base layer frames, this one included */
    for (int p = 0; p < 3; p++)
        for (int l = 0; l < 3; l++) {
            vp8_spec sp = {.seq = s->seq[l]++,
                           .ts = s->ts[l],
                           .ssrc = 0x1000u + (uint32_t)l,
                           .marker = p == 2,
                           .start = p == 0,
                           .key = key,
                           .pid = s->pid[l],
                           .tl0 = s->tl0[l],
                           .tid = tid,
                           .sync = sync,
                           .w = sim_w[l],
                           .h = sim_h[l],
                           .fill = 100u * (uint32_t)(l + 1)};
            size_t n = vp8_pkt(b, &sp), on = 0;
            stage_layer_stats_packet(&s->st, l, b, n, now);
            int before = stage_layer_viewer_current(&s->v);
            int r = stage_layer_viewer_forward(&s->v, l, b, n, now, out, sizeof(out), &on);
            if (r & STAGE_LAYER_WANT_KEYFRAME)
                s->want_keyframe++;
            if (r & STAGE_LAYER_FORWARD) {
                assert_int_equal(on, n);
                assert_int_equal(l, stage_layer_viewer_current(&s->v));
                sim_check(s, out, on, before != l);
                got = l;
            }
        }
    for (int l = 0; l < 3; l++) {
        s->ts[l] += 3000;
        s->pid[l] = (uint16_t)((s->pid[l] + 1) & 0x7fff);
    }
    stage_layer_viewer_retarget(&s->v, &s->st, 0, now);
    return got;
}

static void test_switch_low_high_low(void **state)
{
    (void)state;
    sim s;
    sim_init(&s);
    stage_layer_viewer_prefer(&s.v, 0, -1);
    int64_t now = 0;
    /* Nothing is known before the first packets: nothing to forward, nothing to ask. */
    assert_int_equal(sim_frame(&s, now, true, -1, false), -1);
    assert_int_equal(stage_layer_viewer_target(&s.v), 1);
    for (int f = 1; f < 10; f++) {
        now += 33 * MS;
        assert_int_equal(sim_frame(&s, now, f == 1, -1, false), 1);
    }
    /* Up: the target changes, but the switch waits for a keyframe, asking for one. */
    stage_layer_viewer_prefer(&s.v, 2, -1);
    s.want_keyframe = 0;
    for (int f = 10; f < 20; f++) {
        now += 33 * MS;
        assert_int_equal(sim_frame(&s, now, false, -1, false), 1);
        assert_int_equal(stage_layer_viewer_target(&s.v), 0);
    }
    /* 330 ms of waiting at one request per 500 ms: one request. */
    assert_int_equal(s.want_keyframe, 1);
    now += 200 * MS; /* a longer pause: the timestamp must advance by it */
    uint32_t ts_before = s.last_ts;
    assert_int_equal(sim_frame(&s, now, true, -1, false), 0);
    assert_true(s.last_ts - ts_before >= 200 * 90);
    s.want_keyframe = 0;
    for (int f = 21; f < 40; f++) {
        now += 33 * MS;
        assert_int_equal(sim_frame(&s, now, false, -1, false), 0);
    }
    assert_int_equal(s.want_keyframe, 0);
    /* Down: also at a keyframe. */
    stage_layer_viewer_prefer(&s.v, 0, -1);
    for (int f = 40; f < 45; f++) {
        now += 33 * MS;
        assert_int_equal(sim_frame(&s, now, false, -1, false), 0);
    }
    assert_int_equal(s.want_keyframe, 1);
    now += 33 * MS;
    assert_int_equal(sim_frame(&s, now, true, -1, false), 1);
    for (int f = 46; f < 50; f++) {
        now += 33 * MS;
        assert_int_equal(sim_frame(&s, now, false, -1, false), 1);
    }
    /* Frames 1..49, and one more packet: at frame 45 the first packet of substream 0's frame
     * went out before substream 1's keyframe arrived (a truncated frame the decoder drops). */
    assert_int_equal(s.count, 49 * 3 + 1);
}

static void test_keyframe_request_rate(void **state)
{
    (void)state;
    sim s;
    sim_init(&s);
    stage_layer_viewer_prefer(&s.v, -1, -1);
    sim_frame(&s, 0, false, -1, false); /* learns bitrates, no resolution yet */
    assert_true(stage_layer_viewer_target(&s.v) >= 0);
    s.want_keyframe = 0;
    /* Never a keyframe: a request every 500 ms, none in between. */
    for (int64_t t = 10 * MS; t < 1010 * MS; t += 10 * MS)
        sim_frame(&s, t, false, -1, false);
    assert_int_equal(s.want_keyframe, 2);
    assert_int_equal(s.count, 0);
}

static void test_vp8_temporal(void **state)
{
    (void)state;
    sim s;
    sim_init(&s);
    stage_layer_viewer_prefer(&s.v, 0, 0);
    int64_t now = 0;
    sim_frame(&s, now, true, 0, true); /* learns the layers */
    /* L1T3: 0, 2, 1, 2 from a keyframe on; every TID 1 and 2 frame is a layer sync here. */
    static const int pattern[4] = {0, 2, 1, 2};
    int forwarded = 0;
    for (int f = 1; f <= 16; f++) {
        now += 33 * MS;
        int tid = pattern[(f - 1) % 4];
        if (sim_frame(&s, now, f == 1, tid, tid != 0) >= 0)
            forwarded++;
    }
    /* TID 0 only (frames 1, 5, 9, 13), yet sequence numbers and PictureIDs contiguous. */
    assert_int_equal(forwarded, 4);
    /* Up to all three: TID 1 sync frame first, then TID 2 sync. */
    stage_layer_viewer_prefer(&s.v, 0, 2);
    int before = s.count;
    for (int f = 17; f <= 24; f++) {
        now += 33 * MS;
        int tid = pattern[(f - 1) % 4];
        sim_frame(&s, now, false, tid, true);
    }
    /* 17 TID 0; 18 TID 2 dropped (one layer at a time), 19 TID 1 up, 20 TID 2 up, then all. */
    assert_int_equal(s.count - before, 7 * 3);
}

/* ---------------------------------------------------------------- VP9 SVC */

typedef struct {
    stage_layer_stats st;
    stage_layer_viewer v;
    uint16_t seq, pid;
    uint32_t ts;
    uint8_t tl0;
    int pictures;
    /* Output. */
    bool started;
    uint16_t last_seq;
    int max_sid, max_tid, markers, want_keyframe;
    uint8_t marker_sid;
} svc;

/* One picture: three spatial layers of two packets each; the host's marker on the last. */
static void svc_picture(svc *s, int64_t now, bool key, uint8_t tid, bool u)
{
    uint8_t b[512], out[512];
    for (uint8_t sid = 0; sid < 3; sid++)
        for (int p = 0; p < 2; p++) {
            vp9_spec sp = {.seq = s->seq++,
                           .ts = s->ts,
                           .marker = sid == 2 && p == 1,
                           .b = p == 0,
                           .e = p == 1,
                           .p = !key,
                           .u = u,
                           .d = sid > 0,
                           .ss = key && sid == 0 && p == 0,
                           .sid = sid,
                           .tid = tid,
                           .tl0 = s->tl0,
                           .pid = s->pid};
            size_t n = vp9_pkt(b, &sp), on = 0;
            stage_layer_stats_packet(&s->st, 0, b, n, now);
            int r = stage_layer_viewer_forward(&s->v, 0, b, n, now, out, sizeof(out), &on);
            if (r & STAGE_LAYER_WANT_KEYFRAME)
                s->want_keyframe++;
            if (!(r & STAGE_LAYER_FORWARD))
                continue;
            uint16_t seq = (uint16_t)((out[2] << 8) | out[3]);
            if (s->started)
                assert_int_equal(seq, (uint16_t)(s->last_seq + 1));
            s->started = true;
            s->last_seq = seq;
            stage_vp9_desc d;
            assert_true(stage_vp9_parse(out + 12, on - 12, &d));
            if (d.sid > s->max_sid)
                s->max_sid = d.sid;
            if (d.tid > s->max_tid)
                s->max_tid = d.tid;
            if (out[1] & 0x80) {
                assert_true(d.end);
                s->markers++;
                s->marker_sid = d.sid;
            }
        }
    s->ts += 3000;
    s->pid = (uint16_t)((s->pid + 1) & 0x7fff);
    if (tid == 0)
        s->tl0++;
    s->pictures++;
    stage_layer_viewer_retarget(&s->v, &s->st, 0, now);
}

static void svc_reset_out(svc *s)
{
    s->max_sid = s->max_tid = -1;
    s->markers = 0;
    s->want_keyframe = 0;
}

static void test_vp9_svc(void **state)
{
    (void)state;
    svc s;
    memset(&s, 0, sizeof(s));
    s.seq = 65530;
    stage_layer_stats_init(&s.st, STAGE_CODEC_VP9);
    stage_layer_viewer_init(&s.v, STAGE_CODEC_VP9, 0);
    stage_layer_viewer_prefer(&s.v, 1, 1);
    static const uint8_t pattern[4] = {0, 2, 1, 2};
    int64_t now = 0;
    svc_reset_out(&s);
    /* Joining mid-stream: nothing until a keyframe, which is asked for. */
    svc_picture(&s, now, false, 2, false);
    assert_int_equal(s.max_sid, -1);
    assert_int_equal(s.want_keyframe, 1);
    for (int i = 0; i < 8; i++) {
        now += 33 * MS;
        svc_picture(&s, now, i == 0, pattern[i % 4], false);
    }
    /* Spatial 0..1 and temporal 0..1 only; every forwarded picture ends on layer 1. */
    assert_int_equal(s.max_sid, 1);
    assert_int_equal(s.max_tid, 1);
    assert_int_equal(s.markers, 4); /* TIDs 0, 1, 0, 1 */
    assert_int_equal(s.marker_sid, 1);

    /* Up to spatial 2: not on an inter picture, a keyframe is asked for at the next picture. */
    stage_layer_viewer_prefer(&s.v, 2, 1);
    stage_layer_viewer_retarget(&s.v, &s.st, 0, now);
    svc_reset_out(&s);
    for (int i = 0; i < 4; i++) {
        now += 33 * MS;
        svc_picture(&s, now, false, pattern[i % 4], false);
    }
    assert_int_equal(s.max_sid, 1);
    assert_int_equal(s.want_keyframe, 1);
    now += 33 * MS;
    svc_picture(&s, now, true, 0, false);
    assert_int_equal(s.max_sid, 2);
    assert_int_equal(s.marker_sid, 2);
    assert_int_equal(stage_layer_viewer_current(&s.v), 2);

    /* Temporal up at a switching-up point only. */
    stage_layer_viewer_prefer(&s.v, 2, 2);
    svc_reset_out(&s);
    now += 33 * MS;
    svc_picture(&s, now, false, 2, false);
    assert_int_equal(s.max_tid, -1);
    now += 33 * MS;
    svc_picture(&s, now, false, 2, true);
    assert_int_equal(s.max_tid, 2);

    /* Down to spatial 0 at the next picture boundary. */
    stage_layer_viewer_prefer(&s.v, 0, 2);
    stage_layer_viewer_retarget(&s.v, &s.st, 0, now);
    svc_reset_out(&s);
    for (int i = 0; i < 4; i++) {
        now += 33 * MS;
        svc_picture(&s, now, false, pattern[i % 4], false);
    }
    assert_int_equal(s.max_sid, 0);
    assert_int_equal(s.markers, 4);
    assert_int_equal(s.marker_sid, 0);
    assert_int_equal(s.want_keyframe, 0);
}

/* ---------------------------------------------------------------- malformed input */

static void test_malformed(void **state)
{
    (void)state;
    stage_vp8_desc d8;
    stage_vp9_desc d9;
    const uint8_t x_only[] = {0x90};
    const uint8_t pid_cut[] = {0x90, 0x80, 0x80};
    const uint8_t tid_cut[] = {0x90, 0x20};
    assert_false(stage_vp8_parse(x_only, 0, &d8));
    assert_false(stage_vp8_parse(x_only, sizeof(x_only), &d8));
    assert_false(stage_vp8_parse(pid_cut, sizeof(pid_cut), &d8));
    assert_false(stage_vp8_parse(tid_cut, sizeof(tid_cut), &d8));
    const uint8_t pdiff_forever[] = {0x50, 0x01, 0x01, 0x01, 0x01};
    const uint8_t ss_cut[] = {0x02, (2 << 5) | 0x10, 0, 1, 0, 1};
    const uint8_t g_cut[] = {0x02, 0x08, 0x02, 0x0c, 0x01};
    const uint8_t l_cut[] = {0x20, 0x00};
    assert_false(stage_vp9_parse(pdiff_forever, sizeof(pdiff_forever), &d9));
    assert_false(stage_vp9_parse(ss_cut, sizeof(ss_cut), &d9));
    assert_false(stage_vp9_parse(g_cut, sizeof(g_cut), &d9));
    assert_false(stage_vp9_parse(l_cut, sizeof(l_cut), &d9));
    const uint8_t stap_big[] = {0x78, 0x00, 0x09, 0x65};
    const uint8_t fu_cut[] = {0x7c};
    assert_false(stage_h264_keyframe_start(stap_big, sizeof(stap_big)));
    assert_false(stage_h264_keyframe_start(fu_cut, sizeof(fu_cut)));

    /* Random packets of every length through stats and viewers of each codec. */
    uint8_t pkt[256], out[256];
    uint32_t x = 12345;
    for (int codec = STAGE_CODEC_VP8; codec <= STAGE_CODEC_H264; codec++) {
        stage_layer_stats st;
        stage_layer_viewer v;
        stage_layer_stats_init(&st, (stage_layer_codec)codec);
        stage_layer_viewer_init(&v, (stage_layer_codec)codec, 1);
        for (int i = 0; i < 20000; i++) {
            size_t len = (size_t)(i % 64);
            for (size_t k = 0; k < len; k++) {
                x = x * 1103515245u + 12345u;
                pkt[k] = (uint8_t)(x >> 16);
            }
            if (len > 0 && (i & 1))
                pkt[0] = (uint8_t)((pkt[0] & 0x3f) | 0x80); /* mostly RTP v2 */
            int64_t now = i * MS;
            size_t on = 0;
            stage_layer_stats_packet(&st, i % 4, pkt, len, now);
            stage_layer_viewer_retarget(&v, &st, (uint64_t)(x % 3000000), now);
            int r = stage_layer_viewer_forward(&v, i % 3, pkt, len, now, out, sizeof(out), &on);
            if (r & STAGE_LAYER_FORWARD)
                assert_int_equal(on, len);
        }
    }
    /* Too small an output buffer: dropped. */
    stage_layer_viewer v;
    stage_layer_viewer_init(&v, STAGE_CODEC_VP9, 0);
    vp9_spec sp = {.b = true};
    size_t n = vp9_pkt(pkt, &sp), on = 1;
    assert_int_equal(stage_layer_viewer_forward(&v, 0, pkt, n, 0, out, n - 1, &on), 0);
    assert_int_equal(on, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vp8_parse),
        cmocka_unit_test(test_vp9_parse),
        cmocka_unit_test(test_h264_keyframe),
        cmocka_unit_test(test_rank),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_choose_vp9_cumulative),
        cmocka_unit_test(test_switch_low_high_low),
        cmocka_unit_test(test_keyframe_request_rate),
        cmocka_unit_test(test_vp8_temporal),
        cmocka_unit_test(test_vp9_svc),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
