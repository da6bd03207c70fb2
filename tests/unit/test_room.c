/*
 * test_room.c - the room plugin's pure parts: what it reads from its answers and offers
 * (room_sdp.c) and its RTP work (room_rtp.c): extensions found in either form, the audio
 * level, the extension block rewritten with the ids subscribers were offered, and the SSRCs
 * of PLIs and FIRs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "room_rtp.h"
#include "room_sdp.h"

static const char *ANSWER =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\na=recvonly\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    "a=simulcast:recv h;m;l\r\na=ssrc:12345 cname:x\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:x\r\n"
    "m=video 0 UDP/TLS/RTP/SAVPF 98\r\na=mid:2\r\na=inactive\r\na=rtpmap:98 H264/90000\r\n";

static void sdp_reads_each_media(void **state)
{
    (void)state;
    room_sdp_media m[8];
    size_t n = room_sdp_read(ANSWER, m, 8);
    assert_int_equal(n, 3); /* the data channel is not counted */
    assert_false(m[0].video);
    assert_string_equal(m[0].mid, "0");
    assert_int_equal(m[0].pt, 111);
    assert_string_equal(m[0].codec, "opus");
    assert_int_equal(m[0].clock_rate, 48000);
    assert_string_equal(m[0].fmtp, "minptime=10;useinbandfec=1");
    assert_int_equal(m[0].audio_level_ext, 1);
    assert_true(m[0].receives);
    assert_false(m[0].sends);
    assert_int_equal(m[0].rtx_pt, -1);
    assert_true(m[1].video);
    assert_int_equal(m[1].pt, 96);
    assert_string_equal(m[1].codec, "VP8");
    assert_int_equal(m[1].rtx_pt, 97);
    assert_true(m[1].simulcast);
    assert_int_equal(m[1].ssrc, 12345);
    assert_int_equal(m[1].index, 1);
    assert_true(m[2].rejected);
    assert_int_equal(m[2].index, 3);
    assert_false(m[2].sends || m[2].receives);
}

static void sdp_survives_junk(void **state)
{
    (void)state;
    room_sdp_media m[2];
    assert_int_equal(room_sdp_read("", m, 2), 0);
    assert_int_equal(room_sdp_read(NULL, m, 2), 0);
    assert_int_equal(room_sdp_read("m=audio\nm=audio 9\nm=video 9\na=rtpmap:x\na=extmap:\n", m, 2), 2);
    assert_int_equal(m[0].pt, -1);
    assert_int_equal(m[1].pt, -1);
    /* More m-lines than room: the first ones only. */
    assert_int_equal(room_sdp_read("m=audio 9 P 0\nm=audio 9 P 0\nm=audio 9 P 0\n", m, 2), 2);
}

/* An RTP packet with a one-byte extension block: audio level (id 1) and a mid (id 4). */
static size_t one_byte_packet(uint8_t *p)
{
    static const uint8_t pkt[] = {0x90, 111, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3,
                                  0xBE, 0xDE, 0, 2, 0x10, 0x85, 0x40, '0', 0, 0, 0, 0,
                                  0xAA, 0xBB, 0xCC};
    memcpy(p, pkt, sizeof pkt);
    return sizeof pkt;
}

static void rtp_finds_extensions(void **state)
{
    (void)state;
    uint8_t p[64];
    size_t len = one_byte_packet(p);
    assert_int_equal(room_rtp_audio_level(p, len, 1), 5);
    const uint8_t *d;
    size_t dl;
    assert_int_equal(room_rtp_ext_find(p, len, 4, &d, &dl), 0);
    assert_int_equal(dl, 1);
    assert_int_equal(d[0], '0');
    assert_int_equal(room_rtp_ext_find(p, len, 7, &d, &dl), -1);
    /* Two-byte form: id 9, 2 bytes. */
    static const uint8_t two[] = {0x90, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3,
                                  0x10, 0x00, 0, 1, 9, 2, 0x12, 0x34, 0xEE};
    assert_int_equal(room_rtp_ext_find(two, sizeof two, 9, &d, &dl), 0);
    assert_int_equal(dl, 2);
    assert_int_equal(d[1], 0x34);
    /* An element running past its block. */
    uint8_t bad[64];
    memcpy(bad, p, len);
    bad[16] = 0x1F; /* id 1, 16 bytes */
    assert_int_equal(room_rtp_audio_level(bad, len, 1), -1);
    assert_int_equal(room_rtp_audio_level(p, 11, 1), -1);
}

static void rtp_normalize_rewrites_ids(void **state)
{
    (void)state;
    uint8_t p[64], out[128];
    size_t len = one_byte_packet(p);
    size_t n = room_rtp_normalize(p, len, 5, out, sizeof out);
    assert_int_equal(n, 12 + 4 + 8 + 3);
    assert_memory_equal(out, p, 2); /* V, X, PT as they were */
    assert_int_equal(out[12], 0xBE);
    assert_int_equal(out[15], 2); /* two words of elements */
    const uint8_t *d;
    size_t dl;
    assert_int_equal(room_rtp_ext_find(out, n, ROOM_EXT_TWCC, &d, &dl), 0);
    assert_int_equal(dl, 2);
    assert_int_equal(room_rtp_audio_level(out, n, ROOM_EXT_AUDIO_LEVEL), 5);
    assert_int_equal(room_rtp_ext_find(out, n, 4, &d, &dl), 0); /* 4 is now the level */
    assert_memory_equal(out + n - 3, "\xAA\xBB\xCC", 3);
    /* Without an extension block, and video (no level): one word. */
    uint8_t plain[15] = {0x80, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3};
    n = room_rtp_normalize(plain, sizeof plain, -1, out, sizeof out);
    assert_int_equal(n, 12 + 4 + 4 + 3);
    assert_int_equal(out[0], 0x90);
    assert_int_equal(room_rtp_audio_level(out, n, ROOM_EXT_AUDIO_LEVEL), -1);
    /* Too small an output, not RTP. */
    assert_int_equal(room_rtp_normalize(plain, sizeof plain, -1, out, 20), 0);
    plain[0] = 0x40;
    assert_int_equal(room_rtp_normalize(plain, sizeof plain, -1, out, sizeof out), 0);
}

static void rtcp_keyframe_requests(void **state)
{
    (void)state;
    /* RR (empty), PLI for 0x01020304, FIR with two entries. */
    static const uint8_t c[] = {0x80, 201, 0, 1, 0, 0, 0, 9,
                                0x81, 206, 0, 2, 0, 0, 0, 9, 1, 2, 3, 4,
                                0x84, 206, 0, 6, 0, 0, 0, 9, 0, 0, 0, 0,
                                0, 0, 0, 7, 1, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0};
    uint32_t ssrcs[4];
    int n = room_rtcp_keyframe_ssrcs(c, sizeof c, ssrcs, 4);
    assert_int_equal(n, 3);
    assert_int_equal(ssrcs[0], 0x01020304);
    assert_int_equal(ssrcs[1], 7);
    assert_int_equal(ssrcs[2], 8);
    assert_int_equal(room_rtcp_keyframe_ssrcs(c, sizeof c, ssrcs, 1), 1);
    assert_int_equal(room_rtcp_keyframe_ssrcs(c, 10, ssrcs, 4), 0); /* truncated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sdp_reads_each_media),
        cmocka_unit_test(sdp_survives_junk),
        cmocka_unit_test(rtp_finds_extensions),
        cmocka_unit_test(rtp_normalize_rewrites_ids),
        cmocka_unit_test(rtcp_keyframe_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
