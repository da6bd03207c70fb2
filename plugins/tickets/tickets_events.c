/*
 * tickets_events.c - events and ticket types: the public listing and detail (from the cache),
 * and what organisers do with their own (in PostgreSQL, each change one statement that also
 * checks ownership and state, so a refused change stores nothing).
 */
#include "tickets.h"
#include "tickets_cache.h"
#include "tickets_http.h"
#include "tickets_valid.h"

#include <string.h>

/* ---- reading ---- */

static void request_list_events(tickets_call *call)
{
    tickets_filter f;
    const char *error = NULL;
    if (!tickets_filter_from_body(call->body, &f, &error)) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (%s)", error);
        return;
    }
    tickets_call_reply(call, tickets_cache_list(&f));
}

static void event_read(tickets_call *call, const odeon_db_rows *rows)
{
    json_t *event = tickets_rows_json(rows, 0, 0);
    if (event == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such event");
        return;
    }
    json_t *types = tickets_rows_json(rows, 0, 1);
    tickets_call_reply(call, json_pack("{s:o, s:o, s:s, s:s}", "event", event, "ticket_types",
                                       types ? types : json_array(), "terms_version",
                                       tickets_cfg.terms_version, "consent_version",
                                       tickets_cfg.consent_version));
}

static void request_event(tickets_call *call)
{
    int64_t id = 0;
    if (!tickets_call_id(call, "event_id", &id))
        return;
    if (call->who.kind != TICKETS_ORGANISER) {
        json_t *out = tickets_cache_event(id, false);
        if (out == NULL)
            tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such event");
        else
            tickets_call_reply(call, out);
        return;
    }
    /* Members read their drafts from the database: one they created a moment ago may not be
     * in the cache yet. */
    char ev[24], org[24];
    TICKETS_ID_TEXT(ev, id);
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    const char *params[] = {ev, org};
    tickets_call_query(call,
                       "SELECT tickets_event_json(e)::text, tickets_ticket_types_json(e.id)::text "
                       "FROM tickets_events e WHERE e.id = $1::bigint AND "
                       "(e.status = 'live' OR e.organisation_id = $2::bigint)",
                       2, params, event_read);
}

static void events_listed(tickets_call *call, const odeon_db_rows *rows)
{
    json_t *events = tickets_rows_json(rows, 0, 0);
    tickets_call_reply(call, json_pack("{s:o}", "events", events ? events : json_array()));
}

static void request_my_events(tickets_call *call)
{
    if (!tickets_require_member(call, TICKETS_ROLE_HOST))
        return;
    json_t *past = json_object_get(call->body, "past");
    if (past != NULL && !json_is_boolean(past)) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (past must be a boolean)");
        return;
    }
    char org[24];
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    const char *which = past == NULL ? "all" : json_is_true(past) ? "past" : "current";
    const char *params[] = {org, which};
    tickets_call_query(call,
                       "SELECT COALESCE(json_agg(tickets_event_json(e) ORDER BY e.starts_at DESC, "
                       "e.id), '[]')::text FROM tickets_events e WHERE e.organisation_id = "
                       "$1::bigint AND ($2 = 'all' OR ($2 = 'past') = (e.ends_at <= now()))",
                       2, params, events_listed);
}

/* ---- event fields ---- */

enum { F_TITLE, F_DESCRIPTION, F_TYPE, F_STARTS, F_ENDS, F_TZ, F_CAPACITY, F_IMAGE, F_COUNT };

/* The fields of create_event/update_event as SQL parameter texts (NULL: not given). */
typedef struct event_fields {
    char *v[F_COUNT];
    bool image_given;
} event_fields;

static void event_fields_clear(event_fields *f)
{
    for (int i = 0; i < F_COUNT; i++)
        g_free(f->v[i]);
}

static bool text_field(tickets_call *call, const char *key, size_t min, size_t max,
                       bool multiline, bool required, char **out)
{
    json_t *v = json_object_get(call->body, key);
    if (v == NULL) {
        if (required)
            tickets_call_fail(call, TICKETS_ERROR_MISSING, "Missing element (%s)", key);
        return !required;
    }
    const char *why = tickets_valid_text(v, min, max, multiline);
    if (why != NULL) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (%s %s)", key, why);
        return false;
    }
    *out = g_strdup(json_string_value(v));
    return true;
}

