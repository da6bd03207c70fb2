/*
 * tickets_stripe.c - Stripe for the tickets plugin (see tickets_stripe.h): Connect OAuth code
 * exchange and Checkout Session creation as blocking libcurl requests with form-encoded bodies
 * and JSON replies, and the HMAC-SHA256 check of webhook signatures.
 *
 * Neighbours: the plugin's payment handlers call these from its worker thread; the webhook
 * route calls tickets_stripe_verify_signature before it trusts a single byte of the body.
 * tests/fakes/stripe.mjs speaks the same subset of the API for the integration tests.
 *
 * Secrets: the secret key only ever goes into the Authorization header. Error strings are
 * built from Stripe's own messages or curl's, and every one passes through redact() on its
 * way out in case a proxy or a future message echoes a key back.
 */
#include "tickets_stripe.h"

#include <string.h>

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define REPLY_MAX (1 << 20) /* Stripe's replies are a few KiB; more is not Stripe */
#define DEFAULT_TIMEOUT_MS 15000L
#define SIG_HEX_LEN 64       /* hex HMAC-SHA256 */
#define TIMESTAMP_DIGITS 15  /* far beyond any plausible unix time, far below int64 overflow */
#define HEADER_VALUE_MAX 255 /* Stripe-Account, Idempotency-Key */

static bool nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

bool tickets_stripe_configured(const tickets_stripe_config *cfg)
{
    return cfg != NULL && nonempty(cfg->secret_key) && nonempty(cfg->client_id);
}

/* ---- small helpers ---- */

/* A value that may go into an HTTP header as is: visible ASCII, no space, no CR/LF. */
static bool header_safe(const char *s)
{
    if (!nonempty(s) || strlen(s) > HEADER_VALUE_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return false;
    return true;
}

/* Replaces every occurrence of secret in msg (taken) with "[redacted]". */
static char *redact_one(char *msg, const char *secret)
{
    if (!nonempty(secret) || strstr(msg, secret) == NULL)
        return msg;
    char **parts = g_strsplit(msg, secret, -1);
    char *out = g_strjoinv("[redacted]", parts);
    g_strfreev(parts);
    g_free(msg);
    return out;
}

/* Every error string leaves this file through here (takes msg, returns the safe one). */
static char *redact(const tickets_stripe_config *cfg, char *msg)
{
    msg = redact_one(msg, cfg->secret_key);
    return redact_one(msg, cfg->webhook_secret);
}

/* Appends "key=value" (both percent-encoded) to a form body. */
static void form_add(GString *form, CURL *curl, const char *key, const char *value)
{
    char *k = curl_easy_escape(curl, key, 0);
    char *v = curl_easy_escape(curl, value ? value : "", 0);
    g_assert(k != NULL && v != NULL); /* only fails on out-of-memory */
    if (form->len > 0)
        g_string_append_c(form, '&');
    g_string_append_printf(form, "%s=%s", k, v);
    curl_free(k);
    curl_free(v);
}

static void form_add_int(GString *form, CURL *curl, const char *key, long long value)
{
    char buf[32];
    g_snprintf(buf, sizeof buf, "%lld", value);
    form_add(form, curl, key, buf);
}

/* ---- one request ---- */

typedef struct stripe_reply {
    long status;    /* HTTP status; 0 when no answer came */
    json_t *json;   /* the body when it is JSON, else NULL */
    GString *body;  /* raw body while receiving */
    char *error;    /* when status is 0: why (not yet redacted) */
    bool too_large; /* the body passed REPLY_MAX and was cut */
} stripe_reply;

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    stripe_reply *r = user;
    if (r->body->len + size * n > REPLY_MAX) {
        r->too_large = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    g_string_append_len(r->body, data, (gssize)(size * n));
    return size * n;
}

static struct curl_slist *auth_headers(const tickets_stripe_config *cfg)
{
    char *bearer = g_strconcat("Authorization: Bearer ", cfg->secret_key, NULL);
    struct curl_slist *h = curl_slist_append(NULL, bearer);
    g_free(bearer);
    h = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded");
    /* Without this curl sends "Expect: 100-continue" for larger bodies and waits for it. */
    return curl_slist_append(h, "Expect:");
}

/* POSTs form to url; fills r (status 0 and r->error when there was no HTTP answer). Borrows
 * everything; the caller frees r with reply_clear. */
static void post_form(const tickets_stripe_config *cfg, CURL *curl, const char *url,
                      struct curl_slist *headers, const char *form, stripe_reply *r)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    r->body = g_string_new(NULL);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* worker threads: no SIGALRM for DNS */
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    /* A base URL from the config can only ever mean HTTP(S), never file:// or the like. */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        const char *why = r->too_large ? "reply too large"
                          : errbuf[0]  ? errbuf
                                       : curl_easy_strerror(rc);
        r->error = g_strdup_printf("Stripe unreachable: %s", why);
        return;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    r->json = json_loadb(r->body->str, r->body->len, 0, NULL);
}

