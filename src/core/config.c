/*
 * config.c - the configuration schema, its defaults, and the GKeyFile parser.
 *
 * Every key is one row of config_schema: group, key, type, where it lands in odeon_config,
 * its default and its bounds. Parsing walks the file's groups and keys and looks each up in
 * the schema, so unknown keys are refused with the same care as bad values; validation of
 * cross-key rules (TLS pairs, admin secret) runs after the file and again after the flags.
 */
#include "core/config.h"

#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "core/log.h"
#include "core/util.h"

#ifndef ODEON_PLUGINS_DIR
#define ODEON_PLUGINS_DIR "/usr/local/lib/odeon/plugins"
#endif
#ifndef ODEON_CONFIG_DIR
#define ODEON_CONFIG_DIR "/usr/local/etc/odeon"
#endif
#ifndef ODEON_SQL_DIR
#define ODEON_SQL_DIR "/usr/local/share/odeon/sql"
#endif
#ifndef ODEON_HTML_DIR
#define ODEON_HTML_DIR "/usr/local/share/odeon/html"
#endif

typedef enum {
    CFG_STRING, /* char *, "" -> NULL */
    CFG_PATH,   /* char *, relative to the config file's folder, "" -> NULL */
    CFG_BOOL,
    CFG_UINT, /* unsigned */
    CFG_PORT, /* uint16_t */
    CFG_SIZE, /* size_t */
    CFG_LEVEL,
    CFG_LIST, /* char ** */
    CFG_URLPATH, /* char *, must start with '/', trailing '/' removed */
} config_type;

typedef struct config_key {
    const char *group;
    const char *key;
    config_type type;
    size_t offset;
    const char *default_value; /* NULL: unset */
    uint64_t min;
    uint64_t max;
} config_key;

#define AT(field) offsetof(odeon_config, field)

