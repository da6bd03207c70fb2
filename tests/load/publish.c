/*
 * publish.c - the test source published over WebRTC ("odeon-load source --whip URL"), as OBS
 * or a hardware encoder does it: WHIP (RFC 9725). The offer (sendonly Opus and VP8, bundled,
 * our one host candidate) goes out in a POST with the bearer token; the 201 answer carries the
 * server's ICE credentials, fingerprint and every candidate. Then ICE as the controlling agent
 * (aggressive nomination), DTLS (the role the answer's a=setup leaves us), and SRTP from the
 * DTLS keys. RTP leaves SRTP-protected on the selected pair; a PLI or FIR from the server asks
 * the source for a keyframe; consent checks keep the pair alive; DELETE on the resource ends it.
 *
 * Plain HTTP only (the load generator talks to servers on the machine or the test network).
 * Single-threaded: the source calls whip_pub_service() while it waits for its next frame.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <openssl/rand.h>

#include "../bench/common/rtcclient.h"
#include "load.h"
#include "webrtc/bytes.h"
#include "webrtc/rtcp.h"
#include "webrtc/rtp.h"
#include "webrtc/sdp.h"

#define PUB_PKT_CAP (1600 + ODEON_SRTP_RTP_TAIL_ROOM)
#define CONSENT_INTERVAL_US (2 * 1000 * 1000)

struct whip_pub {
    char host[64];
    int port;
    char *location; /* the resource, for DELETE */
    char *token;
    int udp;
    struct sockaddr_in local, remote;
    struct sockaddr_in cands[8];
    int ncand;
    char lufrag[9], lpwd[25];
    char *rufrag, *rpwd;
    uint64_t tie_breaker;
    uint32_t txn;
    uint8_t txid_prefix[4];
    bool ice_ok, dtls_client;
    int64_t next_check, check_interval;
    odeon_dtls_identity *identity;
    odeon_dtls_endpoint *dtls;
    odeon_srtp *srtp;
    const char *profile;
    bool keyframe_asked;
    uint64_t rtcp_in, keyframe_requests, send_errors;
};

/* ----- HTTP (one request per connection) ------------------------------------------------------ */

static int parse_url(const char *url, char *host, size_t hostcap, int *port, const char **path)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    if (slash == NULL)
        return -1;
    const char *colon = memchr(h, ':', (size_t)(slash - h));
    size_t hl = (size_t)((colon ? colon : slash) - h);
    if (hl == 0 || hl >= hostcap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = colon ? atoi(colon + 1) : 80;
    *path = slash;
    return *port > 0 && *port < 65536 ? 0 : -1;
}

/* Sends the request and reads the whole response (the server closes: Connection: close).
 * Returns the status, or -1; *headers and *body (g_free) are what followed the status line. */
static int http_request(const char *host, int port, const char *method, const char *path,
                        const char *token, const char *body, char **headers, char **resp_body)
{
    *headers = *resp_body = NULL;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &to.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 10};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    GString *req = g_string_new(NULL);
    g_string_append_printf(req, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n", method,
                           path, host, port);
    if (token && *token)
        g_string_append_printf(req, "Authorization: Bearer %s\r\n", token);
    if (body)
        g_string_append_printf(req, "Content-Type: application/sdp\r\nContent-Length: %zu\r\n",
                               strlen(body));
    else
        g_string_append(req, "Content-Length: 0\r\n");
    g_string_append(req, "\r\n");
    if (body)
        g_string_append(req, body);
    bool sent = write(fd, req->str, req->len) == (ssize_t)req->len;
    g_string_free(req, TRUE);
    GString *in = g_string_new(NULL);
    char buf[4096];
    ssize_t n;
    while (sent && (n = read(fd, buf, sizeof buf)) > 0)
        g_string_append_len(in, buf, n);
    close(fd);
    int status = -1;
    char *end = strstr(in->str, "\r\n\r\n");
    if (end && sscanf(in->str, "HTTP/1.%*d %d", &status) == 1) {
        *headers = g_strndup(in->str, (gsize)(end - in->str));
        *resp_body = g_strdup(end + 4);
    }
    g_string_free(in, TRUE);
    return status;
}

