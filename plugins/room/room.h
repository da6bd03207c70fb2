/*
 * room.h - the insides of odeon.plugin.room shared by its files (not a public contract; the
 * plugin's API is docs/room.md).
 *
 * A room is a small SFU: every participant publishes on one handle (a "feed": audio, video,
 * maybe a screen share) and receives the others on a subscriber handle whose single peer
 * connection carries one m-line per stream it subscribed to, renegotiated as feeds come and
 * go. The request shapes are Janus VideoRoom's (multistream, 1.x).
 *
 *   room.c            descriptor, settings, handles, the worker that runs requests, rooms
 *   room_access.c     who may create, join and administer which room (event roles, groups)
 *   room_publisher.c  publisher requests, the feed's media: fan-out, talking, bitrate cap
 *   room_subscriber.c subscriber requests, offers, the per-subscriber rewrite, keyframes
 *   room_sdp.c        what the room reads from its answers (pure)
 *
 * Threads. Requests run one at a time on the plugin's worker thread, which alone changes
 * rooms, participants and subscriptions (so the control path needs no ordering between
 * locks of different rooms). The media path runs on the publishers' media loops: a feed's
 * packets take only that feed's lock (never a global one) while they are rewritten for its
 * subscribers, and are sent after it is released. Lock order: room->lock, then member->lock,
 * then feed->lock, then sub->lock; no lock is held while calling the core.
 *
 * Ownership. A room is refcounted: the rooms table holds one reference, each joined member
 * another. A member (per-handle state) is refcounted: the handle holds one, each queued
 * request another. A feed is refcounted: its member holds one, each subscriber slot fed by
 * it another. A subscriber slot belongs to its subscription; a feed stream lists the slots it
 * feeds (borrowed pointers, added and removed under the feed's lock).
 */
#ifndef ODEON_PLUGIN_ROOM_H
#define ODEON_PLUGIN_ROOM_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <jansson.h>

#include "plugin/plugin.h"
#include "room_sdp.h"
#include "../stage/stage_layers.h"

/* Janus VideoRoom's error codes, so its clients understand ours. */
enum {
    ROOM_ERROR_UNKNOWN = 499,
    ROOM_ERROR_NO_MESSAGE = 421,
    ROOM_ERROR_INVALID_JSON = 422,
    ROOM_ERROR_INVALID_REQUEST = 423,
    ROOM_ERROR_JOIN_FIRST = 424,
    ROOM_ERROR_ALREADY_JOINED = 425,
    ROOM_ERROR_NO_SUCH_ROOM = 426,
    ROOM_ERROR_ROOM_EXISTS = 427,
    ROOM_ERROR_NO_SUCH_FEED = 428,
    ROOM_ERROR_MISSING_ELEMENT = 429,
    ROOM_ERROR_INVALID_ELEMENT = 430,
    ROOM_ERROR_INVALID_SDP_TYPE = 431,
    ROOM_ERROR_PUBLISHERS_FULL = 432,
    ROOM_ERROR_UNAUTHORIZED = 433,
    ROOM_ERROR_ALREADY_PUBLISHED = 434,
    ROOM_ERROR_NOT_PUBLISHED = 435,
    ROOM_ERROR_ID_EXISTS = 436,
    ROOM_ERROR_INVALID_SDP = 437,
};

#define ROOM_FEED_MAX_STREAMS 4 /* m-lines a publisher may send: audio, camera, screen, ... */
#define ROOM_SUB_MAX_SLOTS 64   /* m-lines of one subscriber connection (the core's limit) */
#define ROOM_PACKET_MAX 1500    /* what a feed forwards; bigger RTP is dropped */
#define ROOM_PACKET_ROOM 160    /* room after a packet for SRTP and the extension rewrite */
#define ROOM_KEYFRAME_INTERVAL_US 500000

typedef struct room room;
typedef enum {
    ROOM_BREAKOUT_NONE,
    ROOM_BREAKOUT_DRAFT,
    ROOM_BREAKOUT_RUNNING,
    ROOM_BREAKOUT_ENDED,
} room_breakout_state;
typedef struct room_member room_member;
typedef struct room_feed room_feed;
typedef struct room_sub room_sub;
typedef struct room_slot room_slot;

