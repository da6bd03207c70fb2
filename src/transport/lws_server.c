/*
 * lws_server.c - the libwebsockets context behind the transport: two vhosts (the API port and
 * the admin port), one service thread running lws's default poll loop, and the "hub" through
 * which other threads hand work to that thread.
 *
 * Everything lws does happens on the service thread: HTTP and WebSocket callbacks (http.c,
 * ws.c, http_routes.c) and finally lws_context_destroy. Other threads (plugins, the session
 * watchdog) only queue work under the hub's mutex and call lws_cancel_service, the one lws call
 * that is safe from another thread; the service thread then receives
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED, takes the queued work and asks lws for writable callbacks.
 * Wake-ups are coalesced: while one is pending, producers only queue.
 *
 * Stop: the main thread asks through the hub; the service thread answers parked long-polls,
 * lets queued WebSocket messages drain for at most a second, leaves its loop and destroys the
 * context (which closes every connection through the usual close callbacks).
 */
#include "transport/lws_server.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "core/clock.h"
#include "core/log.h"
#include "transport/http.h"
#include "transport/ws.h"

#define LOG_MODULE "transport"

#define STOP_FLUSH_US (1000 * 1000)
#define STOP_POLL_US (10 * 1000)
#define HOUSEKEEPING_US ((lws_usec_t)1000 * 1000)
#define REAP_EVERY_TICKS 5   /* held transactions of vanished clients: every 5 s */
#define SWEEP_EVERY_TICKS 30 /* orphan long-poll queues: every 30 s */
#define WS_RX_BUFFER 16384
#define TX_PACKET_SIZE 65536

/* ---- messages ---- */

static void msg_scratch_free(gpointer data)
{
    odeon__buf *buf = data;
    odeon__buf_free(buf);
    g_free(buf);
}

/* Per-thread serialisation space, so building a message costs one exact-size allocation. */
static GPrivate msg_scratch_key = G_PRIVATE_INIT(msg_scratch_free);

static int buf_dump_cb(const char *buffer, size_t size, void *data)
{
    odeon__buf_append(data, buffer, size);
    return 0;
}

void odeon__buf_set_json(odeon__buf *buf, json_t *json)
{
    buf->len = 0;
    if (json_dump_callback(json, buf_dump_cb, buf, JSON_COMPACT) != 0)
        buf->len = 0;
}

odeon__msg *odeon__msg_from_bytes(const void *bytes, size_t len)
{
    odeon__msg *msg = g_malloc(sizeof(*msg) + LWS_PRE + len + 1);
    msg->next = NULL;
    msg->len = len;
    msg->shared = NULL;
    if (len > 0)
        memcpy(ODEON__MSG_PAYLOAD(msg), bytes, len);
    ODEON__MSG_PAYLOAD(msg)[len] = '\0';
    return msg;
}

odeon__msg *odeon__msg_from_json(json_t *json)
{
    odeon__buf *scratch = g_private_get(&msg_scratch_key);
    if (scratch == NULL) {
        scratch = g_new0(odeon__buf, 1);
        g_private_set(&msg_scratch_key, scratch);
    }
    odeon__buf_set_json(scratch, json);
    odeon__msg *msg = odeon__msg_from_bytes(scratch->data, scratch->len);
    odeon__buf_trim(scratch, 256 * 1024);
    return msg;
}

void odeon__msg_free(odeon__msg *msg)
{
    if (msg != NULL)
        odeon_shared_text_unref(msg->shared);
    g_free(msg);
}

void odeon__msg_queue_push(odeon__msg_queue *q, odeon__msg *msg)
{
    msg->next = NULL;
    if (q->tail != NULL)
        q->tail->next = msg;
    else
        q->head = msg;
    q->tail = msg;
    q->count++;
    q->bytes += ODEON__MSG_SIZE(msg);
    q->own_bytes += msg->len;
}

