//! The crate's `unsafe` code: file-descriptor and memory calls that nix marks unsafe because
//! they take or give ownership of a raw descriptor or touch mappings. Each block says why it
//! is sound. The small `berth-monitor` binary includes this file too (`#[path]`), so it may
//! use only std, nix, libc and anyhow.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{Context, Result};

/// Points stdio fd `target` (0, 1 or 2) at `fd`.
pub fn dup_onto(fd: &impl AsFd, target: i32) -> Result<()> {
    debug_assert!((0..3).contains(&target));
    // SAFETY: `target` is one of our stdio descriptors, which we mean to replace; nothing in
    // this process holds it as an OwnedFd.
    let new = unsafe { nix::unistd::dup2_raw(fd.as_fd(), target) }.context("dup2")?;
    // The result owns `target`: keep it open.
    let _ = std::os::fd::IntoRawFd::into_raw_fd(new);
    Ok(())
}

/// Clears close-on-exec on `fd`, so the program this process executes next inherits it.
/// Checks that the descriptor is open (fcntl F_GETFD) before borrowing it.
pub fn clear_cloexec(fd: RawFd) -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // SAFETY: F_GETFD on any number is harmless; it fails with EBADF when not open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        anyhow::bail!("descriptor {fd} is not open");
    }
    // SAFETY: checked open just above, and this single call uses it.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl(b, FcntlArg::F_SETFD(FdFlag::empty())).with_context(|| format!("fcntl {fd}"))?;
    Ok(())
}

/// The descriptor of a held flock, as an OwnedFd that closes it *without* unlocking: the
/// lock stays with whoever else holds the open file description (a forked monitor).
pub fn into_fd_keeping_lock(lock: nix::fcntl::Flock<std::fs::File>) -> OwnedFd {
    use std::os::fd::AsRawFd;
    let fd = lock.as_raw_fd();
    // Dropping the Flock would unlock for every holder; forgetting it keeps the descriptor.
    std::mem::forget(lock);
    // SAFETY: fd was the Flock's open descriptor, forgotten above, so nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// fork(2), refused unless this process has a single thread: the child of a
/// multi-threaded process may only call async-signal-safe functions, and the monitor's
/// child does much more (it starts the container).
pub fn fork_single_threaded() -> Result<nix::unistd::ForkResult> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok());
    if threads != Some(1) {
        anyhow::bail!("fork: this process has {threads:?} threads, not one");
    }
    // SAFETY: single-threaded (checked above), so the child is a full copy of this process
    // and may do anything the parent could.
    unsafe { nix::unistd::fork() }.context("fork")
}

/// Points fds 0, 1, 2 at /dev/null.
pub fn null_stdio() {
    if let Ok(null) = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // Best effort: a descriptor that cannot be pointed at /dev/null stays as it was.
            let _ = dup_onto(&null, fd);
        }
    }
}

/// For a forked child that outlives its parent's work: stdio on /dev/null and every other
/// descriptor closed but `keep`, so that it holds none of the parent's (a pipe a caller
/// reads to its end, a container's lock). One of `keep` below 3 is moved above stdio
/// first (its number changes; it stays open).
pub fn only_descriptors(keep: &[RawFd]) {
    let mut kept: Vec<RawFd> = keep
        .iter()
        .map(|&fd| match fd {
            // SAFETY: F_DUPFD on a descriptor number makes a new one (>= 3) or fails; the
            // old number is closed with the other stdio below.
            0..=2 => unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) },
            _ => fd,
        })
        .filter(|&fd| fd >= 3)
        .collect();
    null_stdio();
    kept.sort_unstable();
    let mut from: RawFd = 3;
    for &fd in kept.iter().chain(std::iter::once(&RawFd::MAX)) {
        if fd > from {
            let last = if fd == RawFd::MAX {
                u32::MAX
            } else {
                fd as u32 - 1
            };
            // SAFETY: close_range(2) closes descriptor numbers only; none in the range is
            // used again by this process (the caller keeps only `keep`, skipped here).
            let r = unsafe { libc::syscall(libc::SYS_close_range, from as u32, last, 0u32) };
            if r < 0 {
                // Before Linux 5.9: one close(2) per number that is open.
                let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
                    .map(|d| {
                        d.flatten()
                            .filter_map(|e| e.file_name().to_str()?.parse().ok())
                            .collect()
                    })
                    .unwrap_or_default();
                for n in open.into_iter().filter(|&n| n >= from && n as u32 <= last) {
                    // SAFETY: as above, a number this process no longer uses.
                    unsafe { libc::close(n) };
                }
            }
        }
        from = fd.saturating_add(1);
    }
}

/// Ends a forked child at once: no exit handlers, no flush of buffers it shares with its
/// parent.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit(2) ends the process; nothing runs after it.
    unsafe { libc::_exit(code) }
}

