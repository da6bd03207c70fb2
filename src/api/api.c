/*
 * api.c - the Janus API dispatcher.
 *
 * A request is checked in Janus's order (transaction, verb, path ids, secret/token, session,
 * handle) and then handed to the verb's small handler from api_verbs[]. Each row says whether
 * the verb needs a session and whether it needs, allows or forbids a handle, so the path rules
 * live in one table instead of in every handler. Replies carry the session id when there is
 * one and always echo the transaction.
 */
#include "api/api.h"

#include <string.h>

#include <glib.h>
#include <openssl/crypto.h>

#include "api/errors.h"
#include "core/log.h"
#include "events/handlers.h"
#include "plugin/plugin_host.h"
#include "session/handle_media.h"

#define LOG_MODULE "api"

#ifndef ODEON_VERSION_STRING
#define ODEON_VERSION_STRING "0.1.0"
#endif
#ifndef ODEON_VERSION_NUMBER
#define ODEON_VERSION_NUMBER 100 /* 0.1.0 as major*10000 + minor*100 + micro */
#endif
#if defined(__has_include)
#if __has_include("core/build_info.h")
#include "core/build_info.h"
#endif
#endif
#ifndef ODEON_GIT_COMMIT
#define ODEON_GIT_COMMIT "unknown"
#endif

struct odeon_api {
    char *server_name;
    unsigned session_timeout;
    gint accepting;
    odeon_sessions *sessions;
    odeon_plugin_host *plugins;
    odeon_auth *auth;
    odeon_eventbus *bus;
    odeon_event_handlers *event_handlers;
};

/* Everything a verb handler needs about the request being processed. */
typedef struct api_call {
    odeon_api *api;
    const odeon_api_request *req;
    json_t *message;
    const char *transaction;
    const char *verb;
    uint64_t session_id;
    uint64_t handle_id;
    odeon_session *session; /* reference, when the verb needs one */
    odeon_handle *handle;   /* reference, when the request names one */
} api_call;

typedef enum { HANDLE_FORBIDDEN, HANDLE_REQUIRED, HANDLE_OPTIONAL } handle_rule;

typedef struct api_verb {
    const char *name;
    bool needs_session;
    handle_rule handle;
    json_t *(*run)(api_call *call);
} api_verb;

const char *odeon_api_error_reason(int code)
{
    switch (code) {
    case ODEON_API_ERROR_UNAUTHORIZED: return "Unauthorized request (wrong or missing secret/token)";
    case ODEON_API_ERROR_UNAUTHORIZED_PLUGIN: return "Unauthorized access to plugin (token is not allowed to)";
    case ODEON_API_ERROR_TRANSPORT_SPECIFIC: return "Transport specific error";
    case ODEON_API_ERROR_MISSING_REQUEST: return "Missing request";
    case ODEON_API_ERROR_UNKNOWN_REQUEST: return "Unknown request";
    case ODEON_API_ERROR_INVALID_JSON: return "Invalid JSON";
    case ODEON_API_ERROR_INVALID_JSON_OBJECT: return "Invalid JSON Object";
    case ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT: return "Missing mandatory element";
    case ODEON_API_ERROR_INVALID_REQUEST_PATH: return "Invalid path for this request";
    case ODEON_API_ERROR_SESSION_NOT_FOUND: return "Session not found";
    case ODEON_API_ERROR_HANDLE_NOT_FOUND: return "Handle not found";
    case ODEON_API_ERROR_PLUGIN_NOT_FOUND: return "Plugin not found";
    case ODEON_API_ERROR_PLUGIN_ATTACH: return "Error attaching plugin";
    case ODEON_API_ERROR_PLUGIN_MESSAGE: return "Error sending message to plugin";
    case ODEON_API_ERROR_PLUGIN_DETACH: return "Error detaching from plugin";
    case ODEON_API_ERROR_JSEP_UNKNOWN_TYPE: return "Unsupported JSEP type";
    case ODEON_API_ERROR_JSEP_INVALID_SDP: return "Invalid SDP";
    case ODEON_API_ERROR_TRICKLE_INVALID_STREAM: return "Invalid stream";
    case ODEON_API_ERROR_INVALID_ELEMENT_TYPE: return "Invalid element type";
    case ODEON_API_ERROR_SESSION_CONFLICT: return "Session ID already in use";
    case ODEON_API_ERROR_UNEXPECTED_ANSWER: return "Unexpected ANSWER (no OFFER)";
    case ODEON_API_ERROR_TOKEN_NOT_FOUND: return "Token not found";
    case ODEON_API_ERROR_WEBRTC_STATE: return "Wrong WebRTC state";
    case ODEON_API_ERROR_NOT_ACCEPTING_SESSIONS: return "Currently not accepting new sessions";
    default: return "Unknown error";
    }
}

