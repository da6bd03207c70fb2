/*
 * db.c - the PostgreSQL pool (see db.h): libpq's asynchronous API driven by fd sources on a
 * GLib context.
 *
 * Every connection is a small state machine (down, connecting, idle, busy) that only the
 * context's thread touches; other threads only append to the queue (under the lock) and kick
 * the context. A busy connection runs one statement at a time, so callbacks of one connection
 * come in submission order.
 */
#include "db/db.h"

#include <string.h>

#include <glib-unix.h>

#include "core/log.h"

#define LOG_MODULE "db"
#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 8000u

typedef struct db_query {
    char *sql;
    int nparams;
    char **params;
    odeon_db_result_fn done;
    void *user_data;
    gint64 queued_us;
} db_query;

typedef enum {
    CONN_DOWN,
    CONN_CONNECTING,
    CONN_IDLE,
    CONN_BUSY
} conn_state;

typedef struct db_conn {
    odeon_db *db;
    PGconn *pg;
    conn_state state;
    GSource *io;
    GSource *retry;
    unsigned backoff_ms;
    bool listener;
    bool flushing;       /* output still queued in libpq */
    bool listen_pending; /* the listener must (re)issue its LISTENs */
    bool listen_running; /* the statement in flight is the LISTENs */
    bool reconnected;    /* tell the channels once the LISTENs are back */
    db_query *current;
    PGresult *result; /* the statement's last result so far */
    char *error;      /* its first error */
} db_conn;

typedef struct db_channel {
    odeon_db_notify_fn fn;
    void *user_data;
} db_channel;

struct odeon_db {
    GMainContext *context;
    char *conninfo;
    GMutex lock; /* queue, closing, kick */
    GQueue queue;
    bool closing;
    GSource *kick;
    GSource *tick;
    db_conn *conns;
    unsigned count;
    db_conn listener;
    GHashTable *channels; /* name -> db_channel (context thread only after the first listen) */
};

static void conn_connect(db_conn *c);
static void conn_dispatch(odeon_db *db);
static gboolean on_conn_io(gint fd, GIOCondition cond, gpointer data);

static void query_free(db_query *q)
{
    g_free(q->sql);
    for (int i = 0; i < q->nparams; i++)
        g_free(q->params[i]);
    g_free(q->params);
    g_free(q);
}

static void query_fail(db_query *q, const char *error)
{
    if (q->done)
        q->done(NULL, error, q->user_data);
    query_free(q);
}

static void conn_watch(db_conn *c, GIOCondition cond)
{
    if (c->io != NULL) {
        g_source_destroy(c->io);
        g_source_unref(c->io);
        c->io = NULL;
    }
    int fd = c->pg ? PQsocket(c->pg) : -1;
    if (fd < 0 || cond == 0)
        return; /* 0: only stop watching */
    c->io = g_unix_fd_source_new(fd, cond | G_IO_ERR | G_IO_HUP);
    g_source_set_callback(c->io, (GSourceFunc)(void (*)(void))on_conn_io, c, NULL);
    g_source_attach(c->io, c->db->context);
}

static gboolean on_retry(gpointer data)
{
    db_conn *c = data;
    g_source_unref(c->retry);
    c->retry = NULL;
    conn_connect(c);
    return G_SOURCE_REMOVE;
}

/* The connection is gone: fail what it was running and try again after the backoff. */
static void conn_broken(db_conn *c, const char *why)
{
    bool was_up = c->state == CONN_IDLE || c->state == CONN_BUSY;
    if (!c->db->closing && (was_up || c->backoff_ms >= BACKOFF_MAX_MS))
        LOG_WARN("%s connection lost: %s (retrying)", c->listener ? "listener" : "pool", why);
    conn_watch(c, 0);
    if (c->current != NULL) {
        query_fail(c->current, why);
        c->current = NULL;
    }
    g_clear_pointer(&c->result, PQclear);
    g_clear_pointer(&c->error, g_free);
    if (c->pg != NULL)
        PQfinish(c->pg);
    c->pg = NULL;
    c->state = CONN_DOWN;
    c->flushing = c->listen_running = false;
    if (c->listener)
        c->listen_pending = c->reconnected = true;
    if (c->db->closing)
        return;
    c->backoff_ms = c->backoff_ms == 0 ? BACKOFF_MIN_MS : MIN(c->backoff_ms * 2, BACKOFF_MAX_MS);
    c->retry = g_timeout_source_new(c->backoff_ms);
    g_source_set_callback(c->retry, on_retry, c, NULL);
    g_source_attach(c->retry, c->db->context);
}

