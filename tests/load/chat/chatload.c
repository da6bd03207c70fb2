/*
 * chatload.c - the chat load generator (tests/load/chat/README.md): N participants of one
 * event, each on its own WebSocket session (janus-protocol) to one of the given nodes (round
 * robin), in the room "main" of odeon.plugin.chat.
 *
 * Phases: setup (connect, create with a participant credential minted here, attach, join);
 * steady (each participant sends --per-minute messages a minute at a random phase of its
 * own); gap (until the steady messages are delivered); burst (each participant sends one
 * message at a random instant of --burst-window); drain (until every burst message is
 * delivered, or --drain-timeout). Keepalives go out all along.
 *
 * A message's text carries its id in this process (a table holds sender, phase, send time and
 * the seq from "sent"), so every receiver counts its deliveries and their latency (receive time
 * minus the time the send request was written, CLOCK_MONOTONIC). A bitmap per receiver over
 * message ids finds duplicates; the delivered seq must grow per receiver (else out of order).
 * Expected deliveries: every message acknowledged "sent", to every joined participant
 * (the sender included: the room delivers to all its members).
 *
 * One thread, one epoll set (edge triggered). Deliveries are read with a scanner over the
 * JSON text ("seq", then "text" of each message, in the order the server writes them), since
 * parsing 100 MB/s with jansson would make the generator the bottleneck; control replies go
 * through jansson. Output: one JSON line on stdout, a summary on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../ws.h"

#define MAX_NODES 8
#define KEEPALIVE_US (25 * G_USEC_PER_SEC)
#define TEXT_MARK "#" /* a message text starts with #<id>. */

/* ------------------------------------------------------------------------------ options */

static struct {
    char *nodes[MAX_NODES];
    int n_nodes;
    int participants;
    int64_t first_pid, event_id;
    const char *secret, *path, *label;
    double steady_s, per_minute, burst_window_s, gap_s, drain_timeout_s, setup_timeout_s;
    int setup_parallel, text_bytes;
    unsigned seed;
    int cpu_pids[MAX_NODES], n_cpu_pids;
    int pg_pid;
} opt = {
    .participants = 100, .first_pid = 1, .event_id = 1, .path = "/janus", .label = "chat",
    .steady_s = 30, .per_minute = 2, .burst_window_s = 1, .gap_s = 3, .drain_timeout_s = 60,
    .setup_timeout_s = 120, .setup_parallel = 200, .text_bytes = 64, .seed = 1,
};

/* ------------------------------------------------------------------------------ histogram */

/* Log-linear, microseconds: values below 2*SUB exact, then SUB buckets per power of two. */
#define H_SUB_BITS 6
#define H_SUB (1u << H_SUB_BITS)
#define H_BUCKETS (2 * H_SUB + (64 - H_SUB_BITS - 1) * H_SUB)

typedef struct hist {
    uint64_t n, max;
    uint64_t c[H_BUCKETS];
} hist;

static unsigned h_index(uint64_t v)
{
    if (v < 2 * H_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - H_SUB_BITS;
    return 2 * H_SUB + (shift - 1) * H_SUB + (unsigned)((v >> shift) - H_SUB);
}

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
    if (v > h->max)
        h->max = v;
    h->n++;
}

