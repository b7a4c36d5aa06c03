//! The monitor's attach socket (`berth attach`): `<container dir>/attach.sock` (0600), which
//! any number of clients may join. Each gets the container's output as it is read for the
//! log, in Docker's stream framing (an 8-byte header: stream 1 stdout / 2 stderr, three zero
//! bytes, the length big-endian u32; then the bytes). Clients send frames of the same shape:
//! kind 0 is input, written to the container's stdin (the pty master for `-it`); kind 1 is
//! a window size (rows, columns: two big-endian u16), set on the pty. The monitor's last
//! frame (kind 3) is the exit status, before the socket closes. Detach keys are the
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
/// Made by `run -it` before the start: a client is on its way, so a container that exits at
/// once keeps the socket open for it (up to `LINGER`) to get the output and the status.
pub const EXPECT: &str = "attach.expect";
// Long enough for a client on a slow, loaded machine (the qemu VM takes seconds to start
// one); it is waited only when the container ended before its `run -it` client joined.
const LINGER: std::time::Duration = std::time::Duration::from_secs(15);

const BACKLOG: usize = 64 << 10;

/// Client frame kinds.
pub const INPUT: u8 = 0;
pub const RESIZE: u8 = 1;
/// The monitor's last frame: the init's exit status (big-endian i32).
pub const EXIT: u8 = 3;

/// A frame: kind, three zero bytes, length (big-endian u32), payload.
pub fn frame(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.extend_from_slice(&[kind, 0, 0, 0]);
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// Takes the whole frames off the front of `buf`: (kind, payload) each.
pub fn take_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut off = 0;
    while buf.len() - off >= 8 {
        let len =
            u32::from_be_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]]) as usize;
        if buf.len() - off - 8 < len {
            break;
        }
        out.push((buf[off], buf[off + 8..off + 8 + len].to_vec()));
        off += 8 + len;
    }
    buf.drain(..off);
    out
}

pub struct Hub {
    listener: UnixListener,
    /// Each client and the part of a frame it sent so far.
    clients: Vec<(UnixStream, Vec<u8>)>,
    /// The pty master of a `-t` container, for window sizes.
    pty: Option<OwnedFd>,
    /// Output (as frames) until the first client joins, up to `BACKLOG` bytes: `run -it`
    /// attaches just after the start and must not miss the shell's first prompt.
    backlog: Option<Vec<u8>>,
    /// `EXPECT` was there: wait for the first client before going.
    expect: Option<PathBuf>,
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

/// The environment variable that hands the bound listener to the monitor loop: it is bound
/// before `run -d` returns, so an `attach` right after finds it.
pub const LISTENER_ENV: &str = "BERTH_ATTACH_FD";

/// Binds the container's attach socket (0600).
pub fn bind(container_dir: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let dir = open_dir(container_dir)?;
    let path = via_fd(&dir, SOCKET);
    // A monitor before us (a restart) may have left it.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

impl Hub {
    /// The hub on `listener` (bound by `bind`; None: bound here).
    pub fn open(
        container_dir: &Path,
        listener: Option<UnixListener>,
        input: Option<BorrowedFd<'_>>,
        pty: Option<BorrowedFd<'_>>,
    ) -> std::io::Result<Hub> {
        let input = input.map(|f| f.try_clone_to_owned()).transpose()?;
        let pty = pty.map(|f| f.try_clone_to_owned()).transpose()?;
        let dir = open_dir(container_dir)?;
        let path = via_fd(&dir, SOCKET);
        let listener = match listener {
            Some(l) => l,
            None => bind(container_dir)?,
        };
        listener.set_nonblocking(true)?;
        let expect = via_fd(&dir, EXPECT);
        let expect = expect.exists().then_some(expect);
        Ok(Hub {
            expect,
            listener,
            clients: Vec::new(),
            backlog: Some(Vec::new()),
            pty,
            input,
            _dir: dir,
            path,
        })
    }

    /// The descriptors to poll: the listener, then each client.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = vec![self.listener.as_fd()];
        v.extend(self.clients.iter().map(|(c, _)| c.as_fd()));
        v
    }

    /// Handles what poll found ready (`ready` in the order of `fds`).
    pub fn ready(&mut self, ready: &[bool]) {
        let mut gone = Vec::new();
        let mut buf = [0u8; 4096];
        for (i, (c, pending)) in self.clients.iter_mut().enumerate() {
            if !ready.get(i + 1).copied().unwrap_or(false) {
                continue;
            }
            match c.read(&mut buf) {
                Ok(0) => gone.push(i),
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    for (kind, data) in take_frames(pending) {
                        match (kind, &self.input, &self.pty) {
                            (INPUT, Some(fd), _) => {
                                let _ = write_all_fd(fd.as_fd(), &data);
                            }
                            (RESIZE, _, Some(pty)) if data.len() == 4 => {
                                let rows = u16::from_be_bytes([data[0], data[1]]);
                                let cols = u16::from_be_bytes([data[2], data[3]]);
                                crate::sys::set_winsize(pty.as_fd(), rows, cols);
                            }
                            _ => {}
                        }
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
                if let Some(e) = self.expect.take() {
                    let _ = std::fs::remove_file(e);
                }
                if c.set_nonblocking(true).is_ok() {
                    let mut c = c;
                    let early = self.backlog.take().unwrap_or_default();
                    if early.is_empty() || send(&mut c, &early) {
                        self.clients.push((c, Vec::new()));
                    }
                }
            }
        }
    }

    /// Before the socket goes: if `run -it`'s client has not joined yet, waits for it (up to
    /// `LINGER`), so it still gets the output and the exit status.
    pub fn linger(&mut self) {
        let t = std::time::Instant::now();
        while self.expect.is_some() && t.elapsed() < LINGER {
            let mut fds = [nix::poll::PollFd::new(
                self.listener.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(50u16));
            self.ready(&[true]);
        }
        if let Some(e) = self.expect.take() {
            let _ = std::fs::remove_file(e);
        }
    }

    /// Sends output of `stream` (1 stdout, 2 stderr) to every client; a client that cannot
    /// take it now is dropped rather than allowed to stall the container.
    pub fn broadcast(&mut self, stream: u8, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let f = frame(stream, data);
        if let Some(b) = self.backlog.as_mut() {
            if b.len() + f.len() <= BACKLOG {
                b.extend_from_slice(&f);
            }
        }
        self.clients.retain_mut(|(c, _)| send(c, &f));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_wait_for_the_rest() {
        let mut buf = frame(INPUT, b"abc");
        buf.extend_from_slice(&frame(RESIZE, &[0, 33, 0, 101]));
        let tail = frame(INPUT, b"later");
        buf.extend_from_slice(&tail[..5]);
        let got = take_frames(&mut buf);
        assert_eq!(
            got,
            [(INPUT, b"abc".to_vec()), (RESIZE, vec![0, 33, 0, 101])]
        );
        assert_eq!(buf, tail[..5]);
        buf.extend_from_slice(&tail[5..]);
        assert_eq!(take_frames(&mut buf), [(INPUT, b"later".to_vec())]);
        assert!(buf.is_empty());
    }
}
