/*
 * rtp_stats.c - receive and send statistics for RTCP reports (see rtp_stats.h).
 *
 * The receive side is RFC 3550 Appendix A.1 (sequence validation), A.3 (loss) and A.8
 * (jitter) as written there, in integer arithmetic, with three deliberate additions: the
 * fraction lost saturates at 255 (A.3's formula would give 256, wrapping to 0 in 8 bits, if an
 * interval were entirely lost; the sequence numbers cannot show that today, but the field must
 * never wrap), jitter is fed only by packets that advance the sequence
 * (a retransmission or a reordered packet would add its repair or queueing delay as "jitter"),
 * and a restart clears the jitter's previous transit time, since the new stream's timestamps
 * have another origin.
 *
 * Timestamp arithmetic is modulo 2^32 on purpose: RTP timestamps and the arrival time
 * converted to timestamp units wrap, and only their differences matter.
 */
#include "webrtc/rtp_stats.h"

#include <string.h>

#include "plugin/plugin.h"

#define US_PER_S 1000000
#define SEQ_MOD 0x10000u

/* Floor division of a time by one second: (whole seconds, remainder in 0..999999). */
static void split_us(int64_t us, int64_t *sec, int64_t *rem)
{
    *sec = us / US_PER_S;
    *rem = us % US_PER_S;
    if (*rem < 0) {
        *rem += US_PER_S;
        (*sec)--;
    }
}

/* A time in microseconds in units of a clock rate, rounding down; no overflow for times up to
 * about 10^13 seconds at 10^5 Hz. */
static int64_t us_to_ticks(int64_t us, uint32_t rate)
{
    int64_t sec, rem;
    split_us(us, &sec, &rem);
    return sec * rate + rem * rate / US_PER_S;
}

/* ---- NTP ---------------------------------------------------------------------------------- */

uint64_t odeon_rtp_stats_ntp_from_unix_us(int64_t wall_us)
{
    int64_t sec, rem;
    split_us(wall_us < 0 ? 0 : wall_us, &sec, &rem);
    /* NTP seconds wrap at 2^32 (era 1 starts in 2036); the truncation is the wire format. */
    uint32_t ntp_sec = (uint32_t)(sec + ODEON_RTP_STATS_NTP_UNIX_OFFSET);
    uint64_t frac = ((uint64_t)rem << 32) / US_PER_S;
    return ((uint64_t)ntp_sec << 32) | frac;
}

int64_t odeon_rtp_stats_ntp_to_unix_us(uint64_t ntp)
{
    int64_t sec = (int64_t)(ntp >> 32) - ODEON_RTP_STATS_NTP_UNIX_OFFSET;
    uint64_t frac = ntp & 0xffffffffu;
    int64_t us = (int64_t)((frac * US_PER_S + 0x80000000u) >> 32);
    return sec * US_PER_S + us;
}

uint32_t odeon_rtp_stats_ntp_compact(uint64_t ntp)
{
    return (uint32_t)(ntp >> 16);
}

int64_t odeon_rtp_stats_compact_to_us(uint32_t compact)
{
    return (int64_t)(((uint64_t)compact * US_PER_S + 0x8000) >> 16);
}

uint32_t odeon_rtp_stats_compact_from_us(int64_t us)
{
    if (us <= 0)
        return 0;
    uint64_t c = ((uint64_t)us * 65536 + US_PER_S / 2) / US_PER_S;
    return c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}

/* ---- receiver: RFC 3550 A.1 --------------------------------------------------------------- */

static void init_seq(odeon_rtp_recv_stats *s, uint16_t seq)
{
    s->base_seq = seq;
    s->max_seq = seq;
    s->bad_seq = SEQ_MOD + 1; /* so seq == bad_seq is false */
    s->cycles = 0;
    s->received = 0;
    s->received_prior = 0;
    s->expected_prior = 0;
    s->have_transit = false;
}

void odeon_rtp_recv_stats_init(odeon_rtp_recv_stats *s, uint32_t ssrc, uint32_t clock_rate)
{
    memset(s, 0, sizeof(*s));
    s->ssrc = ssrc;
    s->clock_rate = clock_rate;
}

