//! The container's init: the child side of `create` and `exec`.
//!
//! The runtime clones a child into the new namespaces, and the child immediately re-executes
//! the runtime binary from a sealed memfd copy (process.rs) so that /proc/self/exe inside the
//! container can never be the host's binary (CVE-2019-5736). It then arrives here, reads its
//! `InitConfig` from the channel and walks the numbered steps below, reporting the step that
//! failed. Steps, in order (each needs the one before):
//!  1. join namespaces given by path; bring `lo` up in a network namespace of our own
//!  2. while mounting (before the first cgroup mount): join the cgroup the parent made in the
//!     meantime (v1 fast path: still single-threaded, write 0 to `tasks`), then unshare the
//!     cgroup namespace so its root is the container's cgroup
//!  3. mounts: private propagation, rootfs bind, spec mounts, /dev, console
//!  4. createRuntime/prestart hooks (in the runtime), createContainer hooks (here)
//!  5. pivot_root, sysctls, masked and read-only paths, read-only root
//!  6. hostname, oom score, rlimits, cwd, look up the executable
//!  7. report Ready; for create, wait for `start` on exec.sock, then startContainer hooks
//!  8. no_new_privs, user, capabilities, seccomp; close-on-exec everything else; execve

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::cgroups;
use crate::error::{Error, Result, SysContext};
use crate::message::{FromInit, InitChannel, InitError, ToInit};
pub use crate::message::{InitConfig, Mode};
use crate::{console, hooks, rootfs, seccomp, security};

pub const INIT_ENV: &str = "_BERTH_INIT_FD";
/// Namespaces (CLONE_NEW* bits, decimal) the init creates itself before it reads its config.
pub const UNSHARE_ENV: &str = "_BERTH_UNSHARE";

/// Called first thing by every binary that embeds the runtime: if this process is a container
/// init, run it (never returns); otherwise return and let `main` go on.
pub fn maybe_run_init() {
    let Some(fd) = std::env::var_os(INIT_ENV) else {
        return;
    };
    if let Some(t0) = std::env::var(crate::debug::ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        crate::debug::enable_since(t0);
        crate::debug::step("init: started");
    }
    // Before anything else: the parent makes the cgroup meanwhile (init::clone_flags).
    let unshared = match std::env::var(UNSHARE_ENV).ok().and_then(|v| v.parse().ok()) {
        Some(bits) => nix::sched::unshare(CloneFlags::from_bits_retain(bits))
            .sys(|| format!("unshare (flags {bits:#x})")),
        None => Ok(()),
    };
    crate::debug::step("init: namespaces created");
    let code = match fd.to_str().and_then(|s| s.parse::<RawFd>().ok()) {
        // The runtime passed this fd for us alone (the init's end of the channel).
        Some(fd) => match crate::sys::take_inherited_fd(fd) {
            Some(owned) => run(InitChannel::from_owned(owned), unshared),
            None => 126,
        },
        None => 126,
    };
    crate::sys::exit_now(code)
}

struct Failed(String, Error);

fn step<T>(name: &str, r: Result<T>) -> std::result::Result<T, Failed> {
    crate::debug::step(&format!("init: {name}"));
    r.map_err(|e| Failed(name.to_string(), e))
}

fn run(mut ch: InitChannel, unshared: Result<()>) -> i32 {
    let cfg = match ch.recv() {
        Ok(Some(ToInit::Config(c))) => *c,
        _ => return 126,
    };
    if let Some(t0) = cfg.debug_t0 {
        crate::debug::enable_since(t0);
        crate::debug::step("init: config received");
    }
    if !cfg.cgroup_v1.is_empty() {
        cgroups::seed_v1_hierarchies(cfg.cgroup_v1.clone());
    }
    let res = match unshared {
        Err(e) => Err(Failed("create namespaces".into(), e)),
        Ok(()) => match cfg.mode {
            Mode::Create { listener_fd } => create(&mut ch, &cfg, listener_fd),
            Mode::Exec { pid } => exec(&mut ch, &cfg, pid),
        },
    };
    match res {
        Ok(never) => match never {},
        Err(Failed(step, e)) => {
            let _ = ch.send(&FromInit::Error(InitError::new(step, &e)));
            1
        }
    }
}

