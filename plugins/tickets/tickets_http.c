/*
 * tickets_http.c - GET /api/events..., POST /api/stripe/webhook.
 *
 * Answers come from the events cache. Listings are kept per query string until the cache
 * changes or cache_seconds pass ("upcoming" moves with the clock), so a rush on the same few
 * listing pages is served without rendering; details are rendered each time (one lookup, and
 * there would be one entry per event to keep).
 */
#include "tickets_http.h"
#include "tickets_cache.h"
#include "tickets.h"

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

/* An answer: status, compact JSON text (owned) and its ETag. */
typedef struct answer {
    int status;
    char *body;
    size_t len;
    char etag[24];
} answer;

static void answer_error(answer *a, int status, const char *reason)
{
    json_t *body = json_pack("{s:s}", "error", reason);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    a->status = status;
    a->body = g_strdup(text);
    a->len = strlen(a->body);
    free(text);
}

static void answer_tag(answer *a)
{
    g_snprintf(a->etag, sizeof a->etag, "\"%08x%08x\"", g_str_hash(a->body), (guint)a->len);
}

static bool is_listing(const char *path)
{
    const char *rest = path + strlen("/api/events");
    return *rest == '\0' || strcmp(rest, "/") == 0;
}

static void render_listing(const char *path, const char *query, answer *a)
{
    tickets_filter f;
    char **storage = NULL;
    const char *error = NULL;
    if (tickets_http_parse_filter(query, &f, &storage, &error)) {
        a->status = 200;
        a->body = tickets_cache_list_text(&f, &a->len);
    } else {
        /* Logged when rendered: a repeated bad query is answered from the memo, unlogged. */
        TICKETS_LOG(ODEON_LOG_INFO, "GET %s refused: %s", path, error);
        answer_error(a, 400, error);
    }
    g_strfreev(storage);
    answer_tag(a);
}

/* /api/events/<id> and /api/events/<id>/tickets: cheap enough to render every time (one
 * lookup), and too many to keep (one per event). */
static void render_detail(const char *path, answer *a)
{
    const char *rest = path + strlen("/api/events");
    int64_t id = 0;
    char *end = NULL;
    if (rest[0] == '/' && g_ascii_isdigit(rest[1]))
        id = g_ascii_strtoll(rest + 1, &end, 10);
    bool tickets = end && strcmp(end, "/tickets") == 0;
    json_t *out = id > 0 && end != NULL && (*end == '\0' || tickets)
                      ? tickets_cache_event(id, false)
                      : NULL;
    if (out == NULL) {
        answer_error(a, 404, id > 0 ? "no such event" : "no such resource");
        return;
    }
    if (tickets) {
        json_t *types = json_incref(json_object_get(out, "ticket_types"));
        json_decref(out);
        out = json_pack("{s:o}", "ticket_types", types);
    }
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    a->status = 200;
    a->body = g_strdup(text);
    a->len = strlen(text);
    free(text);
    answer_tag(a);
}

static bool memo_fresh(const memo_entry *m, uint64_t generation)
{
    int64_t age_us = g_get_monotonic_time() - m->made_us;
    int64_t max_us = (int64_t)(tickets_cfg.cache_seconds > 0 ? tickets_cfg.cache_seconds : 1) *
                     G_USEC_PER_SEC;
    return m->generation == generation && age_us < max_us;
}

/* The listing's answer from the memo (a copy), or rendered and kept there. */
static void listing_answer(const char *path, const char *query, answer *a)
{
    uint64_t generation = tickets_cache_generation();
    char *key = g_strdup(query ? query : "");
    bool keep = strlen(key) < 512;
    g_mutex_lock(&memo_lock);
    memo_entry *m = keep ? g_hash_table_lookup(memo, key) : NULL;
    if (m != NULL && memo_fresh(m, generation)) {
        *a = (answer){.status = m->status, .body = g_memdup2(m->body, m->len), .len = m->len};
        g_strlcpy(a->etag, m->etag, sizeof a->etag);
        g_mutex_unlock(&memo_lock);
        g_free(key);
        return;
    }
    g_mutex_unlock(&memo_lock);
    render_listing(path, query, a);
    if (!keep) {
        g_free(key);
        return;
    }
    memo_entry *made = g_new0(memo_entry, 1);
    *made = (memo_entry){.generation = generation, .made_us = g_get_monotonic_time(),
                         .status = a->status, .body = g_memdup2(a->body, a->len), .len = a->len};
    g_strlcpy(made->etag, a->etag, sizeof made->etag);
    g_mutex_lock(&memo_lock);
    /* Distinct listing queries are few (filters and pages); a flood of made-up ones only
     * empties this memo, it never grows past its bound. */
    if (g_hash_table_size(memo) >= MEMO_MAX)
        g_hash_table_remove_all(memo);
    g_hash_table_replace(memo, key, made);
    g_mutex_unlock(&memo_lock);
}

static void events_get(odeon_http_request *req)
{
    const char *path = tickets_core->http_request_path(req);
    const char *query = tickets_core->http_request_query(req);
    if (!tickets_cache_ready()) {
        respond_error(req, 503, "starting, try again");
        return;
    }
    answer a = {0};
    if (is_listing(path))
        listing_answer(path, query, &a);
    else
        render_detail(path, &a);
    const char *inm = tickets_core->http_request_header(req, "If-None-Match");
    if (a.status == 200 && inm != NULL && strstr(inm, a.etag) != NULL)
        respond_json(req, 304, "", 0, a.etag);
    else
        respond_json(req, a.status, a.body, a.len, a.status == 200 ? a.etag : NULL);
    g_free(a.body);
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
