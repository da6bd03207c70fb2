/*
 * load.h - declarations shared by the files of odeon-load (tests/load/, see README.md there).
 *
 *   odeon-load.c  main: argv, the two modes
 *   viewers.c     "viewers" mode: N WebRTC viewers (WebSocket signalling, ICE, DTLS, SRTP)
 *   cluster.c     where a viewer is served and how it moves: placement redirects, failover
 *   report.c      the viewers' report: JSON lines, checksum comparison, totals, the table
 *   ws.c          a minimal RFC 6455 WebSocket client for non-blocking sockets
 *   vp8.c         VP8 payload descriptor (RFC 7741), frame reassembly + libvpx decoding,
 *                 the frame-number barcode the source draws and the viewers read back
 *   source.c      "source" mode: VP8 (libvpx) + Opus (libopus) as plain RTP over UDP
 *
 * Frame identity: every video frame the source encodes carries its 16-bit frame number as a
 * barcode along the top of the picture (32 cells: 16 bits then their complement). A viewer that
 * decodes reads it back, so decoded frames of different viewers can be matched without trusting
 * anything the server rewrites (SSRC, sequence numbers, timestamps, picture ids).
 */
#ifndef ODEON_TESTS_LOAD_H
#define ODEON_TESTS_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <netinet/in.h>
#include <vpx/vpx_image.h>

#include "webrtc/dtls.h"
#include "webrtc/srtp.h"
#include "ws.h"

int viewers_main(int argc, char **argv);
int source_main(int argc, char **argv);

/* ----- vp8.c ---------------------------------------------------------------------------------- */

/* The parts of an RFC 7741 payload descriptor a receiver needs. */
typedef struct {
    bool start;        /* S: first packet of a partition */
    uint8_t partition; /* PID */
    bool has_picture_id;
    uint16_t picture_id;
    size_t header_len; /* descriptor bytes before the VP8 payload */
} vp8_desc;

/* Parses the descriptor at the start of an RTP payload. 0, or -1 when truncated. */
int vp8_parse_desc(const uint8_t *p, size_t len, vp8_desc *out);
/* True when this RTP payload starts a keyframe: S=1, PID=0 and the frame tag's P bit clear
 * (RFC 7741 section 4.3). */
bool vp8_payload_is_keyframe(const uint8_t *p, size_t len);
/* Writes a descriptor with X=1, I=1 and a 15-bit picture id (4 bytes). Returns 4. */
size_t vp8_write_desc(uint8_t *p, bool start, uint16_t picture_id);

/* The barcode: cell size for a frame width (0: the frame is too narrow, under 128 pixels).
 * Widths of 256 and more get cells on the 8-pixel grid, 128..255 get 4-pixel cells (the
 * smallest layer of a simulcast source). */
unsigned barcode_cell(unsigned width);
/* Draws frame_no into the luma plane of img (I420). */
void barcode_draw(vpx_image_t *img, uint16_t frame_no);
/* Reads it back; 0 and *frame_no, or -1 when the cells do not form a valid code. */
int barcode_read(const vpx_image_t *img, uint16_t *frame_no);

/* 64-bit hash of the visible area of the three planes of a decoded frame. */
uint64_t frame_hash(const vpx_image_t *img);

/* A per-viewer VP8 receiver: reassembles frames from RTP packets (in order; any sequence gap
 * drops the frame and waits for the next keyframe), decodes them with libvpx and records the
 * hash of every decoded frame under its barcode number. */
typedef struct vp8_receiver vp8_receiver;
vp8_receiver *vp8_receiver_new(void);
void vp8_receiver_free(vp8_receiver *r);
/* One decrypted RTP packet of the video stream: seq, marker, timestamp, payload, and when it
 * arrived (monotonic microseconds; the decoded-frame timing uses it). */
void vp8_receiver_push(vp8_receiver *r, uint16_t seq, bool marker, uint32_t ts,
                       const uint8_t *payload, size_t len, int64_t now_us);
