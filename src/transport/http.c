/*
 * http.c - plain HTTP on both ports: the Janus API (POST to the base path and to session and
 * handle paths, GET <base>/info, CORS preflights; long-polls are in http_longpoll.c), the admin
 * API's POSTs, plugin routes (handed to http_routes.c), static files from html_dir, and the
 * response writer they all use.
 *
 * Request flow (service thread): LWS_CALLBACK_HTTP routes the path (Janus base, then plugin
 * routes, then static files, else 404); a POST's body is accumulated up to max_body_size
 * (Content-Length, or a chunked body that we decode since lws 4.1 does not) and handed to the
 * api or admin module on BODY_COMPLETION; the reply is written at once and the transaction
 * completed so the connection is reused. Every Janus reply is HTTP 200 with the error, if any,
 * in the JSON, as Janus does.
 *
 * Working around lws 4.1.6: a transaction that waits (long-poll, plugin answer) is rx flow
 * controlled, or lws spins on its socket; idle keep-alive connections are timed out by a FIFO
 * here instead of by lws's sorted timeout list; a POST that lws parses from its stash of
 * pipelined input gets its own request line as body, so it is refused.
 */
#include "transport/http.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "api/errors.h"
#include "core/clock.h"
#include "core/log.h"

#define LOG_MODULE "http"

#define DISCARD_FACTOR 64 /* beyond max_body_size * this, close instead of draining */
#define ROOM_HEADERS 1024 /* header bytes besides caller-supplied ones */

/* ======================================================================================== */
/* Response writing                                                                         */
/* ======================================================================================== */

