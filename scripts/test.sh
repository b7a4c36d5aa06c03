#!/usr/bin/env bash
# The test command (README): lint, then every test tier as root; when the pure cgroup-v2 VM
# runner is present (../shared/vm), the runtime's and the containers' integration tests run
# there too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
vm=../shared/vm/vm-cgroup2.sh
if [ -x "$vm" ] && [ "${BERTH_SKIP_VM:-0}" != 1 ]; then
  export BERTH_VM="$(realpath "$vm")" VM_QUIET=1 VM_SHARE="$PWD"
  export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$PWD/scripts/vm-runner.sh"
  echo "== runtime integration tests on a pure cgroup-v2 kernel ($vm)"
  cargo test -p berth-runtime --test lifecycle --test config --test cgroups
  echo "== container integration tests (monitor, OOM, stats, volumes, exec) on the cgroup-v2 kernel"
  cargo test -p berth --test containers --test volumes_exec --test run
fi
