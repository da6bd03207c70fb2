#!/bin/sh
# Integration tests entry point (automake TESTS / make check).
#
# Environment:
#   ODEON_BIN          odeon server binary (required unless ODEON_TARGET=janus)
#   ODEON_PLUGINS_DIR  folder holding the plugin shared objects
#   ODEON_SRCDIR       repository root (for conf/odeon.conf checks)
#   ODEON_HTML_DIR     static html folder (optional)
#   ODEON_TARGET       odeon (default) or janus (validates the tests against Janus)
#   ODEON_TEST_FILES   optional list of test files (relative to tests/) instead of all
set -eu

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
cd "$here/.."

target=${ODEON_TARGET:-odeon}
if [ "$target" = odeon ]; then
  if [ -z "${ODEON_BIN:-}" ]; then
    echo "run.sh: ODEON_BIN is not set; point it at the odeon server binary (e.g. build/default/src/odeon)" >&2
    exit 1
  fi
  if [ ! -x "$ODEON_BIN" ]; then
    echo "run.sh: ODEON_BIN=$ODEON_BIN is not an executable file" >&2
    exit 1
  fi
fi

if ! command -v node >/dev/null 2>&1; then
  echo "run.sh: node (>= 20) is required" >&2
  exit 1
fi

if [ ! -d node_modules/ws ]; then
  npm ci --no-audit --no-fund
fi

# Files run one at a time (each starts its own servers). --test-concurrency exists from Node 20;
# Debian 12's own Node 18 lacks it, and there the runner's default applies.
concurrency=
if [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; then
  concurrency=--test-concurrency=1
fi

if [ -n "${ODEON_TEST_FILES:-}" ]; then
  # shellcheck disable=SC2086
  exec node --test $concurrency $ODEON_TEST_FILES
fi
exec node --test $concurrency integration/*.test.mjs
