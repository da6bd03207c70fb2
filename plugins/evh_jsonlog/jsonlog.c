/*
 * jsonlog.c - odeon.eventhandler.jsonlog: appends every bus event as one JSON line to a file.
 *
 * The simplest useful event handler: operators tail it or ship it to a log pipeline, and tests
 * read it to see what the core published. Runs on the event bus thread, so the write never
 * delays a request. SIGHUP-style rotation is handled by reopening when the file was moved
 * (checked at most once a second).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <glib.h>

#include "events/event_handler.h"

static FILE *out;
static char *out_path;
static uint32_t mask = 0xffff;
static time_t last_rotation_check;

static const struct {
    const char *name;
    uint32_t bit;
} type_names[] = {
    {"session", 1}, {"handle", 2},   {"external", 4},   {"jsep", 8},   {"webrtc", 16},
    {"media", 32},  {"plugin", 64}, {"transport", 128}, {"core", 256}, {"all", 0xffff},
};

static int parse_mask(const char *list, uint32_t *result)
{
    uint32_t m = 0;
    char **parts = g_strsplit_set(list, ",; ", -1);
    int rc = 0;
    for (char **p = parts; *p && rc == 0; p++) {
        if (**p == '\0')
            continue;
        bool known = false;
        for (size_t i = 0; i < G_N_ELEMENTS(type_names); i++) {
            if (g_ascii_strcasecmp(*p, type_names[i].name) == 0) {
                m |= type_names[i].bit;
                known = true;
            }
        }
        if (!known) {
            fprintf(stderr, "jsonlog: unknown event type '%s'\n", *p);
            rc = -1;
        }
    }
    g_strfreev(parts);
    *result = m;
    return rc;
}

/* Reopen when the file was rotated away (renamed or deleted). */
static void reopen_if_rotated(void)
{
    time_t now = time(NULL);
    if (now == last_rotation_check)
        return;
    last_rotation_check = now;
    struct stat st;
    if (stat(out_path, &st) == 0)
        return;
    FILE *f = fopen(out_path, "a");
    if (f != NULL) {
        fclose(out);
        out = f;
    }
}

static int jsonlog_init(const char *config_path)
{
    GKeyFile *kf = g_key_file_new();
    GError *error = NULL;
    int rc = 0;
    if (!g_key_file_load_from_file(kf, config_path, G_KEY_FILE_NONE, &error)) {
        fprintf(stderr, "jsonlog: %s: %s (a [general] file = PATH is required)\n", config_path,
                error->message);
        rc = -1;
    }
    char *file = rc == 0 ? g_key_file_get_string(kf, "general", "file", NULL) : NULL;
    char *events = rc == 0 ? g_key_file_get_string(kf, "general", "events", NULL) : NULL;
    if (rc == 0 && (file == NULL || *file == '\0')) {
        fprintf(stderr, "jsonlog: %s: [general] file is required\n", config_path);
        rc = -1;
    }
    if (rc == 0 && events != NULL && parse_mask(events, &mask) != 0)
        rc = -1;
    if (rc == 0) {
        if (!g_path_is_absolute(file)) {
            char *dir = g_path_get_dirname(config_path);
            out_path = g_build_filename(dir, file, NULL);
            g_free(dir);
        } else {
            out_path = g_strdup(file);
        }
        out = fopen(out_path, "a");
        if (out == NULL) {
            fprintf(stderr, "jsonlog: cannot open %s: %s\n", out_path, strerror(errno));
            g_clear_pointer(&out_path, g_free);
            rc = -1;
        }
    }
    g_free(file);
    g_free(events);
    g_clear_error(&error);
    g_key_file_free(kf);
    return rc;
}

static void jsonlog_destroy(void)
{
    if (out != NULL)
        fclose(out);
    out = NULL;
    g_clear_pointer(&out_path, g_free);
}

static uint32_t jsonlog_events_mask(void)
{
    return mask;
}

static void jsonlog_handle_event(json_t *envelope)
{
    reopen_if_rotated();
    if (json_dumpf(envelope, out, JSON_COMPACT) == 0)
        fputc('\n', out);
    /* One event per line, readable as soon as it is written. */
    fflush(out);
}

__attribute__((visibility("default"))) const odeon_event_handler odeon_event_handler_descriptor = {
    ODEON_EVENT_HANDLER_DESCRIPTOR_INIT,
    .package = "odeon.eventhandler.jsonlog",
    .name = "JSON lines log",
    .description = "Appends every event as one JSON line to a file",
    .version_string = "0.1.0",
    .version = 100,
    .init = jsonlog_init,
    .destroy = jsonlog_destroy,
    .events_mask = jsonlog_events_mask,
    .handle_event = jsonlog_handle_event,
};
