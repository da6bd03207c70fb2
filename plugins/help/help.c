/*
 * help.c - odeon.plugin.help: participants ask an event's organisers and hosts for help.
 *
 * Requests live in PostgreSQL (sql/005_help.sql); every change is announced on NOTIFY help.
 * Each node keeps who is interested here: consoles ("watch": the event's hosts and
 * organisers) and requesters (the handles that raised or asked for their own requests). On a
 * notification the node reads the request once and pushes it to all of them, so a claim on
 * one node shows on every console of every node, and the participant sees who is coming.
 *
 * Threads: requests arrive on a transport thread, database answers and notifications run on
 * the main thread; the interest tables are under help_lock, and events are pushed after it
 * is released, to referenced handles.
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

#define LOG(level, ...) core->log(level, "help", __VA_ARGS__)
#define error_event(code, ...) odeon_plugin_error(core, "help", code, __VA_ARGS__)

enum {
    HELP_ERROR_INVALID_REQUEST = 430,
    HELP_ERROR_MISSING = 431,
    HELP_ERROR_INVALID = 432,
    HELP_ERROR_UNAUTHORIZED = 433,
    HELP_ERROR_NOT_FOUND = 434,
    HELP_ERROR_ALREADY_OPEN = 435,
    HELP_ERROR_CLAIMED = 436,
    HELP_ERROR_CLOSED = 437,
    HELP_ERROR_UNAVAILABLE = 438,
};

static struct {
    int max_note;
} cfg;

/* Per handle; owned by the handle (set_handle_data), freed in destroy_session. */
typedef struct help_session {
    odeon_plugin_handle *handle;
    int64_t console_event; /* watching the event's requests as its console (0: no) */
    char *own_key;         /* "<event>/<subject>": gets its own requests' updates (or NULL) */
} help_session;

static GMutex help_lock;
static GHashTable *consoles;   /* "<event>" -> GPtrArray of help_session * (borrowed) */
static GHashTable *requesters; /* "<event>/<subject>" -> GPtrArray of help_session * */

/* ---- interest tables (under help_lock) ---- */

static void interest_add(GHashTable *table, const char *key, help_session *s)
{
    GPtrArray *list = g_hash_table_lookup(table, key);
    if (list == NULL) {
        list = g_ptr_array_new();
        g_hash_table_insert(table, g_strdup(key), list);
    }
    if (!g_ptr_array_find(list, s, NULL))
        g_ptr_array_add(list, s);
}

static void interest_remove(GHashTable *table, const char *key, help_session *s)
{
    GPtrArray *list = key ? g_hash_table_lookup(table, key) : NULL;
    if (list == NULL)
        return;
    g_ptr_array_remove(list, s);
    if (list->len == 0)
        g_hash_table_remove(table, key);
}

/* Referenced handles of everyone here interested in the list at key. */
static void interest_collect(GHashTable *table, const char *key, GPtrArray *out)
{
    GPtrArray *list = g_hash_table_lookup(table, key);
    for (guint i = 0; list != NULL && i < list->len; i++) {
        help_session *s = g_ptr_array_index(list, i);
        if (!g_ptr_array_find(out, s->handle, NULL))
            g_ptr_array_add(out, core->handle_ref(s->handle));
    }
}

static char *event_key(int64_t event_id)
{
    return g_strdup_printf("%" G_GINT64_FORMAT, event_id);
}

static char *own_key(int64_t event_id, const char *subject)
{
    return g_strdup_printf("%" G_GINT64_FORMAT "/%s", event_id, subject);
}

/* ---- requests in flight ---- */

typedef struct help_call {
    odeon_plugin_handle *handle; /* a reference */
    char *transaction;
    json_t *body;
    int64_t event_id;
    char *subject;
    char *request;
} help_call;

static help_call *call_new(odeon_plugin_handle *handle, const char *transaction, json_t *body,
                           int64_t event_id, const char *request)
{
    help_call *c = g_new0(help_call, 1);
    c->handle = core->handle_ref(handle);
    c->transaction = g_strdup(transaction);
    c->body = json_incref(body);
    c->event_id = event_id;
    const odeon_identity *id = core->identity(handle);
    c->subject = g_strdup(id ? id->subject : NULL);
    c->request = g_strdup(request);
    return c;
}

static void call_free(help_call *c)
{
    core->handle_unref(c->handle);
    g_free(c->transaction);
    json_decref(c->body);
    g_free(c->subject);
    g_free(c->request);
    g_free(c);
}

