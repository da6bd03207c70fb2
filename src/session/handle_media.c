/*
 * handle_media.c - see handle_media.h.
 */
#include "session/handle_media.h"

#include <string.h>

#include <glib.h>

#include "api/errors.h"
#include "core/log.h"
#include "core/medialoop.h"
#include "events/eventbus.h"
#include "webrtc/jsep.h"
#include "webrtc/pc.h"
#include "webrtc/srtp.h"

#define LOG_MODULE "media"

typedef struct media_state {
    odeon_media_loops *loops;
    odeon_dtls_identity *identity;
    odeon_pc_settings settings;
    char *stun_host;
    json_t *ice_servers;
} media_state;

/* Set once at start-up, before any handle exists, and cleared after the last is gone. */
static media_state *media;

/* ---- start and stop ---- */

static void parse_stun(media_state *m, const char *server)
{
    if (server == NULL)
        return;
    const char *colon = strrchr(server, ':');
    guint64 port = 3478;
    if (colon != NULL && strchr(server, ']') < colon && g_ascii_string_to_unsigned(
                                                             colon + 1, 10, 1, 65535, &port, NULL))
        m->stun_host = g_strndup(server, (gsize)(colon - server));
    else
        m->stun_host = g_strdup(server);
    m->settings.ice.stun_host = m->stun_host;
    m->settings.ice.stun_port = (uint16_t)port;
}

static json_t *ice_servers_json(const odeon_config *c)
{
    json_t *list = json_array();
    for (char **url = c->media.ice_servers; url && *url; url++) {
        json_t *entry = json_pack("{s:s}", "urls", *url);
        if (g_str_has_prefix(*url, "turn") && c->media.turn_username != NULL) {
            json_object_set_new(entry, "username", json_string(c->media.turn_username));
            json_object_set_new(entry, "credential",
                                json_string(c->media.turn_credential ? c->media.turn_credential
                                                                     : ""));
        }
        json_array_append_new(list, entry);
    }
    return list;
}

int odeon_media_start(const odeon_config *c, char **error)
{
    if (odeon_srtp_global_init() != 0) {
        *error = g_strdup("libsrtp initialisation failed");
        return ODEON_EIO;
    }
    media_state *m = g_new0(media_state, 1);
    if (c->media.dtls_cert != NULL)
        m->identity = odeon_dtls_identity_load(c->media.dtls_cert, c->media.dtls_key, error);
    else
        m->identity = odeon_dtls_identity_generate(error);
    if (m->identity == NULL) {
        g_free(m);
        return ODEON_EINVAL;
    }
    m->loops = odeon_media_loops_start(c->media.loops, error);
    if (m->loops == NULL) {
        odeon_dtls_identity_unref(m->identity);
        g_free(m);
        return ODEON_EIO;
    }
    odeon_pc_settings *s = &m->settings;
    s->ice.ipv6 = c->media.ipv6;
    s->ice.loopback = c->media.loopback;
    s->ice.interfaces_allow = c->media.interfaces_allow;
    s->ice.interfaces_deny = c->media.interfaces_deny;
    s->ice.port_min = c->media.rtp_port_min;
    s->ice.port_max = c->media.rtp_port_max;
    s->ice.lite = c->media.ice_lite;
    s->ice.tcp = c->media.ice_tcp;
    s->ice.nat_1_1 = c->media.nat_1_1_mapping;
    s->ice.nat_1_1_keep_private = c->media.nat_1_1_keep_private;
    s->ice.dscp = c->media.dscp;
    parse_stun(m, c->media.stun_server);
    s->full_trickle = c->media.full_trickle;
    s->identity = m->identity;
    s->dtls_timeout_s = c->media.dtls_timeout;
    s->consent_timeout_s = c->media.consent_timeout;
    s->no_media_timeout_ms = c->media.no_media_timeout_ms;
    s->slowlink_threshold = c->media.slowlink_threshold;
    s->nack_buffer_ms = c->media.nack_buffer_ms;
    s->twcc_period_ms = c->media.twcc_period_ms;
    s->rtcp_interval_ms = c->media.rtcp_interval_ms;
    m->ice_servers = ice_servers_json(c);
    LOG_INFO("DTLS fingerprint sha-256 %s", odeon_dtls_identity_fingerprint(m->identity));
    media = m;
    return 0;
}

