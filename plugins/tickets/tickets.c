/*
 * tickets.c - descriptor, configuration, request dispatch and the auth provider of
 * odeon.plugin.tickets.
 *
 * Identities: an organiser token or a participant credential is verified from memory (its
 * MAC and expiry) plus the users cache, which every node keeps current from NOTIFY
 * tickets_users: a removed member or a changed role takes effect at once on every node,
 * without a database round trip per request.
 */
#include "tickets.h"

#include "../common/plugin_common.h"
#include "tickets_cache.h"
#include "tickets_http.h"
#include "tickets_token.h"
#include "tickets_valid.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

const odeon_core_callbacks *tickets_core;
tickets_config tickets_cfg;
tickets_mail *tickets_mailer;

static GThreadPool *workers;
static guint sweep_timer;
static bool curl_initialised;

/* ---- users cache: who is still a member, in which role, since when ---- */

typedef struct user_entry {
    int64_t organisation_id; /* 0: not a member any more */
    tickets_role role;
    int64_t valid_after; /* unix seconds; tokens issued before are refused */
} user_entry;

static GMutex users_lock;
static GHashTable *users; /* int64 id -> user_entry */

static const char *users_sql =
    "SELECT u.id, COALESCE(m.organisation_id, 0), COALESCE(m.role, ''), "
    "CASE WHEN u.tokens_valid_after = '-infinity' THEN 0 "
    "ELSE floor(extract(epoch FROM u.tokens_valid_after))::bigint END "
    "FROM tickets_users u LEFT JOIN tickets_members m ON m.user_id = u.id";

static void users_loaded(const odeon_db_rows *rows, const char *error, void *user_data)
{
    bool all = GPOINTER_TO_INT(user_data);
    if (users == NULL)
        return; /* answered while the plugin stops */
    if (rows == NULL) {
        TICKETS_LOG(ODEON_LOG_WARN, "users cache: %s", error);
        return;
    }
    g_mutex_lock(&users_lock);
    if (all)
        g_hash_table_remove_all(users);
    for (int i = 0; i < tickets_core->db_rows_count(rows); i++) {
        int64_t *id = g_new(int64_t, 1);
        *id = g_ascii_strtoll(tickets_core->db_rows_value(rows, i, 0), NULL, 10);
        user_entry *e = g_new(user_entry, 1);
        e->organisation_id = g_ascii_strtoll(tickets_core->db_rows_value(rows, i, 1), NULL, 10);
        e->role = tickets_role_from_name(tickets_core->db_rows_value(rows, i, 2));
        e->valid_after = g_ascii_strtoll(tickets_core->db_rows_value(rows, i, 3), NULL, 10);
        g_hash_table_replace(users, id, e);
    }
    g_mutex_unlock(&users_lock);
}

static void users_reload(const char *user_id)
{
    if (user_id == NULL) {
        tickets_core->db_query(users_sql, 0, NULL, users_loaded, GINT_TO_POINTER(1));
        return;
    }
    char *sql = g_strconcat(users_sql, " WHERE u.id = $1", NULL);
    const char *params[] = {user_id};
    tickets_core->db_query(sql, 1, params, users_loaded, GINT_TO_POINTER(0));
    g_free(sql);
}

static void users_changed(const char *channel, const char *payload, void *user_data)
{
    (void)channel;
    (void)user_data;
    users_reload(payload);
}

/* Current membership of a user: false when the cache says the token is no longer good. */
static bool users_current(int64_t user_id, int64_t issued_at, int64_t *organisation_id,
                          tickets_role *role)
{
    bool ok = true;
    g_mutex_lock(&users_lock);
    user_entry *e = g_hash_table_lookup(users, &user_id);
    /* A user the cache has not heard of yet (signed up on another node a moment ago) is as
     * the freshly signed token says. */
    if (e != NULL) {
        ok = e->organisation_id != 0 && issued_at >= e->valid_after;
        *organisation_id = e->organisation_id;
        *role = e->role;
    }
    g_mutex_unlock(&users_lock);
    return ok;
}

