/*
 * fuzz_twcc.c - libFuzzer target for transport-wide feedback (webrtc/twcc.h).
 *
 * The input is walked as a compound RTCP packet and every transport-wide feedback in it goes
 * through the iterator: when init accepts a packet, the iterator must yield exactly the status
 * count, consecutive sequence numbers and reads inside the packet. The same bytes then drive a
 * recorder, four bytes per arrival (sequence step, time step, whether to send feedback now),
 * and every feedback it builds must parse back into what was recorded: received numbers with
 * their arrival time rounded down to 250 us, lost ones never recorded, each packet within the
 * size limit and 32-bit aligned, feedback counts consecutive. Every parsed feedback also goes
 * into a send-side estimator (webrtc/bwe.h) that saw a run of sent packets around its base
 * sequence: whatever the feedback says, the estimate stays within the estimator's bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/bwe.h"
#include "webrtc/rtcp.h"
#include "webrtc/twcc.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define MAX_RECORDS 256 /* sequence steps are -128..127, so the span stays under 2^15 */

static void parse_feedback(const odeon_rtcp_header *h)
{
    odeon_rtcp_twcc fb;
    odeon_twcc_iter it;
    odeon_twcc_status st;
    if (odeon_rtcp_parse_twcc(h, &fb) != 0 || odeon_twcc_iter_init(&it, &fb) != 0)
        return;
    CHECK(fb.chunks + fb.chunks_len <= h->body + h->body_len);
    unsigned n = 0;
    while (odeon_twcc_iter_next(&it, &st) == 1) {
        CHECK(st.seq == (uint16_t)(fb.base_seq + n));
        CHECK(it.delta_pos <= fb.chunks_len);
        CHECK(st.received || (st.delta_us == 0 && st.arrival_us == 0));
        CHECK(st.delta_us % ODEON_TWCC_DELTA_US == 0);
        n++;
    }
    CHECK(n == fb.status_count);

    static odeon_bwe *bwe;
    if (bwe == NULL)
        bwe = odeon_bwe_new(1000000, 50000, 20000000);
    for (unsigned i = 0; i < 64; i++)
        odeon_bwe_on_sent(bwe, (uint16_t)(fb.base_seq + i), 1200, (int64_t)i * 1000);
    odeon_bwe_on_feedback(bwe, &fb, 100000);
    uint64_t e = odeon_bwe_estimate(bwe);
    CHECK(e >= 50000 && e <= 20000000);
}

typedef struct state {
    bool recorded[65536];
    int64_t arrival[65536];
    uint16_t touched[MAX_RECORDS]; /* to clear recorded[] without a 64 KiB memset per run */
    size_t touched_count;
    uint8_t fb_count;
    bool any_fb;
} state;

static void check_built(state *s, const uint8_t *buf, size_t len, size_t max_size)
{
    CHECK(len <= max_size && len % 4 == 0);
    odeon_rtcp_iter ri;
    odeon_rtcp_header h;
    odeon_rtcp_twcc fb;
    odeon_twcc_iter it;
    odeon_twcc_status st;
    odeon_rtcp_iter_init(&ri, buf, len);
    CHECK(odeon_rtcp_iter_next(&ri, &h) == 1 && h.len == len);
    CHECK(odeon_rtcp_parse_twcc(&h, &fb) == 0);
    CHECK(!s->any_fb || fb.fb_count == s->fb_count);
    s->any_fb = true;
    s->fb_count = (uint8_t)(fb.fb_count + 1);
    CHECK(odeon_twcc_iter_init(&it, &fb) == 0);
    unsigned n = 0;
    while (odeon_twcc_iter_next(&it, &st) == 1) {
        if (st.received) {
            CHECK(s->recorded[st.seq]);
            int64_t t = s->arrival[st.seq];
            int64_t rem = (t % ODEON_TWCC_DELTA_US + ODEON_TWCC_DELTA_US) % ODEON_TWCC_DELTA_US;
            CHECK(st.arrival_us == t - rem); /* rounded down, negative times included */
        } else {
            CHECK(!s->recorded[st.seq]);
        }
        n++;
    }
    CHECK(n == fb.status_count && n > 0);
}

static void record_round_trip(const uint8_t *data, size_t size)
{
    static state s;
    for (size_t i = 0; i < s.touched_count; i++)
        s.recorded[s.touched[i]] = false;
    s.touched_count = 0;
    s.any_fb = false;
    if (size < 1)
        return;
    size_t max_size = ODEON_TWCC_MIN_PACKET + (size_t)data[0] * 4;
    odeon_twcc_recorder *r = odeon_twcc_recorder_new(256, 1, 2, NULL);
    CHECK(r != NULL);
    uint8_t buf[ODEON_TWCC_MIN_PACKET + 255 * 4];
    uint16_t seq = 1000;
    int64_t at = 1000000000;
    for (size_t i = 1, n = 0; i + 4 <= size && n < MAX_RECORDS; i += 4, n++) {
        seq = (uint16_t)(seq + (int8_t)data[i]);
        /* Steps up to +/-32767 us << 15 (about 18 minutes), so deltas too large for 16 bits
         * happen; 256 of them stay within the 24-bit reference time either side of zero. */
        int64_t step = (int16_t)((data[i + 1] << 8) | data[i + 2]);
        at += step * ((int64_t)1 << (data[i + 3] & 0x0f));
        int rc = odeon_twcc_recorder_record(r, seq, at);
        CHECK(rc == 0 || rc == ODEON_EEXIST || rc == ODEON_EGONE);
        if (rc == 0) {
            CHECK(!s.recorded[seq]);
            s.recorded[seq] = true;
            s.arrival[seq] = at;
            s.touched[s.touched_count++] = seq;
        }
        if (data[i + 3] & 0x80) {
            int len;
            while ((len = odeon_twcc_recorder_build(r, buf, max_size)) > 0)
                check_built(&s, buf, (size_t)len, max_size);
            CHECK(len == 0 && !odeon_twcc_recorder_pending(r));
        }
    }
    odeon_twcc_recorder_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_iter_init(&it, data, size);
    while (odeon_rtcp_iter_next(&it, &h) == 1)
        parse_feedback(&h);
    record_round_trip(data, size);
    return 0;
}
