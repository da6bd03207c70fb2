/*
 * test_rtcp.c - RTCP (webrtc/rtcp.h): compound packets written byte by byte from RFC 3550,
 * RFC 4585, RFC 5104, the TWCC and REMB drafts; builder -> parser round trips; NACK packing
 * with sequence wraparound; REMB exponent/mantissa encoding; malformed packets (truncated,
 * bad version, lengths past the buffer, counts the body does not carry, bad padding) that
 * must fail with a negative code and never read out of bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "webrtc/rtcp.h"

/* SR (1 report block) + SDES CNAME "abcd1" + BYE with reason "bye". */
static const uint8_t compound_a[] = {
    0x81, 0xc8, 0x00, 0x0c, 0x11, 0x22, 0x33, 0x44,
    0xe0, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00, /* NTP */
    0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x10, 0x00,
    0x55, 0x66, 0x77, 0x88, 0x40, 0xff, 0xff, 0xfe, /* block: fraction 64, cumulative -2 */
    0x00, 0x01, 0xff, 0xff, 0x00, 0x00, 0x00, 0x20, 0x12, 0x34, 0x56, 0x78, 0x00, 0x01, 0x00, 0x00,
    0x81, 0xca, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 0x01, 0x05, 'a', 'b', 'c', 'd', '1', 0x00,
    0x81, 0xcb, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x03, 'b', 'y', 'e',
};

/* Empty RR, NACK, PLI, FIR, REMB, then a padded TWCC feedback as the last packet. */
static const uint8_t compound_b[] = {
    0x80, 0xc9, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x81, 0xcd, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44, 0x00, 0x64, 0x00, 0x05,
    0x81, 0xce, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44,
    0x84, 0xce, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x11, 0x22, 0x33, 0x44, 0x07, 0x00, 0x00, 0x00,
    0x8f, 0xce, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    'R', 'E', 'M', 'B', 0x01, 0x0f, 0xff, 0xff, 0x11, 0x22, 0x33, 0x44,
    0xaf, 0xcd, 0x00, 0x06, 0x00, 0x00, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44,
    0x00, 0x0a, 0x00, 0x03, 0xff, 0xff, 0xff, 0x07, 0x20, 0x03, 0x04, 0x04, 0x04,
    0x00, 0x00, 0x03, /* P bit padding: 3 bytes */
};

/* Runs every parser on every packet of buf; returns the iterator's final result. Used on
 * valid and mutated input alike: it must never crash or read out of bounds. */
static int parse_everything(const uint8_t *buf, size_t len)
{
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    int r;
    odeon_rtcp_iter_init(&it, buf, len);
    while ((r = odeon_rtcp_iter_next(&it, &h)) == 1) {
        odeon_rtcp_report rep;
        odeon_rtcp_report_block rb;
        if (odeon_rtcp_parse_report(&h, &rep) == 0)
            for (unsigned i = 0; i < rep.block_count; i++)
                assert_int_equal(odeon_rtcp_report_block_at(&rep, i, &rb), 0);
        size_t pos = 0;
        odeon_rtcp_sdes_chunk c;
        while (odeon_rtcp_sdes_next(&h, &pos, &c) == 1)
            assert_true(!c.cname || c.cname + c.cname_len <= h.data + h.len);
        odeon_rtcp_bye bye;
        if (odeon_rtcp_parse_bye(&h, &bye) == 0)
            for (unsigned i = 0; i < bye.ssrc_count; i++)
                (void)odeon_rtcp_bye_ssrc(&bye, i);
        odeon_rtcp_nack nack;
        uint16_t lost[64];
        if (odeon_rtcp_parse_nack(&h, &nack) == 0)
            assert_true(odeon_rtcp_nack_lost(&nack, lost, 64) >= nack.pair_count);
        odeon_rtcp_twcc tw;
        (void)odeon_rtcp_parse_twcc(&h, &tw);
        uint32_t s, m;
        (void)odeon_rtcp_parse_pli(&h, &s, &m);
        odeon_rtcp_fir fir;
        odeon_rtcp_fir_entry fe;
        if (odeon_rtcp_parse_fir(&h, &fir) == 0)
            for (size_t i = 0; i < fir.entry_count; i++)
                assert_int_equal(odeon_rtcp_fir_entry_at(&fir, i, &fe), 0);
        odeon_rtcp_remb remb;
        if (odeon_rtcp_parse_remb(&h, &remb) == 0)
            for (unsigned i = 0; i < remb.ssrc_count; i++)
                (void)odeon_rtcp_remb_ssrc(&remb, i);
    }
    return r;
}

