//! The per-container monitor: berth's replacement for a daemon. This folder is all of it:
//! the launch and the restart loop (here), the small `berth-monitor` binary (main.rs) and
//! its pump of a container's output into the json-file log (pump.rs), and the log's reader
//! (logs.rs). It knows nothing of records, images or the runtime: what it needs of a
//! container it asks the engine through [`Host`], which the engine implements.
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

use crate::exit::{ExitError, EXIT_BERTH};
use crate::sys;

pub mod hub;
pub mod logs;
pub mod pump;

pub const ARGV0: &str = "berth-monitor";

/// A started container's init and the ends of its stdio that the watcher keeps.
pub struct Launched {
    pub pid: i32,
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub pty: Option<OwnedFd>,
}

/// What the monitor asks of the engine about container `id` under berth's `root`.
pub trait Host {
    /// Starts the container with its stdio as pipes (or a pty) for the monitor.
    fn start(&self, root: &Path, id: &str) -> Result<Launched>;
    /// A restart that waited should not happen: the container was stopped meanwhile.
    fn stopped_meanwhile(&self, root: &Path, id: &str) -> Result<bool>;
    /// A start failed: record why (with the exit status berth gives, returned) and take
    /// down what the attempt left.
    fn failed_start(&self, root: &Path, id: &str, e: &anyhow::Error) -> (i32, String);
    /// Takes down what a stopped container does not keep (no restart will come).
    fn release(&self, root: &Path, id: &str) -> Result<()>;
    /// The init exited with `code`: record it; the delay before a restart, if one is due.
    fn finish(&self, root: &Path, id: &str, code: i32) -> Result<Option<std::time::Duration>>;
    /// The log's rotation: bytes per file, files.
    fn log_limits(&self, root: &Path, id: &str) -> (u64, u32);
    /// The monitor itself failed; nobody reads its stderr, so the record says it.
    fn note_error(&self, root: &Path, id: &str, e: &anyhow::Error);
    /// The exit status and message berth gives for `e`.
    fn exit_status(&self, e: &anyhow::Error) -> (i32, String);
    /// The container (re)started: its health is `starting` again. Returns the probe
    /// schedule for the loop (`INTERVAL_MS,START_PERIOD_MS,START_INTERVAL_MS`), None
    /// without a healthcheck.
    fn health_start(&self, root: &Path, id: &str) -> Result<Option<String>>;
    /// Runs one healthcheck probe and records its result; true once the health is no
    /// longer `starting` (from then on probes come every interval, also in the start
    /// period, as Docker >= 25 does).
    fn health_probe(&self, root: &Path, id: &str) -> Result<bool>;
}

