//! `--init`: the container's init stays as PID 1 instead of becoming the user's process. It
//! forks; the child execs the process; the parent forwards every signal it gets to the
//! child, reaps every zombie the pid namespace hands it, and exits with the child's status
//! (128+n when signal n killed it), as tini does for Docker.
//!
//! Asked for with the annotation `run.berth.init: "true"` (other runtimes ignore it).

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::seccomp::Program;
use crate::sys::{self, Forked};

pub const ANNOTATION: &str = "run.berth.init";

pub fn wanted(spec: &Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// Returns in the child (which goes on to exec); the parent never returns. `filters` are the
/// container's seccomp programs when they go in after this fork (no_new_privs): the parent
/// installs them too, once it has closed what it inherited, so it is no less confined than
/// the process it watches.
pub fn become_init(filters: Option<&[Program]>) -> Result<(), nix::errno::Errno> {
    // Block first, so nothing sent between fork and the signalfd is lost; the child
    // restores the mask before it execs.
    let mut all = SigSet::all();
    all.remove(Signal::SIGKILL);
    all.remove(Signal::SIGSTOP);
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), Some(&mut old))?;
    match sys::fork_single_threaded()? {
        Forked::Child => {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
            Ok(())
        }
        Forked::Parent(child) => sys::exit_now(supervise(child, &all, filters)),
    }
}

fn supervise(child: i32, mask: &SigSet, filters: Option<&[Program]>) -> i32 {
    // Nothing the runtime handed the init may stay open in the reaper (the runtime waits for
    // EOF on the start socket, which exec would have closed).
    let _ = sys::close_from(3);
    let Ok(sfd) = SignalFd::with_flags(mask, SfdFlags::empty()) else {
        return 125;
    };
    if let Some(f) = filters {
        if crate::seccomp::install(f).is_err() {
            let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
            return 125;
        }
    }
    loop {
        let Ok(Some(info)) = sfd.read_signal() else {
            continue;
        };
        let sig = info.ssi_signo as i32;
        if sig != Signal::SIGCHLD as i32 {
            if let Ok(s) = Signal::try_from(sig) {
                let _ = kill(Pid::from_raw(child), s);
            }
            continue;
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p.as_raw() == child => return code,
                Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == child => return 128 + s as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}
