/*
 * stage_uplink.c - the relay side of relay links: subscribing to a stage on the upstream
 * node, receiving its lanes into a local stage, NACKs and PLIs back up, resubscribing after
 * silence and closing after the grace period (see stage_relay.h).
 *
 * Ownership: an uplink lives in the `uplinks` table from the first request for its stage
 * until the relay thread frees it (grace expired, or its first subscription failed). The
 * relay thread alone uses its socket and SRTP session; a relay-connect thread prepares a new
 * socket and session off to the side and hands them over under uplinks_lock.
 */
#include "stage_relay.h"
#include "stage_rtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "webrtc/srtp.h"

#define LOG(level, ...) stage_core->log(level, "relay", __VA_ARGS__)
#define NACK_MAX 128
#define NACK_RETRY_US (30 * 1000)
#define NACK_GIVE_UP_US (600 * 1000)
#define RR_INTERVAL_US (500 * 1000)
#define PLI_INTERVAL_US (300 * 1000)
#define RETRY_MIN_US (250 * 1000)
#define RETRY_MAX_US (4 * G_USEC_PER_SEC)
#define REQUEST_TIMEOUT_MS 3000L /* a subscription or DELETE to the upstream */

typedef struct lane_state {
    bool seen;        /* a packet of this lane came on the current link */
    bool any;         /* ... on any link */
    uint16_t highest; /* highest link sequence number on the current link */
    uint16_t offset;  /* stage seq = link seq + offset (continuity across links) */
    uint16_t last_out;
} lane_state;

typedef struct nack_entry {
    uint8_t lane;
    uint16_t seq;
    uint8_t tries;
    gint64 first_us, sent_us;
} nack_entry;

typedef struct uplink_waiter {
    stage_relay_ready_fn fn;
    void *user_data;
} uplink_waiter;

typedef enum {
    UPLINK_CONNECTING,
    UPLINK_UP,
    UPLINK_RETRY
} uplink_state;

struct relay_uplink {
    uint64_t stage_id;
    stage *stage; /* reference, NULL until the first subscription succeeds */
    char **path;  /* the nodes the first request came through (loop detection) */
    uplink_state state;
    bool connecting; /* a relay-connect thread runs */
    GThread *connect_thread;
    GPtrArray *waiters; /* uplink_waiter * */
    /* handed over by the connect thread */
    int pending_fd;
    odeon_srtp *pending_srtp;
    char pending_link[33];
    char *upstream_node;
    /* relay thread only */
    int fd;
    odeon_srtp *srtp;
    char link_id[33];
    gint64 connected_us, last_rx_us, last_rr_us, last_pli_us, retry_at_us, empty_since_us;
    gint64 retry_us;
    lane_state lanes[RELAY_LANES];
    nack_entry nacks[NACK_MAX];
    unsigned nack_count;
    gint keyframe_wanted; /* atomic */
    guint64 packets, bytes, lost, repaired, nacks_sent, plis_sent, resubscriptions;
};

static GMutex uplinks_lock;
static GHashTable *uplinks;  /* stage id -> relay_uplink * */
static GPtrArray *graveyard; /* uplinks out of the table, for the relay thread to free */
static bool stopping;        /* no new connect threads */

static bool nonce_ok(const char *s)
{
    if (s == NULL || strlen(s) != 32)
        return false;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isxdigit(*p))
            return false;
    return true;
}

/* ---- the subscription request (relay-connect thread) ---- */

typedef struct http_reply {
    GString *body;
} http_reply;

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    http_reply *r = user;
    if (r->body->len + size * n > 1 << 20)
        return 0;
    g_string_append_len(r->body, data, (gssize)(size * n));
    return size * n;
}

/* A signed request to the upstream: the status (0: unreachable) and the body in *reply. */
static long upstream_call(const char *method, const char *path, const char *body, char **reply,
                          char *primary_ip, size_t ip_cap)
{
    const odeon_node_info *self = stage_core->node_info();
    char *url = g_strconcat(self->upstream, path, NULL);
    char *auth = stage_core->node_sign(method, path, body, body ? strlen(body) : 0);
    char *header = g_strconcat("Authorization: ", auth ? auth : "", NULL);
    free(auth);
    struct curl_slist *headers = curl_slist_append(NULL, header);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    http_reply r = {.body = g_string_new(NULL)};
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        char *ip = NULL;
        if (primary_ip && curl_easy_getinfo(curl, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip)
            g_strlcpy(primary_ip, ip, ip_cap);
    }
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    g_free(header);
    g_free(url);
    *reply = g_string_free(r.body, FALSE);
    return status;
}

