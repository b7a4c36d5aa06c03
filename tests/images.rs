//! Black-box tests of `berth`'s image verbs as root: import and run, save/load round trips,
//! rmi, and the store's defences (bad references, corrupted blobs, malicious layers, a
//! killed load).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use common::*;

fn container_dirs(w: &World) -> usize {
    std::fs::read_dir(w.root().join("containers"))
        .map(|d| d.flatten().filter(|e| e.path().is_dir()).count())
        .unwrap_or(0)
}

fn no_mounts_under(p: &Path) {
    let m = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !m.contains(p.to_str().unwrap()),
        "mount left under {}",
        p.display()
    );
}

#[test]
fn import_and_run_through_the_runtime() {
    if !root_or_skip("import_and_run_through_the_runtime") {
        return;
    }
    let w = World::new();
    let id = w.import_busybox("busybox:test");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let out = w.ok(&["images"]);
    assert!(
        out.contains("busybox") && out.contains("test") && out.contains(&id[7..19]),
        "{out}"
    );
    let out = w.ok(&["run", "--rm", "busybox:test"]);
    assert!(out.starts_with("hello from "), "{out}");
    // not in the store, and not pulled (--pull never: tests stay on loopback)
    let out = w.berth(&[
        "run", "--pull", "never", "--rm", "busybox", "sh", "-c", "exit 3",
    ]);
    assert!(
        text(&out.stderr).contains("no such image"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(125));
    let out = w.berth(&["run", "--rm", "busybox:test", "sh", "-c", "echo $0; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let out = w.berth(&["run", "--rm", "busybox:test", "no-such-cmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    // The container's writes went to its own upper dir, gone with it; the layer is untouched.
    w.ok(&[
        "run",
        "--rm",
        "busybox:test",
        "sh",
        "-c",
        "echo x > /etc/written",
    ]);
    let out = w.ok(&["run", "--rm", "busybox:test", "sh", "-c", "ls /etc"]);
    assert!(!out.contains("written"), "{out}");
    no_mounts_under(&w.root());
    assert_eq!(container_dirs(&w), 0);
}

#[test]
fn save_load_round_trip_keeps_digests() {
    if !root_or_skip("save_load_round_trip_keeps_digests") {
        return;
    }
    let w = World::new();
    let id = w.import_busybox("example.com/shop/bb:1");
    let inspect = |w: &World, r: &str| -> serde_json::Value {
        serde_json::from_str(&w.ok(&["image", "inspect", r])).expect("inspect json")
    };
    let before = inspect(&w, "example.com/shop/bb:1");
    for (fmt, gz) in [("docker-archive", false), ("oci-archive", true)] {
        let arch = w.dir.path().join(format!("save-{fmt}.tar"));
        w.ok(&[
            "save",
            "--format",
            fmt,
            "-o",
            arch.to_str().unwrap(),
            "example.com/shop/bb:1",
        ]);
        let input = if gz {
            let st = Command::new("gzip")
                .arg("-kf")
                .arg(&arch)
                .status()
                .expect("gzip");
            assert!(st.success());
            PathBuf::from(format!("{}.gz", arch.display()))
        } else {
            arch
        };
        let w2 = World::new();
        let out = w2.ok(&["load", "-i", input.to_str().unwrap()]);
        assert!(out.contains("example.com/shop/bb:1"), "{fmt}: {out}");
        let after = inspect(&w2, "example.com/shop/bb:1");
        assert_eq!(after[0]["Id"], before[0]["Id"], "{fmt}");
        assert_eq!(after[0]["RepoDigests"], before[0]["RepoDigests"], "{fmt}");
        assert_eq!(after[0]["Id"], serde_json::json!(id));
        let out = w2.ok(&["run", "example.com/shop/bb:1"]);
        assert!(out.starts_with("hello from"), "{out}");
    }
}

#[test]
fn tag_rmi_and_prune_free_what_nothing_uses() {
    if !root_or_skip("tag_rmi_and_prune_free_what_nothing_uses") {
        return;
    }
    let w = World::new();
    let id = w.import_busybox("bb:1");
    w.ok(&["tag", "bb:1", "bb:2"]);
    let out = w.ok(&["images", "--format", "json"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = w.berth(&["rmi", &id[7..19]]);
    assert!(
        !out.status.success(),
        "rmi by id of a twice-named image must need --force"
    );
    w.ok(&["rmi", "bb:1"]);
    assert!(w.ok(&["images", "-q"]).contains(&id[7..19]));
    let blobs = || {
        std::fs::read_dir(w.root().join("image/blobs/sha256"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(blobs(), 3);
    w.ok(&["rmi", "bb:2"]);
    assert_eq!(w.ok(&["images", "-q"]).trim(), "");
    assert_eq!(blobs(), 0);
    assert_eq!(
        std::fs::read_dir(w.root().join("image/layers"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    let out = w.berth(&["rmi", "bb:2"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no such image"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_references_are_clear_errors() {
    let w = World::new();
    for bad in ["UPPER:1", "a:b:c", "x@sha256:1234"] {
        let out = w.berth(&["tag", "whatever", bad]);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains("invalid reference") && err.contains(bad),
            "{err}"
        );
    }
}

#[test]
fn corrupted_blob_is_detected() {
    if !root_or_skip("corrupted_blob_is_detected") {
        return;
    }
    let w = World::new();
    let id = w.import_busybox("bb:1");
    let cfg = w.root().join("image/blobs/sha256").join(&id[7..]);
    let mut data = std::fs::read(&cfg).expect("config blob");
    data[10] ^= 1;
    std::fs::write(&cfg, data).expect("corrupt");
    let out = w.berth(&["image", "inspect", "bb:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("digest mismatch"),
        "{}",
        text(&out.stderr)
    );
}

/// A Docker archive whose single layer holds `entry` (a path escaping the layer).
fn malicious_archive(dir: &Path, entry: &str, kind: tar::EntryType, link: Option<&str>) -> PathBuf {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    {
        let name = &mut h.as_gnu_mut().expect("gnu").name;
        name[..entry.len()].copy_from_slice(entry.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    if let Some(l) = link {
        h.set_link_name(l).expect("link");
    }
    let body: &[u8] = if kind == tar::EntryType::Regular {
        b"evil"
    } else {
        b""
    };
    h.set_size(body.len() as u64);
    h.set_cksum();
    layer.append(&h, body).expect("append");
    let layer = layer.into_inner().expect("layer");
    let diff_id = sha256_hex(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]}
    })
    .to_string();
    let cfg_hex = sha256_hex(config.as_bytes());
    let manifest = serde_json::json!([{"Config": format!("{cfg_hex}.json"), "RepoTags": ["evil:1"], "Layers": ["layer/layer.tar"]}]).to_string();
    let mut ar = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("layer/layer.tar", layer.as_slice()),
        (&format!("{cfg_hex}.json")[..], config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        ar.append_data(&mut h, name, data).expect("append");
    }
    let p = dir.join(format!("evil-{}.tar", sha256_hex(entry.as_bytes())));
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(&ar.into_inner().expect("ar")))
        .expect("write");
    p
}

#[test]
fn malicious_layers_are_refused_and_change_nothing() {
    if !root_or_skip("malicious_layers_are_refused_and_change_nothing") {
        return;
    }
    let w = World::new();
    let outside = w.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    let rel_out = format!("../../../../../../../..{}/pwned", outside.display());
    let cases: Vec<(String, tar::EntryType, Option<String>)> = vec![
        (rel_out.clone(), tar::EntryType::Regular, None),
        (
            format!("{}/pwned", outside.display()),
            tar::EntryType::Regular,
            None,
        ),
        (
            "hl".into(),
            tar::EntryType::Link,
            Some("../../../../../../etc/passwd".into()),
        ),
        ("../.wh.pwned".into(), tar::EntryType::Regular, None),
    ];
    for (entry, kind, link) in cases {
        let arch = malicious_archive(w.dir.path(), &entry, kind, link.as_deref());
        let out = w.berth(&["load", "-i", arch.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{entry}: loaded");
        let err = text(&out.stderr);
        let shown = link.as_deref().unwrap_or(&entry);
        assert!(
            err.contains(&entry) || err.contains(shown),
            "{entry}: error does not name the entry: {err}"
        );
        assert_eq!(
            std::fs::read_dir(&outside).expect("outside").count(),
            0,
            "{entry} wrote outside"
        );
        assert_eq!(
            w.ok(&["images", "-q"]).trim(),
            "",
            "{entry}: a half image is listed"
        );
    }
    // What the failed loads left is only unreferenced content, which prune removes.
    w.ok(&["image", "prune", "-f"]);
    assert_eq!(
        std::fs::read_dir(w.root().join("image/layers"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[test]
fn a_killed_load_leaves_a_consistent_store() {
    if !root_or_skip("a_killed_load_leaves_a_consistent_store") {
        return;
    }
    let w = World::new();
    w.import_busybox("bb:1");
    // A big archive: one layer of 64 MiB of incompressible data.
    let rootfs = w.dir.path().join("big");
    std::fs::create_dir_all(&rootfs).expect("mkdir");
    let st = Command::new("dd")
        .args(["if=/dev/urandom", "bs=1M", "count=64"])
        .arg(format!("of={}/blob", rootfs.display()))
        .stderr(Stdio::null())
        .status()
        .expect("dd");
    assert!(st.success());
    let tarball = w.dir.path().join("big.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("tar")
        .success());
    let w2 = World::new();
    w2.ok(&["import", tarball.to_str().unwrap(), "big:1"]);
    let arch = w.dir.path().join("big-save.tar");
    w2.ok(&["save", "-o", arch.to_str().unwrap(), "big:1"]);
    let mut child = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["load", "-i", arch.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("load");
    std::thread::sleep(std::time::Duration::from_millis(60));
    let _ = child.kill();
    let _ = child.wait();
    let out = w.ok(&["images"]);
    assert!(out.contains("bb"), "{out}");
    let loaded = out.contains("big");
    // Either the load finished (then the image is whole and runs) or nothing of it is named.
    if loaded {
        w.ok(&["image", "inspect", "big:1"]);
    }
    w.ok(&["image", "prune", "-f"]);
    assert_eq!(
        std::fs::read_dir(w.root().join("image/tmp"))
            .expect("tmp")
            .count(),
        0
    );
    // The surviving image still runs, and a new load completes.
    assert!(w.ok(&["run", "bb:1"]).starts_with("hello from"));
    w.ok(&["load", "-i", arch.to_str().unwrap()]);
    w.ok(&["image", "inspect", "big:1"]);
}

#[test]
fn a_killed_run_is_healed_by_the_next_command() {
    if !root_or_skip("a_killed_run_is_healed_by_the_next_command") {
        return;
    }
    let w = World::new();
    w.import_busybox("bb:1");
    let mut child = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["run", "bb:1", "sleep", "300"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run");
    let rt_root = w.root().join("runtime");
    let started = (0..250).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::read_dir(&rt_root)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
            && std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap_or_default()
                .contains(w.root().to_str().unwrap())
    });
    assert!(started, "container did not start");
    std::thread::sleep(std::time::Duration::from_millis(200));
    // The CLI dies; its container, mount and cgroup stay behind.
    child.kill().expect("kill");
    child.wait().expect("wait");
    let id = std::fs::read_dir(w.root().join("containers"))
        .expect("containers")
        .flatten()
        .find(|e| e.path().is_dir())
        .expect("a container dir")
        .file_name();
    let id = id.to_string_lossy().to_string();
    // Nothing watches it now, but it runs: the next command says so (as docker keeps a
    // container whose client died), and `rm -f` takes all of it away.
    assert!(w.ok(&["ps", "-q", "--no-trunc"]).contains(&id));
    assert!(w.ok(&["run", "--rm", "bb:1", "true"]).is_empty());
    w.ok(&["rm", "-f", &id]);
    no_mounts_under(&w.root());
    assert_eq!(container_dirs(&w), 0);
    assert!(!rt_root.join(&id).exists(), "runtime state left");
    for c in ["memory", "pids"] {
        let v1 = PathBuf::from(format!("/sys/fs/cgroup/{c}/berth/{id}"));
        assert!(!v1.exists(), "{} left", v1.display());
    }
    assert!(!PathBuf::from(format!("/sys/fs/cgroup/berth/{id}")).exists());
    let procs = Command::new("pgrep")
        .args(["-f", "sleep 300"])
        .output()
        .expect("pgrep");
    let mine: Vec<String> = text(&procs.stdout)
        .lines()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cgroup"))
                .unwrap_or_default()
                .contains(&id)
        })
        .map(String::from)
        .collect();
    assert!(mine.is_empty(), "container processes left: {mine:?}");
}

/// Packs an OCI layout directory into an OCI archive (a tar of the layout).
fn archive_of(layout: &Path, out: &Path) {
    let st = Command::new("tar")
        .arg("-C")
        .arg(layout)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
}

#[test]
fn an_image_with_65_layers_mounts_and_runs() {
    if !root_or_skip("an_image_with_65_layers_mounts_and_runs") {
        return;
    }
    let w = World::new();
    let mut layers = vec![busybox_layer()];
    let names: Vec<String> = (1..=64).map(|i| format!("l{i:02}")).collect();
    for n in &names {
        layers.push(tar_of(&[(n.as_str(), n.as_bytes())]));
    }
    let layout = w.dir.path().join("layout");
    oci_layout(
        &layout,
        "tall",
        &layers,
        &[host_arch()],
        &["sh", "-c", "cat /l01 /l64; ls / | grep -c '^l'"],
    );
    let arch = w.dir.path().join("tall.tar");
    archive_of(&layout, &arch);
    w.ok(&["load", "-i", arch.to_str().unwrap()]);
    // The OCI ref.name is only a tag here, so the image is loaded unnamed: run it by id.
    let id = w.ok(&["images", "-q"]).trim().to_string();
    let out = w.ok(&["run", &id]);
    assert_eq!(
        out, "l01l6464\n",
        "files of the first and 64th layer, and 64 layer files"
    );
    no_mounts_under(&w.root());
}

#[test]
fn archives_made_by_podman_load_and_run() {
    if !root_or_skip("archives_made_by_podman_load_and_run") {
        return;
    }
    let w = World::new();
    w.import_busybox("localhost/shop/bb:1");
    let ours = w.dir.path().join("ours.tar");
    w.ok(&["save", "-o", ours.to_str().unwrap(), "localhost/shop/bb:1"]);
    let pod = |args: &[&str]| {
        let out = Command::new("podman")
            .arg("--root")
            .arg(w.dir.path().join("podman"))
            .arg("--runroot")
            .arg(w.dir.path().join("podman-run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("podman (Debian package podman)");
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    // podman takes berth's archive...
    let loaded = pod(&["load", "-i", ours.to_str().unwrap()]);
    assert!(loaded.contains("localhost/shop/bb:1"), "{loaded}");
    // ...and what podman writes, in both formats, berth loads and runs.
    for fmt in ["docker-archive", "oci-archive"] {
        let p = w.dir.path().join(format!("podman-{fmt}.tar"));
        pod(&[
            "save",
            "--format",
            fmt,
            "-o",
            p.to_str().unwrap(),
            "localhost/shop/bb:1",
        ]);
        let w2 = World::new();
        let out = w2.ok(&["load", "-i", p.to_str().unwrap()]);
        let target = if fmt == "docker-archive" {
            assert!(out.contains("localhost/shop/bb:1"), "{fmt}: {out}");
            "localhost/shop/bb:1".to_string()
        } else {
            w2.ok(&["images", "-q"]).trim().to_string()
        };
        let out = w2.ok(&["run", &target]);
        assert!(out.starts_with("hello from"), "{fmt}: {out}");
    }
}

#[test]
fn rmi_refuses_an_image_a_container_uses() {
    if !root_or_skip("rmi_refuses_an_image_a_container_uses") {
        return;
    }
    let w = World::new();
    w.import_busybox("bb:1");
    let child = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args([
            "run",
            "--rm",
            "bb:1",
            "sh",
            "-c",
            "sleep 2; cat /etc/passwd",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run");
    let up = (0..250).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .contains(w.root().to_str().unwrap())
    });
    assert!(up, "container did not start");
    let out = w.berth(&["rmi", "bb:1"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("used by container"),
        "{}",
        text(&out.stderr)
    );
    // Forced: the name goes, but the running container keeps its layers.
    w.ok(&["rmi", "-f", "bb:1"]);
    w.ok(&["image", "prune", "-f"]);
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("root:x:0:0"),
        "container lost its layers"
    );
    w.ok(&["image", "prune", "-f"]);
    assert_eq!(
        std::fs::read_dir(w.root().join("image/layers"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}
