/*
 * httpload.c - an HTTP/1.1 GET load generator for tests/bench/listing (see README.md there).
 *
 * One thread, one epoll set, N keep-alive connections, at most one request in flight on each
 * (no pipelining). Two ways to drive them:
 *   - closed loop (--rate 0, the default): every connection sends its next request as soon as
 *     the previous answer is complete; this finds the server's maximum throughput, and the
 *     latency of a request runs from writing it to reading the last byte of its answer;
 *   - open loop (--rate R): request k is due at t0 + k/R whatever happened before, and goes
 *     out on the next idle connection (round robin over idle connections, oldest idle first).
 *     Its latency runs from the instant it was *due*, not from when it could be written, so a
 *     server stall that delays later sends is charged to those requests too (no coordinated
 *     omission: a generator that waits for answers before sending would hide exactly the
 *     stalls that make the p99).
 *
 * Paths come from a file (one per line; "#" comments; an optional tag word before the path,
 * "detail /api/events/42", gives per-tag percentiles) and are taken round robin, or at random
 * with --random SEED. Answers are parsed for real: status line, headers, a Content-Length
 * body, a chunked body (sizes, extensions, trailers), no body for 1xx/204/304, or a body to the
 * end of the connection; Connection: close and HTTP/1.0 are honoured by reconnecting.
 *
 * Time line: connect every connection, then t0; warm-up until t0 + warmup (sent and parsed,
 * not measured); the window until t0 + warmup + duration; then no new request is started and
 * the ones already started (or, in open loop, already due) are finished, for at most --drain
 * seconds. Latencies and status codes are those of requests started (or due) inside the
 * window; requests/s counts answers completed inside the window, divided by its length.
 * Latencies go into a log-linear histogram (128 sub-buckets per power of two of nanoseconds:
 * under 0.8% error, fixed size, nothing allocated per request).
 *
 * The result is one JSON line on stdout (flat keys first, then the nested "status" and "tags"
 * objects); a human summary goes to stderr unless --quiet. Exit status: 0, 1 when any error
 * (connection failure, reset, timeout, parse error, status >= 400, unfinished), 2 on bad usage.
 *
 *   cc -O2 -o httpload httpload.c
 *   ./httpload --port 8088 --paths paths.txt --connections 64 --duration 10 --warmup 2
 *   ./httpload --port 8088 --path /index.html --rate 5000 --cpu-pid $(pidof odeon)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)  /* per connection: the whole header block must fit */
#define MAX_TAGS 16
#define MAX_HEADERS_EXTRA 16
#define HOUSEKEEPING_NS 10000000LL /* timeouts and reconnects are checked this often */
#define RETRY_NS 100000000LL       /* a failed connect is retried after this */
#define NS 1000000000LL
#define TIMELINE_MAX 3600 /* seconds of --timeline */

/* ------------------------------------------------------------------------------ histogram */

/* Values below 2*SUB are exact; above, each power of two is split into SUB equal buckets. */
#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS)
#define H_BUCKETS (2 * H_SUB + (64 - H_SUB_BITS - 1) * H_SUB)

typedef struct hist {
    uint64_t n, min, max;
    double sum;
    uint64_t c[H_BUCKETS];
} hist;

