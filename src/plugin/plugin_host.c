/*
 * plugin_host.c - loads plugins and implements the callbacks they call into the core.
 *
 * Plugins are kept in load order (destroyed in reverse) and indexed by package name for
 * "attach". The callbacks translate plugin.h's vocabulary to the session layer: push_event
 * wraps the plugin's data in Janus's "event" envelope and hands it to the session's sink.
 */
#include "plugin/plugin_host.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "cluster/cluster.h"
#include "cluster/node_auth.h"
#include "core/log.h"
#include "loader/loader.h"
#include "session/handle_media.h"

#define LOG_MODULE "plugins"

typedef struct loaded_plugin {
    odeon_module *module; /* NULL when linked in */
    const odeon_plugin *plugin;
    const odeon_auth_provider *provider; /* registered by this plugin, or NULL */
    GArray *subscriptions;               /* plugin_subscription: its bus subscriptions */
} loaded_plugin;

typedef struct plugin_subscription {
    odeon_plugin_event_fn fn;
    void *user_data;
} plugin_subscription;

struct odeon_plugin_host {
    odeon_core_services services;
    GPtrArray *loaded;    /* loaded_plugin *, in load order */
    GHashTable *packages; /* package -> loaded_plugin * */
    GPtrArray *listeners; /* plugin_listener *, freed with the host */
};

/* The callbacks are plain function pointers: they find the host here. */
static odeon_plugin_host *current_host;

static const odeon_module_kind plugin_kind = {
    .kind = "plugin",
    .symbol = ODEON_PLUGIN_SYMBOL,
    .major = ODEON_PLUGIN_ABI_MAJOR,
    .minor = ODEON_PLUGIN_ABI_MINOR,
    .min_struct_size = sizeof(odeon_plugin),
};

/* ---- callbacks ---- */

static bool jsep_is_valid(json_t *jsep)
{
    if (!json_is_object(jsep))
        return false;
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    return type && sdp && (strcmp(type, "offer") == 0 || strcmp(type, "answer") == 0);
}

static int cb_push_event(odeon_plugin_handle *handle, const char *transaction, json_t *event,
                         json_t *jsep)
{
    if (handle == NULL || !json_is_object(event))
        return ODEON_EINVAL;
    if (odeon_handle_is_detached(handle))
        return ODEON_EGONE;
    if (jsep != NULL && !jsep_is_valid(jsep))
        return ODEON_EINVAL;
    odeon_session *session = odeon_handle_session(handle);
    json_t *msg = json_pack("{s:s, s:I, s:I}", "janus", "event", "session_id",
                            (json_int_t)odeon_session_id(session), "sender",
                            (json_int_t)odeon_handle_id(handle));
    if (transaction != NULL)
        json_object_set_new(msg, "transaction", json_string(transaction));
    json_object_set_new(msg, "plugindata",
                        json_pack("{s:s, s:O}", "plugin", odeon_handle_plugin(handle)->package,
                                  "data", event));
    int rc = 0;
    if (jsep != NULL)
        rc = odeon_handle_media_push(handle, msg, jsep); /* sent once our SDP is complete */
    else
        odeon_session_push(session, msg);
    json_decref(msg);
    return rc;
}

/* Each client's envelope is written in front of the event's text (the order and keys
 * push_event's json_pack gives): the text, and the "}}" that closes the envelope, are made
 * once and shared by every client's copy. */
