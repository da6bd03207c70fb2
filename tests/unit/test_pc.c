/*
 * test_pc.c - two peer connections in one process, each on its own media loop, connected over
 * loopback ICE with one shared DTLS identity: offer/answer (candidates in the description, or
 * full trickle through events), webrtcup, RTP both ways decrypted with the right m-line, a lost
 * video packet NACKed and retransmitted over RTX, a keyframe request arriving as a PLI, close
 * (no event after it) and consent loss once the other side is gone.
 *
 * Events run on the loop threads; they record what they see under one mutex and signal one
 * condition variable the test thread waits on. The clock is the real one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "core/medialoop.h"
#include "plugin/plugin.h"
#include "webrtc/bytes.h"
#include "webrtc/dtls.h"
#include "webrtc/jsep.h"
#include "webrtc/pc.h"
#include "webrtc/pc_priv.h" /* the simulcast test sends raw RTP through A's SRTP */
#include "webrtc/rtcp.h"
#include "webrtc/rtp.h"
#include "webrtc/sdp.h"
#include "webrtc/srtp.h"

#define AUDIO_SSRC 0x0A0A0A0Au
#define VIDEO_SSRC 0x0B0B0B0Bu
#define VIDEO_RTX_SSRC 0x0C0C0C0Cu
#define WAIT_S 10

static GMutex lock;
static GCond cond;
static odeon_dtls_identity *identity;
static odeon_media_loops *loops;

typedef struct {
    GByteArray *data;
    int mindex;
    bool video;
    int substream;
} seen_packet;

typedef struct peer {
    const char *name;
    odeon_pc *pc;
    struct peer *other; /* full trickle: where our candidates go */
    /* under lock */
    bool local_done;
    char *local_sdp;
    char *local_error;
    unsigned candidates;
    bool candidates_done;
    char *candidate_mid;
    int candidate_mindex;
    unsigned webrtcup;
    unsigned media_on[2];
    GPtrArray *rtp;  /* seen_packet */
    GPtrArray *rtcp; /* seen_packet */
    char *failed;
    bool closed;
    unsigned after_close;
    unsigned slowlink_uplink_lost; /* the largest "lost" of an uplink slowlink event */
    unsigned retransmit_asked;     /* events.retransmit calls (external retransmissions) */
    int retransmit_mindex;
} peer;

static void seen_free(gpointer p)
{
    seen_packet *s = p;
    g_byte_array_unref(s->data);
    g_free(s);
}

static void peer_init(peer *p, const char *name)
{
    memset(p, 0, sizeof *p);
    p->name = name;
    p->candidate_mindex = -1;
    p->rtp = g_ptr_array_new_with_free_func(seen_free);
    p->rtcp = g_ptr_array_new_with_free_func(seen_free);
}

static void peer_clear(peer *p)
{
    odeon_pc_unref(p->pc);
    g_free(p->local_sdp);
    g_free(p->local_error);
    g_free(p->candidate_mid);
    g_free(p->failed);
    g_ptr_array_unref(p->rtp);
    g_ptr_array_unref(p->rtcp);
}

/* Every event starts with this, under lock. */
static void event_seen(peer *p)
{
    if (p->closed)
        p->after_close++;
    g_cond_broadcast(&cond);
}

static void ev_local_candidate(void *user, const char *mid, int mindex, const char *candidate)
{
    peer *p = user;
    g_mutex_lock(&lock);
    event_seen(p);
    if (candidate == NULL) {
        p->candidates_done = true;
    } else {
        p->candidates++;
        g_free(p->candidate_mid);
        p->candidate_mid = g_strdup(mid);
        p->candidate_mindex = mindex;
    }
    peer *other = p->other;
    g_mutex_unlock(&lock);
    if (other != NULL)
        odeon_pc_add_remote_candidate(other->pc, mid, mindex, candidate);
}

static void ev_webrtcup(void *user)
{
    peer *p = user;
    g_mutex_lock(&lock);
    event_seen(p);
    p->webrtcup++;
    g_mutex_unlock(&lock);
}

static void ev_media(void *user, const char *mid, bool video, bool receiving)
{
    peer *p = user;
    g_mutex_lock(&lock);
    event_seen(p);
    if (receiving)
        p->media_on[video ? 1 : 0]++;
    (void)mid;
    g_mutex_unlock(&lock);
}

static void ev_slowlink(void *user, const char *mid, bool video, bool uplink, unsigned lost)
{
    (void)mid;
    (void)video;
    peer *p = user;
    g_mutex_lock(&lock);
    event_seen(p);
    if (uplink && lost > p->slowlink_uplink_lost)
        p->slowlink_uplink_lost = lost;
    g_cond_broadcast(&cond);
    g_mutex_unlock(&lock);
}

static void record_packet(GPtrArray *into, odeon_media_packet *packet)
{
    seen_packet *s = g_new0(seen_packet, 1);
    s->data = g_byte_array_sized_new((guint)packet->len);
    g_byte_array_append(s->data, packet->data, (guint)packet->len);
    s->mindex = packet->mindex;
    s->video = packet->video;
    s->substream = packet->substream;
    g_ptr_array_add(into, s);
}

static void ev_rtp(void *user, odeon_media_packet *packet)
{
    peer *p = user;
    g_mutex_lock(&lock);
    event_seen(p);
    record_packet(p->rtp, packet);
    g_mutex_unlock(&lock);
}

static void ev_rtcp(void *user, odeon_media_packet *packet)
{
    peer *p = user;
    g_mutex_lock(&lock);
    event_seen(p);
    record_packet(p->rtcp, packet);
    g_mutex_unlock(&lock);
}

static void ev_failed(void *user, const char *reason)
{
    peer *p = user;
    g_mutex_lock(&lock);
    event_seen(p);
    if (p->failed == NULL)
        p->failed = g_strdup(reason);
    g_mutex_unlock(&lock);
}

static size_t ev_retransmit(void *user, int mindex, uint16_t seq, uint8_t *buf, size_t cap);

