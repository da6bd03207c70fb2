/*
 * node_auth.c - HMAC signatures of node-to-node requests and link key derivation (see
 * node_auth.h), on OpenSSL's one-shot HMAC and SHA-256.
 */
#include "cluster/node_auth.h"

#include <stdbool.h>
#include <string.h>

#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define SCHEME "OdeonNode "

static void hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static void signature(const char *secret, const char *node_id, const char *method, const char *path,
                      const void *body, size_t len, int64_t ts, char out[65])
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    char body_hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256(body ? body : (const void *)"", body ? len : 0, digest);
    hex(digest, sizeof digest, body_hex);
    char *text = g_strdup_printf("%s\n%s\n%" G_GINT64_FORMAT "\n%s\n%s", method, path, ts, node_id,
                                 body_hex);
    unsigned mac_len = 0;
    uint8_t mac[EVP_MAX_MD_SIZE];
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)text, strlen(text), mac,
         &mac_len);
    g_free(text);
    hex(mac, SHA256_DIGEST_LENGTH, out);
}

static bool id_ok(const char *id)
{
    if (id == NULL || *id == '\0' || strlen(id) > 128)
        return false;
    for (const char *p = id; *p; p++)
        if (!g_ascii_isalnum(*p) && strchr("-_.:", *p) == NULL)
            return false;
    return true;
}

char *odeon_node_auth_sign(const char *secret, const char *node_id, const char *method,
                           const char *path, const void *body, size_t len, int64_t now_s)
{
    if (secret == NULL || !id_ok(node_id) || method == NULL || path == NULL)
        return NULL;
    char sig[65];
    signature(secret, node_id, method, path, body, len, now_s, sig);
    return g_strdup_printf(SCHEME "id=%s, ts=%" G_GINT64_FORMAT ", sig=%s", node_id, now_s, sig);
}

/* The value of "name=" in a comma-separated parameter list (new string) or NULL. */
static char *param(const char *params, const char *name)
{
    char **parts = g_strsplit(params, ",", 8);
    char *value = NULL;
    size_t n = strlen(name);
    for (char **p = parts; *p && value == NULL; p++) {
        const char *s = g_strstrip(*p);
        if (strncmp(s, name, n) == 0 && s[n] == '=')
            value = g_strdup(s + n + 1);
    }
    g_strfreev(parts);
    return value;
}

int odeon_node_auth_verify(const char *secret, const char *header, const char *method,
                           const char *path, const void *body, size_t len, int64_t now_s,
                           char **node_id, const char **reason)
{
    *node_id = NULL;
    if (header == NULL || strncmp(header, SCHEME, strlen(SCHEME)) != 0) {
        *reason = "missing node authorization (OdeonNode)";
        return -1;
    }
    const char *params = header + strlen(SCHEME);
    char *id = param(params, "id"), *ts_text = param(params, "ts"), *sig = param(params, "sig");
    int rc = -1;
    char *end = NULL;
    gint64 ts = ts_text ? g_ascii_strtoll(ts_text, &end, 10) : 0;
    if (!id_ok(id) || ts_text == NULL || end == NULL || *end != '\0' || sig == NULL ||
        strlen(sig) != 64) {
        *reason = "malformed node authorization";
    } else if (secret == NULL) {
        *reason = "this node takes no node-to-node requests (no [cluster] secret)";
    } else if (ts < now_s - ODEON_NODE_AUTH_SKEW_S || ts > now_s + ODEON_NODE_AUTH_SKEW_S) {
        *reason = "node authorization expired (check the nodes' clocks)";
    } else {
        char expected[65];
        signature(secret, id, method, path, body, len, ts, expected);
        if (CRYPTO_memcmp(expected, sig, 64) == 0) {
            *node_id = id;
            id = NULL;
            rc = 0;
        } else {
            *reason = "bad node signature (is the shared secret the same on both nodes?)";
        }
    }
    g_free(id);
    g_free(ts_text);
    g_free(sig);
    return rc;
}

int odeon_node_derive_key(const char *secret, const char *label, uint8_t *out, size_t len)
{
    if (secret == NULL || label == NULL || len == 0 || len > SHA256_DIGEST_LENGTH)
        return -1;
    char *text = g_strdup_printf("odeon-key\n%s", label);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)text, strlen(text), mac,
         &mac_len);
    g_free(text);
    memcpy(out, mac, len);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}
