/*
 * fuzz_api.c - libFuzzer target for the Janus API and the Admin API dispatchers.
 *
 * Each input is handed, as request text, to three entry points of one server built on the
 * first call: an open Janus API, a Janus API behind an api secret and static tokens, and the
 * Admin API. Sessions, handles and a linked-in plugin are real, so inputs reach attach,
 * message (sync, async with a pushed event, plugin error, jsep, a plugin ending its own
 * handle), trickle, detach, claim and destroy. Events go to a sink that drops them.
 *
 * An input is a short script: requests separated by a line "---". A request may start with a
 * path line "/<session>[/<handle>]" standing for the ids an HTTP POST carries in its URL, and
 * "$S" / "$H" in its text stand for the session and handle the latest create / attach
 * returned, so one input can create, attach and then message a handle whose id is random.
 *
 * Every input starts from the same state, so that a crash reproduces from its input alone:
 * afterwards the settings an admin request may change are restored and every session is
 * destroyed (alternately by shutdown and by timing out, two different teardown paths).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "api/admin.h"
#include "api/api.h"
#include "auth/auth.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"
#include "plugin/plugin_host.h"
#include "session/session.h"

#define FUZZ_PACKAGE "odeon.plugin.fuzz"
#define MAX_REQUESTS 16

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- a plugin with every kind of answer ---- */

static const odeon_core_callbacks *core;

static int fuzz_init(const odeon_core_callbacks *callbacks, const char *config_path)
{
    (void)config_path;
    core = callbacks;
    return 0;
}

static int fuzz_refuse(odeon_plugin_handle *handle)
{
    (void)handle;
    return -1;
}

static odeon_plugin_result fuzz_message(odeon_plugin_handle *handle, const char *transaction,
                                        json_t *body, json_t *jsep)
{
    const char *request = json_string_value(json_object_get(body, "request"));
    odeon_plugin_result r = {.kind = ODEON_PLUGIN_OK};
    if (request == NULL) {
        r.content = json_pack("{s:O}", "echo", body);
    } else if (strcmp(request, "async") == 0) {
        json_t *event = json_pack("{s:s}", "result", "done");
        core->push_event(handle, transaction, event, jsep);
        json_decref(event);
        r = (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT, .hint = strdup("later")};
    } else if (strcmp(request, "error") == 0) {
        r = (odeon_plugin_result){.kind = ODEON_PLUGIN_ERROR, .error_text = strdup("refused")};
    } else if (strcmp(request, "jsep") == 0) {
        r.jsep = json_pack("{s:s, s:s}", "type", "answer", "sdp", "v=0\r\n");
    } else if (strcmp(request, "end") == 0) {
        core->end_session(handle);
    } else if (strcmp(request, "hangup") == 0) {
        core->close_pc(handle);
    }
    return r;
}

static json_t *fuzz_admin_message(json_t *body)
{
    return json_pack("{s:O}", "echo", body);
}

static json_t *fuzz_query(odeon_plugin_handle *handle)
{
    return json_pack("{s:I}", "handle", (json_int_t)core->handle_id(handle));
}

static const odeon_plugin fuzz_plugin = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = FUZZ_PACKAGE,
    .name = "Fuzz",
    .init = fuzz_init,
    .handle_message = fuzz_message,
    .handle_admin_message = fuzz_admin_message,
    .query_session = fuzz_query,
};

static const odeon_plugin refusing_plugin = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = "odeon.plugin.refuser",
    .name = "Refuser",
    .init = fuzz_init,
    .create_session = fuzz_refuse,
    .handle_message = fuzz_message,
};

/* ---- a sink that drops everything ---- */

static void drop_deliver(odeon_event_sink *sink, uint64_t session_id, json_t *event)
{
    (void)sink;
    (void)session_id;
    (void)event;
}

static void drop_session_gone(odeon_event_sink *sink, uint64_t session_id)
{
    (void)sink;
    (void)session_id;
}

static odeon_event_sink *drop_ref(odeon_event_sink *sink)
{
    return sink;
}

static void drop_unref(odeon_event_sink *sink)
{
    (void)sink;
}

static const odeon_event_sink_ops drop_ops = {
    .deliver = drop_deliver,
    .session_gone = drop_session_gone,
    .ref = drop_ref,
    .unref = drop_unref,
    .name = "fuzz",
};

/* ---- the server, built once ---- */

static struct {
    odeon_event_sink sink;
    odeon_sessions *sessions;
    odeon_plugin_host *host;
    odeon_auth *open_auth;
    odeon_auth *secure_auth;
    odeon_api *open_api;
    odeon_api *secure_api;
    odeon_admin *admin;
    unsigned inputs;
    uint64_t last_session; /* $S */
    uint64_t last_handle;  /* $H */
} fz;

