/*
 * test_medialoop.c - the media loop threads: ordered posts on the right thread, run_sync from
 * another thread and from the loop itself, load-balanced picking, a stop that still runs
 * what was posted before it, the shared periodic tick, and wakes (coalesced, allocation-free
 * runs of one function).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "core/medialoop.h"
#include "test_gate.h"

#define POSTS 1000

typedef struct {
    GMutex lock;
    GCond cond;
    odeon_media_loop *loop;
    unsigned next;     /* the sequence number the next task must carry */
    unsigned ran;      /* tasks run */
    unsigned wrong;    /* tasks run out of order or on the wrong thread */
    GThread *thread;   /* the loop thread, as seen by the first task */
} recorder;

typedef struct {
    recorder *r;
    unsigned seq;
} seq_task;

static void recorder_init(recorder *r, odeon_media_loop *loop)
{
    memset(r, 0, sizeof *r);
    g_mutex_init(&r->lock);
    g_cond_init(&r->cond);
    r->loop = loop;
}

static void recorder_clear(recorder *r)
{
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->cond);
}

static void record(void *data)
{
    seq_task *t = data;
    recorder *r = t->r;
    g_mutex_lock(&r->lock);
    if (r->thread == NULL)
        r->thread = g_thread_self();
    if (t->seq != r->next || !odeon_media_loop_is_current(r->loop) ||
        odeon_media_loop_current() != r->loop || r->thread != g_thread_self())
        r->wrong++;
    r->next = t->seq + 1;
    r->ran++;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
    g_free(t);
}

static void wait_ran(recorder *r, unsigned count)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_TIME_SPAN_SECOND;
    g_mutex_lock(&r->lock);
    while (r->ran < count)
        if (!g_cond_wait_until(&r->cond, &r->lock, deadline))
            break;
    unsigned ran = r->ran;
    g_mutex_unlock(&r->lock);
    assert_int_equal(ran, count);
}

static void post_seq(recorder *r, unsigned seq)
{
    seq_task *t = g_new(seq_task, 1);
    t->r = r;
    t->seq = seq;
    odeon_media_loop_post(r->loop, record, t);
}

static void test_start_and_order(void **state)
{
    (void)state;
    char *error = NULL;
    odeon_media_loops *loops = odeon_media_loops_start(2, &error);
    assert_non_null(loops);
    assert_null(error);
    assert_int_equal(odeon_media_loops_count(loops), 2);
    recorder r[2];
    odeon_media_loop *l0 = odeon_media_loops_pick(loops);
    odeon_media_loop_attach(l0);
    odeon_media_loop *l1 = odeon_media_loops_pick(loops);
    odeon_media_loop_attach(l1);
    assert_ptr_not_equal(l0, l1);
    assert_int_not_equal(odeon_media_loop_index(l0), odeon_media_loop_index(l1));
    assert_ptr_not_equal(odeon_media_loop_context(l0), odeon_media_loop_context(l1));
    recorder_init(&r[0], l0);
    recorder_init(&r[1], l1);

    /* The test thread is no loop. */
    assert_null(odeon_media_loop_current());
    assert_false(odeon_media_loop_is_current(l0));

    for (unsigned i = 0; i < POSTS; i++) {
        post_seq(&r[0], i);
        post_seq(&r[1], i);
    }
    wait_ran(&r[0], POSTS);
    wait_ran(&r[1], POSTS);
    assert_int_equal(r[0].wrong, 0);
    assert_int_equal(r[1].wrong, 0);
    assert_ptr_not_equal(r[0].thread, r[1].thread);
    assert_ptr_not_equal(r[0].thread, g_thread_self());

    odeon_media_loop_detach(l0);
    odeon_media_loop_detach(l1);
    odeon_media_loops_stop(loops);
    recorder_clear(&r[0]);
    recorder_clear(&r[1]);
    odeon_media_loops_stop(NULL);
}

/* From several threads at once: every post runs once, each producer's posts in its order. */
typedef struct {
    odeon_media_loop *loop;
    unsigned producer;
    unsigned seq;
    unsigned *last;
    gint *bad;
    gint *ran;
} ordered_task;

static void ordered_run(void *data)
{
    ordered_task *t = data;
    if (t->last[t->producer] != t->seq || !odeon_media_loop_is_current(t->loop))
        g_atomic_int_inc(t->bad);
    t->last[t->producer] = t->seq + 1;
    g_atomic_int_inc(t->ran);
    g_free(t);
}

