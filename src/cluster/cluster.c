/*
 * cluster.c - node registry, heartbeat and placement (see cluster.h).
 *
 * Every statement is a parameterised query through the pool; the SQL lives here and in
 * sql/001_nodes.sql, nowhere else in the core.
 */
#include "cluster/cluster.h"

#include <string.h>
#include <sys/resource.h>

#include <glib.h>

#include "core/log.h"

#define LOG_MODULE "cluster"
#define PURGE_EVERY_BEATS 60

struct odeon_cluster {
    char *node_id, *role, *public_url, *upstream, *secret;
    unsigned capacity, heartbeat_ms, dead_after_ms;
    odeon_db *db;
    guint heartbeat_source;
    guint first_source;
    GMutex lock;         /* reports, registry, cpu */
    GHashTable *reports; /* reporter -> json_t * */
    GHashTable *report_times; /* reporter -> gint64 * (monotonic µs of its last report) */
    json_t *registry;    /* array of node rows as last read */
    double cpu;          /* cores busy over the last beat */
    gint64 cpu_last_us, wall_last_us;
    bool beat_running;
    bool started; /* first heartbeat written (started_at set) */
    unsigned beats;
    gint draining;       /* atomic */
    gint places_running; /* placements whose answer is still to come (atomic) */
    GQueue place_queue;  /* place_call * waiting their turn; under lock */
    bool place_inflight; /* under lock */
    odeon_node_info info;
};

typedef struct place_call place_call;
static void place_call_free(place_call *call);

static odeon_cluster *current;

void odeon_cluster_set_current(odeon_cluster *cluster)
{
    current = cluster;
}

odeon_cluster *odeon_cluster_current(void)
{
    return current;
}

const char *odeon_cluster_node_id(const odeon_cluster *c)
{
    return c->node_id;
}

const char *odeon_cluster_role(const odeon_cluster *c)
{
    return c->role;
}

const char *odeon_cluster_public_url(const odeon_cluster *c)
{
    return c->public_url;
}

const char *odeon_cluster_upstream(const odeon_cluster *c)
{
    return c->upstream;
}

unsigned odeon_cluster_capacity(const odeon_cluster *c)
{
    return c->capacity;
}

const char *odeon_cluster_secret(const odeon_cluster *c)
{
    return c->secret;
}

const odeon_node_info *odeon_cluster_info(const odeon_cluster *c)
{
    return &c->info;
}

static gint64 process_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (gint64)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * G_USEC_PER_SEC +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* Sums of the plugins' reports, with the lock held. */
static void load_totals_locked(odeon_cluster *c, json_int_t *viewers, json_int_t *bitrate,
                               json_t *links)
{
    *viewers = 0;
    *bitrate = 0;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, c->reports);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        json_t *r = value;
        *viewers += json_integer_value(json_object_get(r, "viewers"));
        *bitrate += json_integer_value(json_object_get(r, "bitrate_out"));
        json_t *l = json_object_get(r, "links");
        if (json_is_array(l))
            json_array_extend(links, l);
    }
}

static json_t *self_json_locked(odeon_cluster *c)
{
    json_int_t viewers, bitrate;
    json_t *links = json_array();
    load_totals_locked(c, &viewers, &bitrate, links);
    json_t *self = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:o, s:b}", "id", c->node_id,
                             "role", c->role, "public_url", c->public_url, "capacity",
                             (json_int_t)c->capacity, "viewers", viewers, "bitrate_out", bitrate,
                             "cpu", c->cpu, "links", links, "draining", odeon_cluster_draining(c));
    if (c->upstream)
        json_object_set_new(self, "upstream", json_string(c->upstream));
    return self;
}

