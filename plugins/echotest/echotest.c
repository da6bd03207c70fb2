/*
 * echotest.c - descriptor, per-handle state and request dispatch of the echotest plugin.
 *
 * Synchronous requests ("request": "ping", "status") are answered on the transport thread.
 * Settings messages (Janus echotest bodies without "request") are queued to the plugin's own
 * worker thread, which applies them and pushes the answer as an event with the request's
 * transaction: the same ack-then-event shape Janus's echotest has, so clients written for it
 * see what they expect. Each queued message holds a handle reference, so a handle detached
 * meanwhile stays valid until the worker is done with it (push_event then returns EGONE).
 */
#include "echotest.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

static const odeon_core_callbacks *core;
static GAsyncQueue *work_queue;
static GThread *worker;
static gboolean notify_events = TRUE;
static gint live_handles;       /* handles attached now */
static gint64 messages_handled; /* settings messages applied since start (atomic) */

/* GET /echotest/status on the API port: a public health check for monitors and tests. */
#define ECHOTEST_ROUTE "/echotest/"

/* Per-handle settings. Refcounted: the handle holds one reference (dropped in
 * destroy_session) and every queued message another, so the worker never sees it freed. */
typedef struct echotest_state {
    gint refs;
    GMutex lock;
    bool audio;
    bool video;
    uint64_t bitrate; /* 0: no cap */
    uint64_t messages;
    bool keyframe_wanted; /* set by "keyframe": true, sent from the media thread */
    bool media_up;
    int64_t last_remb_us;
    uint64_t echoed_packets;
} echotest_state;

typedef struct echotest_work {
    odeon_plugin_handle *handle; /* reference */
    echotest_state *state;       /* reference */
    char *transaction;
    json_t *body; /* reference; NULL is the stop marker */
    json_t *jsep; /* reference or NULL */
} echotest_work;

#define LOG(level, ...) core->log(level, "echotest", __VA_ARGS__)

static echotest_state *state_ref(echotest_state *st)
{
    g_atomic_int_inc(&st->refs);
    return st;
}

static void state_unref(echotest_state *st)
{
    if (st != NULL && g_atomic_int_dec_and_test(&st->refs)) {
        g_mutex_clear(&st->lock);
        g_free(st);
    }
}

static json_t *error_event(int code, const char *reason)
{
    return json_pack("{s:s, s:i, s:s}", "echotest", "event", "error_code", code, "error", reason);
}

static json_t *state_json(echotest_state *st)
{
    g_mutex_lock(&st->lock);
    json_t *j = json_pack("{s:b, s:b, s:I, s:I, s:b, s:I}", "audio", st->audio, "video",
                          st->video, "bitrate", (json_int_t)st->bitrate, "messages",
                          (json_int_t)st->messages, "media_up", st->media_up, "echoed_packets",
                          (json_int_t)st->echoed_packets);
    g_mutex_unlock(&st->lock);
    return j;
}

/* Validate every field first so a bad message changes nothing. NULL on success. */
static json_t *settings_check(json_t *body, bool with_jsep)
{
    static const char *const known[] = {"audio", "video", "bitrate", "keyframe"};
    bool any = with_jsep;
    for (size_t i = 0; i < G_N_ELEMENTS(known); i++)
        any = any || json_object_get(body, known[i]) != NULL;
    if (!any)
        return error_event(ECHOTEST_ERROR_INVALID_ELEMENT,
                           "Message error: no supported attributes found");
    static const char *const strings[] = {"audiocodec", "videocodec"};
    for (size_t i = 0; i < G_N_ELEMENTS(strings); i++) {
        json_t *v = json_object_get(body, strings[i]);
        if (v != NULL && !json_is_string(v)) {
            char *reason = g_strdup_printf("Invalid element type (%s should be a string)",
                                           strings[i]);
            json_t *ev = error_event(ECHOTEST_ERROR_INVALID_ELEMENT, reason);
            g_free(reason);
            return ev;
        }
    }
    static const char *const bools[] = {"audio", "video", "keyframe"};
    for (size_t i = 0; i < G_N_ELEMENTS(bools); i++) {
        json_t *v = json_object_get(body, bools[i]);
        if (v != NULL && !json_is_boolean(v)) {
            char *reason = g_strdup_printf("Invalid element type (%s should be a boolean)", bools[i]);
            json_t *ev = error_event(ECHOTEST_ERROR_INVALID_ELEMENT, reason);
            g_free(reason);
            return ev;
        }
    }
    json_t *bitrate = json_object_get(body, "bitrate");
    if (bitrate != NULL && (!json_is_integer(bitrate) || json_integer_value(bitrate) < 0))
        return error_event(ECHOTEST_ERROR_INVALID_ELEMENT,
                           "Invalid element type (bitrate should be a positive integer)");
    return NULL;
}

