/*
 * test_tickets_mail.c - the tickets plugin's mailer (plugins/tickets/tickets_mail.c): the
 * message format (headers in order, CRLF only, a locale-free UTC date, quoted-printable body
 * with soft breaks, encoded '=', trailing blanks and leading dots, non-ASCII bytes; RFC 2047
 * subjects and display names split on character boundaries), what send refuses (CR/LF in
 * to/subject, non-addresses), configuration errors, the outbox mode (an .eml per message,
 * 0600, no .tmp left, counted; a vanished outbox counted as failed after the retries) and the
 * SMTP mode against a one-connection SMTP responder run in a thread of this test (MAIL FROM,
 * RCPT TO, AUTH PLAIN, the data). The log never holds a body or the password.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "tickets_mail.h"

#define NOW 1700000000 /* Tue, 14 Nov 2023 22:13:20 UTC */
#define LINK "https://events.example.org/login#token=SECRET-LINK-TOKEN"
#define PASSWORD "smtp-pass-word"

/* ---------------------------------------------------------------- captured log */

static GMutex log_lock;
static GPtrArray *log_lines;

__attribute__((format(printf, 3, 4))) static void
capture_log(odeon_log_level level, const char *module, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    char *text = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_mutex_lock(&log_lock);
    g_ptr_array_add(log_lines, g_strdup_printf("%d %s %s", (int)level, module, text));
    g_mutex_unlock(&log_lock);
    g_free(text);
}

static int setup_log(void **state)
{
    (void)state;
    log_lines = g_ptr_array_new_with_free_func(g_free);
    return 0;
}

static int teardown_log(void **state)
{
    (void)state;
    g_ptr_array_free(log_lines, TRUE);
    log_lines = NULL;
    return 0;
}

/* No log line may contain needle; returns the number of lines. */
static unsigned log_never_contains(const char *needle)
{
    g_mutex_lock(&log_lock);
    for (unsigned i = 0; i < log_lines->len; i++)
        assert_null(strstr(g_ptr_array_index(log_lines, i), needle));
    unsigned n = log_lines->len;
    g_mutex_unlock(&log_lock);
    return n;
}

static bool log_has(const char *needle)
{
    bool found = false;
    g_mutex_lock(&log_lock);
    for (unsigned i = 0; i < log_lines->len && !found; i++)
        found = strstr(g_ptr_array_index(log_lines, i), needle) != NULL;
    g_mutex_unlock(&log_lock);
    return found;
}

/* ---------------------------------------------------------------- message helpers */

/* Every line ends with CRLF: no bare CR or LF anywhere. */
static void assert_crlf_only(const char *msg)
{
    for (const char *p = msg; *p; p++) {
        if (*p == '\r')
            assert_int_equal(p[1], '\n');
        if (*p == '\n')
            assert_true(p > msg && p[-1] == '\r');
    }
    assert_true(g_str_has_suffix(msg, "\r\n"));
}

/* The body after the blank line, decoded from quoted-printable; encoded lines are checked
 * against RFC 2045's limits on the way. */
static char *qp_decode_body(const char *msg)
{
    const char *body = strstr(msg, "\r\n\r\n");
    assert_non_null(body);
    GString *out = g_string_new(NULL);
    char **lines = g_strsplit(body + 4, "\r\n", -1);
    for (char **l = lines; *l; l++) {
        size_t len = strlen(*l);
        assert_true(len <= 76);
        if (l[1] == NULL) { /* after the last CRLF */
            assert_int_equal(len, 0);
            break;
        }
        assert_true(len == 0 || ((*l)[len - 1] != ' ' && (*l)[len - 1] != '\t'));
        bool soft = len > 0 && (*l)[len - 1] == '=';
        for (size_t i = 0; i < len - (soft ? 1 : 0); i++) {
            char c = (*l)[i];
            assert_true(c >= 32 && c <= 126);
            if (c == '=') {
                char hex[3] = {(*l)[i + 1], (*l)[i + 2], 0};
                assert_true(g_ascii_isxdigit(hex[0]) && g_ascii_isxdigit(hex[1]));
                assert_false(g_ascii_islower(hex[0]) || g_ascii_islower(hex[1]));
                g_string_append_c(out, (char)strtol(hex, NULL, 16));
                i += 2;
            } else {
                g_string_append_c(out, c);
            }
        }
        if (!soft)
            g_string_append(out, "\r\n");
    }
    g_strfreev(lines);
    return g_string_free(out, FALSE);
}

