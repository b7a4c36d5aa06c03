//! Black-box tests of the process and security settings of config.json, and of the escapes
//! the runtime must keep closed.

mod common;

use std::os::fd::AsRawFd;

use common::*;
use serde_json::json;

#[test]
fn process_user_env_cwd_umask_rlimits_oom_sysctl() {
    if !root_or_skip("process_user_env_cwd_umask_rlimits_oom_sysctl") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle(
        "proc",
        &["sh", "-c", "id; echo FOO=$FOO; pwd; umask; ulimit -n; cat /proc/self/oom_score_adj; cat /proc/sys/net/ipv4/ip_forward"],
    );
    b.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 63});
    b.config["process"]["env"]
        .as_array_mut()
        .expect("env")
        .push(json!("FOO=bar"));
    b.config["process"]["cwd"] = json!("/work/dir");
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
    b.config["process"]["oomScoreAdj"] = json!(500);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    b.save();
    let id = w.id("proc");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("uid=1000 gid=1001") && lines[0].contains("groups=10,20")
            || lines[0].contains("10,20"),
        "{out}"
    );
    assert_eq!(
        &lines[1..],
        ["FOO=bar", "/work/dir", "0077", "256", "500", "1"],
        "{out}"
    );
}

#[test]
fn rlimit_above_the_host_hard_limit_is_a_clear_error() {
    if !root_or_skip("rlimit_above_the_host_hard_limit_is_a_clear_error") {
        return;
    }
    let mut host = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `host`.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut host) };
    // Only meaningful where we may not raise it (no CAP_SYS_RESOURCE, as on this VM).
    let caps = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bnd = caps
        .lines()
        .find(|l| l.starts_with("CapBnd:"))
        .and_then(|l| u64::from_str_radix(l[7..].trim(), 16).ok())
        .unwrap_or(0);
    if bnd & (1 << 24) != 0 {
        eprintln!("skipping: this host may raise rlimits (CAP_SYS_RESOURCE in the bounding set)");
        return;
    }
    let w = World::new();
    let mut b = w.bundle("rlim", &["true"]);
    b.config["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "hard": host.rlim_max + 1000, "soft": 1024}]);
    b.save();
    let id = w.id("rlim");
    let (code, _, err) = w.run(&b, &id);
    assert_ne!(code, 0);
    assert!(
        err.contains("RLIMIT_NOFILE") || err.contains("RlimitNofile"),
        "{err}"
    );
    assert!(
        err.contains(&host.rlim_max.to_string()),
        "host limit not named: {err}"
    );
}

#[test]
fn bind_mounts_honour_ro_and_stay_inside_the_rootfs() {
    if !root_or_skip("bind_mounts_honour_ro_and_stay_inside_the_rootfs") {
        return;
    }
    let w = World::new();
    let host_dir = w.dir.path().join("hostdata");
    std::fs::create_dir_all(&host_dir).expect("mkdir");
    std::fs::write(host_dir.join("file"), "from-host").expect("write");
    // A symlink in the image pointing at an absolute host path: the tmpfs mounted "there" must
    // land inside the rootfs (CVE-2021-30465 class), not on the host's directory.
    let target = w.dir.path().join("victim");
    std::fs::create_dir_all(&target).expect("mkdir");
    let mut b = w.bundle(
        "bind",
        &[
            "sh",
            "-c",
            "cat /data/file; (echo x > /data/new) 2>&1; echo inside > /evil/marker; echo end",
        ],
    );
    std::os::unix::fs::symlink(&target, b.rootfs().join("evil")).expect("symlink");
    let m = b.config["mounts"].as_array_mut().expect("mounts");
    m.push(json!({"destination": "/data", "type": "bind", "source": host_dir, "options": ["rbind", "ro"]}));
    m.push(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    b.save();
    let id = w.id("bind");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("from-host"), "{out}");
    assert!(
        out.contains("Read-only file system"),
        "ro bind mount writable: {out}"
    );
    assert!(!host_dir.join("new").exists());
    assert!(
        !target.join("marker").exists(),
        "mount followed a symlink out of the rootfs"
    );
    assert!(
        b.rootfs()
            .join(target.strip_prefix("/").expect("abs"))
            .is_dir(),
        "symlink target not created inside the rootfs"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(target.to_str().expect("utf8")),
        "host dir got a mount"
    );
}

