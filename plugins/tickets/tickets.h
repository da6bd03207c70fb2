/*
 * tickets.h - what the parts of odeon.plugin.tickets share: its configuration, the caller of a
 * request and the way a request is answered.
 *
 * A request (tickets.c) is validated on the transport thread, acknowledged, and continues in
 * callbacks: PostgreSQL's on the core's main thread, the password hash's and Stripe's on the
 * plugin's worker pools. Whatever thread finishes it answers with tickets_call_reply or
 * tickets_call_fail, which push the event and free the call: exactly one of them, once.
 *
 * Files: tickets.c (descriptor, config, dispatch, auth provider), tickets_org.c (organisers,
 * members, Stripe Connect), tickets_events.c (events, ticket types, registrations list),
 * tickets_register.c (registration, payments, magic links, webhook), tickets_cache.c (the
 * in-memory events every node serves), tickets_http.c (GET /api/events, the webhook route),
 * tickets_token.c (signed tokens), tickets_password.c (scrypt), tickets_valid.c (input
 * checks), tickets_stripe.c, tickets_mail.c.
 */
#ifndef ODEON_TICKETS_TICKETS_H
#define ODEON_TICKETS_TICKETS_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <jansson.h>

#include "plugin/plugin.h"
#include "tickets_mail.h"
#include "tickets_stripe.h"

extern const odeon_core_callbacks *tickets_core;
extern const odeon_plugin odeon_plugin_descriptor;

#define TICKETS_LOG(level, ...) tickets_core->log(level, "tickets", __VA_ARGS__)

/* Error codes of the plugin's replies (docs/api.md). */
enum {
    TICKETS_ERROR_INVALID_REQUEST = 480,
    TICKETS_ERROR_MISSING = 481,
    TICKETS_ERROR_INVALID = 482,
    TICKETS_ERROR_UNAUTHORIZED = 483,
    TICKETS_ERROR_NOT_FOUND = 484,
    TICKETS_ERROR_STATE = 485,
    TICKETS_ERROR_SOLD_OUT = 486,
    TICKETS_ERROR_RATE_LIMITED = 487,
    TICKETS_ERROR_UNAVAILABLE = 488,
    TICKETS_ERROR_EXISTS = 489,
};

/* Read at init, constant afterwards. */
typedef struct tickets_config {
    char *site_url;
    uint8_t token_key[32];
    int organiser_token_hours;
    int participant_credential_hours;
    int magic_link_minutes;
    int invite_hours;
    int checkout_hold_minutes;
    int login_max_failures;
    int login_window_minutes;
    char *terms_version;
    char *consent_version;
    int cache_seconds;
    tickets_stripe_config stripe;
    char *stripe_strings[5]; /* owners of stripe's const strings */
} tickets_config;

extern tickets_config tickets_cfg;
extern tickets_mail *tickets_mailer;

typedef enum {
    TICKETS_ANONYMOUS,
    TICKETS_ORGANISER, /* a member of an organisation: owner, organiser or host */
    TICKETS_PARTICIPANT,
} tickets_kind;

typedef enum {
    TICKETS_ROLE_NONE,
    TICKETS_ROLE_HOST,
    TICKETS_ROLE_ORGANISER,
    TICKETS_ROLE_OWNER,
} tickets_role;

/* Who sent a request, from the session's identity (copied: the call may outlive nothing but
 * itself). */
typedef struct tickets_who {
    tickets_kind kind;
    int64_t id;              /* user id or participant id */
    int64_t organisation_id; /* organisers */
    tickets_role role;       /* organisers */
    int64_t event_id;        /* participants */
    char name[128];
    int64_t expires_at; /* of the token the session was created with */
} tickets_who;

/* One request in flight. Owned by the code that holds it; ends in reply or fail. */
typedef struct tickets_call {
    odeon_plugin_handle *handle; /* a reference */
    char *transaction;
    char *request;
    json_t *body; /* a reference */
    tickets_who who;
    void *data;                 /* the step's own state, freed with free_data */
    void (*free_data)(void *data);
} tickets_call;

