/*
 * loader.h - one loader for every kind of module (plugins, event handlers): open a shared
 * object with GModule, find its one descriptor symbol, check its ABI version and size.
 */
#ifndef ODEON_LOADER_LOADER_H
#define ODEON_LOADER_LOADER_H

#include <stddef.h>
#include <stdint.h>

typedef struct odeon_module odeon_module;

/* What the module's descriptor must start with (every descriptor kind does). */
typedef struct odeon_module_abi {
    uint16_t major;
    uint16_t minor;
    uint32_t struct_size;
} odeon_module_abi;

/* What the core speaks for this kind of module. */
typedef struct odeon_module_kind {
    const char *kind;   /* "plugin", "event handler": for messages */
    const char *symbol; /* exported descriptor symbol */
    uint16_t major;
    uint16_t minor;
    uint32_t min_struct_size; /* size of the ABI 1.0 descriptor */
} odeon_module_kind;

/* Open path and check the descriptor: a different major, a newer minor or a too-small struct
 * is refused. Returns the module or NULL with *error set (g_free it). */
odeon_module *odeon_module_open(const char *path, const odeon_module_kind *kind, char **error);
/* The descriptor (borrowed; valid until close). */
const void *odeon_module_descriptor(const odeon_module *module);
const char *odeon_module_path(const odeon_module *module);
void odeon_module_close(odeon_module *module);

/* The check alone (pure; unit-tested). Returns 0 or ODEON_EINVAL with *error set. */
int odeon_module_check_abi(const odeon_module_abi *abi, const odeon_module_kind *kind,
                           const char *path, char **error);

#endif
