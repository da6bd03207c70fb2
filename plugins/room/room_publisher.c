/*
 * room_publisher.c - a room's participants as publishers: join, publish (our answer, read back
 * into the feed's streams), configure (mute, bitrate, keyframe), unpublish, leave; and the
 * feed's media on the publisher's loop: talking detection, the bitrate cap, and each packet
 * written once into its stream's ring, from which every subscriber's drain reads it on the
 * subscriber's own loop (room_subscriber.c).
 */
#include "room.h"

#include <stdlib.h>
#include <string.h>

#include "../common/plugin_common.h"
#include "room_rtp.h"

#define REMB_INTERVAL_US 1000000

/* ---- feeds ---- */

room_feed *room_feed_ref(room_feed *f)
{
    g_atomic_int_inc(&f->refs);
    return f;
}

void room_feed_unref(room_feed *f)
{
    if (f == NULL || !g_atomic_int_dec_and_test(&f->refs))
        return;
    for (int i = 0; i < f->stream_count; i++) {
        g_ptr_array_unref(f->streams[i].slots);
        g_free(f->streams[i].description);
        g_free(f->streams[i].ring);
    }
    room_core->handle_unref(f->handle);
    g_free(f->display);
    g_mutex_clear(&f->lock);
    g_free(f);
}

json_t *room_feed_json(room_feed *f)
{
    json_t *streams = json_array();
    const char *audio_codec = NULL, *video_codec = NULL;
    g_mutex_lock(&f->lock);
    for (int i = 0; i < f->stream_count; i++) {
        struct room_feed_stream *s = &f->streams[i];
        json_t *j = json_pack("{s:s, s:i, s:s, s:s, s:b}", "type",
                              s->media.video ? "video" : "audio", "mindex", s->media.index, "mid",
                              s->media.mid, "codec", s->media.codec, "muted",
                              s->muted || s->moderated);
        if (s->moderated)
            json_object_set_new(j, "moderated", json_true());
        if (s->description)
            json_object_set_new(j, "description", json_string(s->description));
        if (s->media.simulcast)
            json_object_set_new(j, "simulcast", json_true());
        json_array_append_new(streams, j);
        if (s->media.video && video_codec == NULL)
            video_codec = s->media.codec;
        if (!s->media.video && audio_codec == NULL)
            audio_codec = s->media.codec;
    }
    json_t *out = json_pack("{s:I, s:o, s:b}", "id", (json_int_t)f->id, "streams", streams,
                            "talking", f->talking);
    if (audio_codec)
        json_object_set_new(out, "audio_codec", json_string(audio_codec));
    if (video_codec)
        json_object_set_new(out, "video_codec", json_string(video_codec));
    g_mutex_unlock(&f->lock);
    if (f->display)
        json_object_set_new(out, "display", json_string(f->display));
    return out;
}

/* ---- join ---- */

/* The publishers of r other than m, for "joined". */
static json_t *publishers_json(room *r, room_member *except)
{
    json_t *list = json_array();
    GPtrArray *feeds = g_ptr_array_new_with_free_func((GDestroyNotify)room_feed_unref);
    g_mutex_lock(&r->lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->members);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        room_member *m = value;
        g_mutex_lock(&m->lock);
        if (m != except && m->feed != NULL)
            g_ptr_array_add(feeds, room_feed_ref(m->feed));
        g_mutex_unlock(&m->lock);
    }
    g_mutex_unlock(&r->lock);
    for (guint i = 0; i < feeds->len; i++)
        json_array_append_new(list, room_feed_json(g_ptr_array_index(feeds, i)));
    g_ptr_array_unref(feeds);
    return list;
}

static json_t *attendees_json(room *r, room_member *except)
{
    json_t *list = json_array();
    g_mutex_lock(&r->lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->members);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        room_member *m = value;
        if (m == except)
            continue;
        json_t *a = json_pack("{s:I}", "id", (json_int_t)m->id);
        if (m->display)
            json_object_set_new(a, "display", json_string(m->display));
        json_array_append_new(list, a);
    }
    g_mutex_unlock(&r->lock);
    return list;
}

