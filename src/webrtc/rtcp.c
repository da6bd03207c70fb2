/*
 * rtcp.c - RTCP compound iteration, per-type parsers and builders (see rtcp.h for coverage).
 *
 * The iterator is the single place where packet framing is trusted: it checks version, type
 * range, the length field against the buffer and the padding, so the per-type parsers only
 * have to check their own body against body_len. Counts in the header (RC, SC) are checked
 * against the body: a header that claims more than it carries is malformed, not truncated
 * data to read past. Builders check the caller's capacity before writing anything.
 */
#include "webrtc/rtcp.h"

#include <string.h>

#include "webrtc/bytes.h"

#define FB_HEADER_LEN 12 /* common header + sender SSRC + media SSRC */
#define REPORT_BLOCK_LEN 24
#define SENDER_INFO_LEN 20

/* 24-bit two's complement to int32 without relying on implementation-defined shifts. */
static int32_t sign24(uint32_t v)
{
    return (v & 0x800000) ? (int32_t)v - 0x1000000 : (int32_t)v;
}

/* ---- iteration ------------------------------------------------------------------------- */

void odeon_rtcp_iter_init(odeon_rtcp_iter *it, const uint8_t *buf, size_t len)
{
    it->buf = buf;
    it->len = buf ? len : 0;
    it->pos = 0;
}

static int iter_fail(odeon_rtcp_iter *it)
{
    it->pos = it->len + 1; /* sticky: pos beyond len marks a failed walk */
    return ODEON_EINVAL;
}

int odeon_rtcp_iter_next(odeon_rtcp_iter *it, odeon_rtcp_header *out)
{
    if (!it || !out)
        return ODEON_EINVAL;
    if (it->pos > it->len)
        return ODEON_EINVAL;
    size_t rest = it->len - it->pos;
    if (rest == 0)
        return 0;
    if (rest < 4)
        return iter_fail(it);
    const uint8_t *p = it->buf + it->pos;
    if ((p[0] >> 6) != 2 || p[1] < 192 || p[1] > 223)
        return iter_fail(it);
    size_t plen = ((size_t)odeon_be16(p + 2) + 1) * 4;
    if (plen > rest)
        return iter_fail(it);
    out->count = p[0] & 0x1f;
    out->pt = p[1];
    out->padding = (p[0] & 0x20) != 0;
    out->data = p;
    out->len = plen;
    out->body = p + 4;
    out->body_len = plen - 4;
    if (out->padding) {
        /* Only the last packet of a compound may be padded (RFC 3550 §6.4.1); the count
         * includes itself and may not reach into the header. */
        uint8_t pad = p[plen - 1];
        if (plen != rest || pad == 0 || pad > plen - 4)
            return iter_fail(it);
        out->body_len -= pad;
    }
    it->pos += plen;
    return 1;
}

int odeon_rtcp_count(const uint8_t *buf, size_t len)
{
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    int n = 0, r;
    odeon_rtcp_iter_init(&it, buf, len);
    while ((r = odeon_rtcp_iter_next(&it, &h)) == 1)
        n++;
    return r < 0 ? r : n;
}

/* ---- SR / RR ---------------------------------------------------------------------------- */

int odeon_rtcp_parse_report(const odeon_rtcp_header *h, odeon_rtcp_report *out)
{
    if (!h || !out || (h->pt != ODEON_RTCP_SR && h->pt != ODEON_RTCP_RR))
        return ODEON_EINVAL;
    memset(out, 0, sizeof(*out));
    out->is_sr = h->pt == ODEON_RTCP_SR;
    size_t fixed = 4 + (out->is_sr ? SENDER_INFO_LEN : 0);
    size_t need = fixed + (size_t)h->count * REPORT_BLOCK_LEN;
    /* Profile-specific extensions may follow the blocks, so the body may be longer. */
    if (h->body_len < need)
        return ODEON_EINVAL;
    const uint8_t *b = h->body;
    out->ssrc = odeon_be32(b);
    if (out->is_sr) {
        out->sender.ntp = ((uint64_t)odeon_be32(b + 4) << 32) | odeon_be32(b + 8);
        out->sender.rtp_ts = odeon_be32(b + 12);
        out->sender.packet_count = odeon_be32(b + 16);
        out->sender.octet_count = odeon_be32(b + 20);
    }
    out->block_count = h->count;
    out->blocks = b + fixed;
    return 0;
}

