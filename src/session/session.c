/*
 * session.c - the session registry, sessions and handles.
 *
 * Lifetimes: the registry's table holds one reference per live session and a session's table
 * one per live handle; lookups add their own. Destruction steals the object from its table
 * (so no new lookup finds it) and tears down outside every lock.
 *
 * A plugin call on a handle is bracketed by odeon_handle_call_begin/_end. Detaching marks the
 * handle and runs the plugin's destroy_session only when no call on that handle is in flight;
 * otherwise the last call to leave runs it. So a plugin never sees destroy_session while one
 * of its own handle_message calls for that handle is still running, and a plugin may call
 * end_session from inside handle_message without deadlocking.
 */
#include "session/session.h"

#include <string.h>

#include <glib.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/refcount.h"
#include "core/util.h"
#include "session/handle_media.h"
#include "webrtc/pc.h"

#define LOG_MODULE "session"

struct odeon_sessions {
    GMutex lock;
    GHashTable *table; /* uint64 id -> odeon_session (reference) */
    odeon_eventbus *bus;
};

struct odeon_session {
    odeon_refcount ref;
    uint64_t id;
    odeon_event_sink *sink; /* reference */
    odeon_auth_identity identity;
    odeon_eventbus *bus;
    int64_t created_us;
    gint64 last_activity_us; /* atomic */
    gint destroyed;          /* atomic */
    gint internal;           /* atomic: made by a plugin (WHIP...), never times out */
    GMutex lock;
    GHashTable *handles; /* uint64 id -> odeon_handle (reference) */
};

struct odeon_plugin_handle {
    odeon_refcount ref;
    uint64_t id;
    odeon_session *session; /* reference */
    const odeon_plugin *plugin;
    void *plugin_data;
    char *opaque_id;
    int64_t created_us;
    GMutex lock; /* calls, detached, plugin_alive */
    int calls;
    bool detached;
    bool plugin_alive; /* create_session succeeded, destroy_session not yet run */
    odeon_pc *pc;      /* reference, or NULL; under lock */
    const char *hangup_reason; /* static; set while hangup_media runs */
    gint preferred_loop;       /* media loop for its next connection, -1: least loaded */
};

static guint id_hash(gconstpointer key)
{
    uint64_t v = *(const uint64_t *)key;
    return (guint)(v ^ (v >> 32));
}

static gboolean id_equal(gconstpointer a, gconstpointer b)
{
    return *(const uint64_t *)a == *(const uint64_t *)b;
}

/* ---- handles ---- */

odeon_handle *odeon_handle_ref(odeon_handle *handle)
{
    odeon_refcount_inc(&handle->ref);
    return handle;
}

void odeon_handle_unref(odeon_handle *handle)
{
    if (handle == NULL || !odeon_refcount_dec(&handle->ref))
        return;
    odeon_session_unref(handle->session);
    g_mutex_clear(&handle->lock);
    g_free(handle->opaque_id);
    g_free(handle);
}

uint64_t odeon_handle_id(const odeon_handle *handle)
{
    return handle->id;
}

odeon_session *odeon_handle_session(const odeon_handle *handle)
{
    return handle->session;
}

const odeon_plugin *odeon_handle_plugin(const odeon_handle *handle)
{
    return handle->plugin;
}

bool odeon_handle_is_detached(const odeon_handle *handle)
{
    g_mutex_lock((GMutex *)&handle->lock);
    bool detached = handle->detached;
    g_mutex_unlock((GMutex *)&handle->lock);
    return detached;
}

void odeon_handle_set_plugin_data(odeon_handle *handle, void *data)
{
    __atomic_store_n(&handle->plugin_data, data, __ATOMIC_RELEASE);
}

void odeon_handle_prefer_loop(odeon_handle *handle, int loop)
{
    g_atomic_int_set(&handle->preferred_loop, loop);
}

int odeon_handle_preferred_loop(const odeon_handle *handle)
{
    return g_atomic_int_get(&((odeon_handle *)handle)->preferred_loop);
}

void odeon_handle_set_hangup_reason(odeon_handle *handle, const char *reason)
{
    __atomic_store_n(&handle->hangup_reason, reason, __ATOMIC_RELEASE);
}

const char *odeon_handle_hangup_reason(const odeon_handle *handle)
{
    return __atomic_load_n(&handle->hangup_reason, __ATOMIC_ACQUIRE);
}

