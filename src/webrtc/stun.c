/*
 * stun.c - STUN message parsing, attribute readers, MESSAGE-INTEGRITY and FINGERPRINT checks,
 * and the Binding success response builder (RFC 8489, RFC 8445 attributes).
 *
 * Everything here works on a borrowed byte buffer and never allocates (OpenSSL's one-shot
 * HMAC() is the one call that may allocate inside OpenSSL). odeon_stun_parse validates the TLV
 * framing of the whole message once, so the iterator and the readers can then walk it without
 * re-checking bounds against the header. The CRC-32 table is a compile-time constant, so there
 * is no mutable global state and no initialisation order to get wrong.
 */
#include "webrtc/stun.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "webrtc/bytes.h"

#include "plugin/plugin.h"

#define ATTR_HEADER_LEN 4
#define MAX_USERNAME_LEN 512 /* "less than 513 bytes" (RFC 5389 section 15.3) */
#define MAX_REASON_LEN 763
#define MI_ATTR_LEN (ATTR_HEADER_LEN + ODEON_STUN_HMAC_SHA1_LEN)
#define FP_ATTR_LEN (ATTR_HEADER_LEN + 4)

/* CRC-32, reflected polynomial 0xEDB88320, one entry per byte value. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u,
    0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu,
    0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du,
    0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u, 0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
    0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u,
    0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u, 0x26d930acu,
    0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu,
    0xb6662d3du, 0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu,
    0x9fbfe4a5u, 0xe8b8d433u, 0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu,
    0x086d3d2du, 0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau,
    0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u, 0x4db26158u, 0x3ab551ceu,
    0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au,
    0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u,
    0xce61e49fu, 0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u,
    0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
    0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u, 0xf00f9344u, 0x8708a3d2u, 0x1e01f268u,
    0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u,
    0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u,
    0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu,
    0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u,
    0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u,
    0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du, 0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
    0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu,
    0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u, 0x88085ae6u,
    0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du,
    0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u,
    0x47b2cf7fu, 0x30b5ffe9u, 0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u,
    0xcdd70693u, 0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

uint32_t odeon_stun_crc32(const uint8_t *data, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

bool odeon_stun_is_stun(const uint8_t *buf, size_t len)
{
    if (buf == NULL || len < ODEON_STUN_HEADER_LEN)
        return false;
    if ((buf[0] & 0xC0) != 0)
        return false;
    if ((odeon_be16(buf + 2) & 3) != 0)
        return false;
    return odeon_be32(buf + 4) == ODEON_STUN_MAGIC_COOKIE;
}

/* The method's 12 bits are interleaved with the two class bits:
 * M11..M7 C1 M6..M4 C0 M3..M0 (RFC 8489 section 5). */
static uint16_t type_method(uint16_t type)
{
    return (uint16_t)((type & 0x000F) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0F80));
}

static uint8_t type_class(uint16_t type)
{
    return (uint8_t)(((type >> 7) & 2) | ((type >> 4) & 1));
}

static uint16_t make_type(uint16_t method, uint8_t cls)
{
    return (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
                      ((cls & 1) << 4) | ((cls & 2) << 7));
}

/* Walks the attribute area once: every attribute must fit with its padding, FINGERPRINT must be
 * the last one with a 4-byte value, MESSAGE-INTEGRITY must be 20 bytes. */
static int scan_attributes(odeon_stun_msg *m)
{
    size_t pos = ODEON_STUN_HEADER_LEN;
    while (pos < m->len) {
        if (m->len - pos < ATTR_HEADER_LEN)
            return ODEON_EINVAL;
        uint16_t type = odeon_be16(m->buf + pos);
        size_t vlen = odeon_be16(m->buf + pos + 2);
        if (pad4(vlen) > m->len - pos - ATTR_HEADER_LEN)
            return ODEON_EINVAL;
        if (m->fp_offset != 0)
            return ODEON_EINVAL; /* something after FINGERPRINT */
        if (type == ODEON_STUN_ATTR_FINGERPRINT) {
            if (vlen != 4)
                return ODEON_EINVAL;
            m->fp_offset = pos;
        } else if (type == ODEON_STUN_ATTR_MESSAGE_INTEGRITY) {
            if (vlen != ODEON_STUN_HMAC_SHA1_LEN)
                return ODEON_EINVAL;
            if (m->mi_offset == 0)
                m->mi_offset = pos;
        }
        pos += ATTR_HEADER_LEN + pad4(vlen);
    }
    return 0;
}

