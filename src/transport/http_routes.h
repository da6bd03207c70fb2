/*
 * http_routes.h - plain HTTP routes that plugins register on the API port (WHIP, WHEP, public
 * GET endpoints), and the request object they receive.
 *
 * The registry is thread-safe. The transport looks a path up (longest prefix wins), builds an
 * odeon_http_request from the parsed request and calls the handler on its service thread; the
 * plugin answers with odeon_http_request_respond, once, from any thread.
 */
#ifndef ODEON_TRANSPORT_HTTP_ROUTES_H
#define ODEON_TRANSPORT_HTTP_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin/plugin.h"

typedef struct odeon_http_routes odeon_http_routes;

typedef struct odeon_http_route {
    const odeon_plugin *plugin;
    char *prefix;
    odeon_http_handler handler;
    void *user_data;
} odeon_http_route;

odeon_http_routes *odeon_http_routes_new(void);
void odeon_http_routes_free(odeon_http_routes *routes);
/* prefix must start with '/'; ODEON_EEXIST if taken, ODEON_EINVAL if malformed. */
int odeon_http_routes_add(odeon_http_routes *routes, const odeon_plugin *plugin,
                          const char *prefix, odeon_http_handler handler, void *user_data);
void odeon_http_routes_remove(odeon_http_routes *routes, const odeon_plugin *plugin,
                              const char *prefix);
/* Remove every route of a plugin (unload). */
void odeon_http_routes_remove_plugin(odeon_http_routes *routes, const odeon_plugin *plugin);
/* Longest matching prefix: copies the route into *out (prefix borrowed until the route is
 * removed; handlers are only removed at plugin shutdown, after transports stopped). */
bool odeon_http_routes_match(odeon_http_routes *routes, const char *path, odeon_http_route *out);

/* Request accessors and the answer, implemented by the HTTP transport (see plugin.h). */
const char *odeon_http_request_method(odeon_http_request *req);
const char *odeon_http_request_path(odeon_http_request *req);
const char *odeon_http_request_query(odeon_http_request *req);
const char *odeon_http_request_header(odeon_http_request *req, const char *name);
const uint8_t *odeon_http_request_body(odeon_http_request *req, size_t *len);
int odeon_http_request_respond(odeon_http_request *req, int status, const char *content_type,
                               const void *body, size_t len, const char *const *headers);

#endif