typedef struct {
    odeon_media_loop *loop;
    unsigned producer;
    unsigned *last;
    gint *bad;
    gint *ran;
} producer_args;

static gpointer producer_thread(gpointer data)
{
    producer_args *a = data;
    for (unsigned i = 0; i < POSTS; i++) {
        ordered_task *t = g_new(ordered_task, 1);
        *t = (ordered_task){.loop = a->loop, .producer = a->producer, .seq = i, .last = a->last,
                            .bad = a->bad, .ran = a->ran};
        odeon_media_loop_post(a->loop, ordered_run, t);
    }
    return NULL;
}

static void test_posts_from_many_threads(void **state)
{
    (void)state;
    odeon_media_loops *loops = odeon_media_loops_start(1, NULL);
    assert_non_null(loops);
    odeon_media_loop *loop = odeon_media_loops_pick(loops);
    unsigned last[4] = {0};
    gint bad = 0, ran = 0;
    producer_args args[4];
    GThread *threads[4];
    for (unsigned p = 0; p < 4; p++) {
        args[p] = (producer_args){.loop = loop, .producer = p, .last = last, .bad = &bad,
                                  .ran = &ran};
        threads[p] = g_thread_new("producer", producer_thread, &args[p]);
    }
    for (unsigned p = 0; p < 4; p++)
        g_thread_join(threads[p]);
    /* stop runs everything still queued before returning */
    odeon_media_loops_stop(loops);
    assert_int_equal(g_atomic_int_get(&ran), 4 * POSTS);
    assert_int_equal(g_atomic_int_get(&bad), 0);
}

/* ---- run_sync ---- */

typedef struct {
    odeon_media_loop *loop;
    bool ran;
    bool on_loop;
    GThread *thread;
    bool inner_ran;
    bool inner_inline;
} sync_state;

static void inner_task(void *data)
{
    sync_state *s = data;
    s->inner_ran = true;
    s->thread = g_thread_self();
}

static void outer_task(void *data)
{
    sync_state *s = data;
    s->ran = true;
    s->on_loop = odeon_media_loop_is_current(s->loop) && odeon_media_loop_current() == s->loop;
    /* On the loop itself run_sync runs inline (waiting would deadlock). */
    odeon_media_loop_run_sync(s->loop, inner_task, s);
    s->inner_inline = s->inner_ran && s->thread == g_thread_self();
}

static void slow_task(void *data)
{
    g_usleep(50000);
    g_atomic_int_set((gint *)data, 1);
}

static void test_run_sync(void **state)
{
    (void)state;
    odeon_media_loops *loops = odeon_media_loops_start(2, NULL);
    assert_non_null(loops);
    odeon_media_loop *loop = odeon_media_loops_pick(loops);
    sync_state s = {.loop = loop};
    odeon_media_loop_run_sync(loop, outer_task, &s);
    /* Returned only once the task had run: no wait needed. */
    assert_true(s.ran);
    assert_true(s.on_loop);
    assert_true(s.inner_inline);
    assert_ptr_not_equal(s.thread, g_thread_self());

    /* run_sync waits for what was posted before it too. */
    gint slow = 0;
    odeon_media_loop_post(loop, slow_task, &slow);
    sync_state s2 = {.loop = loop};
    odeon_media_loop_run_sync(loop, inner_task, &s2);
    assert_int_equal(g_atomic_int_get(&slow), 1);
    assert_true(s2.inner_ran);
    odeon_media_loops_stop(loops);
}

/* ---- pick ---- */