odeon__msg *odeon__msg_queue_pop(odeon__msg_queue *q)
{
    odeon__msg *msg = q->head;
    if (msg == NULL)
        return NULL;
    q->head = msg->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->count--;
    q->bytes -= ODEON__MSG_SIZE(msg);
    q->own_bytes -= msg->len;
    msg->next = NULL;
    return msg;
}

void odeon__msg_queue_splice(odeon__msg_queue *to, odeon__msg_queue *from)
{
    if (from->head == NULL)
        return;
    if (to->tail != NULL)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    to->count += from->count;
    to->bytes += from->bytes;
    to->own_bytes += from->own_bytes;
    *from = (odeon__msg_queue){0};
}

void odeon__msg_queue_clear(odeon__msg_queue *q)
{
    odeon__msg *msg;
    while ((msg = odeon__msg_queue_pop(q)) != NULL)
        odeon__msg_free(msg);
}

/* An eighth of the machine's memory (1 GiB when it cannot be read): what waits is counted in
 * payload bytes, and the allocator's and the kernel's share come on top. */
size_t odeon__default_queue_total(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return (size_t)1 << 30;
    return (size_t)pages * (size_t)page / 8;
}

/* ---- growable buffers ---- */

void odeon__buf_reserve(odeon__buf *buf, size_t total)
{
    if (total <= buf->cap)
        return;
    size_t cap = buf->cap ? buf->cap : 1024;
    while (cap < total)
        cap *= 2;
    buf->data = g_realloc(buf->data, cap);
    buf->cap = cap;
}

void odeon__buf_append(odeon__buf *buf, const void *bytes, size_t len)
{
    odeon__buf_reserve(buf, buf->len + len);
    memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
}

void odeon__buf_trim(odeon__buf *buf, size_t keep)
{
    if (buf->cap > keep) {
        g_free(buf->data);
        *buf = (odeon__buf){0};
    }
}

void odeon__buf_free(odeon__buf *buf)
{
    g_free(buf->data);
    *buf = (odeon__buf){0};
}

/* ---- the hub ---- */

struct odeon__hub {
    odeon_refcount rc;
    GMutex lock;
    struct lws_context *context; /* NULL before start and once the loop has ended */
    bool wake_pending;
    bool stop_requested;
    /* Filled by producers; the service thread swaps each with its drain twin. */
    GPtrArray *ready_ws;       /* odeon__ws_conn references */
    GArray *ready_sessions;    /* uint64_t */
    GPtrArray *ready_requests; /* odeon_http_request references */
    GPtrArray *drain_ws;
    GArray *drain_sessions;
    GPtrArray *drain_requests;
};

odeon__hub *odeon__hub_new(void)
{
    odeon__hub *hub = g_new0(odeon__hub, 1);
    odeon_refcount_init(&hub->rc);
    g_mutex_init(&hub->lock);
    hub->ready_ws = g_ptr_array_new();
    hub->ready_sessions = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    hub->ready_requests = g_ptr_array_new();
    hub->drain_ws = g_ptr_array_new();
    hub->drain_sessions = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    hub->drain_requests = g_ptr_array_new();
    return hub;
}

odeon__hub *odeon__hub_ref(odeon__hub *hub)
{
    odeon_refcount_inc(&hub->rc);
    return hub;
}

static void hub_release_lists(GPtrArray *ws, GPtrArray *requests)
{
    for (guint i = 0; i < ws->len; i++)
        odeon__ws_conn_unref(ws->pdata[i]);
    g_ptr_array_set_size(ws, 0);
    for (guint i = 0; i < requests->len; i++)
        odeon__http_request_unref(requests->pdata[i]);
    g_ptr_array_set_size(requests, 0);
}

