/*
 * admin.c - the Admin API dispatcher.
 *
 * Same envelope rules as the Janus API (transaction and "janus" required, ids from the path or
 * the body), but every request must carry the admin secret and the verbs inspect and steer the
 * server instead of talking to plugins. A table maps each verb to a small handler.
 */
#include "api/admin.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib.h>

#include "api/errors.h"
#include "cluster/cluster.h"
#include "core/log.h"
#include "core/util.h"
#include "plugin/plugin_host.h"

#define LOG_MODULE "admin"

struct odeon_admin {
    char *secret;
    odeon_api *api;
    odeon_sessions *sessions;
    odeon_plugin_host *plugins;
};

typedef struct admin_call {
    odeon_admin *admin;
    json_t *message;
    const char *transaction;
    uint64_t session_id;
    uint64_t handle_id;
} admin_call;

typedef enum { NEEDS_NOTHING, NEEDS_SESSION, NEEDS_HANDLE } admin_needs;

typedef struct admin_verb {
    const char *name;
    admin_needs needs;
    json_t *(*run)(admin_call *call);
} admin_verb;

static json_t *admin_error(admin_call *call, int code, const char *reason)
{
    LOG_WARN("admin request failed: %d (%s)", code, reason ? reason : odeon_api_error_reason(code));
    return odeon_api_error(call->session_id, call->transaction, code, reason);
}

static json_t *admin_success(admin_call *call)
{
    json_t *reply = json_pack("{s:s}", "janus", "success");
    if (call->transaction)
        json_object_set_new(reply, "transaction", json_string(call->transaction));
    return reply;
}

/* Janus's numeric log levels (0..7) and ours. */
static odeon_log_level level_from_janus(json_int_t v)
{
    if (v <= 2)
        return ODEON_LOG_ERROR;
    if (v == 3)
        return ODEON_LOG_WARN;
    if (v == 4)
        return ODEON_LOG_INFO;
    if (v == 5)
        return ODEON_LOG_VERBOSE;
    return ODEON_LOG_DEBUG;
}

static json_int_t level_to_janus(odeon_log_level level)
{
    static const json_int_t map[] = {0, 2, 3, 4, 5, 7};
    return map[level];
}

static json_t *verb_list_sessions(admin_call *call)
{
    json_t *reply = admin_success(call);
    json_object_set_new(reply, "sessions", odeon_sessions_list_json(call->admin->sessions));
    return reply;
}

static json_t *verb_list_handles(admin_call *call)
{
    odeon_session *session = odeon_sessions_lookup(call->admin->sessions, call->session_id);
    if (session == NULL)
        return admin_error(call, ODEON_API_ERROR_SESSION_NOT_FOUND, "No such session");
    json_t *reply = admin_success(call);
    json_object_set_new(reply, "session_id", json_integer((json_int_t)call->session_id));
    json_object_set_new(reply, "handles", odeon_session_handles_json(session));
    odeon_session_unref(session);
    return reply;
}

static json_t *verb_handle_info(admin_call *call)
{
    odeon_session *session = odeon_sessions_lookup(call->admin->sessions, call->session_id);
    if (session == NULL)
        return admin_error(call, ODEON_API_ERROR_SESSION_NOT_FOUND, "No such session");
    odeon_handle *handle = odeon_session_lookup_handle(session, call->handle_id);
    odeon_session_unref(session);
    if (handle == NULL)
        return admin_error(call, ODEON_API_ERROR_HANDLE_NOT_FOUND, "No such handle");
    json_t *reply = admin_success(call);
    json_object_set_new(reply, "session_id", json_integer((json_int_t)call->session_id));
    json_object_set_new(reply, "handle_id", json_integer((json_int_t)call->handle_id));
    json_object_set_new(reply, "info", odeon_handle_info_json(handle));
    odeon_handle_unref(handle);
    return reply;
}

static json_t *verb_get_status(admin_call *call)
{
    odeon_api *api = call->admin->api;
    json_t *reply = admin_success(call);
    json_object_set_new(
        reply, "status",
        json_pack("{s:I, s:b, s:b, s:I, s:s, s:I}", "session_timeout",
                  (json_int_t)odeon_api_session_timeout(api), "token_auth",
                  odeon_api_token_auth(api), "accepting_new_sessions",
                  odeon_api_is_accepting(api), "log_level",
                  level_to_janus(odeon_log_get_level()), "log_level_name",
                  odeon_log_level_name(odeon_log_get_level()), "sessions",
                  (json_int_t)odeon_sessions_count(call->admin->sessions)));
    return reply;
}

