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
