/*
 * test_rtp_stats.c - per-stream RTP statistics (src/webrtc/rtp_stats.c), driven with explicit
 * times: NTP conversions; RFC 3550 A.1 sequence tracking (probation, wraparound, reordering,
 * duplicates, restart after two large jumps in sequence); A.3 loss per interval; A.8 jitter on
 * synthetic streams whose jitter is known; LSR/DLSR; SR and RR built from the stats and read
 * back with the rtcp.h parser; the round-trip time from LSR/DLSR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/plugin.h"
#include "webrtc/rtcp.h"
#include "webrtc/rtp_stats.h"

#define MS 1000
#define SSRC 0x11223344u
#define NTP_1970 ((uint64_t)ODEON_RTP_STATS_NTP_UNIX_OFFSET << 32)

/* A packet of a 90 kHz stream sent every 20 ms, arriving after a fixed 5 ms: no jitter. */
static odeon_rtp_recv_result feed(odeon_rtp_recv_stats *s, uint16_t seq)
{
    return odeon_rtp_recv_stats_update(s, seq, (uint32_t)seq * 1800, 100,
                                       (int64_t)seq * 20 * MS + 5 * MS);
}

/* Stats for a source made valid by two packets in sequence, seq - 1 and seq (the base). */
static void start(odeon_rtp_recv_stats *s, uint16_t seq)
{
    odeon_rtp_recv_stats_init(s, SSRC, 90000);
    assert_int_equal(feed(s, (uint16_t)(seq - 1)), ODEON_RTP_RECV_PROBATION);
    assert_int_equal(feed(s, seq), ODEON_RTP_RECV_VALID);
}

static void test_ntp(void **state)
{
    (void)state;
    assert_true(odeon_rtp_stats_ntp_from_unix_us(0) == NTP_1970);
    assert_true(odeon_rtp_stats_ntp_from_unix_us(1500 * MS) ==
                NTP_1970 + (1ull << 32) + 0x80000000u);
    assert_true(odeon_rtp_stats_ntp_from_unix_us(-5) == NTP_1970);
    assert_int_equal(odeon_rtp_stats_ntp_to_unix_us(NTP_1970 + 0x40000000u), 250 * MS);
    /* 2026-11-25 and a few sub-second offsets survive the round trip to the microsecond. */
    int64_t base = 1795564800ll * 1000000;
    for (int64_t us = 0; us < 1000000; us += 99991) {
        uint64_t ntp = odeon_rtp_stats_ntp_from_unix_us(base + us);
        assert_true(odeon_rtp_stats_ntp_to_unix_us(ntp) == base + us);
    }
    assert_int_equal(odeon_rtp_stats_ntp_compact(0x123456789abcdef0ull), 0x56789abc);
    assert_int_equal(odeon_rtp_stats_compact_to_us(65536), 1000 * MS);
    assert_int_equal(odeon_rtp_stats_compact_to_us(0x8000), 500 * MS);
    assert_int_equal(odeon_rtp_stats_compact_from_us(1000 * MS), 65536);
    assert_int_equal(odeon_rtp_stats_compact_from_us(-1), 0);
    assert_int_equal(odeon_rtp_stats_compact_from_us(INT64_MAX / 65536), UINT32_MAX);
}

static void test_probation(void **state)
{
    (void)state;
    odeon_rtp_recv_stats s;
    odeon_rtcp_report_block rb;
    odeon_rtp_recv_stats_init(&s, SSRC, 90000);
    assert_false(odeon_rtp_recv_stats_receiving(&s, 0, 1000 * MS));
    assert_int_equal(feed(&s, 10), ODEON_RTP_RECV_PROBATION);
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 0, &rb), ODEON_ENOENT);
    /* Out of sequence while on probation: start the probation again from this one. */
    assert_int_equal(feed(&s, 20), ODEON_RTP_RECV_PROBATION);
    assert_int_equal(odeon_rtp_recv_stats_expected(&s), 0);
    assert_int_equal(feed(&s, 21), ODEON_RTP_RECV_VALID);
    assert_int_equal(s.base_seq, 21);
    assert_int_equal(s.received, 1);
    assert_int_equal(odeon_rtp_recv_stats_expected(&s), 1);
    assert_int_equal(odeon_rtp_recv_stats_lost(&s), 0);
    assert_int_equal(s.packets, 3); /* every packet counts in the totals */
    assert_int_equal(s.octets, 300);
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 0, &rb), 0);
    assert_int_equal(rb.ssrc, SSRC);
    assert_int_equal(rb.highest_seq, 21);
}