static void test_compound_a(void **state)
{
    (void)state;
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_iter_init(&it, compound_a, sizeof(compound_a));
    assert_int_equal(odeon_rtcp_count(compound_a, sizeof(compound_a)), 3);

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    odeon_rtcp_report rep;
    assert_int_equal(odeon_rtcp_parse_report(&h, &rep), 0);
    assert_true(rep.is_sr);
    assert_int_equal(rep.ssrc, 0x11223344);
    assert_true(rep.sender.ntp == 0xe000000180000000ull);
    assert_int_equal(rep.sender.rtp_ts, 0x00010203);
    assert_int_equal(rep.sender.packet_count, 10);
    assert_int_equal(rep.sender.octet_count, 4096);
    assert_int_equal(rep.block_count, 1);
    odeon_rtcp_report_block rb;
    assert_int_equal(odeon_rtcp_report_block_at(&rep, 0, &rb), 0);
    assert_int_equal(rb.ssrc, 0x55667788);
    assert_int_equal(rb.fraction_lost, 64);
    assert_int_equal(rb.cumulative_lost, -2);
    assert_int_equal(rb.highest_seq, 0x0001ffff);
    assert_int_equal(rb.jitter, 32);
    assert_int_equal(rb.lsr, 0x12345678);
    assert_int_equal(rb.dlsr, 65536);
    assert_int_equal(odeon_rtcp_report_block_at(&rep, 1, &rb), ODEON_EINVAL);

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(h.pt, ODEON_RTCP_SDES);
    size_t pos = 0;
    odeon_rtcp_sdes_chunk c;
    assert_int_equal(odeon_rtcp_sdes_next(&h, &pos, &c), 1);
    assert_int_equal(c.ssrc, 0x11223344);
    assert_int_equal(c.cname_len, 5);
    assert_memory_equal(c.cname, "abcd1", 5);
    assert_int_equal(odeon_rtcp_sdes_next(&h, &pos, &c), 0);

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    odeon_rtcp_bye bye;
    assert_int_equal(odeon_rtcp_parse_bye(&h, &bye), 0);
    assert_int_equal(bye.ssrc_count, 1);
    assert_int_equal(odeon_rtcp_bye_ssrc(&bye, 0), 0x11223344);
    assert_int_equal(odeon_rtcp_bye_ssrc(&bye, 1), 0);
    assert_int_equal(bye.reason_len, 3);
    assert_memory_equal(bye.reason, "bye", 3);

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 0);
    /* Type-specific parsers refuse other types. */
    assert_int_equal(odeon_rtcp_parse_bye(&h, &bye), 0);
    odeon_rtcp_nack nack;
    assert_int_equal(odeon_rtcp_parse_nack(&h, &nack), ODEON_EINVAL);
}

