/*
 * echoload.c - WebRTC echo load generator for tests/bench/echo (see README.md there).
 *
 * N concurrent peers, each a thread: it creates a Janus API session over plain HTTP/1.1,
 * attaches the echotest plugin named on the command line (janus.plugin.echotest or
 * odeon.plugin.echotest), sends an offer (Opus + VP8, BUNDLE, rtcp-mux, actpass, one host
 * candidate) and reads the answer, trickled candidates and "webrtcup" from a long-poll thread of
 * its own. It then runs ICE by hand as the controlling agent (STUN Binding requests with
 * USE-CANDIDATE to every server candidate, answering the server's checks), the DTLS handshake
 * in whichever role the answer's a=setup gives us, SRTP, and finally sends pre-built RTP (audio
 * and VP8-shaped video at the configured rates) and counts the packets echoed back.
 *
 * The main thread waits until every peer echoes (or the setup timeout passes), lets the load
 * run for a warm-up, then measures a window: packets sent and echoed, and the CPU time of the
 * server process (--cpu-pid, utime+stime of all threads from /proc/<pid>/stat) over exactly
 * that window. It prints one JSON line on stdout; progress and failures go to stderr.
 *
 * It reuses the core's tested WebRTC modules (src/webrtc/): stun (parse, integrity, CRC-32,
 * success responses), dtls (identity, endpoint, key export), srtp (libsrtp2 pair), rtp (demux)
 * and sdp (answer parsing). The STUN Binding request builder, candidate parsing and the
 * DTLS-to-SRTP glue come from tests/bench/common/rtcclient.c (shared with tests/load).
 *
 * Exit status: 0 when at least one peer echoed and the window was measured, 3 when no peer got
 * that far (the JSON line then says at which stage the peers stopped), 2 for bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
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
    const char *host; /* API address (IPv4) */
    int port;
    const char *base_path;
    const char *plugin;
    const char *body;
    const char *local_ip; /* address our UDP sockets bind to and advertise */
    const char *label;
    const char *setup; /* our offer's a=setup */
    int peers;
    double duration, warmup, setup_timeout, ramp_ms;
    int audio_pps, audio_size;
    int fps, video_pkts, video_size, keyframe_every;
    int cpu_pid;
    int verbose;
} opt = {
    .host = "127.0.0.1",
    .port = 8088,
    .base_path = "/janus",
    .plugin = "janus.plugin.echotest",
    .body = "{\"audio\":true,\"video\":true}",
    .local_ip = NULL,
    .label = "server",
    .setup = "actpass",
    .peers = 10,
    .duration = 10,
    .warmup = 2,
    .setup_timeout = 20,
    .ramp_ms = 20,
    .audio_pps = 50,
    .audio_size = 160,
    .fps = 30,
    .video_pkts = 3,
    .video_size = 1100,
    .keyframe_every = 60,
};

#define AUDIO_PT 111
#define VIDEO_PT 96
#define MAX_CANDS 16
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

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&g_log_mu);
    fputs("echoload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&g_log_mu);
    va_end(ap);
}

/* ----- peers ---------------------------------------------------------------------------------- */

/* How far a peer got; a peer that stops early keeps the stage it failed in. */
typedef enum {
    ST_SIGNAL,   /* create / attach / message */
    ST_ANSWER,   /* waiting for the jsep answer */
    ST_ICE,      /* no STUN success response yet */
    ST_DTLS,     /* ICE ok, handshake not finished */
    ST_WEBRTCUP, /* DTLS connected, "webrtcup" not yet received */
    ST_ECHO,     /* webrtcup, no echoed packet yet */
    ST_OK,       /* echoing */
    ST_COUNT
} stage;
static const char *const stage_names[ST_COUNT] = {"signal",   "answer", "ice", "dtls",
                                                  "webrtcup", "echo",   "ok"};

typedef struct {
    struct sockaddr_in addr;
} cand;

typedef struct peer {
    int idx;
    pthread_t thr, lp_thr;
    bool lp_started;
    uint64_t session_id, handle_id;
    int udp;
    struct sockaddr_in local;
    char lufrag[9], lpwd[25];
    uint32_t assrc, vssrc;
    uint64_t tie_breaker;

    /* shared with the long-poll thread, under mu */
    pthread_mutex_t mu;
    char *answer_sdp;
    char *trickled[MAX_CANDS];
    int trickled_count;
    int64_t t_offer, t_webrtcup, t_first_echo;
    bool hangup;
    char error[160];
    int lp_fd;
    bool lp_stop;
    int wake[2];

    /* peer-thread only */
    char *rufrag, *rpwd, *fp_hash, *fp_value;
    bool dtls_client;
    cand cands[MAX_CANDS];
    int cand_count, trickled_seen;
    bool ice_ok;
    struct sockaddr_in remote;
    uint8_t txid_prefix[4];
    uint32_t txn;
    odeon_dtls_endpoint *dtls;
    odeon_srtp *srtp;
    uint8_t audio_pt, video_pt; /* payload types the server answered with */

    _Atomic int st;
    atomic_uint_fast64_t sent, echoed, echoed_audio, echoed_video, rtcp_in, unprotect_err;
} peer;

static peer *g_peers;

static void peer_fail(peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void peer_fail(peer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&p->mu);
    if (!p->error[0])
        vsnprintf(p->error, sizeof p->error, fmt, ap);
    pthread_mutex_unlock(&p->mu);
    va_end(ap);
}

static void peer_wake(peer *p)
{
    char c = 1;
    ssize_t r = write(p->wake[1], &c, 1);
    (void)r;
}

/* ----- HTTP/1.1 client (rtcclient.c): one connection per request -------------------------------- */