static void settings_apply(echotest_state *st, json_t *body)
{
    json_t *audio = json_object_get(body, "audio");
    json_t *video = json_object_get(body, "video");
    json_t *bitrate = json_object_get(body, "bitrate");
    g_mutex_lock(&st->lock);
    if (audio)
        st->audio = json_is_true(audio);
    if (video) {
        /* Echoing resumes mid-stream: the receiver needs a keyframe to decode again. */
        if (json_is_true(video) && !st->video)
            st->keyframe_wanted = true;
        st->video = json_is_true(video);
    }
    if (bitrate)
        st->bitrate = (uint64_t)json_integer_value(bitrate);
    if (json_is_true(json_object_get(body, "keyframe")))
        st->keyframe_wanted = true;
    st->messages++;
    st->last_remb_us = 0; /* a new cap goes out with the next RTCP */
    g_mutex_unlock(&st->lock);
}

/* The answer to the client's offer, with the codecs the body asks for. */
static json_t *make_answer(echotest_work *w, json_t **error)
{
    const char *type = json_string_value(json_object_get(w->jsep, "type"));
    if (type == NULL || strcmp(type, "offer") != 0) {
        *error = error_event(ECHOTEST_ERROR_INVALID_SDP, "Only an offer is expected here");
        return NULL;
    }
    json_t *opts = json_object();
    json_t *ac = json_object_get(w->body, "audiocodec");
    json_t *vc = json_object_get(w->body, "videocodec");
    if (ac)
        json_object_set(opts, "audio_codec", ac);
    if (vc)
        json_object_set(opts, "video_codec", vc);
    json_t *answer = core->jsep_answer(w->handle, opts);
    json_decref(opts);
    if (answer == NULL)
        *error = error_event(ECHOTEST_ERROR_INVALID_SDP,
                             "Error negotiating the SDP (no codec in common?)");
    return answer;
}

static void work_process(echotest_work *w)
{
    echotest_state *st = w->state;
    json_t *event = settings_check(w->body, w->jsep != NULL);
    json_t *answer = NULL;
    if (event == NULL && w->jsep != NULL)
        answer = make_answer(w, &event);
    if (event == NULL) {
        settings_apply(st, w->body);
        __atomic_add_fetch(&messages_handled, 1, __ATOMIC_RELAXED);
        event = json_pack("{s:s, s:s}", "echotest", "event", "result", "ok");
        if (notify_events && core->events_enabled()) {
            json_t *info = json_pack("{s:s, s:o}", "event", "configured", "settings", state_json(st));
            core->notify_event(&odeon_plugin_descriptor, w->handle, info);
            json_decref(info);
        }
    }
    core->push_event(w->handle, w->transaction, event, answer);
    json_decref(event);
    json_decref(answer);
}

static void work_free(echotest_work *w)
{
    if (w->handle)
        core->handle_unref(w->handle);
    state_unref(w->state);
    g_free(w->transaction);
    json_decref(w->body);
    json_decref(w->jsep);
    g_free(w);
}

static gpointer worker_main(gpointer data)
{
    (void)data;
    for (;;) {
        echotest_work *w = g_async_queue_pop(work_queue);
        if (w->body == NULL) {
            work_free(w);
            break;
        }
        work_process(w);
        work_free(w);
    }
    return NULL;
}

/* Answer with body (taken) as JSON; headers as for http_respond. */
static void respond_json(odeon_http_request *req, int status, json_t *body,
                         const char *const *headers)
{
    char *text = json_dumps(body, JSON_COMPACT);
    core->http_respond(req, status, "application/json", text, strlen(text), headers);
    free(text);
    json_decref(body);
}

static void status_route(odeon_http_request *req, void *user_data)
{
    (void)user_data;
    const char *method = core->http_request_method(req);
    const char *path = core->http_request_path(req);
    if (strcmp(path, ECHOTEST_ROUTE "status") != 0) {
        respond_json(req, 404, json_pack("{s:s}", "error", "Not found"), NULL);
    } else if (strcmp(method, "OPTIONS") == 0) {
        static const char *const preflight[] = {"Allow: GET, HEAD, OPTIONS",
                                                "Access-Control-Allow-Methods: GET, HEAD", NULL};
        core->http_respond(req, 204, NULL, NULL, 0, preflight);
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char *const allow[] = {"Allow: GET, HEAD", NULL};
        respond_json(req, 405, json_pack("{s:s}", "error", "Method not allowed"), allow);
    } else {
        respond_json(req, 200,
                     json_pack("{s:s, s:i, s:I}", "plugin", ECHOTEST_PACKAGE, "handles",
                               g_atomic_int_get(&live_handles), "messages",
                               (json_int_t)__atomic_load_n(&messages_handled, __ATOMIC_RELAXED)),
                     NULL);
    }
}

