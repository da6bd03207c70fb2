/*
 * test_twcc.c - transport-wide feedback (src/webrtc/twcc.c): two packets worked out by hand
 * from draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1 (a two-bit status vector with
 * small and large deltas and two bytes of padding; a one-packet run); recorder -> builder ->
 * rtcp.h parser -> feedback iterator round trips with losses, reordering, negative and large
 * deltas, deltas too large for 16 bits, sequence wraparound, gaps longer than the ring, late
 * arrivals after their feedback, and splitting at a maximum size; malformed feedback rejected.
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
#include "webrtc/twcc.h"

#define MS 1000

static const uint8_t hand_a[] = {
    0xaf, 0xcd, 0x00, 0x06, /* V=2 P=1 FMT=15, PT=205, length 6 (28 bytes) */
    0x01, 0x02, 0x03, 0x04, /* sender SSRC */
    0x05, 0x06, 0x07, 0x08, /* media SSRC */
    0x00, 0x64, 0x00, 0x04, /* base 100, status count 4 */
    0x00, 0x00, 0x02, 0x00, /* reference time 2 (128 ms), fb count 0 */
    0xd4, 0x80,             /* vector, 2-bit: 01 01 00 10 00 00 00 */
    0x04, 0x02, 0x01, 0x40, /* deltas 4, 2 (small), 320 (large) */
    0x00, 0x02,             /* padding: 2 bytes, count in the last */
};

static const uint8_t hand_b[] = {
    0xaf, 0xcd, 0x00, 0x05, /* 24 bytes */
    0x01, 0x02, 0x03, 0x04, /* sender SSRC */
    0x05, 0x06, 0x07, 0x08, /* media SSRC */
    0x00, 0x68, 0x00, 0x01, /* base 104, one status */
    0x00, 0x00, 0x03, 0x01, /* reference time 3 (192 ms), fb count 1 */
    0x20, 0x01,             /* run: symbol 01 (small delta), length 1 */
    0x42,                   /* 208500 us = 834 ticks; 834 - 3 * 256 = 66 */
    0x01,                   /* padding: 1 byte */
};

static void test_hand_built(void **state)
{
    (void)state;
    uint8_t buf[64];
    odeon_twcc_recorder *r = odeon_twcc_recorder_new(16, 0x01020304, 0x05060708, NULL);
    assert_non_null(r);
    assert_false(odeon_twcc_recorder_pending(r));
    assert_int_equal(odeon_twcc_recorder_build(r, buf, sizeof(buf)), 0);
    /* 100 at 129 ms: reference 128 ms (2 x 64), delta 1 ms = 4 ticks; 101 0.5 ms later: 2
     * ticks; 102 lost; 103 80 ms after 101: 320 ticks, too many for one byte. */
    assert_int_equal(odeon_twcc_recorder_record(r, 100, 129000), 0);
    assert_int_equal(odeon_twcc_recorder_record(r, 101, 129500), 0);
    assert_int_equal(odeon_twcc_recorder_record(r, 103, 209500), 0);
    assert_true(odeon_twcc_recorder_pending(r));
    assert_int_equal(odeon_twcc_recorder_build(r, buf, sizeof(buf)), sizeof(hand_a));
    assert_memory_equal(buf, hand_a, sizeof(hand_a));
    assert_false(odeon_twcc_recorder_pending(r));
    assert_int_equal(odeon_twcc_recorder_build(r, buf, sizeof(buf)), 0);
    assert_int_equal(odeon_twcc_recorder_record(r, 104, 208500), 0);
    assert_int_equal(odeon_twcc_recorder_build(r, buf, sizeof(buf)), sizeof(hand_b));
    assert_memory_equal(buf, hand_b, sizeof(hand_b));

    /* And the parser reads hand_a back. */
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_twcc fb;
    odeon_twcc_iter ti;
    odeon_twcc_status st;
    odeon_rtcp_iter_init(&it, hand_a, sizeof(hand_a));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_twcc(&h, &fb), 0);
    assert_int_equal(odeon_twcc_iter_init(&ti, &fb), 0);
    const struct {
        uint16_t seq;
        uint8_t symbol;
        int64_t delta_us, arrival_us;
    } want[] = {
        {100, ODEON_TWCC_SMALL_DELTA, 1000, 129000},
        {101, ODEON_TWCC_SMALL_DELTA, 500, 129500},
        {102, ODEON_TWCC_NOT_RECEIVED, 0, 0},
        {103, ODEON_TWCC_LARGE_DELTA, 80000, 209500},
    };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(odeon_twcc_iter_next(&ti, &st), 1);
        assert_int_equal(st.seq, want[i].seq);
        assert_int_equal(st.symbol, want[i].symbol);
        assert_int_equal(st.received, want[i].symbol != ODEON_TWCC_NOT_RECEIVED);
        assert_int_equal(st.delta_us, want[i].delta_us);
        assert_int_equal(st.arrival_us, want[i].arrival_us);
    }
    assert_int_equal(odeon_twcc_iter_next(&ti, &st), 0);
    odeon_twcc_recorder_free(r);
}

