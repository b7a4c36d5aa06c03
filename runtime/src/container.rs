//! Container operations as the runtime spec defines them (runtime.md "Operations"), with the
//! status guards from state.rs. Every operation takes the container's lock.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::cgroups::{self, Join};
use crate::error::{Error, IoContext, Result};
use crate::init::{self, InitConfig, Mode};
use crate::message::{FromInit, InitError, ToInit};
use crate::process::{self, Child, Spawn};
use crate::state::{self, ContainerDir, State, Status};
use crate::{console, debug, hooks};

pub struct CreateOpts<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// The init's stdin, stdout, stderr (an engine starting several containers at once
    /// passes each its own); None: inherited from this process, as runc does.
    pub stdio: Option<[RawFd; 3]>,
}

/// Loads and checks `config.json` of a bundle.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = fs::read(&path).ctx("read", &path)?;
    let spec: Spec = serde_json::from_slice(&data).map_err(|e| Error::InvalidSpec {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    let bad = |msg: String| Error::InvalidSpec {
        path: path.clone(),
        msg,
    };
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| bad("no process".into()))?;
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !crate::security::apparmor_enabled() {
            return Err(bad(crate::security::apparmor_unavailable(p)));
        }
    }
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(bad("process.args must not be empty".into()));
    }
    crate::security::check_user(process.user()).map_err(bad)?;
    if !process.cwd().is_absolute() {
        return Err(bad(format!(
            "process.cwd {:?} is not absolute",
            process.cwd()
        )));
    }
    let root = spec.root().as_ref().ok_or_else(|| bad("no root".into()))?;
    let rootfs = bundle.join(root.path());
    if !rootfs.is_dir() {
        return Err(bad(format!(
            "root.path {} is not a directory",
            rootfs.display()
        )));
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(bad(format!(
                "mount destination {:?} is not absolute",
                m.destination()
            )));
        }
    }
    for k in spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flat_map(|m| m.keys())
    {
        check_sysctl_name(k).map_err(bad)?;
    }
    Ok(spec)
}

/// A sysctl's name is a file below /proc/sys (`net.ipv4.ip_forward`, or with slashes as
/// runc also takes it): words of letters, digits, `_`, `-`, `+` and `:` joined by dots or
/// slashes. Anything that would leave /proc/sys (`..`, an absolute or empty component) is
/// refused before the init writes it.
pub fn check_sysctl_name(k: &str) -> std::result::Result<(), String> {
    let ok = !k.is_empty()
        && k.split(['.', '/']).all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b':'))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "linux.sysctl {k:?}: not a sysctl name (words of letters, digits, _ and - joined by . or /)"
        ))
    }
}

/// A container without a mount namespace shares the caller's (config-linux.md
/// "Namespaces"). Its `mounts` are made under the rootfs on the host, as runc and crun do
/// (and undone by teardown, see `host_mounts`); what would change mounts outside the rootfs
/// is refused: masked and read-only paths (runc refuses them too), a read-only root and a
/// root propagation (both would remount the host's mount that holds the rootfs).
fn check_without_mount_ns(spec: &Spec, path: &Path) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    let what = if linux.masked_paths().as_ref().is_some_and(|m| !m.is_empty()) {
        "linux.maskedPaths"
    } else if linux
        .readonly_paths()
        .as_ref()
        .is_some_and(|m| !m.is_empty())
    {
        "linux.readonlyPaths"
    } else if linux.rootfs_propagation().is_some() {
        "linux.rootfsPropagation"
    } else if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        "root.readonly"
    } else {
        return Ok(());
    };
    Err(Error::InvalidSpec {
        path: path.to_path_buf(),
        msg: format!(
            "{what} need a mount namespace of the container's own: add {{\"type\": \"mount\"}} to linux.namespaces (without one the container shares the caller's mounts)"
        ),
    })
}

/// Where the init mounts each of the config's `mounts` when it has no mount namespace of
/// its own: under the rootfs, in the caller's namespace.
fn host_mount_points(spec: &Spec, rootfs: &Path) -> Vec<PathBuf> {
    spec.mounts()
        .iter()
        .flatten()
        .map(|m| rootfs.join(m.destination().strip_prefix("/").unwrap_or(m.destination())))
        .collect()
}

