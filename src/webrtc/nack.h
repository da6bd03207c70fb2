/*
 * nack.h - the two halves of RTP retransmission (RFC 4585 generic NACK, RFC 4588 RTX):
 *
 * - odeon_nack_buffer, on the sending side: the last N packets of one outgoing stream, kept
 *   in slots allocated once, so a NACK from a viewer is answered from this hop without asking
 *   the publisher. Indexed by sequence number; an entry is returned only for the exact
 *   (extended) sequence number it was stored under and only while younger than a maximum age.
 * - odeon_nack_tracker, on the receiving side: fed with the sequence numbers that arrive, it
 *   keeps the missing ones and says which to NACK now (each retried a bounded number of times,
 *   spaced by the round-trip time), forgets those that arrive late or grow too old, and asks
 *   for a keyframe when too much is missing to repair.
 *
 * Time is always a parameter (microseconds, any monotonic origin), so tests drive it step by
 * step. Neither object allocates after creation or takes a lock: each belongs to the media
 * loop thread of its peer connection. Building the RTCP NACK (PID + BLP) from the sequence
 * numbers and sending RTX are rtcp/ and pc/'s jobs. Tests: tests/unit/test_nack.c.
 *
 * Errors: 0 or a negative ODEON_E* code from src/plugin/plugin.h.
 */
#ifndef ODEON_WEBRTC_NACK_H
#define ODEON_WEBRTC_NACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- sender side: retransmission buffer ---------------------------------------------------- */

typedef struct odeon_nack_buffer odeon_nack_buffer;

/* Creates a buffer of up to `slots` entries (a power of two, 16..32768) of at most `max_packet`
 * bytes each (1..65535), answering lookups for packets at most `max_age_us` old. It starts
 * with 64 entries (or `slots` if fewer) and doubles (at most once per max_age_us) when a
 * packet younger than max_age_us would be evicted, so its memory follows the stream's packet
 * rate. Returns NULL and sets *error (if error is not NULL) to a static message on bad
 * arguments or when out of memory. Free with odeon_nack_buffer_free. */
odeon_nack_buffer *odeon_nack_buffer_new(size_t slots, size_t max_packet, int64_t max_age_us,
                                         const char **error);
void odeon_nack_buffer_free(odeon_nack_buffer *buf);

/* Forgets every stored packet (for example when the stream's SSRC changes). */
void odeon_nack_buffer_reset(odeon_nack_buffer *buf);

/* Stores a copy of a sent packet under its sequence number. Sequence numbers are extended to
 * 32 bits against the highest stored one, so wraparound at 65535 is handled; a packet more
 * than 32767 behind that is refused, as is one older than what its slot already holds.
 * 0, ODEON_EINVAL (len 0 or larger than max_packet), or ODEON_EEXIST (older than the slot's
 * current packet, or too far behind). */
int odeon_nack_buffer_insert(odeon_nack_buffer *buf, uint16_t seq, const uint8_t *pkt, size_t len,
                             int64_t now_us);

/* Looks up the packet stored under seq. On success *pkt borrows the slot's bytes (valid until
 * the next insert or reset) and *len is its size. ODEON_ENOENT if the slot holds another
 * sequence number (including seq +/- slots) or nothing; ODEON_EGONE if the packet is older
 * than max_age_us at now_us. */
int odeon_nack_buffer_lookup(const odeon_nack_buffer *buf, uint16_t seq, int64_t now_us,
                             const uint8_t **pkt, size_t *len);

/* ---- receiver side: loss tracker ----------------------------------------------------------- */

typedef struct odeon_nack_tracker odeon_nack_tracker;

typedef struct odeon_nack_tracker_config {
    size_t max_missing;       /* missing list capacity; beyond it: clear + keyframe (1000) */
    unsigned max_retries;     /* NACKs sent per missing packet at most (10) */
    int64_t min_interval_us;  /* lower bound of the retry spacing (20 ms) */
    int64_t max_age_us;       /* a missing packet older than this is forgotten (1 s) */
    uint32_t max_age_packets; /* ... as is one this far behind the highest seq (10000) */
    int64_t initial_rtt_us;   /* retry spacing until odeon_nack_tracker_set_rtt (100 ms) */
    int64_t reorder_delay_us; /* wait this long after a gap before the first NACK (0) */
} odeon_nack_tracker_config;

/* Fills the defaults given above. */
void odeon_nack_tracker_config_default(odeon_nack_tracker_config *cfg);

/* Creates a tracker (cfg NULL means the defaults). Returns NULL and sets *error (if not NULL)
 * on bad arguments (max_missing 0 or > 32768, max_retries 0) or out of memory. */
odeon_nack_tracker *odeon_nack_tracker_new(const odeon_nack_tracker_config *cfg,
                                           const char **error);
void odeon_nack_tracker_free(odeon_nack_tracker *t);

/* The round-trip time (from RTCP receiver reports) that spaces the retries. */
void odeon_nack_tracker_set_rtt(odeon_nack_tracker *t, int64_t rtt_us);

/* Records a received sequence number. A gap after the highest so far adds the missing ones
 * (if that would pass max_missing, the list is cleared and a keyframe is requested instead);
 * an older one that was missing is removed (late or retransmitted). Returns the extended
 * 32-bit sequence number (rollovers counted; the first packet's cycle is 1, so packets a bit
 * older than the first one still extend correctly). */
uint32_t odeon_nack_tracker_received(odeon_nack_tracker *t, uint16_t seq, int64_t now_us);

/* Writes up to cap sequence numbers to NACK now, in ascending order, and counts them as sent
 * at now_us. Drops entries that have used up their retries or grown too old. Returns how many
 * were written; call again if it equals cap, more may be due. */
size_t odeon_nack_tracker_poll(odeon_nack_tracker *t, int64_t now_us, uint16_t *out, size_t cap);

/* True once after the missing list overflowed (then false until it overflows again). */
bool odeon_nack_tracker_take_keyframe_request(odeon_nack_tracker *t);

/* Introspection for stats and tests. */
size_t odeon_nack_tracker_missing_count(const odeon_nack_tracker *t);
uint32_t odeon_nack_tracker_highest(const odeon_nack_tracker *t);

#endif /* ODEON_WEBRTC_NACK_H */
