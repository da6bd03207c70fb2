/*
 * rtcclient.c - see rtcclient.h. Used by echoload (tests/bench/echo) and odeon-load
 * (tests/load); both link Odeon's src/webrtc modules (stun, dtls, srtp, rtp, sdp) beside it.
 */
#include "rtcclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "webrtc/bytes.h"
#include "webrtc/stun.h"

int64_t rtcc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void rtcc_random_token(char *out, size_t len)
{
    static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint8_t r[64];
    if (len > sizeof r)
        len = sizeof r;
    RAND_bytes(r, (int)len);
    for (size_t i = 0; i < len; i++)
        out[i] = abc[r[i] % (sizeof abc - 1)];
    out[len] = '\0';
}

static size_t stun_attr(uint8_t *m, size_t n, uint16_t type, const void *val, size_t len)
{
    odeon_put_be16(m + n, type);
    odeon_put_be16(m + n + 2, (uint16_t)len);
    if (len)
        memcpy(m + n + 4, val, len);
    size_t padded = (len + 3) & ~(size_t)3;
    memset(m + n + 4 + len, 0, padded - len);
    return n + 4 + padded;
}

size_t rtcc_stun_binding_request(const rtcc_binding_request *req, uint8_t *m)
{
    uint8_t v[8];
    char user[520];
    snprintf(user, sizeof user, "%s:%s", req->remote_ufrag, req->local_ufrag);
    odeon_put_be16(m, 0x0001);
    odeon_put_be32(m + 4, ODEON_STUN_MAGIC_COOKIE);
    memcpy(m + 8, req->txid, 12);
    size_t n = stun_attr(m, 20, ODEON_STUN_ATTR_USERNAME, user, strlen(user));
    /* peer-reflexive type preference, component 1 (RFC 8445 section 7.1.1) */
    odeon_put_be32(v, req->priority ? req->priority : (110u << 24) | (65535u << 8) | 255u);
    n = stun_attr(m, n, ODEON_STUN_ATTR_PRIORITY, v, 4);
    odeon_put_be32(v, (uint32_t)(req->tie_breaker >> 32));
    odeon_put_be32(v + 4, (uint32_t)req->tie_breaker);
    n = stun_attr(
        m, n, req->controlling ? ODEON_STUN_ATTR_ICE_CONTROLLING : ODEON_STUN_ATTR_ICE_CONTROLLED,
        v, 8);
    if (req->controlling && req->use_candidate)
        n = stun_attr(m, n, ODEON_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    /* the length field covers MESSAGE-INTEGRITY while it is computed (RFC 8489 14.5) */
    odeon_put_be16(m + 2, (uint16_t)(n - 20 + 24));
    unsigned mdlen = 0;
    uint8_t mac[EVP_MAX_MD_SIZE];
    HMAC(EVP_sha1(), req->remote_pwd, (int)strlen(req->remote_pwd), m, n, mac, &mdlen);
    n = stun_attr(m, n, ODEON_STUN_ATTR_MESSAGE_INTEGRITY, mac, ODEON_STUN_HMAC_SHA1_LEN);
    odeon_put_be16(m + 2, (uint16_t)(n - 20 + 8));
    odeon_put_be32(v, odeon_stun_crc32(m, n) ^ ODEON_STUN_FINGERPRINT_XOR);
    return stun_attr(m, n, ODEON_STUN_ATTR_FINGERPRINT, v, 4);
}

int rtcc_parse_candidate(const char *line, struct sockaddr_in *out)
{
    if (strncmp(line, "a=", 2) == 0)
        line += 2;
    if (strncmp(line, "candidate:", 10) == 0)
        line += 10;
    char found[64], proto[16], ip[64], typ[8];
    unsigned comp, port;
    unsigned long prio;
    if (sscanf(line, "%63s %u %15s %lu %63s %u %7s", found, &comp, proto, &prio, ip, &port, typ) !=
        7)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (comp != 1 || strcasecmp(proto, "udp") != 0 || port == 0 || port > 65535 ||
        inet_pton(AF_INET, ip, &a.sin_addr) != 1)
        return -1;
    *out = a;
    return 0;
}

odeon_srtp *rtcc_srtp_from_dtls(odeon_dtls_endpoint *ep, bool dtls_client,
                                const char **profile_name, char **error)
{
    const char *name = NULL;
    const uint8_t *mat = NULL;
    size_t len = 0;
    if (odeon_dtls_endpoint_srtp(ep, &name, &mat, &len) != 0) {
        if (error)
            *error = g_strdup("dtls connected without SRTP keys");
        return NULL;
    }
    if (profile_name)
        *profile_name = name;
    return odeon_srtp_new(odeon_srtp_profile_from_openssl_name(name), mat, len, dtls_client,
                          error);
}

void rtcc_rtp_header(uint8_t *b, uint8_t pt, bool marker, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
    b[0] = 0x80;
    b[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
    odeon_put_be16(b + 2, seq);
    odeon_put_be32(b + 4, ts);
    odeon_put_be32(b + 8, ssrc);
}

static void option_set(const rtcc_option *o, const char *value)
{
    if (o->type == 's')
        *(const char **)o->field = value;
    else if (o->type == 'i')
        *(int *)o->field = atoi(value);
    else if (o->type == 'd')
        *(double *)o->field = atof(value);
    else
        *(int *)o->field = 1;
}

int rtcc_parse_options(int argc, char **argv, const rtcc_option *opts, size_t n, int *verbose,
                       void (*usage)(FILE *f))
{
    struct option *lo = calloc(n + 3, sizeof *lo);
    if (lo == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        lo[i] = (struct option){opts[i].name, opts[i].type == 'f' ? no_argument : required_argument,
                                NULL, 256 + (int)i};
    lo[n] = (struct option){"verbose", no_argument, NULL, 'v'};
    lo[n + 1] = (struct option){"help", no_argument, NULL, 'h'};
    int c, rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
        if (c >= 256 && c < 256 + (int)n) {
            option_set(&opts[c - 256], optarg);
        } else if (c == 'v') {
            *verbose = 1;
        } else if (c == 'h') {
            usage(stdout);
            free(lo);
            exit(0);
        } else {
            usage(stderr);
            rc = -1;
        }
    }
    free(lo);
    return rc;
}

int rtcc_remote_transport_of(const odeon_sdp *sdp, rtcc_remote_transport *out)
{
    if (sdp->media_count == 0)
        return -1;
    const odeon_sdp_common *mc = &sdp->media[0].common, *sc = &sdp->common;
    out->ufrag = mc->ice_ufrag ? mc->ice_ufrag : sc->ice_ufrag;
    out->pwd = mc->ice_pwd ? mc->ice_pwd : sc->ice_pwd;
    out->setup = mc->setup ? mc->setup : sc->setup;
    out->fingerprint = mc->fingerprint_count   ? &mc->fingerprints[0]
                       : sc->fingerprint_count ? &sc->fingerprints[0]
                                               : NULL;
    return out->ufrag && out->pwd && out->fingerprint ? 0 : -1;
}

bool rtcc_stun_is_our_success(const odeon_stun_msg *msg, const uint8_t txid_prefix[4],
                              const char *remote_pwd)
{
    return msg->cls == ODEON_STUN_CLASS_SUCCESS && memcmp(msg->txid, txid_prefix, 4) == 0 &&
           remote_pwd != NULL &&
           odeon_stun_check_integrity(msg, (const uint8_t *)remote_pwd, strlen(remote_pwd)) == 0;
}

size_t rtcc_stun_answer(const odeon_stun_msg *msg, const char *local_pwd,
                        const struct sockaddr_in *from, uint8_t *out, size_t cap)
{
    size_t n = 0;
    const uint8_t *pwd = (const uint8_t *)local_pwd;
    if (odeon_stun_check_integrity(msg, pwd, strlen(local_pwd)) != 0 ||
        odeon_stun_build_binding_success(out, cap, msg->txid, (const struct sockaddr *)from, pwd,
                                         strlen(local_pwd), &n) != 0)
        return 0;
    return n;
}

/* ----- the Janus API over plain HTTP/1.1 ----- */

static int tcp_connect(const char *host, int port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Decodes a chunked body in place; returns its length, or -1 if malformed. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    while (in < len) {
        char *end;
        unsigned long n = strtoul(body + in, &end, 16);
        char *crlf = strstr(body + in, "\r\n");
        if (!crlf || end == body + in)
            return -1;
        in = (size_t)(crlf - body) + 2;
        if (n == 0)
            return (long)out;
        if (in + n > len)
            return -1;
        memmove(body + out, body + in, n);
        out += n, in += n + 2;
    }
    return (long)out;
}

static bool cancel_publish(const rtcc_http_cancel *c, int fd)
{
    if (c == NULL)
        return true;
    pthread_mutex_lock(c->mu);
    bool stop = *c->stop;
    if (!stop)
        *c->fd = fd;
    pthread_mutex_unlock(c->mu);
    return !stop;
}

static void cancel_clear(const rtcc_http_cancel *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(c->mu);
    *c->fd = -1;
    pthread_mutex_unlock(c->mu);
}

/* The JSON body of a whole response, or NULL with err set. */
static json_t *response_json(GString *resp, bool sent, ssize_t last, int saved, char *err,
                             size_t errlen)
{
    char *hdr_end = strstr(resp->str, "\r\n\r\n");
    int status = 0;
    json_t *j = NULL;
    if (!sent)
        snprintf(err, errlen, "send failed");
    else if (!hdr_end)
        snprintf(err, errlen, "no HTTP response (%s)", last < 0 ? strerror(saved) : "eof");
    else if (sscanf(resp->str, "HTTP/1.%*d %d", &status) != 1 || status != 200)
        snprintf(err, errlen, "HTTP status %d", status);
    else {
        *hdr_end = '\0';
        char *b = hdr_end + 4;
        long len = (long)(resp->len - (size_t)(b - resp->str));
        if (strcasestr(resp->str, "transfer-encoding: chunked"))
            len = dechunk(b, (size_t)len);
        json_error_t je;
        if (len >= 0)
            j = json_loadb(b, (size_t)len, 0, &je);
        if (!j)
            snprintf(err, errlen, "bad JSON body");
    }
    return j;
}

json_t *rtcc_http_json(const char *host, int port, const char *method, const char *path,
                       const char *body, int timeout_ms, const rtcc_http_cancel *cancel,
                       char *err, size_t errlen)
{
    int fd = tcp_connect(host, port, timeout_ms);
    if (fd < 0) {
        snprintf(err, errlen, "connect %s:%d: %s", host, port, strerror(errno));
        return NULL;
    }
    if (!cancel_publish(cancel, fd)) {
        close(fd);
        snprintf(err, errlen, "stopped");
        return NULL;
    }
    size_t blen = body ? strlen(body) : 0;
    char *req =
        g_strdup_printf("%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                        method, path, host, port, blen, body ? body : "");
    size_t rlen = strlen(req), off = 0;
    while (off < rlen) {
        ssize_t w = send(fd, req + off, rlen - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    g_free(req);
    GString *resp = g_string_new(NULL);
    char buf[16384];
    ssize_t r;
    while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
        g_string_append_len(resp, buf, r);
    int saved = errno;
    cancel_clear(cancel);
    close(fd);
    json_t *j = response_json(resp, off >= rlen, r, saved, err, errlen);
    g_string_free(resp, TRUE);
    return j;
}

/* ----- CPU time ----- */

int64_t rtcc_proc_cpu_us(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = strrchr(buf, ')');
    unsigned long long ut, st;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14)
     * stime(15) */
    if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (int64_t)((ut + st) * 1000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

int64_t rtcc_self_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
           (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}