void tickets_users_revoke(int64_t user_id)
{
    int64_t *id = g_new(int64_t, 1);
    *id = user_id;
    user_entry *e = g_new0(user_entry, 1);
    e->valid_after = G_MAXINT64;
    g_mutex_lock(&users_lock);
    g_hash_table_replace(users, id, e);
    g_mutex_unlock(&users_lock);
}

const char *tickets_row_text(const odeon_db_rows *rows, int col)
{
    return tickets_core->db_rows_value(rows, 0, col);
}

int64_t tickets_row_int(const odeon_db_rows *rows, int col)
{
    const char *v = tickets_row_text(rows, col);
    return v ? g_ascii_strtoll(v, NULL, 10) : 0;
}

json_t *tickets_rows_json(const odeon_db_rows *rows, int row, int column)
{
    const char *text = tickets_core->db_rows_value(rows, row, column);
    return text ? json_loads(text, 0, NULL) : NULL;
}

/* ---- roles and tokens ---- */

const char *tickets_role_name(tickets_role role)
{
    switch (role) {
    case TICKETS_ROLE_OWNER: return "owner";
    case TICKETS_ROLE_ORGANISER: return "organiser";
    case TICKETS_ROLE_HOST: return "host";
    default: return NULL;
    }
}

tickets_role tickets_role_from_name(const char *name)
{
    if (name == NULL)
        return TICKETS_ROLE_NONE;
    if (strcmp(name, "owner") == 0)
        return TICKETS_ROLE_OWNER;
    if (strcmp(name, "organiser") == 0)
        return TICKETS_ROLE_ORGANISER;
    if (strcmp(name, "host") == 0)
        return TICKETS_ROLE_HOST;
    return TICKETS_ROLE_NONE;
}

static char *issue(json_t *claims, int hours, int64_t *expires_at)
{
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    *expires_at = now + (int64_t)hours * 3600;
    json_object_set_new(claims, "iat", json_integer(now));
    json_object_set_new(claims, "exp", json_integer(*expires_at));
    char *token = tickets_token_sign(tickets_cfg.token_key, sizeof tickets_cfg.token_key, claims);
    json_decref(claims);
    return token;
}

char *tickets_issue_organiser_token(int64_t user_id, int64_t organisation_id, tickets_role role,
                                    const char *name, int64_t *expires_at)
{
    json_t *claims = json_pack("{s:s, s:I, s:I, s:s, s:s}", "typ", "organiser", "uid",
                               (json_int_t)user_id, "org", (json_int_t)organisation_id, "role",
                               tickets_role_name(role), "name", name);
    return issue(claims, tickets_cfg.organiser_token_hours, expires_at);
}

char *tickets_issue_participant_credential(int64_t participant_id, int64_t event_id,
                                           const char *name, int64_t *expires_at)
{
    json_t *claims = json_pack("{s:s, s:I, s:I, s:s}", "typ", "participant", "pid",
                               (json_int_t)participant_id, "ev", (json_int_t)event_id, "name",
                               name);
    return issue(claims, tickets_cfg.participant_credential_hours, expires_at);
}

json_t *tickets_organiser_reply(int64_t user_id, const char *email, const char *name,
                                int64_t organisation_id, const char *organisation,
                                tickets_role role)
{
    int64_t expires = 0;
    char *token = tickets_issue_organiser_token(user_id, organisation_id, role, name, &expires);
    char when[32];
    tickets_format_time(expires, when);
    json_t *reply = json_pack(
        "{s:s, s:s, s:{s:I, s:s, s:s}, s:{s:I, s:s}, s:s}", "token", token, "expires_at", when,
        "user", "id", (json_int_t)user_id, "email", email, "name", name, "organisation", "id",
        (json_int_t)organisation_id, "name", organisation ? organisation : "", "role",
        tickets_role_name(role));
    g_free(token);
    return reply;
}

/* ---- the auth provider ---- */

