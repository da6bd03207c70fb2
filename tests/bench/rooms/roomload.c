/*
 * roomload.c - breakout-room load generator for tests/bench/rooms (see README.md there).
 *
 * R rooms of S members (default 6). Every member is a thread with one API session over plain
 * HTTP/1.1 (Janus API, long-poll for events) and two handles on the VideoRoom-compatible plugin
 * named on the command line (janus.plugin.videoroom or odeon.plugin.room):
 *
 *   - a publisher handle: "join" as publisher, "publish" with an offer (Opus + VP8, BUNDLE,
 *     rtcp-mux, actpass, one host candidate); ICE as the controlling agent, DTLS, SRTP, then
 *     Opus-shaped audio and VP8-shaped video (RFC 7741 payload descriptor, keyframes with a real
 *     VP8 keyframe header) paced by the member's thread;
 *   - a subscriber handle: once the S members of its room all send media (a barrier per room),
 *     "join" as subscriber to the S-1 other feeds, answer the server's offer (recvonly, one
 *     m-line per offered one, a=setup:active), "start"; ICE as the controlled agent (unless the
 *     server is ice-lite), DTLS client, SRTP, and count the packets the server forwards, per
 *     SSRC from the clear RTP header (one in --decrypt-every is decrypted to check it is valid).
 *
 * The main thread waits until every member publishes and receives video from every other member
 * of its room (or the setup timeout passes), lets the load run for a warm-up, then measures a
 * window: packets sent and received, the packets the subscribers should have received (what
 * the other members of their room sent), and the CPU time of the server process (--cpu-pid,
 * utime+stime from /proc/<pid>/stat) and of roomload itself over exactly that window. It prints
 * one JSON line on stdout (and one line per member to --members-out); progress and failures go
 * to stderr.
 *
 * It reuses the core's WebRTC modules (src/webrtc: stun, dtls, srtp, rtp, sdp) and
 * tests/bench/common/rtcclient.c, like echoload.c (tests/bench/echo), whose HTTP client and
 * long-poll loop it follows.
 *
 * Exit status: 0 when at least one member received media and the window was measured, 3 when
 * none got that far (the JSON line says at which stage the members stopped), 2 for bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "../common/rtcclient.h"
#include "webrtc/bytes.h"
#include "webrtc/dtls.h"
#include "webrtc/rtp.h"
#include "webrtc/sdp.h"
#include "webrtc/srtp.h"
#include "webrtc/stun.h"

/* ----- options -------------------------------------------------------------------------------- */

static struct {
    const char *host;
    int port;
    const char *base_path;
    const char *plugin;
    const char *local_ip;
    const char *label;
    const char *token_prefix; /* "t": member i sends "token":"t<i+1>"; "" for none */
    const char *members_out;
    int rooms, room_size, room_base, create_rooms;
    double duration, warmup, setup_timeout, ramp_ms;
    int audio_pps, audio_size;
    int fps, video_kbps, max_payload;
    double keyframe_s;
    int decrypt_every;
    int recv_batch_us;
    int cpu_pid;
    int verbose;
} opt = {
    .host = "127.0.0.1",
    .port = 8088,
    .base_path = "/janus",
    .plugin = "janus.plugin.videoroom",
    .label = "server",
    .token_prefix = "t",
    .rooms = 2,
    .room_size = 6,
    .room_base = 1,
    .duration = 15,
    .warmup = 3,
    .setup_timeout = 40,
    .ramp_ms = 30,
    .audio_pps = 50,
    .audio_size = 80,
    .fps = 30,
    .video_kbps = 500,
    .max_payload = 1100,
    .keyframe_s = 2,
    .decrypt_every = 16,
    .recv_batch_us = 5000,
};

#define AUDIO_PT 111
#define VIDEO_PT 96
#define MAX_CANDS 16
#define MAX_SSRC 32
#define MAX_FEEDS 32
#define PKT_CAP (1500 + ODEON_SRTP_RTCP_TAIL_ROOM)
#define CONSENT_US (2 * 1000 * 1000)

static int64_t now_us(void)
{
    return rtcc_now_us();
}

static atomic_bool g_stop;
static atomic_bool g_media_stop;
static odeon_dtls_identity *g_identity;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t g_noise[2048];

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&g_log_mu);
    fputs("roomload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&g_log_mu);
    va_end(ap);
}

/* ----- members -------------------------------------------------------------------------------- */

typedef enum {
    ST_SIGNAL,    /* create / attach */
    ST_JOIN,      /* waiting for "joined" */
    ST_PUBLISH,   /* waiting for the publish answer */
    ST_PUB_ICE,   /* publisher: no STUN success yet */
    ST_PUB_DTLS,  /* publisher: handshake not finished */
    ST_BARRIER,   /* sending media, waiting for the rest of the room */
    ST_SUBSCRIBE, /* subscriber join sent, no offer yet */
    ST_STARTED,   /* answer sent, waiting for "started" */
    ST_SUB_ICE,   /* subscriber: ICE */
    ST_SUB_DTLS,  /* subscriber: DTLS */
    ST_SUB_MEDIA, /* subscriber connected, not yet video from every feed */
    ST_OK,        /* publishing and receiving every feed */
    ST_COUNT
} stage;
static const char *const stage_names[ST_COUNT] = {
    "signal",    "join",    "publish", "pub_ice",  "pub_dtls",  "barrier",
    "subscribe", "started", "sub_ice", "sub_dtls", "sub_media", "ok"};

/* One PeerConnection: its socket, ICE, DTLS and SRTP state (member thread only). */
typedef struct {
    const char *name; /* "pub" / "sub" */
    int udp;
    struct sockaddr_in local;
    char lufrag[9], lpwd[25];
    char *rufrag, *rpwd, *fp_hash, *fp_value;
    bool have_remote, controlling, dtls_client, ice_ok;
    struct sockaddr_in cands[MAX_CANDS];
    int cand_count;
    struct sockaddr_in remote;
    uint8_t txid_prefix[4];
    uint32_t txn;
    uint64_t tie_breaker;
    int64_t next_check, check_interval;
    odeon_dtls_endpoint *dtls;
    odeon_srtp *srtp;
} pc;

typedef struct {
    uint32_t ssrc;
    uint8_t pt;
    bool valid; /* one packet of it decrypted */
    uint64_t count;
} rx_stream;

typedef struct member {
    int idx, room_idx; /* room_idx: 0..rooms-1 */
    char token[48];    /* sent with every request ("" for none) */
    pthread_t thr, lp_thr;
    bool lp_started;
    uint64_t session_id, pub_handle, sub_handle;
    pc pub, sub;
    uint32_t assrc, vssrc;

    /* shared with the long-poll thread, under mu */
    pthread_mutex_t mu;
    uint64_t feed_id;
    bool joined, started, pub_up; /* pub_up: "webrtcup" on the publisher handle */
    bool sub_retry;               /* "No such feed" (428): the server is not ready yet */
    char *pub_answer, *sub_offer;
    char *trickled[2][MAX_CANDS];
    int trickled_count[2], trickled_seen[2];
    bool hangup;
    char error[240];
    int lp_fd;
    bool lp_stop;
    int wake[2];
    int64_t t_start, t_published, t_receiving;

    /* member thread only */
    bool pub_sent, barrier_counted, sub_sent, answer_sent;
    int sub_retries;
    int64_t sub_not_before;
    int feeds; /* feeds subscribed to */
    int feed_members[MAX_FEEDS];
    uint8_t sub_audio_pt, sub_video_pt;
    rx_stream rx[MAX_SSRC];
    int rx_n;
    uint64_t rx_seen;

    _Atomic int st;
    atomic_uint_fast64_t sent, recv, recv_audio, recv_video, rtcp_in, decrypt_ok, decrypt_err;
    atomic_int valid_video_ssrcs;
} member;

static member *g_members;
static int g_member_count;
typedef struct {
    atomic_int ready; /* members whose publisher sends media */
} room_state;
static room_state *g_rooms;

static void member_fail(member *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void member_fail(member *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&m->mu);
    if (!m->error[0])
        vsnprintf(m->error, sizeof m->error, fmt, ap);
    pthread_mutex_unlock(&m->mu);
    va_end(ap);
}

static bool member_failed(member *m)
{
    pthread_mutex_lock(&m->mu);
    bool f = m->error[0] != '\0' || m->hangup;
    pthread_mutex_unlock(&m->mu);
    return f;
}

