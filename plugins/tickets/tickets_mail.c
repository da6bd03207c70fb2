/*
 * tickets_mail.c - the tickets plugin's mailer (see tickets_mail.h): one thread per mailer
 * draining a GAsyncQueue of messages, each formatted as a small RFC 5322 text/plain message
 * (quoted-printable body, RFC 2047 subject) and either written into an outbox folder or
 * handed to an SMTP server through libcurl.
 *
 * Neighbours: the plugin's sign-in and invitation handlers call tickets_mail_send from any
 * thread; the integration tests read the outbox folder or run tests/fakes/smtp.mjs.
 *
 * Privacy: bodies carry sign-in links, so neither a body nor the SMTP password ever reaches
 * the log; a recipient address may (it is what an operator needs to answer "where is my mail").
 */
#include "tickets_mail.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define ATTEMPTS 3
#define ADDRESS_MAX 254   /* RFC 5321's limit on a path */
#define QP_LINE_MAX 76    /* RFC 2045: encoded line length, soft-break '=' included */
#define WORD_BYTES_MAX 45 /* 45 bytes -> 60 base64 chars -> a 72-char encoded-word (<= 75) */
#define DEFAULT_TIMEOUT_MS 30000L

typedef void (*mail_log_fn)(odeon_log_level, const char *, const char *, ...);

struct tickets_mail {
    char *outbox_dir; /* NULL: SMTP */
    char *smtp_url, *smtp_user, *smtp_password;
    bool require_tls;
    char *from;      /* as configured, for the From header */
    char *from_addr; /* bare address: MAIL FROM */
    char *domain;    /* of from_addr: the right side of Message-IDs */
    long timeout_ms;
    mail_log_fn log;
    GAsyncQueue *queue; /* mail_job *, ended by &stop_job */
    GThread *thread;
    unsigned file_counter; /* outbox names; the mail thread's only */
    gint sent, failed;     /* atomics: read by any thread */
    /* Set by tickets_mail_free: what is still queued gets one attempt, and a retry wait in
     * progress ends at once (the job keeps the attempts it had). Under stop_lock, which
     * stop_cond's waits hold. */
    bool stopping;
    GMutex stop_lock;
    GCond stop_cond;
};

typedef struct mail_job {
    char *to, *subject, *text;
} mail_job;

/* Queued by tickets_mail_free after everything else: the thread stops when it pops it. */
static mail_job stop_job;

/* Delay before attempt i + 1 (the header's "1 s then 5 s apart"). */
static const unsigned retry_delay_ms[ATTEMPTS - 1] = {1000, 5000};

#define LOG(m, level, ...)                                                                         \
    do {                                                                                           \
        if ((m)->log != NULL)                                                                      \
            (m)->log(level, "tickets", __VA_ARGS__);                                               \
    } while (0)

/* ---- addresses ---- */

static bool has_crlf(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") != NULL;
}

/* A bare addr-spec as we accept it: local@domain in visible ASCII, without the characters
 * that would let it escape a header or an SMTP command (<>, quotes, commas, spaces...). */
static bool address_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > ADDRESS_MAX)
        return false;
    const char *at = strrchr(s, '@');
    if (at == NULL || at == s || at[1] == '\0' || strchr(s, '@') != at)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < 0x21 || *p > 0x7e || strchr("<>()[],;:\\\"", *p) != NULL)
            return false;
    return true;
}

/* Splits "Name <addr>" (or a bare "addr") into *name (NULL when absent) and *addr. */
static bool parse_from(const char *from, char **name, char **addr)
{
    *name = *addr = NULL;
    if (from == NULL || has_crlf(from))
        return false;
    const char *lt = strchr(from, '<');
    if (lt == NULL) {
        *addr = g_strstrip(g_strdup(from));
    } else {
        const char *gt = strchr(lt, '>');
        if (gt == NULL)
            return false;
        for (const char *p = gt + 1; *p; p++)
            if (!g_ascii_isspace(*p))
                return false; /* text after '>' is not part of any form we accept */
        *addr = g_strndup(lt + 1, (gsize)(gt - lt - 1));
        char *n = g_strstrip(g_strndup(from, (gsize)(lt - from)));
        size_t len = strlen(n);
        if (len >= 2 && n[0] == '"' && n[len - 1] == '"') {
            memmove(n, n + 1, len - 2);
            n[len - 2] = '\0';
        }
        if (n[0] != '\0')
            *name = n;
        else
            g_free(n);
    }
    if (!address_ok(*addr)) {
        g_free(*name);
        g_free(*addr);
        *name = *addr = NULL;
        return false;
    }
    return true;
}

