/*
 * ws.c - WebSocket connections: "janus-protocol" on the API port, "janus-admin-protocol" on the
 * admin port. Each text message is one request, handed to the api (or admin) module on the
 * service thread; the reply goes back on the same socket, and an API connection is the event
 * sink of every session it creates, so plugin events reach it from any thread.
 *
 * A connection owns an outbound queue of serialised messages under its mutex. deliver() (any
 * thread) serialises the event, queues it and, unless a wake-up is already pending, posts the
 * connection to the hub; the service thread then requests SERVER_WRITEABLE and writes a batch
 * per callback. While a request is being handled, events for the connection are held back and
 * queued after the reply, so a client always sees a request's reply before the events that the
 * request caused.
 *
 * Messages are reassembled across fragments up to max_body_size; a larger one gets a 450 error
 * and the connection is closed, as Janus does. When the socket closes, its sessions are
 * destroyed and the connection drops every later event; the object itself lives until the
 * last session lets go of it.
 */
#include "transport/ws.h"

#include <string.h>

#include "transport/http.h"

#include "api/errors.h"
#include "core/log.h"

#define LOG_MODULE "websocket"

#define WS_QUEUE_LIMIT 10000 /* messages waiting for a client that does not read */
#define WS_WRITE_BATCH 32    /* messages written per writable callback */
/* Past the transport's queue_total_size, clients with more than twice the average waiting
 * are dropped (the ones that keep up still get their events); past a quarter more, any client
 * with more than WS_BACKLOG_BYTES waiting is: the bound holds even when every client is
 * equally behind. */
#define WS_BACKLOG_BYTES (64u << 10)

/* Bytes waiting for every connection of the process (their own bytes: a body shared by many
 * messages is one allocation), and how many connections there are (atomic): what bounds the
 * memory a room full of clients costs when the server cannot write as fast as events come. */
static gssize ws_queued_total;
static gint ws_conn_count;

struct odeon__ws_conn {
    odeon_event_sink base; /* first: the core sees this */
    odeon_refcount rc;
    odeon__hub *hub; /* reference */
    GMutex lock;
    odeon__msg_queue out;  /* to write, in order */
    odeon__msg_queue held; /* events that arrived while a request was handled */
    bool closed;
    bool in_request;
    bool posted;   /* in the hub's ready list */
    bool overflow; /* the client stopped reading: close */
    /* Service thread only. */
    odeon_transport *transport;
    struct lws *wsi; /* NULL once closed */
    bool admin;
    GList link;                  /* in transport->ws_conns; data = this */
    odeon__buf rx;               /* fragments of the message being received */
    bool rx_skip;                /* dropping the rest of an oversized message */
    bool close_after_flush;
    /* A message whose first frame went out and whose shared part (the continuation frame)
     * has yet to: nothing else may be written on the connection before it. */
    odeon__msg *writing;
    char peer[64];
};

G_STATIC_ASSERT(LWS_PRE <= ODEON_SINK_HEADROOM);

/* ---- the sink (any thread) ---- */

static void conn_free(odeon__ws_conn *conn)
{
    odeon__msg_free(conn->writing);
    g_atomic_pointer_add(&ws_queued_total,
                         -(gssize)(conn->out.own_bytes + conn->held.own_bytes));
    odeon__msg_queue_clear(&conn->out);
    odeon__msg_queue_clear(&conn->held);
    odeon__buf_free(&conn->rx);
    odeon__hub_unref(conn->hub);
    g_mutex_clear(&conn->lock);
    g_free(conn);
}

void odeon__ws_conn_unref(odeon__ws_conn *conn)
{
    if (conn != NULL && odeon_refcount_dec(&conn->rc))
        conn_free(conn);
}

static odeon__ws_conn *conn_ref(odeon__ws_conn *conn)
{
    odeon_refcount_inc(&conn->rc);
    return conn;
}

/* Under conn->lock: whether queueing a message of len bytes (own of them not shared) would
 * pass a limit (the client is then dropped as too slow; its sessions go, and a client that
 * resumes, such as the chat's, comes back with what it missed). The client's limit is on what
 * it has to read; the total's on what the queues hold in memory. */