void *odeon_handle_plugin_data(const odeon_handle *handle)
{
    return __atomic_load_n(&handle->plugin_data, __ATOMIC_ACQUIRE);
}

/* Start a plugin call on the handle; false if it is detached (the call must not happen). */
bool odeon_handle_call_begin(odeon_handle *handle)
{
    g_mutex_lock(&handle->lock);
    bool ok = !handle->detached && handle->plugin_alive;
    if (ok)
        handle->calls++;
    g_mutex_unlock(&handle->lock);
    return ok;
}

static void handle_plugin_destroy(odeon_handle *handle)
{
    if (handle->plugin->destroy_session != NULL)
        handle->plugin->destroy_session(handle);
}

void odeon_handle_call_end(odeon_handle *handle)
{
    g_mutex_lock(&handle->lock);
    handle->calls--;
    bool run = handle->calls == 0 && handle->detached && handle->plugin_alive;
    if (run)
        handle->plugin_alive = false;
    g_mutex_unlock(&handle->lock);
    if (run)
        handle_plugin_destroy(handle);
}

/* Mark detached; run destroy_session now or leave it to the last in-flight call. Returns false
 * if the handle was already detached. */
static bool handle_mark_detached(odeon_handle *handle)
{
    g_mutex_lock(&handle->lock);
    if (handle->detached) {
        g_mutex_unlock(&handle->lock);
        return false;
    }
    handle->detached = true;
    bool run = handle->calls == 0 && handle->plugin_alive;
    if (run)
        handle->plugin_alive = false;
    g_mutex_unlock(&handle->lock);
    if (run)
        handle_plugin_destroy(handle);
    return true;
}

void odeon_handle_publish(odeon_handle *handle, int type, json_t *body)
{
    odeon_eventbus *bus = handle->session->bus;
    if (odeon_eventbus_has_subscribers(bus, type))
        odeon_eventbus_publish(bus, type, handle->session->id, handle->id, body);
}

bool odeon_handle_publishes(odeon_handle *handle, int type)
{
    return odeon_eventbus_has_subscribers(handle->session->bus, type);
}

static void publish_handle_event(odeon_handle *handle, const char *name)
{
    odeon_eventbus *bus = handle->session->bus;
    if (!odeon_eventbus_has_subscribers(bus, ODEON_EVENT_HANDLE))
        return;
    json_t *body = json_pack("{s:s, s:s}", "name", name, "plugin", handle->plugin->package);
    if (handle->opaque_id)
        json_object_set_new(body, "opaque_id", json_string(handle->opaque_id));
    odeon_eventbus_publish(bus, ODEON_EVENT_HANDLE, handle->session->id, handle->id, body);
    json_decref(body);
}

/* Tear down a handle that was already removed from its session's table. */
static void handle_teardown(odeon_handle *handle, bool tell_client)
{
    /* The plugin hears hangup_media before destroy_session, as it would from a client. */
    odeon_handle_hangup(handle, "Detach");
    bool first = handle_mark_detached(handle);
    /* A connection a racing request created before the mark: no plugin call any more. */
    odeon_handle_hangup(handle, "Detach");
    if (!first)
        return;
    if (tell_client) {
        json_t *ev = json_pack("{s:s, s:I, s:I}", "janus", "detached", "session_id",
                               (json_int_t)handle->session->id, "sender", (json_int_t)handle->id);
        odeon_session_push(handle->session, ev);
        json_decref(ev);
    }
    publish_handle_event(handle, "detached");
    LOG_VERBOSE("handle %" G_GUINT64_FORMAT " of session %" G_GUINT64_FORMAT " detached",
                handle->id, handle->session->id);
}

odeon_pc *odeon_handle_pc(odeon_handle *handle)
{
    g_mutex_lock(&handle->lock);
    odeon_pc *pc = handle->pc ? odeon_pc_ref(handle->pc) : NULL;
    g_mutex_unlock(&handle->lock);
    return pc;
}

bool odeon_handle_set_pc(odeon_handle *handle, odeon_pc *pc)
{
    g_mutex_lock(&handle->lock);
    bool ok = handle->pc == NULL && !handle->detached;
    if (ok)
        handle->pc = odeon_pc_ref(pc);
    g_mutex_unlock(&handle->lock);
    return ok;
}

