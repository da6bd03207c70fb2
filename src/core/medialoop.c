/*
 * medialoop.c - media loop threads: a GMainContext each, and an ordered task queue.
 *
 * The task queue is a mutex-protected GQueue drained by one GSource per loop. A GSource per
 * task (g_main_context_invoke) would not keep the posting order between sources of equal
 * priority, and the order matters (remote description before trickled candidates).
 */
#include "core/medialoop.h"

#include <unistd.h>

#include "core/log.h"
#include "core/pollset.h"

#define LOG_MODULE "medialoop"

typedef struct media_task {
    odeon_media_task_fn fn;
    void *data;
} media_task;

typedef struct task_source {
    GSource source;
    odeon_media_loop *loop;
} task_source;

struct odeon_media_loop {
    unsigned index;
    GMainContext *context;
    GMainLoop *main_loop;
    GThread *thread;
    GMutex lock; /* tasks */
    GQueue tasks;
    odeon_media_wake *wakes, *wakes_tail; /* under lock: intrusive, nothing allocated */
    GSource *task_source;
    gint load; /* atomic */
    GArray *tickers;  /* media_ticker; loop thread only */
    GSource *tick_source;
    bool ticking;     /* inside a tick: removals only mark entries */
    odeon_pollset *pollset; /* NULL without epoll; loop thread only */
};

typedef struct media_ticker {
    odeon_media_tick_fn fn;
    void *data;
} media_ticker;

struct odeon_media_loops {
    odeon_media_loop *loops;
    unsigned count;
    gint next; /* atomic round-robin cursor */
};

static bool loop_has_tasks(odeon_media_loop *loop)
{
    g_mutex_lock(&loop->lock);
    bool any = !g_queue_is_empty(&loop->tasks) || loop->wakes != NULL;
    g_mutex_unlock(&loop->lock);
    return any;
}

static gboolean task_source_prepare(GSource *source, gint *timeout)
{
    *timeout = -1;
    return loop_has_tasks(((task_source *)source)->loop);
}

static gboolean task_source_check(GSource *source)
{
    return loop_has_tasks(((task_source *)source)->loop);
}

/* Each wake is cleared before its function runs: a wake from inside fn (or from another
 * thread meanwhile) queues it again instead of being lost. */
static void run_wakes(odeon_media_wake *w)
{
    while (w != NULL) {
        odeon_media_wake *next = w->next;
        w->next = NULL;
        g_atomic_int_set(&w->pending, 0);
        w->fn(w->data);
        w = next;
    }
}

static gboolean task_source_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    (void)cb;
    (void)data;
    odeon_media_loop *loop = ((task_source *)source)->loop;
    /* Take the whole batch at once: one lock round trip however many tasks were posted. */
    g_mutex_lock(&loop->lock);
    GQueue batch = loop->tasks;
    g_queue_init(&loop->tasks);
    odeon_media_wake *wakes = loop->wakes;
    loop->wakes = loop->wakes_tail = NULL;
    g_mutex_unlock(&loop->lock);
    media_task *task;
    while ((task = g_queue_pop_head(&batch)) != NULL) {
        task->fn(task->data);
        g_free(task);
    }
    run_wakes(wakes);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs task_source_funcs = {
    .prepare = task_source_prepare,
    .check = task_source_check,
    .dispatch = task_source_dispatch,
};

static __thread odeon_media_loop *current_loop;

odeon_media_loop *odeon_media_loop_current(void)
{
    return current_loop;
}

/* GLib's poll function for the loops' contexts: the iterating thread is the loop's own. */
static gint loop_poll(GPollFD *fds, guint nfds, gint timeout)
{
    odeon_media_loop *loop = current_loop;
    return loop != NULL ? odeon_pollset_poll(loop->pollset, fds, nfds, timeout)
                        : g_poll(fds, nfds, timeout);
}

void odeon_media_loop_watch_socket(odeon_media_loop *loop, GSocket *socket)
{
    if (loop != NULL && loop == current_loop)
        odeon_pollset_watch(loop->pollset, socket);
}

void odeon_media_loop_unwatch_socket(odeon_media_loop *loop, GSocket *socket)
{
    if (loop != NULL && loop == current_loop)
        odeon_pollset_unwatch(loop->pollset, socket);
}

