/*
 * jsep.c - answers, offers, remote checks and the negotiated view (see jsep.h).
 */
#include "webrtc/jsep.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "plugin/plugin.h"

static const char *const supported_exts[] = {
    ODEON_EXT_MID, ODEON_EXT_RID, ODEON_EXT_REPAIRED_RID, ODEON_EXT_ABS_SEND_TIME,
    ODEON_EXT_TWCC, ODEON_EXT_AUDIO_LEVEL,
};

static void media_ssrcs(const odeon_sdp_media *m, uint32_t *ssrc, uint32_t *rtx);

/* ---- small builders (everything inside an odeon_sdp is g_malloc'ed) ---- */

#define APPEND(arr, count, type) \
    (arr = g_renew(type, arr, (count) + 1), memset(&(arr)[count], 0, sizeof(type)), \
     &(arr)[(count)++])

static void add_rtpmap(odeon_sdp_media *m, uint8_t pt, const char *name, uint32_t clock,
                       unsigned channels)
{
    odeon_sdp_rtpmap *r = APPEND(m->rtpmaps, m->rtpmap_count, odeon_sdp_rtpmap);
    r->pt = pt;
    r->name = g_strdup(name);
    r->clock_rate = clock;
    r->channels = channels;
    m->pts = g_renew(uint8_t, m->pts, m->pt_count + 1);
    m->pts[m->pt_count++] = pt;
}

static void add_fmtp(odeon_sdp_media *m, uint8_t pt, const char *params)
{
    odeon_sdp_fmtp *f = APPEND(m->fmtps, m->fmtp_count, odeon_sdp_fmtp);
    f->pt = pt;
    f->params = g_strdup(params);
}

static void add_fb(odeon_sdp_media *m, int pt, const char *type, const char *subtype)
{
    odeon_sdp_rtcp_fb *f = APPEND(m->rtcp_fbs, m->rtcp_fb_count, odeon_sdp_rtcp_fb);
    f->pt = pt;
    f->type = g_strdup(type);
    f->subtype = g_strdup(subtype);
}

static void add_ssrc(odeon_sdp_media *m, uint32_t ssrc, const char *attr, const char *value)
{
    odeon_sdp_ssrc *s = APPEND(m->ssrcs, m->ssrc_count, odeon_sdp_ssrc);
    s->ssrc = ssrc;
    s->attribute = g_strdup(attr);
    s->value = g_strdup(value);
}

static void add_extmap(odeon_sdp_common *c, unsigned id, const char *uri)
{
    odeon_sdp_extmap *e = APPEND(c->extmaps, c->extmap_count, odeon_sdp_extmap);
    e->id = id;
    e->uri = g_strdup(uri);
}

static void add_mid_to_bundle(odeon_sdp *sdp, const char *mid)
{
    if (sdp->group_count == 0) {
        odeon_sdp_group *g = APPEND(sdp->groups, sdp->group_count, odeon_sdp_group);
        g->semantics = g_strdup("BUNDLE");
    }
    odeon_sdp_group *g = &sdp->groups[0];
    g->mids = g_renew(char *, g->mids, g->mid_count + 1);
    g->mids[g->mid_count++] = g_strdup(mid);
}

static odeon_sdp *session_new(void)
{
    odeon_sdp *sdp = g_new0(odeon_sdp, 1);
    sdp->origin_username = g_strdup("-");
    sdp->origin_sess_id = g_strdup_printf("%" G_GUINT64_FORMAT,
                                          ((guint64)g_random_int() << 21) ^ g_random_int());
    sdp->origin_sess_version = 1;
    sdp->origin_nettype = g_strdup("IN");
    sdp->origin_addrtype = g_strdup("IP4");
    sdp->origin_address = g_strdup("127.0.0.1");
    sdp->session_name = g_strdup("-");
    sdp->msid_semantic = g_strdup("WMS *");
    return sdp;
}

static uint32_t random_ssrc(void)
{
    uint32_t v;
    do
        v = g_random_int();
    while (v == 0);
    return v;
}

/* Our outgoing stream's msid and ssrc lines. */
static void add_send_stream(odeon_sdp_media *m, const char *cname, const char *stream_id,
                            uint32_t ssrc, uint32_t rtx_ssrc)
{
    char *msid = g_strdup_printf("%s odeon-%s", stream_id ? stream_id : "odeon", m->mid);
    m->msids = g_new0(char *, 1);
    m->msids[0] = msid;
    m->msid_count = 1;
    if (rtx_ssrc != 0) {
        odeon_sdp_ssrc_group *g = APPEND(m->ssrc_groups, m->ssrc_group_count,
                                         odeon_sdp_ssrc_group);
        g->semantics = g_strdup("FID");
        g->ssrcs = g_new(uint32_t, 2);
        g->ssrcs[0] = ssrc;
        g->ssrcs[1] = rtx_ssrc;
        g->ssrc_count = 2;
    }
    uint32_t ssrcs[2] = {ssrc, rtx_ssrc};
    for (int i = 0; i < 2 && ssrcs[i] != 0; i++) {
        add_ssrc(m, ssrcs[i], "cname", cname);
        add_ssrc(m, ssrcs[i], "msid", msid);
    }
}

