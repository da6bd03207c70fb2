/*
 * test_jsep.c - offer/answer on top of the SDP parser: answers to the browser offers in
 * tests/fixtures/sdp/ (codec choice, payload type numbers, RTX, feedback, extensions, direction,
 * our streams, rejected m-lines, simulcast), our own offers, the checks on a remote
 * description, the transport attributes, the negotiated view and the payload type map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "plugin/plugin.h"
#include "webrtc/jsep.h"
#include "webrtc/sdp.h"

#ifndef ODEON_TEST_FIXTURES_DIR
#define ODEON_TEST_FIXTURES_DIR "tests/fixtures"
#endif

/* ---- helpers ---- */

static char *load_fixture(const char *name)
{
    char *path = g_build_filename(ODEON_TEST_FIXTURES_DIR, "sdp", name, NULL);
    char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_free(path);
    return text;
}

static odeon_sdp *parse_str(const char *text)
{
    char *error = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, strlen(text), &error);
    if (sdp == NULL)
        fail_msg("parse failed: %s\n%s", error, text);
    return sdp;
}

static odeon_sdp *parse_fixture(const char *name)
{
    char *text = load_fixture(name);
    odeon_sdp *sdp = parse_str(text);
    g_free(text);
    return sdp;
}

/* The fixture without every line starting with prefix. */
static odeon_sdp *parse_fixture_without(const char *name, const char *prefix)
{
    char *text = load_fixture(name);
    gchar **lines = g_strsplit(text, "\n", -1);
    GString *out = g_string_new(NULL);
    for (gchar **l = lines; *l; l++)
        if (**l != '\0' && !g_str_has_prefix(*l, prefix))
            g_string_append_printf(out, "%s\n", *l);
    g_strfreev(lines);
    g_free(text);
    odeon_sdp *sdp = parse_str(out->str);
    g_string_free(out, TRUE);
    return sdp;
}

/* The fixture with every `from` replaced by `to`. */
static odeon_sdp *parse_fixture_replacing(const char *name, const char *from, const char *to)
{
    char *text = load_fixture(name);
    gchar **parts = g_strsplit(text, from, -1);
    char *joined = g_strjoinv(to, parts);
    odeon_sdp *sdp = parse_str(joined);
    g_strfreev(parts);
    g_free(joined);
    g_free(text);
    return sdp;
}

static odeon_jsep_answer_options default_options(void)
{
    return (odeon_jsep_answer_options){.audio = true, .video = true};
}

static odeon_sdp *answer_ok(const odeon_sdp *offer, const odeon_jsep_answer_options *o)
{
    char *error = NULL;
    odeon_sdp *answer = odeon_jsep_answer(offer, o, &error);
    if (answer == NULL)
        fail_msg("answer failed: %s", error);
    assert_null(error);
    return answer;
}

static bool has_ext(const odeon_sdp_media *m, const char *uri, unsigned *id)
{
    for (size_t i = 0; i < m->common.extmap_count; i++) {
        if (strcmp(m->common.extmaps[i].uri, uri) == 0) {
            if (id)
                *id = m->common.extmaps[i].id;
            return true;
        }
    }
    return false;
}

static bool has_fb(const odeon_sdp_media *m, int pt, const char *type, const char *subtype)
{
    for (size_t i = 0; i < m->rtcp_fb_count; i++) {
        const odeon_sdp_rtcp_fb *f = &m->rtcp_fbs[i];
        if (f->pt == pt && strcmp(f->type, type) == 0 && g_strcmp0(f->subtype, subtype) == 0)
            return true;
    }
    return false;
}

static bool has_ssrc_attr(const odeon_sdp_media *m, uint32_t ssrc, const char *attr)
{
    for (size_t i = 0; i < m->ssrc_count; i++)
        if (m->ssrcs[i].ssrc == ssrc && strcmp(m->ssrcs[i].attribute, attr) == 0)
            return true;
    return false;
}

/* The answer writes, parses again and keeps its m-lines. */
static odeon_sdp *reparse(const odeon_sdp *sdp)
{
    char *text = odeon_sdp_write(sdp);
    odeon_sdp *again = parse_str(text);
    assert_int_equal(again->media_count, sdp->media_count);
    g_free(text);
    return again;
}

static void assert_bundle(const odeon_sdp *sdp, const char *const *mids, size_t count)
{
    const odeon_sdp_group *g = odeon_sdp_find_group(sdp, "BUNDLE");
    assert_non_null(g);
    assert_int_equal(g->mid_count, count);
    for (size_t i = 0; i < count; i++)
        assert_string_equal(g->mids[i], mids[i]);
}

/* ---- answers to browser offers ---- */

