/*
 * test_nack.c - the retransmission buffer and the loss tracker (src/webrtc/nack.c), driven
 * step by step with explicit timestamps: insert/lookup, stale slots, 16-bit wraparound, the
 * age limit, out-of-order inserts; gaps, reordering, wraparound at 65535, retry spacing and
 * limits, age limits and the missing-list cap that asks for a keyframe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/plugin.h"
#include "webrtc/nack.h"

#define MS 1000

/* A packet whose bytes identify its sequence number. */
static size_t make_packet(uint8_t *p, uint16_t seq)
{
    size_t len = 12 + (seq % 7);
    memset(p, 0, len);
    p[0] = 0x80;
    p[2] = (uint8_t)(seq >> 8);
    p[3] = (uint8_t)seq;
    p[len - 1] = (uint8_t)(seq * 31);
    return len;
}

static void insert(odeon_nack_buffer *b, uint16_t seq, int64_t now)
{
    uint8_t p[64];
    size_t len = make_packet(p, seq);
    assert_int_equal(odeon_nack_buffer_insert(b, seq, p, len, now), 0);
}

static void assert_stored(odeon_nack_buffer *b, uint16_t seq, int64_t now)
{
    uint8_t want[64];
    size_t want_len = make_packet(want, seq);
    const uint8_t *pkt = NULL;
    size_t len = 0;
    assert_int_equal(odeon_nack_buffer_lookup(b, seq, now, &pkt, &len), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(pkt, want, len);
}

static int lookup(odeon_nack_buffer *b, uint16_t seq, int64_t now)
{
    const uint8_t *pkt;
    size_t len;
    return odeon_nack_buffer_lookup(b, seq, now, &pkt, &len);
}

static void test_buffer_new_args(void **state)
{
    (void)state;
    const char *err = NULL;
    assert_null(odeon_nack_buffer_new(100, 1500, 1000, &err));
    assert_non_null(err);
    err = NULL;
    assert_null(odeon_nack_buffer_new(8, 1500, 1000, &err));
    assert_non_null(err);
    assert_null(odeon_nack_buffer_new(512, 0, 1000, NULL));
    assert_null(odeon_nack_buffer_new(512, 70000, 1000, NULL));
    assert_null(odeon_nack_buffer_new(512, 1500, 0, NULL));
    odeon_nack_buffer *b = odeon_nack_buffer_new(512, 1500, 1000 * MS, &err);
    assert_non_null(b);
    assert_int_equal(lookup(b, 0, 0), ODEON_ENOENT);
    odeon_nack_buffer_free(b);
    odeon_nack_buffer_free(NULL);
}

static void test_buffer_insert_lookup(void **state)
{
    (void)state;
    odeon_nack_buffer *b = odeon_nack_buffer_new(512, 1500, 1000 * MS, NULL);
    for (uint16_t s = 100; s < 110; s++)
        insert(b, s, s * MS);
    for (uint16_t s = 100; s < 110; s++)
        assert_stored(b, s, 200 * MS);
    assert_int_equal(lookup(b, 110, 200 * MS), ODEON_ENOENT); /* not sent yet */
    assert_int_equal(lookup(b, 99, 200 * MS), ODEON_ENOENT);  /* never stored */
    uint8_t big[1501] = {0};
    assert_int_equal(odeon_nack_buffer_insert(b, 110, big, sizeof(big), 0), ODEON_EINVAL);
    assert_int_equal(odeon_nack_buffer_insert(b, 110, big, 0, 0), ODEON_EINVAL);
    assert_int_equal(odeon_nack_buffer_insert(b, 110, big, 1500, 0), 0);
    odeon_nack_buffer_reset(b);
    assert_int_equal(lookup(b, 105, 200 * MS), ODEON_ENOENT);
    insert(b, 7, 0); /* a fresh start after a reset is accepted at any number */
    assert_stored(b, 7, 0);
    odeon_nack_buffer_free(b);
}

static void test_buffer_stale_slots(void **state)
{
    (void)state;
    odeon_nack_buffer *b = odeon_nack_buffer_new(16, 1500, 1000 * MS, NULL);
    for (uint16_t s = 0; s < 16; s++)
        insert(b, s, 0);
    insert(b, 40, 0); /* slot 8 now holds 40 */
    assert_int_equal(lookup(b, 8, 0), ODEON_ENOENT);
    assert_int_equal(lookup(b, 24, 0), ODEON_ENOENT);
    assert_stored(b, 40, 0);
    /* Slot 9 still holds 9, which is the right packet; 9 + 16 = 25 must not return it. */
    assert_stored(b, 9, 0);
    assert_int_equal(lookup(b, 25, 0), ODEON_ENOENT);
    /* Filling a whole ring further evicts everything older. */
    for (uint16_t s = 41; s < 57; s++)
        insert(b, s, 0);
    for (uint16_t s = 0; s < 41; s++)
        assert_int_equal(lookup(b, s, 0), ODEON_ENOENT);
    for (uint16_t s = 41; s < 57; s++)
        assert_stored(b, s, 0);
    odeon_nack_buffer_free(b);
}

static void test_buffer_wraparound(void **state)
{
    (void)state;
    odeon_nack_buffer *b = odeon_nack_buffer_new(32, 1500, 1000 * MS, NULL);
    uint16_t s = 65520;
    for (int i = 0; i < 40; i++, s++)
        insert(b, s, 0);
    /* s is now 24: stored are 65528..65535 and 0..23 */
    for (uint16_t q = 65528; q != 24; q++)
        assert_stored(b, q, 0);
    assert_int_equal(lookup(b, 65527, 0), ODEON_ENOENT);
    assert_int_equal(lookup(b, 24, 0), ODEON_ENOENT);
    /* 65520 was stored in slot 16, which now holds 16 (= 65520 + 32 after the wrap). */
    assert_int_equal(lookup(b, 65520, 0), ODEON_ENOENT);
    odeon_nack_buffer_free(b);
}

static void test_buffer_age(void **state)
{
    (void)state;
    odeon_nack_buffer *b = odeon_nack_buffer_new(512, 1500, 1000 * MS, NULL);
    insert(b, 1, 0);
    insert(b, 2, 500 * MS);
    assert_stored(b, 1, 1000 * MS);
    assert_int_equal(lookup(b, 1, 1000 * MS + 1), ODEON_EGONE);
    assert_stored(b, 2, 1500 * MS);
    assert_int_equal(lookup(b, 2, 1500 * MS + 1), ODEON_EGONE);
    odeon_nack_buffer_free(b);
}

static void test_buffer_out_of_order(void **state)
{
    (void)state;
    odeon_nack_buffer *b = odeon_nack_buffer_new(16, 1500, 1000 * MS, NULL);
    insert(b, 10, 0);
    insert(b, 12, 0);
    insert(b, 11, 0);
    assert_stored(b, 10, 0);
    assert_stored(b, 11, 0);
    assert_stored(b, 12, 0);
    for (uint16_t s = 13; s <= 20; s++)
        insert(b, s, 0);
    /* Slot 4 holds 20: the older 4 must not evict it. */
    uint8_t p[64];
    size_t len = make_packet(p, 4);
    assert_int_equal(odeon_nack_buffer_insert(b, 4, p, len, 0), ODEON_EEXIST);
    assert_stored(b, 20, 0);
    /* Re-storing the same packet (a resend) is fine. */
    insert(b, 20, 0);
    assert_stored(b, 20, 0);
    odeon_nack_buffer_free(b);
}

/* ---- tracker ---- */

static odeon_nack_tracker *tracker(unsigned retries, size_t max_missing)
{
    odeon_nack_tracker_config cfg;
    odeon_nack_tracker_config_default(&cfg);
    cfg.max_retries = retries;
    cfg.max_missing = max_missing;
    odeon_nack_tracker *t = odeon_nack_tracker_new(&cfg, NULL);
    assert_non_null(t);
    return t;
}

static size_t poll_at(odeon_nack_tracker *t, int64_t now, uint16_t *out)
{
    return odeon_nack_tracker_poll(t, now, out, 64);
}

static void test_tracker_new_args(void **state)
{
    (void)state;
    odeon_nack_tracker_config cfg;
    odeon_nack_tracker_config_default(&cfg);
    assert_int_equal(cfg.max_missing, 1000);
    const char *err = NULL;
    cfg.max_missing = 0;
    assert_null(odeon_nack_tracker_new(&cfg, &err));
    assert_non_null(err);
    odeon_nack_tracker_config_default(&cfg);
    cfg.max_retries = 0;
    assert_null(odeon_nack_tracker_new(&cfg, NULL));
    odeon_nack_tracker *t = odeon_nack_tracker_new(NULL, NULL);
    assert_non_null(t);
    odeon_nack_tracker_free(t);
    odeon_nack_tracker_free(NULL);
}

static void test_tracker_in_order(void **state)
{
    (void)state;
    odeon_nack_tracker *t = tracker(10, 1000);
    uint16_t out[64];
    for (uint16_t s = 0; s < 100; s++)
        odeon_nack_tracker_received(t, s, s * MS);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 0);
    assert_int_equal(poll_at(t, 100 * MS, out), 0);
    odeon_nack_tracker_received(t, 50, 100 * MS); /* an old duplicate changes nothing */
    odeon_nack_tracker_received(t, 99, 100 * MS);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 0);
    assert_false(odeon_nack_tracker_take_keyframe_request(t));
    odeon_nack_tracker_free(t);
}