static void call_answer(help_call *c, json_t *event)
{
    core->push_event(c->handle, c->transaction, event, NULL);
    json_decref(event);
    call_free(c);
}

/* The database refused or failed: help:<reason> from help_change, else unavailable. */
static void call_db_failed(help_call *c, const char *error)
{
    static const struct {
        const char *tag;
        int code;
        const char *reason;
    } known[] = {
        {"help:not_found", HELP_ERROR_NOT_FOUND, "No such help request in this event"},
        {"help:not_yours", HELP_ERROR_UNAUTHORIZED, "Unauthorized (not your help request)"},
        {"help:claimed", HELP_ERROR_CLAIMED, "Someone else is already on it"},
        {"help:closed", HELP_ERROR_CLOSED, "This help request is closed"},
        {"help_requests_one_open", HELP_ERROR_ALREADY_OPEN,
         "You already have an open help request; cancel it first"},
    };
    for (size_t i = 0; error != NULL && i < G_N_ELEMENTS(known); i++)
        if (strstr(error, known[i].tag) != NULL) {
            call_answer(c, error_event(known[i].code, "%s", known[i].reason));
            return;
        }
    LOG(ODEON_LOG_WARN, "help database: %s", error ? error : "failed");
    call_answer(c, error_event(HELP_ERROR_UNAVAILABLE, "Help requests are unavailable; try again"));
}

/* ---- answers ---- */

/* Rows: one JSON value; answered as {"help": <c->request reply>, key: value}. */
static void answered_json(const odeon_db_rows *rows, const char *error, void *user_data,
                          const char *reply, const char *key)
{
    help_call *c = user_data;
    if (rows == NULL) {
        call_db_failed(c, error);
        return;
    }
    json_t *v = json_loads(core->db_rows_value(rows, 0, 0), JSON_DECODE_ANY, NULL);
    call_answer(c, json_pack("{s:s, s:I, s:o}", "help", reply, "event_id",
                             (json_int_t)c->event_id, key, v ? v : json_null()));
}

static void raised(const odeon_db_rows *rows, const char *error, void *user_data)
{
    help_call *c = user_data;
    if (rows != NULL && core->events_enabled()) {
        json_t *row = core->db_rows_count(rows) ? json_loads(core->db_rows_value(rows, 0, 0),
                                                             0, NULL) : NULL;
        json_t *group = json_object_get(row, "group_id");
        json_t *info = json_pack("{s:s, s:I, s:s, s:O}", "event", "help_requested", "event_id",
                                 (json_int_t)c->event_id, "subject", c->subject, "group_id",
                                 group ? group : json_null());
        json_decref(row);
        core->notify_event(&odeon_plugin_descriptor, c->handle, info);
        json_decref(info);
    }
    answered_json(rows, error, user_data, "raised", "request");
}

static void changed(const odeon_db_rows *rows, const char *error, void *user_data)
{
    help_call *c = user_data;
    static const char *const past[][2] = {{"cancel", "cancelled"}, {"claim", "claimed"},
                                          {"release", "released"}, {"resolve", "resolved"}};
    const char *reply = "updated";
    for (size_t i = 0; i < G_N_ELEMENTS(past); i++)
        if (strcmp(c->request, past[i][0]) == 0)
            reply = past[i][1];
    answered_json(rows, error, user_data, reply, "request");
}

static void listed(const odeon_db_rows *rows, const char *error, void *user_data)
{
    help_call *c = user_data;
    answered_json(rows, error, user_data, strcmp(c->request, "watch") == 0 ? "watching" : "list",
                  "requests");
}

/* ---- requests ---- */

static json_t *run_query(help_call *c, const char *sql, int n, const char *const *params,
                         odeon_plugin_db_done_fn done)
{
    if (core->db_query(sql, n, params, done, c) != 0)
        return error_event(HELP_ERROR_UNAVAILABLE, "Help requests are unavailable");
    return NULL;
}

/* The caller follows its own requests' updates in this event from now on. */
static void follow_own(help_call *c)
{
    char *key = own_key(c->event_id, c->subject);
    g_mutex_lock(&help_lock);
    help_session *s = core->get_handle_data(c->handle);
    if (s != NULL && g_strcmp0(s->own_key, key) != 0) {
        interest_remove(requesters, s->own_key, s);
        g_free(s->own_key);
        s->own_key = g_strdup(key);
        interest_add(requesters, key, s);
    }
    g_mutex_unlock(&help_lock);
    g_free(key);
}