static void member_wake(member *m)
{
    char c = 1;
    ssize_t r = write(m->wake[1], &c, 1);
    (void)r;
}

static uint64_t room_id(int room_idx)
{
    return (uint64_t)(opt.room_base + room_idx);
}

/* ----- HTTP/1.1 client (rtcclient.c): one connection per request -------------------------------- */

/* One request (see rtcc_http_json); a cancellable one publishes its socket in m->lp_fd so
 * stop_all can shut it down. */
static json_t *http_json(member *m, const char *method, const char *path, const char *body,
                         int timeout_ms, bool cancellable, char *err, size_t errlen)
{
    rtcc_http_cancel cancel = {.mu = &m->mu, .stop = &m->lp_stop, .fd = &m->lp_fd};
    return rtcc_http_json(opt.host, opt.port, method, path, body, timeout_ms,
                          cancellable ? &cancel : NULL, err, errlen);
}

/* POST; the reply, or NULL (and the member's error) on failure or an "error" reply. */
static json_t *api_post(member *m, const char *path, json_t *req)
{
    char err[160] = "";
    char tx[40];
    snprintf(tx, sizeof tx, "m%d-%lld", m->idx, (long long)now_us());
    json_object_set_new(req, "transaction", json_string(tx));
    if (m->token[0])
        json_object_set_new(req, "token", json_string(m->token));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *j = http_json(m, "POST", path, body, 10000, false, err, sizeof err);
    free(body);
    if (!j) {
        member_fail(m, "POST %s: %s", path, err);
        return NULL;
    }
    const char *kind = json_string_value(json_object_get(j, "janus"));
    if (!kind || strcmp(kind, "error") == 0) {
        json_t *e = json_object_get(j, "error");
        const char *reason = json_string_value(json_object_get(e, "reason"));
        member_fail(m, "POST %s: error %lld %s", path,
                    (long long)json_integer_value(json_object_get(e, "code")),
                    reason ? reason : "");
        json_decref(j);
        return NULL;
    }
    return j;
}

static void handle_path(member *m, uint64_t handle, char *path, size_t len)
{
    snprintf(path, len, "%s/%llu/%llu", opt.base_path, (unsigned long long)m->session_id,
             (unsigned long long)handle);
}

/* A plugin message with an optional jsep; the (sync) reply is handled like an event. */
static void handle_event(member *m, json_t *ev);
static int plugin_message(member *m, uint64_t handle, json_t *body, const char *jsep_type,
                          const char *sdp)
{
    char path[160];
    handle_path(m, handle, path, sizeof path);
    json_t *req = json_pack("{s:s,s:o}", "janus", "message", "body", body);
    if (jsep_type)
        json_object_set_new(req, "jsep",
                            json_pack("{s:s,s:s}", "type", jsep_type, "sdp", sdp));
    json_t *r = api_post(m, path, req);
    if (!r)
        return -1;
    handle_event(m, r);
    json_decref(r);
    return 0;
}

/* ----- events (long-poll thread) -------------------------------------------------------------- */

static void handle_event(member *m, json_t *ev)
{
    const char *kind = json_string_value(json_object_get(ev, "janus"));
    if (!kind)
        return;
    uint64_t sender = (uint64_t)json_integer_value(json_object_get(ev, "sender"));
    int which = sender && sender == m->sub_handle ? 1 : 0;
    pthread_mutex_lock(&m->mu);
    if (strcmp(kind, "event") == 0 || strcmp(kind, "success") == 0) {
        json_t *data = json_object_get(json_object_get(ev, "plugindata"), "data");
        const char *vr = json_string_value(json_object_get(data, "videoroom"));
        json_t *jsep = json_object_get(ev, "jsep");
        const char *type = json_string_value(json_object_get(jsep, "type"));
        const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
        const char *perr = json_string_value(json_object_get(data, "error"));
        json_int_t code = json_integer_value(json_object_get(data, "error_code"));
        if ((perr || (vr && strcmp(vr, "error") == 0)) && which && code == 428 && !m->sub_offer) {
            m->sub_retry = true;
        } else if (perr || (vr && strcmp(vr, "error") == 0)) {
            if (!m->error[0])
                snprintf(m->error, sizeof m->error, "%s handle: plugin error %lld: %s",
                         which ? "subscriber" : "publisher",
                         (long long)code, perr ? perr : "?");
        } else if (vr && strcmp(vr, "joined") == 0 && !which) {
            m->feed_id = (uint64_t)json_integer_value(json_object_get(data, "id"));
            m->joined = true;
        } else if (vr && strcmp(vr, "attached") == 0 && type && sdp &&
                   strcmp(type, "offer") == 0 && !m->sub_offer) {
            m->sub_offer = g_strdup(sdp);
        } else if (type && sdp && strcmp(type, "answer") == 0 && !which && !m->pub_answer) {
            m->pub_answer = g_strdup(sdp);
        }
        if (vr && strcmp(vr, "event") == 0 && json_object_get(data, "started"))
            m->started = true;
    } else if (strcmp(kind, "webrtcup") == 0) {
        if (!which)
            m->pub_up = true;
    } else if (strcmp(kind, "trickle") == 0) {
        json_t *c = json_object_get(ev, "candidate");
        const char *s = json_string_value(json_object_get(c, "candidate"));
        if (s && m->trickled_count[which] < MAX_CANDS)
            m->trickled[which][m->trickled_count[which]++] = g_strdup(s);
    } else if (strcmp(kind, "hangup") == 0 || strcmp(kind, "detached") == 0 ||
               strcmp(kind, "timeout") == 0) {
        const char *reason = json_string_value(json_object_get(ev, "reason"));
        if (!atomic_load(&g_stop)) {
            m->hangup = true;
            if (!m->error[0])
                snprintf(m->error, sizeof m->error, "%s handle: %s%s%s",
                         which ? "subscriber" : "publisher", kind, reason ? ": " : "",
                         reason ? reason : "");
        }
    }
    pthread_mutex_unlock(&m->mu);
    member_wake(m);
}

static void *longpoll_main(void *arg)
{
    member *m = arg;
    char path[128], err[160];
    snprintf(path, sizeof path, "%s/%llu?maxev=10%s%s", opt.base_path,
             (unsigned long long)m->session_id, m->token[0] ? "&token=" : "", m->token);
    for (;;) {
        pthread_mutex_lock(&m->mu);
        bool stop = m->lp_stop;
        pthread_mutex_unlock(&m->mu);
        if (stop)
            break;
        json_t *j = http_json(m, "GET", path, NULL, 45000, true, err, sizeof err);
        if (!j) {
            pthread_mutex_lock(&m->mu);
            stop = m->lp_stop;
            bool gone = strcmp(err, "HTTP status 404") == 0;
            if (gone && !m->error[0])
                snprintf(m->error, sizeof m->error, "long-poll: session gone (404)");
            m->hangup |= gone;
            pthread_mutex_unlock(&m->mu);
            if (stop || gone)
                break;
            if (opt.verbose)
                logf_("member %d: long-poll: %s", m->idx, err);
            usleep(100 * 1000);
            continue;
        }
        if (json_is_array(j)) {
            size_t i;
            json_t *ev;
            json_array_foreach(j, i, ev)
                handle_event(m, ev);
        } else {
            handle_event(m, j);
        }
        json_decref(j);
    }
    return NULL;
}

/* ----- signalling (member thread) ------------------------------------------------------------- */

