//! Waiting for a foreground process: signals the runtime receives are forwarded to it, and
//! with a terminal the runtime proxies between its own tty (raw mode) and the pty master.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result, SysContext};

const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

fn reap(pid: i32) -> Result<Option<i32>> {
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(code)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(128 + sig as i32)),
        Ok(_) => Ok(None),
        Err(nix::errno::Errno::ECHILD) => {
            Err(Error::Invalid(format!("process {pid} is not our child")))
        }
        Err(e) => Err(Error::sys(format!("waitpid {pid}"), e)),
    }
}

fn copy_winsize(from: i32, to: i32) {
    if let Some((r, c)) = crate::sys::get_winsize(from) {
        let _ = crate::sys::set_winsize(to, r, c);
    }
}

/// Which of the process's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The process's output as the waiter gets it: a pty master (stdout and stderr merged) and/or
/// the read ends of pipes on its stdout and stderr. Everything read is written to the
/// waiter's own stdout/stderr and also handed to the tee.
#[derive(Default)]
pub struct Output {
    pub master: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Waits for child `pid`, forwarding signals, proxying `master` if given; returns the status.
pub fn forward_and_wait(pid: i32, master: Option<OwnedFd>) -> Result<i32> {
    forward_and_wait_tee(
        pid,
        Output {
            master,
            ..Output::default()
        },
        &mut |_, _| {},
    )
}

/// [`forward_and_wait`] for output that also goes elsewhere (a log): every chunk read from
/// the process is written through to our stdout/stderr as it comes, then passed to `tee`.
pub fn forward_and_wait_tee(
    pid: i32,
    output: Output,
    tee: &mut dyn FnMut(Stream, &[u8]),
) -> Result<i32> {
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(*s);
    }
    mask.add(Signal::SIGCHLD);
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old))
        .sys(|| "sigprocmask".into())?;
    let res = (|| {
        let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .sys(|| "signalfd".into())?;
        let stdin = std::io::stdin();
        let saved = match &output.master {
            Some(m) if nix::unistd::isatty(stdin.as_fd()).unwrap_or(false) => {
                copy_winsize(0, m.as_raw_fd());
                let t = termios::tcgetattr(stdin.as_fd()).ok();
                if let Some(t) = &t {
                    let mut raw = t.clone();
                    termios::cfmakeraw(&mut raw);
                    let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
                }
                t
            }
            _ => None,
        };
        let out = pump(pid, &sfd, &output, tee);
        if let Some(t) = saved {
            let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &t);
        }
        out
    })();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    res
}

fn pump(
    pid: i32,
    sfd: &SignalFd,
    output: &Output,
    tee: &mut dyn FnMut(Stream, &[u8]),
) -> Result<i32> {
    let master = output.master.as_ref();
    // What we read from: the pty master, then the pipes; each goes to our fd 1 or 2.
    let mut sources: Vec<(BorrowedFd<'_>, Stream)> = Vec::new();
    if let Some(m) = master {
        sources.push((m.as_fd(), Stream::Stdout));
    }
    if let Some(o) = &output.stdout {
        sources.push((o.as_fd(), Stream::Stdout));
    }
    if let Some(e) = &output.stderr {
        sources.push((e.as_fd(), Stream::Stderr));
    }
    let mut stdin_open = master.is_some();
    let mut status = reap(pid)?;
    let mut buf = [0u8; 32 * 1024];
    let stdin_handle = std::io::stdin();
    let stdin = stdin_handle.as_fd();
    loop {
        if let Some(code) = status {
            if sources.is_empty() {
                return Ok(code);
            }
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        for (fd, _) in &sources {
            fds.push(PollFd::new(*fd, PollFlags::POLLIN));
        }
        let stdin_polled = stdin_open && status.is_none();
        if stdin_polled {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        // Once the process is gone, drain its output without blocking forever (a child it
        // left behind may hold a pipe open).
        let timeout = if status.is_some() {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) if status.is_some() => sources.clear(),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == Signal::SIGCHLD as i32 {
                    if status.is_none() {
                        status = reap(pid)?;
                    }
                } else if sig == Signal::SIGWINCH as i32 {
                    if let Some(m) = master {
                        copy_winsize(0, m.as_raw_fd());
                    }
                } else if let Ok(s) = Signal::try_from(sig) {
                    let _ = kill(Pid::from_raw(pid), s);
                }
            }
        }
        let mut closed = Vec::new();
        for (i, (fd, stream)) in sources.iter().enumerate() {
            if !ready.get(i + 1).copied().unwrap_or(false) {
                continue;
            }
            match nix::unistd::read(*fd, &mut buf) {
                Ok(0) | Err(_) => closed.push(i),
                Ok(n) => {
                    match stream {
                        Stream::Stdout => write_all(std::io::stdout().as_fd(), &buf[..n]),
                        Stream::Stderr => write_all(std::io::stderr().as_fd(), &buf[..n]),
                    }
                    tee(*stream, &buf[..n]);
                }
            }
        }
        let n_sources = sources.len();
        for i in closed.into_iter().rev() {
            sources.remove(i);
        }
        if stdin_polled && ready.get(n_sources + 1).copied().unwrap_or(false) {
            match nix::unistd::read(stdin, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = master {
                        write_all(m.as_fd(), &buf[..n]);
                    }
                }
            }
        }
    }
}

/// Writes all of `data` to `fd` (a terminal or pipe may take it in parts); gives up on error
/// (a reader that went away must not stop the container or the log).
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return,
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}
