/*
 * tickets_register.c - participants: registration with consent, paid orders through Stripe
 * Checkout, magic links, and Stripe's webhook.
 *
 * Seats are taken by tickets_register() in the database (locking the event row), so that no
 * number of concurrent registrations on any number of nodes can sell more than the capacity.
 * A paid order holds its seat while the buyer is on Stripe's page and is confirmed only by
 * the signed webhook; a session that expires gives the seat back.
 */
#include "tickets.h"
#include "tickets_token.h"
#include "tickets_valid.h"

#include <string.h>

/* ---- magic links ---- */

typedef struct link_job {
    char *secret, *email, *title, *subject, *intro, *next;
    tickets_link_sent_fn done;
    void *user_data;
} link_job;

static void link_job_free(link_job *job)
{
    g_free(job->secret);
    g_free(job->email);
    g_free(job->title);
    g_free(job->subject);
    g_free(job->intro);
    g_free(job->next);
    g_free(job);
}

/* The mail of a stored link: the caller's subject and introduction, or the sign-in ones. */
static bool link_mail_send(link_job *job)
{
    GString *link = g_string_new(NULL);
    g_string_printf(link, "%s/signin.html?token=%s", tickets_cfg.site_url, job->secret);
    if (job->next != NULL) {
        char *next = g_uri_escape_string(job->next, NULL, FALSE);
        g_string_append_printf(link, "&next=%s", next);
        g_free(next);
    }
    char *subject = job->subject ? g_strdup(job->subject)
                                 : g_strdup_printf("Your sign-in link for %s", job->title);
    char *intro = job->intro ? g_strdup(job->intro)
                             : g_strdup_printf("you are registered for %s.", job->title);
    char *text = g_strdup_printf(
        "Hello,\n\n%s\n\nSign in with this link (it works once, within %d minutes):\n\n%s\n\n"
        "If the link has expired, ask for a new one on the event's page.\n",
        intro, tickets_cfg.magic_link_minutes, link->str);
    bool ok = tickets_mail_send(tickets_mailer, job->email, subject, text) == 0;
    g_free(text);
    g_free(intro);
    g_free(subject);
    g_string_free(link, TRUE);
    return ok;
}

static void link_stored(const odeon_db_rows *rows, const char *error, void *user_data)
{
    link_job *job = user_data;
    bool ok = rows != NULL;
    if (!ok)
        TICKETS_LOG(ODEON_LOG_WARN, "magic link not stored: %s", error);
    else
        ok = link_mail_send(job);
    if (job->done != NULL)
        job->done(ok, job->user_data);
    link_job_free(job);
}

void tickets_send_link(const tickets_link_mail *m, tickets_link_sent_fn done, void *user_data)
{
    link_job *job = g_new0(link_job, 1);
    job->secret = tickets_link_secret();
    job->email = g_strdup(m->email);
    job->title = g_strdup(m->title ? m->title : "your event");
    job->subject = g_strdup(m->subject);
    job->intro = g_strdup(m->intro);
    job->next = g_strdup(m->next);
    job->done = done;
    job->user_data = user_data;
    if (job->secret == NULL) {
        link_stored(NULL, "the random number generator failed", job);
        return;
    }
    char *hash = tickets_link_hash(job->secret);
    char pid[24], minutes[16];
    TICKETS_ID_TEXT(pid, m->participant_id);
    g_snprintf(minutes, sizeof minutes, "%d", tickets_cfg.magic_link_minutes);
    const char *params[] = {hash, pid, m->email, minutes};
    if (tickets_core->db_query("INSERT INTO tickets_magic_links (token_hash, participant_id, "
                               "email, expires_at) VALUES ($1::bytea, $2::bigint, $3, now() + "
                               "make_interval(mins => $4::int))",
                               4, params, link_stored, job) != 0)
        link_stored(NULL, "no database", job);
    g_free(hash);
}

/* Stores a new single-use sign-in link for the participant and mails it to email. */
static void send_magic_link(int64_t participant_id, const char *email, const char *title,
                            tickets_link_sent_fn done, void *user_data)
{
    tickets_link_mail m = {.participant_id = participant_id, .email = email, .title = title};
    tickets_send_link(&m, done, user_data);
}

/* The call's reply waits in call->data until the link is out. */
static void reply_after_link(bool ok, void *user_data)
{
    tickets_call *call = user_data;
    json_t *reply = call->data;
    call->data = NULL;
    json_object_set_new(reply, "email_sent", json_boolean(ok));
    tickets_call_reply(call, reply);
}