/* A.1's update_seq. *advanced is set when the packet moved max_seq forward. */
static odeon_rtp_recv_result update_seq(odeon_rtp_recv_stats *s, uint16_t seq, bool *advanced)
{
    uint16_t udelta = (uint16_t)(seq - s->max_seq);
    *advanced = false;
    if (s->probation) {
        /* Packets must be in sequence for the source to become valid. */
        if (seq == (uint16_t)(s->max_seq + 1)) {
            s->probation--;
            s->max_seq = seq;
            if (s->probation == 0) {
                init_seq(s, seq);
                s->received++;
                *advanced = true;
                return ODEON_RTP_RECV_VALID;
            }
        } else {
            s->probation = ODEON_RTP_STATS_MIN_SEQUENTIAL - 1;
            s->max_seq = seq;
        }
        return ODEON_RTP_RECV_PROBATION;
    } else if (udelta < ODEON_RTP_STATS_MAX_DROPOUT) {
        /* In order, with a permissible gap. */
        if (seq < s->max_seq)
            s->cycles += SEQ_MOD;
        s->max_seq = seq;
        *advanced = udelta != 0;
    } else if (udelta <= SEQ_MOD - ODEON_RTP_STATS_MAX_MISORDER) {
        /* A very large jump. Two in sequence mean the other side restarted without telling
         * us: resynchronise on this packet. */
        if (seq != s->bad_seq) {
            s->bad_seq = (uint16_t)(seq + 1);
            return ODEON_RTP_RECV_BAD_JUMP;
        }
        init_seq(s, seq);
        *advanced = true;
    }
    /* else: a duplicate or reordered packet, counted as received (A.3 allows lost < 0). */
    s->received++;
    return ODEON_RTP_RECV_VALID;
}

/* A.8: J += (|D| - J) / 16, with J kept scaled by 16 as in the appendix's integer version. */
static void update_jitter(odeon_rtp_recv_stats *s, uint32_t rtp_ts, int64_t arrival_us)
{
    uint32_t arrival = (uint32_t)us_to_ticks(arrival_us, s->clock_rate);
    uint32_t transit = arrival - rtp_ts;
    if (s->have_transit) {
        int64_t d = (int32_t)(transit - s->transit);
        if (d < 0)
            d = -d;
        int64_t j = (int64_t)s->jitter_q4 + d - (((int64_t)s->jitter_q4 + 8) >> 4);
        s->jitter_q4 = j > UINT32_MAX ? UINT32_MAX : (uint32_t)j;
    }
    s->transit = transit;
    s->have_transit = true;
}

odeon_rtp_recv_result odeon_rtp_recv_stats_update(odeon_rtp_recv_stats *s, uint16_t seq,
                                                  uint32_t rtp_ts, size_t len, int64_t arrival_us)
{
    s->packets++;
    s->octets += len;
    s->last_packet_us = arrival_us;
    if (!s->started) {
        /* A new source: A.1's first-packet setup, then the ordinary path puts it on
         * probation. */
        init_seq(s, seq);
        s->max_seq = (uint16_t)(seq - 1);
        s->probation = ODEON_RTP_STATS_MIN_SEQUENTIAL;
        s->started = true;
    }
    bool advanced;
    odeon_rtp_recv_result r = update_seq(s, seq, &advanced);
    if (r == ODEON_RTP_RECV_VALID && advanced && s->clock_rate != 0)
        update_jitter(s, rtp_ts, arrival_us);
    return r;
}

void odeon_rtp_recv_stats_sr_received(odeon_rtp_recv_stats *s, uint64_t ntp, uint32_t rtp_ts,
                                      int64_t arrival_us)
{
    s->have_sr = true;
    s->lsr = odeon_rtp_stats_ntp_compact(ntp);
    s->sr_ntp = ntp;
    s->sr_rtp_ts = rtp_ts;
    s->sr_arrival_us = arrival_us;
}

static bool recv_valid(const odeon_rtp_recv_stats *s)
{
    return s->started && s->probation == 0;
}

uint32_t odeon_rtp_recv_stats_extended_max(const odeon_rtp_recv_stats *s)
{
    return s->cycles + s->max_seq;
}

uint32_t odeon_rtp_recv_stats_expected(const odeon_rtp_recv_stats *s)
{
    if (!recv_valid(s))
        return 0;
    return odeon_rtp_recv_stats_extended_max(s) - s->base_seq + 1;
}

int64_t odeon_rtp_recv_stats_lost(const odeon_rtp_recv_stats *s)
{
    if (!recv_valid(s))
        return 0;
    return (int64_t)odeon_rtp_recv_stats_expected(s) - s->received;
}

uint32_t odeon_rtp_recv_stats_jitter(const odeon_rtp_recv_stats *s)
{
    return s->jitter_q4 >> 4;
}

/* A.3 for the current interval. */
static void interval(const odeon_rtp_recv_stats *s, uint32_t *expected, int32_t *lost)
{
    if (!recv_valid(s)) {
        *expected = 0;
        *lost = 0;
        return;
    }
    uint32_t e = odeon_rtp_recv_stats_expected(s) - s->expected_prior;
    uint32_t r = s->received - s->received_prior;
    int64_t l = (int64_t)e - r;
    *expected = e;
    *lost = l > INT32_MAX ? INT32_MAX : (l < INT32_MIN ? INT32_MIN : (int32_t)l);
}

static uint8_t fraction_of(uint32_t expected, int32_t lost)
{
    if (expected == 0 || lost <= 0)
        return 0;
    uint64_t f = ((uint64_t)lost << 8) / expected;
    return f > 255 ? 255 : (uint8_t)f;
}