static void test_tracker_gap_and_retry_spacing(void **state)
{
    (void)state;
    odeon_nack_tracker *t = tracker(10, 1000);
    odeon_nack_tracker_set_rtt(t, 50 * MS);
    uint16_t out[64];
    odeon_nack_tracker_received(t, 1, 0);
    odeon_nack_tracker_received(t, 2, 0);
    odeon_nack_tracker_received(t, 5, 0);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 2);
    assert_int_equal(poll_at(t, 0, out), 2);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 4);
    assert_int_equal(poll_at(t, 0, out), 0);
    assert_int_equal(poll_at(t, 49 * MS, out), 0);
    assert_int_equal(poll_at(t, 50 * MS, out), 2);
    odeon_nack_tracker_received(t, 3, 60 * MS); /* the retransmission arrives */
    assert_int_equal(odeon_nack_tracker_missing_count(t), 1);
    assert_int_equal(poll_at(t, 100 * MS, out), 1);
    assert_int_equal(out[0], 4);
    /* A tiny RTT is floored by min_interval_us (20 ms). */
    odeon_nack_tracker_set_rtt(t, 1 * MS);
    assert_int_equal(poll_at(t, 119 * MS, out), 0);
    assert_int_equal(poll_at(t, 120 * MS, out), 1);
    odeon_nack_tracker_free(t);
}

