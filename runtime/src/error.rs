//! The runtime crate's one error type: each variant names the operation that failed and the
//! object (container id, path, step) it failed on, so the CLI can print it once and exit.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: use 1-1024 characters of [A-Za-z0-9_.-], not starting with '.' or '-'")]
    InvalidId(String),
    /// For a stopped container the text also says "container not running": runc's words,
    /// which containerd's runc shim looks for to know that a kill found the process gone
    /// (pkg/process `checkKillError`), instead of failing StopContainer.
    #[error(
        "container {id:?} is {status}: cannot {op}{}",
        if *status == "stopped" { " (container not running)" } else { "" }
    )]
    WrongState {
        id: String,
        status: &'static str,
        op: &'static str,
    },
    #[error("invalid config {path}: {msg}")]
    InvalidSpec { path: PathBuf, msg: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{op}: {source}")]
    Sys {
        op: String,
        source: nix::errno::Errno,
    },
    #[error("cgroup {path}: {msg}")]
    Cgroup { path: PathBuf, msg: String },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("hook {kind} {path}: {msg}")]
    Hook {
        kind: &'static str,
        path: PathBuf,
        msg: String,
    },
    /// An error reported by the container's init process; `step` names what it was doing.
    #[error("container init failed at step {step:?}: {msg}")]
    Init {
        step: String,
        msg: String,
        /// errno(3) of the system call that failed in that step, when one did: what the
        /// engine maps to exit statuses 126 (EACCES, ENOEXEC) and 127 (ENOENT).
        errno: Option<i32>,
    },
    #[error("state of container {id:?}: {msg}")]
    State { id: String, msg: String },
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// errno(3) of the system call behind this error, when there is one (the engine maps
    /// ENOENT of the executable to 127 and EACCES/ENOEXEC to 126 from it).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Sys { source, .. } => Some(*source as i32),
            Error::Init { errno, .. } => *errno,
            _ => None,
        }
    }

    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn sys(op: impl Into<String>, source: nix::errno::Errno) -> Self {
        Error::Sys {
            op: op.into(),
            source,
        }
    }
}

/// Adds the operation and path to a `std::io::Result`.
pub trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

/// Adds the operation to a `nix::Result`.
pub trait SysContext<T> {
    fn sys(self, op: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn sys(self, op: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(op(), e))
    }
}