/* One request (see rtcc_http_json); a cancellable one publishes its socket in p->lp_fd. */
static json_t *http_json(peer *p, const char *method, const char *path, const char *body,
                         int timeout_ms, bool cancellable, char *err, size_t errlen)
{
    rtcc_http_cancel cancel = {.mu = &p->mu, .stop = &p->lp_stop, .fd = &p->lp_fd};
    return rtcc_http_json(opt.host, opt.port, method, path, body, timeout_ms,
                          cancellable ? &cancel : NULL, err, errlen);
}

/* POST to the API and return the reply, or NULL (and the peer's error) on failure or on a
 * Janus "error" reply. */
static json_t *api_post(peer *p, const char *path, json_t *req)
{
    char err[160] = "";
    char tx[32];
    snprintf(tx, sizeof tx, "p%d-%lld", p->idx, (long long)now_us());
    json_object_set_new(req, "transaction", json_string(tx));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *j = http_json(p, "POST", path, body, 10000, false, err, sizeof err);
    free(body);
    if (!j) {
        peer_fail(p, "POST %s: %s", path, err);
        return NULL;
    }
    const char *kind = json_string_value(json_object_get(j, "janus"));
    if (!kind || strcmp(kind, "error") == 0) {
        json_t *e = json_object_get(j, "error");
        peer_fail(p, "POST %s: error %lld %s", path,
                  (long long)json_integer_value(json_object_get(e, "code")),
                  json_string_value(json_object_get(e, "reason"))
                      ? json_string_value(json_object_get(e, "reason"))
                      : "");
        json_decref(j);
        return NULL;
    }
    return j;
}

/* ----- events (long-poll thread) -------------------------------------------------------------- */

static void take_jsep(peer *p, json_t *msg)
{
    json_t *jsep = json_object_get(msg, "jsep");
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    json_t *data = json_object_get(json_object_get(msg, "plugindata"), "data");
    const char *perr = json_string_value(json_object_get(data, "error"));
    pthread_mutex_lock(&p->mu);
    if (type && sdp && strcmp(type, "answer") == 0 && !p->answer_sdp)
        p->answer_sdp = g_strdup(sdp);
    else if (perr && !p->error[0])
        snprintf(p->error, sizeof p->error, "plugin error: %s", perr);
    pthread_mutex_unlock(&p->mu);
}

static void handle_event(peer *p, json_t *ev)
{
    const char *kind = json_string_value(json_object_get(ev, "janus"));
    if (!kind)
        return;
    if (strcmp(kind, "event") == 0 || strcmp(kind, "success") == 0) {
        take_jsep(p, ev);
    } else if (strcmp(kind, "webrtcup") == 0) {
        pthread_mutex_lock(&p->mu);
        if (!p->t_webrtcup)
            p->t_webrtcup = now_us();
        pthread_mutex_unlock(&p->mu);
    } else if (strcmp(kind, "trickle") == 0) {
        json_t *c = json_object_get(ev, "candidate");
        const char *s = json_string_value(json_object_get(c, "candidate"));
        pthread_mutex_lock(&p->mu);
        if (s && p->trickled_count < MAX_CANDS)
            p->trickled[p->trickled_count++] = g_strdup(s);
        pthread_mutex_unlock(&p->mu);
    } else if (strcmp(kind, "hangup") == 0 || strcmp(kind, "detached") == 0 ||
               strcmp(kind, "timeout") == 0) {
        const char *reason = json_string_value(json_object_get(ev, "reason"));
        pthread_mutex_lock(&p->mu);
        p->hangup = true;
        if (!p->error[0])
            snprintf(p->error, sizeof p->error, "%s%s%s", kind, reason ? ": " : "",
                     reason ? reason : "");
        pthread_mutex_unlock(&p->mu);
    }
    peer_wake(p);
}

static void *longpoll_main(void *arg)
{
    peer *p = arg;
    char path[128], err[160];
    snprintf(path, sizeof path, "%s/%llu?maxev=10", opt.base_path,
             (unsigned long long)p->session_id);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        bool stop = p->lp_stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        json_t *j = http_json(p, "GET", path, NULL, 45000, true, err, sizeof err);
        if (!j) {
            pthread_mutex_lock(&p->mu);
            stop = p->lp_stop;
            bool gone = strcmp(err, "HTTP status 404") == 0;
            if (gone && !p->error[0])
                snprintf(p->error, sizeof p->error, "long-poll: session gone (404)");
            p->hangup |= gone;
            pthread_mutex_unlock(&p->mu);
            if (stop || gone)
                break;
            if (opt.verbose)
                logf_("peer %d: long-poll: %s", p->idx, err);
            usleep(100 * 1000);
            continue;
        }
        if (json_is_array(j)) {
            size_t i;
            json_t *ev;
            json_array_foreach(j, i, ev)
                handle_event(p, ev);
        } else {
            handle_event(p, j);
        }
        json_decref(j);
    }
    return NULL;
}

/* ----- signalling (peer thread) --------------------------------------------------------------- */

static char *build_offer(peer *p)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &p->local.sin_addr, ip, sizeof ip);
    const char *fp = odeon_dtls_identity_fingerprint(g_identity);
    char common[512];
    snprintf(common, sizeof common,
             "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
             "a=ice-options:trickle\r\na=fingerprint:sha-256 %s\r\na=setup:%s\r\n",
             p->lufrag, p->lpwd, fp, opt.setup);
    return g_strdup_printf(
        "v=0\r\no=- %u 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
        "a=msid-semantic: WMS echoload\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF %d\r\n%sa=mid:0\r\na=sendrecv\r\na=msid:echoload a%d\r\n"
        "a=rtcp-mux\r\na=rtpmap:%d opus/48000/2\r\na=fmtp:%d minptime=10;useinbandfec=1\r\n"
        "a=ssrc:%u cname:echoload%d\r\na=ssrc:%u msid:echoload a%d\r\n"
        "a=candidate:1 1 udp 2130706431 %s %u typ host\r\na=end-of-candidates\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF %d\r\n%sa=mid:1\r\na=sendrecv\r\na=msid:echoload v%d\r\n"
        "a=rtcp-mux\r\na=rtpmap:%d VP8/90000\r\n"
        "a=ssrc:%u cname:echoload%d\r\na=ssrc:%u msid:echoload v%d\r\n",
        (unsigned)g_random_int(), AUDIO_PT, common, p->idx, AUDIO_PT, AUDIO_PT, p->assrc, p->idx,
        p->assrc, p->idx, ip, ntohs(p->local.sin_port), VIDEO_PT, common, p->idx, VIDEO_PT,
        p->vssrc, p->idx, p->vssrc, p->idx);
}

