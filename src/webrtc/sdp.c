/*
 * sdp.c - the SDP parser and lookup helpers (the writer is sdp_write.c).
 *
 * The input is split into lines, each checked for length and control characters and copied
 * into a NUL-terminated buffer, so the per-line parsers below only ever read inside that copy.
 * Lines before the first m= fill the session, later ones the current media section. Attributes
 * go through a table of small handlers; an attribute not in the table is kept verbatim so a
 * round trip through odeon_sdp_write loses nothing. Every failure names the line for the
 * caller's 465 reason. Allocation is by glib (this is signalling, not the media path).
 */
#include "webrtc/sdp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "plugin/plugin.h"

typedef struct parse_ctx {
    odeon_sdp *sdp;
    odeon_sdp_media *media; /* NULL while in the session section */
    unsigned line_no;
    char *error;
} parse_ctx;

/* Records the first error only: later ones are consequences. Returns -1 for tail calls. */
static int fail(parse_ctx *ctx, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int fail(parse_ctx *ctx, const char *fmt, ...)
{
    if (ctx->error == NULL) {
        va_list ap;
        va_start(ap, fmt);
        char *reason = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        ctx->error = g_strdup_printf("line %u: %s", ctx->line_no, reason);
        g_free(reason);
    }
    return -1;
}

/* Appends one zeroed element to *array, refusing to pass ODEON_SDP_MAX_ITEMS. */
static void *grow(parse_ctx *ctx, void **array, size_t *count, size_t size, const char *what)
{
    if (*count >= ODEON_SDP_MAX_ITEMS) {
        fail(ctx, "too many %s%s lines", strchr(what, '=') ? "" : "a=", what);
        return NULL;
    }
    *array = g_realloc_n(*array, *count + 1, size);
    char *slot = (char *)*array + *count * size;
    memset(slot, 0, size);
    (*count)++;
    return slot;
}

/* Parses a whole decimal number in [min, max]; no sign, no blanks, no leading '+'. */
static bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s == NULL || !g_ascii_isdigit(s[0]) || strlen(s) > 20)
        return false;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isdigit(*p))
            return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool is_token(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

/* Splits "first rest" at the first blank: returns first (new), *rest points into s or NULL. */
static char *split_word(const char *s, const char **rest)
{
    const char *sp = strchr(s, ' ');
    if (sp == NULL) {
        *rest = NULL;
        return g_strdup(s);
    }
    *rest = sp + 1;
    return g_strndup(s, (gsize)(sp - s));
}

static const char *dir_names[] = {NULL, "sendrecv", "sendonly", "recvonly", "inactive"};

const char *odeon_sdp_direction_name(odeon_sdp_direction dir)
{
    if ((unsigned)dir >= G_N_ELEMENTS(dir_names))
        return NULL;
    return dir_names[dir];
}

static odeon_sdp_direction direction_from(const char *s)
{
    for (unsigned i = 1; i < G_N_ELEMENTS(dir_names); i++)
        if (strcmp(s, dir_names[i]) == 0)
            return (odeon_sdp_direction)i;
    return ODEON_SDP_DIR_NONE;
}

static odeon_sdp_common *common_of(parse_ctx *ctx)
{
    return ctx->media ? &ctx->media->common : &ctx->sdp->common;
}

/* ---- attribute handlers: value is the text after ':' or NULL for a flag ----------------- */

typedef int (*attr_fn)(parse_ctx *ctx, const char *name, const char *value);

static int set_once(parse_ctx *ctx, char **slot, const char *name, const char *value)
{
    if (!is_token(value))
        return fail(ctx, "a=%s: missing or invalid value", name);
    if (*slot != NULL)
        return fail(ctx, "a=%s: repeated", name);
    *slot = g_strdup(value);
    return 0;
}

static int attr_ufrag(parse_ctx *ctx, const char *name, const char *value)
{
    return set_once(ctx, &common_of(ctx)->ice_ufrag, name, value);
}

static int attr_pwd(parse_ctx *ctx, const char *name, const char *value)
{
    return set_once(ctx, &common_of(ctx)->ice_pwd, name, value);
}

static int attr_ice_options(parse_ctx *ctx, const char *name, const char *value)
{
    odeon_sdp_common *c = common_of(ctx);
    if (value == NULL || *value == '\0')
        return fail(ctx, "a=%s: missing value", name);
    if (c->ice_options != NULL)
        return fail(ctx, "a=%s: repeated", name);
    c->ice_options = g_strdup(value);
    return 0;
}

static int attr_setup(parse_ctx *ctx, const char *name, const char *value)
{
    if (value == NULL || (strcmp(value, "actpass") != 0 && strcmp(value, "active") != 0 &&
                          strcmp(value, "passive") != 0 && strcmp(value, "holdconn") != 0))
        return fail(ctx, "a=%s: unknown role", name);
    return set_once(ctx, &common_of(ctx)->setup, name, value);
}

static int attr_fingerprint(parse_ctx *ctx, const char *name, const char *value)
{
    const char *hex = NULL;
    if (value == NULL)
        return fail(ctx, "a=%s: missing value", name);
    char *hash = split_word(value, &hex);
    bool ok = is_token(hash) && hex != NULL && *hex != '\0';
    for (const char *p = hex; ok && *p; p++)
        ok = g_ascii_isxdigit(*p) || *p == ':';
    if (!ok) {
        g_free(hash);
        return fail(ctx, "a=%s: expected '<hash> <hex:hex:...>'", name);
    }
    odeon_sdp_common *c = common_of(ctx);
    odeon_sdp_fingerprint *f =
        grow(ctx, (void **)&c->fingerprints, &c->fingerprint_count, sizeof *f, name);
    if (f == NULL) {
        g_free(hash);
        return -1;
    }
    f->hash = hash;
    f->value = g_strdup(hex);
    return 0;
}

static int attr_direction(parse_ctx *ctx, const char *name, const char *value)
{
    odeon_sdp_common *c = common_of(ctx);
    if (value != NULL)
        return fail(ctx, "a=%s: takes no value", name);
    if (c->direction != ODEON_SDP_DIR_NONE)
        return fail(ctx, "a=%s: direction given twice", name);
    c->direction = direction_from(name);
    return 0;
}

/* Flags: a repeat is harmless, so it is accepted (and written once). */
static int set_flag(parse_ctx *ctx, bool *flag, const char *name, const char *value)
{
    if (value != NULL)
        return fail(ctx, "a=%s: takes no value", name);
    *flag = true;
    return 0;
}

static int attr_allow_mixed(parse_ctx *ctx, const char *name, const char *value)
{
    return set_flag(ctx, &common_of(ctx)->extmap_allow_mixed, name, value);
}

static int attr_extmap(parse_ctx *ctx, const char *name, const char *value)
{
    const char *rest = NULL;
    if (value == NULL)
        return fail(ctx, "a=%s: missing value", name);
    char *idpart = split_word(value, &rest);
    odeon_sdp_direction dir = ODEON_SDP_DIR_NONE;
    char *slash = strchr(idpart, '/');
    if (slash != NULL) {
        *slash = '\0';
        dir = direction_from(slash + 1);
    }
    uint64_t id = 0;
    bool ok = parse_uint(idpart, 1, 255, &id) && (slash == NULL || dir != ODEON_SDP_DIR_NONE);
    g_free(idpart);
    if (!ok)
        return fail(ctx, "a=%s: id must be 1..255 with an optional /direction", name);
    const char *attrs = NULL;
    char *uri = rest ? split_word(rest, &attrs) : NULL;
    if (!is_token(uri)) {
        g_free(uri);
        return fail(ctx, "a=%s: missing uri", name);
    }
    odeon_sdp_common *c = common_of(ctx);
    odeon_sdp_extmap *e = grow(ctx, (void **)&c->extmaps, &c->extmap_count, sizeof *e, name);
    if (e == NULL) {
        g_free(uri);
        return -1;
    }
    e->id = (unsigned)id;
    e->direction = dir;
    e->uri = uri;
    e->attributes = (attrs && *attrs) ? g_strdup(attrs) : NULL;
    return 0;
}

static int media_only(parse_ctx *ctx, const char *name)
{
    if (ctx->media == NULL)
        return fail(ctx, "a=%s: only allowed in a media section", name);
    return 0;
}

static int session_only(parse_ctx *ctx, const char *name)
{
    if (ctx->media != NULL)
        return fail(ctx, "a=%s: only allowed at session level", name);
    return 0;
}

static int attr_mid(parse_ctx *ctx, const char *name, const char *value)
{
    if (media_only(ctx, name) < 0)
        return -1;
    return set_once(ctx, &ctx->media->mid, name, value);
}

static int attr_msid(parse_ctx *ctx, const char *name, const char *value)
{
    if (media_only(ctx, name) < 0)
        return -1;
    if (value == NULL || !g_ascii_isgraph(value[0]))
        return fail(ctx, "a=%s: missing stream id", name);
    odeon_sdp_media *m = ctx->media;
    char **slot = grow(ctx, (void **)&m->msids, &m->msid_count, sizeof *slot, name);
    if (slot == NULL)
        return -1;
    *slot = g_strdup(value);
    return 0;
}

static int attr_rtcp_mux(parse_ctx *ctx, const char *name, const char *value)
{
    return media_only(ctx, name) < 0 ? -1 : set_flag(ctx, &ctx->media->rtcp_mux, name, value);
}

static int attr_rtcp_mux_only(parse_ctx *ctx, const char *name, const char *value)
{
    return media_only(ctx, name) < 0 ? -1 : set_flag(ctx, &ctx->media->rtcp_mux_only, name, value);
}

static int attr_rtcp_rsize(parse_ctx *ctx, const char *name, const char *value)
{
    return media_only(ctx, name) < 0 ? -1 : set_flag(ctx, &ctx->media->rtcp_rsize, name, value);
}

static int attr_eoc(parse_ctx *ctx, const char *name, const char *value)
{
    return media_only(ctx, name) < 0 ? -1
                                     : set_flag(ctx, &ctx->media->end_of_candidates, name, value);
}

static int attr_candidate(parse_ctx *ctx, const char *name, const char *value)
{
    if (media_only(ctx, name) < 0)
        return -1;
    /* Foundation, component, transport, priority, address, port, "typ", type: 8 words. */
    gchar **words = value ? g_strsplit(value, " ", 10) : NULL;
    bool ok = words != NULL && g_strv_length(words) >= 8;
    g_strfreev(words);
    if (!ok)
        return fail(ctx, "a=%s: too few fields", name);
    odeon_sdp_media *m = ctx->media;
    char **slot = grow(ctx, (void **)&m->candidates, &m->candidate_count, sizeof *slot, name);
    if (slot == NULL)
        return -1;
    *slot = g_strdup(value);
    return 0;
}

static int parse_pt(const char *s, uint8_t *pt)
{
    uint64_t v = 0;
    if (!parse_uint(s, 0, 127, &v))
        return -1;
    *pt = (uint8_t)v;
    return 0;
}

static int attr_rtpmap(parse_ctx *ctx, const char *name, const char *value)
{
    const char *enc = NULL;
    uint8_t pt = 0;
    if (media_only(ctx, name) < 0)
        return -1;
    if (value == NULL)
        return fail(ctx, "a=%s: missing value", name);
    char *ptstr = split_word(value, &enc);
    int rc = parse_pt(ptstr, &pt);
    g_free(ptstr);
    if (rc < 0)
        return fail(ctx, "a=%s: payload type out of range", name);
    gchar **parts = enc ? g_strsplit(enc, "/", 4) : NULL;
    guint n = parts ? g_strv_length(parts) : 0;
    uint64_t rate = 0, channels = 0;
    bool ok = (n == 2 || n == 3) && is_token(parts[0]) &&
              parse_uint(parts[1], 1, UINT32_MAX, &rate) &&
              (n == 2 || parse_uint(parts[2], 1, 255, &channels));
    if (!ok) {
        g_strfreev(parts);
        return fail(ctx, "a=%s: expected '<pt> <name>/<rate>[/<channels>]'", name);
    }
    odeon_sdp_media *m = ctx->media;
    odeon_sdp_rtpmap *r = grow(ctx, (void **)&m->rtpmaps, &m->rtpmap_count, sizeof *r, name);
    if (r != NULL) {
        r->pt = pt;
        r->name = g_strdup(parts[0]);
        r->clock_rate = (uint32_t)rate;
        r->channels = (unsigned)channels;
    }
    g_strfreev(parts);
    return r ? 0 : -1;
}

static int attr_fmtp(parse_ctx *ctx, const char *name, const char *value)
{
    const char *params = NULL;
    uint8_t pt = 0;
    if (media_only(ctx, name) < 0)
        return -1;
    if (value == NULL)
        return fail(ctx, "a=%s: missing value", name);
    char *ptstr = split_word(value, &params);
    int rc = parse_pt(ptstr, &pt);
    g_free(ptstr);
    if (rc < 0)
        return fail(ctx, "a=%s: payload type out of range", name);
    odeon_sdp_media *m = ctx->media;
    odeon_sdp_fmtp *f = grow(ctx, (void **)&m->fmtps, &m->fmtp_count, sizeof *f, name);
    if (f == NULL)
        return -1;
    f->pt = pt;
    f->params = g_strdup(params ? params : "");
    return 0;
}

static int attr_rtcp_fb(parse_ctx *ctx, const char *name, const char *value)
{
    const char *rest = NULL, *sub = NULL;
    uint8_t pt = 0;
    if (media_only(ctx, name) < 0)
        return -1;
    if (value == NULL)
        return fail(ctx, "a=%s: missing value", name);
    char *ptstr = split_word(value, &rest);
    bool wildcard = strcmp(ptstr, "*") == 0;
    int rc = wildcard ? 0 : parse_pt(ptstr, &pt);
    g_free(ptstr);
    if (rc < 0)
        return fail(ctx, "a=%s: payload type out of range", name);
    char *type = rest ? split_word(rest, &sub) : NULL;
    if (!is_token(type) || (sub != NULL && !g_ascii_isgraph(sub[0]))) {
        g_free(type);
        return fail(ctx, "a=%s: missing feedback type", name);
    }
    odeon_sdp_media *m = ctx->media;
    odeon_sdp_rtcp_fb *f = grow(ctx, (void **)&m->rtcp_fbs, &m->rtcp_fb_count, sizeof *f, name);
    if (f == NULL) {
        g_free(type);
        return -1;
    }
    f->pt = wildcard ? -1 : pt;
    f->type = type;
    f->subtype = sub ? g_strdup(sub) : NULL;
    return 0;
}

static int attr_ssrc(parse_ctx *ctx, const char *name, const char *value)
{
    const char *rest = NULL;
    uint64_t ssrc = 0;
    if (media_only(ctx, name) < 0)
        return -1;
    if (value == NULL)
        return fail(ctx, "a=%s: missing value", name);
    char *num = split_word(value, &rest);
    bool ok = parse_uint(num, 0, UINT32_MAX, &ssrc);
    g_free(num);
    if (!ok)
        return fail(ctx, "a=%s: ssrc out of range", name);
    if (rest == NULL || rest[0] == ':' || !g_ascii_isgraph(rest[0]))
        return fail(ctx, "a=%s: missing attribute", name);
    odeon_sdp_media *m = ctx->media;
    odeon_sdp_ssrc *s = grow(ctx, (void **)&m->ssrcs, &m->ssrc_count, sizeof *s, name);
    if (s == NULL)
        return -1;
    s->ssrc = (uint32_t)ssrc;
    const char *colon = strchr(rest, ':');
    s->attribute = colon ? g_strndup(rest, (gsize)(colon - rest)) : g_strdup(rest);
    s->value = colon ? g_strdup(colon + 1) : NULL;
    return 0;
}

static int attr_ssrc_group(parse_ctx *ctx, const char *name, const char *value)
{
    if (media_only(ctx, name) < 0)
        return -1;
    gchar **words = value ? g_strsplit(value, " ", ODEON_SDP_MAX_LIST + 2) : NULL;
    guint n = words ? g_strv_length(words) : 0;
    bool ok = n >= 2 && n <= ODEON_SDP_MAX_LIST + 1 && is_token(words[0]);
    uint32_t *ssrcs = g_new0(uint32_t, n ? n : 1);
    for (guint i = 1; ok && i < n; i++) {
        uint64_t v = 0;
        ok = parse_uint(words[i], 0, UINT32_MAX, &v);
        ssrcs[i - 1] = (uint32_t)v;
    }
    odeon_sdp_media *m = ctx->media;
    odeon_sdp_ssrc_group *g = NULL;
    if (ok)
        g = grow(ctx, (void **)&m->ssrc_groups, &m->ssrc_group_count, sizeof *g, name);
    else
        fail(ctx, "a=%s: expected '<semantics> <ssrc>...' (at most %d)", name, ODEON_SDP_MAX_LIST);
    if (g != NULL) {
        g->semantics = g_strdup(words[0]);
        g->ssrcs = ssrcs;
        g->ssrc_count = n - 1;
        ssrcs = NULL;
    }
    g_free(ssrcs);
    g_strfreev(words);
    return g ? 0 : -1;
}

/* rid-syntax (RFC 8851 §10): 1*(ALPHA / DIGIT / "-" / "_"). */
static bool is_rid(const char *s, size_t len)
{
    if (len == 0 || len > 255)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

static int attr_rid(parse_ctx *ctx, const char *name, const char *value)
{
    if (media_only(ctx, name) < 0)
        return -1;
    gchar **w = value ? g_strsplit(value, " ", 3) : NULL;
    guint n = w ? g_strv_length(w) : 0;
    bool ok = n >= 2 && is_rid(w[0], strlen(w[0])) &&
              (strcmp(w[1], "send") == 0 || strcmp(w[1], "recv") == 0) &&
              (n == 2 || g_ascii_isgraph(w[2][0]));
    odeon_sdp_media *m = ctx->media;
    odeon_sdp_rid *r = NULL;
    if (!ok)
        fail(ctx, "a=%s: expected '<id> send|recv [<params>]'", name);
    else
        r = grow(ctx, (void **)&m->rids, &m->rid_count, sizeof *r, name);
    if (r != NULL) {
        r->id = g_strdup(w[0]);
        r->send = strcmp(w[1], "send") == 0;
        r->params = n == 3 ? g_strdup(w[2]) : NULL;
    }
    g_strfreev(w);
    return r ? 0 : -1;
}

static void simulcast_list_clear(odeon_sdp_simulcast_list *l)
{
    for (size_t i = 0; i < l->stream_count; i++) {
        for (size_t j = 0; j < l->streams[i].alt_count; j++)
            g_free(l->streams[i].alts[j].rid);
        g_free(l->streams[i].alts);
    }
    g_free(l->streams);
    memset(l, 0, sizeof *l);
}

/* "a;~b,c" (RFC 8853 §5.1): ';' separates streams, ',' alternatives, '~' marks paused. */
static bool parse_simulcast_list(const char *s, odeon_sdp_simulcast_list *out)
{
    gchar **streams = g_strsplit(s, ";", ODEON_SDP_MAX_LIST + 1);
    guint ns = g_strv_length(streams);
    bool ok = ns >= 1 && ns <= ODEON_SDP_MAX_LIST;
    out->streams = g_new0(odeon_sdp_simulcast_stream, ns ? ns : 1);
    for (guint i = 0; ok && i < ns; i++) {
        gchar **alts = g_strsplit(streams[i], ",", ODEON_SDP_MAX_LIST + 1);
        guint na = g_strv_length(alts);
        ok = na >= 1 && na <= ODEON_SDP_MAX_LIST;
        odeon_sdp_simulcast_stream *st = &out->streams[out->stream_count++];
        st->alts = g_new0(odeon_sdp_simulcast_alt, na ? na : 1);
        for (guint j = 0; ok && j < na; j++) {
            const char *rid = alts[j];
            bool paused = rid[0] == '~';
            rid += paused;
            ok = is_rid(rid, strlen(rid));
            if (ok) {
                st->alts[j].rid = g_strdup(rid);
                st->alts[j].paused = paused;
                st->alt_count++;
            }
        }
        g_strfreev(alts);
    }
    g_strfreev(streams);
    return ok;
}

static int attr_simulcast(parse_ctx *ctx, const char *name, const char *value)
{
    if (media_only(ctx, name) < 0)
        return -1;
    odeon_sdp_simulcast *sc = &ctx->media->simulcast;
    if (sc->present)
        return fail(ctx, "a=%s: repeated", name);
    gchar **w = value ? g_strsplit(value, " ", 5) : NULL;
    guint n = w ? g_strv_length(w) : 0;
    bool ok = n == 2 || n == 4;
    bool seen_send = false, seen_recv = false;
    for (guint i = 0; ok && i + 1 < n; i += 2) {
        bool send = strcmp(w[i], "send") == 0;
        bool recv = strcmp(w[i], "recv") == 0;
        ok = (send && !seen_send) || (recv && !seen_recv);
        if (ok) {
            seen_send |= send;
            seen_recv |= recv;
            ok = parse_simulcast_list(w[i + 1], send ? &sc->send : &sc->recv);
        }
    }
    g_strfreev(w);
    if (!ok) {
        simulcast_list_clear(&sc->send);
        simulcast_list_clear(&sc->recv);
        return fail(ctx, "a=%s: expected 'send <list> [recv <list>]'", name);
    }
    sc->present = true;
    return 0;
}

static int attr_sctp_port(parse_ctx *ctx, const char *name, const char *value)
{
    uint64_t v = 0;
    if (media_only(ctx, name) < 0)
        return -1;
    if (ctx->media->sctp_port >= 0 || !parse_uint(value, 0, 65535, &v))
        return fail(ctx, "a=%s: port out of range or repeated", name);
    ctx->media->sctp_port = (int)v;
    return 0;
}

static int attr_max_message_size(parse_ctx *ctx, const char *name, const char *value)
{
    uint64_t v = 0;
    if (media_only(ctx, name) < 0)
        return -1;
    /* 0 means "no limit" on the wire (RFC 8841 §6); we keep 0 as "absent", so refuse it. */
    if (ctx->media->max_message_size != 0 || !parse_uint(value, 1, UINT64_MAX, &v))
        return fail(ctx, "a=%s: size out of range or repeated", name);
    ctx->media->max_message_size = v;
    return 0;
}

static int attr_group(parse_ctx *ctx, const char *name, const char *value)
{
    if (session_only(ctx, name) < 0)
        return -1;
    gchar **w = value ? g_strsplit(value, " ", ODEON_SDP_MAX_LIST + 2) : NULL;
    guint n = w ? g_strv_length(w) : 0;
    bool ok = n >= 1 && n <= ODEON_SDP_MAX_LIST + 1;
    for (guint i = 0; ok && i < n; i++)
        ok = is_token(w[i]);
    odeon_sdp *sdp = ctx->sdp;
    odeon_sdp_group *g = NULL;
    if (!ok)
        fail(ctx, "a=%s: expected '<semantics> <mid>...' (at most %d)", name, ODEON_SDP_MAX_LIST);
    else
        g = grow(ctx, (void **)&sdp->groups, &sdp->group_count, sizeof *g, name);
    if (g != NULL) {
        g->semantics = g_strdup(w[0]);
        g->mid_count = n - 1;
        g->mids = g_new0(char *, n);
        for (guint i = 1; i < n; i++)
            g->mids[i - 1] = g_strdup(w[i]);
    }
    g_strfreev(w);
    return g ? 0 : -1;
}

static int attr_msid_semantic(parse_ctx *ctx, const char *name, const char *value)
{
    if (session_only(ctx, name) < 0)
        return -1;
    while (value != NULL && *value == ' ')
        value++; /* Chrome writes "a=msid-semantic: WMS" */
    if (value == NULL || !g_ascii_isgraph(*value) || ctx->sdp->msid_semantic != NULL)
        return fail(ctx, "a=%s: missing value or repeated", name);
    ctx->sdp->msid_semantic = g_strdup(value);
    return 0;
}

static int attr_ice_lite(parse_ctx *ctx, const char *name, const char *value)
{
    return session_only(ctx, name) < 0 ? -1 : set_flag(ctx, &ctx->sdp->ice_lite, name, value);
}

static const struct {
    const char *name;
    attr_fn fn;
} attr_table[] = {
    {"ice-ufrag", attr_ufrag},
    {"ice-pwd", attr_pwd},
    {"ice-options", attr_ice_options},
    {"setup", attr_setup},
    {"fingerprint", attr_fingerprint},
    {"sendrecv", attr_direction},
    {"sendonly", attr_direction},
    {"recvonly", attr_direction},
    {"inactive", attr_direction},
    {"extmap-allow-mixed", attr_allow_mixed},
    {"extmap", attr_extmap},
    {"mid", attr_mid},
    {"msid", attr_msid},
    {"rtcp-mux", attr_rtcp_mux},
    {"rtcp-mux-only", attr_rtcp_mux_only},
    {"rtcp-rsize", attr_rtcp_rsize},
    {"candidate", attr_candidate},
    {"end-of-candidates", attr_eoc},
    {"rtpmap", attr_rtpmap},
    {"fmtp", attr_fmtp},
    {"rtcp-fb", attr_rtcp_fb},
    {"ssrc", attr_ssrc},
    {"ssrc-group", attr_ssrc_group},
    {"rid", attr_rid},
    {"simulcast", attr_simulcast},
    {"sctp-port", attr_sctp_port},
    {"max-message-size", attr_max_message_size},
    {"group", attr_group},
    {"msid-semantic", attr_msid_semantic},
    {"ice-lite", attr_ice_lite},
};

static int parse_attribute(parse_ctx *ctx, const char *text)
{
    const char *colon = strchr(text, ':');
    char *name = colon ? g_strndup(text, (gsize)(colon - text)) : g_strdup(text);
    const char *value = colon ? colon + 1 : NULL;
    int rc = 0;
    if (!is_token(name)) {
        rc = fail(ctx, "a=: invalid attribute name");
        goto out;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(attr_table); i++) {
        if (strcmp(attr_table[i].name, name) == 0) {
            rc = attr_table[i].fn(ctx, name, value);
            goto out;
        }
    }
    odeon_sdp_common *c = common_of(ctx);
    odeon_sdp_attr *a = grow(ctx, (void **)&c->attrs, &c->attr_count, sizeof *a, "unknown a=");
    if (a == NULL) {
        rc = -1;
        goto out;
    }
    a->name = name;
    a->value = value ? g_strdup(value) : NULL;
    name = NULL;
out:
    g_free(name);
    return rc;
}

/* ---- v= o= s= t= c= b= m= ---------------------------------------------------------------- */

static int parse_origin(parse_ctx *ctx, const char *value)
{
    odeon_sdp *sdp = ctx->sdp;
    gchar **w = g_strsplit(value, " ", 7);
    uint64_t ver = 0;
    bool ok = g_strv_length(w) == 6 && !sdp->origin_username;
    for (int i = 0; ok && i < 6; i++)
        ok = is_token(w[i]);
    ok = ok && parse_uint(w[1], 0, UINT64_MAX, &ver) && parse_uint(w[2], 0, UINT64_MAX, &ver);
    if (ok) {
        sdp->origin_username = g_strdup(w[0]);
        sdp->origin_sess_id = g_strdup(w[1]);
        sdp->origin_sess_version = ver;
        sdp->origin_nettype = g_strdup(w[3]);
        sdp->origin_addrtype = g_strdup(w[4]);
        sdp->origin_address = g_strdup(w[5]);
    }
    g_strfreev(w);
    return ok ? 0 : fail(ctx, "o=: expected '<user> <id> <version> <net> <addrtype> <addr>'");
}

static int parse_timing(parse_ctx *ctx, const char *value, bool *seen)
{
    gchar **w = g_strsplit(value, " ", 3);
    bool ok = !*seen && g_strv_length(w) == 2 &&
              parse_uint(w[0], 0, UINT64_MAX, &ctx->sdp->time_start) &&
              parse_uint(w[1], 0, UINT64_MAX, &ctx->sdp->time_stop);
    g_strfreev(w);
    *seen = true;
    return ok ? 0 : fail(ctx, "t=: expected '<start> <stop>' once");
}

static bool parse_formats(odeon_sdp_media *m, gchar **fmts, guint n)
{
    if (!m->is_rtp) {
        for (guint i = 0; i < n; i++)
            if (!is_token(fmts[i]))
                return false;
        m->formats = g_strjoinv(" ", fmts);
        return true;
    }
    if (n > ODEON_SDP_MAX_PTS)
        return false;
    m->pts = g_new0(uint8_t, n);
    for (guint i = 0; i < n; i++) {
        if (parse_pt(fmts[i], &m->pts[i]) < 0)
            return false;
        m->pt_count++;
    }
    return true;
}

static int parse_media_line(parse_ctx *ctx, const char *value)
{
    odeon_sdp *sdp = ctx->sdp;
    odeon_sdp_media *m = odeon_sdp_add_media(sdp);
    if (m == NULL)
        return fail(ctx, "m=: more than %d media sections", ODEON_SDP_MAX_MEDIA);
    ctx->media = m;

    gchar **w = g_strsplit(value, " ", ODEON_SDP_MAX_PTS + 4);
    guint n = g_strv_length(w);
    bool ok = n >= 4 && is_token(w[0]) && is_token(w[2]);
    uint64_t port = 0, count = 0;
    char *slash = ok ? strchr(w[1], '/') : NULL;
    if (slash != NULL) {
        *slash = '\0';
        ok = parse_uint(slash + 1, 1, 65535, &count);
    }
    ok = ok && parse_uint(w[1], 0, 65535, &port);
    if (ok) {
        m->media = g_strdup(w[0]);
        m->kind = strcmp(w[0], "audio") == 0         ? ODEON_SDP_MEDIA_AUDIO
                  : strcmp(w[0], "video") == 0       ? ODEON_SDP_MEDIA_VIDEO
                  : strcmp(w[0], "application") == 0 ? ODEON_SDP_MEDIA_APPLICATION
                                                     : ODEON_SDP_MEDIA_OTHER;
        m->port = (uint16_t)port;
        m->port_count = (unsigned)count;
        m->proto = g_strdup(w[2]);
        m->is_rtp = strstr(w[2], "RTP/") != NULL;
        ok = parse_formats(m, w + 3, n - 3);
    }
    g_strfreev(w);
    return ok ? 0
              : fail(ctx,
                     "m=: expected '<media> <port> <proto> <fmt>...' (payload types 0..127, at "
                     "most %d)",
                     ODEON_SDP_MAX_PTS);
}

static int parse_connection(parse_ctx *ctx, const char *value)
{
    odeon_sdp_common *c = common_of(ctx);
    gchar **w = g_strsplit(value, " ", 4);
    bool ok = c->connection == NULL && g_strv_length(w) == 3 && is_token(w[0]) && is_token(w[1]) &&
              is_token(w[2]);
    g_strfreev(w);
    if (!ok)
        return fail(ctx, "c=: expected '<net> <addrtype> <address>' once");
    c->connection = g_strdup(value);
    return 0;
}

static int parse_bandwidth(parse_ctx *ctx, const char *value)
{
    odeon_sdp_common *c = common_of(ctx);
    const char *colon = strchr(value, ':');
    uint64_t bw = 0;
    if (colon == NULL || colon == value || !parse_uint(colon + 1, 0, UINT64_MAX, &bw) ||
        !is_token(value))
        return fail(ctx, "b=: expected '<type>:<bandwidth>'");
    char **slot = grow(ctx, (void **)&c->bandwidths, &c->bandwidth_count, sizeof *slot, "b=");
    if (slot == NULL)
        return -1;
    *slot = g_strdup(value);
    return 0;
}

typedef struct {
    bool v, o, s, t;
} seen_lines;

static int parse_line(parse_ctx *ctx, const char *line, seen_lines *seen)
{
    if (line[0] == '\0' || line[1] != '=')
        return fail(ctx, "expected '<type>=<value>'");
    char type = line[0];
    const char *value = line + 2;
    if (!seen->v && type != 'v')
        return fail(ctx, "the first line must be v=");
    if (ctx->media == NULL && type != 'v' && type != 'o' && !seen->o)
        return fail(ctx, "o= must follow v=");
    switch (type) {
    case 'v':
        if (seen->v || strcmp(value, "0") != 0)
            return fail(ctx, "v=: only version 0, once");
        seen->v = true;
        return 0;
    case 'o':
        seen->o = true;
        return ctx->media ? fail(ctx, "o= inside a media section") : parse_origin(ctx, value);
    case 's':
        if (ctx->media || seen->s)
            return fail(ctx, "s=: once, at session level");
        seen->s = true;
        ctx->sdp->session_name = g_strdup(value);
        return 0;
    case 't':
        return ctx->media ? fail(ctx, "t= inside a media section")
                          : parse_timing(ctx, value, &seen->t);
    case 'c':
        return parse_connection(ctx, value);
    case 'b':
        return parse_bandwidth(ctx, value);
    case 'a':
        return parse_attribute(ctx, value);
    case 'm':
        if (!seen->s || !seen->t)
            return fail(ctx, "m= before s= and t=");
        return parse_media_line(ctx, value);
    case 'i':
    case 'u':
    case 'e':
    case 'p':
    case 'z':
    case 'k':
    case 'r':
        return 0; /* informational or obsolete: accepted, not kept (see sdp.h) */
    default:
        return fail(ctx, "unknown line type '%c'", g_ascii_isprint(type) ? type : '?');
    }
}

/* Checks one raw line (without its end) and returns a NUL-terminated copy, or NULL. */
static char *take_line(parse_ctx *ctx, const char *p, size_t len)
{
    if (len > 0 && p[len - 1] == '\r')
        len--;
    if (len > ODEON_SDP_MAX_LINE) {
        fail(ctx, "line longer than %d bytes", ODEON_SDP_MAX_LINE);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            fail(ctx, "control character 0x%02x", ch);
            return NULL;
        }
    }
    return g_strndup(p, len);
}

odeon_sdp *odeon_sdp_parse(const char *text, size_t len, char **error)
{
    parse_ctx ctx = {.sdp = g_new0(odeon_sdp, 1)};
    seen_lines seen = {0};
    size_t pos = 0;
    if (text == NULL || len == 0)
        fail(&ctx, "empty SDP");
    else if (len > ODEON_SDP_MAX_INPUT)
        fail(&ctx, "SDP larger than %d bytes", ODEON_SDP_MAX_INPUT);
    while (ctx.error == NULL && pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - (text + pos)) : len - pos;
        ctx.line_no++;
        char *line = take_line(&ctx, text + pos, line_len);
        pos += line_len + (nl ? 1 : 0);
        /* Blank lines (a trailing one is common) carry nothing. */
        if (line != NULL && line[0] != '\0')
            parse_line(&ctx, line, &seen);
        g_free(line);
    }
    if (ctx.error == NULL && !(seen.v && seen.o && seen.s && seen.t)) {
        ctx.line_no++;
        fail(&ctx, "missing one of v=, o=, s=, t=");
    }
    if (ctx.error != NULL) {
        odeon_sdp_free(ctx.sdp);
        if (error != NULL)
            *error = ctx.error;
        else
            g_free(ctx.error);
        return NULL;
    }
    return ctx.sdp;
}