static json_t *req_raise(help_call *c)
{
    json_t *note = json_object_get(c->body, "note");
    const char *text = note ? json_string_value(note) : "";
    if (text == NULL || strlen(text) != (note ? json_string_length(note) : 0) ||
        !g_utf8_validate(text, -1, NULL))
        return error_event(HELP_ERROR_INVALID, "Invalid element (note: a string)");
    if (g_utf8_strlen(text, -1) > cfg.max_note)
        return error_event(HELP_ERROR_INVALID, "Note too long (at most %d characters)",
                           cfg.max_note);
    follow_own(c);
    char ev[24];
    const char *params[] = {odeon_id_text(ev, c->event_id), c->subject, text};
    /* The group is the requester's in the event's running breakout (never the client's word),
     * so a console's "join" opens the right room and chat. */
    return run_query(c,
                     "INSERT INTO help_requests AS r (event_id, requester, note, group_id) "
                     "VALUES ($1::bigint, $2, $3, (SELECT m.group_id FROM breakout_members m "
                     "JOIN breakouts b ON b.id = m.breakout_id AND b.state = 'running' AND "
                     "b.event_id = $1::bigint WHERE $2 = 'participant:' || m.participant_id)) "
                     "RETURNING help_request_json(r)::text",
                     3, params, raised);
}

static json_t *req_change(help_call *c, const char *action)
{
    int64_t id = 0;
    if (!odeon_body_id(c->body, "id", &id))
        return error_event(json_object_get(c->body, "id") ? HELP_ERROR_INVALID : HELP_ERROR_MISSING,
                           "%s element (id)", json_object_get(c->body, "id") ? "Invalid" : "Missing");
    char ev[24], rid[24];
    const char *params[] = {odeon_id_text(ev, c->event_id), odeon_id_text(rid, id), action,
                            c->subject};
    return run_query(c, "SELECT help_change($1::bigint, $2::bigint, $3, $4)::text", 4, params,
                     changed);
}

/* All open and claimed requests of the event, and the last 50 closed ones. */
static json_t *req_list(help_call *c)
{
    char ev[24];
    const char *params[] = {odeon_id_text(ev, c->event_id)};
    return run_query(c,
                     "SELECT COALESCE(json_agg(help_request_json(x) ORDER BY x.id), '[]')::text "
                     "FROM (SELECT * FROM help_requests r WHERE r.event_id = $1::bigint AND "
                     "r.status IN ('open', 'claimed') UNION ALL (SELECT * FROM help_requests r "
                     "WHERE r.event_id = $1::bigint AND r.status IN ('resolved', 'cancelled') "
                     "ORDER BY r.id DESC LIMIT 50)) x",
                     1, params, listed);
}

static json_t *req_watch(help_call *c)
{
    char *key = event_key(c->event_id);
    g_mutex_lock(&help_lock);
    help_session *s = core->get_handle_data(c->handle);
    if (s->console_event != 0) {
        char *old = event_key(s->console_event);
        interest_remove(consoles, old, s);
        g_free(old);
    }
    s->console_event = c->event_id;
    interest_add(consoles, key, s);
    g_mutex_unlock(&help_lock);
    g_free(key);
    return req_list(c);
}

static json_t *req_unwatch(help_call *c)
{
    g_mutex_lock(&help_lock);
    help_session *s = core->get_handle_data(c->handle);
    bool was = s->console_event == c->event_id;
    if (was) {
        char *key = event_key(c->event_id);
        interest_remove(consoles, key, s);
        g_free(key);
        s->console_event = 0;
    }
    g_mutex_unlock(&help_lock);
    if (!was)
        return error_event(HELP_ERROR_INVALID, "Not watching this event");
    return json_pack("{s:s, s:I}", "help", "unwatched", "event_id", (json_int_t)c->event_id);
}

/* The caller's own requests in the event (newest first, at most 20). */
static json_t *req_mine(help_call *c)
{
    follow_own(c);
    char ev[24];
    const char *params[] = {odeon_id_text(ev, c->event_id), c->subject};
    return run_query(c,
                     "SELECT COALESCE(json_agg(help_request_json(x) ORDER BY x.id DESC), "
                     "'[]')::text FROM (SELECT * FROM help_requests r WHERE r.event_id = "
                     "$1::bigint AND r.requester = $2 ORDER BY r.id DESC LIMIT 20) x",
                     2, params, listed);
}