static void registry_read_done(const PGresult *res, const char *error, void *data)
{
    odeon_cluster *c = data;
    if (res == NULL) {
        LOG_WARN("reading the node registry failed: %s", error);
        return;
    }
    json_t *rows = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_error_t jerr;
        json_t *links = json_loads(PQgetvalue(res, i, 8), 0, &jerr);
        json_t *row = json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:o, s:b, s:I, s:b, s:s}", "id",
            PQgetvalue(res, i, 0), "role", PQgetvalue(res, i, 1), "public_url",
            PQgetvalue(res, i, 2), "capacity", g_ascii_strtoll(PQgetvalue(res, i, 4), NULL, 10),
            "viewers", g_ascii_strtoll(PQgetvalue(res, i, 5), NULL, 10), "bitrate_out",
            g_ascii_strtoll(PQgetvalue(res, i, 6), NULL, 10), "cpu",
            g_ascii_strtod(PQgetvalue(res, i, 7), NULL), "links", links ? links : json_array(),
            "draining", PQgetvalue(res, i, 9)[0] == 't', "heartbeat_age_ms",
            g_ascii_strtoll(PQgetvalue(res, i, 10), NULL, 10), "live",
            PQgetvalue(res, i, 11)[0] == 't', "started_at", PQgetvalue(res, i, 12));
        if (!PQgetisnull(res, i, 3))
            json_object_set_new(row, "upstream", json_string(PQgetvalue(res, i, 3)));
        json_array_append_new(rows, row);
    }
    g_mutex_lock(&c->lock);
    json_decref(c->registry);
    c->registry = rows;
    g_mutex_unlock(&c->lock);
}

static void registry_read(odeon_cluster *c)
{
    char dead[16];
    g_snprintf(dead, sizeof dead, "%u", c->dead_after_ms);
    const char *params[] = {dead};
    odeon_db_query(c->db,
                   "SELECT id, role, public_url, upstream, capacity, viewers, bitrate_out, cpu, "
                   "links::text, draining, "
                   "(extract(epoch FROM now() - heartbeat_at) * 1000)::bigint, "
                   "heartbeat_at > now() - make_interval(secs => $1::int / 1000.0), "
                   "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                   "FROM odeon_nodes ORDER BY id",
                   1, params, registry_read_done, c);
}

static void heartbeat_done(const PGresult *res, const char *error, void *data)
{
    odeon_cluster *c = data;
    c->beat_running = false;
    if (res == NULL) {
        LOG_WARN("heartbeat not recorded: %s", error);
        return;
    }
    c->started = true;
    registry_read(c);
}

static void cpu_sample_locked(odeon_cluster *c)
{
    gint64 cpu = process_cpu_us(), wall = g_get_monotonic_time();
    if (c->wall_last_us != 0 && wall > c->wall_last_us)
        c->cpu = (double)(cpu - c->cpu_last_us) / (double)(wall - c->wall_last_us);
    c->cpu_last_us = cpu;
    c->wall_last_us = wall;
}

/* How old the oldest plugin report is: the viewers it counts are as of that time. */
static gint64 report_age_ms_locked(odeon_cluster *c)
{
    gint64 now = g_get_monotonic_time(), oldest = now;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, c->report_times);
    while (g_hash_table_iter_next(&it, NULL, &value))
        oldest = MIN(oldest, *(gint64 *)value);
    return (now - oldest) / 1000;
}

