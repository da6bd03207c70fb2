/*
 * room_rtp.h - the room's reading and rewriting of a publisher's RTP before it goes to the
 * subscribers: the audio level from the publisher's header extension, and the extension block
 * rewritten with the ids the room offers every subscriber (publishers' browsers number their
 * extensions as they like; forwarding their ids would make a subscriber read one extension as
 * another). Pure code over byte buffers, bounds-checked, fuzzed by tests/fuzz/fuzz_room.c.
 */
#ifndef ODEON_PLUGIN_ROOM_RTP_H
#define ODEON_PLUGIN_ROOM_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The extension ids of the room's offers to subscribers (the core's jsep_offer numbering). */
#define ROOM_EXT_TWCC 3
#define ROOM_EXT_AUDIO_LEVEL 4

/* The data of extension element id in pkt (one- or two-byte form): 0 with *data and *len, or
 * -1 when the packet has none or is malformed. */
int room_rtp_ext_find(const uint8_t *pkt, size_t len, int id, const uint8_t **data,
                      size_t *data_len);

/* The audio level (RFC 6464: 0 loudest .. 127 silence) carried under id, or -1. */
int room_rtp_audio_level(const uint8_t *pkt, size_t len, int id);

/* Copies pkt into out (cap bytes) with its extension block replaced by the room's: a
 * transport-wide sequence slot (the core fills it per subscriber) and, when level >= 0, the
 * audio level. Returns the new length, or 0 when pkt is not RTP or does not fit. */
size_t room_rtp_normalize(const uint8_t *pkt, size_t len, int level, uint8_t *out, size_t cap);

/* The media SSRCs that a compound RTCP packet asks keyframes for (PLI, and each FIR entry):
 * how many were written to out (at most cap). */
int room_rtcp_keyframe_ssrcs(const uint8_t *buf, size_t len, uint32_t *out, int cap);

#endif