/* Server notices ("relation already exists, skipping") are not errors: not on stderr. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void conn_connect(db_conn *c)
{
    c->pg = PQconnectStart(c->db->conninfo);
    if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_broken(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    PQsetnonblocking(c->pg, 1);
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    c->state = CONN_CONNECTING;
    conn_watch(c, G_IO_OUT);
}

static void listener_send(db_conn *c)
{
    GString *sql = g_string_new(NULL);
    GHashTableIter it;
    gpointer name;
    g_hash_table_iter_init(&it, c->db->channels);
    while (g_hash_table_iter_next(&it, &name, NULL))
        g_string_append_printf(sql, "LISTEN \"%s\";", (const char *)name);
    c->listen_pending = false;
    if (sql->len == 0 || !PQsendQuery(c->pg, sql->str)) {
        g_string_free(sql, TRUE);
        if (c->pg && PQstatus(c->pg) == CONNECTION_BAD)
            conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    g_string_free(sql, TRUE);
    c->state = CONN_BUSY;
    c->listen_running = true;
    c->flushing = PQflush(c->pg) == 1;
    conn_watch(c, G_IO_IN | (c->flushing ? G_IO_OUT : 0));
}

static void conn_send(db_conn *c, db_query *q)
{
    c->current = q;
    if (!PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, (const char *const *)q->params, NULL,
                           NULL, 0)) {
        conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    c->state = CONN_BUSY;
    c->flushing = PQflush(c->pg) == 1;
    conn_watch(c, G_IO_IN | (c->flushing ? G_IO_OUT : 0));
}

static void listener_deliver(db_conn *c)
{
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL) {
        db_channel *ch = g_hash_table_lookup(c->db->channels, n->relname);
        if (ch != NULL)
            ch->fn(n->relname, n->extra, ch->user_data);
        PQfreemem(n);
    }
}

static void listener_announce_reconnect(odeon_db *db)
{
    GHashTableIter it;
    gpointer name, value;
    g_hash_table_iter_init(&it, db->channels);
    while (g_hash_table_iter_next(&it, &name, &value)) {
        db_channel *ch = value;
        ch->fn(name, NULL, ch->user_data);
    }
}

/* The statement in flight has returned all its results. */
static void conn_complete(db_conn *c)
{
    db_query *q = c->current;
    PGresult *res = c->result;
    char *error = c->error;
    c->current = NULL;
    c->result = NULL;
    c->error = NULL;
    c->state = CONN_IDLE;
    bool was_listen = c->listen_running;
    c->listen_running = false;
    if (q != NULL) {
        if (q->done)
            q->done(error ? NULL : res, error, q->user_data);
        query_free(q);
    } else if (was_listen && error != NULL) {
        LOG_ERROR("LISTEN failed: %s", error);
    }
    if (res)
        PQclear(res);
    g_free(error);
    if (was_listen && c->reconnected) {
        c->reconnected = false;
        listener_announce_reconnect(c->db);
    }
    conn_watch(c, G_IO_IN);
    if (c->listener && c->listen_pending)
        listener_send(c);
    else if (!c->listener)
        conn_dispatch(c->db);
}

static void conn_collect(db_conn *c)
{
    while (c->state == CONN_BUSY && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (r == NULL) {
            conn_complete(c);
            return;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && c->error == NULL) {
            const char *msg = PQresultErrorMessage(r);
            c->error = g_strstrip(g_strdup(msg && *msg ? msg : PQresStatus(st)));
        }
        if (c->result)
            PQclear(c->result);
        c->result = r;
    }
}

