/*
 * http.h - the plain-HTTP side of the transport as its other files see it: the per-transaction
 * state lws keeps for us, the response writer (http.c), the long-poll sink (http_longpoll.c)
 * and the plugin route requests (http_routes.c). Everything here runs on the service thread
 * unless marked.
 */
#ifndef ODEON_TRANSPORT_HTTP_H
#define ODEON_TRANSPORT_HTTP_H

#include "transport/http_parse.h"
#include "transport/lws_server.h"

typedef enum {
    ODEON__HTTP_IDLE = 0,
    ODEON__HTTP_JANUS_BODY, /* POST on the Janus/admin base: accumulating the body */
    ODEON__HTTP_ROUTE_BODY, /* plugin route: accumulating the body */
    ODEON__HTTP_PARKED,     /* long-poll waiting for events */
    ODEON__HTTP_ROUTE_WAIT, /* plugin route waiting for odeon_http_request_respond */
    ODEON__HTTP_FILE,       /* static file being sent by lws */
} odeon__http_state;

/* lws allocates this per HTTP transaction (zeroed) and frees it when the transaction ends:
 * completing a transaction rebinds the protocol, which drops and reallocates it. */
struct odeon__http_pss {
    odeon__vhost *vhost; /* NULL until the request is routed, and once released */
    struct lws *wsi;
    GList waiting_link; /* in transport->waiting while waiting_linked; data = this */
    bool waiting_linked;
    odeon__http_state state;
    int method; /* LWSHUMETH_* */
    /* lws 4.1 keeps POLLIN armed on a transaction it is not reading from, and spins on it when
     * the client closes or sends more: parked transactions are rx flow controlled ("held"). */
    bool rx_held;
    /* Request body (POST/PUT/PATCH, or any request with a Content-Length). */
    uint8_t *body;
    size_t body_len;
    size_t body_expected; /* Content-Length; with chunked, the allocated size */
    /* Transfer-Encoding: chunked, which lws 4.1 does not decode for servers: we do, and close
     * the connection after answering (lws still expects a body of unknown length). */
    bool chunked;
    odeon_http_chunked chunked_body;
    /* Janus paths. */
    uint64_t path_session_id;
    uint64_t path_handle_id;
    bool path_has_session;
    /* Long-poll. */
    uint64_t poll_session_id;
    unsigned maxev;
    /* Plugin route. */
    odeon_http_request *request; /* reference */
};

/* Per HTTP connection (lws's opaque user data), for keep-alive idle tracking: lws would arm a
 * timeout at each completed transaction, and its sorted timeout list costs a walk over every
 * idle connection per insert (a fifth of the service thread at 1000 connections). All idle
 * connections share one timeout, so a FIFO keeps them in deadline order instead. */
struct odeon__http_conn {
    struct lws *wsi;
    GList idle_link; /* in transport->idle while linked; data = this */
    int64_t idle_since_us;
    bool linked;
};

/* Forget wsi's connection state (it closes, or became a WebSocket). */
void odeon__http_conn_forget(odeon_transport *t, struct lws *wsi);
/* Close keep-alive connections idle for longer than the keep-alive timeout. */
void odeon__http_idle_reap(odeon_transport *t, int64_t now_us);

/* The lws callback of protocols[0] on both vhosts. */
int odeon__http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len);

/* ---- the long-poll sink ---- */

/* Any thread. */
odeon__http_sink *odeon__http_sink_new(odeon__hub *hub);
odeon_event_sink *odeon__http_sink_base(odeon__http_sink *sink);
void odeon__http_sink_unref(odeon__http_sink *sink);
/* Stop accepting events and drop every queue (the service thread has ended). */
void odeon__http_sink_close(odeon__http_sink *sink);
/* GET <base>/<session>: answer at once or park. Returns the callback's return value. */
int odeon__http_poll_begin(odeon_transport *t, odeon__http_pss *pss, uint64_t session_id);
/* A parked poll's writable callback or timer: answer with the queued events; with none,
 * answer keepalive when force, else park again. */
int odeon__http_poll_answer(odeon_transport *t, odeon__http_pss *pss, bool force);
/* A parked poll's transaction ends without an answer (the client left). */
void odeon__http_poll_release(odeon_transport *t, odeon__http_pss *pss);
/* Parked polls of this session have events to take. */
void odeon__http_session_ready(odeon_transport *t, uint64_t session_id);
/* Drop per-session queues that nobody polls and whose session is gone. */
void odeon__http_sweep(odeon_transport *t);

