/*
 * test_dtls.c - DTLS-SRTP endpoints handshaking in-process.
 *
 * Two endpoints (client and server) send into per-direction queues that the test pumps by
 * hand: no sockets, no threads. Loss is simulated by clearing a queue; retransmission runs on a
 * short initial RTO (a few real milliseconds, since OpenSSL's timer uses the real clock), and
 * the overall deadline on an injected fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "plugin/plugin.h"
#include "webrtc/dtls.h"

typedef struct {
    GQueue q; /* of GBytes */
    unsigned sent;
    size_t max_len;
} queue;

static void q_send(void *user, const uint8_t *data, size_t len)
{
    queue *q = user;
    g_queue_push_tail(&q->q, g_bytes_new(data, len));
    q->sent++;
    if (len > q->max_len)
        q->max_len = len;
}

static void q_clear(queue *q)
{
    g_queue_clear_full(&q->q, (GDestroyNotify)g_bytes_unref);
}

typedef struct {
    odeon_dtls_identity *cid, *sid;
    queue to_server, to_client;
    odeon_dtls_endpoint *client, *server;
    int64_t fake_now;
} pair;

static int64_t fake_clock(void *user)
{
    return ((pair *)user)->fake_now;
}

static odeon_dtls_identity *shared_identity(void)
{
    static odeon_dtls_identity *id;
    if (id == NULL) {
        char *err = NULL;
        id = odeon_dtls_identity_generate(&err);
        assert_null(err);
        assert_non_null(id);
    }
    return id;
}

/* Client identity generated per test; server identity shared (exercises refcounting). */
static void pair_init(pair *p, const char *client_expects, const char *server_expects)
{
    memset(p, 0, sizeof *p);
    g_queue_init(&p->to_server.q);
    g_queue_init(&p->to_client.q);
    char *err = NULL;
    p->cid = odeon_dtls_identity_generate(&err);
    assert_non_null(p->cid);
    p->sid = odeon_dtls_identity_ref(shared_identity());
    const char *cfp = client_expects ? client_expects : odeon_dtls_identity_fingerprint(p->sid);
    const char *sfp = server_expects ? server_expects : odeon_dtls_identity_fingerprint(p->cid);
    p->client = odeon_dtls_endpoint_new(p->cid, ODEON_DTLS_ROLE_CLIENT, "sha-256", cfp, q_send,
                                        &p->to_server, &err);
    assert_non_null(p->client);
    p->server = odeon_dtls_endpoint_new(p->sid, ODEON_DTLS_ROLE_SERVER, "SHA-256", sfp, q_send,
                                        &p->to_client, &err);
    assert_non_null(p->server);
    assert_null(err);
}

static void pair_free(pair *p)
{
    odeon_dtls_endpoint_free(p->client);
    odeon_dtls_endpoint_free(p->server);
    odeon_dtls_identity_unref(p->cid);
    odeon_dtls_identity_unref(p->sid);
    q_clear(&p->to_server);
    q_clear(&p->to_client);
}

/* Delivers everything queued (and whatever that triggers); returns datagrams moved. */
static unsigned pump(pair *p)
{
    unsigned moved = 0;
    bool again = true;
    while (again) {
        again = false;
        GBytes *b;
        while ((b = g_queue_pop_head(&p->to_server.q)) != NULL) {
            gsize n;
            const uint8_t *d = g_bytes_get_data(b, &n);
            odeon_dtls_endpoint_feed(p->server, d, n);
            g_bytes_unref(b);
            moved++, again = true;
        }
        while ((b = g_queue_pop_head(&p->to_client.q)) != NULL) {
            gsize n;
            const uint8_t *d = g_bytes_get_data(b, &n);
            odeon_dtls_endpoint_feed(p->client, d, n);
            g_bytes_unref(b);
            moved++, again = true;
        }
    }
    return moved;
}