/* ---- freeing ------------------------------------------------------------------------------ */

static void strv_free_n(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g_free(v[i]);
    g_free(v);
}

static void common_clear(odeon_sdp_common *c)
{
    g_free(c->connection);
    strv_free_n(c->bandwidths, c->bandwidth_count);
    g_free(c->ice_ufrag);
    g_free(c->ice_pwd);
    g_free(c->ice_options);
    for (size_t i = 0; i < c->fingerprint_count; i++) {
        g_free(c->fingerprints[i].hash);
        g_free(c->fingerprints[i].value);
    }
    g_free(c->fingerprints);
    g_free(c->setup);
    for (size_t i = 0; i < c->extmap_count; i++) {
        g_free(c->extmaps[i].uri);
        g_free(c->extmaps[i].attributes);
    }
    g_free(c->extmaps);
    for (size_t i = 0; i < c->attr_count; i++) {
        g_free(c->attrs[i].name);
        g_free(c->attrs[i].value);
    }
    g_free(c->attrs);
}

static void media_clear_rtp(odeon_sdp_media *m)
{
    for (size_t i = 0; i < m->rtpmap_count; i++)
        g_free(m->rtpmaps[i].name);
    g_free(m->rtpmaps);
    for (size_t i = 0; i < m->fmtp_count; i++)
        g_free(m->fmtps[i].params);
    g_free(m->fmtps);
    for (size_t i = 0; i < m->rtcp_fb_count; i++) {
        g_free(m->rtcp_fbs[i].type);
        g_free(m->rtcp_fbs[i].subtype);
    }
    g_free(m->rtcp_fbs);
    for (size_t i = 0; i < m->ssrc_count; i++) {
        g_free(m->ssrcs[i].attribute);
        g_free(m->ssrcs[i].value);
    }
    g_free(m->ssrcs);
    for (size_t i = 0; i < m->ssrc_group_count; i++) {
        g_free(m->ssrc_groups[i].semantics);
        g_free(m->ssrc_groups[i].ssrcs);
    }
    g_free(m->ssrc_groups);
    for (size_t i = 0; i < m->rid_count; i++) {
        g_free(m->rids[i].id);
        g_free(m->rids[i].params);
    }
    g_free(m->rids);
    simulcast_list_clear(&m->simulcast.send);
    simulcast_list_clear(&m->simulcast.recv);
}

