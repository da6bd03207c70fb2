/*
 * tickets_valid.h - checks of what clients send (pure; unit-tested and fuzzed through the
 * requests). Everything that reaches PostgreSQL has passed one of these first, so a bad value
 * gets a clear error instead of a constraint violation half-way through a change.
 */
#ifndef ODEON_TICKETS_VALID_H
#define ODEON_TICKETS_VALID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* NULL when v is a string of min..max characters (not bytes) without NUL or control
 * characters (newlines and tabs allowed when multiline); otherwise a reason (static). */
const char *tickets_valid_text(json_t *v, size_t min, size_t max, bool multiline);
bool tickets_valid_email(const char *email);
bool tickets_valid_business_type(const char *type);
/* Three ASCII letters; *lower gets them lower-cased. */
bool tickets_valid_currency(const char *currency, char lower[4]);
bool tickets_valid_timezone(const char *tz);
/* ISO 8601 date-time; without an offset it is local time in tz. Years 2000..2200. */
bool tickets_parse_time(const char *text, const char *tz, int64_t *unix_seconds);
/* "YYYY-MM-DD" (start of that day, UTC) or a date-time as above in UTC. */
bool tickets_parse_date(const char *text, int64_t *unix_seconds);
/* http(s)://host... or a site path "/..." (not "//"); no spaces, quotes or angle brackets. */
bool tickets_valid_url(const char *url);
/* "2027-03-01T17:00:00Z" into out. */
void tickets_format_time(int64_t unix_seconds, char out[32]);

/* The business types events may have, NULL-terminated. */
extern const char *const tickets_business_types[];

#endif
