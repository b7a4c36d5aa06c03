//! End-to-end tests of `unpack_layer`: layers built byte for byte (malicious ones included)
//! and unpacked into scratch directories.

use super::extract::parse_pax_time;
use super::pipeline::{HashState, CHUNK};
use super::sys::{get_xattr, set_xattr, XattrTarget};
use super::*;
use nix::unistd::geteuid;
use sha2::Digest;
use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use tar::{Builder, EntryType, Header};

/// A header with the name written byte for byte: the tar crate refuses `..` and absolute
/// paths in `set_path`, and malicious layers are exactly what we need to write.
fn header(name: &str, kind: EntryType, size: u64, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h
}

#[derive(Default)]
struct Layer(Vec<u8>);

impl Layer {
    fn add(self, mut h: Header, data: &[u8]) -> Self {
        h.set_cksum();
        self.build(|b| b.append(&h, data))
    }
    fn build(mut self, f: impl FnOnce(&mut Builder<Vec<u8>>) -> io::Result<()>) -> Self {
        let mut b = Builder::new(std::mem::take(&mut self.0));
        f(&mut b).unwrap();
        self.0 = b.into_inner().unwrap();
        // into_inner wrote the 1024-byte end marker: drop it to keep appending.
        self.0.truncate(self.0.len() - 1024);
        self
    }
    fn file(self, name: &str, data: &str) -> Self {
        self.add(
            header(name, EntryType::Regular, data.len() as u64, 0o644),
            data.as_bytes(),
        )
    }
    fn dir(self, name: &str) -> Self {
        self.add(header(name, EntryType::Directory, 0, 0o755), b"")
    }
    fn link(self, name: &str, kind: EntryType, target: &str) -> Self {
        let mut h = header(name, kind, 0, 0o777);
        h.set_link_name_literal(target).unwrap();
        self.add(h, b"")
    }
    fn pax(self, ext: &[(&str, &[u8])]) -> Self {
        self.build(|b| b.append_pax_extensions(ext.iter().copied()))
    }
    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn sha(data: &[u8]) -> String {
    let mut h = HashState::default();
    h.sha.update(data);
    h.digest()
}

fn is_root() -> bool {
    geteuid().is_root()
}

/// A tempdir with an empty `dest` to unpack into and an empty sibling `outside`.
fn scratch() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let (dest, outside) = (t.path().join("dest"), t.path().join("outside"));
    std::fs::create_dir(&dest).unwrap();
    std::fs::create_dir(&outside).unwrap();
    (t, dest, outside)
}

fn unpack(layer: &[u8], dest: &Path) -> Result<Unpacked, UnpackError> {
    unpack_layer(layer, dest, None, None)
}

fn fs_has_user_xattrs(dir: &Path) -> bool {
    let probe = dir.join("probe");
    std::fs::write(&probe, b"").unwrap();
    let ok = set_xattr_path(&probe, c"user.probe", b"1");
    std::fs::remove_file(&probe).unwrap();
    ok
}

fn set_xattr_path(path: &Path, name: &CStr, value: &[u8]) -> bool {
    let f = File::open(path).unwrap();
    set_xattr(XattrTarget::Fd(f.as_fd()), name, value).is_ok()
}

#[test]
fn pax_times() {
    let t = |v: &str| parse_pax_time(v.as_bytes()).map(|t| (t.tv_sec(), t.tv_nsec()));
    assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
    assert_eq!(t("1700000000.5"), Some((1_700_000_000, 500_000_000)));
    assert_eq!(t("1.1234567891"), Some((1, 123_456_789)));
    assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
    assert_eq!(t("-0.5"), Some((-1, 500_000_000)));
    assert_eq!(t("-3"), Some((-3, 0)));
    assert_eq!(t("1.12345678\u{e9}"), None);
    assert_eq!(t("1.+5"), None);
    assert_eq!(t("x"), None);
}

#[test]
fn detects_compression() {
    assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
    assert_eq!(
        Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
        Compression::Zstd
    );
    assert_eq!(Compression::detect(b"etc/"), Compression::None);
    assert_eq!(Compression::detect(&[0x1f]), Compression::None);
}

