/*
 * chat.c - odeon.plugin.chat: an event's main chat room and one per breakout group, stored in
 * PostgreSQL and delivered to members on every node.
 *
 * Messages are stored by chat_post_many() (sql/007_chat_post_many.sql), which gives each the
 * room's next seq and announces the room on NOTIFY chat; sends that arrive while earlier ones
 * are being stored go together in the next statement. Each node keeps the rooms its members are in; on a
 * notification it reads the room's messages after the lowest seq any of its members has had
 * and hands each member those it has not had yet. Members therefore get every message once and
 * in seq order, also after a reconnect (join with after_seq), whichever node it was posted on.
 *
 * Deliveries are batched: a member's messages wait in its queue and go out in one event every
 * batch_ms, so a busy room costs a few pushes per member and second, not one per message.
 *
 * Threads: requests arrive on a transport thread, database answers and the flush timer run on
 * the main thread; rooms, members and queues are under chat_lock, and events are pushed
 * after it is released.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "../common/plugin_common.h"
#include "plugin/plugin.h"

static const odeon_core_callbacks *core;
extern const odeon_plugin odeon_plugin_descriptor;

#define LOG(level, ...) core->log(level, "chat", __VA_ARGS__)
#define error_event(code, ...) odeon_plugin_error(core, "chat", code, __VA_ARGS__)

enum {
    CHAT_ERROR_INVALID_REQUEST = 440,
    CHAT_ERROR_MISSING = 441,
    CHAT_ERROR_INVALID = 442,
    CHAT_ERROR_UNAUTHORIZED = 443,
    CHAT_ERROR_NOT_IN_ROOM = 444,
    CHAT_ERROR_MUTED = 445,
    CHAT_ERROR_TOO_LONG = 446,
    CHAT_ERROR_RATE_LIMITED = 447,
    CHAT_ERROR_UNAVAILABLE = 448,
};

static struct {
    int max_chars;
    int rate_messages;
    int rate_seconds;
    int history;
    int batch_ms;
    int retention_days;
} cfg;

typedef struct chat_room chat_room;

/* One handle's place in one room. Owned by its session's members table. */
typedef struct chat_member {
    odeon_plugin_handle *handle; /* borrowed: the session holds the reference */
    chat_room *room;
    int64_t last_seq; /* the last message this member has had */
    bool ready;       /* joined: its history answered */
} chat_member;

/* A room with members on this node. Owned by the rooms table. */
struct chat_room {
    char *key; /* "<event>/<room>" */
    int64_t event_id;
    char *name;
    GPtrArray *members; /* chat_member * (borrowed) */
    bool fetching, refetch;
};

/* Per handle. Owned by the handle (set_handle_data); freed in destroy_session. */
typedef struct chat_session {
    odeon_plugin_handle *handle;
    GHashTable *members; /* room key -> chat_member * (owned) */
    json_t *pending;     /* messages waiting for the next flush (array) */
    json_t *deleted;     /* {"room": [seq, ...]} */
    double tokens;       /* rate limit bucket */
    int64_t refilled_us;
    bool queued;         /* in the flush list */
} chat_session;

static GMutex chat_lock;
static GHashTable *rooms;      /* key -> chat_room * */
static GPtrArray *flush_list;  /* chat_session * with something pending (referenced handle) */
static GPtrArray *flushing;    /* the flush in progress: its sessions, pushed from flushing_at */
static guint flushing_at;
static guint flush_timer, flush_step_source, purge_timer;

/* Work per step of a flush (one per member, plus each distinct batch's messages): a few ms,
 * so that the main loop turns often enough for the database pool (a statement waits for one
 * of its few connections, and each is freed only when the main thread reads its answer). */
#define FLUSH_STEP_MESSAGES 2000

/* ---- small helpers ---- */

static bool room_name_ok(const char *room)
{
    if (room == NULL)
        return false;
    if (strcmp(room, "main") == 0)
        return true;
    if (!g_str_has_prefix(room, "group:") || room[6] == '\0' || strlen(room) > 6 + 18)
        return false;
    for (const char *p = room + 6; *p; p++)
        if (!g_ascii_isdigit(*p))
            return false;
    return true;
}

/* The caller's rank in the event (0: none). */
static int caller_rank(odeon_plugin_handle *handle, int64_t event_id)
{
    return odeon_event_rank(core, handle, event_id);
}

/* ---- requests in flight ---- */

typedef struct chat_call {
    odeon_plugin_handle *handle; /* a reference */
    char *transaction;
    json_t *body;
    int64_t event_id;
    char *room;
    char *subject;
    int64_t after_seq;
    const char *kind; /* a post's: "message" or "announcement" */
} chat_call;

static chat_call *call_new(odeon_plugin_handle *handle, const char *transaction, json_t *body,
                           int64_t event_id, const char *room)
{
    chat_call *c = g_new0(chat_call, 1);
    c->handle = core->handle_ref(handle);
    c->transaction = g_strdup(transaction);
    c->body = json_incref(body);
    c->event_id = event_id;
    c->room = g_strdup(room);
    const odeon_identity *id = core->identity(handle);
    c->subject = g_strdup(id ? id->subject : NULL);
    return c;
}

static void call_free(chat_call *c)
{
    core->handle_unref(c->handle);
    g_free(c->transaction);
    json_decref(c->body);
    g_free(c->room);
    g_free(c->subject);
    g_free(c);
}

/* Pushes event (stolen) as the call's answer and frees the call. */
static void call_answer(chat_call *c, json_t *event)
{
    core->push_event(c->handle, c->transaction, event, NULL);
    json_decref(event);
    call_free(c);
}

