/*
 * sdp_write.c - turns an odeon_sdp back into SDP text (the parser is sdp.c).
 *
 * The output order is fixed (it is listed in sdp.h) so that writing is canonical: parsing the
 * output and writing again yields the same bytes, which the unit tests and the fuzz target
 * check. Within one kind of line the stored order is kept, because order can carry meaning
 * (payload type preference, candidate order). Fields left NULL or zero are simply not written,
 * so a hand-built answer only fills in what it needs.
 */
#include "webrtc/sdp.h"

#include <inttypes.h>

#include <glib.h>

#define CRLF "\r\n"

static void write_common_head(GString *out, const odeon_sdp_common *c)
{
    if (c->connection != NULL)
        g_string_append_printf(out, "c=%s" CRLF, c->connection);
    for (size_t i = 0; i < c->bandwidth_count; i++)
        g_string_append_printf(out, "b=%s" CRLF, c->bandwidths[i]);
}

static void write_transport(GString *out, const odeon_sdp_common *c)
{
    if (c->ice_ufrag != NULL)
        g_string_append_printf(out, "a=ice-ufrag:%s" CRLF, c->ice_ufrag);
    if (c->ice_pwd != NULL)
        g_string_append_printf(out, "a=ice-pwd:%s" CRLF, c->ice_pwd);
    if (c->ice_options != NULL)
        g_string_append_printf(out, "a=ice-options:%s" CRLF, c->ice_options);
    for (size_t i = 0; i < c->fingerprint_count; i++)
        g_string_append_printf(out, "a=fingerprint:%s %s" CRLF, c->fingerprints[i].hash,
                               c->fingerprints[i].value);
    if (c->setup != NULL)
        g_string_append_printf(out, "a=setup:%s" CRLF, c->setup);
    const char *dir = odeon_sdp_direction_name(c->direction);
    if (dir != NULL)
        g_string_append_printf(out, "a=%s" CRLF, dir);
}

static void write_extmaps(GString *out, const odeon_sdp_common *c)
{
    for (size_t i = 0; i < c->extmap_count; i++) {
        const odeon_sdp_extmap *e = &c->extmaps[i];
        const char *dir = odeon_sdp_direction_name(e->direction);
        g_string_append_printf(out, "a=extmap:%u%s%s %s%s%s" CRLF, e->id, dir ? "/" : "",
                               dir ? dir : "", e->uri, e->attributes ? " " : "",
                               e->attributes ? e->attributes : "");
    }
}

static void write_unknown(GString *out, const odeon_sdp_common *c)
{
    for (size_t i = 0; i < c->attr_count; i++) {
        const odeon_sdp_attr *a = &c->attrs[i];
        if (a->value != NULL)
            g_string_append_printf(out, "a=%s:%s" CRLF, a->name, a->value);
        else
            g_string_append_printf(out, "a=%s" CRLF, a->name);
    }
}

static void write_session(GString *out, const odeon_sdp *sdp)
{
    g_string_append_printf(out, "v=0" CRLF "o=%s %s %" PRIu64 " %s %s %s" CRLF,
                           sdp->origin_username ? sdp->origin_username : "-",
                           sdp->origin_sess_id ? sdp->origin_sess_id : "0",
                           sdp->origin_sess_version,
                           sdp->origin_nettype ? sdp->origin_nettype : "IN",
                           sdp->origin_addrtype ? sdp->origin_addrtype : "IP4",
                           sdp->origin_address ? sdp->origin_address : "127.0.0.1");
    g_string_append_printf(out, "s=%s" CRLF, sdp->session_name ? sdp->session_name : "-");
    write_common_head(out, &sdp->common);
    g_string_append_printf(out, "t=%" PRIu64 " %" PRIu64 CRLF, sdp->time_start, sdp->time_stop);
    for (size_t i = 0; i < sdp->group_count; i++) {
        g_string_append_printf(out, "a=group:%s", sdp->groups[i].semantics);
        for (size_t j = 0; j < sdp->groups[i].mid_count; j++)
            g_string_append_printf(out, " %s", sdp->groups[i].mids[j]);
        g_string_append(out, CRLF);
    }
    if (sdp->common.extmap_allow_mixed)
        g_string_append(out, "a=extmap-allow-mixed" CRLF);
    /* The blank after ':' is how Chrome writes it; every parser we know accepts both. */
    if (sdp->msid_semantic != NULL)
        g_string_append_printf(out, "a=msid-semantic: %s" CRLF, sdp->msid_semantic);
    if (sdp->ice_lite)
        g_string_append(out, "a=ice-lite" CRLF);
    write_transport(out, &sdp->common);
    write_extmaps(out, &sdp->common);
    write_unknown(out, &sdp->common);
}

static void write_media_line(GString *out, const odeon_sdp_media *m)
{
    g_string_append_printf(out, "m=%s %u", m->media ? m->media : "audio", (unsigned)m->port);
    if (m->port_count > 0)
        g_string_append_printf(out, "/%u", m->port_count);
    g_string_append_printf(out, " %s", m->proto ? m->proto : "UDP/TLS/RTP/SAVPF");
    if (m->is_rtp) {
        for (size_t i = 0; i < m->pt_count; i++)
            g_string_append_printf(out, " %u", (unsigned)m->pts[i]);
    } else if (m->formats != NULL) {
        g_string_append_printf(out, " %s", m->formats);
    }
    g_string_append(out, CRLF);
}