json_t *odeon_api_error(uint64_t session_id, const char *transaction, int code,
                        const char *reason)
{
    json_t *reply = json_object();
    json_object_set_new(reply, "janus", json_string("error"));
    if (session_id != 0)
        json_object_set_new(reply, "session_id", json_integer((json_int_t)session_id));
    if (transaction != NULL)
        json_object_set_new(reply, "transaction", json_string(transaction));
    json_object_set_new(reply, "error",
                        json_pack("{s:i, s:s}", "code", code, "reason",
                                  reason ? reason : odeon_api_error_reason(code)));
    return reply;
}

static json_t *call_error(api_call *call, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *call_error(api_call *call, int code, const char *format, ...)
{
    char *reason = NULL;
    if (format != NULL) {
        va_list args;
        va_start(args, format);
        reason = g_strdup_vprintf(format, args);
        va_end(args);
    }
    LOG_WARN("%s '%s' over %s: error %d (%s)", call->verb ? call->verb : "request",
                call->transaction ? call->transaction : "", call->req->transport, code,
                reason ? reason : odeon_api_error_reason(code));
    json_t *reply = odeon_api_error(call->session_id, call->transaction, code, reason);
    g_free(reason);
    return reply;
}

/* {"janus": kind, ["session_id"], "transaction"} */
static json_t *call_reply(api_call *call, const char *kind)
{
    json_t *reply = json_object();
    json_object_set_new(reply, "janus", json_string(kind));
    if (call->session_id != 0)
        json_object_set_new(reply, "session_id", json_integer((json_int_t)call->session_id));
    if (call->transaction != NULL)
        json_object_set_new(reply, "transaction", json_string(call->transaction));
    return reply;
}

/* ---- server info ---- */

static json_t *dependencies_json(void)
{
    char *glib = g_strdup_printf("%u.%u.%u", glib_major_version, glib_minor_version,
                                 glib_micro_version);
    json_t *deps = json_pack("{s:s, s:s, s:s}", "glib2", glib, "jansson", JANSSON_VERSION,
                             "crypto", OpenSSL_version(OPENSSL_VERSION));
    g_free(glib);
    return deps;
}

json_t *odeon_api_server_info(odeon_api *api, const char *transaction)
{
    json_t *info = json_object();
    json_object_set_new(info, "janus", json_string("server_info"));
    if (transaction != NULL)
        json_object_set_new(info, "transaction", json_string(transaction));
    json_object_set_new(info, "name", json_string("Odeon"));
    json_object_set_new(info, "version", json_integer(ODEON_VERSION_NUMBER));
    json_object_set_new(info, "version_string", json_string(ODEON_VERSION_STRING));
    json_object_set_new(info, "author", json_string("The Odeon developers"));
    json_object_set_new(info, "commit-hash", json_string(ODEON_GIT_COMMIT));
    json_object_set_new(info, "compile-time", json_string(__DATE__ " " __TIME__));
    json_object_set_new(info, "server-name", json_string(api->server_name));
    json_object_set_new(info, "accepting-new-sessions", json_boolean(odeon_api_is_accepting(api)));
    json_object_set_new(info, "session-timeout", json_integer(odeon_api_session_timeout(api)));
    json_object_set_new(info, "reclaim-session-timeout", json_integer(0));
    json_object_set_new(info, "data_channels", json_false());
    json_object_set_new(info, "api_secret", json_boolean(!odeon_auth_check_api_secret(api->auth, NULL)));
    json_object_set_new(info, "auth_token", json_boolean(odeon_auth_token_required(api->auth)));
    json_object_set_new(info, "event_handlers",
                        json_boolean(odeon_eventbus_has_subscribers(api->bus, ODEON_EVENT_ALL)));
    json_object_set_new(info, "opaqueid_in_api", json_false());
    json_t *media_info = odeon_media_info_json();
    json_object_update(info, media_info);
    json_decref(media_info);
    json_object_set_new(info, "dependencies", dependencies_json());
    json_object_set_new(info, "transports",
                        json_pack("{s:{s:s, s:s, s:s, s:i}, s:{s:s, s:s, s:s, s:i}}",
                                  "odeon.transport.http", "name", "HTTP transport", "author",
                                  "The Odeon developers", "version_string", ODEON_VERSION_STRING,
                                  "version", ODEON_VERSION_NUMBER, "odeon.transport.websockets",
                                  "name", "WebSocket transport", "author", "The Odeon developers",
                                  "version_string", ODEON_VERSION_STRING, "version",
                                  ODEON_VERSION_NUMBER));
    json_object_set_new(info, "events", odeon_event_handlers_info_json(api->event_handlers));
    json_object_set_new(info, "loggers", json_object());
    json_object_set_new(info, "plugins", odeon_plugin_host_info_json(api->plugins));
    return info;
}

/* ---- verbs ---- */

static json_t *verb_info(api_call *call)
{
    return odeon_api_server_info(call->api, call->transaction);
}

static json_t *verb_ping(api_call *call)
{
    return call_reply(call, "pong");
}

static json_t *verb_create(api_call *call, odeon_auth_identity *identity)
{
    json_t *wanted = json_object_get(call->message, "id");
    json_int_t id = 0;
    if (wanted != NULL) {
        if (!json_is_integer(wanted) || json_integer_value(wanted) <= 0)
            return call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                              "Invalid element type (id should be a positive integer)");
        id = json_integer_value(wanted);
    }
    if (!odeon_api_is_accepting(call->api))
        return call_error(call, ODEON_API_ERROR_NOT_ACCEPTING_SESSIONS, NULL);
    odeon_session *session = NULL;
    int rc = odeon_sessions_create(call->api->sessions, (uint64_t)id, call->req->sink, identity,
                                   &session);
    if (rc == ODEON_EEXIST)
        return call_error(call, ODEON_API_ERROR_SESSION_CONFLICT, "Session ID already in use");
    json_t *reply = call_reply(call, "success");
    json_object_set_new(reply, "data",
                        json_pack("{s:I}", "id", (json_int_t)odeon_session_id(session)));
    odeon_session_unref(session);
    return reply;
}