int odeon_stun_parse(const uint8_t *buf, size_t len, odeon_stun_msg *out)
{
    if (out == NULL || !odeon_stun_is_stun(buf, len))
        return ODEON_EINVAL;
    size_t body = odeon_be16(buf + 2);
    if (len != ODEON_STUN_HEADER_LEN + body)
        return ODEON_EINVAL;
    odeon_stun_msg m = {
        .buf = buf,
        .len = len,
        .type = odeon_be16(buf),
        .txid = buf + 8,
    };
    m.method = type_method(m.type);
    m.cls = type_class(m.type);
    int rc = scan_attributes(&m);
    if (rc != 0)
        return rc;
    *out = m;
    return 0;
}

void odeon_stun_iter_init(odeon_stun_iter *it, const odeon_stun_msg *msg)
{
    it->msg = msg;
    it->pos = ODEON_STUN_HEADER_LEN;
}

bool odeon_stun_iter_next(odeon_stun_iter *it, odeon_stun_attr *attr)
{
    const odeon_stun_msg *m = it->msg;
    /* The framing was validated by odeon_stun_parse; these checks only keep a hand-made or
     * corrupted odeon_stun_msg from reading out of bounds. */
    if (m == NULL || it->pos >= m->len || m->len - it->pos < ATTR_HEADER_LEN)
        return false;
    size_t vlen = odeon_be16(m->buf + it->pos + 2);
    if (pad4(vlen) > m->len - it->pos - ATTR_HEADER_LEN)
        return false;
    attr->type = odeon_be16(m->buf + it->pos);
    attr->len = (uint16_t)vlen;
    attr->value = m->buf + it->pos + ATTR_HEADER_LEN;
    attr->offset = it->pos;
    it->pos += ATTR_HEADER_LEN + pad4(vlen);
    return true;
}

int odeon_stun_find(const odeon_stun_msg *msg, uint16_t type, odeon_stun_attr *out)
{
    odeon_stun_iter it;
    odeon_stun_attr a;
    bool after_mi = false;
    odeon_stun_iter_init(&it, msg);
    while (odeon_stun_iter_next(&it, &a)) {
        bool allowed = !after_mi || a.type == ODEON_STUN_ATTR_FINGERPRINT ||
                       a.type == ODEON_STUN_ATTR_MESSAGE_INTEGRITY_SHA256;
        if (a.type == type && allowed) {
            if (out != NULL)
                *out = a;
            return 0;
        }
        if (a.type == ODEON_STUN_ATTR_MESSAGE_INTEGRITY)
            after_mi = true;
    }
    return ODEON_ENOENT;
}

bool odeon_stun_has(const odeon_stun_msg *msg, uint16_t type)
{
    return odeon_stun_find(msg, type, NULL) == 0;
}

int odeon_stun_attr_username(const odeon_stun_attr *attr, const uint8_t **name, size_t *len)
{
    if (attr->len > MAX_USERNAME_LEN)
        return ODEON_EINVAL;
    *name = attr->value;
    *len = attr->len;
    return 0;
}