static gboolean loop_tick(gpointer data)
{
    odeon_media_loop *loop = data;
    int64_t now = g_get_monotonic_time();
    loop->ticking = true;
    for (guint i = 0; i < loop->tickers->len; i++) {
        media_ticker *t = &g_array_index(loop->tickers, media_ticker, i);
        if (t->fn != NULL)
            t->fn(t->data, now);
    }
    loop->ticking = false;
    for (guint i = loop->tickers->len; i > 0; i--)
        if (g_array_index(loop->tickers, media_ticker, i - 1).fn == NULL)
            g_array_remove_index_fast(loop->tickers, i - 1);
    return G_SOURCE_CONTINUE;
}

void odeon_media_loop_tick_add(odeon_media_loop *loop, odeon_media_tick_fn fn, void *data)
{
    media_ticker t = {fn, data};
    g_array_append_val(loop->tickers, t);
}

void odeon_media_loop_tick_remove(odeon_media_loop *loop, odeon_media_tick_fn fn, void *data)
{
    for (guint i = 0; i < loop->tickers->len; i++) {
        media_ticker *t = &g_array_index(loop->tickers, media_ticker, i);
        if (t->fn == fn && t->data == data) {
            if (loop->ticking)
                t->fn = NULL; /* compacted after the tick */
            else
                g_array_remove_index_fast(loop->tickers, i);
            return;
        }
    }
}

static gpointer loop_thread(gpointer data)
{
    odeon_media_loop *loop = data;
    current_loop = loop;
    g_main_context_push_thread_default(loop->context);
    g_main_loop_run(loop->main_loop);
    /* Drain what was posted before the stop request. */
    while (g_main_context_iteration(loop->context, FALSE))
        ;
    g_main_context_pop_thread_default(loop->context);
    return NULL;
}

static void loop_quit_task(void *data)
{
    g_main_loop_quit(((odeon_media_loop *)data)->main_loop);
}

odeon_media_loops *odeon_media_loops_start(unsigned count, char **error)
{
    if (count == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        count = cpus > 0 ? (unsigned)cpus : 1;
    }
    odeon_media_loops *loops = g_new0(odeon_media_loops, 1);
    loops->loops = g_new0(odeon_media_loop, count);
    loops->count = count;
    for (unsigned i = 0; i < count; i++) {
        odeon_media_loop *loop = &loops->loops[i];
        loop->index = i;
        loop->context = g_main_context_new();
        loop->pollset = odeon_pollset_new();
        g_main_context_set_poll_func(loop->context, loop_poll);
        loop->main_loop = g_main_loop_new(loop->context, FALSE);
        g_mutex_init(&loop->lock);
        g_queue_init(&loop->tasks);
        loop->task_source = g_source_new(&task_source_funcs, sizeof(task_source));
        ((task_source *)loop->task_source)->loop = loop;
        /* The default priority, as libnice's sockets: GLib dispatches only the most urgent
         * ready sources of an iteration, so a higher one would starve every socket (ICE and
         * DTLS of joiners, RTCP) while fan-out wakes keep coming on a busy loop. */
        g_source_set_priority(loop->task_source, G_PRIORITY_DEFAULT);
        g_source_attach(loop->task_source, loop->context);
        loop->tickers = g_array_new(FALSE, FALSE, sizeof(media_ticker));
        loop->tick_source = g_timeout_source_new(ODEON_MEDIA_LOOP_TICK_MS);
        g_source_set_callback(loop->tick_source, loop_tick, loop, NULL);
        g_source_attach(loop->tick_source, loop->context);
        char name[16];
        g_snprintf(name, sizeof(name), "media-%u", i);
        GError *gerr = NULL;
        loop->thread = g_thread_try_new(name, loop_thread, loop, &gerr);
        if (loop->thread == NULL) {
            if (error)
                *error = g_strdup_printf("cannot start media thread %u: %s", i, gerr->message);
            g_error_free(gerr);
            loops->count = i + 1;
            odeon_media_loops_stop(loops);
            return NULL;
        }
    }
    LOG_INFO("%u media loop thread%s started", count, count == 1 ? "" : "s");
    return loops;
}

