//! Black-box tests of `diff`, `commit` and `export`: a container's changes as A/C/D, as a new
//! image (a deleted file stays deleted), as a tar of its root.

mod common;

use std::process::{Command, Stdio};

use common::*;

/// `diff` shows added, changed and deleted paths, and not the runtime's mount points.
#[test]
fn diff_shows_added_changed_deleted() {
    if !root_or_skip("diff_shows_added_changed_deleted") {
        return;
    }
    let w = World::with_busybox();
    w.ok(&[
        "run",
        "--name",
        "snap-diff",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo hi > /new.txt; rm /etc/passwd; mkdir -p /d/e; echo x > /d/e/f",
    ]);
    let d = w.ok(&["diff", "snap-diff"]);
    assert_eq!(
        d, "A /d\nA /d/e\nA /d/e/f\nC /etc\nD /etc/passwd\nA /new.txt\n",
        "diff"
    );
    let out = w.berth(&["diff", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
}

/// `commit` makes an image whose containers see the change, whose deleted file stays
/// deleted, with -c instructions, -m and -a; a running container is paused for it and keeps
/// running.
#[test]
fn commit_then_run_sees_the_change() {
    if !root_or_skip("commit_then_run_sees_the_change") {
        return;
    }
    let w = World::with_busybox();
    w.run_d(&[
        "--name",
        "snap-src",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo committed > /new.txt; rm /etc/passwd; sleep 100",
    ]);
    w.eventually(10, "the change", || {
        w.berth(&["exec", "snap-src", "cat", "/new.txt"])
            .status
            .success()
    });
    let id = w
        .ok(&[
            "commit",
            "-m",
            "my message",
            "-a",
            "Jane <j@example.com>",
            "-c",
            r#"CMD ["cat", "/new.txt"]"#,
            "-c",
            "ENV GREETING=hello",
            "snap-src",
            "snap:1",
        ])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(w.inspect("snap-src", "{{.State.Status}}"), "running");
    assert_eq!(
        w.ok(&["run", "--rm", "--network", "none", "snap:1"]),
        "committed\n"
    );
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "snap:1",
        "sh",
        "-c",
        "test -e /etc/passwd && echo passwd || echo no-passwd; echo $GREETING",
    ]);
    assert_eq!(out, "no-passwd\nhello\n");
    let h = w.ok(&["history", "snap:1"]);
    assert!(h.contains("my message"), "{h}");
    let cfg = w.ok(&["image", "inspect", "-f", "{{json .Config.Cmd}}", "snap:1"]);
    assert_eq!(cfg.trim(), r#"["cat","/new.txt"]"#);
    // The paused and unpaused container's events say so.
    let ev = w.ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "-f",
        "container=snap-src",
    ]);
    assert!(ev.contains(" container pause "), "{ev}");
    assert!(ev.contains(" container commit "), "{ev}");
    let out = w.berth(&["commit", "-c", "FROB x", "snap-src"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("FROB"), "{}", text(&out.stderr));
}

/// `export` writes the merged root (stopped or running) as a tar `tar -t` lists; -o writes
/// a file.
#[test]
fn export_lists_the_root() {
    if !root_or_skip("export_lists_the_root") {
        return;
    }
    let w = World::with_busybox();
    w.ok(&[
        "run",
        "--name",
        "snap-exp",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo x > /added",
    ]);
    let out = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["export", "snap-exp"])
        .stdout(Stdio::piped())
        .output()
        .expect("export");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names = tar_names(&out.stdout);
    for n in ["bin/busybox", "bin/sh", "etc/passwd", "added"] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    assert!(!names.iter().any(|x| x == "etc/hosts"), "{names:?}");
    let f = w.dir.path().join("out.tar");
    w.ok(&["export", "-o", f.to_str().unwrap(), "snap-exp"]);
    let t = Command::new("tar")
        .arg("-tf")
        .arg(&f)
        .output()
        .expect("tar");
    assert!(t.status.success());
    assert!(
        text(&t.stdout).lines().any(|l| l == "added"),
        "{}",
        text(&t.stdout)
    );
    // Nothing stays mounted after exporting a stopped container.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(w.root().to_str().unwrap()), "{mounts}");
}

fn tar_names(data: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .expect("tar")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}
