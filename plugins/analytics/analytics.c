/*
 * analytics.c - odeon.plugin.analytics: engagement events, presence heartbeats and the live
 * figures of an event (dashboard, Prometheus).
 *
 * Rows come from two places: participants' pages (join, a heartbeat every heartbeat_seconds,
 * leave or a closed page) and the other plugins' events on the bus (message sent, stage joined
 * or left, help requested, registered). Nothing is written on the request path: rows wait in
 * a queue and one batch at a time goes to PostgreSQL (analytics_ingest in
 * sql/006_analytics.sql, which derives connected time, attendees and the per-minute figures).
 * A batch that fails stays at the head of the queue and is tried again.
 *
 * Dashboards: an organiser's console asks for an event's figures once and gets them pushed
 * every dashboard_ms while it stays; the same figures, refreshed at least every 15 s for the
 * events this node has participants of, are what GET /metrics serves.
 *
 * Threads: requests on transport threads, bus events on the bus thread, database answers and
 * timers on the main thread. The queue is under queue_lock; sessions, dashboards and the
 * figures cache under state_lock. Events are pushed after the locks are released.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "../common/plugin_common.h"
#include "analytics_metrics.h"
#include "plugin/plugin.h"

static const odeon_core_callbacks *core;
extern const odeon_plugin odeon_plugin_descriptor;

#define LOG(level, ...) core->log(level, "analytics", __VA_ARGS__)
#define error_event(code, ...) odeon_plugin_error(core, "analytics", code, __VA_ARGS__)

/* An event's figures at the analytics clock ($2, unix seconds) with gap_seconds ($3). */
#define FIGURES_SQL \
    "SELECT analytics_dashboard($1::bigint, to_timestamp($2::float8), $3::int)::text"

enum {
    ANALYTICS_ERROR_INVALID_REQUEST = 470,
    ANALYTICS_ERROR_MISSING = 471,
    ANALYTICS_ERROR_INVALID = 472,
    ANALYTICS_ERROR_UNAUTHORIZED = 473,
    ANALYTICS_ERROR_NOT_JOINED = 474,
    ANALYTICS_ERROR_UNAVAILABLE = 475,
};

static struct {
    int heartbeat_seconds;
    int gap_seconds;
    int flush_ms;
    int max_batch;
    int max_queue;
    int dashboard_ms;
    bool test_clock;
} cfg;

/* Per handle; owned by the handle (set_handle_data), freed in destroy_session. */
typedef struct analytics_session {
    odeon_plugin_handle *handle;
    char *subject;
    int64_t joined_event;    /* the event whose page this is (0: not joined) */
    int64_t last_beat_ms;
    int64_t dashboard_event; /* watching this event's dashboard (0: no) */
} analytics_session;

/* What this node knows of an event. Owned by the events table. */
typedef struct event_figures {
    int64_t event_id;
    GPtrArray *dashboards; /* analytics_session * (borrowed) */
    guint local_pages;     /* joined handles here */
    json_t *latest;        /* the last figures read, or NULL */
    int64_t next_read_ms;
    bool reading;
} event_figures;

static GMutex queue_lock;
static json_t *queue;         /* rows waiting: [{e, s, k, t, d}] */
static json_t *in_flight;     /* the batch being written, or NULL */
static analytics_counters counters;

static GMutex state_lock;
static GHashTable *events;    /* int64 event id -> event_figures * */
static guint flush_timer, figures_timer;
static gint clock_offset_s; /* test_clock only (atomic) */

/* Wall-clock ms: rows from every node are compared, so this is real time, not monotonic. */
static int64_t now_ms(void)
{
    return g_get_real_time() / 1000 + (int64_t)g_atomic_int_get(&clock_offset_s) * 1000;
}

/* ---- the queue ---- */

