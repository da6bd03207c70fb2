/*
 * test_http_parse.c - the transport's own HTTP parsing: chunked request bodies (every split
 * point, sizes, extensions, trailers, malformed framing, the size limit) and Janus API paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "transport/http_parse.h"

static void collect(void *user_data, const uint8_t *data, size_t len)
{
    g_byte_array_append(user_data, data, (guint)len);
}

/* Decode text fed in pieces of at most step bytes; returns the final status. */
static int decode(const char *text, size_t step, size_t limit, GByteArray *out)
{
    odeon_http_chunked dec = {0};
    size_t len = strlen(text);
    int r = ODEON_HTTP_CHUNKED_MORE;
    for (size_t i = 0; i < len && r == ODEON_HTTP_CHUNKED_MORE; i += step) {
        size_t n = len - i < step ? len - i : step;
        r = odeon_http_chunked_feed(&dec, (const uint8_t *)text + i, n, limit, collect, out);
    }
    return r;
}

static void assert_decodes(const char *text, const char *body)
{
    for (size_t step = 1; step <= strlen(text); step++) {
        GByteArray *out = g_byte_array_new();
        assert_int_equal(decode(text, step, 1 << 20, out), ODEON_HTTP_CHUNKED_DONE);
        assert_int_equal(out->len, strlen(body));
        assert_memory_equal(out->data, body, out->len);
        g_byte_array_unref(out);
    }
}

static void test_chunked_simple(void **state)
{
    (void)state;
    assert_decodes("5\r\nhello\r\n0\r\n\r\n", "hello");
    assert_decodes("3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n", "{\"a\":1}");
    assert_decodes("0\r\n\r\n", "");
}

static void test_chunked_hex_extensions_trailers(void **state)
{
    (void)state;
    assert_decodes("A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    assert_decodes("a;name=value\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    assert_decodes("2\r\nhi\r\n0\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n", "hi");
}

static void test_chunked_stops_at_end(void **state)
{
    (void)state;
    GByteArray *out = g_byte_array_new();
    odeon_http_chunked dec = {0};
    const char *text = "1\r\nx\r\n0\r\n\r\nGARBAGE";
    int r = odeon_http_chunked_feed(&dec, (const uint8_t *)text, strlen(text), 100, collect, out);
    assert_int_equal(r, ODEON_HTTP_CHUNKED_DONE);
    assert_int_equal(out->len, 1);
    /* Feeding after the end changes nothing. */
    r = odeon_http_chunked_feed(&dec, (const uint8_t *)"1\r\ny", 4, 100, collect, out);
    assert_int_equal(r, ODEON_HTTP_CHUNKED_DONE);
    assert_int_equal(out->len, 1);
    g_byte_array_unref(out);
}

static void test_chunked_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "z\r\n",              /* not a size */
        "5\nhello\r\n",       /* LF without CR after the size */
        "5\r\nhelloX\r\n",    /* data longer than announced */
        "5\r\nhello\rX",      /* CR not followed by LF */
        "0\r\nTrailer\rX",    /* broken trailer line */
        "0\r\n\rX",           /* broken final line */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        GByteArray *out = g_byte_array_new();
        assert_int_equal(decode(bad[i], 1, 1 << 20, out), ODEON_HTTP_CHUNKED_MALFORMED);
        g_byte_array_unref(out);
    }
}

static void test_chunked_limit(void **state)
{
    (void)state;
    GByteArray *out = g_byte_array_new();
    /* An announced chunk over the limit is refused while its size is read. */
    assert_int_equal(decode("100\r\n", 1, 255, out), ODEON_HTTP_CHUNKED_TOO_LARGE);
    assert_int_equal(out->len, 0);
    /* So is the sum of chunks. */
    g_byte_array_set_size(out, 0);
    assert_int_equal(decode("8\r\n01234567\r\n8\r\n", 1, 15, out), ODEON_HTTP_CHUNKED_TOO_LARGE);
    /* A size with more hex digits than 64 bits hold never overflows. */
    g_byte_array_set_size(out, 0);
    assert_int_equal(decode("FFFFFFFFFFFFFFFFFFFF\r\n", 1, SIZE_MAX, out),
                     ODEON_HTTP_CHUNKED_TOO_LARGE);
    /* Exactly the limit is fine. */
    g_byte_array_set_size(out, 0);
    assert_int_equal(decode("4\r\nabcd\r\n0\r\n\r\n", 3, 4, out), ODEON_HTTP_CHUNKED_DONE);
    g_byte_array_unref(out);
}

static void test_janus_path(void **state)
{
    (void)state;
    odeon_http_janus_path p;
    odeon_http_janus_path_parse("", &p);
    assert_int_equal(p.segments, 0);
    assert_int_equal(p.session_id, 0);
    odeon_http_janus_path_parse("/1234", &p);
    assert_int_equal(p.segments, 1);
    assert_int_equal(p.session_id, 1234);
    assert_int_equal(p.handle_id, 0);
    odeon_http_janus_path_parse("/1234/5678/", &p);
    assert_int_equal(p.segments, 2);
    assert_int_equal(p.session_id, 1234);
    assert_int_equal(p.handle_id, 5678);
    odeon_http_janus_path_parse("//9//8", &p);
    assert_int_equal(p.segments, 2);
    assert_int_equal(p.session_id, 9);
    assert_int_equal(p.handle_id, 8);
    odeon_http_janus_path_parse("/info", &p);
    assert_int_equal(p.segments, 1);
    assert_int_equal(p.session_id, 0);
    assert_int_equal(p.first_len, 4);
    assert_memory_equal(p.first, "info", 4);
    odeon_http_janus_path_parse("/1/2/3/4", &p);
    assert_int_equal(p.segments, 3);
}

static void test_janus_path_ids(void **state)
{
    (void)state;
    odeon_http_janus_path p;
    odeon_http_janus_path_parse("/18446744073709551615/1", &p);
    assert_true(p.session_id == UINT64_MAX);
    odeon_http_janus_path_parse("/18446744073709551616", &p); /* 2^64: out of range */
    assert_int_equal(p.session_id, 0);
    odeon_http_janus_path_parse("/12ab", &p);
    assert_int_equal(p.session_id, 0);
    odeon_http_janus_path_parse("/-5/+6", &p);
    assert_int_equal(p.session_id, 0);
    assert_int_equal(p.handle_id, 0);
    odeon_http_janus_path_parse("/123456789012345678901", &p); /* 21 digits */
    assert_int_equal(p.session_id, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_simple),
        cmocka_unit_test(test_chunked_hex_extensions_trailers),
        cmocka_unit_test(test_chunked_stops_at_end),
        cmocka_unit_test(test_chunked_malformed),
        cmocka_unit_test(test_chunked_limit),
        cmocka_unit_test(test_janus_path),
        cmocka_unit_test(test_janus_path_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