static void media_clear(odeon_sdp_media *m)
{
    g_free(m->media);
    g_free(m->proto);
    g_free(m->pts);
    g_free(m->formats);
    common_clear(&m->common);
    g_free(m->mid);
    strv_free_n(m->msids, m->msid_count);
    media_clear_rtp(m);
    strv_free_n(m->candidates, m->candidate_count);
}

void odeon_sdp_free(odeon_sdp *sdp)
{
    if (sdp == NULL)
        return;
    g_free(sdp->origin_username);
    g_free(sdp->origin_sess_id);
    g_free(sdp->origin_nettype);
    g_free(sdp->origin_addrtype);
    g_free(sdp->origin_address);
    g_free(sdp->session_name);
    common_clear(&sdp->common);
    for (size_t i = 0; i < sdp->group_count; i++) {
        g_free(sdp->groups[i].semantics);
        strv_free_n(sdp->groups[i].mids, sdp->groups[i].mid_count);
    }
    g_free(sdp->groups);
    g_free(sdp->msid_semantic);
    for (size_t i = 0; i < sdp->media_count; i++)
        media_clear(&sdp->media[i]);
    g_free(sdp->media);
    g_free(sdp);
}

odeon_sdp_media *odeon_sdp_add_media(odeon_sdp *sdp)
{
    if (sdp == NULL || sdp->media_count >= ODEON_SDP_MAX_MEDIA)
        return NULL;
    sdp->media = g_renew(odeon_sdp_media, sdp->media, sdp->media_count + 1);
    odeon_sdp_media *m = &sdp->media[sdp->media_count++];
    memset(m, 0, sizeof *m);
    m->sctp_port = -1; /* 0 is a real port, so "absent" needs its own value */
    return m;
}

