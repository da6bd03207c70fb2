/*
 * eventbus.h - core and plugin events (JSON) fanned out to event handlers, off the request path.
 *
 * Publishing enqueues and returns at once; one bus thread pops events and calls every
 * subscribed handler in turn, so a slow handler delays only the bus, never a request. When the
 * queue is full, new events are dropped and counted rather than blocking the publisher.
 *
 * Envelope handed to handlers: {"type": <int>, "timestamp": <wall us>, "emitter": <server name>,
 * ["session_id"], ["handle_id"], ["opaque_id"], "event": <body>}. Type values follow Janus's
 * event handler types so existing consumers read them unchanged.
 */
#ifndef ODEON_EVENTS_EVENTBUS_H
#define ODEON_EVENTS_EVENTBUS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

typedef enum {
    ODEON_EVENT_SESSION = 1,
    ODEON_EVENT_HANDLE = 2,
    ODEON_EVENT_EXTERNAL = 4,
    ODEON_EVENT_JSEP = 8,
    ODEON_EVENT_WEBRTC = 16,
    ODEON_EVENT_MEDIA = 32,
    ODEON_EVENT_PLUGIN = 64,
    ODEON_EVENT_TRANSPORT = 128,
    ODEON_EVENT_CORE = 256,
    ODEON_EVENT_ALL = 0xffff,
} odeon_event_type;

typedef struct odeon_eventbus odeon_eventbus;

/* Runs on the bus thread; envelope is borrowed. */
typedef void (*odeon_event_handler_fn)(json_t *envelope, void *user_data);

/* emitter: server name put in every envelope (copied). Starts the bus thread. */
odeon_eventbus *odeon_eventbus_new(const char *emitter, unsigned queue_size);
/* Delivers what is queued, stops the thread, frees. */
void odeon_eventbus_free(odeon_eventbus *bus);

/* Subscribe before or after start; mask is an OR of odeon_event_type. Returns 0. */
int odeon_eventbus_subscribe(odeon_eventbus *bus, uint32_t mask, odeon_event_handler_fn fn,
                             void *user_data);
void odeon_eventbus_unsubscribe(odeon_eventbus *bus, odeon_event_handler_fn fn,
                                void *user_data);

/* Any thread. body is borrowed. ids of 0 are left out of the envelope. No-op when nobody
 * subscribed to type. */
void odeon_eventbus_publish(odeon_eventbus *bus, odeon_event_type type, uint64_t session_id,
                            uint64_t handle_id, json_t *body);
bool odeon_eventbus_has_subscribers(odeon_eventbus *bus, odeon_event_type type);

/* Wait until everything queued so far was handed to the handlers (tests, shutdown). */
void odeon_eventbus_flush(odeon_eventbus *bus);
uint64_t odeon_eventbus_dropped(odeon_eventbus *bus);
uint64_t odeon_eventbus_delivered(odeon_eventbus *bus);

#endif
