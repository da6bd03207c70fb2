/*
 * test_bwe.c - send-side bandwidth estimation (src/webrtc/bwe.c) against a simulated link: a
 * sender of fixed-size packets at an application rate, a drop-tail bottleneck queue draining at
 * the link capacity, random loss, a propagation delay each way, and a receiver that records
 * arrivals in a real twcc.h recorder and sends its feedback every 100 ms; the feedback goes
 * through the rtcp.h parser into odeon_bwe_on_feedback. Time is simulated, randomness seeded.
 * Set BWE_TRACE=1 to print the estimator's state once per simulated second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin/plugin.h"
#include "webrtc/bwe.h"
#include "webrtc/rtcp.h"
#include "webrtc/twcc.h"

#define MS 1000
#define S 1000000
#define PACKET 1200
#define FLIGHT 8192 /* packets between the sender and the receiver's next feedback */
#define RETURNS 32  /* feedback packets on their way back */

typedef struct arrival {
    uint16_t seq;
    int64_t at_us;
} arrival;

typedef struct returning {
    int64_t at_us;
    size_t len;
    uint8_t buf[1500];
} returning;

typedef struct sim {
    odeon_bwe *bwe;
    odeon_twcc_recorder *rec;
    int64_t now;
    double capacity_bps, app_bps, random_loss;
    int64_t link_free_us, max_queue_us, prop_us, feedback_period_us;
    int64_t next_send_us, next_feedback_us, next_trace_us;
    uint32_t rng;
    uint16_t seq;
    arrival flight[FLIGHT];
    size_t flight_head, flight_len;
    returning ret[RETURNS];
    size_t ret_head, ret_len;
    unsigned feedbacks;
} sim;

static uint32_t rnd(sim *s)
{
    s->rng ^= s->rng << 13; /* xorshift32: deterministic, good enough for loss */
    s->rng ^= s->rng >> 17;
    s->rng ^= s->rng << 5;
    return s->rng;
}

static sim *sim_new(uint64_t start_bps, uint16_t first_seq)
{
    sim *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->bwe = odeon_bwe_new(start_bps, 50000, 20000000);
    assert_non_null(s->bwe);
    s->rec = odeon_twcc_recorder_new(4096, 1, 2, NULL);
    assert_non_null(s->rec);
    s->now = 10 * S; /* not zero, so nothing depends on a zero origin */
    s->capacity_bps = 10e6;
    s->app_bps = 2e6;
    s->max_queue_us = 300 * MS;
    s->prop_us = 20 * MS;
    s->feedback_period_us = 100 * MS;
    s->next_send_us = s->now;
    s->next_feedback_us = s->now + s->feedback_period_us;
    s->next_trace_us = s->now;
    s->rng = 0x12345678;
    s->seq = first_seq;
    return s;
}

static void sim_free(sim *s)
{
    odeon_bwe_free(s->bwe);
    odeon_twcc_recorder_free(s->rec);
    free(s);
}

/* One packet through random loss and the drop-tail bottleneck. */
static void sim_send(sim *s)
{
    uint16_t seq = s->seq++;
    odeon_bwe_on_sent(s->bwe, seq, PACKET, s->now);
    s->next_send_us = s->now + (int64_t)(PACKET * 8 * 1e6 / s->app_bps);
    if (s->random_loss > 0 && rnd(s) % 10000 < s->random_loss * 10000)
        return;
    int64_t start = s->link_free_us > s->now ? s->link_free_us : s->now;
    if (start - s->now > s->max_queue_us)
        return; /* the queue is full */
    s->link_free_us = start + (int64_t)(PACKET * 8 * 1e6 / s->capacity_bps);
    assert_true(s->flight_len < FLIGHT);
    s->flight[(s->flight_head + s->flight_len++) % FLIGHT] =
        (arrival){seq, s->link_free_us + s->prop_us};
}

