/*
 * handlers.c - event handler modules: load through the common loader, init, subscribe.
 *
 * The bus calls a plain function with the module's descriptor as user data, so one trampoline
 * serves every module.
 */
#include "events/handlers.h"

#include <glib.h>

#include "core/log.h"
#include "events/event_handler.h"
#include "loader/loader.h"
#include "plugin/plugin.h"

#define LOG_MODULE "events"

typedef struct loaded_handler {
    odeon_module *module;
    const odeon_event_handler *descriptor;
} loaded_handler;

struct odeon_event_handlers {
    odeon_eventbus *bus;
    GPtrArray *loaded; /* loaded_handler *, in load order */
};

static const odeon_module_kind handler_kind = {
    .kind = "event handler",
    .symbol = ODEON_EVENT_HANDLER_SYMBOL,
    .major = ODEON_EVENT_HANDLER_ABI_MAJOR,
    .minor = ODEON_EVENT_HANDLER_ABI_MINOR,
    .min_struct_size = sizeof(odeon_event_handler),
};

static void handler_trampoline(json_t *envelope, void *user_data)
{
    const odeon_event_handler *descriptor = user_data;
    descriptor->handle_event(envelope);
}

static void handler_unload(loaded_handler *lh)
{
    if (lh->descriptor->destroy)
        lh->descriptor->destroy();
    odeon_module_close(lh->module);
    g_free(lh);
}

/* Open, check and init one module. NULL with *error on failure. */
static loaded_handler *handler_load(const char *plugins_dir, const char *config_dir,
                                    const char *name, char **error)
{
    char *file = g_strdup_printf("odeon_evh_%s.so", name);
    char *path = g_build_filename(plugins_dir, file, NULL);
    char *conf = g_strdup_printf("%s.conf", name);
    char *config_path = g_build_filename(config_dir ? config_dir : ".", conf, NULL);
    loaded_handler *lh = NULL;
    odeon_module *module = odeon_module_open(path, &handler_kind, error);
    if (module != NULL) {
        const odeon_event_handler *d = odeon_module_descriptor(module);
        if (d->package == NULL || d->init == NULL || d->handle_event == NULL ||
            d->events_mask == NULL) {
            if (error)
                *error = g_strdup_printf("%s: descriptor lacks package, init, events_mask or "
                                         "handle_event", path);
            odeon_module_close(module);
        } else if (d->init(config_path) != 0) {
            if (error)
                *error = g_strdup_printf("%s: init failed (config %s)", d->package, config_path);
            odeon_module_close(module);
        } else {
            lh = g_new0(loaded_handler, 1);
            lh->module = module;
            lh->descriptor = d;
        }
    }
    g_free(config_path);
    g_free(conf);
    g_free(path);
    g_free(file);
    return lh;
}

odeon_event_handlers *odeon_event_handlers_load(odeon_eventbus *bus, const char *plugins_dir,
                                                const char *config_dir, char *const *names,
                                                char **error)
{
    odeon_event_handlers *set = g_new0(odeon_event_handlers, 1);
    set->bus = bus;
    set->loaded = g_ptr_array_new();
    for (char *const *name = names; name && *name; name++) {
        loaded_handler *lh = handler_load(plugins_dir, config_dir, *name, error);
        if (lh == NULL) {
            odeon_event_handlers_free(set);
            return NULL;
        }
        g_ptr_array_add(set->loaded, lh);
        odeon_eventbus_subscribe(bus, lh->descriptor->events_mask(), handler_trampoline,
                                 (void *)lh->descriptor);
        LOG_INFO("loaded event handler %s %s", lh->descriptor->package,
                 lh->descriptor->version_string ? lh->descriptor->version_string : "");
    }
    return set;
}

void odeon_event_handlers_free(odeon_event_handlers *set)
{
    if (set == NULL)
        return;
    if (set->loaded->len > 0)
        odeon_eventbus_flush(set->bus);
    for (guint i = set->loaded->len; i > 0; i--) {
        loaded_handler *lh = g_ptr_array_index(set->loaded, i - 1);
        odeon_eventbus_unsubscribe(set->bus, handler_trampoline, (void *)lh->descriptor);
        handler_unload(lh);
    }
    g_ptr_array_free(set->loaded, TRUE);
    g_free(set);
}

json_t *odeon_event_handlers_info_json(odeon_event_handlers *set)
{
    json_t *info = json_object();
    for (guint i = 0; set && i < set->loaded->len; i++) {
        const odeon_event_handler *d =
            ((loaded_handler *)g_ptr_array_index(set->loaded, i))->descriptor;
        json_object_set_new(info, d->package,
                            json_pack("{s:s, s:s, s:s, s:i}", "name", d->name ? d->name : "",
                                      "description", d->description ? d->description : "",
                                      "version_string", d->version_string ? d->version_string : "",
                                      "version", d->version));
    }
    return info;
}
