/*
 * rtcclient.h - small helpers shared by the WebRTC test clients (tests/bench/echo/echoload.c,
 * tests/bench/rooms/roomload.c, tests/load/odeon-load): the pieces of a hand-made ICE/DTLS/SRTP
 * peer that Odeon's src/webrtc modules do not provide because a server never needs them (a STUN
 * Binding *request* builder, candidate lines to addresses, an SRTP session straight from a
 * connected DTLS endpoint), the Janus API over plain HTTP, and the CPU time of a process.
 *
 * Everything here is a pure function or a thin wrapper; no state, no threads. Errors: 0 or -1.
 */
#ifndef ODEON_TESTS_RTCCLIENT_H
#define ODEON_TESTS_RTCCLIENT_H

#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "webrtc/dtls.h"
#include "webrtc/sdp.h"
#include "webrtc/srtp.h"
#include "webrtc/stun.h"

/* Monotonic clock in microseconds. */
int64_t rtcc_now_us(void);

/* One long option "--name VALUE" setting a field: type 's' (const char *), 'i' (int), 'd'
 * (double) or 'f' (a flag without value: int set to 1). */
typedef struct rtcc_option {
    const char *name;
    char type;
    void *field;
} rtcc_option;

/* Parses argv with getopt_long: the options of opts, plus -v/--verbose (sets *verbose) and
 * -h/--help (usage(stdout), then exit 0). Returns 0, or -1 after usage(stderr). */
int rtcc_parse_options(int argc, char **argv, const rtcc_option *opts, size_t n, int *verbose,
                       void (*usage)(FILE *f));

/* len random characters from [a-zA-Z0-9] and a NUL (out needs len + 1 bytes; len <= 64). */
void rtcc_random_token(char *out, size_t len);

/* Everything a Binding request of an ICE agent carries (RFC 8445 section 7.1.1). */
typedef struct {
    const char *remote_ufrag, *local_ufrag; /* USERNAME is "remote:local" */
    const char *remote_pwd;                 /* MESSAGE-INTEGRITY key */
    uint8_t txid[12];
    bool controlling; /* ICE-CONTROLLING, else ICE-CONTROLLED */
    uint64_t tie_breaker;
    bool use_candidate; /* only meaningful when controlling */
    uint32_t priority;  /* PRIORITY (0: a peer-reflexive host-ish default) */
} rtcc_binding_request;

/* Writes the request (USERNAME, PRIORITY, ICE-CONTROLL(ED|ING), [USE-CANDIDATE],
 * MESSAGE-INTEGRITY, FINGERPRINT) into m, which needs 64 + strlen(USERNAME) bytes at least
 * (800 is always enough for ufrags under 256 characters). Returns the length. */
size_t rtcc_stun_binding_request(const rtcc_binding_request *req, uint8_t *m);

/* Answers a STUN Binding request from the server: checks its MESSAGE-INTEGRITY against our
 * password and writes the success response (XOR-MAPPED-ADDRESS from, integrity, fingerprint)
 * into out. Returns its length, or 0 when the request must be ignored. */
size_t rtcc_stun_answer(const odeon_stun_msg *msg, const char *local_pwd,
                        const struct sockaddr_in *from, uint8_t *out, size_t cap);

/* Whether msg is a success response to one of our checks: a transaction id starting with our
 * 4-byte prefix and a MESSAGE-INTEGRITY by the remote password (NULL: not known yet, false). */
bool rtcc_stun_is_our_success(const odeon_stun_msg *msg, const uint8_t txid_prefix[4],
                              const char *remote_pwd);

/* What a client needs of the other side's description to connect: ICE credentials, the first
 * fingerprint and a=setup (NULL when absent), of the first m-line, else of the session.
 * Borrowed from sdp. 0, or -1 when there is no m-line or no ufrag, pwd or fingerprint. */
typedef struct {
    const char *ufrag, *pwd, *setup;
    const odeon_sdp_fingerprint *fingerprint;
} rtcc_remote_transport;
int rtcc_remote_transport_of(const odeon_sdp *sdp, rtcc_remote_transport *out);

/* Parses an SDP candidate ("candidate:..." or the text after it). 0 and *out for an IPv4 UDP
 * component-1 candidate; -1 for anything else (IPv6, TCP, RTCP component, garbage). */
int rtcc_parse_candidate(const char *line, struct sockaddr_in *out);

/* The SRTP pair of a CONNECTED endpoint (keys by DTLS role). New session or NULL with *error
 * (g_free) set. *profile_name (may be NULL) borrows the negotiated name from ep. */
odeon_srtp *rtcc_srtp_from_dtls(odeon_dtls_endpoint *ep, bool dtls_client,
                                const char **profile_name, char **error);

/* A 12-byte RTP header (V=2, no CSRC, no extension) at b. */
void rtcc_rtp_header(uint8_t *b, uint8_t pt, bool marker, uint16_t seq, uint32_t ts, uint32_t ssrc);

/* ----- the Janus API over plain HTTP/1.1 (one connection per request, Connection: close) ----- */

/* Lets another thread cancel a blocking request (a long-poll): the request publishes its
 * socket in *fd under *mu unless *stop is set, and clears it when done; the other thread sets
 * *stop and shuts the socket down. */
typedef struct rtcc_http_cancel {
    pthread_mutex_t *mu;
    bool *stop;
    int *fd;
} rtcc_http_cancel;

/* Sends one request to host:port and returns the decoded JSON body of a 200 answer (new
 * reference; chunked bodies decoded), or NULL with err set. cancel may be NULL. */
json_t *rtcc_http_json(const char *host, int port, const char *method, const char *path,
                       const char *body, int timeout_ms, const rtcc_http_cancel *cancel,
                       char *err, size_t errlen);

/* ----- CPU time, for the benchmarks' windows ----- */

/* utime + stime of every thread of pid, in microseconds; -1 if unreadable. */
int64_t rtcc_proc_cpu_us(int pid);
/* This process's user + system time, in microseconds. */
int64_t rtcc_self_cpu_us(void);

#endif
