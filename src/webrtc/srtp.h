/*
 * srtp.h - SRTP/SRTCP for one peer connection: a thin wrapper around libsrtp2 holding the two
 * contexts a peer needs, one outbound (protect) and one inbound (unprotect).
 *
 * The keys come from the DTLS handshake (dtls/ exports them with SSL_export_keying_material,
 * label "EXTRACTOR-dtls_srtp"); the layout is client_key | server_key | client_salt |
 * server_salt (RFC 5764 §4.2) and the DTLS role, not offer/answer, decides which half is ours.
 * Both contexts use wildcard SSRCs (any outbound / any inbound), so a session serves every
 * SSRC of the peer connection; libsrtp clones a stream per new SSRC on its first packet.
 *
 * Threads: an odeon_srtp has no lock. It belongs to the media loop thread of its peer
 * connection and only that thread may protect or unprotect with it (libsrtp mutates replay and
 * rollover state on every call). odeon_srtp_global_init may be called from any thread.
 * Protect and unprotect work in place and do not allocate, except that libsrtp allocates a
 * stream the first time it sees a new SSRC.
 *
 * Errors: 0 or a negative ODEON_E* code from src/plugin/plugin.h, mapped from libsrtp:
 *   ODEON_EPERM   the packet failed authentication (tampered, wrong keys)
 *   ODEON_EEXIST  replayed, or older than the replay window (routine with retransmissions:
 *                 drop the packet, do not log it as an error)
 *   ODEON_EINVAL  malformed packet or bad argument (too short, misaligned buffer...)
 *   ODEON_ENOMEM  the buffer lacks ODEON_SRTP_*_TAIL_ROOM spare bytes, or allocation failed
 *   ODEON_EIO     any other libsrtp failure
 * odeon_srtp_error_name gives a short reason for any of them. Tests: tests/unit/test_srtp.c.
 */
#ifndef ODEON_WEBRTC_SRTP_H
#define ODEON_WEBRTC_SRTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protection profiles; the values are the DTLS use_srtp ids (RFC 5764 §4.1.2, RFC 7714 §14.2). */
typedef enum {
    ODEON_SRTP_PROFILE_NONE = 0,
    ODEON_SRTP_AES128_CM_SHA1_80 = 0x0001,
    ODEON_SRTP_AEAD_AES_128_GCM = 0x0007,
} odeon_srtp_profile;

/* Master key and salt lengths per profile, and the DTLS-exported material length (2 * (K + S)). */
#define ODEON_SRTP_AES128_CM_KEY_LEN 16
#define ODEON_SRTP_AES128_CM_SALT_LEN 14
#define ODEON_SRTP_AES128_CM_MATERIAL_LEN 60
#define ODEON_SRTP_AEAD_AES_128_GCM_KEY_LEN 16
#define ODEON_SRTP_AEAD_AES_128_GCM_SALT_LEN 12
#define ODEON_SRTP_AEAD_AES_128_GCM_MATERIAL_LEN 56

/* Spare bytes protect requires after the packet, whatever the profile: libsrtp may write up to
 * SRTP_MAX_TRAILER_LEN (144) past an RTP packet and 4 more past an RTCP one. The packet really
 * grows by odeon_srtp_rtp_overhead / odeon_srtp_rtcp_overhead bytes. */
#define ODEON_SRTP_RTP_TAIL_ROOM 144
#define ODEON_SRTP_RTCP_TAIL_ROOM 148

/* Replay window of the inbound RTP streams, in packets (libsrtp's default is 128; SRTCP's
 * window is fixed at 128 by libsrtp). */
#define ODEON_SRTP_REPLAY_WINDOW 1024

typedef struct odeon_srtp odeon_srtp;

/* Calls srtp_init once per process (later calls return the first result). Thread-safe.
 * Returns 0 or ODEON_EIO. odeon_srtp_new calls it, so callers need not. */
int odeon_srtp_global_init(void);

/* "SRTP_AES128_CM_SHA1_80" or "SRTP_AEAD_AES_128_GCM" (OpenSSL's names, as in
 * SSL_get_selected_srtp_profile(ssl)->name), or the RFC names dtls.h reports
 * ("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"), to a profile; anything else, or NULL, gives
 * ODEON_SRTP_PROFILE_NONE. */
odeon_srtp_profile odeon_srtp_profile_from_openssl_name(const char *name);

/* Per-profile lengths; 0 for an unknown profile. */
size_t odeon_srtp_key_len(odeon_srtp_profile profile);
size_t odeon_srtp_salt_len(odeon_srtp_profile profile);
size_t odeon_srtp_material_len(odeon_srtp_profile profile);
/* Bytes protect adds to an RTP / RTCP packet (10/14 for CM_SHA1_80, 16/20 for GCM). */
size_t odeon_srtp_rtp_overhead(odeon_srtp_profile profile);
size_t odeon_srtp_rtcp_overhead(odeon_srtp_profile profile);

/* Creates the outbound and inbound contexts from `len` bytes of exported keying material
 * (borrowed; must be exactly odeon_srtp_material_len(profile) bytes). is_dtls_client says
 * whether we were the DTLS client: the client protects with the client key and salt and
 * unprotects with the server ones, the server the reverse. Returns a new session (free with
 * odeon_srtp_free), or NULL with *error (if error is not NULL) set to a message the caller
 * frees with g_free. No copy of the keys is left on the stack. */
odeon_srtp *odeon_srtp_new(odeon_srtp_profile profile, const uint8_t *material, size_t len,
                           bool is_dtls_client, char **error);
/* Deallocates both libsrtp contexts. NULL is a no-op. */
void odeon_srtp_free(odeon_srtp *s);

odeon_srtp_profile odeon_srtp_get_profile(const odeon_srtp *s);

/* Protects the RTP (or RTCP) packet of *len bytes in buf in place and sets *len to the
 * protected length. buf must be 4-byte aligned and capacity >= *len + ODEON_SRTP_RTP_TAIL_ROOM
 * (RTCP: ODEON_SRTP_RTCP_TAIL_ROOM), else ODEON_ENOMEM and the buffer is untouched.
 * Protecting the same SSRC and sequence number again is allowed (NACK resends) but the payload
 * must be the same: a different payload under the same index reuses keystream. */
int odeon_srtp_protect_rtp(odeon_srtp *s, uint8_t *buf, size_t *len, size_t capacity);
int odeon_srtp_protect_rtcp(odeon_srtp *s, uint8_t *buf, size_t *len, size_t capacity);

/* Verifies and decrypts the SRTP (or SRTCP) packet of *len bytes in buf in place and sets *len
 * to the plain length. buf must be 4-byte aligned. On failure the buffer's contents are
 * undefined (libsrtp may have decrypted part of it): drop the packet, never retry it. */
int odeon_srtp_unprotect_rtp(odeon_srtp *s, uint8_t *buf, size_t *len);
int odeon_srtp_unprotect_rtcp(odeon_srtp *s, uint8_t *buf, size_t *len);

/* A short static reason for a code returned by this module ("authentication failed", ...). */
const char *odeon_srtp_error_name(int code);

#endif /* ODEON_WEBRTC_SRTP_H */
