/*
 * sdp.h - a parsed view of WebRTC SDP (unified plan, RFC 8866 / RFC 8829) and its writer.
 *
 * odeon_sdp_parse turns an offer or answer from a browser (or from ourselves) into plain public
 * structs; odeon_sdp_write turns such a struct back into text. Both are pure: no main loop, no
 * JSON, no globals. The jsep and pc layers build on this; ICE, DTLS and RTP only read fields.
 *
 * Ownership: odeon_sdp_parse returns a new odeon_sdp owned by the caller (odeon_sdp_free) or
 * NULL and a new error string (g_free) suitable as the reason of a Janus 465 error. Every char *
 * and array inside an odeon_sdp is owned by it and allocated with glib, so a caller that builds
 * or edits an odeon_sdp by hand (to make an answer) must use g_malloc/g_strdup for what it puts
 * in. The find helpers return borrowed pointers into the odeon_sdp.
 *
 * Canonical output order (what the writer emits, and so what a round trip yields):
 *   session: v= o= s= c= b= t=, then a=group, a=extmap-allow-mixed, a=msid-semantic, a=ice-lite,
 *            a=ice-ufrag, a=ice-pwd, a=ice-options, a=fingerprint, a=setup, direction,
 *            a=extmap, unknown attributes (in input order);
 *   media:   m= c= b=, then a=mid, a=ice-ufrag, a=ice-pwd, a=ice-options, a=fingerprint,
 *            a=setup, direction, a=msid, a=rtcp-mux, a=rtcp-mux-only, a=rtcp-rsize,
 *            a=extmap-allow-mixed, a=extmap, a=rtpmap, a=rtcp-fb, a=fmtp, a=ssrc-group, a=ssrc,
 *            a=rid, a=simulcast, a=sctp-port, a=max-message-size, unknown attributes,
 *            a=candidate, a=end-of-candidates.
 * Within one kind, lines keep their input order. Lines i= u= e= p= z= k= r= are accepted and
 * dropped (browsers do not send them); lines end with CRLF on write, LF or CRLF on read.
 */
#ifndef ODEON_WEBRTC_SDP_H
#define ODEON_WEBRTC_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits: input beyond them is refused with a reason, never truncated. */
#define ODEON_SDP_MAX_INPUT (256 * 1024)
#define ODEON_SDP_MAX_LINE 4096
#define ODEON_SDP_MAX_MEDIA 64
#define ODEON_SDP_MAX_PTS 256    /* payload types on one m= line */
#define ODEON_SDP_MAX_ITEMS 1024 /* entries of one kind (a=ssrc, a=candidate...) per section */
#define ODEON_SDP_MAX_LIST 64    /* ssrcs in a group, mids in a group, simulcast entries */

typedef enum {
    ODEON_SDP_DIR_NONE = 0, /* no direction attribute (RFC 8866: sendrecv is implied) */
    ODEON_SDP_DIR_SENDRECV,
    ODEON_SDP_DIR_SENDONLY,
    ODEON_SDP_DIR_RECVONLY,
    ODEON_SDP_DIR_INACTIVE,
} odeon_sdp_direction;

typedef enum {
    ODEON_SDP_MEDIA_OTHER = 0,
    ODEON_SDP_MEDIA_AUDIO,
    ODEON_SDP_MEDIA_VIDEO,
    ODEON_SDP_MEDIA_APPLICATION,
} odeon_sdp_media_kind;

/* An attribute this parser does not interpret; value is NULL for a flag (a=foo). */
typedef struct {
    char *name;
    char *value;
} odeon_sdp_attr;

typedef struct {
    char *hash;  /* "sha-256" */
    char *value; /* "AB:CD:..." */
} odeon_sdp_fingerprint;

typedef struct {
    unsigned id;                   /* 1..255 (RFC 8285 §5) */
    odeon_sdp_direction direction; /* NONE when the id had no /direction */
    char *uri;
    char *attributes; /* text after the uri (e.g. "vad=on"), or NULL */
} odeon_sdp_extmap;

typedef struct {
    uint8_t pt; /* 0..127 */
    char *name; /* "opus", "VP8", "rtx"... as written */
    uint32_t clock_rate;
    unsigned channels; /* 0 when absent */
} odeon_sdp_rtpmap;

typedef struct {
    uint8_t pt;
    char *params; /* raw: "minptime=10;useinbandfec=1" (may be "") */
} odeon_sdp_fmtp;

typedef struct {
    int pt;        /* 0..127, or -1 for "*" */
    char *type;    /* "nack", "ccm", "goog-remb", "transport-cc" */
    char *subtype; /* rest of the line ("pli", "fir") or NULL */
} odeon_sdp_rtcp_fb;

typedef struct {
    uint32_t ssrc;
    char *attribute; /* "cname", "msid"... */
    char *value;     /* NULL when the line had no ':' */
} odeon_sdp_ssrc;

typedef struct {
    char *semantics; /* "FID", "SIM", "FEC-FR" */
    uint32_t *ssrcs;
    size_t ssrc_count; /* 1..ODEON_SDP_MAX_LIST */
} odeon_sdp_ssrc_group;

typedef struct {
    char *id;
    bool send;    /* true: send, false: recv */
    char *params; /* restrictions ("pt=96;max-width=1280") or NULL */
} odeon_sdp_rid;

typedef struct {
    char *rid;
    bool paused; /* written with a '~' prefix */
} odeon_sdp_simulcast_alt;

typedef struct {
    odeon_sdp_simulcast_alt *alts; /* alternatives, separated by ',' */
    size_t alt_count;
} odeon_sdp_simulcast_stream;

