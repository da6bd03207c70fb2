/*
 * test_sdp.c - the SDP parser and writer: offers shaped like Chromium's, Firefox's and Safari's
 * (tests/fixtures/sdp/), the canonical round trip, refusals of malformed input with a reason,
 * and the lookup helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "plugin/plugin.h"
#include "webrtc/sdp.h"

#ifndef ODEON_TEST_FIXTURES_DIR
#define ODEON_TEST_FIXTURES_DIR "tests/fixtures"
#endif

static char *load_fixture(const char *name, size_t *len)
{
    char *path = g_build_filename(ODEON_TEST_FIXTURES_DIR, "sdp", name, NULL);
    char *text = NULL;
    gsize n = 0;
    assert_true(g_file_get_contents(path, &text, &n, NULL));
    g_free(path);
    *len = n;
    return text;
}

static odeon_sdp *parse_fixture(const char *name)
{
    size_t len = 0;
    char *text = load_fixture(name, &len);
    char *error = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, len, &error);
    if (sdp == NULL)
        fail_msg("%s: %s", name, error);
    g_free(text);
    return sdp;
}

static odeon_sdp *parse_str(const char *text, char **error)
{
    return odeon_sdp_parse(text, strlen(text), error);
}

/* write(parse(x)) must parse again and write to the same bytes: the writer is canonical. */
static void assert_round_trip(const odeon_sdp *sdp)
{
    char *first = odeon_sdp_write(sdp);
    char *error = NULL;
    odeon_sdp *again = parse_str(first, &error);
    if (again == NULL)
        fail_msg("re-parse failed: %s\n%s", error, first);
    char *second = odeon_sdp_write(again);
    assert_string_equal(first, second);
    assert_int_equal(again->media_count, sdp->media_count);
    for (const char *p = first; (p = strchr(p, '\n')) != NULL; p++)
        assert_true(p > first && p[-1] == '\r');
    odeon_sdp_free(again);
    g_free(first);
    g_free(second);
}

static void test_chrome_offer(void **state)
{
    (void)state;
    odeon_sdp *sdp = parse_fixture("chrome_offer.sdp");
    assert_string_equal(sdp->origin_sess_id, "4611731400430051336");
    assert_int_equal(sdp->origin_sess_version, 2);
    assert_true(sdp->common.extmap_allow_mixed);
    assert_string_equal(sdp->msid_semantic, "WMS 9f6a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b");
    const odeon_sdp_group *bundle = odeon_sdp_find_group(sdp, "BUNDLE");
    assert_non_null(bundle);
    assert_int_equal(bundle->mid_count, 3);
    assert_string_equal(bundle->mids[2], "2");
    assert_int_equal(sdp->media_count, 3);

    const odeon_sdp_media *audio = &sdp->media[0];
    assert_int_equal(audio->kind, ODEON_SDP_MEDIA_AUDIO);
    assert_int_equal(audio->port, 9);
    assert_string_equal(audio->proto, "UDP/TLS/RTP/SAVPF");
    assert_int_equal(audio->pt_count, 8);
    assert_int_equal(audio->common.direction, ODEON_SDP_DIR_SENDRECV);
    assert_true(audio->rtcp_mux && audio->rtcp_rsize && !audio->rtcp_mux_only);
    assert_string_equal(audio->common.ice_ufrag, "Hq3t");
    assert_string_equal(audio->common.ice_options, "trickle");
    assert_int_equal(audio->common.fingerprint_count, 1);
    assert_string_equal(audio->common.fingerprints[0].hash, "sha-256");
    assert_string_equal(audio->common.setup, "actpass");
    assert_int_equal(audio->common.extmap_count, 4);
    assert_int_equal(audio->common.extmaps[2].id, 3);
    assert_int_equal(audio->rtpmap_count, 8);
    assert_string_equal(audio->rtpmaps[0].name, "opus");
    assert_int_equal(audio->rtpmaps[0].clock_rate, 48000);
    assert_int_equal(audio->rtpmaps[0].channels, 2);
    assert_int_equal(audio->ssrc_count, 2);
    assert_int_equal(audio->ssrcs[0].ssrc, 3735928559u);
    assert_string_equal(audio->ssrcs[0].attribute, "cname");
    assert_int_equal(audio->common.attr_count, 1); /* a=rtcp:9 is kept verbatim */
    assert_string_equal(audio->common.attrs[0].name, "rtcp");

    const odeon_sdp_media *video = odeon_sdp_find_media_by_mid(sdp, "1");
    assert_ptr_equal(video, &sdp->media[1]);
    assert_int_equal(video->pt_count, 12);
    assert_int_equal(video->common.direction, ODEON_SDP_DIR_SENDONLY);
    assert_int_equal(video->rid_count, 3);
    assert_true(video->rids[0].send);
    assert_true(video->simulcast.present);
    assert_int_equal(video->simulcast.send.stream_count, 3);
    assert_string_equal(video->simulcast.send.streams[2].alts[0].rid, "f");
    assert_int_equal(video->simulcast.recv.stream_count, 0);
    assert_int_equal(odeon_sdp_media_find_codec(video, "av1"), 45);
    assert_int_equal(odeon_sdp_media_find_rtx(video, 45), 46);
    assert_int_equal(odeon_sdp_media_find_codec(video, "vp9"), 98);

    const odeon_sdp_media *data = &sdp->media[2];
    assert_int_equal(data->kind, ODEON_SDP_MEDIA_APPLICATION);
    assert_false(data->is_rtp);
    assert_string_equal(data->formats, "webrtc-datachannel");
    assert_int_equal(data->sctp_port, 5000);
    assert_int_equal(data->max_message_size, 262144);
    assert_round_trip(sdp);
    odeon_sdp_free(sdp);
}

