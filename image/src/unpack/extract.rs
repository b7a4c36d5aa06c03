//! The tar side of unpacking: each entry's metadata (header and PAX records), dispatch by
//! entry kind, regular files written through their fd, and directory modes and times applied
//! once every entry is in place.

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag, AT_FDCWD};
use nix::sys::stat::{fchmod, fstat, futimens, makedev, mknodat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, geteuid, symlinkat, Gid, Uid};

use super::beneath::{normalise, open_beneath, resolve_parent, At};
use super::kinds::{hard_link, set_xattrs, whiteout, WHITEOUT_PREFIX};
use super::pipeline::{ChunkReader, HashState, CHUNK};
use super::sys::XattrTarget;
use super::{escape, invalid, io_err, UnpackError};

/// Metadata of one entry, from its header and PAX records.
pub(super) struct Meta {
    pub(super) mode: Mode,
    /// None when we are not root: we could only give files to ourselves.
    pub(super) owner: Option<(Uid, Gid)>,
    pub(super) mtime: TimeSpec,
    pub(super) xattrs: Vec<(CString, Vec<u8>)>,
}

/// Directory metadata applied once every entry is written: creating children changes a
/// directory's mtime, and a read-only mode must not stop later entries.
pub(super) struct DirMeta {
    pub(super) path: PathBuf,
    pub(super) mode: Mode,
    pub(super) mtime: TimeSpec,
}

pub(super) struct Extractor {
    root: OwnedFd,
    /// The last parent directory resolved: layers list files directory by directory.
    cached: Option<(PathBuf, OwnedFd)>,
    dirs: Vec<DirMeta>,
    /// The entry path as the layer wrote it (for messages) and normalised; reused buffers.
    name: PathBuf,
    path: PathBuf,
    buf: Vec<u8>,
    root_user: bool,
}

impl Extractor {
    pub(super) fn open(dest: &Path) -> Result<Self, UnpackError> {
        let bad = |reason: String| UnpackError::Destination {
            path: dest.into(),
            reason,
        };
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let root = openat(AT_FDCWD, dest, flags, Mode::empty());
        let root = root.map_err(|e| bad(format!("not a directory: {}", io::Error::from(e))))?;
        let st = fstat(&root).map_err(|e| bad(io::Error::from(e).to_string()))?;
        if st.st_uid != geteuid().as_raw() {
            return Err(bad("not owned by us".into()));
        }
        let mut listing = std::fs::read_dir(dest).map_err(|e| bad(e.to_string()))?;
        if listing.next().is_some() {
            return Err(bad("not empty".into()));
        }
        let (cached, dirs, name, path) = (None, Vec::new(), PathBuf::new(), PathBuf::new());
        let (buf, root_user) = (vec![0; CHUNK], geteuid().is_root());
        Ok(Extractor {
            root,
            cached,
            dirs,
            name,
            path,
            buf,
            root_user,
        })
    }

