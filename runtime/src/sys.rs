//! The crate's `unsafe` code: the raw system calls that neither `nix` nor `libc` wrap safely.
//! Each block says why it is sound.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::errno::Errno;

/// `struct clone_args` from linux/sched.h (clone3(2)); the layout is fixed ABI (v2, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What `clone3` returned.
pub enum Forked {
    Parent(i32),
    Child,
}

/// fork(2)-like clone3(2): the child gets a copy of the address space and returns here.
///
/// `flags` are CLONE_NEW* flags; `cgroup` places the child directly into a cgroup-v2
/// directory (CLONE_INTO_CGROUP), which avoids the costly write to `cgroup.procs`.
///
/// # Safety
/// The caller must be single-threaded, and the child must only call async-signal-safe
/// functions (in practice: `execveat`/`_exit`) because glibc's per-thread state (cached tid,
/// locks held by other threads) is not refreshed for a raw clone.
pub unsafe fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Forked, Errno> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: args is a valid clone_args of the size we pass; stack 0 means the child runs
    // on a copy of our stack like fork(2); the caller upholds the single-thread contract.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// fork(2) for the container init that stays as PID 1 (`--init`); the init is single-threaded.
pub fn fork_single_threaded() -> Result<Forked, Errno> {
    // SAFETY: the container init runs one thread, so the child is a full copy of it.
    match unsafe { libc::fork() } {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Closes every descriptor from `first` up (close_range(2)); where close_range is missing
/// (ENOSYS before Linux 5.9) or refused (a seccomp profile that predates it answers EPERM),
/// closes each descriptor listed in /proc/self/fd instead.
pub fn close_from(first: RawFd) -> Result<(), Errno> {
    // SAFETY: plain syscall on integers; the caller owns no Rust object for these fds any more.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, 0) };
    if ret == 0 {
        return Ok(());
    }
    each_fd_from(first, |fd| {
        // SAFETY: as above: the caller gave up every descriptor from `first` up.
        unsafe { libc::close(fd) }
    })
}

/// Runs `f` on every open descriptor >= `first`, as listed in /proc/self/fd (proc(5)). The
/// list is read in full first, so the directory's own descriptor is closed by then (`f`
/// then fails with EBADF on it, which is ignored).
fn each_fd_from(first: RawFd, f: impl Fn(RawFd) -> libc::c_int) -> Result<(), Errno> {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect();
    for fd in fds {
        if f(fd) < 0 && Errno::last() != Errno::EBADF {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// `_exit(2)`: leave a forked child without running atexit handlers or destructors.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Installs a seccomp BPF program with seccomp(2). Unlike libseccomp's `seccomp_load` this does
/// not force `no_new_privs`: the OCI spec decides that separately (`process.noNewPrivileges`);
/// as root with CAP_SYS_ADMIN the kernel accepts a filter without it.
pub fn seccomp_install(prog: &[crate::seccomp::bpf::Insn]) -> Result<(), Errno> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const crate::seccomp::bpf::Insn,
    }
    let fprog = SockFprog {
        len: prog.len() as u16,
        filter: prog.as_ptr(),
    };
    // SAFETY: fprog points at `prog`, which outlives the call; the kernel copies the program.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const SockFprog,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Marks every descriptor from `first` up close-on-exec (close_range(2), CLOSE_RANGE_CLOEXEC),
/// so nothing the runtime inherited reaches the container (CVE-2024-21626). Kernels without
/// close_range (ENOSYS, before 5.9) or without CLOSE_RANGE_CLOEXEC (EINVAL, 5.9-5.10) get
/// the same through /proc/self/fd and fcntl(F_SETFD), as runc does.
pub fn cloexec_from(first: RawFd) -> Result<(), Errno> {
    // SAFETY: plain syscall on integers; marking descriptors CLOEXEC invalidates no Rust object.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::ENOSYS | Errno::EINVAL => cloexec_from_procfs(first),
        e => Err(e),
    }
}

/// The /proc/self/fd walk behind [`cloexec_from`].
pub fn cloexec_from_procfs(first: RawFd) -> Result<(), Errno> {
    each_fd_from(first, |fd| {
        // SAFETY: F_SETFD takes an int flag word; it changes no state Rust tracks.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }
    })
}

/// The start of a berth binary (`#![no_main]`, a C `main` that calls this first). Each
/// berth and berth-runtime command is a process start, and Rust's own start-up
/// costs as much as a short command's work: it reads /proc/self/maps (glibc's
/// pthread_getattr_np, with sscanf) to place a stack guard and sets up a signal stack,
/// for a "stack overflow" message instead of a plain SIGSEGV. What of it the binaries
/// rely on is done here: descriptors 0-2 open (on /dev/null when closed, so that no file
/// opened later becomes stdout) and SIGPIPE ignored. [`end_process`] is the other half.
pub fn start_process() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three pollfd structs, which live across the call.
    let polled = loop {
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
        if r >= 0 || Errno::last() != Errno::EINTR {
            break r >= 0;
        }
    };
    for p in &fds {
        // SAFETY: F_GETFD on any number is harmless (EBADF when closed).
        let closed = if polled {
            p.revents & libc::POLLNVAL != 0
        } else {
            (unsafe { libc::fcntl(p.fd, libc::F_GETFD) }) < 0
        };
        if closed {
            // SAFETY: open of a constant C string; the lowest free number is p.fd, since
            // the lower ones are open by now. It stays open for the life of the process.
            let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if fd != p.fd {
                // SAFETY: abort is always safe; nothing sane is left to print to.
                unsafe { libc::abort() };
            }
        }
    }
    // SAFETY: SIG_IGN installs no handler code, so nothing can run in signal context.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// The end of a berth binary's C `main`: what Rust's runtime does after `main` returns,
/// flushing the buffered stdout, which C's exit(3) knows nothing about. Returns `code`.
pub fn end_process(code: u8) -> libc::c_int {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    code.into()
}

/// Every signal back to its default disposition, and none blocked. A handler goes at
/// execve(2) by itself, but an ignored signal stays ignored: SIGPIPE, which a Rust
/// program's runtime ignores (berth-runtime's own, and berth's `run`), SIGINT and SIGQUIT
/// under a shell's `&`, SIGHUP under nohup(1), or any other a caller ignored would reach
/// the container's process. Docker's and runc's containers start with none ignored. Raw
/// rt_sigaction(2), because glibc's sigaction refuses the two real-time signals it keeps
/// for itself (32, 33) and those can be inherited ignored too. SIGKILL and SIGSTOP
/// answer EINVAL, which is fine.
pub fn default_signals() -> Result<(), Errno> {
    // The kernel's struct sigaction on x86_64 and aarch64: handler, flags, restorer, mask.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads a struct that lives across the call and writes
        // nothing (old action NULL); SIG_DFL installs no handler code.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    )
}

/// Makes `fd` the controlling terminal of this (session leader) process: ioctl TIOCSCTTY.
pub fn set_controlling_tty(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an int argument; fd is owned by the caller.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Sets the window size of a terminal (TIOCSWINSZ).
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives across the call.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws as *const libc::winsize) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Brings `lo` up in the calling process's network namespace (SIOCGIFFLAGS, then
/// SIOCSIFFLAGS with IFF_UP), as runc and crun do for a network namespace they create.
pub fn loopback_up() -> Result<(), Errno> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: socket(2) takes no pointers; the descriptor is owned (and closed) below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data, valid when zeroed.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *s as libc::c_char;
    }
    // SAFETY: both ioctls read (and SIOCGIFFLAGS writes) the ifreq that lives across the
    // calls; the flags member of its union is the one these requests use.
    unsafe {
        if libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut req as *mut libc::ifreq,
        ) < 0
        {
            return Err(Errno::last());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &req as *const libc::ifreq,
        ) < 0
        {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// Reads the window size of a terminal (TIOCGWINSZ).
pub fn get_winsize(fd: RawFd) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize struct we own.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) };
    (ret == 0).then_some((ws.ws_row, ws.ws_col))
}

