/*
 * stage_access.c - a stage bound to an event (its "event" id) takes its rights from the
 * identity of the session, as the auth provider (the tickets plugin) resolves it: anyone with
 * a role in the event may watch, hosts and above may publish, organisers and owners may
 * create and destroy. Stages without an event keep their pin, secret and admin_key rules.
 */
#include "stage.h"

#include <string.h>

#include "../common/plugin_common.h"

bool stage_event_role_at_least(odeon_plugin_handle *handle, const char *event, const char *min)
{
    if (event == NULL ||
        stage_core->struct_size < offsetof(odeon_core_callbacks, event_role) + sizeof(void *))
        return false;
    int rank = odeon_role_rank(stage_core->event_role(handle, event));
    return rank > 0 && rank >= odeon_role_rank(min);
}

bool stage_event_id_valid(const char *event)
{
    if (event == NULL || *event == '\0' || strlen(event) > 20)
        return false;
    for (const char *p = event; *p; p++)
        if (!g_ascii_isdigit(*p))
            return false;
    return true;
}
