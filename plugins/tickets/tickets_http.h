/*
 * tickets_http.h - the plugin's plain HTTP routes on the API port: the public, read-only
 * GET /api/events routes (JSON with ETag and Cache-Control, so a CDN can carry a rush) and
 * POST /api/stripe/webhook.
 */
#ifndef ODEON_TICKETS_HTTP_H
#define ODEON_TICKETS_HTTP_H

#include <stdbool.h>

#include "tickets_filter.h"

int tickets_http_init(void);
void tickets_http_shutdown(void);

#endif