static void test_firefox_offer(void **state)
{
    (void)state;
    odeon_sdp *sdp = parse_fixture("firefox_offer.sdp");
    assert_string_equal(sdp->origin_username, "mozilla...THIS_IS_SDPARTA-99.0");
    assert_int_equal(sdp->common.fingerprint_count, 1); /* session-level, unlike Chrome */
    assert_string_equal(sdp->common.ice_options, "trickle");
    assert_string_equal(sdp->msid_semantic, "WMS *");
    assert_int_equal(sdp->media_count, 2);
    const odeon_sdp_media *audio = &sdp->media[0];
    assert_int_equal(audio->common.extmaps[1].direction, ODEON_SDP_DIR_RECVONLY);
    assert_int_equal(audio->rtpmaps[1].channels, 1);
    assert_string_equal(audio->common.ice_pwd, "0f7c2b9e4a1d6c3b8e5f2a7d9c4b1e6a");

    const odeon_sdp_media *video = &sdp->media[1];
    assert_int_equal(video->pt_count, 11);
    assert_int_equal(video->rtcp_fb_count, 12);
    assert_int_equal(video->rtcp_fbs[11].pt, -1);
    assert_string_equal(video->rtcp_fbs[11].type, "ccm");
    assert_string_equal(video->rtcp_fbs[11].subtype, "tmmbr");
    assert_null(video->rtcp_fbs[3].subtype);
    assert_int_equal(video->simulcast.send.stream_count, 3);
    assert_true(video->simulcast.send.streams[2].alts[0].paused);
    assert_false(video->simulcast.send.streams[1].alts[0].paused);
    assert_int_equal(video->ssrc_group_count, 1);
    assert_string_equal(video->ssrc_groups[0].semantics, "FID");
    assert_int_equal(video->ssrc_groups[0].ssrcs[1], 2222222222u);
    assert_int_equal(video->candidate_count, 3);
    assert_true(g_str_has_suffix(video->candidates[2], "rport 54321"));
    assert_true(video->end_of_candidates);
    /* Two H264 entries: the first in m= order wins. */
    assert_int_equal(odeon_sdp_media_find_codec(video, "h264"), 126);
    assert_int_equal(odeon_sdp_media_find_rtx(video, 126), 127);
    assert_int_equal(odeon_sdp_media_find_rtx(video, 97), 98);
    char *mode = odeon_sdp_fmtp_get(odeon_sdp_media_find_fmtp(video, 126), "packetization-mode");
    assert_string_equal(mode, "1");
    g_free(mode);
    assert_round_trip(sdp);
    odeon_sdp_free(sdp);
}