static void test_answer_chrome(void **state)
{
    (void)state;
    odeon_sdp *offer = parse_fixture("chrome_offer.sdp");
    odeon_jsep_answer_options o = default_options();
    odeon_sdp *answer = answer_ok(offer, &o);

    assert_int_equal(answer->media_count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(answer->media[i].mid, offer->media[i].mid);
    assert_bundle(answer, (const char *const[]){"0", "1"}, 2);

    /* Audio: opus with the offerer's number, nothing else; sendrecv with our stream. */
    const odeon_sdp_media *a = &answer->media[0];
    assert_int_equal(a->kind, ODEON_SDP_MEDIA_AUDIO);
    assert_int_not_equal(a->port, 0);
    assert_true(a->rtcp_mux);
    assert_int_equal(a->pt_count, 1);
    assert_int_equal(a->pts[0], 111);
    assert_string_equal(odeon_sdp_media_find_rtpmap(a, 111)->name, "opus");
    assert_int_equal(odeon_sdp_media_find_rtpmap(a, 111)->channels, 2);
    assert_string_equal(odeon_sdp_media_find_fmtp(a, 111), "minptime=10;useinbandfec=1");
    assert_true(has_fb(a, 111, "transport-cc", NULL));
    assert_int_equal(a->common.direction, ODEON_SDP_DIR_SENDRECV);
    unsigned id = 0;
    assert_true(has_ext(a, ODEON_EXT_AUDIO_LEVEL, &id) && id == 1);
    assert_true(has_ext(a, ODEON_EXT_ABS_SEND_TIME, &id) && id == 2);
    assert_true(has_ext(a, ODEON_EXT_TWCC, &id) && id == 3);
    assert_true(has_ext(a, ODEON_EXT_MID, &id) && id == 4);
    assert_int_equal(a->common.extmap_count, 4);
    assert_int_equal(a->msid_count, 1);
    assert_int_equal(a->ssrc_group_count, 0); /* no RTX for opus */
    assert_true(a->ssrc_count >= 1);
    uint32_t ssrc = a->ssrcs[0].ssrc;
    assert_int_not_equal(ssrc, 0);
    assert_true(has_ssrc_attr(a, ssrc, "cname"));
    assert_true(has_ssrc_attr(a, ssrc, "msid"));
    for (size_t i = 0; i < a->ssrc_count; i++)
        if (strcmp(a->ssrcs[i].attribute, "cname") == 0)
            assert_string_equal(a->ssrcs[i].value, "odeon");

    /* Video: VP8 (first in the offer) + its RTX; the offer is sendonly so we only receive. */
    const odeon_sdp_media *v = &answer->media[1];
    assert_int_equal(v->pt_count, 2);
    assert_int_equal(v->pts[0], 96);
    assert_int_equal(v->pts[1], 97);
    assert_string_equal(odeon_sdp_media_find_rtpmap(v, 96)->name, "VP8");
    assert_string_equal(odeon_sdp_media_find_rtpmap(v, 97)->name, "rtx");
    assert_int_equal(odeon_sdp_media_find_rtx(v, 96), 97);
    assert_true(has_fb(v, 96, "nack", NULL));
    assert_true(has_fb(v, 96, "nack", "pli"));
    assert_true(has_fb(v, 96, "ccm", "fir"));
    assert_true(has_fb(v, 96, "goog-remb", NULL));
    assert_true(has_fb(v, 96, "transport-cc", NULL));
    assert_int_equal(v->common.direction, ODEON_SDP_DIR_RECVONLY);
    assert_int_equal(v->msid_count, 0);
    assert_int_equal(v->ssrc_count, 0);
    assert_int_equal(v->ssrc_group_count, 0);
    assert_true(has_ext(v, ODEON_EXT_MID, &id) && id == 4);
    assert_true(has_ext(v, ODEON_EXT_ABS_SEND_TIME, NULL));
    assert_true(has_ext(v, ODEON_EXT_TWCC, NULL));
    assert_false(has_ext(v, "urn:ietf:params:rtp-hdrext:toffset", NULL));
    assert_false(has_ext(v, "urn:3gpp:video-orientation", NULL));
    assert_false(has_ext(v, ODEON_EXT_RID, NULL)); /* no simulcast asked */
    assert_false(has_ext(v, ODEON_EXT_REPAIRED_RID, NULL));
    assert_int_equal(v->common.extmap_count, 3);
    assert_int_equal(v->rid_count, 0);
    assert_false(v->simulcast.present);

    /* Data channel: rejected. */
    assert_int_equal(answer->media[2].port, 0);
    assert_int_equal(answer->media[2].kind, ODEON_SDP_MEDIA_APPLICATION);

    odeon_sdp *again = reparse(answer);
    assert_int_equal(again->media[2].port, 0);
    assert_int_equal(again->media[1].pt_count, 2);
    odeon_sdp_free(again);
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);
}

static void test_answer_firefox(void **state)
{
    (void)state;
    odeon_sdp *offer = parse_fixture("firefox_offer.sdp");
    odeon_jsep_answer_options o = default_options();
    o.cname = "me";
    odeon_sdp *answer = answer_ok(offer, &o);
    assert_int_equal(answer->media_count, 2);
    assert_bundle(answer, (const char *const[]){"0", "1"}, 2);

    const odeon_sdp_media *a = &answer->media[0];
    assert_int_equal(a->pt_count, 1);
    assert_int_equal(a->pts[0], 109);
    assert_string_equal(odeon_sdp_media_find_fmtp(a, 109),
                        "maxplaybackrate=48000;stereo=1;useinbandfec=1");
    assert_true(has_ext(a, ODEON_EXT_AUDIO_LEVEL, NULL));
    assert_false(has_ext(a, "urn:ietf:params:rtp-hdrext:csrc-audio-level", NULL));

    /* Video sendrecv: VP8 120 + rtx 124, and our stream with an FID group. */
    const odeon_sdp_media *v = &answer->media[1];
    assert_int_equal(v->pt_count, 2);
    assert_int_equal(v->pts[0], 120);
    assert_int_equal(v->pts[1], 124);
    assert_string_equal(odeon_sdp_media_find_fmtp(v, 124), "apt=120");
    assert_false(has_fb(v, 120, "ccm", "tmmbr")); /* a=rtcp-fb:* ccm tmmbr is not ours */
    assert_true(has_fb(v, 120, "nack", NULL));
    assert_int_equal(v->common.direction, ODEON_SDP_DIR_SENDRECV);
    assert_int_equal(v->msid_count, 1);
    assert_int_equal(v->ssrc_group_count, 1);
    assert_string_equal(v->ssrc_groups[0].semantics, "FID");
    assert_int_equal(v->ssrc_groups[0].ssrc_count, 2);
    uint32_t main_ssrc = v->ssrc_groups[0].ssrcs[0], rtx_ssrc = v->ssrc_groups[0].ssrcs[1];
    assert_int_not_equal(main_ssrc, 0);
    assert_int_not_equal(rtx_ssrc, 0);
    assert_int_not_equal(main_ssrc, rtx_ssrc);
    assert_true(has_ssrc_attr(v, main_ssrc, "cname"));
    assert_true(has_ssrc_attr(v, rtx_ssrc, "cname"));
    assert_true(has_ssrc_attr(v, rtx_ssrc, "msid"));
    assert_string_equal(v->ssrcs[0].value, "me");
    assert_false(has_ext(v, ODEON_EXT_RID, NULL));
    assert_int_equal(v->rid_count, 0);

    odeon_sdp *again = reparse(answer);
    assert_int_equal(again->media[1].ssrc_group_count, 1);
    odeon_sdp_free(again);
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);
}

static void test_answer_safari(void **state)
{
    (void)state;
    odeon_sdp *offer = parse_fixture("safari_offer.sdp");
    odeon_jsep_answer_options o = default_options();
    odeon_sdp *answer = answer_ok(offer, &o);
    assert_int_equal(answer->media_count, 2);
    assert_int_equal(answer->media[0].pts[0], 111);
    /* H264 comes first in Safari's offer; of its two, the constrained baseline (42e01f). */
    const odeon_sdp_media *v = &answer->media[1];
    assert_int_equal(v->pt_count, 2);
    assert_int_equal(v->pts[0], 98);
    assert_int_equal(v->pts[1], 99);
    odeon_sdp_free(answer);

    o.video_codecs = "vp8";
    answer = answer_ok(offer, &o);
    v = &answer->media[1];
    assert_int_equal(v->pts[0], 100);
    assert_int_equal(v->pts[1], 101);
    assert_string_equal(odeon_sdp_media_find_fmtp(v, 101), "apt=100");
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);
}