static int cb_push_event_many(odeon_plugin_handle *const *handles, size_t n, json_t *event)
{
    if (!json_is_object(event) || (n > 0 && handles == NULL))
        return ODEON_EINVAL;
    char *data = json_dumps(event, JSON_COMPACT);
    if (data == NULL)
        return ODEON_EINVAL;
    odeon_shared_text *body = odeon_shared_text_new(data, strlen(data), "}}", 2);
    free(data);
    GString *prefix = g_string_sized_new(160);
    const odeon_plugin *plugin = NULL;
    char *package = NULL; /* the plugin's package as a JSON string */
    int queued = 0;
    for (size_t i = 0; i < n; i++) {
        odeon_plugin_handle *h = handles[i];
        if (h == NULL || odeon_handle_is_detached(h))
            continue;
        if (odeon_handle_plugin(h) != plugin) {
            plugin = odeon_handle_plugin(h);
            json_t *name = json_string(plugin->package);
            free(package);
            package = json_dumps(name, JSON_ENCODE_ANY);
            json_decref(name);
        }
        odeon_session *session = odeon_handle_session(h);
        g_string_printf(prefix,
                        "{\"janus\":\"event\",\"session_id\":%" G_GUINT64_FORMAT
                        ",\"sender\":%" G_GUINT64_FORMAT ",\"plugindata\":{\"plugin\":%s,"
                        "\"data\":",
                        odeon_session_id(session), odeon_handle_id(h), package);
        odeon_session_push_shared(session, prefix->str, prefix->len, body);
        queued++;
    }
    free(package);
    odeon_shared_text_unref(body);
    g_string_free(prefix, TRUE);
    return queued;
}

static int cb_relay_rtp(odeon_plugin_handle *handle, odeon_media_packet *packet)
{
    if (handle == NULL || packet == NULL)
        return ODEON_EINVAL;
    return odeon_handle_media_relay_rtp(handle, packet);
}

static int cb_relay_rtp_batch(odeon_plugin_handle *handle, odeon_media_packet *packets,
                             size_t n)
{
    if (handle == NULL || (packets == NULL && n > 0))
        return ODEON_EINVAL;
    return n == 0 ? 0 : odeon_handle_media_relay_rtp_batch(handle, packets, n);
}

static uint64_t cb_bandwidth_estimate(odeon_plugin_handle *handle)
{
    return handle ? odeon_handle_media_bandwidth_estimate(handle) : 0;
}

static int cb_handle_media_loop(odeon_plugin_handle *handle)
{
    return handle ? odeon_handle_media_loop_index(handle) : -1;
}

static int cb_relay_rtcp(odeon_plugin_handle *handle, odeon_media_packet *packet)
{
    if (handle == NULL || packet == NULL)
        return ODEON_EINVAL;
    return odeon_handle_media_relay_rtcp(handle, packet);
}

static json_t *cb_jsep_answer(odeon_plugin_handle *handle, json_t *options)
{
    return handle ? odeon_handle_media_answer(handle, options) : NULL;
}

static json_t *cb_jsep_offer(odeon_plugin_handle *handle, json_t *options)
{
    return handle ? odeon_handle_media_offer(handle, options) : NULL;
}

static int cb_request_keyframe(odeon_plugin_handle *handle, int mindex)
{
    return handle ? odeon_handle_media_request_keyframe(handle, mindex) : ODEON_EINVAL;
}

static int cb_send_remb(odeon_plugin_handle *handle, uint64_t bitrate)
{
    return handle ? odeon_handle_media_send_remb(handle, bitrate) : ODEON_EINVAL;
}

static void cb_close_pc(odeon_plugin_handle *handle)
{
    if (handle != NULL)
        odeon_handle_hangup(handle, "Close PC");
}

static void cb_end_session(odeon_plugin_handle *handle)
{
    if (handle != NULL)
        odeon_session_detach(odeon_handle_session(handle), odeon_handle_id(handle));
}

static void cb_notify_event(const odeon_plugin *plugin, odeon_plugin_handle *handle,
                            json_t *event)
{
    odeon_plugin_host *host = current_host;
    if (host == NULL || plugin == NULL ||
        !odeon_eventbus_has_subscribers(host->services.bus, ODEON_EVENT_PLUGIN))
        return;
    json_t *body = json_pack("{s:s, s:O}", "plugin", plugin->package, "data",
                             event ? event : json_null());
    uint64_t sid = handle ? odeon_session_id(odeon_handle_session(handle)) : 0;
    uint64_t hid = handle ? odeon_handle_id(handle) : 0;
    odeon_eventbus_publish(host->services.bus, ODEON_EVENT_PLUGIN, sid, hid, body);
    json_decref(body);
}

static bool cb_events_enabled(void)
{
    return current_host != NULL &&
           odeon_eventbus_has_subscribers(current_host->services.bus, ODEON_EVENT_PLUGIN);
}