static bool time_field(tickets_call *call, const char *key, const char *tz, bool required,
                       char **out)
{
    if (!text_field(call, key, 10, 40, false, required, out))
        return false;
    int64_t t = 0;
    if (*out != NULL && !tickets_parse_time(*out, tz ? tz : "UTC", &t)) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID,
                          "Invalid element (%s must be an ISO 8601 date and time)", key);
        return false;
    }
    return true;
}

static bool int_field(tickets_call *call, const char *key, int64_t min, int64_t max,
                      bool required, char **out)
{
    json_t *v = json_object_get(call->body, key);
    if (v == NULL) {
        if (required)
            tickets_call_fail(call, TICKETS_ERROR_MISSING, "Missing element (%s)", key);
        return !required;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID,
                          "Invalid element (%s must be an integer %" G_GINT64_FORMAT
                          "..%" G_GINT64_FORMAT ")",
                          key, min, max);
        return false;
    }
    *out = g_strdup_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return true;
}

/* Validates what is given (everything when creating). Answers the call on failure. */
static bool event_fields_read(tickets_call *call, bool create, event_fields *f)
{
    memset(f, 0, sizeof *f);
    bool ok = text_field(call, "title", 1, 200, false, create, &f->v[F_TITLE]) &&
              text_field(call, "description", 0, 10000, true, false, &f->v[F_DESCRIPTION]) &&
              text_field(call, "business_type", 1, 40, false, create, &f->v[F_TYPE]) &&
              text_field(call, "timezone", 1, 64, false, create, &f->v[F_TZ]);
    if (ok && f->v[F_TYPE] && !tickets_valid_business_type(f->v[F_TYPE])) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (business_type)");
        ok = false;
    }
    if (ok && f->v[F_TZ] && !tickets_valid_timezone(f->v[F_TZ])) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID,
                          "Invalid element (timezone must be an IANA name like Europe/Berlin)");
        ok = false;
    }
    ok = ok && time_field(call, "starts_at", f->v[F_TZ], create, &f->v[F_STARTS]) &&
         time_field(call, "ends_at", f->v[F_TZ], create, &f->v[F_ENDS]) &&
         int_field(call, "capacity", 1, 1000000, create, &f->v[F_CAPACITY]);
    if (!ok) {
        event_fields_clear(f); /* the call was answered (and freed) */
        return false;
    }
    json_t *image = json_object_get(call->body, "image_url");
    if (image != NULL && !json_is_null(image)) {
        ok = text_field(call, "image_url", 1, 2000, false, false, &f->v[F_IMAGE]);
        if (ok && !tickets_valid_url(f->v[F_IMAGE])) {
            tickets_call_fail(call, TICKETS_ERROR_INVALID,
                              "Invalid element (image_url must be an http(s) URL or a /path)");
            ok = false;
        }
    }
    f->image_given = image != NULL;
    int64_t s = 0, e = 0;
    if (ok && f->v[F_STARTS] && f->v[F_ENDS] && f->v[F_TZ] &&
        tickets_parse_time(f->v[F_STARTS], f->v[F_TZ], &s) &&
        tickets_parse_time(f->v[F_ENDS], f->v[F_TZ], &e) && e <= s) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (ends_at must be after "
                                                       "starts_at)");
        ok = false;
    }
    if (!ok)
        event_fields_clear(f);
    return ok;
}

/* The reply of a change: column 0 the state found ('draft', 'live' or NULL: no such event of
 * yours), column 1 the changed event's JSON (NULL: refused). */
static void event_changed(tickets_call *call, const odeon_db_rows *rows)
{
    const char *status = tickets_row_text(rows, 0);
    json_t *event = tickets_rows_json(rows, 0, 1);
    if (status == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such event in your organisation");
    } else if (event == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_STATE, "Only draft events can be changed");
    } else {
        tickets_cache_refresh(json_integer_value(json_object_get(event, "id")));
        tickets_call_reply(call, json_pack("{s:o}", "event", event));
        return;
    }
    json_decref(event);
}