/* The feedback in test_rtcp.c's compound: reference time -1, a run of three small deltas. */
static void test_parse_negative_reference(void **state)
{
    (void)state;
    static const uint8_t pkt[] = {
        0xaf, 0xcd, 0x00, 0x06, 0x00, 0x00, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44, 0x00, 0x0a,
        0x00, 0x03, 0xff, 0xff, 0xff, 0x07, 0x20, 0x03, 0x04, 0x04, 0x04, 0x00, 0x00, 0x03,
    };
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_twcc fb;
    odeon_twcc_iter ti;
    odeon_twcc_status st;
    odeon_rtcp_iter_init(&it, pkt, sizeof(pkt));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_twcc(&h, &fb), 0);
    assert_int_equal(odeon_twcc_iter_init(&ti, &fb), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(odeon_twcc_iter_next(&ti, &st), 1);
        assert_int_equal(st.seq, 10 + i);
        assert_int_equal(st.delta_us, 1000);
        assert_int_equal(st.arrival_us, -64000 + (i + 1) * 1000);
    }
    assert_int_equal(odeon_twcc_iter_next(&ti, &st), 0);
}

/* ---- round trips -------------------------------------------------------------------------- */

/* What each 16-bit sequence number should be reported as, and what it was. */
typedef struct expect {
    bool recorded;
    int64_t arrival_us;
    bool got_received;
    bool got_lost;
} expect;

typedef struct trip {
    odeon_twcc_recorder *r;
    expect e[65536];
    int packets;
    uint8_t next_fb_count;
    int64_t last_ref;
} trip;

static trip *trip_new(size_t capacity)
{
    trip *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->r = odeon_twcc_recorder_new(capacity, 1, 2, NULL);
    assert_non_null(t->r);
    return t;
}

static void trip_free(trip *t)
{
    odeon_twcc_recorder_free(t->r);
    free(t);
}

static void record(trip *t, uint16_t seq, int64_t at)
{
    assert_int_equal(odeon_twcc_recorder_record(t->r, seq, at), 0);
    t->e[seq].recorded = true;
    t->e[seq].arrival_us = at;
}

