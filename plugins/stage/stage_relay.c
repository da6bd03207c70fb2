/*
 * stage_relay.c - the upstream side of relay links (downlinks: our stages sent to relays),
 * the route relays subscribe on, the relay thread and the links' RTCP (see stage_relay.h).
 */
#include "stage_relay.h"
#include "stage_rtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "webrtc/srtp.h"

#define LOG(level, ...) stage_core->log(level, "relay", __VA_ARGS__)
#define HISTORY 1024u /* per lane: sequence number -> ring index, for NACKs */
/* Room for SRTP's tag after the longest packet, as odeon_srtp_protect_* require. */
#define PACKET_CAP (STAGE_SLOT_BYTES + ODEON_SRTP_RTP_TAIL_ROOM)
#define RTCP_CAP (64 + ODEON_SRTP_RTCP_TAIL_ROOM)
#define SR_INTERVAL_US G_USEC_PER_SEC

typedef struct history_entry {
    guint64 index; /* 1 + ring index; 0: none */
    uint16_t seq;
} history_entry;

/* One relay fed from one of our stages. Created on a transport or relay-connect thread, then
 * owned by the relay thread; other threads only set `closing` (under relay_lock). */
typedef struct relay_downlink {
    char link_id[33];
    char *node_id;
    stage *stage; /* reference */
    int fd;       /* connected to the relay's address */
    uint16_t port;
    odeon_srtp *srtp;
    guint64 next; /* ring index to send next */
    history_entry history[RELAY_LANES][HISTORY];
    gint64 created_us, last_heard_us, last_sr_us;
    guint64 packets, bytes, retransmits, nacks, plis, skipped, dropped, rtcp_in, rtcp_bad;
    unsigned refused;
    bool closing; /* under relay_lock, or by the relay thread */
} relay_downlink;

static GMutex relay_lock;    /* downlinks, changed */
static GPtrArray *downlinks; /* relay_downlink * (the relay thread frees them) */
static bool sockets_changed;
static int wake_fd = -1;
static GThread *relay_thread;
static gint relay_running;
static gint64 grace_us = 30 * G_USEC_PER_SEC;
static unsigned drop_every; /* fault injection: drop every Nth first transmission (0: none) */
static bool route_added;

gint64 relay_grace_us(void)
{
    return grace_us;
}

const odeon_node_info *stage_node_info(void)
{
    /* A core older than ABI 1.5 has no cluster: the field is past its table's end. */
    if (stage_core->struct_size < offsetof(odeon_core_callbacks, node_arrived) + sizeof(void *))
        return NULL;
    return stage_core->node_info();
}

bool stage_relay_is_relay(void)
{
    const odeon_node_info *n = stage_node_info();
    return n != NULL && n->upstream != NULL && strcmp(n->role, "relay") == 0;
}

static const char *self_id(void)
{
    const odeon_node_info *n = stage_node_info();
    return n ? n->id : "";
}

void stage_relay_wake(void)
{
    uint64_t one = 1;
    if (wake_fd >= 0 && write(wake_fd, &one, sizeof one) < 0) {
        /* already signalled */
    }
}

void relay_thread_changed(void)
{
    g_mutex_lock(&relay_lock);
    sockets_changed = true;
    g_mutex_unlock(&relay_lock);
    stage_relay_wake();
}

/* ---- RTCP and keys ---- */

odeon_srtp *relay_link_srtp(const char *link_id, const char *relay_nonce,
                            const char *upstream_nonce, bool relay_side)
{
    /* RFC 5764's layout, the relay in the DTLS client's place: client key | server key |
     * client salt | server salt. */
    uint8_t keys[2][30], material[60];
    const char *dir[2] = {"relay-to-upstream", "upstream-to-relay"};
    for (int i = 0; i < 2; i++) {
        char *label = g_strdup_printf("stage-relay-link\n%s\n%s\n%s\n%s", link_id, relay_nonce,
                                      upstream_nonce, dir[i]);
        int rc = stage_core->node_derive_key(label, keys[i], sizeof keys[i]);
        g_free(label);
        if (rc != 0)
            return NULL;
    }
    memcpy(material, keys[0], 16);
    memcpy(material + 16, keys[1], 16);
    memcpy(material + 32, keys[0] + 16, 14);
    memcpy(material + 46, keys[1] + 16, 14);
    char *error = NULL;
    odeon_srtp *s =
        odeon_srtp_new(ODEON_SRTP_AES128_CM_SHA1_80, material, sizeof material, relay_side, &error);
    memset(keys, 0, sizeof keys);
    memset(material, 0, sizeof material);
    if (s == NULL) {
        LOG(ODEON_LOG_ERROR, "link %s: SRTP: %s", link_id, error ? error : "failed");
        g_free(error);
    }
    return s;
}