/* The receiver records what has arrived by now and sends its feedback back. */
static void sim_feedback(sim *s)
{
    while (s->flight_len > 0 && s->flight[s->flight_head].at_us <= s->now) {
        arrival *a = &s->flight[s->flight_head];
        odeon_twcc_recorder_record(s->rec, a->seq, a->at_us);
        s->flight_head = (s->flight_head + 1) % FLIGHT;
        s->flight_len--;
    }
    while (odeon_twcc_recorder_pending(s->rec)) {
        assert_true(s->ret_len < RETURNS);
        returning *r = &s->ret[(s->ret_head + s->ret_len++) % RETURNS];
        int len = odeon_twcc_recorder_build(s->rec, r->buf, sizeof(r->buf));
        assert_true(len > 0);
        r->len = (size_t)len;
        r->at_us = s->now + s->prop_us;
    }
    s->next_feedback_us = s->now + s->feedback_period_us;
}

static void sim_deliver(sim *s)
{
    returning *r = &s->ret[s->ret_head];
    s->ret_head = (s->ret_head + 1) % RETURNS;
    s->ret_len--;
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_twcc fb;
    odeon_rtcp_iter_init(&it, r->buf, r->len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_twcc(&h, &fb), 0);
    assert_int_equal(odeon_bwe_on_feedback(s->bwe, &fb, s->now), 0);
    s->feedbacks++;
}

static void sim_trace(sim *s)
{
    odeon_bwe_stats st;
    odeon_bwe_stats_get(s->bwe, &st);
    printf("# t=%5.1fs est=%7.0fk delay=%7.0fk loss_based=%7.0fk acked=%7.0fk loss=%4.2f "
           "rtt=%4lldms %s\n",
           (double)s->now / S - 10, st.estimate_bps / 1e3, st.delay_based_bps / 1e3,
           st.loss_based_bps / 1e3, st.acked_bps / 1e3, st.loss, (long long)st.rtt_us / 1000,
           odeon_bwe_state_name(st.state));
    s->next_trace_us = s->now + S;
}

static void sim_run(sim *s, int64_t duration_us)
{
    bool trace = getenv("BWE_TRACE") != NULL;
    int64_t end = s->now + duration_us;
    while (s->now < end) {
        int64_t next =
            s->next_send_us < s->next_feedback_us ? s->next_send_us : s->next_feedback_us;
        if (s->ret_len > 0 && s->ret[s->ret_head].at_us < next)
            next = s->ret[s->ret_head].at_us;
        s->now = next;
        if (trace && s->now >= s->next_trace_us)
            sim_trace(s);
        if (s->ret_len > 0 && s->ret[s->ret_head].at_us <= s->now)
            sim_deliver(s);
        else if (s->now >= s->next_feedback_us)
            sim_feedback(s);
        else
            sim_send(s);
    }
}

static uint64_t estimate(const sim *s)
{
    return odeon_bwe_estimate(s->bwe);
}

/* 2 Mbit/s into 500 kbit/s: down below 600 kbit/s within a few seconds; the bottleneck goes
 * to 5 Mbit/s: back above 1.5 Mbit/s within 10 s. Sequence numbers wrap early on. */
static void test_bottleneck(void **state)
{
    (void)state;
    sim *s = sim_new(1000000, 65000);
    s->capacity_bps = 500e3;
    sim_run(s, 4 * S);
    assert_true(estimate(s) < 600000);
    /* It stays there, near what gets through rather than at the minimum, although the
     * sender ignores it and 75% of its packets are dropped. */
    for (int i = 0; i < 8; i++) {
        sim_run(s, 500 * MS);
        assert_true(estimate(s) > 300000 && estimate(s) < 600000);
    }
    odeon_bwe_stats st;
    odeon_bwe_stats_get(s->bwe, &st);
    assert_true(st.acked_bps > 400000 && st.acked_bps < 600000);
    assert_true(st.packets_lost > 0);

    s->capacity_bps = 5e6;
    sim_run(s, 10 * S);
    assert_true(estimate(s) > 1500000);
    odeon_bwe_stats_get(s->bwe, &st);
    assert_true(st.acked_bps > 1800000 && st.acked_bps < 2200000);
    assert_true(s->feedbacks > 150);
    sim_free(s);
}

