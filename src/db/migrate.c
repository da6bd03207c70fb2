/*
 * migrate.c - numbered schema migrations from sql/ (odeon_db_migrate in db.h).
 *
 * Blocking libpq on purpose: it runs once at start-up, before anything else uses the
 * database. An advisory lock serialises nodes that start together, so each file runs once;
 * each file runs in its own transaction together with the row that records it, so a failing
 * file leaves nothing half applied.
 */
#include "db/db.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define LOG_MODULE "db"
/* pg_advisory_lock key: "odeon" in ASCII, the same on every node. */
#define MIGRATION_LOCK_KEY "1868850542"

typedef struct migration {
    int version;
    char *name; /* file name */
} migration;

static int migration_cmp(gconstpointer a, gconstpointer b)
{
    const migration *x = *(migration *const *)a, *y = *(migration *const *)b;
    return (x->version > y->version) - (x->version < y->version);
}

static void migration_free(gpointer p)
{
    migration *m = p;
    g_free(m->name);
    g_free(m);
}

/* NNN_name.sql files of dir, by number. NULL with *error on a bad folder or a number used
 * twice. */
static GPtrArray *migrations_list(const char *dir, char **error)
{
    GError *gerr = NULL;
    GDir *d = g_dir_open(dir, 0, &gerr);
    if (d == NULL) {
        *error = g_strdup_printf("migrations folder %s: %s", dir, gerr->message);
        g_error_free(gerr);
        return NULL;
    }
    GPtrArray *list = g_ptr_array_new_with_free_func(migration_free);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL) {
        if (!g_str_has_suffix(name, ".sql") || !g_ascii_isdigit(name[0]))
            continue;
        char *end = NULL;
        long v = strtol(name, &end, 10);
        if (end == NULL || *end != '_' || v <= 0 || v > 1000000)
            continue;
        migration *m = g_new0(migration, 1);
        m->version = (int)v;
        m->name = g_strdup(name);
        g_ptr_array_add(list, m);
    }
    g_dir_close(d);
    g_ptr_array_sort(list, migration_cmp);
    for (guint i = 1; i < list->len; i++) {
        migration *a = g_ptr_array_index(list, i - 1), *b = g_ptr_array_index(list, i);
        if (a->version == b->version) {
            *error = g_strdup_printf("migrations %s and %s have the same number", a->name, b->name);
            g_ptr_array_unref(list);
            return NULL;
        }
    }
    return list;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_waiting(const char *conninfo, unsigned wait_seconds, char **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)wait_seconds * G_USEC_PER_SEC;
    for (;;) {
        PGconn *pg = PQconnectdb(conninfo);
        if (PQstatus(pg) == CONNECTION_OK) {
            PQsetNoticeProcessor(pg, ignore_notice, NULL);
            return pg;
        }
        if (g_get_monotonic_time() >= deadline) {
            *error = g_strdup_printf("cannot connect to the database: %s",
                                     g_strstrip(PQerrorMessage(pg)));
            PQfinish(pg);
            return NULL;
        }
        PQfinish(pg);
        g_usleep(250 * 1000);
    }
}

/* Runs sql (no parameters); NULL on success, else the server's message (g_free it). */
static char *exec_plain(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    char *error = NULL;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        error = g_strstrip(g_strdup(PQresultErrorMessage(r)));
    PQclear(r);
    return error;
}

static bool migration_applied(PGconn *pg, const migration *m, char **error)
{
    char version[16];
    g_snprintf(version, sizeof version, "%d", m->version);
    const char *params[] = {version};
    PGresult *r = PQexecParams(pg, "SELECT name FROM odeon_schema_migrations WHERE version = $1", 1,
                               NULL, params, NULL, NULL, 0);
    bool applied = false;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        *error = g_strstrip(g_strdup(PQresultErrorMessage(r)));
    else if (PQntuples(r) == 1) {
        applied = true;
        if (strcmp(PQgetvalue(r, 0, 0), m->name) != 0)
            *error = g_strdup_printf("migration %d is recorded as %s but the file is %s",
                                     m->version, PQgetvalue(r, 0, 0), m->name);
    }
    PQclear(r);
    return applied;
}

static int migration_apply(PGconn *pg, const char *dir, const migration *m, char **error)
{
    char *path = g_build_filename(dir, m->name, NULL);
    char *text = NULL;
    GError *gerr = NULL;
    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        *error = g_strdup_printf("%s: %s", path, gerr->message);
        g_error_free(gerr);
        g_free(path);
        return -1;
    }
    g_free(path);
    char *failure = exec_plain(pg, "BEGIN");
    if (failure == NULL)
        failure = exec_plain(pg, text);
    g_free(text);
    if (failure == NULL) {
        char version[16];
        g_snprintf(version, sizeof version, "%d", m->version);
        const char *params[] = {version, m->name};
        PGresult *r = PQexecParams(pg,
                                   "INSERT INTO odeon_schema_migrations (version, name) "
                                   "VALUES ($1, $2)",
                                   2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            failure = g_strstrip(g_strdup(PQresultErrorMessage(r)));
        PQclear(r);
    }
    if (failure == NULL)
        failure = exec_plain(pg, "COMMIT");
    if (failure != NULL) {
        g_free(exec_plain(pg, "ROLLBACK"));
        *error = g_strdup_printf("migration %s failed: %s", m->name, failure);
        g_free(failure);
        return -1;
    }
    LOG_INFO("applied migration %s", m->name);
    return 0;
}

static int migrations_run(PGconn *pg, const char *dir, GPtrArray *list, char **error)
{
    char *failure = exec_plain(pg, "CREATE TABLE IF NOT EXISTS odeon_schema_migrations ("
                                   "version integer PRIMARY KEY, name text NOT NULL, "
                                   "applied_at timestamptz NOT NULL DEFAULT now())");
    if (failure != NULL) {
        *error = g_strdup_printf("cannot create odeon_schema_migrations: %s", failure);
        g_free(failure);
        return -1;
    }
    for (guint i = 0; i < list->len; i++) {
        migration *m = g_ptr_array_index(list, i);
        bool applied = migration_applied(pg, m, error);
        if (*error != NULL)
            return -1;
        if (!applied && migration_apply(pg, dir, m, error) != 0)
            return -1;
    }
    return 0;
}

int odeon_db_migrate(const char *conninfo, const char *dir, unsigned wait_seconds, char **error)
{
    *error = NULL;
    GPtrArray *list = migrations_list(dir, error);
    if (list == NULL)
        return -1;
    PGconn *pg = connect_waiting(conninfo, wait_seconds, error);
    if (pg == NULL) {
        g_ptr_array_unref(list);
        return -1;
    }
    char *failure = exec_plain(pg, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")");
    int rc = -1;
    if (failure != NULL) {
        *error = g_strdup_printf("cannot take the migration lock: %s", failure);
        g_free(failure);
    } else {
        /* Another node may be creating the table at this moment: the lock comes first. */
        rc = migrations_run(pg, dir, list, error);
        g_free(exec_plain(pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"));
    }
    PQfinish(pg);
    g_ptr_array_unref(list);
    return rc;
}