/* Verified claims of a token, re-checked against the users cache for organisers. */
static json_t *claims_of(const char *token)
{
    const char *reason = NULL;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    json_t *claims = tickets_token_verify(tickets_cfg.token_key, sizeof tickets_cfg.token_key,
                                          token, NULL, now, &reason);
    if (claims == NULL)
        return NULL;
    const char *typ = json_string_value(json_object_get(claims, "typ"));
    if (strcmp(typ, "organiser") == 0) {
        int64_t org = json_integer_value(json_object_get(claims, "org"));
        tickets_role role = tickets_role_from_name(
            json_string_value(json_object_get(claims, "role")));
        if (!users_current(json_integer_value(json_object_get(claims, "uid")),
                           json_integer_value(json_object_get(claims, "iat")), &org, &role)) {
            json_decref(claims);
            return NULL;
        }
        json_object_set_new(claims, "org", json_integer(org));
        json_object_set_new(claims, "role", json_string(tickets_role_name(role)));
    } else if (strcmp(typ, "participant") != 0) {
        json_decref(claims);
        return NULL;
    }
    return claims;
}

static int provider_resolve(void *user_data, const char *token, odeon_identity **out)
{
    (void)user_data;
    json_t *claims = claims_of(token);
    if (claims == NULL)
        return ODEON_EPERM;
    bool organiser = strcmp(json_string_value(json_object_get(claims, "typ")), "organiser") == 0;
    odeon_identity *id = g_new0(odeon_identity, 1);
    id->subject = g_strdup_printf(
        "%s:%" G_GINT64_FORMAT, organiser ? "organiser" : "participant",
        (int64_t)json_integer_value(json_object_get(claims, organiser ? "uid" : "pid")));
    id->display_name = g_strdup(json_string_value(json_object_get(claims, "name")));
    id->organisation =
        organiser ? g_strdup_printf("%" G_GINT64_FORMAT,
                                    (int64_t)json_integer_value(json_object_get(claims, "org")))
                  : NULL;
    id->provider = "tickets";
    id->claims = claims;
    *out = id;
    return 0;
}

static void provider_identity_free(void *user_data, odeon_identity *id)
{
    (void)user_data;
    g_free((char *)id->subject);
    g_free((char *)id->display_name);
    g_free((char *)id->organisation);
    json_decref(id->claims);
    g_free(id);
}

static const char *provider_event_role(void *user_data, const odeon_identity *identity,
                                       const char *event_id)
{
    (void)user_data;
    tickets_who who;
    if (!tickets_who_from_identity(identity, &who))
        return NULL;
    int64_t event = g_ascii_strtoll(event_id, NULL, 10);
    if (who.kind == TICKETS_PARTICIPANT)
        return who.event_id == event ? "participant" : NULL;
    int64_t org = tickets_cache_event_organisation(event);
    return org != 0 && org == who.organisation_id ? tickets_role_name(who.role) : NULL;
}

static const odeon_auth_provider provider = {
    .name = "tickets",
    .resolve = provider_resolve,
    .identity_free = provider_identity_free,
    .user_data = NULL,
    .event_role = provider_event_role,
};

bool tickets_who_from_identity(const odeon_identity *identity, tickets_who *who)
{
    memset(who, 0, sizeof *who);
    if (identity == NULL || identity->provider == NULL ||
        strcmp(identity->provider, "tickets") != 0 || identity->claims == NULL)
        return false;
    json_t *c = identity->claims;
    const char *typ = json_string_value(json_object_get(c, "typ"));
    g_strlcpy(who->name, identity->display_name ? identity->display_name : "",
              sizeof who->name);
    if (strcmp(typ, "participant") == 0) {
        who->expires_at = json_integer_value(json_object_get(c, "exp"));
        who->kind = TICKETS_PARTICIPANT;
        who->id = json_integer_value(json_object_get(c, "pid"));
        who->event_id = json_integer_value(json_object_get(c, "ev"));
        return true;
    }
    who->expires_at = json_integer_value(json_object_get(c, "exp"));
    who->kind = TICKETS_ORGANISER;
    who->id = json_integer_value(json_object_get(c, "uid"));
    who->organisation_id = json_integer_value(json_object_get(c, "org"));
    who->role = tickets_role_from_name(json_string_value(json_object_get(c, "role")));
    /* The session's identity was resolved when it was created: a removal or role change since
     * then applies now. */
    if (!users_current(who->id, json_integer_value(json_object_get(c, "iat")),
                       &who->organisation_id, &who->role)) {
        memset(who, 0, sizeof *who);
        return false;
    }
    return true;
}

