/*
 * fuzz_relay.c - libFuzzer target for what an upstream node reads from relays
 * (plugins/stage/stage_relay_wire.c): the feedback in a relay's decrypted RTCP (NACKs, PLI,
 * FIR) and the body of a subscription request. The first byte picks which; the rest is the
 * input. Items must name a valid lane, a parsed address must be IPv4 or IPv6 with a port, the
 * path must end with the relay; nothing may read past the input (ASan) or leak (LSan).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>

#include "stage_relay_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void feedback(const uint8_t *p, size_t len)
{
    relay_feedback items[64];
    size_t n = relay_feedback_parse(p, len, items, 64);
    if (n > 64)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (items[i].lane >= RELAY_WIRE_LANES)
            __builtin_trap();
}

static void subscription(const uint8_t *p, size_t len)
{
    relay_subscription s;
    const char *reason = NULL;
    if (relay_subscription_parse((const char *)p, len, &s, &reason) != 0) {
        if (reason == NULL)
            __builtin_trap();
        return;
    }
    if (s.addr.ss_family != AF_INET && s.addr.ss_family != AF_INET6)
        __builtin_trap();
    size_t n = 0;
    while (s.path[n] != NULL)
        n++;
    if (n == 0 || strcmp(s.path[n - 1], s.node) != 0 || !relay_subscription_passes(&s, s.node))
        __builtin_trap();
    relay_subscription_clear(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        feedback(data + 1, size - 1);
    else
        subscription(data + 1, size - 1);
    return 0;
}