static double h_pct_ms(const hist *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)h->n + 0.999999), seen = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        seen += h->c[i];
        if (seen >= want) {
            uint64_t v = h_value(i);
            return (double)(v > h->max ? h->max : v) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

/* ------------------------------------------------------------------------------ state */

enum { PH_STEADY, PH_BURST, PH_N };
static const char *const phase_name[PH_N] = {"steady", "burst"};

enum { M_PLANNED, M_SENT, M_ACKED, M_REFUSED };

typedef struct msg_rec {
    int32_t sender;
    uint8_t phase, state;
    int64_t seq;
    int64_t sent_us;
    uint32_t delivered; /* receivers that had it (once each) */
} msg_rec;

enum { P_IDLE, P_CONNECTING, P_CREATING, P_ATTACHING, P_JOINING, P_JOINED, P_DEAD };

typedef struct part {
    ws_conn ws;
    int idx, node, state;
    uint64_t session_id, handle_id;
    int64_t last_seq;     /* the last seq delivered */
    int64_t keepalive_us; /* next keepalive */
    uint8_t *seen;        /* bitmap over message ids */
} part;

typedef struct plan_ev {
    int64_t at_us; /* from the phase's start */
    int32_t who;
} plan_ev;

typedef struct phase_stats {
    uint64_t planned, sent, acked, refused, delivered, dups, ooo, mismatch;
    uint64_t frames, frame_msgs; /* "messages" events received during the phase window */
    hist lat, ack;
    int64_t start_us, end_us, last_delivery_us;
    uint64_t cpu_odeon, cpu_pg, cpu_self; /* clock ticks over the phase */
} phase_stats;

static struct {
    part *parts;
    int epfd;
    struct sockaddr_in to[MAX_NODES];
    char host[MAX_NODES][80];
    uint8_t token_key[32];
    msg_rec *msgs;
    size_t n_msgs, cap_msgs, bitmap_bytes;
    plan_ev *plan[PH_N];
    size_t plan_len[PH_N], plan_next[PH_N];
    phase_stats ph[PH_N];
    int phase; /* what the clock is in: -1 setup, PH_STEADY, gap, PH_BURST */
    int joined, dead, opened, setup_errors;
    uint64_t unknown_deliveries, parse_errors, refusals_by_code[8];
    char first_error[160];
    int ka_cursor;
    char *filler;
    uint64_t rng;
    volatile sig_atomic_t stop;
} g;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double rnd(void)
{
    g.rng ^= g.rng << 13;
    g.rng ^= g.rng >> 7;
    g.rng ^= g.rng << 17;
    return (double)(g.rng >> 11) / 9007199254740992.0;
}

static void note_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void note_error(const char *fmt, ...)
{
    if (g.first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g.first_error, sizeof g.first_error, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------ credentials */

/* The tickets plugin's key: HMAC-SHA256(token_secret, "odeon tickets token key v1"). */
static void derive_key(const char *secret)
{
    static const char label[] = "odeon tickets token key v1";
    unsigned int len = sizeof g.token_key;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)label,
         sizeof label - 1, g.token_key, &len);
}

static char *b64url(const uint8_t *data, size_t len)
{
    char *s = g_base64_encode(data, len);
    size_t j = 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
        if (c != '=')
            s[j++] = c;
    }
    s[j] = '\0';
    return s;
}

/* "odt1.<payload>.<mac>" for participant pid of the event (tickets_token.h). */
static char *mint_credential(int64_t pid)
{
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    char name[48];
    g_snprintf(name, sizeof name, "Load participant %" PRId64, pid);
    json_t *claims = json_pack("{s:s, s:I, s:I, s:s, s:I, s:I}", "typ", "participant", "pid",
                               (json_int_t)pid, "ev", (json_int_t)opt.event_id, "name", name,
                               "iat", (json_int_t)now, "exp", (json_int_t)(now + 86400));
    char *text = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    char *payload = b64url((const uint8_t *)text, strlen(text));
    free(text);
    char *signed_part = g_strconcat("odt1.", payload, NULL);
    uint8_t mac[32];
    unsigned int mac_len = sizeof mac;
    HMAC(EVP_sha256(), g.token_key, sizeof g.token_key, (const unsigned char *)signed_part,
         strlen(signed_part), mac, &mac_len);
    char *mac64 = b64url(mac, mac_len);
    char *token = g_strconcat(signed_part, ".", mac64, NULL);
    g_free(payload);
    g_free(signed_part);
    g_free(mac64);
    return token;
}

/* ------------------------------------------------------------------------------ CPU */

static uint64_t proc_ticks(int pid, int *ppid)
{
    char path[64], buf[1024];
    g_snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command may hold spaces */
    unsigned long long ut = 0, st = 0;
    int pp = 0;
    if (p == NULL || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &pp,
                            &ut, &st) != 3)
        return 0;
    if (ppid)
        *ppid = pp;
    return ut + st;
}

/* The PostgreSQL server: the postmaster and every process it started (backends, writers). */
static uint64_t pg_ticks(void)
{
    if (opt.pg_pid <= 0)
        return 0;
    uint64_t sum = proc_ticks(opt.pg_pid, NULL);
    GDir *d = g_dir_open("/proc", 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)) != NULL) {
        if (!g_ascii_isdigit(name[0]))
            continue;
        int ppid = 0;
        uint64_t t = proc_ticks(atoi(name), &ppid);
        if (ppid == opt.pg_pid)
            sum += t;
    }
    if (d)
        g_dir_close(d);
    return sum;
}

typedef struct cpu_snap {
    uint64_t odeon, pg, self;
} cpu_snap;

static cpu_snap cpu_now(void)
{
    cpu_snap s = {.pg = pg_ticks(), .self = proc_ticks(getpid(), NULL)};
    for (int i = 0; i < opt.n_cpu_pids; i++)
        s.odeon += proc_ticks(opt.cpu_pids[i], NULL);
    return s;
}

/* ------------------------------------------------------------------------------ sending */

static void send_json(part *p, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (ws_send_text(&p->ws, text, strlen(text)) != 0 && p->state != P_DEAD) {
        note_error("participant %d: %s", p->idx, p->ws.error);
    }
    free(text);
}

