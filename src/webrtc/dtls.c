/*
 * dtls.c - DTLS-SRTP identities and endpoints on OpenSSL 3.0 (see dtls.h for the contract).
 *
 * The identity owns the key, the certificate, its fingerprint, one SSL_CTX and the BIO_METHOD
 * of our datagram BIO; endpoints hold a reference to it, so both outlive every SSL made from
 * them. Each endpoint has one SSL with a memory read BIO (eof_return -1, so "empty" means
 * "retry") and a custom write BIO whose write callback hands each record OpenSSL writes to the
 * caller as one datagram: a memory write BIO would glue a whole flight into one oversized
 * packet and undo OpenSSL's MTU fragmentation.
 *
 * The peer certificate is checked against the SDP fingerprint twice: in the verify callback
 * (so a mismatch aborts the handshake with a bad_certificate alert the peer also sees) and
 * again on completion, before any keying material is exported.
 */
#include "webrtc/dtls.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <glib.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/refcount.h"
#include "plugin/plugin.h"

#define DTLS_CIPHERS                                                                               \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                                 \
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
#define DTLS_GROUPS "P-256:X25519"
/* Server preference decides the profile (OpenSSL picks by its own list): GCM first, and the
 * mandatory-to-implement AES_CM_128_HMAC_SHA1_80 kept (RFC 8827 section 6.5). */
#define DTLS_SRTP_PROFILES "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"
#define DTLS_EXPORT_LABEL "EXTRACTOR-dtls_srtp"
#define DTLS_MAX_RTO_US (60u * 1000u * 1000u)
#define DTLS_CERT_BACKDATE_S (24L * 60 * 60)
#define DTLS_CERT_LIFETIME_S (30L * 24 * 60 * 60)

struct odeon_dtls_identity {
    odeon_refcount ref;
    EVP_PKEY *key;
    X509 *cert;
    SSL_CTX *ctx;
    BIO_METHOD *bio_method;
    char fingerprint[ODEON_DTLS_FINGERPRINT_MAX];
};

struct odeon_dtls_endpoint {
    odeon_dtls_identity *identity; /* owned reference */
    odeon_dtls_role role;
    odeon_dtls_state state;
    SSL *ssl;
    BIO *rbio; /* owned by ssl */
    odeon_dtls_send_fn send_fn;
    void *send_user;
    odeon_dtls_data_fn data_fn;
    void *data_user;
    odeon_dtls_clock_fn clock;
    void *clock_user;
    int64_t deadline_us; /* relative, from start */
    int64_t deadline_at; /* absolute, set by start */
    unsigned initial_rto_us;
    const EVP_MD *remote_md;
    uint8_t remote_digest[EVP_MAX_MD_SIZE];
    unsigned remote_digest_len;
    bool fingerprint_mismatch; /* set by the verify callback */
    char reason[160];
    const char *profile_name;
    unsigned key_len, salt_len;
    uint8_t material[ODEON_DTLS_SRTP_MATERIAL_MAX];
    size_t material_len;
};

static void set_error(char **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void set_error(char **error, const char *fmt, ...)
{
    if (error == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    unsigned long e = ERR_get_error();
    if (e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        *error = g_strdup_printf("%s: %s", msg, buf);
        g_free(msg);
    } else {
        *error = msg;
    }
    ERR_clear_error();
}

static void format_fingerprint(const uint8_t *md, unsigned n, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t pos = 0;
    for (unsigned i = 0; i < n && pos + 3 <= cap; i++) {
        if (i > 0)
            out[pos++] = ':';
        out[pos++] = hex[md[i] >> 4];
        out[pos++] = hex[md[i] & 0x0f];
    }
    out[pos] = '\0';
}

/* ----- the datagram BIO ---------------------------------------------------------------------- */

static int dgram_bio_write(BIO *bio, const char *data, int len)
{
    odeon_dtls_endpoint *ep = BIO_get_data(bio);
    if (ep == NULL || len <= 0)
        return len <= 0 ? 0 : -1;
    ep->send_fn(ep->send_user, (const uint8_t *)data, (size_t)len);
    return len;
}

static long dgram_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)bio;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        return ODEON_DTLS_MTU;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
        return 0;
    default:
        return 0;
    }
}

