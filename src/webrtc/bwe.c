/*
 * bwe.c - send-side bandwidth estimation (see bwe.h): sent-packet ring, acknowledged bitrate,
 * loss, inter-group delay variation, trendline filter, overuse detector, AIMD and loss-based
 * controllers. The constants and the shape of each stage follow draft-ietf-rmcat-gcc-02 and
 * libwebrtc's goog_cc (trendline_estimator.cc, aimd_rate_control.cc,
 * send_side_bandwidth_estimation.cc), simplified where noted.
 *
 * The ring keeps 8 bytes per packet, since a server holds one estimator per viewer: the low 32
 * bits of the send time (rebuilt against the newest send time, so valid for +/-35 minutes), the
 * 16-bit sequence number the slot holds (a slot answers only for that number) and the size with
 * the report state in its top two bits.
 *
 * Delay values inside the trendline filter are in milliseconds as doubles, as in the draft, so
 * its constants (threshold 6..600 ms, gains) read the same as there.
 */
#include "webrtc/bwe.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "webrtc/twcc.h"

#define RING_MASK (ODEON_BWE_HISTORY - 1)
_Static_assert((ODEON_BWE_HISTORY & RING_MASK) == 0, "ODEON_BWE_HISTORY is a power of two");

/* Slot state in the top two bits of size_state. */
#define SIZE_MASK 0x3fffu
#define ST_SHIFT 14
enum {
    ST_EMPTY = 0,
    ST_PENDING,
    ST_LOST,
    ST_RECEIVED
};

#define GROUP_US 5000         /* packets sent within 5 ms form one group */
#define CLOCK_JUMP_US 3000000 /* a delay variation this large is a clock jump: start over */
#define ACK_WINDOW_US 150000  /* acknowledged bitrate measured over >= 150 ms of arrivals */
#define ACK_GAP_US 1000000    /* a window this long spans an idle gap: no sample */
#define ACK_GAIN 0.3          /* EWMA weight of a new acknowledged bitrate sample */
#define TREND_WINDOW 20       /* groups in the linear regression */
#define TREND_SMOOTHING 0.9   /* of the accumulated delay */
#define TREND_GAIN 4.0        /* libwebrtc's threshold gain */
#define TREND_MAX_DELTAS 60   /* cap on the delta count multiplying the slope */
#define THRESH_INIT 12.5      /* ms */
#define THRESH_MIN 6.0
#define THRESH_MAX 600.0
#define THRESH_K_UP 0.0087
#define THRESH_K_DOWN 0.039
#define THRESH_OUTLIER 15.0 /* |m| beyond threshold + 15 does not move the threshold */
#define OVERUSE_TIME_MS 10.0
#define BETA 0.85           /* overuse: 0.85 x acknowledged bitrate */
#define INCREASE_PER_S 1.08 /* multiplicative increase, per second */
#define ACKED_HEADROOM 1.5  /* never above 1.5 x acknowledged + 100 kbit/s */
#define ACKED_SLACK_BPS 100000.0
#define CAP_ALPHA 0.05      /* link capacity EWMA (kbit/s) */
#define LOSS_MIN_PACKETS 20 /* a loss fraction needs this many reports */
#define LOSS_HIGH 0.10
#define LOSS_LOW 0.02
#define LOSS_DECREASE_US 300000 /* + rtt between two loss-based decreases */
#define LOSS_INCREASE 1.05      /* over the lowest estimate of the last LOSS_HISTORY_US */
#define LOSS_HISTORY_US 500000
#define HISTORY_SLOTS 16
#define HISTORY_MIN_GAP_US 25000
#define RTT_DEFAULT_US 200000

typedef struct sent_slot {
    uint32_t send_lo;
    uint16_t seq;
    uint16_t size_state;
} sent_slot;

typedef struct group {
    int64_t first_send_us, last_send_us, last_arrival_us;
    bool valid;
} group;