void odeon__hub_unref(odeon__hub *hub)
{
    if (hub == NULL || !odeon_refcount_dec(&hub->rc))
        return;
    hub_release_lists(hub->ready_ws, hub->ready_requests);
    hub_release_lists(hub->drain_ws, hub->drain_requests);
    g_ptr_array_free(hub->ready_ws, TRUE);
    g_ptr_array_free(hub->drain_ws, TRUE);
    g_ptr_array_free(hub->ready_requests, TRUE);
    g_ptr_array_free(hub->drain_requests, TRUE);
    g_array_free(hub->ready_sessions, TRUE);
    g_array_free(hub->drain_sessions, TRUE);
    g_mutex_clear(&hub->lock);
    g_free(hub);
}

/* Called with hub->lock held. Returns false when there is no loop to wake any more: the
 * caller then drops the work it was about to queue. */
static bool hub_wake_locked(odeon__hub *hub)
{
    if (hub->context == NULL)
        return false;
    if (!hub->wake_pending) {
        hub->wake_pending = true;
        lws_cancel_service(hub->context);
    }
    return true;
}

void odeon__hub_post_ws(odeon__hub *hub, odeon__ws_conn *conn)
{
    g_mutex_lock(&hub->lock);
    bool queued = hub_wake_locked(hub);
    if (queued)
        g_ptr_array_add(hub->ready_ws, conn);
    g_mutex_unlock(&hub->lock);
    if (!queued)
        odeon__ws_conn_unref(conn);
}

void odeon__hub_post_session(odeon__hub *hub, uint64_t session_id)
{
    g_mutex_lock(&hub->lock);
    if (hub_wake_locked(hub))
        g_array_append_val(hub->ready_sessions, session_id);
    g_mutex_unlock(&hub->lock);
}

void odeon__hub_post_request(odeon__hub *hub, odeon_http_request *req)
{
    g_mutex_lock(&hub->lock);
    bool queued = hub_wake_locked(hub);
    if (queued)
        g_ptr_array_add(hub->ready_requests, req);
    g_mutex_unlock(&hub->lock);
    if (!queued)
        odeon__http_request_unref(req);
}

static void hub_request_stop(odeon__hub *hub)
{
    g_mutex_lock(&hub->lock);
    hub->stop_requested = true;
    hub_wake_locked(hub);
    g_mutex_unlock(&hub->lock);
}

static void hub_set_context(odeon__hub *hub, struct lws_context *context)
{
    g_mutex_lock(&hub->lock);
    hub->context = context;
    g_mutex_unlock(&hub->lock);
}

/* Once the context is detached nothing more is queued: drop what was queued after the last
 * drain (it holds references on connections, which hold the hub). */
static void hub_discard(odeon__hub *hub)
{
    g_mutex_lock(&hub->lock);
    hub_release_lists(hub->ready_ws, hub->ready_requests);
    g_array_set_size(hub->ready_sessions, 0);
    g_mutex_unlock(&hub->lock);
}

/* ---- service thread ---- */

static _Thread_local bool on_service_thread;

bool odeon__transport_on_service_thread(void)
{
    return on_service_thread;
}

odeon__vhost *odeon__transport_vhost(struct lws *wsi)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    return vh ? lws_get_vhost_user(vh) : NULL;
}

const char *odeon__transport_peer(struct lws *wsi, char *buf, size_t len)
{
    buf[0] = '\0';
    if (lws_get_peer_simple(wsi, buf, len) == NULL || buf[0] == '\0')
        g_strlcpy(buf, "?", len);
    return buf;
}

static void stop_tick(lws_sorted_usec_list_t *sul)
{
    odeon_transport *t = lws_container_of(sul, odeon_transport, stop_timer);
    bool drained = odeon__ws_idle(t) && odeon__http_idle(t);
    if (drained || odeon_clock_monotonic_us() >= t->stop_deadline_us) {
        if (!drained)
            LOG_VERBOSE("stop: gave up flushing after %d ms", STOP_FLUSH_US / 1000);
        t->exit_loop = true;
        lws_cancel_service(t->context); /* leave the poll wait at once */
        return;
    }
    lws_sul_schedule(t->context, 0, &t->stop_timer, stop_tick, STOP_POLL_US);
}

