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

/// Waits for child `pid`, forwarding signals, proxying `master` if given; returns the status.
pub fn forward_and_wait(pid: i32, master: Option<OwnedFd>) -> Result<i32> {
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
        let saved = match &master {
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
        let out = pump(pid, &sfd, master.as_ref());
        if let Some(t) = saved {
            let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &t);
        }
        out
    })();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    res
}

fn pump(pid: i32, sfd: &SignalFd, master: Option<&OwnedFd>) -> Result<i32> {
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut status = reap(pid)?;
    let mut buf = [0u8; 32 * 1024];
    // SAFETY (borrow): fd 0 stays open for the life of the process.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    loop {
        if let Some(code) = status {
            if !master_open {
                return Ok(code);
            }
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let (Some(m), true) = (master, master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open && status.is_none() {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        // Once the process is gone, drain the pty without blocking forever.
        let timeout = if status.is_some() {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) if status.is_some() => master_open = false,
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
        let mut i = 1;
        if let (Some(m), true) = (master, master_open) {
            if ready.get(i).copied().unwrap_or(false) {
                match nix::unistd::read(m.as_fd(), &mut buf) {
                    Ok(0) | Err(_) => master_open = false,
                    Ok(n) => {
                        let _ = nix::unistd::write(std::io::stdout().as_fd(), &buf[..n]);
                    }
                }
            }
            i += 1;
        }
        if stdin_open && status.is_none() && ready.get(i).copied().unwrap_or(false) {
            match nix::unistd::read(stdin, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = master {
                        let _ = nix::unistd::write(m.as_fd(), &buf[..n]);
                    }
                }
            }
        }
    }
}
