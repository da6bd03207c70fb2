/*
 * test_tickets_stripe.c - the tickets plugin's Stripe client (plugins/tickets/tickets_stripe.c):
 * webhook signatures (a reference vector, good, wrong secret, tampered body, too old and too
 * new, several v1 with one good, unknown keys ignored, malformed headers), the authorize URL's
 * escaping, configured(), and the two HTTP calls against a one-shot HTTP responder run in a
 * thread of this test: the request they send (headers, form encoding) and how they read
 * successes, Stripe's two error shapes, non-JSON replies and an unreachable server, with the
 * secret key never in an error string.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "tickets_stripe.h"

#define SECRET "whsec_test_secret"
#define SK "sk_test_abc123"
#define NOW 1492774577
#define TOLERANCE 300

/* ---------------------------------------------------------------- signatures */

static int verify(const char *secret, const char *header, const char *body, int64_t now,
                  const char **reason)
{
    return tickets_stripe_verify_signature(secret, header, (const uint8_t *)body, strlen(body), now,
                                           TOLERANCE, reason);
}

static char *sign(const char *secret, int64_t t, const char *body)
{
    return tickets_stripe_sign(secret, t, (const uint8_t *)body, strlen(body));
}

/* Computed independently (Python's hmac module) for these inputs. */
static void test_sign_matches_reference_vector(void **state)
{
    (void)state;
    char *h = sign(SECRET, NOW, "{\"id\":\"evt_1\"}");
    assert_string_equal(
        h, "t=1492774577,v1=799c4ba7bb339f3c8601adfd112f0e477c930a268be1243d341abb8286501c2f");
    g_free(h);
}

static void test_good_signature_accepted(void **state)
{
    (void)state;
    const char *body = "{\"type\":\"checkout.session.completed\"}";
    char *h = sign(SECRET, NOW, body);
    const char *reason = "unset";
    assert_int_equal(verify(SECRET, h, body, NOW, &reason), 0);
    assert_null(reason);
    /* Binary bodies (NUL bytes) are signed and checked as bytes, not as strings. */
    const uint8_t bin[] = {'{', 0, '}', 0xff};
    char *hb = tickets_stripe_sign(SECRET, NOW, bin, sizeof bin);
    assert_int_equal(
        tickets_stripe_verify_signature(SECRET, hb, bin, sizeof bin, NOW, TOLERANCE, &reason), 0);
    assert_int_equal(tickets_stripe_verify_signature(SECRET, hb, bin, 2, NOW, TOLERANCE, &reason),
                     -1);
    /* An empty body is a body like any other. */
    char *he = tickets_stripe_sign(SECRET, NOW, NULL, 0);
    assert_int_equal(tickets_stripe_verify_signature(SECRET, he, NULL, 0, NOW, TOLERANCE, &reason),
                     0);
    g_free(he);
    g_free(hb);
    g_free(h);
}

static void test_wrong_secret_and_tampered_body_refused(void **state)
{
    (void)state;
    const char *body = "{\"amount_total\":1500}";
    char *h = sign("whsec_someone_else", NOW, body);
    const char *reason = NULL;
    assert_int_equal(verify(SECRET, h, body, NOW, &reason), -1);
    assert_string_equal(reason, "signature mismatch");
    g_free(h);

    h = sign(SECRET, NOW, body);
    assert_int_equal(verify(SECRET, h, "{\"amount_total\":1}", NOW, &reason), -1);
    assert_string_equal(reason, "signature mismatch");
    assert_int_equal(verify(SECRET, h, "{\"amount_total\":1500} ", NOW, &reason), -1);
    /* The timestamp is signed too: moving it breaks the signature. */
    char *moved = g_strdup(h);
    moved[2] = '2';
    assert_int_equal(verify(SECRET, moved, body, NOW, &reason), -1);
    assert_string_equal(reason, "signature mismatch");
    /* Stripe sends lower-case hex; the same digits in upper case are not its signature. */
    char *upper = g_ascii_strup(h, -1);
    upper[0] = 't';
    upper[13] = 'v';
    assert_int_equal(verify(SECRET, upper, body, NOW, &reason), -1);
    g_free(upper);
    g_free(moved);
    g_free(h);
}

