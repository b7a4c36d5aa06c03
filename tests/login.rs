//! Black-box test of `login`/`logout` against a local docker-registry with htpasswd auth:
//! credentials kept in DOCKER_CONFIG's config.json as Docker keeps them, then used by push
//! and pull; a wrong password is refused clearly.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::registry::Registry;
use common::*;

fn berth_as(w: &World, cfg: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut c = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(args)
        .env("DOCKER_CONFIG", cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    c.wait_with_output().expect("berth")
}

#[test]
fn login_then_push_and_pull_a_private_image() {
    if !root_or_skip("login_then_push_and_pull_a_private_image") {
        return;
    }
    let w = World::with_busybox();
    let htpasswd = w.dir.path().join("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .expect("htpasswd (Debian package apache2-utils)");
    assert!(out.status.success());
    std::fs::write(&htpasswd, &out.stdout).expect("write htpasswd");
    let reg = Registry::start_with(
        w.dir.path(),
        &format!(
            "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
            htpasswd.display()
        ),
    );
    let cfg = w.dir.path().join("dockercfg");
    let private = format!("{}/private/bb:1", reg.addr);
    w.ok(&["tag", "bb:1", &private]);
    // Anonymous: the registry refuses.
    let out = berth_as(&w, &cfg, &["push", "-q", &private], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // A wrong password: exit 1, saying so; nothing stored.
    let out = berth_as(
        &w,
        &cfg,
        &["login", "-u", "alice", "--password-stdin", &reg.addr],
        "wrong\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("incorrect username or password"),
        "{}",
        text(&out.stderr)
    );
    assert!(!cfg.join("config.json").exists());
    let out = berth_as(
        &w,
        &cfg,
        &["login", "-u", "alice", "--password-stdin", &reg.addr],
        "s3cret\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Login Succeeded\n");
    // As Docker keeps it: auths.<registry>.auth = base64(user:password), the file 0600.
    let file = cfg.join("config.json");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("config.json")).expect("json");
    assert_eq!(v["auths"][&reg.addr]["auth"], "YWxpY2U6czNjcmV0");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Push and pull as alice.
    let out = berth_as(&w, &cfg, &["push", "-q", &private], "");
    assert!(out.status.success(), "push: {}", text(&out.stderr));
    w.ok(&["rmi", &private]);
    let out = berth_as(&w, &cfg, &["pull", "-q", &private], "");
    assert!(out.status.success(), "pull: {}", text(&out.stderr));
    let ran = w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &private,
        "echo",
        "private",
    ]);
    assert_eq!(ran, "private\n");
    // logout forgets it: the pull is refused again.
    let out = berth_as(&w, &cfg, &["logout", &reg.addr], "");
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Removing login credentials"));
    w.ok(&["rmi", &private]);
    let out = berth_as(&w, &cfg, &["pull", "-q", &private], "");
    assert_eq!(out.status.code(), Some(1));
}