static json_t *verb_keepalive(api_call *call)
{
    return call_reply(call, "ack");
}

static json_t *verb_attach(api_call *call)
{
    json_t *plugin_name = json_object_get(call->message, "plugin");
    if (plugin_name == NULL)
        return call_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                          "Missing mandatory element (plugin)");
    if (!json_is_string(plugin_name))
        return call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                          "Invalid element type (plugin should be a string)");
    json_t *opaque = json_object_get(call->message, "opaque_id");
    if (opaque != NULL && !json_is_string(opaque))
        return call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                          "Invalid element type (opaque_id should be a string)");
    const odeon_plugin *plugin =
        odeon_plugin_host_find(call->api->plugins, json_string_value(plugin_name));
    if (plugin == NULL)
        return call_error(call, ODEON_API_ERROR_PLUGIN_NOT_FOUND, "No such plugin '%s'",
                          json_string_value(plugin_name));
    odeon_handle *handle = NULL;
    int rc = odeon_session_attach(call->session, plugin, json_string_value(opaque), &handle);
    if (rc == ODEON_EGONE)
        return call_error(call, ODEON_API_ERROR_SESSION_NOT_FOUND, "No such session %" G_GUINT64_FORMAT,
                          call->session_id);
    if (rc != 0)
        return call_error(call, ODEON_API_ERROR_PLUGIN_ATTACH,
                          "Couldn't attach to plugin: error '%d'", rc);
    json_t *reply = call_reply(call, "success");
    json_object_set_new(reply, "data",
                        json_pack("{s:I}", "id", (json_int_t)odeon_handle_id(handle)));
    odeon_handle_unref(handle);
    return reply;
}