/* ---- formatting ---- */

static bool is_ascii(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80)
            return false;
    return true;
}

/* Bytes in the UTF-8 sequence starting at p (1 for a stray byte), never past the end. */
static size_t utf8_char_len(const unsigned char *p)
{
    size_t n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 1;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return i; /* truncated or invalid: stop before the byte that does not belong */
    return n;
}

/* RFC 2047 B encoding of s as one or more encoded-words, folded onto continuation lines.
 * Words end on character boundaries (RFC 2047 section 5: no character split across words). */
static void append_encoded_words(GString *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    bool first = true;
    while (*p) {
        size_t n = 0;
        while (p[n]) {
            size_t c = utf8_char_len(p + n);
            if (n + c > WORD_BYTES_MAX)
                break;
            n += c;
        }
        char *b64 = g_base64_encode(p, n);
        g_string_append_printf(out, "%s=?UTF-8?B?%s?=", first ? "" : "\r\n ", b64);
        g_free(b64);
        p += n;
        first = false;
    }
}

/* A header value: as is when ASCII, else encoded-words. CR and LF, which only a caller that
 * skipped tickets_mail_send's checks could pass, become spaces so no header can be injected. */
static void append_header_text(GString *out, const char *s)
{
    char *clean = g_strdup(s ? s : "");
    g_strdelimit(clean, "\r\n", ' ');
    if (is_ascii(clean))
        g_string_append(out, clean);
    else
        append_encoded_words(out, clean);
    g_free(clean);
}

/* The From value: the display name encoded or quoted as needed, then <addr>. */
static void append_from(GString *out, const char *from)
{
    char *name = NULL, *addr = NULL;
    if (!parse_from(from, &name, &addr)) {
        append_header_text(out, from);
        return;
    }
    if (name != NULL && !is_ascii(name)) {
        append_encoded_words(out, name);
        g_string_append_c(out, ' ');
    } else if (name != NULL && strpbrk(name, "()<>[]:;@\\,.\"") != NULL) {
        g_string_append_c(out, '"');
        for (const char *p = name; *p; p++) {
            if (*p == '"' || *p == '\\')
                g_string_append_c(out, '\\');
            g_string_append_c(out, *p);
        }
        g_string_append(out, "\" ");
    } else if (name != NULL) {
        g_string_append_printf(out, "%s ", name);
    }
    g_string_append_printf(out, "<%s>", addr);
    g_free(name);
    g_free(addr);
}

/* RFC 5322 date in UTC; names spelled out here so the locale cannot change them. */
static void append_date(GString *out, int64_t now_unix)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)now_unix;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    g_string_append_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
                           days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Quoted-printable (RFC 2045 section 6.7). Any line break in text (LF, CRLF or CR) becomes a
 * hard CRLF; encoded lines stay within 76 characters with soft breaks, which never split an
 * "=XX"; whitespace before a hard break is encoded so no transport can strip it; a '.' that
 * starts a line is encoded too, so the body never depends on SMTP dot-stuffing. */
