/*
 * tickets_breakout.c - breakouts: the organiser splits an event's participants into groups
 * (preview, move a person, start, extend, end), every member gets their group link by email
 * (a magic link that opens the group's room), and groups hand in a submission before the
 * deadline. The split itself is tickets_split.c; the rooms are odeon.plugin.room's (room id =
 * group id), which follows each breakout's timing from NOTIFY breakout; the chat rooms are
 * the chat plugin's "group:<id>". Schema: sql/008_breakouts.sql.
 */
#include "tickets.h"
#include "tickets_split.h"
#include "tickets_valid.h"
#include "../common/plugin_common.h"

#include <string.h>

#define BREAKOUT_SELECT                                                                            \
    "SELECT breakout_json(b.id)::text FROM breakouts b JOIN tickets_events e ON e.id = "          \
    "b.event_id AND e.organisation_id = $2::bigint WHERE b.event_id = $1::bigint ORDER BY "        \
    "(b.state <> 'ended') DESC, b.id DESC LIMIT 1"

/* The event and the caller's organisation as statement parameters, once the caller is a
 * member with at least `role`. */
static bool breakout_target(tickets_call *call, tickets_role role, char ev[24], char org[24])
{
    int64_t id = 0;
    if (!tickets_require_member(call, role) || !tickets_call_id(call, "event_id", &id))
        return false;
    g_snprintf(org, 24, "%" G_GINT64_FORMAT, call->who.organisation_id);
    g_snprintf(ev, 24, "%" G_GINT64_FORMAT, id);
    return true;
}

/* Replies {"breakout": <the event's breakout or null>}, from a statement of BREAKOUT_SELECT. */
static void breakout_read(tickets_call *call, const odeon_db_rows *rows)
{
    json_t *b = tickets_core->db_rows_count(rows) ? tickets_rows_json(rows, 0, 0) : NULL;
    json_t *reply = json_pack("{s:o}", "breakout", b ? b : json_null());
    if (call->data != NULL) {
        json_object_update(reply, call->data);
    }
    tickets_call_reply(call, reply);
}

static void breakout_reply(tickets_call *call, const char *ev, const char *org)
{
    const char *params[] = {ev, org};
    tickets_call_query(call, BREAKOUT_SELECT, 2, params, breakout_read);
}

static void request_breakout_get(tickets_call *call)
{
    char ev[24], org[24];
    if (breakout_target(call, TICKETS_ROLE_HOST, ev, org))
        breakout_reply(call, ev, org);
}

/* ---- preview: the split ---- */

typedef struct split_state {
    char ev[24], org[24];
    size_t size, count;
} split_state;

static void draft_saved(tickets_call *call, const odeon_db_rows *rows)
{
    (void)rows;
    split_state *st = call->data;
    char ev[24], org[24];
    memcpy(ev, st->ev, sizeof ev);
    memcpy(org, st->org, sizeof org);
    g_free(call->data);
    call->data = NULL;
    call->free_data = NULL;
    breakout_reply(call, ev, org);
}

/* Teams as small integers for the split (same label, same number). */
static GArray *people_of(const odeon_db_rows *rows, int n)
{
    GArray *people = g_array_sized_new(FALSE, FALSE, sizeof(tickets_split_person), (guint)n);
    GHashTable *teams = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (int i = 0; i < n; i++) {
        const char *id = tickets_core->db_rows_value(rows, i, 0);
        const char *team = tickets_core->db_rows_value(rows, i, 1);
        tickets_split_person p = {.id = g_ascii_strtoll(id ? id : "0", NULL, 10), .team = -1};
        if (team != NULL) {
            gpointer known = g_hash_table_lookup(teams, team);
            if (known == NULL) {
                known = GINT_TO_POINTER(g_hash_table_size(teams) + 1);
                g_hash_table_insert(teams, g_strdup(team), known);
            }
            p.team = GPOINTER_TO_INT(known) - 1;
        }
        g_array_append_val(people, p);
    }
    g_hash_table_unref(teams);
    return people;
}

