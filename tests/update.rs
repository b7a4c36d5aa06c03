//! Black-box test of `update`: limits of a running container change in inspect and in its
//! live cgroup, a stopped one's in its record and at its next start; the restart policy.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// The container's cgroup file for `v2` (pure cgroup v2) or `v1` under `controller`.
fn cgroup_file(id: &str, controller: &str, v2: &str, v1: &str) -> PathBuf {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        base.join("berth").join(id).join(v2)
    } else {
        base.join(controller).join("berth").join(id).join(v1)
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn update_changes_inspect_and_the_cgroup() {
    if !root_or_skip("update_changes_inspect_and_the_cgroup") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&[
        "--name",
        "upd",
        "--network",
        "none",
        "-m",
        "64m",
        "bb:1",
        "sleep",
        "100",
    ]);
    assert_eq!(
        w.ok(&[
            "update",
            "-m",
            "128m",
            "--pids-limit",
            "50",
            "--restart",
            "on-failure:3",
            "upd"
        ]),
        "upd\n"
    );
    assert_eq!(
        w.inspect(
            "upd",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}"
        ),
        "134217728 50 on-failure"
    );
    let mem = cgroup_file(&id, "memory", "memory.max", "memory.limit_in_bytes");
    assert_eq!(read(&mem), "134217728");
    assert_eq!(
        read(&cgroup_file(&id, "pids", "pids.max", "pids.max")),
        "50"
    );
    // The rest of the limits stay as they were: the memory update did not drop pids.
    w.ok(&["update", "--cpus", "0.5", "upd"]);
    assert_eq!(
        read(&cgroup_file(&id, "pids", "pids.max", "pids.max")),
        "50"
    );
    assert_eq!(read(&mem), "134217728");
    // A stopped container: its record now, its cgroup at the next start.
    w.ok(&["stop", "-t", "0", "upd"]);
    w.ok(&["update", "-m", "32m", "upd"]);
    assert_eq!(w.inspect("upd", "{{.HostConfig.Memory}}"), "33554432");
    w.ok(&["start", "upd"]);
    assert_eq!(read(&mem), "33554432");
    // No flag, or a bad value: exit 1, saying why.
    let out = w.berth(&["update", "upd"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("flags"), "{}", text(&out.stderr));
    let out = w.berth(&["update", "-m", "lots", "upd"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--memory"),
        "{}",
        text(&out.stderr)
    );
    let out = w.berth(&["update", "-m", "1m", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
}