typedef struct trendline {
    double accumulated, smoothed; /* ms */
    double x[TREND_WINDOW], y[TREND_WINDOW];
    unsigned count, next;
    int64_t first_arrival_us;
    unsigned deltas;
    double prev_trend, threshold, time_over_using; /* ms; time_over_using < 0: not over */
    unsigned overuse_count;
    int64_t threshold_at_us; /* remote clock; INT64_MIN before the first update */
    odeon_bwe_state state;
} trendline;

enum {
    RC_HOLD,
    RC_INCREASE
};

typedef struct history_entry {
    int64_t at_us;
    double bps;
} history_entry;

struct odeon_bwe {
    double min_bps, max_bps;
    double delay_bps, loss_bps; /* the two controllers' estimates */
    int rc_phase;
    int64_t rc_changed_us, rc_decreased_us, loss_decreased_us;
    double cap_kbps, cap_var; /* link capacity at past overuses (mean, normalised variance) */
    bool cap_valid;

    double acked_bps;     /* 0: not measured yet */
    int64_t ack_start_us; /* remote clock */
    uint64_t ack_bytes;
    bool ack_open;

    unsigned loss_reported, loss_lost;
    double loss;
    bool loss_valid;
    history_entry history[HISTORY_SLOTS];
    unsigned history_count, history_next;

    int64_t rtt_us; /* 0: not measured */
    int64_t now_us, last_send_us;
    bool sent_any;
    uint16_t delay_seq; /* newest sequence number fed to the delay filter */
    bool delay_any;
    group cur, prev;
    trendline trend;

    double remb_bps;
    int64_t remb_at_us;
    bool remb_valid;

    uint64_t total_reported, total_lost;
    sent_slot ring[ODEON_BWE_HISTORY];
};

/* What one feedback packet says, gathered while walking it. */
typedef struct fb_summary {
    bool overuse; /* the detector said overusing at some group */
    bool have_newest;
    int64_t newest_send_us;
} fb_summary;

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void note_time(odeon_bwe *bwe, int64_t now_us)
{
    if (now_us > bwe->now_us)
        bwe->now_us = now_us;
}

static void trend_reset(trendline *t)
{
    *t = (trendline){
        .threshold = THRESH_INIT,
        .time_over_using = -1,
        .threshold_at_us = INT64_MIN,
        .state = ODEON_BWE_NORMAL,
    };
}

odeon_bwe *odeon_bwe_new(uint64_t start_bps, uint64_t min_bps, uint64_t max_bps)
{
    if (min_bps == 0 || min_bps > max_bps)
        return NULL;
    odeon_bwe *bwe = calloc(1, sizeof(*bwe));
    if (bwe == NULL)
        abort(); /* out of memory aborts, as glib does */
    bwe->min_bps = (double)min_bps;
    bwe->max_bps = (double)max_bps;
    bwe->delay_bps = clampd((double)start_bps, bwe->min_bps, bwe->max_bps);
    bwe->loss_bps = bwe->delay_bps;
    bwe->rc_phase = RC_INCREASE;
    bwe->rc_changed_us = bwe->rc_decreased_us = bwe->loss_decreased_us = INT64_MIN;
    bwe->now_us = INT64_MIN;
    trend_reset(&bwe->trend);
    return bwe;
}

void odeon_bwe_free(odeon_bwe *bwe)
{
    free(bwe);
}

/* ---- sent packets ------------------------------------------------------------------------ */

void odeon_bwe_on_sent(odeon_bwe *bwe, uint16_t twcc_seq, size_t bytes, int64_t send_us)
{
    if (bwe == NULL)
        return;
    note_time(bwe, send_us);
    /* The newest send time is the base the 32-bit stored times are rebuilt against; a slightly
     * older one (senders on another thread take their clock before the lock) is still fine. */
    if (!bwe->sent_any || send_us > bwe->last_send_us)
        bwe->last_send_us = send_us;
    bwe->sent_any = true;
    sent_slot *s = &bwe->ring[twcc_seq & RING_MASK];
    s->send_lo = (uint32_t)send_us;
    s->seq = twcc_seq;
    s->size_state = (uint16_t)((bytes > SIZE_MASK ? SIZE_MASK : bytes) | ST_PENDING << ST_SHIFT);
}

static unsigned slot_state(const sent_slot *s)
{
    return s->size_state >> ST_SHIFT;
}

