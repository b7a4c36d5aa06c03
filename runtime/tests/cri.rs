//! berth-runtime on a Kubernetes node (issue 11): a private containerd whose CRI plugin runs
//! pods with io.containerd.runc.v2 and `BinaryName` = berth-runtime, CNI from Debian's
//! containernetworking-plugins (a bridge of this test's own, no masquerade rules), a busybox
//! image and a sandbox image (busybox waiting for SIGTERM) imported into `k8s.io`; a client
//! speaking the CRI gRPC API (tests/cri/client.py) makes a kubelet's calls from
//! RunPodSandbox to RemovePodSandbox; then nothing of the pod may be left: no process,
//! mount, cgroup, network namespace, veth or runtime state.
//!
//! Skips, saying what is missing, without containerd (`containerd`), the CNI plugins
//! (`containernetworking-plugins`) or the client's Python modules and protoc
//! (`python3-grpcio`, `python3-protobuf`, `protobuf-compiler`).

mod common;

use std::path::Path;
use std::process::Command;

use common::containerd::*;
use common::*;
use serde_json::{json, Value};

const PAUSE: &str = "docker.io/library/busybox:berth-pause";
const PYTHON: &str = "/usr/bin/python3";

fn missing() -> Option<&'static str> {
    if on_path("containerd").is_none() || on_path("containerd-shim-runc-v2").is_none() {
        return Some("containerd (Debian package `containerd`)");
    }
    if !Path::new("/usr/lib/cni/bridge").exists() || !Path::new("/usr/lib/cni/loopback").exists() {
        return Some("the CNI plugins (Debian package `containernetworking-plugins`)");
    }
    if on_path("protoc").is_none() {
        return Some("protoc (Debian package `protobuf-compiler`)");
    }
    let py = Command::new(PYTHON)
        .args(["-c", "import grpc, google.protobuf"])
        .output();
    if !py.is_ok_and(|o| o.status.success()) {
        return Some(
            "the CRI client's modules (Debian packages `python3-grpcio`, `python3-protobuf`)",
        );
    }
    None
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip");
    text(&out.stdout)
}