static const odeon_pc_events events = {
    .retransmit = ev_retransmit,
    .local_candidate = ev_local_candidate,
    .webrtcup = ev_webrtcup,
    .media = ev_media,
    .slowlink = ev_slowlink,
    .rtp = ev_rtp,
    .rtcp = ev_rtcp,
    .failed = ev_failed,
};

static void local_done(void *data, char *sdp, char *error)
{
    peer *p = data;
    g_mutex_lock(&lock);
    p->local_done = true;
    p->local_sdp = sdp;
    p->local_error = error;
    g_cond_broadcast(&cond);
    g_mutex_unlock(&lock);
}

/* Waits (lock held) until pred(arg) or WAIT_S seconds; returns pred's last value. */
static bool wait_for(bool (*pred)(void *arg), void *arg, int seconds)
{
    gint64 deadline = g_get_monotonic_time() + seconds * G_TIME_SPAN_SECOND;
    bool ok;
    g_mutex_lock(&lock);
    while (!(ok = pred(arg)))
        if (!g_cond_wait_until(&cond, &lock, deadline)) {
            ok = pred(arg);
            break;
        }
    g_mutex_unlock(&lock);
    return ok;
}

static bool is_local_done(void *arg)
{
    return ((peer *)arg)->local_done;
}

static bool is_up(void *arg)
{
    return ((peer *)arg)->webrtcup > 0;
}

static bool has_failed(void *arg)
{
    return ((peer *)arg)->failed != NULL;
}

static bool candidates_done(void *arg)
{
    return ((peer *)arg)->candidates_done;
}

/* ---- setup ---- */

static int group_setup(void **state)
{
    (void)state;
    assert_int_equal(odeon_srtp_global_init(), 0);
    char *error = NULL;
    identity = odeon_dtls_identity_generate(&error);
    if (identity == NULL)
        fail_msg("identity: %s", error);
    loops = odeon_media_loops_start(2, &error);
    if (loops == NULL)
        fail_msg("loops: %s", error);
    g_mutex_init(&lock);
    g_cond_init(&cond);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    odeon_media_loops_stop(loops);
    odeon_dtls_identity_unref(identity);
    return 0;
}

/* slowlink_threshold of the next connect_pair (0: off). */
static unsigned next_slowlink_threshold;

static odeon_pc_settings test_settings(bool full_trickle, unsigned consent_s)
{
    odeon_pc_settings s = {
        .ice = {.loopback = true, .ipv6 = false},
        .full_trickle = full_trickle,
        .identity = identity,
        .dtls_timeout_s = 10,
        .consent_timeout_s = consent_s,
        .no_media_timeout_ms = 1000,
        .slowlink_threshold = next_slowlink_threshold,
        .nack_buffer_ms = 1000,
        .twcc_period_ms = 100,
        .rtcp_interval_ms = 1000,
    };
    return s;
}

static odeon_sdp *parse_text(const char *text)
{
    char *error = NULL;
    odeon_sdp *sdp = odeon_sdp_parse(text, strlen(text), &error);
    if (sdp == NULL)
        fail_msg("cannot parse: %s\n%s", error, text);
    return sdp;
}

static odeon_sdp *make_offer(void)
{
    const odeon_jsep_offer_stream streams[] = {
        {.kind = ODEON_SDP_MEDIA_AUDIO, .codec = "opus", .pt = 111, .clock_rate = 48000,
         .channels = 2, .rtx_pt = -1, .ssrc = AUDIO_SSRC, .direction = ODEON_SDP_DIR_SENDRECV},
        {.kind = ODEON_SDP_MEDIA_VIDEO, .codec = "VP8", .pt = 96, .clock_rate = 90000,
         .rtx_pt = 97, .ssrc = VIDEO_SSRC, .rtx_ssrc = VIDEO_RTX_SSRC,
         .direction = ODEON_SDP_DIR_SENDRECV},
    };
    char *error = NULL;
    odeon_sdp *offer = odeon_jsep_offer(streams, G_N_ELEMENTS(streams), "a", &error);
    if (offer == NULL)
        fail_msg("offer: %s", error);
    return offer;
}

/* For the next connect_pair: rewrites A's offer text before B sees it (NULL: as is), and
 * whether B's answer accepts simulcast. */
static char *(*next_offer_edit)(const char *offer);
static bool next_answer_simulcast;

/* Offer from a, answer from b; both must come up. */
/* connect_pair: A answers NACKs from its owner's buffer (ev_retransmit), not its own. */
static bool pair_external_retransmissions;