/// Called first thing in main: a process started as `berth-monitor` is a monitor.
pub fn maybe_run(host: &dyn Host) {
    let args: Vec<String> = std::env::args().collect();
    if args.first().map(String::as_str) != Some(ARGV0) {
        return;
    }
    let mut exit = 0;
    let code = match args.get(1).map(String::as_str) {
        Some("loop") => run_loop(host, &args[2..]),
        Some("start") => run_start(host, &args[2..]),
        Some("finish") => run_finish(host, &args[2..]),
        Some("health") => match &args[2..] {
            [root, id] => host.health_probe(Path::new(root), id).map(|settled| {
                if settled {
                    exit = pump::HEALTH_SETTLED;
                }
            }),
            _ => Err(anyhow!("health: bad arguments")),
        },
        _ => Err(anyhow!("usage: berth-monitor loop|start ...")),
    };
    if let (Err(e), Some(root), Some(id)) = (code, args.get(2), args.get(3)) {
        host.note_error(Path::new(root), id, &e);
    }
    std::process::exit(exit);
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

/// What the forked child sends the caller: "ok" or "<exit code> <message>".
fn notify(fd: Option<OwnedFd>, msg: &str) {
    if let Some(fd) = fd {
        let _ = nix::unistd::write(&fd, msg.as_bytes());
    }
}

/// Starts container `id` under a new monitor; returns once it runs (or failed to start).
/// The caller holds the container's `.lock` as `lock`; the monitor inherits it.
pub fn launch(host: &dyn Host, root: &Path, id: &str, lock: nix::fcntl::Flock<File>) -> Result<()> {
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
            // With --debug, the start's steps print on the caller's stderr until "ok".
            let debug = berth_runtime::debug::on();
            if !debug {
                sys::null_stdio();
            }
            let mut note = Some(w);
            if let Err(e) = start_and_loop(host, root, id, lock_fd, &mut note, debug) {
                let (code, msg) = host.exit_status(&e);
                notify(note.take(), &format!("{code} {msg}"));
            }
            std::process::exit(0);
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            drop(ours);
            let mut msg = String::new();
            let _ = std::io::Read::read_to_string(&mut File::from(r), &mut msg);
            berth_runtime::debug::step("monitor: reported");
            if msg == "ok" {
                return Ok(());
            }
            // A monitor that failed (or was killed) is on its way out: its exit releases
            // the container's lock, which the next command must find free (a `ps` right
            // after would otherwise see the container still watched and leave it as is).
            let _ = nix::sys::wait::waitpid(child, None);
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
fn run_start(host: &dyn Host, a: &[String]) -> Result<()> {
    let [root, id, lock] = a else {
        return Err(anyhow!("start: bad arguments"));
    };
    start_and_loop(host, Path::new(root), id, lock.parse()?, &mut None, false)
}

/// Starts the container and becomes its monitor loop. Never returns on success.
fn start_and_loop(
    host: &dyn Host,
    root: &Path,
    id: &str,
    lock_fd: RawFd,
    note: &mut Option<OwnedFd>,
    debug: bool,
) -> Result<()> {
    // Orphans of the container's processes are reparented to us, not to the host's init.
    nix::sys::prctl::set_child_subreaper(true)?;
    if note.is_none() && host.stopped_meanwhile(root, id)? {
        // Stopped while we waited to restart.
        return host.release(root, id);
    }
    let l: Launched = match host.start(root, id) {
        Ok(l) => l,
        Err(e) => {
            // failed_start records the error and takes down what the attempt left.
            let (code, msg) = host.failed_start(root, id, &e);
            notify(note.take(), &format!("{code} {msg}"));
            return Ok(());
        }
    };
    // The attach socket exists before the caller hears "ok" (`run -d` then `attach`).
    let listener = hub::bind(&root.join("containers").join(id)).ok();
    let lfd = listener.as_ref().map_or(-1, |l| l.as_raw_fd());
    // Health is `starting` before the caller hears "ok": `compose up --wait` and
    // `depends_on: service_healthy` read it as soon as the start returns, and must not see
    // no health yet (taken for "no healthcheck") or the last run's `healthy`.
    let health = host.health_start(root, id).unwrap_or_else(|e| {
        host.note_error(root, id, &e);
        None
    });
    berth_runtime::debug::step("monitor: attach socket bound, health set");
    notify(note.take(), "ok");
    if debug {
        sys::null_stdio();
    }
    let (max_size, max_files) = host.log_limits(root, id);
    let fd = |o: &Option<OwnedFd>| o.as_ref().map_or(-1, |f| f.as_raw_fd());
    let berth = std::fs::read_link("/proc/self/exe")?;
    let mut args = vec![
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
    if let Some(h) = health {
        args.push(h);
    }
    let keep = [lock_fd, fd(&l.out), fd(&l.err), fd(&l.stdin), lfd];
    // Single-threaded here (a forked child, or a monitor process): the environment is ours.
    if lfd >= 0 {
        std::env::set_var(hub::LISTENER_ENV, lfd.to_string());
    } else {
        std::env::remove_var(hub::LISTENER_ENV);
    }
    // The small loop binary beside berth, if installed; berth itself otherwise.
    let small = berth.with_file_name(ARGV0);
    let exe = if small.is_file() { small } else { berth };
    exec_path(&exe, &args, &keep)
}

/// `berth-monitor loop ROOT ID PID LOCK OUT ERR STDIN MAXSIZE MAXFILES BERTH [HEALTH]`, when the
/// small binary is not installed: the same loop, in berth.
fn run_loop(host: &dyn Host, a: &[String]) -> Result<()> {
    let code = pump::loop_main(a).map_err(|e| anyhow!(e))?;
    run_finish(
        host,
        &[a[0].clone(), a[1].clone(), code.to_string(), a[3].clone()],
    )
}

/// `berth-monitor finish ROOT ID CODE LOCK`: record the exit, restart or tear down.
fn run_finish(host: &dyn Host, a: &[String]) -> Result<()> {
    let [root, id, code, lock] = a else {
        return Err(anyhow!("finish: bad arguments"));
    };
    let root = PathBuf::from(root);
    match host.finish(&root, id, code.parse()?)? {
        Some(delay) => {
            std::thread::sleep(delay);
            start_and_loop(host, &root, id, lock.parse()?, &mut None, false)
        }
        None => Ok(()),
    }
}
