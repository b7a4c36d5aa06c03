//! Black-box tests of what a Docker user takes for granted (issue 10): the environment a
//! container starts with, `-v` with a missing or a relative host path, `run` pulling an
//! image the store lacks (`--pull missing|always|never`) and a failed pull's message.

mod common;

use common::registry::Registry;
use common::*;

/// HOME from the user's passwd entry ("/" without one), HOSTNAME, TERM=xterm with -t only.
#[test]
fn the_environment_is_dockers() {
    if !root_or_skip("the_environment_is_dockers") {
        return;
    }
    let w = World::with_busybox();
    let env = |args: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["bb:1", "sh", "-c", "echo $HOME $HOSTNAME ${TERM:-none}"]);
        w.ok(&a)
    };
    let out = env(&[]);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[0], "/root", "{out}");
    assert_eq!(f[1].len(), 12, "HOSTNAME is the short id: {out}");
    assert_eq!(f[2], "none", "{out}");
    assert!(
        env(&["-u", "1234"]).starts_with("/ "),
        "no passwd entry: HOME=/"
    );
    assert!(env(&["-h", "box1"]).contains(" box1 "));
    assert!(env(&["-t"]).trim_end().ends_with(" xterm"));
    assert!(env(&["-e", "HOME=/x"]).starts_with("/x "));
}

/// `-v /missing:/c` makes the host directory (0755); `--mount type=bind` refuses it;
/// `-v ./rel:/c` and `-v ../rel:/c` are relative to the current directory.
#[test]
fn volume_flag_makes_missing_and_takes_relative_host_paths() {
    if !root_or_skip("volume_flag_makes_missing_and_takes_relative_host_paths") {
        return;
    }
    let w = World::with_busybox();
    let missing = w.dir.path().join("not/yet");
    let v = format!("{}:/c", missing.display());
    w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &v,
        "bb:1",
        "sh",
        "-c",
        "echo in > /c/f",
    ]);
    assert_eq!(std::fs::read_to_string(missing.join("f")).unwrap(), "in\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&missing).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);
    let other = w.dir.path().join("other");
    let m = format!("type=bind,src={},dst=/c", other.display());
    let out = w.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--mount",
        &m,
        "bb:1",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert!(!other.exists());
    // relative to the current directory
    let rel = w.dir.path().join("proj/data");
    std::fs::create_dir_all(&rel).unwrap();
    std::fs::write(rel.join("f"), "rel\n").unwrap();
    let run_in = |dir: &std::path::Path, v: &str| {
        let out = std::process::Command::new(BIN)
            .current_dir(dir)
            .arg("--root")
            .arg(w.root())
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                v,
                "bb:1",
                "cat",
                "/r/f",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "-v {v}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(run_in(&w.dir.path().join("proj"), "./data:/r"), "rel\n");
    assert_eq!(run_in(&rel, "../data:/r:ro"), "rel\n");
    assert_eq!(run_in(&rel, ".:/r"), "rel\n");
    // a bare name is still a volume
    w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/r",
        "bb:1",
        "true",
    ]);
    assert!(w.ok(&["volume", "ls", "-q"]).contains("data"));
}

/// `run` of an image the store lacks pulls it first, as Docker ("Unable to find image 'X'
/// locally"); `--pull never` does not; a failed pull names its cause once.
#[test]
fn run_pulls_what_is_missing() {
    if !root_or_skip("run_pulls_what_is_missing") {
        return;
    }
    let w = World::new();
    let reg = Registry::start(w.dir.path());
    let layout = w.dir.path().join("layout");
    oci_layout(
        &layout,
        "t",
        &[busybox_layer()],
        &[host_arch()],
        &["echo", "pulled and ran"],
    );
    reg.push_layout(&layout, "t", "auto/run:1");
    let r = format!("{}/auto/run:1", reg.addr);
    let out = w.berth(&["run", "--pull", "never", "--rm", "--network", "none", &r]);
    assert_eq!(out.status.code(), Some(125));
    let e = text(&out.stderr);
    assert!(
        e.contains("no such image") && !e.contains("Unable to find"),
        "{e}"
    );
    let out = w.berth(&["run", "--rm", "--network", "none", &r]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "pulled and ran\n");
    assert!(
        text(&out.stderr).starts_with(&format!("Unable to find image '{r}' locally\n")),
        "{}",
        text(&out.stderr)
    );
    // present now: no pull; --pull always pulls again
    let out = w.berth(&["run", "--rm", "--network", "none", &r]);
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    let out = w.berth(&["create", "--pull", "always", "--network", "none", &r]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Digest: sha256:"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).trim().len(),
        64,
        "create prints only the id"
    );
    // nothing listens here: the cause, and the reference once
    drop(reg);
    let out = w.berth(&["run", "--pull", "always", "--rm", &r]);
    assert_eq!(out.status.code(), Some(125));
    let e = text(&out.stderr);
    let last = e.lines().last().unwrap();
    assert!(last.contains("Connection refused"), "{e}");
    assert_eq!(last.matches(&r).count(), 1, "{e}");
}
