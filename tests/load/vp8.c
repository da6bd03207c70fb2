/*
 * vp8.c - the VP8 pieces of odeon-load (see load.h): the RFC 7741 payload descriptor, the
 * frame-number barcode, decoded-frame hashes and a small receiver (reassembly + libvpx decoder).
 *
 * The receiver is deliberately strict: a frame is only decoded when every packet from the
 * previous frame's marker to this frame's marker arrived in sequence, and after any gap it
 * waits for a keyframe. A frame it decodes is then bit-exact with what any other viewer of the
 * same stream decodes for the same frame number, so differing hashes mean corrupt forwarding.
 */
#include "load.h"

#include <stdlib.h>
#include <string.h>

#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>

/* ----- payload descriptor (RFC 7741 section 4.2) ---------------------------------------------- */

int vp8_parse_desc(const uint8_t *p, size_t len, vp8_desc *out)
{
    memset(out, 0, sizeof *out);
    if (len < 1)
        return -1;
    size_t n = 1;
    out->start = (p[0] & 0x10) != 0;
    out->partition = p[0] & 0x07;
    if (p[0] & 0x80) { /* X */
        if (len < 2)
            return -1;
        uint8_t x = p[1];
        n = 2;
        if (x & 0x80) { /* I: picture id, 7 or 15 bits */
            if (len < n + 1)
                return -1;
            out->has_picture_id = true;
            if (p[n] & 0x80) {
                if (len < n + 2)
                    return -1;
                out->picture_id = (uint16_t)(((p[n] & 0x7f) << 8) | p[n + 1]);
                n += 2;
            } else {
                out->picture_id = p[n] & 0x7f;
                n += 1;
            }
        }
        if (x & 0x40) /* L: TL0PICIDX */
            n++;
        if (x & 0x30) /* T or K: TID|Y|KEYIDX */
            n++;
        if (len < n)
            return -1;
    }
    out->header_len = n;
    return 0;
}

bool vp8_payload_is_keyframe(const uint8_t *p, size_t len)
{
    vp8_desc d;
    if (vp8_parse_desc(p, len, &d) != 0 || !d.start || d.partition != 0 || len <= d.header_len)
        return false;
    return (p[d.header_len] & 0x01) == 0; /* frame tag: P (inverse key frame flag) */
}

size_t vp8_write_desc(uint8_t *p, bool start, uint16_t picture_id)
{
    p[0] = (uint8_t)(0x80 | (start ? 0x10 : 0x00)); /* X, S, PID 0 */
    p[1] = 0x80;                                    /* I */
    p[2] = (uint8_t)(0x80 | ((picture_id >> 8) & 0x7f));
    p[3] = (uint8_t)(picture_id & 0xff);
    return 4;
}

/* ----- barcode -------------------------------------------------------------------------------- */

#define BARCODE_CELLS 32 /* 16 bits, then their complement */
#define BARCODE_HI 235
#define BARCODE_LO 16

unsigned barcode_cell(unsigned width)
{
    /* cells on the 8-pixel grid where the width allows (the encoder's blocks then never
     * straddle two cells); 4-pixel cells for the 128..255 wide pictures of the smallest
     * simulcast layer, which VP8 still keeps apart at the contrast used */
    unsigned c = (width / BARCODE_CELLS) & ~7u;
    if (c >= 8)
        return c;
    c = (width / BARCODE_CELLS) & ~3u;
    return c >= 4 ? c : 0;
}

static bool cell_bit(uint16_t frame_no, int i)
{
    return i < 16 ? (frame_no >> (15 - i)) & 1 : !((frame_no >> (31 - i)) & 1);
}

void barcode_draw(vpx_image_t *img, uint16_t frame_no)
{
    unsigned c = barcode_cell(img->d_w);
    if (!c || img->d_h < c)
        return;
    for (unsigned y = 0; y < c; y++) {
        uint8_t *row = img->planes[VPX_PLANE_Y] + (size_t)y * (size_t)img->stride[VPX_PLANE_Y];
        for (int i = 0; i < BARCODE_CELLS; i++)
            memset(row + (size_t)i * c, cell_bit(frame_no, i) ? BARCODE_HI : BARCODE_LO, c);
    }
}

