/*
 * stage_whip.c - WHIP ingest (RFC 9725) and WHEP egress for stages.
 *
 * WHIP: POST /whip/<stage> with an SDP offer and "Authorization: Bearer <the stage's secret>"
 * makes the client the stage's host (201 Created, the answer SDP with every candidate,
 * Location /whip/<stage>/<resource>); DELETE on the resource ends it. So OBS 30+ and other
 * WHIP encoders stream to a stage.
 * WHEP: POST /whep/<stage> with a player's recvonly offer (bearer token: the stage's PIN, when
 * it has one) makes it a viewer the same way; DELETE ends it.
 *
 * These clients have no Janus session: each resource is a handle of its own (core
 * handle_create). A client that vanishes without DELETE is hung up by the core (consent); the
 * ingest thread then ends the resource (stage_whip_reap).
 */
#include "stage.h"

#include <stdlib.h>
#include <string.h>

#define WHIP_PREFIX "/whip/"
#define WHEP_PREFIX "/whep/"

typedef struct whip_resource {
    uint64_t id; /* the handle's id */
    uint64_t stage_id;
    bool host;                   /* WHIP (the host) or WHEP (a viewer) */
    odeon_plugin_handle *handle; /* reference */
    bool dead;                   /* its connection went: end it */
} whip_resource;

static GMutex whip_lock;
static GHashTable *resources; /* uint64 id -> whip_resource * (owned) */
static gint dead_count;       /* atomic: resources marked dead */

static void resource_free(gpointer p)
{
    whip_resource *r = p;
    stage_core->handle_unref(r->handle);
    g_free(r);
}

static void respond_error(odeon_http_request *req, int status, const char *reason,
                          const char *const *headers)
{
    json_t *body = json_pack("{s:s}", "error", reason);
    char *text = json_dumps(body, JSON_COMPACT);
    stage_core->http_respond(req, status, "application/json", text, strlen(text), headers);
    free(text);
    json_decref(body);
}

/* WHIP: "Bearer <the stage's secret>" (stages without a secret take no WHIP). WHEP: "Bearer
 * <the stage's PIN>" when it has one, else anyone may watch. */
static bool authorised(odeon_http_request *req, stage *s, bool host)
{
    const char *expected = host ? s->secret : s->pin;
    if (!host && expected == NULL)
        return true;
    const char *auth = stage_core->http_request_header(req, "authorization");
    if (auth == NULL || expected == NULL || g_ascii_strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *token = auth + 7;
    size_t a = strlen(token), b = strlen(expected);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a && i < b; i++)
        diff |= (unsigned)(token[i] ^ expected[i]); /* no early exit on the first mismatch */
    return diff == 0;
}

static const char *const unauthorised_headers[] = {"WWW-Authenticate: Bearer", NULL};

