/*
 * util.c - random ids from OpenSSL's CSPRNG, constant-time secret comparison, strict number
 * parsing.
 */
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "plugin/plugin.h"

void odeon_random_bytes(void *buf, size_t len)
{
    /* A server that cannot get randomness must not hand out guessable ids. */
    if (RAND_bytes(buf, (int)len) != 1)
        abort();
}

uint64_t odeon_random_id(void)
{
    uint64_t id;
    do {
        odeon_random_bytes(&id, sizeof(id));
        id &= ODEON_MAX_ID;
    } while (id == 0);
    return id;
}

bool odeon_secret_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    /* Compare over the expected length so the time depends only on the secret's length. */
    unsigned char diff = (unsigned char)(la != lb);
    size_t n = la;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ (i < lb ? b[i] : 0));
    return diff == 0;
}

int odeon_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (text == NULL || *text < '0' || *text > '9')
        return ODEON_EINVAL;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return ODEON_EINVAL;
    *out = (uint64_t)v;
    return 0;
}
