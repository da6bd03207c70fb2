/*
 * loadgen: Janus-API load generator for the Odeon API benchmark.
 *
 * Every virtual client owns one connection (HTTP/1.1 keep-alive or WebSocket with the
 * "janus-protocol" subprotocol) and loops:  create -> attach -> message -> destroy,
 * waiting for the reply to each request before it sends the next. Latencies go to
 * preallocated log-linear histograms, so the request path does not call malloc.
 *
 * Only libc (plus pthreads, which glibc includes) is used. Build:
 *   cc -O2 -Wall -Wextra -Werror -std=gnu11 -o loadgen loadgen.c
 *
 * Usage: loadgen --help
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------ */
/* Configuration                                                                         */
/* ------------------------------------------------------------------------------------ */

enum proto {
    PROTO_HTTP,
    PROTO_WS
};
enum outfmt {
    FMT_JSON,
    FMT_TABLE
};

static struct {
    enum proto proto;
    char host[64];
    struct sockaddr_in addr;
    int port;
    char path[256];
    char plugin[128];
    char message[2048];
    char label[64];
    int concurrency;
    double duration; /* seconds of measurement (duration mode) */
    double warmup;   /* seconds before the window opens (duration mode) */
    long iterations; /* total iterations (iteration mode); 0 = duration mode */
    int threads;
    double timeout; /* per-step timeout, seconds */
    double connect_timeout;
    enum outfmt fmt;
    bool header;
    bool verbose;
    int ncpu;
    int cpu_pid[4];
    char cpu_label[4][32];
} cfg = {
    .proto = PROTO_WS,
    .host = "127.0.0.1",
    .port = 8088,
    .path = "/janus",
    .plugin = "janus.plugin.echotest",
    .message = "{\"audio\":true}",
    .label = "server",
    .concurrency = 100,
    .duration = 10,
    .warmup = 1,
    .iterations = 0,
    .threads = 1,
    .timeout = 10,
    .connect_timeout = 20,
    .fmt = FMT_JSON,
};

#define MAX_CONCURRENCY 100000
#define MAX_THREADS 64
#define MAX_CONNECTING 64 /* connects + handshakes in flight per worker */
#define IN_INITIAL (16 * 1024)
#define IN_MAX (8 * 1024 * 1024) /* largest reply/frame accepted */
#define OUT_CAP (8 * 1024)       /* one request at a time, bounded by --message */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

