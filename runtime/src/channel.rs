//! The transport between the runtime (parent) and a container's init (child): a
//! `socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)` carrying length-prefixed JSON frames,
//! generic over what each side sends and receives (the messages are in message.rs).

use std::io::{Read, Write};
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};

/// One end: sends `S`, receives `R`.
pub struct Channel<S, R> {
    stream: UnixStream,
    _types: PhantomData<fn(S) -> R>,
}

/// Creates both ends; both are close-on-exec (the child end is made inheritable on purpose).
pub fn pair<S, R>() -> Result<(Channel<S, R>, OwnedFd)> {
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
            _types: PhantomData,
        },
        b,
    ))
}

impl<S: Serialize, R: DeserializeOwned> Channel<S, R> {
    fn from_stream(stream: UnixStream) -> Self {
        Channel {
            stream,
            _types: PhantomData,
        }
    }

    /// Wraps an inherited descriptor (the init's end after exec).
    pub fn from_owned(owned: OwnedFd) -> Self {
        Channel::from_stream(UnixStream::from(owned))
    }

    pub fn send(&mut self, msg: &S) -> Result<()> {
        let data = serde_json::to_vec(msg).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut frame = (data.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&data);
        self.stream
            .write_all(&frame)
            .map_err(|e| Error::io("send to init channel", "socketpair", e))
    }

    /// Next message, or None when the other side closed (for exec: the exec happened).
    pub fn recv(&mut self) -> Result<Option<R>> {
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