/* The upstream's address (host of [cluster] upstream, resolved) for the media socket. */
static bool upstream_address(struct sockaddr_storage *out, socklen_t *len)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, stage_core->node_info()->upstream, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
    if (ok && host[0] == '[') { /* an IPv6 literal comes bracketed */
        host[strlen(host) - 1] = '\0';
        memmove(host, host + 1, strlen(host));
    }
    ok = ok && getaddrinfo(host, "9", &hints, &res) == 0 && res != NULL;
    if (ok) {
        memcpy(out, res->ai_addr, res->ai_addrlen);
        *len = res->ai_addrlen;
    }
    if (res)
        freeaddrinfo(res);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static void set_port(struct sockaddr_storage *a, uint16_t port)
{
    if (a->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)a)->sin_port = htons(port);
}

/* A UDP socket bound to the local address that routes to the upstream (the address the
 * upstream will send to), not connected yet: packets the upstream sends before our
 * subscription's answer arrives wait in it. */
static int media_socket(const struct sockaddr_storage *upstream, socklen_t ulen, char *ip,
                        size_t ip_cap, uint16_t *port)
{
    int probe = socket(upstream->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    bool ok = probe >= 0 && connect(probe, (const struct sockaddr *)upstream, ulen) == 0 &&
              getsockname(probe, (struct sockaddr *)&local, &llen) == 0;
    if (probe >= 0)
        close(probe);
    int fd = ok ? socket(upstream->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
    if (fd < 0)
        return -1;
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    set_port(&local, 0);
    llen = local.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&local, llen) != 0 ||
        getsockname(fd, (struct sockaddr *)&local, &llen) != 0) {
        close(fd);
        return -1;
    }
    const void *a = local.ss_family == AF_INET6
                        ? (const void *)&((struct sockaddr_in6 *)&local)->sin6_addr
                        : (const void *)&((struct sockaddr_in *)&local)->sin_addr;
    inet_ntop(local.ss_family, a, ip, (socklen_t)ip_cap);
    *port = ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port
                                              : ((struct sockaddr_in *)&local)->sin_port);
    return fd;
}

static bool track_from_json(stage_track *t, json_t *j)
{
    const char *codec = json_string_value(json_object_get(j, "codec"));
    const char *mid = json_string_value(json_object_get(j, "mid"));
    json_int_t pt = json_integer_value(json_object_get(j, "pt"));
    if (codec == NULL || mid == NULL || pt < 0 || pt > 127)
        return false;
    *t = (stage_track){.video = json_is_true(json_object_get(j, "video")),
                       .pt = (uint8_t)pt,
                       .clock_rate = (uint32_t)json_integer_value(json_object_get(j, "clock_rate")),
                       .sockets = {-1, -1, -1},
                       .simulcast = json_is_true(json_object_get(j, "simulcast"))};
    g_strlcpy(t->mid, mid, sizeof t->mid);
    g_strlcpy(t->codec, codec, sizeof t->codec);
    const char *fmtp = json_string_value(json_object_get(j, "fmtp"));
    t->fmtp = fmtp ? g_strdup(fmtp) : NULL;
    return true;
}

/* The relayed stage from the upstream's description (new reference), registered; NULL if
 * the description is unusable or the id is taken by a local stage. */
