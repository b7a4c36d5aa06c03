//! Black-box tests of what a local user, a careless command line or a killed berth must not
//! be able to do (issue 8): state readable by others, names that become paths, ids that
//! wrap to root, writable mounts under a read-only bind, slow or failing removals.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Runs `args` as the unprivileged user nobody (65534, no groups). Through a shell: setpriv
/// resolves its own execve's path while it still holds root's capabilities, so its direct
/// target would be found where nobody could not look.
fn as_nobody(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["/bin/sh", "-c", "exec \"$@\"", "sh"])
        .args(args)
        .output()
        .expect("setpriv")
}

/// Every path under `dir`, not descending into mounts (a container's rootfs) or into the
/// content of layers, volumes and upper dirs, which keep the image's own modes.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let dev = std::fs::metadata(dir).map(|m| m.dev()).unwrap_or(0);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.clone());
        let name = e.file_name().to_string_lossy().into_owned();
        let content = matches!(name.as_str(), "_data" | "upper" | "work" | "rootfs")
            || dir.file_name().is_some_and(|n| n == "layers");
        let m = std::fs::symlink_metadata(&p).expect("stat");
        if m.is_dir() && m.dev() == dev && !content {
            walk(&p, out);
        }
    }
}

#[test]
fn nothing_under_the_root_is_open_to_other_users_whatever_the_umask() {
    if !root_or_skip("nothing_under_the_root_is_open_to_other_users_whatever_the_umask") {
        return;
    }
    let w = World::new();
    // The world's temp dir is 0700; open it so only berth's own modes protect the root.
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tar = w.busybox_tar();
    let root = w.root();
    let sh = |cmd: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("umask 000; {cmd}"))
            .env("BERTH", BIN)
            .env("ROOT", &root)
            .output()
            .expect("sh");
        assert!(out.status.success(), "{cmd}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    sh(&format!(
        "$BERTH --root $ROOT import {} bb:1",
        tar.display()
    ));
    let id = sh("$BERTH --root $ROOT run -d -e SECRET=hunter2 -v data:/data bb:1 sh -c 'echo secret-in-log; sleep 600'")
        .trim()
        .to_string();
    sh("$BERTH --root $ROOT run --name stopped bb:1 true");
    w.eventually(20, "log written", || {
        w.ok(&["logs", &id]).contains("secret-in-log")
    });

    // Modes as root sees them: directories 0700, files 0600; only the directories whose
    // mode a container sees (volume data, overlay upper, layer roots) are 0755, and all of
    // those sit inside 0700 directories.
    let mut all = Vec::new();
    walk(&root, &mut all);
    assert!(all.len() > 10, "walked too little: {all:?}");
    let mut bad = Vec::new();
    for p in &all {
        let m = std::fs::symlink_metadata(p).unwrap();
        let mode = m.mode() & 0o7777;
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let seen_inside = matches!(name.as_str(), "_data" | "upper" | "rootfs")
            || p.parent().is_some_and(|d| d.ends_with("layers"));
        let ok = if m.file_type().is_symlink() || m.file_type().is_socket() {
            true
        } else if m.is_dir() {
            mode == 0o700 || (seen_inside && mode & 0o022 == 0)
        } else if p.parent().is_some_and(|d| d.ends_with("netns")) {
            // A namespace bound there: nsfs gives it 0444, inside the 0700 netns/.
            mode & 0o222 == 0
        } else if matches!(name.as_str(), "hosts" | "hostname" | "resolv.conf") {
            // Bind-mounted as the container's /etc files: its users read them.
            mode == 0o644
        } else {
            mode == 0o600
        };
        if !ok {
            bad.push(format!("{:o} {}", mode, p.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "modes left to the umask:\n{}",
        bad.join("\n")
    );
    assert_eq!(std::fs::metadata(&root).unwrap().mode() & 0o777, 0o700);

    // And as nobody: nothing can be listed, read or executed.
    let dir = root.join("containers").join(&id);
    for target in [
        root.clone(),
        root.join("containers"),
        dir.clone(),
        root.join("volumes").join("data").join("_data"),
        root.join("image"),
    ] {
        let out = as_nobody(&["ls", target.to_str().unwrap()]);
        assert!(!out.status.success(), "nobody listed {}", target.display());
    }
    for f in ["config.json", "container.json", "container.log"] {
        let out = as_nobody(&["cat", dir.join(f).to_str().unwrap()]);
        assert!(!out.status.success(), "nobody read {f}");
        assert!(
            !text(&out.stdout).contains("hunter2") && !text(&out.stdout).contains("secret-in-log")
        );
    }
    let busybox = dir.join("rootfs/bin/busybox");
    assert!(busybox.exists(), "the running container's root is mounted");
    let out = as_nobody(&[busybox.to_str().unwrap(), "true"]);
    assert!(
        !out.status.success(),
        "nobody executed a binary of a container's root"
    );
    w.ok(&["rm", "-f", &id]);
}

#[test]
fn an_older_roots_modes_are_tightened_on_first_use() {
    if !root_or_skip("an_older_roots_modes_are_tightened_on_first_use") {
        return;
    }
    let w = World::new();
    let root = w.root();
    for d in ["", "containers", "volumes"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
        std::fs::set_permissions(root.join(d), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    w.ok(&["ps", "-a"]);
    for d in ["", "containers", "volumes"] {
        let mode = std::fs::metadata(root.join(d)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "{d:?} is {mode:o}");
    }
}

#[test]
fn names_never_become_paths() {
    if !root_or_skip("names_never_become_paths") {
        return;
    }
    let w = World::with_busybox();
    // Things outside the root that a path-shaped name could reach.
    let outside = w.dir.path().join("outside");
    std::fs::create_dir_all(outside.join("_data")).unwrap();
    std::fs::write(
        outside.join("volume.json"),
        r#"{"Name":"outside","Driver":"local","Mountpoint":"/x","CreatedAt":"","Labels":{},"Scope":"local","Options":{}}"#,
    )
    .unwrap();
    std::fs::write(outside.join("_data/keep"), "keep").unwrap();
    w.ok(&["volume", "create", "realvol"]);
    let id = w.run_d(&["-v", "realvol:/v", "bb:1", "sleep", "600"]);
    let before = listing(&w.root());
    let long = "a".repeat(4096);
    let names = [
        "../outside",
        "../../outside",
        outside.to_str().unwrap(),
        "./realvol",
        "realvol/",
        "a/b",
        ".",
        "..",
        "",
        "nul\0byte",
        long.as_str(),
    ];
    for n in names {
        let vflag = format!("{n}:/x");
        for args in [
            vec!["volume", "rm", n],
            vec!["volume", "rm", "-f", n],
            vec!["volume", "inspect", n],
            vec!["volume", "create", n],
            vec!["rm", "-f", n],
            vec!["stop", n],
            vec!["inspect", n],
            vec!["logs", n],
            vec!["rmi", n],
            vec!["tag", "bb:1", n],
            vec!["run", "--rm", "--name", n, "bb:1", "true"],
            vec!["run", "--rm", "-v", &vflag, "bb:1", "true"],
        ] {
            if n.contains('\0') {
                // argv cannot carry a NUL: the OS refuses before berth sees it.
                assert!(Command::new(BIN).args(&args).output().is_err());
                continue;
            }
            let out = w.berth(&args);
            let err = text(&out.stderr);
            // Some forms are valid elsewhere (`-v /abs:/x` is a bind mount, `-v .:/x` a
            // relative path Docker refuses): what matters is no crash and no harm.
            if !out.status.success() {
                assert!(err.starts_with("berth: "), "{args:?}: {err}");
                assert!(
                    err.lines().count() <= 3 && err.len() < 600,
                    "{args:?}: unclear error: {err}"
                );
            }
        }
    }
    assert_eq!(
        std::fs::read_to_string(outside.join("_data/keep")).unwrap(),
        "keep",
        "a volume rm reached outside the root"
    );
    assert!(outside.join("volume.json").exists());
    assert_eq!(listing(&w.root()), before, "the store changed");
    assert_eq!(w.inspect(&id, "{{.State.Status}}"), "running");
    w.ok(&["rm", "-f", &id]);
    w.ok(&["volume", "rm", "realvol"]);
}

/// Names of everything under the root (not into container roots or volume data).
fn listing(root: &Path) -> Vec<String> {
    let mut all = Vec::new();
    walk(root, &mut all);
    let mut v: Vec<String> = all
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .filter(|p| !p.ends_with(".lock") && !p.contains(".tmp") && !p.starts_with("trash"))
        // A running container's log appears when it first writes.
        .filter(|p| !p.ends_with("container.log"))
        .collect();
    v.sort();
    v
}

#[test]
fn ids_above_2147483647_are_refused() {
    if !root_or_skip("ids_above_2147483647_are_refused") {
        return;
    }
    let w = World::with_busybox();
    for u in ["4294967295", "0:4294967295", "2147483648"] {
        let out = w.berth(&["run", "--rm", "-u", u, "bb:1", "id", "-u"]);
        assert_eq!(
            out.status.code(),
            Some(125),
            "-u {u} ran: {}",
            text(&out.stdout)
        );
        assert!(
            text(&out.stderr).contains("must be in range 0-2147483647"),
            "{}",
            text(&out.stderr)
        );
    }
    let id = w.run_d(&["bb:1", "sleep", "600"]);
    let out = w.berth(&["exec", "-u", "4294967295", &id, "id", "-u"]);
    assert!(!out.status.success(), "exec -u ran: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains("must be in range"));
    // The image's own USER is held to the same range.
    let tar = w.busybox_tar();
    w.ok(&[
        "import",
        tar.to_str().unwrap(),
        "biguser:1",
        "-c",
        "USER 4294967295",
    ]);
    let out = w.berth(&["run", "--rm", "biguser:1", "id", "-u"]);
    assert!(
        !out.status.success(),
        "image USER ran: {}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("must be in range"));
    w.ok(&["rm", "-f", &id]);
}

#[test]
fn a_read_only_bind_is_read_only_all_the_way_down() {
    if !root_or_skip("a_read_only_bind_is_read_only_all_the_way_down") {
        return;
    }
    let w = World::with_busybox();
    let src = w.dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    // A mount below the bind's source, as /proc and /sys are below `/`.
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(src.join("sub"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = w.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/host:ro", src.display()),
        "bb:1",
        "sh",
        "-c",
        "touch /host/top 2>/dev/null && echo top-writable; touch /host/sub/x 2>/dev/null && echo sub-writable; echo done",
    ]);
    let _ = Command::new("umount").arg(src.join("sub")).status();
    let so = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(so.contains("done"), "{so}");
    assert!(!so.contains("top-writable"), "{so}");
    assert!(
        !so.contains("sub-writable"),
        "a mount below a :ro bind was writable: {so}"
    );
}

#[test]
fn stop_and_rm_of_an_rm_container_are_quick_and_succeed() {
    if !root_or_skip("stop_and_rm_of_an_rm_container_are_quick_and_succeed") {
        return;
    }
    let w = World::with_busybox();
    for verb in [&["stop", "-t", "1"][..], &["rm", "-f"][..]] {
        let id = w.run_d(&["--rm", "bb:1", "sleep", "600"]);
        let mut args = verb.to_vec();
        args.push(&id);
        let t = std::time::Instant::now();
        let out = w.berth(&args);
        assert!(
            out.status.success(),
            "{args:?} failed after {:?}: {}",
            t.elapsed(),
            text(&out.stderr)
        );
        // It used to wait 30 s for a lock file it re-created itself.
        assert!(
            t.elapsed().as_secs() < 20,
            "{args:?} took {:?}",
            t.elapsed()
        );
        w.eventually(20, "the --rm container gone", || {
            w.leftovers(&id).is_empty()
        });
        assert!(!w.ok(&["ps", "-aq", "--no-trunc"]).contains(&id));
    }
}

#[test]
fn two_rm_f_of_one_container_both_end_well() {
    if !root_or_skip("two_rm_f_of_one_container_both_end_well") {
        return;
    }
    let w = World::with_busybox();
    for rm in [false, true] {
        let mut a = vec!["bb:1", "sleep", "600"];
        if rm {
            a.insert(0, "--rm");
        }
        let id = w.run_d(&a);
        let c1 = w.spawn(&["rm", "-f", &id]);
        let c2 = w.spawn(&["rm", "-f", &id]);
        for c in [c1, c2] {
            let out = c.wait_with_output().unwrap();
            let err = text(&out.stderr);
            assert!(
                out.status.success() || err.contains("no such container"),
                "--rm {rm}: {err}"
            );
        }
        w.assert_gone(&id);
        // The directory's blocks go in the background, a moment later.
        let trash = w.root().join("trash");
        w.eventually(20, "the trash emptied", || {
            std::fs::read_dir(&trash).map_or(0, |r| r.count()) == 0
        });
    }
}

#[test]
fn a_killed_volume_rm_leaves_the_volume_whole_or_gone() {
    if !root_or_skip("a_killed_volume_rm_leaves_the_volume_whole_or_gone") {
        return;
    }
    let w = World::new();
    for round in 0..3 {
        let name = format!("big{round}");
        w.ok(&["volume", "create", &name]);
        let data = w.root().join("volumes").join(&name).join("_data");
        for i in 0..3000 {
            std::fs::write(data.join(format!("f{i}")), "x").unwrap();
        }
        let mut c = w.spawn(&["volume", "rm", &name]);
        std::thread::sleep(std::time::Duration::from_millis(5 + 20 * round));
        let _ = c.kill();
        let _ = c.wait();
        let listed = w.ok(&["volume", "ls", "-q"]).lines().any(|l| l == name);
        if listed {
            let n = std::fs::read_dir(&data).unwrap().count();
            assert_eq!(n, 3000, "a listed volume lost files");
            w.ok(&["volume", "rm", &name]);
        }
        // The next command finished the removal: the trash is empty.
        w.ok(&["volume", "ls"]);
        let trash = w.root().join("trash");
        let n = std::fs::read_dir(&trash).map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 0, "trash not emptied");
    }
}

#[test]
fn bad_limits_and_env_are_refused_naming_the_flag() {
    if !root_or_skip("bad_limits_and_env_are_refused_naming_the_flag") {
        return;
    }
    let w = World::with_busybox();
    for (args, want) in [
        (vec!["-m", "1k"], "minimum memory limit"),
        (vec!["-m", "nan"], "--memory"),
        (vec!["-m", "1e30"], "--memory"),
        (vec!["--cpus", "NaN"], "--cpus"),
        (vec!["--cpus", "0.0001"], "--cpus"),
        (vec!["--cpus", "1000"], "CPUs available"),
        (vec!["-e", "=x"], "invalid environment variable"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(args.iter());
        a.extend(["bb:1", "true"]);
        let out = w.berth(&a);
        assert_eq!(out.status.code(), Some(125), "{a:?} ran");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{a:?}: {err}");
    }
    assert!(
        w.ok(&["ps", "-aq"]).trim().is_empty(),
        "a refused run left a container"
    );
    let bad_root = w.dir.path().join("a,b");
    let out = Command::new(BIN)
        .arg("--root")
        .arg(&bad_root)
        .args(["ps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--root"),
        "{}",
        text(&out.stderr)
    );
    assert!(!bad_root.exists(), "a refused root was made");
}