static void write_codecs(GString *out, const odeon_sdp_media *m)
{
    for (size_t i = 0; i < m->rtpmap_count; i++) {
        const odeon_sdp_rtpmap *r = &m->rtpmaps[i];
        g_string_append_printf(out, "a=rtpmap:%u %s/%" PRIu32, (unsigned)r->pt, r->name,
                               r->clock_rate);
        if (r->channels > 0)
            g_string_append_printf(out, "/%u", r->channels);
        g_string_append(out, CRLF);
    }
    for (size_t i = 0; i < m->rtcp_fb_count; i++) {
        const odeon_sdp_rtcp_fb *f = &m->rtcp_fbs[i];
        if (f->pt < 0)
            g_string_append(out, "a=rtcp-fb:*");
        else
            g_string_append_printf(out, "a=rtcp-fb:%d", f->pt);
        g_string_append_printf(out, " %s%s%s" CRLF, f->type, f->subtype ? " " : "",
                               f->subtype ? f->subtype : "");
    }
    for (size_t i = 0; i < m->fmtp_count; i++)
        g_string_append_printf(out, "a=fmtp:%u %s" CRLF, (unsigned)m->fmtps[i].pt,
                               m->fmtps[i].params);
}

static void write_ssrcs(GString *out, const odeon_sdp_media *m)
{
    for (size_t i = 0; i < m->ssrc_group_count; i++) {
        const odeon_sdp_ssrc_group *g = &m->ssrc_groups[i];
        g_string_append_printf(out, "a=ssrc-group:%s", g->semantics);
        for (size_t j = 0; j < g->ssrc_count; j++)
            g_string_append_printf(out, " %" PRIu32, g->ssrcs[j]);
        g_string_append(out, CRLF);
    }
    for (size_t i = 0; i < m->ssrc_count; i++) {
        const odeon_sdp_ssrc *s = &m->ssrcs[i];
        g_string_append_printf(out, "a=ssrc:%" PRIu32 " %s%s%s" CRLF, s->ssrc, s->attribute,
                               s->value ? ":" : "", s->value ? s->value : "");
    }
}

static void write_simulcast_list(GString *out, const char *dir, const odeon_sdp_simulcast_list *l)
{
    g_string_append_printf(out, " %s ", dir);
    for (size_t i = 0; i < l->stream_count; i++) {
        if (i > 0)
            g_string_append_c(out, ';');
        for (size_t j = 0; j < l->streams[i].alt_count; j++) {
            const odeon_sdp_simulcast_alt *a = &l->streams[i].alts[j];
            g_string_append_printf(out, "%s%s%s", j > 0 ? "," : "", a->paused ? "~" : "", a->rid);
        }
    }
}

static void write_simulcast(GString *out, const odeon_sdp_media *m)
{
    for (size_t i = 0; i < m->rid_count; i++) {
        const odeon_sdp_rid *r = &m->rids[i];
        g_string_append_printf(out, "a=rid:%s %s%s%s" CRLF, r->id, r->send ? "send" : "recv",
                               r->params ? " " : "", r->params ? r->params : "");
    }
    const odeon_sdp_simulcast *sc = &m->simulcast;
    if (!sc->present || (sc->send.stream_count == 0 && sc->recv.stream_count == 0))
        return;
    g_string_append(out, "a=simulcast:");
    size_t mark = out->len;
    if (sc->send.stream_count > 0)
        write_simulcast_list(out, "send", &sc->send);
    if (sc->recv.stream_count > 0)
        write_simulcast_list(out, "recv", &sc->recv);
    g_string_erase(out, (gssize)mark, 1); /* the blank before the first direction */
    g_string_append(out, CRLF);
}

static void write_media(GString *out, const odeon_sdp_media *m)
{
    write_media_line(out, m);
    write_common_head(out, &m->common);
    if (m->mid != NULL)
        g_string_append_printf(out, "a=mid:%s" CRLF, m->mid);
    write_transport(out, &m->common);
    for (size_t i = 0; i < m->msid_count; i++)
        g_string_append_printf(out, "a=msid:%s" CRLF, m->msids[i]);
    if (m->rtcp_mux)
        g_string_append(out, "a=rtcp-mux" CRLF);
    if (m->rtcp_mux_only)
        g_string_append(out, "a=rtcp-mux-only" CRLF);
    if (m->rtcp_rsize)
        g_string_append(out, "a=rtcp-rsize" CRLF);
    if (m->common.extmap_allow_mixed)
        g_string_append(out, "a=extmap-allow-mixed" CRLF);
    write_extmaps(out, &m->common);
    write_codecs(out, m);
    write_ssrcs(out, m);
    write_simulcast(out, m);
    if (m->sctp_port >= 0)
        g_string_append_printf(out, "a=sctp-port:%d" CRLF, m->sctp_port);
    if (m->max_message_size > 0)
        g_string_append_printf(out, "a=max-message-size:%" PRIu64 CRLF, m->max_message_size);
    write_unknown(out, &m->common);
    for (size_t i = 0; i < m->candidate_count; i++)
        g_string_append_printf(out, "a=candidate:%s" CRLF, m->candidates[i]);
    if (m->end_of_candidates)
        g_string_append(out, "a=end-of-candidates" CRLF);
}

char *odeon_sdp_write(const odeon_sdp *sdp)
{
    if (sdp == NULL)
        return NULL;
    GString *out = g_string_sized_new(2048);
    write_session(out, sdp);
    for (size_t i = 0; i < sdp->media_count; i++)
        write_media(out, &sdp->media[i]);
    return g_string_free(out, FALSE);
}