static void send_create(part *p)
{
    char *token = mint_credential(opt.first_pid + p->idx);
    send_json(p, json_pack("{s:s, s:s, s:s}", "janus", "create", "transaction", "c", "token",
                           token));
    g_free(token);
    p->state = P_CREATING;
}

static void send_body(part *p, const char *tx, json_t *body)
{
    send_json(p, json_pack("{s:s, s:I, s:I, s:s, s:o}", "janus", "message", "session_id",
                           (json_int_t)p->session_id, "handle_id", (json_int_t)p->handle_id,
                           "transaction", tx, "body", body));
}

static msg_rec *msg_new(int who, int phase)
{
    if (g.n_msgs == g.cap_msgs)
        return NULL; /* the plan sized the table: never reached */
    msg_rec *m = &g.msgs[g.n_msgs++];
    *m = (msg_rec){.sender = who, .phase = (uint8_t)phase, .state = M_PLANNED};
    return m;
}

/* One chat message: "#<id>.<sent_us> <phase> <filler>", --text-bytes long. */
static void send_chat(part *p, int phase)
{
    phase_stats *ps = &g.ph[phase];
    if (p->state != P_JOINED)
        return; /* counted as planned, not sent */
    msg_rec *m = msg_new(p->idx, phase);
    if (m == NULL)
        return;
    size_t id = (size_t)(m - g.msgs);
    m->sent_us = now_us();
    char text[1100], tx[24];
    int n = g_snprintf(text, sizeof text, TEXT_MARK "%zu.%" PRId64 " %s ", id, m->sent_us,
                       phase_name[phase]);
    if (n < opt.text_bytes)
        g_snprintf(text + n, sizeof text - (size_t)n, "%.*s", opt.text_bytes - n, g.filler);
    g_snprintf(tx, sizeof tx, "m%zu", id);
    send_body(p, tx, json_pack("{s:s, s:I, s:s, s:s}", "request", "send", "event_id",
                               (json_int_t)opt.event_id, "room", "main", "text", text));
    m->state = M_SENT;
    ps->sent++;
}

static void send_keepalive(part *p)
{
    send_json(p, json_pack("{s:s, s:I, s:s}", "janus", "keepalive", "session_id",
                           (json_int_t)p->session_id, "transaction", "k"));
}

/* ------------------------------------------------------------------------------ receiving */

static void part_dead(part *p, const char *why)
{
    if (p->state == P_DEAD)
        return;
    if (p->state != P_JOINED)
        g.setup_errors++;
    note_error("participant %d (node %d): %s", p->idx, p->node + 1, why);
    p->state = P_DEAD;
    g.dead++;
    ws_close(&p->ws);
}

/* One delivered message (id from its text, seq from the JSON) to receiver p. */
static void delivered(part *p, size_t id, int64_t seq, int64_t at)
{
    if (id >= g.n_msgs) {
        g.unknown_deliveries++;
        return;
    }
    msg_rec *m = &g.msgs[id];
    phase_stats *ps = &g.ph[m->phase];
    uint8_t bit = (uint8_t)(1u << (id & 7));
    if (p->seen[id >> 3] & bit) {
        ps->dups++;
        return;
    }
    p->seen[id >> 3] |= bit;
    if (seq <= p->last_seq)
        ps->ooo++;
    else
        p->last_seq = seq;
    if (m->state == M_ACKED && m->seq != seq)
        ps->mismatch++;
    m->delivered++;
    ps->delivered++;
    ps->last_delivery_us = at;
    h_add(&ps->lat, (uint64_t)(at - m->sent_us));
}

/* A "messages" event: for each message its "seq" and then its "text" (#<id>.). */
static void on_messages(part *p, const char *text, int64_t at)
{
    if (g.phase >= 0 && g.phase < PH_N) {
        g.ph[g.phase].frames++;
    }
    const char *s = strstr(text, "\"messages\":[");
    while (s && (s = strstr(s, "\"seq\":")) != NULL) {
        char *end;
        int64_t seq = g_ascii_strtoll(s + 6, &end, 10);
        const char *t = strstr(end, "\"text\":\"" TEXT_MARK);
        if (t == NULL || end == s + 6) {
            g.parse_errors++;
            return;
        }
        size_t id = (size_t)g_ascii_strtoull(t + 9, &end, 10);
        if (*end != '.') {
            g.parse_errors++;
            return;
        }
        if (g.phase >= 0 && g.phase < PH_N)
            g.ph[g.phase].frame_msgs++;
        delivered(p, id, seq, at);
        s = end;
    }
}