static stage *stage_from_description(uint64_t id, json_t *desc)
{
    json_t *tracks = json_object_get(desc, "tracks");
    size_t n = json_array_size(tracks);
    if (n == 0 || n > STAGE_MAX_TRACKS)
        return NULL;
    stage *s = stage_new(id);
    const char *text = json_string_value(json_object_get(desc, "description"));
    const char *pin = json_string_value(json_object_get(desc, "pin"));
    s->description = g_strdup(text ? text : "");
    s->pin = pin ? g_strdup(pin) : NULL;
    const char *event = json_string_value(json_object_get(desc, "event"));
    s->event = event ? g_strdup(event) : NULL;
    bool ok = event == NULL || stage_event_id_valid(event);
    for (size_t i = 0; i < n && ok; i++)
        ok = track_from_json(&s->tracks[s->track_count++], json_array_get(tracks, i));
    char *error = NULL;
    if (!ok || stage_register(s, &error) != 0) {
        LOG(ODEON_LOG_ERROR, "stage %" G_GUINT64_FORMAT " from upstream: %s", id,
            error ? error : "unusable description");
        g_free(error);
        stage_unref(s);
        return NULL;
    }
    return s;
}

typedef struct attempt {
    int status;
    const char *error; /* static */
    char detail[256];  /* the upstream's own error text */
    json_t *answer;
    int fd;
    char link[33], nonce[33];
} attempt;