static int add_header(struct lws *wsi, const char *name_colon, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name_colon,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/* True when a plugin's header list already names this header. */
static bool headers_have(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        if (g_ascii_strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
            return true;
    return false;
}

static int add_cors(odeon_transport *t, struct lws *wsi, const odeon__http_out *out,
                    unsigned char **p, unsigned char *end)
{
    if (!headers_have(out->headers, "Access-Control-Allow-Origin")) {
        if (add_header(wsi, "Access-Control-Allow-Origin:", t->cors_origin, p, end))
            return 1;
        if (t->cors_credentials &&
            (add_header(wsi, "Access-Control-Allow-Credentials:", "true", p, end) ||
             add_header(wsi, "Vary:", "Origin", p, end)))
            return 1;
    }
    if (out->janus_cors && add_header(wsi, "Access-Control-Max-Age:", "86400", p, end))
        return 1;
    if (out->route_cors && !headers_have(out->headers, "Access-Control-Expose-Headers") &&
        add_header(wsi, "Access-Control-Expose-Headers:", "Location, ETag, Link", p, end))
        return 1;
    return 0;
}

/* "Name: value" from a plugin: the name must be a token and nothing may break the line. */
static int add_raw_header(struct lws *wsi, const char *line, unsigned char **p, unsigned char *end)
{
    const char *colon = strchr(line, ':');
    size_t n = colon ? (size_t)(colon - line) : 0;
    if (n == 0 || n > 120 || strpbrk(line, "\r\n") != NULL) {
        LOG_WARN("plugin response header dropped (malformed): %.40s", line);
        return 0;
    }
    char name[128];
    for (size_t i = 0; i < n; i++) {
        if (!g_ascii_isalnum(line[i]) && line[i] != '-' && line[i] != '_') {
            LOG_WARN("plugin response header dropped (bad name): %.40s", line);
            return 0;
        }
        name[i] = line[i];
    }
    name[n] = ':';
    name[n + 1] = '\0';
    const char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    return add_header(wsi, name, value, p, end);
}

static size_t out_body_len(const odeon__http_out *out)
{
    if (out->msgs == NULL)
        return out->body_len;
    size_t len = out->array ? 2 + (out->n_msgs ? out->n_msgs - 1 : 0) : 0;
    for (size_t i = 0; i < out->n_msgs; i++)
        len += out->msgs[i]->len;
    return len;
}

static size_t out_header_room(const odeon__http_out *out)
{
    size_t room = ROOM_HEADERS;
    if (out->location)
        room += strlen(out->location);
    if (out->allow_methods)
        room += strlen(out->allow_methods);
    if (out->allow_headers)
        room += strlen(out->allow_headers);
    for (size_t i = 0; out->headers != NULL && out->headers[i] != NULL; i++)
        room += strlen(out->headers[i]) + 8;
    return room;
}

static const struct {
    unsigned status;
    const char *reason;
} reason_phrases[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
};

static const char *reason_phrase(unsigned status)
{
    for (size_t i = 0; i < G_N_ELEMENTS(reason_phrases); i++)
        if (reason_phrases[i].status == status)
            return reason_phrases[i].reason;
    return "";
}

/* Our own status line: lws 4.1 has reason phrases for few codes ("201 ", "302 Redirect"). We
 * only speak HTTP/1.1, which an HTTP/1.0 client accepts too. */
static int add_status(struct lws *wsi, unsigned status, unsigned char **p, unsigned char *end)
{
    char line[64];
    int n = g_snprintf(line, sizeof(line), "HTTP/1.1 %u %s", status, reason_phrase(status));
    return lws_add_http_header_by_name(wsi, NULL, (const unsigned char *)line, n, p, end) ||
           add_header(wsi, "Server:", "odeon", p, end);
}

static int out_headers(odeon_transport *t, struct lws *wsi, const odeon__http_out *out,
                       size_t body_len, unsigned char **p, unsigned char *end)
{
    bool no_body = out->status == 204 || out->status == 304;
    if (add_status(wsi, out->status, p, end))
        return 1;
    if (out->content_type && !no_body &&
        add_header(wsi, "Content-Type:", out->content_type, p, end))
        return 1;
    if (!no_body && lws_add_http_header_content_length(wsi, body_len, p, end))
        return 1;
    if (out->location && add_header(wsi, "Location:", out->location, p, end))
        return 1;
    if ((out->janus_cors || out->route_cors) && add_cors(t, wsi, out, p, end))
        return 1;
    if (out->allow_methods &&
        add_header(wsi, "Access-Control-Allow-Methods:", out->allow_methods, p, end))
        return 1;
    if (out->allow_headers &&
        add_header(wsi, "Access-Control-Allow-Headers:", out->allow_headers, p, end))
        return 1;
    for (size_t i = 0; out->headers != NULL && out->headers[i] != NULL; i++)
        if (add_raw_header(wsi, out->headers[i], p, end))
            return 1;
    if ((out->close || out->discard_body) && add_header(wsi, "Connection:", "close", p, end))
        return 1;
    return lws_finalize_http_header(wsi, p, end);
}

static void out_body(const odeon__http_out *out, uint8_t *dst)
{
    if (out->msgs == NULL) {
        if (out->body_len > 0)
            memcpy(dst, out->body, out->body_len);
        return;
    }
    if (out->array)
        *dst++ = '[';
    for (size_t i = 0; i < out->n_msgs; i++) {
        if (i > 0 && out->array)
            *dst++ = ',';
        memcpy(dst, ODEON__MSG_PAYLOAD(out->msgs[i]), out->msgs[i]->len);
        dst += out->msgs[i]->len;
    }
    if (out->array)
        *dst = ']';
}

/* Headers and body go out in one write: for HTTP/1.1 (the only version we speak: no h2c, ALPN
 * http/1.1) lws sends it as is and buffers whatever the socket does not take. */
static int http_write(odeon_transport *t, struct lws *wsi, const odeon__http_out *out)
{
    size_t body_len = out_body_len(out);
    size_t room = out_header_room(out);
    odeon__buf *b = &t->out;
    odeon__buf_reserve(b, LWS_PRE + room + body_len);
    unsigned char *start = b->data + LWS_PRE, *p = start;
    if (out_headers(t, wsi, out, body_len, &p, start + room)) {
        LOG_WARN("HTTP %u response headers do not fit in %zu bytes", out->status, room);
        return -1;
    }
    out_body(out, p);
    size_t total = (size_t)(p - start) + body_len;
    int written = lws_write(wsi, start, total, LWS_WRITE_HTTP_FINAL);
    odeon__buf_trim(b, 1024 * 1024);
    return (written < 0 || (size_t)written != total) ? -1 : 0;
}

/* ---- keep-alive connections ---- */

static void idle_unlink(odeon_transport *t, odeon__http_conn *conn)
{
    if (!conn->linked)
        return;
    g_queue_unlink(&t->idle, &conn->idle_link);
    conn->linked = false;
}

static void idle_append(odeon_transport *t, odeon__http_conn *conn)
{
    idle_unlink(t, conn);
    conn->idle_since_us = odeon_clock_monotonic_us();
    conn->idle_link.data = conn;
    g_queue_push_tail_link(&t->idle, &conn->idle_link);
    conn->linked = true;
}

/* A request starts on wsi: it is not idle any more. */
static void conn_busy(odeon_transport *t, struct lws *wsi)
{
    odeon__http_conn *conn = lws_get_opaque_user_data(wsi);
    if (conn == NULL) {
        conn = g_new0(odeon__http_conn, 1);
        conn->wsi = wsi;
        lws_set_opaque_user_data(wsi, conn);
    }
    idle_unlink(t, conn);
}

void odeon__http_conn_forget(odeon_transport *t, struct lws *wsi)
{
    odeon__http_conn *conn = lws_get_opaque_user_data(wsi);
    if (conn == NULL)
        return;
    idle_unlink(t, conn);
    lws_set_opaque_user_data(wsi, NULL);
    g_free(conn);
}

void odeon__http_idle_reap(odeon_transport *t, int64_t now_us)
{
    int64_t limit = (int64_t)KEEPALIVE_IDLE_S * G_USEC_PER_SEC;
    odeon__http_conn *conn;
    while ((conn = g_queue_peek_head(&t->idle)) != NULL &&
           now_us - conn->idle_since_us > limit) {
        idle_unlink(t, conn);
        /* Closed on the next service pass; the state goes with LWS_CALLBACK_WSI_DESTROY. */
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, LWS_TO_KILL_ASYNC);
    }
}

/* Complete the transaction; a kept-alive connection joins the idle list instead of carrying
 * an lws timeout. Returns what the callback returns. */
static int http_complete(odeon_transport *t, struct lws *wsi)
{
    if (lws_http_transaction_completed(wsi))
        return -1;
    odeon__http_conn *conn = lws_get_opaque_user_data(wsi);
    if (conn != NULL) {
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        idle_append(t, conn);
    }
    return 0;
}

int odeon__http_send(odeon_transport *t, struct lws *wsi, const odeon__http_out *out)
{
    if (http_write(t, wsi, out) != 0 || out->close)
        return -1;
    /* Completing rebinds the protocol: lws frees the pss here. With a body still arriving
     * (discard_body), lws reads and drops it first, under its own timeout. */
    if (out->discard_body)
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    return http_complete(t, wsi);
}

void odeon__http_hold(odeon__http_pss *pss)
{
    if (!pss->rx_held) {
        pss->rx_held = true;
        lws_rx_flow_control(pss->wsi, 0);
    }
}

static void http_unhold(odeon__http_pss *pss)
{
    if (pss->rx_held) {
        pss->rx_held = false;
        lws_rx_flow_control(pss->wsi, 1);
    }
}

void odeon__http_wake(odeon__http_pss *pss)
{
    http_unhold(pss);
    lws_callback_on_writable(pss->wsi);
}

int odeon__http_respond(odeon_transport *t, odeon__http_pss *pss, const odeon__http_out *out)
{
    struct lws *wsi = pss->wsi;
    odeon__http_waiting_remove(t, pss);
    http_unhold(pss);
    pss->state = ODEON__HTTP_IDLE;
    return odeon__http_send(t, wsi, out);
}

bool odeon__http_peer_gone(struct lws *wsi)
{
    int fd = lws_get_socket_fd(wsi);
    if (fd < 0)
        return true;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void odeon__http_reap(odeon_transport *t)
{
    for (GList *l = t->waiting.head; l != NULL; l = l->next) {
        odeon__http_pss *pss = l->data;
        if (odeon__http_peer_gone(pss->wsi))
            lws_set_timeout(pss->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

/* A JSON answer (borrowed) to pss's transaction, with the Janus CORS headers. */
static int respond_json(odeon_transport *t, odeon__http_pss *pss, unsigned status, json_t *json,
                        bool close);

/* A Janus JSON response (with Janus's CORS headers) whose body is json serialised into the
 * transport's scratch buffer; valid until the buffer is reused. */
static odeon__http_out json_out(odeon_transport *t, unsigned status, json_t *json, bool close)
{
    odeon__buf_set_json(&t->json, json);
    return (odeon__http_out){
        .status = status,
        .content_type = "application/json",
        .body = t->json.data,
        .body_len = t->json.len,
        .janus_cors = true,
        .close = close,
    };
}

int odeon__http_send_json(odeon_transport *t, struct lws *wsi, unsigned status, json_t *json,
                          bool close)
{
    odeon__http_out out = json_out(t, status, json, close);
    int rc = odeon__http_send(t, wsi, &out);
    odeon__buf_trim(&t->json, 1024 * 1024);
    return rc;
}

static int respond_json(odeon_transport *t, odeon__http_pss *pss, unsigned status, json_t *json,
                        bool close)
{
    odeon__http_out out = json_out(t, status, json, close);
    int rc = odeon__http_respond(t, pss, &out);
    odeon__buf_trim(&t->json, 1024 * 1024);
    return rc;
}

int odeon__http_send_error(odeon_transport *t, struct lws *wsi, unsigned status, int code,
                           const char *reason, bool close)
{
    json_t *error = odeon_api_error(0, NULL, code, reason);
    int rc = odeon__http_send_json(t, wsi, status, error, close);
    json_decref(error);
    return rc;
}

static int send_not_found(odeon_transport *t, struct lws *wsi)
{
    return odeon__http_send_error(t, wsi, 404, ODEON_API_ERROR_INVALID_REQUEST_PATH,
                                  "Invalid request path", false);
}

/* ======================================================================================== */
/* Waiting transactions                                                                     */
/* ======================================================================================== */

void odeon__http_waiting_add(odeon_transport *t, odeon__http_pss *pss)
{
    if (pss->waiting_linked)
        return;
    pss->waiting_link.data = pss;
    g_queue_push_head_link(&t->waiting, &pss->waiting_link);
    pss->waiting_linked = true;
}

void odeon__http_waiting_remove(odeon_transport *t, odeon__http_pss *pss)
{
    if (!pss->waiting_linked)
        return;
    g_queue_unlink(&t->waiting, &pss->waiting_link);
    pss->waiting_linked = false;
}

bool odeon__http_idle(odeon_transport *t)
{
    return g_queue_is_empty(&t->waiting);
}

/* Stop: every parked poll and waiting request is answered from its own writable callback. */
void odeon__http_answer_all(odeon_transport *t)
{
    for (GList *l = t->waiting.head; l != NULL; l = l->next)
        odeon__http_wake(l->data);
}

/* ======================================================================================== */
/* The Janus and admin paths                                                                */
/* ======================================================================================== */

static int janus_preflight(odeon_transport *t, struct lws *wsi)
{
    char method[128], headers[1024];
    int m = lws_hdr_custom_copy(wsi, method, sizeof(method), "access-control-request-method:",
                                (int)strlen("access-control-request-method:"));
    int h = lws_hdr_copy(wsi, headers, sizeof(headers), WSI_TOKEN_HTTP_AC_REQUEST_HEADERS);
    odeon__http_out out = {
        .status = 200,
        .janus_cors = true,
        .allow_methods = m > 0 ? method : "GET, POST, OPTIONS",
        .allow_headers = h > 0 ? headers : NULL,
    };
    return odeon__http_send(t, wsi, &out);
}

static int janus_post_begin(odeon_transport *t, odeon__http_pss *pss,
                            const odeon_http_janus_path *jp)
{
    int rc = 0;
    if (odeon__http_body_begin(t, pss, LWSHUMETH_POST, &rc) < 0)
        return rc;
    pss->path_has_session = jp->session_id != 0;
    pss->path_session_id = jp->session_id;
    pss->path_handle_id = jp->handle_id;
    pss->state = ODEON__HTTP_JANUS_BODY;
    return 0;
}

static int janus_post_finish(odeon_transport *t, odeon__http_pss *pss)
{
    odeon__vhost *vh = pss->vhost;
    pss->body[pss->body_len] = '\0';
    odeon_api_request req = {
        .path_session_id = pss->path_session_id,
        .path_handle_id = pss->path_handle_id,
        .path_has_session = pss->path_has_session,
        .sink = vh->admin ? NULL : odeon__http_sink_base(t->http_sink),
        .transport = "http",
    };
    const char *text = (const char *)pss->body;
    json_t *reply = vh->admin ? odeon_admin_handle_text(t->admin, &req, text, pss->body_len)
                              : odeon_api_handle_text(t->api, &req, text, pss->body_len);
    g_clear_pointer(&pss->body, g_free);
    int rc = respond_json(t, pss, 200, reply, pss->chunked);
    json_decref(reply);
    return rc;
}

/* Janus answers a GET on a handle path with a redirect to the session path (without the
 * query, as Janus does). */
static int janus_redirect(odeon_transport *t, odeon__vhost *vh, struct lws *wsi,
                          const odeon_http_janus_path *jp)
{
    GString *loc = g_string_new_len(vh->base, (gssize)vh->base_len);
    g_string_append_c(loc, '/');
    g_string_append_len(loc, jp->first, (gssize)jp->first_len);
    odeon__http_out out = {.status = 302, .janus_cors = true, .location = loc->str};
    int rc = odeon__http_send(t, wsi, &out);
    g_string_free(loc, TRUE);
    return rc;
}

static int janus_get(odeon_transport *t, odeon__http_pss *pss, const odeon_http_janus_path *jp)
{
    odeon__vhost *vh = pss->vhost;
    struct lws *wsi = pss->wsi;
    if (jp->segments == 1 && jp->first_len == 4 && memcmp(jp->first, "info", 4) == 0) {
        json_t *info = odeon_api_server_info(t->api, NULL);
        int rc = odeon__http_send_json(t, wsi, 200, info, false);
        json_decref(info);
        return rc;
    }
    if (vh->admin) {
        if (jp->segments == 0) /* Janus: a GET carries no request */
            return odeon__http_send_error(t, wsi, 200, ODEON_API_ERROR_INVALID_JSON,
                                          "Request payload missing", false);
        return send_not_found(t, wsi);
    }
    if (jp->segments == 1)
        return odeon__http_poll_begin(t, pss, jp->session_id);
    if (jp->segments == 2)
        return janus_redirect(t, vh, wsi, jp);
    return send_not_found(t, wsi);
}

static int janus_request(odeon_transport *t, odeon__http_pss *pss, int method, const char *rest)
{
    odeon_http_janus_path jp;
    odeon_http_janus_path_parse(rest, &jp);
    if (jp.segments > 2)
        return send_not_found(t, pss->wsi);
    switch (method) {
    case LWSHUMETH_OPTIONS:
        return janus_preflight(t, pss->wsi);
    case LWSHUMETH_POST:
        return janus_post_begin(t, pss, &jp);
    case LWSHUMETH_GET:
        return janus_get(t, pss, &jp);
    default:
        return odeon__http_send_error(t, pss->wsi, 405, ODEON_API_ERROR_TRANSPORT_SPECIFIC,
                                      "Method not allowed", false);
    }
}

/* ======================================================================================== */
/* Chunked request bodies                                                                   */
/* ======================================================================================== */

static bool is_chunked(struct lws *wsi)
{
    char te[64];
    if (lws_hdr_copy(wsi, te, sizeof(te), WSI_TOKEN_HTTP_TRANSFER_ENCODING) <= 0)
        return false;
    for (char *p = te; *p != '\0'; p++)
        *p = g_ascii_tolower(*p);
    return strstr(te, "chunked") != NULL;
}

/* Decoded body bytes land in the request's body buffer, grown as needed. */
static void chunk_append(void *user_data, const uint8_t *data, size_t n)
{
    odeon__http_pss *pss = user_data;
    if (pss->body_len + n + 1 > pss->body_expected) {
        size_t cap = pss->body_expected ? pss->body_expected : 4096;
        while (cap < pss->body_len + n + 1)
            cap *= 2;
        pss->body = g_realloc(pss->body, cap);
        pss->body_expected = cap;
    }
    memcpy(pss->body + pss->body_len, data, n);
    pss->body_len += n;
}

static int http_body_done(odeon_transport *t, odeon__http_pss *pss);

static int http_body_chunked(odeon_transport *t, odeon__http_pss *pss, const void *in, size_t len)
{
    int r = odeon_http_chunked_feed(&pss->chunked_body, in, len, t->settings.max_body_size,
                                    chunk_append, pss);
    if (r == ODEON_HTTP_CHUNKED_MORE)
        return 0;
    if (r == ODEON_HTTP_CHUNKED_TOO_LARGE)
        return odeon__http_too_large(t, pss->wsi,
                                     pss->body_len + pss->chunked_body.remain, true);
    if (r < 0)
        return odeon__http_send_error(t, pss->wsi, 400, ODEON_API_ERROR_TRANSPORT_SPECIFIC,
                                      "Malformed chunked request body", true);
    if (pss->body == NULL)
        chunk_append(pss, (const uint8_t *)"", 0);
    return http_body_done(t, pss);
}

/* ======================================================================================== */
/* Shared helpers (http.h)                                                                  */
/* ======================================================================================== */

int odeon__http_too_large(odeon_transport *t, struct lws *wsi, uint64_t len, bool close)
{
    char peer[64], reason[96];
    LOG_WARN("request body of %" G_GUINT64_FORMAT " bytes from %s refused (limit %zu)", len,
                odeon__transport_peer(wsi, peer, sizeof(peer)), t->settings.max_body_size);
    g_snprintf(reason, sizeof(reason), "Request body too large (limit %zu bytes)",
               t->settings.max_body_size);
    json_t *error = odeon_api_error(0, NULL, ODEON_API_ERROR_TRANSPORT_SPECIFIC, reason);
    /* Answer now; lws then reads and drops the body so the client sees the answer instead of a
     * reset. An absurd size is not worth reading, and a chunked body has no known end for lws:
     * close at once. */
    bool huge = close || len / DISCARD_FACTOR > t->settings.max_body_size;
    odeon__http_out out = json_out(t, 413, error, huge);
    out.discard_body = !huge;
    json_decref(error);
    return odeon__http_send(t, wsi, &out);
}

int odeon__http_body_begin(odeon_transport *t, odeon__http_pss *pss, int method, int *rc)
{
    struct lws *wsi = pss->wsi;
    char cl[32];
    bool has_cl = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    bool wants_body =
        method == LWSHUMETH_POST || method == LWSHUMETH_PUT || method == LWSHUMETH_PATCH;
    *rc = 0;
    if (!has_cl) {
        if (!wants_body)
            return 0;
        if (is_chunked(wsi)) {
            pss->chunked = true;
            pss->chunked_body = (odeon_http_chunked){0};
            return 1;
        }
        char peer[64];
        LOG_WARN("%s without Content-Length from %s refused",
                    method == LWSHUMETH_POST ? "POST" : "request body",
                    odeon__transport_peer(wsi, peer, sizeof(peer)));
        *rc = odeon__http_send_error(t, wsi, 411, ODEON_API_ERROR_TRANSPORT_SPECIFIC,
                                     "Content-Length required", true);
        return -1;
    }
    guint64 len = 0;
    if (!g_ascii_string_to_unsigned(cl, 10, 0, G_MAXINT64, &len, NULL)) {
        *rc = odeon__http_send_error(t, wsi, 400, ODEON_API_ERROR_TRANSPORT_SPECIFIC,
                                     "Invalid Content-Length", true);
        return -1;
    }
    if (len > t->settings.max_body_size) {
        *rc = odeon__http_too_large(t, wsi, len, false);
        return -1;
    }
    if (len == 0 && !wants_body)
        return 0;
    pss->body = g_malloc(len + 1);
    pss->body_len = 0;
    pss->body_expected = len;
    return 1;
}

void odeon__http_query(struct lws *wsi, GString *out, bool with_mark)
{
    char frag[1024];
    for (int i = 0;; i++) {
        int n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n <= 0)
            break;
        if ((size_t)n >= sizeof(frag) ||
            lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            continue;
        if (i == 0 && with_mark)
            g_string_append_c(out, '?');
        else if (i > 0)
            g_string_append_c(out, '&');
        g_string_append(out, frag);
    }
}

/* ======================================================================================== */
/* Static files                                                                             */
/* ======================================================================================== */

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".wasm", "application/wasm"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *mime_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < G_N_ELEMENTS(mime_types); i++)
            if (g_ascii_strcasecmp(dot, mime_types[i].ext) == 0)
                return mime_types[i].type;
    return "application/octet-stream";
}

static bool path_has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2) {
        bool starts = p == path || p[-1] == '/';
        bool ends = p[2] == '\0' || p[2] == '/';
        if (starts && ends)
            return true;
    }
    return false;
}

/* The real path of the file to send for the URL path, or NULL: it must be a regular file
 * inside html_root (symlinks resolved) and a directory means its index.html. */
static char *static_resolve(const char *root, const char *path)
{
    if (path_has_dotdot(path) || strchr(path, '\\') != NULL)
        return NULL;
    char *joined = g_strconcat(root, path, NULL);
    char *real = realpath(joined, NULL);
    g_free(joined);
    size_t rl = strlen(root);
    struct stat st;
    if (real != NULL && stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *index = g_strconcat(real, "/index.html", NULL);
        free(real);
        real = realpath(index, NULL);
        g_free(index);
    }
    bool inside = real != NULL && strncmp(real, root, rl) == 0 && real[rl] == '/';
    if (!inside || stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(real);
        return NULL;
    }
    return real;
}

static int static_serve(odeon_transport *t, odeon__http_pss *pss, const char *path)
{
    char *file = static_resolve(t->html_root, path);
    if (file == NULL)
        return send_not_found(t, pss->wsi);
    pss->state = ODEON__HTTP_FILE;
    int n = lws_serve_http_file(pss->wsi, file, mime_type(file), NULL, 0);
    free(file);
    if (n < 0)
        return -1;
    if (n > 0)
        return http_complete(t, pss->wsi);
    return 0; /* lws sends it; LWS_CALLBACK_HTTP_FILE_COMPLETION ends the transaction */
}

/* ======================================================================================== */
/* Dispatch                                                                                 */
/* ======================================================================================== */

static void http_release(odeon__http_pss *pss);

static bool under_base(const odeon__vhost *vh, const char *path)
{
    if (vh->base_len == 0)
        return true;
    return strncmp(path, vh->base, vh->base_len) == 0 &&
           (path[vh->base_len] == '\0' || path[vh->base_len] == '/');
}

/* GET /metrics on the admin port (Prometheus). The secret travels as a bearer token, which
 * is what Prometheus's scrape configuration sends. */
static int metrics_serve(odeon_transport *t, struct lws *wsi, int method)
{
    if (method != LWSHUMETH_GET) {
        static const char *const allow[] = {"Allow: GET", NULL};
        odeon__http_out out = {.status = 405, .content_type = "application/json",
                               .body = "{\"error\":\"method not allowed\"}",
                               .body_len = 30, .headers = allow};
        return odeon__http_send(t, wsi, &out);
    }
    char auth[512] = "";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) >= (int)sizeof(auth) ||
        lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        auth[0] = '\0';
    unsigned status = 500;
    char *body = odeon_admin_metrics(t->admin, auth, &status);
    static const char *const challenge[] = {"WWW-Authenticate: Bearer", NULL};
    odeon__http_out out = {
        .status = status,
        .content_type = status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
                                      : "application/json",
        .body = body,
        .body_len = strlen(body),
        .headers = status == 401 ? challenge : NULL,
    };
    int rc = odeon__http_send(t, wsi, &out);
    memset(auth, 0, sizeof(auth));
    g_free(body);
    return rc;
}