static unsigned h_index(uint64_t v)
{
    if (v < 2 * H_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - H_SUB_BITS; /* >= 1 */
    return 2 * H_SUB + (shift - 1) * H_SUB + (unsigned)((v >> shift) - H_SUB);
}

/* The middle of bucket i. */
static uint64_t h_value(unsigned i)
{
    if (i < 2 * H_SUB)
        return i;
    unsigned k = i - 2 * H_SUB, shift = k / H_SUB + 1;
    uint64_t low = (uint64_t)(k % H_SUB + H_SUB) << shift;
    return low + ((1ull << shift) - 1) / 2;
}

static void h_add(hist *h, uint64_t v)
{
    h->c[h_index(v)]++;
    if (h->n == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->n++;
    h->sum += (double)v;
}

/* The p-th percentile (0 < p <= 100): the smallest value with at least p% of the values at
 * or below it, to the histogram's resolution, never above the exact maximum. */
static uint64_t h_pct(const hist *h, double p)
{
    if (h->n == 0)
        return 0;
    if (p >= 100)
        return h->max;
    uint64_t want = (uint64_t)(p / 100.0 * (double)h->n);
    if ((double)want < p / 100.0 * (double)h->n)
        want++;
    if (want == 0)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        seen += h->c[i];
        if (seen >= want) {
            uint64_t v = h_value(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

/* ------------------------------------------------------------------------------ state */

typedef struct req {
    char *data; /* the whole request, headers included */
    size_t len;
    int tag; /* index in tags[], or -1 */
} req;

enum cstate { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };
enum pstate { P_HEAD, P_LEN, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF, P_TRAILER, P_EOF };

typedef struct conn {
    int fd;
    uint32_t gen;       /* bumped on every connect: epoll events of an older socket are stale */
    enum cstate st;
    enum pstate ps;
    bool want_out;      /* EPOLLOUT is in the interest set */
    bool close_after;   /* the answer said Connection: close (or HTTP/1.0 without keep-alive) */
    int prev, next;     /* idle list links, -1 at the ends */
    const req *rq;      /* the request in flight (C_BUSY) */
    size_t woff;        /* bytes of it written so far */
    int64_t start_ns;   /* latency origin: due time (open loop) or write time (closed loop) */
    int64_t since_ns;   /* C_BUSY: write began; C_CONNECTING: connect began; C_DOWN: retry at */
    int status;
    uint64_t remaining; /* P_LEN, P_CHUNK_DATA: body bytes still to come */
    uint64_t body;      /* decoded body bytes of this answer */
    size_t len, scan;   /* bytes in buf; where the search for the end of the headers resumes */
    char *buf;
} conn;

enum err { E_CONNECT, E_RESET, E_CLOSED, E_PARSE, E_TIMEOUT, E_COUNT };
static const char *const err_name[E_COUNT] = {"connect", "reset", "closed", "parse", "timeout"};

static struct {
    /* options */
    const char *host, *port, *host_header, *label, *paths_file;
    int connections;
    double rate, duration, warmup, timeout, drain, connect_timeout;
    bool random, quiet, verbose, timeline;
    uint64_t seed;
    pid_t cpu_pid;
    uint64_t max_requests; /* 0: no limit */
    const char *extra[MAX_HEADERS_EXTRA];
    int n_extra;
    const char *cli_paths[256];
    int n_cli_paths;

    /* requests */
    req *reqs;
    size_t n_reqs, rr;
    char *tags[MAX_TAGS];
    int n_tags;

    /* connections */
    struct addrinfo *ai;
    conn *c;
    int ep, tfd;
    int idle_head, idle_tail, n_idle, n_busy;
    int64_t armed_ns;

    /* schedule */
    int64_t t0, t_ms, t_end, t_stop;
    uint64_t next_k;     /* open loop: the next request to send */
    bool sched_done;     /* open loop: every request due before t_end has gone out */
    uint64_t backlog_max;
    bool measuring, ended;

    /* results */
    hist all, tag_h[MAX_TAGS];
    uint64_t status[600], tag_err[MAX_TAGS];
    uint64_t err[E_COUNT], bad_status, unfinished, unsent;
    uint64_t sent, done_total, done_window, reconnects, idle_closes, bytes_in, body_bytes;
    uint64_t measured_sent; /* requests started (or due) inside the window that went out */
    double cpu_server_ms, cpu_self_ms;
    struct second {
        uint64_t n, max_ns;
        double sum_ns;
    } *tl; /* --timeline: answers by the second (since t0) they completed in */
    long cpu0_ticks;
    double self0_ms;
} g = {
    .host = "127.0.0.1",
    .port = "8088",
    .label = "",
    .connections = 64,
    .duration = 10,
    .warmup = 2,
    .timeout = 10,
    .drain = 10,
    .connect_timeout = 10,
    .seed = 1,
    .idle_head = -1,
    .idle_tail = -1,
};

static volatile sig_atomic_t interrupted;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("httpload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        die("out of memory");
    return p;
}

/* ------------------------------------------------------------------------------ CPU time */

/* utime + stime of every thread of pid, in clock ticks; -1 when it is gone. */
static long proc_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (p == NULL)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

static double self_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* ------------------------------------------------------------------------------ paths */

static int tag_of(const char *name, size_t len)
{
    for (int i = 0; i < g.n_tags; i++)
        if (strlen(g.tags[i]) == len && memcmp(g.tags[i], name, len) == 0)
            return i;
    if (g.n_tags == MAX_TAGS)
        die("more than %d tags in the paths file", MAX_TAGS);
    g.tags[g.n_tags] = strndup(name, len);
    return g.n_tags++;
}

static void add_request(const char *path, size_t plen, int tag)
{
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)path[i] <= ' ' || path[i] == 0x7f)
            die("path '%.*s' holds a space or a control character", (int)plen, path);
    if (plen == 0 || path[0] != '/')
        die("path '%.*s' does not start with '/'", (int)plen, path);
    size_t cap = plen + 256 + strlen(g.host_header);
    for (int i = 0; i < g.n_extra; i++)
        cap += strlen(g.extra[i]) + 2;
    char *d = xmalloc(cap);
    int n = snprintf(d, cap, "GET %.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: odeon-httpload\r\n"
                             "Accept: application/json, */*\r\n",
                     (int)plen, path, g.host_header);
    for (int i = 0; i < g.n_extra; i++)
        n += snprintf(d + n, cap - (size_t)n, "%s\r\n", g.extra[i]);
    n += snprintf(d + n, cap - (size_t)n, "\r\n");
    static size_t cap_reqs;
    if (g.n_reqs == cap_reqs) {
        cap_reqs = cap_reqs ? 2 * cap_reqs : 1024;
        g.reqs = realloc(g.reqs, cap_reqs * sizeof *g.reqs);
        if (g.reqs == NULL)
            die("out of memory");
    }
    g.reqs[g.n_reqs++] = (req){.data = d, .len = (size_t)n, .tag = tag};
}

/* One request per line: "[tag] /path"; blank lines and lines starting with '#' are skipped. */
static void load_paths(const char *file)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (f == NULL)
        die("cannot open %s: %s", file, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        char *s = line, *e = line + n;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (unsigned char)e[-1] <= ' ')
            e--;
        if (s == e || *s == '#')
            continue;
        int tag = -1;
        if (*s != '/') {
            char *w = s;
            while (s < e && *s != ' ' && *s != '\t')
                s++;
            tag = tag_of(w, (size_t)(s - w));
            while (s < e && (*s == ' ' || *s == '\t'))
                s++;
        }
        add_request(s, (size_t)(e - s), tag);
    }
    free(line);
    if (f != stdin)
        fclose(f);
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const req *next_request(void)
{
    if (g.random)
        return &g.reqs[splitmix64(&g.seed) % g.n_reqs];
    const req *r = &g.reqs[g.rr];
    if (++g.rr == g.n_reqs)
        g.rr = 0;
    return r;
}

/* ------------------------------------------------------------------------------ connections */

static void set_interest(conn *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0u),
                             .data.u64 = ((uint64_t)c->gen << 32) | (uint64_t)(c - g.c)};
    if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    c->want_out = out;
}