int odeon_rtcp_report_block_at(const odeon_rtcp_report *r, unsigned i,
                               odeon_rtcp_report_block *out)
{
    if (!r || !out || i >= r->block_count)
        return ODEON_EINVAL;
    const uint8_t *b = r->blocks + (size_t)i * REPORT_BLOCK_LEN;
    out->ssrc = odeon_be32(b);
    out->fraction_lost = b[4];
    out->cumulative_lost = sign24(odeon_be24(b + 5));
    out->highest_seq = odeon_be32(b + 8);
    out->jitter = odeon_be32(b + 12);
    out->lsr = odeon_be32(b + 16);
    out->dlsr = odeon_be32(b + 20);
    return 0;
}

/* ---- SDES ------------------------------------------------------------------------------- */

/* Parses the chunk at *pos (a multiple of 4 within the body) and advances past it. */
static int sdes_chunk(const odeon_rtcp_header *h, size_t *pos, odeon_rtcp_sdes_chunk *out)
{
    const uint8_t *b = h->body;
    size_t n = h->body_len, p = *pos;
    if (n - p < 4)
        return ODEON_EINVAL;
    out->ssrc = odeon_be32(b + p);
    out->cname = NULL;
    out->cname_len = 0;
    p += 4;
    for (;;) {
        if (p >= n)
            return ODEON_EINVAL; /* no terminating null item */
        uint8_t type = b[p];
        if (type == 0)
            break;
        if (n - p < 2 || n - p - 2 < b[p + 1])
            return ODEON_EINVAL;
        if (type == 1 && !out->cname) {
            out->cname = b + p + 2;
            out->cname_len = b[p + 1];
        }
        p += 2 + (size_t)b[p + 1];
    }
    /* The null item, then nulls up to the next 32-bit boundary. */
    p = (p + 4) & ~(size_t)3;
    if (p > n)
        return ODEON_EINVAL;
    *pos = p;
    return 1;
}

int odeon_rtcp_sdes_next(const odeon_rtcp_header *h, size_t *pos, odeon_rtcp_sdes_chunk *out)
{
    if (!h || !pos || !out || h->pt != ODEON_RTCP_SDES || *pos > h->body_len)
        return ODEON_EINVAL;
    if (*pos == 0) {
        /* Check the whole packet once, so SC and the chunks agree before any is returned. */
        size_t p = 0;
        unsigned chunks = 0;
        odeon_rtcp_sdes_chunk c;
        while (p < h->body_len) {
            if (sdes_chunk(h, &p, &c) < 0)
                return ODEON_EINVAL;
            chunks++;
        }
        if (chunks != h->count)
            return ODEON_EINVAL;
    }
    if (*pos == h->body_len)
        return 0;
    return sdes_chunk(h, pos, out);
}

/* ---- BYE -------------------------------------------------------------------------------- */

int odeon_rtcp_parse_bye(const odeon_rtcp_header *h, odeon_rtcp_bye *out)
{
    if (!h || !out || h->pt != ODEON_RTCP_BYE)
        return ODEON_EINVAL;
    size_t need = (size_t)h->count * 4;
    if (h->body_len < need)
        return ODEON_EINVAL;
    memset(out, 0, sizeof(*out));
    out->ssrc_count = h->count;
    out->ssrcs = h->body;
    size_t rest = h->body_len - need;
    if (rest > 0) {
        const uint8_t *r = h->body + need;
        if (rest - 1 < r[0])
            return ODEON_EINVAL;
        out->reason = r + 1;
        out->reason_len = r[0];
    }
    return 0;
}

