/*
 * api.h - the Janus JSON API: one request in, one reply out.
 *
 * Transports hand a request (text, or an already parsed object) together with the ids taken
 * from the request path and the sink of the connection; the dispatcher validates the envelope,
 * checks the api secret and token, and runs the verb's handler from a table. Replies follow
 * Janus exactly: "success", "ack", "server_info", "pong" or "error" with the transaction
 * echoed. Asynchronous events go to the session's sink, never through the reply.
 *
 * Thread: any transport thread; requests for different sessions run concurrently.
 */
#ifndef ODEON_API_API_H
#define ODEON_API_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth/auth.h"
#include "events/eventbus.h"
#include "session/session.h"
#include "transport/sink.h"

struct odeon_plugin_host;

typedef struct odeon_api odeon_api;

typedef struct odeon_api_settings {
    const char *server_name;
    unsigned session_timeout;
    bool accept_new_sessions;
    struct odeon_event_handlers *event_handlers; /* borrowed, may be NULL */
} odeon_api_settings;

/* All borrowed and must outlive the api. bus may be NULL. */
odeon_api *odeon_api_new(const odeon_api_settings *settings, odeon_sessions *sessions,
                         struct odeon_plugin_host *plugins, odeon_auth *auth,
                         odeon_eventbus *bus);
void odeon_api_free(odeon_api *api);

void odeon_api_set_accepting(odeon_api *api, bool accepting);
bool odeon_api_is_accepting(const odeon_api *api);
/* The session timeout in seconds (0: none); the admin API may change it at run time. */
void odeon_api_set_session_timeout(odeon_api *api, unsigned seconds);
unsigned odeon_api_session_timeout(const odeon_api *api);
bool odeon_api_token_auth(const odeon_api *api);

/* Where a request came from. */
typedef struct odeon_api_request {
    uint64_t path_session_id; /* from the URL (HTTP), 0 if none */
    uint64_t path_handle_id;  /* from the URL (HTTP), 0 if none */
    bool path_has_session;    /* the URL named a session (even an invalid one) */
    odeon_event_sink *sink;   /* borrowed: owner of sessions this request creates */
    const char *transport;    /* "http" / "websocket" (events, logs) */
} odeon_api_request;

/* Handle one parsed request object (borrowed). Returns the reply (new reference, never NULL). */
json_t *odeon_api_handle(odeon_api *api, const odeon_api_request *req, json_t *message);
/* Parse text and handle it: malformed JSON gives error 454, non-objects 455. */
json_t *odeon_api_handle_text(odeon_api *api, const odeon_api_request *req, const char *text,
                              size_t len);

/* {"janus":"error","transaction":t,"error":{"code":c,"reason":r}} (new reference); session_id
 * is added when non-zero, transaction when non-NULL. reason NULL uses the default. */
json_t *odeon_api_error(uint64_t session_id, const char *transaction, int code,
                        const char *reason);

/* The "server_info" object (new reference), as for "info" and GET <base>/info. */
json_t *odeon_api_server_info(odeon_api *api, const char *transaction);

#endif
