//! Shared harness of the `berth` black-box tests: a private `--root` per test in a temp dir,
//! root-or-skip, and running the binary.

#![allow(dead_code)]

pub mod registry;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// Root is needed for mounts and namespaces; CI runs as root, so there nothing skips.
pub fn root_or_skip(name: &str) -> bool {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        return true;
    }
    eprintln!("skipping {name}: needs root (mounts, namespaces)");
    false
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `data` through a filter command (`xz -c`, `bzip2 -c`, ...): its stdout.
pub fn filter(cmd: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    let mut c = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let mut stdin = c.stdin.take().expect("stdin");
    let data = data.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&data));
    let out = c.wait_with_output().expect("filter");
    t.join().expect("join").expect("write");
    assert!(out.status.success(), "{cmd} {args:?} failed");
    out.stdout
}

pub fn sha256_hex(data: &[u8]) -> String {
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    let mut stdin = c.stdin.take().expect("stdin");
    let data = data.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&data));
    let out = c.wait_with_output().expect("sha256sum");
    t.join().expect("join").expect("write");
    text(&out.stdout)[..64].to_string()
}

/// One test's world: a temp dir holding its berth root and whatever files it makes.
pub struct World {
    pub dir: tempfile::TempDir,
}

/// A test that fails half-way still leaves nothing behind: its containers are removed (with
/// their anonymous volumes) and any mount under its directory is detached.
impl Drop for World {
    fn drop(&mut self) {
        let root = self.root();
        if root.join("containers").exists() {
            let ids = Command::new(BIN)
                .arg("--root")
                .arg(&root)
                .args(["ps", "-aq", "--no-trunc"])
                .output()
                .map(|o| text(&o.stdout))
                .unwrap_or_default();
            for id in ids.lines() {
                let _ = Command::new(BIN)
                    .arg("--root")
                    .arg(&root)
                    .args(["rm", "-f", "-v", id])
                    .output();
            }
        }
        // Its networks too (the default one by id: by name it cannot be removed), so no
        // bridge or nft table of a test outlives it.
        if root.join("networks").exists() {
            let ids = Command::new(BIN)
                .arg("--root")
                .arg(&root)
                .args(["network", "ls", "-q", "--no-trunc"])
                .output()
                .map(|o| text(&o.stdout))
                .unwrap_or_default();
            for id in ids.lines() {
                let _ = Command::new(BIN)
                    .arg("--root")
                    .arg(&root)
                    .args(["network", "rm", id])
                    .output();
            }
        }
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mi
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&dir))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            if let Ok(c) = std::ffi::CString::new(p) {
                // SAFETY: umount2 with a NUL-terminated path and a flag.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

impl World {
    pub fn new() -> World {
        World {
            dir: tempfile::Builder::new()
                .prefix("berth-test")
                .tempdir()
                .expect("tempdir"),
        }
    }
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }
    /// Runs berth with `input` on its stdin.
    pub fn berth_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = Command::new(BIN)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run berth");
        let mut stdin = c.stdin.take().expect("stdin");
        let data = input.to_vec();
        let t = std::thread::spawn(move || stdin.write_all(&data));
        let out = c.wait_with_output().expect("run berth");
        let _ = t.join();
        out
    }
    /// Runs berth and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

/// A tar of (path, contents); paths ending in '/' are directories.
pub fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in entries {
        let mut h = tar::Header::new_gnu();
        if p.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
        }
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append_data(&mut h, p, *data).expect("append");
    }
    b.into_inner().expect("tar")
}

/// The busybox root filesystem as a tar (from Debian's busybox-static).
pub fn busybox_layer() -> Vec<u8> {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static");
    let bin = std::fs::read(bb).expect("read busybox");
    let mut b = tar::Builder::new(Vec::new());
    for d in ["bin/", "etc/", "tmp/", "proc/", "sys/", "dev/"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, d, &[][..]).expect("dir");
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(bin.len() as u64);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, "bin/busybox", &bin[..])
        .expect("busybox");
    for a in [
        "sh", "ls", "cat", "echo", "sleep", "true", "false", "tail", "head", "mkdir", "touch",
        "id", "ps", "wc", "seq", "ln", "rm", "grep",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_link(&mut h, format!("bin/{a}"), "busybox")
            .expect("link");
    }
    b.into_inner().expect("tar")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut c = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = c.stdin.take().expect("stdin");
    let data = data.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&data));
    let out = c.wait_with_output().expect("gzip");
    t.join().expect("join").expect("write");
    out.stdout
}

/// Writes an OCI layout at `dir` with one image index (tagged `tag`) holding one manifest per
/// architecture, all with `layers` (uncompressed tars, stored gzip-compressed).
pub fn oci_layout(dir: &Path, tag: &str, layers: &[Vec<u8>], archs: &[&str], cmd: &[&str]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |data: &[u8]| -> (String, usize) {
        let h = sha256_hex(data);
        std::fs::write(blobs.join(&h), data).expect("blob");
        (format!("sha256:{h}"), data.len())
    };
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    for l in layers {
        diff_ids.push(format!("sha256:{}", sha256_hex(l)));
        let (d, n) = put(&gzip(l));
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}));
    }
    let mut manifests = Vec::new();
    for arch in archs {
        let config = json!({"architecture": arch, "os": "linux", "config": {"Cmd": cmd}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}).to_string();
        let (cd, cn) = put(config.as_bytes());
        let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn}, "layers": descs}).to_string();
        let (md, mn) = put(m.as_bytes());
        manifests.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn, "platform": {"architecture": arch, "os": "linux"}}));
    }
    let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}).to_string();
    let (id, in_) = put(idx.as_bytes());
    let top = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": in_, "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(dir.join("index.json"), top.to_string()).expect("index");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