static void random_hex(char *out, size_t bytes)
{
    uint8_t raw[32];
    RAND_bytes(raw, (int)bytes);
    for (size_t i = 0; i < bytes; i++)
        g_snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static char *subscription_body(relay_uplink *u, const attempt *a, const char *ip, uint16_t port)
{
    json_t *path = json_array();
    for (char **p = u->path; p && *p; p++)
        json_array_append_new(path, json_string(*p));
    const char *self = stage_core->node_info()->id;
    size_t n = json_array_size(path);
    if (n == 0 || strcmp(json_string_value(json_array_get(path, n - 1)), self) != 0)
        json_array_append_new(path, json_string(self));
    json_t *body = json_pack("{s:s, s:s, s:o, s:s, s:i, s:s}", "link", a->link, "node", self,
                             "path", path, "address", ip, "port", (int)port, "nonce", a->nonce);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

static void attempt_run(relay_uplink *u, attempt *a)
{
    struct sockaddr_storage up;
    socklen_t ulen = 0;
    char ip[INET6_ADDRSTRLEN] = "";
    uint16_t port = 0;
    a->fd = -1;
    if (!upstream_address(&up, &ulen) ||
        (a->fd = media_socket(&up, ulen, ip, sizeof ip, &port)) < 0) {
        *a = (attempt){.status = 502, .error = "upstream unreachable (address)", .fd = -1};
        return;
    }
    random_hex(a->link, 16);
    random_hex(a->nonce, 16);
    char *body = subscription_body(u, a, ip, port);
    char *path = g_strdup_printf("%s%" G_GUINT64_FORMAT, RELAY_ROUTE, u->stage_id);
    char *reply = NULL;
    long status = upstream_call("POST", path, body, &reply, NULL, 0);
    json_error_t jerr;
    json_t *answer = reply ? json_loads(reply, 0, &jerr) : NULL;
    json_int_t mport = json_integer_value(json_object_get(answer, "port"));
    if (status == 200 && json_is_object(json_object_get(answer, "stage")) && mport > 0 &&
        mport < 65536) {
        set_port(&up, (uint16_t)mport);
        if (connect(a->fd, (struct sockaddr *)&up, ulen) == 0) {
            a->status = 200;
            a->answer = answer;
            answer = NULL;
        } else {
            a->status = 502;
            a->error = "cannot reach the upstream's media port";
        }
    } else {
        a->status = status == 0 ? 502 : (int)status;
        a->error = status == 0 ? "upstream unreachable" : "upstream refused the subscription";
        const char *why = json_string_value(json_object_get(answer, "error"));
        if (why)
            g_strlcpy(a->detail, why, sizeof a->detail);
    }
    json_decref(answer);
    g_free(reply);
    g_free(path);
    g_free(body);
}

static void waiters_answer(GPtrArray *waiters, stage *s, int status, const char *error)
{
    for (guint i = 0; i < waiters->len; i++) {
        uplink_waiter *w = g_ptr_array_index(waiters, i);
        w->fn(s ? stage_ref(s) : NULL, status, error, w->user_data);
        g_free(w);
    }
    g_ptr_array_unref(waiters);
}

static void attempt_hand_over(relay_uplink *u, attempt *a, stage *s)
{
    const char *unonce = json_string_value(json_object_get(a->answer, "nonce"));
    odeon_srtp *srtp = nonce_ok(unonce) ? relay_link_srtp(a->link, a->nonce, unonce, true) : NULL;
    const char *node = json_string_value(json_object_get(a->answer, "node"));
    g_mutex_lock(&uplinks_lock);
    if (u->pending_fd >= 0)
        close(u->pending_fd);
    odeon_srtp_free(u->pending_srtp);
    u->pending_fd = srtp ? a->fd : -1;
    u->pending_srtp = srtp;
    g_strlcpy(u->pending_link, a->link, sizeof u->pending_link);
    g_free(u->upstream_node);
    u->upstream_node = g_strdup(node ? node : "?");
    if (u->stage == NULL)
        u->stage = stage_ref(s);
    g_mutex_unlock(&uplinks_lock);
    if (srtp == NULL)
        close(a->fd);
    a->fd = -1;
    relay_thread_changed();
}

static gpointer connect_main(gpointer data)
{
    relay_uplink *u = data;
    attempt a = {0};
    attempt_run(u, &a);
    stage *s = NULL;
    if (a.status == 200) {
        g_mutex_lock(&uplinks_lock);
        s = u->stage ? stage_ref(u->stage) : NULL;
        g_mutex_unlock(&uplinks_lock);
        if (s == NULL)
            s = stage_from_description(u->stage_id, json_object_get(a.answer, "stage"));
        if (s == NULL)
            a = (attempt){.status = 502,
                          .error = "unusable stage from upstream",
                          .fd = a.fd,
                          .answer = a.answer};
        else
            attempt_hand_over(u, &a, s);
    }
    if (a.fd >= 0)
        close(a.fd);
    json_decref(a.answer);
    const char *error = a.detail[0] ? a.detail : a.error;
    if (a.status != 200)
        LOG(ODEON_LOG_WARN, "stage %" G_GUINT64_FORMAT ": subscription upstream failed (%d): %s",
            u->stage_id, a.status, error);
    g_mutex_lock(&uplinks_lock);
    GPtrArray *waiters = u->waiters;
    u->waiters = g_ptr_array_new();
    bool first_failed = a.status != 200 && u->stage == NULL;
    if (first_failed) {
        g_hash_table_steal(uplinks, &u->stage_id);
        g_ptr_array_add(graveyard, u); /* the relay thread frees it */
    }
    u->connecting = false;
    g_mutex_unlock(&uplinks_lock);
    waiters_answer(waiters, s, a.status, error);
    if (s)
        stage_unref(s);
    return NULL;
}

/* Call with uplinks_lock. */
static void connect_start_locked(relay_uplink *u)
{
    if (u->connecting || stopping)
        return;
    if (u->connect_thread)
        g_thread_join(u->connect_thread); /* the previous attempt has returned */
    u->connecting = true;
    u->connect_thread = g_thread_new("relay-connect", connect_main, u);
}

void stage_relay_request(uint64_t id, const char *const *path, stage_relay_ready_fn fn,
                         void *user_data)
{
    g_mutex_lock(&uplinks_lock);
    if (uplinks == NULL) {
        g_mutex_unlock(&uplinks_lock);
        fn(NULL, 503, "relay links are stopping", user_data);
        return;
    }
    relay_uplink *u = g_hash_table_lookup(uplinks, &id);
    if (u != NULL && u->stage != NULL) {
        /* Known already: its viewers keep it even while the link is being remade. */
        stage *s = stage_ref(u->stage);
        u->empty_since_us = 0;
        g_mutex_unlock(&uplinks_lock);
        fn(s, 200, NULL, user_data);
        return;
    }
    if (u == NULL && stopping) {
        g_mutex_unlock(&uplinks_lock);
        fn(NULL, 503, "relay links are stopping", user_data);
        return;
    }
    if (u == NULL) {
        u = g_new0(relay_uplink, 1);
        u->stage_id = id;
        u->fd = u->pending_fd = -1;
        u->retry_us = RETRY_MIN_US;
        u->waiters = g_ptr_array_new();
        u->path = g_strdupv((char **)path);
        g_hash_table_insert(uplinks, &u->stage_id, u);
    }
    uplink_waiter *w = g_new0(uplink_waiter, 1);
    *w = (uplink_waiter){.fn = fn, .user_data = user_data};
    g_ptr_array_add(u->waiters, w);
    connect_start_locked(u);
    g_mutex_unlock(&uplinks_lock);
}

void stage_relay_keyframe(stage *s)
{
    relay_uplink *u = s->uplink;
    if (u != NULL) {
        g_atomic_int_set(&u->keyframe_wanted, 1);
        stage_relay_wake();
    }
}

/* ---- the relay thread ---- */

void relay_uplinks_poll_add(GArray *fds, GPtrArray *owners)
{
    g_mutex_lock(&uplinks_lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, uplinks);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        relay_uplink *u = value;
        if (u->fd < 0)
            continue;
        struct pollfd p = {.fd = u->fd, .events = POLLIN};
        g_array_append_val(fds, p);
        g_ptr_array_add(owners, u);
    }
    g_mutex_unlock(&uplinks_lock);
}

static void uplink_send_rtcp(relay_uplink *u, uint8_t *buf, size_t len, size_t cap)
{
    if (u->fd >= 0 && odeon_srtp_protect_rtcp(u->srtp, buf, &len, cap) == 0 &&
        send(u->fd, buf, len, MSG_DONTWAIT) < 0) {
        /* the upstream is away: silence will tell */
    }
}

static void nack_add(relay_uplink *u, uint8_t lane, uint16_t seq, gint64 now)
{
    if (u->nack_count == NACK_MAX)
        return;
    u->nacks[u->nack_count++] = (nack_entry){.lane = lane, .seq = seq, .first_us = now};
    u->lost++;
}

static void nack_repaired(relay_uplink *u, uint8_t lane, uint16_t seq)
{
    for (unsigned i = 0; i < u->nack_count; i++)
        if (u->nacks[i].lane == lane && u->nacks[i].seq == seq) {
            u->nacks[i] = u->nacks[--u->nack_count];
            u->repaired++;
            return;
        }
}

/* A packet of the current link: rewrites its sequence number into the stage's (continuous
 * across links) and notes gaps for NACKs. false: a duplicate or hopelessly old. */
static bool lane_accept(relay_uplink *u, uint8_t lane, uint8_t *pkt, gint64 now)
{
    lane_state *l = &u->lanes[lane];
    uint16_t seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
    if (!l->seen) {
        l->offset = l->any ? (uint16_t)(l->last_out + 1 - seq) : 0;
        l->seen = l->any = true;
        l->highest = (uint16_t)(seq - 1);
    }
    int16_t ahead = (int16_t)(seq - l->highest);
    if (ahead > 0) {
        for (uint16_t s = (uint16_t)(l->highest + 1); s != seq && ahead <= 64; s++)
            nack_add(u, lane, s, now);
        l->highest = seq;
        l->last_out = (uint16_t)(seq + l->offset);
    } else {
        nack_repaired(u, lane, seq);
    }
    uint16_t out = (uint16_t)(seq + l->offset);
    pkt[2] = (uint8_t)(out >> 8);
    pkt[3] = (uint8_t)out;
    return true;
}

static void uplink_send_nacks(relay_uplink *u, gint64 now);

static bool uplink_rtp(relay_uplink *u, uint8_t *buf, size_t len, gint64 now)
{
    if (odeon_srtp_unprotect_rtp(u->srtp, buf, &len) != 0 || len < 12)
        return false;
    uint32_t ssrc =
        (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
    uint32_t lane = ssrc - RELAY_SSRC_BASE;
    size_t track = lane / STAGE_LAYERS_MAX;
    if (lane >= RELAY_LANES || track >= u->stage->track_count)
        return false;
    u->last_rx_us = now;
    u->packets++;
    u->bytes += len;
    if (!lane_accept(u, (uint8_t)lane, buf, now))
        return false;
    return stage_packet_store(u->stage, track, (int)(lane % STAGE_LAYERS_MAX), buf, len);
}

void relay_uplink_readable(relay_uplink *u, gint64 now)
{
    static uint8_t buf[2048] __attribute__((aligned(16)));
    bool stored = false;
    for (int k = 0; k < 64 && u->fd >= 0 && u->srtp; k++) {
        ssize_t got = recv(u->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got <= 0)
            break;
        size_t len = (size_t)got;
        if (len >= 8 && buf[1] >= 192 && buf[1] <= 223) {
            if (odeon_srtp_unprotect_rtcp(u->srtp, buf, &len) == 0)
                u->last_rx_us = now; /* the upstream's sender report: the link lives */
        } else if (len >= 12) {
            stored |= uplink_rtp(u, buf, len, now);
        }
    }
    if (stored)
        stage_wake_loops(u->stage);
    if (u->nack_count > 0 && u->fd >= 0 && u->srtp)
        uplink_send_nacks(u, now);
}

#define SELF_SSRC (RELAY_SSRC_BASE + 0xff)

/* NACKs for the gaps due: new ones at once, then again every NACK_RETRY_US until repaired or
 * too old to help. */
static void uplink_send_nacks(relay_uplink *u, gint64 now)
{
    uint8_t buf[64 + ODEON_SRTP_RTCP_TAIL_ROOM] __attribute__((aligned(16)));
    for (unsigned i = 0; i < u->nack_count;) {
        nack_entry *n = &u->nacks[i];
        if (now - n->first_us > NACK_GIVE_UP_US || n->tries >= 8) {
            *n = u->nacks[--u->nack_count];
            continue;
        }
        if (now - n->sent_us >= NACK_RETRY_US) {
            n->sent_us = now;
            n->tries++;
            u->nacks_sent++;
            uint16_t link_seq = n->seq;
            uplink_send_rtcp(u, buf,
                             relay_rtcp_nack(buf, SELF_SSRC, RELAY_SSRC_BASE + n->lane, link_seq),
                             sizeof buf);
        }
        i++;
    }
}

static void uplink_feedback(relay_uplink *u, gint64 now)
{
    uint8_t buf[64 + ODEON_SRTP_RTCP_TAIL_ROOM] __attribute__((aligned(16)));
    uint32_t self = SELF_SSRC;
    if (now - u->last_rr_us >= RR_INTERVAL_US) {
        u->last_rr_us = now;
        uplink_send_rtcp(u, buf, relay_rtcp_rr(buf, self), sizeof buf);
    }
    uplink_send_nacks(u, now);
    if (g_atomic_int_get(&u->keyframe_wanted) && now - u->last_pli_us >= PLI_INTERVAL_US) {
        g_atomic_int_set(&u->keyframe_wanted, 0);
        u->last_pli_us = now;
        for (size_t t = 0; t < u->stage->track_count; t++) {
            if (!u->stage->tracks[t].video)
                continue;
            for (int k = 0; k < STAGE_LAYERS_MAX; k++) {
                if (!u->lanes[t * STAGE_LAYERS_MAX + (size_t)k].any)
                    continue; /* a substream the upstream never sent */
                u->plis_sent++;
                uint32_t media = RELAY_SSRC_BASE + (uint32_t)(t * STAGE_LAYERS_MAX + (size_t)k);
                uplink_send_rtcp(u, buf, relay_rtcp_pli(buf, self, media), sizeof buf);
            }
        }
    }
}

/* Call with uplinks_lock: takes the connect thread's new socket and session. */
static bool uplink_take_pending_locked(relay_uplink *u, gint64 now)
{
    if (u->pending_fd < 0 || u->pending_srtp == NULL)
        return false;
    if (u->fd >= 0)
        close(u->fd);
    odeon_srtp_free(u->srtp);
    u->fd = u->pending_fd;
    u->srtp = u->pending_srtp;
    u->pending_fd = -1;
    u->pending_srtp = NULL;
    g_strlcpy(u->link_id, u->pending_link, sizeof u->link_id);
    u->stage->uplink = u;
    for (int i = 0; i < (int)RELAY_LANES; i++)
        u->lanes[i].seen = false;
    u->nack_count = 0;
    u->state = UPLINK_UP;
    u->connected_us = u->last_rx_us = now;
    u->retry_us = RETRY_MIN_US;
    LOG(ODEON_LOG_INFO, "link %s: stage %" G_GUINT64_FORMAT " from %s", u->link_id, u->stage_id,
        u->upstream_node);
    return true;
}

/* Call with uplinks_lock: the link fell silent; its socket goes, a new subscription starts. */
static void uplink_lost_locked(relay_uplink *u, gint64 now)
{
    LOG(ODEON_LOG_WARN, "link %s: nothing from upstream %s for %d ms: subscribing again",
        u->link_id, u->upstream_node ? u->upstream_node : "?", (int)((now - u->last_rx_us) / 1000));
    close(u->fd);
    u->fd = -1;
    odeon_srtp_free(u->srtp);
    u->srtp = NULL;
    u->state = UPLINK_RETRY;
    u->retry_at_us = now;
    u->resubscriptions++;
}

typedef struct delete_call {
    char *path;
} delete_call;

static GPtrArray *close_threads; /* relay-close threads, joined at stop; under uplinks_lock */

static gpointer delete_main(gpointer data)
{
    delete_call *c = data;
    char *reply = NULL;
    upstream_call("DELETE", c->path, NULL, &reply, NULL, 0);
    g_free(reply);
    g_free(c->path);
    g_free(c);
    return NULL;
}

/* Tells the upstream the link is over (on a thread of its own: a blocking request). */
static void uplink_delete_async(relay_uplink *u)
{
    if (u->link_id[0] == '\0')
        return;
    delete_call *c = g_new0(delete_call, 1);
    c->path = g_strdup_printf("%s%" G_GUINT64_FORMAT "/%s", RELAY_ROUTE, u->stage_id, u->link_id);
    GThread *t = g_thread_new("relay-close", delete_main, c);
    g_mutex_lock(&uplinks_lock);
    g_ptr_array_add(close_threads, t);
    g_mutex_unlock(&uplinks_lock);
}

/* Call with uplinks_lock: nobody watched for the grace period. */
static bool uplink_idle_locked(relay_uplink *u, gint64 now)
{
    stage *s = u->stage;
    g_mutex_lock(&s->lock);
    bool empty = s->viewers->len == 0 && g_atomic_int_get(&s->downlinks) == 0;
    g_mutex_unlock(&s->lock);
    if (!empty) {
        u->empty_since_us = 0;
        return false;
    }
    if (u->empty_since_us == 0)
        u->empty_since_us = now;
    return now - u->empty_since_us >= relay_grace_us() && !u->connecting;
}

static void uplink_free(relay_uplink *u)
{
    if (u->connect_thread)
        g_thread_join(u->connect_thread);
    if (u->fd >= 0)
        close(u->fd);
    if (u->pending_fd >= 0)
        close(u->pending_fd);
    odeon_srtp_free(u->srtp);
    odeon_srtp_free(u->pending_srtp);
    if (u->waiters)
        waiters_answer(u->waiters, NULL, 503, "relay links are stopping");
    if (u->stage) {
        u->stage->uplink = NULL;
        stage_unref(u->stage);
    }
    g_strfreev(u->path);
    g_free(u->upstream_node);
    g_free(u);
}

static void uplink_close(relay_uplink *u)
{
    LOG(ODEON_LOG_INFO, "stage %" G_GUINT64_FORMAT ": no viewers for %d s, link %s closed",
        u->stage_id, (int)(relay_grace_us() / G_USEC_PER_SEC), u->link_id);
    uplink_delete_async(u);
    stage_unregister(u->stage);
    uplink_free(u);
}

static void uplink_tick_locked(relay_uplink *u, gint64 now, bool *changed)
{
    if (uplink_take_pending_locked(u, now))
        *changed = true;
    if (u->stage == NULL)
        return;
    if (u->state == UPLINK_UP && now - u->last_rx_us > RELAY_UPLINK_SILENCE_US) {
        uplink_lost_locked(u, now);
        *changed = true;
    }
    if (u->state == UPLINK_RETRY && !u->connecting && now >= u->retry_at_us) {
        u->retry_at_us = now + u->retry_us;
        u->retry_us = MIN(u->retry_us * 2, RETRY_MAX_US);
        connect_start_locked(u);
    }
    if (u->state == UPLINK_UP)
        uplink_feedback(u, now);
}

void relay_uplinks_tick(gint64 now)
{
    bool changed = false;
    GPtrArray *closing = g_ptr_array_new();
    g_mutex_lock(&uplinks_lock);
    while (graveyard->len > 0) {
        relay_uplink *u = g_ptr_array_steal_index_fast(graveyard, 0);
        if (u->connecting) {
            g_ptr_array_add(graveyard, u); /* its thread is returning: next tick */
            break;
        }
        uplink_free(u);
    }
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, uplinks);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        relay_uplink *u = value;
        uplink_tick_locked(u, now, &changed);
        if (u->stage != NULL && uplink_idle_locked(u, now)) {
            g_hash_table_iter_steal(&it);
            g_ptr_array_add(closing, u);
            changed = true;
        }
    }
    g_mutex_unlock(&uplinks_lock);
    for (guint i = 0; i < closing->len; i++)
        uplink_close(g_ptr_array_index(closing, i));
    g_ptr_array_unref(closing);
    if (changed)
        relay_thread_changed();
}

