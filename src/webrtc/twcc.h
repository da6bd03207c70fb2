/*
 * twcc.h - transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
 * extensions-01 §3.1): RTCP RTPFB, FMT 15.
 *
 * - odeon_twcc_recorder, on the receiving side of a transport: fed with the transport-wide
 *   sequence number of each arriving RTP packet (rtp.h: odeon_rtp_ext_twcc_seq) and its arrival
 *   time, it keeps them in a ring allocated once and writes feedback packets that report every
 *   sequence number since the previous feedback as received (with its arrival delta) or lost.
 * - odeon_twcc_iter, for the sending side's bandwidth estimator: walks a feedback packet
 *   parsed by odeon_rtcp_parse_twcc (rtcp.h) and yields, per reported sequence number, whether
 *   it arrived and when (in the feedback sender's clock).
 *
 * Time is a parameter (microseconds on any monotonic clock). Nothing here allocates after
 * odeon_twcc_recorder_new or takes a lock: a recorder belongs to its peer connection's media
 * loop thread. Sending the feedback periodically (the draft suggests about every 100 ms) is the
 * caller's job. Tests: tests/unit/test_twcc.c; fuzz target: tests/fuzz/fuzz_twcc.c.
 *
 * Errors: 0 or a negative ODEON_E* code from src/plugin/plugin.h.
 */
#ifndef ODEON_WEBRTC_TWCC_H
#define ODEON_WEBRTC_TWCC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "webrtc/rtcp.h"

#define ODEON_TWCC_DELTA_US 250       /* unit of the receive deltas */
#define ODEON_TWCC_REFERENCE_US 64000 /* unit of the reference time */
#define ODEON_TWCC_MIN_PACKET 24      /* header, FCI fixed part and one chunk */

/* Packet status symbols (§3.1.1). */
enum {
    ODEON_TWCC_NOT_RECEIVED = 0,
    ODEON_TWCC_SMALL_DELTA = 1, /* received, 1-byte delta 0..63.75 ms */
    ODEON_TWCC_LARGE_DELTA = 2, /* received, 2-byte signed delta -8192..8191.75 ms */
};

/* ---- receiver side: recorder and feedback builder ---------------------------------------- */

typedef struct odeon_twcc_recorder odeon_twcc_recorder;

/* Creates a recorder remembering the last `capacity` sequence numbers (a power of two,
 * 16..32768; 1024 holds several feedback intervals at high packet rates). Feedback packets go
 * from sender_ssrc about media_ssrc (the draft leaves the latter to the implementation; libwebrtc
 * uses the first media SSRC it receives). Returns NULL and sets *error (if not NULL) to a static
 * message on bad arguments or out of memory. Free with odeon_twcc_recorder_free. */
odeon_twcc_recorder *odeon_twcc_recorder_new(size_t capacity, uint32_t sender_ssrc,
                                             uint32_t media_ssrc, const char **error);
void odeon_twcc_recorder_free(odeon_twcc_recorder *r);

/* Forgets every recorded packet (the feedback packet count keeps counting). */
void odeon_twcc_recorder_reset(odeon_twcc_recorder *r);
void odeon_twcc_recorder_set_media_ssrc(odeon_twcc_recorder *r, uint32_t media_ssrc);

/* Records the arrival of transport-wide sequence number seq. Numbers are extended past 65535
 * against the highest one so far (within +/-32767). A packet arriving after the feedback that
 * reported it lost moves the start of the next feedback back to it, so its arrival is reported
 * (packets between it and the old start are reported again; a bandwidth estimator keeps the
 * first report of each). Returns 0, ODEON_EEXIST for a duplicate (the first arrival time is
 * kept), or ODEON_EGONE for a packet older than the ring remembers. */
int odeon_twcc_recorder_record(odeon_twcc_recorder *r, uint16_t seq, int64_t arrival_us);

/* True when some recorded sequence numbers have not been reported yet. */
bool odeon_twcc_recorder_pending(const odeon_twcc_recorder *r);

/* Writes the next feedback packet into buf[0..max_size) and returns its length, or 0 when
 * nothing is pending, ODEON_EINVAL for a NULL buf, ODEON_ENOMEM when max_size is below
 * ODEON_TWCC_MIN_PACKET. The packet covers the unreported sequence numbers from the oldest on,
 * as many as fit in max_size, and stops early before a packet whose delta does not fit in a
 * large delta (it then starts the next feedback with a new reference time); call again while
 * odeon_twcc_recorder_pending() to get the rest. Each packet takes the next 8-bit feedback
 * packet count. Status chunks are run-length where a symbol repeats and status vectors
 * otherwise. The packet is padded to 32 bits per RFC 3550 (P bit, zeros, the count in the
 * last octet), so send it alone or last in a compound packet. */
int odeon_twcc_recorder_build(odeon_twcc_recorder *r, uint8_t *buf, size_t max_size);

/* ---- sender side: feedback parser --------------------------------------------------------- */

typedef struct odeon_twcc_status {
    uint16_t seq;
    bool received;
    uint8_t symbol;     /* ODEON_TWCC_* */
    int64_t delta_us;   /* receive delta: from the previous received packet (or the reference
                         * time for the first); 0 when not received */
    int64_t arrival_us; /* reference time + deltas so far, in the feedback sender's clock
                         * (modulo the 24-bit reference time's range); 0 when not received */
} odeon_twcc_status;

/* Walks one feedback packet. It keeps a copy of the parsed header, whose chunks still borrow
 * the packet bytes. */
typedef struct odeon_twcc_iter {
    odeon_rtcp_twcc fb;
    uint16_t index;    /* statuses returned */
    size_t chunk_pos;  /* byte offset of the current chunk in fb->chunks */
    uint16_t in_chunk; /* statuses taken from the current chunk */
    size_t delta_pos;  /* byte offset of the next receive delta */
    int64_t arrival_us;
} odeon_twcc_iter;

/* Checks the whole feedback first: chunks enough for the status count, no reserved (11)
 * symbol, no empty run, deltas within the packet (bytes after the last delta are taken as
 * padding). Returns 0 or ODEON_EINVAL. The packet bytes must outlive the iterator. */
int odeon_twcc_iter_init(odeon_twcc_iter *it, const odeon_rtcp_twcc *fb);
/* Returns 1 with the next reported sequence number in *out, 0 after the last one. */
int odeon_twcc_iter_next(odeon_twcc_iter *it, odeon_twcc_status *out);

#endif /* ODEON_WEBRTC_TWCC_H */
