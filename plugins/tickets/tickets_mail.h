/*
 * tickets_mail.h - outgoing email (magic links, invitations): through an SMTP server with
 * libcurl (smtp:// with STARTTLS when the server offers it or when required, or smtps://),
 * or, for development and tests, as .eml files in an outbox folder.
 *
 * A mailer owns one thread that sends its queue in order; a message that fails is retried
 * (3 attempts, 1 s then 5 s apart) and then dropped with one error in the log (the address is
 * logged, the body never: it holds a sign-in link). tickets_mail_send never blocks.
 * SMTP uses curl_easy_init: the plugin calls curl_global_init once in its init.
 */
#ifndef ODEON_TICKETS_MAIL_H
#define ODEON_TICKETS_MAIL_H

#include <stdbool.h>
#include <stdint.h>

#include "plugin/plugin.h"

/* Copied by tickets_mail_new. */
typedef struct tickets_mail_config {
    const char *outbox_dir;    /* when set: write <outbox_dir>/<time>-<n>.eml, no SMTP */
    const char *smtp_url;      /* "smtp://host:587" or "smtps://host:465" */
    bool smtp_require_tls;     /* smtp://: refuse to send without STARTTLS */
    const char *smtp_user;     /* optional */
    const char *smtp_password; /* optional; never logged */
    const char *from;          /* "Odeon <events@example.org>" */
    long timeout_ms;
} tickets_mail_config;

typedef struct tickets_mail tickets_mail;

/* log: the core's log callback (messages are module "tickets"; may be NULL). NULL with *error
 * when the config is unusable (neither outbox nor SMTP, outbox not writable, bad from). The
 * outbox folder is created (0700) when missing; it wins over smtp_url when both are set. */
tickets_mail *tickets_mail_new(const tickets_mail_config *cfg,
                               void (*log)(odeon_log_level, const char *, const char *, ...),
                               char **error);
/* Sends what is queued (one attempt each, without the retry waits), then stops the thread. */
void tickets_mail_free(tickets_mail *mail);

/* Queues a plain-text UTF-8 message. 0, or ODEON_EINVAL when to/subject hold CR or LF or to
 * is not an address (header injection is refused, not cleaned). */
int tickets_mail_send(tickets_mail *mail, const char *to, const char *subject, const char *text);

/* Messages sent (or written) and given up on since start: for tests and status. */
unsigned tickets_mail_sent(const tickets_mail *mail);
unsigned tickets_mail_failed(const tickets_mail *mail);

/* The RFC 5322 message (CRLF lines: Date, From, To, Subject (RFC 2047 when not ASCII),
 * Message-ID, MIME-Version, Content-Type text/plain; charset=utf-8,
 * Content-Transfer-Encoding: quoted-printable, then the body). Date is UTC; a non-ASCII display
 * name in from is RFC 2047 encoded too; message_id may come with or without its <>; any line
 * break in text becomes CRLF. g_free it. Pure. */
char *tickets_mail_format(const char *from, const char *to, const char *subject, const char *text,
                          int64_t now_unix, const char *message_id);

#endif
