/*
 * http_longpoll.c - the Janus long-poll: the event sink shared by every session created over
 * HTTP, and GET <base>/<session>?maxev=N.
 *
 * The sink keeps a bounded queue of serialised events per session (serialised by the thread
 * that delivers them, so the service thread only copies bytes). A GET takes up to maxev events
 * at once (maxev=1: one object, more: an array), or parks: the transaction joins its queue's
 * list of polls, stops reading from its socket (see odeon__http_hold), and a wsi timer answers
 * {"janus":"keepalive"} after longpoll_timeout. deliver() from any thread posts the session to
 * the hub; the service thread wakes each parked poll, which takes the events, or parks again
 * when another poll took them first. A parked poll whose client left is closed when woken
 * (events then wait for the next poll) or by the reaper; its close callbacks remove it from the
 * queue, so no wake-up ever reaches a freed wsi. When the session goes, parked polls take what
 * is left (a "timeout" event) and the queue is dropped.
 */
#include "transport/http.h"

#include <string.h>

#include "api/errors.h"
#include "core/clock.h"
#include "core/log.h"

#define LOG_MODULE "http"

#define QUEUE_LIMIT 1000 /* events kept per session without a poll */
#define MAXEV_LIMIT 100  /* largest maxev honoured */
#define QUEUE_IDLE_US ((int64_t)60 * 1000 * 1000)
#define KEEPALIVE_OBJECT "{\"janus\":\"keepalive\"}"
#define KEEPALIVE_ARRAY "[{\"janus\":\"keepalive\"}]"

/* ======================================================================================== */
/* The HTTP sink                                                                            */
/* ======================================================================================== */

typedef struct poll_queue {
    uint64_t id;
    odeon__msg_queue events;
    GPtrArray *polls;     /* parked odeon__http_pss; changed on the service thread, under lock */
    int64_t last_used_us; /* last event or poll */
    bool gone;            /* the session was destroyed: drop once flushed */
    bool ready;           /* posted to the hub and not yet taken */
    bool overflowed;      /* already warned about dropped events */
} poll_queue;

struct odeon__http_sink {
    odeon_event_sink base; /* first: the core sees this */
    odeon_refcount rc;
    odeon__hub *hub; /* reference */
    GMutex lock;
    GHashTable *queues; /* &queue->id -> poll_queue */
    bool closed;
};

static void queue_free(gpointer data)
{
    poll_queue *q = data;
    odeon__msg_queue_clear(&q->events);
    if (q->polls != NULL)
        g_ptr_array_free(q->polls, TRUE);
    g_free(q);
}

static bool queue_has_polls(const poll_queue *q)
{
    return q->polls != NULL && q->polls->len > 0;
}

/* Called with the lock held. */
static poll_queue *queue_get(odeon__http_sink *s, uint64_t id, bool create)
{
    poll_queue *q = g_hash_table_lookup(s->queues, &id);
    if (q == NULL && create) {
        q = g_new0(poll_queue, 1);
        q->id = id;
        g_hash_table_insert(s->queues, &q->id, q);
    }
    return q;
}

/* msg is taken; it was serialised outside the lock. */
static void sink_deliver_msg(odeon__http_sink *s, uint64_t session_id, odeon__msg *msg)
{
    odeon__msg *dropped = NULL;
    bool post = false, warn = false;
    g_mutex_lock(&s->lock);
    if (!s->closed) {
        poll_queue *q = queue_get(s, session_id, true);
        if (q->events.count >= QUEUE_LIMIT) {
            dropped = odeon__msg_queue_pop(&q->events);
            warn = !q->overflowed;
            q->overflowed = true;
        }
        odeon__msg_queue_push(&q->events, msg);
        msg = NULL;
        q->last_used_us = odeon_clock_monotonic_us();
        post = queue_has_polls(q) && !q->ready;
        if (post)
            q->ready = true;
    }
    g_mutex_unlock(&s->lock);
    if (warn)
        LOG_WARN("session %" G_GUINT64_FORMAT ": nobody polls its events; dropping the oldest "
                 "(limit %d)",
                 session_id, QUEUE_LIMIT);
    odeon__msg_free(dropped);
    odeon__msg_free(msg);
    if (post)
        odeon__hub_post_session(s->hub, session_id);
}

