/*
 * viewers.c - "odeon-load viewers": N real WebRTC viewers against a server speaking the Janus
 * API, in the subscriber direction (the server offers, the viewer answers), as Janus's
 * Streaming plugin and Odeon's stage plugin do. See README.md for the flow and the output.
 *
 * Shape: a few worker threads (--threads), each with one epoll set and many viewers; a viewer
 * owns one WebSocket (janus-protocol) and one UDP socket and lives entirely on its worker, so
 * nothing here locks. Timers (ICE checks, DTLS retransmission, keepalives, deadlines) are
 * polled every 10 ms per worker. The main thread only starts the workers, flips the global
 * phase (setup -> measuring -> stopping) and, once the workers are joined, hands the viewers to
 * the report (report.c).
 *
 * Per viewer: create, attach --plugin, "message" with --watch; the offer arrives in an "event";
 * the answer (recvonly, a=setup:active, our host candidate) goes back with --start. ICE is done
 * by hand as the controlled agent (the offerer controls; controlling if the offer is ice-lite),
 * DTLS and SRTP with Odeon's src/webrtc modules. Every RTP datagram is counted from its
 * cleartext header (SSRC, sequence: loss and gaps per SSRC); only some are authenticated and
 * decrypted: all video until the first keyframe, all video of the --decode viewers (which
 * decode it with libvpx, see vp8.c), and 1 in --sample of the rest.
 *
 * Clusters (--placement, --failover-after-ms): cluster.c decides where the next session goes
 * (the entry node, --host/--port, or the node a redirect named) and whether a lost session is a
 * failure or a failover; here a reconnect it marked (pl.pending) is run by the next tick: the
 * session torn down and the whole flow started again at the new target.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "../bench/common/rtcclient.h"
#include "load.h"
#include "plugin/plugin.h"
#include "webrtc/bytes.h"
#include "webrtc/dtls.h"
#include "webrtc/rtcp.h"
#include "webrtc/rtp.h"
#include "webrtc/sdp.h"
#include "webrtc/srtp.h"
#include "webrtc/stun.h"
#include "ws.h"

/* ----- options -------------------------------------------------------------------------------- */

static struct {
    const char *host, *path, *plugin, *watch, *start, *local_ip, *label, *token, *apisecret;
    const char *remb;             /* "SECONDS:BPS,..." */
    const char *source_frame_log; /* odeon-load source --frame-log's file */
    int port, viewers, threads, sample, decode, json, verbose, window_marker, nack, nack_gaps;
    int decode_last; /* the last N viewers decode too (the end of a node's fan-out order) */
    int placement, failover_after_ms; /* cluster: redirects from the entry node, failover */
    int entry_viewers;                /* viewers 0..N-1 watch on the entry, no placement */
    int frame_times;                  /* decoders: per-frame arrival times, delay per node */
    int drop_every, corrupt_every;    /* self-tests of the loss and checksum accounting */
    int nack_every;                   /* viewer 0 NACKs every Nth video packet (repair test) */
    int pli_every_ms;                 /* viewer 0 asks for a keyframe this often (PLI test) */
    double ramp_ms, setup_timeout, duration, max_loss_pct, source_fps;
} opt = {
    .host = "127.0.0.1",
    .path = "/",
    .plugin = "janus.plugin.streaming",
    .watch = "{\"request\":\"watch\",\"id\":1}",
    .start = "{\"request\":\"start\"}",
    .label = "server",
    .port = 8188,
    .viewers = 10,
    .threads = 1,
    .sample = 16,
    .decode = 2,
    .ramp_ms = 20,
    .setup_timeout = 20,
    .duration = 10,
    .max_loss_pct = 1.0,
};

#define PKT_CAP (1600 + ODEON_SRTP_RTCP_TAIL_ROOM)
#define TICK_US (10 * 1000)
#define KEEPALIVE_US (25LL * 1000 * 1000)
#define CONSENT_US (2LL * 1000 * 1000)
#define RTCP_US (500 * 1000)
#define REMB_STEPS 32

/* --remb, parsed: from at_us after a viewer became ok, it asks for bps. Sorted by time. */
static struct {
    int n;
    int64_t at_us[REMB_STEPS];
    uint64_t bps[REMB_STEPS];
} g_remb;

enum {
    PHASE_SETUP,
    PHASE_MEASURE,
    PHASE_STOP
};
static _Atomic int g_phase;
static odeon_dtls_identity *g_identity;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&g_log_mu);
    fputs("odeon-load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&g_log_mu);
    va_end(ap);
}

/* ----- viewers -------------------------------------------------------------------------------- */

const char *const stage_names[ST_COUNT] = {"connect", "session", "offer", "ice",
                                           "dtls",    "media",   "ok"};

static viewer *g_viewers;

static void dtls_send(void *user, const uint8_t *data, size_t len);

void vfail(viewer *v, const char *fmt, ...)
{
    if (atomic_load(&v->failed))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->error, sizeof v->error, fmt, ap);
    va_end(ap);
    atomic_store(&v->failed, true);
    if (opt.verbose)
        logf_("viewer %d failed at stage %s: %s", v->idx, stage_names[atomic_load(&v->st)],
              v->error);
}

bool viewers_stopping(void)
{
    return atomic_load(&g_phase) == PHASE_STOP;
}

static bool vdone(const viewer *v)
{
    return atomic_load(&v->failed) || atomic_load(&v->st) == ST_OK;
}

/* ----- signalling ----------------------------------------------------------------------------- */

static void ws_update_events(viewer *v)
{
    if (v->ws.fd < 0)
        return;
    uint32_t ev = EPOLLIN | (ws_wants_write(&v->ws) ? EPOLLOUT : 0);
    if (ev == v->ws_events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = &v->wsref};
    epoll_ctl(v->epfd, EPOLL_CTL_MOD, v->ws.fd, &e);
    v->ws_events = ev;
}

/* Sends a request (takes req); the transaction is "<kind>-<viewer>-<n>". */
static void send_req(viewer *v, const char *kind, json_t *req)
{
    char tx[64];
    snprintf(tx, sizeof tx, "%s-%d-%u", kind, v->idx, ++v->tx_counter);
    json_object_set_new(req, "transaction", json_string(tx));
    if (v->session_id)
        json_object_set_new(req, "session_id", json_integer((json_int_t)v->session_id));
    if (v->handle_id && strcmp(kind, "keepalive") != 0 && strcmp(kind, "destroy") != 0)
        json_object_set_new(req, "handle_id", json_integer((json_int_t)v->handle_id));
    if (opt.token)
        json_object_set_new(req, "token", json_string(opt.token));
    if (opt.apisecret)
        json_object_set_new(req, "apisecret", json_string(opt.apisecret));
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (ws_send_text(&v->ws, s, strlen(s)) != 0)
        session_lost(v, "websocket: %s", v->ws.error);
    free(s);
    ws_update_events(v);
}

/* --watch, plus the placement fields: at the entry node with --placement or in a recovery,
 * "placement":true with our client key and the nodes lost in this recovery, so the server
 * serves us or redirects us (plugin_event); at a node a redirect named, "placement":false, so
 * that node serves us. Without the cluster options the body is --watch, unchanged. */
static json_t *watch_body(viewer *v)
{
    json_error_t je;
    json_t *body = json_loads(opt.watch, 0, &je);
    cluster_watch_fields(v, body);
    return body;
}

static void send_watch(viewer *v)
{
    json_t *body = watch_body(v);
    if (!v->t_watch) /* the join time runs from the first watch, redirects included */
        v->t_watch = rtcc_now_us();
    atomic_store(&v->st, ST_OFFER);
    send_req(v, "watch", json_pack("{s:s,s:o}", "janus", "message", "body", body));
}

static void answer_common(GString *a, viewer *v)
{
    g_string_append_printf(a,
                           "a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
                           "a=ice-options:trickle\r\na=fingerprint:sha-256 %s\r\na=setup:%s\r\n",
                           v->lufrag, v->lpwd, odeon_dtls_identity_fingerprint(g_identity),
                           v->dtls_client ? "active" : "passive");
}

