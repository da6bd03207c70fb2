/*
 * test_config.c - the configuration parser: defaults, every key, bounds, cross-key rules,
 * error messages ("<file>: [group] key: reason", never echoing a secret), command-line
 * overrides, and the shipped conf/odeon.conf.
 *
 * Most cases parse text with odeon_config_load_data under the label "test.conf" and the
 * folder /etc/odeon-test (for relative paths); tests/fixtures/config/full.conf sets every
 * key, and a temporary folder checks what depends on the file's location.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "core/config.h"
#include "core/log.h"

#define LABEL "test.conf"
#define DIR "/etc/odeon-test"
/* Every text below needs an admin secret: the admin API is on by default and needs one. */
#define ADMIN "[admin]\nsecret = adm\n"

static odeon_config *load(const char *text, char **error)
{
    return odeon_config_load_data(text, strlen(text), LABEL, DIR, error);
}

static odeon_config *load_ok(const char *text)
{
    char *error = NULL;
    odeon_config *config = load(text, &error);
    if (config == NULL)
        fail_msg("refused: %s", error);
    assert_null(error);
    return config;
}

/* The config is refused with a message starting with prefix; returns the message (g_free). */
static char *refused(const char *text, const char *prefix)
{
    char *error = NULL;
    odeon_config *config = load(text, &error);
    if (config != NULL) {
        odeon_config_free(config);
        fail_msg("accepted: %s", text);
    }
    assert_non_null(error);
    if (!g_str_has_prefix(error, prefix))
        fail_msg("message '%s' does not start with '%s'", error, prefix);
    return error;
}

static void expect_refused(const char *text, const char *prefix)
{
    g_free(refused(text, prefix));
}

static void assert_list(char **list, const char *const *expected)
{
    assert_non_null(list);
    size_t n = 0;
    for (; expected[n] != NULL; n++) {
        assert_non_null(list[n]);
        assert_string_equal(list[n], expected[n]);
    }
    assert_null(list[n]);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    odeon_config *c = odeon_config_load(NULL, NULL);
    assert_non_null(c);
    assert_string_equal(c->path, "(defaults)");
    assert_string_equal(c->general.server_name, "odeon");
    assert_int_equal(c->general.log_level, ODEON_LOG_INFO);
    assert_null(c->general.log_file);
    assert_int_equal(c->general.session_timeout, 60); /* Janus's default */
    assert_null(c->general.api_secret);
    assert_false(c->general.token_auth);
    assert_true(c->general.accept_new_sessions);
    assert_non_null(c->paths.plugins_dir);
    assert_true(g_str_has_suffix(c->paths.plugins_config_dir, "/plugins"));
    assert_int_equal(c->http.port, 8088);
    assert_null(c->http.interface);
    assert_string_equal(c->http.base_path, "/janus");
    assert_int_equal(c->http.max_body_size, 1048576);
    assert_int_equal(c->http.longpoll_timeout, 30);
    assert_string_equal(c->http.cors_allow_origin, "*");
    assert_null(c->http.tls_cert);
    assert_null(c->http.tls_key);
    /* Without a file there is no admin secret, so the admin API is off. */
    assert_false(c->admin.enabled);
    assert_int_equal(c->admin.port, 7088);
    assert_string_equal(c->admin.interface, "127.0.0.1");
    assert_string_equal(c->admin.base_path, "/admin");
    assert_null(c->admin.secret);
    assert_list(c->plugins_enabled, (const char *const[]){"echotest", NULL});
    assert_null(c->static_tokens);
    assert_true(c->events.enabled);
    assert_int_equal(c->events.queue_size, 65536);
    assert_null(c->events.handlers);
    odeon_config_free(c);
    odeon_config_free(NULL);
}

static void test_defaults_from_text(void **state)
{
    (void)state;
    odeon_config *c = load_ok(ADMIN);
    assert_string_equal(c->path, LABEL);
    assert_string_equal(c->dir, DIR);
    assert_true(c->admin.enabled);
    assert_string_equal(c->admin.secret, "adm");
    assert_int_equal(c->http.port, 8088);
    odeon_config_free(c);
    /* An empty file keeps the admin API on, without a secret: refused. */
    expect_refused("", LABEL ": [admin] secret: ");
}

/* ---- every key ---- */

