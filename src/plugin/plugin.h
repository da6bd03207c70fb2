/*
 * plugin.h - the versioned contract between the Odeon core and its plugins.
 *
 * A plugin is a shared object (odeon_<name>.so) exporting one symbol, ODEON_PLUGIN_SYMBOL, that
 * points at a const odeon_plugin descriptor. The core checks the descriptor's ABI version and
 * size before using anything else in it, then calls init() with the table of core callbacks.
 * This header, util-free and glib-free, is the only one a plugin needs besides jansson.
 *
 * Threads: handle_message, create_session and query_session run on a core transport thread;
 * they must not block (answer ODEON_PLUGIN_OK_WAIT and push the event later from your own thread
 * instead). Media callbacks (setup_media, incoming_rtp/rtcp, hangup_media) run on the media
 * loop thread that owns the handle's peer connection. destroy_session may run on any core
 * thread. The core never calls a plugin while holding one of its own locks, and every callback
 * in odeon_core_callbacks may be called from any thread.
 *
 * Ownership: JSON passed *to* a plugin is borrowed for the duration of the call (json_incref it
 * to keep it). JSON the plugin returns in an odeon_plugin_result is owned by the core. JSON a
 * plugin passes to a core callback stays the plugin's, but the core may keep its own reference
 * to it: never modify such an object after passing it (build a new one instead).
 */
#ifndef ODEON_PLUGIN_PLUGIN_H
#define ODEON_PLUGIN_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A different major is refused; a newer minor than the core's is refused. Adding a field at the
 * end of a struct bumps the minor; changing or removing one bumps the major. */
#define ODEON_PLUGIN_ABI_MAJOR 1
#define ODEON_PLUGIN_ABI_MINOR 8

/* The exported symbol: `const odeon_plugin odeon_plugin_descriptor = { ... };` (see
 * ODEON_PLUGIN_DESCRIPTOR_INIT for the three version fields). */
#define ODEON_PLUGIN_SYMBOL "odeon_plugin_descriptor"
#define ODEON_PLUGIN_DESCRIPTOR_INIT \
    .abi_major = ODEON_PLUGIN_ABI_MAJOR, .abi_minor = ODEON_PLUGIN_ABI_MINOR, \
    .struct_size = sizeof(struct odeon_plugin)

/* Error codes used across the contract: 0 is success, negatives are these. */
enum {
    ODEON_OK = 0,
    ODEON_EINVAL = -1,   /* bad argument */
    ODEON_ENOENT = -2,   /* no such thing (session, handle, route...) */
    ODEON_EGONE = -3,    /* the handle was detached/destroyed: the call did nothing */
    ODEON_ENOTCONN = -4, /* no peer connection (or not yet up) for media calls */
    ODEON_EEXIST = -5,   /* already registered */
    ODEON_ENOMEM = -6,
    ODEON_EPERM = -7,    /* not authorised */
    ODEON_EIO = -8,      /* transport or system failure */
    ODEON_ENOTSUP = -9,  /* not supported by this core */
};

/* The core's handle as a plugin sees it: opaque. The core keeps it alive at least until
 * destroy_session returns; a plugin that keeps using it from its own threads after that takes a
 * reference with handle_ref. Calls on a handle that was destroyed return ODEON_EGONE. */
typedef struct odeon_plugin_handle odeon_plugin_handle;

/* Who a session is, as resolved by the auth provider from the session's token. Owned by the
 * core (refcounted inside), valid while the handle is. Fields never change once published. */
typedef struct odeon_identity {
    const char *subject;      /* stable id: "participant:42", "organiser:7", or a static name */
    const char *display_name; /* may be NULL */
    const char *organisation; /* may be NULL */
    const char *provider;     /* "static", "tickets", ... */
    json_t *claims;           /* provider-specific (e.g. roles per event); may be NULL */
} odeon_identity;

/* One RTP or RTCP packet as delivered to or sent by a plugin. The buffer is borrowed for the
 * call; the media path never allocates per packet.
 *
 * substream (ABI 1.3) is the simulcast layer of an incoming RTP packet: 0..2 on an m-line the
 * publisher simulcasts (rid style, a=simulcast, or SSRC style, a=ssrc-group:SIM), -1 otherwise
 * and on RTCP. The index is the layer's place in the publisher's a=simulcast send list (or SIM
 * group), NOT a quality order: browsers list layers low-to-high or high-to-low as they please,
 * so a plugin ranks them itself (by resolution or bitrate). RTX is already unwrapped onto its
 * layer's SSRC. The core fills substream only in packets it delivers; it never reads it from a
 * packet a plugin passes in (a plugin built for ABI 1.2 has no such field). */
