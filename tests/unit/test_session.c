/*
 * test_session.c - sessions and handles: ids, lookups, attach/detach, destruction paths
 * (request, transport gone, timeout, shutdown), deferred destroy_session and the events they
 * publish on the bus.
 *
 * A linked-in test plugin counts the callbacks it receives; the test sink (test_sink.h)
 * records what the client would have been sent. Time is the fake clock. Every test frees all
 * it made: the suite runs under ASan/LSan, so a leaked reference fails it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "auth/auth.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"
#include "events/eventbus.h"
#include "plugin/plugin.h"
#include "session/session.h"
#include "test_sink.h"

#define T0_MONO INT64_C(1000000000)
#define T0_WALL INT64_C(1700000000000000)
#define SECOND INT64_C(1000000)

/* ---- the test plugin ---- */

static int created;   /* create_session calls that succeeded */
static int refused;   /* create_session calls that refused */
static int destroyed; /* destroy_session calls */
/* When set, create_session destroys this session (a concurrent destroy, made deterministic). */
static odeon_sessions *destroy_during_create;

static int plug_create(odeon_plugin_handle *handle)
{
    created++;
    if (destroy_during_create != NULL) {
        uint64_t sid = odeon_session_id(odeon_handle_session(handle));
        odeon_sessions_destroy(destroy_during_create, sid, "destroy request");
    }
    return 0;
}

static int plug_refuse(odeon_plugin_handle *handle)
{
    (void)handle;
    refused++;
    return -1;
}

static void plug_destroy_session(odeon_plugin_handle *handle)
{
    (void)handle;
    destroyed++;
}

static json_t *plug_query(odeon_plugin_handle *handle)
{
    (void)handle;
    return json_pack("{s:s}", "state", "idle");
}

static odeon_plugin_result plug_message(odeon_plugin_handle *handle, const char *transaction,
                                        json_t *body, json_t *jsep)
{
    (void)handle;
    (void)transaction;
    (void)body;
    (void)jsep;
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK};
}

static const odeon_plugin test_plugin = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,   .package = "odeon.plugin.sessiontest",
    .name = "Session test",         .create_session = plug_create,
    .handle_message = plug_message, .destroy_session = plug_destroy_session,
    .query_session = plug_query,
};

static const odeon_plugin refusing_plugin = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = "odeon.plugin.refuser",
    .name = "Refuser",
    .create_session = plug_refuse,
    .handle_message = plug_message,
    .destroy_session = plug_destroy_session,
};

/* ---- event bus subscriber ---- */

typedef struct bus_log {
    GMutex lock;
    json_t *envelopes;
} bus_log;

static void bus_record(json_t *envelope, void *user_data)
{
    bus_log *log = user_data;
    g_mutex_lock(&log->lock);
    json_array_append(log->envelopes, envelope);
    g_mutex_unlock(&log->lock);
}

/* ---- fixture ---- */

typedef struct fixture {
    odeon_eventbus *bus; /* NULL unless the test asks for one */
    bus_log bus_log;
    odeon_sessions *sessions;
    test_sink *sink;
} fixture;

static fixture *fixture_new(bool with_bus)
{
    fixture *fx = g_new0(fixture, 1);
    created = refused = destroyed = 0;
    destroy_during_create = NULL;
    odeon_clock_set_fake(T0_MONO, T0_WALL);
    if (with_bus) {
        g_mutex_init(&fx->bus_log.lock);
        fx->bus_log.envelopes = json_array();
        fx->bus = odeon_eventbus_new("unit", 1024);
        odeon_eventbus_subscribe(fx->bus, ODEON_EVENT_SESSION | ODEON_EVENT_HANDLE, bus_record,
                                 &fx->bus_log);
    }
    fx->sessions = odeon_sessions_new(fx->bus);
    fx->sink = test_sink_new();
    return fx;
}

static int setup(void **state)
{
    *state = fixture_new(false);
    return 0;
}