static void connect_pair(peer *a, peer *b, bool full_trickle, unsigned consent_s)
{
    odeon_pc_settings settings = test_settings(full_trickle, consent_s);
    peer_init(a, "A");
    peer_init(b, "B");
    a->pc = odeon_pc_new(odeon_media_loops_pick(loops), &settings, &events, a);
    b->pc = odeon_pc_new(odeon_media_loops_pick(loops), &settings, &events, b);
    if (pair_external_retransmissions)
        odeon_pc_external_retransmissions(a->pc);
    assert_ptr_not_equal(odeon_pc_loop(a->pc), odeon_pc_loop(b->pc));
    if (full_trickle) {
        a->other = b;
        b->other = a;
    }

    odeon_pc_set_local(a->pc, make_offer(), true, local_done, a);
    assert_true(wait_for(is_local_done, a, WAIT_S));
    if (a->local_sdp == NULL)
        fail_msg("A's offer: %s", a->local_error);
    odeon_sdp *offer = parse_text(a->local_sdp);
    assert_int_equal(offer->media_count, 2);
    assert_string_equal(odeon_jsep_setup(offer), "actpass");
    assert_non_null(odeon_jsep_fingerprint(offer));
    assert_string_equal(odeon_jsep_fingerprint(offer)->value,
                        odeon_dtls_identity_fingerprint(identity));
    if (full_trickle) {
        assert_int_equal(offer->media[0].candidate_count, 0);
        assert_false(offer->media[0].end_of_candidates);
    } else {
        assert_true(offer->media[0].candidate_count > 0);
        assert_true(offer->media[0].end_of_candidates);
        assert_int_equal(offer->media[1].candidate_count, 0);
    }
    char *error = NULL;
    char *offer_text = next_offer_edit ? next_offer_edit(a->local_sdp) : g_strdup(a->local_sdp);
    odeon_sdp_free(offer);
    offer = parse_text(offer_text);
    if (odeon_pc_set_remote(b->pc, offer, true, &error) != 0)
        fail_msg("B set_remote: %s", error);
    assert_true(odeon_pc_remote_is_offer(b->pc));
    char *remote_text = odeon_pc_remote_sdp(b->pc);
    assert_non_null(remote_text);
    g_free(remote_text);

    offer = parse_text(offer_text);
    g_free(offer_text);
    odeon_jsep_answer_options o = {.audio = true, .video = true, .cname = "b",
                                   .simulcast = next_answer_simulcast};
    odeon_sdp *answer = odeon_jsep_answer(offer, &o, &error);
    if (answer == NULL)
        fail_msg("answer: %s", error);
    odeon_sdp_free(offer);
    odeon_pc_set_local(b->pc, answer, false, local_done, b);
    assert_true(wait_for(is_local_done, b, WAIT_S));
    if (b->local_sdp == NULL)
        fail_msg("B's answer: %s", b->local_error);
    odeon_sdp *parsed = parse_text(b->local_sdp);
    const char *setup = odeon_jsep_setup(parsed);
    assert_true(strcmp(setup, "active") == 0 || strcmp(setup, "passive") == 0);
    assert_int_equal(parsed->media[0].candidate_count > 0, !full_trickle);
    if (odeon_jsep_check_remote(parsed, false, NULL, &error) != 0)
        fail_msg("B's answer does not check: %s", error);
    if (odeon_pc_set_remote(a->pc, parsed, false, &error) != 0)
        fail_msg("A set_remote: %s", error);
    assert_false(odeon_pc_remote_is_offer(a->pc));

    if (!wait_for(is_up, a, WAIT_S) || !wait_for(is_up, b, WAIT_S)) {
        odeon_pc_stats sa, sb;
        odeon_pc_get_stats(a->pc, &sa);
        odeon_pc_get_stats(b->pc, &sb);
        fail_msg("not up: A ice %s dtls %s, B ice %s dtls %s", sa.ice_state, sa.dtls_state,
                 sb.ice_state, sb.dtls_state);
    }
    g_mutex_lock(&lock);
    assert_int_equal(a->webrtcup, 1);
    assert_int_equal(b->webrtcup, 1);
    assert_null(a->failed);
    assert_null(b->failed);
    g_mutex_unlock(&lock);
    odeon_pc_stats st;
    odeon_pc_get_stats(a->pc, &st);
    assert_true(st.up);
    assert_string_equal(st.ice_state, "connected");
    assert_int_equal(st.media_count, 2);
    assert_non_null(strstr(st.selected_pair, "127.0.0.1"));
}

static void close_pair(peer *a, peer *b)
{
    odeon_pc_close(a->pc);
    g_mutex_lock(&lock);
    a->closed = true;
    g_mutex_unlock(&lock);
    odeon_pc_close(b->pc);
    g_mutex_lock(&lock);
    b->closed = true;
    g_mutex_unlock(&lock);
    assert_true(odeon_pc_is_closed(a->pc));
    assert_true(odeon_pc_is_closed(b->pc));
    odeon_pc_close(a->pc); /* twice is fine */
    g_usleep(300000);
    g_mutex_lock(&lock);
    assert_int_equal(a->after_close, 0);
    assert_int_equal(b->after_close, 0);
    g_mutex_unlock(&lock);
    /* Media calls on a closed connection fail cleanly. */
    assert_int_not_equal(odeon_pc_request_keyframe(b->pc, 1), 0);
    peer_clear(a);
    peer_clear(b);
}

/* ---- media ---- */

/* An RTP packet with a 12-byte header and a payload naming seq, in a buffer with SRTP room. */
typedef struct {
    uint8_t buf[1500] __attribute__((aligned(16)));
    odeon_media_packet packet;
} out_packet;

static void build_rtp(out_packet *o, uint8_t pt, uint16_t seq, uint32_t ts, int mindex,
                      bool video)
{
    memset(o->buf, 0, sizeof o->buf);
    o->buf[0] = 0x80;
    o->buf[1] = pt;
    odeon_put_be16(o->buf + 2, seq);
    odeon_put_be32(o->buf + 4, ts);
    odeon_put_be32(o->buf + 8, 0x12345678); /* rewritten by the pc */
    size_t payload = 100;
    for (size_t i = 0; i < payload; i++)
        o->buf[12 + i] = (uint8_t)(seq + i);
    o->packet = (odeon_media_packet){
        .data = o->buf,
        .len = 12 + payload,
        .capacity = sizeof o->buf,
        .mindex = mindex,
        .video = video,
    };
}

/* The owner's side of external retransmissions: it "kept" every packet send_rtp sent on
 * video, except 2004, which is gone. */
static size_t ev_retransmit(void *user, int mindex, uint16_t seq, uint8_t *buf, size_t cap)
{
    peer *p = user;
    g_mutex_lock(&lock);
    p->retransmit_asked++;
    p->retransmit_mindex = mindex;
    g_mutex_unlock(&lock);
    if (seq == 2004)
        return 0;
    out_packet *o = g_new0(out_packet, 1);
    build_rtp(o, 96, seq, (uint32_t)seq * 3000u, mindex, true);
    size_t len = o->packet.len <= cap ? o->packet.len : 0;
    memcpy(buf, o->buf, len);
    g_free(o);
    return len;
}

static int send_rtp(peer *p, uint8_t pt, uint16_t seq, int mindex, bool video)
{
    out_packet *o = g_new0(out_packet, 1);
    build_rtp(o, pt, seq, (uint32_t)seq * 3000u, mindex, video);
    int rc = odeon_pc_send_rtp(p->pc, &o->packet);
    g_free(o);
    return rc;
}

typedef struct {
    peer *p;
    uint16_t seq;
    bool video;
    int copies; /* how many times it must have been seen */
} rtp_wait;

