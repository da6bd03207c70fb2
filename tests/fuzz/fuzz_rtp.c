/*
 * fuzz_rtp.c - libFuzzer target for the RTP packet view (webrtc/rtp.h).
 *
 * The input is one datagram. It is classified, parsed, and on success every extension lookup,
 * typed reader and the element walk run over it; the parsed layout must stay inside the
 * buffer. The in-place writers then run on a copy, which must parse to the same layout with
 * the new header values (writers may not disturb anything else).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/rtp.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) \
            abort(); \
    } while (0)

/* Every reader on one id. */
static void read_id(const odeon_rtp_view *v, uint8_t id)
{
    const uint8_t *d;
    size_t n;
    uint32_t ast;
    uint16_t tw;
    bool voice;
    uint8_t level;
    char str[64];
    if (odeon_rtp_ext_find(v, id, &d, &n) == 0)
        CHECK(d >= v->buf && d + n <= v->buf + v->len);
    (void)odeon_rtp_ext_abs_send_time(v, id, &ast);
    (void)odeon_rtp_ext_twcc_seq(v, id, &tw);
    (void)odeon_rtp_ext_audio_level(v, id, &voice, &level);
    int r = odeon_rtp_ext_string(v, id, str, sizeof(str));
    if (r > 0)
        CHECK((size_t)r == strlen(str));
}

/* The element walk, then the readers on every id present plus the edge ids (0, 1, 14, 15,
 * 255); all 256 ids on every input would slow the fuzzer tenfold for no new paths. */
static void lookups(const odeon_rtp_view *v)
{
    size_t pos = 0, n;
    uint8_t id;
    const uint8_t *d;
    while (odeon_rtp_ext_next(v, &pos, &id, &d, &n) == 1) {
        CHECK(d >= v->buf + v->ext_offset && d + n <= v->buf + v->ext_offset + v->ext_len);
        CHECK(pos <= v->ext_len);
        read_id(v, id);
    }
    const uint8_t edges[] = {0, 1, 14, 15, 255};
    for (size_t i = 0; i < sizeof(edges); i++)
        read_id(v, edges[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    odeon_rtp_demux kind = odeon_rtp_demux_classify(data, size);
    bool rtcp = odeon_rtp_is_rtcp(data, size);
    CHECK(!rtcp || kind == ODEON_DEMUX_RTCP);
    odeon_rtp_view v;
    if (odeon_rtp_parse(data, size, &v) != 0)
        return 0;
    CHECK(v.payload_offset + v.payload_len + v.padding_len == size);
    CHECK(!v.extension || v.ext_offset + v.ext_len <= v.payload_offset);
    lookups(&v);

    uint8_t *copy = malloc(size);
    CHECK(copy);
    memcpy(copy, data, size);
    CHECK(odeon_rtp_set_ssrc(copy, size, ~v.ssrc) == 0);
    CHECK(odeon_rtp_set_seq(copy, size, (uint16_t)(v.seq + 1)) == 0);
    CHECK(odeon_rtp_set_timestamp(copy, size, v.timestamp + 3000) == 0);
    CHECK(odeon_rtp_set_payload_type(copy, size, (uint8_t)((v.payload_type + 1) & 0x7f)) == 0);
    CHECK(odeon_rtp_set_marker(copy, size, !v.marker) == 0);
    odeon_rtp_view w;
    CHECK(odeon_rtp_parse(copy, size, &w) == 0);
    CHECK(w.ssrc == ~v.ssrc && w.seq == (uint16_t)(v.seq + 1) && w.marker == !v.marker);
    CHECK(w.payload_offset == v.payload_offset && w.payload_len == v.payload_len);
    size_t pos = 0, n;
    uint8_t id;
    const uint8_t *d;
    while (odeon_rtp_ext_next(&w, &pos, &id, &d, &n) == 1) {
        uint16_t tw;
        if (odeon_rtp_set_twcc_seq(copy, &w, id, 0x5a5a) == 0)
            CHECK(odeon_rtp_ext_twcc_seq(&w, id, &tw) == 0 && tw == 0x5a5a);
    }
    CHECK(memcmp(copy + w.payload_offset, data + v.payload_offset, v.payload_len) == 0);
    free(copy);
    return 0;
}
