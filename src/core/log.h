/*
 * log.h - leveled logging with module tags, to stderr or a file.
 *
 * Lines look like "2026-11-25 15:04:19.123 [warn] [api] message". Thread-safe; a line is
 * written with one write(2) so lines from several threads never interleave. SIGHUP handling
 * calls odeon_log_reopen to follow log rotation. Levels are those of plugin.h.
 */
#ifndef ODEON_CORE_LOG_H
#define ODEON_CORE_LOG_H

#include <stdbool.h>

#include "plugin/plugin.h"

/* Open path for appending (NULL or "" logs to stderr). Returns 0 or ODEON_EIO with *error set
 * (g_free it). Replaces any previous destination. */
int odeon_log_open(const char *path, char **error);
/* Reopen the current file (after rotation); no-op for stderr. */
void odeon_log_reopen(void);
/* Close the file and go back to stderr. */
void odeon_log_close(void);

void odeon_log_set_level(odeon_log_level level);
odeon_log_level odeon_log_get_level(void);
bool odeon_log_enabled(odeon_log_level level);

/* "error", "warn", "info", "verbose", "debug" (also 1..5). Returns 0 or ODEON_EINVAL. */
int odeon_log_level_parse(const char *text, odeon_log_level *out);
const char *odeon_log_level_name(odeon_log_level level);

void odeon_log_write(odeon_log_level level, const char *module, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
void odeon_log_writev(odeon_log_level level, const char *module, const char *format,
                      va_list args) __attribute__((format(printf, 3, 0)));

/* Each .c file defines LOG_MODULE ("api", "session", ...) before using these. */
#define ODEON_LOG(level, ...)                                                                  \
    do {                                                                                       \
        if (odeon_log_enabled(level))                                                          \
            odeon_log_write(level, LOG_MODULE, __VA_ARGS__);                                   \
    } while (0)
#define LOG_ERROR(...) ODEON_LOG(ODEON_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) ODEON_LOG(ODEON_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) ODEON_LOG(ODEON_LOG_INFO, __VA_ARGS__)
#define LOG_VERBOSE(...) ODEON_LOG(ODEON_LOG_VERBOSE, __VA_ARGS__)
#define LOG_DEBUG(...) ODEON_LOG(ODEON_LOG_DEBUG, __VA_ARGS__)

#endif