static int count_rtp(peer *p, uint16_t seq, bool video)
{
    int n = 0;
    for (guint i = 0; i < p->rtp->len; i++) {
        seen_packet *s = g_ptr_array_index(p->rtp, i);
        odeon_rtp_view v;
        if (s->video == video && odeon_rtp_parse(s->data->data, s->data->len, &v) == 0 &&
            v.seq == seq)
            n++;
    }
    return n;
}

static bool rtp_arrived(void *arg)
{
    rtp_wait *w = arg;
    return count_rtp(w->p, w->seq, w->video) >= w->copies;
}

static const seen_packet *find_rtp(peer *p, uint16_t seq, bool video)
{
    for (guint i = 0; i < p->rtp->len; i++) {
        seen_packet *s = g_ptr_array_index(p->rtp, i);
        odeon_rtp_view v;
        if (s->video == video && odeon_rtp_parse(s->data->data, s->data->len, &v) == 0 &&
            v.seq == seq)
            return s;
    }
    return NULL;
}

static void check_received(peer *p, uint16_t seq, bool video, uint8_t pt, uint32_t ssrc)
{
    const seen_packet *s = find_rtp(p, seq, video);
    assert_non_null(s);
    assert_int_equal(s->mindex, video ? 1 : 0);
    odeon_rtp_view v;
    assert_int_equal(odeon_rtp_parse(s->data->data, s->data->len, &v), 0);
    assert_int_equal(v.payload_type, pt);
    assert_int_equal(v.ssrc, ssrc);
    assert_int_equal(v.timestamp, (uint32_t)seq * 3000u);
    assert_int_equal(v.payload_len, 100);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(s->data->data[v.payload_offset + i], (uint8_t)(seq + i));
}

static bool media_on_both(void *arg)
{
    peer *p = arg;
    return p->media_on[0] > 0 && p->media_on[1] > 0;
}

typedef struct {
    peer *p;
    uint32_t media_ssrc;
    int mindex;
    bool video;
    bool found;
} pli_wait;

static bool pli_arrived(void *arg)
{
    pli_wait *w = arg;
    for (guint i = 0; i < w->p->rtcp->len; i++) {
        seen_packet *s = g_ptr_array_index(w->p->rtcp, i);
        odeon_rtcp_iter it;
        odeon_rtcp_header h;
        odeon_rtcp_iter_init(&it, s->data->data, s->data->len);
        while (odeon_rtcp_iter_next(&it, &h) == 1) {
            uint32_t sender = 0, media = 0;
            if (h.pt == ODEON_RTCP_PSFB && odeon_rtcp_parse_pli(&h, &sender, &media) == 0 &&
                media == w->media_ssrc) {
                w->mindex = s->mindex;
                w->video = s->video;
                w->found = true;
                return true;
            }
        }
    }
    return false;
}

typedef struct {
    peer *p;
    uint32_t ssrc; /* 0: VIDEO_SSRC */
    uint16_t lost; /* with ssrc: a sequence number the NACK must name */
} nack_wait;

static bool nack_names(const odeon_rtcp_nack *n, uint16_t seq)
{
    uint16_t lost[64];
    size_t count = MIN(odeon_rtcp_nack_lost(n, lost, G_N_ELEMENTS(lost)), G_N_ELEMENTS(lost));
    for (size_t i = 0; i < count; i++)
        if (lost[i] == seq)
            return true;
    return false;
}

/* p got an RTCP NACK (RTPFB fmt 1) about A's video SSRC (or w->ssrc naming w->lost). */
static bool nack_arrived(void *arg)
{
    nack_wait *w = arg;
    for (guint i = 0; i < w->p->rtcp->len; i++) {
        seen_packet *s = g_ptr_array_index(w->p->rtcp, i);
        odeon_rtcp_iter it;
        odeon_rtcp_header h;
        odeon_rtcp_iter_init(&it, s->data->data, s->data->len);
        while (odeon_rtcp_iter_next(&it, &h) == 1) {
            odeon_rtcp_nack n;
            if (h.pt == ODEON_RTCP_RTPFB && h.count == 1 && odeon_rtcp_parse_nack(&h, &n) == 0 &&
                n.media_ssrc == (w->ssrc ? w->ssrc : VIDEO_SSRC) &&
                (w->ssrc == 0 || nack_names(&n, w->lost)))
                return true;
        }
    }
    return false;
}

/* A NACK for video packets seqs of the other side, sent by p on its video m-line as a plugin
 * would relay one (the connection rewrites the SSRCs). */
static void relay_video_nack(peer *p, const uint16_t *seqs, size_t n)
{
    uint8_t nack[64] __attribute__((aligned(16)));
    int nack_len = odeon_rtcp_build_nack(nack, sizeof nack, 1, 2, seqs, n);
    assert_true(nack_len > 0);
    uint8_t *rtcp = g_malloc0(nack_len + ODEON_SRTP_RTCP_TAIL_ROOM + 64);
    memcpy(rtcp, nack, (size_t)nack_len);
    odeon_media_packet fb = {.data = rtcp, .len = (size_t)nack_len,
                             .capacity = (size_t)nack_len + ODEON_SRTP_RTCP_TAIL_ROOM + 64,
                             .mindex = 1, .video = true};
    assert_int_equal(odeon_pc_send_rtcp(p->pc, &fb), 0);
    g_free(rtcp);
}

/* The first two video packets p received with sequence number seq (NULL when fewer). Call
 * with lock. */
static void video_copies(peer *p, uint16_t seq, const seen_packet **first,
                         const seen_packet **second)
{
    *first = *second = NULL;
    for (guint i = 0; i < p->rtp->len && *second == NULL; i++) {
        seen_packet *sp = g_ptr_array_index(p->rtp, i);
        odeon_rtp_view v;
        if (sp->video && odeon_rtp_parse(sp->data->data, sp->data->len, &v) == 0 &&
            v.seq == seq) {
            if (*first == NULL)
                *first = sp;
            else
                *second = sp;
        }
    }
}

