//! Test harness for the black-box runtime tests: a busybox rootfs per test (from Debian's
//! busybox-static), a bundle with a runc-like config, a private `--root`, and cleanup on drop
//! (force-delete every container the test made, even when it fails).

#![allow(dead_code)]

pub mod containerd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

/// Root is needed for namespaces, mounts and cgroups. CI runs as root, so there the tests
/// always run; elsewhere they say why they skip.
pub fn root_or_skip(name: &str) -> bool {
    if nix_uid() == 0 {
        return true;
    }
    eprintln!("skipping {name}: needs root (namespaces, mounts, cgroups)");
    false
}

fn nix_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

/// Whether this process runs chrooted (its / is not its mount namespace's root).
pub fn chrooted() -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(a), Ok(b)) = (std::fs::metadata("/"), std::fs::metadata("/proc/1/root/")) else {
        return false;
    };
    (a.dev(), a.ino()) != (b.dev(), b.ino())
}

pub fn cgroup_v2() -> bool {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if std::env::var("VM_CGROUP2").as_deref() == Ok("1") {
        assert!(v2, "VM_CGROUP2=1 but /sys/fs/cgroup is not cgroup2");
    }
    v2
}

pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox not found: install Debian's busybox-static");
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// One test's world: temp dir with bundle(s) and the runtime's state root.
pub struct World {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub ids: std::cell::RefCell<Vec<String>>,
    /// Init pids seen, reaped on drop.
    pub pids: std::cell::RefCell<Vec<i32>>,
}

impl World {
    pub fn new() -> World {
        subreaper();
        let dir = tempfile::Builder::new()
            .prefix("berth-rt-test")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().join("state");
        World {
            dir,
            root,
            ids: Default::default(),
            pids: Default::default(),
        }
    }

    /// A unique container id (tests run in parallel and in several processes).
    pub fn id(&self, name: &str) -> String {
        let id = format!(
            "t{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            name
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A bundle with a fresh busybox rootfs and the default config running `args`.
    pub fn bundle(&self, name: &str, args: &[&str]) -> Bundle {
        let path = self.dir.path().join(format!("bundle-{name}"));
        let rootfs = path.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs");
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
        let out = Command::new(busybox())
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&out.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
            }
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .expect("passwd");
        let config = default_config(args);
        let b = Bundle { path, config };
        b.save();
        b
    }

    pub fn rt(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth-runtime")
    }

    /// For commands that leave a container process behind (create, run -d, start): that
    /// process would hold captured pipes open, so send its stdio to files instead, as a
    /// caller of runc does. Returns (success, stderr).
    pub fn rt_bg(&self, args: &[&str]) -> (bool, String) {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let errp = self.dir.path().join(format!("stderr-{n}"));
        let errf = std::fs::File::create(&errp).expect("stderr file");
        let status = Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errf)
            .status()
            .expect("run berth-runtime");
        if let Some(id) = args.last() {
            if let Some(pid) = std::fs::read(self.root.join(id).join("state.json"))
                .ok()
                .and_then(|d| serde_json::from_slice::<Value>(&d).ok())
                .and_then(|v| v["pid"].as_i64())
            {
                self.pids.borrow_mut().push(pid as i32);
            }
        }
        (
            status.success(),
            std::fs::read_to_string(&errp).unwrap_or_default(),
        )
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(&self.root);
        c
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("state json")
    }

    /// `run` of a bundle in the foreground: (exit code, stdout, stderr).
    pub fn run(&self, b: &Bundle, id: &str) -> (i32, String, String) {
        let out = self.rt(&["run", "--bundle", b.path.to_str().expect("utf8"), id]);
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.rt(&["delete", "--force", id]);
        }
        for pid in self.pids.borrow().iter() {
            dead(*pid);
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub struct Bundle {
    pub path: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn save(&self) {
        std::fs::write(
            self.path.join("config.json"),
            serde_json::to_vec_pretty(&self.config).expect("json"),
        )
        .expect("write config");
    }
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }
    pub fn p(&self) -> &str {
        self.path.to_str().expect("utf8")
    }
}

/// Like `runc spec`: the usual mounts, masked paths and a small capability set.
pub fn default_config(args: &[&str]) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Host-side paths of a container's cgroup (one per v1 hierarchy, or the v2 directory).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    if cgroup_v2() {
        return vec![PathBuf::from(format!("/sys/fs/cgroup/{id}"))];
    }
    ["memory", "pids", "cpu", "devices", "freezer"]
        .iter()
        .map(|c| PathBuf::from(format!("/sys/fs/cgroup/{c}/{id}")))
        .collect()
}

/// Asserts nothing of container `id` is left on the host.
pub fn assert_gone(w: &World, id: &str, pid: i32, bundle: &Bundle) {
    for d in cgroup_dirs(id) {
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    if pid > 0 {
        assert!(dead(pid), "process {pid} left behind");
    }
    assert!(!w.root.join(id).exists(), "state dir of {id} left behind");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(bundle.p()),
        "a mount under {} is left on the host",
        bundle.p()
    );
}

/// Detached containers outlive the `berth-runtime` that started them and are reparented.
/// Make this test process their subreaper so the tests can reap them (as containerd's shim
/// does) instead of leaving zombies to a PID 1 that may not reap.
fn subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes integer arguments.
    ONCE.call_once(|| unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    });
}

/// Reaps `pid` if it is a (reparented) child of this process; other tests' children are
/// never touched because only this pid is waited for.
pub fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waitpid on a specific pid with WNOHANG writes only to `status`.
    unsafe {
        libc::waitpid(pid, &mut status, libc::WNOHANG);
    }
}

/// Gone, or a zombie waiting for whoever it was reparented to (it holds no resources).
fn dead(pid: i32) -> bool {
    wait_for(5, || {
        reap(pid);
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return true;
        };
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Polls `f` for up to `secs` seconds.
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}