/// Refreshes the status from the kernel: is our init (same pid and start time) alive?
pub fn refresh(st: &mut State) {
    if st.pid <= 0 {
        return;
    }
    let alive = state::process_start_time(st.pid) == Some(st.pid_start)
        && state::process_state(st.pid) != Some('Z');
    st.status = if !alive {
        Status::Stopped
    } else if !st.started {
        Status::Created
    } else if cgroups::is_frozen(&st.cgroup.path) {
        Status::Paused
    } else {
        Status::Running
    };
}

fn wrong(st: &State, op: &'static str) -> Error {
    Error::WrongState {
        id: st.id.clone(),
        status: st.status.as_str(),
        op,
    }
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    fs::write(&tmp, pid.to_string()).ctx("write pid file", &tmp)?;
    crate::sys::replace_file(&tmp, path).ctx("write pid file", path)
}

/// Binds exec.sock; the path may exceed sun_path's 108 bytes under a deep --root, so bind
/// relative to the state directory through /proc/self/fd.
fn bind_exec_sock(dir: &ContainerDir) -> Result<UnixListener> {
    let d = fs::File::open(&dir.dir).ctx("open", &dir.dir)?;
    let p = format!("/proc/self/fd/{}/{}", d.as_raw_fd(), state::EXEC_SOCK);
    UnixListener::bind(&p).ctx("bind", dir.exec_sock())
}

fn connect_exec_sock(dir: &ContainerDir) -> Result<UnixStream> {
    let d = fs::File::open(&dir.dir).ctx("open", &dir.dir)?;
    let p = format!("/proc/self/fd/{}/{}", d.as_raw_fd(), state::EXEC_SOCK);
    UnixStream::connect(&p).ctx("connect", dir.exec_sock())
}

/// A console for the init: connect to the caller's socket, or (for a foreground run with a
/// terminal and no socket) a socketpair whose other end we read the master from.
enum Console {
    Socket(UnixStream),
    Local(UnixStream, UnixStream),
}

impl Console {
    fn child_fd(&self) -> i32 {
        match self {
            Console::Socket(s) => s.as_raw_fd(),
            Console::Local(_, theirs) => theirs.as_raw_fd(),
        }
    }
}

pub struct Created {
    pub state: State,
    /// The init, still our child (for `run` to wait on).
    pub pid: i32,
    /// For a foreground `run` with a terminal: the pty master to proxy.
    pub pty_master: Option<OwnedFd>,
}

pub fn create(o: &CreateOpts<'_>) -> Result<Created> {
    create_with(o, false)
}

/// create, and when the spec asks for a terminal and no console socket is given, a pty
/// whose master comes back in `Created::pty_master` (for a caller that proxies or logs it).
pub fn create_with(o: &CreateOpts<'_>, local_console: bool) -> Result<Created> {
    create_locked(o, local_console, false).map(|(_, c)| c)
}

/// create_with and start in one: the init goes on from Ready to the container's process
/// without waiting on exec.sock (no "created" state in between; see `create_locked`). For
/// callers that start what they create at once (run, berth's engine).
pub fn create_and_start(o: &CreateOpts<'_>, local_console: bool) -> Result<Created> {
    let (_, created) = create_locked(o, local_console, true)?;
    poststart(&created.state);
    Ok(created)
}

/// create_with, still holding the container's lock. With `start_now` (run) the init goes on
/// from Ready to its startContainer hooks and execve without waiting for `start`: no
/// exec.sock, no "created" state; what comes back is a running container (poststart hooks
/// not run yet).
fn create_locked(
    o: &CreateOpts<'_>,
    local_console: bool,
    start_now: bool,
) -> Result<(ContainerDir, Created)> {
    let dir = ContainerDir::create(o.root, o.id)?;
    let mut st = None;
    match create_inner(o, &dir, &mut st, local_console, start_now) {
        Ok(c) => Ok((dir, c)),
        Err(e) => {
            // Undo everything: the init (if any), the cgroup, the state directory.
            if let Some(st) = st {
                teardown(&st);
            }
            let _ = dir.remove();
            Err(e)
        }
    }
}

