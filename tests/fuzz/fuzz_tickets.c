/*
 * fuzz_tickets.c - libFuzzer target for what the tickets plugin parses from the network: a
 * token from a client (tickets_token.c), the query string of GET /api/events and the body of
 * list_events (tickets_filter.c), and the free-text, email, time and URL checks every request
 * field passes (tickets_valid.c). The first byte picks which; the rest is the input. A token
 * must never verify (the fuzzer does not know the key); nothing may read past the input (ASan)
 * or leak (LSan).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "tickets_filter.h"
#include "tickets_token.h"
#include "tickets_valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[32] = {0x42};

static void token(const char *text)
{
    const char *reason = NULL;
    json_t *claims = tickets_token_verify(key, sizeof key, text, NULL, 1800000000, &reason);
    if (claims != NULL)
        __builtin_trap();
    size_t len = 0;
    g_free(tickets_b64url_decode(text, strlen(text), &len));
}

static void query(const char *text)
{
    tickets_filter f;
    char **storage = NULL;
    const char *error = NULL;
    if (tickets_http_parse_filter(text, &f, &storage, &error) &&
        (f.page < 1 || f.per_page < 1 || f.per_page > 100))
        __builtin_trap();
    g_strfreev(storage);
}

static void body(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    tickets_filter f;
    const char *error = NULL;
    if (j != NULL && tickets_filter_from_body(j, &f, &error) && (f.page < 1 || f.per_page > 100))
        __builtin_trap();
    json_decref(j);
}

static void fields(const char *text, size_t len)
{
    json_t *s = json_stringn(text, len);
    if (s != NULL) {
        tickets_valid_text(s, 1, 200, false);
        tickets_valid_text(s, 0, 10000, true);
        json_decref(s);
    }
    int64_t t = 0;
    char lower[4];
    tickets_valid_email(text);
    tickets_valid_url(text);
    tickets_valid_currency(text, lower);
    tickets_parse_time(text, "Europe/Berlin", &t);
    tickets_parse_date(text, &t);
    tickets_valid_timezone(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    char *text = g_strndup((const char *)data + 1, size - 1);
    switch (data[0] % 4) {
    case 0: token(text); break;
    case 1: query(text); break;
    case 2: body((const char *)data + 1, size - 1); break;
    default: fields(text, strlen(text)); break;
    }
    g_free(text);
    return 0;
}
