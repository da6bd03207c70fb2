/*
 * admin.h - the Admin API (its own port and path, always behind the admin secret).
 *
 * Requests use Janus's admin names: "info", "ping", "get_status", "list_sessions",
 * "list_handles", "handle_info", "set_log_level", "accept_new_sessions",
 * "set_session_timeout", "destroy_session", "detach_handle", "message_plugin"; and Odeon's
 * "list_nodes" (the relay cluster's registry with each node's load and links) and
 * "set_draining" (this node takes no new viewers).
 */
#ifndef ODEON_API_ADMIN_H
#define ODEON_API_ADMIN_H

#include <jansson.h>

#include "api/api.h"

typedef struct odeon_admin odeon_admin;

/* All borrowed. secret must be non-empty. */
odeon_admin *odeon_admin_new(const char *secret, odeon_api *api, odeon_sessions *sessions,
                             struct odeon_plugin_host *plugins);
void odeon_admin_free(odeon_admin *admin);

/* One request (borrowed) -> reply (new reference); path ids as in odeon_api_request. */
json_t *odeon_admin_handle(odeon_admin *admin, const odeon_api_request *req, json_t *message);
json_t *odeon_admin_handle_text(odeon_admin *admin, const odeon_api_request *req,
                                const char *text, size_t len);

/* GET /metrics on the admin port: Prometheus text (the core's and every plugin's metrics) when
 * authorization is "Bearer <admin secret>" (*status 200), else a JSON error (*status 401).
 * g_free the result. Any thread. */
char *odeon_admin_metrics(odeon_admin *admin, const char *authorization, unsigned *status);

#endif
