/*
 * room_rtp.c - extension reading and rewriting for the room's fan-out (room_rtp.h).
 */
#include "room_rtp.h"

#include <string.h>

#include "webrtc/bytes.h"

/* Where the extension block of pkt is: offset of its elements, their length and profile.
 * false when there is none or the packet is malformed. */
static bool ext_block(const uint8_t *pkt, size_t len, size_t *start, size_t *ext_len,
                      uint16_t *profile, size_t *payload)
{
    if (len < 12 || (pkt[0] >> 6) != 2)
        return false;
    size_t hdr = 12 + 4u * (pkt[0] & 0x0F);
    if (hdr > len)
        return false;
    if (!(pkt[0] & 0x10)) {
        *start = *ext_len = 0;
        *profile = 0;
        *payload = hdr;
        return true;
    }
    if (len < hdr + 4)
        return false;
    *profile = (uint16_t)(pkt[hdr] << 8 | pkt[hdr + 1]);
    size_t words = (size_t)(pkt[hdr + 2] << 8 | pkt[hdr + 3]);
    *start = hdr + 4;
    *ext_len = 4 * words;
    if (*start + *ext_len > len)
        return false;
    *payload = *start + *ext_len;
    return true;
}

int room_rtp_ext_find(const uint8_t *pkt, size_t len, int id, const uint8_t **data,
                      size_t *data_len)
{
    size_t start, ext_len, payload;
    uint16_t profile;
    if (id <= 0 || !ext_block(pkt, len, &start, &ext_len, &profile, &payload) || ext_len == 0)
        return -1;
    bool one_byte = profile == 0xBEDE;
    if (!one_byte && (profile & 0xFFF0) != 0x1000)
        return -1;
    size_t end = start + ext_len;
    for (size_t p = start; p < end;) {
        if (pkt[p] == 0) { /* padding */
            p++;
            continue;
        }
        int eid;
        size_t elen;
        if (one_byte) {
            eid = pkt[p] >> 4;
            if (eid == 15)
                return -1; /* stop parsing (RFC 8285 §4.2) */
            elen = (size_t)(pkt[p] & 0x0F) + 1;
            p += 1;
        } else {
            if (p + 2 > end)
                return -1;
            eid = pkt[p];
            elen = pkt[p + 1];
            p += 2;
        }
        if (p + elen > end)
            return -1;
        if (eid == id) {
            *data = pkt + p;
            *data_len = elen;
            return 0;
        }
        p += elen;
    }
    return -1;
}

int room_rtp_audio_level(const uint8_t *pkt, size_t len, int id)
{
    const uint8_t *d;
    size_t n;
    if (room_rtp_ext_find(pkt, len, id, &d, &n) != 0 || n < 1)
        return -1;
    return d[0] & 0x7F;
}

size_t room_rtp_normalize(const uint8_t *pkt, size_t len, int level, uint8_t *out, size_t cap)
{
    size_t start, ext_len, payload;
    uint16_t profile;
    if (!ext_block(pkt, len, &start, &ext_len, &profile, &payload))
        return 0;
    size_t fixed = 12 + 4u * (pkt[0] & 0x0F);
    /* twcc: 1 + 2 bytes; audio level: 1 + 1; padded to whole words. */
    size_t elements = 3 + (level >= 0 ? 2 : 0);
    size_t words = (elements + 3) / 4;
    size_t total = fixed + 4 + 4 * words + (len - payload);
    if (total > cap)
        return 0;
    memcpy(out, pkt, fixed);
    out[0] |= 0x10;
    uint8_t *e = out + fixed;
    e[0] = 0xBE;
    e[1] = 0xDE;
    e[2] = (uint8_t)(words >> 8);
    e[3] = (uint8_t)words;
    uint8_t *p = e + 4;
    memset(p, 0, 4 * words);
    p[0] = (uint8_t)(ROOM_EXT_TWCC << 4 | 1);
    if (level >= 0) {
        p[3] = (uint8_t)(ROOM_EXT_AUDIO_LEVEL << 4);
        p[4] = (uint8_t)(level & 0x7F);
    }
    memcpy(p + 4 * words, pkt + payload, len - payload);
    return total;
}


int room_rtcp_keyframe_ssrcs(const uint8_t *buf, size_t len, uint32_t *out, int cap)
{
    int n = 0;
    for (size_t off = 0; off + 4 <= len && n < cap;) {
        size_t plen = ((size_t)(buf[off + 2] << 8 | buf[off + 3]) + 1) * 4;
        uint8_t fmt = buf[off] & 0x1F;
        if (off + plen > len)
            break;
        if (buf[off + 1] == 206 && fmt == 1 && plen >= 12) {
            out[n++] = odeon_be32(buf + off + 8); /* PLI: the media source */
        } else if (buf[off + 1] == 206 && fmt == 4) {
            for (size_t e = off + 12; e + 8 <= off + plen && n < cap; e += 8)
                out[n++] = odeon_be32(buf + e); /* FIR: one entry per source */
        }
        off += plen;
    }
    return n;
}