/* One answered m-section: recvonly, the first VP8 (video) or opus (audio) payload type. */
static void answer_media(GString *a, viewer *v, const odeon_sdp_media *m, bool first,
                         const char *ip)
{
    bool audio = m->kind == ODEON_SDP_MEDIA_AUDIO;
    int pt = odeon_sdp_media_find_codec(m, audio ? "opus" : "VP8");
    if (pt < 0)
        pt = m->pts[0];
    const odeon_sdp_rtpmap *rm = odeon_sdp_media_find_rtpmap(m, pt);
    v->pt_kind[pt & 0x7f] = audio ? KIND_AUDIO : KIND_VIDEO;
    if (audio)
        v->has_audio = true;
    else
        v->has_video = true;
    g_string_append_printf(a, "m=%s 9 UDP/TLS/RTP/SAVPF %d\r\nc=IN IP4 %s\r\n", m->media, pt, ip);
    answer_common(a, v);
    g_string_append_printf(a, "a=mid:%s\r\na=recvonly\r\na=rtcp-mux\r\n", m->mid ? m->mid : "");
    if (rm && rm->channels)
        g_string_append_printf(a, "a=rtpmap:%d %s/%u/%u\r\n", pt, rm->name, rm->clock_rate,
                               rm->channels);
    else if (rm)
        g_string_append_printf(a, "a=rtpmap:%d %s/%u\r\n", pt, rm->name, rm->clock_rate);
    const char *fmtp = odeon_sdp_media_find_fmtp(m, pt);
    if (fmtp && *fmtp)
        g_string_append_printf(a, "a=fmtp:%d %s\r\n", pt, fmtp);
    /* with --remb we send REMB, so we say so; never transport-cc: we send no TWCC feedback,
     * and a server that believed we did would estimate from nothing */
    if (!audio && opt.remb)
        g_string_append_printf(a, "a=rtcp-fb:%d goog-remb\r\n", pt);
    /* --nack: as a browser answers, so the server keeps a retransmission buffer per viewer
     * (what its memory per viewer then really is); only --nack-every and --nack-gaps NACK */
    if (!audio && (opt.nack || opt.nack_gaps))
        g_string_append_printf(a, "a=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\n", pt, pt);
    if (first)
        g_string_append_printf(a,
                               "a=candidate:1 1 udp 2130706431 %s %u typ host\r\n"
                               "a=end-of-candidates\r\n",
                               ip, ntohs(v->local.sin_port));
}

static void add_candidate(viewer *v, const char *line)
{
    struct sockaddr_in a;
    if (rtcc_parse_candidate(line, &a) != 0)
        return;
    for (int i = 0; i < v->ncand; i++)
        if (v->cands[i].sin_addr.s_addr == a.sin_addr.s_addr && v->cands[i].sin_port == a.sin_port)
            return;
    if (v->ncand < MAX_CANDS)
        v->cands[v->ncand++] = a;
}

static char *build_answer(viewer *v, const odeon_sdp *sdp)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &v->local.sin_addr, ip, sizeof ip);
    GString *a = g_string_new(NULL);
    g_string_append_printf(a, "v=0\r\no=- %u 2 IN IP4 %s\r\ns=-\r\nt=0 0\r\n",
                           (unsigned)g_random_int(), ip);
    GString *bundle = g_string_new("a=group:BUNDLE");
    for (size_t i = 0; i < sdp->media_count; i++) {
        const odeon_sdp_media *m = &sdp->media[i];
        if (m->is_rtp && m->port && m->pt_count && m->mid &&
            (m->kind == ODEON_SDP_MEDIA_AUDIO || m->kind == ODEON_SDP_MEDIA_VIDEO))
            g_string_append_printf(bundle, " %s", m->mid);
    }
    g_string_append_printf(a, "%s\r\na=msid-semantic: WMS *\r\n", bundle->str);
    g_string_free(bundle, TRUE);
    bool first = true;
    for (size_t i = 0; i < sdp->media_count; i++) {
        const odeon_sdp_media *m = &sdp->media[i];
        if (m->is_rtp && m->port && m->pt_count && m->mid &&
            (m->kind == ODEON_SDP_MEDIA_AUDIO || m->kind == ODEON_SDP_MEDIA_VIDEO)) {
            answer_media(a, v, m, first, ip);
            first = false;
        } else { /* rejected: data channels, other media */
            g_string_append_printf(a, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\n", m->media, m->proto,
                                   m->is_rtp && m->pt_count ? "0"
                                                            : (m->formats ? m->formats : "0"));
            if (m->mid)
                g_string_append_printf(a, "a=mid:%s\r\n", m->mid);
        }
    }
    return g_string_free(a, FALSE);
}

/* The server's offer: remember ICE/DTLS parameters and candidates, answer with --start. */
static void handle_offer(viewer *v, const char *text)
{
    char *err = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, strlen(text), &err);
    if (!sdp) {
        vfail(v, "offer SDP: %s", err ? err : "?");
        g_free(err);
        return;
    }
    v->offer_done = true;
    if (!v->t_offer) /* the first join's; a failover's offer is not a join */
        v->t_offer = rtcc_now_us();
    rtcc_remote_transport rt;
    if (rtcc_remote_transport_of(sdp, &rt) != 0) {
        vfail(v, "offer lacks m-lines, ice-ufrag, ice-pwd or fingerprint");
        odeon_sdp_free(sdp);
        return;
    }
    v->rufrag = g_strdup(rt.ufrag);
    v->rpwd = g_strdup(rt.pwd);
    v->fp_hash = g_strdup(rt.fingerprint->hash);
    v->fp_value = g_strdup(rt.fingerprint->value);
    /* the answerer picks: active (DTLS client) unless the offer insists on being the client */
    v->dtls_client = !(rt.setup && strcmp(rt.setup, "active") == 0);
    v->controlling = sdp->ice_lite; /* RFC 8445 6.1.1: the offerer controls unless it is lite */
    for (size_t m = 0; m < sdp->media_count; m++)
        for (size_t i = 0; i < sdp->media[m].candidate_count; i++)
            add_candidate(v, sdp->media[m].candidates[i]);
    char *answer = build_answer(v, sdp);
    odeon_sdp_free(sdp);
    v->dtls = odeon_dtls_endpoint_new(
        g_identity, v->dtls_client ? ODEON_DTLS_ROLE_CLIENT : ODEON_DTLS_ROLE_SERVER, v->fp_hash,
        v->fp_value, dtls_send, v, &err);
    if (!v->dtls) {
        vfail(v, "dtls: %s", err ? err : "?");
        g_free(err);
        g_free(answer);
        return;
    }
    odeon_dtls_endpoint_set_deadline_us(v->dtls, (int64_t)(opt.setup_timeout * 1e6));
    odeon_dtls_endpoint_set_initial_rto_us(v->dtls, 100 * 1000);
    json_error_t je;
    json_t *body = json_loads(opt.start, 0, &je);
    atomic_store(&v->st, ST_ICE);
    v->next_check = 0;
    v->check_interval = 50 * 1000;
    send_req(v, "start",
             json_pack("{s:s,s:o,s:{s:s,s:s}}", "janus", "message", "body", body, "jsep", "type",
                       "answer", "sdp", answer));
    g_free(answer);
}

static void plugin_event(viewer *v, json_t *msg)
{
    json_t *data = json_object_get(json_object_get(msg, "plugindata"), "data");
    const char *perr = json_string_value(json_object_get(data, "error"));
    if (perr) {
        session_lost(v, "plugin error %lld: %s",
                     (long long)json_integer_value(json_object_get(data, "error_code")), perr);
        return;
    }
    if (cluster_on_result(v, json_object_get(data, "result"), v->offer_done))
        return;
    json_t *jsep = json_object_get(msg, "jsep");
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    if (type && sdp && strcmp(type, "offer") == 0) {
        if (!v->offer_done)
            handle_offer(v, sdp);
        else if (opt.verbose)
            logf_("viewer %d: ignoring a renegotiation offer", v->idx);
    }
}

static void on_success(viewer *v, const char *kind, json_t *msg)
{
    json_int_t id = json_integer_value(json_object_get(json_object_get(msg, "data"), "id"));
    if (strcmp(kind, "create") == 0) {
        v->session_id = (uint64_t)id;
        v->next_keepalive = rtcc_now_us() + KEEPALIVE_US;
        send_req(v, "attach", json_pack("{s:s,s:s}", "janus", "attach", "plugin", opt.plugin));
    } else if (strcmp(kind, "attach") == 0) {
        v->handle_id = (uint64_t)id;
        send_watch(v);
    } else if (strcmp(kind, "watch") == 0 || strcmp(kind, "start") == 0) {
        plugin_event(v, msg); /* a synchronous plugin reply */
    }
}