/* ---- downlinks: sending ---- */

static int lane_of(size_t track, int substream)
{
    return (int)track * STAGE_LAYERS_MAX + (substream < 0 ? 0 : substream);
}

#define REFUSED_LIMIT 50 /* ICMP port unreachable in a row: the relay process is gone */

static void downlink_send(relay_downlink *d, uint8_t *buf, size_t len)
{
    size_t out = len;
    if (odeon_srtp_protect_rtp(d->srtp, buf, &out, PACKET_CAP) != 0)
        return;
    if (send(d->fd, buf, out, MSG_DONTWAIT) > 0) {
        d->packets++;
        d->bytes += out;
        d->refused = 0;
    } else if (errno == ECONNREFUSED && ++d->refused == REFUSED_LIMIT) {
        /* A connected UDP socket hears the ICMP errors: no need to wait for the timeout. */
        LOG(ODEON_LOG_WARN, "link %s: relay %s refuses its packets", d->link_id, d->node_id);
        d->closing = true;
    }
}

/* Copies ring slot `index` of d's stage into buf with the lane's SSRC; 0 when the slot was
 * overwritten meanwhile (a reader a whole ring behind). */
static size_t downlink_copy(relay_downlink *d, guint64 index, uint8_t *buf, int *lane)
{
    stage *s = d->stage;
    const stage_slot *slot = &s->ring.slots[index & STAGE_RING_MASK];
    size_t len = slot->len;
    if (len < 12 || len > STAGE_SLOT_BYTES)
        return 0;
    memcpy(buf, slot->data, len);
    *lane = lane_of(slot->track, slot->substream);
    guint64 head = __atomic_load_n(&s->ring.head, __ATOMIC_ACQUIRE);
    if (head - index > STAGE_RING_SAFE)
        return 0;
    uint32_t ssrc = RELAY_SSRC_BASE + (uint32_t)*lane;
    buf[8] = (uint8_t)(ssrc >> 24);
    buf[9] = (uint8_t)(ssrc >> 16);
    buf[10] = (uint8_t)(ssrc >> 8);
    buf[11] = (uint8_t)ssrc;
    return len;
}

static void downlink_drain(relay_downlink *d)
{
    static uint8_t buf[PACKET_CAP] __attribute__((aligned(16)));
    stage *s = d->stage;
    guint64 head = __atomic_load_n(&s->ring.head, __ATOMIC_ACQUIRE);
    if (head - d->next > STAGE_RING_SAFE) {
        d->skipped += head - STAGE_RING_SAFE - d->next;
        d->next = head - STAGE_RING_SAFE;
    }
    for (; d->next < head; d->next++) {
        int lane = 0;
        size_t len = downlink_copy(d, d->next, buf, &lane);
        if (len == 0 || lane >= (int)RELAY_LANES)
            continue;
        uint16_t seq = (uint16_t)(buf[2] << 8 | buf[3]);
        d->history[lane][seq % HISTORY] = (history_entry){.index = d->next + 1, .seq = seq};
        if (drop_every != 0 && (d->next + 1) % drop_every == 0) {
            d->dropped++; /* as if lost on the way: the relay must NACK it */
            continue;
        }
        downlink_send(d, buf, len);
    }
}

/* ---- downlinks: RTCP from the relay ---- */

static void downlink_resend(relay_downlink *d, int lane, uint16_t seq)
{
    static uint8_t buf[PACKET_CAP] __attribute__((aligned(16)));
    history_entry *h = &d->history[lane][seq % HISTORY];
    if (h->index == 0 || h->seq != seq)
        return;
    int got_lane = 0;
    size_t len = downlink_copy(d, h->index - 1, buf, &got_lane);
    if (len == 0 || got_lane != lane)
        return;
    d->retransmits++;
    downlink_send(d, buf, len);
}