fn create_inner(
    o: &CreateOpts<'_>,
    dir: &ContainerDir,
    out: &mut Option<State>,
    local_console: bool,
    start_now: bool,
) -> Result<Created> {
    let bundle = fs::canonicalize(o.bundle).ctx("open bundle", o.bundle)?;
    let spec = load_spec(&bundle)?;
    debug::step("spec loaded");
    let rootfs = fs::canonicalize(
        bundle.join(
            spec.root()
                .as_ref()
                .map(|r| r.path().clone())
                .unwrap_or_default(),
        ),
    )
    .ctx("open rootfs", &bundle)?;
    let own_mount_ns = init::namespaces(&spec)
        .iter()
        .any(|(t, _)| *t == LinuxNamespaceType::Mount);
    if !own_mount_ns {
        check_without_mount_ns(&spec, &bundle.join("config.json"))?;
    }
    let cg_path = cgroups::path_for(&spec, o.id);
    let mut st = State {
        oci_version: spec.version().clone(),
        id: o.id.to_string(),
        status: Status::Creating,
        pid: 0,
        pid_start: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        created: state::now_rfc3339(),
        owner: String::new(),
        cgroup: state::CgroupRecord {
            path: cg_path.clone(),
            created: Vec::new(),
        },
        started: false,
        post_hooks: state::PostHooks {
            poststart: spec
                .hooks()
                .as_ref()
                .and_then(|h| h.poststart().clone())
                .unwrap_or_default(),
            poststop: spec
                .hooks()
                .as_ref()
                .and_then(|h| h.poststop().clone())
                .unwrap_or_default(),
        },
        resources: None,
        host_mounts: if own_mount_ns {
            Vec::new()
        } else {
            host_mount_points(&spec, &rootfs)
        },
    };
    let linux = spec.linux().clone().unwrap_or_default();
    let resources = linux.resources().clone();
    st.resources = resources.clone();
    *out = Some(st.clone());
    dir.save(&st)?;

    let new_userns = init::namespaces(&spec)
        .iter()
        .any(|(t, p)| *t == LinuxNamespaceType::User && p.is_none());
    // The cgroup is made while the init sets itself up, except what must precede the clone:
    // all of it for a new user namespace (the parent moves the init in: it may not write the
    // host's cgroupfs), the directory on v2 (the child is born inside, CLONE_INTO_CGROUP).
    let unified = cgroups::is_unified()?;
    let mut early: Option<(Join, Option<OwnedFd>)> = None;
    if new_userns {
        st.cgroup = cgroups::prepare(&cg_path, o.id, resources.as_ref())?;
        early = Some((Join::Done, None));
    } else if unified {
        let made = cgroups::make_dirs(&mut st.cgroup);
        *out = Some(st.clone());
        early = Some(made?);
    }
    if early.is_some() {
        *out = Some(st.clone());
        dir.save(&st)?;
    }
    let listener = if start_now {
        None
    } else {
        let l = bind_exec_sock(dir)?;
        debug::step("exec.sock bound");
        Some(l)
    };
    let console = if let Some(sock) = o.console_socket {
        Some(Console::Socket(
            UnixStream::connect(sock).ctx("connect console socket", sock)?,
        ))
    } else if local_console
        && spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false)
    {
        let (a, b) = UnixStream::pair().ctx("socketpair", "console")?;
        Some(Console::Local(a, b))
    } else {
        None
    };
    let mut inherit: Vec<RawFd> = listener.iter().map(|l| l.as_raw_fd()).collect();
    inherit.extend(console.as_ref().map(|c| c.child_fd()));
    let pid_ns = init::namespaces(&spec)
        .into_iter()
        .find(|(t, p)| *t == LinuxNamespaceType::Pid && p.is_some())
        .and_then(|(_, p)| p);
    let (clone_flags, unshare_flags) = init::clone_flags(&spec);
    let mut child = process::spawn(Spawn {
        clone_flags,
        unshare_flags,
        cgroup_v2_dir: if new_userns {
            None
        } else {
            early.as_ref().and_then(|(_, fd)| fd.as_ref())
        },
        pid_ns: pid_ns.as_deref(),
        inherit,
        userns: new_userns,
        stdio: o.stdio,
        keep_mount_ns: !own_mount_ns,
    })?;
    debug::step("cloned");
    // Opened beside the directories (cgroups::Opening); only now, with the init cloned.
    let opening = if new_userns || !unified {
        None
    } else {
        cgroups::Opening::start(&cg_path, o.id)
    };
    // Everything from here talks to the init, which may fail at any of its steps and exit:
    // then what fails here is only a consequence (a write to its closed end is EPIPE).
    let res = (|| -> Result<Created> {
        st.pid = child.pid;
        st.pid_start = state::process_start_time(child.pid).unwrap_or(0);
        *out = Some(st.clone());
        let cfg = InitConfig {
            mode: Mode::Create {
                listener_fd: listener.as_ref().map(|l| l.as_raw_fd()),
            },
            spec: spec.clone(),
            rootfs: rootfs.clone(),
            no_pivot: o.no_pivot,
            join: Join::Done,
            cgroup_v2: unified,
            cgroup_v1: if unified {
                Vec::new()
            } else {
                cgroups::v1_hierarchies()?
            },
            console_fd: console.as_ref().map(|c| c.child_fd()),
            new_userns,
            preserve_fds: o.preserve_fds,
            state_json: st.hook_json(),
            debug_t0: debug::base(),
        };
        process::send_config(&mut child, cfg)?;
        if new_userns {
            process::write_id_maps(child.pid, &spec)?;
            cgroups::add_pid(&cg_path, o.id, child.pid)?;
            child.maps_written()?;
        }
        drop(listener);
        let join = match early {
            Some((join, _)) if new_userns => join,
            Some((join, _)) => {
                cgroups::apply_with(opening, &cg_path, o.id, resources.as_ref())?;
                join
            }
            None => {
                let made = cgroups::make_dirs(&mut st.cgroup);
                *out = Some(st.clone());
                if !cgroups::derivable(&st.cgroup) {
                    dir.save(&st)?;
                }
                let (join, _) = made?;
                cgroups::apply_with(opening, &cg_path, o.id, resources.as_ref())?;
                join
            }
        };
        debug::step("cgroup ready");
        child.channel.send(&ToInit::Cgroup(join))?;
        // The pid (and the cgroup record) reach the state file while the init mounts. A
        // runtime killed before this leaves no init behind: the init reads or writes its
        // closed channel before it gets anywhere and exits; the cgroup is found from the
        // path saved at the start (cgroups::derivable).
        dir.save(&st)?;
        // Compiled here while the init mounts, instead of in the init after `start`.
        if let Some(s) = linux.seccomp() {
            let progs = crate::seccomp::compile(s).map_err(Error::Seccomp)?;
            // An init that failed already has closed its end: its error is read below.
            let _ = child.channel.send(&ToInit::Seccomp(
                progs.iter().map(crate::seccomp::Program::to_raw).collect(),
            ));
            debug::step("seccomp compiled");
        }
        let hooks_cfg = spec.hooks().clone().unwrap_or_default();
        wait_ready(
            &mut child,
            |st_json| {
                hooks::run(
                    "prestart",
                    hooks_cfg.prestart().as_deref().unwrap_or(&[]),
                    st_json,
                )?;
                hooks::run(
                    "createRuntime",
                    hooks_cfg.create_runtime().as_deref().unwrap_or(&[]),
                    st_json,
                )
            },
            &st.hook_json(),
        )?;
        debug::step("init ready");
        let pty_master = match console {
            Some(Console::Local(ours, theirs)) => {
                drop(theirs);
                Some(console::recv_fd(&ours)?)
            }
            _ => None,
        };
        if start_now {
            // The channel ends when the init's execve closes it, or carries its report.
            match child.channel.recv()? {
                None => debug::step("start: init exec'd"),
                Some(FromInit::Error(report)) => return Err(report.into()),
                Some(_) => return Err(Error::Invalid("unexpected message from the init".into())),
            }
            st.started = true;
            st.status = Status::Running;
        } else {
            st.status = Status::Created;
        }
        *out = Some(st.clone());
        dir.save(&st)?;
        if let Some(p) = o.pid_file {
            write_pid_file(p, st.pid)?;
        }
        Ok(Created {
            pid: st.pid,
            state: st,
            pty_master,
        })
    })();
    res.map_err(|e| prefer_init_error(&mut child, e))
}

