/*
 * stage_source.c - plain RTP ingest for stages, and the fan-out to their viewers.
 *
 * One ingest thread polls the UDP sockets of every stage. Each packet is checked (RTP v2,
 * header length), counted, kept in the stage's GOP cache when it is video (every packet since
 * the last VP8 keyframe, so a viewer who joins now can decode at once instead of waiting up to
 * a keyframe interval for the source's next one), and sent to every started viewer.
 */
#include "stage.h"
#include "stage_rtp.h"

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

int stage_source_open(stage *s, char **error)
{
    for (size_t i = 0; i < s->track_count; i++) {
        stage_track *t = &s->tracks[i];
        t->socket = -1;
        if (t->port == 0)
            continue;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(t->port)};
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
        int size = 4 << 20; /* bursts of a keyframe must not overflow the kernel buffer */
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            if (error)
                *error = g_strdup_printf("cannot bind UDP port %u for stage %" G_GUINT64_FORMAT
                                         ": %s", t->port, s->id, g_strerror(errno));
            if (fd >= 0)
                close(fd);
            stage_source_close(s);
            return -1;
        }
        t->socket = fd;
    }
    return 0;
}

void stage_source_close(stage *s)
{
    for (size_t i = 0; i < s->track_count; i++) {
        if (s->tracks[i].socket >= 0)
            close(s->tracks[i].socket);
        s->tracks[i].socket = -1;
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

void stage_gop_clear(stage_gop *g)
{
    g->used = 0;
    g->count = 0;
}

void stage_gop_free(stage_gop *g)
{
    g_free(g->data);
    g_free(g->offsets);
    g_free(g->lengths);
    memset(g, 0, sizeof *g);
}

void stage_gop_append(stage_gop *g, const uint8_t *pkt, size_t len)
{
    if (g->offsets == NULL) {
        g->offsets = g_new(uint32_t, STAGE_GOP_MAX_PACKETS);
        g->lengths = g_new(uint16_t, STAGE_GOP_MAX_PACKETS);
    }
    if (g->count == STAGE_GOP_MAX_PACKETS || len > UINT16_MAX)
        return;
    if (g->used + len > g->capacity) {
        g->capacity = MAX(g->capacity * 2, g->used + len + (256u << 10));
        g->data = g_realloc(g->data, g->capacity);
    }
    memcpy(g->data + g->used, pkt, len);
    g->offsets[g->count] = (uint32_t)g->used;
    g->lengths[g->count] = (uint16_t)len;
    g->count++;
    g->used += len;
}

/* Keeps the GOP: a keyframe start replaces the cache. Called with the stage's lock. */
static void gop_keep(stage *s, const uint8_t *pkt, size_t len, size_t hdr)
{
    if (stage_vp8_keyframe_start(pkt + hdr, len - hdr)) {
        stage_gop_clear(&s->gop);
    } else if (s->gop.count == 0 || s->gop.count >= STAGE_GOP_MAX_PACKETS) {
        if (s->gop.count >= STAGE_GOP_MAX_PACKETS)
            stage_gop_clear(&s->gop); /* too long a GOP: wait for the next keyframe */
        return;
    }
    stage_gop_append(&s->gop, pkt, len);
}

void stage_packet(stage *s, size_t track, const uint8_t *pkt, size_t len)
{
    size_t hdr = stage_rtp_header_len(pkt, len);
    if (hdr == 0)
        return;
    stage_track *t = &s->tracks[track];
    g_mutex_lock(&s->lock);
    s->packets_in++;
    if (t->video) {
        s->last_video_us = g_get_monotonic_time();
        if (g_ascii_strcasecmp(t->codec, "VP8") == 0)
            gop_keep(s, pkt, len, hdr);
    } else {
        s->last_audio_us = g_get_monotonic_time();
    }
    for (guint i = 0; i < s->viewers->len; i++)
        stage_viewer_send(g_ptr_array_index(s->viewers, i), s, track, pkt, len);
    g_mutex_unlock(&s->lock);
}

typedef struct poll_slot {
    stage *stage; /* reference */
    size_t track;
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
        for (size_t k = 0; k < s->track_count && n < MAX_SOCKETS; k++) {
            if (s->tracks[k].socket < 0)
                continue;
            fds[n] = (struct pollfd){.fd = s->tracks[k].socket, .events = POLLIN};
            slots[n] = (poll_slot){.stage = stage_ref(s), .track = k};
            n++;
        }
    }
    g_mutex_unlock(&ingest_lock);
    return n;
}

static gpointer ingest_main(gpointer data)
{
    (void)data;
    static struct pollfd fds[MAX_SOCKETS];
    static poll_slot slots[MAX_SOCKETS];
    static uint8_t buf[RECV_BUFFER] __attribute__((aligned(16)));
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
                stage_packet(slots[i].stage, slots[i].track, buf, (size_t)got);
            }
        }
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
