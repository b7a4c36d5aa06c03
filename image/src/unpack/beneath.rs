//! Paths beneath the layer root: a layer's names normalised (absolute and `..` refused),
//! directories opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, missing parents
//! made, and an existing name replaced, never written through.

use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, FchmodatFlags, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::{invalid, io_err, UnpackError};

/// Normalises a layer path into `out`: `.` components go; absolute paths and `..` (how a layer
/// would name something outside its directory) are refused with false.
pub(super) fn normalise(path: &Path, out: &mut PathBuf) -> bool {
    out.as_mut_os_string().clear();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::RootDir | Component::ParentDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Opens a directory strictly beneath `dir`, never through a symlink: a symlink made earlier in
/// the layer fails with ELOOP and an escape with EXDEV instead of being followed.
pub(super) fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
) -> Result<OwnedFd, Errno> {
    let resolve = ResolveFlag::RESOLVE_BENEATH
        | ResolveFlag::RESOLVE_NO_SYMLINKS
        | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    let flags = flags | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    openat2(dir, path, OpenHow::new().flags(flags).resolve(resolve))
}

/// Returns the parent directory's fd, from the cache when the previous entry had the same one.
/// Missing parents are created 0755 (tar streams may omit them), each component opened
/// beneath the previous one without following symlinks.
pub(super) fn resolve_parent<'a>(
    root: &'a OwnedFd,
    cached: &'a mut Option<(PathBuf, OwnedFd)>,
    parent: &Path,
    entry: &Path,
) -> Result<BorrowedFd<'a>, UnpackError> {
    if parent.as_os_str().is_empty() {
        return Ok(root.as_fd());
    }
    if !matches!(cached, Some((p, _)) if p.as_os_str() == parent.as_os_str()) {
        let map = |e: Errno| match e {
            Errno::ELOOP | Errno::EXDEV => UnpackError::ParentSymlink {
                entry: entry.into(),
                parent: parent.into(),
            },
            Errno::ENOTDIR => invalid(entry, format!("parent {parent:?} is not a directory")),
            e => io_err(entry, "open parent directory")(e),
        };
        let fd = match open_beneath(root.as_fd(), parent, OFlag::O_PATH) {
            Err(Errno::ENOENT) => {
                let mut cur = None::<OwnedFd>;
                for c in parent.iter().map(Path::new) {
                    let dir = cur.as_ref().map_or(root.as_fd(), |f| f.as_fd());
                    let next = match open_beneath(dir, c, OFlag::O_PATH) {
                        Err(Errno::ENOENT) => {
                            let mode = Mode::from_bits_truncate(0o755);
                            mkdirat(dir, c, mode).map_err(io_err(entry, "create parent"))?;
                            // Explicitly, so that the umask does not decide. We just made it
                            // a directory: there is no symlink to follow.
                            let chmod = fchmodat(dir, c, mode, FchmodatFlags::FollowSymlink);
                            chmod.map_err(io_err(entry, "chmod parent"))?;
                            open_beneath(dir, c, OFlag::O_PATH)
                        }
                        r => r,
                    };
                    cur = Some(next.map_err(map)?);
                }
                cur.ok_or_else(|| map(Errno::ENOENT))?
            }
            r => r.map_err(map)?,
        };
        *cached = Some((parent.to_path_buf(), fd));
    }
    let cached: &'a Option<(PathBuf, OwnedFd)> = cached;
    let fd = cached.as_ref().map(|(_, fd)| fd.as_fd());
    fd.ok_or_else(|| io_err(entry, "open parent directory")(Errno::ENOENT))
}

/// Where an entry goes: a name in its already verified parent directory.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub(super) dir: BorrowedFd<'a>,
    pub(super) name: &'a OsStr,
    /// The entry's path as the layer wrote it, for messages.
    pub(super) entry: &'a Path,
    /// Set when a directory was removed, which may invalidate the cached parent fd.
    pub(super) removed_dir: &'a Cell<bool>,
}

impl<'a> At<'a> {
    pub(super) fn err(self, op: &'static str) -> impl FnOnce(Errno) -> UnpackError + 'a {
        io_err(self.entry, op)
    }

    /// Runs `create`; if the name exists (layers may repeat a path, and the later entry wins),
    /// removes what is there and runs it once more. The old entry is never written through.
    pub(super) fn replace<T>(self, create: impl Fn() -> Result<T, Errno>) -> Result<T, Errno> {
        match create() {
            Err(Errno::EEXIST) => {
                self.remove(false)?;
                create()
            }
            r => r,
        }
    }

    /// Removes the name unless it is a directory and `keep_dir`; returns whether it was kept.
    pub(super) fn remove(self, keep_dir: bool) -> Result<bool, Errno> {
        let st = fstatat(self.dir, self.name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            unlinkat(self.dir, self.name, UnlinkatFlags::NoRemoveDir)?;
            return Ok(false);
        }
        if keep_dir {
            return Ok(true);
        }
        // A directory replaced by a non-directory goes with all it holds. The path runs through
        // our own verified fd of its parent, and remove_dir_all never follows symlinks.
        let mut path = OsString::from(format!("/proc/self/fd/{}/", self.dir.as_raw_fd()));
        path.push(self.name);
        let removed = std::fs::remove_dir_all(&path);
        removed.map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        self.removed_dir.set(true);
        Ok(false)
    }
}
