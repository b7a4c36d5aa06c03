#!/usr/bin/env bash
# berth's main job today: build berth, import a busybox image, run containers from it in the
# foreground and detached under a monitor (logs, exec, volumes, stop, rm), and save/load the
# image -- no daemon anywhere. Run as root on Debian 12: sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q
bin=target/x86_64-unknown-linux-gnu/release/berth
berth() { "$bin" --root "$work/root" "$@"; }
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
cleanup() {
    for c in $("$bin" --root "$work/root" ps -aq 2>/dev/null); do
        "$bin" --root "$work/root" rm -f -v "$c" >/dev/null 2>&1 || true
    done
    "$bin" --root "$work/root" image prune -f >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

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
echo "\$ berth run -d --name counter -v demo-data:/data busybox:demo sh -c 'while ...; do echo tick; done'"
berth run -d --name counter -v demo-data:/data busybox:demo \
    sh -c 'i=0; while true; do i=$((i+1)); echo "tick $i" | tee -a /data/ticks; sleep 0.2; done'
sleep 1
echo "\$ berth ps"
berth ps
echo "\$ berth logs --tail 3 counter"
berth logs --tail 3 counter
echo "\$ berth exec counter sh -c 'wc -l < /data/ticks; ps'"
berth exec counter sh -c 'wc -l < /data/ticks; ps'
echo "\$ berth stop -t 1 counter && berth rm counter"
berth stop -t 1 counter
berth rm counter
echo "\$ berth run --rm -v demo-data:/data busybox:demo tail -n 1 /data/ticks   # the volume outlived the container"
berth run --rm -v demo-data:/data busybox:demo tail -n 1 /data/ticks
berth volume rm demo-data
echo "\$ berth save -o busybox.tar busybox:demo && berth load -i busybox.tar"
berth save -o "$work/busybox.tar" busybox:demo
"$bin" --root "$work/root2" load -i "$work/busybox.tar"
echo "\$ berth rmi busybox:demo"
berth rmi busybox:demo