/* create, attach, start the long-poll thread, send the offer. 0 or -1 (peer error set). */
static int signal_offer(peer *p)
{
    char path[128];
    json_t *r = api_post(p, opt.base_path, json_pack("{s:s}", "janus", "create"));
    if (!r)
        return -1;
    p->session_id = (uint64_t)json_integer_value(json_object_get(json_object_get(r, "data"), "id"));
    json_decref(r);
    snprintf(path, sizeof path, "%s/%llu", opt.base_path, (unsigned long long)p->session_id);
    r = api_post(p, path, json_pack("{s:s,s:s}", "janus", "attach", "plugin", opt.plugin));
    if (!r)
        return -1;
    p->handle_id = (uint64_t)json_integer_value(json_object_get(json_object_get(r, "data"), "id"));
    json_decref(r);
    if (pthread_create(&p->lp_thr, NULL, longpoll_main, p) != 0) {
        peer_fail(p, "cannot start the long-poll thread");
        return -1;
    }
    p->lp_started = true;
    json_error_t je;
    json_t *body = json_loads(opt.body, 0, &je);
    if (!body) {
        peer_fail(p, "--body is not JSON: %s", je.text);
        return -1;
    }
    char *sdp = build_offer(p);
    json_t *req = json_pack("{s:s,s:o,s:{s:s,s:s}}", "janus", "message", "body", body, "jsep",
                            "type", "offer", "sdp", sdp);
    g_free(sdp);
    snprintf(path, sizeof path, "%s/%llu/%llu", opt.base_path, (unsigned long long)p->session_id,
             (unsigned long long)p->handle_id);
    pthread_mutex_lock(&p->mu);
    p->t_offer = now_us();
    pthread_mutex_unlock(&p->mu);
    r = api_post(p, path, req);
    if (!r)
        return -1;
    take_jsep(p, r); /* a synchronous "success" may carry the answer */
    json_decref(r);
    return 0;
}

static void add_candidate(peer *p, const char *line, const char *source)
{
    struct sockaddr_in a;
    if (rtcc_parse_candidate(line, &a) != 0)
        return;
    for (int i = 0; i < p->cand_count; i++)
        if (memcmp(&p->cands[i].addr, &a, sizeof a) == 0)
            return;
    if (p->cand_count < MAX_CANDS)
        p->cands[p->cand_count++].addr = a;
    if (opt.verbose) {
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
        logf_("peer %d: server candidate %s:%u (%s)", p->idx, ip, ntohs(a.sin_port), source);
    }
}

/* Takes the answer's ICE credentials, fingerprint, setup role and candidates. 0 or -1. */
static int apply_answer(peer *p, const char *text)
{
    char *err = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, strlen(text), &err);
    if (!sdp) {
        peer_fail(p, "answer SDP: %s", err ? err : "?");
        g_free(err);
        return -1;
    }
    int rc = -1;
    rtcc_remote_transport rt;
    if (rtcc_remote_transport_of(sdp, &rt) != 0) {
        peer_fail(p, "answer lacks m-lines, ice-ufrag, ice-pwd or fingerprint");
        goto out;
    }
    const char *setup = rt.setup;
    p->rufrag = g_strdup(rt.ufrag);
    p->rpwd = g_strdup(rt.pwd);
    p->fp_hash = g_strdup(rt.fingerprint->hash);
    p->fp_value = g_strdup(rt.fingerprint->value);
    /* we offered actpass: an "active" answer makes the server the DTLS client and us the
     * server, anything else makes us the client; a fixed role in our offer stands */
    if (strcmp(opt.setup, "actpass") == 0)
        p->dtls_client = !(setup && strcmp(setup, "active") == 0);
    else
        p->dtls_client = strcmp(opt.setup, "active") == 0;
    for (size_t m = 0; m < sdp->media_count; m++) {
        const odeon_sdp_media *md = &sdp->media[m];
        for (size_t i = 0; i < md->candidate_count; i++)
            add_candidate(p, md->candidates[i], "answer");
        if (md->pt_count && md->kind == ODEON_SDP_MEDIA_AUDIO)
            p->audio_pt = md->pts[0];
        if (md->pt_count && md->kind == ODEON_SDP_MEDIA_VIDEO)
            p->video_pt = md->pts[0];
    }
    rc = 0;
out:
    odeon_sdp_free(sdp);
    return rc;
}

/* ----- ICE ------------------------------------------------------------------------------------ */

/* A Binding request from the controlling agent (RFC 8445 section 7.1.1) with USE-CANDIDATE
 * (aggressive nomination: every check nominates). Returns the length. */
static size_t stun_binding_request(peer *p, uint8_t *m, bool use_candidate)
{
    rtcc_binding_request req = {.remote_ufrag = p->rufrag,
                                .local_ufrag = p->lufrag,
                                .remote_pwd = p->rpwd,
                                .controlling = true,
                                .tie_breaker = p->tie_breaker,
                                .use_candidate = use_candidate};
    memcpy(req.txid, p->txid_prefix, 4);
    odeon_put_be32(req.txid + 4, ++p->txn);
    odeon_put_be32(req.txid + 8, (uint32_t)p->idx);
    return rtcc_stun_binding_request(&req, m);
}