static void test_safari_offer(void **state)
{
    (void)state;
    odeon_sdp *sdp = parse_fixture("safari_offer.sdp");
    const odeon_sdp_media *video = &sdp->media[1];
    assert_int_equal(video->ssrc_group_count, 4);
    assert_string_equal(video->ssrc_groups[0].semantics, "SIM");
    assert_int_equal(video->ssrc_groups[0].ssrc_count, 3);
    assert_int_equal(video->ssrc_groups[0].ssrcs[2], 2003);
    assert_int_equal(video->ssrc_groups[3].ssrcs[1], 3003);
    assert_int_equal(video->ssrc_count, 7);
    assert_false(video->simulcast.present);
    int h264 = odeon_sdp_media_find_codec(video, "H264");
    assert_int_equal(h264, 96);
    char *plid = odeon_sdp_fmtp_get(odeon_sdp_media_find_fmtp(video, h264), "profile-level-id");
    assert_string_equal(plid, "640c1f");
    g_free(plid);
    assert_int_equal(odeon_sdp_media_find_rtx(video, 100), 101);
    assert_int_equal(odeon_sdp_media_find_rtx(video, 127), ODEON_ENOENT);
    assert_int_equal(odeon_sdp_media_find_codec(video, "AV1"), ODEON_ENOENT);
    assert_round_trip(sdp);
    odeon_sdp_free(sdp);
}

/* The answer direction: recv simulcast with alternatives, mux-only, session-level ice-lite. */
static void test_answer_features(void **state)
{
    (void)state;
    const char *text = "v=0\n"
                       "o=odeon 1 1 IN IP4 10.0.0.1\n"
                       "s=Odeon\n"
                       "c=IN IP4 10.0.0.1\n"
                       "b=AS:2000\n"
                       "t=0 0\n"
                       "a=ice-lite\n"
                       "a=group:BUNDLE v\n"
                       "a=x-custom\n"
                       "m=video 9/2 UDP/TLS/RTP/SAVPF 96 97\n"
                       "a=mid:v\n"
                       "a=recvonly\n"
                       "a=rtcp-mux\n"
                       "a=rtcp-mux-only\n"
                       "a=extmap:12/sendrecv urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\n"
                       "a=rtpmap:96 VP8/90000\n"
                       "a=rtpmap:97 rtx/90000\n"
                       "a=fmtp:97 apt=96; rtx-time=3000\n"
                       "a=rid:h recv pt=96;max-width=1280\n"
                       "a=rid:l recv\n"
                       "a=simulcast:recv h,~l;m send x\n"
                       "a=ssrc:5 foo\n"
                       "a=weird:with:colons and spaces\n";
    char *error = NULL;
    odeon_sdp *sdp = parse_str(text, &error);
    assert_non_null(sdp);
    assert_true(sdp->ice_lite);
    assert_string_equal(sdp->common.connection, "IN IP4 10.0.0.1");
    assert_int_equal(sdp->common.bandwidth_count, 1);
    assert_string_equal(sdp->common.attrs[0].name, "x-custom");
    assert_null(sdp->common.attrs[0].value);
    const odeon_sdp_media *m = &sdp->media[0];
    assert_int_equal(m->port_count, 2);
    assert_true(m->rtcp_mux_only);
    assert_int_equal(m->common.extmaps[0].id, 12);
    assert_int_equal(m->common.extmaps[0].direction, ODEON_SDP_DIR_SENDRECV);
    assert_string_equal(m->common.extmaps[0].attributes, "vad=on");
    assert_int_equal(odeon_sdp_media_find_rtx(m, 96), 97);
    char *rtx_time = odeon_sdp_fmtp_get(odeon_sdp_media_find_fmtp(m, 97), "RTX-TIME");
    assert_string_equal(rtx_time, "3000");
    g_free(rtx_time);
    assert_null(odeon_sdp_fmtp_get(odeon_sdp_media_find_fmtp(m, 97), "apt2"));
    assert_string_equal(m->rids[0].params, "pt=96;max-width=1280");
    assert_false(m->rids[1].send);
    assert_int_equal(m->simulcast.recv.stream_count, 2);
    assert_int_equal(m->simulcast.recv.streams[0].alt_count, 2);
    assert_true(m->simulcast.recv.streams[0].alts[1].paused);
    assert_int_equal(m->simulcast.send.stream_count, 1);
    assert_null(m->ssrcs[0].value);
    assert_string_equal(m->common.attrs[0].value, "with:colons and spaces");
    assert_int_equal(m->sctp_port, -1);
    assert_round_trip(sdp);
    char *out = odeon_sdp_write(sdp);
    assert_non_null(strstr(out, "a=simulcast:send x recv h,~l;m\r\n"));
    assert_non_null(strstr(out, "m=video 9/2 UDP/TLS/RTP/SAVPF 96 97\r\n"));
    g_free(out);
    odeon_sdp_free(sdp);
}

