//! berth-runtime under containerd's runc shim (io.containerd.runc.v2), the way a Kubernetes
//! node drives a runtime (issue 11): a private containerd (its own config, socket, root and
//! state in a temp dir, the CRI plugin off), a busybox image built here from busybox-static
//! and imported with `ctr images import`, then `ctr run --runc-binary berth-runtime`: output,
//! exit code, exec, ps, pause/resume, kill, and nothing left behind. Skips, saying why, when
//! containerd is not installed (Debian package `containerd`).

mod common;

use std::path::Path;

use common::containerd::*;
use common::*;

#[test]
fn ctr_runs_tasks_through_berth_runtime() {
    if !root_or_skip("ctr_runs_tasks_through_berth_runtime") {
        return;
    }
    let (Some(_), Some(_), Some(_)) = (
        on_path("containerd"),
        on_path("ctr"),
        on_path("containerd-shim-runc-v2"),
    ) else {
        eprintln!(
            "skipping ctr_runs_tasks_through_berth_runtime: containerd is not installed (Debian package `containerd`)"
        );
        return;
    };
    let w = World::new();
    // Short: containerd's socket path must fit in sun_path.
    let tmp = tempfile::Builder::new()
        .prefix("bctrd")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let archive = busybox_archive(&w, tmp.path());
    let c = Containerd::start(tmp.path());
    c.ok(&["images", "import", archive.to_str().expect("utf8")]);
    let bin = std::fs::canonicalize(BIN).expect("berth-runtime");
    let bin = bin.to_str().expect("utf8");

    // run --rm: output and exit code come back through the shim.
    let id = format!("b{}-rm", std::process::id());
    let out = c.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        bin,
        IMAGE,
        &id,
        "sh",
        "-c",
        "echo hello from berth; exit 3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        c.log()
    );
    assert!(text(&out.stdout).contains("hello from berth"));
    assert!(
        c.ok(&["containers", "list", "-q"]).trim().is_empty(),
        "--rm left the container"
    );
    assert_nothing_left(&c, &id);

    // A detached task: exec, ps (runc ps --format json), pause/resume, kill, delete.
    let id = format!("b{}-d", std::process::id());
    c.ok(&[
        "run",
        "-d",
        "--runc-binary",
        bin,
        IMAGE,
        &id,
        "sleep",
        "300",
    ]);
    // The shim really drives berth-runtime: its state (with berth's own fields) is there.
    let state = Path::new("/run/containerd/runc")
        .join(&c.ns)
        .join(&id)
        .join("state.json");
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("berth-runtime state"))
            .expect("state json");
    assert!(
        st.get("pid_start").is_some(),
        "not berth-runtime's state: {st}"
    );
    let out = c.ok(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo exec; hostname",
    ]);
    assert!(out.contains("exec"), "{out}");
    let ps = c.ok(&["task", "ps", &id]);
    assert!(ps.lines().count() >= 2, "{ps}");
    c.ok(&["task", "pause", &id]);
    assert!(c.ok(&["task", "list"]).contains("PAUSED"));
    c.ok(&["task", "resume", &id]);
    assert!(c.ok(&["task", "list"]).contains("RUNNING"));
    c.ok(&["task", "kill", "--signal", "SIGKILL", &id]);
    assert!(
        wait_for(20, || c.ok(&["task", "list"]).contains("STOPPED")),
        "{}",
        c.ok(&["task", "list"])
    );
    c.ok(&["task", "delete", &id]);
    c.ok(&["containers", "delete", &id]);
    assert_nothing_left(&c, &id);
    drop(c);
}
