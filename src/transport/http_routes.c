/*
 * http_routes.c - plain HTTP routes that plugins register on the API port (WHIP, WHEP, public
 * GET endpoints): the thread-safe registry, and the odeon_http_request a handler receives.
 *
 * A request is refcounted between the transport and the plugin. The transaction (its pss in
 * http.c) holds one reference until it ends; the plugin holds one from the handler call until
 * odeon_http_request_respond, which may come from any thread. The answer is stored in the
 * request; if the connection is still there the service thread writes it: at once when the
 * handler answered before returning, otherwise after a hub wake-up. If the client went away
 * first, respond only stores and drops.
 *
 * Headers: lws knows ~90 header names and parses them into tokens; those present are copied
 * into the request when it is built, so any thread may read them. A header lws does not know
 * is looked up in the connection's header table, which only the service thread may read:
 * odeon_http_request_header finds it from the handler (the usual case) and remembers it.
 */
#include "transport/http_routes.h"

#include <string.h>

#include "api/errors.h"
#include "core/log.h"
#include "transport/http.h"

#define LOG_MODULE "http"

#define ROUTE_ANSWER_TIMEOUT_S 60 /* a plugin must answer within this */

/* ======================================================================================== */
/* The registry                                                                             */
/* ======================================================================================== */

struct odeon_http_routes {
    GMutex lock;
    GPtrArray *routes; /* odeon_http_route *, longest prefix first */
};

static void route_free(gpointer data)
{
    odeon_http_route *route = data;
    g_free(route->prefix);
    g_free(route);
}

odeon_http_routes *odeon_http_routes_new(void)
{
    odeon_http_routes *routes = g_new0(odeon_http_routes, 1);
    g_mutex_init(&routes->lock);
    routes->routes = g_ptr_array_new_with_free_func(route_free);
    return routes;
}

void odeon_http_routes_free(odeon_http_routes *routes)
{
    if (routes == NULL)
        return;
    g_ptr_array_free(routes->routes, TRUE);
    g_mutex_clear(&routes->lock);
    g_free(routes);
}

static bool prefix_valid(const char *prefix)
{
    if (prefix == NULL || prefix[0] != '/' || strlen(prefix) > 256)
        return false;
    for (const char *p = prefix; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == '\x7f')
            return false;
    return true;
}

int odeon_http_routes_add(odeon_http_routes *routes, const odeon_plugin *plugin, const char *prefix,
                          odeon_http_handler handler, void *user_data)
{
    if (routes == NULL || handler == NULL || !prefix_valid(prefix))
        return ODEON_EINVAL;
    int rc = 0;
    size_t len = strlen(prefix);
    g_mutex_lock(&routes->lock);
    guint at = routes->routes->len;
    for (guint i = 0; i < routes->routes->len; i++) {
        odeon_http_route *r = routes->routes->pdata[i];
        if (strcmp(r->prefix, prefix) == 0) {
            rc = ODEON_EEXIST;
            break;
        }
        if (at == routes->routes->len && strlen(r->prefix) < len)
            at = i;
    }
    if (rc == 0) {
        odeon_http_route *route = g_new0(odeon_http_route, 1);
        route->plugin = plugin;
        route->prefix = g_strdup(prefix);
        route->handler = handler;
        route->user_data = user_data;
        g_ptr_array_insert(routes->routes, (gint)at, route);
    }
    g_mutex_unlock(&routes->lock);
    return rc;
}

void odeon_http_routes_remove(odeon_http_routes *routes, const odeon_plugin *plugin,
                              const char *prefix)
{
    if (routes == NULL || prefix == NULL)
        return;
    g_mutex_lock(&routes->lock);
    for (guint i = 0; i < routes->routes->len; i++) {
        odeon_http_route *r = routes->routes->pdata[i];
        if (r->plugin == plugin && strcmp(r->prefix, prefix) == 0) {
            g_ptr_array_remove_index(routes->routes, i);
            break;
        }
    }
    g_mutex_unlock(&routes->lock);
}

void odeon_http_routes_remove_plugin(odeon_http_routes *routes, const odeon_plugin *plugin)
{
    if (routes == NULL)
        return;
    g_mutex_lock(&routes->lock);
    for (guint i = routes->routes->len; i-- > 0;) {
        odeon_http_route *r = routes->routes->pdata[i];
        if (r->plugin == plugin)
            g_ptr_array_remove_index(routes->routes, i);
    }
    g_mutex_unlock(&routes->lock);
}

