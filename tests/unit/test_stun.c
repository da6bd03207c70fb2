/*
 * test_stun.c - STUN parsing and building (src/webrtc/stun.c) against the RFC 5769 test
 * vectors (sections 2.1-2.3, short-term password "VOkJxbRl1RmTxUk/WvJxBt"): header fields,
 * every attribute reader, MESSAGE-INTEGRITY and FINGERPRINT, tampered and truncated copies,
 * malformed framing, and a Binding success response read back by the parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "plugin/plugin.h"
#include "webrtc/stun.h"

static const char PASSWORD[] = "VOkJxbRl1RmTxUk/WvJxBt";

/* RFC 5769 section 2.1: Binding request with SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME,
 * MESSAGE-INTEGRITY, FINGERPRINT. */
static const uint8_t REQUEST[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 section 2.2: Binding success response, XOR-MAPPED-ADDRESS 192.0.2.1:32853. */
static const uint8_t RESPONSE4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 section 2.3: the same with 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
static const uint8_t RESPONSE6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

static const uint8_t TXID[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

static int check_mi(const odeon_stun_msg *m, const char *key)
{
    return odeon_stun_check_integrity(m, (const uint8_t *)key, strlen(key));
}

/* A header for hand-made messages: Binding request, given body length, the RFC txid. */
static size_t header(uint8_t *buf, uint16_t type, uint16_t body_len)
{
    buf[0] = (uint8_t)(type >> 8);
    buf[1] = (uint8_t)type;
    buf[2] = (uint8_t)(body_len >> 8);
    buf[3] = (uint8_t)body_len;
    buf[4] = 0x21, buf[5] = 0x12, buf[6] = 0xa4, buf[7] = 0x42;
    memcpy(buf + 8, TXID, 12);
    return 20;
}

static size_t attr(uint8_t *p, uint16_t type, const void *value, uint16_t len)
{
    p[0] = (uint8_t)(type >> 8);
    p[1] = (uint8_t)type;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    if (len > 0)
        memcpy(p + 4, value, len);
    size_t padded = (len + 3u) & ~3u;
    memset(p + 4 + len, 0, padded - len);
    return 4 + padded;
}

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(odeon_stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(odeon_stun_crc32(NULL, 0), 0);
}

static void test_is_stun(void **state)
{
    (void)state;
    assert_true(odeon_stun_is_stun(REQUEST, sizeof(REQUEST)));
    assert_true(odeon_stun_is_stun(RESPONSE6, sizeof(RESPONSE6)));
    assert_false(odeon_stun_is_stun(REQUEST, 19));
    assert_false(odeon_stun_is_stun(NULL, 100));
    uint8_t rtp[20] = {0x80, 0x60, 0x00, 0x01};
    assert_false(odeon_stun_is_stun(rtp, sizeof(rtp)));
    uint8_t bad[sizeof(REQUEST)];
    memcpy(bad, REQUEST, sizeof(bad));
    bad[7] ^= 1; /* cookie */
    assert_false(odeon_stun_is_stun(bad, sizeof(bad)));
    memcpy(bad, REQUEST, sizeof(bad));
    bad[3] = 0x57; /* length not a multiple of 4 */
    assert_false(odeon_stun_is_stun(bad, sizeof(bad)));
}

static void test_request_vector(void **state)
{
    (void)state;
    odeon_stun_msg m;
    assert_int_equal(odeon_stun_parse(REQUEST, sizeof(REQUEST), &m), 0);
    assert_int_equal(m.cls, ODEON_STUN_CLASS_REQUEST);
    assert_int_equal(m.method, ODEON_STUN_METHOD_BINDING);
    assert_int_equal(m.len, sizeof(REQUEST));
    assert_memory_equal(m.txid, TXID, 12);

    static const uint16_t order[] = {
        ODEON_STUN_ATTR_SOFTWARE, ODEON_STUN_ATTR_PRIORITY,          ODEON_STUN_ATTR_ICE_CONTROLLED,
        ODEON_STUN_ATTR_USERNAME, ODEON_STUN_ATTR_MESSAGE_INTEGRITY, ODEON_STUN_ATTR_FINGERPRINT};
    odeon_stun_iter it;
    odeon_stun_attr a;
    size_t n = 0;
    odeon_stun_iter_init(&it, &m);
    while (odeon_stun_iter_next(&it, &a)) {
        assert_true(n < 6);
        assert_int_equal(a.type, order[n++]);
    }
    assert_int_equal(n, 6);

    const uint8_t *name;
    size_t name_len;
    assert_int_equal(odeon_stun_find(&m, ODEON_STUN_ATTR_USERNAME, &a), 0);
    assert_int_equal(odeon_stun_attr_username(&a, &name, &name_len), 0);
    assert_int_equal(name_len, 9);
    assert_memory_equal(name, "evtj:h6vY", 9);
    odeon_stun_attr longer = a;
    longer.len = 512;
    assert_int_equal(odeon_stun_attr_username(&longer, &name, &name_len), 0);
    longer.len = 513;
    assert_int_equal(odeon_stun_attr_username(&longer, &name, &name_len), ODEON_EINVAL);

    uint32_t prio;
    assert_int_equal(odeon_stun_find(&m, ODEON_STUN_ATTR_PRIORITY, &a), 0);
    assert_int_equal(odeon_stun_attr_priority(&a, &prio), 0);
    assert_int_equal(prio, 0x6e0001ffu);

    uint64_t tie;
    assert_int_equal(odeon_stun_find(&m, ODEON_STUN_ATTR_ICE_CONTROLLED, &a), 0);
    assert_int_equal(odeon_stun_attr_tie_breaker(&a, &tie), 0);
    assert_true(tie == 0x932ff9b151263b36ull);
    assert_int_equal(odeon_stun_attr_priority(&a, &prio), ODEON_EINVAL); /* wrong size */

    assert_false(odeon_stun_has(&m, ODEON_STUN_ATTR_USE_CANDIDATE));
    assert_false(odeon_stun_has(&m, ODEON_STUN_ATTR_ICE_CONTROLLING));
    assert_int_equal(check_mi(&m, PASSWORD), 0);
    assert_int_equal(odeon_stun_check_fingerprint(&m), 0);
    assert_int_equal(check_mi(&m, "VOkJxbRl1RmTxUk/WvJxBT"), ODEON_EPERM);
    assert_int_equal(check_mi(&m, ""), ODEON_EPERM);
}

static void test_ipv4_response_vector(void **state)
{
    (void)state;
    odeon_stun_msg m;
    odeon_stun_attr a;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    assert_int_equal(odeon_stun_parse(RESPONSE4, sizeof(RESPONSE4), &m), 0);
    assert_int_equal(m.cls, ODEON_STUN_CLASS_SUCCESS);
    assert_int_equal(m.method, ODEON_STUN_METHOD_BINDING);
    assert_int_equal(odeon_stun_find(&m, ODEON_STUN_ATTR_SOFTWARE, &a), 0);
    assert_int_equal(a.len, 11);
    assert_int_equal(odeon_stun_find(&m, ODEON_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), 0);
    assert_int_equal(odeon_stun_attr_xor_address(&m, &a, &ss, &sl), 0);
    assert_int_equal(sl, sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 32853);
    char text[INET6_ADDRSTRLEN];
    assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)));
    assert_string_equal(text, "192.0.2.1");
    assert_int_equal(check_mi(&m, PASSWORD), 0);
    assert_int_equal(odeon_stun_check_fingerprint(&m), 0);
}

