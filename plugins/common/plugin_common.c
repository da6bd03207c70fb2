/*
 * plugin_common.c - see plugin_common.h.
 */
#include "plugin_common.h"

#include <stdarg.h>
#include <string.h>

bool odeon_body_id(json_t *body, const char *key, int64_t *out)
{
    json_t *v = json_object_get(body, key);
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *out = json_integer_value(v);
        return true;
    }
    const char *s = json_string_value(v);
    if (s == NULL || *s == '\0' || strlen(s) > 18)
        return false;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isdigit(*p))
            return false;
    *out = g_ascii_strtoll(s, NULL, 10);
    return *out > 0;
}

int odeon_role_rank(const char *role)
{
    static const char *const order[] = {"participant", "host", "organiser", "owner"};
    for (size_t i = 0; role != NULL && i < G_N_ELEMENTS(order); i++)
        if (strcmp(role, order[i]) == 0)
            return (int)i + 1;
    return 0;
}

int odeon_event_rank(const odeon_core_callbacks *core, odeon_plugin_handle *handle,
                     int64_t event_id)
{
    char ev[24];
    return odeon_role_rank(core->event_role(handle, odeon_id_text(ev, event_id)));
}

int odeon_conf_int(const odeon_core_callbacks *core, const char *module, GKeyFile *kf,
                   const char *group, const char *key, int dflt, int min, int max, bool *ok)
{
    GError *err = NULL;
    int v = g_key_file_get_integer(kf, group, key, &err);
    if (err != NULL) {
        bool missing = !g_error_matches(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
        g_error_free(err);
        if (missing)
            return dflt;
        v = min - 1;
    }
    if (v < min || v > max) {
        core->log(ODEON_LOG_ERROR, module, "[%s] %s must be %d..%d", group, key, min, max);
        *ok = false;
    }
    return v;
}

const char *odeon_id_text(char buf[24], int64_t n)
{
    g_snprintf(buf, 24, "%" G_GINT64_FORMAT, n);
    return buf;
}

json_t *odeon_plugin_error(const odeon_core_callbacks *core, const char *plugin, int code,
                           const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    char *reason = g_strdup_vprintf(format, ap);
    va_end(ap);
    core->log(ODEON_LOG_INFO, plugin, "refused (%d): %s", code, reason);
    json_t *e = json_pack("{s:s, s:i, s:s}", plugin, "error", "error_code", code, "error", reason);
    g_free(reason);
    return e;
}

int64_t odeon_participant_id(const char *subject)
{
    static const char prefix[] = "participant:";
    if (subject == NULL || !g_str_has_prefix(subject, prefix) ||
        !g_ascii_isdigit(subject[sizeof prefix - 1]))
        return 0;
    char *end = NULL;
    gint64 id = g_ascii_strtoll(subject + sizeof prefix - 1, &end, 10);
    return end != NULL && *end == '\0' && id > 0 && id < G_MAXINT64 ? id : 0;
}