/* ---- codec choice ---- */

static bool codec_supported(odeon_sdp_media_kind kind, const char *name)
{
    if (kind == ODEON_SDP_MEDIA_AUDIO)
        return g_ascii_strcasecmp(name, "opus") == 0;
    static const char *const video[] = {"VP8", "VP9", "H264", "AV1"};
    for (size_t i = 0; i < G_N_ELEMENTS(video); i++)
        if (g_ascii_strcasecmp(name, video[i]) == 0)
            return true;
    return false;
}

/* Higher is better among payload types of the same codec. */
static int fmtp_score(const char *codec, const char *fmtp)
{
    int score = 0;
    if (g_ascii_strcasecmp(codec, "H264") == 0) {
        char *mode = odeon_sdp_fmtp_get(fmtp, "packetization-mode");
        bool mode1 = mode && strcmp(mode, "1") == 0;
        g_free(mode);
        if (!mode1)
            return -1; /* single-NAL mode cannot carry what browsers send */
        char *profile = odeon_sdp_fmtp_get(fmtp, "profile-level-id");
        if (profile && g_ascii_strncasecmp(profile, "42e0", 4) == 0)
            score += 2;
        else if (profile && g_ascii_strncasecmp(profile, "4200", 4) == 0)
            score += 1;
        g_free(profile);
    } else if (g_ascii_strcasecmp(codec, "VP9") == 0) {
        char *profile = odeon_sdp_fmtp_get(fmtp, "profile-id");
        if (profile == NULL || strcmp(profile, "0") == 0)
            score += 1;
        g_free(profile);
    }
    return score;
}

/* The best payload type of codec in m, or -1. */
static int best_pt_for(const odeon_sdp_media *m, const char *codec)
{
    int best = -1, best_score = -1;
    for (size_t i = 0; i < m->pt_count; i++) {
        const odeon_sdp_rtpmap *r = odeon_sdp_media_find_rtpmap(m, m->pts[i]);
        if (r == NULL || g_ascii_strcasecmp(r->name, codec) != 0)
            continue;
        int score = fmtp_score(codec, odeon_sdp_media_find_fmtp(m, m->pts[i]));
        if (score > best_score) {
            best = m->pts[i];
            best_score = score;
        }
    }
    return best;
}

static int choose_pt(const odeon_sdp_media *m, const char *preference)
{
    if (preference != NULL) {
        gchar **names = g_strsplit(preference, ",", -1);
        int pt = -1;
        for (gchar **n = names; *n && pt < 0; n++) {
            /* Only codecs Odeon forwards: a preference never selects "red", "PCMU"... */
            if (codec_supported(m->kind, g_strstrip(*n)))
                pt = best_pt_for(m, *n);
        }
        g_strfreev(names);
        return pt;
    }
    /* The offerer's order: the first supported codec it lists. */
    for (size_t i = 0; i < m->pt_count; i++) {
        const odeon_sdp_rtpmap *r = odeon_sdp_media_find_rtpmap(m, m->pts[i]);
        if (r != NULL && codec_supported(m->kind, r->name)) {
            int pt = best_pt_for(m, r->name);
            if (pt >= 0)
                return pt;
        }
    }
    return -1;
}

/* ---- answer ---- */

static odeon_sdp_direction answer_direction(odeon_sdp_direction offered, odeon_sdp_direction want)
{
    bool they_send = offered == ODEON_SDP_DIR_NONE || offered == ODEON_SDP_DIR_SENDRECV ||
                     offered == ODEON_SDP_DIR_SENDONLY;
    bool they_recv = offered == ODEON_SDP_DIR_NONE || offered == ODEON_SDP_DIR_SENDRECV ||
                     offered == ODEON_SDP_DIR_RECVONLY;
    bool we_send = want == ODEON_SDP_DIR_NONE || want == ODEON_SDP_DIR_SENDRECV ||
                   want == ODEON_SDP_DIR_SENDONLY;
    bool we_recv = want == ODEON_SDP_DIR_NONE || want == ODEON_SDP_DIR_SENDRECV ||
                   want == ODEON_SDP_DIR_RECVONLY;
    bool send = we_send && they_recv, recv = we_recv && they_send;
    if (send && recv)
        return ODEON_SDP_DIR_SENDRECV;
    if (send)
        return ODEON_SDP_DIR_SENDONLY;
    if (recv)
        return ODEON_SDP_DIR_RECVONLY;
    return ODEON_SDP_DIR_INACTIVE;
}

static bool fb_supported(const odeon_sdp_rtcp_fb *f)
{
    if (strcmp(f->type, "nack") == 0)
        return f->subtype == NULL || strcmp(f->subtype, "pli") == 0;
    if (strcmp(f->type, "ccm") == 0)
        return f->subtype != NULL && strcmp(f->subtype, "fir") == 0;
    return strcmp(f->type, "goog-remb") == 0 || strcmp(f->type, "transport-cc") == 0;
}