static void slot_set_state(sent_slot *s, unsigned st)
{
    s->size_state = (uint16_t)((s->size_state & SIZE_MASK) | st << ST_SHIFT);
}

static int64_t slot_send_us(const odeon_bwe *bwe, const sent_slot *s)
{
    return bwe->last_send_us - (int32_t)((uint32_t)bwe->last_send_us - s->send_lo);
}

/* ---- acknowledged bitrate ---------------------------------------------------------------- */

/* Bytes that arrived over a window of at least ACK_WINDOW_US of remote time give one sample;
 * the packet that closes a window opens the next, so every byte is counted once. */
static void acked_add(odeon_bwe *bwe, size_t bytes, int64_t arrival_us)
{
    if (!bwe->ack_open || arrival_us < bwe->ack_start_us) {
        if (!bwe->ack_open) {
            bwe->ack_open = true;
            bwe->ack_start_us = arrival_us;
            bwe->ack_bytes = 0;
        }
        bwe->ack_bytes += bytes; /* reordered: counted in the current window */
        return;
    }
    int64_t span = arrival_us - bwe->ack_start_us;
    if (span < ACK_WINDOW_US) {
        bwe->ack_bytes += bytes;
        return;
    }
    if (span < ACK_GAP_US) {
        double sample = (double)bwe->ack_bytes * 8e6 / (double)span;
        bwe->acked_bps =
            bwe->acked_bps == 0 ? sample : bwe->acked_bps + ACK_GAIN * (sample - bwe->acked_bps);
    }
    bwe->ack_start_us = arrival_us;
    bwe->ack_bytes = bytes;
}

/* ---- delay gradient: groups, trendline, overuse detector --------------------------------- */

static double trend_slope(const trendline *t)
{
    double sx = 0, sy = 0;
    for (unsigned i = 0; i < t->count; i++) {
        sx += t->x[i];
        sy += t->y[i];
    }
    double mx = sx / t->count, my = sy / t->count, num = 0, den = 0;
    for (unsigned i = 0; i < t->count; i++) {
        num += (t->x[i] - mx) * (t->y[i] - my);
        den += (t->x[i] - mx) * (t->x[i] - mx);
    }
    return den == 0 ? t->prev_trend : num / den;
}

/* The threshold follows |m| slowly upwards and faster downwards, so a path with jittery
 * delays does not look congested forever and a competing TCP flow does not starve us
 * (draft-ietf-rmcat-gcc-02 §5.4). Outliers do not move it. */
static void threshold_update(trendline *t, double m, int64_t arrival_us)
{
    if (t->threshold_at_us == INT64_MIN)
        t->threshold_at_us = arrival_us;
    double am = fabs(m);
    if (am > t->threshold + THRESH_OUTLIER) {
        t->threshold_at_us = arrival_us;
        return;
    }
    double k = am < t->threshold ? THRESH_K_DOWN : THRESH_K_UP;
    double dt_ms = clampd((double)(arrival_us - t->threshold_at_us) / 1000.0, 0, 100);
    t->threshold = clampd(t->threshold + k * (am - t->threshold) * dt_ms, THRESH_MIN, THRESH_MAX);
    t->threshold_at_us = arrival_us;
}

/* Overuse needs the trend above the threshold for more than 10 ms and two groups, and not
 * falling: a single late group is jitter, not a queue. */
static void detect(trendline *t, double trend, double send_delta_ms, int64_t arrival_us)
{
    if (t->deltas < 2) {
        t->state = ODEON_BWE_NORMAL;
        return;
    }
    double n = t->deltas < TREND_MAX_DELTAS ? t->deltas : TREND_MAX_DELTAS;
    double m = n * trend * TREND_GAIN;
    if (m > t->threshold) {
        t->time_over_using =
            t->time_over_using < 0 ? send_delta_ms / 2 : t->time_over_using + send_delta_ms;
        t->overuse_count++;
        if (t->time_over_using > OVERUSE_TIME_MS && t->overuse_count > 1 &&
            trend >= t->prev_trend) {
            t->time_over_using = 0;
            t->overuse_count = 0;
            t->state = ODEON_BWE_OVERUSING;
        }
    } else {
        t->time_over_using = -1;
        t->overuse_count = 0;
        t->state = m < -t->threshold ? ODEON_BWE_UNDERUSING : ODEON_BWE_NORMAL;
    }
    t->prev_trend = trend;
    threshold_update(t, m, arrival_us);
}