int odeon_stun_attr_xor_address(const odeon_stun_msg *msg, const odeon_stun_attr *attr,
                                struct sockaddr_storage *out, socklen_t *out_len)
{
    const uint8_t *v = attr->value;
    if (attr->len < 4)
        return ODEON_EINVAL;
    uint8_t family = v[1];
    uint16_t port = (uint16_t)(odeon_be16(v + 2) ^ (ODEON_STUN_MAGIC_COOKIE >> 16));
    uint8_t key[16]; /* the cookie, then the transaction id */
    odeon_put_be32(key, ODEON_STUN_MAGIC_COOKIE);
    memcpy(key + 4, msg->txid, ODEON_STUN_TXID_LEN);
    memset(out, 0, sizeof(*out));
    if (family == 0x01 && attr->len == 8) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        uint8_t a[4];
        for (int i = 0; i < 4; i++)
            a[i] = v[4 + i] ^ key[i];
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, a, 4);
        if (out_len != NULL)
            *out_len = sizeof(*sin);
        return 0;
    }
    if (family == 0x02 && attr->len == 20) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
        uint8_t a[16];
        for (int i = 0; i < 16; i++)
            a[i] = v[4 + i] ^ key[i];
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(&sin6->sin6_addr, a, 16);
        if (out_len != NULL)
            *out_len = sizeof(*sin6);
        return 0;
    }
    return ODEON_EINVAL;
}

int odeon_stun_attr_priority(const odeon_stun_attr *attr, uint32_t *priority)
{
    if (attr->len != 4)
        return ODEON_EINVAL;
    *priority = odeon_be32(attr->value);
    return 0;
}

int odeon_stun_attr_tie_breaker(const odeon_stun_attr *attr, uint64_t *tie_breaker)
{
    if (attr->len != 8)
        return ODEON_EINVAL;
    *tie_breaker = ((uint64_t)odeon_be32(attr->value) << 32) | odeon_be32(attr->value + 4);
    return 0;
}

int odeon_stun_attr_error_code(const odeon_stun_attr *attr, int *code, const uint8_t **reason,
                               size_t *reason_len)
{
    if (attr->len < 4 || attr->len - 4 > MAX_REASON_LEN)
        return ODEON_EINVAL;
    int cls = attr->value[2] & 0x07;
    int number = attr->value[3];
    if (cls < 3 || cls > 6 || number > 99)
        return ODEON_EINVAL;
    *code = cls * 100 + number;
    *reason = attr->value + 4;
    *reason_len = (size_t)attr->len - 4;
    return 0;
}

/* HMAC-SHA1 over the first mi_offset bytes of msg, with the header's length field set as if
 * the message ended right after a MESSAGE-INTEGRITY at mi_offset (RFC 8489 section 14.5).
 * The bytes are copied to the stack because the caller's buffer is read-only. */
static int integrity_hmac(const uint8_t *msg, size_t mi_offset, const uint8_t *key, size_t key_len,
                          uint8_t mac[ODEON_STUN_HMAC_SHA1_LEN])
{
    uint8_t copy[ODEON_STUN_MAX_INTEGRITY_OFFSET];
    unsigned int mac_len = 0;
    if (mi_offset > sizeof(copy) || key_len > INT32_MAX)
        return ODEON_ENOTSUP;
    memcpy(copy, msg, mi_offset);
    odeon_put_be16(copy + 2, (uint16_t)(mi_offset + MI_ATTR_LEN - ODEON_STUN_HEADER_LEN));
    static const uint8_t empty_key[1] = {0};
    if (HMAC(EVP_sha1(), key_len > 0 ? key : empty_key, (int)key_len, copy, mi_offset, mac,
             &mac_len) == NULL ||
        mac_len != ODEON_STUN_HMAC_SHA1_LEN)
        return ODEON_EIO;
    return 0;
}

int odeon_stun_check_integrity(const odeon_stun_msg *msg, const uint8_t *key, size_t key_len)
{
    if (msg->mi_offset == 0)
        return ODEON_ENOENT;
    if (msg->mi_offset + MI_ATTR_LEN > msg->len)
        return ODEON_EINVAL;
    uint8_t mac[ODEON_STUN_HMAC_SHA1_LEN];
    int rc = integrity_hmac(msg->buf, msg->mi_offset, key, key_len, mac);
    if (rc != 0)
        return rc;
    const uint8_t *wire = msg->buf + msg->mi_offset + ATTR_HEADER_LEN;
    return CRYPTO_memcmp(mac, wire, sizeof(mac)) == 0 ? 0 : ODEON_EPERM;
}