double odeon_rtp_recv_stats_interval_loss(const odeon_rtp_recv_stats *s, uint32_t *expected,
                                          int32_t *lost)
{
    uint32_t e;
    int32_t l;
    interval(s, &e, &l);
    if (expected)
        *expected = e;
    if (lost)
        *lost = l;
    return (e == 0 || l <= 0) ? 0.0 : (double)l / e;
}

int odeon_rtp_recv_stats_report(odeon_rtp_recv_stats *s, int64_t now_us,
                                odeon_rtcp_report_block *out)
{
    if (!recv_valid(s))
        return ODEON_ENOENT;
    uint32_t e;
    int32_t l;
    interval(s, &e, &l);
    int64_t cumulative = odeon_rtp_recv_stats_lost(s);
    *out = (odeon_rtcp_report_block){
        .ssrc = s->ssrc,
        .fraction_lost = fraction_of(e, l),
        /* The builder clamps to 24 bits; here only to the field's type. */
        .cumulative_lost = cumulative > INT32_MAX   ? INT32_MAX
                           : cumulative < INT32_MIN ? INT32_MIN
                                                    : (int32_t)cumulative,
        .highest_seq = odeon_rtp_recv_stats_extended_max(s),
        .jitter = odeon_rtp_recv_stats_jitter(s),
    };
    if (s->have_sr) {
        out->lsr = s->lsr;
        out->dlsr = odeon_rtp_stats_compact_from_us(now_us - s->sr_arrival_us);
    }
    s->last_interval_expected = e;
    s->last_interval_lost = l;
    s->last_fraction_lost = out->fraction_lost;
    s->expected_prior = odeon_rtp_recv_stats_expected(s);
    s->received_prior = s->received;
    return 0;
}

bool odeon_rtp_recv_stats_receiving(const odeon_rtp_recv_stats *s, int64_t now_us,
                                    int64_t timeout_us)
{
    return s->started && now_us - s->last_packet_us <= timeout_us;
}

/* ---- sender ------------------------------------------------------------------------------- */

void odeon_rtp_send_stats_init(odeon_rtp_send_stats *s, uint32_t ssrc, uint32_t clock_rate)
{
    memset(s, 0, sizeof(*s));
    s->ssrc = ssrc;
    s->clock_rate = clock_rate;
}

void odeon_rtp_send_stats_sent(odeon_rtp_send_stats *s, uint32_t rtp_ts, size_t payload_len,
                               int64_t now_us)
{
    s->packets++;
    s->octets += payload_len;
    s->last_rtp_ts = rtp_ts;
    s->last_sent_us = now_us;
    s->started = true;
}

int odeon_rtp_send_stats_sender_info(const odeon_rtp_send_stats *s, int64_t now_us, int64_t wall_us,
                                     odeon_rtcp_sender_info *out)
{
    if (!s->started)
        return ODEON_ENOENT;
    /* The SR's RTP timestamp is the same instant as its NTP timestamp (§6.4.1): the media
     * clock has run on since the last packet, by the elapsed time at the clock rate. */
    int64_t ticks = us_to_ticks(now_us - s->last_sent_us, s->clock_rate);
    *out = (odeon_rtcp_sender_info){
        .ntp = odeon_rtp_stats_ntp_from_unix_us(wall_us),
        .rtp_ts = s->last_rtp_ts + (uint32_t)ticks,
        .packet_count = (uint32_t)s->packets,
        .octet_count = (uint32_t)s->octets,
    };
    return 0;
}

int odeon_rtp_send_stats_build_sr(const odeon_rtp_send_stats *s, int64_t now_us, int64_t wall_us,
                                  uint8_t *buf, size_t cap, const odeon_rtcp_report_block *blocks,
                                  unsigned n)
{
    odeon_rtcp_sender_info si;
    int r = odeon_rtp_send_stats_sender_info(s, now_us, wall_us, &si);
    if (r != 0)
        return r;
    return odeon_rtcp_build_sr(buf, cap, s->ssrc, &si, blocks, n);
}

/* Rounding (microseconds to 1/65536 s at both ends) can make a near-zero RTT come out a few
 * units below zero; that much is taken as zero rather than as a bad block. */
#define RTT_ROUNDING_SLACK 4

int odeon_rtp_stats_rtt(const odeon_rtcp_report_block *rb, int64_t now_wall_us, int64_t *rtt_us)
{
    if (rb->lsr == 0)
        return ODEON_ENOENT;
    uint32_t now = odeon_rtp_stats_ntp_compact(odeon_rtp_stats_ntp_from_unix_us(now_wall_us));
    int32_t rtt = (int32_t)(now - rb->lsr - rb->dlsr);
    if (rtt < -RTT_ROUNDING_SLACK)
        return ODEON_EINVAL;
    *rtt_us = rtt < 0 ? 0 : odeon_rtp_stats_compact_to_us((uint32_t)rtt);
    return 0;
}
