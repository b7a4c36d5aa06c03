#!/usr/bin/python3
"""containerd benchmark (issue 11): berth-runtime, runc and crun under containerd's runc shim
(io.containerd.runc.v2), the way a Kubernetes node drives a runtime. A private containerd (its
config, root, state and socket in a temp dir; as runtime/tests/common/containerd.rs starts it)
with a busybox image built here from busybox-static and imported with `ctr images import`.

A: `ctr run --rm --runc-binary RUNTIME IMAGE ID true`, one new shim per run.
B: the CRI, as a kubelet: three runtime handlers (berth, runc, crun; each io.containerd.runc.v2
   with its own BinaryName), one pod per handler (CNI bridge of this run's own, no gateway, no
   masquerade), then CreateContainer + StartContainer + StopContainer + RemoveContainer of a
   busybox `sleep 300` in that pod. Needs the CRI client's modules (Debian's python3-grpcio,
   python3-protobuf, protobuf-compiler, as runtime/tests/cri.rs) and containernetworking-plugins;
   without them it says why and does A only.
Interleaved (A B C A B C ...) after a warm-up; medians, p10/p90 and ratios. Every runtime runs
in the same private mount namespace without the hybrid cgroup2 mount (lifecycle.py).

With --trace N (needs perf), N more rounds of A and of B under `perf record` of exec/exit
events split each run and each CRI step into the runtime's own processes and the rest (ctr,
containerd, the shim).

Usage (root): bench/containerd.py [--runs 20] [--warmup 3] [--no-cri] [--trace N]
              [--bin target/x86_64-unknown-linux-gnu/release/berth-runtime]
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lifecycle import RELEASE, hide_hybrid_unified  # noqa: E402

CRI_DIR = os.path.join(HERE, "..", "runtime", "tests", "cri")
IMAGE = "docker.io/library/busybox:berth-bench"
# The sandbox's only job is to hold the pod's namespaces until it is told to stop.
PAUSE = "docker.io/library/busybox:berth-bench-pause"
PAUSE_CMD = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
HANDLERS = {"berth-runtime": "berth", "runc": "runc", "crun": "crun"}


def sh(argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest(), os.path.getsize(path)


def image_archive(work):
    """An OCI image archive (image-layout) of one uncompressed layer, the busybox rootfs of
    scripts/mkbundle.sh, holding two images: IMAGE (`sh`) and PAUSE (waits for SIGTERM)."""
    src = os.path.join(work, "image")
    sh([os.path.join(HERE, "..", "scripts", "mkbundle.sh"), os.path.join(src, "bundle"), "true"])
    blobs = os.path.join(src, "layout", "blobs", "sha256")
    os.makedirs(blobs)

    def blob(path):
        hexd, size = sha256_file(path)
        os.rename(path, os.path.join(blobs, hexd))
        return "sha256:" + hexd, size

    def json_blob(name, value):
        p = os.path.join(src, name)
        with open(p, "w") as f:
            json.dump(value, f)
        return blob(p)

    layer = os.path.join(src, "layer.tar")
    sh(["tar", "--numeric-owner", "-C", os.path.join(src, "bundle", "rootfs"), "-cf", layer, "."])
    layer_digest, layer_size = blob(layer)
    manifests = []
    for name, cmd in ((IMAGE, ["sh"]), (PAUSE, PAUSE_CMD)):
        tag = name.rsplit(":", 1)[1]
        cfg = json_blob(f"config-{tag}.json", {
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]}})
        man = json_blob(f"manifest-{tag}.json", {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg[0], "size": cfg[1]},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                        "size": layer_size}]})
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man[0],
                          "size": man[1], "annotations": {"io.containerd.image.name": name,
                                                          "org.opencontainers.image.ref.name": tag}})
    layout = os.path.join(src, "layout")
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": manifests}, f)
    archive = os.path.join(work, "busybox.tar")
    sh(["tar", "-C", layout, "-cf", archive, "oci-layout", "index.json", "blobs"])
    shutil.rmtree(src)
    return archive


def cri_missing():
    """Why the CRI part cannot run here, or None."""
    try:
        import grpc  # noqa: F401
        import google.protobuf  # noqa: F401
    except ImportError:
        return (f"{sys.executable} has no grpc/protobuf modules (Debian packages python3-grpcio, "
                "python3-protobuf; run the script with /usr/bin/python3)")
    if not shutil.which("protoc"):
        return "protoc is not installed (Debian package protobuf-compiler)"
    if not all(os.path.exists(f"/usr/lib/cni/{p}") for p in ("bridge", "host-local", "loopback")):
        return "the CNI plugins are not installed (Debian package containernetworking-plugins)"
    if not os.path.exists(os.path.join(CRI_DIR, "cri.proto")):
        return f"{CRI_DIR}/cri.proto is missing"
    return None


class Containerd:
    """A containerd of this run's own, in `d`; `runtimes`: {tool: binary}, the CRI handlers
    (None: CRI plugin off)."""

    def __init__(self, d, runtimes, cri):
        self.d, self.sock, self.proc = d, os.path.join(d, "c.sock"), None
        self.bridge = f"bbench{os.getpid() % 100000}" if cri else None
        self.cgroup_parent = f"berth-bench-{os.getpid()}-cri"
        self.runtimes, self.cri = runtimes, cri
        off = '"io.containerd.grpc.v1.cri", ' if not cri else ""
        config = f'''version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{off}"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{d}/c.ttrpc.sock"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
'''
        if cri:
            config += f'''[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  netns_mounts_under_state_dir = true
  # The sandbox asks for oom_score_adj -998; clamp it to ours (as runtime/tests/cri.rs).
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "{HANDLERS[next(iter(runtimes))]}"
'''
            for tool, binary in runtimes.items():
                h = HANDLERS[tool]
                config += f'''    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{h}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{h}.options]
        BinaryName = "{binary}"
        Root = "{d}/runc-cri-{h}"
        SystemdCgroup = false
'''
            config += f'''  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
'''
            os.makedirs(os.path.join(d, "cni"))
            # No gateway (so no IP on the host's side and no ip_forward), no masquerade rules.
            with open(os.path.join(d, "cni", "10-berth-bench.conflist"), "w") as f:
                json.dump({"cniVersion": "0.4.0", "name": f"berthbench{os.getpid()}", "plugins": [{
                    "type": "bridge", "bridge": self.bridge, "isGateway": False, "ipMasq": False,
                    "ipam": {"type": "host-local", "ranges": [[{"subnet": f"10.214.{os.getpid() % 250}.0/24"}]],
                             "dataDir": os.path.join(d, "ipam")}}]}, f)
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(config)
        log = open(os.path.join(d, "containerd.log"), "w")
        self.proc = subprocess.Popen(["containerd", "--config", os.path.join(d, "config.toml")],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        for _ in range(300):
            if self.ctr("default", ["version"]).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.proc.kill()
        self.proc.wait()
        raise SystemExit(f"containerd did not come up:\n{self.log()}")

    def ctr(self, ns, args):
        return subprocess.run(["ctr", "--address", self.sock, "--namespace", ns, *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ok(self, ns, args):
        r = self.ctr(ns, args)
        if r.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {r.stderr.strip()}\n{self.log()}")
        return r.stdout

    def log(self, last=15):
        try:
            lines = open(os.path.join(self.d, "containerd.log")).read().splitlines()
        except OSError:
            return ""
        return "\n".join([ln for ln in lines if "level=error" in ln or "level=warn" in ln][-last:])

    def stop(self, runtime_roots):
        """What a failed run leaves: tasks (force-deleted with the runtime that owns each root),
        then shims serving our socket (killed, their sockets removed), containerd, mounts
        under d, the cgroups of our namespaces, the bridge."""
        for binary, root in runtime_roots:
            for ns in os.listdir(root) if os.path.isdir(root) else []:
                for cid in os.listdir(os.path.join(root, ns)):
                    subprocess.run([binary, "--root", os.path.join(root, ns), "delete", "--force", cid],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for pid in os.listdir("/proc"):
            try:
                argv = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\0")
            except (OSError, ValueError):
                continue
            if argv and "containerd-shim" in argv[0] and self.sock in argv:
                opt = {k: v for k, v in zip(argv, argv[1:]) if k.startswith("-")}
                print(f"  killing a leftover shim {pid} ({opt.get('-namespace')}/{opt.get('-id')})", file=sys.stderr)
                os.kill(int(pid), signal.SIGKILL)
                # runtime/v2/shim SocketAddress: /run/containerd/s/sha256(address/ns/id).
                key = os.path.join(self.sock, opt.get("-namespace", ""), opt.get("-id", "")).encode()
                try:
                    os.unlink("/run/containerd/s/" + hashlib.sha256(key).hexdigest())
                except OSError:
                    pass
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Snapshots, the sandboxes' /dev/shm and netns bind mounts: deepest first.
        mounts = [ln.split(" ")[4] for ln in open("/proc/self/mountinfo")]
        for m in sorted((m for m in mounts if m.startswith(self.d + "/")), key=len, reverse=True):
            if subprocess.run(["umount", "-R", m], stderr=subprocess.DEVNULL).returncode != 0:
                subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        if self.bridge:
            subprocess.run(["ip", "link", "del", self.bridge], stderr=subprocess.DEVNULL)


def remove_cgroups(names):
    """The cgroup parents of this run (ctr's /NAMESPACE, the pods' parent) in every hierarchy,
    children first; the runtimes remove the containers' own cgroups but not their parents.
    Where a hierarchy is no mount (/sys/fs/cgroup/unified with its cgroup2 hidden), crun still
    makes directories and cgroup.procs files, on the host's /sys/fs/cgroup tmpfs: rm -r them."""
    for h in os.listdir("/sys/fs/cgroup"):
        for name in names:
            top = os.path.join("/sys/fs/cgroup", h, name)
            if not os.path.isdir(top):
                continue
            if not os.path.ismount(os.path.dirname(top)):
                shutil.rmtree(top, ignore_errors=True)
                continue
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
                try:
                    os.rmdir(dirpath)
                except OSError as e:
                    print(f"  cgroup {dirpath} left: {e}", file=sys.stderr)