void odeon_media_stop(void)
{
    media_state *m = media;
    if (m == NULL)
        return;
    media = NULL;
    odeon_media_loops_stop(m->loops);
    odeon_dtls_identity_unref(m->identity);
    json_decref(m->ice_servers);
    g_free(m->stun_host);
    g_free(m);
}

json_t *odeon_media_info_json(void)
{
    if (media == NULL)
        return json_object();
    const odeon_pc_settings *s = &media->settings;
    return json_pack("{s:b, s:b, s:b, s:b, s:i, s:i, s:O}", "ipv6", s->ice.ipv6, "ice-lite",
                     s->ice.lite, "ice-tcp", s->ice.tcp, "full-trickle", s->full_trickle,
                     "twcc-period", (int)s->twcc_period_ms, "static-event-loops",
                     (int)odeon_media_loops_count(media->loops), "ice_servers",
                     media->ice_servers);
}

/* ---- events from the peer connection (on its loop thread) ---- */

static json_t *handle_event(odeon_handle *h, const char *name)
{
    return json_pack("{s:s, s:I, s:I}", "janus", name, "session_id",
                     (json_int_t)odeon_session_id(odeon_handle_session(h)), "sender",
                     (json_int_t)odeon_handle_id(h));
}

static void push_and_free(odeon_handle *h, json_t *msg)
{
    odeon_session_push(odeon_handle_session(h), msg);
    json_decref(msg);
}

static void ev_local_candidate(void *user, const char *mid, int mindex, const char *candidate)
{
    odeon_handle *h = user;
    json_t *msg = handle_event(h, "trickle");
    json_t *cand = candidate ? json_pack("{s:s, s:i, s:s}", "sdpMid", mid ? mid : "0",
                                         "sdpMLineIndex", mindex, "candidate", candidate)
                             : json_pack("{s:b}", "completed", 1);
    json_object_set_new(msg, "candidate", cand);
    push_and_free(h, msg);
}

/* Event handlers get Janus's "webrtc" (16) and "media" (32) event shapes. */
static void publish(odeon_handle *h, int type, json_t *body)
{
    odeon_handle_publish(h, type, body);
    json_decref(body);
}

static void ev_webrtcup(void *user)
{
    odeon_handle *h = user;
    push_and_free(h, handle_event(h, "webrtcup"));
    if (odeon_handle_publishes(h, ODEON_EVENT_WEBRTC))
        publish(h, ODEON_EVENT_WEBRTC, json_pack("{s:s}", "connection", "webrtcup"));
    const odeon_plugin *plugin = odeon_handle_plugin(h);
    if (plugin->setup_media != NULL && odeon_handle_call_begin(h)) {
        plugin->setup_media(h);
        odeon_handle_call_end(h);
    }
}

static void ev_media(void *user, const char *mid, bool video, bool receiving)
{
    odeon_handle *h = user;
    json_t *msg = handle_event(h, "media");
    json_object_set_new(msg, "mid", json_string(mid));
    json_object_set_new(msg, "type", json_string(video ? "video" : "audio"));
    json_object_set_new(msg, "receiving", json_boolean(receiving));
    push_and_free(h, msg);
    if (odeon_handle_publishes(h, ODEON_EVENT_MEDIA))
        publish(h, ODEON_EVENT_MEDIA, json_pack("{s:s, s:s, s:b}", "mid", mid, "media",
                                                video ? "video" : "audio", "receiving",
                                                receiving));
}

static void ev_slowlink(void *user, const char *mid, bool video, bool uplink, unsigned lost)
{
    odeon_handle *h = user;
    json_t *msg = handle_event(h, "slowlink");
    json_object_set_new(msg, "mid", json_string(mid));
    json_object_set_new(msg, "media", json_string(video ? "video" : "audio"));
    json_object_set_new(msg, "uplink", json_boolean(uplink));
    json_object_set_new(msg, "lost", json_integer(lost));
    push_and_free(h, msg);
    if (odeon_handle_publishes(h, ODEON_EVENT_MEDIA))
        publish(h, ODEON_EVENT_MEDIA, json_pack("{s:s, s:s, s:b, s:i}", "mid", mid, "media",
                                                video ? "video" : "audio", "slow_link", uplink,
                                                "lost", (int)lost));
}

