/*
 * room_subscriber.c - a member's subscription: one peer connection whose m-lines ("slots")
 * each carry one stream of another member's feed. Joining as a subscriber, "subscribe" and
 * "unsubscribe" (and a feed that goes) change the slots and send a new offer ("attached",
 * then "updated"); "start" carries the answer. An m-line whose stream went stays, inactive,
 * and is reused by the next stream of its kind, so m-line order never changes (as JSEP wants)
 * and the connection does not grow without end. The drain (room_sub_drain) runs on the
 * subscriber connection's own media loop when a feed it reads has new packets: it reads each
 * slot's new entries from the feed's ring, rewrites them under the feed's lock (so a slot that
 * changes feed continues its numbering) and sends them in one batch.
 */
#include "room.h"

#include <stdlib.h>
#include <string.h>

#include "room_rtp.h"
#include "webrtc/bytes.h"

#define RETARGET_INTERVAL_US 100000

static gint drains_pending; /* wakes queued on a loop and not run yet (atomic) */

room_sub *room_sub_ref(room_sub *s)
{
    g_atomic_int_inc(&s->refs);
    return s;
}

/* ---- slots ---- */

static void slot_attach(room_slot *slot, room_feed *f, int stream)
{
    struct room_feed_stream *fs = &f->streams[stream];
    g_mutex_lock(&slot->sub->lock);
    slot->feed = room_feed_ref(f);
    slot->feed_stream = stream;
    slot->media = fs->media;
    slot->video = fs->media.video;
    g_mutex_unlock(&slot->sub->lock);
    g_mutex_lock(&f->lock);
    g_atomic_pointer_set(&slot->attached, f);
    slot->pos_valid = false;
    slot->ready = false;
    slot->send = true;
    if (fs->layered) {
        /* A reused m-line continues its numbering from where the last stream left it. */
        if (stage_layer_viewer_has_sent(&slot->layers) && slot->layers.codec == fs->codec)
            stage_layer_viewer_restart(&slot->layers);
        else
            stage_layer_viewer_init(&slot->layers, fs->codec, 0);
    }
    slot->audio_restart = true;
    slot->last_retarget_us = 0;
    g_ptr_array_add(fs->slots, slot);
    g_mutex_unlock(&f->lock);
}

static void slot_detach(room_slot *slot);

void room_sub_unref(room_sub *s)
{
    if (s == NULL || !g_atomic_int_dec_and_test(&s->refs))
        return;
    for (int i = 0; i < s->slot_count; i++) {
        slot_detach(s->slots[i]); /* normally done by leave; nothing is left fed after this */
        g_free(s->slots[i]);
    }
    room_core->handle_unref(s->handle);
    room_unref(s->room);
    g_mutex_clear(&s->lock);
    g_free(s);
}

static void slot_detach(room_slot *slot)
{
    room_feed *f = slot->feed;
    if (f == NULL)
        return;
    g_mutex_lock(&f->lock);
    g_ptr_array_remove_fast(f->streams[slot->feed_stream].slots, slot);
    g_atomic_pointer_set(&slot->attached, NULL);
    slot->ready = false;
    g_mutex_unlock(&f->lock);
    g_mutex_lock(&slot->sub->lock);
    slot->feed = NULL;
    g_mutex_unlock(&slot->sub->lock);
    room_feed_unref(f);
}

/* A slot for a stream of this kind: an inactive one, or a new m-line. NULL when full. */
static room_slot *slot_for(room_sub *s, bool video)
{
    for (int i = 0; i < s->slot_count; i++)
        if (s->slots[i]->feed == NULL && s->slots[i]->video == video)
            return s->slots[i];
    if (s->slot_count >= ROOM_SUB_MAX_SLOTS)
        return NULL;
    room_slot *slot = g_new0(room_slot, 1);
    slot->sub = s;
    slot->mindex = s->slot_count;
    slot->video = video;
    g_mutex_lock(&s->lock);
    s->slots[s->slot_count++] = slot;
    g_mutex_unlock(&s->lock);
    return slot;
}

static bool slot_carries(room_sub *s, room_feed *f, int stream)
{
    for (int i = 0; i < s->slot_count; i++)
        if (s->slots[i]->feed == f && s->slots[i]->feed_stream == stream)
            return true;
    return false;
}

/* ---- what a request asks for ---- */

/* The feed of id in r (a reference), or NULL when it is not published. */
static room_feed *feed_lookup(room *r, uint64_t id)
{
    room_feed *f = NULL;
    g_mutex_lock(&r->lock);
    room_member *m = g_hash_table_lookup(r->members, &id);
    if (m != NULL) {
        g_mutex_lock(&m->lock);
        if (m->feed != NULL && m->feed->active)
            f = room_feed_ref(m->feed);
        g_mutex_unlock(&m->lock);
    }
    g_mutex_unlock(&r->lock);
    return f;
}

typedef struct wanted_stream {
    room_feed *feed; /* reference */
    int stream;
} wanted_stream;

static void wanted_clear(GArray *w)
{
    for (guint i = 0; i < w->len; i++)
        room_feed_unref(g_array_index(w, wanted_stream, i).feed);
    g_array_unref(w);
}