static void qp_encode(GString *out, const char *text)
{
    size_t col = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            if (*p == '\r' && p[1] == '\n')
                p++;
            g_string_append(out, "\r\n");
            col = 0;
            continue;
        }
        bool line_end = p[1] == '\0' || p[1] == '\r' || p[1] == '\n';
        bool blank = *p == ' ' || *p == '\t';
        bool literal = (*p >= 33 && *p <= 126 && *p != '=') || (blank && !line_end);
        size_t n = literal ? 1 : 3;
        if (col + n > QP_LINE_MAX - 1) { /* keep room for the soft break's '=' */
            g_string_append(out, "=\r\n");
            col = 0;
        }
        if (col == 0 && *p == '.') { /* decided after the break: it may start a new line */
            literal = false;
            n = 3;
        }
        if (literal)
            g_string_append_c(out, (char)*p);
        else
            g_string_append_printf(out, "=%02X", *p);
        col += n;
    }
    if (col > 0)
        g_string_append(out, "\r\n");
}

char *tickets_mail_format(const char *from, const char *to, const char *subject, const char *text,
                          int64_t now_unix, const char *message_id)
{
    GString *out = g_string_new(NULL);
    append_date(out, now_unix);
    g_string_append(out, "From: ");
    append_from(out, from);
    g_string_append(out, "\r\nTo: ");
    append_header_text(out, to);
    g_string_append(out, "\r\nSubject: ");
    append_header_text(out, subject);
    g_string_append(out, "\r\nMessage-ID: ");
    bool bracketed = message_id != NULL && message_id[0] == '<';
    g_string_append(out, bracketed ? "" : "<");
    append_header_text(out, message_id);
    g_string_append(out, bracketed ? "" : ">");
    g_string_append(out, "\r\nMIME-Version: 1.0\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n"
                         "Content-Transfer-Encoding: quoted-printable\r\n"
                         "\r\n");
    qp_encode(out, text ? text : "");
    return g_string_free(out, FALSE);
}

/* "<32 random hex digits@domain>": unique without any state shared between nodes. */
static char *new_message_id(const char *domain)
{
    uint8_t r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (uint8_t)g_random_int(); /* still unique enough for an id, not a secret */
    char hex[2 * sizeof r + 1];
    for (size_t i = 0; i < sizeof r; i++)
        g_snprintf(hex + 2 * i, 3, "%02x", r[i]);
    return g_strdup_printf("<%s@%s>", hex, domain);
}

/* ---- delivery (mail thread) ---- */

static bool write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* <dir>/<unixtime>-<n>.eml, written as .tmp and renamed so that a reader never sees half a
 * message; 0600 because the body holds a sign-in link. */
static bool write_outbox(tickets_mail *m, const char *msg, char **why)
{
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    char *path = NULL;
    do { /* another process may use the same folder: skip names already taken */
        g_free(path);
        path = g_strdup_printf("%s/%" G_GINT64_FORMAT "-%u.eml", m->outbox_dir, now,
                               ++m->file_counter);
    } while (g_file_test(path, G_FILE_TEST_EXISTS));
    char *tmp = g_strconcat(path, ".tmp", NULL);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write_all(fd, msg, strlen(msg));
    int err = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        *why = g_strdup_printf("cannot write %s: %s", path, g_strerror(err));
        g_unlink(tmp);
    }
    g_free(tmp);
    g_free(path);
    return ok;
}

typedef struct upload {
    const char *data;
    size_t len, pos;
} upload;

static size_t on_read(char *buf, size_t size, size_t n, void *user)
{
    upload *u = user;
    size_t left = u->len - u->pos, room = size * n;
    size_t k = left < room ? left : room;
    memcpy(buf, u->data + u->pos, k);
    u->pos += k;
    return k;
}

static void smtp_options(tickets_mail *m, CURL *curl, struct curl_slist *rcpt, upload *u)
{
    curl_easy_setopt(curl, CURLOPT_URL, m->smtp_url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
    char *mail_from = g_strdup_printf("<%s>", m->from_addr);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from); /* curl copies strings */
    g_free(mail_from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, u);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u->len);
    /* smtp:// upgrades with STARTTLS; only when required does a server without it fail. */
    curl_easy_setopt(curl, CURLOPT_USE_SSL,
                     (long)(m->require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
    if (m->smtp_user != NULL)
        curl_easy_setopt(curl, CURLOPT_USERNAME, m->smtp_user);
    if (m->smtp_password != NULL)
        curl_easy_setopt(curl, CURLOPT_PASSWORD, m->smtp_password);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, m->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
}

static bool send_smtp(tickets_mail *m, const char *to, const char *msg, char **why)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        *why = g_strdup("curl_easy_init failed");
        return false;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    char *rcpt_addr = g_strdup_printf("<%s>", to);
    struct curl_slist *rcpt = curl_slist_append(NULL, rcpt_addr);
    upload u = {.data = msg, .len = strlen(msg)};
    smtp_options(m, curl, rcpt, &u);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) /* curl's messages quote server replies, never the password */
        *why = g_strdup(errbuf[0] ? errbuf : curl_easy_strerror(rc));
    curl_slist_free_all(rcpt);
    g_free(rcpt_addr);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK;
}