static void ev_rtp(void *user, odeon_media_packet *packet)
{
    odeon_handle *h = user;
    const odeon_plugin *plugin = odeon_handle_plugin(h);
    if (plugin->incoming_rtp != NULL && odeon_handle_call_begin(h)) {
        plugin->incoming_rtp(h, packet);
        odeon_handle_call_end(h);
    }
}

static void ev_rtcp(void *user, odeon_media_packet *packet)
{
    odeon_handle *h = user;
    const odeon_plugin *plugin = odeon_handle_plugin(h);
    if (plugin->incoming_rtcp != NULL && odeon_handle_call_begin(h)) {
        plugin->incoming_rtcp(h, packet);
        odeon_handle_call_end(h);
    }
}

static void ev_failed(void *user, const char *reason)
{
    odeon_handle_hangup(user, reason);
}

static size_t ev_retransmit(void *user, int mindex, uint16_t seq, uint8_t *buf, size_t cap)
{
    odeon_handle *h = user;
    const odeon_plugin *plugin = odeon_handle_plugin(h);
    size_t len = 0;
    if (ODEON_PLUGIN_HAS(plugin, retransmit_rtp) && odeon_handle_call_begin(h)) {
        len = plugin->retransmit_rtp(h, mindex, seq, buf, cap);
        odeon_handle_call_end(h);
    }
    return len <= cap ? len : 0;
}

static const odeon_pc_events pc_events = {
    .local_candidate = ev_local_candidate,
    .webrtcup = ev_webrtcup,
    .media = ev_media,
    .slowlink = ev_slowlink,
    .rtp = ev_rtp,
    .rtcp = ev_rtcp,
    .failed = ev_failed,
    .retransmit = ev_retransmit,
};

/* The handle's peer connection (new reference), created when create is set. */
static odeon_pc *handle_pc(odeon_handle *h, bool create)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc != NULL || !create || media == NULL)
        return pc;
    /* A plugin may keep related connections on one loop (a room: no handoff between threads,
     * one batch per peer); otherwise the least loaded loop. */
    int preferred = odeon_handle_preferred_loop(h);
    odeon_media_loop *loop =
        preferred >= 0 ? odeon_media_loops_get(media->loops, (unsigned)preferred) : NULL;
    pc = odeon_pc_new(loop ? loop : odeon_media_loops_pick(media->loops), &media->settings,
                      &pc_events, odeon_handle_ref(h));
    if (ODEON_PLUGIN_HAS(odeon_handle_plugin(h), retransmit_rtp))
        odeon_pc_external_retransmissions(pc);
    if (!odeon_handle_set_pc(h, pc)) {
        /* Detached meanwhile, or another request created one first. */
        odeon_pc_close(pc);
        odeon_pc_unref(pc);
        odeon_handle_unref(h);
        return odeon_handle_pc(h);
    }
    return pc;
}

/* ---- hangup ---- */

static void release_handle(void *data)
{
    odeon_handle_unref(data);
}

int odeon_handle_hangup(odeon_handle *h, const char *reason)
{
    odeon_pc *pc = odeon_handle_take_pc(h);
    if (pc == NULL)
        return ODEON_ENOTCONN;
    /* On any media loop the close is posted: on another loop waiting could deadlock, and on
     * the connection's own loop we may be inside one of libnice's or OpenSSL's callbacks
     * (a plugin calling close_pc from incoming_rtp), whose objects the close frees. */
    bool async = odeon_media_loop_current() != NULL;
    if (async) {
        odeon_pc_close_async(pc, release_handle, odeon_handle_ref(h));
    } else {
        odeon_pc_close(pc);
    }
    LOG_VERBOSE("handle %" G_GUINT64_FORMAT ": hangup (%s)", odeon_handle_id(h), reason);
    json_t *msg = handle_event(h, "hangup");
    json_object_set_new(msg, "reason", json_string(reason));
    push_and_free(h, msg);
    if (odeon_handle_publishes(h, ODEON_EVENT_WEBRTC))
        publish(h, ODEON_EVENT_WEBRTC, json_pack("{s:s, s:s}", "connection", "hangup", "reason",
                                                 reason));
    const odeon_plugin *plugin = odeon_handle_plugin(h);
    if (plugin->hangup_media != NULL && odeon_handle_call_begin(h)) {
        odeon_handle_set_hangup_reason(h, reason);
        plugin->hangup_media(h);
        odeon_handle_set_hangup_reason(h, NULL);
        odeon_handle_call_end(h);
    }
    odeon_pc_unref(pc);
    /* The reference the connection's events borrowed (see handle_pc). */
    odeon_handle_unref(h);
    return 0;
}

