/*
 * stage_relay_wire.h - what relay links put on and read off the wire (stage_relay.h has the
 * protocol): the RTCP they build, the feedback an upstream reads from a relay, and the
 * subscription body. Pure functions over buffers and JSON text: no sockets, no threads, no
 * plugin state; unit-tested through the integration tests and fuzzed (tests/fuzz/fuzz_relay).
 */
#ifndef ODEON_PLUGIN_STAGE_RELAY_WIRE_H
#define ODEON_PLUGIN_STAGE_RELAY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RELAY_SSRC_BASE 0x4f444e00u /* "ODN\0" */
#define RELAY_WIRE_LANES 6u         /* tracks (2) x simulcast substreams (3) */
#define RELAY_MAX_PATH 16           /* nodes a subscription may pass through */

/* RTCP into buf (at least 32 bytes); each returns the length. */
size_t relay_rtcp_rr(uint8_t *buf, uint32_t ssrc);
size_t relay_rtcp_pli(uint8_t *buf, uint32_t ssrc, uint32_t media_ssrc);
size_t relay_rtcp_nack(uint8_t *buf, uint32_t ssrc, uint32_t media_ssrc, uint16_t seq);
/* A sender report: wall clock now_us (µs since 1970), packet and octet counts. */
size_t relay_rtcp_sr(uint8_t *buf, uint32_t ssrc, int64_t now_us, uint64_t packets, uint64_t bytes);

typedef enum {
    RELAY_FEEDBACK_NACK,
    RELAY_FEEDBACK_KEYFRAME
} relay_feedback_kind;

typedef struct relay_feedback {
    relay_feedback_kind kind;
    uint8_t lane; /* < RELAY_WIRE_LANES */
    uint16_t seq; /* NACK: the missing sequence number */
} relay_feedback;

/* The NACKs (one item per missing packet) and PLI/FIR of a decrypted compound RTCP packet, at
 * most max items; parts for other SSRCs or of other types are skipped, a truncated part ends
 * the walk. Returns how many items were written. */
size_t relay_feedback_parse(const uint8_t *buf, size_t len, relay_feedback *items, size_t max);

/* A relay's subscription request body, parsed and checked. */
typedef struct relay_subscription {
    char link[33], nonce[33]; /* 32 hex digits each */
    char node[129];
    struct sockaddr_storage addr; /* the relay's media address */
    socklen_t addr_len;
    char *path[RELAY_MAX_PATH + 2]; /* NULL-terminated; the relay last (added if missing) */
} relay_subscription;

/* 0, or -1 with *reason (static, safe to send back). Free with relay_subscription_clear. */
int relay_subscription_parse(const char *body, size_t len, relay_subscription *out,
                             const char **reason);
void relay_subscription_clear(relay_subscription *s);
/* Whether id is on the subscription's path (a loop when it is the node asked). */
bool relay_subscription_passes(const relay_subscription *s, const char *id);

bool relay_hex_ok(const char *s, size_t len);

#endif