/* CRLF and LF input give the same result; a missing final newline is fine. */
static void test_line_endings(void **state)
{
    (void)state;
    const char *lf = "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\nm=audio 9 RTP/AVP 0\na=mid:a";
    const char *crlf = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
                       "a=mid:a\r\n\r\n";
    odeon_sdp *a = parse_str(lf, NULL);
    odeon_sdp *b = parse_str(crlf, NULL);
    assert_non_null(a);
    assert_non_null(b);
    char *wa = odeon_sdp_write(a);
    char *wb = odeon_sdp_write(b);
    assert_string_equal(wa, wb);
    assert_string_equal(a->media[0].mid, "a");
    g_free(wa);
    g_free(wb);
    odeon_sdp_free(a);
    odeon_sdp_free(b);
}

#define HEAD "v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\n"
#define VIDEO "m=video 9 UDP/TLS/RTP/SAVPF 96\n"

static void assert_refused(const char *text, size_t len, const char *reason)
{
    char *error = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, len, &error);
    if (sdp != NULL)
        fail_msg("accepted: %s", text);
    assert_non_null(error);
    if (reason != NULL && strstr(error, reason) == NULL)
        fail_msg("reason '%s' lacks '%s'", error, reason);
    g_free(error);
    assert_null(odeon_sdp_parse(text, len, NULL)); /* error may be NULL */
}

static void refused(const char *text, const char *reason)
{
    assert_refused(text, strlen(text), reason);
}

