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
    let out = w.berth(&["ps", "--last", "xml"]);
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
    for verb in ["stop", "logs", "rm", "kill", "wait", "pause"] {
        let out = w.berth(&[verb, "nosuch"]);
        assert_eq!(out.status.code(), Some(1), "{verb}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("no such container: nosuch"),
            "{verb}: {}",
            text(&out.stderr)
        );
    }
    let out = w.berth(&["inspect", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no such object: nosuch"),
        "{}",
        text(&out.stderr)
    );
    let out = w.berth(&["start", "nosuch"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    // --pull never: a test sends nothing past loopback (the pull path: docker_defaults.rs)
    let out = w.berth(&["run", "--pull", "never", "--rm", "nosuch:1"]);
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

/// `version`: Docker's shape (`Client`, `Server` with its components), the kernel, cgroup
/// version and driver, storage driver; as text, as JSON and through a template.
#[test]
fn version_as_text_json_and_template() {
    let w = World::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let cgroup = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    let t = w.ok(&["version"]);
    for want in [
        "Client:\n Version:           ",
        "Server: berth",
        " Engine:\n  Version:          ",
        &format!("  Kernel Version:   {}", kernel.trim()),
        &format!("  Cgroup Version:   {cgroup}"),
        "  Cgroup Driver:    cgroupfs",
        "  Storage Driver:   overlay",
        " berth-runtime:",
    ] {
        assert!(t.contains(want), "{want:?} not in:\n{t}");
    }
    let j: serde_json::Value = serde_json::from_str(&w.ok(&["version", "--format", "json"]))
        .expect("version --format json");
    assert_eq!(j["Client"]["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["Server"]["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["Server"]["KernelVersion"], kernel.trim());
    assert_eq!(j["Server"]["Os"], "linux");
    let engine = &j["Server"]["Components"][0];
    assert_eq!(engine["Name"], "Engine");
    assert_eq!(engine["Details"]["CgroupVersion"], cgroup);
    assert_eq!(engine["Details"]["StorageDriver"], "overlay");
    assert_eq!(
        w.ok(&["version", "-f", "{{.Server.Version}}/{{.Client.Os}}"]),
        format!("{}/linux\n", env!("CARGO_PKG_VERSION"))
    );
    // `version` needs no root: it reads none and makes none.
    assert!(!w.root().exists());
}

/// `info` and `system info`: containers by state, images, drivers, the host; `--format json`
/// with Docker's field names.
#[test]
fn info_counts_containers_and_images() {
    if !root_or_skip("info_counts_containers_and_images") {
        return;
    }
    let w = World::with_busybox();
    let up = w.run_d(&["bb:1", "sleep", "100"]);
    w.ok(&["run", "bb:1", "true"]);
    let j: serde_json::Value =
        serde_json::from_str(&w.ok(&["info", "--format", "json"])).expect("info json");
    assert_eq!(j["Containers"], 2);
    assert_eq!(j["ContainersRunning"], 1);
    assert_eq!(j["ContainersPaused"], 0);
    assert_eq!(j["ContainersStopped"], 1);
    assert_eq!(j["Images"], 1);
    assert_eq!(j["Driver"], "overlay");
    assert_eq!(j["LoggingDriver"], "json-file");
    assert_eq!(j["OSType"], "linux");
    assert_eq!(j["DockerRootDir"], w.root().display().to_string());
    assert!(j["NCPU"].as_u64().unwrap() >= 1);
    assert!(j["MemTotal"].as_u64().unwrap() > 0);
    assert_eq!(
        j["KernelVersion"],
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap()
            .trim()
    );
    let t = w.ok(&["system", "info"]);
    for want in [
        "Server:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n",
        " Storage Driver: overlay\n",
        " Cgroup Driver: cgroupfs\n",
        " Kernel Version: ",
        " CPUs: ",
    ] {
        assert!(t.contains(want), "{want:?} not in:\n{t}");
    }
    assert_eq!(w.ok(&["info", "-f", "{{.ContainersRunning}}"]), "1\n");
    w.ok(&["rm", "-f", &up]);
}

/// `container …` and `image …` reach the same verbs as the top-level names, as Docker's groups.
#[test]
fn command_groups_reach_the_same_verbs() {
    if !root_or_skip("command_groups_reach_the_same_verbs") {
        return;
    }
    let w = World::with_busybox();
    assert_eq!(
        w.ok(&["container", "run", "--name", "grp", "bb:1", "echo", "hi"]),
        "hi\n"
    );
    assert!(w.ok(&["container", "ls", "-a"]).contains(" grp\n"));
    assert!(w.ok(&["container", "ps", "-a"]).contains(" grp\n"));
    assert_eq!(w.ok(&["container", "logs", "grp"]), "hi\n");
    assert_eq!(
        w.ok(&["container", "inspect", "-f", "{{.State.Status}}", "grp"]),
        "exited\n"
    );
    w.ok(&["container", "start", "grp"]);
    w.ok(&["container", "wait", "grp"]);
    w.ok(&["container", "rm", "grp"]);
    assert!(w.ok(&["ps", "-aq"]).is_empty());

    w.ok(&["image", "tag", "bb:1", "bb:2"]);
    let ls = w.ok(&["image", "ls"]);
    assert!(ls.contains("bb ") && ls.lines().count() == 3, "{ls}");
    assert_eq!(w.ok(&["image", "list", "-q"]).lines().count(), 1);
    assert!(w.ok(&["image", "history", "bb:1"]).starts_with("IMAGE   "));
    let arch = w.dir.path().join("bb2.tar");
    w.ok(&["image", "save", "-o", arch.to_str().unwrap(), "bb:2"]);
    let rm = w.ok(&["image", "rm", "bb:2"]);
    assert!(rm.starts_with("Untagged: ") && rm.contains("bb:2"), "{rm}");
    assert!(w
        .ok(&["image", "load", "-i", arch.to_str().unwrap()])
        .contains("bb:2"));
    let t = w.busybox_tar();
    let id = w.ok(&["image", "import", t.to_str().unwrap(), "bb:3"]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(w.berth(&["image", "pull", "--help"]).status.code(), Some(0));
    assert!(w.ok(&["image", "inspect", "bb:3"]).contains("\"Id\""));
}

/// `inspect --type` picks the kind of object; without it a container, an image, then a
/// volume are looked for, as Docker's inspect does.
#[test]
fn inspect_type_container_image_volume() {
    if !root_or_skip("inspect_type_container_image_volume") {
        return;
    }
    let w = World::with_busybox();
    w.ok(&["run", "--name", "ctr", "bb:1", "true"]);
    w.ok(&["volume", "create", "vol"]);
    let img = w.ok(&["inspect", "--type", "image", "-f", "{{.Id}}", "bb:1"]);
    assert!(img.starts_with("sha256:"), "{img}");
    assert_eq!(
        w.ok(&["inspect", "--type", "container", "-f", "{{.Name}}", "ctr"]),
        "/ctr\n"
    );
    assert_eq!(
        w.ok(&["inspect", "--type", "volume", "-f", "{{.Name}}", "vol"]),
        "vol\n"
    );
    assert_eq!(w.ok(&["inspect", "-f", "{{.Name}}", "vol"]), "vol\n");
    assert_eq!(w.ok(&["inspect", "-f", "{{.Id}}", "bb:1"]), img);
    let out = w.berth(&["inspect", "--type", "container", "bb:1"]);
    assert_eq!(out.status.code(), Some(1));
    // No network is called ctr; a type berth does not know is a usage error.
    let out = w.berth(&["inspect", "--type", "network", "ctr"]);
    assert_eq!(out.status.code(), Some(1));
    let out = w.berth(&["inspect", "--type", "plugin", "ctr"]);
    assert_eq!(out.status.code(), Some(125));
    let out = w.berth(&["container", "inspect", "vol"]);
    assert_eq!(out.status.code(), Some(1));
}

/// berth with `input` on its stdin.
fn with_stdin(w: &World, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut c = std::process::Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn berth");
    let mut stdin = c.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    c.wait_with_output().expect("berth")
}

/// `create` makes a container and leaves it `created`; `start` runs it under a monitor.
#[test]
fn create_then_start() {
    if !root_or_skip("create_then_start") {
        return;
    }
    let w = World::with_busybox();
    let id = w.ok(&[
        "create",
        "--name",
        "made",
        "-e",
        "X=1",
        "bb:1",
        "sh",
        "-c",
        "echo x=$X",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(w.inspect("made", "{{.State.Status}}"), "created");
    assert!(w.ok(&["ps", "-a"]).contains("Created"));
    assert!(w.ok(&["ps", "-q"]).is_empty());
    assert_eq!(w.ok(&["start", "made"]), "made\n");
    assert_eq!(w.ok(&["wait", "made"]), "0\n");
    assert_eq!(w.ok(&["logs", "made"]), "x=1\n");
    assert_eq!(w.inspect("made", "{{.State.Status}}"), "exited");
    // `container create` too; run's own flags are not create's.
    let id2 = w.ok(&["container", "create", "bb:1", "sleep", "100"]);
    w.ok(&["start", id2.trim()]);
    assert_eq!(w.inspect(id2.trim(), "{{.State.Status}}"), "running");
    assert_eq!(w.berth(&["create", "-d", "bb:1"]).status.code(), Some(125));
    let out = w.berth(&["create", "--pull", "never", "nosuch:1"]);
    assert_eq!(out.status.code(), Some(125));
    w.ok(&["rm", "-f", id, id2.trim()]);
}

/// The prunes ask Docker's question on stdin without -f; anything but y/yes keeps all.
#[test]
fn prunes_ask_before_removing() {
    if !root_or_skip("prunes_ask_before_removing") {
        return;
    }
    let w = World::with_busybox();
    w.ok(&["run", "bb:1", "true"]);
    w.ok(&["volume", "create", "named"]);
    // No answer (stdin closed) and "n": nothing goes.
    for answer in ["", "n\n", "nope\n"] {
        let out = with_stdin(&w, &["container", "prune"], answer);
        assert!(out.status.success());
        assert!(
            text(&out.stdout).starts_with(
                "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
            ),
            "{}",
            text(&out.stdout)
        );
        assert_eq!(w.ok(&["ps", "-aq"]).lines().count(), 1);
    }
    let out = with_stdin(&w, &["container", "prune"], "y\n");
    assert!(
        text(&out.stdout).contains("Deleted 1 containers"),
        "{}",
        text(&out.stdout)
    );
    assert!(w.ok(&["ps", "-aq"]).is_empty());

    let out = with_stdin(&w, &["volume", "prune", "-a"], "n\n");
    assert!(text(&out.stdout).contains("all local volumes not used"));
    assert!(w.ok(&["volume", "ls", "-q"]).contains("named"));
    with_stdin(&w, &["volume", "prune", "-a"], "yes\n");
    assert!(w.ok(&["volume", "ls", "-q"]).is_empty());

    let out = with_stdin(&w, &["image", "prune", "-a"], "N\n");
    assert!(text(&out.stdout).contains("all images without at least one container"));
    assert_eq!(w.ok(&["images", "-q"]).lines().count(), 1);

    // system prune: one question; -a takes the unused image, --volumes the anonymous volume.
    w.ok(&["run", "-v", "/anon", "bb:1", "true"]);
    let out = with_stdin(&w, &["system", "prune", "-a", "--volumes"], "\n");
    let q = text(&out.stdout);
    assert!(
        q.starts_with("WARNING! This will remove:\n  - all stopped containers\n  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\nAre you sure you want to continue? [y/N] "),
        "{q}"
    );
    assert_eq!(w.ok(&["ps", "-aq"]).lines().count(), 1);
    w.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    assert!(w.ok(&["ps", "-aq"]).is_empty());
    assert!(w.ok(&["volume", "ls", "-q"]).is_empty());
    assert!(w.ok(&["images", "-q"]).is_empty());
    // Without -a an image stays.
    w.import_busybox("bb:2");
    w.ok(&["system", "prune", "-f"]);
    assert_eq!(w.ok(&["images", "-q"]).lines().count(), 1);
}

/// `system df`: Docker's rows (TYPE TOTAL ACTIVE SIZE RECLAIMABLE), `-v` per object,
/// `--format json` a line per type.
#[test]
fn system_df_rows_verbose_and_json() {
    if !root_or_skip("system_df_rows_verbose_and_json") {
        return;
    }
    let w = World::with_busybox();
    let up = w.run_d(&["-v", "dvol:/data", "bb:1", "sleep", "100"]);
    w.ok(&["exec", &up, "sh", "-c", "echo 123456789 > /data/f"]);
    w.ok(&[
        "run",
        "--name",
        "wrote",
        "bb:1",
        "sh",
        "-c",
        "echo hello > /tmp/f",
    ]);
    let t = w.ok(&["system", "df"]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 5, "{t}");
    assert!(
        lines[0].starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"),
        "{t}"
    );
    assert!(lines[1].starts_with("Images          1         1"), "{t}");
    assert!(lines[2].starts_with("Containers      2         1"), "{t}");
    assert!(
        lines[3].starts_with("Local Volumes   1         1         10B"),
        "{t}"
    );
    assert!(
        lines[4].starts_with("Build Cache     0         0         0B"),
        "{t}"
    );
    let rows: Vec<serde_json::Value> = w
        .ok(&["system", "df", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1]["Type"], "Containers");
    assert_eq!(rows[1]["TotalCount"], "2");
    assert_eq!(rows[1]["Active"], "1");
    // The stopped container's writable layer (6 bytes of /tmp/f) is reclaimable.
    assert!(
        rows[1]["Reclaimable"].as_str().unwrap().starts_with("6B"),
        "{:?}",
        rows[1]
    );
    assert_eq!(
        w.ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]),
        "Images=1\nContainers=2\nLocal Volumes=1\nBuild Cache=0\n"
    );
    let v = w.ok(&["system", "df", "-v"]);
    for want in [
        "Images space usage:",
        "Containers space usage:",
        "Local Volumes space usage:",
        "dvol",
        "wrote",
        "Build cache usage: 0B",
    ] {
        assert!(v.contains(want), "{want:?} not in:\n{v}");
    }
    w.ok(&["rm", "-f", &up]);
}

/// Docker's defaults inside: HOSTNAME, HOME from the user's passwd entry ("/" without one),
/// TERM=xterm with -t only; each overridable with -e.
#[test]
fn default_environment_as_docker() {
    if !root_or_skip("default_environment_as_docker") {
        return;
    }
    let w = World::with_busybox();
    let env = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend(["bb:1", "sh", "-c", "echo $HOSTNAME/$HOME/${TERM:-none}"]);
        w.ok(&a).trim().to_string()
    };
    assert_eq!(env(&["-h", "box"]), "box//root/none");
    assert_eq!(env(&["-h", "box", "-u", "1234"]), "box///none");
    assert_eq!(
        env(&["-h", "box", "-e", "HOME=/h", "-e", "HOSTNAME=other"]),
        "other//h/none"
    );
    let id = w.ok(&["create", "-t", "bb:1", "sh", "-c", "echo $TERM"]);
    let id = id.trim();
    w.ok(&["start", id]);
    w.ok(&["wait", id]);
    assert!(w.ok(&["logs", id]).contains("xterm"));
    assert!(w
        .inspect(id, "{{json .Config.Env}}")
        .contains(&format!("\"HOSTNAME={}\"", &id[..12])));
    w.ok(&["rm", id]);
}

#[test]
fn a_closed_stdout_ends_a_listing_quietly() {
    if !root_or_skip("a_closed_stdout_ends_a_listing_quietly") {
        return;
    }
    let w = World::with_busybox();
    // Far more than a pipe holds, to a reader that goes away after one byte.
    let names = vec!["bb:1"; 300].join(" ");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{BIN}' --root '{}' image inspect {names} | head -c 1 >/dev/null",
            w.root().display()
        ))
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}
