/*
 * fuzz_stripe_sig.c - libFuzzer target for the Stripe-Signature check of the tickets plugin
 * (plugins/tickets/tickets_stripe.c), the first thing the webhook route runs on bytes from the
 * network. The input is "<header>\n<body>" (no newline: all header, empty body). The fuzzed
 * header must be judged without reading past it (ASan) and with a reason whenever it is
 * refused; a header signed for the fuzzed body must verify, also behind an unknown item whose
 * value is the fuzzed header, and must stop verifying when one byte of the body changes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "tickets_stripe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "whsec_fuzzing_secret"
#define NOW 1800000000
#define TOLERANCE 300

static int verify(const char *header, const uint8_t *body, size_t len)
{
    const char *reason = NULL;
    int rc = tickets_stripe_verify_signature(SECRET, header, body, len, NOW, TOLERANCE, &reason);
    if ((rc == 0) != (reason == NULL))
        __builtin_trap();
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t blen = size - hlen - (nl ? 1 : 0);
    char *header = g_strndup((const char *)data, hlen);
    verify(header, body, blen);

    char *good = tickets_stripe_sign(SECRET, NOW, body, blen);
    if (verify(good, body, blen) != 0)
        __builtin_trap();
    /* An unknown item in front, whatever bytes its value holds (short of the ','
     * separator), changes nothing. */
    char *value = g_strdup(header);
    g_strdelimit(value, ",", '_');
    char *mixed = g_strconcat("x=", value, ",", good, NULL);
    if (verify(mixed, body, blen) != 0)
        __builtin_trap();
    if (blen > 0) {
        uint8_t *changed = malloc(blen);
        memcpy(changed, body, blen);
        changed[blen / 2] ^= 1;
        if (verify(good, changed, blen) == 0)
            __builtin_trap();
        free(changed);
    }
    g_free(mixed);
    g_free(value);
    g_free(good);
    g_free(header);
    return 0;
}
