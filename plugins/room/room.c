/*
 * room.c - odeon.plugin.room: the descriptor, settings, per-handle state, the worker thread
 * that runs requests one at a time, the rooms table, and the synchronous requests (create,
 * destroy, exists, list, listparticipants, kick). Publishing is room_publisher.c, subscribing
 * room_subscriber.c, authorisation room_access.c (see room.h for the whole picture).
 */
#include "room.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../common/plugin_common.h"

const odeon_core_callbacks *room_core;
room_settings room_conf;

static GMutex rooms_lock;
static GHashTable *rooms; /* uint64 id -> room * (reference) */
static GAsyncQueue *tasks;
static GThread *worker;

/* ---- rooms ---- */

room *room_ref(room *r)
{
    g_atomic_int_inc(&r->refs);
    return r;
}

void room_unref(room *r)
{
    if (r == NULL || !g_atomic_int_dec_and_test(&r->refs))
        return;
    g_hash_table_unref(r->members);
    g_ptr_array_unref(r->subs);
    g_hash_table_unref(r->moderated);
    g_mutex_clear(&r->lock);
    g_free(r->description);
    g_free(r->audio_codecs);
    g_free(r->video_codecs);
    g_free(r);
}

room *room_lookup(uint64_t id)
{
    g_mutex_lock(&rooms_lock);
    room *r = rooms ? g_hash_table_lookup(rooms, &id) : NULL;
    if (r != NULL)
        room_ref(r);
    g_mutex_unlock(&rooms_lock);
    return r;
}

static const char *option_string(json_t *o, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL && v[0] != '\0' ? v : dflt;
}

static int64_t option_int(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

room *room_insert(uint64_t id, json_t *options, bool permanent)
{
    room *r = g_new0(room, 1);
    r->refs = 2; /* the table's and the caller's */
    r->id = id;
    r->description = g_strdup(option_string(options, "description", NULL));
    if (r->description == NULL)
        r->description = g_strdup_printf("Room %" G_GUINT64_FORMAT, id);
    r->max_publishers = (int)option_int(options, "publishers", room_conf.max_publishers);
    r->bitrate = (uint64_t)option_int(options, "bitrate", (int64_t)room_conf.bitrate);
    r->audio_codecs = g_ascii_strdown(option_string(options, "audiocodec", "opus"), -1);
    r->video_codecs = g_ascii_strdown(option_string(options, "videocodec", "vp8,h264,vp9"), -1);
    r->event_id = option_int(options, "event_id", 0);
    r->group_id = option_int(options, "group_id", 0);
    r->is_private = json_is_true(json_object_get(options, "is_private"));
    /* Rooms are spread over the media loops, a room's connections kept on one: its packets
     * never cross threads, and each subscriber gets one batch per loop iteration. */
    static gint next_loop;
    unsigned loops = room_core->media_loop_count();
    r->loop = loops > 0 ? (int)((unsigned)g_atomic_int_add(&next_loop, 1) % loops) : -1;
    r->permanent = permanent;
    g_mutex_init(&r->lock);
    r->members = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                       (GDestroyNotify)room_member_unref);
    r->subs = g_ptr_array_new_with_free_func((GDestroyNotify)room_sub_unref);
    r->moderated = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)g_hash_table_unref);
    g_mutex_lock(&rooms_lock);
    bool taken = g_hash_table_contains(rooms, &r->id);
    if (!taken)
        g_hash_table_insert(rooms, &r->id, r);
    g_mutex_unlock(&rooms_lock);
    if (taken) {
        r->refs = 1;
        room_unref(r);
        return NULL;
    }
    ROOM_LOG(ODEON_LOG_INFO, "room %" G_GUINT64_FORMAT " created (%s)", id, r->description);
    return r;
}

GPtrArray *room_all(void)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)room_unref);
    g_mutex_lock(&rooms_lock);
    GHashTableIter it;
    gpointer value;
    if (rooms != NULL) {
        g_hash_table_iter_init(&it, rooms);
        while (g_hash_table_iter_next(&it, NULL, &value))
            g_ptr_array_add(out, room_ref(value));
    }
    g_mutex_unlock(&rooms_lock);
    return out;
}

GPtrArray *room_handles(room *r, room_member *except)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)room_core->handle_unref);
    g_mutex_lock(&r->lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->members);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        room_member *m = value;
        if (m != except)
            g_ptr_array_add(out, room_core->handle_ref(m->handle));
    }
    g_mutex_unlock(&r->lock);
    return out;
}

