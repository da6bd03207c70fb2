/*
 * test_node_auth.c - signatures of node-to-node requests and link key derivation: what a
 * receiver accepts, everything it refuses (wrong secret, changed method, path or body, an old
 * or future timestamp, a malformed header), and keys that agree only with the same secret and
 * label.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib.h>

#include "cluster/node_auth.h"

#define SECRET "a-shared-secret-of-enough-length"
#define NOW 1800000000

static char *sign(const char *secret, const char *node, const char *method, const char *path,
                  const char *body, int64_t ts)
{
    char *h = odeon_node_auth_sign(secret, node, method, path, body, body ? strlen(body) : 0, ts);
    assert_non_null(h);
    return h;
}

static int verify(const char *header, const char *method, const char *path, const char *body,
                  char **node, const char **reason)
{
    return odeon_node_auth_verify(SECRET, header, method, path, body, body ? strlen(body) : 0, NOW,
                                  node, reason);
}

static void test_valid_signature_names_the_node(void **state)
{
    (void)state;
    char *h = sign(SECRET, "relay-1", "POST", "/odeon/relay/1", "{\"a\":1}", NOW);
    assert_true(g_str_has_prefix(h, "OdeonNode id=relay-1, ts=1800000000, sig="));
    char *node = NULL;
    const char *reason = NULL;
    assert_int_equal(verify(h, "POST", "/odeon/relay/1", "{\"a\":1}", &node, &reason), 0);
    assert_string_equal(node, "relay-1");
    g_free(node);
    g_free(h);
}

static void test_any_change_is_refused(void **state)
{
    (void)state;
    char *h = sign(SECRET, "relay-1", "POST", "/odeon/relay/1", "body", NOW);
    char *other =
        sign("another-secret-entirely-different", "relay-1", "POST", "/odeon/relay/1", "body", NOW);
    char *node = NULL;
    const char *reason = NULL;
    assert_int_equal(verify(h, "DELETE", "/odeon/relay/1", "body", &node, &reason), -1);
    assert_string_equal(reason,
                        "bad node signature (is the shared secret the same on both nodes?)");
    assert_int_equal(verify(h, "POST", "/odeon/relay/2", "body", &node, &reason), -1);
    assert_int_equal(verify(h, "POST", "/odeon/relay/1", "bodY", &node, &reason), -1);
    assert_int_equal(verify(other, "POST", "/odeon/relay/1", "body", &node, &reason), -1);
    assert_null(node);
    /* Another node's name on the same signature. */
    char *forged = g_strdup(h);
    memcpy(strstr(forged, "relay-1"), "relay-2", 7);
    assert_int_equal(verify(forged, "POST", "/odeon/relay/1", "body", &node, &reason), -1);
    g_free(forged);
    g_free(other);
    g_free(h);
}

static void test_timestamp_window(void **state)
{
    (void)state;
    char *node = NULL;
    const char *reason = NULL;
    char *old = sign(SECRET, "r", "POST", "/p", NULL, NOW - ODEON_NODE_AUTH_SKEW_S - 1);
    char *future = sign(SECRET, "r", "POST", "/p", NULL, NOW + ODEON_NODE_AUTH_SKEW_S + 1);
    char *edge = sign(SECRET, "r", "POST", "/p", NULL, NOW - ODEON_NODE_AUTH_SKEW_S);
    assert_int_equal(verify(old, "POST", "/p", NULL, &node, &reason), -1);
    assert_non_null(strstr(reason, "expired"));
    assert_int_equal(verify(future, "POST", "/p", NULL, &node, &reason), -1);
    assert_int_equal(verify(edge, "POST", "/p", NULL, &node, &reason), 0);
    g_free(node);
    g_free(old);
    g_free(future);
    g_free(edge);
}

static void test_malformed_headers(void **state)
{
    (void)state;
    const char *bad[] = {NULL,
                         "",
                         "Bearer x",
                         "OdeonNode ",
                         "OdeonNode id=r, ts=1, sig=00",
                         "OdeonNode id=r, ts=x, sig="
                         "0000000000000000000000000000000000000000000000000000000000000000",
                         "OdeonNode id=bad id, ts=1800000000, sig="
                         "0000000000000000000000000000000000000000000000000000000000000000",
                         "OdeonNode ts=1800000000, sig="
                         "0000000000000000000000000000000000000000000000000000000000000000"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *node = NULL;
        const char *reason = NULL;
        assert_int_equal(verify(bad[i], "POST", "/p", NULL, &node, &reason), -1);
        assert_non_null(reason);
        assert_null(node);
    }
    /* Without a secret of its own a node refuses everything. */
    char *h = sign(SECRET, "r", "POST", "/p", NULL, NOW);
    char *node = NULL;
    const char *reason = NULL;
    assert_int_equal(odeon_node_auth_verify(NULL, h, "POST", "/p", NULL, 0, NOW, &node, &reason),
                     -1);
    g_free(h);
    assert_null(odeon_node_auth_sign(SECRET, "bad id", "POST", "/p", NULL, 0, NOW));
}

static void test_derived_keys(void **state)
{
    (void)state;
    uint8_t a[30], b[30], c[30], d[30];
    assert_int_equal(odeon_node_derive_key(SECRET, "link-1", a, sizeof a), 0);
    assert_int_equal(odeon_node_derive_key(SECRET, "link-1", b, sizeof b), 0);
    assert_int_equal(odeon_node_derive_key(SECRET, "link-2", c, sizeof c), 0);
    assert_int_equal(
        odeon_node_derive_key("another-secret-entirely-different", "link-1", d, sizeof d), 0);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    assert_memory_not_equal(a, d, sizeof a);
    assert_int_equal(odeon_node_derive_key(SECRET, "x", a, 33), -1);
    assert_int_equal(odeon_node_derive_key(NULL, "x", a, 16), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_signature_names_the_node),
        cmocka_unit_test(test_any_change_is_refused),
        cmocka_unit_test(test_timestamp_window),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_derived_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