static void call_db_failed(chat_call *c, const char *error)
{
    if (error && strstr(error, "chat:muted")) {
        call_answer(c, error_event(CHAT_ERROR_MUTED, "You are muted in this event"));
        return;
    }
    LOG(ODEON_LOG_WARN, "chat database: %s", error ? error : "failed");
    call_answer(c, error_event(CHAT_ERROR_UNAVAILABLE, "The chat is unavailable; try again"));
}

static char *room_key(int64_t event_id, const char *room)
{
    return g_strdup_printf("%" G_GINT64_FORMAT "/%s", event_id, room);
}

/* ---- delivery ---- */

/* Under chat_lock: s has something to send at the next flush. */
static void session_queue_locked(chat_session *s)
{
    if (s->queued)
        return;
    s->queued = true;
    core->handle_ref(s->handle);
    g_ptr_array_add(flush_list, s);
}

/* Under chat_lock: the flush in progress takes what is queued, if it is not already busy. */
static bool flush_begin_locked(void)
{
    if (flushing == NULL && flush_list->len > 0) {
        flushing = flush_list;
        flushing_at = 0;
        flush_list = g_ptr_array_new();
    }
    return flushing != NULL;
}

/* Members that get the same messages (the same objects in the same order, no deletions)
 * share one event, which push_event_many serialises once for all of them: in a busy room that
 * is one serialisation per batch instead of one per member. */
typedef struct flush_group {
    json_t *event;
    GPtrArray *handles; /* references */
} flush_group;

static void flush_group_free(gpointer data)
{
    flush_group *g = data;
    json_decref(g->event);
    for (guint i = 0; i < g->handles->len; i++)
        core->handle_unref(g_ptr_array_index(g->handles, i));
    g_ptr_array_unref(g->handles);
    g_free(g);
}

/* The identity of a session's batch: its messages' addresses. NULL when it has deletions
 * (rare: such a batch goes alone). */
static char *batch_key(const chat_session *s)
{
    if (json_object_size(s->deleted) > 0)
        return NULL;
    GString *key = g_string_sized_new(json_array_size(s->pending) * 17);
    size_t i;
    json_t *msg;
    json_array_foreach(s->pending, i, msg) g_string_append_printf(key, "%p,", (void *)msg);
    return g_string_free(key, FALSE);
}

/* Under chat_lock: the events of the flush's next sessions, grouped (flush_group), up to
 * FLUSH_STEP_MESSAGES messages to serialise (and one per member): after the lock is released
 * a session may be destroyed at any time, so nothing that pushes them touches one. */
static GPtrArray *flush_take_locked(void)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(flush_group_free);
    GHashTable *groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    size_t work = 0;
    while (flushing != NULL && flushing_at < flushing->len && work < FLUSH_STEP_MESSAGES) {
        chat_session *s = g_ptr_array_index(flushing, flushing_at++);
        s->queued = false;
        work++;
        char *key = batch_key(s);
        flush_group *g = key ? g_hash_table_lookup(groups, key) : NULL;
        if (g == NULL) {
            work += json_array_size(s->pending);
            g = g_new0(flush_group, 1);
            g->handles = g_ptr_array_new();
            g->event = json_pack("{s:s, s:O}", "chat", "messages", "messages", s->pending);
            if (json_object_size(s->deleted) > 0)
                json_object_set(g->event, "deleted", s->deleted);
            g_ptr_array_add(out, g);
            if (key != NULL)
                g_hash_table_insert(groups, g_strdup(key), g);
        }
        g_free(key);
        g_ptr_array_add(g->handles, s->handle); /* the reference session_queue_locked took */
        json_decref(s->pending);
        json_decref(s->deleted);
        if (s->members == NULL) {
            /* Its handle went while it was queued (chat_destroy_session left it to us). */
            g_free(s);
        } else {
            s->pending = json_array();
            s->deleted = json_object();
        }
    }
    g_hash_table_unref(groups);
    if (flushing != NULL && flushing_at == flushing->len)
        g_clear_pointer(&flushing, g_ptr_array_unref);
    return out;
}

static void flush_push(GPtrArray *out)
{
    for (guint i = 0; i < out->len; i++) {
        flush_group *g = g_ptr_array_index(out, i);
        /* Handles that went meanwhile are skipped. */
        core->push_event_many((odeon_plugin_handle *const *)g->handles->pdata, g->handles->len,
                              g->event);
    }
    g_ptr_array_unref(out);
}

/* One step of the flush in progress; main thread. A flush of a big room at a busy moment is
 * much work (every member's copy of the batch is queued on its connection): done in one go it
 * would hold the main thread, where database answers wait, long enough for queued statements
 * to time out (sends refused as "unavailable"). Steps let them in between. */
