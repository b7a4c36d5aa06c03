//! `berth pull` against a real registry (Debian's docker-registry) on loopback: one
//! registry per test, filled with `skopeo copy` from OCI layouts the test builds.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

mod common;

use common::registry::Registry;
use common::*;

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
    assert_eq!(out.status.code(), Some(1));
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
    w.ok(&["image", "prune", "-f"]);
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
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nope/missing"),
        "{}",
        text(&out.stderr)
    );
    let out = w.berth(&["pull", "Bad:Ref:x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid reference"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn pull_follows_the_bearer_token_challenge() {
    if !root_or_skip("pull_follows_the_bearer_token_challenge") {
        return;
    }
    let w = World::new();
    let layout = w.dir.path().join("layout");
    oci_layout(
        &layout,
        "1",
        &[busybox_layer()],
        &[host_arch()],
        &["echo", "authorized"],
    );
    let port_file = w.dir.path().join("port");
    let mut server = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/registry/token_registry.py"
        ))
        .arg(&layout)
        .arg(&port_file)
        .spawn()
        .expect("python3");
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _k = Kill(&mut server);
    let ok = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        port_file.exists()
    });
    assert!(ok, "token registry did not start");
    let port = std::fs::read_to_string(&port_file).expect("port");
    let r = format!("127.0.0.1:{port}/shop/auth:1");
    let out = w.berth(&["pull", &r]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.ok(&["run", &r]).trim(), "authorized");
    let mut s = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    write!(s, "GET /stats HTTP/1.0\r\n\r\n").expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let stats: serde_json::Value =
        serde_json::from_str(resp.split("\r\n\r\n").nth(1).expect("body")).expect("json");
    assert!(
        stats["tokens"].as_u64().unwrap_or(0) >= 1,
        "no token was requested: {stats}"
    );
    assert!(
        stats["unauthorized"].as_u64().unwrap_or(0) >= 1,
        "no challenge was met: {stats}"
    );
}
