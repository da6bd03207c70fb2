/*
 * fuzz_rtcp.c - libFuzzer target for RTCP (webrtc/rtcp.h).
 *
 * The input is walked as a compound packet and every parser and accessor runs on every
 * packet; borrowed pointers must stay inside the packet. The same bytes then drive the
 * builders: read as a list of 16-bit sequence numbers, they must pack into a NACK that
 * expands to exactly that set, and read as a bitrate they must survive a REMB round trip
 * within the 18-bit mantissa's precision.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/rtcp.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) \
            abort(); \
    } while (0)

static void parse_packet(const odeon_rtcp_header *h)
{
    odeon_rtcp_report rep;
    odeon_rtcp_report_block rb;
    if (odeon_rtcp_parse_report(h, &rep) == 0)
        for (unsigned i = 0; i < rep.block_count; i++)
            CHECK(odeon_rtcp_report_block_at(&rep, i, &rb) == 0);
    size_t pos = 0;
    odeon_rtcp_sdes_chunk c;
    while (odeon_rtcp_sdes_next(h, &pos, &c) == 1)
        CHECK(!c.cname || c.cname + c.cname_len <= h->body + h->body_len);
    odeon_rtcp_bye bye;
    if (odeon_rtcp_parse_bye(h, &bye) == 0) {
        CHECK(!bye.reason || bye.reason + bye.reason_len <= h->body + h->body_len);
        for (unsigned i = 0; i < bye.ssrc_count; i++)
            (void)odeon_rtcp_bye_ssrc(&bye, i);
    }
    odeon_rtcp_nack nack;
    uint16_t lost[32];
    if (odeon_rtcp_parse_nack(h, &nack) == 0)
        CHECK(odeon_rtcp_nack_lost(&nack, lost, 32) >= nack.pair_count);
    odeon_rtcp_twcc tw;
    if (odeon_rtcp_parse_twcc(h, &tw) == 0)
        CHECK(tw.chunks + tw.chunks_len <= h->body + h->body_len);
    uint32_t s, m;
    (void)odeon_rtcp_parse_pli(h, &s, &m);
    odeon_rtcp_fir fir;
    odeon_rtcp_fir_entry fe;
    if (odeon_rtcp_parse_fir(h, &fir) == 0)
        for (size_t i = 0; i < fir.entry_count; i++)
            CHECK(odeon_rtcp_fir_entry_at(&fir, i, &fe) == 0);
    odeon_rtcp_remb remb;
    if (odeon_rtcp_parse_remb(h, &remb) == 0)
        for (unsigned i = 0; i < remb.ssrc_count; i++)
            (void)odeon_rtcp_remb_ssrc(&remb, i);
}

static bool nack_has(const uint16_t *list, size_t n, uint16_t seq)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == seq)
            return true;
    return false;
}

/* The input as sequence numbers: the NACK built from them expands to the same set. */
static void nack_round_trip(const uint8_t *data, size_t size)
{
    uint16_t seqs[128], out[128 * 17];
    size_t n = size / 2 > 128 ? 128 : size / 2;
    for (size_t i = 0; i < n; i++)
        seqs[i] = (uint16_t)((data[2 * i] << 8) | data[2 * i + 1]);
    uint8_t buf[12 + 128 * 4];
    int len = odeon_rtcp_build_nack(buf, sizeof(buf), 1, 2, seqs, n);
    if (n == 0) {
        CHECK(len < 0);
        return;
    }
    CHECK(len > 0);
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_nack nack;
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    CHECK(odeon_rtcp_iter_next(&it, &h) == 1);
    CHECK(odeon_rtcp_parse_nack(&h, &nack) == 0);
    size_t got = odeon_rtcp_nack_lost(&nack, out, sizeof(out) / sizeof(out[0]));
    CHECK(got <= sizeof(out) / sizeof(out[0]));
    for (size_t i = 0; i < n; i++)
        CHECK(nack_has(out, got, seqs[i]));
    for (size_t i = 0; i < got; i++)
        CHECK(nack_has(seqs, n, out[i]));
}

static void remb_round_trip(const uint8_t *data, size_t size)
{
    uint64_t bitrate = 0;
    for (size_t i = 0; i < size && i < 8; i++)
        bitrate = (bitrate << 8) | data[i];
    uint8_t buf[32];
    int len = odeon_rtcp_build_remb(buf, sizeof(buf), 1, bitrate, NULL, 0);
    CHECK(len == 20);
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    odeon_rtcp_remb remb;
    odeon_rtcp_iter_init(&it, buf, (size_t)len);
    CHECK(odeon_rtcp_iter_next(&it, &h) == 1);
    CHECK(odeon_rtcp_parse_remb(&h, &remb) == 0);
    CHECK(remb.bitrate <= bitrate && bitrate - remb.bitrate <= bitrate >> 17);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    odeon_rtcp_iter it;
    odeon_rtcp_header h;
    int r, n = 0;
    odeon_rtcp_iter_init(&it, data, size);
    while ((r = odeon_rtcp_iter_next(&it, &h)) == 1) {
        CHECK(h.data >= data && h.data + h.len <= data + size);
        CHECK(h.body + h.body_len <= h.data + h.len);
        parse_packet(&h);
        n++;
    }
    int count = odeon_rtcp_count(data, size);
    CHECK(r < 0 ? count < 0 : count == n);
    nack_round_trip(data, size);
    remb_round_trip(data, size);
    return 0;
}