static json_t *dispatch(help_call *c)
{
    int rank = odeon_event_rank(core, c->handle, c->event_id);
    if (c->subject == NULL || rank == 0)
        return error_event(HELP_ERROR_UNAUTHORIZED, "Unauthorized (no role in this event)");
    const char *r = c->request;
    if (strcmp(r, "raise") == 0)
        return req_raise(c);
    if (strcmp(r, "cancel") == 0)
        return req_change(c, "cancel");
    if (strcmp(r, "mine") == 0)
        return req_mine(c);
    bool staff = strcmp(r, "watch") == 0 || strcmp(r, "unwatch") == 0 ||
                 strcmp(r, "list") == 0 || strcmp(r, "claim") == 0 ||
                 strcmp(r, "release") == 0 || strcmp(r, "resolve") == 0;
    if (!staff)
        return error_event(HELP_ERROR_INVALID_REQUEST, "Unknown request");
    if (rank < odeon_role_rank("host"))
        return error_event(HELP_ERROR_UNAUTHORIZED, "Unauthorized (hosts and organisers only)");
    if (strcmp(r, "watch") == 0)
        return req_watch(c);
    if (strcmp(r, "unwatch") == 0)
        return req_unwatch(c);
    if (strcmp(r, "list") == 0)
        return req_list(c);
    return req_change(c, r);
}

/* ---- updates from any node ---- */

typedef struct update_job {
    int64_t event_id;
    char *requester;
} update_job;

/* Rows: the request's JSON; pushed to the event's consoles and the requester's handles. */
static void update_read(const odeon_db_rows *rows, const char *error, void *user_data)
{
    update_job *job = user_data;
    json_t *request = rows ? json_loads(core->db_rows_value(rows, 0, 0), 0, NULL) : NULL;
    if (rows == NULL)
        LOG(ODEON_LOG_WARN, "help update: %s", error ? error : "failed");
    GPtrArray *to = g_ptr_array_new();
    if (request != NULL) {
        char *ek = event_key(job->event_id), *ok = own_key(job->event_id, job->requester);
        g_mutex_lock(&help_lock);
        if (consoles != NULL) {
            interest_collect(consoles, ek, to);
            interest_collect(requesters, ok, to);
        }
        g_mutex_unlock(&help_lock);
        g_free(ek);
        g_free(ok);
    }
    json_t *ev = json_pack("{s:s, s:I, s:o}", "help", "updated", "event_id",
                           (json_int_t)job->event_id, "request",
                           request ? request : json_null());
    for (guint i = 0; i < to->len; i++) {
        core->push_event(g_ptr_array_index(to, i), NULL, ev, NULL);
        core->handle_unref(g_ptr_array_index(to, i));
    }
    json_decref(ev);
    g_ptr_array_unref(to);
    g_free(job->requester);
    g_free(job);
}

/* Updates may have been missed: every console here is told to list again. */
static void help_resync(void)
{
    GPtrArray *to = g_ptr_array_new();
    g_mutex_lock(&help_lock);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, consoles);
    while (g_hash_table_iter_next(&it, &key, NULL))
        interest_collect(consoles, key, to);
    g_mutex_unlock(&help_lock);
    json_t *ev = json_pack("{s:s}", "help", "resync");
    for (guint i = 0; i < to->len; i++) {
        core->push_event(g_ptr_array_index(to, i), NULL, ev, NULL);
        core->handle_unref(g_ptr_array_index(to, i));
    }
    json_decref(ev);
    g_ptr_array_unref(to);
}

static void help_notified(const char *channel, const char *payload, void *user_data)
{
    (void)channel;
    (void)user_data;
    if (payload == NULL) {
        help_resync();
        return;
    }
    json_t *j = json_loads(payload, 0, NULL);
    int64_t event_id = json_integer_value(json_object_get(j, "e"));
    int64_t id = json_integer_value(json_object_get(j, "id"));
    const char *requester = json_string_value(json_object_get(j, "r"));
    bool wanted = false;
    if (requester != NULL && id > 0) {
        char *ek = event_key(event_id), *ok = own_key(event_id, requester);
        g_mutex_lock(&help_lock);
        wanted = consoles != NULL &&
                 (g_hash_table_contains(consoles, ek) || g_hash_table_contains(requesters, ok));
        g_mutex_unlock(&help_lock);
        g_free(ek);
        g_free(ok);
    }
    if (wanted) {
        update_job *job = g_new0(update_job, 1);
        job->event_id = event_id;
        job->requester = g_strdup(requester);
        char rid[24];
        const char *params[] = {odeon_id_text(rid, id)};
        if (core->db_query("SELECT help_request_json(r)::text FROM help_requests r WHERE "
                           "r.id = $1::bigint",
                           1, params, update_read, job) != 0) {
            g_free(job->requester);
            g_free(job);
        }
    }
    json_decref(j);
}

