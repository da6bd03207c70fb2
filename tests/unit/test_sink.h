/*
 * test_sink.h - an event sink for unit tests (test_session.c, test_api.c).
 *
 * It plays the transport connection that owns sessions: every deliver() and session_gone()
 * is recorded, in order, in one JSON array, so a test asserts on exactly what a client would
 * have received and in which order. References are counted but never free the sink: the test
 * owns the first one and test_sink_free() checks that the core gave every other one back.
 * Header-only (static functions) so that each test program stays one .c file.
 */
#ifndef ODEON_TESTS_TEST_SINK_H
#define ODEON_TESTS_TEST_SINK_H

#include <stdint.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "transport/sink.h"

typedef struct test_sink {
    odeon_event_sink base; /* first: the core only sees an odeon_event_sink * */
    gint refs;
    GMutex lock;
    /* [{"op":"deliver","session_id":N,"event":{...}} | {"op":"gone","session_id":N}] */
    json_t *log;
} test_sink;

static void test_sink_deliver(odeon_event_sink *sink, uint64_t session_id, json_t *event)
{
    test_sink *ts = (test_sink *)sink;
    json_t *entry = json_pack("{s:s, s:I, s:O}", "op", "deliver", "session_id",
                              (json_int_t)session_id, "event", event);
    g_mutex_lock(&ts->lock);
    json_array_append_new(ts->log, entry);
    g_mutex_unlock(&ts->lock);
}

static void test_sink_session_gone(odeon_event_sink *sink, uint64_t session_id)
{
    test_sink *ts = (test_sink *)sink;
    json_t *entry = json_pack("{s:s, s:I}", "op", "gone", "session_id", (json_int_t)session_id);
    g_mutex_lock(&ts->lock);
    json_array_append_new(ts->log, entry);
    g_mutex_unlock(&ts->lock);
}

static odeon_event_sink *test_sink_ref(odeon_event_sink *sink)
{
    g_atomic_int_inc(&((test_sink *)sink)->refs);
    return sink;
}

static void test_sink_unref(odeon_event_sink *sink)
{
    test_sink *ts = (test_sink *)sink;
    /* The test's own reference is never dropped through the core. */
    g_assert(g_atomic_int_get(&ts->refs) > 1);
    g_atomic_int_add(&ts->refs, -1);
}

static const odeon_event_sink_ops test_sink_ops = {
    .deliver = test_sink_deliver,
    .session_gone = test_sink_session_gone,
    .ref = test_sink_ref,
    .unref = test_sink_unref,
    .name = "test",
};

static inline test_sink *test_sink_new(void)
{
    test_sink *ts = g_new0(test_sink, 1);
    ts->base.ops = &test_sink_ops;
    ts->refs = 1;
    g_mutex_init(&ts->lock);
    ts->log = json_array();
    return ts;
}

/* References the core still holds (sessions alive on this sink). */
static inline int test_sink_core_refs(test_sink *ts)
{
    return g_atomic_int_get(&ts->refs) - 1;
}

static inline void test_sink_free(test_sink *ts)
{
    if (ts == NULL)
        return;
    g_assert_cmpint(test_sink_core_refs(ts), ==, 0);
    json_decref(ts->log);
    g_mutex_clear(&ts->lock);
    g_free(ts);
}

static inline void test_sink_clear(test_sink *ts)
{
    g_mutex_lock(&ts->lock);
    json_array_clear(ts->log);
    g_mutex_unlock(&ts->lock);
}

static inline size_t test_sink_log_size(test_sink *ts)
{
    g_mutex_lock(&ts->lock);
    size_t n = json_array_size(ts->log);
    g_mutex_unlock(&ts->lock);
    return n;
}

/* The index-th log entry (borrowed; valid until the next clear). */
static inline json_t *test_sink_entry(test_sink *ts, size_t index)
{
    g_mutex_lock(&ts->lock);
    json_t *entry = json_array_get(ts->log, index);
    g_mutex_unlock(&ts->lock);
    return entry;
}

static inline bool test_entry_is(json_t *entry, const char *op, const char *janus)
{
    if (entry == NULL || strcmp(json_string_value(json_object_get(entry, "op")), op) != 0)
        return false;
    if (janus == NULL)
        return true;
    const char *kind = json_string_value(json_object_get(json_object_get(entry, "event"), "janus"));
    return kind != NULL && strcmp(kind, janus) == 0;
}

/* The n-th (0-based) delivered event whose "janus" is kind, or NULL (borrowed). */
static inline json_t *test_sink_event(test_sink *ts, const char *kind, size_t n)
{
    size_t size = test_sink_log_size(ts);
    for (size_t i = 0; i < size; i++) {
        json_t *entry = test_sink_entry(ts, i);
        if (test_entry_is(entry, "deliver", kind) && n-- == 0)
            return json_object_get(entry, "event");
    }
    return NULL;
}

/* How many events of this kind were delivered (kind NULL: all). */
static inline size_t test_sink_count(test_sink *ts, const char *kind)
{
    size_t count = 0, size = test_sink_log_size(ts);
    for (size_t i = 0; i < size; i++)
        count += test_entry_is(test_sink_entry(ts, i), "deliver", kind);
    return count;
}

/* How many times session_gone was called for this session. */
static inline size_t test_sink_gone_count(test_sink *ts, uint64_t session_id)
{
    size_t count = 0, size = test_sink_log_size(ts);
    for (size_t i = 0; i < size; i++) {
        json_t *entry = test_sink_entry(ts, i);
        if (test_entry_is(entry, "gone", NULL) &&
            (uint64_t)json_integer_value(json_object_get(entry, "session_id")) == session_id)
            count++;
    }
    return count;
}

#endif
