#!/usr/bin/env python3
"""Push/pull benchmark (issue 13): a 5-layer image of about 200 MB (random bytes, so gzip
cannot shrink it) pushed to and pulled from a local docker-registry on loopback by
`berth push`/`berth pull`, `podman push`/`podman pull` and `skopeo copy`, interleaved,
medians and ratios. Every push goes to a registry of its own, empty (so no tool mounts a
blob another pushed, as containers/image's blob cache would let podman and skopeo); every
pull goes into a fresh store: berth's, podman's, and skopeo's copy into containers-storage
(`skopeo-cs`, unpacked as podman's pull does); `skopeo` also copies into a fresh OCI layout
directory, which downloads the blobs and unpacks nothing, so no image is ready to run.

Usage (root): bench/push.py [--runs 3] [--mb 40] [--bin target/x86_64-unknown-linux-gnu/release/berth]
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
from run import remove_berth_networks  # noqa: E402

REG_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: {addr}
"""


def sh(argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw).stdout


def timed(argv):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mb", type=int, default=40, help="MB per layer (5 layers)")
    ap.add_argument("--bin", default=os.path.join(RELEASE, "berth"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="berth-bench-push-")
    regs = []
    try:

        def registry():
            """A registry of its own, empty: no tool can mount a blob another pushed."""
            addr = f"127.0.0.1:{free_port()}"
            d = tempfile.mkdtemp(dir=work, prefix="registry-")
            cfg = os.path.join(d, "registry.yml")
            with open(cfg, "w") as f:
                f.write(REG_CONFIG.format(root=os.path.join(d, "data"), addr=addr))
            regs.append(subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL))
            for _ in range(200):
                if subprocess.run(["curl", "-sf", f"http://{addr}/v2/"], stdout=subprocess.DEVNULL).returncode == 0:
                    return addr
                time.sleep(0.05)
            raise SystemExit("registry did not start")

        # The image: busybox and five layers of random bytes, built by berth.
        root = os.path.join(work, "bbroot")
        for d in ["bin", "etc", "tmp"]:
            os.makedirs(os.path.join(root, d))
        shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
        for x in ["sh", "dd", "cat"]:
            os.symlink("busybox", os.path.join(root, "bin", x))
        tar = os.path.join(work, "bb.tar")
        sh(["tar", "-C", root, "-cf", tar, "."])
        berth_root = os.path.join(work, "berth")
        berth = [os.path.abspath(a.bin), "--root", berth_root]
        sh(berth + ["import", tar, "bench-base:1"])
        ctx = os.path.join(work, "ctx")
        os.makedirs(ctx)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM bench-base:1\n")
            for i in range(5):
                f.write(f"RUN dd if=/dev/urandom of=/layer{i} bs=1M count={a.mb} 2>/dev/null\n")
        sh(berth + ["build", "-q", "-t", "bench-big:1", ctx])
        archive = os.path.join(work, "img.tar")
        sh(berth + ["save", "-o", archive, "bench-big:1"])
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(os.path.join(berth_root, "image", "blobs")) for f in fs)
        podman_root = os.path.join(work, "podman")
        podman = ["podman", "--root", podman_root, "--runroot", os.path.join(work, "podman-run")]
        sh(podman + ["load", "-i", archive])
        have_podman = True
        push, pull = {}, {}
        for i in range(a.runs):
            pull_from = None
            for name in ["berth", "podman", "skopeo"]:
                addr = registry()
                repo = f"{addr}/{name}{i}/big:1"
                pull_from = pull_from or repo
                if name == "berth":
                    sh(berth + ["tag", "bench-big:1", repo])
                    push.setdefault(name, []).append(timed(berth + ["push", "-q", repo]))
                elif name == "podman" and have_podman:
                    push.setdefault(name, []).append(timed(podman + ["push", "--tls-verify=false", "docker.io/library/bench-big:1", "docker://" + repo]))
                else:
                    push.setdefault(name, []).append(timed(["skopeo", "copy", "--dest-tls-verify=false",
                                                            "docker-archive:" + archive, "docker://" + repo]))
            for name in ["berth", "podman", "skopeo-cs", "skopeo"]:
                repo = pull_from
                fresh = os.path.join(work, f"pull-{name}-{i}")
                if name == "berth":
                    t = timed([os.path.abspath(a.bin), "--root", fresh, "pull", "-q", repo])
                elif name == "podman":
                    t = timed(["podman", "--root", fresh, "--runroot", fresh + "-run", "pull", "--tls-verify=false", "docker://" + repo])
                elif name == "skopeo-cs":
                    t = timed(["skopeo", "copy", "--src-tls-verify=false", "docker://" + repo,
                               f"containers-storage:[overlay@{fresh}+{fresh}-run]localhost/big:1"])
                else:
                    t = timed(["skopeo", "copy", "--src-tls-verify=false", "docker://" + repo, "oci:" + fresh + ":big"])
                pull.setdefault(name, []).append(t)
                subprocess.run(["sh", "-c", f"umount -R {fresh}/* 2>/dev/null; rm -rf {fresh} {fresh}-run"])
        print(f"image: 5 layers of {a.mb} MB random bytes + busybox; {size / 1e6:.0f} MB of blobs; {a.runs} runs")
        for what, res in [("push", push), ("pull", pull)]:
            med = {n: statistics.median(v) for n, v in res.items()}
            for n in med:
                print(f"  {what} {n:8s} median {med[n]:7.2f} s   {n}/berth {med[n] / med['berth']:5.2f}x"
                      f"   {size / 1e6 / med[n]:6.0f} MB/s")
    finally:
        for r in regs:
            r.terminate()
            r.wait()
        remove_berth_networks([os.path.abspath(a.bin), "--root", os.path.join(work, "berth")])
        mounts = [l.split()[4] for l in open("/proc/self/mountinfo") if l.split()[4].startswith(work)]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    hide_hybrid_unified()
    main()
