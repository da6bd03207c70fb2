/*
 * stage_place.c - which node a viewer watches on, and stages a relay fetches from upstream.
 *
 * "watch" with "placement": true asks the cluster (node_place: the least-loaded live relay
 * with room, sticky per client key) and answers {"status": "redirect", "node": {...}} when
 * another node should serve; the client then watches there (odeon.js and odeon-load follow
 * it). A plain "watch" (any Janus Streaming client) is served where it lands, unless this
 * node is at its capacity: then it is redirected too, or refused when no node has room. On a
 * relay, a stage it does not have yet comes from its upstream (stage_relay_request) before the
 * watch goes on.
 */
#include "stage.h"
#include "stage_relay.h"

#include <string.h>

#define CLIENT_KEY_MAX 128
#define EXCLUDE_MAX 16

/* A request answered later: copies of what the continuation needs. */
typedef struct pending_request {
    odeon_plugin_handle *handle; /* reference */
    char *transaction;
    json_t *body; /* reference */
    uint64_t id;
    bool placement_only;
} pending_request;

static pending_request *pending_new(stage_request *r, uint64_t id)
{
    pending_request *p = g_new0(pending_request, 1);
    p->handle = stage_core->handle_ref(r->handle);
    p->transaction = g_strdup(r->transaction);
    p->body = json_incref(r->body);
    p->id = id;
    return p;
}

static void pending_free(pending_request *p)
{
    stage_core->handle_unref(p->handle);
    g_free(p->transaction);
    json_decref(p->body);
    g_free(p);
}

static stage_request pending_as_request(pending_request *p)
{
    return (stage_request){.handle = p->handle, .transaction = p->transaction, .body = p->body};
}

static const odeon_node_info *node(void)
{
    return stage_node_info();
}

static bool clustered(void)
{
    const odeon_node_info *n = node();
    return n != NULL && strcmp(n->role, "standalone") != 0;
}

/* ---- a relay's stages from upstream ---- */

static void watch_relayed(stage *s, int status, const char *error, void *data)
{
    pending_request *p = data;
    stage_request r = pending_as_request(p);
    if (s != NULL) {
        stage_watch_stage(&r, s);
    } else {
        int code = status == 404 ? STAGE_ERROR_NO_SUCH_MOUNTPOINT : STAGE_ERROR_UNKNOWN_ERROR;
        char *reason = status == 404 ? g_strdup("No such mountpoint/stream")
                                     : g_strdup_printf("Stage unavailable upstream: %s", error);
        stage_async_reply(&r, stage_error_event(code, reason), NULL);
        g_free(reason);
    }
    pending_free(p);
}

/* The watch on this node: its own stage, or the upstream's on a relay. */
static odeon_plugin_result watch_here(stage_request *r, uint64_t id)
{
    stage *s = stage_lookup(id);
    if (s != NULL)
        return stage_watch_stage(r, s);
    if (stage_relay_is_relay()) {
        stage_relay_request(id, NULL, watch_relayed, pending_new(r, id));
        return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT};
    }
    return stage_async_reply(
        r, stage_error_event(STAGE_ERROR_NO_SUCH_MOUNTPOINT, "No such mountpoint/stream"), NULL);
}

/* ---- placement ---- */

static bool node_full(void)
{
    const odeon_node_info *n = node();
    return n != NULL && n->capacity > 0 && stage_viewers_total() >= n->capacity;
}

/* The stage as placement names it (buf: 24 bytes). */
static const char *stage_key_of(uint64_t id, char buf[24])
{
    g_snprintf(buf, 24, "%" G_GUINT64_FORMAT, id);
    return buf;
}

static char *client_key(stage_request *r)
{
    const char *key = json_string_value(json_object_get(r->body, "client"));
    if (key != NULL && *key != '\0' && strlen(key) <= CLIENT_KEY_MAX)
        return g_strdup(key);
    return g_strdup_printf("session-%" G_GUINT64_FORMAT, stage_core->session_id(r->handle));
}

