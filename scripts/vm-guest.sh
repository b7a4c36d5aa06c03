#!/usr/bin/env bash
# Runs inside the cgroup-v2 VM (see vm-runner.sh) before the test binary: a kernel soft
# lockup panics the guest at once (so the VM ends in seconds instead of at the timeout) and
# the panic prints the stuck CPU's stack on the console.
echo 1 > /proc/sys/kernel/softlockup_panic 2>/dev/null || true
echo 1 > /proc/sys/kernel/softlockup_all_cpu_backtrace 2>/dev/null || true
exec "$@"
