//! Starting a made container: mount its root if needed, hand the runtime the init's stdio
//! (pipes for a monitor, the caller's terminal in the foreground), create and start the
//! runtime container, record it running.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use berth_image::{rootfs, Store};
use berth_runtime::container::{self as rt, CreateOpts};
use nix::fcntl::OFlag;

use super::base::{is_mountpoint, runtime_root};
use super::container::{CState, Containers, Record, Status};
use super::{fault, teardown};
use crate::monitor::Launched;

/// Mounts a stopped container's overlay in a private mount namespace of this process
/// (`for_what` names the verb in errors), so it goes away with the process: `cp` and
/// `export` read a stopped container without leaving a mount behind. berth must be
/// single-threaded here, which unshare(CLONE_NEWNS) needs.
pub fn mount_rootfs_privately(cs: &Containers, rec: &Record, for_what: &str) -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .with_context(|| format!("unshare the mount namespace for {for_what}"))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .with_context(|| format!("make the {for_what} mount namespace private"))?;
    mount_rootfs(cs, rec)
}

/// Mounts the container's overlay unless it already is.
pub fn mount_rootfs(cs: &Containers, rec: &Record) -> Result<()> {
    let dir = &cs.dir_of(&rec.id);
    let (upper, work, rootfs_dir) = rootfs::paths(dir);
    if is_mountpoint(&rootfs_dir) {
        return Ok(());
    }
    let chains: Vec<berth_image::Digest> = std::fs::read_to_string(dir.join("layers"))
        .with_context(|| format!("read {}", dir.join("layers").display()))?
        .lines()
        .map(|h| format!("sha256:{h}").parse())
        .collect::<std::result::Result<_, _>>()?;
    let store = Store::open(&cs.root)?;
    // --rm: the writes go with the container, so the upper dir is never synced.
    let volatile = rec.host_config.auto_remove;
    if !volatile {
        // A volatile mount that was not unmounted cleanly leaves this behind, and overlayfs
        // then refuses the upper dir; this container's mounts are not volatile.
        let _ = std::fs::remove_dir_all(work.join("work").join("incompat"));
    }
    // The record says the container is at rest until the start saves it: ps must look.
    let _changing = cs.changing()?;
    rootfs::mount_overlay(&store, &chains, &upper, &work, &rootfs_dir, volatile)?;
    Ok(())
}

/// How the container's stdio is wired.
pub enum Attach {
    /// Pipes (or a pty) read by the monitor into the log.
    Monitor,
    /// The caller's terminal: stdin only with -i, a pty proxied with -t.
    Foreground,
    /// Descriptors the caller chose (a build step's pipes, a compose service's log): the
    /// init gets them as its stdin (None: /dev/null), stdout and stderr; this process's
    /// own stay untouched, so several containers can start side by side.
    Stdio {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
}

/// A pipe for one of the init's output streams: the write end for the init, the read end
/// kept in `keep`.
fn output_pipe(keep: &mut Option<OwnedFd>) -> Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    *keep = Some(r);
    Ok(w)
}

/// Container inits re-execute `berth-runtime` (installed beside berth) rather than berth:
/// a binary half the size starts about 2 ms sooner. Without it, berth itself serves.
pub(crate) fn use_runtime_binary() {
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        let rt = exe.with_file_name("berth-runtime");
        if rt.is_file() {
            berth_runtime::process::set_init_binary(rt);
        }
    }
}

/// Creates and starts the runtime container of `rec` and records it as running.
pub fn start_container(cs: &Containers, rec: &Record, attach: Attach) -> Result<Launched> {
    use_runtime_binary();
    let dir = cs.dir_of(&rec.id);
    mount_rootfs(cs, rec)?;
    super::network::attach::ensure_up(cs, &rec.id)?;
    let rt_root = runtime_root(&cs.root);
    // Setup is idempotent: a leftover of an earlier run (killed watcher) would make create
    // fail, so its processes go first.
    // (Only the runtime container: the record is at hand, so no teardown reads it again.)
    teardown::delete_runtime(cs, &rec.id)?;
    let mut l = Launched {
        pid: 0,
        out: None,
        err: None,
        stdin: None,
        pty: None,
    };
    let tty = rec.config.tty;
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("open /dev/null")?;
    // The init's stdin, stdout and stderr, handed to the runtime: this process's own stay
    // as they are, so several containers can start at once from one process.
    let mut ends: Vec<OwnedFd> = Vec::new();
    let monitored = matches!(attach, Attach::Monitor);
    let stdio: [i32; 3] = match attach {
        Attach::Monitor => {
            let stdin = if rec.config.open_stdin {
                let (ir, iw) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
                l.stdin = Some(iw);
                ends.push(ir);
                ends.last().map_or(-1, |f| f.as_raw_fd())
            } else {
                null.as_raw_fd()
            };
            if tty {
                // The pty master comes back from create.
                [stdin, null.as_raw_fd(), null.as_raw_fd()]
            } else {
                ends.push(output_pipe(&mut l.out)?);
                ends.push(output_pipe(&mut l.err)?);
                [
                    stdin,
                    ends[ends.len() - 2].as_raw_fd(),
                    ends[ends.len() - 1].as_raw_fd(),
                ]
            }
        }
        Attach::Stdio {
            stdin,
            stdout,
            stderr,
        } => {
            let stdin_fd = stdin.as_ref().map_or(null.as_raw_fd(), |f| f.as_raw_fd());
            let fds = [stdin_fd, stdout.as_raw_fd(), stderr.as_raw_fd()];
            // Held until the init has its copies, then closed with `ends`.
            ends.extend(stdin);
            ends.push(stdout);
            ends.push(stderr);
            fds
        }
        Attach::Foreground => {
            let stdin = if rec.config.open_stdin {
                0
            } else {
                null.as_raw_fd()
            };
            if tty {
                [stdin, 1, 2]
            } else {
                // Output goes through us, to the terminal and the log.
                ends.push(output_pipe(&mut l.out)?);
                ends.push(output_pipe(&mut l.err)?);
                [stdin, ends[0].as_raw_fd(), ends[1].as_raw_fd()]
            }
        }
    };
    fault::point("runtime-create")?;
    let created = rt::create_and_start(
        &CreateOpts {
            root: &rt_root,
            id: &rec.id,
            bundle: &dir,
            console_socket: None,
            pid_file: None,
            no_pivot: false,
            preserve_fds: 0,
            stdio: Some(stdio),
        },
        tty,
    );
    // The init holds its ends now; ours close.
    drop(ends);
    let created = created?;
    // On failure the caller releases the container (teardown.rs), runtime container and all
    // (here, one whose process runs already).
    fault::point("runtime-start")?;
    l.pid = created.pid;
    if monitored {
        l.out = l.out.or(created.pty_master);
    } else {
        l.pty = created.pty_master;
    }
    let now = berth_runtime::state::now_rfc3339();
    cs.update(&rec.id, |r| {
        r.state = CState {
            status: Status::Running,
            running: true,
            pid: l.pid,
            started_at: now,
            finished_at: r.state.finished_at.clone(),
            monitor_pid: std::process::id() as i32,
            manually_stopped: false,
            ..CState::default()
        };
    })?;
    berth_runtime::debug::step("engine: running recorded");
    Ok(l)
}