static void test_pick_balances(void **state)
{
    (void)state;
    odeon_media_loops *loops = odeon_media_loops_start(3, NULL);
    assert_non_null(loops);
    odeon_media_loop *picked[6];
    unsigned per_loop[3] = {0};
    for (int i = 0; i < 6; i++) {
        picked[i] = odeon_media_loops_pick(loops);
        odeon_media_loop_attach(picked[i]);
        per_loop[odeon_media_loop_index(picked[i])]++;
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(per_loop[i], 2);
    /* Free two on one loop: it is the least loaded, so it is picked next, twice. */
    odeon_media_loop *light = picked[0];
    unsigned light_index = odeon_media_loop_index(light);
    int freed = 0;
    for (int i = 0; i < 6; i++) {
        if (picked[i] == light) {
            odeon_media_loop_detach(picked[i]);
            picked[i] = NULL;
            freed++;
        }
    }
    assert_int_equal(freed, 2);
    assert_int_equal(odeon_media_loop_load(light), 0);
    for (int k = 0; k < 2; k++) {
        odeon_media_loop *p = odeon_media_loops_pick(loops);
        assert_int_equal(odeon_media_loop_index(p), light_index);
        odeon_media_loop_attach(p);
        for (int i = 0; i < 6; i++)
            if (picked[i] == NULL) {
                picked[i] = p;
                break;
            }
    }
    assert_int_equal(odeon_media_loop_load(light), 2);
    for (int i = 0; i < 6; i++)
        odeon_media_loop_detach(picked[i]);
    for (unsigned i = 0; i < 3; i++) {
        odeon_media_loop *p = odeon_media_loops_pick(loops);
        assert_int_equal(odeon_media_loop_load(p), 0);
    }
    odeon_media_loops_stop(loops);
}

/* ---- stop ---- */

typedef struct {
    gint ran;
} stop_state;

static void stop_task(void *data)
{
    stop_state *s = data;
    g_usleep(1000);
    g_atomic_int_inc(&s->ran);
}

static void block_task(void *data)
{
    g_usleep(100000); /* keep the loop busy while more is posted behind */
    g_atomic_int_set((gint *)data, 1);
}

static void test_stop_runs_pending(void **state)
{
    (void)state;
    odeon_media_loops *loops = odeon_media_loops_start(2, NULL);
    assert_non_null(loops);
    gint blocked = 0;
    stop_state s = {0};
    for (unsigned l = 0; l < 2; l++) {
        odeon_media_loop *loop = odeon_media_loops_pick(loops);
        if (l == 0)
            odeon_media_loop_post(loop, block_task, &blocked);
        for (int i = 0; i < 50; i++)
            odeon_media_loop_post(loop, stop_task, &s);
    }
    odeon_media_loops_stop(loops);
    assert_int_equal(g_atomic_int_get(&blocked), 1);
    assert_int_equal(g_atomic_int_get(&s.ran), 100);

    /* count 0: one per CPU */
    loops = odeon_media_loops_start(0, NULL);
    assert_non_null(loops);
    assert_true(odeon_media_loops_count(loops) >= 1);
    odeon_media_loops_stop(loops);
}

/* ---- the shared tick ---- */

typedef struct {
    odeon_media_loop *loop;
    gint calls;         /* atomic */
    gint wrong_thread;  /* atomic */
    int64_t last_now;   /* loop thread only */
    bool remove_self;   /* unregister from inside the tick, after the 3rd call */
    gint backwards;     /* atomic: now_us went back */
} ticker;

static void tick_fn(void *data, int64_t now_us)
{
    ticker *t = data;
    if (!odeon_media_loop_is_current(t->loop))
        g_atomic_int_inc(&t->wrong_thread);
    if (now_us < t->last_now)
        g_atomic_int_inc(&t->backwards);
    t->last_now = now_us;
    if (g_atomic_int_add(&t->calls, 1) + 1 == 3 && t->remove_self)
        odeon_media_loop_tick_remove(t->loop, tick_fn, t);
}

static void tick_add_task(void *data)
{
    ticker *t = data;
    odeon_media_loop_tick_add(t->loop, tick_fn, t);
}

static void tick_remove_task(void *data)
{
    ticker *t = data;
    odeon_media_loop_tick_remove(t->loop, tick_fn, t);
}

static void test_tick(void **state)
{
    (void)state;
    odeon_media_loops *loops = odeon_media_loops_start(1, NULL);
    assert_non_null(loops);
    odeon_media_loop *loop = odeon_media_loops_pick(loops);
    ticker keep = {.loop = loop}, once = {.loop = loop, .remove_self = true},
           other = {.loop = loop};
    odeon_media_loop_run_sync(loop, tick_add_task, &keep);
    odeon_media_loop_run_sync(loop, tick_add_task, &once);
    odeon_media_loop_run_sync(loop, tick_add_task, &other);
    /* Removing one that was never added changes nothing. */
    ticker stranger = {.loop = loop};
    odeon_media_loop_run_sync(loop, tick_remove_task, &stranger);

    g_usleep(20 * ODEON_MEDIA_LOOP_TICK_MS * 1000);
    odeon_media_loop_run_sync(loop, tick_remove_task, &other);
    int other_calls = g_atomic_int_get(&other.calls);
    g_usleep(10 * ODEON_MEDIA_LOOP_TICK_MS * 1000);
    odeon_media_loop_run_sync(loop, tick_remove_task, &keep);
    int keep_calls = g_atomic_int_get(&keep.calls);
    g_usleep(5 * ODEON_MEDIA_LOOP_TICK_MS * 1000);

    /* About 30 ticks went by for keep (timers may be late, never early by much). */
    assert_true(keep_calls >= 10);
    assert_true(keep_calls <= 40);
    assert_int_equal(g_atomic_int_get(&keep.calls), keep_calls);   /* removed: no more */
    assert_int_equal(g_atomic_int_get(&other.calls), other_calls); /* removed: no more */
    assert_true(other_calls >= 5 && other_calls < keep_calls);
    assert_int_equal(g_atomic_int_get(&once.calls), 3); /* removed itself inside a tick */
    assert_int_equal(g_atomic_int_get(&stranger.calls), 0);
    assert_int_equal(keep.wrong_thread + once.wrong_thread + other.wrong_thread, 0);
    assert_int_equal(keep.backwards + other.backwards, 0);
    odeon_media_loops_stop(loops);
}

/* ---- wakes ---- */

typedef struct {
    odeon_media_loop *loop;
    odeon_media_wake wake;
    gint runs;
    gint wrong_thread;
    gint rewake_until; /* fn wakes itself again until runs reaches this */
} waker;

static void waker_run(void *data)
{
    waker *w = data;
    if (!odeon_media_loop_is_current(w->loop))
        g_atomic_int_inc(&w->wrong_thread);
    int runs = g_atomic_int_add(&w->runs, 1) + 1;
    if (runs < g_atomic_int_get(&w->rewake_until))
        assert_true(odeon_media_loop_wake(w->loop, &w->wake));
}

static void gate_task(void *data)
{
    test_gate_pass(data);
}

static void nothing_task(void *data)
{
    (void)data;
}

static void test_wake(void **state)
{
    (void)state;
    odeon_media_loops *loops = odeon_media_loops_start(1, NULL);
    assert_non_null(loops);
    odeon_media_loop *loop = odeon_media_loops_get(loops, 0);
    assert_non_null(loop);
    assert_null(odeon_media_loops_get(loops, 1));

    /* While the loop is busy, a hundred wakes are one run. */
    test_gate g;
    test_gate_init(&g);
    odeon_media_loop_post(loop, gate_task, &g);
    waker w = {.loop = loop, .wake = {.fn = waker_run, .data = &w}};
    assert_true(odeon_media_loop_wake(loop, &w.wake));
    for (int i = 0; i < 99; i++)
        assert_false(odeon_media_loop_wake(loop, &w.wake));
    test_gate_open(&g);
    odeon_media_loop_run_sync(loop, nothing_task, NULL);
    for (int i = 0; i < 200 && g_atomic_int_get(&w.runs) < 1; i++)
        g_usleep(1000);
    g_usleep(20000);
    assert_int_equal(g_atomic_int_get(&w.runs), 1);

    /* A wake from inside its own function is not lost: it runs again. */
    g_atomic_int_set(&w.rewake_until, 4);
    assert_true(odeon_media_loop_wake(loop, &w.wake));
    for (int i = 0; i < 500 && g_atomic_int_get(&w.runs) < 4; i++)
        g_usleep(1000);
    g_usleep(20000);
    assert_int_equal(g_atomic_int_get(&w.runs), 4);
    assert_int_equal(g_atomic_int_get(&w.wrong_thread), 0);

    /* One still pending when the loops stop runs before stop returns. */
    test_gate_reset(&g);
    odeon_media_loop_post(loop, gate_task, &g);
    waker late = {.loop = loop, .wake = {.fn = waker_run, .data = &late}};
    assert_true(odeon_media_loop_wake(loop, &late.wake));
    test_gate_open(&g);
    odeon_media_loops_stop(loops);
    assert_int_equal(g_atomic_int_get(&late.runs), 1);
    test_gate_clear(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_and_order),
        cmocka_unit_test(test_posts_from_many_threads),
        cmocka_unit_test(test_run_sync),
        cmocka_unit_test(test_pick_balances),
        cmocka_unit_test(test_stop_runs_pending),
        cmocka_unit_test(test_tick),
        cmocka_unit_test(test_wake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
