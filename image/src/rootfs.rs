//! Container root filesystems: the image's layers as the read-only lower dirs of an overlay
//! mount, a per-container upper and work dir for its writes. No copy per container.
//!
//! overlayfs takes all its options in one page (4096 bytes): 60 layers named by their full
//! store path would not fit. Like Docker's overlay2 `l/` directory, each layer gets a short
//! symlink in `<store>/links/`, and the mount is made with paths relative to it (the caller
//! is single-threaded while the working directory is moved there for the mount call).

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsmode;
use crate::store::Store;

/// Held while the working directory is moved for an overlay mount.
static CHDIR_MOUNT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Short, stable link name of a layer: 12 hex digits, longer only on a collision.
fn link_for(store: &Store, chain: &Digest) -> Result<String> {
    let links = store.dir().join("links");
    fsmode::ensure_dir(&links, fsmode::DIR)?;
    let target = Path::new("../layers").join(chain.hex());
    for len in [12, 20, 64] {
        let name = chain.hex()[..len].to_string();
        let p = links.join(&name);
        match std::fs::read_link(&p) {
            Ok(t) if t == target => return Ok(name),
            Ok(_) => continue, // another layer owns this prefix
            Err(_) => {}
        }
        match std::os::unix::fs::symlink(&target, &p) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if std::fs::read_link(&p).ok().as_deref() == Some(target.as_path()) {
                    return Ok(name);
                }
            }
            Err(e) => {
                return Err(Error::Io {
                    op: "symlink",
                    path: p,
                    err: e,
                })
            }
        }
    }
    Err(Error::Invalid(format!("no link name for layer {chain}")))
}

/// Mounts the layers (`chains`, bottom first) with `upper`/`work` at `target`. A `volatile`
/// mount never syncs its upper dir (overlayfs `volatile`): for a container whose writes are
/// thrown away with it (`--rm`), it saves the flush at unmount, which is most of its cost.
pub fn mount_overlay(
    store: &Store,
    chains: &[Digest],
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
) -> Result<()> {
    if chains.is_empty() {
        return Err(Error::Invalid(
            "an image without layers has no root filesystem".into(),
        ));
    }
    // The container sees the upper dir's mode as its `/` and the rootfs mountpoint's when
    // nothing is mounted: 0755 as Docker has them. The work dir is overlayfs' own. Existing
    // ones keep their mode (a container may have chmod'ed its `/`, which is the upper dir).
    fsmode::ensure_dir(upper, fsmode::VISIBLE_DIR)?;
    fsmode::ensure_dir(work, fsmode::DIR)?;
    fsmode::ensure_dir(target, fsmode::VISIBLE_DIR)?;
    // overlayfs lists the top layer first.
    let mut names = Vec::with_capacity(chains.len());
    for c in chains.iter().rev() {
        names.push(link_for(store, c)?);
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={},index=off{}",
        names.join(":"),
        upper.display(),
        work.display(),
        if volatile { ",volatile" } else { "" }
    );
    if data.len() >= 4096 {
        return Err(Error::Mount {
            target: target.to_path_buf(),
            msg: format!(
                "overlay options are {} bytes, over the kernel's page",
                data.len()
            ),
        });
    }
    // The working directory is the process's: threads that mount at once (a build's
    // parallel stages) take turns.
    let _turn = CHDIR_MOUNT.lock().unwrap_or_else(|p| p.into_inner());
    let cwd = std::env::current_dir().ctx("getcwd", ".")?;
    let links = store.dir().join("links");
    std::env::set_current_dir(&links).ctx("chdir", &links)?;
    let res = mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    );
    std::env::set_current_dir(&cwd).ctx("chdir", &cwd)?;
    res.map_err(|e| Error::Mount {
        target: target.to_path_buf(),
        msg: format!("overlay of {} layers: {e}", chains.len()),
    })
}

/// Unmounts a container root; "not mounted" counts as done.
pub fn unmount(target: &Path) -> Result<()> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => {
            umount2(target, MntFlags::MNT_DETACH).map_err(|e| Error::Mount {
                target: target.to_path_buf(),
                msg: format!("unmount: {e}"),
            })
        }
        Err(e) => Err(Error::Mount {
            target: target.to_path_buf(),
            msg: format!("unmount: {e}"),
        }),
    }
}

/// Detaches a container root from the mount tree at once and returns a descriptor that keeps
/// the overlay alive; None when nothing is mounted there. Whoever closes the last descriptor
/// pays for the overlay's end: a sync of the whole upper filesystem (10-600 ms on a host busy
/// writing), which a removal hands to its background deleter instead of waiting for it.
pub fn detach_holding(target: &Path) -> Result<Option<std::os::fd::OwnedFd>> {
    use nix::fcntl::{open, OFlag};
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match open(target, flags, nix::sys::stat::Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        Err(e) => {
            return Err(Error::Mount {
                target: target.to_path_buf(),
                msg: format!("open: {e}"),
            })
        }
    };
    match umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) => Ok(Some(fd)),
        Err(nix::errno::Errno::EINVAL) => Ok(None),
        Err(e) => Err(Error::Mount {
            target: target.to_path_buf(),
            msg: format!("unmount: {e}"),
        }),
    }
}

/// Paths of a container's overlay under its directory.
pub fn paths(container_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        container_dir.join("upper"),
        container_dir.join("work"),
        container_dir.join("rootfs"),
    )
}