impl World {
    /// A busybox root filesystem tarball (gzip), from Debian's busybox-static.
    pub fn busybox_tar(&self) -> PathBuf {
        let rootfs = self.dir.path().join("bbroot");
        std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
        for d in ["etc", "tmp", "proc", "sys", "dev"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
        }
        let bb = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static installed");
        std::fs::copy(bb, rootfs.join("bin/busybox")).expect("copy");
        for a in [
            "sh", "echo", "cat", "ls", "id", "hostname", "sleep", "true", "grep", "tail", "head",
            "false", "mkdir", "touch", "ps", "wc", "seq", "rm", "ln", "stat", "kill", "trap",
            "wget", "httpd", "nc", "ip", "timeout", "nslookup",
        ] {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a));
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .expect("passwd");
        let tarball = self.dir.path().join("busybox.tar.gz");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-czf")
            .arg(&tarball)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success());
        tarball
    }
    pub fn import_busybox(&self, name: &str) -> String {
        let t = self.busybox_tar();
        self.ok(&[
            "import",
            t.to_str().unwrap(),
            name,
            "-c",
            r#"CMD ["sh", "-c", "echo hello from $(hostname)"]"#,
        ])
        .trim()
        .to_string()
    }
}

impl World {
    /// A world with busybox imported as `bb:1`.
    pub fn with_busybox() -> World {
        let w = World::new();
        w.import_busybox("bb:1");
        w
    }

    /// `berth run -d ARGS`; returns the 64-hex id it prints.
    pub fn run_d(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        let id = self.ok(&a).trim().to_string();
        assert_eq!(id.len(), 64, "run -d prints the id: {id:?}");
        id
    }

    /// Spawns berth without waiting (stdout and stderr piped).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(BIN)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth")
    }

    /// `berth inspect -f TEMPLATE NAME`, trimmed.
    pub fn inspect(&self, name: &str, template: &str) -> String {
        self.ok(&["inspect", "-f", template, name])
            .trim()
            .to_string()
    }

    /// Polls `f` every 20 ms for up to `secs` seconds (four times that in the emulated VM,
    /// where everything is several times slower).
    pub fn eventually(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let secs = if std::env::var_os("VM_CGROUP2").is_some() {
            secs * 4
        } else {
            secs
        };
        let t = std::time::Instant::now();
        while !f() {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(secs),
                "timed out waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Asserts that nothing of container `id` is left on the host, allowing the kernel a
    /// moment for what it frees after the last process exits (a zombie reaped, a cgroup
    /// released): polls up to 5 s (four times that in the VM), then reports what stayed.
    pub fn assert_gone(&self, id: &str) {
        let secs = if std::env::var_os("VM_CGROUP2").is_some() {
            20
        } else {
            5
        };
        let t = std::time::Instant::now();
        loop {
            let left = self.leftovers(id);
            if left.is_empty() {
                return;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(secs),
                "left behind by container {id}: {left:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `leftovers`, once what the kernel frees in the background (a dead namespace's veth,
    /// a reaped init's cgroup) had a moment to go: the list when it stops shrinking to empty.
    pub fn leftovers_settled(&self, id: &str) -> Vec<String> {
        let t = std::time::Instant::now();
        loop {
            let left = self.leftovers(id);
            if left.is_empty() || t.elapsed() > std::time::Duration::from_secs(5) {
                return left;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Everything the host still holds for container `id`: mounts under this world, cgroup
    /// directories, processes (init or monitor), state directories. Empty when all is gone.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let root = self.root();
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for l in mi.lines() {
            if l.contains(id) {
                out.push(format!("mount: {l}"));
            }
        }
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in rd.flatten() {
                for p in [e.path().join("berth").join(id), e.path().join(id)] {
                    if p.exists() {
                        out.push(format!("cgroup: {}", p.display()));
                    }
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let cmd = text(&cmd).replace('\0', " ");
                if cmd.contains(id) {
                    out.push(format!(
                        "process {}: {cmd}",
                        e.file_name().to_string_lossy()
                    ));
                }
            }
        }
        // Network objects named from the id: its veths (`vb<7 hex>…`), its namespace file.
        if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&format!("vb{}", &id[..7])) {
                    out.push(format!("veth: {n}"));
                }
            }
        }
        for p in [
            root.join("containers").join(id),
            root.join("runtime").join(id),
            root.join("netns").join(id),
        ] {
            if p.exists() {
                out.push(format!("state: {}", p.display()));
            }
        }
        out
    }
}

/// A character device node `dir/name` of major 240 ("local/experimental use", which no
/// driver has) and `minor`, mode 0640: a container opening it gets ENXIO where its device
/// cgroup lets it through and EPERM where it does not. (The cgroup's rules go by number, so
/// nodes that need different rules need different minors.) Returns its path.
pub fn fake_device(dir: &Path, name: &str, minor: u64) -> String {
    let dev = dir.join(name);
    nix::sys::stat::mknod(
        &dev,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o640),
        nix::sys::stat::makedev(240, minor),
    )
    .expect("mknod");
    dev.display().to_string()
}
