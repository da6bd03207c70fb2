/*
 * rtp_stats.h - per-stream RTP statistics that feed RTCP (RFC 3550 §6.4, Appendix A):
 *
 * - odeon_rtp_recv_stats, one per incoming SSRC: sequence tracking with cycles, probation and
 *   restart (A.1), expected/lost/fraction lost per report interval (A.3), interarrival jitter
 *   (A.8), and the last SR received, so that odeon_rtp_recv_stats_report can fill a report
 *   block (rtcp.h) with LSR/DLSR. It also keeps what the peer connection needs for the Janus
 *   "media" (receiving or not) and "slowlink" (loss over the last interval) events.
 * - odeon_rtp_send_stats, one per outgoing SSRC: packet and octet counts and the last RTP
 *   timestamp sent with its send time, so an SR can carry an RTP timestamp extrapolated to the
 *   NTP time of the report; and the round-trip time from a report block about that SSRC.
 * - NTP helpers: Unix wall clock in microseconds <-> 64-bit NTP (32.32) and the compact 16.16
 *   form used by LSR, DLSR and RTT.
 *
 * The structs are plain values the caller embeds (one per stream) and initialises with _init:
 * nothing allocates, no function reads a clock (every time is a parameter) and nothing locks,
 * since a stream belongs to its peer connection's media loop thread. Callers read the fields
 * but change them only through these functions. Time parameters named *_us are microseconds
 * on any monotonic clock, the same one for every call on a struct; wall_us is microseconds
 * since the Unix epoch (for NTP). Tests: tests/unit/test_rtp_stats.c.
 *
 * Errors: 0 or a negative ODEON_E* code from src/plugin/plugin.h.
 */
#ifndef ODEON_WEBRTC_RTP_STATS_H
#define ODEON_WEBRTC_RTP_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "webrtc/rtcp.h"

/* RFC 3550 A.1 constants: a jump forward of MAX_DROPOUT or more, or backward of more than
 * MAX_MISORDER, is "large"; two such packets in sequence restart the stream. A new source is
 * valid after MIN_SEQUENTIAL packets in sequence. */
#define ODEON_RTP_STATS_MAX_DROPOUT 3000
#define ODEON_RTP_STATS_MAX_MISORDER 100
#define ODEON_RTP_STATS_MIN_SEQUENTIAL 2

/* Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
#define ODEON_RTP_STATS_NTP_UNIX_OFFSET 2208988800u

/* ---- NTP helpers -------------------------------------------------------------------------- */

/* Unix wall clock (microseconds, >= 0) to NTP 32.32; the fraction rounds down. */
uint64_t odeon_rtp_stats_ntp_from_unix_us(int64_t wall_us);
/* NTP 32.32 to Unix microseconds (negative for NTP times before 1970); rounds to nearest. */
int64_t odeon_rtp_stats_ntp_to_unix_us(uint64_t ntp);
/* The middle 32 bits of an NTP timestamp (16.16 seconds): the LSR form. */
uint32_t odeon_rtp_stats_ntp_compact(uint64_t ntp);
/* A duration in 1/65536 s (DLSR, RTT) to microseconds, and back (clamped to 0..UINT32_MAX). */
int64_t odeon_rtp_stats_compact_to_us(uint32_t compact);
uint32_t odeon_rtp_stats_compact_from_us(int64_t us);

/* ---- receiver side ------------------------------------------------------------------------ */

typedef struct odeon_rtp_recv_stats {
    uint32_t ssrc;
    uint32_t clock_rate; /* Hz of the RTP timestamps; 0 disables jitter */
    bool started;        /* a packet has been seen (maybe still on probation) */
    /* RFC 3550 A.1 state */
    uint16_t max_seq;
    uint32_t cycles; /* shifted count of sequence number cycles */
    uint32_t base_seq;
    uint32_t bad_seq;
    uint32_t probation;
    uint32_t received; /* valid packets, late and duplicates included (A.3) */
    uint32_t expected_prior;
    uint32_t received_prior;
    /* A.8 state: last relative transit time and the jitter estimate scaled by 16 */
    bool have_transit;
    uint32_t transit;
    uint32_t jitter_q4;
    /* totals and activity */
    uint64_t packets; /* every packet given to _update, including invalid ones */
    uint64_t octets;
    int64_t last_packet_us;
    /* the last SR from this source */
    bool have_sr;
    uint32_t lsr; /* middle 32 bits of its NTP timestamp */
    int64_t sr_arrival_us;
    uint64_t sr_ntp;
    uint32_t sr_rtp_ts;
    /* the interval closed by the last _report call */
    uint32_t last_interval_expected;
    int32_t last_interval_lost; /* negative when duplicates outnumber losses */
    uint8_t last_fraction_lost;
} odeon_rtp_recv_stats;

/* What _update made of a packet. */
typedef enum odeon_rtp_recv_result {
    ODEON_RTP_RECV_VALID = 0,     /* counted: in sequence, a small jump, late or duplicate */
    ODEON_RTP_RECV_PROBATION = 1, /* a new or restarting source not yet validated */
    ODEON_RTP_RECV_BAD_JUMP = 2, /* a large jump, not counted (a second one in sequence restarts) */
} odeon_rtp_recv_result;

