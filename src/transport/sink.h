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
#include <string.h>

#include <glib.h>
#include <jansson.h>

typedef struct odeon_event_sink odeon_event_sink;

/* Room a transport may use in front of a shared text for its framing (a WebSocket frame
 * header), on its one writing thread. */
#define ODEON_SINK_HEADROOM 32

/* Text that many events share (one plugin event's body sent to many sessions): refcounted and
 * never changed after it is made, except for the headroom in front of it. */
typedef struct odeon_shared_text {
    gint refs;
    size_t len;
    uint8_t bytes[]; /* ODEON_SINK_HEADROOM bytes, the text, a NUL */
} odeon_shared_text;

#define ODEON_SHARED_TEXT(t) ((t)->bytes + ODEON_SINK_HEADROOM)

/* The concatenation of a and b, with one reference. */
static inline odeon_shared_text *odeon_shared_text_new(const char *a, size_t alen, const char *b,
                                                       size_t blen)
{
    odeon_shared_text *t = (odeon_shared_text *)g_malloc(sizeof(*t) + ODEON_SINK_HEADROOM +
                                                         alen + blen + 1);
    t->refs = 1;
    t->len = alen + blen;
    memcpy(ODEON_SHARED_TEXT(t), a, alen);
    memcpy(ODEON_SHARED_TEXT(t) + alen, b, blen);
    ODEON_SHARED_TEXT(t)[t->len] = '\0';
    return t;
}

static inline odeon_shared_text *odeon_shared_text_ref(odeon_shared_text *t)
{
    g_atomic_int_inc(&t->refs);
    return t;
}

static inline void odeon_shared_text_unref(odeon_shared_text *t)
{
    if (t != NULL && g_atomic_int_dec_and_test(&t->refs))
        g_free(t);
}

typedef struct odeon_event_sink_ops {
    /* Queue event (borrowed: the sink takes its own reference) for session_id's client. Must
     * not block; never fails visibly: a sink whose client is gone drops the event. */
    void (*deliver)(odeon_event_sink *sink, uint64_t session_id, json_t *event);
    /* Optional: the same with the event already serialised (len bytes of compact JSON, copied),
     * so that one event sent to many sessions is serialised once. Without it the core parses
     * the text and calls deliver. */
    void (*deliver_text)(odeon_event_sink *sink, uint64_t session_id, const char *text,
                         size_t len);
    /* Optional: the event is prefix followed by body (borrowed: the sink takes its own
     * reference), so that many clients' copies of one body are one allocation. Without it the
     * core joins the two and calls deliver_text. */
    void (*deliver_shared)(odeon_event_sink *sink, uint64_t session_id, const char *prefix,
                           size_t prefix_len, odeon_shared_text *body);
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
