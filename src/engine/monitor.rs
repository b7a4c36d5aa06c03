//! The per-container monitor: berth's replacement for a daemon.
//!
//! `run -d` (and `start`) fork a child that leaves the caller's session, starts the container
//! (its init becomes the child's child), tells the caller how that went, and then re-executes
//! berth as `berth-monitor loop ...`: a fresh address space that only pumps the container's
//! stdout/stderr into the JSON log and waits for the init, so it stays small. When the init
//! exits the monitor records the exit (code, time, OOM kill), applies the restart policy (by
//! re-executing itself as `berth-monitor start ...`, keeping its pid), or tears the container
//! down (and removes it for `--rm`). The container's `.lock` is held by the monitor for its
//! whole life: a free lock means nobody watches the container.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::container::Containers;
use super::logs::{self, LineBuf, Writer};
use super::{lifecycle, Launched};

pub const ARGV0: &str = "berth-monitor";

/// Called first thing in main: a process started as `berth-monitor` is a monitor.
pub fn maybe_run() {
    let args: Vec<String> = std::env::args().collect();
    if args.first().map(String::as_str) != Some(ARGV0) {
        return;
    }
    let code = match args.get(1).map(String::as_str) {
        Some("loop") => run_loop(&args[2..]),
        Some("start") => run_start(&args[2..]),
        _ => Err(anyhow!("usage: berth-monitor loop|start ...")),
    };
    if let Err(e) = code {
        // Nobody reads our stderr (it is /dev/null); the record carries what went wrong.
        let _ = e;
    }
    std::process::exit(0);
}

fn clear_cloexec(fd: RawFd) -> Result<()> {
    // SAFETY: fd is open for the life of this process (we own it until exec).
    let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fcntl(b, FcntlArg::F_SETFD(FdFlag::empty()))?;
    Ok(())
}

fn exec_self(args: &[String], keep: &[RawFd]) -> Result<()> {
    for fd in keep {
        if *fd >= 0 {
            clear_cloexec(*fd)?;
        }
    }
    let path = CString::new("/proc/self/exe")?;
    let argv: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<std::result::Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars()
        .filter(|(k, _)| !k.starts_with("_BERTH"))
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    let e = nix::unistd::execve(&path, &argv, &env).unwrap_err();
    Err(anyhow!("re-execute berth as monitor: {e}"))
}

/// Points fds 0, 1, 2 at /dev/null.
pub fn null_stdio() {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            let _ = super::dup_onto(&null, fd);
        }
    }
}

/// What the forked child sends the caller: "ok" or "<exit code> <message>".
fn notify(fd: Option<OwnedFd>, msg: &str) {
    if let Some(fd) = fd {
        let _ = nix::unistd::write(&fd, msg.as_bytes());
    }
}

/// Starts container `id` under a new monitor; returns once it runs (or failed to start).
/// The caller holds the container's `.lock` as `lock`; the monitor inherits it.
pub fn launch(cs: &Containers, id: &str, lock: &File) -> Result<()> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // SAFETY: the caller is single-threaded here (the image work that used threads has
    // joined them); the child only calls async-signal-safe code until it execs or exits,
    // or is a plain single-threaded copy of this process, which is all fork requires.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(r);
            let _ = nix::unistd::setsid();
            let _ = std::env::set_current_dir("/");
            null_stdio();
            let mut note = Some(w);
            if let Err(e) = start_and_loop(&cs.root, id, lock.as_raw_fd(), &mut note) {
                let (code, msg) = super::exit_error(&e);
                notify(note.take(), &format!("{code} {msg}"));
            }
            std::process::exit(0);
        }
        nix::unistd::ForkResult::Parent { .. } => {
            drop(w);
            let mut msg = String::new();
            let _ = std::io::Read::read_to_string(&mut File::from(r), &mut msg);
            if msg == "ok" {
                return Ok(());
            }
            let (code, text) = msg.split_once(' ').unwrap_or(("125", "monitor died"));
            Err(anyhow::Error::new(super::ExitError {
                code: code.parse().unwrap_or(super::EXIT_BERTH),
                msg: if text.is_empty() {
                    "monitor died while starting the container".into()
                } else {
                    text.to_string()
                },
            }))
        }
    }
}

/// `berth-monitor start ROOT ID LOCKFD`: a restart, re-executed from the loop.
fn run_start(a: &[String]) -> Result<()> {
    let [root, id, lock] = a else {
        return Err(anyhow!("start: bad arguments"));
    };
    start_and_loop(Path::new(root), id, lock.parse()?, &mut None)
}

