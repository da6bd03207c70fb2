/*
 * fuzz_http.c - libFuzzer target for the transport's own HTTP parsing (http_parse.h).
 *
 * The first byte picks how the body is split across feed calls (as lws hands it over in
 * pieces) and the limit; the rest is a chunked body. Every split must decode to the same
 * result as feeding it whole, and never more bytes than the limit. The input is also parsed as
 * a Janus path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/http_parse.h"

typedef struct sink {
    uint8_t buf[4096];
    size_t len;
} sink;

static void emit(void *user_data, const uint8_t *data, size_t len)
{
    sink *s = user_data;
    if (s->len + len > sizeof(s->buf))
        abort(); /* the limit below is the buffer size: exceeding it is a decoder bug */
    memcpy(s->buf + s->len, data, len);
    s->len += len;
}

static int decode(const uint8_t *data, size_t size, size_t step, size_t limit, sink *out)
{
    odeon_http_chunked dec = {0};
    int r = ODEON_HTTP_CHUNKED_MORE;
    for (size_t i = 0; i < size && r == ODEON_HTTP_CHUNKED_MORE; i += step) {
        size_t n = size - i < step ? size - i : step;
        r = odeon_http_chunked_feed(&dec, data + i, n, limit, emit, out);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] & 0x1f) + 1;
    size_t limit = data[0] & 0x80 ? 64 : sizeof(((sink *)0)->buf);
    static sink whole, split;
    whole.len = split.len = 0;
    int a = decode(data + 1, size - 1, size, limit, &whole);
    int b = decode(data + 1, size - 1, step, limit, &split);
    if (a != b || whole.len != split.len || memcmp(whole.buf, split.buf, whole.len) != 0)
        abort();

    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    odeon_http_janus_path p;
    odeon_http_janus_path_parse(path, &p);
    if (p.segments > 3 || (p.first != NULL && (p.first < path || p.first + p.first_len > path + size)))
        abort();
    free(path);
    return 0;
}
