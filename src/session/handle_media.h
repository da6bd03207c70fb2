/*
 * handle_media.h - a handle's peer connection: the glue between the Janus API (jsep, trickle,
 * hangup), the plugin contract (push_event with a jsep, relay_rtp/rtcp, jsep_answer/offer) and
 * the WebRTC stack (pc.h), plus the process-wide media state (media loops, DTLS identity,
 * settings from [media]).
 *
 * Events sent to the client, as Janus sends them: "trickle" (our candidates with full_trickle),
 * "webrtcup", "media" (mid, type, receiving), "slowlink" (mid, media, uplink, lost) and
 * "hangup" (reason).
 *
 * Ownership: a handle holds its peer connection (session.c keeps the pointer); the peer
 * connection's events borrow the handle, kept alive by a reference this module takes when it
 * creates the connection and drops once the connection is closed.
 */
#ifndef ODEON_SESSION_HANDLE_MEDIA_H
#define ODEON_SESSION_HANDLE_MEDIA_H

#include <jansson.h>

#include "core/config.h"
#include "session/session.h"

/* Starts the media loops and makes (or loads) the DTLS identity. */
int odeon_media_start(const odeon_config *config, char **error);
/* After every handle is gone. */
void odeon_media_stop(void);
/* The media part of the "info" answer (Janus's ipv6, ice-lite, ice-tcp, full-trickle,
 * twcc-period, static-event-loops, and ice_servers), as a new object. */
json_t *odeon_media_info_json(void);

/* A client's jsep (type and sdp already checked to be strings). 0, or a Janus error code with
 * *reason (g_free): 465 for SDP that does not parse or that Odeon cannot use, 469 for an
 * answer without our offer. */
int odeon_handle_media_remote(odeon_handle *handle, json_t *jsep, char **reason);
/* One trickled candidate object ({candidate, sdpMid, sdpMLineIndex} or {completed: true}). 0 or
 * a Janus error code with *reason. */
int odeon_handle_media_trickle(odeon_handle *handle, json_t *candidate, char **reason);

/* push_event with a jsep: our SDP is completed (ICE, DTLS, candidates) and msg (a whole Janus
 * event, borrowed) is sent with it once ready. 0 or ODEON_EINVAL for SDP that does not parse. */
int odeon_handle_media_push(odeon_handle *handle, json_t *msg, json_t *jsep);
/* The same for a synchronous plugin reply: waits until our SDP is complete (gathering done) and
 * returns the completed jsep (new reference) or NULL. */
json_t *odeon_handle_media_complete_sync(odeon_handle *handle, json_t *jsep);

/* Plugin-facing helpers (core callbacks). */
int odeon_handle_media_relay_rtp(odeon_handle *handle, odeon_media_packet *packet);
int odeon_handle_media_relay_rtcp(odeon_handle *handle, odeon_media_packet *packet);
int odeon_handle_media_relay_rtp_batch(odeon_handle *handle, odeon_media_packet *packets,
                                       size_t n);
/* The media loops behind the plugin ABI 1.3 fan-out calls (see plugin.h). */
int odeon_handle_media_loop_index(odeon_handle *handle);
uint64_t odeon_handle_media_bandwidth_estimate(odeon_handle *handle);
unsigned odeon_handle_media_loop_count(void);
int odeon_handle_media_loop_wake(unsigned index, odeon_media_wake *wake);
int odeon_handle_media_request_keyframe(odeon_handle *handle, int mindex);
int odeon_handle_media_send_remb(odeon_handle *handle, uint64_t bitrate);
json_t *odeon_handle_media_answer(odeon_handle *handle, json_t *options);
json_t *odeon_handle_media_offer(odeon_handle *handle, json_t *options);

/* The "webrtc" part of the admin API's handle info, or JSON null. */
json_t *odeon_handle_media_info(odeon_handle *handle);

#endif
