/*
 * plugin_host.h - the core's side of plugin.h: loads the enabled plugins, keeps them by package
 * name, and implements the odeon_core_callbacks table they call.
 *
 * One host per process (the callbacks are plain function pointers, so they reach the host
 * through a module-level pointer set by odeon_plugin_host_new).
 */
#ifndef ODEON_PLUGIN_PLUGIN_HOST_H
#define ODEON_PLUGIN_PLUGIN_HOST_H

#include <glib.h>
#include <jansson.h>

#include "auth/auth.h"
#include "db/db.h"
#include "events/eventbus.h"
#include "plugin/plugin.h"
#include "session/session.h"
#include "transport/http_routes.h"

typedef struct odeon_plugin_host odeon_plugin_host;

/* What the callbacks reach; all borrowed, all may be NULL except sessions. */
typedef struct odeon_core_services {
    odeon_sessions *sessions;
    odeon_eventbus *bus;
    odeon_http_routes *routes;
    odeon_auth *auth;
    odeon_db *db; /* NULL without [database] */
} odeon_core_services;

odeon_plugin_host *odeon_plugin_host_new(const odeon_core_services *services);
/* Destroy every plugin (reverse load order) and unload them. Sessions must be gone first. */
void odeon_plugin_host_free(odeon_plugin_host *host);

/* Load <plugins_dir>/odeon_<name>.so for each name and init it with
 * <config_dir>/<name>.conf. Stops at the first failure: returns ODEON_EINVAL with *error set. */
int odeon_plugin_host_load(odeon_plugin_host *host, const char *plugins_dir,
                           const char *config_dir, char *const *names, char **error);
/* Register a plugin that is linked in (tests); init runs. */
int odeon_plugin_host_add(odeon_plugin_host *host, const odeon_plugin *plugin,
                          const char *config_path, char **error);

/* By package ("odeon.plugin.echotest"), or NULL. */
const odeon_plugin *odeon_plugin_host_find(odeon_plugin_host *host, const char *package);
/* {package: {name, author, description, version_string, version}} (new reference). */
json_t *odeon_plugin_host_info_json(odeon_plugin_host *host);

/* Appends every plugin's metrics (odeon_plugin.metrics) to out. Any thread. */
void odeon_plugin_host_metrics(odeon_plugin_host *host, GString *out);

/* The table handed to plugins' init. */
const odeon_core_callbacks *odeon_plugin_host_callbacks(void);

#endif
