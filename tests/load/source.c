/*
 * source.c - "odeon-load source": a test source that needs no other tool. It encodes a
 * synthetic moving picture with libvpx (VP8, realtime, CBR, a keyframe every --keyint seconds)
 * and a sine tone with libopus, packetizes them (RFC 7741 payload descriptor with a 15-bit
 * picture id; RFC 7587 Opus, 48 kHz clock, 20 ms frames) and sends plain RTP over UDP: the
 * input of a Janus Streaming RTP mountpoint and of Odeon's stage RTP ingest.
 *
 * Every frame carries its 16-bit frame number as a barcode along the top rows (vp8.c), which
 * the viewers read back from decoded frames to compare them across viewers.
 *
 * --simulcast 2 or 3 encodes the same picture also at 1/2 and 1/4 size with more libvpx
 * encoders, each layer its own RTP stream (SSRC, sequence numbers, picture ids) to its own
 * port, with one RTP clock and keyframes on the same frames: the input of a Janus Streaming
 * simulcast mountpoint (videoport, videoport2, videoport3).
 *
 * --whip URL publishes the same over WebRTC instead (publish.c): one VP8 layer and Opus to a
 * stage's WHIP endpoint, as OBS would; a PLI or FIR from the server brings the next frame as a
 * keyframe.
 *
 * It runs until --duration passes (0: until SIGINT/SIGTERM) and then prints one JSON line with
 * what it sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <opus/opus.h>
#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>

#include "../bench/common/rtcclient.h"
#include "load.h"

static struct {
    const char *video, *audio, *whip, *token;
    const char *frame_log; /* "<frame number> <monotonic us>" per frame sent */
    int width, height, fps, kbps, video_pt, audio_pt, mtu, opus_kbps, cpu_used, verbose;
    int simulcast, kbps_half, kbps_quarter; /* 0: kbps/3, kbps/8 */
    double keyint, duration, tone;
} opt = {
    .video = "127.0.0.1:5004",
    .audio = "127.0.0.1:5002",
    .width = 640,
    .height = 480,
    .fps = 30,
    .kbps = 1000,
    .video_pt = 96,
    .audio_pt = 111,
    .mtu = 1200,
    .opus_kbps = 48,
    .cpu_used = 8,
    .keyint = 2.0,
    .duration = 0,
    .tone = 440,
    .simulcast = 1,
};

static atomic_bool g_quit;
static bool g_keyframe_asked; /* --whip: the server sent a PLI or FIR */
static FILE *g_frame_log;     /* --frame-log */

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_quit, true);
}

typedef struct {
    int fd;
    whip_pub *pub; /* --whip: the WebRTC connection (shared), else NULL */
    struct sockaddr_in to;
    uint32_t ssrc, ts;
    uint16_t seq;
    uint64_t packets, bytes;
} rtp_out;

static int parse_hostport(const char *s, struct sockaddr_in *out)
{
    char host[64];
    unsigned port;
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (sscanf(colon + 1, "%u", &port) != 1 || port == 0 || port > 65535)
        return -1;
    *out = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static int out_open(rtp_out *o, const char *where)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (!where || !*where || strcmp(where, "none") == 0)
        return 0;
    if (parse_hostport(where, &o->to) != 0)
        return -1;
    o->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    o->ssrc = g_random_int();
    o->seq = (uint16_t)g_random_int();
    o->ts = g_random_int();
    return o->fd >= 0 ? 0 : -1;
}

static bool out_on(const rtp_out *o)
{
    return o->fd >= 0 || o->pub != NULL;
}

static void out_send(rtp_out *o, uint8_t pt, bool marker, const uint8_t *payload, size_t len,
                     const uint8_t *prefix, size_t prefix_len)
{
    _Alignas(16) uint8_t buf[1600 + ODEON_SRTP_RTP_TAIL_ROOM];
    rtcc_rtp_header(buf, pt, marker, o->seq++, o->ts, o->ssrc);
    if (prefix_len)
        memcpy(buf + 12, prefix, prefix_len);
    memcpy(buf + 12 + prefix_len, payload, len);
    size_t n = 12 + prefix_len + len;
    if (o->pub != NULL) {
        if (whip_pub_send(o->pub, buf, n, sizeof buf) == 0) {
            o->packets++;
            o->bytes += n;
        }
        return;
    }
    if (sendto(o->fd, buf, n, 0, (struct sockaddr *)&o->to, sizeof o->to) == (ssize_t)n) {
        o->packets++;
        o->bytes += n;
    }
}

