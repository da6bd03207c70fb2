/*
 * tickets_cache.h - every node's in-memory copy of the events, for the public listing and
 * detail (plugin requests and GET /api/events) and for roles (which organisation owns an
 * event), so that neither costs a database round trip.
 *
 * Loaded at start-up and kept current by NOTIFY tickets_events (a trigger announces every
 * change of an event or its ticket types, seat counts included); changes arriving together are
 * re-read in one statement after a short delay. When the listener reconnects, everything is
 * re-read. Readers on any thread; writers on the main thread.
 */
#ifndef ODEON_TICKETS_CACHE_H
#define ODEON_TICKETS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "tickets_filter.h"


void tickets_cache_init(void);
void tickets_cache_free(void);
/* LISTEN and the first load; 0 or ODEON_ENOTSUP without a database. Main thread. */
int tickets_cache_listen(void);
/* Whether the first load finished. */
bool tickets_cache_ready(void);
/* Changes with every applied change (for response caches and ETags). */
uint64_t tickets_cache_generation(void);

/* Owner of an event (any status), 0 if unknown. */
int64_t tickets_cache_event_organisation(int64_t event_id);
/* {"events": [...], "total", "page", "per_page"}: upcoming live events by start, as compact
 * JSON text (g_free; *len its length), joined from each event's stored text. */
char *tickets_cache_list_text(const tickets_filter *filter, size_t *len);
/* The same as a JSON value (new reference). */
json_t *tickets_cache_list(const tickets_filter *filter);
/* {"event", "ticket_types"} of a live event (any event with include_drafts), else NULL. */
json_t *tickets_cache_event(int64_t event_id, bool include_drafts);

/* Asks for a re-read of one event now (after a change this node made, so that its own next
 * read sees it without waiting for the notification). Main thread. */
void tickets_cache_refresh(int64_t event_id);

#endif
