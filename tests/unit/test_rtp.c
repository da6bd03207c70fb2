/*
 * test_rtp.c - the RTP packet view (webrtc/rtp.h): hand-built packets laid out from RFC 3550
 * §5.1 and RFC 8285, typed extension readers, in-place writers, RFC 7983 demux, and malformed
 * input (every truncation, bad version, lengths past the end) that must fail cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "webrtc/rtp.h"

/* V=2 P=1 X=1 CC=1, M=1 PT=111, seq 0x1234, ts 0xdeadbeef, SSRC 0x11223344, CSRC 0x55667788,
 * one-byte extension (3 words): id1 audio-level (V=1, 42), id3 abs-send-time 0x0a0b0c,
 * id5 twcc 0xabcd, one padding byte, id4 mid "av" ... then payload "hello" and 3 pad bytes. */
static const uint8_t one_byte_pkt[] = {
    0xb1, 0xef, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22, 0x33, 0x44,
    0x55, 0x66, 0x77, 0x88,
    0xbe, 0xde, 0x00, 0x04,
    0x10, 0xaa,                   /* id 1, len 1: V=1 level 42 */
    0x32, 0x0a, 0x0b, 0x0c,       /* id 3, len 3 */
    0x51, 0xab, 0xcd,             /* id 5, len 2 */
    0x00,                         /* padding */
    0x41, 'a', 'v',               /* id 4, len 2 */
    0x00, 0x00, 0x00,             /* padding to 16 bytes */
    'h', 'e', 'l', 'l', 'o',
    0x00, 0x00, 0x03,
};

/* Two-byte form with appbits 0x5: id 10 rid "hi", id 11 zero-length, padding, id 200 "x". */
static const uint8_t two_byte_pkt[] = {
    0x90, 0x60, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10, 0xca, 0xfe, 0xba, 0xbe,
    0x10, 0x05, 0x00, 0x03,
    0x0a, 0x02, 'h', 'i',
    0x0b, 0x00, 0x00, 0xc8,
    0x01, 'x', 0x00, 0x00,
    0x01, 0x02,
};

static void test_parse_minimal(void **state)
{
    (void)state;
    const uint8_t pkt[] = {0x80, 0x00, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 2};
    odeon_rtp_view v;
    assert_int_equal(odeon_rtp_parse(pkt, sizeof(pkt), &v), 0);
    assert_false(v.marker);
    assert_false(v.extension);
    assert_int_equal(v.seq, 0xffff);
    assert_int_equal(v.timestamp, 1);
    assert_int_equal(v.ssrc, 2);
    assert_int_equal(v.payload_offset, 12);
    assert_int_equal(v.payload_len, 0);
    const uint8_t *d;
    size_t n;
    assert_int_equal(odeon_rtp_ext_find(&v, 1, &d, &n), ODEON_ENOENT);
}

static void test_parse_one_byte(void **state)
{
    (void)state;
    odeon_rtp_view v;
    assert_int_equal(odeon_rtp_parse(one_byte_pkt, sizeof(one_byte_pkt), &v), 0);
    assert_true(v.padding);
    assert_true(v.extension);
    assert_true(v.marker);
    assert_int_equal(v.csrc_count, 1);
    assert_int_equal(v.payload_type, 111);
    assert_int_equal(v.seq, 0x1234);
    assert_int_equal(v.timestamp, 0xdeadbeef);
    assert_int_equal(v.ssrc, 0x11223344);
    assert_int_equal(v.ext_profile, ODEON_RTP_EXT_ONE_BYTE);
    assert_int_equal(v.ext_offset, 20);
    assert_int_equal(v.ext_len, 16);
    assert_int_equal(v.payload_offset, 36);
    assert_int_equal(v.payload_len, 5);
    assert_int_equal(v.padding_len, 3);
    assert_memory_equal(one_byte_pkt + v.payload_offset, "hello", 5);

    bool voice;
    uint8_t level;
    assert_int_equal(odeon_rtp_ext_audio_level(&v, 1, &voice, &level), 0);
    assert_true(voice);
    assert_int_equal(level, 42);
    uint32_t ast;
    assert_int_equal(odeon_rtp_ext_abs_send_time(&v, 3, &ast), 0);
    assert_int_equal(ast, 0x0a0b0c);
    uint16_t tw;
    assert_int_equal(odeon_rtp_ext_twcc_seq(&v, 5, &tw), 0);
    assert_int_equal(tw, 0xabcd);
    char mid[17];
    assert_int_equal(odeon_rtp_ext_string(&v, 4, mid, sizeof(mid)), 2);
    assert_string_equal(mid, "av");
    /* Wrong sizes for the typed readers, missing ids. */
    assert_int_equal(odeon_rtp_ext_twcc_seq(&v, 3, &tw), ODEON_EINVAL);
    assert_int_equal(odeon_rtp_ext_abs_send_time(&v, 5, &ast), ODEON_EINVAL);
    assert_int_equal(odeon_rtp_ext_twcc_seq(&v, 9, &tw), ODEON_ENOENT);
    assert_int_equal(odeon_rtp_ext_string(&v, 4, mid, 2), ODEON_ENOMEM);
    assert_int_equal(odeon_rtp_ext_string(&v, 3, mid, sizeof(mid)), ODEON_EINVAL);
    const uint8_t *d;
    size_t n;
    assert_int_equal(odeon_rtp_ext_find(&v, 0, &d, &n), ODEON_EINVAL);
}