odeon_pc *odeon_handle_take_pc(odeon_handle *handle)
{
    g_mutex_lock(&handle->lock);
    odeon_pc *pc = handle->pc;
    handle->pc = NULL;
    g_mutex_unlock(&handle->lock);
    return pc;
}

json_t *odeon_handle_info_json(odeon_handle *handle)
{
    odeon_session *s = handle->session;
    json_t *info = json_object();
    json_object_set_new(info, "session_id", json_integer((json_int_t)s->id));
    json_object_set_new(info, "session_last_activity",
                        json_integer(odeon_session_last_activity_us(s)));
    odeon_event_sink *sink = odeon_session_sink(s);
    json_object_set_new(info, "session_transport", json_string(sink->ops->name));
    sink->ops->unref(sink);
    json_object_set_new(info, "handle_id", json_integer((json_int_t)handle->id));
    if (handle->opaque_id)
        json_object_set_new(info, "opaque_id", json_string(handle->opaque_id));
    json_object_set_new(info, "created", json_integer(handle->created_us));
    json_object_set_new(info, "current_time", json_integer(odeon_clock_monotonic_us()));
    json_object_set_new(info, "plugin", json_string(handle->plugin->package));
    if (s->identity.identity)
        json_object_set_new(info, "identity", json_string(s->identity.identity->subject));
    json_t *specific = NULL;
    if (handle->plugin->query_session != NULL && odeon_handle_call_begin(handle)) {
        specific = handle->plugin->query_session(handle);
        odeon_handle_call_end(handle);
    }
    if (specific != NULL)
        json_object_set_new(info, "plugin_specific", specific);
    json_object_set_new(info, "flags", json_pack("{s:b}", "detached",
                                                 odeon_handle_is_detached(handle)));
    json_object_set_new(info, "webrtc", odeon_handle_media_info(handle));
    return info;
}

/* ---- sessions ---- */

odeon_session *odeon_session_ref(odeon_session *session)
{
    odeon_refcount_inc(&session->ref);
    return session;
}

void odeon_session_unref(odeon_session *session)
{
    if (session == NULL || !odeon_refcount_dec(&session->ref))
        return;
    g_assert(g_hash_table_size(session->handles) == 0);
    g_hash_table_destroy(session->handles);
    g_mutex_clear(&session->lock);
    odeon_auth_identity_free(&session->identity);
    session->sink->ops->unref(session->sink);
    g_free(session);
}

uint64_t odeon_session_id(const odeon_session *session)
{
    return session->id;
}

bool odeon_session_is_destroyed(const odeon_session *session)
{
    return g_atomic_int_get((gint *)&session->destroyed) != 0;
}

void odeon_session_touch(odeon_session *session)
{
    __atomic_store_n(&session->last_activity_us, odeon_clock_monotonic_us(), __ATOMIC_RELAXED);
}

int64_t odeon_session_last_activity_us(const odeon_session *session)
{
    return __atomic_load_n(&session->last_activity_us, __ATOMIC_RELAXED);
}

int64_t odeon_session_created_us(const odeon_session *session)
{
    return session->created_us;
}

odeon_event_sink *odeon_session_sink(odeon_session *session)
{
    g_mutex_lock(&session->lock);
    odeon_event_sink *sink = session->sink->ops->ref(session->sink);
    g_mutex_unlock(&session->lock);
    return sink;
}

void odeon_session_set_sink(odeon_session *session, odeon_event_sink *sink)
{
    odeon_event_sink *old;
    g_mutex_lock(&session->lock);
    /* A session being destroyed keeps its sink: it was already told the session is gone. */
    if (odeon_session_is_destroyed(session)) {
        g_mutex_unlock(&session->lock);
        return;
    }
    old = session->sink;
    session->sink = sink->ops->ref(sink);
    g_mutex_unlock(&session->lock);
    if (old != sink)
        old->ops->session_gone(old, session->id);
    old->ops->unref(old);
}

const odeon_identity *odeon_session_identity(const odeon_session *session)
{
    return session->identity.identity;
}

const odeon_auth_identity *odeon_session_auth_identity(const odeon_session *session)
{
    return session ? &session->identity : NULL;
}

void odeon_session_push(odeon_session *session, json_t *event)
{
    odeon_event_sink *sink = odeon_session_sink(session);
    sink->ops->deliver(sink, session->id, event);
    sink->ops->unref(sink);
}