bool tickets_require_member(tickets_call *call, tickets_role at_least)
{
    if (call->who.kind == TICKETS_ORGANISER && call->who.role >= at_least)
        return true;
    tickets_call_fail(call, TICKETS_ERROR_UNAUTHORIZED,
                      call->who.kind == TICKETS_ORGANISER ? "Your role does not allow this"
                                                          : "Sign in as an organiser first");
    return false;
}

bool tickets_require_participant(tickets_call *call)
{
    if (call->who.kind == TICKETS_PARTICIPANT)
        return true;
    tickets_call_fail(call, TICKETS_ERROR_UNAUTHORIZED, "Sign in with your email link first");
    return false;
}

/* ---- calls ---- */

static void call_free(tickets_call *call)
{
    if (call->free_data != NULL)
        call->free_data(call->data);
    tickets_core->handle_unref(call->handle);
    g_free(call->transaction);
    g_free(call->request);
    json_decref(call->body);
    g_free(call);
}

void tickets_call_reply(tickets_call *call, json_t *data)
{
    json_t *event = json_pack("{s:s}", "tickets", call->request);
    if (data != NULL)
        json_object_update(event, data);
    json_decref(data);
    tickets_core->push_event(call->handle, call->transaction, event, NULL);
    json_decref(event);
    call_free(call);
}

void tickets_call_fail(tickets_call *call, int code, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    char *reason = g_strdup_vprintf(format, ap);
    va_end(ap);
    /* Once per refusal, without the request's values (they may be personal data); failures
     * of our own (488) were logged with their cause where they happened. */
    if (code != TICKETS_ERROR_UNAVAILABLE)
        TICKETS_LOG(ODEON_LOG_INFO, "%s refused (%d): %s", call->request, code, reason);
    json_t *event = json_pack("{s:s, s:s, s:i, s:s}", "tickets", "error", "request",
                              call->request, "error_code", code, "error", reason);
    tickets_core->push_event(call->handle, call->transaction, event, NULL);
    json_decref(event);
    g_free(reason);
    call_free(call);
}

typedef struct query_step {
    tickets_call *call;
    tickets_step_fn step;
} query_step;

int tickets_db_error_code(const char *error, const char **reason)
{
    static const struct {
        const char *key;
        int code;
        const char *reason;
    } known[] = {
        {"tickets:exists", TICKETS_ERROR_EXISTS, "An account with this email already exists"},
        {"tickets:not_found", TICKETS_ERROR_NOT_FOUND, "No such event or ticket type"},
        {"tickets:not_live", TICKETS_ERROR_STATE, "This event is not open for registration"},
        {"tickets:sales_closed", TICKETS_ERROR_STATE, "Ticket sales are closed"},
        {"tickets:sold_out", TICKETS_ERROR_SOLD_OUT, "Sold out"},
        {"tickets:invalid_link", TICKETS_ERROR_INVALID, "This link is invalid, used or expired"},
        {"tickets:state", TICKETS_ERROR_STATE, "A breakout is running: end it first"},
        {"tickets:deadline", TICKETS_ERROR_STATE, "The submission deadline has passed"},
        {"tickets:no_group", TICKETS_ERROR_NOT_FOUND,
         "No such group or member in the event's running breakout"},
        /* What the plugin cannot check alone, e.g. an update's new end before the event's
         * stored start: the table's CHECK refuses it and nothing is stored. */
        {"violates check constraint", TICKETS_ERROR_INVALID,
         "Invalid element (a value out of range: an end before its start, a quantity below "
         "what was sold)"},
    };
    for (size_t i = 0; error != NULL && i < G_N_ELEMENTS(known); i++)
        if (strstr(error, known[i].key) != NULL) {
            *reason = known[i].reason;
            return known[i].code;
        }
    *reason = "The database is unavailable, nothing was changed; try again";
    return TICKETS_ERROR_UNAVAILABLE;
}

