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
    const char *video, *audio;
    int width, height, fps, kbps, video_pt, audio_pt, mtu, opus_kbps, cpu_used, verbose;
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
};

static atomic_bool g_quit;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_quit, true);
}

typedef struct {
    int fd;
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

static void out_send(rtp_out *o, uint8_t pt, bool marker, const uint8_t *payload, size_t len,
                     const uint8_t *prefix, size_t prefix_len)
{
    uint8_t buf[1600];
    rtcc_rtp_header(buf, pt, marker, o->seq++, o->ts, o->ssrc);
    if (prefix_len)
        memcpy(buf + 12, prefix, prefix_len);
    memcpy(buf + 12 + prefix_len, payload, len);
    size_t n = 12 + prefix_len + len;
    if (sendto(o->fd, buf, n, 0, (struct sockaddr *)&o->to, sizeof o->to) == (ssize_t)n) {
        o->packets++;
        o->bytes += n;
    }
}

/* ----- video ---------------------------------------------------------------------------------- */

typedef struct {
    vpx_codec_ctx_t codec;
    vpx_image_t img;
    rtp_out out;
    uint32_t frame;
    uint16_t picture_id;
    uint64_t keyframes, frame_bytes, encode_us;
} video_src;

static int video_init(video_src *v)
{
    vpx_codec_enc_cfg_t cfg;
    if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK)
        return -1;
    cfg.g_w = (unsigned)opt.width;
    cfg.g_h = (unsigned)opt.height;
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = opt.fps;
    cfg.rc_target_bitrate = (unsigned)opt.kbps;
    cfg.rc_end_usage = VPX_CBR;
    cfg.g_pass = VPX_RC_ONE_PASS;
    cfg.g_lag_in_frames = 0;
    cfg.g_threads = 1;
    cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    cfg.kf_mode = VPX_KF_AUTO;
    cfg.kf_max_dist = (unsigned)(opt.keyint * opt.fps);
    cfg.rc_buf_sz = 1000;
    cfg.rc_buf_initial_sz = 500;
    cfg.rc_buf_optimal_sz = 600;
    if (vpx_codec_enc_init(&v->codec, vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK)
        return -1;
    vpx_codec_control(&v->codec, VP8E_SET_CPUUSED, opt.cpu_used);
    if (!vpx_img_alloc(&v->img, VPX_IMG_FMT_I420, (unsigned)opt.width, (unsigned)opt.height, 16))
        return -1;
    v->picture_id = (uint16_t)(g_random_int() & 0x7fff);
    return 0;
}

/* A diagonal gradient scrolling right, a bright square bouncing around, slowly drifting chroma,
 * and the frame-number barcode on top. */
static void video_draw(video_src *v)
{
    vpx_image_t *img = &v->img;
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
    barcode_draw(img, (uint16_t)f);
}

/* Encodes one frame and sends it as RTP: one descriptor per packet, S on the first, the marker
 * on the last. */
static void video_frame(video_src *v)
{
    video_draw(v);
    bool force_key = opt.keyint > 0 && v->frame % (uint32_t)(opt.keyint * opt.fps + 0.5) == 0;
    int64_t t0 = rtcc_now_us();
    if (vpx_codec_encode(&v->codec, &v->img, v->frame, 1, force_key ? VPX_EFLAG_FORCE_KF : 0,
                         VPX_DL_REALTIME) != VPX_CODEC_OK) {
        fprintf(stderr, "odeon-load source: vpx encode: %s\n", vpx_codec_error(&v->codec));
        v->frame++;
        return;
    }
    v->encode_us += (uint64_t)(rtcc_now_us() - t0);
    vpx_codec_iter_t it = NULL;
    const vpx_codec_cx_pkt_t *pkt;
    size_t max_payload = (size_t)opt.mtu - 12 - 4;
    while ((pkt = vpx_codec_get_cx_data(&v->codec, &it)) != NULL) {
        if (pkt->kind != VPX_CODEC_CX_FRAME_PKT)
            continue;
        const uint8_t *data = pkt->data.frame.buf;
        size_t len = pkt->data.frame.sz;
        v->keyframes += (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
        v->frame_bytes += len;
        for (size_t off = 0; off < len;) {
            size_t n = len - off < max_payload ? len - off : max_payload;
            uint8_t desc[4];
            size_t dl = vp8_write_desc(desc, off == 0, v->picture_id);
            out_send(&v->out, (uint8_t)opt.video_pt, off + n == len, data + off, n, desc, dl);
            off += n;
        }
        v->picture_id = (uint16_t)((v->picture_id + 1) & 0x7fff);
    }
    v->out.ts += (uint32_t)(90000 / opt.fps);
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
            "  --keyint S          seconds between keyframes (default 2; 0: encoder's choice)\n"
            "  --cpu-used N        libvpx speed, -16..16 (default 8)\n"
            "  --video-pt N --audio-pt N       payload types (default 96, 111)\n"
            "  --opus-kbps N       Opus bitrate (default 48)\n"
            "  --tone HZ           sine frequency (default 440)\n"
            "  --mtu N             largest RTP packet (default 1200)\n"
            "  --duration S        stop after S seconds (default 0: until SIGINT/SIGTERM)\n"
            "  -v, --verbose       a line per second on stderr\n");
}

static const rtcc_option specs[] = {
    {"video", 's', &opt.video},
    {"audio", 's', &opt.audio},
    {"width", 'i', &opt.width},
    {"height", 'i', &opt.height},
    {"fps", 'i', &opt.fps},
    {"kbps", 'i', &opt.kbps},
    {"keyint", 'd', &opt.keyint},
    {"cpu-used", 'i', &opt.cpu_used},
    {"video-pt", 'i', &opt.video_pt},
    {"audio-pt", 'i', &opt.audio_pt},
    {"opus-kbps", 'i', &opt.opus_kbps},
    {"tone", 'd', &opt.tone},
    {"mtu", 'i', &opt.mtu},
    {"duration", 'd', &opt.duration},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static int parse_args(int argc, char **argv)
{
    if (rtcc_parse_options(argc, argv, specs, N_SPECS, &opt.verbose, usage) != 0)
        return -1;
    if (opt.width < 256 || opt.width > 4096 || opt.height < 64 || opt.height > 4096 ||
        opt.fps < 1 || opt.fps > 120 || opt.kbps < 50 || opt.video_pt < 0 || opt.video_pt > 127 ||
        opt.audio_pt < 0 || opt.audio_pt > 127 || opt.mtu < 200 || opt.mtu > 1500 ||
        opt.keyint < 0 || opt.duration < 0 || opt.opus_kbps < 6) {
        fprintf(stderr, "odeon-load source: an option is out of range (width >= 256 for the "
                        "barcode, mtu 200..1500)\n");
        return -1;
    }
    return 0;
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

int source_main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0)
        return 2;
    video_src v = {0};
    audio_src a = {0};
    if (out_open(&v.out, opt.video) != 0 || out_open(&a.out, opt.audio) != 0) {
        fprintf(stderr, "odeon-load source: --video/--audio must be IPv4:port or none\n");
        return 2;
    }
    if ((v.out.fd >= 0 && video_init(&v) != 0) || (a.out.fd >= 0 && audio_init(&a) != 0)) {
        fprintf(stderr, "odeon-load source: cannot create the encoders\n");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr,
            "odeon-load source: VP8 %dx%d@%d %d kbit/s keyframe every %.1f s -> %s (pt %d), "
            "Opus %d kbit/s -> %s (pt %d)\n",
            opt.width, opt.height, opt.fps, opt.kbps, opt.keyint, v.out.fd >= 0 ? opt.video : "-",
            opt.video_pt, opt.opus_kbps, a.out.fd >= 0 ? opt.audio : "-", opt.audio_pt);
    int64_t t0 = rtcc_now_us(), next_v = t0, next_a = t0, next_log = t0 + 1000000;
    int64_t vint = 1000000 / opt.fps, aint = 20000;
    int64_t end = opt.duration > 0 ? t0 + (int64_t)(opt.duration * 1e6) : INT64_MAX;
    while (!atomic_load(&g_quit)) {
        int64_t now = rtcc_now_us();
        if (now >= end)
            break;
        if (v.out.fd >= 0 && now >= next_v) {
            video_frame(&v);
            next_v += vint;
            if (now - next_v > 200000) /* fell far behind: do not burst */
                next_v = now + vint;
        }
        if (a.out.fd >= 0 && now >= next_a) {
            audio_frame(&a);
            next_a += aint;
            if (now - next_a > 200000)
                next_a = now + aint;
        }
        if (opt.verbose && now >= next_log) {
            fprintf(stderr, "odeon-load source: %u frames, %llu video pkts, %llu audio pkts\n",
                    v.frame, (unsigned long long)v.out.packets, (unsigned long long)a.out.packets);
            next_log += 1000000;
        }
        int64_t next = INT64_MAX;
        if (v.out.fd >= 0)
            next = next_v;
        if (a.out.fd >= 0 && next_a < next)
            next = next_a;
        sleep_until(next < end ? next : end);
    }
    double secs = (double)(rtcc_now_us() - t0) / 1e6;
    printf("{\"source\":true,\"seconds\":%.2f,\"frames\":%u,\"keyframes\":%llu,"
           "\"video_packets\":%llu,\"video_kbps\":%.1f,\"encode_ms_per_frame\":%.2f,"
           "\"audio_packets\":%llu,\"audio_kbps\":%.1f}\n",
           secs, v.frame, (unsigned long long)v.keyframes, (unsigned long long)v.out.packets,
           secs > 0 ? (double)v.out.bytes * 8 / 1000 / secs : 0,
           v.frame ? (double)v.encode_us / 1000.0 / v.frame : 0, (unsigned long long)a.out.packets,
           secs > 0 ? (double)a.out.bytes * 8 / 1000 / secs : 0);
    fflush(stdout);
    if (v.out.fd >= 0) {
        vpx_codec_destroy(&v.codec);
        vpx_img_free(&v.img);
        close(v.out.fd);
    }
    if (a.out.fd >= 0) {
        opus_encoder_destroy(a.enc);
        close(a.out.fd);
    }
    return 0;
}