static const config_key config_schema[] = {
    {"general", "server_name", CFG_STRING, AT(general.server_name), "odeon", 0, 0},
    {"general", "log_level", CFG_LEVEL, AT(general.log_level), "info", 0, 0},
    {"general", "log_file", CFG_PATH, AT(general.log_file), NULL, 0, 0},
    {"general", "session_timeout", CFG_UINT, AT(general.session_timeout), "60", 0, 86400},
    {"general", "api_secret", CFG_STRING, AT(general.api_secret), NULL, 0, 0},
    {"general", "token_auth", CFG_BOOL, AT(general.token_auth), "false", 0, 0},
    {"general", "accept_new_sessions", CFG_BOOL, AT(general.accept_new_sessions), "true", 0, 0},
    {"paths", "plugins_dir", CFG_PATH, AT(paths.plugins_dir), NULL, 0, 0},
    {"paths", "plugins_config_dir", CFG_PATH, AT(paths.plugins_config_dir), NULL, 0, 0},
    {"paths", "html_dir", CFG_PATH, AT(paths.html_dir), NULL, 0, 0},
    {"paths", "sql_dir", CFG_PATH, AT(paths.sql_dir), NULL, 0, 0},
    {"database", "conninfo", CFG_STRING, AT(database.conninfo), NULL, 0, 0},
    {"database", "pool_size", CFG_UINT, AT(database.pool_size), "4", 1, 64},
    {"database", "connect_wait", CFG_UINT, AT(database.connect_wait), "10", 0, 600},
    {"cluster", "role", CFG_STRING, AT(cluster.role), "standalone", 0, 0},
    {"cluster", "node_id", CFG_STRING, AT(cluster.node_id), NULL, 0, 0},
    {"cluster", "public_url", CFG_STRING, AT(cluster.public_url), NULL, 0, 0},
    {"cluster", "upstream", CFG_STRING, AT(cluster.upstream), NULL, 0, 0},
    {"cluster", "secret", CFG_STRING, AT(cluster.secret), NULL, 0, 0},
    {"cluster", "capacity", CFG_UINT, AT(cluster.capacity), "0", 0, 10000000},
    {"cluster", "heartbeat_ms", CFG_UINT, AT(cluster.heartbeat_ms), "1000", 100, 60000},
    {"cluster", "dead_after_ms", CFG_UINT, AT(cluster.dead_after_ms), "3000", 300, 600000},
    {"http", "port", CFG_PORT, AT(http.port), "8088", 1, 65535},
    {"http", "interface", CFG_STRING, AT(http.interface), NULL, 0, 0},
    {"http", "base_path", CFG_URLPATH, AT(http.base_path), "/janus", 0, 0},
    {"http", "max_body_size", CFG_SIZE, AT(http.max_body_size), "1048576", 1024, 64 << 20},
    {"http", "client_queue_size", CFG_SIZE, AT(http.client_queue_size), "16777216", 65536,
     (uint64_t)1 << 34},
    {"http", "queue_total_size", CFG_SIZE, AT(http.queue_total_size), "0", 0,
     (uint64_t)1 << 40},
    {"http", "longpoll_timeout", CFG_UINT, AT(http.longpoll_timeout), "30", 1, 300},
    {"http", "cors_allow_origin", CFG_STRING, AT(http.cors_allow_origin), "*", 0, 0},
    {"http", "tls_cert", CFG_PATH, AT(http.tls_cert), NULL, 0, 0},
    {"http", "tls_key", CFG_PATH, AT(http.tls_key), NULL, 0, 0},
    {"admin", "enabled", CFG_BOOL, AT(admin.enabled), "true", 0, 0},
    {"admin", "port", CFG_PORT, AT(admin.port), "7088", 1, 65535},
    {"admin", "interface", CFG_STRING, AT(admin.interface), "127.0.0.1", 0, 0},
    {"admin", "base_path", CFG_URLPATH, AT(admin.base_path), "/admin", 0, 0},
    {"admin", "secret", CFG_STRING, AT(admin.secret), NULL, 0, 0},
    {"plugins", "enabled", CFG_LIST, AT(plugins_enabled), "echotest", 0, 0},
    {"auth", "static_tokens", CFG_LIST, AT(static_tokens), NULL, 0, 0},
    {"events", "enabled", CFG_BOOL, AT(events.enabled), "true", 0, 0},
    {"events", "queue_size", CFG_UINT, AT(events.queue_size), "65536", 16, 1 << 24},
    {"events", "handlers", CFG_LIST, AT(events.handlers), NULL, 0, 0},
    {"media", "loops", CFG_UINT, AT(media.loops), "0", 0, 256},
    {"media", "ipv6", CFG_BOOL, AT(media.ipv6), "true", 0, 0},
    {"media", "loopback", CFG_BOOL, AT(media.loopback), "false", 0, 0},
    {"media", "interfaces_allow", CFG_LIST, AT(media.interfaces_allow), NULL, 0, 0},
    {"media", "interfaces_deny", CFG_LIST, AT(media.interfaces_deny), NULL, 0, 0},
    {"media", "rtp_port_min", CFG_PORT, AT(media.rtp_port_min), "0", 0, 65535},
    {"media", "rtp_port_max", CFG_PORT, AT(media.rtp_port_max), "0", 0, 65535},
    {"media", "ice_lite", CFG_BOOL, AT(media.ice_lite), "false", 0, 0},
    {"media", "ice_tcp", CFG_BOOL, AT(media.ice_tcp), "false", 0, 0},
    {"media", "full_trickle", CFG_BOOL, AT(media.full_trickle), "false", 0, 0},
    {"media", "stun_server", CFG_STRING, AT(media.stun_server), NULL, 0, 0},
    {"media", "nat_1_1_mapping", CFG_STRING, AT(media.nat_1_1_mapping), NULL, 0, 0},
    {"media", "nat_1_1_keep_private", CFG_BOOL, AT(media.nat_1_1_keep_private), "false", 0, 0},
    {"media", "ice_servers", CFG_LIST, AT(media.ice_servers), NULL, 0, 0},
    {"media", "turn_username", CFG_STRING, AT(media.turn_username), NULL, 0, 0},
    {"media", "turn_credential", CFG_STRING, AT(media.turn_credential), NULL, 0, 0},
    {"media", "dtls_cert", CFG_PATH, AT(media.dtls_cert), NULL, 0, 0},
    {"media", "dtls_key", CFG_PATH, AT(media.dtls_key), NULL, 0, 0},
    {"media", "dtls_timeout", CFG_UINT, AT(media.dtls_timeout), "20", 1, 600},
    {"media", "consent_timeout", CFG_UINT, AT(media.consent_timeout), "30", 2, 3600},
    {"media", "no_media_timeout_ms", CFG_UINT, AT(media.no_media_timeout_ms), "1000", 100, 60000},
    {"media", "slowlink_threshold", CFG_UINT, AT(media.slowlink_threshold), "4", 0, 100000},
    {"media", "nack_buffer_ms", CFG_UINT, AT(media.nack_buffer_ms), "1000", 0, 10000},
    {"media", "twcc_period_ms", CFG_UINT, AT(media.twcc_period_ms), "100", 20, 1000},
    {"media", "rtcp_interval_ms", CFG_UINT, AT(media.rtcp_interval_ms), "1000", 100, 10000},
    {"media", "dscp", CFG_UINT, AT(media.dscp), "0", 0, 63},
};