/* Starts stats for an incoming SSRC with its clock rate (90000 for video, 48000 for Opus). */
void odeon_rtp_recv_stats_init(odeon_rtp_recv_stats *s, uint32_t ssrc, uint32_t clock_rate);

/* Records a received packet: seq and timestamp from its header, len its size (any measure the
 * caller chooses; only summed), arrival_us its arrival time. Sequence tracking follows RFC 3550
 * A.1, so the first packet and the first after a restart are on probation. Jitter (A.8) is
 * updated from valid packets that advance the sequence, so retransmissions and reordered
 * packets do not count as delay variation. Feed the original stream only, not RTX. */
odeon_rtp_recv_result odeon_rtp_recv_stats_update(odeon_rtp_recv_stats *s, uint16_t seq,
                                                  uint32_t rtp_ts, size_t len, int64_t arrival_us);

/* Records an SR from this source (RFC 3550 §6.4.1), received at arrival_us. */
void odeon_rtp_recv_stats_sr_received(odeon_rtp_recv_stats *s, uint64_t ntp, uint32_t rtp_ts,
                                      int64_t arrival_us);

/* The extended highest sequence number received (cycles + max_seq). */
uint32_t odeon_rtp_recv_stats_extended_max(const odeon_rtp_recv_stats *s);
/* Packets expected since the base sequence, and lost (expected - received; negative when
 * duplicates outnumber losses), both 0 before the source is valid. */
uint32_t odeon_rtp_recv_stats_expected(const odeon_rtp_recv_stats *s);
int64_t odeon_rtp_recv_stats_lost(const odeon_rtp_recv_stats *s);
/* The interarrival jitter in timestamp units, as it goes into a report block. */
uint32_t odeon_rtp_recv_stats_jitter(const odeon_rtp_recv_stats *s);

/* The loss of the interval since the last _report (or since the start), without closing it:
 * *expected packets expected, *lost of them lost (<= 0 when nothing was lost). Either pointer
 * may be NULL. Returns the lost fraction in 0..1 (0 when nothing was expected). */
double odeon_rtp_recv_stats_interval_loss(const odeon_rtp_recv_stats *s, uint32_t *expected,
                                          int32_t *lost);

/* Fills a report block about this source (RFC 3550 §6.4.1 and A.3: fraction lost over the
 * interval, cumulative lost clamped to 24 bits by the builder, extended highest sequence,
 * jitter, LSR and DLSR at now_us), closes the interval (last_interval_* keep it for slowlink
 * decisions) and starts the next one. ODEON_ENOENT (and *out untouched) until the source is
 * valid. */
int odeon_rtp_recv_stats_report(odeon_rtp_recv_stats *s, int64_t now_us,
                                odeon_rtcp_report_block *out);

/* True when a packet arrived at most timeout_us before now_us ("media" receiving). */
bool odeon_rtp_recv_stats_receiving(const odeon_rtp_recv_stats *s, int64_t now_us,
                                    int64_t timeout_us);

/* ---- sender side -------------------------------------------------------------------------- */

typedef struct odeon_rtp_send_stats {
    uint32_t ssrc;
    uint32_t clock_rate;
    uint64_t packets;
    uint64_t octets; /* payload octets (RFC 3550 §6.4.1), headers and padding excluded */
    bool started;
    uint32_t last_rtp_ts; /* timestamp of the last packet sent ... */
    int64_t last_sent_us; /* ... and when it was sent */
} odeon_rtp_send_stats;

void odeon_rtp_send_stats_init(odeon_rtp_send_stats *s, uint32_t ssrc, uint32_t clock_rate);

/* Records a sent packet: its RTP timestamp, payload size and send time. */
void odeon_rtp_send_stats_sent(odeon_rtp_send_stats *s, uint32_t rtp_ts, size_t payload_len,
                               int64_t now_us);

/* Fills the sender info of an SR for the report time: NTP from wall_us, the RTP timestamp of
 * the last packet advanced by now_us - last_sent_us at the clock rate, and the counts (which
 * wrap at 2^32 on the wire). ODEON_ENOENT before the first packet (send an RR instead). */
int odeon_rtp_send_stats_sender_info(const odeon_rtp_send_stats *s, int64_t now_us, int64_t wall_us,
                                     odeon_rtcp_sender_info *out);

/* Builds an SR for this SSRC into buf (odeon_rtcp_build_sr) with the sender info above and n
 * report blocks (borrowed). Returns the length, ODEON_ENOENT before the first packet, or the
 * builder's error. */
int odeon_rtp_send_stats_build_sr(const odeon_rtp_send_stats *s, int64_t now_us, int64_t wall_us,
                                  uint8_t *buf, size_t cap, const odeon_rtcp_report_block *blocks,
                                  unsigned n);

/* Round-trip time from a report block about one of our SSRCs (RFC 3550 §6.4.1): the compact
 * NTP time of now_wall_us minus LSR minus DLSR. *rtt_us gets it in microseconds. ODEON_ENOENT
 * when LSR is 0 (the peer has had no SR from us), ODEON_EINVAL when the result is negative
 * (clock skew or a block that does not match our SRs). */
int odeon_rtp_stats_rtt(const odeon_rtcp_report_block *rb, int64_t now_wall_us, int64_t *rtt_us);

#endif /* ODEON_WEBRTC_RTP_STATS_H */
