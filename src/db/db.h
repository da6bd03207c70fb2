/*
 * db.h - the PostgreSQL pool: asynchronous parameterised queries on a GLib main context,
 * connections that come back by themselves, and LISTEN/NOTIFY for events between nodes.
 *
 * PostgreSQL is the only state nodes share (design.md, "Data"). Every statement goes through
 * odeon_db_query with its values as parameters ($1, $2...): nothing is ever spliced into SQL
 * text. Queries may be submitted from any thread; they run on the pool's context (the main
 * loop) and their callbacks run there too, in submission order per connection.
 *
 * A connection that breaks is reopened after a backoff (250 ms doubling to 8 s); queries
 * queued meanwhile wait for it up to ODEON_DB_QUEUE_TIMEOUT_US, then fail with an error
 * instead of piling up. A query whose connection breaks while it runs fails: the caller
 * decides whether it is safe to repeat.
 *
 * The listener is a connection of its own (LISTEN holds it); after a reconnect it listens on
 * every channel again and calls each channel's callback with payload NULL, so that a caller
 * can re-read what it may have missed while the connection was down. The same happens once a
 * new channel's LISTEN is in place: a caller that read its state before that may have missed
 * a notification sent in between.
 *
 * Ownership: odeon_db_new returns the pool, odeon_db_free closes it (pending callbacks run
 * with an error first). Results are borrowed for the callback's duration.
 */
#ifndef ODEON_DB_DB_H
#define ODEON_DB_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>
#include <libpq-fe.h>

typedef struct odeon_db odeon_db;

#define ODEON_DB_QUEUE_TIMEOUT_US (5 * G_USEC_PER_SEC)

/* result: the statement's result (PGRES_TUPLES_OK or PGRES_COMMAND_OK), or NULL with error
 * set (a server error, a lost connection, the pool closing). */
typedef void (*odeon_db_result_fn)(const PGresult *result, const char *error, void *user_data);
/* payload NULL: the listener reconnected, notifications may have been missed. */
typedef void (*odeon_db_notify_fn)(const char *channel, const char *payload, void *user_data);

/* A pool of pool_size connections (plus one listener when odeon_db_listen is used) on
 * context (NULL: the default main context). Connections open in the background. */
odeon_db *odeon_db_new(const char *conninfo, unsigned pool_size, GMainContext *context);
void odeon_db_free(odeon_db *db);

/* Queues a statement with nparams text parameters (copied; NULL is SQL NULL). done may be
 * NULL. Returns 0, or -1 when the pool is closing (done is not called). */
int odeon_db_query(odeon_db *db, const char *sql, int nparams, const char *const *params,
                   odeon_db_result_fn done, void *user_data);
/* pg_notify(channel, payload) through the pool. */
int odeon_db_notify(odeon_db *db, const char *channel, const char *payload);
/* Calls fn for every notification on channel (an SQL identifier: letters, digits, '_'), on
 * the pool's context. Call it from that context's thread (at start-up, or from a callback). */
int odeon_db_listen(odeon_db *db, const char *channel, odeon_db_notify_fn fn, void *user_data);

/* fn is not called for channel any more (same thread as odeon_db_listen). */
void odeon_db_unlisten(odeon_db *db, const char *channel);

/* Connections currently open and idle or busy (a snapshot: for status pages and tests). */
unsigned odeon_db_connected(odeon_db *db);

/* Applies the numbered migrations of dir (NNN_name.sql, in order) that the database has not
 * recorded in odeon_schema_migrations, each in its own transaction, under an advisory lock so
 * that nodes starting together apply each once. Blocking: for start-up. Waits up to
 * wait_seconds for the server to accept connections. 0, or -1 with *error (g_free it). */
int odeon_db_migrate(const char *conninfo, const char *dir, unsigned wait_seconds, char **error);

#endif