/* ---- lookups ------------------------------------------------------------------------------ */

const odeon_sdp_media *odeon_sdp_find_media_by_mid(const odeon_sdp *sdp, const char *mid)
{
    for (size_t i = 0; sdp && mid && i < sdp->media_count; i++)
        if (sdp->media[i].mid && strcmp(sdp->media[i].mid, mid) == 0)
            return &sdp->media[i];
    return NULL;
}

const odeon_sdp_group *odeon_sdp_find_group(const odeon_sdp *sdp, const char *semantics)
{
    for (size_t i = 0; sdp && semantics && i < sdp->group_count; i++)
        if (strcmp(sdp->groups[i].semantics, semantics) == 0)
            return &sdp->groups[i];
    return NULL;
}

const odeon_sdp_rtpmap *odeon_sdp_media_find_rtpmap(const odeon_sdp_media *m, int pt)
{
    for (size_t i = 0; m && i < m->rtpmap_count; i++)
        if (m->rtpmaps[i].pt == pt)
            return &m->rtpmaps[i];
    return NULL;
}

const char *odeon_sdp_media_find_fmtp(const odeon_sdp_media *m, int pt)
{
    for (size_t i = 0; m && i < m->fmtp_count; i++)
        if (m->fmtps[i].pt == pt)
            return m->fmtps[i].params;
    return NULL;
}

