/*
 * cluster.c - where a viewer of "odeon-load viewers" is served, and how it moves (--placement,
 * --failover-after-ms, --entry-viewers; README.md, "Clusters"). viewers.c runs the sessions;
 * this file decides which node the next session goes to and what a lost session means.
 *
 * Every viewer starts at the entry node (--host/--port). With --placement its watch asks for
 * placement; a redirect in the answer names the node that serves it, and the viewer runs the
 * whole flow again there with "placement": false. With --failover-after-ms, a viewer that was
 * ok once and then loses its node (no RTP for that long, or its WebSocket or session ends)
 * goes back to the entry node, excluding the nodes lost in this recovery, until it is ok again
 * or --setup-timeout passes. A reconnect is only marked here (placement_state.pending) and run
 * by viewers.c on the next tick, never inside the WebSocket or packet callback that saw the
 * loss: that callback still runs on the connection being torn down.
 *
 * Everything here runs on the viewer's worker thread, like the rest of the viewer.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "../bench/common/rtcclient.h"
#include "load.h"

#define MAX_HOPS 4            /* redirects in a row from the entry on: a placement loop */
#define RETRY_US (250 * 1000) /* between failed recovery attempts: no hammering of the entry */

static cluster_opts g_opt;

void cluster_configure(const cluster_opts *o)
{
    g_opt = *o;
}

void cluster_entry_target(placement_state *p)
{
    p->to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)g_opt.port)};
    inet_pton(AF_INET, g_opt.host, &p->to.sin_addr);
    snprintf(p->host_hdr, sizeof p->host_hdr, "%s:%d", g_opt.host, g_opt.port);
    snprintf(p->node, sizeof p->node, "entry");
    p->redirected = false;
    p->hops = 0;
}

/* ----- losing a node -------------------------------------------------------------------------- */

/* Adds a node to the exclusion list of the current recovery (once; "entry" is not a node id
 * the server knows, so it is never sent). */
static void exclude_add(placement_state *p, const char *node)
{
    if (!node[0] || strcmp(node, "entry") == 0 || p->nexcl == MAX_EXCLUDE)
        return;
    for (int i = 0; i < p->nexcl; i++)
        if (strcmp(p->excl[i], node) == 0)
            return;
    g_strlcpy(p->excl[p->nexcl++], node, NODE_ID_MAX);
}