/* Any thread. detail is stolen (may be NULL). */
static void queue_row(int64_t event_id, const char *subject, const char *kind, int64_t at_ms,
                      json_t *detail)
{
    if (event_id <= 0 || subject == NULL) {
        json_decref(detail);
        return;
    }
    json_t *row = json_pack("{s:I, s:s, s:s, s:I}", "e", (json_int_t)event_id, "s", subject,
                            "k", kind, "t", (json_int_t)at_ms);
    if (detail != NULL)
        json_object_set_new(row, "d", detail);
    g_mutex_lock(&queue_lock);
    if (queue != NULL && json_array_size(queue) < (size_t)cfg.max_queue) {
        json_array_append_new(queue, row);
        row = NULL;
    } else if (queue != NULL) {
        counters.dropped++;
    }
    g_mutex_unlock(&queue_lock);
    if (row != NULL) {
        json_decref(row);
        LOG(ODEON_LOG_WARN, "analytics queue full (%d rows): a %s row was dropped",
            cfg.max_queue, kind);
    }
}

static void flushed(const odeon_db_rows *rows, const char *error, void *user_data)
{
    (void)user_data;
    g_mutex_lock(&queue_lock);
    size_t n = json_array_size(in_flight);
    if (rows != NULL) {
        counters.rows_written += n;
        counters.batches++;
        counters.failing = false;
    } else if (queue != NULL) {
        /* Back at the head, in order, for the next tick. */
        json_array_extend(in_flight, queue);
        json_decref(queue);
        queue = json_incref(in_flight);
        counters.batch_failures++;
    }
    bool first_failure = rows == NULL && !counters.failing;
    if (rows == NULL)
        counters.failing = true;
    json_decref(in_flight);
    in_flight = NULL;
    g_mutex_unlock(&queue_lock);
    if (first_failure)
        LOG(ODEON_LOG_WARN, "analytics batch of %zu rows not written (%s); retrying", n,
            error ? error : "failed");
}

/* Main thread (timer) or the admin "flush": one batch at a time keeps this node's order. */
static gboolean flush_tick(gpointer data)
{
    (void)data;
    g_mutex_lock(&queue_lock);
    char *text = NULL;
    if (in_flight == NULL && queue != NULL && json_array_size(queue) > 0) {
        size_t n = json_array_size(queue);
        if (n <= (size_t)cfg.max_batch) {
            in_flight = queue;
            queue = json_array();
        } else {
            in_flight = json_array();
            for (size_t i = 0; i < (size_t)cfg.max_batch; i++)
                json_array_append(in_flight, json_array_get(queue, i));
            json_t *rest = json_array();
            for (size_t i = (size_t)cfg.max_batch; i < n; i++)
                json_array_append(rest, json_array_get(queue, i));
            json_decref(queue);
            queue = rest;
        }
        text = json_dumps(in_flight, JSON_COMPACT);
    }
    g_mutex_unlock(&queue_lock);
    if (text != NULL) {
        char gap[16];
        g_snprintf(gap, sizeof gap, "%d", cfg.gap_seconds);
        const char *params[] = {text, gap};
        if (core->db_query("SELECT analytics_ingest($1::json, $2::int)", 2, params, flushed,
                           NULL) != 0)
            flushed(NULL, "the database is closing", NULL);
        free(text);
    }
    return G_SOURCE_CONTINUE;
}

static gboolean flush_once(gpointer data)
{
    flush_tick(data);
    return G_SOURCE_REMOVE;
}

/* ---- events this node follows (under state_lock) ---- */

static event_figures *figures_get(int64_t event_id, bool create)
{
    event_figures *f = g_hash_table_lookup(events, &event_id);
    if (f == NULL && create) {
        f = g_new0(event_figures, 1);
        f->event_id = event_id;
        f->dashboards = g_ptr_array_new();
        g_hash_table_insert(events, g_memdup2(&event_id, sizeof event_id), f);
    }
    return f;
}

static void figures_free(gpointer data)
{
    event_figures *f = data;
    g_ptr_array_unref(f->dashboards);
    json_decref(f->latest);
    g_free(f);
}

/* Forgets an event nobody here follows any more (unless a read is in flight). */
static void figures_maybe_drop(event_figures *f)
{
    if (f->dashboards->len == 0 && f->local_pages == 0 && !f->reading)
        g_hash_table_remove(events, &f->event_id);
}

static void figures_read(event_figures *f);

typedef struct figures_job {
    int64_t event_id;
} figures_job;