static json_t *verb_detach(api_call *call)
{
    if (odeon_session_detach(call->session, call->handle_id) != 0)
        return call_error(call, ODEON_API_ERROR_PLUGIN_DETACH, "Error detaching handle %" G_GUINT64_FORMAT,
                          call->handle_id);
    return call_reply(call, "success");
}

/* Move the session's events to the connection this request came over (Janus "claim"). */
static json_t *verb_claim(api_call *call)
{
    odeon_session_set_sink(call->session, call->req->sink);
    return call_reply(call, "success");
}

static json_t *verb_hangup(api_call *call)
{
    odeon_handle_hangup(call->handle, "Janus API");
    return call_reply(call, "success");
}

static json_t *verb_destroy(api_call *call)
{
    odeon_sessions_destroy(call->api->sessions, call->session_id, "destroy request");
    return call_reply(call, "success");
}

/* NULL when jsep is acceptable, else the error reply. */
static json_t *check_jsep(api_call *call, json_t *jsep)
{
    if (!json_is_object(jsep))
        return call_error(call, ODEON_API_ERROR_INVALID_JSON_OBJECT, "Invalid jsep object");
    json_t *type = json_object_get(jsep, "type");
    if (type == NULL)
        return call_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                          "Missing mandatory element (type)");
    if (!json_is_string(type))
        return call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                          "Invalid element type (type should be a string)");
    const char *t = json_string_value(type);
    if (strcmp(t, "offer") != 0 && strcmp(t, "answer") != 0)
        return call_error(call, ODEON_API_ERROR_JSEP_UNKNOWN_TYPE,
                          "JSEP error: unknown message type '%s'", t);
    json_t *sdp = json_object_get(jsep, "sdp");
    if (sdp == NULL)
        return call_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                          "Missing mandatory element (sdp)");
    if (!json_is_string(sdp))
        return call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                          "Invalid element type (sdp should be a string)");
    char *reason = NULL;
    int code = odeon_handle_media_remote(call->handle, jsep, &reason);
    if (code != 0) {
        json_t *error = call_error(call, code, "%s", reason ? reason : "JSEP error");
        g_free(reason);
        return error;
    }
    return NULL;
}

static json_t *plugin_reply(api_call *call, odeon_plugin_result *result)
{
    const odeon_plugin *plugin = odeon_handle_plugin(call->handle);
    json_t *reply = NULL;
    switch (result->kind) {
    case ODEON_PLUGIN_OK:
        reply = call_reply(call, "success");
        json_object_set_new(reply, "sender", json_integer((json_int_t)call->handle_id));
        json_object_set_new(reply, "plugindata",
                            json_pack("{s:s, s:o}", "plugin", plugin->package, "data",
                                      result->content ? result->content : json_object()));
        result->content = NULL;
        if (result->jsep != NULL) {
            json_t *jsep = odeon_handle_media_complete_sync(call->handle, result->jsep);
            if (jsep != NULL)
                json_object_set_new(reply, "jsep", jsep);
        }
        break;
    case ODEON_PLUGIN_OK_WAIT:
        reply = call_reply(call, "ack");
        if (result->hint != NULL)
            json_object_set_new(reply, "hint", json_string(result->hint));
        break;
    case ODEON_PLUGIN_ERROR:
    default:
        reply = call_error(call, ODEON_API_ERROR_PLUGIN_MESSAGE, "%s",
                           result->error_text ? result->error_text : "Plugin returned an error");
        break;
    }
    json_decref(result->content);
    json_decref(result->jsep);
    free(result->hint);
    free(result->error_text);
    return reply;
}

