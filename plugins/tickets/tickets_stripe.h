/*
 * tickets_stripe.h - the parts of Stripe's HTTP API that the tickets plugin uses, over
 * libcurl: Connect OAuth (an organiser links their Stripe account), Checkout Sessions created
 * on the organiser's account (a direct charge: 100% of the price goes to them, no application
 * fee), and the verification of webhook signatures.
 *
 * The HTTP calls block (timeouts from the config): run them on a worker thread, never on a
 * transport or media thread. They use curl_easy_init, which initialises libcurl on first use
 * without a lock in older versions: the plugin calls curl_global_init once in its init.
 * Signature verification is pure and fuzzed (tests/fuzz/fuzz_stripe_sig.c).
 *
 * Secrets (secret_key, webhook_secret) never reach a log line or an error string.
 */
#ifndef ODEON_TICKETS_STRIPE_H
#define ODEON_TICKETS_STRIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Borrowed by every call; owned by the plugin's config. */
typedef struct tickets_stripe_config {
    const char *secret_key;     /* sk_...: the platform's key (Authorization: Bearer) */
    const char *client_id;      /* ca_...: the platform's Connect client id */
    const char *webhook_secret; /* whsec_...: the endpoint's signing secret */
    const char *api_base;       /* "https://api.stripe.com" (a fake's URL in tests) */
    const char *connect_base;   /* "https://connect.stripe.com" */
    long timeout_ms;            /* per request, connect included */
} tickets_stripe_config;

/* True when secret_key and client_id are set (paid tickets possible). */
bool tickets_stripe_configured(const tickets_stripe_config *cfg);

/* The Connect OAuth authorize URL (connect_base/oauth/authorize?response_type=code&client_id=
 * &scope=read_write&state=&redirect_uri=), every value URL-encoded. g_free it. */
char *tickets_stripe_authorize_url(const tickets_stripe_config *cfg, const char *state,
                                   const char *redirect_uri);

/* Exchanges an OAuth code (POST connect_base/oauth/token, grant_type=authorization_code) for
 * the connected account's id (stripe_user_id, "acct_..."). 0 with *account_id, or -1 with
 * *error (a message safe to show the user and log). g_free both. */
int tickets_stripe_oauth_token(const tickets_stripe_config *cfg, const char *code,
                               char **account_id, char **error);

typedef struct tickets_checkout_request {
    const char *account_id;     /* Stripe-Account header: the organiser's account */
    const char *order_id;       /* client_reference_id and metadata[order_id] */
    const char *event_id;       /* metadata[event_id] */
    const char *product_name;   /* line_items[0][price_data][product_data][name] */
    long long unit_amount;      /* minor units, > 0 */
    const char *currency;       /* lower-case ISO 4217 */
    const char *customer_email; /* prefilled and locked on the page */
    const char *success_url;    /* may contain {CHECKOUT_SESSION_ID} */
    const char *cancel_url;
    int64_t expires_at;          /* unix seconds, 30 min to 24 h ahead (see below); 0: 24 h */
    const char *idempotency_key; /* Idempotency-Key header: a retry creates nothing new */
} tickets_checkout_request;

/* POST api_base/v1/checkout/sessions (mode=payment, one line item, quantity 1). Stripe counts
 * expires_at's 30 minutes from its own clock when the request lands: ask for a minute more.
 * Idempotency: Stripe replays the first answer only to the same key with the same body, so a
 * retry must send the same expires_at (or a new key). 0 with *session_id ("cs_...") and *url,
 * or -1 with *error. g_free all three. */
int tickets_stripe_create_checkout(const tickets_stripe_config *cfg,
                                   const tickets_checkout_request *req, char **session_id,
                                   char **url, char **error);

/* Checks a webhook's Stripe-Signature header ("t=<unix>,v1=<hex>[,v1=...][,v0=...]") against
 * the raw body: some v1 must equal HMAC-SHA256(secret, "<t>.<body>") (compared in constant
 * time) and |now - t| <= tolerance_s (Stripe's libraries use 300). Exactly one t; other keys
 * (v0, future schemes) are ignored; no spaces. 0, or -1 with *reason (static text; reason may
 * be NULL). Error strings of the other calls never contain secret_key or webhook_secret. */
int tickets_stripe_verify_signature(const char *secret, const char *header, const uint8_t *body,
                                    size_t len, int64_t now, int64_t tolerance_s,
                                    const char **reason);

/* The header value Stripe would send for body at time t (tests, and the fakes' reference). */
char *tickets_stripe_sign(const char *secret, int64_t t, const uint8_t *body, size_t len);

#endif