static void test_wraparound(void **state)
{
    (void)state;
    odeon_rtp_recv_stats s;
    start(&s, 65530);
    for (uint16_t q = 65531; q != 14; q++)
        assert_int_equal(feed(&s, q), ODEON_RTP_RECV_VALID);
    assert_int_equal(s.cycles, 0x10000);
    assert_int_equal(odeon_rtp_recv_stats_extended_max(&s), 0x10000 + 13);
    assert_int_equal(odeon_rtp_recv_stats_expected(&s), 20);
    assert_int_equal(s.received, 20);
    assert_int_equal(odeon_rtp_recv_stats_lost(&s), 0);
    /* A second wrap, with a gap across it. */
    start(&s, 65000);
    for (uint16_t q = 65001; q != 0; q++)
        feed(&s, q);
    feed(&s, 1000);
    assert_int_equal(odeon_rtp_recv_stats_extended_max(&s), 0x10000 + 1000);
    assert_int_equal(odeon_rtp_recv_stats_lost(&s), 1000);
}

static void test_reordering(void **state)
{
    (void)state;
    odeon_rtp_recv_stats s;
    start(&s, 65533);
    /* 65533 65534 65535 1 0 3 2 4: reordered across the wrap, nothing lost. */
    const uint16_t order[] = {65534, 65535, 1, 0, 3, 2, 4};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        assert_int_equal(feed(&s, order[i]), ODEON_RTP_RECV_VALID);
    assert_int_equal(s.cycles, 0x10000); /* 0 after 1 is not a second wrap */
    assert_int_equal(odeon_rtp_recv_stats_extended_max(&s), 0x10000 + 4);
    assert_int_equal(odeon_rtp_recv_stats_expected(&s), 8);
    assert_int_equal(odeon_rtp_recv_stats_lost(&s), 0);
    /* A packet 99 behind is reordered; 100 behind is a large jump, not counted. */
    for (uint16_t q = 5; q <= 200; q++)
        feed(&s, q);
    assert_int_equal(feed(&s, 101), ODEON_RTP_RECV_VALID);
    assert_int_equal(feed(&s, 100), ODEON_RTP_RECV_BAD_JUMP);
    assert_int_equal(odeon_rtp_recv_stats_extended_max(&s), 0x10000 + 200);
}

static void test_duplicate(void **state)
{
    (void)state;
    odeon_rtp_recv_stats s;
    odeon_rtcp_report_block rb;
    start(&s, 1);
    feed(&s, 2);
    feed(&s, 3);
    assert_int_equal(feed(&s, 3), ODEON_RTP_RECV_VALID);
    feed(&s, 4);
    /* A.3: duplicates count as received, so the loss goes negative. */
    assert_int_equal(s.received, 5);
    assert_int_equal(odeon_rtp_recv_stats_expected(&s), 4);
    assert_int_equal(odeon_rtp_recv_stats_lost(&s), -1);
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 0, &rb), 0);
    assert_int_equal(rb.fraction_lost, 0);
    assert_int_equal(rb.cumulative_lost, -1);
    assert_int_equal(s.last_interval_lost, -1);
    /* The builder writes -1 as 24-bit two's complement. */
    uint8_t buf[64];
    int len = odeon_rtcp_build_rr(buf, sizeof(buf), 1, &rb, 1);
    assert_int_equal(len, 32);
    assert_int_equal(buf[13], 0xff);
    assert_int_equal(buf[14], 0xff);
    assert_int_equal(buf[15], 0xff);
}