static void test_timestamp_tolerance(void **state)
{
    (void)state;
    const char *body = "{}";
    const char *reason = NULL;
    char *h = sign(SECRET, NOW, body);
    assert_int_equal(verify(SECRET, h, body, NOW + TOLERANCE, &reason), 0);
    assert_int_equal(verify(SECRET, h, body, NOW - TOLERANCE, &reason), 0);
    assert_int_equal(verify(SECRET, h, body, NOW + TOLERANCE + 1, &reason), -1); /* too old */
    assert_string_equal(reason, "timestamp outside the tolerance");
    assert_int_equal(verify(SECRET, h, body, NOW - TOLERANCE - 1, &reason), -1); /* too new */
    assert_string_equal(reason, "timestamp outside the tolerance");
    assert_int_equal(verify(SECRET, h, body, INT64_MIN, &reason), -1);
    assert_int_equal(verify(SECRET, h, body, INT64_MAX, &reason), -1);
    assert_int_equal(
        tickets_stripe_verify_signature(SECRET, h, (const uint8_t *)body, 2, NOW, -1, &reason), -1);
    g_free(h);
}

static void test_several_v1_one_good_and_unknown_keys(void **state)
{
    (void)state;
    const char *body = "{\"id\":\"evt_2\"}";
    char *good = sign(SECRET, NOW, body);
    char *old = sign("whsec_rolled_secret", NOW, body);
    const char *good_sig = strstr(good, "v1=") + 3, *old_sig = strstr(old, "v1=") + 3;
    const char *reason = NULL;

    /* During a secret roll Stripe signs with both secrets; any v1 may be the good one. */
    char *h = g_strdup_printf("t=%d,v1=%s,v1=%s,v0=6ffbb59b2300aae63f2720", NOW, old_sig, good_sig);
    assert_int_equal(verify(SECRET, h, body, NOW, &reason), 0);
    g_free(h);
    h = g_strdup_printf("v0=abc,v1=%s,t=%d,scheme2=xyz,v1=%s", good_sig, NOW, old_sig);
    assert_int_equal(verify(SECRET, h, body, NOW, &reason), 0);
    g_free(h);
    /* A good signature under v0 (or any other key) is not a v1. */
    h = g_strdup_printf("t=%d,v0=%s,v1=%s", NOW, good_sig, old_sig);
    assert_int_equal(verify(SECRET, h, body, NOW, &reason), -1);
    assert_string_equal(reason, "signature mismatch");
    g_free(h);
    /* A v1 of the wrong length is just not a match. */
    h = g_strdup_printf("t=%d,v1=%.63s,v1=%sff", NOW, good_sig, good_sig);
    assert_int_equal(verify(SECRET, h, body, NOW, &reason), -1);
    g_free(h);
    g_free(old);
    g_free(good);
}