static void test_full_fixture(void **state)
{
    (void)state;
    char *error = NULL;
    const char *path = ODEON_TEST_FIXTURES_DIR "/config/full.conf";
    odeon_config *c = odeon_config_load(path, &error);
    if (c == NULL)
        fail_msg("%s", error);
    const char *dir = ODEON_TEST_FIXTURES_DIR "/config";
    assert_string_equal(c->path, path);
    assert_string_equal(c->dir, dir);
    assert_string_equal(c->general.server_name, "fixture-node");
    assert_int_equal(c->general.log_level, ODEON_LOG_DEBUG);
    char *expected = g_build_filename(dir, "logs/odeon.log", NULL);
    assert_string_equal(c->general.log_file, expected);
    g_free(expected);
    assert_int_equal(c->general.session_timeout, 0);
    assert_string_equal(c->general.api_secret, "fixture-api-secret");
    assert_true(c->general.token_auth);
    assert_false(c->general.accept_new_sessions);
    expected = g_build_filename(dir, "plugins", NULL);
    assert_string_equal(c->paths.plugins_dir, expected);
    g_free(expected);
    assert_string_equal(c->paths.plugins_config_dir, "/etc/odeon-fixture/plugins");
    expected = g_build_filename(dir, "../html", NULL);
    assert_string_equal(c->paths.html_dir, expected);
    g_free(expected);
    assert_int_equal(c->http.port, 8443);
    assert_string_equal(c->http.interface, "127.0.0.2");
    assert_string_equal(c->http.base_path, "/gateway");
    assert_int_equal(c->http.max_body_size, 65536);
    assert_int_equal(c->http.longpoll_timeout, 45);
    assert_string_equal(c->http.cors_allow_origin, "https://example.org");
    expected = g_build_filename(dir, "tls/cert.pem", NULL);
    assert_string_equal(c->http.tls_cert, expected);
    g_free(expected);
    assert_string_equal(c->http.tls_key, "/etc/odeon-fixture/key.pem");
    assert_true(c->admin.enabled);
    assert_int_equal(c->admin.port, 7443);
    assert_string_equal(c->admin.interface, "::1");
    assert_string_equal(c->admin.base_path, "/manage");
    assert_string_equal(c->admin.secret, "fixture-admin-secret");
    assert_list(c->plugins_enabled, (const char *const[]){"echotest", "stage", "room", NULL});
    assert_list(c->static_tokens,
                (const char *const[]){"alice:tok-a", "bob:tok-b", "carol:tok:with:colons", NULL});
    assert_false(c->events.enabled);
    assert_int_equal(c->events.queue_size, 16);
    assert_list(c->events.handlers, (const char *const[]){NULL});
    odeon_config_free(c);
}

static void test_shipped_config(void **state)
{
    (void)state;
    char *error = NULL;
    const char *path = ODEON_TEST_FIXTURES_DIR "/../../conf/odeon.conf";
    odeon_config *c = odeon_config_load(path, &error);
    if (c == NULL)
        fail_msg("conf/odeon.conf refused: %s", error);
    /* Shipped with the admin API off: it needs a secret the operator chooses. */
    assert_false(c->admin.enabled);
    assert_null(c->admin.secret);
    assert_list(c->plugins_enabled, (const char *const[]){"echotest", NULL});
    assert_int_equal(c->http.port, 8088);
    assert_int_equal(c->general.session_timeout, 60);
    /* conf/plugins exists beside it, so per-plugin files are read from there. */
    char *beside = g_build_filename(ODEON_TEST_FIXTURES_DIR "/../../conf", "plugins", NULL);
    assert_string_equal(c->paths.plugins_config_dir, beside);
    g_free(beside);
    odeon_config_free(c);
}

static void test_missing_file(void **state)
{
    (void)state;
    char *error = NULL;
    assert_null(odeon_config_load("/nonexistent/odeon.conf", &error));
    assert_non_null(error);
    assert_true(g_str_has_prefix(error, "/nonexistent/odeon.conf: "));
    g_free(error);
    assert_null(odeon_config_load("/nonexistent/odeon.conf", NULL));
}

/* ---- values ---- */

static void test_ports(void **state)
{
    (void)state;
    const char *bad[] = {
        "0", "65536", "abc", "-1", "", "80 80", "0x50", "1e3", "99999999999999999999"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *text = g_strdup_printf(ADMIN "[http]\nport = %s\n", bad[i]);
        char *error = refused(text, LABEL ": [http] port: ");
        assert_non_null(strstr(error, "between 1 and 65535"));
        g_free(error);
        g_free(text);
    }
    odeon_config *c = load_ok(ADMIN "[http]\nport = 1\n");
    assert_int_equal(c->http.port, 1);
    odeon_config_free(c);
    c = load_ok(ADMIN "port = 65535\n[http]\nport = 65534\n");
    assert_int_equal(c->http.port, 65534);
    assert_int_equal(c->admin.port, 65535);
    odeon_config_free(c);
    expect_refused(ADMIN "port = 0\n", LABEL ": [admin] port: ");
}

