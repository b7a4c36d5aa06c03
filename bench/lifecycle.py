#!/usr/bin/env python3
"""Container lifecycle benchmark: `run` of a busybox bundle executing /bin/true with
berth-runtime, crun and runc on the same bundle, interleaved (A B C A B C ...), many runs
after a warm-up; prints medians, ratios and berth-runtime's peak RSS.

Usage (root): bench/lifecycle.py [--runs 50] [--warmup 5] [--bin target/x86_64-unknown-linux-gnu/release/berth-runtime]
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Where `cargo build --release` puts the binaries (.cargo/config.toml names the target).
RELEASE = os.path.join(HERE, "..", "target", "x86_64-unknown-linux-gnu", "release")


def run_once(argv):
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status, _ = os.wait4(pid, 0)
    dt = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed with {os.waitstatus_to_exitcode(status)}")
    return dt


def peak_rss_kib(argv, n=5):
    """Peak RSS of the runtime process (GNU time's %M). Not from wait4 here: a child spawned
    by Python starts out sharing Python's pages, which would count as its own."""
    best = 0
    for _ in range(n):
        r = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, check=True)
        best = max(best, int(r.stderr.strip().splitlines()[-1]))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(RELEASE, "berth-runtime"))
    ap.add_argument("--json", help="write raw timings here")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="berth-bench-")
    try:
        bundle = os.path.join(work, "bundle")
        subprocess.run([os.path.join(HERE, "..", "scripts", "mkbundle.sh"), bundle, "/bin/true"], check=True)
        tools = {"berth-runtime": os.path.abspath(a.bin)}
        for t in ("crun", "runc"):
            p = shutil.which(t)
            if p:
                tools[t] = p
        cmds = {name: [path, "--root", os.path.join(work, "state-" + name), "run", "--bundle", bundle, "bench-" + name]
                for name, path in tools.items()}

        times = {n: [] for n in cmds}
        for i in range(a.warmup + a.runs):
            for name, argv in cmds.items():
                dt = run_once(argv)
                if i >= a.warmup:
                    times[name].append(dt)
        rss = {n: peak_rss_kib(argv) for n, argv in cmds.items()}
        med = {n: statistics.median(v) * 1000 for n, v in times.items()}
        print(f"lifecycle of a /bin/true container, {a.runs} interleaved runs after {a.warmup} warm-up, medians:")
        for n in cmds:
            q = statistics.quantiles(times[n], n=10)
            print(f"  {n:<14} {med[n]:7.2f} ms  (p10 {q[0]*1000:6.2f}, p90 {q[-1]*1000:6.2f})  peak RSS {rss[n]/1024:5.1f} MiB")
        for peer in ("crun", "runc"):
            if peer in med:
                print(f"  berth-runtime/{peer}: {med['berth-runtime'] / med[peer]:.2f}")
        if a.json:
            json.dump({"times_s": times, "median_ms": med, "peak_rss_kib": rss}, open(a.json, "w"), indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def hide_hybrid_unified():
    """crun refuses a hybrid host whose cgroup2 holds a controller (this machine's holds
    hugetlb). Run the whole benchmark -- every tool alike -- in a private mount namespace
    without that cgroup2 mount, i.e. on a plain cgroup-v1 view of the same kernel."""
    unified = "/sys/fs/cgroup/unified"
    if os.environ.get("BERTH_BENCH_NS") or not os.path.ismount(unified):
        return
    if not open(os.path.join(unified, "cgroup.controllers")).read().strip():
        return
    env = dict(os.environ, BERTH_BENCH_NS="1")
    cmd = f"umount -l {unified} && exec python3 " + " ".join(map(repr, [os.path.abspath(sys.argv[0])] + sys.argv[1:]))
    os.execvpe("unshare", ["unshare", "-m", "--propagation", "private", "sh", "-c", cmd], env)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    hide_hybrid_unified()
    main()
