/*
 * fuzz_stage_rtp.c - libFuzzer target for what the stage plugin reads of the RTP it ingests
 * over UDP (plugins/stage/stage_rtp.h): the header length; and the layer selection's parsers
 * (plugins/stage/stage_layers.c: VP8 and VP9 payload descriptors, H.264 keyframes) and its
 * per-viewer forwarding of each codec. The input is one datagram. A header length must leave a payload inside the packet, a descriptor length must
 * stay inside the payload, a forwarded packet is the input's size; nothing may read past the
 * input (ASan checks the reads).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stage_layers.h"
#include "stage_rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_descriptors(const uint8_t *p, size_t len)
{
    stage_vp8_desc d8;
    stage_vp9_desc d9;
    if (stage_vp8_parse(p, len, &d8) && d8.len > len)
        __builtin_trap();
    if (stage_vp9_parse(p, len, &d9) && d9.len > len)
        __builtin_trap();
    (void)stage_h264_keyframe_start(p, len);
}

/* The whole datagram through a stage's stats and a fresh viewer of each codec, twice (the
 * second time the viewer may have started on it). */
static void forward_all(const uint8_t *pkt, size_t size)
{
    static uint8_t out[65536];
    for (int c = STAGE_CODEC_VP8; c <= STAGE_CODEC_H264; c++) {
        stage_layer_stats st;
        stage_layer_viewer v;
        stage_layer_stats_init(&st, (stage_layer_codec)c);
        stage_layer_viewer_init(&v, (stage_layer_codec)c, 1);
        for (int i = 0; i < 2; i++) {
            size_t n = 0;
            stage_layer_stats_packet(&st, 0, pkt, size, i * 1000);
            stage_layer_viewer_retarget(&v, &st, 1000000, i * 1000);
            int r = stage_layer_viewer_forward(&v, 0, pkt, size, i * 1000, out, sizeof(out), &n);
            if ((r & STAGE_LAYER_FORWARD) && n != size)
                __builtin_trap();
        }
    }
}

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
        parse_descriptors(pkt + hdr, size - hdr);
    }
    parse_descriptors(pkt, size);
    forward_all(pkt, size);
    free(pkt);
    return 0;
}
