//! COPY, ADD and WORKDIR as a fresh layer directory: the sources copied to their place with
//! Docker's rules (a directory's contents, not the directory; several sources or a
//! destination ending in `/` mean a directory; an existing directory in the image takes the
//! file inside it), owned by root or `--chown`, with their modes or `--chmod`. Parent
//! directories that the image already has are made with the image's mode and owner, so the
//! layer does not change them; symlinks among the image's parents are followed.

use std::fs::{self, File};
use std::io::{Read, Write};
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
    /// ADD: a local tar archive (plain, gzip, zstd, xz or bzip2) is extracted into the
    /// destination.
    pub extract: bool,
}

/// The compressions ADD takes for a local archive: the layer ones (gzip, zstd) and the
/// two more Docker's `archive.DecompressStream` knows (xz, bzip2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Packed {
    /// Plain, gzip or zstd: the layer unpacker reads it as it is.
    Layer,
    Xz,
    Bzip2,
}

/// xz starts with fd 37 7a 58 5a 00, bzip2 with "BZh" and the block size digit.
fn packed(head: &[u8]) -> Option<Packed> {
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Packed::Xz)
    } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
        Some(Packed::Bzip2)
    } else {
        match crate::unpack::Compression::detect(head) {
            crate::unpack::Compression::None => {
                (head.len() >= 262 && &head[257..262] == b"ustar").then_some(Packed::Layer)
            }
            _ => Some(Packed::Layer),
        }
    }
}

/// Whether `p` is an archive ADD extracts, and how it is compressed. A compressed file
/// is taken to be an archive by its magic, as Docker does (a `.xz` that is not a tar then
/// fails to extract, naming the source).
fn archive_kind(p: &Path) -> Option<Packed> {
    let mut f = File::open(p).ok()?;
    packed(&read_head(&mut f).ok()?)
}

/// Enough of a stream's first bytes to tell an archive (a tar's magic is at 257).
pub fn read_head(r: &mut dyn std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; 263];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    Ok(head)
}

/// `r` as a tar stream (or a gzip/zstd one the unpacker decompresses itself).
fn archive_stream<'a>(r: impl std::io::Read + 'a, kind: Packed) -> Box<dyn std::io::Read + 'a> {
    let r = std::io::BufReader::new(r);
    match kind {
        Packed::Layer => Box::new(r),
        // Multi-stream, as `xz -d` reads concatenated .xz files.
        Packed::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
        Packed::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
    }
}

/// If `head` (the first bytes, as `read_head` gives them) starts an archive, extracts
/// `head` + `rest` into `dest` (which must exist) and returns true; otherwise false and
/// nothing is read. Entries land beneath `dest` only. `build -` takes its context so.
pub fn extract_if_archive(
    head: &[u8],
    rest: impl std::io::Read,
    dest: &Path,
) -> Result<bool, String> {
    let Some(kind) = packed(head) else {
        return Ok(false);
    };
    crate::unpack::unpack_layer(
        std::io::BufReader::new(archive_stream(head.chain(rest), kind)),
        dest,
        None,
        None,
    )
    .map_err(|e| e.to_string())?;
    Ok(true)
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
                let kind = if a.extract && m.is_file() {
                    archive_kind(&p)
                } else {
                    None
                };
                if let Some(kind) = kind {
                    // Into the destination as a directory; entries are made beneath it
                    // only (the unpacker refuses `..`, absolute paths and symlinked
                    // parents).
                    make_dirs(layer, img, dest, a.owner)?;
                    let f = File::open(&p).map_err(|e| io("open", &p, e))?;
                    extract_merged(
                        layer,
                        &fsview::host_path(layer, dest),
                        archive_stream(f, kind),
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

/// Extracts a tar stream into `to`: straight in when it is empty (the unpacker wants an
/// empty destination), else into a fresh directory beside the layer that is then merged
/// in (another source of the same ADD was there first).
fn extract_merged(layer: &Path, to: &Path, tar: Box<dyn Read + '_>) -> Result<(), String> {
    let empty = fs::read_dir(to)
        .map_err(|e| io("read", to, e))?
        .next()
        .is_none();
    if empty {
        crate::unpack::unpack_layer(std::io::BufReader::new(tar), to, None, None)
            .map_err(|e| e.to_string())?;
        return Ok(());
    }
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let side = layer.with_file_name(format!(
        "{}.add-{n}",
        layer
            .file_name()
            .map_or("layer".into(), |f| f.to_string_lossy())
    ));
    fs::create_dir(&side).map_err(|e| io("create", &side, e))?;
    let r = crate::unpack::unpack_layer(std::io::BufReader::new(tar), &side, None, None)
        .map_err(|e| e.to_string())
        .and_then(|_| merge_into(&side, to));
    let _ = crate::fsmode::remove_tree(&side);
    r
}

/// Moves what `from` holds into `to`: directories on both sides merge (`to`'s keeps its
/// mode, as tar does over an existing directory), anything else replaces.
fn merge_into(from: &Path, to: &Path) -> Result<(), String> {
    for e in fs::read_dir(from).map_err(|e| io("read", from, e))? {
        let e = e.map_err(|e| io("read", from, e))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let src_dir = e.file_type().is_ok_and(|t| t.is_dir());
        match fs::symlink_metadata(&dst) {
            Ok(m) if m.is_dir() && src_dir => merge_into(&src, &dst)?,
            Ok(_) => {
                fsview_remove(&dst)?;
                fs::rename(&src, &dst).map_err(|e| io("move to", &dst, e))?;
            }
            Err(_) => fs::rename(&src, &dst).map_err(|e| io("move to", &dst, e))?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_kinds_by_magic() {
        assert_eq!(
            packed(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]),
            Some(Packed::Xz)
        );
        assert_eq!(packed(b"BZh91AY&SY"), Some(Packed::Bzip2));
        assert_eq!(packed(b"BZhx"), None);
        assert_eq!(packed(&[0x1f, 0x8b, 8, 0]), Some(Packed::Layer));
        let mut tar = vec![0u8; 300];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(packed(&tar), Some(Packed::Layer));
        assert_eq!(packed(b"hello"), None);
    }
}
