/*
 * stage_fanout.c - the stage's packet ring and the fan-out to viewers on their media loops.
 *
 * The writer (stage_packet) copies each source packet once into the ring and wakes every loop
 * group that has viewers; a wake that is already pending costs nothing more, so a burst of
 * packets (a video frame) is one wake per loop. On its loop a group sends everything new in
 * the ring to each of its viewers: per viewer and packet only the rewrite (sequence number,
 * timestamp, payload type), SRTP and the send, batched into one relay_rtp_batch (one sendmmsg)
 * per viewer and batch. Nothing here allocates per packet, and the only locks on the path are
 * the stage's (writer, once per packet) and the group's (reader, once per wake).
 */
#include "stage.h"
#include "stage_relay.h"
#include "stage_rtp.h"

#include <string.h>

#define SEND_BATCH 32
/* Room after the packet for SRTP's tag (and MKI), as relay_rtp needs. */
#define PACKET_ROOM (STAGE_SLOT_BYTES + 160)
#define RING_SAFE STAGE_RING_SAFE
#define RING_MASK STAGE_RING_MASK

static void group_drain(void *data);

guint64 stage_initial_estimate_bps = 600000;

/* Drains queued on loops and not yet run: the plugin waits for them before it is unloaded. */
static gint drains_pending;

/* ---- ring and groups ---- */

void stage_fanout_init(stage *s, unsigned loops)
{
    s->ring.slots = g_new(stage_slot, STAGE_RING_SLOTS);
    g_mutex_init(&s->stats_lock);
    s->group_count = MAX(loops, 1u);
    s->groups = g_new0(stage_group, s->group_count);
    for (unsigned i = 0; i < s->group_count; i++) {
        stage_group *g = &s->groups[i];
        g->stage = s;
        g->loop = i;
        g_mutex_init(&g->lock);
        g->viewers = g_ptr_array_new();
        g->wake.fn = group_drain;
        g->wake.data = g;
    }
}

void stage_fanout_free(stage *s)
{
    for (unsigned i = 0; i < s->group_count; i++) {
        stage_group *g = &s->groups[i];
        /* Viewers leave their group before they leave the stage: nothing is left here. */
        g_ptr_array_unref(g->viewers);
        g_mutex_clear(&g->lock);
    }
    g_free(s->groups);
    g_free(s->ring.slots);
    g_mutex_clear(&s->stats_lock);
}

void stage_viewer_lock(stage_viewer *v)
{
    if (v->group != NULL)
        g_mutex_lock(&v->group->lock);
}

void stage_viewer_unlock(stage_viewer *v)
{
    if (v->group != NULL)
        g_mutex_unlock(&v->group->lock);
}

void stage_group_add_locked(stage *s, stage_viewer *v)
{
    if (v->group != NULL)
        return;
    stage_group *g = &s->groups[v->loop < s->group_count ? v->loop : 0];
    g_mutex_lock(&g->lock);
    if (g->viewers->len == 0)
        g->next = __atomic_load_n(&s->ring.head, __ATOMIC_SEQ_CST);
    g_ptr_array_add(g->viewers, stage_viewer_ref(v));
    g_atomic_int_set(&g->count, (gint)g->viewers->len);
    v->group = g;
    v->need_keyframe = true;
    g_mutex_unlock(&g->lock);
}

void stage_group_remove_locked(stage_viewer *v)
{
    stage_group *g = v->group;
    if (g == NULL)
        return;
    g_mutex_lock(&g->lock);
    bool found = g_ptr_array_remove(g->viewers, v);
    g_atomic_int_set(&g->count, (gint)g->viewers->len);
    v->group = NULL;
    g_mutex_unlock(&g->lock);
    if (found)
        stage_viewer_unref(v);
}

/* ---- the writer ---- */

void stage_fanout_configure(stage *s)
{
    for (size_t i = 0; i < s->track_count; i++) {
        stage_layer_codec codec;
        if (s->tracks[i].video && stage_layer_codec_of(s->tracks[i].codec, &codec)) {
            s->layered = true;
            s->layer_codec = codec;
            stage_layer_stats_init(&s->layer_stats, codec);
        }
    }
}

