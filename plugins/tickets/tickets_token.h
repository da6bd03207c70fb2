/*
 * tickets_token.h - signed, expiring tokens (organiser sessions, participant credentials,
 * OAuth state) and the random secrets of links (magic links, invitations).
 *
 * A token is "odt1.<payload>.<mac>": payload the base64url of a JSON object of claims that
 * always has "typ" and "exp" (unix seconds), mac the base64url of HMAC-SHA256(key, "odt1." +
 * payload). Nothing in a token is secret, but nothing in it can be changed. Pure, fuzzed.
 *
 * Link secrets are 32 random bytes (base64url); the database keeps only their SHA-256, so a
 * leaked table signs nobody in.
 */
#ifndef ODEON_TICKETS_TOKEN_H
#define ODEON_TICKETS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define TICKETS_TOKEN_MAX 2048

/* claims must hold "typ" and "exp". A new string (g_free), or NULL. */
char *tickets_token_sign(const uint8_t *key, size_t key_len, json_t *claims);
/* The claims (new reference) of a well-formed token with a good MAC, the given typ (NULL:
 * any) and exp > now; otherwise NULL and *reason (static). */
json_t *tickets_token_verify(const uint8_t *key, size_t key_len, const char *token,
                             const char *typ, int64_t now, const char **reason);

/* 32 random bytes as base64url (43 characters; g_free). NULL if the RNG fails. */
char *tickets_link_secret(void);
/* "\\x" + hex of SHA-256(secret): the bytea text PostgreSQL takes as a parameter. g_free. */
char *tickets_link_hash(const char *secret);

/* base64url without padding (g_free); and back (NULL when malformed; *len set). */
char *tickets_b64url_encode(const uint8_t *data, size_t len);
uint8_t *tickets_b64url_decode(const char *text, size_t text_len, size_t *len);

#endif
