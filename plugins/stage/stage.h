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
 * Files: stage.c (descriptor, requests, viewers), stage_source.c (RTP ingest), stage_fanout.c
 * (the packet ring and the per-loop fan-out), stage_whip.c (WHIP and WHEP).
 *
 * Fan-out: the source's packets go into the stage's ring (stage_packet, one copy); viewers are
 * grouped by the media loop that owns their connection, and each group is woken once per
 * burst on its loop, where it rewrites, protects and sends the new packets to each of its
 * viewers in batches (one sendmmsg per viewer and batch). So a packet crosses threads once per
 * loop, not once per viewer, and every core sends to its own share of the viewers.
 */
#ifndef ODEON_PLUGIN_STAGE_H
#define ODEON_PLUGIN_STAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "plugin/plugin.h"
#include "stage_layers.h"

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
    /* UDP ports of the RTP source, 0: none; a simulcast source (Janus's videoport,
     * videoport2, videoport3) sends its substreams to ports[0..2], lowest quality first. */
    uint16_t ports[STAGE_LAYERS_MAX];
    uint8_t pt;
    char codec[16];     /* "opus", "VP8", ... */
    uint32_t clock_rate;
    char *fmtp;         /* may be NULL */
    int sockets[STAGE_LAYERS_MAX]; /* -1 when closed */
    bool simulcast; /* several substreams (ports[1..], or a relayed simulcast track) */
} stage_track;

#define STAGE_MAX_TRACKS 2

struct stage_group;

/* What a viewer was sent of its video lately, so that its NACKs are answered from the stage's
 * ring (one copy of each packet for every viewer) instead of a copy per viewer in the core:
 * the ring slot, and the bytes this viewer's rewrite changed (the fixed RTP header, and the
 * VP8 PictureID and TL0PICIDX within the first bytes of the payload descriptor); the rest of
 * the packet is the slot's. Written by the group's drain and read by the NACK callback, both
 * on the viewer's media loop. */
#define STAGE_SENT_ENTRIES 256u          /* a power of two; about 2 s of 1 Mbit/s video */
#define STAGE_SENT_DESC 6u               /* VP8: flags, X, PictureID (2), TL0PICIDX, TID/K */
#define STAGE_RETRANSMIT_MAX_AGE_US 1000000 /* older packets are of no use to a decoder */

typedef struct stage_sent_entry {
    guint64 index; /* 1 + ring index; 0: empty */
    gint64 sent_us;
    uint16_t seq, len, desc_off;
    int8_t mindex;
    uint8_t desc_len;
    uint8_t header[12];
    uint8_t desc[STAGE_SENT_DESC];
} stage_sent_entry;

typedef struct stage_sent_history {
    struct stage *stage; /* reference: the ring the entries point into */
    stage_sent_entry entries[STAGE_SENT_ENTRIES];
} stage_sent_history;

/* A viewer: one handle watching one stage. Refcounted (the handle data, the stage's viewer
 * list and its loop group each hold one). Fields change under the stage's lock and, while the
 * viewer is in a group, also under the group's lock (the group's loop reads them with only
 * that one). */
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
    struct stage *monitoring;    /* the stage whose viewer counts it gets (reference), or NULL;
                                  * under membership_lock */
    gint64 joined_us;            /* wall clock of its media going up, 0: not joined */
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
    unsigned loop;               /* media loop of the connection (from setup_media) */
    struct stage_group *group;   /* the group it is in, NULL: none */
    uint64_t video_from;         /* ring index: older video is not for this viewer */
    /* Layered video (VP8, VP9, H.264: see stage_layers.h): which substream or SVC layers it
     * gets and the rewriting that hides the switches. */
    stage_layer_viewer layer;
    int prefer_quality, prefer_temporal; /* "configure": 0..2, -1 best */
    gint64 up_us;                /* monotonic time its media went up */
    gint64 last_retarget_us;
    stage_sent_history *sent;    /* allocated at its first video packet; its loop only */
} stage_viewer;

/* The stage's recent packets: one writer at a time (the source, under the stage's lock), read
 * by every loop group. A reader re-checks head after copying a slot, since the writer may have
 * come round and overwritten it meanwhile (a loop a whole ring behind). The ring also holds
 * the GOP: a joiner starts its video at the last keyframe still in it. Slots are allocated once
 * per stage; pages the stage never reaches cost nothing. */
