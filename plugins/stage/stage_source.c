/*
 * stage_source.c - plain RTP ingest for stages.
 *
 * One ingest thread polls the UDP sockets of every stage and hands each packet to
 * stage_packet (stage_fanout.c), which checks, counts and rings it and wakes the loops whose
 * viewers it goes to.
 */
#include "stage.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_BUFFER 2048
#define MAX_SOCKETS 256

static GMutex ingest_lock; /* stages, changed */
static GPtrArray *ingest_stages; /* stage * (references) */
static bool ingest_changed;
static int wake_fd = -1;
static GThread *ingest_thread;
static gint ingest_running;

static int bind_udp(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    int size = 4 << 20; /* bursts of a keyframe must not overflow the kernel buffer */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int stage_source_open(stage *s, char **error)
{
    for (size_t i = 0; i < s->track_count; i++)
        for (int k = 0; k < STAGE_LAYERS_MAX; k++)
            s->tracks[i].sockets[k] = -1;
    for (size_t i = 0; i < s->track_count; i++) {
        stage_track *t = &s->tracks[i];
        for (int k = 0; k < STAGE_LAYERS_MAX && t->ports[k] != 0; k++) {
            t->sockets[k] = bind_udp(t->ports[k]);
            if (t->sockets[k] >= 0)
                continue;
            if (error)
                *error = g_strdup_printf("cannot bind UDP port %u for stage %" G_GUINT64_FORMAT
                                         ": %s", t->ports[k], s->id, g_strerror(errno));
            stage_source_close(s);
            return -1;
        }
    }
    return 0;
}

void stage_source_close(stage *s)
{
    for (size_t i = 0; i < s->track_count; i++)
        for (int k = 0; k < STAGE_LAYERS_MAX; k++) {
            if (s->tracks[i].sockets[k] >= 0)
                close(s->tracks[i].sockets[k]);
            s->tracks[i].sockets[k] = -1;
        }
}

static void ingest_wake(void)
{
    uint64_t one = 1;
    if (wake_fd >= 0 && write(wake_fd, &one, sizeof one) < 0) {
        /* the counter is already non-zero: the thread wakes anyway */
    }
}

void stage_ingest_add(stage *s)
{
    g_mutex_lock(&ingest_lock);
    g_ptr_array_add(ingest_stages, stage_ref(s));
    ingest_changed = true;
    g_mutex_unlock(&ingest_lock);
    ingest_wake();
}

void stage_ingest_remove(stage *s)
{
    g_mutex_lock(&ingest_lock);
    /* The array's free function drops the list's reference. The thread keeps its own until
     * it has re-read the list, and the sockets close with the last reference, so it never
     * polls a closed fd. */
    if (g_ptr_array_remove(ingest_stages, s))
        ingest_changed = true;
    g_mutex_unlock(&ingest_lock);
    ingest_wake();
}

typedef struct poll_slot {
    stage *stage; /* reference */
    size_t track;
    int substream;
} poll_slot;

static size_t rebuild_poll(struct pollfd *fds, poll_slot *slots)
{
    for (size_t i = 1; i < MAX_SOCKETS && slots[i].stage != NULL; i++) {
        stage_unref(slots[i].stage);
        slots[i].stage = NULL;
    }
    size_t n = 1;
    g_mutex_lock(&ingest_lock);
    ingest_changed = false;
    for (guint i = 0; i < ingest_stages->len; i++) {
        stage *s = g_ptr_array_index(ingest_stages, i);
        for (size_t k = 0; k < s->track_count; k++)
            for (int l = 0; l < STAGE_LAYERS_MAX && n < MAX_SOCKETS; l++) {
                if (s->tracks[k].sockets[l] < 0)
                    continue;
                fds[n] = (struct pollfd){.fd = s->tracks[k].sockets[l], .events = POLLIN};
                slots[n] = (poll_slot){.stage = stage_ref(s), .track = k, .substream = l};
                n++;
            }
    }
    g_mutex_unlock(&ingest_lock);
    return n;
}

/* The loops are woken once per poll round and stage (audio and video sockets, every layer
 * together), not once per packet: the readers then take the burst in one drain and one send
 * per viewer. */
static void wake_stored_stages(const poll_slot *slots, bool *woken, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (!woken[i])
            continue;
        woken[i] = false;
        for (size_t j = i + 1; j < n; j++)
            if (slots[j].stage == slots[i].stage)
                woken[j] = false;
        stage_wake_loops(slots[i].stage);
    }
}

static gpointer ingest_main(gpointer data)
{
    (void)data;
    static struct pollfd fds[MAX_SOCKETS];
    static poll_slot slots[MAX_SOCKETS];
    static uint8_t buf[RECV_BUFFER] __attribute__((aligned(16)));
    static bool woken[MAX_SOCKETS];
    fds[0] = (struct pollfd){.fd = wake_fd, .events = POLLIN};
    size_t n = rebuild_poll(fds, slots);
    while (g_atomic_int_get(&ingest_running)) {
        if (poll(fds, n, 1000) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN) {
            uint64_t count;
            if (read(wake_fd, &count, sizeof count) < 0) {
                /* nothing pending */
            }
        }
        stage_whip_reap();
        stage_counts_flush();
        stage_report_load();
        g_mutex_lock(&ingest_lock);
        bool changed = ingest_changed;
        g_mutex_unlock(&ingest_lock);
        if (changed) {
            n = rebuild_poll(fds, slots);
            continue;
        }
        for (size_t i = 1; i < n; i++) {
            if (!(fds[i].revents & POLLIN))
                continue;
            /* Drain a bounded batch per wake-up so one busy stage cannot starve others. */
            for (int k = 0; k < 64; k++) {
                ssize_t got = recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT);
                if (got <= 0)
                    break;
                if (stage_packet_store(slots[i].stage, slots[i].track, slots[i].substream,
                                       buf, (size_t)got))
                    woken[i] = true;
            }
        }
        wake_stored_stages(slots, woken, n);
    }
    for (size_t i = 1; i < MAX_SOCKETS && slots[i].stage != NULL; i++)
        stage_unref(slots[i].stage);
    return NULL;
}

int stage_ingest_start(void)
{
    ingest_stages = g_ptr_array_new_with_free_func((GDestroyNotify)stage_unref);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0)
        return -1;
    g_atomic_int_set(&ingest_running, 1);
    ingest_thread = g_thread_new("stage-ingest", ingest_main, NULL);
    return 0;
}

void stage_ingest_stop(void)
{
    g_atomic_int_set(&ingest_running, 0);
    ingest_wake();
    if (ingest_thread != NULL)
        g_thread_join(ingest_thread);
    ingest_thread = NULL;
    if (wake_fd >= 0)
        close(wake_fd);
    wake_fd = -1;
    g_clear_pointer(&ingest_stages, g_ptr_array_unref);
}