static int http_request(odeon__vhost *vh, odeon__http_pss *pss, struct lws *wsi, const char *path)
{
    odeon_transport *t = vh->transport;
    char *uri = NULL;
    int uri_len = 0;
    int method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
    http_release(pss); /* a fresh pss per transaction, but be safe */
    conn_busy(t, wsi);
    memset(pss, 0, sizeof(*pss));
    pss->vhost = vh;
    pss->wsi = wsi;
    pss->method = method;
    if (under_base(vh, path))
        return janus_request(t, pss, method, path + vh->base_len);
    if (vh->admin && t->admin != NULL && strcmp(path, "/metrics") == 0)
        return metrics_serve(t, wsi, method);
    odeon_http_route route;
    if (!vh->admin && t->routes != NULL && odeon_http_routes_match(t->routes, path, &route))
        return odeon__route_begin(t, pss, &route, method, path);
    if (!vh->admin && t->html_root != NULL && (method == LWSHUMETH_GET || method == LWSHUMETH_HEAD))
        return static_serve(t, pss, path);
    return send_not_found(t, wsi);
}

/* lws 4.1 bug: when a request's headers come from its stash of pipelined input, it hands the
 * same stash again as the body, so the "body" starts with the request line. Such a request can
 * only be refused (and the connection closed) before anything acts on it. */
