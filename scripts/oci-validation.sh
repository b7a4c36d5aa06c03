#!/usr/bin/env bash
# Runs an already-built opencontainers/runtime-tools validation suite against a runtime and
# prints one line per test (pass/FAIL, ok/not-ok/skip counts), then the totals.
#
#   scripts/oci-validation.sh SUITE_DIR RUNTIME [OUT_DIR] [TEST...]
#
# SUITE_DIR is a runtime-tools checkout where `runtimetest` and validation/*/*.t are built
# (`make runtimetest validation-executables`, or `go build -mod=vendor` each one) and
# rootfs-amd64.tar.gz is present; the tests read both from their working directory, so they run
# from there. RUNTIME is the runtime binary (berth-runtime, runc, crun). OUT_DIR keeps each
# test's TAP output (default: a fresh dir under /tmp). TEST names (e.g. `kill hooks`) limit the
# run. Needs root. Nothing is fetched or built here. A test passes when it exits 0 and prints
# no `not ok` line; each gets TIMEOUT seconds (default 120).
set -uo pipefail
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
suite=$(realpath "$1")
runtime=$(realpath "$(command -v "$2" || echo "$2")")
out=${3:-$(mktemp -d /tmp/oci-validation.XXXXXX)}
shift $(($# < 3 ? $# : 3))
mkdir -p "$out" || exit 2
cd "$suite" || exit 2
[ -x runtimetest ] && [ -f "rootfs-amd64.tar.gz" ] || { echo "$suite: no runtimetest or rootfs-amd64.tar.gz" >&2; exit 2; }

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  for t in validation/*/*.t; do tests+=("$(basename "$t" .t)"); done
fi

pass=0 fail=0
for name in "${tests[@]}"; do
  exe=validation/$name/$name.t
  [ -x "$exe" ] || { echo "$name: not built" >&2; fail=$((fail + 1)); continue; }
  RUNTIME=$runtime timeout "${TIMEOUT:-120}" "$exe" >"$out/$name.tap" 2>&1
  rc=$?
  ok=$(grep -c '^ok ' "$out/$name.tap")
  notok=$(grep -c '^not ok ' "$out/$name.tap")
  skip=$(grep -c '^ok .*# SKIP' "$out/$name.tap")
  if [ "$rc" -eq 0 ] && [ "$notok" -eq 0 ]; then
    verdict=pass pass=$((pass + 1))
  else
    verdict=FAIL fail=$((fail + 1))
  fi
  printf '%-40s %-4s ok=%-4s not_ok=%-3s skip=%-3s exit=%s\n' "$name" "$verdict" "$ok" "$notok" "$skip" "$rc"
done
echo "total: $pass passed, $fail failed ($(basename "$runtime"); TAP in $out)"
[ "$fail" -eq 0 ]