enum Never {}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

/// Namespaces of the spec: (type, path) for each entry.
pub fn namespaces(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .into_iter()
        .map(|n| (n.typ(), n.path().clone()))
        .collect()
}

/// The namespaces to create (those without a path), except cgroup (created by the init
/// after it joined its cgroup) and pid-by-path (joined by the parent), split in two:
/// (flags for clone3, flags the init unshares itself first thing).
///
/// The network, IPC and UTS namespaces are left to the init when no user namespace is
/// involved: a new network namespace alone costs the kernel ~0.6 ms, which the parent would
/// otherwise spend before it can make the cgroup; the init unshares them while it waits for
/// its config. The pid and mount namespaces must come with the clone (the init is the new
/// pid namespace's first process; the read-only bind of the runtime binary needs the mount
/// namespace before the re-exec), and with a user namespace everything does, so that it owns
/// the others.
pub fn clone_flags(spec: &Spec) -> (u64, u64) {
    let mut flags = CloneFlags::empty();
    for (t, path) in namespaces(spec) {
        if path.is_none() && t != LinuxNamespaceType::Cgroup {
            flags |= ns_flag(t);
        }
    }
    let with_user = namespaces(spec)
        .iter()
        .any(|(t, _)| *t == LinuxNamespaceType::User);
    let deferred = if with_user {
        CloneFlags::empty()
    } else {
        flags & (CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS)
    };
    ((flags - deferred).bits() as u64, deferred.bits() as u64)
}

fn join_namespaces(spec: &Spec) -> Result<()> {
    let mut list = namespaces(spec);
    // The user namespace first (it decides what we may do in the others), mount last
    // (after it, host paths of the other namespace files are gone).
    list.sort_by_key(|(t, _)| match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 2,
        _ => 1,
    });
    for (t, path) in list {
        let Some(path) = path else { continue };
        if t == LinuxNamespaceType::Pid {
            continue; // joined by the parent before clone
        }
        let fd = nix::fcntl::open(
            &path,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .sys(|| format!("open namespace {}", path.display()))?;
        nix::sched::setns(fd, ns_flag(t)).sys(|| format!("setns {}", path.display()))?;
    }
    Ok(())
}

fn wants_new(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|(nt, p)| *nt == t && p.is_none())
}

