/*
 * stage_layers.h - per-viewer layer selection for the stage: which simulcast substream (VP8,
 * H.264) or which VP9 SVC spatial/temporal layers each viewer gets, and the rewriting that
 * makes the switches invisible (one continuous sequence number, timestamp and VP8
 * PictureID/TL0PICIDX space per viewer).
 *
 * Pure code: no core, no libnice, no allocation, no clock of its own (every time is passed in
 * as microseconds of a monotonic clock), so tests/unit/test_stage_layers.c drives it step by
 * step. The structs are public only so the stage can embed them in its own (stage, viewer)
 * structs; their fields are private to stage_layers.c.
 *
 * Threads: a stage_layer_stats is written by whoever ingests the host's packets and read by
 * stage_layer_choose(); a stage_layer_viewer belongs to its viewer's media loop. Nothing here
 * locks: the caller serialises or gives each thread its own copy.
 *
 * A "layer" below is a simulcast substream index (0..2, as the host's tracks arrive, not in
 * quality order) or, for VP9, a spatial layer id (0..2, in quality order).
 */
#ifndef ODEON_PLUGIN_STAGE_LAYERS_H
#define ODEON_PLUGIN_STAGE_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STAGE_LAYERS_MAX 3
#define STAGE_LAYER_BUCKETS 10 /* 100 ms each: the bitrate is measured over ~1 s */

typedef enum {
    STAGE_CODEC_VP8,
    STAGE_CODEC_VP9,
    STAGE_CODEC_H264,
} stage_layer_codec;

/* ---- payload descriptors (network input: every read bounds-checked, never allocates) ---- */

/* VP8 payload descriptor (RFC 7741 §4.2) and, on a keyframe's first packet, its size. Offsets
 * are from the start of the RTP payload. */
typedef struct {
    size_t len;              /* descriptor length: the VP8 payload header starts here */
    bool start;              /* S=1 and partition 0: the first packet of a frame */
    bool keyframe;           /* start and the payload header's P bit clear */
    int picture_id;          /* -1 when absent */
    uint8_t picture_id_bits; /* 7 or 15 */
    size_t picture_id_off;
    int tl0picidx; /* -1 when absent */
    size_t tl0picidx_off;
    int tid;                /* -1 when absent (no T bit) */
    bool layer_sync;        /* Y: depends only on temporal layer 0 */
    uint16_t width, height; /* from the keyframe header, 0 when not in this packet */
} stage_vp8_desc;

/* false when the payload is not a well-formed VP8 payload descriptor. */
bool stage_vp8_parse(const uint8_t *payload, size_t len, stage_vp8_desc *d);

/* VP9 payload descriptor (RFC 9628 §4.2), flexible or non-flexible mode. */
typedef struct {
    size_t len;         /* descriptor length, SS included */
    bool inter_picture; /* P */
    bool flexible;      /* F */
    bool start;         /* B: first packet of a layer frame */
    bool end;           /* E: last packet of a layer frame */
    bool inter_layer;   /* D: depends on the lower spatial layer of the same picture */
    bool switch_up;     /* U */
    bool keyframe;      /* B, not P, spatial id 0 */
    int picture_id;     /* -1 when absent */
    int tl0picidx;      /* -1 when absent (flexible mode, or no L bit) */
    uint8_t sid, tid;   /* 0 when the L bit is absent */
    uint8_t ss_layers;  /* spatial layers with a size in the SS (at most STAGE_LAYERS_MAX) */
    uint16_t width[STAGE_LAYERS_MAX], height[STAGE_LAYERS_MAX];
} stage_vp9_desc;

bool stage_vp9_parse(const uint8_t *payload, size_t len, stage_vp9_desc *d);

/* H.264 (RFC 6184): does this packet start an IDR picture or carry an SPS (single NAL unit,
 * STAP-A, or the first FU-A fragment)? */
bool stage_h264_keyframe_start(const uint8_t *payload, size_t len);

/* ---- per-stage statistics of the host's layers ---- */

typedef struct {
    uint32_t bytes[STAGE_LAYER_BUCKETS];
    int64_t epoch[STAGE_LAYER_BUCKETS]; /* which 100 ms slot each bucket holds */
    int64_t last_us;
    bool seen;
    uint16_t width, height; /* of the last keyframe (or VP9 SS), 0 when not known */
} stage_layer_substream;

typedef struct {
    stage_layer_codec codec;
    stage_layer_substream sub[STAGE_LAYERS_MAX];
} stage_layer_stats;

void stage_layer_stats_init(stage_layer_stats *st, stage_layer_codec codec);

/* The layered codec of an rtpmap encoding name ("VP8", "VP9", "H264", any case): true and
 * *out, or false for a codec whose layers and keyframes are not understood here. */
bool stage_layer_codec_of(const char *codec, stage_layer_codec *out);

/* Accounts one packet of the host's (a whole RTP packet): simulcast packets count for
 * `substream` (0..2, anything else ignored); VP9 packets for the spatial id of their
 * descriptor (`substream` ignored). Malformed packets count for their substream but teach
 * nothing about resolution. */
void stage_layer_stats_packet(stage_layer_stats *st, int substream, const uint8_t *pkt, size_t len,
                              int64_t now_us);

/* Bits per second of a layer over the last ~1 s; 0 when unknown. */
uint32_t stage_layer_stats_bitrate(const stage_layer_stats *st, int layer, int64_t now_us);

/* A layer is active when a packet arrived in the last second. */
bool stage_layer_stats_active(const stage_layer_stats *st, int layer, int64_t now_us);

