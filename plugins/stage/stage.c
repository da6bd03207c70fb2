/*
 * stage.c - descriptor, stages registry, requests and viewers of odeon.plugin.stage.
 *
 * Requests run on the transport thread and never block: "list", "info", "create" and
 * "destroy" answer synchronously; "watch", "start", "pause", "stop", "switch" and "configure"
 * are acknowledged and answered by an event, as in Janus's Streaming plugin. Packets reach
 * viewers through the stage's ring and the per-loop groups (stage_fanout.c).
 *
 * Lock order: membership_lock, then a stage's lock, then one of its groups' locks.
 */
#include "stage.h"
#include "stage_relay.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const odeon_core_callbacks *stage_core;

#define LOG(level, ...) stage_core->log(level, "stage", __VA_ARGS__)

static GMutex registry_lock;
/* Which stage a viewer is in (stage_viewer.stage) changes under this lock, taken before any
 * stage's lock; the ingest thread never needs it (it only sees viewers in its stage's list). */
static GMutex membership_lock;
static GHashTable *stages; /* uint64 id -> stage * (reference) */
static char *admin_key;    /* create/destroy by request need it; NULL: refused */
static char **organisers;  /* identity subjects that may create, destroy and publish */

/* ---- stages ---- */

stage *stage_ref(stage *s)
{
    g_atomic_int_inc(&s->refs);
    return s;
}

void stage_unref(stage *s)
{
    if (s == NULL || !g_atomic_int_dec_and_test(&s->refs))
        return;
    stage_source_close(s);
    for (size_t i = 0; i < s->track_count; i++)
        g_free(s->tracks[i].fmtp);
    g_ptr_array_unref(s->viewers);
    g_ptr_array_unref(s->monitors);
    stage_fanout_free(s);
    g_mutex_clear(&s->lock);
    g_free(s->description);
    g_free(s->pin);
    g_free(s->secret);
    g_free(s->event);
    g_free(s);
}

static void monitor_release(gpointer handle)
{
    stage_core->handle_unref(handle);
}

stage *stage_new(uint64_t id)
{
    stage *s = g_new0(stage, 1);
    s->refs = 1;
    s->id = id;
    g_mutex_init(&s->lock);
    s->viewers = g_ptr_array_new();
    s->monitors = g_ptr_array_new_with_free_func(monitor_release);
    stage_fanout_init(s, stage_core->media_loop_count());
    return s;
}

stage *stage_lookup(uint64_t id)
{
    g_mutex_lock(&registry_lock);
    stage *s = g_hash_table_lookup(stages, &id);
    if (s != NULL)
        stage_ref(s);
    g_mutex_unlock(&registry_lock);
    return s;
}

int stage_register(stage *s, char **error)
{
    stage_fanout_configure(s);
    if (stage_source_open(s, error) != 0)
        return -1;
    g_mutex_lock(&registry_lock);
    if (g_hash_table_contains(stages, &s->id)) {
        g_mutex_unlock(&registry_lock);
        if (error)
            *error = g_strdup_printf("stage %" G_GUINT64_FORMAT " already exists", s->id);
        return -1;
    }
    uint64_t *key = g_new(uint64_t, 1);
    *key = s->id;
    g_hash_table_insert(stages, key, stage_ref(s));
    g_mutex_unlock(&registry_lock);
    stage_ingest_add(s);
    return 0;
}

static bool track_from(stage_track *t, bool video, const char *mid, int port, int pt,
                       const char *codec, const char *fmtp)
{
    if (port < 0 || port > 65535 || pt < 0 || pt > 127 || codec == NULL)
        return false;
    bool opus = g_ascii_strcasecmp(codec, "opus") == 0;
    if (video == opus)
        return false; /* audio is Opus; video VP8, VP9, H264 or AV1 */
    *t = (stage_track){.video = video, .ports = {(uint16_t)port}, .pt = (uint8_t)pt,
                       .clock_rate = video ? 90000 : 48000, .sockets = {-1, -1, -1}};
    g_strlcpy(t->mid, mid, sizeof t->mid);
    g_strlcpy(t->codec, opus ? "opus" : codec, sizeof t->codec);
    t->fmtp = fmtp && *fmtp ? g_strdup(fmtp) : NULL;
    return true;
}

/* A simulcast RTP source's other substreams (Janus's videoport2/videoport3): false when given
 * for audio, out of range, or without the first port. Absent ports are 0. */
static bool track_simulcast_ports(stage_track *t, json_int_t port2, json_int_t port3)
{
    if (port2 == 0 && port3 == 0)
        return true;
    if (!t->video || t->ports[0] == 0 || port2 <= 0 || port2 > 65535 || port3 < 0 ||
        port3 > 65535)
        return false;
    t->ports[1] = (uint16_t)port2;
    t->ports[2] = (uint16_t)port3;
    t->simulcast = true;
    return true;
}

/* ---- viewers ---- */

#define KEYFRAME_REQUEST_INTERVAL_US (500 * 1000)

/* Asks the host for a keyframe, at most once per interval however many viewers need one.
 * Call with the stage's lock (the core call does not come back into the plugin). */
void stage_keyframe_request_locked(stage *s)
{
    gint64 now = g_get_monotonic_time();
    if (s->host == NULL && s->uplink != NULL) {
        stage_relay_keyframe(s); /* a relayed stage: the PLI goes upstream */
        return;
    }
    if (s->host == NULL || now - s->last_keyframe_request_us < KEYFRAME_REQUEST_INTERVAL_US)
        return;
    s->last_keyframe_request_us = now;
    stage_core->request_keyframe(s->host, -1);
}

stage_viewer *stage_viewer_ref(stage_viewer *v)
{
    g_atomic_int_inc(&v->refs);
    return v;
}

void stage_viewer_unref(stage_viewer *v)
{
    if (v == NULL || !g_atomic_int_dec_and_test(&v->refs))
        return;
    stage_core->handle_unref(v->handle);
    stage_sent_free(v);
    g_mutex_clear(&v->host_lock);
    g_free(v);
}

static stage_viewer *viewer_of(odeon_plugin_handle *handle)
{
    return stage_core->get_handle_data(handle);
}

/* Analytics: a viewer's media went up on a stage ("joined") or it left ("left"), with the
 * wall-clock time and the stage's viewer count then. */
static void viewer_bus_event(stage_viewer *v, stage *s, const char *what, guint viewers)
{
    if (!stage_core->events_enabled())
        return;
    gint64 now = g_get_real_time();
    json_t *ev = json_pack("{s:s, s:I, s:i, s:I}", "event", what, "stage", (json_int_t)s->id,
                           "viewers", (int)viewers, "timestamp", (json_int_t)now);
    /* Who watched which event's stage, for the analytics plugin. */
    const odeon_identity *id = stage_core->identity(v->handle);
    if (s->event != NULL)
        json_object_set_new(ev, "event_id", json_string(s->event));
    if (id != NULL && id->subject != NULL)
        json_object_set_new(ev, "subject", json_string(id->subject));
    if (strcmp(what, "left") == 0)
        json_object_set_new(ev, "watched_ms", json_integer((now - v->joined_us) / 1000));
    stage_core->notify_event(&odeon_plugin_descriptor, v->handle, ev);
    json_decref(ev);
}

/* Detaches the viewer from its stage (if any); returns the stage reference it held. Call with
 * membership_lock. */
