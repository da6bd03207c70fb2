/*
 * tickets_split.c - breakout groups from a list of people (tickets_split.h).
 */
#include "tickets_split.h"

#include <glib.h>
#include <stdlib.h>

size_t tickets_split_group_count(size_t n, size_t size, size_t count)
{
    if (n == 0)
        return 0;
    if (count > 0)
        return count < n ? count : n;
    if (size == 0)
        size = 1;
    return (n + size - 1) / size;
}

typedef struct unit {
    int team;      /* -1: one person alone */
    size_t first;  /* index of its first person (stable order) */
    size_t size;
} unit;

static int unit_order(const void *a, const void *b)
{
    const unit *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

static size_t smallest(const size_t *sizes, size_t groups)
{
    size_t best = 0;
    for (size_t g = 1; g < groups; g++)
        if (sizes[g] < sizes[best])
            best = g;
    return best;
}

void tickets_split_assign(const tickets_split_person *people, size_t n, size_t groups,
                          size_t *group_of)
{
    if (n == 0 || groups == 0)
        return;
    /* One unit per team (in order of first appearance) and one per person without a team. */
    GHashTable *team_unit = g_hash_table_new(g_direct_hash, g_direct_equal);
    unit *units = g_new0(unit, n);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        int t = people[i].team;
        gpointer found = t >= 0 ? g_hash_table_lookup(team_unit, GINT_TO_POINTER(t + 1)) : NULL;
        if (found != NULL) {
            units[GPOINTER_TO_SIZE(found) - 1].size++;
            continue;
        }
        units[count] = (unit){.team = t, .first = i, .size = 1};
        if (t >= 0)
            g_hash_table_insert(team_unit, GINT_TO_POINTER(t + 1), GSIZE_TO_POINTER(count + 1));
        count++;
    }
    qsort(units, count, sizeof *units, unit_order);
    size_t *sizes = g_new0(size_t, groups);
    for (size_t u = 0; u < count; u++) {
        size_t g = smallest(sizes, groups);
        sizes[g] += units[u].size;
        if (units[u].team < 0) {
            group_of[units[u].first] = g;
            continue;
        }
        for (size_t i = units[u].first; i < n; i++)
            if (people[i].team == units[u].team)
                group_of[i] = g;
    }
    g_free(sizes);
    g_free(units);
    g_hash_table_unref(team_unit);
}
