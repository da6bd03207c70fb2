/*
 * stun.h - reading and writing STUN messages (RFC 8489) and the ICE attributes (RFC 8445).
 *
 * libnice runs ICE itself; this module is the server's own view of STUN: demultiplexing a
 * datagram (odeon_stun_is_stun), diagnostics, a future ICE-lite fast path and fuzzing. It is a
 * pure parser over byte buffers: no glib, no allocation, no globals. A parsed message borrows
 * the caller's buffer. Integrity uses OpenSSL's one-shot HMAC(); the CRC-32 of FINGERPRINT is
 * our own. Neighbours: pc/ demux decides between STUN, DTLS and RTP with odeon_stun_is_stun;
 * tests in tests/unit/test_stun.c, fuzz target tests/fuzz/fuzz_stun.c.
 *
 * Errors: 0 or a negative ODEON_E* code from src/plugin/plugin.h.
 */
#ifndef ODEON_WEBRTC_STUN_H
#define ODEON_WEBRTC_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ODEON_STUN_HEADER_LEN 20
#define ODEON_STUN_MAGIC_COOKIE 0x2112A442u
#define ODEON_STUN_TXID_LEN 12
#define ODEON_STUN_FINGERPRINT_XOR 0x5354554eu
#define ODEON_STUN_HMAC_SHA1_LEN 20
/* Messages whose MESSAGE-INTEGRITY starts beyond this offset are not verified (ODEON_ENOTSUP):
 * the covered bytes are copied to the stack to patch the length field. ICE checks are far
 * smaller (RFC 8489 section 6.1 asks for < 576 bytes without path MTU knowledge). */
#define ODEON_STUN_MAX_INTEGRITY_OFFSET 2048

/* Classes (the C1 C0 bits of the message type). */
enum {
    ODEON_STUN_CLASS_REQUEST = 0,
    ODEON_STUN_CLASS_INDICATION = 1,
    ODEON_STUN_CLASS_SUCCESS = 2,
    ODEON_STUN_CLASS_ERROR = 3,
};

#define ODEON_STUN_METHOD_BINDING 0x001

/* Attribute types (RFC 8489 section 18.3, RFC 8445 section 16.1). */
enum {
    ODEON_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
    ODEON_STUN_ATTR_USERNAME = 0x0006,
    ODEON_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
    ODEON_STUN_ATTR_ERROR_CODE = 0x0009,
    ODEON_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
    ODEON_STUN_ATTR_REALM = 0x0014,
    ODEON_STUN_ATTR_NONCE = 0x0015,
    ODEON_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
    ODEON_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
    ODEON_STUN_ATTR_PRIORITY = 0x0024,
    ODEON_STUN_ATTR_USE_CANDIDATE = 0x0025,
    ODEON_STUN_ATTR_SOFTWARE = 0x8022,
    ODEON_STUN_ATTR_FINGERPRINT = 0x8028,
    ODEON_STUN_ATTR_ICE_CONTROLLED = 0x8029,
    ODEON_STUN_ATTR_ICE_CONTROLLING = 0x802A,
};

/* A parsed message: a view of the caller's buffer, valid while that buffer is. */
typedef struct odeon_stun_msg {
    const uint8_t *buf;
    size_t len;          /* 20 + the header's length field; equals the datagram length */
    uint16_t type;       /* raw 14-bit message type */
    uint16_t method;     /* 12-bit method, e.g. ODEON_STUN_METHOD_BINDING */
    uint8_t cls;         /* ODEON_STUN_CLASS_* */
    const uint8_t *txid; /* ODEON_STUN_TXID_LEN bytes inside buf */
    size_t mi_offset;    /* offset of the first MESSAGE-INTEGRITY attribute, 0 if none */
    size_t fp_offset;    /* offset of the FINGERPRINT attribute, 0 if none */
} odeon_stun_msg;

/* One attribute: value points into the message buffer; len excludes the padding. */
typedef struct odeon_stun_attr {
    uint16_t type;
    uint16_t len;
    const uint8_t *value;
    size_t offset; /* offset of the attribute's 4-byte header in the message */
} odeon_stun_attr;

typedef struct odeon_stun_iter {
    const odeon_stun_msg *msg;
    size_t pos;
} odeon_stun_iter;