static stage *viewer_leave_locked(stage_viewer *v)
{
    stage *s = v->stage;
    if (s == NULL)
        return NULL;
    g_mutex_lock(&s->lock);
    stage_group_remove_locked(v);
    if (g_ptr_array_remove(s->viewers, v)) {
        s->counts_dirty = true;
        stage_viewer_unref(v);
    }
    v->stage = NULL;
    v->started = false;
    guint count = s->viewers->len;
    g_mutex_unlock(&s->lock);
    if (v->joined_us != 0) {
        viewer_bus_event(v, s, "left", count);
        v->joined_us = 0;
    }
    return s;
}

static stage *viewer_leave(stage_viewer *v)
{
    g_mutex_lock(&membership_lock);
    stage *s = viewer_leave_locked(v);
    g_mutex_unlock(&membership_lock);
    return s;
}

/* Call with membership_lock. */
static void viewer_join_locked(stage_viewer *v, stage *s)
{
    g_mutex_lock(&s->lock);
    v->stage = stage_ref(s);
    g_ptr_array_add(s->viewers, stage_viewer_ref(v));
    s->counts_dirty = true;
    v->need_keyframe = true;
    if (s->layered && !stage_layer_viewer_has_sent(&v->layer)) {
        /* First stage: a fresh rewriter. After a switch the old one goes on (its numbering
         * continues), restarted at the new stage's first keyframe. */
        stage_layer_viewer_init(&v->layer, s->layer_codec, 0);
        stage_layer_viewer_prefer(&v->layer, v->prefer_quality, v->prefer_temporal);
    }
    if (v->media_up)
        stage_group_add_locked(s, v); /* a switch: same connection, same loop */
    g_mutex_unlock(&s->lock);
}

/* ---- JSON helpers ---- */

json_t *stage_error_event(int code, const char *reason)
{
    return json_pack("{s:s, s:i, s:s}", "streaming", "event", "error_code", code, "error", reason);
}

static json_t *status_event(const char *status)
{
    return json_pack("{s:s, s:{s:s}}", "streaming", "event", "result", "status", status);
}

static json_t *stage_media_json(stage *s)
{
    json_t *media = json_array();
    gint64 now = g_get_monotonic_time();
    for (size_t i = 0; i < s->track_count; i++) {
        stage_track *t = &s->tracks[i];
        gint64 last = t->video ? s->last_video_us : s->last_audio_us;
        json_t *m = json_pack("{s:i, s:s, s:s, s:s, s:s}", "mindex", (int)i, "mid", t->mid,
                              "type", t->video ? "video" : "audio", "label", t->mid, "codec",
                              t->codec);
        if (t->simulcast)
            json_object_set_new(m, "simulcast", json_true());
        if (last > 0)
            json_object_set_new(m, "age_ms", json_integer((now - last) / 1000));
        json_array_append_new(media, m);
    }
    return media;
}

static json_t *stage_json(stage *s, bool details)
{
    g_mutex_lock(&s->lock);
    /* live: a host publishes or the RTP source sent something in the last 2 s. */
    gint64 last = MAX(s->last_video_us, s->last_audio_us);
    bool live = s->host != NULL || (last > 0 && g_get_monotonic_time() - last < 2000000);
    json_t *j = json_pack("{s:I, s:s, s:s, s:b, s:s, s:o}", "id", (json_int_t)s->id, "type",
                          "rtp", "description", s->description ? s->description : "",
                          "enabled", 1, "state", live ? "live" : "idle", "media",
                          stage_media_json(s));
    if (details) {
        json_object_set_new(j, "viewers", json_integer(s->viewers->len));
        json_object_set_new(j, "pin_required", json_boolean(s->pin != NULL));
        json_object_set_new(j, "packets", json_integer((json_int_t)s->packets_in));
    }
    g_mutex_unlock(&s->lock);
    return j;
}

static bool get_id(json_t *body, uint64_t *id)
{
    json_t *v = json_object_get(body, "id");
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *id = (uint64_t)json_integer_value(v);
        return true;
    }
    if (json_is_string(v)) {
        /* Janus accepts string ids when configured so; numbers written as text work too. */
        char *end = NULL;
        guint64 n = g_ascii_strtoull(json_string_value(v), &end, 10);
        if (end != NULL && *end == '\0' && n > 0) {
            *id = n;
            return true;
        }
    }
    return false;
}

/* ---- requests ---- */

typedef stage_request request;

static odeon_plugin_result sync_reply(json_t *content)
{
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = content};
}

odeon_plugin_result stage_async_reply(stage_request *r, json_t *event, json_t *jsep)
{
    stage_core->push_event(r->handle, r->transaction, event, jsep);
    json_decref(event);
    json_decref(jsep);
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT};
}

/* Every registered stage, as references (the array drops them): walked without the registry's
 * lock. */
static GPtrArray *stages_snapshot(void)
{
    GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)stage_unref);
    g_mutex_lock(&registry_lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, stages);
    while (g_hash_table_iter_next(&it, NULL, &value))
        g_ptr_array_add(all, stage_ref(value));
    g_mutex_unlock(&registry_lock);
    return all;
}

guint stage_viewers_total(void)
{
    GPtrArray *all = stages_snapshot();
    guint total = 0;
    for (guint i = 0; i < all->len; i++) {
        stage *s = g_ptr_array_index(all, i);
        g_mutex_lock(&s->lock);
        total += s->viewers->len;
        g_mutex_unlock(&s->lock);
    }
    g_ptr_array_unref(all);
    return total;
}

guint64 stage_out_bps(gint64 now)
{
    GPtrArray *all = stages_snapshot();
    guint64 total = 0;
    for (guint i = 0; i < all->len; i++) {
        stage *s = g_ptr_array_index(all, i);
        g_mutex_lock(&s->lock);
        if (s->report_us != 0 && now > s->report_us) {
            guint64 in = (s->bytes_in - s->report_bytes) * 8 * G_USEC_PER_SEC /
                         (guint64)(now - s->report_us);
            total += in * (s->viewers->len + (guint)g_atomic_int_get(&s->downlinks));
        }
        s->report_bytes = s->bytes_in;
        s->report_us = now;
        g_mutex_unlock(&s->lock);
    }
    g_ptr_array_unref(all);
    return total;
}

static odeon_plugin_result req_list(request *r)
{
    (void)r;
    json_t *list = json_array();
    GPtrArray *all = stages_snapshot();
    for (guint i = 0; i < all->len; i++)
        json_array_append_new(list, stage_json(g_ptr_array_index(all, i), false));
    g_ptr_array_unref(all);
    return sync_reply(json_pack("{s:s, s:o}", "streaming", "list", "list", list));
}

static odeon_plugin_result req_info(request *r)
{
    uint64_t id;
    if (!get_id(r->body, &id))
        return sync_reply(stage_error_event(STAGE_ERROR_MISSING_ELEMENT, "Missing element (id)"));
    stage *s = stage_lookup(id);
    if (s == NULL)
        return sync_reply(
            stage_error_event(STAGE_ERROR_NO_SUCH_MOUNTPOINT, "No such mountpoint/stream"));
    json_t *info = stage_json(s, true);
    stage_unref(s);
    return sync_reply(json_pack("{s:s, s:o}", "streaming", "info", "info", info));
}

/* An organiser's right: the admin key in the body, or a session whose identity (from the auth
 * provider, e.g. a static token) is listed in [general] organisers. */