static void idle_push(conn *c)
{
    int i = (int)(c - g.c);
    c->st = C_IDLE;
    c->next = -1;
    c->prev = g.idle_tail;
    if (g.idle_tail >= 0)
        g.c[g.idle_tail].next = i;
    else
        g.idle_head = i;
    g.idle_tail = i;
    g.n_idle++;
}

static void idle_remove(conn *c)
{
    if (c->prev >= 0)
        g.c[c->prev].next = c->next;
    else
        g.idle_head = c->next;
    if (c->next >= 0)
        g.c[c->next].prev = c->prev;
    else
        g.idle_tail = c->prev;
    c->prev = c->next = -1;
    g.n_idle--;
}

static conn *idle_pop(void)
{
    if (g.idle_head < 0)
        return NULL;
    conn *c = &g.c[g.idle_head];
    idle_remove(c);
    return c;
}

static void conn_connect(conn *c, int64_t now)
{
    c->fd = socket(g.ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s (raise ulimit -n?)", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->len = c->scan = 0;
    c->ps = P_HEAD;
    c->since_ns = now;
    c->gen++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                             .data.u64 = ((uint64_t)c->gen << 32) | (uint64_t)(c - g.c)};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    c->want_out = true;
    if (connect(c->fd, g.ai->ai_addr, g.ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
        c->st = C_CONNECTING;
        return;
    }
    /* refused at once (loopback): retry later */
    g.err[E_CONNECT]++;
    close(c->fd);
    c->fd = -1;
    c->st = C_DOWN;
    c->since_ns = now + RETRY_NS;
}

/* Drops the connection; the request in flight, if any, is lost and counted as error e.
 * Reconnects at once, or after RETRY_NS when connecting itself failed. */
static void conn_fail(conn *c, enum err e, int64_t now)
{
    if (c->st == C_BUSY) {
        g.err[e]++;
        if (c->rq->tag >= 0)
            g.tag_err[c->rq->tag]++;
        g.n_busy--;
    } else if (c->st == C_CONNECTING) {
        g.err[E_CONNECT]++;
    } else if (c->st == C_IDLE) {
        idle_remove(c);
        g.idle_closes++;
    }
    if (g.verbose && c->st != C_IDLE)
        fprintf(stderr, "httpload: connection %d: %s\n", (int)(c - g.c), err_name[e]);
    bool was_connecting = c->st == C_CONNECTING;
    close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    c->st = C_DOWN;
    c->since_ns = now + RETRY_NS;
    g.reconnects++;
    if (!was_connecting)
        conn_connect(c, now); /* at once; a failing connect is retried by housekeeping */
}

static void conn_write(conn *c, int64_t now)
{
    while (c->woff < c->rq->len) {
        ssize_t n = send(c->fd, c->rq->data + c->woff, c->rq->len - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                set_interest(c, true);
            return;
        }
        conn_fail(c, E_RESET, now);
        return;
    }
    if (c->want_out)
        set_interest(c, false);
}

/* Sends the next request on idle connection c; its latency counts from start. */
static void conn_send(conn *c, int64_t start, int64_t now)
{
    c->rq = next_request();
    c->woff = 0;
    c->start_ns = start;
    c->since_ns = now;
    c->st = C_BUSY;
    c->ps = P_HEAD;
    c->status = 0;
    c->body = 0;
    c->close_after = false;
    g.n_busy++;
    g.sent++;
    if (start >= g.t_ms && start < g.t_end)
        g.measured_sent++;
    conn_write(c, now);
}

/* ------------------------------------------------------------------------------ parsing */

static bool token_in(const char *v, size_t vlen, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= vlen; i++) {
        if (strncasecmp(v + i, tok, tl) != 0)
            continue;
        bool left = i == 0 || v[i - 1] == ',' || v[i - 1] == ' ' || v[i - 1] == '\t';
        size_t j = i + tl;
        bool right = j == vlen || v[j] == ',' || v[j] == ' ' || v[j] == '\t' || v[j] == ';';
        if (left && right)
            return true;
    }
    return false;
}

/* Whether the last transfer coding of a Transfer-Encoding value is chunked. */
static bool last_is_chunked(const char *v, size_t vlen)
{
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    size_t s = vlen;
    while (s > 0 && v[s - 1] != ',')
        s--;
    while (s < vlen && (v[s] == ' ' || v[s] == '\t'))
        s++;
    return vlen - s == 7 && strncasecmp(v + s, "chunked", 7) == 0;
}

/* Parses the status line and headers in b[0..hlen) (hlen includes the blank line) and sets
 * the body state. Returns 0, or -1 on a malformed answer. */
