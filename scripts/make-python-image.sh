#!/usr/bin/env bash
# Makes a Python base image from Debian packages and imports it into berth under NAME
# (default python:3.7, the name the seed's Dockerfiles use), for machines that reach no
# container registry. Where one is reachable, `berth pull python:3.7` does the same job.
#
#   scripts/make-python-image.sh [--root DIR] [--cache DIR] [--suite SUITE] [--rebuild] [NAME]
#
# What is inside: Debian's python3 (3.11 on bookworm, whatever the NAME says), pip, sqlite3 and
# ssl modules, apt and dpkg (so `RUN apt-get update && apt-get install ...` works), `python`
# and `pip` on PATH as in the official image, pip allowed to install system-wide (no PEP 668
# marker; /etc/pip.conf break-system-packages), and THIS HOST's CA bundle, so `pip install`
# works behind a TLS-intercepting proxy whose CA the host trusts. No docs, man pages, locales
# or apt caches.
#
# Speed: the rootfs tarball is cached under the cache dir (default /var/cache/berth/python-image,
# or $BERTH_IMAGE_CACHE), keyed on this script, the suite, the architecture and the host's CA
# bundle; a second run only imports it (and does nothing when NAME already is that image). The
# .debs are cached too, so a rebuild after a key change downloads nothing already seen.
# Needs root and mmdebstrap (scripts/setup.sh installs it). The berth binary used is $BERTH,
# else target/x86_64-unknown-linux-gnu/release/berth of this checkout, else `berth` on PATH.
set -euo pipefail

usage() { grep -m1 '^#   scripts/make-python-image.sh' "$0" | sed 's/^# */usage: /' >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
root_args=()
cache=${BERTH_IMAGE_CACHE:-/var/cache/berth/python-image}
suite=bookworm
rebuild=0
name=python:3.7
while [ $# -gt 0 ]; do
    case $1 in
        --root) [ $# -ge 2 ] || usage; root_args=(--root "$2"); shift 2 ;;
        --root=*) root_args=(--root "${1#--root=}"); shift ;;
        --cache) [ $# -ge 2 ] || usage; cache=$2; shift 2 ;;
        --suite) [ $# -ge 2 ] || usage; suite=$2; shift 2 ;;
        --rebuild) rebuild=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "make-python-image: unknown option $1" >&2; usage ;;
        *) name=$1; shift ;;
    esac
done

if [ -n "${BERTH:-}" ]; then berth=$BERTH
elif [ -x "$repo/target/x86_64-unknown-linux-gnu/release/berth" ]; then berth=$repo/target/x86_64-unknown-linux-gnu/release/berth
elif command -v berth >/dev/null 2>&1; then berth=$(command -v berth)
else echo "make-python-image: no berth binary (set BERTH, or cargo build --release)" >&2; exit 1
fi
[ "$(id -u)" = 0 ] || { echo "make-python-image: run as root" >&2; exit 1; }
command -v mmdebstrap >/dev/null 2>&1 || {
    echo "make-python-image: mmdebstrap is missing (apt-get install mmdebstrap, or scripts/setup.sh)" >&2; exit 1; }

host_ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$host_ca" ] || { echo "make-python-image: the host has no CA bundle at $host_ca" >&2; exit 1; }
arch=$(dpkg --print-architecture)
packages=python3,python3-pip,python-is-python3,ca-certificates
# The key changes when anything that goes into the image changes.
key=$( { cat "$0"; echo "$suite $arch $packages"; cat "$host_ca"; \
         cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } | sha256sum | cut -c1-16)
mkdir -p "$cache"
chmod 0700 "$cache"
tarball=$cache/python-$suite-$arch-$key.tar
exec 9>"$cache/lock"
flock 9 # one build at a time; a second caller waits and then finds the tarball

say() { printf 'make-python-image: %s\n' "$*" >&2; }
t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }

