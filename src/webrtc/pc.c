/*
 * pc.c - peer connection signalling and transport: descriptions, candidates, the ICE agent, the
 * DTLS handshake and SRTP keys, failure and close. The media path is in pc_media.c.
 *
 * Every signalling call posts a task to the connection's loop, so descriptions and candidates
 * are applied in the order the client sent them and only the loop thread touches the agent.
 * Each task holds a reference to the connection.
 */
#include "webrtc/pc_priv.h"

#include <string.h>

#include "core/clock.h"
#include "core/log.h"

#define LOG_MODULE "pc"

static void pc_free(odeon_pc *pc)
{
    /* The agent, DTLS and the loop's tick registration are only released by close, on the
     * loop thread: a connection dropped without it would leak them and leave the tick
     * pointing here. */
    if (!pc->stopped)
        g_error("peer connection freed without odeon_pc_close");
    odeon_sdp_free(pc->remote);
    odeon_sdp_free(pc->local);
    odeon_sdp_free(pc->pending.sdp);
    g_ptr_array_unref(pc->local_candidates);
    g_ptr_array_unref(pc->remote_candidates);
    g_ptr_array_unref(pc->held_candidates);
    g_free(pc->remote_text);
    g_free(pc->local_text);
    g_mutex_clear(&pc->lock);
    g_mutex_clear(&pc->send_lock);
    odeon_media_loop_detach(pc->loop);
    g_free(pc);
}

odeon_pc *odeon_pc_new(odeon_media_loop *loop, const odeon_pc_settings *settings,
                       const odeon_pc_events *events, void *user)
{
    odeon_pc *pc = g_new0(odeon_pc, 1);
    odeon_refcount_init(&pc->ref);
    pc->loop = loop;
    pc->settings = *settings;
    pc->events = *events;
    pc->user = user;
    g_mutex_init(&pc->lock);
    g_mutex_init(&pc->send_lock);
    pc->local_candidates = g_ptr_array_new_with_free_func(g_free);
    pc->remote_candidates = g_ptr_array_new_with_free_func(g_free);
    pc->held_candidates = g_ptr_array_new_with_free_func(g_free);
    do
        pc->feedback_ssrc = g_random_int();
    while (pc->feedback_ssrc == 0);
    odeon_media_loop_attach(loop);
    return pc;
}

odeon_pc *odeon_pc_ref(odeon_pc *pc)
{
    odeon_refcount_inc(&pc->ref);
    return pc;
}

void odeon_pc_unref(odeon_pc *pc)
{
    if (pc != NULL && odeon_refcount_dec(&pc->ref))
        pc_free(pc);
}

static bool pc_is_closed(odeon_pc *pc)
{
    return g_atomic_int_get(&pc->closed) != 0;
}

/* ---- failure ---- */

typedef struct fail_task {
    odeon_pc *pc;
    const char *reason; /* static */
} fail_task;

static void fail_run(void *data)
{
    fail_task *t = data;
    if (!t->pc->stopped && !pc_is_closed(t->pc))
        t->pc->events.failed(t->pc->user, t->reason);
    odeon_pc_unref(t->pc);
    g_free(t);
}

/* The owner's reaction (a close) is posted, not run inline: failures are found inside libnice
 * and OpenSSL callbacks, and closing frees the agent and the DTLS endpoint under them. */
void pc_fail(odeon_pc *pc, const char *reason)
{
    if (pc->failed || pc->stopped || pc_is_closed(pc))
        return;
    pc->failed = true;
    LOG_VERBOSE("peer connection failed: %s", reason);
    fail_task *t = g_new(fail_task, 1);
    t->pc = odeon_pc_ref(pc);
    t->reason = reason;
    odeon_media_loop_post(pc->loop, fail_run, t);
}

/* ---- DTLS ---- */

static void dtls_send(void *user, const uint8_t *data, size_t len)
{
    odeon_pc *pc = user;
    if (pc->ice != NULL)
        odeon_ice_agent_send(pc->ice, data, len);
}

