/*
 * test_loader.c - the module loader and the plugin host's loading path.
 *
 * Real shared objects are opened: tests/unit/plugins/testplug.c (a valid plugin) and
 * badabi.c (built against ABI major + 1), both built into ODEON_TEST_PLUGINS_DIR as
 * odeon_<name>.so, plus a text file named like a plugin in tests/fixtures/loader. The pure
 * ABI check is tested case by case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib.h>

#include "core/log.h"
#include "loader/loader.h"
#include "plugin/plugin.h"
#include "plugin/plugin_host.h"
#include "session/session.h"

#define PLUGINS ODEON_TEST_PLUGINS_DIR
#define TESTPLUG PLUGINS "/odeon_testplug.so"
#define BADABI PLUGINS "/odeon_badabi.so"

static const odeon_module_kind plugin_kind = {
    .kind = "plugin",
    .symbol = ODEON_PLUGIN_SYMBOL,
    .major = ODEON_PLUGIN_ABI_MAJOR,
    .minor = ODEON_PLUGIN_ABI_MINOR,
    .min_struct_size = sizeof(odeon_plugin),
};

static void assert_contains(const char *text, const char *part)
{
    assert_non_null(text);
    if (strstr(text, part) == NULL)
        fail_msg("'%s' does not contain '%s'", text, part);
}

/* ---- odeon_module_open ---- */

static void test_open_valid(void **state)
{
    (void)state;
    char *error = NULL;
    odeon_module *m = odeon_module_open(TESTPLUG, &plugin_kind, &error);
    if (m == NULL)
        fail_msg("%s", error);
    assert_null(error);
    assert_string_equal(odeon_module_path(m), TESTPLUG);
    const odeon_plugin *p = odeon_module_descriptor(m);
    assert_non_null(p);
    assert_int_equal(p->abi_major, ODEON_PLUGIN_ABI_MAJOR);
    assert_int_equal(p->abi_minor, ODEON_PLUGIN_ABI_MINOR);
    assert_int_equal(p->struct_size, sizeof(odeon_plugin));
    assert_string_equal(p->package, "odeon.plugin.testplug");
    assert_string_equal(p->version_string, "1.2.3");
    assert_int_equal(p->version, 10203);
    assert_non_null(p->init);
    assert_non_null(p->handle_message);
    assert_null(p->create_session);
    odeon_module_close(m);
    odeon_module_close(NULL);
}

static void test_open_bad_abi(void **state)
{
    (void)state;
    char *error = NULL;
    assert_null(odeon_module_open(BADABI, &plugin_kind, &error));
    assert_contains(error, BADABI);
    assert_contains(error, "major");
    assert_contains(error, "rebuild");
    g_free(error);
}

static void test_open_missing_file(void **state)
{
    (void)state;
    char *error = NULL;
    assert_null(odeon_module_open(PLUGINS "/odeon_nosuch.so", &plugin_kind, &error));
    assert_contains(error, "odeon_nosuch.so");
    assert_contains(error, "no such plugin file");
    g_free(error);
    /* A folder is not a module file either. */
    assert_null(odeon_module_open(PLUGINS, &plugin_kind, &error));
    assert_contains(error, "no such plugin file");
    g_free(error);
    assert_null(odeon_module_open(PLUGINS "/odeon_nosuch.so", &plugin_kind, NULL));
}

static void test_open_not_a_module(void **state)
{
    (void)state;
    char *error = NULL;
    const char *path = ODEON_TEST_FIXTURES_DIR "/loader/odeon_notamodule.so";
    assert_null(odeon_module_open(path, &plugin_kind, &error));
    assert_contains(error, path);
    assert_contains(error, "cannot load plugin");
    g_free(error);
}

static void test_open_missing_symbol(void **state)
{
    (void)state;
    /* testplug is a fine plugin, but not an event handler: it lacks that kind's symbol. */
    const odeon_module_kind handler_kind = {
        .kind = "event handler",
        .symbol = "odeon_eventhandler_descriptor",
        .major = 1,
        .minor = 0,
        .min_struct_size = 8,
    };
    char *error = NULL;
    assert_null(odeon_module_open(TESTPLUG, &handler_kind, &error));
    assert_contains(error, TESTPLUG);
    assert_contains(error, "not an Odeon event handler");
    assert_contains(error, "odeon_eventhandler_descriptor");
    g_free(error);
}

/* ---- odeon_module_check_abi ---- */

static const odeon_module_kind kind_1_2 = {
    .kind = "plugin", .symbol = "x", .major = 1, .minor = 2, .min_struct_size = 64};

static int check(uint16_t major, uint16_t minor, uint32_t size, char **error)
{
    odeon_module_abi abi = {major, minor, size};
    return odeon_module_check_abi(&abi, &kind_1_2, "/p/odeon_x.so", error);
}

