/*
 * dtls.h - DTLS-SRTP associations (RFC 5764, RFC 5763, RFC 8827) on OpenSSL 3.0.
 *
 * Two objects. An odeon_dtls_identity is the server's certificate and key (ECDSA P-256,
 * generated at start or loaded from PEM) together with the one SSL_CTX built on them; it is
 * refcounted and immutable once made, so any thread may share it. An odeon_dtls_endpoint is one
 * DTLS association of one peer connection: it never touches a socket. Received datagrams are
 * handed to odeon_dtls_endpoint_feed; every record OpenSSL emits is passed to the caller's
 * send_fn as its own datagram. The caller's loop drives retransmission with
 * odeon_dtls_endpoint_timeout_us / odeon_dtls_endpoint_handle_timeout. Once CONNECTED the peer
 * certificate has matched the SDP fingerprint and the SRTP keying material is available.
 *
 * Threads: an endpoint belongs to the media loop thread of its peer connection; every call on
 * it, and every send_fn/data_fn callback it makes, happens on that thread. Callbacks are made
 * synchronously from inside start/feed/handle_timeout/close/send_data and must not call back
 * into the same endpoint.
 *
 * Clock: the overall handshake deadline uses an injectable monotonic clock (microseconds).
 * OpenSSL's own retransmission timer runs on the real clock; its first interval can be set
 * with odeon_dtls_endpoint_set_initial_rto_us (OpenSSL's default: 1 s, doubling to 60 s).
 *
 * Neighbours: pc/ demuxes DTLS (first byte 20..63) from STUN and RTP and owns the endpoint;
 * srtp/ takes the exported keys. Tests in tests/unit/test_dtls.c.
 *
 * Errors: 0 or a negative ODEON_E* code from src/plugin/plugin.h; constructors return NULL and
 * set *error (a new string the caller g_free()s) when error is not NULL.
 */
#ifndef ODEON_WEBRTC_DTLS_H
#define ODEON_WEBRTC_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Link MTU we promise OpenSSL: handshake flights are fragmented to fit it. */
#define ODEON_DTLS_MTU 1200
/* Default overall handshake deadline, measured from start. */
#define ODEON_DTLS_DEFAULT_DEADLINE_US (20 * 1000 * 1000)
/* Longest fingerprint value we produce or accept: SHA-512, 64 bytes as "XX:" pairs. */
#define ODEON_DTLS_FINGERPRINT_MAX (64 * 3)
/* Largest exported keying material (AEAD_AES_256_GCM: 2 * (32 + 12)). */
#define ODEON_DTLS_SRTP_MATERIAL_MAX 88

/* ----- identity ------------------------------------------------------------------------------ */

typedef struct odeon_dtls_identity odeon_dtls_identity;

/* A new ECDSA P-256 key and self-signed certificate (CN "odeon", random serial, valid from now
 * minus one day to now plus 30 days, SHA-256 signature). Returns a new reference or NULL. */
odeon_dtls_identity *odeon_dtls_identity_generate(char **error);

/* Certificate and private key from PEM files (the key must match the certificate). Returns a
 * new reference or NULL. */
odeon_dtls_identity *odeon_dtls_identity_load(const char *cert_path, const char *key_path,
                                              char **error);

/* Takes a reference (returns id); _unref drops one and frees on the last. NULL is ignored. */
odeon_dtls_identity *odeon_dtls_identity_ref(odeon_dtls_identity *id);
void odeon_dtls_identity_unref(odeon_dtls_identity *id);

/* The SHA-256 fingerprint value for a=fingerprint:sha-256 <value>: upper-case hex pairs joined
 * by ':' (95 characters). Borrowed, valid while the identity lives. */
const char *odeon_dtls_identity_fingerprint(const odeon_dtls_identity *id);

/* ----- endpoint ------------------------------------------------------------------------------ */

typedef struct odeon_dtls_endpoint odeon_dtls_endpoint;

typedef enum {
    ODEON_DTLS_ROLE_CLIENT, /* a=setup:active: sends ClientHello */
    ODEON_DTLS_ROLE_SERVER, /* a=setup:passive */
} odeon_dtls_role;

typedef enum {
    ODEON_DTLS_STATE_NEW,
    ODEON_DTLS_STATE_CONNECTING,
    ODEON_DTLS_STATE_CONNECTED,
    ODEON_DTLS_STATE_FAILED, /* see odeon_dtls_endpoint_failure_reason */
    ODEON_DTLS_STATE_CLOSED, /* close_notify sent or received */
} odeon_dtls_state;

/* One outgoing datagram; data is borrowed for the duration of the call. */
typedef void (*odeon_dtls_send_fn)(void *user, const uint8_t *data, size_t len);
/* Application data received after the handshake (SCTP for data channels); borrowed. */
typedef void (*odeon_dtls_data_fn)(void *user, const uint8_t *data, size_t len);
/* Monotonic time in microseconds. */
typedef int64_t (*odeon_dtls_clock_fn)(void *user);