uint32_t odeon_rtcp_bye_ssrc(const odeon_rtcp_bye *b, unsigned i)
{
    return (b && i < b->ssrc_count) ? odeon_be32(b->ssrcs + (size_t)i * 4) : 0;
}

/* ---- feedback --------------------------------------------------------------------------- */

int odeon_rtcp_parse_fb(const odeon_rtcp_header *h, odeon_rtcp_fb *out)
{
    if (!h || !out || (h->pt != ODEON_RTCP_RTPFB && h->pt != ODEON_RTCP_PSFB))
        return ODEON_EINVAL;
    if (h->body_len < 8)
        return ODEON_EINVAL;
    out->pt = h->pt;
    out->fmt = h->count;
    out->sender_ssrc = odeon_be32(h->body);
    out->media_ssrc = odeon_be32(h->body + 4);
    out->fci = h->body + 8;
    out->fci_len = h->body_len - 8;
    return 0;
}

/* Parses the feedback header and checks type and format. */
static int fb_of(const odeon_rtcp_header *h, uint8_t pt, uint8_t fmt, odeon_rtcp_fb *fb)
{
    if (!h || h->pt != pt || h->count != fmt)
        return ODEON_EINVAL;
    return odeon_rtcp_parse_fb(h, fb);
}

int odeon_rtcp_parse_nack(const odeon_rtcp_header *h, odeon_rtcp_nack *out)
{
    odeon_rtcp_fb fb;
    if (!out || fb_of(h, ODEON_RTCP_RTPFB, ODEON_RTCP_FMT_NACK, &fb) != 0)
        return ODEON_EINVAL;
    if (fb.fci_len == 0 || fb.fci_len % 4 != 0)
        return ODEON_EINVAL;
    out->sender_ssrc = fb.sender_ssrc;
    out->media_ssrc = fb.media_ssrc;
    out->pair_count = fb.fci_len / 4;
    out->pairs = fb.fci;
    return 0;
}

int odeon_rtcp_nack_pair(const odeon_rtcp_nack *n, size_t i, uint16_t *pid, uint16_t *blp)
{
    if (!n || !pid || !blp || i >= n->pair_count)
        return ODEON_EINVAL;
    *pid = odeon_be16(n->pairs + i * 4);
    *blp = odeon_be16(n->pairs + i * 4 + 2);
    return 0;
}

size_t odeon_rtcp_nack_lost(const odeon_rtcp_nack *n, uint16_t *out, size_t cap)
{
    size_t total = 0;
    uint16_t pid, blp;
    for (size_t i = 0; n && odeon_rtcp_nack_pair(n, i, &pid, &blp) == 0; i++) {
        if (out && total < cap)
            out[total] = pid;
        total++;
        for (unsigned bit = 0; bit < 16; bit++) {
            if (!(blp & (1u << bit)))
                continue;
            if (out && total < cap)
                out[total] = (uint16_t)(pid + bit + 1);
            total++;
        }
    }
    return total;
}

int odeon_rtcp_parse_twcc(const odeon_rtcp_header *h, odeon_rtcp_twcc *out)
{
    odeon_rtcp_fb fb;
    if (!out || fb_of(h, ODEON_RTCP_RTPFB, ODEON_RTCP_FMT_TWCC, &fb) != 0 || fb.fci_len < 8)
        return ODEON_EINVAL;
    out->sender_ssrc = fb.sender_ssrc;
    out->media_ssrc = fb.media_ssrc;
    out->base_seq = odeon_be16(fb.fci);
    out->status_count = odeon_be16(fb.fci + 2);
    out->reference_time = sign24(odeon_be24(fb.fci + 4));
    out->fb_count = fb.fci[7];
    out->chunks = fb.fci + 8;
    out->chunks_len = fb.fci_len - 8;
    /* Each chunk (2 bytes) covers at least one status, so a count with no chunk is bogus. */
    if (out->status_count > 0 && out->chunks_len < 2)
        return ODEON_EINVAL;
    return 0;
}