static const odeon_identity *cb_identity(odeon_plugin_handle *handle)
{
    return handle ? odeon_session_identity(odeon_handle_session(handle)) : NULL;
}

static void cb_set_handle_data(odeon_plugin_handle *handle, void *data)
{
    odeon_handle_set_plugin_data(handle, data);
}

static void *cb_get_handle_data(odeon_plugin_handle *handle)
{
    return odeon_handle_plugin_data(handle);
}

static uint64_t cb_handle_id(odeon_plugin_handle *handle)
{
    return odeon_handle_id(handle);
}

static uint64_t cb_session_id(odeon_plugin_handle *handle)
{
    return odeon_session_id(odeon_handle_session(handle));
}

static odeon_plugin_handle *cb_handle_ref(odeon_plugin_handle *handle)
{
    return odeon_handle_ref(handle);
}

static void cb_handle_unref(odeon_plugin_handle *handle)
{
    odeon_handle_unref(handle);
}

static int cb_http_route_add(const odeon_plugin *plugin, const char *prefix,
                             odeon_http_handler handler, void *user_data)
{
    if (current_host == NULL || current_host->services.routes == NULL)
        return ODEON_ENOTSUP;
    return odeon_http_routes_add(current_host->services.routes, plugin, prefix, handler,
                                 user_data);
}

static void cb_http_route_remove(const odeon_plugin *plugin, const char *prefix)
{
    if (current_host != NULL && current_host->services.routes != NULL)
        odeon_http_routes_remove(current_host->services.routes, plugin, prefix);
}

static loaded_plugin *host_find_loaded(odeon_plugin_host *host, const odeon_plugin *plugin)
{
    for (guint i = 0; i < host->loaded->len; i++) {
        loaded_plugin *lp = g_ptr_array_index(host->loaded, i);
        if (lp->plugin == plugin)
            return lp;
    }
    return NULL;
}

static int cb_auth_provider_register(const odeon_plugin *plugin,
                                     const odeon_auth_provider *provider)
{
    odeon_plugin_host *host = current_host;
    if (host == NULL || host->services.auth == NULL)
        return ODEON_ENOTSUP;
    loaded_plugin *lp = host_find_loaded(host, plugin);
    if (lp == NULL)
        return ODEON_EINVAL;
    int rc = odeon_auth_set_provider(host->services.auth, provider, plugin->abi_minor >= 6);
    if (rc == 0) {
        lp->provider = provider;
        LOG_INFO("%s provides authentication (%s)", plugin->package, provider->name);
    }
    return rc;
}

