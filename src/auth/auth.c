/*
 * auth.c - api secret check and token resolution through the active provider.
 *
 * The static provider keeps "subject:token" pairs and compares every token in constant time
 * (a linear scan: the list is short and the scan itself does not leak which entry matched).
 * A plugin's provider replaces it while registered; the swap is guarded by a mutex, and a
 * provider is only unregistered at plugin shutdown, after every session is gone.
 */
#include "auth/auth.h"

#include <string.h>

#include <glib.h>

#include "core/util.h"

typedef struct static_token {
    char *subject;
    char *token;
} static_token;

struct odeon_auth {
    char *api_secret;
    bool token_auth;
    GArray *static_tokens; /* static_token */
    odeon_auth_provider static_provider;
    GMutex lock;
    const odeon_auth_provider *plugin_provider;
    bool plugin_roles;
};

static int static_resolve(void *user_data, const char *token, odeon_identity **out)
{
    odeon_auth *auth = user_data;
    const static_token *found = NULL;
    for (guint i = 0; i < auth->static_tokens->len; i++) {
        const static_token *t = &g_array_index(auth->static_tokens, static_token, i);
        if (odeon_secret_equal(t->token, token) && found == NULL)
            found = t;
    }
    if (found == NULL)
        return ODEON_EPERM;
    odeon_identity *id = g_new0(odeon_identity, 1);
    id->subject = g_strdup(found->subject);
    id->provider = "static";
    *out = id;
    return 0;
}

static void static_identity_free(void *user_data, odeon_identity *identity)
{
    (void)user_data;
    g_free((char *)identity->subject);
    g_free(identity);
}

odeon_auth *odeon_auth_new(const char *api_secret, bool token_auth, char **static_tokens,
                           char **error)
{
    odeon_auth *auth = g_new0(odeon_auth, 1);
    auth->api_secret = (api_secret && *api_secret) ? g_strdup(api_secret) : NULL;
    auth->token_auth = token_auth;
    auth->static_tokens = g_array_new(FALSE, TRUE, sizeof(static_token));
    g_mutex_init(&auth->lock);
    for (char **entry = static_tokens; entry && *entry; entry++) {
        const char *colon = strchr(*entry, ':');
        if (colon == NULL || colon == *entry || colon[1] == '\0') {
            if (error)
                *error = g_strdup("static token entries must be subject:token");
            odeon_auth_free(auth);
            return NULL;
        }
        static_token t = {g_strndup(*entry, (gsize)(colon - *entry)), g_strdup(colon + 1)};
        g_array_append_val(auth->static_tokens, t);
    }
    auth->static_provider = (odeon_auth_provider){
        .name = "static",
        .resolve = static_resolve,
        .identity_free = static_identity_free,
        .user_data = auth,
    };
    return auth;
}

void odeon_auth_free(odeon_auth *auth)
{
    if (auth == NULL)
        return;
    for (guint i = 0; i < auth->static_tokens->len; i++) {
        static_token *t = &g_array_index(auth->static_tokens, static_token, i);
        g_free(t->subject);
        /* Secrets do not linger in freed memory. */
        memset(t->token, 0, strlen(t->token));
        g_free(t->token);
    }
    g_array_free(auth->static_tokens, TRUE);
    if (auth->api_secret)
        memset(auth->api_secret, 0, strlen(auth->api_secret));
    g_free(auth->api_secret);
    g_mutex_clear(&auth->lock);
    g_free(auth);
}

bool odeon_auth_token_required(const odeon_auth *auth)
{
    return auth->token_auth;
}

bool odeon_auth_check_api_secret(const odeon_auth *auth, const char *secret)
{
    if (auth->api_secret == NULL)
        return true;
    return odeon_secret_equal(auth->api_secret, secret);
}

int odeon_auth_resolve(odeon_auth *auth, const char *token, odeon_auth_identity *out)
{
    if (token == NULL || *token == '\0')
        return ODEON_EPERM;
    g_mutex_lock(&auth->lock);
    const odeon_auth_provider *provider =
        auth->plugin_provider ? auth->plugin_provider : &auth->static_provider;
    g_mutex_unlock(&auth->lock);
    odeon_identity *identity = NULL;
    if (provider->resolve(provider->user_data, token, &identity) != 0 || identity == NULL)
        return ODEON_EPERM;
    out->identity = identity;
    out->provider = provider;
    return 0;
}

void odeon_auth_identity_free(odeon_auth_identity *id)
{
    if (id == NULL || id->identity == NULL)
        return;
    id->provider->identity_free(id->provider->user_data, id->identity);
    id->identity = NULL;
    id->provider = NULL;
}

int odeon_auth_set_provider(odeon_auth *auth, const odeon_auth_provider *provider,
                            bool has_roles)
{
    if (provider == NULL || provider->resolve == NULL || provider->identity_free == NULL)
        return ODEON_EINVAL;
    int rc = 0;
    g_mutex_lock(&auth->lock);
    if (auth->plugin_provider != NULL)
        rc = ODEON_EEXIST;
    else {
        auth->plugin_provider = provider;
        auth->plugin_roles = has_roles && provider->event_role != NULL;
    }
    g_mutex_unlock(&auth->lock);
    return rc;
}

bool odeon_auth_has_plugin_provider(odeon_auth *auth)
{
    g_mutex_lock(&auth->lock);
    bool has = auth->plugin_provider != NULL;
    g_mutex_unlock(&auth->lock);
    return has;
}

const char *odeon_auth_event_role(odeon_auth *auth, const odeon_auth_identity *id,
                                  const char *event_id)
{
    if (id == NULL || id->identity == NULL || event_id == NULL)
        return NULL;
    g_mutex_lock(&auth->lock);
    /* Only the provider that made the identity can read its claims. */
    bool ask = auth->plugin_roles && id->provider == auth->plugin_provider;
    g_mutex_unlock(&auth->lock);
    if (!ask)
        return NULL;
    return id->provider->event_role(id->provider->user_data, id->identity, event_id);
}

void odeon_auth_clear_provider(odeon_auth *auth, const odeon_auth_provider *provider)
{
    g_mutex_lock(&auth->lock);
    if (auth->plugin_provider == provider) {
        auth->plugin_provider = NULL;
        auth->plugin_roles = false;
    }
    g_mutex_unlock(&auth->lock);
}
