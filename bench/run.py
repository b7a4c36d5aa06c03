#!/usr/bin/env python3
"""Container run benchmark (issue 4): `berth run --rm IMAGE true` against `crun run` of the
same busybox rootfs, `podman run --rm --network none` and `docker run --rm --network none`
of the same image (berth saves it, podman and docker load the archive), interleaved
(A B C D A B C D ...), medians and ratios. Then 50x `run -d` + `rm -f` for berth, podman and
docker, and the resident memory of berth's per-container monitor.

dockerd is started for the run if it is not running (and stopped after, by its pid).

Usage (root): bench/run.py [--runs 30] [--warmup 3] [--detached 50] [--bin target/x86_64-unknown-linux-gnu/release/berth]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lifecycle import RELEASE, hide_hybrid_unified, run_once  # noqa: E402

PODMAN_LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def sh(argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def remove_berth_networks(berth):
    """Removes the networks of a bench's berth root (`berth`: its argv prefix with --root),
    the default one by id, before the root is deleted: an `rm -rf` of the root alone would
    leave their bridges, nft tables and FORWARD rules on the host (`berth build` makes the
    default network for its RUN steps)."""
    ls = subprocess.run(berth + ["network", "ls", "-q", "--no-trunc"], stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, text=True)
    for nid in ls.stdout.split():
        subprocess.run(berth + ["network", "rm", nid], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def start_dockerd(work, network=("--bridge", "none")):
    """Returns (docker argv prefix, dockerd process or None), or None if docker is missing.
    `network`: dockerd's network flags (default: no bridge; bench/network.py gives it one)."""
    if not shutil.which("docker"):
        return None
    if subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        return [shutil.which("docker")], None
    dockerd = shutil.which("dockerd")
    if not dockerd:
        return None
    sock = os.path.join(work, "docker.sock")
    log = open(os.path.join(work, "dockerd.log"), "w")
    p = subprocess.Popen([dockerd, "--host", "unix://" + sock, "--data-root", os.path.join(work, "docker"),
                          "--exec-root", os.path.join(work, "docker-exec"), "--pidfile", os.path.join(work, "docker.pid"),
                          *network, "--iptables=false", "--ip6tables=false"],
                         stdout=log, stderr=log)
    cli = [shutil.which("docker"), "--host", "unix://" + sock]
    for _ in range(200):
        if subprocess.run(cli + ["info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            return cli, p
        time.sleep(0.1)
    p.terminate()
    print("  (dockerd did not come up; see its log)", file=sys.stderr)
    return None


def bench_image(work, berth_bin):
    """A busybox bundle running /bin/true (scripts/mkbundle.sh), its rootfs imported into a
    berth root under `work` as bench:latest and saved for the peers to load. Returns (bundle
    dir, berth argv prefix, archive path)."""
    bundle = os.path.join(work, "bundle")
    subprocess.run([os.path.join(HERE, "..", "scripts", "mkbundle.sh"), bundle, "/bin/true"], check=True,
                   stdout=subprocess.DEVNULL)
    rootfs_tar = os.path.join(work, "rootfs.tar")
    sh(["tar", "-C", os.path.join(bundle, "rootfs"), "-cf", rootfs_tar, "."])
    berth = [os.path.abspath(berth_bin), "--root", os.path.join(work, "berth")]
    sh(berth + ["import", rootfs_tar, "bench:latest"])
    archive = os.path.join(work, "bench.tar")
    sh(berth + ["save", "-o", archive, "bench:latest"])
    return bundle, berth, archive


def podman_with(work, archive):
    """podman argv prefix with its own storage under `work`, the archive loaded; or None."""
    if not shutil.which("podman"):
        return None
    podman = [shutil.which("podman"), "--root", os.path.join(work, "podman"), "--runroot",
              os.path.join(work, "podman-run"), "--storage-driver", "overlay"]
    sh(podman + ["load", "-i", archive], stderr=subprocess.DEVNULL)
    return podman


def monitor_rss(berth, root):
    cid = sh(berth + ["run", "-d", "--network", "none", "bench", "sleep", "100"]).strip()
    time.sleep(0.5)
    pid = sh(berth + ["inspect", "-f", "{{.State.MonitorPid}}", cid]).strip()
    fields = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        k, _, v = line.partition(":")
        if v.strip().endswith("kB"):
            fields[k] = int(v.split()[0])
    sh(berth + ["rm", "-f", cid])
    return fields.get("Rss", 0), fields.get("Pss", 0), fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)


def detached_loop(prefix, n, run_extra=(), rm_extra=()):
    """n x (run -d + rm -f), one container at a time; total seconds."""
    t0 = time.perf_counter()
    for i in range(n):
        cid = sh(prefix + ["run", "-d", *run_extra, "bench", "sleep", "100"]).strip()
        sh(prefix + ["rm", "-f", *rm_extra, cid])
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--detached", type=int, default=50)
    ap.add_argument("--bin", default=os.path.join(RELEASE, "berth"))
    ap.add_argument("--no-docker", action="store_true")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="berth-bench-run-")
    dockerd = None
    try:
        bundle, berth, archive = bench_image(work, a.bin)
        # --network none for all (berth's default is now its bridge; bench/network.py has that).
        cmds = {"berth": berth + ["run", "--rm", "--network", "none", "bench", "true"]}
        crun = shutil.which("crun")
        if crun:
            cmds["crun"] = [crun, "--root", os.path.join(work, "crun"), "run", "--bundle", bundle, "bench-crun"]
        podman = podman_with(work, archive)
        if podman:
            cmds["podman"] = podman + ["run", "--rm", "--network", "none", *PODMAN_LIMITS, "bench", "true"]
        docker = None
        if not a.no_docker:
            d = start_dockerd(work)
            if d:
                docker, dockerd = d
                sh(docker + ["load", "-i", archive], stderr=subprocess.DEVNULL)
                cmds["docker"] = docker + ["run", "--rm", "--network", "none", "bench", "true"]
        times = {n: [] for n in cmds}
        for i in range(a.warmup + a.runs):
            for name, argv in cmds.items():
                dt = run_once(argv)
                if i >= a.warmup:
                    times[name].append(dt)
        med = {n: statistics.median(v) * 1000 for n, v in times.items()}
        print(f"run --rm of a /bin/true container, {a.runs} interleaved runs after {a.warmup} warm-up, medians:")
        for n in cmds:
            q = statistics.quantiles(times[n], n=10)
            print(f"  {n:<8} {med[n]:8.2f} ms  (p10 {q[0]*1000:7.2f}, p90 {q[-1]*1000:7.2f})")
        if "crun" in med:
            print(f"  berth/crun:   {med['berth'] / med['crun']:.2f}  (target <= 1.5)")
        for peer in ("podman", "docker"):
            if peer in med:
                print(f"  {peer}/berth: {med[peer] / med['berth']:.1f}x")
        print(f"{a.detached} x (run -d + rm -f), one at a time:")
        loops = {"berth": detached_loop(berth, a.detached, ["--network", "none"])}
        if podman:
            # podman's rm -f waits 10 s for SIGTERM first; -t 0 kills at once, as docker and berth do.
            loops["podman"] = detached_loop(podman, a.detached, ["--network", "none", *PODMAN_LIMITS], ["-t", "0"])
        if docker:
            loops["docker"] = detached_loop(docker, a.detached, ["--network", "none"])
        for n, t in loops.items():
            print(f"  {n:<8} {t:7.2f} s  ({t / a.detached * 1000:.1f} ms per container)")
        for peer in ("podman", "docker"):
            if peer in loops:
                print(f"  {peer}/berth: {loops[peer] / loops['berth']:.1f}x")
        rss, pss, private = monitor_rss(berth, work)
        print(f"berth monitor: RSS {rss} kB, PSS {pss} kB, private {private} kB (target RSS <= 2048 kB)")
    finally:
        if dockerd:
            dockerd.send_signal(signal.SIGTERM)
            try:
                dockerd.wait(30)
            except subprocess.TimeoutExpired:
                dockerd.kill()
        subprocess.run([a.bin, "--root", os.path.join(work, "berth"), "container", "prune", "-f"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["umount", "-R", os.path.join(work, "podman", "overlay")], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    hide_hybrid_unified()
    main()