static void event_created(tickets_call *call, const odeon_db_rows *rows)
{
    json_t *event = tickets_rows_json(rows, 0, 0);
    if (event == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE, "The event was not stored");
        return;
    }
    tickets_cache_refresh(json_integer_value(json_object_get(event, "id")));
    tickets_call_reply(call, json_pack("{s:o}", "event", event));
}

static void request_create_event(tickets_call *call)
{
    event_fields f;
    if (!tickets_require_member(call, TICKETS_ROLE_ORGANISER) || !event_fields_read(call, true, &f))
        return;
    char org[24];
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    const char *params[] = {org,           f.v[F_TITLE], f.v[F_DESCRIPTION] ? f.v[F_DESCRIPTION] : "",
                            f.v[F_TYPE],   f.v[F_STARTS], f.v[F_ENDS],
                            f.v[F_TZ],     f.v[F_CAPACITY], f.v[F_IMAGE]};
    tickets_call_query(call,
                       "INSERT INTO tickets_events AS e (organisation_id, title, description, "
                       "business_type, starts_at, ends_at, timezone, capacity, image_url) "
                       "VALUES ($1::bigint, $2, $3, $4, tickets_parse_time($5, $7), "
                       "tickets_parse_time($6, $7), $7, $8::int, $9) "
                       "RETURNING tickets_event_json(e)::text",
                       9, params, event_created);
    event_fields_clear(&f);
}

static void request_update_event(tickets_call *call)
{
    int64_t id = 0;
    event_fields f;
    if (!tickets_require_member(call, TICKETS_ROLE_ORGANISER))
        return;
    if (!tickets_call_id(call, "event_id", &id))
        return;
    if (!event_fields_read(call, false, &f))
        return;
    char ev[24], org[24];
    TICKETS_ID_TEXT(ev, id);
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    const char *params[] = {ev,           org,          f.v[F_TITLE],    f.v[F_DESCRIPTION],
                            f.v[F_TYPE],  f.v[F_STARTS], f.v[F_ENDS],    f.v[F_TZ],
                            f.v[F_CAPACITY], f.v[F_IMAGE], f.image_given ? "t" : "f"};
    tickets_call_query(
        call,
        "WITH t AS (SELECT id, status, timezone FROM tickets_events WHERE id = $1::bigint "
        "AND organisation_id = $2::bigint), u AS (UPDATE tickets_events e SET "
        "title = COALESCE($3, e.title), description = COALESCE($4, e.description), "
        "business_type = COALESCE($5, e.business_type), "
        "starts_at = COALESCE(tickets_parse_time($6, COALESCE($8, t.timezone)), e.starts_at), "
        "ends_at = COALESCE(tickets_parse_time($7, COALESCE($8, t.timezone)), e.ends_at), "
        "timezone = COALESCE($8, e.timezone), capacity = COALESCE($9::int, e.capacity), "
        "image_url = CASE WHEN $11::bool THEN $10 ELSE e.image_url END, updated_at = now() "
        "FROM t WHERE e.id = t.id AND t.status = 'draft' RETURNING tickets_event_json(e)::text "
        "AS j) SELECT (SELECT status FROM t), (SELECT j FROM u)",
        11, params, event_changed);
    event_fields_clear(&f);
}

static void event_deleted(tickets_call *call, const odeon_db_rows *rows)
{
    const char *status = tickets_row_text(rows, 0);
    const char *deleted = tickets_row_text(rows, 1);
    if (status == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such event in your organisation");
    } else if (deleted == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_STATE, "Only draft events can be deleted");
    } else {
        tickets_cache_refresh(g_ascii_strtoll(deleted, NULL, 10));
        tickets_call_reply(call, json_pack("{s:b}", "deleted", 1));
    }
}

