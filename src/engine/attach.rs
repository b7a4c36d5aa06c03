//! `berth attach`: joins a detached container's monitor through its attach socket
//! (monitor/hub.rs): the container's output to this terminal, this terminal's input to the
//! container's stdin, until the detach keys (Docker's default Ctrl-P Ctrl-Q) leave it
//! running, or it exits (then its exit status is attach's).

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg};

use super::container::{Containers, Status};
use super::lifecycle;
use crate::monitor::hub;

/// Docker's default: Ctrl-P Ctrl-Q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

pub struct AttachOptions {
    /// The bytes that detach, in order.
    pub detach_keys: Vec<u8>,
    /// Do not send this process's stdin.
    pub no_stdin: bool,
    /// Forward SIGINT/SIGTERM/... to the container (not with a tty: the terminal's keys go
    /// through the pty as they are).
    pub sig_proxy: bool,
}

/// Docker's detach-key syntax: comma-separated keys, each a single character or
/// `ctrl-<c>` with c one of a-z, @, [, \, ], ^, _.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for k in s.split(',') {
        let b = match k.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => {
                let c = c.as_bytes()[0].to_ascii_lowercase();
                match c {
                    b'a'..=b'z' => c - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => bail!("--detach-keys {s:?}: unknown key {k:?} (ctrl- takes a-z, @, [, \\, ], ^, _)"),
                }
            }
            None if k.len() == 1 => k.as_bytes()[0],
            _ => bail!("--detach-keys {s:?}: unknown key {k:?} (a character, or ctrl-<c>)"),
        };
        out.push(b);
    }
    Ok(out)
}

/// Finds the detach sequence in what the user typed: the bytes to forward now, and whether
/// the sequence completed. A partial match is held back (in `held`) until the next bytes
/// say whether it was the sequence; if not, it is sent as typed.
fn scan(keys: &[u8], held: &mut Vec<u8>, input: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    if keys.is_empty() {
        return (input.to_vec(), false);
    }
    for &b in input {
        held.push(b);
        if keys.starts_with(held) {
            if held.len() == keys.len() {
                return (out, true);
            }
            continue;
        }
        // Not the sequence: send what was held, then look again from the next byte.
        let h = std::mem::take(held);
        out.extend_from_slice(&h[..h.len() - 1]);
        let last = h[h.len() - 1];
        if keys[0] == last {
            held.push(last);
        } else {
            out.push(last);
        }
    }
    (out, false)
}

/// Restores the terminal's mode when dropped.
struct RawMode(Option<termios::Termios>);