void relay_uplinks_links_json(json_t *links)
{
    gint64 now = g_get_monotonic_time();
    g_mutex_lock(&uplinks_lock);
    if (uplinks == NULL) {
        g_mutex_unlock(&uplinks_lock);
        return;
    }
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, uplinks);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        relay_uplink *u = value;
        const char *state = u->state == UPLINK_UP      ? "up"
                            : u->state == UPLINK_RETRY ? "retrying"
                                                       : "connecting";
        json_array_append_new(
            links,
            json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "direction",
                      "up", "link", u->link_id, "stage", (json_int_t)u->stage_id, "node",
                      u->upstream_node ? u->upstream_node : "", "state", state, "age_ms",
                      (json_int_t)(u->connected_us ? (now - u->connected_us) / 1000 : 0), "packets",
                      (json_int_t)u->packets, "bytes", (json_int_t)u->bytes, "lost",
                      (json_int_t)u->lost, "repaired", (json_int_t)u->repaired, "nacks",
                      (json_int_t)u->nacks_sent, "resubscriptions",
                      (json_int_t)u->resubscriptions));
    }
    g_mutex_unlock(&uplinks_lock);
}

void relay_uplinks_init(void)
{
    uplinks = g_hash_table_new(g_int64_hash, g_int64_equal);
    graveyard = g_ptr_array_new();
    close_threads = g_ptr_array_new();
}

