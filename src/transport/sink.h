/*
 * sink.h - where a session's asynchronous events go: the transport connection that created it.
 *
 * A WebSocket connection is a sink (events are written on the socket); the HTTP transport is
 * one sink for all its sessions (events wait in a per-session queue for a long-poll GET). The
 * core only ever calls these three operations, from any thread, without holding a core lock.
 */
#ifndef ODEON_TRANSPORT_SINK_H
#define ODEON_TRANSPORT_SINK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct odeon_event_sink odeon_event_sink;

typedef struct odeon_event_sink_ops {
    /* Queue event (borrowed: the sink takes its own reference) for session_id's client. Must
     * not block; never fails visibly: a sink whose client is gone drops the event. */
    void (*deliver)(odeon_event_sink *sink, uint64_t session_id, json_t *event);
    /* Optional: the same with the event already serialised (len bytes of compact JSON, copied),
     * so that one event sent to many sessions is serialised once. Without it the core parses
     * the text and calls deliver. */
    void (*deliver_text)(odeon_event_sink *sink, uint64_t session_id, const char *text,
                         size_t len);
    /* The session was destroyed: events already delivered may still be flushed to a waiting
     * client (so a "timeout" arrives), then per-session state is dropped. */
    void (*session_gone)(odeon_event_sink *sink, uint64_t session_id);
    odeon_event_sink *(*ref)(odeon_event_sink *sink);
    void (*unref)(odeon_event_sink *sink);
    /* "http", "websocket", ... for the admin API and logs. */
    const char *name;
} odeon_event_sink_ops;

/* Embedded as the first member of the transport's own connection struct. */
struct odeon_event_sink {
    const odeon_event_sink_ops *ops;
};

#endif
