/*
 * test_db.c - the PostgreSQL pool and migrations against a real, throwaway PostgreSQL
 * (scripts/pg: the cluster scripts/test started, named by ODEON_TEST_PG_DIR, or one of its
 * own): parameterised queries with NULLs, server errors, LISTEN/NOTIFY, recovery after the
 * server drops every connection, queued queries failing when no server answers, and
 * migrations applied once, in order, all-or-nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "db/db.h"

static char *pg_dir;     /* the cluster's folder */
static bool own_cluster; /* started here, stopped at the end */
static char *conninfo;   /* a fresh database for this run */

static char *pg_script(void)
{
    const char *src = g_getenv("ODEON_SRCDIR");
    return g_build_filename(src ? src : ".", "scripts", "pg", NULL);
}

static char *run_pg(const char *cmd, const char *arg)
{
    char *script = pg_script();
    const char *argv[] = {script, cmd, pg_dir, arg, NULL};
    char *out = NULL;
    int status = 0;
    gboolean ok = g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL,
                               &status, NULL);
    g_free(script);
    if (!ok || !g_spawn_check_wait_status(status, NULL)) {
        g_free(out);
        return NULL;
    }
    return g_strstrip(out);
}

static int group_setup(void **state)
{
    (void)state;
    const char *dir = g_getenv("ODEON_TEST_PG_DIR");
    if (dir != NULL) {
        pg_dir = g_strdup(dir);
    } else {
        pg_dir = g_dir_make_tmp("odeon-test-db-XXXXXX", NULL);
        own_cluster = true;
        g_free(run_pg("start", NULL));
    }
    char *name = g_strdup_printf("odeon_unit_db_%d_%" G_GINT64_FORMAT, getpid(), g_get_real_time());
    conninfo = run_pg("createdb", name);
    g_free(name);
    return conninfo == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (own_cluster)
        g_free(run_pg("destroy", NULL));
    g_free(pg_dir);
    g_free(conninfo);
    return 0;
}

/* ---- a query and waiting for it ---- */

typedef struct outcome {
    bool done;
    char *error;
    char *value;  /* first column of the first row, "(null)" for SQL NULL */
    char *value2; /* second column */
    int rows;
} outcome;

static void on_result(const PGresult *res, const char *error, void *data)
{
    outcome *o = data;
    o->done = true;
    o->error = g_strdup(error);
    if (res != NULL) {
        o->rows = PQntuples(res);
        if (o->rows > 0 && PQnfields(res) > 0)
            o->value = g_strdup(PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
        if (o->rows > 0 && PQnfields(res) > 1)
            o->value2 = g_strdup(PQgetisnull(res, 0, 1) ? "(null)" : PQgetvalue(res, 0, 1));
    }
}

static void outcome_clear(outcome *o)
{
    g_free(o->error);
    g_free(o->value);
    g_free(o->value2);
    *o = (outcome){0};
}

static bool spin_until(bool *flag, int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (!*flag && g_get_monotonic_time() < end)
        g_main_context_iteration(NULL, FALSE) || (g_usleep(1000), TRUE);
    return *flag;
}

static void query(odeon_db *db, const char *sql, int n, const char *const *params, outcome *o)
{
    outcome_clear(o);
    assert_int_equal(odeon_db_query(db, sql, n, params, on_result, o), 0);
    assert_true(spin_until(&o->done, 10000));
}

static void test_parameters_and_nulls(void **state)
{
    (void)state;
    odeon_db *db = odeon_db_new(conninfo, 2, NULL);
    outcome o = {0};
    const char *params[] = {"41", NULL};
    query(db, "SELECT $1::int + 1, $2::text", 2, params, &o);
    assert_null(o.error);
    assert_string_equal(o.value, "42");
    assert_string_equal(o.value2, "(null)");
    /* A value is never SQL: quotes and semicolons stay data. */
    const char *evil[] = {"x'); DROP TABLE odeon_nothing; --"};
    query(db, "SELECT length($1)", 1, evil, &o);
    assert_string_equal(o.value, "33");
    outcome_clear(&o);
    odeon_db_free(db);
}

static void test_server_error_leaves_pool_working(void **state)
{
    (void)state;
    odeon_db *db = odeon_db_new(conninfo, 1, NULL);
    outcome o = {0};
    query(db, "SELECT 1 / 0", 0, NULL, &o);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "division by zero"));
    query(db, "SELECT 'still here'", 0, NULL, &o);
    assert_null(o.error);
    assert_string_equal(o.value, "still here");
    outcome_clear(&o);
    odeon_db_free(db);
}

typedef struct heard {
    int count;
    int reconnects;
    char *last;
} heard;

static void on_notify(const char *channel, const char *payload, void *data)
{
    heard *h = data;
    assert_string_equal(channel, "odeon_test_channel");
    if (payload == NULL) {
        h->reconnects++;
        return;
    }
    h->count++;
    g_free(h->last);
    h->last = g_strdup(payload);
}

static bool wait_heard(heard *h, int count, int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
    while (h->count < count && g_get_monotonic_time() < end)
        g_main_context_iteration(NULL, FALSE) || (g_usleep(1000), TRUE);
    return h->count >= count;
}