static bool conn_over_limit_locked(const odeon__ws_conn *conn, size_t len, size_t own)
{
    const odeon_transport_settings *set = &conn->transport->settings;
    size_t behind = conn->out.bytes + conn->held.bytes;
    size_t mine = conn->out.own_bytes + conn->held.own_bytes;
    size_t all = (size_t)g_atomic_pointer_get(&ws_queued_total) + own;
    size_t conns = (size_t)MAX(1, g_atomic_int_get(&ws_conn_count));
    if (conn->out.count + conn->held.count >= WS_QUEUE_LIMIT ||
        behind + len > set->client_queue_size)
        return true;
    if (all > set->queue_total_size + set->queue_total_size / 4)
        return mine > WS_BACKLOG_BYTES;
    return all > set->queue_total_size && mine > MAX(WS_BACKLOG_BYTES, 2 * (all / conns));
}

/* Under conn->lock: empties both queues (the connection closes or goes). */
static void conn_clear_locked(odeon__ws_conn *conn)
{
    g_atomic_pointer_add(&ws_queued_total,
                         -(gssize)(conn->out.own_bytes + conn->held.own_bytes));
    odeon__msg_queue_clear(&conn->out);
    odeon__msg_queue_clear(&conn->held);
}

/* msg is taken; it was serialised outside the lock. */
static void sink_deliver_msg(odeon__ws_conn *conn, odeon__msg *msg)
{
    bool post = false, warn = false;
    size_t len = ODEON__MSG_SIZE(msg), own = msg->len, queued = 0, queued_bytes = 0;
    g_mutex_lock(&conn->lock);
    if (!conn->closed) {
        if (conn_over_limit_locked(conn, len, own)) {
            warn = !conn->overflow;
            conn->overflow = true;
            queued = conn->out.count + conn->held.count;
            queued_bytes = conn->out.bytes + conn->held.bytes;
        } else {
            odeon__msg_queue_push(conn->in_request ? &conn->held : &conn->out, msg);
            g_atomic_pointer_add(&ws_queued_total, (gssize)own);
            msg = NULL;
        }
        /* During a request the handler flushes after the reply; otherwise wake the thread. */
        post = !conn->in_request && !conn->posted;
        if (post)
            conn->posted = true;
    }
    g_mutex_unlock(&conn->lock);
    if (warn)
        LOG_WARN("client %s does not read its events fast enough (%zu queued, %zu bytes): "
                 "closing",
                 conn->peer, queued, queued_bytes);
    odeon__msg_free(msg);
    if (post)
        odeon__hub_post_ws(conn->hub, conn_ref(conn));
}

static void sink_deliver(odeon_event_sink *base, uint64_t session_id, json_t *event)
{
    (void)session_id;
    sink_deliver_msg((odeon__ws_conn *)base, odeon__msg_from_json(event));
}

static void sink_deliver_text(odeon_event_sink *base, uint64_t session_id, const char *text,
                              size_t len)
{
    (void)session_id;
    sink_deliver_msg((odeon__ws_conn *)base, odeon__msg_from_bytes(text, len));
}

static void sink_deliver_shared(odeon_event_sink *base, uint64_t session_id, const char *prefix,
                                size_t prefix_len, odeon_shared_text *body)
{
    (void)session_id;
    odeon__msg *msg = odeon__msg_from_bytes(prefix, prefix_len);
    msg->shared = odeon_shared_text_ref(body);
    sink_deliver_msg((odeon__ws_conn *)base, msg);
}

static void sink_session_gone(odeon_event_sink *base, uint64_t session_id)
{
    /* Events go straight to the socket: nothing is kept per session. */
    (void)base;
    (void)session_id;
}

static odeon_event_sink *sink_ref(odeon_event_sink *base)
{
    return &conn_ref((odeon__ws_conn *)base)->base;
}

static void sink_unref(odeon_event_sink *base)
{
    odeon__ws_conn_unref((odeon__ws_conn *)base);
}

static const odeon_event_sink_ops ws_sink_ops = {
    .deliver = sink_deliver,
    .deliver_text = sink_deliver_text,
    .deliver_shared = sink_deliver_shared,
    .session_gone = sink_session_gone,
    .ref = sink_ref,
    .unref = sink_unref,
    .name = "websocket",
};

/* ---- service thread ---- */

static void conn_link(odeon_transport *t, odeon__ws_conn *conn)
{
    conn->link.data = conn;
    g_queue_push_head_link(&t->ws_conns, &conn->link);
    g_atomic_int_inc(&ws_conn_count);
}

static void conn_unlink(odeon_transport *t, odeon__ws_conn *conn)
{
    g_queue_unlink(&t->ws_conns, &conn->link);
    g_atomic_int_add(&ws_conn_count, -1);
}

