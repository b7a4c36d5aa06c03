//! Black-box tests of `berth events`: the root's event log seen by another process, in
//! Docker's shape, with --since/--until/--filter/--format.

mod common;

use std::io::{BufRead, BufReader};

use common::*;

/// A follower started first sees the `run -d`, `stop` and `rm` other processes make, in
/// order, as Docker's JSON events; the log is 0600.
#[test]
fn events_follows_what_other_commands_do() {
    if !root_or_skip("events_follows_what_other_commands_do") {
        return;
    }
    let w = World::with_busybox();
    let mut follower = w.spawn(&["events", "--format", "json", "--filter", "type=container"]);
    let stdout = follower.stdout.take().expect("stdout");
    // The follower reads from its start: give it a moment to be running.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let id = w.run_d(&[
        "--name",
        "ev-one",
        "--network",
        "none",
        "bb:1",
        "sleep",
        "100",
    ]);
    w.ok(&["stop", "-t", "1", "ev-one"]);
    w.ok(&["rm", "ev-one"]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut actions = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !actions.contains(&"destroy".to_string()) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no destroy event; saw {actions:?}"));
        let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
        assert_eq!(v["Type"], "container", "{line}");
        assert_eq!(v["Actor"]["ID"], id.as_str(), "{line}");
        assert_eq!(v["Actor"]["Attributes"]["name"], "ev-one", "{line}");
        assert_eq!(v["Actor"]["Attributes"]["image"], "bb:1", "{line}");
        assert!(v["timeNano"].as_i64().unwrap_or(0) > 0, "{line}");
        if v["Action"] == "die" {
            assert_eq!(v["Actor"]["Attributes"]["exitCode"], "137", "{line}");
        }
        actions.push(v["Action"].as_str().unwrap_or("").to_string());
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert_eq!(
        actions,
        ["create", "start", "kill", "die", "stop", "destroy"],
        "container events in order"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.root().join("events.log"))
        .expect("events.log")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// With --until, events prints what was logged and ends; filters and templates select and
/// shape; a bad filter is refused naming it.
#[test]
fn events_since_until_filter_format() {
    if !root_or_skip("events_since_until_filter_format") {
        return;
    }
    let w = World::with_busybox();
    w.ok(&["volume", "create", "ev-vol"]);
    w.ok(&["tag", "bb:1", "bb:two"]);
    w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--label",
        "app=ev",
        "bb:1",
        "true",
    ]);
    w.ok(&["volume", "rm", "ev-vol"]);
    let all = w.ok(&["events", "--since", "10m", "--until", "0s"]);
    assert!(all.contains(" volume create ev-vol"), "{all}");
    assert!(all.contains(" volume destroy ev-vol"), "{all}");
    assert!(all.contains(" image tag sha256:"), "{all}");
    assert!(all.contains(" image import sha256:"), "{all}");
    let t = w.ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--filter",
        "label=app=ev",
        "--filter",
        "event=die",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.exitCode}}",
    ]);
    assert_eq!(t, "container die 0\n");
    // The Go fields scripts use (`.Status`, `.ID`, `.From`, `.TimeNano`), while `{{json .}}`
    // keeps the message's JSON names.
    let t = w.ok(&[
        "events", "--since", "10m", "--until", "0s", "--filter", "event=die", "--format",
        "{{.Status}} {{.From}} {{len .ID}} {{.Scope}} {{if gt .TimeNano .Time}}ns{{end}}|{{json .}}",
    ]);
    let (head, json) = t.trim().split_once('|').expect(&t);
    assert_eq!(head, "die bb:1 64 local ns");
    let v: serde_json::Value = serde_json::from_str(json).expect(json);
    assert_eq!(v["status"], "die");
    assert!(
        v.get("Status").is_none() && v["timeNano"].is_i64(),
        "{json}"
    );
    let vols = w.ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "-f",
        "volume=ev-vol",
        "--format",
        "json",
    ]);
    assert_eq!(vols.lines().count(), 2, "{vols}");
    // Nothing outside --since..--until.
    let later = w.ok(&["events", "--since", "1", "--until", "2"]);
    assert_eq!(later, "");
    let out = w.berth(&["events", "--until", "0s", "--filter", "colour=red"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("colour"),
        "{}",
        text(&out.stderr)
    );
}
