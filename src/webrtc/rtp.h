/*
 * rtp.h - RTP packet views, header-extension lookup and in-place header rewriting.
 *
 * A view is parsed in place over the caller's bytes (RFC 3550 §5.1, RFC 8285 extensions): no
 * copy, no allocation, so it sits on the per-packet fast path. The readers below it decode the
 * extensions an SFU routes on (abs-send-time, transport-wide-cc, audio-level, mid/rid); the
 * writers rewrite SSRC/seq/timestamp/PT/marker and the transport-wide sequence for each
 * outgoing transport. The demux helpers classify a datagram on a bundled 5-tuple (RFC 7983).
 * Extension IDs are never assumed: callers map them from SDP (a=extmap). RTCP lives in rtcp.h.
 */
#ifndef ODEON_WEBRTC_RTP_H
#define ODEON_WEBRTC_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin/plugin.h" /* ODEON_E* error codes */

#define ODEON_RTP_HEADER_LEN 12
#define ODEON_RTP_EXT_ONE_BYTE 0xBEDE   /* RFC 8285 §4.2 profile */
#define ODEON_RTP_EXT_TWO_BYTE 0x1000   /* RFC 8285 §4.3 profile; low 4 bits are appbits */

/* A parsed RTP packet. Every pointer and offset refers into the buffer given to
 * odeon_rtp_parse, which the view borrows: it is valid only while that buffer is. */
typedef struct odeon_rtp_view {
    const uint8_t *buf;
    size_t len;
    bool padding;
    bool extension;
    bool marker;
    uint8_t csrc_count;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    uint16_t ext_profile; /* 0 when there is no extension block */
    size_t ext_offset;    /* first byte of the extension elements (after the 4-byte header) */
    size_t ext_len;       /* bytes of extension elements */
    size_t payload_offset;
    size_t payload_len;   /* without padding */
    uint8_t padding_len;  /* 0 when P is clear */
} odeon_rtp_view;

/* What the first bytes of a datagram on a bundled 5-tuple are (RFC 7983 §7, RFC 5761 §4). */
typedef enum odeon_rtp_demux {
    ODEON_DEMUX_UNKNOWN = 0,
    ODEON_DEMUX_STUN,    /* first byte 0-3 */
    ODEON_DEMUX_ZRTP,    /* 16-19 */
    ODEON_DEMUX_DTLS,    /* 20-63 */
    ODEON_DEMUX_TURN,    /* 64-79, TURN ChannelData */
    ODEON_DEMUX_RTP,     /* 128-191 and the second byte outside 192-223 */
    ODEON_DEMUX_RTCP,    /* 128-191 and the second byte in 192-223 */
} odeon_rtp_demux;

/* Parses buf (borrowed) into *out. Returns 0, or ODEON_EINVAL for anything malformed: short
 * header, version other than 2, CSRC list, extension or padding running past the end. */
int odeon_rtp_parse(const uint8_t *buf, size_t len, odeon_rtp_view *out);

/* Finds extension element id (1-14 in the one-byte form, 1-255 in the two-byte form).
 * *data points into the packet. Returns 0, ODEON_ENOENT when absent (or no extension block),
 * ODEON_EINVAL when the element list is malformed before the element is reached. */
int odeon_rtp_ext_find(const odeon_rtp_view *v, uint8_t id, const uint8_t **data, size_t *len);

/* Walks the extension elements: *pos starts at 0. Returns 1 with an element, 0 at the end,
 * ODEON_EINVAL when an element runs past the block. Padding bytes are skipped. */
int odeon_rtp_ext_next(const odeon_rtp_view *v, size_t *pos, uint8_t *id, const uint8_t **data,
                       size_t *len);

/* Typed readers. Each returns 0, ODEON_ENOENT (absent) or ODEON_EINVAL (wrong size/content). */
/* abs-send-time: 24-bit 6.18 fixed-point seconds. */
int odeon_rtp_ext_abs_send_time(const odeon_rtp_view *v, uint8_t id, uint32_t *out);
/* transport-wide-cc: 16-bit transport-wide sequence number. */
int odeon_rtp_ext_twcc_seq(const odeon_rtp_view *v, uint8_t id, uint16_t *out);
/* ssrc-audio-level (RFC 6464): voice activity flag and level in -dBov (0 loud .. 127 silent). */
int odeon_rtp_ext_audio_level(const odeon_rtp_view *v, uint8_t id, bool *voice, uint8_t *level);
/* sdes:mid, rtp-stream-id, repaired-rtp-stream-id: copies the string NUL-terminated into out
 * (out_size >= len + 1). Only visible ASCII is accepted. Returns the string length, or
 * ODEON_ENOENT, ODEON_EINVAL (empty or non-printable), ODEON_ENOMEM (out too small). */
int odeon_rtp_ext_string(const odeon_rtp_view *v, uint8_t id, char *out, size_t out_size);

/* In-place writers for forwarding. buf/len is a whole RTP packet already known to be valid
 * (parsed once on arrival). Each returns 0 or ODEON_EINVAL (shorter than a header, PT > 127). */
int odeon_rtp_set_ssrc(uint8_t *buf, size_t len, uint32_t ssrc);
int odeon_rtp_set_seq(uint8_t *buf, size_t len, uint16_t seq);
int odeon_rtp_set_timestamp(uint8_t *buf, size_t len, uint32_t ts);
int odeon_rtp_set_payload_type(uint8_t *buf, size_t len, uint8_t pt);
int odeon_rtp_set_marker(uint8_t *buf, size_t len, bool marker);
/* Rewrites the transport-wide-cc sequence in an existing 2-byte element. buf must be the
 * writable buffer v was parsed from. Returns 0, ODEON_ENOENT, or ODEON_EINVAL. */
int odeon_rtp_set_twcc_seq(uint8_t *buf, const odeon_rtp_view *v, uint8_t id, uint16_t seq);

/* Classifies a datagram by its first two bytes (RFC 7983). */
odeon_rtp_demux odeon_rtp_demux_classify(const uint8_t *buf, size_t len);
/* True when buf looks like RTCP on an rtcp-mux transport: RTP version bits and a second byte
 * in 192-223 (so RTP payload types 64-95 must not be negotiated, RFC 5761 §4). */
bool odeon_rtp_is_rtcp(const uint8_t *buf, size_t len);

#endif
