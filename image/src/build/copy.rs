//! COPY, ADD and WORKDIR as a fresh layer directory: the sources copied to their place with
//! Docker's rules (a directory's contents, not the directory; several sources or a
//! destination ending in `/` mean a directory; an existing directory in the image takes the
//! file inside it), owned by root or `--chown`, with their modes or `--chmod`. Parent
//! directories that the image already has are made with the image's mode and owner, so the
//! layer does not change them; symlinks among the image's parents are followed.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::fsview::{self, ImageFs, Tree};
use crate::digest::{Digest, HashingReader};

/// Who copied files belong to, and their mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attrs {
    /// None: root (0:0), as Docker does without --chown.
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    /// ADD: a local tar archive (plain, gzip or zstd) is extracted into the destination.
    pub extract: bool,
}

/// Whether `p` is a tar archive ADD extracts: gzip or zstd (by magic), or a plain tar
/// (`ustar` at offset 257).
fn is_archive(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 263];
    let Ok(mut f) = File::open(p) else {
        return false;
    };
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let head = &head[..n];
    match crate::unpack::Compression::detect(head) {
        crate::unpack::Compression::None => head.len() >= 262 && &head[257..262] == b"ustar",
        _ => true,
    }
}

fn io(what: &str, p: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", p.display())
}

/// `--chown=user[:group]`: ids, or names looked up in the image's /etc/passwd and /etc/group.
pub fn resolve_owner(img: &ImageFs, spec: &str) -> Result<(u32, u32), String> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = img
        .read("etc/passwd")
        .map(|b| String::from_utf8_lossy(&b).to_string())
        .unwrap_or_default();
    let find = |db: &str, name: &str| -> Option<(u32, u32)> {
        db.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[0] == name).then(|| {
                (
                    f[2].parse().unwrap_or(0),
                    f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
                )
            })
        })
    };
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => {
            let (id, g) = find(&passwd, u).ok_or_else(|| {
                format!("--chown={spec}: no user {u:?} in the image's /etc/passwd")
            })?;
            (id, Some(g))
        }
    };
    let gid = match g {
        None => primary.unwrap_or(uid),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let group = img
                    .read("etc/group")
                    .map(|b| String::from_utf8_lossy(&b).to_string())
                    .unwrap_or_default();
                group
                    .lines()
                    .find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() >= 3 && f[0] == g).then(|| f[2].parse().unwrap_or(0))
                    })
                    .ok_or_else(|| {
                        format!("--chown={spec}: no group {g:?} in the image's /etc/group")
                    })?
            }
        },
    };
    Ok((uid, gid))
}

/// Makes the directories of `rel` (a path in the image) in `layer`: those the image has with
/// its mode and owner, new ones 0755 and `new_owner` (root by default). Returns whether
/// the last one is new to the image.
pub fn make_dirs(
    layer: &Path,
    img: &ImageFs,
    rel: &str,
    new_owner: Option<(u32, u32)>,
) -> Result<bool, String> {
    let rel = fsview::clean(rel);
    let mut cur = String::new();
    let mut created = false;
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        cur = if cur.is_empty() {
            part.to_string()
        } else {
            format!("{cur}/{part}")
        };
        let host = layer.join(&cur);
        if host.is_dir() {
            continue;
        }
        let (mode, uid, gid) = match img.stat(&cur) {
            Some((_, m)) if m.is_dir() => {
                created = false;
                (m.mode() & 0o7777, m.uid(), m.gid())
            }
            _ => {
                created = true;
                let (u, g) = new_owner.unwrap_or((0, 0));
                (0o755, u, g)
            }
        };
        fs::create_dir(&host).map_err(|e| io("create", &host, e))?;
        fs::set_permissions(&host, fs::Permissions::from_mode(mode))
            .map_err(|e| io("chmod", &host, e))?;
        std::os::unix::fs::lchown(&host, Some(uid), Some(gid))
            .map_err(|e| io("chown", &host, e))?;
    }
    Ok(created)
}

/// Where a COPY's destination is: the path in the image (symlinks among its parents
/// resolved) and whether it is a directory to copy into.
pub fn destination(img: &ImageFs, dest: &str, workdir: &str, several: bool) -> (String, bool) {
    let abs = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{workdir}/{dest}")
    };
    let dir_form = abs.ends_with('/') || abs.ends_with("/.") || dest == ".";
    let rel = img.resolve(&abs, false);
    let existing_dir = img
        .stat(&img.resolve(&abs, true))
        .is_some_and(|(_, m)| m.is_dir());
    (rel, dir_form || several || existing_dir)
}

/// Copies the entries `srcs` (paths in `tree`) to `dest` in the layer directory `layer`.
pub fn copy_into(
    layer: &Path,
    img: &ImageFs,
    tree: &dyn Tree,
    srcs: &[String],
    dest: &str,
    dest_is_dir: bool,
    a: Attrs,
) -> Result<(), String> {
    for src in srcs {
        let Some((_, m)) = tree.stat(src) else {
            continue;
        };
        if m.is_dir() {
            make_dirs(layer, img, dest, a.owner)?;
            // A directory's contents, not the directory itself.
            let mut all = Vec::new();
            fsview::walk(tree, src, &mut all);
            for (rel, p, m) in all.into_iter().skip(1) {
                let tail = rel[src.len()..].trim_start_matches('/');
                copy_one(layer, &p, &m, &format!("{dest}/{tail}"), a)?;
            }
        } else {
            let target = if dest_is_dir {
                let base = src.rsplit('/').next().unwrap_or(src);
                format!("{dest}/{base}")
            } else {
                dest.to_string()
            };
            if let Some((p, m)) = tree.stat(src) {
                if a.extract && m.is_file() && is_archive(&p) {
                    // Into the destination as a directory; entries are made beneath it
                    // only (the unpacker refuses `..`, absolute paths and symlinked
                    // parents).
                    make_dirs(layer, img, dest, a.owner)?;
                    let f = File::open(&p).map_err(|e| io("open", &p, e))?;
                    crate::unpack::unpack_layer(
                        std::io::BufReader::new(f),
                        &fsview::host_path(layer, dest),
                        None,
                        None,
                    )
                    .map_err(|e| format!("extract {src}: {e}"))?;
                    continue;
                }
                let parent = target.rsplit_once('/').map_or("", |(p, _)| p);
                make_dirs(layer, img, parent, a.owner)?;
                copy_one(layer, &p, &m, &target, a)?;
            }
        }
    }
    Ok(())
}