static int answered_video_pt(const odeon_sdp *offer, const char *pref, int *rtx)
{
    odeon_jsep_answer_options o = default_options();
    o.video_codecs = pref;
    odeon_sdp *answer = answer_ok(offer, &o);
    const odeon_sdp_media *v = &answer->media[1];
    int pt = v->port == 0 ? -1 : v->pts[0];
    *rtx = v->port == 0 ? -1 : odeon_sdp_media_find_rtx(v, pt);
    if (v->port != 0)
        assert_int_equal(v->pt_count, *rtx >= 0 ? 2 : 1);
    odeon_sdp_free(answer);
    return pt;
}

static void test_answer_codec_preference(void **state)
{
    (void)state;
    odeon_sdp *chrome = parse_fixture("chrome_offer.sdp");
    int rtx = 0;
    assert_int_equal(answered_video_pt(chrome, "h264", &rtx), 102);
    assert_int_equal(rtx, 103);
    assert_int_equal(answered_video_pt(chrome, "vp9", &rtx), 98); /* profile 0, not 100 */
    assert_int_equal(rtx, 99);
    assert_int_equal(answered_video_pt(chrome, "av1", &rtx), 45);
    assert_int_equal(rtx, 46);
    assert_int_equal(answered_video_pt(chrome, "h265, vp9,vp8", &rtx), 98);
    assert_int_equal(answered_video_pt(chrome, "H264", &rtx), 102);
    /* Nothing in common: the video m-line is rejected, audio still accepted. */
    assert_int_equal(answered_video_pt(chrome, "h265", &rtx), -1);

    odeon_sdp *firefox = parse_fixture("firefox_offer.sdp");
    /* 97 is H264 without packetization-mode (single NAL): never picked. */
    assert_int_equal(answered_video_pt(firefox, "h264", &rtx), 126);
    assert_int_equal(rtx, 127);
    assert_int_equal(answered_video_pt(firefox, "vp9", &rtx), 121);
    odeon_sdp_free(firefox);

    /* Only single-NAL H264 offered: nothing to accept. */
    odeon_sdp *only97 = parse_fixture_replacing(
        "firefox_offer.sdp", "m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98 123 122 119",
        "m=video 9 UDP/TLS/RTP/SAVPF 97 98");
    assert_int_equal(answered_video_pt(only97, "h264", &rtx), -1);
    assert_int_equal(answered_video_pt(only97, NULL, &rtx), -1);
    odeon_sdp_free(only97);

    odeon_jsep_answer_options o = default_options();
    o.audio_codecs = "pcmu";
    odeon_sdp *answer = answer_ok(chrome, &o); /* opus only: audio rejected, video kept */
    assert_int_equal(answer->media[0].port, 0);
    assert_int_equal(answer->media[0].common.direction, ODEON_SDP_DIR_INACTIVE);
    assert_bundle(answer, (const char *const[]){"1"}, 1);
    odeon_sdp_free(answer);
    odeon_sdp_free(chrome);
}

static void set_video_direction(odeon_sdp *offer, odeon_sdp_direction d)
{
    offer->media[1].common.direction = d;
}

static void test_answer_directions(void **state)
{
    (void)state;
    static const struct {
        odeon_sdp_direction offered, wanted, expected;
    } cases[] = {
        {ODEON_SDP_DIR_SENDONLY, ODEON_SDP_DIR_NONE, ODEON_SDP_DIR_RECVONLY},
        {ODEON_SDP_DIR_RECVONLY, ODEON_SDP_DIR_NONE, ODEON_SDP_DIR_SENDONLY},
        {ODEON_SDP_DIR_SENDRECV, ODEON_SDP_DIR_NONE, ODEON_SDP_DIR_SENDRECV},
        {ODEON_SDP_DIR_NONE, ODEON_SDP_DIR_NONE, ODEON_SDP_DIR_SENDRECV},
        {ODEON_SDP_DIR_INACTIVE, ODEON_SDP_DIR_NONE, ODEON_SDP_DIR_INACTIVE},
        {ODEON_SDP_DIR_SENDRECV, ODEON_SDP_DIR_RECVONLY, ODEON_SDP_DIR_RECVONLY},
        {ODEON_SDP_DIR_SENDRECV, ODEON_SDP_DIR_SENDONLY, ODEON_SDP_DIR_SENDONLY},
        {ODEON_SDP_DIR_SENDONLY, ODEON_SDP_DIR_SENDONLY, ODEON_SDP_DIR_INACTIVE},
        {ODEON_SDP_DIR_RECVONLY, ODEON_SDP_DIR_RECVONLY, ODEON_SDP_DIR_INACTIVE},
        {ODEON_SDP_DIR_SENDRECV, ODEON_SDP_DIR_INACTIVE, ODEON_SDP_DIR_INACTIVE},
    };
    odeon_sdp *offer = parse_fixture("firefox_offer.sdp");
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        set_video_direction(offer, cases[i].offered);
        odeon_jsep_answer_options o = default_options();
        o.video_direction = cases[i].wanted;
        odeon_sdp *answer = answer_ok(offer, &o);
        const odeon_sdp_media *v = &answer->media[1];
        if (v->common.direction != cases[i].expected)
            fail_msg("case %zu: offer %s, want %s: got %s", i,
                     odeon_sdp_direction_name(cases[i].offered),
                     odeon_sdp_direction_name(cases[i].wanted),
                     odeon_sdp_direction_name(v->common.direction));
        bool sends = cases[i].expected == ODEON_SDP_DIR_SENDRECV ||
                     cases[i].expected == ODEON_SDP_DIR_SENDONLY;
        assert_int_equal(v->msid_count, sends ? 1 : 0);
        assert_int_equal(v->ssrc_count > 0, sends);
        assert_int_equal(v->ssrc_group_count, sends ? 1 : 0);
        /* Audio keeps its own (sendrecv) direction. */
        assert_int_equal(answer->media[0].common.direction, ODEON_SDP_DIR_SENDRECV);
        odeon_sdp_free(answer);
    }
    odeon_sdp_free(offer);
}

