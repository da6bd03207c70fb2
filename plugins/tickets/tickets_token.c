/*
 * tickets_token.c - HMAC-signed tokens and hashed link secrets.
 */
#include "tickets_token.h"

#include <stdbool.h>
#include <string.h>

#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define PREFIX "odt1."

char *tickets_b64url_encode(const uint8_t *data, size_t len)
{
    gchar *b64 = g_base64_encode(data, len);
    size_t n = strlen(b64);
    while (n > 0 && b64[n - 1] == '=')
        b64[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    return b64;
}

uint8_t *tickets_b64url_decode(const char *text, size_t text_len, size_t *len)
{
    if (text_len % 4 == 1)
        return NULL;
    char *std = g_malloc(text_len + 3);
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];
        if (!g_ascii_isalnum(c) && c != '-' && c != '_') {
            g_free(std);
            return NULL;
        }
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    size_t n = text_len;
    while (n % 4 != 0)
        std[n++] = '=';
    std[n] = '\0';
    gsize out_len = 0;
    guchar *out = g_base64_decode(std, &out_len);
    g_free(std);
    *len = out_len;
    return out;
}

static void token_mac(const uint8_t *key, size_t key_len, const char *data, size_t len,
                      uint8_t mac[32])
{
    unsigned int mac_len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data, len, mac, &mac_len);
}

char *tickets_token_sign(const uint8_t *key, size_t key_len, json_t *claims)
{
    if (!json_is_string(json_object_get(claims, "typ")) ||
        !json_is_integer(json_object_get(claims, "exp")))
        return NULL;
    char *json = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    if (json == NULL)
        return NULL;
    char *payload = tickets_b64url_encode((const uint8_t *)json, strlen(json));
    free(json);
    char *signed_part = g_strconcat(PREFIX, payload, NULL);
    uint8_t mac[32];
    token_mac(key, key_len, signed_part, strlen(signed_part), mac);
    char *mac_text = tickets_b64url_encode(mac, sizeof mac);
    char *token = g_strconcat(signed_part, ".", mac_text, NULL);
    g_free(payload);
    g_free(signed_part);
    g_free(mac_text);
    return token;
}

static json_t *token_claims(const char *payload, size_t len)
{
    size_t json_len = 0;
    uint8_t *json = tickets_b64url_decode(payload, len, &json_len);
    if (json == NULL)
        return NULL;
    json_t *claims = json_loadb((const char *)json, json_len, JSON_REJECT_DUPLICATES, NULL);
    g_free(json);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return NULL;
    }
    return claims;
}

json_t *tickets_token_verify(const uint8_t *key, size_t key_len, const char *token,
                             const char *typ, int64_t now, const char **reason)
{
    *reason = "malformed token";
    if (token == NULL || strncmp(token, PREFIX, strlen(PREFIX)) != 0)
        return NULL;
    size_t total = strnlen(token, TICKETS_TOKEN_MAX + 1);
    if (total > TICKETS_TOKEN_MAX)
        return NULL;
    const char *dot = strrchr(token, '.');
    const char *payload = token + strlen(PREFIX);
    if (dot == NULL || dot <= payload)
        return NULL;
    size_t mac_len = 0;
    uint8_t *mac = tickets_b64url_decode(dot + 1, strlen(dot + 1), &mac_len);
    uint8_t expected[32];
    token_mac(key, key_len, token, (size_t)(dot - token), expected);
    bool good = mac != NULL && mac_len == sizeof expected &&
                CRYPTO_memcmp(mac, expected, sizeof expected) == 0;
    g_free(mac);
    if (!good) {
        *reason = "bad signature";
        return NULL;
    }
    json_t *claims = token_claims(payload, (size_t)(dot - payload));
    if (claims == NULL)
        return NULL;
    const char *got_typ = json_string_value(json_object_get(claims, "typ"));
    json_t *exp = json_object_get(claims, "exp");
    if (got_typ == NULL || !json_is_integer(exp) || (typ != NULL && strcmp(typ, got_typ) != 0)) {
        *reason = "wrong kind of token";
        json_decref(claims);
        return NULL;
    }
    if (json_integer_value(exp) <= now) {
        *reason = "expired";
        json_decref(claims);
        return NULL;
    }
    *reason = NULL;
    return claims;
}

char *tickets_link_secret(void)
{
    uint8_t raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return NULL;
    char *text = tickets_b64url_encode(raw, sizeof raw);
    OPENSSL_cleanse(raw, sizeof raw);
    return text;
}

char *tickets_link_hash(const char *secret)
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)secret, strlen(secret), digest);
    GString *hex = g_string_new("\\x");
    for (size_t i = 0; i < sizeof digest; i++)
        g_string_append_printf(hex, "%02x", digest[i]);
    return g_string_free(hex, FALSE);
}