static char *header_value(const char *headers, const char *name)
{
    size_t nl = strlen(name);
    for (const char *l = headers; l && *l; l = strstr(l, "\r\n") ? strstr(l, "\r\n") + 2 : NULL)
        if (g_ascii_strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1, *e = strstr(v, "\r\n");
            return g_strstrip(g_strndup(v, e ? (gsize)(e - v) : strlen(v)));
        }
    return NULL;
}

/* ----- SDP ------------------------------------------------------------------------------------ */

static char *build_offer(whip_pub *p, int audio_pt, int video_pt, uint32_t assrc, uint32_t vssrc)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &p->local.sin_addr, ip, sizeof ip);
    char common[512];
    snprintf(common, sizeof common,
             "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
             "a=fingerprint:sha-256 %s\r\na=setup:actpass\r\n",
             p->lufrag, p->lpwd, odeon_dtls_identity_fingerprint(p->identity));
    GString *o = g_string_new(NULL);
    g_string_append_printf(o,
                           "v=0\r\no=- %u 2 IN IP4 127.0.0.1\r\ns=odeon-load\r\nt=0 0\r\n"
                           "a=group:BUNDLE 0 1\r\na=msid-semantic: WMS odeonload\r\n",
                           g_random_int());
    g_string_append_printf(o,
                           "m=audio 9 UDP/TLS/RTP/SAVPF %d\r\n%sa=mid:0\r\na=sendonly\r\n"
                           "a=msid:odeonload audio\r\na=rtcp-mux\r\na=rtpmap:%d opus/48000/2\r\n"
                           "a=fmtp:%d minptime=10;useinbandfec=1\r\na=ssrc:%u cname:odeonload\r\n"
                           "a=candidate:1 1 udp 2130706431 %s %u typ host\r\n"
                           "a=end-of-candidates\r\n",
                           audio_pt, common, audio_pt, audio_pt, assrc, ip,
                           ntohs(p->local.sin_port));
    g_string_append_printf(o,
                           "m=video 9 UDP/TLS/RTP/SAVPF %d\r\n%sa=mid:1\r\na=sendonly\r\n"
                           "a=msid:odeonload video\r\na=rtcp-mux\r\na=rtpmap:%d VP8/90000\r\n"
                           "a=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\na=rtcp-fb:%d ccm fir\r\n"
                           "a=ssrc:%u cname:odeonload\r\n",
                           video_pt, common, video_pt, video_pt, video_pt, video_pt, vssrc);
    return g_string_free(o, FALSE);
}

static void dtls_out(void *user, const uint8_t *data, size_t len);

/* The answer's ICE credentials, fingerprint, DTLS role and candidates. */
static int apply_answer(whip_pub *p, const char *text, char **error)
{
    char *err = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, strlen(text), &err);
    if (sdp == NULL) {
        *error = g_strdup_printf("the answer: %s", err ? err : "?");
        g_free(err);
        return -1;
    }
    int rc = -1;
    rtcc_remote_transport rt;
    if (rtcc_remote_transport_of(sdp, &rt) != 0) {
        *error = g_strdup("the answer lacks m-lines, ice-ufrag, ice-pwd or a fingerprint");
        goto out;
    }
    p->rufrag = g_strdup(rt.ufrag);
    p->rpwd = g_strdup(rt.pwd);
    /* we offered actpass: "active" makes the server the DTLS client */
    p->dtls_client = !(rt.setup && strcmp(rt.setup, "active") == 0);
    for (size_t m = 0; m < sdp->media_count; m++)
        for (size_t i = 0; i < sdp->media[m].candidate_count && p->ncand < 8; i++)
            if (rtcc_parse_candidate(sdp->media[m].candidates[i], &p->cands[p->ncand]) == 0)
                p->ncand++;
    if (p->ncand == 0) {
        *error = g_strdup("the answer has no IPv4 UDP candidate");
        goto out;
    }
    char *e = NULL;
    p->dtls = odeon_dtls_endpoint_new(p->identity,
                                      p->dtls_client ? ODEON_DTLS_ROLE_CLIENT
                                                     : ODEON_DTLS_ROLE_SERVER,
                                      rt.fingerprint->hash, rt.fingerprint->value, dtls_out,
                                      p, &e);
    if (p->dtls == NULL) {
        *error = g_strdup_printf("dtls: %s", e ? e : "?");
        g_free(e);
        goto out;
    }
    odeon_dtls_endpoint_set_initial_rto_us(p->dtls, 100 * 1000); /* as browsers: 50-100 ms */
    rc = 0;