static void query_done(const odeon_db_rows *rows, const char *error, void *user_data)
{
    query_step *qs = user_data;
    tickets_call *call = qs->call;
    tickets_step_fn step = qs->step;
    g_free(qs);
    if (rows == NULL) {
        const char *reason = NULL;
        int code = tickets_db_error_code(error, &reason);
        if (code == TICKETS_ERROR_UNAVAILABLE)
            TICKETS_LOG(ODEON_LOG_WARN, "%s: %s", call->request, error ? error : "failed");
        tickets_call_fail(call, code, "%s", reason);
        return;
    }
    step(call, rows);
}

void tickets_call_query(tickets_call *call, const char *sql, int n, const char *const *params,
                        tickets_step_fn step)
{
    query_step *qs = g_new(query_step, 1);
    *qs = (query_step){call, step};
    if (tickets_core->db_query(sql, n, params, query_done, qs) != 0) {
        g_free(qs);
        tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE, "The database is unavailable");
    }
}

typedef struct offload_job {
    tickets_call *call;
    void (*fn)(tickets_call *call);
} offload_job;

static void offload_run(gpointer data, gpointer user_data)
{
    (void)user_data;
    offload_job *job = data;
    job->fn(job->call);
    g_free(job);
}

void tickets_call_offload(tickets_call *call, void (*fn)(tickets_call *call))
{
    /* scrypt costs 32 MiB and ~100 ms: a flood of logins waits in a short queue, not in
     * memory without bound. */
    if (g_thread_pool_unprocessed(workers) > 64) {
        tickets_call_fail(call, TICKETS_ERROR_UNAVAILABLE, "Busy, try again in a moment");
        return;
    }
    offload_job *job = g_new(offload_job, 1);
    *job = (offload_job){call, fn};
    g_thread_pool_push(workers, job, NULL);
}

bool tickets_call_id(tickets_call *call, const char *key, int64_t *out)
{
    json_t *v = json_object_get(call->body, key);
    if (v == NULL) {
        tickets_call_fail(call, TICKETS_ERROR_MISSING, "Missing element (%s)", key);
        return false;
    }
    if (!odeon_body_id(call->body, key, out)) {
        tickets_call_fail(call, TICKETS_ERROR_INVALID, "Invalid element (%s must be an id)", key);
        return false;
    }
    return true;
}

/* ---- requests ---- */

static tickets_request_fn request_find(const char *name)
{
    tickets_request_fn fn = tickets_org_request(name);
    if (fn == NULL)
        fn = tickets_events_request(name);
    if (fn == NULL)
        fn = tickets_register_request(name);
    if (fn == NULL)
        fn = tickets_breakout_request(name);
    return fn;
}

static odeon_plugin_result tickets_handle_message(odeon_plugin_handle *handle,
                                                  const char *transaction, json_t *body,
                                                  json_t *jsep)
{
    (void)jsep;
    const char *name = json_string_value(json_object_get(body, "request"));
    tickets_call *call = g_new0(tickets_call, 1);
    call->handle = tickets_core->handle_ref(handle);
    call->transaction = g_strdup(transaction);
    call->request = g_strdup(name && strlen(name) <= 40 ? name : "unknown");
    call->body = json_incref(body);
    tickets_who_from_identity(tickets_core->identity(handle), &call->who);
    tickets_request_fn fn = name ? request_find(name) : NULL;
    if (fn == NULL) {
        tickets_call_fail(call, name ? TICKETS_ERROR_INVALID_REQUEST : TICKETS_ERROR_MISSING,
                          name ? "Unknown request" : "Missing element (request)");
    } else {
        fn(call);
    }
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT};
}

