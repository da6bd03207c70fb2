/*
 * srtp.c - the libsrtp2 wrapper: policies from a profile, keys from DTLS-exported material,
 * in-place protect/unprotect with the checks libsrtp leaves to its caller.
 *
 * libsrtp trusts its caller with the buffer: protect writes the tag after the packet and
 * assumes SRTP_MAX_TRAILER_LEN (+4 for SRTCP) spare bytes, and it reads and writes 32-bit
 * words, so the buffer must be aligned. Both are checked here before libsrtp is called, so a
 * short buffer is refused rather than overrun. Lengths cross to libsrtp as int, so anything
 * that would not fit is refused too.
 *
 * Two srtp_t per session because a wildcard SSRC serves one direction only. The outbound one
 * allows repeated sequence numbers (retransmission of a packet as it was); the inbound one
 * has a larger replay window than libsrtp's 128 so that late retransmissions of video are not
 * dropped as too old.
 */
#include "webrtc/srtp.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>
#include <openssl/crypto.h>
#include <srtp2/srtp.h>

#include "plugin/plugin.h"

_Static_assert(ODEON_SRTP_RTP_TAIL_ROOM == SRTP_MAX_TRAILER_LEN, "RTP tail room");
_Static_assert(ODEON_SRTP_RTCP_TAIL_ROOM == SRTP_MAX_TRAILER_LEN + 4, "RTCP tail room");
_Static_assert(ODEON_SRTP_AES128_CM_SHA1_80 == (int)srtp_profile_aes128_cm_sha1_80,
               "profile ids follow use_srtp");
_Static_assert(ODEON_SRTP_AEAD_AES_128_GCM == (int)srtp_profile_aead_aes_128_gcm,
               "profile ids follow use_srtp");
_Static_assert(ODEON_SRTP_AES128_CM_KEY_LEN + ODEON_SRTP_AES128_CM_SALT_LEN ==
                   SRTP_AES_ICM_128_KEY_LEN_WSALT,
               "CM key+salt");
_Static_assert(ODEON_SRTP_AEAD_AES_128_GCM_KEY_LEN + ODEON_SRTP_AEAD_AES_128_GCM_SALT_LEN ==
                   SRTP_AES_GCM_128_KEY_LEN_WSALT,
               "GCM key+salt");

#define MIN_RTP_LEN 12  /* fixed RTP header */
#define MIN_RTCP_LEN 8  /* RTCP header + sender SSRC */
#define MAX_KEY_SALT 32 /* key || salt of any supported profile fits */

struct odeon_srtp {
    srtp_t out; /* ssrc_any_outbound: protect */
    srtp_t in;  /* ssrc_any_inbound: unprotect */
    odeon_srtp_profile profile;
};

/* ---- global initialisation ----------------------------------------------------------------- */

static gpointer init_once(gpointer data)
{
    (void)data;
    /* The result is kept as a pointer-sized integer: 1 + srtp_err_status_t, never NULL. */
    return GSIZE_TO_POINTER((gsize)srtp_init() + 1);
}

int odeon_srtp_global_init(void)
{
    static GOnce once = G_ONCE_INIT;
    gsize status = GPOINTER_TO_SIZE(g_once(&once, init_once, NULL)) - 1;
    return status == srtp_err_status_ok ? 0 : ODEON_EIO;
}

/* ---- profiles ------------------------------------------------------------------------------ */

odeon_srtp_profile odeon_srtp_profile_from_openssl_name(const char *name)
{
    if (!name)
        return ODEON_SRTP_PROFILE_NONE;
    /* OpenSSL's names, and the RFC 5764/7714 names dtls.h reports. */
    if (strcmp(name, "SRTP_AES128_CM_SHA1_80") == 0 ||
        strcmp(name, "AES_CM_128_HMAC_SHA1_80") == 0)
        return ODEON_SRTP_AES128_CM_SHA1_80;
    if (strcmp(name, "SRTP_AEAD_AES_128_GCM") == 0 || strcmp(name, "AEAD_AES_128_GCM") == 0)
        return ODEON_SRTP_AEAD_AES_128_GCM;
    return ODEON_SRTP_PROFILE_NONE;
}

