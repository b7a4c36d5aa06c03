//! A directory becomes a layer: `pack` tars an overlay upper dir (or any directory) into a
//! gzip layer blob in the store, turning overlayfs whiteouts back into OCI ones (image-spec
//! layer.md "Whiteouts"): a 0/0 character device NAME becomes an empty `.wh.NAME`, a
//! directory with `trusted.overlay.opaque=y` gets a `.wh..wh..opq` entry. Hard links within
//! the directory become tar links; `security.capability` travels as a PAX xattr.
//! Entries are written in name order, so the same tree gives the same tar.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use flate2::write::GzEncoder;

use super::sys::get_xattr;
use crate::digest::{Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::model::{Descriptor, MT_OCI_LAYER_GZIP};
use crate::store::Store;

/// A packed layer: its descriptor (the gzip blob) and its diff_id (the tar's digest).
#[derive(Debug, Clone)]
pub struct Packed {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
}

/// Tars `dir` into a new layer blob in `store`.
pub fn pack(store: &Store, dir: &Path) -> Result<Packed> {
    pack_except(store, dir, &[])
}

/// Tars `dir` into a new layer blob in `store`, without the entries at the relative paths
/// in `skip` (a running container's mount points, which `commit` cannot remove).
pub fn pack_except(store: &Store, dir: &Path, skip: &[String]) -> Result<Packed> {
    let blob = store.blob_writer("layer")?;
    let gz = GzEncoder::new(blob, flate2::Compression::fast());
    let mut b = tar::Builder::new(HashingWriter::new(gz));
    b.mode(tar::HeaderMode::Complete);
    b.follow_symlinks(false);
    let mut links = HashMap::new();
    walk(&mut b, dir, "", &mut links, skip)?;
    let hw = b.into_inner().ctx("finish layer tar", dir)?;
    let (gz, diff_id, _) = hw.finish();
    let blob = gz.finish().ctx("finish gzip", dir)?;
    let (digest, size) = blob.commit(None, None)?;
    Ok(Packed {
        descriptor: Descriptor::new(MT_OCI_LAYER_GZIP, digest, size),
        diff_id,
    })
}

type Tar<'s> = tar::Builder<HashingWriter<GzEncoder<crate::store::BlobWriter<'s>>>>;

fn header(m: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(m.mode() & 0o7777);
    h.set_uid(m.uid() as u64);
    h.set_gid(m.gid() as u64);
    h.set_mtime(m.mtime().max(0) as u64);
    h.set_size(0);
    h
}

fn empty(b: &mut Tar<'_>, path: &str, m: &fs::Metadata) -> Result<()> {
    let mut h = header(m, tar::EntryType::Regular);
    h.set_mode(0o600);
    b.append_data(&mut h, path, std::io::empty())
        .ctx("write layer entry", path)
}

/// The names in `dir`, sorted: layers and diffs list a tree in a stable order.
pub(crate) fn sorted_names(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .ctx("list", dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .ctx("list", dir)?;
    names.sort();
    Ok(names)
}

fn walk(
    b: &mut Tar<'_>,
    dir: &Path,
    rel: &str,
    links: &mut HashMap<(u64, u64), String>,
    skip: &[String],
) -> Result<()> {
    let names = sorted_names(dir)?;
    for name in names {
        let p = dir.join(&name);
        let name = name.to_str().ok_or_else(|| {
            Error::Invalid(format!("{}: a file name that is not UTF-8", p.display()))
        })?;
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        if skip.contains(&path) {
            continue;
        }
        let m = fs::symlink_metadata(&p).ctx("stat", &p)?;
        let ft = m.file_type();
        if let Some(cap) = get_xattr(&p, c"security.capability") {
            b.append_pax_extensions([("SCHILY.xattr.security.capability", &cap[..])])
                .ctx("write layer entry", &p)?;
        }
        if ft.is_char_device() && m.rdev() == 0 {
            // An overlayfs whiteout: the name was deleted.
            let wh = match path.rsplit_once('/') {
                Some((parent, n)) => format!("{parent}/.wh.{n}"),
                None => format!(".wh.{name}"),
            };
            empty(b, &wh, &m)?;
        } else if ft.is_dir() {
            let mut h = header(&m, tar::EntryType::Directory);
            b.append_data(&mut h, format!("{path}/"), std::io::empty())
                .ctx("write layer entry", &p)?;
            if get_xattr(&p, c"trusted.overlay.opaque").as_deref() == Some(b"y") {
                empty(b, &format!("{path}/.wh..wh..opq"), &m)?;
            }
            walk(b, &p, &path, links, skip)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&p).ctx("readlink", &p)?;
            let mut h = header(&m, tar::EntryType::Symlink);
            b.append_link(&mut h, &path, &target)
                .ctx("write layer entry", &p)?;
        } else if ft.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = links.get(&(m.dev(), m.ino())) {
                    let mut h = header(&m, tar::EntryType::Link);
                    b.append_link(&mut h, &path, first)
                        .ctx("write layer entry", &p)?;
                    continue;
                }
                links.insert((m.dev(), m.ino()), path.clone());
            }
            let mut h = header(&m, tar::EntryType::Regular);
            h.set_size(m.len());
            let f = File::open(&p).ctx("open", &p)?;
            b.append_data(&mut h, &path, f)
                .ctx("write layer entry", &p)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut h = header(&m, kind);
            let rdev = m.rdev();
            h.set_device_major(nix::sys::stat::major(rdev) as u32)
                .ctx("device major", &p)?;
            h.set_device_minor(nix::sys::stat::minor(rdev) as u32)
                .ctx("device minor", &p)?;
            b.append_data(&mut h, &path, std::io::empty())
                .ctx("write layer entry", &p)?;
        }
        // Sockets are not part of a layer (as Docker).
    }
    Ok(())
}