static void reply_clear(stripe_reply *r)
{
    if (r->body)
        g_string_free(r->body, TRUE);
    json_decref(r->json);
    g_free(r->error);
}

/* A message for a reply that is not a success: Stripe's own words when it gave some. Covers
 * the API shape {"error":{"type","message"}} and the OAuth one {"error","error_description"}. */
static char *reply_error(const stripe_reply *r)
{
    if (r->status == 0)
        return g_strdup(r->error);
    json_t *err = json_object_get(r->json, "error");
    const char *msg = NULL, *kind = NULL;
    if (json_is_object(err)) {
        msg = json_string_value(json_object_get(err, "message"));
        kind = json_string_value(json_object_get(err, "type"));
    } else if (json_is_string(err)) {
        kind = json_string_value(err);
        msg = json_string_value(json_object_get(r->json, "error_description"));
    }
    if (msg != NULL)
        return g_strdup_printf("Stripe: %s", msg);
    if (kind != NULL)
        return g_strdup_printf("Stripe: %s (HTTP %ld)", kind, r->status);
    return g_strdup_printf("Stripe answered HTTP %ld", r->status);
}

static bool is_success(const stripe_reply *r)
{
    return r->status >= 200 && r->status < 300 && json_is_object(r->json);
}

/* The secret key goes into a header: refuse one that would break it (without quoting it). */
static bool ready(const tickets_stripe_config *cfg, char **error)
{
    if (!tickets_stripe_configured(cfg)) {
        *error = g_strdup("Stripe is not configured");
        return false;
    }
    if (!header_safe(cfg->secret_key)) {
        *error = g_strdup("Stripe secret_key is malformed");
        return false;
    }
    return true;
}

static const char *base_or(const char *base, const char *fallback)
{
    return nonempty(base) ? base : fallback;
}

/* ---- Connect OAuth ---- */

char *tickets_stripe_authorize_url(const tickets_stripe_config *cfg, const char *state,
                                   const char *redirect_uri)
{
    /* g_uri_escape_string with no reserved characters allowed leaves exactly the unreserved
     * set (ALPHA DIGIT - . _ ~) as is, like curl_easy_escape, without needing a handle. */
    char *id = g_uri_escape_string(cfg->client_id ? cfg->client_id : "", NULL, FALSE);
    char *st = g_uri_escape_string(state ? state : "", NULL, FALSE);
    char *ru = g_uri_escape_string(redirect_uri ? redirect_uri : "", NULL, FALSE);
    char *url =
        g_strdup_printf("%s/oauth/authorize?response_type=code&client_id=%s"
                        "&scope=read_write&state=%s&redirect_uri=%s",
                        base_or(cfg->connect_base, "https://connect.stripe.com"), id, st, ru);
    g_free(id);
    g_free(st);
    g_free(ru);
    return url;
}

int tickets_stripe_oauth_token(const tickets_stripe_config *cfg, const char *code,
                               char **account_id, char **error)
{
    *account_id = NULL;
    *error = NULL;
    if (!ready(cfg, error))
        return -1;
    if (!nonempty(code)) {
        *error = g_strdup("missing authorization code");
        return -1;
    }
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        *error = g_strdup("Stripe unreachable: curl_easy_init failed");
        return -1;
    }
    GString *form = g_string_new(NULL);
    form_add(form, curl, "grant_type", "authorization_code");
    form_add(form, curl, "code", code);
    char *url =
        g_strconcat(base_or(cfg->connect_base, "https://connect.stripe.com"), "/oauth/token", NULL);
    struct curl_slist *headers = auth_headers(cfg);
    stripe_reply r = {0};
    post_form(cfg, curl, url, headers, form->str, &r);

    const char *acct = json_string_value(json_object_get(r.json, "stripe_user_id"));
    int ret = 0;
    if (is_success(&r) && acct != NULL && g_str_has_prefix(acct, "acct_")) {
        *account_id = g_strdup(acct);
    } else {
        *error = redact(cfg, is_success(&r) ? g_strdup("Stripe: no account id in the reply")
                                            : reply_error(&r));
        ret = -1;
    }
    reply_clear(&r);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    g_free(url);
    g_string_free(form, TRUE);
    return ret;
}