static void fuzz_setup(void)
{
    odeon_log_set_level(ODEON_LOG_ERROR);
    fz.sink.ops = &drop_ops;
    fz.sessions = odeon_sessions_new(NULL);
    char *tokens[] = {"alice:fuzztoken", NULL};
    fz.open_auth = odeon_auth_new(NULL, false, NULL, NULL);
    fz.secure_auth = odeon_auth_new("fuzzsecret", true, tokens, NULL);
    odeon_core_services services = {.sessions = fz.sessions, .auth = fz.open_auth};
    fz.host = odeon_plugin_host_new(&services);
    if (odeon_plugin_host_add(fz.host, &fuzz_plugin, NULL, NULL) != 0 ||
        odeon_plugin_host_add(fz.host, &refusing_plugin, NULL, NULL) != 0)
        abort();
    odeon_api_settings settings = {
        .server_name = "fuzz", .session_timeout = 60, .accept_new_sessions = true};
    fz.open_api = odeon_api_new(&settings, fz.sessions, fz.host, fz.open_auth, NULL);
    fz.secure_api = odeon_api_new(&settings, fz.sessions, fz.host, fz.secure_auth, NULL);
    fz.admin = odeon_admin_new("fuzzadmin", fz.open_api, fz.sessions, fz.host);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup();
    return 0;
}

/* "/<session>[/<handle>]" on the first line: ids from the URL. Advances *text past it. */
static void parse_path(const char **text, size_t *len, odeon_api_request *req)
{
    if (*len == 0 || (*text)[0] != '/')
        return;
    const char *nl = memchr(*text, '\n', *len);
    if (nl == NULL)
        return;
    char *line = g_strndup(*text + 1, (gsize)(nl - *text - 1));
    char **parts = g_strsplit(line, "/", 3);
    uint64_t id = 0;
    req->path_has_session = true;
    if (parts[0] != NULL && odeon_parse_u64(parts[0], 1, ODEON_MAX_ID, &id) == 0)
        req->path_session_id = id;
    if (parts[0] != NULL && parts[1] != NULL &&
        odeon_parse_u64(parts[1], 1, ODEON_MAX_ID, &id) == 0)
        req->path_handle_id = id;
    g_strfreev(parts);
    g_free(line);
    *len -= (size_t)(nl + 1 - *text);
    *text = nl + 1;
}

/* Remember the ids a successful create (no session_id) or attach (with one) returned. */
static void remember_ids(json_t *reply)
{
    json_t *id = json_object_get(json_object_get(reply, "data"), "id");
    const char *kind = json_string_value(json_object_get(reply, "janus"));
    if (!json_is_integer(id) || kind == NULL || strcmp(kind, "success") != 0)
        return;
    if (json_object_get(reply, "session_id") == NULL)
        fz.last_session = (uint64_t)json_integer_value(id);
    else
        fz.last_handle = (uint64_t)json_integer_value(id);
}

/* Binary-safe: NUL bytes in the input reach the JSON parser as they would from a socket. */
static void replace_all(GString *s, const char *token, uint64_t value)
{
    char id[32];
    g_snprintf(id, sizeof(id), "%" G_GUINT64_FORMAT, value);
    size_t pos = 0;
    while (pos + 2 <= s->len) {
        const char *hit = memmem(s->str + pos, s->len - pos, token, 2);
        if (hit == NULL)
            break;
        pos = (size_t)(hit - s->str);
        g_string_erase(s, (gssize)pos, 2);
        g_string_insert(s, (gssize)pos, id);
        pos += strlen(id);
    }
}

static void run_request(const char *data, size_t size)
{
    GString *text = g_string_new_len(data, (gssize)size);
    replace_all(text, "$S", fz.last_session);
    replace_all(text, "$H", fz.last_handle);
    odeon_api_request req = {.sink = &fz.sink, .transport = "fuzz"};
    const char *body = text->str;
    size_t len = text->len;
    parse_path(&body, &len, &req);
    json_t *reply = odeon_api_handle_text(fz.open_api, &req, body, len);
    remember_ids(reply);
    json_decref(reply);
    reply = odeon_api_handle_text(fz.secure_api, &req, body, len);
    remember_ids(reply);
    json_decref(reply);
    reply = odeon_admin_handle_text(fz.admin, &req, body, len);
    json_decref(reply);
    g_string_free(text, TRUE);
}

static void reset_state(void)
{
    odeon_log_set_level(ODEON_LOG_ERROR);
    odeon_api_set_accepting(fz.open_api, true);
    odeon_api_set_session_timeout(fz.open_api, 60);
    if (++fz.inputs % 2 == 0)
        odeon_sessions_destroy_all(fz.sessions, "shutdown");
    else
        odeon_sessions_expire(fz.sessions, odeon_clock_monotonic_us() + INT64_C(3600000000), 60);
    fz.last_session = fz.last_handle = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz.sessions == NULL)
        fuzz_setup();
    static const char separator[] = "\n---\n";
    const char *text = (const char *)data;
    for (int i = 0; i < MAX_REQUESTS; i++) {
        const char *end = memmem(text, size, separator, sizeof(separator) - 1);
        size_t len = end ? (size_t)(end - text) : size;
        run_request(text, len);
        if (end == NULL)
            break;
        size -= len + sizeof(separator) - 1;
        text = end + sizeof(separator) - 1;
    }
    reset_state();
    return 0;
}
