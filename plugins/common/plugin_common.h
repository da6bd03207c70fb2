/*
 * plugin_common.h - small helpers the event plugins (chat, help, analytics) share: ids in
 * request bodies, role ranks, integer settings. Each plugin links its own copy of the object
 * (plugins are separate shared objects), so nothing here holds state.
 */
#ifndef ODEON_PLUGIN_COMMON_H
#define ODEON_PLUGIN_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>
#include <jansson.h>

#include "plugin/plugin.h"

/* A positive id at key: a JSON integer or a string of at most 18 digits. */
bool odeon_body_id(json_t *body, const char *key, int64_t *out);

/* "participant" < "host" < "organiser" < "owner": 1..4; anything else (NULL too) is 0. */
int odeon_role_rank(const char *role);

/* The handle's rank in event_id (0: anonymous or no role), from the core's auth provider. */
int odeon_event_rank(const odeon_core_callbacks *core, odeon_plugin_handle *handle,
                     int64_t event_id);

/* An integer setting of [group]: dflt when absent; out of min..max or not a number logs the
 * error under module and clears *ok. */
int odeon_conf_int(const odeon_core_callbacks *core, const char *module, GKeyFile *kf,
                   const char *group, const char *key, int dflt, int min, int max, bool *ok);

/* A plugin's refusal, {<plugin>: "error", "error_code": code, "error": reason}, logged once
 * at info under plugin (the event plugins answer with their own name as the key). New
 * reference. */
json_t *odeon_plugin_error(const odeon_core_callbacks *core, const char *plugin, int code,
                           const char *format, ...) __attribute__((format(printf, 4, 5)));

/* The participant id in an identity's subject ("participant:<id>", as the tickets plugin's
 * tokens name participants), or 0 for any other subject (NULL too). */
int64_t odeon_participant_id(const char *subject);

/* The text of n as a SQL parameter (buf of 24 bytes). */
const char *odeon_id_text(char buf[24], int64_t n);

#endif