def interleaved(steps, runs, warmup):
    """steps: {name: fn(i) -> {phase: seconds}}, called A B C A B C ...; the first `warmup`
    rounds are not counted. A step that fails is dropped (and said why). Returns
    ({name: {phase: [seconds]}}, {name: error})."""
    times, failed = {n: {} for n in steps}, {}
    for i in range(warmup + runs):
        for name, fn in steps.items():
            if name in failed:
                continue
            try:
                dt = fn(i)
            except Exception as e:  # noqa: BLE001 -- reported, the others go on
                failed[name] = f"round {i + 1}: {why(e)}"
                continue
            if i >= warmup:
                for phase, s in dt.items():
                    times[name].setdefault(phase, []).append(s)
    return {n: t for n, t in times.items() if n not in failed}, failed


def why(e):
    """An error in one line: a gRPC error's details, else its text."""
    d = getattr(e, "details", None)
    return (d() if callable(d) else str(e)).strip().splitlines()[0]


def stats_ms(v):
    q = statistics.quantiles(v, n=10)
    return statistics.median(v) * 1000, q[0] * 1000, q[-1] * 1000


def bench_ctr(c, ns, runtimes, a):
    c.ok(ns, ["images", "import", c.archive])

    def step(tool, binary):
        def run(i):
            argv = ["ctr", "--address", c.sock, "--namespace", ns, "run", "--rm", "--runc-binary", binary,
                    "--runc-root", os.path.join(c.d, f"runc-ctr-{HANDLERS[tool]}"), IMAGE, f"bench-{HANDLERS[tool]}-{i}",
                    "true"]
            t = time.perf_counter()
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            dt = time.perf_counter() - t
            if r.returncode != 0:
                raise RuntimeError(f"exit {r.returncode}: {r.stderr.strip()}")
            return {"run": dt}
        return run

    times, failed = interleaved({t: step(t, b) for t, b in runtimes.items()}, a.runs, a.warmup)
    left = c.ok(ns, ["containers", "list", "-q"]).split()
    for cid in left:
        c.ctr(ns, ["task", "delete", "--force", cid])
        c.ctr(ns, ["containers", "delete", cid])
    print(f"A. ctr run --rm of busybox `true` (io.containerd.runc.v2, --runc-binary), {a.runs} interleaved "
          f"runs after {a.warmup} warm-up, medians:")
    med = {}
    for t, v in times.items():
        med[t], p10, p90 = stats_ms(v["run"])
        print(f"  {t:<14} {med[t]:8.2f} ms  (p10 {p10:7.2f}, p90 {p90:7.2f})")
    for t, msg in failed.items():
        print(f"  {t:<14} failed, dropped: {msg}")
    if left:
        print(f"  (--rm left {len(left)} containers; deleted)")
    for peer in ("runc", "crun"):
        if "berth-runtime" in med and peer in med:
            print(f"  berth-runtime/{peer}: {med['berth-runtime'] / med[peer]:.2f}")
    if a.trace:
        share_of_runtime({t: step(t, b) for t, b in runtimes.items() if t in med}, runtimes, a.trace)


