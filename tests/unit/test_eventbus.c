/*
 * test_eventbus.c - the event bus: subscription masks, the envelope, unsubscribe, flush, the
 * bounded queue (overflow is dropped and counted) and shutdown with events still queued.
 *
 * Handlers run on the bus thread. Where a test needs the queue in a known state, a gate
 * (GMutex + GCond) holds the bus thread inside a handler until the test opens it, so the
 * number of queued events is exact rather than a matter of timing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "core/clock.h"
#include "events/eventbus.h"
#include "test_gate.h"

/* What one subscriber received. */
typedef struct recorder {
    GMutex lock;
    json_t *envelopes;
} recorder;

static void recorder_init(recorder *r)
{
    g_mutex_init(&r->lock);
    r->envelopes = json_array();
}

static void recorder_clear(recorder *r)
{
    json_decref(r->envelopes);
    g_mutex_clear(&r->lock);
}

static size_t recorder_count(recorder *r)
{
    g_mutex_lock(&r->lock);
    size_t n = json_array_size(r->envelopes);
    g_mutex_unlock(&r->lock);
    return n;
}

static json_t *recorder_get(recorder *r, size_t i)
{
    g_mutex_lock(&r->lock);
    json_t *env = json_array_get(r->envelopes, i);
    g_mutex_unlock(&r->lock);
    return env;
}

static void record(json_t *envelope, void *user_data)
{
    recorder *r = user_data;
    g_mutex_lock(&r->lock);
    json_array_append(r->envelopes, envelope);
    g_mutex_unlock(&r->lock);
}

static void publish_named(odeon_eventbus *bus, odeon_event_type type, const char *name)
{
    json_t *body = json_pack("{s:s}", "name", name);
    odeon_eventbus_publish(bus, type, 0, 0, body);
    json_decref(body);
}

static const char *name_of(json_t *envelope)
{
    return json_string_value(json_object_get(json_object_get(envelope, "event"), "name"));
}

/* ---- subscriptions ---- */

static void test_no_subscribers(void **state)
{
    (void)state;
    odeon_eventbus *bus = odeon_eventbus_new("unit", 16);
    assert_false(odeon_eventbus_has_subscribers(bus, ODEON_EVENT_SESSION));
    assert_false(odeon_eventbus_has_subscribers(bus, ODEON_EVENT_ALL));
    for (int i = 0; i < 100; i++)
        publish_named(bus, ODEON_EVENT_SESSION, "ignored");
    odeon_eventbus_flush(bus);
    assert_int_equal(odeon_eventbus_delivered(bus), 0);
    assert_int_equal(odeon_eventbus_dropped(bus), 0); /* not even counted: nobody listens */
    odeon_eventbus_free(bus);
    /* A NULL bus (events disabled) is accepted by the publish path. */
    assert_false(odeon_eventbus_has_subscribers(NULL, ODEON_EVENT_ALL));
    publish_named(NULL, ODEON_EVENT_CORE, "nothing");
}

static void test_masks(void **state)
{
    (void)state;
    recorder sessions, handles_plugins, all;
    recorder_init(&sessions);
    recorder_init(&handles_plugins);
    recorder_init(&all);
    odeon_eventbus *bus = odeon_eventbus_new("unit", 64);
    odeon_eventbus_subscribe(bus, ODEON_EVENT_SESSION, record, &sessions);
    odeon_eventbus_subscribe(bus, ODEON_EVENT_HANDLE | ODEON_EVENT_PLUGIN, record,
                             &handles_plugins);
    odeon_eventbus_subscribe(bus, ODEON_EVENT_ALL, record, &all);
    assert_true(odeon_eventbus_has_subscribers(bus, ODEON_EVENT_MEDIA)); /* through "all" */

    publish_named(bus, ODEON_EVENT_SESSION, "s");
    publish_named(bus, ODEON_EVENT_HANDLE, "h");
    publish_named(bus, ODEON_EVENT_PLUGIN, "p");
    publish_named(bus, ODEON_EVENT_MEDIA, "m");
    odeon_eventbus_flush(bus);

    assert_int_equal(recorder_count(&sessions), 1);
    assert_string_equal(name_of(recorder_get(&sessions, 0)), "s");
    assert_int_equal(recorder_count(&handles_plugins), 2);
    assert_string_equal(name_of(recorder_get(&handles_plugins, 0)), "h");
    assert_string_equal(name_of(recorder_get(&handles_plugins, 1)), "p");
    assert_int_equal(recorder_count(&all), 4);
    assert_string_equal(name_of(recorder_get(&all, 3)), "m"); /* in publishing order */
    assert_int_equal(odeon_eventbus_delivered(bus), 7);
    odeon_eventbus_free(bus);
    recorder_clear(&sessions);
    recorder_clear(&handles_plugins);
    recorder_clear(&all);
}