static gboolean on_heartbeat(gpointer data)
{
    odeon_cluster *c = data;
    if (c->beat_running)
        return G_SOURCE_CONTINUE; /* the database is slow: never pile beats up */
    g_mutex_lock(&c->lock);
    cpu_sample_locked(c);
    json_int_t viewers, bitrate;
    json_t *links = json_array();
    load_totals_locked(c, &viewers, &bitrate, links);
    double cpu = c->cpu;
    /* 200 ms more than the report's age: the statement may run a little after this, and a
     * viewer counted twice for a moment is better than one counted nowhere. */
    gint64 age_ms = report_age_ms_locked(c) + 200;
    g_mutex_unlock(&c->lock);
    char capacity[16], viewers_s[24], bitrate_s[24], cpu_s[32], age_s[24];
    g_snprintf(age_s, sizeof age_s, "%" G_GINT64_FORMAT, age_ms);
    g_snprintf(capacity, sizeof capacity, "%u", c->capacity);
    g_snprintf(viewers_s, sizeof viewers_s, "%" JSON_INTEGER_FORMAT, viewers);
    g_snprintf(bitrate_s, sizeof bitrate_s, "%" JSON_INTEGER_FORMAT, bitrate);
    g_ascii_formatd(cpu_s, sizeof cpu_s, "%.3f", cpu);
    char *links_s = json_dumps(links, JSON_COMPACT);
    json_decref(links);
    const char *params[] = {c->node_id,
                            c->role,
                            c->public_url,
                            c->upstream,
                            capacity,
                            viewers_s,
                            bitrate_s,
                            cpu_s,
                            links_s,
                            c->started ? "f" : "t",
                            odeon_cluster_draining(c) ? "t" : "f",
                            age_s};
    c->beat_running = true;
    odeon_db_query(c->db,
                   "INSERT INTO odeon_nodes (id, role, public_url, upstream, capacity, viewers, "
                   "bitrate_out, cpu, links, draining, started_at, heartbeat_at, counted_at) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $11, now(), now(), "
                   "now() - make_interval(secs => $12::int / 1000.0)) "
                   "ON CONFLICT (id) DO UPDATE SET role = $2, public_url = $3, upstream = $4, "
                   "capacity = $5, viewers = $6, bitrate_out = $7, cpu = $8, links = $9::jsonb, "
                   "draining = $11, started_at = CASE WHEN $10::boolean THEN now() "
                   "ELSE odeon_nodes.started_at END, heartbeat_at = now(), "
                   "counted_at = now() - make_interval(secs => $12::int / 1000.0)",
                   12, params, heartbeat_done, c);
    free(links_s);
    if (++c->beats % PURGE_EVERY_BEATS == 1)
        odeon_db_query(c->db,
                       "DELETE FROM odeon_placements WHERE placed_at < "
                       "now() - interval '1 day'",
                       0, NULL, NULL, NULL);
    return G_SOURCE_CONTINUE;
}

static gboolean first_heartbeat(gpointer data)
{
    odeon_cluster *c = data;
    c->first_source = 0;
    on_heartbeat(c);
    return G_SOURCE_REMOVE;
}

static char *default_public_url(const odeon_config *config)
{
    return g_strdup_printf("%s://%s:%u", config->http.tls_cert ? "https" : "http",
                           g_get_host_name(), config->http.port);
}

odeon_cluster *odeon_cluster_new(const odeon_config *config, odeon_db *db)
{
    odeon_cluster *c = g_new0(odeon_cluster, 1);
    c->role = g_strdup(config->cluster.role ? config->cluster.role : "standalone");
    c->node_id = config->cluster.node_id
                     ? g_strdup(config->cluster.node_id)
                     : g_strdup_printf("%s-%u", g_get_host_name(), config->http.port);
    c->public_url = config->cluster.public_url ? g_strdup(config->cluster.public_url)
                                               : default_public_url(config);
    /* Kept without a trailing '/', so that paths append cleanly. */
    while (g_str_has_suffix(c->public_url, "/"))
        c->public_url[strlen(c->public_url) - 1] = '\0';
    c->upstream = g_strdup(config->cluster.upstream);
    while (c->upstream && g_str_has_suffix(c->upstream, "/"))
        c->upstream[strlen(c->upstream) - 1] = '\0';
    c->secret = g_strdup(config->cluster.secret);
    c->capacity = config->cluster.capacity;
    c->heartbeat_ms = config->cluster.heartbeat_ms;
    c->dead_after_ms = config->cluster.dead_after_ms;
    c->db = db;
    c->info = (odeon_node_info){.id = c->node_id,
                                .role = c->role,
                                .public_url = c->public_url,
                                .upstream = c->upstream,
                                .capacity = c->capacity};
    g_mutex_init(&c->lock);
    c->reports =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)json_decref);
    c->report_times = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    c->registry = json_array();
    if (db != NULL && strcmp(c->role, "standalone") != 0) {
        /* The first beat once the main loop runs, i.e. once the transport is up: a node is
         * never placed before it can take viewers. */
        c->first_source = g_idle_add(first_heartbeat, c);
        c->heartbeat_source = g_timeout_add(c->heartbeat_ms, on_heartbeat, c);
    }
    return c;
}

void odeon_cluster_quiesce(odeon_cluster *c)
{
    gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    while (g_atomic_int_get(&c->places_running) > 0 && g_get_monotonic_time() < deadline) {
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(2000);
    }
}

static void unregister_done(const PGresult *res, const char *error, void *data)
{
    (void)res;
    if (error != NULL)
        LOG_WARN("could not leave the registry: %s", error);
    *(bool *)data = true;
}