fn create(
    ch: &mut InitChannel,
    cfg: &InitConfig,
    listener_fd: Option<RawFd>,
) -> std::result::Result<Never, Failed> {
    let spec = &cfg.spec;
    // The parent passed the listening socket to us alone.
    let listener = match listener_fd {
        Some(fd) => {
            let l = UnixListener::from(crate::sys::take_inherited_fd(fd).ok_or_else(|| {
                Failed(
                    "listen".into(),
                    Error::Invalid(format!("exec.sock fd {fd} is not open")),
                )
            })?);
            let _ = nix::fcntl::fcntl(
                l.as_fd(),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
            Some(l)
        }
        None => None,
    };

    // 1. namespaces by path (the cgroup comes while we mount: see join_cgroup)
    step("join namespaces", join_namespaces(spec))?;
    // A network namespace of our own starts with `lo` down; runc and crun bring it up.
    if namespaces(spec)
        .iter()
        .any(|(t, p)| *t == LinuxNamespaceType::Network && p.is_none())
    {
        step(
            "bring up lo",
            crate::sys::loopback_up().sys(|| "bring up lo".into()),
        )?;
    }
    step(
        "setsid",
        nix::unistd::setsid().map(|_| ()).sys(|| "setsid".into()),
    )?;

    // 3. mounts
    let root = &cfg.rootfs;
    let linux = spec.linux().clone().unwrap_or_default();
    // Seccomp programs compiled by the parent (they may arrive during the hooks exchange).
    let mut precompiled: Option<Vec<seccomp::RawProgram>> = None;
    // config-linux.md "Namespaces": a type not listed is the runtime's own. Without a mount
    // namespace the config's mounts go under the rootfs in the caller's namespace (create
    // recorded them for teardown and refused masked and read-only paths), and the init
    // chroots into the rootfs at step 5, as runc and crun do.
    let own_mount_ns = namespaces(spec)
        .iter()
        .any(|(t, _)| *t == LinuxNamespaceType::Mount);
    let requested = linux
        .rootfs_propagation()
        .as_deref()
        .map(|p| rootfs::parse_options(&[p.to_string()]).propagation)
        .filter(|p| !p.is_empty());
    if own_mount_ns {
        // Our mounts must not reach the host: rprivate unless the config asks otherwise.
        // `shared` is applied here already (as runc and crun do) so that bind mounts keep
        // their peer groups with the host (the point of asking for it); `unbindable` only
        // after pivot_root, since no bind of an unbindable mount is possible.
        let before = requested
            .filter(|p| !p.contains(MsFlags::MS_UNBINDABLE))
            .unwrap_or(MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        step(
            "rootfs propagation",
            nix::mount::mount(None::<&str>, "/", None::<&str>, before, None::<&str>)
                .sys(|| format!("set propagation {before:?} on /")),
        )?;
        // pivot_root(2) fails with EINVAL when the new root's parent mount is shared, and a
        // bind under a shared parent would propagate back to the host.
        step(
            "rootfs propagation",
            rootfs::make_parent_private(
                root,
                requested.is_some_and(|p| p.contains(MsFlags::MS_SLAVE)),
            ),
        )?;
        step(
            "bind rootfs",
            nix::mount::mount(
                Some(root),
                root,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .sys(|| format!("bind {}", root.display())),
        )?;
    }
    let rootfd = step(
        "open rootfs",
        nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .sys(|| format!("open {}", root.display())),
    )?;
    let mut joined = false;
    for m in spec.mounts().iter().flatten() {
        if !joined && matches!(m.typ().as_deref(), Some("cgroup") | Some("cgroup2")) {
            join_cgroup(ch, spec)?;
            joined = true;
        }
        step(
            &format!("mount {}", m.destination().display()),
            rootfs::mount_one(&rootfd, m, cfg.cgroup_v2),
        )?;
    }
    if !joined {
        join_cgroup(ch, spec)?;
    }
    if rootfs::has_own_dev(spec) {
        step(
            "create devices",
            rootfs::create_devices(
                &rootfd,
                linux.devices().as_deref().unwrap_or(&[]),
                cfg.new_userns,
            ),
        )?;
        step("create /dev symlinks", rootfs::dev_symlinks(&rootfd))?;
    }
    if let Some(cfd) = cfg.console_fd {
        step(
            "set up console",
            console::setup_in_root(&rootfd, cfd, own_mount_ns),
        )?;
    }

    // 4. hooks around pivot_root
    let hooks = spec.hooks().clone().unwrap_or_default();
    if hooks
        .create_runtime()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
        || hooks.prestart().as_ref().is_some_and(|h| !h.is_empty())
    {
        step("createRuntime hooks", ch.send(&FromInit::RunHooks))?;
        loop {
            match step("createRuntime hooks", ch.recv())? {
                Some(ToInit::HooksDone) => break,
                // Sent right after the cgroup, it can come before the hooks are done.
                Some(ToInit::Seccomp(p)) => precompiled = Some(p),
                _ => {
                    return Err(Failed(
                        "createRuntime hooks".into(),
                        Error::Invalid("runtime gave up".into()),
                    ))
                }
            }
        }
    }
    if let Some(h) = hooks.create_container() {
        step(
            "createContainer hooks",
            hooks::run("createContainer", h, &cfg.state_json),
        )?;
    }

    // 5. pivot_root and the paths that must be hidden or read-only
    if !own_mount_ns {
        step("chroot", rootfs::chroot_into(root))?;
    } else if cfg.no_pivot {
        step("move root", rootfs::move_root(root))?;
    } else {
        step("pivot_root", rootfs::pivot(root))?;
    }
    drop(rootfd);
    // The requested propagation, now on the container's own / (runc and crun do the same):
    // on the old root it would have changed the host's mounts, or blocked pivot_root.
    if let Some(p) = requested.filter(|p| p.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE))
    {
        step(
            "rootfs propagation",
            nix::mount::mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
                .sys(|| format!("set propagation {p:?} on the container's /")),
        )?;
    }
    // sysctls before /proc/sys becomes read-only (readonlyPaths), as runc orders them.
    for (k, v) in linux.sysctl().iter().flatten() {
        let path = Path::new("/proc/sys").join(k.replace('.', "/"));
        step(
            "sysctl",
            std::fs::write(&path, v).map_err(|e| Error::io("write sysctl", &path, e)),
        )?;
    }
    for p in linux.masked_paths().iter().flatten() {
        step("mask paths", rootfs::mask_path(Path::new(p)))?;
    }
    for p in linux.readonly_paths().iter().flatten() {
        step("read-only paths", rootfs::readonly_path(Path::new(p)))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        step("read-only root", rootfs::remount_ro(Path::new("/")))?;
    }

    // 6. the rest of the environment
    if let Some(h) = spec.hostname() {
        step(
            "hostname",
            nix::unistd::sethostname(h).sys(|| format!("sethostname {h}")),
        )?;
    }
    let exe = step("prepare process", prepare_process(spec))?;
    if precompiled.is_none() && linux.seccomp().is_some() {
        match step("seccomp", ch.recv())? {
            Some(ToInit::Seccomp(p)) => precompiled = Some(p),
            _ => {
                return Err(Failed(
                    "seccomp".into(),
                    Error::Invalid("runtime sent no seccomp programs".into()),
                ))
            }
        }
    }
    let precompiled: Option<Vec<seccomp::Program>> =
        precompiled.map(|v| v.iter().map(seccomp::Program::from_raw).collect());

    // 7. ready; wait for start (run: go on at once, the parent waits on the channel)
    step("report ready", ch.send(&FromInit::Ready))?;
    let Some(listener) = listener else {
        let Err(failed) = start_and_exec(cfg, &exe, precompiled);
        return Err(failed);
    };
    let mut conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Failed(
                    "wait for start".into(),
                    Error::io("accept", "exec.sock", e),
                ))
            }
        }
    };
    let mut b = [0u8; 1];
    let _ = conn.read(&mut b);
    drop(listener);
    // Tell `start` what failed; the channel's parent is gone by now.
    let Err(Failed(s, e)) = start_and_exec(cfg, &exe, precompiled);
    let report = serde_json::to_vec(&InitError::new(s, &e)).unwrap_or_default();
    let _ = conn.write_all(&report);
    crate::sys::exit_now(127)
}