static bool organiser_ok(odeon_plugin_handle *handle, json_t *body)
{
    const char *key = json_string_value(json_object_get(body, "admin_key"));
    if (admin_key != NULL && key != NULL && strcmp(key, admin_key) == 0)
        return true;
    const odeon_identity *id = stage_core->identity(handle);
    for (char **o = organisers; id != NULL && id->subject != NULL && o && *o; o++)
        if (strcmp(*o, id->subject) == 0)
            return true;
    return false;
}

/* The Janus 1.x "media" array, or the legacy audio/video fields. */
static bool tracks_from_body(stage *s, json_t *body)
{
    json_t *media = json_object_get(body, "media");
    if (json_is_array(media)) {
        size_t i;
        json_t *m;
        json_array_foreach(media, i, m) {
            if (s->track_count == STAGE_MAX_TRACKS)
                return false;
            const char *type = json_string_value(json_object_get(m, "type"));
            const char *mid = json_string_value(json_object_get(m, "mid"));
            bool video = type && strcmp(type, "video") == 0;
            if (type == NULL || (!video && strcmp(type, "audio") != 0))
                return false;
            if (!track_from(&s->tracks[s->track_count], video, mid ? mid : (video ? "v" : "a"),
                            (int)json_integer_value(json_object_get(m, "port")),
                            (int)json_integer_value(json_object_get(m, "pt")),
                            json_string_value(json_object_get(m, "codec")),
                            json_string_value(json_object_get(m, "fmtp"))))
                return false;
            bool sim = json_is_true(json_object_get(m, "simulcast"));
            if (!track_simulcast_ports(&s->tracks[s->track_count],
                                       sim ? json_integer_value(json_object_get(m, "port2")) : 0,
                                       sim ? json_integer_value(json_object_get(m, "port3")) : 0))
                return false;
            s->track_count++;
        }
        return s->track_count > 0;
    }
    if (json_is_true(json_object_get(body, "audio"))) {
        if (!track_from(&s->tracks[s->track_count++], false, "a",
                        (int)json_integer_value(json_object_get(body, "audioport")),
                        (int)json_integer_value(json_object_get(body, "audiopt")),
                        json_string_value(json_object_get(body, "audiocodec")),
                        json_string_value(json_object_get(body, "audiofmtp"))))
            return false;
    }
    if (json_is_true(json_object_get(body, "video"))) {
        if (!track_from(&s->tracks[s->track_count++], true, "v",
                        (int)json_integer_value(json_object_get(body, "videoport")),
                        (int)json_integer_value(json_object_get(body, "videopt")),
                        json_string_value(json_object_get(body, "videocodec")),
                        json_string_value(json_object_get(body, "videofmtp"))))
            return false;
        bool sim = json_is_true(json_object_get(body, "videosimulcast"));
        if (!track_simulcast_ports(&s->tracks[s->track_count - 1],
                                   sim ? json_integer_value(json_object_get(body, "videoport2")) : 0,
                                   sim ? json_integer_value(json_object_get(body, "videoport3")) : 0))
            return false;
    }
    return s->track_count > 0;
}

static odeon_plugin_result req_create(request *r)
{
    const char *event = json_string_value(json_object_get(r->body, "event"));
    if (json_object_get(r->body, "event") != NULL && !stage_event_id_valid(event))
        return sync_reply(stage_error_event(STAGE_ERROR_INVALID_ELEMENT,
                                            "Invalid element (event: an event id as a string)"));
    if (!organiser_ok(r->handle, r->body) &&
        !stage_event_role_at_least(r->handle, event, "organiser"))
        return sync_reply(stage_error_event(STAGE_ERROR_UNAUTHORIZED,
                                            "Unauthorized (an organiser's request: admin_key, "
                                            "or an organiser of the event)"));
    const char *type = json_string_value(json_object_get(r->body, "type"));
    if (type == NULL || strcmp(type, "rtp") != 0)
        return sync_reply(stage_error_event(STAGE_ERROR_INVALID_ELEMENT,
                                            "Invalid element (type: only rtp sources so far)"));
    uint64_t id = 0;
    if (!get_id(r->body, &id))
        id = (uint64_t)g_random_int_range(1, G_MAXINT32);
    stage *s = stage_new(id);
    s->description = g_strdup(json_string_value(json_object_get(r->body, "description")));
    s->pin = g_strdup(json_string_value(json_object_get(r->body, "pin")));
    s->secret = g_strdup(json_string_value(json_object_get(r->body, "secret")));
    s->event = g_strdup(event);
    if (!tracks_from_body(s, r->body)) {
        stage_unref(s);
        return sync_reply(stage_error_event(STAGE_ERROR_INVALID_ELEMENT,
                                            "Invalid media (audio opus, video VP8/VP9/H264/AV1, "
                                            "ports and payload types)"));
    }
    char *error = NULL;
    if (stage_register(s, &error) != 0) {
        json_t *ev = stage_error_event(STAGE_ERROR_CANT_CREATE, error ? error : "Can't create");
        g_free(error);
        stage_unref(s);
        return sync_reply(ev);
    }
    LOG(ODEON_LOG_INFO, "stage %" G_GUINT64_FORMAT " created by request", id);
    json_t *reply = json_pack("{s:s, s:s, s:b, s:{s:I, s:s, s:s}}", "streaming", "created",
                              "created", s->description ? s->description : "", "permanent", 0,
                              "stream", "id", (json_int_t)id, "type", "rtp", "description",
                              s->description ? s->description : "");
    stage_unref(s);
    return sync_reply(reply);
}

static void stage_end(stage *s)
{
    stage_ingest_remove(s);
    g_mutex_lock(&s->lock);
    odeon_plugin_handle *host = s->host ? stage_core->handle_ref(s->host) : NULL;
    GPtrArray *viewers = g_ptr_array_new();
    for (guint i = 0; i < s->viewers->len; i++)
        g_ptr_array_add(viewers, stage_viewer_ref(g_ptr_array_index(s->viewers, i)));
    g_mutex_unlock(&s->lock);
    for (guint i = 0; i < viewers->len; i++) {
        stage_viewer *v = g_ptr_array_index(viewers, i);
        json_t *ev = json_pack("{s:s, s:{s:s, s:s}}", "streaming", "event", "result", "status",
                               "stopped", "reason", "ended");
        stage_core->push_event(v->handle, NULL, ev, NULL);
        json_decref(ev);
        stage_core->close_pc(v->handle);
        stage_unref(viewer_leave(v));
        stage_viewer_unref(v);
    }
    g_ptr_array_unref(viewers);
    if (host != NULL) {
        /* The host's connection goes too; its hangup ends its publishing (host_leave). */
        json_t *ev = json_pack("{s:s, s:{s:s, s:s}}", "streaming", "event", "result", "status",
                               "stopped", "reason", "ended");
        stage_core->push_event(host, NULL, ev, NULL);
        json_decref(ev);
        stage_core->close_pc(host);
        stage_core->handle_unref(host);
    }
}

void stage_unregister(stage *s)
{
    g_mutex_lock(&registry_lock);
    stage *registered = g_hash_table_lookup(stages, &s->id);
    if (registered == s)
        g_hash_table_remove(stages, &s->id);
    g_mutex_unlock(&registry_lock);
    if (registered == s)
        stage_end(s);
}