void room_notify(room *r, room_member *except, json_t *event)
{
    GPtrArray *handles = room_handles(r, except);
    room_core->push_event_many((odeon_plugin_handle *const *)handles->pdata, handles->len, event);
    g_ptr_array_unref(handles);
}

/* ---- members ---- */

room_member *room_member_ref(room_member *m)
{
    g_atomic_int_inc(&m->refs);
    return m;
}

void room_member_unref(room_member *m)
{
    if (m == NULL || !g_atomic_int_dec_and_test(&m->refs))
        return;
    room_core->handle_unref(m->handle);
    g_mutex_clear(&m->lock);
    g_free(m->display);
    g_free(m->subject);
    g_free(m);
}

room_member *room_member_of(odeon_plugin_handle *handle)
{
    return room_core->get_handle_data(handle);
}

/* ---- calls ---- */

void room_call_free(room_call *c)
{
    if (c == NULL)
        return;
    room_core->handle_unref(c->handle);
    room_member_unref(c->member);
    g_free(c->transaction);
    json_decref(c->body);
    json_decref(c->jsep);
    g_free(c);
}

void room_reply(room_call *c, json_t *event, json_t *jsep)
{
    int rc = room_core->push_event(c->handle, c->transaction, event, jsep);
    if (rc != 0 && rc != ODEON_EGONE)
        ROOM_LOG(ODEON_LOG_WARN, "cannot answer handle %" G_GUINT64_FORMAT ": %d",
                 room_core->handle_id(c->handle), rc);
}

static json_t *error_json(int code, const char *reason)
{
    return json_pack("{s:s, s:i, s:s}", "videoroom", "event", "error_code", code, "error", reason);
}

void room_fail(room_call *c, int code, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    char *reason = g_strdup_vprintf(format, ap);
    va_end(ap);
    ROOM_LOG(ODEON_LOG_INFO, "handle %" G_GUINT64_FORMAT ": refused (%d): %s",
             room_core->handle_id(c->handle), code, reason);
    json_t *e = error_json(code, reason);
    room_reply(c, e, NULL);
    json_decref(e);
    g_free(reason);
}

bool room_body_id(json_t *body, const char *key, uint64_t *out)
{
    int64_t v;
    if (!odeon_body_id(body, key, &v))
        return false;
    *out = (uint64_t)v;
    return true;
}

/* ---- the worker ---- */

typedef struct room_task {
    void (*fn)(void *data);
    void *data;
} room_task;

static void task_post(void (*fn)(void *), void *data)
{
    room_task *t = g_new(room_task, 1);
    t->fn = fn;
    t->data = data;
    g_async_queue_push(tasks, t);
}

static gpointer worker_run(gpointer unused)
{
    (void)unused;
    int64_t next_tick = g_get_monotonic_time() + G_USEC_PER_SEC;
    for (;;) {
        /* Breakout countdowns once a second, between requests. */
        int64_t now = g_get_monotonic_time();
        if (now >= next_tick) {
            room_breakout_tick();
            next_tick = now + G_USEC_PER_SEC;
        }
        room_task *t = g_async_queue_timeout_pop(tasks, (guint64)MAX(next_tick - now, 1000));
        if (t == NULL)
            continue;
        if (t->fn == NULL) {
            g_free(t);
            return NULL;
        }
        t->fn(t->data);
        g_free(t);
    }
}

/* The asynchronous requests, each run on the worker. */
static void request_join(room_call *c);
static void request_configure(room_call *c);

typedef void (*room_async_fn)(room_call *c);

static void request_leave(room_call *c)
{
    room_member *m = c->member;
    if (m->kind == MEMBER_PUBLISHER) {
        room_publisher_leave(m, false);
        json_t *ev = json_pack("{s:s, s:s}", "videoroom", "event", "leaving", "ok");
        room_reply(c, ev, NULL);
        json_decref(ev);
    } else if (m->kind == MEMBER_SUBSCRIBER) {
        room_subscriber_leave(m, c);
    } else {
        room_fail(c, ROOM_ERROR_JOIN_FIRST, "Not in a room");
    }
}

static const struct {
    const char *name;
    room_async_fn fn;
} async_requests[] = {
    {"join", request_join},
    {"joinandconfigure", request_join},
    {"publish", room_publisher_publish},
    {"unpublish", room_publisher_unpublish},
    {"configure", request_configure},
    {"subscribe", room_subscriber_subscribe},
    {"unsubscribe", room_subscriber_unsubscribe},
    {"update", room_subscriber_update},
    {"switch", room_subscriber_switch},
    {"start", room_subscriber_start},
    {"pause", room_subscriber_pause},
    {"leave", request_leave},
};

