#!/bin/sh
# Generate ./configure and the Makefile.in files from configure.ac and Makefile.am.
# Needs the Debian packages autoconf, automake, libtool and pkg-config. Then:
#   ./configure && make && make check      (or an out-of-tree build: see scripts/build)
set -e
cd "$(dirname "$0")"
for tool in autoreconf libtoolize pkg-config; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "autogen.sh: $tool not found: install the Debian packages autoconf automake libtool pkg-config" >&2
        exit 1
    fi
done
mkdir -p m4 build-aux
autoreconf --install --force --warnings=all,no-portability