static void sink_deliver(odeon_event_sink *base, uint64_t session_id, json_t *event)
{
    sink_deliver_msg((odeon__http_sink *)base, session_id, odeon__msg_from_json(event));
}

static void sink_deliver_text(odeon_event_sink *base, uint64_t session_id, const char *text,
                              size_t len)
{
    sink_deliver_msg((odeon__http_sink *)base, session_id, odeon__msg_from_bytes(text, len));
}

static void sink_session_gone(odeon_event_sink *base, uint64_t session_id)
{
    odeon__http_sink *s = (odeon__http_sink *)base;
    bool post = false;
    g_mutex_lock(&s->lock);
    poll_queue *q = queue_get(s, session_id, false);
    if (q != NULL) {
        q->gone = true;
        if (!queue_has_polls(q)) {
            g_hash_table_remove(s->queues, &session_id);
        } else if (!q->ready) {
            /* Parked polls take what is left (a "timeout" event) and the queue goes. */
            q->ready = true;
            post = true;
        }
    }
    g_mutex_unlock(&s->lock);
    if (post)
        odeon__hub_post_session(s->hub, session_id);
}

static odeon_event_sink *sink_ref(odeon_event_sink *base)
{
    odeon__http_sink *s = (odeon__http_sink *)base;
    odeon_refcount_inc(&s->rc);
    return base;
}

void odeon__http_sink_unref(odeon__http_sink *s)
{
    if (s == NULL || !odeon_refcount_dec(&s->rc))
        return;
    g_hash_table_destroy(s->queues);
    odeon__hub_unref(s->hub);
    g_mutex_clear(&s->lock);
    g_free(s);
}

static void sink_unref(odeon_event_sink *base)
{
    odeon__http_sink_unref((odeon__http_sink *)base);
}

static const odeon_event_sink_ops http_sink_ops = {
    .deliver = sink_deliver,
    .deliver_text = sink_deliver_text,
    .session_gone = sink_session_gone,
    .ref = sink_ref,
    .unref = sink_unref,
    .name = "http",
};

odeon__http_sink *odeon__http_sink_new(odeon__hub *hub)
{
    odeon__http_sink *s = g_new0(odeon__http_sink, 1);
    s->base.ops = &http_sink_ops;
    odeon_refcount_init(&s->rc);
    s->hub = odeon__hub_ref(hub);
    g_mutex_init(&s->lock);
    s->queues = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, queue_free);
    return s;
}

odeon_event_sink *odeon__http_sink_base(odeon__http_sink *s)
{
    return &s->base;
}

void odeon__http_sink_close(odeon__http_sink *s)
{
    g_mutex_lock(&s->lock);
    s->closed = true;
    g_hash_table_remove_all(s->queues);
    g_mutex_unlock(&s->lock);
}

/* ======================================================================================== */
/* Long-poll                                                                                */
/* ======================================================================================== */

/* Remove pss from its queue's polls; drops the queue when its session is gone and nothing
 * else waits on it. Called with the sink lock held. */
static void poll_unlink_locked(odeon__http_sink *s, poll_queue *q, odeon__http_pss *pss)
{
    if (q->polls != NULL)
        g_ptr_array_remove_fast(q->polls, pss);
    if (q->gone && !queue_has_polls(q))
        g_hash_table_remove(s->queues, &q->id);
}

void odeon__http_poll_release(odeon_transport *t, odeon__http_pss *pss)
{
    odeon__http_sink *s = t->http_sink;
    g_mutex_lock(&s->lock);
    poll_queue *q = queue_get(s, pss->poll_session_id, false);
    if (q != NULL)
        poll_unlink_locked(s, q, pss);
    g_mutex_unlock(&s->lock);
    lws_set_timer_usecs(pss->wsi, LWS_SET_TIMER_USEC_CANCEL);
    odeon__http_waiting_remove(t, pss);
    pss->state = ODEON__HTTP_IDLE;
}

/* Take up to maxev events into msgs; returns how many. Called with the sink lock held. */
static size_t poll_take_locked(poll_queue *q, unsigned maxev, odeon__msg **msgs)
{
    size_t n = 0;
    while (n < maxev && q->events.head != NULL)
        msgs[n++] = odeon__msg_queue_pop(&q->events);
    q->last_used_us = odeon_clock_monotonic_us();
    return n;
}