static json_t *verb_set_log_level(admin_call *call)
{
    json_t *level = json_object_get(call->message, "level");
    odeon_log_level parsed;
    if (json_is_integer(level) && json_integer_value(level) >= 0 && json_integer_value(level) <= 7)
        parsed = level_from_janus(json_integer_value(level));
    else if (level == NULL)
        return admin_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                           "Missing mandatory element (level)");
    else
        return admin_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                           "Invalid element type (level should be an integer between 0 and 7)");
    odeon_log_set_level(parsed);
    LOG_INFO("log level set to %s", odeon_log_level_name(parsed));
    json_t *reply = admin_success(call);
    json_object_set_new(reply, "level", json_integer(level_to_janus(parsed)));
    return reply;
}

static json_t *verb_accept_new_sessions(admin_call *call)
{
    json_t *accept = json_object_get(call->message, "accept");
    if (accept == NULL)
        return admin_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                           "Missing mandatory element (accept)");
    if (!json_is_boolean(accept))
        return admin_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                           "Invalid element type (accept should be a boolean)");
    odeon_api_set_accepting(call->admin->api, json_is_true(accept));
    json_t *reply = admin_success(call);
    json_object_set(reply, "accept", accept);
    return reply;
}

static json_t *verb_set_session_timeout(admin_call *call)
{
    json_t *timeout = json_object_get(call->message, "timeout");
    if (timeout == NULL)
        return admin_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                           "Missing mandatory element (timeout)");
    if (!json_is_integer(timeout) || json_integer_value(timeout) < 0 ||
        json_integer_value(timeout) > 86400)
        return admin_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                           "Invalid element type (timeout should be 0-86400)");
    odeon_api_set_session_timeout(call->admin->api, (unsigned)json_integer_value(timeout));
    json_t *reply = admin_success(call);
    json_object_set(reply, "timeout", timeout);
    return reply;
}

static json_t *verb_destroy_session(admin_call *call)
{
    if (odeon_sessions_destroy(call->admin->sessions, call->session_id, "admin") != 0)
        return admin_error(call, ODEON_API_ERROR_SESSION_NOT_FOUND, "No such session");
    return admin_success(call);
}

static json_t *verb_detach_handle(admin_call *call)
{
    odeon_session *session = odeon_sessions_lookup(call->admin->sessions, call->session_id);
    if (session == NULL)
        return admin_error(call, ODEON_API_ERROR_SESSION_NOT_FOUND, "No such session");
    int rc = odeon_session_detach(session, call->handle_id);
    odeon_session_unref(session);
    if (rc != 0)
        return admin_error(call, ODEON_API_ERROR_HANDLE_NOT_FOUND, "No such handle");
    return admin_success(call);
}

static json_t *verb_message_plugin(admin_call *call)
{
    const char *package = json_string_value(json_object_get(call->message, "plugin"));
    json_t *request = json_object_get(call->message, "request");
    if (package == NULL || request == NULL)
        return admin_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                           "Missing mandatory element (plugin, request)");
    if (!json_is_object(request))
        return admin_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                           "Invalid element type (request should be an object)");
    const odeon_plugin *plugin = odeon_plugin_host_find(call->admin->plugins, package);
    if (plugin == NULL)
        return admin_error(call, ODEON_API_ERROR_PLUGIN_NOT_FOUND, "No such plugin");
    if (plugin->handle_admin_message == NULL)
        return admin_error(call, ODEON_API_ERROR_UNKNOWN_REQUEST,
                           "Plugin doesn't support admin messages");
    json_t *response = plugin->handle_admin_message(request);
    json_t *reply = admin_success(call);
    json_object_set_new(reply, "response", response ? response : json_object());
    return reply;
}

static json_t *verb_info(admin_call *call)
{
    return odeon_api_server_info(call->admin->api, call->transaction);
}

static json_t *verb_ping(admin_call *call)
{
    json_t *reply = json_pack("{s:s}", "janus", "pong");
    if (call->transaction)
        json_object_set_new(reply, "transaction", json_string(call->transaction));
    return reply;
}

/* The node registry (as of the last heartbeat) and this node's own load and links. */
static json_t *verb_list_nodes(admin_call *call)
{
    odeon_cluster *c = odeon_cluster_current();
    if (c == NULL)
        return admin_error(call, ODEON_API_ERROR_UNKNOWN, "no cluster");
    json_t *reply = admin_success(call);
    json_object_update_new(reply, odeon_cluster_nodes_json(c));
    return reply;
}