/* ---- register ---- */

typedef struct order_data {
    int64_t order_id, participant_id, event_id;
    char *email, *title, *type_name, *currency, *account;
    long long amount;
} order_data;

static void order_data_free(void *data)
{
    order_data *d = data;
    g_free(d->email);
    g_free(d->title);
    g_free(d->type_name);
    g_free(d->currency);
    g_free(d->account);
    g_free(d);
}

static void order_released(tickets_call *call, const odeon_db_rows *rows)
{
    (void)rows;
    tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE,
                      "Payments are not available right now; no seat was taken, try again");
}

static void release_and_fail(tickets_call *call)
{
    order_data *d = call->data;
    char id[24];
    TICKETS_ID_TEXT(id, d->order_id);
    const char *params[] = {id};
    tickets_call_query(call, "SELECT tickets_release_order($1::bigint)", 1, params,
                       order_released);
}

static void checkout_stored(tickets_call *call, const odeon_db_rows *rows)
{
    order_data *d = call->data;
    tickets_call_reply(call, json_pack("{s:{s:I, s:s}, s:s}", "order", "id",
                                       (json_int_t)d->order_id, "status", "pending",
                                       "checkout_url", tickets_row_text(rows, 0)));
}

/* Stripe wants 30 min..24 h from when it receives the request: the hold plus two minutes for
 * the request's way there (our own hold ends first, and its sweep waits an hour more). */
static int64_t checkout_expiry(void)
{
    int64_t seconds = (int64_t)tickets_cfg.checkout_hold_minutes * 60 + 120;
    if (seconds > 24 * 3600 - 60)
        seconds = 24 * 3600 - 60;
    return g_get_real_time() / G_USEC_PER_SEC + seconds;
}

static void checkout_create(tickets_call *call)
{
    order_data *d = call->data;
    char order[24], event[24], key[48];
    TICKETS_ID_TEXT(order, d->order_id);
    TICKETS_ID_TEXT(event, d->event_id);
    g_snprintf(key, sizeof key, "odeon-order-%s", order);
    char *success = g_strdup_printf("%s/event.html?id=%s&paid=1", tickets_cfg.site_url, event);
    char *cancel = g_strdup_printf("%s/event.html?id=%s&cancelled=1", tickets_cfg.site_url, event);
    char *product = g_strdup_printf("%s: %s", d->title, d->type_name);
    tickets_checkout_request req = {
        .account_id = d->account,
        .order_id = order,
        .event_id = event,
        .product_name = product,
        .unit_amount = d->amount,
        .currency = d->currency,
        .customer_email = d->email,
        .success_url = success,
        .cancel_url = cancel,
        .expires_at = checkout_expiry(),
        .idempotency_key = key,
    };
    char *session = NULL, *url = NULL, *error = NULL;
    int rc = tickets_stripe_create_checkout(&tickets_cfg.stripe, &req, &session, &url, &error);
    g_free(success);
    g_free(cancel);
    g_free(product);
    if (rc != 0) {
        TICKETS_LOG(ODEON_LOG_WARN, "order %s: Stripe Checkout failed: %s", order,
                    error ? error : "?");
        g_free(error);
        release_and_fail(call);
        return;
    }
    const char *params[] = {order, session, url};
    tickets_call_query(call,
                       "UPDATE tickets_orders SET stripe_session_id = $2, checkout_url = $3 "
                       "WHERE id = $1::bigint RETURNING checkout_url",
                       3, params, checkout_stored);
    g_free(session);
    g_free(url);
}

/* Analytics: a seat was confirmed (free at once, paid by Stripe's webhook). */
static void bus_registered(int64_t event_id, int64_t participant_id)
{
    if (!tickets_core->events_enabled())
        return;
    char *subject = g_strdup_printf("participant:%" G_GINT64_FORMAT, participant_id);
    json_t *info = json_pack("{s:s, s:I, s:s}", "event", "registered", "event_id",
                             (json_int_t)event_id, "subject", subject);
    tickets_core->notify_event(&odeon_plugin_descriptor, NULL, info);
    json_decref(info);
    g_free(subject);
}

/* Columns: participant_id, order_id, status, already, amount, currency, checkout_url, title,
 * type name, stripe account, event id, links sent in the last 15 minutes. */
