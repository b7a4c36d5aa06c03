#!/usr/bin/env python3
"""Network benchmark (issue 12): `berth run --rm IMAGE true` on the default bridge against
`--network none`, and the same pair for podman and docker (the same busybox image, imported), all
interleaved (A B C D A B C D ...), medians; then the latency of the network's DNS server
(a container name asked from the host, from inside a container on the network, and from a
container on two networks for a name of its second one; median and p99);
then iperf3 throughput (if installed): loopback, container to container, host to a
published port (and docker's published port, if dockerd is there).

Usage (root): bench/network.py [--runs 30] [--warmup 3] [--bin target/x86_64-unknown-linux-gnu/release/berth]
"""
import argparse
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lifecycle import RELEASE, hide_hybrid_unified  # noqa: E402
from run import start_dockerd  # noqa: E402

# docker's own bridge for this run (dockerd started here, without iptables: published ports
# go through its userland proxy, as they do on 127.0.0.1 in any case).
DOCKER_NET = ("--bip", "10.213.250.1/24")
DOCKER_IMAGE = "berth-netbench:1"
PODMAN_LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def sh(argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def busybox_tar(work):
    root = os.path.join(work, "rootfs")
    os.makedirs(os.path.join(root, "bin"))
    for d in ["etc", "tmp", "proc", "sys", "dev"]:
        os.makedirs(os.path.join(root, d))
    bb = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(bb, os.path.join(root, "bin", "busybox"))
    for a in ["sh", "true", "sleep", "nslookup"]:
        os.symlink("busybox", os.path.join(root, "bin", a))
    # The host's /usr is bound in for iperf3 (Debian's merged /usr: /lib is usr/lib).
    os.makedirs(os.path.join(root, "usr"))
    os.symlink("usr/lib", os.path.join(root, "lib"))
    os.symlink("usr/lib64", os.path.join(root, "lib64"))
    tar = os.path.join(work, "bb.tar")
    sh(["tar", "-C", root, "-cf", tar, "."])
    return tar


def timed(argv):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1000


def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)


# Run inside a container: A queries for argv[1] to the first nameserver of /etc/resolv.conf,
# argv[2] times; prints each latency in microseconds (a failed lookup fails the run).
IN_CONTAINER = r"""
import socket, struct, sys, time
name, n = sys.argv[1], int(sys.argv[2])
ns = [l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")][0]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
out = []
for i in range(n + 20):
    q = struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    t = time.perf_counter()
    s.sendto(q, (ns, 53))
    r, _ = s.recvfrom(512)
    dt = (time.perf_counter() - t) * 1e6
    assert r[:2] == q[:2] and r[3] & 15 == 0 and r[7] >= 1, "no answer for " + name
    if i >= 20:
        out.append(dt)
print(" ".join(f"{x:.1f}" for x in out))
"""


def gbits(out):
    import json
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