static json_t *verb_message(api_call *call)
{
    json_t *body = json_object_get(call->message, "body");
    if (body == NULL)
        return call_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                          "Missing mandatory element (body)");
    if (!json_is_object(body))
        return call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                          "Invalid element type (body should be an object)");
    json_t *jsep = json_object_get(call->message, "jsep");
    if (jsep != NULL) {
        json_t *error = check_jsep(call, jsep);
        if (error != NULL)
            return error;
    }
    const odeon_plugin *plugin = odeon_handle_plugin(call->handle);
    odeon_plugin_result result = {0};
    if (!odeon_handle_call_begin(call->handle))
        return call_error(call, ODEON_API_ERROR_HANDLE_NOT_FOUND,
                          "No such handle %" G_GUINT64_FORMAT " in session %" G_GUINT64_FORMAT,
                          call->handle_id, call->session_id);
    result = plugin->handle_message(call->handle, call->transaction, body, jsep);
    odeon_handle_call_end(call->handle);
    return plugin_reply(call, &result);
}

static json_t *verb_trickle(api_call *call)
{
    json_t *candidate = json_object_get(call->message, "candidate");
    json_t *candidates = json_object_get(call->message, "candidates");
    if (candidate == NULL && candidates == NULL)
        return call_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                          "Missing mandatory element (candidate|candidates)");
    if (candidate != NULL && candidates != NULL)
        return call_error(call, ODEON_API_ERROR_INVALID_JSON,
                          "Can't have both candidate and candidates");
    if (candidates != NULL && !json_is_array(candidates))
        return call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                          "Invalid element type (candidates should be an array)");
    /* Candidates are applied in order on the connection's media loop; ones that come before
     * the offer wait there for it, as in Janus. */
    size_t count = candidates ? json_array_size(candidates) : 1;
    for (size_t i = 0; i < count; i++) {
        char *reason = NULL;
        json_t *c = candidates ? json_array_get(candidates, i) : candidate;
        int code = odeon_handle_media_trickle(call->handle, c, &reason);
        if (code != 0) {
            json_t *error = call_error(call, code, "%s", reason);
            g_free(reason);
            return error;
        }
    }
    return call_reply(call, "ack");
}

static const api_verb api_verbs[] = {
    {"keepalive", true, HANDLE_OPTIONAL, verb_keepalive},
    {"claim", true, HANDLE_FORBIDDEN, verb_claim},
    {"attach", true, HANDLE_FORBIDDEN, verb_attach},
    {"destroy", true, HANDLE_FORBIDDEN, verb_destroy},
    {"detach", true, HANDLE_REQUIRED, verb_detach},
    {"hangup", true, HANDLE_REQUIRED, verb_hangup},
    {"message", true, HANDLE_REQUIRED, verb_message},
    {"trickle", true, HANDLE_REQUIRED, verb_trickle},
};

static const api_verb *verb_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(api_verbs); i++) {
        if (strcmp(api_verbs[i].name, name) == 0)
            return &api_verbs[i];
    }
    return NULL;
}

/* Read an optional id field: 0 when absent, -1 (with *error) when not a positive integer. */
static int read_id(api_call *call, const char *field, uint64_t *out, json_t **error)
{
    json_t *v = json_object_get(call->message, field);
    *out = 0;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        *error = call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                            "Invalid element type (%s should be a positive integer)", field);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* Transaction, verb, and the ids from body and path. NULL when fine, else the error reply. */
