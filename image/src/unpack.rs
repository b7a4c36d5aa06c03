//! Layer unpacking: owns turning one layer blob into a directory, safely, with both its digests.
//!
//! One pass reads the blob: the raw bytes are hashed (the compressed digest), decompressed
//! (gzip or zstd, told by their magic bytes), hashed again (the diff_id) and parsed as tar.
//! Like `tar -xzf` piping from `gzip -d`, reading and decompressing run on the calling thread
//! (so `reader` need not be `Send`) and extraction on a second one.
//!
//! Every entry is created by this module with `*at` calls beneath one directory fd; the tar
//! crate's `Archive::unpack`/`Entry::unpack_in` are never used (CVE-2021-38511: a symlink
//! unpacked earlier in the archive redirected a later entry outside the destination). Parent
//! directories are opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, absolute and
//! `..` paths are refused, and an existing name is unlinked rather than written through, so
//! nothing in a layer can make us write outside `dest`. Whiteouts follow the OCI image spec
//! (layer.md, "Whiteouts") in overlayfs form: `.wh.NAME` becomes a 0/0 character device NAME
//! and `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory.

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, AtFlags, OFlag, OpenHow, ResolveFlag, AT_FDCWD};
use nix::sys::stat::{fchmod, fchmodat, fstat, fstatat, futimens, makedev, mkdirat, mknodat};
use nix::sys::stat::{utimensat, FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::UnlinkatFlags;
use nix::unistd::{fchown, fchownat, geteuid, linkat, symlinkat, unlinkat, Gid, Uid};
use sha2::{Digest, Sha256};

/// Raw input is read in big pieces: fewer read calls, bigger hash updates.
const INPUT_BUF: usize = 1 << 20;
/// Decompressed tar goes to the extracting thread in chunks of this size...
const CHUNK: usize = 1 << 20;
/// ...with this many in flight, so neither thread waits on the other's every step.
const CHUNKS_IN_FLIGHT: usize = 8;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";

/// The compression of a layer blob, told apart by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// gzip starts with 1f 8b, zstd with 28 b5 2f fd; anything else is taken as plain tar.
    pub fn detect(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// What one unpacked layer was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// `sha256:<hex>` of the bytes as read (the blob digest in the manifest).
    pub compressed_digest: String,
    /// `sha256:<hex>` of the uncompressed tar stream (the diff_id in the image config).
    pub diff_id: String,
    pub compressed_size: u64,
    /// Tar entries seen, PAX global headers not counted.
    pub entries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer destination {path:?}: {reason}")]
    Destination { path: PathBuf, reason: String },
    #[error("reading layer stream: {0}")]
    Stream(#[source] io::Error),
    #[error("starting the extraction thread: {0}")]
    Thread(#[source] io::Error),
    #[error("layer entry {entry:?}: path escapes the layer directory")]
    Escape { entry: PathBuf },
    #[error("layer entry {entry:?}: hard link target {target:?} escapes the layer directory")]
    LinkEscape { entry: PathBuf, target: PathBuf },
    #[error(
        "layer entry {entry:?}: parent {parent:?} is a symlink or escapes the layer directory"
    )]
    ParentSymlink { entry: PathBuf, parent: PathBuf },
    #[error("layer entry {entry:?}: {reason}")]
    Invalid { entry: PathBuf, reason: String },
    #[error("layer entry {entry:?}: {op}: {source}")]
    Io {
        entry: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("malformed digest {digest:?}: expected \"sha256:\" and 64 hex digits")]
    MalformedDigest { digest: String },
    #[error("{which} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        which: &'static str,
        expected: String,
        actual: String,
    },
}

