//! Black-box tests of `berth-runtime` as root: lifecycle, isolation, limits, security, hooks,
//! and that `delete` leaves nothing on the host.

mod common;

use common::*;
use serde_json::json;

#[test]
fn init_is_pid1_with_own_hostname_and_mounts() {
    if !root_or_skip("init_is_pid1_with_own_hostname_and_mounts") {
        return;
    }
    let w = World::new();
    let b = w.bundle(
        "pid1",
        &[
            "sh",
            "-c",
            "echo pid=$$; hostname; cat /proc/self/mountinfo",
        ],
    );
    let id = w.id("pid1");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.contains("berth-test\n"), "{out}");
    // Only the container's mounts: nothing from the host's tree (e.g. the test's temp dir).
    let mounts: Vec<&str> = out.lines().filter(|l| l.contains(" - ")).collect();
    for m in &mounts {
        let mp = m.split(' ').nth(4).unwrap_or("");
        assert!(
            !mp.starts_with("/tmp/") && !mp.starts_with("/work") && !mp.starts_with("/home"),
            "host mount visible: {m}"
        );
    }
    assert!(
        mounts.iter().any(|m| m.split(' ').nth(4) == Some("/")),
        "no root mount: {out}"
    );
    assert_gone(&w, &id, 0, &b);
}