/* Adds the streams of f that `mid` names (NULL: all of them). */
static bool wanted_add(GArray *w, room_feed *f, const char *mid)
{
    bool any = false;
    for (int i = 0; i < f->stream_count; i++)
        if (mid == NULL || strcmp(f->streams[i].media.mid, mid) == 0) {
            wanted_stream ws = {room_feed_ref(f), i};
            g_array_append_val(w, ws);
            any = true;
        }
    return any;
}

/* The streams `list` names ([{"feed", "mid"?}], `key` in errors), or with legacy the one feed
 * of Janus 0.x's "feed". NULL after answering an error (nothing is changed then). */
static GArray *wanted_list(room_call *c, room *r, json_t *list, const char *key,
                           const uint64_t *legacy)
{
    GArray *w = g_array_new(FALSE, FALSE, sizeof(wanted_stream));
    size_t n = legacy != NULL ? 1 : json_array_size(list);
    for (size_t i = 0; i < n; i++) {
        json_t *item = legacy == NULL ? json_array_get(list, i) : NULL;
        uint64_t id = legacy != NULL ? *legacy : 0;
        const char *mid = item ? json_string_value(json_object_get(item, "mid")) : NULL;
        if (item != NULL && !room_body_id(item, "feed", &id)) {
            room_fail(c, ROOM_ERROR_MISSING_ELEMENT, "Missing element (%s[%zu].feed)", key, i);
            wanted_clear(w);
            return NULL;
        }
        room_feed *f = feed_lookup(r, id);
        bool found = f != NULL && wanted_add(w, f, mid);
        room_feed_unref(f);
        if (!found) {
            room_fail(c, ROOM_ERROR_NO_SUCH_FEED, "No such feed (%" G_GUINT64_FORMAT "%s%s)", id,
                      mid ? ", mid " : "", mid ? mid : "");
            wanted_clear(w);
            return NULL;
        }
    }
    return w;
}

/* The streams a join or subscribe names: "streams": [{"feed", "mid"}] or the legacy "feed".
 * NULL after answering an error (nothing is changed then). */
static GArray *wanted_streams(room_call *c, room *r)
{
    json_t *list = json_object_get(c->body, "streams");
    uint64_t legacy;
    bool has_legacy = room_body_id(c->body, "feed", &legacy);
    if (!json_is_array(list) && !has_legacy) {
        room_fail(c, ROOM_ERROR_MISSING_ELEMENT, "Missing element (streams or feed)");
        return NULL;
    }
    return wanted_list(c, r, list, "streams", json_is_array(list) ? NULL : &legacy);
}

/* ---- offers ---- */

static json_t *offer_stream(room_slot *slot)
{
    const room_sdp_media *m = &slot->media;
    bool known = m->codec[0] != '\0';
    json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:s}", "kind", slot->video ? "video" : "audio",
                          "codec", known ? m->codec : (slot->video ? "VP8" : "opus"), "pt",
                          known ? m->pt : (slot->video ? 96 : 111), "clock_rate",
                          known && m->clock_rate ? (int)m->clock_rate
                                                 : (slot->video ? 90000 : 48000),
                          "direction", slot->feed ? "sendonly" : "inactive");
    if (known && m->fmtp[0] != '\0')
        json_object_set_new(j, "fmtp", json_string(m->fmtp));
    if (known && m->rtx_pt >= 0)
        json_object_set_new(j, "rtx_pt", json_integer(m->rtx_pt));
    if (slot->feed != NULL) {
        char *id = g_strdup_printf("feed%" G_GUINT64_FORMAT, slot->feed->id);
        json_object_set_new(j, "stream_id", json_string(id));
        g_free(id);
    }
    return j;
}

static json_t *streams_json(room_sub *s)
{
    json_t *list = json_array();
    for (int i = 0; i < s->slot_count; i++) {
        room_slot *slot = s->slots[i];
        char mid[12];
        g_snprintf(mid, sizeof mid, "%d", slot->mindex);
        json_t *j = json_pack("{s:i, s:s, s:s, s:b}", "mindex", slot->mindex, "mid", mid, "type",
                              slot->video ? "video" : "audio", "active", slot->feed != NULL);
        if (slot->feed != NULL) {
            json_object_set_new(j, "feed_id", json_integer((json_int_t)slot->feed->id));
            json_object_set_new(j, "feed_mid", json_string(slot->media.mid));
            json_object_set_new(j, "codec", json_string(slot->media.codec));
            json_object_set_new(j, "send", json_boolean(slot->send));
            if (slot->feed->display)
                json_object_set_new(j, "feed_display", json_string(slot->feed->display));
            const char *d = slot->feed->streams[slot->feed_stream].description;
            if (d)
                json_object_set_new(j, "feed_description", json_string(d));
        }
        json_array_append_new(list, j);
    }
    return list;
}

/* Our SSRC on each m-line, from the offer: the subscriber's PLIs name them. */
static void learn_ssrcs(room_sub *s, json_t *jsep)
{
    room_sdp_media media[ROOM_SDP_MAX_MEDIA];
    size_t n = room_sdp_read(json_string_value(json_object_get(jsep, "sdp")), media,
                             G_N_ELEMENTS(media));
    g_mutex_lock(&s->lock);
    for (size_t i = 0; i < n && (int)i < s->slot_count; i++)
        s->slots[i]->ssrc = media[i].ssrc;
    g_mutex_unlock(&s->lock);
}