/* NULL-terminated node ids from the body's "exclude", plus this node when it is full. */
static char **exclusions(json_t *body, bool full)
{
    json_t *list = json_object_get(body, "exclude");
    GPtrArray *out = g_ptr_array_new();
    for (size_t i = 0; json_is_array(list) && i < json_array_size(list) && i < EXCLUDE_MAX; i++) {
        const char *id = json_string_value(json_array_get(list, i));
        if (id != NULL)
            g_ptr_array_add(out, g_strdup(id));
    }
    if (full)
        g_ptr_array_add(out, g_strdup(node()->id));
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

static json_t *node_json(const char *id, const char *url)
{
    return json_pack("{s:s, s:s}", "id", id, "url", url);
}

static void placed(const char *node_id, const char *url, const char *error, void *data)
{
    pending_request *p = data;
    stage_request r = pending_as_request(p);
    bool here = error != NULL || strcmp(node_id, node()->id) == 0;
    if (p->placement_only) {
        json_t *ev =
            error ? stage_error_event(STAGE_ERROR_UNKNOWN_ERROR, error)
                  : json_pack("{s:s, s:I, s:o, s:b}", "streaming", "placement", "id",
                              (json_int_t)p->id, "node", node_json(node_id, url), "self", here);
        stage_async_reply(&r, ev, NULL);
    } else if (!here) {
        json_t *ev =
            json_pack("{s:s, s:{s:s, s:I, s:o}}", "streaming", "event", "result", "status",
                      "redirect", "id", (json_int_t)p->id, "node", node_json(node_id, url));
        stage_async_reply(&r, ev, NULL);
    } else if (node_full()) {
        stage_async_reply(
            &r,
            stage_error_event(STAGE_ERROR_CANT_CREATE, "This node is full and no other has room"),
            NULL);
    } else {
        watch_here(&r, p->id);
    }
    pending_free(p);
}

static void place(stage_request *r, uint64_t id, bool placement_only, bool full)
{
    pending_request *p = pending_new(r, id);
    p->placement_only = placement_only;
    char stage_key[24];
    char *client = client_key(r);
    char **exclude = exclusions(r->body, full);
    stage_core->node_place(stage_key_of(id, stage_key), client, (const char *const *)exclude, placed, p);
    g_strfreev(exclude);
    g_free(client);
}

odeon_plugin_result stage_watch_placed(stage_request *r, uint64_t id)
{
    json_t *placement = json_object_get(r->body, "placement");
    /* "placement": false is a client that placement sent here: it is served even if the node
     * filled up meanwhile (a little over capacity rather than redirects in a circle), and
     * placement hears that it arrived. */
    if (json_is_false(placement)) {
        if (clustered()) {
            char stage_key[24];
            char *client = client_key(r);
            stage_core->node_arrived(stage_key_of(id, stage_key), client);
            g_free(client);
        }
        return watch_here(r, id);
    }
    bool full = node_full();
    if (clustered() && (json_is_true(placement) || full)) {
        place(r, id, false, full);
        return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT};
    }
    if (full)
        return stage_async_reply(r, stage_error_event(STAGE_ERROR_CANT_CREATE, "This node is full"),
                                 NULL);
    return watch_here(r, id);
}

odeon_plugin_result stage_placement(stage_request *r, uint64_t id)
{
    if (!clustered()) {
        const odeon_node_info *n = node();
        json_t *ev =
            json_pack("{s:s, s:I, s:o, s:b}", "streaming", "placement", "id", (json_int_t)id,
                      "node", node_json(n ? n->id : "", n ? n->public_url : ""), "self", 1);
        return stage_async_reply(r, ev, NULL);
    }
    place(r, id, true, false);
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT};
}

/* ---- the node's load ---- */

void stage_report_load(void)
{
    static gint64 last;
    gint64 now = g_get_monotonic_time();
    if (stage_core->struct_size < offsetof(odeon_core_callbacks, node_arrived) + sizeof(void *) ||
        now - last < G_USEC_PER_SEC)
        return;
    last = now;
    json_t *report =
        json_pack("{s:I, s:I, s:o}", "viewers", (json_int_t)stage_viewers_total(), "bitrate_out",
                  (json_int_t)stage_out_bps(now), "links", stage_relay_links_json());
    stage_core->node_report(&odeon_plugin_descriptor, report);
    json_decref(report);
}