/* ----- video ---------------------------------------------------------------------------------- */

/* Simulcast: up to three encodings of the same captured picture, at full, 1/2 and 1/4 of
 * --width x --height. layers[] is in the order of the --video destinations, smallest first,
 * as a Janus Streaming mountpoint numbers its substreams (videoport = substream 0 = lowest). */
#define MAX_LAYERS 3

typedef struct {
    vpx_codec_ctx_t codec;
    vpx_image_t img; /* the full-size layer draws into the canvas instead */
    vpx_image_t *pic;
    rtp_out out;
    char to[80];    /* host:port, for the messages */
    unsigned shift; /* 0 full size, 1 half, 2 quarter */
    int kbps;
    uint16_t picture_id;
    uint64_t frames, keyframes, frame_bytes, encode_us;
} video_layer;

typedef struct {
    vpx_image_t canvas; /* the full-size picture */
    video_layer layers[MAX_LAYERS];
    int n;
    uint32_t frame;
    bool on;
} video_src;

static int layer_init(video_layer *l, vpx_image_t *canvas)
{
    unsigned w = (unsigned)opt.width >> l->shift, h = (unsigned)opt.height >> l->shift;
    vpx_codec_enc_cfg_t cfg;
    if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK)
        return -1;
    cfg.g_w = w;
    cfg.g_h = h;
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = opt.fps;
    cfg.rc_target_bitrate = (unsigned)l->kbps;
    cfg.rc_end_usage = VPX_CBR;
    cfg.g_pass = VPX_RC_ONE_PASS;
    cfg.g_lag_in_frames = 0;
    cfg.g_threads = 1;
    cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    /* with --keyint every keyframe is forced, so that all layers have theirs on the same
     * captured frame (a simulcast server switches layers at keyframes) */
    cfg.kf_mode = opt.keyint > 0 ? VPX_KF_DISABLED : VPX_KF_AUTO;
    cfg.kf_max_dist = (unsigned)(opt.keyint * opt.fps);
    cfg.rc_buf_sz = 1000;
    cfg.rc_buf_initial_sz = 500;
    cfg.rc_buf_optimal_sz = 600;
    if (vpx_codec_enc_init(&l->codec, vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK)
        return -1;
    vpx_codec_control(&l->codec, VP8E_SET_CPUUSED, opt.cpu_used);
    if (l->shift == 0)
        l->pic = canvas;
    else if (vpx_img_alloc(&l->img, VPX_IMG_FMT_I420, w, h, 16))
        l->pic = &l->img;
    else
        return -1;
    l->picture_id = (uint16_t)(g_random_int() & 0x7fff);
    return 0;
}

static int video_init(video_src *v)
{
    if (!vpx_img_alloc(&v->canvas, VPX_IMG_FMT_I420, (unsigned)opt.width, (unsigned)opt.height, 16))
        return -1;
    for (int i = 0; i < v->n; i++)
        if (layer_init(&v->layers[i], &v->canvas) != 0)
            return -1;
    return 0;
}

/* A diagonal gradient scrolling right, a bright square bouncing around, slowly drifting
 * chroma; the barcode is drawn per layer, after scaling. */
static void video_draw(video_src *v)
{
    vpx_image_t *img = &v->canvas;
    unsigned w = img->d_w, h = img->d_h, f = v->frame;
    for (unsigned y = 0; y < h; y++) {
        uint8_t *row = img->planes[VPX_PLANE_Y] + (size_t)y * (size_t)img->stride[VPX_PLANE_Y];
        for (unsigned x = 0; x < w; x++)
            row[x] = (uint8_t)(((x + y) / 2 + 3 * f) & 0xff);
    }
    unsigned sq = h / 5, span_x = w - sq, span_y = h - sq;
    unsigned px = (f * 7) % (2 * span_x), py = (f * 5) % (2 * span_y);
    px = px < span_x ? px : 2 * span_x - px;
    py = py < span_y ? py : 2 * span_y - py;
    for (unsigned y = py; y < py + sq; y++)
        memset(img->planes[VPX_PLANE_Y] + (size_t)y * (size_t)img->stride[VPX_PLANE_Y] + px, 235,
               sq);
    for (int pl = 1; pl < 3; pl++) {
        unsigned cw = (w + 1) / 2, ch = (h + 1) / 2;
        for (unsigned y = 0; y < ch; y++) {
            uint8_t *row = img->planes[pl] + (size_t)y * (size_t)img->stride[pl];
            for (unsigned x = 0; x < cw; x++)
                row[x] = (uint8_t)(128 + (pl == 1 ? 1 : -1) * (int)((x + f) % 64) - 32);
        }
    }
}

