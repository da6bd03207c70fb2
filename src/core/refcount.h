/*
 * refcount.h - the one reference-count type of the code base.
 *
 * An object embeds odeon_refcount and starts with one reference owned by its creator. _ref
 * returns the object for chaining; _unref releases and reports whether it was the last, so the
 * caller frees. Atomic, so references may be taken and dropped on any thread.
 */
#ifndef ODEON_CORE_REFCOUNT_H
#define ODEON_CORE_REFCOUNT_H

#include <stdbool.h>

#include <glib.h>

typedef struct odeon_refcount {
    gint count;
} odeon_refcount;

static inline void odeon_refcount_init(odeon_refcount *rc)
{
    g_atomic_int_set(&rc->count, 1);
}

static inline void odeon_refcount_inc(odeon_refcount *rc)
{
    g_assert(g_atomic_int_get(&rc->count) > 0);
    g_atomic_int_inc(&rc->count);
}

/* True when the last reference was dropped: the caller frees the object. */
static inline bool odeon_refcount_dec(odeon_refcount *rc)
{
    g_assert(g_atomic_int_get(&rc->count) > 0);
    return g_atomic_int_dec_and_test(&rc->count);
}

static inline int odeon_refcount_get(const odeon_refcount *rc)
{
    return g_atomic_int_get((gint *)&rc->count);
}

#endif
