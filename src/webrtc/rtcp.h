/*
 * rtcp.h - RTCP compound-packet iteration, parsers for the packets an SFU handles, and
 * builders that write into caller buffers.
 *
 * Covered: SR/RR (RFC 3550 §6.4), SDES CNAME (§6.5), BYE (§6.6), RTPFB generic NACK (RFC 4585
 * §6.2.1), RTPFB transport-wide feedback header (draft-holmer-rmcat-transport-wide-cc-
 * extensions-01 §3.1; chunks are left to the bandwidth estimator), PSFB PLI (RFC 4585 §6.3.1),
 * FIR (RFC 5104 §4.3.1) and REMB (draft-alvestrand-rmcat-remb-03 §2.2). Parsed structs borrow
 * the packet bytes; nothing allocates. Builders return the number of bytes written or a
 * negative ODEON_E* code (ODEON_ENOMEM: the caller's buffer is too small). The RTP side and
 * the RTP/RTCP demux are in rtp.h.
 */
#ifndef ODEON_WEBRTC_RTCP_H
#define ODEON_WEBRTC_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin/plugin.h" /* ODEON_E* error codes */

enum {
    ODEON_RTCP_SR = 200,
    ODEON_RTCP_RR = 201,
    ODEON_RTCP_SDES = 202,
    ODEON_RTCP_BYE = 203,
    ODEON_RTCP_APP = 204,
    ODEON_RTCP_RTPFB = 205,
    ODEON_RTCP_PSFB = 206,
    ODEON_RTCP_XR = 207,
};

enum {
    ODEON_RTCP_FMT_NACK = 1,  /* RTPFB */
    ODEON_RTCP_FMT_TWCC = 15, /* RTPFB */
    ODEON_RTCP_FMT_PLI = 1,   /* PSFB */
    ODEON_RTCP_FMT_FIR = 4,   /* PSFB */
    ODEON_RTCP_FMT_AFB = 15,  /* PSFB application layer feedback: REMB */
};

#define ODEON_RTCP_MAX_BLOCKS 31 /* a 5-bit count */

/* One packet of a compound: header fields, and the body after the 4-byte header with any
 * padding removed. data/len cover the whole packet including header and padding. */
typedef struct odeon_rtcp_header {
    uint8_t count; /* RC, SC or FMT depending on the type */
    uint8_t pt;
    bool padding;
    const uint8_t *data;
    size_t len;
    const uint8_t *body;
    size_t body_len;
} odeon_rtcp_header;

/* Walks a compound packet; the iterator borrows buf. */
typedef struct odeon_rtcp_iter {
    const uint8_t *buf;
    size_t len;
    size_t pos;
} odeon_rtcp_iter;

void odeon_rtcp_iter_init(odeon_rtcp_iter *it, const uint8_t *buf, size_t len);
/* Returns 1 with the next packet in *out, 0 at the end, ODEON_EINVAL when the rest of the
 * buffer is malformed (version, PT outside 192-223, length past the end, bad padding); after
 * an error it keeps returning ODEON_EINVAL. */
int odeon_rtcp_iter_next(odeon_rtcp_iter *it, odeon_rtcp_header *out);
/* Number of packets in a well-formed compound, or ODEON_EINVAL. */
int odeon_rtcp_count(const uint8_t *buf, size_t len);

typedef struct odeon_rtcp_report_block {
    uint32_t ssrc;
    uint8_t fraction_lost;
    int32_t cumulative_lost; /* 24-bit signed on the wire */
    uint32_t highest_seq;    /* extended highest sequence number received */
    uint32_t jitter;
    uint32_t lsr;
    uint32_t dlsr;
} odeon_rtcp_report_block;

typedef struct odeon_rtcp_sender_info {
    uint64_t ntp; /* 32.32 fixed point */
    uint32_t rtp_ts;
    uint32_t packet_count;
    uint32_t octet_count;
} odeon_rtcp_sender_info;

/* SR or RR. The report blocks stay on the wire; read them with odeon_rtcp_report_block_at. */
typedef struct odeon_rtcp_report {
    bool is_sr;
    uint32_t ssrc;
    odeon_rtcp_sender_info sender; /* zero for RR */
    uint8_t block_count;
    const uint8_t *blocks;
} odeon_rtcp_report;

int odeon_rtcp_parse_report(const odeon_rtcp_header *h, odeon_rtcp_report *out);
int odeon_rtcp_report_block_at(const odeon_rtcp_report *r, unsigned i,
                               odeon_rtcp_report_block *out);

/* One SDES chunk: its SSRC and CNAME item (cname NULL when the chunk has none). */
typedef struct odeon_rtcp_sdes_chunk {
    uint32_t ssrc;
    const uint8_t *cname;
    size_t cname_len;
} odeon_rtcp_sdes_chunk;

/* Walks the chunks of an SDES packet; *pos starts at 0. Returns 1, 0 at the end, or
 * ODEON_EINVAL (item past the end, missing terminator, more chunks than SC or fewer). */
int odeon_rtcp_sdes_next(const odeon_rtcp_header *h, size_t *pos, odeon_rtcp_sdes_chunk *out);