static void test_answer_rejections(void **state)
{
    (void)state;
    odeon_sdp *offer = parse_fixture("chrome_offer.sdp");
    odeon_jsep_answer_options o = default_options();
    o.audio = false;
    odeon_sdp *answer = answer_ok(offer, &o);
    assert_int_equal(answer->media_count, 3);
    assert_int_equal(answer->media[0].port, 0);
    assert_int_equal(answer->media[0].pt_count, 1); /* a rejected m-line keeps a format */
    assert_int_not_equal(answer->media[1].port, 0);
    assert_bundle(answer, (const char *const[]){"1"}, 1);
    odeon_sdp *again = reparse(answer);
    odeon_sdp_free(again);
    odeon_sdp_free(answer);

    o = default_options();
    o.video = false;
    answer = answer_ok(offer, &o);
    assert_int_equal(answer->media[1].port, 0);
    assert_int_equal(answer->media[1].ssrc_count, 0);
    assert_bundle(answer, (const char *const[]){"0"}, 1);
    odeon_sdp_free(answer);

    /* Nothing acceptable: NULL and a reason. */
    o.audio = false;
    char *error = NULL;
    assert_null(odeon_jsep_answer(offer, &o, &error));
    assert_non_null(error);
    g_free(error);
    assert_null(odeon_jsep_answer(offer, &o, NULL));

    o = default_options();
    o.audio_codecs = "pcmu";
    o.video_codecs = "h265";
    error = NULL;
    assert_null(odeon_jsep_answer(offer, &o, &error));
    assert_non_null(error);
    g_free(error);
    odeon_sdp_free(offer);

    /* A port-0 m-line in the offer stays rejected. */
    offer = parse_fixture_replacing("firefox_offer.sdp", "m=audio 9 ", "m=audio 0 ");
    o = default_options();
    answer = answer_ok(offer, &o);
    assert_int_equal(answer->media[0].port, 0);
    assert_bundle(answer, (const char *const[]){"1"}, 1);
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);
}

static const char simulcast_offer[] =
    "v=0\r\n"
    "o=- 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 AA:BB\r\n"
    "a=setup:actpass\r\n"
    "a=sendonly\r\n"
    "a=rtcp-mux\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=rtcp-fb:96 nack\r\n"
    "a=rtpmap:97 rtx/90000\r\n"
    "a=fmtp:97 apt=96\r\n"
    "a=rid:q send\r\n"
    "a=rid:h send\r\n"
    "a=rid:f send\r\n"
    "a=simulcast:send q;h;f\r\n";

static void test_answer_simulcast(void **state)
{
    (void)state;
    odeon_sdp *offer = parse_str(simulcast_offer);
    odeon_jsep_answer_options o = default_options();
    o.simulcast = true;
    odeon_sdp *answer = answer_ok(offer, &o);
    const odeon_sdp_media *v = &answer->media[0];
    assert_int_equal(v->common.direction, ODEON_SDP_DIR_RECVONLY);
    unsigned id = 0;
    assert_true(has_ext(v, ODEON_EXT_RID, &id) && id == 10);
    assert_true(has_ext(v, ODEON_EXT_REPAIRED_RID, &id) && id == 11);
    assert_int_equal(v->rid_count, 3);
    static const char *const rids[] = {"q", "h", "f"};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(v->rids[i].id, rids[i]);
        assert_false(v->rids[i].send);
    }
    assert_true(v->simulcast.present);
    assert_int_equal(v->simulcast.send.stream_count, 0);
    assert_int_equal(v->simulcast.recv.stream_count, 3);
    assert_string_equal(v->simulcast.recv.streams[2].alts[0].rid, "f");
    char *text = odeon_sdp_write(answer);
    assert_non_null(strstr(text, "a=rid:q recv\r\n"));
    assert_non_null(strstr(text, "a=simulcast:recv q;h;f\r\n"));
    g_free(text);
    odeon_sdp *again = reparse(answer);
    assert_int_equal(again->media[0].rid_count, 3);
    odeon_sdp_free(again);
    odeon_sdp_free(answer);

    /* Not asked: no rid lines, no simulcast, no rid extensions. */
    o.simulcast = false;
    answer = answer_ok(offer, &o);
    v = &answer->media[0];
    assert_int_equal(v->rid_count, 0);
    assert_false(v->simulcast.present);
    assert_false(has_ext(v, ODEON_EXT_RID, NULL));
    assert_false(has_ext(v, ODEON_EXT_REPAIRED_RID, NULL));
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);

    /* Chrome's fixture simulcasts too. */
    offer = parse_fixture("chrome_offer.sdp");
    o.simulcast = true;
    answer = answer_ok(offer, &o);
    assert_int_equal(answer->media[1].rid_count, 3);
    assert_int_equal(answer->media[0].rid_count, 0);
    assert_false(answer->media[0].simulcast.present);
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);
}

/* ---- our offers ---- */