static int dgram_bio_create(BIO *bio)
{
    BIO_set_init(bio, 1);
    BIO_set_data(bio, NULL);
    return 1;
}

static int dgram_bio_destroy(BIO *bio)
{
    BIO_set_data(bio, NULL);
    return 1;
}

static BIO_METHOD *dgram_bio_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "odeon dtls dgram");
    if (m == NULL)
        return NULL;
    if (!BIO_meth_set_write(m, dgram_bio_write) || !BIO_meth_set_ctrl(m, dgram_bio_ctrl) ||
        !BIO_meth_set_create(m, dgram_bio_create) || !BIO_meth_set_destroy(m, dgram_bio_destroy)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* ----- identity ------------------------------------------------------------------------------ */

static int verify_cb(int preverify_ok, X509_STORE_CTX *store);

/* Builds ctx, the BIO method and the fingerprint from id->key and id->cert. */
static bool identity_finish(odeon_dtls_identity *id, char **error)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!X509_digest(id->cert, EVP_sha256(), md, &n)) {
        set_error(error, "dtls: certificate digest failed");
        return false;
    }
    format_fingerprint(md, n, id->fingerprint, sizeof id->fingerprint);

    id->bio_method = dgram_bio_method_new();
    id->ctx = SSL_CTX_new(DTLS_method());
    if (id->bio_method == NULL || id->ctx == NULL) {
        set_error(error, "dtls: cannot create SSL_CTX");
        return false;
    }
    SSL_CTX *ctx = id->ctx;
    if (!SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) ||
        !SSL_CTX_set1_groups_list(ctx, DTLS_GROUPS) ||
        !SSL_CTX_set_cipher_list(ctx, DTLS_CIPHERS) || !SSL_CTX_use_certificate(ctx, id->cert) ||
        !SSL_CTX_use_PrivateKey(ctx, id->key) || !SSL_CTX_check_private_key(ctx)) {
        set_error(error, "dtls: cannot configure SSL_CTX");
        return false;
    }
    /* Inverted convention: 0 is success. */
    if (SSL_CTX_set_tlsext_use_srtp(ctx, DTLS_SRTP_PROFILES) != 0) {
        set_error(error, "dtls: cannot enable use_srtp");
        return false;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
    return true;
}

static odeon_dtls_identity *identity_new(EVP_PKEY *key, X509 *cert, char **error)
{
    odeon_dtls_identity *id = g_new0(odeon_dtls_identity, 1);
    odeon_refcount_init(&id->ref);
    id->key = key;
    id->cert = cert;
    if (!identity_finish(id, error)) {
        odeon_dtls_identity_unref(id);
        return NULL;
    }
    return id;
}

