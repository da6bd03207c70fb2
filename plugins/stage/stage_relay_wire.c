/*
 * stage_relay_wire.c - relay links' RTCP and subscription body (see stage_relay_wire.h).
 */
#include "stage_relay_wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

size_t relay_rtcp_rr(uint8_t *buf, uint32_t ssrc)
{
    buf[0] = 0x80;
    buf[1] = 201;
    put16(buf + 2, 1);
    put32(buf + 4, ssrc);
    return 8;
}

size_t relay_rtcp_pli(uint8_t *buf, uint32_t ssrc, uint32_t media_ssrc)
{
    buf[0] = 0x81;
    buf[1] = 206;
    put16(buf + 2, 2);
    put32(buf + 4, ssrc);
    put32(buf + 8, media_ssrc);
    return 12;
}

size_t relay_rtcp_nack(uint8_t *buf, uint32_t ssrc, uint32_t media_ssrc, uint16_t seq)
{
    buf[0] = 0x81;
    buf[1] = 205;
    put16(buf + 2, 3);
    put32(buf + 4, ssrc);
    put32(buf + 8, media_ssrc);
    put16(buf + 12, seq);
    put16(buf + 14, 0);
    return 16;
}

size_t relay_rtcp_sr(uint8_t *buf, uint32_t ssrc, int64_t now_us, uint64_t packets, uint64_t bytes)
{
    buf[0] = 0x80;
    buf[1] = 200;
    put16(buf + 2, 6);
    put32(buf + 4, ssrc);
    put32(buf + 8, (uint32_t)(now_us / 1000000 + 2208988800LL)); /* NTP seconds */
    put32(buf + 12, (uint32_t)((double)(now_us % 1000000) * 4294.967296));
    put32(buf + 16, 0);
    put32(buf + 20, (uint32_t)packets);
    put32(buf + 24, (uint32_t)bytes);
    return 28;
}

/* One feedback part (type pt, format fmt, len bytes with its header). */
static size_t feedback_part(const uint8_t *p, size_t len, relay_feedback *items, size_t max)
{
    uint8_t pt = p[1], fmt = p[0] & 0x1f;
    if (len < 12)
        return 0;
    uint32_t lane = get32(p + 8) - RELAY_SSRC_BASE;
    if (lane >= RELAY_WIRE_LANES)
        return 0;
    size_t n = 0;
    if (pt == 206 && (fmt == 1 || fmt == 4)) {
        if (max > 0)
            items[n++] = (relay_feedback){.kind = RELAY_FEEDBACK_KEYFRAME, .lane = (uint8_t)lane};
        return n;
    }
    if (pt != 205 || fmt != 1)
        return 0;
    for (size_t off = 12; off + 4 <= len; off += 4) {
        uint16_t pid = get16(p + off), blp = get16(p + off + 2);
        for (int b = -1; b < 16 && n < max; b++) {
            if (b >= 0 && !(blp & (1u << b)))
                continue;
            items[n++] = (relay_feedback){
                .kind = RELAY_FEEDBACK_NACK, .lane = (uint8_t)lane, .seq = (uint16_t)(pid + b + 1)};
        }
    }
    return n;
}

size_t relay_feedback_parse(const uint8_t *buf, size_t len, relay_feedback *items, size_t max)
{
    size_t n = 0;
    for (size_t off = 0; off + 4 <= len && n < max;) {
        if ((buf[off] >> 6) != 2)
            break;
        size_t part = 4 + 4 * (size_t)get16(buf + off + 2);
        if (part > len - off)
            break;
        n += feedback_part(buf + off, part, items + n, max - n);
        off += part;
    }
    return n;
}

bool relay_hex_ok(const char *s, size_t len)
{
    if (s == NULL || strlen(s) != len)
        return false;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isxdigit(*p))
            return false;
    return true;
}

static bool node_id_ok(const char *id)
{
    if (id == NULL || *id == '\0' || strlen(id) > 128)
        return false;
    for (const char *p = id; *p; p++)
        if (!g_ascii_isalnum(*p) && strchr("-_.:", *p) == NULL)
            return false;
    return true;
}

static bool address_from(const char *text, json_int_t port, relay_subscription *s)
{
    if (text == NULL || port <= 0 || port > 65535)
        return false;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&s->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&s->addr;
    memset(&s->addr, 0, sizeof s->addr);
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        s->addr_len = sizeof *v4;
        return true;
    }
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        s->addr_len = sizeof *v6;
        return true;
    }
    return false;
}

static bool path_from(json_t *path, relay_subscription *s)
{
    size_t n = json_is_array(path) ? json_array_size(path) : 0;
    if ((path != NULL && !json_is_array(path)) || n > RELAY_MAX_PATH)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(path, i));
        if (!node_id_ok(id))
            return false;
        s->path[i] = g_strdup(id);
    }
    if (n == 0 || strcmp(s->path[n - 1], s->node) != 0)
        s->path[n++] = g_strdup(s->node);
    return true;
}

int relay_subscription_parse(const char *body, size_t len, relay_subscription *out,
                             const char **reason)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *j = body ? json_loadb(body, len, 0, &jerr) : NULL;
    const char *link = json_string_value(json_object_get(j, "link"));
    const char *nonce = json_string_value(json_object_get(j, "nonce"));
    const char *node = json_string_value(json_object_get(j, "node"));
    int rc = -1;
    if (!json_is_object(j) || !relay_hex_ok(link, 32) || !relay_hex_ok(nonce, 32) ||
        !address_from(json_string_value(json_object_get(j, "address")),
                      json_integer_value(json_object_get(j, "port")), out)) {
        *reason = "bad subscription (link, nonce, address, port)";
    } else if (!node_id_ok(node)) {
        *reason = "bad subscription (node)";
    } else {
        g_strlcpy(out->link, link, sizeof out->link);
        g_strlcpy(out->nonce, nonce, sizeof out->nonce);
        g_strlcpy(out->node, node, sizeof out->node);
        if (path_from(json_object_get(j, "path"), out))
            rc = 0;
        else
            *reason = "bad subscription (path)";
    }
    json_decref(j);
    if (rc != 0)
        relay_subscription_clear(out);
    return rc;
}

void relay_subscription_clear(relay_subscription *s)
{
    for (size_t i = 0; i < G_N_ELEMENTS(s->path); i++)
        g_clear_pointer(&s->path[i], g_free);
}

bool relay_subscription_passes(const relay_subscription *s, const char *id)
{
    for (size_t i = 0; s->path[i] != NULL; i++)
        if (strcmp(s->path[i], id) == 0)
            return true;
    return false;
}