static void test_offer(void **state)
{
    (void)state;
    const odeon_jsep_offer_stream streams[] = {
        {.kind = ODEON_SDP_MEDIA_AUDIO, .codec = "opus", .pt = 111, .clock_rate = 48000,
         .channels = 2, .rtx_pt = -1, .ssrc = 1234},
        {.kind = ODEON_SDP_MEDIA_VIDEO, .codec = "VP8", .pt = 96, .clock_rate = 90000,
         .rtx_pt = 97, .ssrc = 5678, .rtx_ssrc = 9012},
        {.kind = ODEON_SDP_MEDIA_VIDEO, .codec = "H264", .pt = 102, .clock_rate = 90000,
         .rtx_pt = -1, .direction = ODEON_SDP_DIR_SENDRECV},
        {.kind = ODEON_SDP_MEDIA_VIDEO, .codec = "VP9", .pt = 98, .clock_rate = 90000,
         .fmtp = "profile-id=2", .rtx_pt = 99},
    };
    char *error = NULL;
    odeon_sdp *sdp = odeon_jsep_offer(streams, G_N_ELEMENTS(streams), "cn", &error);
    assert_non_null(sdp);
    assert_null(error);
    assert_int_equal(sdp->media_count, 4);
    assert_bundle(sdp, (const char *const[]){"0", "1", "2", "3"}, 4);

    const odeon_sdp_media *a = &sdp->media[0];
    assert_int_equal(a->kind, ODEON_SDP_MEDIA_AUDIO);
    assert_string_equal(a->mid, "0");
    assert_int_equal(a->common.direction, ODEON_SDP_DIR_SENDONLY);
    assert_true(a->rtcp_mux);
    assert_int_equal(a->pt_count, 1);
    assert_int_equal(odeon_sdp_media_find_rtpmap(a, 111)->channels, 2);
    assert_string_equal(odeon_sdp_media_find_fmtp(a, 111), "minptime=10;useinbandfec=1");
    assert_true(has_ext(a, ODEON_EXT_MID, NULL));
    assert_true(has_ext(a, ODEON_EXT_ABS_SEND_TIME, NULL));
    assert_true(has_ext(a, ODEON_EXT_TWCC, NULL));
    assert_true(has_ext(a, ODEON_EXT_AUDIO_LEVEL, NULL));
    assert_true(has_fb(a, 111, "transport-cc", NULL));
    assert_true(has_ssrc_attr(a, 1234, "cname"));
    assert_true(has_ssrc_attr(a, 1234, "msid"));
    assert_string_equal(a->ssrcs[0].value, "cn");
    assert_int_equal(a->ssrc_group_count, 0);

    const odeon_sdp_media *v = &sdp->media[1];
    assert_int_equal(v->pt_count, 2);
    assert_null(odeon_sdp_media_find_fmtp(v, 96)); /* VP8 has no default */
    assert_int_equal(odeon_sdp_media_find_rtx(v, 96), 97);
    assert_int_equal(odeon_sdp_media_find_rtpmap(v, 97)->clock_rate, 90000);
    assert_false(has_ext(v, ODEON_EXT_AUDIO_LEVEL, NULL));
    assert_true(has_fb(v, 96, "nack", NULL));
    assert_true(has_fb(v, 96, "nack", "pli"));
    assert_true(has_fb(v, 96, "ccm", "fir"));
    assert_true(has_fb(v, 96, "goog-remb", NULL));
    assert_int_equal(v->ssrc_group_count, 1);
    assert_int_equal(v->ssrc_groups[0].ssrcs[0], 5678);
    assert_int_equal(v->ssrc_groups[0].ssrcs[1], 9012);
    assert_true(has_ssrc_attr(v, 9012, "cname"));

    const odeon_sdp_media *h = &sdp->media[2];
    assert_int_equal(h->common.direction, ODEON_SDP_DIR_SENDRECV);
    assert_string_equal(odeon_sdp_media_find_fmtp(h, 102),
                        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");
    assert_true(h->ssrc_count > 0 && h->ssrcs[0].ssrc != 0); /* random when not given */
    assert_string_equal(odeon_sdp_media_find_fmtp(&sdp->media[3], 98), "profile-id=2");
    assert_int_equal(sdp->media[3].ssrc_group_count, 1);
    assert_int_not_equal(sdp->media[3].ssrc_groups[0].ssrcs[1], 0);

    odeon_sdp *again = reparse(sdp);
    assert_int_equal(again->media[1].ssrc_groups[0].ssrcs[1], 9012);
    odeon_sdp_free(again);
    odeon_sdp_free(sdp);

    /* A recvonly stream announces no ssrc. */
    odeon_jsep_offer_stream recv = streams[1];
    recv.direction = ODEON_SDP_DIR_RECVONLY;
    sdp = odeon_jsep_offer(&recv, 1, NULL, NULL);
    assert_int_equal(sdp->media[0].ssrc_count, 0);
    assert_int_equal(sdp->media[0].msid_count, 0);
    odeon_sdp_free(sdp);

    assert_null(odeon_jsep_offer(streams, 0, NULL, &error));
    assert_non_null(error);
    g_free(error);
}

/* ---- remote checks ---- */

static void expect_check_error(odeon_sdp *sdp, bool is_offer, const odeon_sdp *offer,
                               const char *needle)
{
    char *error = NULL;
    assert_int_equal(odeon_jsep_check_remote(sdp, is_offer, offer, &error), ODEON_EINVAL);
    assert_non_null(error);
    if (strstr(error, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", error, needle);
    g_free(error);
    assert_int_equal(odeon_jsep_check_remote(sdp, is_offer, offer, NULL), ODEON_EINVAL);
    odeon_sdp_free(sdp);
}

static void test_check_remote(void **state)
{
    (void)state;
    static const char *const fixtures[] = {"chrome_offer.sdp", "firefox_offer.sdp",
                                           "safari_offer.sdp"};
    for (size_t i = 0; i < G_N_ELEMENTS(fixtures); i++) {
        odeon_sdp *sdp = parse_fixture(fixtures[i]);
        char *error = NULL;
        if (odeon_jsep_check_remote(sdp, true, NULL, &error) != 0)
            fail_msg("%s: %s", fixtures[i], error);
        odeon_sdp_free(sdp);
    }

    expect_check_error(parse_str("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"), true,
                       NULL, "m-line");
    expect_check_error(parse_fixture_without("chrome_offer.sdp", "a=ice-ufrag:"), true, NULL,
                       "ICE credentials");
    expect_check_error(parse_fixture_without("chrome_offer.sdp", "a=ice-pwd:"), true, NULL,
                       "ICE credentials");
    expect_check_error(parse_fixture_replacing("chrome_offer.sdp", "a=ice-ufrag:Hq3t",
                                               "a=ice-ufrag:Hq3"),
                       true, NULL, "length");
    expect_check_error(parse_fixture_replacing("chrome_offer.sdp",
                                               "a=ice-pwd:w4kS9sD7Lh2Qz8xV5nB1mC0p",
                                               "a=ice-pwd:w4kS9sD7Lh2Qz8xV5nB1m"),
                       true, NULL, "length");
    expect_check_error(parse_fixture_without("chrome_offer.sdp", "a=fingerprint:"), true, NULL,
                       "fingerprint");
    /* Firefox writes its fingerprint at session level only. */
    expect_check_error(parse_fixture_without("firefox_offer.sdp", "a=fingerprint:"), true, NULL,
                       "fingerprint");
    expect_check_error(parse_fixture_without("chrome_offer.sdp", "a=group:BUNDLE"), true, NULL,
                       "BUNDLE");
    expect_check_error(parse_fixture_without("chrome_offer.sdp", "a=rtcp-mux"), true, NULL,
                       "rtcp-mux");
    expect_check_error(parse_fixture_replacing("chrome_offer.sdp", "a=setup:actpass",
                                               "a=setup:holdconn"),
                       true, NULL, "setup");
    /* An answer must pick a role. */
    expect_check_error(parse_fixture("chrome_offer.sdp"), false, NULL, "actpass");

    /* Without BUNDLE, one active m-line is fine. */
    odeon_sdp *one = parse_fixture_replacing(
        "firefox_offer.sdp", "m=audio 9 ", "m=audio 0 ");
    assert_int_equal(odeon_jsep_check_remote(one, true, NULL, NULL), 0);
    odeon_sdp_free(one);

    /* An answer is checked against our offer. */
    odeon_sdp *chrome = parse_fixture("chrome_offer.sdp");
    odeon_sdp *answer2 = parse_fixture_replacing("firefox_offer.sdp", "a=setup:actpass",
                                                 "a=setup:active");
    assert_int_equal(odeon_jsep_check_remote(answer2, false, NULL, NULL), 0);
    expect_check_error(answer2, false, chrome, "m-lines");
    odeon_sdp *answer3 = parse_fixture_replacing("chrome_offer.sdp", "a=setup:actpass",
                                                 "a=setup:passive");
    assert_int_equal(odeon_jsep_check_remote(answer3, false, chrome, NULL), 0);
    odeon_sdp_free(answer3);

    /* An answer rejecting everything is legal (the call ends); an offer is not. */
    odeon_sdp *rejected = parse_fixture_replacing("firefox_offer.sdp", "m=video 9 ",
                                                  "m=video 0 ");
    rejected->media[0].port = 0;
    assert_int_equal(odeon_jsep_check_remote(rejected, false, NULL, NULL), 0);
    expect_check_error(rejected, true, NULL, "rejected");
    odeon_sdp_free(chrome);
}

/* ---- transport ---- */

static void test_set_transport(void **state)
{
    (void)state;
    static const char *const cands[] = {
        "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
        "2 1 udp 2130706430 127.0.0.1 40001 typ host", /* without the prefix: kept as is */
    };
    odeon_jsep_transport t = {
        .ufrag = "ufrg",
        .pwd = "0123456789abcdefghijkl",
        .fingerprint_hash = "sha-256",
        .fingerprint = "AB:CD:EF",
        .setup = "passive",
        .candidates = cands,
        .candidate_count = 2,
        .end_of_candidates = true,
    };
    /* Firefox has a session-level fingerprint and ice-options, and media-level candidates. */
    odeon_sdp *sdp = parse_fixture("firefox_offer.sdp");
    sdp->common.setup = g_strdup("actpass");
    sdp->common.ice_ufrag = g_strdup("sess");
    sdp->common.ice_pwd = g_strdup("sessionpasswordsession");
    sdp->media[0].port = 0; /* the first active m-line is the video one */
    odeon_jsep_set_transport(sdp, &t);
    assert_null(sdp->common.ice_ufrag);
    assert_null(sdp->common.ice_pwd);
    assert_null(sdp->common.setup);
    assert_int_equal(sdp->common.fingerprint_count, 0);
    for (size_t i = 0; i < sdp->media_count; i++) {
        const odeon_sdp_media *m = &sdp->media[i];
        assert_string_equal(m->common.ice_ufrag, "ufrg");
        assert_string_equal(m->common.ice_pwd, "0123456789abcdefghijkl");
        assert_string_equal(m->common.setup, "passive");
        assert_int_equal(m->common.fingerprint_count, 1);
        assert_string_equal(m->common.fingerprints[0].hash, "sha-256");
        assert_string_equal(m->common.fingerprints[0].value, "AB:CD:EF");
    }
    assert_int_equal(sdp->media[0].candidate_count, 0);
    assert_false(sdp->media[0].end_of_candidates);
    assert_int_equal(sdp->media[1].candidate_count, 2);
    assert_string_equal(sdp->media[1].candidates[0], "1 1 udp 2130706431 127.0.0.1 40000 typ host");
    assert_string_equal(sdp->media[1].candidates[1], "2 1 udp 2130706430 127.0.0.1 40001 typ host");
    assert_true(sdp->media[1].end_of_candidates);

    char *text = odeon_sdp_write(sdp);
    odeon_sdp *again = parse_str(text);
    assert_int_equal(again->media[1].candidate_count, 2);
    assert_int_equal(again->common.fingerprint_count, 0);
    assert_string_equal(odeon_jsep_ice_ufrag(again), "ufrg");
    assert_string_equal(odeon_jsep_setup(again), "passive");
    assert_string_equal(odeon_jsep_fingerprint(again)->value, "AB:CD:EF");
    /* One fingerprint line per m-line, none at session level. */
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, "a=fingerprint:")) != NULL; p++)
        n++;
    assert_int_equal(n, sdp->media_count);
    odeon_sdp_free(again);
    g_free(text);

    /* Applied again (a new description): no candidates, no end-of-candidates. */
    t.candidate_count = 0;
    t.end_of_candidates = false;
    t.candidates = NULL;
    odeon_jsep_set_transport(sdp, &t);
    assert_int_equal(sdp->media[1].candidate_count, 0);
    assert_false(sdp->media[1].end_of_candidates);
    text = odeon_sdp_write(sdp);
    assert_null(strstr(text, "a=candidate"));
    assert_null(strstr(text, "a=end-of-candidates"));
    g_free(text);
    odeon_sdp_free(sdp);

    /* An answer we build: candidates go to the first accepted m-line. */
    odeon_sdp *offer = parse_fixture("chrome_offer.sdp");
    odeon_jsep_answer_options o = default_options();
    o.audio = false;
    odeon_sdp *answer = answer_ok(offer, &o);
    t.candidates = cands;
    t.candidate_count = 1;
    t.ice_lite = true;
    odeon_jsep_set_transport(answer, &t);
    assert_true(answer->ice_lite);
    assert_int_equal(answer->media[0].candidate_count, 0);
    assert_int_equal(answer->media[1].candidate_count, 1);
    assert_int_equal(answer->media[2].candidate_count, 0);
    odeon_sdp *reparsed = reparse(answer);
    assert_true(reparsed->ice_lite);
    char *error = NULL;
    /* What we send passes our own checks as an answer. */
    if (odeon_jsep_check_remote(reparsed, false, offer, &error) != 0)
        fail_msg("%s", error);
    odeon_sdp_free(reparsed);
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);
}