static gboolean flush_step(gpointer data)
{
    (void)data;
    g_mutex_lock(&chat_lock);
    GPtrArray *out = flush_take_locked();
    bool more = flushing != NULL;
    if (!more)
        flush_step_source = 0;
    g_mutex_unlock(&chat_lock);
    flush_push(out);
    return more ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* The batch timer: starts a flush unless one is still going (its sessions' new messages then
 * wait for the next tick, in larger batches). */
static gboolean flush(gpointer data)
{
    (void)data;
    g_mutex_lock(&chat_lock);
    bool start = flush_step_source == 0 && flush_begin_locked();
    g_mutex_unlock(&chat_lock);
    if (start && flush_step(NULL))
        flush_step_source = g_idle_add_full(G_PRIORITY_DEFAULT, flush_step, NULL, NULL);
    return G_SOURCE_CONTINUE;
}

static void room_fetch(chat_room *room);
static gboolean fetch_later(gpointer data);

typedef struct fetch_job {
    char *key;
} fetch_job;

/* Rows: seq, message JSON; on the main thread. */
static void fetched(const odeon_db_rows *rows, const char *error, void *user_data)
{
    fetch_job *job = user_data;
    g_mutex_lock(&chat_lock);
    chat_room *room = rooms ? g_hash_table_lookup(rooms, job->key) : NULL;
    int n = rows ? core->db_rows_count(rows) : 0;
    if (room != NULL) {
        room->fetching = false;
        if (rows == NULL)
            LOG(ODEON_LOG_WARN, "room %s: %s", job->key, error);
        for (int i = 0; i < n; i++) {
            int64_t seq = g_ascii_strtoll(core->db_rows_value(rows, i, 0), NULL, 10);
            json_t *msg = json_loads(core->db_rows_value(rows, i, 1), 0, NULL);
            for (guint k = 0; msg && k < room->members->len; k++) {
                chat_member *m = g_ptr_array_index(room->members, k);
                if (!m->ready || seq <= m->last_seq)
                    continue;
                chat_session *s = core->get_handle_data(m->handle);
                json_array_append(s->pending, msg);
                m->last_seq = seq;
                session_queue_locked(s);
            }
            json_decref(msg);
        }
        /* More than one page, a notification during the read, or a failure: read again. */
        bool again = room->refetch || n == 1000;
        room->refetch = false;
        if (room->members->len == 0)
            g_hash_table_remove(rooms, room->key); /* its last member left during the read */
        else if (rows == NULL)
            g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, 1, fetch_later, g_strdup(job->key),
                                       g_free);
        else if (again)
            room_fetch(room);
    }
    g_mutex_unlock(&chat_lock);
    g_free(job->key);
    g_free(job);
}

/* Under chat_lock, main thread: reads what the room's members have not had yet. */
static void room_fetch(chat_room *room)
{
    if (room->fetching) {
        room->refetch = true;
        return;
    }
    int64_t from = -1;
    for (guint k = 0; k < room->members->len; k++) {
        chat_member *m = g_ptr_array_index(room->members, k);
        if (m->ready && (from < 0 || m->last_seq < from))
            from = m->last_seq;
    }
    if (from < 0)
        return;
    char ev[24], seq[24];
    g_snprintf(ev, sizeof ev, "%" G_GINT64_FORMAT, room->event_id);
    g_snprintf(seq, sizeof seq, "%" G_GINT64_FORMAT, from);
    const char *params[] = {ev, room->name, seq};
    fetch_job *job = g_new0(fetch_job, 1);
    job->key = g_strdup(room->key);
    room->fetching = true;
    if (core->db_query("SELECT m.seq, chat_message_json(m)::text FROM chat_messages m WHERE "
                       "m.event_id = $1::bigint AND m.room = $2 AND m.seq > $3::bigint "
                       "ORDER BY m.seq LIMIT 1000",
                       3, params, fetched, job) != 0) {
        room->fetching = false;
        g_free(job->key);
        g_free(job);
    }
}

static gboolean fetch_later(gpointer data)
{
    char *key = data;
    g_mutex_lock(&chat_lock);
    chat_room *room = rooms ? g_hash_table_lookup(rooms, key) : NULL;
    if (room != NULL)
        room_fetch(room);
    g_mutex_unlock(&chat_lock);
    return G_SOURCE_REMOVE;
}

/* A new message (s) or a deletion (d) in a room, from any node. */
static void chat_notified(const char *channel, const char *payload, void *user_data)
{
    (void)channel;
    (void)user_data;
    g_mutex_lock(&chat_lock);
    if (payload == NULL) {
        /* The listener reconnected: every room reads what it may have missed. */
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, rooms);
        while (g_hash_table_iter_next(&it, NULL, &value))
            room_fetch(value);
        g_mutex_unlock(&chat_lock);
        return;
    }
    json_t *j = json_loads(payload, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "r"));
    char *key = name ? room_key(json_integer_value(json_object_get(j, "e")), name) : NULL;
    chat_room *room = key ? g_hash_table_lookup(rooms, key) : NULL;
    json_t *deleted = json_object_get(j, "d");
    if (room != NULL && json_is_integer(deleted)) {
        for (guint k = 0; k < room->members->len; k++) {
            chat_member *m = g_ptr_array_index(room->members, k);
            chat_session *s = core->get_handle_data(m->handle);
            json_t *list = json_object_get(s->deleted, room->name);
            if (list == NULL) {
                list = json_array();
                json_object_set_new(s->deleted, room->name, list);
            }
            json_array_append(list, deleted);
            session_queue_locked(s);
        }
    } else if (room != NULL) {
        room_fetch(room);
    }
    g_mutex_unlock(&chat_lock);
    g_free(key);
    json_decref(j);
}

/* ---- join, leave ---- */

/* Under chat_lock. */
static void member_remove_locked(chat_member *m)
{
    chat_room *room = m->room;
    g_ptr_array_remove(room->members, m);
    /* A room with a read in flight is removed when the read answers (fetched). */
    if (room->members->len == 0 && !room->fetching)
        g_hash_table_remove(rooms, room->key);
}

static void member_free(gpointer data)
{
    chat_member *m = data;
    member_remove_locked(m);
    g_free(m);
}

static void room_free(gpointer data)
{
    chat_room *room = data;
    g_ptr_array_unref(room->members);
    g_free(room->key);
    g_free(room->name);
    g_free(room);
}

