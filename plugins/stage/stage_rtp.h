/*
 * stage_rtp.h - what the stage reads first of the RTP it ingests (UDP from anywhere): the
 * header length (payload descriptors and keyframes: stage_layers.h). Header-only so the fuzz
 * target (tests/fuzz/fuzz_stage_rtp.c) runs exactly this code; bounds-checked on every read.
 */
#ifndef ODEON_PLUGIN_STAGE_RTP_H
#define ODEON_PLUGIN_STAGE_RTP_H

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

#endif
