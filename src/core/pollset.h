/*
 * pollset.h - a poll function for a GLib context whose busiest sockets are known.
 *
 * GLib's main loop hands poll(2) every descriptor of the context on every iteration. A media
 * loop with hundreds of peer connections pays for each of them (a wait-queue entry added and
 * removed per socket per iteration) on every wake-up, although only the loop's own wake-ups
 * and a few sockets are ever ready. A pollset keeps the sockets it is told about (the selected
 * socket of each connection) in an epoll set instead: its poll function passes poll(2) the
 * other descriptors plus the epoll descriptor, and fills in the watched sockets' readiness from
 * epoll_wait. Semantics are those of poll(2) (level-triggered), so GLib's sources notice
 * nothing.
 *
 * A socket is watched while the pollset holds a reference to its GSocket. One that is closed
 * under it (g_socket_close by its owner) is noticed on the next poll and dropped before its
 * descriptor number can be mistaken for a new socket's, which then goes through poll(2) like
 * any other descriptor. Not thread-safe: one pollset per loop, used on the loop's thread.
 */
#ifndef ODEON_CORE_POLLSET_H
#define ODEON_CORE_POLLSET_H

#include <stdbool.h>

#include <gio/gio.h>
#include <glib.h>

typedef struct odeon_pollset odeon_pollset;

/* NULL when epoll is unavailable (the caller then polls as GLib does). Freed with
 * odeon_pollset_free, which releases every watched socket. */
odeon_pollset *odeon_pollset_new(void);
void odeon_pollset_free(odeon_pollset *p);

/* Watch socket for input (keeps a reference until unwatched). A descriptor that GLib polls
 * for more than input keeps going through poll(2). false when it cannot be watched. */
bool odeon_pollset_watch(odeon_pollset *p, GSocket *socket);
/* Stop watching socket (no-op when it is not watched). Call it before closing the socket
 * where possible; a closed one is dropped by the next poll anyway. */
void odeon_pollset_unwatch(odeon_pollset *p, GSocket *socket);
unsigned odeon_pollset_watched(const odeon_pollset *p);

/* GPollFunc semantics over fds (revents filled in, count of ready entries returned). */
gint odeon_pollset_poll(odeon_pollset *p, GPollFD *fds, guint nfds, gint timeout);

#endif /* ODEON_CORE_POLLSET_H */