void session_lost(viewer *v, const char *fmt, ...)
{
    placement_state *p = &v->pl;
    if (atomic_load(&v->failed) || p->pending)
        return; /* the first loss decides; a reconnect is already on its way */
    char why[sizeof v->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    int64_t now = rtcc_now_us();
    if (g_opt.failover_after_ms <= 0 || !p->up_once || viewers_stopping()) {
        vfail(v, "%s", why);
        return;
    }
    if (p->recovering && now > p->deadline) {
        vfail(v, "failover: not recovered in %.0f s (%s; then %s)", g_opt.setup_timeout, p->why,
              why);
        return;
    }
    bool retry = p->recovering; /* a session tried for the recovery failed too */
    if (!retry) {               /* a new loss */
        p->recovering = true;
        p->failovers++;
        p->lost_at = 0; /* taken at the teardown: packets may still come until then */
        p->deadline = now + (int64_t)(g_opt.setup_timeout * 1e6);
        p->nexcl = 0;
        g_strlcpy(p->why, why, sizeof p->why); /* (truncated: a log line) */
    }
    exclude_add(p, p->node);
    p->pending = PEND_FAILOVER;
    p->pending_at = retry ? now + RETRY_US : now;
    if (g_opt.verbose)
        logf_("viewer %d: lost node %s (%s): %s", v->idx, p->node, why,
              retry ? "asking the entry again" : "failing over");
}

/* ----- the watch and its redirect ------------------------------------------------------------- */

void cluster_watch_fields(const viewer *v, json_t *body)
{
    const placement_state *p = &v->pl;
    char key[48];
    snprintf(key, sizeof key, "load-%d-%d", (int)getpid(), v->idx);
    if (p->redirected) {
        /* The same key where placement sent it: the node tells placement it arrived. */
        json_object_set_new(body, "placement", json_false());
        json_object_set_new(body, "client", json_string(key));
        return;
    }
    if (!(g_opt.placement && v->idx >= g_opt.entry_viewers) && !p->recovering)
        return;
    json_object_set_new(body, "placement", json_true());
    json_object_set_new(body, "client", json_string(key));
    if (p->nexcl) {
        json_t *ex = json_array();
        for (int i = 0; i < p->nexcl; i++)
            json_array_append_new(ex, json_string(p->excl[i]));
        json_object_set_new(body, "exclude", ex);
    }
}

/* Copies a node id the server sent, keeping [A-Za-z0-9._:-] (the rest becomes '_'), so the
 * report can print it in JSON as it is. */
static void node_id_copy(char *dst, const char *src)
{
    size_t i = 0;
    for (; src[i] && i < NODE_ID_MAX - 1; i++)
        dst[i] = g_ascii_isalnum(src[i]) || strchr("._:-", src[i]) ? src[i] : '_';
    dst[i] = '\0';
}

/* {"status":"redirect","node":{"id","url"}}: another node serves this viewer. The session
 * here is dropped and the whole flow runs again there (by the next tick, see session_lost). */
static void on_redirect(viewer *v, json_t *result)
{
    placement_state *p = &v->pl;
    json_t *node = json_object_get(result, "node");
    const char *id = json_string_value(json_object_get(node, "id"));
    const char *url = json_string_value(json_object_get(node, "url"));
    if (!id || !url || ws_parse_url(url, &p->pend_to, p->pend_hdr, sizeof p->pend_hdr) != 0) {
        session_lost(v, "redirect without a usable node (id, url http://IPv4:port): %s",
                     url ? url : "no url");
        return;
    }
    if (++p->hops > MAX_HOPS) {
        session_lost(v, "redirect loop: %u redirects in a row (last to %s)", p->hops, id);
        return;
    }
    node_id_copy(p->pend_node, id);
    p->pending = PEND_REDIRECT;
    p->pending_at = 0;
    if (g_opt.verbose)
        logf_("viewer %d: redirected from %s to %s (%s)", v->idx, p->node, p->pend_node, url);
}

bool cluster_on_result(viewer *v, json_t *result, bool offer_done)
{
    const char *status = json_string_value(json_object_get(result, "status"));
    if (!status || strcmp(status, "redirect") != 0 || offer_done)
        return false; /* (a redirect after the offer is ignored) */
    on_redirect(v, result);
    return true;
}

/* ----- the next session ----------------------------------------------------------------------- */

bool cluster_pending_due(const viewer *v, int64_t now)
{
    return v->pl.pending && now >= v->pl.pending_at;
}

void cluster_retarget(viewer *v)
{
    placement_state *p = &v->pl;
    if (p->pending == PEND_REDIRECT) {
        p->to = p->pend_to;
        memcpy(p->host_hdr, p->pend_hdr, sizeof p->host_hdr);
        memcpy(p->node, p->pend_node, sizeof p->node);
        p->redirected = true;
    } else {
        cluster_entry_target(p);
        p->attempts++;
        if (!p->lost_at) /* the gap runs from the last packet of the lost session */
            p->lost_at = v->last_rtp_us;
    }
    p->pending = PEND_NONE;
}

void cluster_became_ok(viewer *v)
{
    placement_state *p = &v->pl;
    p->up_once = true;
    if (!p->recovering)
        return;
    p->recovering = false;
    p->nexcl = 0;
    if (p->lost_at && p->sess_first_rtp - p->lost_at > p->max_recovery_us)
        p->max_recovery_us = p->sess_first_rtp - p->lost_at;
    if (p->lost_at && p->sess_first_key && p->sess_first_key - p->lost_at > p->max_recovery_key_us)
        p->max_recovery_key_us = p->sess_first_key - p->lost_at;
    if (g_opt.verbose)
        logf_("viewer %d: recovered on %s, %.0f ms after its last packet", v->idx, p->node,
              (double)(p->sess_first_rtp - p->lost_at) / 1000.0);
}

bool cluster_silent(viewer *v, int64_t now)
{
    const placement_state *p = &v->pl;
    /* a session that delivered media and went silent has lost its node (a relay that died
     * sends nothing, not even a hangup) */
    if (g_opt.failover_after_ms <= 0 || !p->up_once || !p->sess_last_rtp ||
        now - p->sess_last_rtp <= (int64_t)g_opt.failover_after_ms * 1000)
        return false;
    session_lost(v, "no RTP for %d ms", g_opt.failover_after_ms);
    return true;
}
