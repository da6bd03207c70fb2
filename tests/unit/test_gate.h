/*
 * test_gate.h - a gate for unit tests that need another thread held at a known point
 * (test_eventbus.c: the bus thread inside a handler; test_medialoop.c: a loop inside a task).
 *
 * The held thread calls test_gate_pass(), which marks the gate entered and blocks until the
 * test calls test_gate_open(); the test may first wait for it with test_gate_wait_entered().
 * Header-only (static functions) so that each test program stays one .c file.
 */
#ifndef ODEON_TESTS_TEST_GATE_H
#define ODEON_TESTS_TEST_GATE_H

#include <stdbool.h>

#include <glib.h>

typedef struct test_gate {
    GMutex lock;
    GCond cond;
    bool entered;
    bool open;
    int passed; /* threads that went through */
} test_gate;

static inline void test_gate_init(test_gate *g)
{
    g_mutex_init(&g->lock);
    g_cond_init(&g->cond);
    g->entered = g->open = false;
    g->passed = 0;
}

static inline void test_gate_clear(test_gate *g)
{
    g_mutex_clear(&g->lock);
    g_cond_clear(&g->cond);
}

/* The held thread's side: blocks until the gate is open. */
static inline void test_gate_pass(test_gate *g)
{
    g_mutex_lock(&g->lock);
    g->entered = true;
    g_cond_broadcast(&g->cond);
    while (!g->open)
        g_cond_wait(&g->cond, &g->lock);
    g->passed++;
    g_mutex_unlock(&g->lock);
}

static inline void test_gate_wait_entered(test_gate *g)
{
    g_mutex_lock(&g->lock);
    while (!g->entered)
        g_cond_wait(&g->cond, &g->lock);
    g_mutex_unlock(&g->lock);
}

static inline void test_gate_open(test_gate *g)
{
    g_mutex_lock(&g->lock);
    g->open = true;
    g_cond_broadcast(&g->cond);
    g_mutex_unlock(&g->lock);
}

/* Closes it again for another round. */
static inline void test_gate_reset(test_gate *g)
{
    g_mutex_lock(&g->lock);
    g->entered = g->open = false;
    g_mutex_unlock(&g->lock);
}

#endif