/* Checks one feedback packet against what was recorded; returns its status count. */
static unsigned check_packet(trip *t, const uint8_t *buf, size_t len)
{
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_twcc fb;
    odeon_twcc_iter ti;
    odeon_twcc_status st;
    assert_int_equal(len % 4, 0);
    odeon_rtcp_iter_init(&it, buf, len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(h.len, len);
    assert_int_equal(odeon_rtcp_parse_twcc(&h, &fb), 0);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 0);
    assert_int_equal(fb.sender_ssrc, 1);
    assert_int_equal(fb.media_ssrc, 2);
    assert_int_equal(fb.fb_count, t->next_fb_count);
    t->next_fb_count++;
    assert_int_equal(odeon_twcc_iter_init(&ti, &fb), 0);
    unsigned n = 0;
    int r;
    while ((r = odeon_twcc_iter_next(&ti, &st)) == 1) {
        expect *e = &t->e[st.seq];
        assert_int_equal(st.seq, (uint16_t)(fb.base_seq + n));
        if (st.received) {
            assert_true(e->recorded);
            /* arrival rounded down to 250 us, never accumulating */
            assert_int_equal(st.arrival_us, e->arrival_us - e->arrival_us % 250);
            e->got_received = true;
        } else {
            e->got_lost = true;
        }
        n++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(n, fb.status_count);
    t->packets++;
    return n;
}

/* Builds feedback until nothing is pending, each at most max_size bytes. */
static void drain(trip *t, size_t max_size)
{
    uint8_t buf[2048];
    assert_true(max_size <= sizeof(buf));
    int len;
    while ((len = odeon_twcc_recorder_build(t->r, buf, max_size)) > 0) {
        assert_true((size_t)len <= max_size);
        check_packet(t, buf, (size_t)len);
    }
    assert_int_equal(len, 0);
    assert_false(odeon_twcc_recorder_pending(t->r));
}

/* Every recorded number between first and last (inclusive, modulo 2^16) was reported
 * received, every other one lost and never received. */
static void check_all(trip *t, uint16_t first, uint16_t last)
{
    for (uint16_t s = first;; s++) {
        expect *e = &t->e[s];
        if (e->recorded) {
            assert_true(e->got_received);
        } else {
            assert_true(e->got_lost);
            assert_false(e->got_received);
        }
        if (s == last)
            break;
    }
}

static void test_losses(void **state)
{
    (void)state;
    trip *t = trip_new(1024);
    for (int i = 0; i < 300; i++)
        if (i % 7 != 3 && !(i >= 50 && i < 90)) /* scattered losses and a burst */
            record(t, (uint16_t)(1000 + i), 5000 * MS + i * 1250);
    drain(t, 1200);
    assert_int_equal(t->packets, 1);
    check_all(t, 1000, 1299);
    trip_free(t);
}

static void test_reordering_negative_deltas(void **state)
{
    (void)state;
    trip *t = trip_new(1024);
    /* Pairs swapped on the way: 1 0 3 2 5 4 ..., arriving 2 ms apart, so every other delta in
     * sequence order is negative. */
    for (int i = 0; i < 100; i++)
        record(t, (uint16_t)(i ^ 1), 70 * MS + i * 2 * MS);
    drain(t, 1200);
    check_all(t, 0, 99);
    /* One packet much earlier than the others: a large negative delta. */
    record(t, 101, 900 * MS);
    record(t, 100, 800 * MS);
    record(t, 102, 200 * MS);
    drain(t, 1200);
    check_all(t, 100, 102);
    trip_free(t);
}

static void test_wraparound(void **state)
{
    (void)state;
    trip *t = trip_new(256);
    for (int i = 0; i < 200; i++)
        if (i != 36 && i != 37)
            record(t, (uint16_t)(65500 + i), 1000 * MS + i * 500);
    drain(t, 1200);
    check_all(t, 65500, (uint16_t)(65500 + 199));
    trip_free(t);
}

static void test_large_deltas(void **state)
{
    (void)state;
    trip *t = trip_new(1024);
    /* 100 ms apart: every delta is large (400 ticks). */
    for (int i = 0; i < 20; i++)
        record(t, (uint16_t)i, i * 100 * MS);
    /* Then 8191.75 ms, which fits in 16 bits; 8192 ms, which does not and so starts a new
     * feedback with its own reference time; -8192 ms, which fits; a minute, which does not. */
    int64_t at = 19 * 100 * MS + 8191750;
    record(t, 20, at);
    record(t, 21, at + 8192 * MS);
    record(t, 22, at);
    record(t, 23, at + 68192 * MS);
    drain(t, 1200);
    assert_int_equal(t->packets, 3); /* [0..20], [21, 22], [23] */
    check_all(t, 0, 23);
    trip_free(t);
}

static void test_gaps(void **state)
{
    (void)state;
    trip *t = trip_new(16384);
    /* A gap of 9000 numbers: two run-length chunks of zeros (8191 each at most). */
    record(t, 10, 0);
    record(t, 9010, 1 * MS);
    drain(t, 1200);
    assert_int_equal(t->packets, 1);
    check_all(t, 10, 9010);
    trip_free(t);

    /* A jump further than the ring: the numbers it no longer holds are not reported. */
    t = trip_new(16);
    record(t, 1, 0);
    record(t, 2, 1 * MS);
    record(t, 100, 2 * MS);
    uint8_t buf[256];
    int len = odeon_twcc_recorder_build(t->r, buf, sizeof(buf));
    assert_true(len > 0);
    assert_int_equal(check_packet(t, buf, (size_t)len), 16);
    check_all(t, 85, 100);
    assert_false(t->e[2].got_received);
    /* Older than the ring remembers; a duplicate. */
    assert_int_equal(odeon_twcc_recorder_record(t->r, 84, 3 * MS), ODEON_EGONE);
    assert_int_equal(odeon_twcc_recorder_record(t->r, 100, 3 * MS), ODEON_EEXIST);
    assert_false(odeon_twcc_recorder_pending(t->r));
    trip_free(t);
}

static void test_late_arrival(void **state)
{
    (void)state;
    trip *t = trip_new(64);
    record(t, 1, 10 * MS);
    record(t, 2, 11 * MS);
    record(t, 4, 12 * MS);
    drain(t, 1200);
    assert_true(t->e[3].got_lost);
    /* 3 arrives after the feedback that reported it lost: the next one starts from it. */
    record(t, 3, 13 * MS);
    record(t, 5, 14 * MS);
    uint8_t buf[256];
    int len = odeon_twcc_recorder_build(t->r, buf, sizeof(buf));
    assert_int_equal(check_packet(t, buf, (size_t)len), 3); /* 3, 4 (again), 5 */
    assert_true(t->e[3].got_received);
    trip_free(t);
}

static void test_max_size_split(void **state)
{
    (void)state;
    trip *t = trip_new(4096);
    /* Irregular losses and deltas, so the chunks are vectors and the deltas mixed. */
    uint32_t rng = 7;
    int64_t at = 1000 * MS;
    for (int i = 0; i < 3000; i++) {
        rng = rng * 1103515245u + 12345u;
        at += (rng >> 16) % 3 == 0 ? 70 * MS : 300;
        if (i == 0 || (rng >> 20) % 5 != 0)
            record(t, (uint16_t)(40000 + i), at);
    }
    record(t, 43000, at + 1); /* losses after the last arrival are not known yet */
    drain(t, 100);
    assert_true(t->packets > 10);
    check_all(t, 40000, 43000);

    /* The smallest size: one chunk and at most one 2-byte delta per packet. */
    trip_free(t);
    t = trip_new(64);
    for (int i = 0; i < 40; i++)
        record(t, (uint16_t)i, i * 40 * MS);
    uint8_t buf[64];
    assert_int_equal(odeon_twcc_recorder_build(t->r, buf, ODEON_TWCC_MIN_PACKET - 1), ODEON_ENOMEM);
    assert_int_equal(odeon_twcc_recorder_build(t->r, NULL, 100), ODEON_EINVAL);
    drain(t, ODEON_TWCC_MIN_PACKET);
    check_all(t, 0, 39);
    trip_free(t);
}

/* Vectors with two-bit symbols after one-bit ones, long runs of received packets broken up,
 * runs longer than a vector: every pattern of a small alphabet decodes back. */
static void test_chunk_patterns(void **state)
{
    (void)state;
    trip *t = trip_new(32768);
    uint16_t seq = 0;
    int64_t at = 0;
    const char *patterns[] = {
        "sssssssssssssssssssssssssssssss",
        "s.s.s.s.s.s.s.s.s.s.s.s.s.s.s",
        "ssssssssssssssL",
        "s.s.s.s.s.s.s.s.s.s.s.s.sL",
        "LLLLLLLLLLLLLLLLLLLL",
        "L.L.L.L.L.L.L.L",
        "...........s",
        "sL",
        "s.....................................L",
        "sssssssssssssss.",
        "Ls.............",
    };
    for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
        for (const char *c = patterns[p]; *c; c++, seq++) {
            at += *c == 'L' ? 100 * MS : 1 * MS;
            if (*c != '.')
                record(t, seq, at);
        }
        seq += 3; /* a small gap between patterns */
    }
    record(t, seq, at + 1);
    drain(t, 1200);
    check_all(t, 0, seq);
    trip_free(t);
}