static void on_ws_message(void *user, char *text, size_t len)
{
    viewer *v = user;
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    if (!j)
        return;
    if (atomic_load(&v->failed) || v->pl.pending) { /* read and ignored: the viewer's story is
                                                     * over, or this session's is */
        json_decref(j);
        return;
    }
    const char *janus = json_string_value(json_object_get(j, "janus"));
    const char *tx = json_string_value(json_object_get(j, "transaction"));
    char kind[16] = "";
    if (tx)
        sscanf(tx, "%15[a-z]", kind);
    if (!janus) {
    } else if (strcmp(janus, "success") == 0) {
        on_success(v, kind, j);
    } else if (strcmp(janus, "error") == 0) {
        json_t *e = json_object_get(j, "error");
        if (strcmp(kind, "destroy") != 0)
            session_lost(v, "%s: error %lld %s", kind[0] ? kind : "request",
                         (long long)json_integer_value(json_object_get(e, "code")),
                         json_string_value(json_object_get(e, "reason"))
                             ? json_string_value(json_object_get(e, "reason"))
                             : "");
    } else if (strcmp(janus, "event") == 0) {
        plugin_event(v, j);
    } else if (strcmp(janus, "webrtcup") == 0) {
        if (!v->t_webrtcup)
            v->t_webrtcup = rtcc_now_us();
    } else if (strcmp(janus, "trickle") == 0) {
        json_t *c = json_object_get(j, "candidate");
        const char *line = json_string_value(json_object_get(c, "candidate"));
        if (line)
            add_candidate(v, line);
    } else if (strcmp(janus, "slowlink") == 0) {
        v->slowlinks++;
    } else if (strcmp(janus, "hangup") == 0 || strcmp(janus, "detached") == 0 ||
               strcmp(janus, "timeout") == 0) {
        const char *reason = json_string_value(json_object_get(j, "reason"));
        if (atomic_load(&g_phase) != PHASE_STOP)
            session_lost(v, "%s%s%s", janus, reason ? ": " : "", reason ? reason : "");
    }
    json_decref(j);
}

/* ----- ICE ------------------------------------------------------------------------------------ */

static void udp_send(viewer *v, const struct sockaddr_in *to, const uint8_t *buf, size_t len)
{
    ssize_t r = sendto(v->udp, buf, len, 0, (const struct sockaddr *)to, sizeof *to);
    (void)r; /* a dropped datagram is a lost packet; ICE and DTLS retransmit */
}

static void dtls_send(void *user, const uint8_t *data, size_t len)
{
    viewer *v = user;
    if (v->ice_ok)
        udp_send(v, &v->remote, data, len);
}

static void ice_send_checks(viewer *v)
{
    uint8_t m[800];
    rtcc_binding_request req = {.remote_ufrag = v->rufrag,
                                .local_ufrag = v->lufrag,
                                .remote_pwd = v->rpwd,
                                .controlling = v->controlling,
                                .tie_breaker = v->tie_breaker,
                                .use_candidate = v->controlling};
    memcpy(req.txid, v->txid_prefix, 4);
    odeon_put_be32(req.txid + 8, (uint32_t)v->idx);
    for (int i = 0; i < (v->ice_ok ? 1 : v->ncand); i++) {
        odeon_put_be32(req.txid + 4, ++v->txn);
        size_t n = rtcc_stun_binding_request(&req, m);
        udp_send(v, v->ice_ok ? &v->remote : &v->cands[i], m, n);
    }
}

static void ice_connected(viewer *v, const struct sockaddr_in *from)
{
    if (v->ice_ok)
        return;
    v->ice_ok = true;
    v->remote = *from;
    if (!v->t_ice)
        v->t_ice = rtcc_now_us();
    if (atomic_load(&v->st) == ST_ICE)
        atomic_store(&v->st, ST_DTLS);
}

static void on_stun(viewer *v, const uint8_t *buf, size_t len, const struct sockaddr_in *from)
{
    odeon_stun_msg msg;
    if (odeon_stun_parse(buf, len, &msg) != 0 || msg.method != ODEON_STUN_METHOD_BINDING)
        return;
    if (msg.cls == ODEON_STUN_CLASS_REQUEST) {
        uint8_t out[256];
        size_t n = rtcc_stun_answer(&msg, v->lpwd, from, out, sizeof out);
        if (n == 0)
            return;
        udp_send(v, from, out, n);
        /* the controlling server nominates the pair it just checked; its ICE is done once it
         * reads our response, so this is the moment to start DTLS */
        if (!v->controlling && odeon_stun_has(&msg, ODEON_STUN_ATTR_USE_CANDIDATE) && v->rpwd) {
            v->nominated = true;
            if (v->ice_ok)
                v->remote = *from;
            ice_connected(v, from);
        }
        return;
    }
    if (!rtcc_stun_is_our_success(&msg, v->txid_prefix, v->rpwd))
        return;
    ice_connected(v, from);
    if (v->controlling)
        v->nominated = true;
}

/* ----- DTLS, SRTP ----------------------------------------------------------------------------- */

static void dtls_step(viewer *v, int64_t now)
{
    if (!v->dtls || !v->ice_ok || v->srtp || atomic_load(&v->failed))
        return;
    odeon_dtls_state s = odeon_dtls_endpoint_state(v->dtls);
    /* the client starts once the pair is nominated (or 300 ms after our own check succeeded,
     * for servers that nominate late); a ClientHello the server's ICE is not ready for is
     * dropped and costs a retransmission */
    if (s == ODEON_DTLS_STATE_NEW && v->dtls_client && (v->nominated || now - v->t_ice > 300000))
        odeon_dtls_endpoint_start(v->dtls);
    if (s == ODEON_DTLS_STATE_CONNECTING && odeon_dtls_endpoint_timeout_us(v->dtls) == 0)
        odeon_dtls_endpoint_handle_timeout(v->dtls);
    s = odeon_dtls_endpoint_state(v->dtls);
    if (s == ODEON_DTLS_STATE_CONNECTED) {
        char *err = NULL;
        v->srtp = rtcc_srtp_from_dtls(v->dtls, v->dtls_client, &v->srtp_profile, &err);
        if (!v->srtp) {
            vfail(v, "srtp: %s", err ? err : "?");
            g_free(err);
            return;
        }
        if (!v->t_dtls)
            v->t_dtls = now;
        atomic_store(&v->st, ST_MEDIA);
        if (opt.verbose)
            logf_("viewer %d: DTLS connected as %s, %s", v->idx,
                  v->dtls_client ? "client" : "server", v->srtp_profile);
    } else if (s == ODEON_DTLS_STATE_FAILED) {
        const char *why = odeon_dtls_endpoint_failure_reason(v->dtls);
        session_lost(v, "dtls failed: %s", why ? why : "?");
    } else if (s == ODEON_DTLS_STATE_CLOSED) {
        session_lost(v, "dtls closed by the server");
    }
}

/* ----- media ---------------------------------------------------------------------------------- */

static ssrc_stat *ssrc_find(viewer *v, uint32_t ssrc, uint8_t kind)
{
    for (int i = 0; i < v->nss; i++)
        if (v->ss[i].ssrc == ssrc)
            return &v->ss[i];
    if (v->nss == MAX_SSRCS)
        return NULL;
    ssrc_stat *s = &v->ss[v->nss++];
    memset(s, 0, sizeof *s);
    s->ssrc = ssrc;
    s->kind = kind;
    s->first_ext = -1;
    return s;
}

/* Whether ext arrived before (within SEQ_WINDOW of the highest), and marks it. */
static bool seq_seen_mark(ssrc_stat *s, int64_t ext)
{
    unsigned i = (unsigned)(ext % SEQ_WINDOW);
    uint64_t bit = 1ull << (i % 64);
    bool was = (s->seen[i / 64] & bit) != 0;
    s->seen[i / 64] |= bit;
    return was;
}

/* The highest moves up by d: the numbers it passes have not arrived (yet). */
static void seq_seen_advance(ssrc_stat *s, int64_t d)
{
    if (d >= SEQ_WINDOW) {
        memset(s->seen, 0, sizeof s->seen);
        return;
    }
    for (int64_t e = s->max_ext + 1; e <= s->max_ext + d; e++) {
        unsigned i = (unsigned)(e % SEQ_WINDOW);
        s->seen[i / 64] &= ~(1ull << (i % 64));
    }
}

/* Loss from the cleartext sequence numbers: expected = highest - first + 1, lost = expected -
 * received. A duplicate (a retransmission of what came after all, or a network's copy) is
 * counted apart, so that it cannot hide a loss; reordering is tolerated. */
static void ssrc_count(ssrc_stat *s, uint16_t seq)
{
    if (s->first_ext < 0) {
        s->first_ext = s->max_ext = seq;
        seq_seen_mark(s, s->max_ext);
        s->received++;
        return;
    }
    int16_t d = (int16_t)(seq - (uint16_t)s->max_ext);
    if (d > 0) {
        if (d > 1)
            s->gaps++;
        seq_seen_advance(s, d);
        s->max_ext += d;
        seq_seen_mark(s, s->max_ext);
    } else if (s->max_ext + d < s->first_ext) {
        s->first_ext = s->max_ext + d; /* reordered before the first packet we saw */
    } else if (-d < SEQ_WINDOW && seq_seen_mark(s, s->max_ext + d)) {
        s->duplicates++;
        return;
    }
    s->received++;
}

