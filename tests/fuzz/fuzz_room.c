/*
 * fuzz_room.c - libFuzzer target for the room plugin's parsers: its SDP reader
 * (plugins/room/room_sdp.c) on the input as text, and its RTP work (plugins/room/room_rtp.c)
 * on the input as one datagram: extension lookup, the audio level, the extension rewrite and
 * the keyframe requests of a compound RTCP packet. Nothing may read past the input (ASan
 * checks) and a rewritten packet must fit its buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "room_rtp.h"
#include "room_sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    room_sdp_media media[8];
    size_t n = room_sdp_read(text, media, 8);
    if (n > 8)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (strlen(media[i].mid) >= sizeof media[i].mid || strlen(media[i].fmtp) >= sizeof media[i].fmtp)
            __builtin_trap();
    free(text);

    uint8_t *pkt = malloc(size ? size : 1); /* exactly the input: reads past it are caught */
    memcpy(pkt, data, size);
    for (int id = 1; id <= 15; id++) {
        const uint8_t *d;
        size_t dl;
        if (room_rtp_ext_find(pkt, size, id, &d, &dl) == 0 && (d < pkt || d + dl > pkt + size))
            __builtin_trap();
        (void)room_rtp_audio_level(pkt, size, id);
    }
    static uint8_t out[2048];
    size_t len = room_rtp_normalize(pkt, size, size > 0 ? data[0] & 0x7F : -1, out, sizeof out);
    if (len > sizeof out)
        __builtin_trap();
    uint32_t ssrcs[16];
    if (room_rtcp_keyframe_ssrcs(pkt, size, ssrcs, 16) > 16)
        __builtin_trap();
    free(pkt);
    return 0;
}
