//! Shared harness of the `berth` black-box tests: a private `--root` per test in a temp dir,
//! root-or-skip, and running the binary.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
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