static void copy_codec(odeon_sdp_media *a, const odeon_sdp_media *o, int pt)
{
    const odeon_sdp_rtpmap *r = odeon_sdp_media_find_rtpmap(o, pt);
    add_rtpmap(a, (uint8_t)pt, r->name, r->clock_rate, r->channels);
    for (size_t i = 0; i < o->rtcp_fb_count; i++) {
        const odeon_sdp_rtcp_fb *f = &o->rtcp_fbs[i];
        if ((f->pt == pt || f->pt == -1) && fb_supported(f))
            add_fb(a, pt, f->type, f->subtype);
    }
    const char *fmtp = odeon_sdp_media_find_fmtp(o, pt);
    if (fmtp != NULL)
        add_fmtp(a, (uint8_t)pt, fmtp);
}

static void copy_extmaps(odeon_sdp_media *a, const odeon_sdp_media *o, bool simulcast)
{
    for (size_t i = 0; i < o->common.extmap_count; i++) {
        const odeon_sdp_extmap *e = &o->common.extmaps[i];
        bool known = false;
        for (size_t k = 0; k < G_N_ELEMENTS(supported_exts); k++)
            known |= strcmp(e->uri, supported_exts[k]) == 0;
        if (!simulcast && (strcmp(e->uri, ODEON_EXT_RID) == 0 ||
                           strcmp(e->uri, ODEON_EXT_REPAIRED_RID) == 0))
            known = false;
        if (known)
            add_extmap(&a->common, e->id, e->uri);
    }
}

static void copy_simulcast(odeon_sdp_media *a, const odeon_sdp_media *o)
{
    if (!o->simulcast.present || o->simulcast.send.stream_count == 0)
        return;
    for (size_t i = 0; i < o->rid_count; i++) {
        if (!o->rids[i].send)
            continue;
        odeon_sdp_rid *r = APPEND(a->rids, a->rid_count, odeon_sdp_rid);
        r->id = g_strdup(o->rids[i].id);
        r->send = false;
    }
    a->simulcast.present = true;
    const odeon_sdp_simulcast_list *src = &o->simulcast.send;
    odeon_sdp_simulcast_list *dst = &a->simulcast.recv;
    dst->streams = g_new0(odeon_sdp_simulcast_stream, src->stream_count);
    dst->stream_count = src->stream_count;
    for (size_t s = 0; s < src->stream_count; s++) {
        dst->streams[s].alts = g_new0(odeon_sdp_simulcast_alt, src->streams[s].alt_count);
        dst->streams[s].alt_count = src->streams[s].alt_count;
        for (size_t k = 0; k < src->streams[s].alt_count; k++)
            dst->streams[s].alts[k].rid = g_strdup(src->streams[s].alts[k].rid);
    }
}

static void reject_media(odeon_sdp_media *a, const odeon_sdp_media *o)
{
    a->port = 0;
    if (o->is_rtp) {
        /* A rejected m-line still needs a format: repeat the first offered one. */
        a->pts = g_new(uint8_t, 1);
        a->pts[0] = o->pt_count ? o->pts[0] : 0;
        a->pt_count = 1;
    } else {
        a->formats = g_strdup(o->formats ? o->formats : "webrtc-datachannel");
    }
    a->common.direction = ODEON_SDP_DIR_INACTIVE;
}

static bool answer_media(odeon_sdp_media *a, const odeon_sdp_media *o,
                         const odeon_jsep_answer_options *opts, const char *cname)
{
    a->kind = o->kind;
    a->media = g_strdup(o->media);
    a->proto = g_strdup(o->proto);
    a->is_rtp = o->is_rtp;
    a->mid = g_strdup(o->mid);
    a->common.connection = g_strdup("IN IP4 0.0.0.0");
    bool want = (o->kind == ODEON_SDP_MEDIA_AUDIO && opts->audio) ||
                (o->kind == ODEON_SDP_MEDIA_VIDEO && opts->video);
    bool audio = o->kind == ODEON_SDP_MEDIA_AUDIO;
    int pt = (want && o->is_rtp && o->port != 0)
                 ? choose_pt(o, audio ? (opts->audio_codecs ? opts->audio_codecs : "opus")
                                      : opts->video_codecs)
                 : -1;
    if (pt < 0) {
        reject_media(a, o);
        return false;
    }
    a->port = 9;
    a->common.direction = answer_direction(o->common.direction,
                                           audio ? opts->audio_direction : opts->video_direction);
    a->rtcp_mux = true;
    a->rtcp_rsize = o->rtcp_rsize;
    copy_codec(a, o, pt);
    int rtx = odeon_sdp_media_find_rtx(o, pt);
    if (rtx >= 0) {
        const odeon_sdp_rtpmap *r = odeon_sdp_media_find_rtpmap(o, rtx);
        add_rtpmap(a, (uint8_t)rtx, "rtx", r ? r->clock_rate : 90000, 0);
        char *apt = g_strdup_printf("apt=%d", pt);
        add_fmtp(a, (uint8_t)rtx, apt);
        g_free(apt);
    }
    copy_extmaps(a, o, opts->simulcast);
    if (opts->simulcast && !audio)
        copy_simulcast(a, o);
    if (a->common.direction == ODEON_SDP_DIR_SENDRECV ||
        a->common.direction == ODEON_SDP_DIR_SENDONLY)
        add_send_stream(a, cname, NULL, random_ssrc(), rtx >= 0 ? random_ssrc() : 0);
    return true;
}

