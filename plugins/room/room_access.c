/*
 * room_access.c - who may do what in the rooms. A room bound to an event admits the event's
 * owners, organisers and hosts (always, and visibly: they are members like anyone else), and
 * its participants: any of them in the event's own rooms, only the group's members in a
 * breakout group's room (breakout_members in PostgreSQL). A room not bound to an event
 * (room.conf, the admin API) admits any identified session. Rooms are created by the event's
 * organisers and hosts, by the admin API, or with [general] admin_key.
 */
#include "room.h"

#include <stdlib.h>
#include <string.h>

#include "../common/plugin_common.h"

/* Compares without an early exit, so the time taken says nothing about the key. */
static bool key_matches(const char *given, const char *expected)
{
    size_t n = strlen(expected);
    if (given == NULL || strlen(given) != n)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)given[i] ^ (unsigned char)expected[i];
    return diff == 0;
}

bool room_may_administer(odeon_plugin_handle *handle, int64_t event_id, json_t *body)
{
    if (handle == NULL)
        return true; /* the admin API */
    const char *key = json_string_value(json_object_get(body, "admin_key"));
    if (room_conf.admin_key != NULL && key_matches(key, room_conf.admin_key))
        return true;
    return event_id != 0 &&
           odeon_event_rank(room_core, handle, event_id) >= odeon_role_rank("host");
}

static void membership_done(const odeon_db_rows *rows, const char *error, void *user_data)
{
    room_call *c = user_data;
    if (error != NULL)
        ROOM_LOG(ODEON_LOG_WARN, "cannot check a group's members: %s", error);
    c->verdict = rows != NULL && room_core->db_rows_count(rows) > 0 ? 1 : 2;
    room_call_resume(c);
}

static int ask_membership(room_call *c, room *r, int64_t participant, const char **reason)
{
    char group[24], who[24];
    const char *params[] = {odeon_id_text(group, r->group_id), odeon_id_text(who, participant)};
    int rc = room_core->db_query("SELECT 1 FROM breakout_members WHERE group_id = $1 AND "
                                 "participant_id = $2",
                                 2, params, membership_done, c);
    if (rc != 0) {
        *reason = "Group membership cannot be checked (no database)";
        return ROOM_ERROR_UNAUTHORIZED;
    }
    return 1;
}

int room_may_join(room_call *c, room *r, const char **reason)
{
    const odeon_identity *who = room_core->identity(c->handle);
    if (who == NULL || who->subject == NULL) {
        *reason = "Unauthorized (join needs a signed-in session)";
        return ROOM_ERROR_UNAUTHORIZED;
    }
    g_free(c->member->subject);
    c->member->subject = g_strdup(who->subject);
    if (r->event_id == 0)
        return 0;
    int rank = odeon_event_rank(room_core, c->handle, r->event_id);
    c->member->rank = rank;
    if (rank >= odeon_role_rank("host") || (rank > 0 && r->group_id == 0))
        return 0;
    if (rank == 0) {
        *reason = "Unauthorized (not a participant of this room's event)";
        return ROOM_ERROR_UNAUTHORIZED;
    }
    g_mutex_lock(&r->lock);
    room_breakout_state state = r->breakout;
    g_mutex_unlock(&r->lock);
    if (state != ROOM_BREAKOUT_RUNNING) {
        *reason = state == ROOM_BREAKOUT_ENDED ? "Unauthorized (the breakout has ended)"
                                               : "Unauthorized (the breakout has not started)";
        return ROOM_ERROR_UNAUTHORIZED;
    }
    if (c->verdict == 1)
        return 0;
    if (c->verdict == 2) {
        *reason = "Unauthorized (not a member of this group)";
        return ROOM_ERROR_UNAUTHORIZED;
    }
    int64_t participant = odeon_participant_id(who->subject);
    if (participant == 0) {
        *reason = "Unauthorized (not a member of this group)";
        return ROOM_ERROR_UNAUTHORIZED;
    }
    return ask_membership(c, r, participant, reason);
}

static void group_done(const odeon_db_rows *rows, const char *error, void *user_data)
{
    room_call *c = user_data;
    uint64_t id;
    if (error != NULL)
        ROOM_LOG(ODEON_LOG_WARN, "cannot read a breakout group: %s", error);
    if (rows != NULL && room_core->db_rows_count(rows) == 1 &&
        room_body_id(c->body, "room", &id)) {
        const char *event = room_core->db_rows_value(rows, 0, 0);
        const char *name = room_core->db_rows_value(rows, 0, 1);
        const char *ends = room_core->db_rows_value(rows, 0, 3);
        json_t *o = json_pack("{s:I, s:I, s:s, s:b}", "event_id",
                              (json_int_t)g_ascii_strtoll(event ? event : "0", NULL, 10),
                              "group_id", (json_int_t)id, "description", name ? name : "Group",
                              "is_private", 1);
        room *r = room_insert(id, o, false); /* NULL when another join created it first */
        if (r != NULL)
            room_breakout_update(r, room_breakout_state_of(room_core->db_rows_value(rows, 0, 2)),
                                 ends ? g_ascii_strtoll(ends, NULL, 10) : 0);
        room_unref(r);
        json_decref(o);
    }
    c->group_loaded = true;
    room_call_resume(c);
}

int room_load_group(room_call *c, uint64_t id)
{
    char group[24];
    const char *params[] = {odeon_id_text(group, (int64_t)id)};
    int rc = room_core->db_query("SELECT g.event_id, g.name, b.state, (extract(epoch FROM "
                                 "b.ends_at) * 1000)::bigint FROM breakout_groups g JOIN "
                                 "breakouts b ON b.id = g.breakout_id WHERE g.id = $1",
                                 1, params, group_done, c);
    return rc == 0 ? 1 : 0;
}