static void test_ipv6_response_vector(void **state)
{
    (void)state;
    odeon_stun_msg m;
    odeon_stun_attr a;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    assert_int_equal(odeon_stun_parse(RESPONSE6, sizeof(RESPONSE6), &m), 0);
    assert_int_equal(odeon_stun_find(&m, ODEON_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), 0);
    assert_int_equal(odeon_stun_attr_xor_address(&m, &a, &ss, &sl), 0);
    assert_int_equal(sl, sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 32853);
    char text[INET6_ADDRSTRLEN];
    assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text)));
    assert_string_equal(text, "2001:db8:1234:5678:11:2233:4455:6677");
    assert_int_equal(check_mi(&m, PASSWORD), 0);
    assert_int_equal(odeon_stun_check_fingerprint(&m), 0);
    /* The IPv6 value read as if it were IPv4 (wrong length for the family) is rejected. */
    odeon_stun_attr wrong = a;
    wrong.len = 8;
    assert_int_equal(odeon_stun_attr_xor_address(&m, &wrong, &ss, NULL), ODEON_EINVAL);
}

/* Flipping any bit of any byte must make parsing fail or one of the two checks fail. */
static void tamper_all(const uint8_t *vec, size_t len)
{
    uint8_t copy[256];
    assert_true(len <= sizeof(copy));
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, vec, len);
            copy[i] ^= (uint8_t)(1u << bit);
            odeon_stun_msg m;
            if (odeon_stun_parse(copy, len, &m) != 0)
                continue;
            bool mi_ok = check_mi(&m, PASSWORD) == 0;
            bool fp_ok = odeon_stun_check_fingerprint(&m) == 0;
            if (mi_ok && fp_ok)
                fail_msg("byte %zu bit %d flipped and both checks pass", i, bit);
        }
    }
}