static bool event_target(tickets_call *call, tickets_role role, char ev[24], char org[24])
{
    int64_t id = 0;
    if (!tickets_require_member(call, role))
        return false;
    if (!tickets_call_id(call, "event_id", &id))
        return false;
    g_snprintf(ev, 24, "%" G_GINT64_FORMAT, id);
    g_snprintf(org, 24, "%" G_GINT64_FORMAT, call->who.organisation_id);
    return true;
}

static void request_delete_event(tickets_call *call)
{
    char ev[24], org[24];
    if (!event_target(call, TICKETS_ROLE_ORGANISER, ev, org))
        return;
    const char *params[] = {ev, org};
    tickets_call_query(call,
                       "WITH t AS (SELECT id, status FROM tickets_events WHERE id = $1::bigint "
                       "AND organisation_id = $2::bigint), d AS (DELETE FROM tickets_events e "
                       "USING t WHERE e.id = t.id AND t.status = 'draft' RETURNING e.id) "
                       "SELECT (SELECT status FROM t), (SELECT id FROM d)",
                       2, params, event_deleted);
}

static void event_published(tickets_call *call, const odeon_db_rows *rows)
{
    const char *status = tickets_row_text(rows, 0);
    json_t *event = tickets_rows_json(rows, 0, 5);
    if (event != NULL) {
        tickets_cache_refresh(json_integer_value(json_object_get(event, "id")));
        TICKETS_LOG(ODEON_LOG_INFO, "event %" JSON_INTEGER_FORMAT " is live",
                    json_integer_value(json_object_get(event, "id")));
        tickets_call_reply(call, json_pack("{s:o}", "event", event));
        return;
    }
    if (status == NULL)
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such event in your organisation");
    else if (strcmp(status, "draft") != 0)
        tickets_call_fail(call, TICKETS_ERROR_STATE, "The event is live already");
    else if (strcmp(tickets_row_text(rows, 1), "0") == 0)
        tickets_call_fail(call, TICKETS_ERROR_STATE, "Add a ticket type before going live");
    else if (strcmp(tickets_row_text(rows, 2), "0") != 0 && strcmp(tickets_row_text(rows, 3), "t") != 0)
        tickets_call_fail(call, TICKETS_ERROR_STATE,
                          "Connect a Stripe account before selling paid tickets");
    else
        tickets_call_fail(call, TICKETS_ERROR_STATE, "The event is over");
}

static void request_publish_event(tickets_call *call)
{
    char ev[24], org[24];
    if (!event_target(call, TICKETS_ROLE_ORGANISER, ev, org))
        return;
    const char *params[] = {ev, org};
    tickets_call_query(
        call,
        "WITH t AS (SELECT e.id, e.status, (SELECT count(*) FROM tickets_ticket_types x WHERE "
        "x.event_id = e.id) AS types, (SELECT count(*) FROM tickets_ticket_types x WHERE "
        "x.event_id = e.id AND x.price > 0) AS paid, o.stripe_account_id IS NOT NULL AS "
        "connected, e.ends_at > now() AS future FROM tickets_events e JOIN "
        "tickets_organisations o ON o.id = e.organisation_id WHERE e.id = $1::bigint AND "
        "e.organisation_id = $2::bigint), u AS (UPDATE tickets_events e SET status = 'live', "
        "published_at = now(), updated_at = now() FROM t WHERE e.id = t.id AND t.status = "
        "'draft' AND t.types > 0 AND (t.paid = 0 OR t.connected) AND t.future RETURNING "
        "tickets_event_json(e)::text AS j) SELECT t.status, t.types, t.paid, t.connected, "
        "t.future, (SELECT j FROM u) FROM t",
        2, params, event_published);
}

/* ---- ticket types ---- */

enum { T_NAME, T_PRICE, T_CURRENCY, T_QUANTITY, T_START, T_END, T_COUNT };

