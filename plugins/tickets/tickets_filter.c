/*
 * tickets_filter.c - listing filters from a query string or a request body.
 */
#include "tickets_filter.h"
#include "tickets_valid.h"

#include <string.h>

#include <glib.h>

static bool parse_int(const char *s, int min, int max, int *out)
{
    if (s == NULL || *s == '\0' || strlen(s) > 9)
        return false;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isdigit(*p))
            return false;
    int v = (int)g_ascii_strtoll(s, NULL, 10);
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Shared by the HTTP query and the request body: strings are borrowed. */
static bool filter_fill(tickets_filter *f, const char *type, const char *from, const char *to,
                        const char *q, const char *page, const char *per_page,
                        const char **error)
{
    *f = (tickets_filter){.page = 1, .per_page = 20};
    if (type && *type) {
        if (!tickets_valid_business_type(type)) {
            *error = "unknown business_type";
            return false;
        }
        f->business_type = type;
    }
    if (from && *from) {
        if (!tickets_parse_date(from, &f->from)) {
            *error = "from must be a date (YYYY-MM-DD) or an ISO 8601 time";
            return false;
        }
        f->has_from = true;
    }
    if (to && *to) {
        if (!tickets_parse_date(to, &f->to)) {
            *error = "to must be a date (YYYY-MM-DD) or an ISO 8601 time";
            return false;
        }
        /* A date includes its whole day. */
        if (strlen(to) == 10)
            f->to += 86400;
        f->has_to = true;
    }
    if (f->has_from && f->has_to && f->to <= f->from) {
        *error = "to must be after from";
        return false;
    }
    if (q && *q) {
        if (strlen(q) > 200 || !g_utf8_validate(q, -1, NULL)) {
            *error = "q must be text of at most 200 characters";
            return false;
        }
        f->q = q;
    }
    if (page && *page && !parse_int(page, 1, 100000, &f->page)) {
        *error = "page must be 1 or more";
        return false;
    }
    if (per_page && *per_page && !parse_int(per_page, 1, 100, &f->per_page)) {
        *error = "per_page must be 1..100";
        return false;
    }
    return true;
}

bool tickets_http_parse_filter(const char *query, tickets_filter *filter, char ***storage,
                               const char **error)
{
    static const char *const keys[] = {"business_type", "from", "to", "q", "page", "per_page"};
    char **values = g_new0(char *, G_N_ELEMENTS(keys) + 1);
    *storage = values;
    char **pairs = g_strsplit(query ? query : "", "&", 32);
    bool ok = true;
    for (char **p = pairs; ok && *p; p++) {
        if (**p == '\0')
            continue;
        char *eq = strchr(*p, '=');
        char *raw = eq ? eq + 1 : *p + strlen(*p);
        if (eq)
            *eq = '\0';
        for (char *c = raw; *c; c++)
            if (*c == '+')
                *c = ' ';
        for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
            if (strcmp(*p, keys[k]) != 0)
                continue;
            char *value = g_uri_unescape_string(raw, NULL);
            if (value == NULL || values[k] != NULL) {
                *error = value ? "a parameter is repeated" : "bad URL encoding";
                g_free(value);
                ok = false;
                break;
            }
            values[k] = value;
        }
    }
    g_strfreev(pairs);
    /* g_strfreev stops at the first NULL: keep the array dense for it. */
    char *dense[G_N_ELEMENTS(keys)];
    memcpy(dense, values, sizeof dense);
    if (ok)
        ok = filter_fill(filter, dense[0], dense[1], dense[2], dense[3], dense[4], dense[5],
                         error);
    size_t n = 0;
    for (size_t k = 0; k < G_N_ELEMENTS(keys); k++)
        if (dense[k] != NULL)
            values[n++] = dense[k];
    for (size_t k = n; k < G_N_ELEMENTS(keys); k++)
        values[k] = NULL;
    return ok;
}

static const char *body_text(json_t *body, const char *key, bool *bad)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

bool tickets_filter_from_body(json_t *body, tickets_filter *filter, const char **error)
{
    bool bad = false;
    char page[16] = "", per_page[16] = "";
    json_t *p = json_object_get(body, "page"), *pp = json_object_get(body, "per_page");
    if (json_is_integer(p))
        g_snprintf(page, sizeof page, "%" JSON_INTEGER_FORMAT, json_integer_value(p));
    else if (p != NULL)
        bad = true;
    if (json_is_integer(pp))
        g_snprintf(per_page, sizeof per_page, "%" JSON_INTEGER_FORMAT, json_integer_value(pp));
    else if (pp != NULL)
        bad = true;
    const char *type = body_text(body, "business_type", &bad);
    const char *from = body_text(body, "from", &bad);
    const char *to = body_text(body, "to", &bad);
    const char *q = body_text(body, "q", &bad);
    if (bad || (page[0] == '-' || per_page[0] == '-')) {
        *error = "filters are strings; page and per_page positive integers";
        return false;
    }
    return filter_fill(filter, type, from, to, q, page, per_page, error);
}

