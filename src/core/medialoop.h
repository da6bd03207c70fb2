/*
 * medialoop.h - the fixed pool of media threads, each running its own GMainContext.
 *
 * A peer connection belongs to exactly one loop for its whole life: its ICE agent, DTLS, SRTP,
 * NACK and statistics are touched only on that thread, so the packet path takes no lock. Work
 * for a loop from any other thread is posted to it with odeon_media_loop_post, which keeps the
 * order of posts (a remote description posted before a candidate is applied before it).
 *
 * Ownership: odeon_media_loops_start creates the pool (one per process, owned by the server);
 * odeon_media_loops_stop joins the threads after running every task still queued. Loops are
 * borrowed by their peer connections, which must all be gone before the pool stops.
 */
#ifndef ODEON_CORE_MEDIALOOP_H
#define ODEON_CORE_MEDIALOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <gio/gio.h>
#include <glib.h>

#include "plugin/plugin.h" /* odeon_media_wake */

typedef struct odeon_media_loop odeon_media_loop;
typedef struct odeon_media_loops odeon_media_loops;

/* count 0 means one per online CPU. Returns NULL and *error (g_free) on failure. */
odeon_media_loops *odeon_media_loops_start(unsigned count, char **error);
/* Stops and joins every thread (tasks already posted still run first); NULL is fine. */
void odeon_media_loops_stop(odeon_media_loops *loops);

unsigned odeon_media_loops_count(const odeon_media_loops *loops);
/* The loop with that index, or NULL when out of range. */
odeon_media_loop *odeon_media_loops_get(odeon_media_loops *loops, unsigned index);
/* The loop with the fewest attached peer connections (ties: round robin). */
odeon_media_loop *odeon_media_loops_pick(odeon_media_loops *loops);

GMainContext *odeon_media_loop_context(odeon_media_loop *loop);
unsigned odeon_media_loop_index(const odeon_media_loop *loop);
/* True when the caller runs on this loop's thread. */
bool odeon_media_loop_is_current(const odeon_media_loop *loop);

/* The loop whose thread the caller runs on, or NULL on any other thread. */
odeon_media_loop *odeon_media_loop_current(void);

/* The loop learns whether socket (read by a GLib source on this loop: a connection's selected
 * socket) has input from epoll instead of polling it on every wake-up (see core/pollset.h), so
 * a wake-up costs the same with ten connections on the loop as with a thousand. Keeps a
 * reference until unwatched. Loop thread only; unwatch before closing the socket where
 * possible. */
void odeon_media_loop_watch_socket(odeon_media_loop *loop, GSocket *socket);
void odeon_media_loop_unwatch_socket(odeon_media_loop *loop, GSocket *socket);

/* Load accounting for odeon_media_loops_pick: a peer connection attaches when created on the
 * loop and detaches when freed. */
void odeon_media_loop_attach(odeon_media_loop *loop);
void odeon_media_loop_detach(odeon_media_loop *loop);
unsigned odeon_media_loop_load(const odeon_media_loop *loop);

/* One periodic tick per loop (every ODEON_MEDIA_LOOP_TICK_MS) calls every registered function
 * in turn: hundreds of peer connections share one timer instead of waking the loop each on its
 * own. Register and unregister on the loop thread only; unregistering from inside a tick is
 * fine. */
#define ODEON_MEDIA_LOOP_TICK_MS 20
typedef void (*odeon_media_tick_fn)(void *data, int64_t now_us);
void odeon_media_loop_tick_add(odeon_media_loop *loop, odeon_media_tick_fn fn, void *data);
void odeon_media_loop_tick_remove(odeon_media_loop *loop, odeon_media_tick_fn fn, void *data);

/* Runs fn(data) on the loop thread, after everything posted before it. Safe from any thread,
 * also from the loop itself (then it runs on a later iteration, never inline). */
typedef void (*odeon_media_task_fn)(void *data);
void odeon_media_loop_post(odeon_media_loop *loop, odeon_media_task_fn fn, void *data);

/* Runs wake->fn on the loop thread once, however many times it is woken before it runs (see
 * odeon_media_wake in plugin.h): true when this call queued it, false when it was pending.
 * Wakes run after the tasks posted in the same iteration; no order among them. */
bool odeon_media_loop_wake(odeon_media_loop *loop, odeon_media_wake *wake);

/* Like post, but waits until fn has run. Must not be called from the loop's own thread (it
 * then runs fn inline instead). */
void odeon_media_loop_run_sync(odeon_media_loop *loop, odeon_media_task_fn fn, void *data);

#endif
