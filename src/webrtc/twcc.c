/*
 * twcc.c - transport-wide feedback: the receive-side recorder and builder, and the parser the
 * send side walks (see twcc.h).
 *
 * Recorder. Sequence numbers are extended to 32 bits as in nack.c (the first packet is put in
 * cycle 1, so slightly older ones stay non-negative). The ring holds one slot per extended
 * number; each slot stores the number it describes, so a slot left over from an older cycle
 * reads as "not received" for the number asked. When the highest number advances, the slots
 * of the numbers skipped are cleared (at most one ring's worth), so that invariant holds.
 * `next` is the first number not yet reported: a feedback covers next..highest, or a prefix of
 * it, and moves next past what it covered.
 *
 * Builder. A feedback is planned, then written: the plan walks the numbers from next, adding
 * each one's status symbol to a chunk encoder and its delta to the delta bytes, and stops
 * before the first number that would not fit in max_size or whose delta does not fit in 16
 * bits. Writing repeats the same walk with output on, so both passes agree by construction.
 *
 * Deltas are computed from arrival times rounded down to 250 us ticks, each against the
 * previous received packet's ticks (the reference time's ticks for the first one), so the
 * receiver's reconstruction is off by less than one tick and rounding never accumulates. The
 * reference time is the first received packet's arrival rounded down to 64 ms, so its delta is
 * always 0..255 ticks.
 *
 * Chunk encoder. Pending symbols stay pending while they can still become one chunk: a run of
 * one symbol (up to 8191), or a vector (14 one-bit symbols when none needs a large delta, else
 * 7 two-bit ones). When the next symbol fits neither, it emits the run, a full 14-symbol
 * vector, or the first 7 pending symbols as a two-bit vector, and tries again. Every emitted
 * chunk is full except the last one of a packet, whose unused vector slots are zero: the status
 * count tells the receiver where to stop, as it does for the last run.
 */
#include "webrtc/twcc.h"

#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "webrtc/bytes.h"

#define FIRST_CYCLE 0x10000u
#define HEADER_LEN 20     /* RTCP header, two SSRCs, base, count, reference time, fb count */
#define MAX_RUN 0x1fff    /* 13-bit run length */
#define TICKS_PER_REF 256 /* 64 ms / 250 us */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Bytes of the receive delta that goes with a status symbol. */
static size_t delta_size(uint8_t sym)
{
    return sym == ODEON_TWCC_SMALL_DELTA ? 1 : sym == ODEON_TWCC_LARGE_DELTA ? 2 : 0;
}

/* Places seq within -32768..+32767 of highest. */
static int64_t extend(uint32_t highest, uint16_t seq)
{
    int16_t delta = (int16_t)(uint16_t)(seq - (uint16_t)highest);
    return (int64_t)highest + delta;
}

/* ---- recorder ----------------------------------------------------------------------------- */

typedef struct slot {
    uint32_t ext;
    bool received;
    int64_t arrival_us;
} slot;

struct odeon_twcc_recorder {
    size_t mask;
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    bool started;
    uint32_t highest;
    uint32_t next;
    uint8_t fb_count;
    uint32_t last_ref; /* reference time of the last feedback, for one with no received packet */
    slot *slots;
};

odeon_twcc_recorder *odeon_twcc_recorder_new(size_t capacity, uint32_t sender_ssrc,
                                             uint32_t media_ssrc, const char **error)
{
    const char *err = NULL;
    odeon_twcc_recorder *r = NULL;
    if (capacity < 16 || capacity > 32768 || (capacity & (capacity - 1)) != 0) {
        err = "twcc recorder: capacity must be a power of two in 16..32768";
    } else {
        r = calloc(1, sizeof(*r));
        if (r != NULL)
            r->slots = calloc(capacity, sizeof(*r->slots));
        if (r == NULL || r->slots == NULL) {
            odeon_twcc_recorder_free(r);
            r = NULL;
            err = "twcc recorder: out of memory";
        }
    }
    if (r == NULL) {
        if (error != NULL)
            *error = err;
        return NULL;
    }
    r->mask = capacity - 1;
    r->sender_ssrc = sender_ssrc;
    r->media_ssrc = media_ssrc;
    return r;
}

void odeon_twcc_recorder_free(odeon_twcc_recorder *r)
{
    if (r == NULL)
        return;
    free(r->slots);
    free(r);
}

void odeon_twcc_recorder_reset(odeon_twcc_recorder *r)
{
    memset(r->slots, 0, (r->mask + 1) * sizeof(*r->slots));
    r->started = false;
    r->highest = 0;
    r->next = 0;
}

void odeon_twcc_recorder_set_media_ssrc(odeon_twcc_recorder *r, uint32_t media_ssrc)
{
    r->media_ssrc = media_ssrc;
}