typedef struct odeon_media_packet {
    uint8_t *data;       /* plain (decrypted) RTP/RTCP; 4-byte aligned */
    size_t len;
    size_t capacity;     /* bytes writable at data: len + 148 at least to relay (SRTP room) */
    int mindex;          /* m-line index the packet belongs to, -1 if unknown */
    bool video;
    uint64_t arrival_us; /* monotonic arrival time, 0 for outgoing */
    int substream;       /* ABI 1.3: simulcast layer (see above), -1 without simulcast */
} odeon_media_packet;

/* A wake-up a plugin embeds in its own structure to have fn(data) run on a media loop
 * (media_loop_wake): waking one that is already pending does nothing, so a source that wakes a
 * loop for every packet costs one run per loop iteration, and nothing is allocated. The plugin
 * sets fn and data and zeroes the rest; the struct must stay valid while it is pending (take a
 * reference when media_loop_wake returns 1, drop it in fn). pending is cleared just before fn
 * runs, so a wake during fn runs fn again. */
typedef struct odeon_media_wake {
    void (*fn)(void *data);
    void *data;
    struct odeon_media_wake *next; /* the core's */
    int pending;                   /* the core's */
} odeon_media_wake;

/* ---- plain HTTP routes under the API port (WHIP, WHEP, public GET endpoints) ---- */

/* A request received on a registered route. Owned by the core until the plugin answers it with
 * http_respond (exactly once, from any thread); after that the pointer is invalid. If the client
 * goes away first, the core keeps the object alive until http_respond, which then does nothing.*/
typedef struct odeon_http_request odeon_http_request;

/* Runs on the transport thread; must not block. */
typedef void (*odeon_http_handler)(odeon_http_request *req, void *user_data);

/* ---- what a plugin answers to a message ---- */
typedef enum {
    ODEON_PLUGIN_OK,      /* synchronous reply: "success" with plugindata.data = content */
    ODEON_PLUGIN_OK_WAIT, /* "ack" now (with optional hint); an "event" with the transaction follows */
    ODEON_PLUGIN_ERROR,   /* Janus error 462 ("plugin message") with error_text as reason */
} odeon_plugin_result_kind;

typedef struct odeon_plugin_result {
    odeon_plugin_result_kind kind;
    json_t *content;  /* OK: the reply data, owned by the core afterwards (NULL -> {}) */
    char *hint;       /* OK_WAIT: optional, malloc'ed (free()d by the core) */
    char *error_text; /* ERROR: malloc'ed (free()d by the core) */
    json_t *jsep;     /* OK: optional jsep in the reply, owned by the core afterwards */
} odeon_plugin_result;

/* Log levels for the log callback. */
typedef enum {
    ODEON_LOG_ERROR = 1,
    ODEON_LOG_WARN = 2,
    ODEON_LOG_INFO = 3,
    ODEON_LOG_VERBOSE = 4,
    ODEON_LOG_DEBUG = 5,
} odeon_log_level;

struct odeon_plugin;

/* Auth provider a plugin (e.g. tickets) may register to replace the static-token provider.
 * resolve() runs on a transport thread and must not block: it answers from memory or a cache.
 * It returns 0 and a new identity (freed by the core with identity_free) or ODEON_EPERM. */
typedef struct odeon_auth_provider {
    const char *name;
    int (*resolve)(void *user_data, const char *token, odeon_identity **out);
    void (*identity_free)(void *user_data, odeon_identity *identity);
    void *user_data;
    /* ABI 1.6 (read only from a plugin built for 1.6 or later): the identity's role in
     * event_id: a static string "owner", "organiser", "host" or "participant", or NULL (none).
     * Runs on any thread and must not block. */
    const char *(*event_role)(void *user_data, const odeon_identity *identity,
                              const char *event_id);
} odeon_auth_provider;

/* ABI 1.6: a statement's result rows, borrowed for the callback (see db_query). */
typedef struct odeon_db_rows odeon_db_rows;
/* rows is NULL and error set when the statement failed (server error, lost connection). */
typedef void (*odeon_plugin_db_done_fn)(const odeon_db_rows *rows, const char *error,
                                        void *user_data);