/* The value of header name (unfolded: continuation lines joined without their CRLF). */
static char *header_value(const char *msg, const char *name)
{
    char *head = g_strndup(msg, (gsize)(strstr(msg, "\r\n\r\n") - msg));
    char *prefix = g_strconcat("\r\n", name, ": ", NULL);
    char *all = g_strconcat("\r\n", head, NULL);
    const char *at = strstr(all, prefix);
    char *value = NULL;
    if (at != NULL) {
        GString *v = g_string_new(NULL);
        const char *p = at + strlen(prefix);
        for (;;) {
            const char *eol = strstr(p, "\r\n");
            size_t n = eol ? (size_t)(eol - p) : strlen(p);
            g_string_append_len(v, p, (gssize)n);
            if (eol == NULL || (eol[2] != ' ' && eol[2] != '\t'))
                break;
            p = eol + 2;
        }
        value = g_string_free(v, FALSE);
    }
    g_free(all);
    g_free(prefix);
    g_free(head);
    return value;
}

/* Decodes a run of "=?UTF-8?B?...?=" words separated by folding whitespace; each word must be
 * at most 75 characters and hold whole UTF-8 characters on its own. */
static char *decode_words(const char *value)
{
    GString *out = g_string_new(NULL);
    char **words = g_strsplit(value, " ", -1);
    for (char **w = words; *w; w++) {
        if ((*w)[0] == '\0')
            continue;
        size_t len = strlen(*w);
        assert_true(len <= 75);
        assert_true(g_str_has_prefix(*w, "=?UTF-8?B?") && g_str_has_suffix(*w, "?="));
        char *b64 = g_strndup(*w + 10, len - 12);
        gsize n = 0;
        guchar *bytes = g_base64_decode(b64, &n);
        assert_true(g_utf8_validate((const char *)bytes, (gssize)n, NULL));
        g_string_append_len(out, (const char *)bytes, (gssize)n);
        g_free(bytes);
        g_free(b64);
    }
    g_strfreev(words);
    return g_string_free(out, FALSE);
}

/* ---------------------------------------------------------------- format */