#[test]
fn a_kubelet_s_calls_through_the_cri() {
    if !root_or_skip("a_kubelet_s_calls_through_the_cri") {
        return;
    }
    if let Some(what) = missing() {
        eprintln!("skipping a_kubelet_s_calls_through_the_cri: {what} is not installed");
        return;
    }
    let w = World::new();
    let tmp = tempfile::Builder::new()
        .prefix("bcri")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let d = tmp.path();
    let pid = std::process::id();
    // Names and a subnet of this test's own (two tests never share them).
    let bridge = format!("bcri{}", pid % 100_000);
    let subnet = format!("10.213.{}.0/24", pid % 250);
    let cgroup_parent = format!("/berthcri-{pid}");
    std::fs::create_dir_all(d.join("cni")).expect("mkdir");
    std::fs::write(
        d.join("cni/10-berth.conflist"),
        json!({
            "cniVersion": "0.4.0",
            "name": format!("berthcri{pid}"),
            "plugins": [{
                "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": d.join("ipam")}
            }]
        })
        .to_string(),
    )
    .expect("cni conf");
    let bin = std::fs::canonicalize(BIN).expect("berth-runtime");
    let extra = format!(
        r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  netns_mounts_under_state_dir = true
  # The sandbox asks for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which the
  # CI VMs' bounding set lacks (DESIGN.md 4): clamp it to ours, as rootless nodes do.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "berth"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        BinaryName = "{bin}"
        Root = "{d}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
"#,
        bin = bin.display(),
        d = d.display()
    );
    struct DelBridge(String);
    impl Drop for DelBridge {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
    let _bridge = DelBridge(bridge.clone());
    // The pod's cgroup parent, when a failure left it (dropped after containerd, whose drop
    // deletes the tasks inside it).
    struct RmCgroupParent(String);
    impl Drop for RmCgroupParent {
        fn drop(&mut self) {
            let base = Path::new("/sys/fs/cgroup");
            let hierarchies = std::fs::read_dir(base).into_iter().flatten().flatten();
            for h in hierarchies.map(|h| h.path()).chain([base.to_path_buf()]) {
                let _ = std::fs::remove_dir(h.join(&self.0));
            }
        }
    }
    let _cgroup_parent = RmCgroupParent(cgroup_parent.trim_start_matches('/').to_string());
    let c = Containerd::start_with(d, false, &extra, "k8s.io");
    let busybox = busybox_archive(&w, d);
    // The sandbox's only job is to hold the pod's namespaces until it is told to stop.
    let pause = image_archive(
        &w,
        d,
        PAUSE,
        &["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
    );
    for a in [&busybox, &pause] {
        c.ok(&["images", "import", a.to_str().expect("utf8")]);
    }

    let params = json!({
        "pod": format!("berthpod{pid}"),
        "image": IMAGE,
        "log_dir": d.join("logs"),
        "cgroup_parent": cgroup_parent,
    });
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cri/client.py");
    std::fs::create_dir_all(d.join("py")).expect("mkdir");
    let out = Command::new(PYTHON)
        .arg(&client)
        .arg(d.join("c.sock"))
        .arg(d.join("py"))
        .arg(params.to_string())
        .output()
        .expect("CRI client");
    let steps: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert!(
        out.status.success(),
        "CRI client failed after {steps:?}: {}\ncontainerd:\n{}",
        text(&out.stderr),
        c.log()
    );
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no {name} in {steps:?}"))
            .clone()
    };
    assert_eq!(step("Version")["runtime"], "containerd");
    let pod = step("RunPodSandbox")["id"]
        .as_str()
        .expect("pod id")
        .to_string();
    let st = step("PodSandboxStatus");
    assert_eq!(st["state"], 0, "sandbox not ready: {st}");
    let pod_ip = st["ip"].as_str().unwrap_or("");
    let prefix = subnet.trim_end_matches("0/24");
    assert!(
        pod_ip.starts_with(prefix),
        "pod IP {pod_ip:?} not in {subnet}"
    );
    let ctr = step("CreateContainer")["id"]
        .as_str()
        .expect("container id")
        .to_string();
    assert_eq!(step("StartContainer")["state"], 1, "container not running");
    let exec = step("ExecSync");
    assert_eq!(exec["exit_code"], 7, "{exec}");
    assert_eq!(exec["stdout"], format!("out\nberthpod{pid}\n"), "{exec}");
    assert_eq!(exec["stderr"], "err\n", "{exec}");
    let stats = step("ContainerStats");
    assert!(stats["cpu_ns"].as_u64().unwrap_or(0) > 0, "{stats}");
    assert!(stats["working_set"].as_u64().unwrap_or(0) > 0, "{stats}");
    assert_eq!(
        step("UpdateContainerResources")["memory_limit"],
        (128u64 << 20).to_string(),
        "UpdateContainerResources did not reach the cgroup"
    );
    let stop = step("StopContainer");
    assert_eq!(stop["state"], 2, "{stop}");
    // No namespace_options: the pid namespace is the pod's (NamespaceMode POD = 0), so sleep
    // is not its namespace's init and SIGTERM ends it (as PID 1 it would ignore it).
    assert_eq!(stop["exit_code"], 143, "{stop}");
    step("RemovePodSandbox");

    // Nothing of the pod is left on the host.
    for id in [&pod, &ctr] {
        assert_nothing_left(&c, id);
    }
    let cg: Vec<_> = [
        "", "memory", "pids", "cpu", "cpuset", "freezer", "unified", "systemd",
    ]
    .iter()
    .map(|h| {
        Path::new("/sys/fs/cgroup")
            .join(h)
            .join(cgroup_parent.trim_start_matches('/'))
    })
    .filter(|p| p.exists())
    .collect();
    assert!(cg.is_empty(), "pod cgroups left: {cg:?}");
    let runc_root = d.join("runc/k8s.io");
    let states: Vec<_> = std::fs::read_dir(&runc_root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(states.is_empty(), "runtime state left: {states:?}");
    let netns: Vec<_> = std::fs::read_dir(d.join("state/io.containerd.grpc.v1.cri/netns"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(netns.is_empty(), "network namespaces left: {netns:?}");
    let ports = ip(&["-o", "link", "show", "master", &bridge]);
    assert!(ports.trim().is_empty(), "veths left on {bridge}: {ports}");
    drop(c);
}