static void test_malformed(void **state)
{
    (void)state;
    refused("", "empty");
    refused("o=- 1 1 IN IP4 0.0.0.0\ns=-\nt=0 0\n", "line 1: the first line must be v=");
    refused("v=1\n", "v=");
    refused("v=0\ns=-\n", "o= must follow v=");
    refused("v=0\no=- 1 1 IN IP4\ns=-\nt=0 0\n", "o=");
    refused("v=0\no=- 1 1 IN IP4 0.0.0.0\ns=-\n", "missing one of");
    refused(HEAD "m=video\n", "line 5: m=");
    refused(HEAD "m=video 70000 RTP/AVP 96\n", "m=");
    refused(HEAD "m=video 9 RTP/AVP\n", "m=");
    refused(HEAD "m=video 9 RTP/AVP 128\n", "m=");
    refused(HEAD "m=video 9 RTP/AVP x\n", "m=");
    refused(HEAD VIDEO "a=rtpmap:300 VP8/90000\n", "line 6: a=rtpmap: payload type out of range");
    refused(HEAD VIDEO "a=rtpmap:96 VP8\n", "a=rtpmap");
    refused(HEAD VIDEO "a=rtpmap:96 VP8/0\n", "a=rtpmap");
    refused(HEAD VIDEO "a=rtpmap:96\n", "a=rtpmap");
    refused(HEAD VIDEO "a=rtpmap:-1 VP8/90000\n", "a=rtpmap");
    refused(HEAD VIDEO "a=fmtp:abc x=1\n", "a=fmtp");
    refused(HEAD VIDEO "a=rtcp-fb:96\n", "a=rtcp-fb");
    refused(HEAD VIDEO "a=extmap:0 urn:x\n", "a=extmap");
    refused(HEAD VIDEO "a=extmap:256 urn:x\n", "a=extmap");
    refused(HEAD VIDEO "a=extmap:1/sideways urn:x\n", "a=extmap");
    refused(HEAD VIDEO "a=extmap:1\n", "a=extmap");
    refused(HEAD VIDEO "a=ssrc:4294967296 cname:x\n", "a=ssrc");
    refused(HEAD VIDEO "a=ssrc:1\n", "a=ssrc");
    refused(HEAD VIDEO "a=ssrc-group:FID\n", "a=ssrc-group");
    refused(HEAD VIDEO "a=ssrc-group:FID 1 x\n", "a=ssrc-group");
    refused(HEAD VIDEO "a=rid:h sideways\n", "a=rid");
    refused(HEAD VIDEO "a=rid:h!x send\n", "a=rid");
    refused(HEAD VIDEO "a=simulcast:send h;;l\n", "a=simulcast");
    refused(HEAD VIDEO "a=simulcast:send h send l\n", "a=simulcast");
    refused(HEAD VIDEO "a=simulcast:both h\n", "a=simulcast");
    refused(HEAD VIDEO "a=simulcast:send ~\n", "a=simulcast");
    refused(HEAD VIDEO "a=mid:a\na=mid:b\n", "repeated");
    refused(HEAD VIDEO "a=sendonly\na=recvonly\n", "direction");
    refused(HEAD VIDEO "a=setup:sometimes\n", "a=setup");
    refused(HEAD VIDEO "a=fingerprint:sha-256 ZZ:11\n", "a=fingerprint");
    refused(HEAD VIDEO "a=candidate:1 1 udp 1 1.2.3.4\n", "a=candidate");
    refused(HEAD VIDEO "a=sctp-port:65536\n", "a=sctp-port");
    refused(HEAD VIDEO "a=rtcp-mux:yes\n", "a=rtcp-mux");
    refused(HEAD "a=rtpmap:96 VP8/90000\n", "only allowed in a media section");
    refused(HEAD VIDEO "a=group:BUNDLE 0\n", "only allowed at session level");
    refused(HEAD VIDEO "x=what\n", "unknown line type");
    refused(HEAD VIDEO "a=\n", "attribute name");
    refused(HEAD "garbage\n", "line 5");
    refused(HEAD VIDEO "a=mid:0\ra=x\n", "control character");
    /* Truncated: a valid offer cut mid-line. */
    refused(HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\na=rtpmap:96 VP8/", "a=rtpmap");
    refused(HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\na=rtpmap:96 VP", "a=rtpmap");
    refused(HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\na=ssrc:12", "a=ssrc");
    refused(HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\na=fingerprint:sha-256", "a=fingerprint");
    refused(HEAD "m=vid", "m=");
    /* Binary garbage, including NUL bytes. */
    static const char junk[] = "v=0\n\x00\xff\xfe\x01garbage\x80\n";
    assert_refused(junk, sizeof junk - 1, "control character");
}

static void test_limits(void **state)
{
    (void)state;
    GString *s = g_string_new(HEAD);
    for (int i = 0; i <= ODEON_SDP_MAX_MEDIA; i++)
        g_string_append(s, "m=audio 9 RTP/AVP 0\n");
    refused(s->str, "more than 64 media sections");

    g_string_assign(s, HEAD "m=video 9 RTP/AVP");
    for (int i = 0; i <= ODEON_SDP_MAX_PTS; i++)
        g_string_append(s, " 96");
    refused(s->str, "m=");

    g_string_assign(s, HEAD "s=");
    for (int i = 0; i <= ODEON_SDP_MAX_LINE; i++)
        g_string_append_c(s, 'x');
    refused(s->str, "line longer than 4096");

    g_string_assign(s, HEAD VIDEO);
    for (int i = 0; i <= ODEON_SDP_MAX_ITEMS; i++)
        g_string_append_printf(s, "a=ssrc:%d cname:x\n", i);
    refused(s->str, "too many a=ssrc");

    g_string_assign(s, HEAD VIDEO "a=ssrc-group:SIM");
    for (int i = 0; i <= ODEON_SDP_MAX_LIST; i++)
        g_string_append_printf(s, " %d", i);
    refused(s->str, "a=ssrc-group");

    char *big = g_malloc0(ODEON_SDP_MAX_INPUT + 1);
    memset(big, 'a', ODEON_SDP_MAX_INPUT + 1);
    assert_refused(big, ODEON_SDP_MAX_INPUT + 1, "larger than");
    g_free(big);
    g_string_free(s, TRUE);
}

static void test_helpers(void **state)
{
    (void)state;
    assert_null(odeon_sdp_fmtp_get(NULL, "apt"));
    char *v = odeon_sdp_fmtp_get("stereo;apt=96", "stereo");
    assert_string_equal(v, "");
    g_free(v);
    v = odeon_sdp_fmtp_get("aptx=1;apt=100", "apt");
    assert_string_equal(v, "100");
    g_free(v);
    assert_null(odeon_sdp_find_media_by_mid(NULL, "0"));
    assert_int_equal(odeon_sdp_media_find_codec(NULL, "VP8"), ODEON_ENOENT);
    assert_string_equal(odeon_sdp_direction_name(ODEON_SDP_DIR_INACTIVE), "inactive");
    assert_null(odeon_sdp_direction_name(ODEON_SDP_DIR_NONE));
    assert_null(odeon_sdp_write(NULL));
    odeon_sdp_free(NULL);

    odeon_sdp *sdp = parse_fixture("chrome_offer.sdp");
    assert_null(odeon_sdp_find_media_by_mid(sdp, "9"));
    assert_null(odeon_sdp_find_group(sdp, "LS"));
    assert_null(odeon_sdp_media_find_rtpmap(&sdp->media[0], 127));
    assert_null(odeon_sdp_media_find_fmtp(&sdp->media[0], 0));
    assert_int_equal(odeon_sdp_media_find_codec(&sdp->media[0], "OPUS"), 111);
    assert_int_equal(odeon_sdp_media_find_rtx(&sdp->media[0], 111), ODEON_ENOENT);
    odeon_sdp_free(sdp);
}

/* A hand-built answer: only the fields set are written, and it parses back. */
static void test_write_built(void **state)
{
    (void)state;
    odeon_sdp *sdp = g_new0(odeon_sdp, 1);
    sdp->origin_sess_id = g_strdup("42");
    sdp->origin_sess_version = 7;
    odeon_sdp_media *m = odeon_sdp_add_media(sdp);
    assert_non_null(m);
    assert_int_equal(m->sctp_port, -1);
    m->media = g_strdup("application");
    m->kind = ODEON_SDP_MEDIA_APPLICATION;
    m->proto = g_strdup("UDP/DTLS/SCTP");
    m->formats = g_strdup("webrtc-datachannel");
    m->mid = g_strdup("d");
    m->sctp_port = 5000;
    char *out = odeon_sdp_write(sdp);
    assert_string_equal(out, "v=0\r\no=- 42 7 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                             "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                             "a=mid:d\r\na=sctp-port:5000\r\n");
    odeon_sdp *back = parse_str(out, NULL);
    assert_non_null(back);
    assert_int_equal(back->media[0].sctp_port, 5000);
    odeon_sdp_free(back);
    g_free(out);
    odeon_sdp_free(sdp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chrome_offer), cmocka_unit_test(test_firefox_offer),
        cmocka_unit_test(test_safari_offer), cmocka_unit_test(test_answer_features),
        cmocka_unit_test(test_line_endings), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_write_built),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