/* Plugin-wide settings ([general] of room.conf) and the core. */
typedef struct room_settings {
    int max_publishers;          /* default for rooms that do not say */
    uint64_t bitrate;            /* default cap per publisher, bit/s; 0: none */
    int audio_active_packets;    /* audio packets per talking decision */
    int audio_level_average;     /* average -dBov at or under which a member is talking */
    bool notify_joining;         /* "joining" events to the room (organisers are visible) */
    int countdown_seconds;       /* a breakout's countdown event comes this long before its end */
    char *admin_key;             /* needed to create rooms without an event; NULL: admin API */
} room_settings;

extern const odeon_core_callbacks *room_core;
extern room_settings room_conf;
extern const odeon_plugin odeon_plugin_descriptor;

#define ROOM_LOG(level, ...) room_core->log(level, "room", __VA_ARGS__)

/* ---- rooms ---- */

struct room {
    gint refs;
    uint64_t id;
    char *description;
    int max_publishers;
    uint64_t bitrate;      /* cap per publisher, bit/s; 0: none */
    char *audio_codecs;    /* "opus" */
    char *video_codecs;    /* "vp8,h264,vp9" */
    int64_t event_id;      /* 0: not bound to an event */
    int64_t group_id;      /* 0: not a breakout group's room */
    bool is_private;       /* not in "list" for those who may not join it */
    int loop;              /* the media loop its members' connections are created on */
    bool permanent;        /* from room.conf */
    GMutex lock;           /* the fields below */
    room_breakout_state breakout; /* a group's room: its breakout's state and end */
    int64_t ends_at_ms;           /* wall clock, 0: no end */
    bool countdown_sent, end_sent;
    GHashTable *members;   /* participant id -> room_member * (joined publishers; refs) */
    GPtrArray *subs;       /* room_sub * (refs): subscriptions to this room's feeds */
    /* "moderate": identity subject -> set of mids an administrator muted (owned strings), so
     * that a rejoin or a republish does not lift it */
    GHashTable *moderated;
    bool destroyed;
};

room *room_ref(room *r);
void room_unref(room *r);
/* The room of id with a new reference, or NULL. */
room *room_lookup(uint64_t id);
/* A new room in the table (a reference for the caller), or NULL when the id is taken. */
room *room_insert(uint64_t id, json_t *options, bool permanent);
/* Every room (references, freed with the array). */
GPtrArray *room_all(void);
/* Every member's publisher handle (references, the caller unrefs) but `except`. */
GPtrArray *room_handles(room *r, room_member *except);
/* Pushes event to every joined member of r but `except` (NULL: all). */
void room_notify(room *r, room_member *except, json_t *event);
/* Removes r from the table, kicks everyone (destroyed events) and drops the table's ref. */
void room_destroy(room *r);

/* ---- members: the state of each handle ---- */

typedef enum { MEMBER_NONE, MEMBER_PUBLISHER, MEMBER_SUBSCRIBER } room_member_kind;

struct room_member {
    gint refs;
    odeon_plugin_handle *handle; /* reference: requests and hangups may outlive the session */
    GMutex lock;                 /* feed and sub, read by the media callbacks */
    room_member_kind kind;       /* the rest below is the worker's */
    room *room;                  /* reference once joined */
    uint64_t id;                 /* participant id (publishers) */
    uint64_t private_id;
    char *display;
    char *subject;               /* the identity that joined */
    int rank;                    /* its role in the room's event (0: none) */
    room_feed *feed;             /* reference while published */
    room_sub *sub;               /* reference while subscribed */
    bool closing;
};

room_member *room_member_ref(room_member *m);
void room_member_unref(room_member *m);
room_member *room_member_of(odeon_plugin_handle *handle); /* borrowed */

/* ---- requests ---- */

/* One request on its way through the worker. */
typedef struct room_call {
    odeon_plugin_handle *handle; /* reference */
    room_member *member;         /* reference */
    char *transaction;
    json_t *body;
    json_t *jsep; /* NULL or a reference */
    /* Set by the database's answers to a join. */
    bool group_loaded; /* the group's room was looked up */
    int verdict;       /* 0 not asked, 1 a member of the group, 2 not one (or no answer) */
} room_call;

