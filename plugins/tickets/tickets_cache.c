/*
 * tickets_cache.c - the events in memory.
 *
 * Entries are immutable once built: a change replaces the entry, under the write lock, and
 * rebuilds the sorted list of live events. Readers render under the read lock; the JSON they
 * take references to is never modified after it is built (jansson's reference counts are
 * atomic), so answers can be serialised after the lock is released.
 */
#include "tickets_cache.h"
#include "tickets.h"
#include "tickets_valid.h"

#include <stdlib.h>
#include <string.h>

typedef struct ticket_window {
    int64_t start, end; /* 0: open */
    int remaining;
} ticket_window;

typedef struct cache_entry {
    int64_t id;
    int64_t organisation_id;
    bool live;
    int64_t starts, ends;
    char *business_type;
    char *text; /* lower-cased title and description, for q */
    json_t *event;
    char *event_text; /* event as compact JSON: listings join these, not re-serialise */
    size_t event_len;
    int type_index;   /* in tickets_business_types, or -1 */
    json_t *types;    /* array, without on_sale */
    GArray *windows; /* ticket_window, same order as types */
} cache_entry;

static GRWLock lock;
static GHashTable *entries; /* int64 id -> cache_entry */
static GPtrArray *live;     /* cache_entry *, by starts then id */
/* The same per business type (the index in tickets_business_types), so that a filter by type
 * walks only its own events and a date range is two binary searches. */
static GPtrArray *live_by_type[16];
static uint64_t generation;
static bool ready;
static GHashTable *dirty; /* int64 ids waiting for a re-read (main thread) */
static guint dirty_timer;

static const char *load_sql =
    "SELECT e.id, e.organisation_id, e.status, extract(epoch FROM e.starts_at)::bigint, "
    "extract(epoch FROM e.ends_at)::bigint, e.business_type, "
    "lower(e.title || ' ' || e.description), tickets_event_json(e)::text, "
    "tickets_ticket_types_json(e.id)::text FROM tickets_events e";

static void entry_free(gpointer data)
{
    cache_entry *e = data;
    g_free(e->business_type);
    g_free(e->text);
    json_decref(e->event);
    free(e->event_text);
    json_decref(e->types);
    g_array_unref(e->windows);
    g_free(e);
}

static int64_t parse_time_field(json_t *obj, const char *key)
{
    int64_t t = 0;
    const char *s = json_string_value(json_object_get(obj, key));
    return s && tickets_parse_date(s, &t) ? t : 0;
}

static cache_entry *entry_from_row(const odeon_db_rows *rows, int i)
{
    const char *(*v)(const odeon_db_rows *, int, int) = tickets_core->db_rows_value;
    json_t *event = json_loads(v(rows, i, 7), 0, NULL);
    json_t *types = json_loads(v(rows, i, 8), 0, NULL);
    if (!json_is_object(event) || !json_is_array(types)) {
        /* Not from our own SQL functions: nothing to show. */
        json_decref(event);
        json_decref(types);
        return NULL;
    }
    cache_entry *e = g_new0(cache_entry, 1);
    e->id = g_ascii_strtoll(v(rows, i, 0), NULL, 10);
    e->organisation_id = g_ascii_strtoll(v(rows, i, 1), NULL, 10);
    e->live = strcmp(v(rows, i, 2), "live") == 0;
    e->starts = g_ascii_strtoll(v(rows, i, 3), NULL, 10);
    e->ends = g_ascii_strtoll(v(rows, i, 4), NULL, 10);
    e->business_type = g_strdup(v(rows, i, 5));
    e->text = g_strdup(v(rows, i, 6));
    e->event = event;
    e->event_text = json_dumps(event, JSON_COMPACT);
    e->event_len = e->event_text ? strlen(e->event_text) : 0;
    e->type_index = -1;
    for (int t = 0; tickets_business_types[t] != NULL; t++)
        if (strcmp(tickets_business_types[t], e->business_type) == 0)
            e->type_index = t;
    e->types = types;
    e->windows = g_array_new(FALSE, TRUE, sizeof(ticket_window));
    size_t k;
    json_t *t;
    json_array_foreach(types, k, t) {
        ticket_window w = {parse_time_field(t, "sales_start"), parse_time_field(t, "sales_end"),
                           (int)json_integer_value(json_object_get(t, "remaining"))};
        g_array_append_val(e->windows, w);
    }
    return e;
}

static gint live_order(gconstpointer a, gconstpointer b)
{
    const cache_entry *x = *(cache_entry *const *)a, *y = *(cache_entry *const *)b;
    if (x->starts != y->starts)
        return x->starts < y->starts ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Under the write lock. */
static void rebuild_live(void)
{
    g_ptr_array_set_size(live, 0);
    for (size_t t = 0; t < G_N_ELEMENTS(live_by_type); t++)
        g_ptr_array_set_size(live_by_type[t], 0);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, entries);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        cache_entry *e = value;
        if (!e->live || e->event_text == NULL)
            continue;
        g_ptr_array_add(live, e);
        if (e->type_index >= 0 && (size_t)e->type_index < G_N_ELEMENTS(live_by_type))
            g_ptr_array_add(live_by_type[e->type_index], e);
    }
    g_ptr_array_sort(live, live_order);
    for (size_t t = 0; t < G_N_ELEMENTS(live_by_type); t++)
        g_ptr_array_sort(live_by_type[t], live_order);
    generation++;
}

