/*
 * test_api.c - the Janus API and the Admin API, request by request, through the text entry
 * points the transports use (odeon_api_handle_text, odeon_admin_handle_text).
 *
 * The api is real: sessions, a plugin host with two linked-in plugins (apitest answers
 * synchronously, asynchronously, with an error or with a jsep depending on body.request;
 * refuser refuses every attach), the static-token auth and the test sink. Requests are
 * written with single quotes for readability and $S / $H standing for the fixture's session
 * and handle ids. Error paths are tables: one row per request, with the code Janus gives.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "api/admin.h"
#include "api/api.h"
#include "api/errors.h"
#include "auth/auth.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"
#include "plugin/plugin_host.h"
#include "session/handle_media.h"
#include "session/session.h"
#include "test_sink.h"

#define APITEST_PACKAGE "odeon.plugin.apitest"
#define ADMIN_SECRET "adm"
#define SESSION_ID 4242
#define SDP "v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n"
#define SDP_NO_T "v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\n"
#define SDP_BAD_V "v=01\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n"

/* ---- the linked-in test plugin ---- */

static const odeon_core_callbacks *core;
static int plugin_messages;               /* handle_message calls */
static int plugin_created;                /* create_session calls that succeeded */
static int plugin_destroyed;              /* destroy_session calls */
static json_t *last_jsep;                 /* the jsep the plugin last received (reference) */
static odeon_plugin_handle *async_handle; /* reference kept by an "async" request */
static char *async_transaction;

static int apitest_init(const odeon_core_callbacks *callbacks, const char *config_path)
{
    (void)config_path;
    core = callbacks;
    return 0;
}

static int apitest_create(odeon_plugin_handle *handle)
{
    (void)handle;
    plugin_created++;
    return 0;
}

static void apitest_destroy_session(odeon_plugin_handle *handle)
{
    (void)handle;
    plugin_destroyed++;
}

static json_t *apitest_query(odeon_plugin_handle *handle)
{
    (void)handle;
    return json_pack("{s:s}", "state", "ready");
}

static odeon_plugin_result reply_ok(json_t *content)
{
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = content};
}

static odeon_plugin_result apitest_message(odeon_plugin_handle *handle, const char *transaction,
                                           json_t *body, json_t *jsep)
{
    plugin_messages++;
    json_decref(last_jsep);
    last_jsep = jsep ? json_incref(jsep) : NULL;
    const char *request = json_string_value(json_object_get(body, "request"));
    request = request ? request : "";
    if (strcmp(request, "jsep") == 0) {
        odeon_plugin_result r = reply_ok(json_pack("{s:b}", "negotiated", 1));
        r.jsep = core->jsep_answer(handle, NULL); /* completed by the core before the reply */
        return r;
    }
    if (strcmp(request, "async") == 0) {
        async_handle = core->handle_ref(handle);
        async_transaction = g_strdup(transaction);
        return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT, .hint = strdup("working")};
    }
    if (strcmp(request, "error") == 0)
        return (odeon_plugin_result){.kind = ODEON_PLUGIN_ERROR, .error_text = strdup("boom")};
    if (strcmp(request, "empty") == 0)
        return reply_ok(NULL);
    if (strcmp(request, "end") == 0) {
        /* The plugin ends its own handle from inside a call on it. */
        core->end_session(handle);
        return reply_ok(json_pack("{s:s}", "ended", "yes"));
    }
    return reply_ok(json_pack("{s:O}", "echo", body));
}

static json_t *apitest_admin(json_t *body)
{
    return json_pack("{s:s, s:O}", "admin", "pong", "got", body);
}

static const odeon_plugin apitest_plugin = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = APITEST_PACKAGE,
    .name = "API test",
    .description = "Linked-in plugin of test_api.c",
    .author = "The Odeon developers",
    .version_string = "9.8.7",
    .version = 90807,
    .init = apitest_init,
    .create_session = apitest_create,
    .handle_message = apitest_message,
    .handle_admin_message = apitest_admin,
    .destroy_session = apitest_destroy_session,
    .query_session = apitest_query,
};

static int refuser_create(odeon_plugin_handle *handle)
{
    (void)handle;
    return -1;
}

static const odeon_plugin refuser_plugin = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = "odeon.plugin.refuser",
    .name = "Refuser",
    .init = apitest_init,
    .create_session = refuser_create,
    .handle_message = apitest_message,
};

/* ---- fixture ---- */

typedef struct fixture {
    test_sink *sink;
    odeon_sessions *sessions;
    odeon_plugin_host *host;
    odeon_auth *auth;
    odeon_api *api;
    odeon_admin *admin;
    odeon_api_request req;
    json_t *reply;       /* the last reply (owned) */
    uint64_t session_id; /* $S */
    uint64_t handle_id;  /* $H */
} fixture;

static fixture *fixture_new(const char *secret, bool token_auth)
{
    fixture *fx = g_new0(fixture, 1);
    plugin_messages = plugin_created = plugin_destroyed = 0;
    odeon_clock_set_fake(INT64_C(5000000000), INT64_C(1700000000000000));
    char *tokens[] = {"alice:tok", "bob:tok-b", NULL};
    fx->sink = test_sink_new();
    fx->sessions = odeon_sessions_new(NULL);
    fx->auth = odeon_auth_new(secret, token_auth, tokens, NULL);
    odeon_core_services services = {.sessions = fx->sessions, .auth = fx->auth};
    fx->host = odeon_plugin_host_new(&services);
    char *error = NULL;
    assert_int_equal(odeon_plugin_host_add(fx->host, &apitest_plugin, NULL, &error), 0);
    assert_int_equal(odeon_plugin_host_add(fx->host, &refuser_plugin, NULL, &error), 0);
    odeon_api_settings settings = {
        .server_name = "unit-node", .session_timeout = 45, .accept_new_sessions = true};
    fx->api = odeon_api_new(&settings, fx->sessions, fx->host, fx->auth, NULL);
    fx->admin = odeon_admin_new(ADMIN_SECRET, fx->api, fx->sessions, fx->host);
    fx->req = (odeon_api_request){.sink = &fx->sink->base, .transport = "test"};
    return fx;
}

static int setup(void **state)
{
    *state = fixture_new(NULL, false);
    return 0;
}

static int setup_secret(void **state)
{
    *state = fixture_new("s3cret", false);
    return 0;
}

static int setup_token(void **state)
{
    *state = fixture_new(NULL, true);
    return 0;
}

static int setup_secret_token(void **state)
{
    *state = fixture_new("s3cret", true);
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (async_handle != NULL)
        core->handle_unref(async_handle);
    async_handle = NULL;
    g_clear_pointer(&async_transaction, g_free);
    g_clear_pointer(&last_jsep, json_decref);
    json_decref(fx->reply);
    odeon_admin_free(fx->admin);
    odeon_api_free(fx->api);
    odeon_sessions_free(fx->sessions);
    assert_int_equal(plugin_created, plugin_destroyed);
    odeon_plugin_host_free(fx->host);
    odeon_auth_free(fx->auth);
    assert_int_equal(test_sink_core_refs(fx->sink), 0);
    test_sink_free(fx->sink);
    odeon_clock_set_real();
    g_free(fx);
    return 0;
}

/* ---- requests ---- */

/* Single quotes become double quotes; $S and $H the fixture's session and handle ids. */
static char *expand(fixture *fx, const char *text)
{
    GString *s = g_string_new(text);
    char id[32];
    g_strdelimit(s->str, "'", '"');
    g_snprintf(id, sizeof(id), "%" G_GUINT64_FORMAT, fx->session_id);
    g_string_replace(s, "$S", id, 0);
    g_snprintf(id, sizeof(id), "%" G_GUINT64_FORMAT, fx->handle_id);
    g_string_replace(s, "$H", id, 0);
    return g_string_free(s, FALSE);
}

