#!/usr/bin/env python3
"""The day-one CLI with many containers present (issue 10): `ps -a`, `images`, `inspect` of
one container, and `ps -a --format '{{.Names}}'` for berth, podman and docker, each with N
created containers of the same busybox image (berth saves it; podman and docker load the
archive), in shuffled blocks of back-to-back runs of one command (see `interleaved`), medians
and ratios. `inspect` is also timed with no other container present, to show whether it
grows with the number of containers.

dockerd is started for the run if it is not running (and stopped after, by its pid).

Usage (root): bench/cli.py [--containers 100] [--runs 20] [--warmup 3] [--no-docker]
             [--bin target/x86_64-unknown-linux-gnu/release/berth]
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lifecycle import RELEASE, hide_hybrid_unified, run_once  # noqa: E402
from run import bench_image, podman_with, sh, start_dockerd  # noqa: E402


def verbs(prefix, first):
    """The timed commands of one tool; `first` is a container that exists throughout."""
    return {
        "ps -a": prefix + ["ps", "-a"],
        "images": prefix + ["images"],
        "inspect": prefix + ["inspect", first],
        "ps --format": prefix + ["ps", "-a", "--format", "{{.Names}}"],
    }


# Timed runs of one command back to back (after one untimed), see interleaved.
BLOCK = 5


def interleaved(cmds, runs, warmup):
    """cmds: {(tool, verb): argv}; returns {(tool, verb): median ms}. Commands run in blocks:
    one untimed run, then BLOCK timed ones back to back; each round runs every command's
    block once, in an order shuffled anew (seeded, so runs repeat), so slow drift of the
    machine spreads over all. Each timed run thus follows a run of the same command, never
    another tool's: dockerd goes on working after its CLI has exited, and one command at a
    time in a fixed order made whatever came right after docker pay for that work (berth
    `ps -a` 2.61 ms there, 1.79 timed alone); a pause after each command instead lets this
    VM's vCPUs go idle, and every short command then pays for waking them."""
    rng = random.Random(1)
    keys = list(cmds)
    times = {k: [] for k in cmds}
    for _ in range(warmup):
        for k in keys:
            run_once(cmds[k])
    for _ in range(max(1, (runs + BLOCK - 1) // BLOCK)):
        rng.shuffle(keys)
        for k in keys:
            run_once(cmds[k])
            for _ in range(BLOCK):
                times[k].append(run_once(cmds[k]))
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(RELEASE, "berth"))
    ap.add_argument("--no-docker", action="store_true")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="berth-bench-cli-")
    dockerd = None
    tools = {}
    try:
        _, berth, archive = bench_image(work, a.bin)
        tools["berth"] = berth
        podman = podman_with(work, archive)
        if podman:
            tools["podman"] = podman
        if not a.no_docker:
            d = start_dockerd(work)
            if d:
                docker, dockerd = d
                sh(docker + ["load", "-i", archive], stderr=subprocess.DEVNULL)
                tools["docker"] = docker

        # One container first: inspect with nothing else present.
        for t, prefix in tools.items():
            sh(prefix + ["create", "--name", f"bench-{t}-0", "--network", "none", "bench", "true"])
        alone = interleaved({(t, "inspect"): p + ["inspect", f"bench-{t}-0"] for t, p in tools.items()},
                            a.runs, a.warmup)
        for t, prefix in tools.items():
            for i in range(1, a.containers):
                sh(prefix + ["create", "--name", f"bench-{t}-{i}", "--network", "none", "bench", "true"])
        cmds = {}
        for t, prefix in tools.items():
            for v, argv in verbs(prefix, f"bench-{t}-0").items():
                cmds[(t, v)] = argv
        med = interleaved(cmds, a.runs, a.warmup)

        print(f"{a.containers} created containers, {a.runs} runs of each command in shuffled blocks of {BLOCK}"
              f" after {a.warmup} warm-up, medians (ms):")
        names = list(tools)
        print(f"  {'':<12}" + "".join(f"{t:>10}" for t in names) + "".join(f"{t + '/berth':>14}" for t in names[1:]))
        for v in verbs([], ""):
            row = [med[(t, v)] for t in names]
            print(f"  {v:<12}" + "".join(f"{x:10.2f}" for x in row)
                  + "".join(f"{med[(t, v)] / med[('berth', v)]:13.1f}x" for t in names[1:]))
        print("  inspect with one container: " + ", ".join(f"{t} {alone[(t, 'inspect')]:.2f}" for t in names))
    finally:
        for t, prefix in tools.items():
            if t != "berth":
                subprocess.run(prefix + ["rm", "-af"] if t == "podman" else prefix + ["container", "prune", "-f"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if "berth" in tools:
            ids = subprocess.run(tools["berth"] + ["ps", "-aq"], stdout=subprocess.PIPE, text=True).stdout.split()
            if ids:
                subprocess.run(tools["berth"] + ["rm", "-f", *ids], stdout=subprocess.DEVNULL)
        if dockerd:
            dockerd.terminate()
            dockerd.wait()
        subprocess.run(["umount", "-R", os.path.join(work, "podman")], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    hide_hybrid_unified()
    main()