/* ---- plugin callbacks ---- */

static odeon_plugin_result help_handle_message(odeon_plugin_handle *handle,
                                               const char *transaction, json_t *body,
                                               json_t *jsep)
{
    (void)jsep;
    const char *request = json_string_value(json_object_get(body, "request"));
    int64_t event_id = 0;
    json_t *error = NULL;
    if (request == NULL)
        error = error_event(HELP_ERROR_MISSING, "Missing element (request)");
    else if (!odeon_body_id(body, "event_id", &event_id))
        error = error_event(json_object_get(body, "event_id") ? HELP_ERROR_INVALID
                                                              : HELP_ERROR_MISSING,
                            "%s element (event_id)",
                            json_object_get(body, "event_id") ? "Invalid" : "Missing");
    if (error != NULL)
        return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = error};
    help_call *c = call_new(handle, transaction, body, event_id, request);
    json_t *answer = dispatch(c);
    if (answer == NULL)
        return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT}; /* c answers later */
    call_free(c);
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = answer};
}

static int help_create_session(odeon_plugin_handle *handle)
{
    help_session *s = g_new0(help_session, 1);
    s->handle = handle;
    core->set_handle_data(handle, s);
    return 0;
}

static void help_destroy_session(odeon_plugin_handle *handle)
{
    g_mutex_lock(&help_lock);
    help_session *s = core->get_handle_data(handle);
    core->set_handle_data(handle, NULL);
    if (s != NULL) {
        if (s->console_event != 0) {
            char *key = event_key(s->console_event);
            interest_remove(consoles, key, s);
            g_free(key);
        }
        interest_remove(requesters, s->own_key, s);
        g_free(s->own_key);
        g_free(s);
    }
    g_mutex_unlock(&help_lock);
}

static json_t *help_query_session(odeon_plugin_handle *handle)
{
    g_mutex_lock(&help_lock);
    help_session *s = core->get_handle_data(handle);
    json_t *info = json_pack("{s:I, s:s?}", "console_event", (json_int_t)s->console_event,
                             "own", s->own_key);
    g_mutex_unlock(&help_lock);
    return info;
}

static int help_init(const odeon_core_callbacks *callbacks, const char *config_path)
{
    core = callbacks;
    if (core->struct_size < offsetof(odeon_core_callbacks, event_role) + sizeof(void *)) {
        core->log(ODEON_LOG_ERROR, "help", "this core is too old (needs plugin ABI 1.6)");
        return -1;
    }
    GKeyFile *kf = g_key_file_new();
    g_key_file_load_from_file(kf, config_path, G_KEY_FILE_NONE, NULL);
    bool ok = true;
    cfg.max_note = odeon_conf_int(core, "help", kf, "general", "max_note", 280, 1, 500, &ok);
    g_key_file_free(kf);
    if (!ok)
        return -1;
    g_mutex_init(&help_lock);
    consoles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify)g_ptr_array_unref);
    requesters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify)g_ptr_array_unref);
    if (core->db_listen("help", help_notified, NULL) != 0) {
        LOG(ODEON_LOG_ERROR, "the help plugin needs [database] in odeon.conf");
        g_clear_pointer(&consoles, g_hash_table_unref);
        g_clear_pointer(&requesters, g_hash_table_unref);
        return -1;
    }
    LOG(ODEON_LOG_INFO, "help ready");
    return 0;
}

static void help_destroy(void)
{
    g_mutex_lock(&help_lock);
    g_clear_pointer(&consoles, g_hash_table_unref);
    g_clear_pointer(&requesters, g_hash_table_unref);
    g_mutex_unlock(&help_lock);
}

const odeon_plugin odeon_plugin_descriptor = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = "odeon.plugin.help",
    .name = "Help requests",
    .description = "Participants' help requests to an event's organisers, across nodes",
    .author = "The Odeon developers",
    .version_string = "0.1.0",
    .version = 1,
    .init = help_init,
    .destroy = help_destroy,
    .create_session = help_create_session,
    .handle_message = help_handle_message,
    .destroy_session = help_destroy_session,
    .query_session = help_query_session,
};
