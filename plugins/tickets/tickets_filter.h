/*
 * tickets_filter.h - the filters of the public event listing, from a URL query string
 * (GET /api/events) or a plugin request's body (list_events). Pure; unit-tested and fuzzed.
 */
#ifndef ODEON_TICKETS_FILTER_H
#define ODEON_TICKETS_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

typedef struct tickets_filter {
    const char *business_type; /* NULL: any */
    bool has_from, has_to;
    int64_t from, to;          /* starts_at in [from, to) */
    const char *q;             /* NULL: any; words that must all appear (case-insensitive) */
    int page, per_page;        /* 1.., 1..100 */
} tickets_filter;

/* Parses a listing query ("business_type=...&from=...&to=...&q=...&page=...&per_page=...",
 * URL-encoded) into *filter, whose strings point into *storage (free it with g_strfreev, also
 * after a failure). false with *error (static) on an unknown business type, a bad date, a
 * bad number, a repeated parameter or bad encoding. Unknown parameters are ignored. */
bool tickets_http_parse_filter(const char *query, tickets_filter *filter, char ***storage,
                               const char **error);
/* The same from a plugin request's body (strings borrowed from body). */
bool tickets_filter_from_body(json_t *body, tickets_filter *filter, const char **error);

#endif