/// Step 8 after `start`: the startContainer hooks, then finish_and_exec; returns only what
/// failed.
fn start_and_exec(
    cfg: &InitConfig,
    exe: &Exe,
    precompiled: Option<Vec<seccomp::Program>>,
) -> std::result::Result<Never, Failed> {
    let spec = &cfg.spec;
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
    {
        step(
            "startContainer hooks",
            hooks::run("startContainer", h, &cfg.state_json),
        )?;
    }
    finish_and_exec(
        spec,
        exe,
        cfg.preserve_fds,
        crate::reaper::wanted(spec),
        precompiled,
    )
}

/// Step 2, the cgroup: the parent makes it while we mount, and says how to join once its
/// limits are set. Joining must precede unsharing the cgroup namespace (whose root becomes
/// our cgroup) and mounting cgroupfs (which shows that root), so the first cgroup mount waits.
fn join_cgroup(ch: &mut InitChannel, spec: &Spec) -> std::result::Result<(), Failed> {
    let join = match step("wait for cgroup", ch.recv())? {
        Some(ToInit::Cgroup(j)) => j,
        _ => {
            return Err(Failed(
                "wait for cgroup".into(),
                Error::Invalid("runtime gave up".into()),
            ))
        }
    };
    step("join cgroup", cgroups::join_self(&join))?;
    if wants_new(spec, LinuxNamespaceType::Cgroup) {
        step(
            "unshare cgroup namespace",
            nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
                .sys(|| "unshare(CLONE_NEWCGROUP)".into()),
        )?;
    }
    Ok(())
}