void odeon_session_push_shared(odeon_session *session, const char *prefix, size_t prefix_len,
                               odeon_shared_text *body)
{
    odeon_event_sink *sink = odeon_session_sink(session);
    bool shared = sink->ops->deliver_shared != NULL;
    if (shared)
        sink->ops->deliver_shared(sink, session->id, prefix, prefix_len, body);
    sink->ops->unref(sink);
    if (shared)
        return;
    GString *text = g_string_sized_new(prefix_len + body->len);
    g_string_append_len(text, prefix, (gssize)prefix_len);
    g_string_append_len(text, (const char *)ODEON_SHARED_TEXT(body), (gssize)body->len);
    odeon_session_push_text(session, text->str, text->len);
    g_string_free(text, TRUE);
}

void odeon_session_push_text(odeon_session *session, const char *text, size_t len)
{
    odeon_event_sink *sink = odeon_session_sink(session);
    if (sink->ops->deliver_text != NULL) {
        sink->ops->deliver_text(sink, session->id, text, len);
    } else {
        json_t *event = json_loadb(text, len, 0, NULL);
        if (event != NULL)
            sink->ops->deliver(sink, session->id, event);
        json_decref(event);
    }
    sink->ops->unref(sink);
}

static uint64_t session_unused_handle_id(odeon_session *session)
{
    uint64_t id;
    do {
        id = odeon_random_id();
    } while (g_hash_table_contains(session->handles, &id));
    return id;
}

int odeon_session_attach(odeon_session *session, const odeon_plugin *plugin,
                         const char *opaque_id, odeon_handle **out)
{
    if (odeon_session_is_destroyed(session))
        return ODEON_EGONE;
    odeon_handle *handle = g_new0(odeon_handle, 1);
    odeon_refcount_init(&handle->ref);
    handle->session = odeon_session_ref(session);
    handle->plugin = plugin;
    handle->opaque_id = g_strdup(opaque_id);
    handle->preferred_loop = -1;
    handle->created_us = odeon_clock_monotonic_us();
    g_mutex_init(&handle->lock);
    g_mutex_lock(&session->lock);
    handle->id = session_unused_handle_id(session);
    g_mutex_unlock(&session->lock);

    /* The plugin may push events on the handle from inside create_session: the session is
     * already set, only lookups by id cannot find it yet. */
    handle->plugin_alive = true;
    handle->calls = 1;
    int rc = plugin->create_session ? plugin->create_session(handle) : 0;
    if (rc != 0) {
        g_mutex_lock(&handle->lock);
        handle->plugin_alive = false;
        handle->detached = true;
        handle->calls = 0;
        g_mutex_unlock(&handle->lock);
        odeon_handle_unref(handle);
        return ODEON_EPERM;
    }
    g_mutex_lock(&session->lock);
    bool gone = odeon_session_is_destroyed(session);
    if (!gone)
        g_hash_table_insert(session->handles, &handle->id, odeon_handle_ref(handle));
    g_mutex_unlock(&session->lock);
    odeon_handle_call_end(handle);
    if (gone) {
        handle_teardown(handle, false);
        odeon_handle_unref(handle);
        return ODEON_EGONE;
    }
    publish_handle_event(handle, "attached");
    *out = handle;
    return 0;
}

odeon_handle *odeon_session_lookup_handle(odeon_session *session, uint64_t handle_id)
{
    g_mutex_lock(&session->lock);
    odeon_handle *handle = g_hash_table_lookup(session->handles, &handle_id);
    if (handle != NULL)
        odeon_handle_ref(handle);
    g_mutex_unlock(&session->lock);
    return handle;
}

int odeon_session_detach(odeon_session *session, uint64_t handle_id)
{
    g_mutex_lock(&session->lock);
    odeon_handle *handle = NULL;
    gpointer key = NULL;
    if (g_hash_table_lookup_extended(session->handles, &handle_id, &key, (gpointer *)&handle))
        g_hash_table_steal(session->handles, &handle_id);
    g_mutex_unlock(&session->lock);
    if (handle == NULL)
        return ODEON_ENOENT;
    handle_teardown(handle, true);
    odeon_handle_unref(handle);
    return 0;
}

json_t *odeon_session_handles_json(odeon_session *session)
{
    json_t *list = json_array();
    g_mutex_lock(&session->lock);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, session->handles);
    while (g_hash_table_iter_next(&it, &key, NULL))
        json_array_append_new(list, json_integer((json_int_t) * (uint64_t *)key));
    g_mutex_unlock(&session->lock);
    return list;
}