static void test_media(void **state)
{
    (void)state;
    peer a, b;
    connect_pair(&a, &b, false, 10);

    /* Audio and video, A to B. */
    for (uint16_t seq = 1000; seq < 1005; seq++) {
        assert_int_equal(send_rtp(&a, 111, seq, 0, false), 0);
        assert_int_equal(send_rtp(&a, 96, seq, 1, true), 0);
        g_usleep(2000);
    }
    rtp_wait w = {.p = &b, .seq = 1004, .video = true, .copies = 1};
    assert_true(wait_for(rtp_arrived, &w, WAIT_S));
    w.video = false;
    assert_true(wait_for(rtp_arrived, &w, WAIT_S));
    g_mutex_lock(&lock);
    for (uint16_t seq = 1000; seq < 1005; seq++) {
        check_received(&b, seq, false, 111, AUDIO_SSRC);
        check_received(&b, seq, true, 96, VIDEO_SSRC);
    }
    g_mutex_unlock(&lock);
    assert_true(wait_for(media_on_both, &b, WAIT_S));

    /* An unknown m-line or payload-less call is refused, nothing crashes. */
    assert_int_not_equal(send_rtp(&a, 96, 1, 7, true), 0);
    assert_int_equal(odeon_pc_send_rtp(a.pc, NULL), ODEON_EINVAL);

    /* And back: B to A on its own SSRCs (from its answer). */
    odeon_sdp *answer = parse_text(b.local_sdp);
    uint32_t b_audio = answer->media[0].ssrcs[0].ssrc;
    odeon_sdp_free(answer);
    assert_int_equal(send_rtp(&b, 111, 7, 0, false), 0);
    rtp_wait back = {.p = &a, .seq = 7, .video = false, .copies = 1};
    assert_true(wait_for(rtp_arrived, &back, WAIT_S));
    g_mutex_lock(&lock);
    check_received(&a, 7, false, 111, b_audio);
    g_mutex_unlock(&lock);

    /* A skips video 1010: B's loss tracker sees the gap and NACKs it (A cannot resend what
     * it never sent, so nothing comes back for it). */
    for (uint16_t seq = 1005; seq < 1016; seq++) {
        if (seq != 1010)
            assert_int_equal(send_rtp(&a, 96, seq, 1, true), 0);
        g_usleep(2000);
    }
    rtp_wait last = {.p = &b, .seq = 1015, .video = true, .copies = 1};
    assert_true(wait_for(rtp_arrived, &last, WAIT_S));
    nack_wait nw = {.p = &a};
    assert_true(wait_for(nack_arrived, &nw, WAIT_S));
    odeon_pc_stats sa, sb;
    odeon_pc_get_stats(b.pc, &sb);
    assert_true(sb.nacks_sent >= 1);
    odeon_pc_get_stats(a.pc, &sa);
    assert_true(sa.nacks_received >= 1);
    assert_int_equal(sa.retransmissions, 0);
    g_mutex_lock(&lock);
    assert_int_equal(count_rtp(&b, 1010, true), 0);
    g_mutex_unlock(&lock);

    /* A NACK for 1008, which B did get, as a plugin would relay it: A answers from its buffer
     * over RTX and B hands the unwrapped packet up again, identical to the original. */
    uint16_t want = 1008;
    relay_video_nack(&b, &want, 1);
    rtp_wait again = {.p = &b, .seq = 1008, .video = true, .copies = 2};
    assert_true(wait_for(rtp_arrived, &again, WAIT_S));
    g_mutex_lock(&lock);
    check_received(&b, 1008, true, 96, VIDEO_SSRC);
    const seen_packet *first = NULL, *second = NULL;
    video_copies(&b, 1008, &first, &second);
    assert_non_null(second);
    assert_int_equal(second->mindex, 1);
    assert_int_equal(first->data->len, second->data->len);
    assert_memory_equal(first->data->data, second->data->data, first->data->len);
    g_mutex_unlock(&lock);
    odeon_pc_get_stats(a.pc, &sa);
    odeon_pc_get_stats(b.pc, &sb);
    assert_true(sa.retransmissions >= 1);
    assert_true(sa.packets_out >= 20);
    assert_true(sb.packets_in >= 20);
    assert_true(sb.bytes_in > 0);

    /* A keyframe request from B reaches A as a PLI about A's video SSRC. */
    assert_int_equal(odeon_pc_request_keyframe(b.pc, 1), 0);
    pli_wait pw = {.p = &a, .media_ssrc = VIDEO_SSRC};
    assert_true(wait_for(pli_arrived, &pw, WAIT_S));
    assert_int_equal(pw.mindex, 1);
    assert_true(pw.video);

    close_pair(&a, &b);
}

/* The owner keeps what it sent (a fan-out plugin's shared ring): a NACK asks it, the packet
 * goes out again over RTX, unwrapped identical to the original; one it no longer has is not
 * sent. */
static void test_external_retransmissions(void **state)
{
    (void)state;
    peer a, b;
    pair_external_retransmissions = true;
    connect_pair(&a, &b, false, 10);
    pair_external_retransmissions = false;
    for (uint16_t seq = 2000; seq < 2006; seq++) {
        assert_int_equal(send_rtp(&a, 96, seq, 1, true), 0);
        g_usleep(2000);
    }
    rtp_wait last = {.p = &b, .seq = 2005, .video = true, .copies = 1};
    assert_true(wait_for(rtp_arrived, &last, WAIT_S));

    uint16_t want[2] = {2003, 2004};
    relay_video_nack(&b, want, 2);
    rtp_wait again = {.p = &b, .seq = 2003, .video = true, .copies = 2};
    assert_true(wait_for(rtp_arrived, &again, WAIT_S));
    g_usleep(100 * 1000); /* time for a wrong retransmission of 2004 to show up */
    g_mutex_lock(&lock);
    assert_int_equal(a.retransmit_asked, 2);
    assert_int_equal(a.retransmit_mindex, 1);
    assert_int_equal(count_rtp(&b, 2004, true), 1);
    const seen_packet *first = NULL, *second = NULL;
    video_copies(&b, 2003, &first, &second);
    assert_non_null(second);
    assert_int_equal(first->data->len, second->data->len);
    assert_memory_equal(first->data->data, second->data->data, first->data->len);
    g_mutex_unlock(&lock);
    odeon_pc_stats sa;
    odeon_pc_get_stats(a.pc, &sa);
    assert_int_equal(sa.retransmissions, 1);
    close_pair(&a, &b);
}