static void on_sent(const char *tx, json_t *data)
{
    size_t id = (size_t)g_ascii_strtoull(tx + 1, NULL, 10);
    if (id >= g.n_msgs)
        return;
    msg_rec *m = &g.msgs[id];
    phase_stats *ps = &g.ph[m->phase];
    const char *chat = json_string_value(json_object_get(data, "chat"));
    if (g_strcmp0(chat, "sent") == 0) {
        m->seq = json_integer_value(json_object_get(data, "seq"));
        m->state = M_ACKED;
        ps->acked++;
        h_add(&ps->ack, (uint64_t)(now_us() - m->sent_us));
        return;
    }
    int code = (int)json_integer_value(json_object_get(data, "error_code"));
    m->state = M_REFUSED;
    ps->refused++;
    g.refusals_by_code[code >= 440 && code <= 447 ? code - 440 : 0]++;
    note_error("send refused: %s", json_string_value(json_object_get(data, "error")));
}

static void on_setup_reply(part *p, const char *janus, const char *tx, json_t *j)
{
    json_t *data = json_object_get(j, "data");
    if (strcmp(janus, "success") == 0 && strcmp(tx, "c") == 0) {
        p->session_id = (uint64_t)json_integer_value(json_object_get(data, "id"));
        send_json(p, json_pack("{s:s, s:I, s:s, s:s}", "janus", "attach", "session_id",
                               (json_int_t)p->session_id, "plugin", "odeon.plugin.chat",
                               "transaction", "a"));
        p->state = P_ATTACHING;
    } else if (strcmp(janus, "success") == 0 && strcmp(tx, "a") == 0) {
        p->handle_id = (uint64_t)json_integer_value(json_object_get(data, "id"));
        send_body(p, "j", json_pack("{s:s, s:I, s:s}", "request", "join", "event_id",
                                    (json_int_t)opt.event_id, "room", "main"));
        p->state = P_JOINING;
    } else if (strcmp(janus, "event") == 0 && strcmp(tx, "j") == 0) {
        json_t *pd = json_object_get(json_object_get(j, "plugindata"), "data");
        if (g_strcmp0(json_string_value(json_object_get(pd, "chat")), "joined") != 0) {
            char *dump = json_dumps(pd, JSON_COMPACT);
            part_dead(p, dump ? dump : "join refused");
            free(dump);
            return;
        }
        p->state = P_JOINED;
        g.joined++;
    } else if (strcmp(janus, "error") == 0) {
        const char *reason = json_string_value(json_object_get(json_object_get(j, "error"),
                                                               "reason"));
        part_dead(p, reason ? reason : "error");
    }
}

static void on_text(void *user, char *text, size_t len)
{
    (void)len;
    part *p = user;
    int64_t at = now_us();
    if (strstr(text, "\"chat\":\"messages\"") != NULL) {
        on_messages(p, text, at);
        return;
    }
    json_t *j = json_loads(text, 0, NULL);
    const char *janus = json_string_value(json_object_get(j, "janus"));
    const char *tx = json_string_value(json_object_get(j, "transaction"));
    if (janus == NULL || strcmp(janus, "ack") == 0) {
        json_decref(j);
        return;
    }
    if (strcmp(janus, "timeout") == 0 || strcmp(janus, "detached") == 0 ||
        strcmp(janus, "hangup") == 0)
        note_error("participant %d: %s from the server", p->idx, janus);
    else if (tx && tx[0] == 'm' && strcmp(janus, "event") == 0)
        on_sent(tx, json_object_get(json_object_get(j, "plugindata"), "data"));
    else if (tx)
        on_setup_reply(p, janus, tx, j);
    json_decref(j);
}

/* ------------------------------------------------------------------------------ connections */

static void part_open(part *p)
{
    if (ws_open(&p->ws, &g.to[p->node], g.host[p->node], opt.path, "janus-protocol") != 0) {
        part_dead(p, p->ws.error);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = p};
    if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, p->ws.fd, &ev) != 0) {
        part_dead(p, "epoll_ctl");
        return;
    }
    p->state = P_CONNECTING;
    g.opened++;
}

static void part_io(part *p, uint32_t events)
{
    if (p->state == P_DEAD)
        return;
    if ((events & EPOLLOUT) && ws_on_writable(&p->ws) != 0) {
        part_dead(p, p->ws.error);
        return;
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && ws_on_readable(&p->ws, on_text, p) != 0) {
        part_dead(p, p->ws.error);
        return;
    }
    /* A buffer keeps the size of the largest backlog it held (MBs once the server falls
     * behind): 15,000 of them would take the machine's memory. */
    if (p->ws.in->len == 0) {
        g_byte_array_unref(p->ws.in);
        p->ws.in = g_byte_array_new();
    }
    if (p->state == P_CONNECTING && p->ws.state == WS_OPEN)
        send_create(p);
}