/* A member of r with the same identity (a rejoin after a dropped connection), or NULL. */
static room_member *same_identity(room *r, const char *subject)
{
    room_member *found = NULL;
    g_mutex_lock(&r->lock);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->members);
    while (found == NULL && g_hash_table_iter_next(&it, NULL, &value)) {
        room_member *m = value;
        if (m->subject != NULL && subject != NULL && strcmp(m->subject, subject) == 0)
            found = room_member_ref(m);
    }
    g_mutex_unlock(&r->lock);
    return found;
}

static uint64_t new_id(room *r, uint64_t wanted)
{
    uint64_t id = wanted;
    while (id == 0 || g_hash_table_contains(r->members, &id))
        id = ((uint64_t)g_random_int() << 21 ^ g_random_int()) & ((1ULL << 53) - 1);
    return id;
}

static const char *display_of(room_call *c)
{
    const char *d = json_string_value(json_object_get(c->body, "display"));
    if (d != NULL && d[0] != '\0')
        return d;
    const odeon_identity *who = room_core->identity(c->handle);
    return who && who->display_name ? who->display_name : NULL;
}

/* Validates a join's elements: false after answering the error. */
static bool join_elements(room_call *c, uint64_t *wanted)
{
    json_t *display = json_object_get(c->body, "display");
    *wanted = 0;
    if (display != NULL && (!json_is_string(display) || strlen(json_string_value(display)) > 100)) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Invalid element (display: a string of at "
                                                 "most 100 bytes)");
        return false;
    }
    if (json_object_get(c->body, "id") != NULL && !room_body_id(c->body, "id", wanted)) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Invalid element (id)");
        return false;
    }
    return true;
}

/* Whether the room takes one more (and the wanted id is free): false after the error. */
static bool join_seat(room_call *c, room *r, uint64_t *wanted)
{
    g_mutex_lock(&r->lock);
    bool taken = *wanted != 0 && g_hash_table_contains(r->members, wanted);
    bool full = (int)g_hash_table_size(r->members) >= r->max_publishers;
    g_mutex_unlock(&r->lock);
    if (taken) {
        room_fail(c, ROOM_ERROR_ID_EXISTS, "User ID %" G_GUINT64_FORMAT " already exists",
                  *wanted);
        return false;
    }
    if (full) {
        room_fail(c, ROOM_ERROR_PUBLISHERS_FULL, "Maximum number of publishers (%d) reached",
                  r->max_publishers);
        return false;
    }
    return true;
}

void room_publisher_join(room_call *c, room *r)
{
    room_member *m = c->member;
    uint64_t wanted;
    if (!join_elements(c, &wanted))
        return;
    /* The same person again (a closed laptop, a new network): the old presence leaves first,
     * so others see it go and come back, and the seat is free. */
    room_member *old = same_identity(r, m->subject);
    if (old != NULL) {
        json_t *ev = json_pack("{s:s, s:I, s:s, s:s}", "videoroom", "event", "room",
                               (json_int_t)r->id, "leaving", "ok", "reason", "rejoined");
        room_core->push_event(old->handle, NULL, ev, NULL);
        json_decref(ev);
        room_publisher_leave(old, false);
        room_member_unref(old);
    }
    if (!join_seat(c, r, &wanted))
        return;
    g_mutex_lock(&r->lock);
    m->id = new_id(r, wanted);
    g_hash_table_insert(r->members, &m->id, room_member_ref(m));
    g_mutex_unlock(&r->lock);
    room_core->handle_media_loop_prefer(m->handle, r->loop); /* before the client's offer */
    g_mutex_lock(&m->lock);
    m->kind = MEMBER_PUBLISHER;
    m->room = room_ref(r);
    m->private_id = g_random_int();
    g_free(m->display);
    m->display = g_strdup(display_of(c));
    g_mutex_unlock(&m->lock);
    json_t *ev = json_pack("{s:s, s:I, s:s, s:I, s:I, s:o, s:o}", "videoroom", "joined", "room",
                           (json_int_t)r->id, "description", r->description, "id",
                           (json_int_t)m->id, "private_id", (json_int_t)m->private_id,
                           "publishers", publishers_json(r, m), "attendees",
                           attendees_json(r, m));
    json_t *breakout = room_breakout_json(r);
    if (breakout != NULL)
        json_object_set_new(ev, "breakout", breakout);
    static const char *const roles[] = {NULL, "participant", "host", "organiser", "owner"};
    if (m->rank > 0 && m->rank < (int)G_N_ELEMENTS(roles))
        json_object_set_new(ev, "role", json_string(roles[m->rank]));
    room_reply(c, ev, NULL);
    json_decref(ev);
    ROOM_LOG(ODEON_LOG_VERBOSE, "room %" G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT " joined",
             r->id, m->id);
    if (room_conf.notify_joining) {
        json_t *who = json_pack("{s:I}", "id", (json_int_t)m->id);
        if (m->display)
            json_object_set_new(who, "display", json_string(m->display));
        json_t *joining = json_pack("{s:s, s:I, s:o}", "videoroom", "event", "room",
                                    (json_int_t)r->id, "joining", who);
        room_notify(r, m, joining);
        json_decref(joining);
    }
    const char *request = json_string_value(json_object_get(c->body, "request"));
    if (strcmp(request, "joinandconfigure") == 0 && c->jsep != NULL)
        room_publisher_publish(c);
}