/* ---- simulcast ---- */

#define EXT_RID 10
#define EXT_RRID 11
static const uint32_t layer_ssrc[3] = {0x51000000u, 0x51000001u, 0x51000002u};
static const uint32_t layer_rtx[3] = {0x52000000u, 0x52000001u, 0x52000002u};
static const char *const layer_rid[3] = {"lo", "mid", "hi"};

/* The offer with its video m-line (the last) turned into a publisher's simulcast: no SSRC
 * lines and `extra` appended. */
static char *offer_with_video(const char *sdp, const char *extra)
{
    const char *video = strstr(sdp, "m=video");
    assert_non_null(video);
    GString *out = g_string_new_len(sdp, video - sdp);
    gchar **lines = g_strsplit(video, "\r\n", -1);
    for (gchar **l = lines; *l; l++)
        if (**l != '\0' && !g_str_has_prefix(*l, "a=ssrc"))
            g_string_append_printf(out, "%s\r\n", *l);
    g_strfreev(lines);
    g_string_append(out, extra);
    return g_string_free(out, FALSE);
}

static char *rid_simulcast_offer(const char *sdp)
{
    return offer_with_video(sdp, "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
                                 "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-"
                                 "stream-id\r\n"
                                 "a=rid:hi send\r\na=rid:lo send\r\na=rid:mid send\r\n"
                                 "a=simulcast:send lo;mid;hi\r\n");
}

static char *sim_group_offer(const char *sdp)
{
    GString *extra = g_string_new("a=ssrc-group:SIM");
    for (int k = 0; k < 3; k++)
        g_string_append_printf(extra, " %u", layer_ssrc[k]);
    g_string_append(extra, "\r\n");
    for (int k = 0; k < 3; k++)
        g_string_append_printf(extra, "a=ssrc-group:FID %u %u\r\n", layer_ssrc[k], layer_rtx[k]);
    for (int k = 0; k < 3; k++)
        g_string_append_printf(extra, "a=ssrc:%u cname:a\r\na=ssrc:%u cname:a\r\n",
                               layer_ssrc[k], layer_rtx[k]);
    char *out = offer_with_video(sdp, extra->str);
    g_string_free(extra, TRUE);
    return out;
}

/* Sends one raw RTP packet from A as a browser would, bypassing A's own SSRC rewriting: an
 * optional one-byte header extension (id, string value) and the seq-named payload, or for RTX
 * the original sequence number in front of it. */
static void inject_rtp(peer *a, uint32_t ssrc, uint8_t pt, uint16_t seq, uint8_t ext_id,
                       const char *ext_value, int rtx_of)
{
    uint8_t buf[1500] __attribute__((aligned(16)));
    memset(buf, 0, sizeof buf);
    buf[0] = ext_id ? 0x90 : 0x80;
    buf[1] = pt;
    uint16_t media_seq = rtx_of >= 0 ? (uint16_t)rtx_of : seq;
    odeon_put_be16(buf + 2, seq);
    odeon_put_be32(buf + 4, (uint32_t)media_seq * 3000u);
    odeon_put_be32(buf + 8, ssrc);
    size_t len = 12;
    if (ext_id) {
        size_t vlen = strlen(ext_value);
        size_t words = (1 + vlen + 3) / 4;
        odeon_put_be16(buf + 12, 0xBEDE);
        odeon_put_be16(buf + 14, (uint16_t)words);
        buf[16] = (uint8_t)(ext_id << 4 | (vlen - 1));
        memcpy(buf + 17, ext_value, vlen);
        len = 16 + words * 4;
    }
    if (rtx_of >= 0) {
        odeon_put_be16(buf + len, (uint16_t)rtx_of);
        len += 2;
    }
    for (size_t i = 0; i < 100; i++)
        buf[len + i] = (uint8_t)(media_seq + i);
    len += 100;
    g_mutex_lock(&a->pc->send_lock);
    assert_int_equal(odeon_srtp_protect_rtp(a->pc->srtp, buf, &len, sizeof buf), 0);
    assert_int_equal(pc_send_datagram(a->pc, buf, len), 0);
    g_mutex_unlock(&a->pc->send_lock);
}

typedef struct {
    peer *p;
    uint32_t ssrc;
    uint16_t seq;
    int copies;
} layer_wait;

static int count_layer_rtp(peer *p, uint32_t ssrc, uint16_t seq, const seen_packet **last)
{
    int n = 0;
    for (guint i = 0; i < p->rtp->len; i++) {
        seen_packet *s = g_ptr_array_index(p->rtp, i);
        odeon_rtp_view v;
        if (odeon_rtp_parse(s->data->data, s->data->len, &v) == 0 && v.ssrc == ssrc &&
            v.seq == seq) {
            n++;
            if (last)
                *last = s;
        }
    }
    return n;
}

static bool layer_arrived(void *arg)
{
    layer_wait *w = arg;
    return count_layer_rtp(w->p, w->ssrc, w->seq, NULL) >= w->copies;
}

typedef struct {
    peer *p;
    uint32_t ssrcs[3];
} remb_wait;

static bool remb_arrived(void *arg)
{
    remb_wait *w = arg;
    for (guint i = 0; i < w->p->rtcp->len; i++) {
        seen_packet *s = g_ptr_array_index(w->p->rtcp, i);
        odeon_rtcp_iter it;
        odeon_rtcp_header h;
        odeon_rtcp_remb r;
        odeon_rtcp_iter_init(&it, s->data->data, s->data->len);
        while (odeon_rtcp_iter_next(&it, &h) == 1) {
            if (h.pt != ODEON_RTCP_PSFB || odeon_rtcp_parse_remb(&h, &r) != 0)
                continue;
            int found = 0;
            for (int k = 0; k < 3; k++)
                for (unsigned j = 0; j < r.ssrc_count; j++)
                    found += odeon_rtcp_remb_ssrc(&r, j) == w->ssrcs[k];
            if (found == 3)
                return true;
        }
    }
    return false;
}