/* ---- the client's side ---- */

int odeon_handle_media_remote(odeon_handle *h, json_t *jsep, char **reason)
{
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *text = json_string_value(json_object_get(jsep, "sdp"));
    bool is_offer = strcmp(type, "offer") == 0;
    char *error = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, strlen(text), &error);
    if (sdp == NULL) {
        *reason = g_strdup_printf("JSEP error: invalid SDP (%s)", error ? error : "?");
        g_free(error);
        return ODEON_API_ERROR_JSEP_INVALID_SDP;
    }
    if (media == NULL) {
        odeon_sdp_free(sdp);
        *reason = g_strdup("JSEP error: media is not available");
        return ODEON_API_ERROR_WEBRTC_STATE;
    }
    odeon_pc *pc = handle_pc(h, is_offer);
    if (pc == NULL) {
        odeon_sdp_free(sdp);
        *reason = g_strdup("Unexpected ANSWER (did we offer?)");
        return ODEON_API_ERROR_UNEXPECTED_ANSWER;
    }
    int rc = odeon_pc_set_remote(pc, sdp, is_offer, &error);
    odeon_pc_unref(pc);
    if (rc == 0 && odeon_handle_publishes(h, ODEON_EVENT_JSEP))
        publish(h, ODEON_EVENT_JSEP, json_pack("{s:s, s:{s:s, s:s}}", "owner", "remote", "jsep",
                                               "type", type, "sdp", text));
    if (rc != 0) {
        *reason = g_strdup_printf("JSEP error: invalid SDP (%s)", error ? error : "?");
        g_free(error);
        return ODEON_API_ERROR_JSEP_INVALID_SDP;
    }
    return 0;
}

int odeon_handle_media_trickle(odeon_handle *h, json_t *candidate, char **reason)
{
    if (!json_is_object(candidate)) {
        *reason = g_strdup("Invalid element type (candidate should be an object)");
        return ODEON_API_ERROR_INVALID_ELEMENT_TYPE;
    }
    json_t *completed = json_object_get(candidate, "completed");
    const char *line = json_string_value(json_object_get(candidate, "candidate"));
    if (!json_is_true(completed) && line == NULL) {
        *reason = g_strdup("Missing mandatory element (candidate)");
        return ODEON_API_ERROR_MISSING_MANDATORY_ELEMENT;
    }
    if (line != NULL && *line == '\0')
        line = NULL; /* browsers signal end-of-candidates with an empty candidate too */
    const char *mid = json_string_value(json_object_get(candidate, "sdpMid"));
    json_t *index = json_object_get(candidate, "sdpMLineIndex");
    /* Candidates may come before the offer (Janus queues them): keep them in a connection. */
    odeon_pc *pc = handle_pc(h, true);
    if (pc == NULL)
        return 0;
    odeon_pc_add_remote_candidate(pc, mid, json_is_integer(index) ? (int)json_integer_value(index)
                                                                   : -1,
                                  line);
    odeon_pc_unref(pc);
    return 0;
}

/* ---- our side ---- */

typedef struct push_ctx {
    odeon_handle *handle;
    json_t *msg;
    char *type;
    /* complete_sync only: */
    GMutex lock;
    GCond cond;
    bool sync;
    bool done;
    json_t *result;
} push_ctx;

static void push_done(void *data, char *sdp, char *error)
{
    push_ctx *ctx = data;
    json_t *jsep = NULL;
    if (sdp != NULL) {
        jsep = json_pack("{s:s, s:s}", "type", ctx->type, "sdp", sdp);
        if (odeon_handle_publishes(ctx->handle, ODEON_EVENT_JSEP))
            publish(ctx->handle, ODEON_EVENT_JSEP,
                    json_pack("{s:s, s:O}", "owner", "local", "jsep", jsep));
    } else
        LOG_WARN("handle %" G_GUINT64_FORMAT ": cannot complete our %s: %s",
                 odeon_handle_id(ctx->handle), ctx->type, error ? error : "?");
    g_free(sdp);
    g_free(error);
    if (ctx->sync) {
        g_mutex_lock(&ctx->lock);
        ctx->result = jsep;
        ctx->done = true;
        g_cond_signal(&ctx->cond);
        g_mutex_unlock(&ctx->lock);
        return; /* the waiter frees ctx */
    }
    if (jsep != NULL)
        json_object_set_new(ctx->msg, "jsep", jsep);
    odeon_session_push(odeon_handle_session(ctx->handle), ctx->msg);
    json_decref(ctx->msg);
    odeon_handle_unref(ctx->handle);
    g_free(ctx->type);
    g_free(ctx);
}

