#!/usr/bin/env python3
"""Image load benchmark: one image with a ~200 MB gzip layer, unpacked from the same bytes by
`berth load` (both digests verified), GNU `tar -xzf` (no digests), `umoci unpack` and
`podman load`, interleaved; every run writes to a fresh tmpfs. Prints medians, ratios and
MB/s in (compressed) and out (uncompressed).

Usage (root): bench/load.py [--runs 5] [--bin target/x86_64-unknown-linux-gnu/release/berth]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lifecycle import RELEASE  # noqa: E402

CACHE = "/var/tmp/berth-bench-load"


def sh(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def make_layer():
    """~200 MB of gzip from real files (docs, python stdlib): many small and large files."""
    layer = os.path.join(CACHE, "layer.tar.gz")
    if os.path.exists(layer):
        return layer
    os.makedirs(CACHE, exist_ok=True)
    srcs = [p for p in ["usr/share", "usr/lib/python3.11"] if os.path.isdir("/" + p)]
    tmp = layer + ".tmp"
    sh(["tar", "-C", "/", "--exclude=usr/share/doc", "-czf", tmp] + srcs, stderr=subprocess.DEVNULL)
    os.rename(tmp, layer)
    return layer


def tmpfs(path, size="6g"):
    os.makedirs(path, exist_ok=True)
    sh(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path])


def umount(path):
    subprocess.run(["umount", "-l", path], check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(RELEASE, "berth"))
    a = ap.parse_args()
    berth = os.path.abspath(a.bin)
    layer = make_layer()
    # Inputs on a tmpfs of their own (read from memory, like the page cache would), outputs
    # on a fresh tmpfs per run.
    inputs = "/var/tmp/berth-bench-load-in"
    out = "/var/tmp/berth-bench-load-out"
    tmpfs(inputs, "6g")
    try:
        # The same bytes for everyone: an archive of an image whose one layer is `layer`.
        shutil.copy(layer, f"{inputs}/layer.tar.gz")
        layer = f"{inputs}/layer.tar.gz"
        sh([berth, "--root", f"{inputs}/root", "import", layer, "big:1"], stdout=subprocess.DEVNULL)
        sh([berth, "--root", f"{inputs}/root", "save", "-o", f"{inputs}/big.tar", "big:1"])
        sh([berth, "--root", f"{inputs}/root", "save", "--format", "oci-archive", "-o", f"{inputs}/big-oci.tar", "big:1"])
        os.makedirs(f"{inputs}/layout")
        sh(["tar", "-C", f"{inputs}/layout", "-xf", f"{inputs}/big-oci.tar"])
        shutil.rmtree(f"{inputs}/root")
        os.remove(f"{inputs}/big-oci.tar")
        gz = os.path.getsize(layer)
        raw = int(subprocess.run(["sh", "-c", f"gzip -dc {layer} | wc -c"], capture_output=True, text=True).stdout)
        tools = {
            "berth load": [berth, "--root", f"{out}/root", "load", "-q", "-i", f"{inputs}/big.tar"],
            "tar -xzf": ["sh", "-c", f"mkdir {out}/x && tar -xzf {layer} -C {out}/x"],
        }
        if shutil.which("umoci"):
            tools["umoci unpack"] = ["umoci", "--log", "error", "unpack", "--image", f"{inputs}/layout:1", f"{out}/bundle"]
        if shutil.which("podman"):
            tools["podman load"] = ["podman", "--root", f"{out}/pr", "--runroot", f"{out}/prr", "--storage-driver", "overlay",
                                    "load", "-q", "-i", f"{inputs}/big.tar"]
        times = {t: [] for t in tools}
        for _ in range(a.runs):
            for name, cmd in tools.items():
                tmpfs(out)
                try:
                    sh(["sync"])
                    t0 = time.perf_counter()
                    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    times[name].append(time.perf_counter() - t0)
                finally:
                    umount(out)
        print(f"unpack of one image, {gz/1e6:.0f} MB gzip -> {raw/1e6:.0f} MB, {a.runs} interleaved runs on fresh tmpfs, medians:")
        med = {n: statistics.median(v) for n, v in times.items()}
        for n, m in med.items():
            print(f"  {n:<14} {m:6.2f} s   {gz/1e6/m:6.1f} MB/s in, {raw/1e6/m:6.1f} MB/s out")
        for n in med:
            if n != "berth load":
                print(f"  berth load / {n}: {med['berth load'] / med[n]:.2f}")
    finally:
        umount(inputs)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    main()