/// The init's own report, when it sent one, instead of an error that its exit caused on our
/// side: the init sends its failed step and exits, so kill it (teardown would anyway), then
/// read what it left in the channel before the end of the stream.
fn prefer_init_error(child: &mut Child, e: Error) -> Error {
    if matches!(e, Error::Init { .. }) {
        return e;
    }
    let _ = kill(Pid::from_raw(child.pid), Signal::SIGKILL);
    loop {
        match child.channel.recv() {
            Ok(Some(FromInit::Error(report))) => return report.into(),
            Ok(Some(_)) => continue,
            _ => return e,
        }
    }
}

/// Serves the init's requests until it reports Ready (or an error).
fn wait_ready(
    child: &mut Child,
    run_hooks: impl Fn(&str) -> Result<()>,
    st_json: &str,
) -> Result<()> {
    loop {
        match child.channel.recv()? {
            Some(FromInit::RunHooks) => {
                run_hooks(st_json)?;
                child.channel.send(&ToInit::HooksDone)?;
            }
            Some(FromInit::Ready) => return Ok(()),
            Some(FromInit::Error(report)) => return Err(report.into()),
            None => {
                let code = process::wait_status(child.pid).unwrap_or(-1);
                let msg = if code == process::EXIT_PROTECT_FAILED {
                    "could not re-execute the runtime from a read-only bind mount of itself (CVE-2019-5736 protection)".to_string()
                } else {
                    format!("init exited with status {code} before reporting")
                };
                return Err(InitError {
                    step: "start of init".into(),
                    msg,
                    errno: None,
                }
                .into());
            }
        }
    }
}