static void http_post(odeon_http_request *req, stage *s, bool host)
{
    const char *type = stage_core->http_request_header(req, "content-type");
    if (type == NULL || g_ascii_strncasecmp(type, "application/sdp", 15) != 0) {
        respond_error(req, 415, "the body must be application/sdp", NULL);
        return;
    }
    if (!authorised(req, s, host)) {
        respond_error(req, 401, host ? "a valid bearer token (the stage's secret) is required"
                                     : "a valid bearer token (the stage's PIN) is required",
                      unauthorised_headers);
        return;
    }
    size_t len = 0;
    const uint8_t *body = stage_core->http_request_body(req, &len);
    char *sdp = g_strndup((const char *)body, len);
    json_t *offer = json_pack("{s:s, s:s}", "type", "offer", "sdp", sdp);
    g_free(sdp);
    odeon_plugin_handle *handle =
        stage_core->handle_create(&odeon_plugin_descriptor, host ? "whip" : "whep");
    if (handle == NULL) {
        json_decref(offer);
        respond_error(req, 503, "cannot create a session", NULL);
        return;
    }
    char *why = NULL;
    int code = stage_core->handle_remote_jsep(handle, offer, &why);
    json_decref(offer);
    json_t *answer = NULL;
    const char *reason = NULL;
    int error = code != 0 ? -1
                : host       ? stage_host_start(handle, s, &answer, &reason)
                             : stage_viewer_start_answering(handle, s, &answer, &reason);
    json_t *completed = error == 0 ? stage_core->handle_complete_jsep(handle, answer) : NULL;
    json_decref(answer);
    if (completed == NULL) {
        if (code != 0)
            respond_error(req, 400, why ? why : "invalid SDP offer", NULL);
        else if (error != 0)
            respond_error(req, error == STAGE_ERROR_INVALID_STATE ? 409 : 400, reason, NULL);
        else
            respond_error(req, 500, "cannot complete the answer", NULL);
        free(why);
        if (host)
            stage_host_stop(handle);
        else
            stage_viewer_stop(handle);
        stage_core->handle_destroy(handle);
        stage_core->handle_unref(handle);
        return;
    }
    whip_resource *r = g_new0(whip_resource, 1);
    r->id = stage_core->handle_id(handle);
    r->stage_id = s->id;
    r->host = host;
    r->handle = handle;
    g_mutex_lock(&whip_lock);
    g_hash_table_insert(resources, &r->id, r);
    g_mutex_unlock(&whip_lock);
    char *location = g_strdup_printf("Location: %s%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                                     host ? WHIP_PREFIX : WHEP_PREFIX, s->id, r->id);
    const char *headers[] = {location, "Access-Control-Expose-Headers: Location", NULL};
    const char *text = json_string_value(json_object_get(completed, "sdp"));
    stage_core->http_respond(req, 201, "application/sdp", text, strlen(text), headers);
    g_free(location);
    json_decref(completed);
}

static void http_delete(odeon_http_request *req, stage *s, uint64_t resource_id, bool host)
{
    if (!authorised(req, s, host)) {
        respond_error(req, 401, "a valid bearer token (the stage's secret) is required",
                      unauthorised_headers);
        return;
    }
    g_mutex_lock(&whip_lock);
    whip_resource *r = g_hash_table_lookup(resources, &resource_id);
    bool found = r != NULL && r->stage_id == s->id && r->host == host;
    if (found)
        g_hash_table_steal(resources, &resource_id);
    g_mutex_unlock(&whip_lock);
    if (!found) {
        respond_error(req, 404, "no such WHIP resource", NULL);
        return;
    }
    if (host)
        stage_host_stop(r->handle);
    else
        stage_viewer_stop(r->handle);
    stage_core->handle_destroy(r->handle);
    if (r->dead)
        g_atomic_int_add(&dead_count, -1);
    resource_free(r);
    stage_core->http_respond(req, 200, NULL, NULL, 0, NULL);
}

static void http_route(odeon_http_request *req, void *data)
{
    bool host = data != NULL; /* the WHIP route's user data is non-NULL */
    const char *method = stage_core->http_request_method(req);
    const char *path = stage_core->http_request_path(req) + strlen(WHIP_PREFIX);
    char *end = NULL;
    guint64 stage_id = g_ascii_strtoull(path, &end, 10);
    guint64 resource_id = 0;
    bool resource = end != NULL && *end == '/';
    if (resource)
        resource_id = g_ascii_strtoull(end + 1, &end, 10);
    if (end == NULL || *end != '\0' || stage_id == 0 || (resource && resource_id == 0)) {
        respond_error(req, 404, "not an endpoint: /whip|whep/<stage>[/<resource>]", NULL);
        return;
    }
    if (strcmp(method, "OPTIONS") == 0) {
        static const char *const preflight[] = {
            "Accept-Post: application/sdp",
            "Access-Control-Allow-Methods: POST, DELETE, OPTIONS",
            "Access-Control-Allow-Headers: Authorization, Content-Type", NULL};
        stage_core->http_respond(req, 204, NULL, NULL, 0, preflight);
        return;
    }
    bool post = strcmp(method, "POST") == 0 && !resource;
    bool del = strcmp(method, "DELETE") == 0 && resource;
    if (!post && !del) {
        static const char *const allow_endpoint[] = {"Allow: POST, OPTIONS", NULL};
        static const char *const allow_resource[] = {"Allow: DELETE, OPTIONS", NULL};
        respond_error(req, 405, "method not allowed (no trickle: send every candidate in the offer)",
                      resource ? allow_resource : allow_endpoint);
        return;
    }
    stage *s = stage_lookup(stage_id);
    if (s == NULL) {
        respond_error(req, 404, "no such stage", NULL);
        return;
    }
    if (post)
        http_post(req, s, host);
    else
        http_delete(req, s, resource_id, host);
    stage_unref(s);
}

void stage_whip_hangup(odeon_plugin_handle *handle)
{
    uint64_t id = stage_core->handle_id(handle);
    g_mutex_lock(&whip_lock);
    whip_resource *r = resources ? g_hash_table_lookup(resources, &id) : NULL;
    if (r != NULL && !r->dead) {
        r->dead = true;
        g_atomic_int_inc(&dead_count);
    }
    g_mutex_unlock(&whip_lock);
}

void stage_whip_reap(void)
{
    if (g_atomic_int_get(&dead_count) == 0)
        return;
    GPtrArray *dead = g_ptr_array_new_with_free_func(resource_free);
    g_mutex_lock(&whip_lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, resources);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        whip_resource *r = value;
        if (r->dead) {
            g_hash_table_iter_steal(&it);
            g_ptr_array_add(dead, r);
            g_atomic_int_add(&dead_count, -1);
        }
    }
    g_mutex_unlock(&whip_lock);
    for (guint i = 0; i < dead->len; i++)
        stage_core->handle_destroy(((whip_resource *)g_ptr_array_index(dead, i))->handle);
    g_ptr_array_unref(dead);
}

int stage_whip_start(void)
{
    static int whip_marker;
    resources = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, resource_free);
    if (stage_core->http_route_add(&odeon_plugin_descriptor, WHIP_PREFIX, http_route,
                                   &whip_marker) != 0)
        return -1;
    return stage_core->http_route_add(&odeon_plugin_descriptor, WHEP_PREFIX, http_route, NULL);
}

void stage_whip_stop(void)
{
    stage_core->http_route_remove(&odeon_plugin_descriptor, WHIP_PREFIX);
    stage_core->http_route_remove(&odeon_plugin_descriptor, WHEP_PREFIX);
    g_mutex_lock(&whip_lock);
    GHashTable *all = resources;
    resources = NULL;
    g_mutex_unlock(&whip_lock);
    g_clear_pointer(&all, g_hash_table_unref);
}