/* dst = src scaled to half in both directions, 2x2 box filter per plane (source pixels past
 * the edge of an odd-sized chroma plane repeat the last one). */
static void scale_half(const vpx_image_t *src, vpx_image_t *dst)
{
    for (int pl = 0; pl < 3; pl++) {
        unsigned sw = pl ? (src->d_w + 1) / 2 : src->d_w, sh = pl ? (src->d_h + 1) / 2 : src->d_h;
        unsigned dw = pl ? (dst->d_w + 1) / 2 : dst->d_w, dh = pl ? (dst->d_h + 1) / 2 : dst->d_h;
        for (unsigned y = 0; y < dh; y++) {
            const uint8_t *r0 = src->planes[pl] + (size_t)(2 * y) * (size_t)src->stride[pl];
            const uint8_t *r1 = 2 * y + 1 < sh ? r0 + src->stride[pl] : r0;
            uint8_t *d = dst->planes[pl] + (size_t)y * (size_t)dst->stride[pl];
            for (unsigned x = 0; x < dw; x++) {
                unsigned x0 = 2 * x, x1 = 2 * x + 1 < sw ? 2 * x + 1 : 2 * x;
                d[x] = (uint8_t)((r0[x0] + r0[x1] + r1[x0] + r1[x1] + 2) / 4);
            }
        }
    }
}

/* Encodes one layer's picture and sends it as RTP: one descriptor per packet, S on the first,
 * the marker on the last. */