/* FNV-1a: the fingerprint of a dropped packet, to compare its retransmission with. */
static uint64_t datagram_hash(const uint8_t *buf, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ buf[i]) * 1099511628211ull;
    return h ^ len;
}

/* --nack-every: whether seq is one viewer 0 NACKed and still waits for (then no longer). A
 * retransmission on the same SSRC and sequence number under the same SRTP keys must be the
 * very datagram that was dropped (same plaintext, same index, so the same ciphertext and
 * tag): anything else is a wrongly rebuilt packet. */
static bool nack_take(viewer *v, const uint8_t *buf, size_t len)
{
    uint16_t seq = odeon_be16(buf + 2);
    for (unsigned i = 0; i < NACK_PENDING; i++)
        if (v->nack_live[i] && v->nack_seq[i] == seq) {
            v->nack_live[i] = false;
            if (v->nack_hash[i] != datagram_hash(buf, len))
                v->repair_mismatch++;
            return true;
        }
    return false;
}

/* A generic NACK (RFC 4585) for the video packet rtp (len bytes, as received), as SRTCP. */
/* Protects the n bytes of RTCP that a builder wrote into buf (cap bytes; n <= 0: it failed)
 * and sends them to the server; false (counted in rtcp_errors) when that failed. */
static bool rtcp_send(viewer *v, uint8_t *buf, int n, size_t cap)
{
    size_t len = n > 0 ? (size_t)n : 0;
    if (n <= 0 || odeon_srtp_protect_rtcp(v->srtp, buf, &len, cap) != 0) {
        v->rtcp_errors++;
        return false;
    }
    udp_send(v, &v->remote, buf, len);
    return true;
}

static void nack_send(viewer *v, const uint8_t *rtp, size_t rtp_len)
{
    _Alignas(16) uint8_t buf[64 + ODEON_SRTP_RTCP_TAIL_ROOM];
    uint16_t seq = odeon_be16(rtp + 2);
    if (!rtcp_send(v, buf,
                   odeon_rtcp_build_nack(buf, 64, v->rtcp_ssrc, odeon_be32(rtp + 8), &seq, 1),
                   sizeof buf))
        return;
    unsigned slot = (unsigned)(v->nacks_sent++ % NACK_PENDING);
    v->nack_seq[slot] = seq;
    v->nack_hash[slot] = datagram_hash(rtp, rtp_len);
    v->nack_live[slot] = true;
}

/* --nack-gaps: a NACKed number that came after all (a retransmission or a late original). */
static void gap_take(viewer *v, uint16_t seq)
{
    for (unsigned i = 0; i < NACK_PENDING; i++)
        if (v->gap_live[i] && v->gap_seq[i] == seq) {
            v->gap_live[i] = false;
            v->repaired++;
            return;
        }
}

/* --nack-gaps: as a browser does, NACK at once the video packets that a jump in the sequence
 * numbers of s skipped (rtp: the packet that jumped, cleartext header); a late packet that was
 * NACKed counts as repaired. Viewer 0 under --nack-every keeps to its own simulated losses. */
static void gap_nack(viewer *v, const ssrc_stat *s, const uint8_t *rtp)
{
    if (!opt.nack_gaps || (opt.nack_every > 0 && v->idx == 0) || s->first_ext < 0)
        return;
    uint16_t seq = odeon_be16(rtp + 2);
    int16_t d = (int16_t)(seq - (uint16_t)s->max_ext);
    if (d <= 0) {
        gap_take(v, seq);
        return;
    }
    if (d == 1 || d - 1 > GAP_NACK_MAX)
        return;
    uint16_t lost[GAP_NACK_MAX];
    size_t n = 0;
    for (uint16_t m = (uint16_t)((uint16_t)s->max_ext + 1); m != seq; m++)
        lost[n++] = m;
    _Alignas(16) uint8_t buf[128 + ODEON_SRTP_RTCP_TAIL_ROOM];
    if (!rtcp_send(v, buf,
                   odeon_rtcp_build_nack(buf, 128, v->rtcp_ssrc, odeon_be32(rtp + 8), lost, n),
                   sizeof buf))
        return;
    int64_t now = g_get_monotonic_time();
    for (size_t i = 0; i < n; i++) {
        unsigned slot = v->gap_next++ % NACK_PENDING;
        v->gap_seq[slot] = lost[i];
        v->gap_live[slot] = true;
        v->gap_sent_us[slot] = now;
        v->gap_tries[slot] = 1;
    }
    v->nacks_sent += n;
}

/* --nack-gaps: what is still missing GAP_NACK_RETRY_US after its NACK is asked for again, up to
 * GAP_NACK_TRIES times (a browser retries too: a first NACK can reach a relay before the relay
 * itself has the packet back), then given up. */
static void gap_renack(viewer *v, int64_t now)
{
    if (!opt.nack_gaps || !v->srtp || !v->video_ssrc)
        return;
    uint16_t again[NACK_PENDING];
    size_t n = 0;
    for (unsigned i = 0; i < NACK_PENDING; i++) {
        if (!v->gap_live[i] || now - v->gap_sent_us[i] < GAP_NACK_RETRY_US)
            continue;
        if (v->gap_tries[i] >= GAP_NACK_TRIES) {
            v->gap_live[i] = false;
            continue;
        }
        v->gap_tries[i]++;
        v->gap_sent_us[i] = now;
        again[n++] = v->gap_seq[i];
    }
    if (n == 0)
        return;
    _Alignas(16) uint8_t buf[256 + ODEON_SRTP_RTCP_TAIL_ROOM];
    rtcp_send(v, buf, odeon_rtcp_build_nack(buf, 256, v->rtcp_ssrc, v->video_ssrc, again, n),
              sizeof buf);
}

/* --pli-every-ms: viewer 0 asks for a keyframe now and then, as a browser does after a loss. */
static void pli_maybe(viewer *v, int64_t now)
{
    if (opt.pli_every_ms <= 0 || v->idx != 0 || !v->srtp || !v->video_ssrc || now < v->next_pli)
        return;
    v->next_pli = now + (int64_t)opt.pli_every_ms * 1000;
    _Alignas(16) uint8_t buf[64 + ODEON_SRTP_RTCP_TAIL_ROOM];
    if (rtcp_send(v, buf, odeon_rtcp_build_pli(buf, 64, v->rtcp_ssrc, v->video_ssrc), sizeof buf))
        v->plis_sent++;
}

/* Whether the packet is viewer 0's simulated loss (NACKed now), and counts repairs. */
static bool nack_every_drops(viewer *v, const uint8_t *buf, size_t len, uint8_t kind)
{
    if (opt.nack_every <= 0 || v->idx != 0 || kind != KIND_VIDEO)
        return false;
    if (nack_take(v, buf, len)) {
        v->repaired++;
        return false;
    }
    if (!v->got_key || ++v->nack_ctr % (uint32_t)opt.nack_every != 0)
        return false;
    nack_send(v, buf, len);
    return true;
}

/* Every RTP packet, before any decryption: the window's longest gap (across reconnects: the
 * gap of a failover is one of them) and the current session's first and last packet. */
static void rtp_seen(viewer *v, int64_t now)
{
    if (v->in_window && !v->window_over && v->last_rtp_us && now - v->last_rtp_us > v->max_gap_us)
        v->max_gap_us = now - v->last_rtp_us;
    v->last_rtp_us = now;
    if (!v->pl.sess_first_rtp)
        v->pl.sess_first_rtp = now;
    v->pl.sess_last_rtp = now;
}