static bool mail_stopping(tickets_mail *m)
{
    g_mutex_lock(&m->stop_lock);
    bool stopping = m->stopping;
    g_mutex_unlock(&m->stop_lock);
    return stopping;
}

/* Waits ms before a retry; false when the mailer is stopping (then no more attempts). */
static bool retry_wait(tickets_mail *m, unsigned ms)
{
    gint64 until = g_get_monotonic_time() + (gint64)ms * 1000;
    g_mutex_lock(&m->stop_lock);
    while (!m->stopping && g_cond_wait_until(&m->stop_cond, &m->stop_lock, until))
        ;
    bool go_on = !m->stopping;
    g_mutex_unlock(&m->stop_lock);
    return go_on;
}

static void deliver(tickets_mail *m, const mail_job *job)
{
    char *id = new_message_id(m->domain);
    char *msg = tickets_mail_format(m->from, job->to, job->subject, job->text,
                                    g_get_real_time() / G_USEC_PER_SEC, id);
    char *why = NULL;
    bool ok = false;
    /* At shut-down the queue is sent once, without the retry waits: a stop must not hang on
     * an SMTP server that is away. A job already waiting for its retry stops there. */
    int attempts = 0;
    int max_attempts = mail_stopping(m) ? 1 : ATTEMPTS;
    while (attempts < max_attempts && !ok) {
        if (attempts > 0 && !retry_wait(m, retry_delay_ms[attempts - 1]))
            break;
        g_free(why);
        why = NULL;
        ok = m->outbox_dir ? write_outbox(m, msg, &why) : send_smtp(m, job->to, msg, &why);
        attempts++;
    }
    /* Logged before counted: whoever sees the count finds the line in the log. */
    if (ok) {
        LOG(m, ODEON_LOG_VERBOSE, "mail %s to %s %s", id, job->to,
            m->outbox_dir ? "written to the outbox" : "sent");
        g_atomic_int_inc(&m->sent);
    } else {
        LOG(m, ODEON_LOG_ERROR, "mail to %s dropped after %d attempt(s): %s", job->to, attempts,
            why);
        g_atomic_int_inc(&m->failed);
    }
    g_free(why);
    /* The message holds a sign-in link: do not leave it in freed memory (OPENSSL_cleanse,
     * unlike memset, is not removed as a dead store before free). */
    OPENSSL_cleanse(msg, strlen(msg));
    g_free(msg);
    g_free(id);
}

static void job_free(mail_job *job)
{
    g_free(job->to);
    g_free(job->subject);
    if (job->text != NULL)
        OPENSSL_cleanse(job->text, strlen(job->text));
    g_free(job->text);
    g_free(job);
}

static gpointer mail_thread(gpointer data)
{
    tickets_mail *m = data;
    for (;;) {
        mail_job *job = g_async_queue_pop(m->queue);
        if (job == &stop_job)
            break;
        deliver(m, job);
        job_free(job);
    }
    return NULL;
}

/* ---- lifetime ---- */

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? g_strdup(s) : NULL;
}

static void mail_clear(tickets_mail *m)
{
    g_free(m->outbox_dir);
    g_free(m->smtp_url);
    g_free(m->smtp_user);
    if (m->smtp_password != NULL)
        OPENSSL_cleanse(m->smtp_password, strlen(m->smtp_password));
    g_free(m->smtp_password);
    g_free(m->from);
    g_free(m->from_addr);
    g_free(m->domain);
    if (m->queue != NULL)
        g_async_queue_unref(m->queue);
    g_mutex_clear(&m->stop_lock);
    g_cond_clear(&m->stop_cond);
    g_free(m);
}