static void layer_encode(video_layer *l, uint32_t frame, bool force_key)
{
    int64_t t0 = rtcc_now_us();
    if (vpx_codec_encode(&l->codec, l->pic, frame, 1, force_key ? VPX_EFLAG_FORCE_KF : 0,
                         VPX_DL_REALTIME) != VPX_CODEC_OK) {
        fprintf(stderr, "odeon-load source: vpx encode: %s\n", vpx_codec_error(&l->codec));
        return;
    }
    l->encode_us += (uint64_t)(rtcc_now_us() - t0);
    vpx_codec_iter_t it = NULL;
    const vpx_codec_cx_pkt_t *pkt;
    size_t max_payload = (size_t)opt.mtu - 12 - 4;
    while ((pkt = vpx_codec_get_cx_data(&l->codec, &it)) != NULL) {
        if (pkt->kind != VPX_CODEC_CX_FRAME_PKT)
            continue;
        const uint8_t *data = pkt->data.frame.buf;
        size_t len = pkt->data.frame.sz;
        l->frames++;
        l->keyframes += (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
        l->frame_bytes += len;
        for (size_t off = 0; off < len;) {
            size_t n = len - off < max_payload ? len - off : max_payload;
            uint8_t desc[4];
            size_t dl = vp8_write_desc(desc, off == 0, l->picture_id);
            out_send(&l->out, (uint8_t)opt.video_pt, off + n == len, data + off, n, desc, dl);
            off += n;
        }
        l->picture_id = (uint16_t)((l->picture_id + 1) & 0x7fff);
    }
}

/* One captured frame: draw it, scale it down for the smaller layers, stamp each layer's own
 * barcode (drawn after scaling, so that even the smallest layer has whole cells), encode and
 * send every layer. All layers carry the same RTP timestamp for the frame (their clocks start
 * at the same value) and are keyframes on the same frames. */
static void video_frame(video_src *v)
{
    video_draw(v);
    /* each smaller layer is scaled from the next larger one, before any barcode is drawn */
    for (int i = v->n - 1; i >= 0; i--) {
        video_layer *l = &v->layers[i];
        if (l->shift > 0)
            scale_half(i + 1 < v->n ? v->layers[i + 1].pic : &v->canvas, l->pic);
    }
    uint32_t kint = (uint32_t)(opt.keyint * opt.fps + 0.5);
    bool force_key = (opt.keyint > 0 && v->frame % (kint ? kint : 1) == 0) || g_keyframe_asked;
    g_keyframe_asked = false;
    for (int i = 0; i < v->n; i++) {
        video_layer *l = &v->layers[i];
        barcode_draw(l->pic, (uint16_t)v->frame);
        layer_encode(l, v->frame, force_key);
        l->out.ts += (uint32_t)(90000 / opt.fps);
    }
    /* the frame's last packet is sent: the viewers' --frame-times measure from here */
    if (g_frame_log)
        fprintf(g_frame_log, "%u %lld\n", v->frame, (long long)rtcc_now_us());
    v->frame++;
}

/* ----- audio ---------------------------------------------------------------------------------- */

typedef struct {
    OpusEncoder *enc;
    rtp_out out;
    double phase;
} audio_src;

static int audio_init(audio_src *a)
{
    int err = 0;
    a->enc = opus_encoder_create(48000, 2, OPUS_APPLICATION_AUDIO, &err);
    if (!a->enc || err != OPUS_OK)
        return -1;
    opus_encoder_ctl(a->enc, OPUS_SET_BITRATE(opt.opus_kbps * 1000));
    opus_encoder_ctl(a->enc, OPUS_SET_COMPLEXITY(3));
    return 0;
}

static void audio_frame(audio_src *a)
{
    int16_t pcm[960 * 2];
    double step = 2 * M_PI * opt.tone / 48000.0;
    for (int i = 0; i < 960; i++) {
        int16_t s = (int16_t)(8000 * sin(a->phase));
        pcm[2 * i] = pcm[2 * i + 1] = s;
        a->phase += step;
    }
    a->phase = fmod(a->phase, 2 * M_PI);
    uint8_t out[1275];
    opus_int32 n = opus_encode(a->enc, pcm, 960, out, sizeof out);
    if (n > 0)
        out_send(&a->out, (uint8_t)opt.audio_pt, false, out, (size_t)n, NULL, 0);
    a->out.ts += 960;
}

/* ----- main ----------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: odeon-load source [options]\n"
            "  --video HOST:PORT   where VP8 RTP goes (default 127.0.0.1:5004; none: no video)\n"
            "  --audio HOST:PORT   where Opus RTP goes (default 127.0.0.1:5002; none: no audio)\n"
            "  --width N --height N --fps N    picture (default 640x480 at 30)\n"
            "  --kbps N            VP8 target bitrate (default 1000, CBR)\n"
            "  --simulcast N       1..3 VP8 encodings of the same picture, full size, 1/2 and\n"
            "                      1/4, each its own RTP stream (SSRC, sequence, PictureID) to\n"
            "                      its own port; --video then lists N destinations, SMALLEST\n"
            "                      FIRST as Janus numbers substreams (videoport, videoport2,\n"
            "                      videoport3): HOST:P1,P2,P3 (a bare port reuses the host)\n"
            "  --kbps-half N --kbps-quarter N  bitrates of the 1/2 and 1/4 layers\n"
            "                      (default --kbps/3 and --kbps/8; --kbps is the full size)\n"
            "  --keyint S          seconds between keyframes (default 2; 0: encoder's choice)\n"
            "  --cpu-used N        libvpx speed, -16..16 (default 8)\n"
            "  --video-pt N --audio-pt N       payload types (default 96, 111)\n"
            "  --opus-kbps N       Opus bitrate (default 48)\n"
            "  --tone HZ           sine frequency (default 440)\n"
            "  --mtu N             largest RTP packet (default 1200)\n"
            "  --duration S        stop after S seconds (default 0: until SIGINT/SIGTERM)\n"
            "  --frame-log FILE    write \"<frame number> <monotonic us>\" per frame, once its\n"
            "                      last packet is sent (viewers --source-frame-log reads it)\n"
            "  --whip URL          publish over WebRTC instead of plain RTP: WHIP (RFC 9725) to\n"
            "                      http://IPv4:PORT/whip/<stage> (one VP8 layer and Opus; a\n"
            "                      PLI or FIR brings a keyframe); --video/--audio are ignored\n"
            "  --token T           the WHIP bearer token (the stage's secret)\n"
            "  -v, --verbose       a line per second on stderr\n"
            "The barcode needs the smallest layer at least 128 pixels wide: --width >= 128,\n"
            ">= 256 with --simulcast 2, >= 512 with --simulcast 3.\n");
}

static const rtcc_option specs[] = {
    {"video", 's', &opt.video},
    {"audio", 's', &opt.audio},
    {"width", 'i', &opt.width},
    {"height", 'i', &opt.height},
    {"fps", 'i', &opt.fps},
    {"kbps", 'i', &opt.kbps},
    {"simulcast", 'i', &opt.simulcast},
    {"kbps-half", 'i', &opt.kbps_half},
    {"kbps-quarter", 'i', &opt.kbps_quarter},
    {"keyint", 'd', &opt.keyint},
    {"cpu-used", 'i', &opt.cpu_used},
    {"video-pt", 'i', &opt.video_pt},
    {"audio-pt", 'i', &opt.audio_pt},
    {"opus-kbps", 'i', &opt.opus_kbps},
    {"tone", 'd', &opt.tone},
    {"mtu", 'i', &opt.mtu},
    {"duration", 'd', &opt.duration},
    {"whip", 's', &opt.whip},
    {"token", 's', &opt.token},
    {"frame-log", 's', &opt.frame_log},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static int parse_args(int argc, char **argv)
{
    if (rtcc_parse_options(argc, argv, specs, N_SPECS, &opt.verbose, usage) != 0)
        return -1;
    if (opt.simulcast < 1 || opt.simulcast > MAX_LAYERS) {
        fprintf(stderr, "odeon-load source: --simulcast is 1, 2 or 3\n");
        return -1;
    }
    if (opt.whip && opt.simulcast != 1) {
        fprintf(stderr, "odeon-load source: --whip publishes one layer (no --simulcast)\n");
        return -1;
    }
    if (!opt.kbps_half)
        opt.kbps_half = opt.kbps / 3;
    if (!opt.kbps_quarter)
        opt.kbps_quarter = opt.kbps / 8;
    /* the barcode reader needs 128 pixels of width on the smallest layer (vp8.c) */
    int shift = opt.simulcast - 1;
    if ((opt.width >> shift) < 128 || opt.width > 4096 || (opt.height >> shift) < 32 ||
        (unsigned)(opt.height >> shift) < barcode_cell((unsigned)(opt.width >> shift)) ||
        opt.height > 4096 || opt.fps < 1 || opt.fps > 120 || opt.kbps < 50 ||
        (opt.simulcast > 1 && opt.kbps_half < 10) || (opt.simulcast > 2 && opt.kbps_quarter < 10) ||
        opt.video_pt < 0 || opt.video_pt > 127 || opt.audio_pt < 0 || opt.audio_pt > 127 ||
        opt.mtu < 200 || opt.mtu > 1500 || opt.keyint < 0 || opt.duration < 0 ||
        opt.opus_kbps < 6) {
        fprintf(stderr, "odeon-load source: an option is out of range (the smallest layer "
                        "must be >= 128x32 for the barcode: width >= 128, 256 or 512 for "
                        "--simulcast 1, 2 or 3; mtu 200..1500)\n");
        return -1;
    }
    return 0;
}