static void test_envelope(void **state)
{
    (void)state;
    recorder r;
    recorder_init(&r);
    odeon_clock_set_fake(42, INT64_C(1700000000123456));
    odeon_eventbus *bus = odeon_eventbus_new("node-7", 16);
    odeon_eventbus_subscribe(bus, ODEON_EVENT_ALL, record, &r);
    json_t *body = json_pack("{s:s, s:i}", "name", "attached", "n", 3);
    odeon_eventbus_publish(bus, ODEON_EVENT_HANDLE, 11, 22, body);
    odeon_eventbus_publish(bus, ODEON_EVENT_SESSION, 11, 0, body);
    odeon_eventbus_publish(bus, ODEON_EVENT_CORE, 0, 0, NULL);
    /* The body is borrowed: changing it afterwards must not change what was published. */
    json_object_set_new(body, "n", json_integer(4));
    odeon_eventbus_flush(bus);
    odeon_clock_set_real();

    assert_int_equal(recorder_count(&r), 3);
    json_t *env = recorder_get(&r, 0);
    assert_int_equal(json_integer_value(json_object_get(env, "type")), ODEON_EVENT_HANDLE);
    assert_int_equal(json_integer_value(json_object_get(env, "timestamp")),
                     INT64_C(1700000000123456));
    assert_string_equal(json_string_value(json_object_get(env, "emitter")), "node-7");
    assert_int_equal(json_integer_value(json_object_get(env, "session_id")), 11);
    assert_int_equal(json_integer_value(json_object_get(env, "handle_id")), 22);
    json_t *expected = json_pack("{s:s, s:i}", "name", "attached", "n", 3);
    assert_true(json_equal(json_object_get(env, "event"), expected));
    json_decref(expected);

    env = recorder_get(&r, 1);
    assert_int_equal(json_integer_value(json_object_get(env, "session_id")), 11);
    assert_null(json_object_get(env, "handle_id"));

    env = recorder_get(&r, 2);
    assert_int_equal(json_integer_value(json_object_get(env, "type")), ODEON_EVENT_CORE);
    assert_null(json_object_get(env, "session_id"));
    assert_null(json_object_get(env, "handle_id"));
    assert_true(json_is_null(json_object_get(env, "event")));
    json_decref(body);
    odeon_eventbus_free(bus);
    recorder_clear(&r);
}

static void test_unsubscribe(void **state)
{
    (void)state;
    recorder a, b;
    recorder_init(&a);
    recorder_init(&b);
    odeon_eventbus *bus = odeon_eventbus_new("unit", 16);
    /* Same function, different user data: two subscriptions. */
    odeon_eventbus_subscribe(bus, ODEON_EVENT_SESSION, record, &a);
    odeon_eventbus_subscribe(bus, ODEON_EVENT_PLUGIN, record, &b);
    publish_named(bus, ODEON_EVENT_SESSION, "1");
    odeon_eventbus_flush(bus);

    odeon_eventbus_unsubscribe(bus, record, &a);
    assert_false(odeon_eventbus_has_subscribers(bus, ODEON_EVENT_SESSION));
    assert_true(odeon_eventbus_has_subscribers(bus, ODEON_EVENT_PLUGIN));
    publish_named(bus, ODEON_EVENT_SESSION, "2");
    publish_named(bus, ODEON_EVENT_PLUGIN, "3");
    odeon_eventbus_flush(bus);
    assert_int_equal(recorder_count(&a), 1);
    assert_int_equal(recorder_count(&b), 1);

    odeon_eventbus_unsubscribe(bus, record, &a); /* twice: no-op */
    odeon_eventbus_unsubscribe(bus, record, &b);
    assert_false(odeon_eventbus_has_subscribers(bus, ODEON_EVENT_ALL));
    odeon_eventbus_free(bus);
    recorder_clear(&a);
    recorder_clear(&b);
}