/* A sender that adapts to the estimate (an encoder) against a deep 500 kbit/s queue: the
 * delay signal alone keeps it near the capacity, without loss. */
static void test_adaptive_sender(void **state)
{
    (void)state;
    sim *s = sim_new(300000, 0);
    s->capacity_bps = 500e3;
    s->max_queue_us = 5 * S;
    uint64_t high = 0;
    for (int i = 0; i < 300; i++) {
        s->app_bps = (double)estimate(s);
        sim_run(s, 100 * MS);
        if (i >= 100 && estimate(s) > high)
            high = estimate(s);
    }
    odeon_bwe_stats st;
    odeon_bwe_stats_get(s->bwe, &st);
    assert_true(high < 700000);
    assert_true(estimate(s) > 250000);
    assert_int_equal(st.packets_lost, 0);
    /* The queue did not run away: the last packet waited well under a second. */
    assert_true(s->link_free_us - s->now < 1 * S);
    sim_free(s);
}

/* 20% random loss without queueing: the estimate goes down. A sender that follows it keeps
 * going down (loss that does not go away with less traffic is treated as congestion, as in
 * GCC); one that does not stops at 0.85 x what gets through. */
static void test_random_loss(void **state)
{
    (void)state;
    sim *s = sim_new(1500000, 100);
    s->random_loss = 0.2;
    uint64_t prev = estimate(s);
    for (int i = 0; i < 4; i++) {
        s->app_bps = (double)estimate(s);
        sim_run(s, 1 * S);
        assert_true(estimate(s) < prev);
        prev = estimate(s);
    }
    assert_true(prev < 1000000);
    odeon_bwe_stats st;
    odeon_bwe_stats_get(s->bwe, &st);
    assert_true(st.loss > 0.1 && st.loss < 0.3);
    assert_int_equal(st.state, ODEON_BWE_NORMAL);
    sim_free(s);

    s = sim_new(3000000, 100);
    s->random_loss = 0.2; /* the sender stays at 2 Mbit/s: 1.6 Mbit/s gets through */
    sim_run(s, 3 * S);
    odeon_bwe_stats_get(s->bwe, &st);
    assert_true(st.packets_lost > st.packets_reported / 6 &&
                st.packets_lost < st.packets_reported / 4);
    assert_true(estimate(s) < 1600000 && estimate(s) > 1200000);
    /* Loss gone: it recovers (all of the 2 Mbit/s now arrives). */
    s->random_loss = 0;
    sim_run(s, 5 * S);
    assert_true(estimate(s) > 2000000);
    sim_free(s);
}

/* An application-limited sender does not inflate the estimate: at most 1.5 x acknowledged
 * bitrate + 100 kbit/s however long the path stays clear. */
static void test_app_limited(void **state)
{
    (void)state;
    sim *s = sim_new(300000, 0);
    s->app_bps = 300e3;
    sim_run(s, 30 * S);
    assert_true(estimate(s) <= 1.5 * 300000 * 1.05 + 100000);
    assert_true(estimate(s) > 400000); /* but it did increase */
    sim_free(s);
}

