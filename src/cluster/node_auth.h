/*
 * node_auth.h - authenticating requests between nodes, and key material for relay links, from
 * the secret every node of a cluster shares ([cluster] secret).
 *
 * A node-to-node request carries
 *     Authorization: OdeonNode id=<node id>, ts=<unix seconds>, sig=<64 hex digits>
 * where sig is HMAC-SHA256(secret, method LF path LF ts LF node id LF hex SHA-256 of the body).
 * The receiver recomputes it (constant-time comparison) and refuses a timestamp more than
 * ODEON_NODE_AUTH_SKEW_S away from its own clock. The secret itself never crosses the wire,
 * and neither do the relay links' SRTP keys: both ends derive them with odeon_node_derive_key
 * from the secret and the link's public parameters.
 *
 * Pure functions: no state, no I/O; the clock is a parameter.
 */
#ifndef ODEON_CLUSTER_NODE_AUTH_H
#define ODEON_CLUSTER_NODE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define ODEON_NODE_AUTH_SKEW_S 60

/* The Authorization header value (g_free it), or NULL when an argument is missing. */
char *odeon_node_auth_sign(const char *secret, const char *node_id, const char *method,
                           const char *path, const void *body, size_t len, int64_t now_s);

/* 0 and *node_id (g_free it) when header is a valid signature of this request; otherwise -1
 * and *reason, a static message safe to show the caller ("missing node authorization",
 * "bad node signature", "node authorization expired", ...). */
int odeon_node_auth_verify(const char *secret, const char *header, const char *method,
                           const char *path, const void *body, size_t len, int64_t now_s,
                           char **node_id, const char **reason);

/* len (1..32) bytes of HMAC-SHA256(secret, "odeon-key" LF label). 0, or -1 on bad arguments. */
int odeon_node_derive_key(const char *secret, const char *label, uint8_t *out, size_t len);

#endif