static void store(odeon_twcc_recorder *r, uint32_t ext, int64_t arrival_us)
{
    slot *s = &r->slots[ext & r->mask];
    *s = (slot){.ext = ext, .received = true, .arrival_us = arrival_us};
}

/* Moves the highest number to ext, clearing the slots of the numbers skipped, and forgets
 * unreported numbers that fall out of the ring. */
static void advance(odeon_twcc_recorder *r, uint32_t ext)
{
    size_t capacity = r->mask + 1;
    uint32_t gap = ext - r->highest - 1;
    uint32_t clear = gap < capacity ? gap : (uint32_t)capacity;
    for (uint32_t e = ext - clear; e != ext; e++)
        r->slots[e & r->mask] = (slot){.ext = e};
    r->highest = ext;
    if (r->highest - r->next >= capacity)
        r->next = r->highest - (uint32_t)capacity + 1;
}

int odeon_twcc_recorder_record(odeon_twcc_recorder *r, uint16_t seq, int64_t arrival_us)
{
    if (!r->started) {
        r->started = true;
        r->highest = FIRST_CYCLE + seq;
        r->next = r->highest;
        store(r, r->highest, arrival_us);
        return 0;
    }
    int64_t ext = extend(r->highest, seq);
    if (ext > (int64_t)UINT32_MAX)
        return ODEON_EGONE; /* 2^32 packets on one transport: not reachable in practice */
    if (ext > (int64_t)r->highest) {
        advance(r, (uint32_t)ext);
        store(r, (uint32_t)ext, arrival_us);
        return 0;
    }
    if (ext < 0 || r->highest - (uint64_t)ext > r->mask)
        return ODEON_EGONE;
    const slot *s = &r->slots[(size_t)ext & r->mask];
    if (s->ext == (uint32_t)ext && s->received)
        return ODEON_EEXIST;
    store(r, (uint32_t)ext, arrival_us);
    if ((uint32_t)ext < r->next)
        r->next = (uint32_t)ext; /* reported lost (or never reported): report it now */
    return 0;
}

bool odeon_twcc_recorder_pending(const odeon_twcc_recorder *r)
{
    return r->started && r->next <= r->highest;
}

/* ---- chunk encoder ------------------------------------------------------------------------ */

typedef struct chunk_enc {
    uint8_t syms[14]; /* pending symbols; a run longer than 14 keeps only syms[0] meaningful */
    unsigned n;
    bool same; /* all pending symbols equal syms[0] */
    bool wide; /* a pending symbol is ODEON_TWCC_LARGE_DELTA */
    size_t chunks;
    uint8_t *out; /* where chunks go; NULL while planning */
} chunk_enc;

static void emit(chunk_enc *e, uint16_t chunk)
{
    if (e->out != NULL)
        odeon_put_be16(e->out + e->chunks * 2, chunk);
    e->chunks++;
}

static void emit_run(chunk_enc *e)
{
    emit(e, (uint16_t)((unsigned)e->syms[0] << 13 | e->n));
    e->n = 0;
}

/* Emits the first count pending symbols (count <= n) as a vector and keeps the rest. */
static void emit_vector(chunk_enc *e, unsigned count, bool two_bit)
{
    uint16_t chunk = two_bit ? 0xc000 : 0x8000;
    for (unsigned i = 0; i < count; i++) /* first symbol in the most significant bits */
        chunk |= (uint16_t)(e->syms[i] << (two_bit ? 12 - 2 * i : 13 - i));
    emit(e, chunk);
    e->n -= count;
    memmove(e->syms, e->syms + count, e->n);
    e->same = true;
    e->wide = false;
    for (unsigned i = 0; i < e->n; i++) {
        e->same = e->same && e->syms[i] == e->syms[0];
        e->wide = e->wide || e->syms[i] == ODEON_TWCC_LARGE_DELTA;
    }
}

static void enc_add(chunk_enc *e, uint8_t sym)
{
    for (;;) {
        if (e->n == 0) {
            e->syms[0] = sym;
            e->n = 1;
            e->same = true;
            e->wide = sym == ODEON_TWCC_LARGE_DELTA;
            return;
        }
        if (e->same && sym == e->syms[0] && e->n < MAX_RUN) {
            if (e->n < sizeof(e->syms))
                e->syms[e->n] = sym;
            e->n++;
            return;
        }
        bool wide = e->wide || sym == ODEON_TWCC_LARGE_DELTA;
        if (e->n < (wide ? 7u : 14u)) {
            e->syms[e->n++] = sym;
            e->same = e->same && sym == e->syms[0];
            e->wide = wide;
            return;
        }
        if (e->same)
            emit_run(e);
        else if (!e->wide && e->n == 14)
            emit_vector(e, 14, false);
        else
            emit_vector(e, 7, true);
    }
}