static void test_restart(void **state)
{
    (void)state;
    odeon_rtp_recv_stats s;
    start(&s, 100);
    for (uint16_t q = 101; q <= 110; q++)
        feed(&s, q);
    /* One stray large jump is ignored and the stream goes on. */
    assert_int_equal(feed(&s, 40000), ODEON_RTP_RECV_BAD_JUMP);
    assert_int_equal(feed(&s, 111), ODEON_RTP_RECV_VALID);
    assert_int_equal(odeon_rtp_recv_stats_extended_max(&s), 111);
    assert_int_equal(s.received, 12);
    /* Two in sequence: the sender restarted, so resynchronise on the second. */
    assert_int_equal(feed(&s, 5000), ODEON_RTP_RECV_BAD_JUMP);
    assert_int_equal(feed(&s, 5001), ODEON_RTP_RECV_VALID);
    assert_int_equal(s.base_seq, 5001);
    assert_int_equal(s.received, 1);
    assert_int_equal(odeon_rtp_recv_stats_expected(&s), 1);
    assert_int_equal(odeon_rtp_recv_stats_lost(&s), 0);
    assert_int_equal(feed(&s, 5002), ODEON_RTP_RECV_VALID);
    assert_int_equal(odeon_rtp_recv_stats_extended_max(&s), 5002);
    /* A jump backwards past MAX_MISORDER is also large. */
    assert_int_equal(feed(&s, 4000), ODEON_RTP_RECV_BAD_JUMP);
    assert_int_equal(feed(&s, 4001), ODEON_RTP_RECV_VALID);
    assert_int_equal(s.base_seq, 4001);
    /* A jump just under MAX_DROPOUT is a gap, not a restart. */
    assert_int_equal(feed(&s, 4001 + 2999), ODEON_RTP_RECV_VALID);
    assert_int_equal(odeon_rtp_recv_stats_lost(&s), 2998);
}

static void test_loss_fraction(void **state)
{
    (void)state;
    odeon_rtp_recv_stats s;
    odeon_rtcp_report_block rb;
    uint32_t expected;
    int32_t lost;
    start(&s, 1000);
    /* Interval 1: 1000..1099, every fourth lost after the base: 25% of 100 minus the base. */
    for (uint16_t q = 1001; q < 1100; q++)
        if (q % 4 != 0)
            feed(&s, q);
    /* 1004, 1008, ..., 1096: 24 lost of 100 expected */
    double rate = odeon_rtp_recv_stats_interval_loss(&s, &expected, &lost);
    assert_int_equal(expected, 100);
    assert_int_equal(lost, 24);
    assert_true(rate > 0.2399 && rate < 0.2401);
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 5000 * MS, &rb), 0);
    assert_int_equal(rb.fraction_lost, 24 * 256 / 100);
    assert_int_equal(rb.cumulative_lost, 24);
    assert_int_equal(rb.highest_seq, 1099);
    assert_int_equal(rb.lsr, 0); /* no SR yet */
    assert_int_equal(rb.dlsr, 0);
    assert_int_equal(s.last_interval_expected, 100);
    assert_int_equal(s.last_interval_lost, 24);
    assert_int_equal(s.last_fraction_lost, 61);
    /* Interval 2: nothing lost; the cumulative count stays. */
    for (uint16_t q = 1100; q < 1150; q++)
        feed(&s, q);
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 0, &rb), 0);
    assert_int_equal(rb.fraction_lost, 0);
    assert_int_equal(rb.cumulative_lost, 24);
    assert_int_equal(s.last_interval_expected, 50);
    /* Interval 3: no packets at all. */
    assert_true(odeon_rtp_recv_stats_interval_loss(&s, NULL, NULL) == 0.0);
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 0, &rb), 0);
    assert_int_equal(rb.fraction_lost, 0);
    assert_int_equal(s.last_interval_expected, 0);
    /* Interval 4: a burst of 10 lost, then one packet: 10 of 11. */
    feed(&s, 1160);
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 0, &rb), 0);
    assert_int_equal(rb.fraction_lost, 10 * 256 / 11);
    assert_int_equal(rb.cumulative_lost, 34);
    /* Interval 5: late packets of interval 4 arrive: more received than expected. */
    feed(&s, 1155);
    feed(&s, 1156);
    feed(&s, 1161);
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 0, &rb), 0);
    assert_int_equal(rb.fraction_lost, 0);
    assert_int_equal(s.last_interval_lost, -2);
    assert_int_equal(rb.cumulative_lost, 32);
}