/* Send a Janus API request; the reply is borrowed (kept until the next request). */
static json_t *api(fixture *fx, const char *text)
{
    char *body = expand(fx, text);
    json_decref(fx->reply);
    fx->reply = odeon_api_handle_text(fx->api, &fx->req, body, strlen(body));
    g_free(body);
    assert_non_null(fx->reply);
    return fx->reply;
}

/* The same, as if posted to /janus/<session>[/<handle>]. */
static json_t *api_at(fixture *fx, uint64_t session, uint64_t handle, const char *text)
{
    fx->req.path_has_session = true;
    fx->req.path_session_id = session;
    fx->req.path_handle_id = handle;
    json_t *reply = api(fx, text);
    fx->req.path_has_session = false;
    fx->req.path_session_id = fx->req.path_handle_id = 0;
    return reply;
}

static json_t *admin(fixture *fx, const char *text)
{
    char *body = expand(fx, text);
    json_decref(fx->reply);
    fx->reply = odeon_admin_handle_text(fx->admin, &fx->req, body, strlen(body));
    g_free(body);
    assert_non_null(fx->reply);
    return fx->reply;
}

static const char *str_at(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    if (v == NULL)
        fail_msg("no string '%s' in %s", key, json_dumps(obj, JSON_COMPACT));
    return v;
}

static json_int_t int_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("no integer '%s'", key);
    return json_integer_value(v);
}

static void expect_janus(json_t *reply, const char *kind)
{
    const char *got = json_string_value(json_object_get(reply, "janus"));
    if (got == NULL || strcmp(got, kind) != 0) {
        char *dump = json_dumps(reply, JSON_COMPACT);
        print_error("expected '%s', got %s\n", kind, dump);
        free(dump);
        fail();
    }
}

/* Returns the reason. */
static const char *expect_error(json_t *reply, int code)
{
    expect_janus(reply, "error");
    json_t *error = json_object_get(reply, "error");
    if (int_at(error, "code") != code) {
        print_error("expected error %d, got %d (%s)\n", code, (int)int_at(error, "code"),
                    str_at(error, "reason"));
        fail();
    }
    return str_at(error, "reason");
}

static void expect_transaction(json_t *reply, const char *transaction)
{
    assert_string_equal(str_at(reply, "transaction"), transaction);
}

static void create_session(fixture *fx)
{
    fx->session_id = SESSION_ID;
    json_t *reply = api(fx, "{'janus':'create','transaction':'c','id':$S}");
    expect_janus(reply, "success");
    fx->session_id = (uint64_t)int_at(json_object_get(reply, "data"), "id");
}

static void attach_handle(fixture *fx)
{
    json_t *reply = api(fx, "{'janus':'attach','transaction':'a','session_id':$S,"
                            "'plugin':'" APITEST_PACKAGE "','opaque_id':'opq'}");
    expect_janus(reply, "success");
    fx->handle_id = (uint64_t)int_at(json_object_get(reply, "data"), "id");
}

static void create_and_attach(fixture *fx)
{
    create_session(fx);
    attach_handle(fx);
}

/* ---- info, ping, create ---- */

static void test_info(void **state)
{
    fixture *fx = *state;
    json_t *reply = api(fx, "{'janus':'info','transaction':'i1'}");
    expect_janus(reply, "server_info");
    expect_transaction(reply, "i1");
    assert_string_equal(str_at(reply, "name"), "Odeon");
    assert_true(int_at(reply, "version") > 0);
    assert_true(strlen(str_at(reply, "version_string")) > 0);
    assert_string_equal(str_at(reply, "server-name"), "unit-node");
    assert_int_equal(int_at(reply, "session-timeout"), 45);
    assert_true(json_is_true(json_object_get(reply, "accepting-new-sessions")));
    assert_true(json_is_false(json_object_get(reply, "api_secret")));
    assert_true(json_is_false(json_object_get(reply, "auth_token")));
    json_t *plugin = json_object_get(json_object_get(reply, "plugins"), APITEST_PACKAGE);
    assert_non_null(plugin);
    assert_string_equal(str_at(plugin, "name"), "API test");
    assert_string_equal(str_at(plugin, "version_string"), "9.8.7");
    assert_int_equal(int_at(plugin, "version"), 90807);
    assert_non_null(json_object_get(json_object_get(reply, "plugins"), "odeon.plugin.refuser"));
    assert_true(json_is_object(json_object_get(reply, "dependencies")));
    assert_true(json_is_object(json_object_get(reply, "transports")));
    /* The same object is what GET <base>/info returns. */
    json_t *direct = odeon_api_server_info(fx->api, NULL);
    assert_null(json_object_get(direct, "transaction"));
    assert_string_equal(str_at(direct, "name"), "Odeon");
    json_decref(direct);
}

static void test_ping(void **state)
{
    fixture *fx = *state;
    json_t *reply = api(fx, "{'janus':'ping','transaction':'p1'}");
    expect_janus(reply, "pong");
    expect_transaction(reply, "p1");
    assert_null(json_object_get(reply, "session_id"));
}

static void test_create(void **state)
{
    fixture *fx = *state;
    json_t *reply = api(fx, "{'janus':'create','transaction':'c1'}");
    expect_janus(reply, "success");
    expect_transaction(reply, "c1");
    assert_null(json_object_get(reply, "session_id"));
    json_int_t id = int_at(json_object_get(reply, "data"), "id");
    assert_true(id > 0 && id <= (json_int_t)ODEON_MAX_ID);
    odeon_session *s = odeon_sessions_lookup(fx->sessions, (uint64_t)id);
    assert_non_null(s);
    odeon_event_sink *sink = odeon_session_sink(s);
    assert_ptr_equal(sink, &fx->sink->base);
    sink->ops->unref(sink);
    assert_null(odeon_session_identity(s)); /* anonymous */
    odeon_session_unref(s);

    /* A client-chosen id is honoured, and a taken one refused. */
    reply = api(fx, "{'janus':'create','transaction':'c2','id':777}");
    expect_janus(reply, "success");
    assert_int_equal(int_at(json_object_get(reply, "data"), "id"), 777);
    reply = api(fx, "{'janus':'create','transaction':'c3','id':777}");
    expect_error(reply, ODEON_API_ERROR_SESSION_CONFLICT);
    expect_transaction(reply, "c3");
    assert_int_equal(odeon_sessions_count(fx->sessions), 2);
}

static void test_create_not_accepting(void **state)
{
    fixture *fx = *state;
    odeon_api_set_accepting(fx->api, false);
    assert_false(odeon_api_is_accepting(fx->api));
    expect_error(api(fx, "{'janus':'create','transaction':'c'}"),
                 ODEON_API_ERROR_NOT_ACCEPTING_SESSIONS);
    assert_true(json_is_false(
        json_object_get(api(fx, "{'janus':'info','transaction':'i'}"), "accepting-new-sessions")));
    assert_int_equal(odeon_sessions_count(fx->sessions), 0);
    odeon_api_set_accepting(fx->api, true);
    expect_janus(api(fx, "{'janus':'create','transaction':'c'}"), "success");

    /* The setting given at construction counts too. */
    odeon_api_settings settings = {.server_name = "closed", .accept_new_sessions = false};
    odeon_api *closed = odeon_api_new(&settings, fx->sessions, fx->host, fx->auth, NULL);
    const char *text = "{\"janus\":\"create\",\"transaction\":\"c\"}";
    json_t *reply = odeon_api_handle_text(closed, &fx->req, text, strlen(text));
    expect_error(reply, ODEON_API_ERROR_NOT_ACCEPTING_SESSIONS);
    json_decref(reply);
    odeon_api_free(closed);
}

/* ---- attach, message ---- */