odeon_sdp *odeon_jsep_answer(const odeon_sdp *offer, const odeon_jsep_answer_options *opts,
                             char **error)
{
    odeon_sdp *answer = session_new();
    const char *cname = opts->cname ? opts->cname : "odeon";
    size_t accepted = 0;
    for (size_t i = 0; i < offer->media_count; i++) {
        odeon_sdp_media *a = odeon_sdp_add_media(answer);
        if (answer_media(a, &offer->media[i], opts, cname)) {
            accepted++;
            if (a->mid != NULL)
                add_mid_to_bundle(answer, a->mid);
        }
    }
    if (accepted == 0) {
        if (error)
            *error = g_strdup("no m-line with a codec Odeon supports (opus, VP8, VP9, H264 "
                              "packetization-mode=1, AV1) was offered or wanted");
        odeon_sdp_free(answer);
        return NULL;
    }
    return answer;
}

static uint32_t ssrc_map(uint32_t ssrc, const uint32_t from[2], const uint32_t to[2])
{
    for (int i = 0; i < 2; i++)
        if (from[i] != 0 && ssrc == from[i])
            return to[i];
    return ssrc;
}

void odeon_jsep_keep_ssrcs(odeon_sdp *sdp, const odeon_sdp *previous)
{
    for (size_t i = 0; i < sdp->media_count; i++) {
        odeon_sdp_media *m = &sdp->media[i];
        const odeon_sdp_media *old = odeon_sdp_find_media_by_mid(previous, m->mid);
        if (old == NULL || m->ssrc_count == 0 || old->ssrc_count == 0)
            continue;
        uint32_t from[2], to[2];
        media_ssrcs(m, &from[0], &from[1]);
        media_ssrcs(old, &to[0], &to[1]);
        if ((from[1] == 0) != (to[1] == 0))
            continue; /* RTX came or went: keep the new numbering */
        for (size_t k = 0; k < m->ssrc_count; k++)
            m->ssrcs[k].ssrc = ssrc_map(m->ssrcs[k].ssrc, from, to);
        for (size_t g = 0; g < m->ssrc_group_count; g++)
            for (size_t k = 0; k < m->ssrc_groups[g].ssrc_count; k++)
                m->ssrc_groups[g].ssrcs[k] = ssrc_map(m->ssrc_groups[g].ssrcs[k], from, to);
    }
}

/* ---- offer ---- */

static const char *default_fmtp(const char *codec)
{
    if (g_ascii_strcasecmp(codec, "opus") == 0)
        return "minptime=10;useinbandfec=1";
    if (g_ascii_strcasecmp(codec, "H264") == 0)
        return "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
    if (g_ascii_strcasecmp(codec, "VP9") == 0)
        return "profile-id=0";
    return NULL;
}

odeon_sdp *odeon_jsep_offer(const odeon_jsep_offer_stream *streams, size_t count,
                            const char *cname, char **error)
{
    if (count == 0 || count > ODEON_SDP_MAX_MEDIA) {
        if (error)
            *error = g_strdup("an offer needs 1 to 64 streams");
        return NULL;
    }
    odeon_sdp *sdp = session_new();
    for (size_t i = 0; i < count; i++) {
        const odeon_jsep_offer_stream *s = &streams[i];
        bool audio = s->kind == ODEON_SDP_MEDIA_AUDIO;
        odeon_sdp_media *m = odeon_sdp_add_media(sdp);
        m->kind = s->kind;
        m->media = g_strdup(audio ? "audio" : "video");
        m->port = 9;
        m->proto = g_strdup("UDP/TLS/RTP/SAVPF");
        m->is_rtp = true;
        m->mid = g_strdup_printf("%zu", i);
        m->common.connection = g_strdup("IN IP4 0.0.0.0");
        m->common.direction = s->direction ? s->direction : ODEON_SDP_DIR_SENDONLY;
        m->rtcp_mux = true;
        m->rtcp_rsize = true;
        add_extmap(&m->common, 1, ODEON_EXT_MID);
        add_extmap(&m->common, 2, ODEON_EXT_ABS_SEND_TIME);
        add_extmap(&m->common, 3, ODEON_EXT_TWCC);
        if (audio)
            add_extmap(&m->common, 4, ODEON_EXT_AUDIO_LEVEL);
        add_rtpmap(m, s->pt, s->codec, s->clock_rate, s->channels);
        const char *fmtp = s->fmtp ? s->fmtp : default_fmtp(s->codec);
        add_fb(m, s->pt, "transport-cc", NULL);
        if (!audio) {
            add_fb(m, s->pt, "ccm", "fir");
            add_fb(m, s->pt, "nack", NULL);
            add_fb(m, s->pt, "nack", "pli");
            add_fb(m, s->pt, "goog-remb", NULL);
        }
        if (fmtp != NULL)
            add_fmtp(m, s->pt, fmtp);
        if (s->rtx_pt >= 0) {
            add_rtpmap(m, (uint8_t)s->rtx_pt, "rtx", s->clock_rate, 0);
            char *apt = g_strdup_printf("apt=%u", s->pt);
            add_fmtp(m, (uint8_t)s->rtx_pt, apt);
            g_free(apt);
        }
        if (m->common.direction != ODEON_SDP_DIR_RECVONLY &&
            m->common.direction != ODEON_SDP_DIR_INACTIVE)
            add_send_stream(m, cname ? cname : "odeon", s->stream_id,
                            s->ssrc ? s->ssrc : random_ssrc(),
                            s->rtx_pt >= 0 ? (s->rtx_ssrc ? s->rtx_ssrc : random_ssrc()) : 0);
        add_mid_to_bundle(sdp, m->mid);
    }
    return sdp;
}