static void downlink_feedback(relay_downlink *d, const uint8_t *buf, size_t len)
{
    relay_feedback items[64];
    size_t n = relay_feedback_parse(buf, len, items, G_N_ELEMENTS(items));
    bool keyframe = false;
    for (size_t i = 0; i < n; i++) {
        if (items[i].kind == RELAY_FEEDBACK_NACK) {
            d->nacks++;
            downlink_resend(d, items[i].lane, items[i].seq);
        } else {
            keyframe = true;
        }
    }
    if (keyframe) {
        d->plis++;
        g_mutex_lock(&d->stage->lock);
        stage_keyframe_request_locked(d->stage);
        g_mutex_unlock(&d->stage->lock);
    }
}

static void downlink_readable(relay_downlink *d, gint64 now)
{
    static uint8_t buf[2048] __attribute__((aligned(16)));
    for (int k = 0; k < 32; k++) {
        ssize_t got = recv(d->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got <= 0)
            return;
        size_t len = (size_t)got;
        if (len < 8 || buf[1] < 192 || buf[1] > 223 ||
            odeon_srtp_unprotect_rtcp(d->srtp, buf, &len) != 0) {
            d->rtcp_bad++; /* not RTCP from this link's relay: ignored */
            continue;
        }
        d->rtcp_in++;
        d->last_heard_us = now;
        downlink_feedback(d, buf, len);
    }
}

static void downlink_free(relay_downlink *d)
{
    LOG(ODEON_LOG_INFO, "link %s to %s for stage %" G_GUINT64_FORMAT " closed", d->link_id,
        d->node_id, d->stage->id);
    g_atomic_int_add(&d->stage->downlinks, -1);
    stage_unref(d->stage);
    if (d->fd >= 0)
        close(d->fd);
    odeon_srtp_free(d->srtp);
    g_free(d->node_id);
    g_free(d);
}

static void downlinks_tick(gint64 now)
{
    static uint8_t buf[RTCP_CAP] __attribute__((aligned(16)));
    g_mutex_lock(&relay_lock);
    for (guint i = 0; i < downlinks->len;) {
        relay_downlink *d = g_ptr_array_index(downlinks, i);
        if (d->closing || now - d->last_heard_us > RELAY_DOWNLINK_TIMEOUT_US) {
            if (!d->closing)
                LOG(ODEON_LOG_WARN, "link %s: nothing from relay %s for %d s", d->link_id,
                    d->node_id, (int)(RELAY_DOWNLINK_TIMEOUT_US / G_USEC_PER_SEC));
            g_ptr_array_remove_index_fast(downlinks, i);
            sockets_changed = true;
            downlink_free(d);
            continue;
        }
        if (now - d->last_sr_us >= SR_INTERVAL_US) {
            d->last_sr_us = now;
            size_t len =
                relay_rtcp_sr(buf, RELAY_SSRC_BASE, g_get_real_time(), d->packets, d->bytes);
            if (odeon_srtp_protect_rtcp(d->srtp, buf, &len, sizeof buf) == 0 &&
                send(d->fd, buf, len, MSG_DONTWAIT) < 0) {
                /* the relay is gone: its silence ends the link */
            }
        }
        i++;
    }
    g_mutex_unlock(&relay_lock);
}

/* ---- the relay thread ---- */

typedef struct poll_owner {
    bool uplink;
    void *link;
} poll_owner;

static void poll_rebuild(GArray *fds, GPtrArray *owners)
{
    g_array_set_size(fds, 1);
    g_ptr_array_set_size(owners, 1);
    g_mutex_lock(&relay_lock);
    sockets_changed = false;
    for (guint i = 0; i < downlinks->len; i++) {
        relay_downlink *d = g_ptr_array_index(downlinks, i);
        struct pollfd p = {.fd = d->fd, .events = POLLIN};
        g_array_append_val(fds, p);
        g_ptr_array_add(owners, d);
    }
    g_mutex_unlock(&relay_lock);
    /* Uplinks after downlinks: owners[i] is an uplink from here on (marked by a NULL). */
    g_ptr_array_add(owners, NULL);
    struct pollfd none = {.fd = -1};
    g_array_append_val(fds, none);
    relay_uplinks_poll_add(fds, owners);
}