/* Parses the plugin's jsep and hands it to the connection. */
static int start_local(odeon_handle *h, json_t *jsep, push_ctx *ctx)
{
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *text = json_string_value(json_object_get(jsep, "sdp"));
    if (type == NULL || text == NULL || media == NULL)
        return ODEON_EINVAL;
    char *error = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, strlen(text), &error);
    if (sdp == NULL) {
        LOG_WARN("handle %" G_GUINT64_FORMAT ": the plugin's SDP does not parse: %s",
                 odeon_handle_id(h), error ? error : "?");
        g_free(error);
        return ODEON_EINVAL;
    }
    bool is_offer = strcmp(type, "offer") == 0;
    odeon_pc *pc = handle_pc(h, is_offer);
    if (pc == NULL) {
        odeon_sdp_free(sdp);
        return ODEON_ENOTCONN;
    }
    ctx->handle = odeon_handle_ref(h);
    ctx->type = g_strdup(type);
    odeon_pc_set_local(pc, sdp, is_offer, push_done, ctx);
    odeon_pc_unref(pc);
    return 0;
}

int odeon_handle_media_push(odeon_handle *h, json_t *msg, json_t *jsep)
{
    push_ctx *ctx = g_new0(push_ctx, 1);
    ctx->msg = json_incref(msg);
    int rc = start_local(h, jsep, ctx);
    if (rc != 0) {
        json_decref(ctx->msg);
        g_free(ctx);
    }
    return rc;
}

json_t *odeon_handle_media_complete_sync(odeon_handle *h, json_t *jsep)
{
    push_ctx *ctx = g_new0(push_ctx, 1);
    ctx->sync = true;
    g_mutex_init(&ctx->lock);
    g_cond_init(&ctx->cond);
    if (start_local(h, jsep, ctx) != 0) {
        g_mutex_clear(&ctx->lock);
        g_cond_clear(&ctx->cond);
        g_free(ctx);
        return NULL;
    }
    /* The connection always calls back: once gathering is done (milliseconds with host
     * candidates, the STUN timeout at worst), or with an error when it closes or fails. */
    g_mutex_lock(&ctx->lock);
    while (!ctx->done)
        g_cond_wait(&ctx->cond, &ctx->lock);
    json_t *result = ctx->result;
    g_mutex_unlock(&ctx->lock);
    odeon_handle_unref(ctx->handle);
    g_free(ctx->type);
    g_mutex_clear(&ctx->lock);
    g_cond_clear(&ctx->cond);
    g_free(ctx);
    return result;
}

/* ---- plugin helpers ---- */

/* What a media call on a handle without a connection gets (plugin.h's contract). */
static int no_pc_error(odeon_handle *h)
{
    return odeon_handle_is_detached(h) ? ODEON_EGONE : ODEON_ENOTCONN;
}

int odeon_handle_media_relay_rtp(odeon_handle *h, odeon_media_packet *packet)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return no_pc_error(h);
    int rc = odeon_pc_send_rtp(pc, packet);
    odeon_pc_unref(pc);
    return rc;
}

int odeon_handle_media_relay_rtp_batch(odeon_handle *h, odeon_media_packet *packets, size_t n)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return no_pc_error(h);
    int rc = odeon_pc_send_rtp_batch(pc, packets, n);
    odeon_pc_unref(pc);
    return rc;
}

uint64_t odeon_handle_media_bandwidth_estimate(odeon_handle *h)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return 0;
    uint64_t bps = odeon_pc_bandwidth_estimate(pc);
    odeon_pc_unref(pc);
    return bps;
}

int odeon_handle_media_loop_index(odeon_handle *h)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return -1;
    int index = (int)odeon_media_loop_index(odeon_pc_loop(pc));
    odeon_pc_unref(pc);
    return index;
}

unsigned odeon_handle_media_loop_count(void)
{
    return media != NULL ? odeon_media_loops_count(media->loops) : 0;
}

