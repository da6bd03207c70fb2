/*
 * clock.c - real clocks by default; tests freeze and advance them.
 */
#include "core/clock.h"

#include <glib.h>

static gint fake_enabled;
static gint64 fake_monotonic;
static gint64 fake_wall;

int64_t odeon_clock_monotonic_us(void)
{
    if (g_atomic_int_get(&fake_enabled))
        return fake_monotonic;
    return g_get_monotonic_time();
}

int64_t odeon_clock_wall_us(void)
{
    if (g_atomic_int_get(&fake_enabled))
        return fake_wall;
    return g_get_real_time();
}

void odeon_clock_set_fake(int64_t monotonic_us, int64_t wall_us)
{
    fake_monotonic = monotonic_us;
    fake_wall = wall_us;
    g_atomic_int_set(&fake_enabled, 1);
}

void odeon_clock_advance(int64_t delta_us)
{
    fake_monotonic += delta_us;
    fake_wall += delta_us;
}

void odeon_clock_set_real(void)
{
    g_atomic_int_set(&fake_enabled, 0);
}