static void test_tracker_reordering(void **state)
{
    (void)state;
    odeon_nack_tracker_config cfg;
    odeon_nack_tracker_config_default(&cfg);
    cfg.reorder_delay_us = 10 * MS;
    odeon_nack_tracker *t = odeon_nack_tracker_new(&cfg, NULL);
    uint16_t out[64];
    odeon_nack_tracker_received(t, 10, 0);
    odeon_nack_tracker_received(t, 12, 0);
    odeon_nack_tracker_received(t, 11, 1 * MS); /* reordered, before any NACK */
    assert_int_equal(odeon_nack_tracker_missing_count(t), 0);
    assert_int_equal(poll_at(t, 20 * MS, out), 0);
    odeon_nack_tracker_received(t, 14, 20 * MS);
    assert_int_equal(poll_at(t, 29 * MS, out), 0); /* still inside the reorder delay */
    assert_int_equal(poll_at(t, 30 * MS, out), 1);
    assert_int_equal(out[0], 13);
    odeon_nack_tracker_free(t);
}

static void test_tracker_wraparound(void **state)
{
    (void)state;
    odeon_nack_tracker *t = tracker(10, 1000);
    uint16_t out[64];
    assert_int_equal(odeon_nack_tracker_received(t, 65533, 0), 0x10000u + 65533);
    odeon_nack_tracker_received(t, 65534, 0);
    assert_int_equal(odeon_nack_tracker_received(t, 1, 0), 0x20001u);
    assert_int_equal(odeon_nack_tracker_highest(t), 0x20001u);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 2);
    assert_int_equal(poll_at(t, 0, out), 2);
    assert_int_equal(out[0], 65535);
    assert_int_equal(out[1], 0);
    /* Late 65535 extends into the previous cycle and is removed. */
    assert_int_equal(odeon_nack_tracker_received(t, 65535, 1 * MS), 0x1FFFFu);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 1);
    /* A packet slightly older than the very first one still extends sensibly. */
    odeon_nack_tracker *u = tracker(10, 1000);
    odeon_nack_tracker_received(u, 2, 0);
    assert_int_equal(odeon_nack_tracker_received(u, 65530, 0), 0xFFFAu);
    assert_int_equal(odeon_nack_tracker_highest(u), 0x10002u);
    odeon_nack_tracker_free(u);
    odeon_nack_tracker_free(t);
}