static int poll_write(odeon_transport *t, odeon__http_pss *pss, unsigned maxev, odeon__msg **msgs,
                      size_t n)
{
    odeon__http_out out = {
        .status = 200,
        .content_type = "application/json",
        .janus_cors = true,
        .msgs = msgs,
        .n_msgs = n,
        .array = maxev > 1,
    };
    if (n == 0) {
        out.msgs = NULL;
        out.body = maxev > 1 ? KEEPALIVE_ARRAY : KEEPALIVE_OBJECT;
        out.body_len = strlen(out.body);
    }
    int rc = odeon__http_respond(t, pss, &out); /* pss is gone after this */
    for (size_t i = 0; i < n; i++)
        odeon__msg_free(msgs[i]);
    return rc;
}

/* A parked poll: answer with the queued events; with none, answer keepalive when force (the
 * timer fired, or the transport stops) or when the session is gone, otherwise stay parked. */
int odeon__http_poll_answer(odeon_transport *t, odeon__http_pss *pss, bool force)
{
    odeon__http_sink *s = t->http_sink;
    if (pss->waiting_linked && odeon__http_peer_gone(pss->wsi)) {
        /* Events must not go to a client that left: they wait for its next poll. */
        odeon__http_poll_release(t, pss);
        return -1;
    }
    odeon__msg *stack[16];
    odeon__msg **msgs = pss->maxev <= G_N_ELEMENTS(stack) ? stack : g_new(odeon__msg *, pss->maxev);
    size_t n = 0;
    g_mutex_lock(&s->lock);
    poll_queue *q = queue_get(s, pss->poll_session_id, false);
    if (q != NULL)
        n = poll_take_locked(q, pss->maxev, msgs);
    bool answer = n > 0 || force || q == NULL || q->gone;
    if (answer && q != NULL)
        poll_unlink_locked(s, q, pss);
    g_mutex_unlock(&s->lock);
    int rc = 0;
    if (answer) {
        lws_set_timer_usecs(pss->wsi, LWS_SET_TIMER_USEC_CANCEL);
        pss->state = ODEON__HTTP_IDLE;
        rc = poll_write(t, pss, pss->maxev, msgs, n); /* pss is gone after this */
    } else {
        odeon__http_hold(pss); /* woken for nothing (another poll took the events) */
    }
    if (msgs != stack)
        g_free(msgs);
    return rc;
}

void odeon__http_session_ready(odeon_transport *t, uint64_t session_id)
{
    odeon__http_sink *s = t->http_sink;
    odeon__http_pss *stack[8];
    GPtrArray *many = NULL;
    guint n = 0;
    g_mutex_lock(&s->lock);
    poll_queue *q = queue_get(s, session_id, false);
    if (q != NULL) {
        q->ready = false;
        n = q->polls ? q->polls->len : 0;
        if (n > G_N_ELEMENTS(stack))
            many = g_ptr_array_copy(q->polls, NULL, NULL);
        else if (n > 0)
            memcpy(stack, q->polls->pdata, n * sizeof(void *));
    }
    g_mutex_unlock(&s->lock);
    /* The polls are only freed on this thread, so they are still alive here. */
    for (guint i = 0; i < n; i++)
        odeon__http_wake(many ? many->pdata[i] : stack[i]);
    if (many != NULL)
        g_ptr_array_free(many, TRUE);
}

void odeon__http_sweep(odeon_transport *t)
{
    odeon__http_sink *s = t->http_sink;
    int64_t now = odeon_clock_monotonic_us();
    GArray *idle = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    g_mutex_lock(&s->lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, s->queues);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        poll_queue *q = value;
        if (!queue_has_polls(q) && !q->ready && now - q->last_used_us > QUEUE_IDLE_US)
            g_array_append_val(idle, q->id);
    }
    g_mutex_unlock(&s->lock);
    /* A queue an event recreated after its session went: drop it once the session is gone. */
    for (guint i = 0; i < idle->len; i++) {
        uint64_t id = g_array_index(idle, uint64_t, i);
        odeon_session *session = odeon_sessions_lookup(t->sessions, id);
        if (session != NULL) {
            odeon_session_unref(session);
            continue;
        }
        g_mutex_lock(&s->lock);
        poll_queue *q = queue_get(s, id, false);
        if (q != NULL && !queue_has_polls(q))
            g_hash_table_remove(s->queues, &id);
        g_mutex_unlock(&s->lock);
    }
    g_array_free(idle, TRUE);
}