/* ---- publish ---- */

static const char *description_of(json_t *body, const char *mid)
{
    json_t *list = json_object_get(body, "descriptions");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *d = json_array_get(list, i);
        const char *m = json_string_value(json_object_get(d, "mid"));
        const char *text = json_string_value(json_object_get(d, "description"));
        if (m && text && strcmp(m, mid) == 0 && strlen(text) <= 64)
            return text;
    }
    return NULL;
}

/* The feed from our answer: every m-line we accepted to receive on. */
static room_feed *feed_from_answer(room_member *m, const char *sdp, json_t *body)
{
    room_sdp_media media[ROOM_SDP_MAX_MEDIA];
    size_t n = room_sdp_read(sdp, media, G_N_ELEMENTS(media));
    room_feed *f = g_new0(room_feed, 1);
    f->refs = 1;
    g_mutex_init(&f->lock);
    f->id = m->id;
    f->room = m->room;
    f->handle = room_core->handle_ref(m->handle);
    f->display = g_strdup(m->display);
    f->active = true;
    g_mutex_lock(&m->room->lock);
    GHashTable *moderated = m->subject ? g_hash_table_lookup(m->room->moderated, m->subject) : NULL;
    for (size_t i = 0; i < n && f->stream_count < ROOM_FEED_MAX_STREAMS; i++) {
        if (media[i].rejected || !media[i].receives || media[i].pt < 0)
            continue;
        struct room_feed_stream *s = &f->streams[f->stream_count++];
        s->media = media[i];
        s->description = g_strdup(description_of(body, media[i].mid));
        s->moderated = moderated != NULL && g_hash_table_contains(moderated, media[i].mid);
        s->slots = g_ptr_array_new();
        s->layered = s->media.video && stage_layer_codec_of(s->media.codec, &s->codec);
        s->ring_size = s->media.video ? ROOM_RING_VIDEO : ROOM_RING_AUDIO;
        s->ring = g_new(room_ring_entry, s->ring_size);
        if (s->layered)
            stage_layer_stats_init(&s->stats, s->codec);
    }
    g_mutex_unlock(&m->room->lock);
    return f;
}

/* A "bitrate" is a non-negative integer (bit/s, 0: none): false after the error. */
static bool bitrate_ok(room_call *c)
{
    json_t *bitrate = json_object_get(c->body, "bitrate");
    if (bitrate != NULL && (!json_is_integer(bitrate) || json_integer_value(bitrate) < 0)) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Invalid element (bitrate)");
        return false;
    }
    return true;
}

static bool publish_checks(room_call *c)
{
    room_member *m = c->member;
    const char *type = json_string_value(json_object_get(c->jsep, "type"));
    if (m->kind != MEMBER_PUBLISHER) {
        room_fail(c, ROOM_ERROR_JOIN_FIRST, "Join the room as a publisher first");
        return false;
    }
    if (m->feed != NULL) {
        room_fail(c, ROOM_ERROR_ALREADY_PUBLISHED, "Can't publish, already published");
        return false;
    }
    if (c->jsep == NULL || type == NULL || strcmp(type, "offer") != 0) {
        room_fail(c, ROOM_ERROR_INVALID_SDP_TYPE, "Publishing needs an SDP offer");
        return false;
    }
    return bitrate_ok(c);
}