static void request_configure(room_call *c)
{
    if (c->member->kind == MEMBER_SUBSCRIBER)
        room_subscriber_configure(c);
    else
        room_publisher_configure(c);
}

static room_async_fn async_request(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(async_requests); i++)
        if (strcmp(async_requests[i].name, name) == 0)
            return async_requests[i].fn;
    return NULL;
}

static void call_run(void *data)
{
    room_call *c = data;
    const char *request = json_string_value(json_object_get(c->body, "request"));
    room_async_fn fn = async_request(request);
    if (c->member->closing)
        room_call_free(c);
    else if (fn == request_join)
        fn(c); /* a join may hand the call to the database: it frees the call itself */
    else {
        fn(c);
        room_call_free(c);
    }
}

void room_call_resume(room_call *c)
{
    task_post(call_run, c);
}

static void request_join(room_call *c)
{
    room_member *m = c->member;
    uint64_t room_id;
    const char *ptype = json_string_value(json_object_get(c->body, "ptype"));
    room *r = NULL;
    if (m->kind != MEMBER_NONE) {
        room_fail(c, ROOM_ERROR_ALREADY_JOINED, "Already in as a %s",
                  m->kind == MEMBER_PUBLISHER ? "publisher" : "subscriber");
    } else if (!room_body_id(c->body, "room", &room_id)) {
        room_fail(c, ROOM_ERROR_MISSING_ELEMENT, "Missing element (room)");
    } else if (ptype == NULL ||
               (strcmp(ptype, "publisher") != 0 && strcmp(ptype, "subscriber") != 0 &&
                strcmp(ptype, "listener") != 0)) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Invalid element (ptype)");
    } else if ((r = room_lookup(room_id)) == NULL && !c->group_loaded &&
               room_load_group(c, room_id) == 1) {
        return; /* the database creates the group's room, then the join resumes */
    } else if (r == NULL) {
        room_fail(c, ROOM_ERROR_NO_SUCH_ROOM, "No such room (%" G_GUINT64_FORMAT ")", room_id);
    } else {
        const char *reason = NULL;
        int verdict = room_may_join(c, r, &reason);
        if (verdict == 1) {
            room_unref(r);
            return; /* handed to the database */
        }
        if (verdict != 0)
            room_fail(c, verdict, "%s", reason);
        else if (strcmp(ptype, "publisher") == 0)
            room_publisher_join(c, r);
        else
            room_subscriber_join(c, r);
    }
    room_unref(r);
    room_call_free(c);
}

/* ---- synchronous requests (transport thread) ---- */

static json_t *room_json(room *r, bool details)
{
    g_mutex_lock(&r->lock);
    json_t *j = json_pack("{s:I, s:s, s:b, s:i, s:I, s:s, s:s, s:i, s:b}", "room",
                          (json_int_t)r->id, "description", r->description, "pin_required", 0,
                          "max_publishers", r->max_publishers, "bitrate", (json_int_t)r->bitrate,
                          "audiocodec", r->audio_codecs, "videocodec", r->video_codecs,
                          "num_participants", (int)g_hash_table_size(r->members), "is_private",
                          r->is_private);
    g_mutex_unlock(&r->lock);
    if (details && r->event_id != 0)
        json_object_set_new(j, "event_id", json_integer(r->event_id));
    if (details && r->group_id != 0)
        json_object_set_new(j, "group_id", json_integer(r->group_id));
    return j;
}