static char *build_pub_offer(member *m)
{
    pc *c = &m->pub;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &c->local.sin_addr, ip, sizeof ip);
    const char *fp = odeon_dtls_identity_fingerprint(g_identity);
    char common[512];
    snprintf(common, sizeof common,
             "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
             "a=ice-options:trickle\r\na=fingerprint:sha-256 %s\r\na=setup:actpass\r\n",
             c->lufrag, c->lpwd, fp);
    return g_strdup_printf(
        "v=0\r\no=- %u 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
        "a=msid-semantic: WMS roomload%d\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF %d\r\n%sa=mid:0\r\na=sendonly\r\n"
        "a=msid:roomload%d a%d\r\n"
        "a=rtcp-mux\r\na=rtpmap:%d opus/48000/2\r\na=fmtp:%d minptime=10;useinbandfec=1\r\n"
        "a=ssrc:%u cname:roomload%d\r\na=ssrc:%u msid:roomload%d a%d\r\n"
        "a=candidate:1 1 udp 2130706431 %s %u typ host\r\na=end-of-candidates\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF %d\r\n%sa=mid:1\r\na=sendonly\r\na=msid:roomload%d v%d\r\n"
        "a=rtcp-mux\r\na=rtpmap:%d VP8/90000\r\na=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\n"
        "a=rtcp-fb:%d ccm fir\r\n"
        "a=ssrc:%u cname:roomload%d\r\na=ssrc:%u msid:roomload%d v%d\r\n",
        (unsigned)g_random_int(), m->idx, AUDIO_PT, common, m->idx, m->idx, AUDIO_PT, AUDIO_PT,
        m->assrc, m->idx, m->assrc, m->idx, m->idx, ip, ntohs(c->local.sin_port), VIDEO_PT,
        common, m->idx, m->idx, VIDEO_PT, VIDEO_PT, VIDEO_PT, VIDEO_PT, m->vssrc, m->idx, m->vssrc,
        m->idx, m->idx);
}

static void pc_add_candidate(member *m, pc *c, const char *line, const char *source)
{
    struct sockaddr_in a;
    if (rtcc_parse_candidate(line, &a) != 0)
        return;
    for (int i = 0; i < c->cand_count; i++)
        if (memcmp(&c->cands[i], &a, sizeof a) == 0)
            return;
    if (c->cand_count < MAX_CANDS)
        c->cands[c->cand_count++] = a;
    if (opt.verbose) {
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
        logf_("member %d %s: server candidate %s:%u (%s)", m->idx, c->name, ip, ntohs(a.sin_port),
              source);
    }
}

static void dtls_send(void *user, const uint8_t *data, size_t len);

static int pc_dtls_setup(member *m, pc *c)
{
    char *err = NULL;
    c->dtls = odeon_dtls_endpoint_new(
        g_identity, c->dtls_client ? ODEON_DTLS_ROLE_CLIENT : ODEON_DTLS_ROLE_SERVER, c->fp_hash,
        c->fp_value, dtls_send, c, &err);
    if (!c->dtls) {
        member_fail(m, "%s dtls: %s", c->name, err ? err : "?");
        g_free(err);
        return -1;
    }
    odeon_dtls_endpoint_set_deadline_us(c->dtls, (int64_t)(opt.setup_timeout * 1e6));
    odeon_dtls_endpoint_set_initial_rto_us(c->dtls, 100 * 1000);
    return 0;
}

/* The transport part of the other side's description. 0 or -1 (member error set). */
static int pc_apply_remote(member *m, pc *c, const odeon_sdp *sdp)
{
    rtcc_remote_transport rt;
    if (rtcc_remote_transport_of(sdp, &rt) != 0) {
        member_fail(m, "%s: remote SDP lacks m-lines, ice-ufrag, ice-pwd or fingerprint",
                    c->name);
        return -1;
    }
    c->rufrag = g_strdup(rt.ufrag);
    c->rpwd = g_strdup(rt.pwd);
    c->fp_hash = g_strdup(rt.fingerprint->hash);
    c->fp_value = g_strdup(rt.fingerprint->value);
    /* we offer actpass and answer active: the other side is the DTLS server unless it says
     * "active" */
    c->dtls_client = !(rt.setup && strcmp(rt.setup, "active") == 0);
    if (sdp->ice_lite)
        c->controlling = true;
    for (size_t i = 0; i < sdp->media_count; i++)
        for (size_t k = 0; k < sdp->media[i].candidate_count; k++)
            pc_add_candidate(m, c, sdp->media[i].candidates[k], "sdp");
    c->have_remote = true;
    c->next_check = 0;
    c->check_interval = 50 * 1000;
    return pc_dtls_setup(m, c);
}

static odeon_sdp *parse_sdp(member *m, const char *what, const char *text)
{
    char *err = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, strlen(text), &err);
    if (!sdp) {
        member_fail(m, "%s SDP: %s", what, err ? err : "?");
        g_free(err);
    }
    return sdp;
}

/* The answer to the subscriber offer: every offered m-line accepted recvonly (RTP) or rejected
 * (anything else), one BUNDLE group, our credentials and candidate. */
static char *build_sub_answer(member *m, const odeon_sdp *offer)
{
    pc *c = &m->sub;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &c->local.sin_addr, ip, sizeof ip);
    const char *fp = odeon_dtls_identity_fingerprint(g_identity);
    GString *bundle = g_string_new("a=group:BUNDLE");
    GString *body = g_string_new(NULL);
    for (size_t i = 0; i < offer->media_count; i++) {
        const odeon_sdp_media *md = &offer->media[i];
        const char *mid = md->mid ? md->mid : "";
        if (!md->is_rtp || md->port == 0 || md->pt_count == 0) {
            g_string_append_printf(body, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\na=mid:%s\r\n"
                                         "a=inactive\r\n",
                                   md->media, md->proto,
                                   md->is_rtp ? (md->pt_count ? "0" : "0")
                                              : (md->formats ? md->formats : "0"),
                                   mid);
            continue;
        }
        g_string_append_printf(bundle, " %s", mid);
        g_string_append_printf(body, "m=%s 9 UDP/TLS/RTP/SAVPF", md->media);
        for (size_t k = 0; k < md->pt_count; k++)
            g_string_append_printf(body, " %u", md->pts[k]);
        g_string_append_printf(
            body,
            "\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
            "a=ice-options:trickle\r\na=fingerprint:sha-256 %s\r\na=setup:%s\r\na=mid:%s\r\n"
            "a=recvonly\r\na=rtcp-mux\r\n",
            c->lufrag, c->lpwd, fp, c->dtls_client ? "active" : "passive", mid);
        for (size_t k = 0; k < md->rtpmap_count; k++) {
            const odeon_sdp_rtpmap *r = &md->rtpmaps[k];
            if (r->channels)
                g_string_append_printf(body, "a=rtpmap:%u %s/%u/%u\r\n", r->pt, r->name,
                                       r->clock_rate, r->channels);
            else
                g_string_append_printf(body, "a=rtpmap:%u %s/%u\r\n", r->pt, r->name,
                                       r->clock_rate);
        }
        for (size_t k = 0; k < md->fmtp_count; k++)
            g_string_append_printf(body, "a=fmtp:%u %s\r\n", md->fmtps[k].pt,
                                   md->fmtps[k].params);
        if (md->kind == ODEON_SDP_MEDIA_VIDEO)
            g_string_append_printf(body, "a=rtcp-fb:%u nack\r\na=rtcp-fb:%u nack pli\r\n",
                                   md->pts[0], md->pts[0]);
        if (md->kind == ODEON_SDP_MEDIA_AUDIO && !m->sub_audio_pt)
            m->sub_audio_pt = md->pts[0];
        if (md->kind == ODEON_SDP_MEDIA_VIDEO && !m->sub_video_pt)
            m->sub_video_pt = md->pts[0];
        g_string_append_printf(body,
                               "a=candidate:1 1 udp 2130706431 %s %u typ host\r\n"
                               "a=end-of-candidates\r\n",
                               ip, ntohs(c->local.sin_port));
    }
    char *sdp = g_strdup_printf("v=0\r\no=- %u 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n%s\r\n"
                                "a=msid-semantic: WMS *\r\n%s",
                                (unsigned)g_random_int(), bundle->str, body->str);
    g_string_free(bundle, TRUE);
    g_string_free(body, TRUE);
    return sdp;
}

/* create (with the member's token), attach twice, long-poll, join as publisher. */
static int signal_join(member *m)
{
    char path[128];
    json_t *r = api_post(m, opt.base_path, json_pack("{s:s}", "janus", "create"));
    if (!r)
        return -1;
    m->session_id = (uint64_t)json_integer_value(json_object_get(json_object_get(r, "data"), "id"));
    json_decref(r);
    snprintf(path, sizeof path, "%s/%llu", opt.base_path, (unsigned long long)m->session_id);
    for (int h = 0; h < 2; h++) {
        r = api_post(m, path, json_pack("{s:s,s:s}", "janus", "attach", "plugin", opt.plugin));
        if (!r)
            return -1;
        uint64_t id = (uint64_t)json_integer_value(json_object_get(json_object_get(r, "data"), "id"));
        json_decref(r);
        if (h == 0)
            m->pub_handle = id;
        else
            m->sub_handle = id;
    }
    if (pthread_create(&m->lp_thr, NULL, longpoll_main, m) != 0) {
        member_fail(m, "cannot start the long-poll thread");
        return -1;
    }
    m->lp_started = true;
    char display[32];
    snprintf(display, sizeof display, "m%d", m->idx + 1);
    atomic_store(&m->st, ST_JOIN);
    return plugin_message(m, m->pub_handle,
                          json_pack("{s:s,s:s,s:I,s:s}", "request", "join", "ptype", "publisher",
                                    "room", (json_int_t)room_id(m->room_idx), "display", display),
                          NULL, NULL);
}