/* Where the mail goes: an outbox folder we can write, or an smtp(s):// URL. */
static bool check_target(tickets_mail *m, char **error)
{
    if (m->outbox_dir != NULL) {
        if (g_mkdir_with_parents(m->outbox_dir, 0700) != 0 || access(m->outbox_dir, W_OK) != 0) {
            *error = g_strdup_printf("mail: outbox %s is not writable: %s", m->outbox_dir,
                                     g_strerror(errno));
            return false;
        }
        return true;
    }
    if (m->smtp_url == NULL) {
        *error = g_strdup("mail: set outbox_dir or smtp_url");
        return false;
    }
    if (!g_str_has_prefix(m->smtp_url, "smtp://") && !g_str_has_prefix(m->smtp_url, "smtps://")) {
        *error = g_strdup("mail: smtp_url must start with smtp:// or smtps://");
        return false;
    }
    return true;
}

tickets_mail *tickets_mail_new(const tickets_mail_config *cfg, mail_log_fn log, char **error)
{
    *error = NULL;
    if (cfg == NULL) {
        *error = g_strdup("mail: no configuration");
        return NULL;
    }
    tickets_mail *m = g_new0(tickets_mail, 1);
    g_mutex_init(&m->stop_lock);
    g_cond_init(&m->stop_cond);
    m->log = log;
    m->outbox_dir = dup_or_null(cfg->outbox_dir);
    m->smtp_url = dup_or_null(cfg->smtp_url);
    m->smtp_user = dup_or_null(cfg->smtp_user);
    m->smtp_password = dup_or_null(cfg->smtp_password);
    m->require_tls = cfg->smtp_require_tls;
    m->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    char *name = NULL;
    if (!parse_from(cfg->from, &name, &m->from_addr)) {
        *error = g_strdup_printf("mail: from is not an address: %s",
                                 cfg->from && !has_crlf(cfg->from) ? cfg->from : "(unusable)");
        mail_clear(m);
        return NULL;
    }
    g_free(name);
    m->from = g_strdup(cfg->from);
    m->domain = g_strdup(strrchr(m->from_addr, '@') + 1);
    if (!check_target(m, error)) {
        mail_clear(m);
        return NULL;
    }
    m->queue = g_async_queue_new();
    GError *gerr = NULL;
    m->thread = g_thread_try_new("tickets-mail", mail_thread, m, &gerr);
    if (m->thread == NULL) {
        *error = g_strdup_printf("mail: cannot start the mail thread: %s", gerr->message);
        g_error_free(gerr);
        mail_clear(m);
        return NULL;
    }
    return m;
}

void tickets_mail_free(tickets_mail *mail)
{
    if (mail == NULL)
        return;
    g_mutex_lock(&mail->stop_lock);
    mail->stopping = true;
    g_cond_broadcast(&mail->stop_cond);
    g_mutex_unlock(&mail->stop_lock);
    g_async_queue_push(mail->queue, &stop_job);
    g_thread_join(mail->thread);
    mail_clear(mail);
}

int tickets_mail_send(tickets_mail *mail, const char *to, const char *subject, const char *text)
{
    if (mail == NULL || !address_ok(to) || subject == NULL || has_crlf(subject))
        return ODEON_EINVAL;
    mail_job *job = g_new0(mail_job, 1);
    job->to = g_strdup(to);
    job->subject = g_strdup(subject);
    job->text = g_strdup(text ? text : "");
    g_async_queue_push(mail->queue, job);
    return 0;
}

unsigned tickets_mail_sent(const tickets_mail *mail)
{
    return (unsigned)g_atomic_int_get(&mail->sent);
}

unsigned tickets_mail_failed(const tickets_mail *mail)
{
    return (unsigned)g_atomic_int_get(&mail->failed);
}
