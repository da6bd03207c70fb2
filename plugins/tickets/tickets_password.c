/*
 * tickets_password.c - scrypt hashing with EVP_PBE_scrypt.
 *
 * N = 2^15, r = 8, p = 1: 32 MiB and about 100 ms per hash on this class of machine, the
 * interactive-login parameters that RFC 7914's authors and OWASP recommend.
 */
#include "tickets_password.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tickets_token.h"

#define LOG_N 15
#define BLOCK_R 8
#define PARALLEL_P 1
#define SALT_LEN 16
#define HASH_LEN 32
#define MAX_MEM (64u * 1024 * 1024)

static bool scrypt(const char *password, const uint8_t *salt, size_t salt_len, unsigned log_n,
                   unsigned r, unsigned p, uint8_t *out, size_t out_len)
{
    return EVP_PBE_scrypt(password, strlen(password), salt, salt_len, (uint64_t)1 << log_n, r,
                          p, MAX_MEM, out, out_len) == 1;
}

char *tickets_password_hash(const char *password)
{
    uint8_t salt[SALT_LEN], hash[HASH_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1 ||
        !scrypt(password, salt, sizeof salt, LOG_N, BLOCK_R, PARALLEL_P, hash, sizeof hash))
        return NULL;
    char *salt_text = tickets_b64url_encode(salt, sizeof salt);
    char *hash_text = tickets_b64url_encode(hash, sizeof hash);
    char *stored = g_strdup_printf("scrypt$%d$%d$%d$%s$%s", LOG_N, BLOCK_R, PARALLEL_P,
                                   salt_text, hash_text);
    g_free(salt_text);
    g_free(hash_text);
    OPENSSL_cleanse(hash, sizeof hash);
    return stored;
}

/* A well-formed stored hash of "x" that unknown accounts are checked against. */
static const char *decoy = "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA$"
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

bool tickets_password_verify(const char *password, const char *stored)
{
    bool known = stored != NULL;
    char **parts = g_strsplit(known ? stored : decoy, "$", 0);
    bool ok = false;
    if (g_strv_length(parts) == 6 && strcmp(parts[0], "scrypt") == 0) {
        unsigned log_n = (unsigned)strtoul(parts[1], NULL, 10);
        unsigned r = (unsigned)strtoul(parts[2], NULL, 10);
        unsigned p = (unsigned)strtoul(parts[3], NULL, 10);
        size_t salt_len = 0, hash_len = 0;
        uint8_t *salt = tickets_b64url_decode(parts[4], strlen(parts[4]), &salt_len);
        uint8_t *hash = tickets_b64url_decode(parts[5], strlen(parts[5]), &hash_len);
        uint8_t got[HASH_LEN];
        if (salt && hash && hash_len == HASH_LEN && log_n >= 10 && log_n <= 20 && r >= 1 &&
            r <= 32 && p >= 1 && p <= 4 &&
            scrypt(password, salt, salt_len, log_n, r, p, got, sizeof got))
            ok = CRYPTO_memcmp(got, hash, HASH_LEN) == 0;
        g_free(salt);
        g_free(hash);
    }
    g_strfreev(parts);
    return ok && known;
}
