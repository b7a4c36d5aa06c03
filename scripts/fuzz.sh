#!/usr/bin/env bash
# fuzz.sh: a short run of every fuzz target (fuzz/, cargo-fuzz on the stable toolchain).
#
# Installs cargo-fuzz if missing, builds all targets once, then fuzzes each for FUZZ_SECONDS
# (default 20) from its seeds (fuzz/corpus/<t>), its saved crashes (fuzz/regressions/<t>) and
# what earlier runs found (fuzz/target/corpus/<t>, not committed). Fails if any target
# crashes, panics or hangs; the input is kept in fuzz/artifacts/<t>/ and the log's end shown.
# Every file written by a target goes to a scratch TMPDIR on /dev/shm, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${FUZZ_SECONDS:-20}
# FUZZ_SEED=N (not 0) makes libFuzzer's mutations repeatable from the same corpora.
# libFuzzer's -timeout: an input that takes longer counts as a crash (a hang).
unit_timeout=${FUZZ_UNIT_TIMEOUT:-10}
# cargo-fuzz needs -Z flags; the stable toolchain ships the ASan runtime, so this suffices.
export RUSTC_BOOTSTRAP=1
# 16 codegen units instead of cargo-fuzz's 1: builds much faster on few cores, fuzzes a bit
# slower, the right trade for short runs. No AddressSanitizer by default (FUZZ_SANITIZER=
# address for it): the targets' code is safe Rust, where a bug shows as a panic, a hang or
# an allocation past -rss_limit_mb, all of which libFuzzer catches without it; instrumenting
# every crate for ASan cost 140 s of a 2-core CI run's build (358 s instead of ~500 s).
# `build` and `run` must get the same flags, or `run` rebuilds.
# Which crates are optimized at all is set in fuzz/Cargo.toml ([profile.release.package.*]).
flags=(-O -a -s "${FUZZ_SANITIZER:-none}" --codegen-units 16)

now() { date +%s; }
t0=$(now)

if ! cargo fuzz --version >/dev/null 2>&1; then
    s=$(now)
    cargo install cargo-fuzz --locked
    echo "fuzz: installed cargo-fuzz in $(($(now) - s))s"
fi

targets=$(cargo fuzz list --fuzz-dir fuzz)
s=$(now)
cargo fuzz build --fuzz-dir fuzz "${flags[@]}"
echo "fuzz: built $(echo "$targets" | wc -w) targets in $(($(now) - s))s"

scratch_base=/dev/shm
[ -d "$scratch_base" ] && [ -w "$scratch_base" ] || scratch_base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_base/berth-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

failed=()
for t in $targets; do
    grown=fuzz/target/corpus/$t
    mkdir -p "$grown" "fuzz/artifacts/$t"
    dirs=("$grown" "fuzz/corpus/$t")
    [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
    log=fuzz/artifacts/$t.log
    s=$(now)
    if TMPDIR=$scratch cargo fuzz run --fuzz-dir fuzz "${flags[@]}" "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout="$unit_timeout" -seed="${FUZZ_SEED:-0}" >"$log" 2>&1; then
        runs=$(grep -o '^Done [0-9]* runs' "$log" | tail -1 || true)
        echo "fuzz: $t ok in $(($(now) - s))s (${runs:-no summary})"
    else
        echo "fuzz: $t FAILED after $(($(now) - s))s; its log ends:"
        tail -n 60 "$log"
        ls -l "fuzz/artifacts/$t"
        failed+=("$t")
    fi
done

echo "fuzz: all done in $(($(now) - t0))s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashed: ${failed[*]} (inputs in fuzz/artifacts/<target>/; replay one with" \
        "cargo fuzz run --fuzz-dir fuzz ${flags[*]} TARGET fuzz/artifacts/TARGET/FILE)" >&2
    exit 1
fi