int barcode_read(const vpx_image_t *img, uint16_t *frame_no)
{
    unsigned c = barcode_cell(img->d_w);
    if (!c || img->d_h < c)
        return -1;
    bool bits[BARCODE_CELLS];
    for (int i = 0; i < BARCODE_CELLS; i++) {
        /* the centre half of the cell: block edges are where the encoder smears */
        unsigned sum = 0, n = 0;
        for (unsigned y = c / 4; y < c - c / 4; y++) {
            const uint8_t *row =
                img->planes[VPX_PLANE_Y] + (size_t)y * (size_t)img->stride[VPX_PLANE_Y];
            for (unsigned x = c / 4; x < c - c / 4; x++, n++)
                sum += row[(size_t)i * c + x];
        }
        bits[i] = sum / n >= 128;
    }
    uint16_t v = 0;
    for (int i = 0; i < 16; i++) {
        if (bits[i] == bits[16 + i])
            return -1;
        v = (uint16_t)((v << 1) | bits[i]);
    }
    *frame_no = v;
    return 0;
}

/* ----- hash ----------------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t frame_hash(const vpx_image_t *img)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ ((uint64_t)img->d_w << 32) ^ img->d_h;
    for (int pl = 0; pl < 3; pl++) {
        unsigned w = pl ? (img->d_w + img->x_chroma_shift) >> img->x_chroma_shift : img->d_w;
        unsigned ht = pl ? (img->d_h + img->y_chroma_shift) >> img->y_chroma_shift : img->d_h;
        for (unsigned y = 0; y < ht; y++)
            h = hash_bytes(h, img->planes[pl] + (size_t)y * (size_t)img->stride[pl], w);
    }
    return mix64(h);
}

/* ----- receiver ------------------------------------------------------------------------------- */

#define FRAME_MAX (2u << 20)

/* --frame-times: when a decoded frame completed */
typedef struct {
    int64_t t_us;
    uint16_t no;
    bool set;
} frame_time;

#define REORDER_SLOTS 64
#define REORDER_WAIT_US 150000 /* a relay repairs a loss in well under this on a LAN */

struct vp8_receiver {
    vpx_codec_ctx_t codec;
    bool codec_ok;
    uint8_t *frame;
    size_t frame_len;
    bool have_seq;
    uint16_t last_seq;
    bool in_frame; /* collecting a frame whose first packet arrived */
    uint32_t frame_ts;
    bool need_keyframe; /* after a gap (and at the start) */
    uint64_t *hashes;   /* indexed by barcode frame number */
    uint32_t *sizes;    /* width << 16 | height, same index */
    uint8_t *have;
    vp8_receiver_stats st;
    /* Packets that came ahead of a gap, held for REORDER_WAIT_US in case the missing ones
     * arrive late (a retransmission, a relay's repair), as a browser's jitter buffer would:
     * indexed by sequence number modulo REORDER_SLOTS. */
    struct held_packet {
        bool used;
        bool marker;
        uint16_t seq;
        uint32_t ts;
        size_t len;
        int64_t at_us;
        uint8_t data[1500];
    } *held;
    unsigned held_count;
    /* --frame-times: when each of the last VP8_FRAME_TIMES decoded frames completed, in the
     * slot of its frame number modulo VP8_FRAME_TIMES (numbers grow by one per frame, so a
     * slot holds the latest frame of its residue); NULL when not kept */
    frame_time *times;
};

vp8_receiver *vp8_receiver_new(void)
{
    vp8_receiver *r = calloc(1, sizeof *r);
    r->frame = malloc(FRAME_MAX);
    r->hashes = calloc(65536, sizeof *r->hashes);
    r->sizes = calloc(65536, sizeof *r->sizes);
    r->have = calloc(65536, 1);
    vpx_codec_dec_cfg_t cfg = {.threads = 1};
    r->codec_ok = vpx_codec_dec_init(&r->codec, vpx_codec_vp8_dx(), &cfg, 0) == VPX_CODEC_OK;
    r->need_keyframe = true;
    r->held = calloc(REORDER_SLOTS, sizeof *r->held);
    return r;
}