/* Does this video packet start a keyframe (the point a joiner's video can start from)? */
static bool keyframe_start(const stage *s, const uint8_t *payload, size_t plen)
{
    if (!s->layered)
        return false;
    if (s->layer_codec == STAGE_CODEC_VP8) {
        stage_vp8_desc d;
        return stage_vp8_parse(payload, plen, &d) && d.keyframe;
    }
    if (s->layer_codec == STAGE_CODEC_VP9) {
        stage_vp9_desc d;
        return stage_vp9_parse(payload, plen, &d) && d.keyframe;
    }
    return stage_h264_keyframe_start(payload, plen);
}

bool stage_packet_store(stage *s, size_t track, int substream, const uint8_t *pkt, size_t len)
{
    size_t hdr = stage_rtp_header_len(pkt, len);
    if (hdr == 0 || track >= s->track_count)
        return false;
    stage_track *t = &s->tracks[track];
    if (!t->video || substream < 0 || substream >= STAGE_LAYERS_MAX)
        substream = 0;
    g_mutex_lock(&s->lock);
    s->packets_in++;
    s->bytes_in += len;
    if (len > STAGE_SLOT_BYTES) {
        if (s->oversize++ == 0)
            stage_core->log(ODEON_LOG_WARN, "stage",
                            "stage %" G_GUINT64_FORMAT ": dropping RTP packets over %u bytes",
                            s->id, STAGE_SLOT_BYTES);
        g_mutex_unlock(&s->lock);
        return false;
    }
    gint64 now = g_get_monotonic_time();
    if (t->video)
        s->last_video_us = now;
    else
        s->last_audio_us = now;
    guint64 index = s->ring.head; /* we are the only writer */
    stage_slot *slot = &s->ring.slots[index & RING_MASK];
    memcpy(slot->data, pkt, len);
    slot->len = (uint16_t)len;
    slot->track = (uint8_t)track;
    slot->flags = 0;
    slot->substream = (int8_t)substream;
    if (t->video && keyframe_start(s, pkt + hdr, len - hdr)) {
        slot->flags = STAGE_SLOT_KEYFRAME;
        __atomic_store_n(&s->ring.video_start[substream], index + 1, __ATOMIC_RELEASE);
    }
    if (t->video && s->layered) {
        g_mutex_lock(&s->stats_lock);
        stage_layer_stats_packet(&s->layer_stats, substream, pkt, len, now);
        g_mutex_unlock(&s->stats_lock);
    }
    /* The fence orders this slot before the next one's writes, for readers' re-check. */
    __atomic_store_n(&s->ring.head, index + 1, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (g_atomic_int_get(&s->keyframe_wanted) && g_atomic_int_compare_and_exchange(
                                                     &s->keyframe_wanted, 1, 0))
        stage_keyframe_request_locked(s);
    g_mutex_unlock(&s->lock);
    return true;
}

void stage_wake_loops(stage *s)
{
    if (g_atomic_int_get(&s->downlinks) > 0)
        stage_relay_wake();
    for (unsigned i = 0; i < s->group_count; i++) {
        stage_group *g = &s->groups[i];
        if (g_atomic_int_get(&g->count) == 0)
            continue;
        /* The queued drain holds a reference (taken first: it may run at once). */
        stage_ref(s);
        g_atomic_int_inc(&drains_pending);
        if (stage_core->media_loop_wake(g->loop, &g->wake) != 1) {
            g_atomic_int_add(&drains_pending, -1);
            stage_unref(s);
        }
    }
}

void stage_packet(stage *s, size_t track, int substream, const uint8_t *pkt, size_t len)
{
    if (stage_packet_store(s, track, substream, pkt, len))
        stage_wake_loops(s);
}

void stage_fanout_quiesce(void)
{
    for (int i = 0; i < 2000 && g_atomic_int_get(&drains_pending) > 0; i++)
        g_usleep(1000);
}

/* ---- the readers ---- */

typedef struct send_batch {
    odeon_media_packet packets[SEND_BATCH];
    guint64 index[SEND_BATCH];
    size_t count;
} send_batch;

/* What a drain needs besides the viewer: the stage, the time, and a copy of the layer
 * statistics taken once per drain (so viewers choose layers without the writer's lock). */
typedef struct drain_ctx {
    stage *s;
    gint64 now;
    stage_layer_stats stats;
} drain_ctx;

/* One buffer per packet of a batch, per loop thread: reused for every viewer. */
static __thread uint8_t batch_buffers[SEND_BATCH][PACKET_ROOM] __attribute__((aligned(16)));

/* ---- retransmissions from the ring ---- */

static stage_sent_entry *sent_entry(stage_sent_history *h, int mindex, uint16_t seq)
{
    /* Two video m-lines (camera and screen) number their packets alike: mix the m-line in. */
    return &h->entries[(seq + (unsigned)mindex * 97u) & (STAGE_SENT_ENTRIES - 1u)];
}

/* Remembers that v got the video packet in buf (its rewritten copy of ring slot index). */
static void sent_record(stage_viewer *v, stage *s, int mindex, const uint8_t *buf, size_t len,
                        guint64 index, gint64 now)
{
    stage_sent_history *h = v->sent;
    if (h == NULL)
        h = v->sent = g_new0(stage_sent_history, 1);
    if (h->stage != s) {
        /* A switch: the old stage's entries point into another ring. */
        memset(h->entries, 0, sizeof h->entries);
        if (h->stage != NULL)
            stage_unref(h->stage);
        h->stage = stage_ref(s);
    }
    size_t off = stage_rtp_header_len(buf, len);
    uint16_t seq = (uint16_t)((buf[2] << 8) | buf[3]);
    stage_sent_entry *e = sent_entry(h, mindex, seq);
    e->index = index + 1;
    e->sent_us = now;
    e->seq = seq;
    e->len = (uint16_t)len;
    e->mindex = (int8_t)mindex;
    memcpy(e->header, buf, sizeof e->header);
    e->desc_off = (uint16_t)off;
    e->desc_len = (uint8_t)MIN(len - off, (size_t)STAGE_SENT_DESC);
    memcpy(e->desc, buf + off, e->desc_len);
}

size_t stage_sent_lookup(stage_viewer *v, int mindex, uint16_t seq, gint64 now, uint8_t *buf,
                         size_t cap)
{
    stage_sent_history *h = v->sent;
    if (h == NULL || h->stage == NULL || mindex < 0)
        return 0;
    const stage_sent_entry *e = sent_entry(h, mindex, seq);
    if (e->index == 0 || e->seq != seq || e->mindex != mindex ||
        now - e->sent_us > STAGE_RETRANSMIT_MAX_AGE_US || e->len > cap)
        return 0;
    stage *s = h->stage;
    guint64 index = e->index - 1;
    if (__atomic_load_n(&s->ring.head, __ATOMIC_SEQ_CST) - index > RING_SAFE)
        return 0;
    const stage_slot *slot = &s->ring.slots[index & RING_MASK];
    memcpy(buf, slot->data, e->len);
    /* The writer may have come round meanwhile (as in batch_flush). */
    if (__atomic_load_n(&s->ring.head, __ATOMIC_SEQ_CST) - index >= STAGE_RING_SLOTS)
        return 0;
    memcpy(buf, e->header, sizeof e->header);
    memcpy(buf + e->desc_off, e->desc, e->desc_len);
    return e->len;
}

void stage_sent_free(stage_viewer *v)
{
    if (v->sent == NULL)
        return;
    if (v->sent->stage != NULL)
        stage_unref(v->sent->stage);
    g_clear_pointer(&v->sent, g_free);
}

/* The viewer's payload type and m-line on a packet already in the batch's next buffer; video
 * is remembered for retransmissions. */
static void batch_commit(send_batch *b, stage_viewer *v, stage *s, size_t track, size_t len,
                         guint64 index, gint64 now)
{
    uint8_t *buf = batch_buffers[b->count];
    if (v->pt[track] >= 0)
        buf[1] = (uint8_t)((buf[1] & 0x80) | v->pt[track]);
    if (s->tracks[track].video && v->mindex[track] >= 0)
        sent_record(v, s, v->mindex[track], buf, len, index, now);
    b->packets[b->count] = (odeon_media_packet){.data = buf, .len = len, .capacity = PACKET_ROOM,
                                                .mindex = v->mindex[track],
                                                .video = s->tracks[track].video};
    b->index[b->count] = index;
    b->count++;
}

/* Copies slot into the batch with v's sequence and timestamp offsets (continuous across
 * stage switches): audio, and video that is not layered. */
static void batch_add_plain(send_batch *b, stage_viewer *v, stage *s, const stage_slot *slot,
                            guint64 index, gint64 now)
{
    size_t track = slot->track;
    uint8_t *buf = batch_buffers[b->count];
    memcpy(buf, slot->data, slot->len);
    uint16_t seq = (uint16_t)((buf[2] << 8) | buf[3]);
    uint32_t ts = ((uint32_t)buf[4] << 24) | ((uint32_t)buf[5] << 16) | ((uint32_t)buf[6] << 8) |
                  buf[7];
    if (v->rebase[track]) {
        /* After a switch: continue the viewer's numbering where the old stage left it. */
        uint32_t step = s->tracks[track].video ? 3000 : 960;
        v->seq_offset[track] = (uint16_t)(v->last_seq[track] + 1 - seq);
        v->ts_offset[track] = v->last_ts[track] + step - ts;
        v->rebase[track] = false;
    }
    seq = (uint16_t)(seq + v->seq_offset[track]);
    ts += v->ts_offset[track];
    buf[2] = (uint8_t)(seq >> 8);
    buf[3] = (uint8_t)seq;
    buf[4] = (uint8_t)(ts >> 24);
    buf[5] = (uint8_t)(ts >> 16);
    buf[6] = (uint8_t)(ts >> 8);
    buf[7] = (uint8_t)ts;
    v->last_seq[track] = seq;
    v->last_ts[track] = ts;
    v->sent_any[track] = true;
    batch_commit(b, v, s, track, slot->len, index, now);
}

/* Layered video: stage_layers decides (the viewer's substream or SVC layers) and rewrites. */
static void batch_add_layered(send_batch *b, stage_viewer *v, drain_ctx *c,
                              const stage_slot *slot, guint64 index)
{
    size_t out_len = 0;
    int flags = stage_layer_viewer_forward(&v->layer, slot->substream, slot->data, slot->len,
                                           c->now, batch_buffers[b->count], PACKET_ROOM,
                                           &out_len);
    if (flags & STAGE_LAYER_WANT_KEYFRAME)
        g_atomic_int_set(&c->s->keyframe_wanted, 1); /* the writer coalesces */
    if (flags & STAGE_LAYER_FORWARD)
        batch_commit(b, v, c->s, slot->track, out_len, index, c->now);
}

/* Sends the batch, minus any packet whose slot the writer reused while we copied it. */
static void batch_flush(send_batch *b, stage_viewer *v, stage *s)
{
    if (b->count == 0)
        return;
    guint64 head = __atomic_load_n(&s->ring.head, __ATOMIC_SEQ_CST);
    size_t first = 0;
    while (first < b->count && head - b->index[first] >= STAGE_RING_SLOTS)
        first++;
    if (first < b->count)
        stage_core->relay_rtp_batch(v->handle, b->packets + first, b->count - first);
    b->count = 0;
}

/* Whether this viewer takes the packet in slot, as far as its own state goes. */
static bool viewer_wants(stage_viewer *v, stage *s, const stage_slot *slot, guint64 index)
{
    size_t track = slot->track;
    if (track >= s->track_count || v->mindex[track] < 0)
        return false;
    if (!s->tracks[track].video)
        return v->audio;
    return v->video && index >= v->video_from;
}

static void batch_add(send_batch *b, stage_viewer *v, drain_ctx *c, const stage_slot *slot,
                      guint64 index)
{
    if (c->s->layered && c->s->tracks[slot->track].video)
        batch_add_layered(b, v, c, slot, index);
    else
        batch_add_plain(b, v, c->s, slot, index, c->now);
    if (b->count == SEND_BATCH)
        batch_flush(b, v, c->s);
}

/* Sends the slots [from, to) that v takes; video_only for a joiner's catch-up. */
static void viewer_send_range(stage_viewer *v, drain_ctx *c, guint64 from, guint64 to,
                              bool video_only)
{
    stage *s = c->s;
    send_batch b;
    b.count = 0;
    for (guint64 i = from; i < to; i++) {
        const stage_slot *slot = &s->ring.slots[i & RING_MASK];
        if (video_only && (slot->track >= s->track_count || !s->tracks[slot->track].video))
            continue;
        if (viewer_wants(v, s, slot, i))
            batch_add(&b, v, c, slot, i);
    }
    batch_flush(&b, v, s);
}

/* The oldest keyframe start still safely in the ring among the substreams (1 + index), or 0.
 * Simulcast layers have their keyframes at about the same time: starting from the oldest lets
 * the viewer's layer choice find its own layer's keyframe in the replay. */
static guint64 gop_start(stage *s, guint64 head)
{
    guint64 best = 0;
    for (int k = 0; k < STAGE_LAYERS_MAX; k++) {
        guint64 start = __atomic_load_n(&s->ring.video_start[k], __ATOMIC_ACQUIRE);
        if (start != 0 && head - (start - 1) < RING_SAFE && (best == 0 || start < best))
            best = start;
    }
    return best;
}

#define RETARGET_INTERVAL_US (100 * 1000)

/* Re-chooses the viewer's layer from its estimate and preference, every 100 ms or when told. */
static void viewer_retarget(stage_viewer *v, drain_ctx *c, bool now)
{
    if (!c->s->layered)
        return;
    if (!now && c->now - v->last_retarget_us < RETARGET_INTERVAL_US &&
        stage_layer_viewer_target(&v->layer) >= 0)
        return;
    v->last_retarget_us = c->now;
    guint64 estimate = stage_core->bandwidth_estimate(v->handle);
    if (estimate == 0 && c->now - v->up_us < STAGE_INITIAL_ESTIMATE_US)
        estimate = stage_initial_estimate_bps;
    stage_layer_viewer_retarget(&v->layer, &c->stats, estimate, c->now);
}

/* A joiner (or a viewer whose video resumes) decodes at once: its video starts at the last
 * keyframe still in the ring, which is replayed up to `from` (the group's next packets follow).
 * Without one (a codec we cannot parse, or a GOP longer than the ring) the host is asked for
 * one. */
static void viewer_catch_up(stage_viewer *v, drain_ctx *c, guint64 from, guint64 head)
{
    stage *s = c->s;
    v->need_keyframe = false;
    if (s->layered)
        stage_layer_viewer_restart(&v->layer);
    guint64 start = gop_start(s, head);
    if (start == 0) {
        /* Layered video waits in stage_layers for its layer's keyframe; other codecs go
         * live at once. */
        v->video_from = 0;
        g_atomic_int_set(&s->keyframe_wanted, 1);
        return;
    }
    guint64 key = start - 1;
    v->video_from = key;
    if (key < from) {
        viewer_retarget(v, c, true);
        viewer_send_range(v, c, key, from, true);
    }
}

static void group_drain(void *data)
{
    stage_group *g = data;
    drain_ctx c = {.s = g->stage, .now = g_get_monotonic_time()};
    stage *s = c.s;
    if (s->layered) {
        g_mutex_lock(&s->stats_lock);
        c.stats = s->layer_stats;
        g_mutex_unlock(&s->stats_lock);
    }
    g_mutex_lock(&g->lock);
    guint64 head = __atomic_load_n(&s->ring.head, __ATOMIC_SEQ_CST);
    guint64 from = g->next;
    if (head - from > RING_SAFE) {
        g->overruns += head - RING_SAFE - from;
        from = head - RING_SAFE;
    }
    for (guint i = 0; i < g->viewers->len && from < head; i++) {
        stage_viewer *v = g_ptr_array_index(g->viewers, i);
        if (!v->started || !v->media_up)
            continue;
        if (v->need_keyframe)
            viewer_catch_up(v, &c, from, head);
        viewer_retarget(v, &c, false);
        viewer_send_range(v, &c, from, head, false);
    }
    g->next = head;
    g_mutex_unlock(&g->lock);
    stage_unref(s);
    g_atomic_int_add(&drains_pending, -1);
}
