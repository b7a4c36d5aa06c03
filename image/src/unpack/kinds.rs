//! Entry kinds beyond regular files, as overlayfs wants them: directories (their metadata
//! deferred), symlinks, devices and FIFOs by name, hard links within the layer, OCI whiteouts
//! turned into overlayfs whiteouts and opaque markers, and xattrs.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode};
use nix::sys::stat::{SFlag, UtimensatFlags};
use nix::unistd::{fchownat, linkat};

use super::beneath::{normalise, open_beneath, At};
use super::extract::{DirMeta, Meta};
use super::sys::{set_xattr, XattrTarget};
use super::{escape, invalid, UnpackError};

pub(super) const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";

impl At<'_> {
    pub(super) fn make_dir(
        self,
        path: &Path,
        meta: Meta,
        dirs: &mut Vec<DirMeta>,
    ) -> Result<(), UnpackError> {
        // Owner-only until the end, when the real mode is applied with the mtime.
        let mkdir = || mkdirat(self.dir, self.name, Mode::S_IRWXU);
        match mkdir() {
            Err(Errno::EEXIST) if self.remove(true).map_err(self.err("replace"))? => {}
            Err(Errno::EEXIST) => mkdir().map_err(self.err("mkdir"))?,
            r => r.map_err(self.err("mkdir"))?,
        }
        self.chown(&meta)?;
        if !meta.xattrs.is_empty() {
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let fd = openat(self.dir, self.name, flags, Mode::empty());
            let fd = fd.map_err(self.err("open directory"))?;
            set_xattrs(XattrTarget::Fd(fd.as_fd()), &meta.xattrs, self.entry)?;
        }
        let (path, mode, mtime) = (path.into(), meta.mode, meta.mtime);
        dirs.push(DirMeta { path, mode, mtime });
        Ok(())
    }

    pub(super) fn chown(self, meta: &Meta) -> Result<(), UnpackError> {
        let Some((uid, gid)) = meta.owner else {
            return Ok(());
        };
        let nofollow = AtFlags::AT_SYMLINK_NOFOLLOW;
        fchownat(self.dir, self.name, Some(uid), Some(gid), nofollow).map_err(self.err("chown"))
    }

    /// Owner, mode (not for symlinks), xattrs and times of a symlink, device or FIFO, by name:
    /// these cannot be opened for writing like a file.
    pub(super) fn finish_special(self, meta: &Meta, chmod: bool) -> Result<(), UnpackError> {
        self.chown(meta)?;
        if chmod {
            // We just made it and it is not a symlink, so following is moot; glibc's emulation
            // of AT_SYMLINK_NOFOLLOW would need /proc for nothing.
            let follow = FchmodatFlags::FollowSymlink;
            fchmodat(self.dir, self.name, meta.mode, follow).map_err(self.err("chmod"))?;
        }
        set_xattrs(
            XattrTarget::Name(self.dir, self.name),
            &meta.xattrs,
            self.entry,
        )?;
        let (t, nofollow) = (&meta.mtime, UtimensatFlags::NoFollowSymlink);
        utimensat(self.dir, self.name, t, t, nofollow).map_err(self.err("set times"))
    }
}

/// A hard link names another path of this same layer: it is normalised and resolved beneath
/// the layer directory like any entry, so it can never link a host file into the layer.
pub(super) fn hard_link(
    root: BorrowedFd<'_>,
    at: At<'_>,
    path: &Path,
    target: &Path,
) -> Result<(), UnpackError> {
    let (entry, target) = (at.entry, target);
    let escape = || UnpackError::LinkEscape {
        entry: entry.into(),
        target: target.into(),
    };
    let missing = || {
        invalid(
            entry,
            format!("hard link target {target:?} does not exist in the layer"),
        )
    };
    let mut t = PathBuf::new();
    if !normalise(target, &mut t) {
        return Err(escape());
    }
    let (Some(tparent), Some(tname)) = (t.parent(), t.file_name()) else {
        return Err(escape());
    };
    if t == path {
        return Ok(());
    }
    let tdir = match tparent.as_os_str().is_empty() {
        true => None,
        false => Some(
            open_beneath(root, tparent, OFlag::O_PATH).map_err(|e| match e {
                Errno::ENOENT | Errno::ENOTDIR => missing(),
                _ => escape(),
            })?,
        ),
    };
    let tdir = tdir.as_ref().map_or(root, |d| d.as_fd());
    // No AT_SYMLINK_FOLLOW: linking a symlink links the symlink itself, never what it names.
    let link = || linkat(tdir, tname, at.dir, at.name, AtFlags::empty());
    at.replace(link).map_err(|e| match e {
        Errno::ENOENT => missing(),
        e => at.err("hard link")(e),
    })
}

/// OCI whiteouts in overlayfs form (image-spec layer.md, "Whiteouts").
pub(super) fn whiteout(at: At<'_>, meta: &Meta) -> Result<(), UnpackError> {
    let name = at.name.as_bytes();
    if name == WHITEOUT_OPAQUE {
        // The opaque marker goes on the parent; O_PATH fds carry no xattrs, so reopen it.
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let dir = openat(at.dir, ".", flags, Mode::empty()).map_err(at.err("open directory"))?;
        let opaque = set_xattr(
            XattrTarget::Fd(dir.as_fd()),
            c"trusted.overlay.opaque",
            b"y",
        );
        return opaque.map_err(at.err("set opaque xattr"));
    }
    if name.starts_with(WHITEOUT_META_PREFIX) {
        // Other ".wh..wh." names are aufs bookkeeping (.wh..wh.plnk); Docker skips them too.
        return Ok(());
    }
    let target = OsStr::from_bytes(&name[WHITEOUT_PREFIX.len()..]);
    if target.is_empty() || target == "." || target == ".." {
        return Err(escape(at.entry));
    }
    let at = At { name: target, ..at };
    // A whiteout hides only what lower layers hold (layer.md): if this layer already made the
    // name, that entry hides them anyway and stays. A later entry will replace the whiteout.
    match mknodat(at.dir, target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)) {
        Err(Errno::EEXIST) => Ok(()),
        r => r
            .map_err(at.err("create whiteout"))
            .and_then(|()| at.chown(meta)),
    }
}

/// `user.*` xattrs are optional metadata that some filesystems refuse (EOPNOTSUPP) and that
/// the kernel allows on files and directories only (EPERM): skipped there. Any other failure,
/// `security.capability` above all, is an error, never a silent loss.
pub(super) fn set_xattrs(
    to: XattrTarget<'_>,
    xattrs: &[(CString, Vec<u8>)],
    entry: &Path,
) -> Result<(), UnpackError> {
    for (key, value) in xattrs {
        match set_xattr(to, key, value) {
            Err(Errno::EOPNOTSUPP | Errno::EPERM) if key.to_bytes().starts_with(b"user.") => {}
            Err(e) => {
                return Err(invalid(
                    entry,
                    format!("set xattr {key:?}: {}", io::Error::from(e)),
                ));
            }
            Ok(()) => {}
        }
    }
    Ok(())
}