static void trend_update(trendline *t, int64_t arrival_delta_us, int64_t send_delta_us,
                         int64_t arrival_us, fb_summary *sum)
{
    double delta_ms = (double)(arrival_delta_us - send_delta_us) / 1000.0;
    if (t->deltas < 1000)
        t->deltas++;
    t->accumulated += delta_ms;
    t->smoothed = TREND_SMOOTHING * t->smoothed + (1 - TREND_SMOOTHING) * t->accumulated;
    if (t->count == 0 && t->next == 0)
        t->first_arrival_us = arrival_us;
    t->x[t->next] = (double)(arrival_us - t->first_arrival_us) / 1000.0;
    t->y[t->next] = t->smoothed;
    t->next = (t->next + 1) % TREND_WINDOW;
    if (t->count < TREND_WINDOW)
        t->count++;
    double trend = t->count == TREND_WINDOW ? trend_slope(t) : t->prev_trend;
    detect(t, trend, (double)send_delta_us / 1000.0, arrival_us);
    if (t->state == ODEON_BWE_OVERUSING)
        sum->overuse = true;
}

/* Feeds one received packet, in send order, to the grouping. A group is complete when a
 * packet sent more than 5 ms after its first one comes; then its delay variation against the
 * previous group goes to the trendline filter. */
static void group_add(odeon_bwe *bwe, int64_t send_us, int64_t arrival_us, fb_summary *sum)
{
    group *g = &bwe->cur;
    if (g->valid && send_us - g->first_send_us <= GROUP_US) {
        if (send_us > g->last_send_us)
            g->last_send_us = send_us;
        if (arrival_us > g->last_arrival_us)
            g->last_arrival_us = arrival_us;
        return;
    }
    if (g->valid && bwe->prev.valid) {
        int64_t send_delta = g->last_send_us - bwe->prev.last_send_us;
        int64_t arrival_delta = g->last_arrival_us - bwe->prev.last_arrival_us;
        int64_t variation = arrival_delta - send_delta;
        if (variation > CLOCK_JUMP_US || variation < -CLOCK_JUMP_US) {
            trend_reset(&bwe->trend); /* the remote clock jumped, or we did */
        } else if (arrival_delta >= 0) {
            trend_update(&bwe->trend, arrival_delta, send_delta, g->last_arrival_us, sum);
        }
    }
    if (g->valid)
        bwe->prev = *g;
    *g = (group){send_us, send_us, arrival_us, true};
}

/* ---- feedback ---------------------------------------------------------------------------- */

static bool seq_newer(uint16_t a, uint16_t b)
{
    return (int16_t)(uint16_t)(a - b) > 0;
}

static void take_report(odeon_bwe *bwe, const odeon_twcc_status *st, fb_summary *sum)
{
    sent_slot *s = &bwe->ring[st->seq & RING_MASK];
    unsigned state = slot_state(s);
    if (state == ST_EMPTY || s->seq != st->seq || state == ST_RECEIVED)
        return; /* never sent, forgotten, or reported already */
    if (state == ST_PENDING) {
        bwe->loss_reported++;
        bwe->total_reported++;
    }
    if (!st->received) {
        if (state == ST_PENDING) {
            slot_set_state(s, ST_LOST);
            bwe->loss_lost++;
            bwe->total_lost++;
        }
        return;
    }
    slot_set_state(s, ST_RECEIVED);
    int64_t send_us = slot_send_us(bwe, s);
    acked_add(bwe, s->size_state & SIZE_MASK, st->arrival_us);
    if (!sum->have_newest || send_us > sum->newest_send_us) {
        sum->newest_send_us = send_us;
        sum->have_newest = true;
    }
    /* A packet reported lost before and received now is too late to place in a group. */
    if (bwe->delay_any && !seq_newer(st->seq, bwe->delay_seq))
        return;
    bwe->delay_seq = st->seq;
    bwe->delay_any = true;
    group_add(bwe, send_us, st->arrival_us, sum);
}

