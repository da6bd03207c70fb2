/*
 * log.c - leveled logging to stderr or a file.
 *
 * The destination fd is swapped under a mutex on open/reopen; writers format into a stack
 * buffer and issue one write(2) so concurrent lines stay whole. The level is an atomic int so
 * the enabled check on hot paths costs one load.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

static gint log_level = ODEON_LOG_INFO;
static GMutex log_lock;
static int log_fd = STDERR_FILENO;
static char *log_path;

static const char *const level_names[] = {NULL, "error", "warn", "info", "verbose", "debug"};

static int open_append(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int odeon_log_open(const char *path, char **error)
{
    if (path == NULL || path[0] == '\0') {
        odeon_log_close();
        return 0;
    }
    int fd = open_append(path);
    if (fd < 0) {
        if (error)
            *error = g_strdup_printf("cannot open log file %s: %s", path, strerror(errno));
        return ODEON_EIO;
    }
    g_mutex_lock(&log_lock);
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    g_free(log_path);
    log_path = g_strdup(path);
    g_mutex_unlock(&log_lock);
    return 0;
}

void odeon_log_reopen(void)
{
    g_mutex_lock(&log_lock);
    if (log_path != NULL) {
        int fd = open_append(log_path);
        if (fd >= 0) {
            close(log_fd);
            log_fd = fd;
        }
    }
    g_mutex_unlock(&log_lock);
}

void odeon_log_close(void)
{
    g_mutex_lock(&log_lock);
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = STDERR_FILENO;
    g_clear_pointer(&log_path, g_free);
    g_mutex_unlock(&log_lock);
}

void odeon_log_set_level(odeon_log_level level)
{
    if (level < ODEON_LOG_ERROR)
        level = ODEON_LOG_ERROR;
    if (level > ODEON_LOG_DEBUG)
        level = ODEON_LOG_DEBUG;
    g_atomic_int_set(&log_level, (gint)level);
}

odeon_log_level odeon_log_get_level(void)
{
    return (odeon_log_level)g_atomic_int_get(&log_level);
}

bool odeon_log_enabled(odeon_log_level level)
{
    return (gint)level <= g_atomic_int_get(&log_level);
}

int odeon_log_level_parse(const char *text, odeon_log_level *out)
{
    if (text == NULL)
        return ODEON_EINVAL;
    for (int i = ODEON_LOG_ERROR; i <= ODEON_LOG_DEBUG; i++) {
        if (g_ascii_strcasecmp(text, level_names[i]) == 0 ||
            (text[0] == '0' + i && text[1] == '\0')) {
            *out = (odeon_log_level)i;
            return 0;
        }
    }
    if (g_ascii_strcasecmp(text, "warning") == 0) {
        *out = ODEON_LOG_WARN;
        return 0;
    }
    return ODEON_EINVAL;
}

const char *odeon_log_level_name(odeon_log_level level)
{
    if (level < ODEON_LOG_ERROR || level > ODEON_LOG_DEBUG)
        return "unknown";
    return level_names[level];
}

void odeon_log_writev(odeon_log_level level, const char *module, const char *format,
                      va_list args)
{
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03d [%s] [%s] ", (int)(tv.tv_usec / 1000),
                  odeon_log_level_name(level), module ? module : "core");
    /* snprintf returns the length it wanted: a huge module name must not push n past the end. */
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    int body = vsnprintf(line + n, sizeof(line) - (size_t)n, format, args);
    if (body < 0)
        body = 0;
    n += body;
    if (n > (int)sizeof(line) - 2) {
        n = (int)sizeof(line) - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    }
    /* Client-supplied text (transactions, names) must not forge log lines. */
    for (int i = 0; i < n; i++) {
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
            line[i] = ' ';
    }
    line[n++] = '\n';
    g_mutex_lock(&log_lock);
    ssize_t w = write(log_fd, line, (size_t)n);
    g_mutex_unlock(&log_lock);
    (void)w;
}

void odeon_log_write(odeon_log_level level, const char *module, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    odeon_log_writev(level, module, format, args);
    va_end(args);
}
