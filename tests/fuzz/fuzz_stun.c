/*
 * fuzz_stun.c - libFuzzer target for the STUN parser (src/webrtc/stun.h).
 *
 * Parses the input, walks every attribute, runs each typed reader on every attribute (wrong
 * types included: readers must only look at the value's bytes), checks MESSAGE-INTEGRITY with
 * a fixed key and FINGERPRINT, and, when the input carries an address, builds a Binding success
 * response from it and requires the parser to accept it and both checks to pass.
 * Seed corpus: tests/fuzz/corpus/fuzz_stun/ (the RFC 5769 vectors).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "webrtc/stun.h"

static const uint8_t KEY[] = "VOkJxbRl1RmTxUk/WvJxBt";

static void check_roundtrip(const odeon_stun_msg *m, const struct sockaddr_storage *ss)
{
    uint8_t out[128];
    size_t len = 0;
    if (odeon_stun_build_binding_success(out, sizeof(out), m->txid, (const struct sockaddr *)ss,
                                         KEY, sizeof(KEY) - 1, &len) != 0)
        abort();
    odeon_stun_msg back;
    if (odeon_stun_parse(out, len, &back) != 0 ||
        odeon_stun_check_integrity(&back, KEY, sizeof(KEY) - 1) != 0 ||
        odeon_stun_check_fingerprint(&back) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)odeon_stun_is_stun(data, size);
    odeon_stun_msg m;
    if (odeon_stun_parse(data, size, &m) != 0)
        return 0;
    odeon_stun_iter it;
    odeon_stun_attr a;
    odeon_stun_iter_init(&it, &m);
    while (odeon_stun_iter_next(&it, &a)) {
        if (a.offset + 4 + a.len > m.len)
            abort();
        const uint8_t *p;
        size_t n;
        uint32_t u32;
        uint64_t u64;
        int code;
        struct sockaddr_storage ss;
        (void)odeon_stun_attr_username(&a, &p, &n);
        (void)odeon_stun_attr_priority(&a, &u32);
        (void)odeon_stun_attr_tie_breaker(&a, &u64);
        if (odeon_stun_attr_error_code(&a, &code, &p, &n) == 0 && (code < 300 || code > 699))
            abort();
        if (odeon_stun_attr_xor_address(&m, &a, &ss, NULL) == 0)
            check_roundtrip(&m, &ss);
    }
    (void)odeon_stun_has(&m, ODEON_STUN_ATTR_USE_CANDIDATE);
    (void)odeon_stun_check_integrity(&m, KEY, sizeof(KEY) - 1);
    (void)odeon_stun_check_fingerprint(&m);
    return 0;
}