static void test_tracker_retry_limit(void **state)
{
    (void)state;
    odeon_nack_tracker *t = tracker(3, 1000);
    odeon_nack_tracker_set_rtt(t, 100 * MS);
    uint16_t out[64];
    odeon_nack_tracker_received(t, 0, 0);
    odeon_nack_tracker_received(t, 2, 0);
    int sent = 0;
    for (int64_t now = 0; now < 1000 * MS; now += 10 * MS)
        sent += (int)poll_at(t, now, out);
    assert_int_equal(sent, 3);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 0);
    odeon_nack_tracker_free(t);
}

static void test_tracker_age_limits(void **state)
{
    (void)state;
    odeon_nack_tracker_config cfg;
    odeon_nack_tracker_config_default(&cfg);
    cfg.max_age_packets = 100;
    cfg.max_age_us = 500 * MS;
    odeon_nack_tracker *t = odeon_nack_tracker_new(&cfg, NULL);
    uint16_t out[64];
    /* By time. */
    odeon_nack_tracker_received(t, 0, 0);
    odeon_nack_tracker_received(t, 2, 0);
    assert_int_equal(poll_at(t, 500 * MS, out), 1);
    assert_int_equal(poll_at(t, 500 * MS + 1, out), 0);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 0);
    /* By distance behind the highest number. */
    odeon_nack_tracker_received(t, 4, 600 * MS);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 1);
    for (uint16_t s = 5; s <= 103; s++)
        odeon_nack_tracker_received(t, s, 600 * MS);
    assert_int_equal(poll_at(t, 600 * MS, out), 1); /* 3 is 100 behind: still asked */
    odeon_nack_tracker_received(t, 104, 600 * MS);
    assert_int_equal(poll_at(t, 800 * MS, out), 0);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 0);
    /* A new gap also prunes entries that it makes too old. */
    odeon_nack_tracker_received(t, 106, 900 * MS); /* 105 missing */
    odeon_nack_tracker_received(t, 300, 900 * MS); /* 107..299 missing, 105 too old */
    assert_int_equal(odeon_nack_tracker_missing_count(t), 193);
    odeon_nack_tracker_free(t);
}

static void test_tracker_cap_and_keyframe(void **state)
{
    (void)state;
    odeon_nack_tracker *t = tracker(10, 1000);
    uint16_t out[64];
    odeon_nack_tracker_received(t, 0, 0);
    odeon_nack_tracker_received(t, 1001, 0); /* exactly 1000 missing: fits */
    assert_int_equal(odeon_nack_tracker_missing_count(t), 1000);
    assert_false(odeon_nack_tracker_take_keyframe_request(t));
    odeon_nack_tracker_received(t, 1003, 0); /* one more: overflow */
    assert_int_equal(odeon_nack_tracker_missing_count(t), 0);
    assert_true(odeon_nack_tracker_take_keyframe_request(t));
    assert_false(odeon_nack_tracker_take_keyframe_request(t));
    assert_int_equal(poll_at(t, 0, out), 0);
    /* Tracking resumes after the overflow. */
    odeon_nack_tracker_received(t, 1005, 0);
    assert_int_equal(poll_at(t, 0, out), 1);
    assert_int_equal(out[0], 1004);
    odeon_nack_tracker_free(t);
}

