/*
 * bwe.h - send-side bandwidth estimation for one peer connection, fed by transport-wide
 * congestion control feedback (twcc.h) and REMB, after Google Congestion Control
 * (draft-ietf-rmcat-gcc-02) as libwebrtc implements it:
 *
 * - every RTP packet sent is recorded with its transport-wide sequence number, size and send
 *   time (odeon_bwe_on_sent), in a ring of ODEON_BWE_HISTORY entries allocated once;
 * - each feedback (odeon_bwe_on_feedback) says which of them arrived and when. From it come the
 *   acknowledged bitrate (what got through), the loss fraction, and the delay gradient: packets
 *   sent within 5 ms form a group, the change in one-way delay between groups goes through a
 *   trendline filter (least-squares slope over 20 groups) and an overuse detector with an
 *   adaptive threshold (normal / overusing / underusing);
 * - a delay-based AIMD controller (+8%/s far from the last congestion point, about a packet
 *   per response time near it, 0.85 x acknowledged bitrate on overuse, hold on underuse) and a
 *   loss-based one (loss > 10%: x (1 - loss / 2); loss < 2%: up to +5%/s) give the estimate
 *   min(delay-based, loss-based), never raised above 1.5 x acknowledged bitrate + 100 kbit/s,
 *   clamped to [min, max], and capped by the last REMB while it is under 5 s old.
 *
 * Pure: no I/O, no clock, no lock, no allocation after odeon_bwe_new. Time is a parameter in
 * microseconds on the sender's monotonic clock (arrival times in feedback are on the remote
 * clock; only their differences are used). An odeon_bwe belongs to one thread, or to whoever
 * holds the lock its owner puts around every call. Tests: tests/unit/test_bwe.c (a simulated
 * bottleneck link).
 *
 * Errors: 0 or a negative ODEON_E* code from src/plugin/plugin.h.
 */
#ifndef ODEON_WEBRTC_BWE_H
#define ODEON_WEBRTC_BWE_H

#include <stddef.h>
#include <stdint.h>

#include "webrtc/rtcp.h"

/* Sent packets remembered: feedback about a packet more than this many sequence numbers older
 * than the newest sent is ignored (4096 is ~2 s at 20 Mbit/s of 1200-byte packets). */
#define ODEON_BWE_HISTORY 4096
#define ODEON_BWE_REMB_FRESH_US 5000000 /* a REMB caps the estimate for this long */

typedef struct odeon_bwe odeon_bwe;

typedef enum odeon_bwe_state {
    ODEON_BWE_NORMAL = 0,
    ODEON_BWE_OVERUSING,  /* queues grow along the path: the delay-based estimate went down */
    ODEON_BWE_UNDERUSING, /* queues drain: the delay-based estimate holds */
} odeon_bwe_state;

typedef struct odeon_bwe_stats {
    uint64_t estimate_bps;    /* what odeon_bwe_estimate returns */
    uint64_t delay_based_bps; /* the AIMD controller's estimate */
    uint64_t loss_based_bps;
    uint64_t acked_bps;    /* smoothed acknowledged bitrate; 0 until measured */
    uint64_t remb_bps;     /* last REMB while fresh, else 0 */
    double loss;           /* fraction lost in the last evaluated interval, 0..1 */
    int64_t rtt_us;        /* smoothed send-to-feedback time; 0 until measured */
    odeon_bwe_state state; /* the overuse detector's last state */
    uint64_t packets_reported, packets_lost; /* totals over the lifetime */
} odeon_bwe_stats;

/* Returns a new estimator starting at start_bps (clamped to [min_bps, max_bps]), or NULL when
 * min_bps is 0 or above max_bps. Free with odeon_bwe_free (NULL is fine). */
odeon_bwe *odeon_bwe_new(uint64_t start_bps, uint64_t min_bps, uint64_t max_bps);
void odeon_bwe_free(odeon_bwe *bwe);

/* Records that the RTP packet carrying transport-wide sequence number twcc_seq left at send_us,
 * bytes long on the wire (after SRTP; IP/UDP overhead is not counted). Overwrites whatever the
 * ring held for the same slot. */
void odeon_bwe_on_sent(odeon_bwe *bwe, uint16_t twcc_seq, size_t bytes, int64_t send_us);

/* Takes one transport-wide feedback packet (fb from odeon_rtcp_parse_twcc, borrowed for the
 * call) received at now_us, and updates the estimate. Only the first report of each recorded
 * packet counts (a received report after a lost one turns it into received); reports of
 * sequence numbers not sent or no longer remembered are ignored. Returns 0, or ODEON_EINVAL
 * for a NULL argument or a malformed feedback (then nothing changed). */
int odeon_bwe_on_feedback(odeon_bwe *bwe, const odeon_rtcp_twcc *fb, int64_t now_us);

/* Takes a REMB's bitrate (odeon_rtcp_parse_remb) received at now_us: until now_us + 5 s the
 * estimate is at most bps. */
void odeon_bwe_on_remb(odeon_bwe *bwe, uint64_t bps, int64_t now_us);

/* The current estimate in bits per second: min(own estimate, fresh REMB), in [min_bps,
 * max_bps]. REMB freshness is judged at the latest time passed to any of the calls above. */
uint64_t odeon_bwe_estimate(const odeon_bwe *bwe);
void odeon_bwe_stats_get(const odeon_bwe *bwe, odeon_bwe_stats *out);

const char *odeon_bwe_state_name(odeon_bwe_state state); /* "normal", "overusing", ... */

#endif /* ODEON_WEBRTC_BWE_H */
