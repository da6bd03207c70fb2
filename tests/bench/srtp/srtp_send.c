/*
 * srtp_send.c - SRTP protect + UDP send microbenchmark for tests/bench/srtp (see README.md).
 *
 * Models the inner loop of a fan-out forwarder: one incoming video packet (12-byte RTP header,
 * a one-byte-header extension holding abs-send-time, 1,100 bytes of payload) goes out to V
 * viewers, each with its own SRTP session (src/webrtc/srtp.c, libsrtp2 on OpenSSL, random
 * keys). Per viewer and packet the forwarder copies the packet into an output buffer, rewrites
 * SSRC, sequence number and timestamp for that viewer, protects it with the viewer's context
 * and (depending on the mode) sends it:
 *
 *   protect    copy + rewrite + protect, nothing sent
 *   sendto     ... + one sendto() per packet, from the viewer's own UDP socket (as libnice does:
 *              one socket per peer connection)
 *   sendmmsg   ... + one sendmmsg() per --batch packets (default 32) on a single shared UDP
 *              socket, every message carrying its own destination address
 *
 * Every packet goes to 127.0.0.1 (a sink socket). By default nobody reads the sink, whose
 * receive buffer is small: each packet runs the whole send path plus the loopback receive path
 * (IP, UDP lookup) and is dropped when it would be queued (RcvbufErrors). With --drain a reader
 * thread empties the sink with recvmmsg instead; the figure reported is then the sending
 * thread's CPU time only.
 *
 * Viewers are visited in forwarding order: for every source packet, every viewer in turn, so
 * V contexts (and V sockets) compete for the caches as they do in a real fan-out.
 *
 * For each case (profile x viewers x mode) and each of R repetitions the loop runs for
 * --seconds after a warm-up, and the CPU time of the sending thread (CLOCK_THREAD_CPUTIME_ID;
 * with no --drain it is also the process's CPU time, CLOCK_PROCESS_CPUTIME_ID, which is
 * checked) divided by the packets protected gives microseconds per packet. Wall time per
 * packet is reported too: the loop never sleeps, so wall >> CPU means the sender was preempted
 * or that kernel work (softirq) was not charged to it. Repetitions go round all modes before
 * the next repetition, so that noise spreads over them. Output: one line per measurement on
 * stderr and a markdown table on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "webrtc/srtp.h"

#define MAX_BATCH 256
#define BUF_CAP 2048 /* packet + ODEON_SRTP_RTP_TAIL_ROOM, rounded up */
#define MAX_LIST 16

enum mode {
    MODE_PROTECT,
    MODE_SENDTO,
    MODE_SENDMMSG,
    MODE_COUNT
};
static const char *const mode_names[MODE_COUNT] = {"protect", "sendto", "sendmmsg"};

typedef struct {
    odeon_srtp *srtp;
    uint32_t ssrc;
    uint32_t ts_offset;
    uint16_t seq;
    int fd; /* own socket, sendto mode */
} viewer;

/* options */
static int opt_viewers[MAX_LIST] = {1, 100, 1000};
static int n_viewers = 3;
static odeon_srtp_profile opt_profiles[2] = {ODEON_SRTP_AEAD_AES_128_GCM,
                                             ODEON_SRTP_AES128_CM_SHA1_80};
static int n_profiles = 2;
static bool opt_modes[MODE_COUNT] = {true, true, true};
static double opt_seconds = 2.0, opt_warmup = 0.3;
static int opt_reps = 3, opt_batch = 32, opt_payload = 1100, opt_pin = -1;
static bool opt_drain = false;

/* sink */
static int sink_fd = -1;
static struct sockaddr_in sink_addr;
static atomic_bool drain_stop;
static atomic_ulong drained;

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "srtp_send: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *profile_name(odeon_srtp_profile p)
{
    return p == ODEON_SRTP_AEAD_AES_128_GCM ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80";
}

/* ---- the source packet ------------------------------------------------------------------- */

static uint8_t src_pkt[BUF_CAP] __attribute__((aligned(64)));
static size_t src_len;

/* 12-byte header (V=2, X=1, M=0, PT 96), extension 0xBEDE of one word holding abs-send-time
 * (id 3, 3 bytes), then the payload (random, starting with a VP8 payload descriptor). */