/* {"draining": true}: this node takes no new viewers (placement passes it over); false undoes. */
static json_t *verb_set_draining(admin_call *call)
{
    odeon_cluster *c = odeon_cluster_current();
    json_t *v = json_object_get(call->message, "draining");
    if (c == NULL)
        return admin_error(call, ODEON_API_ERROR_UNKNOWN, "no cluster");
    if (!json_is_boolean(v))
        return admin_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                           "draining must be true or false");
    odeon_cluster_set_draining(c, json_is_true(v));
    json_t *reply = admin_success(call);
    json_object_set_new(reply, "draining", json_boolean(json_is_true(v)));
    return reply;
}

static const admin_verb admin_verbs[] = {
    {"list_nodes", NEEDS_NOTHING, verb_list_nodes},
    {"set_draining", NEEDS_NOTHING, verb_set_draining},
    {"get_status", NEEDS_NOTHING, verb_get_status},
    {"list_sessions", NEEDS_NOTHING, verb_list_sessions},
    {"set_log_level", NEEDS_NOTHING, verb_set_log_level},
    {"accept_new_sessions", NEEDS_NOTHING, verb_accept_new_sessions},
    {"set_session_timeout", NEEDS_NOTHING, verb_set_session_timeout},
    {"message_plugin", NEEDS_NOTHING, verb_message_plugin},
    {"list_handles", NEEDS_SESSION, verb_list_handles},
    {"destroy_session", NEEDS_SESSION, verb_destroy_session},
    {"handle_info", NEEDS_HANDLE, verb_handle_info},
    {"detach_handle", NEEDS_HANDLE, verb_detach_handle},
};

static json_t *admin_read_ids(admin_call *call, const odeon_api_request *req)
{
    json_t *s = json_object_get(call->message, "session_id");
    json_t *h = json_object_get(call->message, "handle_id");
    if ((s && (!json_is_integer(s) || json_integer_value(s) < 0)) ||
        (h && (!json_is_integer(h) || json_integer_value(h) < 0)))
        return admin_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                           "Invalid element type (session_id and handle_id are integers)");
    uint64_t bs = s ? (uint64_t)json_integer_value(s) : 0;
    uint64_t bh = h ? (uint64_t)json_integer_value(h) : 0;
    if ((req->path_has_session && bs && bs != req->path_session_id) ||
        (req->path_handle_id && bh && bh != req->path_handle_id))
        return admin_error(call, ODEON_API_ERROR_INVALID_REQUEST_PATH,
                           "Conflicting session or handle ID (payload and path)");
    call->session_id = req->path_has_session ? req->path_session_id : bs;
    call->handle_id = req->path_handle_id ? req->path_handle_id : bh;
    return NULL;
}

json_t *odeon_admin_handle(odeon_admin *admin, const odeon_api_request *req, json_t *message)
{
    admin_call call = {.admin = admin, .message = message};
    if (!json_is_object(message))
        return admin_error(&call, ODEON_API_ERROR_INVALID_JSON_OBJECT, "Invalid JSON Object");
    json_t *transaction = json_object_get(message, "transaction");
    if (!json_is_string(transaction))
        return admin_error(&call, transaction ? ODEON_API_ERROR_INVALID_ELEMENT_TYPE
                                              : ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                           transaction ? "Invalid element type (transaction should be a string)"
                                       : "Missing mandatory element (transaction)");
    call.transaction = json_string_value(transaction);
    json_t *verb_json = json_object_get(message, "janus");
    if (!json_is_string(verb_json))
        return admin_error(&call, verb_json ? ODEON_API_ERROR_INVALID_ELEMENT_TYPE
                                            : ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                           verb_json ? "Invalid element type (janus should be a string)"
                                     : "Missing mandatory element (janus)");
    json_t *error = admin_read_ids(&call, req);
    if (error != NULL)
        return error;
    const char *name = json_string_value(verb_json);
    /* As in Janus, info and ping answer without the secret; everything else needs it, and an
     * unknown verb is only reported to a caller that has it. */
    if (strcmp(name, "info") == 0)
        return verb_info(&call);
    if (strcmp(name, "ping") == 0)
        return verb_ping(&call);
    const char *secret = json_string_value(json_object_get(message, "admin_secret"));
    if (!odeon_secret_equal(admin->secret, secret))
        return admin_error(&call, ODEON_API_ERROR_UNAUTHORIZED, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(admin_verbs); i++) {
        const admin_verb *v = &admin_verbs[i];
        if (strcmp(v->name, name) != 0)
            continue;
        if ((v->needs >= NEEDS_SESSION && call.session_id == 0) ||
            (v->needs == NEEDS_HANDLE && call.handle_id == 0))
            return admin_error(&call, ODEON_API_ERROR_INVALID_REQUEST_PATH,
                               "Unhandled request at this path (session or handle missing)");
        return v->run(&call);
    }
    char *reason = g_strdup_printf("Unhandled request '%s' at this path", name);
    json_t *reply = admin_error(&call, ODEON_API_ERROR_INVALID_REQUEST_PATH, reason);
    g_free(reason);
    return reply;
}