static void relay_round(GArray *fds, GPtrArray *owners, gint64 now)
{
    bool uplinks = false;
    for (guint i = 1; i < fds->len; i++) {
        void *owner = g_ptr_array_index(owners, i);
        if (owner == NULL) {
            uplinks = true;
            continue;
        }
        if (!(g_array_index(fds, struct pollfd, i).revents & (POLLIN | POLLERR)))
            continue;
        if (uplinks)
            relay_uplink_readable(owner, now);
        else
            downlink_readable(owner, now);
    }
    g_mutex_lock(&relay_lock);
    for (guint i = 0; i < downlinks->len; i++)
        downlink_drain(g_ptr_array_index(downlinks, i));
    g_mutex_unlock(&relay_lock);
}

static gpointer relay_main(gpointer data)
{
    (void)data;
    GArray *fds = g_array_new(FALSE, TRUE, sizeof(struct pollfd));
    GPtrArray *owners = g_ptr_array_new();
    struct pollfd wake = {.fd = wake_fd, .events = POLLIN};
    g_array_append_val(fds, wake);
    g_ptr_array_add(owners, NULL);
    poll_rebuild(fds, owners);
    gint64 last_tick = 0;
    while (g_atomic_int_get(&relay_running)) {
        /* With links: a 20 ms tick (NACK retries, keepalives); without: only wake-ups. */
        int timeout = fds->len > 2 ? 20 : 500;
        if (poll((struct pollfd *)(void *)fds->data, fds->len, timeout) < 0 && errno != EINTR)
            break;
        if (g_array_index(fds, struct pollfd, 0).revents & POLLIN) {
            uint64_t count;
            if (read(wake_fd, &count, sizeof count) < 0) {
                /* nothing pending */
            }
        }
        gint64 now = g_get_monotonic_time();
        relay_round(fds, owners, now);
        if (now - last_tick >= 20 * 1000) {
            last_tick = now;
            downlinks_tick(now);
            relay_uplinks_tick(now);
        }
        g_mutex_lock(&relay_lock);
        bool changed = sockets_changed;
        g_mutex_unlock(&relay_lock);
        if (changed)
            poll_rebuild(fds, owners);
    }
    g_array_unref(fds);
    g_ptr_array_unref(owners);
    return NULL;
}

/* ---- the route: subscriptions from relays ---- */

static void respond_json(odeon_http_request *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    stage_core->http_respond(req, status, "application/json", text, strlen(text), NULL);
    free(text);
}

static void respond_error(odeon_http_request *req, int status, const char *reason)
{
    LOG(ODEON_LOG_WARN, "relay request refused (%d): %s", status, reason);
    respond_json(req, status, json_pack("{s:s}", "error", reason));
}

static void random_hex(char *out, size_t bytes)
{
    uint8_t raw[32];
    RAND_bytes(raw, (int)bytes);
    for (size_t i = 0; i < bytes; i++)
        g_snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static json_t *track_json(const stage_track *t)
{
    json_t *j =
        json_pack("{s:b, s:s, s:i, s:s, s:i, s:b}", "video", t->video, "mid", t->mid, "pt", t->pt,
                  "codec", t->codec, "clock_rate", (int)t->clock_rate, "simulcast", t->simulcast);
    if (t->fmtp)
        json_object_set_new(j, "fmtp", json_string(t->fmtp));
    return j;
}

static json_t *stage_description(stage *s)
{
    json_t *tracks = json_array();
    for (size_t i = 0; i < s->track_count; i++)
        json_array_append_new(tracks, track_json(&s->tracks[i]));
    json_t *j = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)s->id, "description",
                          s->description ? s->description : "", "tracks", tracks);
    if (s->pin)
        json_object_set_new(j, "pin", json_string(s->pin));
    /* Relays authorise its viewers as the origin does. */
    if (s->event)
        json_object_set_new(j, "event", json_string(s->event));
    return j;
}

/* A parsed subscription, kept while the stage may still come from our own upstream. */
typedef struct subscription {
    odeon_http_request *req;
    relay_subscription body;
} subscription;

static void subscription_free(subscription *sub)
{
    relay_subscription_clear(&sub->body);
    g_free(sub);
}

/* The ring index a new downlink starts from: the oldest last keyframe of any substream, so
 * that the relay gets a whole picture of every layer at once. */
