//! The parent side of launching an init: clone3 into the new namespaces (and, on cgroup v2,
//! straight into the cgroup), and let the child re-execute the runtime binary from a
//! read-only bind mount in its own mount namespace, so the container can never open its
//! /proc/self/exe for writing (CVE-2019-5736). That costs two mount calls; runc's and crun's
//! defence, a sealed memfd copy of the binary, costs a copy of several MB per container.
//! The memfd copy is kept as the fallback for a binary that cannot be bind-mounted (one
//! that was deleted or replaced while running).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};

use crate::channel;
use crate::error::{Error, IoContext, Result, SysContext};
use crate::init::{InitConfig, INIT_ENV};
use crate::message::{ParentChannel, ToInit};
use crate::sys::{self, Forked};

/// Exit status of a child that could not re-execute the runtime protected.
pub const EXIT_PROTECT_FAILED: i32 = 124;

/// A sealed in-memory copy of the executable at `path`.
fn sealed_copy(path: &Path) -> Result<OwnedFd> {
    let mut src = File::open(path).ctx("open", path)?;
    let memfd = memfd_create(
        "berth-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .sys(|| "memfd_create".into())?;
    let mut dst = File::from(memfd);
    // copy_file_range/sendfile inside the kernel; std picks the fastest.
    std::io::copy(&mut src, &mut dst).ctx("copy runtime binary to memfd", path)?;
    let memfd = OwnedFd::from(dst);
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(memfd.as_fd(), FcntlArg::F_ADD_SEALS(seals)).sys(|| "seal memfd".into())?;
    Ok(memfd)
}

fn set_inheritable(fd: RawFd, on: bool) -> Result<()> {
    sys::set_cloexec(fd, !on).sys(|| format!("fcntl F_SETFD fd {fd}"))
}

/// What the caller wants the child to inherit and where to put it.
pub struct Spawn<'a> {
    pub clone_flags: u64,
    /// Namespaces the init unshares itself, first thing (init::clone_flags).
    pub unshare_flags: u64,
    pub cgroup_v2_dir: Option<&'a OwnedFd>,
    /// A pid namespace to enter before cloning (setns(CLONE_NEWPID) affects children only).
    pub pid_ns: Option<&'a Path>,
    /// Descriptors the init needs (listener, console socket): made inheritable just for the clone.
    pub inherit: Vec<RawFd>,
    /// A new user namespace: the child waits for `Child::maps_written` before it execs.
    pub userns: bool,
    /// The init's stdin, stdout and stderr; None: this process's own.
    pub stdio: Option<[RawFd; 3]>,
    /// The child must stay in the caller's mount namespace (the config lists none: the
    /// runtime spec says it is then inherited), so it cannot get one of its own for the
    /// read-only bind of the binary: it runs a sealed memfd copy instead.
    pub keep_mount_ns: bool,
}

pub struct Child {
    pub pid: i32,
    pub channel: ParentChannel,
    userns_go: Option<OwnedFd>,
}

impl Child {
    /// Lets a child in a new user namespace go on once its uid/gid maps are written.
    pub fn maps_written(&mut self) -> Result<()> {
        if let Some(fd) = self.userns_go.take() {
            nix::unistd::write(&fd, b"1").sys(|| "release user namespace child".into())?;
        }
        Ok(())
    }
}

static INIT_BINARY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Has container inits re-execute `path` instead of this process's own binary: a program
/// that embeds the runtime (the `berth` CLI) points it at the smaller `berth-runtime`, which
/// starts faster. The binary must call `init::maybe_run_init` first thing in `main`.
pub fn set_init_binary(path: std::path::PathBuf) {
    let _ = INIT_BINARY.set(path);
}