#define STAGE_RING_SLOTS 4096u /* a power of two: 25 s of a 1 Mbit/s stream */
#define STAGE_SLOT_BYTES 1500u
#define STAGE_SLOT_KEYFRAME 0x01 /* the first packet of a keyframe */
/* A reader that fell this far behind skips ahead rather than read slots about to be reused. */
#define STAGE_RING_SAFE (STAGE_RING_SLOTS - 256u)
#define STAGE_RING_MASK (STAGE_RING_SLOTS - 1u)

typedef struct stage_slot {
    uint16_t len;
    uint8_t track;
    uint8_t flags;
    int8_t substream; /* simulcast substream of a video packet, 0 otherwise */
    uint8_t data[STAGE_SLOT_BYTES];
} stage_slot;

typedef struct stage_ring {
    stage_slot *slots;
    guint64 head; /* packets written so far (atomic) */
    /* Per substream, 1 + index of the first packet of its last keyframe; 0: none (atomic). */
    guint64 video_start[STAGE_LAYERS_MAX];
} stage_ring;

/* The viewers of one stage whose connections live on one media loop. Owned by the stage. */
typedef struct stage_group {
    struct stage *stage; /* the owner */
    unsigned loop;
    GMutex lock;         /* viewers, next, and the send state of its viewers */
    GPtrArray *viewers;  /* stage_viewer * (references) */
    gint count;          /* viewers->len, for the writer (atomic) */
    guint64 next;        /* next ring index to send */
    guint64 overruns;    /* packets skipped because the loop fell a ring behind */
    odeon_media_wake wake;
} stage_group;

/* A stage. Refcounted: the registry and each viewer hold references. */
typedef struct stage {
    gint refs;
    uint64_t id;
    char *description;
    char *pin;    /* viewers must give it; NULL: none */
    char *secret; /* to destroy it; NULL: none */
    char *event;  /* the event it belongs to (tickets' id): rights by role; NULL: none */
    stage_track tracks[STAGE_MAX_TRACKS];
    size_t track_count;
    GMutex lock;          /* viewers, the ring's writer side */
    GPtrArray *viewers;   /* stage_viewer * (references) */
    stage_ring ring;
    stage_group *groups;  /* one per media loop, fixed at creation */
    unsigned group_count;
    gint keyframe_wanted; /* a loop asks the writer to request a keyframe (atomic) */
    bool layered;         /* video goes through stage_layers (VP8, VP9, H.264) */
    stage_layer_codec layer_codec;
    GMutex stats_lock;    /* layer_stats (a leaf lock: the writer feeds, loops read) */
    stage_layer_stats layer_stats;
    guint64 oversize;     /* packets too long for a slot, dropped; under lock */
    odeon_plugin_handle *host; /* the WebRTC publisher (reference), NULL: none; under lock */
    gint64 last_keyframe_request_us; /* coalesces viewers' PLIs to the host; under lock */
    gint64 last_video_us; /* for "info" */
    gint64 last_audio_us;
    guint64 packets_in;
    GPtrArray *monitors;  /* odeon_plugin_handle * (references): viewer counts go to them */
    struct relay_uplink *uplink; /* a relay's stage: the link that feeds it (set once) */
    gint downlinks;              /* relays fed from this stage (atomic) */
    guint64 bytes_in;            /* under lock */
    guint64 report_bytes;        /* bytes_in at the last load report; under lock */
    gint64 report_us;
    bool counts_dirty;    /* the viewer count changed since the last push; under lock */
    gint64 last_count_push_us; /* under lock */
} stage;

stage *stage_ref(stage *s);
void stage_unref(stage *s);
/* A new stage (one reference) with no tracks; stage_register makes it visible once its
 * tracks are set; stage_unregister ends it (viewers told, connections closed). */
stage *stage_new(uint64_t id);
int stage_register(stage *s, char **error);
void stage_unregister(stage *s);

/* stage_source.c: ingest thread. */
int stage_source_open(stage *s, char **error);
void stage_source_close(stage *s);
int stage_ingest_start(void);
void stage_ingest_stop(void);
void stage_ingest_add(stage *s);
void stage_ingest_remove(stage *s);

/* stage_fanout.c. One RTP packet of track `track` (video: of simulcast substream `substream`,
 * else 0) from the stage's source (the ingest thread, or the host's media loop): counted,
 * written to the ring, and each loop with viewers woken. */