static int parse_head(conn *c, const char *b, size_t hlen)
{
    const char *end = b + hlen;
    if (hlen < 14 || memcmp(b, "HTTP/1.", 7) != 0 || (b[7] != '0' && b[7] != '1') || b[8] != ' ')
        return -1;
    bool http10 = b[7] == '0';
    if (b[9] < '1' || b[9] > '5' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9' ||
        (b[12] != ' ' && b[12] != '\r' && b[12] != '\n'))
        return -1;
    int status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    bool chunked = false, have_len = false, ka = false, close = false;
    uint64_t clen = 0;
    const char *p = memchr(b, '\n', hlen);
    if (p == NULL)
        return -1;
    p++;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            return -1;
        const char *le = eol;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p)
            break; /* the blank line */
        if (*p == ' ' || *p == '\t')
            return -1; /* obsolete line folding */
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon == NULL || colon == p)
            return -1;
        size_t nlen = (size_t)(colon - p);
        const char *v = colon + 1;
        while (v < le && (*v == ' ' || *v == '\t'))
            v++;
        size_t vlen = (size_t)(le - v);
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0) {
            uint64_t x = 0;
            if (vlen == 0 || vlen > 18)
                return -1;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -1;
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            if (have_len && x != clen)
                return -1;
            have_len = true;
            clen = x;
        } else if (nlen == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
            chunked = last_is_chunked(v, vlen);
            if (!chunked)
                close = true; /* some other coding: the body runs to the end */
        } else if (nlen == 10 && strncasecmp(p, "connection", 10) == 0) {
            if (token_in(v, vlen, "close"))
                close = true;
            if (token_in(v, vlen, "keep-alive"))
                ka = true;
        }
        p = eol + 1;
    }
    c->status = status;
    c->close_after = close || (http10 && !ka);
    if (status < 200 || status == 204 || status == 304) {
        c->ps = P_HEAD; /* no body; a 1xx is followed by the real answer */
        return 0;
    }
    if (chunked) {
        c->ps = P_CHUNK_SIZE;
    } else if (have_len && !close) {
        c->ps = P_LEN;
        c->remaining = clen;
    } else if (have_len) {
        c->ps = P_LEN; /* Connection: close with a length: read the length, then close */
        c->remaining = clen;
    } else {
        c->ps = P_EOF;
        c->close_after = true;
    }
    return 0;
}

/* Consumes buffered bytes. Returns 1 when the answer is complete, 0 when more bytes are
 * needed, -1 on a malformed answer. Consumed bytes leave the buffer. */
static int parse(conn *c)
{
    size_t pos = 0;
    int done = 0;
    while (!done) {
        size_t avail = c->len - pos;
        char *b = c->buf + pos;
        switch (c->ps) {
        case P_HEAD: {
            if (avail == 0)
                goto out;
            size_t from = c->scan > pos + 3 ? c->scan - pos - 3 : 0;
            char *e = memmem(b + from, avail - from, "\r\n\r\n", 4);
            size_t hlen;
            if (e != NULL) {
                hlen = (size_t)(e - b) + 4;
            } else {
                char *e2 = memmem(b + from, avail - from, "\n\n", 2); /* bare LF servers */
                if (e2 == NULL) {
                    if (c->len == BUF_SIZE)
                        return -1; /* headers larger than the buffer */
                    c->scan = c->len;
                    goto out;
                }
                hlen = (size_t)(e2 - b) + 2;
            }
            if (parse_head(c, b, hlen) < 0)
                return -1;
            pos += hlen;
            c->scan = pos;
            if (c->ps == P_HEAD && c->status >= 200)
                done = 1; /* 204/304: complete */
            else if (c->ps == P_LEN && c->remaining == 0)
                done = 1;
            break;
        }
        case P_LEN:
        case P_CHUNK_DATA: {
            uint64_t take = avail < c->remaining ? avail : c->remaining;
            pos += take;
            c->remaining -= take;
            c->body += take;
            if (c->remaining > 0)
                goto out;
            if (c->ps == P_LEN)
                done = 1;
            else
                c->ps = P_CHUNK_CRLF;
            break;
        }
        case P_CHUNK_CRLF:
            if (avail < 2) {
                if (avail == 1 && b[0] != '\r' && b[0] != '\n')
                    return -1;
                if (avail == 1 && b[0] == '\n') { /* bare LF */
                    pos++;
                    c->ps = P_CHUNK_SIZE;
                }
                goto out;
            }
            if (b[0] == '\r' && b[1] == '\n')
                pos += 2;
            else if (b[0] == '\n')
                pos += 1;
            else
                return -1;
            c->ps = P_CHUNK_SIZE;
            break;
        case P_CHUNK_SIZE: {
            char *nl = memchr(b, '\n', avail);
            if (nl == NULL) {
                if (avail > 1024)
                    return -1;
                goto out;
            }
            uint64_t size = 0;
            int digits = 0;
            char *q = b;
            for (; q < nl; q++) {
                int d;
                if (*q >= '0' && *q <= '9')
                    d = *q - '0';
                else if (*q >= 'a' && *q <= 'f')
                    d = *q - 'a' + 10;
                else if (*q >= 'A' && *q <= 'F')
                    d = *q - 'A' + 10;
                else
                    break;
                if (++digits > 15)
                    return -1;
                size = size * 16 + (uint64_t)d;
            }
            if (digits == 0)
                return -1;
            while (q < nl && (*q == ' ' || *q == '\t'))
                q++;
            if (q < nl && *q != ';' && !(*q == '\r' && q + 1 == nl))
                return -1;
            pos += (size_t)(nl - b) + 1;
            if (size == 0) {
                c->ps = P_TRAILER;
            } else {
                c->ps = P_CHUNK_DATA;
                c->remaining = size;
            }
            break;
        }
        case P_TRAILER: {
            char *nl = memchr(b, '\n', avail);
            if (nl == NULL) {
                if (avail > 8192)
                    return -1;
                goto out;
            }
            bool empty = nl == b || (nl == b + 1 && b[0] == '\r');
            pos += (size_t)(nl - b) + 1;
            if (empty)
                done = 1;
            break;
        }
        case P_EOF:
            c->body += avail;
            pos += avail;
            goto out;
        }
    }
out:
    if (pos > 0) {
        memmove(c->buf, c->buf + pos, c->len - pos);
        c->len -= pos;
        c->scan = c->scan > pos ? c->scan - pos : 0;
    }
    return done;
}

/* ------------------------------------------------------------------------------ answers */