static void test_tracker_poll_cap(void **state)
{
    (void)state;
    odeon_nack_tracker *t = tracker(10, 1000);
    uint16_t out[2];
    odeon_nack_tracker_received(t, 0, 0);
    odeon_nack_tracker_received(t, 6, 0); /* 1..5 missing */
    assert_int_equal(odeon_nack_tracker_poll(t, 0, out, 2), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    assert_int_equal(odeon_nack_tracker_poll(t, 0, out, 2), 2);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 4);
    assert_int_equal(odeon_nack_tracker_poll(t, 0, out, 2), 1);
    assert_int_equal(out[0], 5);
    assert_int_equal(odeon_nack_tracker_poll(t, 0, out, 2), 0);
    assert_int_equal(odeon_nack_tracker_missing_count(t), 5);
    odeon_nack_tracker_free(t);
}

/* The buffer follows the packet rate: a burst stored at one instant doubles it once, a steady
 * rate that needs more than it holds doubles it again a period later, up to the limit. */
static void test_buffer_growth(void **state)
{
    (void)state;
    odeon_nack_buffer *b = odeon_nack_buffer_new(1024, 1500, 1000 * MS, NULL);
    assert_non_null(b);
    /* 300 packets at once (a joiner's replayed GOP): 64 slots, one doubling to 128. */
    for (uint16_t seq = 0; seq < 300; seq++)
        insert(b, seq, 0);
    assert_stored(b, 299 - 127, 0);
    assert_int_equal(lookup(b, 299 - 128, 0), ODEON_ENOENT);
    /* Then 400 packets a second for two seconds: a second later it doubles to 256, and a
     * second after that to 512, which holds a whole max_age of this stream. */
    uint16_t seq = 300;
    int64_t now = 0;
    for (int i = 0; i < 800; i++, seq++) {
        now = (int64_t)i * 2500;
        insert(b, seq, now);
    }
    for (int i = 0; i < 400; i++, seq++) {
        now = 2000 * MS + (int64_t)i * 2500;
        insert(b, seq, now);
    }
    uint16_t last = (uint16_t)(seq - 1);
    assert_stored(b, (uint16_t)(last - 399), now); /* the last second: more than 256 slots */
    /* Older ones that are still there answer "too old", evicted ones "not here": 512 slots,
     * never 1024. */
    assert_int_equal(lookup(b, (uint16_t)(last - 511), now), ODEON_EGONE);
    assert_int_equal(lookup(b, (uint16_t)(last - 512), now), ODEON_ENOENT);
    odeon_nack_buffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffer_new_args),
        cmocka_unit_test(test_buffer_growth),
        cmocka_unit_test(test_buffer_insert_lookup),
        cmocka_unit_test(test_buffer_stale_slots),
        cmocka_unit_test(test_buffer_wraparound),
        cmocka_unit_test(test_buffer_age),
        cmocka_unit_test(test_buffer_out_of_order),
        cmocka_unit_test(test_tracker_new_args),
        cmocka_unit_test(test_tracker_in_order),
        cmocka_unit_test(test_tracker_gap_and_retry_spacing),
        cmocka_unit_test(test_tracker_reordering),
        cmocka_unit_test(test_tracker_wraparound),
        cmocka_unit_test(test_tracker_retry_limit),
        cmocka_unit_test(test_tracker_age_limits),
        cmocka_unit_test(test_tracker_cap_and_keyframe),
        cmocka_unit_test(test_tracker_poll_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
