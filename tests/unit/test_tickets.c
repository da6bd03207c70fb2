/*
 * test_tickets.c - the tickets plugin's pure parts: signed tokens (a changed byte, another
 * key, another kind, expiry, garbage), link secrets and their hashes, scrypt passwords, input
 * checks (text length in characters, control characters, NUL, emails, currencies, time zones,
 * local times and offsets, impossible dates, URLs) and the listing filters from a query string
 * and from a request body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <jansson.h>

#include "tickets_filter.h"
#include "tickets_password.h"
#include "tickets_token.h"
#include "tickets_valid.h"

static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const uint8_t other_key[32] = {9, 9, 9};
#define NOW 1800000000

static char *sample_token(const char *typ, int64_t exp)
{
    json_t *claims = json_pack("{s:s, s:I, s:I, s:s}", "typ", typ, "exp", (json_int_t)exp, "uid",
                               (json_int_t)7, "name", "Ann \"O'Neil\"");
    char *token = tickets_token_sign(key, sizeof key, claims);
    json_decref(claims);
    return token;
}

static void test_token_round_trip(void **state)
{
    (void)state;
    char *token = sample_token("organiser", NOW + 60);
    assert_non_null(token);
    assert_true(g_str_has_prefix(token, "odt1."));
    const char *reason = NULL;
    json_t *claims = tickets_token_verify(key, sizeof key, token, "organiser", NOW, &reason);
    assert_non_null(claims);
    assert_null(reason);
    assert_int_equal(json_integer_value(json_object_get(claims, "uid")), 7);
    assert_string_equal(json_string_value(json_object_get(claims, "name")), "Ann \"O'Neil\"");
    json_decref(claims);
    /* Any kind when none is asked for. */
    claims = tickets_token_verify(key, sizeof key, token, NULL, NOW, &reason);
    assert_non_null(claims);
    json_decref(claims);
    g_free(token);
}

static void test_token_refused(void **state)
{
    (void)state;
    const char *reason = NULL;
    char *token = sample_token("organiser", NOW + 60);
    assert_null(tickets_token_verify(other_key, sizeof other_key, token, NULL, NOW, &reason));
    assert_string_equal(reason, "bad signature");
    assert_null(tickets_token_verify(key, sizeof key, token, "participant", NOW, &reason));
    assert_string_equal(reason, "wrong kind of token");
    assert_null(tickets_token_verify(key, sizeof key, token, NULL, NOW + 60, &reason));
    assert_string_equal(reason, "expired");
    /* Every single changed character of the token is caught. */
    for (size_t i = 5; i < strlen(token); i++) {
        char *copy = g_strdup(token);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        json_t *c = tickets_token_verify(key, sizeof key, copy, NULL, NOW, &reason);
        assert_null(c);
        g_free(copy);
    }
    g_free(token);
    const char *garbage[] = {"", "odt1.", "odt1..", "odt1.a.b", "odt2.x.y", "odt1.!!!.???",
                             "odt1.e30.AAAA", NULL};
    for (const char **g = garbage; *g; g++)
        assert_null(tickets_token_verify(key, sizeof key, *g, NULL, NOW, &reason));
    assert_null(tickets_token_verify(key, sizeof key, NULL, NULL, NOW, &reason));
    char *long_token = g_strnfill(TICKETS_TOKEN_MAX + 10, 'a');
    memcpy(long_token, "odt1.", 5);
    assert_null(tickets_token_verify(key, sizeof key, long_token, NULL, NOW, &reason));
    g_free(long_token);
    /* Claims without typ or exp are not signed at all. */
    json_t *bad = json_pack("{s:s}", "typ", "organiser");
    assert_null(tickets_token_sign(key, sizeof key, bad));
    json_decref(bad);
}