/* Delivers only what is queued for the server, once; returns datagrams moved. */
static unsigned pump_one_direction_to_server_only(pair *p)
{
    unsigned moved = 0;
    GBytes *b;
    while ((b = g_queue_pop_head(&p->to_server.q)) != NULL) {
        gsize n;
        const uint8_t *d = g_bytes_get_data(b, &n);
        odeon_dtls_endpoint_feed(p->server, d, n);
        g_bytes_unref(b);
        moved++;
    }
    return moved;
}

static void assert_connected_same_keys(pair *p, const char *expect_profile)
{
    assert_int_equal(odeon_dtls_endpoint_state(p->client), ODEON_DTLS_STATE_CONNECTED);
    assert_int_equal(odeon_dtls_endpoint_state(p->server), ODEON_DTLS_STATE_CONNECTED);
    assert_null(odeon_dtls_endpoint_failure_reason(p->client));
    const char *cp = NULL, *sp = NULL;
    const uint8_t *cm = NULL, *sm = NULL;
    size_t cl = 0, sl = 0;
    assert_int_equal(odeon_dtls_endpoint_srtp(p->client, &cp, &cm, &cl), 0);
    assert_int_equal(odeon_dtls_endpoint_srtp(p->server, &sp, &sm, &sl), 0);
    assert_string_equal(cp, expect_profile);
    assert_string_equal(sp, expect_profile);
    assert_int_equal(cl, strcmp(expect_profile, "AEAD_AES_128_GCM") == 0 ? 56 : 60);
    assert_int_equal(cl, sl);
    assert_memory_equal(cm, sm, cl);
    static const uint8_t zero[ODEON_DTLS_SRTP_MATERIAL_MAX];
    assert_memory_not_equal(cm, zero, cl);

    /* What the client protects with, the server unprotects with, and vice versa. */
    uint8_t cl_local[64], cl_remote[64], sv_local[64], sv_remote[64];
    size_t kl = 0, kl2 = 0;
    assert_int_equal(odeon_dtls_endpoint_srtp_keys(p->client, cl_local, cl_remote, 64, &kl), 0);
    assert_int_equal(odeon_dtls_endpoint_srtp_keys(p->server, sv_local, sv_remote, 64, &kl2), 0);
    assert_int_equal(kl, cl / 2);
    assert_int_equal(kl, kl2);
    assert_memory_equal(cl_local, sv_remote, kl);
    assert_memory_equal(cl_remote, sv_local, kl);
    assert_memory_not_equal(cl_local, cl_remote, kl);
    /* Layout ck|sk|cs|ss: client local key is the first 16 bytes. */
    assert_memory_equal(cl_local, cm, 16);
    assert_memory_equal(sv_local, cm + 16, 16);
}

/* ----- tests --------------------------------------------------------------------------------- */

static void test_fingerprint_format(void **state)
{
    (void)state;
    const char *fp = odeon_dtls_identity_fingerprint(shared_identity());
    assert_int_equal(strlen(fp), 95);
    for (size_t i = 0; i < 95; i++) {
        if (i % 3 == 2)
            assert_int_equal(fp[i], ':');
        else
            assert_true(g_ascii_isxdigit(fp[i]) && !g_ascii_islower(fp[i]));
    }
    char *err = NULL;
    odeon_dtls_identity *other = odeon_dtls_identity_generate(&err);
    assert_non_null(other);
    assert_string_not_equal(fp, odeon_dtls_identity_fingerprint(other));
    odeon_dtls_identity_unref(other);
}

static void noop_send(void *user, const uint8_t *d, size_t n)
{
    (void)user, (void)d, (void)n;
}