void odeon_media_loops_stop(odeon_media_loops *loops)
{
    if (loops == NULL)
        return;
    for (unsigned i = 0; i < loops->count; i++) {
        odeon_media_loop *loop = &loops->loops[i];
        if (loop->thread != NULL) {
            odeon_media_loop_post(loop, loop_quit_task, loop);
            g_thread_join(loop->thread);
        }
        if (g_atomic_int_get(&loop->load) != 0)
            LOG_WARN("media loop %u stopped with %d peer connections", i,
                     g_atomic_int_get(&loop->load));
        /* Tasks posted while the loop was stopping still run (here: the loop thread is
         * gone), so the references they hold are released. */
        media_task *task;
        while ((task = g_queue_pop_head(&loop->tasks)) != NULL) {
            task->fn(task->data);
            g_free(task);
        }
        odeon_media_wake *wakes = loop->wakes;
        loop->wakes = loop->wakes_tail = NULL;
        run_wakes(wakes);
        g_source_destroy(loop->task_source);
        g_source_unref(loop->task_source);
        g_source_destroy(loop->tick_source);
        g_source_unref(loop->tick_source);
        g_array_free(loop->tickers, TRUE);
        g_main_loop_unref(loop->main_loop);
        g_main_context_unref(loop->context);
        g_clear_pointer(&loop->pollset, odeon_pollset_free);
        g_mutex_clear(&loop->lock);
    }
    g_free(loops->loops);
    g_free(loops);
}

unsigned odeon_media_loops_count(const odeon_media_loops *loops)
{
    return loops->count;
}

odeon_media_loop *odeon_media_loops_get(odeon_media_loops *loops, unsigned index)
{
    return index < loops->count ? &loops->loops[index] : NULL;
}

odeon_media_loop *odeon_media_loops_pick(odeon_media_loops *loops)
{
    unsigned start = (unsigned)g_atomic_int_add(&loops->next, 1) % loops->count;
    odeon_media_loop *best = &loops->loops[start];
    for (unsigned k = 1; k < loops->count; k++) {
        odeon_media_loop *loop = &loops->loops[(start + k) % loops->count];
        if (g_atomic_int_get(&loop->load) < g_atomic_int_get(&best->load))
            best = loop;
    }
    return best;
}

GMainContext *odeon_media_loop_context(odeon_media_loop *loop)
{
    return loop->context;
}

unsigned odeon_media_loop_index(const odeon_media_loop *loop)
{
    return loop->index;
}

bool odeon_media_loop_is_current(const odeon_media_loop *loop)
{
    return g_main_context_is_owner(loop->context);
}

void odeon_media_loop_attach(odeon_media_loop *loop)
{
    g_atomic_int_inc(&loop->load);
}

void odeon_media_loop_detach(odeon_media_loop *loop)
{
    g_atomic_int_add(&loop->load, -1);
}

unsigned odeon_media_loop_load(const odeon_media_loop *loop)
{
    return (unsigned)g_atomic_int_get((gint *)&loop->load);
}

void odeon_media_loop_post(odeon_media_loop *loop, odeon_media_task_fn fn, void *data)
{
    media_task *task = g_new(media_task, 1);
    task->fn = fn;
    task->data = data;
    g_mutex_lock(&loop->lock);
    g_queue_push_tail(&loop->tasks, task);
    g_mutex_unlock(&loop->lock);
    g_main_context_wakeup(loop->context);
}

bool odeon_media_loop_wake(odeon_media_loop *loop, odeon_media_wake *wake)
{
    if (!g_atomic_int_compare_and_exchange(&wake->pending, 0, 1))
        return false;
    g_mutex_lock(&loop->lock);
    wake->next = NULL;
    if (loop->wakes_tail != NULL)
        loop->wakes_tail->next = wake;
    else
        loop->wakes = wake;
    loop->wakes_tail = wake;
    g_mutex_unlock(&loop->lock);
    /* On the loop's own thread the next iteration sees the wake (the task source's prepare)
     * before it polls: no wake-up write, which a fan-out within a loop pays per packet. */
    if (odeon_media_loop_current() != loop)
        g_main_context_wakeup(loop->context);
    return true;
}

typedef struct sync_task {
    odeon_media_task_fn fn;
    void *data;
    GMutex lock;
    GCond cond;
    bool done;
} sync_task;

static void sync_task_run(void *data)
{
    sync_task *t = data;
    t->fn(t->data);
    g_mutex_lock(&t->lock);
    t->done = true;
    g_cond_signal(&t->cond);
    g_mutex_unlock(&t->lock);
}

void odeon_media_loop_run_sync(odeon_media_loop *loop, odeon_media_task_fn fn, void *data)
{
    if (odeon_media_loop_is_current(loop)) {
        fn(data);
        return;
    }
    sync_task t = {.fn = fn, .data = data};
    g_mutex_init(&t.lock);
    g_cond_init(&t.cond);
    odeon_media_loop_post(loop, sync_task_run, &t);
    g_mutex_lock(&t.lock);
    while (!t.done)
        g_cond_wait(&t.cond, &t.lock);
    g_mutex_unlock(&t.lock);
    g_mutex_clear(&t.lock);
    g_cond_clear(&t.cond);
}
