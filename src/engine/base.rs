//! The engine's ground floor: container ids, exit codes, lock files and paths that every
//! other engine module uses. It imports no engine module but fsutil's constants.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg, OFlag};

/// A fresh 64-hex container id from the kernel's CSPRNG.
pub fn new_id() -> Result<String> {
    let mut b = [0u8; 32];
    let mut f = File::open("/dev/urandom").context("open /dev/urandom")?;
    std::io::Read::read_exact(&mut f, &mut b).context("read /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

pub use crate::exit::{exit_error, ExitError, EXIT_BERTH};

/// Takes a flock on `dir/name`, creating the file (0600) if needed. Only for a directory
/// this process made or holds: see [`lock_existing`] for one another process may remove.
pub fn lock_file_named(dir: &Path, name: &str, arg: FlockArg) -> Result<Flock<File>> {
    let p = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(super::fsutil::FILE_MODE)
        .custom_flags(OFlag::O_CLOEXEC.bits())
        .open(&p)
        .with_context(|| format!("open {}", p.display()))?;
    Flock::lock(f, arg).map_err(|(_, e)| anyhow::anyhow!("flock {}: {e}", p.display()))
}

/// A lock file that already exists, or `Ok(None)` when it (or its directory) is gone. Never
/// creates it: re-creating `.lock` inside a container directory that a monitor or another
/// `rm` is removing made that removal fail with "Directory not empty".
pub fn lock_existing(dir: &Path, name: &str, arg: FlockArg) -> Result<Option<Flock<File>>> {
    let p = dir.join(name);
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlag::O_CLOEXEC.bits())
        .open(&p)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("open {}", p.display()))),
    };
    match Flock::lock(f, arg) {
        Ok(l) => Ok(Some(l)),
        Err((_, e)) => Err(anyhow::anyhow!("flock {}: {e}", p.display())),
    }
}

pub(crate) fn lock_file(dir: &Path, arg: FlockArg) -> Result<Flock<File>> {
    lock_file_named(dir, ".lock", arg)
}

pub fn runtime_root(root: &Path) -> PathBuf {
    root.join("runtime")
}

/// Whether `p` is the root of a mount: one statx where the kernel reports it, else its
/// device differs from its parent's.
pub fn is_mountpoint(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let Some(root) = crate::sys::is_mount_root(p) {
        return root;
    }
    match (std::fs::metadata(p), p.parent().map(std::fs::metadata)) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}