static void test_format_headers(void **state)
{
    (void)state;
    char *m = tickets_mail_format("Odeon <events@example.org>", "ann@example.org", "Your link",
                                  "Hello\nBye", NOW, "<abc@example.org>");
    assert_string_equal(m, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
                           "From: Odeon <events@example.org>\r\n"
                           "To: ann@example.org\r\n"
                           "Subject: Your link\r\n"
                           "Message-ID: <abc@example.org>\r\n"
                           "MIME-Version: 1.0\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Transfer-Encoding: quoted-printable\r\n"
                           "\r\n"
                           "Hello\r\n"
                           "Bye\r\n");
    g_free(m);
    /* An id without brackets gets them; a bare from stays bare, in brackets. */
    m = tickets_mail_format("events@example.org", "a@b.c", "s", "", 0, "x@y");
    assert_non_null(strstr(m, "\r\nMessage-ID: <x@y>\r\n"));
    assert_non_null(strstr(m, "\r\nFrom: <events@example.org>\r\n"));
    assert_true(g_str_has_prefix(m, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
    assert_true(g_str_has_suffix(m, "quoted-printable\r\n\r\n"));
    assert_crlf_only(m);
    g_free(m);
}

static void test_format_quoted_printable(void **state)
{
    (void)state;
    char *long_line = g_strnfill(200, 'a');
    char *text = g_strconcat("Café = 5€\r\n", long_line, "\n.hidden dot\rtrailing \n", "tab\t\n\n",
                             LINK, NULL);
    char *m = tickets_mail_format("Odeon <events@example.org>", "ann@example.org", "s", text, NOW,
                                  "<i@example.org>");
    assert_crlf_only(m);
    const char *body = strstr(m, "\r\n\r\n") + 4;
    assert_true(g_str_has_prefix(body, "Caf=C3=A9 =3D 5=E2=82=AC\r\n"));
    assert_non_null(strstr(body, "\r\n=2Ehidden dot\r\ntrailing=20\r\ntab=09\r\n\r\n"));
    /* The 200 a's are cut by soft breaks into lines of at most 76 characters. */
    assert_non_null(strstr(body, "=\r\naaaa"));
    char *decoded = qp_decode_body(m);
    char *expected = g_strconcat("Café = 5€\r\n", long_line, "\r\n.hidden dot\r\ntrailing \r\n",
                                 "tab\t\r\n\r\n", LINK, "\r\n", NULL);
    assert_string_equal(decoded, expected);
    g_free(expected);
    g_free(decoded);
    g_free(m);
    g_free(text);
    g_free(long_line);

    /* Non-ASCII around the 76th column: "=XX" is never split by a soft break. */
    GString *many = g_string_new(NULL);
    for (int i = 0; i < 60; i++)
        g_string_append(many, i % 7 == 0 ? "x" : "é");
    m = tickets_mail_format("e@x.org", "a@b.c", "s", many->str, NOW, "<i@x.org>");
    decoded = qp_decode_body(m);
    char *want = g_strconcat(many->str, "\r\n", NULL);
    assert_string_equal(decoded, want);
    g_free(want);
    g_free(decoded);
    g_free(m);
    g_string_free(many, TRUE);
}

static void test_format_rfc2047(void **state)
{
    (void)state;
    char *m = tickets_mail_format("Événements Odeon <events@example.org>", "ann@example.org",
                                  "Billet été", "x", NOW, "<i@example.org>");
    char *subject = header_value(m, "Subject");
    assert_string_equal(subject, "=?UTF-8?B?QmlsbGV0IMOpdMOp?=");
    char *from = header_value(m, "From");
    assert_true(g_str_has_suffix(from, " <events@example.org>"));
    from[strlen(from) - strlen(" <events@example.org>")] = '\0';
    char *name = decode_words(from);
    assert_string_equal(name, "Événements Odeon");
    g_free(name);
    g_free(from);
    g_free(subject);
    g_free(m);

    /* A long non-ASCII subject: several words, folded, none splitting a character. */
    GString *s = g_string_new(NULL);
    for (int i = 0; i < 40; i++)
        g_string_append(s, i % 3 ? "ü" : "€");
    m = tickets_mail_format("e@x.org", "a@b.c", s->str, "x", NOW, "<i@x.org>");
    assert_crlf_only(m);
    assert_non_null(strstr(m, "?=\r\n =?UTF-8?B?"));
    subject = header_value(m, "Subject");
    char *back = decode_words(subject);
    assert_string_equal(back, s->str);
    g_free(back);
    g_free(subject);
    g_free(m);
    g_string_free(s, TRUE);

    /* An ASCII name with specials is quoted; CR/LF smuggled past send become spaces. */
    m = tickets_mail_format("\"Odeon, Events\" <events@example.org>", "a@b.c",
                            "x\r\nBcc: evil@x.org", "x", NOW, "<i@x.org>");
    assert_non_null(strstr(m, "\r\nFrom: \"Odeon, Events\" <events@example.org>\r\n"));
    assert_non_null(strstr(m, "\r\nSubject: x  Bcc: evil@x.org\r\n"));
    assert_null(strstr(m, "\r\nBcc:"));
    g_free(m);
}

/* ---------------------------------------------------------------- config and send checks */

static void test_new_refuses_unusable_config(void **state)
{
    (void)state;
    char *error = NULL;
    tickets_mail_config cfg = {.from = "Odeon <events@example.org>"};
    assert_null(tickets_mail_new(&cfg, capture_log, &error));
    assert_string_equal(error, "mail: set outbox_dir or smtp_url");
    g_free(error);
    cfg.smtp_url = "ftp://mail.example.org";
    assert_null(tickets_mail_new(&cfg, capture_log, &error));
    assert_non_null(error);
    g_free(error);
    cfg.smtp_url = "smtp://127.0.0.1:25";
    const char *bad_from[] = {NULL,
                              "",
                              "Odeon",
                              "Odeon <events>",
                              "<a@b> trailing",
                              "Odeon <ev ents@example.org>",
                              "x\r\n@example.org",
                              "Odeon <events@example.org"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_from); i++) {
        cfg.from = bad_from[i];
        error = NULL;
        assert_null(tickets_mail_new(&cfg, capture_log, &error));
        assert_true(g_str_has_prefix(error, "mail: from is not an address"));
        assert_null(strchr(error, '\n'));
        g_free(error);
    }
    assert_null(tickets_mail_new(NULL, capture_log, &error));
    g_free(error);
}

static void test_send_refuses_injection(void **state)
{
    (void)state;
    char *dir = g_dir_make_tmp("odeon-mail-XXXXXX", NULL);
    tickets_mail_config cfg = {.outbox_dir = dir, .from = "Odeon <events@example.org>"};
    char *error = NULL;
    tickets_mail *mail = tickets_mail_new(&cfg, capture_log, &error);
    assert_non_null(mail);
    const char *bad_to[] = {NULL,
                            "",
                            "ann",
                            "ann@example.org\r\nBcc: x@y.z",
                            "ann@example.org\n",
                            "Ann <ann@example.org>",
                            "a@b@c",
                            "@example.org",
                            "ann@",
                            "ann @example.org",
                            "ann@example.org,bob@example.org"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_to); i++)
        assert_int_equal(tickets_mail_send(mail, bad_to[i], "s", "t"), ODEON_EINVAL);
    assert_int_equal(tickets_mail_send(mail, "a@b.c", "s\r\nBcc: x@y.z", "t"), ODEON_EINVAL);
    assert_int_equal(tickets_mail_send(mail, "a@b.c", "s\n", "t"), ODEON_EINVAL);
    assert_int_equal(tickets_mail_send(mail, "a@b.c", NULL, "t"), ODEON_EINVAL);
    assert_int_equal(tickets_mail_send(NULL, "a@b.c", "s", "t"), ODEON_EINVAL);
    tickets_mail_free(mail);
    assert_int_equal(g_rmdir(dir), 0); /* nothing was written */
    g_free(dir);
}