static int ws_open(struct lws *wsi, odeon__ws_conn **slot)
{
    odeon__vhost *vh = odeon__transport_vhost(wsi);
    if (vh == NULL)
        return -1;
    odeon__ws_conn *conn = g_new0(odeon__ws_conn, 1);
    conn->base.ops = &ws_sink_ops;
    odeon_refcount_init(&conn->rc); /* the transport's reference, dropped on close */
    conn->hub = odeon__hub_ref(vh->transport->hub);
    g_mutex_init(&conn->lock);
    conn->transport = vh->transport;
    conn->wsi = wsi;
    conn->admin = vh->admin;
    odeon__transport_peer(wsi, conn->peer, sizeof(conn->peer));
    conn_link(vh->transport, conn);
    /* Plain HTTP requests may have come first on this connection: it is no longer idle HTTP. */
    odeon__http_conn_forget(vh->transport, wsi);
    *slot = conn;
    LOG_VERBOSE("%s WebSocket from %s", vh->admin ? "admin" : "API", conn->peer);
    return 0;
}

static void ws_close(odeon__ws_conn **slot)
{
    odeon__ws_conn *conn = slot ? *slot : NULL;
    if (conn == NULL)
        return;
    *slot = NULL;
    odeon_transport *t = conn->transport;
    g_mutex_lock(&conn->lock);
    conn->closed = true;
    conn_clear_locked(conn);
    g_mutex_unlock(&conn->lock);
    conn_unlink(t, conn);
    conn->wsi = NULL;
    odeon__buf_free(&conn->rx);
    LOG_VERBOSE("%s WebSocket from %s closed", conn->admin ? "admin" : "API", conn->peer);
    /* Janus destroys a closed socket's sessions at once (no reclaim timeout). */
    if (!conn->admin)
        odeon_sessions_destroy_by_sink(t->sessions, &conn->base);
    odeon__ws_conn_unref(conn);
}

static void conn_queue(odeon__ws_conn *conn, odeon__msg *msg)
{
    g_mutex_lock(&conn->lock);
    g_atomic_pointer_add(&ws_queued_total, (gssize)msg->len);
    odeon__msg_queue_push(&conn->out, msg);
    g_mutex_unlock(&conn->lock);
    lws_callback_on_writable(conn->wsi);
}

static void ws_handle(odeon__ws_conn *conn, const char *text, size_t len)
{
    odeon_transport *t = conn->transport;
    g_mutex_lock(&conn->lock);
    conn->in_request = true;
    g_mutex_unlock(&conn->lock);
    odeon_api_request req = {
        .sink = conn->admin ? NULL : &conn->base,
        .transport = "websocket",
    };
    json_t *reply = conn->admin ? odeon_admin_handle_text(t->admin, &req, text, len)
                                : odeon_api_handle_text(t->api, &req, text, len);
    odeon__msg *msg = odeon__msg_from_json(reply);
    json_decref(reply);
    g_mutex_lock(&conn->lock);
    g_atomic_pointer_add(&ws_queued_total, (gssize)msg->len);
    odeon__msg_queue_push(&conn->out, msg);
    odeon__msg_queue_splice(&conn->out, &conn->held);
    conn->in_request = false;
    g_mutex_unlock(&conn->lock);
    lws_callback_on_writable(conn->wsi);
}

static void ws_too_large(odeon__ws_conn *conn)
{
    LOG_WARN("WebSocket message from %s over %zu bytes: closing", conn->peer,
                conn->transport->settings.max_body_size);
    json_t *error =
        odeon_api_error(0, NULL, ODEON_API_ERROR_TRANSPORT_SPECIFIC, "Message too large");
    conn_queue(conn, odeon__msg_from_json(error));
    json_decref(error);
    conn->close_after_flush = true;
}

static int ws_receive(odeon__ws_conn *conn, struct lws *wsi, const void *in, size_t len)
{
    bool last = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    if (conn->rx_skip || conn->close_after_flush) {
        if (last)
            conn->rx_skip = false;
        return 0;
    }
    size_t limit = conn->transport->settings.max_body_size;
    if (conn->rx.len + len > limit) {
        conn->rx.len = 0;
        odeon__buf_trim(&conn->rx, 0);
        conn->rx_skip = !last;
        ws_too_large(conn);
        return 0;
    }
    if (last && conn->rx.len == 0) { /* the whole message in one piece: no copy */
        ws_handle(conn, in, len);
        return 0;
    }
    odeon__buf_append(&conn->rx, in, len);
    if (last) {
        ws_handle(conn, (const char *)conn->rx.data, conn->rx.len);
        conn->rx.len = 0;
        odeon__buf_trim(&conn->rx, 64 * 1024);
    }
    return 0;
}

