/*
 * nack.c - the retransmission buffer (sender side) and the loss tracker (receiver side).
 *
 * Both work on extended 32-bit sequence numbers: a 16-bit number is placed within +/-32767 of
 * the highest one seen, and the first packet is put in cycle 1 (ext = 65536 + seq) so that
 * packets slightly older than it still get a non-negative extended number. Comparing extended
 * numbers is what lets the buffer refuse a stale slot (a slot holding X when X + slots, or
 * X + 65536, is asked for) and lets the tracker order its missing list across 65535 -> 0.
 *
 * The retransmission buffer starts small and doubles (up to its slot limit, at most once per
 * max_age) only when it would evict a packet younger than max_age: a 1 Mbit/s stream kept for
 * a second needs ~128 slots, an 8 Mbit/s screen share ~1,024, and a server with thousands of viewers must not give each of
 * them the largest. That growth is the only allocation after the constructors (a handful of
 * times per stream at most); otherwise insert, lookup, received and poll only copy and move
 * bytes. The missing list is a sorted array: new gaps are always above the
 * highest number, so they are appended, and removals (late arrivals, drops) are a binary search
 * plus a memmove over at most max_missing small entries.
 */
#include "webrtc/nack.h"

#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"

#define FIRST_CYCLE 0x10000u
#define INITIAL_SLOTS 64u

/* Places seq within -32768..+32767 of highest. */
static int64_t extend(uint32_t highest, uint16_t seq)
{
    int16_t delta = (int16_t)(uint16_t)(seq - (uint16_t)highest);
    return (int64_t)highest + delta;
}

/* ---- retransmission buffer ----------------------------------------------------------------- */

typedef struct slot {
    uint32_t ext;
    uint16_t len; /* 0: empty */
    int64_t stored_us;
} slot;

struct odeon_nack_buffer {
    size_t mask;
    size_t max_slots;
    size_t max_packet;
    int64_t grown_us; /* when it last doubled; INT64_MIN: never */
    int64_t max_age_us;
    bool started;
    uint32_t highest;
    slot *slots;
    uint8_t *data; /* (mask + 1) * max_packet bytes */
};