static json_t *request_create(odeon_plugin_handle *handle, json_t *body)
{
    int64_t event_id = 0;
    json_t *ev = json_object_get(body, "event_id");
    if (ev != NULL && !odeon_body_id(body, "event_id", &event_id))
        return error_json(ROOM_ERROR_INVALID_ELEMENT, "Invalid element (event_id)");
    if (!room_may_administer(handle, event_id, body))
        return error_json(ROOM_ERROR_UNAUTHORIZED, "Unauthorized (only the event's organisers "
                                                   "and hosts, or the admin key, create rooms)");
    json_t *pub = json_object_get(body, "publishers");
    if (pub != NULL && (!json_is_integer(pub) || json_integer_value(pub) < 1 ||
                        json_integer_value(pub) > ROOM_SUB_MAX_SLOTS / 3))
        return error_json(ROOM_ERROR_INVALID_ELEMENT, "Invalid element (publishers: 1 to 21)");
    json_t *bitrate = json_object_get(body, "bitrate");
    if (bitrate != NULL && (!json_is_integer(bitrate) || json_integer_value(bitrate) < 0))
        return error_json(ROOM_ERROR_INVALID_ELEMENT, "Invalid element (bitrate)");
    uint64_t id = 0;
    if (json_object_get(body, "room") != NULL && !room_body_id(body, "room", &id))
        return error_json(ROOM_ERROR_INVALID_ELEMENT, "Invalid element (room)");
    json_t *options = json_deep_copy(body);
    json_object_set_new(options, "event_id", json_integer(event_id));
    json_object_del(options, "group_id"); /* group rooms come from the breakout, not a client */
    room *r = NULL;
    for (int attempt = 0; r == NULL && attempt < 8; attempt++) {
        /* Random ids stay clear of breakout groups' rooms, whose id is the group's. */
        uint64_t tried = id ? id : ((uint64_t)g_random_int() << 20 | g_random_int_range(0, 1 << 20))
                                       + ((uint64_t)1 << 40);
        r = room_insert(tried, options, false);
        if (id != 0)
            break;
    }
    json_decref(options);
    if (r == NULL)
        return error_json(ROOM_ERROR_ROOM_EXISTS, "Room already exists");
    json_t *out = json_pack("{s:s, s:I, s:b}", "videoroom", "created", "room", (json_int_t)r->id,
                            "permanent", 0);
    room_unref(r);
    return out;
}

static void destroy_run(void *data)
{
    room *r = data;
    room_destroy(r);
    room_unref(r);
}

void room_destroy(room *r)
{
    json_t *ev = json_pack("{s:s, s:I}", "videoroom", "destroyed", "room", (json_int_t)r->id);
    room_notify(r, NULL, ev);
    json_decref(ev);
    /* Everyone leaves (their handles stay, as Janus's do). */
    g_mutex_lock(&r->lock);
    GList *members = g_hash_table_get_values(r->members);
    for (GList *l = members; l; l = l->next)
        room_member_ref(l->data);
    GPtrArray *subs = g_ptr_array_new_with_free_func((GDestroyNotify)room_sub_unref);
    for (guint i = 0; i < r->subs->len; i++)
        g_ptr_array_add(subs, room_sub_ref(g_ptr_array_index(r->subs, i)));
    g_mutex_unlock(&r->lock);
    for (GList *l = members; l; l = l->next) {
        room_publisher_leave(l->data, false);
        room_member_unref(l->data);
    }
    g_list_free(members);
    for (guint i = 0; i < subs->len; i++) {
        room_sub *s = g_ptr_array_index(subs, i);
        if (s->member != NULL)
            room_subscriber_leave(s->member, NULL);
    }
    g_ptr_array_unref(subs);
}

static json_t *request_destroy(odeon_plugin_handle *handle, json_t *body)
{
    uint64_t id;
    if (!room_body_id(body, "room", &id))
        return error_json(ROOM_ERROR_MISSING_ELEMENT, "Missing element (room)");
    room *r = room_lookup(id);
    if (r == NULL)
        return error_json(ROOM_ERROR_NO_SUCH_ROOM, "No such room");
    if (!room_may_administer(handle, r->event_id, body)) {
        room_unref(r);
        return error_json(ROOM_ERROR_UNAUTHORIZED, "Unauthorized");
    }
    g_mutex_lock(&rooms_lock);
    bool ours = g_hash_table_lookup(rooms, &id) == r && g_hash_table_steal(rooms, &id);
    g_mutex_unlock(&rooms_lock);
    if (ours) {
        r->destroyed = true;
        task_post(destroy_run, r); /* the table's reference goes with it */
    }
    ROOM_LOG(ODEON_LOG_INFO, "room %" G_GUINT64_FORMAT " destroyed", id);
    room_unref(r);
    return json_pack("{s:s, s:I, s:b}", "videoroom", "destroyed", "room", (json_int_t)id,
                     "permanent", 0);
}

static json_t *request_exists(odeon_plugin_handle *handle, json_t *body)
{
    (void)handle;
    uint64_t id;
    if (!room_body_id(body, "room", &id))
        return error_json(ROOM_ERROR_MISSING_ELEMENT, "Missing element (room)");
    room *r = room_lookup(id);
    room_unref(r);
    return json_pack("{s:s, s:I, s:b}", "videoroom", "success", "room", (json_int_t)id, "exists",
                     r != NULL);
}

