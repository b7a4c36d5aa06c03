//! Black-box tests of the image store's hardening (issue 8): archive text reaches the
//! terminal escaped, modes never come from the umask, failed or killed loads and imports
//! leave nothing behind, descriptors are validated, and no name from an archive becomes a
//! path in the store.

use std::path::{Path, PathBuf};

mod common;

use common::*;
use serde_json::json;

/// A Docker archive (`docker save` layout) of one image: `layers` (uncompressed tars) with
/// `config` (its rootfs filled in) named `tags`; `manifest` edits manifest.json last.
fn docker_archive(
    layers: &[Vec<u8>],
    mut config: serde_json::Value,
    tags: &[&str],
    manifest: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    let config = config.to_string();
    let cfg_name = format!("{}.json", sha256_hex(config.as_bytes()));
    let layer_names: Vec<String> = (0..layers.len())
        .map(|i| format!("{i}/layer.tar"))
        .collect();
    let mut m = json!([{"Config": cfg_name, "RepoTags": tags, "Layers": layer_names}]);
    manifest(&mut m);
    let m = m.to_string();
    let mut files: Vec<(&str, &[u8])> = vec![(&cfg_name, config.as_bytes())];
    for (n, l) in layer_names.iter().zip(layers) {
        files.push((n, l));
    }
    files.push(("manifest.json", m.as_bytes()));
    tar_of(&files)
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write");
    p
}

/// No raw ESC, DEL or C1 control (U+0080-U+009F in UTF-8) in `b`.
fn no_raw_controls(what: &str, b: &[u8]) {
    let s = text(b);
    assert!(
        !b.iter().any(|&x| x == 0x1b || x == 0x7f || x == 0x07)
            && !b
                .windows(2)
                .any(|w| w[0] == 0xc2 && (0x80..0xa0).contains(&w[1])),
        "{what}: raw control characters: {s:?}"
    );
}

