#!/usr/bin/env bash
# berth's main job today: build the runtime and run a busybox container from an OCI bundle,
# showing what the container sees (pid 1, its hostname, its mounts, its cgroup limits).
# Run as root on Debian 12: sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q
bin=target/release/berth-runtime
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap '$bin --root "$work/state" delete --force demo >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/mkbundle.sh "$work/bundle" sh -c 'echo "hello from pid $$ on $(hostname)"; echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"; echo "mounts:"; cut -d" " -f2,3 /proc/mounts | sed "s/^/  /"; grep -E "^Cap(Eff|Bnd)" /proc/self/status'
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["linux"].setdefault("resources", {})["memory"] = {"limit": 64 * 1024 * 1024}
json.dump(c, open(p, "w"), indent=2)
PY
$bin --root "$work/state" run --bundle "$work/bundle" demo
echo "exit status: $?"