static void test_check_abi(void **state)
{
    (void)state;
    char *error = NULL;
    assert_int_equal(check(1, 2, 64, &error), 0);  /* same version */
    assert_int_equal(check(1, 0, 64, &error), 0);  /* older minor */
    assert_int_equal(check(1, 1, 128, &error), 0); /* a bigger (newer) struct is fine */
    assert_null(error);

    assert_int_equal(check(1, 3, 64, &error), ODEON_EINVAL); /* newer minor */
    assert_contains(error, "/p/odeon_x.so");
    assert_contains(error, "1.3");
    assert_contains(error, "newer");
    g_clear_pointer(&error, g_free);

    assert_int_equal(check(2, 0, 64, &error), ODEON_EINVAL);
    assert_contains(error, "major");
    g_clear_pointer(&error, g_free);
    assert_int_equal(check(0, 9, 64, &error), ODEON_EINVAL);
    assert_contains(error, "major");
    g_clear_pointer(&error, g_free);

    assert_int_equal(check(1, 2, 63, &error), ODEON_EINVAL); /* struct too small */
    assert_contains(error, "63 bytes");
    g_clear_pointer(&error, g_free);
    assert_int_equal(check(1, 2, 0, NULL), ODEON_EINVAL);

    /* Linked-in descriptors have no path. */
    odeon_module_abi abi = {9, 0, 64};
    assert_int_equal(odeon_module_check_abi(&abi, &kind_1_2, NULL, &error), ODEON_EINVAL);
    assert_contains(error, "(linked in)");
    g_free(error);
}

/* ---- the plugin host ---- */

typedef struct host_fixture {
    odeon_sessions *sessions;
    odeon_plugin_host *host;
    char *error;
} host_fixture;

static int host_setup(void **state)
{
    host_fixture *fx = g_new0(host_fixture, 1);
    fx->sessions = odeon_sessions_new(NULL);
    odeon_core_services services = {.sessions = fx->sessions};
    fx->host = odeon_plugin_host_new(&services);
    *state = fx;
    return 0;
}

static int host_teardown(void **state)
{
    host_fixture *fx = *state;
    odeon_sessions_free(fx->sessions);
    odeon_plugin_host_free(fx->host);
    g_free(fx->error);
    g_free(fx);
    return 0;
}

static int load(host_fixture *fx, const char *dir, const char *config_dir, const char *names)
{
    char **list = g_strsplit(names, ",", -1);
    g_clear_pointer(&fx->error, g_free);
    int rc = odeon_plugin_host_load(fx->host, dir, config_dir, list, &fx->error);
    g_strfreev(list);
    return rc;
}

static void test_host_load(void **state)
{
    host_fixture *fx = *state;
    assert_int_equal(load(fx, PLUGINS, "/nonexistent", "testplug"), 0);
    assert_null(fx->error);
    const odeon_plugin *p = odeon_plugin_host_find(fx->host, "odeon.plugin.testplug");
    assert_non_null(p);
    assert_string_equal(p->name, "Test plugin");
    assert_null(odeon_plugin_host_find(fx->host, "odeon.plugin.nosuch"));
    assert_null(odeon_plugin_host_find(fx->host, NULL));
    json_t *info = odeon_plugin_host_info_json(fx->host);
    json_t *entry = json_object_get(info, "odeon.plugin.testplug");
    assert_non_null(entry);
    assert_string_equal(json_string_value(json_object_get(entry, "version_string")), "1.2.3");
    assert_string_equal(json_string_value(json_object_get(entry, "author")),
                        "The Odeon developers");
    assert_int_equal(json_integer_value(json_object_get(entry, "version")), 10203);
    json_decref(info);
    /* An empty list loads nothing. */
    char *none[] = {NULL};
    assert_int_equal(odeon_plugin_host_load(fx->host, PLUGINS, NULL, none, NULL), 0);
    assert_int_equal(odeon_plugin_host_load(fx->host, PLUGINS, NULL, NULL, NULL), 0);
}

static void test_host_load_bad_abi(void **state)
{
    host_fixture *fx = *state;
    assert_int_equal(load(fx, PLUGINS, NULL, "badabi"), ODEON_EINVAL);
    assert_contains(fx->error, "odeon_badabi.so");
    assert_contains(fx->error, "major");
    assert_null(odeon_plugin_host_find(fx->host, "odeon.plugin.badabi"));
}

static void test_host_load_missing(void **state)
{
    host_fixture *fx = *state;
    assert_int_equal(load(fx, PLUGINS, NULL, "nosuch"), ODEON_EINVAL);
    assert_contains(fx->error, PLUGINS "/odeon_nosuch.so");
    assert_int_equal(load(fx, ODEON_TEST_FIXTURES_DIR "/loader", NULL, "notamodule"), ODEON_EINVAL);
    assert_contains(fx->error, "odeon_notamodule.so");
    /* Loading stops at the first failure: what came before stays loaded, nothing after. */
    assert_int_equal(load(fx, PLUGINS, NULL, "testplug,nosuch,badabi"), ODEON_EINVAL);
    assert_contains(fx->error, "odeon_nosuch.so");
    assert_non_null(odeon_plugin_host_find(fx->host, "odeon.plugin.testplug"));
}