static json_t *call_parse_envelope(api_call *call)
{
    json_t *transaction = json_object_get(call->message, "transaction");
    if (transaction == NULL)
        return call_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                          "Missing mandatory element (transaction)");
    if (!json_is_string(transaction))
        return call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                          "Invalid element type (transaction should be a string)");
    call->transaction = json_string_value(transaction);
    json_t *verb = json_object_get(call->message, "janus");
    if (verb == NULL)
        return call_error(call, ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT,
                          "Missing mandatory element (janus)");
    if (!json_is_string(verb))
        return call_error(call, ODEON_API_ERROR_INVALID_ELEMENT_TYPE,
                          "Invalid element type (janus should be a string)");
    call->verb = json_string_value(verb);
    json_t *error = NULL;
    uint64_t body_session = 0, body_handle = 0;
    if (read_id(call, "session_id", &body_session, &error) != 0 ||
        read_id(call, "handle_id", &body_handle, &error) != 0)
        return error;
    const odeon_api_request *req = call->req;
    if (req->path_has_session && body_session != 0 && body_session != req->path_session_id)
        return call_error(call, ODEON_API_ERROR_INVALID_REQUEST_PATH,
                          "Conflicting session ID (payload and path)");
    if (req->path_handle_id != 0 && body_handle != 0 && body_handle != req->path_handle_id)
        return call_error(call, ODEON_API_ERROR_INVALID_REQUEST_PATH,
                          "Conflicting handle ID (payload and path)");
    call->session_id = req->path_has_session ? req->path_session_id : body_session;
    call->handle_id = req->path_handle_id ? req->path_handle_id : body_handle;
    return NULL;
}

/* Janus accepts a request carrying either the api secret or a valid token. On success with a
 * token, *identity holds the resolved identity (caller frees). creating: the request creates
 * a session, which takes the identity of its token for its whole life. */
static bool call_authorised(api_call *call, odeon_auth_identity *identity, bool creating)
{
    odeon_auth *auth = call->api->auth;
    bool needs_secret = !odeon_auth_check_api_secret(auth, NULL);
    bool needs_token = odeon_auth_token_required(auth);
    const char *token = json_string_value(json_object_get(call->message, "token"));
    /* With a plugin's provider (tickets) a token is an identity, not an access key: a client
     * that creates a session with one means to be that person, so a bad or expired one is
     * refused rather than silently treated as anonymous, also when token_auth is off. Later
     * requests on the session are checked as Janus does (the token only with token_auth), so
     * a session outlives the short credential it was created with. */
    if (creating && token != NULL && odeon_auth_has_plugin_provider(auth)) {
        if (odeon_auth_resolve(auth, token, identity) != 0)
            return false;
        /* As in Janus a valid token alone passes when token_auth is on; otherwise the api
         * secret, if there is one, is still needed. */
        if (needs_token || !needs_secret)
            return true;
        return odeon_auth_check_api_secret(
            auth, json_string_value(json_object_get(call->message, "apisecret")));
    }
    if (!needs_secret && !needs_token)
        return true;
    if (needs_secret &&
        odeon_auth_check_api_secret(auth, json_string_value(json_object_get(call->message,
                                                                            "apisecret"))))
        return true;
    if (needs_token) {
        if (odeon_auth_resolve(auth, token, identity) == 0)
            return true;
    }
    return false;
}

static json_t *call_sessionless(api_call *call)
{
    /* As in Janus, only create/info/ping exist at the base path: anything else, even an
     * unknown verb, is a request at the wrong path. */
    if (strcmp(call->verb, "create") != 0)
        return call_error(call, ODEON_API_ERROR_INVALID_REQUEST_PATH,
                          "Unhandled request '%s' at this path", call->verb);
    odeon_auth_identity identity = {0};
    if (!call_authorised(call, &identity, true))
        return call_error(call, ODEON_API_ERROR_UNAUTHORIZED, NULL);
    json_t *reply = verb_create(call, &identity);
    odeon_auth_identity_free(&identity);
    return reply;
}