void stage_packet(stage *s, size_t track, int substream, const uint8_t *pkt, size_t len);
/* The two halves of stage_packet, for a writer that has several packets at hand (the ingest
 * thread draining a socket): store each (false when the packet was refused), then wake the
 * loops once, so that the readers take the burst in one drain and one send per viewer. */
bool stage_packet_store(stage *s, size_t track, int substream, const uint8_t *pkt, size_t len);
void stage_wake_loops(stage *s);
/* The ring and one group per loop (stage_new), and their release (the last stage_unref). */
void stage_fanout_init(stage *s, unsigned loops);
void stage_fanout_free(stage *s);
/* Once the tracks are known (before the stage is registered): layered video or not. */
void stage_fanout_configure(stage *s);
/* Until a viewer's first estimate (for at most STAGE_INITIAL_ESTIMATE_US after its media went
 * up), layers are chosen as if it had this much (stage.conf [general] initial_estimate_kbps):
 * a joiner starts on a layer most links carry instead of the best one. A viewer that sends no
 * estimate at all then gets the best layer its preference allows. */
#define STAGE_INITIAL_ESTIMATE_US (2 * G_USEC_PER_SEC)
extern guint64 stage_initial_estimate_bps;
/* Waits (up to 2 s) until no drain is queued on any loop: before the plugin goes. */
void stage_fanout_quiesce(void);
/* Puts a viewer whose connection is up into its loop's group, or takes it out (both with the
 * stage's lock). */
void stage_group_add_locked(stage *s, stage_viewer *v);
void stage_group_remove_locked(stage_viewer *v);
/* A viewer's send state, for request threads: its group's lock when it is in one. */
void stage_viewer_lock(stage_viewer *v);
void stage_viewer_unlock(stage_viewer *v);
stage_viewer *stage_viewer_ref(stage_viewer *v);
void stage_viewer_unref(stage_viewer *v);
/* The video packet sent to v on m-line mindex as seq, rebuilt from the ring into buf (cap
 * bytes): its length, or 0 when it is unknown, older than STAGE_RETRANSMIT_MAX_AGE_US or no
 * longer in the ring. On v's media loop (the plugin's retransmit_rtp). */
size_t stage_sent_lookup(stage_viewer *v, int mindex, uint16_t seq, gint64 now, uint8_t *buf,
                         size_t cap);
void stage_sent_free(stage_viewer *v);

/* stage.c helpers used by the fan-out and WHIP. */
/* Pushes changed viewer counts to each stage's monitors and host (at most once a second per
 * stage; the ingest thread calls it on every wake-up). */
void stage_counts_flush(void);
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

/* A request being handled (borrowed for the call). */
typedef struct stage_request {
    odeon_plugin_handle *handle;
    const char *transaction;
    json_t *body;
    json_t *jsep;
} stage_request;

json_t *stage_error_event(int code, const char *reason);
/* Pushes event (and jsep) to the request's handle (both consumed): the request's answer. */
odeon_plugin_result stage_async_reply(stage_request *r, json_t *event, json_t *jsep);
/* The rest of a "watch" once stage s (consumed) is known on this node. */
odeon_plugin_result stage_watch_stage(stage_request *r, stage *s);
/* Viewers on this node (every stage), for capacity and the node's load. */
guint stage_viewers_total(void);
/* What this node sends, in bit/s: each stage's input rate times its viewers and downstream
 * relays (measured since the previous call). */
guint64 stage_out_bps(gint64 now);

/* stage_place.c: placement among relay nodes. "watch" with "placement": true (or on a full
 * node) asks where the viewer should watch and answers "redirect" when it is another node;
 * a stage this relay lacks comes from upstream first. "placement" only asks. */
odeon_plugin_result stage_watch_placed(stage_request *r, uint64_t id);
odeon_plugin_result stage_placement(stage_request *r, uint64_t id);
/* The node report (viewers, bit rate out, links), at most once a second. */
void stage_report_load(void);

/* stage_access.c: rights in a stage bound to an event, by the session's role in it
 * ("participant" < "host" < "organiser" < "owner"). */
bool stage_event_role_at_least(odeon_plugin_handle *handle, const char *event, const char *min);
bool stage_event_id_valid(const char *event);

/* stage_whip.c: WHIP ingest (RFC 9725) on /whip/<stage>, WHEP egress on /whep/<stage>. */
int stage_whip_start(void);
void stage_whip_stop(void);
void stage_whip_reap(void); /* ends resources whose connection died (ingest thread) */
void stage_whip_hangup(odeon_plugin_handle *handle);

#endif