typedef struct load_request {
    GArray *ids; /* int64: the ids asked for (a partial load), NULL for all */
} load_request;

static void loaded(const odeon_db_rows *rows, const char *error, void *user_data)
{
    load_request *req = user_data;
    if (entries == NULL) {
        /* Answered while the plugin stops. */
    } else if (rows == NULL) {
        TICKETS_LOG(ODEON_LOG_WARN, "events cache: %s", error);
        /* Try again: the ids stay dirty. */
        for (guint i = 0; req->ids && i < req->ids->len; i++)
            tickets_cache_refresh(g_array_index(req->ids, int64_t, i));
    } else {
        g_rw_lock_writer_lock(&lock);
        if (req->ids == NULL)
            g_hash_table_remove_all(entries);
        for (guint i = 0; req->ids && i < req->ids->len; i++)
            g_hash_table_remove(entries, &g_array_index(req->ids, int64_t, i));
        for (int i = 0; i < tickets_core->db_rows_count(rows); i++) {
            cache_entry *e = entry_from_row(rows, i);
            if (e != NULL)
                g_hash_table_replace(entries, &e->id, e);
        }
        rebuild_live();
        if (req->ids == NULL)
            ready = true;
        g_rw_lock_writer_unlock(&lock);
    }
    if (req->ids)
        g_array_unref(req->ids);
    g_free(req);
}

static void load_all(void)
{
    load_request *req = g_new0(load_request, 1);
    if (tickets_core->db_query(load_sql, 0, NULL, loaded, req) != 0)
        g_free(req);
}

static gboolean load_dirty(gpointer data)
{
    (void)data;
    dirty_timer = 0;
    load_request *req = g_new0(load_request, 1);
    req->ids = g_array_new(FALSE, FALSE, sizeof(int64_t));
    GString *array = g_string_new("{");
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, dirty);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        int64_t id = *(int64_t *)key;
        g_array_append_val(req->ids, id);
        g_string_append_printf(array, "%s%" G_GINT64_FORMAT, array->len > 1 ? "," : "", id);
    }
    g_string_append_c(array, '}');
    g_hash_table_remove_all(dirty);
    char *sql = g_strconcat(load_sql, " WHERE e.id = ANY($1::bigint[])", NULL);
    const char *params[] = {array->str};
    if (tickets_core->db_query(sql, 1, params, loaded, req) != 0) {
        g_array_unref(req->ids);
        g_free(req);
    }
    g_free(sql);
    g_string_free(array, TRUE);
    return G_SOURCE_REMOVE;
}

void tickets_cache_refresh(int64_t event_id)
{
    if (dirty == NULL || event_id <= 0)
        return;
    int64_t *key = g_new(int64_t, 1);
    *key = event_id;
    g_hash_table_add(dirty, key);
    /* A burst of registrations changes one event many times a second: one re-read per 100 ms
     * carries them all. */
    if (dirty_timer == 0)
        dirty_timer = g_timeout_add(100, load_dirty, NULL);
}

static void events_changed(const char *channel, const char *payload, void *user_data)
{
    (void)channel;
    (void)user_data;
    if (payload == NULL) {
        load_all();
        return;
    }
    tickets_cache_refresh(g_ascii_strtoll(payload, NULL, 10));
}

void tickets_cache_init(void)
{
    g_rw_lock_init(&lock);
    entries = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, entry_free);
    live = g_ptr_array_new();
    for (size_t t = 0; t < G_N_ELEMENTS(live_by_type); t++)
        live_by_type[t] = g_ptr_array_new();
    dirty = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    ready = false;
}

int tickets_cache_listen(void)
{
    int rc = tickets_core->db_listen("tickets_events", events_changed, NULL);
    if (rc == 0)
        load_all();
    return rc;
}

void tickets_cache_free(void)
{
    if (entries == NULL)
        return;
    if (dirty_timer != 0)
        g_source_remove(dirty_timer);
    dirty_timer = 0;
    g_ptr_array_unref(live);
    for (size_t t = 0; t < G_N_ELEMENTS(live_by_type); t++)
        g_clear_pointer(&live_by_type[t], g_ptr_array_unref);
    g_hash_table_unref(entries);
    g_hash_table_unref(dirty);
    entries = NULL;
    live = NULL;
    dirty = NULL;
    g_rw_lock_clear(&lock);
}

bool tickets_cache_ready(void)
{
    g_rw_lock_reader_lock(&lock);
    bool r = ready;
    g_rw_lock_reader_unlock(&lock);
    return r;
}

uint64_t tickets_cache_generation(void)
{
    g_rw_lock_reader_lock(&lock);
    uint64_t g = generation;
    g_rw_lock_reader_unlock(&lock);
    return g;
}