static void test_numbers(void **state)
{
    (void)state;
    expect_refused(ADMIN "[http]\nmax_body_size = 1023\n", LABEL ": [http] max_body_size: ");
    expect_refused(ADMIN "[http]\nmax_body_size = 67108865\n", LABEL ": [http] max_body_size: ");
    expect_refused(ADMIN "[http]\nlongpoll_timeout = 0\n", LABEL ": [http] longpoll_timeout: ");
    expect_refused(ADMIN "[http]\nlongpoll_timeout = 301\n", LABEL ": [http] longpoll_timeout: ");
    expect_refused("[general]\nsession_timeout = 86401\n" ADMIN,
                   LABEL ": [general] session_timeout: ");
    expect_refused("[general]\nsession_timeout = -5\n" ADMIN,
                   LABEL ": [general] session_timeout: ");
    expect_refused(ADMIN "[events]\nqueue_size = 15\n", LABEL ": [events] queue_size: ");
    odeon_config *c = load_ok(ADMIN "[http]\nmax_body_size = 1024\nlongpoll_timeout = 300\n"
                                    "[events]\nqueue_size = 16777216\n");
    assert_int_equal(c->http.max_body_size, 1024);
    assert_int_equal(c->http.longpoll_timeout, 300);
    assert_int_equal(c->events.queue_size, 16777216);
    odeon_config_free(c);
    c = load_ok(ADMIN "[http]\nmax_body_size = 67108864\n");
    assert_int_equal(c->http.max_body_size, 67108864);
    odeon_config_free(c);
}

static void test_booleans(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool value;
    } cases[] = {{"true", true},   {"TRUE", true}, {"yes", true}, {"1", true},
                 {"false", false}, {"No", false},  {"0", false}};
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *text = g_strdup_printf(ADMIN "[general]\ntoken_auth = %s\naccept_new_sessions = %s\n",
                                     cases[i].text, cases[i].text);
        odeon_config *c = load_ok(text);
        assert_int_equal(c->general.token_auth, cases[i].value);
        assert_int_equal(c->general.accept_new_sessions, cases[i].value);
        odeon_config_free(c);
        g_free(text);
    }
    char *error = refused(ADMIN "[events]\nenabled = maybe\n", LABEL ": [events] enabled: ");
    assert_non_null(strstr(error, "'maybe' is not a boolean"));
    g_free(error);
    expect_refused(ADMIN "[general]\ntoken_auth = 2\n", LABEL ": [general] token_auth: ");
}

static void test_log_level(void **state)
{
    (void)state;
    odeon_config *c = load_ok("[general]\nlog_level = warn\n" ADMIN);
    assert_int_equal(c->general.log_level, ODEON_LOG_WARN);
    odeon_config_free(c);
    c = load_ok("[general]\nlog_level = 5\n" ADMIN);
    assert_int_equal(c->general.log_level, ODEON_LOG_DEBUG);
    odeon_config_free(c);
    expect_refused("[general]\nlog_level = loud\n" ADMIN, LABEL ": [general] log_level: ");
    expect_refused("[general]\nlog_level = 0\n" ADMIN, LABEL ": [general] log_level: ");
}

static void test_lists(void **state)
{
    (void)state;
    odeon_config *c = load_ok(ADMIN "[plugins]\nenabled = a, b;c ,, ;\n");
    assert_list(c->plugins_enabled, (const char *const[]){"a", "b", "c", NULL});
    odeon_config_free(c);
    c = load_ok(ADMIN "[plugins]\nenabled =\n");
    assert_list(c->plugins_enabled, (const char *const[]){NULL});
    odeon_config_free(c);
    c = load_ok(ADMIN "[plugins]\nenabled = my_plugin-2\n");
    assert_list(c->plugins_enabled, (const char *const[]){"my_plugin-2", NULL});
    odeon_config_free(c);
    /* Plugin names become file names: no paths, no dots. */
    expect_refused(ADMIN "[plugins]\nenabled = ../evil\n", LABEL ": [plugins] enabled: ");
    expect_refused(ADMIN "[plugins]\nenabled = echo test\n", LABEL ": [plugins] enabled: ");
}