static void *field_at(odeon_config *config, const config_key *k)
{
    return (char *)config + k->offset;
}

static const config_key *schema_find(const char *group, const char *key)
{
    for (size_t i = 0; i < G_N_ELEMENTS(config_schema); i++) {
        if (strcmp(config_schema[i].group, group) == 0 && strcmp(config_schema[i].key, key) == 0)
            return &config_schema[i];
    }
    return NULL;
}

static bool schema_has_group(const char *group)
{
    for (size_t i = 0; i < G_N_ELEMENTS(config_schema); i++) {
        if (strcmp(config_schema[i].group, group) == 0)
            return true;
    }
    return false;
}

static char **split_list(const char *value)
{
    char **parts = g_strsplit_set(value, ",;", -1);
    GPtrArray *out = g_ptr_array_new();
    for (char **p = parts; *p != NULL; p++) {
        char *item = g_strstrip(*p);
        if (*item != '\0')
            g_ptr_array_add(out, g_strdup(item));
    }
    g_strfreev(parts);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

static void field_clear(odeon_config *config, const config_key *k)
{
    void *field = field_at(config, k);
    switch (k->type) {
    case CFG_STRING:
    case CFG_PATH:
    case CFG_URLPATH:
        g_clear_pointer((char **)field, g_free);
        break;
    case CFG_LIST:
        g_clear_pointer((char ***)field, g_strfreev);
        break;
    default:
        break;
    }
}

/* Store value (already stripped) into the key's field. Returns NULL or a reason. */
static char *field_set(odeon_config *config, const config_key *k, const char *value)
{
    void *field = field_at(config, k);
    uint64_t number = 0;
    switch (k->type) {
    case CFG_STRING:
        field_clear(config, k);
        *(char **)field = *value ? g_strdup(value) : NULL;
        return NULL;
    case CFG_PATH:
        field_clear(config, k);
        if (*value == '\0')
            *(char **)field = NULL;
        else if (g_path_is_absolute(value) || config->dir == NULL)
            *(char **)field = g_strdup(value);
        else
            *(char **)field = g_build_filename(config->dir, value, NULL);
        return NULL;
    case CFG_URLPATH: {
        if (value[0] != '/' || strpbrk(value, " ?#\t") != NULL)
            return g_strdup_printf("'%s' is not a URL path starting with '/'", value);
        field_clear(config, k);
        char *path = g_strdup(value);
        size_t len = strlen(path);
        while (len > 1 && path[len - 1] == '/')
            path[--len] = '\0';
        *(char **)field = path;
        return NULL;
    }
    case CFG_BOOL:
        if (g_ascii_strcasecmp(value, "true") == 0 || g_ascii_strcasecmp(value, "yes") == 0 ||
            strcmp(value, "1") == 0)
            *(bool *)field = true;
        else if (g_ascii_strcasecmp(value, "false") == 0 || g_ascii_strcasecmp(value, "no") == 0 ||
                 strcmp(value, "0") == 0)
            *(bool *)field = false;
        else
            return g_strdup_printf("'%s' is not a boolean (true or false)", value);
        return NULL;
    case CFG_UINT:
    case CFG_PORT:
    case CFG_SIZE:
        if (odeon_parse_u64(value, k->min, k->max, &number) != 0)
            return g_strdup_printf("'%s' is not a whole number between %" G_GUINT64_FORMAT
                                   " and %" G_GUINT64_FORMAT,
                                   value, k->min, k->max);
        if (k->type == CFG_UINT)
            *(unsigned *)field = (unsigned)number;
        else if (k->type == CFG_PORT)
            *(uint16_t *)field = (uint16_t)number;
        else
            *(size_t *)field = (size_t)number;
        return NULL;
    case CFG_LEVEL:
        if (odeon_log_level_parse(value, (odeon_log_level *)field) != 0)
            return g_strdup_printf("'%s' is not a log level (error, warn, info, verbose, debug)",
                                   value);
        return NULL;
    case CFG_LIST:
        field_clear(config, k);
        *(char ***)field = split_list(value);
        return NULL;
    }
    return g_strdup("unsupported key type");
}

static void set_error(char **error, const char *label, const char *group, const char *key,
                      const char *reason)
{
    if (error == NULL)
        return;
    if (key != NULL)
        *error = g_strdup_printf("%s: [%s] %s: %s", label, group, key, reason);
    else if (group != NULL)
        *error = g_strdup_printf("%s: [%s]: %s", label, group, reason);
    else
        *error = g_strdup_printf("%s: %s", label, reason);
}

static odeon_config *config_new_defaults(const char *label, const char *dir)
{
    odeon_config *config = g_new0(odeon_config, 1);
    config->path = g_strdup(label);
    config->dir = dir ? g_strdup(dir) : NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(config_schema); i++) {
        const config_key *k = &config_schema[i];
        if (k->default_value != NULL) {
            char *reason = field_set(config, k, k->default_value);
            g_assert(reason == NULL);
        }
    }
    return config;
}

