//! The typed message channel between the runtime (parent) and a container's init (child):
//! a `socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)` carrying length-prefixed JSON frames.
//! The child reports its own errors with the step that failed, so `create` can say exactly
//! what went wrong inside the new namespaces.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::init::InitConfig;

/// Parent -> init.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    Config(Box<InitConfig>),
    /// The container's cgroup exists and has its limits: join it like this (create only).
    Cgroup(crate::cgroups::Join),
    /// The runtime ran the createRuntime/prestart hooks; go on.
    HooksDone,
    /// The seccomp programs, compiled by the parent while the init set up the container
    /// (create only; exec compiles in the init).
    Seccomp(Vec<crate::seccomp::RawProgram>),
}

/// Init -> parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromInit {
    /// Mounts are in place, pivot_root is next: run createRuntime/prestart hooks now.
    RunHooks,
    /// The container is created and waits for `start` (or, for exec, is about to exec).
    Ready,
    /// A step failed; the init exits after sending this.
    Error { step: String, msg: String },
}

pub struct Channel {
    stream: UnixStream,
}

/// Creates both ends; both are close-on-exec (the child end is made inheritable on purpose).
pub fn pair() -> Result<(Channel, OwnedFd)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("socketpair", e))?;
    Ok((
        Channel {
            stream: UnixStream::from(a),
        },
        b,
    ))
}

impl Channel {
    /// Wraps an inherited descriptor (the init's end after exec).
    ///
    /// # Safety
    /// `fd` must be an open socket this process owns and nothing else uses.
    pub unsafe fn from_raw(fd: RawFd) -> Self {
        // SAFETY: guaranteed by the caller.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Channel {
            stream: UnixStream::from(owned),
        }
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) -> Result<()> {
        let data = serde_json::to_vec(msg).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut frame = (data.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&data);
        self.stream
            .write_all(&frame)
            .map_err(|e| Error::io("send to init channel", "socketpair", e))
    }

    /// Next message, or None when the other side closed (for exec: the exec happened).
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(Error::io("read init channel", "socketpair", e)),
        }
        let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
        self.stream
            .read_exact(&mut buf)
            .map_err(|e| Error::io("read init channel", "socketpair", e))?;
        serde_json::from_slice(&buf)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("bad message on init channel: {e}")))
    }
}
