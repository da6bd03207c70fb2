/*
 * fuzz_config.c - libFuzzer target for the configuration parser: the input is a config file.
 *
 * A parsed config is also run through odeon_config_apply_overrides (which validates again),
 * so every accepted file meets the cross-key rules a second time.
 */
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "core/config.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    odeon_log_set_level(ODEON_LOG_ERROR);
    char *error = NULL;
    odeon_config *config =
        odeon_config_load_data((const char *)data, size, "fuzz.conf", "/fuzz/conf", &error);
    if (config == NULL) {
        /* A refusal always explains itself, naming the file. */
        if (error == NULL || !g_str_has_prefix(error, "fuzz.conf: "))
            __builtin_trap();
        g_free(error);
        return 0;
    }
    if (error != NULL)
        __builtin_trap();
    odeon_config_overrides overrides = {.html_dir = ""};
    if (odeon_config_apply_overrides(config, &overrides, &error) != 0)
        __builtin_trap(); /* what the file passed, the same checks pass again */
    odeon_config_free(config);
    return 0;
}