#[test]
fn exit_codes_pass_through() {
    if !root_or_skip("exit_codes_pass_through") {
        return;
    }
    let w = World::new();
    let b = w.bundle("exit3", &["sh", "-c", "exit 3"]);
    let id = w.id("exit3");
    assert_eq!(w.run(&b, &id).0, 3);

    // Killed by a signal: 128 + n.
    let b = w.bundle("sig", &["sleep", "100"]);
    let id = w.id("sig");
    let mut child = w
        .cmd()
        .args(["run", "--bundle", b.p(), &id])
        .spawn()
        .expect("spawn run");
    assert!(wait_for(10, || w
        .rt(&["state", &id])
        .stdout
        .windows(9)
        .any(|x| x == b"\"running\"")));
    let out = w.rt(&["kill", &id, "KILL"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = child.wait().expect("wait run");
    assert_eq!(status.code(), Some(137));
    assert_gone(&w, &id, 0, &b);
}

#[test]
fn missing_executable_fails_at_create_with_the_step() {
    if !root_or_skip("missing_executable_fails_at_create_with_the_step") {
        return;
    }
    let w = World::new();
    let b = w.bundle("noexe", &["no-such-binary"]);
    let id = w.id("noexe");
    let out = w.rt(&["create", "--bundle", b.p(), &id]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("no-such-binary") && err.contains("not found"),
        "{err}"
    );
    assert!(err.contains("prepare process"), "step not named: {err}");
    assert_gone(&w, &id, 0, &b);
}

#[test]
fn bad_mount_reports_the_mount_and_cleans_up() {
    if !root_or_skip("bad_mount_reports_the_mount_and_cleans_up") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle("badmount", &["true"]);
    b.config["mounts"].as_array_mut().expect("mounts").push(json!({
        "destination": "/data", "type": "bind", "source": "/nonexistent/berth-src", "options": ["rbind"]
    }));
    b.save();
    let id = w.id("badmount");
    let out = w.rt(&["create", "--bundle", b.p(), &id]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("/nonexistent/berth-src") && err.contains("/data"),
        "{err}"
    );
    assert_gone(&w, &id, 0, &b);
}

#[test]
fn invalid_config_names_the_file() {
    if !root_or_skip("invalid_config_names_the_file") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle("badcfg", &["true"]);
    b.config["process"]["args"] = json!([]);
    b.save();
    let id = w.id("badcfg");
    let out = w.rt(&["create", "--bundle", b.p(), &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("config.json") && err.contains("process.args"),
        "{err}"
    );
    // A sysctl name that leaves /proc/sys is refused before anything runs.
    b.config["process"]["args"] = json!(["true"]);
    b.config["linux"]["sysctl"] = json!({"kernel/../../etc/hostname": "x"});
    b.save();
    let out = w.rt(&["create", "--bundle", b.p(), &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("config.json") && err.contains("linux.sysctl \"kernel/../../etc/hostname\""),
        "{err}"
    );
    assert!(!w.root.join(&id).exists());
    std::fs::write(b.path.join("config.json"), "{ not json").expect("write");
    let out = w.rt(&["create", "--bundle", b.p(), &id]);
    assert!(
        text(&out.stderr).contains("config.json"),
        "{}",
        text(&out.stderr)
    );
    assert!(!w.root.join(&id).exists());
}

#[test]
fn state_machine_and_its_errors() {
    if !root_or_skip("state_machine_and_its_errors") {
        return;
    }
    let w = World::new();
    let b = w.bundle("sm", &["sleep", "100"]);
    let id = w.id("sm");
    let pidfile = w.dir.path().join("sm.pid");
    let (ok, err) = w.rt_bg(&[
        "create",
        "--bundle",
        b.p(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    assert!(ok, "{err}");
    let st = w.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 0);
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pid file"),
        pid.to_string()
    );
    // The created process waits: it must not have exec'd sleep yet.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert!(!comm.contains("sleep"), "exec'd before start: {comm}");

    // Duplicate id.
    let out = w.rt(&["create", "--bundle", b.p(), &id]);
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );

    let (ok, err) = w.rt_bg(&["start", &id]);
    assert!(ok, "{err}");
    assert_eq!(w.state(&id)["status"], "running");
    assert!(wait_for(5, || std::fs::read_to_string(format!(
        "/proc/{pid}/comm"
    ))
    .unwrap_or_default()
    .contains("sleep")));

    let out = w.rt(&["start", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("running"),
        "{}",
        text(&out.stderr)
    );
    let out = w.rt(&["delete", &id]);
    assert!(!out.status.success(), "deleted a running container");
    assert!(text(&out.stderr).contains("running"));

    // list shows it.
    let out = w.rt(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list json");
    assert!(list
        .as_array()
        .expect("array")
        .iter()
        .any(|c| c["id"] == id.as_str()));

    // pause / resume
    let out = w.rt(&["pause", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.state(&id)["status"], "paused");
    let out = w.rt(&["resume", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.state(&id)["status"], "running");

    // ps lists the init
    let out = w.rt(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&out.stdout).expect("ps json");
    assert!(pids.contains(&pid), "{pids:?}");

    let out = w.rt(&["kill", &id, "SIGKILL"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(wait_for(5, || w.state(&id)["status"] == "stopped"));
    let out = w.rt(&["kill", &id, "TERM"]);
    assert!(!out.status.success(), "killed a stopped container");
    let out = w.rt(&["delete", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_gone(&w, &id, pid, &b);

    let out = w.rt(&["state", &id]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("does not exist"));
    let out = w.rt(&["kill", "no-such", "15"]);
    assert!(text(&out.stderr).contains("does not exist"));
    let out = w.rt(&["state", "../escape"]);
    assert!(text(&out.stderr).contains("invalid container id"));
}

#[test]
fn delete_force_of_running_container_leaves_nothing() {
    if !root_or_skip("delete_force_of_running_container_leaves_nothing") {
        return;
    }
    let w = World::new();
    let b = w.bundle("force", &["sh", "-c", "sleep 100 & sleep 100"]);
    let id = w.id("force");
    let (ok, err) = w.rt_bg(&["run", "-d", "--bundle", b.p(), &id]);
    assert!(ok, "{err}");
    let pid = w.state(&id)["pid"].as_i64().expect("pid") as i32;
    for d in cgroup_dirs(&id) {
        assert!(d.exists(), "cgroup {} missing while running", d.display());
    }
    let out = w.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_gone(&w, &id, pid, &b);
}

#[test]
fn memory_limit_oom_kills() {
    if !root_or_skip("memory_limit_oom_kills") {
        return;
    }
    let w = World::new();
    let limit = 32 * 1024 * 1024;
    let mut b = w.bundle(
        "oom",
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/null bs=128M count=1; echo rc=$?",
        ],
    );
    b.config["linux"]["resources"]["memory"] = json!({"limit": limit, "swap": limit});
    b.save();
    let id = w.id("oom");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rc=137"), "dd was not OOM-killed: {out} {err}");

    // The limit is in the cgroup while the container lives.
    let b = w.bundle("memcg", &["sleep", "100"]);
    let mut b2 = b;
    b2.config["linux"]["resources"]["memory"] = json!({"limit": limit});
    b2.save();
    let id = w.id("memcg");
    let (ok, err) = w.rt_bg(&["run", "-d", "--bundle", b2.p(), &id]);
    assert!(ok, "{err}");
    let file = if cgroup_v2() {
        format!("/sys/fs/cgroup/{id}/memory.max")
    } else {
        format!("/sys/fs/cgroup/memory/{id}/memory.limit_in_bytes")
    };
    assert_eq!(
        std::fs::read_to_string(&file)
            .expect("memory limit file")
            .trim(),
        limit.to_string()
    );
    assert!(w.rt(&["delete", "-f", &id]).status.success());
}

#[test]
fn pids_limit_makes_fork_fail() {
    if !root_or_skip("pids_limit_makes_fork_fail") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle(
        "pids",
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); done; echo done",
        ],
    );
    b.config["linux"]["resources"]["pids"] = json!({"limit": 5});
    b.save();
    let id = w.id("pids");
    let (_code, _out, err) = w.run(&b, &id);
    assert!(err.contains("fork"), "fork did not fail: {err}");
}

#[test]
fn readonly_rootfs_and_masked_paths() {
    if !root_or_skip("readonly_rootfs_and_masked_paths") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle(
        "ro",
        &["sh", "-c", "touch /x 2>&1; echo kcore=$(cat /proc/kcore | wc -c); ls /proc/acpi | wc -l; (echo 1 > /proc/sys/kernel/domainname) 2>&1; echo end"],
    );
    b.config["root"]["readonly"] = json!(true);
    b.save();
    let id = w.id("ro");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Read-only file system"),
        "rootfs writable: {out}"
    );
    assert!(out.contains("kcore=0"), "/proc/kcore not masked: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("Read-only file system"))
            .count()
            >= 2,
        "/proc/sys writable: {out}"
    );
    assert!(!b.rootfs().join("x").exists());
}

#[test]
fn capabilities_outside_the_set_are_absent() {
    if !root_or_skip("capabilities_outside_the_set_are_absent") {
        return;
    }
    let w = World::new();
    let b = w.bundle(
        "caps",
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Bnd|Eff|Prm)' /proc/self/status; hostname evil 2>&1; echo end",
        ],
    );
    let id = w.id("caps");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    // AUDIT_WRITE(29) KILL(5) NET_BIND_SERVICE(10)
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert!(
            out.contains(&format!("{set}:\t0000000020000420")),
            "{set} wrong: {out}"
        );
    }
    assert!(
        out.contains("Operation not permitted") || out.contains("not permitted"),
        "sethostname allowed without CAP_SYS_ADMIN: {out}"
    );
}

#[test]
fn seccomp_denies_what_the_spec_denies() {
    if !root_or_skip("seccomp_denies_what_the_spec_denies") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle(
        "seccomp",
        &[
            "sh",
            "-c",
            "mkdir /tmp/blocked 2>&1; echo ok > /tmp/allowed && cat /tmp/allowed",
        ],
    );
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    b.save();
    let id = w.id("seccomp");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Operation not permitted"),
        "mkdir allowed: {out}"
    );
    assert!(out.contains("ok"), "{out}");
    assert!(!b.rootfs().join("tmp/blocked").exists());
}

#[test]
fn hooks_run_with_the_state_on_stdin() {
    if !root_or_skip("hooks_run_with_the_state_on_stdin") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle("hooks", &["true"]);
    let out = w.dir.path().join("hooks");
    std::fs::create_dir_all(&out).expect("mkdir");
    let hook = |kind: &str| json!({"path": busybox(), "args": ["sh", "-c", format!("cat > {}/{kind}.json", out.display())]});
    b.config["hooks"] = json!({
        "createRuntime": [hook("createRuntime")],
        "createContainer": [hook("createContainer")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    b.save();
    let id = w.id("hooks");
    let (code, _out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    for kind in ["createRuntime", "createContainer", "poststart", "poststop"] {
        let data = std::fs::read(out.join(format!("{kind}.json")))
            .unwrap_or_else(|_| panic!("{kind} hook did not run"));
        let v: serde_json::Value =
            serde_json::from_slice(&data).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(v["id"], id.as_str(), "{kind}");
        assert!(v["pid"].as_i64().unwrap_or(0) > 0, "{kind}: {v}");
    }
    let failing = json!({"path": "/bin/false"});
    b.config["hooks"] = json!({"createRuntime": [failing]});
    b.save();
    let id = w.id("hookfail");
    let (code, _, err) = w.run(&b, &id);
    assert_ne!(code, 0);
    assert!(
        err.contains("createRuntime") && err.contains("/bin/false"),
        "{err}"
    );
    assert_gone(&w, &id, 0, &b);
}

#[test]
fn exec_joins_the_container() {
    if !root_or_skip("exec_joins_the_container") {
        return;
    }
    let w = World::new();
    let b = w.bundle("exec", &["sleep", "100"]);
    let id = w.id("exec");
    let (ok, err) = w.rt_bg(&["run", "-d", "--bundle", b.p(), &id]);
    assert!(ok, "{err}");
    let out = w.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo pid=$$; hostname; cat /proc/1/cmdline; exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("berth-test") && s.contains("sleep"), "{s}");
    assert!(!s.contains("pid=1\n"), "{s}");
    let out = w.rt(&["exec", &id, "no-such-cmd"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no-such-cmd"),
        "{}",
        text(&out.stderr)
    );
    assert!(w.rt(&["delete", "-f", &id]).status.success());
    assert_gone(&w, &id, 0, &b);
}

#[test]
fn console_socket_receives_the_pty() {
    if !root_or_skip("console_socket_receives_the_pty") {
        return;
    }
    use std::os::unix::net::UnixListener;
    let w = World::new();
    let mut b = w.bundle("tty", &["sh", "-c", "tty; echo hello-from-tty"]);
    b.config["process"]["terminal"] = json!(true);
    b.save();
    let id = w.id("tty");
    let sock = w.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    let out = w.rt(&[
        "create",
        "--bundle",
        b.p(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (conn, _) = listener.accept().expect("accept");
    let master = berth_runtime::console::recv_fd(&conn).expect("pty master");
    assert!(w.rt(&["start", &id]).status.success());
    let mut f = std::fs::File::from(master);
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    use std::io::Read;
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if text(&got).contains("hello-from-tty") {
            break;
        }
    }
    let s = text(&got);
    assert!(
        s.contains("/dev/pts/0") && s.contains("hello-from-tty"),
        "{s}"
    );
    assert!(wait_for(5, || w.state(&id)["status"] == "stopped"));
    assert!(w.rt(&["delete", &id]).status.success());
}

#[test]
fn user_namespace_maps_root() {
    if !root_or_skip("user_namespace_maps_root") {
        return;
    }
    if chrooted() {
        // clone(2): EPERM for CLONE_NEWUSER when the caller's root is not its mount
        // namespace's root, as in the cgroup-v2 VM runner, which chroots into the host's tree.
        eprintln!(
            "skipping user_namespace_maps_root: chrooted, the kernel refuses new user namespaces"
        );
        return;
    }
    let w = World::new();
    let mut b = w.bundle(
        "userns",
        &[
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; cat /sys/class/net/lo/flags",
        ],
    );
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .expect("ns")
        .push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.save();
    let id = w.id("userns");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("0\n"), "{out}");
    assert!(out.contains("100000"), "{out}");
    // The network namespace comes with the user namespace, and `lo` is up in it too.
    assert!(out.ends_with("0x9\n"), "{out}");
    assert_gone(&w, &id, 0, &b);
}

#[test]
fn features_and_help() {
    let out = std::process::Command::new(BIN)
        .arg("features")
        .output()
        .expect("features");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("features json");
    assert!(v["linux"]["namespaces"].as_array().expect("ns").len() >= 7);
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .expect("help");
    let h = text(&out.stdout);
    for verb in [
        "create", "start", "state", "kill", "delete", "run", "list", "exec", "ps", "pause",
        "resume", "features",
    ] {
        assert!(h.contains(verb), "--help lacks {verb}");
    }
}

#[test]
fn the_process_starts_with_no_signal_ignored_or_blocked() {
    if !root_or_skip("the_process_starts_with_no_signal_ignored_or_blocked") {
        return;
    }
    let w = World::new();
    let b = w.bundle(
        "sigs",
        &["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"],
    );
    let id = w.id("sigs");
    // A caller that ignores signals (nohup's SIGHUP, a shell's `&` SIGINT and SIGQUIT) or
    // blocks one must not hand that to the container, nor may the runtime's own SIGPIPE.
    let mut c = w.cmd();
    c.args(["run", "--bundle", b.path.to_str().expect("utf8"), &id]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            for s in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGPIPE] {
                libc::signal(s, libc::SIG_IGN);
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let out = c.stdin(std::process::Stdio::null()).output().expect("run");
    let so = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(so.contains("SigIgn:\t0000000000000000"), "{so}");
    assert!(so.contains("SigBlk:\t0000000000000000"), "{so}");
}
