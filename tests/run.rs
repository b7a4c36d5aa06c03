//! `berth run` flags as Docker users type them: env files, bind mounts, tmpfs, users from the
//! image's /etc/passwd, limits, capabilities, no-new-privileges, host network.

mod common;

use common::*;

fn world() -> World {
    let w = World::new();
    w.import_busybox("bb:1");
    w
}

#[test]
fn env_workdir_entrypoint_and_env_file() {
    if !root_or_skip("env_workdir_entrypoint_and_env_file") {
        return;
    }
    let w = world();
    let f = w.dir.path().join("env");
    std::fs::write(&f, "# comment\nFROM_FILE=1\n\nOVERRIDE=file\n").unwrap();
    let out = w.ok(&[
        "run",
        "--env-file",
        f.to_str().unwrap(),
        "-e",
        "OVERRIDE=flag",
        "-w",
        "/tmp",
        "bb:1",
        "sh",
        "-c",
        "echo $FROM_FILE $OVERRIDE $(pwd)",
    ]);
    assert_eq!(out.trim(), "1 flag /tmp");
    let out = w.ok(&["run", "--entrypoint", "echo", "bb:1", "via", "entrypoint"]);
    assert_eq!(out.trim(), "via entrypoint");
    std::fs::write(&f, "GOOD=1\nBAD LINE\n").unwrap();
    let out = w.berth(&["run", "--env-file", f.to_str().unwrap(), "bb:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains(&format!("{}:2", f.display())),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bind_mounts_and_tmpfs() {
    if !root_or_skip("bind_mounts_and_tmpfs") {
        return;
    }
    let w = world();
    let host = w.dir.path().join("data");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from host").unwrap();
    let v = format!("{}:/data", host.display());
    w.ok(&[
        "run",
        "-v",
        &v,
        "bb:1",
        "sh",
        "-c",
        "cat /data/in; echo written > /data/out",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("out")).unwrap().trim(),
        "written"
    );
    let vro = format!("{}:/data:ro", host.display());
    let out = w.ok(&[
        "run",
        "-v",
        &vro,
        "bb:1",
        "sh",
        "-c",
        "(echo x > /data/ro) 2>&1; true",
    ]);
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!host.join("ro").exists());
    // -v makes a missing host directory, as Docker's does
    let made = w.dir.path().join("nonexistent-berth-src");
    let v = format!("{}:/x", made.display());
    w.ok(&["run", "-v", &v, "bb:1", "true"]);
    assert!(made.is_dir());
    // `-v` makes a missing source (tests/docker_defaults.rs); `--mount` refuses, as Docker's.
    let out = w.berth(&[
        "run",
        "--mount",
        "type=bind,src=/nonexistent-berth-src,dst=/x",
        "bb:1",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(!std::path::Path::new("/nonexistent-berth-src").exists());
    assert!(
        text(&out.stderr).contains("/nonexistent-berth-src")
            && text(&out.stderr).contains("does not exist")
    );
    let out = w.ok(&[
        "run",
        "--tmpfs",
        "/scratch:size=1m",
        "bb:1",
        "sh",
        "-c",
        "grep ' /scratch ' /proc/mounts",
    ]);
    assert!(out.contains("tmpfs") && out.contains("size=1024k"), "{out}");
}

#[test]
fn user_names_come_from_the_image() {
    if !root_or_skip("user_names_come_from_the_image") {
        return;
    }
    let w = World::new();
    // An image with users and groups of its own.
    let tar = w.busybox_tar();
    let root = w.dir.path().join("bbroot");
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\napp:x:2345:\nextra:x:777:app\n",
    )
    .unwrap();
    let _ = tar;
    let t2 = w.dir.path().join("users.tar");
    assert!(std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&t2)
        .arg(".")
        .status()
        .unwrap()
        .success());
    w.ok(&["import", t2.to_str().unwrap(), "users:1"]);
    let out = w.ok(&["run", "-u", "app", "users:1", "id"]);
    assert!(
        out.contains("uid=1234") && out.contains("gid=2345") && out.contains("777"),
        "{out}"
    );
    let out = w.ok(&["run", "-u", "app:root", "users:1", "id"]);
    assert!(out.contains("uid=1234") && out.contains("gid=0"), "{out}");
    let out = w.ok(&["run", "-u", "4242:4343", "users:1", "id"]);
    assert!(
        out.contains("uid=4242") && out.contains("gid=4343"),
        "{out}"
    );
    // A non-root user has no effective capabilities (Docker's behaviour).
    let out = w.ok(&[
        "run",
        "-u",
        "app",
        "users:1",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert!(out.contains("0000000000000000"), "{out}");
    let out = w.berth(&["run", "-u", "nobody-here", "users:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("nobody-here"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn limits_land_in_the_cgroup_and_ulimits_in_the_process() {
    if !root_or_skip("limits_land_in_the_cgroup_and_ulimits_in_the_process") {
        return;
    }
    let w = world();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let script = if v2 {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; ulimit -n"
    } else {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us; ulimit -n"
    };
    let out = w.ok(&[
        "run",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "--ulimit",
        "nofile=512:1024",
        "bb:1",
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "67108864", "{out}");
    assert_eq!(lines[1], "50", "{out}");
    assert!(lines[2].starts_with("50000"), "{out}");
    assert_eq!(lines[3], "512", "{out}");
    let out = w.berth(&["run", "-m", "lots", "bb:1", "true"]);
    assert!(
        text(&out.stderr).contains("--memory"),
        "{}",
        text(&out.stderr)
    );
    let out = w.berth(&["run", "--ulimit", "bogus=1", "bb:1", "true"]);
    assert!(text(&out.stderr).contains("bogus"), "{}", text(&out.stderr));
}

/// Each `run --rm FLAGS bb:1 true` fails with exit 125 and a message holding its text.
fn refused(w: &World, cases: &[(&[&str], &str)]) {
    for (bad, why) in cases {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(bad);
        a.extend(["bb:1", "true"]);
        let out = w.berth(&a);
        assert_eq!(out.status.code(), Some(125), "{bad:?}");
        assert!(
            text(&out.stderr).contains(why),
            "{bad:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn shm_size_sysctls_oom_score_groups_and_memory_knobs_reach_the_container() {
    if !root_or_skip("shm_size_sysctls_oom_score_groups_and_memory_knobs_reach_the_container") {
        return;
    }
    let w = world();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    // Swap limits need swap accounting; the host's own memory controller says if it has it.
    let swap =
        !v2 && std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    let cgroup = if v2 {
        "cat /sys/fs/cgroup/memory.low /sys/fs/cgroup/cpuset.cpus"
    } else {
        "cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes /sys/fs/cgroup/cpuset/cpuset.cpus"
    };
    // Two nodes no driver has (common::fake_device): ENXIO where allowed, EPERM where not.
    let rw = format!("{}:/dev/fake", fake_device(w.dir.path(), "fake-rw", 7));
    let write_only = format!("{}:/dev/sub/wo:w", fake_device(w.dir.path(), "fake-wo", 8));
    let script = format!(
        "grep ' /dev/shm ' /proc/mounts; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/self/oom_score_adj; id -G; {cgroup}{}; ls -ln /dev/fake /dev/sub/wo | cut -c1-10; cat /dev/fake 2>&1; cat /dev/sub/wo 2>&1; mknod /tmp/own c 240 9 && cat /tmp/own 2>&1; true",
        if swap { "; cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes" } else { "" }
    );
    let mut args = vec![
        "run",
        "--name",
        "knobs",
        "--shm-size",
        "100m",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--sysctl",
        "kernel.shmmax=123456",
        "--oom-score-adj",
        "300",
        "--group-add",
        "1234",
        "--group-add",
        "4321",
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "--cpuset-cpus",
        "0",
        "--device",
        &rw,
        "--device",
        &write_only,
    ];
    if swap {
        args.extend(["--memory-swap", "128m"]);
    }
    args.extend(["bb:1", "sh", "-c", &script]);
    let out = w.ok(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("size=102400k"), "{out}");
    assert_eq!(&lines[1..4], ["1", "123456", "300"], "{out}");
    assert_eq!(lines[4], "0 1234 4321", "{out}");
    assert_eq!(&lines[5..7], ["33554432", "0"], "{out}");
    let rest = &lines[if swap { 8 } else { 7 }..];
    if swap {
        assert_eq!(lines[7], "134217728", "{out}");
    }
    assert_eq!(&rest[..2], ["crw-r-----", "crw-r-----"], "{out}");
    assert!(rest[2].contains("No such device or address"), "{out}");
    assert!(rest[3].contains("Operation not permitted"), "{out}");
    // A node the container makes itself (mknod is allowed, as Docker) opens only if the
    // device cgroup lists it: on v2 that is the runtime's eBPF program.
    assert!(rest[4].contains("Operation not permitted"), "{out}");
    // inspect shows them as Docker's HostConfig does.
    assert_eq!(
        w.inspect(
            "knobs",
            "{{.HostConfig.ShmSize}} {{.HostConfig.OomScoreAdj}} {{.HostConfig.MemoryReservation}} {{.HostConfig.CpusetCpus}} {{json .HostConfig.GroupAdd}} {{json .HostConfig.Sysctls}}"
        ),
        r#"104857600 300 33554432 0 ["1234","4321"] {"kernel.shmmax":"123456","net.ipv4.ip_forward":"1"}"#
    );
    assert_eq!(
        w.inspect(
            "knobs",
            "{{range .HostConfig.Devices}}{{.PathInContainer}}:{{.CgroupPermissions}} {{end}}"
        ),
        "/dev/fake:rwm /dev/sub/wo:w"
    );
    // Each bad value is refused before anything is made, naming the flag.
    refused(
        &w,
        &[
            (&["--sysctl", "kernel.hostname=x"][..], "not namespaced"),
            (
                &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
                "--network host",
            ),
            (&["--memory-swap", "128m"], "needs --memory"),
            (
                &["-m", "64m", "--memory-reservation", "128m"],
                "--memory-reservation",
            ),
            (&["--cpuset-cpus", "0-4095"], "not available"),
            (&["--oom-score-adj", "1001"], "--oom-score-adj"),
            (&["--group-add", "no-such-group"], "no-such-group"),
            (&["--shm-size", "0"], "--shm-size"),
            (&["-w", "relative"], "absolute path"),
            (&["--device", "/etc/passwd"], "not a device"),
            (&["--device", "/dev/null:/dev/x:rwx"], "r, w and m"),
            (&["--device", "/dev/null:/dev/../etc/x"], "without .."),
        ],
    );
    let left = w.ok(&["ps", "-aq"]);
    assert_eq!(left.lines().count(), 1, "only the first container: {left}");
}

#[test]
fn pid_ipc_and_uts_host_share_the_hosts_namespaces() {
    if !root_or_skip("pid_ipc_and_uts_host_share_the_hosts_namespaces") {
        return;
    }
    let w = world();
    let host = |ns: &str| {
        std::fs::read_link(format!("/proc/self/ns/{ns}"))
            .unwrap()
            .display()
            .to_string()
    };
    let script = "for n in pid ipc uts cgroup; do readlink /proc/self/ns/$n; done; hostname; cat /etc/hostname; grep -c ' /dev/shm ' /proc/mounts; true";
    let out = w.ok(&[
        "run",
        "--rm",
        "--pid",
        "host",
        "--ipc",
        "host",
        "--uts",
        "host",
        "--cgroupns",
        "host",
        "bb:1",
        "sh",
        "-c",
        script,
    ]);
    let hostname = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..6],
        [
            &host("pid"),
            &host("ipc"),
            &host("uts"),
            &host("cgroup"),
            &hostname,
            &hostname
        ],
        "{out}"
    );
    // The host's /dev/shm, bound in.
    assert_eq!(lines[6], "1", "{out}");
    // By default each is the container's own; --ipc none has no /dev/shm.
    let out = w.ok(&["run", "--rm", "--ipc", "none", "bb:1", "sh", "-c", script]);
    let lines: Vec<&str> = out.lines().collect();
    for (i, ns) in ["pid", "ipc", "uts", "cgroup"].iter().enumerate() {
        assert_ne!(lines[i], host(ns), "{out}");
    }
    assert_ne!(lines[4], hostname, "{out}");
    assert_eq!(lines[6], "0", "{out}");
    let out = w.ok(&[
        "run", "-d", "--name", "hostns", "--pid", "host", "bb:1", "sleep", "100",
    ]);
    assert!(!out.trim().is_empty());
    assert_eq!(
        w.inspect(
            "hostns",
            "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}}. {{.HostConfig.CgroupnsMode}}"
        ),
        "host private . private"
    );
    // stop ends a host-pid container too (its init is no namespace's PID 1).
    w.ok(&["rm", "-f", "hostns"]);
    refused(
        &w,
        &[
            (&["--uts", "host", "-h", "x"][..], "--uts host"),
            (
                &["--ipc", "host", "--sysctl", "kernel.shmmax=1"],
                "--ipc host",
            ),
            (&["--pid", "container:x"], "not supported"),
            (&["--ipc", "sometimes"], "want host"),
        ],
    );
}

#[test]
fn health_flags_give_a_healthcheck_that_the_monitor_runs() {
    if !root_or_skip("health_flags_give_a_healthcheck_that_the_monitor_runs") {
        return;
    }
    let w = world();
    w.ok(&[
        "run",
        "-d",
        "--name",
        "probed",
        "--health-cmd",
        "test -f /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "bb:1",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ready; sleep 100",
    ]);
    assert_eq!(
        w.inspect(
            "probed",
            "{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}}"
        ),
        r#"["CMD-SHELL","test -f /tmp/ready"] 200000000"#
    );
    w.eventually(10, "healthy", || {
        w.inspect("probed", "{{.State.Health.Status}}") == "healthy"
    });
    w.ok(&["rm", "-f", "probed"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "unprobed",
        "--no-healthcheck",
        "bb:1",
        "sleep",
        "100",
    ]);
    assert_eq!(
        w.inspect("unprobed", "{{json .Config.Healthcheck.Test}}"),
        r#"["NONE"]"#
    );
    assert_eq!(w.inspect("unprobed", "{{json .State.Health}}"), "null");
    w.ok(&["rm", "-f", "unprobed"]);
    refused(
        &w,
        &[
            (
                &["--no-healthcheck", "--health-cmd", "true"][..],
                "conflicts",
            ),
            (&["--health-interval", "soon"], "--health-interval"),
            (&["--health-timeout", "0s"], "above 0"),
        ],
    );
}

#[test]
fn label_file_cpu_period_and_quota_and_platform() {
    if !root_or_skip("label_file_cpu_period_and_quota_and_platform") {
        return;
    }
    let w = world();
    let f = w.dir.path().join("labels");
    std::fs::write(&f, "# team labels\nteam=ops\n\nenv=dev\n").unwrap();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let cpu = if v2 {
        "cat /sys/fs/cgroup/cpu.max"
    } else {
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"
    };
    let out = w.ok(&[
        "run",
        "--name",
        "labelled",
        "--label-file",
        f.to_str().unwrap(),
        "-l",
        "env=prod",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--platform",
        "linux/amd64",
        "bb:1",
        "sh",
        "-c",
        cpu,
    ]);
    let want = if v2 {
        "25000 50000\n"
    } else {
        "25000\n50000\n"
    };
    assert_eq!(out, want);
    // A flag wins over the file's line.
    assert_eq!(
        w.inspect(
            "labelled",
            "{{json .Config.Labels}} {{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}}"
        ),
        r#"{"env":"prod","team":"ops"} 50000 25000"#
    );
    let other = if cfg!(target_arch = "x86_64") {
        "linux/arm64"
    } else {
        "linux/amd64"
    };
    refused(
        &w,
        &[
            (&["--platform", other][..], "images only"),
            (
                &["--cpus", "1", "--cpu-quota", "5000"],
                "conflicting options",
            ),
            (&["--cpu-period", "10"], "--cpu-period"),
            (&["--label-file", "/nonexistent/labels"], "--label-file"),
            (&["--cgroupns", "shared"], "--cgroupns"),
        ],
    );
}

#[test]
fn capabilities_privileged_and_no_new_privileges() {
    if !root_or_skip("capabilities_privileged_and_no_new_privileges") {
        return;
    }
    let w = world();
    let caps = |args: &[&str]| -> u64 {
        let mut a = vec!["run"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["bb:1", "grep", "CapEff", "/proc/self/status"]);
        let out = w.ok(&a);
        u64::from_str_radix(out.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let default = caps(&[]);
    assert_eq!(default, 0xa80425fb, "Docker's default set");
    assert_eq!(caps(&["--cap-drop", "CHOWN"]), default & !1);
    assert_eq!(caps(&["--cap-add", "NET_ADMIN"]), default | 1 << 12);
    assert_eq!(caps(&["--cap-drop", "ALL", "--cap-add", "KILL"]), 1 << 5);
    // --privileged: everything the host's bounding set allows.
    assert!(caps(&["--privileged"]) > default);
    let out = w.berth(&["run", "--cap-add", "MADE_UP", "bb:1", "true"]);
    assert!(text(&out.stderr).contains("MADE_UP"));
    let out = w.ok(&[
        "run",
        "--security-opt",
        "no-new-privileges",
        "bb:1",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert!(out.contains('1'), "{out}");
}

#[test]
fn network_none_and_host() {
    if !root_or_skip("network_none_and_host") {
        return;
    }
    let w = world();
    let out = w.ok(&["run", "--network", "none", "bb:1", "cat", "/proc/net/dev"]);
    let ifaces: Vec<&str> = out
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(ifaces, ["lo"], "{out}");
    // The host's interfaces, less those other tests make and remove meanwhile (bridges,
    // veths, test namespaces' ends).
    let names = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = s
            .lines()
            .skip(2)
            .map(|l| l.split(':').next().unwrap().trim().to_string())
            .filter(|n| {
                !["vb", "br-", "veth", "bto", "podman", "cni"]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
            .collect();
        v.sort();
        v
    };
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    let out = w.ok(&["run", "--network", "host", "bb:1", "cat", "/proc/net/dev"]);
    assert_eq!(names(&out), names(&host), "{out}");
    // The default is the default bridge network, as Docker's: lo and eth0.
    let out = w.ok(&["run", "bb:1", "cat", "/proc/net/dev"]);
    assert!(out.contains("eth0:") && out.contains("lo:"), "{out}");
}

#[test]
fn default_seccomp_profile_unconfined_and_custom() {
    if !root_or_skip("default_seccomp_profile_unconfined_and_custom") {
        return;
    }
    let w = world();
    let mode = |extra: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["bb:1", "grep", "Seccomp:", "/proc/self/status"]);
        w.ok(&a).split_whitespace().nth(1).unwrap_or("").to_string()
    };
    // 2: a filter is installed (Docker's model by default); 0: none.
    assert_eq!(mode(&[]), "2");
    assert_eq!(mode(&["--security-opt", "seccomp=unconfined"]), "0");
    assert_eq!(mode(&["--privileged"]), "0");
    // The default profile refuses what a plain container has no use for, even as root:
    // unshare without CAP_SYS_ADMIN.
    let out = w.berth(&["run", "--rm", "bb:1", "busybox", "unshare", "-u", "true"]);
    assert_ne!(out.status.code(), Some(0));
    let profile = w.dir.path().join("deny-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = w.berth(&["run", "--rm", "--security-opt", &opt, "bb:1", "mkdir", "/x"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("not permitted"),
        "{}",
        text(&out.stderr)
    );
    w.ok(&["run", "--rm", "bb:1", "mkdir", "/x"]);
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"]}]}"#,
    )
    .unwrap();
    let out = w.berth(&["run", "--rm", "--security-opt", &opt, "bb:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("deny-mkdir.json") && err.contains("syscalls[0]"),
        "{err}"
    );
}

#[test]
fn init_reaps_and_forwards_signals() {
    if !root_or_skip("init_reaps_and_forwards_signals") {
        return;
    }
    let w = world();
    // With --init the command is not PID 1.
    assert_eq!(
        w.ok(&["run", "--rm", "--init", "bb:1", "sh", "-c", "echo $$"]),
        "2\n"
    );
    assert_eq!(w.ok(&["run", "--rm", "bb:1", "sh", "-c", "echo $$"]), "1\n");
    // Orphans are reaped: no zombie is left after its parent exits.
    let out = w.ok(&[
        "run",
        "--rm",
        "--init",
        "bb:1",
        "sh",
        "-c",
        "sh -c 'sleep 0.1 & exit 0'; sleep 0.5; ps -o stat | grep -c Z || true",
    ]);
    assert_eq!(out.trim(), "0", "zombies left: {out}");
    // The stop signal reaches a command that would ignore it as PID 1.
    let id = w.run_d(&["--init", "bb:1", "sleep", "100"]);
    // 143 is SIGTERM's status: not the SIGKILL that follows -t.
    w.ok(&["stop", "-t", "60", &id]);
    assert_eq!(w.inspect(&id, "{{.State.ExitCode}}"), "143");
    assert_eq!(w.inspect(&id, "{{.HostConfig.Init}}"), "true");
}

#[test]
fn network_container_and_ns_path_join_an_existing_namespace() {
    if !root_or_skip("network_container_and_ns_path_join_an_existing_namespace") {
        return;
    }
    let w = World::with_busybox();
    let a = w.run_d(&["--name", "netowner", "bb:1", "sleep", "600"]);
    let pid = w.inspect(&a, "{{.State.Pid}}");
    let owner_ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "container:netowner",
        "bb:1",
        "busybox",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(
        out.trim(),
        owner_ns.to_string_lossy(),
        "not the owner's netns"
    );
    // A namespace made by someone else, by path.
    let name = format!("berth-t{}", std::process::id());
    assert!(std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap()
        .success());
    let path = format!("/run/netns/{name}");
    let made = std::fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let out = w.berth(&[
        "run",
        "--rm",
        "--network",
        &format!("ns:{path}"),
        "bb:1",
        "busybox",
        "readlink",
        "/proc/self/ns/net",
    ]);
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &name])
        .status();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&made.unwrap().to_string()),
        "{}",
        text(&out.stdout)
    );
    let out = w.berth(&[
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        "bb:1",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("nosuch"),
        "{}",
        text(&out.stderr)
    );
    w.ok(&["rm", "-f", &a]);
}

/// `run` and `exec` start the process with no signal ignored, as Docker's do: berth's own
/// SIGPIPE (ignored while it pumps a container's output), or a SIGHUP that nohup made the
/// caller ignore, must not reach it.
#[test]
fn run_and_exec_start_with_no_signal_ignored() {
    if !root_or_skip("run_and_exec_start_with_no_signal_ignored") {
        return;
    }
    let w = world();
    let out = w.ok(&["run", "--rm", "bb:1", "grep", "SigIgn", "/proc/self/status"]);
    assert!(out.contains("SigIgn:\t0000000000000000"), "{out}");
    let up = w.run_d(&["bb:1", "sleep", "100"]);
    let out = w.ok(&["exec", &up, "grep", "SigIgn", "/proc/self/status"]);
    assert!(out.contains("SigIgn:\t0000000000000000"), "{out}");
    // Under nohup(1), which makes berth ignore SIGHUP.
    let out = std::process::Command::new("nohup")
        .arg(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["run", "--rm", "bb:1", "grep", "SigIgn", "/proc/self/status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("SigIgn:\t0000000000000000"),
        "{}",
        text(&out.stdout)
    );
}