__attribute__((format(printf, 1, 2))) static void vlog(const char *fmt, ...)
{
    if (!cfg.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------------------------------ */
/* Histogram: microseconds, exact below 128 us, then 64 linear sub-buckets per power of   */
/* two (<1.6% relative error) up to 2^25 us (~33 s); larger values clamp to the top.     */
/* ------------------------------------------------------------------------------------ */

#define H_LIN 128
#define H_SUB 64
#define H_MAXMSB 24
#define H_BUCKETS (H_LIN + (H_MAXMSB - 6) * H_SUB)

struct hist {
    uint64_t n, sum_us, max_us;
    uint64_t b[H_BUCKETS];
};

static int h_index(uint64_t us)
{
    if (us < H_LIN)
        return (int)us;
    int msb = 63 - __builtin_clzll(us);
    if (msb > H_MAXMSB)
        return H_BUCKETS - 1;
    int shift = msb - 6;
    return H_LIN + (msb - 7) * H_SUB + (int)((us >> shift) - H_SUB);
}

/* midpoint of bucket i, in microseconds */
static double h_value(int i)
{
    if (i < H_LIN)
        return i;
    int g = (i - H_LIN) / H_SUB, s = (i - H_LIN) % H_SUB;
    int shift = g + 1;
    double lo = (double)((uint64_t)(H_SUB + s) << shift);
    double hi = (double)((uint64_t)(H_SUB + s + 1) << shift);
    return (lo + hi) / 2;
}

static void h_add(struct hist *h, uint64_t ns)
{
    uint64_t us = (ns + 500) / 1000;
    h->b[h_index(us)]++;
    h->n++;
    h->sum_us += us;
    if (us > h->max_us)
        h->max_us = us;
}

static void h_merge(struct hist *d, const struct hist *s)
{
    d->n += s->n;
    d->sum_us += s->sum_us;
    if (s->max_us > d->max_us)
        d->max_us = s->max_us;
    for (int i = 0; i < H_BUCKETS; i++)
        d->b[i] += s->b[i];
}

/* percentile in milliseconds */
static double h_pct_ms(const struct hist *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t c = 0;
    for (int i = 0; i < H_BUCKETS; i++) {
        c += h->b[i];
        if (c >= rank) {
            double v = h_value(i);
            if (v > (double)h->max_us)
                v = (double)h->max_us;
            return v / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

/* ------------------------------------------------------------------------------------ */
/* SHA-1 (FIPS 180-4) and base64, only for the WebSocket handshake check                  */
/* ------------------------------------------------------------------------------------ */

static uint32_t rol32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t st[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
}

static void sha1(const void *data, size_t len, uint8_t out[20])
{
    uint32_t st[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    const uint8_t *p = data;
    size_t left = len;
    while (left >= 64) {
        sha1_block(st, p);
        p += 64;
        left -= 64;
    }
    uint8_t tail[128];
    memset(tail, 0, sizeof tail);
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tl = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_block(st, tail);
    if (tl == 128)
        sha1_block(st, tail + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
}

static size_t b64enc(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

/* ------------------------------------------------------------------------------------ */
/* Minimal JSON scanning: find a key at the top level of an object, skip values.         */
/* ------------------------------------------------------------------------------------ */

static const char *j_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* returns pointer past the value starting at p, or NULL if malformed/truncated */
static const char *j_skip(const char *p, const char *e)
{
    if (p >= e)
        return NULL;
    if (*p == '"') {
        for (p++; p < e; p++) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < e; p++) {
            if (*p == '"') {
                p = j_skip(p, e);
                if (!p)
                    return NULL;
                p--;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
        }
        return NULL;
    }
    const char *s = p;
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\r' &&
           *p != '\n')
        p++;
    return p > s ? p : NULL;
}

/* value of top-level key in object [p,e); NULL when absent. *ve gets the end. */
static const char *j_get(const char *p, const char *e, const char *key, const char **ve)
{
    size_t kl = strlen(key);
    p = j_ws(p, e);
    if (p >= e || *p != '{')
        return NULL;
    p++;
    for (;;) {
        p = j_ws(p, e);
        if (p >= e || *p == '}')
            return NULL;
        if (*p != '"')
            return NULL;
        const char *ks = p + 1;
        const char *kend = j_skip(p, e);
        if (!kend)
            return NULL;
        size_t klen = (size_t)(kend - 1 - ks);
        p = j_ws(kend, e);
        if (p >= e || *p != ':')
            return NULL;
        p = j_ws(p + 1, e);
        const char *vs = p;
        const char *vend = j_skip(p, e);
        if (!vend)
            return NULL;
        if (klen == kl && memcmp(ks, key, kl) == 0) {
            if (ve)
                *ve = vend;
            return vs;
        }
        p = j_ws(vend, e);
        if (p < e && *p == ',')
            p++;
    }
}

/* string value (without quotes, no unescaping); returns length or -1 */
static int j_str(const char *v, const char *ve, const char **s)
{
    if (!v || v >= ve || *v != '"' || ve - v < 2)
        return -1;
    *s = v + 1;
    return (int)(ve - v - 2);
}

static bool j_streq(const char *v, const char *ve, const char *lit)
{
    const char *s;
    int n = j_str(v, ve, &s);
    return n >= 0 && (size_t)n == strlen(lit) && memcmp(s, lit, (size_t)n) == 0;
}

static uint64_t j_u64(const char *v, const char *ve)
{
    uint64_t x = 0;
    if (!v)
        return 0;
    for (; v < ve && *v >= '0' && *v <= '9'; v++)
        x = x * 10 + (uint64_t)(*v - '0');
    return x;
}

/* ------------------------------------------------------------------------------------ */
/* Clients and workers                                                                   */
/* ------------------------------------------------------------------------------------ */

enum cstate {
    CS_DOWN,
    CS_CONNECTING,
    CS_HANDSHAKE,
    CS_READY
};
enum step {
    ST_NONE,
    ST_CREATE,
    ST_ATTACH,
    ST_MESSAGE,
    ST_DESTROY,
    ST_COUNT
};
static const char *step_name[ST_COUNT] = {"none", "create", "attach", "message", "destroy"};

struct stats {
    struct hist req;            /* every API request: send -> final reply */
    struct hist step[ST_COUNT]; /* per request type */
    struct hist iter;           /* create sent -> destroy answered */
    uint64_t iterations, requests;
    uint64_t iterations_all; /* whole run, window or not */
    uint64_t err_api;        /* "error" replies, plugin errors, unexpected replies */
    uint64_t err_http;       /* non-200 status, bad framing */
    uint64_t err_conn;       /* connect/reset/EOF/close frame/protocol errors */
    uint64_t timeouts;
    uint64_t unfinished; /* iterations still running at the hard stop */
    uint64_t reconnects;
    uint64_t msg_sync;         /* message answered by "success" */
    uint64_t msg_async;        /* message answered by "ack" + "event" */
    uint64_t event_before_ack; /* WS: the event overtook the ack */
    uint64_t polls;            /* HTTP long-poll GETs sent */
    uint64_t poll_other;       /* long-poll replies that were not our event */
    uint64_t stray;            /* WS messages for no pending request (e.g. late acks) */
    uint64_t ws_pings, ws_frag;
    uint64_t first_errors_logged;
};

struct worker;

struct client {
    struct worker *w;
    int id;
    int fd;
    enum cstate cs;
    enum step step;
    bool polling;  /* HTTP: waiting for the long-poll GET reply */
    bool acked;    /* message step got its ack */
    bool evented;  /* WS: event arrived before ack */
    bool want_out; /* EPOLLOUT registered */
    bool eof_body; /* HTTP: response delimited by EOF */
    bool retry;    /* reconnect scheduled */
    unsigned gen;  /* bumped on every reset */
    uint64_t retry_at;
    uint64_t conn_start;
    uint64_t session_id, handle_id;
    uint32_t seq;
    char txn[40];
    int txn_len;
    uint64_t t_req, t_iter, t_poll;
    char wsaccept[32];
    char *in;
    size_t in_len, in_cap;
    char out[OUT_CAP];
    size_t out_len, out_off;
    char *frag;
    size_t frag_len, frag_cap;
    bool frag_active;
};

struct worker {
    int idx;
    int epfd;
    pthread_t th;
    struct client *cl;
    int ncl;
    int connecting; /* connects + handshakes in flight */
    int next_conn;  /* next client to connect in the setup phase */
    int nready;
    bool reported_ready;
    bool started;
    int active; /* clients with an iteration in progress */
    uint64_t rng;
    uint64_t t_last; /* last completed iteration */
    struct stats st;
};

static struct worker *workers;
static atomic_int g_ready;        /* workers whose clients are all connected */
static atomic_int g_go;           /* 1: start iterating, 2: abort */
static atomic_long g_iter_budget; /* iteration mode: iterations left to start */
static uint64_t g_t_go, g_win_start, g_win_end, g_hard_end;
static volatile sig_atomic_t g_sigint;

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static bool in_window(uint64_t t)
{
    return t >= g_win_start && t <= g_win_end;
}

static void client_fail(struct client *c, uint64_t *counter, const char *why, ...);
static void start_iteration(struct client *c, uint64_t now);

static void set_out_interest(struct client *c, bool want)
{
    if (c->want_out == want || c->fd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

/* write as much of out[] as possible; 0 ok, -1 connection error */
static int flush_out(struct client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out_interest(c, true);
            return 0;
        }
        return -1;
    }
    c->out_off = c->out_len = 0;
    set_out_interest(c, false);
    return 0;
}

/* append bytes to the output buffer (a request is only built when the previous one is out) */
static bool out_room(struct client *c, size_t need)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_off > 0 && c->out_len + need > OUT_CAP) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    return c->out_len + need <= OUT_CAP;
}

/* WebSocket frame from the client: always masked */
static bool ws_queue_frame(struct client *c, int opcode, const char *payload, size_t len)
{
    size_t hdr = 2 + (len >= 126 ? (len > 0xffff ? 8 : 2) : 0) + 4;
    if (!out_room(c, hdr + len))
        return false;
    uint8_t *o = (uint8_t *)c->out + c->out_len;
    o[0] = (uint8_t)(0x80 | opcode);
    size_t i = 2;
    if (len < 126) {
        o[1] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        o[1] = 0x80 | 126;
        o[2] = (uint8_t)(len >> 8);
        o[3] = (uint8_t)len;
        i = 4;
    } else {
        o[1] = 0x80 | 127;
        for (int k = 0; k < 8; k++)
            o[2 + k] = (uint8_t)((uint64_t)len >> (56 - 8 * k));
        i = 10;
    }
    uint32_t m = (uint32_t)rnd(&c->w->rng);
    uint8_t mk[4] = {(uint8_t)(m >> 24), (uint8_t)(m >> 16), (uint8_t)(m >> 8), (uint8_t)m};
    memcpy(o + i, mk, 4);
    i += 4;
    for (size_t k = 0; k < len; k++)
        o[i + k] = (uint8_t)payload[k] ^ mk[k & 3];
    c->out_len += i + len;
    return true;
}

/* Build and send one Janus API request for c->step. */
static void send_request(struct client *c, uint64_t now)
{
    char body[OUT_CAP];
    int bl = 0;
    c->seq++;
    c->txn_len = snprintf(c->txn, sizeof c->txn, "t%d.%d.%" PRIu32, c->w->idx, c->id, c->seq);
    bool ws = cfg.proto == PROTO_WS;
    switch (c->step) {
    case ST_CREATE:
        bl = snprintf(body, sizeof body, "{\"janus\":\"create\",\"transaction\":\"%s\"}", c->txn);
        break;
    case ST_ATTACH:
        if (ws)
            bl = snprintf(body, sizeof body,
                          "{\"janus\":\"attach\",\"session_id\":%" PRIu64
                          ",\"plugin\":\"%s\",\"transaction\":\"%s\"}",
                          c->session_id, cfg.plugin, c->txn);
        else
            bl = snprintf(body, sizeof body,
                          "{\"janus\":\"attach\",\"plugin\":\"%s\",\"transaction\":\"%s\"}",
                          cfg.plugin, c->txn);
        break;
    case ST_MESSAGE:
        if (ws)
            bl = snprintf(body, sizeof body,
                          "{\"janus\":\"message\",\"session_id\":%" PRIu64 ",\"handle_id\":%" PRIu64
                          ",\"body\":%s,\"transaction\":\"%s\"}",
                          c->session_id, c->handle_id, cfg.message, c->txn);
        else
            bl = snprintf(body, sizeof body,
                          "{\"janus\":\"message\",\"body\":%s,\"transaction\":\"%s\"}", cfg.message,
                          c->txn);
        break;
    case ST_DESTROY:
        if (ws)
            bl = snprintf(body, sizeof body,
                          "{\"janus\":\"destroy\",\"session_id\":%" PRIu64
                          ",\"transaction\":\"%s\"}",
                          c->session_id, c->txn);
        else
            bl = snprintf(body, sizeof body, "{\"janus\":\"destroy\",\"transaction\":\"%s\"}",
                          c->txn);
        break;
    default:
        return;
    }
    if (bl <= 0 || (size_t)bl >= sizeof body) {
        client_fail(c, &c->w->st.err_api, "request too large");
        return;
    }
    c->acked = c->evented = c->polling = false;
    bool ok;
    if (ws) {
        ok = ws_queue_frame(c, 1, body, (size_t)bl);
    } else {
        char path[320];
        if (c->step == ST_CREATE)
            snprintf(path, sizeof path, "%s", cfg.path);
        else if (c->step == ST_MESSAGE)
            snprintf(path, sizeof path, "%s/%" PRIu64 "/%" PRIu64, cfg.path, c->session_id,
                     c->handle_id);
        else
            snprintf(path, sizeof path, "%s/%" PRIu64, cfg.path, c->session_id);
        char hdr[512];
        int hl = snprintf(hdr, sizeof hdr,
                          "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n",
                          path, cfg.host, cfg.port, bl);
        ok = out_room(c, (size_t)hl + (size_t)bl);
        if (ok) {
            memcpy(c->out + c->out_len, hdr, (size_t)hl);
            memcpy(c->out + c->out_len + hl, body, (size_t)bl);
            c->out_len += (size_t)hl + (size_t)bl;
        }
    }
    if (!ok) {
        client_fail(c, &c->w->st.err_api, "output buffer full");
        return;
    }
    c->t_req = now;
    if (flush_out(c) < 0)
        client_fail(c, &c->w->st.err_conn, "send: %s", strerror(errno));
}

static void send_poll(struct client *c)
{
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s/%" PRIu64 "?maxev=1 HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                     cfg.path, c->session_id, cfg.host, cfg.port);
    if (!out_room(c, (size_t)n)) {
        client_fail(c, &c->w->st.err_api, "output buffer full");
        return;
    }
    memcpy(c->out + c->out_len, req, (size_t)n);
    c->out_len += (size_t)n;
    c->polling = true;
    c->w->st.polls++;
    if (flush_out(c) < 0)
        client_fail(c, &c->w->st.err_conn, "send: %s", strerror(errno));
}

static bool may_start_iteration(uint64_t now)
{
    if (atomic_load(&g_go) != 1)
        return false;
    if (cfg.iterations > 0)
        return atomic_fetch_sub(&g_iter_budget, 1) > 0;
    return now < g_win_end && !g_sigint;
}

static void start_iteration(struct client *c, uint64_t now)
{
    if (c->cs != CS_READY || c->step != ST_NONE)
        return;
    if (!may_start_iteration(now))
        return;
    c->w->active++;
    c->session_id = c->handle_id = 0;
    c->step = ST_CREATE;
    c->t_iter = now;
    send_request(c, now);
}

/* the current request got its final reply */
static void step_done(struct client *c, uint64_t now)
{
    struct stats *st = &c->w->st;
    if (in_window(now)) {
        uint64_t lat = now - c->t_req;
        h_add(&st->req, lat);
        h_add(&st->step[c->step], lat);
        st->requests++;
    }
    if (c->step != ST_DESTROY) {
        c->step++;
        send_request(c, now);
        return;
    }
    st->iterations_all++;
    if (in_window(now)) {
        h_add(&st->iter, now - c->t_iter);
        st->iterations++;
        c->w->t_last = now;
    }
    c->step = ST_NONE;
    c->w->active--;
    start_iteration(c, now);
}

/* ------------------------------------------------------------------------------------ */
/* Connection management                                                                 */
/* ------------------------------------------------------------------------------------ */

static void conn_close(struct client *c)
{
    if (c->fd >= 0) {
        epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    if (c->cs == CS_CONNECTING || c->cs == CS_HANDSHAKE)
        c->w->connecting--;
    if (c->cs == CS_READY)
        c->w->nready--;
    c->fd = -1;
    c->cs = CS_DOWN;
    c->in_len = 0;
    c->out_len = c->out_off = 0;
    c->frag_len = 0;
    c->frag_active = false;
    c->want_out = false;
    c->polling = false;
    c->eof_body = false;
    c->gen++;
}

/* count an error, drop the connection and reconnect after a short pause */
__attribute__((format(printf, 3, 4))) static void client_fail(struct client *c, uint64_t *counter,
                                                             const char *why, ...)
{
    struct stats *st = &c->w->st;
    (*counter)++;
    if (cfg.verbose || st->first_errors_logged < 5) {
        char msg[512];
        va_list ap;
        va_start(ap, why);
        vsnprintf(msg, sizeof msg, why, ap);
        va_end(ap);
        fprintf(stderr, "loadgen: client %d.%d (%s): %s\n", c->w->idx, c->id, step_name[c->step],
                msg);
        st->first_errors_logged++;
    }
    if (c->step != ST_NONE) {
        c->step = ST_NONE;
        c->w->active--;
    }
    conn_close(c);
    c->retry = true;
    c->retry_at = now_ns() + 50 * 1000000ull;
}

static void conn_start(struct client *c, uint64_t now)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (raise ulimit -n?)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->cs = CS_CONNECTING;
    c->w->connecting++;
    c->conn_start = now;
    c->retry = false;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->want_out = true;
    if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    int r = connect(fd, (struct sockaddr *)&cfg.addr, sizeof cfg.addr);
    if (r < 0 && errno != EINPROGRESS)
        client_fail(c, &c->w->st.err_conn, "connect: %s", strerror(errno));
}

static void conn_ready(struct client *c, uint64_t now)
{
    c->w->connecting--;
    c->cs = CS_READY;
    c->w->nready++;
    start_iteration(c, now);
}

static void ws_send_handshake(struct client *c)
{
    uint8_t key[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rnd(&c->w->rng);
        memcpy(key + i, &r, 8);
    }
    char k64[32];
    b64enc(key, 16, k64);
    char cat[96];
    int cl = snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", k64);
    uint8_t dig[20];
    sha1(cat, (size_t)cl, dig);
    b64enc(dig, 20, c->wsaccept);
    char req[768];
    int n =
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Protocol: janus-protocol\r\n\r\n",
                 cfg.path, cfg.host, cfg.port, k64);
    out_room(c, (size_t)n);
    memcpy(c->out + c->out_len, req, (size_t)n);
    c->out_len += (size_t)n;
    c->cs = CS_HANDSHAKE;
    if (flush_out(c) < 0)
        client_fail(c, &c->w->st.err_conn, "send handshake: %s", strerror(errno));
}

/* ------------------------------------------------------------------------------------ */
/* Reply handling                                                                        */
/* ------------------------------------------------------------------------------------ */

/* message step: does plugindata.data carry an error? */
static bool plugin_error(const char *p, const char *e)
{
    const char *pe, *pd = j_get(p, e, "plugindata", &pe);
    if (!pd)
        return false;
    const char *de, *d = j_get(pd, pe, "data", &de);
    if (!d)
        return false;
    return j_get(d, de, "error", NULL) != NULL || j_get(d, de, "error_code", NULL) != NULL;
}

#define SNIP(n) ((int)((n) > 300 ? 300 : (n)))

static void log_body(const char *what, const char *p, size_t n)
{
    if (cfg.verbose)
        fprintf(stderr, "loadgen: %s: %.*s\n", what, (int)(n > 400 ? 400 : n), p);
}

/* one Janus API JSON reply for client c. from_poll: it came from a long-poll GET. */
static void on_reply(struct client *c, const char *p, size_t n, bool from_poll, uint64_t now)
{
    struct stats *st = &c->w->st;
    const char *e = p + n;
    const char *je, *jv = j_get(p, e, "janus", &je);
    const char *te, *tv = j_get(p, e, "transaction", &te);
    const char *ts = NULL;
    int tl = j_str(tv, te, &ts);
    bool mine = c->step != ST_NONE && tl == c->txn_len && memcmp(ts, c->txn, (size_t)tl) == 0;

    if (from_poll) {
        c->polling = false;
        if (mine && j_streq(jv, je, "event")) {
            if (plugin_error(p, e)) {
                client_fail(c, &st->err_api, "plugin error in event: %.*s", SNIP(n), p);
                return;
            }
            st->msg_async++;
            step_done(c, now);
            return;
        }
        if (mine && j_streq(jv, je, "error")) {
            client_fail(c, &st->err_api, "error reply to long-poll: %.*s", SNIP(n), p);
            return;
        }
        /* keepalive, or an event for something else: poll again */
        st->poll_other++;
        send_poll(c);
        return;
    }

    if (!jv) {
        log_body("no janus field", p, n);
        if (cfg.proto == PROTO_WS) {
            st->stray++;
            return;
        }
        client_fail(c, &st->err_api, "reply without \"janus\": %.*s", SNIP(n), p);
        return;
    }
    if (!mine) {
        if (cfg.proto == PROTO_WS) {
            st->stray++; /* late ack, detached, timeout, ... */
            return;
        }
        client_fail(c, &st->err_api, "reply for another transaction: %.*s", SNIP(n), p);
        return;
    }
    if (j_streq(jv, je, "error")) {
        client_fail(c, &st->err_api, "error reply: %.*s", SNIP(n), p);
        return;
    }
    switch (c->step) {
    case ST_CREATE:
    case ST_ATTACH: {
        if (!j_streq(jv, je, "success"))
            goto unexpected;
        const char *de, *d = j_get(p, e, "data", &de);
        const char *ie, *iv = d ? j_get(d, de, "id", &ie) : NULL;
        uint64_t id = iv ? j_u64(iv, ie) : 0;
        if (!id)
            goto unexpected;
        if (c->step == ST_CREATE)
            c->session_id = id;
        else
            c->handle_id = id;
        step_done(c, now);
        return;
    }
    case ST_MESSAGE:
        if (j_streq(jv, je, "success")) {
            if (plugin_error(p, e))
                goto plugin_err;
            st->msg_sync++;
            step_done(c, now);
            return;
        }
        if (j_streq(jv, je, "ack")) {
            if (c->acked)
                goto unexpected;
            c->acked = true;
            if (cfg.proto == PROTO_HTTP) {
                c->t_poll = now;
                send_poll(c);
            } else if (c->evented) {
                st->event_before_ack++;
                st->msg_async++;
                step_done(c, now);
            }
            return;
        }
        if (j_streq(jv, je, "event") && cfg.proto == PROTO_WS) {
            if (plugin_error(p, e))
                goto plugin_err;
            if (!c->acked) {
                /* The event overtook the ack. Wait for the ack so the step ends
                 * with every reply read. */
                c->evented = true;
                return;
            }
            st->msg_async++;
            step_done(c, now);
            return;
        }
        goto unexpected;
    case ST_DESTROY:
        if (!j_streq(jv, je, "success"))
            goto unexpected;
        step_done(c, now);
        return;
    default:
        goto unexpected;
    }
plugin_err:
    client_fail(c, &st->err_api, "plugin error: %.*s", SNIP(n), p);
    return;
unexpected:
    client_fail(c, &st->err_api, "unexpected reply: %.*s", SNIP(n), p);
}

/* case-insensitive header lookup in [h, he): returns value start, sets *vl */
static const char *hdr_find(const char *h, const char *he, const char *name, size_t *vl)
{
    size_t nl = strlen(name);
    const char *p = h;
    while (p < he) {
        const char *eol = memmem(p, (size_t)(he - p), "\r\n", 2);
        if (!eol)
            eol = he;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vl = (size_t)(ve - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

static bool hval_has(const char *v, size_t vl, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; v && i + tl <= vl; i++)
        if (strncasecmp(v + i, tok, tl) == 0)
            return true;
    return false;
}

/*
 * Try to parse one HTTP response at the start of buf[0,len).
 * Returns 0 when more data is needed, -1 on a malformed response, else the number of raw
 * bytes it occupies. The body is decoded in place (chunked) and returned via body/blen.
 */
static ssize_t http_parse(char *buf, size_t len, bool eof, int *status, char **body, size_t *blen,
                          bool *conn_close)
{
    char *he = memmem(buf, len, "\r\n\r\n", 4);
    if (!he)
        return len > 65536 ? -1 : 0;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(buf + 9);
    char *h = memchr(buf, '\n', (size_t)(he - buf));
    h = h ? h + 1 : he;
    char *bstart = he + 4;
    size_t hdrlen = (size_t)(bstart - buf);
    size_t vl;
    const char *v = hdr_find(h, he + 2, "Connection", &vl);
    *conn_close = v && hval_has(v, vl, "close");
    v = hdr_find(h, he + 2, "Transfer-Encoding", &vl);
    if (v && hval_has(v, vl, "chunked")) {
        /* pass 1: completeness */
        char *p = bstart, *end = buf + len;
        for (;;) {
            char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
            if (!eol)
                return 0;
            char *xe;
            unsigned long sz = strtoul(p, &xe, 16);
            if (xe == p)
                return -1;
            p = eol + 2;
            if (sz == 0) {
                /* trailers until an empty line */
                for (;;) {
                    char *t = memmem(p, (size_t)(end - p), "\r\n", 2);
                    if (!t)
                        return 0;
                    bool empty = t == p;
                    p = t + 2;
                    if (empty)
                        break;
                }
                break;
            }
            if ((size_t)(end - p) < sz + 2)
                return 0;
            p += sz + 2;
        }
        size_t consumed = (size_t)(p - buf);
        /* pass 2: decode in place */
        char *r = bstart, *w = bstart;
        for (;;) {
            char *eol = memmem(r, (size_t)(end - r), "\r\n", 2);
            unsigned long sz = strtoul(r, NULL, 16);
            r = eol + 2;
            if (sz == 0)
                break;
            memmove(w, r, sz);
            w += sz;
            r += sz + 2;
        }
        *body = bstart;
        *blen = (size_t)(w - bstart);
        return (ssize_t)consumed;
    }
    v = hdr_find(h, he + 2, "Content-Length", &vl);
    if (v) {
        size_t cl = (size_t)strtoull(v, NULL, 10);
        if (cl > IN_MAX)
            return -1;
        if (len < hdrlen + cl)
            return 0;
        *body = bstart;
        *blen = cl;
        return (ssize_t)(hdrlen + cl);
    }
    if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200)) {
        *body = bstart;
        *blen = 0;
        return (ssize_t)hdrlen;
    }
    /* delimited by connection close */
    if (!eof)
        return 0;
    *conn_close = true;
    *body = bstart;
    *blen = len - hdrlen;
    return (ssize_t)len;
}

static void consume_in(struct client *c, size_t n)
{
    if (n >= c->in_len) {
        c->in_len = 0;
        return;
    }
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static void process_http(struct client *c, bool eof, uint64_t now)
{
    struct stats *st = &c->w->st;
    unsigned gen = c->gen;
    while (c->in_len > 0 && c->gen == gen) {
        int status = 0;
        char *body = NULL;
        size_t blen = 0;
        bool cclose = false;
        ssize_t r = http_parse(c->in, c->in_len, eof, &status, &body, &blen, &cclose);
        if (r == 0) {
            if (eof)
                client_fail(c, &st->err_conn, "EOF inside a response");
            return;
        }
        if (r < 0) {
            client_fail(c, &st->err_http, "malformed HTTP response");
            return;
        }
        if (c->step == ST_NONE) {
            client_fail(c, &st->err_http, "unsolicited HTTP response");
            return;
        }
        if (status != 200) {
            log_body("HTTP body", body, blen);
            client_fail(c, &st->err_http, "HTTP status %d", status);
            return;
        }
        if (cclose) {
            /* server closes after this response: handle it, then reconnect transparently */
            client_fail(c, &st->err_conn, "server closed the keep-alive connection");
            return;
        }
        bool poll = c->polling;
        /* body lives inside c->in; handle it before consuming */
        on_reply(c, body, blen, poll, now);
        if (c->gen != gen)
            return;
        consume_in(c, (size_t)r);
    }
    if (eof && c->gen == gen)
        client_fail(c, &st->err_conn, "server closed the connection");
}

static bool frag_append(struct client *c, const char *p, size_t n)
{
    if (c->frag_len + n > IN_MAX)
        return false;
    if (c->frag_len + n > c->frag_cap) {
        size_t nc = c->frag_cap ? c->frag_cap : 4096;
        while (nc < c->frag_len + n)
            nc *= 2;
        char *nb = realloc(c->frag, nc);
        if (!nb)
            return false;
        c->frag = nb;
        c->frag_cap = nc;
    }
    memcpy(c->frag + c->frag_len, p, n);
    c->frag_len += n;
    return true;
}

static void process_ws(struct client *c, uint64_t now)
{
    struct stats *st = &c->w->st;
    unsigned gen = c->gen;
    size_t off = 0;
    while (c->gen == gen) {
        uint8_t *b = (uint8_t *)c->in + off;
        size_t avail = c->in_len - off;
        if (avail < 2)
            break;
        bool fin = b[0] & 0x80;
        int op = b[0] & 0x0f;
        bool masked = b[1] & 0x80;
        uint64_t plen = b[1] & 0x7f;
        size_t hl = 2;
        if (b[0] & 0x70) {
            client_fail(c, &st->err_conn, "WS frame with RSV bits (no extension negotiated)");
            return;
        }
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = (uint64_t)b[2] << 8 | b[3];
            hl = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int k = 0; k < 8; k++)
                plen = plen << 8 | b[2 + k];
            hl = 10;
        }
        if (masked)
            hl += 4;
        if (plen > IN_MAX) {
            client_fail(c, &st->err_conn, "WS frame too large (%" PRIu64 ")", plen);
            return;
        }
        if (avail < hl + plen) {
            /* make sure the whole frame will fit */
            size_t need = hl + (size_t)plen;
            if (need > c->in_cap) {
                if (off) {
                    consume_in(c, off);
                    off = 0;
                }
                size_t nc = c->in_cap;
                while (nc < need)
                    nc *= 2;
                char *nb = realloc(c->in, nc);
                if (!nb)
                    die("out of memory");
                c->in = nb;
                c->in_cap = nc;
            }
            break;
        }
        char *pl = (char *)b + hl;
        if (masked) {
            uint8_t *mk = b + hl - 4;
            for (uint64_t k = 0; k < plen; k++)
                pl[k] ^= (char)mk[k & 3];
        }
        off += hl + (size_t)plen;
        switch (op) {
        case 0x8: /* close */
            if (plen >= 2)
                ws_queue_frame(c, 0x8, pl, 2);
            else
                ws_queue_frame(c, 0x8, NULL, 0);
            flush_out(c);
            client_fail(c, &st->err_conn, "server sent WS close (%d)",
                        plen >= 2 ? ((uint8_t)pl[0] << 8 | (uint8_t)pl[1]) : 0);
            return;
        case 0x9: /* ping */
            st->ws_pings++;
            if (plen > 125 || !ws_queue_frame(c, 0xA, pl, (size_t)plen) || flush_out(c) < 0) {
                client_fail(c, &st->err_conn, "cannot answer WS ping");
                return;
            }
            break;
        case 0xA: /* pong */
            break;
        case 0x1:
        case 0x2:
            if (c->frag_active) {
                client_fail(c, &st->err_conn, "WS data frame inside a fragmented message");
                return;
            }
            if (fin) {
                on_reply(c, pl, (size_t)plen, false, now);
            } else {
                st->ws_frag++;
                c->frag_len = 0;
                c->frag_active = true;
                if (!frag_append(c, pl, (size_t)plen)) {
                    client_fail(c, &st->err_conn, "WS message too large");
                    return;
                }
            }
            break;
        case 0x0:
            if (!c->frag_active) {
                client_fail(c, &st->err_conn, "WS continuation without a start");
                return;
            }
            if (!frag_append(c, pl, (size_t)plen)) {
                client_fail(c, &st->err_conn, "WS message too large");
                return;
            }
            if (fin) {
                c->frag_active = false;
                on_reply(c, c->frag, c->frag_len, false, now);
            }
            break;
        default:
            client_fail(c, &st->err_conn, "WS opcode %d", op);
            return;
        }
    }
    if (c->gen == gen && off)
        consume_in(c, off);
}

static void process_handshake(struct client *c, uint64_t now)
{
    struct stats *st = &c->w->st;
    char *he = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!he) {
        if (c->in_len > 65536)
            client_fail(c, &st->err_conn, "handshake reply too large");
        return;
    }
    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
        client_fail(c, &st->err_conn, "WS handshake refused: %.*s", (int)(strcspn(c->in, "\r\n")),
                    c->in);
        return;
    }
    size_t vl;
    const char *v = hdr_find(c->in, he + 2, "Sec-WebSocket-Accept", &vl);
    if (!v || vl != strlen(c->wsaccept) || memcmp(v, c->wsaccept, vl) != 0) {
        client_fail(c, &st->err_conn, "bad Sec-WebSocket-Accept");
        return;
    }
    v = hdr_find(c->in, he + 2, "Sec-WebSocket-Protocol", &vl);
    if (!v || !hval_has(v, vl, "janus-protocol")) {
        client_fail(c, &st->err_conn, "server did not select janus-protocol");
        return;
    }
    consume_in(c, (size_t)(he + 4 - c->in));
    conn_ready(c, now);
    if (c->in_len && c->cs == CS_READY)
        process_ws(c, now);
}