static void participants_read(tickets_call *call, const odeon_db_rows *rows)
{
    split_state *st = call->data;
    int n = tickets_core->db_rows_count(rows);
    if (n == 0) {
        tickets_call_fail(call, TICKETS_ERROR_STATE,
                          "Nobody to split: no participant is checked in");
        return;
    }
    GArray *people = people_of(rows, n);
    size_t groups = tickets_split_group_count((size_t)n, st->size, st->count);
    size_t *group_of = g_new0(size_t, (size_t)n);
    tickets_split_assign((const tickets_split_person *)people->data, (size_t)n, groups, group_of);
    json_t *list = json_array();
    for (size_t g = 0; g < groups; g++) {
        char name[32];
        g_snprintf(name, sizeof name, "Group %zu", g + 1);
        json_array_append_new(list, json_pack("{s:s, s:[]}", "name", name, "members"));
    }
    for (int i = 0; i < n; i++)
        json_array_append_new(json_object_get(json_array_get(list, group_of[i]), "members"),
                              json_integer(g_array_index(people, tickets_split_person, i).id));
    char *text = json_dumps(list, JSON_COMPACT);
    const char *params[] = {st->ev, text};
    tickets_call_query(call, "SELECT breakout_save_draft($1::bigint, $2::jsonb)", 2, params,
                       draft_saved);
    free(text);
    json_decref(list);
    g_free(group_of);
    g_array_unref(people);
}

static bool split_options(tickets_call *call, split_state *st, const char **include)
{
    json_t *size = json_object_get(call->body, "group_size");
    json_t *count = json_object_get(call->body, "group_count");
    *include = json_string_value(json_object_get(call->body, "include"));
    if ((size == NULL) == (count == NULL)) {
        tickets_call_fail(call, TICKETS_ERROR_MISSING,
                          "Missing element (group_size or group_count, one of them)");
        return false;
    }
    json_t *v = size ? size : count;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (%s: 1 to 1000)",
                          size ? "group_size" : "group_count");
        return false;
    }
    if (*include == NULL)
        *include = "checked_in";
    if (strcmp(*include, "checked_in") != 0 && strcmp(*include, "present") != 0 &&
        strcmp(*include, "registered") != 0) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID,
                          "Invalid element (include: checked_in, present or registered)");
        return false;
    }
    st->size = size ? (size_t)json_integer_value(size) : 0;
    st->count = count ? (size_t)json_integer_value(count) : 0;
    return true;
}

static void request_breakout_preview(tickets_call *call)
{
    split_state *st = g_new0(split_state, 1);
    const char *include;
    if (!breakout_target(call, TICKETS_ROLE_ORGANISER, st->ev, st->org) ||
        !split_options(call, st, &include)) {
        g_free(st);
        return;
    }
    call->data = st;
    call->free_data = g_free;
    /* Confirmed participants of the caller's event; checked in: connected to the live event
     * at some point; present: connected now. Organisation members who also registered (hosts
     * trying the participant view) are left out. */
    const char *params[] = {st->ev, st->org, include};
    tickets_call_query(
        call,
        "SELECT p.id, p.team FROM tickets_participants p JOIN tickets_events e ON e.id = "
        "p.event_id AND e.organisation_id = $2::bigint WHERE p.event_id = $1::bigint AND "
        "EXISTS (SELECT 1 FROM tickets_orders o WHERE o.participant_id = p.id AND o.status = "
        "'confirmed') AND NOT EXISTS (SELECT 1 FROM tickets_members m JOIN tickets_users u ON "
        "u.id = m.user_id WHERE m.organisation_id = e.organisation_id AND lower(u.email) = "
        "lower(p.email)) AND ($3 = 'registered' OR EXISTS (SELECT 1 FROM analytics_attendees a "
        "WHERE a.event_id = p.event_id AND a.subject = 'participant:' || p.id AND ($3 = "
        "'checked_in' OR (a.live_handles > 0 AND a.last_seen > now() - interval '150 seconds'))"
        ")) ORDER BY p.id",
        3, params, participants_read);
}

/* ---- move, teams ---- */

