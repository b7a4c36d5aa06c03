//! Black-box tests of the command line as a Docker user meets it: exit statuses and messages,
//! `version`/`info`, the command groups, `create`, the prune confirmations, `system df`.

mod common;

use common::*;

/// Docker's statuses for what the parser refuses: 125 for a usage error, with clap's message
/// naming the flag; 1 for an unknown command; 0 for help and for a bare `berth`.
#[test]
fn usage_errors_exit_125_and_unknown_commands_1() {
    let w = World::new();
    let out = w.berth(&["ps", "--nosuch"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("--nosuch"),
        "{}",
        text(&out.stderr)
    );
    let out = w.berth(&["ps", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("xml"), "{}", text(&out.stderr));
    let out = w.berth(&["run", "--memory"]);
    assert_eq!(out.status.code(), Some(125));
    let out = w.berth(&["nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nosuch"),
        "{}",
        text(&out.stderr)
    );
    let bare = std::process::Command::new(BIN).output().expect("berth");
    assert_eq!(bare.status.code(), Some(0));
    assert!(
        text(&bare.stdout).contains("Usage"),
        "{}",
        text(&bare.stdout)
    );
    assert_eq!(w.berth(&["image"]).status.code(), Some(0));
    assert_eq!(w.berth(&["ps", "--help"]).status.code(), Some(0));
    assert_eq!(w.berth(&["--version"]).status.code(), Some(0));
}

/// Verbs other than run/create/start fail with 1, as Docker's do, naming the object.
#[test]
fn verb_errors_exit_1_but_run_keeps_125() {
    let w = World::new();
    for verb in ["stop", "logs", "rm", "kill", "inspect", "wait", "pause"] {
        let out = w.berth(&[verb, "nosuch"]);
        assert_eq!(out.status.code(), Some(1), "{verb}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("no such container: nosuch"),
            "{verb}: {}",
            text(&out.stderr)
        );
    }
    let out = w.berth(&["start", "nosuch"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    let out = w.berth(&["run", "--rm", "nosuch:1"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
}

#[test]
fn rm_of_a_running_container_exits_1() {
    if !root_or_skip("rm_of_a_running_container_exits_1") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&["bb:1", "sleep", "100"]);
    let out = w.berth(&["rm", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("rm -f"), "{}", text(&out.stderr));
    w.ok(&["rm", "-f", &id]);
}

/// `--pids-limit -1` is a value, not a flag (Docker's -1: unlimited); so are a negative
/// `--stop-timeout` and `logs --tail -1`.
#[test]
fn negative_values_take_a_leading_minus() {
    if !root_or_skip("negative_values_take_a_leading_minus") {
        return;
    }
    let w = World::with_busybox();
    let out = w.ok(&[
        "run",
        "--name",
        "neg",
        "--pids-limit",
        "-1",
        "--stop-timeout",
        "-1",
        "bb:1",
        "echo",
        "hi",
    ]);
    assert_eq!(out, "hi\n");
    assert_eq!(w.inspect("neg", "{{.HostConfig.PidsLimit}}"), "-1");
    assert_eq!(w.ok(&["logs", "--tail", "-1", "neg"]), "hi\n");
}