static void on_event(struct client *c, uint32_t ev, uint64_t now)
{
    struct stats *st = &c->w->st;
    if (c->fd < 0)
        return; /* reset earlier in this epoll batch */
    if (c->cs == CS_CONNECTING) {
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            int err = 0;
            socklen_t sl = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
            if (err) {
                client_fail(c, &st->err_conn, "connect: %s", strerror(err));
                return;
            }
            if (cfg.proto == PROTO_WS) {
                ws_send_handshake(c);
            } else {
                set_out_interest(c, false);
                conn_ready(c, now);
            }
        }
        return;
    }
    if (ev & EPOLLOUT) {
        if (flush_out(c) < 0) {
            client_fail(c, &st->err_conn, "send: %s", strerror(errno));
            return;
        }
    }
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    bool eof = false;
    unsigned gen = c->gen;
    for (;;) {
        if (c->in_len == c->in_cap) {
            if (c->in_cap >= IN_MAX) {
                client_fail(c, &st->err_conn, "reply too large");
                return;
            }
            char *nb = realloc(c->in, c->in_cap * 2);
            if (!nb)
                die("out of memory");
            c->in = nb;
            c->in_cap *= 2;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            if (c->in_len < c->in_cap)
                break; /* short read: drained; level-triggered epoll reports the rest */
            continue;
        }
        if (n == 0) {
            eof = true;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        client_fail(c, &st->err_conn, "recv: %s", strerror(errno));
        return;
    }
    if (c->cs == CS_HANDSHAKE)
        process_handshake(c, now);
    else if (cfg.proto == PROTO_WS)
        process_ws(c, now);
    else
        process_http(c, eof, now);
    if (c->gen != gen)
        return;
    if (eof) {
        if (cfg.proto == PROTO_WS || c->cs != CS_READY)
            client_fail(c, &st->err_conn, "server closed the connection");
    }
}