static void registered(tickets_call *call, const odeon_db_rows *rows)
{
    if (tickets_core->db_rows_count(rows) != 1) {
        tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE, "The registration was not stored");
        return;
    }
    int64_t participant = tickets_row_int(rows, 0);
    const char *status = tickets_row_text(rows, 2);
    bool already = g_strcmp0(tickets_row_text(rows, 3), "t") == 0;
    const char *email = json_string_value(json_object_get(call->body, "email"));
    if (g_strcmp0(status, "confirmed") == 0) {
        call->data = json_pack("{s:{s:I, s:s}, s:b}", "registration", "participant_id",
                               (json_int_t)participant, "status", "confirmed",
                               "already_registered", already);
        call->free_data = (void (*)(void *))json_decref;
        if (!already)
            bus_registered(tickets_row_int(rows, 10), participant);
        /* Registering again is the way back in for someone who lost their link, but not a
         * way to flood an inbox: as request_link, at most 5 links per 15 minutes. */
        if (already && tickets_row_int(rows, 11) >= 5)
            reply_after_link(false, call);
        else
            send_magic_link(participant, email, tickets_row_text(rows, 7), reply_after_link, call);
        return;
    }
    if (already && tickets_row_text(rows, 6) == NULL) {
        /* The same email's first request is creating its Checkout right now: that order is
         * its to finish (or give back). */
        tickets_call_fail(call, TICKETS_ERROR_STATE,
                          "Your order is being prepared; try again in a moment");
        return;
    }
    if (already) {
        tickets_call_reply(call, json_pack("{s:{s:I, s:s}, s:s, s:b}", "order", "id",
                                           (json_int_t)tickets_row_int(rows, 1), "status", "pending",
                                           "checkout_url", tickets_row_text(rows, 6),
                                           "already_registered", 1));
        return;
    }
    order_data *d = g_new0(order_data, 1);
    d->order_id = tickets_row_int(rows, 1);
    d->participant_id = participant;
    d->event_id = tickets_row_int(rows, 10);
    d->email = g_strdup(email);
    d->title = g_strdup(tickets_row_text(rows, 7));
    d->type_name = g_strdup(tickets_row_text(rows, 8));
    d->currency = g_strdup(tickets_row_text(rows, 5));
    d->account = g_strdup(tickets_row_text(rows, 9));
    d->amount = tickets_row_int(rows, 4);
    call->data = d;
    call->free_data = order_data_free;
    if (d->account == NULL || !tickets_stripe_configured(&tickets_cfg.stripe)) {
        release_and_fail(call);
        return;
    }
    tickets_call_offload(call, checkout_create);
}

static bool consent_given(tickets_call *call, const char *flag, const char *version_key,
                          const char *current)
{
    if (!json_is_true(json_object_get(call->body, flag))) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (%s must be true)", flag);
        return false;
    }
    const char *version = json_string_value(json_object_get(call->body, version_key));
    if (version == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_MISSING, "Missing element (%s)", version_key);
        return false;
    }
    if (strcmp(version, current) != 0) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID,
                          "Invalid element (%s: the current version is %s; reload the page)",
                          version_key, current);
        return false;
    }
    return true;
}