    /// The extracting side. On success it keeps taking chunks until the reader is done, so
    /// that hanging up always means failure and the reader never blocks on a full channel.
    pub(super) fn extract(mut self, input: ChunkReader) -> Result<(u64, HashState), UnpackError> {
        let mut archive = tar::Archive::new(input);
        // We never call the crate's unpack; its own extraction knobs stay off all the same.
        archive.set_unpack_xattrs(false);
        archive.set_preserve_permissions(false);
        archive.set_preserve_ownerships(false);
        archive.set_preserve_mtime(false);
        archive.set_overwrite(false);
        archive.set_ignore_zeros(false);
        let mut entries = 0;
        for entry in archive.entries().map_err(UnpackError::Stream)? {
            let mut entry = entry.map_err(UnpackError::Stream)?;
            if !entry.header().entry_type().is_pax_global_extensions() {
                entries += 1;
                self.entry(&mut entry)?;
            }
        }
        self.finish()?;
        Ok((entries, archive.into_inner().drain()))
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = entry.path().map_err(UnpackError::Stream)?;
        self.name.as_mut_os_string().clear();
        self.name.as_mut_os_string().push(raw.as_os_str());
        // Pre-POSIX archives mark directories with a trailing slash only.
        let slash = raw.as_os_str().as_bytes().ends_with(b"/");
        if !normalise(&self.name, &mut self.path) {
            return Err(escape(&self.name));
        }
        let meta = self.meta(entry)?;
        let (Some(parent), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            // "./" itself: as in Docker's unpacker, the layer's root takes its mode (and
            // mtime) with the other directories at the end; its owner stays the caller's.
            if entry.header().entry_type().is_dir() || slash {
                let (path, mode, mtime) = (PathBuf::from("."), meta.mode, meta.mtime);
                self.dirs.push(DirMeta { path, mode, mtime });
            }
            return Ok(());
        };
        let entry_name = &self.name;
        let dir = resolve_parent(&self.root, &mut self.cached, parent, entry_name)?;
        let removed_dir = Cell::new(false);
        let at = At {
            dir,
            name,
            entry: entry_name,
            removed_dir: &removed_dir,
        };
        use tar::EntryType as T;
        match entry.header().entry_type() {
            _ if name.as_bytes().starts_with(WHITEOUT_PREFIX) => whiteout(at, &meta)?,
            T::Directory => at.make_dir(&self.path, meta, &mut self.dirs)?,
            T::Regular | T::Continuous | T::GNUSparse if slash => {
                at.make_dir(&self.path, meta, &mut self.dirs)?
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW;
                let create = || openat(dir, name, flags | OFlag::O_CLOEXEC, Mode::S_IRUSR);
                let fd = at.replace(create).map_err(at.err("create"))?;
                write_file(File::from(fd), entry, &mut self.buf, entry_name, &meta)?;
            }
            T::Symlink => {
                // Stored as-is: it is resolved later inside the container's root, never by us.
                let target = link_name(entry, entry_name)?;
                at.replace(|| symlinkat(&*target, dir, name))
                    .map_err(at.err("symlink"))?;
                at.finish_special(&meta, false)?;
            }
            T::Link => hard_link(
                self.root.as_fd(),
                at,
                &self.path,
                &link_name(entry, entry_name)?,
            )?,
            kind @ (T::Char | T::Block | T::Fifo) => {
                let hdr = entry.header();
                let dev = |v: io::Result<Option<u32>>| match v {
                    Ok(d) => Ok(u64::from(d.unwrap_or(0))),
                    Err(e) => Err(invalid(entry_name, format!("bad device number: {e}"))),
                };
                let sflag = match kind {
                    T::Char => SFlag::S_IFCHR,
                    T::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                // A FIFO has no device number; some writers leave the fields blank.
                let dev = match kind {
                    T::Fifo => 0,
                    _ => makedev(dev(hdr.device_major())?, dev(hdr.device_minor())?),
                };
                let create = || mknodat(dir, name, sflag, Mode::S_IRUSR, dev);
                at.replace(create).map_err(at.err("mknod"))?;
                at.finish_special(&meta, true)?;
            }
            other => {
                let kind = char::from(other.as_byte());
                return Err(invalid(
                    entry_name,
                    format!("unsupported entry type {kind:?}"),
                ));
            }
        }
        if removed_dir.get() {
            // The cached fd may have been that directory or beneath it.
            self.cached = None;
        }
        Ok(())
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<Meta, UnpackError> {
        let hdr = entry.header();
        let bad = |what: &str| invalid(&self.name, format!("bad {what}"));
        let id = |v: io::Result<u64>| v.ok().and_then(|v| u32::try_from(v).ok());
        // The tar crate has already folded PAX uid/gid records into the header.
        let (uid, gid) = (id(hdr.uid()), id(hdr.gid()));
        let (Some(uid), Some(gid)) = (uid, gid) else {
            return Err(bad("uid/gid"));
        };
        let owner = (Uid::from_raw(uid), Gid::from_raw(gid));
        let mode = Mode::from_bits_truncate(hdr.mode().map_err(|_| bad("mode"))? & 0o7777);
        let secs = hdr.mtime().map_err(|_| bad("mtime"))?;
        let mut mtime = TimeSpec::new(i64::try_from(secs).unwrap_or(i64::MAX), 0);
        let mut xattrs = Vec::new();
        let pax = entry.pax_extensions().map_err(UnpackError::Stream)?;
        for ext in pax.into_iter().flatten() {
            let ext = ext.map_err(UnpackError::Stream)?;
            let key = ext.key_bytes();
            if key == b"mtime" {
                mtime = parse_pax_time(ext.value_bytes()).ok_or_else(|| bad("PAX mtime"))?;
            } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                // overlayfs markers may only come from whiteout entries: a layer must not
                // smuggle in opaque/redirect/metacopy xattrs of its own.
                if !name.starts_with(b"trusted.overlay.") {
                    let name = CString::new(name).map_err(|_| bad("xattr name"))?;
                    xattrs.push((name, ext.value_bytes().to_vec()));
                }
            }
        }
        let owner = self.root_user.then_some(owner);
        Ok(Meta {
            mode,
            owner,
            mtime,
            xattrs,
        })
    }

    /// Applies directory modes and mtimes now that no more children will be created.
    fn finish(&mut self) -> Result<(), UnpackError> {
        self.cached = None;
        for d in &self.dirs {
            let fd = match open_beneath(self.root.as_fd(), &d.path, OFlag::O_RDONLY) {
                Ok(fd) => fd,
                // Replaced by a later entry of the layer: its metadata went with it.
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => return Err(io_err(&d.path, "open directory")(e)),
            };
            fchmod(&fd, d.mode).map_err(io_err(&d.path, "chmod"))?;
            futimens(&fd, &d.mtime, &d.mtime).map_err(io_err(&d.path, "set times"))?;
        }
        Ok(())
    }
}

/// "sec[.frac]" from a PAX time record.
pub(super) fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(v).ok()?;
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sec: i64 = sec.parse().ok()?;
    let digits = &frac[..frac.len().min(9)];
    let nsec = format!("{digits:0<9}").parse::<i64>().ok()?;
    if sec.is_negative() || (sec == 0 && s.starts_with('-')) {
        // "-1.25" is 1.25 s before the epoch: -2 s + 0.75 s.
        return Some(TimeSpec::new(
            sec - i64::from(nsec > 0),
            (1_000_000_000 - nsec) % 1_000_000_000,
        ));
    }
    Some(TimeSpec::new(sec, nsec))
}