static bool type_fields_read(tickets_call *call, bool create, char *v[T_COUNT])
{
    memset(v, 0, sizeof(char *) * T_COUNT);
    bool ok = text_field(call, "name", 1, 100, false, create, &v[T_NAME]) &&
              int_field(call, "price", 0, 100000000, create, &v[T_PRICE]) &&
              text_field(call, "currency", 3, 3, false, create, &v[T_CURRENCY]) &&
              int_field(call, "quantity", 1, 1000000, create, &v[T_QUANTITY]) &&
              time_field(call, "sales_start", NULL, false, &v[T_START]) &&
              time_field(call, "sales_end", NULL, false, &v[T_END]);
    char lower[4];
    if (ok && v[T_CURRENCY] != NULL) {
        if (!tickets_valid_currency(v[T_CURRENCY], lower)) {
            tickets_call_fail(call, TICKETS_ERROR_INVALID,
                              "Invalid element (currency: an ISO 4217 code like eur)");
            ok = false;
        } else {
            g_strlcpy(v[T_CURRENCY], lower, 4);
        }
    }
    if (!ok)
        for (int i = 0; i < T_COUNT; i++)
            g_free(v[i]);
    return ok;
}

/* Column 0 the event's state (NULL: not yours), 1 whether paid tickets may be sold, 2 the
 * type's JSON (NULL: refused). */
static void type_changed(tickets_call *call, const odeon_db_rows *rows)
{
    const char *status = tickets_row_text(rows, 0);
    json_t *type = tickets_rows_json(rows, 0, 2);
    if (type != NULL) {
        tickets_cache_refresh(json_integer_value(json_object_get(type, "event_id")));
        tickets_call_reply(call, json_pack("{s:o}", "ticket_type", type));
        return;
    }
    if (status == NULL)
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such event or ticket type of yours");
    else if (strcmp(status, "draft") != 0 && strcmp(call->request, "create_ticket_type") != 0)
        tickets_call_fail(call, TICKETS_ERROR_STATE, "Ticket types of a live event cannot change");
    else
        tickets_call_fail(call, TICKETS_ERROR_STATE,
                          "Connect a Stripe account before selling paid tickets");
}

static void request_create_ticket_type(tickets_call *call)
{
    char ev[24], org[24], *v[T_COUNT];
    if (!event_target(call, TICKETS_ROLE_ORGANISER, ev, org) || !type_fields_read(call, true, v))
        return;
    const char *params[] = {ev, org, v[T_NAME], v[T_PRICE], v[T_CURRENCY], v[T_QUANTITY],
                            v[T_START], v[T_END]};
    tickets_call_query(
        call,
        "WITH t AS (SELECT e.id, e.status, e.timezone, o.stripe_account_id IS NOT NULL AS "
        "connected FROM tickets_events e JOIN tickets_organisations o ON o.id = "
        "e.organisation_id WHERE e.id = $1::bigint AND e.organisation_id = $2::bigint), "
        "i AS (INSERT INTO tickets_ticket_types AS x (event_id, name, price, currency, quantity, "
        "sales_start, sales_end) SELECT t.id, $3, $4::bigint, $5, $6::int, "
        "tickets_parse_time($7, t.timezone), tickets_parse_time($8, t.timezone) FROM t WHERE "
        "t.status = 'draft' OR $4::bigint = 0 OR t.connected RETURNING "
        "tickets_ticket_type_json(x)::text AS j) "
        "SELECT (SELECT status FROM t), (SELECT connected FROM t), (SELECT j FROM i)",
        8, params, type_changed);
    for (int i = 0; i < T_COUNT; i++)
        g_free(v[i]);
}

static bool type_target(tickets_call *call, char ty[24], char org[24])
{
    int64_t id = 0;
    if (!tickets_require_member(call, TICKETS_ROLE_ORGANISER))
        return false;
    if (!tickets_call_id(call, "ticket_type_id", &id))
        return false;
    g_snprintf(ty, 24, "%" G_GINT64_FORMAT, id);
    g_snprintf(org, 24, "%" G_GINT64_FORMAT, call->who.organisation_id);
    return true;
}