int odeon_rtcp_parse_pli(const odeon_rtcp_header *h, uint32_t *sender_ssrc, uint32_t *media_ssrc)
{
    odeon_rtcp_fb fb;
    if (!sender_ssrc || !media_ssrc || fb_of(h, ODEON_RTCP_PSFB, ODEON_RTCP_FMT_PLI, &fb) != 0)
        return ODEON_EINVAL;
    *sender_ssrc = fb.sender_ssrc;
    *media_ssrc = fb.media_ssrc;
    return 0;
}

int odeon_rtcp_parse_fir(const odeon_rtcp_header *h, odeon_rtcp_fir *out)
{
    odeon_rtcp_fb fb;
    if (!out || fb_of(h, ODEON_RTCP_PSFB, ODEON_RTCP_FMT_FIR, &fb) != 0)
        return ODEON_EINVAL;
    if (fb.fci_len == 0 || fb.fci_len % 8 != 0)
        return ODEON_EINVAL;
    out->sender_ssrc = fb.sender_ssrc;
    out->entry_count = fb.fci_len / 8;
    out->entries = fb.fci;
    return 0;
}

int odeon_rtcp_fir_entry_at(const odeon_rtcp_fir *f, size_t i, odeon_rtcp_fir_entry *out)
{
    if (!f || !out || i >= f->entry_count)
        return ODEON_EINVAL;
    out->ssrc = odeon_be32(f->entries + i * 8);
    out->seq_nr = f->entries[i * 8 + 4];
    return 0;
}

int odeon_rtcp_parse_remb(const odeon_rtcp_header *h, odeon_rtcp_remb *out)
{
    odeon_rtcp_fb fb;
    if (!out || fb_of(h, ODEON_RTCP_PSFB, ODEON_RTCP_FMT_AFB, &fb) != 0)
        return ODEON_EINVAL;
    if (fb.fci_len < 4 || memcmp(fb.fci, "REMB", 4) != 0)
        return ODEON_ENOENT;
    if (fb.fci_len < 8)
        return ODEON_EINVAL;
    uint8_t num = fb.fci[4];
    if ((fb.fci_len - 8) / 4 < num)
        return ODEON_EINVAL;
    unsigned exp = fb.fci[5] >> 2;
    uint64_t mant = ((uint64_t)(fb.fci[5] & 0x03) << 16) | odeon_be16(fb.fci + 6);
    out->sender_ssrc = fb.sender_ssrc;
    /* exp reaches 63, so shifting an 18-bit mantissa can overflow 64 bits: saturate. */
    out->bitrate = (mant > (UINT64_MAX >> exp)) ? UINT64_MAX : mant << exp;
    out->ssrc_count = num;
    out->ssrcs = fb.fci + 8;
    return 0;
}

uint32_t odeon_rtcp_remb_ssrc(const odeon_rtcp_remb *r, unsigned i)
{
    return (r && i < r->ssrc_count) ? odeon_be32(r->ssrcs + (size_t)i * 4) : 0;
}

/* ---- builders --------------------------------------------------------------------------- */

/* Writes a common header for a packet of total bytes (a multiple of 4, at most 2^18). */
static void put_header(uint8_t *buf, uint8_t count, uint8_t pt, size_t total)
{
    buf[0] = (uint8_t)(0x80 | (count & 0x1f));
    buf[1] = pt;
    odeon_put_be16(buf + 2, (uint16_t)(total / 4 - 1));
}

/* Checks a builder's output size against the caller's capacity and the 16-bit length. */
static int check_room(const uint8_t *buf, size_t cap, size_t total)
{
    if (!buf || total / 4 - 1 > 0xffff)
        return ODEON_EINVAL;
    return total <= cap ? 0 : ODEON_ENOMEM;
}

