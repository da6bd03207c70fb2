/*
 * eventbus.c - a bounded queue and one thread feeding subscribed handlers.
 *
 * Publishers build the envelope on their own thread (cheap: a few json_object_set calls) and
 * push it onto a GAsyncQueue; the bus thread pops and calls each handler whose mask matches.
 * The subscriber list is copied under a lock only when it changes (copy-on-write array), so
 * the publish path reads one atomic pointer to decide whether anyone listens.
 */
#include "events/eventbus.h"

#include <glib.h>

#include "core/clock.h"

typedef struct subscriber {
    uint32_t mask;
    odeon_event_handler_fn fn;
    void *user_data;
} subscriber;

struct odeon_eventbus {
    char *emitter;
    unsigned capacity;
    GAsyncQueue *queue;
    GThread *thread;
    GMutex lock; /* subscribers, flush condition */
    GCond flushed;
    GArray *subscribers; /* subscriber; never modified once published, replaced on change */
    gint mask;           /* OR of all subscribers' masks */
    gint queued;         /* envelopes in the queue */
    guint64 dropped;
    guint64 delivered;
    guint64 published;
    guint64 handled;
};

/* Marks the end of the queue at shutdown. */
static json_t stop_marker;

/* Returns how many handlers got the envelope. */
static unsigned bus_dispatch(odeon_eventbus *bus, json_t *envelope)
{
    unsigned count = 0;
    int type = (int)json_integer_value(json_object_get(envelope, "type"));
    g_mutex_lock(&bus->lock);
    GArray *subs = g_array_ref(bus->subscribers);
    g_mutex_unlock(&bus->lock);
    for (guint i = 0; i < subs->len; i++) {
        subscriber *s = &g_array_index(subs, subscriber, i);
        if (s->mask & (uint32_t)type) {
            s->fn(envelope, s->user_data);
            count++;
        }
    }
    g_array_unref(subs);
    return count;
}

static gpointer bus_thread(gpointer data)
{
    odeon_eventbus *bus = data;
    for (;;) {
        json_t *envelope = g_async_queue_pop(bus->queue);
        if (envelope == &stop_marker)
            break;
        g_atomic_int_add(&bus->queued, -1);
        unsigned count = bus_dispatch(bus, envelope);
        json_decref(envelope);
        g_mutex_lock(&bus->lock);
        bus->handled++;
        bus->delivered += count;
        g_cond_broadcast(&bus->flushed);
        g_mutex_unlock(&bus->lock);
    }
    return NULL;
}

odeon_eventbus *odeon_eventbus_new(const char *emitter, unsigned queue_size)
{
    odeon_eventbus *bus = g_new0(odeon_eventbus, 1);
    bus->emitter = g_strdup(emitter ? emitter : "odeon");
    bus->capacity = queue_size ? queue_size : 65536;
    bus->queue = g_async_queue_new();
    g_mutex_init(&bus->lock);
    g_cond_init(&bus->flushed);
    bus->subscribers = g_array_new(FALSE, FALSE, sizeof(subscriber));
    bus->thread = g_thread_new("odeon-events", bus_thread, bus);
    return bus;
}

void odeon_eventbus_free(odeon_eventbus *bus)
{
    if (bus == NULL)
        return;
    g_async_queue_push(bus->queue, &stop_marker);
    g_thread_join(bus->thread);
    json_t *left;
    while ((left = g_async_queue_try_pop(bus->queue)) != NULL) {
        if (left != &stop_marker)
            json_decref(left);
    }
    g_async_queue_unref(bus->queue);
    g_array_unref(bus->subscribers);
    g_mutex_clear(&bus->lock);
    g_cond_clear(&bus->flushed);
    g_free(bus->emitter);
    g_free(bus);
}

/* Publish a new subscriber list (called with the lock held): the bus thread may still be
 * walking the old one, which it holds a reference to. */
static void bus_replace_subscribers(odeon_eventbus *bus, GArray *next)
{
    uint32_t mask = 0;
    for (guint i = 0; i < next->len; i++)
        mask |= g_array_index(next, subscriber, i).mask;
    g_array_unref(bus->subscribers);
    bus->subscribers = next;
    g_atomic_int_set(&bus->mask, (gint)mask);
}

int odeon_eventbus_subscribe(odeon_eventbus *bus, uint32_t mask, odeon_event_handler_fn fn,
                             void *user_data)
{
    subscriber s = {mask, fn, user_data};
    g_mutex_lock(&bus->lock);
    GArray *next = g_array_copy(bus->subscribers);
    g_array_append_val(next, s);
    bus_replace_subscribers(bus, next);
    g_mutex_unlock(&bus->lock);
    return 0;
}

void odeon_eventbus_unsubscribe(odeon_eventbus *bus, odeon_event_handler_fn fn, void *user_data)
{
    g_mutex_lock(&bus->lock);
    GArray *next = g_array_copy(bus->subscribers);
    for (guint i = 0; i < next->len; i++) {
        subscriber *s = &g_array_index(next, subscriber, i);
        if (s->fn == fn && s->user_data == user_data) {
            g_array_remove_index(next, i);
            break;
        }
    }
    bus_replace_subscribers(bus, next);
    g_mutex_unlock(&bus->lock);
}

bool odeon_eventbus_has_subscribers(odeon_eventbus *bus, odeon_event_type type)
{
    return bus != NULL && (g_atomic_int_get(&bus->mask) & (gint)type) != 0;
}

void odeon_eventbus_publish(odeon_eventbus *bus, odeon_event_type type, uint64_t session_id,
                            uint64_t handle_id, json_t *body)
{
    if (!odeon_eventbus_has_subscribers(bus, type))
        return;
    if ((unsigned)g_atomic_int_get(&bus->queued) >= bus->capacity) {
        g_mutex_lock(&bus->lock);
        bus->dropped++;
        g_mutex_unlock(&bus->lock);
        return;
    }
    json_t *envelope = json_object();
    json_object_set_new(envelope, "emitter", json_string(bus->emitter));
    json_object_set_new(envelope, "type", json_integer(type));
    json_object_set_new(envelope, "timestamp", json_integer(odeon_clock_wall_us()));
    if (session_id)
        json_object_set_new(envelope, "session_id", json_integer((json_int_t)session_id));
    if (handle_id)
        json_object_set_new(envelope, "handle_id", json_integer((json_int_t)handle_id));
    /* A copy, not a reference: the body is borrowed, and its owner may change it as soon as
     * this returns while the bus thread reads the envelope (json_t is not thread-safe). */
    json_object_set_new(envelope, "event", body ? json_deep_copy(body) : json_null());
    g_atomic_int_inc(&bus->queued);
    g_mutex_lock(&bus->lock);
    bus->published++;
    g_mutex_unlock(&bus->lock);
    g_async_queue_push(bus->queue, envelope);
}

void odeon_eventbus_flush(odeon_eventbus *bus)
{
    g_mutex_lock(&bus->lock);
    guint64 target = bus->published;
    while (bus->handled < target)
        g_cond_wait(&bus->flushed, &bus->lock);
    g_mutex_unlock(&bus->lock);
}

uint64_t odeon_eventbus_dropped(odeon_eventbus *bus)
{
    g_mutex_lock(&bus->lock);
    uint64_t v = bus->dropped;
    g_mutex_unlock(&bus->lock);
    return v;
}

uint64_t odeon_eventbus_delivered(odeon_eventbus *bus)
{
    g_mutex_lock(&bus->lock);
    uint64_t v = bus->delivered;
    g_mutex_unlock(&bus->lock);
    return v;
}