static X509 *make_self_signed(EVP_PKEY *key)
{
    X509 *cert = X509_new();
    BIGNUM *bn = BN_new();
    ASN1_INTEGER *serial = NULL;
    X509_NAME *name = NULL;
    bool ok = cert != NULL && bn != NULL && X509_set_version(cert, 2) &&
              BN_rand(bn, 63, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
              (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
              X509_set_serialNumber(cert, serial) &&
              X509_gmtime_adj(X509_getm_notBefore(cert), -DTLS_CERT_BACKDATE_S) != NULL &&
              X509_gmtime_adj(X509_getm_notAfter(cert), DTLS_CERT_LIFETIME_S) != NULL &&
              X509_set_pubkey(cert, key) && (name = X509_NAME_new()) != NULL &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"odeon",
                                         -1, -1, 0) &&
              X509_set_subject_name(cert, name) && X509_set_issuer_name(cert, name) &&
              X509_sign(cert, key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

odeon_dtls_identity *odeon_dtls_identity_generate(char **error)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL) {
        set_error(error, "dtls: P-256 key generation failed");
        return NULL;
    }
    X509 *cert = make_self_signed(key);
    if (cert == NULL) {
        set_error(error, "dtls: self-signed certificate failed");
        EVP_PKEY_free(key);
        return NULL;
    }
    return identity_new(key, cert, error);
}

odeon_dtls_identity *odeon_dtls_identity_load(const char *cert_path, const char *key_path,
                                              char **error)
{
    g_return_val_if_fail(cert_path != NULL && key_path != NULL, NULL);
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    FILE *f = fopen(cert_path, "r");
    if (f != NULL) {
        cert = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (cert == NULL) {
        set_error(error, "dtls: cannot read certificate %s", cert_path);
        return NULL;
    }
    f = fopen(key_path, "r");
    if (f != NULL) {
        key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (key == NULL || !X509_check_private_key(cert, key)) {
        set_error(error, "dtls: cannot read a matching private key from %s", key_path);
        EVP_PKEY_free(key);
        X509_free(cert);
        return NULL;
    }
    return identity_new(key, cert, error);
}

odeon_dtls_identity *odeon_dtls_identity_ref(odeon_dtls_identity *id)
{
    if (id != NULL)
        odeon_refcount_inc(&id->ref);
    return id;
}

void odeon_dtls_identity_unref(odeon_dtls_identity *id)
{
    if (id == NULL || !odeon_refcount_dec(&id->ref))
        return;
    SSL_CTX_free(id->ctx);
    BIO_meth_free(id->bio_method);
    X509_free(id->cert);
    EVP_PKEY_free(id->key);
    g_free(id);
}

const char *odeon_dtls_identity_fingerprint(const odeon_dtls_identity *id)
{
    return id != NULL ? id->fingerprint : NULL;
}

/* ----- fingerprints -------------------------------------------------------------------------- */

static const EVP_MD *md_from_sdp_name(const char *name)
{
    static const struct {
        const char *sdp;
        const EVP_MD *(*md)(void);
    } table[] = {
        {"sha-1", EVP_sha1},     {"sha-224", EVP_sha224}, {"sha-256", EVP_sha256},
        {"sha-384", EVP_sha384}, {"sha-512", EVP_sha512},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
        if (g_ascii_strcasecmp(name, table[i].sdp) == 0)
            return table[i].md();
    return NULL;
}

/* "AB:cd:..." -> bytes; exactly expect bytes, or false. */
static bool parse_fingerprint(const char *hex, uint8_t *out, unsigned expect)
{
    size_t n = strlen(hex);
    if (expect == 0 || n != (size_t)expect * 3 - 1)
        return false;
    for (unsigned i = 0; i < expect; i++) {
        const char *p = hex + (size_t)i * 3;
        int hi = g_ascii_xdigit_value(p[0]), lo = g_ascii_xdigit_value(p[1]);
        if (hi < 0 || lo < 0 || (i + 1 < expect && p[2] != ':'))
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool cert_matches(const odeon_dtls_endpoint *ep, X509 *cert)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (cert == NULL || !X509_digest(cert, ep->remote_md, md, &n))
        return false;
    return n == ep->remote_digest_len && CRYPTO_memcmp(md, ep->remote_digest, n) == 0;
}

/* Self-signed certificates are the norm in WebRTC: trust comes from the fingerprint the
 * signalling channel carried, so chain errors are ignored and the leaf digest decides. */
static int verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok;
    if (X509_STORE_CTX_get_error_depth(store) != 0)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    odeon_dtls_endpoint *ep = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (ep == NULL)
        return 0;
    if (!cert_matches(ep, X509_STORE_CTX_get_current_cert(store))) {
        ep->fingerprint_mismatch = true;
        return 0;
    }
    return 1;
}

/* ----- endpoint ------------------------------------------------------------------------------ */

static int64_t default_clock(void *user)
{
    (void)user;
    return g_get_monotonic_time();
}

static unsigned timer_cb(SSL *ssl, unsigned previous_us)
{
    odeon_dtls_endpoint *ep = SSL_get_app_data(ssl);
    unsigned first = ep != NULL && ep->initial_rto_us > 0 ? ep->initial_rto_us : 1000000u;
    if (previous_us == 0)
        return first;
    return previous_us >= DTLS_MAX_RTO_US / 2 ? DTLS_MAX_RTO_US : previous_us * 2;
}

odeon_dtls_endpoint *odeon_dtls_endpoint_new(odeon_dtls_identity *identity, odeon_dtls_role role,
                                             const char *remote_hash, const char *remote_hex,
                                             odeon_dtls_send_fn send_fn, void *user, char **error)
{
    g_return_val_if_fail(identity != NULL && send_fn != NULL, NULL);
    const EVP_MD *md = remote_hash != NULL ? md_from_sdp_name(remote_hash) : NULL;
    if (md == NULL) {
        set_error(error, "dtls: unsupported fingerprint hash %s", remote_hash ? remote_hash : "");
        return NULL;
    }
    odeon_dtls_endpoint *ep = g_new0(odeon_dtls_endpoint, 1);
    ep->remote_md = md;
    ep->remote_digest_len = (unsigned)EVP_MD_get_size(md);
    if (remote_hex == NULL ||
        !parse_fingerprint(remote_hex, ep->remote_digest, ep->remote_digest_len)) {
        set_error(error, "dtls: malformed %s fingerprint", remote_hash);
        g_free(ep);
        return NULL;
    }
    ep->identity = odeon_dtls_identity_ref(identity);
    ep->role = role;
    ep->state = ODEON_DTLS_STATE_NEW;
    ep->send_fn = send_fn;
    ep->send_user = user;
    ep->clock = default_clock;
    ep->deadline_us = ODEON_DTLS_DEFAULT_DEADLINE_US;

    ep->ssl = SSL_new(identity->ctx);
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(identity->bio_method);
    if (ep->ssl == NULL || rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        set_error(error, "dtls: cannot create SSL");
        odeon_dtls_endpoint_free(ep);
        return NULL;
    }
    BIO_set_mem_eof_return(rbio, -1);
    BIO_set_data(wbio, ep);
    SSL_set_bio(ep->ssl, rbio, wbio); /* ssl owns both */
    ep->rbio = rbio;
    SSL_set_app_data(ep->ssl, ep);
    SSL_set_options(ep->ssl, SSL_OP_NO_QUERY_MTU);
    DTLS_set_link_mtu(ep->ssl, ODEON_DTLS_MTU);
    DTLS_set_timer_cb(ep->ssl, timer_cb);
    if (role == ODEON_DTLS_ROLE_CLIENT)
        SSL_set_connect_state(ep->ssl);
    else
        SSL_set_accept_state(ep->ssl);
    return ep;
}

void odeon_dtls_endpoint_free(odeon_dtls_endpoint *ep)
{
    if (ep == NULL)
        return;
    if (ep->ssl != NULL) {
        BIO_set_data(SSL_get_wbio(ep->ssl), NULL); /* no callbacks from SSL_free */
        SSL_free(ep->ssl);
    }
    odeon_dtls_identity_unref(ep->identity);
    OPENSSL_cleanse(ep->material, sizeof ep->material);
    g_free(ep);
}

void odeon_dtls_endpoint_set_clock(odeon_dtls_endpoint *ep, odeon_dtls_clock_fn clock,
                                   void *clock_user)
{
    ep->clock = clock != NULL ? clock : default_clock;
    ep->clock_user = clock_user;
}

void odeon_dtls_endpoint_set_deadline_us(odeon_dtls_endpoint *ep, int64_t deadline_us)
{
    ep->deadline_us = deadline_us > 0 ? deadline_us : ODEON_DTLS_DEFAULT_DEADLINE_US;
}

void odeon_dtls_endpoint_set_initial_rto_us(odeon_dtls_endpoint *ep, unsigned initial_us)
{
    ep->initial_rto_us = initial_us;
}

void odeon_dtls_endpoint_set_data_cb(odeon_dtls_endpoint *ep, odeon_dtls_data_fn fn, void *user)
{
    ep->data_fn = fn;
    ep->data_user = user;
}

static void fail(odeon_dtls_endpoint *ep, const char *reason)
{
    if (ep->state == ODEON_DTLS_STATE_FAILED)
        return;
    ep->state = ODEON_DTLS_STATE_FAILED;
    g_strlcpy(ep->reason, reason, sizeof ep->reason);
}

/* FAILED with the first error OpenSSL queued (or what), and the queue emptied. */
static void fail_openssl(odeon_dtls_endpoint *ep, const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[256];
    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        char reason[sizeof ep->reason];
        g_snprintf(reason, sizeof reason, "dtls: %s", buf);
        fail(ep, reason);
    } else {
        fail(ep, what);
    }
    ERR_clear_error();
}

static bool export_srtp(odeon_dtls_endpoint *ep)
{
    const SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(ep->ssl);
    if (p == NULL)
        return false;
    switch (p->id) {
    case SRTP_AEAD_AES_128_GCM:
        ep->profile_name = "AEAD_AES_128_GCM", ep->key_len = 16, ep->salt_len = 12;
        break;
    case SRTP_AEAD_AES_256_GCM:
        ep->profile_name = "AEAD_AES_256_GCM", ep->key_len = 32, ep->salt_len = 12;
        break;
    case SRTP_AES128_CM_SHA1_80:
        ep->profile_name = "AES_CM_128_HMAC_SHA1_80", ep->key_len = 16, ep->salt_len = 14;
        break;
    case SRTP_AES128_CM_SHA1_32:
        ep->profile_name = "AES_CM_128_HMAC_SHA1_32", ep->key_len = 16, ep->salt_len = 14;
        break;
    default:
        return false;
    }
    ep->material_len = 2 * ((size_t)ep->key_len + ep->salt_len);
    return SSL_export_keying_material(ep->ssl, ep->material, ep->material_len, DTLS_EXPORT_LABEL,
                                      strlen(DTLS_EXPORT_LABEL), NULL, 0, 0) == 1;
}

static void on_handshake_done(odeon_dtls_endpoint *ep)
{
    X509 *peer = SSL_get1_peer_certificate(ep->ssl);
    bool ok = cert_matches(ep, peer);
    X509_free(peer);
    if (!ok) {
        fail(ep, "fingerprint mismatch");
        return;
    }
    if (!export_srtp(ep)) {
        ep->material_len = 0;
        fail_openssl(ep, "no SRTP profile negotiated");
        return;
    }
    ep->state = ODEON_DTLS_STATE_CONNECTED;
}

/* Reads application data and alerts until the read BIO is empty. */
static void read_records(odeon_dtls_endpoint *ep)
{
    uint8_t buf[2048];
    for (;;) {
        int n = SSL_read(ep->ssl, buf, sizeof buf);
        if (n > 0) {
            if (ep->data_fn != NULL)
                ep->data_fn(ep->data_user, buf, (size_t)n);
            continue;
        }
        int err = SSL_get_error(ep->ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return;
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
            SSL_shutdown(ep->ssl); /* answer the peer's close_notify */
            ep->state = ODEON_DTLS_STATE_CLOSED;
            ERR_clear_error();
        } else {
            fail_openssl(ep, "dtls: read failed");
        }
        return;
    }
}

static void drive_handshake(odeon_dtls_endpoint *ep)
{
    ERR_clear_error();
    int r = SSL_do_handshake(ep->ssl);
    if (r == 1) {
        ERR_clear_error();
        on_handshake_done(ep);
        return;
    }
    int err = SSL_get_error(ep->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return;
    }
    if (ep->fingerprint_mismatch) {
        fail(ep, "fingerprint mismatch");
        ERR_clear_error();
    } else {
        fail_openssl(ep, "dtls: handshake failed");
    }
}

int odeon_dtls_endpoint_start(odeon_dtls_endpoint *ep)
{
    g_return_val_if_fail(ep != NULL, ODEON_EINVAL);
    if (ep->state != ODEON_DTLS_STATE_NEW)
        return ODEON_EINVAL;
    ep->state = ODEON_DTLS_STATE_CONNECTING;
    ep->deadline_at = ep->clock(ep->clock_user) + ep->deadline_us;
    if (ep->role == ODEON_DTLS_ROLE_CLIENT)
        drive_handshake(ep);
    return 0;
}

/* RFC 6347 section 4.1.2.7 asks for invalid records to be discarded silently, but OpenSSL
 * treats a well-framed epoch-0 handshake record whose fragment header is inconsistent as a
 * fatal decode error; anyone able to inject one datagram could end the handshake. So a datagram
 * is passed on only if every record fits (13-byte header, DTLS version, length within the
 * datagram) and every plaintext handshake fragment in it fits its record and its message. */
static bool plausible_datagram(const uint8_t *d, size_t len)
{
    size_t pos = 0;
    if (len < DTLS1_RT_HEADER_LENGTH || d[0] < 20 || d[0] > 63)
        return false;
    while (pos < len) {
        if (len - pos < DTLS1_RT_HEADER_LENGTH || d[pos + 1] != 0xfe)
            return false;
        size_t rlen = (size_t)d[pos + 11] << 8 | d[pos + 12];
        unsigned epoch = (unsigned)d[pos + 3] << 8 | d[pos + 4];
        const uint8_t *body = d + pos + DTLS1_RT_HEADER_LENGTH;
        if (rlen > len - pos - DTLS1_RT_HEADER_LENGTH)
            return false;
        if (d[pos] == SSL3_RT_HANDSHAKE && epoch == 0) {
            size_t off = 0;
            while (off < rlen) {
                if (rlen - off < DTLS1_HM_HEADER_LENGTH)
                    return false;
                const uint8_t *h = body + off;
                uint32_t msg_len = (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
                uint32_t frag_off = (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
                uint32_t frag_len = (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
                if ((uint64_t)frag_off + frag_len > msg_len ||
                    frag_len > rlen - off - DTLS1_HM_HEADER_LENGTH)
                    return false;
                off += DTLS1_HM_HEADER_LENGTH + frag_len;
            }
        }
        pos += DTLS1_RT_HEADER_LENGTH + rlen;
    }
    return true;
}

int odeon_dtls_endpoint_feed(odeon_dtls_endpoint *ep, const uint8_t *datagram, size_t len)
{
    g_return_val_if_fail(ep != NULL, ODEON_EINVAL);
    if (datagram == NULL || len == 0 || len > INT_MAX)
        return ODEON_EINVAL;
    if (ep->state == ODEON_DTLS_STATE_NEW && ep->role == ODEON_DTLS_ROLE_SERVER)
        odeon_dtls_endpoint_start(ep);
    if (ep->state != ODEON_DTLS_STATE_CONNECTING && ep->state != ODEON_DTLS_STATE_CONNECTED)
        return ODEON_ENOTCONN;
    if (!plausible_datagram(datagram, len))
        return 0; /* dropped, as OpenSSL drops unparsable records */
    if (BIO_write(ep->rbio, datagram, (int)len) != (int)len)
        return ODEON_ENOMEM;
    if (ep->state == ODEON_DTLS_STATE_CONNECTING)
        drive_handshake(ep);
    /* Records that followed the last handshake message (data, alerts) in the same datagram,
     * and everything after completion. */
    if (ep->state == ODEON_DTLS_STATE_CONNECTED)
        read_records(ep);
    /* Leftovers never carry over into the next datagram. */
    (void)BIO_reset(ep->rbio);
    return 0;
}

int64_t odeon_dtls_endpoint_timeout_us(odeon_dtls_endpoint *ep)
{
    g_return_val_if_fail(ep != NULL, -1);
    if (ep->state != ODEON_DTLS_STATE_CONNECTING)
        return -1;
    int64_t left = ep->deadline_at - ep->clock(ep->clock_user);
    struct timeval tv;
    if (DTLSv1_get_timeout(ep->ssl, &tv) == 1) {
        int64_t rto = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
        if (rto < left)
            left = rto;
    }
    return left > 0 ? left : 0;
}

int odeon_dtls_endpoint_handle_timeout(odeon_dtls_endpoint *ep)
{
    g_return_val_if_fail(ep != NULL, ODEON_EINVAL);
    if (ep->state != ODEON_DTLS_STATE_CONNECTING)
        return ODEON_ENOTCONN;
    if (ep->clock(ep->clock_user) >= ep->deadline_at) {
        fail(ep, "handshake timeout");
        return 0;
    }
    ERR_clear_error();
    if (DTLSv1_handle_timeout(ep->ssl) < 0)
        fail(ep, "handshake timeout (too many retransmissions)");
    ERR_clear_error();
    return 0;
}

odeon_dtls_state odeon_dtls_endpoint_state(const odeon_dtls_endpoint *ep)
{
    return ep->state;
}

odeon_dtls_role odeon_dtls_endpoint_role(const odeon_dtls_endpoint *ep)
{
    return ep->role;
}

const char *odeon_dtls_endpoint_failure_reason(const odeon_dtls_endpoint *ep)
{
    return ep->state == ODEON_DTLS_STATE_FAILED ? ep->reason : NULL;
}

const char *odeon_dtls_state_name(odeon_dtls_state state)
{
    switch (state) {
    case ODEON_DTLS_STATE_NEW:
        return "new";
    case ODEON_DTLS_STATE_CONNECTING:
        return "connecting";
    case ODEON_DTLS_STATE_CONNECTED:
        return "connected";
    case ODEON_DTLS_STATE_FAILED:
        return "failed";
    case ODEON_DTLS_STATE_CLOSED:
        return "closed";
    }
    return "?";
}

int odeon_dtls_endpoint_srtp(const odeon_dtls_endpoint *ep, const char **profile_name,
                             const uint8_t **material, size_t *len)
{
    g_return_val_if_fail(ep != NULL, ODEON_EINVAL);
    if (ep->state != ODEON_DTLS_STATE_CONNECTED)
        return ODEON_ENOTCONN;
    if (profile_name != NULL)
        *profile_name = ep->profile_name;
    if (material != NULL)
        *material = ep->material;
    if (len != NULL)
        *len = ep->material_len;
    return 0;
}

int odeon_dtls_endpoint_srtp_keys(const odeon_dtls_endpoint *ep, uint8_t *local, uint8_t *remote,
                                  size_t cap, size_t *key_len)
{
    g_return_val_if_fail(ep != NULL && local != NULL && remote != NULL, ODEON_EINVAL);
    if (ep->state != ODEON_DTLS_STATE_CONNECTED)
        return ODEON_ENOTCONN;
    size_t k = ep->key_len, s = ep->salt_len;
    if (cap < k + s)
        return ODEON_EINVAL;
    const uint8_t *ck = ep->material, *sk = ck + k, *cs = sk + k, *ss = cs + s;
    bool client = ep->role == ODEON_DTLS_ROLE_CLIENT;
    memcpy(local, client ? ck : sk, k);
    memcpy(local + k, client ? cs : ss, s);
    memcpy(remote, client ? sk : ck, k);
    memcpy(remote + k, client ? ss : cs, s);
    if (key_len != NULL)
        *key_len = k + s;
    return 0;
}

int odeon_dtls_endpoint_send_data(odeon_dtls_endpoint *ep, const uint8_t *data, size_t len)
{
    g_return_val_if_fail(ep != NULL, ODEON_EINVAL);
    if (ep->state != ODEON_DTLS_STATE_CONNECTED)
        return ODEON_ENOTCONN;
    if (data == NULL || len == 0 || len > INT_MAX)
        return ODEON_EINVAL;
    ERR_clear_error();
    int n = SSL_write(ep->ssl, data, (int)len);
    ERR_clear_error();
    return n == (int)len ? 0 : ODEON_EIO;
}

int odeon_dtls_endpoint_close(odeon_dtls_endpoint *ep)
{
    g_return_val_if_fail(ep != NULL, ODEON_EINVAL);
    if (ep->state == ODEON_DTLS_STATE_CONNECTED)
        SSL_shutdown(ep->ssl);
    ERR_clear_error();
    if (ep->state != ODEON_DTLS_STATE_FAILED)
        ep->state = ODEON_DTLS_STATE_CLOSED;
    return 0;
}