static void moved(tickets_call *call, const odeon_db_rows *rows)
{
    if (tickets_core->db_rows_count(rows) == 0) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such event of yours");
        return;
    }
    char ev[24], org[24];
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    int64_t id = 0;
    odeon_body_id(call->body, "event_id", &id);
    TICKETS_ID_TEXT(ev, id);
    breakout_reply(call, ev, org);
}

static void request_breakout_move(tickets_call *call)
{
    char ev[24], org[24], who[24], group[24];
    int64_t participant = 0, target = 0;
    if (!breakout_target(call, TICKETS_ROLE_ORGANISER, ev, org) ||
        !tickets_call_id(call, "participant_id", &participant) ||
        !tickets_call_id(call, "group_id", &target))
        return;
    TICKETS_ID_TEXT(who, participant);
    TICKETS_ID_TEXT(group, target);
    const char *params[] = {ev, who, group, org};
    tickets_call_query(call,
                       "SELECT breakout_move(e.id, $2::bigint, $3::bigint) FROM tickets_events e "
                       "WHERE e.id = $1::bigint AND e.organisation_id = $4::bigint",
                       4, params, moved);
}

static void team_set(tickets_call *call, const odeon_db_rows *rows)
{
    if (tickets_core->db_rows_count(rows) == 0) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such participant in your event");
        return;
    }
    tickets_call_reply(call, json_pack("{s:I, s:o}", "participant_id",
                                       (json_int_t)tickets_row_int(rows, 0), "team",
                                       tickets_row_text(rows, 1)
                                           ? json_string(tickets_row_text(rows, 1))
                                           : json_null()));
}

/* A team formed beforehand: the split keeps its members together (null: no team). */
static void request_set_team(tickets_call *call)
{
    char ev[24], org[24], who[24];
    int64_t participant = 0;
    json_t *team = json_object_get(call->body, "team");
    if (!breakout_target(call, TICKETS_ROLE_ORGANISER, ev, org) ||
        !tickets_call_id(call, "participant_id", &participant))
        return;
    if (team == NULL || (!json_is_null(team) && tickets_valid_text(team, 1, 100, false) != NULL)) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (team: 1 to 100 "
                                                       "characters, or null)");
        return;
    }
    TICKETS_ID_TEXT(who, participant);
    const char *params[] = {who, ev, org, json_string_value(team)};
    tickets_call_query(call,
                       "UPDATE tickets_participants p SET team = $4 FROM tickets_events e WHERE "
                       "p.id = $1::bigint AND p.event_id = $2::bigint AND e.id = p.event_id AND "
                       "e.organisation_id = $3::bigint RETURNING p.id, p.team",
                       4, params, team_set);
}

/* ---- start: the links ---- */

typedef struct start_state {
    char ev[24], org[24];
    int pending;
    int sent, failed;
} start_state;

static void start_finish(tickets_call *call)
{
    start_state *st = call->data;
    char ev[24], org[24];
    memcpy(ev, st->ev, sizeof ev);
    memcpy(org, st->org, sizeof org);
    json_t *counts = json_pack("{s:i, s:i}", "emails_sent", st->sent, "emails_failed", st->failed);
    g_free(st);
    call->data = counts;
    call->free_data = (void (*)(void *))json_decref;
    breakout_reply(call, ev, org);
}

static void link_sent(bool ok, void *user_data)
{
    tickets_call *call = user_data;
    start_state *st = call->data;
    if (ok)
        st->sent++;
    else
        st->failed++;
    if (--st->pending == 0)
        start_finish(call);
}