/* Orders the active layers by quality: order[0] is the lowest (smallest resolution, then lowest
 * bitrate; an unknown resolution counts as smallest), order[n - 1] the best. Returns n. */
int stage_layer_stats_rank(const stage_layer_stats *st, int64_t now_us,
                           int order[STAGE_LAYERS_MAX]);

/* ---- choosing a layer ---- */

#define STAGE_LAYER_UP_HOLD_US 1000000 /* an up-switch must stay affordable this long */

typedef struct {
    int64_t up_since_us; /* since when a better layer has been affordable */
    bool up_pending;
} stage_layer_hold;

/* The layer a viewer should get: the best active layer whose cost is at most 0.9 x estimate
 * (the lowest active layer when none is), with a quality rank at most `preferred` (0 = lowest,
 * 2 or -1 = best; capped at the best active). The cost of a simulcast layer is its bitrate, of
 * a VP9 spatial layer the sum of its own and the lower layers' bitrates. estimate_bps 0 means
 * unknown: no bandwidth cap. Hysteresis around `current` (the layer now sent, -1 none): down at
 * once when the current layer's cost exceeds the whole estimate or the preference, up only
 * after a better layer has stayed affordable for STAGE_LAYER_UP_HOLD_US (call this at least on
 * every estimate update). Returns the layer, or -1 when no layer is active. */
int stage_layer_choose(const stage_layer_stats *st, stage_layer_hold *hold, int current,
                       uint64_t estimate_bps, int preferred, int64_t now_us);

/* ---- one viewer ---- */

typedef struct {
    stage_layer_codec codec;
    uint32_t ssrc; /* written into every forwarded packet when not 0 */
    int preferred, preferred_temporal;
    int current, target; /* layers; current -1 until the first keyframe */
    int temporal;        /* the highest temporal layer forwarded now */
    stage_layer_hold hold;
    /* Rewriting: out = in + offset, rebased on each switch. */
    bool started;
    uint16_t seq_off, last_seq_out, last_in_seq, switch_in_seq;
    uint32_t ts_off, last_ts_out;
    int64_t last_out_us;
    uint16_t pid_off, last_pid_out, last_in_pid;
    uint8_t tl0_off, last_tl0_out;
    bool have_pid, have_tl0;
    int64_t last_keyframe_ask_us;
    bool asked;
} stage_layer_viewer;

/* What stage_layer_viewer_forward() says (a bit set). */
enum {
    STAGE_LAYER_FORWARD = 1,      /* out_buf holds the rewritten packet: send it */
    STAGE_LAYER_WANT_KEYFRAME = 2 /* ask the host for a keyframe on stage_layer_viewer_target() */
};

#define STAGE_LAYER_KEYFRAME_ASK_US 500000 /* per viewer, the caller coalesces further */

/* ssrc_out 0 keeps the host's SSRC. Prefers the best layers until told otherwise. */
void stage_layer_viewer_init(stage_layer_viewer *v, stage_layer_codec codec, uint32_t ssrc_out);

/* A new input (the viewer switched stages, or resumes): nothing is forwarded until a keyframe
 * of the new target, which continues the output's numbering where it stopped. */
void stage_layer_viewer_restart(stage_layer_viewer *v);

/* The viewer's "configure": quality 0..2 (2 = best; VP9: spatial layer) and temporal layer
 * 0..2; -1 for the best. Takes effect on the next stage_layer_viewer_retarget(). */
void stage_layer_viewer_prefer(stage_layer_viewer *v, int quality, int temporal);

/* Re-chooses the target layer (stage_layer_choose() with the viewer's state). Call it on every
 * estimate update and now and then (e.g. every keyframe or every 100 ms) so layers that appear
 * or stop are noticed. Returns the target, -1 when no layer is active (the old target stays). */
int stage_layer_viewer_retarget(stage_layer_viewer *v, const stage_layer_stats *st,
                                uint64_t estimate_bps, int64_t now_us);

int stage_layer_viewer_target(const stage_layer_viewer *v);
/* Has it forwarded anything yet (so its output numbering must continue)? */
bool stage_layer_viewer_has_sent(const stage_layer_viewer *v);
int stage_layer_viewer_current(const stage_layer_viewer *v);

/* Offers one host packet (a whole RTP packet of layer `substream`; ignored for VP9) to the
 * viewer. When it is to be sent, it is copied into out_buf (the caller's reusable buffer, at
 * least len bytes) with its sequence number, timestamp, SSRC, marker and VP8 PictureID and
 * TL0PICIDX rewritten, and *out_len set. Simulcast switches happen only on the first packet of
 * a keyframe of the target layer; VP8 temporal up-switches on a layer-sync frame; VP9 spatial
 * up-switches at a keyframe (or mid-picture at a layer frame that is not inter-picture
 * predicted), down-switches at a picture boundary; the marker then goes on the end of the
 * highest layer forwarded. Over packets the viewer does not get (temporal or spatial layers)
 * the sequence numbers, and over dropped VP8 frames the PictureIDs, close up, so the viewer
 * sees no gap but the host's own losses. A packet reordered behind a dropped one may reuse a
 * sequence number (no per-viewer history of drops is kept). Malformed packets are dropped.
 * Returns STAGE_LAYER_* bits. */
int stage_layer_viewer_forward(stage_layer_viewer *v, int substream, const uint8_t *pkt, size_t len,
                               int64_t now_us, uint8_t *out_buf, size_t out_cap, size_t *out_len);

#endif
