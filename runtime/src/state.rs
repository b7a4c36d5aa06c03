//! Container state on disk and the lifecycle status with its guards.
//!
//! ```text
//! <root>/                 default /run/berth-runtime (`--root`)
//!   <id>/                 one directory per container, mode 0700
//!     state.json          State below; written to a temp file and renamed
//!     exec.sock           unix socket the created init waits on; `start` connects to it
//!     .lock               flock(2) held by every command that changes this container
//! ```

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

pub const DEFAULT_ROOT: &str = "/run/berth-runtime";
const STATE_FILE: &str = "state.json";
pub const EXEC_SOCK: &str = "exec.sock";

/// Runtime-spec lifecycle (runtime.md "State"), plus `Paused` as runc reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
    pub fn can_start(self) -> bool {
        self == Status::Created
    }
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }
    pub fn can_delete(self) -> bool {
        matches!(self, Status::Stopped | Status::Creating)
    }
    pub fn can_pause(self) -> bool {
        matches!(self, Status::Running | Status::Created)
    }
    pub fn can_resume(self) -> bool {
        self == Status::Paused
    }
    pub fn can_exec(self) -> bool {
        matches!(self, Status::Created | Status::Running)
    }
}

/// Where the container's cgroup lives, so delete can remove it from the id's state alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CgroupRecord {
    /// cgroupsPath as given to libcgroups (absolute, relative to each hierarchy's root).
    pub path: PathBuf,
    /// Directories this container created (leaf first), removed on delete when empty.
    pub created: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    /// Start time of the init in clock ticks since boot (/proc/PID/stat field 22): tells our
    /// init apart from a later process that reused its pid.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub created: String,
    pub owner: String,
    pub cgroup: CgroupRecord,
    /// Whether `start` has let the init exec the user process.
    #[serde(default)]
    pub started: bool,
    /// The poststart and poststop hooks, kept here so that start and delete need not read
    /// and check the bundle's config.json again (it may even be gone by delete).
    #[serde(default)]
    pub post_hooks: PostHooks,
    /// The cgroup resources in force: the config's, with every `update` merged in (update.rs).
    #[serde(default)]
    pub resources: Option<oci_spec::runtime::LinuxResources>,
    /// Mount points the init made in the caller's mount namespace, in the order made: a
    /// container without a mount namespace of its own mounts its `mounts` under the rootfs
    /// on the host (as runc and crun do); teardown unmounts them, deepest last made first.
    #[serde(default)]
    pub host_mounts: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PostHooks {
    #[serde(default)]
    pub poststart: Vec<oci_spec::runtime::Hook>,
    #[serde(default)]
    pub poststop: Vec<oci_spec::runtime::Hook>,
}

impl State {
    /// The runtime-spec state JSON (runtime.md "State"), as `state` prints and hooks read.
    pub fn oci_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status.as_str(),
            "pid": self.pid,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
        })
    }
}

impl State {
    /// The state JSON the create-time hooks read (prestart, createRuntime, createContainer,
    /// startContainer): `created`. Runtime spec 1.2 runtime.md "Lifecycle" runs them after
    /// step 2, "the container's runtime environment MUST be created", and state.md defines
    /// `created` as "the runtime has finished the create operation (after step 2)". crun
    /// sends `created` too; runc sends `creating` to the first three.
    pub fn hook_json(&self) -> String {
        let mut v = self.oci_json();
        v["status"] = Status::Created.as_str().into();
        v.to_string()
    }
}

/// Container ids become directory names and host object names: keep them to a safe alphabet.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// The state directory of one container plus the lock held while it is changed.
pub struct ContainerDir {
    pub id: String,
    pub dir: PathBuf,
    _lock: Flock<File>,
}

impl ContainerDir {
    /// Creates the directory for a new container; fails if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .ctx("create state root", root)?;
        // The umask may have taken bits, or an older runtime made it 0711: it is 0700, as
        // runc's, whatever was there.
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))
            .ctx("chmod state root", root)?;
        let dir = root.join(id);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => return Err(Error::io("create state dir", dir, e)),
        }
        Self::lock(id, dir)
    }

    /// Opens (and locks) the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let dir = root.join(id);
        if !dir.join(STATE_FILE).exists() && !dir.is_dir() {
            return Err(Error::NotFound(id.to_string()));
        }
        Self::lock(id, dir)
    }

    fn lock(id: &str, dir: PathBuf) -> Result<Self> {
        let path = dir.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .ctx("open lock", &path)?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::sys(format!("flock {}", path.display()), e))?;
        Ok(ContainerDir {
            id: id.to_string(),
            dir,
            _lock: lock,
        })
    }

    pub fn exec_sock(&self) -> PathBuf {
        self.dir.join(EXEC_SOCK)
    }

    pub fn load(&self) -> Result<State> {
        let path = self.dir.join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(self.id.clone()))
            }
            Err(e) => return Err(Error::io("read state", path, e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::State {
            id: self.id.clone(),
            msg: format!("{}: {e}", path.display()),
        })
    }

    pub fn save(&self, state: &State) -> Result<()> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join(".state.json.tmp");
        let data = serde_json::to_vec(state).map_err(|e| Error::State {
            id: self.id.clone(),
            msg: e.to_string(),
        })?;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .ctx("write state", &tmp)?;
        f.write_all(&data).ctx("write state", &tmp)?;
        crate::sys::replace_file(&tmp, &path).ctx("rename state", &path)
    }

    /// Removes the directory (the lock file goes with it; the flock stays valid until drop).
    pub fn remove(&self) -> Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove state dir", &self.dir, e)),
        }
    }
}

/// Ids of all containers under `root` (directories with a state file).
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(Error::io("list", root, e)),
    };
    for entry in rd.flatten() {
        if entry.path().join(STATE_FILE).exists() {
            if let Some(name) = entry.file_name().to_str() {
                ids.push(name.to_string());
            }
        }
    }
    ids.sort();
    Ok(ids)
}

/// Start time (field 22 of /proc/PID/stat), or None if the process is gone.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and ')': parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    // rest starts at field 3 (state); starttime is field 22 => index 19 here.
    rest.split(' ').nth(19)?.parse().ok()
}

/// State of /proc/PID/stat field 3 ('Z' for a zombie), or None if gone.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// RFC 3339 UTC timestamp with nanoseconds, as runc writes `created`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// RFC 3339 UTC timestamp with nanoseconds of a time since the Unix epoch
/// (`2025-11-25T21:30:41.000000007Z`).
pub fn rfc3339(t: std::time::Duration) -> String {
    chrono::DateTime::from_timestamp(t.as_secs() as i64, t.subsec_nanos())
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_x").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a b", "../x"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn guards() {
        assert!(Status::Created.can_start());
        assert!(!Status::Running.can_start());
        assert!(!Status::Running.can_delete());
        assert!(Status::Stopped.can_delete());
        assert!(!Status::Stopped.can_kill());
    }

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }

    #[test]
    fn start_time_of_self() {
        assert!(process_start_time(std::process::id() as i32).is_some());
        assert!(process_start_time(i32::MAX).is_none());
    }
}
