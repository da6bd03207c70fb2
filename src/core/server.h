/*
 * server.h - start-up and shut-down of a node, in one ordered table.
 *
 * Each step starts one subsystem and knows how to stop it; the server runs the steps in order,
 * runs the main loop until SIGINT/SIGTERM, then stops the started steps in reverse. A step that
 * fails stops what was already started and the server exits non-zero.
 */
#ifndef ODEON_CORE_SERVER_H
#define ODEON_CORE_SERVER_H

#include "core/config.h"

/* Run a node with this configuration (borrowed). Returns the process exit code. */
int odeon_server_run(const odeon_config *config);

#endif
