#!/usr/bin/env python3
"""Compose benchmark (issue 14): `compose up -d` and `compose down` of a project shaped as the
seed's (three services, each publishing a port, on the project's default network; busybox
httpd, so images are already there) with berth against Debian's docker-compose on docker.io
(and `docker compose` v2 and podman-compose when installed), interleaved (A B A B ...),
medians and ratios. `down -t 0`: the services' PID 1 ignores SIGTERM, and the stop timeout
is not what is measured.

dockerd is started for the run if it is not running (and stopped after, by its pid), on
its own socket, without touching the host's firewall (--iptables=false).

With --shop ROOT, the seed's own app instead (examples/shop: three Flask services on Python
images), images already built into the berth root ROOT (scripts/shop.sh, or `berth compose -f
examples/shop/compose.yaml build`) and loaded from there into docker and podman. Two forms:
`seed`, the seed's three docker-compose.yml files (no healthchecks; `down` as typed, since
the apps stop on SIGTERM), and `full`, compose.yaml (a network, volumes, and `order` started
only once `user` and `product` are healthy: `up -d` waits for their first passing probe,
which comes every start_interval while they start; docker-compose 1.29 and podman-compose
get the file without start_interval and start_period and with that interval instead, the
same probes while `up -d` is measured).

Usage (root): bench/compose.py [--runs 15] [--warmup 2] [--bin target/x86_64-unknown-linux-gnu/release/berth]
              [--shop ROOT [--forms seed,full]]
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import start_dockerd  # noqa: E402
from lifecycle import RELEASE, hide_hybrid_unified  # noqa: E402

COMPOSE = """version: '3.8'
services:
  user:
    image: bb:1
    command: ["busybox", "httpd", "-f", "-p", "5000", "-h", "/"]
    ports: ["{p0}:5000"]
  order:
    image: bb:1
    command: ["busybox", "httpd", "-f", "-p", "5001", "-h", "/"]
    ports: ["{p1}:5001"]
  product:
    image: bb:1
    command: ["busybox", "httpd", "-f", "-p", "5002", "-h", "/"]
    ports: ["{p2}:5002"]
"""


def busybox_tar(work):
    root = os.path.join(work, "bbroot")
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(shutil.which("busybox"), os.path.join(root, "bin/busybox"))
    for a in ["sh", "httpd", "sleep"]:
        os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    tar = os.path.join(work, "bb.tar")
    subprocess.run(["tar", "-C", root, "-cf", tar, "."], check=True)
    return tar


def timed(argv, env=None):
    t = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {r.stderr.decode()[-2000:]}")
    return dt


def answering(base, tool, within=5.0):
    """Each of the project's three published ports accepts a connection within `within` s."""
    for port in (base, base + 1, base + 2):
        t = time.monotonic()
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as e:
                if time.monotonic() - t > within:
                    raise SystemExit(f"{tool}: nothing answers on 127.0.0.1:{port} after up -d: {e}")
                time.sleep(0.05)


SHOP = os.path.join(HERE, "..", "examples", "shop")
SHOP_SERVICES = ("user", "order", "product")


def for_compose_1(path):
    """Debian's docker-compose 1.29 rejects a healthcheck's `start_interval` (docker 20.10
    has none). Without it, and without the start period it belongs to, probes come every
    start interval from the start: the same first probe, so the same wait in `up -d`."""
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    start = [ln.split(":", 1)[1].strip() for ln in lines if ln.strip().startswith("start_interval:")]
    if not start:
        return
    out = []
    for ln in lines:
        key = ln.strip().split(":", 1)[0]
        if key in ("start_interval", "start_period"):
            continue
        if key == "interval":
            ln = ln[:ln.index("interval:")] + f"interval: {start[0]}\n"
        out.append(ln)
    with open(path, "w") as f:
        f.write("".join(out))