static int setup_bus(void **state)
{
    *state = fixture_new(true);
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    odeon_sessions_free(fx->sessions);
    /* Every plugin session that was created was destroyed exactly once. */
    assert_int_equal(created, destroyed);
    assert_int_equal(test_sink_core_refs(fx->sink), 0);
    test_sink_free(fx->sink);
    if (fx->bus != NULL) {
        odeon_eventbus_free(fx->bus);
        json_decref(fx->bus_log.envelopes);
        g_mutex_clear(&fx->bus_log.lock);
    }
    odeon_clock_set_real();
    g_free(fx);
    return 0;
}

static odeon_session *create(fixture *fx, uint64_t wanted)
{
    odeon_session *s = NULL;
    assert_int_equal(odeon_sessions_create(fx->sessions, wanted, &fx->sink->base, NULL, &s), 0);
    assert_non_null(s);
    return s;
}

static odeon_handle *attach(odeon_session *s, const char *opaque_id)
{
    odeon_handle *h = NULL;
    assert_int_equal(odeon_session_attach(s, &test_plugin, opaque_id, &h), 0);
    assert_non_null(h);
    return h;
}

static json_int_t int_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void assert_str_at(json_t *obj, const char *key, const char *expected)
{
    const char *v = json_string_value(json_object_get(obj, key));
    assert_non_null(v);
    assert_string_equal(v, expected);
}

/* ---- create, lookup ---- */

static void test_create_random_id(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 0);
    uint64_t id = odeon_session_id(s);
    assert_true(id >= 1 && id <= ODEON_MAX_ID);
    assert_int_equal(odeon_sessions_count(fx->sessions), 1);
    assert_int_equal(test_sink_core_refs(fx->sink), 1);
    odeon_event_sink *sink = odeon_session_sink(s); /* a new reference */
    assert_ptr_equal(sink, &fx->sink->base);
    assert_int_equal(test_sink_core_refs(fx->sink), 2);
    sink->ops->unref(sink);
    assert_null(odeon_session_identity(s));
    assert_false(odeon_session_is_destroyed(s));
    assert_int_equal(odeon_session_created_us(s), T0_MONO);
    assert_int_equal(odeon_session_last_activity_us(s), T0_MONO);

    odeon_session *found = odeon_sessions_lookup(fx->sessions, id);
    assert_ptr_equal(found, s);
    odeon_session_unref(found);
    assert_null(odeon_sessions_lookup(fx->sessions, id + 1 > ODEON_MAX_ID ? 1 : id + 1));

    /* A second session gets another id. */
    odeon_session *other = create(fx, 0);
    assert_int_not_equal(odeon_session_id(other), id);
    odeon_session_unref(other);
    odeon_session_unref(s);
}

static void test_create_wanted_id(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 42);
    assert_int_equal(odeon_session_id(s), 42);

    odeon_session *dup = (odeon_session *)0x1;
    assert_int_equal(odeon_sessions_create(fx->sessions, 42, &fx->sink->base, NULL, &dup),
                     ODEON_EEXIST);
    assert_ptr_equal(dup, (odeon_session *)0x1); /* untouched */
    assert_int_equal(odeon_sessions_count(fx->sessions), 1);
    assert_int_equal(test_sink_core_refs(fx->sink), 1);
    odeon_session_unref(s);
}

static void test_create_with_identity(void **state)
{
    fixture *fx = *state;
    char *tokens[] = {"alice:tok-a", NULL};
    odeon_auth *auth = odeon_auth_new(NULL, true, tokens, NULL);
    assert_non_null(auth);
    odeon_auth_identity id = {0};
    assert_int_equal(odeon_auth_resolve(auth, "tok-a", &id), 0);

    /* A refused create leaves the identity with the caller... */
    odeon_session *first = create(fx, 7), *s = NULL;
    assert_int_equal(odeon_sessions_create(fx->sessions, 7, &fx->sink->base, &id, &s),
                     ODEON_EEXIST);
    assert_non_null(id.identity);
    /* ...a successful one takes it (and frees it with the session: ASan checks). */
    assert_int_equal(odeon_sessions_create(fx->sessions, 0, &fx->sink->base, &id, &s), 0);
    assert_null(id.identity);
    const odeon_identity *who = odeon_session_identity(s);
    assert_non_null(who);
    assert_string_equal(who->subject, "alice");
    assert_string_equal(who->provider, "static");
    odeon_session_unref(s);
    odeon_session_unref(first);
    odeon_sessions_destroy_all(fx->sessions, "test");
    odeon_auth_free(auth);
}

