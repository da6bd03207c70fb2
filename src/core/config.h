/*
 * config.h - the server configuration: parse the GKeyFile, validate every value, expose typed
 * fields.
 *
 * The shipped conf/odeon.conf documents every key with its default; this module is the single
 * place those defaults live. A bad value is refused with a message naming the file, the group,
 * the key and why (the caller exits with code 2). Unknown groups or keys are refused too, so a
 * typo never silently falls back to a default. Command-line flags are applied on top with
 * odeon_config_apply_overrides, then validated again.
 */
#ifndef ODEON_CORE_CONFIG_H
#define ODEON_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin/plugin.h"

typedef struct odeon_config {
    char *path; /* the file read, or "(defaults)" */
    char *dir;  /* its directory: relative paths are resolved against it */

    struct {
        char *server_name;
        odeon_log_level log_level;
        char *log_file; /* NULL: stderr */
        unsigned session_timeout;
        char *api_secret; /* NULL: not required */
        bool token_auth;
        bool accept_new_sessions;
    } general;

    struct {
        char *plugins_dir;
        char *plugins_config_dir;
        char *html_dir; /* NULL: static files not served */
        char *sql_dir;  /* numbered migrations (sql/) */
    } paths;

    /* [database]: PostgreSQL, the state nodes share. */
    struct {
        char *conninfo; /* libpq connection string; NULL: no database */
        unsigned pool_size;
        unsigned connect_wait; /* seconds to wait for the server at start-up */
    } database;

    /* [cluster]: this node's place among relay nodes (docs/scaling.md). */
    struct {
        char *role;        /* "standalone", "origin" or "relay" */
        char *node_id;     /* unique among nodes; default "<host name>-<http port>" */
        char *public_url;  /* where clients reach this node's API; default http://<host>:<port> */
        char *upstream;    /* a relay's upstream node (its public_url) */
        char *secret;      /* shared by every node: signs node-to-node requests, keys links */
        unsigned capacity; /* viewers this node takes; 0: no limit */
        unsigned heartbeat_ms;  /* registry heartbeat period */
        unsigned dead_after_ms; /* a node silent this long is out of placement */
    } cluster;

    struct {
        uint16_t port;
        char *interface; /* NULL: every interface */
        char *base_path; /* starts with '/', no trailing '/' */
        size_t max_body_size;
        size_t client_queue_size;
        size_t queue_total_size;
        unsigned longpoll_timeout;
        char *cors_allow_origin;
        char *tls_cert;
        char *tls_key;
    } http;

    struct {
        bool enabled;
        uint16_t port;
        char *interface;
        char *base_path;
        char *secret;
    } admin;

    char **plugins_enabled; /* NULL-terminated short names ("echotest") */
    char **static_tokens;   /* NULL-terminated "subject:token" entries */

    struct {
        bool enabled;
        unsigned queue_size;
        char **handlers; /* NULL-terminated event handler module names */
    } events;

    /* [media]: the WebRTC stack (ICE, DTLS, RTP) and the media loop threads. */
    struct {
        unsigned loops; /* 0: one per CPU */
        bool ipv6;
        bool loopback;           /* gather loopback addresses (tests, one-machine setups) */
        char **interfaces_allow; /* names or address prefixes; NULL: every interface */
        char **interfaces_deny;
        uint16_t rtp_port_min; /* 0: any port */
        uint16_t rtp_port_max;
        bool ice_lite;
        bool ice_tcp;
        bool full_trickle;
        char *stun_server;  /* host:port, NULL: none */
        char *nat_1_1_mapping; /* public address announced instead of the host's, NULL: none */
        bool nat_1_1_keep_private; /* also announce the private candidates */
        char **ice_servers;    /* STUN/TURN URLs handed to clients */
        char *turn_username;
        char *turn_credential;
        char *dtls_cert; /* PEM; NULL: an ECDSA P-256 identity generated at start */
        char *dtls_key;
        unsigned dtls_timeout; /* seconds for the handshake to finish */
        unsigned consent_timeout; /* seconds without anything from the peer: hang up */
        unsigned no_media_timeout_ms; /* "media" receiving:false after this much silence */
        unsigned slowlink_threshold;  /* lost packets per second for "slowlink"; 0: off */
        unsigned nack_buffer_ms;      /* how long sent packets are kept for retransmission */
        unsigned twcc_period_ms;
        unsigned rtcp_interval_ms;
        unsigned dscp;
    } media;
} odeon_config;

/* Flags that override the file; zero/NULL fields leave the file's value. */
typedef struct odeon_config_overrides {
    int port;
    int admin_port;
    const char *plugins_dir;
    const char *html_dir;
    const char *log_level;
    const char *database; /* [database] conninfo */
    const char *sql_dir;
} odeon_config_overrides;

/* Parse a file. NULL path gives the defaults. Returns a new config or NULL with *error set to a
 * message naming file, group and key (g_free it). */
odeon_config *odeon_config_load(const char *path, char **error);
/* Parse config text; label stands for the file name in messages, dir for relative paths. */
odeon_config *odeon_config_load_data(const char *data, size_t len, const char *label,
                                     const char *dir, char **error);
/* Apply flags and validate again. Returns 0 or ODEON_EINVAL with *error set. */
int odeon_config_apply_overrides(odeon_config *config, const odeon_config_overrides *overrides,
                                 char **error);
void odeon_config_free(odeon_config *config);

#endif