/* Cheap demultiplexing test (RFC 7983 / RFC 8489 section 6): at least 20 bytes, the two top
 * bits zero, the magic cookie, a length that is a multiple of 4. Does not walk attributes. */
bool odeon_stun_is_stun(const uint8_t *buf, size_t len);

/* Parses and validates a whole message: header, exact length, every attribute's TLV framing
 * (4-byte padding), FINGERPRINT (if any) last with a 4-byte value, MESSAGE-INTEGRITY (if any)
 * 20 bytes. Fills *out (borrowing buf). ODEON_EINVAL on any malformed input. */
int odeon_stun_parse(const uint8_t *buf, size_t len, odeon_stun_msg *out);

/* Iterates every attribute of a parsed message in wire order, including any that follow
 * MESSAGE-INTEGRITY. next returns true and fills *attr, or false at the end. */
void odeon_stun_iter_init(odeon_stun_iter *it, const odeon_stun_msg *msg);
bool odeon_stun_iter_next(odeon_stun_iter *it, odeon_stun_attr *attr);

/* Finds the first attribute of a type. Attributes after MESSAGE-INTEGRITY other than
 * FINGERPRINT and MESSAGE-INTEGRITY-SHA256 are ignored, as RFC 8489 section 14.5 requires (they
 * are not authenticated). 0, or ODEON_ENOENT. */
int odeon_stun_find(const odeon_stun_msg *msg, uint16_t type, odeon_stun_attr *out);
bool odeon_stun_has(const odeon_stun_msg *msg, uint16_t type);

/* Typed readers: 0, or ODEON_EINVAL when the value has the wrong size or content. */
/* USERNAME: borrowed bytes (not NUL-terminated), fewer than 513. */
int odeon_stun_attr_username(const odeon_stun_attr *attr, const uint8_t **name, size_t *len);
/* XOR-MAPPED-ADDRESS (or any XOR-*-ADDRESS): fills a sockaddr_in or sockaddr_in6 (port and
 * address in network byte order as usual); *out_len gets its size if out_len is not NULL. */
int odeon_stun_attr_xor_address(const odeon_stun_msg *msg, const odeon_stun_attr *attr,
                                struct sockaddr_storage *out, socklen_t *out_len);
/* PRIORITY: a 32-bit value. */
int odeon_stun_attr_priority(const odeon_stun_attr *attr, uint32_t *priority);
/* ICE-CONTROLLED / ICE-CONTROLLING: the 64-bit tie-breaker. */
int odeon_stun_attr_tie_breaker(const odeon_stun_attr *attr, uint64_t *tie_breaker);
/* ERROR-CODE: code 300..699 and the borrowed reason phrase (may be empty). */
int odeon_stun_attr_error_code(const odeon_stun_attr *attr, int *code, const uint8_t **reason,
                               size_t *reason_len);

/* MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 section 14.5) with the key (for ICE, the short-term
 * password's bytes). Constant-time comparison. 0 on a match; ODEON_ENOENT without the
 * attribute; ODEON_EPERM on a mismatch; ODEON_ENOTSUP past ODEON_STUN_MAX_INTEGRITY_OFFSET;
 * ODEON_EIO if OpenSSL fails. */
int odeon_stun_check_integrity(const odeon_stun_msg *msg, const uint8_t *key, size_t key_len);

/* FINGERPRINT: 0 on a match, ODEON_ENOENT without the attribute, ODEON_EINVAL on a mismatch. */
int odeon_stun_check_fingerprint(const odeon_stun_msg *msg);

/* CRC-32 (ISO-HDLC, the one of zlib and Ethernet) of len bytes. */
uint32_t odeon_stun_crc32(const uint8_t *data, size_t len);

/* Writes a Binding success response into out (capacity cap): the given transaction id,
 * XOR-MAPPED-ADDRESS of mapped (AF_INET or AF_INET6), MESSAGE-INTEGRITY with key (omitted if
 * key is NULL) and FINGERPRINT. *out_len gets the message size. ODEON_EINVAL for a bad
 * address, ODEON_ENOMEM if cap is too small, ODEON_EIO if OpenSSL fails. */
int odeon_stun_build_binding_success(uint8_t *out, size_t cap, const uint8_t *txid,
                                     const struct sockaddr *mapped, const uint8_t *key,
                                     size_t key_len, size_t *out_len);

#endif /* ODEON_WEBRTC_STUN_H */