/* ---------------------------------------------------------------- outbox mode */

static char *read_only_eml(const char *dir, int *count)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    assert_non_null(d);
    GRegex *re = g_regex_new("^[0-9]+-[0-9]+\\.eml$", 0, 0, NULL);
    char *first = NULL;
    *count = 0;
    for (const char *name; (name = g_dir_read_name(d)) != NULL;) {
        assert_true(g_regex_match(re, name, 0, NULL)); /* no .tmp left behind */
        char *path = g_build_filename(dir, name, NULL);
        GStatBuf st;
        assert_int_equal(g_stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        if (first == NULL)
            first = g_strdup(path);
        (*count)++;
        g_free(path);
    }
    g_regex_unref(re);
    g_dir_close(d);
    return first;
}

static void remove_dir(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    for (const char *name; d && (name = g_dir_read_name(d)) != NULL;) {
        char *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
        g_free(path);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
}

static void test_outbox_writes_eml(void **state)
{
    (void)state;
    char *tmp = g_dir_make_tmp("odeon-mail-XXXXXX", NULL);
    char *dir = g_build_filename(tmp, "outbox", "nested", NULL); /* created by new */
    tickets_mail_config cfg = {.outbox_dir = dir, .from = "Odeon <events@example.org>"};
    char *error = NULL;
    tickets_mail *mail = tickets_mail_new(&cfg, capture_log, &error);
    assert_non_null(mail);
    assert_int_equal(tickets_mail_send(mail, "ann@example.org", "Sign in", "Open " LINK), 0);
    assert_int_equal(tickets_mail_send(mail, "bob@example.org", "Sign in", "Open " LINK), 0);
    tickets_mail_free(mail); /* sends what is queued first */

    int count = 0;
    char *path = read_only_eml(dir, &count);
    assert_int_equal(count, 2);
    char *msg = NULL;
    assert_true(g_file_get_contents(path, &msg, NULL, NULL));
    assert_crlf_only(msg);
    char *to = header_value(msg, "To");
    assert_true(g_strcmp0(to, "ann@example.org") == 0 || g_strcmp0(to, "bob@example.org") == 0);
    char *id = header_value(msg, "Message-ID");
    assert_true(g_regex_match_simple("^<[0-9a-f]{32}@example\\.org>$", id, 0, 0));
    char *body = qp_decode_body(msg);
    assert_string_equal(body, "Open " LINK "\r\n");
    assert_true(log_never_contains("SECRET-LINK-TOKEN") > 0);
    g_free(body);
    g_free(id);
    g_free(to);
    g_free(msg);
    g_free(path);
    remove_dir(dir);
    char *parent = g_path_get_dirname(dir);
    g_rmdir(parent);
    g_rmdir(tmp);
    g_free(parent);
    g_free(dir);
    g_free(tmp);
}

static void test_outbox_counts(void **state)
{
    (void)state;
    char *dir = g_dir_make_tmp("odeon-mail-XXXXXX", NULL);
    tickets_mail_config cfg = {.outbox_dir = dir, .from = "events@example.org"};
    char *error = NULL;
    tickets_mail *mail = tickets_mail_new(&cfg, capture_log, &error);
    for (int i = 0; i < 5; i++)
        assert_int_equal(tickets_mail_send(mail, "ann@example.org", "s", "t"), 0);
    /* Counts are readable from another thread while the mailer works. */
    for (int i = 0; i < 500 && tickets_mail_sent(mail) < 5; i++)
        g_usleep(10 * 1000);
    assert_int_equal(tickets_mail_sent(mail), 5);
    assert_int_equal(tickets_mail_failed(mail), 0);
    tickets_mail_free(mail);
    int count = 0;
    g_free(read_only_eml(dir, &count));
    assert_int_equal(count, 5);
    remove_dir(dir);
    g_free(dir);
}

/* A folder that disappears after start-up: 3 attempts (1 s, then 5 s apart), then one error
 * naming the address, never the body; at shut-down one attempt, no waits. Slow by design
 * (6 s): the delays are the contract. */
/* A mailer whose outbox is removed right after it started: every write fails. */
static tickets_mail *mailer_without_outbox(void)
{
    char *dir = g_dir_make_tmp("odeon-mail-XXXXXX", NULL);
    tickets_mail_config cfg = {.outbox_dir = dir, .from = "events@example.org"};
    char *error = NULL;
    tickets_mail *mail = tickets_mail_new(&cfg, capture_log, &error);
    int removed = g_rmdir(dir);
    g_free(dir);
    assert_non_null(mail);
    assert_int_equal(removed, 0);
    return mail;
}

static void test_outbox_failure_is_counted(void **state)
{
    (void)state;
    tickets_mail *mail = mailer_without_outbox();
    assert_int_equal(tickets_mail_send(mail, "ann@example.org", "s", LINK), 0);
    for (int i = 0; i < 1000 && tickets_mail_failed(mail) == 0; i++)
        g_usleep(10 * 1000);
    assert_int_equal(tickets_mail_failed(mail), 1);
    assert_true(log_has("1 tickets mail to ann@example.org dropped after 3 attempt(s)"));
    /* At shut-down what is queued gets one attempt, without the waits. */
    assert_int_equal(tickets_mail_send(mail, "bob@example.org", "s", LINK), 0);
    gint64 start = g_get_monotonic_time();
    tickets_mail_free(mail);
    assert_true(g_get_monotonic_time() - start < 900 * 1000);
    assert_true(log_has("1 tickets mail to bob@example.org dropped after 1 attempt(s)"));
    log_never_contains("SECRET-LINK-TOKEN");
}

/* A stop while a mail waits for its retry ends the wait: the mail is dropped with the attempts
 * it had, and the stop does not sit out the 1 s (then 5 s) delay. */
static void test_stop_ends_a_retry_wait(void **state)
{
    (void)state;
    tickets_mail *mail = mailer_without_outbox();
    assert_int_equal(tickets_mail_send(mail, "carol@example.org", "s", LINK), 0);
    g_usleep(300 * 1000); /* the first attempt has failed; the 1 s wait is under way */
    gint64 start = g_get_monotonic_time();
    tickets_mail_free(mail);
    gint64 took = g_get_monotonic_time() - start;
    assert_true(took < 900 * 1000);
    assert_true(log_has("1 tickets mail to carol@example.org dropped after 1 attempt(s)"));
    log_never_contains("SECRET-LINK-TOKEN");
}

/* ---------------------------------------------------------------- SMTP mode */

typedef struct smtp_responder {
    int fd, port;
    GString *transcript; /* client lines (commands and data), CRLF kept */
    GThread *thread;
} smtp_responder;

/* One line from the client (CRLF included) into line; false at end of stream. */
static bool read_line(int c, GString *line)
{
    g_string_truncate(line, 0);
    char ch;
    while (read(c, &ch, 1) == 1) {
        g_string_append_c(line, ch);
        if (ch == '\n')
            return true;
    }
    return false;
}

static void say(int c, const char *text)
{
    ssize_t w = write(c, text, strlen(text));
    (void)w; /* a short write shows up as a failed transfer in the test's thread */
}

static gpointer smtp_once(gpointer data)
{
    smtp_responder *r = data;
    int c = accept(r->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    GString *line = g_string_new(NULL);
    bool in_data = false;
    say(c, "220 test ESMTP\r\n");
    while (read_line(c, line)) {
        g_string_append(r->transcript, line->str);
        if (in_data) {
            if (strcmp(line->str, ".\r\n") == 0) {
                in_data = false;
                say(c, "250 queued\r\n");
            }
        } else if (g_str_has_prefix(line->str, "EHLO")) {
            say(c, "250-test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n");
        } else if (strcmp(line->str, "AUTH PLAIN\r\n") == 0) {
            say(c, "334 \r\n"); /* no initial response: the credentials come next */
            if (!read_line(c, line))
                break;
            g_string_append(r->transcript, line->str);
            say(c, "235 ok\r\n");
        } else if (g_str_has_prefix(line->str, "AUTH PLAIN ")) {
            say(c, "235 ok\r\n");
        } else if (g_str_has_prefix(line->str, "DATA")) {
            in_data = true;
            say(c, "354 go\r\n");
        } else if (g_str_has_prefix(line->str, "QUIT")) {
            say(c, "221 bye\r\n");
            break;
        } else {
            say(c, "250 ok\r\n");
        }
    }
    g_string_free(line, TRUE);
    close(c);
    return NULL;
}

static void smtp_start(smtp_responder *r)
{
    r->transcript = g_string_new(NULL);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->fd, 1), 0);
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&a, &len), 0);
    r->port = ntohs(a.sin_port);
    r->thread = g_thread_new("smtp", smtp_once, r);
}