static odeon_plugin_result req_destroy(request *r)
{
    uint64_t id;
    if (!get_id(r->body, &id))
        return sync_reply(stage_error_event(STAGE_ERROR_MISSING_ELEMENT, "Missing element (id)"));
    stage *s = stage_lookup(id);
    if (s == NULL)
        return sync_reply(
            stage_error_event(STAGE_ERROR_NO_SUCH_MOUNTPOINT, "No such mountpoint/stream"));
    const char *secret = json_string_value(json_object_get(r->body, "secret"));
    bool allowed = organiser_ok(r->handle, r->body) ||
                   (s->secret != NULL && secret != NULL && strcmp(s->secret, secret) == 0) ||
                   stage_event_role_at_least(r->handle, s->event, "organiser");
    if (!allowed) {
        stage_unref(s);
        return sync_reply(
            stage_error_event(STAGE_ERROR_UNAUTHORIZED, "Unauthorized (wrong secret)"));
    }
    g_mutex_lock(&registry_lock);
    g_hash_table_remove(stages, &id);
    g_mutex_unlock(&registry_lock);
    stage_end(s);
    stage_unref(s);
    return sync_reply(json_pack("{s:s, s:I}", "streaming", "destroyed", "destroyed",
                                (json_int_t)id));
}

static json_t *offer_for(request *r, stage *s)
{
    json_t *streams = json_array();
    for (size_t i = 0; i < s->track_count; i++) {
        stage_track *t = &s->tracks[i];
        json_t *st = json_pack("{s:s, s:s, s:i, s:i, s:s}", "kind", t->video ? "video" : "audio",
                               "codec", t->codec, "pt", t->pt, "clock_rate", (int)t->clock_rate,
                               "direction", "sendonly");
        if (t->fmtp)
            json_object_set_new(st, "fmtp", json_string(t->fmtp));
        if (t->video)
            json_object_set_new(st, "rtx_pt", json_integer(t->pt == 127 ? 126 : t->pt + 1));
        json_array_append_new(streams, st);
    }
    json_t *opts = json_pack("{s:o}", "streams", streams);
    json_t *jsep = stage_core->jsep_offer(r->handle, opts);
    json_decref(opts);
    return jsep;
}

/* The stage the body's "id" names (new reference), or NULL with the error event already
 * pushed and the reply in *reply. */
static stage *stage_from_body(request *r, odeon_plugin_result *reply)
{
    uint64_t id;
    if (!get_id(r->body, &id)) {
        *reply = stage_async_reply(
            r, stage_error_event(STAGE_ERROR_MISSING_ELEMENT, "Missing element (id)"), NULL);
        return NULL;
    }
    stage *s = stage_lookup(id);
    if (s == NULL)
        *reply = stage_async_reply(
            r, stage_error_event(STAGE_ERROR_NO_SUCH_MOUNTPOINT, "No such mountpoint/stream"),
            NULL);
    return s;
}

/* The watch of stage s (consumed) once it is known here: pin, offer, join. */
odeon_plugin_result stage_watch_stage(stage_request *r, stage *s)
{
    stage_viewer *v = viewer_of(r->handle);
    const char *pin = json_string_value(json_object_get(r->body, "pin"));
    if (s->event != NULL && !stage_event_role_at_least(r->handle, s->event, "participant") &&
        !organiser_ok(r->handle, r->body)) {
        stage_unref(s);
        return stage_async_reply(
            r, stage_error_event(STAGE_ERROR_UNAUTHORIZED,
                                 "Unauthorized (sign in with a ticket for this event)"),
            NULL);
    }
    if (s->pin != NULL && (pin == NULL || strcmp(pin, s->pin) != 0)) {
        stage_unref(s);
        return stage_async_reply(
            r, stage_error_event(STAGE_ERROR_UNAUTHORIZED, "Unauthorized (wrong pin)"), NULL);
    }
    json_t *jsep = offer_for(r, s);
    if (jsep == NULL) {
        stage_unref(s);
        return stage_async_reply(
            r, stage_error_event(STAGE_ERROR_UNKNOWN_ERROR, "Cannot make an offer"), NULL);
    }
    g_mutex_lock(&membership_lock);
    bool watching = v == NULL || v->stage != NULL;
    if (!watching)
        viewer_join_locked(v, s);
    g_mutex_unlock(&membership_lock);
    stage_unref(s);
    if (watching) {
        json_decref(jsep);
        return stage_async_reply(
            r, stage_error_event(STAGE_ERROR_INVALID_STATE, "Already watching"), NULL);
    }
    json_t *ev = status_event("preparing");
    const odeon_node_info *node = stage_node_info();
    if (node != NULL && strcmp(node->role, "standalone") != 0)
        json_object_set_new(json_object_get(ev, "result"), "node",
                            json_pack("{s:s, s:s}", "id", node->id, "url", node->public_url));
    return stage_async_reply(r, ev, jsep);
}

static odeon_plugin_result req_watch(request *r)
{
    uint64_t id;
    if (!get_id(r->body, &id))
        return stage_async_reply(
            r, stage_error_event(STAGE_ERROR_MISSING_ELEMENT, "Missing element (id)"), NULL);
    return stage_watch_placed(r, id);
}

static odeon_plugin_result req_placement(request *r)
{
    uint64_t id;
    if (!get_id(r->body, &id))
        return stage_async_reply(
            r, stage_error_event(STAGE_ERROR_MISSING_ELEMENT, "Missing element (id)"), NULL);
    return stage_placement(r, id);
}

/* Call with membership_lock. */
static void set_started_locked(stage_viewer *v, bool started)
{
    stage *s = v->stage;
    g_mutex_lock(&s->lock);
    stage_viewer_lock(v);
    v->started = started;
    if (started)
        v->need_keyframe = true;
    stage_viewer_unlock(v);
    g_mutex_unlock(&s->lock);
}

/* false when the viewer watches nothing. */
static bool set_started(stage_viewer *v, bool started)
{
    g_mutex_lock(&membership_lock);
    bool watching = v->stage != NULL;
    if (watching)
        set_started_locked(v, started);
    g_mutex_unlock(&membership_lock);
    return watching;
}

static odeon_plugin_result req_start(request *r)
{
    if (!set_started(viewer_of(r->handle), true))
        return stage_async_reply(
            r, stage_error_event(STAGE_ERROR_INVALID_STATE, "Not watching anything"), NULL);
    return stage_async_reply(r, status_event("starting"), NULL);
}

static odeon_plugin_result req_pause(request *r)
{
    if (!set_started(viewer_of(r->handle), false))
        return stage_async_reply(
            r, stage_error_event(STAGE_ERROR_INVALID_STATE, "Not watching anything"), NULL);
    return stage_async_reply(r, status_event("pausing"), NULL);
}

static odeon_plugin_result req_stop(request *r)
{
    stage_viewer *v = viewer_of(r->handle);
    stage_unref(viewer_leave(v));
    odeon_plugin_result res = stage_async_reply(r, status_event("stopping"), NULL);
    stage_core->close_pc(r->handle);
    return res;
}

static bool same_layout(stage *a, stage *b)
{
    if (a->track_count != b->track_count)
        return false;
    for (size_t i = 0; i < a->track_count; i++)
        if (a->tracks[i].video != b->tracks[i].video || a->tracks[i].pt != b->tracks[i].pt ||
            g_ascii_strcasecmp(a->tracks[i].codec, b->tracks[i].codec) != 0)
            return false;
    return true;
}

