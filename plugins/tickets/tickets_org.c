/*
 * tickets_org.c - organisers: sign-up, login (rate limited), members and invitations, and
 * Stripe Connect for the organisation.
 *
 * Passwords are hashed and checked on the worker pool; a login for an unknown email costs the
 * same scrypt work as a known one, and both answer the same error, so neither the time nor the
 * text tells whether an account exists.
 */
#include "tickets.h"
#include "tickets_password.h"
#include "tickets_token.h"
#include "tickets_valid.h"

#include <string.h>

/* A text field of the body, or NULL after answering 481/482. */
static const char *field(tickets_call *call, const char *key, size_t min, size_t max)
{
    json_t *v = json_object_get(call->body, key);
    if (v == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_MISSING, "Missing element (%s)", key);
        return NULL;
    }
    const char *why = tickets_valid_text(v, min, max, false);
    if (why != NULL) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (%s %s)", key, why);
        return NULL;
    }
    return json_string_value(v);
}

static const char *email_field(tickets_call *call)
{
    const char *email = field(call, "email", 3, 254);
    if (email != NULL && !tickets_valid_email(email)) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (email)");
        return NULL;
    }
    return email;
}

/* ---- signup ---- */

/* What sign-up, login and accepting an invitation carry between their steps. */
typedef struct organiser_form {
    char *email, *password, *name, *organisation, *role;
    char *link_hash;     /* accept_invite: the invitation's */
    char *password_hash; /* the new one (signup, accept_invite) or the stored one (login) */
    int64_t user_id, organisation_id;
} organiser_form;

static void organiser_form_free(void *data)
{
    organiser_form *d = data;
    if (d->password != NULL)
        memset(d->password, 0, strlen(d->password));
    g_free(d->email);
    g_free(d->password);
    g_free(d->name);
    g_free(d->organisation);
    g_free(d->role);
    g_free(d->link_hash);
    g_free(d->password_hash);
    g_free(d);
}

static organiser_form *organiser_form_of(tickets_call *call)
{
    organiser_form *d = g_new0(organiser_form, 1);
    call->data = d;
    call->free_data = organiser_form_free;
    return d;
}

static void signup_done(tickets_call *call, const odeon_db_rows *rows)
{
    organiser_form *d = call->data;
    TICKETS_LOG(ODEON_LOG_INFO, "organiser %" G_GINT64_FORMAT " signed up", tickets_row_int(rows, 0));
    tickets_call_reply(call, tickets_organiser_reply(tickets_row_int(rows, 0), d->email, d->name,
                                                     tickets_row_int(rows, 1), d->organisation,
                                                     TICKETS_ROLE_OWNER));
}

static void signup_hash(tickets_call *call)
{
    organiser_form *d = call->data;
    d->password_hash = tickets_password_hash(d->password);
    if (d->password_hash == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE, "Could not hash the password");
        return;
    }
    const char *params[] = {d->email, d->name, d->password_hash, d->organisation};
    tickets_call_query(call, "SELECT user_id, organisation_id FROM tickets_signup($1, $2, $3, $4)",
                       4, params, signup_done);
}

static void request_signup(tickets_call *call)
{
    const char *email, *password, *name, *organisation;
    if ((email = email_field(call)) == NULL || (password = field(call, "password", 10, 200)) == NULL ||
        (name = field(call, "name", 1, 100)) == NULL ||
        (organisation = field(call, "organisation", 1, 200)) == NULL)
        return;
    organiser_form *d = organiser_form_of(call);
    d->email = g_strdup(email);
    d->password = g_strdup(password);
    d->name = g_strdup(name);
    d->organisation = g_strdup(organisation);
    tickets_call_offload(call, signup_hash);
}

/* ---- login ---- */

static void login_failed_recorded(tickets_call *call, const odeon_db_rows *rows)
{
    (void)rows;
    tickets_call_fail(call, TICKETS_ERROR_UNAUTHORIZED, "Wrong email or password");
}