void vp8_receiver_free(vp8_receiver *r)
{
    if (!r)
        return;
    if (r->codec_ok)
        vpx_codec_destroy(&r->codec);
    free(r->frame);
    free(r->hashes);
    free(r->sizes);
    free(r->have);
    free(r->times);
    free(r->held);
    free(r);
}

void vp8_receiver_keep_frame_times(vp8_receiver *r)
{
    if (!r->times)
        r->times = calloc(VP8_FRAME_TIMES, sizeof *r->times);
}

bool vp8_receiver_frame_time(const vp8_receiver *r, uint16_t frame_no, int64_t *t_us)
{
    if (!r->times)
        return false;
    unsigned slot = frame_no & (VP8_FRAME_TIMES - 1);
    if (!r->times[slot].set || r->times[slot].no != frame_no)
        return false;
    *t_us = r->times[slot].t_us;
    return true;
}

/* Timing and size of one decoded frame. */
static void frame_decoded(vp8_receiver *r, const vpx_image_t *img, int64_t now_us)
{
    vp8_receiver_stats *st = &r->st;
    if (st->frames_decoded == 0)
        st->first_frame_us = now_us;
    else if (now_us - st->last_frame_us > st->max_gap_us)
        st->max_gap_us = now_us - st->last_frame_us;
    st->last_frame_us = now_us;
    st->frames_decoded++;
    if (st->frames_decoded == 1 || img->d_w != st->width || img->d_h != st->height) {
        if (st->size_changes < VP8_SIZE_CHANGES)
            st->sizes[st->size_changes] =
                (vp8_size_change){.at_us = now_us, .width = img->d_w, .height = img->d_h};
        st->size_changes++;
    }
    st->width = img->d_w;
    st->height = img->d_h;
}

static void decode_frame(vp8_receiver *r, int64_t now_us)
{
    if (!r->codec_ok || r->frame_len == 0)
        return;
    bool key = (r->frame[0] & 0x01) == 0;
    if (r->need_keyframe && !key) {
        if (r->st.frames_decoded)
            r->st.frames_dropped++;
        else
            r->st.frames_before_key++;
        return;
    }
    if (vpx_codec_decode(&r->codec, r->frame, (unsigned)r->frame_len, NULL, 0) != VPX_CODEC_OK) {
        r->st.decode_errors++;
        r->need_keyframe = true;
        return;
    }
    r->need_keyframe = false;
    r->st.keyframes += key;
    vpx_codec_iter_t it = NULL;
    vpx_image_t *img;
    while ((img = vpx_codec_get_frame(&r->codec, &it)) != NULL) {
        frame_decoded(r, img, now_us);
        uint16_t no;
        if (barcode_read(img, &no) != 0) {
            r->st.bad_barcode++;
            continue;
        }
        r->hashes[no] = frame_hash(img);
        r->sizes[no] = (img->d_w << 16) | img->d_h;
        r->have[no] = 1;
        if (r->times) /* now_us: when the marker packet, the frame's last, arrived */
            r->times[no & (VP8_FRAME_TIMES - 1)] = (frame_time){now_us, no, true};
    }
}

/* One packet in sequence order (or after a gap given up on). */
static void receiver_take(vp8_receiver *r, uint16_t seq, bool marker, uint32_t ts,
                          const uint8_t *payload, size_t len, int64_t now_us)
{
    if (r->have_seq && seq != (uint16_t)(r->last_seq + 1)) {
        /* a gap (or reordering, which we treat the same): this frame is lost, and every frame
         * until the next keyframe references something we did not decode */
        if ((int16_t)(seq - r->last_seq) <= 0)
            return; /* late or duplicate: ignore */
        if (r->in_frame || r->st.frames_decoded)
            r->st.frames_dropped++;
        r->in_frame = false;
        r->need_keyframe = true;
    }
    r->have_seq = true;
    r->last_seq = seq;
    vp8_desc d;
    if (vp8_parse_desc(payload, len, &d) != 0)
        return;
    const uint8_t *data = payload + d.header_len;
    size_t dlen = len - d.header_len;
    if (d.start && d.partition == 0) {
        if (r->in_frame) /* previous frame never saw its marker */
            r->st.frames_dropped++;
        r->in_frame = true;
        r->frame_ts = ts;
        r->frame_len = 0;
    } else if (!r->in_frame || ts != r->frame_ts) {
        r->in_frame = false;
        return;
    }
    if (r->frame_len + dlen > FRAME_MAX) {
        r->in_frame = false;
        r->need_keyframe = true;
        return;
    }
    memcpy(r->frame + r->frame_len, data, dlen);
    r->frame_len += dlen;
    if (marker) {
        r->in_frame = false;
        decode_frame(r, now_us);
    }
}

