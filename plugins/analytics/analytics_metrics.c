/*
 * analytics_metrics.c - see analytics_metrics.h.
 */
#include "analytics_metrics.h"

#include <string.h>

/* An event id as a JSON integer or a string of digits (the stage plugin keeps it as text). */
static int64_t event_id_of(json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? json_integer_value(v) : 0;
    const char *s = json_string_value(v);
    if (s == NULL || *s == '\0' || strlen(s) > 18)
        return 0;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isdigit(*p))
            return 0;
    return g_ascii_strtoll(s, NULL, 10);
}

bool analytics_bus_map(const char *plugin, json_t *data, analytics_bus_row *row)
{
    static const struct {
        const char *plugin, *event, *kind, *subject_key, *detail_key;
    } map[] = {
        {"odeon.plugin.chat", "message_sent", "message_sent", "sender", "room"},
        {"odeon.plugin.help", "help_requested", "help_requested", "subject", "group_id"},
        {"odeon.plugin.stage", "joined", "stage_joined", "subject", "stage"},
        {"odeon.plugin.stage", "left", "stage_left", "subject", "stage"},
        {"odeon.plugin.tickets", "registered", "registered", "subject", "ticket_type_id"},
        {"odeon.plugin.tickets", "submitted", "submission", "subject", "group_id"},
    };
    const char *what = json_string_value(json_object_get(data, "event"));
    if (plugin == NULL || what == NULL)
        return false;
    for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
        if (strcmp(plugin, map[i].plugin) != 0 || strcmp(what, map[i].event) != 0)
            continue;
        row->event_id = event_id_of(json_object_get(data, "event_id"));
        row->subject = json_string_value(json_object_get(data, map[i].subject_key));
        row->kind = map[i].kind;
        if (row->event_id <= 0 || row->subject == NULL)
            return false;
        json_t *d = json_object_get(data, map[i].detail_key);
        row->detail = NULL;
        if (d != NULL && !json_is_null(d))
            row->detail = json_pack("{s:O}", map[i].detail_key, d);
        return true;
    }
    return false;
}

static void family(GString *out, const char *name, const char *type, const char *help)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void analytics_metrics_counters(GString *out, const analytics_counters *c)
{
    family(out, "odeon_analytics_rows_written_total", "counter",
           "Engagement and presence rows this node wrote to PostgreSQL.");
    g_string_append_printf(out, "odeon_analytics_rows_written_total %" G_GUINT64_FORMAT "\n",
                           c->rows_written);
    family(out, "odeon_analytics_batches_total", "counter", "Batches written.");
    g_string_append_printf(out, "odeon_analytics_batches_total %" G_GUINT64_FORMAT "\n",
                           c->batches);
    family(out, "odeon_analytics_batch_failures_total", "counter",
           "Batches that failed (and were tried again).");
    g_string_append_printf(out, "odeon_analytics_batch_failures_total %" G_GUINT64_FORMAT "\n",
                           c->batch_failures);
    family(out, "odeon_analytics_rows_dropped_total", "counter",
           "Rows dropped because the queue was full.");
    g_string_append_printf(out, "odeon_analytics_rows_dropped_total %" G_GUINT64_FORMAT "\n",
                           c->dropped);
    family(out, "odeon_analytics_queue_rows", "gauge", "Rows waiting to be written.");
    g_string_append_printf(out, "odeon_analytics_queue_rows %zu\n", c->queued);
}

void analytics_metrics_events(GString *out, GPtrArray *figures, const guint *local_pages)
{
    static const struct {
        const char *key, *name, *type, *help;
    } fields[] = {
        {"current_viewers", "odeon_event_current_viewers", "gauge",
         "Participants connected now (cluster-wide)."},
        {"attendees", "odeon_event_attendees", "gauge",
         "Participants who attended, each counted once (cluster-wide)."},
        {"registered", "odeon_event_registered", "gauge", "Confirmed registrations."},
        {"peak_concurrent", "odeon_event_peak_concurrent", "gauge",
         "Most participants present in one minute."},
        {"messages_total", "odeon_event_messages_total", "counter", "Chat messages sent."},
        {"messages_per_minute", "odeon_event_messages_per_minute", "gauge",
         "Chat messages sent in the last complete minute."},
        {"open_help", "odeon_event_open_help_requests", "gauge",
         "Help requests open or claimed."},
    };
    for (size_t k = 0; k < G_N_ELEMENTS(fields); k++) {
        bool any = false;
        for (guint i = 0; i < figures->len; i++) {
            json_t *f = g_ptr_array_index(figures, i);
            json_t *v = json_object_get(f, fields[k].key);
            if (!json_is_integer(v))
                continue;
            if (!any)
                family(out, fields[k].name, fields[k].type, fields[k].help);
            any = true;
            g_string_append_printf(out, "%s{event=\"%" JSON_INTEGER_FORMAT "\"} %" JSON_INTEGER_FORMAT "\n",
                                   fields[k].name,
                                   json_integer_value(json_object_get(f, "event_id")),
                                   json_integer_value(v));
        }
    }
    if (figures->len == 0)
        return;
    family(out, "odeon_event_local_pages", "gauge",
           "Participants' pages joined to the event on this node.");
    for (guint i = 0; i < figures->len; i++)
        g_string_append_printf(out, "odeon_event_local_pages{event=\"%" JSON_INTEGER_FORMAT "\"} %u\n",
                               json_integer_value(json_object_get(g_ptr_array_index(figures, i),
                                                                  "event_id")),
                               local_pages[i]);
}