/* A new endpoint in state NEW. identity is borrowed (the endpoint takes its own reference);
 * remote_hash names the SDP fingerprint hash ("sha-256"; also sha-1/-224/-384/-512) and
 * remote_hex its value (hex pairs, ':'-separated, any case). send_fn is required; user is
 * passed back to it. Returns NULL (and *error) for a malformed fingerprint or OpenSSL failure. */
odeon_dtls_endpoint *odeon_dtls_endpoint_new(odeon_dtls_identity *identity, odeon_dtls_role role,
                                             const char *remote_hash, const char *remote_hex,
                                             odeon_dtls_send_fn send_fn, void *user, char **error);
/* Closes nothing (call _close first for a polite close_notify); NULL is ignored. */
void odeon_dtls_endpoint_free(odeon_dtls_endpoint *ep);

/* Options; call before start. clock NULL restores the default (g_get_monotonic_time). */
void odeon_dtls_endpoint_set_clock(odeon_dtls_endpoint *ep, odeon_dtls_clock_fn clock,
                                   void *clock_user);
void odeon_dtls_endpoint_set_deadline_us(odeon_dtls_endpoint *ep, int64_t deadline_us);
/* First retransmission interval (then doubling, capped at 60 s); 0 keeps OpenSSL's 1 s. */
void odeon_dtls_endpoint_set_initial_rto_us(odeon_dtls_endpoint *ep, unsigned initial_us);
void odeon_dtls_endpoint_set_data_cb(odeon_dtls_endpoint *ep, odeon_dtls_data_fn fn, void *user);

/* NEW -> CONNECTING and starts the deadline; a client sends its ClientHello through send_fn.
 * 0, or ODEON_EINVAL when not NEW. A server that is fed before start starts implicitly. */
int odeon_dtls_endpoint_start(odeon_dtls_endpoint *ep);

/* One received datagram (one or more records). Drives the handshake, then reads application
 * data and alerts. Garbage is dropped by OpenSSL. Returns 0 (check the state afterwards),
 * ODEON_EINVAL for an empty or huge datagram, ODEON_ENOTCONN when FAILED/CLOSED or a NEW
 * client. */
int odeon_dtls_endpoint_feed(odeon_dtls_endpoint *ep, const uint8_t *datagram, size_t len);

/* Microseconds until handle_timeout should be called (0: now), or -1 when no timer is needed
 * (not CONNECTING). The earlier of OpenSSL's retransmission timer and the handshake deadline. */
int64_t odeon_dtls_endpoint_timeout_us(odeon_dtls_endpoint *ep);

/* Retransmits the last flight if OpenSSL's timer expired; FAILED ("handshake timeout") past
 * the deadline or after too many retransmissions. Returns 0, or ODEON_ENOTCONN when
 * not CONNECTING. Calling it early is harmless. */
int odeon_dtls_endpoint_handle_timeout(odeon_dtls_endpoint *ep);

odeon_dtls_state odeon_dtls_endpoint_state(const odeon_dtls_endpoint *ep);
odeon_dtls_role odeon_dtls_endpoint_role(const odeon_dtls_endpoint *ep);
/* Why the endpoint FAILED ("fingerprint mismatch", "handshake timeout", "dtls: <openssl>"),
 * else NULL. Borrowed, valid until the next call on ep. */
const char *odeon_dtls_endpoint_failure_reason(const odeon_dtls_endpoint *ep);
const char *odeon_dtls_state_name(odeon_dtls_state state);

/* CONNECTED only: the negotiated SRTP profile ("AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80",
 * ...) and the exported material laid out client_key|server_key|client_salt|server_salt
 * (RFC 5764 4.2). Out-pointers borrow from ep. 0 or ODEON_ENOTCONN. Any out may be NULL. */
int odeon_dtls_endpoint_srtp(const odeon_dtls_endpoint *ep, const char **profile_name,
                             const uint8_t **material, size_t *len);

/* CONNECTED only: the material rearranged as libsrtp master keys (key followed by salt) for
 * this endpoint's role: local protects what we send, remote unprotects what we receive. Each
 * buffer needs cap >= *key_len (at most 44 bytes). 0, ODEON_ENOTCONN or ODEON_EINVAL. */
int odeon_dtls_endpoint_srtp_keys(const odeon_dtls_endpoint *ep, uint8_t *local, uint8_t *remote,
                                  size_t cap, size_t *key_len);

/* CONNECTED only: one application-data record. 0, ODEON_ENOTCONN, ODEON_EINVAL, ODEON_EIO. */
int odeon_dtls_endpoint_send_data(odeon_dtls_endpoint *ep, const uint8_t *data, size_t len);

/* Sends close_notify when CONNECTED; any state but FAILED becomes CLOSED. Returns 0. */
int odeon_dtls_endpoint_close(odeon_dtls_endpoint *ep);

#endif
