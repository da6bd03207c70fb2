/*
 * badabi.c - a plugin built against a future, incompatible ABI (major + 1): the loader must
 * refuse it before touching anything but the three version fields.
 */
#include <stddef.h>

#include "plugin/plugin.h"

static int badabi_init(const odeon_core_callbacks *core, const char *config_path)
{
    (void)core;
    (void)config_path;
    return 0;
}

static odeon_plugin_result badabi_handle_message(odeon_plugin_handle *handle,
                                                 const char *transaction, json_t *body,
                                                 json_t *jsep)
{
    (void)handle;
    (void)transaction;
    (void)body;
    (void)jsep;
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_ERROR};
}

__attribute__((visibility("default"))) const odeon_plugin odeon_plugin_descriptor = {
    .abi_major = ODEON_PLUGIN_ABI_MAJOR + 1,
    .abi_minor = 0,
    .struct_size = sizeof(struct odeon_plugin),
    .package = "odeon.plugin.badabi",
    .name = "Bad ABI",
    .init = badabi_init,
    .handle_message = badabi_handle_message,
};