/* Whether the handle may see r: public rooms, and private ones it could administer or join
 * by its role (a group's members learn their room from their link, not from "list"). */
static bool room_visible(odeon_plugin_handle *handle, room *r)
{
    return !r->is_private || room_may_administer(handle, r->event_id, NULL);
}

static json_t *request_list(odeon_plugin_handle *handle, json_t *body)
{
    (void)body;
    json_t *list = json_array();
    g_mutex_lock(&rooms_lock);
    GList *all = g_hash_table_get_values(rooms);
    for (GList *l = all; l; l = l->next)
        room_ref(l->data);
    g_mutex_unlock(&rooms_lock);
    for (GList *l = all; l; l = l->next) {
        if (room_visible(handle, l->data))
            json_array_append_new(list, room_json(l->data, true));
        room_unref(l->data);
    }
    g_list_free(all);
    return json_pack("{s:s, s:o}", "videoroom", "success", "list", list);
}

static json_t *request_listparticipants(odeon_plugin_handle *handle, json_t *body)
{
    uint64_t id;
    if (!room_body_id(body, "room", &id))
        return error_json(ROOM_ERROR_MISSING_ELEMENT, "Missing element (room)");
    room *r = room_lookup(id);
    /* Who is in a room: anyone of its event (a group's members and their organisers). */
    if (r == NULL || (r->event_id != 0 && handle != NULL &&
                      odeon_event_rank(room_core, handle, r->event_id) == 0)) {
        room_unref(r);
        return error_json(ROOM_ERROR_NO_SUCH_ROOM, "No such room");
    }
    json_t *list = json_array();
    g_mutex_lock(&r->lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->members);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        room_member *m = value;
        g_mutex_lock(&m->lock);
        json_t *p = json_pack("{s:I, s:b, s:b}", "id", (json_int_t)m->id, "publisher",
                              m->feed != NULL, "talking", m->feed && m->feed->talking);
        g_mutex_unlock(&m->lock);
        if (m->display)
            json_object_set_new(p, "display", json_string(m->display));
        json_array_append_new(list, p);
    }
    g_mutex_unlock(&r->lock);
    json_t *out = json_pack("{s:s, s:I, s:o}", "videoroom", "participants", "room",
                            (json_int_t)id, "participants", list);
    room_unref(r);
    return out;
}

typedef struct kick_job {
    room *r;
    uint64_t id;
} kick_job;

static void kick_run(void *data)
{
    kick_job *k = data;
    g_mutex_lock(&k->r->lock);
    room_member *m = g_hash_table_lookup(k->r->members, &k->id);
    if (m != NULL)
        room_member_ref(m);
    g_mutex_unlock(&k->r->lock);
    if (m != NULL) {
        json_t *ev = json_pack("{s:s, s:I, s:I}", "videoroom", "event", "room",
                               (json_int_t)k->r->id, "kicked", (json_int_t)k->id);
        room_notify(k->r, NULL, ev);
        json_decref(ev);
        room_publisher_leave(m, false);
        room_core->close_pc(m->handle);
        room_member_unref(m);
    }
    room_unref(k->r);
    g_free(k);
}

/* For kick and moderate: the room of body's "room" (a reference) when the handle administers
 * it and body's "id" is in it (*who); otherwise NULL with *error, the answer. */
static room *member_room_administered(odeon_plugin_handle *handle, json_t *body, uint64_t *who,
                                      json_t **error)
{
    uint64_t id;
    if (!room_body_id(body, "room", &id) || !room_body_id(body, "id", who)) {
        *error = error_json(ROOM_ERROR_MISSING_ELEMENT, "Missing element (room, id)");
        return NULL;
    }
    room *r = room_lookup(id);
    if (r == NULL) {
        *error = error_json(ROOM_ERROR_NO_SUCH_ROOM, "No such room");
        return NULL;
    }
    if (!room_may_administer(handle, r->event_id, body)) {
        room_unref(r);
        *error = error_json(ROOM_ERROR_UNAUTHORIZED, "Unauthorized");
        return NULL;
    }
    g_mutex_lock(&r->lock);
    bool there = g_hash_table_contains(r->members, who);
    g_mutex_unlock(&r->lock);
    if (!there) {
        room_unref(r);
        *error = error_json(ROOM_ERROR_NO_SUCH_FEED, "No such user in this room");
        return NULL;
    }
    return r;
}