static void begin_stop(odeon_transport *t)
{
    t->stopping = true;
    odeon__http_answer_all(t);
    t->stop_deadline_us = odeon_clock_monotonic_us() + STOP_FLUSH_US;
    lws_sul_schedule(t->context, 0, &t->stop_timer, stop_tick, 0);
}

/* Every second: close idle keep-alive connections past their timeout; every few seconds,
 * close held HTTP transactions whose client left (lws cannot see it while not reading); now
 * and then, drop long-poll queues of sessions that are gone. */
static void housekeeping_tick(lws_sorted_usec_list_t *sul)
{
    odeon_transport *t = lws_container_of(sul, odeon_transport, sweep_timer);
    unsigned tick = ++t->housekeeping_ticks;
    odeon__http_idle_reap(t, odeon_clock_monotonic_us());
    if (tick % REAP_EVERY_TICKS == 0)
        odeon__http_reap(t);
    if (tick % SWEEP_EVERY_TICKS == 0)
        odeon__http_sweep(t);
    lws_sul_schedule(t->context, 0, &t->sweep_timer, housekeeping_tick, HOUSEKEEPING_US);
}

/* LWS_CALLBACK_EVENT_WAIT_CANCELLED: take what other threads queued and act on it. */
static void transport_drain(odeon_transport *t)
{
    odeon__hub *hub = t->hub;
    g_mutex_lock(&hub->lock);
    hub->wake_pending = false;
    GPtrArray *ws = hub->ready_ws;
    hub->ready_ws = hub->drain_ws;
    hub->drain_ws = ws;
    GArray *sessions = hub->ready_sessions;
    hub->ready_sessions = hub->drain_sessions;
    hub->drain_sessions = sessions;
    GPtrArray *requests = hub->ready_requests;
    hub->ready_requests = hub->drain_requests;
    hub->drain_requests = requests;
    bool stop = hub->stop_requested;
    g_mutex_unlock(&hub->lock);

    for (guint i = 0; i < ws->len; i++) {
        odeon__ws_ready(ws->pdata[i]);
        odeon__ws_conn_unref(ws->pdata[i]);
    }
    g_ptr_array_set_size(ws, 0);
    for (guint i = 0; i < sessions->len; i++)
        odeon__http_session_ready(t, g_array_index(sessions, uint64_t, i));
    g_array_set_size(sessions, 0);
    for (guint i = 0; i < requests->len; i++) {
        odeon__route_answered(requests->pdata[i]);
        odeon__http_request_unref(requests->pdata[i]);
    }
    g_ptr_array_set_size(requests, 0);
    if (stop && !t->stopping)
        begin_stop(t);
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        /* Broadcast to every protocol of every vhost: act once, on the API vhost. */
        odeon__vhost *vh = odeon__transport_vhost(wsi);
        if (vh != NULL && !vh->admin)
            transport_drain(vh->transport);
        return 0;
    }
    return odeon__http_callback(wsi, reason, user, in, len);
}

static int callback_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED)
        return 0;
    return odeon__ws_callback(wsi, reason, user, in, len);
}