static void dtls_check_state(odeon_pc *pc)
{
    odeon_dtls_state state = odeon_dtls_endpoint_state(pc->dtls);
    if (state == ODEON_DTLS_STATE_CONNECTED && pc->srtp == NULL) {
        const char *profile_name = NULL;
        const uint8_t *material = NULL;
        size_t len = 0;
        char *error = NULL;
        if (odeon_dtls_endpoint_srtp(pc->dtls, &profile_name, &material, &len) == 0) {
            odeon_srtp_profile profile = odeon_srtp_profile_from_openssl_name(profile_name);
            pc->srtp = odeon_srtp_new(profile, material, len,
                                      pc->role == ODEON_DTLS_ROLE_CLIENT, &error);
        }
        if (pc->srtp == NULL) {
            LOG_WARN("cannot set up SRTP: %s", error ? error : "no SRTP profile negotiated");
            g_free(error);
            pc_fail(pc, "DTLS alert");
            return;
        }
        pc->up = true;
        LOG_VERBOSE("DTLS up (%s), SRTP %s", pc->role == ODEON_DTLS_ROLE_CLIENT ? "client"
                                                                              : "server",
                    profile_name);
        pc->events.webrtcup(pc->user);
    } else if (state == ODEON_DTLS_STATE_FAILED) {
        const char *why = odeon_dtls_endpoint_failure_reason(pc->dtls);
        LOG_VERBOSE("DTLS failed: %s", why ? why : "?");
        pc_fail(pc, why && strstr(why, "timeout") ? "DTLS handshake timeout" : "DTLS alert");
    } else if (state == ODEON_DTLS_STATE_CLOSED) {
        pc_fail(pc, "DTLS alert");
    }
}

void pc_dtls_feed(odeon_pc *pc, const uint8_t *buf, size_t len)
{
    if (pc->dtls == NULL)
        return; /* the client retransmits until our description is applied */
    odeon_dtls_endpoint_feed(pc->dtls, buf, len);
    dtls_check_state(pc);
}

static void dtls_maybe_start(odeon_pc *pc)
{
    if (pc->dtls == NULL && pc->role_known && pc->remote != NULL && pc->local != NULL) {
        const odeon_sdp_fingerprint *fp = odeon_jsep_fingerprint(pc->remote);
        char *error = NULL;
        pc->dtls = odeon_dtls_endpoint_new(pc->settings.identity, pc->role, fp->hash, fp->value,
                                           dtls_send, pc, &error);
        if (pc->dtls == NULL) {
            LOG_WARN("cannot create the DTLS endpoint: %s", error ? error : "?");
            g_free(error);
            pc_fail(pc, "DTLS alert");
            return;
        }
        odeon_dtls_endpoint_set_deadline_us(pc->dtls,
                                            (int64_t)pc->settings.dtls_timeout_s * 1000000);
    }
    if (pc->dtls != NULL && pc->role == ODEON_DTLS_ROLE_CLIENT && pc->ice != NULL &&
        odeon_ice_agent_state(pc->ice) == ODEON_ICE_STATE_CONNECTED &&
        odeon_dtls_endpoint_state(pc->dtls) == ODEON_DTLS_STATE_NEW)
        odeon_dtls_endpoint_start(pc->dtls);
}

/* ---- ICE ---- */

static const char *first_mid(odeon_pc *pc, int *mindex)
{
    const odeon_sdp *sdp = pc->local ? pc->local : (pc->pending.sdp ? pc->pending.sdp : pc->remote);
    for (size_t i = 0; sdp && i < sdp->media_count; i++) {
        if (sdp->media[i].port != 0) {
            *mindex = (int)i;
            return sdp->media[i].mid;
        }
    }
    *mindex = 0;
    return "0";
}

static void emit_local_candidate(odeon_pc *pc, const char *candidate)
{
    int mindex = 0;
    const char *mid = first_mid(pc, &mindex);
    pc->events.local_candidate(pc->user, mid, mindex, candidate);
}

static void ice_candidate(void *user, const char *candidate)
{
    odeon_pc *pc = user;
    g_ptr_array_add(pc->local_candidates, g_strdup(candidate));
    if (!pc->settings.full_trickle)
        return;
    if (pc->local_sent)
        emit_local_candidate(pc, candidate);
    else
        g_ptr_array_add(pc->held_candidates, g_strdup(candidate));
}

static void local_finish(odeon_pc *pc);

static void ice_gathering_done(void *user)
{
    odeon_pc *pc = user;
    pc->gathering_done = true;
    if (pc->pending.done != NULL && !pc->settings.full_trickle)
        local_finish(pc);
    else if (pc->settings.full_trickle && pc->local_sent)
        emit_local_candidate(pc, NULL);
}

