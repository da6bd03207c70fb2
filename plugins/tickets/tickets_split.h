/*
 * tickets_split.h - the split of an event's participants into breakout groups: balanced sizes,
 * teams formed beforehand kept whole. Pure code (no core, no database), tested by
 * tests/unit/test_breakouts.c.
 */
#ifndef ODEON_TICKETS_SPLIT_H
#define ODEON_TICKETS_SPLIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct tickets_split_person {
    int64_t id;
    int team; /* -1: none; people with the same team >= 0 stay together */
} tickets_split_person;

/* How many groups n people make: `count` when it is > 0 (at most n), else enough groups of at
 * most `size` people (ceil(n / size)). At least 1 for n > 0; 0 for n == 0. */
size_t tickets_split_group_count(size_t n, size_t size, size_t count);

/* Assigns each person a group 0..groups-1 in group_of[i]. Teams go first, largest first, each
 * whole into the group with the fewest people so far (the lowest index on ties); then each
 * person without a team joins the smallest group. Sizes differ by at most one unless a team
 * is larger than the others can balance. Deterministic for the same input order. */
void tickets_split_assign(const tickets_split_person *people, size_t n, size_t groups,
                          size_t *group_of);

#endif
