//! scripts/install.sh: the three binaries side by side under a prefix, the `docker` and
//! `docker-compose` drop-in links with --as-docker, idempotence, and the refusal to replace
//! an existing Docker (nothing installed then).

mod common;

use common::{text, BIN};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The three binaries in one directory, as a release build leaves them. berth-runtime is
/// another package's binary: a stand-in when `cargo test -p berth` did not build it.
fn release_dir(root: &Path) -> PathBuf {
    let dir = root.join("release");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let built = Path::new(BIN).parent().expect("bin dir");
    for b in ["berth", "berth-monitor", "berth-runtime"] {
        if built.join(b).is_file() {
            std::fs::copy(built.join(b), dir.join(b)).expect("copy");
        } else {
            std::fs::write(dir.join(b), "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(dir.join(b), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
    }
    dir
}

fn install(prefix: &Path, extra: &[&str]) -> Output {
    let from = release_dir(prefix.parent().expect("parent"));
    Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .arg("--from")
        .arg(&from)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run install.sh")
}

#[test]
fn installs_side_by_side_and_links_docker_names_to_berth() {
    let d = tempfile::tempdir().expect("tempdir");
    let prefix = d.path().join("p");
    for _ in 0..2 {
        let out = install(&prefix, &["--as-docker"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let bin = prefix.join("bin");
    for b in ["berth", "berth-runtime", "berth-monitor"] {
        let m = std::fs::metadata(bin.join(b)).expect(b);
        assert!(m.is_file(), "{b}");
        assert_eq!(m.permissions().mode() & 0o777, 0o755, "{b}");
    }
    for name in ["docker", "docker-compose"] {
        let link = std::fs::read_link(bin.join(name)).expect(name);
        assert_eq!(link, Path::new("berth"), "{name}");
    }
    // The link runs berth.
    let out = Command::new(bin.join("docker"))
        .arg("--version")
        .output()
        .expect("docker --version");
    assert!(text(&out.stdout).starts_with("berth "), "{out:?}");
    // No stray temporary files.
    let mut names: Vec<String> = std::fs::read_dir(&bin)
        .expect("bin")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "berth",
            "berth-monitor",
            "berth-runtime",
            "docker",
            "docker-compose"
        ]
    );
}

#[test]
fn never_replaces_an_existing_docker() {
    for name in ["docker", "docker-compose"] {
        let d = tempfile::tempdir().expect("tempdir");
        let prefix = d.path().join("p");
        let bin = prefix.join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let theirs = bin.join(name);
        std::fs::write(&theirs, "#!/bin/sh\necho Docker version 28\n").expect("write");
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let out = install(&prefix, &["--as-docker"]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "{} already exists and is not berth",
                theirs.display()
            )),
            "{err}"
        );
        // Untouched, and nothing else installed.
        assert_eq!(
            std::fs::read_to_string(&theirs).expect("read"),
            "#!/bin/sh\necho Docker version 28\n"
        );
        assert!(!bin.join("berth").exists(), "berth was installed anyway");
        // Without --as-docker, berth installs beside it and leaves it alone.
        let out = install(&prefix, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(bin.join("berth").is_file());
        assert!(std::fs::symlink_metadata(&theirs)
            .expect("theirs")
            .is_file());
    }
}
