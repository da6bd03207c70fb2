/*
 * http_parse.h - the HTTP input the transport parses itself (libwebsockets parses the rest):
 * chunked request bodies, which lws 4.1 does not decode for servers, and the Janus API path.
 *
 * Pure functions over bytes: no lws, no glib main loop, no allocation; each has a fuzz target
 * (tests/fuzz/fuzz_http.c) and unit tests (tests/unit/test_http_parse.c).
 */
#ifndef ODEON_TRANSPORT_HTTP_PARSE_H
#define ODEON_TRANSPORT_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decoder state for a Transfer-Encoding: chunked body (RFC 9112 section 7.1). Zero it to
 * start. */
typedef struct odeon_http_chunked {
    uint8_t state;
    uint64_t remain;  /* bytes left in the current chunk, or the size being read */
    size_t decoded;   /* body bytes emitted so far */
} odeon_http_chunked;

/* Called with each run of decoded body bytes (borrowed for the call). */
typedef void (*odeon_http_chunk_emit)(void *user_data, const uint8_t *data, size_t len);

enum {
    ODEON_HTTP_CHUNKED_MORE = 0,       /* consumed everything, the body goes on */
    ODEON_HTTP_CHUNKED_DONE = 1,       /* the final chunk and trailers ended */
    ODEON_HTTP_CHUNKED_MALFORMED = -1, /* bad framing */
    ODEON_HTTP_CHUNKED_TOO_LARGE = -2, /* the body would exceed limit bytes */
};

/* Feed len bytes of the raw body; decoded bytes go to emit. Returns one of the values above;
 * after DONE or an error, stop feeding (bytes after the end are not consumed). */
int odeon_http_chunked_feed(odeon_http_chunked *dec, const uint8_t *in, size_t len, size_t limit,
                            odeon_http_chunk_emit emit, void *user_data);

/* A Janus API path below the base path ("", "/<session>", "/<session>/<handle>"). */
typedef struct odeon_http_janus_path {
    unsigned segments;    /* non-empty segments seen, 3 meaning "three or more" */
    uint64_t session_id;  /* 0 when absent or not a number (Janus's strtoull reading) */
    uint64_t handle_id;
    const char *first;    /* the first segment (points into the input), for "info" */
    size_t first_len;
} odeon_http_janus_path;

/* Split rest (the path after the base, NUL-terminated) into segments and read the ids. */
void odeon_http_janus_path_parse(const char *rest, odeon_http_janus_path *out);

#endif