void odeon_cluster_free(odeon_cluster *c)
{
    if (c == NULL)
        return;
    if (current == c)
        current = NULL;
    if (c->first_source)
        g_source_remove(c->first_source);
    if (c->heartbeat_source)
        g_source_remove(c->heartbeat_source);
    if (c->db != NULL && c->heartbeat_source) {
        /* Leave placement at once rather than after dead_after_ms. */
        bool done = false;
        const char *params[] = {c->node_id};
        odeon_db_query(c->db, "DELETE FROM odeon_nodes WHERE id = $1", 1, params, unregister_done,
                       &done);
        gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
        while ((!done || c->beat_running) && g_get_monotonic_time() < deadline) {
            if (!g_main_context_iteration(NULL, FALSE))
                g_usleep(2000);
        }
    }
    place_call *left;
    while ((left = g_queue_pop_head(&c->place_queue)) != NULL)
        place_call_free(left); /* never sent: quiesce ran out of time (the database away) */
    g_hash_table_unref(c->reports);
    g_hash_table_unref(c->report_times);
    json_decref(c->registry);
    g_mutex_clear(&c->lock);
    g_free(c->node_id);
    g_free(c->role);
    g_free(c->public_url);
    g_free(c->upstream);
    g_free(c->secret);
    g_free(c);
}

void odeon_cluster_set_draining(odeon_cluster *c, bool draining)
{
    g_atomic_int_set(&c->draining, draining ? 1 : 0);
    LOG_INFO("node %s %s", c->node_id, draining ? "draining: no new viewers" : "takes viewers");
}

bool odeon_cluster_draining(odeon_cluster *c)
{
    return g_atomic_int_get(&c->draining) != 0;
}

void odeon_cluster_report(odeon_cluster *c, const char *reporter, json_t *report)
{
    g_mutex_lock(&c->lock);
    g_hash_table_replace(c->reports, g_strdup(reporter), json_deep_copy(report));
    gint64 *at = g_new(gint64, 1);
    *at = g_get_monotonic_time();
    g_hash_table_replace(c->report_times, g_strdup(reporter), at);
    g_mutex_unlock(&c->lock);
}

json_t *odeon_cluster_nodes_json(odeon_cluster *c)
{
    g_mutex_lock(&c->lock);
    json_t *out = json_pack("{s:o, s:O, s:b}", "node", self_json_locked(c), "nodes", c->registry,
                            "registry", c->db != NULL);
    g_mutex_unlock(&c->lock);
    return out;
}

/* ---- placement ---- */

/* One statement: the sticky node if it is still live and has room, else the least-loaded
 * live relay with room, else an origin with room; the choice is recorded. A node's load is
 * the viewers of its last heartbeat plus the viewers placed on it that have not arrived yet
 * (for at most 10 s) or arrived after the time that count is from (counted_at: plugins
 * report their viewers about once a second; odeon_cluster_arrived): so a crowd
 * joining between two heartbeats spreads out, and nobody is counted twice. */
static const char place_sql[] =
    "WITH live AS ("
    " SELECT n.id, n.public_url, n.capacity, n.role, n.viewers + (SELECT count(*) FROM "
    "  odeon_placements p WHERE p.node_id = n.id AND ((p.arrived_at IS NULL"
    "  AND p.placed_at > now() - interval '10 seconds') OR p.arrived_at > n.counted_at))"
    "  AS load"
    " FROM odeon_nodes n WHERE NOT n.draining AND n.role IN ('relay', 'origin')"
    " AND n.heartbeat_at > now() - make_interval(secs => $3::int / 1000.0)"
    " AND n.id <> ALL ($4::text[])),"
    " sticky AS (SELECT node_id FROM odeon_placements WHERE client_key = $1 AND stage_key = $2),"
    " chosen AS (SELECT id, public_url FROM live WHERE capacity = 0 OR load < capacity"
    " ORDER BY id IN (SELECT node_id FROM sticky) DESC, role = 'relay' DESC,"
    " CASE WHEN capacity = 0 THEN load / 1e6 ELSE load::float8 / capacity END, load, id"
    " LIMIT 1),"
    " recorded AS (INSERT INTO odeon_placements (client_key, stage_key, node_id)"
    " SELECT $1, $2, id FROM chosen ON CONFLICT (client_key, stage_key) DO UPDATE"
    " SET node_id = EXCLUDED.node_id, placed_at = now(), arrived_at = NULL)"
    " SELECT id, public_url FROM chosen";