static void test_malformed_headers_refused(void **state)
{
    (void)state;
    const char *body = "{}";
    char *good = sign(SECRET, NOW, body);
    const char *sig = strstr(good, "v1=") + 3;
    const char *reason = NULL;

    assert_int_equal(verify(SECRET, NULL, body, NOW, &reason), -1);
    assert_string_equal(reason, "missing Stripe-Signature header");
    assert_int_equal(verify(SECRET, "", body, NOW, &reason), -1);
    assert_int_equal(verify(NULL, good, body, NOW, &reason), -1);
    assert_string_equal(reason, "no webhook secret configured");
    assert_int_equal(verify("", good, body, NOW, &reason), -1);

    const char *bad[] = {"garbage",
                         ",,,",
                         "=",
                         "t",
                         "t=",
                         "=1492774577",
                         "v1=00",
                         "t=1492774577",
                         "t=1492774577,",
                         "t=abc,v1=00",
                         "t=-1492774577,v1=00",
                         "t= 1492774577,v1=0",
                         "t=1234567890123456,v1=00",
                         "t=1,t=2,v1=00",
                         ",t=1492774577,v1=00"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        reason = NULL;
        assert_int_equal(verify(SECRET, bad[i], body, NOW, &reason), -1);
        assert_non_null(reason);
    }
    assert_int_equal(verify(SECRET, "t=1492774577", body, NOW, &reason), -1);
    assert_string_equal(reason, "no v1 signature in signature header");
    char *no_t = g_strdup_printf("v1=%s", sig);
    assert_int_equal(verify(SECRET, no_t, body, NOW, &reason), -1);
    assert_string_equal(reason, "no timestamp in signature header");
    /* Two timestamps are ambiguous even when one of them is right. */
    char *two_t = g_strdup_printf("t=%d,t=%d,v1=%s", NOW, NOW, sig);
    assert_int_equal(verify(SECRET, two_t, body, NOW, &reason), -1);
    /* Spaces are not part of Stripe's format. */
    char *spaced = g_strdup_printf("t=%d, v1=%s", NOW, sig);
    assert_int_equal(verify(SECRET, spaced, body, NOW, &reason), -1);
    /* A NULL reason pointer is allowed. */
    assert_int_equal(verify(SECRET, "garbage", body, NOW, NULL), -1);
    g_free(spaced);
    g_free(two_t);
    g_free(no_t);
    g_free(good);
}

/* ---------------------------------------------------------------- configuration, URL */

static void test_configured(void **state)
{
    (void)state;
    assert_false(tickets_stripe_configured(NULL));
    tickets_stripe_config cfg = {0};
    assert_false(tickets_stripe_configured(&cfg));
    cfg.secret_key = SK;
    assert_false(tickets_stripe_configured(&cfg));
    cfg.client_id = "";
    assert_false(tickets_stripe_configured(&cfg));
    cfg.client_id = "ca_123";
    assert_true(tickets_stripe_configured(&cfg));
    cfg.secret_key = "";
    assert_false(tickets_stripe_configured(&cfg));
}

static void test_authorize_url_escapes_every_value(void **state)
{
    (void)state;
    tickets_stripe_config cfg = {
        .secret_key = SK, .client_id = "ca_12&3", .connect_base = "http://127.0.0.1:9999"};
    char *url = tickets_stripe_authorize_url(&cfg, "st+a/te=1 ü",
                                             "https://events.example.org/console.html?x=1&y=2");
    assert_string_equal(url, "http://127.0.0.1:9999/oauth/authorize?response_type=code"
                             "&client_id=ca_12%263&scope=read_write&state=st%2Ba%2Fte%3D1%20%C3%BC"
                             "&redirect_uri=https%3A%2F%2Fevents.example.org%2Fconsole.html%3Fx%3D1"
                             "%26y%3D2");
    assert_null(strstr(url, SK));
    g_free(url);
    cfg.connect_base = NULL;
    url = tickets_stripe_authorize_url(&cfg, "s-._~", "r");
    assert_string_equal(url, "https://connect.stripe.com/oauth/authorize?response_type=code"
                             "&client_id=ca_12%263&scope=read_write&state=s-._~&redirect_uri=r");
    g_free(url);
}

/* ---------------------------------------------------------------- a one-shot HTTP responder */

typedef struct responder {
    int fd;
    int port;
    int status;
    const char *reply;
    GString *request; /* what came in: head and body */
    GThread *thread;
} responder;

