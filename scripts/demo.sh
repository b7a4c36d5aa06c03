#!/usr/bin/env bash
# berth's main job today: build berth, import a busybox image, run containers from it, and
# save/load the image -- no daemon anywhere. Run as root on Debian 12: sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q
berth() { target/release/berth --root "$work/root" "$@"; }
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'target/release/berth --root "$work/root" image prune >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

scripts/mkbundle.sh "$work/bundle" true >/dev/null
tar -C "$work/bundle/rootfs" -czf "$work/busybox.tar.gz" .
echo "\$ berth import busybox.tar.gz busybox:demo"
berth import "$work/busybox.tar.gz" busybox:demo -c 'CMD ["sh", "-c", "echo hello from $(hostname), pid $$"]'
echo "\$ berth images"
berth images
echo "\$ berth run --rm busybox:demo"
berth run --rm busybox:demo
echo "\$ berth run --rm busybox:demo sh -c 'grep ^Cap /proc/self/status; ls /sys/fs/cgroup'"
berth run --rm busybox:demo sh -c 'grep -E "^Cap(Eff|Bnd)" /proc/self/status; ls /sys/fs/cgroup'
echo "\$ berth save -o busybox.tar busybox:demo && berth load -i busybox.tar"
berth save -o "$work/busybox.tar" busybox:demo
target/release/berth --root "$work/root2" load -i "$work/busybox.tar"
echo "\$ berth rmi busybox:demo"
berth rmi busybox:demo