static json_t *call_on_session(api_call *call)
{
    odeon_auth_identity identity = {0};
    bool authorised = call_authorised(call, &identity, false);
    odeon_auth_identity_free(&identity);
    if (!authorised)
        return call_error(call, ODEON_API_ERROR_UNAUTHORIZED, NULL);
    call->session = odeon_sessions_lookup(call->api->sessions, call->session_id);
    if (call->session == NULL)
        return call_error(call, ODEON_API_ERROR_SESSION_NOT_FOUND,
                          "No such session %" G_GUINT64_FORMAT, call->session_id);
    odeon_session_touch(call->session);
    if (call->handle_id != 0) {
        call->handle = odeon_session_lookup_handle(call->session, call->handle_id);
        if (call->handle == NULL)
            return call_error(call, ODEON_API_ERROR_HANDLE_NOT_FOUND,
                              "No such handle %" G_GUINT64_FORMAT " in session %" G_GUINT64_FORMAT,
                              call->handle_id, call->session_id);
    }
    const api_verb *verb = verb_find(call->verb);
    if (verb == NULL)
        return call_error(call, ODEON_API_ERROR_UNKNOWN_REQUEST, "Unknown request '%s'",
                          call->verb);
    if (verb->handle != HANDLE_OPTIONAL && (verb->handle == HANDLE_REQUIRED) != (call->handle != NULL))
        return call_error(call, ODEON_API_ERROR_INVALID_REQUEST_PATH,
                          "Unhandled request '%s' at this path", call->verb);
    return verb->run(call);
}

json_t *odeon_api_handle(odeon_api *api, const odeon_api_request *req, json_t *message)
{
    api_call call = {.api = api, .req = req, .message = message};
    if (!json_is_object(message))
        return call_error(&call, ODEON_API_ERROR_INVALID_JSON_OBJECT,
                          "Invalid JSON Object");
    json_t *reply = call_parse_envelope(&call);
    if (reply != NULL)
        return reply;
    bool at_base = call.session_id == 0 && call.handle_id == 0 && !req->path_has_session;
    /* info and ping exist only at the base path; on a session they are unknown requests. */
    if (at_base && strcmp(call.verb, "info") == 0)
        reply = verb_info(&call);
    else if (at_base && strcmp(call.verb, "ping") == 0)
        reply = verb_ping(&call);
    else if (at_base)
        reply = call_sessionless(&call);
    else
        reply = call_on_session(&call);
    if (call.handle != NULL)
        odeon_handle_unref(call.handle);
    if (call.session != NULL)
        odeon_session_unref(call.session);
    return reply;
}

json_t *odeon_api_handle_text(odeon_api *api, const odeon_api_request *req, const char *text,
                              size_t len)
{
    json_error_t jerr;
    json_t *message = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (message == NULL) {
        char *reason = g_strdup_printf("JSON error: on line %d: %s", jerr.line, jerr.text);
        LOG_WARN("malformed request over %s: %s", req->transport, reason);
        json_t *reply = odeon_api_error(0, NULL, ODEON_API_ERROR_INVALID_JSON, reason);
        g_free(reason);
        return reply;
    }
    json_t *reply = odeon_api_handle(api, req, message);
    json_decref(message);
    return reply;
}

/* ---- lifecycle ---- */

odeon_api *odeon_api_new(const odeon_api_settings *settings, odeon_sessions *sessions,
                         odeon_plugin_host *plugins, odeon_auth *auth, odeon_eventbus *bus)
{
    odeon_api *api = g_new0(odeon_api, 1);
    api->server_name = g_strdup(settings->server_name ? settings->server_name : "odeon");
    api->session_timeout = settings->session_timeout;
    api->accepting = settings->accept_new_sessions;
    api->sessions = sessions;
    api->plugins = plugins;
    api->auth = auth;
    api->bus = bus;
    api->event_handlers = settings->event_handlers;
    return api;
}

void odeon_api_free(odeon_api *api)
{
    if (api == NULL)
        return;
    g_free(api->server_name);
    g_free(api);
}

void odeon_api_set_accepting(odeon_api *api, bool accepting)
{
    g_atomic_int_set(&api->accepting, accepting);
}

bool odeon_api_is_accepting(const odeon_api *api)
{
    return g_atomic_int_get((gint *)&api->accepting) != 0;
}

void odeon_api_set_session_timeout(odeon_api *api, unsigned seconds)
{
    g_atomic_int_set((gint *)&api->session_timeout, (gint)seconds);
}

unsigned odeon_api_session_timeout(const odeon_api *api)
{
    return (unsigned)g_atomic_int_get((gint *)&api->session_timeout);
}

bool odeon_api_token_auth(const odeon_api *api)
{
    return odeon_auth_token_required(api->auth);
}