/* Detach every handle of a session that is being destroyed. */
static void session_clear_handles(odeon_session *session, bool tell_client)
{
    g_mutex_lock(&session->lock);
    GList *handles = g_hash_table_get_values(session->handles);
    g_hash_table_steal_all(session->handles);
    g_mutex_unlock(&session->lock);
    for (GList *l = handles; l != NULL; l = l->next) {
        handle_teardown(l->data, tell_client);
        odeon_handle_unref(l->data);
    }
    g_list_free(handles);
}

/* ---- the registry ---- */

odeon_sessions *odeon_sessions_new(odeon_eventbus *bus)
{
    odeon_sessions *sessions = g_new0(odeon_sessions, 1);
    g_mutex_init(&sessions->lock);
    sessions->table = g_hash_table_new(id_hash, id_equal);
    sessions->bus = bus;
    return sessions;
}

static void publish_session_event(odeon_session *session, const char *name, const char *extra_key,
                                  const char *extra_value)
{
    if (!odeon_eventbus_has_subscribers(session->bus, ODEON_EVENT_SESSION))
        return;
    json_t *body = json_pack("{s:s}", "name", name);
    if (extra_key && extra_value)
        json_object_set_new(body, extra_key, json_string(extra_value));
    odeon_eventbus_publish(session->bus, ODEON_EVENT_SESSION, session->id, 0, body);
    json_decref(body);
}

int odeon_sessions_create(odeon_sessions *sessions, uint64_t wanted_id, odeon_event_sink *sink,
                          odeon_auth_identity *identity, odeon_session **out)
{
    odeon_session *session = g_new0(odeon_session, 1);
    odeon_refcount_init(&session->ref);
    session->sink = sink->ops->ref(sink);
    session->bus = sessions->bus;
    session->created_us = odeon_clock_monotonic_us();
    session->last_activity_us = session->created_us;
    g_mutex_init(&session->lock);
    session->handles = g_hash_table_new(id_hash, id_equal);

    g_mutex_lock(&sessions->lock);
    if (wanted_id != 0 && g_hash_table_contains(sessions->table, &wanted_id)) {
        g_mutex_unlock(&sessions->lock);
        odeon_session_unref(session);
        return ODEON_EEXIST;
    }
    session->id = wanted_id;
    while (session->id == 0 || g_hash_table_contains(sessions->table, &session->id))
        session->id = odeon_random_id();
    g_hash_table_insert(sessions->table, &session->id, odeon_session_ref(session));
    g_mutex_unlock(&sessions->lock);

    if (identity != NULL) {
        session->identity = *identity;
        *identity = (odeon_auth_identity){0};
    }
    publish_session_event(session, "created", "transport", sink->ops->name);
    LOG_VERBOSE("session %" G_GUINT64_FORMAT " created over %s", session->id, sink->ops->name);
    *out = session;
    return 0;
}

odeon_session *odeon_sessions_lookup(odeon_sessions *sessions, uint64_t id)
{
    g_mutex_lock(&sessions->lock);
    odeon_session *session = g_hash_table_lookup(sessions->table, &id);
    if (session != NULL)
        odeon_session_ref(session);
    g_mutex_unlock(&sessions->lock);
    return session;
}

/* Tear down a session already removed from the table; drops the table's reference. */
static void session_teardown(odeon_session *session, const char *reason)
{
    g_atomic_int_set(&session->destroyed, 1);
    /* Janus sends no "detached" for the handles of a destroyed or expired session; a shutdown
     * is different: the client did not ask for it, so it hears about every handle. */
    bool tell_client = strcmp(reason, "shutdown") == 0;
    session_clear_handles(session, tell_client);
    odeon_event_sink *sink = odeon_session_sink(session);
    sink->ops->session_gone(sink, session->id);
    sink->ops->unref(sink);
    publish_session_event(session, "destroyed", "reason", reason);
    LOG_VERBOSE("session %" G_GUINT64_FORMAT " destroyed (%s)", session->id, reason);
    odeon_session_unref(session);
}

static odeon_session *sessions_steal(odeon_sessions *sessions, uint64_t id)
{
    g_mutex_lock(&sessions->lock);
    odeon_session *session = g_hash_table_lookup(sessions->table, &id);
    if (session != NULL)
        g_hash_table_remove(sessions->table, &id);
    g_mutex_unlock(&sessions->lock);
    return session;
}

