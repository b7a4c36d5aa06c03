//! The image crate's error type: each variant names the operation and the object (file,
//! reference, digest, archive entry) it failed on.
//!
//! Names, paths and messages in these errors may come from an archive or a registry: every
//! one of them is printed through `text::escape_for_terminal`, and errors of other crates
//! are kept as escaped text (`err`, not a `source`), so no raw control character reaches a
//! terminal through an error chain printer either.

use std::path::PathBuf;

use crate::text::{escape_error, escape_for_terminal as esc, escape_path};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid digest {0:?}: want sha256:<64 hex digits>")]
    InvalidDigest(String),
    #[error("invalid reference {reference:?}: {}", esc(.reason))]
    InvalidReference { reference: String, reason: String },
    #[error("no such image: {}", esc(.0))]
    ImageNotFound(String),
    #[error("image reference {} is ambiguous: {}", esc(.0), esc(.1))]
    Ambiguous(String, String),
    #[error("blob {} is missing from the store", esc(.digest))]
    BlobMissing { digest: String },
    #[error(
        "blob {}: digest mismatch: expected {}, got {}",
        escape_path(.path),
        esc(.expected),
        esc(.actual)
    )]
    DigestMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// OCI image-spec descriptor.md: the size "MUST" match the content's.
    #[error(
        "{what} descriptor {digest}: size {declared} declared, but the blob has {actual} bytes"
    )]
    SizeMismatch {
        what: &'static str,
        digest: String,
        declared: u64,
        actual: u64,
    },
    #[error("{op} {}: {}", escape_path(.path), escape_error(.err))]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("{what} {}: {}", escape_path(.path), esc(.msg))]
    Format {
        what: &'static str,
        path: PathBuf,
        msg: String,
    },
    #[error("layer {}: {}", esc(.digest), escape_error(.err))]
    Unpack {
        digest: String,
        err: crate::unpack::UnpackError,
    },
    #[error("mount {}: {}", escape_path(.target), esc(.msg))]
    Mount { target: PathBuf, msg: String },
    #[error("{}", esc(.0))]
    Invalid(String),
    /// A Dockerfile that does not parse (file:line, text, what was expected).
    #[error("{}", esc(&.0.to_string()))]
    Dockerfile(crate::build::ParseError),
    /// A build step that failed: the message names the Dockerfile line.
    #[error("{}", .0.lines().map(|l| esc(l).into_owned()).collect::<Vec<_>>().join("\n"))]
    Build(String),
}

pub trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|err| Error::Io {
            op,
            path: path.into(),
            err,
        })
    }
}