/* ---- flush, concurrency ---- */

typedef struct publisher {
    odeon_eventbus *bus;
    int count;
} publisher;

static gpointer publish_many(gpointer data)
{
    publisher *p = data;
    for (int i = 0; i < p->count; i++)
        publish_named(p->bus, ODEON_EVENT_PLUGIN, "x");
    return NULL;
}

static void count_event(json_t *envelope, void *user_data)
{
    (void)envelope;
    g_atomic_int_inc((gint *)user_data);
}

static void test_flush_concurrent_publishers(void **state)
{
    (void)state;
    enum {
        THREADS = 4,
        EACH = 2000
    };
    gint seen = 0;
    odeon_eventbus *bus = odeon_eventbus_new("unit", THREADS * EACH);
    odeon_eventbus_subscribe(bus, ODEON_EVENT_PLUGIN, count_event, &seen);
    publisher p = {bus, EACH};
    GThread *threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        threads[i] = g_thread_new("publisher", publish_many, &p);
    for (int i = 0; i < THREADS; i++)
        g_thread_join(threads[i]);
    odeon_eventbus_flush(bus);
    /* flush returns only once everything published before it was handled. */
    assert_int_equal(g_atomic_int_get(&seen), THREADS * EACH);
    assert_int_equal(odeon_eventbus_delivered(bus), THREADS * EACH);
    assert_int_equal(odeon_eventbus_dropped(bus), 0);
    odeon_eventbus_free(bus);
}

/* ---- the bounded queue ---- */

/* Holds the bus thread in the handler until opened. */
static void gated_handler(json_t *envelope, void *user_data)
{
    (void)envelope;
    test_gate_pass(user_data);
}

static void test_overflow_drops(void **state)
{
    (void)state;
    test_gate g;
    test_gate_init(&g);
    odeon_eventbus *bus = odeon_eventbus_new("unit", 16); /* queue of 16 */
    odeon_eventbus_subscribe(bus, ODEON_EVENT_CORE, gated_handler, &g);
    publish_named(bus, ODEON_EVENT_CORE, "held");
    test_gate_wait_entered(&g); /* the bus thread took it off the queue and is stuck in the handler */
    for (int i = 0; i < 16; i++)
        publish_named(bus, ODEON_EVENT_CORE, "queued");
    assert_int_equal(odeon_eventbus_dropped(bus), 0);
    for (int i = 0; i < 5; i++)
        publish_named(bus, ODEON_EVENT_CORE, "dropped");
    assert_int_equal(odeon_eventbus_dropped(bus), 5); /* the publisher never blocked */

    test_gate_open(&g);
    odeon_eventbus_flush(bus);
    assert_int_equal(g.passed, 17);
    assert_int_equal(odeon_eventbus_delivered(bus), 17);
    /* Room again once drained. */
    publish_named(bus, ODEON_EVENT_CORE, "after");
    odeon_eventbus_flush(bus);
    assert_int_equal(odeon_eventbus_delivered(bus), 18);
    assert_int_equal(odeon_eventbus_dropped(bus), 5);
    odeon_eventbus_free(bus);
    test_gate_clear(&g);
}

static void test_free_with_pending(void **state)
{
    (void)state;
    test_gate g;
    test_gate_init(&g);
    odeon_eventbus *bus = odeon_eventbus_new("unit", 64);
    odeon_eventbus_subscribe(bus, ODEON_EVENT_CORE, gated_handler, &g);
    publish_named(bus, ODEON_EVENT_CORE, "held");
    test_gate_wait_entered(&g);
    for (int i = 0; i < 10; i++)
        publish_named(bus, ODEON_EVENT_CORE, "pending");
    test_gate_open(&g);
    /* No flush: free delivers what is queued, then stops; ASan checks nothing leaks. */
    odeon_eventbus_free(bus);
    assert_int_equal(g.passed, 11);
    test_gate_clear(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_subscribers),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_unsubscribe),
        cmocka_unit_test(test_flush_concurrent_publishers),
        cmocka_unit_test(test_overflow_drops),
        cmocka_unit_test(test_free_with_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
