/*
 * tickets_valid.c - input checks.
 */
#include "tickets_valid.h"

#include <string.h>

#include <glib.h>

const char *const tickets_business_types[] = {
    "conference", "hackathon", "town_hall", "workshop", "meetup", "webinar", "other", NULL,
};

const char *tickets_valid_text(json_t *v, size_t min, size_t max, bool multiline)
{
    if (!json_is_string(v))
        return "must be a string";
    const char *s = json_string_value(v);
    size_t bytes = json_string_length(v);
    if (strlen(s) != bytes)
        return "must not contain NUL";
    /* Bytes bound the work before counting characters (4 bytes at most per character). */
    if (bytes > max * 4)
        return "is too long";
    glong chars = g_utf8_strlen(s, (gssize)bytes);
    if ((size_t)chars < min)
        return min == 1 ? "must not be empty" : "is too short";
    if ((size_t)chars > max)
        return "is too long";
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (multiline && (c == '\n' || c == '\t' || c == '\r'))
            continue;
        if (g_unichar_iscntrl(c) || c == 0x2028 || c == 0x2029)
            return "must not contain control characters";
    }
    return NULL;
}

bool tickets_valid_email(const char *email)
{
    size_t len = email ? strlen(email) : 0;
    if (len < 3 || len > 254)
        return false;
    const char *at = strchr(email, '@');
    if (at == NULL || at == email || strchr(at + 1, '@') != NULL || at - email > 64)
        return false;
    const char *domain = at + 1;
    if (strchr(domain, '.') == NULL || domain[0] == '.' || email[len - 1] == '.')
        return false;
    for (const char *p = email; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("()<>[]:;,\\\"", c) != NULL)
            return false;
    }
    for (const char *p = domain; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.')
            return false;
    return strstr(domain, "..") == NULL;
}

bool tickets_valid_business_type(const char *type)
{
    for (const char *const *t = tickets_business_types; type && *t; t++)
        if (strcmp(*t, type) == 0)
            return true;
    return false;
}

bool tickets_valid_currency(const char *currency, char lower[4])
{
    if (currency == NULL || strlen(currency) != 3)
        return false;
    for (int i = 0; i < 3; i++) {
        if (!g_ascii_isalpha(currency[i]))
            return false;
        lower[i] = g_ascii_tolower(currency[i]);
    }
    lower[3] = '\0';
    return true;
}

bool tickets_valid_timezone(const char *tz)
{
    if (tz == NULL || *tz == '\0' || strlen(tz) > 64)
        return false;
    for (const char *p = tz; *p; p++)
        if (!g_ascii_isalnum(*p) && strchr("/_-+", *p) == NULL)
            return false;
    GTimeZone *zone = g_time_zone_new_identifier(tz);
    if (zone == NULL)
        return false;
    g_time_zone_unref(zone);
    return true;
}

static bool time_in_range(GDateTime *dt, int64_t *out)
{
    if (dt == NULL)
        return false;
    int year = g_date_time_get_year(dt);
    *out = g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    return year >= 2000 && year <= 2200;
}

/* GLib wants seconds; people (and <input type="datetime-local">) often leave them out. */
static char *with_seconds(const char *text)
{
    size_t len = strlen(text);
    if (len >= 16 && text[10] == 'T' && text[13] == ':' && (len == 16 || text[16] != ':'))
        return g_strdup_printf("%.16s:00%s", text, text + 16);
    return g_strdup(text);
}

bool tickets_parse_time(const char *text, const char *tz, int64_t *unix_seconds)
{
    if (text == NULL || strlen(text) > 40 || !tickets_valid_timezone(tz))
        return false;
    GTimeZone *zone = g_time_zone_new_identifier(tz);
    char *full = with_seconds(text);
    GDateTime *dt = g_date_time_new_from_iso8601(full, zone);
    g_free(full);
    g_time_zone_unref(zone);
    return time_in_range(dt, unix_seconds);
}

bool tickets_parse_date(const char *text, int64_t *unix_seconds)
{
    if (text == NULL || strlen(text) > 40)
        return false;
    if (strlen(text) == 10) {
        char *full = g_strconcat(text, "T00:00:00Z", NULL);
        GDateTime *dt = g_date_time_new_from_iso8601(full, NULL);
        g_free(full);
        return time_in_range(dt, unix_seconds);
    }
    GTimeZone *utc = g_time_zone_new_utc();
    char *full = with_seconds(text);
    GDateTime *dt = g_date_time_new_from_iso8601(full, utc);
    g_free(full);
    g_time_zone_unref(utc);
    return time_in_range(dt, unix_seconds);
}

bool tickets_valid_url(const char *url)
{
    if (url == NULL || *url == '\0' || strlen(url) > 2000)
        return false;
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("\"'<>\\`", c) != NULL)
            return false;
    }
    if (url[0] == '/')
        return url[1] != '/';
    const char *host = g_str_has_prefix(url, "https://") ? url + 8
                       : g_str_has_prefix(url, "http://") ? url + 7
                                                           : NULL;
    return host != NULL && g_ascii_isalnum(host[0]);
}

void tickets_format_time(int64_t unix_seconds, char out[32])
{
    GDateTime *dt = g_date_time_new_from_unix_utc(unix_seconds);
    if (dt == NULL) {
        g_strlcpy(out, "", 32);
        return;
    }
    char *text = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
    g_strlcpy(out, text, 32);
    g_free(text);
    g_date_time_unref(dt);
}
