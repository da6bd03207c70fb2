/*
 * fuzz_sdp.c - libFuzzer target for the SDP parser and writer: the input is SDP text.
 *
 * A refusal must explain itself. An accepted input must survive the canonical round trip:
 * write(parse(x)) parses again, keeps the key fields, and writes to the same bytes. The lookup
 * helpers are run on every media section so they see the same odd shapes as the parser.
 * Every parsed input is also taken as a remote offer by the JSEP layer: checked, answered, the
 * answer completed with a transport, and both must parse again and negotiate consistently.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "webrtc/jsep.h"
#include "webrtc/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void poke_helpers(const odeon_sdp *sdp)
{
    (void)odeon_sdp_find_group(sdp, "BUNDLE");
    for (size_t i = 0; i < sdp->media_count; i++) {
        const odeon_sdp_media *m = &sdp->media[i];
        if (m->mid != NULL && odeon_sdp_find_media_by_mid(sdp, m->mid) == NULL)
            __builtin_trap();
        for (size_t j = 0; j < m->pt_count; j++) {
            (void)odeon_sdp_media_find_rtx(m, m->pts[j]);
            g_free(odeon_sdp_fmtp_get(odeon_sdp_media_find_fmtp(m, m->pts[j]), "apt"));
        }
        (void)odeon_sdp_media_find_codec(m, "vp8");
    }
}

static bool same_key_fields(const odeon_sdp *a, const odeon_sdp *b)
{
    if (a->media_count != b->media_count || a->group_count != b->group_count)
        return false;
    for (size_t i = 0; i < a->media_count; i++) {
        const odeon_sdp_media *x = &a->media[i], *y = &b->media[i];
        if (x->pt_count != y->pt_count || x->rtpmap_count != y->rtpmap_count ||
            x->ssrc_count != y->ssrc_count || x->rid_count != y->rid_count ||
            x->candidate_count != y->candidate_count ||
            x->common.direction != y->common.direction || g_strcmp0(x->mid, y->mid) != 0 ||
            x->simulcast.present != y->simulcast.present)
            return false;
        if (x->pt_count > 0 && memcmp(x->pts, y->pts, x->pt_count) != 0)
            return false;
    }
    return true;
}

static void exercise_jsep(const odeon_sdp *offer)
{
    char *error = NULL;
    if (odeon_jsep_check_remote(offer, true, NULL, &error) != 0) {
        if (error == NULL)
            __builtin_trap();
        g_free(error);
        return;
    }
    odeon_jsep_answer_options opts = {.audio = true, .video = true, .simulcast = true};
    odeon_sdp *answer = odeon_jsep_answer(offer, &opts, &error);
    if (answer == NULL) {
        if (error == NULL)
            __builtin_trap();
        g_free(error);
        return;
    }
    static const char *const candidates[] = {"candidate:1 1 udp 2130706431 127.0.0.1 4000 typ host"};
    odeon_jsep_transport t = {.ufrag = "abcd", .pwd = "0123456789abcdefghijkl",
                              .fingerprint_hash = "sha-256", .fingerprint = "AB:CD",
                              .setup = "active", .candidates = candidates, .candidate_count = 1,
                              .end_of_candidates = true};
    odeon_jsep_set_transport(answer, &t);
    char *text = odeon_sdp_write(answer);
    odeon_sdp *reparsed = odeon_sdp_parse(text, strlen(text), NULL);
    if (reparsed == NULL || reparsed->media_count != offer->media_count)
        __builtin_trap(); /* our answer must always be valid SDP with one m-line per offered */
    odeon_jsep_media neg[ODEON_SDP_MAX_MEDIA];
    if (odeon_jsep_negotiated(reparsed, offer, neg, ODEON_SDP_MAX_MEDIA) !=
        (int)offer->media_count)
        __builtin_trap();
    int map[128];
    odeon_jsep_pt_map(&offer->media[0], &reparsed->media[0], map);
    odeon_sdp_free(reparsed);
    g_free(text);
    odeon_sdp_free(answer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *error = NULL;
    odeon_sdp *sdp = odeon_sdp_parse((const char *)data, size, &error);
    if (sdp == NULL) {
        if (error == NULL || error[0] == '\0')
            __builtin_trap();
        g_free(error);
        return 0;
    }
    poke_helpers(sdp);
    exercise_jsep(sdp);
    char *first = odeon_sdp_write(sdp);
    odeon_sdp *again = odeon_sdp_parse(first, strlen(first), &error);
    if (again == NULL)
        __builtin_trap(); /* the writer produced something the parser refuses */
    char *second = odeon_sdp_write(again);
    if (strcmp(first, second) != 0 || !same_key_fields(sdp, again))
        __builtin_trap();
    g_free(second);
    g_free(first);
    odeon_sdp_free(again);
    odeon_sdp_free(sdp);
    return 0;
}