/* Rows: messages JSON (array), the room's last seq. */
static void joined(const odeon_db_rows *rows, const char *error, void *user_data)
{
    chat_call *c = user_data;
    if (rows == NULL) {
        call_db_failed(c, error);
        return;
    }
    json_t *messages = json_loads(core->db_rows_value(rows, 0, 0), 0, NULL);
    int64_t last = c->after_seq;
    size_t i;
    json_t *msg;
    json_array_foreach(messages, i, msg) {
        int64_t seq = json_integer_value(json_object_get(msg, "seq"));
        if (seq > last)
            last = seq;
    }
    char *key = room_key(c->event_id, c->room);
    g_mutex_lock(&chat_lock);
    chat_session *s = core->get_handle_data(c->handle);
    chat_member *m = s ? g_hash_table_lookup(s->members, key) : NULL;
    if (m != NULL) {
        m->last_seq = last;
        m->ready = true;
        /* Anything posted between the read and now comes with the next fetch. */
        g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, fetch_later, g_strdup(key), g_free);
    }
    g_mutex_unlock(&chat_lock);
    g_free(key);
    if (m == NULL) {
        json_decref(messages);
        call_answer(c, error_event(CHAT_ERROR_NOT_IN_ROOM, "Left the room while joining"));
        return;
    }
    const char *room_last = core->db_rows_value(rows, 0, 1);
    call_answer(c, json_pack("{s:s, s:I, s:s, s:o, s:I}", "chat", "joined", "event_id",
                             (json_int_t)c->event_id, "room", c->room, "messages",
                             messages ? messages : json_array(), "last_seq",
                             (json_int_t)(room_last ? g_ascii_strtoll(room_last, NULL, 10) : 0)));
}

static json_t *join_admitted(chat_call *c);

static void group_membership_read(const odeon_db_rows *rows, const char *error, void *user_data)
{
    chat_call *c = user_data;
    if (rows == NULL) {
        call_db_failed(c, error);
        return;
    }
    json_t *refusal = core->db_rows_count(rows) > 0
                          ? join_admitted(c)
                          : error_event(CHAT_ERROR_UNAUTHORIZED,
                                        "Unauthorized (not a member of this group)");
    if (refusal != NULL)
        call_answer(c, refusal);
}

/* A participant's group room: only the breakout group's members (breakout_members). */
static json_t *group_membership_check(chat_call *c)
{
    int64_t participant = odeon_participant_id(c->subject);
    if (participant <= 0)
        return error_event(CHAT_ERROR_UNAUTHORIZED, "Unauthorized (not a member of this group)");
    char ev[24], who[24];
    g_snprintf(ev, sizeof ev, "%" G_GINT64_FORMAT, c->event_id);
    g_snprintf(who, sizeof who, "%" G_GINT64_FORMAT, participant);
    const char *params[] = {c->room + 6, ev, who};
    if (core->db_query("SELECT 1 FROM breakout_members m JOIN breakout_groups g ON g.id = "
                       "m.group_id WHERE m.group_id = $1::bigint AND g.event_id = $2::bigint "
                       "AND m.participant_id = $3::bigint",
                       3, params, group_membership_read, c) != 0)
        return error_event(CHAT_ERROR_UNAVAILABLE, "The chat is unavailable");
    return NULL;
}

static json_t *req_join(chat_call *c)
{
    int rank = caller_rank(c->handle, c->event_id);
    bool group = strcmp(c->room, "main") != 0;
    /* The main room is everyone's with a role in the event; a group room its breakout
     * group's members' and the event's hosts' and organisers'. */
    if (c->subject == NULL || rank == 0)
        return error_event(CHAT_ERROR_UNAUTHORIZED, "Unauthorized (not a member of this room)");
    if (group && rank < odeon_role_rank("host"))
        return group_membership_check(c);
    return join_admitted(c);
}

static json_t *join_admitted(chat_call *c)
{
    json_t *after = json_object_get(c->body, "after_seq");
    if (after != NULL && (!json_is_integer(after) || json_integer_value(after) < 0))
        return error_event(CHAT_ERROR_INVALID, "Invalid element (after_seq)");
    c->after_seq = after ? json_integer_value(after) : 0;
    char *key = room_key(c->event_id, c->room);
    g_mutex_lock(&chat_lock);
    chat_session *s = core->get_handle_data(c->handle);
    bool already = g_hash_table_contains(s->members, key);
    if (!already) {
        chat_room *room = g_hash_table_lookup(rooms, key);
        if (room == NULL) {
            room = g_new0(chat_room, 1);
            room->key = g_strdup(key);
            room->event_id = c->event_id;
            room->name = g_strdup(c->room);
            room->members = g_ptr_array_new();
            g_hash_table_insert(rooms, room->key, room);
        }
        chat_member *m = g_new0(chat_member, 1);
        m->handle = c->handle;
        m->room = room;
        g_ptr_array_add(room->members, m);
        g_hash_table_insert(s->members, g_strdup(key), m);
    }
    g_mutex_unlock(&chat_lock);
    g_free(key);
    if (already)
        return error_event(CHAT_ERROR_INVALID, "Already in this room");
    char ev[24], n[24];
    g_snprintf(ev, sizeof ev, "%" G_GINT64_FORMAT, c->event_id);
    g_snprintf(n, sizeof n, "%" G_GINT64_FORMAT, after ? c->after_seq : (int64_t)cfg.history);
    const char *params[] = {ev, c->room, n};
    /* A resume reads what came after the client's last seq (up to 1,000; the rest follows
     * as deliveries); a first join reads the last messages. */
    const char *sql =
        after ? "SELECT COALESCE((SELECT json_agg(x.j ORDER BY x.seq) FROM (SELECT m.seq, "
                "chat_message_json(m) AS j FROM chat_messages m WHERE m.event_id = $1::bigint "
                "AND m.room = $2 AND m.seq > $3::bigint ORDER BY m.seq LIMIT 1000) x), '[]')"
                "::text, (SELECT last_seq FROM chat_rooms WHERE event_id = $1::bigint AND "
                "room = $2)"
              : "SELECT COALESCE((SELECT json_agg(x.j ORDER BY x.seq) FROM (SELECT m.seq, "
                "chat_message_json(m) AS j FROM chat_messages m WHERE m.event_id = $1::bigint "
                "AND m.room = $2 ORDER BY m.seq DESC LIMIT $3::int) x), '[]')::text, "
                "(SELECT last_seq FROM chat_rooms WHERE event_id = $1::bigint AND room = $2)";
    if (core->db_query(sql, 3, params, joined, c) != 0)
        return error_event(CHAT_ERROR_UNAVAILABLE, "The chat is unavailable");
    return NULL;
}