/* A new offer for the subscription's slots, pushed as `event_name` ("attached", "updated");
 * with the call's transaction when there is a call. */
static void offer_send(room_sub *s, room_call *c, const char *event_name)
{
    json_t *streams = json_array();
    for (int i = 0; i < s->slot_count; i++)
        json_array_append_new(streams, offer_stream(s->slots[i]));
    json_t *opts = json_pack("{s:o}", "streams", streams);
    json_t *jsep = room_core->jsep_offer(s->handle, opts);
    json_decref(opts);
    if (jsep == NULL) {
        if (c != NULL)
            room_fail(c, ROOM_ERROR_UNKNOWN, "Cannot make an offer for these streams");
        return;
    }
    learn_ssrcs(s, jsep);
    json_t *ev = json_pack("{s:s, s:I, s:o}", "videoroom", event_name, "room",
                           (json_int_t)s->room->id, "streams", streams_json(s));
    room_feed *single = s->slot_count > 0 ? s->slots[0]->feed : NULL;
    if (single != NULL && strcmp(event_name, "attached") == 0) {
        /* Janus 0.x's single-feed subscribers read the feed's id and display here. */
        json_object_set_new(ev, "id", json_integer((json_int_t)single->id));
        if (single->display)
            json_object_set_new(ev, "display", json_string(single->display));
    }
    if (c != NULL)
        room_reply(c, ev, jsep);
    else
        room_core->push_event(s->handle, NULL, ev, jsep);
    s->offered = s->awaiting = true;
    s->pending = false;
    json_decref(ev);
    json_decref(jsep);
}

/* The streams changed: a new offer now, or once the peer answered the one it has (two
 * offers in flight would cross: the answer to the first would meet the second). A request
 * is answered at once with "updating" and the streams, as Janus does, and the offer follows
 * as an "updated" event. */
static void renegotiate(room_sub *s, room_call *c)
{
    if (!s->awaiting) {
        offer_send(s, c, "updated");
        return;
    }
    s->pending = true;
    if (c != NULL) {
        json_t *ev = json_pack("{s:s, s:I, s:o}", "videoroom", "updating", "room",
                               (json_int_t)s->room->id, "streams", streams_json(s));
        room_reply(c, ev, NULL);
        json_decref(ev);
    }
}

/* ---- requests ---- */

/* Puts the wanted streams in slots; false (and an error answered) when they do not fit, with
 * `freed` more slots about to be released. */
static bool slots_fit(room_call *c, room_sub *s, GArray *w, int freed)
{
    int free_slots = ROOM_SUB_MAX_SLOTS - s->slot_count + freed;
    for (int i = 0; i < s->slot_count; i++)
        free_slots += s->slots[i]->feed == NULL;
    if ((int)w->len > free_slots) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Too many streams for one subscription (%d)",
                  ROOM_SUB_MAX_SLOTS);
        return false;
    }
    return true;
}

static bool slots_fill(room_call *c, room_sub *s, GArray *w)
{
    if (!slots_fit(c, s, w, 0))
        return false;
    for (guint i = 0; i < w->len; i++) {
        wanted_stream *ws = &g_array_index(w, wanted_stream, i);
        if (slot_carries(s, ws->feed, ws->stream))
            continue;
        room_slot *slot = slot_for(s, ws->feed->streams[ws->stream].media.video);
        slot_attach(slot, ws->feed, ws->stream);
    }
    return true;
}

void room_subscriber_join(room_call *c, room *r)
{
    room_member *m = c->member;
    GArray *w = wanted_streams(c, r);
    if (w == NULL)
        return;
    room_sub *s = g_new0(room_sub, 1);
    s->refs = 1;
    g_mutex_init(&s->lock);
    s->member = m;
    s->handle = room_core->handle_ref(m->handle);
    s->room = room_ref(r);
    s->loop = -1;
    s->wake.fn = room_sub_drain;
    s->wake.data = s;
    room_core->handle_media_loop_prefer(s->handle, r->loop); /* before our offer */
    if (!slots_fill(c, s, w)) {
        wanted_clear(w);
        room_sub_unref(s);
        return;
    }
    wanted_clear(w);
    g_mutex_lock(&m->lock);
    m->kind = MEMBER_SUBSCRIBER;
    m->room = room_ref(r);
    m->sub = s;
    g_mutex_unlock(&m->lock);
    g_mutex_lock(&r->lock);
    g_ptr_array_add(r->subs, room_sub_ref(s));
    g_mutex_unlock(&r->lock);
    offer_send(s, c, "attached");
}

static room_sub *sub_of(room_call *c)
{
    if (c->member->kind != MEMBER_SUBSCRIBER || c->member->sub == NULL) {
        room_fail(c, ROOM_ERROR_JOIN_FIRST, "Join the room as a subscriber first");
        return NULL;
    }
    return c->member->sub;
}

void room_subscriber_subscribe(room_call *c)
{
    room_sub *s = sub_of(c);
    if (s == NULL)
        return;
    GArray *w = wanted_streams(c, s->room);
    if (w == NULL)
        return;
    bool ok = slots_fill(c, s, w);
    wanted_clear(w);
    if (ok)
        renegotiate(s, c);
}