static void test_attach(void **state)
{
    fixture *fx = *state;
    create_session(fx);
    assert_int_equal(fx->session_id, SESSION_ID);
    json_t *reply = api(fx, "{'janus':'attach','transaction':'a1','session_id':$S,"
                            "'plugin':'" APITEST_PACKAGE "','opaque_id':'my-opaque'}");
    expect_janus(reply, "success");
    expect_transaction(reply, "a1");
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
    json_int_t hid = int_at(json_object_get(reply, "data"), "id");
    assert_true(hid > 0);
    assert_int_equal(plugin_created, 1);

    odeon_session *s = odeon_sessions_lookup(fx->sessions, SESSION_ID);
    odeon_handle *h = odeon_session_lookup_handle(s, (uint64_t)hid);
    assert_non_null(h);
    assert_ptr_equal(odeon_handle_plugin(h), &apitest_plugin);
    json_t *info = odeon_handle_info_json(h);
    assert_string_equal(str_at(info, "opaque_id"), "my-opaque");
    json_decref(info);
    odeon_handle_unref(h);
    odeon_session_unref(s);
}

static void test_message_sync(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    json_t *reply = api(fx, "{'janus':'message','transaction':'m1','session_id':$S,"
                            "'handle_id':$H,'body':{'request':'sync','n':1}}");
    expect_janus(reply, "success");
    expect_transaction(reply, "m1");
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
    assert_int_equal(int_at(reply, "sender"), (json_int_t)fx->handle_id);
    json_t *plugindata = json_object_get(reply, "plugindata");
    assert_string_equal(str_at(plugindata, "plugin"), APITEST_PACKAGE);
    json_t *echo = json_object_get(json_object_get(plugindata, "data"), "echo");
    assert_string_equal(str_at(echo, "request"), "sync");
    assert_int_equal(int_at(echo, "n"), 1);
    assert_null(json_object_get(reply, "jsep"));
    assert_null(last_jsep);
    assert_int_equal(plugin_messages, 1);

    /* A NULL content becomes an empty data object. */
    reply = api(fx, "{'janus':'message','transaction':'m2','session_id':$S,'handle_id':$H,"
                    "'body':{'request':'empty'}}");
    expect_janus(reply, "success");
    json_t *data = json_object_get(json_object_get(reply, "plugindata"), "data");
    assert_true(json_is_object(data) && json_object_size(data) == 0);
}

/* A browser offer from the SDP fixtures, escaped for the api() template (no quotes in it). */
static char *offer_for_template(const char *name)
{
    char *path = g_build_filename(ODEON_TEST_FIXTURES_DIR, "sdp", name, NULL);
    char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_free(path);
    GString *out = g_string_new(NULL);
    for (const char *c = text; *c; c++) {
        if (*c == '\r')
            continue;
        if (*c == '\n')
            g_string_append(out, "\\r\\n");
        else
            g_string_append_c(out, *c);
    }
    g_free(text);
    return g_string_free(out, FALSE);
}

static void test_message_jsep(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    char *offer = offer_for_template("chrome_offer.sdp");
    char *msg = g_strdup_printf("{'janus':'message','transaction':'m','session_id':$S,"
                                "'handle_id':$H,'body':{'request':'jsep'},"
                                "'jsep':{'type':'offer','sdp':'%s'}}",
                                offer);
    json_t *reply = api(fx, msg);
    g_free(msg);
    g_free(offer);
    expect_janus(reply, "success");
    assert_non_null(last_jsep);
    assert_string_equal(str_at(last_jsep, "type"), "offer");
    assert_true(strncmp(str_at(last_jsep, "sdp"), "v=0\r\n", 5) == 0);
    /* The plugin's answer comes back completed with our transport. */
    json_t *jsep = json_object_get(reply, "jsep");
    assert_string_equal(str_at(jsep, "type"), "answer");
    const char *sdp = str_at(jsep, "sdp");
    assert_non_null(strstr(sdp, "a=ice-ufrag:"));
    assert_non_null(strstr(sdp, "a=fingerprint:sha-256 "));
    assert_non_null(strstr(sdp, "a=setup:active"));
    assert_non_null(strstr(sdp, "a=candidate:"));
    assert_non_null(strstr(sdp, "a=end-of-candidates"));
    assert_non_null(strstr(sdp, "a=group:BUNDLE"));
    /* An answer where nothing was offered is refused as Janus does. */
    expect_error(api(fx, "{'janus':'message','transaction':'m2','session_id':$S,'handle_id':$H,"
                         "'body':{},'jsep':{'type':'answer','sdp':'" SDP "'}}"),
                 465);
}

static void test_message_async(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    json_t *reply = api(fx, "{'janus':'message','transaction':'later','session_id':$S,"
                            "'handle_id':$H,'body':{'request':'async'}}");
    expect_janus(reply, "ack");
    expect_transaction(reply, "later");
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
    assert_string_equal(str_at(reply, "hint"), "working");
    assert_null(json_object_get(reply, "plugindata"));
    assert_int_equal(test_sink_count(fx->sink, "event"), 0);

    /* The plugin answers later from its own thread. */
    json_t *data = json_pack("{s:s}", "result", "done");
    json_t *bad_jsep = json_pack("{s:s}", "type", "offer"); /* no sdp */
    assert_int_equal(core->push_event(async_handle, async_transaction, data, bad_jsep),
                     ODEON_EINVAL);
    assert_int_equal(core->push_event(async_handle, NULL, NULL, NULL), ODEON_EINVAL);
    assert_int_equal(core->push_event(async_handle, async_transaction, data, NULL), 0);
    json_t *ev = test_sink_event(fx->sink, "event", 0);
    assert_non_null(ev);
    assert_int_equal(int_at(ev, "session_id"), SESSION_ID);
    assert_int_equal(int_at(ev, "sender"), (json_int_t)fx->handle_id);
    expect_transaction(ev, "later");
    json_t *plugindata = json_object_get(ev, "plugindata");
    assert_string_equal(str_at(plugindata, "plugin"), APITEST_PACKAGE);
    assert_string_equal(str_at(json_object_get(plugindata, "data"), "result"), "done");
    assert_null(json_object_get(ev, "jsep"));

    /* After a detach the plugin's pushes are refused. */
    expect_janus(api(fx, "{'janus':'detach','transaction':'d','session_id':$S,'handle_id':$H}"),
                 "success");
    assert_int_equal(core->push_event(async_handle, NULL, data, NULL), ODEON_EGONE);
    assert_int_equal(test_sink_count(fx->sink, "event"), 1);
    json_decref(bad_jsep);
    json_decref(data);
}

/* One event to many handles is serialised once; each client gets exactly what push_event
 * would have sent it (the test sink parses the spliced text back: it must be valid JSON). */
static void test_push_event_many(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    /* The test plugin keeps the handle of an "async" request. */
    expect_janus(api(fx, "{'janus':'message','transaction':'m','session_id':$S,'handle_id':$H,"
                         "'body':{'request':'async'}}"),
                 "ack");
    json_t *data = json_pack("{s:s, s:[i, s]}", "chat", "messages", "list", 1, "quote \" \\ é");
    odeon_plugin_handle *handles[] = {async_handle, NULL, async_handle};
    assert_int_equal(core->push_event_many(handles, 3, data), 2);
    assert_int_equal(core->push_event(async_handle, NULL, data, NULL), 0);
    assert_int_equal(test_sink_count(fx->sink, "event"), 3);
    json_t *many = test_sink_event(fx->sink, "event", 0);
    json_t *one = test_sink_event(fx->sink, "event", 2);
    assert_true(json_equal(many, one));
    assert_true(json_equal(json_object_get(json_object_get(many, "plugindata"), "data"), data));
    assert_int_equal(core->push_event_many(handles, 3, NULL), ODEON_EINVAL);
    assert_int_equal(core->push_event_many(NULL, 0, data), 0);
    expect_janus(api(fx, "{'janus':'detach','transaction':'d','session_id':$S,'handle_id':$H}"),
                 "success");
    assert_int_equal(core->push_event_many(handles, 3, data), 0); /* gone: skipped */
    json_decref(data);
}