static void udp_send(peer *p, const struct sockaddr_in *to, const uint8_t *buf, size_t len)
{
    ssize_t r = sendto(p->udp, buf, len, 0, (const struct sockaddr *)to, sizeof *to);
    (void)r; /* UDP: a dropped datagram is a lost packet, nothing more */
}

static void ice_send_checks(peer *p)
{
    uint8_t m[800];
    if (p->ice_ok) {
        size_t n = stun_binding_request(p, m, true);
        udp_send(p, &p->remote, m, n);
        return;
    }
    for (int i = 0; i < p->cand_count; i++) {
        size_t n = stun_binding_request(p, m, true);
        udp_send(p, &p->cands[i].addr, m, n);
    }
}

static void on_stun(peer *p, const uint8_t *buf, size_t len, const struct sockaddr_in *from)
{
    odeon_stun_msg msg;
    if (odeon_stun_parse(buf, len, &msg) != 0 || msg.method != ODEON_STUN_METHOD_BINDING)
        return;
    if (msg.cls == ODEON_STUN_CLASS_REQUEST) {
        uint8_t out[256];
        size_t n = rtcc_stun_answer(&msg, p->lpwd, from, out, sizeof out);
        if (n == 0)
            return;
        udp_send(p, from, out, n);
        return;
    }
    if (msg.cls == ODEON_STUN_CLASS_ERROR && memcmp(msg.txid, p->txid_prefix, 4) == 0) {
        odeon_stun_attr a;
        int code = 0;
        const uint8_t *reason;
        size_t rl;
        if (odeon_stun_find(&msg, ODEON_STUN_ATTR_ERROR_CODE, &a) == 0)
            odeon_stun_attr_error_code(&a, &code, &reason, &rl);
        if (opt.verbose)
            logf_("peer %d: STUN error response %d", p->idx, code);
        return;
    }
    if (!rtcc_stun_is_our_success(&msg, p->txid_prefix, p->rpwd))
        return;
    if (!p->ice_ok) {
        p->ice_ok = true;
        p->remote = *from;
        if (opt.verbose)
            logf_("peer %d: ICE connected", p->idx);
    }
}

/* ----- DTLS and SRTP -------------------------------------------------------------------------- */

static void dtls_send(void *user, const uint8_t *data, size_t len)
{
    peer *p = user;
    udp_send(p, &p->remote, data, len);
}

static int dtls_setup(peer *p)
{
    char *err = NULL;
    p->dtls = odeon_dtls_endpoint_new(
        g_identity, p->dtls_client ? ODEON_DTLS_ROLE_CLIENT : ODEON_DTLS_ROLE_SERVER, p->fp_hash,
        p->fp_value, dtls_send, p, &err);
    if (!p->dtls) {
        peer_fail(p, "dtls: %s", err ? err : "?");
        g_free(err);
        return -1;
    }
    odeon_dtls_endpoint_set_deadline_us(p->dtls, (int64_t)(opt.setup_timeout * 1e6));
    odeon_dtls_endpoint_set_initial_rto_us(p->dtls, 100 * 1000); /* browsers: 50-100 ms */
    return 0;
}

static int srtp_setup(peer *p)
{
    const char *name = NULL;
    char *err = NULL;
    p->srtp = rtcc_srtp_from_dtls(p->dtls, p->dtls_client, &name, &err);
    if (!p->srtp) {
        peer_fail(p, "srtp (%s): %s", name ? name : "?", err ? err : "?");
        g_free(err);
        return -1;
    }
    if (opt.verbose)
        logf_("peer %d: DTLS connected as %s, %s", p->idx, p->dtls_client ? "client" : "server",
              name);
    return 0;
}

static void on_media(peer *p, uint8_t *buf, size_t len)
{
    if (!p->srtp)
        return;
    if (odeon_rtp_is_rtcp(buf, len)) {
        if (odeon_srtp_unprotect_rtcp(p->srtp, buf, &len) == 0)
            atomic_fetch_add(&p->rtcp_in, 1);
        return;
    }
    int rc = odeon_srtp_unprotect_rtp(p->srtp, buf, &len);
    if (rc != 0) {
        atomic_fetch_add(&p->unprotect_err, 1);
        return;
    }
    odeon_rtp_view v;
    if (odeon_rtp_parse(buf, len, &v) != 0)
        return;
    atomic_fetch_add(&p->echoed, 1);
    if (v.payload_type == p->audio_pt)
        atomic_fetch_add(&p->echoed_audio, 1);
    else
        atomic_fetch_add(&p->echoed_video, 1);
    if (!p->t_first_echo) {
        pthread_mutex_lock(&p->mu);
        p->t_first_echo = now_us();
        pthread_mutex_unlock(&p->mu);
    }
}

static void on_datagram(peer *p, uint8_t *buf, size_t len, const struct sockaddr_in *from)
{
    switch (odeon_rtp_demux_classify(buf, len)) {
    case ODEON_DEMUX_STUN:
        on_stun(p, buf, len, from);
        break;
    case ODEON_DEMUX_DTLS:
        if (!p->dtls)
            break;        /* no answer yet: the server retransmits */
        if (!p->ice_ok) { /* the server's ICE finished first; its address is the pair */
            p->remote = *from;
        }
        odeon_dtls_endpoint_feed(p->dtls, buf, len);
        break;
    case ODEON_DEMUX_RTP:
    case ODEON_DEMUX_RTCP:
        on_media(p, buf, len);
        break;
    default:
        break;
    }
}

/* ----- media ---------------------------------------------------------------------------------- */

static uint8_t g_noise[2048]; /* payload filler, read-only after start */

typedef struct {
    int64_t next_audio, next_video;
    uint16_t aseq, vseq;
    uint32_t ats, vts, frame;
} media_clock;

static void send_rtp(peer *p, uint8_t *buf, size_t len)
{
    if (odeon_srtp_protect_rtp(p->srtp, buf, &len, PKT_CAP) == 0) {
        udp_send(p, &p->remote, buf, len);
        atomic_fetch_add(&p->sent, 1);
    }
}