/* The stream starts over (a failover: another session, other SSRC and sequence numbers):
 * forget the last sequence number and any partial frame, and wait for a keyframe. The
 * recorded frames, hashes and timing stay. */
void vp8_receiver_new_stream(vp8_receiver *r);

/* The decoded picture size changed (the first decoded frame counts as a change): a simulcast
 * server switched layers. Only the first VP8_SIZE_CHANGES are kept. */
#define VP8_SIZE_CHANGES 16
typedef struct {
    int64_t at_us;
    unsigned width, height;
} vp8_size_change;

typedef struct {
    uint64_t frames_decoded, keyframes, decode_errors;
    uint64_t frames_before_key; /* skipped while waiting for the first keyframe */
    uint64_t frames_dropped;    /* lost or undecodable after decoding started */
    uint64_t bad_barcode;       /* decoded, but no valid frame number in the picture */
    unsigned width, height;     /* of the last decoded frame */
    /* decoded-frame timing: the longest time between two consecutive decoded frames after
     * the first (a stall, whatever its cause: loss, a layer switch waiting for a keyframe,
     * a server that stopped forwarding) */
    int64_t first_frame_us, last_frame_us, max_gap_us;
    unsigned size_changes; /* all of them, also those past VP8_SIZE_CHANGES */
    vp8_size_change sizes[VP8_SIZE_CHANGES];
} vp8_receiver_stats;
void vp8_receiver_get_stats(const vp8_receiver *r, vp8_receiver_stats *out);
/* The hash and picture size (width << 16 | height) recorded for a frame number; false if that
 * frame was not decoded. Frames of different simulcast layers share numbers, so a comparison
 * across viewers must only compare hashes of equal sizes. */
bool vp8_receiver_frame(const vp8_receiver *r, uint16_t frame_no, uint64_t *hash, uint32_t *size);

/* --frame-times: from now on, remember when each decoded frame completed (the arrival time of
 * its last packet: the now_us of the push carrying the marker), for the last VP8_FRAME_TIMES
 * frame numbers (a ring allocated here, once; nothing is allocated per packet). */
#define VP8_FRAME_TIMES 8192 /* a power of two: 4.5 minutes at 30 fps */
void vp8_receiver_keep_frame_times(vp8_receiver *r);
/* When frame frame_no completed; false if it was not decoded or is older than the ring. */
bool vp8_receiver_frame_time(const vp8_receiver *r, uint16_t frame_no, int64_t *t_us);

/* ----- publish.c: the source over WebRTC (WHIP) ------------------------------------------------
 */

typedef struct whip_pub whip_pub;

/* POSTs our offer (sendonly Opus audio_pt and VP8 video_pt on those SSRCs) to url
 * (http://IPv4:PORT/whip/<stage>) with "Authorization: Bearer token", then runs ICE, DTLS and
 * SRTP until media can flow or timeout_s passes. NULL with *error (g_free) on failure. */
whip_pub *whip_pub_connect(const char *url, const char *token, int audio_pt, int video_pt,
                           uint32_t audio_ssrc, uint32_t video_ssrc, double timeout_s,
                           char **error);
/* Protects the RTP packet in buf (len bytes, cap with SRTP room) in place and sends it. */
int whip_pub_send(whip_pub *p, uint8_t *buf, size_t len, size_t cap);
/* Handles what the server sends (consent checks, RTCP) until deadline_us (monotonic); true
 * when it asked for a keyframe (PLI or FIR) since the last call. */
bool whip_pub_service(whip_pub *p, int64_t deadline_us);
const char *whip_pub_profile(const whip_pub *p);
uint64_t whip_pub_keyframe_requests(const whip_pub *p);
/* DELETE on the resource, then frees everything. */
void whip_pub_close(whip_pub *p);

/* ----- viewers.c, report.c -------------------------------------------------------------------- */

