/*
 * clock.h - the injectable monotonic and wall clocks.
 *
 * Everything that expires (sessions, long-polls, rate limits) reads time from here, so tests
 * drive time step by step with odeon_clock_set_fake. Microseconds throughout.
 */
#ifndef ODEON_CORE_CLOCK_H
#define ODEON_CORE_CLOCK_H

#include <stdint.h>

int64_t odeon_clock_monotonic_us(void);
int64_t odeon_clock_wall_us(void);

/* Tests: freeze both clocks at the given values (monotonic, wall); advance moves both. */
void odeon_clock_set_fake(int64_t monotonic_us, int64_t wall_us);
void odeon_clock_advance(int64_t delta_us);
void odeon_clock_set_real(void);

#endif
