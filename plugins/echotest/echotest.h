/*
 * echotest.h - odeon.plugin.echotest: the diagnostics plugin.
 *
 * A client attaches, sends {"request":"ping"} (answered at once with {"echotest":"pong"}) or
 * Janus-echotest-style settings {"audio":bool,"video":bool,"bitrate":int} (acknowledged, then
 * answered with an event carrying the transaction). Media echo arrives with the WebRTC stack.
 */
#ifndef ODEON_PLUGIN_ECHOTEST_H
#define ODEON_PLUGIN_ECHOTEST_H

#include "plugin/plugin.h"

#define ECHOTEST_PACKAGE "odeon.plugin.echotest"

/* Error codes in the plugin's events, the same numbers as Janus's echotest. */
enum {
    ECHOTEST_ERROR_NO_MESSAGE = 411,
    ECHOTEST_ERROR_INVALID_JSON = 412,
    ECHOTEST_ERROR_INVALID_ELEMENT = 413,
    ECHOTEST_ERROR_INVALID_SDP = 414,
    ECHOTEST_ERROR_UNKNOWN_ERROR = 499,
};

extern const odeon_plugin odeon_plugin_descriptor;

#endif