/* Whether an "unsubscribe" item names the slot: {"feed"[, "mid"]} or {"sub_mid"}. */
static bool item_names(json_t *item, room_slot *slot)
{
    const char *sub_mid = json_string_value(json_object_get(item, "sub_mid"));
    if (sub_mid != NULL)
        return atoi(sub_mid) == slot->mindex && g_ascii_isdigit(sub_mid[0]);
    uint64_t feed;
    if (slot->feed == NULL || !room_body_id(item, "feed", &feed) || feed != slot->feed->id)
        return false;
    const char *mid = json_string_value(json_object_get(item, "mid"));
    return mid == NULL || strcmp(mid, slot->media.mid) == 0;
}

/* Detaches (or with dry_run only counts) the active slots that an item of list names. */
static int slots_release(room_sub *s, json_t *list, bool dry_run)
{
    int count = 0;
    for (int i = 0; i < s->slot_count; i++)
        for (size_t k = 0; k < json_array_size(list); k++)
            if (s->slots[i]->feed != NULL && item_names(json_array_get(list, k), s->slots[i])) {
                if (!dry_run)
                    slot_detach(s->slots[i]);
                count++;
                break;
            }
    return count;
}

void room_subscriber_unsubscribe(room_call *c)
{
    room_sub *s = sub_of(c);
    if (s == NULL)
        return;
    json_t *list = json_object_get(c->body, "streams");
    if (!json_is_array(list)) {
        room_fail(c, ROOM_ERROR_MISSING_ELEMENT, "Missing element (streams)");
        return;
    }
    slots_release(s, list, false);
    renegotiate(s, c);
}

/* "update": {"subscribe": [...], "unsubscribe": [...]} in one renegotiation; the unsubscribed
 * m-lines are free for the subscribed streams. */
void room_subscriber_update(room_call *c)
{
    room_sub *s = sub_of(c);
    if (s == NULL)
        return;
    json_t *add = json_object_get(c->body, "subscribe");
    json_t *drop = json_object_get(c->body, "unsubscribe");
    if ((add != NULL && !json_is_array(add)) || (drop != NULL && !json_is_array(drop))) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Invalid element (subscribe, unsubscribe: arrays)");
        return;
    }
    if (add == NULL && drop == NULL) {
        room_fail(c, ROOM_ERROR_MISSING_ELEMENT, "Missing element (subscribe or unsubscribe)");
        return;
    }
    GArray *w = wanted_list(c, s->room, add, "subscribe", NULL);
    if (w == NULL)
        return;
    if (!slots_fit(c, s, w, slots_release(s, drop, true))) {
        wanted_clear(w);
        return;
    }
    slots_release(s, drop, false);
    slots_fill(c, s, w);
    wanted_clear(w);
    renegotiate(s, c);
}

/* One "switch" item: the m-line sub_mid names and the feed stream to pipe into it. */
typedef struct switch_item {
    room_slot *slot;
    room_feed *feed; /* reference */
    int stream;
} switch_item;

/* Reads streams[i] of a switch; false after answering an error. */
static bool switch_item_read(room_call *c, room_sub *s, json_t *item, size_t i, switch_item *out)
{
    const char *sub_mid = json_string_value(json_object_get(item, "sub_mid"));
    const char *mid = json_string_value(json_object_get(item, "mid"));
    uint64_t id;
    if (sub_mid == NULL || mid == NULL || !room_body_id(item, "feed", &id)) {
        room_fail(c, ROOM_ERROR_MISSING_ELEMENT, "Missing element (streams[%zu]: feed, mid, sub_mid)",
                  i);
        return false;
    }
    out->slot = NULL;
    for (int k = 0; k < s->slot_count && g_ascii_isdigit(sub_mid[0]); k++)
        if (atoi(sub_mid) == s->slots[k]->mindex)
            out->slot = s->slots[k];
    if (out->slot == NULL) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "No such m-line in this subscription (sub_mid %s)",
                  sub_mid);
        return false;
    }
    out->feed = feed_lookup(s->room, id);
    out->stream = -1;
    for (int k = 0; out->feed != NULL && k < out->feed->stream_count; k++)
        if (strcmp(out->feed->streams[k].media.mid, mid) == 0)
            out->stream = k;
    if (out->stream < 0) {
        room_fail(c, ROOM_ERROR_NO_SUCH_FEED, "No such feed (%" G_GUINT64_FORMAT ", mid %s)", id, mid);
        room_feed_unref(out->feed);
        return false;
    }
    if (out->feed->streams[out->stream].media.video != out->slot->video) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Cannot switch a%s m-line to %s (sub_mid %s)",
                  out->slot->video ? " video" : "n audio", out->slot->video ? "audio" : "video",
                  sub_mid);
        room_feed_unref(out->feed);
        return false;
    }
    return true;
}

/* Whether media in format b plays on an m-line negotiated for a. */
static bool same_format(const room_sdp_media *a, const room_sdp_media *b)
{
    return a->pt == b->pt && a->clock_rate == b->clock_rate && a->rtx_pt == b->rtx_pt &&
           g_ascii_strcasecmp(a->codec, b->codec) == 0 && strcmp(a->fmtp, b->fmtp) == 0;
}