/* ---- remote checks ---- */

static const odeon_sdp_media *first_active(const odeon_sdp *sdp)
{
    for (size_t i = 0; i < sdp->media_count; i++)
        if (sdp->media[i].port != 0)
            return &sdp->media[i];
    return NULL;
}

const char *odeon_jsep_ice_ufrag(const odeon_sdp *sdp)
{
    const odeon_sdp_media *m = first_active(sdp);
    return m && m->common.ice_ufrag ? m->common.ice_ufrag : sdp->common.ice_ufrag;
}

const char *odeon_jsep_ice_pwd(const odeon_sdp *sdp)
{
    const odeon_sdp_media *m = first_active(sdp);
    return m && m->common.ice_pwd ? m->common.ice_pwd : sdp->common.ice_pwd;
}

const odeon_sdp_fingerprint *odeon_jsep_fingerprint(const odeon_sdp *sdp)
{
    const odeon_sdp_media *m = first_active(sdp);
    if (m && m->common.fingerprint_count > 0)
        return &m->common.fingerprints[0];
    return sdp->common.fingerprint_count > 0 ? &sdp->common.fingerprints[0] : NULL;
}

const char *odeon_jsep_setup(const odeon_sdp *sdp)
{
    const odeon_sdp_media *m = first_active(sdp);
    return m && m->common.setup ? m->common.setup : sdp->common.setup;
}

static int fail(char **error, char *message)
{
    if (error)
        *error = message;
    else
        g_free(message);
    return ODEON_EINVAL;
}

int odeon_jsep_check_remote(const odeon_sdp *sdp, bool is_offer, const odeon_sdp *offer,
                            char **error)
{
    if (sdp->media_count == 0)
        return fail(error, g_strdup("no m-line"));
    if (!is_offer && offer != NULL && offer->media_count != sdp->media_count)
        return fail(error, g_strdup_printf("the answer has %zu m-lines, the offer had %zu",
                                           sdp->media_count, offer->media_count));
    size_t active = 0;
    for (size_t i = 0; i < sdp->media_count; i++) {
        const odeon_sdp_media *m = &sdp->media[i];
        if (m->port == 0)
            continue;
        active++;
        if (m->mid == NULL)
            return fail(error, g_strdup_printf("m-line %zu has no a=mid", i));
        if (m->is_rtp && !m->rtcp_mux)
            return fail(error, g_strdup_printf("m-line %zu: rtcp-mux is required", i));
    }
    if (active == 0)
        return is_offer ? fail(error, g_strdup("every m-line is rejected (port 0)")) : 0;
    const odeon_sdp_group *bundle = odeon_sdp_find_group(sdp, "BUNDLE");
    if (active > 1 && bundle == NULL)
        return fail(error, g_strdup("BUNDLE is required with more than one m-line"));
    const char *ufrag = odeon_jsep_ice_ufrag(sdp), *pwd = odeon_jsep_ice_pwd(sdp);
    if (ufrag == NULL || pwd == NULL)
        return fail(error, g_strdup("missing ICE credentials (a=ice-ufrag, a=ice-pwd)"));
    if (strlen(ufrag) < 4 || strlen(ufrag) > 256 || strlen(pwd) < 22 || strlen(pwd) > 256)
        return fail(error, g_strdup("ICE credentials of the wrong length (RFC 8839 5.4)"));
    const odeon_sdp_fingerprint *fp = odeon_jsep_fingerprint(sdp);
    if (fp == NULL)
        return fail(error, g_strdup("missing DTLS fingerprint (a=fingerprint)"));
    const char *setup = odeon_jsep_setup(sdp);
    if (setup != NULL && strcmp(setup, "actpass") != 0 && strcmp(setup, "active") != 0 &&
        strcmp(setup, "passive") != 0)
        return fail(error, g_strdup_printf("unsupported a=setup:%s", setup));
    if (!is_offer && setup != NULL && strcmp(setup, "actpass") == 0)
        return fail(error, g_strdup("an answer must not say a=setup:actpass (RFC 5763)"));
    return 0;
}