static void test_listen_notify_and_reconnect(void **state)
{
    (void)state;
    odeon_db *db = odeon_db_new(conninfo, 2, NULL);
    heard h = {0};
    assert_int_equal(odeon_db_listen(db, "bad channel; --", on_notify, &h), -1);
    assert_int_equal(odeon_db_listen(db, "odeon_test_channel", on_notify, &h), 0);
    /* LISTEN is asynchronous: notify until the first one arrives. */
    for (int i = 0; i < 100 && h.count == 0; i++) {
        odeon_db_notify(db, "odeon_test_channel", "hello 'world'");
        wait_heard(&h, 1, 50);
    }
    assert_true(h.count >= 1);
    assert_string_equal(h.last, "hello 'world'");
    /* The server drops every other connection of this database: pool and listener come back. */
    outcome o = {0};
    query(db,
          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
          "WHERE datname = current_database() AND pid <> pg_backend_pid()",
          0, NULL, &o);
    assert_null(o.error);
    int before = h.count;
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (h.count == before && g_get_monotonic_time() < end) {
        odeon_db_notify(db, "odeon_test_channel", "after");
        for (int i = 0; i < 100 && h.count == before; i++)
            g_main_context_iteration(NULL, FALSE) || (g_usleep(1000), TRUE);
    }
    assert_true(h.count > before);
    assert_true(h.reconnects >= 1);
    query(db, "SELECT 1", 0, NULL, &o);
    assert_null(o.error);
    outcome_clear(&o);
    odeon_db_free(db);
    g_free(h.last);
}

static void test_unreachable_server_fails_queued_queries(void **state)
{
    (void)state;
    odeon_db *db =
        odeon_db_new("host=/nonexistent/odeon port=5432 dbname=x connect_timeout=1", 1, NULL);
    outcome o = {0};
    assert_int_equal(odeon_db_query(db, "SELECT 1", 0, NULL, on_result, &o), 0);
    assert_true(spin_until(&o.done, 8000));
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "database unavailable"));
    outcome_clear(&o);
    /* Closing with a query queued answers it. */
    assert_int_equal(odeon_db_query(db, "SELECT 1", 0, NULL, on_result, &o), 0);
    odeon_db_free(db);
    assert_true(o.done);
    assert_non_null(o.error);
    outcome_clear(&o);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);
    assert_true(g_file_set_contents(path, text, -1, NULL));
    g_free(path);
}

static void test_migrations_once_in_order_atomic(void **state)
{
    (void)state;
    char *dir = g_dir_make_tmp("odeon-migrations-XXXXXX", NULL);
    write_file(dir, "002_second.sql", "INSERT INTO mig_t (v) VALUES ('second');");
    write_file(dir, "001_first.sql", "CREATE TABLE mig_t (v text);");
    write_file(dir, "README.md", "not a migration");
    char *error = NULL;
    assert_int_equal(odeon_db_migrate(conninfo, dir, 5, &error), 0);
    assert_int_equal(odeon_db_migrate(conninfo, dir, 5, &error), 0); /* nothing new */
    odeon_db *db = odeon_db_new(conninfo, 1, NULL);
    outcome o = {0};
    query(db, "SELECT count(*), string_agg(v, ',') FROM mig_t", 0, NULL, &o);
    assert_string_equal(o.value, "1");
    assert_string_equal(o.value2, "second");
    /* A failing file leaves nothing behind, and is reported by name. */
    write_file(dir, "003_broken.sql", "CREATE TABLE mig_u (v text); SELECT no_such_function();");
    assert_int_equal(odeon_db_migrate(conninfo, dir, 5, &error), -1);
    assert_non_null(strstr(error, "003_broken.sql"));
    g_clear_pointer(&error, g_free);
    query(db,
          "SELECT to_regclass('mig_u') IS NULL, "
          "(SELECT count(*) FROM odeon_schema_migrations WHERE version = 3)",
          0, NULL, &o);
    assert_string_equal(o.value, "t");
    assert_string_equal(o.value2, "0");
    /* A recorded number whose file was renamed is refused. */
    char *broken = g_build_filename(dir, "003_broken.sql", NULL);
    g_unlink(broken);
    g_free(broken);
    char *second = g_build_filename(dir, "002_second.sql", NULL);
    char *renamed = g_build_filename(dir, "002_renamed.sql", NULL);
    g_rename(second, renamed);
    assert_int_equal(odeon_db_migrate(conninfo, dir, 5, &error), -1);
    assert_non_null(strstr(error, "recorded as 002_second.sql"));
    g_clear_pointer(&error, g_free);
    /* Two files with one number. */
    write_file(dir, "001_again.sql", "SELECT 1;");
    assert_int_equal(odeon_db_migrate(conninfo, dir, 5, &error), -1);
    assert_non_null(strstr(error, "same number"));
    g_free(error);
    outcome_clear(&o);
    odeon_db_free(db);
    g_free(second);
    g_free(renamed);
    char *argv[] = {"rm", "-rf", dir, NULL};
    g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    g_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameters_and_nulls),
        cmocka_unit_test(test_server_error_leaves_pool_working),
        cmocka_unit_test(test_listen_notify_and_reconnect),
        cmocka_unit_test(test_unreachable_server_fails_queued_queries),
        cmocka_unit_test(test_migrations_once_in_order_atomic),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
