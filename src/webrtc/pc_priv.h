/*
 * pc_priv.h - the peer connection's insides, shared by pc.c (signalling, ICE, DTLS, lifecycle)
 * and pc_media.c (RTP/RTCP in and out, feedback, timers). Not a public contract.
 *
 * Every field below `lock` is touched only on the loop thread, except where a comment says
 * otherwise; fields under `lock` may be read from any thread.
 */
#ifndef ODEON_WEBRTC_PC_PRIV_H
#define ODEON_WEBRTC_PC_PRIV_H

#include <glib.h>

#include "core/refcount.h"
#include "webrtc/jsep.h"
#include "webrtc/nack.h"
#include "webrtc/pc.h"
#include "webrtc/rtp_stats.h"
#include "webrtc/srtp.h"
#include "webrtc/twcc.h"
#include "webrtc/bwe.h"

/* m-lines per connection: a room subscriber receives 3 streams from each of up to 20 members. */
#define PC_MAX_MEDIA 64
#define PC_MAX_ROUTES 48
#define PC_SCRATCH 2048 /* an MTU-sized packet plus the SRTP room libsrtp asks for (148) */

#define PC_MAX_LAYERS 3 /* simulcast layers received per m-line */

/* One stream the peer sends us on an m-line: the only one without simulcast, else one simulcast
 * layer. ssrc and rtx_ssrc are written on the loop thread under send_lock (feedback senders on
 * other threads read them under it); the rest is the loop thread's. */
typedef struct pc_layer {
    uint32_t ssrc;     /* signalled, else learned from the first packet (rid or mid); 0: not yet */
    uint32_t rtx_ssrc; /* signalled, else learned from repaired-rid; 0: unknown */
    odeon_rtp_recv_stats recv;
    odeon_nack_tracker *missing; /* what the peer's stream lacks; NULL without nack */
    bool ever_received;
} pc_layer;

typedef struct pc_stream {
    odeon_jsep_media neg;
    odeon_rtp_send_stats send;
    odeon_nack_buffer *sent;     /* what we sent, for the peer's NACKs; NULL without nack */
    /* Layer index: the rid's place in neg.rids (rid style) or the SSRC's in the SIM group. */
    pc_layer layers[PC_MAX_LAYERS];
    int layer_count;    /* 1 without simulcast */
    bool simulcast;     /* rid or SIM simulcast: the plugin is told each packet's layer */
    bool by_rid;        /* layers are learned from the rid extensions, never from mid or pt */
    bool receiving;
    uint16_t rtx_seq;
    uint8_t fir_seq;
    uint32_t lost_this_second;   /* detected gaps in what we receive */
    uint32_t nacked_this_second; /* packets the peer asked again */
    int64_t last_keyframe_request_us;
} pc_stream;

typedef struct pc_route {
    uint32_t ssrc;
    int16_t stream;
    int8_t layer; /* index into the stream's layers */
    bool rtx;
} pc_route;

typedef struct pc_pending_local {
    odeon_sdp *sdp;
    bool is_offer;
    odeon_pc_local_done done;
    void *data;
} pc_pending_local;

struct odeon_pc {
    odeon_refcount ref;
    odeon_media_loop *loop;
    odeon_pc_settings settings;
    odeon_pc_events events;
    void *user;

    GMutex lock;
    char *remote_text;
    char *local_text; /* our last completed description */
    bool remote_is_offer;
    odeon_pc_stats stats_snapshot;
    size_t local_media_count; /* m-lines of our last description, 0 before one */
    gint closed; /* atomic: set by odeon_pc_close */

    GMutex send_lock; /* held by senders not on the loop thread */

    odeon_ice_agent *ice;
    odeon_dtls_endpoint *dtls;
    odeon_srtp *srtp;
    odeon_sdp *remote;
    odeon_sdp *local;
    bool remote_offer;
    bool role_known;
    odeon_dtls_role role;
    GPtrArray *local_candidates;  /* char *, "candidate:..." */
    GPtrArray *remote_candidates; /* char *, trickled before the agent existed */
    bool remote_candidates_done;
    bool gathering_done;
    pc_pending_local pending;
    bool local_sent; /* our description went out: full-trickle candidates may follow */
    GPtrArray *held_candidates; /* full trickle: candidates found before local_sent */

    /* Sized to the negotiated m-lines (a stage viewer has 2, a room subscriber dozens); grows
     * on the loop thread under send_lock, which every sender on another thread holds. */
    pc_stream *streams;
    size_t stream_count, stream_cap;
    pc_route routes[PC_MAX_ROUTES];
    size_t route_count;
    odeon_twcc_recorder *twcc;
    odeon_bwe *bwe; /* our send-side estimate of the path to the peer; under send_lock */
    uint16_t twcc_out_seq;
    uint32_t feedback_ssrc; /* sender SSRC of our RTCP when we do not send media */

    bool ticking; /* registered with the loop's tick */
    int64_t next_rtcp_us, next_twcc_us, next_second_us;
    int64_t last_recv_us;
    bool up;
    bool failed;
    bool stopped; /* close ran on the loop */
    bool external_retransmissions; /* the owner answers NACKs (events.retransmit) */

    odeon_pc_stats stats;
    uint8_t scratch[PC_SCRATCH] __attribute__((aligned(16))); /* libsrtp wants aligned buffers */
    uint8_t retransmit_in[PC_SCRATCH]; /* a packet from events.retransmit; under send_lock */
};

/* pc_media.c */
void pc_media_negotiated(odeon_pc *pc);
void pc_media_receive(odeon_pc *pc, uint8_t *buf, size_t len, int64_t now_us);
void pc_media_tick(odeon_pc *pc, int64_t now_us);
void pc_media_free(odeon_pc *pc);
/* The bandwidth estimate's figures into the stats (takes send_lock). */
void pc_media_estimate_stats(odeon_pc *pc, odeon_pc_stats *out);
int pc_send_datagram(odeon_pc *pc, const uint8_t *buf, size_t len);
int pc_send_rtcp_plain(odeon_pc *pc, uint8_t *buf, size_t len, size_t cap);

/* pc.c. reason must be a static string: the failed event is posted and runs later. */
void pc_fail(odeon_pc *pc, const char *reason);
void pc_dtls_feed(odeon_pc *pc, const uint8_t *buf, size_t len);

#endif