/// Kills the init, removes the cgroup: the state-only teardown used by delete and by a failed
/// create. Keeps going past errors.
fn teardown(st: &State) -> Vec<Error> {
    let mut errs = Vec::new();
    if st.pid > 0 && state::process_start_time(st.pid) == Some(st.pid_start) {
        // A pidfd says when it is gone, without polling /proc; it is of the same process
        // only if the start time still matches once it is open.
        let pidfd = crate::sys::pidfd_open(st.pid)
            .ok()
            .filter(|_| state::process_start_time(st.pid) == Some(st.pid_start));
        let _ = kill(Pid::from_raw(st.pid), Signal::SIGKILL);
        if let Some(fd) = &pidfd {
            use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
            let _ = poll(
                &mut [PollFd::new(fd.as_fd(), PollFlags::POLLIN)],
                PollTimeout::from(500u16),
            );
        }
        for _ in 0..500 {
            // Reap it if it is our child (a failed create); otherwise its parent will.
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(st.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            if state::process_start_time(st.pid) != Some(st.pid_start)
                || state::process_state(st.pid) == Some('Z')
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        debug::step("delete: init gone");
    }
    unmount_host_mounts(st, &mut errs);
    if let Err(e) = cgroups::remove(&st.cgroup) {
        errs.push(e);
    }
    errs
}

/// Undoes the mounts a container without a mount namespace made on the host, last made
/// first; lazily, so a process that still holds one does not block delete. Each is found
/// again inside the rootfs as the init found it (openat2 RESOLVE_IN_ROOT), never through
/// the host's view of the path: a symlink in the image must not lead to a host mount.
/// ENOENT and EINVAL (no longer a mount point) mean it is gone already.
fn unmount_host_mounts(st: &State, errs: &mut Vec<Error>) {
    use nix::errno::Errno;
    use nix::fcntl::OFlag;
    if st.host_mounts.is_empty() {
        return;
    }
    let root = match nix::fcntl::open(
        &st.rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return,
        Err(e) => {
            errs.push(Error::sys(
                format!("open rootfs {}", st.rootfs.display()),
                e,
            ));
            return;
        }
    };
    for m in st.host_mounts.iter().rev() {
        let rel = m.strip_prefix(&st.rootfs).unwrap_or(m);
        let at = match crate::rootfs::open_in_root(&root, rel, OFlag::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                errs.push(Error::sys(format!("find mount {}", m.display()), e));
                continue;
            }
        };
        // The descriptor's magic link names exactly the mount it was resolved to.
        match nix::mount::umount2(
            &crate::rootfs::fd_path(&at),
            nix::mount::MntFlags::MNT_DETACH,
        ) {
            Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
            Err(e) => errs.push(Error::sys(format!("unmount {}", m.display()), e)),
        }
    }
}

pub fn start(root: &Path, id: &str) -> Result<State> {
    let dir = ContainerDir::open(root, id)?;
    let mut st = dir.load()?;
    refresh(&mut st);
    if !st.status.can_start() {
        return Err(wrong(&st, "start"));
    }
    debug::step("start: state loaded");
    start_in(&dir, st)
}

/// Starts a created container whose state `st` the caller read (or wrote) under `dir`'s lock.
fn start_in(dir: &ContainerDir, mut st: State) -> Result<State> {
    let mut conn = connect_exec_sock(dir)?;
    use std::io::{Read, Write};
    conn.write_all(b"s").ctx("signal start", dir.exec_sock())?;
    let mut msg = String::new();
    let _ = conn.read_to_string(&mut msg);
    debug::step("start: init exec'd");
    let _ = fs::remove_file(dir.exec_sock());
    st.started = true;
    st.status = Status::Running;
    dir.save(&st)?;
    if !msg.is_empty() {
        // The init's typed report of the step that failed after Ready (exec, privileges,
        // startContainer hooks); text only from an init that predates it.
        let report = serde_json::from_str::<InitError>(&msg).unwrap_or(InitError {
            step: "start".into(),
            msg,
            errno: None,
        });
        return Err(report.into());
    }
    poststart(&st);
    Ok(st)
}

/// The poststart hooks of a container that has just started; their failures are warnings.
fn poststart(st: &State) {
    for e in hooks::run_all(
        "poststart",
        &st.post_hooks.poststart,
        &st.oci_json().to_string(),
    ) {
        eprintln!("berth-runtime: warning: {e}");
    }
}

pub fn state(root: &Path, id: &str) -> Result<State> {
    let dir = ContainerDir::open(root, id)?;
    let mut st = dir.load()?;
    refresh(&mut st);
    Ok(st)
}

pub fn list(root: &Path) -> Result<Vec<State>> {
    let mut out = Vec::new();
    for id in state::list_ids(root)? {
        if let Ok(st) = state(root, &id) {
            out.push(st);
        }
    }
    Ok(out)
}

/// Parses a signal as runc does: `TERM`, `SIGTERM` or `15`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::Invalid(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .map_err(|_| Error::Invalid(format!("invalid signal {s:?}")))
}