#[test]
fn no_host_descriptor_reaches_the_container() {
    if !root_or_skip("no_host_descriptor_reaches_the_container") {
        return;
    }
    let w = World::new();
    let b = w.bundle("fds", &["sh", "-c", "ls /proc/self/fd"]);
    let id = w.id("fds");
    // Leak a host directory descriptor into berth-runtime, as a careless caller would.
    let dir = std::fs::File::open(w.dir.path()).expect("open dir");
    // A high, fixed number that no other test uses; dup2 leaves it without CLOEXEC.
    let raw = 97;
    // SAFETY: dup2 onto a number this test owns; closed again below.
    unsafe { libc::dup2(dir.as_raw_fd(), raw) };
    let out = w
        .cmd()
        .args(["run", "--bundle", b.p(), &id])
        .output()
        .expect("run");
    // SAFETY: closing the descriptor made above.
    unsafe { libc::close(raw) };
    drop(dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fds: Vec<String> = text(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    assert!(
        !fds.contains(&raw.to_string()),
        "host fd {raw} reached the container: {fds:?}"
    );
    assert!(fds.len() <= 4, "unexpected descriptors: {fds:?}");
}

#[test]
fn init_executable_cannot_be_written() {
    if !root_or_skip("init_executable_cannot_be_written") {
        return;
    }
    let w = World::new();
    let b = w.bundle("exe", &["true"]);
    let id = w.id("exe");
    let (ok, err) = w.rt_bg(&["create", "--bundle", b.p(), &id]);
    assert!(ok, "{err}");
    let pid = w.state(&id)["pid"].as_i64().expect("pid");
    // The init's executable must sit on a read-only mount: once no runtime process runs it
    // (no more ETXTBSY), a process in the container could otherwise reopen it for writing.
    let path = std::ffi::CString::new(format!("/proc/{pid}/exe")).expect("cstring");
    // SAFETY: statvfs fills a zeroed struct we own; path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
    assert!(
        st.f_flag & libc::ST_RDONLY != 0,
        "init's executable is on a writable mount (CVE-2019-5736)"
    );
    // The host's copy is untouched and still writable by root: the protection is per container.
    let host = std::fs::metadata(BIN).expect("host binary");
    assert!(host.len() > 0);
    assert!(w.rt(&["delete", "--force", &id]).status.success());
}

#[test]
fn joins_a_network_namespace_by_path() {
    if !root_or_skip("joins_a_network_namespace_by_path") {
        return;
    }
    let w = World::new();
    let ns = format!("berth-t{}", std::process::id());
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    assert!(ip(&["netns", "add", &ns]), "ip netns add");
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    let _del = Del(ns.clone());
    assert!(ip(&[
        "-n",
        &ns,
        "link",
        "add",
        "brttestdummy0",
        "type",
        "veth",
        "peer",
        "name",
        "brttestdummy1"
    ]));
    let mut b = w.bundle("netns", &["cat", "/proc/net/dev"]);
    for n in b.config["linux"]["namespaces"].as_array_mut().expect("ns") {
        if n["type"] == "network" {
            n["path"] = json!(format!("/run/netns/{ns}"));
        }
    }
    b.save();
    let id = w.id("netns");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("brttestdummy0"),
        "not in the given netns: {out}"
    );
}

#[test]
fn device_rules_decide_which_nodes_open_on_v1_and_v2() {
    if !root_or_skip("device_rules_decide_which_nodes_open_on_v1_and_v2") {
        return;
    }
    // Nodes of a major no driver has (240), made by the runtime from linux.devices: opening
    // one says ENXIO where the device cgroup lets it through and EPERM where it does not.
    // /dev/null is a default device.
    let w = World::new();
    let mut b = w.bundle(
        "devs",
        &[
            "sh",
            "-c",
            "{ cat /dev/d1; cat /dev/d2; echo x > /dev/d2; cat /dev/d3; \
             echo ok > /dev/null && echo null-ok; } 2>&1",
        ],
    );
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/d1", "type": "c", "major": 240, "minor": 1},
        {"path": "/dev/d2", "type": "c", "major": 240, "minor": 2},
        {"path": "/dev/d3", "type": "c", "major": 240, "minor": 3}
    ]);
    b.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 240, "minor": 1, "access": "rwm"},
        {"allow": true, "type": "c", "major": 240, "minor": 2, "access": "r"}
    ]);
    b.save();
    let id = w.id("devs");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("No such device or address"), "{out}");
    assert!(lines[1].contains("No such device or address"), "{out}");
    assert!(
        lines[2].contains("Operation not permitted"),
        "read-only: {out}"
    );
    assert!(
        lines[3].contains("Operation not permitted"),
        "not listed: {out}"
    );
    assert_eq!(lines[4], "null-ok", "{out}");
}

