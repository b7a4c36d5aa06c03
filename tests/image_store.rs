//! Black-box tests of the image store's hardening (issue 8): archive text reaches the
//! terminal escaped, modes never come from the umask, failed or killed loads and imports
//! leave nothing behind, descriptors are validated, and no name from an archive becomes a
//! path in the store.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    assert_eq!(out.status.code(), Some(1));
    no_raw_controls("load of a bad tag", &out.stderr);
    // A broken tar header: the tar crate's message quotes the field and the entry name.
    let a = tar_with_bad_header(&format!("name{red}"), b"\x1b[1m\x07x");
    let out = w.berth(&["load", "-i", write(d, "hdr.tar", &a).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
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
    assert_eq!(out.status.code(), Some(1));
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

/// The store as a sorted listing: path, kind, size and mode of everything in it.
fn listing(w: &World) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let store = w.root().join("image");
    let mut out = Vec::new();
    let mut todo = vec![store.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("list").flatten() {
            let m = e.path().symlink_metadata().expect("stat");
            let rel = e
                .path()
                .strip_prefix(&store)
                .expect("rel")
                .display()
                .to_string();
            let kind = if m.is_dir() { "d" } else { "f" };
            let size = if m.is_file() { m.len() } else { 0 };
            out.push(format!("{kind} {rel} {size} {:o}", m.mode()));
            if m.is_dir() {
                todo.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// A Docker archive of two layers: the first fine and new to the store, the second a gzip
/// stream cut in the middle (the config names the diff_id of the whole one).
fn half_broken_archive(w: &World) -> PathBuf {
    let good = tar_of(&[("good/", b""), ("good/file", &[7u8; 300_000][..])]);
    let noise: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let bad = tar_of(&[("bad/", b""), ("bad/file", &noise[..])]);
    let diff_ids = [good.clone(), bad.clone()];
    let bad_gz = gzip(&bad);
    let cut = bad_gz[..bad_gz.len() / 2].to_vec();
    let a = docker_archive(
        &diff_ids,
        json!({"architecture": "amd64", "os": "linux"}),
        &["half:1"],
        |m| {
            let _ = m;
        },
    );
    // docker_archive hashes the layers it stores: swap the second for the cut one after.
    let mut ar = tar::Archive::new(&a[..]);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read");
        if name == "1/layer.tar" {
            data = cut.clone();
        }
        files.push((name, data));
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
    write(w.dir.path(), "half.tar", &tar_of(&refs))
}

#[test]
fn a_failed_load_leaves_the_store_as_it_was() {
    if !root_or_skip("a_failed_load_leaves_the_store_as_it_was") {
        return;
    }
    let w = World::new();
    w.import_busybox("bb:1");
    let before = listing(&w);
    let arch = half_broken_archive(&w);
    let out = w.berth(&["load", "-i", arch.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(listing(&w), before, "{}", text(&out.stderr));
    // A failed import too (not a tar at all past its first bytes).
    let junk = write(w.dir.path(), "junk.tar.gz", &gzip(&[0x55u8; 100_000])[..]);
    let out = w.berth(&["import", junk.to_str().unwrap(), "junk:1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(listing(&w), before);
}

/// While another berth has the store open, a failed load cannot take its blobs back (they
/// might be that one's); `image prune` later removes them and says how much that was.
#[test]
fn prune_reports_what_it_reclaims() {
    if !root_or_skip("prune_reports_what_it_reclaims") {
        return;
    }
    let w = World::new();
    w.import_busybox("bb:1");
    let before = listing(&w);
    // Holds the shared gc lock as a berth with the store open does.
    let lock = std::fs::File::open(w.root().join("image/.gc.lock")).expect("open lock");
    // SAFETY: flock on an fd we own; the lock goes with the fd.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_SH) },
        0
    );
    let arch = half_broken_archive(&w);
    let out = w.berth(&["load", "-i", arch.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    drop(lock);
    let after = listing(&w);
    let added: u64 = after
        .iter()
        .filter(|l| !before.contains(l) && l.starts_with("f "))
        .map(|l| l.split(' ').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(
        added > 300_000,
        "the failed load left nothing to prune: {after:?}"
    );
    let out = w.ok(&["image", "prune", "-f"]);
    let reclaimed = out
        .lines()
        .last()
        .unwrap_or("")
        .rsplit(' ')
        .next()
        .unwrap_or("");
    let (num, unit) = reclaimed.split_at(reclaimed.find(|c: char| c.is_alphabetic()).unwrap_or(0));
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        _ => panic!("{out}"),
    };
    let got = num.parse::<f64>().expect("number") * scale;
    assert!(
        (got - added as f64).abs() <= added as f64 / 100.0,
        "prune says {reclaimed}, removed {added} bytes: {out}"
    );
    assert_eq!(listing(&w), before);
}

fn tmp_is_empty_and_blobs_are(w: &World, blobs: usize) {
    let tmp = w.root().join("image/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "tmp/ not healed: {left:?}");
    assert_eq!(
        count(&w.root().join("image/blobs/sha256")),
        blobs,
        "orphan blobs"
    );
}

#[test]
fn a_killed_import_or_load_is_healed_by_the_next_command() {
    if !root_or_skip("a_killed_import_or_load_is_healed_by_the_next_command") {
        return;
    }
    let w = World::new();
    w.import_busybox("bb:1");
    let blobs = count(&w.root().join("image/blobs/sha256"));
    let tmp = w.root().join("image/tmp");
    let wait_for = |what: &str, f: &dyn Fn() -> bool| {
        let t = std::time::Instant::now();
        while !f() {
            assert!(t.elapsed().as_secs() < 30, "timed out waiting for {what}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    // `head -c 300M /dev/zero | berth import - x`, killed while the stream still flows.
    let mut child = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["import", "-", "x:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("import");
    let mut stdin = child.stdin.take().expect("stdin");
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..32 {
        std::io::Write::write_all(&mut stdin, &zeros).expect("feed");
    }
    wait_for("the import's temp blob", &|| {
        std::fs::read_dir(&tmp)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("blob-"))
            })
            .unwrap_or(false)
    });
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    drop(stdin);
    assert!(count(&tmp) > 0, "nothing left to heal: the test is void");
    w.ok(&["images"]);
    tmp_is_empty_and_blobs_are(&w, blobs);
    // A load killed after its first blob went into the store: an orphan blob, a journal.
    let arch = std::fs::read(half_broken_archive(&w)).expect("archive");
    let mut child = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("load");
    let mut stdin = child.stdin.take().expect("stdin");
    // Everything but the last 10 kB: the first entries are in the store, then it waits.
    std::io::Write::write_all(&mut stdin, &arch[..arch.len() - 10_000]).expect("feed");
    wait_for("the load's first blob", &|| {
        count(&w.root().join("image/blobs/sha256")) > blobs
    });
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    drop(stdin);
    w.ok(&["images"]);
    tmp_is_empty_and_blobs_are(&w, blobs);
    assert!(w.ok(&["run", "--rm", "bb:1"]).starts_with("hello from"));
}

/// An OCI archive (an OCI layout as a tar) of one image of `layers` (uncompressed); `edit`
/// changes the manifest, then the index, before they are stored.
fn oci_archive(
    w: &World,
    name: &str,
    layers: &[Vec<u8>],
    edit: impl Fn(&str, &mut serde_json::Value),
) -> PathBuf {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut put = |data: Vec<u8>| -> (String, usize) {
        let h = sha256_hex(&data);
        let n = data.len();
        files.push((format!("blobs/sha256/{h}"), data));
        (format!("sha256:{h}"), n)
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        diff_ids.push(format!("sha256:{}", sha256_hex(l)));
        let (d, n) = put(l.clone());
        descs.push(
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n}),
        );
    }
    let config = json!({"architecture": host_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let (cd, cn) = put(config.to_string().into_bytes());
    let mut m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": descs});
    edit("manifest", &mut m);
    let (md, mn) = put(m.to_string().into_bytes());
    let mut idx = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"io.containerd.image.name": "docker.io/library/oci:1"}}]});
    edit("index", &mut idx);
    files.push(("index.json".into(), idx.to_string().into_bytes()));
    files.push((
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    ));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
    write(w.dir.path(), name, &tar_of(&refs))
}

#[test]
fn archives_listing_nothing_or_lying_about_sizes_are_refused() {
    if !root_or_skip("archives_listing_nothing_or_lying_about_sizes_are_refused") {
        return;
    }
    let w = World::new();
    let layer = tar_of(&[("etc/", b""), ("etc/hostname", b"x\n")]);
    let load = |p: &Path| w.berth(&["load", "-i", p.to_str().unwrap()]);
    // The archive as built loads: the cases below differ from it in one thing each.
    let fine = oci_archive(&w, "fine.tar", std::slice::from_ref(&layer), |_, _| {});
    let out = load(&fine);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = listing(&w);
    let empty = oci_archive(&w, "empty.tar", std::slice::from_ref(&layer), |what, v| {
        if what == "index" {
            v["manifests"] = json!([]);
        }
    });
    let docker_empty = write(
        w.dir.path(),
        "docker-empty.tar",
        &docker_archive(
            std::slice::from_ref(&layer),
            json!({"architecture": "amd64", "os": "linux"}),
            &[],
            |m| *m = json!([]),
        ),
    );
    for (p, want) in [
        (&empty, "index.json lists no manifests"),
        (&docker_empty, "manifest.json lists no images"),
    ] {
        let out = load(p);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{want}: {err}");
        assert!(
            err.contains(want) && err.contains(p.to_str().unwrap()),
            "{err}"
        );
    }
    // The config and the layer as oci_archive stores them: what their descriptors say.
    let config = json!({"architecture": host_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer))]}})
    .to_string();
    let cases = [
        ("config", sha256_hex(config.as_bytes()), config.len() as u64),
        ("layer", sha256_hex(&layer), layer.len() as u64),
    ];
    for (what, hex, real) in cases {
        let p = oci_archive(
            &w,
            &format!("{what}.tar"),
            std::slice::from_ref(&layer),
            |k, v| {
                if k == "manifest" {
                    let d = if what == "config" {
                        &mut v["config"]
                    } else {
                        &mut v["layers"][0]
                    };
                    d["size"] = json!(real + 1);
                }
            },
        );
        let digest = format!("sha256:{hex}");
        let out = load(&p);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains(&digest)
                && err.contains(&format!("size {} declared", real + 1))
                && err.contains(&format!("{real} bytes")),
            "{what}: {err}"
        );
        assert_eq!(
            listing(&w),
            before,
            "{what}: the refused load changed the store"
        );
    }
}

#[test]
fn names_in_an_archive_never_become_paths() {
    if !root_or_skip("names_in_an_archive_never_become_paths") {
        return;
    }
    let w = World::new();
    w.import_busybox("bb:1");
    let before = listing(&w);
    let layer = tar_of(&[("etc/", b""), ("etc/hostname", b"x\n")]);
    let cfg = json!({"architecture": "amd64", "os": "linux"});
    let mut cases: Vec<(&str, PathBuf, &str)> = Vec::new();
    let a = docker_archive(std::slice::from_ref(&layer), cfg.clone(), &["x:1"], |m| {
        m[0]["Layers"] = json!(["../../../etc/passwd"]);
    });
    cases.push((
        "layer path",
        write(w.dir.path(), "l.tar", &a),
        "../../../etc/passwd",
    ));
    let a = docker_archive(std::slice::from_ref(&layer), cfg.clone(), &["x:1"], |m| {
        m[0]["Config"] = json!("/etc/shadow");
    });
    cases.push((
        "config path",
        write(w.dir.path(), "c.tar", &a),
        "/etc/shadow",
    ));
    let a = oci_archive(&w, "d.tar", std::slice::from_ref(&layer), |k, v| {
        if k == "index" {
            v["manifests"][0]["digest"] = json!("sha256:../../x");
        }
    });
    cases.push(("index digest", a, "sha256:../../x"));
    let a = oci_archive(&w, "ld.tar", std::slice::from_ref(&layer), |k, v| {
        if k == "manifest" {
            v["layers"][0]["digest"] = json!("sha256:../../../../etc/passwd");
        }
    });
    cases.push(("layer digest", a, "sha256:../../../../etc/passwd"));
    let a = {
        // tar::Builder refuses `..`: the name goes into the header by hand.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        let name = b"blobs/sha256/../../../../x";
        h.as_gnu_mut().expect("gnu").name[..name.len()].copy_from_slice(name);
        h.set_size(4);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"data"[..]).expect("append");
        b.into_inner().expect("tar")
    };
    cases.push((
        "blob entry",
        write(w.dir.path(), "b.tar", &a),
        "blobs/sha256/../../../../x",
    ));
    for (what, p, name) in cases {
        let out = w.berth(&["load", "-i", p.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains(name),
            "{what}: the error does not name {name}: {err}"
        );
        assert_eq!(listing(&w), before, "{what}: the store changed");
    }
    assert!(w.ok(&["run", "--rm", "bb:1"]).starts_with("hello from"));
}