/// Unlocks a pty master (TIOCSPTLCK 0), like unlockpt(3).
pub fn pty_unlock(fd: RawFd) -> Result<(), Errno> {
    let zero: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int that lives across the call.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCSPTLCK, &zero as *const libc::c_int) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// The pty number of a master (TIOCGPTN): the slave is /dev/pts/N of the same devpts.
pub fn pty_number(fd: RawFd) -> Result<u32, Errno> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int we own.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCGPTN, &mut n as *mut libc::c_uint) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(n)
}

/// Opens the slave of a pty master without a path lookup (TIOCGPTPEER, Linux 4.13), so a
/// container cannot swap /dev/pts/N under us.
pub fn pty_peer(fd: RawFd) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new descriptor.
    let ret = unsafe {
        libc::ioctl(
            fd,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(ret) })
}

/// In a freshly cloned child in a new user namespace: wait until the parent wrote the id maps
/// (one byte on `fd`), then become root of the namespace. Without this the exec that follows
/// would run as the overflow uid and lose every capability. Raw syscalls only: this runs
/// between clone3 and exec.
pub fn child_wait_and_become_root(fd: RawFd) -> bool {
    let mut b = 0u8;
    // SAFETY: read into a local byte; setresgid/setresuid take integers. All async-signal-safe.
    unsafe {
        if libc::read(fd, &mut b as *mut u8 as *mut libc::c_void, 1) != 1 {
            return false;
        }
        libc::syscall(libc::SYS_setresgid, 0, 0, 0) == 0
            && libc::syscall(libc::SYS_setresuid, 0, 0, 0) == 0
    }
}

