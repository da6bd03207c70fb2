/*
 * transport.h - the API port (Janus HTTP + long-poll, WebSocket "janus-protocol", plugin HTTP
 * routes, static html) and the admin port (HTTP + WebSocket "janus-admin-protocol"), served by
 * libwebsockets on one service thread.
 *
 * Requests are dispatched on the service thread straight into the api/admin modules (they do
 * not block); events from other threads reach connections through their sinks, which queue
 * under a mutex and wake the service thread with lws_cancel_service.
 */
#ifndef ODEON_TRANSPORT_TRANSPORT_H
#define ODEON_TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/admin.h"
#include "api/api.h"
#include "session/session.h"
#include "transport/http_routes.h"

typedef struct odeon_transport odeon_transport;

typedef struct odeon_transport_settings {
    const char *interface; /* NULL: all */
    uint16_t port;
    const char *base_path; /* "/janus" */
    size_t max_body_size;
    /* Events waiting for WebSocket clients: at most client_queue_size bytes for one client,
     * and past queue_total_size for all, clients with a backlog are dropped (0: defaults). */
    size_t client_queue_size;
    size_t queue_total_size;
    unsigned longpoll_timeout; /* seconds */
    const char *cors_allow_origin;
    const char *tls_cert; /* both set: TLS on the API port */
    const char *tls_key;
    const char *html_dir; /* NULL: no static files */

    bool admin_enabled;
    const char *admin_interface;
    uint16_t admin_port;
    const char *admin_base_path; /* "/admin" */
} odeon_transport_settings;

/* Bind both ports and start the service thread. All pointers borrowed; they must outlive the
 * transport. admin may be NULL when admin_enabled is false. NULL with *error on failure
 * (e.g. port in use). */
odeon_transport *odeon_transport_start(const odeon_transport_settings *settings, odeon_api *api,
                                       odeon_admin *admin, odeon_sessions *sessions,
                                       odeon_http_routes *routes, char **error);
/* Flush what is queued to clients (bounded wait), close every connection, join the thread. */
void odeon_transport_stop(odeon_transport *transport);

#endif