/* ---- transport ---- */

static void set_str(char **field, const char *value)
{
    g_free(*field);
    *field = value ? g_strdup(value) : NULL;
}

void odeon_jsep_set_transport(odeon_sdp *sdp, const odeon_jsep_transport *t)
{
    sdp->ice_lite = t->ice_lite;
    /* Transport attributes live at media level; drop session-level ones a plugin wrote. */
    set_str(&sdp->common.ice_ufrag, NULL);
    set_str(&sdp->common.ice_pwd, NULL);
    set_str(&sdp->common.ice_options, NULL);
    set_str(&sdp->common.setup, NULL);
    for (size_t k = 0; k < sdp->common.fingerprint_count; k++) {
        g_free(sdp->common.fingerprints[k].hash);
        g_free(sdp->common.fingerprints[k].value);
    }
    g_clear_pointer(&sdp->common.fingerprints, g_free);
    sdp->common.fingerprint_count = 0;
    bool first = true;
    for (size_t i = 0; i < sdp->media_count; i++) {
        odeon_sdp_media *m = &sdp->media[i];
        odeon_sdp_common *c = &m->common;
        set_str(&c->ice_ufrag, t->ufrag);
        set_str(&c->ice_pwd, t->pwd);
        set_str(&c->ice_options, "trickle");
        set_str(&c->setup, t->setup);
        for (size_t k = 0; k < c->fingerprint_count; k++) {
            g_free(c->fingerprints[k].hash);
            g_free(c->fingerprints[k].value);
        }
        c->fingerprints = g_renew(odeon_sdp_fingerprint, c->fingerprints, 1);
        c->fingerprints[0].hash = g_strdup(t->fingerprint_hash);
        c->fingerprints[0].value = g_strdup(t->fingerprint);
        c->fingerprint_count = 1;
        for (size_t k = 0; k < m->candidate_count; k++)
            g_free(m->candidates[k]);
        g_clear_pointer(&m->candidates, g_free);
        m->candidate_count = 0;
        m->end_of_candidates = false;
        if (m->port == 0 || !first)
            continue;
        first = false;
        m->candidates = g_new0(char *, t->candidate_count + 1);
        for (size_t k = 0; k < t->candidate_count; k++)
            m->candidates[k] = g_strdup(g_str_has_prefix(t->candidates[k], "candidate:")
                                            ? t->candidates[k] + strlen("candidate:")
                                            : t->candidates[k]);
        m->candidate_count = t->candidate_count;
        m->end_of_candidates = t->end_of_candidates;
    }
}

/* ---- negotiated view ---- */

static uint8_t ext_id(const odeon_sdp_media *m, const odeon_sdp *sdp, const char *uri)
{
    for (size_t i = 0; i < m->common.extmap_count; i++)
        if (strcmp(m->common.extmaps[i].uri, uri) == 0 && m->common.extmaps[i].id < 256)
            return (uint8_t)m->common.extmaps[i].id;
    for (size_t i = 0; i < sdp->common.extmap_count; i++)
        if (strcmp(sdp->common.extmaps[i].uri, uri) == 0 && sdp->common.extmaps[i].id < 256)
            return (uint8_t)sdp->common.extmaps[i].id;
    return 0;
}

/* Primary and FID-paired ssrc of a description's m-line (the first SIM layer if any). */
static void media_ssrcs(const odeon_sdp_media *m, uint32_t *ssrc, uint32_t *rtx)
{
    *ssrc = 0;
    *rtx = 0;
    for (size_t i = 0; i < m->ssrc_group_count; i++) {
        const odeon_sdp_ssrc_group *g = &m->ssrc_groups[i];
        if (strcmp(g->semantics, "FID") == 0 && g->ssrc_count == 2 && *ssrc == 0) {
            *ssrc = g->ssrcs[0];
            *rtx = g->ssrcs[1];
        }
    }
    if (*ssrc == 0 && m->ssrc_count > 0)
        *ssrc = m->ssrcs[0].ssrc;
}

static bool has_fb(const odeon_sdp_media *m, int pt, const char *type, const char *subtype)
{
    for (size_t i = 0; i < m->rtcp_fb_count; i++) {
        const odeon_sdp_rtcp_fb *f = &m->rtcp_fbs[i];
        if ((f->pt == pt || f->pt == -1) && strcmp(f->type, type) == 0 &&
            ((subtype == NULL && f->subtype == NULL) ||
             (subtype && f->subtype && strcmp(subtype, f->subtype) == 0)))
            return true;
    }
    return false;
}