size_t odeon_srtp_key_len(odeon_srtp_profile profile)
{
    switch (profile) {
    case ODEON_SRTP_AES128_CM_SHA1_80:
        return ODEON_SRTP_AES128_CM_KEY_LEN;
    case ODEON_SRTP_AEAD_AES_128_GCM:
        return ODEON_SRTP_AEAD_AES_128_GCM_KEY_LEN;
    default:
        return 0;
    }
}

size_t odeon_srtp_salt_len(odeon_srtp_profile profile)
{
    switch (profile) {
    case ODEON_SRTP_AES128_CM_SHA1_80:
        return ODEON_SRTP_AES128_CM_SALT_LEN;
    case ODEON_SRTP_AEAD_AES_128_GCM:
        return ODEON_SRTP_AEAD_AES_128_GCM_SALT_LEN;
    default:
        return 0;
    }
}

size_t odeon_srtp_material_len(odeon_srtp_profile profile)
{
    return 2 * (odeon_srtp_key_len(profile) + odeon_srtp_salt_len(profile));
}

/* CM_SHA1_80: 10-byte HMAC tag; GCM: 16-byte tag (RFC 7714). SRTCP adds the E|index word. */
size_t odeon_srtp_rtp_overhead(odeon_srtp_profile profile)
{
    switch (profile) {
    case ODEON_SRTP_AES128_CM_SHA1_80:
        return 10;
    case ODEON_SRTP_AEAD_AES_128_GCM:
        return 16;
    default:
        return 0;
    }
}

size_t odeon_srtp_rtcp_overhead(odeon_srtp_profile profile)
{
    size_t rtp = odeon_srtp_rtp_overhead(profile);
    return rtp ? rtp + 4 : 0;
}

/* ---- errors -------------------------------------------------------------------------------- */

static int map_status(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok:
        return 0;
    case srtp_err_status_auth_fail:
        return ODEON_EPERM;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
    case srtp_err_status_pkt_idx_old:
        return ODEON_EEXIST;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
    case srtp_err_status_bad_mki:
    case srtp_err_status_no_ctx:
        return ODEON_EINVAL;
    case srtp_err_status_alloc_fail:
        return ODEON_ENOMEM;
    default:
        return ODEON_EIO;
    }
}