static int tickets_create_session(odeon_plugin_handle *handle)
{
    (void)handle;
    return 0;
}

static void tickets_destroy_session(odeon_plugin_handle *handle)
{
    (void)handle;
}

static json_t *tickets_query_session(odeon_plugin_handle *handle)
{
    tickets_who who;
    if (!tickets_who_from_identity(tickets_core->identity(handle), &who))
        return json_pack("{s:s}", "identity", "anonymous");
    return json_pack("{s:s, s:I}", "identity",
                     who.kind == TICKETS_PARTICIPANT ? "participant" : "organiser", "id",
                     (json_int_t)who.id);
}

/* ---- configuration ---- */

static char *conf_string(GKeyFile *kf, const char *group, const char *key, const char *dflt)
{
    char *v = g_key_file_get_string(kf, group, key, NULL);
    if (v != NULL)
        g_strstrip(v);
    if (v == NULL || *v == '\0') {
        g_free(v);
        return dflt ? g_strdup(dflt) : NULL;
    }
    return v;
}

static int conf_int(GKeyFile *kf, const char *group, const char *key, int dflt, int min, int max,
                    char **error)
{
    GError *err = NULL;
    int v = g_key_file_get_integer(kf, group, key, &err);
    if (err != NULL) {
        bool missing = g_error_matches(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) ||
                       g_error_matches(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND);
        g_error_free(err);
        if (missing)
            return dflt;
        v = min - 1;
    }
    if ((v < min || v > max) && *error == NULL)
        *error = g_strdup_printf("[%s] %s must be %d..%d", group, key, min, max);
    return v;
}

static void derive_token_key(const char *secret)
{
    unsigned int len = sizeof tickets_cfg.token_key;
    if (secret != NULL) {
        static const char label[] = "odeon tickets token key v1";
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)label,
             sizeof label - 1, tickets_cfg.token_key, &len);
    } else if (tickets_core->node_derive_key("tickets-token", tickets_cfg.token_key,
                                             sizeof tickets_cfg.token_key) != 0) {
        RAND_bytes(tickets_cfg.token_key, sizeof tickets_cfg.token_key);
        TICKETS_LOG(ODEON_LOG_WARN, "no token_secret: tokens are signed with a random key and "
                                    "stop working when this process ends (development only)");
    }
}

static char *default_site_url(void)
{
    const odeon_node_info *node = tickets_core->node_info();
    if (node != NULL && node->public_url != NULL && *node->public_url)
        return g_strdup(node->public_url);
    TICKETS_LOG(ODEON_LOG_WARN, "no [general] site_url: links in emails point at "
                                "http://localhost:8088");
    return g_strdup("http://localhost:8088");
}

static int read_general(GKeyFile *kf, char **error)
{
    const char *g = "general";
    tickets_cfg.site_url = conf_string(kf, g, "site_url", NULL);
    if (tickets_cfg.site_url == NULL)
        tickets_cfg.site_url = default_site_url();
    size_t n = strlen(tickets_cfg.site_url);
    while (n > 0 && tickets_cfg.site_url[n - 1] == '/')
        tickets_cfg.site_url[--n] = '\0';
    char *secret = conf_string(kf, g, "token_secret", NULL);
    if (secret != NULL && strlen(secret) < 32)
        *error = g_strdup("[general] token_secret must have 32 characters or more");
    derive_token_key(secret);
    if (secret != NULL)
        memset(secret, 0, strlen(secret));
    g_free(secret);
    tickets_cfg.organiser_token_hours = conf_int(kf, g, "organiser_token_hours", 12, 1, 720, error);
    tickets_cfg.participant_credential_hours =
        conf_int(kf, g, "participant_credential_hours", 4, 1, 168, error);
    tickets_cfg.magic_link_minutes = conf_int(kf, g, "magic_link_minutes", 15, 1, 1440, error);
    tickets_cfg.invite_hours = conf_int(kf, g, "invite_hours", 72, 1, 720, error);
    tickets_cfg.checkout_hold_minutes =
        conf_int(kf, g, "checkout_hold_minutes", 30, 30, 1440, error);
    tickets_cfg.login_max_failures = conf_int(kf, g, "login_max_failures", 5, 1, 1000, error);
    tickets_cfg.login_window_minutes = conf_int(kf, g, "login_window_minutes", 15, 1, 1440, error);
    tickets_cfg.terms_version = conf_string(kf, g, "terms_version", "2026-01");
    tickets_cfg.consent_version = conf_string(kf, g, "consent_version", "2026-01");
    tickets_cfg.cache_seconds = conf_int(kf, g, "cache_seconds", 10, 0, 86400, error);
    return *error ? -1 : 0;
}

