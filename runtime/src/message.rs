//! The messages between the runtime (parent) and a container's init (child), apart from
//! their transport (channel.rs), so that neither side's module imports the other.
//!
//! Parent -> init: the config, then the cgroup to join, the seccomp programs and the end of
//! the hooks. Init -> parent: "run the hooks", "ready", or the step that failed, with the
//! errno when a system call failed (so the engine can tell 126 from 127 without reading
//! message text).

use std::os::fd::RawFd;
use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::cgroups::Join;
use crate::channel::Channel;
use crate::error::Error;

/// The parent's end of the channel.
pub type ParentChannel = Channel<ToInit, FromInit>;
/// The init's end of the channel.
pub type InitChannel = Channel<FromInit, ToInit>;

/// Parent -> init.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    Config(Box<InitConfig>),
    /// The container's cgroup exists and has its limits: join it like this (create only).
    Cgroup(Join),
    /// The runtime ran the createRuntime/prestart hooks; go on.
    HooksDone,
    /// The seccomp programs, compiled by the parent while the init set up the container
    /// (create only; exec compiles in the init).
    Seccomp(Vec<crate::seccomp::RawProgram>),
}

/// Init -> parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromInit {
    /// Mounts are in place, pivot_root is next: run createRuntime/prestart hooks now.
    RunHooks,
    /// The container is created and waits for `start` (or, for exec, is about to exec).
    Ready,
    /// A step failed; the init exits after sending this.
    Error(InitError),
}

/// What the init reports when a step fails: also what it writes to `start` when a step after
/// Ready fails (startContainer hooks, privileges, exec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitError {
    /// The step, as numbered in init.rs ("prepare process", "exec", "mount /proc", ...).
    pub step: String,
    /// The error's text.
    pub msg: String,
    /// errno(3) of the failed system call, when one failed.
    pub errno: Option<i32>,
}

impl InitError {
    pub fn new(step: impl Into<String>, e: &Error) -> InitError {
        InitError {
            step: step.into(),
            msg: e.to_string(),
            errno: e.errno(),
        }
    }
}

impl From<InitError> for Error {
    fn from(e: InitError) -> Error {
        Error::Init {
            step: e.step,
            msg: e.msg,
            errno: e.errno,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Mode {
    /// A new container: set up everything, then wait for `start`.
    /// `listener_fd`: exec.sock, where `start` says go; None: go on at once (run).
    Create { listener_fd: Option<RawFd> },
    /// A process joining the namespaces of the running init `pid`.
    Exec { pid: i32 },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InitConfig {
    pub mode: Mode,
    pub spec: Spec,
    pub rootfs: PathBuf,
    pub no_pivot: bool,
    pub join: Join,
    pub cgroup_v2: bool,
    /// The parent's cgroups::v1_hierarchies (empty on v2 and for exec), so that the init
    /// mounts /sys/fs/cgroup without reading mountinfo again.
    pub cgroup_v1: Vec<(PathBuf, String)>,
    pub console_fd: Option<RawFd>,
    pub new_userns: bool,
    pub preserve_fds: i32,
    /// State JSON for createContainer/startContainer hooks.
    pub state_json: String,
    /// `--debug`: the parent's start time, to print step timings on the same time line.
    #[serde(default)]
    pub debug_t0: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_error_carries_the_errno_of_a_failed_call() {
        let e = crate::init::find_executable("no-such-binary", &["PATH=/nonexistent".into()])
            .expect_err("not found");
        let r = InitError::new("prepare process", &e);
        assert_eq!(r.errno, Some(libc::ENOENT));
        assert!(r.msg.contains("not found"), "{}", r.msg);
        let e = crate::init::find_executable("/proc", &[]).expect_err("a directory");
        assert_eq!(
            InitError::new("prepare process", &e).errno,
            Some(libc::EACCES)
        );
        let io = Error::io(
            "open",
            "/x",
            std::io::Error::from_raw_os_error(libc::ENOEXEC),
        );
        assert_eq!(InitError::new("exec", &io).errno, Some(libc::ENOEXEC));
        assert_eq!(
            InitError::new("hooks", &Error::Invalid("x".into())).errno,
            None
        );
    }

    #[test]
    fn messages_round_trip_as_json() {
        let r = InitError {
            step: "exec".into(),
            msg: "exec \"/bin/x\": EACCES: Permission denied".into(),
            errno: Some(libc::EACCES),
        };
        let data = serde_json::to_vec(&FromInit::Error(r.clone())).expect("json");
        match serde_json::from_slice::<FromInit>(&data).expect("parse") {
            FromInit::Error(back) => assert_eq!(back, r),
            other => panic!("{other:?}"),
        }
        let e: Error = r.into();
        assert_eq!(e.errno(), Some(libc::EACCES));
        assert_eq!(
            e.to_string(),
            "container init failed at step \"exec\": exec \"/bin/x\": EACCES: Permission denied"
        );
    }
}