static void test_smtp_sends(void **state)
{
    (void)state;
    smtp_responder r;
    smtp_start(&r);
    char *url = g_strdup_printf("smtp://127.0.0.1:%d", r.port);
    tickets_mail_config cfg = {.smtp_url = url,
                               .smtp_user = "u",
                               .smtp_password = PASSWORD,
                               .from = "Odeon <events@example.org>",
                               .timeout_ms = 5000};
    char *error = NULL;
    tickets_mail *mail = tickets_mail_new(&cfg, capture_log, &error);
    assert_non_null(mail);
    assert_int_equal(tickets_mail_send(mail, "ann@example.org", "Sign in", ".\n" LINK), 0);
    tickets_mail_free(mail);
    g_thread_join(r.thread);
    close(r.fd);

    const char *t = r.transcript->str;
    char *plain = g_base64_encode((const guchar *)"\0u\0" PASSWORD, 2 + 1 + strlen(PASSWORD));
    char *auth = g_strdup_printf("%s\r\n", plain); /* with or without an initial response */
    assert_non_null(strstr(t, auth));
    assert_non_null(strstr(t, "MAIL FROM:<events@example.org>"));
    assert_non_null(strstr(t, "\r\nRCPT TO:<ann@example.org>\r\n"));
    assert_non_null(strstr(t, "\r\nDATA\r\n"));
    assert_non_null(strstr(t, "\r\nSubject: Sign in\r\n"));
    assert_non_null(strstr(t, "\r\n=2E\r\n")); /* the lone dot line, encoded */
    assert_non_null(strstr(t, "\r\n.\r\nQUIT\r\n"));
    log_never_contains(PASSWORD);
    log_never_contains("SECRET-LINK-TOKEN");
    g_free(auth);
    g_free(plain);
    g_string_free(r.transcript, TRUE);
    g_free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_headers),
        cmocka_unit_test(test_format_quoted_printable),
        cmocka_unit_test(test_format_rfc2047),
        cmocka_unit_test_setup_teardown(test_new_refuses_unusable_config, setup_log, teardown_log),
        cmocka_unit_test_setup_teardown(test_send_refuses_injection, setup_log, teardown_log),
        cmocka_unit_test_setup_teardown(test_outbox_writes_eml, setup_log, teardown_log),
        cmocka_unit_test_setup_teardown(test_outbox_counts, setup_log, teardown_log),
        cmocka_unit_test_setup_teardown(test_outbox_failure_is_counted, setup_log, teardown_log),
        cmocka_unit_test_setup_teardown(test_stop_ends_a_retry_wait, setup_log, teardown_log),
        cmocka_unit_test_setup_teardown(test_smtp_sends, setup_log, teardown_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