static bool may_reconnect(uint64_t now)
{
    if (cfg.iterations > 0)
        return atomic_load(&g_iter_budget) > 0 && now < g_win_end;
    return now < g_win_end && !g_sigint;
}

/* timeouts and scheduled reconnects */
static void scan(struct worker *w, uint64_t now)
{
    uint64_t to = (uint64_t)(cfg.timeout * 1e9);
    uint64_t cto = (uint64_t)(cfg.connect_timeout * 1e9);
    for (int i = 0; i < w->ncl; i++) {
        struct client *c = &w->cl[i];
        if (c->step != ST_NONE && now - c->t_req > to) {
            client_fail(c, &w->st.timeouts,
                        "no reply within %.1f s (%s%s%s; %zu bytes unsent, %zu bytes of a "
                        "partial reply: %.*s)",
                        cfg.timeout, cfg.proto == PROTO_HTTP ? "http" : "ws",
                        c->acked ? ", acked" : "", c->polling ? ", long-poll pending" : "",
                        c->out_len - c->out_off, c->in_len, SNIP(c->in_len), c->in);
            continue;
        }
        if ((c->cs == CS_CONNECTING || c->cs == CS_HANDSHAKE) && now - c->conn_start > cto) {
            client_fail(c, &w->st.err_conn, "connect/handshake timeout");
            continue;
        }
        if (c->cs == CS_DOWN && c->retry && now >= c->retry_at && atomic_load(&g_go) == 1 &&
            w->connecting < MAX_CONNECTING && may_reconnect(now)) {
            w->st.reconnects++;
            conn_start(c, now);
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Worker loop                                                                           */
/* ------------------------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];
    uint64_t last_scan = 0;
    for (;;) {
        uint64_t now = now_ns();
        int go = atomic_load(&g_go);
        if (go == 2)
            break;
        if (go == 0) {
            for (int i = 0; i < w->ncl && w->connecting < MAX_CONNECTING; i++) {
                struct client *c = &w->cl[i];
                if (c->cs == CS_DOWN && (!c->retry || now >= c->retry_at))
                    conn_start(c, now);
            }
            if (!w->reported_ready && w->nready == w->ncl) {
                w->reported_ready = true;
                atomic_fetch_add(&g_ready, 1);
            }
        } else {
            if (!w->started) {
                w->started = true;
                for (int i = 0; i < w->ncl; i++)
                    start_iteration(&w->cl[i], now_ns());
            }
            bool stopping = now >= g_win_end || g_sigint ||
                            (cfg.iterations > 0 && atomic_load(&g_iter_budget) <= 0);
            if (stopping && w->active == 0)
                break;
            if (now >= g_hard_end)
                break;
        }
        int n = epoll_wait(w->epfd, evs, 256, 5);
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events, now_ns());
        now = now_ns();
        if (now - last_scan > 20 * 1000000ull) {
            if (atomic_load(&g_go) == 1)
                scan(w, now);
            else
                for (int i = 0; i < w->ncl; i++) {
                    struct client *c = &w->cl[i];
                    if ((c->cs == CS_CONNECTING || c->cs == CS_HANDSHAKE) &&
                        now - c->conn_start > (uint64_t)(cfg.connect_timeout * 1e9))
                        client_fail(c, &w->st.err_conn, "connect/handshake timeout");
                }
            last_scan = now;
        }
    }
    for (int i = 0; i < w->ncl; i++) {
        struct client *c = &w->cl[i];
        if (c->step != ST_NONE)
            w->st.unfinished++;
        if (c->fd >= 0 && c->cs == CS_READY && cfg.proto == PROTO_WS) {
            c->out_len = c->out_off = 0;
            ws_queue_frame(c, 0x8, "\x03\xe8", 2);
            send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Main                                                                                  */
/* ------------------------------------------------------------------------------------ */

/* CPU time (user+system, all threads, in ms) of a process, from /proc/<pid>/stat; -1 if gone */
static double proc_cpu_ms(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* after ") " comes field 3 (state); utime and stime are fields 14 and 15 */
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static double cpu0[5], cpu1[5]; /* [0..ncpu): --cpu-pid processes, [4]: loadgen itself */

static void cpu_sample(double *dst)
{
    for (int i = 0; i < cfg.ncpu; i++)
        dst[i] = proc_cpu_ms(cfg.cpu_pid[i]);
    dst[4] = self_cpu_ms();
}

/* sleep until the monotonic time t, or until interrupted */
static void sleep_until(uint64_t t)
{
    for (;;) {
        uint64_t now = now_ns();
        if (now >= t || g_sigint)
            return;
        uint64_t d = t - now;
        if (d > 50000000ull)
            d = 50000000ull;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)d};
        nanosleep(&ts, NULL);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: loadgen [options]\n"
            "  --proto http|ws        transport (default ws)\n"
            "  --host ADDR            server address, loopback only (default 127.0.0.1)\n"
            "  --port P               server port (default 8088)\n"
            "  --path /janus          API base path (HTTP) / WebSocket request path\n"
            "  --plugin NAME          plugin to attach (default janus.plugin.echotest)\n"
            "  --message JSON         body of the \"message\" request (default {\"audio\":true})\n"
            "  --concurrency N        virtual clients, one connection each (default 100)\n"
            "  --duration S           measurement window in seconds (default 10)\n"
            "  --warmup S             seconds of load before the window opens (default 1)\n"
            "  --iterations N         run N iterations in total instead of a timed window\n"
            "                         (then --duration, if given, caps the run time; default cap "
            "300 s)\n"
            "  -t, --threads N        worker threads (default 1)\n"
            "  --timeout S            per-request timeout (default 10)\n"
            "  --connect-timeout S    time allowed to open all connections (default 20)\n"
            "  --label NAME           server label for the output (default \"server\")\n"
            "  --cpu-pid PID[:LABEL]  report the CPU time (utime+stime) PID used during the\n"
            "                         measurement window, and per iteration (up to 4 times)\n"
            "  --format json|table    output format (default json: one line)\n"
            "  --header               with --format table, print the header line first\n"
            "  -v, --verbose          log unexpected replies\n"
            "Each client loops create -> attach -> message -> destroy, one request at a time.\n"
            "The message step ends on a \"success\" reply, or on the \"event\" with the same\n"
            "transaction after an \"ack\" (over HTTP the event is fetched with a long-poll\n"
            "GET <path>/<session>?maxev=1 on the same keep-alive connection).\n");
}

static void print_results(double window_s)
{
    struct stats t;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < cfg.threads; i++) {
        struct stats *s = &workers[i].st;
        h_merge(&t.req, &s->req);
        h_merge(&t.iter, &s->iter);
        for (int k = 0; k < ST_COUNT; k++)
            h_merge(&t.step[k], &s->step[k]);
        t.iterations += s->iterations;
        t.iterations_all += s->iterations_all;
        t.requests += s->requests;
        t.err_api += s->err_api;
        t.err_http += s->err_http;
        t.err_conn += s->err_conn;
        t.timeouts += s->timeouts;
        t.unfinished += s->unfinished;
        t.reconnects += s->reconnects;
        t.msg_sync += s->msg_sync;
        t.msg_async += s->msg_async;
        t.event_before_ack += s->event_before_ack;
        t.polls += s->polls;
        t.poll_other += s->poll_other;
        t.stray += s->stray;
        t.ws_pings += s->ws_pings;
        t.ws_frag += s->ws_frag;
    }
    uint64_t errors = t.err_api + t.err_http + t.err_conn + t.timeouts + t.unfinished;
    double rps = window_s > 0 ? (double)t.requests / window_s : 0;
    double ips = window_s > 0 ? (double)t.iterations / window_s : 0;
    const char *proto = cfg.proto == PROTO_WS ? "ws" : "http";
    if (cfg.fmt == FMT_TABLE) {
        if (cfg.header)
            printf("%-10s %-5s %6s %10s %10s %10s %9s %9s %9s %9s %9s %7s\n", "server", "proto",
                   "conc", "iters", "req/s", "iter/s", "p50_ms", "p99_ms", "max_ms", "it_p50",
                   "it_p99", "errors");
        printf("%-10s %-5s %6d %10" PRIu64 " %10.0f %10.0f %9.3f %9.3f %9.3f %9.3f %9.3f %7" PRIu64
               "\n",
               cfg.label, proto, cfg.concurrency, t.iterations, rps, ips, h_pct_ms(&t.req, 0.50),
               h_pct_ms(&t.req, 0.99), (double)t.req.max_us / 1000.0, h_pct_ms(&t.iter, 0.50),
               h_pct_ms(&t.iter, 0.99), errors);
        return;
    }
    printf(
        "{\"proto\":\"%s\",\"server\":\"%s\",\"concurrency\":%d,\"threads\":%d,\"window_s\":%.3f,"
        "\"iterations\":%" PRIu64 ",\"requests\":%" PRIu64
        ",\"req_per_s\":%.1f,\"iter_per_s\":%.1f,"
        "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
        "\"iter_p50_ms\":%.3f,\"iter_p99_ms\":%.3f,\"iter_max_ms\":%.3f",
        proto, cfg.label, cfg.concurrency, cfg.threads, window_s, t.iterations, t.requests, rps,
        ips, h_pct_ms(&t.req, 0.50), h_pct_ms(&t.req, 0.90), h_pct_ms(&t.req, 0.99),
        (double)t.req.max_us / 1000.0,
        t.req.n ? (double)t.req.sum_us / (double)t.req.n / 1000.0 : 0.0, h_pct_ms(&t.iter, 0.50),
        h_pct_ms(&t.iter, 0.99), (double)t.iter.max_us / 1000.0);
    for (int k = ST_CREATE; k < ST_COUNT; k++)
        printf(",\"%s_p50_ms\":%.3f,\"%s_p99_ms\":%.3f", step_name[k], h_pct_ms(&t.step[k], 0.50),
               step_name[k], h_pct_ms(&t.step[k], 0.99));
    printf(",\"errors\":%" PRIu64 ",\"api_errors\":%" PRIu64 ",\"http_errors\":%" PRIu64
           ",\"conn_errors\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"unfinished\":%" PRIu64
           ",\"reconnects\":%" PRIu64 ",\"msg_sync\":%" PRIu64 ",\"msg_async\":%" PRIu64
           ",\"event_before_ack\":%" PRIu64 ",\"polls\":%" PRIu64 ",\"poll_other\":%" PRIu64
           ",\"stray\":%" PRIu64 ",\"ws_pings\":%" PRIu64 ",\"ws_fragmented\":%" PRIu64
           ",\"iterations_total\":%" PRIu64,
           errors, t.err_api, t.err_http, t.err_conn, t.timeouts, t.unfinished, t.reconnects,
           t.msg_sync, t.msg_async, t.event_before_ack, t.polls, t.poll_other, t.stray, t.ws_pings,
           t.ws_frag, t.iterations_all);
    for (int i = 0; i < cfg.ncpu; i++) {
        double ms = cpu0[i] >= 0 && cpu1[i] >= 0 ? cpu1[i] - cpu0[i] : -1;
        printf(",\"cpu_ms_%s\":%.0f,\"cpu_us_per_iter_%s\":%.1f", cfg.cpu_label[i], ms,
               cfg.cpu_label[i],
               ms >= 0 && t.iterations ? ms * 1000.0 / (double)t.iterations : -1.0);
    }
    printf(",\"loadgen_cpu_ms\":%.0f}\n", cpu1[4] - cpu0[4]);
}

static void on_sigint(int sig)
{
    (void)sig;
    g_sigint = 1;
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
    char *e;
    double d = strtod(v, &e);
    if (e == v || *e || d < lo || d > hi)
        die("bad value for --%s: %s", name, v);
    return d;
}

static void copy_arg(char *dst, size_t cap, const char *name, const char *v)
{
    if (strlen(v) >= cap)
        die("--%s too long", name);
    strcpy(dst, v);
}

int main(int argc, char **argv)
{
    enum {
        OPT_PROTO = 256,
        OPT_HOST,
        OPT_PORT,
        OPT_PATH,
        OPT_PLUGIN,
        OPT_MESSAGE,
        OPT_CONC,
        OPT_DUR,
        OPT_WARM,
        OPT_ITER,
        OPT_TIMEOUT,
        OPT_CTIMEOUT,
        OPT_LABEL,
        OPT_FORMAT,
        OPT_HEADER,
        OPT_CPUPID
    };
    static const struct option opts[] = {
        {"proto", required_argument, NULL, OPT_PROTO},
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"path", required_argument, NULL, OPT_PATH},
        {"plugin", required_argument, NULL, OPT_PLUGIN},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"concurrency", required_argument, NULL, OPT_CONC},
        {"duration", required_argument, NULL, OPT_DUR},
        {"warmup", required_argument, NULL, OPT_WARM},
        {"iterations", required_argument, NULL, OPT_ITER},
        {"threads", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"connect-timeout", required_argument, NULL, OPT_CTIMEOUT},
        {"label", required_argument, NULL, OPT_LABEL},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"header", no_argument, NULL, OPT_HEADER},
        {"cpu-pid", required_argument, NULL, OPT_CPUPID},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool duration_set = false;
    int o;
    while ((o = getopt_long(argc, argv, "t:vh", opts, NULL)) != -1) {
        switch (o) {
        case OPT_PROTO:
            if (!strcmp(optarg, "http"))
                cfg.proto = PROTO_HTTP;
            else if (!strcmp(optarg, "ws"))
                cfg.proto = PROTO_WS;
            else
                die("--proto must be http or ws");
            break;
        case OPT_HOST:
            copy_arg(cfg.host, sizeof cfg.host, "host", optarg);
            break;
        case OPT_PORT:
            cfg.port = (int)num_arg("port", optarg, 1, 65535);
            break;
        case OPT_PATH:
            copy_arg(cfg.path, sizeof cfg.path, "path", optarg);
            break;
        case OPT_PLUGIN:
            copy_arg(cfg.plugin, sizeof cfg.plugin, "plugin", optarg);
            break;
        case OPT_MESSAGE:
            copy_arg(cfg.message, sizeof cfg.message, "message", optarg);
            break;
        case OPT_CONC:
            cfg.concurrency = (int)num_arg("concurrency", optarg, 1, MAX_CONCURRENCY);
            break;
        case OPT_DUR:
            cfg.duration = num_arg("duration", optarg, 0.1, 3600);
            duration_set = true;
            break;
        case OPT_WARM:
            cfg.warmup = num_arg("warmup", optarg, 0, 600);
            break;
        case OPT_ITER:
            cfg.iterations = (long)num_arg("iterations", optarg, 1, 1e12);
            break;
        case 't':
            cfg.threads = (int)num_arg("threads", optarg, 1, MAX_THREADS);
            break;
        case OPT_TIMEOUT:
            cfg.timeout = num_arg("timeout", optarg, 0.1, 600);
            break;
        case OPT_CTIMEOUT:
            cfg.connect_timeout = num_arg("connect-timeout", optarg, 0.1, 600);
            break;
        case OPT_LABEL:
            copy_arg(cfg.label, sizeof cfg.label, "label", optarg);
            break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "json"))
                cfg.fmt = FMT_JSON;
            else if (!strcmp(optarg, "table"))
                cfg.fmt = FMT_TABLE;
            else
                die("--format must be json or table");
            break;
        case OPT_HEADER:
            cfg.header = true;
            break;
        case OPT_CPUPID: {
            if (cfg.ncpu == 4)
                die("at most 4 --cpu-pid");
            char *e;
            long pid = strtol(optarg, &e, 10);
            if (e == optarg || pid <= 0 || (*e && *e != ':'))
                die("bad --cpu-pid %s", optarg);
            cfg.cpu_pid[cfg.ncpu] = (int)pid;
            const char *l = *e == ':' ? e + 1 : NULL;
            if (l && (!*l || strlen(l) >= sizeof cfg.cpu_label[0] ||
                      strspn(l, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(l)))
                die("bad --cpu-pid label %s (letters, digits, _)", l);
            if (l)
                strcpy(cfg.cpu_label[cfg.ncpu], l);
            else
                snprintf(cfg.cpu_label[cfg.ncpu], sizeof cfg.cpu_label[0], "pid%ld", pid);
            if (proc_cpu_ms((int)pid) < 0)
                die("--cpu-pid %ld: no such process", pid);
            cfg.ncpu++;
            break;
        }
        case 'v':
            cfg.verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc)
        die("unexpected argument: %s", argv[optind]);
    if (!strcmp(cfg.host, "localhost"))
        strcpy(cfg.host, "127.0.0.1");
    memset(&cfg.addr, 0, sizeof cfg.addr);
    cfg.addr.sin_family = AF_INET;
    cfg.addr.sin_port = htons((uint16_t)cfg.port);
    if (inet_pton(AF_INET, cfg.host, &cfg.addr.sin_addr) != 1)
        die("--host must be an IPv4 address");
    if ((ntohl(cfg.addr.sin_addr.s_addr) >> 24) != 127)
        die("refusing to load a non-loopback address (%s)", cfg.host);
    if (cfg.path[0] != '/')
        die("--path must start with /");
    if (cfg.threads > cfg.concurrency)
        cfg.threads = cfg.concurrency;
    /* the message body is pasted into the request: make sure it is one JSON object */
    {
        const char *e = cfg.message + strlen(cfg.message);
        const char *v = j_ws(cfg.message, e);
        const char *ve = j_skip(v, e);
        if (!ve || *v != '{' || j_ws(ve, e) != e)
            die("--message must be a JSON object");
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)cfg.concurrency + 64)
        die("open-file limit %lu is too low for %d connections (ulimit -n)",
            (unsigned long)rl.rlim_cur, cfg.concurrency);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    uint64_t seed = now_ns() ^ ((uint64_t)getpid() << 32);
    {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (read(fd, &seed, sizeof seed) != (ssize_t)sizeof seed)
                seed ^= 0x9E3779B97F4A7C15ull;
            close(fd);
        }
    }
    if (!seed)
        seed = 1;

    workers = calloc((size_t)cfg.threads, sizeof *workers);
    if (!workers)
        die("out of memory");
    int base = 0;
    for (int i = 0; i < cfg.threads; i++) {
        struct worker *w = &workers[i];
        w->idx = i;
        w->ncl = cfg.concurrency / cfg.threads + (i < cfg.concurrency % cfg.threads ? 1 : 0);
        w->cl = calloc((size_t)w->ncl, sizeof *w->cl);
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->rng = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        if (!w->cl || w->epfd < 0)
            die("worker setup failed");
        for (int k = 0; k < w->ncl; k++) {
            struct client *c = &w->cl[k];
            c->w = w;
            c->id = base + k;
            c->fd = -1;
            c->in_cap = IN_INITIAL;
            c->in = malloc(c->in_cap);
            if (!c->in)
                die("out of memory");
        }
        base += w->ncl;
    }
    /* timestamps are set before g_go flips; until then make every window test false */
    g_win_start = UINT64_MAX;
    g_win_end = UINT64_MAX;
    g_hard_end = UINT64_MAX;
    for (int i = 0; i < cfg.threads; i++)
        if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) != 0)
            die("pthread_create failed");

    uint64_t t_setup = now_ns();
    while (atomic_load(&g_ready) < cfg.threads) {
        if (g_sigint || now_ns() - t_setup > (uint64_t)(cfg.connect_timeout * 1e9)) {
            atomic_store(&g_go, 2);
            for (int i = 0; i < cfg.threads; i++)
                pthread_join(workers[i].th, NULL);
            int ready = 0;
            uint64_t cerr = 0;
            for (int i = 0; i < cfg.threads; i++) {
                ready += workers[i].nready;
                cerr += workers[i].st.err_conn;
            }
            die("only %d of %d connections ready after %.1f s (%" PRIu64 " connection errors)",
                ready, cfg.concurrency, (now_ns() - t_setup) / 1e9, cerr);
        }
        usleep(2000);
    }
    vlog("%d connections ready in %.3f s", cfg.concurrency, (now_ns() - t_setup) / 1e9);

    uint64_t t0 = now_ns();
    g_t_go = t0;
    if (cfg.iterations > 0) {
        atomic_store(&g_iter_budget, cfg.iterations);
        g_win_start = t0;
        g_win_end = t0 + (uint64_t)((duration_set ? cfg.duration : 300.0) * 1e9);
    } else {
        g_win_start = t0 + (uint64_t)(cfg.warmup * 1e9);
        g_win_end = g_win_start + (uint64_t)(cfg.duration * 1e9);
    }
    g_hard_end = g_win_end + (uint64_t)((cfg.timeout + 1.0) * 1e9);
    atomic_store(&g_go, 1);
    if (cfg.iterations > 0) {
        cpu_sample(cpu0);
    } else {
        /* CPU is sampled exactly at the window edges */
        sleep_until(g_win_start);
        cpu_sample(cpu0);
        sleep_until(g_win_end);
    }
    if (cfg.iterations == 0)
        cpu_sample(cpu1);
    for (int i = 0; i < cfg.threads; i++)
        pthread_join(workers[i].th, NULL);
    uint64_t t_stop = now_ns();
    if (cfg.iterations > 0)
        cpu_sample(cpu1);

    double window;
    if (cfg.iterations > 0) {
        uint64_t last = 0;
        for (int i = 0; i < cfg.threads; i++)
            if (workers[i].t_last > last)
                last = workers[i].t_last;
        window = last > t0 ? (double)(last - t0) / 1e9 : 0;
    } else {
        uint64_t end = t_stop < g_win_end ? t_stop : g_win_end;
        window = end > g_win_start ? (double)(end - g_win_start) / 1e9 : 0;
    }
    print_results(window);
    fflush(stdout);
    uint64_t bad = 0;
    for (int i = 0; i < cfg.threads; i++) {
        struct stats *s = &workers[i].st;
        bad += s->err_api + s->err_http + s->err_conn + s->timeouts + s->unfinished;
    }
    return bad ? 1 : 0;
}
