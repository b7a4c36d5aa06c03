//! The image crate's error type: each variant names the operation and the object (file,
//! reference, digest, archive entry) it failed on.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid digest {0:?}: want sha256:<64 hex digits>")]
    InvalidDigest(String),
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("no such image: {0}")]
    ImageNotFound(String),
    #[error("image reference {0} is ambiguous: {1}")]
    Ambiguous(String, String),
    #[error("blob {digest} is missing from the store")]
    BlobMissing { digest: String },
    #[error("blob {path}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path}: {msg}")]
    Format {
        what: &'static str,
        path: PathBuf,
        msg: String,
    },
    #[error("layer {digest}: {source}")]
    Unpack {
        digest: String,
        source: crate::unpack::UnpackError,
    },
    #[error("mount {target}: {msg}")]
    Mount { target: PathBuf, msg: String },
    #[error("{0}")]
    Invalid(String),
}

pub trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.into(),
            source,
        })
    }
}