/* ---- negotiated view ---- */

static void test_negotiated_firefox(void **state)
{
    (void)state;
    odeon_sdp *offer = parse_fixture("firefox_offer.sdp");
    odeon_jsep_answer_options o = default_options();
    odeon_sdp *answer = answer_ok(offer, &o);
    odeon_jsep_media neg[4];
    assert_int_equal(odeon_jsep_negotiated(answer, offer, neg, 4), 2);

    const odeon_jsep_media *a = &neg[0];
    assert_int_equal(a->mindex, 0);
    assert_string_equal(a->mid, "0");
    assert_int_equal(a->kind, ODEON_SDP_MEDIA_AUDIO);
    assert_true(a->active && a->send && a->recv);
    assert_int_equal(a->pt, 109);
    assert_int_equal(a->rtx_pt, -1);
    assert_int_equal(a->clock_rate, 48000);
    assert_string_equal(a->codec, "opus");
    assert_int_equal(a->remote_ssrc, 2864434397u);
    assert_int_equal(a->remote_rtx_ssrc, 0);
    assert_int_equal(a->local_ssrc, answer->media[0].ssrcs[0].ssrc);
    assert_int_equal(a->local_rtx_ssrc, 0);
    assert_false(a->fb_nack);
    assert_int_equal(a->ext_audio_level, 1);
    assert_int_equal(a->ext_mid, 3);
    assert_int_equal(a->ext_twcc, 0);

    const odeon_jsep_media *v = &neg[1];
    assert_true(v->active && v->send && v->recv);
    assert_int_equal(v->kind, ODEON_SDP_MEDIA_VIDEO);
    assert_int_equal(v->pt, 120);
    assert_int_equal(v->rtx_pt, 124);
    assert_string_equal(v->codec, "VP8");
    assert_int_equal(v->clock_rate, 90000);
    assert_int_equal(v->remote_ssrc, 1111111111u);
    assert_int_equal(v->remote_rtx_ssrc, 2222222222u);
    assert_int_equal(v->local_ssrc, answer->media[1].ssrc_groups[0].ssrcs[0]);
    assert_int_equal(v->local_rtx_ssrc, answer->media[1].ssrc_groups[0].ssrcs[1]);
    assert_true(v->fb_nack && v->fb_pli && v->fb_fir && v->fb_remb && v->fb_twcc);
    assert_int_equal(v->ext_mid, 3);
    assert_int_equal(v->ext_abs_send_time, 4);
    assert_int_equal(v->ext_twcc, 7);
    assert_int_equal(v->ext_audio_level, 0);
    /* Simulcast was not accepted: no rids, no rid extensions. */
    assert_int_equal(v->ext_rid, 0);
    assert_int_equal(v->ext_repaired_rid, 0);
    assert_int_equal(v->rid_count, 0);

    assert_int_equal(odeon_jsep_negotiated(answer, offer, neg, 1), ODEON_EINVAL);
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);
}