static guint64 downlink_start(stage *s)
{
    guint64 head = __atomic_load_n(&s->ring.head, __ATOMIC_ACQUIRE), start = head;
    for (int k = 0; k < STAGE_LAYERS_MAX; k++) {
        guint64 v = __atomic_load_n(&s->ring.video_start[k], __ATOMIC_ACQUIRE);
        if (v != 0 && v - 1 < start && head - (v - 1) < STAGE_RING_SAFE)
            start = v - 1;
    }
    return start;
}

static int downlink_socket(const subscription *sub, uint16_t *port)
{
    int fd = socket(sub->body.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    if (connect(fd, (const struct sockaddr *)&sub->body.addr, sub->body.addr_len) != 0 ||
        getsockname(fd, (struct sockaddr *)&local, &llen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port
                                              : ((struct sockaddr_in *)&local)->sin_port);
    return fd;
}

static void subscription_complete(stage *s, int status, const char *error, void *data)
{
    subscription *sub = data;
    if (s == NULL) {
        respond_error(sub->req, status, error);
        subscription_free(sub);
        return;
    }
    relay_downlink *d = g_new0(relay_downlink, 1);
    char nonce[33];
    random_hex(nonce, 16);
    g_strlcpy(d->link_id, sub->body.link, sizeof d->link_id);
    d->node_id = g_strdup(sub->body.node);
    d->fd = downlink_socket(sub, &d->port);
    d->srtp = d->fd >= 0 ? relay_link_srtp(sub->body.link, sub->body.nonce, nonce, false) : NULL;
    if (d->srtp == NULL) {
        if (d->fd >= 0)
            close(d->fd);
        g_free(d->node_id);
        g_free(d);
        stage_unref(s);
        respond_error(sub->req, 500, "cannot open the link");
        subscription_free(sub);
        return;
    }
    d->stage = s;
    d->created_us = d->last_heard_us = g_get_monotonic_time();
    d->next = downlink_start(s);
    json_t *body = json_pack("{s:s, s:s, s:i, s:s, s:o}", "link", d->link_id, "node", self_id(),
                             "port", (int)d->port, "nonce", nonce, "stage", stage_description(s));
    g_atomic_int_inc(&s->downlinks);
    g_mutex_lock(&relay_lock);
    g_ptr_array_add(downlinks, d);
    sockets_changed = true;
    g_mutex_unlock(&relay_lock);
    stage_relay_wake();
    LOG(ODEON_LOG_INFO, "link %s: stage %" G_GUINT64_FORMAT " to relay %s", d->link_id, s->id,
        d->node_id);
    respond_json(sub->req, 200, body);
    subscription_free(sub);
}

static void relay_subscribe(odeon_http_request *req, uint64_t id, char *node_id)
{
    size_t len = 0;
    const uint8_t *raw = stage_core->http_request_body(req, &len);
    subscription *sub = g_new0(subscription, 1);
    sub->req = req;
    const char *reason = NULL;
    int status = 400;
    if (relay_subscription_parse((const char *)raw, raw ? len : 0, &sub->body, &reason) != 0) {
        /* reason set */
    } else if (strcmp(sub->body.node, node_id) != 0) {
        reason = "the subscription's node is not the signing node";
    } else if (strcmp(node_id, self_id()) == 0) {
        status = 508;
        reason = "relay loop: this node is its own upstream";
    } else if (relay_subscription_passes(&sub->body, self_id())) {
        status = 508;
        reason = "relay loop: this node is already on the subscription's path";
    }
    free(node_id);
    if (reason != NULL) {
        respond_error(req, status, reason);
        subscription_free(sub);
        return;
    }
    stage *s = stage_lookup(id);
    if (s != NULL)
        subscription_complete(s, 200, NULL, sub);
    else if (stage_relay_is_relay())
        stage_relay_request(id, (const char *const *)sub->body.path, subscription_complete, sub);
    else
        subscription_complete(NULL, 404, "no such stage", sub);
}

static void relay_unsubscribe(odeon_http_request *req, const char *link, char *node_id)
{
    bool found = false;
    g_mutex_lock(&relay_lock);
    for (guint i = 0; i < downlinks->len; i++) {
        relay_downlink *d = g_ptr_array_index(downlinks, i);
        if (strcmp(d->link_id, link) == 0 && strcmp(d->node_id, node_id) == 0) {
            d->closing = found = true;
        }
    }
    g_mutex_unlock(&relay_lock);
    free(node_id);
    if (!found) {
        respond_error(req, 404, "no such link");
        return;
    }
    stage_relay_wake();
    stage_core->http_respond(req, 204, NULL, NULL, 0, NULL);
}

static void relay_route(odeon_http_request *req, void *data)
{
    (void)data;
    const char *method = stage_core->http_request_method(req);
    const char *rest = stage_core->http_request_path(req) + strlen(RELAY_ROUTE);
    char *node_id = NULL;
    const char *reason = NULL;
    if (stage_core->node_verify(req, &node_id, &reason) != 0) {
        respond_error(req, 401, reason);
        return;
    }
    char *end = NULL;
    guint64 id = g_ascii_strtoull(rest, &end, 10);
    if (id == 0 || end == rest) {
        free(node_id);
        respond_error(req, 404, "no such stage");
    } else if (strcmp(method, "POST") == 0 && *end == '\0') {
        relay_subscribe(req, id, node_id);
    } else if (strcmp(method, "DELETE") == 0 && *end == '/' && relay_hex_ok(end + 1, 32)) {
        relay_unsubscribe(req, end + 1, node_id);
    } else {
        free(node_id);
        respond_error(req, 405, "POST /odeon/relay/<stage> or DELETE /odeon/relay/<stage>/<link>");
    }
}

/* ---- start, stop, info ---- */

json_t *stage_relay_links_json(void)
{
    json_t *links = json_array();
    gint64 now = g_get_monotonic_time();
    g_mutex_lock(&relay_lock);
    for (guint i = 0; downlinks && i < downlinks->len; i++) {
        relay_downlink *d = g_ptr_array_index(downlinks, i);
        json_array_append_new(
            links,
            json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "direction",
                      "down", "link", d->link_id, "stage", (json_int_t)d->stage->id, "node",
                      d->node_id, "age_ms", (json_int_t)((now - d->created_us) / 1000), "packets",
                      (json_int_t)d->packets, "bytes", (json_int_t)d->bytes, "retransmits",
                      (json_int_t)d->retransmits, "nacks", (json_int_t)d->nacks, "plis",
                      (json_int_t)d->plis, "dropped", (json_int_t)d->dropped));
        json_object_set_new(json_array_get(links, json_array_size(links) - 1), "skipped",
                            json_integer((json_int_t)d->skipped));
        json_object_set_new(json_array_get(links, json_array_size(links) - 1), "rtcp",
                            json_pack("{s:I, s:I}", "in", (json_int_t)d->rtcp_in, "refused",
                                      (json_int_t)d->rtcp_bad));
    }
    g_mutex_unlock(&relay_lock);
    relay_uplinks_links_json(links);
    return links;
}

int stage_relay_start(gint64 grace_seconds, unsigned drop_every_n)
{
    grace_us = (grace_seconds < 0 ? 0 : grace_seconds) * G_USEC_PER_SEC;
    drop_every = drop_every_n;
    if (drop_every != 0)
        LOG(ODEON_LOG_WARN, "fault injection: relay links drop 1 packet in %u", drop_every);
    downlinks = g_ptr_array_new();
    relay_uplinks_init();
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0)
        return -1;
    if (stage_core->struct_size < offsetof(odeon_core_callbacks, node_arrived) + sizeof(void *))
        return 0; /* an older core: no cluster, no relay links */
    g_atomic_int_set(&relay_running, 1);
    relay_thread = g_thread_new("stage-relay", relay_main, NULL);
    route_added =
        stage_core->http_route_add(&odeon_plugin_descriptor, RELAY_ROUTE, relay_route, NULL) == 0;
    return route_added ? 0 : -1;
}

void stage_relay_stop(void)
{
    if (route_added)
        stage_core->http_route_remove(&odeon_plugin_descriptor, RELAY_ROUTE);
    route_added = false;
    g_atomic_int_set(&relay_running, 0);
    stage_relay_wake();
    if (relay_thread != NULL)
        g_thread_join(relay_thread);
    relay_thread = NULL;
    relay_uplinks_stop();
    while (downlinks != NULL && downlinks->len > 0)
        downlink_free(g_ptr_array_steal_index_fast(downlinks, 0));
    g_clear_pointer(&downlinks, g_ptr_array_unref);
    if (wake_fd >= 0)
        close(wake_fd);
    wake_fd = -1;
}