static void conn_connecting(db_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_OK:
        c->state = CONN_IDLE;
        c->backoff_ms = 0;
        conn_watch(c, G_IO_IN);
        if (c->listener)
            listener_send(c);
        else
            conn_dispatch(c->db);
        return;
    case PGRES_POLLING_READING:
        conn_watch(c, G_IO_IN);
        return;
    case PGRES_POLLING_WRITING:
        conn_watch(c, G_IO_OUT);
        return;
    default:
        conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
}

static gboolean on_conn_io(gint fd, GIOCondition cond, gpointer data)
{
    (void)fd;
    db_conn *c = data;
    if (c->state == CONN_CONNECTING) {
        conn_connecting(c);
        return G_SOURCE_CONTINUE;
    }
    if ((cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) && !PQconsumeInput(c->pg)) {
        conn_broken(c, PQerrorMessage(c->pg));
        return G_SOURCE_CONTINUE;
    }
    if (c->flushing) {
        int f = PQflush(c->pg);
        if (f < 0) {
            conn_broken(c, PQerrorMessage(c->pg));
            return G_SOURCE_CONTINUE;
        }
        c->flushing = f == 1;
        if (!c->flushing)
            conn_watch(c, G_IO_IN);
    }
    if (c->listener)
        listener_deliver(c);
    if (c->state == CONN_BUSY)
        conn_collect(c);
    else if (PQstatus(c->pg) == CONNECTION_BAD)
        conn_broken(c, PQerrorMessage(c->pg));
    /* conn_watch may have replaced this source: its return value then no longer matters. */
    return G_SOURCE_CONTINUE;
}

static void conn_dispatch(odeon_db *db)
{
    for (unsigned i = 0; i < db->count; i++) {
        db_conn *c = &db->conns[i];
        if (c->state != CONN_IDLE)
            continue;
        g_mutex_lock(&db->lock);
        db_query *q = g_queue_pop_head(&db->queue);
        g_mutex_unlock(&db->lock);
        if (q == NULL)
            return;
        conn_send(c, q);
    }
}

static gboolean on_kick(gpointer data)
{
    odeon_db *db = data;
    g_mutex_lock(&db->lock);
    g_source_unref(db->kick);
    db->kick = NULL;
    g_mutex_unlock(&db->lock);
    conn_dispatch(db);
    return G_SOURCE_REMOVE;
}

/* Queued statements that no connection took in time fail rather than wait for ever. */
static gboolean on_tick(gpointer data)
{
    odeon_db *db = data;
    gint64 now = g_get_monotonic_time();
    GQueue expired = G_QUEUE_INIT;
    g_mutex_lock(&db->lock);
    while (!g_queue_is_empty(&db->queue)) {
        db_query *q = g_queue_peek_head(&db->queue);
        if (now - q->queued_us < ODEON_DB_QUEUE_TIMEOUT_US)
            break;
        g_queue_push_tail(&expired, g_queue_pop_head(&db->queue));
    }
    g_mutex_unlock(&db->lock);
    db_query *q;
    while ((q = g_queue_pop_head(&expired)) != NULL)
        query_fail(q, "database unavailable (no connection within 5 s)");
    return G_SOURCE_CONTINUE;
}

static void conn_init(odeon_db *db, db_conn *c, bool listener)
{
    *c = (db_conn){.db = db, .state = CONN_DOWN, .listener = listener};
}

odeon_db *odeon_db_new(const char *conninfo, unsigned pool_size, GMainContext *context)
{
    odeon_db *db = g_new0(odeon_db, 1);
    db->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
    db->conninfo = g_strdup(conninfo);
    g_mutex_init(&db->lock);
    g_queue_init(&db->queue);
    db->count = pool_size ? pool_size : 1;
    db->conns = g_new0(db_conn, db->count);
    db->channels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (unsigned i = 0; i < db->count; i++) {
        conn_init(db, &db->conns[i], false);
        conn_connect(&db->conns[i]);
    }
    conn_init(db, &db->listener, true);
    db->tick = g_timeout_source_new(500);
    g_source_set_callback(db->tick, on_tick, db, NULL);
    g_source_attach(db->tick, db->context);
    return db;
}