typedef struct odeon_rtcp_bye {
    uint8_t ssrc_count;
    const uint8_t *ssrcs; /* ssrc_count big-endian words; see odeon_rtcp_bye_ssrc */
    const uint8_t *reason;
    size_t reason_len;
} odeon_rtcp_bye;

int odeon_rtcp_parse_bye(const odeon_rtcp_header *h, odeon_rtcp_bye *out);
uint32_t odeon_rtcp_bye_ssrc(const odeon_rtcp_bye *b, unsigned i); /* 0 when out of range */

/* Common feedback header (RFC 4585 §6.1). fci borrows the packet. */
typedef struct odeon_rtcp_fb {
    uint8_t pt;
    uint8_t fmt;
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    const uint8_t *fci;
    size_t fci_len;
} odeon_rtcp_fb;

/* Any RTPFB/PSFB packet. ODEON_EINVAL for other types or a body shorter than 8 bytes. */
int odeon_rtcp_parse_fb(const odeon_rtcp_header *h, odeon_rtcp_fb *out);

/* Generic NACK: pairs of PID(16)+BLP(16). */
typedef struct odeon_rtcp_nack {
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    size_t pair_count;
    const uint8_t *pairs;
} odeon_rtcp_nack;

int odeon_rtcp_parse_nack(const odeon_rtcp_header *h, odeon_rtcp_nack *out);
int odeon_rtcp_nack_pair(const odeon_rtcp_nack *n, size_t i, uint16_t *pid, uint16_t *blp);
/* Expands all pairs into lost sequence numbers, in wire order. Writes at most cap and returns
 * the total number reported (which may exceed cap). */
size_t odeon_rtcp_nack_lost(const odeon_rtcp_nack *n, uint16_t *out, size_t cap);

/* Transport-wide feedback header; chunks and deltas are left raw. */
typedef struct odeon_rtcp_twcc {
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    uint16_t base_seq;
    uint16_t status_count;
    int32_t reference_time; /* 24-bit signed, 64 ms units */
    uint8_t fb_count;
    const uint8_t *chunks; /* packet status chunks then receive deltas */
    size_t chunks_len;
} odeon_rtcp_twcc;

int odeon_rtcp_parse_twcc(const odeon_rtcp_header *h, odeon_rtcp_twcc *out);

int odeon_rtcp_parse_pli(const odeon_rtcp_header *h, uint32_t *sender_ssrc, uint32_t *media_ssrc);

typedef struct odeon_rtcp_fir_entry {
    uint32_t ssrc;
    uint8_t seq_nr;
} odeon_rtcp_fir_entry;

typedef struct odeon_rtcp_fir {
    uint32_t sender_ssrc;
    size_t entry_count;
    const uint8_t *entries;
} odeon_rtcp_fir;

int odeon_rtcp_parse_fir(const odeon_rtcp_header *h, odeon_rtcp_fir *out);
int odeon_rtcp_fir_entry_at(const odeon_rtcp_fir *f, size_t i, odeon_rtcp_fir_entry *out);

typedef struct odeon_rtcp_remb {
    uint32_t sender_ssrc;
    uint64_t bitrate; /* bps, mantissa << exp, saturated at UINT64_MAX */
    uint8_t ssrc_count;
    const uint8_t *ssrcs;
} odeon_rtcp_remb;

/* ODEON_ENOENT for a PSFB FMT=15 packet that is not REMB (other AFB uses). */
int odeon_rtcp_parse_remb(const odeon_rtcp_header *h, odeon_rtcp_remb *out);
uint32_t odeon_rtcp_remb_ssrc(const odeon_rtcp_remb *r, unsigned i); /* 0 when out of range */

/* Builders: write into buf[0..cap), return the length written or a negative ODEON_E*. */
int odeon_rtcp_build_rr(uint8_t *buf, size_t cap, uint32_t ssrc,
                        const odeon_rtcp_report_block *blocks, unsigned n);
int odeon_rtcp_build_sr(uint8_t *buf, size_t cap, uint32_t ssrc, const odeon_rtcp_sender_info *si,
                        const odeon_rtcp_report_block *blocks, unsigned n);
/* cname: 1-255 bytes, not NUL-terminated on the wire. */
int odeon_rtcp_build_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname,
                                size_t cname_len);
/* Packs lost sequence numbers into PID/BLP pairs. Each number joins the first pair that
 * already covers it (PID..PID+16, modulo 2^16) or opens a new one, so an ascending list
 * (wraparound included) gives the fewest pairs; duplicates cost nothing. */
int odeon_rtcp_build_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                          const uint16_t *lost, size_t n);
int odeon_rtcp_build_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc);
int odeon_rtcp_build_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc,
                         const odeon_rtcp_fir_entry *entries, size_t n);
/* bitrate is encoded as an 18-bit mantissa and 6-bit exponent, rounding down. n <= 255. */
int odeon_rtcp_build_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate,
                          const uint32_t *ssrcs, size_t n);
/* The head of a compound packet (RFC 3550 §6.1): an SR when si is non-NULL, else an RR, then
 * an SDES CNAME. Feedback packets can be appended after the returned length. */
int odeon_rtcp_build_compound(uint8_t *buf, size_t cap, uint32_t ssrc,
                              const odeon_rtcp_sender_info *si,
                              const odeon_rtcp_report_block *blocks, unsigned n,
                              const char *cname, size_t cname_len);

#endif
