/*
 * ice.h - one ICE agent (libnice, RFC 8445) for one bundled, rtcp-muxed peer connection.
 *
 * The agent runs on the GMainContext it is created with (a media loop) and every function here
 * must be called on that context's thread; its callbacks fire there too. One stream with one
 * component: Odeon requires BUNDLE and rtcp-mux, as every browser offers them.
 *
 * Local addresses are chosen here, not by libnice's defaults: every interface address that the
 * settings allow (loopback only when enabled, IPv6 only when enabled, never link-local), so tests
 * run on 127.0.0.1 and operators can pin interfaces. With nat_1_1 set, host candidates are
 * announced with the public address instead (and also as they are with keep_private).
 *
 * Ownership: the agent is owned by its peer connection (odeon_ice_agent_free). Strings handed
 * to callbacks are borrowed for the call.
 */
#ifndef ODEON_WEBRTC_ICE_H
#define ODEON_WEBRTC_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

typedef struct odeon_ice_settings {
    bool ipv6;
    bool loopback;
    char **interfaces_allow; /* NULL-terminated names or address prefixes; NULL: all */
    char **interfaces_deny;
    uint16_t port_min, port_max; /* 0: any */
    bool lite;
    bool tcp;
    const char *stun_host; /* NULL: no server-reflexive candidates */
    uint16_t stun_port;
    const char *nat_1_1; /* public address, NULL: none */
    bool nat_1_1_keep_private;
    unsigned dscp;
} odeon_ice_settings;

typedef enum {
    ODEON_ICE_STATE_NEW,
    ODEON_ICE_STATE_CHECKING,
    ODEON_ICE_STATE_CONNECTED, /* a pair works: data may flow */
    ODEON_ICE_STATE_FAILED,
} odeon_ice_state;

typedef struct odeon_ice_callbacks {
    /* A local candidate as an SDP attribute value ("candidate:1 1 udp ..."). */
    void (*candidate)(void *user, const char *candidate);
    void (*gathering_done)(void *user);
    void (*state_changed)(void *user, odeon_ice_state state);
    /* A datagram that is not STUN (DTLS, SRTP, SRTCP). buf is writable, valid for the call. */
    void (*receive)(void *user, uint8_t *buf, size_t len);
} odeon_ice_callbacks;

typedef struct odeon_ice_agent odeon_ice_agent;

/* Creates the agent and its stream; no gathering yet. Returns NULL and *error (g_free). */
odeon_ice_agent *odeon_ice_agent_new(GMainContext *context, const odeon_ice_settings *settings,
                                     bool controlling, const odeon_ice_callbacks *callbacks,
                                     void *user, char **error);
/* Stops everything: no callback runs after this returns. NULL is fine. */
void odeon_ice_agent_free(odeon_ice_agent *agent);

/* Local credentials (valid until the next restart). */
const char *odeon_ice_agent_local_ufrag(const odeon_ice_agent *agent);
const char *odeon_ice_agent_local_pwd(const odeon_ice_agent *agent);

/* Starts gathering on the allowed addresses. ODEON_ENOENT when no address is usable. */
int odeon_ice_agent_gather(odeon_ice_agent *agent, char **error);
bool odeon_ice_agent_gathering_done(const odeon_ice_agent *agent);

int odeon_ice_agent_set_remote_credentials(odeon_ice_agent *agent, const char *ufrag,
                                           const char *pwd);
/* line: "candidate:..." with or without "a=". Returns 0, or ODEON_EINVAL when unparsable
 * (including mDNS ".local" addresses, which we cannot resolve), ODEON_ENOTSUP for TCP
 * candidates when TCP is off. */
int odeon_ice_agent_add_remote_candidate(odeon_ice_agent *agent, const char *line);
/* The remote side sent end-of-candidates: the agent may now declare failure. */
void odeon_ice_agent_remote_gathering_done(odeon_ice_agent *agent);

/* ICE restart: new local credentials, the old pair keeps working meanwhile. */
int odeon_ice_agent_restart(odeon_ice_agent *agent);

/* Sends one datagram on the selected pair. Returns 0 or ODEON_ENOTCONN / ODEON_EIO. */
int odeon_ice_agent_send(odeon_ice_agent *agent, const uint8_t *buf, size_t len);
/* Sends n datagrams; on the agent's own thread with a plain UDP pair in one sendmmsg (per 64),
 * elsewhere one by one through libnice. Returns how many went out, or ODEON_ENOTCONN. */
int odeon_ice_agent_send_batch(odeon_ice_agent *agent, uint8_t *const *bufs, const size_t *lens,
                               size_t n);

odeon_ice_state odeon_ice_agent_state(const odeon_ice_agent *agent);
const char *odeon_ice_state_name(odeon_ice_state state);
/* "192.0.2.1:4000 [host] <-> 198.51.100.2:5000 [prflx]" into out, or "" with no pair. */
void odeon_ice_agent_selected_pair(odeon_ice_agent *agent, char *out, size_t cap);

/* True when the address (numeric text) passes the settings' interface rules for ifname. */
bool odeon_ice_address_allowed(const odeon_ice_settings *settings, const char *ifname,
                               const char *address, bool is_loopback);

#endif
