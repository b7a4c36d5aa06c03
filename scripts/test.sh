#!/usr/bin/env bash
# The test command (README): lint, every test tier as root, a short burst of every fuzz
# target; when the pure cgroup-v2 VM runner is present (../shared/vm), the runtime's and the
# containers' integration tests run there too. Each stage prints its time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

t_all=$(date +%s)
stage() { # stage NAME CMD...: runs CMD, prints how long it took
    local name=$1 s
    shift
    s=$(date +%s)
    echo "== $name"
    "$@"
    echo "== $name: $(($(date +%s) - s)) s"
}

stage "setup (packages, toolchain)" scripts/setup.sh
stage "fmt" cargo fmt --all -- --check
stage "clippy" cargo clippy --workspace --all-targets -- -D warnings
stage "tests (unit, kernel, black-box; as root)" cargo test --workspace --no-fail-fast
# Reproducible: a fixed seed from the kept corpora, so a run that passed here passes again.
stage "fuzz (${FUZZ_SECONDS:=15} s per target)" env FUZZ_SECONDS="$FUZZ_SECONDS" FUZZ_SEED=1 scripts/fuzz.sh
vm=../shared/vm/vm-cgroup2.sh
if [ -x "$vm" ] && [ "${BERTH_SKIP_VM:-0}" != 1 ]; then
  export BERTH_VM="$(realpath "$vm")" VM_QUIET=1 VM_SHARE="$PWD"
  export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$PWD/scripts/vm-runner.sh"
  # --workspace with --test names, not -p berth-runtime: the same feature set as the host
  # stage, so these are the binaries built there (-p rebuilt the runtime and its tests).
  stage "runtime integration tests on a pure cgroup-v2 kernel ($vm)" \
    cargo test --no-fail-fast --workspace --test lifecycle --test config --test cgroups --test conformance \
      --test cli --test containerd --test cri
  # What depends on the cgroup version runs here too: the monitor, OOM and stats
  # (containers), cgroup removal after a failed start (teardown; the VM runs the step after
  # the cgroup exists), live limits (update), limits (run), healthchecks, which the
  # monitor runs, and the kernel knobs of run and compose (memory.low, cpuset, cpu.weight,
  # sysctls). The rest of run and compose_services (mounts, seccomp,
  # signals, builds, logs, one-off runs) and build, compose, formats, attach, security,
  # volumes handle files and processes the same on both kernels and run on the host above
  # only: in the emulated VM each test costs tens of seconds, and CI has 45 minutes.
  stage "container integration tests (monitor, OOM, stats, teardown, update) on the cgroup-v2 kernel" \
    cargo test --no-fail-fast -p berth --test containers --test teardown --test update
  stage "limits on the cgroup-v2 kernel (run)" \
    cargo test --no-fail-fast -p berth --test run -- limits_land_in_the_cgroup shm_size_sysctls
  stage "healthchecks and kernel knobs on the cgroup-v2 kernel (compose services)" \
    cargo test --no-fail-fast -p berth --test compose_services -- healthcheck kernel_knobs
  # veth, bridge, nf_tables (NAT, fib, conntrack) are loaded in the guest; it has no global
  # address, so the host-address part of the published-port test is not run there.
  stage "network tests (bridges, ports, DNS, healing) on the cgroup-v2 kernel" \
    cargo test --no-fail-fast -p berth --test networks --test network_egress
fi
echo "== all stages: $(($(date +%s) - t_all)) s"
