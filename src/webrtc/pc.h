/*
 * pc.h - a WebRTC peer connection: one ICE agent, one DTLS association, one SRTP session, and
 * the RTP/RTCP streams of every m-line bundled on them.
 *
 * Threads: a peer connection lives on one media loop. Signalling calls (set_remote, set_local,
 * add_remote_candidate, close) may come from any thread; they are posted to the loop in order.
 * Media calls (send_rtp, send_rtcp, request_keyframe, send_remb) may come from any thread too:
 * the send side has its own lock (never a global one), uncontended when plugins relay from the
 * loop thread where they get their incoming packets. Every event callback runs on the loop
 * thread.
 *
 * Ownership: refcounted. The creator holds one reference; odeon_pc_close (or _close_async)
 * must run before the last unref frees it. No event fires once the close has run on the loop.
 * The events' user pointer is borrowed: the owner keeps it alive until then (odeon_pc_close
 * returns after the close ran; odeon_pc_close_async calls done after it).
 */
#ifndef ODEON_WEBRTC_PC_H
#define ODEON_WEBRTC_PC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/medialoop.h"
#include "plugin/plugin.h"
#include "webrtc/dtls.h"
#include "webrtc/ice.h"
#include "webrtc/sdp.h"

typedef struct odeon_pc_settings {
    odeon_ice_settings ice;
    bool full_trickle;             /* answer at once and trickle every candidate as an event */
    odeon_dtls_identity *identity; /* borrowed; outlives every peer connection */
    unsigned dtls_timeout_s;
    unsigned consent_timeout_s;
    unsigned no_media_timeout_ms;
    unsigned slowlink_threshold; /* lost packets per second; 0: never */
    unsigned nack_buffer_ms;
    unsigned twcc_period_ms;
    unsigned rtcp_interval_ms;
} odeon_pc_settings;

typedef struct odeon_pc_events {
    /* A local candidate to trickle; candidate NULL means end-of-candidates. */
    void (*local_candidate)(void *user, const char *mid, int mindex, const char *candidate);
    void (*webrtcup)(void *user);
    void (*media)(void *user, const char *mid, bool video, bool receiving);
    /* uplink: losses on what the peer sends us; else on what we send (peer's NACKs). */
    void (*slowlink)(void *user, const char *mid, bool video, bool uplink, unsigned lost);
    void (*rtp)(void *user, odeon_media_packet *packet);
    void (*rtcp)(void *user, odeon_media_packet *packet);
    /* The connection died on its own (ICE failure, consent lost, DTLS alert or timeout). The
     * owner should close it; reason is for the "hangup" event. */
    void (*failed)(void *user, const char *reason);
    /* Optional, with odeon_pc_external_retransmissions: the packet the owner sent on m-line
     * mindex with sequence number seq, as it was passed to odeon_pc_send_rtp*, copied into buf
     * (cap bytes); its length, or 0 when it is gone. Runs on the loop thread with the send
     * lock held: it must not send on this connection. */
    size_t (*retransmit)(void *user, int mindex, uint16_t seq, uint8_t *buf, size_t cap);
} odeon_pc_events;

typedef struct odeon_pc odeon_pc;

odeon_pc *odeon_pc_new(odeon_media_loop *loop, const odeon_pc_settings *settings,
                       const odeon_pc_events *events, void *user);
odeon_pc *odeon_pc_ref(odeon_pc *pc);
void odeon_pc_unref(odeon_pc *pc);

/* Applies a parsed remote offer or answer (taken over, also on error). Checks it first:
 * ODEON_EINVAL and *error (g_free) as the reason of a Janus 465. A new offer with other ICE
 * credentials restarts ICE. */
int odeon_pc_set_remote(odeon_pc *pc, odeon_sdp *sdp, bool is_offer, char **error);
/* The last remote description received, as text (g_free), or NULL. */
char *odeon_pc_remote_sdp(odeon_pc *pc);
bool odeon_pc_remote_is_offer(odeon_pc *pc);
/* Our last completed description, as text (g_free), or NULL. */
char *odeon_pc_local_sdp(odeon_pc *pc);

/* Completes our description (taken over) with ICE credentials, fingerprint, setup role and
 * candidates, and applies it. done(data, sdp, NULL) then gets the text to send (g_free), once
 * gathering has finished (unless full_trickle); or done(data, NULL, error) on failure. done
 * runs on the loop thread. */
typedef void (*odeon_pc_local_done)(void *data, char *sdp, char *error);
void odeon_pc_set_local(odeon_pc *pc, odeon_sdp *sdp, bool is_offer, odeon_pc_local_done done,
                        void *data);

/* A trickled candidate ("candidate:..."), or NULL for end-of-candidates. mid may be NULL. */
void odeon_pc_add_remote_candidate(odeon_pc *pc, const char *mid, int mindex,
                                   const char *candidate);

/* Stops everything; no event fires after it. Waits for the loop unless called on it. */
void odeon_pc_close(odeon_pc *pc);
/* Same without waiting (for callers on another media loop, where waiting could deadlock):
 * done(data) runs on the connection's loop once it is closed. */
void odeon_pc_close_async(odeon_pc *pc, void (*done)(void *data), void *data);
bool odeon_pc_is_closed(odeon_pc *pc);
odeon_media_loop *odeon_pc_loop(odeon_pc *pc);

/* The owner keeps what it sends (one buffer shared by many connections, say) and answers the
 * peer's NACKs through events.retransmit: the connection keeps no retransmission buffer of its
 * own. Call it before the first negotiation. */
void odeon_pc_external_retransmissions(odeon_pc *pc);

/* Media. packet->mindex picks the m-line; the packet is rewritten (SSRC, transport-wide
 * sequence) and protected in place, so capacity must leave SRTP room. */
int odeon_pc_send_rtp(odeon_pc *pc, odeon_media_packet *packet);
/* n packets under one lock round; on the connection's loop thread, one sendmmsg. Returns how
 * many were sent or ODEON_ENOTCONN. */
int odeon_pc_send_rtp_batch(odeon_pc *pc, odeon_media_packet *packets, size_t n);
/* Feedback (PLI, FIR, REMB, NACK) from a plugin: SSRCs are rewritten to this connection's;
 * reports and SDES are dropped (each connection makes its own). */
int odeon_pc_send_rtcp(odeon_pc *pc, odeon_media_packet *packet);
int odeon_pc_request_keyframe(odeon_pc *pc, int mindex);
int odeon_pc_send_remb(odeon_pc *pc, uint64_t bitrate);
/* What we estimate the path to the peer carries (bit/s), from its transport-cc feedback and
 * REMB (see bwe.h); 0 when neither was negotiated on a sending m-line. */
uint64_t odeon_pc_bandwidth_estimate(odeon_pc *pc);

/* A snapshot for the admin API and tests. */
typedef struct odeon_pc_stats {
    char ice_state[16];
    char dtls_state[16];
    char selected_pair[160];
    bool up;
    uint64_t packets_in, packets_out, bytes_in, bytes_out;
    uint64_t nacks_received, retransmissions, nacks_sent;
    unsigned media_count;
    /* The send-side estimate (all 0 without transport-cc or REMB on a sending m-line). */
    uint64_t estimate_bps, acked_bps, remb_bps;
    double loss;
    char bwe_state[16];
} odeon_pc_stats;
void odeon_pc_get_stats(odeon_pc *pc, odeon_pc_stats *out);

#endif