static void on_rtp(viewer *v, uint8_t *buf, size_t len, int64_t now)
{
    if (len < 12 || !v->srtp) {
        v->other_pkts++;
        return;
    }
    /* --drop-every: viewer 0 pretends to lose packets (checks the loss accounting) */
    if (opt.drop_every > 0 && v->idx == 0 && ++v->drop_ctr % (uint32_t)opt.drop_every == 0)
        return;
    uint8_t pt = buf[1] & 0x7f;
    uint8_t kind = v->pt_kind[pt];
    if (nack_every_drops(v, buf, len, kind))
        return;
    v->c.pkts++;
    v->c.bytes += len;
    if (!v->t_first_pkt)
        v->t_first_pkt = now;
    rtp_seen(v, now);
    if (kind == KIND_AUDIO) {
        v->audio_pkts++;
    } else if (kind == KIND_VIDEO) {
        v->video_ssrc = odeon_be32(buf + 8);
        v->video_pkts++;
        v->c.video_pkts++;
        v->c.video_frames += (buf[1] & 0x80) != 0; /* the marker ends a frame */
        if (!v->window_over) {
            if (v->last_video_us && now - v->last_video_us > v->max_video_gap_us)
                v->max_video_gap_us = now - v->last_video_us;
            v->last_video_us = now;
        }
    }
    ssrc_stat *ss = ssrc_find(v, odeon_be32(buf + 8), kind);
    if (ss) {
        if (kind == KIND_VIDEO)
            gap_nack(v, ss, buf);
        ssrc_count(ss, odeon_be16(buf + 2));
    }
    bool decrypt = (kind == KIND_VIDEO && (v->rx || !v->got_key)) ||
                   (kind == KIND_AUDIO && !v->audio_ok) ||
                   (opt.sample > 0 && ++v->sample_ctr % (uint32_t)opt.sample == 0);
    if (!decrypt)
        return;
    int rc = odeon_srtp_unprotect_rtp(v->srtp, buf, &len);
    if (rc == ODEON_EEXIST) {
        v->replayed++;
        return;
    }
    if (rc != 0) {
        v->auth_fail++;
        return;
    }
    v->decrypted++;
    odeon_rtp_view rv;
    if (odeon_rtp_parse(buf, len, &rv) != 0)
        return;
    const uint8_t *pl = buf + rv.payload_offset;
    if (kind == KIND_AUDIO && !v->audio_ok) {
        v->audio_ok = true;
        if (!v->t_audio_ok)
            v->t_audio_ok = now;
    }
    if (kind == KIND_VIDEO) {
        if (!v->got_key && vp8_payload_is_keyframe(pl, rv.payload_len)) {
            v->got_key = true;
            if (!v->t_first_key) /* the join's; a failover's keyframe is pl.sess_first_key */
                v->t_first_key = now;
            v->pl.sess_first_key = now;
        }
        /* --corrupt-every: viewer 1 damages payloads as a bad forwarder would (checks that
         * the checksum comparison catches it) */
        if (opt.corrupt_every > 0 && v->idx == 1 && rv.payload_len > 40 &&
            ++v->corrupt_ctr % (uint32_t)opt.corrupt_every == 0)
            buf[rv.payload_offset + rv.payload_len - 7] ^= 0x5a;
        if (v->rx && !v->window_over)
            vp8_receiver_push(v->rx, rv.seq, rv.marker, rv.timestamp, pl, rv.payload_len, now);
    }
}

static void on_datagram(viewer *v, uint8_t *buf, size_t len, const struct sockaddr_in *from,
                        int64_t now)
{
    switch (odeon_rtp_demux_classify(buf, len)) {
    case ODEON_DEMUX_STUN:
        on_stun(v, buf, len, from);
        break;
    case ODEON_DEMUX_DTLS:
        if (!v->dtls)
            break;
        if (!v->ice_ok) /* the server's ICE finished first: its address is the pair */
            ice_connected(v, from);
        odeon_dtls_endpoint_feed(v->dtls, buf, len);
        dtls_step(v, now);
        break;
    case ODEON_DEMUX_RTP:
        on_rtp(v, buf, len, now);
        break;
    case ODEON_DEMUX_RTCP:
        v->rtcp_pkts++;
        break;
    default:
        v->other_pkts++;
        break;
    }
}

static int64_t timespec_us(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000 + ts->tv_nsec / 1000;
}

/* --frame-times (the decoders): one datagram with the kernel's receive time (SO_TIMESTAMPNS,
 * CLOCK_REALTIME, moved onto the monotonic clock by real_to_mono), so that a frame's arrival
 * time is when it reached this machine, not when a busy worker got round to reading it. The
 * time falls back to now when the kernel gave none (or one from the future). */
static ssize_t recv_stamped(viewer *v, uint8_t *buf, struct sockaddr_in *from, int64_t now,
                            int64_t real_to_mono, int64_t *at)
{
    _Alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = {.iov_base = buf, .iov_len = 1600};
    struct msghdr mh = {.msg_name = from,
                        .msg_namelen = sizeof *from,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl,
                        .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(v->udp, &mh, MSG_DONTWAIT);
    *at = now;
    for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            int64_t t = timespec_us(&ts) + real_to_mono;
            if (t > 0 && t <= now)
                *at = t;
        }
    return n;
}

static void drain_udp(viewer *v)
{
    _Alignas(16) uint8_t buf[PKT_CAP];
    int64_t now = rtcc_now_us(), real_to_mono = 0;
    if (v->stamped) {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        real_to_mono = now - timespec_us(&rt);
    }
    for (int i = 0; i < 256; i++) {
        struct sockaddr_in from = {0};
        socklen_t fl = sizeof from;
        int64_t at = now;
        ssize_t n = v->stamped
                        ? recv_stamped(v, buf, &from, now, real_to_mono, &at)
                        : recvfrom(v->udp, buf, 1600, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n <= 0)
            return;
        if (from.sin_family == AF_INET)
            on_datagram(v, buf, (size_t)n, &from, at);
    }
}

/* ----- RTCP (--remb) ------------------------------------------------------------------------- */

/* The scheduled REMB bitrate at t_us after the viewer became ok; 0 before the first step. */
static uint64_t remb_at(int64_t t_us)
{
    uint64_t bps = 0;
    for (int i = 0; i < g_remb.n && g_remb.at_us[i] <= t_us; i++)
        bps = g_remb.bps[i];
    return bps;
}

/* A receiver report block per SSRC we receive (RFC 3550 6.4.1: fraction lost over the interval
 * since the last report; no jitter, no LSR: we read no sender reports). Video first: a server
 * that files a bundled compound under the medium of its first report block (Janus does) then
 * files the REMB under video. */
static unsigned report_blocks(viewer *v, odeon_rtcp_report_block *b)
{
    unsigned n = 0;
    for (int k = 0; k < 2 * v->nss; k++) {
        ssrc_stat *s = &v->ss[k % v->nss];
        if (s->first_ext < 0 || (k < v->nss) != (s->kind == KIND_VIDEO))
            continue;
        int64_t expected = s->max_ext - s->first_ext + 1;
        int64_t lost = expected - (int64_t)s->received;
        int64_t exp_int = expected - s->expected_prior;
        int64_t lost_int = exp_int - (int64_t)(s->received - s->received_prior);
        s->expected_prior = expected;
        s->received_prior = s->received;
        b[n++] = (odeon_rtcp_report_block){
            .ssrc = s->ssrc,
            .fraction_lost = exp_int > 0 && lost_int > 0 ? (uint8_t)((lost_int << 8) / exp_int) : 0,
            .cumulative_lost = lost > 0x7fffff ? 0x7fffff : (int32_t)lost,
            .highest_seq = (uint32_t)s->max_ext,
        };
    }
    return n;
}

/* RR + SDES CNAME + REMB (draft-alvestrand-rmcat-remb-03) naming the video SSRCs we receive,
 * protected with the viewer's SRTP session. The buffer is on the stack: nothing allocates. */
static void send_rtcp(viewer *v, int64_t now)
{
    _Alignas(16) uint8_t buf[640 + ODEON_SRTP_RTCP_TAIL_ROOM];
    odeon_rtcp_report_block blocks[MAX_SSRCS];
    unsigned nb = report_blocks(v, blocks);
    char cname[32];
    int cl = snprintf(cname, sizeof cname, "odeon-load-%d", v->idx);
    int n = odeon_rtcp_build_compound(buf, 640, v->rtcp_ssrc, NULL, blocks, nb, cname, (size_t)cl);
    uint32_t video[MAX_SSRCS];
    size_t nv = 0;
    for (int i = 0; i < v->nss; i++)
        if (v->ss[i].kind == KIND_VIDEO)
            video[nv++] = v->ss[i].ssrc;
    uint64_t bps = remb_at(now - v->t_ok);
    if (n > 0 && bps && nv) {
        int r = odeon_rtcp_build_remb(buf + n, 640 - (size_t)n, v->rtcp_ssrc, bps, video, nv);
        n = r > 0 ? n + r : r;
        v->remb_bps = bps;
    }
    if (rtcp_send(v, buf, n, sizeof buf))
        v->rtcp_sent++;
}

/* ----- per-viewer life ------------------------------------------------------------------------ */