/* The time from sending the newest acknowledged packet to getting its feedback: the round
 * trip plus queueing plus the feedback interval, which is what the controllers must wait. */
static void rtt_update(odeon_bwe *bwe, const fb_summary *sum, int64_t now_us)
{
    if (!sum->have_newest || now_us < sum->newest_send_us)
        return;
    int64_t sample = now_us - sum->newest_send_us;
    bwe->rtt_us = bwe->rtt_us == 0 ? sample : (7 * bwe->rtt_us + sample) / 8;
}

/* ---- delay-based AIMD -------------------------------------------------------------------- */

/* The link capacity seen at overuse, in kbit/s, with a normalised variance: near it we
 * increase additively; an acknowledged bitrate well above it means the path changed. */
static void capacity_update(odeon_bwe *bwe, double acked_bps)
{
    double sample = acked_bps / 1000.0;
    if (!bwe->cap_valid) {
        bwe->cap_kbps = sample;
        bwe->cap_var = 0.4;
        bwe->cap_valid = true;
        return;
    }
    bwe->cap_kbps = (1 - CAP_ALPHA) * bwe->cap_kbps + CAP_ALPHA * sample;
    double norm = bwe->cap_kbps > 1 ? bwe->cap_kbps : 1;
    double err = bwe->cap_kbps - sample;
    bwe->cap_var = clampd((1 - CAP_ALPHA) * bwe->cap_var + CAP_ALPHA * err * err / norm, 0.4, 2.5);
}

static double capacity_upper_bps(const odeon_bwe *bwe)
{
    return (bwe->cap_kbps + 3 * sqrt(bwe->cap_var * bwe->cap_kbps)) * 1000.0;
}

/* About one packet per response time (rtt + 100 ms), at least 4 kbit/s per second. */
static double additive_increase(const odeon_bwe *bwe, double dt_s)
{
    double bits_per_frame = bwe->delay_bps / 30.0;
    double packets = ceil(bits_per_frame / (1200 * 8));
    double packet_bits = bits_per_frame / (packets > 0 ? packets : 1);
    double response_s = (double)(bwe->rtt_us ? bwe->rtt_us : RTT_DEFAULT_US) / 1e6 + 0.1;
    double rate = packet_bits / response_s;
    return (rate > 4000 ? rate : 4000) * dt_s;
}

static void rc_increase(odeon_bwe *bwe, int64_t now_us)
{
    double dt_s = bwe->rc_changed_us == INT64_MIN
                      ? 0
                      : clampd((double)(now_us - bwe->rc_changed_us) / 1e6, 0, 1);
    bwe->rc_changed_us = now_us;
    if (bwe->cap_valid && bwe->acked_bps > capacity_upper_bps(bwe))
        bwe->cap_valid = false; /* far above the old congestion point: search again */
    double inc = bwe->cap_valid ? additive_increase(bwe, dt_s)
                                : bwe->delay_bps * (pow(INCREASE_PER_S, dt_s) - 1);
    if (dt_s > 0 && inc < 1000)
        inc = 1000;
    double limit = ACKED_HEADROOM * bwe->acked_bps + ACKED_SLACK_BPS;
    double next = bwe->delay_bps + inc;
    if (next > limit)
        next = bwe->delay_bps > limit ? bwe->delay_bps : limit; /* never lowered here */
    bwe->delay_bps = clampd(next, bwe->min_bps, bwe->max_bps);
}

/* Once per reaction time (rtt within 10..200 ms), or at once when less than half of the
 * estimate gets through. */
static bool rc_may_decrease(const odeon_bwe *bwe, int64_t now_us)
{
    int64_t interval = clampd((double)(bwe->rtt_us ? bwe->rtt_us : RTT_DEFAULT_US), 10000, 200000);
    if (bwe->rc_decreased_us == INT64_MIN || now_us - bwe->rc_decreased_us >= interval)
        return true;
    return bwe->acked_bps < 0.5 * bwe->delay_bps;
}