static void test_list_and_count(void **state)
{
    fixture *fx = *state;
    odeon_session *a = create(fx, 11), *b = create(fx, 12);
    json_t *list = odeon_sessions_list_json(fx->sessions);
    assert_int_equal(json_array_size(list), 2);
    json_int_t sum =
        json_integer_value(json_array_get(list, 0)) + json_integer_value(json_array_get(list, 1));
    assert_int_equal(sum, 23);
    json_decref(list);
    odeon_session_unref(a);
    odeon_session_unref(b);
}

static void test_push_and_touch(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 5);
    json_t *ev = json_pack("{s:s}", "janus", "custom");
    odeon_session_push(s, ev);
    json_decref(ev);
    json_t *entry = test_sink_entry(fx->sink, 0);
    assert_true(test_entry_is(entry, "deliver", "custom"));
    assert_int_equal(int_at(entry, "session_id"), 5);

    odeon_clock_advance(3 * SECOND);
    odeon_session_touch(s);
    assert_int_equal(odeon_session_last_activity_us(s), T0_MONO + 3 * SECOND);
    assert_int_equal(odeon_session_created_us(s), T0_MONO);
    odeon_session_unref(s);
}

/* ---- attach, detach ---- */

static void test_attach_detach(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 100);
    odeon_handle *h = attach(s, "opaque-1");
    uint64_t hid = odeon_handle_id(h);
    assert_true(hid >= 1 && hid <= ODEON_MAX_ID);
    assert_int_equal(created, 1);
    assert_ptr_equal(odeon_handle_session(h), s);
    assert_ptr_equal(odeon_handle_plugin(h), &test_plugin);
    assert_false(odeon_handle_is_detached(h));

    odeon_handle *found = odeon_session_lookup_handle(s, hid);
    assert_ptr_equal(found, h);
    odeon_handle_unref(found);
    json_t *handles = odeon_session_handles_json(s);
    assert_int_equal(json_array_size(handles), 1);
    assert_int_equal(json_integer_value(json_array_get(handles, 0)), (json_int_t)hid);
    json_decref(handles);

    assert_int_equal(odeon_session_detach(s, hid), 0);
    assert_int_equal(destroyed, 1);
    assert_true(odeon_handle_is_detached(h));
    assert_null(odeon_session_lookup_handle(s, hid));
    json_t *ev = test_sink_event(fx->sink, "detached", 0);
    assert_non_null(ev);
    assert_int_equal(int_at(ev, "session_id"), 100);
    assert_int_equal(int_at(ev, "sender"), (json_int_t)hid);
    assert_int_equal(test_sink_count(fx->sink, NULL), 1);

    /* Detaching again, or an unknown handle, finds nothing and runs nothing. */
    assert_int_equal(odeon_session_detach(s, hid), ODEON_ENOENT);
    assert_int_equal(odeon_session_detach(s, 12345), ODEON_ENOENT);
    assert_int_equal(destroyed, 1);
    assert_false(odeon_handle_call_begin(h));
    odeon_handle_unref(h);
    odeon_session_unref(s);
}

static void test_attach_refused(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 0);
    odeon_handle *h = NULL;
    assert_int_equal(odeon_session_attach(s, &refusing_plugin, NULL, &h), ODEON_EPERM);
    assert_null(h);
    assert_int_equal(refused, 1);
    assert_int_equal(destroyed, 0); /* never created, so never destroyed */
    json_t *handles = odeon_session_handles_json(s);
    assert_int_equal(json_array_size(handles), 0);
    json_decref(handles);
    assert_int_equal(test_sink_count(fx->sink, NULL), 0);
    odeon_session_unref(s);
}

static void test_attach_to_destroyed_session(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 0);
    assert_int_equal(odeon_sessions_destroy(fx->sessions, odeon_session_id(s), "test"), 0);
    assert_true(odeon_session_is_destroyed(s));
    odeon_handle *h = NULL;
    assert_int_equal(odeon_session_attach(s, &test_plugin, NULL, &h), ODEON_EGONE);
    assert_null(h);
    assert_int_equal(created, 0);
    odeon_session_unref(s);
}