static json_t *req_leave(chat_call *c)
{
    char *key = room_key(c->event_id, c->room);
    g_mutex_lock(&chat_lock);
    chat_session *s = core->get_handle_data(c->handle);
    bool was = g_hash_table_remove(s->members, key);
    g_mutex_unlock(&chat_lock);
    g_free(key);
    if (!was)
        return error_event(CHAT_ERROR_NOT_IN_ROOM, "Not in this room");
    return json_pack("{s:s, s:s}", "chat", "left", "room", c->room);
}

/* ---- send, history, moderation ---- */

static bool rate_take(chat_session *s)
{
    int64_t now = g_get_monotonic_time();
    double per_us = (double)cfg.rate_messages / ((double)cfg.rate_seconds * 1e6);
    s->tokens += (double)(now - s->refilled_us) * per_us;
    if (s->tokens > cfg.rate_messages)
        s->tokens = cfg.rate_messages;
    s->refilled_us = now;
    if (s->tokens < 1.0)
        return false;
    s->tokens -= 1.0;
    return true;
}

/* ---- storing messages: batched under load ---- */

/* Sends wait here while POST_MAX_IN_FLIGHT batches are being stored, then go together in one
 * statement (chat_post_many in sql/007_chat_post_many.sql). At a quiet moment a send is stored
 * at once, alone; in a burst the batches grow instead of the queue of statements. */
#define POST_MAX_IN_FLIGHT 2
#define POST_BATCH_MAX 500

static GMutex post_lock;
static GPtrArray *post_waiting; /* chat_call * */
static int posts_in_flight;

static void post_sent(chat_call *c, const char *seq)
{
    if (core->events_enabled()) {
        /* Analytics get who wrote where, never the text. */
        json_t *info = json_pack("{s:s, s:I, s:s, s:s}", "event", "message_sent", "event_id",
                                 (json_int_t)c->event_id, "room", c->room, "sender", c->subject);
        core->notify_event(&odeon_plugin_descriptor, c->handle, info);
        json_decref(info);
    }
    call_answer(c, json_pack("{s:s, s:s, s:I}", "chat", "sent", "room", c->room, "seq",
                             (json_int_t)g_ascii_strtoll(seq, NULL, 10)));
}

static void posts_start(void);

/* Rows: index (1-based), seq, refused; main thread. */
static void posted_many(const odeon_db_rows *rows, const char *error, void *user_data)
{
    GPtrArray *calls = user_data;
    int n = rows ? core->db_rows_count(rows) : 0;
    for (int i = 0; i < n; i++) {
        long index = strtol(core->db_rows_value(rows, i, 0), NULL, 10);
        if (index < 1 || (guint)index > calls->len || g_ptr_array_index(calls, index - 1) == NULL)
            continue;
        chat_call *c = g_ptr_array_index(calls, index - 1);
        calls->pdata[index - 1] = NULL;
        const char *seq = core->db_rows_value(rows, i, 1);
        if (seq != NULL)
            post_sent(c, seq);
        else
            call_db_failed(c, "chat:muted");
    }
    /* A failed statement (or, never expected, an item without a row) answers "unavailable". */
    for (guint i = 0; i < calls->len; i++)
        if (g_ptr_array_index(calls, i) != NULL)
            call_db_failed(g_ptr_array_index(calls, i), rows ? "no row for the message" : error);
    g_ptr_array_unref(calls);
    g_mutex_lock(&post_lock);
    posts_in_flight--;
    g_mutex_unlock(&post_lock);
    posts_start();
}

/* Stores what waits, while fewer than POST_MAX_IN_FLIGHT batches are out. Any thread. */
static void posts_start(void)
{
    for (;;) {
        g_mutex_lock(&post_lock);
        if (posts_in_flight >= POST_MAX_IN_FLIGHT || post_waiting == NULL ||
            post_waiting->len == 0) {
            g_mutex_unlock(&post_lock);
            return;
        }
        guint n = MIN(post_waiting->len, POST_BATCH_MAX);
        GPtrArray *calls = g_ptr_array_sized_new(n);
        for (guint i = 0; i < n; i++)
            g_ptr_array_add(calls, g_ptr_array_index(post_waiting, i));
        g_ptr_array_remove_range(post_waiting, 0, n);
        posts_in_flight++;
        g_mutex_unlock(&post_lock);
        json_t *items = json_array();
        for (guint i = 0; i < n; i++) {
            chat_call *c = g_ptr_array_index(calls, i);
            json_array_append_new(
                items, json_pack("{s:I, s:s, s:s, s:s, s:O}", "e", (json_int_t)c->event_id, "r",
                                 c->room, "s", c->subject, "k", c->kind, "b",
                                 json_object_get(c->body, "text")));
        }
        char *text = json_dumps(items, JSON_COMPACT);
        json_decref(items);
        const char *params[] = {text};
        int rc = core->db_query("SELECT o_index, o_seq, o_refused FROM chat_post_many($1::json)",
                                1, params, posted_many, calls);
        free(text);
        if (rc != 0)
            posted_many(NULL, "the database is closing", calls);
    }
}