static void members_read(tickets_call *call, const odeon_db_rows *rows)
{
    start_state *st = call->data;
    int n = tickets_core->db_rows_count(rows);
    if (n == 0) {
        start_finish(call);
        return;
    }
    /* One more than the sends: no send can finish the call while the loop runs (a failed
     * statement answers at once). The loop's own is not counted as an email. */
    st->pending = n + 1;
    st->sent = -1;
    for (int i = 0; i < n; i++) {
        const char *title = tickets_core->db_rows_value(rows, i, 2);
        const char *group = tickets_core->db_rows_value(rows, i, 3);
        const char *name = tickets_core->db_rows_value(rows, i, 4);
        char *subject = g_strdup_printf("Your group link: %s (%s)", name, title);
        char *intro = g_strdup_printf("the breakout has started: you are in %s. Its room and "
                                      "chat open with this link.", name);
        char *next = g_strdup_printf("/room.html?event=%s&group=%s", st->ev, group);
        const char *pid = tickets_core->db_rows_value(rows, i, 0);
        tickets_link_mail m = {.participant_id = g_ascii_strtoll(pid ? pid : "0", NULL, 10),
                               .email = tickets_core->db_rows_value(rows, i, 1),
                               .title = title, .subject = subject, .intro = intro, .next = next};
        tickets_send_link(&m, link_sent, call);
        g_free(subject);
        g_free(intro);
        g_free(next);
    }
    link_sent(true, call); /* may finish the call: st is not touched after it */
}

static void started(tickets_call *call, const odeon_db_rows *rows)
{
    start_state *st = call->data;
    if (tickets_core->db_rows_count(rows) == 0) {
        tickets_call_fail(call, TICKETS_ERROR_STATE, "No draft to start: preview a split first");
        return;
    }
    const char *params[] = {tickets_row_text(rows, 0)};
    TICKETS_LOG(ODEON_LOG_INFO, "breakout %s of event %s started", params[0], st->ev);
    tickets_call_query(call,
                       "SELECT p.id, p.email, e.title, g.id, g.name FROM breakout_members m JOIN "
                       "tickets_participants p ON p.id = m.participant_id JOIN breakout_groups g "
                       "ON g.id = m.group_id JOIN tickets_events e ON e.id = g.event_id WHERE "
                       "m.breakout_id = $1::bigint ORDER BY g.number, p.id",
                       1, params, members_read);
}

static bool minutes_of(tickets_call *call, const char *key, int dflt, int *out)
{
    json_t *v = json_object_get(call->body, key);
    *out = dflt;
    if (v == NULL)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1440) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (%s: 1 to 1440)", key);
        return false;
    }
    *out = (int)json_integer_value(v);
    return true;
}

static void request_breakout_start(tickets_call *call)
{
    start_state *st = g_new0(start_state, 1);
    int minutes, deadline;
    if (!breakout_target(call, TICKETS_ROLE_ORGANISER, st->ev, st->org) ||
        !minutes_of(call, "minutes", 30, &minutes) ||
        !minutes_of(call, "submission_minutes", minutes, &deadline)) {
        g_free(st);
        return;
    }
    call->data = st;
    call->free_data = g_free;
    char m[16], d[16];
    g_snprintf(m, sizeof m, "%d", minutes);
    g_snprintf(d, sizeof d, "%d", deadline);
    const char *params[] = {st->ev, st->org, m, d};
    tickets_call_query(call,
                       "UPDATE breakouts b SET state = 'running', started_at = now(), ends_at = "
                       "now() + make_interval(mins => $3::int), submissions_until = now() + "
                       "make_interval(mins => $4::int) FROM tickets_events e WHERE b.event_id = "
                       "$1::bigint AND b.state = 'draft' AND e.id = b.event_id AND "
                       "e.organisation_id = $2::bigint RETURNING b.id",
                       4, params, started);
}

/* ---- extend, end ---- */

static void changed(tickets_call *call, const odeon_db_rows *rows)
{
    if (tickets_core->db_rows_count(rows) == 0) {
        tickets_call_fail(call, TICKETS_ERROR_STATE, "No breakout is running");
        return;
    }
    char ev[24], org[24];
    TICKETS_ID_TEXT(ev, tickets_row_int(rows, 0));
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    breakout_reply(call, ev, org);
}

static void request_breakout_extend(tickets_call *call)
{
    char ev[24], org[24], m[16];
    int minutes;
    if (!breakout_target(call, TICKETS_ROLE_ORGANISER, ev, org) ||
        !minutes_of(call, "minutes", 5, &minutes))
        return;
    g_snprintf(m, sizeof m, "%d", minutes);
    const char *params[] = {ev, org, m};
    tickets_call_query(call,
                       "UPDATE breakouts b SET ends_at = b.ends_at + make_interval(mins => "
                       "$3::int), submissions_until = b.submissions_until + make_interval(mins "
                       "=> $3::int) FROM tickets_events e WHERE b.event_id = $1::bigint AND "
                       "b.state = 'running' AND e.id = b.event_id AND e.organisation_id = "
                       "$2::bigint RETURNING b.event_id",
                       3, params, changed);
}

