/*
 * lws_server.h - what the transport's files share internally (not part of the contract in
 * transport.h): the transport object, the per-vhost and per-connection state lws hands back in
 * callbacks, the cross-thread "hub" that wakes the service thread, and queued messages.
 *
 * Threads. Everything here runs on the one lws service thread except what is marked "any
 * thread": the hub (producers post work under its mutex and wake the service thread with
 * lws_cancel_service), message construction, and the sinks' deliver/session_gone. A wsi pointer
 * is only ever touched on the service thread and only kept in structures that the connection's
 * close callbacks clear, so a late wake-up never reaches a freed wsi.
 *
 * Files: lws_server.c (context, vhosts, service loop, hub, stop), http.c (Janus HTTP API,
 * CORS, static files, keep-alive, response writer), http_longpoll.c (long-poll and the HTTP
 * sink), http_routes.c (plugin route registry and the odeon_http_request object), ws.c
 * (WebSocket connections and their sinks). http.h and ws.h declare what those files offer the
 * others.
 */
#ifndef ODEON_TRANSPORT_LWS_SERVER_H
#define ODEON_TRANSPORT_LWS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <jansson.h>
#include <libwebsockets.h>

#include "core/refcount.h"
#include "transport/sink.h"
#include "transport/transport.h"

typedef struct odeon__hub odeon__hub;
typedef struct odeon__http_sink odeon__http_sink;
typedef struct odeon__http_pss odeon__http_pss;
typedef struct odeon__http_conn odeon__http_conn;
typedef struct odeon__ws_conn odeon__ws_conn;

/* ---- messages: serialised JSON with LWS_PRE bytes of headroom (any thread) ---- */

typedef struct odeon__msg {
    struct odeon__msg *next; /* queue link */
    size_t len;              /* payload bytes at data + LWS_PRE (NUL-terminated) */
    /* WebSocket only: the message goes on with these bytes (a reference), sent as a
     * continuation frame; NULL for a message that is all in data. */
    odeon_shared_text *shared;
    uint8_t data[];
} odeon__msg;

/* The message's payload bytes, shared ones included. */
#define ODEON__MSG_SIZE(m) ((m)->len + ((m)->shared ? (m)->shared->len : 0))

#define ODEON__MSG_PAYLOAD(m) ((m)->data + LWS_PRE)

/* Compact JSON of json (borrowed) as a new message. */
odeon__msg *odeon__msg_from_json(json_t *json);
odeon__msg *odeon__msg_from_bytes(const void *bytes, size_t len);
void odeon__msg_free(odeon__msg *msg);

/* The default of queue_total_size: an eighth of the machine's memory. */
size_t odeon__default_queue_total(void);

/* A FIFO of messages (no locking of its own). */
typedef struct odeon__msg_queue {
    odeon__msg *head;
    odeon__msg *tail;
    size_t count;
    size_t bytes;      /* payload bytes of the messages queued (ODEON__MSG_SIZE) */
    size_t own_bytes;  /* of those, the ones not shared with other messages */
} odeon__msg_queue;

void odeon__msg_queue_push(odeon__msg_queue *q, odeon__msg *msg);
odeon__msg *odeon__msg_queue_pop(odeon__msg_queue *q);
/* Append every message of from to to (from is left empty). */
void odeon__msg_queue_splice(odeon__msg_queue *to, odeon__msg_queue *from);
void odeon__msg_queue_clear(odeon__msg_queue *q);

/* A growable byte buffer (service thread scratch space). */
typedef struct odeon__buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} odeon__buf;

void odeon__buf_reserve(odeon__buf *buf, size_t total);
void odeon__buf_append(odeon__buf *buf, const void *bytes, size_t len);
/* Replace buf's content with the compact JSON of json (borrowed); empty on failure. */
void odeon__buf_set_json(odeon__buf *buf, json_t *json);
/* Drop the storage when it grew beyond keep bytes (after a huge response). */
void odeon__buf_trim(odeon__buf *buf, size_t keep);
void odeon__buf_free(odeon__buf *buf);

/* ---- the hub: cross-thread hand-off to the service thread (any thread) ---- */

odeon__hub *odeon__hub_new(void);
odeon__hub *odeon__hub_ref(odeon__hub *hub);
void odeon__hub_unref(odeon__hub *hub);
/* A WebSocket connection has messages to write (takes a reference on conn). */
void odeon__hub_post_ws(odeon__hub *hub, odeon__ws_conn *conn);
/* A session's long-poll queue has events for its parked polls. */
void odeon__hub_post_session(odeon__hub *hub, uint64_t session_id);
/* A plugin answered a route request (takes a reference on req). */
void odeon__hub_post_request(odeon__hub *hub, odeon_http_request *req);

/* ---- vhosts and the transport ---- */

typedef struct odeon__vhost {
    odeon_transport *transport;
    bool admin;
    const char *base; /* "/janus" or "/admin", without a trailing '/' */
    size_t base_len;
    struct lws_vhost *vhost;
} odeon__vhost;

struct odeon_transport {
    odeon_transport_settings settings; /* strings borrowed (see transport.h) */
    odeon_api *api;
    odeon_admin *admin;
    odeon_sessions *sessions;
    odeon_http_routes *routes;

    odeon__vhost api_vhost;
    odeon__vhost admin_vhost;
    struct lws_context *context;
    GThread *thread;
    odeon__hub *hub;             /* reference */
    odeon__http_sink *http_sink; /* reference */
    char *html_root;             /* realpath of html_dir, or NULL */
    const char *cors_origin;     /* "*" or the configured origin */
    bool cors_credentials;       /* origin is not "*": Allow-Credentials + Vary */

    /* Service thread only. */
    GQueue ws_conns;             /* open WebSocket connections (links embedded in them) */
    GQueue waiting;              /* parked polls and requests waiting for a plugin */
    GQueue idle;                 /* idle keep-alive connections, oldest first */
    odeon__buf out;                     /* response being written */
    odeon__buf json;                    /* JSON being serialised */
    lws_sorted_usec_list_t sweep_timer; /* housekeeping */
    unsigned housekeeping_ticks;
    lws_sorted_usec_list_t stop_timer;
    int64_t stop_deadline_us;
    bool stopping; /* flushing before the loop ends */
    bool exit_loop;
};

/* Seconds an HTTP/1.1 connection may stay idle between requests. */
#define KEEPALIVE_IDLE_S 20

/* True on the lws service thread. */
bool odeon__transport_on_service_thread(void);

/* The vhost a wsi (or a broadcast's fake wsi) belongs to. */
odeon__vhost *odeon__transport_vhost(struct lws *wsi);

/* "1.2.3.4" of the peer, for log lines (buf of at least 64 bytes). */
const char *odeon__transport_peer(struct lws *wsi, char *buf, size_t len);

#endif
