/*
 * stage.h - odeon.plugin.stage: one source to many viewers (the event's main stage).
 *
 * Sources: plain RTP (encoders, the load generator's test source) on the stage's UDP ports, or
 * a host's browser that "publish"es over WebRTC. Stages are configured in stage.conf or
 * created by request with their media, viewers
 * "watch" (Odeon offers, the viewer answers with "start"), and every packet a stage receives is
 * forwarded to each of its started viewers. The request and event bodies are those of Janus's
 * Streaming plugin for list/info/watch/start/pause/stop/switch/create/destroy, so a Streaming
 * viewer works with the plugin name swapped.
 *
 * Files: stage.c (descriptor, requests, viewers), stage_source.c (RTP ingest and fan-out).
 */
#ifndef ODEON_PLUGIN_STAGE_H
#define ODEON_PLUGIN_STAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "plugin/plugin.h"

#define STAGE_PACKAGE "odeon.plugin.stage"

/* Error codes in the plugin's events: Janus Streaming's numbers. */
enum {
    STAGE_ERROR_NO_MESSAGE = 450,
    STAGE_ERROR_INVALID_JSON = 451,
    STAGE_ERROR_INVALID_REQUEST = 452,
    STAGE_ERROR_MISSING_ELEMENT = 453,
    STAGE_ERROR_INVALID_ELEMENT = 454,
    STAGE_ERROR_NO_SUCH_MOUNTPOINT = 455,
    STAGE_ERROR_CANT_CREATE = 456,
    STAGE_ERROR_UNAUTHORIZED = 457,
    STAGE_ERROR_CANT_SWITCH = 458,
    STAGE_ERROR_INVALID_STATE = 460,
    STAGE_ERROR_UNKNOWN_ERROR = 470,
};

extern const odeon_core_callbacks *stage_core;
extern const odeon_plugin odeon_plugin_descriptor;

/* One media track of a stage: what viewers are offered, where the source sends it. */
typedef struct stage_track {
    bool video;
    char mid[8];
    uint16_t port; /* UDP port of the RTP source; 0: none */
    uint8_t pt;
    char codec[16];     /* "opus", "VP8", ... */
    uint32_t clock_rate;
    char *fmtp;         /* may be NULL */
    int socket;         /* -1 when closed */
} stage_track;

#define STAGE_MAX_TRACKS 2

/* A viewer: one handle watching one stage. Refcounted (the handle data and the stage's viewer
 * list each hold one). Fields under the stage's lock unless noted. */
typedef struct stage_viewer {
    gint refs;
    GMutex host_lock;            /* a host's stage pointer, read per packet on its loop */
    odeon_plugin_handle *handle; /* reference */
    struct stage *stage;         /* reference, NULL before watch; changes on switch */
    bool started;                /* answered and not paused */
    bool media_up;               /* the peer connection is up (setup_media) */
    bool audio, video;           /* "configure" toggles */
    bool need_keyframe;          /* send the cached keyframe before live video */
    bool is_host;                /* this handle publishes (stage set, not in the viewer list) */
    /* Rewriting so a viewer's sequence numbers and timestamps stay continuous across
     * switches: out = in + offset. */
    /* Where each stage track goes on this viewer's connection: its m-line and payload type
     * (-1: the stage's own). A Streaming viewer gets Odeon's offer (identity); a WHEP player
     * offered, with its own m-line order and numbers. */
    int mindex[STAGE_MAX_TRACKS];
    int pt[STAGE_MAX_TRACKS];
    uint16_t seq_offset[STAGE_MAX_TRACKS];
    uint32_t ts_offset[STAGE_MAX_TRACKS];
    bool rebase[STAGE_MAX_TRACKS];
    uint16_t last_seq[STAGE_MAX_TRACKS];
    uint32_t last_ts[STAGE_MAX_TRACKS];
    bool sent_any[STAGE_MAX_TRACKS];
} stage_viewer;

/* Every video packet since the last keyframe, back to back in one buffer that is reset (not
 * freed) at each keyframe: after the first GOPs it never allocates. */
typedef struct stage_gop {
    uint8_t *data;
    size_t used, capacity;
    uint32_t *offsets;
    uint16_t *lengths;
    size_t count;
} stage_gop;

#define STAGE_GOP_MAX_PACKETS 4096

void stage_gop_clear(stage_gop *g);
void stage_gop_free(stage_gop *g);
void stage_gop_append(stage_gop *g, const uint8_t *pkt, size_t len);

/* A stage. Refcounted: the registry and each viewer hold references. */
typedef struct stage {
    gint refs;
    uint64_t id;
    char *description;
    char *pin;    /* viewers must give it; NULL: none */
    char *secret; /* to destroy it; NULL: none */
    stage_track tracks[STAGE_MAX_TRACKS];
    size_t track_count;
    GMutex lock;          /* viewers, GOP cache */
    GPtrArray *viewers;   /* stage_viewer * (references) */
    stage_gop gop;        /* video packets since the last VP8 keyframe */
    odeon_plugin_handle *host; /* the WebRTC publisher (reference), NULL: none; under lock */
    gint64 last_keyframe_request_us; /* coalesces viewers' PLIs to the host; under lock */
    gint64 last_video_us; /* for "info" */
    gint64 last_audio_us;
    guint64 packets_in;
} stage;

stage *stage_ref(stage *s);
void stage_unref(stage *s);

/* stage_source.c: ingest thread and fan-out. */
int stage_source_open(stage *s, char **error);
void stage_source_close(stage *s);
int stage_ingest_start(void);
void stage_ingest_stop(void);
void stage_ingest_add(stage *s);
void stage_ingest_remove(stage *s);
/* One RTP packet of track `track` from the stage's source (the ingest thread, or the host's
 * media loop): counted, cached when it belongs to the GOP, sent to every started viewer. */
void stage_packet(stage *s, size_t track, const uint8_t *pkt, size_t len);

/* stage.c helpers used by the fan-out and WHIP. */
void stage_keyframe_request_locked(stage *s);
stage *stage_lookup(uint64_t id); /* new reference or NULL */
/* Makes handle the stage's host from the client's offer (already applied): *answer gets the
 * plugin's answer to complete and send. 0, or a STAGE_ERROR_* with *reason (static). */
int stage_host_start(odeon_plugin_handle *handle, stage *s, json_t **answer, const char **reason);
void stage_host_stop(odeon_plugin_handle *handle);
/* Makes handle a started viewer of s whose client offered: *answer gets the plugin's answer
 * (sendonly), the viewer's m-line/payload-type map is read from it. 0 or STAGE_ERROR_*. */
int stage_viewer_start_answering(odeon_plugin_handle *handle, stage *s, json_t **answer,
                                 const char **reason);
void stage_viewer_stop(odeon_plugin_handle *handle);

/* stage_whip.c: WHIP ingest (RFC 9725) on /whip/<stage>, WHEP egress on /whep/<stage>. */
int stage_whip_start(void);
void stage_whip_stop(void);
void stage_whip_reap(void); /* ends resources whose connection died (ingest thread) */
void stage_whip_hangup(odeon_plugin_handle *handle);
void stage_viewer_send(stage_viewer *v, stage *s, size_t track, const uint8_t *pkt, size_t len);

#endif
