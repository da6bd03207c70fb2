/*
 * load.h - declarations shared by the files of odeon-load (tests/load/, see README.md there).
 *
 *   odeon-load.c  main: argv, the two modes
 *   viewers.c     "viewers" mode: N WebRTC viewers (WebSocket signalling, ICE, DTLS, SRTP)
 *   ws.c          a minimal RFC 6455 WebSocket client for non-blocking sockets
 *   vp8.c         VP8 payload descriptor (RFC 7741), frame reassembly + libvpx decoding,
 *                 the frame-number barcode the source draws and the viewers read back
 *   source.c      "source" mode: VP8 (libvpx) + Opus (libopus) as plain RTP over UDP
 *
 * Frame identity: every video frame the source encodes carries its 16-bit frame number as a
 * barcode along the top of the picture (32 cells: 16 bits then their complement). A viewer that
 * decodes reads it back, so decoded frames of different viewers can be matched without trusting
 * anything the server rewrites (SSRC, sequence numbers, timestamps, picture ids).
 */
#ifndef ODEON_TESTS_LOAD_H
#define ODEON_TESTS_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vpx/vpx_image.h>

int viewers_main(int argc, char **argv);
int source_main(int argc, char **argv);

/* ----- vp8.c ---------------------------------------------------------------------------------- */

/* The parts of an RFC 7741 payload descriptor a receiver needs. */
typedef struct {
    bool start;        /* S: first packet of a partition */
    uint8_t partition; /* PID */
    bool has_picture_id;
    uint16_t picture_id;
    size_t header_len; /* descriptor bytes before the VP8 payload */
} vp8_desc;

/* Parses the descriptor at the start of an RTP payload. 0, or -1 when truncated. */
int vp8_parse_desc(const uint8_t *p, size_t len, vp8_desc *out);
/* True when this RTP payload starts a keyframe: S=1, PID=0 and the frame tag's P bit clear
 * (RFC 7741 section 4.3). */
bool vp8_payload_is_keyframe(const uint8_t *p, size_t len);
/* Writes a descriptor with X=1, I=1 and a 15-bit picture id (4 bytes). Returns 4. */
size_t vp8_write_desc(uint8_t *p, bool start, uint16_t picture_id);

/* The barcode: cell size for a frame width (0: the frame is too narrow, under 128 pixels).
 * Widths of 256 and more get cells on the 8-pixel grid, 128..255 get 4-pixel cells (the
 * smallest layer of a simulcast source). */
unsigned barcode_cell(unsigned width);
/* Draws frame_no into the luma plane of img (I420). */
void barcode_draw(vpx_image_t *img, uint16_t frame_no);
/* Reads it back; 0 and *frame_no, or -1 when the cells do not form a valid code. */
int barcode_read(const vpx_image_t *img, uint16_t *frame_no);

/* 64-bit hash of the visible area of the three planes of a decoded frame. */
uint64_t frame_hash(const vpx_image_t *img);

/* A per-viewer VP8 receiver: reassembles frames from RTP packets (in order; any sequence gap
 * drops the frame and waits for the next keyframe), decodes them with libvpx and records the
 * hash of every decoded frame under its barcode number. */
typedef struct vp8_receiver vp8_receiver;
vp8_receiver *vp8_receiver_new(void);
void vp8_receiver_free(vp8_receiver *r);
/* One decrypted RTP packet of the video stream: seq, marker, timestamp, payload, and when it
 * arrived (monotonic microseconds; the decoded-frame timing uses it). */
void vp8_receiver_push(vp8_receiver *r, uint16_t seq, bool marker, uint32_t ts,
                       const uint8_t *payload, size_t len, int64_t now_us);

/* The decoded picture size changed (the first decoded frame counts as a change): a simulcast
 * server switched layers. Only the first VP8_SIZE_CHANGES are kept. */
#define VP8_SIZE_CHANGES 16
typedef struct {
    int64_t at_us;
    unsigned width, height;
} vp8_size_change;

typedef struct {
    uint64_t frames_decoded, keyframes, decode_errors;
    uint64_t frames_before_key; /* skipped while waiting for the first keyframe */
    uint64_t frames_dropped;    /* lost or undecodable after decoding started */
    uint64_t bad_barcode;       /* decoded, but no valid frame number in the picture */
    unsigned width, height;     /* of the last decoded frame */
    /* decoded-frame timing: the longest time between two consecutive decoded frames after
     * the first (a stall, whatever its cause: loss, a layer switch waiting for a keyframe,
     * a server that stopped forwarding) */
    int64_t first_frame_us, last_frame_us, max_gap_us;
    unsigned size_changes; /* all of them, also those past VP8_SIZE_CHANGES */
    vp8_size_change sizes[VP8_SIZE_CHANGES];
} vp8_receiver_stats;
void vp8_receiver_get_stats(const vp8_receiver *r, vp8_receiver_stats *out);
/* The hash and picture size (width << 16 | height) recorded for a frame number; false if that
 * frame was not decoded. Frames of different simulcast layers share numbers, so a comparison
 * across viewers must only compare hashes of equal sizes. */
bool vp8_receiver_frame(const vp8_receiver *r, uint16_t frame_no, uint64_t *hash, uint32_t *size);

#endif
