/*
 * server.c - the ordered start-up table and the main loop.
 *
 * The main thread runs a GMainLoop that owns the signal sources and the session watchdog; the
 * transport runs its own service thread and the event bus its own thread. Shut-down order
 * matters: clients are told first (sessions destroyed while the transport can still deliver),
 * then the transport flushes and closes, then plugins are destroyed (no session can reach them
 * any more), then the registries they used are freed.
 */
#include "core/server.h"

#include <signal.h>
#include <string.h>

#include <glib-unix.h>
#include <glib.h>

#include "api/admin.h"
#include "api/api.h"
#include "auth/auth.h"
#include "cluster/cluster.h"
#include "core/clock.h"
#include "core/log.h"
#include "db/db.h"
#include "events/eventbus.h"
#include "events/handlers.h"
#include "plugin/plugin_host.h"
#include "session/handle_media.h"
#include "session/session.h"
#include "transport/http_routes.h"
#include "transport/transport.h"

#define LOG_MODULE "server"

#ifndef ODEON_VERSION_STRING
#define ODEON_VERSION_STRING "0.1.0"
#endif

typedef struct server {
    const odeon_config *config;
    GMainLoop *loop;
    odeon_eventbus *bus;
    odeon_event_handlers *event_handlers;
    odeon_auth *auth;
    odeon_sessions *sessions;
    odeon_http_routes *routes;
    odeon_plugin_host *plugins;
    odeon_api *api;
    odeon_admin *admin;
    odeon_transport *transport;
    odeon_db *db;
    odeon_cluster *cluster;
    guint watchdog;
    guint signal_sources[3];
    int exit_code;
} server;

typedef struct server_step {
    const char *name;
    int (*start)(server *s, char **error);
    void (*stop)(server *s);
} server_step;

static int start_log(server *s, char **error)
{
    odeon_log_set_level(s->config->general.log_level);
    return odeon_log_open(s->config->general.log_file, error);
}

static void stop_log(server *s)
{
    (void)s;
    odeon_log_close();
}

static int start_events(server *s, char **error)
{
    (void)error;
    if (s->config->events.enabled)
        s->bus = odeon_eventbus_new(s->config->general.server_name, s->config->events.queue_size);
    return 0;
}

static void stop_events(server *s)
{
    g_clear_pointer(&s->bus, odeon_eventbus_free);
}

static int start_event_handlers(server *s, char **error)
{
    const odeon_config *c = s->config;
    if (s->bus == NULL || c->events.handlers == NULL || c->events.handlers[0] == NULL)
        return 0;
    s->event_handlers = odeon_event_handlers_load(s->bus, c->paths.plugins_dir,
                                                  c->paths.plugins_config_dir,
                                                  c->events.handlers, error);
    return s->event_handlers ? 0 : ODEON_EINVAL;
}

/* Runs after everything that publishes has stopped, so the handlers see every event. */
static void stop_event_handlers(server *s)
{
    g_clear_pointer(&s->event_handlers, odeon_event_handlers_free);
}

static int start_auth(server *s, char **error)
{
    const odeon_config *c = s->config;
    s->auth = odeon_auth_new(c->general.api_secret, c->general.token_auth, c->static_tokens,
                             error);
    return s->auth ? 0 : ODEON_EINVAL;
}

static void stop_auth(server *s)
{
    g_clear_pointer(&s->auth, odeon_auth_free);
}

static int start_media(server *s, char **error)
{
    return odeon_media_start(s->config, error);
}

/* Runs after the sessions step stopped: every peer connection is closed by then. */
static void stop_media(server *s)
{
    (void)s;
    odeon_media_stop();
}

static int start_sessions(server *s, char **error)
{
    (void)error;
    s->sessions = odeon_sessions_new(s->bus);
    s->routes = odeon_http_routes_new();
    return 0;
}

static void stop_sessions(server *s)
{
    g_clear_pointer(&s->sessions, odeon_sessions_free);
    g_clear_pointer(&s->routes, odeon_http_routes_free);
}

