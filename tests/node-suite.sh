#!/bin/sh
# Runs one Node test suite (a folder of *.test.mjs under tests/) with node's test runner; the
# shared body of integration/run.sh and e2e/run.sh.
#
#   node-suite.sh SUITE [extra npm package that must be installed]
#
# Environment: ODEON_BIN (the server, required unless ODEON_TARGET=janus), ODEON_PLUGINS_DIR,
# ODEON_SRCDIR, ODEON_HTML_DIR, ODEON_TARGET, and ODEON_TEST_FILES to run only some files
# (paths relative to tests/).
set -eu

suite=$1
package=${2:-ws}
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
cd "$here"

if [ "${ODEON_TARGET:-odeon}" = odeon ]; then
  if [ -z "${ODEON_BIN:-}" ] || [ ! -x "$ODEON_BIN" ]; then
    echo "$suite/run.sh: ODEON_BIN must point at the odeon server binary (e.g. build/default/src/odeon)" >&2
    exit 1
  fi
fi
if ! command -v node >/dev/null 2>&1; then
  echo "$suite/run.sh: node is required" >&2
  exit 1
fi
# npm ci also when package-lock.json changed since the last install (a new dependency such as
# @roamhq/wrtc): npm rewrites node_modules/.package-lock.json on every install.
if [ ! -d node_modules/ws ] || [ ! -d "node_modules/$package" ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
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
exec node --test $concurrency "$suite"/*.test.mjs
