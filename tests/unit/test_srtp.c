/*
 * test_srtp.c - the libsrtp2 wrapper (src/webrtc/srtp.c), end to end between two sessions.
 *
 * Each test builds a DTLS client session and a DTLS server session from the same keying
 * material (as both ends of a real handshake would export it), protects on one and
 * unprotects on the other. Most tests run once per profile: the profile is the test's
 * prestate. Packets are hand-built (a 12-byte RTP header + payload, a 28-byte RTCP SR) in
 * 4-byte aligned buffers with the tail room protect requires.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "plugin/plugin.h"
#include "webrtc/srtp.h"

#define BUF_CAP 1500
#define PAYLOAD_LEN 100

typedef struct {
    _Alignas(4) uint8_t b[BUF_CAP];
} pkt_buf;

static odeon_srtp_profile CM = ODEON_SRTP_AES128_CM_SHA1_80;
static odeon_srtp_profile GCM = ODEON_SRTP_AEAD_AES_128_GCM;

/* ---- helpers ------------------------------------------------------------------------------- */

static odeon_srtp_profile profile_of(void **state)
{
    return *(odeon_srtp_profile *)*state;
}

static void fill_material(uint8_t *m, size_t len)
{
    for (size_t i = 0; i < len; i++)
        m[i] = (uint8_t)(i * 7 + 3);
}

/* A client and a server session over the same material. */
static void make_pair(odeon_srtp_profile profile, odeon_srtp **client, odeon_srtp **server)
{
    uint8_t m[64];
    size_t len = odeon_srtp_material_len(profile);
    assert_true(len > 0 && len <= sizeof m);
    fill_material(m, len);
    char *err = NULL;
    *client = odeon_srtp_new(profile, m, len, true, &err);
    assert_null(err);
    assert_non_null(*client);
    *server = odeon_srtp_new(profile, m, len, false, &err);
    assert_null(err);
    assert_non_null(*server);
}

static size_t build_rtp(uint8_t *b, uint32_t ssrc, uint16_t seq, uint32_t ts)
{
    b[0] = 0x80;
    b[1] = 111;
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    b[4] = (uint8_t)(ts >> 24);
    b[5] = (uint8_t)(ts >> 16);
    b[6] = (uint8_t)(ts >> 8);
    b[7] = (uint8_t)ts;
    b[8] = (uint8_t)(ssrc >> 24);
    b[9] = (uint8_t)(ssrc >> 16);
    b[10] = (uint8_t)(ssrc >> 8);
    b[11] = (uint8_t)ssrc;
    for (size_t i = 0; i < PAYLOAD_LEN; i++)
        b[12 + i] = (uint8_t)(i + seq);
    return 12 + PAYLOAD_LEN;
}

/* RTCP SR without report blocks: header, SSRC, NTP (8), RTP ts, packet and octet counts. */
static size_t build_sr(uint8_t *b, uint32_t ssrc)
{
    memset(b, 0, 28);
    b[0] = 0x80;
    b[1] = 200;
    b[2] = 0;
    b[3] = 6;
    b[4] = (uint8_t)(ssrc >> 24);
    b[5] = (uint8_t)(ssrc >> 16);
    b[6] = (uint8_t)(ssrc >> 8);
    b[7] = (uint8_t)ssrc;
    for (size_t i = 8; i < 28; i++)
        b[i] = (uint8_t)(0xA0 + i);
    return 28;
}