static void put_block(uint8_t *b, const odeon_rtcp_report_block *rb)
{
    odeon_put_be32(b, rb->ssrc);
    b[4] = rb->fraction_lost;
    /* Clamp to the 24-bit signed range before the two's complement encoding. */
    int32_t cl = rb->cumulative_lost;
    if (cl > 0x7fffff)
        cl = 0x7fffff;
    if (cl < -0x800000)
        cl = -0x800000;
    odeon_put_be24(b + 5, (uint32_t)cl & 0xffffff);
    odeon_put_be32(b + 8, rb->highest_seq);
    odeon_put_be32(b + 12, rb->jitter);
    odeon_put_be32(b + 16, rb->lsr);
    odeon_put_be32(b + 20, rb->dlsr);
}

static int build_report(uint8_t *buf, size_t cap, uint32_t ssrc, const odeon_rtcp_sender_info *si,
                        const odeon_rtcp_report_block *blocks, unsigned n)
{
    if (n > ODEON_RTCP_MAX_BLOCKS || (n > 0 && !blocks))
        return ODEON_EINVAL;
    size_t fixed = 8 + (si ? SENDER_INFO_LEN : 0);
    size_t total = fixed + (size_t)n * REPORT_BLOCK_LEN;
    int r = check_room(buf, cap, total);
    if (r != 0)
        return r;
    put_header(buf, (uint8_t)n, si ? ODEON_RTCP_SR : ODEON_RTCP_RR, total);
    odeon_put_be32(buf + 4, ssrc);
    if (si) {
        odeon_put_be32(buf + 8, (uint32_t)(si->ntp >> 32));
        odeon_put_be32(buf + 12, (uint32_t)si->ntp);
        odeon_put_be32(buf + 16, si->rtp_ts);
        odeon_put_be32(buf + 20, si->packet_count);
        odeon_put_be32(buf + 24, si->octet_count);
    }
    for (unsigned i = 0; i < n; i++)
        put_block(buf + fixed + (size_t)i * REPORT_BLOCK_LEN, &blocks[i]);
    return (int)total;
}

int odeon_rtcp_build_rr(uint8_t *buf, size_t cap, uint32_t ssrc,
                        const odeon_rtcp_report_block *blocks, unsigned n)
{
    return build_report(buf, cap, ssrc, NULL, blocks, n);
}

int odeon_rtcp_build_sr(uint8_t *buf, size_t cap, uint32_t ssrc, const odeon_rtcp_sender_info *si,
                        const odeon_rtcp_report_block *blocks, unsigned n)
{
    if (!si)
        return ODEON_EINVAL;
    return build_report(buf, cap, ssrc, si, blocks, n);
}

int odeon_rtcp_build_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname,
                                size_t cname_len)
{
    if (!cname || cname_len == 0 || cname_len > 255)
        return ODEON_EINVAL;
    /* header, SSRC, CNAME item, then at least one null octet padded to 32 bits. */
    size_t chunk = 4 + 2 + cname_len;
    size_t total = 4 + ((chunk + 4) & ~(size_t)3);
    int r = check_room(buf, cap, total);
    if (r != 0)
        return r;
    memset(buf, 0, total);
    put_header(buf, 1, ODEON_RTCP_SDES, total);
    odeon_put_be32(buf + 4, ssrc);
    buf[8] = 1; /* CNAME */
    buf[9] = (uint8_t)cname_len;
    memcpy(buf + 10, cname, cname_len);
    return (int)total;
}

/* Sets seq in an existing pair when PID..PID+16 covers it; returns whether it did. */
static bool nack_merge(uint8_t *pairs, size_t count, uint16_t seq)
{
    for (size_t i = 0; i < count; i++) {
        uint8_t *p = pairs + i * 4;
        uint16_t diff = (uint16_t)(seq - odeon_be16(p));
        if (diff == 0)
            return true;
        if (diff <= 16) {
            odeon_put_be16(p + 2, (uint16_t)(odeon_be16(p + 2) | (1u << (diff - 1))));
            return true;
        }
    }
    return false;
}