#[test]
fn normal_layer() {
    let (_t, dest, _) = scratch();
    let mut suid = header("usr/bin/tool", EntryType::Regular, 5, 0o4755);
    suid.set_uid(1000);
    suid.set_gid(1001);
    suid.set_mtime(1_234_567_890);
    let mut etc = header("./etc/", EntryType::Directory, 0, 0o750);
    etc.set_mtime(1_000_000_000);
    etc.set_gid(42);
    let layer = Layer::default()
        .dir("./")
        .add(etc, b"")
        .file("./etc/hostname", "box\n")
        .add(suid, b"tool!")
        .link("usr/bin/alias", EntryType::Symlink, "tool")
        .link("usr/bin/hard", EntryType::Link, "./usr/bin/tool")
        .add(header("run/fifo", EntryType::Fifo, 0, 0o640), b"")
        .pax(&[
            ("SCHILY.xattr.user.test", b"hello"),
            ("mtime", b"1700000000.5"),
        ])
        .file("etc/xattr", "x")
        .add(header("ro/", EntryType::Directory, 0, 0o555), b"")
        .file("ro/f", "a read-only directory still gets its children")
        .finish();
    let out = unpack(&layer, &dest).unwrap();
    assert_eq!(out.entries, 10);
    let ro = std::fs::metadata(dest.join("ro")).unwrap();
    assert_eq!(ro.permissions().mode() & 0o7777, 0o555);
    assert!(dest.join("ro/f").is_file());
    assert_eq!(out.diff_id, sha(&layer));
    assert_eq!(out.compressed_digest, out.diff_id);

    let tool = std::fs::metadata(dest.join("usr/bin/tool")).unwrap();
    assert_eq!(std::fs::read(dest.join("usr/bin/tool")).unwrap(), b"tool!");
    assert_eq!(
        tool.permissions().mode() & 0o7777,
        0o4755,
        "setuid kept after chown"
    );
    assert_eq!(tool.mtime(), 1_234_567_890);
    if is_root() {
        assert_eq!((tool.uid(), tool.gid()), (1000, 1001));
    } else {
        eprintln!("not root: ownership not checked");
    }
    // Implicit parents are created 0755.
    assert_eq!(
        std::fs::metadata(dest.join("usr/bin"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
    let etc = std::fs::metadata(dest.join("etc")).unwrap();
    assert_eq!(etc.permissions().mode() & 0o7777, 0o750);
    assert_eq!(
        etc.mtime(),
        1_000_000_000,
        "directory mtime survives its children"
    );
    if is_root() {
        assert_eq!(etc.gid(), 42);
    }
    assert_eq!(
        std::fs::read_link(dest.join("usr/bin/alias")).unwrap(),
        Path::new("tool")
    );
    let hard = std::fs::metadata(dest.join("usr/bin/hard")).unwrap();
    assert_eq!(hard.ino(), tool.ino());
    assert_eq!(hard.nlink(), 2);
    let fifo = std::fs::symlink_metadata(dest.join("run/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.permissions().mode() & 0o7777, 0o640);
    let x = std::fs::metadata(dest.join("etc/xattr")).unwrap();
    assert_eq!((x.mtime(), x.mtime_nsec()), (1_700_000_000, 500_000_000));
    if fs_has_user_xattrs(&dest) {
        assert_eq!(
            get_xattr(&dest.join("etc/xattr"), c"user.test").as_deref(),
            Some(&b"hello"[..])
        );
    } else {
        eprintln!("filesystem refuses user xattrs: xattr not checked");
    }
}

#[test]
fn compressed_variants_and_digests() {
    let tar = Layer::default().dir("a/").file("a/b", "data").finish();
    let gz = gzip(&tar);
    // Two concatenated gzip members are one stream, as for Go's gzip.Reader.
    let gz2 = [gzip(&tar[..1000]), gzip(&tar[1000..])].concat();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for blob in [&tar, &gz, &gz2, &zst] {
        let (_t, dest, _) = scratch();
        // Expected digests are compared case-insensitively.
        let want = sha(blob).to_ascii_uppercase().replace("SHA256:", "sha256:");
        let out = unpack_layer(&blob[..], &dest, Some(&want), Some(&sha(&tar))).unwrap();
        assert_eq!(out.diff_id, sha(&tar));
        assert_eq!(out.compressed_digest, sha(blob));
        assert_eq!(out.compressed_size, blob.len() as u64);
        assert_eq!(std::fs::read(dest.join("a/b")).unwrap(), b"data");
    }
    let (_t, dest, _) = scratch();
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = unpack_layer(&gz[..], &dest, Some(&wrong), None).unwrap_err();
    assert!(
        matches!(
            err,
            UnpackError::DigestMismatch {
                which: "compressed",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("digest mismatch: expected sha256:000"),
        "{err}"
    );
    let (_t, dest, _) = scratch();
    let err = unpack_layer(&zst[..], &dest, None, Some(&wrong)).unwrap_err();
    assert!(
        matches!(
            err,
            UnpackError::DigestMismatch {
                which: "diff_id",
                ..
            }
        ),
        "{err}"
    );
    let err = unpack_layer(&zst[..], &dest, None, Some("md5:abc")).unwrap_err();
    assert!(matches!(err, UnpackError::MalformedDigest { .. }), "{err}");
}

#[test]
fn trailing_bytes_are_hashed() {
    // Bigger than a chunk: the data crosses the reader-to-extractor chunk boundaries.
    let big: Vec<u8> = (0..CHUNK as u32 + 70_000).map(|i| i as u8).collect();
    let h = header("big", EntryType::Regular, big.len() as u64, 0o644);
    let mut tar = Layer::default().add(h, &big).file("f", "x").finish();
    tar.extend_from_slice(&[0; 8192]);
    tar.extend_from_slice(b"trailing junk after the end-of-archive blocks");
    let (_t, dest, _) = scratch();
    let out = unpack_layer(&tar[..], &dest, Some(&sha(&tar)), None).unwrap();
    assert_eq!(out.compressed_size, tar.len() as u64);
    assert_eq!(out.diff_id, sha(&tar));
    assert_eq!(std::fs::read(dest.join("big")).unwrap(), big);
}

/// Hands out at most 3 bytes per read, like a slow network stream.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(3).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn short_reads_are_fine() {
    let tar = Layer::default().file("f", "x").finish();
    let gz = gzip(&tar);
    let (_t, dest, _) = scratch();
    let out = unpack_layer(Trickle(&gz), &dest, Some(&sha(&gz)), Some(&sha(&tar))).unwrap();
    assert_eq!(out.compressed_size, gz.len() as u64);
    assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"x");
}

#[test]
fn destination_must_be_empty() {
    let (_t, dest, _) = scratch();
    std::fs::write(dest.join("x"), b"").unwrap();
    let err = unpack(&Layer::default().finish(), &dest).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn escapes_are_refused() {
    let outside_file = |o: &Path| o.join("file");
    type MakeLayer = Box<dyn Fn(&Path) -> Layer>;
    let cases: Vec<(&str, MakeLayer)> = vec![
        (
            "../evil",
            Box::new(|_| Layer::default().file("../evil", "x")),
        ),
        (
            "/abs/evil",
            Box::new(|_| Layer::default().file("/abs/evil", "x")),
        ),
        (
            "a/../../evil",
            Box::new(|_| Layer::default().dir("a/").file("a/../../evil", "x")),
        ),
        (
            "link/evil",
            Box::new(|o: &Path| {
                Layer::default()
                    .link("link", EntryType::Symlink, o.to_str().unwrap())
                    .file("link/evil", "x")
            }),
        ),
        (
            "link/evil",
            Box::new(|_| {
                Layer::default()
                    .link("link", EntryType::Symlink, "..")
                    .file("link/evil", "x")
            }),
        ),
        (
            "deep/link/evil",
            Box::new(|_| {
                Layer::default()
                    .link("deep/link", EntryType::Symlink, "../..")
                    .file("deep/link/evil", "x")
            }),
        ),
        (
            "hard",
            Box::new(|_| Layer::default().link("hard", EntryType::Link, "../outside/file")),
        ),
        (
            "hard",
            Box::new(|_| Layer::default().link("hard", EntryType::Link, "/etc/passwd")),
        ),
        (
            "hard",
            Box::new(|_| {
                Layer::default()
                    .link("etc", EntryType::Symlink, "/etc")
                    .link("hard", EntryType::Link, "etc/passwd")
            }),
        ),
        (
            "../.wh.x",
            Box::new(|_| Layer::default().file("../.wh.x", "")),
        ),
        (".wh...", Box::new(|_| Layer::default().file(".wh...", ""))),
    ];
    let passwd_links = std::fs::metadata("/etc/passwd").map(|m| m.nlink()).ok();
    for (entry, make) in cases {
        let (_t, dest, outside) = scratch();
        std::fs::write(outside_file(&outside), b"secret").unwrap();
        let layer = make(&outside).finish();
        let err = unpack(&layer, &dest).expect_err(entry);
        eprintln!("{entry}: {err}");
        assert!(
            err.to_string().contains(&format!("layer entry {entry:?}")),
            "{entry}: {err}"
        );
        let listing: Vec<_> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            listing,
            vec![OsStr::new("file")],
            "{entry}: something was written outside"
        );
        assert_eq!(
            std::fs::metadata(outside_file(&outside)).unwrap().nlink(),
            1,
            "{entry}"
        );
        assert_eq!(std::fs::read(outside_file(&outside)).unwrap(), b"secret");
        assert!(!dest.join("evil").exists() && !dest.parent().unwrap().join("evil").exists());
    }
    assert_eq!(
        std::fs::metadata("/etc/passwd").map(|m| m.nlink()).ok(),
        passwd_links
    );
}

#[test]
fn later_entries_replace_symlinks_instead_of_following_them() {
    let (_t, dest, outside) = scratch();
    std::fs::write(outside.join("file"), b"secret").unwrap();
    let layer = Layer::default()
        .link(
            "f",
            EntryType::Symlink,
            outside.join("file").to_str().unwrap(),
        )
        .file("f", "mine")
        .link("d", EntryType::Symlink, outside.to_str().unwrap())
        .dir("d/")
        .file("d/x", "inside")
        .link("s", EntryType::Symlink, "/etc/passwd")
        .link("h", EntryType::Link, "s")
        .finish();
    unpack(&layer, &dest).unwrap();
    assert_eq!(std::fs::read(outside.join("file")).unwrap(), b"secret");
    assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"mine");
    assert_eq!(std::fs::read(dest.join("d/x")).unwrap(), b"inside");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    // A hard link to a symlink is a second symlink, never a link to what it names.
    assert_eq!(
        std::fs::read_link(dest.join("h")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        std::fs::symlink_metadata(dest.join("s")).unwrap().nlink(),
        2
    );
}

#[test]
fn hard_link_to_missing_target_is_refused() {
    let (_t, dest, _) = scratch();
    let err = unpack(
        &Layer::default()
            .link("h", EntryType::Link, "nowhere")
            .finish(),
        &dest,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("does not exist in the layer"),
        "{err}"
    );
}

#[test]
fn whiteouts() {
    if !is_root() {
        eprintln!("not root: whiteouts need CAP_MKNOD and trusted.* xattrs; skipped");
        return;
    }
    let (_t, dest, _) = scratch();
    let layer = Layer::default()
        .file(".wh.gone", "")
        .dir("dir/")
        .file("dir/.wh..wh..opq", "")
        .file("new/sub/.wh..wh..opq", "")
        .file(".wh..wh.plnk", "")
        .file("mine", "stays")
        .file(".wh.mine", "")
        .file(".wh.later", "")
        .file("later", "replaces the whiteout")
        .finish();
    unpack(&layer, &dest).unwrap();
    let gone = std::fs::symlink_metadata(dest.join("gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert!(!dest.join(".wh.gone").exists());
    assert!(!dest.join("dir/.wh..wh..opq").exists());
    assert!(!dest.join(".wh..wh.plnk").exists());
    // Whiteouts hide lower layers only, never what this same layer holds.
    assert_eq!(std::fs::read(dest.join("mine")).unwrap(), b"stays");
    assert_eq!(
        std::fs::read(dest.join("later")).unwrap(),
        b"replaces the whiteout"
    );
    assert_eq!(
        get_xattr(&dest.join("dir"), c"trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        get_xattr(&dest.join("new/sub"), c"trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
}

#[test]
fn device_nodes() {
    if !is_root() {
        eprintln!("not root: device nodes need CAP_MKNOD; skipped");
        return;
    }
    let mut null = header("dev/null", EntryType::Char, 0, 0o666);
    null.set_device_major(1).unwrap();
    null.set_device_minor(3).unwrap();
    let (_t, dest, _) = scratch();
    unpack(&Layer::default().add(null, b"").finish(), &dest).unwrap();
    let null = std::fs::symlink_metadata(dest.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(null.permissions().mode() & 0o7777, 0o666);
}

#[test]
fn overlay_xattrs_from_the_layer_are_dropped() {
    if !is_root() {
        eprintln!("not root: trusted.* xattrs cannot be read; skipped");
        return;
    }
    let (_t, dest, _) = scratch();
    let layer = Layer::default()
        .pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y")])
        .dir("d/")
        .finish();
    unpack(&layer, &dest).unwrap();
    assert_eq!(get_xattr(&dest.join("d"), c"trusted.overlay.opaque"), None);
}

#[test]
fn repeated_paths_last_wins() {
    let (_t, dest, _) = scratch();
    let layer = Layer::default()
        .file("a", "one")
        .file("a", "two")
        .dir("d/")
        .file("d/child", "x")
        .file("d", "now a file")
        .file("s", "a file")
        .dir("s/")
        .file("s/inner", "y")
        .link("l", EntryType::Symlink, "a")
        .file("l", "replaced symlink")
        .dir("keep/")
        .file("keep/x", "1")
        .dir("keep/")
        .finish();
    unpack(&layer, &dest).unwrap();
    assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"two");
    assert_eq!(std::fs::read(dest.join("d")).unwrap(), b"now a file");
    assert_eq!(std::fs::read(dest.join("s/inner")).unwrap(), b"y");
    assert!(std::fs::symlink_metadata(dest.join("l")).unwrap().is_file());
    assert_eq!(
        std::fs::read(dest.join("keep/x")).unwrap(),
        b"1",
        "a repeated directory keeps its children"
    );
}

#[test]
fn truncated_stream_is_an_error() {
    let layer = Layer::default().file("f", "0123456789").finish();
    let (_t, dest, _) = scratch();
    let err = unpack(&layer[..515], &dest).unwrap_err();
    assert!(err.to_string().contains("\"f\""), "{err}");
    let mut corrupt = gzip(&layer);
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    let (_t, dest, _) = scratch();
    let err = unpack(&corrupt, &dest).unwrap_err();
    assert!(matches!(err, UnpackError::Stream(_)), "{err}");
}

/// Times a real layer: `UNPACK_BENCH_LAYER=/path/layer.tar.gz cargo test --release --
/// --ignored unpack_bench --nocapture`. It unpacks next to the layer (same filesystem).
#[test]
#[ignore]
fn unpack_bench() {
    let Ok(layer) = std::env::var("UNPACK_BENCH_LAYER") else {
        eprintln!("UNPACK_BENCH_LAYER is not set");
        return;
    };
    let layer = Path::new(&layer);
    let dir = tempfile::tempdir_in(layer.parent().unwrap()).unwrap();
    let start = std::time::Instant::now();
    let out = unpack_layer(File::open(layer).unwrap(), dir.path(), None, None).unwrap();
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{secs:.3}s {} entries {}", out.entries, out.diff_id);
}
