/*
 * handlers.h - loads the event handler modules named in [events] handlers and subscribes them
 * to the event bus.
 */
#ifndef ODEON_EVENTS_HANDLERS_H
#define ODEON_EVENTS_HANDLERS_H

#include "events/eventbus.h"

typedef struct odeon_event_handlers odeon_event_handlers;

/* Load <plugins_dir>/odeon_evh_<name>.so for each name, init it with <config_dir>/<name>.conf,
 * subscribe it to bus (borrowed, must outlive the set). NULL with *error at the first failure
 * (everything loaded so far is unloaded). */
odeon_event_handlers *odeon_event_handlers_load(odeon_eventbus *bus, const char *plugins_dir,
                                                const char *config_dir, char *const *names,
                                                char **error);
/* Unsubscribe (after flushing the bus), destroy and unload, in reverse order. */
void odeon_event_handlers_free(odeon_event_handlers *handlers);
/* {package: {name, description, version_string, version}} (new reference). */
json_t *odeon_event_handlers_info_json(odeon_event_handlers *handlers);

#endif