static void request_breakout_end(tickets_call *call)
{
    char ev[24], org[24];
    if (!breakout_target(call, TICKETS_ROLE_ORGANISER, ev, org))
        return;
    const char *params[] = {ev, org};
    tickets_call_query(call,
                       "UPDATE breakouts b SET state = 'ended', ended_at = now(), ends_at = "
                       "LEAST(b.ends_at, now()) FROM tickets_events e WHERE b.event_id = "
                       "$1::bigint AND b.state = 'running' AND e.id = b.event_id AND "
                       "e.organisation_id = $2::bigint RETURNING b.event_id",
                       2, params, changed);
}

/* ---- participants: their group, submissions ---- */

static void mine_read(tickets_call *call, const odeon_db_rows *rows)
{
    json_t *group = tickets_core->db_rows_count(rows) ? tickets_rows_json(rows, 0, 0) : NULL;
    tickets_call_reply(call, json_pack("{s:o}", "group", group ? group : json_null()));
}

/* The caller's group in the event's running breakout: its room, chat room, members' names,
 * times and submission. */
static void request_breakout_mine(tickets_call *call)
{
    if (!tickets_require_participant(call))
        return;
    char who[24], ev[24];
    TICKETS_ID_TEXT(who, call->who.id);
    TICKETS_ID_TEXT(ev, call->who.event_id);
    const char *params[] = {who, ev};
    tickets_call_query(
        call,
        "SELECT json_build_object('id', g.id, 'name', g.name, 'room', g.id, 'chat_room', "
        "'group:' || g.id, 'event_id', b.event_id, 'ends_at', b.ends_at, 'submissions_until', "
        "b.submissions_until, 'members', (SELECT json_agg(json_build_object('participant_id', "
        "p.id, 'name', p.display_name) ORDER BY p.id) FROM breakout_members x JOIN "
        "tickets_participants p ON p.id = x.participant_id WHERE x.group_id = g.id), "
        "'submission', breakout_submission_json(g.id))::text FROM breakout_members m JOIN "
        "breakouts b ON b.id = m.breakout_id AND b.state = 'running' JOIN breakout_groups g ON "
        "g.id = m.group_id WHERE m.participant_id = $1::bigint AND b.event_id = $2::bigint",
        2, params, mine_read);
}

static void submitted(tickets_call *call, const odeon_db_rows *rows)
{
    json_t *s = tickets_rows_json(rows, 0, 0);
    if (s == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE, "The submission was not stored");
        return;
    }
    if (tickets_core->events_enabled()) {
        /* For analytics: who (by id) and which group, never the text. */
        char subject[48];
        g_snprintf(subject, sizeof subject, "participant:%" G_GINT64_FORMAT, call->who.id);
        json_t *info = json_pack("{s:s, s:I, s:s, s:O}", "event", "submitted", "event_id",
                                 (json_int_t)call->who.event_id, "subject", subject, "group_id",
                                 json_object_get(s, "group_id"));
        tickets_core->notify_event(&odeon_plugin_descriptor, NULL, info);
        json_decref(info);
    }
    tickets_call_reply(call, json_pack("{s:o}", "submission", s));
}