static void login_succeeded(tickets_call *call, const odeon_db_rows *rows)
{
    (void)rows;
    organiser_form *d = call->data;
    if (d->organisation_id == 0) {
        tickets_call_fail(call, TICKETS_ERROR_UNAUTHORIZED,
                          "This account is no longer a member of an organisation");
        return;
    }
    tickets_call_reply(call, tickets_organiser_reply(d->user_id, d->email, d->name,
                                                     d->organisation_id, d->organisation,
                                                     tickets_role_from_name(d->role)));
}

static void login_verify(tickets_call *call)
{
    organiser_form *d = call->data;
    bool ok = tickets_password_verify(d->password, d->password_hash);
    const char *params[] = {d->email};
    if (!ok)
        tickets_call_query(call, "INSERT INTO tickets_login_failures (email) VALUES ($1)", 1,
                           params, login_failed_recorded);
    else
        tickets_call_query(call, "DELETE FROM tickets_login_failures WHERE lower(email) = lower($1)",
                           1, params, login_succeeded);
}

static void login_found(tickets_call *call, const odeon_db_rows *rows)
{
    organiser_form *d = call->data;
    if (tickets_row_int(rows, 0) >= tickets_cfg.login_max_failures) {
        TICKETS_LOG(ODEON_LOG_WARN, "login rate limit reached for an account");
        tickets_call_fail(call, TICKETS_ERROR_RATE_LIMITED,
                          "Too many failed attempts; try again in %d minutes",
                          tickets_cfg.login_window_minutes);
        return;
    }
    d->user_id = tickets_row_int(rows, 1);
    d->password_hash = g_strdup(tickets_row_text(rows, 2));
    d->name = g_strdup(tickets_row_text(rows, 3));
    d->organisation_id = tickets_row_int(rows, 4);
    d->organisation = g_strdup(tickets_row_text(rows, 5));
    d->role = g_strdup(tickets_row_text(rows, 6));
    tickets_call_offload(call, login_verify);
}

static void request_login(tickets_call *call)
{
    const char *email, *password;
    if ((email = email_field(call)) == NULL || (password = field(call, "password", 1, 200)) == NULL)
        return;
    organiser_form *d = organiser_form_of(call);
    d->email = g_strdup(email);
    d->password = g_strdup(password);
    char window[16];
    g_snprintf(window, sizeof window, "%d", tickets_cfg.login_window_minutes);
    const char *params[] = {email, window};
    tickets_call_query(
        call,
        "SELECT (SELECT count(*) FROM tickets_login_failures f WHERE lower(f.email) = lower($1) "
        "AND f.at > now() - make_interval(mins => $2::int)), u.id, u.password_hash, u.name, "
        "m.organisation_id, o.name, m.role FROM (SELECT 1) one "
        "LEFT JOIN tickets_users u ON lower(u.email) = lower($1) "
        "LEFT JOIN tickets_members m ON m.user_id = u.id "
        "LEFT JOIN tickets_organisations o ON o.id = m.organisation_id",
        2, params, login_found);
}

/* ---- who am I, refresh ---- */

static void request_whoami(tickets_call *call)
{
    tickets_who *w = &call->who;
    json_t *identity = json_null();
    char expires[32];
    tickets_format_time(w->expires_at, expires);
    if (w->kind == TICKETS_ORGANISER)
        identity = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s}", "kind", "organiser", "id",
                             (json_int_t)w->id, "name", w->name, "organisation",
                             (json_int_t)w->organisation_id, "role", tickets_role_name(w->role),
                             "expires_at", expires);
    else if (w->kind == TICKETS_PARTICIPANT)
        identity = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s}", "kind", "participant", "id",
                             (json_int_t)w->id, "name", w->name, "event_id",
                             (json_int_t)w->event_id, "role", "participant", "expires_at",
                             expires);
    tickets_call_reply(call, json_pack("{s:o}", "identity", identity));
}

static void request_refresh(tickets_call *call)
{
    tickets_who *w = &call->who;
    int64_t expires = 0;
    char *token = NULL;
    if (w->kind == TICKETS_ORGANISER)
        token = tickets_issue_organiser_token(w->id, w->organisation_id, w->role, w->name,
                                              &expires);
    else if (w->kind == TICKETS_PARTICIPANT)
        token = tickets_issue_participant_credential(w->id, w->event_id, w->name, &expires);
    if (token == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_UNAUTHORIZED, "Sign in first");
        return;
    }
    char when[32];
    tickets_format_time(expires, when);
    tickets_call_reply(call, json_pack("{s:s, s:s}", "token", token, "expires_at", when));
    g_free(token);
}