/* Keeps at most --setup-parallel participants between connect and joined. */
static void setup_more(void)
{
    int busy = g.opened - g.joined - g.setup_errors;
    while (g.opened < opt.participants && busy < opt.setup_parallel) {
        part_open(&g.parts[g.opened]);
        busy++;
    }
}

/* Sessions time out after 60 s without a request: one keepalive per participant every 25 s,
 * spread evenly over the participants. */
static void keepalives(int64_t t)
{
    for (int i = 0; i < opt.participants; i++) {
        part *p = &g.parts[g.ka_cursor];
        if (p->keepalive_us > t)
            break;
        if (p->state == P_JOINED)
            send_keepalive(p);
        p->keepalive_us += KEEPALIVE_US;
        g.ka_cursor = (g.ka_cursor + 1) % opt.participants;
    }
}

/* ------------------------------------------------------------------------------ plan */

static int plan_cmp(const void *a, const void *b)
{
    const plan_ev *x = a, *y = b;
    return (x->at_us > y->at_us) - (x->at_us < y->at_us);
}

static void make_plans(void)
{
    int64_t period = (int64_t)(60e6 / opt.per_minute), steady = (int64_t)(opt.steady_s * 1e6);
    size_t cap = (size_t)opt.participants * (size_t)(steady / period + 2);
    g.plan[PH_STEADY] = g_new(plan_ev, cap);
    for (int i = 0; i < opt.participants; i++)
        for (int64_t t = (int64_t)(rnd() * (double)period); t < steady; t += period)
            g.plan[PH_STEADY][g.plan_len[PH_STEADY]++] = (plan_ev){t, i};
    g.plan[PH_BURST] = g_new(plan_ev, (size_t)opt.participants);
    for (int i = 0; i < opt.participants; i++)
        g.plan[PH_BURST][g.plan_len[PH_BURST]++] =
            (plan_ev){(int64_t)(rnd() * opt.burst_window_s * 1e6), i};
    for (int ph = 0; ph < PH_N; ph++) {
        qsort(g.plan[ph], g.plan_len[ph], sizeof(plan_ev), plan_cmp);
        g.ph[ph].planned = g.plan_len[ph];
    }
    g.cap_msgs = g.plan_len[PH_STEADY] + g.plan_len[PH_BURST];
    g.msgs = g_new0(msg_rec, g.cap_msgs);
    g.bitmap_bytes = (g.cap_msgs + 7) / 8;
}

/* Sends what the phase's plan has due by t. */
static void plan_run(int ph, int64_t t)
{
    while (g.plan_next[ph] < g.plan_len[ph] &&
           g.ph[ph].start_us + g.plan[ph][g.plan_next[ph]].at_us <= t) {
        send_chat(&g.parts[g.plan[ph][g.plan_next[ph]].who], ph);
        g.plan_next[ph]++;
    }
}

/* Every send of the phase answered and every acknowledged message had by every member. */
static bool phase_drained(int ph)
{
    phase_stats *ps = &g.ph[ph];
    return g.plan_next[ph] == g.plan_len[ph] && ps->acked + ps->refused == ps->sent &&
           ps->delivered >= ps->acked * (uint64_t)g.joined;
}

/* ------------------------------------------------------------------------------ main loop */

static void poll_once(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(g.epfd, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++)
        part_io(evs[i].data.ptr, evs[i].events);
}

static void cpu_phase(phase_stats *ps, cpu_snap a, cpu_snap b)
{
    ps->cpu_odeon = b.odeon - a.odeon;
    ps->cpu_pg = b.pg - a.pg;
    ps->cpu_self = b.self - a.self;
}

static int run_setup(void)
{
    int64_t deadline = now_us() + (int64_t)(opt.setup_timeout_s * 1e6);
    while (!g.stop && g.joined + g.setup_errors < opt.participants && now_us() < deadline) {
        setup_more();
        poll_once(20);
        keepalives(now_us());
    }
    return g.joined == opt.participants ? 0 : -1;
}

/* Runs phase ph's plan, then waits until it is drained (at least min_after_s after the last
 * send, at most --drain-timeout). */