static int read_stripe(GKeyFile *kf, char **error)
{
    const char *s = "stripe";
    char **str = tickets_cfg.stripe_strings;
    str[0] = conf_string(kf, s, "secret_key", NULL);
    str[1] = conf_string(kf, s, "client_id", NULL);
    str[2] = conf_string(kf, s, "webhook_secret", NULL);
    str[3] = conf_string(kf, s, "api_base", "https://api.stripe.com");
    str[4] = conf_string(kf, s, "connect_base", "https://connect.stripe.com");
    tickets_cfg.stripe = (tickets_stripe_config){
        .secret_key = str[0],
        .client_id = str[1],
        .webhook_secret = str[2],
        .api_base = str[3],
        .connect_base = str[4],
        .timeout_ms = conf_int(kf, s, "timeout_ms", 15000, 1000, 120000, error),
    };
    if (tickets_stripe_configured(&tickets_cfg.stripe) && str[2] == NULL && *error == NULL)
        *error = g_strdup("[stripe] webhook_secret is needed with secret_key");
    return *error ? -1 : 0;
}

static int read_mail(GKeyFile *kf, char **error)
{
    const char *m = "mail";
    char *outbox = conf_string(kf, m, "outbox_dir", NULL);
    char *smtp_url = conf_string(kf, m, "smtp_url", NULL);
    char *user = conf_string(kf, m, "smtp_user", NULL);
    char *password = conf_string(kf, m, "smtp_password", NULL);
    char *from = conf_string(kf, m, "from", "Odeon <events@localhost>");
    tickets_mail_config mc = {
        .outbox_dir = outbox,
        .smtp_url = smtp_url,
        .smtp_require_tls = g_key_file_get_boolean(kf, m, "smtp_require_tls", NULL),
        .smtp_user = user,
        .smtp_password = password,
        .from = from,
        .timeout_ms = 15000,
    };
    char *mail_error = NULL;
    if (outbox == NULL && smtp_url == NULL) {
        mail_error = g_strdup("[mail] needs outbox_dir or smtp_url");
    } else {
        tickets_mailer = tickets_mail_new(&mc, tickets_core->log, &mail_error);
    }
    if (tickets_mailer == NULL)
        *error = g_strdup_printf("%s", mail_error ? mail_error : "[mail] unusable");
    g_free(mail_error);
    if (password != NULL)
        memset(password, 0, strlen(password));
    g_free(outbox);
    g_free(smtp_url);
    g_free(user);
    g_free(password);
    g_free(from);
    return *error ? -1 : 0;
}

static void config_free(void)
{
    g_free(tickets_cfg.site_url);
    g_free(tickets_cfg.terms_version);
    g_free(tickets_cfg.consent_version);
    for (size_t i = 0; i < G_N_ELEMENTS(tickets_cfg.stripe_strings); i++) {
        char *s = tickets_cfg.stripe_strings[i];
        if (s != NULL)
            memset(s, 0, strlen(s));
        g_free(s);
    }
    memset(&tickets_cfg, 0, sizeof tickets_cfg);
}

