//! Containers the Docker way: detached under a monitor, logs, stop/kill/rm, exit codes,
//! restart policies, OOM kills, concurrency, and nothing left on the host after `rm`.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn detached_run_logs_follow_and_stop() {
    if !root_or_skip("detached_run_logs_follow_and_stop") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&[
            "--name",
            "ticker",
            "bb:1",
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo start; echo oops >&2; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
        ],
    );
    let ps = w.ok(&["ps"]);
    assert!(ps.contains("ticker") && ps.contains("Up "), "{ps}");
    // The monitor is small: at most 2 MiB resident while it pumps the log.
    let monitor = w.inspect("ticker", "{{.State.MonitorPid}}");
    std::thread::sleep(Duration::from_millis(300));
    let status = std::fs::read_to_string(format!("/proc/{monitor}/status")).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(rss_kb <= 2048, "monitor RSS {rss_kb} kB");
    assert!(w.ok(&["ps", "-q"]).contains(&id[..12]));
    // Prefix lookup.
    assert_eq!(w.inspect(&id[..10], "{{.Name}}"), "/ticker");
    w.eventually(10, "ticks in the log", || {
        w.ok(&["logs", "ticker"]).contains("tick 2")
    });
    let out = w.berth(&["logs", "ticker"]);
    assert!(
        text(&out.stdout).starts_with("start\n"),
        "stdout stays stdout"
    );
    assert!(text(&out.stderr).contains("oops"), "stderr stays stderr");
    assert_eq!(w.ok(&["logs", "--tail", "1", "ticker"]).lines().count(), 1);
    let ts = w.ok(&["logs", "-t", "--tail", "1", "ticker"]);
    assert!(ts.starts_with("20") && ts.contains("Z tick"), "{ts}");
    assert_eq!(
        w.ok(&["logs", "--since", "1h", "--tail", "2", "ticker"])
            .lines()
            .count(),
        2
    );
    assert!(!w
        .ok(&["logs", "--since", "2000-01-01T00:00:00Z", "ticker"])
        .is_empty());
    let future = w.ok(&["logs", "--since", "2999-01-01T00:00:00Z", "ticker"]);
    assert!(future.is_empty(), "{future}");
    // The log file is Docker's json-file format.
    let log = std::fs::read_to_string(w.inspect("ticker", "{{.LogPath}}")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["stream"], "stdout");
    assert_eq!(first["log"], "start\n");
    // logs -f follows until the container stops.
    let follow = w.spawn(&["logs", "-f", "ticker"]);
    std::thread::sleep(Duration::from_millis(300));
    // The trap's "bye" (below) shows TERM was handled, not outwaited: -t 60 leaves a slow
    // machine all the time it needs.
    w.ok(&["stop", "-t", "60", "ticker"]);
    let out = follow.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        text(&out.stdout).trim_end().ends_with("bye"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        w.inspect("ticker", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    let ps = w.ok(&["ps"]);
    assert!(!ps.contains("ticker"), "{ps}");
    assert!(w.ok(&["ps", "-a"]).contains("Exited (0)"));
    // Docker's ps --format json: one object per line.
    let j: serde_json::Value = serde_json::from_str(
        w.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(j["Names"], "ticker");
    assert_eq!(j["State"], "exited");
    // Names are unique.
    let dup = w.berth(&["run", "-d", "--name", "ticker", "bb:1", "true"]);
    assert_eq!(dup.status.code(), Some(125));
    assert!(
        text(&dup.stderr).contains("already used"),
        "{}",
        text(&dup.stderr)
    );
    w.ok(&["rm", "ticker"]);
    w.assert_gone(&id);
}

#[test]
fn stop_kills_a_pid1_that_ignores_sigterm_after_the_timeout() {
    if !root_or_skip("stop_kills_a_pid1_that_ignores_sigterm_after_the_timeout") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&[
        "bb:1",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    let t = Instant::now();
    w.ok(&["stop", "-t", "1", &id[..12]]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "stopped before the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(w.inspect(&id, "{{.State.ExitCode}}"), "137");
    // --stop-timeout is the default for stop.
    let id2 = w.run_d(&[
        "--stop-timeout",
        "1",
        "bb:1",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    let t = Instant::now();
    w.ok(&["stop", &id2]);
    // Docker's default of 10 s would take at least that long.
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(w.inspect(&id2, "{{.State.ExitCode}}"), "137");
    w.ok(&["rm", &id, &id2]);
    w.assert_gone(&id);
    w.assert_gone(&id2);
}

#[test]
fn stop_resends_the_signal_a_starting_pid1_could_not_take_yet() {
    if !root_or_skip("stop_resends_the_signal_a_starting_pid1_could_not_take_yet") {
        return;
    }
    let w = World::with_busybox();
    // PID 1 sets its TERM handler a second after it starts, as an app does after its
    // imports: the kernel drops a SIGTERM that comes before. Docker would wait out the
    // whole timeout and kill it (137); the handler is there well before.
    let id = w.run_d(&[
        "bb:1",
        "sh",
        "-c",
        "sleep 1; trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let t = Instant::now();
    w.ok(&["stop", "-t", "20", &id[..12]]);
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "waited out the timeout: {took:?}"
    );
    assert_eq!(
        w.inspect(&id, "{{.State.ExitCode}}"),
        "0",
        "the handler ran: a clean stop, not a kill"
    );
    w.ok(&["rm", &id]);
    w.assert_gone(&id);
}

#[test]
fn exit_codes_wait_and_start_failures() {
    if !root_or_skip("exit_codes_wait_and_start_failures") {
        return;
    }
    let w = World::with_busybox();
    assert_eq!(
        w.berth(&["run", "--rm", "bb:1", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    let out = w.berth(&["run", "--rm", "bb:1", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    let out = w.berth(&["run", "--rm", "bb:1", "/etc"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    let out = w.berth(&["run", "-d", "bb:1", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    // A failed detached run leaves no container behind.
    assert!(w.ok(&["ps", "-aq"]).is_empty());
    // A foreground run without --rm keeps the exited container, as docker does.
    let out = w.berth(&["run", "--name", "fg", "bb:1", "sh", "-c", "echo hi; exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(text(&out.stdout), "hi\n");
    assert_eq!(
        w.inspect("fg", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 4"
    );
    // Its output went to the terminal and, as Docker's does, into its log: each stream
    // to its own, nothing lost.
    let out = w.berth(&[
        "run",
        "--name",
        "fg2",
        "bb:1",
        "sh",
        "-c",
        "seq 1 20000; echo to-stderr >&2",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let all: String = (1..=20000).map(|i| format!("{i}\n")).collect();
    assert_eq!(text(&out.stdout), all);
    assert_eq!(text(&out.stderr), "to-stderr\n");
    let logs = w.berth(&["logs", "fg2"]);
    assert_eq!(text(&logs.stdout), all);
    assert_eq!(text(&logs.stderr), "to-stderr\n");
    assert_eq!(w.ok(&["logs", "fg"]), "hi\n");
    let out = w.berth(&["run", "-t", "--name", "fgt", "bb:1", "echo", "on-a-tty"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(w.ok(&["logs", "fgt"]).contains("on-a-tty"));
    let id = w.run_d(&["bb:1", "sh", "-c", "sleep 0.3; exit 5"]);
    assert_eq!(w.ok(&["wait", &id]).trim(), "5");
    // start runs an exited container again, under a new monitor.
    w.ok(&["start", &id]);
    assert_eq!(w.ok(&["wait", &id]).trim(), "5");
    let unknown = w.berth(&["stop", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no such container: nope"));
    let running = w.run_d(&["bb:1", "sleep", "100"]);
    let rm = w.berth(&["rm", &running]);
    assert_eq!(rm.status.code(), Some(1));
    assert!(text(&rm.stderr).contains("rm -f"), "{}", text(&rm.stderr));
    w.ok(&["rm", "-f", &running]);
    w.assert_gone(&running);
    w.ok(&["container", "prune", "-f"]);
    assert!(w.ok(&["ps", "-aq"]).is_empty());
}

#[test]
fn rm_flag_removes_detached_container_on_exit() {
    if !root_or_skip("rm_flag_removes_detached_container_on_exit") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&["--rm", "bb:1", "sh", "-c", "sleep 0.2"]);
    w.eventually(10, "the --rm container to go", || {
        w.leftovers(&id).is_empty()
    });
    assert!(w.ok(&["ps", "-aq"]).is_empty());
    let out = w.berth(&["run", "--rm", "--restart", "always", "bb:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn restart_on_failure_restarts_twice() {
    if !root_or_skip("restart_on_failure_restarts_twice") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&[
        "--restart",
        "on-failure:2",
        "bb:1",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    w.eventually(20, "the container to give up", || {
        w.inspect(&id, "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    });
    assert_eq!(w.ok(&["logs", &id]).matches("run").count(), 3);
    assert_eq!(w.inspect(&id, "{{.State.ExitCode}}"), "1");
    // A stopped always-container stays stopped.
    let a = w.run_d(&["--restart", "always", "bb:1", "sleep", "100"]);
    w.ok(&["stop", "-t", "0", &a]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.inspect(&a, "{{.State.Status}}"), "exited");
    w.ok(&["rm", &id, &a]);
    w.assert_gone(&id);
    w.assert_gone(&a);
}

#[test]
fn memory_limit_oom_kill_shows_in_inspect() {
    if !root_or_skip("memory_limit_oom_kill_shows_in_inspect") {
        return;
    }
    let w = World::with_busybox();
    // tail buffers /dev/zero looking for a newline that never comes.
    let id = w.run_d(&["-m", "16m", "bb:1", "tail", "/dev/zero"]);
    assert_eq!(w.ok(&["wait", &id]).trim(), "137");
    assert_eq!(w.inspect(&id, "{{.State.OOMKilled}}"), "true");
    assert_eq!(
        w.inspect(&id, "{{.HostConfig.Memory}}"),
        (16 << 20).to_string()
    );
    let ok = w.run_d(&["-m", "16m", "bb:1", "true"]);
    assert_eq!(w.ok(&["wait", &ok]).trim(), "0");
    assert_eq!(w.inspect(&ok, "{{.State.OOMKilled}}"), "false");
}

#[test]
fn ten_concurrent_detached_runs() {
    if !root_or_skip("ten_concurrent_detached_runs") {
        return;
    }
    let w = World::with_busybox();
    let kids: Vec<_> = (0..10)
        .map(|_| w.spawn(&["run", "-d", "bb:1", "sleep", "100"]))
        .collect();
    let mut ids = Vec::new();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        ids.push(text(&out.stdout).trim().to_string());
    }
    let mut uniq = ids.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 10);
    let names = w.ok(&["ps", "--format", "json"]);
    let mut names: Vec<String> = names
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Names"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 10, "{names:?}");
    let mut a = vec!["rm", "-f"];
    a.extend(ids.iter().map(String::as_str));
    w.ok(&a);
    for id in &ids {
        w.assert_gone(id);
    }
}

#[test]
fn ps_tells_the_truth_after_the_monitor_was_killed() {
    if !root_or_skip("ps_tells_the_truth_after_the_monitor_was_killed") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&["bb:1", "sleep", "100"]);
    let monitor: i32 = w.inspect(&id, "{{.State.MonitorPid}}").parse().unwrap();
    let init: i32 = w.inspect(&id, "{{.State.Pid}}").parse().unwrap();
    assert!(monitor > 0 && init > 0);
    // SAFETY: plain kill(2).
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    w.eventually(5, "the monitor to die", || {
        !std::fs::read_to_string(format!("/proc/{monitor}/cmdline"))
            .unwrap_or_default()
            .contains("berth-monitor")
    });
    // Its init still runs: ps says so.
    assert!(w.ok(&["ps"]).contains(&id[..12]));
    // SAFETY: plain kill(2); the init's parent is gone, so reap it as its subreaper would.
    unsafe { libc::kill(init, libc::SIGKILL) };
    w.eventually(5, "ps to show it exited", || {
        !w.ok(&["ps"]).contains(&id[..12])
    });
    assert_eq!(w.inspect(&id, "{{.State.Status}}"), "exited");
    w.ok(&["rm", &id]);
    w.assert_gone(&id);
}

#[test]
fn a_killed_cli_leaves_nothing_the_next_command_does_not_clean() {
    if !root_or_skip("a_killed_cli_leaves_nothing_the_next_command_does_not_clean") {
        return;
    }
    let w = World::with_busybox();
    let mut c = w.spawn(&["run", "bb:1", "sleep", "100"]);
    let dir = w.root().join("containers");
    w.eventually(30, "the container to start", || {
        if let Ok(Some(st)) = c.try_wait() {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err);
            panic!("berth run ended before the test killed it ({st}): {err}");
        }
        w.ok(&["ps", "-q"]).lines().count() == 1
    });
    let id = w.ok(&["ps", "-q", "--no-trunc"]).trim().to_string();
    c.kill().unwrap();
    c.wait().unwrap();
    // The container's init is gone with its watcher? Not necessarily: kill it as the test's
    // cleanup would, then the next command records and releases it.
    let _ = w.berth(&["kill", &id]);
    w.eventually(10, "the container to be recorded as exited", || {
        w.ok(&["ps", "-a", "--filter", "status=exited", "-q"])
            .contains(&id[..12])
    });
    w.ok(&["rm", &id]);
    w.assert_gone(&id);
    assert!(std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .all(|e| !e.path().is_dir()));
}

#[test]
fn interactive_tty_and_ps_filters() {
    if !root_or_skip("interactive_tty_and_ps_filters") {
        return;
    }
    let w = World::with_busybox();
    // -i passes stdin; without -i the container reads EOF.
    let mut c = std::process::Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["run", "--rm", "-i", "bb:1", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), b"piped in\n").unwrap();
    drop(c.stdin.take());
    let out = c.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "piped in\n");
    assert_eq!(w.ok(&["run", "--rm", "bb:1", "cat"]), "");
    // -t gives the process a terminal.
    let out = w.ok(&[
        "run",
        "--rm",
        "-t",
        "bb:1",
        "sh",
        "-c",
        "test -t 1 && echo tty",
    ]);
    assert_eq!(out.trim_end(), "tty");
    let out = w.ok(&[
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        "test -t 1 && echo tty || echo pipe",
    ]);
    assert_eq!(out, "pipe\n");
    // A detached -t container's terminal output lands in its log.
    let id = w.run_d(&["-t", "bb:1", "sh", "-c", "test -t 1 && echo tty-in-log"]);
    w.ok(&["wait", &id]);
    assert!(w.ok(&["logs", &id]).contains("tty-in-log"));
    // Filters.
    let a = w.run_d(&[
        "--name",
        "web-a",
        "--label",
        "tier=front",
        "bb:1",
        "sleep",
        "100",
    ]);
    let b = w.run_d(&[
        "--name",
        "db-b",
        "--label",
        "tier=back",
        "bb:1",
        "sleep",
        "100",
    ]);
    let q = |f: &str| w.ok(&["ps", "-aq", "--filter", f]);
    assert_eq!(q("name=web").trim(), &a[..12]);
    assert_eq!(q("label=tier=back").trim(), &b[..12]);
    assert_eq!(q("label=tier").lines().count(), 2);
    assert_eq!(q("status=exited").trim(), &id[..12]);
    assert_eq!(q("ancestor=bb:1").lines().count(), 3);
    assert_eq!(q(&format!("id={}", &b[..6])).trim(), &b[..12]);
    let bad = w.berth(&["ps", "--filter", "colour=red"]);
    assert_eq!(bad.status.code(), Some(1));
    w.ok(&["rm", "-f", &a, &b, &id]);
}

#[test]
fn a_cli_killed_at_any_point_of_run_leaves_nothing_behind() {
    if !root_or_skip("a_cli_killed_at_any_point_of_run_leaves_nothing_behind") {
        return;
    }
    let w = World::with_busybox();
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80] {
        let mut c = w.spawn(&["run", "-d", "bb:1", "sleep", "100"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: plain kill(2) of our child.
        unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
        let _ = c.wait();
    }
    // The next command heals half-made containers; whatever did get made is listed. A
    // monitor forked before the kill may still be making its container (not listed while
    // `creating`): it finishes it, and then it is listed and removed like the others.
    let left = || -> Vec<_> {
        std::fs::read_dir(w.root().join("containers"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    let t = std::time::Instant::now();
    loop {
        let ids = w.ok(&["ps", "-aq", "--no-trunc"]);
        for id in ids.lines() {
            w.ok(&["rm", "-f", id]);
        }
        if left().is_empty() || t.elapsed() > Duration::from_secs(15) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(left().is_empty(), "{:?}", left());
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(w.root().to_str().unwrap()), "mounts left");
    let rt: Vec<_> = std::fs::read_dir(w.root().join("runtime"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(rt.is_empty(), "runtime state left: {rt:?}");
}

#[test]
fn stop_signal_restart_and_log_rotation() {
    if !root_or_skip("stop_signal_restart_and_log_rotation") {
        return;
    }
    let w = World::with_busybox();
    // --stop-signal: stop sends it instead of SIGTERM.
    let id = w.run_d(&[
        "--stop-signal",
        "USR1",
        "bb:1",
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 9' USR1; while true; do sleep 0.1; done",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    // Exit code 9 is the trap's: USR1 was sent, not the SIGKILL after -t.
    w.ok(&["stop", "-t", "60", &id]);
    assert_eq!(w.inspect(&id, "{{.State.ExitCode}}"), "9");
    assert!(w.ok(&["logs", &id]).contains("got-usr1"));
    // The image's STOPSIGNAL is the default.
    let t = w.busybox_tar();
    w.ok(&[
        "import",
        t.to_str().unwrap(),
        "sig:1",
        "-c",
        "STOPSIGNAL SIGUSR2",
    ]);
    let id2 = w.run_d(&[
        "sig:1",
        "sh",
        "-c",
        "trap 'exit 12' USR2; while true; do sleep 0.1; done",
    ]);
    assert_eq!(w.inspect(&id2, "{{.Config.StopSignal}}"), "SIGUSR2");
    std::thread::sleep(Duration::from_millis(200));
    w.ok(&["stop", &id2]);
    assert_eq!(w.inspect(&id2, "{{.State.ExitCode}}"), "12");
    // restart: a new run of the same container.
    w.ok(&["start", &id2]);
    let before = w.inspect(&id2, "{{.State.StartedAt}}");
    w.ok(&["restart", "-t", "1", &id2]);
    assert_eq!(w.inspect(&id2, "{{.State.Status}}"), "running");
    assert_ne!(w.inspect(&id2, "{{.State.StartedAt}}"), before);
    // Logs rotate by size and `logs` reads across the files.
    let id3 = w.run_d(&[
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "bb:1",
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    w.ok(&["wait", &id3]);
    let log = w.inspect(&id3, "{{.LogPath}}");
    assert!(
        std::path::Path::new(&format!("{log}.1")).exists(),
        "no rotation"
    );
    assert!(
        !std::path::Path::new(&format!("{log}.3")).exists(),
        "max-file exceeded"
    );
    for f in [log.clone(), format!("{log}.1")] {
        assert!(
            std::fs::metadata(&f).unwrap().len() <= 2048,
            "{f} over max-size"
        );
    }
    let out = w.ok(&["logs", &id3]);
    assert!(out.trim_end().ends_with("line-199"), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    // What is kept is the newest, in order.
    let first: usize = lines[0].trim_start_matches("line-").parse().unwrap();
    assert_eq!(lines.len(), 200 - first);
    w.ok(&["rm", "-f", &id, &id2, &id3]);
}

#[test]
fn rm_removes_the_cgroup_even_when_the_runtime_state_is_gone() {
    if !root_or_skip("rm_removes_the_cgroup_even_when_the_runtime_state_is_gone") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&["bb:1", "sleep", "100"]);
    // Something outside berth deletes the runtime's state (as a careless cleanup would).
    std::fs::remove_dir_all(w.root().join("runtime").join(&id)).unwrap();
    w.ok(&["rm", "-f", &id]);
    w.assert_gone(&id);
}

/// `ps` keeps a summary of each record (containers/.summaries) with the containers'
/// generation (containers/.gen), and reads a record again only when it changed: a change
/// by any berth, one killed half-way after mounting a rootfs (the next `ps` heals it), a
/// record saved under an older generation, and a cache it cannot read are all seen.
#[test]
fn ps_summaries_follow_every_change_to_the_records() {
    if !root_or_skip("ps_summaries_follow_every_change_to_the_records") {
        return;
    }
    let w = World::with_busybox();
    let id = w
        .ok(&["create", "--name", "sum-a", "bb:1", "true"])
        .trim()
        .to_string();
    let ps = || w.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Labels}}"]);
    assert_eq!(ps().trim(), "sum-a Created");
    let cache = w.root().join("containers/.summaries");
    assert!(cache.exists(), "no summaries written");
    let gen = w.root().join("containers/.gen");
    let g0 = std::fs::read(&gen).expect("no generation written");
    // A change through berth.
    w.ok(&["rename", "sum-a", "sum-b"]);
    assert_ne!(
        std::fs::read(&gen).unwrap(),
        g0,
        "a save left the generation"
    );
    assert_eq!(ps().trim(), "sum-b Created");
    // A record replaced at another generation than the cache's (a berth killed after its
    // save leaves one): a new file, the same size.
    let rec = w.root().join("containers").join(&id).join("container.json");
    let data = std::fs::read_to_string(&rec).unwrap();
    let changed = data.replace("\"Labels\": {}", "\"Labels\": {\"k\":\"v\"}");
    assert_ne!(changed, data, "the record has no empty Labels: {data}");
    let tmp = rec.with_file_name("edited.tmp");
    std::fs::write(&tmp, &changed).unwrap();
    std::fs::write(&gen, b"another generation").unwrap();
    std::fs::rename(&tmp, &rec).unwrap();
    assert_eq!(ps().trim(), "sum-b Created k=v");
    // A cache that is not one.
    std::fs::write(&cache, b"{\"version\":2,\"entries\":[[1,2").unwrap();
    assert_eq!(ps().trim(), "sum-b Created k=v");
    // A start killed after it mounted the rootfs: the record still says Created, and the
    // next ps heals the mount away.
    let rootfs = w.root().join("containers").join(&id).join("rootfs");
    let mounted = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(rootfs.to_str().unwrap())
    };
    let o = std::process::Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["start", &id])
        .env("BERTH_FAULT", "kill@runtime-create")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success(), "start was not killed");
    assert!(mounted(), "the killed start left no mount to heal");
    assert_eq!(ps().trim(), "sum-b Created k=v");
    let left = mounted();
    if left {
        let _ = std::process::Command::new("umount").arg(&rootfs).status();
    }
    assert!(!left, "ps left the rootfs mounted");
    w.ok(&["rm", &id]);
    w.assert_gone(&id);
}