static void test_attach_while_session_destroyed(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 0);
    destroy_during_create = fx->sessions;
    odeon_handle *h = NULL;
    assert_int_equal(odeon_session_attach(s, &test_plugin, NULL, &h), ODEON_EGONE);
    assert_null(h);
    /* The plugin session that was created is torn down again, and nobody is told: the
     * client never learnt the handle id. */
    assert_int_equal(created, 1);
    assert_int_equal(destroyed, 1);
    assert_int_equal(test_sink_count(fx->sink, "detached"), 0);
    assert_int_equal(odeon_sessions_count(fx->sessions), 0);
    odeon_session_unref(s);
}

static void test_plugin_data_and_info(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 77);
    odeon_handle *h = attach(s, "op-7");
    int marker;
    assert_null(odeon_handle_plugin_data(h));
    odeon_handle_set_plugin_data(h, &marker);
    assert_ptr_equal(odeon_handle_plugin_data(h), &marker);

    json_t *info = odeon_handle_info_json(h);
    assert_int_equal(int_at(info, "session_id"), 77);
    assert_int_equal(int_at(info, "handle_id"), (json_int_t)odeon_handle_id(h));
    assert_str_at(info, "plugin", "odeon.plugin.sessiontest");
    assert_str_at(info, "opaque_id", "op-7");
    assert_str_at(info, "session_transport", "test");
    assert_str_at(json_object_get(info, "plugin_specific"), "state", "idle");
    assert_true(json_is_false(json_object_get(json_object_get(info, "flags"), "detached")));
    json_decref(info);

    /* No peer connection exists yet: hangup has nothing to tear down. */
    assert_int_equal(odeon_handle_hangup(h, "test"), ODEON_ENOTCONN);
    odeon_handle_unref(h);
    odeon_session_unref(s);
}

/* ---- destruction ---- */

static void test_destroy_detaches_handles(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 200);
    odeon_handle *h1 = attach(s, NULL), *h2 = attach(s, NULL);
    assert_int_not_equal(odeon_handle_id(h1), odeon_handle_id(h2));

    assert_int_equal(odeon_sessions_destroy(fx->sessions, 200, "destroy request"), 0);
    assert_int_equal(destroyed, 2);
    /* As in Janus, a destroyed session's handles go without "detached" events. */
    assert_int_equal(test_sink_count(fx->sink, NULL), 0);
    assert_int_equal(test_sink_gone_count(fx->sink, 200), 1);
    assert_int_equal(test_sink_log_size(fx->sink), 1);
    assert_true(odeon_session_is_destroyed(s));
    assert_true(odeon_handle_is_detached(h1) && odeon_handle_is_detached(h2));
    assert_null(odeon_sessions_lookup(fx->sessions, 200));
    assert_int_equal(odeon_sessions_count(fx->sessions), 0);
    assert_int_equal(odeon_sessions_destroy(fx->sessions, 200, "again"), ODEON_ENOENT);
    assert_int_equal(odeon_sessions_destroy(fx->sessions, 999, "unknown"), ODEON_ENOENT);

    /* The handles keep the session's memory alive until they are dropped (ASan checks). */
    assert_int_equal(odeon_session_id(odeon_handle_session(h1)), 200);
    odeon_session_unref(s);
    odeon_handle_unref(h1);
    assert_int_equal(test_sink_core_refs(fx->sink), 1);
    odeon_handle_unref(h2);
    assert_int_equal(test_sink_core_refs(fx->sink), 0);
}

static void test_destroy_by_sink(void **state)
{
    fixture *fx = *state;
    test_sink *other = test_sink_new();
    odeon_session *mine = create(fx, 1), *theirs = NULL;
    assert_int_equal(odeon_sessions_create(fx->sessions, 2, &other->base, NULL, &theirs), 0);
    odeon_handle *h = attach(mine, NULL);
    odeon_handle_unref(h);
    odeon_session_unref(mine);
    odeon_session_unref(theirs);

    odeon_sessions_destroy_by_sink(fx->sessions, &fx->sink->base);
    assert_int_equal(odeon_sessions_count(fx->sessions), 1);
    odeon_session *left = odeon_sessions_lookup(fx->sessions, 2);
    assert_non_null(left);
    odeon_session_unref(left);
    /* The plugin is told; the vanished client is not sent anything. */
    assert_int_equal(destroyed, 1);
    assert_int_equal(test_sink_count(fx->sink, NULL), 0);
    assert_int_equal(test_sink_gone_count(fx->sink, 1), 1);
    assert_int_equal(test_sink_core_refs(fx->sink), 0);
    assert_int_equal(test_sink_log_size(other), 0);

    odeon_sessions_destroy_all(fx->sessions, "shutdown");
    assert_int_equal(odeon_sessions_count(fx->sessions), 0);
    assert_int_equal(test_sink_gone_count(other, 2), 1);
    test_sink_free(other);
}