static void test_compound_b(void **state)
{
    (void)state;
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_iter_init(&it, compound_b, sizeof(compound_b));
    assert_int_equal(odeon_rtcp_count(compound_b, sizeof(compound_b)), 6);

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    odeon_rtcp_report rep;
    assert_int_equal(odeon_rtcp_parse_report(&h, &rep), 0);
    assert_false(rep.is_sr);
    assert_int_equal(rep.ssrc, 1);
    assert_int_equal(rep.block_count, 0);

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    odeon_rtcp_nack nack;
    assert_int_equal(odeon_rtcp_parse_nack(&h, &nack), 0);
    assert_int_equal(nack.sender_ssrc, 1);
    assert_int_equal(nack.media_ssrc, 0x11223344);
    uint16_t lost[8];
    assert_int_equal(odeon_rtcp_nack_lost(&nack, lost, 8), 3);
    assert_int_equal(lost[0], 100);
    assert_int_equal(lost[1], 101);
    assert_int_equal(lost[2], 103);
    assert_int_equal(odeon_rtcp_nack_lost(&nack, lost, 1), 3); /* total, even if capped */

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    uint32_t s, m;
    assert_int_equal(odeon_rtcp_parse_pli(&h, &s, &m), 0);
    assert_int_equal(s, 1);
    assert_int_equal(m, 0x11223344);

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_pli(&h, &s, &m), ODEON_EINVAL); /* FIR, not PLI */
    odeon_rtcp_fir fir;
    odeon_rtcp_fir_entry fe;
    assert_int_equal(odeon_rtcp_parse_fir(&h, &fir), 0);
    assert_int_equal(fir.entry_count, 1);
    assert_int_equal(odeon_rtcp_fir_entry_at(&fir, 0, &fe), 0);
    assert_int_equal(fe.ssrc, 0x11223344);
    assert_int_equal(fe.seq_nr, 7);
    assert_int_equal(odeon_rtcp_fir_entry_at(&fir, 1, &fe), ODEON_EINVAL);

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    odeon_rtcp_remb remb;
    assert_int_equal(odeon_rtcp_parse_remb(&h, &remb), 0);
    assert_true(remb.bitrate == 0x3ffffull << 3);
    assert_int_equal(remb.ssrc_count, 1);
    assert_int_equal(odeon_rtcp_remb_ssrc(&remb, 0), 0x11223344);

    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_true(h.padding);
    assert_int_equal(h.body_len, 21);
    odeon_rtcp_twcc tw;
    assert_int_equal(odeon_rtcp_parse_twcc(&h, &tw), 0);
    assert_int_equal(tw.media_ssrc, 0x11223344);
    assert_int_equal(tw.base_seq, 10);
    assert_int_equal(tw.status_count, 3);
    assert_int_equal(tw.reference_time, -1);
    assert_int_equal(tw.fb_count, 7);
    assert_int_equal(tw.chunks_len, 5);
    assert_int_equal(tw.chunks[0], 0x20);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 0);
}