out:
    odeon_sdp_free(sdp);
    return rc;
}

/* ----- ICE, DTLS, RTCP ------------------------------------------------------------------------ */

static void udp_send(whip_pub *p, const struct sockaddr_in *to, const uint8_t *buf, size_t len)
{
    if (sendto(p->udp, buf, len, 0, (const struct sockaddr *)to, sizeof *to) != (ssize_t)len)
        p->send_errors++;
}

static void dtls_out(void *user, const uint8_t *data, size_t len)
{
    whip_pub *p = user;
    udp_send(p, &p->remote, data, len);
}

static void send_checks(whip_pub *p)
{
    uint8_t m[800];
    rtcc_binding_request req = {.remote_ufrag = p->rufrag,
                                .local_ufrag = p->lufrag,
                                .remote_pwd = p->rpwd,
                                .controlling = true,
                                .tie_breaker = p->tie_breaker,
                                .use_candidate = true};
    memcpy(req.txid, p->txid_prefix, 4);
    for (int i = 0; i < (p->ice_ok ? 1 : p->ncand); i++) {
        odeon_put_be32(req.txid + 4, ++p->txn);
        odeon_put_be32(req.txid + 8, 0);
        size_t n = rtcc_stun_binding_request(&req, m);
        udp_send(p, p->ice_ok ? &p->remote : &p->cands[i], m, n);
    }
}

static void on_stun(whip_pub *p, const uint8_t *buf, size_t len, const struct sockaddr_in *from)
{
    odeon_stun_msg msg;
    if (odeon_stun_parse(buf, len, &msg) != 0 || msg.method != ODEON_STUN_METHOD_BINDING)
        return;
    if (msg.cls == ODEON_STUN_CLASS_REQUEST) {
        uint8_t out[256];
        size_t n = rtcc_stun_answer(&msg, p->lpwd, from, out, sizeof out);
        if (n > 0)
            udp_send(p, from, out, n);
        return;
    }
    if (!p->ice_ok && rtcc_stun_is_our_success(&msg, p->txid_prefix, p->rpwd)) {
        p->ice_ok = true;
        p->remote = *from;
    }
}

static void on_rtcp(whip_pub *p, uint8_t *buf, size_t len)
{
    if (p->srtp == NULL || odeon_srtp_unprotect_rtcp(p->srtp, buf, &len) != 0)
        return;
    p->rtcp_in++;
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_iter_init(&it, buf, len);
    while (odeon_rtcp_iter_next(&it, &h) == 1)
        if (h.pt == ODEON_RTCP_PSFB &&
            (h.count == ODEON_RTCP_FMT_PLI || h.count == ODEON_RTCP_FMT_FIR)) {
            p->keyframe_asked = true;
            p->keyframe_requests++;
        }
}