int odeon_sessions_destroy(odeon_sessions *sessions, uint64_t id, const char *reason)
{
    odeon_session *session = sessions_steal(sessions, id);
    if (session == NULL)
        return ODEON_ENOENT;
    session_teardown(session, reason);
    return 0;
}

/* References to every session matching keep(), taken under the lock. */
static GPtrArray *sessions_collect(odeon_sessions *sessions,
                                   bool (*keep)(odeon_session *s, const void *arg),
                                   const void *arg)
{
    GPtrArray *found = g_ptr_array_new();
    g_mutex_lock(&sessions->lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, sessions->table);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        if (keep(value, arg))
            g_ptr_array_add(found, odeon_session_ref(value));
    }
    g_mutex_unlock(&sessions->lock);
    return found;
}

static bool keep_sink(odeon_session *s, const void *arg)
{
    g_mutex_lock(&s->lock);
    bool match = s->sink == arg;
    g_mutex_unlock(&s->lock);
    return match;
}

static bool keep_all(odeon_session *s, const void *arg)
{
    (void)s;
    (void)arg;
    return true;
}

typedef struct expiry {
    int64_t now_us;
    int64_t timeout_us;
} expiry;

static bool keep_expired(odeon_session *s, const void *arg)
{
    const expiry *e = arg;
    return !g_atomic_int_get(&s->internal) &&
           e->now_us - odeon_session_last_activity_us(s) > e->timeout_us;
}

void odeon_session_set_internal(odeon_session *session)
{
    g_atomic_int_set(&session->internal, 1);
}

static void sessions_destroy_list(odeon_sessions *sessions, GPtrArray *list, const char *reason)
{
    for (guint i = 0; i < list->len; i++) {
        odeon_session *s = g_ptr_array_index(list, i);
        odeon_sessions_destroy(sessions, s->id, reason);
        odeon_session_unref(s);
    }
    g_ptr_array_free(list, TRUE);
}

void odeon_sessions_destroy_by_sink(odeon_sessions *sessions, odeon_event_sink *sink)
{
    sessions_destroy_list(sessions, sessions_collect(sessions, keep_sink, sink),
                          "transport closed");
}

unsigned odeon_sessions_expire(odeon_sessions *sessions, int64_t now_us, unsigned timeout_s)
{
    if (timeout_s == 0)
        return 0;
    expiry e = {now_us, (int64_t)timeout_s * G_USEC_PER_SEC};
    GPtrArray *list = sessions_collect(sessions, keep_expired, &e);
    unsigned count = 0;
    for (guint i = 0; i < list->len; i++) {
        odeon_session *s = g_ptr_array_index(list, i);
        odeon_session *stolen = sessions_steal(sessions, s->id);
        if (stolen != NULL) {
            LOG_INFO("session %" G_GUINT64_FORMAT " timed out", s->id);
            json_t *ev = json_pack("{s:s, s:I}", "janus", "timeout", "session_id",
                                   (json_int_t)s->id);
            odeon_session_push(s, ev);
            json_decref(ev);
            session_teardown(stolen, "timeout");
            count++;
        }
        odeon_session_unref(s);
    }
    g_ptr_array_free(list, TRUE);
    return count;
}

unsigned odeon_sessions_count(odeon_sessions *sessions)
{
    g_mutex_lock(&sessions->lock);
    unsigned n = g_hash_table_size(sessions->table);
    g_mutex_unlock(&sessions->lock);
    return n;
}

json_t *odeon_sessions_list_json(odeon_sessions *sessions)
{
    json_t *list = json_array();
    g_mutex_lock(&sessions->lock);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, sessions->table);
    while (g_hash_table_iter_next(&it, &key, NULL))
        json_array_append_new(list, json_integer((json_int_t) * (uint64_t *)key));
    g_mutex_unlock(&sessions->lock);
    return list;
}

void odeon_sessions_destroy_all(odeon_sessions *sessions, const char *reason)
{
    sessions_destroy_list(sessions, sessions_collect(sessions, keep_all, NULL), reason);
}

void odeon_sessions_free(odeon_sessions *sessions)
{
    if (sessions == NULL)
        return;
    odeon_sessions_destroy_all(sessions, "shutdown");
    g_hash_table_destroy(sessions->table);
    g_mutex_clear(&sessions->lock);
    g_free(sessions);
}