/* A publishes three layers (rid style: SSRCs learned from rtp-stream-id, RTX from
 * repaired-rtp-stream-id; SIM style: all signalled) on its video m-line. B hands each packet up
 * with the layer's index in A's simulcast list, NACKs a loss of layer 1 naming layer 1's SSRC,
 * unwraps layer 2's RTX onto layer 2's SSRC, and sends a PLI per layer and one REMB naming all
 * three. */
static void check_simulcast(bool by_rid)
{
    peer a, b;
    next_offer_edit = by_rid ? rid_simulcast_offer : sim_group_offer;
    next_answer_simulcast = by_rid;
    connect_pair(&a, &b, false, 10);
    next_offer_edit = NULL;
    next_answer_simulcast = false;

    for (uint16_t seq = 100; seq < 110; seq++) {
        for (int k = 0; k < 3; k++)
            if (k != 1 || seq != 105)
                inject_rtp(&a, layer_ssrc[k], 96, seq, by_rid ? EXT_RID : 0, layer_rid[k], -1);
        g_usleep(2000);
    }
    for (int k = 0; k < 3; k++) {
        layer_wait w = {.p = &b, .ssrc = layer_ssrc[k], .seq = 109, .copies = 1};
        assert_true(wait_for(layer_arrived, &w, WAIT_S));
    }
    g_mutex_lock(&lock);
    for (guint i = 0; i < b.rtp->len; i++) {
        seen_packet *s = g_ptr_array_index(b.rtp, i);
        odeon_rtp_view v;
        assert_int_equal(odeon_rtp_parse(s->data->data, s->data->len, &v), 0);
        assert_int_equal(s->mindex, 1);
        int k = 0;
        while (k < 3 && layer_ssrc[k] != v.ssrc)
            k++;
        assert_true(k < 3);
        assert_int_equal(s->substream, k);
    }
    assert_int_equal(count_layer_rtp(&b, layer_ssrc[1], 105, NULL), 0);
    g_mutex_unlock(&lock);

    /* The gap in layer 1 is NACKed about layer 1's SSRC. */
    nack_wait nw = {.p = &a, .ssrc = layer_ssrc[1], .lost = 105};
    assert_true(wait_for(nack_arrived, &nw, WAIT_S));

    /* Layer 2's RTX, named by repaired-rid only (or its signalled FID SSRC), comes up as
     * layer 2's packet 107, identical to the original. */
    inject_rtp(&a, layer_rtx[2], 97, 7000, by_rid ? EXT_RRID : 0, layer_rid[2], 107);
    layer_wait again = {.p = &b, .ssrc = layer_ssrc[2], .seq = 107, .copies = 2};
    assert_true(wait_for(layer_arrived, &again, WAIT_S));
    g_mutex_lock(&lock);
    const seen_packet *rtx = NULL;
    assert_int_equal(count_layer_rtp(&b, layer_ssrc[2], 107, &rtx), 2);
    assert_int_equal(rtx->substream, 2);
    odeon_rtp_view v;
    assert_int_equal(odeon_rtp_parse(rtx->data->data, rtx->data->len, &v), 0);
    assert_int_equal(v.payload_type, 96);
    assert_int_equal(v.timestamp, 107u * 3000u);
    assert_int_equal(v.payload_len, 100);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(rtx->data->data[v.payload_offset + i], (uint8_t)(107 + i));
    g_mutex_unlock(&lock);

    /* One keyframe request: a PLI for every layer. */
    assert_int_equal(odeon_pc_request_keyframe(b.pc, 1), 0);
    for (int k = 0; k < 3; k++) {
        pli_wait pw = {.p = &a, .media_ssrc = layer_ssrc[k]};
        assert_true(wait_for(pli_arrived, &pw, WAIT_S));
    }
    assert_int_equal(odeon_pc_send_remb(b.pc, 1000000), 0);
    remb_wait rw = {.p = &a, .ssrcs = {layer_ssrc[0], layer_ssrc[1], layer_ssrc[2]}};
    assert_true(wait_for(remb_arrived, &rw, WAIT_S));

    close_pair(&a, &b);
}

static void test_simulcast_rid(void **state)
{
    (void)state;
    check_simulcast(true);
}

static void test_simulcast_sim_group(void **state)
{
    (void)state;
    check_simulcast(false);
}

/* An unsignalled SSRC named by the mid extension belongs to that m-line even when its payload
 * type says otherwise (two m-lines may share payload types under BUNDLE). Not simulcast: the
 * plugin sees substream -1. */
static void test_mid_routing(void **state)
{
    (void)state;
    peer a, b;
    connect_pair(&a, &b, false, 10);
    inject_rtp(&a, 0x53000000u, 96, 42, 1 /* A's sdes:mid id */, "0", -1);
    layer_wait w = {.p = &b, .ssrc = 0x53000000u, .seq = 42, .copies = 1};
    assert_true(wait_for(layer_arrived, &w, WAIT_S));
    g_mutex_lock(&lock);
    const seen_packet *s = NULL;
    count_layer_rtp(&b, 0x53000000u, 42, &s);
    assert_int_equal(s->mindex, 0);
    assert_false(s->video);
    assert_int_equal(s->substream, -1);
    g_mutex_unlock(&lock);
    close_pair(&a, &b);
}

static void test_full_trickle(void **state)
{
    (void)state;
    peer a, b;
    connect_pair(&a, &b, true, 10);
    assert_true(wait_for(candidates_done, &a, WAIT_S));
    assert_true(wait_for(candidates_done, &b, WAIT_S));
    g_mutex_lock(&lock);
    assert_true(a.candidates > 0);
    assert_true(b.candidates > 0);
    assert_string_equal(a.candidate_mid, "0");
    assert_int_equal(a.candidate_mindex, 0);
    g_mutex_unlock(&lock);
    assert_int_equal(send_rtp(&a, 96, 1, 1, true), 0);
    rtp_wait w = {.p = &b, .seq = 1, .video = true, .copies = 1};
    assert_true(wait_for(rtp_arrived, &w, WAIT_S));
    close_pair(&a, &b);
}

