/*
 * loader.c - open a module with GModule and vet its descriptor before anyone calls into it.
 *
 * Modules are opened with G_MODULE_BIND_LOCAL so two plugins' internal symbols never clash,
 * and G_MODULE_BIND_LAZY is not used: an unresolved symbol fails at load time with the
 * linker's message instead of crashing at the first call.
 */
#include "loader/loader.h"

#include <gmodule.h>

#include "plugin/plugin.h"

struct odeon_module {
    GModule *module;
    const void *descriptor;
    char *path;
};

int odeon_module_check_abi(const odeon_module_abi *abi, const odeon_module_kind *kind,
                           const char *path, char **error)
{
    const char *what = path ? path : "(linked in)";
    if (abi->major != kind->major) {
        if (error)
            *error = g_strdup_printf("%s: %s built against ABI %u.%u, this server speaks %u.%u "
                                     "(major versions differ): rebuild it",
                                     what, kind->kind, abi->major, abi->minor, kind->major,
                                     kind->minor);
        return ODEON_EINVAL;
    }
    if (abi->minor > kind->minor) {
        if (error)
            *error = g_strdup_printf("%s: %s built against ABI %u.%u, newer than this server's "
                                     "%u.%u: upgrade the server",
                                     what, kind->kind, abi->major, abi->minor, kind->major,
                                     kind->minor);
        return ODEON_EINVAL;
    }
    if (abi->struct_size < kind->min_struct_size) {
        if (error)
            *error = g_strdup_printf("%s: %s descriptor is %u bytes, smaller than ABI %u.0's %u",
                                     what, kind->kind, abi->struct_size, kind->major,
                                     kind->min_struct_size);
        return ODEON_EINVAL;
    }
    return 0;
}

odeon_module *odeon_module_open(const char *path, const odeon_module_kind *kind, char **error)
{
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        if (error)
            *error = g_strdup_printf("%s: no such %s file", path, kind->kind);
        return NULL;
    }
    GModule *module = g_module_open(path, G_MODULE_BIND_LOCAL);
    if (module == NULL) {
        if (error)
            *error = g_strdup_printf("%s: cannot load %s: %s", path, kind->kind,
                                     g_module_error());
        return NULL;
    }
    gpointer symbol = NULL;
    if (!g_module_symbol(module, kind->symbol, &symbol) || symbol == NULL) {
        if (error)
            *error = g_strdup_printf("%s: not an Odeon %s (no '%s' symbol)", path, kind->kind,
                                     kind->symbol);
        g_module_close(module);
        return NULL;
    }
    if (odeon_module_check_abi(symbol, kind, path, error) != 0) {
        g_module_close(module);
        return NULL;
    }
    odeon_module *m = g_new0(odeon_module, 1);
    m->module = module;
    m->descriptor = symbol;
    m->path = g_strdup(path);
    return m;
}

const void *odeon_module_descriptor(const odeon_module *module)
{
    return module->descriptor;
}

const char *odeon_module_path(const odeon_module *module)
{
    return module->path;
}

void odeon_module_close(odeon_module *module)
{
    if (module == NULL)
        return;
    g_module_close(module->module);
    g_free(module->path);
    g_free(module);
}