static void ice_state_changed(void *user, odeon_ice_state state)
{
    odeon_pc *pc = user;
    LOG_VERBOSE("ICE %s", odeon_ice_state_name(state));
    if (state == ODEON_ICE_STATE_CONNECTED) {
        pc->last_recv_us = odeon_clock_monotonic_us();
        dtls_maybe_start(pc);
    } else if (state == ODEON_ICE_STATE_FAILED) {
        pc_fail(pc, "ICE failed");
    }
}

static void ice_receive(void *user, uint8_t *buf, size_t len)
{
    odeon_pc *pc = user;
    if (pc_is_closed(pc))
        return;
    int64_t now = odeon_clock_monotonic_us();
    pc->last_recv_us = now;
    pc_media_receive(pc, buf, len, now);
}

static const odeon_ice_callbacks ice_callbacks = {
    .candidate = ice_candidate,
    .gathering_done = ice_gathering_done,
    .state_changed = ice_state_changed,
    .receive = ice_receive,
};

/* Whether the peer sends us media, so that its silence means it is gone. A peer that only
 * receives may send nothing at all (RTCP is not always there): libnice's keepalive checks
 * fail its component instead ("ICE failed"). Before negotiation: assume it sends. */
static bool pc_peer_sends(odeon_pc *pc)
{
    if (pc->stream_count == 0)
        return true;
    for (size_t i = 0; i < pc->stream_count; i++)
        if (pc->streams[i].neg.active && pc->streams[i].neg.recv)
            return true;
    return false;
}

/* The loop's shared tick (every ODEON_MEDIA_LOOP_TICK_MS). now_us is g_get_monotonic_time;
 * the connection's own clock (odeon_clock, fakeable in tests) is read here. */
static void pc_tick(void *data, int64_t now_us)
{
    (void)now_us;
    odeon_pc *pc = data;
    if (pc->stopped || pc_is_closed(pc))
        return;
    int64_t now = odeon_clock_monotonic_us();
    if (pc->dtls != NULL && odeon_dtls_endpoint_state(pc->dtls) == ODEON_DTLS_STATE_CONNECTING) {
        int64_t t = odeon_dtls_endpoint_timeout_us(pc->dtls);
        if (t == 0) {
            odeon_dtls_endpoint_handle_timeout(pc->dtls);
            dtls_check_state(pc);
        }
    }
    if (pc->last_recv_us != 0 && pc_peer_sends(pc) &&
        now - pc->last_recv_us > (int64_t)pc->settings.consent_timeout_s * 1000000) {
        pc_fail(pc, "ICE consent lost");
        return;
    }
    if (pc->up)
        pc_media_tick(pc, now);
}

/* Creates the agent and starts gathering; false after pc_fail. */
static bool ice_ensure(odeon_pc *pc, bool controlling)
{
    if (pc->ice != NULL)
        return true;
    char *error = NULL;
    GMainContext *ctx = odeon_media_loop_context(pc->loop);
    pc->ice = odeon_ice_agent_new(ctx, &pc->settings.ice, controlling, &ice_callbacks, pc,
                                  &error);
    if (pc->ice == NULL || odeon_ice_agent_gather(pc->ice, &error) != 0) {
        LOG_WARN("ICE: %s", error ? error : "cannot start");
        g_free(error);
        pc_fail(pc, "ICE failed");
        return false;
    }
    odeon_media_loop_tick_add(pc->loop, pc_tick, pc);
    pc->ticking = true;
    return true;
}

static void ice_apply_remote_candidate(odeon_pc *pc, const char *candidate)
{
    int rc = odeon_ice_agent_add_remote_candidate(pc->ice, candidate);
    if (rc == ODEON_EINVAL)
        LOG_VERBOSE("ignoring remote candidate we cannot use: %s", candidate);
}

/* ---- remote description ---- */

typedef struct remote_task {
    odeon_pc *pc;
    odeon_sdp *sdp;
    bool is_offer;
} remote_task;

static void role_from_remote(odeon_pc *pc)
{
    const char *setup = odeon_jsep_setup(pc->remote);
    if (pc->remote_offer) {
        /* They offered: actpass or passive makes us the client (active), as browsers do. */
        pc->role = (setup && strcmp(setup, "active") == 0) ? ODEON_DTLS_ROLE_SERVER
                                                            : ODEON_DTLS_ROLE_CLIENT;
    } else {
        pc->role = (setup && strcmp(setup, "passive") == 0) ? ODEON_DTLS_ROLE_CLIENT
                                                             : ODEON_DTLS_ROLE_SERVER;
    }
    pc->role_known = true;
}