static json_t *answer_for(room_call *c, room *r)
{
    const char *vc = json_string_value(json_object_get(c->body, "videocodec"));
    const char *ac = json_string_value(json_object_get(c->body, "audiocodec"));
    json_t *opts = json_pack("{s:s, s:s, s:s, s:s, s:b}", "audio_codec", ac ? ac : r->audio_codecs,
                             "video_codec", vc ? vc : r->video_codecs, "audio_direction",
                             "recvonly", "video_direction", "recvonly", "simulcast", 1);
    json_t *answer = room_core->jsep_answer(c->handle, opts);
    json_decref(opts);
    return answer;
}

static void announce_feed(room *r, room_member *m, room_feed *f)
{
    json_t *ev = json_pack("{s:s, s:I, s:[o]}", "videoroom", "event", "room", (json_int_t)r->id,
                           "publishers", room_feed_json(f));
    room_notify(r, m, ev);
    json_decref(ev);
}

void room_publisher_publish(room_call *c)
{
    room_member *m = c->member;
    if (!publish_checks(c))
        return;
    room *r = m->room;
    json_t *answer = answer_for(c, r);
    const char *sdp = json_string_value(json_object_get(answer, "sdp"));
    room_feed *f = sdp ? feed_from_answer(m, sdp, c->body) : NULL;
    if (f == NULL || f->stream_count == 0) {
        room_feed_unref(f);
        json_decref(answer);
        room_fail(c, ROOM_ERROR_INVALID_SDP, "The offer has no stream this room takes (%s, %s)",
                  r->audio_codecs, r->video_codecs);
        return;
    }
    json_t *bitrate = json_object_get(c->body, "bitrate");
    g_mutex_lock(&m->lock);
    m->feed = room_feed_ref(f);
    g_mutex_unlock(&m->lock);
    if (bitrate != NULL)
        f->bitrate = (uint64_t)json_integer_value(bitrate);
    json_t *mine = room_feed_json(f);
    json_t *ev = json_pack("{s:s, s:I, s:s, s:O}", "videoroom", "event", "room",
                           (json_int_t)r->id, "configured", "ok", "streams",
                           json_object_get(mine, "streams"));
    json_t *codec = json_object_get(mine, "audio_codec");
    if (codec)
        json_object_set(ev, "audio_codec", codec);
    if ((codec = json_object_get(mine, "video_codec")) != NULL)
        json_object_set(ev, "video_codec", codec);
    json_decref(mine);
    room_reply(c, ev, answer);
    json_decref(ev);
    json_decref(answer);
    announce_feed(r, m, f);
    ROOM_LOG(ODEON_LOG_VERBOSE, "room %" G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT
             " publishes %d streams", r->id, m->id, f->stream_count);
    room_feed_unref(f);
}

/* ---- configure ---- */

static void talking_notify(room_feed *f, bool talking, int average)
{
    json_t *ev = json_pack("{s:s, s:I, s:I, s:i}", "videoroom",
                           talking ? "talking" : "stopped-talking", "room", (json_int_t)f->room->id,
                           "id", (json_int_t)f->id, "audio-level-dBov-avg", -average);
    room_notify(f->room, NULL, ev);
    json_decref(ev);
}

static void talking_stop(room_feed *f)
{
    g_mutex_lock(&f->lock);
    bool was = f->talking;
    f->talking = false;
    f->audio_packets = f->audio_level_sum = 0;
    g_mutex_unlock(&f->lock);
    if (was)
        talking_notify(f, false, 127);
}

/* Sets stream i's own mute (send false) and its moderation (-1: as it is), and tells the room
 * when either changed: "muted" is what subscribers get (neither means media flows). */
