/*
 * tickets_http.c - GET /api/events..., POST /api/stripe/webhook.
 *
 * Answers are rendered from the events cache and kept, per path and query, until the cache
 * changes or cache_seconds pass (on_sale and "upcoming" move with the clock): a rush of the
 * same few listing pages is served from memory without rendering.
 */
#include "tickets_http.h"
#include "tickets_cache.h"
#include "tickets.h"
#include "tickets_valid.h"

#include <string.h>

#define MEMO_MAX 2048

typedef struct memo_entry {
    uint64_t generation;
    int64_t made_us;
    int status;
    char *body;
    size_t len;
    char etag[24];
} memo_entry;

static GMutex memo_lock;
static GHashTable *memo; /* "path?query" -> memo_entry */
static bool routes_added;

static void memo_entry_free(gpointer data)
{
    memo_entry *m = data;
    g_free(m->body);
    g_free(m);
}

/* ---- GET /api/events ---- */

static void respond_json(odeon_http_request *req, int status, const char *body, size_t len,
                         const char *etag)
{
    char cache[64], tag[40];
    g_snprintf(cache, sizeof cache, "Cache-Control: public, max-age=%d",
               tickets_cfg.cache_seconds);
    g_snprintf(tag, sizeof tag, "ETag: %s", etag ? etag : "");
    const char *headers[] = {cache, etag ? tag : NULL, NULL};
    if (status != 200 && status != 304)
        headers[0] = "Cache-Control: no-store";
    tickets_core->http_respond(req, status, "application/json", body, len, headers);
}

static void respond_error(odeon_http_request *req, int status, const char *reason)
{
    json_t *body = json_pack("{s:s}", "error", reason);
    char *text = json_dumps(body, JSON_COMPACT);
    tickets_core->http_respond(req, status, "application/json", text, strlen(text),
                               (const char *const[]){"Cache-Control: no-store", NULL});
    free(text);
    json_decref(body);
}

/* Renders the answer to a GET (status and JSON). */
static json_t *render(const char *path, const char *query, int *status, const char **error)
{
    const char *rest = path + strlen("/api/events");
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        tickets_filter f;
        char **storage = NULL;
        bool ok = tickets_http_parse_filter(query, &f, &storage, error);
        json_t *out = ok ? tickets_cache_list(&f) : NULL;
        g_strfreev(storage);
        *status = ok ? 200 : 400;
        return out;
    }
    int64_t id = 0;
    char *end = NULL;
    if (rest[0] == '/' && g_ascii_isdigit(rest[1]))
        id = g_ascii_strtoll(rest + 1, &end, 10);
    bool tickets = end && strcmp(end, "/tickets") == 0;
    if (id <= 0 || end == NULL || (*end != '\0' && !tickets)) {
        *status = 404;
        *error = "no such resource";
        return NULL;
    }
    json_t *out = tickets_cache_event(id, false);
    if (out == NULL) {
        *status = 404;
        *error = "no such event";
        return NULL;
    }
    if (tickets)
        json_object_del(out, "event");
    *status = 200;
    return out;
}

static memo_entry *memo_make(const char *path, const char *query, uint64_t generation)
{
    int status = 500;
    const char *error = "internal error";
    json_t *out = render(path, query, &status, &error);
    if (out == NULL) {
        /* Logged when rendered: a repeated bad query is answered from the memo, unlogged. */
        if (status == 400)
            TICKETS_LOG(ODEON_LOG_INFO, "GET %s refused: %s", path, error);
        out = json_pack("{s:s}", "error", error);
    }
    memo_entry *m = g_new0(memo_entry, 1);
    m->generation = generation;
    m->made_us = g_get_monotonic_time();
    m->status = status;
    m->body = json_dumps(out, JSON_COMPACT);
    m->len = strlen(m->body);
    json_decref(out);
    g_snprintf(m->etag, sizeof m->etag, "\"%08x%08x\"", g_str_hash(m->body), (guint)m->len);
    return m;
}