def runtime_processes(runtimes, work):
    """Calls work() under `perf record` of the scheduler's exec and exit events; returns the
    processes of each runtime as (tool, exec time, exit time), CLOCK_MONOTONIC seconds (as
    time.monotonic()), or None when perf cannot trace. A runtime process lives from its exec
    of the runtime binary (create, start, kill, delete, the shim's delete --force) to the exit
    of its last thread. The init works inside create's time: runc's and berth-runtime's
    (re-executed) and crun's (forked)."""
    if not shutil.which("perf"):
        print("  (no trace: perf is not installed; Debian package linux-perf)")
        return None
    data = tempfile.mktemp(prefix="berth-bench-perf-")
    perf = subprocess.Popen(["perf", "record", "-q", "-a", "-k", "CLOCK_MONOTONIC", "-o", data,
                             "-e", "sched:sched_process_exec", "-e", "sched:sched_process_exit"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)  # perf has its events open
        try:
            work()
        finally:
            perf.send_signal(signal.SIGINT)
            _, err = perf.communicate()
        if perf.returncode not in (0, -signal.SIGINT):
            print(f"  (no trace: perf record: {err.decode(errors='replace').strip()})")
            return None
        out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,time,event,trace", "--ns"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    finally:
        if os.path.exists(data):
            os.unlink(data)
    # The exec event names the path as the shim passed it (`--runc-binary`, maybe a symlink).
    by_binary = {p: t for t, b in runtimes.items() for p in (b, os.path.realpath(b))}
    started, done = {}, []
    for line in out.splitlines():
        m = re.match(r"\s*(.+?)\s+(\d+)\s+([\d.]+):\s+sched:(sched_process_\w+):\s+(.*)$", line)
        if not m:
            continue
        comm, pid, ts, event, trace = m.group(1), int(m.group(2)), float(m.group(3)), m.group(4), m.group(5)
        if event == "sched_process_exec":
            name = trace.split()[0].split("=", 1)[1]
            if name in by_binary:
                started[pid] = (by_binary[name], ts, comm)
            elif pid in started and comm != started[pid][2]:
                # The runtime became something else: berth-runtime's init turning into the
                # container's process (its work until ready lies inside create's time; then it
                # waits for start). crun re-executes itself from a sealed copy under its own
                # name: still crun.
                del started[pid]
        elif event == "sched_process_exit" and "group_dead=true" in trace and pid in started:
            tool, t0, _ = started.pop(pid)
            done.append((tool, t0, ts))
    return done


def share_of_runtime(steps, runtimes, runs):
    """How much of a `ctr run` is the runtime's: `runs` more interleaved runs, traced. The
    rest of each run is ctr, containerd and its shim, the same work for every runtime."""
    wall = {t: 0.0 for t in steps}

    def work():
        for i in range(runs):
            for t, fn in steps.items():
                wall[t] += fn(10000 + i)["run"]
    procs = runtime_processes(runtimes, work)
    if procs is None:
        return
    inside, each = {t: 0.0 for t in steps}, {t: [] for t in steps}
    for tool, t0, t1 in procs:
        inside[tool] += t1 - t0
        each[tool].append(t1 - t0)
    print(f"  where the time goes ({runs} more runs each under `perf record` of exec/exit events), ms per run:")
    print(f"  {'runtime':<14} {'whole run':>9} {'in the runtime':>15} {'the rest (ctr, containerd, shim)':>33}")
    rest = {}
    for t in steps:
        w, i = wall[t] / runs * 1000, inside[t] / runs * 1000
        rest[t] = w - i
        print(f"  {t:<14} {w:9.2f} {i:15.2f} {rest[t]:33.2f}")
        # The shim runs create, start, delete, then (its own cleanup) delete --force.
        if len(each[t]) == 4 * runs:
            parts = [statistics.median(each[t][k::4]) * 1000 for k in range(4)]
            print(f"  {'':<14} {'':>9}   medians: create {parts[0]:.2f}, start {parts[1]:.2f}, "
                  f"delete {parts[2]:.2f}, delete --force {parts[3]:.2f}")
    if "berth-runtime" in inside and "runc" in inside and inside["runc"] > 0:
        print(f"  in the runtime, berth-runtime/runc: {inside['berth-runtime'] / inside['runc']:.2f}; "
              f"the rest alone is {rest['runc'] / (wall['runc'] / runs * 1000):.2f} of runc's whole run")


class Cri:
    """runtime.v1.RuntimeService over containerd's socket; the messages of
    runtime/tests/cri/cri.proto (client.py's), compiled into `work`. client.py itself is a
    script of one pod's calls (it runs on import), so its call() is repeated here."""

    def __init__(self, sock, work):
        os.makedirs(work)
        sh(["protoc", f"--proto_path={CRI_DIR}", f"--python_out={work}", "cri.proto"])
        sys.path.insert(0, work)
        import grpc
        import cri_pb2
        self.pb, self.channel = cri_pb2, grpc.insecure_channel(f"unix://{sock}")

    def call(self, method, req, timeout=60):
        resp = getattr(self.pb, method + "Response")
        fn = self.channel.unary_unary(f"/runtime.v1.RuntimeService/{method}",
                                      request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=resp.FromString)
        return fn(req, timeout=timeout)


def bench_cri(c, runtimes, a):
    cri = Cri(c.sock, os.path.join(c.d, "py"))
    pb = cri.pb
    for _ in range(100):
        try:
            v = cri.call("Version", pb.VersionRequest(version="v1"), timeout=5)
            break
        except Exception as e:  # noqa: BLE001 -- the CRI plugin may still be starting
            err = e
            time.sleep(0.1)
    else:
        raise RuntimeError(f"no CRI on containerd's socket: {err}\n{c.log()}")
    c.ok("k8s.io", ["images", "import", c.archive])
    pods, failed = {}, {}
    c.pods = pods  # for main's cleanup
    for tool in runtimes:
        h = HANDLERS[tool]
        name = f"bench-{h}-{os.getpid()}"
        os.makedirs(os.path.join(c.d, "logs", h))
        sandbox = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=name + "-uid", namespace="default", attempt=0),
            hostname=name, log_directory=os.path.join(c.d, "logs", h),
            linux=pb.LinuxPodSandboxConfig(cgroup_parent="/" + c.cgroup_parent))
        try:
            pid = cri.call("RunPodSandbox", pb.RunPodSandboxRequest(config=sandbox, runtime_handler=h)).pod_sandbox_id
        except Exception as e:  # noqa: BLE001
            failed[tool] = f"RunPodSandbox: {why(e)}"
            continue
        pods[tool] = (pid, sandbox)

    def step(tool):
        pid, sandbox = pods[tool]

        def run(i):
            cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="box", attempt=i),
                                     image=pb.ImageSpec(image=IMAGE), command=["sleep", "300"],
                                     log_path=f"box-{i}.log")
            t0 = time.monotonic()
            cid = cri.call("CreateContainer", pb.CreateContainerRequest(
                pod_sandbox_id=pid, config=cfg, sandbox_config=sandbox)).container_id
            t1 = time.monotonic()
            cri.call("StartContainer", pb.StartContainerRequest(container_id=cid))
            t2 = time.monotonic()
            # The pid namespace is the pod's: sleep is not its init, and SIGTERM ends it.
            cri.call("StopContainer", pb.StopContainerRequest(container_id=cid, timeout=2))
            t3 = time.monotonic()
            cri.call("RemoveContainer", pb.RemoveContainerRequest(container_id=cid))
            t4 = time.monotonic()
            windows.setdefault(tool, []).append({"create": (t0, t1), "start": (t1, t2), "stop": (t2, t3),
                                                 "remove": (t3, t4)})
            return {"create": t1 - t0, "start": t2 - t1, "stop": t3 - t2, "remove": t4 - t3, "total": t4 - t0}
        return run

    windows = {}
    times, failed2 = interleaved({t: step(t) for t in pods}, a.runs, a.warmup)
    failed.update(failed2)
    traced = None
    if a.trace and times:
        windows.clear()

        def work():
            for i in range(a.trace):
                for t in times:
                    step(t)(10000 + i)
        procs = runtime_processes(runtimes, work)
        if procs is not None:
            # Each runtime process belongs to the step it started in.
            traced = {t: {p: 0.0 for p in ("create", "start", "stop", "remove")} for t in times}
            for tool, e0, e1 in procs:
                for w in windows.get(tool, []):
                    for p, (w0, w1) in w.items():
                        if w0 <= e0 < w1:
                            traced[tool][p] += (e1 - e0) * 1000 / a.trace
    remove_pods(cri, pods)
    phases = ["create", "start", "stop", "remove", "total"]
    print(f"B. CRI ({v.runtime_name} {v.runtime_version}): one pod per runtime handler, Create+Start+Stop+"
          f"RemoveContainer of busybox `sleep 300`, {a.runs} interleaved runs after {a.warmup} warm-up, medians (ms):")
    print(f"  {'handler':<22}" + "".join(f"{p:>9}" for p in phases) + "   total p10, p90")
    med = {}
    for t, v_ in times.items():
        med[t] = {p: stats_ms(v_[p])[0] for p in phases}
        _, p10, p90 = stats_ms(v_["total"])
        print(f"  {HANDLERS[t] + ' (' + t + ')':<22}" + "".join(f"{med[t][p]:9.2f}" for p in phases)
              + f"   {p10:7.2f}, {p90:7.2f}")
    for t, msg in failed.items():
        print(f"  {HANDLERS[t]:<22} failed, dropped: {msg}")
    for peer in ("runc", "crun"):
        if "berth-runtime" in med and peer in med:
            print(f"  berth/{peer}:".ljust(24) + "".join(f"{med['berth-runtime'][p] / med[peer][p]:9.2f}" for p in phases))
    if traced:
        print(f"  in the runtime's processes ({a.trace} more runs each under `perf record`), ms per run;"
              " the rest is containerd's:")
        for t, by in traced.items():
            by["total"] = sum(by.values())
            print(f"  {HANDLERS[t] + ' (' + t + ')':<22}" + "".join(f"{by[p]:9.2f}" for p in phases))