/* Migrations first (blocking, once), then the pool the rest of the process shares. */
static int start_database(server *s, char **error)
{
    const odeon_config *c = s->config;
    if (c->database.conninfo == NULL) {
        if (strcmp(c->cluster.role, "standalone") != 0)
            LOG_WARN("no [database] conninfo: this %s runs without the node registry and "
                     "placement",
                     c->cluster.role);
        return 0;
    }
    if (odeon_db_migrate(c->database.conninfo, c->paths.sql_dir, c->database.connect_wait, error) !=
        0)
        return ODEON_EIO;
    s->db = odeon_db_new(c->database.conninfo, c->database.pool_size, NULL);
    LOG_INFO("database ready (schema from %s)", c->paths.sql_dir);
    return 0;
}

static void stop_database(server *s)
{
    g_clear_pointer(&s->db, odeon_db_free);
}

static int start_cluster(server *s, char **error)
{
    (void)error;
    s->cluster = odeon_cluster_new(s->config, s->db);
    odeon_cluster_set_current(s->cluster);
    if (strcmp(odeon_cluster_role(s->cluster), "standalone") != 0)
        LOG_INFO("node %s: %s at %s%s%s", odeon_cluster_node_id(s->cluster),
                 odeon_cluster_role(s->cluster), odeon_cluster_public_url(s->cluster),
                 odeon_cluster_upstream(s->cluster) ? ", upstream " : "",
                 odeon_cluster_upstream(s->cluster) ? odeon_cluster_upstream(s->cluster) : "");
    return 0;
}

static void stop_cluster(server *s)
{
    odeon_cluster_set_current(NULL);
    g_clear_pointer(&s->cluster, odeon_cluster_free);
}

static int start_plugins(server *s, char **error)
{
    odeon_core_services services = {s->sessions, s->bus, s->routes, s->auth, s->db};
    s->plugins = odeon_plugin_host_new(&services);
    return odeon_plugin_host_load(s->plugins, s->config->paths.plugins_dir,
                                  s->config->paths.plugins_config_dir,
                                  s->config->plugins_enabled, error);
}

static void stop_plugins(server *s)
{
    /* A placement answered after its plugin is gone would call into unloaded code. */
    if (s->cluster != NULL)
        odeon_cluster_quiesce(s->cluster);
    g_clear_pointer(&s->plugins, odeon_plugin_host_free);
}

static int start_api(server *s, char **error)
{
    (void)error;
    const odeon_config *c = s->config;
    odeon_api_settings settings = {
        .server_name = c->general.server_name,
        .session_timeout = c->general.session_timeout,
        .accept_new_sessions = c->general.accept_new_sessions,
        .event_handlers = s->event_handlers,
    };
    s->api = odeon_api_new(&settings, s->sessions, s->plugins, s->auth, s->bus);
    if (c->admin.enabled)
        s->admin = odeon_admin_new(c->admin.secret, s->api, s->sessions, s->plugins);
    return 0;
}

static void stop_api(server *s)
{
    g_clear_pointer(&s->admin, odeon_admin_free);
    g_clear_pointer(&s->api, odeon_api_free);
}

static int start_transport(server *s, char **error)
{
    const odeon_config *c = s->config;
    odeon_transport_settings t = {
        .interface = c->http.interface,
        .port = c->http.port,
        .base_path = c->http.base_path,
        .max_body_size = c->http.max_body_size,
        .client_queue_size = c->http.client_queue_size,
        .queue_total_size = c->http.queue_total_size,
        .longpoll_timeout = c->http.longpoll_timeout,
        .cors_allow_origin = c->http.cors_allow_origin,
        .tls_cert = c->http.tls_cert,
        .tls_key = c->http.tls_key,
        .html_dir = c->paths.html_dir,
        .admin_enabled = c->admin.enabled,
        .admin_interface = c->admin.interface,
        .admin_port = c->admin.port,
        .admin_base_path = c->admin.base_path,
    };
    s->transport = odeon_transport_start(&t, s->api, s->admin, s->sessions, s->routes, error);
    if (s->transport == NULL)
        return ODEON_EIO;
    LOG_INFO("Janus API on %s://%s:%u%s (HTTP and WebSocket)", c->http.tls_cert ? "https" : "http",
             c->http.interface ? c->http.interface : "*", c->http.port, c->http.base_path);
    if (c->admin.enabled)
        LOG_INFO("admin API on http://%s:%u%s", c->admin.interface ? c->admin.interface : "*",
                 c->admin.port, c->admin.base_path);
    return 0;
}