/* The attribute lets clang's -Wformat-nonliteral (in -Wformat=2) accept the forwarding. */
static void cb_log(odeon_log_level level, const char *module, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void cb_log(odeon_log_level level, const char *module, const char *format, ...)
{
    if (!odeon_log_enabled(level))
        return;
    va_list args;
    va_start(args, format);
    odeon_log_writev(level, module, format, args);
    va_end(args);
}

/* ---- handles for plain-HTTP clients (ABI 1.2) ---- */

/* Their sessions' events go nowhere: the client has no event channel. */
static void internal_deliver(odeon_event_sink *sink, uint64_t session_id, json_t *event)
{
    (void)sink;
    (void)session_id;
    (void)event;
}

static void internal_session_gone(odeon_event_sink *sink, uint64_t session_id)
{
    (void)sink;
    (void)session_id;
}

static odeon_event_sink *internal_ref(odeon_event_sink *sink)
{
    return sink;
}

static void internal_unref(odeon_event_sink *sink)
{
    (void)sink;
}

static const odeon_event_sink_ops internal_sink_ops = {
    .deliver = internal_deliver,
    .session_gone = internal_session_gone,
    .ref = internal_ref,
    .unref = internal_unref,
    .name = "internal",
};
static odeon_event_sink internal_sink = {.ops = &internal_sink_ops};

static odeon_plugin_handle *cb_handle_create(const odeon_plugin *plugin, const char *opaque_id)
{
    odeon_plugin_host *host = current_host;
    if (host == NULL || plugin == NULL)
        return NULL;
    odeon_session *session = NULL;
    if (odeon_sessions_create(host->services.sessions, 0, &internal_sink, NULL, &session) != 0)
        return NULL;
    odeon_session_set_internal(session);
    odeon_handle *handle = NULL;
    if (odeon_session_attach(session, plugin, opaque_id, &handle) != 0) {
        odeon_sessions_destroy(host->services.sessions, odeon_session_id(session), "attach failed");
        odeon_session_unref(session);
        return NULL;
    }
    odeon_session_unref(session);
    return handle;
}

static int cb_handle_remote_jsep(odeon_plugin_handle *handle, json_t *jsep, char **reason)
{
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    if (handle == NULL || type == NULL || sdp == NULL ||
        (strcmp(type, "offer") != 0 && strcmp(type, "answer") != 0)) {
        if (reason)
            *reason = g_strdup("JSEP error: type offer or answer and an sdp string needed");
        return 465;
    }
    char *why = NULL;
    int code = odeon_handle_media_remote(handle, jsep, &why);
    if (reason)
        *reason = why;
    else
        g_free(why);
    return code;
}

static json_t *cb_handle_complete_jsep(odeon_plugin_handle *handle, json_t *jsep)
{
    return handle && jsep ? odeon_handle_media_complete_sync(handle, jsep) : NULL;
}

static void cb_handle_destroy(odeon_plugin_handle *handle)
{
    odeon_plugin_host *host = current_host;
    if (handle == NULL || host == NULL)
        return;
    odeon_sessions_destroy(host->services.sessions, odeon_session_id(odeon_handle_session(handle)),
                           "ended by the plugin");
}

/* ---- the cluster (ABI 1.5) ---- */

static const odeon_node_info *cb_node_info(void)
{
    odeon_cluster *c = odeon_cluster_current();
    return c ? odeon_cluster_info(c) : NULL;
}

static char *cb_node_sign(const char *method, const char *path, const void *body, size_t len)
{
    odeon_cluster *c = odeon_cluster_current();
    if (c == NULL || odeon_cluster_secret(c) == NULL)
        return NULL;
    char *header = odeon_node_auth_sign(odeon_cluster_secret(c), odeon_cluster_node_id(c), method,
                                        path, body, len, g_get_real_time() / G_USEC_PER_SEC);
    /* The plugin frees with free(): hand it malloc'd memory. */
    char *out = header ? strdup(header) : NULL;
    g_free(header);
    return out;
}

static int cb_node_verify(odeon_http_request *req, char **node_id, const char **reason)
{
    odeon_cluster *c = odeon_cluster_current();
    size_t len = 0;
    const uint8_t *body = odeon_http_request_body(req, &len);
    char *id = NULL;
    *node_id = NULL;
    if (odeon_node_auth_verify(c ? odeon_cluster_secret(c) : NULL,
                               odeon_http_request_header(req, "Authorization"),
                               odeon_http_request_method(req), odeon_http_request_path(req), body,
                               len, g_get_real_time() / G_USEC_PER_SEC, &id, reason) != 0)
        return ODEON_EPERM;
    *node_id = strdup(id);
    g_free(id);
    return 0;
}

static int cb_node_derive_key(const char *label, uint8_t *out, size_t len)
{
    odeon_cluster *c = odeon_cluster_current();
    if (c == NULL || odeon_node_derive_key(odeon_cluster_secret(c), label, out, len) != 0)
        return ODEON_EINVAL;
    return 0;
}

static void cb_node_place(const char *stage_key, const char *client_key, const char *const *exclude,
                          odeon_node_place_fn fn, void *user_data)
{
    odeon_cluster *c = odeon_cluster_current();
    if (c == NULL) {
        fn(NULL, NULL, "no cluster", user_data);
        return;
    }
    odeon_cluster_place(c, stage_key, client_key, exclude, fn, user_data);
}

static void cb_node_report(const odeon_plugin *plugin, json_t *report)
{
    odeon_cluster *c = odeon_cluster_current();
    if (c != NULL && plugin != NULL && report != NULL)
        odeon_cluster_report(c, plugin->package, report);
}

static void cb_node_arrived(const char *stage_key, const char *client_key)
{
    odeon_cluster *c = odeon_cluster_current();
    if (c != NULL && stage_key != NULL && client_key != NULL)
        odeon_cluster_arrived(c, stage_key, client_key);
}

/* ---- ABI 1.6: the database and roles ---- */

/* The pool's callback carries the plugin's; an odeon_db_rows is a PGresult. */
typedef struct plugin_query {
    odeon_plugin_db_done_fn done;
    void *user_data;
} plugin_query;

/* Plugin code must not run once its module is unloaded: the host waits for the plugins'
 * queries before unloading them, and from then on drops their callbacks and notifications. */
static gint plugin_queries_in_flight;
static gint plugin_db_closed;

static void plugin_query_done(const PGresult *result, const char *error, void *user_data)
{
    plugin_query *q = user_data;
    if (q->done != NULL && !g_atomic_int_get(&plugin_db_closed))
        q->done((const odeon_db_rows *)result, result ? NULL : error, q->user_data);
    g_free(q);
    g_atomic_int_dec_and_test(&plugin_queries_in_flight);
}

typedef struct plugin_listener {
    char *channel;
    odeon_plugin_db_notify_fn fn;
    void *user_data;
} plugin_listener;

static void plugin_listener_free(gpointer data)
{
    plugin_listener *l = data;
    odeon_plugin_host *host = current_host;
    if (host != NULL && host->services.db != NULL)
        odeon_db_unlisten(host->services.db, l->channel);
    g_free(l->channel);
    g_free(l);
}

static void plugin_listener_notify(const char *channel, const char *payload, void *user_data)
{
    plugin_listener *l = user_data;
    if (!g_atomic_int_get(&plugin_db_closed))
        l->fn(channel, payload, l->user_data);
}

/* Runs the main context until the plugins' queries answered (at most timeout_ms). */
static void plugin_queries_drain(unsigned timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    while (g_atomic_int_get(&plugin_queries_in_flight) > 0 &&
           g_get_monotonic_time() < deadline) {
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(1000);
    }
}

static int cb_db_query(const char *sql, int nparams, const char *const *params,
                       odeon_plugin_db_done_fn done, void *user_data)
{
    odeon_plugin_host *host = current_host;
    if (host == NULL || host->services.db == NULL)
        return ODEON_ENOTSUP;
    if (sql == NULL || nparams < 0 || (nparams > 0 && params == NULL))
        return ODEON_EINVAL;
    if (g_atomic_int_get(&plugin_db_closed))
        return ODEON_EIO;
    plugin_query *q = g_new(plugin_query, 1);
    *q = (plugin_query){done, user_data};
    g_atomic_int_inc(&plugin_queries_in_flight);
    if (odeon_db_query(host->services.db, sql, nparams, params, plugin_query_done, q) != 0) {
        g_atomic_int_dec_and_test(&plugin_queries_in_flight);
        g_free(q);
        return ODEON_EIO;
    }
    return 0;
}

static int cb_db_rows_count(const odeon_db_rows *rows)
{
    return rows ? PQntuples((const PGresult *)rows) : 0;
}

static const char *cb_db_rows_value(const odeon_db_rows *rows, int row, int column)
{
    const PGresult *r = (const PGresult *)rows;
    if (r == NULL || row < 0 || column < 0 || row >= PQntuples(r) || column >= PQnfields(r) ||
        PQgetisnull(r, row, column))
        return NULL;
    return PQgetvalue(r, row, column);
}

static int cb_db_listen(const char *channel, odeon_plugin_db_notify_fn fn, void *user_data)
{
    odeon_plugin_host *host = current_host;
    if (host == NULL || host->services.db == NULL)
        return ODEON_ENOTSUP;
    if (channel == NULL || fn == NULL)
        return ODEON_EINVAL;
    plugin_listener *l = g_new(plugin_listener, 1);
    *l = (plugin_listener){g_strdup(channel), fn, user_data};
    if (odeon_db_listen(host->services.db, channel, plugin_listener_notify, l) != 0) {
        g_free(l->channel);
        g_free(l);
        return ODEON_EINVAL;
    }
    g_ptr_array_add(host->listeners, l);
    return 0;
}

static int cb_db_notify(const char *channel, const char *payload)
{
    odeon_plugin_host *host = current_host;
    if (host == NULL || host->services.db == NULL)
        return ODEON_ENOTSUP;
    if (channel == NULL)
        return ODEON_EINVAL;
    return odeon_db_notify(host->services.db, channel, payload ? payload : "") == 0 ? 0
                                                                                 : ODEON_EIO;
}

static const char *cb_event_role(odeon_plugin_handle *handle, const char *event_id)
{
    odeon_plugin_host *host = current_host;
    if (host == NULL || host->services.auth == NULL || handle == NULL)
        return NULL;
    return odeon_auth_event_role(host->services.auth,
                                 odeon_session_auth_identity(odeon_handle_session(handle)),
                                 event_id);
}

static int cb_handle_media_loop_prefer(odeon_plugin_handle *handle, int loop)
{
    if (handle == NULL || loop < -1 ||
        (loop >= 0 && (unsigned)loop >= odeon_handle_media_loop_count()))
        return ODEON_EINVAL;
    odeon_handle_prefer_loop(handle, loop);
    return 0;
}

static const char *cb_hangup_reason(odeon_plugin_handle *handle)
{
    return handle ? odeon_handle_hangup_reason(handle) : NULL;
}

static int cb_events_subscribe(const odeon_plugin *plugin, uint32_t mask, odeon_plugin_event_fn fn,
                               void *user_data)
{
    odeon_plugin_host *host = current_host;
    if (host == NULL || plugin == NULL || fn == NULL || mask == 0)
        return ODEON_EINVAL;
    if (host->services.bus == NULL)
        return ODEON_ENOTSUP;
    loaded_plugin *lp = host_find_loaded(host, plugin);
    if (lp == NULL)
        return ODEON_EINVAL;
    plugin_subscription sub = {fn, user_data};
    if (lp->subscriptions == NULL)
        lp->subscriptions = g_array_new(FALSE, FALSE, sizeof(plugin_subscription));
    g_array_append_val(lp->subscriptions, sub);
    /* The bus's handler type is the same shape: (envelope, user_data). */
    return odeon_eventbus_subscribe(host->services.bus, mask, (odeon_event_handler_fn)fn,
                                    user_data);
}

/* Before a plugin's destroy: no bus call reaches it afterwards. */
static void host_unsubscribe_plugin(odeon_plugin_host *host, loaded_plugin *lp)
{
    if (lp->subscriptions == NULL)
        return;
    for (guint i = 0; i < lp->subscriptions->len; i++) {
        plugin_subscription *sub = &g_array_index(lp->subscriptions, plugin_subscription, i);
        odeon_eventbus_unsubscribe(host->services.bus, (odeon_event_handler_fn)sub->fn,
                                   sub->user_data);
    }
    /* A delivery in progress may still be inside the plugin: wait for the bus to pass it. */
    odeon_eventbus_flush(host->services.bus);
    g_array_free(lp->subscriptions, TRUE);
    lp->subscriptions = NULL;
}

static const odeon_core_callbacks core_callbacks = {
    .abi_major = ODEON_PLUGIN_ABI_MAJOR,
    .abi_minor = ODEON_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(odeon_core_callbacks),
    .push_event = cb_push_event,
    .relay_rtp = cb_relay_rtp,
    .relay_rtcp = cb_relay_rtcp,
    .close_pc = cb_close_pc,
    .end_session = cb_end_session,
    .notify_event = cb_notify_event,
    .events_enabled = cb_events_enabled,
    .identity = cb_identity,
    .set_handle_data = cb_set_handle_data,
    .get_handle_data = cb_get_handle_data,
    .handle_id = cb_handle_id,
    .session_id = cb_session_id,
    .handle_ref = cb_handle_ref,
    .handle_unref = cb_handle_unref,
    .http_route_add = cb_http_route_add,
    .http_route_remove = cb_http_route_remove,
    .http_request_method = odeon_http_request_method,
    .http_request_path = odeon_http_request_path,
    .http_request_query = odeon_http_request_query,
    .http_request_header = odeon_http_request_header,
    .http_request_body = odeon_http_request_body,
    .http_respond = odeon_http_request_respond,
    .auth_provider_register = cb_auth_provider_register,
    .log = cb_log,
    .jsep_answer = cb_jsep_answer,
    .jsep_offer = cb_jsep_offer,
    .request_keyframe = cb_request_keyframe,
    .send_remb = cb_send_remb,
    .handle_create = cb_handle_create,
    .handle_remote_jsep = cb_handle_remote_jsep,
    .handle_complete_jsep = cb_handle_complete_jsep,
    .handle_destroy = cb_handle_destroy,
    .media_loop_count = odeon_handle_media_loop_count,
    .handle_media_loop = cb_handle_media_loop,
    .media_loop_wake = odeon_handle_media_loop_wake,
    .relay_rtp_batch = cb_relay_rtp_batch,
    .bandwidth_estimate = cb_bandwidth_estimate,
    .node_info = cb_node_info,
    .node_sign = cb_node_sign,
    .node_verify = cb_node_verify,
    .node_derive_key = cb_node_derive_key,
    .node_place = cb_node_place,
    .node_report = cb_node_report,
    .node_arrived = cb_node_arrived,
    .db_query = cb_db_query,
    .db_rows_count = cb_db_rows_count,
    .db_rows_value = cb_db_rows_value,
    .db_listen = cb_db_listen,
    .db_notify = cb_db_notify,
    .event_role = cb_event_role,
    .events_subscribe = cb_events_subscribe,
    .push_event_many = cb_push_event_many,
    .hangup_reason = cb_hangup_reason,
    .handle_media_loop_prefer = cb_handle_media_loop_prefer,
};

const odeon_core_callbacks *odeon_plugin_host_callbacks(void)
{
    return &core_callbacks;
}

/* ---- the host ---- */

odeon_plugin_host *odeon_plugin_host_new(const odeon_core_services *services)
{
    g_assert(current_host == NULL);
    odeon_plugin_host *host = g_new0(odeon_plugin_host, 1);
    host->services = *services;
    host->loaded = g_ptr_array_new();
    host->packages = g_hash_table_new(g_str_hash, g_str_equal);
    host->listeners = g_ptr_array_new_with_free_func(plugin_listener_free);
    g_atomic_int_set(&plugin_db_closed, 0);
    current_host = host;
    return host;
}

static int host_init_plugin(odeon_plugin_host *host, loaded_plugin *lp, const char *config_path,
                            char **error)
{
    const odeon_plugin *p = lp->plugin;
    if (p->package == NULL || p->init == NULL || p->handle_message == NULL) {
        if (error)
            *error = g_strdup_printf("%s: descriptor lacks package, init or handle_message",
                                     p->name ? p->name : "plugin");
        return ODEON_EINVAL;
    }
    if (g_hash_table_contains(host->packages, p->package)) {
        if (error)
            *error = g_strdup_printf("%s: a plugin with this package is already loaded",
                                     p->package);
        return ODEON_EEXIST;
    }
    /* Registered before init so it can register routes and an auth provider from init. */
    g_ptr_array_add(host->loaded, lp);
    if (p->init(&core_callbacks, config_path) != 0) {
        g_ptr_array_remove(host->loaded, lp);
        if (host->services.routes)
            odeon_http_routes_remove_plugin(host->services.routes, p);
        if (lp->provider)
            odeon_auth_clear_provider(host->services.auth, lp->provider);
        host_unsubscribe_plugin(host, lp);
        if (error)
            *error = g_strdup_printf("%s: init failed (config %s)", p->package, config_path);
        return ODEON_EINVAL;
    }
    g_hash_table_insert(host->packages, (gpointer)p->package, lp);
    LOG_INFO("loaded %s %s (%s)", p->package, p->version_string ? p->version_string : "",
             p->description ? p->description : "");
    return 0;
}

int odeon_plugin_host_add(odeon_plugin_host *host, const odeon_plugin *plugin,
                          const char *config_path, char **error)
{
    odeon_module_abi abi = {plugin->abi_major, plugin->abi_minor, plugin->struct_size};
    if (odeon_module_check_abi(&abi, &plugin_kind, NULL, error) != 0)
        return ODEON_EINVAL;
    loaded_plugin *lp = g_new0(loaded_plugin, 1);
    lp->plugin = plugin;
    int rc = host_init_plugin(host, lp, config_path ? config_path : "", error);
    if (rc != 0)
        g_free(lp);
    return rc;
}

int odeon_plugin_host_load(odeon_plugin_host *host, const char *plugins_dir,
                           const char *config_dir, char *const *names, char **error)
{
    for (char *const *name = names; name && *name; name++) {
        char *file = g_strdup_printf("odeon_%s.so", *name);
        char *path = g_build_filename(plugins_dir, file, NULL);
        char *conf_file = g_strdup_printf("%s.conf", *name);
        char *config_path = g_build_filename(config_dir ? config_dir : ".", conf_file, NULL);
        odeon_module *module = odeon_module_open(path, &plugin_kind, error);
        int rc = ODEON_EINVAL;
        if (module != NULL) {
            loaded_plugin *lp = g_new0(loaded_plugin, 1);
            lp->module = module;
            lp->plugin = odeon_module_descriptor(module);
            rc = host_init_plugin(host, lp, config_path, error);
            if (rc != 0) {
                odeon_module_close(module);
                g_free(lp);
            }
        }
        g_free(config_path);
        g_free(conf_file);
        g_free(path);
        g_free(file);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void odeon_plugin_host_metrics(odeon_plugin_host *host, GString *out)
{
    for (guint i = 0; i < host->loaded->len; i++) {
        const odeon_plugin *p = ((loaded_plugin *)g_ptr_array_index(host->loaded, i))->plugin;
        if (!ODEON_PLUGIN_HAS(p, metrics))
            continue;
        char *text = p->metrics();
        if (text == NULL)
            continue;
        g_string_append(out, text);
        if (out->len > 0 && out->str[out->len - 1] != '\n')
            g_string_append_c(out, '\n');
        free(text);
    }
}

const odeon_plugin *odeon_plugin_host_find(odeon_plugin_host *host, const char *package)
{
    if (package == NULL)
        return NULL;
    loaded_plugin *lp = g_hash_table_lookup(host->packages, package);
    return lp ? lp->plugin : NULL;
}

json_t *odeon_plugin_host_info_json(odeon_plugin_host *host)
{
    json_t *info = json_object();
    for (guint i = 0; i < host->loaded->len; i++) {
        const odeon_plugin *p = ((loaded_plugin *)g_ptr_array_index(host->loaded, i))->plugin;
        json_object_set_new(info, p->package,
                            json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", p->name ? p->name : "",
                                      "author", p->author ? p->author : "", "description",
                                      p->description ? p->description : "", "version_string",
                                      p->version_string ? p->version_string : "", "version",
                                      p->version));
    }
    return info;
}

void odeon_plugin_host_free(odeon_plugin_host *host)
{
    if (host == NULL)
        return;
    /* Answers to queries the plugins made run while they are still loaded, also those their
     * own threads make while they stop. */
    plugin_queries_drain(5000);
    for (guint i = host->loaded->len; i > 0; i--) {
        loaded_plugin *lp = g_ptr_array_index(host->loaded, i - 1);
        if (host->services.routes)
            odeon_http_routes_remove_plugin(host->services.routes, lp->plugin);
        if (lp->provider)
            odeon_auth_clear_provider(host->services.auth, lp->provider);
        host_unsubscribe_plugin(host, lp);
        if (lp->plugin->destroy)
            lp->plugin->destroy();
        plugin_queries_drain(5000);
        LOG_VERBOSE("unloaded %s", lp->plugin->package);
        odeon_module_close(lp->module);
        g_free(lp);
    }
    g_atomic_int_set(&plugin_db_closed, 1);
    g_ptr_array_free(host->loaded, TRUE);
    g_ptr_array_free(host->listeners, TRUE);
    g_hash_table_destroy(host->packages);
    if (current_host == host)
        current_host = NULL;
    g_free(host);
}