static void test_push_event_with_jsep(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    expect_janus(api(fx, "{'janus':'message','transaction':'t','session_id':$S,'handle_id':$H,"
                         "'body':{'request':'async'}}"),
                 "ack");
    json_t *data = json_object();
    /* SDP that does not parse is refused at once. */
    json_t *bad = json_pack("{s:s, s:s}", "type", "offer", "sdp", "v=0\r\n");
    assert_int_equal(core->push_event(async_handle, NULL, data, bad), ODEON_EINVAL);
    json_decref(bad);
    /* Odeon's own offer (the subscriber direction) is completed on the media loop, then sent. */
    json_t *opts = json_pack("{s:[{s:s, s:s, s:i}]}", "streams", "kind", "video", "codec", "VP8",
                             "pt", 96);
    json_t *jsep = core->jsep_offer(async_handle, opts);
    json_decref(opts);
    assert_non_null(jsep);
    assert_int_equal(core->push_event(async_handle, NULL, data, jsep), 0);
    for (int i = 0; i < 500 && test_sink_count(fx->sink, "event") == 0; i++)
        g_usleep(10000);
    json_t *ev = test_sink_event(fx->sink, "event", 0);
    assert_non_null(ev);
    assert_null(json_object_get(ev, "transaction"));
    json_t *sent = json_object_get(ev, "jsep");
    assert_string_equal(str_at(sent, "type"), "offer");
    assert_non_null(strstr(str_at(sent, "sdp"), "a=setup:actpass"));
    assert_non_null(strstr(str_at(sent, "sdp"), "a=rtpmap:96 VP8/90000"));
    json_decref(jsep);
    json_decref(data);
}

static void test_message_plugin_error(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    json_t *reply = api(fx, "{'janus':'message','transaction':'e','session_id':$S,'handle_id':$H,"
                            "'body':{'request':'error'}}");
    assert_string_equal(expect_error(reply, ODEON_API_ERROR_PLUGIN_MESSAGE), "boom");
    expect_transaction(reply, "e");
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
}

static void test_message_end_session(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    json_t *reply = api(fx, "{'janus':'message','transaction':'x','session_id':$S,'handle_id':$H,"
                            "'body':{'request':'end'}}");
    expect_janus(reply, "success");
    assert_int_equal(test_sink_count(fx->sink, "detached"), 1);
    /* destroy_session ran once, after the call returned. */
    assert_int_equal(plugin_destroyed, 1);
    expect_error(api(fx, "{'janus':'message','transaction':'y','session_id':$S,'handle_id':$H,"
                         "'body':{}}"),
                 ODEON_API_ERROR_HANDLE_NOT_FOUND);
    assert_int_equal(plugin_messages, 1);
}

/* ---- trickle, keepalive, detach, hangup, destroy ---- */

static void test_trickle(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    static const char *const ok[] = {
        "'candidate':{'sdpMid':'0','sdpMLineIndex':0,'candidate':'candidate:1 1 udp 1 1.2.3.4 5 "
        "typ host'}",
        "'candidate':{'sdpMid':'0','candidate':'candidate:1'}",
        "'candidate':{'sdpMLineIndex':1,'candidate':'candidate:1'}",
        "'candidate':{'completed':true}",
        "'candidates':[{'sdpMid':'0','candidate':'c1'},{'sdpMLineIndex':0,'candidate':'c2'},"
        "{'completed':true}]",
        "'candidates':[]",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        char *text = g_strdup_printf("{'janus':'trickle','transaction':'t%zu','session_id':$S,"
                                     "'handle_id':$H,%s}",
                                     i, ok[i]);
        json_t *reply = api(fx, text);
        g_free(text);
        expect_janus(reply, "ack");
        assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
        assert_true(g_str_has_prefix(str_at(reply, "transaction"), "t"));
    }
    assert_int_equal(plugin_messages, 0);
}

static void test_keepalive(void **state)
{
    fixture *fx = *state;
    create_session(fx);
    odeon_clock_advance(INT64_C(20000000));
    json_t *reply = api(fx, "{'janus':'keepalive','transaction':'k','session_id':$S}");
    expect_janus(reply, "ack");
    expect_transaction(reply, "k");
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
    /* Every request on a session counts as activity. */
    odeon_session *s = odeon_sessions_lookup(fx->sessions, SESSION_ID);
    assert_int_equal(odeon_session_last_activity_us(s), INT64_C(5020000000));
    odeon_session_unref(s);
}

static void test_detach(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    json_t *reply = api(fx, "{'janus':'detach','transaction':'d','session_id':$S,'handle_id':$H}");
    expect_janus(reply, "success");
    expect_transaction(reply, "d");
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
    assert_int_equal(plugin_destroyed, 1);
    json_t *ev = test_sink_event(fx->sink, "detached", 0);
    assert_non_null(ev);
    assert_int_equal(int_at(ev, "session_id"), SESSION_ID);
    assert_int_equal(int_at(ev, "sender"), (json_int_t)fx->handle_id);
    expect_error(api(fx, "{'janus':'detach','transaction':'d','session_id':$S,'handle_id':$H}"),
                 ODEON_API_ERROR_HANDLE_NOT_FOUND);
}

static void test_hangup(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    json_t *reply = api(fx, "{'janus':'hangup','transaction':'h','session_id':$S,'handle_id':$H}");
    expect_janus(reply, "success");
    expect_transaction(reply, "h");
    assert_int_equal(plugin_destroyed, 0); /* the handle stays */
    expect_janus(api(fx, "{'janus':'message','transaction':'m','session_id':$S,'handle_id':$H,"
                         "'body':{}}"),
                 "success");
}

static void test_destroy(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    json_t *reply = api(fx, "{'janus':'destroy','transaction':'x','session_id':$S}");
    expect_janus(reply, "success");
    expect_transaction(reply, "x");
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
    assert_int_equal(plugin_destroyed, 1);
    assert_int_equal(test_sink_gone_count(fx->sink, SESSION_ID), 1);
    assert_int_equal(odeon_sessions_count(fx->sessions), 0);
    reply = api(fx, "{'janus':'keepalive','transaction':'k','session_id':$S}");
    expect_error(reply, ODEON_API_ERROR_SESSION_NOT_FOUND);
    expect_janus(api(fx, "{'janus':'destroy','transaction':'x','session_id':$S}"), "error");
}

static void test_keepalive_on_handle(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    /* Janus accepts a keepalive posted to a handle path too. */
    json_t *reply =
        api(fx, "{'janus':'keepalive','transaction':'k','session_id':$S,'handle_id':$H}");
    expect_janus(reply, "ack");
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
}

static void test_claim(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    test_sink *other = test_sink_new();
    fx->req.sink = &other->base;
    json_t *reply = api(fx, "{'janus':'claim','transaction':'cl','session_id':$S}");
    fx->req.sink = &fx->sink->base;
    expect_janus(reply, "success");
    expect_transaction(reply, "cl");
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
    /* The old connection lets the session go; events now reach the claiming one. */
    assert_int_equal(test_sink_gone_count(fx->sink, SESSION_ID), 1);
    assert_int_equal(test_sink_core_refs(fx->sink), 0);
    assert_int_equal(test_sink_core_refs(other), 1);
    expect_janus(api(fx, "{'janus':'detach','transaction':'d','session_id':$S,'handle_id':$H}"),
                 "success");
    assert_int_equal(test_sink_count(fx->sink, "detached"), 0);
    assert_int_equal(test_sink_count(other, "detached"), 1);
    /* The old connection closing no longer destroys the session. */
    odeon_sessions_destroy_by_sink(fx->sessions, &fx->sink->base);
    assert_int_equal(odeon_sessions_count(fx->sessions), 1);
    odeon_sessions_destroy_by_sink(fx->sessions, &other->base);
    assert_int_equal(odeon_sessions_count(fx->sessions), 0);
    assert_int_equal(test_sink_core_refs(other), 0);
    test_sink_free(other);
}