pub fn kill_container(root: &Path, id: &str, sig: Signal, all: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let mut st = dir.load()?;
    refresh(&mut st);
    if !(st.status.can_kill() || all && st.status == Status::Stopped) {
        return Err(wrong(&st, "kill"));
    }
    if all {
        for pid in cgroups::pids(&st.cgroup.path)? {
            let _ = kill(Pid::from_raw(pid), sig);
        }
        return Ok(());
    }
    kill(Pid::from_raw(st.pid), sig).map_err(|e| Error::sys(format!("kill {} {sig}", st.pid), e))
}

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = match ContainerDir::open(root, id) {
        Ok(d) => d,
        // runc's `delete --force` of a container that is gone succeeds: containerd's shim
        // calls it to clean up after a delete that already happened.
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut st = match dir.load() {
        Ok(s) => s,
        // A directory without state: a create killed before its first save. Just remove it.
        Err(Error::NotFound(_)) if force || dir.dir.is_dir() => return dir.remove(),
        Err(e) => return Err(e),
    };
    refresh(&mut st);
    let deletable = matches!(
        st.status,
        Status::Stopped | Status::Created | Status::Creating
    );
    if !deletable && !force {
        return Err(wrong(&st, "delete (use --force)"));
    }
    debug::step("delete: state loaded");
    let mut errs = teardown(&st);
    debug::step("delete: cgroup removed");
    if let Err(e) = dir.remove() {
        errs.push(e);
    }
    st.status = Status::Stopped;
    for e in hooks::run_all(
        "poststop",
        &st.post_hooks.poststop,
        &st.oci_json().to_string(),
    ) {
        eprintln!("berth-runtime: warning: {e}");
    }
    match errs.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub fn pause(root: &Path, id: &str, frozen: bool) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let mut st = dir.load()?;
    refresh(&mut st);
    let ok = if frozen {
        st.status.can_pause()
    } else {
        st.status.can_resume()
    };
    if !ok {
        return Err(wrong(&st, if frozen { "pause" } else { "resume" }));
    }
    cgroups::freeze(&st.cgroup.path, id, frozen)
}

pub fn ps(root: &Path, id: &str) -> Result<Vec<i32>> {
    let st = state(root, id)?;
    cgroups::pids(&st.cgroup.path)
}

pub struct ExecOpts<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub process: Process,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub detach: bool,
    pub preserve_fds: i32,
}