static void test_destroy_all(void **state)
{
    fixture *fx = *state;
    for (uint64_t id = 1; id <= 5; id++) {
        odeon_session *s = create(fx, id);
        odeon_handle *h = attach(s, NULL);
        odeon_handle_unref(h);
        odeon_session_unref(s);
    }
    odeon_sessions_destroy_all(fx->sessions, "shutdown");
    assert_int_equal(odeon_sessions_count(fx->sessions), 0);
    assert_int_equal(destroyed, 5);
    /* A shutdown was not the client's doing: it hears "detached" for every handle, before
     * the session is gone (so the transport can still flush them). */
    assert_int_equal(test_sink_count(fx->sink, "detached"), 5);
    for (uint64_t id = 1; id <= 5; id++) {
        assert_int_equal(test_sink_gone_count(fx->sink, id), 1);
        bool seen_gone = false;
        for (size_t i = 0; i < test_sink_log_size(fx->sink); i++) {
            json_t *entry = test_sink_entry(fx->sink, i);
            if ((uint64_t)json_integer_value(json_object_get(entry, "session_id")) != id)
                continue;
            if (test_entry_is(entry, "gone", NULL))
                seen_gone = true;
            else
                assert_false(seen_gone);
        }
        assert_true(seen_gone);
    }
}

static void test_set_sink(void **state)
{
    fixture *fx = *state;
    test_sink *other = test_sink_new();
    odeon_session *s = create(fx, 40);
    odeon_session_set_sink(s, &other->base);
    /* The old owner lets go of the session; the new one holds it and gets its events. */
    assert_int_equal(test_sink_gone_count(fx->sink, 40), 1);
    assert_int_equal(test_sink_core_refs(fx->sink), 0);
    assert_int_equal(test_sink_core_refs(other), 1);
    json_t *ev = json_pack("{s:s}", "janus", "custom");
    odeon_session_push(s, ev);
    json_decref(ev);
    assert_int_equal(test_sink_count(other, "custom"), 1);
    assert_int_equal(test_sink_count(fx->sink, NULL), 0);
    odeon_event_sink *sink = odeon_session_sink(s);
    assert_ptr_equal(sink, &other->base);
    sink->ops->unref(sink);

    /* Setting the same sink again changes nothing. */
    odeon_session_set_sink(s, &other->base);
    assert_int_equal(test_sink_gone_count(other, 40), 0);
    assert_int_equal(test_sink_core_refs(other), 1);

    /* The session now goes with the new owner's connection, not the old one's. */
    odeon_sessions_destroy_by_sink(fx->sessions, &fx->sink->base);
    assert_false(odeon_session_is_destroyed(s));
    odeon_sessions_destroy_by_sink(fx->sessions, &other->base);
    assert_true(odeon_session_is_destroyed(s));
    assert_int_equal(test_sink_gone_count(other, 40), 1);
    odeon_session_unref(s);
    assert_int_equal(test_sink_core_refs(other), 0);
    test_sink_free(other);
}

/* ---- timeouts ---- */

static void test_expire_disabled(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 0);
    odeon_clock_advance(3600 * SECOND);
    assert_int_equal(odeon_sessions_expire(fx->sessions, odeon_clock_monotonic_us(), 0), 0);
    assert_int_equal(odeon_sessions_count(fx->sessions), 1);
    assert_int_equal(test_sink_count(fx->sink, NULL), 0);
    odeon_session_unref(s);
}