static void figures_done(const odeon_db_rows *rows, const char *error, void *user_data)
{
    figures_job *job = user_data;
    json_t *stats = rows ? json_loads(core->db_rows_value(rows, 0, 0), 0, NULL) : NULL;
    if (rows == NULL)
        LOG(ODEON_LOG_WARN, "event %" G_GINT64_FORMAT " figures: %s", job->event_id,
            error ? error : "failed");
    GPtrArray *to = g_ptr_array_new();
    g_mutex_lock(&state_lock);
    event_figures *f = events ? figures_get(job->event_id, false) : NULL;
    if (f != NULL) {
        f->reading = false;
        if (stats != NULL) {
            json_decref(f->latest);
            f->latest = json_incref(stats);
            for (guint i = 0; i < f->dashboards->len; i++) {
                analytics_session *s = g_ptr_array_index(f->dashboards, i);
                g_ptr_array_add(to, core->handle_ref(s->handle));
            }
        }
        figures_maybe_drop(f);
    }
    g_mutex_unlock(&state_lock);
    if (stats != NULL) {
        json_t *ev = json_pack("{s:s, s:I, s:O}", "analytics", "dashboard", "event_id",
                               (json_int_t)job->event_id, "figures", stats);
        for (guint i = 0; i < to->len; i++) {
            core->push_event(g_ptr_array_index(to, i), NULL, ev, NULL);
            core->handle_unref(g_ptr_array_index(to, i));
        }
        json_decref(ev);
    }
    g_ptr_array_unref(to);
    json_decref(stats);
    g_free(job);
}

/* Under state_lock. */
static void figures_read(event_figures *f)
{
    if (f->reading)
        return;
    int64_t now = now_ms();
    f->next_read_ms = now + (f->dashboards->len > 0 ? cfg.dashboard_ms : 15000);
    char ev[24], at[32], gap[16];
    g_snprintf(at, sizeof at, "%.3f", (double)now / 1000.0);
    g_snprintf(gap, sizeof gap, "%d", cfg.gap_seconds);
    const char *params[] = {odeon_id_text(ev, f->event_id), at, gap};
    figures_job *job = g_new0(figures_job, 1);
    job->event_id = f->event_id;
    f->reading = true;
    if (core->db_query(FIGURES_SQL, 3, params, figures_done, job) != 0) {
        f->reading = false;
        g_free(job);
    }
}

static gboolean figures_tick(gpointer data)
{
    (void)data;
    int64_t now = now_ms();
    g_mutex_lock(&state_lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, events);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        event_figures *f = value;
        if (now >= f->next_read_ms)
            figures_read(f);
    }
    g_mutex_unlock(&state_lock);
    return G_SOURCE_CONTINUE;
}

/* ---- requests ---- */

typedef struct analytics_call {
    odeon_plugin_handle *handle; /* a reference */
    char *transaction;
    int64_t event_id;
    const char *reply;
} analytics_call;

static void call_done(const odeon_db_rows *rows, const char *error, void *user_data)
{
    analytics_call *c = user_data;
    json_t *ev;
    json_t *v = rows ? json_loads(core->db_rows_value(rows, 0, 0), 0, NULL) : NULL;
    if (v == NULL) {
        LOG(ODEON_LOG_WARN, "analytics read: %s", error ? error : "failed");
        ev = error_event(ANALYTICS_ERROR_UNAVAILABLE, "Analytics are unavailable; try again");
    } else {
        ev = json_pack("{s:s, s:I, s:o}", "analytics", c->reply, "event_id",
                       (json_int_t)c->event_id, strcmp(c->reply, "participants") == 0
                                                    ? "participants"
                                                    : "figures",
                       v);
    }
    core->push_event(c->handle, c->transaction, ev, NULL);
    json_decref(ev);
    core->handle_unref(c->handle);
    g_free(c->transaction);
    g_free(c);
}

/* sql takes $1 the event id, and when with_clock $2 the analytics clock (unix seconds) and
 * $3 gap_seconds. */