static void build_source(void)
{
    uint8_t *p = src_pkt;
    p[0] = 0x90;
    p[1] = 96;
    p[2] = 0x12, p[3] = 0x34;                        /* seq */
    p[4] = 0, p[5] = 0x01, p[6] = 0x00, p[7] = 0x00; /* timestamp */
    p[8] = 0x11, p[9] = 0x22, p[10] = 0x33, p[11] = 0x44;
    p[12] = 0xBE, p[13] = 0xDE, p[14] = 0, p[15] = 1; /* one 32-bit word of extension */
    p[16] = (3 << 4) | 2, p[17] = 0x12, p[18] = 0x34, p[19] = 0x56;
    if (RAND_bytes(p + 20, opt_payload) != 1)
        die("%s", "RAND_bytes failed");
    p[20] = 0x90, p[21] = 0x80; /* VP8 descriptor: X, S; I */
    src_len = 20 + (size_t)opt_payload;
}

/* Copy + per-viewer rewrite + protect, into out. Returns the protected length. */
static inline size_t forward_one(viewer *v, uint32_t src_ts, uint8_t *out)
{
    memcpy(out, src_pkt, src_len);
    uint16_t seq = v->seq++;
    uint32_t ts = src_ts + v->ts_offset;
    out[2] = (uint8_t)(seq >> 8), out[3] = (uint8_t)seq;
    out[4] = (uint8_t)(ts >> 24), out[5] = (uint8_t)(ts >> 16);
    out[6] = (uint8_t)(ts >> 8), out[7] = (uint8_t)ts;
    out[8] = (uint8_t)(v->ssrc >> 24), out[9] = (uint8_t)(v->ssrc >> 16);
    out[10] = (uint8_t)(v->ssrc >> 8), out[11] = (uint8_t)v->ssrc;
    size_t len = src_len;
    int rc = odeon_srtp_protect_rtp(v->srtp, out, &len, BUF_CAP);
    if (rc != 0) {
        fprintf(stderr, "srtp_send: protect failed: %s\n", odeon_srtp_error_name(rc));
        exit(1);
    }
    return len;
}

/* ---- sockets ----------------------------------------------------------------------------- */

static int udp_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("bind: %s (raise ulimit -n?)", strerror(errno));
    return fd;
}

static void *drain_main(void *arg)
{
    (void)arg;
    static uint8_t bufs[64][BUF_CAP];
    struct mmsghdr msgs[64];
    struct iovec iov[64];
    for (int i = 0; i < 64; i++) {
        iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = BUF_CAP};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    struct timespec to = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
    while (!atomic_load(&drain_stop)) {
        int n = recvmmsg(sink_fd, msgs, 64, MSG_WAITFORONE, &to);
        if (n > 0)
            atomic_fetch_add(&drained, (unsigned long)n);
    }
    return NULL;
}