static void test_remb(void **state)
{
    (void)state;
    odeon_bwe *b = odeon_bwe_new(1000000, 50000, 5000000);
    assert_non_null(b);
    assert_int_equal(odeon_bwe_estimate(b), 1000000);
    odeon_bwe_on_remb(b, 300000, 1 * S);
    assert_int_equal(odeon_bwe_estimate(b), 300000);
    odeon_bwe_stats st;
    odeon_bwe_stats_get(b, &st);
    assert_int_equal(st.remb_bps, 300000);
    odeon_bwe_on_sent(b, 1, 1200, 5 * S); /* time moves: still fresh */
    assert_int_equal(odeon_bwe_estimate(b), 300000);
    odeon_bwe_on_sent(b, 2, 1200, 6 * S); /* 5 s old: no longer caps */
    assert_int_equal(odeon_bwe_estimate(b), 1000000);
    odeon_bwe_stats_get(b, &st);
    assert_int_equal(st.remb_bps, 0);
    odeon_bwe_on_remb(b, 9000000, 6 * S); /* above our own: ours */
    assert_int_equal(odeon_bwe_estimate(b), 1000000);
    odeon_bwe_on_remb(b, 1000, 6 * S); /* below the minimum: the minimum */
    assert_int_equal(odeon_bwe_estimate(b), 50000);
    odeon_bwe_free(b);

    /* Through the simulation: a REMB caps a clear path's estimate. */
    sim *s = sim_new(1000000, 0);
    sim_run(s, 3 * S);
    assert_true(estimate(s) > 1000000);
    odeon_bwe_on_remb(s->bwe, 400000, s->now);
    assert_int_equal(estimate(s), 400000);
    sim_free(s);
}

static void test_new_args(void **state)
{
    (void)state;
    assert_null(odeon_bwe_new(100, 0, 1000));
    assert_null(odeon_bwe_new(100, 2000, 1000));
    odeon_bwe *b = odeon_bwe_new(10, 1000, 2000);
    assert_int_equal(odeon_bwe_estimate(b), 1000);
    odeon_bwe_free(b);
    b = odeon_bwe_new(1u << 30, 1000, 2000);
    assert_int_equal(odeon_bwe_estimate(b), 2000);
    odeon_bwe_free(b);
    odeon_bwe_free(NULL);
    assert_int_equal(odeon_bwe_estimate(NULL), 0);
    assert_string_equal(odeon_bwe_state_name(ODEON_BWE_OVERUSING), "overusing");
}

/* Builds one feedback about seqs first..first+n-1 (all received 1 ms apart but those in
 * lost[]) into buf and parses its header into *fb. */
static void make_feedback(uint8_t *buf, size_t cap, odeon_rtcp_twcc *fb, uint16_t first, unsigned n,
                          uint16_t lost)
{
    odeon_twcc_recorder *r = odeon_twcc_recorder_new(4096, 1, 2, NULL);
    for (unsigned i = 0; i < n; i++)
        if ((uint16_t)(first + i) != lost || i == 0 || i == n - 1)
            assert_int_equal(
                odeon_twcc_recorder_record(r, (uint16_t)(first + i), 20 * S + (int64_t)i * MS), 0);
    int len = odeon_twcc_recorder_build(r, buf, cap);
    assert_true(len > 0);
    assert_false(odeon_twcc_recorder_pending(r));
    odeon_twcc_recorder_free(r);
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_twcc(&h, fb), 0);
}

/* Sequence numbers 65530..9 across the wrap; a slot overwritten by a number 4096 later no
 * longer answers for the old one; duplicates count once. */
static void test_wraparound(void **state)
{
    (void)state;
    odeon_bwe *b = odeon_bwe_new(1000000, 50000, 5000000);
    for (unsigned i = 0; i < 16; i++)
        odeon_bwe_on_sent(b, (uint16_t)(65530 + i), 1000, 1 * S + (int64_t)i * MS);
    uint8_t buf[1500];
    odeon_rtcp_twcc fb;
    make_feedback(buf, sizeof(buf), &fb, 65530, 16, 65535);
    assert_int_equal(odeon_bwe_on_feedback(b, &fb, 1 * S + 100 * MS), 0);
    odeon_bwe_stats st;
    odeon_bwe_stats_get(b, &st);
    assert_int_equal(st.packets_reported, 16);
    assert_int_equal(st.packets_lost, 1);
    assert_true(st.rtt_us > 0 && st.rtt_us <= 100 * MS);
    /* The same feedback again: nothing new. */
    assert_int_equal(odeon_bwe_on_feedback(b, &fb, 1 * S + 120 * MS), 0);
    odeon_bwe_stats_get(b, &st);
    assert_int_equal(st.packets_reported, 16);

    /* 10..4105 sent: 10..(4105 - 4096) = 10..9 are gone, so a report about 6..9 (slots now
     * holding 4102..4105) is ignored. */
    for (unsigned i = 10; i <= 4105; i++)
        odeon_bwe_on_sent(b, (uint16_t)i, 1000, 2 * S + (int64_t)i * 100);
    make_feedback(buf, sizeof(buf), &fb, 6, 4, 0);
    assert_int_equal(odeon_bwe_on_feedback(b, &fb, 3 * S), 0);
    odeon_bwe_stats_get(b, &st);
    assert_int_equal(st.packets_reported, 16);
    odeon_bwe_free(b);
}