static gpointer respond_once(gpointer data)
{
    responder *r = data;
    int c = accept(r->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    char buf[4096];
    size_t want = 0;
    for (;;) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0)
            break;
        g_string_append_len(r->request, buf, n);
        const char *end = strstr(r->request->str, "\r\n\r\n");
        if (end != NULL && want == 0) {
            const char *cl = strcasestr(r->request->str, "Content-Length:");
            want = (size_t)(end + 4 - r->request->str) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
        }
        if (want > 0 && r->request->len >= want)
            break;
    }
    char *head = g_strdup_printf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                 r->status, strlen(r->reply));
    /* No cmocka assertions off the test's thread: a short write shows up as a failed call. */
    ssize_t w = write(c, head, strlen(head));
    if (w == (ssize_t)strlen(head))
        w = write(c, r->reply, strlen(r->reply));
    (void)w;
    g_free(head);
    close(c);
    return NULL;
}

static void responder_start(responder *r, int status, const char *reply)
{
    r->status = status;
    r->reply = reply;
    r->request = g_string_new(NULL);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->fd, 1), 0);
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&a, &len), 0);
    r->port = ntohs(a.sin_port);
    r->thread = g_thread_new("responder", respond_once, r);
}

static void responder_stop(responder *r)
{
    g_thread_join(r->thread);
    close(r->fd);
    g_string_free(r->request, TRUE);
}

static char *base_of(const responder *r)
{
    return g_strdup_printf("http://127.0.0.1:%d", r->port);
}

/* ---------------------------------------------------------------- OAuth */

static void test_oauth_token_success(void **state)
{
    (void)state;
    responder r;
    responder_start(&r, 200,
                    "{\"access_token\":\"sk_acct\",\"token_type\":\"bearer\","
                    "\"stripe_user_id\":\"acct_1Abc\",\"livemode\":false}");
    char *base = base_of(&r);
    tickets_stripe_config cfg = {
        .secret_key = SK, .client_id = "ca_1", .connect_base = base, .timeout_ms = 5000};
    char *acct = NULL, *error = NULL;
    assert_int_equal(tickets_stripe_oauth_token(&cfg, "ac_x+y&z", &acct, &error), 0);
    responder_stop(&r);
    assert_string_equal(acct, "acct_1Abc");
    assert_null(error);
    g_free(acct);
    g_free(base);
}

