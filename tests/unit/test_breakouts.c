/*
 * test_breakouts.c - the breakout split (plugins/tickets/tickets_split.c): group counts, balance,
 * teams kept whole, determinism.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tickets_split.h"

static void group_counts(void **state)
{
    (void)state;
    assert_int_equal(tickets_split_group_count(600, 6, 0), 100);
    assert_int_equal(tickets_split_group_count(601, 6, 0), 101);
    assert_int_equal(tickets_split_group_count(5, 6, 0), 1);
    assert_int_equal(tickets_split_group_count(0, 6, 0), 0);
    assert_int_equal(tickets_split_group_count(10, 0, 0), 10);
    assert_int_equal(tickets_split_group_count(600, 6, 7), 7);   /* a count wins */
    assert_int_equal(tickets_split_group_count(3, 0, 10), 3);    /* never more groups than people */
}

static void sizes_of(const size_t *group_of, size_t n, size_t groups, size_t *sizes)
{
    memset(sizes, 0, groups * sizeof *sizes);
    for (size_t i = 0; i < n; i++) {
        assert_true(group_of[i] < groups);
        sizes[group_of[i]]++;
    }
}

static void balanced_without_teams(void **state)
{
    (void)state;
    enum { N = 601 };
    static tickets_split_person people[N];
    static size_t group_of[N], sizes[101];
    for (size_t i = 0; i < N; i++)
        people[i] = (tickets_split_person){.id = (int64_t)i + 1, .team = -1};
    size_t groups = tickets_split_group_count(N, 6, 0);
    tickets_split_assign(people, N, groups, group_of);
    sizes_of(group_of, N, groups, sizes);
    size_t min = N, max = 0;
    for (size_t g = 0; g < groups; g++) {
        min = sizes[g] < min ? sizes[g] : min;
        max = sizes[g] > max ? sizes[g] : max;
    }
    assert_true(max - min <= 1);
    assert_true(max <= 6);
}

static void teams_stay_together(void **state)
{
    (void)state;
    enum { N = 600 };
    static tickets_split_person people[N];
    static size_t group_of[N], again[N], sizes[100];
    /* Teams of 3 (0..19) and one of 4 (20), spread through the list; the rest alone. */
    for (size_t i = 0; i < N; i++)
        people[i] = (tickets_split_person){.id = (int64_t)i + 1, .team = -1};
    for (size_t t = 0; t < 20; t++)
        for (size_t k = 0; k < 3; k++)
            people[t + 25 * k].team = (int)t;
    for (size_t k = 0; k < 4; k++)
        people[500 + 7 * k].team = 20;
    tickets_split_assign(people, N, 100, group_of);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            if (people[i].team >= 0 && people[i].team == people[j].team)
                assert_int_equal(group_of[i], group_of[j]);
    sizes_of(group_of, N, 100, sizes);
    for (size_t g = 0; g < 100; g++)
        assert_int_equal(sizes[g], 6);
    /* The same input splits the same way. */
    tickets_split_assign(people, N, 100, again);
    assert_memory_equal(group_of, again, sizeof group_of);
}

static void team_larger_than_a_group(void **state)
{
    (void)state;
    tickets_split_person people[10];
    size_t group_of[10], sizes[2];
    for (size_t i = 0; i < 10; i++)
        people[i] = (tickets_split_person){.id = (int64_t)i, .team = i < 7 ? 1 : -1};
    tickets_split_assign(people, 10, 2, group_of);
    sizes_of(group_of, 10, 2, sizes);
    /* The team of 7 stays whole; the three others go to the other group. */
    for (size_t i = 1; i < 7; i++)
        assert_int_equal(group_of[i], group_of[0]);
    assert_int_equal(sizes[group_of[0]], 7);
    assert_int_equal(sizes[1 - group_of[0]], 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(group_counts),
        cmocka_unit_test(balanced_without_teams),
        cmocka_unit_test(teams_stay_together),
        cmocka_unit_test(team_larger_than_a_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