/* NULL when the body's text may be posted, else the error. */
static json_t *text_refused(chat_call *c)
{
    json_t *text = json_object_get(c->body, "text");
    const char *t = json_string_value(text);
    if (t == NULL)
        return error_event(CHAT_ERROR_MISSING, "Missing element (text)");
    glong chars = g_utf8_strlen(t, -1);
    if (strlen(t) != json_string_length(text) || chars < 1)
        return error_event(CHAT_ERROR_INVALID, "Invalid element (text)");
    if (chars > cfg.max_chars)
        return error_event(CHAT_ERROR_TOO_LONG, "Message too long (at most %d characters)",
                           cfg.max_chars);
    return NULL;
}

static json_t *post(chat_call *c, const char *kind)
{
    json_t *refused = text_refused(c);
    if (refused != NULL)
        return refused;
    c->kind = kind;
    g_mutex_lock(&post_lock);
    bool queued = post_waiting != NULL;
    if (queued)
        g_ptr_array_add(post_waiting, c);
    g_mutex_unlock(&post_lock);
    if (!queued)
        return error_event(CHAT_ERROR_UNAVAILABLE, "The chat is unavailable");
    posts_start();
    return NULL;
}

static json_t *req_send(chat_call *c)
{
    const char *claimed = json_string_value(json_object_get(c->body, "sender"));
    if (json_object_get(c->body, "sender") != NULL &&
        (claimed == NULL || c->subject == NULL || strcmp(claimed, c->subject) != 0))
        return error_event(CHAT_ERROR_UNAUTHORIZED, "Unauthorized (the sender is the session)");
    json_t *refused = text_refused(c); /* before the rate limit: a refusal costs no token */
    if (refused != NULL)
        return refused;
    char *key = room_key(c->event_id, c->room);
    g_mutex_lock(&chat_lock);
    chat_session *s = core->get_handle_data(c->handle);
    chat_member *m = g_hash_table_lookup(s->members, key);
    bool member = m != NULL && m->ready;
    bool allowed = member && rate_take(s);
    g_mutex_unlock(&chat_lock);
    g_free(key);
    if (!member)
        return error_event(CHAT_ERROR_NOT_IN_ROOM, "Not in this room: join it first");
    if (!allowed)
        return error_event(CHAT_ERROR_RATE_LIMITED, "Too many messages; wait a moment");
    return post(c, "message");
}

static json_t *req_announce(chat_call *c)
{
    if (caller_rank(c->handle, c->event_id) < odeon_role_rank("organiser"))
        return error_event(CHAT_ERROR_UNAUTHORIZED, "Unauthorized (organisers only)");
    g_free(c->room);
    c->room = g_strdup("main");
    return post(c, "announcement");
}

static void history_read(const odeon_db_rows *rows, const char *error, void *user_data)
{
    chat_call *c = user_data;
    if (rows == NULL) {
        call_db_failed(c, error);
        return;
    }
    json_t *messages = json_loads(core->db_rows_value(rows, 0, 0), 0, NULL);
    call_answer(c, json_pack("{s:s, s:s, s:o}", "chat", "history", "room", c->room, "messages",
                             messages ? messages : json_array()));
}

static json_t *req_history(chat_call *c)
{
    int rank = caller_rank(c->handle, c->event_id);
    /* A group room's history: its hosts and organisers, or a member who joined it (joining
     * checked the membership). */
    bool joined = false;
    if (strcmp(c->room, "main") != 0 && rank > 0 && rank < odeon_role_rank("host")) {
        char *key = room_key(c->event_id, c->room);
        g_mutex_lock(&chat_lock);
        chat_session *cs = core->get_handle_data(c->handle);
        joined = cs != NULL && g_hash_table_contains(cs->members, key);
        g_mutex_unlock(&chat_lock);
        g_free(key);
    }
    if (rank == 0 ||
        (strcmp(c->room, "main") != 0 && rank < odeon_role_rank("host") && !joined))
        return error_event(CHAT_ERROR_UNAUTHORIZED, "Unauthorized (not a member of this room)");
    json_t *before = json_object_get(c->body, "before_seq");
    json_t *limit = json_object_get(c->body, "limit");
    if (!json_is_integer(before) || json_integer_value(before) < 1)
        return error_event(CHAT_ERROR_INVALID, "Invalid element (before_seq)");
    int n = limit ? (int)json_integer_value(limit) : cfg.history;
    if ((limit && !json_is_integer(limit)) || n < 1 || n > 100)
        return error_event(CHAT_ERROR_INVALID, "Invalid element (limit: 1..100)");
    char ev[24], seq[24], count[16];
    g_snprintf(ev, sizeof ev, "%" G_GINT64_FORMAT, c->event_id);
    g_snprintf(seq, sizeof seq, "%" JSON_INTEGER_FORMAT, json_integer_value(before));
    g_snprintf(count, sizeof count, "%d", n);
    const char *params[] = {ev, c->room, seq, count};
    if (core->db_query("SELECT COALESCE((SELECT json_agg(x.j ORDER BY x.seq) FROM (SELECT "
                       "m.seq, chat_message_json(m) AS j FROM chat_messages m WHERE m.event_id "
                       "= $1::bigint AND m.room = $2 AND m.seq < $3::bigint ORDER BY m.seq DESC "
                       "LIMIT $4::int) x), '[]')::text",
                       4, params, history_read, c) != 0)
        return error_event(CHAT_ERROR_UNAVAILABLE, "The chat is unavailable");
    return NULL;
}