/* Malformed or truncated feedback is refused without changing anything; random headers and
 * chunk bytes never crash. */
static void test_bad_feedback(void **state)
{
    (void)state;
    odeon_bwe *b = odeon_bwe_new(1000000, 50000, 5000000);
    for (unsigned i = 0; i < 64; i++)
        odeon_bwe_on_sent(b, (uint16_t)i, 1000, 1 * S + (int64_t)i * MS);
    uint8_t buf[1500];
    odeon_rtcp_twcc fb;
    make_feedback(buf, sizeof(buf), &fb, 0, 64, 7);
    assert_int_equal(odeon_bwe_on_feedback(NULL, &fb, 2 * S), ODEON_EINVAL);
    assert_int_equal(odeon_bwe_on_feedback(b, NULL, 2 * S), ODEON_EINVAL);

    odeon_rtcp_twcc cut = fb;
    for (size_t len = 0; len < 4; len++) { /* chunks too short for 64 statuses */
        cut.chunks_len = len;
        assert_int_equal(odeon_bwe_on_feedback(b, &cut, 2 * S), ODEON_EINVAL);
    }
    cut = fb;
    cut.status_count = 2000; /* more statuses than the chunks hold */
    assert_int_equal(odeon_bwe_on_feedback(b, &cut, 2 * S), ODEON_EINVAL);
    odeon_bwe_stats st;
    odeon_bwe_stats_get(b, &st);
    assert_int_equal(st.packets_reported, 0);

    /* Truncated RTCP: the parser refuses it before it reaches us. */
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_iter_init(&it, buf, 20);
    assert_int_not_equal(odeon_rtcp_iter_next(&it, &h), 1);

    uint32_t rng = 99;
    uint8_t junk[64];
    for (int round = 0; round < 20000; round++) {
        for (size_t i = 0; i < sizeof(junk); i++) {
            rng = rng * 1103515245u + 12345u;
            junk[i] = (uint8_t)(rng >> 16);
        }
        odeon_rtcp_twcc r = {
            .base_seq = (uint16_t)(junk[0] << 8 | junk[1]) % 80,
            .status_count = (uint16_t)(junk[2] % 100),
            .reference_time = (int32_t)(junk[3] << 16 | junk[4] << 8 | junk[5]) - (1 << 23),
            .chunks = junk + 8,
            .chunks_len = junk[6] % (sizeof(junk) - 8),
        };
        int rc = odeon_bwe_on_feedback(b, &r, 2 * S + round);
        assert_true(rc == 0 || rc == ODEON_EINVAL);
    }
    /* Still sane: the whole, valid feedback is taken afterwards. */
    assert_int_equal(odeon_bwe_on_feedback(b, &fb, 3 * S), 0);
    assert_true(odeon_bwe_estimate(b) >= 50000 && odeon_bwe_estimate(b) <= 5000000);
    odeon_bwe_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_args),    cmocka_unit_test(test_remb),
        cmocka_unit_test(test_wraparound),  cmocka_unit_test(test_bad_feedback),
        cmocka_unit_test(test_bottleneck),  cmocka_unit_test(test_adaptive_sender),
        cmocka_unit_test(test_random_loss), cmocka_unit_test(test_app_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