/* Pipes another feed stream into an m-line. Returns true when the peer must be offered again:
 * the m-line was inactive, or the new stream's format is not the one it negotiated. */
static bool slot_switch(room_slot *slot, room_feed *f, int stream)
{
    bool active = slot->feed != NULL;
    bool renegotiate_needed = !active || !same_format(&slot->media, &f->streams[stream].media);
    bool ready = false, send = true;
    if (active) {
        g_mutex_lock(&slot->feed->lock);
        ready = slot->ready;
        send = slot->send;
        g_mutex_unlock(&slot->feed->lock);
        slot_detach(slot);
    }
    slot_attach(slot, f, stream);
    if (renegotiate_needed)
        return true; /* "start" with the answer makes it ready */
    g_mutex_lock(&f->lock);
    slot->ready = ready;
    slot->send = send;
    g_mutex_unlock(&f->lock);
    if (ready && send && slot->video)
        room_core->request_keyframe(f->handle, slot->media.index);
    return false;
}

/* Janus 0.x's "switch": {"feed"}: a single-feed subscription moves to another publisher, its
 * n-th audio and video m-lines to that feed's n-th audio and video streams. */
static void switch_legacy(room_call *c, room_sub *s, uint64_t id)
{
    room_feed *f = feed_lookup(s->room, id);
    if (f == NULL) {
        room_fail(c, ROOM_ERROR_NO_SUCH_FEED, "No such feed (%" G_GUINT64_FORMAT ")", id);
        return;
    }
    int changes = 0;
    bool offer = false;
    int seen[2] = {0, 0}; /* audio, video m-lines so far */
    for (int i = 0; i < s->slot_count; i++) {
        room_slot *slot = s->slots[i];
        int nth = seen[slot->video]++, stream = -1;
        for (int k = 0; k < f->stream_count && stream < 0; k++)
            if (f->streams[k].media.video == slot->video && nth-- == 0)
                stream = k;
        if (stream < 0 || (slot->feed == f && slot->feed_stream == stream))
            continue;
        offer |= slot_switch(slot, f, stream);
        changes++;
    }
    json_t *ev = json_pack("{s:s, s:s, s:I, s:I, s:i, s:o}", "videoroom", "event", "switched",
                           "ok", "room", (json_int_t)s->room->id, "id", (json_int_t)f->id,
                           "changes", changes, "streams", streams_json(s));
    if (f->display)
        json_object_set_new(ev, "display", json_string(f->display));
    room_feed_unref(f);
    room_reply(c, ev, NULL);
    json_decref(ev);
    if (offer)
        renegotiate(s, NULL);
}

/* "switch": {"streams": [{"feed", "mid", "sub_mid"}]}: m-lines of the subscription carry
 * other feeds' streams from now on, without a renegotiation where the format is the same
 * (Janus VideoRoom's "changing channel"). All items are checked before anything changes. */
void room_subscriber_switch(room_call *c)
{
    room_sub *s = sub_of(c);
    if (s == NULL)
        return;
    json_t *list = json_object_get(c->body, "streams");
    uint64_t legacy;
    if (!json_is_array(list) && room_body_id(c->body, "feed", &legacy)) {
        switch_legacy(c, s, legacy);
        return;
    }
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0) {
        room_fail(c, ROOM_ERROR_MISSING_ELEMENT, "Missing element (streams or feed)");
        return;
    }
    if (n > ROOM_SUB_MAX_SLOTS) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Too many streams to switch (%d at most)",
                  ROOM_SUB_MAX_SLOTS);
        return;
    }
    switch_item items[ROOM_SUB_MAX_SLOTS];
    size_t read = 0;
    for (; read < n; read++)
        if (!switch_item_read(c, s, json_array_get(list, read), read, &items[read]))
            break;
    int changes = 0;
    bool offer = false;
    for (size_t i = 0; i < read; i++) {
        switch_item *it = &items[i];
        bool same = it->slot->feed == it->feed && it->slot->feed_stream == it->stream;
        if (read == n && !same) {
            offer |= slot_switch(it->slot, it->feed, it->stream);
            changes++;
        }
        room_feed_unref(it->feed);
    }
    if (read < n)
        return; /* answered by switch_item_read */
    json_t *ev = json_pack("{s:s, s:s, s:I, s:i, s:o}", "videoroom", "event", "switched", "ok",
                           "room", (json_int_t)s->room->id, "changes", changes, "streams",
                           streams_json(s));
    room_reply(c, ev, NULL);
    json_decref(ev);
    if (offer)
        renegotiate(s, NULL);
}