#[test]
fn cpu_and_pids_limits_land_in_the_cgroup() {
    if !root_or_skip("cpu_and_pids_limits_land_in_the_cgroup") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle("cpu", &["sleep", "100"]);
    b.config["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"});
    b.config["linux"]["resources"]["pids"] = json!({"limit": 42});
    b.save();
    let id = w.id("cpu");
    let (ok, err) = w.rt_bg(&["run", "-d", "--bundle", b.p(), &id]);
    assert!(ok, "{err}");
    let read = |p: String| {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .trim()
            .to_string()
    };
    if cgroup_v2() {
        let d = format!("/sys/fs/cgroup/{id}");
        assert_eq!(read(format!("{d}/cpu.max")), "50000 100000");
        assert_eq!(read(format!("{d}/pids.max")), "42");
        assert_eq!(read(format!("{d}/cpuset.cpus")), "0");
    } else {
        assert_eq!(read(format!("/sys/fs/cgroup/cpu/{id}/cpu.shares")), "512");
        assert_eq!(
            read(format!("/sys/fs/cgroup/cpu/{id}/cpu.cfs_quota_us")),
            "50000"
        );
        assert_eq!(read(format!("/sys/fs/cgroup/pids/{id}/pids.max")), "42");
        assert_eq!(read(format!("/sys/fs/cgroup/cpuset/{id}/cpuset.cpus")), "0");
    }
    let out = w.rt(&["kill", "--all", &id, "KILL"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(wait_for(5, || w.state(&id)["status"] == "stopped"));
    assert!(w.rt(&["delete", &id]).status.success());
    for d in cgroup_dirs(&id) {
        assert!(!d.exists(), "{} left", d.display());
    }
}

#[test]
fn start_container_hook_runs_inside_and_errors_go_to_the_log() {
    if !root_or_skip("start_container_hook_runs_inside_and_errors_go_to_the_log") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle("shook", &["cat", "/tmp/started"]);
    b.config["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo in-container > /tmp/started"]}]});
    b.save();
    let id = w.id("shook");
    let (code, out, err) = w.run(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "in-container");

    let log = w.dir.path().join("log.json");
    let out = w
        .cmd()
        .args([
            "--log",
            log.to_str().expect("utf8"),
            "--log-format",
            "json",
            "state",
            "nope",
        ])
        .output()
        .expect("state");
    assert_eq!(out.status.code(), Some(1));
    let line = std::fs::read_to_string(&log).expect("log file");
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("json log line");
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap_or("").contains("nope"));
}

/// `run` does not stop between Ready and the start (its init goes on at once and reports on
/// the channel); `create` + `start` do. Either way a startContainer hook that fails is the
/// error, the process never runs, and nothing is left.
#[test]
fn a_failing_start_container_hook_stops_run_and_start_alike() {
    if !root_or_skip("a_failing_start_container_hook_stops_run_and_start_alike") {
        return;
    }
    let w = World::new();
    let mut b = w.bundle("badhook", &["sh", "-c", "echo ran"]);
    b.config["hooks"] =
        json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]});
    b.save();
    let id = w.id("badhook");
    let (code, out, err) = w.run(&b, &id);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("ran"), "{out}");
    assert!(err.contains("startContainer"), "{err}");
    assert_gone(&w, &id, 0, &b);

    let id = w.id("badhook-cs");
    let (ok, err) = w.rt_bg(&["create", "--bundle", b.p(), &id]);
    assert!(ok, "{err}");
    let out = w.rt(&["start", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("startContainer"),
        "{}",
        text(&out.stderr)
    );
    assert!(w.rt(&["delete", "--force", &id]).status.success());
    assert_gone(&w, &id, 0, &b);
}

#[test]
fn ids_above_2147483647_are_refused_not_left_as_root() {
    if !root_or_skip("ids_above_2147483647_are_refused_not_left_as_root") {
        return;
    }
    let w = World::new();
    // setresuid(-1) means "unchanged": without the check these ran as uid 0.
    for (i, user) in [
        json!({"uid": 4294967295u32, "gid": 0}),
        json!({"uid": 1000, "gid": 4294967295u32}),
        json!({"uid": 1000, "gid": 1000, "additionalGids": [2147483648u32]}),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("bigid{i}");
        let mut b = w.bundle(&name, &["id", "-u"]);
        b.config["process"]["user"] = user;
        b.save();
        let id = w.id(&name);
        let (code, out, err) = w.run(&b, &id);
        assert_ne!(code, 0, "ran with {}: {out}", b.config["process"]["user"]);
        assert!(err.contains("must be in range 0-2147483647"), "{err}");
    }
}