/* The shared part of conn->writing, as the message's last frame. -1 when lws failed. */
static int write_continuation(odeon__ws_conn *conn, struct lws *wsi)
{
    odeon__msg *msg = conn->writing;
    conn->writing = NULL;
    size_t len = msg->shared->len;
    int n = lws_write(wsi, ODEON_SHARED_TEXT(msg->shared), len, LWS_WRITE_CONTINUATION);
    odeon__msg_free(msg);
    return n < 0 || (size_t)n < len ? -1 : 0;
}

/* One message from the queue: all of it, or (with a shared part) its first frame and, unless
 * lws is holding a short write by then, the rest. -1 when lws failed. */
static int write_message(odeon__ws_conn *conn, struct lws *wsi, odeon__msg *msg)
{
    size_t len = msg->len;
    int flags = LWS_WRITE_TEXT | (msg->shared ? LWS_WRITE_NO_FIN : 0);
    /* A short write is buffered by lws and drained before the next writable callback. */
    int n = lws_write(wsi, ODEON__MSG_PAYLOAD(msg), len, flags);
    if (n < 0 || (size_t)n < len) {
        odeon__msg_free(msg);
        return -1;
    }
    if (msg->shared == NULL) {
        odeon__msg_free(msg);
        return 0;
    }
    conn->writing = msg;
    return lws_send_pipe_choked(wsi) ? 0 : write_continuation(conn, wsi);
}

static int ws_writeable(odeon__ws_conn *conn, struct lws *wsi)
{
    bool more = false, overflow;
    for (int i = 0; i < WS_WRITE_BATCH; i++) {
        /* lws buffers a short write and refuses (closes the connection on) another write
         * until it drained: big batches to a slow reader stop here for the next callback. */
        if (i > 0 && lws_send_pipe_choked(wsi)) {
            more = true;
            break;
        }
        if (conn->writing != NULL) {
            if (write_continuation(conn, wsi) != 0)
                return -1;
            g_mutex_lock(&conn->lock);
            more = conn->out.head != NULL;
            g_mutex_unlock(&conn->lock);
            if (!more)
                break;
            continue;
        }
        g_mutex_lock(&conn->lock);
        odeon__msg *msg = odeon__msg_queue_pop(&conn->out);
        if (msg != NULL)
            g_atomic_pointer_add(&ws_queued_total, -(gssize)msg->len);
        more = conn->out.head != NULL;
        g_mutex_unlock(&conn->lock);
        if (msg == NULL)
            break;
        if (write_message(conn, wsi, msg) != 0)
            return -1;
        if (conn->writing != NULL)
            more = true; /* its continuation goes first at the next callback */
        if (!more)
            break;
    }
    g_mutex_lock(&conn->lock);
    overflow = conn->overflow;
    g_mutex_unlock(&conn->lock);
    if (overflow) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"slow", 4);
        return -1;
    }
    if (more) {
        lws_callback_on_writable(wsi);
    } else if (conn->close_after_flush) {
        static const char reason[] = "Message too large";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)reason,
                         sizeof(reason) - 1);
        return -1;
    }
    return 0;
}

void odeon__ws_ready(odeon__ws_conn *conn)
{
    g_mutex_lock(&conn->lock);
    conn->posted = false;
    g_mutex_unlock(&conn->lock);
    if (conn->wsi != NULL)
        lws_callback_on_writable(conn->wsi);
}

bool odeon__ws_idle(odeon_transport *t)
{
    for (GList *l = t->ws_conns.head; l != NULL; l = l->next) {
        odeon__ws_conn *conn = l->data;
        g_mutex_lock(&conn->lock);
        bool empty = conn->out.head == NULL && conn->writing == NULL;
        g_mutex_unlock(&conn->lock);
        if (!empty || lws_send_pipe_choked(conn->wsi))
            return false;
    }
    return true;
}

int odeon__ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    odeon__ws_conn **slot = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        return slot ? ws_open(wsi, slot) : -1;
    case LWS_CALLBACK_RECEIVE:
        return slot && *slot ? ws_receive(*slot, wsi, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return slot && *slot ? ws_writeable(*slot, wsi) : 0;
    case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED:
        ws_close(slot);
        return 0;
    default:
        return 0;
    }
}
