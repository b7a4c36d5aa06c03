#!/usr/bin/env bash
# Runs inside the cgroup-v2 VM (see vm-runner.sh) before the test binary: a kernel soft
# lockup panics the guest at once (so the VM ends in seconds instead of at the timeout) and
# the panic prints the stuck CPU's stack on the console.
echo 1 > /proc/sys/kernel/softlockup_panic 2>/dev/null || true
echo 1 > /proc/sys/kernel/softlockup_all_cpu_backtrace 2>/dev/null || true

# The shared checkout comes over 9p without a page cache (cache=none), so every exec of a
# binary under target/ read its pages from the host again: `berth --version` of the 230 MB
# debug build took 1.7 s in the guest, 0.6 s from its tmpfs, and the tests run berth, its
# monitor and the runtime hundreds of times. So the test binary and those three are copied
# to the guest's /tmp (tmpfs; without debug info, which nothing here reads) and bound over
# their own paths, which tests and berth know them by. Anything failing here leaves the
# path as it was, only slower.
bins=$(mktemp -d /tmp/vm-bins.XXXXXX)
dir=$(dirname "$1")/..
for f in "$1" "$dir/berth" "$dir/berth-monitor" "$dir/berth-runtime"; do
  [ -f "$f" ] || continue
  copy=$bins/$(basename "$f")
  { strip --strip-debug -o "$copy" "$f" 2>/dev/null || cp "$f" "$copy"; } &&
    mount --bind "$copy" "$f" 2>/dev/null || true
done
exec "$@"