static void test_malformed(void **state)
{
    (void)state;
    odeon_rtcp_header h;
    odeon_rtcp_iter it;
    /* Every truncation fails somewhere or stops at a packet boundary; nothing crashes. */
    for (size_t len = 0; len < sizeof(compound_b); len++) {
        uint8_t copy[sizeof(compound_b)];
        memcpy(copy, compound_b, len);
        (void)parse_everything(copy, len);
    }
    assert_int_equal(odeon_rtcp_count(compound_a, 3), ODEON_EINVAL);
    assert_int_equal(odeon_rtcp_count(compound_a, sizeof(compound_a) - 1), ODEON_EINVAL);
    assert_int_equal(odeon_rtcp_count(NULL, 0), 0);

    /* Bad version; then the error is sticky. */
    const uint8_t v1[] = {0x41, 0xc9, 0x00, 0x01, 0, 0, 0, 1};
    odeon_rtcp_iter_init(&it, v1, sizeof(v1));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), ODEON_EINVAL);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), ODEON_EINVAL);
    /* PT outside the RTCP range (an RTP packet). */
    const uint8_t rtp[] = {0x80, 0x60, 0x00, 0x01, 0, 0, 0, 1};
    assert_int_equal(odeon_rtcp_count(rtp, sizeof(rtp)), ODEON_EINVAL);
    /* Length field beyond the buffer. */
    const uint8_t longlen[] = {0x80, 0xc9, 0x00, 0x09, 0, 0, 0, 1};
    assert_int_equal(odeon_rtcp_count(longlen, sizeof(longlen)), ODEON_EINVAL);
    /* RR claiming one block but carrying none; SR with a zero length. */
    const uint8_t rr_short[] = {0x81, 0xc9, 0x00, 0x01, 0, 0, 0, 1};
    const uint8_t sr_zero[] = {0x80, 0xc8, 0x00, 0x00};
    odeon_rtcp_report rep;
    odeon_rtcp_iter_init(&it, rr_short, sizeof(rr_short));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_report(&h, &rep), ODEON_EINVAL);
    odeon_rtcp_iter_init(&it, sr_zero, sizeof(sr_zero));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_report(&h, &rep), ODEON_EINVAL);
    /* SDES: SC=2 with one chunk; an item running past the packet; no terminator. */
    const uint8_t sdes_sc[] = {0x82, 0xca, 0x00, 0x02, 0, 0, 0, 1, 0x01, 0x01, 'a', 0x00};
    const uint8_t sdes_item[] = {0x81, 0xca, 0x00, 0x02, 0, 0, 0, 1, 0x01, 0x09, 'a', 'b'};
    const uint8_t sdes_noterm[] = {0x81, 0xca, 0x00, 0x02, 0, 0, 0, 1, 0x01, 0x02, 'a', 'b'};
    const uint8_t *bad_sdes[] = {sdes_sc, sdes_item, sdes_noterm};
    for (size_t i = 0; i < 3; i++) {
        odeon_rtcp_iter_init(&it, bad_sdes[i], 12);
        assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
        size_t pos = 0;
        odeon_rtcp_sdes_chunk c;
        assert_int_equal(odeon_rtcp_sdes_next(&h, &pos, &c), ODEON_EINVAL);
    }
    /* Padding on a packet that is not the last, a zero pad count, one larger than the body. */
    uint8_t pad[16] = {0xa0, 0xc9, 0x00, 0x01, 0, 0, 0, 4, 0x80, 0xc9, 0x00, 0x01, 0, 0, 0, 1};
    assert_int_equal(odeon_rtcp_count(pad, 16), ODEON_EINVAL);
    pad[0] = 0x80;
    pad[8] = 0xa0;
    assert_int_equal(odeon_rtcp_count(pad, 16), 2);
    pad[15] = 0;
    assert_int_equal(odeon_rtcp_count(pad, 16), ODEON_EINVAL);
    pad[15] = 5;
    assert_int_equal(odeon_rtcp_count(pad, 16), ODEON_EINVAL);
    /* BYE reason longer than the packet. */
    const uint8_t bye[] = {0x81, 0xcb, 0x00, 0x02, 0, 0, 0, 1, 0x09, 'b', 'y', 'e'};
    odeon_rtcp_bye b;
    odeon_rtcp_iter_init(&it, bye, sizeof(bye));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_bye(&h, &b), ODEON_EINVAL);
    /* Feedback with no FCI where one is needed, REMB with a missing SSRC, a non-REMB AFB. */
    const uint8_t nack0[] = {0x81, 0xcd, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2};
    const uint8_t fir0[] = {0x84, 0xce, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2};
    const uint8_t twcc0[] = {0x8f, 0xcd, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2};
    const uint8_t remb2[] = {0x8f, 0xce, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 0,
                             'R', 'E', 'M', 'B', 0x02, 0x00, 0x00, 0x10, 0, 0, 0, 3};
    const uint8_t afb[] = {0x8f, 0xce, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 0, 'X', 'Y', 'Z', 'W'};
    const uint8_t fbshort[] = {0x81, 0xce, 0x00, 0x01, 0, 0, 0, 1};
    odeon_rtcp_nack n;
    odeon_rtcp_fir f;
    odeon_rtcp_twcc t;
    odeon_rtcp_remb rb;
    uint32_t s, m;
    odeon_rtcp_iter_init(&it, nack0, sizeof(nack0));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_nack(&h, &n), ODEON_EINVAL);
    odeon_rtcp_iter_init(&it, fir0, sizeof(fir0));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_fir(&h, &f), ODEON_EINVAL);
    odeon_rtcp_iter_init(&it, twcc0, sizeof(twcc0));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_twcc(&h, &t), ODEON_EINVAL);
    odeon_rtcp_iter_init(&it, remb2, sizeof(remb2));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_remb(&h, &rb), ODEON_EINVAL);
    odeon_rtcp_iter_init(&it, afb, sizeof(afb));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_remb(&h, &rb), ODEON_ENOENT);
    odeon_rtcp_iter_init(&it, fbshort, sizeof(fbshort));
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_pli(&h, &s, &m), ODEON_EINVAL);
}

/* Every single-byte change of both compounds goes through every parser unharmed. */
static void test_mutations(void **state)
{
    (void)state;
    const uint8_t *srcs[] = {compound_a, compound_b};
    const size_t lens[] = {sizeof(compound_a), sizeof(compound_b)};
    const uint8_t vals[] = {0x00, 0x01, 0x1f, 0x20, 0x7f, 0x80, 0x9f, 0xbf, 0xff};
    for (size_t k = 0; k < 2; k++) {
        uint8_t copy[128];
        for (size_t i = 0; i < lens[k]; i++)
            for (size_t j = 0; j < sizeof(vals); j++) {
                memcpy(copy, srcs[k], lens[k]);
                copy[i] = vals[j];
                (void)parse_everything(copy, lens[k]);
            }
    }
}