/* Defaults that depend on where the file is: conf/plugins beside it, compiled-in paths. */
static void config_fill_path_defaults(odeon_config *config)
{
    if (config->paths.plugins_dir == NULL)
        config->paths.plugins_dir = g_strdup(ODEON_PLUGINS_DIR);
    if (config->paths.plugins_config_dir == NULL) {
        char *beside = config->dir ? g_build_filename(config->dir, "plugins", NULL) : NULL;
        if (beside != NULL && g_file_test(beside, G_FILE_TEST_IS_DIR))
            config->paths.plugins_config_dir = beside;
        else {
            g_free(beside);
            config->paths.plugins_config_dir = g_build_filename(ODEON_CONFIG_DIR, "plugins", NULL);
        }
    }
    if (config->paths.html_dir == NULL && g_file_test(ODEON_HTML_DIR, G_FILE_TEST_IS_DIR))
        config->paths.html_dir = g_strdup(ODEON_HTML_DIR);
    if (config->paths.sql_dir == NULL)
        config->paths.sql_dir = g_strdup(ODEON_SQL_DIR);
}

static int config_parse_keyfile(odeon_config *config, GKeyFile *kf, char **error)
{
    gsize ngroups = 0;
    char **groups = g_key_file_get_groups(kf, &ngroups);
    int rc = 0;
    for (gsize g = 0; g < ngroups && rc == 0; g++) {
        if (!schema_has_group(groups[g])) {
            set_error(error, config->path, groups[g], NULL, "unknown group");
            rc = ODEON_EINVAL;
            break;
        }
        gsize nkeys = 0;
        char **keys = g_key_file_get_keys(kf, groups[g], &nkeys, NULL);
        for (gsize i = 0; i < nkeys && rc == 0; i++) {
            const config_key *k = schema_find(groups[g], keys[i]);
            if (k == NULL) {
                set_error(error, config->path, groups[g], keys[i], "unknown key");
                rc = ODEON_EINVAL;
                break;
            }
            char *raw = g_key_file_get_value(kf, groups[g], keys[i], NULL);
            char *reason = field_set(config, k, g_strstrip(raw));
            if (reason != NULL) {
                set_error(error, config->path, groups[g], keys[i], reason);
                rc = ODEON_EINVAL;
            }
            g_free(reason);
            g_free(raw);
        }
        g_strfreev(keys);
    }
    g_strfreev(groups);
    return rc;
}

/* Module names become file names: letters, digits, '_' and '-' only. */
static bool names_are_short(char **names)
{
    for (char **p = names; p && *p; p++) {
        for (const char *c = *p; *c; c++) {
            if (!g_ascii_isalnum(*c) && *c != '_' && *c != '-')
                return false;
        }
    }
    return true;
}

static bool url_is_http(const char *url)
{
    return url != NULL && (g_str_has_prefix(url, "http://") || g_str_has_prefix(url, "https://")) &&
           strchr(url, ' ') == NULL;
}