/* Protects an RTP packet on `from`, unprotects it on `to`, checks the bytes come back. */
static void roundtrip_rtp(odeon_srtp *from, odeon_srtp *to, uint32_t ssrc, uint16_t seq)
{
    pkt_buf p, orig;
    size_t len = build_rtp(p.b, ssrc, seq, 1000u * seq);
    size_t plain = len;
    memcpy(orig.b, p.b, len);
    assert_int_equal(odeon_srtp_protect_rtp(from, p.b, &len, sizeof p.b), 0);
    assert_int_equal(len, plain + odeon_srtp_rtp_overhead(odeon_srtp_get_profile(from)));
    assert_int_equal(odeon_srtp_unprotect_rtp(to, p.b, &len), 0);
    assert_int_equal(len, plain);
    assert_memory_equal(p.b, orig.b, plain);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_rtp_roundtrip(void **state)
{
    odeon_srtp *c, *s;
    make_pair(profile_of(state), &c, &s);

    pkt_buf p, orig;
    size_t len = build_rtp(p.b, 0x11223344, 1, 1000);
    size_t plain = len;
    memcpy(orig.b, p.b, len);
    assert_int_equal(odeon_srtp_protect_rtp(c, p.b, &len, sizeof p.b), 0);
    assert_int_equal(len, plain + odeon_srtp_rtp_overhead(profile_of(state)));
    assert_memory_equal(p.b, orig.b, 12);                        /* header in clear */
    assert_memory_not_equal(p.b + 12, orig.b + 12, PAYLOAD_LEN); /* payload encrypted */
    assert_int_equal(odeon_srtp_unprotect_rtp(s, p.b, &len), 0);
    assert_int_equal(len, plain);
    assert_memory_equal(p.b, orig.b, plain);

    /* And the other direction. */
    roundtrip_rtp(s, c, 0x55667788, 7);
    roundtrip_rtp(c, s, 0x11223344, 2);
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

static void test_rtcp_roundtrip(void **state)
{
    odeon_srtp *c, *s;
    make_pair(profile_of(state), &c, &s);

    for (int dir = 0; dir < 2; dir++) {
        odeon_srtp *from = dir ? s : c, *to = dir ? c : s;
        pkt_buf p, orig;
        size_t len = build_sr(p.b, 0xCAFE0000u + (uint32_t)dir);
        size_t plain = len;
        memcpy(orig.b, p.b, len);
        assert_int_equal(odeon_srtp_protect_rtcp(from, p.b, &len, sizeof p.b), 0);
        assert_int_equal(len, plain + odeon_srtp_rtcp_overhead(profile_of(state)));
        assert_int_equal(odeon_srtp_unprotect_rtcp(to, p.b, &len), 0);
        assert_int_equal(len, plain);
        assert_memory_equal(p.b, orig.b, plain);
    }
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

static void test_tampered(void **state)
{
    odeon_srtp *c, *s;
    make_pair(profile_of(state), &c, &s);

    pkt_buf p;
    size_t len = build_rtp(p.b, 0x1234, 10, 0);
    assert_int_equal(odeon_srtp_protect_rtp(c, p.b, &len, sizeof p.b), 0);
    p.b[20] ^= 0x01;
    int rc = odeon_srtp_unprotect_rtp(s, p.b, &len);
    assert_int_equal(rc, ODEON_EPERM);
    assert_string_equal(odeon_srtp_error_name(rc), "authentication failed");

    /* A tampered tag fails too, for RTCP. */
    len = build_sr(p.b, 0x1234);
    assert_int_equal(odeon_srtp_protect_rtcp(c, p.b, &len, sizeof p.b), 0);
    p.b[len - 1] ^= 0x80;
    assert_int_equal(odeon_srtp_unprotect_rtcp(s, p.b, &len), ODEON_EPERM);

    /* The next genuine packet still goes through. */
    roundtrip_rtp(c, s, 0x1234, 11);
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

static void test_replay(void **state)
{
    odeon_srtp *c, *s;
    make_pair(profile_of(state), &c, &s);

    pkt_buf p, copy;
    size_t len = build_rtp(p.b, 0x4321, 500, 0);
    assert_int_equal(odeon_srtp_protect_rtp(c, p.b, &len, sizeof p.b), 0);
    size_t protected_len = len;
    memcpy(copy.b, p.b, len);
    assert_int_equal(odeon_srtp_unprotect_rtp(s, p.b, &len), 0);
    len = protected_len;
    int rc = odeon_srtp_unprotect_rtp(s, copy.b, &len);
    assert_int_equal(rc, ODEON_EEXIST);
    assert_string_equal(odeon_srtp_error_name(rc), "replayed or too old packet");

    /* SRTCP too. */
    len = build_sr(p.b, 0x4321);
    assert_int_equal(odeon_srtp_protect_rtcp(c, p.b, &len, sizeof p.b), 0);
    protected_len = len;
    memcpy(copy.b, p.b, len);
    assert_int_equal(odeon_srtp_unprotect_rtcp(s, p.b, &len), 0);
    len = protected_len;
    assert_int_equal(odeon_srtp_unprotect_rtcp(s, copy.b, &len), ODEON_EEXIST);
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

/* The sender may protect the same packet again (a NACK resend): same bytes out; the receiver
 * takes it once. */
static void test_repeat_tx(void **state)
{
    odeon_srtp *c, *s;
    make_pair(profile_of(state), &c, &s);

    pkt_buf a, b;
    size_t la = build_rtp(a.b, 0x99, 3000, 5);
    size_t lb = build_rtp(b.b, 0x99, 3000, 5);
    assert_int_equal(odeon_srtp_protect_rtp(c, a.b, &la, sizeof a.b), 0);
    roundtrip_rtp(c, s, 0x99, 3001);
    assert_int_equal(odeon_srtp_protect_rtp(c, b.b, &lb, sizeof b.b), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(a.b, b.b, la);
    assert_int_equal(odeon_srtp_unprotect_rtp(s, a.b, &la), 0);
    assert_int_equal(odeon_srtp_unprotect_rtp(s, b.b, &lb), ODEON_EEXIST);
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

/* The inbound window is ODEON_SRTP_REPLAY_WINDOW packets, not libsrtp's default 128. */
static void test_replay_window(void **state)
{
    odeon_srtp *c, *s;
    make_pair(profile_of(state), &c, &s);

    pkt_buf late, old;
    size_t llate = build_rtp(late.b, 0x77, 1100, 0);
    size_t lold = build_rtp(old.b, 0x77, 100, 0);
    assert_int_equal(odeon_srtp_protect_rtp(c, old.b, &lold, sizeof old.b), 0);
    assert_int_equal(odeon_srtp_protect_rtp(c, late.b, &llate, sizeof late.b), 0);
    roundtrip_rtp(c, s, 0x77, 2000); /* the first packet the receiver sees */
    /* 900 behind the highest: inside 1024. */
    assert_int_equal(odeon_srtp_unprotect_rtp(s, late.b, &llate), 0);
    /* 1900 behind: too old. */
    assert_int_equal(odeon_srtp_unprotect_rtp(s, old.b, &lold), ODEON_EEXIST);
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

static void test_capacity(void **state)
{
    odeon_srtp *c, *s;
    make_pair(profile_of(state), &c, &s);

    pkt_buf p, orig;
    size_t len = build_rtp(p.b, 0x42, 1, 0);
    size_t plain = len;
    memcpy(orig.b, p.b, len);
    assert_int_equal(odeon_srtp_protect_rtp(c, p.b, &len, plain + ODEON_SRTP_RTP_TAIL_ROOM - 1),
                     ODEON_ENOMEM);
    assert_int_equal(len, plain);
    assert_memory_equal(p.b, orig.b, plain);
    assert_int_equal(odeon_srtp_protect_rtp(c, p.b, &len, plain - 1), ODEON_ENOMEM);
    assert_int_equal(odeon_srtp_protect_rtp(c, p.b, &len, plain + ODEON_SRTP_RTP_TAIL_ROOM), 0);

    len = build_sr(p.b, 0x42);
    plain = len;
    assert_int_equal(odeon_srtp_protect_rtcp(c, p.b, &len, plain + ODEON_SRTP_RTCP_TAIL_ROOM - 1),
                     ODEON_ENOMEM);
    assert_int_equal(len, plain);
    assert_int_equal(odeon_srtp_protect_rtcp(c, p.b, &len, plain + ODEON_SRTP_RTCP_TAIL_ROOM), 0);
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

static void test_bad_packets(void **state)
{
    odeon_srtp *c, *s;
    make_pair(profile_of(state), &c, &s);

    pkt_buf p;
    size_t len = 11;
    memset(p.b, 0x80, sizeof p.b);
    assert_int_equal(odeon_srtp_protect_rtp(c, p.b, &len, sizeof p.b), ODEON_EINVAL);
    assert_int_equal(odeon_srtp_unprotect_rtp(s, p.b, &len), ODEON_EINVAL);
    len = 7;
    assert_int_equal(odeon_srtp_protect_rtcp(c, p.b, &len, sizeof p.b), ODEON_EINVAL);
    assert_int_equal(odeon_srtp_unprotect_rtcp(s, p.b, &len), ODEON_EINVAL);
    /* Misaligned buffer. */
    len = build_rtp(p.b + 1, 0x42, 1, 0);
    assert_int_equal(odeon_srtp_protect_rtp(c, p.b + 1, &len, sizeof p.b - 1), ODEON_EINVAL);
    /* A short SRTP packet (header only, no tag) is refused by libsrtp without a crash. */
    len = build_rtp(p.b, 0x42, 1, 0);
    len = 12;
    assert_true(odeon_srtp_unprotect_rtp(s, p.b, &len) < 0);
    assert_int_equal(odeon_srtp_protect_rtp(NULL, p.b, &len, sizeof p.b), ODEON_EINVAL);
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

/* Wildcard SSRCs: one session protects and unprotects any number of streams, both ways. */
static void test_many_ssrcs(void **state)
{
    odeon_srtp *c, *s;
    make_pair(profile_of(state), &c, &s);

    for (uint16_t seq = 1; seq <= 3; seq++) {
        for (uint32_t i = 0; i < 40; i++) {
            roundtrip_rtp(c, s, 0x1000 + i, (uint16_t)(seq + i));
            roundtrip_rtp(s, c, 0x9000 + i, seq);
        }
    }
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

/* Two sessions with the same role use the same key for different directions: nothing
 * authenticates. */
static void test_same_role_fails(void **state)
{
    odeon_srtp_profile profile = profile_of(state);
    uint8_t m[64];
    size_t mlen = odeon_srtp_material_len(profile);
    fill_material(m, mlen);
    odeon_srtp *a = odeon_srtp_new(profile, m, mlen, true, NULL);
    odeon_srtp *b = odeon_srtp_new(profile, m, mlen, true, NULL);
    assert_non_null(a);
    assert_non_null(b);
    pkt_buf p;
    size_t len = build_rtp(p.b, 0x5, 1, 0);
    assert_int_equal(odeon_srtp_protect_rtp(a, p.b, &len, sizeof p.b), 0);
    assert_int_equal(odeon_srtp_unprotect_rtp(b, p.b, &len), ODEON_EPERM);
    odeon_srtp_free(a);
    odeon_srtp_free(b);
}

/* The halves of the material go where RFC 5764 §4.2 says: changing the server key breaks
 * only server-to-client traffic. */
static void test_material_layout(void **state)
{
    odeon_srtp_profile profile = profile_of(state);
    size_t k = odeon_srtp_key_len(profile);
    uint8_t m[64], m2[64];
    size_t mlen = odeon_srtp_material_len(profile);
    fill_material(m, mlen);
    memcpy(m2, m, mlen);
    m2[k] ^= 0xFF; /* first byte of server_key */
    odeon_srtp *c = odeon_srtp_new(profile, m, mlen, true, NULL);
    odeon_srtp *s = odeon_srtp_new(profile, m2, mlen, false, NULL);
    assert_non_null(c);
    assert_non_null(s);
    roundtrip_rtp(c, s, 0x10, 1); /* client key unchanged */
    pkt_buf p;
    size_t len = build_rtp(p.b, 0x20, 1, 0);
    assert_int_equal(odeon_srtp_protect_rtp(s, p.b, &len, sizeof p.b), 0);
    assert_int_equal(odeon_srtp_unprotect_rtp(c, p.b, &len), ODEON_EPERM);
    odeon_srtp_free(c);
    odeon_srtp_free(s);
}

static void test_bad_material(void **state)
{
    (void)state;
    uint8_t m[64];
    fill_material(m, sizeof m);
    char *err = NULL;
    assert_null(odeon_srtp_new(CM, m, 56, true, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "60 expected"));
    g_free(err);
    err = NULL;
    assert_null(odeon_srtp_new(GCM, m, 60, false, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "56 expected"));
    g_free(err);
    err = NULL;
    assert_null(odeon_srtp_new(GCM, NULL, 56, false, &err));
    assert_non_null(err);
    g_free(err);
    err = NULL;
    assert_null(odeon_srtp_new(ODEON_SRTP_PROFILE_NONE, m, 60, true, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "profile"));
    g_free(err);
    assert_null(odeon_srtp_new((odeon_srtp_profile)2, m, 60, true, NULL)); /* SHA1_32 */
    odeon_srtp_free(NULL);
}

static void test_profiles(void **state)
{
    (void)state;
    assert_int_equal(odeon_srtp_profile_from_openssl_name("SRTP_AEAD_AES_128_GCM"), GCM);
    assert_int_equal(odeon_srtp_profile_from_openssl_name("SRTP_AES128_CM_SHA1_80"), CM);
    assert_int_equal(odeon_srtp_profile_from_openssl_name("SRTP_AES128_CM_SHA1_32"),
                     ODEON_SRTP_PROFILE_NONE);
    assert_int_equal(odeon_srtp_profile_from_openssl_name("SRTP_AEAD_AES_256_GCM"),
                     ODEON_SRTP_PROFILE_NONE);
    assert_int_equal(odeon_srtp_profile_from_openssl_name(NULL), ODEON_SRTP_PROFILE_NONE);
    assert_int_equal(odeon_srtp_key_len(CM), 16);
    assert_int_equal(odeon_srtp_salt_len(CM), 14);
    assert_int_equal(odeon_srtp_material_len(CM), ODEON_SRTP_AES128_CM_MATERIAL_LEN);
    assert_int_equal(odeon_srtp_key_len(GCM), 16);
    assert_int_equal(odeon_srtp_salt_len(GCM), 12);
    assert_int_equal(odeon_srtp_material_len(GCM), ODEON_SRTP_AEAD_AES_128_GCM_MATERIAL_LEN);
    assert_int_equal(odeon_srtp_material_len(ODEON_SRTP_PROFILE_NONE), 0);
    assert_int_equal(odeon_srtp_rtp_overhead(CM), 10);
    assert_int_equal(odeon_srtp_rtcp_overhead(CM), 14);
    assert_int_equal(odeon_srtp_rtp_overhead(GCM), 16);
    assert_int_equal(odeon_srtp_rtcp_overhead(GCM), 20);
    assert_int_equal(odeon_srtp_global_init(), 0);
    assert_int_equal(odeon_srtp_global_init(), 0);
}

static void test_error_names(void **state)
{
    (void)state;
    assert_string_equal(odeon_srtp_error_name(0), "ok");
    assert_string_equal(odeon_srtp_error_name(ODEON_ENOMEM),
                        "no room for the SRTP trailer, or out of memory");
    assert_string_equal(odeon_srtp_error_name(ODEON_EINVAL), "malformed packet or bad argument");
    assert_string_equal(odeon_srtp_error_name(ODEON_EIO), "SRTP failure");
    assert_string_equal(odeon_srtp_error_name(-1000), "unknown error");
}

/* Creating sessions from several threads at once initialises libsrtp exactly once. The
 * threads use no cmocka assertion (those may only fail on the test's own thread): each
 * returns whether its round trip worked. */
static gpointer create_in_thread(gpointer data)
{
    (void)data;
    uint8_t m[ODEON_SRTP_AEAD_AES_128_GCM_MATERIAL_LEN];
    fill_material(m, sizeof m);
    odeon_srtp *c = odeon_srtp_new(GCM, m, sizeof m, true, NULL);
    odeon_srtp *s = odeon_srtp_new(GCM, m, sizeof m, false, NULL);
    pkt_buf p;
    size_t len = build_rtp(p.b, 1, 1, 0);
    bool ok = c && s && odeon_srtp_protect_rtp(c, p.b, &len, sizeof p.b) == 0 &&
              odeon_srtp_unprotect_rtp(s, p.b, &len) == 0 && len == 12 + PAYLOAD_LEN;
    odeon_srtp_free(c);
    odeon_srtp_free(s);
    return GINT_TO_POINTER(ok ? 1 : 0);
}

static void test_threads(void **state)
{
    (void)state;
    GThread *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = g_thread_new("srtp", create_in_thread, NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(GPOINTER_TO_INT(g_thread_join(t[i])), 1);
}

#define BOTH(fn) cmocka_unit_test_prestate(fn, &CM), cmocka_unit_test_prestate(fn, &GCM)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads), /* first, so it races the one-time init */
        BOTH(test_rtp_roundtrip),
        BOTH(test_rtcp_roundtrip),
        BOTH(test_tampered),
        BOTH(test_replay),
        BOTH(test_repeat_tx),
        BOTH(test_replay_window),
        BOTH(test_capacity),
        BOTH(test_bad_packets),
        BOTH(test_many_ssrcs),
        BOTH(test_same_role_fails),
        BOTH(test_material_layout),
        cmocka_unit_test(test_bad_material),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_error_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
