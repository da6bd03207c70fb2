/*
 * pollset.c - poll(2) for the unknown descriptors, epoll for the watched sockets.
 */
#include "core/pollset.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EPOLL_BATCH 64
#define CONSUMED 0x80000000u /* in watched_fd.ready: an entry of this poll took it */

/* One per descriptor number: the socket watched under it, if any. */
typedef struct watched_fd {
    GSocket *socket; /* reference; NULL: not watched */
    guint32 ready;   /* epoll's events for it in the current poll */
} watched_fd;

struct odeon_pollset {
    int epfd;
    GArray *by_fd; /* watched_fd, indexed by descriptor number */
    unsigned count;
    GArray *reduced; /* GPollFD: what goes to poll(2) */
    GArray *origin;  /* guint: the caller's index of each reduced entry */
};

odeon_pollset *odeon_pollset_new(void)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return NULL;
    odeon_pollset *p = g_new0(odeon_pollset, 1);
    p->epfd = epfd;
    p->by_fd = g_array_new(FALSE, TRUE, sizeof(watched_fd));
    p->reduced = g_array_new(FALSE, FALSE, sizeof(GPollFD));
    p->origin = g_array_new(FALSE, FALSE, sizeof(guint));
    return p;
}

static watched_fd *lookup(odeon_pollset *p, int fd)
{
    if (fd < 0 || (guint)fd >= p->by_fd->len)
        return NULL;
    watched_fd *w = &g_array_index(p->by_fd, watched_fd, fd);
    return w->socket != NULL ? w : NULL;
}

/* The socket is gone from epoll (unwatched, or closed, which removed it by itself). */
static void drop(odeon_pollset *p, int fd, watched_fd *w)
{
    if (!g_socket_is_closed(w->socket))
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
    g_clear_object(&w->socket);
    w->ready = 0;
    p->count--;
}

void odeon_pollset_free(odeon_pollset *p)
{
    if (p == NULL)
        return;
    for (guint fd = 0; fd < p->by_fd->len; fd++) {
        watched_fd *w = lookup(p, (int)fd);
        if (w != NULL)
            drop(p, (int)fd, w);
    }
    close(p->epfd);
    g_array_free(p->by_fd, TRUE);
    g_array_free(p->reduced, TRUE);
    g_array_free(p->origin, TRUE);
    g_free(p);
}

bool odeon_pollset_watch(odeon_pollset *p, GSocket *socket)
{
    if (p == NULL || socket == NULL || g_socket_is_closed(socket))
        return false;
    int fd = g_socket_get_fd(socket);
    if (fd < 0)
        return false;
    if ((guint)fd >= p->by_fd->len)
        g_array_set_size(p->by_fd, (guint)fd + 1);
    watched_fd *w = &g_array_index(p->by_fd, watched_fd, fd);
    if (w->socket == socket)
        return true;
    if (w->socket != NULL)
        drop(p, fd, w); /* an old socket under the same number, closed meanwhile */
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
        (errno != EEXIST || epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) != 0))
        return false;
    w->socket = g_object_ref(socket);
    w->ready = 0;
    p->count++;
    return true;
}

void odeon_pollset_unwatch(odeon_pollset *p, GSocket *socket)
{
    if (p == NULL || socket == NULL)
        return;
    /* A closed GSocket may no longer say which number it had: look for it then. */
    int fd = g_socket_is_closed(socket) ? -1 : g_socket_get_fd(socket);
    watched_fd *w = lookup(p, fd);
    if (w != NULL && w->socket == socket) {
        drop(p, fd, w);
        return;
    }
    for (guint i = 0; i < p->by_fd->len; i++) {
        w = lookup(p, (int)i);
        if (w != NULL && w->socket == socket) {
            drop(p, (int)i, w);
            return;
        }
    }
}

unsigned odeon_pollset_watched(const odeon_pollset *p)
{
    return p ? p->count : 0;
}

/* Whether entry f is served by epoll: its socket is watched, still open, and only input is
 * asked for. A watched socket found closed is dropped here, so its number, maybe already
 * another socket's, goes to poll(2). */
static watched_fd *served(odeon_pollset *p, const GPollFD *f)
{
    watched_fd *w = lookup(p, f->fd);
    if (w == NULL)
        return NULL;
    if (g_socket_is_closed(w->socket)) {
        drop(p, f->fd, w);
        return NULL;
    }
    return (f->events & ~(G_IO_IN | G_IO_PRI)) == 0 ? w : NULL;
}

/* Marks each watched socket epoll says is ready; returns how many events it read into ev. */
static int read_epoll(odeon_pollset *p, struct epoll_event *ev)
{
    int n = epoll_wait(p->epfd, ev, EPOLL_BATCH, 0);
    for (int i = 0; i < n; i++) {
        watched_fd *w = lookup(p, ev[i].data.fd);
        if (w != NULL)
            w->ready = ev[i].events & ~CONSUMED;
    }
    return n > 0 ? n : 0;
}

/* Ready sockets that no entry asked about (their GLib source is gone or blocked) would keep
 * the epoll descriptor readable and the loop spinning: they go back to poll(2). */
static void settle_epoll(odeon_pollset *p, const struct epoll_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        int fd = ev[i].data.fd;
        watched_fd *w = lookup(p, fd);
        if (w == NULL)
            continue;
        if (!(w->ready & CONSUMED))
            drop(p, fd, w);
        else
            w->ready = 0;
    }
}

gint odeon_pollset_poll(odeon_pollset *p, GPollFD *fds, guint nfds, gint timeout)
{
    if (p == NULL || p->count == 0)
        return g_poll(fds, nfds, timeout);
    g_array_set_size(p->reduced, 0);
    g_array_set_size(p->origin, 0);
    GPollFD ep = {.fd = p->epfd, .events = G_IO_IN};
    g_array_append_val(p->reduced, ep);
    guint none = G_MAXUINT;
    g_array_append_val(p->origin, none);
    for (guint i = 0; i < nfds; i++) {
        fds[i].revents = 0;
        if (served(p, &fds[i]) != NULL)
            continue;
        g_array_append_val(p->reduced, fds[i]);
        g_array_append_val(p->origin, i);
    }
    GPollFD *red = (GPollFD *)(void *)p->reduced->data;
    gint rc = g_poll(red, p->reduced->len, timeout);
    if (rc <= 0)
        return rc;
    struct epoll_event ev[EPOLL_BATCH];
    int nev = red[0].revents != 0 ? read_epoll(p, ev) : 0;
    for (guint j = 1; j < p->reduced->len; j++)
        fds[g_array_index(p->origin, guint, j)].revents = red[j].revents;
    gint ready = 0;
    for (guint i = 0; i < nfds; i++) {
        watched_fd *w = nev > 0 ? lookup(p, fds[i].fd) : NULL;
        if (w != NULL && (fds[i].events & ~(G_IO_IN | G_IO_PRI)) == 0) {
            fds[i].revents = (gushort)(w->ready & (fds[i].events | G_IO_ERR | G_IO_HUP));
            w->ready |= CONSUMED;
        }
        if (fds[i].revents != 0)
            ready++;
    }
    settle_epoll(p, ev, nev);
    return ready;
}