fn exec(ch: &mut InitChannel, cfg: &InitConfig, pid: i32) -> std::result::Result<Never, Failed> {
    let spec = &cfg.spec;
    step("join cgroup", cgroups::join_self(&cfg.join))?;
    step("join namespaces", join_target_namespaces(pid))?;
    if let Some(cfd) = cfg.console_fd {
        let rootfd = step(
            "open /",
            nix::fcntl::open(
                "/",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .sys(|| "open /".into()),
        )?;
        step(
            "setsid",
            nix::unistd::setsid().map(|_| ()).sys(|| "setsid".into()),
        )?;
        step(
            "set up console",
            console::setup_in_root(&rootfd, cfd, false),
        )?;
    }
    let exe = step("prepare process", prepare_process(spec))?;
    step("report ready", ch.send(&FromInit::Ready))?;
    finish_and_exec(spec, &exe, cfg.preserve_fds, false, None)
}

/// setns into the namespaces of `pid`: user first (only if it differs: setns into one's own
/// user namespace is EINVAL), mount last. A namespace type this kernel lacks is skipped.
fn join_target_namespaces(pid: i32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let order = [
        ("user", CloneFlags::CLONE_NEWUSER),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let mut fds = Vec::new();
    for (name, flag) in order {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let fd = match nix::fcntl::open(
            theirs.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) if name != "mnt" && name != "user" => continue,
            Err(e) => return Err(Error::sys(format!("open {theirs}"), e)),
        };
        if name == "user" {
            let ours = std::fs::metadata("/proc/self/ns/user")
                .map_err(|e| Error::io("stat", "/proc/self/ns/user", e))?;
            let t = std::fs::metadata(&theirs).map_err(|e| Error::io("stat", &theirs, e))?;
            if ours.ino() == t.ino() && ours.dev() == t.dev() {
                continue;
            }
        }
        fds.push((fd, flag, theirs));
    }
    // The init's root, taken before we enter its mount namespace: setns(CLONE_NEWNS) puts
    // us at the namespace's root mount, which is the init's root only if the runtime that
    // created it was not chrooted (pivot_root replaces the namespace root only when the
    // caller's root was it). Chrooting to this fd afterwards lands us where the init is.
    let init_root = format!("/proc/{pid}/root");
    let root = nix::fcntl::open(
        init_root.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .sys(|| format!("open {init_root}"))?;
    for (fd, flag, path) in fds {
        nix::sched::setns(fd, flag).sys(|| format!("setns {path}"))?;
    }
    nix::unistd::fchdir(&root).sys(|| format!("fchdir {init_root}"))?;
    nix::unistd::chroot(".").sys(|| "chroot into the container's root".into())?;
    Ok(())
}

struct Exe {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
}

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Invalid(format!("NUL byte in {s:?}")))
}

/// oom score, rlimits, cwd, and the executable looked up in the container's PATH: everything
/// that can fail because of the config is checked before Ready, so `create` reports it.
fn prepare_process(spec: &Spec) -> Result<Exe> {
    let process = spec
        .process()
        .clone()
        .ok_or_else(|| Error::Invalid("no process in config".into()))?;
    if let Some(score) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", score.to_string()).map_err(|e| {
            // Only a process with CAP_SYS_RESOURCE may lower its score.
            let what = if e.kind() == std::io::ErrorKind::PermissionDenied {
                "write oom_score_adj (lowering it needs CAP_SYS_RESOURCE, which this runtime lacks)"
            } else {
                "write oom_score_adj"
            };
            Error::io(what, "/proc/self/oom_score_adj", e)
        })?;
    }
    security::set_rlimits(process.rlimits().as_deref().unwrap_or(&[]))?;
    let cwd = process.cwd();
    if let Err(e) = std::env::set_current_dir(cwd) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(Error::io("chdir", cwd, e));
        }
        std::fs::create_dir_all(cwd).map_err(|e| Error::io("create cwd", cwd, e))?;
        std::env::set_current_dir(cwd).map_err(|e| Error::io("chdir", cwd, e))?;
    }
    let args = process.args().clone().unwrap_or_default();
    let arg0 = args
        .first()
        .ok_or_else(|| Error::Invalid("process.args is empty".into()))?;
    let env: Vec<String> = process.env().clone().unwrap_or_default();
    let path = find_executable(arg0, &env)?;
    Ok(Exe {
        path: cstr(&path.to_string_lossy())?,
        args: args.iter().map(|a| cstr(a)).collect::<Result<_>>()?,
        env: env.iter().map(|e| cstr(e)).collect::<Result<_>>()?,
    })
}

