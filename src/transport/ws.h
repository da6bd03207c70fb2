/*
 * ws.h - the WebSocket side of the transport (ws.c), as lws_server.c sees it: the protocol
 * callback for "janus-protocol" and "janus-admin-protocol", and the hooks the hub and the stop
 * sequence use. Each connection is an odeon_event_sink ("websocket") for the sessions it
 * creates.
 */
#ifndef ODEON_TRANSPORT_WS_H
#define ODEON_TRANSPORT_WS_H

#include "transport/lws_server.h"

/* The lws callback of both WebSocket protocols (service thread). */
int odeon__ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);
/* Service thread: another thread queued messages on conn. */
void odeon__ws_ready(odeon__ws_conn *conn);
/* Any thread. */
void odeon__ws_conn_unref(odeon__ws_conn *conn);
/* Service thread: true when no open connection has anything left to write. */
bool odeon__ws_idle(odeon_transport *t);

#endif