/* The api module decides whether the poll is allowed (api secret or token, session known) and
 * touches the session, exactly as for a keepalive: the poll is one, for Janus. Returns 0, or
 * the HTTP status to refuse with (the reply stays in *reply for the body). */
static unsigned poll_authorise(odeon_transport *t, struct lws *wsi, uint64_t session_id,
                               json_t **reply)
{
    char secret[256], token[1024];
    const char *s = lws_get_urlarg_by_name(wsi, "apisecret=", secret, sizeof(secret));
    const char *k = lws_get_urlarg_by_name(wsi, "token=", token, sizeof(token));
    json_t *msg = json_pack("{s:s, s:s}", "janus", "keepalive", "transaction", "longpoll");
    if (s != NULL)
        json_object_set_new(msg, "apisecret", json_string(s));
    if (k != NULL)
        json_object_set_new(msg, "token", json_string(k));
    odeon_api_request req = {
        .path_session_id = session_id,
        .path_has_session = true,
        .sink = odeon__http_sink_base(t->http_sink),
        .transport = "http",
    };
    *reply = odeon_api_handle(t->api, &req, msg);
    json_decref(msg);
    const char *verb = json_string_value(json_object_get(*reply, "janus"));
    if (verb != NULL && strcmp(verb, "ack") == 0)
        return 0;
    json_int_t code = json_integer_value(json_object_get(json_object_get(*reply, "error"), "code"));
    return code == ODEON_API_ERROR_UNAUTHORIZED ? 403 : 404;
}

static unsigned poll_maxev(struct lws *wsi)
{
    char buf[32];
    const char *v = lws_get_urlarg_by_name(wsi, "maxev=", buf, sizeof(buf));
    guint64 n = 1;
    if (v != NULL && !g_ascii_string_to_unsigned(v, 10, 1, G_MAXUINT32, &n, NULL))
        n = 1;
    return n > MAXEV_LIMIT ? MAXEV_LIMIT : (unsigned)n;
}

int odeon__http_poll_begin(odeon_transport *t, odeon__http_pss *pss, uint64_t session_id)
{
    struct lws *wsi = pss->wsi;
    json_t *refusal = NULL;
    unsigned status = session_id ? poll_authorise(t, wsi, session_id, &refusal) : 404;
    if (status != 0) {
        int rc = refusal ? odeon__http_send_json(t, wsi, status, refusal, false)
                         : odeon__http_send_error(t, wsi, 404, ODEON_API_ERROR_SESSION_NOT_FOUND,
                                                  "No such session", false);
        json_decref(refusal);
        return rc;
    }
    json_decref(refusal);
    pss->poll_session_id = session_id;
    pss->maxev = poll_maxev(wsi);
    odeon__http_sink *s = t->http_sink;
    g_mutex_lock(&s->lock);
    poll_queue *q = queue_get(s, session_id, true);
    q->last_used_us = odeon_clock_monotonic_us();
    if (q->events.head == NULL && !q->gone && !t->stopping) {
        if (q->polls == NULL)
            q->polls = g_ptr_array_new();
        g_ptr_array_add(q->polls, pss);
        g_mutex_unlock(&s->lock);
        pss->state = ODEON__HTTP_PARKED;
        odeon__http_waiting_add(t, pss);
        odeon__http_hold(pss);
        lws_set_timer_usecs(wsi, (lws_usec_t)t->settings.longpoll_timeout * LWS_USEC_PER_SEC);
        /* Replaces lws's 10 s "content" timeout; our timer answers well before this. */
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)t->settings.longpoll_timeout + 10);
        return 0;
    }
    g_mutex_unlock(&s->lock);
    pss->state = ODEON__HTTP_PARKED;
    return odeon__http_poll_answer(t, pss, true);
}