void room_subscriber_start(room_call *c)
{
    room_sub *s = sub_of(c);
    if (s == NULL)
        return;
    const char *type = json_string_value(json_object_get(c->jsep, "type"));
    if (c->jsep != NULL && (type == NULL || strcmp(type, "answer") != 0)) {
        room_fail(c, ROOM_ERROR_INVALID_SDP_TYPE, "Starting needs the SDP answer to our offer");
        return;
    }
    /* The connection stays on its loop for its whole life: its drain runs there. */
    g_atomic_int_set(&s->loop, room_core->handle_media_loop(s->handle));
    for (int i = 0; i < s->slot_count; i++) {
        room_slot *slot = s->slots[i];
        room_feed *f = slot->feed;
        if (f == NULL)
            continue;
        g_mutex_lock(&f->lock);
        bool was = slot->ready;
        slot->ready = true;
        if (!was)
            slot->pos_valid = false; /* from the newest packet on, nothing stale */
        g_mutex_unlock(&f->lock);
        if (!was && slot->video)
            room_core->request_keyframe(f->handle, slot->media.index);
    }
    json_t *ev = json_pack("{s:s, s:I, s:s}", "videoroom", "event", "room",
                           (json_int_t)s->room->id, "started", "ok");
    room_reply(c, ev, NULL);
    json_decref(ev);
    if (c->jsep != NULL) {
        s->awaiting = false;
        if (s->pending)
            offer_send(s, NULL, "updated");
    }
}

/* "pause": every stream stops until "start" (without a jsep) resumes them. */
void room_subscriber_pause(room_call *c)
{
    room_sub *s = sub_of(c);
    if (s == NULL)
        return;
    for (int i = 0; i < s->slot_count; i++) {
        room_slot *slot = s->slots[i];
        if (slot->feed == NULL)
            continue;
        g_mutex_lock(&slot->feed->lock);
        slot->ready = false;
        g_mutex_unlock(&slot->feed->lock);
    }
    json_t *ev = json_pack("{s:s, s:I, s:s}", "videoroom", "event", "room",
                           (json_int_t)s->room->id, "paused", "ok");
    room_reply(c, ev, NULL);
    json_decref(ev);
}

/* Applies one stream's settings: send, substream (0..2, 2 best), temporal. */
static void slot_configure(room_slot *slot, json_t *o)
{
    room_feed *f = slot->feed;
    if (f == NULL)
        return;
    json_t *send = json_object_get(o, "send");
    json_t *sub = json_object_get(o, "substream");
    json_t *temporal = json_object_get(o, "temporal");
    g_mutex_lock(&f->lock);
    bool resumed = json_is_true(send) && !slot->send;
    if (json_is_boolean(send))
        slot->send = json_is_true(send);
    if (slot->video && f->streams[slot->feed_stream].layered &&
        (json_is_integer(sub) || json_is_integer(temporal))) {
        int q = json_is_integer(sub) ? (int)json_integer_value(sub) : -1;
        int t = json_is_integer(temporal) ? (int)json_integer_value(temporal) : -1;
        stage_layer_viewer_prefer(&slot->layers, q < 0 || q > 2 ? -1 : q, t < 0 || t > 2 ? -1 : t);
        slot->last_retarget_us = 0;
    }
    g_mutex_unlock(&f->lock);
    if (resumed && slot->video)
        room_core->request_keyframe(f->handle, slot->media.index);
}

void room_subscriber_configure(room_call *c)
{
    room_sub *s = sub_of(c);
    if (s == NULL)
        return;
    json_t *list = json_object_get(c->body, "streams");
    if (list != NULL && !json_is_array(list)) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT, "Invalid element (streams: an array)");
        return;
    }
    /* A server-made ICE restart needs new local credentials in our offer, which the core does
     * not make: refused, so that a client does not wait for an offer that never comes. */
    if (json_is_true(json_object_get(c->body, "restart"))) {
        room_fail(c, ROOM_ERROR_INVALID_ELEMENT,
                  "An ICE restart of a subscription is not supported: join again");
        return;
    }
    for (size_t k = 0; k < json_array_size(list); k++) {
        json_t *item = json_array_get(list, k);
        const char *mid = json_string_value(json_object_get(item, "mid"));
        for (int i = 0; mid != NULL && i < s->slot_count; i++)
            if (atoi(mid) == s->slots[i]->mindex && g_ascii_isdigit(mid[0]))
                slot_configure(s->slots[i], item);
    }
    if (list == NULL) {
        /* Janus 0.x: "audio"/"video" and "substream"/"temporal" for the whole subscription. */
        for (int i = 0; i < s->slot_count; i++) {
            json_t *o = json_deep_copy(c->body);
            json_t *send = json_object_get(c->body, s->slots[i]->video ? "video" : "audio");
            json_object_del(o, "send");
            if (json_is_boolean(send))
                json_object_set(o, "send", send);
            slot_configure(s->slots[i], o);
            json_decref(o);
        }
    }
    json_t *ev = json_pack("{s:s, s:I, s:s}", "videoroom", "event", "room",
                           (json_int_t)s->room->id, "configured", "ok");
    room_reply(c, ev, NULL);
    json_decref(ev);
}

void room_subscriber_leave(room_member *m, room_call *c)
{
    room_sub *s = m->sub;
    if (m->kind != MEMBER_SUBSCRIBER || s == NULL)
        return;
    room *r = room_ref(s->room);
    for (int i = 0; i < s->slot_count; i++)
        slot_detach(s->slots[i]);
    g_mutex_lock(&r->lock);
    g_ptr_array_remove(r->subs, s);
    g_mutex_unlock(&r->lock);
    g_mutex_lock(&m->lock);
    m->kind = MEMBER_NONE;
    m->sub = NULL;
    room *joined = m->room;
    m->room = NULL;
    g_mutex_unlock(&m->lock);
    room_core->close_pc(m->handle);
    if (c != NULL) {
        json_t *ev = json_pack("{s:s, s:I, s:s}", "videoroom", "event", "room",
                               (json_int_t)r->id, "left", "ok");
        room_reply(c, ev, NULL);
        json_decref(ev);
    }
    room_sub_unref(s);
    room_unref(joined);
    room_unref(r);
}