/* Same URL but for a trailing '/'. */
static bool same_url(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 0 && a[la - 1] == '/')
        la--;
    while (lb > 0 && b[lb - 1] == '/')
        lb--;
    return la == lb && g_ascii_strncasecmp(a, b, la) == 0;
}

static int config_validate_cluster(odeon_config *config, char **error)
{
    const char *label = config->path;
    const char *role = config->cluster.role ? config->cluster.role : "";
    bool relay = strcmp(role, "relay") == 0, origin = strcmp(role, "origin") == 0;
    if (!relay && !origin && strcmp(role, "standalone") != 0) {
        set_error(error, label, "cluster", "role", "must be standalone, origin or relay");
        return ODEON_EINVAL;
    }
    if ((relay || origin) &&
        (config->cluster.secret == NULL || strlen(config->cluster.secret) < 16)) {
        /* Never echo it: it is a secret. */
        set_error(error, label, "cluster", "secret",
                  "origin and relay nodes need a shared secret of 16 characters or more");
        return ODEON_EINVAL;
    }
    if (relay && !url_is_http(config->cluster.upstream)) {
        set_error(error, label, "cluster", "upstream",
                  "a relay needs the http:// or https:// URL of its upstream node");
        return ODEON_EINVAL;
    }
    if (!relay && config->cluster.upstream != NULL) {
        set_error(error, label, "cluster", "upstream", "only a relay has an upstream");
        return ODEON_EINVAL;
    }
    if (config->cluster.public_url && !url_is_http(config->cluster.public_url)) {
        set_error(error, label, "cluster", "public_url", "must be an http:// or https:// URL");
        return ODEON_EINVAL;
    }
    if (relay && config->cluster.public_url &&
        same_url(config->cluster.public_url, config->cluster.upstream)) {
        set_error(error, label, "cluster", "upstream", "points at this node itself");
        return ODEON_EINVAL;
    }
    if (config->cluster.dead_after_ms < 2 * config->cluster.heartbeat_ms) {
        set_error(error, label, "cluster", "dead_after_ms", "must be at least twice heartbeat_ms");
        return ODEON_EINVAL;
    }
    return 0;
}

static int config_validate(odeon_config *config, char **error)
{
    const char *label = config->path;
    if ((config->http.tls_cert == NULL) != (config->http.tls_key == NULL)) {
        set_error(error, label, "http", config->http.tls_cert ? "tls_key" : "tls_cert",
                  "tls_cert and tls_key must be set together");
        return ODEON_EINVAL;
    }
    if (config->admin.enabled && config->admin.secret == NULL) {
        set_error(error, label, "admin", "secret",
                  "the admin API is enabled but has no secret (set one or enabled = false)");
        return ODEON_EINVAL;
    }
    if (config->admin.enabled && config->admin.port == config->http.port) {
        set_error(error, label, "admin", "port", "must differ from [http] port");
        return ODEON_EINVAL;
    }
    for (char **t = config->static_tokens; t && *t; t++) {
        const char *colon = strchr(*t, ':');
        if (colon == NULL || colon == *t || colon[1] == '\0') {
            /* Never echo the entry: it holds a secret. */
            set_error(error, label, "auth", "static_tokens",
                      "every entry must be subject:token");
            return ODEON_EINVAL;
        }
    }
    if (!config->events.enabled && config->events.handlers && config->events.handlers[0]) {
        set_error(error, label, "events", "handlers",
                  "event handlers need the event bus ([events] enabled = true)");
        return ODEON_EINVAL;
    }
    if (!names_are_short(config->plugins_enabled)) {
        set_error(error, label, "plugins", "enabled", "plugin names are short names like 'echotest'");
        return ODEON_EINVAL;
    }
    if (!names_are_short(config->events.handlers)) {
        set_error(error, label, "events", "handlers",
                  "event handler names are short names like 'jsonlog'");
        return ODEON_EINVAL;
    }
    if (config->http.cors_allow_origin == NULL) {
        set_error(error, label, "http", "cors_allow_origin", "must not be empty (use * for any)");
        return ODEON_EINVAL;
    }
    if ((config->media.dtls_cert == NULL) != (config->media.dtls_key == NULL)) {
        set_error(error, label, "media", config->media.dtls_cert ? "dtls_key" : "dtls_cert",
                  "dtls_cert and dtls_key must be set together");
        return ODEON_EINVAL;
    }
    if ((config->media.rtp_port_min == 0) != (config->media.rtp_port_max == 0) ||
        config->media.rtp_port_min > config->media.rtp_port_max) {
        set_error(error, label, "media", "rtp_port_max",
                  "rtp_port_min and rtp_port_max must both be set, min <= max (or both 0)");
        return ODEON_EINVAL;
    }
    if (config->general.server_name == NULL) {
        set_error(error, label, "general", "server_name", "must not be empty");
        return ODEON_EINVAL;
    }
    return config_validate_cluster(config, error);
}