static odeon_plugin_result req_switch(request *r)
{
    stage_viewer *v = viewer_of(r->handle);
    odeon_plugin_result reply;
    stage *to = stage_from_body(r, &reply);
    if (to == NULL)
        return reply;
    uint64_t id = to->id;
    g_mutex_lock(&membership_lock);
    int error = v->stage == NULL ? STAGE_ERROR_INVALID_STATE
                                 : (!same_layout(v->stage, to) ? STAGE_ERROR_CANT_SWITCH : 0);
    stage *from = NULL;
    if (error == 0) {
        bool started = v->started;
        from = viewer_leave_locked(v);
        for (size_t i = 0; i < STAGE_MAX_TRACKS; i++)
            v->rebase[i] = v->sent_any[i];
        viewer_join_locked(v, to);
        set_started_locked(v, started);
    }
    g_mutex_unlock(&membership_lock);
    stage_unref(from);
    stage_unref(to);
    if (error == STAGE_ERROR_INVALID_STATE)
        return stage_async_reply(r, stage_error_event(error, "Not watching anything"), NULL);
    if (error != 0)
        return stage_async_reply(
            r, stage_error_event(error, "Can't switch: the streams differ in media"), NULL);
    return stage_async_reply(
        r,
        json_pack("{s:s, s:s, s:I}", "streaming", "event", "switched", "ok", "id", (json_int_t)id),
        NULL);
}

/* A layer preference from "configure": Streaming's substream/temporal (simulcast), or
 * spatial_layer/temporal_layer (VP9 SVC). -2 when absent, -3 when invalid. */
static int layer_field(json_t *body, const char *name, const char *alias)
{
    json_t *j = json_object_get(body, name);
    if (j == NULL)
        j = json_object_get(body, alias);
    if (j == NULL)
        return -2;
    if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > 2)
        return -3;
    return (int)json_integer_value(j);
}

static odeon_plugin_result req_configure(request *r)
{
    stage_viewer *v = viewer_of(r->handle);
    json_t *audio = json_object_get(r->body, "audio");
    json_t *video = json_object_get(r->body, "video");
    int quality = layer_field(r->body, "substream", "spatial_layer");
    int temporal = layer_field(r->body, "temporal", "temporal_layer");
    if ((audio && !json_is_boolean(audio)) || (video && !json_is_boolean(video)))
        return stage_async_reply(
            r,
            stage_error_event(STAGE_ERROR_INVALID_ELEMENT,
                              "Invalid element (audio/video should be booleans)"),
            NULL);
    if (quality == -3 || temporal == -3)
        return stage_async_reply(
            r,
            stage_error_event(STAGE_ERROR_INVALID_ELEMENT,
                              "Invalid element (substream/temporal should be 0-2)"),
            NULL);
    g_mutex_lock(&membership_lock);
    stage *s = v->stage;
    if (s != NULL) {
        g_mutex_lock(&s->lock);
        stage_viewer_lock(v);
    }
    if (audio)
        v->audio = json_is_true(audio);
    if (video) {
        if (json_is_true(video) && !v->video)
            v->need_keyframe = true;
        v->video = json_is_true(video);
    }
    if (quality != -2 || temporal != -2) {
        if (quality != -2)
            v->prefer_quality = quality;
        if (temporal != -2)
            v->prefer_temporal = temporal;
        stage_layer_viewer_prefer(&v->layer, v->prefer_quality, v->prefer_temporal);
        v->last_retarget_us = 0; /* re-chosen on the next packet */
    }
    if (s != NULL) {
        stage_viewer_unlock(v);
        g_mutex_unlock(&s->lock);
    }
    g_mutex_unlock(&membership_lock);
    return stage_async_reply(r, json_pack("{s:s, s:s}", "streaming", "event", "result", "ok"),
                             NULL);
}

/* ---- the WebRTC host ---- */

static int track_of_kind(stage *s, bool video)
{
    for (size_t i = 0; i < s->track_count; i++)
        if (s->tracks[i].video == video)
            return (int)i;
    return -1;
}

static void notify_viewers(stage *s, const char *status)
{
    g_mutex_lock(&s->lock);
    GPtrArray *list = g_ptr_array_new();
    for (guint i = 0; i < s->viewers->len; i++)
        g_ptr_array_add(list, stage_viewer_ref(g_ptr_array_index(s->viewers, i)));
    g_mutex_unlock(&s->lock);
    for (guint i = 0; i < list->len; i++) {
        stage_viewer *v = g_ptr_array_index(list, i);
        json_t *ev = status_event(status);
        stage_core->push_event(v->handle, NULL, ev, NULL);
        json_decref(ev);
        stage_viewer_unref(v);
    }
    g_ptr_array_unref(list);
}

/* Ends the host's publishing (unpublish, hangup, detach): viewers hear "ended". */
static void host_leave(stage_viewer *v)
{
    g_mutex_lock(&v->host_lock);
    stage *s = v->is_host ? v->stage : NULL;
    v->is_host = false;
    v->stage = NULL;
    g_mutex_unlock(&v->host_lock);
    if (s == NULL)
        return;
    g_mutex_lock(&s->lock);
    odeon_plugin_handle *host = s->host;
    s->host = NULL;
    /* The next host's stream starts afresh: no joiner gets this one's GOP. */
    for (int k = 0; k < STAGE_LAYERS_MAX; k++)
        __atomic_store_n(&s->ring.video_start[k], 0, __ATOMIC_RELEASE);
    g_mutex_unlock(&s->lock);
    if (host != NULL)
        stage_core->handle_unref(host);
    LOG(ODEON_LOG_INFO, "stage %" G_GUINT64_FORMAT ": the host stopped", s->id);
    notify_viewers(s, "ended");
    stage_unref(s);
}

static bool may_publish(stage *s, request *r)
{
    const char *secret = json_string_value(json_object_get(r->body, "secret"));
    if (s->secret != NULL && secret != NULL && strcmp(secret, s->secret) == 0)
        return true;
    return organiser_ok(r->handle, r->body) ||
           stage_event_role_at_least(r->handle, s->event, "host");
}

int stage_host_start(odeon_plugin_handle *handle, stage *s, json_t **answer,
                     const char **reason)
{
    stage_viewer *v = viewer_of(handle);
    *answer = NULL;
    for (size_t i = 0; i < s->track_count; i++)
        if (s->tracks[i].ports[0] != 0) {
            *reason = "This stage is fed by an RTP source";
            return STAGE_ERROR_INVALID_STATE;
        }
    int video = track_of_kind(s, true);
    /* A host may send simulcast (rid or SSRC style): each viewer gets the layer it can take. */
    json_t *opts = json_pack("{s:b, s:b, s:s, s:s, s:s, s:s, s:b}", "audio",
                             track_of_kind(s, false) >= 0, "video", video >= 0, "audio_codec",
                             "opus", "video_codec", video >= 0 ? s->tracks[video].codec : "vp8",
                             "audio_direction", "recvonly", "video_direction", "recvonly",
                             "simulcast", 1);
    *answer = stage_core->jsep_answer(handle, opts);
    json_decref(opts);
    if (*answer == NULL) {
        *reason = "The offer has no codec this stage carries";
        return STAGE_ERROR_INVALID_ELEMENT;
    }
    int error = 0;
    g_mutex_lock(&membership_lock);
    g_mutex_lock(&s->lock);
    bool live = s->host != NULL;
    if (!live && v->stage == NULL) {
        s->host = stage_core->handle_ref(handle);
        g_mutex_lock(&v->host_lock);
        v->stage = stage_ref(s);
        v->is_host = true;
        g_mutex_unlock(&v->host_lock);
    } else {
        error = STAGE_ERROR_INVALID_STATE;
        *reason = live ? "The stage already has a host" : "This handle already watches";
    }
    g_mutex_unlock(&s->lock);
    g_mutex_unlock(&membership_lock);
    if (error != 0)
        g_clear_pointer(answer, json_decref);
    else
        LOG(ODEON_LOG_INFO, "stage %" G_GUINT64_FORMAT ": a host publishes", s->id);
    return error;
}

