/*
 * main.c - command line, configuration, then the server.
 *
 * Exit codes: 0 after a clean shutdown (or --version/--help/--check-config success), 1 when the
 * server could not start or failed while running, 2 for bad flags or bad configuration.
 */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "core/config.h"
#include "core/log.h"
#include "core/server.h"

#ifndef ODEON_VERSION_STRING
#define ODEON_VERSION_STRING "0.1.0"
#endif
#if defined(__has_include)
#if __has_include("core/build_info.h")
#include "core/build_info.h"
#endif
#endif
#ifndef ODEON_GIT_COMMIT
#define ODEON_GIT_COMMIT "unknown"
#endif
#ifndef ODEON_CONFIG_DIR
#define ODEON_CONFIG_DIR "/usr/local/etc/odeon"
#endif

#define EXIT_BAD_CONFIG 2

typedef struct cli {
    char *config_path;
    int port;
    int admin_port;
    char *plugins_dir;
    char *html_dir;
    char *log_level;
    char *database;
    char *sql_dir;
    gboolean check_config;
    gboolean version;
} cli;

static void cli_free(cli *c)
{
    g_free(c->config_path);
    g_free(c->plugins_dir);
    g_free(c->html_dir);
    g_free(c->log_level);
    g_free(c->database);
    g_free(c->sql_dir);
}

static int cli_parse(cli *c, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &c->config_path,
         "Configuration file (default " ODEON_CONFIG_DIR "/odeon.conf)", "FILE"},
        {"port", 'p', 0, G_OPTION_ARG_INT, &c->port, "API port (HTTP and WebSocket)", "N"},
        {"admin-port", 0, 0, G_OPTION_ARG_INT, &c->admin_port, "Admin API port", "N"},
        {"plugins-dir", 0, 0, G_OPTION_ARG_FILENAME, &c->plugins_dir, "Plugins folder", "DIR"},
        {"html-dir", 0, 0, G_OPTION_ARG_FILENAME, &c->html_dir,
         "Static files served on the API port (\"\" disables)", "DIR"},
        {"log-level", 'l', 0, G_OPTION_ARG_STRING, &c->log_level,
         "error, warn, info, verbose or debug", "LEVEL"},
        {"database", 0, 0, G_OPTION_ARG_STRING, &c->database,
         "PostgreSQL connection string ([database] conninfo; keep passwords in ~/.pgpass)",
         "CONNINFO"},
        {"sql-dir", 0, 0, G_OPTION_ARG_FILENAME, &c->sql_dir, "Folder of the SQL migrations",
         "DIR"},
        {"check-config", 0, 0, G_OPTION_ARG_NONE, &c->check_config,
         "Validate the configuration and exit", NULL},
        {"version", 'V', 0, G_OPTION_ARG_NONE, &c->version, "Print the version and exit", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    GOptionContext *ctx = g_option_context_new("- Odeon media server");
    g_option_context_set_summary(ctx, "A Janus-compatible WebRTC media server for online events.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    GError *error = NULL;
    gboolean ok = g_option_context_parse(ctx, argc, argv, &error);
    g_option_context_free(ctx);
    if (!ok) {
        fprintf(stderr, "odeon: %s (see odeon --help)\n", error->message);
        g_error_free(error);
        return EXIT_BAD_CONFIG;
    }
    if (*argc > 1) {
        fprintf(stderr, "odeon: unexpected argument '%s' (see odeon --help)\n", (*argv)[1]);
        return EXIT_BAD_CONFIG;
    }
    return 0;
}

static odeon_config *load_config(const cli *c)
{
    const char *path = c->config_path;
    char *fallback = NULL;
    if (path == NULL) {
        fallback = g_build_filename(ODEON_CONFIG_DIR, "odeon.conf", NULL);
        if (g_file_test(fallback, G_FILE_TEST_EXISTS))
            path = fallback;
    }
    char *error = NULL;
    odeon_config *config = odeon_config_load(path, &error);
    odeon_config_overrides overrides = {
        .port = c->port,
        .admin_port = c->admin_port,
        .plugins_dir = c->plugins_dir,
        .html_dir = c->html_dir,
        .log_level = c->log_level,
        .database = c->database,
        .sql_dir = c->sql_dir,
    };
    if (config != NULL && odeon_config_apply_overrides(config, &overrides, &error) != 0)
        g_clear_pointer(&config, odeon_config_free);
    if (config == NULL) {
        fprintf(stderr, "odeon: bad configuration: %s\n", error);
        g_free(error);
    }
    g_free(fallback);
    return config;
}

int main(int argc, char **argv)
{
    cli c = {0};
    int rc = cli_parse(&c, &argc, &argv);
    if (rc == 0 && c.version) {
        printf("odeon %s (commit %s)\n", ODEON_VERSION_STRING, ODEON_GIT_COMMIT);
    } else if (rc == 0) {
        odeon_config *config = load_config(&c);
        if (config == NULL)
            rc = EXIT_BAD_CONFIG;
        else if (c.check_config)
            printf("%s: configuration OK\n", config->path);
        else
            rc = odeon_server_run(config);
        odeon_config_free(config);
    }
    cli_free(&c);
    return rc;
}
