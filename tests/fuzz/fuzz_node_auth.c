/*
 * fuzz_node_auth.c - libFuzzer target for the Authorization header of node-to-node requests
 * (src/cluster/node_auth.c), the one header a node parses before it trusts the sender. The
 * input is the header; a second run signs a request with the fuzzed text as the body and
 * checks that the signature verifies and that a changed body does not.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "cluster/node_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzzing-shared-secret-0123456789"
#define NOW 1800000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = g_strndup((const char *)data, size);
    char *node = NULL;
    const char *reason = NULL;
    if (odeon_node_auth_verify(SECRET, header, "POST", "/odeon/relay/1", data, size, NOW, &node,
                               &reason) == 0 &&
        node == NULL)
        __builtin_trap();
    g_free(node);
    g_free(header);
    char *signed_header = odeon_node_auth_sign(SECRET, "relay-1", "POST", "/p", data, size, NOW);
    if (signed_header == NULL || odeon_node_auth_verify(SECRET, signed_header, "POST", "/p", data,
                                                        size, NOW, &node, &reason) != 0)
        __builtin_trap();
    g_free(node);
    node = NULL;
    if (size > 0) {
        uint8_t *changed = malloc(size);
        memcpy(changed, data, size);
        changed[size / 2] ^= 1;
        if (odeon_node_auth_verify(SECRET, signed_header, "POST", "/p", changed, size, NOW, &node,
                                   &reason) == 0)
            __builtin_trap();
        free(changed);
    }
    g_free(signed_header);
    return 0;
}