odeon_config *odeon_config_load_data(const char *data, size_t len, const char *label,
                                     const char *dir, char **error)
{
    odeon_config *config = config_new_defaults(label ? label : "(config)", dir);
    GKeyFile *kf = g_key_file_new();
    GError *gerr = NULL;
    int rc = 0;
    /* KEEP_TRANSLATIONS: without it GLib hides "key[xx]" lines from g_key_file_get_keys, so
     * they would be ignored silently instead of refused as unknown keys. */
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_KEEP_TRANSLATIONS, &gerr)) {
        set_error(error, config->path, NULL, NULL, gerr->message);
        g_error_free(gerr);
        rc = ODEON_EINVAL;
    }
    if (rc == 0)
        rc = config_parse_keyfile(config, kf, error);
    g_key_file_free(kf);
    if (rc == 0)
        rc = config_validate(config, error);
    if (rc != 0) {
        odeon_config_free(config);
        return NULL;
    }
    config_fill_path_defaults(config);
    return config;
}

odeon_config *odeon_config_load(const char *path, char **error)
{
    if (path == NULL) {
        odeon_config *config = config_new_defaults("(defaults)", NULL);
        /* The defaults have no admin secret: the admin API stays off until configured. */
        config->admin.enabled = false;
        config_fill_path_defaults(config);
        return config;
    }
    char *data = NULL;
    gsize len = 0;
    GError *gerr = NULL;
    if (!g_file_get_contents(path, &data, &len, &gerr)) {
        if (error)
            *error = g_strdup_printf("%s: %s", path, gerr->message);
        g_error_free(gerr);
        return NULL;
    }
    char *dir = g_path_get_dirname(path);
    odeon_config *config = odeon_config_load_data(data, len, path, dir, error);
    g_free(dir);
    g_free(data);
    return config;
}

int odeon_config_apply_overrides(odeon_config *config, const odeon_config_overrides *ov,
                                 char **error)
{
    if (ov->port < 0 || ov->port > 65535 || ov->admin_port < 0 || ov->admin_port > 65535) {
        if (error)
            *error = g_strdup("--port and --admin-port take a number between 1 and 65535");
        return ODEON_EINVAL;
    }
    if (ov->port > 0)
        config->http.port = (uint16_t)ov->port;
    if (ov->admin_port > 0)
        config->admin.port = (uint16_t)ov->admin_port;
    if (ov->plugins_dir != NULL) {
        g_free(config->paths.plugins_dir);
        config->paths.plugins_dir = g_strdup(ov->plugins_dir);
    }
    if (ov->html_dir != NULL) {
        g_free(config->paths.html_dir);
        config->paths.html_dir = *ov->html_dir ? g_strdup(ov->html_dir) : NULL;
    }
    if (ov->database != NULL) {
        g_free(config->database.conninfo);
        config->database.conninfo = *ov->database ? g_strdup(ov->database) : NULL;
    }
    if (ov->sql_dir != NULL) {
        g_free(config->paths.sql_dir);
        config->paths.sql_dir = g_strdup(ov->sql_dir);
    }
    if (ov->log_level != NULL &&
        odeon_log_level_parse(ov->log_level, &config->general.log_level) != 0) {
        if (error)
            *error = g_strdup_printf("--log-level: '%s' is not a log level (error, warn, info, "
                                     "verbose, debug)",
                                     ov->log_level);
        return ODEON_EINVAL;
    }
    return config_validate(config, error);
}

void odeon_config_free(odeon_config *config)
{
    if (config == NULL)
        return;
    for (size_t i = 0; i < G_N_ELEMENTS(config_schema); i++)
        field_clear(config, &config_schema[i]);
    g_free(config->path);
    g_free(config->dir);
    g_free(config);
}
