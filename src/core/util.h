/*
 * util.h - small helpers shared by the core: secure random ids, constant-time compare,
 * number parsing.
 */
#ifndef ODEON_CORE_UTIL_H
#define ODEON_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A uniformly random id in [1, 2^53 - 1] from the OS CSPRNG. Ids stay below 2^53 so that
 * JavaScript clients (janus.js parses them as Numbers) keep every digit; never 0. */
uint64_t odeon_random_id(void);

/* Fill buf with cryptographically secure random bytes; aborts if the OS cannot provide them. */
void odeon_random_bytes(void *buf, size_t len);

/* Compare two secrets without leaking where they differ; NULL equals nothing. */
bool odeon_secret_equal(const char *a, const char *b);

/* Parse a decimal unsigned integer in [min, max], whole string. Returns 0 or ODEON_EINVAL. */
int odeon_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* Largest id JSON clients can round-trip. */
#define ODEON_MAX_ID ((UINT64_C(1) << 53) - 1)

#endif