static void request_register(tickets_call *call)
{
    int64_t event = 0, type = 0;
    json_t *body = call->body;
    if (!tickets_call_id(call, "event_id", &event) ||
        !tickets_call_id(call, "ticket_type_id", &type))
        return;
    const char *why_email = tickets_valid_text(json_object_get(body, "email"), 3, 254, false);
    const char *email = json_string_value(json_object_get(body, "email"));
    if (why_email != NULL || !tickets_valid_email(email)) {
        tickets_call_fail(call, email ? TICKETS_ERROR_INVALID : TICKETS_ERROR_MISSING,
                          "%s element (email)", email ? "Invalid" : "Missing");
        return;
    }
    json_t *name = json_object_get(body, "display_name");
    const char *why = tickets_valid_text(name, 1, 100, false);
    if (why != NULL) {
        tickets_call_fail(call, name ? TICKETS_ERROR_INVALID : TICKETS_ERROR_MISSING,
                          "%s element (display_name %s)", name ? "Invalid" : "Missing", why);
        return;
    }
    if (!consent_given(call, "accept_terms", "terms_version", tickets_cfg.terms_version) ||
        !consent_given(call, "accept_data_sharing", "consent_version",
                       tickets_cfg.consent_version))
        return;
    char ev[24], ty[24], hold[16];
    TICKETS_ID_TEXT(ev, event);
    TICKETS_ID_TEXT(ty, type);
    g_snprintf(hold, sizeof hold, "%d", tickets_cfg.checkout_hold_minutes);
    const char *params[] = {ev, ty, email, json_string_value(name), tickets_cfg.terms_version,
                            tickets_cfg.consent_version, hold};
    tickets_call_query(
        call,
        "SELECT r.participant_id, r.order_id, r.status, r.already, r.amount, r.currency, "
        "r.checkout_url, e.title, t.name, o.stripe_account_id, e.id, (SELECT count(*) FROM "
        "tickets_magic_links l WHERE l.participant_id = r.participant_id AND l.created_at > "
        "now() - interval '15 minutes') FROM tickets_register("
        "$1::bigint, $2::bigint, $3, $4, $5, $6, make_interval(mins => $7::int)) r "
        "LEFT JOIN tickets_events e ON e.id = $1::bigint LEFT JOIN tickets_organisations o ON "
        "o.id = e.organisation_id LEFT JOIN tickets_ticket_types t ON t.id = $2::bigint",
        7, params, registered);
}

/* ---- links ---- */

static void link_requested(tickets_call *call, const odeon_db_rows *rows)
{
    if (tickets_core->db_rows_count(rows) == 0 || g_strcmp0(tickets_row_text(rows, 3), "t") != 0) {
        /* Nobody to send to, or enough links lately: the same answer either way. */
        tickets_call_reply(call, json_pack("{s:b}", "sent", 1));
        return;
    }
    call->data = json_pack("{s:b}", "sent", 1);
    call->free_data = (void (*)(void *))json_decref;
    const char *group = tickets_row_text(rows, 4);
    if (group == NULL) {
        send_magic_link(tickets_row_int(rows, 0), tickets_row_text(rows, 1),
                        tickets_row_text(rows, 2), reply_after_link, call);
        return;
    }
    /* In a running breakout: the link opens the participant's group room (a lost group link
     * asked for again). */
    char *subject = g_strdup_printf("Your group link: %s (%s)", tickets_row_text(rows, 5),
                                    tickets_row_text(rows, 2));
    char *intro = g_strdup_printf("you are in %s at %s: its room and chat open with this link.",
                                  tickets_row_text(rows, 5), tickets_row_text(rows, 2));
    char *next = g_strdup_printf("/room.html?event=%s&group=%s", tickets_row_text(rows, 6), group);
    tickets_link_mail m = {.participant_id = tickets_row_int(rows, 0),
                           .email = tickets_row_text(rows, 1), .title = tickets_row_text(rows, 2),
                           .subject = subject, .intro = intro, .next = next};
    tickets_send_link(&m, reply_after_link, call);
    g_free(subject);
    g_free(intro);
    g_free(next);
}

static void request_request_link(tickets_call *call)
{
    int64_t event = 0;
    const char *email = json_string_value(json_object_get(call->body, "email"));
    if (!tickets_call_id(call, "event_id", &event))
        return;
    if (email == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_MISSING, "Missing element (email)");
        return;
    }
    if (tickets_valid_text(json_object_get(call->body, "email"), 3, 254, false) != NULL ||
        !tickets_valid_email(email)) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (email)");
        return;
    }
    char ev[24];
    TICKETS_ID_TEXT(ev, event);
    const char *params[] = {ev, email};
    tickets_call_query(
        call,
        "SELECT p.id, p.email, e.title, (SELECT count(*) FROM tickets_magic_links l WHERE "
        "l.participant_id = p.id AND l.created_at > now() - interval '15 minutes') < 5, "
        "g.id, g.name, e.id FROM tickets_participants p JOIN tickets_events e ON e.id = "
        "p.event_id LEFT JOIN LATERAL (SELECT g.id, g.name FROM breakout_members m JOIN "
        "breakout_groups g ON g.id = m.group_id JOIN breakouts b ON b.id = m.breakout_id AND "
        "b.state = 'running' WHERE m.participant_id = p.id) g ON true "
        "WHERE p.event_id = $1::bigint AND lower(p.email) = lower($2) AND EXISTS (SELECT 1 "
        "FROM tickets_orders o WHERE o.participant_id = p.id AND o.status = 'confirmed')",
        2, params, link_requested);
}