static void conn_close(db_conn *c)
{
    if (c->retry) {
        g_source_destroy(c->retry);
        g_clear_pointer(&c->retry, g_source_unref);
    }
    if (c->pg != NULL || c->current != NULL)
        conn_broken(c, "the database pool is closing");
}

void odeon_db_free(odeon_db *db)
{
    if (db == NULL)
        return;
    g_mutex_lock(&db->lock);
    db->closing = true;
    if (db->kick) {
        g_source_destroy(db->kick);
        g_clear_pointer(&db->kick, g_source_unref);
    }
    g_mutex_unlock(&db->lock);
    for (unsigned i = 0; i < db->count; i++)
        conn_close(&db->conns[i]);
    conn_close(&db->listener);
    db_query *q;
    while ((q = g_queue_pop_head(&db->queue)) != NULL)
        query_fail(q, "the database pool is closing");
    g_source_destroy(db->tick);
    g_source_unref(db->tick);
    g_hash_table_unref(db->channels);
    g_free(db->conns);
    g_free(db->conninfo);
    g_mutex_clear(&db->lock);
    g_main_context_unref(db->context);
    g_free(db);
}

int odeon_db_query(odeon_db *db, const char *sql, int nparams, const char *const *params,
                   odeon_db_result_fn done, void *user_data)
{
    db_query *q = g_new0(db_query, 1);
    q->sql = g_strdup(sql);
    q->nparams = nparams;
    q->params = g_new0(char *, (gsize)nparams + 1);
    for (int i = 0; i < nparams; i++)
        q->params[i] = params[i] ? g_strdup(params[i]) : NULL;
    q->done = done;
    q->user_data = user_data;
    q->queued_us = g_get_monotonic_time();
    g_mutex_lock(&db->lock);
    if (db->closing) {
        g_mutex_unlock(&db->lock);
        query_free(q);
        return -1;
    }
    g_queue_push_tail(&db->queue, q);
    if (db->kick == NULL) {
        db->kick = g_idle_source_new();
        g_source_set_priority(db->kick, G_PRIORITY_DEFAULT);
        g_source_set_callback(db->kick, on_kick, db, NULL);
        g_source_attach(db->kick, db->context);
    }
    g_mutex_unlock(&db->lock);
    return 0;
}

int odeon_db_notify(odeon_db *db, const char *channel, const char *payload)
{
    const char *params[] = {channel, payload};
    return odeon_db_query(db, "SELECT pg_notify($1, $2)", 2, params, NULL, NULL);
}

static bool channel_name_ok(const char *channel)
{
    if (channel == NULL || *channel == '\0' || strlen(channel) > 63)
        return false;
    for (const char *p = channel; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '_')
            return false;
    return true;
}

int odeon_db_listen(odeon_db *db, const char *channel, odeon_db_notify_fn fn, void *user_data)
{
    if (!channel_name_ok(channel) || fn == NULL)
        return -1;
    db_channel *ch = g_new0(db_channel, 1);
    ch->fn = fn;
    ch->user_data = user_data;
    g_hash_table_replace(db->channels, g_strdup(channel), ch);
    db_conn *c = &db->listener;
    c->listen_pending = true;
    /* Whatever the caller read before the LISTEN is in place may already be stale (a NOTIFY
     * sent meanwhile reached nobody): it hears payload NULL once the LISTEN is there. */
    c->reconnected = true;
    if (c->state == CONN_IDLE)
        listener_send(c);
    else if (c->state == CONN_DOWN && c->retry == NULL)
        conn_connect(c);
    return 0;
}

void odeon_db_unlisten(odeon_db *db, const char *channel)
{
    /* The server keeps sending until the session ends; notifications on a channel without a
     * callback are dropped in listener_deliver. */
    if (db != NULL && channel != NULL)
        g_hash_table_remove(db->channels, channel);
}

unsigned odeon_db_connected(odeon_db *db)
{
    unsigned n = 0;
    for (unsigned i = 0; i < db->count; i++)
        n += db->conns[i].state == CONN_IDLE || db->conns[i].state == CONN_BUSY;
    return n;
}
