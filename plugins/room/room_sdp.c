/*
 * room_sdp.c - reads the parts of a session description the room needs (room_sdp.h). Line by
 * line, attributes apply to the m-line above them; values are copied with bounds, anything
 * malformed is skipped rather than trusted.
 */
#include "room_sdp.h"

#include <stdlib.h>
#include <string.h>

#define AUDIO_LEVEL_URI "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

/* One line of the description: start and length without the line ending. */
typedef struct {
    const char *s;
    size_t len;
} line_view;

static bool line_next(const char **cursor, line_view *out)
{
    const char *p = *cursor;
    if (*p == '\0')
        return false;
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    *cursor = end ? end + 1 : p + len;
    if (len > 0 && p[len - 1] == '\r')
        len--;
    *out = (line_view){p, len};
    return true;
}

static bool starts(const line_view *l, const char *prefix)
{
    size_t n = strlen(prefix);
    return l->len >= n && memcmp(l->s, prefix, n) == 0;
}

/* Copies at most cap-1 bytes of [s, s+len) into out, NUL-terminated. */
static void copy_cut(char *out, size_t cap, const char *s, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* A non-negative decimal at *p (advanced past it), or -1. */
static long read_number(const char **p, const char *end)
{
    long v = 0;
    const char *q = *p;
    if (q >= end || *q < '0' || *q > '9')
        return -1;
    while (q < end && *q >= '0' && *q <= '9' && v < 100000000)
        v = v * 10 + (*q++ - '0');
    *p = q;
    return v;
}

static void media_start(room_sdp_media *m, const line_view *l, int index)
{
    memset(m, 0, sizeof *m);
    m->video = starts(l, "m=video ");
    m->pt = -1;
    m->rtx_pt = -1;
    m->index = index;
    m->sends = m->receives = true;
    const char *p = l->s + 8, *end = l->s + l->len; /* after "m=audio " or "m=video " */
    long port = read_number(&p, end);
    m->rejected = port == 0;
    /* The proto, then the first format: the answerer's chosen codec comes first. */
    for (int field = 0; field < 2 && p < end; field++) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        if (sp == NULL)
            return;
        p = sp + 1;
    }
    m->pt = (int)read_number(&p, end);
    if (m->pt > 127)
        m->pt = -1;
}

static void read_rtpmap(room_sdp_media *m, const char *p, const char *end)
{
    long pt = read_number(&p, end);
    if (pt < 0 || pt != m->pt || p >= end || *p != ' ')
        return;
    p++;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (slash == NULL)
        return;
    copy_cut(m->codec, sizeof m->codec, p, (size_t)(slash - p));
    const char *q = slash + 1;
    long clock = read_number(&q, end);
    m->clock_rate = clock > 0 ? (uint32_t)clock : 0;
}

static void read_fmtp(room_sdp_media *m, const char *p, const char *end)
{
    long pt = read_number(&p, end);
    if (pt < 0 || p >= end || *p != ' ')
        return;
    p++;
    if (pt == m->pt) {
        copy_cut(m->fmtp, sizeof m->fmtp, p, (size_t)(end - p));
        return;
    }
    /* "apt=<pt>": an RTX payload type; the first one repairing the chosen codec is ours. */
    if ((size_t)(end - p) > 4 && memcmp(p, "apt=", 4) == 0) {
        const char *q = p + 4;
        if (read_number(&q, end) == m->pt && m->rtx_pt < 0 && pt <= 127)
            m->rtx_pt = (int)pt;
    }
}

static void read_extmap(room_sdp_media *m, const char *p, const char *end)
{
    long id = read_number(&p, end);
    if (id <= 0 || id > 255)
        return;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL)
        return;
    sp++;
    size_t n = strlen(AUDIO_LEVEL_URI);
    if ((size_t)(end - sp) >= n && memcmp(sp, AUDIO_LEVEL_URI, n) == 0 &&
        (sp + n == end || sp[n] == ' '))
        m->audio_level_ext = (int)id;
}

static void read_attribute(room_sdp_media *m, const line_view *l)
{
    const char *end = l->s + l->len;
    if (starts(l, "a=mid:"))
        copy_cut(m->mid, sizeof m->mid, l->s + 6, l->len - 6);
    else if (starts(l, "a=rtpmap:"))
        read_rtpmap(m, l->s + 9, end);
    else if (starts(l, "a=fmtp:"))
        read_fmtp(m, l->s + 7, end);
    else if (starts(l, "a=extmap:"))
        read_extmap(m, l->s + 9, end);
    else if (starts(l, "a=ssrc:") && m->ssrc == 0) {
        const char *p = l->s + 7;
        unsigned long long v = 0;
        while (p < end && *p >= '0' && *p <= '9' && v <= 0xFFFFFFFFull)
            v = v * 10 + (unsigned long long)(*p++ - '0');
        m->ssrc = v <= 0xFFFFFFFFull ? (uint32_t)v : 0;
    } else if (starts(l, "a=simulcast:") || starts(l, "a=ssrc-group:SIM "))
        m->simulcast = true;
    else if (starts(l, "a=sendonly"))
        m->receives = false;
    else if (starts(l, "a=recvonly"))
        m->sends = false;
    else if (starts(l, "a=inactive"))
        m->sends = m->receives = false;
}

size_t room_sdp_read(const char *sdp, room_sdp_media *out, size_t cap)
{
    if (sdp == NULL || out == NULL)
        return 0;
    const char *cursor = sdp;
    line_view l;
    size_t n = 0;
    int index = -1;
    room_sdp_media *m = NULL;
    while (line_next(&cursor, &l)) {
        if (starts(&l, "m=")) {
            index++;
            m = NULL;
            if ((starts(&l, "m=audio ") || starts(&l, "m=video ")) && n < cap) {
                m = &out[n++];
                media_start(m, &l, index);
            }
            continue;
        }
        if (m == NULL)
            continue;
        read_attribute(m, &l);
    }
    return n;
}