static void link_redeemed(tickets_call *call, const odeon_db_rows *rows)
{
    if (tickets_core->db_rows_count(rows) == 0) {
        tickets_call_fail(call, TICKETS_ERROR_UNAUTHORIZED,
                          "This link is invalid, used or expired: ask for a new one");
        return;
    }
    int64_t pid = tickets_row_int(rows, 0), event = tickets_row_int(rows, 1);
    int64_t expires = 0;
    char *credential = tickets_issue_participant_credential(pid, event, tickets_row_text(rows, 3), &expires);
    char when[32];
    tickets_format_time(expires, when);
    TICKETS_LOG(ODEON_LOG_INFO, "participant %" G_GINT64_FORMAT " signed in", pid);
    tickets_call_reply(call, json_pack("{s:s, s:s, s:{s:I, s:I, s:s, s:s}}", "credential",
                                       credential, "expires_at", when, "participant", "id",
                                       (json_int_t)pid, "event_id", (json_int_t)event, "email",
                                       tickets_row_text(rows, 2), "display_name", tickets_row_text(rows, 3)));
    g_free(credential);
}

static void request_redeem_link(tickets_call *call)
{
    json_t *token = json_object_get(call->body, "token");
    if (token == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_MISSING, "Missing element (token)");
        return;
    }
    if (tickets_valid_text(token, 20, 100, false) != NULL) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (token)");
        return;
    }
    char *hash = tickets_link_hash(json_string_value(token));
    const char *params[] = {hash};
    /* One statement: of two tabs opening the same link at once, only one gets a row. The
     * participant's email must still be the one the link was sent to. */
    tickets_call_query(call,
                       "UPDATE tickets_magic_links l SET used_at = now() FROM "
                       "tickets_participants p WHERE l.token_hash = $1::bytea AND l.used_at IS "
                       "NULL AND l.expires_at > now() AND p.id = l.participant_id AND "
                       "lower(p.email) = lower(l.email) RETURNING p.id, p.event_id, p.email, "
                       "p.display_name",
                       1, params, link_redeemed);
    g_free(hash);
}

static void registration_read(tickets_call *call, const odeon_db_rows *rows)
{
    if (tickets_core->db_rows_count(rows) == 0) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND, "No such registration");
        return;
    }
    json_t *event = tickets_rows_json(rows, 0, 3);
    tickets_call_reply(call, json_pack("{s:{s:I, s:s, s:s}, s:o, s:s}", "participant", "id",
                                       (json_int_t)call->who.id, "email", tickets_row_text(rows, 0),
                                       "display_name", tickets_row_text(rows, 1), "event",
                                       event ? event : json_null(), "status",
                                       tickets_row_text(rows, 2) ? tickets_row_text(rows, 2) : "none"));
}

static void request_my_registration(tickets_call *call)
{
    if (!tickets_require_participant(call))
        return;
    char pid[24];
    TICKETS_ID_TEXT(pid, call->who.id);
    const char *params[] = {pid};
    tickets_call_query(call,
                       "SELECT p.email, p.display_name, (SELECT o.status FROM tickets_orders o "
                       "WHERE o.participant_id = p.id ORDER BY (o.status = 'confirmed') DESC, "
                       "o.id DESC LIMIT 1), tickets_event_json(e)::text FROM "
                       "tickets_participants p JOIN tickets_events e ON e.id = p.event_id "
                       "WHERE p.id = $1::bigint",
                       1, params, registration_read);
}

tickets_request_fn tickets_register_request(const char *name)
{
    static const struct {
        const char *name;
        tickets_request_fn fn;
    } table[] = {
        {"register", request_register},
        {"request_link", request_request_link},
        {"redeem_link", request_redeem_link},
        {"my_registration", request_my_registration},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].fn;
    return NULL;
}

/* ---- Stripe's webhook ---- */

static void webhook_respond(odeon_http_request *req, int status, const char *message)
{
    json_t *body = json_pack("{s:s}", status == 200 ? "status" : "error", message);
    char *text = json_dumps(body, JSON_COMPACT);
    tickets_core->http_respond(req, status, "application/json", text, strlen(text), NULL);
    free(text);
    json_decref(body);
}

static void payment_link_sent(bool ok, void *user_data)
{
    (void)ok;
    (void)user_data;
}

