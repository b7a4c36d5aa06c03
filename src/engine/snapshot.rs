//! A container's filesystem as data: `diff` (the overlay upper dir's changes), `commit`
//! (the upper dir as a new image layer, with image/src/commit.rs and the builder's packer)
//! and `export` (the merged root as a tar). The runtime's mount points (`/etc/hosts`,
//! `/etc/resolv.conf`, `/etc/hostname`, and `/proc`, `/sys`, `/dev` when the image had
//! none) are left out, as Docker's are.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use berth_image::commit::{Change, CommitOptions};
use berth_image::{rootfs, Image, Reference, Store};

use super::container::{Containers, Record, Status};
use super::lifecycle;

const MOUNT_FILES: &[&str] = &["etc/resolv.conf", "etc/hosts", "etc/hostname"];
const MOUNT_DIRS: &[&str] = &["proc", "sys", "dev", "etc"];

/// The container's upper dir, its image's layer dirs (top first) and the mount points to
/// leave out.
fn layout(
    cs: &Containers,
    rec: &Record,
    store: &Store,
) -> Result<(PathBuf, Vec<PathBuf>, Vec<String>)> {
    let dir = cs.dir_of(&rec.id);
    let (upper, _, _) = rootfs::paths(&dir);
    let lower: Vec<PathBuf> = std::fs::read_to_string(dir.join("layers"))
        .with_context(|| format!("read {}", dir.join("layers").display()))?
        .lines()
        .rev()
        .map(|h| format!("sha256:{h}").parse::<berth_image::Digest>())
        .collect::<std::result::Result<Vec<_>, _>>()?
        .iter()
        .map(|c| store.layer_dir(c))
        .collect();
    let skip = berth_image::build::pack::mount_points(&upper, &lower, MOUNT_FILES, MOUNT_DIRS);
    Ok((upper, lower, skip))
}

/// `diff`: what the container changed, added and deleted.
pub fn diff(root: &Path, name: &str) -> Result<Vec<Change>> {
    let cs = Containers::new(root);
    let rec = cs.find(name)?;
    let store = Store::open(root)?;
    let (upper, lower, skip) = layout(&cs, &rec, &store)?;
    Ok(berth_image::commit::changes(&upper, &lower, &skip)?)
}

/// What `commit` takes besides the container.
pub struct Commit {
    pub author: Option<String>,
    pub comment: Option<String>,
    pub changes: Vec<String>,
    pub name: Option<String>,
    /// Freeze a running container while its upper dir is packed.
    pub pause: bool,
}

/// `commit`: the container's changes as a new image on its own.
pub fn commit(root: &Path, name: &str, c: &Commit) -> Result<Image> {
    let cs = Containers::new(root);
    let rec = cs.find(name)?;
    let reference = c
        .name
        .as_deref()
        .map(|n| n.parse::<Reference>())
        .transpose()?;
    let store = Store::open(root)?;
    let base = store
        .resolve(&rec.image)
        .with_context(|| format!("the image of container {}", rec.bare_name()))?;
    let (upper, _, skip) = layout(&cs, &rec, &store)?;
    let freeze = c.pause && lifecycle::current_status(&cs, &rec) == Status::Running;
    if freeze {
        lifecycle::pause(&cs, &rec.id, true)?;
    }
    let mut cmd = vec![rec.path.clone()];
    cmd.extend(rec.args.iter().cloned());
    let o = CommitOptions {
        author: c.author.clone(),
        comment: c.comment.clone(),
        changes: c.changes.clone(),
        name: reference,
        created_by: cmd.join(" "),
        skip,
    };
    let res = berth_image::commit::commit(&store, &base, &upper, &o);
    if freeze {
        lifecycle::pause(&cs, &rec.id, false)?;
    }
    let img = res?;
    let mut extra = vec![("imageID", img.id().to_string())];
    if let Some(m) = &c.comment {
        extra.push(("comment", m.clone()));
    }
    super::events::container(root, &rec, "commit", &extra);
    let n = c.name.clone().unwrap_or_default();
    super::events::image(root, "commit", &img.id().to_string(), &n);
    Ok(img)
}

/// `export`: the container's merged root filesystem (without its volumes and the runtime's
/// mount points) as a tar to `out`. A stopped container's overlay is mounted in a mount
/// namespace of this process alone.
pub fn export(root: &Path, name: &str, out: &mut dyn Write) -> Result<()> {
    let cs = Containers::new(root);
    let rec = cs.find(name)?;
    let store = Store::open(root)?;
    let (_, lower, skip) = layout(&cs, &rec, &store)?;
    // Of the mount points, only those the image does not have: an unchanged /etc is the
    // image's /etc.
    let skip: Vec<String> = skip
        .into_iter()
        .filter(|p| !lower.iter().any(|l| l.join(p).symlink_metadata().is_ok()))
        .collect();
    let (_, _, rootfs_dir) = rootfs::paths(&cs.dir_of(&rec.id));
    if !super::base::is_mountpoint(&rootfs_dir) {
        super::start::mount_rootfs_privately(&cs, &rec, "export")?;
    }
    berth_image::commit::tar_tree(&rootfs_dir, &skip, out)
        .with_context(|| format!("export container {}", rec.bare_name()))
}