def iperf(berth, secs, docker=None):
    """TCP throughput: host loopback, container to container on one bridge, host to a
    published port (127.0.0.1), with Debian's iperf3 (the host's /usr bound in); and host to
    a port docker published, if docker is there."""
    ip3 = shutil.which("iperf3")
    usr = ["-v", "/usr:/usr:ro"]
    srv = subprocess.Popen([ip3, "-s", "-1", "-p", "25301"], stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    loop = gbits(sh([ip3, "-c", "127.0.0.1", "-p", "25301", "-t", str(secs), "-J"]))
    srv.wait()
    sid = sh(berth + ["run", "-d", "--name", "ipsrv", "--network", "benchnet", "-p", "25302:5201", *usr,
                      "bench:1", "/usr/bin/iperf3", "-s"]).strip()
    time.sleep(0.5)
    c2c = gbits(sh(berth + ["run", "--rm", "--network", "benchnet", *usr, "bench:1", "/usr/bin/iperf3", "-c",
                            "ipsrv", "-t", str(secs), "-J"]))
    pub = gbits(sh([ip3, "-c", "127.0.0.1", "-p", "25302", "-t", str(secs), "-J"]))
    sh(berth + ["rm", "-f", sid])
    print(f"iperf3 TCP, {secs} s each: host loopback {loop:.1f} Gbit/s; container->container on one "
          f"bridge {c2c:.1f} Gbit/s ({c2c / loop:.2f}x loopback); host->published port on 127.0.0.1 "
          f"{pub:.1f} Gbit/s ({pub / loop:.2f}x)")
    if docker:
        did = sh(docker + ["run", "-d", "-p", "127.0.0.1:25303:5201", *usr, DOCKER_IMAGE, "/usr/bin/iperf3",
                           "-s"]).strip()
        time.sleep(0.5)
        dpub = gbits(sh([ip3, "-c", "127.0.0.1", "-p", "25303", "-t", str(secs), "-J"]))
        subprocess.run(docker + ["rm", "-f", did], stdout=subprocess.DEVNULL)
        print(f"  docker's published port on 127.0.0.1 (its userland proxy): {dpub:.1f} Gbit/s "
              f"({dpub / loop:.2f}x loopback; berth {pub / dpub:.1f}x docker)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(RELEASE, "berth"))
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--iperf-seconds", type=int, default=5)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="berth-netbench-")
    had_docker0 = os.path.exists("/sys/class/net/docker0")
    dockerd = None
    try:
        dockerd = bench(a, work)
    finally:
        if dockerd:
            dockerd.terminate()
            dockerd.wait()
            if not had_docker0:
                subprocess.run(["ip", "link", "del", "docker0"], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", work])


def bench(a, work):
    """The whole run; returns the dockerd it started (or None) for main to stop."""
    root = os.path.join(work, "root")
    berth = [os.path.abspath(a.bin), "--root", root]
    tar = busybox_tar(work)
    sh(berth + ["import", tar, "bench:1"])
    cases = {
        "berth none": berth + ["run", "--rm", "--network", "none", "bench:1", "true"],
        "berth bridge": berth + ["run", "--rm", "bench:1", "true"],
    }
    podman = None
    if shutil.which("podman"):
        podman = [shutil.which("podman"), "--root", os.path.join(work, "podman"),
                  "--runroot", os.path.join(work, "podman-run"), "--storage-driver", "overlay"]
        sh(podman + ["import", tar, "localhost/berth-netbench:1"], stderr=subprocess.DEVNULL)
        base = podman + ["run", "--rm"] + PODMAN_LIMITS
        cases["podman none"] = base + ["--network", "none", "localhost/berth-netbench:1", "true"]
        cases["podman bridge"] = base + ["localhost/berth-netbench:1", "true"]
    docker, dockerd = None, None
    d = start_dockerd(work, DOCKER_NET)
    if d:
        docker, dockerd = d
        sh(docker + ["import", tar, DOCKER_IMAGE], stderr=subprocess.DEVNULL)
        cases["docker none"] = docker + ["run", "--rm", "--network", "none", DOCKER_IMAGE, "true"]
        cases["docker bridge"] = docker + ["run", "--rm", DOCKER_IMAGE, "true"]
    # A peer that cannot run here is left out, and said so (podman's netavark refuses to work
    # when iptables chains of an earlier podman are still there).
    for k in list(cases):
        r = subprocess.run(cases[k], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            print(f"  ({k} left out: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode})")
            del cases[k]
    times = {k: [] for k in cases}
    for i in range(a.warmup + a.runs):
        for k, argv in cases.items():
            ms = timed(argv)
            if i >= a.warmup:
                times[k].append(ms)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"run --rm, {a.runs} interleaved runs after {a.warmup} warm-up, medians:")
    for k, v in med.items():
        print(f"  {k:<14} {v:8.2f} ms")
    print(f"  berth bridge - none: {med['berth bridge'] - med['berth none']:+.2f} ms")
    if "podman bridge" in med:
        print(f"  podman bridge - none: {med['podman bridge'] - med['podman none']:+.2f} ms")
        print(f"  podman bridge / berth bridge: {med['podman bridge'] / med['berth bridge']:.1f}x")
    if "podman none" in med:
        print(f"  podman none / berth bridge: {med['podman none'] / med['berth bridge']:.1f}x")
    if "docker bridge" in med:
        print(f"  docker bridge - none: {med['docker bridge'] - med['docker none']:+.2f} ms")
        print(f"  docker bridge / berth bridge: {med['docker bridge'] / med['berth bridge']:.1f}x")

    # DNS: a container on a network, its name asked of the network's server.
    sh(berth + ["network", "create", "--subnet", "10.213.240.0/24", "benchnet"])
    cid = sh(berth + ["run", "-d", "--name", "target", "--network", "benchnet", "bench:1", "sleep", "300"]).strip()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    lat = []
    for i in range(a.queries):
        q = query("target", i & 0xFFFF)
        t = time.perf_counter()
        s.sendto(q, ("10.213.240.1", 53))
        r, _ = s.recvfrom(512)
        lat.append((time.perf_counter() - t) * 1e6)
        assert r[:2] == q[:2] and r[7] == 1, "no answer for target"
    lat.sort()
    print(f"DNS, {a.queries} A queries for a container name from the host to the network's server:")
    print(f"  median {statistics.median(lat):.0f} us, p99 {lat[int(len(lat) * 0.99) - 1]:.0f} us")
    # The same from inside a container on the network (the path an app's lookup takes: its
    # /etc/resolv.conf names the gateway), and from a container on two networks asking for
    # a name of its second one. Python from the host's /usr times the queries in there.
    sh(berth + ["network", "create", "--subnet", "10.213.241.0/24", "benchnet2"])
    cid2 = sh(berth + ["run", "-d", "--name", "target2", "--network", "benchnet2", "bench:1", "sleep",
                       "300"]).strip()
    for title, nets, name in [("a container on the network", ["benchnet"], "target"),
                              ("a container on two networks (a name of its second)", ["benchnet", "benchnet2"],
                               "target2")]:
        argv = berth + ["run", "--rm", "-v", "/usr:/usr:ro"]
        for n in nets:
            argv += ["--network", n]
        out = sh(argv + ["bench:1", "/usr/bin/python3", "-c", IN_CONTAINER, name, str(a.queries)])
        lat = sorted(float(x) for x in out.split())
        print(f"DNS, {a.queries} A queries for {name!r} from {title} to its nameserver:")
        print(f"  median {statistics.median(lat):.0f} us, p99 {lat[int(len(lat) * 0.99) - 1]:.0f} us")
    sh(berth + ["rm", "-f", cid, cid2])
    sh(berth + ["network", "rm", "benchnet2"])
    if shutil.which("iperf3"):
        iperf(berth, a.iperf_seconds, docker)
    sh(berth + ["network", "rm", "benchnet"])
    for n in sh(berth + ["network", "ls", "-q", "--no-trunc"]).split():
        subprocess.run(berth + ["network", "rm", n], stdout=subprocess.DEVNULL)
    if podman:
        subprocess.run(podman + ["rmi", "-af"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["umount", "-R", os.path.join(work, "podman", "overlay")], stderr=subprocess.DEVNULL)
    if docker:
        subprocess.run(docker + ["rmi", "-f", DOCKER_IMAGE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return dockerd


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    hide_hybrid_unified()
    sys.exit(main())