static void test_expire_idle_session(void **state)
{
    fixture *fx = *state;
    odeon_session *idle = create(fx, 300), *busy = create(fx, 301);
    odeon_handle *h = attach(idle, NULL);
    odeon_handle_unref(h);

    odeon_clock_advance(30 * SECOND);
    odeon_session_touch(busy);
    /* Exactly the timeout is not yet "more than" the timeout. */
    odeon_clock_advance(30 * SECOND);
    assert_int_equal(odeon_sessions_expire(fx->sessions, odeon_clock_monotonic_us(), 60), 0);
    odeon_clock_advance(1);
    assert_int_equal(odeon_sessions_expire(fx->sessions, odeon_clock_monotonic_us(), 60), 1);

    assert_true(odeon_session_is_destroyed(idle));
    assert_false(odeon_session_is_destroyed(busy));
    assert_null(odeon_sessions_lookup(fx->sessions, 300));
    /* The client is told "timeout", then the session is gone; its handles are torn down
     * without "detached" events, as in Janus. */
    assert_int_equal(test_sink_log_size(fx->sink), 2);
    json_t *first = test_sink_entry(fx->sink, 0);
    assert_true(test_entry_is(first, "deliver", "timeout"));
    json_t *ev = json_object_get(first, "event");
    assert_int_equal(int_at(ev, "session_id"), 300);
    assert_int_equal(json_object_size(ev), 2); /* {"janus":"timeout","session_id":300} */
    assert_true(test_entry_is(test_sink_entry(fx->sink, 1), "gone", NULL));
    assert_int_equal(test_sink_gone_count(fx->sink, 300), 1);
    assert_int_equal(destroyed, 1);

    /* The touched session times out 60 s after its last activity, not before. */
    odeon_clock_advance(29 * SECOND);
    assert_int_equal(odeon_sessions_expire(fx->sessions, odeon_clock_monotonic_us(), 60), 0);
    odeon_clock_advance(2 * SECOND);
    assert_int_equal(odeon_sessions_expire(fx->sessions, odeon_clock_monotonic_us(), 60), 1);
    assert_true(odeon_session_is_destroyed(busy));
    odeon_session_unref(idle);
    odeon_session_unref(busy);
}

/* ---- deferred destroy_session ---- */

static void test_detach_during_call(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 0);
    odeon_handle *h = attach(s, NULL);

    assert_true(odeon_handle_call_begin(h));
    assert_true(odeon_handle_call_begin(h)); /* two calls in flight */
    assert_int_equal(odeon_session_detach(s, odeon_handle_id(h)), 0);
    /* The client hears "detached" at once; the plugin is not torn down under its calls. */
    assert_int_equal(test_sink_count(fx->sink, "detached"), 1);
    assert_int_equal(destroyed, 0);
    assert_false(odeon_handle_call_begin(h)); /* no new call starts on a detached handle */
    odeon_handle_call_end(h);
    assert_int_equal(destroyed, 0);
    odeon_handle_call_end(h);
    assert_int_equal(destroyed, 1);
    odeon_handle_unref(h);
    odeon_session_unref(s);
}

static void test_call_without_detach(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 0);
    odeon_handle *h = attach(s, NULL);
    assert_true(odeon_handle_call_begin(h));
    odeon_handle_call_end(h);
    assert_int_equal(destroyed, 0);
    odeon_handle_unref(h);
    odeon_session_unref(s);
    odeon_sessions_destroy_all(fx->sessions, "test");
    assert_int_equal(destroyed, 1);
}

static void test_destroy_session_during_call(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 9);
    odeon_handle *h = attach(s, NULL);
    assert_true(odeon_handle_call_begin(h));
    assert_int_equal(odeon_sessions_destroy(fx->sessions, 9, "destroy request"), 0);
    assert_int_equal(destroyed, 0);
    odeon_handle_call_end(h);
    assert_int_equal(destroyed, 1);
    odeon_handle_unref(h);
    odeon_session_unref(s);
}

/* ---- references ---- */