static int echotest_init(const odeon_core_callbacks *callbacks, const char *config_path)
{
    if (callbacks->struct_size < offsetof(odeon_core_callbacks, send_remb) + sizeof(void *))
        return -1; /* a core older than ABI 1.1 has no SDP helpers */
    core = callbacks;
    GKeyFile *kf = g_key_file_new();
    GError *error = NULL;
    if (g_key_file_load_from_file(kf, config_path, G_KEY_FILE_NONE, &error)) {
        if (g_key_file_has_key(kf, "general", "events", NULL))
            notify_events = g_key_file_get_boolean(kf, "general", "events", NULL);
    } else if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
        LOG(ODEON_LOG_ERROR, "%s: %s", config_path, error->message);
        g_error_free(error);
        g_key_file_free(kf);
        return -1;
    }
    g_clear_error(&error);
    g_key_file_free(kf);
    int rc = core->http_route_add(&odeon_plugin_descriptor, ECHOTEST_ROUTE, status_route, NULL);
    if (rc != 0) {
        LOG(ODEON_LOG_ERROR, "cannot register %s (%d)", ECHOTEST_ROUTE, rc);
        return -1;
    }
    work_queue = g_async_queue_new();
    worker = g_thread_new("echotest", worker_main, NULL);
    return 0;
}

static void echotest_destroy(void)
{
    core->http_route_remove(&odeon_plugin_descriptor, ECHOTEST_ROUTE);
    echotest_work *stop = g_new0(echotest_work, 1);
    g_async_queue_push(work_queue, stop);
    g_thread_join(worker);
    g_async_queue_unref(work_queue);
    worker = NULL;
    work_queue = NULL;
}

static int echotest_create_session(odeon_plugin_handle *handle)
{
    echotest_state *st = g_new0(echotest_state, 1);
    st->refs = 1;
    g_mutex_init(&st->lock);
    st->audio = true;
    st->video = true;
    core->set_handle_data(handle, st);
    g_atomic_int_inc(&live_handles);
    return 0;
}

static void echotest_destroy_session(odeon_plugin_handle *handle)
{
    echotest_state *st = core->get_handle_data(handle);
    core->set_handle_data(handle, NULL);
    if (st != NULL)
        g_atomic_int_add(&live_handles, -1);
    state_unref(st);
}

static json_t *echotest_query_session(odeon_plugin_handle *handle)
{
    echotest_state *st = core->get_handle_data(handle);
    return st ? state_json(st) : NULL;
}

static odeon_plugin_result result_ok(json_t *content)
{
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK, .content = content};
}

static odeon_plugin_result echotest_handle_message(odeon_plugin_handle *handle,
                                                   const char *transaction, json_t *body,
                                                   json_t *jsep)
{
    json_t *request = json_object_get(body, "request");
    if (request != NULL) {
        const char *name = json_string_value(request);
        if (name != NULL && strcmp(name, "ping") == 0)
            return result_ok(json_pack("{s:s}", "echotest", "pong"));
        if (name != NULL && strcmp(name, "status") == 0) {
            echotest_state *st = core->get_handle_data(handle);
            return result_ok(json_pack("{s:s, s:o}", "echotest", "status", "settings",
                                       st ? state_json(st) : json_object()));
        }
        return result_ok(error_event(ECHOTEST_ERROR_INVALID_ELEMENT,
                                     name ? "Unknown request" : "Invalid element (request should be a string)"));
    }
    /* Settings are validated and applied on the worker: like Janus's echotest, every such
     * message is acknowledged and answered by an event, errors included. */
    echotest_state *st = core->get_handle_data(handle);
    if (st == NULL)
        return result_ok(error_event(ECHOTEST_ERROR_UNKNOWN_ERROR, "No session for this handle"));
    echotest_work *w = g_new0(echotest_work, 1);
    w->handle = core->handle_ref(handle);
    w->state = state_ref(st);
    w->transaction = g_strdup(transaction);
    w->body = json_incref(body);
    w->jsep = jsep ? json_incref(jsep) : NULL;
    g_async_queue_push(work_queue, w);
    return (odeon_plugin_result){.kind = ODEON_PLUGIN_OK_WAIT};
}

