/*
 * fuzz_stage_rtp.c - libFuzzer target for what the stage plugin reads of the RTP it ingests
 * over UDP (plugins/stage/stage_rtp.h): the header length and VP8 keyframe detection. The
 * input is one datagram. A header length must leave a payload inside the packet; the keyframe
 * test must never read past it (ASan checks the reads).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stage_rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy so any overread is caught. */
    uint8_t *pkt = malloc(size ? size : 1);
    if (pkt == NULL)
        return 0;
    memcpy(pkt, data, size);
    size_t hdr = stage_rtp_header_len(pkt, size);
    if (hdr != 0) {
        if (hdr < 12 || hdr >= size)
            __builtin_trap();
        (void)stage_vp8_keyframe_start(pkt + hdr, size - hdr);
    }
    (void)stage_vp8_keyframe_start(pkt, size);
    free(pkt);
    return 0;
}