static json_t *read_async(odeon_plugin_handle *handle, const char *transaction, int64_t event_id,
                          const char *reply, const char *sql, bool with_clock)
{
    analytics_call *c = g_new0(analytics_call, 1);
    c->handle = core->handle_ref(handle);
    c->transaction = g_strdup(transaction);
    c->event_id = event_id;
    c->reply = reply;
    char ev[24], at[32], gap[16];
    g_snprintf(at, sizeof at, "%.3f", (double)now_ms() / 1000.0);
    g_snprintf(gap, sizeof gap, "%d", cfg.gap_seconds);
    const char *params[] = {odeon_id_text(ev, event_id), at, gap};
    if (core->db_query(sql, with_clock ? 3 : 1, params, call_done, c) != 0) {
        core->handle_unref(c->handle);
        g_free(c->transaction);
        g_free(c);
        return error_event(ANALYTICS_ERROR_UNAVAILABLE, "Analytics are unavailable");
    }
    return NULL;
}

/* Under state_lock: the session's page counts as joined to event_id. */
static void page_join_locked(analytics_session *s, int64_t event_id)
{
    s->joined_event = event_id;
    figures_get(event_id, true)->local_pages++;
}

/* Under state_lock: the page left (or closed); a disconnect row is queued by the caller. */
static void page_leave_locked(analytics_session *s)
{
    event_figures *f = figures_get(s->joined_event, false);
    if (f != NULL) {
        f->local_pages--;
        figures_maybe_drop(f);
    }
    s->joined_event = 0;
}

static json_t *req_join(analytics_session *s, int64_t event_id)
{
    int64_t now = now_ms();
    g_mutex_lock(&state_lock);
    int64_t was = s->joined_event;
    if (was != event_id) {
        if (was != 0)
            page_leave_locked(s);
        page_join_locked(s, event_id);
        s->last_beat_ms = now;
    }
    g_mutex_unlock(&state_lock);
    if (was != 0 && was != event_id)
        queue_row(was, s->subject, "disconnect", now, NULL);
    if (was != event_id)
        queue_row(event_id, s->subject, "connect", now, NULL);
    return json_pack("{s:s, s:I, s:i}", "analytics", "joined", "event_id", (json_int_t)event_id,
                     "heartbeat_seconds", cfg.heartbeat_seconds);
}

static json_t *req_heartbeat(analytics_session *s, int64_t event_id)
{
    int64_t now = now_ms();
    g_mutex_lock(&state_lock);
    bool joined = s->joined_event == event_id;
    /* A page beating faster than a quarter of the interval adds nothing but rows. */
    bool take = joined && now - s->last_beat_ms >= cfg.heartbeat_seconds * 250;
    if (take)
        s->last_beat_ms = now;
    g_mutex_unlock(&state_lock);
    if (!joined)
        return error_event(ANALYTICS_ERROR_NOT_JOINED, "Join the event first");
    if (take)
        queue_row(event_id, s->subject, "heartbeat", now, NULL);
    return json_pack("{s:s, s:I, s:b}", "analytics", "ok", "event_id", (json_int_t)event_id,
                     "counted", take);
}

static json_t *req_leave(analytics_session *s, int64_t event_id)
{
    g_mutex_lock(&state_lock);
    bool joined = s->joined_event == event_id;
    if (joined)
        page_leave_locked(s);
    g_mutex_unlock(&state_lock);
    if (!joined)
        return error_event(ANALYTICS_ERROR_NOT_JOINED, "Not joined to this event");
    queue_row(event_id, s->subject, "disconnect", now_ms(), NULL);
    return json_pack("{s:s, s:I}", "analytics", "left", "event_id", (json_int_t)event_id);
}

static json_t *req_dashboard(analytics_session *s, const char *transaction, int64_t event_id)
{
    g_mutex_lock(&state_lock);
    if (s->dashboard_event != 0 && s->dashboard_event != event_id) {
        event_figures *old = figures_get(s->dashboard_event, false);
        if (old != NULL) {
            g_ptr_array_remove(old->dashboards, s);
            figures_maybe_drop(old);
        }
    }
    event_figures *f = figures_get(event_id, true);
    if (!g_ptr_array_find(f->dashboards, s, NULL))
        g_ptr_array_add(f->dashboards, s);
    s->dashboard_event = event_id;
    if (f->next_read_ms > now_ms() + cfg.dashboard_ms)
        f->next_read_ms = 0; /* it was on the slow (metrics) pace */
    g_mutex_unlock(&state_lock);
    return read_async(s->handle, transaction, event_id, "figures", FIGURES_SQL, true);
}