static void test_claim_same_sink(void **state)
{
    fixture *fx = *state;
    create_session(fx);
    expect_janus(api(fx, "{'janus':'claim','transaction':'cl','session_id':$S}"), "success");
    /* Claiming over the connection that already owns it changes nothing. */
    assert_int_equal(test_sink_gone_count(fx->sink, SESSION_ID), 0);
    assert_int_equal(test_sink_core_refs(fx->sink), 1);
}

/* ---- error tables ---- */

typedef struct error_row {
    const char *request;
    int code;
} error_row;

#define MSG "{'janus':'message','transaction':'tx','session_id':$S,'handle_id':$H,"
#define TRICKLE "{'janus':'trickle','transaction':'tx','session_id':$S,'handle_id':$H,"
#define ATTACH "{'janus':'attach','transaction':'tx','session_id':$S,"

static const error_row api_errors[] = {
    /* envelope */
    {"{'janus':'info'}", 456},
    {"{'janus':'info','transaction':5}", 467},
    {"{'transaction':'tx'}", 456},
    {"{'janus':5,'transaction':'tx'}", 467},
    {"{'janus':'keepalive','transaction':'tx','session_id':'abc'}", 467},
    {"{'janus':'keepalive','transaction':'tx','session_id':-4}", 467},
    {MSG "'body':{},'handle_id':2.5}", 454}, /* duplicate key */
    {"{'janus':'message','transaction':'tx','session_id':$S,'handle_id':2.5,'body':{}}", 467},
    /* verbs and paths: at the base path only create, info and ping exist */
    {"{'janus':'bogus','transaction':'tx'}", 457},
    {"{'janus':'bogus','transaction':'tx','session_id':$S}", 453},
    {"{'janus':'info','transaction':'tx','session_id':$S}", 453},
    {"{'janus':'ping','transaction':'tx','session_id':$S,'handle_id':$H}", 453},
    {"{'janus':'keepalive','transaction':'tx'}", 457},
    {"{'janus':'destroy','transaction':'tx'}", 457},
    {"{'janus':'attach','transaction':'tx','plugin':'" APITEST_PACKAGE "'}", 457},
    {"{'janus':'create','transaction':'tx','session_id':$S}", 453},
    {ATTACH "'handle_id':$H,'plugin':'" APITEST_PACKAGE "'}", 457},
    {"{'janus':'destroy','transaction':'tx','session_id':$S,'handle_id':$H}", 457},
    {"{'janus':'claim','transaction':'tx','session_id':$S,'handle_id':$H}", 457},
    {"{'janus':'claim','transaction':'tx'}", 457},
    {"{'janus':'message','transaction':'tx','session_id':$S,'body':{}}", 457},
    {"{'janus':'trickle','transaction':'tx','session_id':$S,'candidate':{'completed':true}}", 457},
    {"{'janus':'detach','transaction':'tx','session_id':$S}", 457},
    {"{'janus':'hangup','transaction':'tx','session_id':$S}", 457},
    {"{'janus':'keepalive','transaction':'tx','session_id':4243}", 458},
    {"{'janus':'message','transaction':'tx','handle_id':$H,'body':{}}", 458},
    {"{'janus':'message','transaction':'tx','session_id':$S,'handle_id':1,'body':{}}", 459},
    /* create */
    {"{'janus':'create','transaction':'tx','id':'abc'}", 467},
    {"{'janus':'create','transaction':'tx','id':0}", 467},
    {"{'janus':'create','transaction':'tx','id':-1}", 467},
    {"{'janus':'create','transaction':'tx','id':1.5}", 467},
    {"{'janus':'create','transaction':'tx','id':$S}", 468},
    /* attach */
    {ATTACH "'opaque_id':'x'}", 456},
    {ATTACH "'plugin':5}", 467},
    {ATTACH "'plugin':'odeon.plugin.nosuch'}", 460},
    {ATTACH "'plugin':'odeon.plugin.refuser'}", 461},
    {ATTACH "'plugin':'" APITEST_PACKAGE "','opaque_id':5}", 467},
    /* message */
    {MSG "'jsep':{'type':'offer','sdp':'v=0'}}", 456},
    {MSG "'body':'x'}", 467},
    {MSG "'body':[]}", 467},
    {MSG "'body':{},'jsep':'x'}", 455}, /* Janus: "Invalid jsep object" */
    {MSG "'body':{},'jsep':{'sdp':'v=0'}}", 456},
    {MSG "'body':{},'jsep':{'type':5,'sdp':'v=0'}}", 467},
    {MSG "'body':{},'jsep':{'type':'pranswer','sdp':'v=0'}}", 464},
    {MSG "'body':{},'jsep':{'type':'offer'}}", 456},
    {MSG "'body':{},'jsep':{'type':'answer','sdp':5}}", 467},
    {MSG "'body':{},'jsep':{'type':'offer','sdp':'hello'}}", 465},
    {MSG "'body':{},'jsep':{'type':'offer','sdp':''}}", 465},
    {MSG "'body':{},'jsep':{'type':'offer','sdp':'v=0'}}", 465},
    {MSG "'body':{},'jsep':{'type':'offer','sdp':'" SDP_BAD_V "'}}", 465},
    {MSG "'body':{},'jsep':{'type':'answer','sdp':'" SDP_NO_T "'}}", 465},
    {MSG "'body':{'request':'error'}}", 462},
    /* trickle */
    {TRICKLE "'foo':1}", 456},
    {TRICKLE "'candidate':{'completed':true},'candidates':[]}", 454},
    {TRICKLE "'candidates':'x'}", 467},
    {TRICKLE "'candidates':{'sdpMid':'0','candidate':'c'}}", 467},
};

/* Runs every row; a row whose request carries transaction "tx" must get it back. */
static void run_error_rows(fixture *fx, const error_row *rows, size_t n,
                           json_t *(*send)(fixture *, const char *))
{
    for (size_t i = 0; i < n; i++) {
        json_t *reply = send(fx, rows[i].request);
        json_t *error = json_object_get(reply, "error");
        if (!json_is_integer(json_object_get(error, "code")) ||
            int_at(error, "code") != rows[i].code) {
            char *dump = json_dumps(reply, JSON_COMPACT);
            print_error("row %zu %s: expected %d, got %s\n", i, rows[i].request, rows[i].code,
                        dump);
            free(dump);
            fail();
        }
        assert_true(strlen(str_at(error, "reason")) > 0);
        if (strstr(rows[i].request, "'transaction':'tx'") != NULL && rows[i].code != 454)
            expect_transaction(reply, "tx");
    }
}

static void test_api_errors(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    run_error_rows(fx, api_errors, G_N_ELEMENTS(api_errors), api);
    /* Only the row the plugin refused reached it; nothing was destroyed by mistake. */
    assert_int_equal(plugin_messages, 1);
    assert_int_equal(plugin_destroyed, 0);
    assert_int_equal(odeon_sessions_count(fx->sessions), 1);
}