def remove_pods(cri, pods):
    for tool, (pid, _) in list(pods.items()):
        for m in ("StopPodSandbox", "RemovePodSandbox"):
            try:
                cri.call(m, getattr(cri.pb, m + "Request")(pod_sandbox_id=pid))
            except Exception as e:  # noqa: BLE001
                print(f"  {m} {pid[:12]}: {why(e)}", file=sys.stderr)
        del pods[tool]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(RELEASE, "berth-runtime"))
    ap.add_argument("--no-cri", action="store_true", help="part A only")
    ap.add_argument("--trace", type=int, default=0, metavar="N",
                    help="then N more rounds of A and B under perf: the time in the runtime's processes")
    a = ap.parse_args()
    if a.runs < 2:
        ap.error("--runs must be at least 2")
    for t in ("containerd", "ctr", "containerd-shim-runc-v2"):
        if not shutil.which(t):
            sys.exit(f"{t} is not installed (Debian package `containerd`)")
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"no berth-runtime at {a.bin} (cargo build --release, or --bin PATH)")
    runtimes = {"berth-runtime": os.path.abspath(a.bin)}
    for t in ("runc", "crun"):
        if shutil.which(t):
            runtimes[t] = shutil.which(t)
        else:
            print(f"{t} is not installed: skipped")
    no_cri = "--no-cri" if a.no_cri else cri_missing()
    if no_cri:
        print(f"B (CRI) skipped: {no_cri}")
    # A SIGTERM ends the run through the finally below, as ^C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    t_start = time.perf_counter()
    d = tempfile.mkdtemp(prefix="berth-bench-containerd-")
    ns = f"berth-bench-{os.getpid()}"
    c = None
    try:
        archive = image_archive(d)
        c = Containerd(d, runtimes, cri=not no_cri)
        c.archive, c.pods = archive, {}
        bench_ctr(c, ns, runtimes, a)
        if not no_cri:
            try:
                bench_cri(c, runtimes, a)
            except Exception as e:  # noqa: BLE001 -- A's figures stand
                print(f"B (CRI) failed: {e}")
    finally:
        if c:
            if c.pods:
                try:
                    remove_pods(Cri(c.sock, os.path.join(d, "py2")), c.pods)
                except Exception as e:  # noqa: BLE001
                    print(f"  could not remove the pods through the CRI: {e}", file=sys.stderr)
            roots = [(b, os.path.join(d, f"runc-{kind}-{HANDLERS[t]}")) for t, b in runtimes.items()
                     for kind in ("ctr", "cri")]
            c.stop(roots)
            remove_cgroups([ns, c.cgroup_parent])
        shutil.rmtree(d, ignore_errors=True)
    print(f"({time.perf_counter() - t_start:.0f} s in all)")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root")
    # hide_hybrid_unified re-executes `python3` from PATH: make that this interpreter (the CRI
    # client needs Debian's python3-grpcio, which a python3 earlier on PATH may not have).
    py = shutil.which("python3")
    if not py or os.path.realpath(py) != os.path.realpath(sys.executable):
        os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    hide_hybrid_unified()
    main()