impl RawMode {
    fn enter(on: bool) -> RawMode {
        if !on {
            return RawMode(None);
        }
        let stdin = std::io::stdin();
        let Ok(t) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode(Some(t))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

/// `run -it` on a terminal, as Docker's: the container under a monitor, this process
/// attached to it, so the detach keys leave it running; the container's exit status.
pub fn run_attached(root: &Path, c: &super::ContainerConfig, detach_keys: &[u8]) -> Result<i32> {
    lifecycle::heal(root)?;
    let cs = Containers::new(root);
    let (rec, lock) = super::create(root, c)?;
    // The monitor keeps its socket for us even if the command exits before we connect.
    super::fsutil::write_private(&cs.dir_of(&rec.id).join(hub::EXPECT), b"")?;
    if let Err(e) = super::host::launch(&cs, &rec.id, lock) {
        let _ = lifecycle::remove(&cs, &rec.id, true, true);
        return Err(e);
    }
    attach_to(
        root,
        &rec.id,
        &AttachOptions {
            detach_keys: detach_keys.to_vec(),
            no_stdin: false,
            sig_proxy: true,
        },
        true,
    )
}

/// Tells the monitor this terminal's size, for the container's pty.
fn send_size(sock: &mut UnixStream) -> Result<()> {
    if let Some((rows, cols)) = crate::sys::get_winsize(std::io::stdin().as_fd()) {
        let mut p = rows.to_be_bytes().to_vec();
        p.extend_from_slice(&cols.to_be_bytes());
        // A monitor that is closing already (the container exited): its last frames are
        // still to be read.
        let _ = sock.write_all(&hub::frame(hub::RESIZE, &p));
    }
    Ok(())
}

/// Attaches to container `name`; returns 0 after a detach, else the container's exit status.
pub fn attach(root: &Path, name: &str, o: &AttachOptions) -> Result<i32> {
    attach_to(root, name, o, false)
}

/// The exit status a container recorded once its monitor is done; for one removed
/// (`--rm`), the one its `die` event logged.
fn recorded_exit(root: &Path, cs: &Containers, id: &str) -> i32 {
    for _ in 0..1000 {
        if !lifecycle::watched(cs, id) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Ok(r) = cs.load(id) {
        return r.state.exit_code;
    }
    let mut q = super::events::Query::default();
    let _ = q.filter(&format!("container={id}"));
    let _ = q.filter("event=die");
    let mut code = 0;
    let _ = super::events::read(root, &q, false, |e| {
        code = e
            .actor
            .attributes
            .get("exitCode")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        true
    });
    code
}

fn attach_to(root: &Path, name: &str, o: &AttachOptions, just_started: bool) -> Result<i32> {
    lifecycle::heal(root)?;
    let cs = Containers::new(root);
    let rec = match cs.find(name) {
        Ok(r) => r,
        // An `--rm` container gone already: the status its die event logged.
        Err(_) if just_started => return Ok(recorded_exit(root, &cs, name)),
        Err(e) => return Err(e),
    };
    let not_running = |s: Status| -> Result<i32> {
        match s {
            // `run -it` of a command that was quicker than us: its status.
            _ if just_started => Ok(recorded_exit(root, &cs, &rec.id)),
            Status::Paused => bail!("container {} is paused; unpause it first", rec.bare_name()),
            s => bail!(
                "you cannot attach to a stopped container, start it first ({} is {s})",
                rec.bare_name()
            ),
        }
    };
    match lifecycle::current_status(&cs, &rec) {
        Status::Running => {}
        s => return not_running(s),
    }
    let dir = hub::open_dir(&cs.dir_of(&rec.id))?;
    // A monitor that just started the container binds its socket a moment later.
    let path = hub::via_fd(&dir, hub::SOCKET);
    let mut tries = 0;
    let sock = loop {
        match UnixStream::connect(&path) {
            Err(_) if tries < 300 && lifecycle::watched(&cs, &rec.id) => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            r => break r,
        }
    };
    if sock.is_err() {
        // Its monitor closed the socket as the container exited, and has recorded the exit
        // since we looked.
        let now = cs
            .load(&rec.id)
            .map_or(Status::Exited, |r| lifecycle::current_status(&cs, &r));
        if now != Status::Running {
            return not_running(now);
        }
    }
    let mut sock = sock.with_context(|| {
        format!(
            "container {} has no attach socket (a foreground `run`, or a monitor from an older berth)",
            rec.bare_name()
        )
    })?;
    let tty = rec.config.tty;
    let send_input = !o.no_stdin && rec.config.open_stdin;
    let stdin_tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let _raw = RawMode::enter(tty && send_input && stdin_tty);
    // Signals: proxied to the container (non-tty), or only noted.
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        mask.add(s);
    }
    let proxy = o.sig_proxy && !tty;
    // With a terminal on both sides, its size follows ours (now and on SIGWINCH).
    let resize = tty && stdin_tty;
    if !proxy {
        mask = SigSet::empty();
    }
    if resize {
        mask.add(Signal::SIGWINCH);
        send_size(&mut sock)?;
    }
    let sfd = if proxy || resize {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
        Some(SignalFd::with_flags(
            &mask,
            SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
        )?)
    } else {
        None
    };
    let stdin = std::io::stdin();
    let mut stdin_open = send_input;
    let mut held = Vec::new();
    let mut frames: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let mut exit: Option<i32> = None;
    loop {
        let mut fds = vec![PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if let Some(s) = &sfd {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut i = 1;
        if stdin_open {
            if ready[1] {
                let n = nix::unistd::read(stdin.as_fd(), &mut buf).unwrap_or(0);
                if n == 0 {
                    stdin_open = false;
                } else {
                    let (fwd, detach) = scan(&o.detach_keys, &mut held, &buf[..n]);
                    if !fwd.is_empty() {
                        // Refused only by a monitor that is closing: read what is left.
                        if sock.write_all(&hub::frame(hub::INPUT, &fwd)).is_err() {
                            stdin_open = false;
                        }
                    }
                    if detach {
                        return Ok(0);
                    }
                }
            }
            i += 1;
        }
        if let Some(s) = &sfd {
            if ready[i] {
                while let Ok(Some(si)) = s.read_signal() {
                    match Signal::try_from(si.ssi_signo as i32) {
                        Ok(Signal::SIGWINCH) => send_size(&mut sock)?,
                        Ok(sig) => {
                            let _ = lifecycle::signal(&cs, &rec.id, sig, false);
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        if ready[0] {
            let n = match sock.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            if n == 0 {
                break;
            }
            frames.extend_from_slice(&buf[..n]);
            while frames.len() >= 8 {
                let len = u32::from_be_bytes([frames[4], frames[5], frames[6], frames[7]]) as usize;
                if frames.len() < 8 + len {
                    break;
                }
                let data = &frames[8..8 + len];
                // Nothing more to do if our own stdout is gone.
                let _ = match frames[0] {
                    2 => err.write_all(data).and_then(|()| err.flush()),
                    hub::EXIT => {
                        if let Ok(b) = <[u8; 4]>::try_from(data) {
                            exit = Some(i32::from_be_bytes(b));
                        }
                        Ok(())
                    }
                    _ => out.write_all(data).and_then(|()| out.flush()),
                };
                frames.drain(..8 + len);
            }
        }
    }
    // The monitor closed the socket: the container exited, with the status it sent (or, from
    // a monitor that did not, the one recorded).
    if let Some(code) = exit {
        return Ok(code);
    }
    let mut code = 0;
    for _ in 0..500 {
        let r = cs.load(&rec.id);
        match r {
            Ok(r) if !r.state.status.is_up() => {
                code = r.state.exit_code;
                break;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(
            parse_detach_keys("ctrl-a,x,ctrl-@,ctrl-_").unwrap(),
            [1, b'x', 0, 31]
        );
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("alt-x").is_err());
    }

    #[test]
    fn scan_holds_partial_sequences() {
        let k = [16u8, 17];
        let mut h = Vec::new();
        assert_eq!(scan(&k, &mut h, b"ab"), (b"ab".to_vec(), false));
        assert_eq!(scan(&k, &mut h, &[16]), (vec![], false));
        assert_eq!(scan(&k, &mut h, b"c"), (vec![16, b'c'], false));
        assert_eq!(scan(&k, &mut h, &[16, 16]), (vec![16], false));
        assert_eq!(scan(&k, &mut h, &[17, b'z']), (vec![], true));
        let mut h = Vec::new();
        assert_eq!(scan(&[], &mut h, &[16, 17]), (vec![16, 17], false));
    }
}