static void test_tampered(void **state)
{
    (void)state;
    tamper_all(REQUEST, sizeof(REQUEST));
    tamper_all(RESPONSE4, sizeof(RESPONSE4));
    tamper_all(RESPONSE6, sizeof(RESPONSE6));
    /* A change in the body with FINGERPRINT recomputed still fails MESSAGE-INTEGRITY. */
    uint8_t copy[sizeof(REQUEST)];
    memcpy(copy, REQUEST, sizeof(copy));
    copy[44] = 0x7e; /* PRIORITY */
    uint32_t crc = odeon_stun_crc32(copy, sizeof(copy) - 8) ^ ODEON_STUN_FINGERPRINT_XOR;
    copy[sizeof(copy) - 4] = (uint8_t)(crc >> 24);
    copy[sizeof(copy) - 3] = (uint8_t)(crc >> 16);
    copy[sizeof(copy) - 2] = (uint8_t)(crc >> 8);
    copy[sizeof(copy) - 1] = (uint8_t)crc;
    odeon_stun_msg m;
    assert_int_equal(odeon_stun_parse(copy, sizeof(copy), &m), 0);
    assert_int_equal(odeon_stun_check_fingerprint(&m), 0);
    assert_int_equal(check_mi(&m, PASSWORD), ODEON_EPERM);
}

static void test_truncated(void **state)
{
    (void)state;
    odeon_stun_msg m;
    for (size_t len = 0; len < sizeof(REQUEST); len++)
        assert_int_equal(odeon_stun_parse(REQUEST, len, &m), ODEON_EINVAL);
    /* Trailing bytes after the declared length are rejected too. */
    uint8_t longer[sizeof(REQUEST) + 4] = {0};
    memcpy(longer, REQUEST, sizeof(REQUEST));
    assert_int_equal(odeon_stun_parse(longer, sizeof(longer), &m), ODEON_EINVAL);
    assert_int_equal(odeon_stun_parse(NULL, 0, &m), ODEON_EINVAL);
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t buf[128];
    odeon_stun_msg m;
    uint8_t four[4] = {1, 2, 3, 4};
    uint8_t twenty[20] = {0};

    /* An attribute whose length runs past the end. */
    size_t n = header(buf, 0x0001, 8);
    n += attr(buf + n, ODEON_STUN_ATTR_PRIORITY, four, 4);
    buf[22] = 0, buf[23] = 8;
    assert_int_equal(odeon_stun_parse(buf, n, &m), ODEON_EINVAL);

    /* A dangling partial attribute header. */
    n = header(buf, 0x0001, 12);
    n += attr(buf + n, ODEON_STUN_ATTR_PRIORITY, four, 4);
    memset(buf + n, 0, 4);
    buf[n + 1] = 0x24, buf[n + 3] = 1; /* claims 1 byte + 3 padding, but only header fits */
    n += 4;
    assert_int_equal(odeon_stun_parse(buf, n, &m), ODEON_EINVAL);

    /* FINGERPRINT not last. */
    n = header(buf, 0x0001, 16);
    n += attr(buf + n, ODEON_STUN_ATTR_FINGERPRINT, four, 4);
    n += attr(buf + n, ODEON_STUN_ATTR_PRIORITY, four, 4);
    assert_int_equal(odeon_stun_parse(buf, n, &m), ODEON_EINVAL);

    /* FINGERPRINT of the wrong size; MESSAGE-INTEGRITY of the wrong size. */
    n = header(buf, 0x0001, 12);
    n += attr(buf + n, ODEON_STUN_ATTR_FINGERPRINT, twenty, 8);
    assert_int_equal(odeon_stun_parse(buf, n, &m), ODEON_EINVAL);
    n = header(buf, 0x0001, 20);
    n += attr(buf + n, ODEON_STUN_ATTR_MESSAGE_INTEGRITY, twenty, 16);
    assert_int_equal(odeon_stun_parse(buf, n, &m), ODEON_EINVAL);

    /* Top bits set (looks like RTP) and an empty, valid message. */
    n = header(buf, 0x0001, 0);
    assert_int_equal(odeon_stun_parse(buf, n, &m), 0);
    assert_int_equal(odeon_stun_check_integrity(&m, four, 4), ODEON_ENOENT);
    assert_int_equal(odeon_stun_check_fingerprint(&m), ODEON_ENOENT);
    buf[0] |= 0x80;
    assert_int_equal(odeon_stun_parse(buf, n, &m), ODEON_EINVAL);
}

