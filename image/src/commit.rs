//! `commit` and `diff`: a container's overlay upper directory read as changes (A/C/D, as
//! `docker diff`) or packed as one new layer on its image (`docker commit`), with the same
//! packer the builder uses for RUN steps (build/pack.rs: overlay whiteouts become `.wh.`
//! entries, opaque directories `.wh..wh..opq`).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::archive::apply_change;
use crate::build::pack;
use crate::error::{Error, IoContext, Result};
use crate::model::{Descriptor, History, Manifest, MT_OCI_CONFIG, MT_OCI_MANIFEST};
use crate::reference::Reference;
use crate::store::{Image, Store};

/// What `commit` adds to the image besides the layer.
#[derive(Debug, Default, Clone)]
pub struct CommitOptions {
    /// `-a`: the config's `author`.
    pub author: Option<String>,
    /// `-m`: the history entry's comment.
    pub comment: Option<String>,
    /// `-c`: Dockerfile instructions applied to the config (CMD, ENV, LABEL, ...).
    pub changes: Vec<String>,
    /// The name to give the image (none: `<none>`).
    pub name: Option<Reference>,
    /// The history entry's `created_by` (Docker: the container's command).
    pub created_by: String,
    /// Relative paths in the upper dir that are the runtime's mount points, not changes.
    pub skip: Vec<String>,
}

/// Packs `upper` as a new layer on `base` and names the image; a failure takes back the
/// blobs it wrote.
pub fn commit(store: &Store, base: &Image, upper: &Path, o: &CommitOptions) -> Result<Image> {
    store.transaction(|| commit_one(store, base, upper, o))
}

fn commit_one(store: &Store, base: &Image, upper: &Path, o: &CommitOptions) -> Result<Image> {
    let mut config = base.config.clone();
    for c in &o.changes {
        apply_change(&mut config.config, c)?;
    }
    let p = pack::pack_except(store, upper, &o.skip)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    config.created = Some(now.clone());
    config.rootfs.diff_ids.push(p.diff_id.clone());
    config.history.push(History {
        created: Some(now),
        created_by: Some(o.created_by.clone()),
        comment: o.comment.clone().filter(|c| !c.is_empty()),
        empty_layer: false,
    });
    match &o.author {
        Some(a) => {
            config
                .other
                .insert("author".into(), serde_json::Value::String(a.clone()));
        }
        None => {
            config.other.remove("author");
        }
    }
    let cbytes = serde_json::to_vec(&config).map_err(|e| Error::Invalid(e.to_string()))?;
    let cd = store.put_bytes(&cbytes)?;
    let mut layers = base.manifest.layers.clone();
    layers.push(p.descriptor);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MT_OCI_MANIFEST.to_string()),
        config: Descriptor::new(MT_OCI_CONFIG, cd, cbytes.len() as u64),
        layers,
        annotations: BTreeMap::new(),
    };
    let mbytes = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    let md = store.put_bytes(&mbytes)?;
    let img = store.load_image(&md, o.name.iter().cloned().collect())?;
    // Nothing is named before its layers are in place (the new one unpacked from its blob).
    crate::layers::ensure(store, &img.manifest.layers, &img.config)?;
    store.name_image(&img)?;
    Ok(img)
}

/// One change of `docker diff`: `A` added, `C` changed, `D` deleted, and the path (with a
/// leading `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: char,
    pub path: String,
}

/// The changes an upper dir holds over its `lower` dirs (top first), in path order; the
/// entries at `skip` are left out. A directory present below is `C` when anything in it
/// changed; everything inside an added directory is `A`.
pub fn changes(upper: &Path, lower: &[PathBuf], skip: &[String]) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    walk(upper, "", lower, skip, &mut out)?;
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &str,
    lower: &[PathBuf],
    skip: &[String],
    out: &mut Vec<Change>,
) -> Result<()> {
    let names = crate::build::pack::sorted_names(dir)?;
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if skip.contains(&path) {
            continue;
        }
        let p = dir.join(&name);
        let m = fs::symlink_metadata(&p).ctx("stat", &p)?;
        let below = lower
            .iter()
            .any(|l| fs::symlink_metadata(l.join(&path)).is_ok());
        let kind = if m.file_type().is_char_device() && m.rdev() == 0 {
            'D'
        } else if below {
            'C'
        } else {
            'A'
        };
        out.push(Change {
            kind,
            path: format!("/{path}"),
        });
        if m.is_dir() {
            walk(&p, &path, lower, skip, out)?;
        }
    }
    Ok(())
}

/// Writes the tree at `dir` as a tar (entries relative to it, in name order, symlinks as
/// links, sockets left out) to `out`, without the entries at `skip`: `export`.
pub fn tar_tree(dir: &Path, skip: &[String], out: &mut dyn std::io::Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    add_tree(&mut b, dir, "", skip)?;
    b.into_inner()
        .ctx("finish tar", dir)?
        .flush()
        .ctx("write tar", dir)
}

fn add_tree(
    b: &mut tar::Builder<&mut dyn std::io::Write>,
    dir: &Path,
    rel: &str,
    skip: &[String],
) -> Result<()> {
    let names = crate::build::pack::sorted_names(dir)?;
    for name in names {
        let path = if rel.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{rel}/{}", name.to_string_lossy())
        };
        if skip.contains(&path) {
            continue;
        }
        let p = dir.join(&name);
        let m = fs::symlink_metadata(&p).ctx("stat", &p)?;
        if m.file_type().is_socket() {
            continue;
        }
        // Directories named with a trailing slash, as `docker export`'s tar lists them.
        let name = if m.is_dir() {
            format!("{path}/")
        } else {
            path.clone()
        };
        b.append_path_with_name(&p, &name)
            .ctx("write tar entry", &p)?;
        if m.is_dir() {
            add_tree(b, &p, &path, skip)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_added_changed_deleted() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        fs::create_dir(lower.path().join("etc")).unwrap();
        fs::write(lower.path().join("etc/motd"), "hi").unwrap();
        fs::write(lower.path().join("gone"), "x").unwrap();
        fs::create_dir(upper.path().join("etc")).unwrap();
        fs::write(upper.path().join("etc/motd"), "bye").unwrap();
        fs::create_dir(upper.path().join("new")).unwrap();
        fs::write(upper.path().join("new/f"), "").unwrap();
        fs::write(upper.path().join("etc/hosts"), "").unwrap();
        nix::sys::stat::mknod(
            &upper.path().join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let c = changes(
            upper.path(),
            &[lower.path().to_path_buf()],
            &["etc/hosts".into()],
        )
        .unwrap();
        let got: Vec<String> = c.iter().map(|c| format!("{} {}", c.kind, c.path)).collect();
        assert_eq!(
            got,
            ["C /etc", "C /etc/motd", "D /gone", "A /new", "A /new/f"]
        );
    }
}