/* ---- media (on the handle's media loop thread) ---- */

static void echotest_setup_media(odeon_plugin_handle *handle)
{
    echotest_state *st = core->get_handle_data(handle);
    if (st == NULL)
        return;
    g_mutex_lock(&st->lock);
    st->media_up = true;
    g_mutex_unlock(&st->lock);
    /* The echo starts with what the sender sends next: ask for a keyframe at once. */
    core->request_keyframe(handle, -1);
}

static void echotest_incoming_rtp(odeon_plugin_handle *handle, odeon_media_packet *packet)
{
    echotest_state *st = core->get_handle_data(handle);
    if (st == NULL)
        return;
    g_mutex_lock(&st->lock);
    bool enabled = packet->video ? st->video : st->audio;
    bool keyframe = st->keyframe_wanted;
    st->keyframe_wanted = false;
    if (enabled)
        st->echoed_packets++;
    g_mutex_unlock(&st->lock);
    if (keyframe)
        core->request_keyframe(handle, -1);
    if (enabled)
        core->relay_rtp(handle, packet);
}

/* Drops REMB packets from a compound (in place) when a cap replaces them; returns the new
 * length. Walks the RTCP headers only: the core validated the compound before. */
static size_t drop_remb(uint8_t *buf, size_t len)
{
    size_t in = 0, out = 0;
    while (in + 4 <= len) {
        size_t plen = ((size_t)((buf[in + 2] << 8) | buf[in + 3]) + 1) * 4;
        if (in + plen > len)
            break;
        bool remb = buf[in + 1] == 206 && (buf[in] & 0x1F) == 15 && plen >= 16 &&
                    memcmp(buf + in + 12, "REMB", 4) == 0;
        if (!remb) {
            memmove(buf + out, buf + in, plen);
            out += plen;
        }
        in += plen;
    }
    return out;
}

static void echotest_incoming_rtcp(odeon_plugin_handle *handle, odeon_media_packet *packet)
{
    echotest_state *st = core->get_handle_data(handle);
    if (st == NULL)
        return;
    g_mutex_lock(&st->lock);
    uint64_t cap = st->bitrate;
    bool send_cap = cap > 0 && packet->arrival_us - st->last_remb_us >= 500000;
    if (send_cap)
        st->last_remb_us = packet->arrival_us;
    g_mutex_unlock(&st->lock);
    /* Feedback about the echo is feedback about the sender's own stream: send it back. */
    if (cap > 0)
        packet->len = drop_remb(packet->data, packet->len);
    if (packet->len > 0)
        core->relay_rtcp(handle, packet);
    if (send_cap)
        core->send_remb(handle, cap);
}

static void echotest_hangup_media(odeon_plugin_handle *handle)
{
    echotest_state *st = core->get_handle_data(handle);
    if (st != NULL) {
        g_mutex_lock(&st->lock);
        st->media_up = false;
        g_mutex_unlock(&st->lock);
    }
    json_t *event = json_pack("{s:s, s:s}", "echotest", "event", "result", "done");
    core->push_event(handle, NULL, event, NULL);
    json_decref(event);
}

static json_t *echotest_handle_admin_message(json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "request"));
    if (name != NULL && strcmp(name, "ping") == 0)
        return json_pack("{s:s}", "echotest", "pong");
    return error_event(ECHOTEST_ERROR_INVALID_ELEMENT, "Unknown request");
}

__attribute__((visibility("default"))) const odeon_plugin odeon_plugin_descriptor = {
    ODEON_PLUGIN_DESCRIPTOR_INIT,
    .package = ECHOTEST_PACKAGE,
    .name = "Echo test",
    .description = "Answers requests and echoes a peer's media back (diagnostics)",
    .author = "The Odeon developers",
    .version_string = "0.1.0",
    .version = 100,
    .init = echotest_init,
    .destroy = echotest_destroy,
    .create_session = echotest_create_session,
    .handle_message = echotest_handle_message,
    .handle_admin_message = echotest_handle_admin_message,
    .setup_media = echotest_setup_media,
    .incoming_rtp = echotest_incoming_rtp,
    .incoming_rtcp = echotest_incoming_rtcp,
    .hangup_media = echotest_hangup_media,
    .destroy_session = echotest_destroy_session,
    .query_session = echotest_query_session,
};