int odeon_rtcp_build_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                          const uint16_t *lost, size_t n)
{
    if (!buf || !lost || n == 0)
        return ODEON_EINVAL;
    if (cap < FB_HEADER_LEN + 4)
        return ODEON_ENOMEM;
    uint8_t *pairs = buf + FB_HEADER_LEN;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (nack_merge(pairs, count, lost[i]))
            continue;
        size_t total = FB_HEADER_LEN + (count + 1) * 4;
        int r = check_room(buf, cap, total);
        if (r != 0)
            return r;
        odeon_put_be16(pairs + count * 4, lost[i]);
        odeon_put_be16(pairs + count * 4 + 2, 0);
        count++;
    }
    size_t total = FB_HEADER_LEN + count * 4;
    put_header(buf, ODEON_RTCP_FMT_NACK, ODEON_RTCP_RTPFB, total);
    odeon_put_be32(buf + 4, sender_ssrc);
    odeon_put_be32(buf + 8, media_ssrc);
    return (int)total;
}

int odeon_rtcp_build_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc)
{
    int r = check_room(buf, cap, FB_HEADER_LEN);
    if (r != 0)
        return r;
    put_header(buf, ODEON_RTCP_FMT_PLI, ODEON_RTCP_PSFB, FB_HEADER_LEN);
    odeon_put_be32(buf + 4, sender_ssrc);
    odeon_put_be32(buf + 8, media_ssrc);
    return FB_HEADER_LEN;
}

int odeon_rtcp_build_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc,
                         const odeon_rtcp_fir_entry *entries, size_t n)
{
    if (!entries || n == 0 || n > 0x2000)
        return ODEON_EINVAL;
    size_t total = FB_HEADER_LEN + n * 8;
    int r = check_room(buf, cap, total);
    if (r != 0)
        return r;
    put_header(buf, ODEON_RTCP_FMT_FIR, ODEON_RTCP_PSFB, total);
    odeon_put_be32(buf + 4, sender_ssrc);
    odeon_put_be32(buf + 8, 0); /* media source is unused in FIR (RFC 5104 §4.3.1.2) */
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = buf + FB_HEADER_LEN + i * 8;
        odeon_put_be32(e, entries[i].ssrc);
        e[4] = entries[i].seq_nr;
        e[5] = e[6] = e[7] = 0;
    }
    return (int)total;
}

int odeon_rtcp_build_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate,
                          const uint32_t *ssrcs, size_t n)
{
    if (n > 255 || (n > 0 && !ssrcs))
        return ODEON_EINVAL;
    size_t total = FB_HEADER_LEN + 8 + n * 4;
    int r = check_room(buf, cap, total);
    if (r != 0)
        return r;
    /* Smallest exponent that fits the mantissa in 18 bits; at most 46 for 64-bit input. */
    unsigned exp = 0;
    while ((bitrate >> exp) > 0x3ffff)
        exp++;
    uint32_t mant = (uint32_t)(bitrate >> exp);
    put_header(buf, ODEON_RTCP_FMT_AFB, ODEON_RTCP_PSFB, total);
    odeon_put_be32(buf + 4, sender_ssrc);
    odeon_put_be32(buf + 8, 0);
    memcpy(buf + 12, "REMB", 4);
    buf[16] = (uint8_t)n;
    buf[17] = (uint8_t)((exp << 2) | (mant >> 16));
    odeon_put_be16(buf + 18, (uint16_t)mant);
    for (size_t i = 0; i < n; i++)
        odeon_put_be32(buf + 20 + i * 4, ssrcs[i]);
    return (int)total;
}

int odeon_rtcp_build_compound(uint8_t *buf, size_t cap, uint32_t ssrc,
                              const odeon_rtcp_sender_info *si,
                              const odeon_rtcp_report_block *blocks, unsigned n,
                              const char *cname, size_t cname_len)
{
    int a = build_report(buf, cap, ssrc, si, blocks, n);
    if (a < 0)
        return a;
    int b = odeon_rtcp_build_sdes_cname(buf + a, cap - (size_t)a, ssrc, cname, cname_len);
    if (b < 0)
        return b;
    return a + b;
}