static void moderated(const odeon_db_rows *rows, const char *error, void *user_data)
{
    chat_call *c = user_data;
    if (rows == NULL) {
        call_db_failed(c, error);
        return;
    }
    const char *request = json_string_value(json_object_get(c->body, "request"));
    if (g_strcmp0(core->db_rows_value(rows, 0, 0), "t") != 0) {
        call_answer(c, error_event(CHAT_ERROR_NOT_IN_ROOM, "No such message or participant"));
        return;
    }
    call_answer(c, json_pack("{s:s, s:b}", "chat", request, "done", 1));
}

static json_t *req_moderate(chat_call *c, const char *request)
{
    if (caller_rank(c->handle, c->event_id) < odeon_role_rank("organiser"))
        return error_event(CHAT_ERROR_UNAUTHORIZED, "Unauthorized (organisers only)");
    char ev[24], seq[24];
    g_snprintf(ev, sizeof ev, "%" G_GINT64_FORMAT, c->event_id);
    if (strcmp(request, "delete") == 0) {
        json_t *s = json_object_get(c->body, "seq");
        if (!json_is_integer(s) || json_integer_value(s) < 1)
            return error_event(CHAT_ERROR_INVALID, "Invalid element (seq)");
        g_snprintf(seq, sizeof seq, "%" JSON_INTEGER_FORMAT, json_integer_value(s));
        const char *params[] = {ev, c->room, seq, c->subject};
        if (core->db_query("SELECT chat_delete($1::bigint, $2, $3::bigint, $4)", 4, params,
                           moderated, c) != 0)
            return error_event(CHAT_ERROR_UNAVAILABLE, "The chat is unavailable");
        return NULL;
    }
    const char *who = json_string_value(json_object_get(c->body, "subject"));
    if (who == NULL || strlen(who) > 100)
        return error_event(CHAT_ERROR_MISSING, "Missing element (subject)");
    const char *params[] = {ev, who, c->subject};
    bool mute = strcmp(request, "mute") == 0;
    const char *sql = mute ? "INSERT INTO chat_mutes (event_id, subject, muted_by) VALUES "
                             "($1::bigint, $2, $3) ON CONFLICT DO NOTHING RETURNING true"
                           : "DELETE FROM chat_mutes WHERE event_id = $1::bigint AND subject = "
                             "$2 RETURNING true";
    if (core->db_query(sql, mute ? 3 : 2, params, moderated, c) != 0)
        return error_event(CHAT_ERROR_UNAVAILABLE, "The chat is unavailable");
    return NULL;
}

/* ---- plugin callbacks ---- */

static json_t *dispatch(chat_call *c, const char *request)
{
    if (strcmp(request, "join") == 0)
        return req_join(c);
    if (strcmp(request, "leave") == 0)
        return req_leave(c);
    if (strcmp(request, "send") == 0)
        return req_send(c);
    if (strcmp(request, "history") == 0)
        return req_history(c);
    if (strcmp(request, "announce") == 0)
        return req_announce(c);
    if (strcmp(request, "delete") == 0 || strcmp(request, "mute") == 0 ||
        strcmp(request, "unmute") == 0)
        return req_moderate(c, request);
    return error_event(CHAT_ERROR_INVALID_REQUEST, "Unknown request");
}

static odeon_plugin_result chat_handle_message(odeon_plugin_handle *handle,
                                               const char *transaction, json_t *body,
                                               json_t *jsep)
{
    (void)jsep;
    const char *request = json_string_value(json_object_get(body, "request"));
    const char *room = json_string_value(json_object_get(body, "room"));
    int64_t event_id = 0;
    json_t *error = NULL;
    if (request == NULL)
        error = error_event(CHAT_ERROR_MISSING, "Missing element (request)");
    else if (!odeon_body_id(body, "event_id", &event_id))
        error = error_event(json_object_get(body, "event_id") ? CHAT_ERROR_INVALID
                                                              : CHAT_ERROR_MISSING,
                            "%s element (event_id)",
                            json_object_get(body, "event_id") ? "Invalid" : "Missing");
    else if (room != NULL && !room_name_ok(room))
        error = error_event(CHAT_ERROR_INVALID, "Invalid element (room: main or group:<id>)");
    if (error != NULL)
        return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = error};
    chat_call *c = call_new(handle, transaction, body, event_id, room ? room : "main");
    json_t *answer = dispatch(c, request);
    if (answer == NULL)
        return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT}; /* c answers later */
    call_free(c);
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = answer};
}

static int chat_create_session(odeon_plugin_handle *handle)
{
    chat_session *s = g_new0(chat_session, 1);
    s->handle = handle;
    s->members = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, member_free);
    s->pending = json_array();
    s->deleted = json_object();
    s->tokens = cfg.rate_messages;
    s->refilled_us = g_get_monotonic_time();
    core->set_handle_data(handle, s);
    return 0;
}