#define MAX_CANDS 16
#define MAX_SSRCS 8
#define NACK_PENDING 32 /* --nack-every, --nack-gaps: NACKed sequence numbers awaited at once */
#define GAP_NACK_MAX 16 /* --nack-gaps: a longer jump is a new stream, not a loss to repair */
#define GAP_NACK_TRIES 3          /* --nack-gaps: NACKs per missing packet, as browsers retry */
#define GAP_NACK_RETRY_US 50000   /* between them */
#define SEQ_WINDOW 512  /* sequence numbers remembered per SSRC, to tell a duplicate */

/* Where a viewer is; a failed viewer keeps the stage it failed in. */
typedef enum {
    ST_CONNECT, /* WebSocket connect + upgrade */
    ST_SESSION, /* create / attach */
    ST_OFFER,   /* watch sent, waiting for the offer */
    ST_ICE,     /* answer sent, no ICE connectivity yet */
    ST_DTLS,    /* ICE ok, handshake not finished */
    ST_MEDIA,   /* SRTP up, no keyframe (or no audio) yet */
    ST_OK,      /* keyframe decrypted, audio decrypted */
    ST_COUNT
} stage;
extern const char *const stage_names[ST_COUNT];

enum {
    KIND_NONE,
    KIND_AUDIO,
    KIND_VIDEO
};

typedef struct {
    uint32_t ssrc;
    uint8_t kind;
    int64_t first_ext, max_ext; /* extended (32+ bit) sequence numbers */
    uint64_t received, gaps;
    uint64_t duplicates;               /* arrived again within SEQ_WINDOW: not received twice */
    uint64_t seen[SEQ_WINDOW / 64];    /* bit (ext % SEQ_WINDOW): that one has arrived */
    int64_t expected_prior; /* at the last receiver report, for its fraction lost */
    uint64_t received_prior;
} ssrc_stat;

/* Running counts, copied at the start and the end of the window. */
typedef struct {
    uint64_t pkts, bytes;
    uint64_t video_pkts, video_frames; /* frames: video packets with the marker bit */
} counters;

/* --placement, --failover-after-ms (cluster.c): where a viewer is served and how it moved.
 * A node id is what a redirect names ("entry" for the node the viewers connect to first). */
#define NODE_ID_MAX 64
#define MAX_EXCLUDE 4 /* nodes lost in one recovery, excluded when asking for a new one */

enum {
    PEND_NONE,     /* nothing to do */
    PEND_REDIRECT, /* the watch was answered with a redirect: reconnect to pend_to */
    PEND_FAILOVER  /* the serving node was lost: back to the entry node, excluding it */
};

typedef struct {
    char node[NODE_ID_MAX]; /* serving (or asked) node of the current session */
    struct sockaddr_in to;  /* where the current session's WebSocket goes */
    char host_hdr[80];      /* its Host header, "ip:port" */
    bool redirected;        /* the current session follows a redirect: watch with placement off */
    unsigned hops;          /* redirects in a row since the entry node (a loop guard) */
    /* a reconnect decided inside a WebSocket or packet callback, run by the next tick (the
     * callbacks must not free the connection they run on) */
    int pending;
    int64_t pending_at;
    struct sockaddr_in pend_to;
    char pend_hdr[80], pend_node[NODE_ID_MAX];
    char why[120];    /* what lost the node: the first loss of this recovery */
    bool up_once;     /* was ok once: from then on a loss fails over instead of failing */
    bool recovering;  /* lost, not ok again yet */
    int64_t deadline; /* of the current recovery (--setup-timeout after the loss) */
    char excl[MAX_EXCLUDE][NODE_ID_MAX];
    int nexcl;
    unsigned failovers, attempts; /* losses; sessions tried while recovering */
    int64_t lost_at;              /* the last RTP packet before the loss */
    int64_t sess_first_rtp, sess_first_key, sess_last_rtp; /* of the current session */
    int64_t max_recovery_us, max_recovery_key_us; /* lost_at -> first packet / keyframe; -1 */
} placement_state;

typedef struct viewer viewer;
typedef struct {
    viewer *v;
    bool udp;
} fdref;