static void rc_decrease(odeon_bwe *bwe, int64_t now_us)
{
    double target = BETA * bwe->acked_bps;
    if (target > bwe->delay_bps && bwe->cap_valid)
        target = BETA * bwe->cap_kbps * 1000.0;
    if (target < bwe->delay_bps)
        bwe->delay_bps = clampd(target, bwe->min_bps, bwe->max_bps);
    capacity_update(bwe, bwe->acked_bps);
    bwe->rc_phase = RC_HOLD;
    bwe->rc_changed_us = bwe->rc_decreased_us = now_us;
}

static void rate_control(odeon_bwe *bwe, const fb_summary *sum, int64_t now_us)
{
    if (bwe->acked_bps == 0)
        return; /* nothing measured to act on yet */
    odeon_bwe_state signal = sum->overuse ? ODEON_BWE_OVERUSING : bwe->trend.state;
    switch (signal) {
    case ODEON_BWE_OVERUSING:
        if (rc_may_decrease(bwe, now_us))
            rc_decrease(bwe, now_us);
        return;
    case ODEON_BWE_UNDERUSING:
        bwe->rc_phase = RC_HOLD; /* queues drain: let them before sending more */
        return;
    case ODEON_BWE_NORMAL:
        break;
    }
    if (bwe->rc_phase == RC_HOLD) {
        bwe->rc_phase = RC_INCREASE;
        bwe->rc_changed_us = now_us; /* the hold does not count as increase time */
    }
    rc_increase(bwe, now_us);
    /* What got through without queueing or loss is a capacity we have measured, as a probe
     * would: an application sending above the estimate need not wait for +8%/s to catch up. */
    if (bwe->loss_valid && bwe->loss < LOSS_LOW && bwe->acked_bps > bwe->delay_bps)
        bwe->delay_bps = clampd(bwe->acked_bps, bwe->min_bps, bwe->max_bps);
}

/* ---- loss-based -------------------------------------------------------------------------- */

static double own_estimate(const odeon_bwe *bwe)
{
    double e = bwe->delay_bps < bwe->loss_bps ? bwe->delay_bps : bwe->loss_bps;
    return clampd(e, bwe->min_bps, bwe->max_bps);
}

/* Lowest estimate of the last LOSS_HISTORY_US, kept in a small ring (one entry per 25 ms at
 * most, so 16 cover it). */
static void history_push(odeon_bwe *bwe, double bps, int64_t now_us)
{
    if (bwe->history_count > 0) {
        history_entry *last =
            &bwe->history[(bwe->history_next + HISTORY_SLOTS - 1) % HISTORY_SLOTS];
        if (now_us - last->at_us < HISTORY_MIN_GAP_US) {
            if (bps < last->bps)
                last->bps = bps;
            return;
        }
    }
    bwe->history[bwe->history_next] = (history_entry){now_us, bps};
    bwe->history_next = (bwe->history_next + 1) % HISTORY_SLOTS;
    if (bwe->history_count < HISTORY_SLOTS)
        bwe->history_count++;
}

static double history_min(const odeon_bwe *bwe, double fallback, int64_t now_us)
{
    double m = fallback;
    for (unsigned i = 0; i < bwe->history_count; i++)
        if (now_us - bwe->history[i].at_us <= LOSS_HISTORY_US && bwe->history[i].bps < m)
            m = bwe->history[i].bps;
    return m;
}

/* Over 10% lost: cut by half the loss (once per 300 ms + rtt, as one congestion episode shows
 * in several feedbacks), but not below 0.85 x what still gets through. A sender that follows
 * the estimate never meets that floor (it gets est x (1 - loss) through); one that cannot (a
 * forwarded stream waiting for a keyframe to switch layers) would otherwise drive the estimate
 * to the minimum while the path still carries its acknowledged bitrate. Under 2%: allow 5% over the
 * lowest estimate of the last 500 ms, about 10%/s, quicker than the delay-based +8%/s so it does
 * not hold back a loss-free ramp-up, slow enough not to jump straight back into the loss. In
 * between: hold. */
