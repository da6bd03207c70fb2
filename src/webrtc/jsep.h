/*
 * jsep.h - offer/answer on top of the SDP parser (RFC 8829): making answers and offers,
 * checking a remote description, adding our transport (ICE, DTLS) to a description, and
 * reading back what was negotiated per m-line for the peer connection.
 *
 * Pure: no main loop, no JSON. Every odeon_sdp returned is new and owned by the caller
 * (odeon_sdp_free); errors are new strings (g_free) worded as the reason of a Janus 465 error.
 *
 * Codecs: Opus for audio; VP8, VP9 (profile 0 first), H.264 (packetization-mode=1 only, the
 * constrained-baseline profile first) and AV1 for video. Odeon forwards without transcoding, so
 * an answer keeps the offerer's payload type numbers and odeon_jsep_pt_map maps them between
 * two peers that numbered the same codec differently.
 */
#ifndef ODEON_WEBRTC_JSEP_H
#define ODEON_WEBRTC_JSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "webrtc/sdp.h"

/* Header extension URIs Odeon understands. */
#define ODEON_EXT_MID "urn:ietf:params:rtp-hdrext:sdes:mid"
#define ODEON_EXT_RID "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
#define ODEON_EXT_REPAIRED_RID "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
#define ODEON_EXT_ABS_SEND_TIME "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
#define ODEON_EXT_TWCC \
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
#define ODEON_EXT_AUDIO_LEVEL "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

#define ODEON_JSEP_MAX_RIDS 4

typedef struct odeon_jsep_answer_options {
    bool audio; /* accept audio m-lines (false: rejected with port 0) */
    bool video;
    const char *audio_codecs; /* comma-separated preference, NULL: "opus" */
    const char *video_codecs; /* NULL: the offer's order among vp8,vp9,h264,av1 */
    /* What we want to do with each kind; NONE: sendrecv. The answer's direction is this
     * intersected with the offer's (we never send what the offerer will not receive). */
    odeon_sdp_direction audio_direction;
    odeon_sdp_direction video_direction;
    bool simulcast; /* accept the offerer's rid/simulcast send lines */
    const char *cname; /* for our a=ssrc lines; NULL: "odeon" */
} odeon_jsep_answer_options;

/* Builds an answer (without transport attributes) to a checked offer. NULL and *error when no
 * m-line could be accepted. */
odeon_sdp *odeon_jsep_answer(const odeon_sdp *offer, const odeon_jsep_answer_options *options,
                             char **error);

/* Renegotiation: every m-line of sdp that sends and whose mid was sending in previous gets the
 * previous SSRCs (and RTX SSRC) back, so a re-answer does not change our streams' identity. */
void odeon_jsep_keep_ssrcs(odeon_sdp *sdp, const odeon_sdp *previous);

/* One m-line of an offer Odeon makes (the subscriber direction). */
typedef struct odeon_jsep_offer_stream {
    odeon_sdp_media_kind kind; /* AUDIO or VIDEO */
    const char *codec;         /* "opus", "VP8", "VP9", "H264", "AV1" */
    uint8_t pt;
    uint32_t clock_rate;
    unsigned channels; /* 0: none (video), 2 for opus */
    const char *fmtp;  /* NULL: the codec's default */
    int rtx_pt;        /* -1: no RTX */
    uint32_t ssrc;
    uint32_t rtx_ssrc;
    odeon_sdp_direction direction; /* NONE: sendonly */
    /* The msid's stream id (a token): m-lines with the same one play as one MediaStream (lip
     * sync). NULL: "odeon". */
    const char *stream_id;
} odeon_jsep_offer_stream;

odeon_sdp *odeon_jsep_offer(const odeon_jsep_offer_stream *streams, size_t count,
                            const char *cname, char **error);

/* Checks that a remote description is one Odeon can use: ICE credentials, a DTLS fingerprint,
 * a usable setup role, BUNDLE when more than one m-line is active, rtcp-mux on RTP m-lines.
 * For an answer, offer is our offer it answers (m-line count and order must match). */
int odeon_jsep_check_remote(const odeon_sdp *sdp, bool is_offer, const odeon_sdp *offer,
                            char **error);

/* Our transport, written into every accepted m-line (candidates into the first only, since all
 * are bundled on it). */
typedef struct odeon_jsep_transport {
    const char *ufrag;
    const char *pwd;
    const char *fingerprint_hash; /* "sha-256" */
    const char *fingerprint;      /* "AB:CD:..." */
    const char *setup;            /* "actpass", "active", "passive" */
    bool ice_lite;
    const char *const *candidates; /* "candidate:..." values */
    size_t candidate_count;
    bool end_of_candidates;
} odeon_jsep_transport;

void odeon_jsep_set_transport(odeon_sdp *sdp, const odeon_jsep_transport *t);

/* The remote side's ICE credentials and fingerprint (media level first, else session). */
const char *odeon_jsep_ice_ufrag(const odeon_sdp *sdp);
const char *odeon_jsep_ice_pwd(const odeon_sdp *sdp);
const odeon_sdp_fingerprint *odeon_jsep_fingerprint(const odeon_sdp *sdp);
const char *odeon_jsep_setup(const odeon_sdp *sdp);

/* What one m-line carries once both descriptions are known, from Odeon's point of view. */
typedef struct odeon_jsep_media {
    int mindex;
    char mid[32];
    odeon_sdp_media_kind kind;
    bool active; /* port != 0 in both */
    bool send;   /* Odeon sends on it */
    bool recv;   /* Odeon receives on it */
    int pt;      /* the main codec's payload type, -1 none */
    int rtx_pt;  /* -1: no RTX */
    uint32_t clock_rate;
    char codec[16];
    uint32_t local_ssrc, local_rtx_ssrc;   /* 0 when we do not send */
    uint32_t remote_ssrc, remote_rtx_ssrc; /* 0 when not signalled */
    /* rid-style simulcast the remote sends and we accepted, in the order of its a=simulcast send
     * list (the first alternative of each stream); 0 without simulcast. */
    char rids[ODEON_JSEP_MAX_RIDS][16];
    size_t rid_count;
    /* SSRC-style simulcast (a=ssrc-group:SIM): the layers in the group's order and the RTX SSRC
     * each is FID-paired with (0: none); count 0 without a SIM group of two or more. */
    uint32_t remote_sim_ssrcs[ODEON_JSEP_MAX_RIDS], remote_sim_rtx_ssrcs[ODEON_JSEP_MAX_RIDS];
    size_t remote_sim_count;
    bool fb_nack, fb_pli, fb_fir, fb_remb, fb_twcc;
    uint8_t ext_mid, ext_rid, ext_repaired_rid, ext_abs_send_time, ext_twcc, ext_audio_level;
} odeon_jsep_media;

/* Fills out[0..count) from our local and the remote description (same m-line order). Returns
 * the count, or ODEON_EINVAL when the two do not match. */
int odeon_jsep_negotiated(const odeon_sdp *local, const odeon_sdp *remote,
                          odeon_jsep_media *out, size_t cap);

/* Maps every payload type of `from` to the one with the same codec in `to` (-1: none), RTX
 * payload types by what they repair. */
void odeon_jsep_pt_map(const odeon_sdp_media *from, const odeon_sdp_media *to, int map[128]);

#endif