static void request_update_ticket_type(tickets_call *call)
{
    char ty[24], org[24], *v[T_COUNT];
    if (!type_target(call, ty, org) || !type_fields_read(call, false, v))
        return;
    const char *params[] = {ty, org, v[T_NAME], v[T_PRICE], v[T_CURRENCY], v[T_QUANTITY],
                            v[T_START], v[T_END]};
    tickets_call_query(
        call,
        "WITH t AS (SELECT x.id, e.status, e.timezone FROM tickets_ticket_types x JOIN "
        "tickets_events e ON e.id = x.event_id WHERE x.id = $1::bigint AND e.organisation_id = "
        "$2::bigint), u AS (UPDATE tickets_ticket_types x SET name = COALESCE($3, x.name), "
        "price = COALESCE($4::bigint, x.price), currency = COALESCE($5, x.currency), "
        "quantity = COALESCE($6::int, x.quantity), sales_start = "
        "COALESCE(tickets_parse_time($7, t.timezone), x.sales_start), sales_end = "
        "COALESCE(tickets_parse_time($8, t.timezone), x.sales_end) FROM t WHERE x.id = t.id "
        "AND t.status = 'draft' RETURNING tickets_ticket_type_json(x)::text AS j) "
        "SELECT (SELECT status FROM t), true, (SELECT j FROM u)",
        8, params, type_changed);
    for (int i = 0; i < T_COUNT; i++)
        g_free(v[i]);
}

static void type_deleted(tickets_call *call, const odeon_db_rows *rows)
{
    const char *status = tickets_row_text(rows, 0);
    const char *event = tickets_row_text(rows, 1);
    if (status == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such ticket type of yours");
    } else if (event == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_STATE, "Ticket types of a live event cannot change");
    } else {
        tickets_cache_refresh(g_ascii_strtoll(event, NULL, 10));
        tickets_call_reply(call, json_pack("{s:b}", "deleted", 1));
    }
}

static void request_delete_ticket_type(tickets_call *call)
{
    char ty[24], org[24];
    if (!type_target(call, ty, org))
        return;
    const char *params[] = {ty, org};
    tickets_call_query(call,
                       "WITH t AS (SELECT x.id, e.status FROM tickets_ticket_types x JOIN "
                       "tickets_events e ON e.id = x.event_id WHERE x.id = $1::bigint AND "
                       "e.organisation_id = $2::bigint), d AS (DELETE FROM tickets_ticket_types "
                       "x USING t WHERE x.id = t.id AND t.status = 'draft' RETURNING x.event_id) "
                       "SELECT (SELECT status FROM t), (SELECT event_id FROM d)",
                       2, params, type_deleted);
}

/* ---- registrations ---- */

static void registrations_listed(tickets_call *call, const odeon_db_rows *rows)
{
    json_t *list = tickets_rows_json(rows, 0, 0);
    if (list == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such event in your organisation");
        return;
    }
    tickets_call_reply(call, json_pack("{s:o}", "registrations", list));
}

static void request_list_registrations(tickets_call *call)
{
    char ev[24], org[24];
    if (!event_target(call, TICKETS_ROLE_HOST, ev, org))
        return;
    const char *params[] = {ev, org};
    tickets_call_query(
        call,
        "SELECT (SELECT COALESCE(json_agg(json_build_object('participant_id', p.id, 'email', "
        "p.email, 'display_name', p.display_name, 'status', o.status, 'ticket_type_id', "
        "o.ticket_type_id, 'registered_at', tickets_time_json(o.created_at)) ORDER BY o.id), "
        "'[]') FROM tickets_orders o JOIN tickets_participants p ON p.id = o.participant_id "
        "WHERE o.event_id = e.id AND o.status <> 'released')::text FROM tickets_events e "
        "WHERE e.id = $1::bigint AND e.organisation_id = $2::bigint",
        2, params, registrations_listed);
}

tickets_request_fn tickets_events_request(const char *name)
{
    static const struct {
        const char *name;
        tickets_request_fn fn;
    } table[] = {
        {"list_events", request_list_events},
        {"event", request_event},
        {"my_events", request_my_events},
        {"create_event", request_create_event},
        {"update_event", request_update_event},
        {"delete_event", request_delete_event},
        {"publish_event", request_publish_event},
        {"create_ticket_type", request_create_ticket_type},
        {"update_ticket_type", request_update_ticket_type},
        {"delete_ticket_type", request_delete_ticket_type},
        {"list_registrations", request_list_registrations},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].fn;
    return NULL;
}