json_t *odeon_admin_handle_text(odeon_admin *admin, const odeon_api_request *req,
                                const char *text, size_t len)
{
    json_error_t jerr;
    json_t *message = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (message == NULL) {
        char *reason = g_strdup_printf("JSON error: on line %d: %s", jerr.line, jerr.text);
        json_t *reply = odeon_api_error(0, NULL, ODEON_API_ERROR_INVALID_JSON, reason);
        g_free(reason);
        return reply;
    }
    json_t *reply = odeon_admin_handle(admin, req, message);
    json_decref(message);
    return reply;
}

/* The process's own figures, as Prometheus's client libraries name them. */
static void metrics_process(GString *out)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        g_string_append_printf(out,
                               "# HELP process_cpu_seconds_total User and system CPU time.\n"
                               "# TYPE process_cpu_seconds_total counter\n"
                               "process_cpu_seconds_total %.3f\n",
                               cpu);
    }
    char *statm = NULL;
    if (g_file_get_contents("/proc/self/statm", &statm, NULL, NULL)) {
        unsigned long pages = 0, resident = 0;
        if (sscanf(statm, "%lu %lu", &pages, &resident) == 2)
            g_string_append_printf(out,
                                   "# HELP process_resident_memory_bytes Resident memory.\n"
                                   "# TYPE process_resident_memory_bytes gauge\n"
                                   "process_resident_memory_bytes %lu\n",
                                   resident * (unsigned long)sysconf(_SC_PAGESIZE));
        g_free(statm);
    }
}

char *odeon_admin_metrics(odeon_admin *admin, const char *authorization, unsigned *status)
{
    const char *given = NULL;
    if (authorization != NULL && g_ascii_strncasecmp(authorization, "Bearer ", 7) == 0)
        given = authorization + 7;
    if (!odeon_secret_equal(admin->secret, given)) {
        LOG_WARN("GET /metrics refused: %s", given ? "wrong bearer token" : "no bearer token");
        *status = 401;
        return g_strdup("{\"error\":\"unauthorized\",\"reason\":\"GET /metrics needs "
                        "Authorization: Bearer <admin secret>\"}");
    }
    GString *out = g_string_new(NULL);
    g_string_append_printf(out,
                           "# HELP odeon_sessions Janus API sessions on this node.\n"
                           "# TYPE odeon_sessions gauge\n"
                           "odeon_sessions %u\n"
                           "# HELP odeon_accepting_new_sessions 1 unless new sessions are "
                           "refused (accept_new_sessions).\n"
                           "# TYPE odeon_accepting_new_sessions gauge\n"
                           "odeon_accepting_new_sessions %d\n",
                           odeon_sessions_count(admin->sessions),
                           odeon_api_is_accepting(admin->api) ? 1 : 0);
    metrics_process(out);
    if (admin->plugins != NULL)
        odeon_plugin_host_metrics(admin->plugins, out);
    *status = 200;
    return g_string_free(out, FALSE);
}

odeon_admin *odeon_admin_new(const char *secret, odeon_api *api, odeon_sessions *sessions,
                             odeon_plugin_host *plugins)
{
    g_assert(secret != NULL && *secret != '\0');
    odeon_admin *admin = g_new0(odeon_admin, 1);
    admin->secret = g_strdup(secret);
    admin->api = api;
    admin->sessions = sessions;
    admin->plugins = plugins;
    return admin;
}

void odeon_admin_free(odeon_admin *admin)
{
    if (admin == NULL)
        return;
    memset(admin->secret, 0, strlen(admin->secret));
    g_free(admin->secret);
    g_free(admin);
}