static void test_build_reports(void **state)
{
    (void)state;
    uint8_t buf[1500];
    odeon_rtcp_report_block blocks[2] = {
        {.ssrc = 7, .fraction_lost = 3, .cumulative_lost = -5, .highest_seq = 0x10002,
         .jitter = 9, .lsr = 10, .dlsr = 11},
        {.ssrc = 8, .cumulative_lost = 0x1000000}, /* clamps to the 24-bit maximum */
    };
    int len = odeon_rtcp_build_rr(buf, sizeof(buf), 0xabc, blocks, 2);
    assert_int_equal(len, 8 + 48);
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_report rep;
    odeon_rtcp_report_block rb;
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_report(&h, &rep), 0);
    assert_false(rep.is_sr);
    assert_int_equal(rep.ssrc, 0xabc);
    assert_int_equal(odeon_rtcp_report_block_at(&rep, 0, &rb), 0);
    assert_int_equal(rb.ssrc, 7);
    assert_int_equal(rb.fraction_lost, 3);
    assert_int_equal(rb.cumulative_lost, -5);
    assert_int_equal(rb.highest_seq, 0x10002);
    assert_int_equal(rb.jitter, 9);
    assert_int_equal(rb.lsr, 10);
    assert_int_equal(rb.dlsr, 11);
    assert_int_equal(odeon_rtcp_report_block_at(&rep, 1, &rb), 0);
    assert_int_equal(rb.cumulative_lost, 0x7fffff);

    odeon_rtcp_sender_info si = {.ntp = 0x0102030405060708ull, .rtp_ts = 90000,
                                 .packet_count = 5, .octet_count = 500};
    len = odeon_rtcp_build_sr(buf, sizeof(buf), 0xdef, &si, blocks, 1);
    assert_int_equal(len, 28 + 24);
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_report(&h, &rep), 0);
    assert_true(rep.is_sr);
    assert_true(rep.sender.ntp == si.ntp);
    assert_int_equal(rep.sender.rtp_ts, 90000);
    assert_int_equal(rep.sender.packet_count, 5);
    assert_int_equal(rep.sender.octet_count, 500);
    assert_int_equal(odeon_rtcp_build_sr(buf, sizeof(buf), 1, NULL, NULL, 0), ODEON_EINVAL);
    assert_int_equal(odeon_rtcp_build_rr(buf, sizeof(buf), 1, blocks, 32), ODEON_EINVAL);
    assert_int_equal(odeon_rtcp_build_rr(buf, 55, 1, blocks, 2), ODEON_ENOMEM);
    assert_int_equal(odeon_rtcp_build_rr(buf, 8, 1, NULL, 0), 8);
}

static void test_build_sdes(void **state)
{
    (void)state;
    uint8_t buf[300];
    char name[256];
    memset(name, 'n', sizeof(name));
    for (size_t n = 1; n <= 255; n++) {
        int len = odeon_rtcp_build_sdes_cname(buf, sizeof(buf), 0x42, name, n);
        assert_true(len > 0 && len % 4 == 0);
        odeon_rtcp_iter it;
        odeon_rtcp_header h;
        odeon_rtcp_iter_init(&it, buf, (size_t)len);
        assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
        size_t pos = 0;
        odeon_rtcp_sdes_chunk c;
        assert_int_equal(odeon_rtcp_sdes_next(&h, &pos, &c), 1);
        assert_int_equal(c.ssrc, 0x42);
        assert_int_equal(c.cname_len, n);
        assert_int_equal(odeon_rtcp_sdes_next(&h, &pos, &c), 0);
        assert_int_equal(odeon_rtcp_iter_next(&it, &h), 0);
        assert_int_equal(odeon_rtcp_build_sdes_cname(buf, (size_t)len - 1, 1, name, n),
                         ODEON_ENOMEM);
    }
    assert_int_equal(odeon_rtcp_build_sdes_cname(buf, sizeof(buf), 1, name, 0), ODEON_EINVAL);
    assert_int_equal(odeon_rtcp_build_sdes_cname(buf, sizeof(buf), 1, name, 256), ODEON_EINVAL);
}