static void test_error_reasons(void **state)
{
    fixture *fx = *state;
    json_t *reply = api(fx, "{'janus':'info','transaction':'t'");
    const char *reason = expect_error(reply, ODEON_API_ERROR_INVALID_JSON);
    assert_true(g_str_has_prefix(reason, "JSON error"));
    assert_null(json_object_get(reply, "transaction"));
    expect_error(api(fx, ""), ODEON_API_ERROR_INVALID_JSON);
    expect_error(api(fx, "{'janus':'ping','transaction':'t'} trailing"),
                 ODEON_API_ERROR_INVALID_JSON);
    expect_error(api(fx, "[1,2]"), ODEON_API_ERROR_INVALID_JSON_OBJECT);
    /* Like Janus (jansson without JSON_DECODE_ANY), a bare scalar is not even JSON here. */
    expect_error(api(fx, "'text'"), ODEON_API_ERROR_INVALID_JSON);
    expect_error(api(fx, "[]"), ODEON_API_ERROR_INVALID_JSON_OBJECT);
    json_t *scalar = json_integer(5); /* a transport may hand over a parsed value */
    json_t *reply5 = odeon_api_handle(fx->api, &fx->req, scalar);
    expect_error(reply5, ODEON_API_ERROR_INVALID_JSON_OBJECT);
    json_decref(reply5);
    reply5 = odeon_admin_handle(fx->admin, &fx->req, scalar);
    expect_error(reply5, ODEON_API_ERROR_INVALID_JSON_OBJECT);
    json_decref(reply5);
    json_decref(scalar);
    reason = expect_error(api(fx, "{'janus':'nope','transaction':'t'}"),
                          ODEON_API_ERROR_INVALID_REQUEST_PATH);
    assert_non_null(strstr(reason, "nope"));
    create_session(fx);
    reason = expect_error(api(fx, "{'janus':'nope','transaction':'t','session_id':$S}"),
                          ODEON_API_ERROR_UNKNOWN_REQUEST);
    assert_non_null(strstr(reason, "nope"));
    reason = expect_error(api(fx, "{'janus':'keepalive','transaction':'t','session_id':99}"),
                          ODEON_API_ERROR_SESSION_NOT_FOUND);
    assert_non_null(strstr(reason, "99"));

    /* The helper transports use for their own errors. */
    json_t *e = odeon_api_error(0, NULL, ODEON_API_ERROR_SESSION_NOT_FOUND, NULL);
    assert_null(json_object_get(e, "session_id"));
    assert_null(json_object_get(e, "transaction"));
    assert_string_equal(expect_error(e, 458), "Session not found");
    json_decref(e);
    e = odeon_api_error(12, "tr", ODEON_API_ERROR_UNAUTHORIZED, "nope");
    assert_int_equal(int_at(e, "session_id"), 12);
    expect_transaction(e, "tr");
    assert_string_equal(expect_error(e, 403), "nope");
    json_decref(e);
    assert_string_equal(odeon_api_error_reason(499), "Unknown error");
    assert_string_equal(odeon_api_error_reason(ODEON_API_ERROR_INVALID_JSON), "Invalid JSON");
}

/* ---- ids from the request path (HTTP) ---- */

static void test_path_ids(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    uint64_t s = fx->session_id, h = fx->handle_id;
    expect_janus(api_at(fx, s, 0, "{'janus':'keepalive','transaction':'k'}"), "ack");
    expect_janus(api_at(fx, s, h, "{'janus':'message','transaction':'m','body':{}}"), "success");
    expect_janus(api_at(fx, s, 0, "{'janus':'keepalive','transaction':'k','session_id':$S}"),
                 "ack");
    expect_janus(api_at(fx, s, h, "{'janus':'hangup','transaction':'k','handle_id':$H}"),
                 "success");
    expect_error(api_at(fx, s, 0, "{'janus':'keepalive','transaction':'k','session_id':1}"),
                 ODEON_API_ERROR_INVALID_REQUEST_PATH);
    expect_error(api_at(fx, s, h, "{'janus':'hangup','transaction':'k','handle_id':1}"),
                 ODEON_API_ERROR_INVALID_REQUEST_PATH);
    expect_error(api_at(fx, s, 0, "{'janus':'create','transaction':'c'}"),
                 ODEON_API_ERROR_UNKNOWN_REQUEST);
    expect_error(
        api_at(fx, s, h, "{'janus':'attach','transaction':'k','plugin':'" APITEST_PACKAGE "'}"),
        ODEON_API_ERROR_INVALID_REQUEST_PATH);
    /* A URL that named a session the transport could not parse. */
    expect_error(api_at(fx, 0, 0, "{'janus':'keepalive','transaction':'k'}"),
                 ODEON_API_ERROR_SESSION_NOT_FOUND);
    expect_error(api_at(fx, 0, 0, "{'janus':'create','transaction':'c'}"),
                 ODEON_API_ERROR_SESSION_NOT_FOUND);
    assert_int_equal(odeon_sessions_count(fx->sessions), 1);
    /* info exists at the base path only (GET <base>/info), as in Janus. */
    expect_error(api_at(fx, s, 0, "{'janus':'info','transaction':'i'}"),
                 ODEON_API_ERROR_UNKNOWN_REQUEST);
}

/* ---- api secret and tokens ---- */

static void test_api_secret(void **state)
{
    fixture *fx = *state;
    json_t *reply = api(fx, "{'janus':'info','transaction':'i'}");
    expect_janus(reply, "server_info");
    assert_true(json_is_true(json_object_get(reply, "api_secret")));
    expect_janus(api(fx, "{'janus':'ping','transaction':'p'}"), "pong");
    reply = api(fx, "{'janus':'create','transaction':'c'}");
    expect_error(reply, ODEON_API_ERROR_UNAUTHORIZED);
    expect_transaction(reply, "c");
    expect_error(api(fx, "{'janus':'create','transaction':'c','apisecret':'wrong'}"), 403);
    expect_error(api(fx, "{'janus':'create','transaction':'c','apisecret':'s3cre'}"), 403);
    expect_error(api(fx, "{'janus':'create','transaction':'c','apisecret':5}"), 403);
    expect_error(api(fx, "{'janus':'create','transaction':'c','token':'s3cret'}"), 403);
    assert_int_equal(odeon_sessions_count(fx->sessions), 0);

    reply = api(fx, "{'janus':'create','transaction':'c','apisecret':'s3cret'}");
    expect_janus(reply, "success");
    fx->session_id = (uint64_t)int_at(json_object_get(reply, "data"), "id");
    expect_error(api(fx, "{'janus':'keepalive','transaction':'k','session_id':$S}"), 403);
    expect_janus(api(fx, "{'janus':'keepalive','transaction':'k','session_id':$S,"
                         "'apisecret':'s3cret'}"),
                 "ack");
    /* The secret is checked before the session is looked up: no probing for session ids. */
    expect_error(api(fx, "{'janus':'keepalive','transaction':'k','session_id':1}"), 403);
}

static void test_token_auth(void **state)
{
    fixture *fx = *state;
    assert_true(odeon_api_token_auth(fx->api));
    json_t *reply = api(fx, "{'janus':'info','transaction':'i'}");
    assert_true(json_is_true(json_object_get(reply, "auth_token")));
    expect_error(api(fx, "{'janus':'create','transaction':'c'}"), ODEON_API_ERROR_UNAUTHORIZED);
    expect_error(api(fx, "{'janus':'create','transaction':'c','token':'nope'}"), 403);
    expect_error(api(fx, "{'janus':'create','transaction':'c','token':''}"), 403);
    expect_error(api(fx, "{'janus':'create','transaction':'c','token':'alice'}"), 403);
    expect_error(api(fx, "{'janus':'create','transaction':'c','token':'alice:tok'}"), 403);

    reply = api(fx, "{'janus':'create','transaction':'c','token':'tok'}");
    expect_janus(reply, "success");
    fx->session_id = (uint64_t)int_at(json_object_get(reply, "data"), "id");
    odeon_session *s = odeon_sessions_lookup(fx->sessions, fx->session_id);
    const odeon_identity *who = odeon_session_identity(s);
    assert_non_null(who);
    assert_string_equal(who->subject, "alice");
    assert_string_equal(who->provider, "static");
    odeon_session_unref(s);

    expect_error(api(fx, "{'janus':'keepalive','transaction':'k','session_id':$S}"), 403);
    expect_janus(api(fx, "{'janus':'keepalive','transaction':'k','session_id':$S,"
                         "'token':'tok-b'}"),
                 "ack");
}

static void test_secret_or_token(void **state)
{
    fixture *fx = *state;
    expect_error(api(fx, "{'janus':'create','transaction':'c'}"), 403);
    expect_janus(api(fx, "{'janus':'create','transaction':'c','apisecret':'s3cret'}"), "success");
    expect_janus(api(fx, "{'janus':'create','transaction':'c','token':'tok'}"), "success");
    expect_error(api(fx, "{'janus':'create','transaction':'c','apisecret':'x','token':'y'}"), 403);
}