static void test_jitter(void **state)
{
    (void)state;
    odeon_rtp_recv_stats s;
    /* Constant transit: no jitter whatever the delay. */
    start(&s, 1);
    for (uint16_t q = 2; q < 500; q++)
        feed(&s, q);
    assert_int_equal(odeon_rtp_recv_stats_jitter(&s), 0);

    /* 90 kHz, 20 ms apart, every other packet 2 ms late: |D| = 180 ticks for every packet, so
     * J converges to 180 (to 179 from below with the integer estimator's rounding). */
    odeon_rtp_recv_stats_init(&s, SSRC, 90000);
    uint32_t ts0 = 0xfffff000u; /* the timestamp wraps on the way */
    for (int i = 0; i < 400; i++) {
        int64_t at = 1000 * MS + i * 20 * MS + (i % 2 ? 2 * MS : 0);
        odeon_rtp_recv_stats_update(&s, (uint16_t)(7 + i), ts0 + (uint32_t)i * 1800, 1000, at);
    }
    assert_in_range(odeon_rtp_recv_stats_jitter(&s), 179, 180);

    /* Pseudo-random delays (LCG, 0..9999 us) at 48 kHz: the integer estimator tracks the
     * floating-point A.8 formula within a tick. */
    odeon_rtp_recv_stats_init(&s, SSRC, 48000);
    uint32_t rng = 12345;
    double j = 0, prev_transit = 0;
    for (int i = 0; i < 2000; i++) {
        rng = rng * 1103515245u + 12345u;
        int64_t delay = (rng >> 8) % 10000;
        int64_t at = i * 20 * MS + delay;
        uint32_t ts = (uint32_t)i * 960;
        odeon_rtp_recv_stats_update(&s, (uint16_t)i, ts, 100, at);
        /* ticks as the module computes them: arrival rounded down to the clock */
        double transit = (double)(at * 48000 / 1000000) - ts;
        if (i >= 2) {
            double d = transit - prev_transit;
            j += ((d < 0 ? -d : d) - j) / 16.0;
        }
        prev_transit = transit;
    }
    assert_true(j > 50); /* uniform 0..10 ms: E|D| = 10/3 ms = 160 ticks at 48 kHz */
    assert_in_range(odeon_rtp_recv_stats_jitter(&s), (uint32_t)j - 1, (uint32_t)j + 1);

    /* A reordered or retransmitted packet does not feed the jitter. */
    uint32_t before = odeon_rtp_recv_stats_jitter(&s);
    odeon_rtp_recv_stats_update(&s, 1990, 1990 * 960, 100, 2000 * 20 * MS + 500 * MS);
    assert_int_equal(odeon_rtp_recv_stats_jitter(&s), before);

    /* clock_rate 0: no jitter at all. */
    odeon_rtp_recv_stats_init(&s, SSRC, 0);
    for (int i = 0; i < 10; i++)
        odeon_rtp_recv_stats_update(&s, (uint16_t)i, 0, 1, i * 7919);
    assert_int_equal(odeon_rtp_recv_stats_jitter(&s), 0);
}

static void test_lsr_dlsr(void **state)
{
    (void)state;
    odeon_rtp_recv_stats s;
    odeon_rtcp_report_block rb;
    start(&s, 1);
    odeon_rtp_recv_stats_sr_received(&s, 0x123456789abcdef0ull, 4242, 1000 * MS);
    assert_true(s.have_sr);
    assert_int_equal(s.sr_rtp_ts, 4242);
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 1500 * MS, &rb), 0);
    assert_int_equal(rb.lsr, 0x56789abc);
    assert_int_equal(rb.dlsr, 0x8000); /* 0.5 s in 1/65536 s */
    /* DLSR never goes negative. */
    assert_int_equal(odeon_rtp_recv_stats_report(&s, 900 * MS, &rb), 0);
    assert_int_equal(rb.dlsr, 0);
}

static void test_receiving(void **state)
{
    (void)state;
    odeon_rtp_recv_stats s;
    odeon_rtp_recv_stats_init(&s, SSRC, 48000);
    assert_false(odeon_rtp_recv_stats_receiving(&s, 0, 1000 * MS));
    odeon_rtp_recv_stats_update(&s, 1, 0, 10, 5000 * MS);
    /* Even a packet on probation shows that media flows. */
    assert_true(odeon_rtp_recv_stats_receiving(&s, 5000 * MS, 1000 * MS));
    assert_true(odeon_rtp_recv_stats_receiving(&s, 6000 * MS, 1000 * MS));
    assert_false(odeon_rtp_recv_stats_receiving(&s, 6000 * MS + 1, 1000 * MS));
    assert_int_equal(s.last_packet_us, 5000 * MS);
}

