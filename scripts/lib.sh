# Shared helpers for scripts/build, scripts/test and scripts/quickstart.
#
# Sourced, never run. The caller sets ODEON_ROOT (the repository root, resolved from the
# caller's own path) before sourcing. Everything here is idempotent: a second call finds the
# work done and returns quickly, so the scripts can call each other freely.

# shellcheck shell=bash

: "${ODEON_ROOT:?ODEON_ROOT must be set before sourcing scripts/lib.sh}"

ODEON_DEPS_DIR="${ODEON_DEPS_DIR:-$ODEON_ROOT/.deps}"
ODEON_SRTP_PREFIX="$ODEON_DEPS_DIR/libsrtp2"

# Debian packages needed to build and test Odeon (Debian 12 names).
ODEON_APT_PACKAGES=(
    build-essential autoconf automake libtool pkg-config git
    libglib2.0-dev libjansson-dev libwebsockets-dev libnice-dev libssl-dev libpq-dev
    libcurl4-openssl-dev libopus-dev libvpx-dev libcmocka-dev
    postgresql        # the server: scripts/pg runs a private cluster (quick start and tests)
    curl python3      # scripts/demo-seed: the quick start's demo event, through the API
    dpkg-dev          # dpkg-source, used by `apt-get source libsrtp2`
    clang libclang-rt-dev   # libFuzzer targets and clang's sanitizer runtimes
)

# Only the test suite needs these (scripts/test): the browser for tests/e2e, the openssl
# command that makes the TLS test's certificate, and pkill (procps) for the fault test.
ODEON_TEST_APT_PACKAGES=(chromium openssl procps)

odeon_say() { printf '==> %s\n' "$*" >&2; }
odeon_warn() { printf 'warning: %s\n' "$*" >&2; }
odeon_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

odeon_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        odeon_die "need root to run: $* (install sudo or run as root)"
    fi
}

# apt-get with quiet output; errors still reach stderr.
odeon_apt() {
    odeon_as_root env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get -qq -o=Dpkg::Use-Pty=0 "$@"
}

ODEON_APT_UPDATED=0
odeon_apt_update() {
    if [ "$ODEON_APT_UPDATED" -eq 0 ]; then
        odeon_say "apt-get update"
        odeon_apt update
        ODEON_APT_UPDATED=1
    fi
}

odeon_pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# Install the project's Debian packages that are missing, plus any named as arguments, in one
# apt-get call. Node.js and npm are installed only when `node` is missing (a machine may carry a
# newer Node from elsewhere).
odeon_ensure_packages() {
    if [ "${ODEON_SKIP_APT:-0}" = 1 ]; then
        return 0
    fi
    command -v dpkg-query >/dev/null 2>&1 || {
        odeon_warn "dpkg-query not found: not a Debian system, skipping package installation"
        return 0
    }
    local missing=() p
    for p in "${ODEON_APT_PACKAGES[@]}" "$@"; do
        odeon_pkg_installed "$p" || missing+=("$p")
    done
    if ! command -v node >/dev/null 2>&1; then
        odeon_pkg_installed nodejs || missing+=(nodejs)
        odeon_pkg_installed npm || missing+=(npm)
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    odeon_say "installing Debian packages: ${missing[*]}"
    odeon_apt_update
    odeon_apt install -y --no-install-recommends "${missing[@]}" >/dev/null
}

# Print deb-src twins of the Debian entries of one apt source file (deb822 or one-line format).
# Only entries served by Debian (a debian.org URI, or signed with Debian's archive keyring) are
# mirrored; third-party repositories (nodesource, Google, Docker...) are left alone.
odeon__deb_src_twin() {
    case "$1" in
    *.sources)
        awk '
            function flush(   i, t, isdeb, keep) {
                if (n == 0) return
                isdeb = 0; keep = 0
                if (types ~ /(^|[ \t])deb([ \t]|$)/) isdeb = 1
                if (uris ~ /debian\.org/ || signed ~ /debian-archive-keyring/) keep = 1
                if (enabled ~ /^[ \t]*(no|false|0)[ \t]*$/) keep = 0
                if (isdeb && keep) {
                    if (out++) print ""
                    print "Types: deb-src"
                    for (i = 1; i <= n; i++) if (line[i] !~ /^(Types|Architectures|Enabled):/ ) {
                        # drop continuation lines of dropped fields
                        if (line[i] ~ /^[ \t]/ && skipcont) continue
                        print line[i]
                    }
                }
                n = 0; types = ""; uris = ""; signed = ""; enabled = ""
            }
            /^#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                if ($0 ~ /^[^ \t]/) {
                    field = $0; sub(/:.*/, "", field)
                    skipcont = (field == "Types" || field == "Architectures" || field == "Enabled")
                    value = $0; sub(/^[^:]*:[ \t]*/, "", value)
                    if (field == "Types") types = value
                    if (field == "URIs") uris = value
                    if (field == "Signed-By") signed = value
                    if (field == "Enabled") enabled = value
                } else if (skipcont) {
                    next
                }
                line[++n] = $0
            }
            END { flush() }
        ' "$1"
        ;;
    *)
        awk '
            /^[ \t]*deb[ \t]/ {
                if ($0 !~ /debian\.org/ && $0 !~ /debian-archive-keyring/) next
                sub(/^[ \t]*deb/, "deb-src")
                print
            }
        ' "$1"
        ;;
    esac
}

