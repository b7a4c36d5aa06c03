//! A private containerd for the tests that drive berth-runtime through containerd's runc
//! shim (containerd.rs: `ctr`; cri.rs: the CRI, as a kubelet): its own config, socket, root
//! and state in a temp dir; a busybox OCI image archive built from busybox-static; checks
//! that a task left nothing behind.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::json;

use super::{text, wait_for, World};

pub const IMAGE: &str = "docker.io/library/busybox:berth-test";

pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

pub fn sha256(path: &Path) -> (String, u64) {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    let hex = text(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string();
    (hex, std::fs::metadata(path).expect("size").len())
}

/// An OCI image archive (image-layout.md) of one uncompressed layer: the busybox rootfs.
pub fn busybox_archive(w: &World, dir: &Path) -> PathBuf {
    image_archive(w, dir, IMAGE, &["sh"])
}

/// An image `name` of the busybox rootfs whose command is `cmd`.
pub fn image_archive(w: &World, dir: &Path, name: &str, cmd: &[&str]) -> PathBuf {
    let tag = name.rsplit(':').next().unwrap_or("image").to_string();
    let dir = dir.join(&tag);
    let dir = dir.as_path();
    std::fs::create_dir_all(dir).expect("mkdir");
    let b = w.bundle(&tag, &["true"]);
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir blobs");
    let layer = dir.join("layer.tar");
    let ok = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(b.rootfs())
        .arg("-cf")
        .arg(&layer)
        .arg(".")
        .status()
        .expect("tar")
        .success();
    assert!(ok, "tar of the rootfs");
    let blob = |src: &Path| {
        let (hex, size) = sha256(src);
        std::fs::rename(src, blobs.join(&hex)).expect("move blob");
        (format!("sha256:{hex}"), size)
    };
    let (layer_digest, layer_size) = blob(&layer);
    let write_json = |name: &str, v: serde_json::Value| {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_vec(&v).expect("json")).expect("write");
        blob(&p)
    };
    let (config_digest, config_size) = write_json(
        "config.json",
        json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]}
        }),
    );
    let (manifest_digest, manifest_size) = write_json(
        "manifest.json",
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}]
        }),
    );
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion": "1.0.0"}"#,
    )
    .expect("oci-layout");
    std::fs::write(
        layout.join("index.json"),
        json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": manifest_size,
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}
            }]
        })
        .to_string(),
    )
    .expect("index.json");
    let archive = dir.join("busybox.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&archive)
        .args(["oci-layout", "index.json", "blobs"])
        .status()
        .expect("tar")
        .success();
    assert!(ok, "tar of the image layout");
    archive
}

/// A containerd of this test's own; stopped (and its mounts undone) on drop.
pub struct Containerd {
    pub dir: PathBuf,
    child: Child,
    pub ns: String,
}

impl Containerd {
    /// A containerd without the CRI plugin.
    pub fn start(dir: &Path) -> Containerd {
        Containerd::start_with(dir, true, "", "berth")
    }

    /// `extra` is appended to the config (plugin sections); `ns` is the namespace `ctr` uses.
    pub fn start_with(dir: &Path, no_cri: bool, extra: &str, ns: &str) -> Containerd {
        let cri = if no_cri {
            "\"io.containerd.grpc.v1.cri\", "
        } else {
            ""
        };
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{cri}"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.ttrpc.sock"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
{extra}
"#,
            d = dir.display()
        );
        std::fs::write(dir.join("config.toml"), config).expect("config.toml");
        let log = std::fs::File::create(dir.join("containerd.log")).expect("log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let c = Containerd {
            dir: dir.to_path_buf(),
            child,
            ns: if ns == "berth" {
                format!("berth-t{}", std::process::id())
            } else {
                ns.to_string()
            },
        };
        let up = wait_for(30, || c.ctr(&["version"]).status.success());
        assert!(up, "containerd did not come up: {}", c.log());
        c
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.dir.join("c.sock"))
            .args(["--namespace", &self.ns])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ctr")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {args:?}: {}{}\ncontainerd log:\n{}",
            text(&out.stdout),
            text(&out.stderr),
            self.log()
        );
        text(&out.stdout)
    }

    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("level=error") || l.contains("level=warn"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Containerd {
    /// What a test that failed half-way leaves: its tasks (a pod's sandbox, a container)
    /// live on with their shims, which outlive containerd by design. Force-deletes every
    /// task berth-runtime still has under this containerd's runtime roots (the shared
    /// /run/containerd/runc only for a namespace of this test's own), then kills the shims
    /// that serve this containerd's socket.
    fn remove_leftover_tasks(&self) {
        let mut roots = vec![self.dir.join("runc").join(&self.ns)];
        if self.ns.starts_with("berth-t") {
            roots.push(Path::new("/run/containerd/runc").join(&self.ns));
        }
        for root in &roots {
            for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
                let _ = Command::new(super::BIN)
                    .arg("--root")
                    .arg(root)
                    .args(["delete", "--force"])
                    .arg(e.file_name())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let address = self.dir.join("c.sock").to_string_lossy().into_owned();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains("containerd-shim") && cmd.split('\0').any(|a| a == address) {
                if let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) {
                    // SAFETY: kill(2) of a shim serving this test's containerd, by its pid.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.remove_leftover_tasks();
        // SAFETY: kill(2) of the containerd this test started, by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        if !wait_for(10, || matches!(self.child.try_wait(), Ok(Some(_)))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Snapshots and the shims' bundles are mounted below the root: undo, deepest first.
        let dir = self.dir.to_string_lossy().into_owned();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&dir))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        // The shim's runtime root for our namespace (empty once its tasks are deleted).
        let _ = std::fs::remove_dir(Path::new("/run/containerd/runc").join(&self.ns));
    }
}

/// Everything of a task that berth-runtime made: processes, cgroups, mounts, state.
pub fn assert_nothing_left(c: &Containerd, id: &str) {
    let procs: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(id) && !c.contains("cargo") && !c.contains("containerd.rs"))
        .collect();
    assert!(procs.is_empty(), "processes left: {procs:?}");
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let left: Vec<&str> = info.lines().filter(|l| l.contains(id)).collect();
    assert!(left.is_empty(), "mounts left: {left:?}");
    let mut cgroups = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                if name == id || name == c.ns {
                    cgroups.push(p.clone());
                }
                if p.components().count() < 8 {
                    stack.push(p);
                }
            }
        }
    }
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    let state = Path::new("/run/containerd/runc").join(&c.ns).join(id);
    assert!(!state.exists(), "runtime state left: {}", state.display());
}