static void run_phase(int ph, double min_after_s)
{
    phase_stats *ps = &g.ph[ph];
    fprintf(stderr, "chatload: %s starts\n", phase_name[ph]); /* run --perf waits for it */
    cpu_snap a = cpu_now();
    g.phase = ph;
    ps->start_us = now_us();
    while (!g.stop && g.plan_next[ph] < g.plan_len[ph]) {
        int64_t t = now_us();
        plan_run(ph, t);
        keepalives(t);
        int64_t next = g.plan_next[ph] < g.plan_len[ph]
                           ? ps->start_us + g.plan[ph][g.plan_next[ph]].at_us - now_us()
                           : 0;
        poll_once(next > 0 ? (int)MIN(next / 1000 + 1, 20) : 0);
    }
    int64_t sent_end = now_us();
    int64_t window_end = ps->start_us + (int64_t)((ph == PH_STEADY ? opt.steady_s
                                                                   : opt.burst_window_s) * 1e6);
    ps->end_us = MAX(sent_end, window_end);
    int64_t min_end = ps->end_us + (int64_t)(min_after_s * 1e6);
    int64_t deadline = ps->end_us + (int64_t)(opt.drain_timeout_s * 1e6);
    bool window_done = false;
    cpu_snap w = a;
    for (;;) {
        int64_t t = now_us();
        if (!window_done && t >= ps->end_us) {
            window_done = true;
            w = cpu_now(); /* the steady window's CPU stops here */
        }
        if (g.stop || t >= deadline || (window_done && t >= min_end && phase_drained(ph)))
            break;
        keepalives(t);
        poll_once(10);
    }
    /* Steady: CPU over its window (load in a steady state). Burst: until it is drained. */
    cpu_phase(ps, a, ph == PH_STEADY ? w : cpu_now());
    if (ph == PH_BURST)
        ps->end_us = ps->last_delivery_us > ps->end_us ? ps->last_delivery_us : ps->end_us;
    g.phase = -1;
}

/* ------------------------------------------------------------------------------ report */

static void report_phase(GString *o, int ph, long tck)
{
    phase_stats *ps = &g.ph[ph];
    const char *n = phase_name[ph];
    uint64_t expected = ps->acked * (uint64_t)g.joined;
    uint64_t missing = expected > ps->delivered ? expected - ps->delivered : 0;
    double secs = (double)(ps->end_us - ps->start_us) / 1e6;
    double span = ps->last_delivery_us > ps->start_us
                      ? (double)(ps->last_delivery_us - ps->start_us) / 1e6
                      : 0;
    double odeon_us = (double)ps->cpu_odeon * 1e6 / (double)tck;
    double pg_us = (double)ps->cpu_pg * 1e6 / (double)tck;
    double posted = ps->acked ? (double)ps->acked : 1, dels = ps->delivered ? (double)ps->delivered : 1;
    g_string_append_printf(
        o,
        ",\"%s_planned\":%" PRIu64 ",\"%s_sent\":%" PRIu64 ",\"%s_acked\":%" PRIu64
        ",\"%s_refused\":%" PRIu64 ",\"%s_expected\":%" PRIu64 ",\"%s_delivered\":%" PRIu64
        ",\"%s_missing\":%" PRIu64 ",\"%s_dups\":%" PRIu64 ",\"%s_ooo\":%" PRIu64
        ",\"%s_seq_mismatch\":%" PRIu64,
        n, ps->planned, n, ps->sent, n, ps->acked, n, ps->refused, n, expected, n, ps->delivered,
        n, missing, n, ps->dups, n, ps->ooo, n, ps->mismatch);
    g_string_append_printf(
        o,
        ",\"%s_p50_ms\":%.1f,\"%s_p90_ms\":%.1f,\"%s_p99_ms\":%.1f,\"%s_max_ms\":%.1f,"
        "\"%s_ack_p50_ms\":%.1f,\"%s_ack_p99_ms\":%.1f,\"%s_window_s\":%.2f,"
        "\"%s_last_delivery_s\":%.2f,\"%s_msgs_per_s\":%.1f,\"%s_deliveries_per_s\":%.0f,"
        "\"%s_frames_per_s\":%.0f,\"%s_msgs_per_frame\":%.1f",
        n, h_pct_ms(&ps->lat, 50), n, h_pct_ms(&ps->lat, 90), n, h_pct_ms(&ps->lat, 99), n,
        (double)ps->lat.max / 1000.0, n, h_pct_ms(&ps->ack, 50), n, h_pct_ms(&ps->ack, 99), n,
        secs, n, span, n, (double)ps->acked / secs, n,
        (double)ps->delivered / MAX(span, secs), n, (double)ps->frames / secs, n,
        ps->frames ? (double)ps->frame_msgs / (double)ps->frames : 0);
    g_string_append_printf(
        o,
        ",\"%s_cpu_odeon_ms\":%.0f,\"%s_cpu_pg_ms\":%.0f,\"%s_cpu_gen_ms\":%.0f,"
        "\"%s_odeon_us_per_msg\":%.0f,\"%s_pg_us_per_msg\":%.0f,"
        "\"%s_odeon_ms_per_1k_deliveries\":%.2f,\"%s_odeon_cores\":%.2f,\"%s_gen_cores\":%.2f",
        n, odeon_us / 1000, n, pg_us / 1000, n, (double)ps->cpu_self * 1000.0 / (double)tck, n,
        odeon_us / posted, n, pg_us / posted, n, odeon_us / dels, n, odeon_us / 1e6 / secs, n,
        (double)ps->cpu_self / (double)tck / secs);
}