static int signal_publish(member *m)
{
    char *sdp = build_pub_offer(m);
    int rc = plugin_message(m, m->pub_handle, json_pack("{s:s}", "request", "publish"), "offer",
                            sdp);
    g_free(sdp);
    return rc;
}

/* The feeds of the other members of the room (all of them have published). */
static int signal_subscribe(member *m)
{
    json_t *streams = json_array();
    int base = m->room_idx * opt.room_size;
    m->feeds = 0;
    for (int i = base; i < base + opt.room_size && i < g_member_count; i++) {
        if (i == m->idx)
            continue;
        member *o = &g_members[i];
        pthread_mutex_lock(&o->mu);
        uint64_t feed = o->feed_id;
        pthread_mutex_unlock(&o->mu);
        json_array_append_new(streams, json_pack("{s:I}", "feed", (json_int_t)feed));
        if (m->feeds < MAX_FEEDS)
            m->feed_members[m->feeds++] = i;
    }
    atomic_store(&m->st, ST_SUBSCRIBE);
    return plugin_message(m, m->sub_handle,
                          json_pack("{s:s,s:s,s:I,s:o}", "request", "join", "ptype", "subscriber",
                                    "room", (json_int_t)room_id(m->room_idx), "streams", streams),
                          NULL, NULL);
}

/* ----- ICE, DTLS, SRTP ------------------------------------------------------------------------ */

static void udp_send(pc *c, const struct sockaddr_in *to, const uint8_t *buf, size_t len)
{
    ssize_t r = sendto(c->udp, buf, len, 0, (const struct sockaddr *)to, sizeof *to);
    (void)r;
}

static void dtls_send(void *user, const uint8_t *data, size_t len)
{
    pc *c = user;
    udp_send(c, &c->remote, data, len);
}

static size_t pc_binding_request(member *m, pc *c, uint8_t *buf)
{
    rtcc_binding_request req = {.remote_ufrag = c->rufrag,
                                .local_ufrag = c->lufrag,
                                .remote_pwd = c->rpwd,
                                .controlling = c->controlling,
                                .tie_breaker = c->tie_breaker,
                                .use_candidate = c->controlling};
    memcpy(req.txid, c->txid_prefix, 4);
    odeon_put_be32(req.txid + 4, ++c->txn);
    odeon_put_be32(req.txid + 8, (uint32_t)m->idx);
    return rtcc_stun_binding_request(&req, buf);
}

static void pc_send_checks(member *m, pc *c)
{
    uint8_t buf[800];
    if (c->ice_ok) {
        size_t n = pc_binding_request(m, c, buf);
        udp_send(c, &c->remote, buf, n);
        return;
    }
    for (int i = 0; i < c->cand_count; i++) {
        size_t n = pc_binding_request(m, c, buf);
        udp_send(c, &c->cands[i], buf, n);
    }
}

static void pc_ice_connected(member *m, pc *c, const struct sockaddr_in *from, const char *how)
{
    if (c->ice_ok)
        return;
    c->ice_ok = true;
    c->remote = *from;
    if (opt.verbose)
        logf_("member %d %s: ICE connected (%s)", m->idx, c->name, how);
}

static void pc_on_stun(member *m, pc *c, const uint8_t *buf, size_t len,
                       const struct sockaddr_in *from)
{
    odeon_stun_msg msg;
    if (odeon_stun_parse(buf, len, &msg) != 0 || msg.method != ODEON_STUN_METHOD_BINDING)
        return;
    if (msg.cls == ODEON_STUN_CLASS_REQUEST) {
        uint8_t out[256];
        size_t n = rtcc_stun_answer(&msg, c->lpwd, from, out, sizeof out);
        if (n == 0)
            return;
        udp_send(c, from, out, n);
        /* controlled: the server's authenticated check on our only candidate is the pair */
        if (!c->controlling && c->have_remote)
            pc_ice_connected(m, c, from, "server check");
        return;
    }
    if (msg.cls == ODEON_STUN_CLASS_ERROR) {
        if (opt.verbose && memcmp(msg.txid, c->txid_prefix, 4) == 0)
            logf_("member %d %s: STUN error response", m->idx, c->name);
        return;
    }
    if (rtcc_stun_is_our_success(&msg, c->txid_prefix, c->rpwd))
        pc_ice_connected(m, c, from, "our check");
}

static int pc_dtls_step(member *m, pc *c)
{
    if (!c->dtls || !c->ice_ok)
        return 0;
    odeon_dtls_state s = odeon_dtls_endpoint_state(c->dtls);
    if (s == ODEON_DTLS_STATE_NEW && c->dtls_client)
        odeon_dtls_endpoint_start(c->dtls);
    if (s == ODEON_DTLS_STATE_CONNECTING && odeon_dtls_endpoint_timeout_us(c->dtls) == 0)
        odeon_dtls_endpoint_handle_timeout(c->dtls);
    s = odeon_dtls_endpoint_state(c->dtls);
    if (s == ODEON_DTLS_STATE_CONNECTED && !c->srtp) {
        const char *name = NULL;
        char *err = NULL;
        c->srtp = rtcc_srtp_from_dtls(c->dtls, c->dtls_client, &name, &err);
        if (!c->srtp) {
            member_fail(m, "%s srtp (%s): %s", c->name, name ? name : "?", err ? err : "?");
            g_free(err);
            return -1;
        }
        if (opt.verbose)
            logf_("member %d %s: DTLS connected as %s, %s", m->idx, c->name,
                  c->dtls_client ? "client" : "server", name);
        return 0;
    }
    if (s == ODEON_DTLS_STATE_FAILED) {
        const char *why = odeon_dtls_endpoint_failure_reason(c->dtls);
        member_fail(m, "%s dtls failed: %s", c->name, why ? why : "?");
        return -1;
    }
    if (s == ODEON_DTLS_STATE_CLOSED && !atomic_load(&g_stop)) {
        member_fail(m, "%s dtls closed by the server", c->name);
        return -1;
    }
    return 0;
}

/* Subscriber media: counted per SSRC from the clear header; the first packet of an SSRC and one
 * in --decrypt-every are decrypted (in place: the buffer is not used afterwards). */
static void sub_on_rtp(member *m, uint8_t *buf, size_t len)
{
    pc *c = &m->sub;
    if (!c->srtp || len < 12)
        return;
    uint8_t pt = buf[1] & 0x7f;
    uint32_t ssrc = odeon_be32(buf + 8);
    rx_stream *s = NULL;
    for (int i = 0; i < m->rx_n; i++)
        if (m->rx[i].ssrc == ssrc) {
            s = &m->rx[i];
            break;
        }
    if (!s && m->rx_n < MAX_SSRC) {
        s = &m->rx[m->rx_n++];
        *s = (rx_stream){.ssrc = ssrc, .pt = pt};
    }
    bool video = pt == m->sub_video_pt;
    atomic_fetch_add(&m->recv, 1);
    atomic_fetch_add(video ? &m->recv_video : &m->recv_audio, 1);
    if (s)
        s->count++;
    m->rx_seen++;
    if ((s && !s->valid) || m->rx_seen % (uint64_t)opt.decrypt_every == 0) {
        if (odeon_srtp_unprotect_rtp(c->srtp, buf, &len) == 0) {
            atomic_fetch_add(&m->decrypt_ok, 1);
            if (s && !s->valid) {
                s->valid = true;
                if (video)
                    atomic_fetch_add(&m->valid_video_ssrcs, 1);
            }
        } else {
            atomic_fetch_add(&m->decrypt_err, 1);
        }
    }
}