static json_t *request_kick(odeon_plugin_handle *handle, json_t *body)
{
    uint64_t who;
    json_t *error = NULL;
    room *r = member_room_administered(handle, body, &who, &error);
    if (r == NULL)
        return error;
    kick_job *k = g_new0(kick_job, 1);
    k->r = r;
    k->id = who;
    task_post(kick_run, k);
    return json_pack("{s:s}", "videoroom", "success");
}

typedef struct moderate_job {
    room *r; /* reference */
    uint64_t id;
    char *mid;
    bool mute;
} moderate_job;

static void moderate_run(void *data)
{
    moderate_job *j = data;
    room_publisher_moderate(j->r, j->id, j->mid, j->mute);
    room_unref(j->r);
    g_free(j->mid);
    g_free(j);
}

/* "moderate": {"room", "id", "mid", "mute"}, by those who administer the room. */
static json_t *request_moderate(odeon_plugin_handle *handle, json_t *body)
{
    const char *mid = json_string_value(json_object_get(body, "mid"));
    json_t *mute = json_object_get(body, "mute");
    if (mid == NULL || mute == NULL)
        return error_json(ROOM_ERROR_MISSING_ELEMENT, "Missing element (room, id, mid, mute)");
    if (!json_is_boolean(mute) || strlen(mid) >= sizeof(((room_sdp_media *)NULL)->mid))
        return error_json(ROOM_ERROR_INVALID_ELEMENT, "Invalid element (mute: a boolean; mid)");
    uint64_t who;
    json_t *error = NULL;
    room *r = member_room_administered(handle, body, &who, &error);
    if (r == NULL)
        return error;
    moderate_job *j = g_new0(moderate_job, 1);
    j->r = r;
    j->id = who;
    j->mid = g_strdup(mid);
    j->mute = json_is_true(mute);
    task_post(moderate_run, j);
    return json_pack("{s:s}", "videoroom", "success");
}

static const struct {
    const char *name;
    json_t *(*fn)(odeon_plugin_handle *handle, json_t *body);
} sync_requests[] = {
    {"create", request_create},
    {"destroy", request_destroy},
    {"kick", request_kick},
    {"moderate", request_moderate},
    {"listparticipants", request_listparticipants},
    {"exists", request_exists},
    {"list", request_list},
};

/* A synchronous request's answer, or NULL when name is not one (handle NULL: the admin API). */
static json_t *sync_request(const char *name, odeon_plugin_handle *handle, json_t *body)
{
    for (size_t i = 0; i < G_N_ELEMENTS(sync_requests); i++)
        if (strcmp(sync_requests[i].name, name) == 0)
            return sync_requests[i].fn(handle, body);
    return NULL;
}

/* The admin API's "message_plugin": the synchronous requests, with every right. */
static json_t *room_handle_admin_message(json_t *body)
{
    const char *request = json_string_value(json_object_get(body, "request"));
    if (request == NULL)
        return error_json(ROOM_ERROR_MISSING_ELEMENT, "Missing element (request)");
    json_t *answer = sync_request(request, NULL, body);
    return answer ? answer : error_json(ROOM_ERROR_INVALID_REQUEST, "Unknown request");
}

/* ---- descriptor callbacks ---- */

static int room_create_session(odeon_plugin_handle *handle)
{
    room_member *m = g_new0(room_member, 1);
    m->refs = 1;
    m->handle = room_core->handle_ref(handle);
    g_mutex_init(&m->lock);
    room_core->set_handle_data(handle, m);
    return 0;
}

static odeon_plugin_result result_ok(json_t *content)
{
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = content};
}

static odeon_plugin_result room_handle_message(odeon_plugin_handle *handle,
                                               const char *transaction, json_t *body,
                                               json_t *jsep)
{
    room_member *m = room_member_of(handle);
    const char *request = json_string_value(json_object_get(body, "request"));
    if (m == NULL)
        return result_ok(error_json(ROOM_ERROR_UNKNOWN, "No state for this handle"));
    if (request == NULL)
        return result_ok(error_json(ROOM_ERROR_MISSING_ELEMENT, "Missing element (request)"));
    json_t *answer = sync_request(request, handle, body);
    if (answer != NULL)
        return result_ok(answer);
    if (async_request(request) == NULL)
        return result_ok(error_json(ROOM_ERROR_INVALID_REQUEST, "Unknown request"));
    room_call *c = g_new0(room_call, 1);
    c->handle = room_core->handle_ref(handle);
    c->member = room_member_ref(m);
    c->transaction = g_strdup(transaction);
    c->body = json_incref(body);
    c->jsep = jsep ? json_incref(jsep) : NULL;
    task_post(call_run, c);
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT};
}