# Make `apt-get source` work: add deb-src entries mirroring the machine's Debian deb entries,
# in files of our own (never editing the machine's files), then refresh the package lists.
odeon_ensure_deb_src() {
    if apt-cache showsrc "$1" 2>/dev/null | grep -c '^Package:' >/dev/null; then
        return 0
    fi
    local f name out
    local -a files=()
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        case "$f" in */odeon-deb-src-*) continue ;; esac
        files+=("$f")
    done
    for f in "${files[@]}"; do
        out="$(odeon__deb_src_twin "$f")"
        [ -n "$out" ] || continue
        name="$(basename "$f")"
        case "$f" in
        *.sources) name="odeon-deb-src-${name%.sources}.sources" ;;
        *) name="odeon-deb-src-${name%.list}.list" ;;
        esac
        odeon_say "adding /etc/apt/sources.list.d/$name (deb-src twin of $f)"
        printf '# Added by Odeon scripts/build: source entries mirroring %s\n%s\n' "$f" "$out" |
            odeon_as_root tee "/etc/apt/sources.list.d/$name" >/dev/null
    done
    ODEON_APT_UPDATED=0
    odeon_apt_update
    apt-cache showsrc "$1" 2>/dev/null | grep -c '^Package:' >/dev/null ||
        odeon_die "no source package $1 after adding deb-src entries (see /etc/apt/sources.list.d/odeon-deb-src-*)"
}

# Build libsrtp2 on OpenSSL from Debian's source package into $ODEON_SRTP_PREFIX, as a static
# library compiled with -fPIC. Debian's binary libsrtp2 is built on NSS, which costs ~26 us per
# AES-GCM packet against ~0.6 us with OpenSSL at 5,000 contexts; configure refuses it.
# Static linking keeps the distro libsrtp2.so.1 (NSS) out of the process at run time.
odeon_build_srtp() {
    local stamp="$ODEON_SRTP_PREFIX/.odeon-stamp"
    local want="libsrtp2 openssl static fPIC v2"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
        [ -f "$ODEON_SRTP_PREFIX/lib/libsrtp2.a" ] &&
        [ -f "$ODEON_SRTP_PREFIX/lib/pkgconfig/libsrtp2.pc" ]; then
        return 0
    fi
    odeon_say "building libsrtp2 on OpenSSL into $ODEON_SRTP_PREFIX"
    odeon_ensure_deb_src libsrtp2
    local src="$ODEON_DEPS_DIR/src"
    rm -rf "$src" "$ODEON_SRTP_PREFIX"
    mkdir -p "$src"
    (
        cd "$src"
        # Quiet, but keep errors; apt-get warns about unsandboxed downloads as root.
        apt-get source -qq libsrtp2 >apt-source.log 2>&1 || {
            cat apt-source.log >&2
            exit 1
        }
    ) || odeon_die "apt-get source libsrtp2 failed"
    local dir='' d
    for d in "$src"/libsrtp2-*/; do
        [ -d "$d" ] && dir="${d%/}" && break
    done
    [ -n "$dir" ] || odeon_die "apt-get source libsrtp2 produced no source tree in $src"
    (
        cd "$dir"
        ./configure --prefix="$ODEON_SRTP_PREFIX" --enable-openssl \
            CFLAGS="-O2 -g -fPIC" >configure.log 2>&1 || {
            tail -n 40 configure.log >&2
            exit 1
        }
        # Only the static library: upstream's `make install` then installs no .so, so nothing
        # can pick a shared libsrtp2 at run time.
        make -j"$(nproc)" libsrtp2.a >make.log 2>&1 || {
            tail -n 60 make.log >&2
            exit 1
        }
        make install >>make.log 2>&1 || {
            tail -n 60 make.log >&2
            exit 1
        }
    ) || odeon_die "building libsrtp2 failed (logs in $dir)"
    local pc="$ODEON_SRTP_PREFIX/lib/pkgconfig/libsrtp2.pc"
    if [ ! -f "$pc" ] || [ ! -f "$ODEON_SRTP_PREFIX/lib/libsrtp2.a" ]; then
        odeon_die "libsrtp2 install incomplete in $ODEON_SRTP_PREFIX"
    fi
    # The library is static: its own dependencies (-lcrypto) belong on every link line, so
    # move Libs.private into Libs. The prefix is made relative to the .pc file, so that the
    # repository can move without a rebuild.
    awk '
        /^Libs\.private:/ { priv = $0; sub(/^Libs\.private:[ \t]*/, "", priv); next }
        /^prefix=/ { $0 = "prefix=${pcfiledir}/../.." }
        /^exec_prefix=/ { $0 = "exec_prefix=${prefix}" }
        { line[++n] = $0 }
        END { for (i = 1; i <= n; i++) { if (line[i] ~ /^Libs:/ && priv != "") line[i] = line[i] " " priv; print line[i] } }
    ' "$pc" >"$pc.tmp" && mv "$pc.tmp" "$pc"
    nm "$ODEON_SRTP_PREFIX/lib/libsrtp2.a" 2>/dev/null | grep -c ' U EVP_' >/dev/null ||
        odeon_die "libsrtp2 was built without OpenSSL (no EVP_ symbols in libsrtp2.a)"
    if nm "$ODEON_SRTP_PREFIX/lib/libsrtp2.a" 2>/dev/null | grep -c ' U PK11_' >/dev/null; then
        odeon_die "libsrtp2 was built on NSS (PK11_ symbols in libsrtp2.a)"
    fi
    printf '%s\n' "$want" >"$stamp"
}