static void complete(conn *c, int64_t now)
{
    int64_t lat = now - c->start_ns;
    if (lat < 0)
        lat = 0;
    const req *r = c->rq;
    bool in_window = c->start_ns >= g.t_ms && c->start_ns < g.t_end;
    if (c->status >= 100 && c->status < 600 && in_window)
        g.status[c->status]++;
    if (c->status >= 400) {
        g.bad_status++;
        if (r->tag >= 0)
            g.tag_err[r->tag]++;
        if (g.verbose && g.bad_status <= 5)
            fprintf(stderr, "httpload: status %d for %.*s\n", c->status,
                    (int)(strchr(r->data + 4, ' ') - (r->data + 4)), r->data + 4);
    }
    if (in_window) {
        h_add(&g.all, (uint64_t)lat);
        if (r->tag >= 0)
            h_add(&g.tag_h[r->tag], (uint64_t)lat);
    }
    if (now >= g.t_ms && now < g.t_end)
        g.done_window++;
    if (g.tl != NULL && now >= g.t0 && (now - g.t0) / NS < TIMELINE_MAX) {
        struct second *sec = &g.tl[(now - g.t0) / NS];
        sec->n++;
        sec->sum_ns += (double)lat;
        if ((uint64_t)lat > sec->max_ns)
            sec->max_ns = (uint64_t)lat;
    }
    g.done_total++;
    g.body_bytes += c->body;
    g.n_busy--;
    c->rq = NULL;
    if (c->close_after || c->len > 0) {
        if (c->len > 0) { /* bytes nobody asked for */
            g.err[E_PARSE]++;
            c->len = 0;
        }
        close(c->fd);
        c->fd = -1;
        c->st = C_DOWN;
        g.reconnects++;
        conn_connect(c, now);
        return;
    }
    idle_push(c);
}

static void conn_readable(conn *c, int64_t now)
{
    for (;;) {
        size_t room = BUF_SIZE - c->len;
        ssize_t n = recv(c->fd, c->buf + c->len, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            conn_fail(c, E_RESET, now);
            return;
        }
        if (n == 0) {
            if (c->st == C_BUSY && c->ps == P_EOF) {
                complete(c, now); /* the body ran to the end; close_after is set: reconnects */
                return;
            }
            conn_fail(c, c->st == C_BUSY ? E_CLOSED : E_RESET, now);
            return;
        }
        g.bytes_in += (uint64_t)n;
        c->len += (size_t)n;
        if (c->woff < c->rq->len) {
            /* an answer before the request was even written */
            conn_fail(c, E_PARSE, now);
            return;
        }
        int r = parse(c);
        if (r < 0) {
            if (g.verbose)
                fprintf(stderr, "httpload: malformed answer: %.*s\n",
                        (int)(c->len < 200 ? c->len : 200), c->buf);
            conn_fail(c, E_PARSE, now);
            return;
        }
        if (r == 1) {
            complete(c, now);
            return;
        }
        if ((size_t)n < room)
            return; /* short read: the socket is drained for now */
    }
}

static void conn_event(conn *c, uint32_t ev, int64_t now)
{
    if (c->st == C_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            conn_fail(c, E_CONNECT, now);
            return;
        }
        set_interest(c, false);
        idle_push(c);
        return;
    }
    if (c->st == C_IDLE) {
        /* the server closed (or wrote to) a connection with nothing in flight */
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
            char x;
            ssize_t n = recv(c->fd, &x, 1, MSG_PEEK);
            if (n > 0)
                g.err[E_PARSE]++;
            conn_fail(c, E_RESET, now);
        }
        return;
    }
    if (c->st != C_BUSY)
        return;
    if ((ev & EPOLLOUT) && c->woff < c->rq->len) {
        conn_write(c, now);
        if (c->st != C_BUSY)
            return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
        conn_readable(c, now);
}

/* ------------------------------------------------------------------------------ driving */

static int64_t due_ns(uint64_t k)
{
    return g.t0 + (int64_t)((double)k * 1e9 / g.rate);
}

/* Open loop: how many requests are due by now (and before t_end). */
static uint64_t due_count(int64_t now)
{
    int64_t t = now < g.t_end ? now : g.t_end - 1;
    if (t < g.t0)
        return 0;
    uint64_t k = (uint64_t)((double)(t - g.t0) * g.rate / 1e9) + 1;
    while (k > 0 && due_ns(k - 1) > t)
        k--;
    while (due_ns(k) <= t)
        k++;
    return k;
}

static void dispatch(int64_t now)
{
    if (g.rate <= 0) {
        while (g.n_idle > 0 && now < g.t_end && !interrupted &&
               (g.max_requests == 0 || g.sent < g.max_requests))
            conn_send(idle_pop(), now, now);
        return;
    }
    while (!g.sched_done) {
        int64_t due = due_ns(g.next_k);
        if (due >= g.t_end || interrupted || (g.max_requests && g.next_k >= g.max_requests)) {
            g.sched_done = true;
            break;
        }
        if (due > now || g.n_idle == 0)
            break;
        g.next_k++;
        conn_send(idle_pop(), due, now);
    }
    if (g.measuring && !g.sched_done) {
        uint64_t d = due_count(now);
        uint64_t backlog = d > g.next_k ? d - g.next_k : 0;
        if (backlog > g.backlog_max)
            g.backlog_max = backlog;
    }
}

static void housekeeping(int64_t now)
{
    int64_t tmo = (int64_t)(g.timeout * 1e9), ctmo = (int64_t)(g.connect_timeout * 1e9);
    for (int i = 0; i < g.connections; i++) {
        conn *c = &g.c[i];
        if (c->st == C_BUSY && now - c->since_ns > tmo)
            conn_fail(c, E_TIMEOUT, now);
        else if (c->st == C_CONNECTING && now - c->since_ns > ctmo)
            conn_fail(c, E_CONNECT, now);
        if (c->st == C_DOWN && now >= c->since_ns)
            conn_connect(c, now);
    }
}