static void test_paths(void **state)
{
    (void)state;
    odeon_config *c = load_ok(ADMIN "[paths]\nplugins_dir = lib/plugins\nhtml_dir = /srv/html\n"
                                    "[general]\nlog_file =\n");
    assert_string_equal(c->paths.plugins_dir, DIR "/lib/plugins");
    assert_string_equal(c->paths.html_dir, "/srv/html");
    assert_null(c->general.log_file);
    odeon_config_free(c);
    /* Without a folder (config text from nowhere) a relative path stays relative. */
    const char *text = ADMIN "[paths]\nplugins_dir = lib/plugins\n";
    c = odeon_config_load_data(text, strlen(text), NULL, NULL, NULL);
    assert_non_null(c);
    assert_string_equal(c->paths.plugins_dir, "lib/plugins");
    assert_string_equal(c->path, "(config)");
    odeon_config_free(c);
}

static void test_url_paths(void **state)
{
    (void)state;
    static const char *const ok[][2] = {
        {"/janus/", "/janus"}, {"/", "/"}, {"///", "/"}, {"/a/b//", "/a/b"}, {"/x", "/x"}};
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        char *text = g_strdup_printf(ADMIN "[http]\nbase_path = %s\n", ok[i][0]);
        odeon_config *c = load_ok(text);
        assert_string_equal(c->http.base_path, ok[i][1]);
        odeon_config_free(c);
        g_free(text);
    }
    static const char *const bad[] = {"janus", "", "/a b", "/a?b", "/a#b", "http://x/janus"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *text = g_strdup_printf("[admin]\nsecret = adm\nbase_path = %s\n", bad[i]);
        char *error = refused(text, LABEL ": [admin] base_path: ");
        assert_non_null(strstr(error, "starting with '/'"));
        g_free(error);
        g_free(text);
    }
}

static void test_event_handlers(void **state)
{
    (void)state;
    odeon_config *c = load_ok(ADMIN "[events]\nhandlers = jsonlog; webhook\n");
    assert_list(c->events.handlers, (const char *const[]){"jsonlog", "webhook", NULL});
    odeon_config_free(c);
    /* Handlers are fed by the bus: without it they would never see an event. */
    char *error = refused(ADMIN "[events]\nenabled = false\nhandlers = jsonlog\n",
                          LABEL ": [events] handlers: ");
    assert_non_null(strstr(error, "enabled = true"));
    g_free(error);
}

/* ---- structure and cross-key rules ---- */

static void test_unknown_group_and_key(void **state)
{
    (void)state;
    char *error = refused(ADMIN "[bogus]\nx = 1\n", LABEL ": [bogus]: ");
    assert_non_null(strstr(error, "unknown group"));
    g_free(error);
    error = refused("[general]\ncolour = blue\n" ADMIN, LABEL ": [general] colour: ");
    assert_non_null(strstr(error, "unknown key"));
    g_free(error);
    /* A key in the wrong group is unknown there. */
    expect_refused("[general]\nport = 8088\n" ADMIN, LABEL ": [general] port: ");
    expect_refused(ADMIN "[http]\nport[fr] = 8088\n", LABEL ": [http] port[fr]: ");
    /* Not a key file at all. */
    expect_refused("this is not ini\n", LABEL ": ");
    expect_refused("[general\n", LABEL ": ");
}

static void test_tls_pair(void **state)
{
    (void)state;
    char *error = refused(ADMIN "[http]\ntls_cert = /c.pem\n", LABEL ": [http] tls_key: ");
    assert_non_null(strstr(error, "together"));
    g_free(error);
    expect_refused(ADMIN "[http]\ntls_key = /k.pem\n", LABEL ": [http] tls_cert: ");
    odeon_config *c = load_ok(ADMIN "[http]\ntls_cert = c.pem\ntls_key = /k.pem\n");
    assert_string_equal(c->http.tls_cert, DIR "/c.pem");
    assert_string_equal(c->http.tls_key, "/k.pem");
    odeon_config_free(c);
}

