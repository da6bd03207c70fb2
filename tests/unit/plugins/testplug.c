/*
 * testplug.c - a valid, minimal plugin for test_loader: it is built as odeon_testplug.so and
 * loaded through the real loader (dlopen, descriptor symbol, ABI check, init).
 *
 * init reads <name>.conf when it exists and refuses to start when it says [general] fail =
 * true, so the loader test can drive the "init failed" path with a fixture folder.
 */
#include <stddef.h>
#include <string.h>

#include <glib.h>

#include "plugin/plugin.h"

static int testplug_init(const odeon_core_callbacks *core, const char *config_path)
{
    (void)core;
    GKeyFile *kf = g_key_file_new();
    gboolean fail = FALSE;
    if (g_key_file_load_from_file(kf, config_path, G_KEY_FILE_NONE, NULL))
        fail = g_key_file_get_boolean(kf, "general", "fail", NULL);
    g_key_file_free(kf);
    return fail ? -1 : 0;
}

static void testplug_destroy(void)
{
}

static odeon_plugin_result testplug_handle_message(odeon_plugin_handle *handle,
                                                   const char *transaction, json_t *body,
                                                   json_t *jsep)
{
    (void)handle;
    (void)transaction;
    (void)jsep;
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = json_deep_copy(body)};
}

__attribute__((visibility("default"))) const odeon_plugin odeon_plugin_descriptor = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = "odeon.plugin.testplug",
    .name = "Test plugin",
    .description = "Loader test plugin",
    .author = "The Odeon developers",
    .version_string = "1.2.3",
    .version = 10203,
    .init = testplug_init,
    .destroy = testplug_destroy,
    .handle_message = testplug_handle_message,
};