/// Copies one entry (a directory without its contents) from host path `p` to `dest`.
fn copy_one(layer: &Path, p: &Path, m: &fs::Metadata, dest: &str, a: Attrs) -> Result<(), String> {
    let host = fsview::host_path(layer, dest);
    let (uid, gid) = a.owner.unwrap_or((0, 0));
    let mode = a.chmod.unwrap_or(m.mode() & 0o7777);
    let ft = m.file_type();
    if ft.is_dir() {
        if !host.is_dir() {
            if fs::symlink_metadata(&host).is_ok() {
                fsview_remove(&host)?;
            }
            fs::create_dir(&host).map_err(|e| io("create", &host, e))?;
        }
        fs::set_permissions(&host, fs::Permissions::from_mode(mode))
            .map_err(|e| io("chmod", &host, e))?;
        std::os::unix::fs::lchown(&host, Some(uid), Some(gid))
            .map_err(|e| io("chown", &host, e))?;
        return Ok(());
    }
    if fs::symlink_metadata(&host).is_ok() {
        fsview_remove(&host)?;
    }
    if ft.is_symlink() {
        let t = fs::read_link(p).map_err(|e| io("readlink", p, e))?;
        std::os::unix::fs::symlink(&t, &host).map_err(|e| io("symlink", &host, e))?;
        std::os::unix::fs::lchown(&host, Some(uid), Some(gid))
            .map_err(|e| io("chown", &host, e))?;
    } else if ft.is_file() {
        let mut from = File::open(p).map_err(|e| io("open", p, e))?;
        let mut to = File::create_new(&host).map_err(|e| io("create", &host, e))?;
        std::io::copy(&mut from, &mut to).map_err(|e| io("copy to", &host, e))?;
        to.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| io("chmod", &host, e))?;
        std::os::unix::fs::fchown(&to, Some(uid), Some(gid)).map_err(|e| io("chown", &host, e))?;
        if let Ok(t) = m.modified() {
            let _ = to.set_modified(t);
        }
    }
    // Devices, FIFOs and sockets in a context are not copied (as Docker).
    Ok(())
}

fn fsview_remove(p: &Path) -> Result<(), String> {
    crate::fsmode::remove_tree(p).map_err(|e| e.to_string())
}

/// Writes a here-document as a file at `target` in the layer.
pub fn write_file(
    layer: &Path,
    img: &ImageFs,
    target: &str,
    content: &[u8],
    a: Attrs,
) -> Result<(), String> {
    let parent = target.rsplit_once('/').map_or("", |(p, _)| p);
    make_dirs(layer, img, parent, a.owner)?;
    let host = fsview::host_path(layer, target);
    if fs::symlink_metadata(&host).is_ok() {
        fsview_remove(&host)?;
    }
    let mut f = File::create_new(&host).map_err(|e| io("create", &host, e))?;
    f.write_all(content).map_err(|e| io("write", &host, e))?;
    f.set_permissions(fs::Permissions::from_mode(a.chmod.unwrap_or(0o644)))
        .map_err(|e| io("chmod", &host, e))?;
    let (uid, gid) = a.owner.unwrap_or((0, 0));
    std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).map_err(|e| io("chown", &host, e))?;
    Ok(())
}

/// The content and metadata of `srcs` in `tree` as one digest (the cache key of a COPY):
/// each path, kind, mode, size and content (or link target). Times and owners are left
/// out: COPY does not keep the owner, and a checkout's times change without the content.
pub fn content_digest(
    tree: &dyn Tree,
    srcs: &[String],
    hashes: Option<&super::hashes::Hashes>,
) -> Result<Digest, String> {
    let mut text = String::new();
    for s in srcs {
        let mut all = Vec::new();
        fsview::walk(tree, s, &mut all);
        for (rel, p, m) in all {
            let ft = m.file_type();
            let what = if ft.is_dir() {
                "dir".to_string()
            } else if ft.is_symlink() {
                format!(
                    "link {}",
                    fs::read_link(&p)
                        .map_err(|e| io("readlink", &p, e))?
                        .display()
                )
            } else if ft.is_file() {
                let known = hashes.and_then(|h| h.get(&rel, &m));
                let d = match known {
                    Some(d) => d,
                    None => {
                        let f = File::open(&p).map_err(|e| io("open", &p, e))?;
                        let (d, _) = HashingReader::new(f)
                            .finish()
                            .map_err(|e| io("read", &p, e))?;
                        if let Some(h) = hashes {
                            h.put(&rel, &m, &d);
                        }
                        d
                    }
                };
                format!("file {} {d}", m.len())
            } else {
                "other".to_string()
            };
            text.push_str(&format!("{rel:?} {:o} {what}\n", m.mode() & 0o7777));
        }
    }
    Ok(Digest::of(text.as_bytes()))
}