static void test_negotiated_directions_and_simulcast(void **state)
{
    (void)state;
    odeon_sdp *offer = parse_fixture("chrome_offer.sdp");
    odeon_jsep_answer_options o = default_options();
    o.simulcast = true;
    o.audio_direction = ODEON_SDP_DIR_RECVONLY;
    odeon_sdp *answer = answer_ok(offer, &o);
    odeon_jsep_media neg[3];
    assert_int_equal(odeon_jsep_negotiated(answer, offer, neg, 3), 3);
    assert_true(neg[0].active && neg[0].recv && !neg[0].send);
    assert_int_equal(neg[0].local_ssrc, 0);
    assert_int_equal(neg[0].remote_ssrc, 3735928559u);
    assert_true(neg[1].active && neg[1].recv && !neg[1].send);
    assert_int_equal(neg[1].rid_count, 3);
    assert_string_equal(neg[1].rids[0], "q");
    assert_string_equal(neg[1].rids[2], "f");
    assert_int_equal(neg[1].ext_rid, 10);
    assert_int_equal(neg[1].ext_repaired_rid, 11);
    assert_int_equal(neg[1].remote_ssrc, 0); /* rid-based: no ssrc signalled */
    assert_false(neg[2].active);
    assert_string_equal(neg[2].mid, "2");
    assert_int_equal(neg[2].pt, -1);
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);

    /* The other way round: our sendonly offer and a recvonly answer built from it. */
    const odeon_jsep_offer_stream s = {.kind = ODEON_SDP_MEDIA_VIDEO, .codec = "VP8", .pt = 96,
                                       .clock_rate = 90000, .rtx_pt = 97, .ssrc = 11,
                                       .rtx_ssrc = 12};
    odeon_sdp *ours = odeon_jsep_offer(&s, 1, NULL, NULL);
    odeon_sdp *theirs = answer_ok(ours, &o);
    assert_int_equal(theirs->media[0].common.direction, ODEON_SDP_DIR_RECVONLY);
    assert_int_equal(odeon_jsep_negotiated(ours, theirs, neg, 3), 1);
    assert_true(neg[0].send && !neg[0].recv);
    assert_int_equal(neg[0].local_ssrc, 11);
    assert_int_equal(neg[0].local_rtx_ssrc, 12);
    assert_int_equal(neg[0].remote_ssrc, 0);
    assert_int_equal(neg[0].pt, 96);
    assert_int_equal(neg[0].rtx_pt, 97);
    assert_true(neg[0].fb_nack && neg[0].fb_pli);
    assert_int_equal(neg[0].ext_mid, 1);
    assert_int_equal(neg[0].ext_twcc, 3);
    odeon_sdp_free(theirs);

    /* An answer that leaves RTX out (as a minimal client does): retransmissions must then go
     * out plain, never on an RTX stream the peer cannot unwrap. */
    theirs = parse_str("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
                       "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
                       "a=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n"
                       "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n");
    assert_int_equal(odeon_jsep_negotiated(ours, theirs, neg, 3), 1);
    assert_true(neg[0].send && neg[0].fb_nack);
    assert_int_equal(neg[0].pt, 96);
    assert_int_equal(neg[0].rtx_pt, -1);
    odeon_sdp_free(theirs);
    odeon_sdp_free(ours);
}

/* Layer order for the plugin: the rids in the a=simulcast send order, whatever order the
 * a=rid lines came in; an SSRC-style SIM group gives its SSRCs and FID-paired RTX SSRCs. */
static void test_negotiated_simulcast_layers(void **state)
{
    (void)state;
    gchar **parts = g_strsplit(simulcast_offer, "a=simulcast:send q;h;f", -1);
    char *text = g_strjoinv("a=simulcast:send f;q;h", parts);
    g_strfreev(parts);
    odeon_sdp *offer = parse_str(text);
    g_free(text);
    odeon_jsep_answer_options o = default_options();
    o.simulcast = true;
    odeon_sdp *answer = answer_ok(offer, &o);
    odeon_jsep_media neg[1];
    assert_int_equal(odeon_jsep_negotiated(answer, offer, neg, 1), 1);
    assert_int_equal(neg[0].rid_count, 3);
    assert_string_equal(neg[0].rids[0], "f");
    assert_string_equal(neg[0].rids[1], "q");
    assert_string_equal(neg[0].rids[2], "h");
    assert_int_equal(neg[0].ext_rid, 10);
    assert_int_equal(neg[0].ext_repaired_rid, 11);
    assert_int_equal(neg[0].remote_sim_count, 0);
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);

    offer = parse_fixture("safari_offer.sdp");
    answer = answer_ok(offer, &o);
    odeon_jsep_media sn[4];
    assert_int_equal(odeon_jsep_negotiated(answer, offer, sn, 4), (int)offer->media_count);
    assert_int_equal(sn[1].kind, ODEON_SDP_MEDIA_VIDEO);
    assert_int_equal(sn[1].rid_count, 0);
    assert_int_equal(sn[1].remote_sim_count, 3);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(sn[1].remote_sim_ssrcs[k], 2001 + k);
        assert_int_equal(sn[1].remote_sim_rtx_ssrcs[k], 3001 + k);
    }
    assert_int_equal(sn[1].remote_ssrc, 2001);
    assert_int_equal(sn[1].remote_rtx_ssrc, 3001);
    assert_int_equal(sn[0].remote_sim_count, 0);
    odeon_sdp_free(answer);
    odeon_sdp_free(offer);
}