/* --video: "none", or --simulcast destinations separated by commas, smallest layer first;
 * an entry without a host ("5006") takes the previous entry's. */
static int video_open(video_src *v)
{
    if (!opt.video || !*opt.video || strcmp(opt.video, "none") == 0)
        return 0;
    v->on = true;
    v->n = opt.simulcast;
    char **parts = g_strsplit(opt.video, ",", -1);
    int rc = g_strv_length(parts) == (guint)v->n ? 0 : -1;
    char host[64] = "";
    for (int i = 0; rc == 0 && i < v->n; i++) {
        video_layer *l = &v->layers[i];
        const char *colon = strrchr(parts[i], ':');
        if (colon && (size_t)(colon - parts[i]) < sizeof host) {
            memcpy(host, parts[i], (size_t)(colon - parts[i]));
            host[colon - parts[i]] = '\0';
            snprintf(l->to, sizeof l->to, "%s", parts[i]);
        } else {
            snprintf(l->to, sizeof l->to, "%s:%s", host, parts[i]);
        }
        l->shift = (unsigned)(v->n - 1 - i);
        l->kbps = l->shift == 0 ? opt.kbps : l->shift == 1 ? opt.kbps_half : opt.kbps_quarter;
        rc = out_open(&l->out, l->to);
        if (rc == 0 && l->out.fd < 0)
            rc = -1;
        l->out.ts = v->layers[0].out.ts; /* one clock for all layers */
    }
    g_strfreev(parts);
    return rc;
}