static void test_ext_iterate(void **state)
{
    (void)state;
    odeon_rtp_view v;
    assert_int_equal(odeon_rtp_parse(one_byte_pkt, sizeof(one_byte_pkt), &v), 0);
    const uint8_t want_ids[] = {1, 3, 5, 4};
    const size_t want_len[] = {1, 3, 2, 2};
    size_t pos = 0, i = 0, n;
    uint8_t id;
    const uint8_t *d;
    int r;
    while ((r = odeon_rtp_ext_next(&v, &pos, &id, &d, &n)) == 1) {
        assert_true(i < 4);
        assert_int_equal(id, want_ids[i]);
        assert_int_equal(n, want_len[i]);
        i++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(i, 4);
}

static void test_parse_two_byte(void **state)
{
    (void)state;
    odeon_rtp_view v;
    assert_int_equal(odeon_rtp_parse(two_byte_pkt, sizeof(two_byte_pkt), &v), 0);
    assert_int_equal(v.ext_profile, 0x1005);
    assert_int_equal(v.payload_len, 2);
    char rid[8];
    assert_int_equal(odeon_rtp_ext_string(&v, 10, rid, sizeof(rid)), 2);
    assert_string_equal(rid, "hi");
    assert_int_equal(odeon_rtp_ext_string(&v, 200, rid, sizeof(rid)), 1);
    assert_string_equal(rid, "x");
    const uint8_t *d;
    size_t n = 99;
    assert_int_equal(odeon_rtp_ext_find(&v, 11, &d, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(odeon_rtp_ext_string(&v, 11, rid, sizeof(rid)), ODEON_EINVAL);
    assert_int_equal(odeon_rtp_ext_find(&v, 12, &d, &n), ODEON_ENOENT);
}

static void test_ext_stop_and_malformed(void **state)
{
    (void)state;
    /* id 15 stops parsing: id 2 after it is not found. */
    const uint8_t stop[] = {0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                            0xbe, 0xde, 0x00, 0x01, 0xf0, 0x20, 0x07, 0x00};
    odeon_rtp_view v;
    const uint8_t *d;
    size_t n;
    assert_int_equal(odeon_rtp_parse(stop, sizeof(stop), &v), 0);
    assert_int_equal(odeon_rtp_ext_find(&v, 2, &d, &n), ODEON_ENOENT);
    /* An element claiming 4 bytes inside a 4-byte block: lookups fail, parse still works. */
    const uint8_t bad[] = {0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                           0xbe, 0xde, 0x00, 0x01, 0x13, 1, 2, 3};
    assert_int_equal(odeon_rtp_parse(bad, sizeof(bad), &v), 0);
    assert_int_equal(odeon_rtp_ext_find(&v, 1, &d, &n), ODEON_EINVAL);
    assert_int_equal(odeon_rtp_ext_find(&v, 2, &d, &n), ODEON_EINVAL);
    /* Two-byte element with its length byte missing. */
    const uint8_t bad2[] = {0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                            0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07};
    assert_int_equal(odeon_rtp_parse(bad2, sizeof(bad2), &v), 0);
    assert_int_equal(odeon_rtp_ext_find(&v, 7, &d, &n), ODEON_EINVAL);
    /* An unknown profile has no RFC 8285 elements. */
    const uint8_t other[] = {0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                             0x12, 0x34, 0x00, 0x01, 0x10, 0x00, 0x00, 0x00};
    assert_int_equal(odeon_rtp_parse(other, sizeof(other), &v), 0);
    assert_int_equal(odeon_rtp_ext_find(&v, 1, &d, &n), ODEON_ENOENT);
}

static void test_malformed(void **state)
{
    (void)state;
    odeon_rtp_view v;
    uint8_t pkt[sizeof(one_byte_pkt)];
    /* Every truncation of a padded packet either fails or (never) reads past its length. */
    for (size_t len = 0; len < sizeof(one_byte_pkt); len++) {
        memcpy(pkt, one_byte_pkt, len);
        int r = odeon_rtp_parse(pkt, len, &v);
        if (r == 0)
            assert_true(v.payload_offset + v.payload_len + v.padding_len <= len);
    }
    assert_int_equal(odeon_rtp_parse(one_byte_pkt, 11, &v), ODEON_EINVAL);
    assert_int_equal(odeon_rtp_parse(NULL, 12, &v), ODEON_EINVAL);

    memcpy(pkt, one_byte_pkt, sizeof(pkt));
    pkt[0] = 0x71; /* version 1 */
    assert_int_equal(odeon_rtp_parse(pkt, sizeof(pkt), &v), ODEON_EINVAL);

    const uint8_t csrc[] = {0x8f, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3, 4};
    assert_int_equal(odeon_rtp_parse(csrc, sizeof(csrc), &v), ODEON_EINVAL);

    memcpy(pkt, one_byte_pkt, sizeof(pkt));
    pkt[19] = 0x20; /* extension length 32 words, far past the packet */
    assert_int_equal(odeon_rtp_parse(pkt, sizeof(pkt), &v), ODEON_EINVAL);

    const uint8_t ext_hdr_cut[] = {0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde};
    assert_int_equal(odeon_rtp_parse(ext_hdr_cut, sizeof(ext_hdr_cut), &v), ODEON_EINVAL);

    memcpy(pkt, one_byte_pkt, sizeof(pkt));
    pkt[sizeof(pkt) - 1] = 9; /* padding larger than payload + padding (8) */
    assert_int_equal(odeon_rtp_parse(pkt, sizeof(pkt), &v), ODEON_EINVAL);
    pkt[sizeof(pkt) - 1] = 8; /* exactly the payload: a padding-only packet is fine */
    assert_int_equal(odeon_rtp_parse(pkt, sizeof(pkt), &v), 0);
    assert_int_equal(v.payload_len, 0);
    pkt[sizeof(pkt) - 1] = 0; /* a zero pad count cannot count itself */
    assert_int_equal(odeon_rtp_parse(pkt, sizeof(pkt), &v), ODEON_EINVAL);
}

static void test_writers(void **state)
{
    (void)state;
    uint8_t pkt[sizeof(one_byte_pkt)];
    memcpy(pkt, one_byte_pkt, sizeof(pkt));
    assert_int_equal(odeon_rtp_set_ssrc(pkt, sizeof(pkt), 0xa1b2c3d4), 0);
    assert_int_equal(odeon_rtp_set_seq(pkt, sizeof(pkt), 65535), 0);
    assert_int_equal(odeon_rtp_set_timestamp(pkt, sizeof(pkt), 7), 0);
    assert_int_equal(odeon_rtp_set_payload_type(pkt, sizeof(pkt), 96), 0);
    assert_int_equal(odeon_rtp_set_payload_type(pkt, sizeof(pkt), 128), ODEON_EINVAL);
    assert_int_equal(odeon_rtp_set_ssrc(pkt, 11, 1), ODEON_EINVAL);
    odeon_rtp_view v;
    assert_int_equal(odeon_rtp_parse(pkt, sizeof(pkt), &v), 0);
    assert_int_equal(v.ssrc, 0xa1b2c3d4);
    assert_int_equal(v.seq, 65535);
    assert_int_equal(v.timestamp, 7);
    assert_int_equal(v.payload_type, 96);
    assert_true(v.marker); /* PT write keeps the marker */
    assert_int_equal(odeon_rtp_set_marker(pkt, sizeof(pkt), false), 0);
    assert_int_equal(odeon_rtp_parse(pkt, sizeof(pkt), &v), 0);
    assert_false(v.marker);
    assert_int_equal(v.payload_type, 96);
    assert_int_equal(odeon_rtp_set_marker(pkt, sizeof(pkt), true), 0);
    assert_int_equal(odeon_rtp_parse(pkt, sizeof(pkt), &v), 0);
    assert_true(v.marker);

    assert_int_equal(odeon_rtp_set_twcc_seq(pkt, &v, 5, 0x0102), 0);
    uint16_t tw;
    assert_int_equal(odeon_rtp_ext_twcc_seq(&v, 5, &tw), 0);
    assert_int_equal(tw, 0x0102);
    assert_int_equal(odeon_rtp_set_twcc_seq(pkt, &v, 3, 1), ODEON_EINVAL); /* 3 bytes */
    assert_int_equal(odeon_rtp_set_twcc_seq(pkt, &v, 9, 1), ODEON_ENOENT);
    uint8_t other[sizeof(pkt)];
    assert_int_equal(odeon_rtp_set_twcc_seq(other, &v, 5, 1), ODEON_EINVAL);
    /* Everything else is untouched. */
    assert_memory_equal(pkt + 12, one_byte_pkt + 12, 15);
    assert_memory_equal(pkt + 29, one_byte_pkt + 29, sizeof(pkt) - 29);
}

static void test_demux(void **state)
{
    (void)state;
    const uint8_t stun[] = {0x00, 0x01, 0, 0};
    const uint8_t dtls[] = {22, 0xfe, 0xfd};
    const uint8_t rtp[] = {0x80, 0x6f, 0, 0};
    const uint8_t rtp_m[] = {0x80, 0xe0, 0, 0}; /* marker + PT 96 = 224: still RTP */
    const uint8_t rr[] = {0x81, 201, 0, 1};
    const uint8_t sr[] = {0x80, 200, 0, 6};
    const uint8_t turn[] = {0x40, 0x00};
    const uint8_t zrtp[] = {0x10};
    assert_int_equal(odeon_rtp_demux_classify(stun, sizeof(stun)), ODEON_DEMUX_STUN);
    assert_int_equal(odeon_rtp_demux_classify(dtls, sizeof(dtls)), ODEON_DEMUX_DTLS);
    assert_int_equal(odeon_rtp_demux_classify(rtp, sizeof(rtp)), ODEON_DEMUX_RTP);
    assert_int_equal(odeon_rtp_demux_classify(rtp_m, sizeof(rtp_m)), ODEON_DEMUX_RTP);
    assert_int_equal(odeon_rtp_demux_classify(rr, sizeof(rr)), ODEON_DEMUX_RTCP);
    assert_int_equal(odeon_rtp_demux_classify(turn, sizeof(turn)), ODEON_DEMUX_TURN);
    assert_int_equal(odeon_rtp_demux_classify(zrtp, sizeof(zrtp)), ODEON_DEMUX_ZRTP);
    assert_int_equal(odeon_rtp_demux_classify(rtp, 1), ODEON_DEMUX_UNKNOWN);
    assert_int_equal(odeon_rtp_demux_classify(NULL, 0), ODEON_DEMUX_UNKNOWN);
    const uint8_t other[] = {0xff, 0};
    assert_int_equal(odeon_rtp_demux_classify(other, sizeof(other)), ODEON_DEMUX_UNKNOWN);
    assert_true(odeon_rtp_is_rtcp(rr, sizeof(rr)));
    assert_true(odeon_rtp_is_rtcp(sr, sizeof(sr)));
    assert_false(odeon_rtp_is_rtcp(sr, 3));
    assert_false(odeon_rtp_is_rtcp(rtp, sizeof(rtp)));
    assert_false(odeon_rtp_is_rtcp(rtp_m, sizeof(rtp_m)));
    assert_false(odeon_rtp_is_rtcp(stun, sizeof(stun)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_minimal),
        cmocka_unit_test(test_parse_one_byte),
        cmocka_unit_test(test_ext_iterate),
        cmocka_unit_test(test_parse_two_byte),
        cmocka_unit_test(test_ext_stop_and_malformed),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_demux),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
