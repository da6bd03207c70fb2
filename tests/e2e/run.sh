#!/bin/sh
# Browser (end-to-end) tests entry point (automake TESTS / make check): Debian's chromium
# driven by playwright-core against the real server. Environment: see ../node-suite.sh.
set -eu
if [ ! -x "${ODEON_CHROMIUM:-/usr/bin/chromium}" ]; then
  # scripts/test installs it; a missing browser fails the suite rather than skipping it.
  echo "e2e/run.sh: chromium is not installed (apt-get install chromium)" >&2
  exit 1
fi
exec sh "$(dirname -- "$0")/../node-suite.sh" e2e playwright-core