static int report(bool setup_ok)
{
    long tck = sysconf(_SC_CLK_TCK);
    GString *o = g_string_new(NULL);
    g_string_append_printf(o,
                           "{\"label\":\"%s\",\"participants\":%d,\"nodes\":%d,\"joined\":%d,"
                           "\"dead\":%d,\"setup_ok\":%s,\"unknown_deliveries\":%" PRIu64
                           ",\"parse_errors\":%" PRIu64,
                           opt.label, opt.participants, opt.n_nodes, g.joined, g.dead,
                           setup_ok ? "true" : "false", g.unknown_deliveries, g.parse_errors);
    for (int ph = 0; ph < PH_N; ph++)
        report_phase(o, ph, tck);
    g_string_append_printf(o, ",\"first_error\":\"%s\"}", g.first_error);
    for (char *c = o->str + 1; *c; c++)
        if (*c == '\\')
            *c = '/';
    printf("%s\n", o->str);
    fflush(stdout);
    bool ok = setup_ok && g.dead == 0 && g.unknown_deliveries == 0 && g.parse_errors == 0;
    for (int ph = 0; ph < PH_N; ph++) {
        phase_stats *ps = &g.ph[ph];
        ok = ok && ps->refused == 0 && ps->dups == 0 && ps->ooo == 0 && ps->mismatch == 0 &&
             ps->acked == ps->planned && ps->delivered == ps->acked * (uint64_t)g.joined;
        fprintf(stderr,
                "chatload: %s: %" PRIu64 " sent, %" PRIu64 " acked, %" PRIu64
                " delivered of %" PRIu64 ", p50 %.1f ms, p99 %.1f ms, max %.1f ms, last "
                "delivery after %.1f s\n",
                phase_name[ph], ps->sent, ps->acked, ps->delivered,
                ps->acked * (uint64_t)g.joined, h_pct_ms(&ps->lat, 50), h_pct_ms(&ps->lat, 99),
                (double)ps->lat.max / 1000.0,
                (double)(ps->last_delivery_us - ps->start_us) / 1e6);
    }
    if (g.first_error[0])
        fprintf(stderr, "chatload: first error: %s\n", g.first_error);
    g_string_free(o, TRUE);
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------------------ options */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: chatload --nodes URL[,URL...] --secret S --event-id E [options]\n"
            "  --nodes LIST          http://IP:PORT of each node; participants round robin\n"
            "  --secret S            the tickets plugin's token_secret (credentials are minted)\n"
            "  --event-id E          the event (its participants' rows should exist)\n"
            "  --first-pid P         participant ids P .. P+N-1 (default 1)\n"
            "  --participants N      (default 100)\n"
            "  --steady S            steady window, seconds (default 30)\n"
            "  --per-minute R        messages per participant and minute (default 2)\n"
            "  --burst-window S      every participant sends once within S seconds (default 1)\n"
            "  --gap S               at least S seconds between the phases (default 3)\n"
            "  --drain-timeout S     longest wait for deliveries after a phase (default 60)\n"
            "  --setup-timeout S     longest setup (default 120)\n"
            "  --setup-parallel N    sessions being set up at once (default 200)\n"
            "  --text-bytes N        message length (default 64)\n"
            "  --path P              WebSocket path (default /janus)\n"
            "  --cpu-pids LIST       odeon pids whose CPU is measured\n"
            "  --pg-pid PID          the postmaster: its CPU and its children's is measured\n"
            "  --seed N              random phases (default 1)\n"
            "  --label L             put in the JSON line\n"
            "Output: one JSON line on stdout, a summary on stderr. Exit status 0 when every\n"
            "message was acknowledged and delivered to every member once and in order, 1\n"
            "otherwise, 2 on bad options or a failed setup.\n");
}

static void split_list(char *s, bool pids)
{
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ","))
        if (pids && opt.n_cpu_pids < MAX_NODES)
            opt.cpu_pids[opt.n_cpu_pids++] = atoi(tok);
        else if (!pids && opt.n_nodes < MAX_NODES)
            opt.nodes[opt.n_nodes++] = tok;
}

