#!/usr/bin/env python3
"""Build benchmark (issue 13): the same 8-step Dockerfile (one COPY of a source tree, one
RUN) built cold (--no-cache) and rebuilt with no change, by `berth build`, `podman build`
and `docker build` (Debian docker.io: its classic builder, since the buildx plugin is not
packaged; DOCKER_BUILDKIT=0 says so), interleaved (A B C A B C ...), medians and ratios.

The base image is the same busybox rootfs tarball imported into each tool. dockerd is
started for the run if it is not running (and stopped after, by its pid).

Usage (root): bench/build.py [--runs 10] [--warmup 2] [--files 300] [--bin target/x86_64-unknown-linux-gnu/release/berth]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lifecycle import RELEASE, hide_hybrid_unified  # noqa: E402
from run import PODMAN_LIMITS, remove_berth_networks, start_dockerd  # noqa: E402

DOCKERFILE = """FROM bench-base:1
ENV APP=/app MODE=bench
WORKDIR /app
COPY src/ /app/src/
RUN cat /app/src/*/* | wc -c > /app/size && ls /app/src | wc -l > /app/dirs
LABEL org.example.bench=build
EXPOSE 8080
CMD ["cat", "/app/size"]
"""


def sh(argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw).stdout


def busybox_tar(work):
    root = os.path.join(work, "bbroot")
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
    for a in ["sh", "cat", "ls", "wc", "echo", "true", "mkdir"]:
        os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    tar = os.path.join(work, "bb.tar")
    sh(["tar", "-C", root, "-cf", tar, "."])
    return tar


def context(work, files):
    ctx = os.path.join(work, "ctx")
    for i in range(files):
        d = os.path.join(ctx, "src", f"pkg{i % 20:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"mod{i}.py"), "w") as f:
            f.write(f"# module {i}\n" + "x = 1\n" * (50 + i % 100))
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    return ctx


def timed(argv, env=None):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--bin", default=os.path.join(RELEASE, "berth"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="berth-bench-build-")
    docker_proc = None
    berth = [os.path.abspath(a.bin), "--root", os.path.join(work, "berth")]
    try:
        tar = busybox_tar(work)
        ctx = context(work, a.files)
        sh(berth + ["import", tar, "bench-base:1"])
        tools = {
            "berth": (berth + ["build", "-t", "bench-app:1", ctx], None, ["--no-cache"]),
        }
        if shutil.which("podman"):
            proot = os.path.join(work, "podman")
            podman = ["podman", "--root", proot, "--runroot", os.path.join(work, "podman-run")]
            sh(podman + ["import", tar, "localhost/bench-base:1"])
            sh(podman + ["tag", "localhost/bench-base:1", "bench-base:1"])
            tools["podman"] = (podman + ["build", *PODMAN_LIMITS, "--network", "host", "-t", "bench-app:1", ctx],
                               None, ["--no-cache"])
        d = start_dockerd(work)
        if d:
            cli, docker_proc = d
            sh(cli + ["import", tar, "bench-base:1"])
            env = dict(os.environ, DOCKER_BUILDKIT="0")
            tools["docker (classic builder)"] = (cli + ["build", "--network", "host", "-t", "bench-app:1", ctx],
                                                 env, ["--no-cache"])
        results = {}
        for mode in ["cold", "cached"]:
            for name in tools:
                results[(name, mode)] = []
            for i in range(a.warmup + a.runs):
                for name, (argv, env, nocache) in tools.items():
                    cmd = argv[:-1] + (nocache if mode == "cold" else []) + argv[-1:]
                    t = timed(cmd, env)
                    if i >= a.warmup:
                        results[(name, mode)].append(t)
        for mode in ["cold", "cached"]:
            med = {n: statistics.median(results[(n, mode)]) for n in tools}
            print(f"{mode} build ({a.runs} runs, {a.files} files in the COPY):")
            for n in tools:
                r = med[n] / med["berth"]
                print(f"  {n:28s} median {med[n] * 1000:9.1f} ms   {n}/berth {r:6.2f}x")
    finally:
        if docker_proc:
            docker_proc.terminate()
            docker_proc.wait()
        remove_berth_networks(berth)
        # podman and dockerd leave overlay mounts under their roots.
        mounts = [l.split()[4] for l in open("/proc/self/mountinfo") if l.split()[4].startswith(work)]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    # crun (podman's runtime) refuses this hybrid host: every tool runs on a cgroup-v1 view.
    hide_hybrid_unified()
    main()