static void enc_flush(chunk_enc *e)
{
    if (e->n == 0)
        return;
    if (e->same)
        emit_run(e);
    else
        emit_vector(e, e->n, e->wide);
}

/* Chunks the encoder would have emitted after a flush. */
static size_t enc_total(const chunk_enc *e)
{
    return e->chunks + (e->n > 0 ? 1 : 0);
}

/* ---- builder ------------------------------------------------------------------------------ */

/* One walk over next.. for plan and write: *count numbers, *ref the reference time. When out
 * is not NULL, count is given and the chunks and deltas are written after the header. */
typedef struct plan {
    uint32_t count;
    int64_t ref;
    bool have_ref;
    size_t chunks;
    size_t delta_bytes;
} plan;

/* Status symbol of ext and its delta in ticks against *prev (updated when received);
 * returns false when the delta does not fit in 16 bits. */
static bool status_of(const odeon_twcc_recorder *r, uint32_t ext, plan *p, int64_t *prev,
                      uint8_t *sym, int64_t *delta)
{
    const slot *s = &r->slots[ext & r->mask];
    *delta = 0;
    if (s->ext != ext || !s->received) {
        *sym = ODEON_TWCC_NOT_RECEIVED;
        return true;
    }
    int64_t ticks = floor_div(s->arrival_us, ODEON_TWCC_DELTA_US);
    if (!p->have_ref) {
        p->ref = floor_div(s->arrival_us, ODEON_TWCC_REFERENCE_US);
        p->have_ref = true;
        *prev = p->ref * TICKS_PER_REF;
    }
    *delta = ticks - *prev;
    if (*delta < INT16_MIN || *delta > INT16_MAX)
        return false;
    *prev = ticks;
    *sym = (*delta >= 0 && *delta <= 255) ? ODEON_TWCC_SMALL_DELTA : ODEON_TWCC_LARGE_DELTA;
    return true;
}

static size_t padded(size_t len)
{
    return (len + 3) & ~(size_t)3;
}

static void make_plan(const odeon_twcc_recorder *r, size_t max_size, plan *p)
{
    chunk_enc enc = {.n = 0};
    int64_t prev = 0;
    uint32_t limit = r->highest - r->next + 1;
    if (limit > UINT16_MAX)
        limit = UINT16_MAX;
    *p = (plan){.count = 0};
    for (uint32_t i = 0; i < limit; i++) {
        plan trial = *p;
        chunk_enc trial_enc = enc;
        int64_t trial_prev = prev, delta;
        uint8_t sym;
        if (!status_of(r, r->next + i, &trial, &trial_prev, &sym, &delta))
            break; /* the delta needs a new feedback (and a new reference time) */
        enc_add(&trial_enc, sym);
        trial.delta_bytes += delta_size(sym);
        if (padded(HEADER_LEN + enc_total(&trial_enc) * 2 + trial.delta_bytes) > max_size)
            break;
        trial.count = i + 1;
        *p = trial;
        enc = trial_enc;
        prev = trial_prev;
    }
    p->chunks = enc_total(&enc);
}

/* Writes the chunks and the deltas of the planned numbers after the header. */
static void write_body(const odeon_twcc_recorder *r, const plan *p, uint8_t *buf)
{
    chunk_enc enc = {.out = buf + HEADER_LEN};
    uint8_t *d = buf + HEADER_LEN + p->chunks * 2;
    plan walk = {.count = 0};
    int64_t prev = 0, delta;
    uint8_t sym;
    for (uint32_t i = 0; i < p->count; i++) {
        (void)status_of(r, r->next + i, &walk, &prev, &sym, &delta);
        enc_add(&enc, sym);
        if (sym == ODEON_TWCC_SMALL_DELTA) {
            *d++ = (uint8_t)delta;
        } else if (sym == ODEON_TWCC_LARGE_DELTA) {
            odeon_put_be16(d, (uint16_t)(int16_t)delta);
            d += 2;
        }
    }
    enc_flush(&enc);
}

