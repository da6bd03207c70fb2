/*
 * ws.h - a minimal WebSocket client (RFC 6455) over a non-blocking TCP socket, for odeon-load.
 *
 * The caller owns the event loop: it polls ws->fd for reading, and for writing while
 * ws_wants_write() is true, and calls ws_on_readable / ws_on_writable. Text messages are
 * reassembled from fragments and handed to the callback whole; pings are answered; a close
 * frame or any protocol error ends the connection (the functions return -1 and ws->error says
 * why). Client frames are masked as the RFC requires. No TLS, no extensions.
 */
#ifndef ODEON_TESTS_LOAD_WS_H
#define ODEON_TESTS_LOAD_WS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

typedef enum {
    WS_CONNECTING,
    WS_HANDSHAKE,
    WS_OPEN,
    WS_CLOSED
} ws_state;

typedef void (*ws_message_fn)(void *user, char *text, size_t len);

typedef struct {
    int fd;
    ws_state state;
    GByteArray *in;  /* bytes received, not yet parsed */
    GByteArray *out; /* bytes to send */
    GByteArray *msg; /* the message being reassembled */
    char key[32];    /* Sec-WebSocket-Key we sent (base64) */
    char error[96];
} ws_conn;

/* Starts a non-blocking connect and queues the upgrade request (GET path, Host host_hdr,
 * Sec-WebSocket-Protocol subprotocol). 0, or -1 with ws->error. */
int ws_open(ws_conn *ws, const struct sockaddr_in *to, const char *host_hdr, const char *path,
            const char *subprotocol);
/* Flushes queued bytes (and completes the connect). 0 or -1. */
int ws_on_writable(ws_conn *ws);
/* Reads what is available; calls fn for every complete text message. 0 or -1. */
int ws_on_readable(ws_conn *ws, ws_message_fn fn, void *user);
/* Queues one text message and tries to send it. 0 or -1. */
int ws_send_text(ws_conn *ws, const char *text, size_t len);
bool ws_wants_write(const ws_conn *ws);
/* A node's address, "http://IPv4:PORT" (or ws://, or without a scheme; "localhost" is
 * 127.0.0.1; no port is 80), into to and a Host header ("host:port", hdr_len bytes). A path
 * is ignored: the caller knows its WebSocket path. No DNS (it would block the caller's event
 * loop), no TLS: https:// and wss:// are refused. 0 or -1. */
int ws_parse_url(const char *url, struct sockaddr_in *to, char *hdr, size_t hdr_len);
/* Sends a close frame if open (best effort) and closes the socket. Safe to call twice. */
void ws_close(ws_conn *ws);

#endif
