/*
 * room_sdp.h - what the room plugin reads from a session description: per m-line its kind, mid,
 * direction, chosen codec (payload type, name, clock rate, fmtp, RTX), whether it is simulcast,
 * and the id of the audio-level header extension. The room reads its own answers to
 * publishers (to offer the same streams to subscribers) and nothing else.
 *
 * Pure code over a string: bounds-checked, no core, no glib main loop; fuzzed by
 * tests/fuzz/fuzz_room_sdp.c and tested by tests/unit/test_room.c.
 */
#ifndef ODEON_PLUGIN_ROOM_SDP_H
#define ODEON_PLUGIN_ROOM_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROOM_SDP_MAX_MEDIA 64

typedef struct room_sdp_media {
    bool video;            /* else audio; other kinds are skipped (not counted) */
    bool rejected;         /* port 0 */
    bool sends, receives;  /* the direction, from the describing side's point of view */
    char mid[16];
    int pt;                /* the first payload type listed, -1 when none */
    char codec[16];        /* its rtpmap encoding name, "" when unknown */
    uint32_t clock_rate;
    char fmtp[256];        /* its fmtp parameters, "" when none (longer ones are cut) */
    int rtx_pt;            /* the RTX payload type whose apt is pt, -1 when none */
    bool simulcast;        /* a=simulcast or a=ssrc-group:SIM */
    int audio_level_ext;   /* ssrc-audio-level extension id, 0 when not negotiated */
    int index;             /* the m-line's place in the description (0-based, all kinds) */
    uint32_t ssrc;         /* the first a=ssrc, 0 when none */
} room_sdp_media;

/* Reads up to cap m-lines of kind audio or video from sdp (NUL-terminated). Returns how many
 * were read (0 for anything unreadable). */
size_t room_sdp_read(const char *sdp, room_sdp_media *out, size_t cap);

#endif