static void loss_control(odeon_bwe *bwe, int64_t now_us)
{
    if (bwe->loss_reported < LOSS_MIN_PACKETS)
        return;
    bwe->loss = (double)bwe->loss_lost / bwe->loss_reported;
    bwe->loss_valid = true;
    bwe->loss_reported = bwe->loss_lost = 0;
    double current = own_estimate(bwe);
    if (bwe->loss > LOSS_HIGH) {
        int64_t wait = LOSS_DECREASE_US + bwe->rtt_us;
        if (bwe->loss_decreased_us == INT64_MIN || now_us - bwe->loss_decreased_us >= wait) {
            double cut = current * (1 - 0.5 * bwe->loss), floor = BETA * bwe->acked_bps;
            if (floor > current)
                floor = current; /* the floor holds; it never raises */
            bwe->loss_bps = cut > floor ? cut : floor;
            bwe->loss_decreased_us = now_us;
        }
    } else if (bwe->loss < LOSS_LOW) {
        bwe->loss_bps = LOSS_INCREASE * history_min(bwe, current, now_us);
        if (bwe->acked_bps > bwe->loss_bps)
            bwe->loss_bps = bwe->acked_bps; /* measured, as in rate_control */
    }
    bwe->loss_bps = clampd(bwe->loss_bps, bwe->min_bps, bwe->max_bps);
}

int odeon_bwe_on_feedback(odeon_bwe *bwe, const odeon_rtcp_twcc *fb, int64_t now_us)
{
    odeon_twcc_iter it;
    if (bwe == NULL || fb == NULL || odeon_twcc_iter_init(&it, fb) != 0)
        return ODEON_EINVAL;
    note_time(bwe, now_us);
    fb_summary sum = {0};
    odeon_twcc_status st;
    while (odeon_twcc_iter_next(&it, &st) == 1)
        take_report(bwe, &st, &sum);
    rtt_update(bwe, &sum, now_us);
    rate_control(bwe, &sum, now_us);
    loss_control(bwe, now_us);
    history_push(bwe, own_estimate(bwe), now_us);
    return 0;
}

/* ---- REMB and results -------------------------------------------------------------------- */

void odeon_bwe_on_remb(odeon_bwe *bwe, uint64_t bps, int64_t now_us)
{
    if (bwe == NULL)
        return;
    note_time(bwe, now_us);
    bwe->remb_bps = (double)bps;
    bwe->remb_at_us = now_us;
    bwe->remb_valid = true;
}

static bool remb_fresh(const odeon_bwe *bwe)
{
    return bwe->remb_valid && bwe->now_us - bwe->remb_at_us < ODEON_BWE_REMB_FRESH_US;
}

uint64_t odeon_bwe_estimate(const odeon_bwe *bwe)
{
    if (bwe == NULL)
        return 0;
    double e = own_estimate(bwe);
    if (remb_fresh(bwe) && bwe->remb_bps < e)
        e = clampd(bwe->remb_bps, bwe->min_bps, bwe->max_bps);
    return (uint64_t)e;
}

void odeon_bwe_stats_get(const odeon_bwe *bwe, odeon_bwe_stats *out)
{
    if (bwe == NULL || out == NULL)
        return;
    *out = (odeon_bwe_stats){
        .estimate_bps = odeon_bwe_estimate(bwe),
        .delay_based_bps = (uint64_t)bwe->delay_bps,
        .loss_based_bps = (uint64_t)bwe->loss_bps,
        .acked_bps = (uint64_t)bwe->acked_bps,
        .remb_bps = remb_fresh(bwe) ? (uint64_t)bwe->remb_bps : 0,
        .loss = bwe->loss,
        .rtt_us = bwe->rtt_us,
        .state = bwe->trend.state,
        .packets_reported = bwe->total_reported,
        .packets_lost = bwe->total_lost,
    };
}

const char *odeon_bwe_state_name(odeon_bwe_state state)
{
    switch (state) {
    case ODEON_BWE_NORMAL:
        return "normal";
    case ODEON_BWE_OVERUSING:
        return "overusing";
    case ODEON_BWE_UNDERUSING:
        return "underusing";
    }
    return "unknown";
}