static void test_references_outlive_destroy(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 31);
    odeon_session *extra = odeon_session_ref(s);
    assert_ptr_equal(extra, s);
    odeon_session_unref(s);
    assert_int_equal(odeon_sessions_destroy(fx->sessions, 31, "test"), 0);
    /* Still readable through the remaining reference (ASan would flag a use after free). */
    assert_int_equal(odeon_session_id(extra), 31);
    assert_true(odeon_session_is_destroyed(extra));
    assert_int_equal(test_sink_core_refs(fx->sink), 1);
    odeon_session_unref(extra);
    assert_int_equal(test_sink_core_refs(fx->sink), 0);
    odeon_session_unref(NULL);
    odeon_handle_unref(NULL);
}

/* ---- event bus ---- */

static json_t *bus_find(fixture *fx, int type, const char *name)
{
    for (size_t i = 0; i < json_array_size(fx->bus_log.envelopes); i++) {
        json_t *env = json_array_get(fx->bus_log.envelopes, i);
        const char *n = json_string_value(json_object_get(json_object_get(env, "event"), "name"));
        if (json_integer_value(json_object_get(env, "type")) == type && n && strcmp(n, name) == 0)
            return env;
    }
    return NULL;
}

static void test_bus_events(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 500);
    odeon_handle *h = attach(s, "opq");
    json_int_t hid = (json_int_t)odeon_handle_id(h);
    assert_int_equal(odeon_session_detach(s, (uint64_t)hid), 0);
    odeon_handle_unref(h);
    odeon_session_unref(s);
    assert_int_equal(odeon_sessions_destroy(fx->sessions, 500, "destroy request"), 0);
    odeon_eventbus_flush(fx->bus);

    assert_int_equal(json_array_size(fx->bus_log.envelopes), 4);
    json_t *env = bus_find(fx, ODEON_EVENT_SESSION, "created");
    assert_non_null(env);
    assert_int_equal(int_at(env, "session_id"), 500);
    assert_null(json_object_get(env, "handle_id"));
    assert_str_at(json_object_get(env, "event"), "transport", "test");
    assert_str_at(env, "emitter", "unit");
    assert_int_equal(int_at(env, "timestamp"), T0_WALL);

    env = bus_find(fx, ODEON_EVENT_HANDLE, "attached");
    assert_non_null(env);
    assert_int_equal(int_at(env, "session_id"), 500);
    assert_int_equal(int_at(env, "handle_id"), hid);
    assert_str_at(json_object_get(env, "event"), "plugin", "odeon.plugin.sessiontest");
    assert_str_at(json_object_get(env, "event"), "opaque_id", "opq");

    env = bus_find(fx, ODEON_EVENT_HANDLE, "detached");
    assert_non_null(env);
    assert_int_equal(int_at(env, "handle_id"), hid);

    env = bus_find(fx, ODEON_EVENT_SESSION, "destroyed");
    assert_non_null(env);
    assert_str_at(json_object_get(env, "event"), "reason", "destroy request");
}

static void test_bus_timeout_reason(void **state)
{
    fixture *fx = *state;
    odeon_session *s = create(fx, 600);
    odeon_session_unref(s);
    odeon_clock_advance(61 * SECOND);
    assert_int_equal(odeon_sessions_expire(fx->sessions, odeon_clock_monotonic_us(), 60), 1);
    odeon_eventbus_flush(fx->bus);
    json_t *env = bus_find(fx, ODEON_EVENT_SESSION, "destroyed");
    assert_non_null(env);
    assert_str_at(json_object_get(env, "event"), "reason", "timeout");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TB(fn) cmocka_unit_test_setup_teardown(fn, setup_bus, teardown)

int main(void)
{
    odeon_log_set_level(ODEON_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        T(test_create_random_id),
        T(test_create_wanted_id),
        T(test_create_with_identity),
        T(test_list_and_count),
        T(test_push_and_touch),
        T(test_attach_detach),
        T(test_attach_refused),
        T(test_attach_to_destroyed_session),
        T(test_attach_while_session_destroyed),
        T(test_plugin_data_and_info),
        T(test_destroy_detaches_handles),
        T(test_destroy_by_sink),
        T(test_destroy_all),
        T(test_set_sink),
        T(test_expire_disabled),
        T(test_expire_idle_session),
        T(test_detach_during_call),
        T(test_call_without_detach),
        T(test_destroy_session_during_call),
        T(test_references_outlive_destroy),
        TB(test_bus_events),
        TB(test_bus_timeout_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