/// Reads `reader` to EOF (even after the tar end-of-archive blocks: digests must cover every
/// byte), detects compression from the first bytes, unpacks into `dest` (must exist, be empty,
/// and be a directory we own), verifies the digests if expected values are given.
pub fn unpack_layer<R: Read>(
    reader: R,
    dest: &Path,
    expect_compressed: Option<&str>,
    expect_diff_id: Option<&str>,
) -> Result<Unpacked, UnpackError> {
    // Malformed expectations fail before any work is done.
    let expect_compressed = expect_compressed.map(parse_digest).transpose()?;
    let expect_diff_id = expect_diff_id.map(parse_digest).transpose()?;
    let ex = Extractor::open(dest)?;
    let mut raw_hash = HashState::default();
    let (tx, rx) = mpsc::sync_channel(CHUNKS_IN_FLIGHT);
    // Used chunks come back to be filled again instead of being freed and reallocated.
    let (free_tx, free_rx) = mpsc::channel();
    let (read, extracted) = std::thread::scope(|s| {
        let input = ChunkReader::new(rx, free_tx);
        let worker = std::thread::Builder::new().name("layer-extract".into());
        let worker = worker.spawn_scoped(s, move || ex.extract(input));
        let worker = worker.map_err(UnpackError::Thread)?;
        let read = read_layer(reader, &mut raw_hash, &tx, &free_rx);
        drop(tx);
        Ok((read, worker.join()))
    })?;
    let (entries, tar_hash) = match (read, extracted) {
        (_, Err(panic)) => std::panic::resume_unwind(panic),
        // A broken stream is the cause of whatever the extractor made of its truncated tar.
        (Err(e), _) | (Ok(_), Ok(Err(e))) => return Err(e),
        (Ok(true), Ok(Ok(done))) => done,
        (Ok(false), Ok(Ok(_))) => return Err(UnpackError::Stream(io::Error::other("hung up"))),
    };
    let out = Unpacked {
        compressed_digest: raw_hash.digest(),
        diff_id: tar_hash.digest(),
        compressed_size: raw_hash.len,
        entries,
    };
    check_digest("compressed", expect_compressed, &out.compressed_digest)?;
    check_digest("diff_id", expect_diff_id, &out.diff_id)?;
    Ok(out)
}

/// The reading side: hashes the raw bytes, decompresses and sends the tar on in chunks, to the
/// end of the input. Returns false if the extractor hung up (it failed: see `extract`).
fn read_layer<R: Read>(
    reader: R,
    raw_hash: &mut HashState,
    tx: &SyncSender<Vec<u8>>,
    free: &Receiver<Vec<u8>>,
) -> Result<bool, UnpackError> {
    let mut raw = HashingReader {
        inner: reader,
        state: raw_hash,
    };
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut raw, &mut magic).map_err(UnpackError::Stream)?;
    let input = BufReader::with_capacity(INPUT_BUF, (&magic[..n]).chain(raw));
    // Both decoders read their input to its very end (more gzip members, more zstd frames) or
    // fail on trailing junk, so the decompressed EOF is the raw EOF: nothing goes unhashed.
    let mut tar: Box<dyn Read> = match Compression::detect(&magic[..n]) {
        Compression::None => Box::new(input),
        // Multi-member like Go's gzip.Reader, which containerd and Docker use.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => {
            Box::new(zstd::Decoder::with_buffer(input).map_err(UnpackError::Stream)?)
        }
    };
    loop {
        let mut chunk = free.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let n = read_up_to(&mut tar, &mut chunk).map_err(UnpackError::Stream)?;
        if n == 0 {
            return Ok(true);
        }
        chunk.truncate(n);
        if tx.send(chunk).is_err() {
            return Ok(false);
        }
    }
}

fn parse_digest(d: &str) -> Result<String, UnpackError> {
    match d.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
        }
        _ => Err(UnpackError::MalformedDigest { digest: d.into() }),
    }
}

fn check_digest(which: &'static str, want: Option<String>, got: &str) -> Result<(), UnpackError> {
    match want {
        Some(expected) if expected != got => {
            let actual = got.to_string();
            Err(UnpackError::DigestMismatch {
                which,
                expected,
                actual,
            })
        }
        _ => Ok(()),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[derive(Default)]
struct HashState {
    sha: Sha256,
    len: u64,
}

impl HashState {
    fn update(&mut self, data: &[u8]) {
        self.sha.update(data);
        self.len += data.len() as u64;
    }

    fn digest(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::from("sha256:");
        for b in self.sha.clone().finalize().iter() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }
}

/// Hashes every byte that passes through, so the digest comes with the one streaming pass.
struct HashingReader<'h, R> {
    inner: R,
    state: &'h mut HashState,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.update(&buf[..n]);
        Ok(n)
    }
}

/// The extracting side's view of the tar stream: chunks from the reading thread, hashed here
/// for the diff_id (this thread has more time to spare); EOF when the reader hangs up.
struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    free: Sender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    hash: HashState,
}

impl ChunkReader {
    fn new(rx: Receiver<Vec<u8>>, free: Sender<Vec<u8>>) -> Self {
        let (chunk, pos, hash) = (Vec::new(), 0, HashState::default());
        ChunkReader {
            rx,
            free,
            chunk,
            pos,
            hash,
        }
    }

