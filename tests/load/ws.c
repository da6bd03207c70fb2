/*
 * ws.c - see ws.h. Just enough RFC 6455 for a Janus API client: the opening handshake (with the
 * Sec-WebSocket-Accept check, section 4.2.2), masked text frames out, text/continuation/ping/
 * close frames in; and the parsing of a node's http:// address (where a redirect sends a
 * viewer).
 */
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_MESSAGE (4u << 20)

static int fail(ws_conn *ws, const char *what)
{
    if (!ws->error[0])
        snprintf(ws->error, sizeof ws->error, "%s", what);
    ws->state = WS_CLOSED;
    return -1;
}

int ws_open(ws_conn *ws, const struct sockaddr_in *to, const char *host_hdr, const char *path,
            const char *subprotocol)
{
    memset(ws, 0, sizeof *ws);
    ws->in = g_byte_array_new();
    ws->out = g_byte_array_new();
    ws->msg = g_byte_array_new();
    ws->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ws->fd < 0)
        return fail(ws, "socket");
    if (connect(ws->fd, (const struct sockaddr *)to, sizeof *to) != 0 && errno != EINPROGRESS) {
        snprintf(ws->error, sizeof ws->error, "connect: %s", strerror(errno));
        return fail(ws, "");
    }
    uint8_t nonce[16];
    RAND_bytes(nonce, sizeof nonce);
    EVP_EncodeBlock((unsigned char *)ws->key, nonce, sizeof nonce);
    char *req = g_strdup_printf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
                                path, host_hdr, ws->key, subprotocol);
    g_byte_array_append(ws->out, (const guint8 *)req, (guint)strlen(req));
    g_free(req);
    ws->state = WS_CONNECTING;
    return 0;
}

bool ws_wants_write(const ws_conn *ws)
{
    return ws->state != WS_CLOSED && (ws->state == WS_CONNECTING || ws->out->len > 0);
}

int ws_on_writable(ws_conn *ws)
{
    if (ws->state == WS_CLOSED)
        return -1;
    if (ws->state == WS_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(ws->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            snprintf(ws->error, sizeof ws->error, "connect: %s", strerror(err));
            return fail(ws, "");
        }
        ws->state = WS_HANDSHAKE;
    }
    while (ws->out->len > 0) {
        ssize_t n = send(ws->fd, ws->out->data, ws->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            snprintf(ws->error, sizeof ws->error, "send: %s", strerror(errno));
            return fail(ws, "");
        }
        g_byte_array_remove_range(ws->out, 0, (guint)n);
    }
    return 0;
}