static void test_admin_rules(void **state)
{
    (void)state;
    expect_refused("[admin]\nenabled = true\n", LABEL ": [admin] secret: ");
    expect_refused("[admin]\nsecret =\n", LABEL ": [admin] secret: ");
    odeon_config *c = load_ok("[admin]\nenabled = false\n");
    assert_false(c->admin.enabled);
    assert_null(c->admin.secret);
    odeon_config_free(c);
    expect_refused(ADMIN "port = 8088\n", LABEL ": [admin] port: ");
    expect_refused("[http]\nport = 9000\n" ADMIN "port = 9000\n", LABEL ": [admin] port: ");
    /* A disabled admin API may keep any port. */
    c = load_ok("[admin]\nenabled = false\nport = 8088\n");
    odeon_config_free(c);
}

static void test_static_tokens(void **state)
{
    (void)state;
    static const char *const bad[] = {"alice:tok-a, bobsecret", ":tok-a", "bob:", "bobsecret"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *text = g_strdup_printf(ADMIN "[auth]\nstatic_tokens = %s\n", bad[i]);
        char *error = refused(text, LABEL ": [auth] static_tokens: ");
        /* The message must never carry a token. */
        assert_null(strstr(error, "tok-a"));
        assert_null(strstr(error, "bobsecret"));
        assert_null(strstr(error, "bob"));
        g_free(error);
        g_free(text);
    }
}

/* ---- the file's location ---- */

static void test_relative_to_file(void **state)
{
    (void)state;
    char *dir = g_dir_make_tmp("odeon-config-XXXXXX", NULL);
    assert_non_null(dir);
    char *path = g_build_filename(dir, "odeon.conf", NULL);
    char *plugins = g_build_filename(dir, "plugins", NULL);
    assert_true(g_file_set_contents(path, "[general]\nlog_file = odeon.log\n" ADMIN, -1, NULL));
    assert_int_equal(g_mkdir(plugins, 0700), 0);

    odeon_config *c = odeon_config_load(path, NULL);
    assert_non_null(c);
    char *log = g_build_filename(dir, "odeon.log", NULL);
    assert_string_equal(c->general.log_file, log);
    assert_string_equal(c->paths.plugins_config_dir, plugins);
    odeon_config_free(c);

    /* Without a plugins folder beside the file, the installed one is used. */
    assert_int_equal(g_rmdir(plugins), 0);
    c = odeon_config_load(path, NULL);
    assert_non_null(c);
    assert_string_not_equal(c->paths.plugins_config_dir, plugins);
    assert_true(g_str_has_suffix(c->paths.plugins_config_dir, "/plugins"));
    odeon_config_free(c);

    assert_int_equal(g_unlink(path), 0);
    assert_int_equal(g_rmdir(dir), 0);
    g_free(log);
    g_free(plugins);
    g_free(path);
    g_free(dir);
}

/* ---- command-line overrides ---- */

static int apply(odeon_config *c, odeon_config_overrides ov, char **error)
{
    return odeon_config_apply_overrides(c, &ov, error);
}

static void test_overrides(void **state)
{
    (void)state;
    odeon_config *c = load_ok(ADMIN "[paths]\nhtml_dir = /srv/html\n");
    assert_int_equal(apply(c, (odeon_config_overrides){0}, NULL), 0);
    assert_int_equal(c->http.port, 8088);
    assert_string_equal(c->paths.html_dir, "/srv/html");

    odeon_config_overrides ov = {.port = 9088,
                                 .admin_port = 9089,
                                 .plugins_dir = "/opt/p",
                                 .html_dir = "/opt/html",
                                 .log_level = "debug"};
    assert_int_equal(apply(c, ov, NULL), 0);
    assert_int_equal(c->http.port, 9088);
    assert_int_equal(c->admin.port, 9089);
    assert_string_equal(c->paths.plugins_dir, "/opt/p");
    assert_string_equal(c->paths.html_dir, "/opt/html");
    assert_int_equal(c->general.log_level, ODEON_LOG_DEBUG);

    /* --html-dir "" turns static files off. */
    assert_int_equal(apply(c, (odeon_config_overrides){.html_dir = ""}, NULL), 0);
    assert_null(c->paths.html_dir);
    odeon_config_free(c);
}

#define SECRET16 "secret = 0123456789abcdef\n"