int64_t tickets_cache_event_organisation(int64_t event_id)
{
    if (entries == NULL)
        return 0;
    g_rw_lock_reader_lock(&lock);
    cache_entry *e = g_hash_table_lookup(entries, &event_id);
    int64_t org = e ? e->organisation_id : 0;
    g_rw_lock_reader_unlock(&lock);
    return org;
}

/* q split into lower-cased words (at most 8). */
static char **query_words(const char *q)
{
    if (q == NULL || *q == '\0')
        return NULL;
    char *lower = g_utf8_strdown(q, -1);
    char **words = g_strsplit_set(lower, " \t", 9);
    g_free(lower);
    char **out = g_new0(char *, 9);
    int n = 0;
    for (char **w = words; *w && n < 8; w++)
        if (**w)
            out[n++] = g_strdup(*w);
    g_strfreev(words);
    return out;
}

static bool entry_matches(const cache_entry *e, char **words, int64_t now)
{
    if (e->ends <= now)
        return false;
    for (char **w = words; w && *w; w++)
        if (strstr(e->text, *w) == NULL)
            return false;
    return true;
}

/* The first index of arr whose event starts at or after t (arr is sorted by start). */
static guint lower_bound(GPtrArray *arr, int64_t t)
{
    guint lo = 0, hi = arr->len;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        if (((cache_entry *)g_ptr_array_index(arr, mid))->starts < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

char *tickets_cache_list_text(const tickets_filter *f, size_t *len)
{
    char **words = query_words(f->q);
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    int64_t skip = (int64_t)(f->page - 1) * f->per_page;
    int64_t total = 0, shown = 0;
    GString *out = g_string_sized_new(1024 + (gsize)f->per_page * 1024);
    g_string_append(out, "{\"events\":[");
    g_rw_lock_reader_lock(&lock);
    int type = -1;
    for (int t = 0; f->business_type && tickets_business_types[t] != NULL; t++)
        if (strcmp(tickets_business_types[t], f->business_type) == 0)
            type = t;
    GPtrArray *arr = type >= 0 && (size_t)type < G_N_ELEMENTS(live_by_type) ? live_by_type[type]
                                                                             : live;
    guint lo = f->has_from ? lower_bound(arr, f->from) : 0;
    guint hi = f->has_to ? lower_bound(arr, f->to) : arr->len;
    for (guint i = lo; i < hi; i++) {
        const cache_entry *e = g_ptr_array_index(arr, i);
        /* Without words, only events that started already can have ended: past those, every
         * remaining one matches, and the count needs no walk. */
        if (words == NULL && e->starts >= now) {
            guint rest = hi - i;
            for (guint k = 0; k < rest && total + (int64_t)k < skip + f->per_page; k++) {
                if (total + (int64_t)k < skip)
                    continue;
                const cache_entry *x = g_ptr_array_index(arr, i + k);
                if (shown++ > 0)
                    g_string_append_c(out, ',');
                g_string_append_len(out, x->event_text, (gssize)x->event_len);
            }
            total += rest;
            break;
        }
        if (!entry_matches(e, words, now))
            continue;
        if (total >= skip && shown < f->per_page) {
            if (shown++ > 0)
                g_string_append_c(out, ',');
            g_string_append_len(out, e->event_text, (gssize)e->event_len);
        }
        total++;
    }
    g_rw_lock_reader_unlock(&lock);
    g_strfreev(words);
    g_string_append_printf(out, "],\"total\":%" G_GINT64_FORMAT ",\"page\":%d,\"per_page\":%d}",
                           total, f->page, f->per_page);
    *len = out->len;
    return g_string_free(out, FALSE);
}

json_t *tickets_cache_list(const tickets_filter *f)
{
    size_t len = 0;
    char *text = tickets_cache_list_text(f, &len);
    json_t *out = json_loadb(text, len, 0, NULL);
    g_free(text);
    return out;
}

/* The ticket types with on_sale as of now (copies: the cached ones never change). */
static json_t *types_now(const cache_entry *e, int64_t now)
{
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(e->types, i, t) {
        const ticket_window *w = &g_array_index(e->windows, ticket_window, i);
        int64_t end = w->end ? w->end : e->ends;
        bool on_sale = e->live && w->remaining > 0 && (w->start == 0 || now >= w->start) &&
                       now < end;
        json_t *copy = json_copy(t);
        json_object_set_new(copy, "on_sale", json_boolean(on_sale));
        json_array_append_new(out, copy);
    }
    return out;
}

json_t *tickets_cache_event(int64_t event_id, bool include_drafts)
{
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    json_t *out = NULL;
    g_rw_lock_reader_lock(&lock);
    cache_entry *e = g_hash_table_lookup(entries, &event_id);
    if (e != NULL && (e->live || include_drafts))
        out = json_pack("{s:O, s:o, s:s, s:s}", "event", e->event, "ticket_types",
                        types_now(e, now), "terms_version", tickets_cfg.terms_version,
                        "consent_version", tickets_cfg.consent_version);
    g_rw_lock_reader_unlock(&lock);
    return out;
}