void stage_host_stop(odeon_plugin_handle *handle)
{
    stage_viewer *v = viewer_of(handle);
    if (v != NULL && v->is_host)
        host_leave(v);
}

/* Reads our answer's m-lines: each stage track goes to the first accepted m-line of its kind,
 * with that m-line's first (chosen) payload type. */
static void viewer_map_from_answer(stage_viewer *v, stage *s, const char *sdp)
{
    int mline = -1;
    bool used[STAGE_MAX_TRACKS] = {false};
    for (size_t i = 0; i < STAGE_MAX_TRACKS; i++)
        v->mindex[i] = -1;
    gchar **lines = g_strsplit(sdp, "\n", -1);
    for (gchar **l = lines; *l; l++) {
        if (!g_str_has_prefix(*l, "m="))
            continue;
        mline++;
        bool video = g_str_has_prefix(*l, "m=video ");
        gchar **f = g_strsplit(*l, " ", -1);
        bool accepted = g_strv_length(f) > 3 && strcmp(f[1], "0") != 0;
        int track = track_of_kind(s, video);
        if (accepted && track >= 0 && !used[track]) {
            used[track] = true;
            v->mindex[track] = mline;
            v->pt[track] = atoi(f[3]);
        }
        g_strfreev(f);
    }
    g_strfreev(lines);
}

int stage_viewer_start_answering(odeon_plugin_handle *handle, stage *s, json_t **answer,
                                 const char **reason)
{
    stage_viewer *v = viewer_of(handle);
    int video = track_of_kind(s, true);
    json_t *opts = json_pack("{s:b, s:b, s:s, s:s, s:s, s:s}", "audio",
                             track_of_kind(s, false) >= 0, "video", video >= 0, "audio_codec",
                             "opus", "video_codec", video >= 0 ? s->tracks[video].codec : "vp8",
                             "audio_direction", "sendonly", "video_direction", "sendonly");
    *answer = stage_core->jsep_answer(handle, opts);
    json_decref(opts);
    if (*answer == NULL) {
        *reason = "The offer has no codec this stage carries";
        return STAGE_ERROR_INVALID_ELEMENT;
    }
    g_mutex_lock(&membership_lock);
    int error = 0;
    if (v->stage == NULL) {
        viewer_map_from_answer(v, s, json_string_value(json_object_get(*answer, "sdp")));
        viewer_join_locked(v, s);
        set_started_locked(v, true);
    } else {
        error = STAGE_ERROR_INVALID_STATE;
        *reason = "This handle already watches";
    }
    g_mutex_unlock(&membership_lock);
    if (error != 0)
        g_clear_pointer(answer, json_decref);
    return error;
}

void stage_viewer_stop(odeon_plugin_handle *handle)
{
    stage_viewer *v = viewer_of(handle);
    if (v != NULL)
        stage_unref(viewer_leave(v));
}

static odeon_plugin_result req_publish(request *r)
{
    const char *type = json_string_value(json_object_get(r->jsep, "type"));
    if (type == NULL || strcmp(type, "offer") != 0)
        return stage_async_reply(r,
                                 stage_error_event(STAGE_ERROR_MISSING_ELEMENT,
                                                   "Missing element (a jsep offer to publish)"),
                                 NULL);
    odeon_plugin_result reply;
    stage *s = stage_from_body(r, &reply);
    if (s == NULL)
        return reply;
    json_t *answer = NULL;
    const char *reason = "Unauthorized (publishing needs the stage's secret or an organiser)";
    int error = may_publish(s, r) ? stage_host_start(r->handle, s, &answer, &reason)
                                  : STAGE_ERROR_UNAUTHORIZED;
    stage_unref(s);
    if (error != 0)
        return stage_async_reply(r, stage_error_event(error, reason), NULL);
    return stage_async_reply(r, status_event("publishing"), answer);
}

static odeon_plugin_result req_unpublish(request *r)
{
    stage_viewer *v = viewer_of(r->handle);
    if (!v->is_host)
        return stage_async_reply(r, stage_error_event(STAGE_ERROR_INVALID_STATE, "Not publishing"),
                                 NULL);
    host_leave(v);
    odeon_plugin_result res = stage_async_reply(r, status_event("unpublished"), NULL);
    stage_core->close_pc(r->handle);
    return res;
}

/* An organiser (or whoever has the stage's secret) gets the stage's viewer count now and an
 * event whenever it changes (at most one a second), until the handle goes or monitors another
 * stage. */
static odeon_plugin_result req_monitor(request *r)
{
    stage_viewer *v = viewer_of(r->handle);
    odeon_plugin_result reply;
    stage *s = stage_from_body(r, &reply);
    if (s == NULL)
        return reply;
    if (!may_publish(s, r)) {
        stage_unref(s);
        return stage_async_reply(
            r,
            stage_error_event(STAGE_ERROR_UNAUTHORIZED,
                              "Unauthorized (monitoring needs the stage's secret or "
                              "an organiser)"),
            NULL);
    }
    g_mutex_lock(&membership_lock);
    stage *old = v->monitoring;
    v->monitoring = stage_ref(s);
    g_mutex_unlock(&membership_lock);
    if (old != NULL) {
        g_mutex_lock(&old->lock);
        g_ptr_array_remove(old->monitors, r->handle);
        g_mutex_unlock(&old->lock);
        stage_unref(old);
    }
    g_mutex_lock(&s->lock);
    g_ptr_array_add(s->monitors, stage_core->handle_ref(r->handle));
    guint viewers = s->viewers->len;
    g_mutex_unlock(&s->lock);
    json_t *ev = json_pack("{s:s, s:{s:s, s:I, s:i}}", "streaming", "event", "result", "status",
                           "monitoring", "id", (json_int_t)s->id, "viewers", (int)viewers);
    stage_unref(s);
    return stage_async_reply(r, ev, NULL);
}

static void monitor_stop(stage_viewer *v)
{
    g_mutex_lock(&membership_lock);
    stage *s = v->monitoring;
    v->monitoring = NULL;
    g_mutex_unlock(&membership_lock);
    if (s == NULL)
        return;
    g_mutex_lock(&s->lock);
    g_ptr_array_remove(s->monitors, v->handle);
    g_mutex_unlock(&s->lock);
    stage_unref(s);
}

#define COUNTS_INTERVAL_US (1000 * 1000)

/* Takes the handles to tell, if the count changed and the last push is old enough. */
static GPtrArray *counts_due(stage *s, gint64 now, guint *viewers)
{
    GPtrArray *to = NULL;
    g_mutex_lock(&s->lock);
    if (s->counts_dirty && now - s->last_count_push_us >= COUNTS_INTERVAL_US) {
        s->counts_dirty = false;
        s->last_count_push_us = now;
        *viewers = s->viewers->len;
        to = g_ptr_array_new_with_free_func(monitor_release);
        for (guint i = 0; i < s->monitors->len; i++)
            g_ptr_array_add(to, stage_core->handle_ref(g_ptr_array_index(s->monitors, i)));
        if (s->host != NULL)
            g_ptr_array_add(to, stage_core->handle_ref(s->host));
    }
    g_mutex_unlock(&s->lock);
    return to;
}