static int parse_options(int argc, char **argv)
{
    static const struct option lo[] = {
        {"nodes", 1, 0, 'n'},         {"secret", 1, 0, 's'},       {"event-id", 1, 0, 'e'},
        {"first-pid", 1, 0, 'f'},     {"participants", 1, 0, 'N'}, {"steady", 1, 0, 'S'},
        {"per-minute", 1, 0, 'r'},    {"burst-window", 1, 0, 'b'}, {"gap", 1, 0, 'g'},
        {"drain-timeout", 1, 0, 'd'}, {"setup-timeout", 1, 0, 'T'}, {"setup-parallel", 1, 0, 'P'},
        {"text-bytes", 1, 0, 'x'},    {"path", 1, 0, 'p'},         {"cpu-pids", 1, 0, 'c'},
        {"pg-pid", 1, 0, 'G'},        {"seed", 1, 0, 'R'},         {"label", 1, 0, 'l'},
        {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'n': split_list(optarg, false); break;
        case 's': opt.secret = optarg; break;
        case 'e': opt.event_id = atoll(optarg); break;
        case 'f': opt.first_pid = atoll(optarg); break;
        case 'N': opt.participants = atoi(optarg); break;
        case 'S': opt.steady_s = atof(optarg); break;
        case 'r': opt.per_minute = atof(optarg); break;
        case 'b': opt.burst_window_s = atof(optarg); break;
        case 'g': opt.gap_s = atof(optarg); break;
        case 'd': opt.drain_timeout_s = atof(optarg); break;
        case 'T': opt.setup_timeout_s = atof(optarg); break;
        case 'P': opt.setup_parallel = atoi(optarg); break;
        case 'x': opt.text_bytes = atoi(optarg); break;
        case 'p': opt.path = optarg; break;
        case 'c': split_list(optarg, true); break;
        case 'G': opt.pg_pid = atoi(optarg); break;
        case 'R': opt.seed = (unsigned)atoi(optarg); break;
        case 'l': opt.label = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (opt.n_nodes == 0 || opt.secret == NULL || opt.participants < 1 || opt.per_minute <= 0 ||
        opt.steady_s <= 0 || opt.burst_window_s <= 0 || opt.text_bytes < 40 ||
        opt.text_bytes > 1000 || opt.setup_parallel < 1)
        return -1;
    for (int i = 0; i < opt.n_nodes; i++)
        if (ws_parse_url(opt.nodes[i], &g.to[i], g.host[i], sizeof g.host[i]) != 0) {
            fprintf(stderr, "chatload: bad node address %s\n", opt.nodes[i]);
            return -1;
        }
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    g.stop = 1;
}

static void init_state(void)
{
    derive_key(opt.secret);
    g.rng = 0x9E3779B97F4A7C15ull ^ opt.seed;
    make_plans();
    g.filler = g_strnfill(1000, 'x');
    for (int i = 0; i < 1000; i += 6)
        memcpy(g.filler + i, i % 12 ? "chat  " : "load  ", MIN(6, 1000 - i));
    g.parts = g_new0(part, (size_t)opt.participants);
    int64_t t = now_us();
    for (int i = 0; i < opt.participants; i++) {
        part *p = &g.parts[i];
        p->idx = i;
        p->node = i % opt.n_nodes;
        p->ws.fd = -1;
        p->seen = g_malloc0(g.bitmap_bytes);
        p->keepalive_us = t + KEEPALIVE_US * (i + 1) / opt.participants;
    }
    g.phase = -1;
}

static void cleanup(void)
{
    for (int i = 0; i < opt.participants; i++) {
        if (g.parts[i].ws.fd >= 0 || g.parts[i].ws.in)
            ws_close(&g.parts[i].ws);
        g_free(g.parts[i].seen);
    }
    g_free(g.parts);
    g_free(g.msgs);
    g_free(g.plan[PH_STEADY]);
    g_free(g.plan[PH_BURST]);
    g_free(g.filler);
    close(g.epfd);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (parse_options(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.participants + 64) {
        fprintf(stderr, "chatload: the open file limit (%llu) is too low for %d sessions\n",
                (unsigned long long)rl.rlim_cur, opt.participants);
        return 2;
    }
    /* Read buffers of MBs come and go when the server falls behind; with glibc's adaptive
     * threshold they would end up on the heap and the process keep GBs it no longer uses. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    init_state();
    int64_t t0 = now_us();
    bool setup_ok = run_setup() == 0;
    fprintf(stderr, "chatload: %d of %d participants joined in %.1f s%s%s\n", g.joined,
            opt.participants, (double)(now_us() - t0) / 1e6, g.first_error[0] ? "; " : "",
            g.first_error);
    if (setup_ok && !g.stop) {
        run_phase(PH_STEADY, opt.gap_s);
        if (!g.stop)
            run_phase(PH_BURST, 0);
    }
    int rc = report(setup_ok);
    cleanup();
    return g.stop ? 1 : (setup_ok ? rc : 2);
}