int odeon_handle_media_loop_wake(unsigned index, odeon_media_wake *wake)
{
    odeon_media_loop *loop = media != NULL ? odeon_media_loops_get(media->loops, index) : NULL;
    if (loop == NULL || wake == NULL || wake->fn == NULL)
        return ODEON_EINVAL;
    return odeon_media_loop_wake(loop, wake) ? 1 : 0;
}

int odeon_handle_media_relay_rtcp(odeon_handle *h, odeon_media_packet *packet)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return no_pc_error(h);
    int rc = odeon_pc_send_rtcp(pc, packet);
    odeon_pc_unref(pc);
    return rc;
}

int odeon_handle_media_request_keyframe(odeon_handle *h, int mindex)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return no_pc_error(h);
    int rc = odeon_pc_request_keyframe(pc, mindex);
    odeon_pc_unref(pc);
    return rc;
}

int odeon_handle_media_send_remb(odeon_handle *h, uint64_t bitrate)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return no_pc_error(h);
    int rc = odeon_pc_send_remb(pc, bitrate);
    odeon_pc_unref(pc);
    return rc;
}

static odeon_sdp_direction direction_from(json_t *value)
{
    const char *d = json_string_value(value);
    if (d == NULL)
        return ODEON_SDP_DIR_NONE;
    if (strcmp(d, "sendonly") == 0)
        return ODEON_SDP_DIR_SENDONLY;
    if (strcmp(d, "recvonly") == 0)
        return ODEON_SDP_DIR_RECVONLY;
    if (strcmp(d, "inactive") == 0)
        return ODEON_SDP_DIR_INACTIVE;
    return ODEON_SDP_DIR_SENDRECV;
}

static bool bool_or(json_t *options, const char *key, bool fallback)
{
    json_t *v = json_object_get(options, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

json_t *odeon_handle_media_answer(odeon_handle *h, json_t *options)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return NULL;
    char *text = odeon_pc_remote_is_offer(pc) ? odeon_pc_remote_sdp(pc) : NULL;
    char *previous_text = odeon_pc_local_sdp(pc);
    odeon_pc_unref(pc);
    odeon_sdp *previous = previous_text ? odeon_sdp_parse(previous_text, strlen(previous_text),
                                                          NULL)
                                        : NULL;
    g_free(previous_text);
    if (text == NULL) {
        odeon_sdp_free(previous);
        return NULL;
    }
    odeon_sdp *offer = odeon_sdp_parse(text, strlen(text), NULL);
    g_free(text);
    if (offer == NULL) {
        odeon_sdp_free(previous);
        return NULL;
    }
    odeon_jsep_answer_options o = {
        .audio = bool_or(options, "audio", true),
        .video = bool_or(options, "video", true),
        .audio_codecs = json_string_value(json_object_get(options, "audio_codec")),
        .video_codecs = json_string_value(json_object_get(options, "video_codec")),
        .audio_direction = direction_from(json_object_get(options, "audio_direction")),
        .video_direction = direction_from(json_object_get(options, "video_direction")),
        .simulcast = bool_or(options, "simulcast", false),
    };
    char *error = NULL;
    odeon_sdp *answer = odeon_jsep_answer(offer, &o, &error);
    odeon_sdp_free(offer);
    if (answer != NULL && previous != NULL)
        odeon_jsep_keep_ssrcs(answer, previous); /* a re-answer keeps our streams' SSRCs */
    odeon_sdp_free(previous);
    if (answer == NULL) {
        LOG_VERBOSE("handle %" G_GUINT64_FORMAT ": no answer: %s", odeon_handle_id(h), error);
        g_free(error);
        return NULL;
    }
    char *sdp = odeon_sdp_write(answer);
    odeon_sdp_free(answer);
    json_t *jsep = json_pack("{s:s, s:s}", "type", "answer", "sdp", sdp);
    g_free(sdp);
    return jsep;
}

/* An msid stream id we write as given: a short token of letters, digits, '-' and '_'. */
static const char *stream_id_from(json_t *value)
{
    const char *id = json_string_value(value);
    if (id == NULL || id[0] == '\0' || strlen(id) > 64)
        return NULL;
    for (const char *c = id; *c; c++)
        if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_')
            return NULL;
    return id;
}

static bool offer_stream_from(json_t *s, odeon_jsep_offer_stream *out)
{
    const char *kind = json_string_value(json_object_get(s, "kind"));
    const char *codec = json_string_value(json_object_get(s, "codec"));
    json_t *pt = json_object_get(s, "pt");
    if (kind == NULL || codec == NULL || !json_is_integer(pt) || json_integer_value(pt) < 0 ||
        json_integer_value(pt) > 127)
        return false;
    bool audio = strcmp(kind, "audio") == 0;
    json_t *rtx = json_object_get(s, "rtx_pt");
    json_t *clock = json_object_get(s, "clock_rate");
    *out = (odeon_jsep_offer_stream){
        .kind = audio ? ODEON_SDP_MEDIA_AUDIO : ODEON_SDP_MEDIA_VIDEO,
        .codec = codec,
        .pt = (uint8_t)json_integer_value(pt),
        .clock_rate = json_is_integer(clock) ? (uint32_t)json_integer_value(clock)
                                             : (audio ? 48000 : 90000),
        .channels = audio ? 2 : 0,
        .fmtp = json_string_value(json_object_get(s, "fmtp")),
        .rtx_pt = json_is_integer(rtx) ? (int)json_integer_value(rtx) : -1,
        .direction = direction_from(json_object_get(s, "direction")),
        .stream_id = stream_id_from(json_object_get(s, "stream_id")),
    };
    if (out->direction == ODEON_SDP_DIR_SENDRECV && !json_object_get(s, "direction"))
        out->direction = ODEON_SDP_DIR_SENDONLY;
    return true;
}

/* Our last description, parsed (NULL before one). */
static odeon_sdp *previous_local(odeon_handle *h)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return NULL;
    char *text = odeon_pc_local_sdp(pc);
    odeon_pc_unref(pc);
    odeon_sdp *sdp = text ? odeon_sdp_parse(text, strlen(text), NULL) : NULL;
    g_free(text);
    return sdp;
}

