/*
 * cluster.h - this node among the others: the node registry (a heartbeat row per node in
 * PostgreSQL), placement of viewers on the least-loaded live relay, the cached node list for
 * the admin API, and the shared secret's uses (node_auth.h).
 *
 * Roles ([cluster] role): standalone (default; no registry), origin (takes publishers, serves
 * relays and, when no relay has room, viewers), relay (pulls stages from [cluster] upstream).
 * Without a database the node still serves its own viewers and relays still link, but there
 * is no registry and placement answers this node itself.
 *
 * Load comes from the plugins (odeon_cluster_report: viewers, bit rate out, links) and from
 * the process's CPU time; it is written on every heartbeat. A node whose row is older than
 * [cluster] dead_after_ms is out of placement.
 *
 * Threads: odeon_cluster_new/free and the heartbeat run on the main loop; report, place,
 * nodes_json and the accessors may be called from any thread. Placement callbacks run on the
 * main loop. The process has one cluster (odeon_cluster_current), set by the server.
 */
#ifndef ODEON_CLUSTER_CLUSTER_H
#define ODEON_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/config.h"
#include "db/db.h"

typedef struct odeon_cluster odeon_cluster;

/* db may be NULL (borrowed; outlives the cluster). */
odeon_cluster *odeon_cluster_new(const odeon_config *config, odeon_db *db);
/* Removes this node's registry row (waiting up to 2 s on the main context), then frees. */
void odeon_cluster_free(odeon_cluster *cluster);

void odeon_cluster_set_current(odeon_cluster *cluster);
odeon_cluster *odeon_cluster_current(void);

const char *odeon_cluster_node_id(const odeon_cluster *cluster);
const char *odeon_cluster_role(const odeon_cluster *cluster);
const char *odeon_cluster_public_url(const odeon_cluster *cluster);
const char *odeon_cluster_upstream(const odeon_cluster *cluster); /* NULL unless a relay */
unsigned odeon_cluster_capacity(const odeon_cluster *cluster);
const char *odeon_cluster_secret(const odeon_cluster *cluster); /* NULL: none */
/* The same, as plugins see it (lives as long as the cluster). */
const odeon_node_info *odeon_cluster_info(const odeon_cluster *cluster);

/* A plugin's share of the load (borrowed): {"viewers": n, "bitrate_out": bps, "links": [..]}.
 * Replaces its previous report. */
void odeon_cluster_report(odeon_cluster *cluster, const char *reporter, json_t *report);

/* A draining node takes no new viewers from placement; those it has stay (docs/scaling.md). */
void odeon_cluster_set_draining(odeon_cluster *cluster, bool draining);
bool odeon_cluster_draining(odeon_cluster *cluster);

/* Where a viewer should watch. error NULL: node_id and url (borrowed for the call). */
typedef void (*odeon_cluster_place_fn)(const char *node_id, const char *url, const char *error,
                                       void *user_data);
/* Sticky per (client_key, stage_key); the nodes in exclude (NULL-terminated, may be NULL) are
 * passed over (a client that just lost one). fn runs exactly once: on the main loop, or
 * before this returns when there is no registry to ask. */
void odeon_cluster_place(odeon_cluster *cluster, const char *stage_key, const char *client_key,
                         const char *const *exclude, odeon_cluster_place_fn fn, void *user_data);

/* The viewer placed as (client_key, stage_key) arrived here: it now counts in this node's
 * viewers, not as a placement on its way (see place_sql in cluster.c). */
void odeon_cluster_arrived(odeon_cluster *cluster, const char *stage_key, const char *client_key);

/* Waits (up to 2 s, running the main context) until every placement has been answered: before
 * the plugins that asked are unloaded. */
void odeon_cluster_quiesce(odeon_cluster *cluster);

/* The registry as last read (at most one heartbeat old) with this node's own live load:
 * {"node": {...this node...}, "nodes": [...]} (new reference). */
json_t *odeon_cluster_nodes_json(odeon_cluster *cluster);

#endif