static void test_link_secret(void **state)
{
    (void)state;
    char *a = tickets_link_secret(), *b = tickets_link_secret();
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    char *ha = tickets_link_hash(a), *ha2 = tickets_link_hash(a), *hb = tickets_link_hash(b);
    assert_int_equal(strlen(ha), 2 + 64);
    assert_true(g_str_has_prefix(ha, "\\x"));
    assert_string_equal(ha, ha2);
    assert_string_not_equal(ha, hb);
    g_free(a);
    g_free(b);
    g_free(ha);
    g_free(ha2);
    g_free(hb);
    size_t len = 0;
    uint8_t raw[] = {0xfb, 0xff, 0x00, 0x10};
    char *text = tickets_b64url_encode(raw, sizeof raw);
    assert_null(strpbrk(text, "+/="));
    uint8_t *back = tickets_b64url_decode(text, strlen(text), &len);
    assert_int_equal(len, sizeof raw);
    assert_memory_equal(back, raw, sizeof raw);
    g_free(back);
    g_free(text);
    assert_null(tickets_b64url_decode("a", 1, &len));
    assert_null(tickets_b64url_decode("ab+c", 4, &len));
}

static void test_password(void **state)
{
    (void)state;
    char *stored = tickets_password_hash("correct horse battery");
    assert_non_null(stored);
    assert_true(g_str_has_prefix(stored, "scrypt$15$8$1$"));
    assert_true(tickets_password_verify("correct horse battery", stored));
    assert_false(tickets_password_verify("correct horse batterz", stored));
    char *again = tickets_password_hash("correct horse battery");
    assert_string_not_equal(stored, again); /* salted */
    assert_false(tickets_password_verify("x", NULL));
    assert_false(tickets_password_verify("x", "plain"));
    assert_false(tickets_password_verify("x", "scrypt$40$8$1$AAAA$AAAA"));
    g_free(stored);
    g_free(again);
}

static void test_text(void **state)
{
    (void)state;
    json_t *ok = json_string("Zoë's \"hack\" '; DROP TABLE x; --");
    assert_null(tickets_valid_text(ok, 1, 40, false));
    json_t *umlauts = json_string("ääää");
    assert_null(tickets_valid_text(umlauts, 1, 4, false)); /* 4 characters, 8 bytes */
    assert_non_null(tickets_valid_text(umlauts, 1, 3, false));
    json_t *empty = json_string("");
    assert_non_null(tickets_valid_text(empty, 1, 3, false));
    assert_null(tickets_valid_text(empty, 0, 3, false));
    json_t *nul = json_stringn("a\0b", 3);
    assert_non_null(tickets_valid_text(nul, 1, 10, false));
    json_t *lines = json_string("a\nb");
    assert_non_null(tickets_valid_text(lines, 1, 10, false));
    assert_null(tickets_valid_text(lines, 1, 10, true));
    json_t *bell = json_string("a\x07");
    assert_non_null(tickets_valid_text(bell, 1, 10, true));
    json_t *number = json_integer(3);
    assert_non_null(tickets_valid_text(number, 1, 10, false));
    assert_non_null(tickets_valid_text(NULL, 1, 10, false));
    json_t *vals[] = {ok, umlauts, empty, nul, lines, bell, number};
    for (size_t i = 0; i < G_N_ELEMENTS(vals); i++)
        json_decref(vals[i]);
}

static void test_email_currency_tz_url(void **state)
{
    (void)state;
    assert_true(tickets_valid_email("ann.o-neil+events@example.co.uk"));
    const char *bad[] = {"", "a", "@x.org", "a@", "a@b", "a@@b.org", "a b@c.org",
                         "a@b..org", "a@b.org.", "a\r\n@b.org", "\"a\"@b.org", "a@-b_c.org",
                         NULL};
    for (const char **b = bad; *b; b++)
        assert_false(tickets_valid_email(*b));
    char lower[4];
    assert_true(tickets_valid_currency("EUR", lower));
    assert_string_equal(lower, "eur");
    assert_false(tickets_valid_currency("EU", lower));
    assert_false(tickets_valid_currency("E1R", lower));
    assert_true(tickets_valid_business_type("hackathon"));
    assert_false(tickets_valid_business_type("Hackathon"));
    assert_true(tickets_valid_timezone("Europe/Berlin"));
    assert_true(tickets_valid_timezone("UTC"));
    assert_false(tickets_valid_timezone("Mars/Olympus"));
    assert_false(tickets_valid_timezone("../../etc/passwd"));
    assert_true(tickets_valid_url("https://cdn.example.org/a.png"));
    assert_true(tickets_valid_url("/images/a.png"));
    assert_false(tickets_valid_url("//evil.org/a.png"));
    assert_false(tickets_valid_url("javascript:alert(1)"));
    assert_false(tickets_valid_url("https://x.org/a b"));
    assert_false(tickets_valid_url("https://x.org/\"onerror="));
}

