#!/usr/bin/env bash
# Cargo runner for the pure cgroup-v2 VM (scripts/test.sh sets it): runs a test binary
# inside ../shared/vm/vm-cgroup2.sh through scripts/vm-guest.sh.
#
# A VM that gives back no status (exit 125: the guest kernel hung or panicked, or qemu
# timed out) is booted once more, and says so; a test that fails is not retried.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vm=${BERTH_VM:?BERTH_VM: path of vm-cgroup2.sh}
export VM_TIMEOUT=${VM_TIMEOUT:-1500}
for attempt in 1 2; do
  "$vm" "$here/vm-guest.sh" "$@"
  rc=$?
  [ "$rc" = 125 ] || exit "$rc"
  echo "vm-runner: the VM gave no status for $(basename "$1") (attempt $attempt): guest hang, panic or timeout" >&2
done
exit 125
