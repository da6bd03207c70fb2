/*
 * stage_rtp.h - what the stage reads of the RTP it ingests (UDP from anywhere): the header
 * length and whether a VP8 packet starts a keyframe. Header-only so the fuzz target
 * (tests/fuzz/fuzz_stage_rtp.c) runs exactly this code; both are bounds-checked on every read.
 */
#ifndef ODEON_PLUGIN_STAGE_RTP_H
#define ODEON_PLUGIN_STAGE_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The RTP header length (fixed part, CSRCs, extension), or 0 when it is not RTP v2 or leaves
 * no payload. */
static inline size_t stage_rtp_header_len(const uint8_t *pkt, size_t len)
{
    if (len < 12 || (pkt[0] >> 6) != 2)
        return 0;
    size_t hdr = 12 + 4u * (pkt[0] & 0x0F);
    if (pkt[0] & 0x10) {
        if (len < hdr + 4)
            return 0; /* an extension header that is not there */
        hdr += 4 + 4u * (((size_t)pkt[hdr + 2] << 8) | pkt[hdr + 3]);
    }
    return hdr < len ? hdr : 0;
}

/* VP8 (RFC 7741): does this packet start a keyframe? */
static inline bool stage_vp8_keyframe_start(const uint8_t *payload, size_t len)
{
    if (len < 1)
        return false;
    size_t off = 1;
    bool start = (payload[0] & 0x10) != 0 && (payload[0] & 0x07) == 0;
    if (payload[0] & 0x80) { /* X: extension byte with I, L, T, K */
        if (len < 2)
            return false;
        uint8_t x = payload[1];
        off = 2;
        if (x & 0x80)
            off += (len > off && (payload[off] & 0x80)) ? 2 : 1; /* PictureID, 7 or 15 bits */
        if (x & 0x40)
            off += 1; /* TL0PICIDX */
        if (x & 0x30)
            off += 1; /* TID/KEYIDX */
    }
    return start && off < len && (payload[off] & 0x01) == 0;
}

#endif