typedef struct {
    odeon_sdp_simulcast_stream *streams; /* separated by ';' */
    size_t stream_count;
} odeon_sdp_simulcast_list;

typedef struct {
    bool present;
    odeon_sdp_simulcast_list send;
    odeon_sdp_simulcast_list recv;
} odeon_sdp_simulcast;

typedef struct {
    char *semantics; /* "BUNDLE", "LS" */
    char **mids;
    size_t mid_count;
} odeon_sdp_group;

/* Attributes allowed at session and at media level (the media value overrides). */
typedef struct {
    char *connection;  /* c= value, "IN IP4 0.0.0.0" */
    char **bandwidths; /* b= values, "AS:30" */
    size_t bandwidth_count;
    char *ice_ufrag;
    char *ice_pwd;
    char *ice_options; /* "trickle" */
    odeon_sdp_fingerprint *fingerprints;
    size_t fingerprint_count;
    char *setup; /* actpass, active, passive, holdconn */
    odeon_sdp_direction direction;
    bool extmap_allow_mixed;
    odeon_sdp_extmap *extmaps;
    size_t extmap_count;
    odeon_sdp_attr *attrs; /* unknown attributes */
    size_t attr_count;
} odeon_sdp_common;

typedef struct {
    odeon_sdp_media_kind kind;
    char *media; /* "audio", "video", "application", ... as written */
    uint16_t port;
    unsigned port_count; /* 0 when the m= line had no /n */
    char *proto;         /* "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP" */
    bool is_rtp;         /* proto has RTP/ in it: formats are payload types */
    uint8_t *pts;        /* is_rtp: the payload types, in m= order */
    size_t pt_count;
    char *formats; /* !is_rtp: the raw format list ("webrtc-datachannel") */
    odeon_sdp_common common;
    char *mid;
    char **msids; /* "stream track" */
    size_t msid_count;
    bool rtcp_mux;
    bool rtcp_mux_only;
    bool rtcp_rsize;
    odeon_sdp_rtpmap *rtpmaps;
    size_t rtpmap_count;
    odeon_sdp_fmtp *fmtps;
    size_t fmtp_count;
    odeon_sdp_rtcp_fb *rtcp_fbs;
    size_t rtcp_fb_count;
    odeon_sdp_ssrc *ssrcs;
    size_t ssrc_count;
    odeon_sdp_ssrc_group *ssrc_groups;
    size_t ssrc_group_count;
    odeon_sdp_rid *rids;
    size_t rid_count;
    odeon_sdp_simulcast simulcast;
    int sctp_port;             /* -1 when absent */
    uint64_t max_message_size; /* 0 when absent */
    char **candidates;         /* the text after "a=candidate:" */
    size_t candidate_count;
    bool end_of_candidates;
} odeon_sdp_media;

typedef struct {
    unsigned version; /* v=, always 0 */
    char *origin_username;
    char *origin_sess_id; /* kept as text: digits, may exceed 64 bits in theory */
    uint64_t origin_sess_version;
    char *origin_nettype;
    char *origin_addrtype;
    char *origin_address;
    char *session_name;
    uint64_t time_start;
    uint64_t time_stop;
    odeon_sdp_common common;
    odeon_sdp_group *groups;
    size_t group_count;
    char *msid_semantic; /* value after "a=msid-semantic:", leading blanks removed: "WMS *" */
    bool ice_lite;
    odeon_sdp_media *media;
    size_t media_count;
} odeon_sdp;

/* Parses len bytes of text (no NUL needed). Returns a new odeon_sdp, or NULL and *error (new,
 * g_free; may be NULL to ignore) naming the line and the problem. Never aborts on any input. */
odeon_sdp *odeon_sdp_parse(const char *text, size_t len, char **error);

/* Frees an odeon_sdp and everything it owns; NULL is fine. */
void odeon_sdp_free(odeon_sdp *sdp);

/* Returns new text (g_free) in the canonical order above, CRLF line ends. Borrows sdp. */
char *odeon_sdp_write(const odeon_sdp *sdp);

/* Appends a zeroed media section (sctp_port -1) to sdp for building an offer or answer by hand.
 * Returns it (borrowed; valid until the next add), or NULL past ODEON_SDP_MAX_MEDIA. */
odeon_sdp_media *odeon_sdp_add_media(odeon_sdp *sdp);

/* Borrowed lookups; NULL when absent. */
const odeon_sdp_media *odeon_sdp_find_media_by_mid(const odeon_sdp *sdp, const char *mid);
const odeon_sdp_group *odeon_sdp_find_group(const odeon_sdp *sdp, const char *semantics);
const odeon_sdp_rtpmap *odeon_sdp_media_find_rtpmap(const odeon_sdp_media *m, int pt);
const char *odeon_sdp_media_find_fmtp(const odeon_sdp_media *m, int pt);

/* Returns the first payload type (in m= order) whose rtpmap codec name matches name
 * case-insensitively, or ODEON_ENOENT. */
int odeon_sdp_media_find_codec(const odeon_sdp_media *m, const char *name);

/* Returns the payload type of the rtx stream whose fmtp says apt=pt (RFC 4588 §8), or
 * ODEON_ENOENT. */
int odeon_sdp_media_find_rtx(const odeon_sdp_media *m, int pt);

/* Looks up name in a ';'-separated fmtp parameter list ("a=1;b=2"), case-insensitively.
 * Returns a new string (g_free) with the value, "" for a bare flag, or NULL when absent. */
char *odeon_sdp_fmtp_get(const char *params, const char *name);

const char *odeon_sdp_direction_name(odeon_sdp_direction dir);

#endif