/* Clients hear about the shutdown while the transport can still reach them. */
static void stop_transport(server *s)
{
    odeon_api_set_accepting(s->api, false);
    odeon_sessions_destroy_all(s->sessions, "shutdown");
    g_clear_pointer(&s->transport, odeon_transport_stop);
}

static gboolean on_watchdog(gpointer data)
{
    server *s = data;
    odeon_sessions_expire(s->sessions, odeon_clock_monotonic_us(),
                          odeon_api_session_timeout(s->api));
    return G_SOURCE_CONTINUE;
}

static gboolean on_quit_signal(gpointer data)
{
    server *s = data;
    LOG_INFO("shutting down");
    g_main_loop_quit(s->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean on_hangup_signal(gpointer data)
{
    (void)data;
    odeon_log_reopen();
    LOG_INFO("log reopened");
    return G_SOURCE_CONTINUE;
}

static int start_main_loop(server *s, char **error)
{
    (void)error;
    s->loop = g_main_loop_new(NULL, FALSE);
    s->watchdog = g_timeout_add_seconds(1, on_watchdog, s);
    s->signal_sources[0] = g_unix_signal_add(SIGINT, on_quit_signal, s);
    s->signal_sources[1] = g_unix_signal_add(SIGTERM, on_quit_signal, s);
    s->signal_sources[2] = g_unix_signal_add(SIGHUP, on_hangup_signal, s);
    return 0;
}

static void stop_main_loop(server *s)
{
    g_source_remove(s->watchdog);
    for (size_t i = 0; i < G_N_ELEMENTS(s->signal_sources); i++)
        g_source_remove(s->signal_sources[i]);
    g_clear_pointer(&s->loop, g_main_loop_unref);
}

static const server_step server_steps[] = {
    {"log", start_log, stop_log},
    {"event bus", start_events, stop_events},
    {"event handlers", start_event_handlers, stop_event_handlers},
    {"auth", start_auth, stop_auth},
    {"media", start_media, stop_media},
    {"database", start_database, stop_database},
    {"cluster", start_cluster, stop_cluster},
    {"sessions", start_sessions, stop_sessions},
    {"plugins", start_plugins, stop_plugins},
    {"api", start_api, stop_api},
    {"main loop", start_main_loop, stop_main_loop},
    {"transport", start_transport, stop_transport},
};

static void publish_core_status(server *s, const char *status)
{
    if (!odeon_eventbus_has_subscribers(s->bus, ODEON_EVENT_CORE))
        return;
    json_t *body = json_pack("{s:s}", "status", status);
    odeon_eventbus_publish(s->bus, ODEON_EVENT_CORE, 0, 0, body);
    json_decref(body);
}

int odeon_server_run(const odeon_config *config)
{
    server s = {.config = config};
    size_t started = 0;
    /* Writes to a client that vanished must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    for (; started < G_N_ELEMENTS(server_steps); started++) {
        char *error = NULL;
        if (server_steps[started].start(&s, &error) != 0) {
            LOG_ERROR("start-up failed at %s: %s", server_steps[started].name,
                      error ? error : "unknown error");
            g_free(error);
            s.exit_code = 1;
            break;
        }
    }
    if (started == G_N_ELEMENTS(server_steps)) {
        LOG_INFO("Odeon %s ready", ODEON_VERSION_STRING);
        publish_core_status(&s, "started");
        g_main_loop_run(s.loop);
        publish_core_status(&s, "shutdown");
    }
    while (started > 0) {
        started--;
        server_steps[started].stop(&s);
    }
    return s.exit_code;
}
