/*
 * auth.h - resolves a request's token to an identity, through the active auth provider.
 *
 * The built-in provider is the static-token list from [auth] static_tokens ("subject:token");
 * a plugin (tickets) may register its own provider, which then takes precedence. The Janus
 * "apisecret" check lives here too so that every secret comparison is constant-time and no
 * secret ever reaches a log line.
 */
#ifndef ODEON_AUTH_AUTH_H
#define ODEON_AUTH_AUTH_H

#include <stdbool.h>

#include "plugin/plugin.h"

typedef struct odeon_auth odeon_auth;

/* A resolved identity together with the provider that frees it. Owned by whoever holds it;
 * release with odeon_auth_identity_free. */
typedef struct odeon_auth_identity {
    odeon_identity *identity;
    const odeon_auth_provider *provider;
} odeon_auth_identity;

/* static_tokens: NULL-terminated "subject:token" entries (borrowed, copied). NULL on a
 * malformed entry with *error set. */
odeon_auth *odeon_auth_new(const char *api_secret, bool token_auth, char **static_tokens,
                           char **error);
void odeon_auth_free(odeon_auth *auth);

bool odeon_auth_token_required(const odeon_auth *auth);
/* True when no api secret is configured or secret matches it. */
bool odeon_auth_check_api_secret(const odeon_auth *auth, const char *secret);

/* Resolve a token through the active provider. Returns 0 with *out filled (caller frees with
 * odeon_auth_identity_free) or ODEON_EPERM. */
int odeon_auth_resolve(odeon_auth *auth, const char *token, odeon_auth_identity *out);
void odeon_auth_identity_free(odeon_auth_identity *id);

/* Install a plugin's provider (only one may be registered). has_roles: the provider table
 * has event_role (its plugin was built for ABI 1.6 or later). */
int odeon_auth_set_provider(odeon_auth *auth, const odeon_auth_provider *provider,
                            bool has_roles);
/* Whether a plugin's provider is installed (a token is then resolved whenever a client gives
 * one, even with token_auth off). */
bool odeon_auth_has_plugin_provider(odeon_auth *auth);
/* id's role in event_id ("owner", "organiser", "host", "participant"; static strings) from
 * the provider that resolved it, or NULL. */
const char *odeon_auth_event_role(odeon_auth *auth, const odeon_auth_identity *id,
                                  const char *event_id);
/* Remove it again (plugin shutdown); no-op if another one is active. */
void odeon_auth_clear_provider(odeon_auth *auth, const odeon_auth_provider *provider);

#endif