/* A rid the remote sends counts only when our description accepted it (a=rid:<id> recv). */
static bool has_recv_rid(const odeon_sdp_media *local, const char *id)
{
    for (size_t i = 0; i < local->rid_count; i++)
        if (!local->rids[i].send && strcmp(local->rids[i].id, id) == 0)
            return true;
    return false;
}

static bool has_send_rid(const odeon_sdp_media *remote, const char *id)
{
    for (size_t i = 0; i < remote->rid_count; i++)
        if (remote->rids[i].send && strcmp(remote->rids[i].id, id) == 0)
            return true;
    return false;
}

/* The rids the remote sends, in its a=simulcast send order: that order (not the a=rid lines')
 * is the layer index the plugin sees. One per simulcast stream: its first alternative we
 * accepted (browsers never offer alternatives). */
static void negotiated_rids(const odeon_sdp_media *l, const odeon_sdp_media *r,
                            odeon_jsep_media *o)
{
    const odeon_sdp_simulcast_list *send = &r->simulcast.send;
    for (size_t s = 0; s < send->stream_count && o->rid_count < ODEON_JSEP_MAX_RIDS; s++)
        for (size_t k = 0; k < send->streams[s].alt_count; k++) {
            const char *id = send->streams[s].alts[k].rid;
            if (has_send_rid(r, id) && has_recv_rid(l, id)) {
                g_strlcpy(o->rids[o->rid_count++], id, sizeof o->rids[0]);
                break;
            }
        }
}

/* SSRC-style simulcast: the SIM group's layers and their FID-paired RTX SSRCs. */
static void negotiated_sim(const odeon_sdp_media *r, odeon_jsep_media *o)
{
    for (size_t i = 0; i < r->ssrc_group_count && o->remote_sim_count == 0; i++) {
        const odeon_sdp_ssrc_group *g = &r->ssrc_groups[i];
        if (strcmp(g->semantics, "SIM") != 0 || g->ssrc_count < 2)
            continue;
        for (size_t k = 0; k < g->ssrc_count && k < ODEON_JSEP_MAX_RIDS; k++) {
            o->remote_sim_ssrcs[k] = g->ssrcs[k];
            for (size_t f = 0; f < r->ssrc_group_count; f++) {
                const odeon_sdp_ssrc_group *fid = &r->ssrc_groups[f];
                if (strcmp(fid->semantics, "FID") == 0 && fid->ssrc_count == 2 &&
                    fid->ssrcs[0] == g->ssrcs[k])
                    o->remote_sim_rtx_ssrcs[k] = fid->ssrcs[1];
            }
            o->remote_sim_count = k + 1;
        }
    }
    if (o->remote_sim_count > 0) {
        /* The first layer is the stream's primary SSRC, whatever order the FID groups had. */
        o->remote_ssrc = o->remote_sim_ssrcs[0];
        o->remote_rtx_ssrc = o->remote_sim_rtx_ssrcs[0];
    }
}

static bool dir_sends(odeon_sdp_direction d)
{
    return d == ODEON_SDP_DIR_NONE || d == ODEON_SDP_DIR_SENDRECV || d == ODEON_SDP_DIR_SENDONLY;
}

static bool dir_receives(odeon_sdp_direction d)
{
    return d == ODEON_SDP_DIR_NONE || d == ODEON_SDP_DIR_SENDRECV || d == ODEON_SDP_DIR_RECVONLY;
}