static json_t *req_undashboard(analytics_session *s, int64_t event_id)
{
    g_mutex_lock(&state_lock);
    bool was = s->dashboard_event == event_id;
    event_figures *f = was ? figures_get(event_id, false) : NULL;
    if (f != NULL) {
        g_ptr_array_remove(f->dashboards, s);
        figures_maybe_drop(f);
    }
    if (was)
        s->dashboard_event = 0;
    g_mutex_unlock(&state_lock);
    if (!was)
        return error_event(ANALYTICS_ERROR_INVALID, "Not watching this event's dashboard");
    return json_pack("{s:s, s:I}", "analytics", "undashboard", "event_id", (json_int_t)event_id);
}

static json_t *dispatch(analytics_session *s, const char *transaction, const char *request,
                        int64_t event_id)
{
    int rank = odeon_event_rank(core, s->handle, event_id);
    if (s->subject == NULL || rank == 0)
        return error_event(ANALYTICS_ERROR_UNAUTHORIZED, "Unauthorized (no role in this event)");
    if (strcmp(request, "join") == 0)
        return req_join(s, event_id);
    if (strcmp(request, "heartbeat") == 0)
        return req_heartbeat(s, event_id);
    if (strcmp(request, "leave") == 0)
        return req_leave(s, event_id);
    bool staff = strcmp(request, "dashboard") == 0 || strcmp(request, "undashboard") == 0 ||
                 strcmp(request, "figures") == 0 || strcmp(request, "participants") == 0;
    if (!staff)
        return error_event(ANALYTICS_ERROR_INVALID_REQUEST, "Unknown request");
    if (rank < odeon_role_rank(strcmp(request, "participants") == 0 ? "organiser" : "host"))
        return error_event(ANALYTICS_ERROR_UNAUTHORIZED, "Unauthorized (%s only)",
                           strcmp(request, "participants") == 0 ? "organisers"
                                                                : "hosts and organisers");
    if (strcmp(request, "dashboard") == 0)
        return req_dashboard(s, transaction, event_id);
    if (strcmp(request, "undashboard") == 0)
        return req_undashboard(s, event_id);
    if (strcmp(request, "figures") == 0)
        return read_async(s->handle, transaction, event_id, "figures", FIGURES_SQL, true);
    return read_async(s->handle, transaction, event_id, "participants",
                      "SELECT analytics_participants($1::bigint)::text", false);
}

static odeon_plugin_result analytics_handle_message(odeon_plugin_handle *handle,
                                                    const char *transaction, json_t *body,
                                                    json_t *jsep)
{
    (void)jsep;
    const char *request = json_string_value(json_object_get(body, "request"));
    int64_t event_id = 0;
    json_t *answer;
    analytics_session *s = core->get_handle_data(handle);
    if (request == NULL)
        answer = error_event(ANALYTICS_ERROR_MISSING, "Missing element (request)");
    else if (!odeon_body_id(body, "event_id", &event_id))
        answer = error_event(json_object_get(body, "event_id") ? ANALYTICS_ERROR_INVALID
                                                               : ANALYTICS_ERROR_MISSING,
                             "%s element (event_id)",
                             json_object_get(body, "event_id") ? "Invalid" : "Missing");
    else
        answer = dispatch(s, transaction, request, event_id);
    if (answer == NULL)
        return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT};
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = answer};
}

/* ---- the bus: the other plugins' engagement events ---- */

static void bus_event(json_t *envelope, void *user_data)
{
    (void)user_data;
    json_t *body = json_object_get(envelope, "event");
    const char *plugin = json_string_value(json_object_get(body, "plugin"));
    json_t *data = json_object_get(body, "data");
    const char *what = json_string_value(json_object_get(data, "event"));
    if (plugin == NULL || what == NULL)
        return;
    analytics_bus_row row;
    if (!analytics_bus_map(plugin, data, &row))
        return;
    queue_row(row.event_id, row.subject, row.kind, now_ms(), row.detail);
}

/* ---- sessions ---- */

static int analytics_create_session(odeon_plugin_handle *handle)
{
    analytics_session *s = g_new0(analytics_session, 1);
    s->handle = handle;
    const odeon_identity *id = core->identity(handle);
    s->subject = g_strdup(id ? id->subject : NULL);
    core->set_handle_data(handle, s);
    return 0;
}

