//! `berth pull` against a real registry (Debian's docker-registry) on loopback: one
//! registry per test, filled with `skopeo copy` from OCI layouts the test builds.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::json;

mod common;

use common::*;

struct Registry {
    child: Child,
    addr: String,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let tmpl = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/registry/config.yml"
        ))
        .expect("config template");
        let data = dir.join("registry-data");
        let cfg = dir.join("registry.yml");
        std::fs::write(
            &cfg,
            tmpl.replace("@ROOT@", data.to_str().unwrap())
                .replace("@ADDR@", &addr),
        )
        .expect("write config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log")).expect("log"))
            .spawn()
            .expect("start docker-registry (Debian package docker-registry)");
        let reg = Registry { child, addr };
        for _ in 0..200 {
            if let Ok(mut s) = TcpStream::connect(&reg.addr) {
                let _ = write!(s, "GET /v2/ HTTP/1.0\r\n\r\n");
                let mut r = String::new();
                let _ = s.read_to_string(&mut r);
                if r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200") {
                    return reg;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("registry did not come up on {}", reg.addr);
    }

    fn push_layout(&self, layout: &Path, tag: &str, name: &str) {
        let out = Command::new("skopeo")
            .args(["copy", "--all", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{name}", self.addr))
            .output()
            .expect("skopeo (Debian package skopeo)");
        assert!(out.status.success(), "skopeo copy: {}", text(&out.stderr));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tar of (path, contents); paths ending in '/' are directories.
fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
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
fn busybox_layer() -> Vec<u8> {
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
    for a in ["sh", "ls", "cat", "echo"] {
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

fn gzip(data: &[u8]) -> Vec<u8> {
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
fn oci_layout(dir: &Path, tag: &str, layers: &[Vec<u8>], archs: &[&str], cmd: &[&str]) {
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

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

#[test]
fn pull_multi_layer_image_with_whiteouts_from_a_multi_platform_index() {
    if !root_or_skip("pull_multi_layer_image_with_whiteouts_from_a_multi_platform_index") {
        return;
    }
    let w = World::new();
    let reg = Registry::start(w.dir.path());
    let l1 = tar_of(&[("a", b"A"), ("b", b"B"), ("d/", b""), ("d/x", b"X")]);
    let l2 = tar_of(&[
        (".wh.a", b""),
        ("d/", b""),
        ("d/.wh..wh..opq", b""),
        ("d/y", b"Y"),
    ]);
    let layout = w.dir.path().join("layout");
    let other = if host_arch() == "amd64" {
        "arm64"
    } else {
        "amd64"
    };
    oci_layout(
        &layout,
        "multi",
        &[busybox_layer(), l1, l2],
        &[host_arch(), other],
        &["sh", "-c", "ls /; echo --; ls /d"],
    );
    reg.push_layout(&layout, "multi", "shop/multi:1");
    let r = format!("{}/shop/multi:1", reg.addr);
    let out = w.berth(&["pull", &r]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("3 layers"),
        "{}",
        text(&out.stderr)
    );
    let run = w.ok(&["run", &r]);
    let (root, d) = run.split_once("--\n").expect("two listings");
    assert!(
        root.contains("b\n") && !root.contains("a\n"),
        "whiteout not applied: {root}"
    );
    assert_eq!(d.trim(), "y", "opaque directory not applied: {d}");
    let inspect: serde_json::Value =
        serde_json::from_str(&w.ok(&["image", "inspect", &r])).expect("json");
    assert_eq!(inspect[0]["Architecture"], host_arch());

    // Another platform on request; a missing one is a clear error.
    let w2 = World::new();
    w2.ok(&["pull", "--platform", &format!("linux/{other}"), &r]);
    let inspect: serde_json::Value =
        serde_json::from_str(&w2.ok(&["image", "inspect", &r])).expect("json");
    assert_eq!(inspect[0]["Architecture"], other);
    let out = w2.berth(&["pull", "--platform", "linux/s390x", &r]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("linux/s390x") && err.contains(&format!("linux/{other}")),
        "{err}"
    );
    // Pulling again finds every blob present.
    let out = w.berth(&["pull", &r]);
    assert!(
        text(&out.stderr).contains("Already exists"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn interrupted_pull_leaves_nothing_half_made_and_the_next_completes() {
    if !root_or_skip("interrupted_pull_leaves_nothing_half_made_and_the_next_completes") {
        return;
    }
    let w = World::new();
    let reg = Registry::start(w.dir.path());
    let mut big = vec![0u8; 48 << 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut big))
        .expect("urandom");
    let l1 = tar_of(&[("big", &big)]);
    let layout = w.dir.path().join("layout");
    oci_layout(
        &layout,
        "big",
        &[busybox_layer(), l1],
        &[host_arch()],
        &["echo", "complete"],
    );
    reg.push_layout(&layout, "big", "shop/big:1");
    let r = format!("{}/shop/big:1", reg.addr);
    let mut child = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["pull", "-q", &r])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pull");
    std::thread::sleep(std::time::Duration::from_millis(150));
    let _ = child.kill();
    let _ = child.wait();
    let listed = w.ok(&["images"]);
    // Killed before the end: not listed; finished already: whole. Never in between.
    if listed.contains("shop/big") {
        w.ok(&["image", "inspect", &r]);
    }
    let out = w.berth(&["pull", &r]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.ok(&["run", &r]).trim(), "complete");
    w.ok(&["image", "prune"]);
    assert_eq!(
        std::fs::read_dir(w.dir.path().join("root/image/tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[test]
fn pull_errors_name_the_reference() {
    if !root_or_skip("pull_errors_name_the_reference") {
        return;
    }
    let w = World::new();
    let reg = Registry::start(w.dir.path());
    let r = format!("{}/nope/missing:1", reg.addr);
    let out = w.berth(&["pull", &r]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("nope/missing"),
        "{}",
        text(&out.stderr)
    );
    let out = w.berth(&["pull", "Bad:Ref:x"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("invalid reference"),
        "{}",
        text(&out.stderr)
    );
}