static void test_bad_remote_fingerprint_rejected(void **state)
{
    (void)state;
    odeon_dtls_identity *id = shared_identity();
    const char *fp = odeon_dtls_identity_fingerprint(id);
    char *err = NULL;
    assert_null(
        odeon_dtls_endpoint_new(id, ODEON_DTLS_ROLE_CLIENT, "md5", fp, noop_send, NULL, &err));
    assert_non_null(err);
    g_free(err), err = NULL;
    assert_null(odeon_dtls_endpoint_new(id, ODEON_DTLS_ROLE_CLIENT, "sha-256", "AB:CD", noop_send,
                                        NULL, &err));
    assert_non_null(err);
    g_free(err), err = NULL;
    char bad[96];
    g_strlcpy(bad, fp, sizeof bad);
    bad[2] = '-';
    assert_null(
        odeon_dtls_endpoint_new(id, ODEON_DTLS_ROLE_CLIENT, "sha-256", bad, noop_send, NULL, &err));
    g_free(err), err = NULL;
    /* Lower case is accepted. */
    char *lower = g_ascii_strdown(fp, -1);
    odeon_dtls_endpoint *ep = odeon_dtls_endpoint_new(id, ODEON_DTLS_ROLE_CLIENT, "sha-256", lower,
                                                      noop_send, NULL, &err);
    assert_non_null(ep);
    assert_int_equal(odeon_dtls_endpoint_state(ep), ODEON_DTLS_STATE_NEW);
    assert_int_equal(odeon_dtls_endpoint_timeout_us(ep), -1);
    uint8_t junk[4] = {22, 0xfe, 0xfd, 0};
    assert_int_equal(odeon_dtls_endpoint_feed(ep, junk, sizeof junk), ODEON_ENOTCONN);
    assert_int_equal(odeon_dtls_endpoint_srtp(ep, NULL, NULL, NULL), ODEON_ENOTCONN);
    odeon_dtls_endpoint_free(ep);
    g_free(lower);
}

static void test_handshake(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, NULL, NULL);
    assert_int_equal(odeon_dtls_endpoint_start(p.server), 0);
    assert_int_equal(p.to_client.sent, 0);
    assert_int_equal(odeon_dtls_endpoint_start(p.client), 0);
    assert_int_equal(odeon_dtls_endpoint_start(p.client), ODEON_EINVAL);
    assert_int_equal(odeon_dtls_endpoint_state(p.client), ODEON_DTLS_STATE_CONNECTING);
    assert_int_equal(p.to_server.sent, 1); /* ClientHello */
    int64_t t = odeon_dtls_endpoint_timeout_us(p.client);
    assert_true(t > 0 && t <= 1000000);
    pump(&p);
    assert_connected_same_keys(&p, "AEAD_AES_128_GCM");
    assert_true(p.to_server.max_len <= ODEON_DTLS_MTU);
    assert_true(p.to_client.max_len <= ODEON_DTLS_MTU);
    assert_int_equal(odeon_dtls_endpoint_timeout_us(p.client), -1);
    assert_int_equal(odeon_dtls_endpoint_handle_timeout(p.client), ODEON_ENOTCONN);
    pair_free(&p);
}

typedef struct {
    GString *got;
} sink;

static void on_data(void *user, const uint8_t *d, size_t n)
{
    g_string_append_len(((sink *)user)->got, (const char *)d, (gssize)n);
}

static void test_data_and_close(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, NULL, NULL);
    sink s = {g_string_new(NULL)};
    odeon_dtls_endpoint_set_data_cb(p.server, on_data, &s);
    /* The server starts implicitly on its first datagram. */
    odeon_dtls_endpoint_start(p.client);
    pump(&p);
    assert_int_equal(odeon_dtls_endpoint_state(p.server), ODEON_DTLS_STATE_CONNECTED);
    assert_int_equal(odeon_dtls_endpoint_send_data(p.client, (const uint8_t *)"hello", 5), 0);
    pump(&p);
    assert_string_equal(s.got->str, "hello");

    assert_int_equal(odeon_dtls_endpoint_close(p.client), 0);
    assert_int_equal(odeon_dtls_endpoint_state(p.client), ODEON_DTLS_STATE_CLOSED);
    assert_int_equal(g_queue_get_length(&p.to_server.q), 1); /* close_notify */
    pump(&p);
    assert_int_equal(odeon_dtls_endpoint_state(p.server), ODEON_DTLS_STATE_CLOSED);
    assert_int_equal(odeon_dtls_endpoint_send_data(p.server, (const uint8_t *)"x", 1),
                     ODEON_ENOTCONN);
    g_string_free(s.got, TRUE);
    pair_free(&p);
}