/* Takes the held packets that are next in sequence. */
static void held_drain(vp8_receiver *r, int64_t now_us)
{
    while (r->held_count > 0) {
        struct held_packet *h = &r->held[(uint16_t)(r->last_seq + 1) % REORDER_SLOTS];
        if (!h->used || h->seq != (uint16_t)(r->last_seq + 1))
            return;
        h->used = false;
        r->held_count--;
        receiver_take(r, h->seq, h->marker, h->ts, h->data, h->len, now_us);
    }
}

/* The gap before the oldest held packet is given up on: take it (receiver_take counts the
 * loss) and what follows it. */
static void held_skip_gap(vp8_receiver *r, int64_t now_us)
{
    for (int d = 1; d < REORDER_SLOTS; d++) {
        struct held_packet *h = &r->held[(uint16_t)(r->last_seq + d) % REORDER_SLOTS];
        if (h->used && h->seq == (uint16_t)(r->last_seq + d)) {
            h->used = false;
            r->held_count--;
            receiver_take(r, h->seq, h->marker, h->ts, h->data, h->len, now_us);
            held_drain(r, now_us);
            return;
        }
    }
    memset(r->held, 0, REORDER_SLOTS * sizeof *r->held); /* unreachable: nothing in range */
    r->held_count = 0;
}

static int64_t held_oldest_us(const vp8_receiver *r)
{
    int64_t oldest = INT64_MAX;
    for (unsigned i = 0; i < REORDER_SLOTS && r->held_count > 0; i++)
        if (r->held[i].used && r->held[i].at_us < oldest)
            oldest = r->held[i].at_us;
    return oldest;
}

void vp8_receiver_push(vp8_receiver *r, uint16_t seq, bool marker, uint32_t ts,
                       const uint8_t *payload, size_t len, int64_t now_us)
{
    int ahead = (int16_t)(seq - (uint16_t)(r->last_seq + 1));
    if (!r->have_seq || ahead <= 0 || ahead >= REORDER_SLOTS || len > sizeof r->held[0].data) {
        if (r->have_seq && ahead >= REORDER_SLOTS) /* too far: no repair will come in time */
            while (r->held_count > 0)
                held_skip_gap(r, now_us);
        receiver_take(r, seq, marker, ts, payload, len, now_us);
        held_drain(r, now_us);
        return;
    }
    struct held_packet *h = &r->held[seq % REORDER_SLOTS];
    if (!h->used) {
        *h = (struct held_packet){.used = true, .marker = marker, .seq = seq, .ts = ts,
                                  .len = len, .at_us = now_us};
        memcpy(h->data, payload, len);
        r->held_count++;
    }
    while (r->held_count > 0 && now_us - held_oldest_us(r) > REORDER_WAIT_US)
        held_skip_gap(r, now_us);
}

void vp8_receiver_new_stream(vp8_receiver *r)
{
    memset(r->held, 0, REORDER_SLOTS * sizeof *r->held);
    r->held_count = 0;
    /* a frame cut off by the loss was not decoded: dropped, as after a gap */
    if (r->in_frame && r->st.frames_decoded)
        r->st.frames_dropped++;
    r->have_seq = false;
    r->in_frame = false;
    r->need_keyframe = true;
}

void vp8_receiver_get_stats(const vp8_receiver *r, vp8_receiver_stats *out)
{
    *out = r->st;
}

bool vp8_receiver_frame(const vp8_receiver *r, uint16_t frame_no, uint64_t *hash, uint32_t *size)
{
    if (!r->have[frame_no])
        return false;
    *hash = r->hashes[frame_no];
    *size = r->sizes[frame_no];
    return true;
}
