#!/bin/sh
# Browser (end-to-end) tests entry point (automake TESTS / make check): Debian's chromium
# driven by playwright-core against the real server. Same environment as integration/run.sh.
set -eu

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
cd "$here/.."

if [ -z "${ODEON_BIN:-}" ] || [ ! -x "$ODEON_BIN" ]; then
  echo "e2e/run.sh: ODEON_BIN must point at the odeon server binary" >&2
  exit 1
fi
if [ ! -x "${ODEON_CHROMIUM:-/usr/bin/chromium}" ]; then
  # CI installs it (scripts/build); a missing browser must fail, not skip, there.
  echo "e2e/run.sh: chromium is not installed (apt-get install chromium)" >&2
  exit 1
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/ws ]; then
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
exec node --test $concurrency e2e/*.test.mjs