/* protocols[0] serves plain HTTP (and refuses WebSocket upgrades that name no subprotocol). */
static const struct lws_protocols api_protocols[] = {
    {"odeon-http", callback_http, sizeof(odeon__http_pss), 0, 0, NULL, TX_PACKET_SIZE},
    {"janus-protocol", callback_ws, sizeof(void *), WS_RX_BUFFER, 0, NULL, TX_PACKET_SIZE},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_protocols admin_protocols[] = {
    {"odeon-http", callback_http, sizeof(odeon__http_pss), 0, 0, NULL, TX_PACKET_SIZE},
    {"janus-admin-protocol", callback_ws, sizeof(void *), WS_RX_BUFFER, 0, NULL, TX_PACKET_SIZE},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static gpointer service_main(gpointer data)
{
    odeon_transport *t = data;
    on_service_thread = true;
    lws_sul_schedule(t->context, 0, &t->sweep_timer, housekeeping_tick, HOUSEKEEPING_US);
    while (!t->exit_loop) {
        if (lws_service(t->context, 0) < 0) {
            LOG_ERROR("the libwebsockets service loop failed; the API ports stop serving");
            break;
        }
    }
    lws_sul_cancel(&t->sweep_timer);
    lws_sul_cancel(&t->stop_timer);
    /* From here no other thread may touch the context. */
    hub_set_context(t->hub, NULL);
    hub_discard(t->hub);
    lws_context_destroy(t->context);
    t->context = NULL;
    return NULL;
}

/* ---- start-up ---- */

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    /* lws reports client misbehaviour at its error level too: keep it out of the error log. */
    odeon_log_level ours = (level & LLL_ERR) ? ODEON_LOG_WARN : ODEON_LOG_VERBOSE;
    if (odeon_log_enabled(ours))
        odeon_log_write(ours, "lws", "%.*s", (int)n, line);
}

/* The benchmark holds 1000+ connections: lift the soft descriptor limit to the hard one before
 * lws sizes its tables from it. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
    if (rl.rlim_cur <= before)
        return;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        LOG_VERBOSE("open file limit raised from %llu to %llu", (unsigned long long)before,
                    (unsigned long long)rl.rlim_cur);
}

static bool tls_enabled(const odeon_transport_settings *s)
{
    return s->tls_cert != NULL && s->tls_cert[0] != '\0' && s->tls_key != NULL &&
           s->tls_key[0] != '\0';
}

/* Bases are stored without a trailing '/' ("/" itself becomes ""). */
static void vhost_init(odeon__vhost *vh, odeon_transport *t, bool admin, const char *base)
{
    vh->transport = t;
    vh->admin = admin;
    vh->base = base ? base : (admin ? "/admin" : "/janus");
    vh->base_len = strlen(vh->base);
    while (vh->base_len > 0 && vh->base[vh->base_len - 1] == '/')
        vh->base_len--;
}

static struct lws_vhost *create_vhost(odeon_transport *t, odeon__vhost *vh, const char *iface,
                                      uint16_t port, bool tls, char **error)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.vhost_name = vh->admin ? "admin" : "api";
    info.iface = (iface != NULL && iface[0] != '\0') ? iface : NULL;
    info.port = port;
    info.protocols = vh->admin ? admin_protocols : api_protocols;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.keepalive_timeout = KEEPALIVE_IDLE_S;
    info.user = vh;
    if (tls) {
        /* lws reads this option from the vhost's info too; without it the vhost is plain. */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = t->settings.tls_cert;
        info.ssl_private_key_filepath = t->settings.tls_key;
        info.alpn = "http/1.1"; /* no h2: long-polls and writes assume HTTP/1.1 */
    }
    vh->vhost = lws_create_vhost(t->context, &info);
    if (vh->vhost == NULL) {
        *error = g_strdup_printf("cannot bind the %s port %s:%u (address already in use, or "
                                 "a bad interface%s)",
                                 vh->admin ? "admin" : "API", info.iface ? info.iface : "*", port,
                                 tls ? " or TLS certificate/key" : "");
        return NULL;
    }
    return vh->vhost;
}

static struct lws_context *create_context(odeon_transport *t, char **error)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (tls_enabled(&t->settings))
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.user = t;
    info.count_threads = 1;
    info.gid = -1;
    info.uid = -1;
    info.server_string = "odeon";
    info.pt_serv_buf_size = 32 * 1024; /* request bodies arrive in chunks of this size */
    info.max_http_header_data = 8192;
    info.timeout_secs = 10;         /* body chunks, TLS handshakes, flush before close */
    info.timeout_secs_ah_idle = 10; /* a client must finish its headers in time */
    info.ka_time = 60;              /* TCP keepalive finds vanished WebSocket peers */
    info.ka_probes = 3;
    info.ka_interval = 10;
    struct lws_context *context = lws_create_context(&info);
    if (context == NULL)
        *error = g_strdup("cannot create the libwebsockets context");
    return context;
}