static void stream_set(room *r, room_feed *f, int i, int muted, int moderated)
{
    g_mutex_lock(&f->lock);
    struct room_feed_stream *s = &f->streams[i];
    bool was_muted = s->muted, was_moderated = s->moderated;
    if (muted >= 0)
        s->muted = muted;
    if (moderated >= 0)
        s->moderated = moderated;
    bool was = was_muted || was_moderated, now = s->muted || s->moderated;
    bool changed = was_muted != s->muted || was_moderated != s->moderated;
    bool is_moderated = s->moderated;
    g_mutex_unlock(&f->lock);
    if (!changed)
        return;
    json_t *ev = json_pack("{s:s, s:I, s:I, s:s, s:s, s:b, s:b}", "videoroom", "muted", "room",
                           (json_int_t)r->id, "id", (json_int_t)f->id, "mid", s->media.mid,
                           "type", s->media.video ? "video" : "audio", "muted", now, "moderated",
                           is_moderated);
    room_notify(r, NULL, ev);
    json_decref(ev);
    if (was && !now && s->media.video)
        room_core->request_keyframe(f->handle, s->media.index);
    if (now && !s->media.video)
        talking_stop(f); /* a muted member is not talking, whatever its microphone hears */
}

void room_publisher_moderate(room *r, uint64_t id, const char *mid, bool mute)
{
    g_mutex_lock(&r->lock);
    room_member *m = g_hash_table_lookup(r->members, &id);
    if (m != NULL)
        room_member_ref(m);
    g_mutex_unlock(&r->lock);
    if (m == NULL)
        return; /* left meanwhile */
    g_mutex_lock(&r->lock);
    GHashTable *mids = m->subject ? g_hash_table_lookup(r->moderated, m->subject) : NULL;
    if (mids == NULL && mute && m->subject != NULL) {
        mids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_insert(r->moderated, g_strdup(m->subject), mids);
    }
    if (mids != NULL && mute)
        g_hash_table_add(mids, g_strdup(mid));
    else if (mids != NULL)
        g_hash_table_remove(mids, mid);
    g_mutex_unlock(&r->lock);
    g_mutex_lock(&m->lock);
    room_feed *f = m->feed != NULL ? room_feed_ref(m->feed) : NULL;
    g_mutex_unlock(&m->lock);
    for (int i = 0; f != NULL && i < f->stream_count; i++)
        if (strcmp(f->streams[i].media.mid, mid) == 0)
            stream_set(r, f, i, -1, mute);
    room_feed_unref(f);
    room_member_unref(m);
}

static bool configure_checks(room_call *c)
{
    static const char *const bools[] = {"audio", "video", "keyframe"};
    for (size_t i = 0; i < G_N_ELEMENTS(bools); i++) {
        json_t *v = json_object_get(c->body, bools[i]);
        if (v != NULL && !json_is_boolean(v)) {
            room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Invalid element (%s: a boolean)", bools[i]);
            return false;
        }
    }
    json_t *streams = json_object_get(c->body, "streams");
    if (streams != NULL && !json_is_array(streams)) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Invalid element (streams: an array)");
        return false;
    }
    return bitrate_ok(c);
}

static void configure_streams(room_member *m, room_feed *f, json_t *body)
{
    for (int kind = 0; kind < 2; kind++) {
        json_t *v = json_object_get(body, kind ? "video" : "audio");
        for (int i = 0; v != NULL && i < f->stream_count; i++)
            if (f->streams[i].media.video == (kind == 1))
                stream_set(m->room, f, i, !json_is_true(v), -1);
    }
    json_t *streams = json_object_get(body, "streams");
    for (size_t k = 0; k < json_array_size(streams); k++) {
        json_t *s = json_array_get(streams, k);
        const char *mid = json_string_value(json_object_get(s, "mid"));
        json_t *send = json_object_get(s, "send");
        for (int i = 0; mid != NULL && json_is_boolean(send) && i < f->stream_count; i++)
            if (strcmp(f->streams[i].media.mid, mid) == 0)
                stream_set(m->room, f, i, !json_is_true(send), -1);
    }
}