if [ "$rebuild" = 1 ] || [ ! -s "$tarball" ]; then
    say "building the rootfs from Debian $suite ($packages); cache $cache"
    work=$(mktemp -d "${TMPDIR:-/tmp}/berth-pyimg.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    # Sources: the host's own when it runs the same suite (its mirror, updates and security),
    # else mmdebstrap's default mirror for the suite.
    mirrors=()
    host_codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    if [ -n "${DEBIAN_SOURCES:-}" ]; then mirrors=("$DEBIAN_SOURCES")
    elif [ "$host_codename" = "$suite" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
        mirrors=(/etc/apt/sources.list.d/debian.sources)
    elif [ "$host_codename" = "$suite" ] && grep -qs '^deb ' /etc/apt/sources.list; then
        mirrors=(/etc/apt/sources.list)
    fi
    mkdir -p "$cache/debs"
    cat >"$work/customize.sh" <<'EOF'
#!/bin/sh
# Runs on the finished rootfs ($1; $2 gets the python version): what the official python image has, the host's CAs, trim.
set -eu
r=$1
# pip may install system-wide, as in the official image (Debian 12 ships a PEP 668 marker).
rm -f "$r"/usr/lib/python3*/EXTERNALLY-MANAGED
cat >"$r/etc/pip.conf" <<'PIP'
[global]
break-system-packages = true
cert = /etc/ssl/certs/ca-certificates.crt
disable-pip-version-check = true
[install]
root-user-action = ignore
PIP
# The host's trust: its bundle, and its local CAs so that a later update-ca-certificates
# inside the image (an apt-get install of anything that triggers it) keeps them.
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    mkdir -p "$r/usr/local/share/ca-certificates"
    install -m 0644 /usr/local/share/ca-certificates/*.crt "$r/usr/local/share/ca-certificates/"
fi
[ -e "$r/usr/bin/python" ] || ln -s python3 "$r/usr/bin/python"
[ -e "$r/usr/bin/pip" ] || ln -s pip3 "$r/usr/bin/pip"
# Trim: caches and logs (docs, man pages and locales were never unpacked: dpkg path-exclude,
# kept in /etc/dpkg/dpkg.cfg.d so later installs inside the image skip them too).
rm -rf "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/var/cache/debconf/*-old \
    "$r"/var/lib/dpkg/*-old "$r"/var/log/* "$r"/root/.cache
mkdir -p "$r/var/lib/apt/lists/partial" "$r/var/cache/apt/archives/partial"
awk '/^Package: python3\.[0-9]+$/ { p = 1; next } /^Package:/ { p = 0 }
     p && /^Version:/ { sub(/-.*/, "", $2); print $2; exit }' "$r/var/lib/dpkg/status" >"$2/python-version"
EOF
    rm -rf "$cache/debs.new"
    # The chroot lives in memory when there is room (about 250 MB): dpkg's many small writes
    # are what take the time.
    scratch=${TMPDIR:-/tmp}
    if [ -w /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt 1048576 ]; then
        scratch=/dev/shm
    fi
    TMPDIR=$scratch mmdebstrap --mode=root --variant=apt --format=tar --include="$packages" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt=force-unsafe-io \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        --skip=download/empty --skip=essential/unlink --skip=output/dev \
        --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
        --setup-hook="sync-in $cache/debs /var/cache/apt/archives/" \
        --customize-hook="sync-out /var/cache/apt/archives $cache/debs.new" \
        --customize-hook="sh $work/customize.sh \"\$1\" $work" \
        "$suite" "$work/rootfs.tar" "${mirrors[@]}" >"$work/log" 2>&1 || {
            tail -n 30 "$work/log" >&2; say "mmdebstrap failed (log above)"; exit 1; }
    rm -rf "$cache/debs" && mv "$cache/debs.new" "$cache/debs"
    rm -f "$cache"/python-"$suite"-"$arch"-*.tar "$cache"/python-"$suite"-"$arch"-*.version
    mv "$work/python-version" "$tarball.version"
    mv "$work/rootfs.tar" "$tarball"
    say "rootfs built in $(elapsed) ($(du -m "$tarball" | cut -f1) MB)"
else
    say "using the cached rootfs $tarball"
fi

pyver=$(cat "$tarball.version" 2>/dev/null || echo 3)
# Nothing to do when NAME already is this very build.
if "$berth" "${root_args[@]}" image inspect "$name" 2>/dev/null | grep -q "\"berth.python-image.key\": \"$key\""; then
    say "$name is already this image (python $pyver, key $key); $(elapsed)"
    exit 0
fi
bundle=/etc/ssl/certs/ca-certificates.crt
"$berth" "${root_args[@]}" import "$tarball" "$name" \
    -c "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 PYTHON_VERSION=$pyver SSL_CERT_FILE=$bundle REQUESTS_CA_BUNDLE=$bundle PIP_CERT=$bundle" \
    -c "LABEL berth.python-image.key=$key berth.python-image.source=debian-$suite berth.python-image.python=$pyver" \
    -c 'CMD ["python3"]' >/dev/null
say "imported $name (python $pyver from Debian $suite) in $(elapsed)"