/* ---- Checkout Sessions ---- */

static bool currency_ok(const char *c)
{
    return c != NULL && strlen(c) == 3 && g_ascii_islower(c[0]) && g_ascii_islower(c[1]) &&
           g_ascii_islower(c[2]);
}

/* Static text naming what is wrong with req, or NULL when it can be sent. */
static const char *checkout_invalid(const tickets_checkout_request *req)
{
    if (!header_safe(req->account_id))
        return "invalid checkout request: account_id";
    if (!header_safe(req->idempotency_key))
        return "invalid checkout request: idempotency_key";
    if (!nonempty(req->order_id) || !nonempty(req->event_id))
        return "invalid checkout request: order_id and event_id are required";
    if (!nonempty(req->product_name))
        return "invalid checkout request: product_name";
    if (req->unit_amount <= 0)
        return "invalid checkout request: unit_amount must be positive";
    if (!currency_ok(req->currency))
        return "invalid checkout request: currency must be 3 lower-case letters";
    if (!nonempty(req->success_url) || !nonempty(req->cancel_url))
        return "invalid checkout request: success_url and cancel_url are required";
    return NULL;
}

static void checkout_form(GString *form, CURL *curl, const tickets_checkout_request *req)
{
    form_add(form, curl, "mode", "payment");
    form_add(form, curl, "line_items[0][quantity]", "1");
    form_add(form, curl, "line_items[0][price_data][currency]", req->currency);
    form_add_int(form, curl, "line_items[0][price_data][unit_amount]", req->unit_amount);
    form_add(form, curl, "line_items[0][price_data][product_data][name]", req->product_name);
    form_add(form, curl, "success_url", req->success_url);
    form_add(form, curl, "cancel_url", req->cancel_url);
    form_add(form, curl, "client_reference_id", req->order_id);
    form_add(form, curl, "metadata[order_id]", req->order_id);
    form_add(form, curl, "metadata[event_id]", req->event_id);
    if (nonempty(req->customer_email))
        form_add(form, curl, "customer_email", req->customer_email);
    if (req->expires_at > 0)
        form_add_int(form, curl, "expires_at", (long long)req->expires_at);
}

static struct curl_slist *checkout_headers(const tickets_stripe_config *cfg,
                                           const tickets_checkout_request *req)
{
    struct curl_slist *h = auth_headers(cfg);
    char *acct = g_strconcat("Stripe-Account: ", req->account_id, NULL);
    char *idem = g_strconcat("Idempotency-Key: ", req->idempotency_key, NULL);
    h = curl_slist_append(h, acct);
    h = curl_slist_append(h, idem);
    g_free(acct);
    g_free(idem);
    return h;
}

int tickets_stripe_create_checkout(const tickets_stripe_config *cfg,
                                   const tickets_checkout_request *req, char **session_id,
                                   char **url, char **error)
{
    *session_id = *url = *error = NULL;
    if (!ready(cfg, error))
        return -1;
    const char *invalid = checkout_invalid(req);
    if (invalid != NULL) {
        *error = g_strdup(invalid);
        return -1;
    }
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        *error = g_strdup("Stripe unreachable: curl_easy_init failed");
        return -1;
    }
    GString *form = g_string_new(NULL);
    checkout_form(form, curl, req);
    char *endpoint = g_strconcat(base_or(cfg->api_base, "https://api.stripe.com"),
                                 "/v1/checkout/sessions", NULL);
    struct curl_slist *headers = checkout_headers(cfg, req);
    stripe_reply r = {0};
    post_form(cfg, curl, endpoint, headers, form->str, &r);

    const char *id = json_string_value(json_object_get(r.json, "id"));
    const char *page = json_string_value(json_object_get(r.json, "url"));
    int ret = 0;
    if (is_success(&r) && id != NULL && page != NULL) {
        *session_id = g_strdup(id);
        *url = g_strdup(page);
    } else {
        *error = redact(cfg, is_success(&r) ? g_strdup("Stripe: no session id or url in the reply")
                                            : reply_error(&r));
        ret = -1;
    }
    reply_clear(&r);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    g_free(endpoint);
    g_string_free(form, TRUE);
    return ret;
}

/* ---- webhook signatures ---- */

static void to_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

/* HMAC-SHA256(secret, t "." body) as 64 lower-case hex digits. t is the header's text as is:
 * Stripe signs the digits it sent, so they are not reparsed and reprinted. */