/* Builds a NACK from lost, checks the pair count, and that it expands to want. */
static void nack_round_trip(const uint16_t *lost, size_t n, size_t pairs, const uint16_t *want,
                            size_t want_n)
{
    uint8_t buf[4096];
    int len = odeon_rtcp_build_nack(buf, sizeof(buf), 1, 2, lost, n);
    assert_int_equal(len, 12 + 4 * (int)pairs);
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_nack nack;
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_nack(&h, &nack), 0);
    assert_int_equal(nack.pair_count, pairs);
    assert_int_equal(nack.sender_ssrc, 1);
    assert_int_equal(nack.media_ssrc, 2);
    uint16_t out[1024];
    assert_int_equal(odeon_rtcp_nack_lost(&nack, out, 1024), want_n);
    assert_memory_equal(out, want, want_n * sizeof(uint16_t));
}

static void test_build_nack(void **state)
{
    (void)state;
    const uint16_t a[] = {100, 101, 103, 116, 117, 200};
    nack_round_trip(a, 6, 3, a, 6);
    uint8_t buf[64];
    assert_int_equal(odeon_rtcp_build_nack(buf, sizeof(buf), 1, 2, a, 6), 24);
    assert_int_equal(buf[14], 0x80); /* BLP of PID 100: bits 0, 2, 15 */
    assert_int_equal(buf[15], 0x05);

    const uint16_t wrap[] = {65530, 65535, 0, 5, 10};
    nack_round_trip(wrap, 5, 1, wrap, 5);
    const uint16_t wrap2[] = {65535, 0, 1, 17, 18};
    nack_round_trip(wrap2, 5, 2, wrap2, 5);
    /* Out of order and duplicates: 3 opens a second pair, 4 joins it, the second 5 is free. */
    const uint16_t messy[] = {5, 3, 5, 4};
    const uint16_t messy_out[] = {5, 3, 4};
    nack_round_trip(messy, 4, 2, messy_out, 3);
    /* A long list of every other number across the wrap. */
    uint16_t many[600];
    for (size_t i = 0; i < 600; i++)
        many[i] = (uint16_t)(65000 + 2 * i);
    nack_round_trip(many, 600, 600 / 9 + 1, many, 600);

    assert_int_equal(odeon_rtcp_build_nack(buf, sizeof(buf), 1, 2, a, 0), ODEON_EINVAL);
    assert_int_equal(odeon_rtcp_build_nack(buf, 15, 1, 2, a, 1), ODEON_ENOMEM);
    assert_int_equal(odeon_rtcp_build_nack(buf, 16, 1, 2, a, 1), 16);
    assert_int_equal(odeon_rtcp_build_nack(buf, 20, 1, 2, a, 6), ODEON_ENOMEM);
}

static void test_build_pli_fir(void **state)
{
    (void)state;
    uint8_t buf[64];
    const uint8_t pli[] = {0x81, 0xce, 0x00, 0x02, 0, 0, 0, 1, 0x11, 0x22, 0x33, 0x44};
    assert_int_equal(odeon_rtcp_build_pli(buf, sizeof(buf), 1, 0x11223344), 12);
    assert_memory_equal(buf, pli, 12);
    assert_int_equal(odeon_rtcp_build_pli(buf, 11, 1, 2), ODEON_ENOMEM);

    odeon_rtcp_fir_entry e[2] = {{.ssrc = 0x11223344, .seq_nr = 7}, {.ssrc = 9, .seq_nr = 255}};
    assert_int_equal(odeon_rtcp_build_fir(buf, sizeof(buf), 1, e, 1), 20);
    assert_memory_equal(buf, compound_b + 36, 20); /* the hand-built FIR above */
    int len = odeon_rtcp_build_fir(buf, sizeof(buf), 1, e, 2);
    assert_int_equal(len, 28);
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_fir fir;
    odeon_rtcp_fir_entry got;
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_fir(&h, &fir), 0);
    assert_int_equal(fir.entry_count, 2);
    assert_int_equal(odeon_rtcp_fir_entry_at(&fir, 1, &got), 0);
    assert_int_equal(got.ssrc, 9);
    assert_int_equal(got.seq_nr, 255);
    assert_int_equal(odeon_rtcp_build_fir(buf, 27, 1, e, 2), ODEON_ENOMEM);
    assert_int_equal(odeon_rtcp_build_fir(buf, sizeof(buf), 1, e, 0), ODEON_EINVAL);
}