static void pc_on_datagram(member *m, pc *c, uint8_t *buf, size_t len,
                           const struct sockaddr_in *from)
{
    switch (odeon_rtp_demux_classify(buf, len)) {
    case ODEON_DEMUX_STUN:
        pc_on_stun(m, c, buf, len, from);
        break;
    case ODEON_DEMUX_DTLS:
        if (!c->dtls)
            break;
        if (!c->ice_ok)
            pc_ice_connected(m, c, from, "dtls");
        odeon_dtls_endpoint_feed(c->dtls, buf, len);
        break;
    case ODEON_DEMUX_RTP:
        if (c == &m->sub)
            sub_on_rtp(m, buf, len);
        break;
    case ODEON_DEMUX_RTCP:
        if (c->srtp && odeon_srtp_unprotect_rtcp(c->srtp, buf, &len) == 0)
            atomic_fetch_add(&m->rtcp_in, 1);
        break;
    default:
        break;
    }
}

static void pc_drain(member *m, pc *c)
{
    _Alignas(8) uint8_t buf[PKT_CAP];
    for (int k = 0; k < 256; k++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(c->udp, buf, 1500, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n <= 0)
            return;
        if (from.sin_family == AF_INET)
            pc_on_datagram(m, c, buf, (size_t)n, &from);
    }
}

/* ICE checks (and consent) and DTLS timers; returns the wait until the next timer. */
static int64_t pc_tick(member *m, pc *c, int64_t now, int *rc)
{
    int64_t wait = 100 * 1000;
    *rc = 0;
    if (!c->have_remote)
        return wait;
    if ((c->cand_count || c->ice_ok) && now >= c->next_check) {
        pc_send_checks(m, c);
        if (c->ice_ok)
            c->check_interval = CONSENT_US;
        else if (c->check_interval < 400 * 1000)
            c->check_interval += 25 * 1000;
        c->next_check = now + c->check_interval;
    }
    if ((c->cand_count || c->ice_ok) && c->next_check - now < wait)
        wait = c->next_check - now;
    if (pc_dtls_step(m, c) != 0) {
        *rc = -1;
        return wait;
    }
    if (c->dtls && odeon_dtls_endpoint_timeout_us(c->dtls) >= 0 &&
        odeon_dtls_endpoint_timeout_us(c->dtls) < wait)
        wait = odeon_dtls_endpoint_timeout_us(c->dtls);
    return wait;
}

/* ----- media ---------------------------------------------------------------------------------- */

typedef struct {
    int64_t next_audio, next_video;
    uint16_t aseq, vseq, picture_id;
    uint32_t ats, vts, frame;
} media_clock;

static void send_rtp(member *m, uint8_t *buf, size_t len)
{
    if (odeon_srtp_protect_rtp(m->pub.srtp, buf, &len, PKT_CAP) == 0) {
        udp_send(&m->pub, &m->pub.remote, buf, len);
        atomic_fetch_add(&m->sent, 1);
    }
}

static void send_audio(member *m, media_clock *mc)
{
    _Alignas(8) uint8_t buf[PKT_CAP];
    rtcc_rtp_header(buf, AUDIO_PT, false, mc->aseq++, mc->ats, m->assrc);
    mc->ats += 48000 / (uint32_t)opt.audio_pps;
    memcpy(buf + 12, g_noise, (size_t)opt.audio_size);
    buf[12] = 0xf8; /* Opus TOC: config 31 (CELT fullband 20 ms), mono, one frame */
    send_rtp(m, buf, 12 + (size_t)opt.audio_size);
}

/* One frame of video_kbps / fps bytes, split into packets of at most max_payload bytes. Each
 * packet starts with a 4-byte VP8 payload descriptor (RFC 7741 4.2: X=1, S on the first packet,
 * PID 0; I=1 with a 15-bit PictureID). The frame starts with the 3-byte VP8 frame tag (P bit
 * clear on keyframes) and, on keyframes, the start code and 640x480. */
static void send_video_frame(member *m, media_clock *mc)
{
    _Alignas(8) uint8_t buf[PKT_CAP];
    int frame_bytes = opt.video_kbps * 1000 / 8 / opt.fps;
    int chunk_max = opt.max_payload - 4;
    int pkts = (frame_bytes + chunk_max - 1) / chunk_max;
    int keyframe_every = (int)(opt.keyframe_s * opt.fps + 0.5);
    bool key = keyframe_every > 0 && mc->frame % (uint32_t)keyframe_every == 0;
    int off = 0;
    for (int i = 0; i < pkts; i++) {
        int chunk = (frame_bytes - off) / (pkts - i);
        rtcc_rtp_header(buf, VIDEO_PT, i == pkts - 1, mc->vseq++, mc->vts, m->vssrc);
        uint8_t *pl = buf + 12;
        pl[0] = (uint8_t)(0x80 | (i == 0 ? 0x10 : 0x00));
        pl[1] = 0x80;
        pl[2] = (uint8_t)(0x80 | ((mc->picture_id >> 8) & 0x7f));
        pl[3] = (uint8_t)(mc->picture_id & 0xff);
        uint8_t *vp8 = pl + 4;
        memcpy(vp8, g_noise + (off % 512), (size_t)chunk);
        if (i == 0) {
            /* frame tag: P (bit 0), version 0, show_frame (bit 4), first partition size */
            vp8[0] = key ? 0x10 : 0x11;
            vp8[1] = 0x02;
            vp8[2] = 0x00;
            if (key) {
                vp8[3] = 0x9d, vp8[4] = 0x01, vp8[5] = 0x2a;
                vp8[6] = 0x80, vp8[7] = 0x02; /* width 640 */
                vp8[8] = 0xe0, vp8[9] = 0x01; /* height 480 */
            }
        }
        send_rtp(m, buf, 12 + 4 + (size_t)chunk);
        off += chunk;
    }
    mc->vts += 90000 / (uint32_t)opt.fps;
    mc->picture_id = (uint16_t)((mc->picture_id + 1) & 0x7fff);
    mc->frame++;
}

static int64_t media_tick(member *m, media_clock *mc, int64_t now)
{
    if (atomic_load(&g_media_stop))
        return 50 * 1000;
    int64_t aint = opt.audio_pps > 0 ? 1000000 / opt.audio_pps : 0;
    int64_t vint = opt.fps > 0 && opt.video_kbps > 0 ? 1000000 / opt.fps : 0;
    while (aint && now >= mc->next_audio) {
        send_audio(m, mc);
        mc->next_audio += aint;
        if (now - mc->next_audio > 200000)
            mc->next_audio = now + aint;
    }
    while (vint && now >= mc->next_video) {
        send_video_frame(m, mc);
        mc->next_video += vint;
        if (now - mc->next_video > 200000)
            mc->next_video = now + vint;
    }
    int64_t next = INT64_MAX;
    if (aint)
        next = mc->next_audio;
    if (vint && mc->next_video < next)
        next = mc->next_video;
    return next == INT64_MAX ? 50 * 1000 : next - now;
}

/* ----- the member thread ---------------------------------------------------------------------- */

/* Acts on what the long-poll thread stored. 0, or -1 when the member failed. */
static int member_signalling(member *m)
{
    char *pub_answer = NULL, *sub_offer = NULL, *tr[2][MAX_CANDS];
    int ntr[2] = {0, 0};
    pthread_mutex_lock(&m->mu);
    bool joined = m->joined, started = m->started, failed = m->error[0] || m->hangup;
    if (!m->pub.have_remote && m->pub_answer)
        pub_answer = g_strdup(m->pub_answer);
    if (!m->answer_sent && m->sub_offer)
        sub_offer = g_strdup(m->sub_offer);
    for (int w = 0; w < 2; w++)
        for (; m->trickled_seen[w] < m->trickled_count[w]; m->trickled_seen[w]++)
            tr[w][ntr[w]++] = g_strdup(m->trickled[w][m->trickled_seen[w]]);
    pthread_mutex_unlock(&m->mu);
    int rc = failed ? -1 : 0;
    if (rc == 0 && joined && !m->pub_sent) {
        m->pub_sent = true;
        atomic_store(&m->st, ST_PUBLISH);
        rc = signal_publish(m);
    }
    if (rc == 0 && pub_answer) {
        odeon_sdp *sdp = parse_sdp(m, "publish answer", pub_answer);
        rc = sdp ? pc_apply_remote(m, &m->pub, sdp) : -1;
        odeon_sdp_free(sdp);
        if (rc == 0)
            atomic_store(&m->st, ST_PUB_ICE);
    }
    if (rc == 0 && sub_offer) {
        odeon_sdp *sdp = parse_sdp(m, "subscriber offer", sub_offer);
        rc = sdp ? pc_apply_remote(m, &m->sub, sdp) : -1;
        if (rc == 0) {
            char *answer = build_sub_answer(m, sdp);
            m->answer_sent = true;
            atomic_store(&m->st, ST_STARTED);
            rc = plugin_message(m, m->sub_handle, json_pack("{s:s}", "request", "start"), "answer",
                                answer);
            g_free(answer);
        }
        odeon_sdp_free(sdp);
    }
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < ntr[w]; i++) {
            if (rc == 0)
                pc_add_candidate(m, w ? &m->sub : &m->pub, tr[w][i], "trickle");
            g_free(tr[w][i]);
        }
    g_free(pub_answer);
    g_free(sub_offer);
    if (started && atomic_load(&m->st) == ST_STARTED)
        atomic_store(&m->st, ST_SUB_ICE);
    return rc;
}