static void test_oauth_token_request_shape(void **state)
{
    (void)state;
    responder r;
    responder_start(&r, 200, "{\"stripe_user_id\":\"acct_1\"}");
    char *base = base_of(&r);
    tickets_stripe_config cfg = {.secret_key = SK, .client_id = "ca_1", .connect_base = base};
    char *acct = NULL, *error = NULL;
    assert_int_equal(tickets_stripe_oauth_token(&cfg, "ac_x+y&z", &acct, &error), 0);
    const char *req = r.request->str;
    assert_true(g_str_has_prefix(req, "POST /oauth/token HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "\r\nAuthorization: Bearer " SK "\r\n"));
    assert_non_null(strstr(req, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_true(g_str_has_suffix(req, "\r\n\r\ngrant_type=authorization_code&code=ac_x%2By%26z"));
    responder_stop(&r);
    g_free(acct);
    g_free(base);
}

static void test_oauth_token_errors(void **state)
{
    (void)state;
    responder r;
    responder_start(&r, 400,
                    "{\"error\":\"invalid_grant\",\"error_description\":"
                    "\"Authorization code does not exist: ac_x\"}");
    char *base = base_of(&r);
    tickets_stripe_config cfg = {.secret_key = SK, .client_id = "ca_1", .connect_base = base};
    char *acct = NULL, *error = NULL;
    assert_int_equal(tickets_stripe_oauth_token(&cfg, "ac_x", &acct, &error), -1);
    responder_stop(&r);
    assert_null(acct);
    assert_string_equal(error, "Stripe: Authorization code does not exist: ac_x");
    g_free(error);
    g_free(base);

    /* A 200 without an account id is not a success. */
    responder_start(&r, 200, "{\"stripe_user_id\":\"nope\"}");
    base = base_of(&r);
    cfg.connect_base = base;
    assert_int_equal(tickets_stripe_oauth_token(&cfg, "ac_x", &acct, &error), -1);
    responder_stop(&r);
    assert_string_equal(error, "Stripe: no account id in the reply");
    g_free(error);
    g_free(base);

    /* Not configured, no code: refused before any request. */
    tickets_stripe_config none = {0};
    assert_int_equal(tickets_stripe_oauth_token(&none, "ac_x", &acct, &error), -1);
    assert_string_equal(error, "Stripe is not configured");
    g_free(error);
    assert_int_equal(tickets_stripe_oauth_token(&cfg, "", &acct, &error), -1);
    g_free(error);
    /* A key that would break the header is refused, and not quoted. */
    tickets_stripe_config broken = {.secret_key = "sk_x\r\nX-Evil: 1", .client_id = "ca_1"};
    assert_int_equal(tickets_stripe_oauth_token(&broken, "ac_x", &acct, &error), -1);
    assert_string_equal(error, "Stripe secret_key is malformed");
    g_free(error);
}

static void test_unreachable(void **state)
{
    (void)state;
    /* Bind then close a port: nothing listens there, so the connection is refused at once. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    char *base = g_strdup_printf("http://127.0.0.1:%d", ntohs(a.sin_port));
    tickets_stripe_config cfg = {.secret_key = SK,
                                 .client_id = "ca_1",
                                 .api_base = base,
                                 .connect_base = base,
                                 .timeout_ms = 2000};
    char *acct = NULL, *error = NULL;
    assert_int_equal(tickets_stripe_oauth_token(&cfg, "ac_x", &acct, &error), -1);
    assert_true(g_str_has_prefix(error, "Stripe unreachable: "));
    assert_null(strstr(error, SK));
    g_free(error);
    g_free(base);
}

/* ---------------------------------------------------------------- Checkout */

static tickets_checkout_request checkout_request(void)
{
    return (tickets_checkout_request){
        .account_id = "acct_1Org",
        .order_id = "42",
        .event_id = "7",
        .product_name = "Conf & Talks: day 1",
        .unit_amount = 1500,
        .currency = "eur",
        .customer_email = "ann+x@example.org",
        .success_url = "https://e.example.org/ok?s={CHECKOUT_SESSION_ID}",
        .cancel_url = "https://e.example.org/cancel",
        .expires_at = NOW + 1800,
        .idempotency_key = "order-42-attempt-1",
    };
}

static void test_checkout_success_and_request(void **state)
{
    (void)state;
    responder r;
    responder_start(&r, 200,
                    "{\"id\":\"cs_test_a1\",\"object\":\"checkout.session\","
                    "\"url\":\"https://checkout.stripe.com/c/pay/cs_test_a1\"}");
    char *base = base_of(&r);
    tickets_stripe_config cfg = {.secret_key = SK, .client_id = "ca_1", .api_base = base};
    tickets_checkout_request req = checkout_request();
    char *id = NULL, *url = NULL, *error = NULL;
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), 0);
    assert_string_equal(id, "cs_test_a1");
    assert_string_equal(url, "https://checkout.stripe.com/c/pay/cs_test_a1");
    assert_null(error);

    const char *q = r.request->str;
    assert_true(g_str_has_prefix(q, "POST /v1/checkout/sessions HTTP/1.1\r\n"));
    assert_non_null(strstr(q, "\r\nAuthorization: Bearer " SK "\r\n"));
    assert_non_null(strstr(q, "\r\nStripe-Account: acct_1Org\r\n"));
    assert_non_null(strstr(q, "\r\nIdempotency-Key: order-42-attempt-1\r\n"));
    const char *body = strstr(q, "\r\n\r\n") + 4;
    assert_string_equal(
        body, "mode=payment&line_items%5B0%5D%5Bquantity%5D=1"
              "&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=eur"
              "&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=1500"
              "&line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D="
              "Conf%20%26%20Talks%3A%20day%201"
              "&success_url=https%3A%2F%2Fe.example.org%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D"
              "&cancel_url=https%3A%2F%2Fe.example.org%2Fcancel&client_reference_id=42"
              "&metadata%5Border_id%5D=42&metadata%5Bevent_id%5D=7"
              "&customer_email=ann%2Bx%40example.org&expires_at=1492776377");
    responder_stop(&r);
    g_free(id);
    g_free(url);
    g_free(base);
}

static void test_checkout_errors_never_hold_the_key(void **state)
{
    (void)state;
    responder r;
    responder_start(&r, 401,
                    "{\"error\":{\"type\":\"invalid_request_error\","
                    "\"message\":\"Invalid API Key provided: " SK "\"}}");
    char *base = base_of(&r);
    tickets_stripe_config cfg = {.secret_key = SK, .client_id = "ca_1", .api_base = base};
    tickets_checkout_request req = checkout_request();
    char *id = NULL, *url = NULL, *error = NULL;
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), -1);
    responder_stop(&r);
    assert_null(id);
    assert_null(url);
    assert_string_equal(error, "Stripe: Invalid API Key provided: [redacted]");
    g_free(error);
    g_free(base);

    responder_start(&r, 502, "<html>Bad gateway</html>");
    base = base_of(&r);
    cfg.api_base = base;
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), -1);
    responder_stop(&r);
    assert_string_equal(error, "Stripe answered HTTP 502");
    g_free(error);
    g_free(base);

    responder_start(&r, 400, "{\"error\":{\"type\":\"card_error\"}}");
    base = base_of(&r);
    cfg.api_base = base;
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), -1);
    responder_stop(&r);
    assert_string_equal(error, "Stripe: card_error (HTTP 400)");
    g_free(error);
    g_free(base);
}