/// In a freshly cloned child: re-execute `exe` from a read-only bind mount of itself in a
/// mount namespace of the child's own, so that /proc/self/exe of the container's init can
/// never be opened for writing (CVE-2019-5736) -- without copying the binary. The mount
/// tree is made rslave first so the bind mount cannot propagate back to the host; it goes
/// away with the namespace. Raw syscalls only (this runs between clone3 and exec); returns
/// only on failure.
pub fn child_exec_readonly(
    exe: &std::ffi::CStr,
    keep_flags: libc::c_ulong,
    unshare_mnt: bool,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) {
    let root = c"/";
    // SAFETY: all pointers are NUL-terminated strings / NULL-terminated arrays prepared by the
    // caller before clone; these are plain system calls.
    unsafe {
        if unshare_mnt && libc::unshare(libc::CLONE_NEWNS) != 0 {
            return;
        }
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        ) != 0
        {
            return;
        }
        if libc::mount(
            exe.as_ptr(),
            exe.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return;
        }
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | keep_flags;
        if libc::mount(
            std::ptr::null(),
            exe.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        ) != 0
        {
            return;
        }
        libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
}

/// `struct mount_attr` from linux/mount.h (mount_setattr(2)); fixed ABI (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE): sets and clears `MOUNT_ATTR_*` on
/// the mount `fd` is the root of and on every mount below it (Linux 5.12; ENOSYS before).
pub fn mount_setattr_recursive(fd: BorrowedFd<'_>, set: u64, clear: u64) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: fd is a live descriptor for the duration of the call, `empty` is a
    // NUL-terminated string and `attr` a properly laid-out struct whose size is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// The leading fields of `union bpf_attr` for BPF_PROG_LOAD (linux/bpf.h); the rest of the
/// union, which the kernel wants zero, is the padding.
#[repr(C)]
struct BpfProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    _rest: [u8; 80],
}

/// `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
struct BpfProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _rest: [u8; 108],
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// Loads an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE (`insns`: struct bpf_insn,
/// eight bytes each, as `u64`s in memory order) and returns its descriptor.
pub fn bpf_load_device_program(insns: &[u64]) -> Result<std::os::fd::OwnedFd, Errno> {
    let license = c"Apache";
    let attr = BpfProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        _rest: [0; 80],
    };
    // SAFETY: `attr` points at `insns` and `license`, both alive for the call.
    let fd = unsafe { bpf(BPF_PROG_LOAD, &attr)? };
    // SAFETY: bpf(2) returned a new descriptor that nothing else owns.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as RawFd) })
}

/// Attaches a device program to the cgroup `cgroup` is a directory of, as its only one
/// (no BPF_F_ALLOW_MULTI or _OVERRIDE: nothing below may attach another, and attaching
/// again replaces it, which is what `update` needs).
pub fn bpf_attach_device_program(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let attr = BpfProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        replace_bpf_fd: 0,
        _rest: [0; 108],
    };
    // SAFETY: both descriptors are alive for the call.
    unsafe { bpf(BPF_PROG_ATTACH, &attr) }.map(drop)
}