static void advance_stage(member *m)
{
    int st = atomic_load(&m->st);
    if (st == ST_PUB_ICE && m->pub.ice_ok)
        st = ST_PUB_DTLS;
    if (st == ST_PUB_DTLS && m->pub.srtp)
        st = ST_BARRIER;
    if (st == ST_STARTED && m->sub.ice_ok) /* "started" may come after the media */
        st = ST_SUB_ICE;
    if (st == ST_SUB_ICE && m->sub.ice_ok)
        st = ST_SUB_DTLS;
    if (st == ST_SUB_DTLS && m->sub.srtp)
        st = ST_SUB_MEDIA;
    if (st == ST_SUB_MEDIA && atomic_load(&m->valid_video_ssrcs) >= m->feeds) {
        st = ST_OK;
        pthread_mutex_lock(&m->mu);
        m->t_receiving = now_us();
        pthread_mutex_unlock(&m->mu);
    }
    atomic_store(&m->st, st);
}

static void member_loop(member *m)
{
    media_clock mc = {.aseq = (uint16_t)g_random_int(),
                      .vseq = (uint16_t)g_random_int(),
                      .picture_id = (uint16_t)(g_random_int() & 0x7fff),
                      .ats = g_random_int(),
                      .vts = g_random_int()};
    bool media_on = false;
    while (!atomic_load(&g_stop)) {
        if (member_signalling(m) != 0)
            return;
        int64_t now = now_us(), wait = 100 * 1000;
        int rc;
        int64_t w = pc_tick(m, &m->pub, now, &rc);
        if (rc != 0)
            return;
        if (w < wait)
            wait = w;
        w = pc_tick(m, &m->sub, now, &rc);
        if (rc != 0)
            return;
        if (w < wait)
            wait = w;
        if (m->pub.srtp && !media_on) {
            media_on = true;
            int64_t jitter = (int64_t)(g_random_int() % 30000);
            mc.next_audio = now + jitter;
            mc.next_video = now + jitter;
            pthread_mutex_lock(&m->mu);
            m->t_published = now;
            pthread_mutex_unlock(&m->mu);
        }
        if (media_on) {
            w = media_tick(m, &mc, now);
            if (w < wait)
                wait = w;
        }
        pthread_mutex_lock(&m->mu);
        bool pub_up = m->pub_up, retry = m->sub_retry;
        m->sub_retry = false;
        pthread_mutex_unlock(&m->mu);
        if (retry) { /* a feed is not subscribable yet: join again a little later */
            if (++m->sub_retries > 40) {
                member_fail(m, "subscriber join: still \"No such feed\" after 40 tries");
                return;
            }
            m->sub_sent = false;
            m->sub_not_before = now + 250 * 1000;
        }
        /* the room's barrier: our DTLS is up and the server said "webrtcup" (its side is up) */
        if (m->pub.srtp && pub_up && !m->barrier_counted) {
            m->barrier_counted = true;
            atomic_fetch_add(&g_rooms[m->room_idx].ready, 1);
        }
        int room_members = opt.room_size;
        if ((m->room_idx + 1) * opt.room_size > g_member_count)
            room_members = g_member_count - m->room_idx * opt.room_size;
        if (m->barrier_counted && !m->sub_sent && now >= m->sub_not_before &&
            atomic_load(&g_rooms[m->room_idx].ready) >= room_members) {
            m->sub_sent = true;
            if (signal_subscribe(m) != 0)
                return;
        }
        advance_stage(m);
        if (m->barrier_counted && !m->sub_sent && wait > 20000)
            wait = 20000; /* poll the barrier */
        /* Once the subscriber's media flows, its socket is read every --recv-batch-us instead
         * of waking this thread for each packet: a receiver on another machine costs the
         * server nothing, but one waiting on this machine makes the kernel wake it from the
         * server's send (charged to the server, whichever it is). */
        bool batched = opt.recv_batch_us > 0 && m->sub.srtp != NULL;
        if (batched && wait > opt.recv_batch_us)
            wait = opt.recv_batch_us;
        struct pollfd pf[3] = {{.fd = m->pub.udp, .events = POLLIN},
                               {.fd = m->sub.udp, .events = batched ? 0 : POLLIN},
                               {.fd = m->wake[0], .events = POLLIN}};
        if (wait < 0)
            wait = 0;
        struct timespec ts = {.tv_sec = wait / 1000000, .tv_nsec = (wait % 1000000) * 1000};
        if (ppoll(pf, 3, &ts, NULL) > 0) {
            if (pf[2].revents) {
                char junk[64];
                ssize_t r = read(m->wake[0], junk, sizeof junk);
                (void)r;
            }
            if (pf[0].revents)
                pc_drain(m, &m->pub);
            if (pf[1].revents)
                pc_drain(m, &m->sub);
        }
        if (batched)
            pc_drain(m, &m->sub);
    }
}