void room_publisher_configure(room_call *c)
{
    room_member *m = c->member;
    if (m->kind != MEMBER_PUBLISHER) {
        room_fail(c, ROOM_ERROR_JOIN_FIRST, "Join the room as a publisher first");
        return;
    }
    if (!configure_checks(c))
        return;
    if (c->jsep != NULL) {
        /* A new offer: the feed starts over with the streams it now has (a screen share
         * added, a camera removed); subscribers see it go and come back. */
        if (m->feed != NULL)
            room_publisher_stop_feed(m);
        room_publisher_publish(c);
        return;
    }
    room_feed *f = m->feed;
    if (f != NULL) {
        configure_streams(m, f, c->body);
        json_t *bitrate = json_object_get(c->body, "bitrate");
        if (bitrate != NULL) {
            f->bitrate = (uint64_t)json_integer_value(bitrate);
            f->last_remb_us = 0;
        }
        if (json_is_true(json_object_get(c->body, "keyframe")))
            room_core->request_keyframe(m->handle, -1);
    }
    const char *display = json_string_value(json_object_get(c->body, "display"));
    if (display != NULL && strlen(display) <= 100) {
        g_mutex_lock(&m->lock);
        g_free(m->display);
        m->display = g_strdup(display);
        g_mutex_unlock(&m->lock);
    }
    json_t *ev = json_pack("{s:s, s:I, s:s}", "videoroom", "event", "room",
                           (json_int_t)m->room->id, "configured", "ok");
    room_reply(c, ev, NULL);
    json_decref(ev);
}

/* ---- unpublish and leave ---- */

void room_publisher_stop_feed(room_member *m)
{
    g_mutex_lock(&m->lock);
    room_feed *f = m->feed;
    m->feed = NULL;
    g_mutex_unlock(&m->lock);
    if (f == NULL)
        return;
    g_mutex_lock(&f->lock);
    f->active = false;
    g_mutex_unlock(&f->lock);
    room_subscribers_feed_gone(m->room, f);
    json_t *ev = json_pack("{s:s, s:I, s:I}", "videoroom", "event", "room",
                           (json_int_t)m->room->id, "unpublished", (json_int_t)f->id);
    room_notify(m->room, m, ev);
    json_decref(ev);
    room_feed_unref(f);
}

void room_publisher_unpublish(room_call *c)
{
    room_member *m = c->member;
    if (m->kind != MEMBER_PUBLISHER) {
        room_fail(c, ROOM_ERROR_JOIN_FIRST, "Join the room as a publisher first");
        return;
    }
    if (m->feed == NULL) {
        room_fail(c, ROOM_ERROR_NOT_PUBLISHED, "Can't unpublish, not published");
        return;
    }
    room_publisher_stop_feed(m);
    room_core->close_pc(m->handle);
    json_t *ev = json_pack("{s:s, s:I, s:s}", "videoroom", "event", "room",
                           (json_int_t)m->room->id, "unpublished", "ok");
    room_reply(c, ev, NULL);
    json_decref(ev);
}

void room_publisher_leave(room_member *m, bool reply_event)
{
    if (m->kind != MEMBER_PUBLISHER || m->room == NULL)
        return;
    room *r = m->room;
    room_publisher_stop_feed(m);
    g_mutex_lock(&r->lock);
    room_member *held = g_hash_table_lookup(r->members, &m->id) == m ? room_member_ref(m) : NULL;
    if (held != NULL)
        g_hash_table_remove(r->members, &m->id);
    g_mutex_unlock(&r->lock);
    json_t *ev = json_pack("{s:s, s:I, s:I}", "videoroom", "event", "room", (json_int_t)r->id,
                           "leaving", (json_int_t)m->id);
    room_notify(r, m, ev);
    json_decref(ev);
    if (reply_event) {
        json_t *mine = json_pack("{s:s, s:I, s:s}", "videoroom", "event", "room",
                                 (json_int_t)r->id, "leaving", "ok");
        room_core->push_event(m->handle, NULL, mine, NULL);
        json_decref(mine);
    }
    g_mutex_lock(&m->lock);
    m->kind = MEMBER_NONE;
    m->room = NULL;
    g_mutex_unlock(&m->lock);
    ROOM_LOG(ODEON_LOG_VERBOSE, "room %" G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT " left", r->id,
             m->id);
    room_member_unref(held);
    room_unref(r);
}

/* ---- media: the feed's packets (publisher's loop) ---- */