/// `exec.LookPath` semantics: a name with a slash is used as is; else search $PATH.
pub fn find_executable(name: &str, env: &[String]) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        if is_exec(Path::new(name)) {
            return Ok(PathBuf::from(name));
        }
        // Docker's split: a missing file is "not found" (127), one that cannot be
        // executed (a directory, no x bit) is "permission denied" (126): the errno says which.
        return Err(if Path::new(name).exists() {
            Error::sys(
                format!("exec {name:?}: not an executable file"),
                nix::errno::Errno::EACCES,
            )
        } else {
            Error::sys(
                format!("exec {name:?}: not found"),
                nix::errno::Errno::ENOENT,
            )
        });
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let cand = Path::new(if dir.is_empty() { "." } else { dir }).join(name);
        if is_exec(&cand) {
            return Ok(cand);
        }
    }
    Err(Error::sys(
        format!("exec {name:?}: executable file not found in $PATH"),
        nix::errno::Errno::ENOENT,
    ))
}

/// Step 8: drop privileges and exec, in this order:
///  1. mark every inherited descriptor close-on-exec, first of all, so that no seccomp
///     filter can refuse it (a profile older than close_range(2) answers EPERM: issue 11),
///     and put every signal back to its default (sys::default_signals);
///  2. no_new_privs, or else the seccomp filter: without no_new_privs, seccomp(2) needs
///     CAP_SYS_ADMIN, so the filter must go in before the capability drop (runc does the
///     same; such a filter must allow the calls below);
///  3. capabilities and user;
///  4. with no_new_privs, the filter as the very last thing before execve(2), so it need not
///     allow any of the runtime's own calls (as runc and crun do).
fn finish_and_exec(
    spec: &Spec,
    exe: &Exe,
    preserve_fds: i32,
    as_init: bool,
    precompiled: Option<Vec<seccomp::Program>>,
) -> std::result::Result<Never, Failed> {
    let process = spec.process().clone().unwrap_or_default();
    let nnp = process.no_new_privileges().unwrap_or(false);
    // CVE-2024-21626: nothing we inherited or opened may survive exec.
    step(
        "close fds",
        crate::sys::cloexec_from(3 + preserve_fds).sys(|| "close_range".into()),
    )?;
    // Before any filter, which need not allow rt_sigaction.
    step(
        "signals",
        crate::sys::default_signals().sys(|| "reset signal dispositions".into()),
    )?;
    // Applied at execve like runc's (aa_change_onexec), written while we are still root.
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        step("apparmor", security::apparmor_exec(profile))?;
    }
    let filters = match (
        precompiled,
        spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
    ) {
        (Some(p), _) => Some(p),
        (None, Some(s)) => Some(step(
            "seccomp",
            seccomp::compile(&s).map_err(Error::Seccomp),
        )?),
        (None, None) => None,
    };
    if nnp {
        step("no_new_privs", security::no_new_privs())?;
    } else if let Some(f) = &filters {
        step("seccomp", seccomp::install(f).map_err(Error::Seccomp))?;
    }
    // Without a capabilities object the process keeps what root has (as runc does).
    let caps = process.capabilities().clone();
    if let Some(c) = &caps {
        step("capabilities", security::drop_bounding(c))?;
        step("capabilities", security::keep_caps(true))?;
    }
    step("user", security::set_user(process.user(), false))?;
    if let Some(c) = &caps {
        step("capabilities", security::set_caps(c))?;
    }
    let late_filters = if nnp { filters.as_deref() } else { None };
    if as_init {
        step(
            "init",
            crate::reaper::become_init(late_filters)
                .sys(|| "fork the process under the init".into()),
        )?;
    }
    if let Some(f) = late_filters {
        step("seccomp", seccomp::install(f).map_err(Error::Seccomp))?;
    }
    let e = nix::unistd::execve(&exe.path, &exe.args, &exe.env).unwrap_err();
    Err(Failed(
        "exec".into(),
        Error::sys(format!("exec {:?}", exe.path), e),
    ))
}