    /// Hashes whatever follows the end-of-archive blocks: not extracted, but part of the diff_id.
    fn drain(mut self) -> HashState {
        for chunk in self.rx {
            self.hash.update(&chunk);
        }
        self.hash
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            let Ok(next) = self.rx.recv() else {
                return Ok(0);
            };
            self.hash.update(&next);
            // The reader may be gone already; then the chunk is simply dropped.
            let _ = self.free.send(std::mem::replace(&mut self.chunk, next));
            self.pos = 0;
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Normalises a layer path into `out`: `.` components go; absolute paths and `..` (how a layer
/// would name something outside its directory) are refused with false.
fn normalise(path: &Path, out: &mut PathBuf) -> bool {
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
fn open_beneath(dir: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let resolve = ResolveFlag::RESOLVE_BENEATH
        | ResolveFlag::RESOLVE_NO_SYMLINKS
        | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    let flags = flags | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    openat2(dir, path, OpenHow::new().flags(flags).resolve(resolve))
}

fn io_err<'a>(entry: &'a Path, op: &'static str) -> impl FnOnce(Errno) -> UnpackError + 'a {
    move |e| UnpackError::Io {
        entry: entry.into(),
        op,
        source: e.into(),
    }
}

fn invalid(entry: &Path, reason: impl Into<String>) -> UnpackError {
    let (entry, reason) = (entry.into(), reason.into());
    UnpackError::Invalid { entry, reason }
}

fn escape(entry: &Path) -> UnpackError {
    UnpackError::Escape {
        entry: entry.into(),
    }
}

/// Metadata of one entry, from its header and PAX records.
struct Meta {
    mode: Mode,
    /// None when we are not root: we could only give files to ourselves.
    owner: Option<(Uid, Gid)>,
    mtime: TimeSpec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// Directory metadata applied once every entry is written: creating children changes a
/// directory's mtime, and a read-only mode must not stop later entries.
struct DirMeta {
    path: PathBuf,
    mode: Mode,
    mtime: TimeSpec,
}

struct Extractor {
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
    fn open(dest: &Path) -> Result<Self, UnpackError> {
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
    fn extract(mut self, input: ChunkReader) -> Result<(u64, HashState), UnpackError> {
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
fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
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

/// Returns the parent directory's fd, from the cache when the previous entry had the same one.
/// Missing parents are created 0755 (tar streams may omit them), each component opened
/// beneath the previous one without following symlinks.
fn resolve_parent<'a>(
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
struct At<'a> {
    dir: BorrowedFd<'a>,
    name: &'a OsStr,
    /// The entry's path as the layer wrote it, for messages.
    entry: &'a Path,
    /// Set when a directory was removed, which may invalidate the cached parent fd.
    removed_dir: &'a Cell<bool>,
}

impl<'a> At<'a> {
    fn err(self, op: &'static str) -> impl FnOnce(Errno) -> UnpackError + 'a {
        io_err(self.entry, op)
    }

    /// Runs `create`; if the name exists (layers may repeat a path, and the later entry wins),
    /// removes what is there and runs it once more. The old entry is never written through.
    fn replace<T>(self, create: impl Fn() -> Result<T, Errno>) -> Result<T, Errno> {
        match create() {
            Err(Errno::EEXIST) => {
                self.remove(false)?;
                create()
            }
            r => r,
        }
    }

    /// Removes the name unless it is a directory and `keep_dir`; returns whether it was kept.
    fn remove(self, keep_dir: bool) -> Result<bool, Errno> {
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

    fn make_dir(self, path: &Path, meta: Meta, dirs: &mut Vec<DirMeta>) -> Result<(), UnpackError> {
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

    fn chown(self, meta: &Meta) -> Result<(), UnpackError> {
        let Some((uid, gid)) = meta.owner else {
            return Ok(());
        };
        let nofollow = AtFlags::AT_SYMLINK_NOFOLLOW;
        fchownat(self.dir, self.name, Some(uid), Some(gid), nofollow).map_err(self.err("chown"))
    }

    /// Owner, mode (not for symlinks), xattrs and times of a symlink, device or FIFO, by name:
    /// these cannot be opened for writing like a file.
    fn finish_special(self, meta: &Meta, chmod: bool) -> Result<(), UnpackError> {
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
fn hard_link(
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
fn whiteout(at: At<'_>, meta: &Meta) -> Result<(), UnpackError> {
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

#[derive(Clone, Copy)]
enum XattrTarget<'a> {
    Fd(BorrowedFd<'a>),
    /// A name in a directory, not followed if it is a symlink.
    Name(BorrowedFd<'a>, &'a OsStr),
}

fn set_xattr(target: XattrTarget<'_>, key: &CStr, value: &[u8]) -> Result<(), Errno> {
    let (v, len) = (value.as_ptr().cast(), value.len());
    let rc = match target {
        // SAFETY: `fd` is borrowed, so open for the whole call; `key` is NUL-terminated; `v`
        // and `len` describe one live slice that the kernel only reads.
        XattrTarget::Fd(fd) => unsafe { libc::fsetxattr(fd.as_raw_fd(), key.as_ptr(), v, len, 0) },
        XattrTarget::Name(dir, name) => {
            // No lsetxattrat before Linux 6.13: name the entry through our verified parent
            // fd's /proc link; lsetxattr does not follow the final component.
            let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            p.extend_from_slice(name.as_bytes());
            let p = CString::new(p).map_err(|_| Errno::EINVAL)?;
            // SAFETY: `p` and `key` are NUL-terminated and outlive the call; `v` and `len`
            // describe one live slice that the kernel only reads.
            unsafe { libc::lsetxattr(p.as_ptr(), key.as_ptr(), v, len, 0) }
        }
    };
    Errno::result(rc).map(drop)
}

/// `user.*` xattrs are optional metadata that some filesystems refuse (EOPNOTSUPP) and that
/// the kernel allows on files and directories only (EPERM): skipped there. Any other failure,
/// `security.capability` above all, is an error, never a silent loss.
fn set_xattrs(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use tar::{Builder, EntryType, Header};

    /// A header with the name written byte for byte: the tar crate refuses `..` and absolute
    /// paths in `set_path`, and malicious layers are exactly what we need to write.
    fn header(name: &str, kind: EntryType, size: u64, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h
    }

    #[derive(Default)]
    struct Layer(Vec<u8>);

    impl Layer {
        fn add(self, mut h: Header, data: &[u8]) -> Self {
            h.set_cksum();
            self.build(|b| b.append(&h, data))
        }
        fn build(mut self, f: impl FnOnce(&mut Builder<Vec<u8>>) -> io::Result<()>) -> Self {
            let mut b = Builder::new(std::mem::take(&mut self.0));
            f(&mut b).unwrap();
            self.0 = b.into_inner().unwrap();
            // into_inner wrote the 1024-byte end marker: drop it to keep appending.
            self.0.truncate(self.0.len() - 1024);
            self
        }
        fn file(self, name: &str, data: &str) -> Self {
            self.add(
                header(name, EntryType::Regular, data.len() as u64, 0o644),
                data.as_bytes(),
            )
        }
        fn dir(self, name: &str) -> Self {
            self.add(header(name, EntryType::Directory, 0, 0o755), b"")
        }
        fn link(self, name: &str, kind: EntryType, target: &str) -> Self {
            let mut h = header(name, kind, 0, 0o777);
            h.set_link_name_literal(target).unwrap();
            self.add(h, b"")
        }
        fn pax(self, ext: &[(&str, &[u8])]) -> Self {
            self.build(|b| b.append_pax_extensions(ext.iter().copied()))
        }
        fn finish(mut self) -> Vec<u8> {
            self.0.extend_from_slice(&[0; 1024]);
            self.0
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn sha(data: &[u8]) -> String {
        let mut h = HashState::default();
        h.sha.update(data);
        h.digest()
    }

    fn is_root() -> bool {
        geteuid().is_root()
    }

    /// A tempdir with an empty `dest` to unpack into and an empty sibling `outside`.
    fn scratch() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let (dest, outside) = (t.path().join("dest"), t.path().join("outside"));
        std::fs::create_dir(&dest).unwrap();
        std::fs::create_dir(&outside).unwrap();
        (t, dest, outside)
    }

    fn unpack(layer: &[u8], dest: &Path) -> Result<Unpacked, UnpackError> {
        unpack_layer(layer, dest, None, None)
    }

    fn get_xattr(path: &Path, name: &CStr) -> Option<Vec<u8>> {
        let p = CString::new(path.as_os_str().as_bytes()).unwrap();
        let mut buf = [0u8; 256];
        // SAFETY: both strings are NUL-terminated and the buffer pointer/length are one live array.
        let n = unsafe {
            libc::lgetxattr(
                p.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        (n >= 0).then(|| buf[..n as usize].to_vec())
    }

    fn fs_has_user_xattrs(dir: &Path) -> bool {
        let probe = dir.join("probe");
        std::fs::write(&probe, b"").unwrap();
        let ok = set_xattr_path(&probe, c"user.probe", b"1");
        std::fs::remove_file(&probe).unwrap();
        ok
    }

    fn set_xattr_path(path: &Path, name: &CStr, value: &[u8]) -> bool {
        let f = File::open(path).unwrap();
        set_xattr(XattrTarget::Fd(f.as_fd()), name, value).is_ok()
    }

    #[test]
    fn pax_times() {
        let t = |v: &str| parse_pax_time(v.as_bytes()).map(|t| (t.tv_sec(), t.tv_nsec()));
        assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(t("1700000000.5"), Some((1_700_000_000, 500_000_000)));
        assert_eq!(t("1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(t("-0.5"), Some((-1, 500_000_000)));
        assert_eq!(t("-3"), Some((-3, 0)));
        assert_eq!(t("1.12345678\u{e9}"), None);
        assert_eq!(t("1.+5"), None);
        assert_eq!(t("x"), None);
    }

    #[test]
    fn detects_compression() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"etc/"), Compression::None);
        assert_eq!(Compression::detect(&[0x1f]), Compression::None);
    }

    #[test]
    fn normal_layer() {
        let (_t, dest, _) = scratch();
        let mut suid = header("usr/bin/tool", EntryType::Regular, 5, 0o4755);
        suid.set_uid(1000);
        suid.set_gid(1001);
        suid.set_mtime(1_234_567_890);
        let mut etc = header("./etc/", EntryType::Directory, 0, 0o750);
        etc.set_mtime(1_000_000_000);
        etc.set_gid(42);
        let layer = Layer::default()
            .dir("./")
            .add(etc, b"")
            .file("./etc/hostname", "box\n")
            .add(suid, b"tool!")
            .link("usr/bin/alias", EntryType::Symlink, "tool")
            .link("usr/bin/hard", EntryType::Link, "./usr/bin/tool")
            .add(header("run/fifo", EntryType::Fifo, 0, 0o640), b"")
            .pax(&[
                ("SCHILY.xattr.user.test", b"hello"),
                ("mtime", b"1700000000.5"),
            ])
            .file("etc/xattr", "x")
            .add(header("ro/", EntryType::Directory, 0, 0o555), b"")
            .file("ro/f", "a read-only directory still gets its children")
            .finish();
        let out = unpack(&layer, &dest).unwrap();
        assert_eq!(out.entries, 10);
        let ro = std::fs::metadata(dest.join("ro")).unwrap();
        assert_eq!(ro.permissions().mode() & 0o7777, 0o555);
        assert!(dest.join("ro/f").is_file());
        assert_eq!(out.diff_id, sha(&layer));
        assert_eq!(out.compressed_digest, out.diff_id);

        let tool = std::fs::metadata(dest.join("usr/bin/tool")).unwrap();
        assert_eq!(std::fs::read(dest.join("usr/bin/tool")).unwrap(), b"tool!");
        assert_eq!(
            tool.permissions().mode() & 0o7777,
            0o4755,
            "setuid kept after chown"
        );
        assert_eq!(tool.mtime(), 1_234_567_890);
        if is_root() {
            assert_eq!((tool.uid(), tool.gid()), (1000, 1001));
        } else {
            eprintln!("not root: ownership not checked");
        }
        // Implicit parents are created 0755.
        assert_eq!(
            std::fs::metadata(dest.join("usr/bin"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o755
        );
        let etc = std::fs::metadata(dest.join("etc")).unwrap();
        assert_eq!(etc.permissions().mode() & 0o7777, 0o750);
        assert_eq!(
            etc.mtime(),
            1_000_000_000,
            "directory mtime survives its children"
        );
        if is_root() {
            assert_eq!(etc.gid(), 42);
        }
        assert_eq!(
            std::fs::read_link(dest.join("usr/bin/alias")).unwrap(),
            Path::new("tool")
        );
        let hard = std::fs::metadata(dest.join("usr/bin/hard")).unwrap();
        assert_eq!(hard.ino(), tool.ino());
        assert_eq!(hard.nlink(), 2);
        let fifo = std::fs::symlink_metadata(dest.join("run/fifo")).unwrap();
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.permissions().mode() & 0o7777, 0o640);
        let x = std::fs::metadata(dest.join("etc/xattr")).unwrap();
        assert_eq!((x.mtime(), x.mtime_nsec()), (1_700_000_000, 500_000_000));
        if fs_has_user_xattrs(&dest) {
            assert_eq!(
                get_xattr(&dest.join("etc/xattr"), c"user.test").as_deref(),
                Some(&b"hello"[..])
            );
        } else {
            eprintln!("filesystem refuses user xattrs: xattr not checked");
        }
    }

    #[test]
    fn compressed_variants_and_digests() {
        let tar = Layer::default().dir("a/").file("a/b", "data").finish();
        let gz = gzip(&tar);
        // Two concatenated gzip members are one stream, as for Go's gzip.Reader.
        let gz2 = [gzip(&tar[..1000]), gzip(&tar[1000..])].concat();
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        for blob in [&tar, &gz, &gz2, &zst] {
            let (_t, dest, _) = scratch();
            // Expected digests are compared case-insensitively.
            let want = sha(blob).to_ascii_uppercase().replace("SHA256:", "sha256:");
            let out = unpack_layer(&blob[..], &dest, Some(&want), Some(&sha(&tar))).unwrap();
            assert_eq!(out.diff_id, sha(&tar));
            assert_eq!(out.compressed_digest, sha(blob));
            assert_eq!(out.compressed_size, blob.len() as u64);
            assert_eq!(std::fs::read(dest.join("a/b")).unwrap(), b"data");
        }
        let (_t, dest, _) = scratch();
        let wrong = format!("sha256:{}", "0".repeat(64));
        let err = unpack_layer(&gz[..], &dest, Some(&wrong), None).unwrap_err();
        assert!(
            matches!(
                err,
                UnpackError::DigestMismatch {
                    which: "compressed",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("digest mismatch: expected sha256:000"),
            "{err}"
        );
        let (_t, dest, _) = scratch();
        let err = unpack_layer(&zst[..], &dest, None, Some(&wrong)).unwrap_err();
        assert!(
            matches!(
                err,
                UnpackError::DigestMismatch {
                    which: "diff_id",
                    ..
                }
            ),
            "{err}"
        );
        let err = unpack_layer(&zst[..], &dest, None, Some("md5:abc")).unwrap_err();
        assert!(matches!(err, UnpackError::MalformedDigest { .. }), "{err}");
    }

    #[test]
    fn trailing_bytes_are_hashed() {
        // Bigger than a chunk: the data crosses the reader-to-extractor chunk boundaries.
        let big: Vec<u8> = (0..CHUNK as u32 + 70_000).map(|i| i as u8).collect();
        let h = header("big", EntryType::Regular, big.len() as u64, 0o644);
        let mut tar = Layer::default().add(h, &big).file("f", "x").finish();
        tar.extend_from_slice(&[0; 8192]);
        tar.extend_from_slice(b"trailing junk after the end-of-archive blocks");
        let (_t, dest, _) = scratch();
        let out = unpack_layer(&tar[..], &dest, Some(&sha(&tar)), None).unwrap();
        assert_eq!(out.compressed_size, tar.len() as u64);
        assert_eq!(out.diff_id, sha(&tar));
        assert_eq!(std::fs::read(dest.join("big")).unwrap(), big);
    }

    /// Hands out at most 3 bytes per read, like a slow network stream.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn short_reads_are_fine() {
        let tar = Layer::default().file("f", "x").finish();
        let gz = gzip(&tar);
        let (_t, dest, _) = scratch();
        let out = unpack_layer(Trickle(&gz), &dest, Some(&sha(&gz)), Some(&sha(&tar))).unwrap();
        assert_eq!(out.compressed_size, gz.len() as u64);
        assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"x");
    }

    #[test]
    fn destination_must_be_empty() {
        let (_t, dest, _) = scratch();
        std::fs::write(dest.join("x"), b"").unwrap();
        let err = unpack(&Layer::default().finish(), &dest).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
    }

    #[test]
    fn escapes_are_refused() {
        let outside_file = |o: &Path| o.join("file");
        type MakeLayer = Box<dyn Fn(&Path) -> Layer>;
        let cases: Vec<(&str, MakeLayer)> = vec![
            (
                "../evil",
                Box::new(|_| Layer::default().file("../evil", "x")),
            ),
            (
                "/abs/evil",
                Box::new(|_| Layer::default().file("/abs/evil", "x")),
            ),
            (
                "a/../../evil",
                Box::new(|_| Layer::default().dir("a/").file("a/../../evil", "x")),
            ),
            (
                "link/evil",
                Box::new(|o: &Path| {
                    Layer::default()
                        .link("link", EntryType::Symlink, o.to_str().unwrap())
                        .file("link/evil", "x")
                }),
            ),
            (
                "link/evil",
                Box::new(|_| {
                    Layer::default()
                        .link("link", EntryType::Symlink, "..")
                        .file("link/evil", "x")
                }),
            ),
            (
                "deep/link/evil",
                Box::new(|_| {
                    Layer::default()
                        .link("deep/link", EntryType::Symlink, "../..")
                        .file("deep/link/evil", "x")
                }),
            ),
            (
                "hard",
                Box::new(|_| Layer::default().link("hard", EntryType::Link, "../outside/file")),
            ),
            (
                "hard",
                Box::new(|_| Layer::default().link("hard", EntryType::Link, "/etc/passwd")),
            ),
            (
                "hard",
                Box::new(|_| {
                    Layer::default()
                        .link("etc", EntryType::Symlink, "/etc")
                        .link("hard", EntryType::Link, "etc/passwd")
                }),
            ),
            (
                "../.wh.x",
                Box::new(|_| Layer::default().file("../.wh.x", "")),
            ),
            (".wh...", Box::new(|_| Layer::default().file(".wh...", ""))),
        ];
        let passwd_links = std::fs::metadata("/etc/passwd").map(|m| m.nlink()).ok();
        for (entry, make) in cases {
            let (_t, dest, outside) = scratch();
            std::fs::write(outside_file(&outside), b"secret").unwrap();
            let layer = make(&outside).finish();
            let err = unpack(&layer, &dest).expect_err(entry);
            eprintln!("{entry}: {err}");
            assert!(
                err.to_string().contains(&format!("layer entry {entry:?}")),
                "{entry}: {err}"
            );
            let listing: Vec<_> = std::fs::read_dir(&outside)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                listing,
                vec![OsStr::new("file")],
                "{entry}: something was written outside"
            );
            assert_eq!(
                std::fs::metadata(outside_file(&outside)).unwrap().nlink(),
                1,
                "{entry}"
            );
            assert_eq!(std::fs::read(outside_file(&outside)).unwrap(), b"secret");
            assert!(!dest.join("evil").exists() && !dest.parent().unwrap().join("evil").exists());
        }
        assert_eq!(
            std::fs::metadata("/etc/passwd").map(|m| m.nlink()).ok(),
            passwd_links
        );
    }

    #[test]
    fn later_entries_replace_symlinks_instead_of_following_them() {
        let (_t, dest, outside) = scratch();
        std::fs::write(outside.join("file"), b"secret").unwrap();
        let layer = Layer::default()
            .link(
                "f",
                EntryType::Symlink,
                outside.join("file").to_str().unwrap(),
            )
            .file("f", "mine")
            .link("d", EntryType::Symlink, outside.to_str().unwrap())
            .dir("d/")
            .file("d/x", "inside")
            .link("s", EntryType::Symlink, "/etc/passwd")
            .link("h", EntryType::Link, "s")
            .finish();
        unpack(&layer, &dest).unwrap();
        assert_eq!(std::fs::read(outside.join("file")).unwrap(), b"secret");
        assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"mine");
        assert_eq!(std::fs::read(dest.join("d/x")).unwrap(), b"inside");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
        // A hard link to a symlink is a second symlink, never a link to what it names.
        assert_eq!(
            std::fs::read_link(dest.join("h")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(
            std::fs::symlink_metadata(dest.join("s")).unwrap().nlink(),
            2
        );
    }

    #[test]
    fn hard_link_to_missing_target_is_refused() {
        let (_t, dest, _) = scratch();
        let err = unpack(
            &Layer::default()
                .link("h", EntryType::Link, "nowhere")
                .finish(),
            &dest,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("does not exist in the layer"),
            "{err}"
        );
    }

    #[test]
    fn whiteouts() {
        if !is_root() {
            eprintln!("not root: whiteouts need CAP_MKNOD and trusted.* xattrs; skipped");
            return;
        }
        let (_t, dest, _) = scratch();
        let layer = Layer::default()
            .file(".wh.gone", "")
            .dir("dir/")
            .file("dir/.wh..wh..opq", "")
            .file("new/sub/.wh..wh..opq", "")
            .file(".wh..wh.plnk", "")
            .file("mine", "stays")
            .file(".wh.mine", "")
            .file(".wh.later", "")
            .file("later", "replaces the whiteout")
            .finish();
        unpack(&layer, &dest).unwrap();
        let gone = std::fs::symlink_metadata(dest.join("gone")).unwrap();
        assert!(gone.file_type().is_char_device());
        assert_eq!(gone.rdev(), 0);
        assert!(!dest.join(".wh.gone").exists());
        assert!(!dest.join("dir/.wh..wh..opq").exists());
        assert!(!dest.join(".wh..wh.plnk").exists());
        // Whiteouts hide lower layers only, never what this same layer holds.
        assert_eq!(std::fs::read(dest.join("mine")).unwrap(), b"stays");
        assert_eq!(
            std::fs::read(dest.join("later")).unwrap(),
            b"replaces the whiteout"
        );
        assert_eq!(
            get_xattr(&dest.join("dir"), c"trusted.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(
            get_xattr(&dest.join("new/sub"), c"trusted.overlay.opaque").as_deref(),
            Some(&b"y"[..])
        );
    }

    #[test]
    fn device_nodes() {
        if !is_root() {
            eprintln!("not root: device nodes need CAP_MKNOD; skipped");
            return;
        }
        let mut null = header("dev/null", EntryType::Char, 0, 0o666);
        null.set_device_major(1).unwrap();
        null.set_device_minor(3).unwrap();
        let (_t, dest, _) = scratch();
        unpack(&Layer::default().add(null, b"").finish(), &dest).unwrap();
        let null = std::fs::symlink_metadata(dest.join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), libc::makedev(1, 3));
        assert_eq!(null.permissions().mode() & 0o7777, 0o666);
    }

    #[test]
    fn overlay_xattrs_from_the_layer_are_dropped() {
        if !is_root() {
            eprintln!("not root: trusted.* xattrs cannot be read; skipped");
            return;
        }
        let (_t, dest, _) = scratch();
        let layer = Layer::default()
            .pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y")])
            .dir("d/")
            .finish();
        unpack(&layer, &dest).unwrap();
        assert_eq!(get_xattr(&dest.join("d"), c"trusted.overlay.opaque"), None);
    }

    #[test]
    fn repeated_paths_last_wins() {
        let (_t, dest, _) = scratch();
        let layer = Layer::default()
            .file("a", "one")
            .file("a", "two")
            .dir("d/")
            .file("d/child", "x")
            .file("d", "now a file")
            .file("s", "a file")
            .dir("s/")
            .file("s/inner", "y")
            .link("l", EntryType::Symlink, "a")
            .file("l", "replaced symlink")
            .dir("keep/")
            .file("keep/x", "1")
            .dir("keep/")
            .finish();
        unpack(&layer, &dest).unwrap();
        assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"two");
        assert_eq!(std::fs::read(dest.join("d")).unwrap(), b"now a file");
        assert_eq!(std::fs::read(dest.join("s/inner")).unwrap(), b"y");
        assert!(std::fs::symlink_metadata(dest.join("l")).unwrap().is_file());
        assert_eq!(
            std::fs::read(dest.join("keep/x")).unwrap(),
            b"1",
            "a repeated directory keeps its children"
        );
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let layer = Layer::default().file("f", "0123456789").finish();
        let (_t, dest, _) = scratch();
        let err = unpack(&layer[..515], &dest).unwrap_err();
        assert!(err.to_string().contains("\"f\""), "{err}");
        let mut corrupt = gzip(&layer);
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0xff;
        let (_t, dest, _) = scratch();
        let err = unpack(&corrupt, &dest).unwrap_err();
        assert!(matches!(err, UnpackError::Stream(_)), "{err}");
    }

    /// Times a real layer: `UNPACK_BENCH_LAYER=/path/layer.tar.gz cargo test --release --
    /// --ignored unpack_bench --nocapture`. It unpacks next to the layer (same filesystem).
    #[test]
    #[ignore]
    fn unpack_bench() {
        let Ok(layer) = std::env::var("UNPACK_BENCH_LAYER") else {
            eprintln!("UNPACK_BENCH_LAYER is not set");
            return;
        };
        let layer = Path::new(&layer);
        let dir = tempfile::tempdir_in(layer.parent().unwrap()).unwrap();
        let start = std::time::Instant::now();
        let out = unpack_layer(File::open(layer).unwrap(), dir.path(), None, None).unwrap();
        let secs = start.elapsed().as_secs_f64();
        eprintln!("{secs:.3}s {} entries {}", out.entries, out.diff_id);
    }
}