static void transport_free(odeon_transport *t)
{
    if (t->http_sink != NULL) {
        odeon__http_sink_close(t->http_sink);
        odeon__http_sink_unref(t->http_sink);
    }
    odeon__hub_unref(t->hub);
    odeon__buf_free(&t->out);
    odeon__buf_free(&t->json);
    free(t->html_root);
    g_free(t);
}

static void resolve_html_root(odeon_transport *t)
{
    const char *dir = t->settings.html_dir;
    if (dir == NULL || dir[0] == '\0')
        return;
    t->html_root = realpath(dir, NULL);
    if (t->html_root == NULL)
        LOG_WARN("html_dir %s not found: static files are not served", dir);
}

static int transport_listen(odeon_transport *t, char **error)
{
    const odeon_transport_settings *s = &t->settings;
    if (s->admin_enabled && s->admin_port == s->port && s->port != 0) {
        *error = g_strdup_printf("the admin port %u is the API port", s->port);
        return ODEON_EINVAL;
    }
    t->context = create_context(t, error);
    if (t->context == NULL)
        return ODEON_EIO;
    if (create_vhost(t, &t->api_vhost, s->interface, s->port, tls_enabled(s), error) == NULL)
        return ODEON_EIO;
    if (s->admin_enabled &&
        create_vhost(t, &t->admin_vhost, s->admin_interface, s->admin_port, false, error) == NULL)
        return ODEON_EIO;
    return 0;
}

odeon_transport *odeon_transport_start(const odeon_transport_settings *settings, odeon_api *api,
                                       odeon_admin *admin, odeon_sessions *sessions,
                                       odeon_http_routes *routes, char **error)
{
    odeon_transport *t = g_new0(odeon_transport, 1);
    t->settings = *settings;
    if (t->settings.max_body_size == 0)
        t->settings.max_body_size = 1024 * 1024;
    if (t->settings.longpoll_timeout == 0)
        t->settings.longpoll_timeout = 30;
    if (t->settings.client_queue_size == 0)
        t->settings.client_queue_size = 16u << 20;
    if (t->settings.queue_total_size == 0)
        t->settings.queue_total_size = odeon__default_queue_total();
    t->settings.admin_enabled = settings->admin_enabled && admin != NULL;
    t->api = api;
    t->admin = admin;
    t->sessions = sessions;
    t->routes = routes;
    const char *origin = settings->cors_allow_origin;
    t->cors_origin = (origin != NULL && origin[0] != '\0') ? origin : "*";
    t->cors_credentials = strcmp(t->cors_origin, "*") != 0;
    vhost_init(&t->api_vhost, t, false, settings->base_path);
    vhost_init(&t->admin_vhost, t, true, settings->admin_base_path);
    t->hub = odeon__hub_new();
    t->http_sink = odeon__http_sink_new(t->hub);
    resolve_html_root(t);

    raise_fd_limit();
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    if (transport_listen(t, error) != 0) {
        if (t->context != NULL)
            lws_context_destroy(t->context);
        transport_free(t);
        return NULL;
    }
    hub_set_context(t->hub, t->context);
    GError *gerr = NULL;
    t->thread = g_thread_try_new("odeon-lws", service_main, t, &gerr);
    if (t->thread == NULL) {
        *error = g_strdup_printf("cannot start the transport thread: %s", gerr->message);
        g_error_free(gerr);
        hub_set_context(t->hub, NULL);
        lws_context_destroy(t->context);
        transport_free(t);
        return NULL;
    }
    return t;
}

void odeon_transport_stop(odeon_transport *transport)
{
    if (transport == NULL)
        return;
    hub_request_stop(transport->hub);
    g_thread_join(transport->thread);
    transport_free(transport);
}
