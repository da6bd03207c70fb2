/*
 * http_parse.c - chunked body decoding and Janus path parsing (see http_parse.h).
 *
 * The chunked decoder is a byte-at-a-time state machine for the framing, with data runs copied
 * out in one emit call, so a body split across any number of lws callbacks decodes the same.
 * Chunk sizes are checked against the limit while their digits are read, so a client cannot
 * announce an enormous chunk and make us wait for it.
 */
#include "transport/http_parse.h"

#include <string.h>

enum {
    CHUNK_SIZE = 0, /* hex digits of a chunk size */
    CHUNK_EXT,      /* ";ext" after the size, up to CR */
    CHUNK_SIZE_LF,
    CHUNK_DATA,
    CHUNK_DATA_CR,
    CHUNK_DATA_LF,
    CHUNK_TRAILER, /* start of a trailer line (or the final empty line) */
    CHUNK_TRAILER_LINE,
    CHUNK_TRAILER_LF,
    CHUNK_END_LF,
    CHUNK_FINISHED,
};

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One byte of framing. Returns MORE, DONE or an error. */
static int chunk_step(odeon_http_chunked *dec, uint8_t c, size_t limit)
{
    int digit = hex_value(c);
    switch (dec->state) {
    case CHUNK_SIZE:
        if (digit >= 0) {
            /* Checked before it can overflow: limit is far below 2^60. */
            if (dec->remain > (UINT64_MAX >> 4))
                return ODEON_HTTP_CHUNKED_TOO_LARGE;
            dec->remain = dec->remain * 16 + (uint64_t)digit;
            return dec->decoded + dec->remain > limit ? ODEON_HTTP_CHUNKED_TOO_LARGE
                                                      : ODEON_HTTP_CHUNKED_MORE;
        }
        dec->state = c == '\r' ? CHUNK_SIZE_LF : CHUNK_EXT;
        return (c == '\r' || c == ';' || c == ' ' || c == '\t') ? ODEON_HTTP_CHUNKED_MORE
                                                                : ODEON_HTTP_CHUNKED_MALFORMED;
    case CHUNK_EXT:
        if (c == '\r')
            dec->state = CHUNK_SIZE_LF;
        return ODEON_HTTP_CHUNKED_MORE;
    case CHUNK_SIZE_LF:
        if (c != '\n')
            return ODEON_HTTP_CHUNKED_MALFORMED;
        dec->state = dec->remain ? CHUNK_DATA : CHUNK_TRAILER;
        return ODEON_HTTP_CHUNKED_MORE;
    case CHUNK_DATA_CR:
        dec->state = CHUNK_DATA_LF;
        return c == '\r' ? ODEON_HTTP_CHUNKED_MORE : ODEON_HTTP_CHUNKED_MALFORMED;
    case CHUNK_DATA_LF:
        dec->state = CHUNK_SIZE;
        dec->remain = 0;
        return c == '\n' ? ODEON_HTTP_CHUNKED_MORE : ODEON_HTTP_CHUNKED_MALFORMED;
    case CHUNK_TRAILER:
        dec->state = c == '\r' ? CHUNK_END_LF : CHUNK_TRAILER_LINE;
        return ODEON_HTTP_CHUNKED_MORE;
    case CHUNK_TRAILER_LINE:
        if (c == '\r')
            dec->state = CHUNK_TRAILER_LF;
        return ODEON_HTTP_CHUNKED_MORE;
    case CHUNK_TRAILER_LF:
        dec->state = CHUNK_TRAILER;
        return c == '\n' ? ODEON_HTTP_CHUNKED_MORE : ODEON_HTTP_CHUNKED_MALFORMED;
    case CHUNK_END_LF:
        if (c != '\n')
            return ODEON_HTTP_CHUNKED_MALFORMED;
        dec->state = CHUNK_FINISHED;
        return ODEON_HTTP_CHUNKED_DONE;
    default:
        return ODEON_HTTP_CHUNKED_MALFORMED;
    }
}

int odeon_http_chunked_feed(odeon_http_chunked *dec, const uint8_t *in, size_t len, size_t limit,
                            odeon_http_chunk_emit emit, void *user_data)
{
    if (dec->state == CHUNK_FINISHED)
        return ODEON_HTTP_CHUNKED_DONE;
    size_t i = 0;
    while (i < len) {
        if (dec->state == CHUNK_DATA) {
            size_t n = len - i < dec->remain ? len - i : (size_t)dec->remain;
            emit(user_data, in + i, n);
            dec->decoded += n;
            i += n;
            dec->remain -= n;
            if (dec->remain == 0)
                dec->state = CHUNK_DATA_CR;
            continue;
        }
        int r = chunk_step(dec, in[i++], limit);
        if (r != ODEON_HTTP_CHUNKED_MORE)
            return r;
    }
    return ODEON_HTTP_CHUNKED_MORE;
}

/* Janus reads a path segment with strtoull: anything that is not a plain decimal number in
 * range is 0, which makes the request a root-level one. */
static uint64_t segment_id(const char *seg, size_t len)
{
    if (len == 0 || len > 20)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (seg[i] < '0' || seg[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(seg[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return v;
}

void odeon_http_janus_path_parse(const char *rest, odeon_http_janus_path *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = rest;
    while (*p != '\0' && out->segments < 3) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (out->segments == 0) {
            out->first = p;
            out->first_len = n;
            out->session_id = segment_id(p, n);
        } else if (out->segments == 1) {
            out->handle_id = segment_id(p, n);
        }
        out->segments++;
        p += n;
    }
}