static void test_checkout_invalid_requests_refused(void **state)
{
    (void)state;
    tickets_stripe_config cfg = {
        .secret_key = SK, .client_id = "ca_1", .api_base = "http://127.0.0.1:1"};
    char *id = NULL, *url = NULL, *error = NULL;
    tickets_checkout_request req;
    const char *errors[7];
    size_t n = 0;

    req = checkout_request();
    req.unit_amount = 0;
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), -1);
    errors[n++] = error;
    req = checkout_request();
    req.currency = "EUR";
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), -1);
    errors[n++] = error;
    req = checkout_request();
    req.account_id = "acct_1\r\nX-Evil: 1";
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), -1);
    errors[n++] = error;
    req = checkout_request();
    req.idempotency_key = NULL;
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), -1);
    errors[n++] = error;
    req = checkout_request();
    req.success_url = "";
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), -1);
    errors[n++] = error;
    req = checkout_request();
    req.product_name = NULL;
    assert_int_equal(tickets_stripe_create_checkout(&cfg, &req, &id, &url, &error), -1);
    errors[n++] = error;
    for (size_t i = 0; i < n; i++) {
        assert_true(g_str_has_prefix(errors[i], "invalid checkout request: "));
        g_free((char *)errors[i]);
    }
    assert_null(id);
    assert_null(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_matches_reference_vector),
        cmocka_unit_test(test_good_signature_accepted),
        cmocka_unit_test(test_wrong_secret_and_tampered_body_refused),
        cmocka_unit_test(test_timestamp_tolerance),
        cmocka_unit_test(test_several_v1_one_good_and_unknown_keys),
        cmocka_unit_test(test_malformed_headers_refused),
        cmocka_unit_test(test_configured),
        cmocka_unit_test(test_authorize_url_escapes_every_value),
        cmocka_unit_test(test_oauth_token_success),
        cmocka_unit_test(test_oauth_token_request_shape),
        cmocka_unit_test(test_oauth_token_errors),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_checkout_success_and_request),
        cmocka_unit_test(test_checkout_errors_never_hold_the_key),
        cmocka_unit_test(test_checkout_invalid_requests_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