/// Takes ownership of descriptor `fd` that the process this one replaced (by exec) handed
/// over by number; None for -1 or a number that is not open.
pub fn take_inherited_fd(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD on any number is harmless; it fails with EBADF when not open.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: open (checked above) and handed to this process alone across exec; nothing
    // else in this process refers to it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// SIGPIPE to its default: a write to a closed pipe ends the process quietly.
pub fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no handler code, so nothing can run in signal context.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// SIGPIPE ignored: a write to a closed pipe returns EPIPE instead of killing the process.
pub fn ignore_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_IGN installs no handler code, so nothing can run in signal context.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// Drops the pages of `[start, end)`, a clean, read-only, file-backed mapping of this
/// process: the next access faults them in again from the page cache.
pub fn drop_clean_pages(start: usize, end: usize) {
    let Some(ptr) = std::ptr::NonNull::new(start as *mut std::ffi::c_void) else {
        return;
    };
    use nix::sys::mman::{madvise, MmapAdvise};
    // SAFETY: the caller names a clean, read-only, file-backed mapping (read from
    // /proc/self/maps): advice on it changes residency only, never content.
    unsafe {
        let _ = madvise(ptr, end - start, MmapAdvise::MADV_RANDOM);
        let _ = madvise(ptr, end - start, MmapAdvise::MADV_DONTNEED);
    }
}

/// How many SIGINTs and SIGTERMs arrived since [`count_interrupts`] (foreground
/// `compose up`: the first stops the services gracefully, the second kills them).
static INTERRUPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// SIGINT and SIGTERM counted instead of ending the process.
pub fn count_interrupts() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only increments an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(s, &act) };
    }
}

/// SIGINTs/SIGTERMs counted so far.
pub fn interrupts() -> usize {
    INTERRUPTS.load(std::sync::atomic::Ordering::SeqCst)
}
/// Set by the handler `catch_interrupts` installs: SIGINT, SIGTERM or SIGHUP arrived.
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The handlers `catch_interrupts` replaced, and how many guards are alive (builds may run
/// on several threads of one process, e.g. compose building services side by side).
type Saved = (
    usize,
    Vec<(nix::sys::signal::Signal, nix::sys::signal::SigAction)>,
);
static CAUGHT: std::sync::Mutex<Saved> = std::sync::Mutex::new((0, Vec::new()));

/// SIGINT, SIGTERM and SIGHUP only set `INTERRUPTED` (a build stops its step and cleans
/// up instead of dying with a container and mounts left behind) until the last returned
/// guard is dropped, which puts the previous handlers back. No SA_RESTART: a blocking poll
/// returns EINTR. Handlers are reset by exec, so containers started meanwhile get the
/// default actions.
pub fn catch_interrupts() -> InterruptGuard {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let mut c = CAUGHT.lock().unwrap_or_else(|p| p.into_inner());
    if c.0 == 0 {
        INTERRUPTED.store(false, std::sync::atomic::Ordering::SeqCst);
        let act = SigAction::new(
            SigHandler::Handler(note_interrupt),
            SaFlags::empty(),
            SigSet::empty(),
        );
        c.1.clear();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            if let Ok(prev) = unsafe { sigaction(s, &act) } {
                c.1.push((s, prev));
            }
        }
    }
    c.0 += 1;
    InterruptGuard(())
}

/// Alive while a build wants interrupts caught (see `catch_interrupts`).
pub struct InterruptGuard(());

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        let mut c = CAUGHT.lock().unwrap_or_else(|p| p.into_inner());
        c.0 = c.0.saturating_sub(1);
        if c.0 > 0 {
            return;
        }
        for (s, prev) in c.1.drain(..) {
            // SAFETY: `prev` is the action that was installed before ours: putting it back
            // restores whatever the process had (default, ignore, or its own handler).
            let _ = unsafe { nix::sys::signal::sigaction(s, &prev) };
        }
    }
}

/// The window size (rows, columns) of the terminal `fd` (TIOCGWINSZ), if it is one.
pub fn get_winsize(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    use std::os::fd::AsRawFd;
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize struct, which we own, through the pointer; the
    // descriptor is borrowed for the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCGWINSZ,
            &mut ws as *mut libc::winsize,
        )
    };
    (ret == 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sets the window size of the terminal `fd` (TIOCSWINSZ): `attach` resizing a pty.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> bool {
    use std::os::fd::AsRawFd;
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct that lives across the call; the
    // descriptor is borrowed for the call.
    unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCSWINSZ,
            &ws as *const libc::winsize,
        ) == 0
    }
}

/// Whether `p` is the root of a mount, from one statx(2) (STATX_ATTR_MOUNT_ROOT, Linux 5.8);
/// None where the call fails or the kernel does not report the attribute.
pub fn is_mount_root(p: &std::path::Path) -> Option<bool> {
    mount_root_of(&statx_at(libc::AT_FDCWD, p, 0)?)
}

/// `is_mount_root` of a statx(2) result.
pub fn mount_root_of(stx: &libc::statx) -> Option<bool> {
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    (stx.stx_attributes_mask & bit != 0).then_some(stx.stx_attributes & bit != 0)
}

/// statx(2) of `p` relative to directory `dir` (AT_FDCWD: the working directory), not
/// following a last symlink, asking for `mask`; None where the call fails.
pub fn statx_at(dir: std::os::fd::RawFd, p: &std::path::Path, mask: u32) -> Option<libc::statx> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: statx fills the zeroed struct; `path` is NUL-terminated and outlives the call;
    // `dir` is a descriptor the caller holds open (or AT_FDCWD).
    unsafe {
        let mut stx: libc::statx = std::mem::zeroed();
        let flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_DONT_SYNC;
        (libc::statx(dir, path.as_ptr(), flags, mask, &mut stx) == 0).then_some(stx)
    }
}
