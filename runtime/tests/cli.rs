//! The rest of runc's command line that containerd's runc shim calls (issue 11): update,
//! events, spec, ps --format json, checkpoint/restore and --systemd-cgroup, with runc's exit
//! codes and JSON shapes.

mod common;

use std::io::{BufRead, Write};
use std::process::Stdio;

use common::*;
use serde_json::{json, Value};

fn read(p: &str) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .trim()
        .to_string()
}

/// A detached `sleep` container.
fn sleeper(w: &World, name: &str, resources: Value) -> (Bundle, String) {
    let mut b = w.bundle(name, &["sleep", "100"]);
    for (k, v) in resources.as_object().into_iter().flatten() {
        b.config["linux"]["resources"][k] = v.clone();
    }
    b.save();
    let id = w.id(name);
    let (ok, err) = w.rt_bg(&["run", "-d", "--bundle", b.p(), &id]);
    assert!(ok, "{err}");
    (b, id)
}

#[test]
fn update_changes_limits_from_flags_and_from_json_on_stdin() {
    if !root_or_skip("update_changes_limits_from_flags_and_from_json_on_stdin") {
        return;
    }
    let w = World::new();
    let (_b, id) = sleeper(
        &w,
        "update",
        json!({"cpu": {"quota": 50000, "period": 100000}, "pids": {"limit": 42}}),
    );
    let out = w.rt(&[
        "update",
        "--memory",
        "64m",
        "--cpu-quota",
        "20000",
        "--cpu-share",
        "256",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "50",
        &id,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v2 = cgroup_v2();
    let files = |id: &str| {
        if v2 {
            let d = format!("/sys/fs/cgroup/{id}");
            (
                read(&format!("{d}/memory.max")),
                read(&format!("{d}/cpu.max")),
                read(&format!("{d}/pids.max")),
                read(&format!("{d}/cpuset.cpus")),
            )
        } else {
            let c = |ctl: &str, f: &str| read(&format!("/sys/fs/cgroup/{ctl}/{id}/{f}"));
            (
                c("memory", "memory.limit_in_bytes"),
                format!(
                    "{} {}",
                    c("cpu", "cpu.cfs_quota_us"),
                    c("cpu", "cpu.cfs_period_us")
                ),
                c("pids", "pids.max"),
                c("cpuset", "cpuset.cpus"),
            )
        }
    };
    let (mem, cpu, pids, cpus) = files(&id);
    assert_eq!(mem, (64u64 << 20).to_string());
    // The quota changed, the period given at create stayed.
    assert_eq!(cpu, "20000 100000");
    assert_eq!(pids, "50");
    assert_eq!(cpus, "0");
    if !v2 {
        assert_eq!(read(&format!("/sys/fs/cgroup/cpu/{id}/cpu.shares")), "256");
    }

    // containerd's shim: `update --resources - ID` with a LinuxResources JSON on stdin.
    let mut child = w
        .cmd()
        .args(["update", "--resources", "-", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("update");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"memory": {"limit": 134217728}, "pids": {"limit": 60}}"#)
        .expect("write stdin");
    let out = child.wait_with_output().expect("update");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (mem, cpu, pids, _) = files(&id);
    assert_eq!(mem, "134217728");
    assert_eq!(pids, "60");
    assert_eq!(
        cpu, "20000 100000",
        "an update must not reset what it does not name"
    );

    // Bad input names the flag; a stopped container cannot be updated (exit 1, as runc).
    let out = w.rt(&["update", "--memory", "lots", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--memory"),
        "{}",
        text(&out.stderr)
    );
    assert!(w.rt(&["kill", &id, "KILL"]).status.success());
    assert!(wait_for(10, || w.state(&id)["status"] == "stopped"));
    let out = w.rt(&["update", "--pids-limit", "10", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("stopped"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn events_stats_prints_one_json_object_in_runc_s_shape() {
    if !root_or_skip("events_stats_prints_one_json_object_in_runc_s_shape") {
        return;
    }
    let w = World::new();
    let (_b, id) = sleeper(
        &w,
        "stats",
        json!({"memory": {"limit": 268435456}, "pids": {"limit": 99}}),
    );
    let out = w.rt(&["events", "--stats", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    let d = &v["data"];
    for k in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
        assert!(d.get(k).is_some(), "{k} missing: {d}");
    }
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "{d}");
    assert!(
        d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{d}"
    );
    assert_eq!(d["memory"]["usage"]["limit"], 268435456u64, "{d}");
    assert_eq!(d["pids"]["current"], 1, "{d}");
    assert_eq!(d["pids"]["limit"], 99, "{d}");

    assert!(w.rt(&["kill", &id, "KILL"]).status.success());
    assert!(wait_for(10, || w.state(&id)["status"] == "stopped"));
    let out = w.rt(&["events", "--stats", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("stopped"),
        "{}",
        text(&out.stderr)
    );
    let out = w.rt(&["events", "--interval", "0s", &id]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn events_streams_stats_and_reports_an_oom_kill() {
    if !root_or_skip("events_streams_stats_and_reports_an_oom_kill") {
        return;
    }
    let w = World::new();
    let limit = 32 * 1024 * 1024;
    let mut b = w.bundle(
        "oomev",
        &[
            "sh",
            "-c",
            // Waits for the test to say that `events` is watching (an OOM kill before
            // that is not news to it, as for runc).
            "while [ ! -e /tmp/go ]; do sleep 0.1; done; dd if=/dev/zero of=/dev/null bs=128M count=1; sleep 1",
        ],
    );
    b.config["linux"]["resources"]["memory"] = json!({"limit": limit, "swap": limit});
    b.save();
    let id = w.id("oomev");
    let (ok, err) = w.rt_bg(&["run", "-d", "--bundle", b.p(), &id]);
    assert!(ok, "{err}");
    let mut child = w
        .cmd()
        .args(["events", "--interval", "300ms", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("events");
    let stdout = child.stdout.take().expect("stdout");
    // `events` ends by itself when the container's process exits; read until then.
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = first_tx.send(());
            lines.push(l);
        }
        lines
    });
    // Its first statistics mean it has read the OOM counter it counts from.
    let watching = first_rx.recv_timeout(std::time::Duration::from_secs(60));
    std::fs::write(b.rootfs().join("tmp/go"), "").expect("go");
    assert!(watching.is_ok(), "events printed nothing");
    let ended = wait_for(60, || matches!(child.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait events");
    let lines = reader.join().expect("reader");
    assert!(ended, "events did not end with the container: {lines:?}");
    assert!(status.success(), "events failed: {lines:?}");
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "stats" && e["id"] == id.as_str()),
        "{lines:?}"
    );
    assert_eq!(
        events.iter().filter(|e| e["type"] == "oom").count(),
        1,
        "{lines:?}"
    );
    let oom = events.iter().find(|e| e["type"] == "oom").expect("oom");
    assert_eq!(oom["id"], id.as_str());
    assert!(oom.get("data").is_none(), "{oom}");
}

#[test]
fn spec_writes_a_starter_config_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let out = std::process::Command::new(BIN)
        .args(["spec", "--bundle", d])
        .output()
        .expect("spec");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(v["process"]["args"], json!(["sh"]));
    assert_eq!(v["root"]["path"], "rootfs");
    // runc's rule: never over an existing file.
    let out = std::process::Command::new(BIN)
        .args(["spec", "-b", d, "--rootless"])
        .output()
        .expect("spec");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("exists"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(dir.path().join("config.json")).expect("rm");
    let out = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .args(["spec", "--rootless"])
        .output()
        .expect("spec");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).expect("config"))
            .expect("json");
    let ns = v["linux"]["namespaces"].to_string();
    assert!(ns.contains("user") && !ns.contains("network"), "{ns}");
    assert!(v["linux"]["uidMappings"].is_array());
}

/// The starter config runs: its only change is a command that ends and no terminal.
#[test]
fn the_spec_config_runs() {
    if !root_or_skip("the_spec_config_runs") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle("specrun", &["true"]);
    std::fs::remove_file(b.path.join("config.json")).expect("rm");
    let out = w.rt(&["spec", "--bundle", b.p()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    b.config = serde_json::from_slice(&std::fs::read(b.path.join("config.json")).expect("read"))
        .expect("json");
    b.config["process"]["terminal"] = json!(false);
    b.config["process"]["args"] = json!(["echo", "from-spec"]);
    b.save();
    let id = w.id("specrun");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "from-spec");
}

#[test]
fn ps_and_kill_all_reach_every_process_also_in_a_child_cgroup() {
    if !root_or_skip("ps_and_kill_all_reach_every_process_also_in_a_child_cgroup") {
        return;
    }
    /// The cgroups the test makes below the container's, removed also when it fails.
    struct Subs(Vec<std::path::PathBuf>);
    impl Drop for Subs {
        fn drop(&mut self) {
            for sub in &self.0 {
                let _ = std::fs::remove_dir(sub);
            }
        }
    }
    let w = World::new();
    let mut b = w.bundle("psall", &["sleep", "100"]);
    b.config["process"]["args"] = json!(["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    b.save();
    let id = w.id("psall");
    let (ok, err) = w.rt_bg(&["run", "-d", "--bundle", b.p(), &id]);
    assert!(ok, "{err}");
    let listed = || -> Vec<i64> {
        let out = w.rt(&["ps", "--format", "json", &id]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("json array of pids")
    };
    assert!(wait_for(5, || listed().len() == 3), "{:?}", listed());
    // One of them moved into a cgroup below the container's (as a nested manager would).
    let pid = w.state(&id)["pid"].as_i64().expect("pid");
    let child = listed().into_iter().find(|p| *p != pid).expect("a child");
    let mut subs = Subs(Vec::new());
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        // v2 keeps processes out of a cgroup whose children have controllers: an empty
        // child, which delete must remove too.
        let sub = std::path::Path::new("/sys/fs/cgroup").join(&id).join("sub");
        std::fs::create_dir(&sub).expect("mkdir sub");
        subs.0.push(sub);
    } else {
        // v1: in every hierarchy, so whichever ps reads, the child is only below the
        // container's cgroup.
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .expect("cgroupfs")
            .flatten()
        {
            let dir = h.path().join(&id);
            if dir.is_dir() {
                let sub = dir.join("sub");
                std::fs::create_dir(&sub).expect("mkdir sub");
                subs.0.push(sub.clone());
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    // A new cpuset cgroup has none: a task cannot move in until it has.
                    if let Ok(v) = std::fs::read_to_string(dir.join(f)) {
                        std::fs::write(sub.join(f), v.trim()).expect(f);
                    }
                }
                std::fs::write(sub.join("cgroup.procs"), child.to_string()).expect("move");
            }
        }
        assert!(!subs.0.is_empty());
        let all = listed();
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all.contains(&child), "{all:?}");
    }
    let out = w.rt(&["kill", "--all", &id, "KILL"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(wait_for(5, || w.state(&id)["status"] == "stopped"));
    assert!(wait_for(5, || !std::path::Path::new(&format!(
        "/proc/{child}"
    ))
    .exists()));
    // delete removes the cgroups below the container's too (as runc's does).
    let out = w.rt(&["delete", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for sub in &subs.0 {
        assert!(!sub.exists(), "{} left after delete", sub.display());
        assert!(!sub.parent().is_some_and(|p| p.exists()));
    }
}

#[test]
fn ps_lists_the_container_s_processes() {
    if !root_or_skip("ps_lists_the_container_s_processes") {
        return;
    }
    let w = World::new();
    let (_b, id) = sleeper(&w, "ps", json!({}));
    let pid = w.state(&id)["pid"].as_i64().expect("pid");
    let out = w.rt(&["ps", "--format", "json", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout).expect("json array of pids");
    assert_eq!(pids, vec![pid]);
    let out = w.rt(&["ps", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let mut lines = table.lines();
    assert!(lines.next().unwrap_or("").contains("PID"), "{table}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(rows[0].contains("sleep 100"), "{table}");
    assert_eq!(
        w.rt(&["ps", "--format", "json", "nope"]).status.code(),
        Some(1)
    );
}

#[test]
fn checkpoint_restore_and_systemd_cgroup_say_they_are_not_supported() {
    if !root_or_skip("checkpoint_restore_and_systemd_cgroup_say_they_are_not_supported") {
        return;
    }
    let w = World::new();
    let (b, id) = sleeper(&w, "ckpt", json!({}));
    let img = w.dir.path().join("img");
    let out = w.rt(&[
        "checkpoint",
        "--image-path",
        img.to_str().expect("utf8"),
        "--leave-running",
        &id,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("checkpoint is not supported"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(w.state(&id)["status"], "running", "checkpoint touched it");
    let out = w.rt(&["restore", "--image-path", "/x", "--bundle", b.p(), "other"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("restore is not supported"));

    // The systemd driver: refused where a cgroup is made or changed, ignored where refusing
    // would keep a container from being cleaned up.
    let b2 = w.bundle("systemd", &["true"]);
    let id2 = w.id("systemd");
    let out = w.rt(&["--systemd-cgroup", "create", "--bundle", b2.p(), &id2]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("systemd cgroup driver is not supported"),
        "{err}"
    );
    assert!(!w.root.join(&id2).exists());
    let out = w.rt(&["--systemd-cgroup", "update", "--pids-limit", "5", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(w.rt(&["--systemd-cgroup", "state", &id]).status.success());
    assert!(w
        .rt(&["--systemd-cgroup", "delete", "--force", &id])
        .status
        .success());
}

/// containerd's runc shim treats a kill that finds the container stopped as done only when
/// the error says "container not running" (runc's text); otherwise StopContainer fails when
/// the process exited between its SIGTERM and its SIGKILL.
#[test]
fn kill_of_a_stopped_container_says_container_not_running() {
    if !root_or_skip("kill_of_a_stopped_container_says_container_not_running") {
        return;
    }
    let w = World::new();
    let (_b, id) = sleeper(&w, "killstopped", json!({}));
    assert!(w.rt(&["kill", &id, "KILL"]).status.success());
    assert!(wait_for(10, || w.state(&id)["status"] == "stopped"));
    let out = w.rt(&["kill", &id, "KILL"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("container not running"),
        "{}",
        text(&out.stderr)
    );
}

/// runc's `delete --force` of a container that does not exist succeeds (containerd's shim
/// runs it to clean up after `delete`); without --force it is an error naming the id.
#[test]
fn delete_force_of_a_missing_container_succeeds() {
    let w = World::new();
    let out = w.rt(&["delete", "--force", "no-such-container"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = w.rt(&["delete", "no-such-container"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    let out = w.rt(&["delete", "--force", "../bad"]);
    assert_eq!(out.status.code(), Some(1), "an invalid id is still refused");
}