/* The session's UDP socket (ICE, DTLS, media), on --local-ip. 0, or -1 and the viewer failed. */
static int udp_open(viewer *v)
{
    v->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int sz = 1 << 20, on = 1;
    setsockopt(v->udp, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    if (v->stamped) /* --frame-times: the kernel's receive time of each datagram */
        setsockopt(v->udp, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, opt.local_ip, &a.sin_addr);
    socklen_t l = sizeof v->local;
    if (v->udp < 0 || bind(v->udp, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(v->udp, (struct sockaddr *)&v->local, &l) != 0) {
        vfail(v, "cannot bind UDP on %s: %s", opt.local_ip, strerror(errno));
        return -1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &v->udpref};
    epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->udp, &e);
    return 0;
}

/* The session's WebSocket to pl.to (the entry node, or where a redirect sent us); the flow
 * goes on from on_ws_event once it is open. */
static int ws_connect(viewer *v)
{
    if (ws_open(&v->ws, &v->pl.to, v->pl.host_hdr, opt.path, "janus-protocol") != 0) {
        session_lost(v, "websocket: %s", v->ws.error);
        return -1;
    }
    v->ws_events = EPOLLIN | EPOLLOUT;
    struct epoll_event e = {.events = v->ws_events, .data.ptr = &v->wsref};
    epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->ws.fd, &e);
    return 0;
}

static int viewer_start(viewer *v, int64_t now)
{
    v->started = true;
    v->t_start = now;
    return udp_open(v) == 0 ? ws_connect(v) : -1;
}

/* A closed session's SSRCs: their counts go to the retired totals, so that the next session's
 * SSRCs (new ones, or the same ones with other sequence numbers) start their own loss
 * accounting and the failover gap is never counted as loss. */
static void ssrc_retire(viewer *v)
{
    for (int i = 0; i < v->nss; i++) {
        v->retired_received += v->ss[i].received;
        v->retired_lost += ssrc_lost(&v->ss[i]);
    }
    v->nss = 0;
}

/* What a viewer's connection holds: the WebSocket, the UDP socket (closing it takes it out of
 * the epoll set), DTLS, SRTP and the remote's ICE and fingerprint strings. */
static void session_release(viewer *v)
{
    if (v->ws.fd >= 0)
        ws_close(&v->ws);
    if (v->udp >= 0)
        close(v->udp);
    v->udp = -1;
    odeon_dtls_endpoint_free(v->dtls);
    odeon_srtp_free(v->srtp);
    g_free(v->rufrag);
    g_free(v->rpwd);
    g_free(v->fp_hash);
    g_free(v->fp_value);
    v->dtls = NULL, v->srtp = NULL;
    v->rufrag = v->rpwd = v->fp_hash = v->fp_value = NULL;
}

/* Ends the current session on our side: destroy (best effort) and close the WebSocket, DTLS
 * close_notify, close the UDP socket, free ICE, DTLS and SRTP state, retire the SSRCs, and
 * make the decoder wait for a keyframe of the next stream. What the report reads about the
 * whole run (first-join times, counters, decoded frames, failover figures) stays. */
static void session_teardown(viewer *v)
{
    if (v->ws.fd >= 0) {
        if (v->ws.state == WS_OPEN && v->session_id) {
            send_req(v, "destroy", json_pack("{s:s}", "janus", "destroy"));
            if (v->ws.fd >= 0)
                ws_on_writable(&v->ws);
        }
        epoll_ctl(v->epfd, EPOLL_CTL_DEL, v->ws.fd, NULL);
        ws_close(&v->ws);
    }
    if (v->dtls && odeon_dtls_endpoint_state(v->dtls) == ODEON_DTLS_STATE_CONNECTED)
        odeon_dtls_endpoint_close(v->dtls);
    session_release(v);
    v->session_id = v->handle_id = 0;
    v->offer_done = v->ice_ok = v->nominated = v->got_key = v->audio_ok = false;
    v->has_audio = v->has_video = false;
    v->ncand = 0;
    v->ws_events = 0;
    memset(v->pt_kind, 0, sizeof v->pt_kind);
    memset(v->nack_live, 0, sizeof v->nack_live); /* sequence numbers of the old stream */
    memset(v->gap_live, 0, sizeof v->gap_live);
    ssrc_retire(v);
    if (v->rx)
        vp8_receiver_new_stream(v->rx);
    v->pl.sess_first_rtp = v->pl.sess_first_key = v->pl.sess_last_rtp = 0;
    rtcc_random_token(v->lufrag, 8); /* a new ICE agent for a new peer connection */
    rtcc_random_token(v->lpwd, 24);
}

/* Runs the reconnect a callback decided (pl.pending): the session is torn down, and the whole
 * flow starts again at the node a redirect named (placement off) or, for a failover, at the
 * entry node (placement on, excluding the lost nodes). */
static void run_pending(viewer *v, int64_t now)
{
    if (!cluster_pending_due(v, now))
        return;
    session_teardown(v); /* with pending still set, its errors are not a new loss */
    cluster_retarget(v);
    atomic_store(&v->st, ST_CONNECT);
    if (udp_open(v) == 0)
        ws_connect(v);
}