/* ---- waiting transactions (parked polls, requests waiting for a plugin) ---- */

void odeon__http_waiting_add(odeon_transport *t, odeon__http_pss *pss);
void odeon__http_waiting_remove(odeon_transport *t, odeon__http_pss *pss);
/* Stop: ask for a writable callback on each, which answers it at once. */
void odeon__http_answer_all(odeon_transport *t);
bool odeon__http_idle(odeon_transport *t);

/* ---- responses ---- */

/* One complete response. The body is either body/body_len or msgs (long-poll events: one
 * object when !array, a JSON array otherwise). */
typedef struct odeon__http_out {
    unsigned status;
    const char *content_type;
    const void *body;
    size_t body_len;
    odeon__msg *const *msgs;
    size_t n_msgs;
    bool array;
    bool janus_cors; /* Allow-Origin (+ Credentials, Vary) and Max-Age */
    bool route_cors; /* Allow-Origin and Expose-Headers, unless headers set them */
    const char *location;
    const char *allow_methods; /* preflight answers */
    const char *allow_headers;
    const char *const *headers; /* NULL-terminated "Name: value" strings */
    bool close;                 /* "Connection: close", then close the connection */
    bool discard_body;          /* answered before the body arrived: lws reads and drops it */
} odeon__http_out;

/* Write out and complete the transaction. Returns what the lws callback must return (0, or -1
 * to close). lws frees the transaction's pss inside: do not touch it afterwards. Only for a
 * transaction that is not held: otherwise odeon__http_respond. */
int odeon__http_send(odeon_transport *t, struct lws *wsi, const odeon__http_out *out);
/* Answer pss's transaction (releasing a held connection first). Same return as send. */
int odeon__http_respond(odeon_transport *t, odeon__http_pss *pss, const odeon__http_out *out);
/* Stop reading from pss's connection until it is answered. lws 4.1 never delivers a writable
 * callback to a connection in this state (and spins on its POLLOUT): wake it with
 * odeon__http_wake, never with lws_callback_on_writable. */
void odeon__http_hold(odeon__http_pss *pss);
/* Read again and ask for a writable callback (which answers, or holds again). */
void odeon__http_wake(odeon__http_pss *pss);
/* The client closed or reset the connection (peeks at the socket). */
bool odeon__http_peer_gone(struct lws *wsi);
/* Close held transactions whose client went away. */
void odeon__http_reap(odeon_transport *t);
/* A JSON reply (borrowed) with the Janus CORS headers. */
int odeon__http_send_json(odeon_transport *t, struct lws *wsi, unsigned status, json_t *json,
                          bool close);
/* {"janus":"error","error":{"code":code,"reason":reason}} */
int odeon__http_send_error(odeon_transport *t, struct lws *wsi, unsigned status, int code,
                           const char *reason, bool close);
/* 413 with the Janus-style JSON error 450; close: close the connection instead of letting lws
 * drain the body. */
int odeon__http_too_large(odeon_transport *t, struct lws *wsi, uint64_t len, bool close);

/* Check Content-Length (or Transfer-Encoding: chunked) against max_body_size and allocate
 * pss->body. Returns 1 when a body is coming, 0 when there is none, -1 when the request was
 * answered (*rc is the callback's return value). */
int odeon__http_body_begin(odeon_transport *t, odeon__http_pss *pss, int method, int *rc);
/* Append the query string ("a=1&b=2", lws-decoded), preceded by '?' when with_mark and not
 * empty. */
void odeon__http_query(struct lws *wsi, GString *out, bool with_mark);

/* ---- plugin routes (http_routes.c) ---- */

/* LWS_CALLBACK_HTTP matched a route: build the request, then wait for the body or call the
 * handler. Returns the callback's return value. */
int odeon__route_begin(odeon_transport *t, odeon__http_pss *pss, const odeon_http_route *route,
                       int method, const char *path);
/* The body is complete: call the plugin's handler. */
int odeon__route_dispatch(odeon_transport *t, odeon__http_pss *pss);
/* HTTP_WRITEABLE on a waiting route: write the answer if there is one (503 when stopping). */
int odeon__route_writeable(odeon_transport *t, odeon__http_pss *pss);
/* The transaction ends (answered, or the client went away): detach and drop the request. */
void odeon__route_release(odeon__http_pss *pss);
/* A plugin answered req from another thread (via the hub). */
void odeon__route_answered(odeon_http_request *req);
/* Any thread. */
odeon_http_request *odeon__http_request_ref(odeon_http_request *req);
void odeon__http_request_unref(odeon_http_request *req);

#endif