/* ---- malformed feedback ------------------------------------------------------------------- */

static int iter_init_raw(const uint8_t *fci_tail, size_t n, uint16_t count)
{
    uint8_t chunks[64];
    memcpy(chunks, fci_tail, n);
    odeon_rtcp_twcc fb = {.base_seq = 1, .status_count = count, .chunks = chunks, .chunks_len = n};
    odeon_twcc_iter ti;
    return odeon_twcc_iter_init(&ti, &fb);
}

static void test_malformed(void **state)
{
    (void)state;
    const uint8_t run_small3[] = {0x20, 0x03, 4, 4, 4};
    assert_int_equal(iter_init_raw(run_small3, 5, 3), 0);
    assert_int_equal(iter_init_raw(run_small3, 4, 3), ODEON_EINVAL); /* a delta missing */
    assert_int_equal(iter_init_raw(run_small3, 5, 4), ODEON_EINVAL); /* no chunk for #4 */
    assert_int_equal(iter_init_raw(run_small3, 3, 1), 0);            /* a shorter count */
    const uint8_t reserved_run[] = {0x60, 0x01};
    assert_int_equal(iter_init_raw(reserved_run, 2, 1), ODEON_EINVAL);
    const uint8_t empty_run[] = {0x00, 0x00, 0x20, 0x01, 1};
    assert_int_equal(iter_init_raw(empty_run, 5, 1), ODEON_EINVAL);
    /* A two-bit vector with a reserved symbol in slot 2, used or not by the count. */
    const uint8_t reserved_vec[] = {0xd3, 0x00, 1, 1};
    assert_int_equal(iter_init_raw(reserved_vec, 4, 2), 0);
    assert_int_equal(iter_init_raw(reserved_vec, 4, 3), ODEON_EINVAL);
    /* A large delta cut in half. */
    const uint8_t large[] = {0x40, 0x01, 0x01};
    assert_int_equal(iter_init_raw(large, 3, 1), ODEON_EINVAL);
    /* A one-bit vector: 14 statuses, 7 received. */
    const uint8_t vec1[] = {0xaa, 0xaa, 1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(iter_init_raw(vec1, 9, 14), 0);
    assert_int_equal(iter_init_raw(vec1, 8, 14), ODEON_EINVAL);
    /* Count 0: nothing to read, nothing to check. */
    assert_int_equal(iter_init_raw(vec1, 0, 0), 0);
    assert_int_equal(odeon_twcc_iter_init(NULL, NULL), ODEON_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_built),     cmocka_unit_test(test_parse_negative_reference),
        cmocka_unit_test(test_losses),         cmocka_unit_test(test_reordering_negative_deltas),
        cmocka_unit_test(test_wraparound),     cmocka_unit_test(test_large_deltas),
        cmocka_unit_test(test_gaps),           cmocka_unit_test(test_late_arrival),
        cmocka_unit_test(test_max_size_split), cmocka_unit_test(test_chunk_patterns),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