struct viewer {
    int idx;
    int epfd;
    int64_t start_at;
    bool started;
    _Atomic int st;
    _Atomic bool failed;
    char error[200];

    ws_conn ws;
    fdref wsref, udpref;
    uint32_t ws_events;
    int udp;
    struct sockaddr_in local;
    uint64_t session_id, handle_id;
    unsigned tx_counter;
    bool offer_done;

    int64_t t_start, t_open, t_watch, t_offer, t_ice, t_dtls, t_webrtcup, t_first_pkt, t_first_key,
        t_audio_ok, t_ok;
    int64_t next_keepalive, next_check, check_interval;

    char lufrag[9], lpwd[25];
    uint64_t tie_breaker;
    uint32_t txn;
    uint8_t txid_prefix[4];
    char *rufrag, *rpwd, *fp_hash, *fp_value;
    bool controlling, dtls_client, has_audio, has_video;
    uint8_t pt_kind[128];
    struct sockaddr_in cands[MAX_CANDS];
    int ncand;
    bool ice_ok, nominated;
    struct sockaddr_in remote;
    odeon_dtls_endpoint *dtls;
    odeon_srtp *srtp;
    const char *srtp_profile;

    counters c, win0, win1;
    int64_t win0_t, win1_t;
    uint64_t audio_pkts, video_pkts, rtcp_pkts, other_pkts, decrypted, auth_fail, replayed;
    uint64_t slowlinks;
    uint32_t sample_ctr, drop_ctr, corrupt_ctr;
    bool got_key, audio_ok;
    ssrc_stat ss[MAX_SSRCS];
    int nss;
    vp8_receiver *rx; /* --decode viewers only */
    bool stamped;     /* --frame-times decoders: packets carry the kernel's receive time */

    /* stalls: the longest time between two video RTP packets (from the cleartext header, so
     * every viewer), and at the end of the window the time since the last one and since the
     * last decoded frame (a stream that stopped has no "next" packet to measure a gap with) */
    int64_t last_video_us, max_video_gap_us, video_gap_end_us, stall_end_us;
    bool window_over; /* the window ended: gaps and decoding stop (the last packets drain) */
    /* gaps in the window between two RTP packets of any kind, across reconnects, and at the
     * end the time since the last one: the "did this viewer notice anything" figure */
    bool in_window;
    int64_t last_rtp_us, max_gap_us;

    placement_state pl;
    /* counts of the sessions a failover ended (their SSRCs are gone from ss[]) */
    uint64_t retired_received, retired_lost;

    /* --remb: an SRTCP compound (RR, SDES, REMB) every RTCP_US once ok */
    uint32_t rtcp_ssrc;
    int64_t next_rtcp;
    uint64_t rtcp_sent, rtcp_errors, remb_bps;

    /* --nack-every (viewer 0): NACKs sent, and the retransmissions that answered them */
    uint64_t nacks_sent, repaired, repair_mismatch;
    uint32_t nack_ctr;
    /* --pli-every-ms (viewer 0): keyframe requests sent, to the last video SSRC seen */
    uint64_t plis_sent;
    int64_t next_pli;
    uint32_t video_ssrc;
    uint16_t nack_seq[NACK_PENDING];
    uint64_t nack_hash[NACK_PENDING];
    bool nack_live[NACK_PENDING];
    /* --nack-gaps: sequence numbers a jump skipped and that were NACKed, awaited (counted in
     * nacks_sent and, when they come, in repaired) */
    uint16_t gap_seq[NACK_PENDING];
    bool gap_live[NACK_PENDING];
    int64_t gap_sent_us[NACK_PENDING]; /* when it was last NACKed */
    uint8_t gap_tries[NACK_PENDING];
    unsigned gap_next;
};

/* Loss of one SSRC from its cleartext sequence numbers: expected (highest - first + 1) minus
 * received (report.c; viewers.c folds a closed session's SSRCs with it). */
uint64_t ssrc_lost(const ssrc_stat *s);