static void negotiate(odeon_pc *pc)
{
    if (pc->remote == NULL || pc->local == NULL ||
        pc->remote->media_count != pc->local->media_count)
        return;
    pc_media_negotiated(pc);
    dtls_maybe_start(pc);
}

static void remote_apply(void *data)
{
    remote_task *t = data;
    odeon_pc *pc = t->pc;
    if (pc->stopped) {
        odeon_sdp_free(t->sdp);
        goto out;
    }
    const char *old_ufrag = pc->remote ? odeon_jsep_ice_ufrag(pc->remote) : NULL;
    bool restart = old_ufrag != NULL && strcmp(old_ufrag, odeon_jsep_ice_ufrag(t->sdp)) != 0;
    odeon_sdp_free(pc->remote);
    pc->remote = t->sdp;
    pc->remote_offer = t->is_offer;
    if (!ice_ensure(pc, !t->is_offer))
        goto out;
    if (restart) {
        LOG_VERBOSE("ICE restart");
        odeon_ice_agent_restart(pc->ice);
    }
    odeon_ice_agent_set_remote_credentials(pc->ice, odeon_jsep_ice_ufrag(pc->remote),
                                           odeon_jsep_ice_pwd(pc->remote));
    bool done = false;
    for (size_t i = 0; i < pc->remote->media_count; i++) {
        const odeon_sdp_media *m = &pc->remote->media[i];
        for (size_t k = 0; k < m->candidate_count; k++) {
            char *line = g_strconcat("candidate:", m->candidates[k], NULL);
            ice_apply_remote_candidate(pc, line);
            g_free(line);
        }
        done |= m->end_of_candidates;
    }
    for (guint i = 0; i < pc->remote_candidates->len; i++)
        ice_apply_remote_candidate(pc, g_ptr_array_index(pc->remote_candidates, i));
    g_ptr_array_set_size(pc->remote_candidates, 0);
    if (done || pc->remote_candidates_done)
        odeon_ice_agent_remote_gathering_done(pc->ice);
    if (!pc->role_known || restart || t->is_offer)
        role_from_remote(pc);
    negotiate(pc);
out:
    odeon_pc_unref(pc);
    g_free(t);
}

int odeon_pc_set_remote(odeon_pc *pc, odeon_sdp *sdp, bool is_offer, char **error)
{
    int rc = odeon_jsep_check_remote(sdp, is_offer, NULL, error);
    g_mutex_lock(&pc->lock);
    size_t ours = pc->local_media_count;
    g_mutex_unlock(&pc->lock);
    if (rc == 0 && !is_offer && ours != 0 && sdp->media_count != ours) {
        if (error)
            *error = g_strdup_printf("the answer has %zu m-lines, the offer had %zu",
                                     sdp->media_count, ours);
        rc = ODEON_EINVAL;
    }
    if (rc != 0) {
        odeon_sdp_free(sdp);
        return rc;
    }
    char *text = odeon_sdp_write(sdp);
    g_mutex_lock(&pc->lock);
    g_free(pc->remote_text);
    pc->remote_text = text;
    pc->remote_is_offer = is_offer;
    g_mutex_unlock(&pc->lock);
    remote_task *t = g_new0(remote_task, 1);
    t->pc = odeon_pc_ref(pc);
    t->sdp = sdp;
    t->is_offer = is_offer;
    odeon_media_loop_post(pc->loop, remote_apply, t);
    return 0;
}

char *odeon_pc_remote_sdp(odeon_pc *pc)
{
    g_mutex_lock(&pc->lock);
    char *text = g_strdup(pc->remote_text);
    g_mutex_unlock(&pc->lock);
    return text;
}

char *odeon_pc_local_sdp(odeon_pc *pc)
{
    g_mutex_lock(&pc->lock);
    char *text = g_strdup(pc->local_text);
    g_mutex_unlock(&pc->lock);
    return text;
}

bool odeon_pc_remote_is_offer(odeon_pc *pc)
{
    g_mutex_lock(&pc->lock);
    bool offer = pc->remote_is_offer;
    g_mutex_unlock(&pc->lock);
    return offer;
}

/* ---- local description ---- */

