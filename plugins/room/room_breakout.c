/*
 * room_breakout.c - a breakout group's room follows its breakout (sql/008_breakouts.sql): the
 * tickets plugin starts, extends and ends breakouts, a trigger announces each change on
 * NOTIFY breakout, and every node reads the timing of the event's groups whose rooms it holds.
 * Members hear "extended", a "countdown" countdown_seconds before the end, and "ended" with
 * where to go next (the main stage), which the JS client follows. Participants may join a
 * group's room only while its breakout runs.
 */
#include "room.h"

#include <string.h>

#include "../common/plugin_common.h"

room_breakout_state room_breakout_state_of(const char *text)
{
    if (text == NULL)
        return ROOM_BREAKOUT_NONE;
    if (strcmp(text, "draft") == 0)
        return ROOM_BREAKOUT_DRAFT;
    if (strcmp(text, "running") == 0)
        return ROOM_BREAKOUT_RUNNING;
    return ROOM_BREAKOUT_ENDED;
}

static const char *state_name(room_breakout_state s)
{
    static const char *const names[] = {"none", "draft", "running", "ended"};
    return names[s];
}

json_t *room_breakout_json(room *r)
{
    if (r->group_id == 0)
        return NULL;
    g_mutex_lock(&r->lock);
    json_t *j = json_pack("{s:s, s:I}", "state", state_name(r->breakout), "ends_at",
                          (json_int_t)r->ends_at_ms);
    g_mutex_unlock(&r->lock);
    return j;
}

static void tell(room *r, const char *what, json_t *extra)
{
    json_t *ev = json_pack("{s:s, s:I, s:s, s:I}", "videoroom", "event", "room",
                           (json_int_t)r->id, "breakout", what, "event_id",
                           (json_int_t)r->event_id);
    if (extra != NULL)
        json_object_update(ev, extra);
    room_notify(r, NULL, ev);
    json_decref(ev);
}

static void announce_end(room *r)
{
    json_t *extra = json_pack("{s:s}", "next", "main_stage");
    tell(r, "ended", extra);
    json_decref(extra);
    ROOM_LOG(ODEON_LOG_INFO, "room %" G_GUINT64_FORMAT ": breakout ended", r->id);
}

void room_breakout_update(room *r, room_breakout_state state, int64_t ends_at_ms)
{
    g_mutex_lock(&r->lock);
    bool extended = r->breakout == ROOM_BREAKOUT_RUNNING && state == ROOM_BREAKOUT_RUNNING &&
                    ends_at_ms > r->ends_at_ms && r->ends_at_ms != 0;
    bool ended = state == ROOM_BREAKOUT_ENDED && r->breakout == ROOM_BREAKOUT_RUNNING &&
                 !r->end_sent;
    r->breakout = state;
    r->ends_at_ms = ends_at_ms;
    if (extended)
        r->countdown_sent = r->end_sent = false;
    if (ended)
        r->end_sent = true;
    g_mutex_unlock(&r->lock);
    if (extended) {
        json_t *extra = json_pack("{s:I}", "ends_at", (json_int_t)ends_at_ms);
        tell(r, "extended", extra);
        json_decref(extra);
    }
    if (ended)
        announce_end(r);
}

void room_breakout_tick(void)
{
    int64_t now = g_get_real_time() / 1000;
    GPtrArray *all = room_all();
    for (guint i = 0; i < all->len; i++) {
        room *r = g_ptr_array_index(all, i);
        g_mutex_lock(&r->lock);
        bool running = r->breakout == ROOM_BREAKOUT_RUNNING && r->ends_at_ms > 0;
        int64_t left = r->ends_at_ms - now;
        bool countdown = running && !r->countdown_sent &&
                         left <= (int64_t)room_conf.countdown_seconds * 1000;
        bool end = running && !r->end_sent && left <= 0;
        r->countdown_sent |= countdown;
        r->end_sent |= end;
        if (end)
            r->breakout = ROOM_BREAKOUT_ENDED;
        g_mutex_unlock(&r->lock);
        if (countdown && !end) {
            json_t *extra = json_pack("{s:I, s:I}", "seconds_left",
                                      (json_int_t)((left + 999) / 1000), "ends_at",
                                      (json_int_t)r->ends_at_ms);
            tell(r, "countdown", extra);
            json_decref(extra);
        }
        if (end)
            announce_end(r);
    }
    g_ptr_array_unref(all);
}

/* ---- NOTIFY breakout: an event's breakout changed ---- */

static void timing_read(const odeon_db_rows *rows, const char *error, void *user_data)
{
    (void)user_data;
    if (rows == NULL) {
        ROOM_LOG(ODEON_LOG_WARN, "cannot read a breakout's timing: %s", error);
        return;
    }
    for (int i = 0; i < room_core->db_rows_count(rows); i++) {
        const char *id = room_core->db_rows_value(rows, i, 0);
        const char *ends = room_core->db_rows_value(rows, i, 2);
        room *r = room_lookup(g_ascii_strtoull(id ? id : "0", NULL, 10));
        if (r == NULL)
            continue;
        room_breakout_update(r, room_breakout_state_of(room_core->db_rows_value(rows, i, 1)),
                             ends ? g_ascii_strtoll(ends, NULL, 10) : 0);
        room_unref(r);
    }
}

#define TIMING_SQL                                                                                 \
    "SELECT g.id, b.state, (extract(epoch FROM b.ends_at) * 1000)::bigint FROM breakout_groups "  \
    "g JOIN breakouts b ON b.id = g.breakout_id"

static void breakout_notified(const char *channel, const char *payload, void *user_data)
{
    (void)channel;
    (void)user_data;
    if (payload == NULL) {
        /* Notifications may have been missed: every group room this node holds. */
        GPtrArray *all = room_all();
        GString *ids = g_string_new("{");
        for (guint i = 0; i < all->len; i++) {
            room *r = g_ptr_array_index(all, i);
            if (r->group_id != 0)
                g_string_append_printf(ids, "%s%" G_GUINT64_FORMAT, ids->len > 1 ? "," : "",
                                       r->id);
        }
        g_string_append_c(ids, '}');
        const char *params[] = {ids->str};
        room_core->db_query(TIMING_SQL " WHERE g.id = ANY($1::bigint[])", 1, params, timing_read,
                            NULL);
        g_string_free(ids, TRUE);
        g_ptr_array_unref(all);
        return;
    }
    for (const char *p = payload; *p; p++)
        if (!g_ascii_isdigit(*p))
            return; /* not ours */
    const char *params[] = {payload};
    room_core->db_query(TIMING_SQL " WHERE b.event_id = $1::bigint", 1, params, timing_read, NULL);
}

bool room_breakout_start(void)
{
    return room_core->db_listen("breakout", breakout_notified, NULL) == 0;
}