void room_subscribers_feed_gone(room *r, room_feed *f)
{
    GPtrArray *subs = g_ptr_array_new_with_free_func((GDestroyNotify)room_sub_unref);
    g_mutex_lock(&r->lock);
    for (guint i = 0; i < r->subs->len; i++)
        g_ptr_array_add(subs, room_sub_ref(g_ptr_array_index(r->subs, i)));
    g_mutex_unlock(&r->lock);
    for (guint i = 0; i < subs->len; i++) {
        room_sub *s = g_ptr_array_index(subs, i);
        bool changed = false;
        for (int k = 0; k < s->slot_count; k++)
            if (s->slots[k]->feed == f) {
                slot_detach(s->slots[k]);
                changed = true;
            }
        if (changed && s->offered)
            renegotiate(s, NULL);
    }
    g_ptr_array_unref(subs);
}

/* ---- media ---- */

/* Audio (and video without layers): one continuous sequence and timestamp per m-line across
 * the streams it carries. */
static size_t forward_plain(room_slot *slot, const uint8_t *pkt, size_t len, uint8_t *out)
{
    uint16_t seq = odeon_be16(pkt + 2);
    uint32_t ts = odeon_be32(pkt + 4);
    if (slot->audio_restart) {
        uint32_t step = slot->media.clock_rate ? slot->media.clock_rate / 50 : 960;
        slot->seq_off = slot->audio_started ? (uint16_t)(slot->last_seq + 1 - seq) : 0;
        slot->ts_off = slot->audio_started ? slot->last_ts + step - ts : 0;
        slot->audio_restart = false;
        slot->audio_started = true;
    }
    memcpy(out, pkt, len);
    slot->last_seq = (uint16_t)(seq + slot->seq_off);
    slot->last_ts = ts + slot->ts_off;
    odeon_put_be16(out + 2, slot->last_seq);
    odeon_put_be32(out + 4, slot->last_ts);
    return len;
}

/* What a slot makes of one ring entry: the rewritten packet's length in out, or 0 when the
 * slot does not take it; *keyframe when the slot waits for one. Under the feed's lock. */
static size_t slot_forward(room_slot *slot, struct room_feed_stream *fs, const room_ring_entry *e,
                           uint8_t *out, bool *keyframe)
{
    if (!slot->send || e->len < 12)
        return 0;
    if (!fs->layered)
        return forward_plain(slot, e->data, e->len, out);
    if (e->arrival_us - slot->last_retarget_us >= RETARGET_INTERVAL_US) {
        slot->last_retarget_us = e->arrival_us;
        uint64_t estimate = __atomic_load_n(&slot->sub->estimate_bps, __ATOMIC_RELAXED);
        stage_layer_viewer_retarget(&slot->layers, &fs->stats, estimate, e->arrival_us);
    }
    size_t out_len = 0;
    int flags = stage_layer_viewer_forward(&slot->layers, fs->media.simulcast ? e->substream : 0,
                                           e->data, e->len, e->arrival_us, out,
                                           ROOM_ENTRY_BYTES + ROOM_PACKET_ROOM, &out_len);
    if (flags & STAGE_LAYER_WANT_KEYFRAME)
        *keyframe = true;
    return flags & STAGE_LAYER_FORWARD ? out_len : 0;
}

#define DRAIN_BATCH 64

typedef struct drain_out {
    uint8_t buf[ROOM_ENTRY_BYTES + ROOM_PACKET_ROOM] __attribute__((aligned(16)));
} drain_out;

/* Per media loop thread: the drain's batch. */
static __thread drain_out drain_buf[DRAIN_BATCH];
static __thread odeon_media_packet drain_packets[DRAIN_BATCH];

static void drain_flush(room_sub *s, int *n)
{
    if (*n > 0)
        room_core->relay_rtp_batch(s->handle, drain_packets, (size_t)*n);
    *n = 0;
}

enum { DRAIN_KEYFRAME = 1, DRAIN_MORE = 2 };

/* Reads a slot's new ring entries under its feed's lock into the batch, up to a full batch.
 * A slot more than a ring behind skips ahead: those packets are lost to it. Returns
 * DRAIN_KEYFRAME when the feed should be asked for a keyframe now, DRAIN_MORE when the batch
 * filled before the slot was done (send it, then call again). */