json_t *odeon_handle_media_offer(odeon_handle *h, json_t *options)
{
    json_t *streams = json_object_get(options, "streams");
    size_t n = json_array_size(streams);
    if (n == 0 || n > ODEON_SDP_MAX_MEDIA)
        return NULL;
    g_autofree odeon_jsep_offer_stream *list = g_new0(odeon_jsep_offer_stream, n);
    for (size_t i = 0; i < n; i++)
        if (!offer_stream_from(json_array_get(streams, i), &list[i]))
            return NULL;
    odeon_sdp *offer = odeon_jsep_offer(list, n, "odeon", NULL);
    if (offer == NULL)
        return NULL;
    /* A re-offer (a subscriber's streams changed) keeps the SSRCs of the m-lines it keeps:
     * the peer's receivers, jitter buffers and statistics carry on. */
    odeon_sdp *previous = previous_local(h);
    if (previous != NULL)
        odeon_jsep_keep_ssrcs(offer, previous);
    odeon_sdp_free(previous);
    char *sdp = odeon_sdp_write(offer);
    odeon_sdp_free(offer);
    json_t *jsep = json_pack("{s:s, s:s}", "type", "offer", "sdp", sdp);
    g_free(sdp);
    return jsep;
}

json_t *odeon_handle_media_info(odeon_handle *h)
{
    odeon_pc *pc = odeon_handle_pc(h);
    if (pc == NULL)
        return json_null();
    odeon_pc_stats s;
    odeon_pc_get_stats(pc, &s);
    odeon_pc_unref(pc);
    json_t *info = json_pack(
        "{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ice_state", s.ice_state,
        "dtls_state", s.dtls_state, "selected_pair", s.selected_pair, "up", s.up, "packets_in",
        (json_int_t)s.packets_in, "packets_out", (json_int_t)s.packets_out, "bytes_in",
        (json_int_t)s.bytes_in, "bytes_out", (json_int_t)s.bytes_out, "nacks_received",
        (json_int_t)s.nacks_received, "retransmissions", (json_int_t)s.retransmissions,
        "nacks_sent", (json_int_t)s.nacks_sent);
    if (s.bwe_state[0] != '\0')
        json_object_set_new(info, "bandwidth",
                            json_pack("{s:I, s:I, s:I, s:f, s:s}", "estimate_bps",
                                      (json_int_t)s.estimate_bps, "acked_bps",
                                      (json_int_t)s.acked_bps, "remb_bps",
                                      (json_int_t)s.remb_bps, "loss", s.loss, "state",
                                      s.bwe_state));
    return info;
}