static int stream_of(room_feed *f, int mindex)
{
    for (int i = 0; i < f->stream_count; i++)
        if (f->streams[i].media.index == mindex)
            return i;
    return -1;
}

/* Adds one audio level to the average over audio_active_packets packets (muted audio does
 * not count): true when the member starts or stops talking (*average set). Under f->lock. */
static bool talking_account(room_feed *f, const struct room_feed_stream *s, int level,
                            int *average)
{
    if (level < 0 || s->muted || s->moderated)
        return false;
    f->audio_level_sum += level;
    if (++f->audio_packets < room_conf.audio_active_packets)
        return false;
    *average = f->audio_level_sum / f->audio_packets;
    f->audio_packets = f->audio_level_sum = 0;
    bool talking = *average <= room_conf.audio_level_average;
    bool changed = talking != f->talking;
    f->talking = talking;
    return changed;
}

#define WAKE_MAX 64 /* subscriptions woken per packet at most (a room has 21 members) */

/* Writes the packet into its stream's ring (the extension block rewritten on the way),
 * accounts its audio level, and collects the subscriptions to wake, with a reference each;
 * returns how many. *talking_changed when the member started or stopped talking. One lock
 * for all of it. */
static int ring_write(room_feed *f, int si, const odeon_media_packet *packet, int level,
                      room_sub **wake, bool *talking_changed, int *average)
{
    int n = 0;
    struct room_feed_stream *s = &f->streams[si];
    g_mutex_lock(&f->lock);
    *talking_changed = talking_account(f, s, level, average);
    if (!f->active || s->muted || s->moderated) {
        g_mutex_unlock(&f->lock);
        return 0;
    }
    room_ring_entry *e = &s->ring[s->head & (s->ring_size - 1)];
    size_t len = room_rtp_normalize(packet->data, packet->len, level, e->data, sizeof e->data);
    if (len == 0) {
        g_mutex_unlock(&f->lock);
        return 0;
    }
    e->len = (uint16_t)len;
    e->substream = (int8_t)(packet->substream < 0 ? 0 : packet->substream);
    e->arrival_us = (int64_t)packet->arrival_us;
    if (s->layered)
        stage_layer_stats_packet(&s->stats, e->substream, e->data, len, e->arrival_us);
    s->head++;
    for (guint i = 0; i < s->slots->len && n < WAKE_MAX; i++) {
        room_slot *slot = g_ptr_array_index(s->slots, i);
        if (slot->ready)
            wake[n++] = room_sub_ref(slot->sub);
    }
    g_mutex_unlock(&f->lock);
    return n;
}

static void remb_maybe(room_member *m, room_feed *f, int64_t now)
{
    /* The room's cap, or the publisher's own when lower. */
    uint64_t cap = f->room->bitrate;
    if (f->bitrate != 0 && (cap == 0 || f->bitrate < cap))
        cap = f->bitrate;
    if (cap == 0 || now - f->last_remb_us < REMB_INTERVAL_US)
        return;
    f->last_remb_us = now;
    room_core->send_remb(m->handle, cap);
}

void room_publisher_rtp(room_member *m, odeon_media_packet *packet)
{
    g_mutex_lock(&m->lock);
    room_feed *f = m->feed ? room_feed_ref(m->feed) : NULL;
    g_mutex_unlock(&m->lock);
    if (f == NULL)
        return;
    int si = stream_of(f, packet->mindex);
    if (si < 0 || packet->len > ROOM_PACKET_MAX) {
        room_feed_unref(f);
        return;
    }
    struct room_feed_stream *s = &f->streams[si];
    int level = -1;
    if (!s->media.video && s->media.audio_level_ext > 0)
        level = room_rtp_audio_level(packet->data, packet->len, s->media.audio_level_ext);
    room_sub *wake[WAKE_MAX];
    bool talking_changed = false;
    int average = 0;
    int n = ring_write(f, si, packet, level, wake, &talking_changed, &average);
    room_subscribers_wake(wake, n);
    if (talking_changed)
        talking_notify(f, average <= room_conf.audio_level_average, average);
    remb_maybe(m, f, (int64_t)packet->arrival_us);
    room_feed_unref(f);
}