void stage_counts_flush(void)
{
    static gint64 last;
    gint64 now = g_get_monotonic_time();
    if (now - last < COUNTS_INTERVAL_US / 4)
        return;
    last = now;
    GPtrArray *all = stages_snapshot();
    for (guint i = 0; i < all->len; i++) {
        stage *s = g_ptr_array_index(all, i);
        guint viewers = 0;
        GPtrArray *to = counts_due(s, now, &viewers);
        for (guint k = 0; to != NULL && k < to->len; k++) {
            json_t *ev = json_pack("{s:s, s:{s:s, s:I, s:i}}", "streaming", "event", "result",
                                   "event", "viewers", "id", (json_int_t)s->id, "viewers",
                                   (int)viewers);
            stage_core->push_event(g_ptr_array_index(to, k), NULL, ev, NULL);
            json_decref(ev);
        }
        if (to != NULL)
            g_ptr_array_unref(to);
    }
    g_ptr_array_unref(all);
}

typedef odeon_plugin_result (*request_fn)(request *r);

static const struct {
    const char *name;
    request_fn fn;
} request_table[] = {
    {"list", req_list},           {"info", req_info},           {"create", req_create},
    {"destroy", req_destroy},     {"watch", req_watch},         {"start", req_start},
    {"pause", req_pause},         {"stop", req_stop},           {"switch", req_switch},
    {"configure", req_configure}, {"publish", req_publish},     {"unpublish", req_unpublish},
    {"monitor", req_monitor},     {"placement", req_placement},
};

static odeon_plugin_result stage_handle_message(odeon_plugin_handle *handle,
                                                const char *transaction, json_t *body,
                                                json_t *jsep)
{
    const char *name = json_string_value(json_object_get(body, "request"));
    if (name == NULL)
        return sync_reply(
            stage_error_event(STAGE_ERROR_MISSING_ELEMENT, "Missing element (request)"));
    request r = {.handle = handle, .transaction = transaction, .body = body, .jsep = jsep};
    for (size_t i = 0; i < G_N_ELEMENTS(request_table); i++)
        if (strcmp(request_table[i].name, name) == 0)
            return request_table[i].fn(&r);
    return sync_reply(stage_error_event(STAGE_ERROR_INVALID_REQUEST, "Unknown request"));
}

/* ---- handles and media ---- */

static int stage_create_session(odeon_plugin_handle *handle)
{
    stage_viewer *v = g_new0(stage_viewer, 1);
    v->refs = 1;
    g_mutex_init(&v->host_lock);
    for (size_t i = 0; i < STAGE_MAX_TRACKS; i++) {
        v->mindex[i] = (int)i;
        v->pt[i] = -1;
    }
    v->handle = stage_core->handle_ref(handle);
    v->audio = v->video = true;
    v->prefer_quality = v->prefer_temporal = -1;
    stage_layer_viewer_init(&v->layer, STAGE_CODEC_VP8, 0);
    stage_core->set_handle_data(handle, v);
    return 0;
}

static void stage_destroy_session(odeon_plugin_handle *handle)
{
    stage_viewer *v = viewer_of(handle);
    stage_core->set_handle_data(handle, NULL);
    if (v == NULL)
        return;
    monitor_stop(v);
    if (v->is_host)
        host_leave(v);
    else
        stage_unref(viewer_leave(v));
    stage_viewer_unref(v);
}

static void stage_setup_media(odeon_plugin_handle *handle)
{
    stage_viewer *v = viewer_of(handle);
    if (v == NULL)
        return;
    if (v->is_host) {
        stage_core->request_keyframe(handle, -1); /* the GOP cache starts with it */
        return;
    }
    int loop = stage_core->handle_media_loop(handle);
    g_mutex_lock(&membership_lock);
    stage *s = v->stage;
    if (s != NULL) {
        g_mutex_lock(&s->lock);
        stage_group_remove_locked(v); /* a new connection may live on another loop */
        v->loop = loop >= 0 ? (unsigned)loop : 0;
        v->media_up = true;
        v->need_keyframe = true;
        v->up_us = g_get_monotonic_time();
        stage_group_add_locked(s, v);
        guint count = s->viewers->len;
        g_mutex_unlock(&s->lock);
        if (v->joined_us == 0) {
            v->joined_us = g_get_real_time();
            viewer_bus_event(v, s, "joined", count);
        }
    }
    g_mutex_unlock(&membership_lock);
    if (s == NULL)
        return;
    json_t *ev = status_event("started");
    stage_core->push_event(handle, NULL, ev, NULL);
    json_decref(ev);
}

static void stage_hangup_media(odeon_plugin_handle *handle)
{
    stage_viewer *v = viewer_of(handle);
    if (v == NULL)
        return;
    if (v->is_host) {
        host_leave(v);
        stage_whip_hangup(handle); /* a WHIP resource whose connection died is ended */
        return;
    }
    stage_whip_hangup(handle); /* a WHEP viewer whose connection died is ended */
    stage *s = viewer_leave(v);
    if (s != NULL) {
        json_t *ev = status_event("stopped");
        stage_core->push_event(handle, NULL, ev, NULL);
        json_decref(ev);
    }
    v->media_up = false;
    stage_unref(s);
}

/* The host's packets, on its media loop: into the stage with the stage's payload type. */
static void stage_incoming_rtp(odeon_plugin_handle *handle, odeon_media_packet *packet)
{
    stage_viewer *v = viewer_of(handle);
    if (v == NULL || packet->len < 12)
        return;
    g_mutex_lock(&v->host_lock);
    stage *s = v->is_host ? stage_ref(v->stage) : NULL;
    g_mutex_unlock(&v->host_lock);
    if (s == NULL)
        return;
    int track = track_of_kind(s, packet->video);
    if (track >= 0) {
        packet->data[1] = (uint8_t)((packet->data[1] & 0x80) | s->tracks[track].pt);
        stage_packet(s, (size_t)track, packet->substream, packet->data, packet->len);
    }
    stage_unref(s);
}

/* True when a compound RTCP packet holds a PLI or FIR (the viewer needs a keyframe).
 * Bounds-checked: the compound comes from the network (decrypted by the core). */
static bool wants_keyframe(const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off + 4 <= len) {
        size_t plen = ((size_t)((buf[off + 2] << 8) | buf[off + 3]) + 1) * 4;
        uint8_t fmt = buf[off] & 0x1F;
        if (off + plen > len)
            break;
        if (buf[off + 1] == 206 && (fmt == 1 || fmt == 4))
            return true;
        off += plen;
    }
    return false;
}

/* A viewer's feedback: PLI/FIR go to the host, at most one per interval however many viewers
 * ask (NACKs are answered by the core from the viewer connection's own buffer; its REMB and
 * transport-cc feed the core's estimate, which picks its layer: stage_fanout.c). */
static void stage_incoming_rtcp(odeon_plugin_handle *handle, odeon_media_packet *packet)
{
    stage_viewer *v = viewer_of(handle);
    if (v == NULL || v->is_host || !wants_keyframe(packet->data, packet->len))
        return;
    g_mutex_lock(&membership_lock);
    stage *s = v->stage ? stage_ref(v->stage) : NULL;
    g_mutex_unlock(&membership_lock);
    if (s == NULL)
        return;
    g_mutex_lock(&s->lock);
    stage_keyframe_request_locked(s);
    g_mutex_unlock(&s->lock);
    stage_unref(s);
}

/* A viewer's NACK: the packet is rebuilt from the stage's ring (stage_sent_lookup). */
static size_t stage_retransmit_rtp(odeon_plugin_handle *handle, int mindex, uint16_t seq,
                                   uint8_t *buf, size_t cap)
{
    stage_viewer *v = viewer_of(handle);
    if (v == NULL || v->is_host)
        return 0;
    return stage_sent_lookup(v, mindex, seq, g_get_monotonic_time(), buf, cap);
}