/* "/whip" serves "/whip" and "/whip/..." but not "/whipped"; "/whip/" also serves "/whip". */
static bool prefix_matches(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) == 0)
        return prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/';
    return n > 1 && prefix[n - 1] == '/' && strlen(path) == n - 1 &&
           strncmp(path, prefix, n - 1) == 0;
}

bool odeon_http_routes_match(odeon_http_routes *routes, const char *path, odeon_http_route *out)
{
    bool found = false;
    g_mutex_lock(&routes->lock);
    for (guint i = 0; i < routes->routes->len && !found; i++) {
        odeon_http_route *r = routes->routes->pdata[i];
        if (prefix_matches(r->prefix, path)) {
            *out = *r;
            found = true;
        }
    }
    g_mutex_unlock(&routes->lock);
    return found;
}

/* ======================================================================================== */
/* The request                                                                              */
/* ======================================================================================== */

struct odeon_http_request {
    odeon_refcount rc;
    GMutex lock;
    odeon__hub *hub; /* reference */
    char *method;
    char *path;
    char *query;
    uint8_t *body; /* NUL-terminated */
    size_t body_len;
    GPtrArray *headers; /* name (lower case, no colon), value, name, value... */
    odeon_http_handler handler;
    void *user_data;
    /* Under lock until answered; fixed afterwards. */
    bool answered;
    bool attached;    /* the transaction still waits for the answer */
    bool dispatching; /* the handler is running on the service thread */
    int status;
    char *content_type;
    uint8_t *answer;
    size_t answer_len;
    char **answer_headers;
    /* Service thread only (cleared when the transaction ends). */
    odeon__http_pss *pss;
};

odeon_http_request *odeon__http_request_ref(odeon_http_request *req)
{
    odeon_refcount_inc(&req->rc);
    return req;
}

void odeon__http_request_unref(odeon_http_request *req)
{
    if (req == NULL || !odeon_refcount_dec(&req->rc))
        return;
    odeon__hub_unref(req->hub);
    g_free(req->method);
    g_free(req->path);
    g_free(req->query);
    g_free(req->body);
    g_ptr_array_free(req->headers, TRUE);
    g_free(req->content_type);
    g_free(req->answer);
    g_strfreev(req->answer_headers);
    g_mutex_clear(&req->lock);
    g_free(req);
}

static const char *method_name(int method)
{
    static const char *const names[] = {"GET",   "POST",   "OPTIONS", "PUT",
                                        "PATCH", "DELETE", "CONNECT", "HEAD"};
    return method >= 0 && (size_t)method < G_N_ELEMENTS(names) ? names[method] : "GET";
}

/* Headers lws parses into tokens and a plugin may want. */
static const enum lws_token_indexes known_headers[] = {
    WSI_TOKEN_HOST,
    WSI_TOKEN_ORIGIN,
    WSI_TOKEN_HTTP_ACCEPT,
    WSI_TOKEN_HTTP_AC_REQUEST_HEADERS,
    WSI_TOKEN_HTTP_ACCEPT_ENCODING,
    WSI_TOKEN_HTTP_ACCEPT_LANGUAGE,
    WSI_TOKEN_HTTP_AUTHORIZATION,
    WSI_TOKEN_HTTP_COOKIE,
    WSI_TOKEN_HTTP_CONTENT_LENGTH,
    WSI_TOKEN_HTTP_CONTENT_TYPE,
    WSI_TOKEN_HTTP_IF_MATCH,
    WSI_TOKEN_HTTP_IF_NONE_MATCH,
    WSI_TOKEN_HTTP_IF_MODIFIED_SINCE,
    WSI_TOKEN_HTTP_REFERER,
    WSI_TOKEN_HTTP_USER_AGENT,
    WSI_TOKEN_X_FORWARDED_FOR,
    WSI_TOKEN_HTTP_X_REAL_IP,
    WSI_TOKEN_X_AUTH_TOKEN,
};

static void header_add(GPtrArray *headers, const char *name, size_t name_len, char *value)
{
    g_ptr_array_add(headers, g_ascii_strdown(name, (gssize)name_len));
    g_ptr_array_add(headers, value);
}