static bool body_is_own_request_line(const odeon__http_pss *pss, const void *in, size_t len)
{
    static const char *const names[] = {"GET ",   "POST ",   "OPTIONS ", "PUT ",
                                        "PATCH ", "DELETE ", "CONNECT ", "HEAD "};
    if (pss->method < 0 || (size_t)pss->method >= G_N_ELEMENTS(names))
        return false;
    size_t n = strlen(names[pss->method]);
    return len > n && memcmp(in, names[pss->method], n) == 0 && ((const char *)in)[n] == '/';
}

static int http_body(odeon_transport *t, odeon__http_pss *pss, const void *in, size_t len)
{
    if (pss->state != ODEON__HTTP_JANUS_BODY && pss->state != ODEON__HTTP_ROUTE_BODY)
        return 0;
    if (pss->body_len == 0 && body_is_own_request_line(pss, in, len)) {
        char peer[64];
        LOG_WARN("pipelined request with a body from %s refused",
                    odeon__transport_peer(pss->wsi, peer, sizeof(peer)));
        pss->state = ODEON__HTTP_IDLE;
        return odeon__http_send_error(t, pss->wsi, 400, ODEON_API_ERROR_TRANSPORT_SPECIFIC,
                                      "Pipelined requests with a body are not supported", true);
    }
    if (pss->chunked)
        return http_body_chunked(t, pss, in, len);
    if (len > pss->body_expected - pss->body_len)
        return -1; /* lws never gives more than Content-Length */
    if (len > 0)
        memcpy(pss->body + pss->body_len, in, len);
    pss->body_len += len;
    return 0;
}