static void analytics_destroy_session(odeon_plugin_handle *handle)
{
    g_mutex_lock(&state_lock);
    analytics_session *s = core->get_handle_data(handle);
    core->set_handle_data(handle, NULL);
    int64_t left = 0;
    if (s != NULL && events != NULL) {
        left = s->joined_event;
        if (left != 0)
            page_leave_locked(s);
        event_figures *f = s->dashboard_event ? figures_get(s->dashboard_event, false) : NULL;
        if (f != NULL) {
            g_ptr_array_remove(f->dashboards, s);
            figures_maybe_drop(f);
        }
    }
    g_mutex_unlock(&state_lock);
    if (s == NULL)
        return;
    /* A closed tab or a lost connection: the page is gone now. */
    if (left != 0)
        queue_row(left, s->subject, "disconnect", now_ms(), NULL);
    g_free(s->subject);
    g_free(s);
}

static json_t *analytics_query_session(odeon_plugin_handle *handle)
{
    g_mutex_lock(&state_lock);
    analytics_session *s = core->get_handle_data(handle);
    json_t *info = json_pack("{s:I, s:I}", "joined_event", (json_int_t)s->joined_event,
                             "dashboard_event", (json_int_t)s->dashboard_event);
    g_mutex_unlock(&state_lock);
    return info;
}

/* Admin API (message_plugin): "flush" writes the queue now; "advance_clock" (only with
 * test_clock) moves this node's analytics clock forward, to rehearse an hour in seconds. */
static json_t *analytics_admin_message(json_t *body)
{
    const char *request = json_string_value(json_object_get(body, "request"));
    if (g_strcmp0(request, "flush") == 0) {
        g_idle_add(flush_once, NULL);
        return json_pack("{s:s}", "analytics", "flushing");
    }
    if (g_strcmp0(request, "advance_clock") == 0) {
        json_t *sec = json_object_get(body, "seconds");
        if (!cfg.test_clock)
            return json_pack("{s:s, s:i, s:s}", "analytics", "error", "error_code",
                             ANALYTICS_ERROR_UNAUTHORIZED, "error",
                             "advance_clock needs test_clock = true in analytics.conf");
        if (!json_is_integer(sec) || json_integer_value(sec) < 1 ||
            json_integer_value(sec) > 86400)
            return json_pack("{s:s, s:i, s:s}", "analytics", "error", "error_code",
                             ANALYTICS_ERROR_INVALID, "error", "seconds: 1..86400");
        g_atomic_int_add(&clock_offset_s, (gint)json_integer_value(sec));
        return json_pack("{s:s, s:I}", "analytics", "clock", "now_ms", (json_int_t)now_ms());
    }
    return json_pack("{s:s, s:i, s:s}", "analytics", "error", "error_code",
                     ANALYTICS_ERROR_INVALID_REQUEST, "error", "Unknown request");
}

static char *analytics_metrics(void)
{
    GString *out = g_string_new(NULL);
    g_mutex_lock(&queue_lock);
    analytics_counters snap = counters;
    snap.queued = json_array_size(queue) + json_array_size(in_flight);
    g_mutex_unlock(&queue_lock);
    analytics_metrics_counters(out, &snap);
    g_mutex_lock(&state_lock);
    GPtrArray *figures = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
    GArray *pages = g_array_new(FALSE, FALSE, sizeof(guint));
    if (events != NULL) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, events);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            event_figures *f = value;
            json_t *j = f->latest ? json_incref(f->latest)
                                  : json_pack("{s:I}", "event_id", (json_int_t)f->event_id);
            g_ptr_array_add(figures, j);
            g_array_append_val(pages, f->local_pages);
        }
    }
    g_mutex_unlock(&state_lock);
    analytics_metrics_events(out, figures, (const guint *)(void *)pages->data);
    g_ptr_array_unref(figures);
    g_array_free(pages, TRUE);
    return g_string_free(out, FALSE);
}

/* ---- init ---- */