/// Starts the container and becomes its monitor loop. Never returns on success.
fn start_and_loop(root: &Path, id: &str, lock_fd: RawFd, note: &mut Option<OwnedFd>) -> Result<()> {
    let cs = Containers::new(root);
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let rec = cs.load(id)?;
    if rec.state.manually_stopped && note.is_none() {
        // Stopped while we waited to restart.
        return lifecycle::release(&cs, id);
    }
    let res = super::start_container(&cs, &rec, super::Attach::Monitor);
    let l: Launched = match res {
        Ok(l) => l,
        Err(e) => {
            let (code, msg) = super::exit_error(&e);
            let _ = lifecycle::record_failed_start(&cs, id, code, &msg);
            notify(note.take(), &format!("{code} {msg}"));
            return lifecycle::release(&cs, id);
        }
    };
    notify(note.take(), "ok");
    let max_size = rec
        .host_config
        .log_config
        .config
        .get("max-size")
        .and_then(|s| crate::commands::run::parse_size(s).ok())
        .unwrap_or(logs::DEFAULT_MAX_SIZE);
    let max_files = rec
        .host_config
        .log_config
        .config
        .get("max-file")
        .and_then(|s| s.parse().ok())
        .unwrap_or(logs::DEFAULT_MAX_FILES);
    let fd = |o: &Option<OwnedFd>| o.as_ref().map_or(-1, |f| f.as_raw_fd());
    let args = vec![
        ARGV0.to_string(),
        "loop".into(),
        root.display().to_string(),
        id.to_string(),
        l.pid.to_string(),
        lock_fd.to_string(),
        fd(&l.out).to_string(),
        fd(&l.err).to_string(),
        fd(&l.stdin).to_string(),
        max_size.to_string(),
        max_files.to_string(),
    ];
    let keep = [lock_fd, fd(&l.out), fd(&l.err), fd(&l.stdin)];
    exec_self(&args, &keep)
}

/// `berth-monitor loop ROOT ID PID LOCK OUT ERR STDIN MAXSIZE MAXFILES`.
fn run_loop(a: &[String]) -> Result<()> {
    let [root, id, pid, lock, out, err, stdin, max_size, max_files] = a else {
        return Err(anyhow!("loop: bad arguments"));
    };
    let pid: i32 = pid.parse()?;
    let lock_fd: RawFd = lock.parse()?;
    let take = |s: &str| -> Option<OwnedFd> {
        let fd: RawFd = s.parse().ok()?;
        // SAFETY: the fd was handed to us across exec by our previous self.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let out = take(out);
    let err = take(err);
    // Held open so an `-i` container's stdin does not see EOF.
    let _stdin = take(stdin);
    let log_path = Path::new(root)
        .join("containers")
        .join(id)
        .join("container.log");
    let mut writer = Writer::open(&log_path, max_size.parse()?, max_files.parse()?)?;
    let code = pump(pid, out, err, &mut writer)?;
    drop(writer);
    let root = PathBuf::from(root);
    let cs = Containers::new(&root);
    match lifecycle::finish(&cs, id, code, true)? {
        Some(delay) => {
            std::thread::sleep(delay);
            let args = [ARGV0, "start", &root.display().to_string(), id, lock]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>();
            exec_self(&args, &[lock_fd])
        }
        None => Ok(()),
    }
}

fn wait_status(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Pumps the container's output into the log until the init exits and the pipes drain;
/// returns the init's exit status.
fn pump(pid: i32, out: Option<OwnedFd>, err: Option<OwnedFd>, w: &mut Writer) -> Result<i32> {
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        mask.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
    // SAFETY: ignoring SIGPIPE has no preconditions.
    unsafe {
        let _ = nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn);
    }
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    let mut streams: Vec<(OwnedFd, &str, LineBuf)> = Vec::new();
    if let Some(o) = out {
        streams.push((o, "stdout", LineBuf::default()));
    }
    if let Some(e) = err {
        streams.push((e, "stderr", LineBuf::default()));
    }
    let mut status: Option<i32> = None;
    let mut buf = vec![0u8; 32 * 1024];
    let reap = |status: &mut Option<i32>| loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(ws) => {
                if ws.pid() == Some(Pid::from_raw(pid)) {
                    *status = wait_status(ws);
                }
            }
        }
    };
    reap(&mut status);
    loop {
        if status.is_some() && streams.is_empty() {
            break;
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        for (fd, _, _) in &streams {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        // After the init is gone, give leftover writers (its children) a moment.
        let timeout = if status.is_some() {
            PollTimeout::from(500u16)
        } else {
            PollTimeout::NONE
        };
        let n = match poll(&mut fds, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            break;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(_)) = sfd.read_signal() {}
            reap(&mut status);
        }
        let mut closed = Vec::new();
        for (i, (fd, name, lb)) in streams.iter_mut().enumerate() {
            if !ready[i + 1] {
                continue;
            }
            match nix::unistd::read(fd.as_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    lb.flush(|l| {
                        let _ = w.write(name, l, logs::now());
                    });
                    closed.push(i);
                }
                Ok(n) => lb.push(&buf[..n], |l| {
                    let _ = w.write(name, l, logs::now());
                }),
            }
        }
        for i in closed.into_iter().rev() {
            streams.remove(i);
        }
    }
    for (_, name, lb) in streams.iter_mut() {
        lb.flush(|l| {
            let _ = w.write(name, l, logs::now());
        });
    }
    while status.is_none() {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(ws) => status = wait_status(ws),
            Err(_) => status = Some(255),
        }
    }
    Ok(status.unwrap_or(255))
}
