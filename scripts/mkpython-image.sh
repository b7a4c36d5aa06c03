#!/usr/bin/env bash
# mkpython-image.sh OUT.tar.gz: a small python3 root filesystem from this Debian host's own
# files (python3.11, its standard library, pip, the shared libraries they load, busybox for
# /bin/sh, the host's CA bundle so pip trusts what the host trusts), as a tarball for
# `berth import OUT.tar.gz python:3.7`. No registry is reachable here; this stands in for
# the seed services' `FROM python:3.7`. Needs Debian's python3, python3-pip, busybox-static.
set -euo pipefail
out=$1
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
copy() { mkdir -p "$R$(dirname "$1")"; cp -aL "$1" "$R$1"; }
py=$(readlink -f /usr/bin/python3)
ver=$(basename "$py")
copy "$py"
ln -s "$ver" "$R/usr/bin/python3"
ln -s python3 "$R/usr/bin/python"
mkdir -p "$R/usr/lib/python3/dist-packages"
cp -a "/usr/lib/$ver" "$R/usr/lib/"
# Debian marks its python "externally managed" (PEP 668): pip in an image may install.
rm -rf "$R/usr/lib/$ver/EXTERNALLY-MANAGED" "$R/usr/lib/$ver/test" "$R/usr/lib/$ver/idlelib"
cp -a /usr/lib/python3/dist-packages/pip "$R/usr/lib/python3/dist-packages/"
if [ -d /usr/share/python-wheels ]; then
  mkdir -p "$R/usr/share"
  cp -a /usr/share/python-wheels "$R/usr/share/"
fi
for f in "$py" $(find "/usr/lib/$ver/lib-dynload" -name '*.so'); do
  ldd "$f" | awk '/=>/ {print $3} /ld-linux/ {print $1}'
done | sort -u | while read -r l; do [ -f "$l" ] && copy "$l"; done
mkdir -p "$R/bin" "$R/etc/ssl/certs" "$R/tmp" "$R/root"
chmod 1777 "$R/tmp"
cp /bin/busybox "$R/bin/"
for a in sh ls cat echo env mkdir rm; do ln -s busybox "$R/bin/$a"; done
printf '#!/bin/sh\nexec python3 -m pip "$@"\n' > "$R/usr/bin/pip"
chmod 755 "$R/usr/bin/pip"
cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
tar -C "$R" -czf "$out" .