int odeon_sdp_media_find_codec(const odeon_sdp_media *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->pt_count; i++) {
        const odeon_sdp_rtpmap *r = odeon_sdp_media_find_rtpmap(m, m->pts[i]);
        if (r != NULL && g_ascii_strcasecmp(r->name, name) == 0)
            return m->pts[i];
    }
    return ODEON_ENOENT;
}

int odeon_sdp_media_find_rtx(const odeon_sdp_media *m, int pt)
{
    for (size_t i = 0; m && i < m->rtpmap_count; i++) {
        const odeon_sdp_rtpmap *r = &m->rtpmaps[i];
        if (g_ascii_strcasecmp(r->name, "rtx") != 0)
            continue;
        char *apt = odeon_sdp_fmtp_get(odeon_sdp_media_find_fmtp(m, r->pt), "apt");
        uint64_t v = 0;
        bool match = apt && parse_uint(apt, 0, 127, &v) && (int)v == pt;
        g_free(apt);
        if (match)
            return r->pt;
    }
    return ODEON_ENOENT;
}

char *odeon_sdp_fmtp_get(const char *params, const char *name)
{
    if (params == NULL || name == NULL)
        return NULL;
    size_t name_len = strlen(name);
    gchar **items = g_strsplit(params, ";", -1);
    char *found = NULL;
    for (gchar **it = items; found == NULL && *it; it++) {
        const char *item = *it;
        while (*item == ' ')
            item++; /* "a=1; b=2" is common in hand-written SDP */
        if (g_ascii_strncasecmp(item, name, name_len) != 0)
            continue;
        if (item[name_len] == '=')
            found = g_strdup(item + name_len + 1);
        else if (item[name_len] == '\0')
            found = g_strdup("");
    }
    g_strfreev(items);
    return found;
}
