//! berth's OCI runtime: runs an OCI bundle (config.json + rootfs) in namespaces and cgroups.
//! It knows nothing of images, bridges or volumes; the engine and `berth-runtime` drive it.

pub mod cgroups;
pub mod channel;
pub mod console;
pub mod container;
pub mod debug;
pub mod error;
pub mod events;
pub mod example;
pub mod hooks;
pub mod init;
pub mod message;
pub mod process;
pub mod reaper;
pub mod rootfs;
pub mod seccomp;
pub mod security;
pub mod state;
mod sys;
pub mod update;
pub mod wait;

pub use error::{Error, Result};
/// The start and end of the C `main` of berth and berth-runtime.
pub use sys::{end_process, pidfd_open, replace_file, start_process};