/// Removes from a RUN step's upper dir what the runtime, not the step, made there: empty
/// mount-point files (`files`, e.g. etc/resolv.conf) that no lower layer has, and the
/// directories (`dirs`, e.g. proc, sys, dev, etc) that are empty, not opaque, and either
/// new or unchanged from the lower layers (`lower`: top first). The layer then holds the
/// step's changes only, as Docker's do.
pub fn prune_mount_points(
    upper: &Path,
    lower: &[std::path::PathBuf],
    files: &[&str],
    dirs: &[&str],
) {
    for rel in mount_points(upper, lower, files, dirs) {
        let p = upper.join(&rel);
        if p.is_dir() {
            let _ = fs::remove_dir(&p);
        } else {
            let _ = fs::remove_file(&p);
        }
    }
}

/// The runtime's mount points in `upper` that `prune_mount_points` removes (files first),
/// as relative paths: what `commit` and `diff` leave out of a container's changes.
pub fn mount_points(
    upper: &Path,
    lower: &[std::path::PathBuf],
    files: &[&str],
    dirs: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    let in_lower = |rel: &str| {
        lower
            .iter()
            .find_map(|l| fs::symlink_metadata(l.join(rel)).ok())
    };
    for f in files {
        let p = upper.join(f);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0)
            && in_lower(f).is_none()
        {
            out.push(f.to_string());
        }
    }
    for d in dirs {
        let p = upper.join(d);
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        // Empty once the mount-point files found above are left out.
        let empty = fs::read_dir(&p).is_ok_and(|r| {
            r.flatten().all(|e| {
                let rel = format!("{d}/{}", e.file_name().to_string_lossy());
                out.contains(&rel)
            })
        });
        if !m.is_dir() || !empty || get_xattr(&p, c"trusted.overlay.opaque").is_some() {
            continue;
        }
        let unchanged = match in_lower(d) {
            None => true,
            Some(l) => {
                l.is_dir() && l.mode() == m.mode() && l.uid() == m.uid() && l.gid() == m.gid()
            }
        };
        if unchanged {
            out.push(d.to_string());
        }
    }
    out
}

/// Makes `dir` (made by the builder in the store's tmp/, not from outside input) the
/// unpacked layer of `chain`, instead of unpacking the blob just packed from it again.
pub fn adopt(store: &Store, dir: &Path, chain: &Digest) -> Result<()> {
    let dst = store.layer_dir(chain);
    if dst.exists() {
        return crate::fsmode::remove_tree(dir);
    }
    store.record("layer", chain)?;
    match fs::rename(dir, &dst) {
        Ok(()) => Ok(()),
        Err(_) if dst.exists() => crate::fsmode::remove_tree(dir),
        Err(e) => Err(Error::Io {
            op: "rename layer",
            path: dst,
            err: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn packs_files_links_and_whiteouts_in_order() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/b"), "bee").unwrap();
        fs::write(d.path().join("etc/a"), "a").unwrap();
        fs::set_permissions(d.path().join("etc/a"), fs::Permissions::from_mode(0o751)).unwrap();
        fs::hard_link(d.path().join("etc/a"), d.path().join("hl")).unwrap();
        std::os::unix::fs::symlink("etc/b", d.path().join("ln")).unwrap();
        nix::sys::stat::mknod(
            &d.path().join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let p = pack(&store, d.path()).unwrap();
        let mut data = Vec::new();
        flate2::read::GzDecoder::new(File::open(store.blob_path(&p.descriptor.digest)).unwrap())
            .read_to_end(&mut data)
            .unwrap();
        assert_eq!(Digest::of(&data), p.diff_id);
        let mut a = tar::Archive::new(&data[..]);
        let names: Vec<(String, tar::EntryType, u32)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        let just: Vec<&str> = names.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(just, ["etc/", "etc/a", "etc/b", ".wh.gone", "hl", "ln"]);
        assert_eq!(names[1].2, 0o751);
        assert_eq!(names[4].1, tar::EntryType::Link);
        assert_eq!(names[5].1, tar::EntryType::Symlink);
        // Same tree, same layer.
        let q = pack(&store, d.path()).unwrap();
        assert_eq!(q.diff_id, p.diff_id);
    }
}