static void test_cluster_rules(void **state)
{
    (void)state;
    odeon_config *c = load_ok(ADMIN);
    assert_string_equal(c->cluster.role, "standalone");
    assert_null(c->database.conninfo);
    assert_int_equal(c->database.pool_size, 4);
    assert_int_equal(c->cluster.heartbeat_ms, 1000);
    assert_int_equal(c->cluster.dead_after_ms, 3000);
    odeon_config_free(c);
    expect_refused(ADMIN "[cluster]\nrole = edge\n", LABEL ": [cluster] role: ");
    /* Origins and relays need a secret, never echoed. */
    char *error =
        refused(ADMIN "[cluster]\nrole = origin\nsecret = short\n", LABEL ": [cluster] secret: ");
    assert_null(strstr(error, "short\n"));
    assert_null(strstr(error, ": short"));
    g_free(error);
    expect_refused(ADMIN "[cluster]\nrole = relay\n" SECRET16, LABEL ": [cluster] upstream: ");
    expect_refused(ADMIN "[cluster]\nrole = relay\n" SECRET16 "upstream = ftp://x\n",
                   LABEL ": [cluster] upstream: ");
    expect_refused(ADMIN "[cluster]\nrole = origin\n" SECRET16 "upstream = http://x:1\n",
                   LABEL ": [cluster] upstream: ");
    error = refused(ADMIN "[cluster]\nrole = relay\n" SECRET16 "upstream = http://a:8088/\n"
                          "public_url = http://A:8088\n",
                    LABEL ": [cluster] upstream: ");
    assert_non_null(strstr(error, "itself"));
    g_free(error);
    expect_refused(ADMIN "[cluster]\npublic_url = not a url\n", LABEL ": [cluster] public_url: ");
    expect_refused(ADMIN "[cluster]\nheartbeat_ms = 1000\ndead_after_ms = 1500\n",
                   LABEL ": [cluster] dead_after_ms: ");
    c = load_ok(ADMIN "[database]\nconninfo = host=/tmp dbname=x\npool_size = 8\n"
                      "[cluster]\nrole = relay\n" SECRET16 "upstream = http://o:8088\n"
                      "public_url = http://r:8088\ncapacity = 2500\n");
    assert_string_equal(c->cluster.role, "relay");
    assert_string_equal(c->cluster.upstream, "http://o:8088");
    assert_int_equal(c->cluster.capacity, 2500);
    assert_string_equal(c->database.conninfo, "host=/tmp dbname=x");
    assert_int_equal(c->database.pool_size, 8);
    expect_refused(ADMIN "[database]\npool_size = 0\n", LABEL ": [database] pool_size: ");
    /* --database and --sql-dir override the file; "" removes the database. */
    assert_int_equal(apply(c, (odeon_config_overrides){.database = "", .sql_dir = "/s"}, &error),
                     0);
    assert_null(c->database.conninfo);
    assert_string_equal(c->paths.sql_dir, "/s");
    odeon_config_free(c);
}

static void test_overrides_refused(void **state)
{
    (void)state;
    odeon_config *c = load_ok(ADMIN);
    char *error = NULL;
    const odeon_config_overrides bad[] = {{.port = -1}, {.port = 65536}, {.admin_port = 70000}};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        assert_int_equal(apply(c, bad[i], &error), ODEON_EINVAL);
        assert_non_null(strstr(error, "--port"));
        g_clear_pointer(&error, g_free);
    }
    assert_int_equal(apply(c, (odeon_config_overrides){.log_level = "bad"}, &error), ODEON_EINVAL);
    assert_true(g_str_has_prefix(error, "--log-level: "));
    g_clear_pointer(&error, g_free);
    assert_int_equal(c->general.log_level, ODEON_LOG_INFO);
    /* Overrides are validated with the file: the admin port may not become the API port. */
    assert_int_equal(apply(c, (odeon_config_overrides){.port = 7088}, &error), ODEON_EINVAL);
    assert_true(g_str_has_prefix(error, LABEL ": [admin] port: "));
    g_free(error);
    odeon_config_free(c);
}

int main(void)
{
    odeon_log_set_level(ODEON_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_defaults_from_text),
        cmocka_unit_test(test_full_fixture),   cmocka_unit_test(test_shipped_config),
        cmocka_unit_test(test_missing_file),   cmocka_unit_test(test_ports),
        cmocka_unit_test(test_numbers),        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_log_level),      cmocka_unit_test(test_lists),
        cmocka_unit_test(test_paths),          cmocka_unit_test(test_url_paths),
        cmocka_unit_test(test_event_handlers), cmocka_unit_test(test_unknown_group_and_key),
        cmocka_unit_test(test_tls_pair),       cmocka_unit_test(test_admin_rules),
        cmocka_unit_test(test_static_tokens),  cmocka_unit_test(test_relative_to_file),
        cmocka_unit_test(test_overrides),      cmocka_unit_test(test_overrides_refused),
        cmocka_unit_test(test_cluster_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