static void send_audio(peer *p, media_clock *mc)
{
    _Alignas(8) uint8_t buf[PKT_CAP];
    rtcc_rtp_header(buf, AUDIO_PT, false, mc->aseq++, mc->ats, p->assrc);
    mc->ats += 48000 / (uint32_t)opt.audio_pps;
    memcpy(buf + 12, g_noise, (size_t)opt.audio_size);
    send_rtp(p, buf, 12 + (size_t)opt.audio_size);
}

/* One frame of opt.video_pkts packets; a keyframe every opt.keyframe_every frames. VP8 payload
 * descriptor (RFC 7741 section 4.2): one byte, S set on the first packet of the frame. */
static void send_video_frame(peer *p, media_clock *mc)
{
    _Alignas(8) uint8_t buf[PKT_CAP];
    bool key = opt.keyframe_every > 0 && mc->frame % (uint32_t)opt.keyframe_every == 0;
    for (int i = 0; i < opt.video_pkts; i++) {
        rtcc_rtp_header(buf, VIDEO_PT, i == opt.video_pkts - 1, mc->vseq++, mc->vts, p->vssrc);
        uint8_t *pl = buf + 12;
        memcpy(pl, g_noise, (size_t)opt.video_size);
        pl[0] = i == 0 ? 0x10 : 0x00;
        if (i == 0) {
            /* frame tag: P bit (inverse keyframe flag) in the low bit; keyframe start code */
            pl[1] = key ? 0x10 : 0x11;
            if (key)
                pl[4] = 0x9d, pl[5] = 0x01, pl[6] = 0x2a, pl[7] = 0x80, pl[8] = 0x02, pl[9] = 0xe0,
                pl[10] = 0x01; /* 640x480 */
        }
        send_rtp(p, buf, 12 + (size_t)opt.video_size);
    }
    mc->vts += 90000 / (uint32_t)opt.fps;
    mc->frame++;
}