/* BODY_COMPLETION. The answer is written and the transaction completed right here, which is
 * what lets a keep-alive client send its next request at once. (Deferring the completion to
 * the writable callback makes lws stash that request, and lws 4.1 mis-parses a POST taken from
 * its stash: see body_is_own_request_line.) */
static int http_body_done(odeon_transport *t, odeon__http_pss *pss)
{
    if (pss->state == ODEON__HTTP_JANUS_BODY)
        return janus_post_finish(t, pss);
    if (pss->state == ODEON__HTTP_ROUTE_BODY)
        return odeon__route_dispatch(t, pss);
    return 0;
}

static int http_writeable(odeon_transport *t, odeon__http_pss *pss)
{
    if (pss->state == ODEON__HTTP_PARKED)
        return odeon__http_poll_answer(t, pss, t->stopping);
    if (pss->state == ODEON__HTTP_ROUTE_WAIT)
        return odeon__route_writeable(t, pss);
    return 0;
}

/* The transaction ends: answered, or the connection closes. Runs on HTTP_DROP_PROTOCOL and
 * again on CLOSED_HTTP, so it must be idempotent. */
static void http_release(odeon__http_pss *pss)
{
    if (pss == NULL || pss->vhost == NULL)
        return;
    odeon_transport *t = pss->vhost->transport;
    if (pss->state == ODEON__HTTP_PARKED)
        odeon__http_poll_release(t, pss);
    odeon__route_release(pss);
    odeon__http_waiting_remove(t, pss);
    g_clear_pointer(&pss->body, g_free);
    pss->state = ODEON__HTTP_IDLE;
    pss->vhost = NULL;
}