static void request_submit(tickets_call *call)
{
    if (!tickets_require_participant(call))
        return;
    json_t *title = json_object_get(call->body, "title");
    json_t *link = json_object_get(call->body, "link");
    json_t *text = json_object_get(call->body, "text");
    const char *bad = tickets_valid_text(title, 1, 200, false) ? "title (1 to 200 characters)"
                      : link && !json_is_null(link) &&
                              (tickets_valid_text(link, 1, 2000, false) ||
                               (!g_str_has_prefix(json_string_value(link), "https://") &&
                                !g_str_has_prefix(json_string_value(link), "http://")))
                          ? "link (an http or https address)"
                      : text && !json_is_null(text) && tickets_valid_text(text, 0, 10000, true)
                          ? "text (at most 10000 characters)"
                          : NULL;
    if (bad != NULL) {
        tickets_call_fail(call, title ? TICKETS_ERROR_INVALID : TICKETS_ERROR_MISSING,
                          "Invalid element (%s)", bad);
        return;
    }
    char who[24], ev[24];
    TICKETS_ID_TEXT(who, call->who.id);
    TICKETS_ID_TEXT(ev, call->who.event_id);
    const char *params[] = {ev, who, json_string_value(title), json_string_value(link),
                            json_string_value(text)};
    tickets_call_query(call, "SELECT breakout_submit($1::bigint, $2::bigint, $3, $4, $5)::text", 5,
                       params, submitted);
}

static void submissions_read(tickets_call *call, const odeon_db_rows *rows)
{
    json_t *list = tickets_rows_json(rows, 0, 0);
    tickets_call_reply(call, json_pack("{s:o}", "submissions", list ? list : json_array()));
}

static void request_submissions(tickets_call *call)
{
    char ev[24], org[24];
    if (!breakout_target(call, TICKETS_ROLE_HOST, ev, org))
        return;
    const char *params[] = {ev, org};
    tickets_call_query(call,
                       "SELECT COALESCE(json_agg(breakout_submission_json(s.group_id) ORDER BY "
                       "s.submitted_at), '[]')::text FROM breakout_submissions s JOIN "
                       "tickets_events e ON e.id = s.event_id AND e.organisation_id = $2::bigint "
                       "WHERE s.event_id = $1::bigint",
                       2, params, submissions_read);
}

/* The requests, and the role an organisation member needs for each (NONE: a participant's). */
static const struct breakout_request {
    const char *name;
    tickets_request_fn fn;
    tickets_role role;
} breakout_requests[] = {
    {"breakout_get", request_breakout_get, TICKETS_ROLE_HOST},
    {"breakout_preview", request_breakout_preview, TICKETS_ROLE_ORGANISER},
    {"breakout_move", request_breakout_move, TICKETS_ROLE_ORGANISER},
    {"breakout_start", request_breakout_start, TICKETS_ROLE_ORGANISER},
    {"breakout_extend", request_breakout_extend, TICKETS_ROLE_ORGANISER},
    {"breakout_end", request_breakout_end, TICKETS_ROLE_ORGANISER},
    {"set_team", request_set_team, TICKETS_ROLE_ORGANISER},
    {"submissions", request_submissions, TICKETS_ROLE_HOST},
    {"breakout_mine", request_breakout_mine, TICKETS_ROLE_NONE},
    {"submit", request_submit, TICKETS_ROLE_NONE},
};

static const struct breakout_request *breakout_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < G_N_ELEMENTS(breakout_requests); i++)
        if (strcmp(breakout_requests[i].name, name) == 0)
            return &breakout_requests[i];
    return NULL;
}

static void event_owned(tickets_call *call, const odeon_db_rows *rows)
{
    if (tickets_core->db_rows_count(rows) == 0) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such event of your organisation");
        return;
    }
    breakout_find(call->request)->fn(call);
}

/* An organiser's request goes on only for an event of the caller's organisation: 484 for
 * another's, before anything is read or changed. */
static void request_for_own_event(tickets_call *call)
{
    const struct breakout_request *r = breakout_find(call->request);
    char ev[24], org[24];
    if (!breakout_target(call, r->role, ev, org))
        return;
    const char *params[] = {ev, org};
    tickets_call_query(call,
                       "SELECT 1 FROM tickets_events WHERE id = $1::bigint AND organisation_id = "
                       "$2::bigint",
                       2, params, event_owned);
}

tickets_request_fn tickets_breakout_request(const char *name)
{
    const struct breakout_request *r = breakout_find(name);
    if (r == NULL)
        return NULL;
    return r->role == TICKETS_ROLE_NONE ? r->fn : request_for_own_event;
}