static bool analytics_configure(const char *config_path)
{
    GKeyFile *kf = g_key_file_new();
    g_key_file_load_from_file(kf, config_path, G_KEY_FILE_NONE, NULL);
    bool ok = true;
    const char *m = "analytics", *g = "general";
    cfg.heartbeat_seconds = odeon_conf_int(core, m, kf, g, "heartbeat_seconds", 60, 5, 600, &ok);
    cfg.gap_seconds = odeon_conf_int(core, m, kf, g, "gap_seconds", cfg.heartbeat_seconds * 5 / 2,
                                     cfg.heartbeat_seconds, 3600, &ok);
    cfg.flush_ms = odeon_conf_int(core, m, kf, g, "flush_ms", 1000, 50, 60000, &ok);
    cfg.max_batch = odeon_conf_int(core, m, kf, g, "max_batch", 2000, 10, 100000, &ok);
    cfg.max_queue = odeon_conf_int(core, m, kf, g, "max_queue", 200000, 1000, 10000000, &ok);
    cfg.dashboard_ms = odeon_conf_int(core, m, kf, g, "dashboard_ms", 2000, 250, 60000, &ok);
    cfg.test_clock = g_key_file_get_boolean(kf, g, "test_clock", NULL);
    g_key_file_free(kf);
    return ok;
}

static int analytics_init(const odeon_core_callbacks *callbacks, const char *config_path)
{
    core = callbacks;
    if (core->struct_size < offsetof(odeon_core_callbacks, events_subscribe) + sizeof(void *)) {
        core->log(ODEON_LOG_ERROR, "analytics", "this core is too old (needs plugin ABI 1.7)");
        return -1;
    }
    if (!analytics_configure(config_path))
        return -1;
    char ping[4] = "1";
    const char *params[] = {ping};
    if (core->db_query("SELECT $1::int", 1, params, NULL, NULL) != 0) {
        LOG(ODEON_LOG_ERROR, "the analytics plugin needs [database] in odeon.conf");
        return -1;
    }
    g_mutex_init(&queue_lock);
    g_mutex_init(&state_lock);
    memset(&counters, 0, sizeof counters);
    queue = json_array();
    events = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, figures_free);
    if (core->events_subscribe(&odeon_plugin_descriptor, 64 /* plugin events */, bus_event,
                               NULL) != 0) {
        LOG(ODEON_LOG_ERROR, "the analytics plugin needs the event bus ([events] enabled)");
        g_clear_pointer(&queue, json_decref);
        g_clear_pointer(&events, g_hash_table_unref);
        return -1;
    }
    flush_timer = g_timeout_add((guint)cfg.flush_ms, flush_tick, NULL);
    figures_timer = g_timeout_add(250, figures_tick, NULL);
    LOG(ODEON_LOG_INFO, "analytics ready: heartbeats every %d s, batches every %d ms%s",
        cfg.heartbeat_seconds, cfg.flush_ms, cfg.test_clock ? " (test clock)" : "");
    return 0;
}

static void analytics_destroy(void)
{
    if (flush_timer)
        g_source_remove(flush_timer);
    if (figures_timer)
        g_source_remove(figures_timer);
    flush_timer = figures_timer = 0;
    /* Every session is gone (their disconnects are queued): write what is left. The core
     * drains queries after destroy, so the last batch lands before the pool closes. */
    flush_tick(NULL);
    g_mutex_lock(&queue_lock);
    size_t lost = json_array_size(queue);
    g_clear_pointer(&queue, json_decref); /* the batch in flight is freed by flushed() */
    g_mutex_unlock(&queue_lock);
    if (lost > 0)
        LOG(ODEON_LOG_WARN, "%zu analytics rows not written at shut-down", lost);
    g_mutex_lock(&state_lock);
    g_clear_pointer(&events, g_hash_table_unref);
    g_mutex_unlock(&state_lock);
}

const odeon_plugin odeon_plugin_descriptor = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = "odeon.plugin.analytics",
    .name = "Analytics",
    .description = "Engagement events, presence heartbeats and live event figures",
    .author = "The Odeon developers",
    .version_string = "0.1.0",
    .version = 1,
    .init = analytics_init,
    .destroy = analytics_destroy,
    .create_session = analytics_create_session,
    .handle_message = analytics_handle_message,
    .handle_admin_message = analytics_admin_message,
    .destroy_session = analytics_destroy_session,
    .query_session = analytics_query_session,
    .metrics = analytics_metrics,
};