def shop(a):
    """`up -d` and `down` of the seed's shop, each form, each tool, interleaved."""
    work = tempfile.mkdtemp(prefix="berth-bench-shop-")
    images = [f"shop-{s}:latest" for s in SHOP_SERVICES]
    src = [os.path.abspath(a.bin), "--root", os.path.abspath(a.shop)]
    archive = os.path.join(work, "shop.tar")
    subprocess.run(src + ["save", "-o", archive] + images, check=True)
    berth = [os.path.abspath(a.bin), "--root", os.path.join(work, "berth")]
    subprocess.run(berth + ["load", "-q", "-i", archive], check=True, stdout=subprocess.DEVNULL)
    tools = {"berth": (berth + ["compose"], None)}
    dockerd = None
    docker = start_dockerd(work)
    if docker:
        cli, dockerd = docker
        subprocess.run(cli + ["load", "-q", "-i", archive], check=True, stdout=subprocess.DEVNULL)
        env = dict(os.environ)
        if "--host" in cli:
            env["DOCKER_HOST"] = cli[cli.index("--host") + 1]
        if shutil.which("docker-compose"):
            tools["docker-compose"] = ([shutil.which("docker-compose")], env)
    podman = shutil.which("podman-compose") and shutil.which("podman")
    if podman:
        subprocess.run(["podman", "load", "-q", "-i", archive], check=True, stdout=subprocess.DEVNULL)
        tools["podman-compose"] = ([shutil.which("podman-compose")], None)
    forms = a.forms.split(",")
    # Each tool its own copy of the app (its build contexts are there), and an override that
    # names the built images, so no tool builds.
    dirs = {}
    for i, n in enumerate(tools):
        d = os.path.join(work, f"shop{i}")
        shutil.copytree(SHOP, d)
        if n != "berth":
            for_compose_1(os.path.join(d, "compose.yaml"))
        for form, version in (("seed", "version: '3'\n"), ("full", "")):
            with open(os.path.join(d, f"bench-{form}.yaml"), "w") as f:
                # crun cannot raise RLIMIT_NOFILE past this host's bounding set: podman gets
                # the limits bench/run.py gives it.
                extra = ("    ulimits: {nofile: 20000, nproc: 32768}\n"
                         if n == "podman-compose" else "")
                f.write(version + "services:\n" + "".join(
                    f"  {s}:\n    image: shop-{s}:latest\n{extra}" for s in SHOP_SERVICES))
        dirs[n] = d

    def files(n, form):
        d = dirs[n]
        if form == "seed":
            fs = [os.path.join(d, s, "docker-compose.yml") for s in SHOP_SERVICES]
        else:
            fs = [os.path.join(d, "compose.yaml")]
        fs.append(os.path.join(d, f"bench-{form}.yaml"))
        args = ["-p", f"benchshop{list(tools).index(n)}"]
        if n != "podman-compose":  # podman-compose 1.0.3 has no --project-directory
            args += ["--project-directory", d]
        for f in fs:
            args += ["-f", f]
        return args

    def envof(n):
        env = dict(tools[n][1] or os.environ)
        # One port for the product service: podman-compose 1.0.3 cannot publish a range
        # onto one container port.
        env["PRODUCT_PORTS"] = "5002"
        return env

    up = {(f, n): [] for f in forms for n in tools}
    down = {(f, n): [] for f in forms for n in tools}
    try:
        for run in range(a.warmup + a.runs):
            for form in forms:
                for n, (argv, _) in tools.items():
                    base = argv + files(n, form)
                    u = timed(base + ["up", "-d"], envof(n))
                    answering_http(f"{n} ({form})", (5000, 5001, 5002))
                    dn = timed(base + ["down", "-v"], envof(n))
                    if run >= a.warmup:
                        up[(form, n)].append(u)
                        down[(form, n)].append(dn)
    finally:
        for form in forms:
            for n, (argv, _) in tools.items():
                subprocess.run(argv + files(n, form) + ["down", "-v", "-t", "0"], env=envof(n),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if podman:
            # podman-compose 1.0.3's down leaves the project's networks; podman load names
            # the images docker.io/library/... or localhost/...
            i = list(tools).index("podman-compose")
            subprocess.run(["podman", "network", "rm", "-f", f"benchshop{i}_default",
                            f"benchshop{i}_shop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for prefix in ("docker.io/library/", "localhost/"):
                subprocess.run(["podman", "rmi"] + [prefix + x for x in images],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if dockerd:
            dockerd.terminate()
            dockerd.wait()
        shutil.rmtree(work, ignore_errors=True)
    med = lambda v: statistics.median(v) * 1000  # noqa: E731
    print(f"the shop (examples/shop, images built), {a.runs} runs each, interleaved")
    print(f"{'form':<6} {'tool':<16} {'up -d median':>14} {'down median':>14}"
          f" {'up ratio':>10} {'down ratio':>11}")
    for form in forms:
        b = (form, "berth")
        for n in tools:
            k = (form, n)
            print(f"{form:<6} {n:<16} {med(up[k]):>11.1f} ms {med(down[k]):>11.1f} ms"
                  f" {med(up[b]) / med(up[k]):>10.2f} {med(down[b]) / med(down[k]):>11.2f}")


def answering_http(tool, ports, within=30.0):
    """Each service answers an HTTP request on its published port within `within` s (the
    order service may still be starting when `up -d` returns)."""
    import urllib.error
    import urllib.request
    for port in ports:
        t = time.monotonic()
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # it answered (the seed's own app has no /health)
            except OSError as e:
                if time.monotonic() - t > within:
                    raise SystemExit(f"{tool}: nothing answers on 127.0.0.1:{port} after up -d: {e}")
                time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--bin", default=os.path.join(RELEASE, "berth"))
    ap.add_argument("--shop", metavar="ROOT", help="the seed's shop, images built in this berth root")
    ap.add_argument("--forms", default="seed,full")
    a = ap.parse_args()
    if a.shop:
        return shop(a)
    work = tempfile.mkdtemp(prefix="berth-bench-compose-")
    tar = busybox_tar(work)
    berth_root = os.path.join(work, "berth")
    berth = [os.path.abspath(a.bin), "--root", berth_root]
    subprocess.run(berth + ["import", tar, "bb:1"], check=True, stdout=subprocess.DEVNULL)
    peers = {}
    docker = start_dockerd(work)
    dockerd = None
    if docker:
        cli, dockerd = docker
        subprocess.run(cli + ["import", tar, "bb:1"], check=True, stdout=subprocess.DEVNULL)
        env = dict(os.environ)
        if "--host" in cli:
            env["DOCKER_HOST"] = cli[cli.index("--host") + 1]
        if shutil.which("docker-compose"):
            peers["docker-compose"] = ([shutil.which("docker-compose")], env)
        if subprocess.run(cli + ["compose", "version"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            peers["docker compose"] = (cli + ["compose"], env)
    podman_image = False
    if shutil.which("podman-compose") and shutil.which("podman"):
        # podman-compose exits 0 even when podman cannot find the image: it must be there.
        subprocess.run(["podman", "import", tar, "localhost/bb:1"], check=True,
                       stdout=subprocess.DEVNULL)
        podman_image = True
        peers["podman-compose"] = ([shutil.which("podman-compose")], None)
    tools = {"berth": (berth + ["compose"], None)}
    tools.update(peers)
    files = {}
    for i, name in enumerate(tools):
        d = os.path.join(work, f"p{i}")
        os.makedirs(d)
        base = 31000 + 10 * i
        text = COMPOSE.format(p0=base, p1=base + 1, p2=base + 2)
        if name == "podman-compose":
            # crun cannot raise RLIMIT_NOFILE past this host's bounding set (no
            # CAP_SYS_RESOURCE): the limits bench/run.py gives podman, for each service.
            text = text.replace("    ports:", "    ulimits: {nofile: 20000, nproc: 32768}\n    ports:")
        with open(os.path.join(d, "compose.yaml"), "w") as f:
            f.write(text)
        files[name] = os.path.join(d, "compose.yaml")
    up = {n: [] for n in tools}
    down = {n: [] for n in tools}
    try:
        for run in range(a.warmup + a.runs):
            for n, (argv, env) in tools.items():
                base = argv + ["-f", files[n], "-p", f"bench{list(tools).index(n)}"]
                u = timed(base + ["up", "-d"], env)
                # Not timed: each tool really started the three (an exit status alone does
                # not say so for every peer).
                answering(31000 + 10 * list(tools).index(n), n)
                dn = timed(base + ["down", "-t", "0"], env)
                if run >= a.warmup:
                    up[n].append(u)
                    down[n].append(dn)
    finally:
        for n, (argv, env) in tools.items():
            subprocess.run(argv + ["-f", files[n], "-p", f"bench{list(tools).index(n)}", "down", "-t", "0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        if podman_image:
            if "podman-compose" in tools:
                # podman-compose 1.0.3's down leaves the project's network.
                i = list(tools).index("podman-compose")
                subprocess.run(["podman", "network", "rm", "-f", f"bench{i}_default"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["podman", "rmi", "localhost/bb:1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if dockerd:
            dockerd.terminate()
            dockerd.wait()
        shutil.rmtree(work, ignore_errors=True)
    med = lambda v: statistics.median(v) * 1000  # noqa: E731
    print(f"compose up -d / down -t 0 of 3 services with published ports, {a.runs} runs each, interleaved")
    print(f"{'tool':<16} {'up -d median':>14} {'down median':>14} {'up ratio':>10} {'down ratio':>11}")
    for n in tools:
        print(f"{n:<16} {med(up[n]):>11.1f} ms {med(down[n]):>11.1f} ms"
              f" {med(up['berth']) / med(up[n]):>10.2f} {med(down['berth']) / med(down[n]):>11.2f}")


if __name__ == "__main__":
    # podman's crun refuses this hybrid host: every tool runs on its cgroup-v1 view alike.
    hide_hybrid_unified()
    main()