static void test_consent_lost(void **state)
{
    (void)state;
    peer a, b;
    connect_pair(&a, &b, false, 2);
    gint64 start = g_get_monotonic_time();
    odeon_pc_close(a.pc);
    g_mutex_lock(&lock);
    a.closed = true;
    g_mutex_unlock(&lock);
    assert_true(wait_for(has_failed, &b, 2 + 5));
    gint64 took = g_get_monotonic_time() - start;
    g_mutex_lock(&lock);
    if (strcmp(b.failed, "ICE consent lost") != 0 && strcmp(b.failed, "DTLS alert") != 0)
        fail_msg("unexpected failure reason: %s", b.failed);
    assert_null(a.failed);
    assert_int_equal(a.after_close, 0);
    g_mutex_unlock(&lock);
    assert_true(took < 6 * G_TIME_SPAN_SECOND);
    odeon_pc_close(b.pc);
    g_mutex_lock(&lock);
    b.closed = true;
    g_mutex_unlock(&lock);
    peer_clear(&a);
    peer_clear(&b);
}

/* While packets flow, consent holds well past consent_timeout_s. */
static bool slowlink_seen(void *arg)
{
    return ((peer *)arg)->slowlink_uplink_lost >= 3;
}

/* Ten video packets lost in a row, with a threshold of 3 per second: B reports a slow uplink
 * (losses on what its peer sends it). */
static void test_slowlink(void **state)
{
    (void)state;
    peer a, b;
    next_slowlink_threshold = 3;
    connect_pair(&a, &b, false, 30);
    next_slowlink_threshold = 0;
    for (uint16_t seq = 2000; seq < 2100; seq++) {
        if (seq < 2010 || seq >= 2020)
            send_rtp(&a, 96, seq, 1, true);
        g_usleep(20000);
    }
    assert_true(wait_for(slowlink_seen, &b, WAIT_S));
    g_mutex_lock(&lock);
    assert_true(b.slowlink_uplink_lost >= 10);
    g_mutex_unlock(&lock);
    close_pair(&a, &b);
}

static void test_consent_kept_with_traffic(void **state)
{
    (void)state;
    peer a, b;
    connect_pair(&a, &b, false, 2);
    /* Keep traffic flowing for a while: no false alarm while packets arrive. */
    for (int i = 0; i < 150; i++) {
        send_rtp(&a, 111, (uint16_t)i, 0, false);
        send_rtp(&b, 111, (uint16_t)i, 0, false);
        g_usleep(20000);
    }
    g_mutex_lock(&lock);
    assert_null(a.failed);
    assert_null(b.failed);
    g_mutex_unlock(&lock);
    close_pair(&a, &b);
}

/* A connection where nobody sends media yet (a viewer waiting for a publisher) is alive:
 * ICE consent (STUN) still flows, so it must not be declared lost. */
static void test_consent_kept_idle(void **state)
{
    (void)state;
    peer a, b;
    connect_pair(&a, &b, false, 2);
    g_usleep(4 * G_USEC_PER_SEC);
    g_mutex_lock(&lock);
    char fa[64], fb[64];
    g_strlcpy(fa, a.failed ? a.failed : "", sizeof fa);
    g_strlcpy(fb, b.failed ? b.failed : "", sizeof fb);
    g_mutex_unlock(&lock);
    close_pair(&a, &b); /* first, so that a failure leaves nothing running */
    if (fa[0] != '\0' || fb[0] != '\0')
        fail_msg("idle but alive connection failed: A \"%s\", B \"%s\"", fa, fb);
}

/* An answer must have the m-lines of our offer (RFC 8829 5.3.1): one with fewer is refused
 * with a reason, not applied and left to fail later. */
static void test_answer_mline_count_checked(void **state)
{
    (void)state;
    odeon_pc_settings settings = test_settings(false, 10);
    peer a;
    peer_init(&a, "A");
    a.pc = odeon_pc_new(odeon_media_loops_pick(loops), &settings, &events, &a);
    odeon_pc_set_local(a.pc, make_offer(), true, local_done, &a);
    assert_true(wait_for(is_local_done, &a, WAIT_S));
    assert_non_null(a.local_sdp);
    /* The offer cut before its video m-line, answered, with some transport. */
    char *cut = g_strndup(a.local_sdp, (gsize)(strstr(a.local_sdp, "m=video") - a.local_sdp));
    odeon_sdp *audio_only = parse_text(cut);
    g_free(cut);
    odeon_jsep_answer_options o = {.audio = true, .video = true};
    odeon_sdp *answer = odeon_jsep_answer(audio_only, &o, NULL);
    odeon_sdp_free(audio_only);
    assert_non_null(answer);
    odeon_jsep_transport t = {.ufrag = "abcd", .pwd = "abcdefghijklmnopqrstuvwx",
                              .fingerprint_hash = "sha-256",
                              .fingerprint = odeon_dtls_identity_fingerprint(identity),
                              .setup = "active"};
    odeon_jsep_set_transport(answer, &t);
    assert_int_equal(answer->media_count, 1);
    char *error = NULL;
    int rc = odeon_pc_set_remote(a.pc, answer, false, &error);
    odeon_pc_close(a.pc);
    g_mutex_lock(&lock);
    a.closed = true;
    g_mutex_unlock(&lock);
    peer_clear(&a);
    if (rc == 0)
        fail_msg("an answer with 1 m-line to an offer with 2 was accepted");
    assert_int_equal(rc, ODEON_EINVAL);
    assert_non_null(error);
    g_free(error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media),
        cmocka_unit_test(test_external_retransmissions),
        cmocka_unit_test(test_full_trickle),
        cmocka_unit_test(test_simulcast_rid),
        cmocka_unit_test(test_simulcast_sim_group),
        cmocka_unit_test(test_mid_routing),
        cmocka_unit_test(test_slowlink),
        cmocka_unit_test(test_consent_lost),
        cmocka_unit_test(test_consent_kept_with_traffic),
        cmocka_unit_test(test_consent_kept_idle),
        cmocka_unit_test(test_answer_mline_count_checked),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