/// bpf(2) with `attr` and its size.
///
/// # Safety
/// `attr` is the `union bpf_attr` layout `cmd` reads, zero past the fields it sets, and
/// every pointer in it is valid for the call.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &T) -> Result<libc::c_long, Errno> {
    // SAFETY: the caller vouches for `attr`; its size is passed with it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// In a freshly cloned child: makes `fds` its standard input, output and error (dup2 clears
/// close-on-exec on the copies). Raw syscalls only (this runs between clone3 and exec).
/// Returns false on failure.
pub fn child_dup_stdio(fds: &[RawFd; 3]) -> bool {
    for (target, src) in fds.iter().enumerate() {
        let target = target as RawFd;
        // SAFETY: plain dup2/fcntl on descriptors the caller keeps open across the clone.
        let ok = unsafe {
            if *src == target {
                libc::fcntl(target, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(*src, target) == target
            }
        };
        if !ok {
            return false;
        }
    }
    true
}

/// pidfd_open(2): a descriptor of process `pid` that polls readable once it has exited
/// (also when it is not our child).
pub fn pidfd_open(pid: i32) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just installed this descriptor for this call alone.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Moves `tmp` to `path` so that a reader finds the old file or the new one, never neither
/// and never half of one. Where `path` exists the two are exchanged (renameat2
/// RENAME_EXCHANGE) and the old file, now at `tmp`, is unlinked: ext4 writes back the data
/// of a file renamed over another before the rename returns (its auto_da_alloc), about
/// 170 us for a small state file on this project's machines against 60 us for exchange and
/// unlink. A filesystem that cannot exchange gets a plain rename(2).
pub fn replace_file(tmp: &std::path::Path, path: &std::path::Path) -> std::io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    match renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => {
            // The new content is in place; a leftover old file at `tmp` is replaced by the
            // next write.
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(_) => std::fs::rename(tmp, path),
    }
}

/// Sets or clears close-on-exec on `fd` (EBADF if it is not open).
pub fn set_cloexec(fd: RawFd, on: bool) -> Result<(), Errno> {
    let flags = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: fcntl F_SETFD on a descriptor number only changes its flags; a closed number
    // gives EBADF.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Takes ownership of descriptor `fd`, handed to this process alone by number (across
/// exec, or as the init's end of a channel); None if the number is not open.
pub fn take_inherited_fd(fd: RawFd) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_GETFD on any number is harmless; it fails with EBADF when not open.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: open (checked above) and handed to this process alone; nothing else in the
    // process refers to it by number.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Takes ownership of a descriptor the kernel just installed in this process through
/// SCM_RIGHTS (recvmsg): nothing else can know its number yet.
pub fn own_received_fd(fd: RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: recvmsg installed it for this call alone.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replaced file holds the new content, the temp file is gone, and a missing target
    /// is simply created.
    #[test]
    fn replace_file_swaps_in_the_new_content() {
        let t = tempfile::tempdir().unwrap();
        let (tmp, path) = (t.path().join(".f.tmp"), t.path().join("f"));
        std::fs::write(&tmp, "one").unwrap();
        replace_file(&tmp, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
        std::fs::write(&tmp, "two").unwrap();
        replace_file(&tmp, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert!(!tmp.exists(), "the old file is unlinked");
        assert!(
            replace_file(&tmp, &path).is_err(),
            "no temp file is an error"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
    }

    /// The fallback for kernels without close_range marks inherited descriptors.
    #[test]
    fn cloexec_fallback_marks_descriptors() {
        let f = std::fs::File::open("/proc/self/stat").expect("open");
        // SAFETY: dup of a descriptor we own; the copy is closed below.
        let fd = unsafe { libc::dup(f.as_raw_fd()) };
        assert!(fd > 2);
        // SAFETY: F_GETFD only reads the descriptor's flags.
        let flags = || unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(flags() & libc::FD_CLOEXEC, 0, "dup(2) clears FD_CLOEXEC");
        cloexec_from_procfs(fd).expect("fallback");
        assert_eq!(flags() & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        // SAFETY: closing the copy made above.
        unsafe { libc::close(fd) };
    }
}
