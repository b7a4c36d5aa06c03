//! The per-container monitor: berth's replacement for a daemon.
//!
//! `run -d` (and `start`) fork a child that leaves the caller's session, starts the container
//! (its init becomes the child's child), tells the caller how that went, and then executes
//! the small `berth-monitor` binary (pump.rs; berth itself if that is not installed): a fresh
//! address space that only pumps the container's stdout/stderr into the JSON log and waits
//! for the init, so it stays small. When the init exits, it executes berth again as
//! `berth-monitor finish ...` (same pid, still the parent), which records the exit (code,
//! time, OOM kill), applies the restart policy (starting the container again in place), or
//! tears the container down (and removes it for `--rm`). The container's `.lock` is held by
//! the monitor for its whole life: a free lock means nobody watches the container.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use nix::fcntl::OFlag;

use super::base::{exit_error, ExitError, EXIT_BERTH};
use super::container::Containers;
use super::lifecycle;
use super::logs;
use super::start::{start_container, Attach, Launched};
use super::sys;

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
        Some("finish") => run_finish(&args[2..]),
        _ => Err(anyhow!("usage: berth-monitor loop|start ...")),
    };
    if let (Err(e), Some(root), Some(id)) = (code, args.get(2), args.get(3)) {
        // Nobody reads our stderr (it is /dev/null): the record says what went wrong.
        let _ = Containers::new(Path::new(root)).update(id, |r| {
            r.state.error = format!("monitor: {}", crate::text::error_chain(&e));
        });
    }
    std::process::exit(0);
}

fn exec_path(exe: &Path, args: &[String], keep: &[RawFd]) -> Result<()> {
    for fd in keep {
        if *fd >= 0 {
            sys::clear_cloexec(*fd)?;
        }
    }
    let path = CString::new(exe.as_os_str().as_encoded_bytes())?;
    let argv: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<std::result::Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars()
        .filter(|(k, _)| !k.starts_with("_BERTH"))
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    let e = nix::unistd::execve(&path, &argv, &env).unwrap_err();
    Err(anyhow!("execute {} as monitor: {e}", exe.display()))
}

/// Points fds 0, 1, 2 at /dev/null.
pub fn null_stdio() {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            let _ = sys::dup_onto(&null, fd);
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
pub fn launch(cs: &Containers, id: &str, lock: nix::fcntl::Flock<File>) -> Result<()> {
    let lock_fd = lock.as_raw_fd();
    // From here the lock is the monitor's: this process closes its descriptor when done
    // without unlocking.
    let ours = sys::into_fd_keeping_lock(lock);
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // The image work that used threads has joined them; fork checks it.
    match sys::fork_single_threaded()? {
        nix::unistd::ForkResult::Child => {
            drop(r);
            let _ = nix::unistd::setsid();
            let _ = std::env::set_current_dir("/");
            null_stdio();
            let mut note = Some(w);
            if let Err(e) = start_and_loop(&cs.root, id, lock_fd, &mut note) {
                let (code, msg) = exit_error(&e);
                notify(note.take(), &format!("{code} {msg}"));
            }
            std::process::exit(0);
        }
        nix::unistd::ForkResult::Parent { .. } => {
            drop(w);
            drop(ours);
            let mut msg = String::new();
            let _ = std::io::Read::read_to_string(&mut File::from(r), &mut msg);
            if msg == "ok" {
                return Ok(());
            }
            let (code, text) = msg.split_once(' ').unwrap_or(("125", "monitor died"));
            Err(anyhow::Error::new(ExitError {
                code: code.parse().unwrap_or(EXIT_BERTH),
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
    let res = start_container(&cs, &rec, Attach::Monitor);
    let l: Launched = match res {
        Ok(l) => l,
        Err(e) => {
            let (code, msg) = exit_error(&e);
            let _ = lifecycle::record_failed_start(&cs, id, code, &msg);
            notify(note.take(), &format!("{code} {msg}"));
            return lifecycle::release(&cs, id);
        }
    };
    notify(note.take(), "ok");
    let (max_size, max_files) = logs::limits(&rec);
    let fd = |o: &Option<OwnedFd>| o.as_ref().map_or(-1, |f| f.as_raw_fd());
    let berth = std::fs::read_link("/proc/self/exe")?;
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
        berth.display().to_string(),
    ];
    let keep = [lock_fd, fd(&l.out), fd(&l.err), fd(&l.stdin)];
    // The small loop binary beside berth, if installed; berth itself otherwise.
    let small = berth.with_file_name(ARGV0);
    let exe = if small.is_file() { small } else { berth };
    exec_path(&exe, &args, &keep)
}

/// `berth-monitor loop ROOT ID PID LOCK OUT ERR STDIN MAXSIZE MAXFILES BERTH`, when the
/// small binary is not installed: the same loop, in berth.
fn run_loop(a: &[String]) -> Result<()> {
    let code = crate::pump::loop_main(a).map_err(|e| anyhow!(e))?;
    run_finish(&[a[0].clone(), a[1].clone(), code.to_string(), a[3].clone()])
}

/// `berth-monitor finish ROOT ID CODE LOCK`: record the exit, restart or tear down.
fn run_finish(a: &[String]) -> Result<()> {
    let [root, id, code, lock] = a else {
        return Err(anyhow!("finish: bad arguments"));
    };
    let root = PathBuf::from(root);
    let cs = Containers::new(&root);
    match lifecycle::finish(&cs, id, code.parse()?, true)? {
        Some(delay) => {
            std::thread::sleep(delay);
            start_and_loop(&root, id, lock.parse()?, &mut None)
        }
        None => Ok(()),
    }
}