static void on_datagram(whip_pub *p, uint8_t *buf, size_t len, const struct sockaddr_in *from)
{
    switch (odeon_rtp_demux_classify(buf, len)) {
    case ODEON_DEMUX_STUN:
        on_stun(p, buf, len, from);
        break;
    case ODEON_DEMUX_DTLS:
        if (!p->ice_ok) { /* the server's checks finished first: its address is the pair */
            p->ice_ok = true;
            p->remote = *from;
        }
        odeon_dtls_endpoint_feed(p->dtls, buf, len);
        break;
    case ODEON_DEMUX_RTCP:
        on_rtcp(p, buf, len);
        break;
    default:
        break;
    }
}

/* Drives ICE checks, DTLS and its timers. 0, or -1 when DTLS failed. */
static int step(whip_pub *p, int64_t now, char **error)
{
    if (now >= p->next_check) {
        send_checks(p);
        p->check_interval = p->ice_ok ? CONSENT_INTERVAL_US : 50 * 1000;
        p->next_check = now + p->check_interval;
    }
    if (!p->ice_ok)
        return 0;
    odeon_dtls_state s = odeon_dtls_endpoint_state(p->dtls);
    if (s == ODEON_DTLS_STATE_NEW && p->dtls_client)
        odeon_dtls_endpoint_start(p->dtls);
    if (s == ODEON_DTLS_STATE_CONNECTING && odeon_dtls_endpoint_timeout_us(p->dtls) == 0)
        odeon_dtls_endpoint_handle_timeout(p->dtls);
    s = odeon_dtls_endpoint_state(p->dtls);
    if (s == ODEON_DTLS_STATE_CONNECTED && p->srtp == NULL) {
        p->srtp = rtcc_srtp_from_dtls(p->dtls, p->dtls_client, &p->profile, error);
        return p->srtp ? 0 : -1;
    }
    if (s == ODEON_DTLS_STATE_FAILED || s == ODEON_DTLS_STATE_CLOSED) {
        const char *why = odeon_dtls_endpoint_failure_reason(p->dtls);
        *error = g_strdup_printf("dtls %s: %s", s == ODEON_DTLS_STATE_FAILED ? "failed" : "closed",
                                 why ? why : "by the server");
        return -1;
    }
    return 0;
}

/* Waits for datagrams until deadline (monotonic µs) or until the first one was handled. */
static void wait_and_read(whip_pub *p, int64_t deadline)
{
    int64_t now = rtcc_now_us(), wait = deadline - now;
    if (p->next_check - now < wait)
        wait = p->next_check - now;
    int64_t t = p->dtls ? odeon_dtls_endpoint_timeout_us(p->dtls) : -1;
    if (t >= 0 && t < wait)
        wait = t;
    struct pollfd pf = {.fd = p->udp, .events = POLLIN};
    if (poll(&pf, 1, wait > 0 ? (int)((wait + 999) / 1000) : 0) <= 0)
        return;
    _Alignas(16) uint8_t buf[PUB_PKT_CAP];
    for (int i = 0; i < 64; i++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(p->udp, buf, 1600, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n <= 0)
            break;
        if (from.sin_family == AF_INET)
            on_datagram(p, buf, (size_t)n, &from);
    }
}

/* ----- the publisher -------------------------------------------------------------------------- */

static whip_pub *pub_new(const char *url, char **error)
{
    whip_pub *p = g_new0(whip_pub, 1);
    p->udp = -1;
    const char *path;
    if (parse_url(url, p->host, sizeof p->host, &p->port, &path) != 0) {
        *error = g_strdup("--whip wants http://IPv4:PORT/whip/<stage>");
        return p;
    }
    p->identity = odeon_dtls_identity_generate(error);
    if (p->identity == NULL)
        return p;
    p->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, p->host, &a.sin_addr);
    socklen_t l = sizeof p->local;
    if (p->udp < 0 || bind(p->udp, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(p->udp, (struct sockaddr *)&p->local, &l) != 0) {
        *error = g_strdup_printf("cannot bind a UDP socket on %s: %s", p->host, strerror(errno));
        return p;
    }
    rtcc_random_token(p->lufrag, 8);
    rtcc_random_token(p->lpwd, 24);
    RAND_bytes((uint8_t *)&p->tie_breaker, sizeof p->tie_breaker);
    RAND_bytes(p->txid_prefix, sizeof p->txid_prefix);
    return p;
}