static uint64_t remb_round_trip(uint64_t bitrate)
{
    uint8_t buf[64];
    const uint32_t ssrcs[] = {0x11223344, 5};
    int len = odeon_rtcp_build_remb(buf, sizeof(buf), 1, bitrate, ssrcs, 2);
    assert_int_equal(len, 28);
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_remb remb;
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_remb(&h, &remb), 0);
    assert_int_equal(remb.ssrc_count, 2);
    assert_int_equal(odeon_rtcp_remb_ssrc(&remb, 1), 5);
    assert_int_equal(odeon_rtcp_remb_ssrc(&remb, 2), 0);
    return remb.bitrate;
}

static void test_build_remb(void **state)
{
    (void)state;
    /* Exact below 2^18, then rounded down with a relative error under 2^-17. */
    assert_true(remb_round_trip(0) == 0);
    assert_true(remb_round_trip(262143) == 262143);
    assert_true(remb_round_trip(262144) == 262144);
    assert_true(remb_round_trip(262145) == 262144);
    const uint64_t big[] = {1000000000ull, 5000000000000ull, 123456789012345ull, UINT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        uint64_t got = remb_round_trip(big[i]);
        assert_true(got <= big[i]);
        assert_true(big[i] - got <= big[i] >> 17);
    }
    /* 1 Gbps: exponent 12, mantissa 244140 = 0x3b9ac. */
    uint8_t buf[64];
    assert_int_equal(odeon_rtcp_build_remb(buf, sizeof(buf), 1, 1000000000ull, NULL, 0), 20);
    assert_int_equal(buf[17], (12 << 2) | 0x3);
    assert_int_equal(buf[18], 0xb9);
    assert_int_equal(buf[19], 0xac);
    /* The hand-built REMB matches the builder byte for byte. */
    const uint32_t one = 0x11223344;
    assert_int_equal(odeon_rtcp_build_remb(buf, sizeof(buf), 1, 0x3ffffull << 3, &one, 1), 24);
    assert_memory_equal(buf, compound_b + 56, 24);
    /* A peer's exponent of 63 saturates instead of overflowing. */
    buf[17] = 0xff;
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_remb remb;
    odeon_rtcp_iter_init(&it, buf, 24);
    assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
    assert_int_equal(odeon_rtcp_parse_remb(&h, &remb), 0);
    assert_true(remb.bitrate == UINT64_MAX);
    assert_int_equal(odeon_rtcp_build_remb(buf, 23, 1, 1, &one, 1), ODEON_ENOMEM);
    assert_int_equal(odeon_rtcp_build_remb(buf, sizeof(buf), 1, 1, NULL, 1), ODEON_EINVAL);
}

static void test_build_compound(void **state)
{
    (void)state;
    uint8_t buf[256];
    odeon_rtcp_report_block rb = {.ssrc = 3};
    odeon_rtcp_sender_info si = {.ntp = 1};
    const char *cname = "odeon-cname";
    for (int sr = 0; sr < 2; sr++) {
        int len = odeon_rtcp_build_compound(buf, sizeof(buf), 9, sr ? &si : NULL, &rb, 1, cname,
                                            strlen(cname));
        assert_true(len > 0);
        int pli = odeon_rtcp_build_pli(buf + len, sizeof(buf) - (size_t)len, 9, 3);
        assert_int_equal(pli, 12);
        assert_int_equal(odeon_rtcp_count(buf, (size_t)(len + pli)), 3);
        assert_int_equal(parse_everything(buf, (size_t)(len + pli)), 0);
        odeon_rtcp_iter it;
        odeon_rtcp_header h;
        odeon_rtcp_iter_init(&it, buf, (size_t)len);
        assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
        assert_int_equal(h.pt, sr ? ODEON_RTCP_SR : ODEON_RTCP_RR);
        assert_int_equal(odeon_rtcp_iter_next(&it, &h), 1);
        assert_int_equal(h.pt, ODEON_RTCP_SDES);
        /* Too small for the SDES part. */
        size_t first = sr ? 52 : 32;
        assert_int_equal(odeon_rtcp_build_compound(buf, first + 4, 9, sr ? &si : NULL, &rb, 1,
                                                   cname, strlen(cname)),
                         ODEON_ENOMEM);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compound_a),
        cmocka_unit_test(test_compound_b),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_build_reports),
        cmocka_unit_test(test_build_sdes),
        cmocka_unit_test(test_build_nack),
        cmocka_unit_test(test_build_pli_fir),
        cmocka_unit_test(test_build_remb),
        cmocka_unit_test(test_build_compound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