static bool memo_fresh(const memo_entry *m, uint64_t generation)
{
    int64_t age_us = g_get_monotonic_time() - m->made_us;
    int64_t max_us = (tickets_cfg.cache_seconds > 0 ? tickets_cfg.cache_seconds : 1) *
                     G_USEC_PER_SEC;
    return m->generation == generation && age_us < max_us;
}

static void events_get(odeon_http_request *req)
{
    const char *path = tickets_core->http_request_path(req);
    const char *query = tickets_core->http_request_query(req);
    if (!tickets_cache_ready()) {
        respond_error(req, 503, "starting, try again");
        return;
    }
    uint64_t generation = tickets_cache_generation();
    char *key = g_strconcat(path, "?", query ? query : "", NULL);
    g_mutex_lock(&memo_lock);
    memo_entry *m = strlen(key) < 512 ? g_hash_table_lookup(memo, key) : NULL;
    bool hit = m != NULL && memo_fresh(m, generation);
    g_mutex_unlock(&memo_lock);
    /* Rendering happens outside the memo lock; two threads may render the same answer. */
    memo_entry *made = hit ? NULL : memo_make(path, query, generation);
    g_mutex_lock(&memo_lock);
    if (made != NULL && strlen(key) < 512) {
        if (g_hash_table_size(memo) >= MEMO_MAX)
            g_hash_table_remove_all(memo);
        g_hash_table_replace(memo, g_strdup(key), made);
        m = made;
    } else if (made != NULL) {
        m = made;
    } else {
        m = g_hash_table_lookup(memo, key);
    }
    /* Copy what the answer needs: the entry may be replaced once the lock is released. */
    int status = m->status;
    char etag[24];
    g_strlcpy(etag, m->etag, sizeof etag);
    const char *inm = tickets_core->http_request_header(req, "If-None-Match");
    bool not_modified = status == 200 && inm != NULL && strstr(inm, etag) != NULL;
    char *body = not_modified ? NULL : g_memdup2(m->body, m->len);
    size_t len = m->len;
    g_mutex_unlock(&memo_lock);
    if (made != NULL && strlen(key) >= 512)
        memo_entry_free(made);
    g_free(key);
    if (not_modified)
        respond_json(req, 304, "", 0, etag);
    else if (status == 200)
        respond_json(req, 200, body, len, etag);
    else
        respond_json(req, status, body, len, NULL);
    g_free(body);
}

static void events_route(odeon_http_request *req, void *user_data)
{
    (void)user_data;
    const char *method = tickets_core->http_request_method(req);
    const char *path = tickets_core->http_request_path(req);
    if (!g_str_has_prefix(path, "/api/events") ||
        (path[11] != '\0' && path[11] != '/')) {
        respond_error(req, 404, "no such resource");
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        tickets_core->http_respond(
            req, 405, "application/json", "{\"error\":\"read-only: use the plugin API\"}", 39,
            (const char *const[]){"Allow: GET, HEAD", NULL});
        return;
    }
    events_get(req);
}

static void webhook_route(odeon_http_request *req, void *user_data)
{
    (void)user_data;
    if (strcmp(tickets_core->http_request_method(req), "POST") != 0) {
        tickets_core->http_respond(req, 405, "application/json",
                                   "{\"error\":\"POST only\"}", 21,
                                   (const char *const[]){"Allow: POST", NULL});
        return;
    }
    tickets_webhook_handle(req);
}

int tickets_http_init(void)
{
    g_mutex_init(&memo_lock);
    memo = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, memo_entry_free);
    const odeon_plugin *self = &odeon_plugin_descriptor;
    if (tickets_core->http_route_add(self, "/api/events", events_route, NULL) != 0)
        return -1;
    if (tickets_core->http_route_add(self, "/api/stripe/webhook", webhook_route, NULL) != 0) {
        tickets_core->http_route_remove(self, "/api/events");
        return -1;
    }
    routes_added = true;
    return 0;
}

void tickets_http_shutdown(void)
{
    if (routes_added) {
        tickets_core->http_route_remove(&odeon_plugin_descriptor, "/api/events");
        tickets_core->http_route_remove(&odeon_plugin_descriptor, "/api/stripe/webhook");
    }
    routes_added = false;
    if (memo != NULL)
        g_hash_table_unref(memo);
    memo = NULL;
}