static int open_udp(pc *c)
{
    c->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->udp < 0)
        return -1;
    int sz = 1 << 20;
    setsockopt(c->udp, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(c->udp, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, opt.local_ip, &a.sin_addr) != 1 ||
        bind(c->udp, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    socklen_t l = sizeof c->local;
    return getsockname(c->udp, (struct sockaddr *)&c->local, &l);
}

static void *member_main(void *arg)
{
    member *m = arg;
    if (open_udp(&m->pub) != 0 || open_udp(&m->sub) != 0) {
        member_fail(m, "cannot bind a UDP socket on %s: %s", opt.local_ip, strerror(errno));
    } else {
        pthread_mutex_lock(&m->mu);
        m->t_start = now_us();
        pthread_mutex_unlock(&m->mu);
        if (signal_join(m) == 0)
            member_loop(m);
    }
    while (!atomic_load(&g_stop))
        usleep(50 * 1000);
    pthread_mutex_lock(&m->mu);
    m->lp_stop = true;
    if (m->lp_fd >= 0)
        shutdown(m->lp_fd, SHUT_RDWR);
    pthread_mutex_unlock(&m->mu);
    if (m->lp_started)
        pthread_join(m->lp_thr, NULL);
    if (m->session_id) {
        char path[128];
        snprintf(path, sizeof path, "%s/%llu", opt.base_path, (unsigned long long)m->session_id);
        json_decref(api_post(m, path, json_pack("{s:s}", "janus", "destroy")));
    }
    return NULL;
}

/* ----- measurement ---------------------------------------------------------------------------- */

typedef struct {
    uint64_t *sent, *recv; /* per member */
    uint64_t audio, video, rtcp, dec_ok, dec_err;
    int64_t t, server_cpu, self_cpu;
} snapshot;

static void take_snapshot(snapshot *s)
{
    s->sent = g_new0(uint64_t, g_member_count);
    s->recv = g_new0(uint64_t, g_member_count);
    for (int i = 0; i < g_member_count; i++) {
        member *m = &g_members[i];
        s->sent[i] = atomic_load(&m->sent);
        s->recv[i] = atomic_load(&m->recv);
        s->audio += atomic_load(&m->recv_audio);
        s->video += atomic_load(&m->recv_video);
        s->rtcp += atomic_load(&m->rtcp_in);
        s->dec_ok += atomic_load(&m->decrypt_ok);
        s->dec_err += atomic_load(&m->decrypt_err);
    }
    s->t = now_us();
    s->server_cpu = opt.cpu_pid > 0 ? rtcc_proc_cpu_us(opt.cpu_pid) : -1;
    s->self_cpu = rtcc_self_cpu_us();
}

static bool all_settled(int64_t deadline)
{
    if (now_us() >= deadline)
        return true;
    for (int i = 0; i < g_member_count; i++) {
        member *m = &g_members[i];
        if (atomic_load(&m->st) != ST_OK && !member_failed(m))
            return false;
    }
    return true;
}

static void sleep_us(int64_t us)
{
    if (us <= 0)
        return;
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void stop_all(void)
{
    for (int i = 0; i < g_member_count; i++) {
        member *m = &g_members[i];
        pthread_mutex_lock(&m->mu);
        m->lp_stop = true;
        if (m->lp_fd >= 0)
            shutdown(m->lp_fd, SHUT_RDWR);
        pthread_mutex_unlock(&m->mu);
    }
    atomic_store(&g_stop, true);
    for (int i = 0; i < g_member_count; i++)
        member_wake(&g_members[i]);
    for (int i = 0; i < g_member_count; i++)
        pthread_join(g_members[i].thr, NULL);
}

static double ms_since(int64_t t, int64_t t0)
{
    return t && t0 ? (double)(t - t0) / 1000.0 : -1;
}

/* The run's JSON line on stdout; per-member lines to --members-out. */
static void report(const snapshot *a, const snapshot *b, bool measured, int64_t t0)
{
    double secs = measured ? (double)(b->t - a->t) / 1e6 : 0;
    int count[ST_COUNT] = {0};
    bool shown[ST_COUNT] = {false};
    uint64_t sent = 0, recv = 0, expected = 0;
    FILE *mf = opt.members_out ? fopen(opt.members_out, "a") : NULL;
    for (int i = 0; i < g_member_count; i++) {
        member *m = &g_members[i];
        int st = atomic_load(&m->st);
        count[st]++;
        uint64_t ms = measured ? b->sent[i] - a->sent[i] : 0;
        uint64_t mr = measured ? b->recv[i] - a->recv[i] : 0;
        uint64_t me = 0;
        for (int k = 0; measured && k < m->feeds; k++) {
            int o = m->feed_members[k];
            me += b->sent[o] - a->sent[o];
        }
        sent += ms, recv += mr, expected += me;
        pthread_mutex_lock(&m->mu);
        if (st != ST_OK && !shown[st]) {
            shown[st] = true;
            logf_("%s: members stopped at stage '%s', e.g. member %d (room %llu): %s", opt.label,
                  stage_names[st], m->idx, (unsigned long long)room_id(m->room_idx),
                  m->error[0] ? m->error : "(timeout, no error reported)");
        }
        if (mf) {
            fprintf(mf,
                    "{\"kind\":\"member\",\"server\":\"%s\",\"rooms\":%d,\"member\":%d,\"room\":%llu,"
                    "\"feed\":%llu,\"stage\":\"%s\",\"error\":\"",
                    opt.label, opt.rooms, m->idx + 1, (unsigned long long)room_id(m->room_idx),
                    (unsigned long long)m->feed_id, stage_names[st]);
            for (const char *e = m->error; *e; e++)
                if (*e != '"' && *e != '\\' && (unsigned char)*e >= 0x20)
                    fputc(*e, mf);
            fprintf(mf,
                    "\",\"published_ms\":%.0f,\"receiving_ms\":%.0f,\"sent\":%llu,"
                    "\"received\":%llu,\"expected\":%llu,\"ssrcs\":%d,\"valid_video_ssrcs\":%d,"
                    "\"decrypt_errors\":%llu,\"rtcp_in\":%llu}\n",
                    ms_since(m->t_published, m->t_start), ms_since(m->t_receiving, m->t_start),
                    (unsigned long long)ms, (unsigned long long)mr, (unsigned long long)me,
                    m->rx_n, atomic_load(&m->valid_video_ssrcs),
                    (unsigned long long)atomic_load(&m->decrypt_err),
                    (unsigned long long)atomic_load(&m->rtcp_in));
        }
        pthread_mutex_unlock(&m->mu);
    }
    if (mf)
        fclose(mf);
    int ok = count[ST_OK];
    int64_t scpu =
        measured && a->server_cpu >= 0 && b->server_cpu >= 0 ? b->server_cpu - a->server_cpu : -1;
    int64_t lcpu = measured ? b->self_cpu - a->self_cpu : -1;
    GString *o = g_string_new(NULL);
    g_string_append_printf(o,
                           "{\"kind\":\"run\",\"server\":\"%s\",\"plugin\":\"%s\",\"rooms\":%d,"
                           "\"room_size\":%d,\"members\":%d,\"ok_members\":%d,\"stages\":{",
                           opt.label, opt.plugin, opt.rooms, opt.room_size, g_member_count, ok);
    for (int s = 0; s < ST_COUNT; s++)
        g_string_append_printf(o, "%s\"%s\":%d", s ? "," : "", stage_names[s], count[s]);
    g_string_append_printf(o, "},\"setup_s\":%.1f,\"measured\":%s,\"window_s\":%.3f",
                           (double)(now_us() - t0) / 1e6, measured ? "true" : "false", secs);
    g_string_append_printf(
        o,
        ",\"sent\":%llu,\"received\":%llu,\"expected\":%llu,\"loss\":%.5f,"
        "\"received_audio\":%llu,\"received_video\":%llu,\"rtcp_in\":%llu,"
        "\"decrypted\":%llu,\"decrypt_errors\":%llu",
        (unsigned long long)sent, (unsigned long long)recv, (unsigned long long)expected,
        expected ? 1.0 - (double)recv / (double)expected : 0,
        (unsigned long long)(measured ? b->audio - a->audio : 0),
        (unsigned long long)(measured ? b->video - a->video : 0),
        (unsigned long long)(measured ? b->rtcp - a->rtcp : 0),
        (unsigned long long)(measured ? b->dec_ok - a->dec_ok : 0),
        (unsigned long long)(measured ? b->dec_err - a->dec_err : 0));
    int up = ok > 0 ? ok : 1;
    g_string_append_printf(
        o,
        ",\"sent_pps_per_member\":%.1f,\"recv_pps_per_member\":%.1f,\"server_cpu_us\":%lld,"
        "\"server_cpu_pct\":%.2f,\"cpu_pct_per_member\":%.4f,\"cpu_us_per_pkt\":%.3f,"
        "\"loadgen_cpu_pct\":%.1f}",
        secs > 0 ? (double)sent / secs / up : 0, secs > 0 ? (double)recv / secs / up : 0,
        (long long)scpu, scpu >= 0 && secs > 0 ? (double)scpu / (secs * 1e4) : -1,
        scpu >= 0 && secs > 0 && ok ? (double)scpu / (secs * 1e4) / ok : -1,
        scpu >= 0 && recv ? (double)scpu / (double)recv : -1,
        lcpu >= 0 && secs > 0 ? (double)lcpu / (secs * 1e4) : -1);
    puts(o->str);
    fflush(stdout);
    g_string_free(o, TRUE);
}

/* ----- rooms (Janus: created through the API first) ------------------------------------------- */

static int create_rooms(void)
{
    member ctl = {.idx = -1, .lp_fd = -1};
    pthread_mutex_init(&ctl.mu, NULL);
    char path[128];
    json_t *r = api_post(&ctl, opt.base_path, json_pack("{s:s}", "janus", "create"));
    int rc = -1;
    if (!r)
        goto out;
    ctl.session_id = (uint64_t)json_integer_value(json_object_get(json_object_get(r, "data"), "id"));
    json_decref(r);
    snprintf(path, sizeof path, "%s/%llu", opt.base_path, (unsigned long long)ctl.session_id);
    r = api_post(&ctl, path, json_pack("{s:s,s:s}", "janus", "attach", "plugin", opt.plugin));
    if (!r)
        goto out;
    uint64_t h = (uint64_t)json_integer_value(json_object_get(json_object_get(r, "data"), "id"));
    json_decref(r);
    snprintf(path, sizeof path, "%s/%llu/%llu", opt.base_path, (unsigned long long)ctl.session_id,
             (unsigned long long)h);
    for (int i = 0; i < opt.rooms; i++) {
        json_t *body = json_pack("{s:s,s:I,s:i,s:i,s:s,s:s}", "request", "create", "room",
                                 (json_int_t)room_id(i), "publishers", opt.room_size, "bitrate", 0,
                                 "videocodec", "vp8", "audiocodec", "opus");
        r = api_post(&ctl, path, json_pack("{s:s,s:o}", "janus", "message", "body", body));
        if (!r)
            goto out;
        json_t *data = json_object_get(json_object_get(r, "plugindata"), "data");
        const char *vr = json_string_value(json_object_get(data, "videoroom"));
        if (!vr || strcmp(vr, "created") != 0) {
            const char *e = json_string_value(json_object_get(data, "error"));
            member_fail(&ctl, "create room %llu: %s", (unsigned long long)room_id(i),
                        e ? e : "no \"created\" reply");
            json_decref(r);
            goto out;
        }
        json_decref(r);
    }
    snprintf(path, sizeof path, "%s/%llu", opt.base_path, (unsigned long long)ctl.session_id);
    json_decref(api_post(&ctl, path, json_pack("{s:s}", "janus", "destroy")));
    rc = 0;
out:
    if (rc != 0)
        logf_("%s: cannot create the rooms: %s", opt.label, ctl.error);
    return rc;
}

/* ----- main ----------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: roomload [options]\n"
            "  --host IP            API address (default 127.0.0.1)\n"
            "  --port N             API port (HTTP, default 8088)\n"
            "  --base-path P        API base path (default /janus)\n"
            "  --plugin NAME        videoroom package (default janus.plugin.videoroom)\n"
            "  --local-ip IP        address our UDP sockets bind to and advertise (default --host)\n"
            "  --rooms N            rooms (default 2)\n"
            "  --room-size N        members per room (default 6)\n"
            "  --room-base N        id of the first room (default 1)\n"
            "  --create-rooms       create the rooms through the API first (Janus)\n"
            "  --token-prefix T     member i (1-based) sends \"token\":\"T<i>\" with every request\n"
            "                       (default t; an empty string sends none)\n"
            "  --ramp-ms MS         delay between member starts (default 30)\n"
            "  --setup-timeout S    seconds for every member to publish and receive (default 40)\n"
            "  --warmup S           seconds of media before the window (default 3)\n"
            "  --duration S         measured window (default 15)\n"
            "  --audio-pps N        audio packets/s per member (default 50; 0 disables)\n"
            "  --audio-size B       audio payload bytes (default 80)\n"
            "  --fps N              video frames/s (default 30; 0 disables video)\n"
            "  --video-kbps N       video payload rate, kbit/s (default 500)\n"
            "  --max-payload B      largest video payload (default 1100)\n"
            "  --keyframe-s S       seconds between keyframes (default 2)\n"
            "  --decrypt-every N    decrypt one received packet in N (default 16)\n"
            "  --cpu-pid PID        server process whose CPU time is sampled over the window\n"
            "  --label NAME         'server' field of the JSON lines (default server)\n"
            "  --members-out FILE   append one JSON line per member to FILE\n"
            "  -v, --verbose        per-member progress on stderr\n");
}

static const rtcc_option opt_specs[] = {
    {"host", 's', &opt.host},
    {"port", 'i', &opt.port},
    {"base-path", 's', &opt.base_path},
    {"plugin", 's', &opt.plugin},
    {"local-ip", 's', &opt.local_ip},
    {"label", 's', &opt.label},
    {"token-prefix", 's', &opt.token_prefix},
    {"members-out", 's', &opt.members_out},
    {"rooms", 'i', &opt.rooms},
    {"room-size", 'i', &opt.room_size},
    {"room-base", 'i', &opt.room_base},
    {"create-rooms", 'f', &opt.create_rooms},
    {"ramp-ms", 'd', &opt.ramp_ms},
    {"setup-timeout", 'd', &opt.setup_timeout},
    {"warmup", 'd', &opt.warmup},
    {"duration", 'd', &opt.duration},
    {"audio-pps", 'i', &opt.audio_pps},
    {"audio-size", 'i', &opt.audio_size},
    {"fps", 'i', &opt.fps},
    {"video-kbps", 'i', &opt.video_kbps},
    {"max-payload", 'i', &opt.max_payload},
    {"keyframe-s", 'd', &opt.keyframe_s},
    {"decrypt-every", 'i', &opt.decrypt_every},
    {"recv-batch-us", 'i', &opt.recv_batch_us},
    {"cpu-pid", 'i', &opt.cpu_pid},
};
#define N_OPT_SPECS (sizeof opt_specs / sizeof opt_specs[0])

static bool options_valid(void)
{
    return opt.rooms >= 1 && opt.rooms <= 1000 && opt.room_size >= 2 &&
           opt.room_size <= MAX_FEEDS && opt.room_base >= 1 && opt.duration > 0 &&
           opt.audio_pps >= 0 && opt.audio_pps <= 1000 && opt.audio_size >= 1 &&
           opt.audio_size <= 1200 && opt.fps >= 0 && opt.fps <= 240 && opt.video_kbps >= 0 &&
           opt.video_kbps <= 20000 && opt.max_payload >= 64 && opt.max_payload <= 1200 &&
           opt.decrypt_every >= 1 && (opt.fps == 0 || opt.video_kbps * 1000 / 8 / opt.fps >= 16);
}

int main(int argc, char **argv)
{
    if (rtcc_parse_options(argc, argv, opt_specs, N_OPT_SPECS, &opt.verbose, usage) != 0)
        return 2;
    if (!opt.local_ip)
        opt.local_ip = opt.host;
    if (!options_valid()) {
        fprintf(stderr, "roomload: an option is out of range\n");
        return 2;
    }
    char *err = NULL;
    g_identity = odeon_dtls_identity_generate(&err);
    if (!g_identity) {
        fprintf(stderr, "roomload: identity: %s\n", err ? err : "?");
        return 1;
    }
    RAND_bytes(g_noise, sizeof g_noise);
    int64_t t0 = now_us();
    if (opt.create_rooms && create_rooms() != 0)
        return 1;
    g_member_count = opt.rooms * opt.room_size;
    g_members = g_new0(member, g_member_count);
    g_rooms = g_new0(room_state, opt.rooms);
    for (int i = 0; i < g_member_count; i++) {
        member *m = &g_members[i];
        m->idx = i;
        m->room_idx = i / opt.room_size;
        m->lp_fd = -1;
        if (opt.token_prefix[0])
            snprintf(m->token, sizeof m->token, "%.30s%d", opt.token_prefix, i + 1);
        pthread_mutex_init(&m->mu, NULL);
        if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
            perror("roomload: pipe");
            return 1;
        }
        pc *pcs[2] = {&m->pub, &m->sub};
        for (int k = 0; k < 2; k++) {
            pc *c = pcs[k];
            c->name = k ? "sub" : "pub";
            c->udp = -1;
            c->controlling = k == 0; /* the offerer controls; an ice-lite server changes this */
            rtcc_random_token(c->lufrag, 8);
            rtcc_random_token(c->lpwd, 24);
            RAND_bytes(c->txid_prefix, 4);
            RAND_bytes((uint8_t *)&c->tie_breaker, 8);
        }
        m->assrc = g_random_int() | 1;
        m->vssrc = g_random_int() | 2;
        atomic_store(&m->st, ST_SIGNAL);
    }
    for (int i = 0; i < g_member_count; i++) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 512 * 1024);
        if (pthread_create(&g_members[i].thr, &at, member_main, &g_members[i]) != 0) {
            perror("roomload: pthread_create");
            return 1;
        }
        pthread_attr_destroy(&at);
        sleep_us((int64_t)(opt.ramp_ms * 1000));
    }
    int64_t deadline = now_us() + (int64_t)(opt.setup_timeout * 1e6);
    while (!all_settled(deadline))
        sleep_us(50 * 1000);
    int ok = 0;
    for (int i = 0; i < g_member_count; i++)
        ok += atomic_load(&g_members[i].st) == ST_OK;
    logf_("%s: %d/%d members publishing and receiving after %.1f s", opt.label, ok,
          g_member_count, (double)(now_us() - t0) / 1e6);
    snapshot a = {0}, b = {0};
    if (ok > 0) {
        sleep_us((int64_t)(opt.warmup * 1e6));
        take_snapshot(&a);
        sleep_us((int64_t)(opt.duration * 1e6));
        take_snapshot(&b);
    }
    report(&a, &b, ok > 0, t0);
    atomic_store(&g_media_stop, true);
    stop_all();
    odeon_dtls_identity_unref(g_identity);
    return ok > 0 ? 0 : 3;
}