/* Answers the request with event (and jsep), both borrowed. */
void room_reply(room_call *c, json_t *event, json_t *jsep);
/* Answers with {"videoroom": "event", "error_code", "error"} and logs it once. */
void room_fail(room_call *c, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* Queues the call again for the worker (after a database answer). Takes c. */
void room_call_resume(room_call *c);
void room_call_free(room_call *c);

/* A positive integer id at key (JSON integer, or a string of digits: Janus's string_ids). */
bool room_body_id(json_t *body, const char *key, uint64_t *out);

/* ---- access (room_access.c) ---- */

/* Whether the handle may administer room r (destroy, kick) or create rooms in event_id. */
bool room_may_administer(odeon_plugin_handle *handle, int64_t event_id, json_t *body);
/* Decides a join: 0 allowed, a ROOM_ERROR_* with reason, or 1 when the database must say
 * (the call was handed to it and comes back through room_call_resume with c->verdict). Sets
 * the member's subject and rank. */
int room_may_join(room_call *c, room *r, const char **reason);
/* The room of a breakout group not created on this node yet: 1 when the database was asked
 * (the room is created from its answer and the call resumed), 0 when there is none. */
int room_load_group(room_call *c, uint64_t id);

/* ---- breakouts (room_breakout.c): a group room follows its breakout's timing ---- */

/* Listens to NOTIFY breakout; false without a database (group rooms then never end). */
bool room_breakout_start(void);
/* The state from a breakout row's text ("draft", "running", "ended"). */
room_breakout_state room_breakout_state_of(const char *text);
/* Sets a group room's timing (from the database) and tells its members what changed. */
void room_breakout_update(room *r, room_breakout_state state, int64_t ends_at_ms);
/* Once a second on the worker: countdowns and ends. */
void room_breakout_tick(void);
/* {"state", "ends_at"} of a group room for "joined", or NULL. New reference. */
json_t *room_breakout_json(room *r);

/* ---- publishers (room_publisher.c) ---- */

#define ROOM_RING_VIDEO 64 /* about 1 s of a 500 kbit/s camera */
#define ROOM_RING_AUDIO 32
#define ROOM_ENTRY_BYTES (ROOM_PACKET_MAX + 32) /* the rewritten extension block may grow it */

typedef struct room_ring_entry {
    uint16_t len;
    int8_t substream; /* simulcast layer (0 without simulcast) */
    int64_t arrival_us;
    uint8_t data[ROOM_ENTRY_BYTES] __attribute__((aligned(16)));
} room_ring_entry;

struct room_feed {
    gint refs;
    GMutex lock; /* streams' slots and state; taken per packet on the publisher's loop */
    uint64_t id;
    room *room;                  /* borrowed: the member keeps the room alive */
    odeon_plugin_handle *handle; /* reference */
    char *display;               /* for subscribers' stream lists (immutable copy) */
    int stream_count;
    struct room_feed_stream {
        room_sdp_media media;
        char *description; /* "camera", "screen"..., or NULL */
        bool muted;        /* the publisher said send: false */
        bool moderated;    /* an administrator muted it ("moderate"): nothing is forwarded */
        bool layered;      /* VP8, VP9 or H.264: rewritten with stage_layers */
        stage_layer_codec codec;
        stage_layer_stats stats; /* the layers it sends (publisher's loop) */
        GPtrArray *slots;        /* room_slot * fed by this stream (borrowed) */
        int64_t last_keyframe_request_us;
        /* The last packets, as subscribers get them (extensions rewritten): written by the
         * publisher's loop, read by each subscriber's drain on its own loop. */
        room_ring_entry *ring;
        uint32_t ring_size; /* a power of two */
        uint64_t head;      /* packets written so far; entry head % ring_size is next */
    } streams[ROOM_FEED_MAX_STREAMS];
    bool active; /* false once unpublished: nothing more is forwarded */
    /* Talking detection (publisher's loop). */
    int audio_packets, audio_level_sum;
    bool talking;
    uint64_t bitrate; /* the publisher's own cap (configure), 0: the room's */
    int64_t last_remb_us;
};

room_feed *room_feed_ref(room_feed *f);
void room_feed_unref(room_feed *f);
/* The feed's entry in "publishers" lists. New reference. */
json_t *room_feed_json(room_feed *f);

void room_publisher_join(room_call *c, room *r);
void room_publisher_publish(room_call *c);
void room_publisher_configure(room_call *c);
void room_publisher_unpublish(room_call *c);
/* "moderate" (the worker's): mutes or releases member id's stream mid in r, now and whenever
 * its identity publishes in r again; the room hears "muted" with "moderated". */
void room_publisher_moderate(room *r, uint64_t id, const char *mid, bool mute);
/* Leaves the room (unpublishing first); reply: tell the member itself. */
void room_publisher_leave(room_member *m, bool reply_event);
/* The feed stops: subscribers drop its streams (renegotiating), others hear "unpublished". */
void room_publisher_stop_feed(room_member *m);
void room_publisher_rtp(room_member *m, odeon_media_packet *packet);

/* ---- subscribers (room_subscriber.c) ---- */

struct room_slot {
    room_sub *sub;     /* borrowed: the sub owns its slots */
    int mindex;        /* the m-line (mid is its decimal text) */
    bool video;
    room_feed *feed;   /* reference; NULL when the m-line is inactive */
    int feed_stream;   /* index into feed->streams */
    room_sdp_media media; /* the stream it carries, or carried last (an inactive m-line's) */
    uint32_t ssrc;     /* ours on this m-line (from our offer): the subscriber's PLIs name it */
    room_feed *attached; /* the feed whose ring this slot reads (atomic; set under its lock) */
    /* Under feed->lock from here: */
    uint64_t pos;      /* the next ring entry to read */
    bool pos_valid;    /* pos is set (the first drain after attaching sets it to the head) */
    bool ready;        /* the subscriber's answer covers this m-line */
    bool send;         /* the subscriber's "send" (configure) */
    stage_layer_viewer layers; /* layered video */
    int64_t last_retarget_us;
    bool audio_started, audio_restart;
    uint16_t seq_off, last_seq;
    uint32_t ts_off, last_ts;
};

struct room_sub {
    gint refs;
    GMutex lock; /* slots[] pointers, read by the subscriber's RTCP callback */
    room_member *member;          /* borrowed */
    odeon_plugin_handle *handle;  /* reference */
    room *room;                   /* reference */
    room_slot *slots[ROOM_SUB_MAX_SLOTS];
    int slot_count;
    bool offered;   /* an offer went out (the worker's, as the two below) */
    bool awaiting;  /* our last offer is not answered yet ("start" brings the answer) */
    bool pending;   /* the streams changed meanwhile: offer again once it is answered */
    uint64_t estimate_bps; /* per video slot, from the subscriber's estimate (atomic) */
    /* The drain: runs on the subscriber connection's media loop when a feed it reads wrote
     * packets (wakes coalesce), reads every slot's new ring entries and sends them in one
     * batch (one sendmmsg on that loop). */
    odeon_media_wake wake;
    gint loop; /* the connection's media loop, -1 before it has one (atomic) */
};

room_sub *room_sub_ref(room_sub *s);
void room_sub_unref(room_sub *s);

void room_subscriber_join(room_call *c, room *r);
void room_subscriber_subscribe(room_call *c);
void room_subscriber_unsubscribe(room_call *c);
void room_subscriber_update(room_call *c);
void room_subscriber_switch(room_call *c);
void room_subscriber_start(room_call *c);
void room_subscriber_pause(room_call *c);
void room_subscriber_configure(room_call *c);
void room_subscriber_leave(room_member *m, room_call *c);
/* A feed went: every subscription of r drops its slots and renegotiates. Worker thread. */
void room_subscribers_feed_gone(room *r, room_feed *f);
/* The drain (sub->wake's function, on the subscription's loop). */
void room_sub_drain(void *data);
/* Waits (up to 2 s) until no drain is queued on any loop: before the plugin goes. */
void room_subscribers_quiesce(void);
/* Wakes the drain of each subscription in subs (room_sub *, references taken by the caller:
 * each is kept by a queued wake or dropped here). Any thread, no lock held. */
void room_subscribers_wake(room_sub **subs, int n);
void room_subscriber_rtcp(room_member *m, odeon_media_packet *packet);

#endif