/* --whip: one VP8 layer and Opus, both on the WebRTC connection. */
static whip_pub *whip_open(video_src *v, audio_src *a)
{
    v->on = true;
    v->n = 1;
    video_layer *l = &v->layers[0];
    snprintf(l->to, sizeof l->to, "%s", "WHIP");
    l->kbps = opt.kbps;
    if (out_open(&l->out, NULL) != 0 || out_open(&a->out, NULL) != 0)
        return NULL;
    for (rtp_out *o = &l->out; o != NULL; o = o == &l->out ? &a->out : NULL) {
        o->ssrc = g_random_int();
        o->seq = (uint16_t)g_random_int();
        o->ts = g_random_int();
    }
    char *error = NULL;
    whip_pub *pub = whip_pub_connect(opt.whip, opt.token, opt.audio_pt, opt.video_pt,
                                     a->out.ssrc, l->out.ssrc, 10, &error);
    if (pub == NULL) {
        fprintf(stderr, "odeon-load source: %s\n", error);
        g_free(error);
        return NULL;
    }
    l->out.pub = a->out.pub = pub;
    fprintf(stderr, "odeon-load source: publishing to %s (%s)\n", opt.whip, whip_pub_profile(pub));
    return pub;
}

static void sleep_until(int64_t t)
{
    int64_t d = t - rtcc_now_us();
    if (d <= 0)
        return;
    struct timespec ts = {.tv_sec = d / 1000000, .tv_nsec = (d % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !atomic_load(&g_quit)) {
    }
}

static uint64_t video_packets(const video_src *v)
{
    uint64_t n = 0;
    for (int i = 0; i < v->n; i++)
        n += v->layers[i].out.packets;
    return n;
}

static void print_summary(const video_src *v, const audio_src *a, double secs)
{
    uint64_t bytes = 0, enc_us = 0, keyframes = 0;
    for (int i = 0; i < v->n; i++) {
        bytes += v->layers[i].out.bytes;
        enc_us += v->layers[i].encode_us;
    }
    if (v->n)
        keyframes = v->layers[v->n - 1].keyframes;
    GString *o = g_string_new(NULL);
    g_string_append_printf(
        o,
        "{\"source\":true,\"seconds\":%.2f,\"frames\":%u,\"keyframes\":%llu,"
        "\"video_packets\":%llu,\"video_kbps\":%.1f,\"encode_ms_per_frame\":%.2f,"
        "\"audio_packets\":%llu,\"audio_kbps\":%.1f,\"simulcast\":%d,\"layers\":[",
        secs, v->frame, (unsigned long long)keyframes, (unsigned long long)video_packets(v),
        secs > 0 ? (double)bytes * 8 / 1000 / secs : 0,
        v->frame ? (double)enc_us / 1000.0 / v->frame : 0, (unsigned long long)a->out.packets,
        secs > 0 ? (double)a->out.bytes * 8 / 1000 / secs : 0, v->n);
    for (int i = 0; i < v->n; i++) {
        const video_layer *l = &v->layers[i];
        g_string_append_printf(
            o,
            "%s{\"layer\":%d,\"to\":\"%s\",\"ssrc\":%u,\"width\":%u,\"height\":%u,"
            "\"target_kbps\":%d,\"frames\":%llu,\"keyframes\":%llu,\"packets\":%llu,"
            "\"kbps\":%.1f,\"pps\":%.1f,\"encode_ms_per_frame\":%.2f}",
            i ? "," : "", i, l->to, l->out.ssrc, l->pic->d_w, l->pic->d_h, l->kbps,
            (unsigned long long)l->frames, (unsigned long long)l->keyframes,
            (unsigned long long)l->out.packets,
            secs > 0 ? (double)l->out.bytes * 8 / 1000 / secs : 0,
            secs > 0 ? (double)l->out.packets / secs : 0,
            l->frames ? (double)l->encode_us / 1000.0 / (double)l->frames : 0);
    }
    g_string_append(o, "]}");
    puts(o->str);
    g_string_free(o, TRUE);
}

int source_main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0)
        return 2;
    video_src v = {0};
    audio_src a = {0};
    whip_pub *pub = NULL;
    if (opt.whip) {
        if ((pub = whip_open(&v, &a)) == NULL)
            return 1;
    } else if (video_open(&v) != 0 || out_open(&a.out, opt.audio) != 0) {
        fprintf(stderr, "odeon-load source: --video/--audio must be IPv4:port or none; --video "
                        "lists one destination per --simulcast layer\n");
        return 2;
    }
    if ((v.on && video_init(&v) != 0) || (out_on(&a.out) && audio_init(&a) != 0)) {
        fprintf(stderr, "odeon-load source: cannot create the encoders\n");
        return 1;
    }
    if (opt.frame_log) {
        if ((g_frame_log = fopen(opt.frame_log, "w")) == NULL) {
            fprintf(stderr, "odeon-load source: cannot write %s\n", opt.frame_log);
            return 2;
        }
        setvbuf(g_frame_log, NULL, _IOLBF, 0); /* read while the source still runs */
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (int i = 0; i < v.n; i++) {
        const video_layer *l = &v.layers[i];
        fprintf(stderr,
                "odeon-load source: VP8 layer %d: %ux%u@%d %d kbit/s keyframe every %.1f s -> %s "
                "(pt %d, ssrc %u)\n",
                i, l->pic->d_w, l->pic->d_h, opt.fps, l->kbps, opt.keyint, l->to, opt.video_pt,
                l->out.ssrc);
    }
    fprintf(stderr, "odeon-load source: Opus %d kbit/s -> %s (pt %d)\n", opt.opus_kbps,
            out_on(&a.out) ? (pub ? "WHIP" : opt.audio) : "-", opt.audio_pt);
    int64_t t0 = rtcc_now_us(), next_v = t0, next_a = t0, next_log = t0 + 1000000;
    int64_t vint = 1000000 / opt.fps, aint = 20000;
    int64_t end = opt.duration > 0 ? t0 + (int64_t)(opt.duration * 1e6) : INT64_MAX;
    while (!atomic_load(&g_quit)) {
        int64_t now = rtcc_now_us();
        if (now >= end)
            break;
        if (v.on && now >= next_v) {
            video_frame(&v);
            next_v += vint;
            if (now - next_v > 200000) /* fell far behind: do not burst */
                next_v = now + vint;
        }
        if (out_on(&a.out) && now >= next_a) {
            audio_frame(&a);
            next_a += aint;
            if (now - next_a > 200000)
                next_a = now + aint;
        }
        if (opt.verbose && now >= next_log) {
            fprintf(stderr, "odeon-load source: %u frames, %llu video pkts, %llu audio pkts\n",
                    v.frame, (unsigned long long)video_packets(&v),
                    (unsigned long long)a.out.packets);
            next_log += 1000000;
        }
        int64_t next = INT64_MAX;
        if (v.on)
            next = next_v;
        if (out_on(&a.out) && next_a < next)
            next = next_a;
        if (pub != NULL) {
            if (whip_pub_service(pub, next < end ? next : end))
                g_keyframe_asked = true;
        } else {
            sleep_until(next < end ? next : end);
        }
    }
    print_summary(&v, &a, (double)(rtcc_now_us() - t0) / 1e6);
    if (pub != NULL)
        fprintf(stderr, "odeon-load source: %llu keyframe requests from the server\n",
                (unsigned long long)whip_pub_keyframe_requests(pub));
    fflush(stdout);
    for (int i = 0; i < v.n; i++) {
        video_layer *l = &v.layers[i];
        vpx_codec_destroy(&l->codec);
        if (l->pic == &l->img)
            vpx_img_free(&l->img);
        if (l->out.fd >= 0)
            close(l->out.fd);
    }
    if (v.on)
        vpx_img_free(&v.canvas);
    if (out_on(&a.out)) {
        opus_encoder_destroy(a.enc);
        if (a.out.fd >= 0)
            close(a.out.fd);
    }
    whip_pub_close(pub);
    if (g_frame_log)
        fclose(g_frame_log);
    return 0;
}