/* payload NULL: notifications may have been missed (the listener reconnected, or the LISTEN
 * of a channel just added is now in place): re-read what the channel tells about. */
typedef void (*odeon_plugin_db_notify_fn)(const char *channel, const char *payload,
                                          void *user_data);

/* ABI 1.7: an event from the bus (see events_subscribe). envelope is borrowed:
 * {"type", "timestamp", "emitter", ["session_id"], ["handle_id"], "event"}, as event handlers
 * get it (docs/architecture.md, "Event bus"). Runs on the bus thread. */
typedef void (*odeon_plugin_event_fn)(json_t *envelope, void *user_data);

/* The core's side of the contract, handed to init(). Every function is safe from any thread. */
/* This node of the cluster (ABI 1.5). role: "standalone", "origin" or "relay". */
typedef struct odeon_node_info {
    const char *id;
    const char *role;
    const char *public_url; /* where clients reach this node's API (no trailing '/') */
    const char *upstream;   /* a relay's upstream node URL, else NULL */
    unsigned capacity;      /* viewers; 0: no limit */
} odeon_node_info;

/* A placement's answer: the node (id and public URL, borrowed for the call), or error. Runs
 * once, on the core's main thread or before node_place returns. */
typedef void (*odeon_node_place_fn)(const char *node_id, const char *url, const char *error,
                                    void *user_data);