whip_pub *whip_pub_connect(const char *url, const char *token, int audio_pt, int video_pt,
                           uint32_t audio_ssrc, uint32_t video_ssrc, double timeout_s,
                           char **error)
{
    *error = NULL;
    whip_pub *p = pub_new(url, error);
    if (*error != NULL) {
        whip_pub_close(p);
        return NULL;
    }
    p->token = g_strdup(token);
    const char *path = strchr(url + 7, '/');
    char *offer = build_offer(p, audio_pt, video_pt, audio_ssrc, video_ssrc);
    char *headers = NULL, *answer = NULL;
    int status = http_request(p->host, p->port, "POST", path, token, offer, &headers, &answer);
    g_free(offer);
    if (status != 201) {
        *error = g_strdup_printf("POST %s: HTTP %d %s", url, status, answer ? answer : "");
    } else {
        p->location = header_value(headers, "Location");
        apply_answer(p, answer, error);
    }
    g_free(headers);
    g_free(answer);
    int64_t end = rtcc_now_us() + (int64_t)(timeout_s * 1e6);
    while (*error == NULL && p->srtp == NULL) {
        int64_t now = rtcc_now_us();
        if (now >= end) {
            *error = g_strdup_printf("no %s within %.0f s", p->ice_ok ? "DTLS" : "ICE", timeout_s);
            break;
        }
        if (step(p, now, error) != 0)
            break;
        wait_and_read(p, MIN(end, now + 50 * 1000));
    }
    if (*error != NULL) {
        whip_pub_close(p);
        return NULL;
    }
    return p;
}

int whip_pub_send(whip_pub *p, uint8_t *buf, size_t len, size_t cap)
{
    if (p->srtp == NULL || odeon_srtp_protect_rtp(p->srtp, buf, &len, cap) != 0)
        return -1;
    udp_send(p, &p->remote, buf, len);
    return 0;
}

bool whip_pub_service(whip_pub *p, int64_t deadline_us)
{
    char *error = NULL;
    for (;;) {
        int64_t now = rtcc_now_us();
        if (step(p, now, &error) != 0) {
            fprintf(stderr, "odeon-load source: %s\n", error);
            g_free(error);
            error = NULL;
        }
        if (now >= deadline_us)
            break;
        wait_and_read(p, deadline_us);
    }
    bool asked = p->keyframe_asked;
    p->keyframe_asked = false;
    return asked;
}

const char *whip_pub_profile(const whip_pub *p)
{
    return p->profile;
}

uint64_t whip_pub_keyframe_requests(const whip_pub *p)
{
    return p->keyframe_requests;
}

void whip_pub_close(whip_pub *p)
{
    if (p == NULL)
        return;
    /* DELETE first: a close_notify first could make the server end the resource itself, and
     * the DELETE would then find nothing. */
    if (p->location != NULL) {
        char *headers = NULL, *body = NULL;
        int status = http_request(p->host, p->port, "DELETE", p->location, p->token, NULL,
                                  &headers, &body);
        if (status != 200 && status != 204)
            fprintf(stderr, "odeon-load source: DELETE %s: HTTP %d\n", p->location, status);
        g_free(headers);
        g_free(body);
    }
    if (p->dtls && odeon_dtls_endpoint_state(p->dtls) == ODEON_DTLS_STATE_CONNECTED)
        odeon_dtls_endpoint_close(p->dtls);
    odeon_srtp_free(p->srtp);
    odeon_dtls_endpoint_free(p->dtls);
    if (p->identity != NULL)
        odeon_dtls_identity_unref(p->identity);
    if (p->udp >= 0)
        close(p->udp);
    g_free(p->location);
    g_free(p->token);
    g_free(p->rufrag);
    g_free(p->rpwd);
    g_free(p);
}