static void test_sender_info(void **state)
{
    (void)state;
    odeon_rtp_send_stats s;
    odeon_rtcp_sender_info si;
    uint8_t buf[128];
    odeon_rtp_send_stats_init(&s, SSRC, 48000);
    assert_int_equal(odeon_rtp_send_stats_sender_info(&s, 0, 0, &si), ODEON_ENOENT);
    assert_int_equal(odeon_rtp_send_stats_build_sr(&s, 0, 0, buf, sizeof(buf), NULL, 0),
                     ODEON_ENOENT);
    odeon_rtp_send_stats_sent(&s, 0xffffff00u, 160, 100 * MS);
    odeon_rtp_send_stats_sent(&s, 0xffffff00u + 960, 150, 120 * MS);
    /* 1 s later at 48 kHz: +48000 ticks, across the 32-bit wrap. */
    assert_int_equal(odeon_rtp_send_stats_sender_info(&s, 1120 * MS, 1500 * MS, &si), 0);
    assert_int_equal(si.rtp_ts, (uint32_t)(0xffffff00u + 960 + 48000));
    assert_true(si.ntp == NTP_1970 + (1ull << 32) + 0x80000000u);
    assert_int_equal(si.packet_count, 2);
    assert_int_equal(si.octet_count, 310);
    /* Counts wrap on the wire. */
    s.octets = 0x100000005ull;
    assert_int_equal(odeon_rtp_send_stats_sender_info(&s, 120 * MS, 0, &si), 0);
    assert_int_equal(si.octet_count, 5);
    assert_int_equal(si.rtp_ts, 0xffffff00u + 960);
    assert_int_equal(odeon_rtp_send_stats_build_sr(&s, 0, 0, buf, 10, NULL, 0), ODEON_ENOMEM);
}

/* Field by field: the struct has padding after fraction_lost. */
static void assert_block_equal(const odeon_rtcp_report_block *a, const odeon_rtcp_report_block *b)
{
    assert_int_equal(a->ssrc, b->ssrc);
    assert_int_equal(a->fraction_lost, b->fraction_lost);
    assert_int_equal(a->cumulative_lost, b->cumulative_lost);
    assert_int_equal(a->highest_seq, b->highest_seq);
    assert_int_equal(a->jitter, b->jitter);
    assert_int_equal(a->lsr, b->lsr);
    assert_int_equal(a->dlsr, b->dlsr);
}

/* An SR from the send stats with a block from the receive stats, then an RR, both read back. */
static void test_sr_rr_round_trip(void **state)
{
    (void)state;
    odeon_rtp_send_stats tx;
    odeon_rtp_recv_stats rx;
    odeon_rtcp_report_block rb, got;
    uint8_t buf[256];
    int64_t wall = 1795564800ll * 1000000 + 250 * MS;
    odeon_rtp_send_stats_init(&tx, 0xaabbccdd, 90000);
    for (uint32_t i = 0; i < 10; i++)
        odeon_rtp_send_stats_sent(&tx, 1000 + i * 3000, 1000 + i, i * 33 * MS);
    start(&rx, 500);
    for (uint16_t q = 501; q < 600; q++)
        if (q != 550)
            feed(&rx, q);
    odeon_rtp_recv_stats_sr_received(&rx, odeon_rtp_stats_ntp_from_unix_us(wall), 77, 0);
    assert_int_equal(odeon_rtp_recv_stats_report(&rx, 2000 * MS, &rb), 0);

    int len =
        odeon_rtp_send_stats_build_sr(&tx, 9 * 33 * MS + 10 * MS, wall, buf, sizeof(buf), &rb, 1);
    assert_int_equal(len, 52);
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_report rep;
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_report(&h, &rep), 0);
    assert_true(rep.is_sr);
    assert_int_equal(rep.ssrc, 0xaabbccdd);
    assert_true(rep.sender.ntp == odeon_rtp_stats_ntp_from_unix_us(wall));
    assert_int_equal(rep.sender.rtp_ts, 1000 + 9 * 3000 + 900); /* 10 ms at 90 kHz */
    assert_int_equal(rep.sender.packet_count, 10);
    assert_int_equal(rep.sender.octet_count, 10045);
    assert_int_equal(rep.block_count, 1);
    assert_int_equal(odeon_rtcp_report_block_at(&rep, 0, &got), 0);
    assert_block_equal(&got, &rb);
    assert_int_equal(got.ssrc, SSRC);
    assert_int_equal(got.fraction_lost, 256 / 100);
    assert_int_equal(got.cumulative_lost, 1);
    assert_int_equal(got.highest_seq, 599);
    assert_int_equal(got.lsr, odeon_rtp_stats_ntp_compact(odeon_rtp_stats_ntp_from_unix_us(wall)));
    assert_int_equal(got.dlsr, 2 * 65536);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 0);

    /* The same block in an RR. */
    len = odeon_rtcp_build_rr(buf, sizeof(buf), 0x01020304, &rb, 1);
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_report(&h, &rep), 0);
    assert_false(rep.is_sr);
    assert_int_equal(odeon_rtcp_report_block_at(&rep, 0, &got), 0);
    assert_block_equal(&got, &rb);
}