/* A plugin's provider (the tickets plugin's kind): a token at create is an identity even with
 * token_auth off, refused with 403 when it does not resolve; later requests on the session are
 * not checked against it; roles come from the provider that made the identity. */
static int provider_resolve(void *user_data, const char *token, odeon_identity **out)
{
    (void)user_data;
    if (strcmp(token, "good") != 0)
        return ODEON_EPERM;
    odeon_identity *id = g_new0(odeon_identity, 1);
    id->subject = "participant:1";
    id->provider = "unit";
    *out = id;
    return 0;
}

static void provider_identity_free(void *user_data, odeon_identity *identity)
{
    (void)user_data;
    g_free(identity);
}

static const char *provider_event_role(void *user_data, const odeon_identity *identity,
                                       const char *event_id)
{
    (void)user_data;
    (void)identity;
    return strcmp(event_id, "7") == 0 ? "participant" : NULL;
}

static const odeon_auth_provider unit_provider = {
    .name = "unit",
    .resolve = provider_resolve,
    .identity_free = provider_identity_free,
    .event_role = provider_event_role,
};

static void test_plugin_provider(void **state)
{
    fixture *fx = *state;
    assert_int_equal(odeon_auth_set_provider(fx->auth, &unit_provider, true), 0);
    assert_int_equal(odeon_auth_set_provider(fx->auth, &unit_provider, true), ODEON_EEXIST);
    expect_janus(api(fx, "{'janus':'create','transaction':'c'}"), "success");
    expect_error(api(fx, "{'janus':'create','transaction':'c','token':'bad'}"), 403);
    expect_error(api(fx, "{'janus':'create','transaction':'c','token':'tok'}"), 403);
    json_t *reply = api(fx, "{'janus':'create','transaction':'c','token':'good'}");
    expect_janus(reply, "success");
    fx->session_id = (uint64_t)int_at(json_object_get(reply, "data"), "id");
    odeon_session *s = odeon_sessions_lookup(fx->sessions, fx->session_id);
    assert_string_equal(odeon_session_identity(s)->subject, "participant:1");
    const odeon_auth_identity *id = odeon_session_auth_identity(s);
    assert_string_equal(odeon_auth_event_role(fx->auth, id, "7"), "participant");
    assert_null(odeon_auth_event_role(fx->auth, id, "8"));
    odeon_session_unref(s);
    /* The session outlives its credential: later requests do not re-check it. */
    expect_janus(api(fx, "{'janus':'keepalive','transaction':'k','session_id':$S,"
                         "'token':'expired'}"),
                 "ack");
    odeon_auth_clear_provider(fx->auth, &unit_provider);
    expect_janus(api(fx, "{'janus':'create','transaction':'c','token':'whatever'}"), "success");
}

static void test_session_timeout_setting(void **state)
{
    fixture *fx = *state;
    assert_int_equal(odeon_api_session_timeout(fx->api), 45);
    assert_false(odeon_api_token_auth(fx->api));
    odeon_api_set_session_timeout(fx->api, 0);
    assert_int_equal(odeon_api_session_timeout(fx->api), 0);
    assert_int_equal(int_at(api(fx, "{'janus':'info','transaction':'i'}"), "session-timeout"), 0);
}

/* ---- Admin API ---- */

#define ADM(verb) "{'janus':'" verb "','transaction':'tx','admin_secret':'" ADMIN_SECRET "'"

static void expect_success(json_t *reply)
{
    expect_janus(reply, "success");
    expect_transaction(reply, "tx");
}

static void test_admin_basics(void **state)
{
    fixture *fx = *state;
    json_t *reply = admin(fx, ADM("ping") "}");
    expect_janus(reply, "pong");
    expect_transaction(reply, "tx");
    reply = admin(fx, ADM("info") "}");
    expect_janus(reply, "server_info");
    assert_non_null(json_object_get(json_object_get(reply, "plugins"), APITEST_PACKAGE));
    /* As in Janus, info and ping answer without the secret; nothing else does. */
    expect_janus(admin(fx, "{'janus':'ping','transaction':'tx'}"), "pong");
    expect_janus(admin(fx, "{'janus':'info','transaction':'tx'}"), "server_info");
    expect_error(admin(fx, "{'janus':'get_status','transaction':'tx'}"),
                 ODEON_API_ERROR_UNAUTHORIZED);
    expect_error(admin(fx, "{'janus':'get_status','transaction':'tx','admin_secret':'ad'}"), 403);
    reply = admin(fx, "{'janus':'ping'");
    assert_true(g_str_has_prefix(expect_error(reply, ODEON_API_ERROR_INVALID_JSON), "JSON error"));
    expect_error(admin(fx, "[]"), ODEON_API_ERROR_INVALID_JSON_OBJECT);
}

static void test_admin_sessions(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    json_t *reply = admin(fx, ADM("list_sessions") "}");
    expect_success(reply);
    json_t *list = json_object_get(reply, "sessions");
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(json_integer_value(json_array_get(list, 0)), SESSION_ID);

    reply = admin(fx, ADM("list_handles") ",'session_id':$S}");
    expect_success(reply);
    assert_int_equal(int_at(reply, "session_id"), SESSION_ID);
    list = json_object_get(reply, "handles");
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(json_integer_value(json_array_get(list, 0)), (json_int_t)fx->handle_id);

    reply = admin(fx, ADM("handle_info") ",'session_id':$S,'handle_id':$H}");
    expect_success(reply);
    assert_int_equal(int_at(reply, "handle_id"), (json_int_t)fx->handle_id);
    json_t *info = json_object_get(reply, "info");
    assert_string_equal(str_at(info, "plugin"), APITEST_PACKAGE);
    assert_string_equal(str_at(info, "opaque_id"), "opq");
    assert_string_equal(str_at(json_object_get(info, "plugin_specific"), "state"), "ready");

    /* Ids from the admin URL path. */
    fx->req.path_has_session = true;
    fx->req.path_session_id = fx->session_id;
    expect_success(admin(fx, ADM("list_handles") "}"));
    expect_error(admin(fx, ADM("list_handles") ",'session_id':1}"),
                 ODEON_API_ERROR_INVALID_REQUEST_PATH);
    fx->req.path_handle_id = fx->handle_id;
    expect_success(admin(fx, ADM("handle_info") "}"));
    expect_error(admin(fx, ADM("handle_info") ",'handle_id':1}"),
                 ODEON_API_ERROR_INVALID_REQUEST_PATH);
    fx->req.path_has_session = false;
    fx->req.path_session_id = fx->req.path_handle_id = 0;
}

static void test_admin_log_level(void **state)
{
    fixture *fx = *state;
    odeon_log_level before = odeon_log_get_level();
    json_t *reply = admin(fx, ADM("set_log_level") ",'level':7}");
    expect_success(reply);
    assert_int_equal(int_at(reply, "level"), 7);
    assert_int_equal(odeon_log_get_level(), ODEON_LOG_DEBUG);
    reply = admin(fx, ADM("set_log_level") ",'level':3}");
    expect_success(reply);
    assert_int_equal(int_at(reply, "level"), 3);
    assert_int_equal(odeon_log_get_level(), ODEON_LOG_WARN);
    reply = admin(fx, ADM("get_status") "}");
    assert_int_equal(int_at(json_object_get(reply, "status"), "log_level"), 3);
    assert_string_equal(str_at(json_object_get(reply, "status"), "log_level_name"), "warn");
    expect_success(admin(fx, ADM("set_log_level") ",'level':0}"));
    assert_int_equal(odeon_log_get_level(), ODEON_LOG_ERROR);
    odeon_log_set_level(before);
}