/* Also runs for failed viewers: their socket must still be read (epoll is level-triggered). */
static void on_ws_event(viewer *v, uint32_t events)
{
    ws_state before = v->ws.state;
    int rc = 0;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        rc = ws_on_writable(&v->ws);
    if (rc == 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        rc = ws_on_readable(&v->ws, on_ws_message, v);
    if (rc != 0) {
        if (atomic_load(&g_phase) != PHASE_STOP)
            session_lost(v, "websocket: %s", v->ws.error);
        epoll_ctl(v->epfd, EPOLL_CTL_DEL, v->ws.fd, NULL);
        ws_close(&v->ws);
        return;
    }
    if (before != WS_OPEN && v->ws.state == WS_OPEN && !atomic_load(&v->failed) && !v->pl.pending) {
        if (!v->t_open)
            v->t_open = rtcc_now_us();
        atomic_store(&v->st, ST_SESSION);
        send_req(v, "create", json_pack("{s:s}", "janus", "create"));
    }
    ws_update_events(v);
}

/* Media flows (keyframe and audio decrypted): ok, for the first time or again after a
 * failover, whose recovery times are taken here, from the session that made it. */
static void became_ok(viewer *v, int64_t now)
{
    if (!v->t_ok) /* the first time: the --remb schedule and the sizes' t_ms count from it */
        v->t_ok = now;
    v->next_rtcp = now;
    atomic_store(&v->st, ST_OK);
    cluster_became_ok(v);
}

static void viewer_tick(viewer *v, int64_t now)
{
    if (!v->started) {
        if (now >= v->start_at)
            viewer_start(v, now);
        return;
    }
    if (atomic_load(&v->failed))
        return;
    if (v->pl.pending) {
        run_pending(v, now);
        return;
    }
    if (cluster_silent(v, now)) /* --failover-after-ms: its node went quiet */
        return;
    if (v->session_id && now >= v->next_keepalive) {
        v->next_keepalive = now + KEEPALIVE_US;
        send_req(v, "keepalive", json_pack("{s:s}", "janus", "keepalive"));
    }
    if (v->rufrag && v->ncand && now >= v->next_check) {
        ice_send_checks(v);
        if (v->ice_ok)
            v->check_interval = CONSENT_US;
        else if (v->check_interval < 500 * 1000)
            v->check_interval += 50 * 1000;
        v->next_check = now + v->check_interval;
    }
    dtls_step(v, now);
    int st = atomic_load(&v->st);
    if (st == ST_OK) {
        pli_maybe(v, now);
        gap_renack(v, now);
    }
    if (st == ST_MEDIA && (v->got_key || !v->has_video) && (v->audio_ok || !v->has_audio)) {
        became_ok(v, now);
    } else if (st == ST_OK && g_remb.n && now >= v->next_rtcp) {
        send_rtcp(v, now);
        v->next_rtcp += RTCP_US;
        if (v->next_rtcp < now) /* the worker fell behind: no burst */
            v->next_rtcp = now + RTCP_US;
    } else if (st < ST_OK && v->pl.recovering && now > v->pl.deadline) {
        vfail(v, "failover: not recovered in %.0f s (%s)", opt.setup_timeout, v->pl.why);
    } else if (st < ST_OK && now - v->t_start > (int64_t)(opt.setup_timeout * 1e6) &&
               !v->pl.recovering) {
        vfail(v, "timeout (%.0f s)", opt.setup_timeout);
    }
}

static void viewer_stop(viewer *v)
{
    if (v->dtls && odeon_dtls_endpoint_state(v->dtls) == ODEON_DTLS_STATE_CONNECTED)
        odeon_dtls_endpoint_close(v->dtls);
    if (v->ws.fd >= 0 && v->ws.state == WS_OPEN && v->session_id) {
        send_req(v, "destroy", json_pack("{s:s}", "janus", "destroy"));
        ws_on_writable(&v->ws);
    }
}

static void viewer_free(viewer *v)
{
    session_release(v);
}

/* ----- workers -------------------------------------------------------------------------------- */

typedef struct {
    pthread_t thr;
    int epfd;
    viewer **vs;
    int n;
} worker;

static void worker_events(worker *w, int timeout_ms)
{
    struct epoll_event ev[128];
    int n = epoll_wait(w->epfd, ev, 128, timeout_ms);
    for (int i = 0; i < n; i++) {
        fdref *r = ev[i].data.ptr;
        if (r->udp)
            drain_udp(r->v);
        else if (r->v->ws.fd >= 0)
            on_ws_event(r->v, ev[i].events);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    int phase_seen = PHASE_SETUP;
    int64_t next_tick = 0;
    for (;;) {
        int phase = atomic_load(&g_phase);
        int64_t now = rtcc_now_us();
        if (phase != phase_seen) {
            for (int i = 0; i < w->n; i++) {
                viewer *v = w->vs[i];
                if (phase == PHASE_MEASURE || phase_seen == PHASE_SETUP) {
                    v->win0 = v->c; /* (an empty window if MEASURE passed unseen) */
                    v->win0_t = now;
                    v->in_window = true;
                }
                if (phase == PHASE_STOP) {
                    v->win1 = v->c;
                    v->win1_t = now;
                    v->window_over = true;
                    if (v->last_video_us)
                        v->video_gap_end_us = now - v->last_video_us;
                    if (v->last_rtp_us && now - v->last_rtp_us > v->max_gap_us)
                        v->max_gap_us = now - v->last_rtp_us;
                    vp8_receiver_stats rs;
                    if (v->rx) {
                        vp8_receiver_get_stats(v->rx, &rs);
                        if (rs.frames_decoded)
                            v->stall_end_us = now - rs.last_frame_us;
                    }
                }
            }
            phase_seen = phase;
            if (phase == PHASE_STOP)
                break;
        }
        if (now >= next_tick) {
            for (int i = 0; i < w->n; i++)
                viewer_tick(w->vs[i], now);
            next_tick = now + TICK_US;
        }
        int64_t wait = next_tick - rtcc_now_us();
        worker_events(w, wait > 0 ? (int)(wait / 1000) + 1 : 0);
    }
    for (int i = 0; i < w->n; i++)
        viewer_stop(w->vs[i]);
    /* let the destroy requests and close_notify go out, and read the replies */
    int64_t until = rtcc_now_us() + 300 * 1000;
    while (rtcc_now_us() < until)
        worker_events(w, 20);
    return NULL;
}

/* ----- main ----------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: odeon-load viewers [options]\n"
            "  --host IP            Janus API WebSocket address (IPv4, default 127.0.0.1)\n"
            "  --port N             WebSocket port (default 8188)\n"
            "  --path P             WebSocket path (default /)\n"
            "  --plugin NAME        plugin package (default janus.plugin.streaming;\n"
            "                       odeon.plugin.stage for Odeon)\n"
            "  --watch JSON         watch body (default {\"request\":\"watch\",\"id\":1})\n"
            "  --start JSON         body sent with the answer (default {\"request\":\"start\"})\n"
            "  --token T / --apisecret S   added to every request\n"
            "  --local-ip IP        address our UDP sockets bind to and advertise (default "
            "--host)\n"
            "  --viewers N          viewers (default 10)\n"
            "  --threads N          worker threads (default 1)\n"
            "  --ramp-ms MS         delay between viewer starts (default 20)\n"
            "  --setup-timeout S    seconds per viewer from start to first keyframe (default 20)\n"
            "  --duration S         measured window once every viewer is up or failed (default "
            "10)\n"
            "  --sample N           authenticate+decrypt 1 in N packets after the first "
            "keyframe\n"
            "                       (default 16; 1 = all; 0 = none)\n"
            "  --decode N           viewers 0..N-1 decode all video with libvpx (default 2)\n"
            "  --decode-last N      so do the last N viewers (a server that fans out in join\n"
            "                       order sends to viewers 0.. first and to these last)\n"
            "  --max-loss-pct P     loss above P%% fails the run (default 1.0)\n"
            "  --label NAME         server label in the output (default server)\n"
            "  --drop-every N       self-test: viewer 0 ignores every Nth RTP packet (loss)\n"
            "  --pli-every-ms N     viewer 0 sends a PLI for its video every N ms once it is ok\n"
            "                       (report: plis_sent; the source's keyframes tell the rest)\n"
            "  --nack-every N       with --nack: viewer 0 treats every Nth video packet as lost\n"
            "                       and NACKs it at once; the server's retransmission repairs\n"
            "                       it (report: nacks_sent, repaired; lost counts the rest)\n"
            "  --corrupt-every N    self-test: viewer 1 damages every Nth video payload it\n"
            "                       decrypts (the decoded checksums must then differ)\n"
            "  --remb SCHEDULE      send RTCP (RR + REMB, SRTCP) every 500 ms once ok, asking\n"
            "                       for the bitrate of the last step reached: SECONDS:BPS,...\n"
            "                       seconds since the viewer became ok, e.g. 0:150000,8:3000000;\n"
            "                       the answer then has a=rtcp-fb:PT goog-remb for video\n"
            "  --source-fps F       the source's frame rate: the report gives the delivered\n"
            "                       frame rate as a percentage of it\n"
            "  --nack               answer video with rtcp-fb nack and nack pli, as a browser\n"
            "                       does (the server then buffers for retransmission)\n"
            "  --nack-gaps          --nack, and every viewer NACKs at once the video packets a\n"
            "                       jump in sequence numbers skipped (up to 16), and again\n"
            "                       every 50 ms up to 3 times, as a browser does (report:\n"
            "                       nacks_sent, repaired; lost counts the rest)\n"
            "  --placement          watch with \"placement\":true and a client key at the entry\n"
            "                       node (--host/--port); follow its redirect to the node that\n"
            "                       serves the viewer (report: node, per-node counts)\n"
            "  --failover-after-ms N  a viewer that was ok and then gets no RTP for N ms, or\n"
            "                       loses its WebSocket or session, goes back to the entry node\n"
            "                       (placement, excluding the lost node) and follows the redirect\n"
            "                       (report: failovers, recovery gaps; default 0 = off)\n"
            "  --entry-viewers N    viewers 0..N-1 watch on the entry node itself: no\n"
            "                       \"placement\" in their watch even with --placement (a plain\n"
            "                       watch, served where it lands unless that node is full);\n"
            "                       with --decode >= N they are the --frame-times reference\n"
            "  --frame-times        the decoders record when each decoded frame completed (the\n"
            "                       kernel's receive time of its last packet); the report gives,\n"
            "                       per node, how much later than the earliest decoder on the\n"
            "                       entry node each frame completed (p50/p95 over the window's\n"
            "                       frames: frame_delay_ms, and in the cluster line)\n"
            "  --source-frame-log F with --frame-times: the file odeon-load source --frame-log\n"
            "                       writes (the send time of each frame); the report adds the\n"
            "                       latency from the source per node (source_latency_ms)\n"
            "  --window-marker      print {\"window\":\"start\"} and {\"window\":\"end\"}\n"
            "                       on stdout when the measured window starts and ends\n"
            "  --json               one JSON line per viewer and a summary line on stdout\n"
            "  -v, --verbose        per-viewer progress on stderr\n"
            "Exit status: 0 every viewer got media, loss within bounds, decoded checksums agree;\n"
            "1 otherwise; 2 bad usage.\n");
}

static const rtcc_option specs[] = {
    {"host", 's', &opt.host},
    {"port", 'i', &opt.port},
    {"path", 's', &opt.path},
    {"plugin", 's', &opt.plugin},
    {"watch", 's', &opt.watch},
    {"start", 's', &opt.start},
    {"token", 's', &opt.token},
    {"apisecret", 's', &opt.apisecret},
    {"local-ip", 's', &opt.local_ip},
    {"label", 's', &opt.label},
    {"viewers", 'i', &opt.viewers},
    {"threads", 'i', &opt.threads},
    {"sample", 'i', &opt.sample},
    {"decode", 'i', &opt.decode},
    {"decode-last", 'i', &opt.decode_last},
    {"ramp-ms", 'd', &opt.ramp_ms},
    {"setup-timeout", 'd', &opt.setup_timeout},
    {"duration", 'd', &opt.duration},
    {"max-loss-pct", 'd', &opt.max_loss_pct},
    {"drop-every", 'i', &opt.drop_every},
    {"corrupt-every", 'i', &opt.corrupt_every},
    {"json", 'f', &opt.json},
    {"remb", 's', &opt.remb},
    {"source-fps", 'd', &opt.source_fps},
    {"window-marker", 'f', &opt.window_marker},
    {"nack", 'f', &opt.nack},
    {"nack-every", 'i', &opt.nack_every},
    {"nack-gaps", 'f', &opt.nack_gaps},
    {"pli-every-ms", 'i', &opt.pli_every_ms},
    {"placement", 'f', &opt.placement},
    {"failover-after-ms", 'i', &opt.failover_after_ms},
    {"entry-viewers", 'i', &opt.entry_viewers},
    {"frame-times", 'f', &opt.frame_times},
    {"source-frame-log", 's', &opt.source_frame_log},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

/* "SECONDS:BPS[,SECONDS:BPS...]" into g_remb, sorted by time. 0 or -1. */
static int parse_remb(const char *spec)
{
    char **steps = g_strsplit(spec, ",", -1);
    int rc = 0;
    for (int i = 0; steps[i] && rc == 0; i++) {
        double secs;
        unsigned long long bps;
        char tail;
        if (g_remb.n == REMB_STEPS || sscanf(steps[i], " %lf:%llu %c", &secs, &bps, &tail) != 2 ||
            secs < 0 || bps == 0) {
            rc = -1;
            break;
        }
        int j = g_remb.n++;
        for (; j > 0 && g_remb.at_us[j - 1] > (int64_t)(secs * 1e6); j--) {
            g_remb.at_us[j] = g_remb.at_us[j - 1];
            g_remb.bps[j] = g_remb.bps[j - 1];
        }
        g_remb.at_us[j] = (int64_t)(secs * 1e6);
        g_remb.bps[j] = bps;
    }
    g_strfreev(steps);
    return g_remb.n ? rc : -1;
}

static int parse_args(int argc, char **argv)
{
    if (rtcc_parse_options(argc, argv, specs, N_SPECS, &opt.verbose, usage) != 0)
        return -1;
    if (!opt.local_ip)
        opt.local_ip = opt.host;
    json_error_t je;
    json_t *w = json_loads(opt.watch, 0, &je), *s = json_loads(opt.start, 0, &je);
    bool json_ok = json_is_object(w) && json_is_object(s);
    json_decref(w);
    json_decref(s);
    struct in_addr tmp;
    if (!json_ok || opt.viewers < 1 || opt.viewers > 20000 || opt.threads < 1 || opt.threads > 64 ||
        opt.sample < 0 || opt.decode < 0 || opt.decode_last < 0 || opt.duration < 0 ||
        opt.setup_timeout <= 0 || opt.failover_after_ms < 0 || opt.entry_viewers < 0 ||
        inet_pton(AF_INET, opt.host, &tmp) != 1 || inet_pton(AF_INET, opt.local_ip, &tmp) != 1) {
        fprintf(stderr, "odeon-load: an option is out of range (--watch/--start must be JSON "
                        "objects, --host/--local-ip IPv4 addresses)\n");
        return -1;
    }
    if (opt.remb && parse_remb(opt.remb) != 0) {
        fprintf(stderr,
                "odeon-load: --remb wants SECONDS:BPS[,SECONDS:BPS...] (at most %d), "
                "e.g. 0:150000,8:3000000\n",
                REMB_STEPS);
        return -1;
    }
    if (opt.decode > 64)
        opt.decode = 64;
    if (opt.decode_last > 64 - opt.decode) /* the report compares at most 64 decoders */
        opt.decode_last = 64 - opt.decode;
    if (opt.decode_last > opt.viewers - opt.decode)
        opt.decode_last = opt.viewers - opt.decode;
    return 0;
}

static void sleep_us(int64_t us)
{
    if (us <= 0)
        return;
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t self_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
           (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

/* --window-marker: a line a bench script can cut its CPU samples at. The workers see the
 * phase change within one poll (10 ms). */
static void window_marker(const char *what)
{
    if (!opt.window_marker)
        return;
    printf("{\"window\":\"%s\"}\n", what);
    fflush(stdout);
}

static bool all_done(void)
{
    for (int i = 0; i < opt.viewers; i++)
        if (!vdone(&g_viewers[i]))
            return false;
    return true;
}

int viewers_main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0)
        return 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    cluster_configure(&(cluster_opts){.host = opt.host,
                                      .port = opt.port,
                                      .placement = opt.placement,
                                      .entry_viewers = opt.entry_viewers,
                                      .failover_after_ms = opt.failover_after_ms,
                                      .setup_timeout = opt.setup_timeout,
                                      .verbose = opt.verbose});
    char *err = NULL;
    g_identity = odeon_dtls_identity_generate(&err);
    if (!g_identity || odeon_srtp_global_init() != 0) {
        fprintf(stderr, "odeon-load: identity/srtp: %s\n", err ? err : "?");
        return 2;
    }
    int64_t t0 = rtcc_now_us();
    g_viewers = g_new0(viewer, opt.viewers);
    worker *ws = g_new0(worker, opt.threads);
    for (int t = 0; t < opt.threads; t++) {
        ws[t].epfd = epoll_create1(EPOLL_CLOEXEC);
        ws[t].vs = g_new0(viewer *, opt.viewers / opt.threads + 1);
    }
    for (int i = 0; i < opt.viewers; i++) {
        viewer *v = &g_viewers[i];
        worker *w = &ws[i % opt.threads];
        v->idx = i;
        v->epfd = w->epfd;
        v->udp = -1;
        v->ws.fd = -1;
        v->wsref = (fdref){v, false};
        cluster_entry_target(&v->pl);
        v->pl.max_recovery_us = v->pl.max_recovery_key_us = -1;
        v->udpref = (fdref){v, true};
        v->start_at = t0 + (int64_t)(opt.ramp_ms * 1000 * i);
        rtcc_random_token(v->lufrag, 8);
        rtcc_random_token(v->lpwd, 24);
        RAND_bytes(v->txid_prefix, 4);
        RAND_bytes((uint8_t *)&v->tie_breaker, 8);
        RAND_bytes((uint8_t *)&v->rtcp_ssrc, 4);
        if (i < opt.decode || i >= opt.viewers - opt.decode_last) {
            v->rx = vp8_receiver_new();
            if (opt.frame_times) {
                vp8_receiver_keep_frame_times(v->rx);
                v->stamped = true;
            }
        }
        w->vs[w->n++] = v;
    }
    for (int t = 0; t < opt.threads; t++)
        pthread_create(&ws[t].thr, NULL, worker_main, &ws[t]);
    int64_t deadline = t0 + (int64_t)(opt.ramp_ms * 1000 * opt.viewers) +
                       (int64_t)(opt.setup_timeout * 1e6) + 500000;
    while (!all_done() && rtcc_now_us() < deadline)
        sleep_us(50 * 1000);
    int ok = 0;
    for (int i = 0; i < opt.viewers; i++)
        ok += atomic_load(&g_viewers[i].st) == ST_OK && !atomic_load(&g_viewers[i].failed);
    logf_("%s: %d/%d viewers receiving after %.1f s; measuring %.0f s", opt.label, ok, opt.viewers,
          (double)(rtcc_now_us() - t0) / 1e6, ok ? opt.duration : 0.0);
    atomic_store(&g_phase, PHASE_MEASURE);
    int64_t win_start = rtcc_now_us();
    int64_t cpu_win0 = self_cpu_us();
    window_marker("start");
    if (ok)
        sleep_us((int64_t)(opt.duration * 1e6));
    int64_t cpu_win1 = self_cpu_us();
    int64_t win_end = rtcc_now_us();
    atomic_store(&g_phase, PHASE_STOP);
    window_marker("end");
    for (int t = 0; t < opt.threads; t++)
        pthread_join(ws[t].thr, NULL);
    report_input in = {
        .viewers = g_viewers,
        .n = opt.viewers,
        .label = opt.label,
        .plugin = opt.plugin,
        .watch = opt.watch,
        .decode = opt.decode + opt.decode_last,
        .json = opt.json,
        .placement = opt.placement,
        .failover = opt.failover_after_ms > 0,
        .frame_times = opt.frame_times,
        .window_start_us = win_start,
        .window_end_us = win_end,
        .source_frame_log = opt.source_frame_log,
        .max_loss_pct = opt.max_loss_pct,
        .source_fps = opt.source_fps,
        .cpu_us = cpu_win1 - cpu_win0,
        .elapsed_s = (double)(rtcc_now_us() - t0) / 1e6,
    };
    int rc = viewers_report(&in);
    for (int i = 0; i < opt.viewers; i++) {
        viewer_free(&g_viewers[i]);
        vp8_receiver_free(g_viewers[i].rx);
    }
    for (int t = 0; t < opt.threads; t++) {
        close(ws[t].epfd);
        g_free(ws[t].vs);
    }
    g_free(ws);
    g_free(g_viewers);
    odeon_dtls_identity_unref(g_identity);
    return rc;
}