static void queue_frame(ws_conn *ws, uint8_t opcode, const uint8_t *data, size_t len)
{
    uint8_t h[14];
    size_t n = 0;
    h[n++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[n++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        h[n++] = 0x80 | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t mask[4];
    RAND_bytes(mask, 4);
    memcpy(h + n, mask, 4);
    n += 4;
    g_byte_array_append(ws->out, h, (guint)n);
    guint base = ws->out->len;
    g_byte_array_set_size(ws->out, base + (guint)len);
    for (size_t i = 0; i < len; i++)
        ws->out->data[base + i] = data[i] ^ mask[i & 3];
}

int ws_send_text(ws_conn *ws, const char *text, size_t len)
{
    if (ws->state == WS_CLOSED)
        return -1;
    queue_frame(ws, 0x1, (const uint8_t *)text, len);
    if (ws->state != WS_OPEN)
        return 0; /* flushed once the handshake is done */
    return ws_on_writable(ws);
}

/* The 101 response: status and Sec-WebSocket-Accept. Returns bytes consumed, 0 if incomplete,
 * -1 on error. */
static long parse_handshake(ws_conn *ws)
{
    const char *s = (const char *)ws->in->data;
    size_t len = ws->in->len;
    const char *end = g_strstr_len(s, (gssize)len, "\r\n\r\n");
    if (!end)
        return len > 16384 ? -1 : 0;
    size_t hlen = (size_t)(end - s) + 4;
    char *head = g_strndup(s, hlen);
    int status = 0;
    long rc = -1;
    if (sscanf(head, "HTTP/1.1 %d", &status) != 1 || status != 101) {
        snprintf(ws->error, sizeof ws->error, "upgrade refused (HTTP %d)", status);
        goto out;
    }
    char *acc = strcasestr(head, "\r\nSec-WebSocket-Accept:");
    if (!acc) {
        snprintf(ws->error, sizeof ws->error, "no Sec-WebSocket-Accept");
        goto out;
    }
    acc += strlen("\r\nSec-WebSocket-Accept:");
    while (*acc == ' ')
        acc++;
    char buf[96], want[64];
    uint8_t md[SHA_DIGEST_LENGTH];
    snprintf(buf, sizeof buf, "%s%s", ws->key, WS_GUID);
    SHA1((const unsigned char *)buf, strlen(buf), md);
    EVP_EncodeBlock((unsigned char *)want, md, SHA_DIGEST_LENGTH);
    if (strncmp(acc, want, strlen(want)) != 0) {
        snprintf(ws->error, sizeof ws->error, "bad Sec-WebSocket-Accept");
        goto out;
    }
    rc = (long)hlen;
out:
    g_free(head);
    return rc;
}

/* One frame from ws->in. Returns bytes consumed, 0 if incomplete, -1 on error or close. */
static long parse_frame(ws_conn *ws, ws_message_fn fn, void *user)
{
    const uint8_t *p = ws->in->data;
    size_t len = ws->in->len;
    if (len < 2)
        return 0;
    bool fin = (p[0] & 0x80) != 0, masked = (p[1] & 0x80) != 0;
    uint8_t op = p[0] & 0x0f;
    uint64_t plen = p[1] & 0x7f;
    size_t n = 2;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = ((uint64_t)p[2] << 8) | p[3];
        n = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | p[2 + i];
        n = 10;
    }
    if (plen > WS_MAX_MESSAGE)
        return fail(ws, "frame too large");
    uint8_t mask[4] = {0};
    if (masked) {
        if (len < n + 4)
            return 0;
        memcpy(mask, p + n, 4);
        n += 4;
    }
    if (len < n + plen)
        return 0;
    uint8_t *data = ws->in->data + n;
    if (masked)
        for (uint64_t i = 0; i < plen; i++)
            data[i] ^= mask[i & 3];
    switch (op) {
    case 0x0: /* continuation */
    case 0x1: /* text */
    case 0x2: /* binary: treated as text */
        if (ws->msg->len + plen > WS_MAX_MESSAGE)
            return fail(ws, "message too large");
        g_byte_array_append(ws->msg, data, (guint)plen);
        if (fin) {
            g_byte_array_append(ws->msg, (const guint8 *)"", 1); /* NUL for the parser */
            fn(user, (char *)ws->msg->data, ws->msg->len - 1);
            g_byte_array_set_size(ws->msg, 0);
        }
        break;
    case 0x8:
        return fail(ws, "closed by the server");
    case 0x9: /* ping: answer with the same payload */
        queue_frame(ws, 0xA, data, (size_t)plen);
        break;
    default: /* pong and reserved opcodes */
        break;
    }
    return (long)(n + plen);
}

int ws_on_readable(ws_conn *ws, ws_message_fn fn, void *user)
{
    if (ws->state == WS_CLOSED)
        return -1;
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = recv(ws->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            return fail(ws, "connection closed");
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            snprintf(ws->error, sizeof ws->error, "recv: %s", strerror(errno));
            return fail(ws, "");
        }
        g_byte_array_append(ws->in, buf, (guint)n);
    }
    for (;;) {
        long used;
        if (ws->state == WS_HANDSHAKE || ws->state == WS_CONNECTING) {
            used = parse_handshake(ws);
            if (used > 0)
                ws->state = WS_OPEN;
        } else {
            used = parse_frame(ws, fn, user);
        }
        if (used < 0)
            return fail(ws, "protocol error");
        if (used == 0)
            break;
        g_byte_array_remove_range(ws->in, 0, (guint)used);
        if (ws->state == WS_CLOSED)
            return -1;
    }
    return ws->out->len ? ws_on_writable(ws) : 0;
}

/* "http://IPv4:PORT": see ws.h. */
int ws_parse_url(const char *url, struct sockaddr_in *to, char *hdr, size_t hdr_len)
{
    const char *p = url;
    if (g_str_has_prefix(p, "http://"))
        p += 7;
    else if (g_str_has_prefix(p, "ws://"))
        p += 5;
    else if (strstr(p, "://"))
        return -1;
    char host[64];
    size_t n = strcspn(p, ":/");
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, p, n);
    host[n] = '\0';
    unsigned long port = 80;
    if (p[n] == ':') {
        char *end;
        port = strtoul(p + n + 1, &end, 10);
        if (end == p + n + 1 || port == 0 || port > 65535 || (*end && *end != '/'))
            return -1;
    }
    *to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &to->sin_addr) != 1)
        return -1;
    snprintf(hdr, hdr_len, "%s:%lu", host, port);
    return 0;
}

void ws_close(ws_conn *ws)
{
    if (ws->fd >= 0) {
        if (ws->state == WS_OPEN) {
            static const uint8_t code[2] = {0x03, 0xe8}; /* 1000 normal closure */
            g_byte_array_set_size(ws->out, 0);
            queue_frame(ws, 0x8, code, 2);
            ssize_t r = send(ws->fd, ws->out->data, ws->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)r;
        }
        close(ws->fd);
    }
    ws->fd = -1;
    ws->state = WS_CLOSED;
    if (ws->in)
        g_byte_array_free(ws->in, TRUE);
    if (ws->out)
        g_byte_array_free(ws->out, TRUE);
    if (ws->msg)
        g_byte_array_free(ws->msg, TRUE);
    ws->in = ws->out = ws->msg = NULL;
}