static int drain_slot(room_slot *slot, room_feed *f, int *n)
{
    bool keyframe = false;
    int more = 0;
    g_mutex_lock(&f->lock);
    if (g_atomic_pointer_get(&slot->attached) != f || !slot->ready || !f->active) {
        g_mutex_unlock(&f->lock);
        return 0;
    }
    struct room_feed_stream *fs = &f->streams[slot->feed_stream];
    if (!slot->pos_valid || fs->head - slot->pos > fs->ring_size) {
        slot->pos = slot->pos_valid ? fs->head - fs->ring_size / 2 : fs->head;
        slot->pos_valid = true;
    }
    for (; slot->pos < fs->head; slot->pos++) {
        if (*n == DRAIN_BATCH) {
            more = DRAIN_MORE;
            break;
        }
        const room_ring_entry *e = &fs->ring[slot->pos & (fs->ring_size - 1)];
        size_t len = slot_forward(slot, fs, e, drain_buf[*n].buf, &keyframe);
        if (len == 0)
            continue;
        drain_packets[*n] = (odeon_media_packet){.data = drain_buf[*n].buf, .len = len,
                                                 .capacity = sizeof drain_buf[*n].buf,
                                                 .mindex = slot->mindex, .substream = -1};
        (*n)++;
    }
    int64_t now = g_get_monotonic_time();
    bool ask = keyframe && now - fs->last_keyframe_request_us >= ROOM_KEYFRAME_INTERVAL_US;
    if (ask)
        fs->last_keyframe_request_us = now;
    g_mutex_unlock(&f->lock);
    return (ask ? DRAIN_KEYFRAME : 0) | more;
}

void room_sub_drain(void *data)
{
    room_sub *s = data;
    room_slot *slots[ROOM_SUB_MAX_SLOTS];
    room_feed *feeds[ROOM_SUB_MAX_SLOTS];
    int count = 0;
    g_mutex_lock(&s->lock);
    for (int i = 0; i < s->slot_count; i++) {
        if (s->slots[i]->feed == NULL)
            continue;
        slots[count] = s->slots[i];
        feeds[count++] = room_feed_ref(s->slots[i]->feed);
    }
    g_mutex_unlock(&s->lock);
    int n = 0;
    for (int i = 0; i < count; i++) {
        int r;
        do {
            r = drain_slot(slots[i], feeds[i], &n);
            if (r & DRAIN_MORE)
                drain_flush(s, &n);
            if (r & DRAIN_KEYFRAME)
                room_core->request_keyframe(feeds[i]->handle, slots[i]->media.index);
        } while (r & DRAIN_MORE);
    }
    drain_flush(s, &n);
    for (int i = 0; i < count; i++)
        room_feed_unref(feeds[i]);
    room_sub_unref(s); /* the wake's */
    g_atomic_int_add(&drains_pending, -1);
}

void room_subscribers_quiesce(void)
{
    for (int i = 0; i < 200 && g_atomic_int_get(&drains_pending) > 0; i++)
        g_usleep(10000);
}

void room_subscribers_wake(room_sub **subs, int n)
{
    for (int i = 0; i < n; i++) {
        int loop = g_atomic_int_get(&subs[i]->loop);
        /* 1: queued, the reference goes with it; 0: already pending; <0: no loop yet. */
        g_atomic_int_inc(&drains_pending);
        if (loop < 0 || room_core->media_loop_wake((unsigned)loop, &subs[i]->wake) != 1) {
            g_atomic_int_add(&drains_pending, -1);
            room_sub_unref(subs[i]);
        }
    }
}

/* The subscriber's share of its estimated bandwidth per video m-line, for layer choice. */
static void estimate_update(room_sub *s)
{
    uint64_t total = room_core->bandwidth_estimate(s->handle);
    int videos = 0;
    g_mutex_lock(&s->lock);
    for (int i = 0; i < s->slot_count; i++)
        videos += s->slots[i]->video && s->slots[i]->feed != NULL;
    g_mutex_unlock(&s->lock);
    uint64_t share = videos > 0 && total > 0 ? total / (uint64_t)videos : 0;
    __atomic_store_n(&s->estimate_bps, share, __ATOMIC_RELAXED);
}

void room_subscriber_rtcp(room_member *m, odeon_media_packet *packet)
{
    g_mutex_lock(&m->lock);
    room_sub *s = m->sub ? room_sub_ref(m->sub) : NULL;
    g_mutex_unlock(&m->lock);
    if (s == NULL)
        return;
    estimate_update(s);
    uint32_t ssrcs[8];
    int n = room_rtcp_keyframe_ssrcs(packet->data, packet->len, ssrcs, G_N_ELEMENTS(ssrcs));
    for (int k = 0; k < n; k++) {
        room_feed *f = NULL;
        int mindex = -1;
        g_mutex_lock(&s->lock);
        for (int i = 0; i < s->slot_count && f == NULL; i++)
            if (s->slots[i]->ssrc == ssrcs[k] && s->slots[i]->feed != NULL) {
                f = room_feed_ref(s->slots[i]->feed);
                mindex = s->slots[i]->media.index;
            }
        g_mutex_unlock(&s->lock);
        if (f == NULL)
            continue;
        int64_t now = packet->arrival_us ? (int64_t)packet->arrival_us : g_get_monotonic_time();
        g_mutex_lock(&f->lock);
        int si = -1;
        for (int i = 0; i < f->stream_count; i++)
            if (f->streams[i].media.index == mindex)
                si = i;
        bool ask = si >= 0 && now - f->streams[si].last_keyframe_request_us >=
                                  ROOM_KEYFRAME_INTERVAL_US;
        if (ask)
            f->streams[si].last_keyframe_request_us = now;
        g_mutex_unlock(&f->lock);
        if (ask)
            room_core->request_keyframe(f->handle, mindex);
        room_feed_unref(f);
    }
    room_sub_unref(s);
}
