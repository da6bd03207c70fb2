/*
 * tickets_password.h - organiser passwords as scrypt hashes (memory-hard, through OpenSSL).
 *
 * Stored form: "scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>", so the cost can rise
 * later without invalidating old hashes. Hashing takes ~100 ms of CPU and 32 MiB: call these
 * on a worker thread only.
 */
#ifndef ODEON_TICKETS_PASSWORD_H
#define ODEON_TICKETS_PASSWORD_H

#include <stdbool.h>

/* g_free the result; NULL if OpenSSL fails. */
char *tickets_password_hash(const char *password);
/* Constant-time comparison; false for a malformed stored value. stored NULL: does the same
 * work against a fixed hash and returns false (an unknown email takes as long as a known). */
bool tickets_password_verify(const char *password, const char *stored);

#endif