static void headers_snapshot(struct lws *wsi, GPtrArray *headers)
{
    for (size_t i = 0; i < G_N_ELEMENTS(known_headers); i++) {
        int len = lws_hdr_total_length(wsi, known_headers[i]);
        const char *name = (const char *)lws_token_to_string(known_headers[i]);
        if (len <= 0 || name == NULL)
            continue;
        char *value = g_malloc((size_t)len + 1);
        if (lws_hdr_copy(wsi, value, len + 1, known_headers[i]) < 0) {
            g_free(value);
            continue;
        }
        size_t n = strlen(name);
        header_add(headers, name, n > 0 && name[n - 1] == ':' ? n - 1 : n, value);
    }
}

static odeon_http_request *request_new(odeon_transport *t, struct lws *wsi,
                                       const odeon_http_route *route, int method, const char *path)
{
    odeon_http_request *req = g_new0(odeon_http_request, 1);
    odeon_refcount_init(&req->rc);
    g_mutex_init(&req->lock);
    req->hub = odeon__hub_ref(t->hub);
    req->method = g_strdup(method_name(method));
    req->path = g_strdup(path);
    GString *query = g_string_new(NULL);
    odeon__http_query(wsi, query, false);
    req->query = g_string_free(query, FALSE);
    req->headers = g_ptr_array_new_with_free_func(g_free);
    headers_snapshot(wsi, req->headers);
    req->handler = route->handler;
    req->user_data = route->user_data;
    return req;
}

int odeon__route_begin(odeon_transport *t, odeon__http_pss *pss, const odeon_http_route *route,
                       int method, const char *path)
{
    pss->request = request_new(t, pss->wsi, route, method, path);
    int rc = 0;
    int body = odeon__http_body_begin(t, pss, method, &rc);
    if (body < 0)
        return rc; /* answered (411/413); the request goes with the transaction */
    if (body > 0) {
        pss->state = ODEON__HTTP_ROUTE_BODY;
        return 0;
    }
    return odeon__route_dispatch(t, pss);
}

/* Service thread: write the plugin's answer. */
static int route_write(odeon_transport *t, odeon__http_pss *pss)
{
    odeon_http_request *req = odeon__http_request_ref(pss->request);
    odeon__http_out out = {
        .status = (unsigned)req->status,
        .content_type = req->content_type,
        .body = req->answer,
        .body_len = req->answer_len,
        .headers = (const char *const *)req->answer_headers,
        .route_cors = true,
        .close = pss->chunked,
    };
    int rc = odeon__http_respond(t, pss, &out); /* may release pss and its reference */
    odeon__http_request_unref(req);
    return rc;
}

int odeon__route_dispatch(odeon_transport *t, odeon__http_pss *pss)
{
    odeon_http_request *req = pss->request;
    if (req == NULL)
        return -1;
    if (pss->body != NULL) {
        pss->body[pss->body_len] = '\0';
        req->body = pss->body;
        req->body_len = pss->body_len;
        pss->body = NULL;
    }
    pss->state = ODEON__HTTP_ROUTE_WAIT;
    odeon__http_waiting_add(t, pss);
    g_mutex_lock(&req->lock);
    req->pss = pss;
    req->attached = true;
    req->dispatching = true;
    g_mutex_unlock(&req->lock);
    /* The plugin's reference, given back by odeon_http_request_respond. */
    req->handler(odeon__http_request_ref(req), req->user_data);
    g_mutex_lock(&req->lock);
    req->dispatching = false;
    bool answered = req->answered;
    g_mutex_unlock(&req->lock);
    if (answered)
        return route_write(t, pss);
    /* The answer comes later, from the writable callback. Until then nothing is read from the
     * connection, and lws's own body timeout would cut a plugin that takes a few seconds (ICE
     * gathering): ours is longer. */
    odeon__http_hold(pss);
    lws_set_timeout(pss->wsi, PENDING_TIMEOUT_USER_OK, ROUTE_ANSWER_TIMEOUT_S);
    return 0;
}

static int route_abort(odeon_transport *t, odeon__http_pss *pss)
{
    static const char body[] =
        "{\"janus\":\"error\",\"error\":{\"code\":450,\"reason\":\"Server shutting down\"}}";
    odeon__http_out out = {
        .status = 503,
        .content_type = "application/json",
        .body = body,
        .body_len = sizeof(body) - 1,
        .route_cors = true,
        .close = true,
    };
    return odeon__http_respond(t, pss, &out);
}