static void open_sink(void)
{
    sink_fd = udp_socket();
    /* nobody reads it: keep the queue small (the kernel doubles the value); with --drain a
     * large one absorbs the reader's scheduling delays */
    int rcvbuf = opt_drain ? 8 << 20 : 4096;
    setsockopt(sink_fd, SOL_SOCKET, opt_drain ? SO_RCVBUFFORCE : SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    socklen_t sl = sizeof sink_addr;
    getsockname(sink_fd, (struct sockaddr *)&sink_addr, &sl);
    if (opt_drain) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
        setsockopt(sink_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
}

/* ---- one case ---------------------------------------------------------------------------- */

typedef struct {
    double cpu_us, wall_us, proc_us; /* per packet */
    unsigned long pkts, send_errors;
} sample;

static unsigned long send_errors;

/* Runs the forwarding loop for `seconds` of wall time. Returns packets protected. */
static unsigned long run_loop(viewer *vs, int nv, int shared_fd, enum mode m, double seconds,
                              uint32_t *src_ts)
{
    static uint8_t bufs[MAX_BATCH][BUF_CAP] __attribute__((aligned(64)));
    static struct mmsghdr msgs[MAX_BATCH];
    static struct iovec iov[MAX_BATCH];
    unsigned long pkts = 0;
    double end = now_s(CLOCK_MONOTONIC) + seconds;
    int vi = 0, nb = 0;
    unsigned src_count = 0;
    for (;;) {
        /* 256 packets between clock reads */
        for (int k = 0; k < 256; k++) {
            viewer *v = &vs[vi];
            if (m == MODE_SENDMMSG) {
                size_t len = forward_one(v, *src_ts, bufs[nb]);
                iov[nb] = (struct iovec){.iov_base = bufs[nb], .iov_len = len};
                msgs[nb].msg_hdr = (struct msghdr){.msg_name = &sink_addr,
                                                   .msg_namelen = sizeof sink_addr,
                                                   .msg_iov = &iov[nb],
                                                   .msg_iovlen = 1};
                if (++nb == opt_batch) {
                    int done = 0;
                    while (done < nb) {
                        int n =
                            sendmmsg(shared_fd, msgs + done, (unsigned)(nb - done), MSG_DONTWAIT);
                        if (n <= 0) {
                            send_errors += (unsigned long)(nb - done);
                            break;
                        }
                        done += n;
                    }
                    nb = 0;
                }
            } else {
                size_t len = forward_one(v, *src_ts, bufs[0]);
                if (m == MODE_SENDTO &&
                    sendto(v->fd, bufs[0], len, MSG_DONTWAIT, (struct sockaddr *)&sink_addr,
                           sizeof sink_addr) != (ssize_t)len)
                    send_errors++;
            }
            pkts++;
            if (++vi == nv) { /* every viewer has this source packet: next one */
                vi = 0;
                if (++src_count % 3 == 0)
                    *src_ts += 3000; /* 3 packets per 30 fps frame */
            }
        }
        if (now_s(CLOCK_MONOTONIC) >= end && nb == 0)
            break;
    }
    return pkts;
}

static sample measure(viewer *vs, int nv, int shared_fd, enum mode m, uint32_t *src_ts)
{
    sample s = {0};
    run_loop(vs, nv, shared_fd, m, opt_warmup, src_ts);
    unsigned long e0 = send_errors;
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    double p0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    s.pkts = run_loop(vs, nv, shared_fd, m, opt_seconds, src_ts);
    double w1 = now_s(CLOCK_MONOTONIC), c1 = now_s(CLOCK_THREAD_CPUTIME_ID);
    double p1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    s.cpu_us = (c1 - c0) * 1e6 / (double)s.pkts;
    s.wall_us = (w1 - w0) * 1e6 / (double)s.pkts;
    s.proc_us = (p1 - p0) * 1e6 / (double)s.pkts;
    s.send_errors = send_errors - e0;
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *a, int n)
{
    qsort(a, (size_t)n, sizeof *a, cmp_double);
    return n % 2 ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
}

/* ---- options ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: srtp_send [options]\n"
        "  --viewers \"1 100 1000\"   viewer counts (one SRTP context per viewer)\n"
        "  --profiles gcm,cm         AEAD_AES_128_GCM (gcm) and/or AES_CM_128_HMAC_SHA1_80 (cm)\n"
        "  --modes protect,sendto,sendmmsg\n"
        "  --seconds S               measured time per case and repetition (default 2)\n"
        "  --warmup S                unmeasured time before each measurement (default 0.3)\n"
        "  --reps R                  repetitions (default 3)\n"
        "  --batch N                 packets per sendmmsg call (default 32, max %d)\n"
        "  --payload B               RTP payload bytes (default 1100)\n"
        "  --drain                   a reader thread empties the sink (default: nobody reads,\n"
        "                            packets are dropped at the sink's full receive queue)\n"
        "  --pin CPU                 pin the sending thread to CPU\n"
        "  --quick                   viewers \"1 100\", 1 rep x 0.5 s\n",
        MAX_BATCH);
}

static void parse_list(const char *s)
{
    n_viewers = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
        int v = atoi(t);
        if (v < 1 || n_viewers == MAX_LIST)
            die("bad --viewers list \"%s\"", s);
        opt_viewers[n_viewers++] = v;
    }
    free(copy);
    if (n_viewers == 0)
        die("empty --viewers list \"%s\"", s);
}

static void parse_args(int argc, char **argv)
{
    static const struct option lo[] = {{"viewers", 1, 0, 'v'},
                                       {"profiles", 1, 0, 'P'},
                                       {"modes", 1, 0, 'm'},
                                       {"seconds", 1, 0, 's'},
                                       {"warmup", 1, 0, 'w'},
                                       {"reps", 1, 0, 'r'},
                                       {"batch", 1, 0, 'b'},
                                       {"payload", 1, 0, 'p'},
                                       {"drain", 0, 0, 'd'},
                                       {"pin", 1, 0, 'c'},
                                       {"quick", 0, 0, 'q'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'v':
            parse_list(optarg);
            break;
        case 'P':
            n_profiles = 0;
            if (strcmp(optarg, "gcm") == 0 || strcmp(optarg, "gcm,cm") == 0 ||
                strcmp(optarg, "cm,gcm") == 0)
                opt_profiles[n_profiles++] = ODEON_SRTP_AEAD_AES_128_GCM;
            if (strcmp(optarg, "cm") == 0 || strcmp(optarg, "gcm,cm") == 0 ||
                strcmp(optarg, "cm,gcm") == 0)
                opt_profiles[n_profiles++] = ODEON_SRTP_AES128_CM_SHA1_80;
            if (n_profiles == 0)
                die("bad --profiles \"%s\" (gcm, cm or gcm,cm)", optarg);
            break;
        case 'm':
            for (int i = 0; i < MODE_COUNT; i++)
                opt_modes[i] = false;
            for (int i = 0; i < MODE_COUNT; i++) {
                const char *hit = strstr(optarg, mode_names[i]);
                opt_modes[i] = hit != NULL;
            }
            if (!opt_modes[0] && !opt_modes[1] && !opt_modes[2])
                die("bad --modes \"%s\"", optarg);
            break;
        case 's':
            opt_seconds = atof(optarg);
            break;
        case 'w':
            opt_warmup = atof(optarg);
            break;
        case 'r':
            opt_reps = atoi(optarg);
            break;
        case 'b':
            opt_batch = atoi(optarg);
            break;
        case 'p':
            opt_payload = atoi(optarg);
            break;
        case 'd':
            opt_drain = true;
            break;
        case 'c':
            opt_pin = atoi(optarg);
            break;
        case 'q':
            parse_list("1 100");
            opt_reps = 1, opt_seconds = 0.5, opt_warmup = 0.2;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        die("unexpected argument %s", argv[optind]);
    if (opt_seconds <= 0 || opt_reps < 1 || opt_batch < 1 || opt_batch > MAX_BATCH ||
        opt_payload < 16 || opt_payload > 1400)
        die("%s", "bad --seconds, --reps, --batch or --payload");
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    parse_args(argc, argv);

    if (opt_pin >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt_pin, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            die("sched_setaffinity: %s", strerror(errno));
    }
    int max_v = 0;
    for (int i = 0; i < n_viewers; i++)
        max_v = opt_viewers[i] > max_v ? opt_viewers[i] : max_v;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max_v + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)max_v + 64 ? rl.rlim_max : (rlim_t)max_v + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (odeon_srtp_global_init() != 0)
        die("%s", "srtp_init failed");

    build_source();
    open_sink();
    pthread_t drain_thr;
    if (opt_drain && pthread_create(&drain_thr, NULL, drain_main, NULL) != 0)
        die("%s", "pthread_create failed");
    int shared_fd = udp_socket();

    int n_modes = 0;
    enum mode modes[MODE_COUNT];
    for (int i = 0; i < MODE_COUNT; i++)
        if (opt_modes[i])
            modes[n_modes++] = (enum mode)i;

    fprintf(stderr,
            "srtp_send: %ld CPUs, packet %zu B (12 header + 8 extension + %d payload), %d rep(s) x "
            "%.1f s per case, sink %s, batch %d, pin %d\n",
            sysconf(_SC_NPROCESSORS_ONLN), src_len, opt_payload, opt_reps, opt_seconds,
            opt_drain ? "drained by a reader thread" : "not read (packets dropped at its queue)",
            opt_batch, opt_pin);

    /* results[profile][viewers][mode][rep] */
    int n_cases = n_profiles * n_viewers * n_modes;
    sample *res = calloc((size_t)n_cases * (size_t)opt_reps, sizeof *res);
    if (!res)
        die("%s", "out of memory");

    for (int pi = 0; pi < n_profiles; pi++) {
        odeon_srtp_profile prof = opt_profiles[pi];
        size_t mlen = odeon_srtp_material_len(prof);
        for (int vi = 0; vi < n_viewers; vi++) {
            int nv = opt_viewers[vi];
            viewer *vs = calloc((size_t)nv, sizeof *vs);
            if (!vs)
                die("%s", "out of memory");
            for (int i = 0; i < nv; i++) {
                uint8_t material[ODEON_SRTP_AES128_CM_MATERIAL_LEN];
                uint8_t rnd[10];
                if (RAND_bytes(material, (int)mlen) != 1 || RAND_bytes(rnd, sizeof rnd) != 1)
                    die("%s", "RAND_bytes failed");
                char *err = NULL;
                vs[i].srtp = odeon_srtp_new(prof, material, mlen, i % 2 == 0, &err);
                if (!vs[i].srtp)
                    die("odeon_srtp_new: %s", err ? err : "?");
                memcpy(&vs[i].ssrc, rnd, 4);
                memcpy(&vs[i].ts_offset, rnd + 4, 4);
                memcpy(&vs[i].seq, rnd + 8, 2);
                vs[i].ssrc = vs[i].ssrc ? vs[i].ssrc : 1;
                vs[i].fd = udp_socket();
            }
            uint32_t src_ts = 90000;
            for (int r = 0; r < opt_reps; r++) {
                for (int mi = 0; mi < n_modes; mi++) {
                    /* rotate the order of the modes between repetitions */
                    enum mode m = modes[(mi + r) % n_modes];
                    int mpos = (mi + r) % n_modes;
                    sample s = measure(vs, nv, shared_fd, m, &src_ts);
                    res[((pi * n_viewers + vi) * n_modes + mpos) * opt_reps + r] = s;
                    fprintf(stderr,
                            "srtp_send: %-24s %5d viewers %-8s rep %d: %7.3f us/pkt CPU, %7.3f "
                            "wall, %7.3f process CPU, %lu pkts, %lu send errors\n",
                            profile_name(prof), nv, mode_names[m], r + 1, s.cpu_us, s.wall_us,
                            s.proc_us, s.pkts, s.send_errors);
                }
            }
            for (int i = 0; i < nv; i++) {
                odeon_srtp_free(vs[i].srtp);
                close(vs[i].fd);
            }
            free(vs);
        }
    }
    if (opt_drain) {
        atomic_store(&drain_stop, true);
        pthread_join(drain_thr, NULL);
    }

    char cpu[128] = "?";
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (ci) {
        char line[256];
        while (fgets(line, sizeof line, ci))
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    c += 1 + (c[1] == ' ');
                    c[strcspn(c, "\n")] = 0;
                    snprintf(cpu, sizeof cpu, "%s", c);
                }
                break;
            }
        fclose(ci);
    }
    printf("%ld CPUs (%s); packet %zu B (12 + 8 extension + %d payload); %d rep(s) x %.1f s per "
           "case; sendto: one socket per viewer; sendmmsg: one shared socket, %d packets per call; "
           "sink on 127.0.0.1 %s.%s\n\n",
           sysconf(_SC_NPROCESSORS_ONLN), cpu, src_len, opt_payload, opt_reps, opt_seconds,
           opt_batch,
           opt_drain ? "drained by a reader thread" : "not read (packets dropped at its queue)",
           opt_drain ? " CPU = sending thread only; process CPU includes the reader." : "");
    printf("| profile | viewers | mode | CPU µs/pkt min / med / max | wall µs/pkt (med) | %s | "
           "pkt/s per core (med CPU) |\n",
           opt_drain ? "process CPU µs/pkt (med)" : "send errors");
    printf("|---|---:|---|---:|---:|---:|---:|\n");
    double cpu_v[opt_reps], wall_v[opt_reps], proc_v[opt_reps];
    for (int pi = 0; pi < n_profiles; pi++)
        for (int vi = 0; vi < n_viewers; vi++)
            for (int mi = 0; mi < n_modes; mi++) {
                unsigned long errs = 0;
                for (int r = 0; r < opt_reps; r++) {
                    sample *s = &res[((pi * n_viewers + vi) * n_modes + mi) * opt_reps + r];
                    cpu_v[r] = s->cpu_us, wall_v[r] = s->wall_us, proc_v[r] = s->proc_us;
                    errs += s->send_errors;
                }
                double med = median(cpu_v, opt_reps);
                char extra[64];
                if (opt_drain)
                    snprintf(extra, sizeof extra, "%.3f", median(proc_v, opt_reps));
                else
                    snprintf(extra, sizeof extra, "%lu", errs);
                printf("| %s | %d | %s | %.3f / %.3f / %.3f | %.3f | %s | %.0f |\n",
                       profile_name(opt_profiles[pi]), opt_viewers[vi], mode_names[modes[mi]],
                       cpu_v[0], med, cpu_v[opt_reps - 1], median(wall_v, opt_reps), extra,
                       1e6 / med);
            }
    free(res);
    close(shared_fd);
    close(sink_fd);
    return 0;
}