/* Answers {"tickets": request, ...data} (data stolen, may be NULL) and frees the call. */
void tickets_call_reply(tickets_call *call, json_t *data);
/* Answers {"tickets": "error", "error_code": code, "error": reason} and frees the call. */
void tickets_call_fail(tickets_call *call, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs a statement whose answer continues the call; a database failure answers 488. */
typedef void (*tickets_step_fn)(tickets_call *call, const odeon_db_rows *rows);
void tickets_call_query(tickets_call *call, const char *sql, int n, const char *const *params,
                        tickets_step_fn step);
/* The error code a failed statement maps to (a "tickets:<what>" exception), and its reason. */
int tickets_db_error_code(const char *error, const char **reason);

/* Requests by area: each answers the call itself (returns nothing). */
typedef void (*tickets_request_fn)(tickets_call *call);
tickets_request_fn tickets_org_request(const char *name);
tickets_request_fn tickets_events_request(const char *name);
tickets_request_fn tickets_register_request(const char *name);

/* Authorisation helpers: true when allowed; otherwise the call was answered with 483. */
bool tickets_require_member(tickets_call *call, tickets_role at_least);
bool tickets_require_participant(tickets_call *call);

/* Work that blocks (scrypt, Stripe) on the plugin's pool: fn(call) runs on a worker. */
void tickets_call_offload(tickets_call *call, void (*fn)(tickets_call *call));

/* Tokens for identities (tickets.c): organiser and participant, signed with token_key. */
char *tickets_issue_organiser_token(int64_t user_id, int64_t organisation_id, tickets_role role,
                                    const char *name, int64_t *expires_at);
char *tickets_issue_participant_credential(int64_t participant_id, int64_t event_id,
                                           const char *name, int64_t *expires_at);
const char *tickets_role_name(tickets_role role);
tickets_role tickets_role_from_name(const char *name);
/* An organiser's reply (signup, login, accept_invite): token and who. */
json_t *tickets_organiser_reply(int64_t user_id, const char *email, const char *name,
                                int64_t organisation_id, const char *organisation,
                                tickets_role role);

/* A single-use sign-in link mailed to a participant (tickets_register.c). subject and intro
 * (the sentence before the link) default to the registration's; next is the page the
 * sign-in page opens afterwards (a path on this site), or NULL. Strings are copied. */
typedef struct tickets_link_mail {
    int64_t participant_id;
    const char *email;
    const char *title; /* the event's */
    const char *subject;
    const char *intro;
    const char *next;
} tickets_link_mail;
typedef void (*tickets_link_sent_fn)(bool ok, void *user_data);
/* Stores the link and sends the mail; done(ok) runs once, on the main thread or before this
 * returns. */
void tickets_send_link(const tickets_link_mail *m, tickets_link_sent_fn done, void *user_data);
tickets_request_fn tickets_breakout_request(const char *name);

/* Stripe's webhook (tickets_register.c): verifies and applies one delivery. */
void tickets_webhook_handle(odeon_http_request *req);

/* The caller described by a session identity; false (and *who anonymous) when the identity
 * is not one of ours or its member was removed since. */
bool tickets_who_from_identity(const odeon_identity *identity, tickets_who *who);
/* A member was removed: this node refuses their tokens from now on (the others learn it from
 * the notification). */
void tickets_users_revoke(int64_t user_id);
/* Column col of a statement's first row: its text (NULL for SQL NULL or no row), or that text
 * as an integer (0 for NULL). */
const char *tickets_row_text(const odeon_db_rows *rows, int col);
int64_t tickets_row_int(const odeon_db_rows *rows, int col);
/* An id as the text of a statement parameter, into a char array of 24. */
#define TICKETS_ID_TEXT(buf, v) g_snprintf(buf, sizeof buf, "%" G_GINT64_FORMAT, (int64_t)(v))

/* A field of a result parsed as JSON (new reference), NULL for SQL NULL or no such row. */
json_t *tickets_rows_json(const odeon_db_rows *rows, int row, int column);

/* An id of the body: a positive integer, or a string of digits (ids travel as strings too).
 * false after answering 481 (missing) or 482 (anything else). */
bool tickets_call_id(tickets_call *call, const char *key, int64_t *out);

#endif