static void test_client_rejects_wrong_fingerprint(void **state)
{
    (void)state;
    pair p;
    /* The client expects its own fingerprint instead of the server's. */
    pair_init(&p, NULL, NULL);
    odeon_dtls_endpoint_free(p.client);
    char *err = NULL;
    p.client =
        odeon_dtls_endpoint_new(p.cid, ODEON_DTLS_ROLE_CLIENT, "sha-256",
                                odeon_dtls_identity_fingerprint(p.cid), q_send, &p.to_server, &err);
    assert_non_null(p.client);
    odeon_dtls_endpoint_start(p.client);
    pump(&p);
    assert_int_equal(odeon_dtls_endpoint_state(p.client), ODEON_DTLS_STATE_FAILED);
    assert_string_equal(odeon_dtls_endpoint_failure_reason(p.client), "fingerprint mismatch");
    /* The client's alert fails the server too. */
    assert_int_equal(odeon_dtls_endpoint_state(p.server), ODEON_DTLS_STATE_FAILED);
    assert_non_null(odeon_dtls_endpoint_failure_reason(p.server));
    assert_int_equal(odeon_dtls_endpoint_srtp(p.client, NULL, NULL, NULL), ODEON_ENOTCONN);
    uint8_t junk[20] = {23};
    assert_int_equal(odeon_dtls_endpoint_feed(p.client, junk, sizeof junk), ODEON_ENOTCONN);
    pair_free(&p);
}

static void test_server_rejects_wrong_fingerprint(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, NULL, odeon_dtls_identity_fingerprint(shared_identity()));
    odeon_dtls_endpoint_start(p.client);
    pump(&p);
    assert_int_equal(odeon_dtls_endpoint_state(p.server), ODEON_DTLS_STATE_FAILED);
    assert_string_equal(odeon_dtls_endpoint_failure_reason(p.server), "fingerprint mismatch");
    assert_int_not_equal(odeon_dtls_endpoint_state(p.client), ODEON_DTLS_STATE_CONNECTED);
    pair_free(&p);
}

/* Waits (real time: OpenSSL's timer) until the endpoint's timer is due, then fires it. */
static void fire_timer(odeon_dtls_endpoint *ep)
{
    int64_t t = odeon_dtls_endpoint_timeout_us(ep);
    assert_true(t >= 0 && t < 200000);
    if (t > 0)
        g_usleep((gulong)t + 1000);
    assert_int_equal(odeon_dtls_endpoint_handle_timeout(ep), 0);
}

static void test_retransmit_after_lost_first_flight(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, NULL, NULL);
    odeon_dtls_endpoint_set_initial_rto_us(p.client, 20000);
    odeon_dtls_endpoint_set_initial_rto_us(p.server, 20000);
    odeon_dtls_endpoint_start(p.server);
    odeon_dtls_endpoint_start(p.client);
    assert_int_equal(p.to_server.sent, 1);
    q_clear(&p.to_server); /* ClientHello lost */
    assert_int_equal(pump(&p), 0);
    /* Early calls do nothing. */
    assert_int_equal(odeon_dtls_endpoint_handle_timeout(p.client), 0);
    assert_int_equal(p.to_server.sent, 1);
    fire_timer(p.client);
    assert_int_equal(p.to_server.sent, 2); /* retransmitted */
    assert_int_equal(odeon_dtls_endpoint_state(p.client), ODEON_DTLS_STATE_CONNECTING);

    /* Lose the server's whole first flight too. */
    assert_int_equal(pump_one_direction_to_server_only(&p), 1);
    assert_true(g_queue_get_length(&p.to_client.q) >= 1);
    q_clear(&p.to_client);
    fire_timer(p.server);
    assert_true(g_queue_get_length(&p.to_client.q) >= 1);
    pump(&p);
    assert_connected_same_keys(&p, "AEAD_AES_128_GCM");
    pair_free(&p);
}