/* "odeon-load: " + the message + newline on stderr, one line at a time across threads. */
void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* viewers.c: the viewer failed for good (the first reason is kept and reported), and whether
 * the run is over (the workers are stopping: a session that ends now is no loss). */
void vfail(viewer *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool viewers_stopping(void);

/* ----- cluster.c: --placement, --failover-after-ms, --entry-viewers ---------------------------
 * Which node a viewer's next session goes to, and what a lost session means. Everything runs on
 * the viewer's worker thread; nothing here frees or reconnects: a reconnect is marked in
 * pl.pending and viewers.c runs it on the next tick (cluster_pending_due, cluster_retarget). */

typedef struct {
    const char *host; /* the entry node: --host/--port (borrowed: lives as long as the run) */
    int port;
    bool placement;        /* --placement */
    int entry_viewers;     /* --entry-viewers: viewers 0..N-1 watch without placement */
    int failover_after_ms; /* --failover-after-ms; 0: a lost session is a failure */
    double setup_timeout;  /* seconds: the deadline of a recovery */
    bool verbose;
} cluster_opts;

/* Once, before the workers start (copied). */
void cluster_configure(const cluster_opts *o);
/* Points the next session at the entry node (where every viewer starts), node "entry". */
void cluster_entry_target(placement_state *p);
/* The placement fields of a watch body (body is borrowed): "placement": false at a node a
 * redirect named; "placement": true, the client key and the excluded nodes at the entry with
 * --placement or in a recovery; nothing otherwise (--watch as it is). */
void cluster_watch_fields(const viewer *v, json_t *body);
/* A plugin result (borrowed): true when it is a redirect before the offer, which is then
 * handled (a reconnect marked, or a loss when the redirect is unusable or one too many). */
bool cluster_on_result(viewer *v, json_t *result, bool offer_done);
/* The server side ended this viewer's session (a WebSocket error or close, a Janus or plugin
 * error, hangup, a failed DTLS, no media). Without --failover-after-ms, or before the viewer was
 * ever ok, that is a failure (vfail). Otherwise it is a failover: pl.pending asks the next tick
 * to go back to the entry node (a retry of a failed recovery waits 250 ms), until the
 * recovery's deadline. Only marks: safe inside any callback. */
void session_lost(viewer *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether a marked reconnect is due now. */
bool cluster_pending_due(const viewer *v, int64_t now);
/* After the old session's teardown: points pl at the new target (the redirect's node, or the
 * entry for a failover) and clears the mark. */
void cluster_retarget(viewer *v);
/* The viewer is ok (again): from now on a loss is a failover; a recovery's times are taken. */
void cluster_became_ok(viewer *v);
/* --failover-after-ms: true (and the session lost) when an ok session got no RTP for that long. */
bool cluster_silent(viewer *v, int64_t now);

/* ----- report.c ------------------------------------------------------------------------------- */

/* What the report reads: the viewers, once the workers are joined, and the options it prints or
 * judges the run by. */
typedef struct {
    const viewer *viewers;
    int n; /* --viewers */
    const char *label, *plugin, *watch;
    int decode, json;
    bool placement, failover; /* --placement, --failover-after-ms > 0: the cluster line */
    bool frame_times;         /* --frame-times: frame delay per node (summary, cluster line) */
    int64_t window_start_us, window_end_us; /* the measured window (monotonic) */
    const char *source_frame_log; /* --source-frame-log: the source's send time per frame */
    double max_loss_pct, source_fps;
    int64_t cpu_us;   /* odeon-load's own CPU time (user + system) over the window */
    double elapsed_s; /* from the start to the end of the window */
} report_input;

/* Prints the report on stdout: with --json one line per viewer and the summary line, then the
 * table and the video line; the first error per stage goes to stderr. 0 when the run passes
 * (every viewer ok, loss within --max-loss-pct, no SRTP authentication failure, and with
 * --decode the checksums agree), else 1. */
int viewers_report(const report_input *in);

#endif
