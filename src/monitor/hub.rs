//! The monitor's attach socket (`berth attach`): `<container dir>/attach.sock` (0600), which
//! any number of clients may join. Each gets the container's output as it is read for the
//! log, in Docker's stream framing (an 8-byte header: stream 1 stdout / 2 stderr, three zero
//! bytes, the length big-endian u32; then the bytes), and what a client sends is written to
//! the container's stdin (the pty master for a `-t` container). Detach keys are the
//! client's business: it simply leaves. std and nix only, as the rest of the monitor loop.
//!
//! The socket is bound through `/proc/self/fd/N/attach.sock`, N the container directory
//! opened `O_PATH`, as conmon does: a root under a long temp path would not fit in
//! `sun_path`'s 108 bytes.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

pub const SOCKET: &str = "attach.sock";

pub struct Hub {
    listener: UnixListener,
    clients: Vec<UnixStream>,
    /// Where clients' input goes: a copy of the container's stdin (or pty master).
    input: Option<OwnedFd>,
    _dir: File,
    path: PathBuf,
}

/// The short path that names `name` in the directory open as `dir`.
pub fn via_fd(dir: &File, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}

/// Opens a directory for `via_fd`.
pub fn open_dir(dir: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
}

/// Binds `<container_dir>/attach.sock` (0600), replacing one a monitor before us (a
/// restart) left. The monitor binds it before it reports the container started, so an
/// `attach` right after `run -d` finds it.
pub fn listen(container_dir: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let dir = open_dir(container_dir)?;
    let path = via_fd(&dir, SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

impl Hub {
    /// The hub on `listener` (bound by `listen`), or on a socket bound now.
    pub fn open(
        container_dir: &Path,
        listener: Option<UnixListener>,
        input: Option<BorrowedFd<'_>>,
    ) -> std::io::Result<Hub> {
        let input = input.map(|f| f.try_clone_to_owned()).transpose()?;
        let listener = match listener {
            Some(l) => l,
            None => listen(container_dir)?,
        };
        let dir = open_dir(container_dir)?;
        let path = via_fd(&dir, SOCKET);
        listener.set_nonblocking(true)?;
        Ok(Hub {
            listener,
            clients: Vec::new(),
            input,
            _dir: dir,
            path,
        })
    }

    /// The descriptors to poll: the listener, then each client.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = vec![self.listener.as_fd()];
        v.extend(self.clients.iter().map(|c| c.as_fd()));
        v
    }

    /// Handles what poll found ready (`ready` in the order of `fds`).
    pub fn ready(&mut self, ready: &[bool]) {
        let mut gone = Vec::new();
        let mut buf = [0u8; 4096];
        for (i, c) in self.clients.iter_mut().enumerate() {
            if !ready.get(i + 1).copied().unwrap_or(false) {
                continue;
            }
            match c.read(&mut buf) {
                Ok(0) => gone.push(i),
                Ok(n) => {
                    if let Some(fd) = &self.input {
                        let _ = write_all_fd(fd.as_fd(), &buf[..n]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => gone.push(i),
            }
        }
        for i in gone.into_iter().rev() {
            self.clients.remove(i);
        }
        if ready.first().copied().unwrap_or(false) {
            while let Ok((c, _)) = self.listener.accept() {
                if c.set_nonblocking(true).is_ok() {
                    self.clients.push(c);
                }
            }
        }
    }

    /// Sends output of `stream` (1 stdout, 2 stderr) to every client; a client that cannot
    /// take it now is dropped rather than allowed to stall the container.
    pub fn broadcast(&mut self, stream: u8, data: &[u8]) {
        if self.clients.is_empty() || data.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(8 + data.len());
        frame.extend_from_slice(&[stream, 0, 0, 0]);
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        frame.extend_from_slice(data);
        self.clients.retain_mut(|c| send(c, &frame));
    }
}

fn send(c: &mut UnixStream, frame: &[u8]) -> bool {
    let mut off = 0;
    let mut spins = 0;
    while off < frame.len() {
        match c.write(&frame[off..]) {
            Ok(0) => return false,
            Ok(n) => off += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && spins < 100 => {
                // A reader a moment behind: up to 100 ms for it.
                spins += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(_) => return false,
        }
    }
    true
}

fn write_all_fd(fd: BorrowedFd<'_>, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return Err(nix::errno::Errno::EPIPE),
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