static json_t *stage_query_session(odeon_plugin_handle *handle)
{
    stage_viewer *v = viewer_of(handle);
    if (v == NULL)
        return NULL;
    g_mutex_lock(&membership_lock);
    stage *s = v->stage;
    json_t *j = json_pack("{s:o, s:b, s:b, s:I}", "stage",
                          s ? json_integer((json_int_t)s->id) : json_null(), "started",
                          v->started, "media_up", v->media_up, "estimate_bps",
                          (json_int_t)stage_core->bandwidth_estimate(handle));
    if (s != NULL && s->layered) {
        /* Read without the group's lock: a snapshot for the admin API, may be a packet old. */
        json_object_set_new(j, "substream", json_integer(stage_layer_viewer_current(&v->layer)));
        json_object_set_new(j, "substream_target",
                            json_integer(stage_layer_viewer_target(&v->layer)));
    }
    g_mutex_unlock(&membership_lock);
    return j;
}

/* ---- configuration ---- */

static gint64 relay_grace_seconds = 30;
static unsigned relay_drop_every;

static int load_config(const char *path)
{
    GKeyFile *kf = g_key_file_new();
    GError *gerr = NULL;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &gerr)) {
        bool missing = g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT);
        if (!missing)
            LOG(ODEON_LOG_ERROR, "%s: %s", path, gerr->message);
        g_error_free(gerr);
        g_key_file_free(kf);
        return missing ? 0 : -1;
    }
    admin_key = g_key_file_get_string(kf, "general", "admin_key", NULL);
    if (g_key_file_has_key(kf, "relay", "grace_seconds", NULL))
        relay_grace_seconds = g_key_file_get_int64(kf, "relay", "grace_seconds", NULL);
    if (g_key_file_has_key(kf, "relay", "drop_every", NULL))
        relay_drop_every =
            (unsigned)CLAMP(g_key_file_get_int64(kf, "relay", "drop_every", NULL), 0, 1000000);
    if (g_key_file_has_key(kf, "general", "initial_estimate_kbps", NULL)) {
        gint64 kbps = g_key_file_get_int64(kf, "general", "initial_estimate_kbps", NULL);
        stage_initial_estimate_bps = kbps > 0 ? (guint64)kbps * 1000 : 0;
    }
    char *list = g_key_file_get_string(kf, "general", "organisers", NULL);
    if (list != NULL) {
        /* "alice, bob" or "alice;bob", as the core's own lists. */
        organisers = g_strsplit_set(list, ",;", -1);
        for (char **o = organisers; *o; o++)
            g_strstrip(*o);
        g_free(list);
    }
    gsize n = 0;
    char **groups = g_key_file_get_groups(kf, &n);
    int rc = 0;
    for (gsize i = 0; i < n && rc == 0; i++) {
        if (!g_str_has_prefix(groups[i], "stage-"))
            continue;
        guint64 id = g_ascii_strtoull(groups[i] + 6, NULL, 10);
        stage *s = stage_new(id);
        s->description = g_key_file_get_string(kf, groups[i], "description", NULL);
        s->pin = g_key_file_get_string(kf, groups[i], "pin", NULL);
        s->secret = g_key_file_get_string(kf, groups[i], "secret", NULL);
        s->event = g_key_file_get_string(kf, groups[i], "event", NULL);
        bool ok = id > 0 && (s->event == NULL || stage_event_id_valid(s->event));
        if (ok && g_key_file_has_key(kf, groups[i], "audio_port", NULL)) {
            char *codec = g_key_file_get_string(kf, groups[i], "audio_codec", NULL);
            ok = track_from(&s->tracks[s->track_count++], false, "a",
                            g_key_file_get_integer(kf, groups[i], "audio_port", NULL),
                            g_key_file_get_integer(kf, groups[i], "audio_pt", NULL),
                            codec ? codec : "opus", NULL);
            g_free(codec);
        }
        if (ok && g_key_file_has_key(kf, groups[i], "video_port", NULL)) {
            char *codec = g_key_file_get_string(kf, groups[i], "video_codec", NULL);
            char *fmtp = g_key_file_get_string(kf, groups[i], "video_fmtp", NULL);
            ok = track_from(&s->tracks[s->track_count++], true, "v",
                            g_key_file_get_integer(kf, groups[i], "video_port", NULL),
                            g_key_file_get_integer(kf, groups[i], "video_pt", NULL),
                            codec ? codec : "VP8", fmtp);
            ok = ok && track_simulcast_ports(
                           &s->tracks[s->track_count - 1],
                           g_key_file_get_integer(kf, groups[i], "video_port2", NULL),
                           g_key_file_get_integer(kf, groups[i], "video_port3", NULL));
            g_free(codec);
            g_free(fmtp);
        }
        char *error = NULL;
        if (!ok || s->track_count == 0)
            error = g_strdup_printf("[%s]: needs a numeric id and valid audio_/video_ port, pt "
                                    "and codec", groups[i]);
        else
            stage_register(s, &error);
        if (error == NULL && stage_relay_is_relay())
            LOG(ODEON_LOG_WARN,
                "%s: this node is a relay: its own [%s] is served as is, not "
                "relayed from upstream (relays normally define no stages)",
                path, groups[i]);
        if (error != NULL) {
            LOG(ODEON_LOG_ERROR, "%s: %s", path, error);
            g_free(error);
            rc = -1;
        }
        stage_unref(s);
    }
    g_strfreev(groups);
    g_key_file_free(kf);
    return rc;
}

static int stage_init(const odeon_core_callbacks *core, const char *config_path)
{
    if (core->struct_size < offsetof(odeon_core_callbacks, bandwidth_estimate) + sizeof(void *))
        return -1; /* needs ABI 1.3 (jsep_offer, handles for WHIP, fan-out on the loops) */
    stage_core = core;
    stages = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                   (GDestroyNotify)stage_unref);
    if (stage_ingest_start() != 0)
        return -1;
    if (load_config(config_path) != 0 || stage_whip_start() != 0 ||
        stage_relay_start(relay_grace_seconds, relay_drop_every) != 0) {
        stage_relay_stop();
        stage_whip_stop();
        stage_ingest_stop();
        g_clear_pointer(&stages, g_hash_table_unref);
        return -1;
    }
    return 0;
}

static void stage_destroy(void)
{
    stage_whip_stop();
    stage_relay_stop();
    stage_ingest_stop();
    g_clear_pointer(&stages, g_hash_table_unref);
    stage_fanout_quiesce();
    g_clear_pointer(&admin_key, g_free);
    g_clear_pointer(&organisers, g_strfreev);
}

__attribute__((visibility("default"))) const odeon_plugin odeon_plugin_descriptor = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = STAGE_PACKAGE,
    .name = "Stage",
    .description = "One source to many viewers (Streaming-compatible requests)",
    .author = "The Odeon developers",
    .version_string = "0.1.0",
    .version = 100,
    .init = stage_init,
    .destroy = stage_destroy,
    .create_session = stage_create_session,
    .handle_message = stage_handle_message,
    .setup_media = stage_setup_media,
    .incoming_rtp = stage_incoming_rtp,
    .incoming_rtcp = stage_incoming_rtcp,
    .hangup_media = stage_hangup_media,
    .destroy_session = stage_destroy_session,
    .query_session = stage_query_session,
    .retransmit_rtp = stage_retransmit_rtp,
};