int odeon__route_writeable(odeon_transport *t, odeon__http_pss *pss)
{
    odeon_http_request *req = pss->request;
    if (req == NULL)
        return 0;
    g_mutex_lock(&req->lock);
    bool answered = req->answered;
    g_mutex_unlock(&req->lock);
    if (answered)
        return route_write(t, pss);
    if (t->stopping)
        return route_abort(t, pss);
    odeon__http_hold(pss); /* woken for nothing */
    return 0;
}

void odeon__route_release(odeon__http_pss *pss)
{
    odeon_http_request *req = pss->request;
    if (req == NULL)
        return;
    pss->request = NULL;
    g_mutex_lock(&req->lock);
    req->attached = false;
    req->pss = NULL;
    g_mutex_unlock(&req->lock);
    odeon__http_request_unref(req);
}

void odeon__route_answered(odeon_http_request *req)
{
    /* req->pss only changes on this thread: no lock needed to read it here. */
    if (req->pss != NULL)
        odeon__http_wake(req->pss);
}

/* ======================================================================================== */
/* The plugin's side (http_routes.h / plugin.h)                                             */
/* ======================================================================================== */

const char *odeon_http_request_method(odeon_http_request *req)
{
    return req->method;
}

const char *odeon_http_request_path(odeon_http_request *req)
{
    return req->path;
}

const char *odeon_http_request_query(odeon_http_request *req)
{
    return req->query;
}

/* Called with req->lock held. */
static const char *header_find_locked(odeon_http_request *req, const char *name)
{
    for (guint i = 0; i + 1 < req->headers->len; i += 2)
        if (g_ascii_strcasecmp(req->headers->pdata[i], name) == 0)
            return req->headers->pdata[i + 1];
    return NULL;
}

/* A header lws keeps as "unknown": only readable on the service thread while the request is
 * attached. Called with req->lock held. */
static const char *header_custom_locked(odeon_http_request *req, const char *name)
{
    if (!odeon__transport_on_service_thread() || req->pss == NULL)
        return NULL;
    size_t n = strlen(name);
    if (n == 0 || n > 120)
        return NULL;
    char key[128];
    for (size_t i = 0; i < n; i++)
        key[i] = g_ascii_tolower(name[i]);
    key[n] = ':';
    key[n + 1] = '\0';
    struct lws *wsi = req->pss->wsi;
    int len = lws_hdr_custom_length(wsi, key, (int)n + 1);
    if (len < 0)
        return NULL;
    char *value = g_malloc((size_t)len + 1);
    if (lws_hdr_custom_copy(wsi, value, len + 1, key, (int)n + 1) < 0) {
        g_free(value);
        return NULL;
    }
    header_add(req->headers, key, n, value);
    return value;
}

const char *odeon_http_request_header(odeon_http_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    g_mutex_lock(&req->lock);
    const char *value = header_find_locked(req, name);
    if (value == NULL)
        value = header_custom_locked(req, name);
    g_mutex_unlock(&req->lock);
    return value;
}

const uint8_t *odeon_http_request_body(odeon_http_request *req, size_t *len)
{
    if (len != NULL)
        *len = req->body_len;
    return req->body != NULL ? req->body : (const uint8_t *)"";
}

int odeon_http_request_respond(odeon_http_request *req, int status, const char *content_type,
                               const void *body, size_t len, const char *const *headers)
{
    if (req == NULL || status < 100 || status > 999 || (body == NULL && len > 0))
        return ODEON_EINVAL;
    g_mutex_lock(&req->lock);
    if (req->answered) {
        g_mutex_unlock(&req->lock);
        LOG_WARN("a plugin answered the HTTP request %s %s twice", req->method, req->path);
        return ODEON_EINVAL;
    }
    req->status = status;
    req->content_type = g_strdup(content_type);
    req->answer = len > 0 ? g_memdup2(body, len) : NULL;
    req->answer_len = len;
    req->answer_headers = g_strdupv((char **)headers);
    req->answered = true;
    bool post = req->attached && !req->dispatching;
    g_mutex_unlock(&req->lock);
    if (post)
        odeon__hub_post_request(req->hub, odeon__http_request_ref(req));
    odeon__http_request_unref(req); /* the plugin's reference */
    return 0;
}