/// Runs a new process in a running container; returns its exit status unless detached.
pub fn exec(o: ExecOpts<'_>) -> Result<i32> {
    let dir = ContainerDir::open(o.root, o.id)?;
    let mut st = dir.load()?;
    refresh(&mut st);
    if !st.status.can_exec() {
        return Err(wrong(&st, "exec"));
    }
    crate::security::check_user(o.process.user()).map_err(Error::Invalid)?;
    let mut spec = load_spec(&st.bundle).unwrap_or_default();
    let local_tty =
        o.console_socket.is_none() && o.process.terminal().unwrap_or(false) && !o.detach;
    spec.set_process(Some(o.process));
    let console = if let Some(sock) = o.console_socket {
        Some(Console::Socket(
            UnixStream::connect(sock).ctx("connect console socket", sock)?,
        ))
    } else if local_tty {
        let (a, b) = UnixStream::pair().ctx("socketpair", "console")?;
        Some(Console::Local(a, b))
    } else {
        None
    };
    let pid_ns = PathBuf::from(format!("/proc/{}/ns/pid", st.pid));
    let existing = cgroups::existing(&st.cgroup.path)?;
    let mut child = process::spawn(Spawn {
        clone_flags: 0,
        unshare_flags: 0,
        cgroup_v2_dir: existing.v2_dir.as_ref(),
        pid_ns: Some(&pid_ns),
        inherit: console.iter().map(|c| c.child_fd()).collect(),
        userns: false,
        stdio: None,
        keep_mount_ns: false,
    })?;
    let cfg = InitConfig {
        mode: Mode::Exec { pid: st.pid },
        spec,
        rootfs: st.rootfs.clone(),
        no_pivot: false,
        join: existing.join,
        cgroup_v2: existing.v2_dir.is_some(),
        cgroup_v1: Vec::new(),
        console_fd: console.as_ref().map(|c| c.child_fd()),
        new_userns: false,
        preserve_fds: o.preserve_fds,
        state_json: st.oci_json().to_string(),
        debug_t0: debug::base(),
    };
    drop(dir);
    // Always reap a failed exec child ourselves: a zombie left to a slow reaper would keep
    // the container's pid namespace (and so its init) from ever finishing to exit.
    let ready = process::send_config(&mut child, cfg)
        .and_then(|()| wait_ready(&mut child, |_| Ok(()), ""))
        .and_then(|()| match child.channel.recv()? {
            // The init closes the channel on exec (CLOEXEC): EOF means exec succeeded.
            Some(FromInit::Error(report)) => Err(report.into()),
            _ => Ok(()),
        });
    if let Err(e) = ready {
        let _ = kill(Pid::from_raw(child.pid), Signal::SIGKILL);
        let _ = process::wait_status(child.pid);
        return Err(e);
    }
    if let Some(p) = o.pid_file {
        write_pid_file(p, child.pid)?;
    }
    if o.detach {
        return Ok(0);
    }
    let master = match console {
        Some(Console::Local(ours, theirs)) => {
            drop(theirs);
            Some(console::recv_fd(&ours)?)
        }
        _ => None,
    };
    crate::wait::forward_and_wait(child.pid, master)
}

pub struct RunOpts<'a> {
    pub create: CreateOpts<'a>,
    pub detach: bool,
}

/// create + start, then (unless detached) wait, forward signals, delete; returns the
/// container's exit status (128+n when killed by signal n).
pub fn run(o: &RunOpts<'_>) -> Result<i32> {
    let created = create_and_start(&o.create, !o.detach)?;
    if o.detach {
        return Ok(0);
    }
    let status = crate::wait::forward_and_wait(created.pid, created.pty_master);
    debug::step("run: container exited");
    let del = delete(o.create.root, o.create.id, true);
    debug::step("run: deleted");
    let status = status?;
    del?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::check_sysctl_name;

    #[test]
    fn sysctl_names_stay_below_proc_sys() {
        for ok in [
            "net.ipv4.ip_forward",
            "net/ipv4/ip_local_port_range",
            "kernel.shm_rmid_forced",
            "net.ipv4.conf.br-1a2b.forwarding",
            "fs.mqueue.msg_max",
        ] {
            assert_eq!(check_sysctl_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "kernel/../../etc/passwd",
            "..",
            "/etc/shadow",
            "net..ipv4",
            "net.ipv4.",
            "kernel.shm max",
            "kernel.x\n",
        ] {
            let e = check_sysctl_name(bad).expect_err(bad);
            assert!(e.contains("linux.sysctl"), "{e}");
        }
    }
}