static void local_finish(odeon_pc *pc)
{
    pc_pending_local p = pc->pending;
    memset(&pc->pending, 0, sizeof pc->pending);
    const char *setup = p.is_offer ? "actpass"
                                   : (pc->role == ODEON_DTLS_ROLE_CLIENT ? "active" : "passive");
    bool with_candidates = !pc->settings.full_trickle;
    odeon_jsep_transport t = {
        .ufrag = odeon_ice_agent_local_ufrag(pc->ice),
        .pwd = odeon_ice_agent_local_pwd(pc->ice),
        .fingerprint_hash = "sha-256",
        .fingerprint = odeon_dtls_identity_fingerprint(pc->settings.identity),
        .setup = setup,
        .ice_lite = pc->settings.ice.lite,
        .candidates = with_candidates ? (const char *const *)pc->local_candidates->pdata : NULL,
        .candidate_count = with_candidates ? pc->local_candidates->len : 0,
        .end_of_candidates = with_candidates && pc->gathering_done,
    };
    odeon_jsep_set_transport(p.sdp, &t);
    char *text = odeon_sdp_write(p.sdp);
    odeon_sdp_free(pc->local);
    pc->local = p.sdp;
    g_mutex_lock(&pc->lock);
    pc->local_media_count = p.sdp->media_count;
    g_free(pc->local_text);
    pc->local_text = g_strdup(text);
    g_mutex_unlock(&pc->lock);
    negotiate(pc);
    p.done(p.data, text, NULL);
    pc->local_sent = true;
    for (guint i = 0; i < pc->held_candidates->len; i++)
        emit_local_candidate(pc, g_ptr_array_index(pc->held_candidates, i));
    g_ptr_array_set_size(pc->held_candidates, 0);
    if (pc->settings.full_trickle && pc->gathering_done)
        emit_local_candidate(pc, NULL);
}

typedef struct local_task {
    odeon_pc *pc;
    pc_pending_local p;
} local_task;

static void local_apply(void *data)
{
    local_task *t = data;
    odeon_pc *pc = t->pc;
    if (pc->stopped || pc->failed) {
        odeon_sdp_free(t->p.sdp);
        t->p.done(t->p.data, NULL, g_strdup("the peer connection is closed"));
        goto out;
    }
    if (!t->p.is_offer && (pc->remote == NULL || !pc->remote_offer)) {
        odeon_sdp_free(t->p.sdp);
        t->p.done(t->p.data, NULL, g_strdup("an answer needs the peer's offer first"));
        goto out;
    }
    if (!ice_ensure(pc, true)) {
        odeon_sdp_free(t->p.sdp);
        t->p.done(t->p.data, NULL, g_strdup("ICE failed"));
        goto out;
    }
    if (pc->pending.done != NULL) {
        /* A newer description replaces one still waiting for gathering. */
        odeon_sdp_free(pc->pending.sdp);
        pc->pending.done(pc->pending.data, NULL, g_strdup("replaced by a newer description"));
    }
    pc->pending = t->p;
    if (pc->gathering_done || pc->settings.full_trickle)
        local_finish(pc);
out:
    odeon_pc_unref(pc);
    g_free(t);
}

void odeon_pc_set_local(odeon_pc *pc, odeon_sdp *sdp, bool is_offer, odeon_pc_local_done done,
                        void *data)
{
    local_task *t = g_new0(local_task, 1);
    t->pc = odeon_pc_ref(pc);
    t->p.sdp = sdp;
    t->p.is_offer = is_offer;
    t->p.done = done;
    t->p.data = data;
    odeon_media_loop_post(pc->loop, local_apply, t);
}

/* ---- trickle ---- */

typedef struct candidate_task {
    odeon_pc *pc;
    char *candidate; /* NULL: end-of-candidates */
} candidate_task;

static void candidate_apply(void *data)
{
    candidate_task *t = data;
    odeon_pc *pc = t->pc;
    if (!pc->stopped) {
        if (pc->ice == NULL || pc->remote == NULL) {
            if (t->candidate != NULL)
                g_ptr_array_add(pc->remote_candidates, g_steal_pointer(&t->candidate));
            else
                pc->remote_candidates_done = true;
        } else if (t->candidate != NULL) {
            ice_apply_remote_candidate(pc, t->candidate);
        } else {
            odeon_ice_agent_remote_gathering_done(pc->ice);
        }
    }
    odeon_pc_unref(pc);
    g_free(t->candidate);
    g_free(t);
}