static int http_filter_upgrade(struct lws *wsi)
{
    char peer[64];
    LOG_WARN("WebSocket upgrade from %s refused: no supported subprotocol (use "
                "\"janus-protocol\" or \"janus-admin-protocol\")",
                odeon__transport_peer(wsi, peer, sizeof(peer)));
    return 1;
}

int odeon__http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    odeon__http_pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return http_request(odeon__transport_vhost(wsi), pss, wsi, in ? in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        return pss && pss->vhost ? http_body(pss->vhost->transport, pss, in, len) : 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        /* lws never sees the end of a chunked body: http_body_chunked finds it. */
        return pss && pss->vhost && !pss->chunked ? http_body_done(pss->vhost->transport, pss) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return pss && pss->vhost ? http_writeable(pss->vhost->transport, pss) : 0;
    case LWS_CALLBACK_TIMER:
        if (pss && pss->vhost && pss->state == ODEON__HTTP_PARKED)
            return odeon__http_poll_answer(pss->vhost->transport, pss, true);
        return 0;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        if (pss)
            pss->state = ODEON__HTTP_IDLE;
        return http_complete(odeon__transport_vhost(wsi)->transport, wsi);
    case LWS_CALLBACK_WSI_DESTROY: {
        /* Every wsi of the vhost ends here (user is not necessarily an HTTP pss). */
        odeon__vhost *vh = odeon__transport_vhost(wsi);
        if (vh != NULL)
            odeon__http_conn_forget(vh->transport, wsi);
        return 0;
    }
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        http_release(pss);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return http_filter_upgrade(wsi);
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* h2c would change the framing under our writes: refuse it. */
        return (in && g_ascii_strcasecmp(in, "websocket") != 0) ? -1 : 0;
    default:
        return 0;
    }
}