/* ---- members ---- */

typedef struct invite_data {
    char *secret, *email, *organisation;
} invite_data;

static void invite_data_free(void *data)
{
    invite_data *d = data;
    g_free(d->secret);
    g_free(d->email);
    g_free(d->organisation);
    g_free(d);
}

static void invite_stored(tickets_call *call, const odeon_db_rows *rows)
{
    invite_data *d = call->data;
    if (tickets_core->db_rows_count(rows) == 0) {
        tickets_call_fail(call, TICKETS_ERROR_EXISTS, "An account with this email already exists");
        return;
    }
    char *link = g_strdup_printf("%s/console.html?invite=%s", tickets_cfg.site_url, d->secret);
    char *text = g_strdup_printf(
        "Hello,\n\n%s invited you to organise events on Odeon with %s.\n\nAccept the "
        "invitation and choose your password here (the link works for %d hours):\n\n%s\n",
        call->who.name, tickets_row_text(rows, 0), tickets_cfg.invite_hours, link);
    int rc = tickets_mail_send(tickets_mailer, d->email, "Your invitation to Odeon", text);
    g_free(text);
    g_free(link);
    if (rc != 0)
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (email)");
    else
        tickets_call_reply(call, json_pack("{s:b}", "invited", 1));
}

static void request_add_member(tickets_call *call)
{
    if (!tickets_require_member(call, TICKETS_ROLE_OWNER))
        return;
    const char *email, *role;
    if ((email = email_field(call)) == NULL || (role = field(call, "role", 1, 20)) == NULL)
        return;
    tickets_role r = tickets_role_from_name(role);
    if (r != TICKETS_ROLE_ORGANISER && r != TICKETS_ROLE_HOST) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (role: organiser or host)");
        return;
    }
    invite_data *d = g_new0(invite_data, 1);
    d->secret = tickets_link_secret();
    d->email = g_strdup(email);
    call->data = d;
    call->free_data = invite_data_free;
    if (d->secret == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE, "Could not make an invitation link");
        return;
    }
    char *hash = tickets_link_hash(d->secret);
    char org[24], hours[16];
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    g_snprintf(hours, sizeof hours, "%d", tickets_cfg.invite_hours);
    const char *params[] = {hash, org, email, role, hours};
    tickets_call_query(
        call,
        "INSERT INTO tickets_invites (token_hash, organisation_id, email, role, expires_at) "
        "SELECT $1::bytea, $2::bigint, $3, $4, now() + make_interval(hours => $5::int) "
        "WHERE NOT EXISTS (SELECT 1 FROM tickets_users WHERE lower(email) = lower($3)) "
        "RETURNING (SELECT name FROM tickets_organisations WHERE id = $2::bigint)",
        5, params, invite_stored);
    g_free(hash);
}

static void accept_done(tickets_call *call, const odeon_db_rows *rows)
{
    organiser_form *d = call->data;
    tickets_call_reply(call, tickets_organiser_reply(tickets_row_int(rows, 0), tickets_row_text(rows, 3), d->name,
                                                     tickets_row_int(rows, 1), tickets_row_text(rows, 4),
                                                     tickets_role_from_name(tickets_row_text(rows, 2))));
}

static void accept_hash(tickets_call *call)
{
    organiser_form *d = call->data;
    d->password_hash = tickets_password_hash(d->password);
    if (d->password_hash == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE, "Could not hash the password");
        return;
    }
    const char *params[] = {d->link_hash, d->name, d->password_hash};
    tickets_call_query(call,
                       "SELECT a.user_id, a.organisation_id, a.role, a.email, o.name "
                       "FROM tickets_accept_invite($1::bytea, $2, $3) a "
                       "JOIN tickets_organisations o ON o.id = a.organisation_id",
                       3, params, accept_done);
}