struct place_call {
    odeon_cluster *cluster;
    odeon_cluster_place_fn fn;
    void *user_data;
    char *params[4]; /* client key, stage key, dead_after_ms, excluded ids */
};

static void place_send_next(odeon_cluster *c);

static void place_call_free(place_call *call)
{
    for (size_t i = 0; i < G_N_ELEMENTS(call->params); i++)
        g_free(call->params[i]);
    g_free(call);
}

static void place_done(const PGresult *res, const char *error, void *data)
{
    place_call *call = data;
    odeon_cluster *c = call->cluster;
    g_atomic_int_add(&c->places_running, -1);
    bool queued = call->params[0] != NULL;
    if (res != NULL && PQntuples(res) == 1)
        call->fn(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), NULL, call->user_data);
    else {
        /* No live node with room, or the database is away: this node serves. Availability
         * first; the registry's balance comes back with the database. */
        if (error != NULL)
            LOG_WARN("placement without the registry: %s", error);
        call->fn(c->node_id, c->public_url, NULL, call->user_data);
    }
    place_call_free(call);
    if (queued) {
        g_mutex_lock(&c->lock);
        c->place_inflight = false;
        g_mutex_unlock(&c->lock);
        place_send_next(c);
    }
}

/* One placement at a time from this node: concurrent statements would not see each other's
 * choice and could all pick the same relay. Each takes a millisecond or so. */
static void place_send_next(odeon_cluster *c)
{
    g_mutex_lock(&c->lock);
    place_call *call = c->place_inflight ? NULL : g_queue_pop_head(&c->place_queue);
    c->place_inflight = call != NULL;
    g_mutex_unlock(&c->lock);
    if (call != NULL &&
        odeon_db_query(c->db, place_sql, 4, (const char *const *)call->params, place_done,
                       call) != 0)
        place_done(NULL, "the database pool is closing", call);
}


void odeon_cluster_arrived(odeon_cluster *c, const char *stage_key, const char *client_key)
{
    if (c->db == NULL || strcmp(c->role, "standalone") == 0)
        return;
    const char *params[] = {client_key, stage_key, c->node_id};
    odeon_db_query(c->db,
                   "UPDATE odeon_placements SET arrived_at = now() WHERE client_key = $1 "
                   "AND stage_key = $2 AND node_id = $3 AND arrived_at IS NULL",
                   3, params, NULL, NULL);
}

/* A text[] literal of the excluded ids (ids are checked: letters, digits, - _ . :). */
static char *array_literal(const char *const *items)
{
    GString *s = g_string_new("{");
    for (const char *const *p = items; p && *p; p++) {
        bool ok = **p != '\0';
        for (const char *ch = *p; *ch && ok; ch++)
            ok = g_ascii_isalnum(*ch) || strchr("-_.:", *ch) != NULL;
        if (!ok)
            continue;
        if (s->len > 1)
            g_string_append_c(s, ',');
        g_string_append_printf(s, "\"%s\"", *p);
    }
    g_string_append_c(s, '}');
    return g_string_free(s, FALSE);
}

void odeon_cluster_place(odeon_cluster *c, const char *stage_key, const char *client_key,
                         const char *const *exclude, odeon_cluster_place_fn fn, void *user_data)
{
    place_call *call = g_new0(place_call, 1);
    *call = (place_call){.cluster = c, .fn = fn, .user_data = user_data};
    g_atomic_int_inc(&c->places_running);
    if (c->db == NULL || strcmp(c->role, "standalone") == 0) {
        place_done(NULL, NULL, call);
        return;
    }
    call->params[0] = g_strdup(client_key);
    call->params[1] = g_strdup(stage_key);
    call->params[2] = g_strdup_printf("%u", c->dead_after_ms);
    call->params[3] = array_literal(exclude);
    g_mutex_lock(&c->lock);
    g_queue_push_tail(&c->place_queue, call);
    g_mutex_unlock(&c->lock);
    place_send_next(c);
}