/* Sends what is due; returns microseconds until the next packet is due. */
static int64_t media_tick(peer *p, media_clock *mc, int64_t now)
{
    if (atomic_load(&g_media_stop))
        return 50 * 1000;
    int64_t aint = opt.audio_pps > 0 ? 1000000 / opt.audio_pps : 0;
    int64_t vint = opt.fps > 0 && opt.video_pkts > 0 ? 1000000 / opt.fps : 0;
    while (aint && now >= mc->next_audio) {
        send_audio(p, mc);
        mc->next_audio += aint;
        if (now - mc->next_audio > 200000) /* fell far behind (loaded box): do not burst */
            mc->next_audio = now + aint;
    }
    while (vint && now >= mc->next_video) {
        send_video_frame(p, mc);
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

/* ----- the peer thread ------------------------------------------------------------------------ */

/* Pulls the answer and trickled candidates the long-poll thread stored. */
static int collect_signalling(peer *p)
{
    char *answer = NULL;
    char *tr[MAX_CANDS];
    int ntr = 0;
    pthread_mutex_lock(&p->mu);
    if (!p->rufrag && p->answer_sdp)
        answer = g_strdup(p->answer_sdp);
    for (; p->trickled_seen < p->trickled_count; p->trickled_seen++)
        tr[ntr++] = g_strdup(p->trickled[p->trickled_seen]);
    bool hung = p->hangup;
    pthread_mutex_unlock(&p->mu);
    int rc = 0;
    if (answer) {
        rc = apply_answer(p, answer);
        if (rc == 0 && dtls_setup(p) != 0)
            rc = -1;
        if (rc == 0)
            atomic_store(&p->st, ST_ICE);
        g_free(answer);
    }
    for (int i = 0; i < ntr; i++) {
        add_candidate(p, tr[i], "trickle");
        g_free(tr[i]);
    }
    return hung ? -1 : rc;
}

static void advance_stage(peer *p)
{
    int st = atomic_load(&p->st);
    pthread_mutex_lock(&p->mu);
    bool up = p->t_webrtcup != 0;
    pthread_mutex_unlock(&p->mu);
    if (st == ST_ICE && p->ice_ok)
        st = ST_DTLS;
    if (st == ST_DTLS && p->srtp)
        st = ST_WEBRTCUP;
    if (st == ST_WEBRTCUP && up)
        st = ST_ECHO;
    if (st == ST_ECHO && atomic_load(&p->echoed) > 0)
        st = ST_OK;
    atomic_store(&p->st, st);
}

/* Drives DTLS; 0, or -1 when it failed. */
static int dtls_step(peer *p)
{
    if (!p->dtls || !p->ice_ok)
        return 0;
    odeon_dtls_state s = odeon_dtls_endpoint_state(p->dtls);
    if (s == ODEON_DTLS_STATE_NEW && p->dtls_client)
        odeon_dtls_endpoint_start(p->dtls);
    if (s == ODEON_DTLS_STATE_CONNECTING && odeon_dtls_endpoint_timeout_us(p->dtls) == 0)
        odeon_dtls_endpoint_handle_timeout(p->dtls);
    s = odeon_dtls_endpoint_state(p->dtls);
    if (s == ODEON_DTLS_STATE_CONNECTED && !p->srtp)
        return srtp_setup(p);
    if (s == ODEON_DTLS_STATE_FAILED) {
        const char *why = odeon_dtls_endpoint_failure_reason(p->dtls);
        peer_fail(p, "dtls failed: %s", why ? why : "?");
        return -1;
    }
    if (s == ODEON_DTLS_STATE_CLOSED && !atomic_load(&g_stop)) {
        peer_fail(p, "dtls closed by the server");
        return -1;
    }
    return 0;
}

static void drain_udp(peer *p)
{
    _Alignas(8) uint8_t buf[PKT_CAP];
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(p->udp, buf, 1500, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n <= 0)
            return;
        if (from.sin_family == AF_INET)
            on_datagram(p, buf, (size_t)n, &from);
    }
}

static void peer_loop(peer *p)
{
    media_clock mc = {.aseq = (uint16_t)g_random_int(),
                      .vseq = (uint16_t)g_random_int(),
                      .ats = g_random_int(),
                      .vts = g_random_int()};
    int64_t next_check = 0, check_interval = 50 * 1000;
    bool media_on = false;
    while (!atomic_load(&g_stop)) {
        if (collect_signalling(p) != 0 || dtls_step(p) != 0)
            return;
        int64_t now = now_us(), wait = 100 * 1000;
        if (p->rufrag && p->cand_count && now >= next_check) {
            ice_send_checks(p);
            if (p->ice_ok)
                check_interval = CONSENT_US;
            else if (check_interval < 400 * 1000)
                check_interval += 25 * 1000;
            next_check = now + check_interval;
        }
        if (p->rufrag && p->cand_count && next_check - now < wait)
            wait = next_check - now;
        if (p->dtls && odeon_dtls_endpoint_timeout_us(p->dtls) >= 0 &&
            odeon_dtls_endpoint_timeout_us(p->dtls) < wait)
            wait = odeon_dtls_endpoint_timeout_us(p->dtls);
        if (p->srtp && !media_on) {
            media_on = true;
            int64_t jitter = (int64_t)(g_random_int() % 20000);
            mc.next_audio = now + jitter;
            mc.next_video = now + jitter;
        }
        if (media_on) {
            int64_t w = media_tick(p, &mc, now);
            if (w < wait)
                wait = w;
        }
        advance_stage(p);
        struct pollfd pf[2] = {{.fd = p->udp, .events = POLLIN},
                               {.fd = p->wake[0], .events = POLLIN}};
        struct timespec ts = {.tv_sec = wait / 1000000, .tv_nsec = (wait % 1000000) * 1000};
        if (ppoll(pf, 2, &ts, NULL) > 0) {
            if (pf[1].revents) {
                char junk[64];
                ssize_t r = read(p->wake[0], junk, sizeof junk);
                (void)r;
            }
            if (pf[0].revents)
                drain_udp(p);
        }
    }
}

static int open_udp(peer *p)
{
    p->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (p->udp < 0)
        return -1;
    int sz = 1 << 20;
    setsockopt(p->udp, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(p->udp, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, opt.local_ip, &a.sin_addr) != 1 ||
        bind(p->udp, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    socklen_t l = sizeof p->local;
    return getsockname(p->udp, (struct sockaddr *)&p->local, &l);
}

static void *peer_main(void *arg)
{
    peer *p = arg;
    if (open_udp(p) != 0) {
        peer_fail(p, "cannot bind a UDP socket on %s: %s", opt.local_ip, strerror(errno));
        return NULL;
    }
    if (signal_offer(p) == 0) {
        atomic_store(&p->st, ST_ANSWER);
        peer_loop(p);
    }
    if (p->dtls && odeon_dtls_endpoint_state(p->dtls) == ODEON_DTLS_STATE_CONNECTED)
        odeon_dtls_endpoint_close(p->dtls);
    /* wait for the global stop before tearing down, so a failed peer does not skew the rest */
    while (!atomic_load(&g_stop))
        usleep(50 * 1000);
    pthread_mutex_lock(&p->mu);
    p->lp_stop = true;
    if (p->lp_fd >= 0)
        shutdown(p->lp_fd, SHUT_RDWR);
    pthread_mutex_unlock(&p->mu);
    if (p->lp_started)
        pthread_join(p->lp_thr, NULL);
    if (p->session_id) {
        char path[128];
        snprintf(path, sizeof path, "%s/%llu", opt.base_path, (unsigned long long)p->session_id);
        json_t *r = api_post(p, path, json_pack("{s:s}", "janus", "destroy"));
        json_decref(r);
    }
    return NULL;
}

/* ----- measurement ---------------------------------------------------------------------------- */

typedef struct {
    uint64_t sent, echoed, audio, video, rtcp, unprotect_err;
    int64_t t, server_cpu, self_cpu;
} snapshot;

static void take_snapshot(snapshot *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < opt.peers; i++) {
        peer *p = &g_peers[i];
        s->sent += atomic_load(&p->sent);
        s->echoed += atomic_load(&p->echoed);
        s->audio += atomic_load(&p->echoed_audio);
        s->video += atomic_load(&p->echoed_video);
        s->rtcp += atomic_load(&p->rtcp_in);
        s->unprotect_err += atomic_load(&p->unprotect_err);
    }
    s->t = now_us();
    s->server_cpu = opt.cpu_pid > 0 ? rtcc_proc_cpu_us(opt.cpu_pid) : -1;
    s->self_cpu = rtcc_self_cpu_us();
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(const int64_t *v, int n, double q)
{
    if (n == 0)
        return -1;
    int i = (int)(q * (n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

/* Offer->webrtcup and offer->first echo, milliseconds, over the peers that got there. */
static void latency_json(GString *o)
{
    int64_t *up = g_new(int64_t, opt.peers), *echo = g_new(int64_t, opt.peers);
    int nu = 0, ne = 0;
    for (int i = 0; i < opt.peers; i++) {
        peer *p = &g_peers[i];
        pthread_mutex_lock(&p->mu);
        if (p->t_webrtcup && p->t_offer)
            up[nu++] = p->t_webrtcup - p->t_offer;
        if (p->t_first_echo && p->t_offer)
            echo[ne++] = p->t_first_echo - p->t_offer;
        pthread_mutex_unlock(&p->mu);
    }
    qsort(up, (size_t)nu, sizeof *up, cmp_i64);
    qsort(echo, (size_t)ne, sizeof *echo, cmp_i64);
    g_string_append_printf(
        o,
        ",\"webrtcup_peers\":%d,\"webrtcup_ms_p50\":%.1f,\"webrtcup_ms_p95\":%.1f,"
        "\"webrtcup_ms_max\":%.1f,\"first_echo_ms_p50\":%.1f",
        nu, pct(up, nu, 0.5), pct(up, nu, 0.95), pct(up, nu, 1.0), pct(echo, ne, 0.5));
    g_free(up);
    g_free(echo);
}

/* Per-stage counts, and the first error message of each stage on stderr. */
static void stages_json(GString *o, int *ok_out)
{
    int count[ST_COUNT] = {0};
    bool shown[ST_COUNT] = {false};
    for (int i = 0; i < opt.peers; i++) {
        peer *p = &g_peers[i];
        int st = atomic_load(&p->st);
        count[st]++;
        pthread_mutex_lock(&p->mu);
        if (st != ST_OK && !shown[st]) {
            shown[st] = true;
            logf_("peers stopped at stage '%s', e.g. peer %d: %s", stage_names[st], p->idx,
                  p->error[0] ? p->error : "(timeout, no error reported)");
            if (st >= ST_WEBRTCUP)
                logf_("  peer %d so far: %llu RTP sent, %llu echoed, %llu SRTP packets failed to "
                      "unprotect, %llu SRTCP received",
                      p->idx, (unsigned long long)atomic_load(&p->sent),
                      (unsigned long long)atomic_load(&p->echoed),
                      (unsigned long long)atomic_load(&p->unprotect_err),
                      (unsigned long long)atomic_load(&p->rtcp_in));
        }
        pthread_mutex_unlock(&p->mu);
    }
    g_string_append(o, ",\"stages\":{");
    for (int s = 0; s < ST_COUNT; s++)
        g_string_append_printf(o, "%s\"%s\":%d", s ? "," : "", stage_names[s], count[s]);
    g_string_append(o, "}");
    *ok_out = count[ST_OK];
}

static bool all_settled(int64_t deadline)
{
    if (now_us() >= deadline)
        return true;
    for (int i = 0; i < opt.peers; i++) {
        peer *p = &g_peers[i];
        pthread_mutex_lock(&p->mu);
        bool failed = p->error[0] != '\0';
        pthread_mutex_unlock(&p->mu);
        if (atomic_load(&p->st) != ST_OK && !failed)
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

/* Long-polls first (so none polls a destroyed session), then the peers, which join their
 * long-poll thread and destroy their session on the way out. */
static void stop_all(void)
{
    for (int i = 0; i < opt.peers; i++) {
        peer *p = &g_peers[i];
        pthread_mutex_lock(&p->mu);
        p->lp_stop = true;
        if (p->lp_fd >= 0)
            shutdown(p->lp_fd, SHUT_RDWR);
        pthread_mutex_unlock(&p->mu);
    }
    atomic_store(&g_stop, true);
    for (int i = 0; i < opt.peers; i++)
        peer_wake(&g_peers[i]);
    for (int i = 0; i < opt.peers; i++)
        pthread_join(g_peers[i].thr, NULL);
}

static void report(const snapshot *a, const snapshot *b, bool measured)
{
    GString *o = g_string_new(NULL);
    double secs = measured ? (double)(b->t - a->t) / 1e6 : 0;
    uint64_t echoed = measured ? b->echoed - a->echoed : 0, sent = measured ? b->sent - a->sent : 0;
    int64_t scpu =
        measured && a->server_cpu >= 0 && b->server_cpu >= 0 ? b->server_cpu - a->server_cpu : -1;
    g_string_append_printf(o, "{\"server\":\"%s\",\"plugin\":\"%s\",\"peers\":%d", opt.label,
                           opt.plugin, opt.peers);
    int ok = 0;
    stages_json(o, &ok);
    g_string_append_printf(o, ",\"ok_peers\":%d,\"measured\":%s,\"window_s\":%.3f", ok,
                           measured ? "true" : "false", secs);
    g_string_append_printf(
        o,
        ",\"sent\":%llu,\"echoed\":%llu,\"echoed_audio\":%llu,"
        "\"echoed_video\":%llu,\"rtcp_in\":%llu,\"unprotect_errors\":%llu",
        (unsigned long long)sent, (unsigned long long)echoed,
        (unsigned long long)(measured ? b->audio - a->audio : 0),
        (unsigned long long)(measured ? b->video - a->video : 0),
        (unsigned long long)(measured ? b->rtcp - a->rtcp : 0),
        (unsigned long long)(measured ? b->unprotect_err - a->unprotect_err : 0));
    g_string_append_printf(o, ",\"sent_per_s\":%.1f,\"echoed_per_s\":%.1f,\"echo_ratio\":%.4f",
                           secs > 0 ? (double)sent / secs : 0, secs > 0 ? (double)echoed / secs : 0,
                           sent ? (double)echoed / (double)sent : 0);
    g_string_append_printf(
        o, ",\"server_cpu_us\":%lld,\"cpu_us_per_echoed\":%.3f,\"server_cpu_pct\":%.1f",
        (long long)scpu, scpu >= 0 && echoed ? (double)scpu / (double)echoed : -1,
        scpu >= 0 && secs > 0 ? (double)scpu / (secs * 1e4) : -1);
    g_string_append_printf(o, ",\"loadgen_cpu_us_per_echoed\":%.3f",
                           measured && echoed ? (double)(b->self_cpu - a->self_cpu) / (double)echoed
                                              : -1);
    latency_json(o);
    g_string_append(o, "}");
    puts(o->str);
    fflush(stdout);
    g_string_free(o, TRUE);
}

/* ----- main ----------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f, "usage: echoload [options]\n"
           "  --host IP            API address (default 127.0.0.1)\n"
           "  --port N             API port (HTTP, default 8088)\n"
           "  --base-path P        API base path (default /janus)\n"
           "  --plugin NAME        echotest package (default janus.plugin.echotest)\n"
           "  --body JSON          message body (default {\"audio\":true,\"video\":true})\n"
           "  --setup ROLE         a=setup of the offer: actpass (default), active, passive\n"
           "  --local-ip IP        address our UDP sockets bind to and advertise (default --host)\n"
           "  --peers N            concurrent peers (default 10)\n"
           "  --ramp-ms MS         delay between peer starts (default 20)\n"
           "  --setup-timeout S    seconds for every peer to reach echoing (default 20)\n"
           "  --warmup S           seconds of media before the window (default 2)\n"
           "  --duration S         measured window (default 10)\n"
           "  --audio-pps N        audio packets/s per peer (default 50; 0 disables)\n"
           "  --audio-size B       audio payload bytes (default 160)\n"
           "  --fps N              video frames/s per peer (default 30; 0 disables)\n"
           "  --video-pkts N       packets per video frame (default 3)\n"
           "  --video-size B       video payload bytes (default 1100)\n"
           "  --keyframe-every N   frames between keyframes (default 60)\n"
           "  --cpu-pid PID        server process whose CPU time is sampled over the window\n"
           "  --label NAME         'server' field of the JSON line (default server)\n"
           "  -v, --verbose        per-peer progress on stderr\n");
}

static const rtcc_option opt_specs[] = {
    {"host", 's', &opt.host},
    {"port", 'i', &opt.port},
    {"base-path", 's', &opt.base_path},
    {"plugin", 's', &opt.plugin},
    {"body", 's', &opt.body},
    {"local-ip", 's', &opt.local_ip},
    {"label", 's', &opt.label},
    {"setup", 's', &opt.setup},
    {"peers", 'i', &opt.peers},
    {"ramp-ms", 'd', &opt.ramp_ms},
    {"setup-timeout", 'd', &opt.setup_timeout},
    {"warmup", 'd', &opt.warmup},
    {"duration", 'd', &opt.duration},
    {"audio-pps", 'i', &opt.audio_pps},
    {"audio-size", 'i', &opt.audio_size},
    {"fps", 'i', &opt.fps},
    {"video-pkts", 'i', &opt.video_pkts},
    {"video-size", 'i', &opt.video_size},
    {"keyframe-every", 'i', &opt.keyframe_every},
    {"cpu-pid", 'i', &opt.cpu_pid},
};
#define N_OPT_SPECS (sizeof opt_specs / sizeof opt_specs[0])

static bool options_valid(void)
{
    return opt.peers >= 1 && opt.peers <= 10000 && opt.duration > 0 && opt.audio_pps >= 0 &&
           opt.audio_pps <= 1000 && opt.fps >= 0 && opt.fps <= 240 && opt.audio_size >= 1 &&
           opt.audio_size <= 1200 && opt.video_size >= 12 && opt.video_size <= 1200 &&
           opt.video_pkts >= 0 && opt.video_pkts <= 50 &&
           (strcmp(opt.setup, "actpass") == 0 || strcmp(opt.setup, "active") == 0 ||
            strcmp(opt.setup, "passive") == 0);
}

static int parse_args(int argc, char **argv)
{
    if (rtcc_parse_options(argc, argv, opt_specs, N_OPT_SPECS, &opt.verbose, usage) != 0)
        return -1;
    if (!opt.local_ip)
        opt.local_ip = opt.host;
    if (!options_valid()) {
        fprintf(stderr, "echoload: an option is out of range\n");
        return -1;
    }
    return 0;
}

static void start_peers(void)
{
    g_peers = g_new0(peer, opt.peers);
    for (int i = 0; i < opt.peers; i++) {
        peer *p = &g_peers[i];
        p->idx = i;
        p->lp_fd = -1;
        p->udp = -1;
        pthread_mutex_init(&p->mu, NULL);
        if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
            perror("echoload: pipe");
            exit(1);
        }
        rtcc_random_token(p->lufrag, 8);
        rtcc_random_token(p->lpwd, 24);
        RAND_bytes(p->txid_prefix, 4);
        RAND_bytes((uint8_t *)&p->tie_breaker, 8);
        p->assrc = g_random_int() | 1;
        p->vssrc = g_random_int() | 2;
        p->audio_pt = AUDIO_PT;
        p->video_pt = VIDEO_PT;
        atomic_store(&p->st, ST_SIGNAL);
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 256 * 1024);
        if (pthread_create(&p->thr, &at, peer_main, p) != 0) {
            perror("echoload: pthread_create");
            exit(1);
        }
        pthread_attr_destroy(&at);
        sleep_us((int64_t)(opt.ramp_ms * 1000));
    }
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0)
        return 2;
    char *err = NULL;
    g_identity = odeon_dtls_identity_generate(&err);
    if (!g_identity) {
        fprintf(stderr, "echoload: identity: %s\n", err ? err : "?");
        return 1;
    }
    RAND_bytes(g_noise, sizeof g_noise);
    int64_t t0 = now_us();
    start_peers();
    int64_t deadline = now_us() + (int64_t)(opt.setup_timeout * 1e6);
    while (!all_settled(deadline))
        sleep_us(50 * 1000);
    int ok = 0;
    for (int i = 0; i < opt.peers; i++)
        ok += atomic_load(&g_peers[i].st) == ST_OK;
    logf_("%s: %d/%d peers echoing after %.1f s", opt.label, ok, opt.peers,
          (double)(now_us() - t0) / 1e6);
    snapshot a = {0}, b = {0};
    if (ok > 0) {
        sleep_us((int64_t)(opt.warmup * 1e6));
        take_snapshot(&a);
        sleep_us((int64_t)(opt.duration * 1e6));
        take_snapshot(&b);
    }
    atomic_store(&g_media_stop, true);
    report(&a, &b, ok > 0);
    stop_all();
    odeon_dtls_identity_unref(g_identity);
    return ok > 0 ? 0 : 3;
}
