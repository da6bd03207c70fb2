/*
 * analytics_metrics.h - the analytics plugin's pure parts: which bus events become engagement
 * rows, and the Prometheus text of its counters and of the events' figures.
 */
#ifndef ODEON_ANALYTICS_METRICS_H
#define ODEON_ANALYTICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <jansson.h>

typedef struct analytics_counters {
    uint64_t rows_written;
    uint64_t batches;
    uint64_t batch_failures;
    uint64_t dropped;
    size_t queued;
    bool failing; /* the last batch failed (logged once per streak) */
} analytics_counters;

/* An engagement row from another plugin's bus event. subject is borrowed from the event;
 * detail is a new reference (or NULL) that the caller owns. */
typedef struct analytics_bus_row {
    int64_t event_id;
    const char *subject;
    const char *kind;
    json_t *detail;
} analytics_bus_row;

/* Whether plugin's event data (the "data" of a plugin event) is an engagement event. */
bool analytics_bus_map(const char *plugin, json_t *data, analytics_bus_row *row);

void analytics_metrics_counters(GString *out, const analytics_counters *c);
/* figures: the events' last figures (analytics_dashboard's JSON; {"event_id"} when none
 * were read yet); local_pages[i]: pages joined on this node for figures[i]. */
void analytics_metrics_events(GString *out, GPtrArray *figures, const guint *local_pages);

#endif