/// A tar whose one header has `name` and a checksum field that is not a number.
fn tar_with_bad_header(name: &str, cksum: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).expect("name");
    h.set_size(0);
    h.set_mode(0o644);
    h.as_ustar_mut().expect("ustar").cksum[..cksum.len()].copy_from_slice(cksum);
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn archive_text_reaches_the_terminal_escaped() {
    if !root_or_skip("archive_text_reaches_the_terminal_escaped") {
        return;
    }
    let w = World::new();
    let d = w.dir.path();
    let layer = tar_of(&[("etc/", b""), ("etc/hostname", b"x\n")]);
    let red = "\x1b[31m";
    // A tag with an ESC in it: refused, and the refusal shows it escaped.
    let a = docker_archive(
        std::slice::from_ref(&layer),
        json!({"architecture": "amd64", "os": "linux"}),
        &[&format!("evil{red}:1")],
        |_| {},
    );
    let out = w.berth(&["load", "-i", write(d, "tag.tar", &a).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    no_raw_controls("load of a bad tag", &out.stderr);
    // A broken tar header: the tar crate's message quotes the field and the entry name.
    let a = tar_with_bad_header(&format!("name{red}"), b"\x1b[1m\x07x");
    let out = w.berth(&["load", "-i", write(d, "hdr.tar", &a).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    no_raw_controls("load of a broken header", &out.stderr);
    assert!(text(&out.stderr).contains("\\x1b"), "{}", text(&out.stderr));
    // A layer entry that escapes, named with controls.
    let mut evil = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    let entry = format!("{red}x/../../\u{9b}2J");
    h.as_gnu_mut().expect("gnu").name[..entry.len()].copy_from_slice(entry.as_bytes());
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    evil.append(&h, &[][..]).expect("append");
    let a = docker_archive(
        &[evil.into_inner().expect("tar")],
        json!({"architecture": "amd64", "os": "linux"}),
        &["evil:2"],
        |_| {},
    );
    let out = w.berth(&["load", "-i", write(d, "entry.tar", &a).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    no_raw_controls("load of an escaping entry", &out.stderr);
    // A valid image whose config says things with controls: history and images escape them.
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "created": format!("2024-01-01{red}T00:00:00Z"),
        "author": format!("me{red}"),
        "config": {"Cmd": [format!("sh{red}")], "Labels": {"l": format!("v{red}")}},
        "history": [{"created": "2024-01-01T00:00:00Z",
                     "created_by": format!("/bin/sh -c #(nop) {red}ADD\u{9b}2J \x7f"),
                     "comment": format!("c{red}\u{85}")}],
    });
    let a = docker_archive(&[layer], config, &["fine:1"], |_| {});
    let out = w.berth(&["load", "-i", write(d, "ok.tar", &a).to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for args in [
        &["history", "fine:1"][..],
        &["images"],
        &["image", "inspect", "fine:1"],
    ] {
        let out = w.berth(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        no_raw_controls(&format!("{args:?} stdout"), &out.stdout);
        no_raw_controls(&format!("{args:?} stderr"), &out.stderr);
    }
    let hist = w.ok(&["history", "fine:1"]);
    assert!(
        hist.contains("\\x1b[31mADD\\u{9b}2J"),
        "history keeps the text, escaped: {hist}"
    );
}

/// Runs berth under `umask`; returns stdout, insisting on success.
fn ok_with_umask(w: &World, umask: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$@\""))
        .arg("sh")
        .arg(BIN)
        .arg("--root")
        .arg(w.root())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "umask {umask}: berth {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o7777
}

/// Every directory and file of the store with a mode other than the store's (0700 / 0600;
/// 0755 for the root of an unpacked layer, whose contents are the layer's own business).
fn wrong_modes(store: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let mut todo = vec![store.to_path_buf()];
    while let Some(d) = todo.pop() {
        let want = if d.parent() == Some(&store.join("layers")) {
            0o755
        } else {
            0o700
        };
        if mode_of(&d) != want {
            bad.push(format!(
                "{} is {:o}, want {want:o}",
                d.display(),
                mode_of(&d)
            ));
        }
        if want == 0o755 {
            continue;
        }
        for e in std::fs::read_dir(&d).expect("list").flatten() {
            let ft = e.file_type().expect("type");
            if ft.is_dir() {
                todo.push(e.path());
            } else if ft.is_file() && mode_of(&e.path()) != 0o600 {
                bad.push(format!(
                    "{} is {:o}",
                    e.path().display(),
                    mode_of(&e.path())
                ));
            }
        }
    }
    bad
}

/// `nobody` runs `cmd` on `p`; true if it worked.
fn nobody_can(cmd: &str, p: &Path) -> bool {
    std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", cmd])
        .arg(p)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("setpriv")
        .success()
}

#[test]
fn modes_do_not_depend_on_the_umask() {
    if !root_or_skip("modes_do_not_depend_on_the_umask") {
        return;
    }
    for umask in ["000", "077"] {
        let w = World::new();
        let tarball = w.busybox_tar();
        let cmd = r#"CMD ["sh", "-c", "echo hi"]"#;
        ok_with_umask(
            &w,
            umask,
            &["import", tarball.to_str().unwrap(), "bb:1", "-c", cmd],
        );
        let saved = w.dir.path().join("bb.tar");
        ok_with_umask(&w, umask, &["save", "-o", saved.to_str().unwrap(), "bb:1"]);
        ok_with_umask(&w, umask, &["rmi", "bb:1"]);
        ok_with_umask(&w, umask, &["load", "-i", saved.to_str().unwrap()]);
        let store = w.root().join("image");
        let id = ok_with_umask(&w, umask, &["run", "-d", "bb:1", "sleep", "60"]);
        let id = id.trim();
        assert_eq!(wrong_modes(&store), Vec::<String>::new(), "umask {umask}");
        // The layer's files keep the modes of the tar.
        let layer = std::fs::read_dir(store.join("layers"))
            .expect("layers")
            .flatten()
            .next()
            .expect("a layer")
            .path();
        assert_eq!(mode_of(&layer.join("bin/busybox")), 0o755, "umask {umask}");
        assert_eq!(mode_of(&layer.join("etc/passwd")), 0o644, "umask {umask}");
        // The container's upper dir is its `/`; work is overlayfs' own.
        let c = w.root().join("containers").join(id);
        assert_eq!(mode_of(&c.join("upper")), 0o755, "umask {umask}");
        assert_eq!(mode_of(&c.join("work")), 0o700, "umask {umask}");
        assert_eq!(mode_of(&c.join("rootfs")), 0o755, "umask {umask}");
        w.ok(&["rm", "-f", id]);
        // A user other than root reads `/` in the container, whatever berth's umask was.
        let out = ok_with_umask(
            &w,
            umask,
            &["run", "--rm", "-u", "65534", "bb:1", "ls", "/bin"],
        );
        assert!(out.contains("busybox"), "umask {umask}: {out}");
    }
}

#[test]
fn nobody_reads_nothing_in_the_store_and_old_stores_are_tightened() {
    if !root_or_skip("nobody_reads_nothing_in_the_store_and_old_stores_are_tightened") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    w.import_busybox("bb:1");
    let store = w.root().join("image");
    // Only the store's own modes stand between nobody and its contents.
    for p in [w.dir.path().to_path_buf(), w.root()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let probes = [
        ("ls", store.clone()),
        ("ls", store.join("blobs/sha256")),
        ("ls", store.join("layers")),
        ("cat", store.join("index.json")),
    ];
    for (cmd, p) in &probes {
        assert!(!nobody_can(cmd, p), "nobody can {cmd} {}", p.display());
    }
    // A store as an older berth left it: 0755 directories, 0644 files.
    let chmod = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    for d in ["", "blobs", "blobs/sha256", "layers", "tmp"] {
        chmod(&store.join(d), 0o755);
    }
    for f in ["index.json", "oci-layout"] {
        chmod(&store.join(f), 0o644);
    }
    assert!(
        nobody_can("ls", &store.join("blobs/sha256")),
        "the test is void"
    );
    w.ok(&["images"]);
    for (cmd, p) in &probes {
        assert!(!nobody_can(cmd, p), "nobody can {cmd} {}", p.display());
    }
    assert_eq!(mode_of(&store.join("blobs/sha256")), 0o700);
    assert_eq!(mode_of(&store.join("index.json")), 0o600);
}