/* After the relay thread has stopped: waits for the connect threads, then frees it all. */
void relay_uplinks_stop(void)
{
    if (uplinks == NULL)
        return;
    GPtrArray *threads = g_ptr_array_new();
    g_mutex_lock(&uplinks_lock);
    stopping = true;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, uplinks);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        relay_uplink *u = value;
        if (u->connect_thread)
            g_ptr_array_add(threads, g_steal_pointer(&u->connect_thread));
    }
    for (guint i = 0; i < graveyard->len; i++) {
        relay_uplink *u = g_ptr_array_index(graveyard, i);
        if (u->connect_thread)
            g_ptr_array_add(threads, g_steal_pointer(&u->connect_thread));
    }
    g_mutex_unlock(&uplinks_lock);
    for (guint i = 0; i < threads->len; i++)
        g_thread_join(g_ptr_array_index(threads, i));
    g_ptr_array_unref(threads);
    /* Links still up end with a DELETE, so the upstream stops sending at once. */
    g_hash_table_iter_init(&it, uplinks);
    while (g_hash_table_iter_next(&it, NULL, &value))
        if (((relay_uplink *)value)->fd >= 0)
            uplink_delete_async(value);
    g_mutex_lock(&uplinks_lock);
    GPtrArray *closers = close_threads;
    close_threads = NULL;
    g_mutex_unlock(&uplinks_lock);
    for (guint i = 0; i < closers->len; i++)
        g_thread_join(g_ptr_array_index(closers, i));
    g_ptr_array_unref(closers);
    g_mutex_lock(&uplinks_lock);
    GHashTable *all = uplinks;
    uplinks = NULL;
    g_mutex_unlock(&uplinks_lock);
    g_hash_table_iter_init(&it, all);
    while (g_hash_table_iter_next(&it, NULL, &value))
        uplink_free(value);
    g_hash_table_unref(all);
    while (graveyard->len > 0)
        uplink_free(g_ptr_array_steal_index_fast(graveyard, 0));
    g_clear_pointer(&graveyard, g_ptr_array_unref);
}