static void expected_sig(const char *secret, const char *t, size_t tlen, const uint8_t *body,
                         size_t len, char out[SIG_HEX_LEN + 1])
{
    size_t n = tlen + 1 + len;
    uint8_t *payload = g_malloc(n);
    memcpy(payload, t, tlen);
    payload[tlen] = '.';
    if (len > 0)
        memcpy(payload + tlen + 1, body, len);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), payload, n, mac, &mac_len);
    g_assert(mac_len == SIG_HEX_LEN / 2);
    to_hex(mac, mac_len, out);
    g_free(payload);
}

char *tickets_stripe_sign(const char *secret, int64_t t, const uint8_t *body, size_t len)
{
    char ts[32], sig[SIG_HEX_LEN + 1];
    int tlen = g_snprintf(ts, sizeof ts, "%" G_GINT64_FORMAT, t);
    expected_sig(secret, ts, (size_t)tlen, body, len, sig);
    return g_strdup_printf("t=%s,v1=%s", ts, sig);
}

/* What the header says: where t's digits are and its value; whether a v1 appeared. */
typedef struct sig_header {
    const char *t;
    size_t tlen;
    int64_t t_value;
    bool has_v1;
} sig_header;

static bool parse_timestamp(const char *v, size_t len, int64_t *out)
{
    if (len == 0 || len > TIMESTAMP_DIGITS)
        return false;
    int64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (!g_ascii_isdigit(v[i]))
            return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

/* One pass over "k=v,k=v,...": takes t (exactly once), notes v1s; other keys (v0, future
 * schemes) are ignored as Stripe documents. NULL, or a static reason. */
static const char *parse_header(const char *header, sig_header *h)
{
    memset(h, 0, sizeof *h);
    bool has_t = false;
    for (const char *item = header; *item;) {
        const char *end = strchr(item, ',');
        size_t len = end ? (size_t)(end - item) : strlen(item);
        const char *eq = memchr(item, '=', len);
        if (eq == NULL || eq == item)
            return "malformed signature header";
        size_t klen = (size_t)(eq - item), vlen = len - klen - 1;
        if (klen == 1 && item[0] == 't') {
            if (has_t || !parse_timestamp(eq + 1, vlen, &h->t_value))
                return "malformed signature timestamp";
            has_t = true;
            h->t = eq + 1;
            h->tlen = vlen;
        } else if (klen == 2 && item[0] == 'v' && item[1] == '1') {
            h->has_v1 = true;
        }
        item = end ? end + 1 : item + len;
    }
    if (!has_t)
        return "no timestamp in signature header";
    if (!h->has_v1)
        return "no v1 signature in signature header";
    return NULL;
}

/* True when some v1 in header equals expected (constant time per candidate). */
static bool some_v1_matches(const char *header, const char *expected)
{
    bool match = false;
    for (const char *item = header; *item;) {
        const char *end = strchr(item, ',');
        size_t len = end ? (size_t)(end - item) : strlen(item);
        if (len == 3 + SIG_HEX_LEN && strncmp(item, "v1=", 3) == 0) {
            /* Stripe sends lower-case hex; compare the text, so upper-case simply fails. */
            if (CRYPTO_memcmp(item + 3, expected, SIG_HEX_LEN) == 0)
                match = true;
        }
        item = end ? end + 1 : item + len;
    }
    return match;
}

static uint64_t distance(int64_t a, int64_t b)
{
    /* Unsigned arithmetic: well defined for any pair, exact for every int64 pair. */
    return a > b ? (uint64_t)a - (uint64_t)b : (uint64_t)b - (uint64_t)a;
}

int tickets_stripe_verify_signature(const char *secret, const char *header, const uint8_t *body,
                                    size_t len, int64_t now, int64_t tolerance_s,
                                    const char **reason)
{
    const char *why = NULL;
    sig_header h;
    if (!nonempty(secret))
        why = "no webhook secret configured";
    else if (!nonempty(header))
        why = "missing Stripe-Signature header";
    else if (body == NULL && len > 0)
        why = "missing body";
    else
        why = parse_header(header, &h);
    if (why == NULL) {
        char expected[SIG_HEX_LEN + 1];
        expected_sig(secret, h.t, h.tlen, body, len, expected);
        if (!some_v1_matches(header, expected))
            why = "signature mismatch";
        else if (tolerance_s < 0 || distance(now, h.t_value) > (uint64_t)tolerance_s)
            why = "timestamp outside the tolerance";
    }
    if (reason != NULL)
        *reason = why;
    return why == NULL ? 0 : -1;
}
