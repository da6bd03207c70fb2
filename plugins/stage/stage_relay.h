/*
 * stage_relay.h - relay links: a stage cascaded from node to node (docs/scaling.md).
 *
 * A relay node that gets its first viewer of a stage it does not have subscribes to that
 * stage on its upstream node ([cluster] upstream): a signed POST /odeon/relay/<stage> (see
 * node_sign in plugin.h) names a link id, the relay's UDP address and a nonce, and lists the
 * nodes the request has passed through (loops are refused with 508). The upstream answers
 * with the stage's tracks and its own UDP port and nonce. Both ends derive the link's SRTP
 * keys from the cluster secret, the link id and both nonces; no key crosses the wire.
 *
 * Media: the upstream sends every packet of its stage's ring, every track and simulcast
 * substream ("lane"), as SRTP over UDP to the relay, with only the SSRC rewritten to the
 * lane's (RELAY_SSRC_BASE + lane): sequence numbers, timestamps and payloads are the ring's,
 * so the relay's own ring holds the same packets and its viewers the same frames. The relay
 * sends RTCP back: a receiver report each second (the link's keepalive), generic NACKs for
 * the gaps it sees (answered by the upstream from its own ring: each hop repairs from its own
 * buffer), and PLIs when its viewers need a keyframe (coalesced, passed on upstream hop by
 * hop). The upstream sends a sender report each second, so a silent stage still shows the
 * link is alive.
 *
 * Lifecycle: a link without a report from the relay for RELAY_DOWNLINK_TIMEOUT_US is dropped
 * by the upstream. A relay that hears nothing from its upstream for RELAY_UPLINK_SILENCE_US
 * subscribes again (an upstream that restarted), keeping its stage and viewers; sequence
 * numbers continue across the new link. When a relayed stage has had no viewer and no
 * downstream relay for the grace period (stage.conf [relay] grace_seconds), its link is
 * closed (DELETE) and the stage removed.
 *
 * Threads: one "stage-relay" thread sends to downstream relays, receives from upstreams and
 * runs every timer; a short-lived "relay-connect" thread makes each subscription request
 * (libcurl), so nothing here blocks a transport or media thread.
 */
#ifndef ODEON_PLUGIN_STAGE_RELAY_H
#define ODEON_PLUGIN_STAGE_RELAY_H

#include "stage.h"
#include "stage_relay_wire.h"

#define RELAY_ROUTE "/odeon/relay/"
#define RELAY_LANES (STAGE_MAX_TRACKS * STAGE_LAYERS_MAX)
_Static_assert(RELAY_LANES == RELAY_WIRE_LANES, "lanes: tracks x simulcast substreams");
#define RELAY_DOWNLINK_TIMEOUT_US (10 * G_USEC_PER_SEC)
#define RELAY_UPLINK_SILENCE_US (2500 * 1000)

/* Starts the relay thread and registers the route. stage.conf [relay]: grace_seconds, and
 * drop_every (fault injection for tests: downlinks drop every Nth packet's first
 * transmission, as a lossy network would; 0, the default, drops nothing). */
int stage_relay_start(gint64 grace_seconds, unsigned drop_every);
void stage_relay_stop(void);
/* This node ([cluster] in odeon.conf), or NULL on a core without the cluster (ABI < 1.5). */
const odeon_node_info *stage_node_info(void);
/* This node is a relay: stages it lacks come from its upstream. */
bool stage_relay_is_relay(void);

/* The answer to stage_relay_request: s is a new reference (the relayed stage) or NULL with
 * status (an HTTP status: 404 no such stage upstream, 508 loop, 502 upstream unreachable...)
 * and error (static or valid for the call). Runs on the relay-connect thread or before
 * stage_relay_request returns. */
typedef void (*stage_relay_ready_fn)(stage *s, int status, const char *error, void *user_data);
/* Gets stage id from upstream (or the link already being made). path: the nodes the
 * request came through, NULL-terminated, may be NULL. */
void stage_relay_request(uint64_t id, const char *const *path, stage_relay_ready_fn fn,
                         void *user_data);

/* The stage's writer stored packets and s->downlinks > 0: the relay thread sends them. */
void stage_relay_wake(void);
/* A relayed stage's viewers need a keyframe: a PLI goes upstream (coalesced). */
void stage_relay_keyframe(stage *s);

/* The relay thread's view of the links, for "info" and the cluster's node report. */
json_t *stage_relay_links_json(void);

/* ---- shared between stage_relay.c (thread, downlinks) and stage_uplink.c ---- */

typedef struct relay_uplink relay_uplink;

/* stage_uplink.c */
void relay_uplinks_poll_add(GArray *pollfds, GPtrArray *owners);
void relay_uplink_readable(relay_uplink *u, gint64 now);
void relay_uplinks_tick(gint64 now);
void relay_uplinks_links_json(json_t *links);
void relay_uplinks_init(void);
void relay_uplinks_stop(void);
/* stage_relay.c */
void relay_thread_changed(void); /* the set of sockets changed: rebuild the poll set */
gint64 relay_grace_us(void);

/* Derives the link's SRTP material (client = relay side) and makes the session. */
struct odeon_srtp *relay_link_srtp(const char *link_id, const char *relay_nonce,
                                   const char *upstream_nonce, bool relay_side);

#endif