static void arm(int64_t at)
{
    if (at == g.armed_ns)
        return;
    struct itimerspec its = {.it_value = {.tv_sec = at / NS, .tv_nsec = at % NS}};
    if (timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        die("timerfd_settime: %s", strerror(errno));
    g.armed_ns = at;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Runs the epoll loop until done() or the deadline; housekeeping on the way. */
static void loop_until(bool (*done)(int64_t now), int64_t deadline)
{
    struct epoll_event evs[256];
    int64_t next_hk = 0;
    for (;;) {
        int64_t now = now_ns();
        if (!g.measuring && g.t_ms > 0 && now >= g.t_ms) {
            g.measuring = true;
            g.cpu0_ticks = g.cpu_pid > 0 ? proc_ticks(g.cpu_pid) : -1;
            g.self0_ms = self_cpu_ms();
        }
        bool all_sent = g.max_requests && g.sent >= g.max_requests && g.n_busy == 0;
        if (g.measuring && !g.ended && (now >= g.t_end || interrupted || all_sent)) {
            g.ended = true;
            if (now < g.t_end)
                g.t_end = now;
            if (g.cpu_pid > 0 && g.cpu0_ticks >= 0) {
                long t = proc_ticks(g.cpu_pid);
                g.cpu_server_ms = t < 0 ? -1 : (double)(t - g.cpu0_ticks) * 1e3 /
                                                   (double)sysconf(_SC_CLK_TCK);
            }
            g.cpu_self_ms = self_cpu_ms() - g.self0_ms;
            g.t_stop = now + (int64_t)(g.drain * 1e9);
        }
        if (now >= next_hk) {
            housekeeping(now);
            next_hk = now + HOUSEKEEPING_NS;
        }
        if (g.t0 > 0)
            dispatch(now_ns());
        if (done(now) || now >= deadline)
            return;

        int64_t wake = next_hk < deadline ? next_hk : deadline;
        if (g.t_ms > 0 && !g.measuring && g.t_ms < wake)
            wake = g.t_ms;
        if (g.t_end > 0 && !g.ended && g.t_end < wake)
            wake = g.t_end;
        if (g.rate > 0 && g.t0 > 0 && g.n_idle > 0 && !g.sched_done) {
            int64_t due = due_ns(g.next_k);
            if (due < wake)
                wake = due;
        }
        arm(wake);
        int n = epoll_wait(g.ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        now = now_ns();
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            if (d == UINT64_MAX) {
                uint64_t x;
                if (read(g.tfd, &x, sizeof x) < 0 && errno != EAGAIN)
                    die("timerfd read: %s", strerror(errno));
                g.armed_ns = 0;
                continue;
            }
            conn *c = &g.c[(uint32_t)d];
            if (c->fd >= 0 && c->gen == (uint32_t)(d >> 32))
                conn_event(c, evs[i].events, now);
        }
    }
}

static bool all_connected(int64_t now)
{
    (void)now;
    return g.n_idle == g.connections || interrupted;
}

static bool finished(int64_t now)
{
    if (!g.ended)
        return false;
    if (now >= g.t_stop)
        return true;
    return g.n_busy == 0 && (g.rate <= 0 || g.sched_done);
}

/* ------------------------------------------------------------------------------ output */

static void print_json(void)
{
    double window = (double)(g.t_end - g.t_ms) / 1e9;
    uint64_t errors = g.bad_status + g.unfinished + g.unsent;
    for (int e = 0; e < E_COUNT; e++)
        errors += g.err[e];
    double ms = 1e6;
    printf("{\"label\":\"%s\",\"mode\":\"%s\",\"connections\":%d,\"rate\":%.0f,"
           "\"duration_s\":%.3f,\"warmup_s\":%.3f,\"window_s\":%.3f,\"paths\":%zu,"
           "\"requests\":%" PRIu64 ",\"req_per_s\":%.1f,\"measured\":%" PRIu64 ","
           "\"min_ms\":%.3f,\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%" PRIu64,
           g.label, g.rate > 0 ? "open" : "closed", g.connections, g.rate, g.duration, g.warmup,
           window, g.n_reqs, g.done_window, window > 0 ? (double)g.done_window / window : 0,
           g.all.n, (double)g.all.min / ms, g.all.n ? g.all.sum / (double)g.all.n / ms : 0,
           (double)h_pct(&g.all, 50) / ms, (double)h_pct(&g.all, 90) / ms,
           (double)h_pct(&g.all, 99) / ms, (double)h_pct(&g.all, 99.9) / ms,
           (double)g.all.max / ms, errors);
    for (int e = 0; e < E_COUNT; e++)
        printf(",\"err_%s\":%" PRIu64, err_name[e], g.err[e]);
    printf(",\"bad_status\":%" PRIu64 ",\"unfinished\":%" PRIu64 ",\"unsent\":%" PRIu64
           ",\"backlog_max\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"sent_in_window\":%" PRIu64
           ",\"completed\":%" PRIu64
           ",\"reconnects\":%" PRIu64 ",\"idle_closes\":%" PRIu64 ",\"bytes_in\":%" PRIu64
           ",\"body_bytes\":%" PRIu64 ",\"body_bytes_mean\":%.0f",
           g.bad_status, g.unfinished, g.unsent, g.backlog_max, g.sent, g.measured_sent, g.done_total,
           g.reconnects, g.idle_closes, g.bytes_in, g.body_bytes,
           g.done_total ? (double)g.body_bytes / (double)g.done_total : 0);
    if (g.cpu_pid > 0)
        printf(",\"cpu_pid\":%d,\"cpu_ms_server\":%.1f,\"cpu_us_per_req\":%.2f", (int)g.cpu_pid,
               g.cpu_server_ms,
               g.done_window && g.cpu_server_ms >= 0 ? g.cpu_server_ms * 1e3 / (double)g.done_window
                                                     : -1);
    printf(",\"loadgen_cpu_ms\":%.1f", g.cpu_self_ms);
    printf(",\"status\":{");
    bool first = true;
    for (int s = 100; s < 600; s++) {
        if (g.status[s] == 0)
            continue;
        printf("%s\"%d\":%" PRIu64, first ? "" : ",", s, g.status[s]);
        first = false;
    }
    printf("},\"tags\":{");
    for (int t = 0; t < g.n_tags; t++) {
        const hist *h = &g.tag_h[t];
        printf("%s\"%s\":{\"n\":%" PRIu64 ",\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
               "\"errors\":%" PRIu64 "}",
               t ? "," : "", g.tags[t], h->n, (double)h_pct(h, 50) / ms,
               (double)h_pct(h, 99) / ms, (double)h->max / ms, g.tag_err[t]);
    }
    printf("}}\n");
    fflush(stdout);

    if (g.quiet)
        return;
    fprintf(stderr,
            "httpload%s%s: %s loop, %d connections, %.1f s window: %" PRIu64 " answers, %.0f/s\n"
            "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (%" PRIu64
            " measured)\n",
            *g.label ? " " : "", g.label, g.rate > 0 ? "open" : "closed", g.connections,
            window, g.done_window,
            window > 0 ? (double)g.done_window / window : 0, (double)h_pct(&g.all, 50) / ms,
            (double)h_pct(&g.all, 90) / ms, (double)h_pct(&g.all, 99) / ms,
            (double)h_pct(&g.all, 99.9) / ms, (double)g.all.max / ms, g.all.n);
    if (g.rate > 0)
        fprintf(stderr, "  target %.0f/s, largest backlog %" PRIu64 " requests\n", g.rate,
                g.backlog_max);
    for (int t = 0; t < g.n_tags; t++)
        fprintf(stderr, "  %-12s n %-8" PRIu64 " p50 %.3f  p99 %.3f  max %.3f  errors %" PRIu64 "\n",
                g.tags[t], g.tag_h[t].n, (double)h_pct(&g.tag_h[t], 50) / ms,
                (double)h_pct(&g.tag_h[t], 99) / ms, (double)g.tag_h[t].max / ms, g.tag_err[t]);
    fprintf(stderr, "  errors %" PRIu64 " (", errors);
    for (int e = 0; e < E_COUNT; e++)
        fprintf(stderr, "%s %" PRIu64 ", ", err_name[e], g.err[e]);
    fprintf(stderr, "status>=400 %" PRIu64 ", unfinished %" PRIu64 ", unsent %" PRIu64 ")\n",
            g.bad_status, g.unfinished, g.unsent);
    if (g.cpu_pid > 0)
        fprintf(stderr, "  server cpu %.0f ms: %.1f us per request; httpload cpu %.0f ms\n",
                g.cpu_server_ms,
                g.done_window ? g.cpu_server_ms * 1e3 / (double)g.done_window : 0, g.cpu_self_ms);
}

/* ------------------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: httpload [options]\n"
            "  --host H            server address (default 127.0.0.1)\n"
            "  --port P            server port (default 8088)\n"
            "  --host-header V     Host header (default host:port)\n"
            "  --paths FILE        request paths, one per line ('-': stdin); a line may start\n"
            "                      with a tag word: 'detail /api/events/7' (per-tag figures)\n"
            "  --path P            a path (repeatable; instead of or on top of --paths)\n"
            "  --header 'N: V'     an extra request header (repeatable)\n"
            "  --random SEED       pick paths at random (seeded) instead of round robin\n"
            "  --connections N     keep-alive connections (default 64)\n"
            "  --rate R            open loop: R requests/s on a fixed schedule, latency from\n"
            "                      the scheduled time (default 0: closed loop)\n"
            "  --duration S        measured window, seconds (default 10)\n"
            "  --warmup S          seconds before the window (default 2)\n"
            "  --timeout S         per request (default 10)\n"
            "  --drain S           after the window, at most this long to finish (default 10)\n"
            "  --connect-timeout S connecting every connection at the start (default 10)\n"
            "  --requests N        stop after N requests (the window ends with the last answer;\n"
            "                      --duration still caps it)\n"
            "  --cpu-pid PID       report PID's CPU time (utime+stime) over the window\n"
            "  --label L           copied into the JSON line\n"
            "  --quiet             no summary on stderr\n"
            "  --verbose           connection errors and malformed answers on stderr\n"
            "  --timeline          per second since the start (warm-up included): answers,\n"
            "                      mean and max latency, on stderr at the end\n");
}

static double num_arg(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi))
        die("%s takes a number in [%g, %g], not '%s'", opt, lo, hi, v);
    return x;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(o, "--quiet") == 0) {
            g.quiet = true;
            continue;
        }
        if (strcmp(o, "--verbose") == 0) {
            g.verbose = true;
            continue;
        }
        if (strcmp(o, "--timeline") == 0) {
            g.timeline = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            die("%s needs a value (or is unknown)", o);
        }
        const char *v = argv[++i];
        if (strcmp(o, "--host") == 0)
            g.host = v;
        else if (strcmp(o, "--port") == 0)
            g.port = v;
        else if (strcmp(o, "--host-header") == 0)
            g.host_header = v;
        else if (strcmp(o, "--paths") == 0)
            g.paths_file = v;
        else if (strcmp(o, "--path") == 0) {
            if (g.n_cli_paths == 256)
                die("too many --path");
            g.cli_paths[g.n_cli_paths++] = v;
        } else if (strcmp(o, "--header") == 0) {
            if (g.n_extra == MAX_HEADERS_EXTRA)
                die("too many --header");
            if (strchr(v, ':') == NULL || strpbrk(v, "\r\n"))
                die("--header takes 'Name: value'");
            g.extra[g.n_extra++] = v;
        } else if (strcmp(o, "--random") == 0) {
            g.random = true;
            g.seed = (uint64_t)num_arg(o, v, 0, 1e18);
        } else if (strcmp(o, "--connections") == 0)
            g.connections = (int)num_arg(o, v, 1, 100000);
        else if (strcmp(o, "--rate") == 0)
            g.rate = num_arg(o, v, 0, 1e7);
        else if (strcmp(o, "--duration") == 0)
            g.duration = num_arg(o, v, 0.01, 86400);
        else if (strcmp(o, "--warmup") == 0)
            g.warmup = num_arg(o, v, 0, 86400);
        else if (strcmp(o, "--timeout") == 0)
            g.timeout = num_arg(o, v, 0.001, 3600);
        else if (strcmp(o, "--connect-timeout") == 0)
            g.connect_timeout = num_arg(o, v, 0.01, 3600);
        else if (strcmp(o, "--drain") == 0)
            g.drain = num_arg(o, v, 0, 3600);
        else if (strcmp(o, "--requests") == 0)
            g.max_requests = (uint64_t)num_arg(o, v, 1, 1e15);
        else if (strcmp(o, "--cpu-pid") == 0)
            g.cpu_pid = (pid_t)num_arg(o, v, 1, 1e9);
        else if (strcmp(o, "--label") == 0) {
            if (strpbrk(v, "\"\\"))
                die("--label may not hold quotes or backslashes");
            g.label = v;
        } else {
            usage(stderr);
            die("unknown option %s", o);
        }
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    static char hh[300];
    if (g.host_header == NULL) {
        snprintf(hh, sizeof hh, strchr(g.host, ':') ? "[%s]:%s" : "%s:%s", g.host, g.port);
        g.host_header = hh;
    }
    if (g.paths_file)
        load_paths(g.paths_file);
    for (int i = 0; i < g.n_cli_paths; i++)
        add_request(g.cli_paths[i], strlen(g.cli_paths[i]), -1);
    if (g.n_reqs == 0)
        die("no request paths (--paths FILE or --path P)");
    if (g.cpu_pid > 0 && proc_ticks(g.cpu_pid) < 0)
        die("--cpu-pid %d: no such process", (int)g.cpu_pid);

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    int rc = getaddrinfo(g.host, g.port, &hints, &g.ai);
    if (rc != 0)
        die("%s:%s: %s", g.host, g.port, gai_strerror(rc));

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (g.ep < 0 || g.tfd < 0)
        die("epoll/timerfd: %s", strerror(errno));
    struct epoll_event tev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    epoll_ctl(g.ep, EPOLL_CTL_ADD, g.tfd, &tev);

    if (g.timeline) {
        g.tl = calloc(TIMELINE_MAX, sizeof *g.tl);
        if (g.tl == NULL)
            die("out of memory");
    }
    g.c = calloc((size_t)g.connections, sizeof *g.c);
    if (g.c == NULL)
        die("out of memory");
    int64_t now = now_ns();
    for (int i = 0; i < g.connections; i++) {
        g.c[i].buf = xmalloc(BUF_SIZE);
        g.c[i].prev = g.c[i].next = -1;
        conn_connect(&g.c[i], now);
    }
    /* t0 only once every connection is up, so the warm-up starts from a full pool */
    loop_until(all_connected, now + (int64_t)(g.connect_timeout * 1e9));
    if (g.n_idle < g.connections) {
        fprintf(stderr, "httpload: only %d of %d connections to %s:%s came up (%" PRIu64
                        " connect errors)\n",
                g.n_idle, g.connections, g.host, g.port, g.err[E_CONNECT]);
        if (g.n_idle == 0 || interrupted)
            exit(1);
    }
    g.t0 = now_ns();
    g.t_ms = g.t0 + (int64_t)(g.warmup * 1e9);
    g.t_end = g.t_ms + (int64_t)(g.duration * 1e9);
    if (g.t_ms == g.t0) {
        g.measuring = true;
        g.cpu0_ticks = g.cpu_pid > 0 ? proc_ticks(g.cpu_pid) : -1;
        g.self0_ms = self_cpu_ms();
    }
    loop_until(finished, INT64_MAX);

    /* whatever is left after the drain */
    for (int i = 0; i < g.connections; i++)
        if (g.c[i].st == C_BUSY)
            g.unfinished++;
    if (g.rate > 0 && !g.sched_done) {
        uint64_t due = due_count(g.t_end - 1);
        g.unsent = due > g.next_k ? due - g.next_k : 0;
    }
    print_json();
    if (g.tl != NULL) {
        int64_t last = (now_ns() - g.t0) / NS;
        for (int64_t i = 0; i <= last && i < TIMELINE_MAX; i++)
            fprintf(stderr, "t %4" PRId64 " s%s  answers %7" PRIu64 "  mean %9.3f ms  max %9.3f ms\n",
                    i, g.t0 + i * NS < g.t_ms ? " (warm-up)" : g.t0 + i * NS >= g.t_end ? " (drain)  " : "          ",
                    g.tl[i].n, g.tl[i].n ? g.tl[i].sum_ns / (double)g.tl[i].n / 1e6 : 0,
                    (double)g.tl[i].max_ns / 1e6);
    }
    uint64_t errors = g.bad_status + g.unfinished + g.unsent;
    for (int e = 0; e < E_COUNT; e++)
        errors += g.err[e];
    return errors ? 1 : 0;
}