static void test_host_load_init_fails(void **state)
{
    host_fixture *fx = *state;
    const char *conf = ODEON_TEST_FIXTURES_DIR "/plugin-conf/fail";
    assert_int_equal(load(fx, PLUGINS, conf, "testplug"), ODEON_EINVAL);
    assert_contains(fx->error, "odeon.plugin.testplug");
    assert_contains(fx->error, "init failed");
    assert_contains(fx->error, "testplug.conf");
    assert_null(odeon_plugin_host_find(fx->host, "odeon.plugin.testplug"));
    json_t *info = odeon_plugin_host_info_json(fx->host);
    assert_int_equal(json_object_size(info), 0);
    json_decref(info);
    /* The same plugin loads with a configuration that lets it. */
    assert_int_equal(load(fx, PLUGINS, "/nonexistent", "testplug"), 0);
}

static void test_host_duplicate_package(void **state)
{
    host_fixture *fx = *state;
    assert_int_equal(load(fx, PLUGINS, NULL, "testplug,testplug"), ODEON_EEXIST);
    assert_contains(fx->error, "odeon.plugin.testplug");
    assert_contains(fx->error, "already loaded");
    assert_non_null(odeon_plugin_host_find(fx->host, "odeon.plugin.testplug"));
    json_t *info = odeon_plugin_host_info_json(fx->host);
    assert_int_equal(json_object_size(info), 1);
    json_decref(info);
}

/* ---- linked-in plugins ---- */

static int linked_inits;

static int linked_init(const odeon_core_callbacks *core, const char *config_path)
{
    assert_ptr_equal(core, odeon_plugin_host_callbacks());
    assert_int_equal(core->abi_major, ODEON_PLUGIN_ABI_MAJOR);
    assert_int_equal(core->struct_size, sizeof(odeon_core_callbacks));
    assert_string_equal(config_path, "/conf/linked.conf");
    linked_inits++;
    return 0;
}

static odeon_plugin_result linked_message(odeon_plugin_handle *handle, const char *transaction,
                                          json_t *body, json_t *jsep)
{
    (void)handle;
    (void)transaction;
    (void)body;
    (void)jsep;
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK};
}

/* Static: the host keeps the pointer until it is freed, after the test function returned. */
static const odeon_plugin good = {ODEON_PLUGIN_DESCRIPTOR_INIT, .package = "odeon.plugin.testplug",
                                  .init = linked_init, .handle_message = linked_message};

static void test_host_add(void **state)
{
    host_fixture *fx = *state;
    linked_inits = 0;
    assert_int_equal(odeon_plugin_host_add(fx->host, &good, "/conf/linked.conf", &fx->error), 0);
    assert_int_equal(linked_inits, 1);
    assert_ptr_equal(odeon_plugin_host_find(fx->host, "odeon.plugin.testplug"), &good);

    /* The loaded testplug now clashes with the linked-in one. */
    assert_int_equal(load(fx, PLUGINS, NULL, "testplug"), ODEON_EEXIST);
    assert_contains(fx->error, "already loaded");
    g_clear_pointer(&fx->error, g_free);

    odeon_plugin bad = good;
    bad.package = "odeon.plugin.bad";
    bad.abi_major = ODEON_PLUGIN_ABI_MAJOR + 1;
    assert_int_equal(odeon_plugin_host_add(fx->host, &bad, NULL, &fx->error), ODEON_EINVAL);
    assert_contains(fx->error, "(linked in)");
    g_clear_pointer(&fx->error, g_free);

    odeon_plugin incomplete = good;
    incomplete.package = "odeon.plugin.incomplete";
    incomplete.handle_message = NULL;
    assert_int_equal(odeon_plugin_host_add(fx->host, &incomplete, NULL, &fx->error), ODEON_EINVAL);
    assert_contains(fx->error, "lacks");
    assert_int_equal(linked_inits, 1);
}

int main(void)
{
    odeon_log_set_level(ODEON_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_valid),
        cmocka_unit_test(test_open_bad_abi),
        cmocka_unit_test(test_open_missing_file),
        cmocka_unit_test(test_open_not_a_module),
        cmocka_unit_test(test_open_missing_symbol),
        cmocka_unit_test(test_check_abi),
        cmocka_unit_test_setup_teardown(test_host_load, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_host_load_bad_abi, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_host_load_missing, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_host_load_init_fails, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_host_duplicate_package, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_host_add, host_setup, host_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