int odeon_stun_check_fingerprint(const odeon_stun_msg *msg)
{
    if (msg->fp_offset == 0)
        return ODEON_ENOENT;
    if (msg->fp_offset + FP_ATTR_LEN != msg->len)
        return ODEON_EINVAL;
    uint32_t want = odeon_stun_crc32(msg->buf, msg->fp_offset) ^ ODEON_STUN_FINGERPRINT_XOR;
    return odeon_be32(msg->buf + msg->fp_offset + ATTR_HEADER_LEN) == want ? 0 : ODEON_EINVAL;
}

/* Writes XOR-MAPPED-ADDRESS at p; returns its encoded size, or 0 for an unsupported family. */
static size_t put_xor_address(uint8_t *p, const uint8_t *txid, const struct sockaddr *sa)
{
    uint8_t key[16];
    odeon_put_be32(key, ODEON_STUN_MAGIC_COOKIE);
    memcpy(key + 4, txid, ODEON_STUN_TXID_LEN);
    const uint8_t *addr;
    size_t alen;
    uint16_t port;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        addr = (const uint8_t *)&sin->sin_addr;
        alen = 4;
        port = ntohs(sin->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        addr = (const uint8_t *)&sin6->sin6_addr;
        alen = 16;
        port = ntohs(sin6->sin6_port);
    } else {
        return 0;
    }
    odeon_put_be16(p, ODEON_STUN_ATTR_XOR_MAPPED_ADDRESS);
    odeon_put_be16(p + 2, (uint16_t)(4 + alen));
    p[4] = 0;
    p[5] = alen == 4 ? 0x01 : 0x02;
    odeon_put_be16(p + 6, (uint16_t)(port ^ (ODEON_STUN_MAGIC_COOKIE >> 16)));
    for (size_t i = 0; i < alen; i++)
        p[8 + i] = addr[i] ^ key[i];
    return ATTR_HEADER_LEN + 4 + alen;
}

int odeon_stun_build_binding_success(uint8_t *out, size_t cap, const uint8_t *txid,
                                     const struct sockaddr *mapped, const uint8_t *key,
                                     size_t key_len, size_t *out_len)
{
    if (out == NULL || txid == NULL || mapped == NULL || out_len == NULL)
        return ODEON_EINVAL;
    if (mapped->sa_family != AF_INET && mapped->sa_family != AF_INET6)
        return ODEON_EINVAL;
    size_t xlen = ATTR_HEADER_LEN + 4 + (mapped->sa_family == AF_INET ? 4 : 16);
    size_t total = ODEON_STUN_HEADER_LEN + xlen + (key != NULL ? MI_ATTR_LEN : 0) + FP_ATTR_LEN;
    if (cap < total)
        return ODEON_ENOMEM;
    odeon_put_be16(out, make_type(ODEON_STUN_METHOD_BINDING, ODEON_STUN_CLASS_SUCCESS));
    odeon_put_be16(out + 2, 0); /* set below, once the MESSAGE-INTEGRITY is computed */
    odeon_put_be32(out + 4, ODEON_STUN_MAGIC_COOKIE);
    memcpy(out + 8, txid, ODEON_STUN_TXID_LEN);
    size_t pos = ODEON_STUN_HEADER_LEN;
    pos += put_xor_address(out + pos, txid, mapped);
    if (key != NULL) {
        /* integrity_hmac patches the length field in its own copy. */
        int rc = integrity_hmac(out, pos, key, key_len, out + pos + ATTR_HEADER_LEN);
        if (rc != 0)
            return rc;
        odeon_put_be16(out + pos, ODEON_STUN_ATTR_MESSAGE_INTEGRITY);
        odeon_put_be16(out + pos + 2, ODEON_STUN_HMAC_SHA1_LEN);
        pos += MI_ATTR_LEN;
    }
    odeon_put_be16(out + 2, (uint16_t)(total - ODEON_STUN_HEADER_LEN));
    uint32_t crc = odeon_stun_crc32(out, pos) ^ ODEON_STUN_FINGERPRINT_XOR;
    odeon_put_be16(out + pos, ODEON_STUN_ATTR_FINGERPRINT);
    odeon_put_be16(out + pos + 2, 4);
    odeon_put_be32(out + pos + 4, crc);
    *out_len = total;
    return 0;
}