/* ---- payload type map ---- */

static const char map_from[] =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 98 99 35\r\n"
    "a=mid:0\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=rtpmap:97 rtx/90000\r\n"
    "a=fmtp:97 apt=96\r\n"
    "a=rtpmap:102 H264/90000\r\n"
    "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n"
    "a=rtpmap:103 rtx/90000\r\n"
    "a=fmtp:103 apt=102\r\n"
    "a=rtpmap:104 H264/90000\r\n"
    "a=fmtp:104 profile-level-id=42e01f\r\n"
    "a=rtpmap:98 VP9/90000\r\n"
    "a=fmtp:98 profile-id=0\r\n"
    "a=rtpmap:99 rtx/90000\r\n"
    "a=fmtp:99 apt=98\r\n"
    "a=rtpmap:35 AV1/90000\r\n";

static const char map_to[] =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 100 101 106 108 109 110 111\r\n"
    "a=mid:0\r\n"
    "a=rtpmap:100 VP8/90000\r\n"
    "a=rtpmap:101 rtx/90000\r\n"
    "a=fmtp:101 apt=100\r\n"
    "a=rtpmap:106 H264/90000\r\n"
    "a=fmtp:106 packetization-mode=0;profile-level-id=42e01f\r\n"
    "a=rtpmap:108 H264/90000\r\n"
    "a=fmtp:108 packetization-mode=1;profile-level-id=42e01f\r\n"
    "a=rtpmap:109 rtx/90000\r\n"
    "a=fmtp:109 apt=108\r\n"
    "a=rtpmap:110 VP9/90000\r\n"
    "a=rtpmap:111 VP9/90000\r\n"
    "a=fmtp:111 profile-id=2\r\n";

static void test_pt_map(void **state)
{
    (void)state;
    odeon_sdp *from = parse_str(map_from), *to = parse_str(map_to);
    int map[128];
    odeon_jsep_pt_map(&from->media[0], &to->media[0], map);
    assert_int_equal(map[96], 100);
    assert_int_equal(map[97], 101);
    assert_int_equal(map[102], 108); /* packetization modes are not mixed */
    assert_int_equal(map[103], 109);
    assert_int_equal(map[104], 106);
    assert_int_equal(map[98], 110); /* no profile-id means 0 */
    assert_int_equal(map[99], -1);  /* VP9 has no RTX on the other side */
    assert_int_equal(map[35], -1);  /* no AV1 there */
    for (int pt = 0; pt < 128; pt++)
        assert_true(map[pt] >= -1 && map[pt] < 128);

    odeon_jsep_pt_map(&to->media[0], &from->media[0], map);
    assert_int_equal(map[100], 96);
    assert_int_equal(map[101], 97);
    assert_int_equal(map[108], 102);
    assert_int_equal(map[109], 103);
    assert_int_equal(map[106], 104);
    assert_int_equal(map[110], 98);
    assert_int_equal(map[111], -1);
    odeon_sdp_free(from);
    odeon_sdp_free(to);

    /* Two browsers: Chrome's VP8 96/97 against Firefox's 120/124, opus 111 against 109. */
    odeon_sdp *chrome = parse_fixture("chrome_offer.sdp");
    odeon_sdp *firefox = parse_fixture("firefox_offer.sdp");
    odeon_jsep_pt_map(&chrome->media[1], &firefox->media[1], map);
    assert_int_equal(map[96], 120);
    assert_int_equal(map[97], 124);
    assert_int_equal(map[102], 126);
    assert_int_equal(map[103], 127);
    assert_int_equal(map[98], 121);
    assert_int_equal(map[99], 125);
    assert_int_equal(map[45], -1);
    assert_int_equal(map[46], -1);
    odeon_jsep_pt_map(&chrome->media[0], &firefox->media[0], map);
    assert_int_equal(map[111], 109);
    assert_int_equal(map[0], 0);
    odeon_sdp_free(chrome);
    odeon_sdp_free(firefox);
}

/* A re-answer (renegotiation) keeps the SSRCs of the streams we already send. */
static void test_keep_ssrcs(void **state)
{
    (void)state;
    odeon_sdp *offer = parse_fixture("chrome_offer.sdp");
    odeon_jsep_answer_options o = {.audio = true, .video = true};
    odeon_sdp *first = answer_ok(offer, &o);
    odeon_sdp *second = answer_ok(offer, &o);
    odeon_jsep_keep_ssrcs(second, first);
    odeon_jsep_media n1[ODEON_SDP_MAX_MEDIA], n2[ODEON_SDP_MAX_MEDIA];
    assert_true(odeon_jsep_negotiated(first, offer, n1, ODEON_SDP_MAX_MEDIA) > 0);
    assert_true(odeon_jsep_negotiated(second, offer, n2, ODEON_SDP_MAX_MEDIA) > 0);
    size_t sending = 0;
    for (size_t i = 0; i < first->media_count; i++) {
        if (!n1[i].send)
            continue;
        sending++;
        assert_true(n1[i].local_ssrc != 0);
        assert_int_equal(n1[i].local_ssrc, n2[i].local_ssrc);
        assert_int_equal(n1[i].local_rtx_ssrc, n2[i].local_rtx_ssrc);
    }
    assert_true(sending > 0);
    /* Every a=ssrc line and group now names the kept SSRCs. */
    odeon_sdp *again = reparse(second);
    for (size_t i = 0; i < again->media_count; i++)
        for (size_t k = 0; k < again->media[i].ssrc_count; k++) {
            uint32_t ssrc = again->media[i].ssrcs[k].ssrc;
            const odeon_sdp_media *m1 = &first->media[i];
            bool found = false;
            for (size_t j = 0; j < m1->ssrc_count; j++)
                found |= m1->ssrcs[j].ssrc == ssrc;
            assert_true(found);
        }
    odeon_sdp_free(again);
    odeon_sdp_free(second);
    odeon_sdp_free(first);
    odeon_sdp_free(offer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_chrome),
        cmocka_unit_test(test_answer_firefox),
        cmocka_unit_test(test_answer_safari),
        cmocka_unit_test(test_answer_codec_preference),
        cmocka_unit_test(test_answer_directions),
        cmocka_unit_test(test_answer_rejections),
        cmocka_unit_test(test_answer_simulcast),
        cmocka_unit_test(test_offer),
        cmocka_unit_test(test_check_remote),
        cmocka_unit_test(test_set_transport),
        cmocka_unit_test(test_negotiated_firefox),
        cmocka_unit_test(test_negotiated_directions_and_simulcast),
        cmocka_unit_test(test_negotiated_simulcast_layers),
        cmocka_unit_test(test_pt_map),
        cmocka_unit_test(test_keep_ssrcs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