static void request_accept_invite(tickets_call *call)
{
    const char *invite, *name, *password;
    if ((invite = field(call, "invite", 20, 100)) == NULL ||
        (name = field(call, "name", 1, 100)) == NULL ||
        (password = field(call, "password", 10, 200)) == NULL)
        return;
    organiser_form *d = organiser_form_of(call);
    d->link_hash = tickets_link_hash(invite);
    d->name = g_strdup(name);
    d->password = g_strdup(password);
    tickets_call_offload(call, accept_hash);
}

static void members_listed(tickets_call *call, const odeon_db_rows *rows)
{
    json_t *members = tickets_rows_json(rows, 0, 0);
    tickets_call_reply(call, json_pack("{s:o}", "members", members ? members : json_array()));
}

static void request_list_members(tickets_call *call)
{
    if (!tickets_require_member(call, TICKETS_ROLE_HOST))
        return;
    char org[24];
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    const char *params[] = {org};
    tickets_call_query(call,
                       "SELECT COALESCE(json_agg(json_build_object('id', u.id, 'email', u.email, "
                       "'name', u.name, 'role', m.role) ORDER BY u.id), '[]')::text "
                       "FROM tickets_members m JOIN tickets_users u ON u.id = m.user_id "
                       "WHERE m.organisation_id = $1::bigint",
                       1, params, members_listed);
}

static void member_removed(tickets_call *call, const odeon_db_rows *rows)
{
    if (tickets_core->db_rows_count(rows) == 0) {
        tickets_call_fail(call, TICKETS_ERROR_NOT_FOUND,
                          "No such member (owners cannot be removed)");
        return;
    }
    tickets_users_revoke(tickets_row_int(rows, 0));
    tickets_call_reply(call, json_pack("{s:b}", "removed", 1));
}

static void request_remove_member(tickets_call *call)
{
    if (!tickets_require_member(call, TICKETS_ROLE_OWNER))
        return;
    int64_t user = 0;
    if (!tickets_call_id(call, "user_id", &user))
        return;
    char id[24], org[24];
    TICKETS_ID_TEXT(id, user);
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    const char *params[] = {id, org};
    tickets_call_query(call,
                       "WITH d AS (DELETE FROM tickets_members WHERE user_id = $1::bigint "
                       "AND organisation_id = $2::bigint AND role <> 'owner' RETURNING user_id) "
                       "UPDATE tickets_users SET tokens_valid_after = now() "
                       "WHERE id IN (SELECT user_id FROM d) RETURNING id",
                       2, params, member_removed);
}

/* ---- Stripe Connect ---- */

static bool stripe_ready(tickets_call *call)
{
    if (tickets_stripe_configured(&tickets_cfg.stripe))
        return true;
    tickets_call_fail(call, TICKETS_ERROR_STATE, "Payments are not configured on this server");
    return false;
}

static void request_stripe_connect_url(tickets_call *call)
{
    if (!tickets_require_member(call, TICKETS_ROLE_OWNER) || !stripe_ready(call))
        return;
    json_t *ret = json_object_get(call->body, "return_url");
    char *redirect = g_strdup_printf("%s/console.html", tickets_cfg.site_url);
    if (ret != NULL) {
        const char *r = json_string_value(ret);
        /* Only pages of this site: the state would otherwise hand a code to anyone. */
        if (r == NULL || tickets_valid_text(ret, 1, 500, false) != NULL ||
            !g_str_has_prefix(r, tickets_cfg.site_url) || !tickets_valid_url(r) ||
            (r[strlen(tickets_cfg.site_url)] != '/' && r[strlen(tickets_cfg.site_url)] != '\0')) {
            g_free(redirect);
            tickets_call_fail(call, TICKETS_ERROR_INVALID,
                              "Invalid element (return_url must be a page of %s)",
                              tickets_cfg.site_url);
            return;
        }
        g_free(redirect);
        redirect = g_strdup(r);
    }
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    json_t *claims = json_pack("{s:s, s:I, s:I, s:I}", "typ", "stripe_state", "org",
                               (json_int_t)call->who.organisation_id, "uid",
                               (json_int_t)call->who.id, "exp", (json_int_t)(now + 900));
    char *state = tickets_token_sign(tickets_cfg.token_key, sizeof tickets_cfg.token_key, claims);
    json_decref(claims);
    char *url = tickets_stripe_authorize_url(&tickets_cfg.stripe, state, redirect);
    tickets_call_reply(call, json_pack("{s:s}", "url", url));
    g_free(url);
    g_free(state);
    g_free(redirect);
}