static void chat_destroy_session(odeon_plugin_handle *handle)
{
    g_mutex_lock(&chat_lock);
    chat_session *s = core->get_handle_data(handle);
    core->set_handle_data(handle, NULL);
    if (s != NULL) {
        g_hash_table_unref(s->members);
        /* A queued session is flushed (and unreferenced) by the timer: it only needs its
         * queues then, so they stay until flush takes them. */
        if (!s->queued) {
            json_decref(s->pending);
            json_decref(s->deleted);
            g_free(s);
        } else {
            s->members = NULL;
        }
    }
    g_mutex_unlock(&chat_lock);
}

static json_t *chat_query_session(odeon_plugin_handle *handle)
{
    g_mutex_lock(&chat_lock);
    chat_session *s = core->get_handle_data(handle);
    json_t *list = json_array();
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, s->members);
    while (g_hash_table_iter_next(&it, &key, &value))
        json_array_append_new(list, json_pack("{s:s, s:I}", "room", (const char *)key,
                                              "last_seq",
                                              (json_int_t)((chat_member *)value)->last_seq));
    g_mutex_unlock(&chat_lock);
    return json_pack("{s:o}", "rooms", list);
}

static gboolean purge(gpointer data)
{
    (void)data;
    char days[16];
    g_snprintf(days, sizeof days, "%d", cfg.retention_days);
    const char *params[] = {days};
    core->db_query("DELETE FROM chat_messages WHERE created_at < now() - "
                   "make_interval(days => $1::int)",
                   1, params, NULL, NULL);
    return G_SOURCE_CONTINUE;
}

static int conf_int(GKeyFile *kf, const char *key, int dflt, int min, int max, bool *ok)
{
    return odeon_conf_int(core, "chat", kf, "general", key, dflt, min, max, ok);
}

static int chat_init(const odeon_core_callbacks *callbacks, const char *config_path)
{
    core = callbacks;
    if (core->struct_size < offsetof(odeon_core_callbacks, push_event_many) + sizeof(void *)) {
        core->log(ODEON_LOG_ERROR, "chat", "this core is too old (needs plugin ABI 1.7)");
        return -1;
    }
    GKeyFile *kf = g_key_file_new();
    g_key_file_load_from_file(kf, config_path, G_KEY_FILE_NONE, NULL);
    bool ok = true;
    cfg.max_chars = conf_int(kf, "max_chars", 1000, 1, 10000, &ok);
    cfg.rate_messages = conf_int(kf, "rate_messages", 5, 1, 1000, &ok);
    cfg.rate_seconds = conf_int(kf, "rate_seconds", 10, 1, 3600, &ok);
    cfg.history = conf_int(kf, "history", 20, 1, 100, &ok);
    cfg.batch_ms = conf_int(kf, "batch_ms", 250, 10, 5000, &ok);
    cfg.retention_days = conf_int(kf, "retention_days", 25, 1, 3650, &ok);
    g_key_file_free(kf);
    if (!ok)
        return -1;
    g_mutex_init(&chat_lock);
    g_mutex_init(&post_lock);
    post_waiting = g_ptr_array_new();
    rooms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, room_free);
    flush_list = g_ptr_array_new();
    if (core->db_listen("chat", chat_notified, NULL) != 0) {
        LOG(ODEON_LOG_ERROR, "the chat plugin needs [database] in odeon.conf");
        g_hash_table_unref(rooms);
        g_ptr_array_unref(flush_list);
        g_clear_pointer(&post_waiting, g_ptr_array_unref);
        rooms = NULL;
        flush_list = NULL;
        return -1;
    }
    flush_timer = g_timeout_add((guint)cfg.batch_ms, flush, NULL);
    purge_timer = g_timeout_add_seconds(3600, purge, NULL);
    purge(NULL);
    LOG(ODEON_LOG_INFO, "chat ready: batches every %d ms, messages kept %d days", cfg.batch_ms,
        cfg.retention_days);
    return 0;
}

static void chat_destroy(void)
{
    if (flush_timer)
        g_source_remove(flush_timer);
    if (flush_step_source)
        g_source_remove(flush_step_source);
    if (purge_timer)
        g_source_remove(purge_timer);
    flush_timer = flush_step_source = purge_timer = 0;
    if (flush_list != NULL) {
        for (;;) {
            g_mutex_lock(&chat_lock);
            bool more = flush_begin_locked();
            g_mutex_unlock(&chat_lock);
            if (!more)
                break;
            flush_step(NULL);
        }
        g_ptr_array_unref(flush_list);
    }
    flush_list = NULL;
    g_clear_pointer(&rooms, g_hash_table_unref);
    /* Every session is gone and the core drained our queries: nothing should wait, but a send
     * that does is answered rather than leaked. */
    g_mutex_lock(&post_lock);
    GPtrArray *left = post_waiting;
    post_waiting = NULL;
    g_mutex_unlock(&post_lock);
    for (guint i = 0; left != NULL && i < left->len; i++)
        call_db_failed(g_ptr_array_index(left, i), "the chat is stopping");
    if (left != NULL)
        g_ptr_array_unref(left);
}

const odeon_plugin odeon_plugin_descriptor = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = "odeon.plugin.chat",
    .name = "Chat",
    .description = "Event and group chat rooms on PostgreSQL, across nodes",
    .author = "The Odeon developers",
    .version_string = "0.1.0",
    .version = 1,
    .init = chat_init,
    .destroy = chat_destroy,
    .create_session = chat_create_session,
    .handle_message = chat_handle_message,
    .destroy_session = chat_destroy_session,
    .query_session = chat_query_session,
};