fn link_name<'e, R: Read>(
    entry: &'e tar::Entry<'_, R>,
    name: &Path,
) -> Result<Cow<'e, Path>, UnpackError> {
    let target = entry.link_name().map_err(UnpackError::Stream)?;
    target.ok_or_else(|| invalid(name, "link without a target"))
}

/// Copies a regular file's data, then applies its metadata through the open fd.
fn write_file<R: Read>(
    mut file: File,
    entry: &mut tar::Entry<'_, R>,
    buf: &mut [u8],
    name: &Path,
    meta: &Meta,
) -> Result<(), UnpackError> {
    let (want, mut got) = (entry.size(), 0u64);
    let io = |op, source| UnpackError::Io {
        entry: name.into(),
        op,
        source,
    };
    loop {
        let n = match entry.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io("read", e)),
        };
        file.write_all(&buf[..n]).map_err(|e| io("write", e))?;
        got += n as u64;
    }
    if got != want {
        return Err(invalid(name, format!("truncated: {got} of {want} bytes")));
    }
    // Order matters: writing data and chown both clear setuid/setgid and file capabilities,
    // so the mode and the xattrs (security.capability) come after both.
    let err = |op| io_err(name, op);
    if let Some((uid, gid)) = meta.owner {
        fchown(&file, Some(uid), Some(gid)).map_err(err("chown"))?;
    }
    fchmod(&file, meta.mode).map_err(err("chmod"))?;
    set_xattrs(XattrTarget::Fd(file.as_fd()), &meta.xattrs, name)?;
    futimens(&file, &meta.mtime, &meta.mtime).map_err(err("set times"))
}