static void stripe_stored(tickets_call *call, const odeon_db_rows *rows)
{
    TICKETS_LOG(ODEON_LOG_INFO, "organisation %" G_GINT64_FORMAT " connected Stripe",
                call->who.organisation_id);
    tickets_call_reply(call, json_pack("{s:s}", "stripe_account_id", tickets_row_text(rows, 0)));
}

static void stripe_exchange(tickets_call *call)
{
    char *account = NULL, *error = NULL;
    const char *code = json_string_value(json_object_get(call->body, "code"));
    if (tickets_stripe_oauth_token(&tickets_cfg.stripe, code, &account, &error) != 0) {
        TICKETS_LOG(ODEON_LOG_WARN, "Stripe Connect failed: %s", error ? error : "?");
        tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE, "Stripe refused the connection: %s",
                          error ? error : "unknown error");
        g_free(error);
        return;
    }
    char org[24];
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    const char *params[] = {org, account};
    tickets_call_query(call,
                       "UPDATE tickets_organisations SET stripe_account_id = $2, "
                       "stripe_connected_at = now() WHERE id = $1::bigint RETURNING "
                       "stripe_account_id",
                       2, params, stripe_stored);
    g_free(account);
}

static void request_stripe_connect_complete(tickets_call *call)
{
    if (!tickets_require_member(call, TICKETS_ROLE_OWNER) || !stripe_ready(call))
        return;
    const char *code, *state;
    if ((code = field(call, "code", 1, 300)) == NULL || (state = field(call, "state", 1, 2000)) == NULL)
        return;
    for (const char *p = code; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-') {
            tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (code)");
            return;
        }
    const char *reason = NULL;
    json_t *claims = tickets_token_verify(tickets_cfg.token_key, sizeof tickets_cfg.token_key,
                                          state, "stripe_state",
                                          g_get_real_time() / G_USEC_PER_SEC, &reason);
    bool mine = claims != NULL &&
                json_integer_value(json_object_get(claims, "org")) == call->who.organisation_id;
    json_decref(claims);
    if (!mine) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID,
                          "Invalid element (state: %s); start the connection again",
                          reason ? reason : "not your organisation");
        return;
    }
    tickets_call_offload(call, stripe_exchange);
}

static void stripe_status_read(tickets_call *call, const odeon_db_rows *rows)
{
    const char *account = tickets_row_text(rows, 0);
    tickets_call_reply(call, json_pack("{s:b, s:s?, s:b}", "connected", account != NULL,
                                       "stripe_account_id", account, "payments_enabled",
                                       tickets_stripe_configured(&tickets_cfg.stripe)));
}

static void request_stripe_status(tickets_call *call)
{
    if (!tickets_require_member(call, TICKETS_ROLE_HOST))
        return;
    char org[24];
    TICKETS_ID_TEXT(org, call->who.organisation_id);
    const char *params[] = {org};
    tickets_call_query(call,
                       "SELECT stripe_account_id FROM tickets_organisations WHERE id = $1::bigint",
                       1, params, stripe_status_read);
}

tickets_request_fn tickets_org_request(const char *name)
{
    static const struct {
        const char *name;
        tickets_request_fn fn;
    } table[] = {
        {"signup", request_signup},
        {"login", request_login},
        {"whoami", request_whoami},
        {"refresh", request_refresh},
        {"add_member", request_add_member},
        {"accept_invite", request_accept_invite},
        {"list_members", request_list_members},
        {"remove_member", request_remove_member},
        {"stripe_connect_url", request_stripe_connect_url},
        {"stripe_connect_complete", request_stripe_connect_complete},
        {"stripe_status", request_stripe_status},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].fn;
    return NULL;
}