int odeon_twcc_recorder_build(odeon_twcc_recorder *r, uint8_t *buf, size_t max_size)
{
    if (buf == NULL)
        return ODEON_EINVAL;
    if (max_size < ODEON_TWCC_MIN_PACKET)
        return ODEON_ENOMEM;
    if (!odeon_twcc_recorder_pending(r))
        return 0;
    plan p;
    make_plan(r, max_size, &p);
    /* The first number always fits: its delta is 0..255 ticks and 24 bytes hold it. */
    uint32_t ref = p.have_ref ? (uint32_t)(uint64_t)p.ref & 0xffffff : r->last_ref;
    size_t len = HEADER_LEN + p.chunks * 2 + p.delta_bytes;
    size_t total = padded(len);
    uint8_t pad = (uint8_t)(total - len);
    buf[0] = (uint8_t)(0x80 | (pad ? 0x20 : 0) | ODEON_RTCP_FMT_TWCC);
    buf[1] = ODEON_RTCP_RTPFB;
    odeon_put_be16(buf + 2, (uint16_t)(total / 4 - 1));
    odeon_put_be32(buf + 4, r->sender_ssrc);
    odeon_put_be32(buf + 8, r->media_ssrc);
    odeon_put_be16(buf + 12, (uint16_t)r->next);
    odeon_put_be16(buf + 14, (uint16_t)p.count);
    odeon_put_be24(buf + 16, ref);
    buf[19] = r->fb_count++;
    write_body(r, &p, buf);
    if (pad) {
        /* RFC 3550 §6.4.1: zeros, then the padding length (itself included) in the last
         * octet. */
        memset(buf + len, 0, pad - 1);
        buf[total - 1] = pad;
    }
    r->last_ref = ref;
    r->next += p.count;
    return (int)total;
}

/* ---- parser ------------------------------------------------------------------------------- */

/* Symbols a chunk holds (the run length, or the vector's capacity). */
static unsigned chunk_len(uint16_t c)
{
    if (!(c & 0x8000))
        return c & MAX_RUN;
    return (c & 0x4000) ? 7 : 14;
}

static uint8_t chunk_symbol(uint16_t c, unsigned i)
{
    if (!(c & 0x8000))
        return (uint8_t)((c >> 13) & 3);
    if (c & 0x4000)
        return (uint8_t)((c >> (12 - 2 * i)) & 3);
    return (uint8_t)((c >> (13 - i)) & 1);
}

int odeon_twcc_iter_init(odeon_twcc_iter *it, const odeon_rtcp_twcc *fb)
{
    if (!it || !fb || (fb->chunks_len > 0 && !fb->chunks))
        return ODEON_EINVAL;
    size_t pos = 0, deltas = 0;
    unsigned remaining = fb->status_count;
    while (remaining > 0) {
        if (fb->chunks_len - pos < 2)
            return ODEON_EINVAL;
        uint16_t c = odeon_be16(fb->chunks + pos);
        unsigned n = chunk_len(c);
        if (n == 0)
            return ODEON_EINVAL; /* an empty run */
        unsigned take = n < remaining ? n : remaining;
        /* A run repeats one symbol; a vector has one per slot. */
        unsigned distinct = (c & 0x8000) ? take : 1;
        for (unsigned i = 0; i < distinct; i++) {
            uint8_t sym = chunk_symbol(c, i);
            if (sym == 3)
                return ODEON_EINVAL; /* reserved */
            deltas += delta_size(sym) * (distinct == 1 ? take : 1);
        }
        pos += 2;
        remaining -= take;
    }
    if (fb->chunks_len - pos < deltas)
        return ODEON_EINVAL;
    *it = (odeon_twcc_iter){
        .fb = *fb,
        .delta_pos = pos,
        .arrival_us = (int64_t)fb->reference_time * ODEON_TWCC_REFERENCE_US,
    };
    return 0;
}

int odeon_twcc_iter_next(odeon_twcc_iter *it, odeon_twcc_status *out)
{
    if (!it || !out)
        return ODEON_EINVAL;
    if (it->index >= it->fb.status_count)
        return 0;
    /* init checked every chunk and delta up to status_count, so these reads are in bounds. */
    uint16_t c = odeon_be16(it->fb.chunks + it->chunk_pos);
    uint8_t sym = chunk_symbol(c, it->in_chunk);
    if (++it->in_chunk == chunk_len(c)) {
        it->chunk_pos += 2;
        it->in_chunk = 0;
    }
    *out = (odeon_twcc_status){
        .seq = (uint16_t)(it->fb.base_seq + it->index),
        .received = sym != ODEON_TWCC_NOT_RECEIVED,
        .symbol = sym,
    };
    it->index++;
    if (sym == ODEON_TWCC_NOT_RECEIVED)
        return 1;
    const uint8_t *d = it->fb.chunks + it->delta_pos;
    int64_t ticks = sym == ODEON_TWCC_SMALL_DELTA ? d[0] : (int16_t)odeon_be16(d);
    it->delta_pos += delta_size(sym);
    out->delta_us = ticks * ODEON_TWCC_DELTA_US;
    it->arrival_us += out->delta_us;
    out->arrival_us = it->arrival_us;
    return 1;
}