static void test_garbage_is_ignored(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, NULL, NULL);
    odeon_dtls_endpoint_start(p.client);
    uint8_t garbage[300];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(i * 37 + 11);
    uint8_t fake_record[64] = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 40};
    memset(fake_record + 13, 0xee, sizeof fake_record - 13);
    assert_int_equal(odeon_dtls_endpoint_feed(p.server, garbage, sizeof garbage), 0);
    assert_int_equal(odeon_dtls_endpoint_feed(p.server, fake_record, sizeof fake_record), 0);
    assert_int_equal(odeon_dtls_endpoint_feed(p.client, garbage, 1), 0);
    assert_int_equal(odeon_dtls_endpoint_feed(p.client, fake_record, sizeof fake_record), 0);
    assert_int_equal(odeon_dtls_endpoint_feed(p.client, garbage, 0), ODEON_EINVAL);
    pump(&p);
    assert_connected_same_keys(&p, "AEAD_AES_128_GCM");
    /* And after completion. */
    assert_int_equal(odeon_dtls_endpoint_feed(p.server, garbage, sizeof garbage), 0);
    assert_int_equal(odeon_dtls_endpoint_feed(p.server, fake_record, sizeof fake_record), 0);
    assert_int_equal(odeon_dtls_endpoint_state(p.server), ODEON_DTLS_STATE_CONNECTED);
    pair_free(&p);
}

static void test_deadline_on_fake_clock(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, NULL, NULL);
    p.fake_now = 1000000;
    odeon_dtls_endpoint_set_clock(p.client, fake_clock, &p);
    odeon_dtls_endpoint_set_deadline_us(p.client, 5000000);
    odeon_dtls_endpoint_start(p.client);
    q_clear(&p.to_server); /* nothing ever arrives */
    assert_true(odeon_dtls_endpoint_timeout_us(p.client) <= 1000000);
    p.fake_now += 4999999;
    assert_int_equal(odeon_dtls_endpoint_timeout_us(p.client), 1);
    p.fake_now += 1;
    assert_int_equal(odeon_dtls_endpoint_timeout_us(p.client), 0);
    assert_int_equal(odeon_dtls_endpoint_handle_timeout(p.client), 0);
    assert_int_equal(odeon_dtls_endpoint_state(p.client), ODEON_DTLS_STATE_FAILED);
    assert_string_equal(odeon_dtls_endpoint_failure_reason(p.client), "handshake timeout");
    assert_int_equal(odeon_dtls_endpoint_timeout_us(p.client), -1);
    assert_int_equal(odeon_dtls_endpoint_close(p.client), 0);
    assert_int_equal(odeon_dtls_endpoint_state(p.client), ODEON_DTLS_STATE_FAILED);
    pair_free(&p);
}

/* A self-signed P-256 certificate (not "odeon": a foreign peer's) and its fingerprint. */
static X509 *make_cert(EVP_PKEY **key_out, char *fp_out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    X509_digest(cert, EVP_sha256(), md, &n);
    assert_int_equal(n, 32);
    for (unsigned i = 0; i < n; i++)
        sprintf(fp_out + i * 3, i + 1 < n ? "%02X:" : "%02X", md[i]);
    *key_out = key;
    return cert;
}

