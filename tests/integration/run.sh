#!/bin/sh
# Integration tests entry point (automake TESTS / make check): the real server driven over
# HTTP and WebSocket. Environment: see ../node-suite.sh; ODEON_TARGET=janus runs the core-API
# tests against Debian's Janus to check that they encode what Janus does.
set -eu
exec sh "$(dirname -- "$0")/../node-suite.sh" integration