static void test_times(void **state)
{
    (void)state;
    int64_t t = 0;
    /* Local time in the event's zone: 09:00 in Berlin in winter is 08:00 UTC. */
    assert_true(tickets_parse_time("2027-03-01T09:00", "Europe/Berlin", &t));
    char text[32];
    tickets_format_time(t, text);
    assert_string_equal(text, "2027-03-01T08:00:00Z");
    assert_true(tickets_parse_time("2027-03-01T09:00:00+05:00", "Europe/Berlin", &t));
    tickets_format_time(t, text);
    assert_string_equal(text, "2027-03-01T04:00:00Z");
    assert_true(tickets_parse_time("2027-07-01T09:00:00Z", "Europe/Berlin", &t));
    const char *bad[] = {"2027-02-30T10:00", "not a date", "2027-03-01", "1999-01-01T00:00",
                         "2027-13-01T00:00", "2027-03-01T25:00", "", NULL};
    for (const char **b = bad; *b; b++)
        assert_false(tickets_parse_time(*b, "UTC", &t));
    assert_false(tickets_parse_time("2027-03-01T09:00", "Nowhere/City", &t));
    assert_true(tickets_parse_date("2027-03-01", &t));
    tickets_format_time(t, text);
    assert_string_equal(text, "2027-03-01T00:00:00Z");
    assert_false(tickets_parse_date("2027-3-1", &t));
}

static void test_filter_query(void **state)
{
    (void)state;
    tickets_filter f;
    char **storage = NULL;
    const char *error = NULL;
    assert_true(tickets_http_parse_filter(
        "business_type=hackathon&q=rust%20meetup&from=2027-03-01&to=2027-03-01&page=2&per_page=5"
        "&utm_source=tv",
        &f, &storage, &error));
    assert_string_equal(f.business_type, "hackathon");
    assert_string_equal(f.q, "rust meetup");
    assert_true(f.has_from && f.has_to);
    assert_int_equal(f.to - f.from, 86400); /* a date includes its whole day */
    assert_int_equal(f.page, 2);
    assert_int_equal(f.per_page, 5);
    g_strfreev(storage);
    assert_true(tickets_http_parse_filter("q=a+b", &f, &storage, &error));
    assert_string_equal(f.q, "a b");
    g_strfreev(storage);
    assert_true(tickets_http_parse_filter("", &f, &storage, &error));
    assert_int_equal(f.page, 1);
    assert_int_equal(f.per_page, 20);
    assert_null(f.business_type);
    g_strfreev(storage);
    const char *bad[] = {"business_type=party", "from=yesterday", "page=0", "per_page=101", "from=2027-03-02&to=2027-03-01",
                         "page=-1", "page=1&page=2", "q=%zz", "per_page=1e3", NULL};
    for (const char **b = bad; *b; b++) {
        error = NULL;
        assert_false(tickets_http_parse_filter(*b, &f, &storage, &error));
        assert_non_null(error);
        g_strfreev(storage);
    }
}

static void test_filter_body(void **state)
{
    (void)state;
    tickets_filter f;
    const char *error = NULL;
    json_t *body = json_pack("{s:s, s:s, s:i}", "business_type", "meetup", "q", "x", "page", 3);
    assert_true(tickets_filter_from_body(body, &f, &error));
    assert_string_equal(f.business_type, "meetup");
    assert_int_equal(f.page, 3);
    json_decref(body);
    body = json_pack("{s:i}", "per_page", 0);
    assert_false(tickets_filter_from_body(body, &f, &error));
    json_decref(body);
    body = json_pack("{s:i}", "business_type", 5);
    assert_false(tickets_filter_from_body(body, &f, &error));
    json_decref(body);
    body = json_pack("{s:s}", "page", "2");
    assert_false(tickets_filter_from_body(body, &f, &error));
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_round_trip),
        cmocka_unit_test(test_token_refused),
        cmocka_unit_test(test_link_secret),
        cmocka_unit_test(test_password),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_email_currency_tz_url),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_filter_query),
        cmocka_unit_test(test_filter_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