/* Sender at wall clock W sends an SR; the receiver holds it 50 ms before reporting; the RR
 * arrives back 80 ms of network time later: the RTT is 80 ms. */
static void test_rtt(void **state)
{
    (void)state;
    int64_t w = 1795564800ll * 1000000 + 123456;
    odeon_rtp_recv_stats rx;
    odeon_rtcp_report_block rb;
    int64_t rtt = -1;
    start(&rx, 1);
    /* The receiver's clock is its own monotonic one: 40 ms one way. */
    int64_t rx_now = 777 * MS;
    odeon_rtp_recv_stats_sr_received(&rx, odeon_rtp_stats_ntp_from_unix_us(w), 0, rx_now);
    assert_int_equal(odeon_rtp_recv_stats_report(&rx, rx_now + 50 * MS, &rb), 0);
    assert_int_equal(odeon_rtp_stats_rtt(&rb, w + 40 * MS + 50 * MS + 40 * MS, &rtt), 0);
    /* compact NTP has 15.26 us resolution, rounded at three places */
    assert_in_range(rtt, 80 * MS - 46, 80 * MS + 46);

    /* No SR seen by the peer. */
    odeon_rtcp_report_block none = {.ssrc = 1};
    assert_int_equal(odeon_rtp_stats_rtt(&none, w, &rtt), ODEON_ENOENT);
    /* A DLSR longer than the time since the SR: a bogus block. */
    odeon_rtcp_report_block bogus = rb;
    bogus.dlsr = odeon_rtp_stats_compact_from_us(500 * MS);
    assert_int_equal(odeon_rtp_stats_rtt(&bogus, w + 140 * MS, &rtt), ODEON_EINVAL);
    /* A near-zero RTT rounded below zero reads as 0. */
    odeon_rtcp_report_block lan = rb;
    lan.dlsr = odeon_rtp_stats_compact_from_us(100 * MS) + 2;
    assert_int_equal(odeon_rtp_stats_rtt(&lan, w + 100 * MS, &rtt), 0);
    assert_int_equal(rtt, 0);
    /* LSR/DLSR arithmetic is modulo 2^32 (compact NTP wraps every 18 hours). */
    uint64_t lsr_ntp = ((uint64_t)0xe234ffffu << 32) + 0x80000000u;
    uint64_t now_ntp = ((uint64_t)0xe2350000u << 32) + 0x80000000u;
    odeon_rtcp_report_block wrap = {.lsr = odeon_rtp_stats_ntp_compact(lsr_ntp), .dlsr = 0x4000};
    assert_int_equal(wrap.lsr, 0xffff8000u);
    assert_int_equal(odeon_rtp_stats_rtt(&wrap, odeon_rtp_stats_ntp_to_unix_us(now_ntp), &rtt), 0);
    assert_in_range(rtt, 750 * MS - 16, 750 * MS + 16); /* 1 s - 0.25 s across the wrap */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ntp),           cmocka_unit_test(test_probation),
        cmocka_unit_test(test_wraparound),    cmocka_unit_test(test_reordering),
        cmocka_unit_test(test_duplicate),     cmocka_unit_test(test_restart),
        cmocka_unit_test(test_loss_fraction), cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_lsr_dlsr),      cmocka_unit_test(test_receiving),
        cmocka_unit_test(test_sender_info),   cmocka_unit_test(test_sr_rr_round_trip),
        cmocka_unit_test(test_rtt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