static void test_after_integrity_ignored(void **state)
{
    (void)state;
    /* USE-CANDIDATE appended after MESSAGE-INTEGRITY is not authenticated: find ignores it. */
    uint8_t buf[64];
    uint8_t mi[20] = {0};
    size_t n = header(buf, 0x0001, 28);
    n += attr(buf + n, ODEON_STUN_ATTR_MESSAGE_INTEGRITY, mi, 20);
    n += attr(buf + n, ODEON_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    odeon_stun_msg m;
    assert_int_equal(odeon_stun_parse(buf, n, &m), 0);
    assert_false(odeon_stun_has(&m, ODEON_STUN_ATTR_USE_CANDIDATE));
    odeon_stun_iter it;
    odeon_stun_attr a;
    odeon_stun_iter_init(&it, &m);
    assert_true(odeon_stun_iter_next(&it, &a));
    assert_true(odeon_stun_iter_next(&it, &a));
    assert_int_equal(a.type, ODEON_STUN_ATTR_USE_CANDIDATE);
    assert_int_equal(a.len, 0);
    assert_false(odeon_stun_iter_next(&it, &a));

    /* Before it, USE-CANDIDATE counts. */
    n = header(buf, 0x0001, 4);
    n += attr(buf + n, ODEON_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    assert_int_equal(odeon_stun_parse(buf, n, &m), 0);
    assert_true(odeon_stun_has(&m, ODEON_STUN_ATTR_USE_CANDIDATE));
}

static void test_error_code(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint8_t v[4 + 13] = {0, 0, 4, 87};
    memcpy(v + 4, "Role Conflict", 13);
    size_t n = header(buf, 0x0111, 24);
    n += attr(buf + n, ODEON_STUN_ATTR_ERROR_CODE, v, sizeof(v));
    odeon_stun_msg m;
    odeon_stun_attr a;
    assert_int_equal(odeon_stun_parse(buf, n, &m), 0);
    assert_int_equal(m.cls, ODEON_STUN_CLASS_ERROR);
    assert_int_equal(m.method, ODEON_STUN_METHOD_BINDING);
    assert_int_equal(odeon_stun_find(&m, ODEON_STUN_ATTR_ERROR_CODE, &a), 0);
    int code;
    const uint8_t *reason;
    size_t reason_len;
    assert_int_equal(odeon_stun_attr_error_code(&a, &code, &reason, &reason_len), 0);
    assert_int_equal(code, 487);
    assert_int_equal(reason_len, 13);
    assert_memory_equal(reason, "Role Conflict", 13);
    v[2] = 2; /* class 2 is not an error */
    attr(buf + 20, ODEON_STUN_ATTR_ERROR_CODE, v, sizeof(v));
    assert_int_equal(odeon_stun_attr_error_code(&a, &code, &reason, &reason_len), ODEON_EINVAL);
    v[2] = 4, v[3] = 100;
    attr(buf + 20, ODEON_STUN_ATTR_ERROR_CODE, v, sizeof(v));
    assert_int_equal(odeon_stun_attr_error_code(&a, &code, &reason, &reason_len), ODEON_EINVAL);
    a.len = 3;
    assert_int_equal(odeon_stun_attr_error_code(&a, &code, &reason, &reason_len), ODEON_EINVAL);
}

static void check_built(const uint8_t *out, size_t len, const struct sockaddr *want, bool keyed)
{
    odeon_stun_msg m;
    odeon_stun_attr a;
    struct sockaddr_storage ss;
    socklen_t sl;
    assert_true(odeon_stun_is_stun(out, len));
    assert_int_equal(odeon_stun_parse(out, len, &m), 0);
    assert_int_equal(m.cls, ODEON_STUN_CLASS_SUCCESS);
    assert_int_equal(m.method, ODEON_STUN_METHOD_BINDING);
    assert_int_equal(out[0], 0x01);
    assert_int_equal(out[1], 0x01);
    assert_memory_equal(m.txid, TXID, 12);
    assert_int_equal(odeon_stun_find(&m, ODEON_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), 0);
    assert_int_equal(odeon_stun_attr_xor_address(&m, &a, &ss, &sl), 0);
    assert_memory_equal(&ss, want, sl);
    assert_int_equal(odeon_stun_check_fingerprint(&m), 0);
    assert_int_equal(check_mi(&m, PASSWORD), keyed ? 0 : ODEON_ENOENT);
    if (keyed)
        assert_int_equal(check_mi(&m, "wrong"), ODEON_EPERM);
}

static void test_build_binding_success(void **state)
{
    (void)state;
    uint8_t out[128];
    size_t len = 0;
    const uint8_t *key = (const uint8_t *)PASSWORD;
    size_t key_len = strlen(PASSWORD);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(32853)};
    inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
    assert_int_equal(odeon_stun_build_binding_success(out, sizeof(out), TXID,
                                                      (struct sockaddr *)&sin, key, key_len, &len),
                     0);
    assert_int_equal(len, 20 + 12 + 24 + 8);
    check_built(out, len, (struct sockaddr *)&sin, true);
    /* Same XOR-MAPPED-ADDRESS bytes as RFC 5769 section 2.2. */
    assert_memory_equal(out + 20, RESPONSE4 + 36, 12);

    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(32853)};
    inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &sin6.sin6_addr);
    assert_int_equal(odeon_stun_build_binding_success(out, sizeof(out), TXID,
                                                      (struct sockaddr *)&sin6, key, key_len, &len),
                     0);
    assert_int_equal(len, 20 + 24 + 24 + 8);
    check_built(out, len, (struct sockaddr *)&sin6, true);
    assert_memory_equal(out + 20, RESPONSE6 + 36, 24);

    assert_int_equal(odeon_stun_build_binding_success(out, sizeof(out), TXID,
                                                      (struct sockaddr *)&sin, NULL, 0, &len),
                     0);
    assert_int_equal(len, 20 + 12 + 8);
    check_built(out, len, (struct sockaddr *)&sin, false);

    assert_int_equal(odeon_stun_build_binding_success(out, 63, TXID, (struct sockaddr *)&sin, key,
                                                      key_len, &len),
                     ODEON_ENOMEM);
    struct sockaddr bad = {.sa_family = AF_UNIX};
    assert_int_equal(
        odeon_stun_build_binding_success(out, sizeof(out), TXID, &bad, key, key_len, &len),
        ODEON_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_is_stun),
        cmocka_unit_test(test_request_vector),
        cmocka_unit_test(test_ipv4_response_vector),
        cmocka_unit_test(test_ipv6_response_vector),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_after_integrity_ignored),
        cmocka_unit_test(test_error_code),
        cmocka_unit_test(test_build_binding_success),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