/* The member goes: its feed stops and it leaves its room, on the worker. */
static void member_close_run(void *data)
{
    room_member *m = data;
    m->closing = true;
    if (m->kind == MEMBER_PUBLISHER)
        room_publisher_leave(m, false);
    else if (m->kind == MEMBER_SUBSCRIBER)
        room_subscriber_leave(m, NULL);
    room_member_unref(m);
}

typedef struct hangup_job {
    room_member *member; /* reference */
    bool failed;
} hangup_job;

static void hangup_run(void *data)
{
    hangup_job *j = data;
    room_member *m = j->member;
    /* As Janus: a publisher that hangs up is unpublished and stays in the room, to publish
     * again or leave. One whose connection failed (a closed laptop, a lost network: ICE
     * consent) is gone: it leaves, and joins again with the same identity when it is back. */
    if (m->kind == MEMBER_PUBLISHER && !m->closing) {
        if (j->failed)
            room_publisher_leave(m, true);
        else
            room_publisher_stop_feed(m);
    }
    room_member_unref(m);
    g_free(j);
}

static void room_hangup_media(odeon_plugin_handle *handle)
{
    room_member *m = room_member_of(handle);
    if (m == NULL)
        return;
    const char *reason = room_core->hangup_reason(handle);
    hangup_job *j = g_new0(hangup_job, 1);
    j->member = room_member_ref(m);
    j->failed = reason != NULL && strcmp(reason, "Janus API") != 0 &&
                strcmp(reason, "Close PC") != 0 && strcmp(reason, "Detach") != 0;
    task_post(hangup_run, j);
}

static void room_destroy_session(odeon_plugin_handle *handle)
{
    room_member *m = room_member_of(handle);
    if (m == NULL)
        return;
    room_core->set_handle_data(handle, NULL);
    task_post(member_close_run, m); /* takes the handle's reference */
}

static json_t *room_query_session(odeon_plugin_handle *handle)
{
    room_member *m = room_member_of(handle);
    if (m == NULL)
        return NULL;
    static const char *const kinds[] = {"none", "publisher", "subscriber"};
    g_mutex_lock(&m->lock);
    json_t *j = json_pack("{s:s, s:I, s:b}", "type", kinds[m->kind], "id", (json_int_t)m->id,
                          "publishing", m->feed != NULL);
    if (m->room)
        json_object_set_new(j, "room", json_integer((json_int_t)m->room->id));
    g_mutex_unlock(&m->lock);
    return j;
}

static void room_setup_media(odeon_plugin_handle *handle)
{
    (void)handle;
}

static void room_incoming_rtp(odeon_plugin_handle *handle, odeon_media_packet *packet)
{
    room_member *m = room_member_of(handle);
    if (m != NULL)
        room_publisher_rtp(m, packet);
}

static void room_incoming_rtcp(odeon_plugin_handle *handle, odeon_media_packet *packet)
{
    room_member *m = room_member_of(handle);
    if (m != NULL)
        room_subscriber_rtcp(m, packet);
}

/* ---- start-up ---- */

static bool rooms_from_config(GKeyFile *kf)
{
    gchar **groups = g_key_file_get_groups(kf, NULL);
    bool ok = true;
    for (gchar **g = groups; *g && ok; g++) {
        if (!g_str_has_prefix(*g, "room-"))
            continue;
        char *end = NULL;
        guint64 id = g_ascii_strtoull(*g + 5, &end, 10);
        if (id == 0 || *end != '\0') {
            ROOM_LOG(ODEON_LOG_ERROR, "[%s]: a room's section is [room-<id>]", *g);
            ok = false;
            break;
        }
        json_t *o = json_object();
        static const char *const strings[] = {"description", "audiocodec", "videocodec"};
        for (size_t i = 0; i < G_N_ELEMENTS(strings); i++) {
            char *v = g_key_file_get_string(kf, *g, strings[i], NULL);
            if (v)
                json_object_set_new(o, strings[i], json_string(g_strstrip(v)));
            g_free(v);
        }
        json_object_set_new(o, "publishers",
                            json_integer(odeon_conf_int(room_core, "room", kf, *g, "publishers",
                                                        room_conf.max_publishers, 1, 21, &ok)));
        json_object_set_new(o, "bitrate",
                            json_integer(odeon_conf_int(room_core, "room", kf, *g, "bitrate",
                                                        (int)room_conf.bitrate, 0, 100000000,
                                                        &ok)));
        json_object_set_new(o, "is_private",
                            json_boolean(g_key_file_get_boolean(kf, *g, "is_private", NULL)));
        room *r = ok ? room_insert(id, o, true) : NULL;
        json_decref(o);
        room_unref(r);
    }
    g_strfreev(groups);
    return ok;
}