static bool is_pow2(size_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

odeon_nack_buffer *odeon_nack_buffer_new(size_t slots, size_t max_packet, int64_t max_age_us,
                                         const char **error)
{
    const char *err = NULL;
    if (!is_pow2(slots) || slots < 16 || slots > 32768)
        err = "nack buffer: slots must be a power of two in 16..32768";
    else if (max_packet == 0 || max_packet > UINT16_MAX)
        err = "nack buffer: max_packet must be in 1..65535";
    else if (max_age_us <= 0)
        err = "nack buffer: max_age_us must be positive";
    odeon_nack_buffer *b = NULL;
    size_t initial = slots < INITIAL_SLOTS ? slots : INITIAL_SLOTS;
    if (err == NULL) {
        b = calloc(1, sizeof(*b));
        if (b != NULL) {
            b->slots = calloc(initial, sizeof(*b->slots));
            b->data = malloc(initial * max_packet);
        }
        if (b == NULL || b->slots == NULL || b->data == NULL) {
            odeon_nack_buffer_free(b);
            b = NULL;
            err = "nack buffer: out of memory";
        }
    }
    if (b == NULL) {
        if (error != NULL)
            *error = err;
        return NULL;
    }
    b->mask = initial - 1;
    b->grown_us = INT64_MIN;
    b->max_slots = slots;
    b->max_packet = max_packet;
    b->max_age_us = max_age_us;
    return b;
}

void odeon_nack_buffer_free(odeon_nack_buffer *buf)
{
    if (buf == NULL)
        return;
    free(buf->slots);
    free(buf->data);
    free(buf);
}

void odeon_nack_buffer_reset(odeon_nack_buffer *buf)
{
    memset(buf->slots, 0, (buf->mask + 1) * sizeof(*buf->slots));
    buf->started = false;
    buf->highest = 0;
}

/* Doubles the buffer, moving every stored packet to its slot under the new mask. false when
 * out of memory (the buffer is then unchanged). */
static bool buffer_grow(odeon_nack_buffer *buf)
{
    size_t old_count = buf->mask + 1, count = old_count * 2;
    slot *slots = calloc(count, sizeof(*slots));
    uint8_t *data = malloc(count * buf->max_packet);
    if (slots == NULL || data == NULL) {
        free(slots);
        free(data);
        return false;
    }
    for (size_t i = 0; i < old_count; i++) {
        const slot *o = &buf->slots[i];
        if (o->len == 0)
            continue;
        size_t at = o->ext & (count - 1);
        slots[at] = *o;
        memcpy(data + at * buf->max_packet, buf->data + i * buf->max_packet, o->len);
    }
    free(buf->slots);
    free(buf->data);
    buf->slots = slots;
    buf->data = data;
    buf->mask = count - 1;
    return true;
}

int odeon_nack_buffer_insert(odeon_nack_buffer *buf, uint16_t seq, const uint8_t *pkt, size_t len,
                             int64_t now_us)
{
    if (pkt == NULL || len == 0 || len > buf->max_packet)
        return ODEON_EINVAL;
    int64_t ext = buf->started ? extend(buf->highest, seq) : (int64_t)FIRST_CYCLE + seq;
    if (ext < 0 || ext > (int64_t)UINT32_MAX)
        return ODEON_EEXIST;
    slot *s = &buf->slots[(size_t)ext & buf->mask];
    /* At most one doubling per max_age: a burst (a keyframe, or a joiner's replayed GOP, all
     * stored at one instant) would otherwise double it again and again for packets that are
     * soon of no use; a steady rate that needs more gets it a period later. */
    if (s->len != 0 && s->ext < (uint32_t)ext && now_us - s->stored_us <= buf->max_age_us &&
        buf->mask + 1 < buf->max_slots &&
        (buf->grown_us == INT64_MIN || now_us - buf->grown_us >= buf->max_age_us) &&
        buffer_grow(buf)) {
        buf->grown_us = now_us;
        s = &buf->slots[(size_t)ext & buf->mask];
    }
    /* Never let an older packet evict a newer one that shares its slot. */
    if (s->len != 0 && s->ext > (uint32_t)ext)
        return ODEON_EEXIST;
    if (!buf->started || (uint32_t)ext > buf->highest)
        buf->highest = (uint32_t)ext;
    buf->started = true;
    s->ext = (uint32_t)ext;
    s->len = (uint16_t)len;
    s->stored_us = now_us;
    memcpy(buf->data + ((size_t)ext & buf->mask) * buf->max_packet, pkt, len);
    return 0;
}

int odeon_nack_buffer_lookup(const odeon_nack_buffer *buf, uint16_t seq, int64_t now_us,
                             const uint8_t **pkt, size_t *len)
{
    if (!buf->started)
        return ODEON_ENOENT;
    int64_t ext = extend(buf->highest, seq);
    if (ext < 0 || ext > (int64_t)buf->highest)
        return ODEON_ENOENT;
    const slot *s = &buf->slots[(size_t)ext & buf->mask];
    if (s->len == 0 || s->ext != (uint32_t)ext)
        return ODEON_ENOENT;
    if (now_us - s->stored_us > buf->max_age_us)
        return ODEON_EGONE;
    *pkt = buf->data + ((size_t)ext & buf->mask) * buf->max_packet;
    *len = s->len;
    return 0;
}

/* ---- loss tracker -------------------------------------------------------------------------- */

typedef struct missing {
    uint32_t ext;
    uint32_t retries;
    int64_t first_us;
    int64_t last_sent_us;
} missing;

struct odeon_nack_tracker {
    odeon_nack_tracker_config cfg;
    int64_t rtt_us;
    bool started;
    bool keyframe;
    uint32_t highest;
    size_t count;
    missing *list; /* cfg.max_missing entries, sorted by ext */
};

void odeon_nack_tracker_config_default(odeon_nack_tracker_config *cfg)
{
    *cfg = (odeon_nack_tracker_config){
        .max_missing = 1000,
        .max_retries = 10,
        .min_interval_us = 20000,
        .max_age_us = 1000000,
        .max_age_packets = 10000,
        .initial_rtt_us = 100000,
        .reorder_delay_us = 0,
    };
}

odeon_nack_tracker *odeon_nack_tracker_new(const odeon_nack_tracker_config *cfg, const char **error)
{
    odeon_nack_tracker_config c;
    if (cfg != NULL)
        c = *cfg;
    else
        odeon_nack_tracker_config_default(&c);
    const char *err = NULL;
    if (c.max_missing == 0 || c.max_missing > 32768)
        err = "nack tracker: max_missing must be in 1..32768";
    else if (c.max_retries == 0)
        err = "nack tracker: max_retries must be at least 1";
    else if (c.min_interval_us < 0 || c.max_age_us <= 0 || c.initial_rtt_us < 0 ||
             c.reorder_delay_us < 0 || c.max_age_packets == 0)
        err = "nack tracker: negative or zero time limits";
    odeon_nack_tracker *t = NULL;
    if (err == NULL) {
        t = calloc(1, sizeof(*t));
        if (t != NULL)
            t->list = calloc(c.max_missing, sizeof(*t->list));
        if (t == NULL || t->list == NULL) {
            odeon_nack_tracker_free(t);
            t = NULL;
            err = "nack tracker: out of memory";
        }
    }
    if (t == NULL) {
        if (error != NULL)
            *error = err;
        return NULL;
    }
    t->cfg = c;
    t->rtt_us = c.initial_rtt_us;
    return t;
}

void odeon_nack_tracker_free(odeon_nack_tracker *t)
{
    if (t == NULL)
        return;
    free(t->list);
    free(t);
}

void odeon_nack_tracker_set_rtt(odeon_nack_tracker *t, int64_t rtt_us)
{
    if (rtt_us >= 0)
        t->rtt_us = rtt_us;
}

/* Index of the first entry with ext >= key. */
static size_t lower_bound(const odeon_nack_tracker *t, uint32_t key)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->list[mid].ext < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void remove_range(odeon_nack_tracker *t, size_t from, size_t n)
{
    memmove(&t->list[from], &t->list[from + n], (t->count - from - n) * sizeof(*t->list));
    t->count -= n;
}

/* Adds highest+1 .. ext-1 to the missing list, after dropping entries that the new highest
 * makes too old; clears the list and flags a keyframe if they would not fit. */
static void add_gap(odeon_nack_tracker *t, uint32_t ext, int64_t now_us)
{
    uint32_t gap = ext - t->highest - 1;
    if (ext > t->cfg.max_age_packets) {
        size_t old = lower_bound(t, ext - t->cfg.max_age_packets);
        remove_range(t, 0, old);
    }
    if (gap > t->cfg.max_missing - t->count) {
        t->count = 0;
        t->keyframe = true;
        return;
    }
    for (uint32_t s = t->highest + 1; s < ext; s++)
        t->list[t->count++] = (missing){.ext = s, .first_us = now_us};
}

uint32_t odeon_nack_tracker_received(odeon_nack_tracker *t, uint16_t seq, int64_t now_us)
{
    if (!t->started) {
        t->started = true;
        t->highest = FIRST_CYCLE + seq;
        return t->highest;
    }
    int64_t ext = extend(t->highest, seq);
    if (ext > (int64_t)UINT32_MAX)
        ext -= 0x10000; /* cannot happen before 2^32 packets; keep the value in range */
    if (ext > (int64_t)t->highest) {
        add_gap(t, (uint32_t)ext, now_us);
        t->highest = (uint32_t)ext;
    } else if (ext >= 0 && ext < (int64_t)t->highest) {
        size_t i = lower_bound(t, (uint32_t)ext);
        if (i < t->count && t->list[i].ext == (uint32_t)ext)
            remove_range(t, i, 1);
    }
    return ext < 0 ? 0 : (uint32_t)ext;
}

static bool too_old(const odeon_nack_tracker *t, const missing *m, int64_t now_us)
{
    return now_us - m->first_us > t->cfg.max_age_us ||
           t->highest - m->ext > t->cfg.max_age_packets || m->retries >= t->cfg.max_retries;
}

size_t odeon_nack_tracker_poll(odeon_nack_tracker *t, int64_t now_us, uint16_t *out, size_t cap)
{
    int64_t interval = t->rtt_us > t->cfg.min_interval_us ? t->rtt_us : t->cfg.min_interval_us;
    size_t written = 0, keep = 0;
    for (size_t i = 0; i < t->count; i++) {
        missing m = t->list[i];
        if (too_old(t, &m, now_us))
            continue; /* dropped: not copied to the kept prefix */
        bool due = m.retries == 0 ? now_us - m.first_us >= t->cfg.reorder_delay_us
                                  : now_us - m.last_sent_us >= interval;
        if (due && written < cap) {
            out[written++] = (uint16_t)m.ext;
            m.retries++;
            m.last_sent_us = now_us;
        }
        t->list[keep++] = m;
    }
    t->count = keep;
    return written;
}

bool odeon_nack_tracker_take_keyframe_request(odeon_nack_tracker *t)
{
    bool k = t->keyframe;
    t->keyframe = false;
    return k;
}

size_t odeon_nack_tracker_missing_count(const odeon_nack_tracker *t)
{
    return t->count;
}

uint32_t odeon_nack_tracker_highest(const odeon_nack_tracker *t)
{
    return t->highest;
}
