//! Layer unpacking: owns turning one layer blob into a directory, safely, with both its digests;
//! this file holds the public entry point and its types, the rest lives by concern beside it.
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
//!
//! ```text
//! mod.rs       unpack_layer, Compression, Unpacked, UnpackError
//! pipeline.rs  the two threads: read | hash | decompress | hash -> chunks -> tar; digests
//! beneath.rs   paths beneath the layer root: normalising, openat2, parents, replacing names
//! extract.rs   the tar side: each entry's metadata, dispatch by kind, regular files,
//!              directory modes and times applied at the end
//! kinds.rs     the other kinds: directories, links, devices, whiteouts -> overlayfs, xattrs
//! sys.rs       the xattr system calls (the module's only unsafe code)
//! ```

mod beneath;
mod extract;
mod kinds;
mod pipeline;
mod sys;
#[cfg(test)]
mod tests;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use nix::errno::Errno;

use extract::Extractor;
use pipeline::{check_digest, parse_digest, read_layer, ChunkReader, HashState, CHUNKS_IN_FLIGHT};

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
