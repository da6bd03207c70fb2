/*
 * echotest.h - odeon.plugin.echotest: the diagnostics plugin.
 *
 * A client attaches, sends {"request":"ping"} (answered at once with {"echotest":"pong"}) or
 * Janus-echotest-style settings {"audio":bool, "video":bool, "bitrate":int, "keyframe":bool,
 * "audiocodec":"opus", "videocodec":"vp8"} with or without a jsep offer (acknowledged, then
 * answered with an event carrying the transaction, and the SDP answer when there was an offer).
 * Once the peer connection is up, every RTP packet of an enabled kind goes straight back to the
 * sender on the media loop thread, and its RTCP feedback too (REMB capped to "bitrate"), so a
 * browser sees and hears itself. When the connection goes, the client gets
 * {"echotest":"event","result":"done"}.
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