void odeon_pc_add_remote_candidate(odeon_pc *pc, const char *mid, int mindex,
                                   const char *candidate)
{
    (void)mid; /* everything is bundled on one transport */
    (void)mindex;
    candidate_task *t = g_new0(candidate_task, 1);
    t->pc = odeon_pc_ref(pc);
    t->candidate = candidate ? g_strdup(candidate) : NULL;
    odeon_media_loop_post(pc->loop, candidate_apply, t);
}

/* ---- close ---- */

static void close_run(void *data)
{
    odeon_pc *pc = data;
    if (pc->stopped)
        return;
    pc->stopped = true;
    if (pc->pending.done != NULL) {
        odeon_sdp_free(pc->pending.sdp);
        pc->pending.done(pc->pending.data, NULL, g_strdup("the peer connection is closed"));
        memset(&pc->pending, 0, sizeof pc->pending);
    }
    if (pc->ticking) {
        odeon_media_loop_tick_remove(pc->loop, pc_tick, pc);
        pc->ticking = false;
    }
    /* Senders on other threads check up/srtp under send_lock: after this they stop. */
    g_mutex_lock(&pc->send_lock);
    pc->up = false;
    odeon_srtp *srtp = pc->srtp;
    pc->srtp = NULL;
    g_mutex_unlock(&pc->send_lock);
    if (pc->dtls != NULL && odeon_dtls_endpoint_state(pc->dtls) == ODEON_DTLS_STATE_CONNECTED)
        odeon_dtls_endpoint_close(pc->dtls); /* close_notify tells the peer at once */
    g_clear_pointer(&pc->dtls, odeon_dtls_endpoint_free);
    pc_media_free(pc);
    g_mutex_lock(&pc->send_lock);
    g_clear_pointer(&pc->ice, odeon_ice_agent_free);
    g_mutex_unlock(&pc->send_lock);
    odeon_srtp_free(srtp);
}

void odeon_pc_close(odeon_pc *pc)
{
    if (!g_atomic_int_compare_and_exchange(&pc->closed, 0, 1))
        return;
    odeon_media_loop_run_sync(pc->loop, close_run, pc);
}

typedef struct close_task {
    odeon_pc *pc;
    void (*done)(void *data);
    void *data;
} close_task;

static void close_async_run(void *data)
{
    close_task *t = data;
    close_run(t->pc);
    if (t->done != NULL)
        t->done(t->data);
    odeon_pc_unref(t->pc);
    g_free(t);
}

void odeon_pc_close_async(odeon_pc *pc, void (*done)(void *data), void *data)
{
    g_atomic_int_set(&pc->closed, 1);
    close_task *t = g_new0(close_task, 1);
    t->pc = odeon_pc_ref(pc);
    t->done = done;
    t->data = data;
    odeon_media_loop_post(pc->loop, close_async_run, t);
}

bool odeon_pc_is_closed(odeon_pc *pc)
{
    return pc_is_closed(pc);
}

odeon_media_loop *odeon_pc_loop(odeon_pc *pc)
{
    return pc->loop;
}

/* ---- stats ---- */

static void stats_fill(void *data)
{
    odeon_pc *pc = data;
    odeon_pc_stats *s = &pc->stats;
    g_strlcpy(s->ice_state, pc->ice ? odeon_ice_state_name(odeon_ice_agent_state(pc->ice)) : "new",
              sizeof s->ice_state);
    g_strlcpy(s->dtls_state,
              pc->dtls ? odeon_dtls_state_name(odeon_dtls_endpoint_state(pc->dtls)) : "new",
              sizeof s->dtls_state);
    if (pc->ice != NULL)
        odeon_ice_agent_selected_pair(pc->ice, s->selected_pair, sizeof s->selected_pair);
    s->up = pc->up;
    s->media_count = (unsigned)pc->stream_count;
    pc_media_estimate_stats(pc, s);
    g_mutex_lock(&pc->lock);
    pc->stats_snapshot = *s;
    g_mutex_unlock(&pc->lock);
}

void odeon_pc_get_stats(odeon_pc *pc, odeon_pc_stats *out)
{
    if (!pc_is_closed(pc))
        odeon_media_loop_run_sync(pc->loop, stats_fill, pc);
    g_mutex_lock(&pc->lock);
    *out = pc->stats_snapshot;
    g_mutex_unlock(&pc->lock);
}
