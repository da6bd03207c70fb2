/*
 * rtp.c - the RTP packet view, RFC 8285 extension walking and in-place header writers.
 *
 * Every read is checked against the packet length before it happens, because every byte
 * here comes from the network. Parsing validates the fixed header, the CSRC list, the
 * extension block bounds and the padding; the element list inside the extension block is
 * only walked on lookup, so a packet with a garbled element can still be forwarded (an SFU
 * passes payloads through) while lookups on it report ODEON_EINVAL. Nothing allocates.
 */
#include "webrtc/rtp.h"

#include <string.h>

#include "webrtc/bytes.h"

/* The extension block: 16-bit profile, 16-bit length in 32-bit words, then the elements. */
static int parse_extension(const uint8_t *buf, size_t len, size_t *off, odeon_rtp_view *out)
{
    if (len - *off < 4)
        return ODEON_EINVAL;
    const uint8_t *p = buf + *off;
    size_t words = odeon_be16(p + 2);
    if ((len - *off - 4) / 4 < words)
        return ODEON_EINVAL;
    out->ext_profile = odeon_be16(p);
    out->ext_offset = *off + 4;
    out->ext_len = words * 4;
    *off += 4 + words * 4;
    return 0;
}

int odeon_rtp_parse(const uint8_t *buf, size_t len, odeon_rtp_view *out)
{
    if (!buf || !out || len < ODEON_RTP_HEADER_LEN)
        return ODEON_EINVAL;
    if ((buf[0] >> 6) != 2)
        return ODEON_EINVAL;
    memset(out, 0, sizeof(*out));
    out->buf = buf;
    out->len = len;
    out->padding = (buf[0] & 0x20) != 0;
    out->extension = (buf[0] & 0x10) != 0;
    out->csrc_count = buf[0] & 0x0f;
    out->marker = (buf[1] & 0x80) != 0;
    out->payload_type = buf[1] & 0x7f;
    out->seq = odeon_be16(buf + 2);
    out->timestamp = odeon_be32(buf + 4);
    out->ssrc = odeon_be32(buf + 8);

    size_t off = ODEON_RTP_HEADER_LEN + (size_t)out->csrc_count * 4;
    if (off > len)
        return ODEON_EINVAL;
    if (out->extension && parse_extension(buf, len, &off, out) != 0)
        return ODEON_EINVAL;
    size_t end = len;
    if (out->padding) {
        /* The pad count includes itself, so 0 is invalid (RFC 3550 §5.1), and it may not
         * eat into the header. */
        uint8_t pad = buf[len - 1];
        if (pad == 0 || pad > len - off)
            return ODEON_EINVAL;
        out->padding_len = pad;
        end = len - pad;
    }
    out->payload_offset = off;
    out->payload_len = end - off;
    return 0;
}

/* One-byte form (RFC 8285 §4.2): ID(4)|len-1(4); ID 0 is a padding byte, ID 15 stops. */
static int next_one_byte(const uint8_t *p, size_t n, size_t *pos, uint8_t *id,
                         const uint8_t **data, size_t *len)
{
    while (*pos < n) {
        uint8_t b = p[*pos];
        uint8_t eid = b >> 4;
        if (eid == 0) {
            (*pos)++;
            continue;
        }
        if (eid == 15) {
            *pos = n;
            return 0;
        }
        size_t elen = (size_t)(b & 0x0f) + 1;
        if (n - *pos - 1 < elen)
            return ODEON_EINVAL;
        *id = eid;
        *data = p + *pos + 1;
        *len = elen;
        *pos += 1 + elen;
        return 1;
    }
    return 0;
}

/* Two-byte form (RFC 8285 §4.3): ID(8) len(8) data; ID 0 is a padding byte. */
static int next_two_byte(const uint8_t *p, size_t n, size_t *pos, uint8_t *id,
                         const uint8_t **data, size_t *len)
{
    while (*pos < n) {
        if (p[*pos] == 0) {
            (*pos)++;
            continue;
        }
        if (n - *pos < 2)
            return ODEON_EINVAL;
        size_t elen = p[*pos + 1];
        if (n - *pos - 2 < elen)
            return ODEON_EINVAL;
        *id = p[*pos];
        *data = p + *pos + 2;
        *len = elen;
        *pos += 2 + elen;
        return 1;
    }
    return 0;
}

int odeon_rtp_ext_next(const odeon_rtp_view *v, size_t *pos, uint8_t *id, const uint8_t **data,
                       size_t *len)
{
    if (!v || !pos || !id || !data || !len)
        return ODEON_EINVAL;
    if (!v->extension || v->ext_offset + v->ext_len > v->len)
        return 0;
    const uint8_t *p = v->buf + v->ext_offset;
    if (v->ext_profile == ODEON_RTP_EXT_ONE_BYTE)
        return next_one_byte(p, v->ext_len, pos, id, data, len);
    if ((v->ext_profile & 0xfff0) == ODEON_RTP_EXT_TWO_BYTE)
        return next_two_byte(p, v->ext_len, pos, id, data, len);
    return 0; /* some other profile: no RFC 8285 elements to find */
}

int odeon_rtp_ext_find(const odeon_rtp_view *v, uint8_t id, const uint8_t **data, size_t *len)
{
    if (!v || !data || !len || id == 0)
        return ODEON_EINVAL;
    size_t pos = 0;
    uint8_t eid;
    const uint8_t *d;
    size_t n;
    int r;
    while ((r = odeon_rtp_ext_next(v, &pos, &eid, &d, &n)) == 1) {
        if (eid == id) {
            *data = d;
            *len = n;
            return 0;
        }
    }
    return r < 0 ? r : ODEON_ENOENT;
}

