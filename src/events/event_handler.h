/*
 * event_handler.h - the versioned contract of event handler modules (installed header).
 *
 * An event handler is a shared object odeon_evh_<name>.so in the plugins folder, enabled by
 * [events] handlers = <name>, exporting one const odeon_event_handler named
 * ODEON_EVENT_HANDLER_SYMBOL. The core subscribes it to the event bus with its mask; its
 * handle_event runs on the bus thread, never on a request path, so it may block briefly (a
 * file write, a socket send) without delaying any client.
 */
#ifndef ODEON_EVENTS_EVENT_HANDLER_H
#define ODEON_EVENTS_EVENT_HANDLER_H

#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ODEON_EVENT_HANDLER_ABI_MAJOR 1
#define ODEON_EVENT_HANDLER_ABI_MINOR 0
#define ODEON_EVENT_HANDLER_SYMBOL "odeon_event_handler_descriptor"
#define ODEON_EVENT_HANDLER_DESCRIPTOR_INIT \
    .abi_major = ODEON_EVENT_HANDLER_ABI_MAJOR, .abi_minor = ODEON_EVENT_HANDLER_ABI_MINOR, \
    .struct_size = sizeof(struct odeon_event_handler)

typedef struct odeon_event_handler {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;

    const char *package; /* "odeon.eventhandler.<name>" */
    const char *name;
    const char *description;
    const char *version_string;
    int version;

    /* Main thread, once. config_path may name a missing file. Non-zero stops start-up. */
    int (*init)(const char *config_path);
    /* Main thread, once, after the bus delivered its last event. */
    void (*destroy)(void);
    /* Which event types to receive (an OR of the bus's type values; 0xffff for all). Called
     * after init. */
    uint32_t (*events_mask)(void);
    /* Bus thread. envelope is borrowed: {"type","timestamp","emitter",["session_id"],
     * ["handle_id"],"event"}. */
    void (*handle_event)(json_t *envelope);
} odeon_event_handler;

#ifdef __cplusplus
}
#endif

#endif