const char *odeon_srtp_error_name(int code)
{
    switch (code) {
    case 0:
        return "ok";
    case ODEON_EPERM:
        return "authentication failed";
    case ODEON_EEXIST:
        return "replayed or too old packet";
    case ODEON_EINVAL:
        return "malformed packet or bad argument";
    case ODEON_ENOMEM:
        return "no room for the SRTP trailer, or out of memory";
    case ODEON_EIO:
        return "SRTP failure";
    default:
        return "unknown error";
    }
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void set_error(char **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void set_error(char **error, const char *fmt, ...)
{
    if (!error)
        return;
    va_list ap;
    va_start(ap, fmt);
    *error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

static void set_policy_crypto(srtp_policy_t *p, odeon_srtp_profile profile)
{
    if (profile == ODEON_SRTP_AEAD_AES_128_GCM) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
    } else {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
    }
}

/* Creates one context from key || salt. key_salt is borrowed; libsrtp derives its session
 * keys from it during srtp_create and keeps no pointer to it. */
static srtp_err_status_t create_ctx(srtp_t *ctx, odeon_srtp_profile profile, uint8_t *key_salt,
                                    bool outbound)
{
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    set_policy_crypto(&policy, profile);
    policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    policy.key = key_salt;
    policy.window_size = ODEON_SRTP_REPLAY_WINDOW;
    policy.allow_repeat_tx = outbound ? 1 : 0;
    policy.next = NULL;
    return srtp_create(ctx, &policy);
}

/* Copies one side's key and salt out of client_key | server_key | client_salt | server_salt. */
static void split_material(uint8_t *dst, const uint8_t *material, size_t k, size_t salt_len,
                           bool client_side)
{
    memcpy(dst, material + (client_side ? 0 : k), k);
    memcpy(dst + k, material + 2 * k + (client_side ? 0 : salt_len), salt_len);
}

odeon_srtp *odeon_srtp_new(odeon_srtp_profile profile, const uint8_t *material, size_t len,
                           bool is_dtls_client, char **error)
{
    size_t k = odeon_srtp_key_len(profile), salt_len = odeon_srtp_salt_len(profile);
    if (k == 0) {
        set_error(error, "unsupported SRTP profile %d", (int)profile);
        return NULL;
    }
    if (!material || len != odeon_srtp_material_len(profile)) {
        set_error(error, "SRTP keying material is %zu bytes, %zu expected", material ? len : 0,
                  odeon_srtp_material_len(profile));
        return NULL;
    }
    if (odeon_srtp_global_init() != 0) {
        set_error(error, "srtp_init failed");
        return NULL;
    }

    uint8_t local[MAX_KEY_SALT], remote[MAX_KEY_SALT];
    split_material(local, material, k, salt_len, is_dtls_client);
    split_material(remote, material, k, salt_len, !is_dtls_client);

    odeon_srtp *s = g_new0(odeon_srtp, 1);
    s->profile = profile;
    srtp_err_status_t st = create_ctx(&s->out, profile, local, true);
    if (st == srtp_err_status_ok)
        st = create_ctx(&s->in, profile, remote, false);
    OPENSSL_cleanse(local, sizeof local);
    OPENSSL_cleanse(remote, sizeof remote);
    if (st != srtp_err_status_ok) {
        set_error(error, "srtp_create failed (libsrtp status %d)", (int)st);
        odeon_srtp_free(s);
        return NULL;
    }
    return s;
}

void odeon_srtp_free(odeon_srtp *s)
{
    if (!s)
        return;
    if (s->out)
        srtp_dealloc(s->out);
    if (s->in)
        srtp_dealloc(s->in);
    g_free(s);
}

odeon_srtp_profile odeon_srtp_get_profile(const odeon_srtp *s)
{
    return s ? s->profile : ODEON_SRTP_PROFILE_NONE;
}

/* ---- protect / unprotect ------------------------------------------------------------------- */

static bool aligned(const uint8_t *buf)
{
    return ((uintptr_t)buf & 3u) == 0;
}

/* Common checks for protect: arguments, alignment, and room for libsrtp's worst-case trailer
 * (so *len + room also fits in an int). */
static int check_protect(const odeon_srtp *s, const uint8_t *buf, const size_t *len,
                         size_t capacity, size_t min_len, size_t room)
{
    if (!s || !buf || !len || *len < min_len || !aligned(buf))
        return ODEON_EINVAL;
    if (*len > (size_t)INT_MAX - room)
        return ODEON_EINVAL;
    if (capacity < *len || capacity - *len < room)
        return ODEON_ENOMEM;
    return 0;
}

static int check_unprotect(const odeon_srtp *s, const uint8_t *buf, const size_t *len,
                           size_t min_len)
{
    if (!s || !buf || !len || *len < min_len || *len > (size_t)INT_MAX || !aligned(buf))
        return ODEON_EINVAL;
    return 0;
}

int odeon_srtp_protect_rtp(odeon_srtp *s, uint8_t *buf, size_t *len, size_t capacity)
{
    int rc = check_protect(s, buf, len, capacity, MIN_RTP_LEN, ODEON_SRTP_RTP_TAIL_ROOM);
    if (rc != 0)
        return rc;
    int n = (int)*len;
    rc = map_status(srtp_protect(s->out, buf, &n));
    if (rc == 0)
        *len = (size_t)n;
    return rc;
}

int odeon_srtp_protect_rtcp(odeon_srtp *s, uint8_t *buf, size_t *len, size_t capacity)
{
    int rc = check_protect(s, buf, len, capacity, MIN_RTCP_LEN, ODEON_SRTP_RTCP_TAIL_ROOM);
    if (rc != 0)
        return rc;
    int n = (int)*len;
    rc = map_status(srtp_protect_rtcp(s->out, buf, &n));
    if (rc == 0)
        *len = (size_t)n;
    return rc;
}

int odeon_srtp_unprotect_rtp(odeon_srtp *s, uint8_t *buf, size_t *len)
{
    int rc = check_unprotect(s, buf, len, MIN_RTP_LEN);
    if (rc != 0)
        return rc;
    int n = (int)*len;
    rc = map_status(srtp_unprotect(s->in, buf, &n));
    if (rc == 0)
        *len = (size_t)n;
    return rc;
}

int odeon_srtp_unprotect_rtcp(odeon_srtp *s, uint8_t *buf, size_t *len)
{
    int rc = check_unprotect(s, buf, len, MIN_RTCP_LEN);
    if (rc != 0)
        return rc;
    int n = (int)*len;
    rc = map_status(srtp_unprotect_rtcp(s->in, buf, &n));
    if (rc == 0)
        *len = (size_t)n;
    return rc;
}
