/*
 * test_pollset.c - the media loops' poll function: watched sockets through epoll, the rest
 * through poll(2), with poll(2)'s answers either way, and no stale watch surviving a close.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <gio/gio.h>

#include "core/pollset.h"

static GSocket *udp_socket(void)
{
    GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                              G_SOCKET_PROTOCOL_UDP, NULL);
    assert_non_null(s);
    GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    GSocketAddress *any = g_inet_socket_address_new(lo, 0);
    assert_true(g_socket_bind(s, any, FALSE, NULL));
    g_object_unref(any);
    g_object_unref(lo);
    return s;
}

static void send_to(GSocket *to)
{
    GSocketAddress *addr = g_socket_get_local_address(to, NULL);
    GSocket *from = udp_socket();
    assert_int_equal(g_socket_send_to(from, addr, "x", 1, NULL, NULL), 1);
    g_object_unref(from);
    g_object_unref(addr);
}

static void drain(GSocket *s)
{
    char buf[16];
    while (g_socket_receive_with_blocking(s, buf, sizeof buf, FALSE, NULL, NULL) > 0)
        ;
}

static void test_watched_and_polled(void **state)
{
    (void)state;
    odeon_pollset *p = odeon_pollset_new();
    assert_non_null(p);
    GSocket *a = udp_socket(), *b = udp_socket();
    assert_true(odeon_pollset_watch(p, a));
    assert_true(odeon_pollset_watch(p, a)); /* twice is once */
    assert_int_equal(odeon_pollset_watched(p), 1);
    GPollFD fds[2] = {{.fd = g_socket_get_fd(a), .events = G_IO_IN},
                      {.fd = g_socket_get_fd(b), .events = G_IO_IN}};

    assert_int_equal(odeon_pollset_poll(p, fds, 2, 0), 0);
    send_to(a);
    assert_int_equal(odeon_pollset_poll(p, fds, 2, 1000), 1);
    assert_true(fds[0].revents & G_IO_IN);
    assert_int_equal(fds[1].revents, 0);
    /* Level-triggered, as poll(2): still ready until read. */
    assert_int_equal(odeon_pollset_poll(p, fds, 2, 0), 1);
    drain(a);
    assert_int_equal(odeon_pollset_poll(p, fds, 2, 0), 0);

    send_to(b);
    assert_int_equal(odeon_pollset_poll(p, fds, 2, 1000), 1);
    assert_int_equal(fds[0].revents, 0);
    assert_true(fds[1].revents & G_IO_IN);
    drain(b);

    /* Asked for output too: poll(2) answers for it. */
    fds[0].events = G_IO_IN | G_IO_OUT;
    assert_int_equal(odeon_pollset_poll(p, fds, 2, 0), 1);
    assert_true(fds[0].revents & G_IO_OUT);

    odeon_pollset_unwatch(p, a);
    assert_int_equal(odeon_pollset_watched(p), 0);
    odeon_pollset_unwatch(p, a); /* not watched: nothing */
    g_object_unref(a);
    g_object_unref(b);
    odeon_pollset_free(p);
}

/* The socket is closed under the pollset and its number goes to a new socket, which must be
 * polled (a stale watch would hide it for good). */
static void test_closed_and_reused(void **state)
{
    (void)state;
    odeon_pollset *p = odeon_pollset_new();
    GSocket *a = udp_socket();
    int fd = g_socket_get_fd(a);
    assert_true(odeon_pollset_watch(p, a));
    assert_true(g_socket_close(a, NULL));
    GSocket *c = udp_socket();
    assert_int_equal(g_socket_get_fd(c), fd); /* the lowest free number */
    GPollFD f = {.fd = fd, .events = G_IO_IN};
    send_to(c);
    assert_int_equal(odeon_pollset_poll(p, &f, 1, 1000), 1);
    assert_true(f.revents & G_IO_IN);
    assert_int_equal(odeon_pollset_watched(p), 0);
    /* Watching the new socket under the old number works. */
    assert_true(odeon_pollset_watch(p, c));
    assert_int_equal(odeon_pollset_poll(p, &f, 1, 1000), 1);
    assert_true(f.revents & G_IO_IN);
    odeon_pollset_unwatch(p, a); /* closed and no longer watched: nothing */
    assert_int_equal(odeon_pollset_watched(p), 1);
    g_object_unref(a);
    g_object_unref(c);
    odeon_pollset_free(p); /* releases c */
}

/* A ready socket that no entry asks about (its GLib source went away) must not keep the loop
 * spinning: it is dropped back to poll(2), and the next poll waits. */
static void test_orphan_dropped(void **state)
{
    (void)state;
    odeon_pollset *p = odeon_pollset_new();
    GSocket *a = udp_socket(), *b = udp_socket();
    assert_true(odeon_pollset_watch(p, a));
    assert_true(odeon_pollset_watch(p, b));
    GPollFD f = {.fd = g_socket_get_fd(a), .events = G_IO_IN};
    send_to(b);
    assert_int_equal(odeon_pollset_poll(p, &f, 1, 1000), 0);
    assert_int_equal(odeon_pollset_watched(p), 1);
    gint64 t0 = g_get_monotonic_time();
    assert_int_equal(odeon_pollset_poll(p, &f, 1, 50), 0);
    assert_true(g_get_monotonic_time() - t0 >= 40 * 1000); /* it waited */
    g_object_unref(a);
    g_object_unref(b);
    odeon_pollset_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watched_and_polled),
        cmocka_unit_test(test_closed_and_reused),
        cmocka_unit_test(test_orphan_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