static int read_config(const char *path)
{
    GKeyFile *kf = g_key_file_new();
    GError *err = NULL;
    char *error = NULL;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
        if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            error = g_strdup_printf("%s: %s", path, err->message);
        g_clear_error(&err);
    }
    if (error == NULL)
        read_general(kf, &error);
    if (error == NULL)
        read_stripe(kf, &error);
    if (error == NULL)
        read_mail(kf, &error);
    g_key_file_free(kf);
    if (error != NULL) {
        TICKETS_LOG(ODEON_LOG_ERROR, "%s", error);
        g_free(error);
        return -1;
    }
    return 0;
}

/* ---- life cycle ---- */

static gboolean sweep(gpointer data)
{
    (void)data;
    static const char *const statements[] = {
        "SELECT tickets_release_stale(interval '1 hour')",
        "DELETE FROM tickets_login_failures WHERE at < now() - interval '1 day'",
        "DELETE FROM tickets_magic_links WHERE expires_at < now() - interval '1 day'",
        "DELETE FROM tickets_invites WHERE expires_at < now() - interval '7 days'",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(statements); i++)
        tickets_core->db_query(statements[i], 0, NULL, NULL, NULL);
    return G_SOURCE_CONTINUE;
}

static void tickets_destroy(void);

static int tickets_init(const odeon_core_callbacks *core, const char *config_path)
{
    tickets_core = core;
    if (core->struct_size < offsetof(odeon_core_callbacks, event_role) + sizeof(void *)) {
        core->log(ODEON_LOG_ERROR, "tickets", "this core is too old (needs plugin ABI 1.6)");
        return -1;
    }
    /* Before any thread of ours exists: older libcurl set itself up lazily and unlocked. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl_initialised = true;
    if (read_config(config_path) != 0) {
        tickets_destroy();
        return -1;
    }
    g_mutex_init(&users_lock);
    users = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    workers = g_thread_pool_new(offload_run, NULL, 4, FALSE, NULL);
    tickets_cache_init();
    if (core->db_listen("tickets_users", users_changed, NULL) != 0 ||
        tickets_cache_listen() != 0) {
        TICKETS_LOG(ODEON_LOG_ERROR, "the tickets plugin needs [database] in odeon.conf");
        tickets_destroy();
        return -1;
    }
    users_reload(NULL);
    if (tickets_http_init() != 0 || core->auth_provider_register(&odeon_plugin_descriptor,
                                                                 &provider) != 0) {
        TICKETS_LOG(ODEON_LOG_ERROR, "could not register routes or the auth provider");
        tickets_destroy();
        return -1;
    }
    sweep_timer = g_timeout_add_seconds(60, sweep, NULL);
    TICKETS_LOG(ODEON_LOG_INFO, "tickets ready: site %s, payments %s", tickets_cfg.site_url,
                tickets_stripe_configured(&tickets_cfg.stripe) ? "on" : "off (free tickets only)");
    return 0;
}

static void tickets_destroy(void)
{
    if (sweep_timer != 0)
        g_source_remove(sweep_timer);
    sweep_timer = 0;
    tickets_http_shutdown();
    if (workers != NULL)
        g_thread_pool_free(workers, FALSE, TRUE);
    workers = NULL;
    g_clear_pointer(&tickets_mailer, tickets_mail_free);
    tickets_cache_free();
    g_clear_pointer(&users, g_hash_table_unref);
    config_free();
    if (curl_initialised)
        curl_global_cleanup();
    curl_initialised = false;
}

const odeon_plugin odeon_plugin_descriptor = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = "odeon.plugin.tickets",
    .name = "Tickets",
    .description = "Organisers, events, tickets, payments and magic-link sign-in",
    .author = "The Odeon developers",
    .version_string = "0.1.0",
    .version = 1,
    .init = tickets_init,
    .destroy = tickets_destroy,
    .create_session = tickets_create_session,
    .handle_message = tickets_handle_message,
    .destroy_session = tickets_destroy_session,
    .query_session = tickets_query_session,
};