static void test_admin_settings(void **state)
{
    fixture *fx = *state;
    create_session(fx);
    json_t *reply = admin(fx, ADM("get_status") "}");
    expect_success(reply);
    json_t *status = json_object_get(reply, "status");
    assert_int_equal(int_at(status, "session_timeout"), 45);
    assert_true(json_is_true(json_object_get(status, "accepting_new_sessions")));
    assert_int_equal(int_at(status, "sessions"), 1);

    reply = admin(fx, ADM("accept_new_sessions") ",'accept':false}");
    expect_success(reply);
    assert_true(json_is_false(json_object_get(reply, "accept")));
    assert_false(odeon_api_is_accepting(fx->api));
    expect_error(api(fx, "{'janus':'create','transaction':'c'}"), 472);
    expect_success(admin(fx, ADM("accept_new_sessions") ",'accept':true}"));
    expect_janus(api(fx, "{'janus':'create','transaction':'c'}"), "success");

    reply = admin(fx, ADM("set_session_timeout") ",'timeout':120}");
    expect_success(reply);
    assert_int_equal(int_at(reply, "timeout"), 120);
    assert_int_equal(odeon_api_session_timeout(fx->api), 120);
    assert_int_equal(int_at(api(fx, "{'janus':'info','transaction':'i'}"), "session-timeout"), 120);
}

static void test_admin_destroy_detach(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    expect_success(admin(fx, ADM("detach_handle") ",'session_id':$S,'handle_id':$H}"));
    assert_int_equal(plugin_destroyed, 1);
    assert_int_equal(test_sink_count(fx->sink, "detached"), 1);
    expect_error(admin(fx, ADM("detach_handle") ",'session_id':$S,'handle_id':$H}"),
                 ODEON_API_ERROR_HANDLE_NOT_FOUND);

    expect_success(admin(fx, ADM("destroy_session") ",'session_id':$S}"));
    assert_int_equal(odeon_sessions_count(fx->sessions), 0);
    assert_int_equal(test_sink_gone_count(fx->sink, SESSION_ID), 1);
    expect_error(admin(fx, ADM("destroy_session") ",'session_id':$S}"),
                 ODEON_API_ERROR_SESSION_NOT_FOUND);
}

static void test_admin_message_plugin(void **state)
{
    fixture *fx = *state;
    json_t *reply = admin(fx, ADM("message_plugin") ",'plugin':'" APITEST_PACKAGE
                                                    "','request':{'request':'x'}}");
    expect_success(reply);
    json_t *response = json_object_get(reply, "response");
    assert_string_equal(str_at(response, "admin"), "pong");
    assert_string_equal(str_at(json_object_get(response, "got"), "request"), "x");
}

static const error_row admin_errors[] = {
    {"{'janus':'list_sessions','transaction':'tx'}", 403},
    {"{'janus':'list_sessions','transaction':'tx','admin_secret':5}", 403},
    {"{'janus':'list_sessions','transaction':'tx','admin_secret':'ADM'}", 403},
    {"{'janus':'list_sessions','transaction':'tx','admin_secret':'adm '}", 403},
    {"{'janus':'destroy_session','transaction':'tx','session_id':$S}", 403},
    /* unknown verbs are only reported to a caller with the secret */
    {"{'janus':'bogus','transaction':'tx'}", 403},
    {"{'janus':'ping','admin_secret':'adm'}", 456},
    {"{'janus':'ping','transaction':1,'admin_secret':'adm'}", 467},
    {"{'transaction':'tx','admin_secret':'adm'}", 456},
    {"{'janus':[],'transaction':'tx','admin_secret':'adm'}", 467},
    {ADM("create") "}", 457},
    {ADM("bogus") "}", 457},
    {ADM("ping") ",'session_id':'x'}", 467},
    {ADM("ping") ",'handle_id':-1}", 467},
    {ADM("list_handles") "}", 457},
    {ADM("list_handles") ",'session_id':1}", 458},
    {ADM("handle_info") ",'session_id':$S}", 457},
    {ADM("handle_info") ",'session_id':1,'handle_id':$H}", 458},
    {ADM("handle_info") ",'session_id':$S,'handle_id':1}", 459},
    {ADM("detach_handle") ",'session_id':$S,'handle_id':1}", 459},
    {ADM("destroy_session") "}", 457},
    {ADM("destroy_session") ",'session_id':1}", 458},
    {ADM("set_log_level") "}", 456},
    {ADM("set_log_level") ",'level':'loud'}", 467},
    {ADM("set_log_level") ",'level':'warn'}", 467}, /* Janus levels are numbers */
    {ADM("set_log_level") ",'level':8}", 467},
    {ADM("set_log_level") ",'level':-1}", 467},
    {ADM("set_log_level") ",'level':true}", 467},
    {ADM("accept_new_sessions") "}", 456},
    {ADM("accept_new_sessions") ",'accept':'yes'}", 467},
    {ADM("set_session_timeout") "}", 456},
    {ADM("set_session_timeout") ",'timeout':-1}", 467},
    {ADM("set_session_timeout") ",'timeout':86401}", 467},
    {ADM("set_session_timeout") ",'timeout':'60'}", 467},
    {ADM("message_plugin") ",'request':{}}", 456},
    {ADM("message_plugin") ",'plugin':'" APITEST_PACKAGE "'}", 456},
    {ADM("message_plugin") ",'plugin':'" APITEST_PACKAGE "','request':'x'}", 467},
    {ADM("message_plugin") ",'plugin':'odeon.plugin.nosuch','request':{}}", 460},
    {ADM("message_plugin") ",'plugin':'odeon.plugin.refuser','request':{}}", 453},
};

static void test_admin_errors(void **state)
{
    fixture *fx = *state;
    create_and_attach(fx);
    odeon_log_level before = odeon_log_get_level();
    run_error_rows(fx, admin_errors, G_N_ELEMENTS(admin_errors), admin);
    /* Refused requests changed nothing. */
    assert_int_equal(odeon_log_get_level(), before);
    assert_true(odeon_api_is_accepting(fx->api));
    assert_int_equal(odeon_api_session_timeout(fx->api), 45);
    assert_int_equal(odeon_sessions_count(fx->sessions), 1);
    assert_int_equal(plugin_destroyed, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static int media_up(void **state)
{
    (void)state;
    odeon_config *config = odeon_config_load(NULL, NULL);
    config->media.loopback = true;
    config->media.loops = 1;
    char *error = NULL;
    int rc = odeon_media_start(config, &error);
    g_free(error);
    odeon_config_free(config);
    return rc;
}

static int media_down(void **state)
{
    (void)state;
    odeon_media_stop();
    return 0;
}

int main(void)
{
    odeon_log_set_level(ODEON_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        T(test_info),
        T(test_ping),
        T(test_create),
        T(test_create_not_accepting),
        T(test_attach),
        T(test_message_sync),
        T(test_message_jsep),
        T(test_message_async),
        T(test_push_event_with_jsep),
        T(test_push_event_many),
        T(test_message_plugin_error),
        T(test_message_end_session),
        T(test_trickle),
        T(test_keepalive),
        T(test_detach),
        T(test_hangup),
        T(test_destroy),
        T(test_keepalive_on_handle),
        T(test_claim),
        T(test_claim_same_sink),
        T(test_api_errors),
        T(test_error_reasons),
        T(test_path_ids),
        cmocka_unit_test_setup_teardown(test_api_secret, setup_secret, teardown),
        cmocka_unit_test_setup_teardown(test_token_auth, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_secret_or_token, setup_secret_token, teardown),
        cmocka_unit_test_setup_teardown(test_plugin_provider, setup, teardown),
        T(test_session_timeout_setting),
        T(test_admin_basics),
        T(test_admin_sessions),
        T(test_admin_log_level),
        T(test_admin_settings),
        T(test_admin_destroy_detach),
        T(test_admin_message_plugin),
        T(test_admin_errors),
    };
    return cmocka_run_group_tests(tests, media_up, media_down);
}