typedef struct odeon_core_callbacks {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;

    /* Queue an asynchronous "event" to the handle's client (transaction may be NULL). event and
     * jsep are borrowed. Returns 0, ODEON_EGONE, or ODEON_EINVAL for a malformed jsep. */
    int (*push_event)(odeon_plugin_handle *handle, const char *transaction, json_t *event,
                      json_t *jsep);

    /* Send media to the handle's peer; data is protected in place (see capacity) and sent. */
    int (*relay_rtp)(odeon_plugin_handle *handle, odeon_media_packet *packet);
    int (*relay_rtcp)(odeon_plugin_handle *handle, odeon_media_packet *packet);

    /* Tear down the handle's peer connection (a "hangup" event follows if one existed). */
    void (*close_pc)(odeon_plugin_handle *handle);

    /* Detach the handle from the plugin side: destroy_session runs, the client gets
     * "detached". */
    void (*end_session)(odeon_plugin_handle *handle);

    /* Publish a plugin event on the event bus (borrowed; handle may be NULL). */
    void (*notify_event)(const struct odeon_plugin *plugin, odeon_plugin_handle *handle,
                         json_t *event);
    bool (*events_enabled)(void);

    /* The identity of the handle's session, or NULL for an anonymous session. Borrowed. */
    const odeon_identity *(*identity)(odeon_plugin_handle *handle);

    /* Per-handle plugin state. */
    void (*set_handle_data)(odeon_plugin_handle *handle, void *data);
    void *(*get_handle_data)(odeon_plugin_handle *handle);
    uint64_t (*handle_id)(odeon_plugin_handle *handle);
    uint64_t (*session_id)(odeon_plugin_handle *handle);
    odeon_plugin_handle *(*handle_ref)(odeon_plugin_handle *handle);
    void (*handle_unref)(odeon_plugin_handle *handle);

    /* Plain HTTP routes on the API port: every request whose path starts with path_prefix
     * (e.g. "/whip/") and is not the Janus base path goes to handler. */
    int (*http_route_add)(const struct odeon_plugin *plugin, const char *path_prefix,
                          odeon_http_handler handler, void *user_data);
    void (*http_route_remove)(const struct odeon_plugin *plugin, const char *path_prefix);
    const char *(*http_request_method)(odeon_http_request *req);
    const char *(*http_request_path)(odeon_http_request *req);  /* without the query */
    const char *(*http_request_query)(odeon_http_request *req); /* may be "" */
    /* Header value (case-insensitive name, without ':'), or NULL. */
    const char *(*http_request_header)(odeon_http_request *req, const char *name);
    const uint8_t *(*http_request_body)(odeon_http_request *req, size_t *len);
    /* headers: NULL or a NULL-terminated array of "Name: value" strings. */
    int (*http_respond)(odeon_http_request *req, int status, const char *content_type,
                        const void *body, size_t len, const char *const *headers);

    /* Replace the static-token auth provider (the table must outlive the plugin). */
    int (*auth_provider_register)(const struct odeon_plugin *plugin,
                                  const odeon_auth_provider *provider);

    void (*log)(odeon_log_level level, const char *module, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

    /* ---- ABI 1.1: SDP and feedback helpers (check struct_size before use) ---- */

    /* An answer to the offer the handle's client sent last, as a new jsep object to pass to
     * push_event (which adds ICE, DTLS and candidates). options (borrowed, may be NULL):
     * {"audio": bool, "video": bool (default true: accept the kind), "audio_codec",
     * "video_codec": "vp8,h264" (preference; default: the offer's order), "audio_direction",
     * "video_direction": "sendrecv"|"sendonly"|"recvonly"|"inactive" (what the plugin wants),
     * "simulcast": bool (accept rid/simulcast)}. NULL when there is no offer or no common
     * codec. Payload types are the offerer's. */
    json_t *(*jsep_answer)(odeon_plugin_handle *handle, json_t *options);
    /* An offer Odeon makes (subscriber direction): options {"streams": [{"kind": "audio" |
     * "video", "codec": "opus"|"VP8"|..., "pt": n, "clock_rate": n, "fmtp": "...",
     * "rtx_pt": n, "direction": "sendonly", "stream_id": "token"}]}, 1 to 64 streams; m-line
     * i gets mid "i". stream_id (letters, digits, '-', '_') groups m-lines into one
     * MediaStream at the peer (default: all in "odeon"). A re-offer on a connection keeps
     * the SSRCs of the mids it had, so the plugin keeps m-line order and marks streams that
     * went "inactive" rather than removing them. A new jsep object, or NULL. */
    json_t *(*jsep_offer)(odeon_plugin_handle *handle, json_t *options);
    /* Ask the handle's peer for a keyframe on m-line mindex (-1: its first video): PLI, or FIR
     * where only that was negotiated. */
    int (*request_keyframe)(odeon_plugin_handle *handle, int mindex);
    /* Tell the handle's peer to send at most bitrate bps of video (REMB). */
    int (*send_remb)(odeon_plugin_handle *handle, uint64_t bitrate);

    /* ---- ABI 1.2: handles for clients that speak plain HTTP (WHIP, WHEP) ---- */

    /* A new handle of this plugin in a session of its own that never times out (its events
     * go nowhere); the plugin's create_session runs. Returns a reference, or NULL. */
    odeon_plugin_handle *(*handle_create)(const struct odeon_plugin *plugin,
                                          const char *opaque_id);
    /* Applies an SDP offer or answer from such a client as the Janus API would (borrowed
     * {"type","sdp"}). 0, or a Janus error code (465 invalid SDP, 469...) with *reason
     * (free() it). */
    int (*handle_remote_jsep)(odeon_plugin_handle *handle, json_t *jsep, char **reason);
    /* Completes the plugin's own jsep (ICE, DTLS, every candidate) and returns it (new
     * reference), waiting for candidate gathering; NULL on failure. */
    json_t *(*handle_complete_jsep)(odeon_plugin_handle *handle, json_t *jsep);
    /* Ends a handle from handle_create and its session (hangup_media and destroy_session run).
     * The caller's reference is not dropped. */
    void (*handle_destroy)(odeon_plugin_handle *handle);

    /* ---- ABI 1.3: fan-out on the media loops ---- */

    /* How many media loops (threads) carry peer connections; indices are 0..count-1. */
    unsigned (*media_loop_count)(void);
    /* The loop of the handle's peer connection (its media callbacks run there), or -1 when it
     * has none. A connection stays on its loop for its whole life. */
    int (*handle_media_loop)(odeon_plugin_handle *handle);
    /* Queues wake on loop (see odeon_media_wake). 1 when queued now, 0 when it was pending
     * already, ODEON_EINVAL for a bad loop. */
    int (*media_loop_wake)(unsigned loop, odeon_media_wake *wake);
    /* relay_rtp for n packets at once: one lookup and lock of the connection, and on the
     * connection's own loop thread one sendmmsg for them all where the selected pair is plain
     * UDP. Returns how many were sent, or a negative error. */
    int (*relay_rtp_batch)(odeon_plugin_handle *handle, odeon_media_packet *packets, size_t n);
    /* What the core estimates the path to the handle's peer carries, in bit/s: from the
     * peer's transport-cc feedback (send-side estimation) and its REMB, the lower of the two;
     * its REMB alone before any transport-cc feedback; 0 when unknown (neither negotiated,
     * nothing received yet, or no connection). For choosing simulcast/SVC layers. */
    uint64_t (*bandwidth_estimate)(odeon_plugin_handle *handle);

    /* ---- ABI 1.5: relay nodes (docs/scaling.md) ---- */

    /* This node ([cluster] in odeon.conf); the strings live as long as the process. */
    const odeon_node_info *(*node_info)(void);
    /* The Authorization header value for a request to another node of the cluster, signed
     * with the shared secret (free() it); NULL when this node has no secret. */
    char *(*node_sign)(const char *method, const char *path, const void *body, size_t len);
    /* Checks that req comes from a node of the cluster: 0 and *node_id (free() it), or
     * ODEON_EPERM with *reason (static, safe to send back). */
    int (*node_verify)(odeon_http_request *req, char **node_id, const char **reason);
    /* len (1..32) bytes of key material that every node derives alike from the shared secret
     * and label (relay links' SRTP keys never cross the wire). 0 or ODEON_EINVAL. */
    int (*node_derive_key)(const char *label, uint8_t *out, size_t len);
    /* Where a viewer of stage_key should watch (see odeon_node_place_fn); sticky per
     * client_key; the node ids in exclude (NULL-terminated, may be NULL) are passed over. */
    void (*node_place)(const char *stage_key, const char *client_key, const char *const *exclude,
                       odeon_node_place_fn fn, void *user_data);
    /* The plugin's share of this node's load, written on each registry heartbeat (borrowed):
     * {"viewers": n, "bitrate_out": bit/s, "links": [{...}, ...]}. */
    void (*node_report)(const struct odeon_plugin *plugin, json_t *report);
    /* A viewer that placement sent here (same stage_key and client_key) arrived: it counts in
     * this node's reported viewers from now on, not as a placement on its way. */
    void (*node_arrived)(const char *stage_key, const char *client_key);

    /* ---- ABI 1.6: PostgreSQL ([database] in odeon.conf) and roles ---- */

    /* Runs one parameterised statement ($1..$n, text values copied; NULL is SQL NULL) on the
     * core's pool; done runs once on the core's main thread. Never splice values into sql.
     * 0, ODEON_ENOTSUP without a database, ODEON_EIO when the pool is closing. */
    int (*db_query)(const char *sql, int nparams, const char *const *params,
                    odeon_plugin_db_done_fn done, void *user_data);
    int (*db_rows_count)(const odeon_db_rows *rows);
    /* The text of a field, or NULL for SQL NULL or a row/column out of range. */
    const char *(*db_rows_value)(const odeon_db_rows *rows, int row, int column);
    /* fn runs on the main thread for each notification on channel (letters, digits, '_').
     * Call from init or from the main thread. 0, ODEON_ENOTSUP, ODEON_EINVAL. */
    int (*db_listen)(const char *channel, odeon_plugin_db_notify_fn fn, void *user_data);
    int (*db_notify)(const char *channel, const char *payload);
    /* The role of the handle's session in event_id, as the auth provider says ("owner",
     * "organiser", "host", "participant"), or NULL: anonymous, or no role in that event. */
    const char *(*event_role)(odeon_plugin_handle *handle, const char *event_id);

    /* ---- ABI 1.7: the event bus as a consumer ---- */

    /* fn receives every bus event whose type is in mask (an OR of Janus's event types: 1
     * session, 2 handle, 16 webrtc, 32 media, 64 plugin, 256 core), other plugins' included,
     * on the bus thread, so it may take a lock but must not wait long. The core unsubscribes
     * the plugin (and waits for a call in progress) before its destroy. Call from init.
     * 0, ODEON_ENOTSUP when the bus is off ([events] enabled = false), ODEON_EINVAL. */
    int (*events_subscribe)(const struct odeon_plugin *plugin, uint32_t mask,
                            odeon_plugin_event_fn fn, void *user_data);
    /* push_event (no transaction, no jsep) of one event to n handles, serialised once: what a
     * chat room's batch costs once, not once per member. event is borrowed; NULL entries and
     * handles that went are skipped. Returns how many were queued, or ODEON_EINVAL. */
    int (*push_event_many)(odeon_plugin_handle *const *handles, size_t n, json_t *event);

    /* ---- ABI 1.8 ---- */

    /* Why the handle's connection goes, during its hangup_media only (NULL elsewhere): a
     * static string, "Janus API" (the client's hangup), "Close PC" (the plugin's close_pc),
     * "Detach", or a failure: "ICE failed", "ICE consent lost", "DTLS alert". */
    const char *(*hangup_reason)(odeon_plugin_handle *handle);
    /* The media loop (0..media_loop_count()-1) the handle's next peer connection is created
     * on; -1: the least loaded (the default). A connection that exists stays where it is.
     * Connections that exchange most of their packets (a room's members) share a loop: no
     * handoff between threads, and one batch per peer per loop iteration. 0 or ODEON_EINVAL. */
    int (*handle_media_loop_prefer)(odeon_plugin_handle *handle, int loop);
} odeon_core_callbacks;

/* The plugin descriptor. Optional callbacks may be NULL. */
typedef struct odeon_plugin {
    uint16_t abi_major;   /* ODEON_PLUGIN_ABI_MAJOR */
    uint16_t abi_minor;   /* ODEON_PLUGIN_ABI_MINOR */
    uint32_t struct_size; /* sizeof(odeon_plugin) */

    const char *package; /* "odeon.plugin.<name>": what clients attach to */
    const char *name;
    const char *description;
    const char *author;
    const char *version_string;
    int version;

    /* Called once at start-up on the main thread; config_path may name a missing file. */
    int (*init)(const odeon_core_callbacks *core, const char *config_path);
    /* Called once at shutdown on the main thread, after every session was destroyed. */
    void (*destroy)(void);

    /* A client attached: set up per-handle state. Non-zero refuses the attach (error 461). */
    int (*create_session)(odeon_plugin_handle *handle);
    /* A "message" request. body is a JSON object; jsep is NULL or {"type","sdp",...}. */
    odeon_plugin_result (*handle_message)(odeon_plugin_handle *handle, const char *transaction,
                                          json_t *body, json_t *jsep);
    /* A "message_plugin" admin request (optional): returns a new reference or NULL. */
    json_t *(*handle_admin_message)(json_t *body);
    /* The handle's peer connection is up (DTLS done): media may flow. */
    void (*setup_media)(odeon_plugin_handle *handle);
    void (*incoming_rtp)(odeon_plugin_handle *handle, odeon_media_packet *packet);
    void (*incoming_rtcp)(odeon_plugin_handle *handle, odeon_media_packet *packet);
    /* The peer connection is gone (hangup, ICE failure, close_pc). */
    void (*hangup_media)(odeon_plugin_handle *handle);
    /* The handle is being detached; free per-handle state. No more calls follow for it. */
    void (*destroy_session)(odeon_plugin_handle *handle);
    /* Plugin state of a handle for the admin API: a new reference or NULL. */
    json_t *(*query_session)(odeon_plugin_handle *handle);

    /* ---- ABI 1.4 ---- */

    /* Optional: the plugin keeps what it sends and answers its peers' NACKs itself (a fan-out
     * plugin from the one copy of each packet that all its viewers share). When set, the core
     * keeps no retransmission buffer for this plugin's handles; on a NACK for sequence number
     * seq on m-line mindex it asks for the packet exactly as the plugin passed it to
     * relay_rtp/relay_rtp_batch (before the core's SSRC, transport-cc number and SRTP): copy
     * it into buf (cap bytes) and return its length, or 0 when it is gone or too old to help.
     * The core then sends it again (over RTX when both sides listed RTX). Runs on the
     * connection's media loop, like incoming_rtcp. */
    size_t (*retransmit_rtp)(odeon_plugin_handle *handle, int mindex, uint16_t seq, uint8_t *buf,
                             size_t cap);

    /* ---- ABI 1.7 ---- */

    /* Optional: the plugin's metrics for GET /metrics on the admin port, in Prometheus's text
     * exposition format (# HELP and # TYPE lines, then samples; names start with "odeon_"), as
     * a malloc'ed string, or NULL. Runs on a transport thread: answer from memory. */
    char *(*metrics)(void);
} odeon_plugin;

/* Whether plugin p's descriptor is recent enough to have field f (ABI minor additions). */
#define ODEON_PLUGIN_HAS(p, f)                                                                     \
    ((p)->struct_size >= offsetof(odeon_plugin, f) + sizeof((p)->f) && (p)->f != NULL)

#ifdef __cplusplus
}
#endif

#endif /* ODEON_PLUGIN_PLUGIN_H */
