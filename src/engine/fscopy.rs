//! Copying trees into and out of a container's root without ever following a link the
//! container controls (CVE-2018-15664): the top path is resolved with openat2
//! RESOLVE_IN_ROOT, and below it every entry is opened relative to its parent's fd with
//! O_NOFOLLOW. Used by `cp` and by a volume's copy-up.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::dir::Dir;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

const DIR: OFlag = OFlag::O_DIRECTORY
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC)
    .union(OFlag::O_RDONLY);

/// Opens `path` inside the root `root` (a directory fd), clamped to it.
pub fn open_in(root: &impl AsFd, path: &Path, flags: OFlag) -> Result<OwnedFd> {
    berth_runtime::rootfs::open_in_root(root, path, flags)
        .with_context(|| format!("open {} in the container", path.display()))
}

pub fn open_dir(p: &Path) -> Result<OwnedFd> {
    Ok(File::open(p)
        .with_context(|| format!("open {}", p.display()))?
        .into())
}

/// Splits a container path into its parent and last name (`/a/b/` → `/a`, `b`).
pub fn split(path: &Path) -> Result<(PathBuf, OsString)> {
    let mut parts: Vec<&OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let Some(last) = parts.pop() else {
        bail!("{}: no file name to copy", path.display());
    };
    let parent: PathBuf = std::iter::once(OsStr::new("/")).chain(parts).collect();
    Ok((parent, last.to_os_string()))
}

fn is_kind(mode: u32, kind: SFlag) -> bool {
    mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// Whether `name` in `dir` is a directory (not following a symlink).
pub fn is_dir_at(dir: &impl AsFd, name: &OsStr) -> bool {
    fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| is_kind(st.st_mode, SFlag::S_IFDIR))
}

/// Whether the directory `fd` has no entries.
pub fn is_empty_dir(fd: &impl AsFd) -> Result<bool> {
    let mut d = Dir::openat(fd.as_fd(), ".", DIR, Mode::empty())?;
    let empty = d
        .iter()
        .flatten()
        .all(|e| matches!(e.file_name().to_bytes(), b"." | b".."));
    Ok(empty)
}

/// Copies the entry `name` of directory `src` to `dname` in directory `dst`, recursively.
/// `keep_owner` keeps uid/gid (copy-up, `cp -a`); otherwise the copy belongs to root.
pub fn copy_entry(
    src: BorrowedFd<'_>,
    name: &OsStr,
    dst: BorrowedFd<'_>,
    dname: &OsStr,
    keep_owner: bool,
) -> Result<()> {
    let st = fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .with_context(|| format!("stat {}", name.to_string_lossy()))?;
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let (uid, gid) = if keep_owner {
        (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid))
    } else {
        (Uid::from_raw(0), Gid::from_raw(0))
    };
    let what = || dname.to_string_lossy().into_owned();
    if is_kind(st.st_mode, SFlag::S_IFDIR) {
        match mkdirat(dst, dname, Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).with_context(|| format!("mkdir {}", what())),
        }
        let s = openat(src, name, DIR, Mode::empty())
            .with_context(|| format!("open {}", name.to_string_lossy()))?;
        // A symlink where the directory should be is refused (O_NOFOLLOW), never followed.
        let d = openat(dst, dname, DIR, Mode::empty())
            .with_context(|| format!("open {} (not a directory?)", what()))?;
        let mut dir = Dir::openat(s.as_fd(), ".", DIR, Mode::empty())?;
        let names: Vec<OsString> = dir
            .iter()
            .flatten()
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
            .filter(|n| n != "." && n != "..")
            .collect();
        for n in names {
            copy_entry(s.as_fd(), &n, d.as_fd(), &n, keep_owner)?;
        }
        fchown(d.as_fd(), Some(uid), Some(gid)).with_context(|| format!("chown {}", what()))?;
        fchmod(d.as_fd(), mode).with_context(|| format!("chmod {}", what()))?;
    } else if is_kind(st.st_mode, SFlag::S_IFLNK) {
        let target = readlinkat(src, name)?;
        let _ = unlinkat(dst, dname, UnlinkatFlags::NoRemoveDir);
        symlinkat(target.as_os_str(), dst, dname).with_context(|| format!("symlink {}", what()))?;
        fchownat(
            dst,
            dname,
            Some(uid),
            Some(gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .with_context(|| format!("chown {}", what()))?;
    } else if is_kind(st.st_mode, SFlag::S_IFREG) {
        let s = openat(
            src,
            name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("open {}", name.to_string_lossy()))?;
        let flags = OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_TRUNC
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC;
        let d = match openat(dst, dname, flags, Mode::from_bits_truncate(0o600)) {
            // A symlink (or a directory) in the way is replaced, not followed.
            Err(nix::errno::Errno::ELOOP) => {
                unlinkat(dst, dname, UnlinkatFlags::NoRemoveDir)?;
                openat(dst, dname, flags, Mode::from_bits_truncate(0o600))
            }
            r => r,
        }
        .with_context(|| format!("create {}", what()))?;
        let mut from = File::from(s);
        let mut to = File::from(d);
        std::io::copy(&mut from, &mut to).with_context(|| format!("copy {}", what()))?;
        fchown(to.as_fd(), Some(uid), Some(gid)).with_context(|| format!("chown {}", what()))?;
        fchmod(to.as_fd(), mode).with_context(|| format!("chmod {}", what()))?;
    } else {
        // Devices, fifos and sockets are not copied (as `docker cp` without -a).
        return Ok(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths() {
        let (p, n) = split(Path::new("/a/b/")).unwrap();
        assert_eq!(
            (p.as_path(), n.as_os_str()),
            (Path::new("/a"), OsStr::new("b"))
        );
        let (p, n) = split(Path::new("../../etc/passwd")).unwrap();
        assert_eq!(
            (p.as_path(), n.as_os_str()),
            (Path::new("/etc"), OsStr::new("passwd"))
        );
        assert!(split(Path::new("/")).is_err());
    }

    #[test]
    fn copies_without_following_links() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("tree/sub")).unwrap();
        std::fs::write(src.join("tree/sub/f"), "data").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("tree/link")).unwrap();
        let dst = d.path().join("dst");
        std::fs::create_dir_all(&dst).unwrap();
        // A symlink in the destination where a file goes is replaced, not written through.
        std::fs::create_dir_all(dst.join("tree/sub")).unwrap();
        let outside = d.path().join("outside");
        std::fs::write(&outside, "keep").unwrap();
        std::os::unix::fs::symlink(&outside, dst.join("tree/sub/f")).unwrap();
        let s = open_dir(&src).unwrap();
        let t = open_dir(&dst).unwrap();
        copy_entry(
            s.as_fd(),
            OsStr::new("tree"),
            t.as_fd(),
            OsStr::new("tree"),
            true,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dst.join("tree/sub/f")).unwrap(),
            "data"
        );
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        assert_eq!(
            std::fs::read_link(dst.join("tree/link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(!is_empty_dir(&t).unwrap());
    }
}