static void write_pem_pair(const char *cert_path, const char *key_path, char *fp_out)
{
    EVP_PKEY *key = NULL;
    X509 *cert = make_cert(&key, fp_out);
    FILE *f = fopen(cert_path, "w");
    assert_non_null(f);
    assert_true(PEM_write_X509(f, cert));
    fclose(f);
    f = fopen(key_path, "w");
    assert_non_null(f);
    assert_true(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void test_identity_load(void **state)
{
    (void)state;
    char dir_tmpl[] = "/tmp/odeon_dtls_XXXXXX";
    char *dir = g_mkdtemp(dir_tmpl);
    assert_non_null(dir);
    char *cert_path = g_build_filename(dir, "cert.pem", NULL);
    char *key_path = g_build_filename(dir, "key.pem", NULL);
    char *other_key = g_build_filename(dir, "other.pem", NULL);
    char *other_cert = g_build_filename(dir, "other_cert.pem", NULL);
    char fp[100], fp2[100];
    write_pem_pair(cert_path, key_path, fp);
    write_pem_pair(other_cert, other_key, fp2);

    char *err = NULL;
    odeon_dtls_identity *id = odeon_dtls_identity_load(cert_path, key_path, &err);
    assert_null(err);
    assert_non_null(id);
    assert_string_equal(odeon_dtls_identity_fingerprint(id), fp);

    /* A loaded identity handshakes like a generated one. */
    pair p;
    pair_init(&p, fp, NULL);
    odeon_dtls_endpoint_free(p.server);
    odeon_dtls_identity_unref(p.sid);
    p.sid = id;
    p.server =
        odeon_dtls_endpoint_new(p.sid, ODEON_DTLS_ROLE_SERVER, "sha-256",
                                odeon_dtls_identity_fingerprint(p.cid), q_send, &p.to_client, &err);
    assert_non_null(p.server);
    odeon_dtls_endpoint_start(p.client);
    pump(&p);
    assert_connected_same_keys(&p, "AEAD_AES_128_GCM");
    pair_free(&p);

    /* Mismatched key, missing files. */
    assert_null(odeon_dtls_identity_load(cert_path, other_key, &err));
    assert_non_null(err);
    g_free(err), err = NULL;
    assert_null(odeon_dtls_identity_load("/nonexistent/cert.pem", key_path, &err));
    assert_non_null(err);
    g_free(err), err = NULL;
    assert_null(odeon_dtls_identity_load(cert_path, "/nonexistent/key.pem", NULL));

    remove(cert_path), remove(key_path), remove(other_key), remove(other_cert), remove(dir);
    g_free(cert_path), g_free(key_path), g_free(other_key), g_free(other_cert);
}

/* A foreign client built directly on OpenSSL with memory BIOs, offering only
 * AES_CM_128_HMAC_SHA1_80: our server must fall back to it and export 60 bytes the client
 * agrees with. The client's flights arrive glued together (several records per datagram). */
static int accept_all(int ok, X509_STORE_CTX *store)
{
    (void)ok, (void)store;
    return 1;
}

static void raw_flush(BIO *wbio, odeon_dtls_endpoint *server)
{
    char *data = NULL;
    long n = BIO_get_mem_data(wbio, &data);
    if (n > 0)
        assert_int_equal(odeon_dtls_endpoint_feed(server, (const uint8_t *)data, (size_t)n), 0);
    (void)BIO_reset(wbio);
}

/* The generated certificate as the peer sees it. */
static void assert_generated_cert(SSL *ssl)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    assert_non_null(peer);
    assert_int_equal(X509_get_version(peer), 2);
    assert_int_equal(X509_get_signature_nid(peer), NID_ecdsa_with_SHA256);
    char cn[32] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    assert_string_equal(cn, "odeon");
    int pday = 0, psec = 0;
    assert_true(ASN1_TIME_diff(&pday, &psec, NULL, X509_get0_notBefore(peer)));
    assert_true(pday == -1 || (pday == 0 && psec <= -86000));
    assert_true(ASN1_TIME_diff(&pday, &psec, NULL, X509_get0_notAfter(peer)));
    assert_true(pday >= 29 && pday <= 30);
    EVP_PKEY *pk = X509_get0_pubkey(peer);
    assert_true(EVP_PKEY_is_a(pk, "EC"));
    char group[32] = "";
    assert_true(EVP_PKEY_get_group_name(pk, group, sizeof group, NULL));
    assert_string_equal(group, "prime256v1");
    X509_free(peer);
}

static void test_foreign_client_cm_sha1_80(void **state)
{
    (void)state;
    EVP_PKEY *key = NULL;
    char fp[100];
    X509 *cert = make_cert(&key, fp);
    SSL_CTX *ctx = SSL_CTX_new(DTLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_use_certificate(ctx, cert);
    SSL_CTX_use_PrivateKey(ctx, key);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_all);
    assert_int_equal(SSL_CTX_set_tlsext_use_srtp(ctx, "SRTP_AES128_CM_SHA1_80"), 0);
    SSL *ssl = SSL_new(ctx);
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);

    queue to_client = {0};
    g_queue_init(&to_client.q);
    char *err = NULL;
    odeon_dtls_endpoint *server = odeon_dtls_endpoint_new(shared_identity(), ODEON_DTLS_ROLE_SERVER,
                                                          "sha-256", fp, q_send, &to_client, &err);
    assert_non_null(server);

    int r = 0;
    for (int round = 0; round < 10 && r != 1; round++) {
        r = SSL_do_handshake(ssl);
        raw_flush(wbio, server);
        GBytes *b;
        while ((b = g_queue_pop_head(&to_client.q)) != NULL) {
            gsize n;
            const void *d = g_bytes_get_data(b, &n);
            BIO_write(rbio, d, (int)n);
            g_bytes_unref(b);
        }
    }
    assert_int_equal(r, 1);
    assert_int_equal(odeon_dtls_endpoint_state(server), ODEON_DTLS_STATE_CONNECTED);
    const char *profile = NULL;
    const uint8_t *material = NULL;
    size_t len = 0;
    assert_int_equal(odeon_dtls_endpoint_srtp(server, &profile, &material, &len), 0);
    assert_string_equal(profile, "AES_CM_128_HMAC_SHA1_80");
    assert_int_equal(len, 60);
    uint8_t mine[60];
    assert_int_equal(
        SSL_export_keying_material(ssl, mine, sizeof mine, "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0),
        1);
    assert_memory_equal(mine, material, 60);

    assert_generated_cert(ssl);
    uint8_t local[64], remote[64];
    size_t kl = 0;
    assert_int_equal(odeon_dtls_endpoint_srtp_keys(server, local, remote, sizeof local, &kl), 0);
    assert_int_equal(kl, 30);
    assert_memory_equal(local, mine + 16, 16);      /* server key */
    assert_memory_equal(local + 16, mine + 46, 14); /* server salt */
    assert_memory_equal(remote, mine, 16);          /* client key */
    assert_memory_equal(remote + 16, mine + 32, 14);
    assert_int_equal(odeon_dtls_endpoint_srtp_keys(server, local, remote, 29, &kl), ODEON_EINVAL);

    odeon_dtls_endpoint_free(server);
    q_clear(&to_client);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static int teardown_group(void **state)
{
    (void)state;
    odeon_dtls_identity_unref(shared_identity());
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint_format),
        cmocka_unit_test(test_bad_remote_fingerprint_rejected),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_data_and_close),
        cmocka_unit_test(test_client_rejects_wrong_fingerprint),
        cmocka_unit_test(test_server_rejects_wrong_fingerprint),
        cmocka_unit_test(test_retransmit_after_lost_first_flight),
        cmocka_unit_test(test_garbage_is_ignored),
        cmocka_unit_test(test_deadline_on_fake_clock),
        cmocka_unit_test(test_identity_load),
        cmocka_unit_test(test_foreign_client_cm_sha1_80),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_group);
}