int odeon_jsep_negotiated(const odeon_sdp *local, const odeon_sdp *remote,
                          odeon_jsep_media *out, size_t cap)
{
    if (local->media_count != remote->media_count || local->media_count > cap)
        return ODEON_EINVAL;
    for (size_t i = 0; i < local->media_count; i++) {
        const odeon_sdp_media *l = &local->media[i], *r = &remote->media[i];
        odeon_jsep_media *o = &out[i];
        memset(o, 0, sizeof *o);
        o->mindex = (int)i;
        g_strlcpy(o->mid, l->mid ? l->mid : (r->mid ? r->mid : ""), sizeof o->mid);
        o->kind = l->kind;
        o->pt = -1;
        o->rtx_pt = -1;
        o->active = l->port != 0 && r->port != 0 && l->is_rtp;
        if (!o->active)
            continue;
        o->send = dir_sends(l->common.direction) && dir_receives(r->common.direction);
        o->recv = dir_receives(l->common.direction) && dir_sends(r->common.direction);
        for (size_t k = 0; k < l->pt_count && o->pt < 0; k++) {
            const odeon_sdp_rtpmap *rm = odeon_sdp_media_find_rtpmap(l, l->pts[k]);
            if (rm && g_ascii_strcasecmp(rm->name, "rtx") != 0 &&
                g_ascii_strcasecmp(rm->name, "red") != 0 &&
                g_ascii_strcasecmp(rm->name, "ulpfec") != 0) {
                o->pt = l->pts[k];
                o->clock_rate = rm->clock_rate;
                g_strlcpy(o->codec, rm->name, sizeof o->codec);
            }
        }
        if (o->pt >= 0) {
            /* RTX only when both sides list it for the codec: a peer that answered without
             * it could not unwrap a retransmission. */
            int rtx = odeon_sdp_media_find_rtx(l, o->pt);
            o->rtx_pt = rtx >= 0 && odeon_sdp_media_find_rtx(r, o->pt) >= 0 ? rtx : -1;
            o->fb_nack = has_fb(l, o->pt, "nack", NULL) && has_fb(r, o->pt, "nack", NULL);
            o->fb_pli = has_fb(l, o->pt, "nack", "pli") && has_fb(r, o->pt, "nack", "pli");
            o->fb_fir = has_fb(l, o->pt, "ccm", "fir") && has_fb(r, o->pt, "ccm", "fir");
            o->fb_remb = has_fb(l, o->pt, "goog-remb", NULL) && has_fb(r, o->pt, "goog-remb", NULL);
            o->fb_twcc = has_fb(l, o->pt, "transport-cc", NULL) &&
                         has_fb(r, o->pt, "transport-cc", NULL);
        }
        if (o->send)
            media_ssrcs(l, &o->local_ssrc, &o->local_rtx_ssrc);
        if (o->recv) {
            media_ssrcs(r, &o->remote_ssrc, &o->remote_rtx_ssrc);
            negotiated_sim(r, o);
        }
        negotiated_rids(l, r, o);
        /* Extension ids: both sides use the same ids once negotiated; read ours. */
        o->ext_mid = ext_id(l, local, ODEON_EXT_MID);
        o->ext_rid = ext_id(l, local, ODEON_EXT_RID);
        o->ext_repaired_rid = ext_id(l, local, ODEON_EXT_REPAIRED_RID);
        o->ext_abs_send_time = ext_id(l, local, ODEON_EXT_ABS_SEND_TIME);
        o->ext_twcc = ext_id(l, local, ODEON_EXT_TWCC);
        o->ext_audio_level = ext_id(l, local, ODEON_EXT_AUDIO_LEVEL);
    }
    return (int)local->media_count;
}

/* ---- payload type mapping ---- */

static bool same_codec(const odeon_sdp_media *a, int pa, const odeon_sdp_media *b, int pb)
{
    const odeon_sdp_rtpmap *ra = odeon_sdp_media_find_rtpmap(a, pa);
    const odeon_sdp_rtpmap *rb = odeon_sdp_media_find_rtpmap(b, pb);
    if (!ra || !rb || g_ascii_strcasecmp(ra->name, rb->name) != 0 ||
        ra->clock_rate != rb->clock_rate || ra->channels != rb->channels)
        return false;
    if (g_ascii_strcasecmp(ra->name, "H264") == 0 || g_ascii_strcasecmp(ra->name, "VP9") == 0) {
        const char *key = g_ascii_strcasecmp(ra->name, "H264") == 0 ? "packetization-mode"
                                                                      : "profile-id";
        char *va = odeon_sdp_fmtp_get(odeon_sdp_media_find_fmtp(a, pa), key);
        char *vb = odeon_sdp_fmtp_get(odeon_sdp_media_find_fmtp(b, pb), key);
        bool same = g_strcmp0(va ? va : "0", vb ? vb : "0") == 0;
        g_free(va);
        g_free(vb);
        return same;
    }
    return true;
}

void odeon_jsep_pt_map(const odeon_sdp_media *from, const odeon_sdp_media *to, int map[128])
{
    for (int i = 0; i < 128; i++)
        map[i] = -1;
    for (size_t i = 0; i < from->pt_count; i++) {
        int pf = from->pts[i];
        const odeon_sdp_rtpmap *rf = odeon_sdp_media_find_rtpmap(from, pf);
        if (rf == NULL || g_ascii_strcasecmp(rf->name, "rtx") == 0)
            continue;
        for (size_t k = 0; k < to->pt_count && map[pf] < 0; k++)
            if (same_codec(from, pf, to, to->pts[k]))
                map[pf] = to->pts[k];
    }
    /* RTX follows what it repairs. */
    for (size_t i = 0; i < from->pt_count; i++) {
        int pf = from->pts[i];
        const odeon_sdp_rtpmap *rf = odeon_sdp_media_find_rtpmap(from, pf);
        if (rf == NULL || g_ascii_strcasecmp(rf->name, "rtx") != 0)
            continue;
        char *apt = odeon_sdp_fmtp_get(odeon_sdp_media_find_fmtp(from, pf), "apt");
        int base = apt ? atoi(apt) : -1;
        g_free(apt);
        if (base >= 0 && base < 128 && map[base] >= 0) {
            int rtx = odeon_sdp_media_find_rtx(to, map[base]);
            map[pf] = rtx >= 0 ? rtx : -1; /* find_rtx says ODEON_ENOENT, the map says -1 */
        }
    }
}