static bool settings_read(GKeyFile *kf)
{
    bool ok = true;
    room_conf.max_publishers = odeon_conf_int(room_core, "room", kf, "general", "max_publishers",
                                              12, 1, 21, &ok);
    room_conf.bitrate = (uint64_t)odeon_conf_int(room_core, "room", kf, "general", "bitrate",
                                                 1000000, 0, 100000000, &ok);
    room_conf.audio_active_packets = odeon_conf_int(room_core, "room", kf, "general",
                                                    "audio_active_packets", 50, 5, 1000, &ok);
    room_conf.audio_level_average = odeon_conf_int(room_core, "room", kf, "general",
                                                   "audio_level_average", 40, 1, 127, &ok);
    GError *err = NULL;
    room_conf.notify_joining = g_key_file_get_boolean(kf, "general", "notify_joining", &err);
    if (err != NULL) {
        room_conf.notify_joining = true;
        g_clear_error(&err);
    }
    room_conf.countdown_seconds = odeon_conf_int(room_core, "room", kf, "general",
                                                 "countdown_seconds", 60, 5, 3600, &ok);
    char *key = g_key_file_get_string(kf, "general", "admin_key", NULL);
    room_conf.admin_key = key && *g_strstrip(key) ? key : NULL;
    if (room_conf.admin_key == NULL)
        g_free(key);
    return ok;
}

static int room_init(const odeon_core_callbacks *callbacks, const char *config_path)
{
    room_core = callbacks;
    if (room_core->struct_size <
        offsetof(odeon_core_callbacks, handle_media_loop_prefer) + sizeof(void *)) {
        room_core->log(ODEON_LOG_ERROR, "room", "this core is too old (needs plugin ABI 1.8)");
        return -1;
    }
    GKeyFile *kf = g_key_file_new();
    g_key_file_load_from_file(kf, config_path, G_KEY_FILE_NONE, NULL);
    g_mutex_init(&rooms_lock);
    rooms = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, (GDestroyNotify)room_unref);
    bool ok = settings_read(kf) && rooms_from_config(kf);
    g_key_file_free(kf);
    if (!ok) {
        g_clear_pointer(&rooms, g_hash_table_unref);
        g_free(room_conf.admin_key);
        return -1;
    }
    if (!room_breakout_start())
        ROOM_LOG(ODEON_LOG_INFO, "no database: breakout groups' rooms are not available");
    tasks = g_async_queue_new();
    worker = g_thread_new("room", worker_run, NULL);
    ROOM_LOG(ODEON_LOG_INFO, "rooms ready (%u from room.conf)", g_hash_table_size(rooms));
    return 0;
}

static void room_plugin_destroy(void)
{
    task_post(NULL, NULL);
    g_thread_join(worker);
    room_subscribers_quiesce();
    g_async_queue_unref(tasks);
    g_mutex_lock(&rooms_lock);
    GHashTable *all = rooms;
    rooms = NULL;
    g_mutex_unlock(&rooms_lock);
    g_hash_table_unref(all);
    g_clear_pointer(&room_conf.admin_key, g_free);
}

const odeon_plugin odeon_plugin_descriptor = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = "odeon.plugin.room",
    .name = "Rooms",
    .description = "Breakout rooms: everyone sees and hears everyone (VideoRoom-compatible SFU)",
    .author = "The Odeon developers",
    .version_string = "0.1.0",
    .version = 1,
    .init = room_init,
    .destroy = room_plugin_destroy,
    .create_session = room_create_session,
    .handle_message = room_handle_message,
    .handle_admin_message = room_handle_admin_message,
    .setup_media = room_setup_media,
    .incoming_rtp = room_incoming_rtp,
    .incoming_rtcp = room_incoming_rtcp,
    .hangup_media = room_hangup_media,
    .destroy_session = room_destroy_session,
    .query_session = room_query_session,
};