/* Finds id and insists on exactly want bytes. */
static int find_sized(const odeon_rtp_view *v, uint8_t id, size_t want, const uint8_t **data)
{
    size_t n;
    int r = odeon_rtp_ext_find(v, id, data, &n);
    if (r != 0)
        return r;
    return n == want ? 0 : ODEON_EINVAL;
}

int odeon_rtp_ext_abs_send_time(const odeon_rtp_view *v, uint8_t id, uint32_t *out)
{
    const uint8_t *d;
    int r = find_sized(v, id, 3, &d);
    if (r != 0 || !out)
        return r != 0 ? r : ODEON_EINVAL;
    *out = ((uint32_t)d[0] << 16) | ((uint32_t)d[1] << 8) | d[2];
    return 0;
}

int odeon_rtp_ext_twcc_seq(const odeon_rtp_view *v, uint8_t id, uint16_t *out)
{
    const uint8_t *d;
    int r = find_sized(v, id, 2, &d);
    if (r != 0 || !out)
        return r != 0 ? r : ODEON_EINVAL;
    *out = odeon_be16(d);
    return 0;
}

int odeon_rtp_ext_audio_level(const odeon_rtp_view *v, uint8_t id, bool *voice, uint8_t *level)
{
    const uint8_t *d;
    size_t n;
    int r = odeon_rtp_ext_find(v, id, &d, &n);
    if (r != 0)
        return r;
    /* RFC 6464 defines one byte; the one-byte form may carry more, which we ignore. */
    if (n < 1 || !voice || !level)
        return ODEON_EINVAL;
    *voice = (d[0] & 0x80) != 0;
    *level = d[0] & 0x7f;
    return 0;
}

int odeon_rtp_ext_string(const odeon_rtp_view *v, uint8_t id, char *out, size_t out_size)
{
    const uint8_t *d;
    size_t n;
    int r = odeon_rtp_ext_find(v, id, &d, &n);
    if (r != 0)
        return r;
    if (n == 0 || !out)
        return ODEON_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (d[i] < 0x21 || d[i] > 0x7e)
            return ODEON_EINVAL;
    if (out_size < n + 1)
        return ODEON_ENOMEM;
    memcpy(out, d, n);
    out[n] = '\0';
    return (int)n;
}

int odeon_rtp_set_ssrc(uint8_t *buf, size_t len, uint32_t ssrc)
{
    if (!buf || len < ODEON_RTP_HEADER_LEN)
        return ODEON_EINVAL;
    odeon_put_be32(buf + 8, ssrc);
    return 0;
}

int odeon_rtp_set_seq(uint8_t *buf, size_t len, uint16_t seq)
{
    if (!buf || len < ODEON_RTP_HEADER_LEN)
        return ODEON_EINVAL;
    odeon_put_be16(buf + 2, seq);
    return 0;
}

int odeon_rtp_set_timestamp(uint8_t *buf, size_t len, uint32_t ts)
{
    if (!buf || len < ODEON_RTP_HEADER_LEN)
        return ODEON_EINVAL;
    odeon_put_be32(buf + 4, ts);
    return 0;
}

int odeon_rtp_set_payload_type(uint8_t *buf, size_t len, uint8_t pt)
{
    if (!buf || len < ODEON_RTP_HEADER_LEN || pt > 127)
        return ODEON_EINVAL;
    buf[1] = (uint8_t)((buf[1] & 0x80) | pt);
    return 0;
}

int odeon_rtp_set_marker(uint8_t *buf, size_t len, bool marker)
{
    if (!buf || len < ODEON_RTP_HEADER_LEN)
        return ODEON_EINVAL;
    buf[1] = (uint8_t)(marker ? (buf[1] | 0x80) : (buf[1] & 0x7f));
    return 0;
}

int odeon_rtp_set_twcc_seq(uint8_t *buf, const odeon_rtp_view *v, uint8_t id, uint16_t seq)
{
    if (!buf || !v || v->buf != buf)
        return ODEON_EINVAL;
    const uint8_t *d;
    int r = find_sized(v, id, 2, &d);
    if (r != 0)
        return r;
    /* d points into buf (checked above), so the offset gives the writable position. */
    odeon_put_be16(buf + (d - v->buf), seq);
    return 0;
}

odeon_rtp_demux odeon_rtp_demux_classify(const uint8_t *buf, size_t len)
{
    if (!buf || len == 0)
        return ODEON_DEMUX_UNKNOWN;
    uint8_t b = buf[0];
    if (b <= 3)
        return ODEON_DEMUX_STUN;
    if (b >= 16 && b <= 19)
        return ODEON_DEMUX_ZRTP;
    if (b >= 20 && b <= 63)
        return ODEON_DEMUX_DTLS;
    if (b >= 64 && b <= 79)
        return ODEON_DEMUX_TURN;
    if (b >= 128 && b <= 191) {
        if (len < 2)
            return ODEON_DEMUX_UNKNOWN;
        return (buf[1] >= 192 && buf[1] <= 223) ? ODEON_DEMUX_RTCP : ODEON_DEMUX_RTP;
    }
    return ODEON_DEMUX_UNKNOWN;
}

bool odeon_rtp_is_rtcp(const uint8_t *buf, size_t len)
{
    /* An RTCP header is 4 bytes; anything shorter cannot be one. */
    return buf && len >= 4 && odeon_rtp_demux_classify(buf, len) == ODEON_DEMUX_RTCP;
}