/// Clones the child and makes it re-exec this binary read-only (or from a sealed copy). The config goes later
/// through `send_config`, after the caller has done what must precede it (uid maps, cgroup).
pub fn spawn(s: Spawn<'_>) -> Result<Child> {
    use std::os::unix::ffi::OsStrExt;
    let chosen = INIT_BINARY.get().filter(|p| p.is_file());
    let exe_path = match chosen {
        Some(p) => p.clone(),
        None => std::fs::read_link("/proc/self/exe").ctx("readlink", "/proc/self/exe")?,
    };
    // " (deleted)" or a replaced file: the path no longer names our binary; copy it instead.
    let same_file = chosen.is_some() || {
        use std::os::unix::fs::MetadataExt;
        let (a, b) = (
            std::fs::metadata(&exe_path),
            std::fs::metadata("/proc/self/exe"),
        );
        matches!((a, b), (Ok(a), Ok(b)) if a.ino() == b.ino() && a.dev() == b.dev())
    };
    let memfd = if !same_file {
        Some(sealed_copy(Path::new("/proc/self/exe"))?)
    } else if s.keep_mount_ns {
        Some(sealed_copy(&exe_path)?)
    } else {
        None
    };
    let exe_c = CString::new(exe_path.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid("exe path".into()))?;
    // Flags the bind's remount must keep (a remount that clears a locked flag is EPERM).
    let keep_flags = nix::sys::statvfs::statvfs(&exe_path)
        .map(|st| {
            use nix::sys::statvfs::FsFlags;
            let mut f: libc::c_ulong = 0;
            for (sf, mf) in [
                (FsFlags::ST_NOSUID, libc::MS_NOSUID),
                (FsFlags::ST_NODEV, libc::MS_NODEV),
            ] {
                if st.flags().contains(sf) {
                    f |= mf;
                }
            }
            f
        })
        .unwrap_or(0);
    let unshare_mnt = s.clone_flags & libc::CLONE_NEWNS as u64 == 0;
    let (channel, child_end) = channel::pair()?;
    let argv = [CString::new("berth-runtime-init").map_err(|_| Error::Invalid("argv".into()))?];
    let mut envp = vec![
        CString::new(format!("{INIT_ENV}={}", child_end.as_raw_fd()))
            .map_err(|_| Error::Invalid("envp".into()))?,
    ];
    if s.unshare_flags != 0 {
        envp.push(
            CString::new(format!("{}={}", crate::init::UNSHARE_ENV, s.unshare_flags))
                .map_err(|_| Error::Invalid("envp".into()))?,
        );
    }
    if let Some(t0) = crate::debug::base() {
        envp.push(
            CString::new(format!("{}={t0}", crate::debug::ENV))
                .map_err(|_| Error::Invalid("envp".into()))?,
        );
    }
    let argv_p = [argv[0].as_ptr(), std::ptr::null()];
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let empty = CString::default();
    if let Some(ns) = s.pid_ns {
        let fd = nix::fcntl::open(
            ns,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .sys(|| format!("open {}", ns.display()))?;
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWPID)
            .sys(|| format!("setns {}", ns.display()))?;
    }
    let go = if s.userns {
        Some(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).sys(|| "pipe2".into())?)
    } else {
        None
    };
    let go_fd = go.as_ref().map(|(r, _)| r.as_raw_fd());
    let mut inherit = s.inherit.clone();
    inherit.push(child_end.as_raw_fd());
    for fd in &inherit {
        set_inheritable(*fd, true)?;
    }
    // SAFETY: the runtime is single-threaded here; the child only calls execveat and _exit.
    let forked = unsafe { sys::clone3(s.clone_flags, s.cgroup_v2_dir.map(|f| f.as_fd())) };
    match forked {
        Ok(Forked::Child) => {
            if let Some(fds) = &s.stdio {
                if !sys::child_dup_stdio(fds) {
                    sys::exit_now(EXIT_PROTECT_FAILED);
                }
            }
            if let Some(fd) = go_fd {
                if !sys::child_wait_and_become_root(fd) {
                    sys::exit_now(125);
                }
            }
            match &memfd {
                None => sys::child_exec_readonly(&exe_c, keep_flags, unshare_mnt, &argv_p, &envp_p),
                Some(exe) => {
                    let _ = nix::unistd::execveat(
                        exe.as_fd(),
                        empty.as_c_str(),
                        &argv,
                        &envp,
                        nix::fcntl::AtFlags::AT_EMPTY_PATH,
                    );
                }
            }
            sys::exit_now(EXIT_PROTECT_FAILED)
        }
        Ok(Forked::Parent(pid)) => {
            for fd in &inherit {
                let _ = set_inheritable(*fd, false);
            }
            drop(child_end);
            Ok(Child {
                pid,
                channel,
                userns_go: go.map(|(_, w)| w),
            })
        }
        Err(e) => {
            for fd in &inherit {
                let _ = set_inheritable(*fd, false);
            }
            Err(Error::sys(
                format!("clone3 (flags {:#x})", s.clone_flags),
                e,
            ))
        }
    }
}

pub fn send_config(child: &mut Child, cfg: InitConfig) -> Result<()> {
    child.channel.send(&ToInit::Config(Box::new(cfg)))
}

/// Writes the uid/gid maps of a child in a new user namespace (user_namespaces(7)).
pub fn write_id_maps(pid: i32, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let linux = spec.linux().clone().unwrap_or_default();
    let fmt = |m: &[oci_spec::runtime::LinuxIdMapping]| {
        m.iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    if let Some(m) = linux.uid_mappings() {
        let p = format!("/proc/{pid}/uid_map");
        std::fs::write(&p, fmt(m)).ctx("write uid map", &p)?;
    }
    if let Some(m) = linux.gid_mappings() {
        let p = format!("/proc/{pid}/gid_map");
        std::fs::write(&p, fmt(m)).ctx("write gid map", &p)?;
    }
    Ok(())
}

/// Exit status as a shell reports it: the code, or 128+signal.
pub fn wait_status(pid: i32) -> Result<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(format!("waitpid {pid}"), e)),
        }
    }
}