static void webhook_confirmed(const odeon_db_rows *rows, const char *error, void *user_data)
{
    odeon_http_request *req = user_data;
    if (rows == NULL) {
        bool wrong = error && strstr(error, "tickets:wrong_account");
        TICKETS_LOG(ODEON_LOG_WARN, "webhook: %s", wrong ? "session of another account" : error);
        /* A 5xx makes Stripe deliver again later; a wrong account never becomes right. */
        webhook_respond(req, wrong ? 400 : 500, wrong ? "wrong account" : "try again");
        return;
    }
    if (tickets_core->db_rows_count(rows) > 0) {
        if (g_strcmp0(tickets_row_text(rows, 3), "t") == 0)
            TICKETS_LOG(ODEON_LOG_ERROR,
                        "order %s was paid after its seat went to someone else: refund it",
                        tickets_row_text(rows, 0));
        else {
            send_magic_link(tickets_row_int(rows, 1), tickets_row_text(rows, 2), tickets_row_text(rows, 4),
                            payment_link_sent, NULL);
            bus_registered(tickets_row_int(rows, 5), tickets_row_int(rows, 1));
        }
    }
    webhook_respond(req, 200, "ok");
}

static void webhook_expired(const odeon_db_rows *rows, const char *error, void *user_data)
{
    odeon_http_request *req = user_data;
    if (rows == NULL) {
        TICKETS_LOG(ODEON_LOG_WARN, "webhook: %s", error);
        webhook_respond(req, 500, "try again");
        return;
    }
    webhook_respond(req, 200, "ok");
}

static void webhook_event(odeon_http_request *req, json_t *event)
{
    const char *id = json_string_value(json_object_get(event, "id"));
    const char *type = json_string_value(json_object_get(event, "type"));
    json_t *object = json_object_get(json_object_get(event, "data"), "object");
    const char *session = json_string_value(json_object_get(object, "id"));
    const char *account = json_string_value(json_object_get(event, "account"));
    if (id == NULL || type == NULL || session == NULL || strlen(id) > 255 ||
        strlen(session) > 255 || (account && strlen(account) > 255)) {
        webhook_respond(req, 400, "not a Stripe event");
        return;
    }
    if (strcmp(type, "checkout.session.completed") == 0) {
        /* Delayed payment methods complete the session unpaid: wait for async_payment_... */
        const char *paid = json_string_value(json_object_get(object, "payment_status"));
        if (g_strcmp0(paid, "paid") != 0 && g_strcmp0(paid, "no_payment_required") != 0) {
            webhook_respond(req, 200, "not paid yet");
            return;
        }
        const char *params[] = {id, session, account};
        tickets_core->db_query("SELECT c.order_id, c.participant_id, c.email, c.needs_refund, "
                               "e.title, e.id FROM tickets_confirm_payment($1, $2, $3) c "
                               "JOIN tickets_orders o ON o.id = c.order_id JOIN tickets_events e "
                               "ON e.id = o.event_id",
                               3, params, webhook_confirmed, req);
    } else if (strcmp(type, "checkout.session.expired") == 0) {
        const char *params[] = {id, session};
        tickets_core->db_query("SELECT tickets_expire_payment($1, $2)", 2, params,
                               webhook_expired, req);
    } else {
        webhook_respond(req, 200, "ignored");
    }
}

void tickets_webhook_handle(odeon_http_request *req)
{
    if (tickets_cfg.stripe.webhook_secret == NULL) {
        webhook_respond(req, 404, "payments are not configured");
        return;
    }
    size_t len = 0;
    const uint8_t *body = tickets_core->http_request_body(req, &len);
    const char *header = tickets_core->http_request_header(req, "Stripe-Signature");
    const char *reason = NULL;
    if (tickets_stripe_verify_signature(tickets_cfg.stripe.webhook_secret, header, body, len,
                                        g_get_real_time() / G_USEC_PER_SEC, 300, &reason) != 0) {
        TICKETS_LOG(ODEON_LOG_WARN, "webhook refused: %s", reason ? reason : "bad signature");
        webhook_respond(req, 400, reason ? reason : "bad signature");
        return;
    }
    json_t *event = json_loadb((const char *)body, len, 0, NULL);
    if (!json_is_object(event)) {
        webhook_respond(req, 400, "body is not a JSON object");
    } else {
        webhook_event(req, event);
    }
    json_decref(event);
}
