//! Containers on disk: one directory per container holding its record (`container.json`,
//! in the shape `docker inspect` prints), its OCI bundle and its log. Names are unique, ids
//! are 64 hex digits found by unique prefix.
//!
//! Locks (flock): `containers/.lock` guards the set (create, rename, remove, heal);
//! `<id>/.lock` is held for as long as something watches the container (its monitor, or the
//! foreground `berth run`); `<id>/.state.lock` guards read-modify-write of the record;
//! `containers/.gen` is held shared by every change `ps` must see (see [`Containers::changing`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::base::lock_file_named;

/// `containers/.gen`: the generation of the containers (`Containers::changing`).
const GENERATION: &str = ".gen";

/// Docker's zero time, printed for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Record {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: CState,
    pub image: String,
    /// "/name", as Docker prints it.
    pub name: String,
    pub restart_count: u32,
    pub driver: String,
    pub log_path: PathBuf,
    pub config: CConfig,
    pub host_config: HostConfig,
    pub mounts: Vec<MountPoint>,
    /// berth: what the container owns on the host, each recorded before it is made; the
    /// one teardown routine (teardown.rs) takes them down in reverse.
    #[serde(default)]
    pub host_objects: Vec<super::teardown::HostObject>,
    #[serde(default)]
    pub network_settings: NetworkSettings,
}

/// `NetworkSettings` as `docker inspect` shows it (the first network's address on top).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// "80/tcp" -> its host bindings.
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub gateway: String,
    pub mac_address: String,
    /// Network name -> the container's endpoint on it.
    pub networks: BTreeMap<String, EndpointSettings>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    pub aliases: Vec<String>,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub mac_address: String,
    #[serde(rename = "DNSNames")]
    pub dns_names: Vec<String>,
}

/// Where a container is in its life. Serialized as Docker prints `State.Status`; `creating`
/// is berth's own: a record whose container is still being made (or whose maker was killed).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Creating,
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Running, paused or between two runs of its restart policy: what `ps` shows by default.
    pub fn is_up(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    /// Whether its init lives (running or frozen).
    pub fn is_alive(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Status> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            anyhow::anyhow!(
                "status {s:?}: want created, running, paused, restarting, removing, exited or dead"
            )
        })
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CState {
    pub status: Status,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// berth: the process that watches the container (0: none).
    #[serde(default)]
    pub monitor_pid: i32,
    /// berth: stopped by `stop`/`kill`/`rm`, so the restart policy does not apply.
    #[serde(default)]
    pub manually_stopped: bool,
    /// The healthcheck's state, for a container that has one (run by its monitor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CConfig {
    pub hostname: String,
    pub user: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub image: String,
    pub volumes: BTreeMap<String, serde_json::Value>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<super::health::HealthConfig>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// no, on-failure, always, unless-stopped
    pub name: String,
    pub maximum_retry_count: u32,
}

impl std::str::FromStr for RestartPolicy {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<RestartPolicy> {
        RestartPolicy::parse(s)
    }
}

impl RestartPolicy {
    /// `no`, `on-failure[:N]`, `always`, `unless-stopped`.
    pub fn parse(s: &str) -> Result<RestartPolicy> {
        let (name, max) = s.split_once(':').unwrap_or((s, ""));
        let maximum_retry_count = if max.is_empty() {
            0
        } else {
            max.parse()
                .with_context(|| format!("--restart {s:?}: {max:?} is not a count"))?
        };
        match name {
            "no" | "always" | "unless-stopped" if max.is_empty() => {}
            "on-failure" => {}
            _ => bail!("--restart {s:?}: want no, on-failure[:N], always or unless-stopped"),
        }
        Ok(RestartPolicy {
            name: name.to_string(),
            maximum_retry_count,
        })
    }

    /// Whether a container that exited with `code` starts again.
    pub fn restarts(&self, code: i32, manually_stopped: bool, restarts_so_far: u32) -> bool {
        if manually_stopped {
            return false;
        }
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                code != 0
                    && (self.maximum_retry_count == 0 || restarts_so_far < self.maximum_retry_count)
            }
            _ => false,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub binds: Vec<String>,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Vec<String>,
    pub tmpfs: BTreeMap<String, String>,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub pids_limit: Option<i64>,
    /// Memory plus swap (`--memory-swap`), 0 when not set.
    #[serde(default)]
    pub memory_swap: i64,
    #[serde(default)]
    pub cpuset_cpus: String,
    /// The soft limit (`--memory-reservation`), 0 when not set.
    #[serde(default)]
    pub memory_reservation: i64,
    /// Bytes of /dev/shm.
    #[serde(default)]
    pub shm_size: i64,
    #[serde(default)]
    pub oom_score_adj: i64,
    #[serde(default)]
    pub group_add: Vec<String>,
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default)]
    pub devices: Vec<DeviceMapping>,
    #[serde(default)]
    pub pid_mode: String,
    #[serde(default)]
    pub ipc_mode: String,
    #[serde(default, rename = "UTSMode")]
    pub uts_mode: String,
    #[serde(default)]
    pub cgroupns_mode: String,
    #[serde(default)]
    pub cpu_period: i64,
    #[serde(default)]
    pub cpu_quota: i64,
    pub ulimits: Vec<String>,
    pub init: bool,
}

/// One `--device`, as Docker's `HostConfig.Devices` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// bind, volume, tmpfs
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    /// berth: a volume made for this container alone (image VOLUME, `-v /path`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

impl Record {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
    /// `State.Health.Status`: "" without a healthcheck, else starting, healthy, unhealthy.
    pub fn state_health(&self) -> String {
        self.state
            .health
            .as_ref()
            .map(|h| h.status.clone())
            .unwrap_or_default()
    }

    pub fn bare_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
    pub fn is_up(&self) -> bool {
        self.state.status.is_up()
    }
}

/// The container set under `<root>/containers`.
pub struct Containers {
    pub root: PathBuf,
    pub dir: PathBuf,
}

impl Containers {
    pub fn new(root: &Path) -> Containers {
        Containers {
            root: root.to_path_buf(),
            dir: root.join("containers"),
        }
    }

    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Exclusive hold on the set (create, rename, remove, heal).
    pub fn lock_set(&self) -> Result<Flock<File>> {
        super::fsutil::mkdir_private(&self.dir)?;
        lock_file_named(&self.dir, ".lock", FlockArg::LockExclusive)
    }

    pub fn ids(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect();
        ids.sort();
        ids
    }

    pub fn load(&self, id: &str) -> Result<Record> {
        check_id(id)?;
        let p = self.dir_of(id).join("container.json");
        let data = std::fs::read(&p).with_context(|| format!("read {}", p.display()))?;
        serde_json::from_slice(&data).with_context(|| format!("parse {}", p.display()))
    }

    /// Every container with a record, oldest first.
    pub fn all(&self) -> Vec<Record> {
        let mut v: Vec<Record> = self
            .ids()
            .iter()
            .filter_map(|id| self.load(id).ok())
            .collect();
        v.sort_by(|a, b| a.created.cmp(&b.created));
        v
    }

    /// Announces a change of the containers that `ps` may answer from its summaries cache
    /// (summary.rs): a record saved, a container directory made or removed, a rootfs
    /// mounted. Writes a new generation into `containers/.gen` holding a shared lock on it,
    /// and keeps the lock until the returned guard drops, after the change. The new
    /// generation goes in *before* the change, so a berth killed half-way still leaves it
    /// changed, and the next `ps` reads every record and heals what was left.
    pub fn changing(&self) -> Result<Flock<File>> {
        use std::os::unix::fs::FileExt;
        let l = lock_file_named(&self.dir, GENERATION, FlockArg::LockShared)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut g = now.to_le_bytes().to_vec();
        g.extend_from_slice(&std::process::id().to_le_bytes());
        l.write_all_at(&g, 0)
            .with_context(|| format!("write {}", self.dir.join(GENERATION).display()))?;
        Ok(l)
    }

    /// The generation of the containers now ([`Containers::changing`]): taken under an
    /// exclusive lock, so it waits for the changes in flight and is never read between a
    /// change's new generation and the change itself. None when it cannot be read.
    pub fn generation(&self) -> Option<Vec<u8>> {
        use std::io::Read;
        match super::base::lock_existing(&self.dir, GENERATION, FlockArg::LockExclusive) {
            // Never changed by a berth that keeps one: a reader creates nothing.
            Ok(None) => Some(Vec::new()),
            Ok(Some(mut l)) => {
                let mut g = Vec::new();
                l.read_to_end(&mut g).ok()?;
                Some(g)
            }
            Err(_) => None,
        }
    }

    pub fn save(&self, rec: &Record) -> Result<()> {
        check_id(&rec.id)?;
        let p = self.dir_of(&rec.id).join("container.json");
        let old = self.load(&rec.id).ok();
        {
            let _changing = self.changing()?;
            super::fsutil::write_private_stamped(&p, &serde_json::to_vec_pretty(rec)?)?;
        }
        // The one place a record's transitions become events (create, start, die, ...).
        super::events::transition(&self.root, old.as_ref(), rec);
        Ok(())
    }

    /// Read-modify-write of a record under its state lock; returns the new record.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut Record)) -> Result<Record> {
        check_id(id)?;
        // Never created here: a record being removed stays removed.
        let _l =
            super::base::lock_existing(&self.dir_of(id), ".state.lock", FlockArg::LockExclusive)?
                .with_context(|| format!("no such container: {id}"))?;
        // Removal moves the directory away under this lock: a record that went while we
        // waited for it is a container that is gone.
        if !self.dir_of(id).exists() {
            bail!("no such container: {id}");
        }
        let mut rec = self.load(id)?;
        f(&mut rec);
        self.save(&rec)?;
        Ok(rec)
    }

    /// A container by full id, name or unique id prefix (Docker's order). Reads one record,
    /// whatever the number of containers: the id is a directory, the name is in the index.
    pub fn find(&self, key: &str) -> Result<Record> {
        if is_id(key) {
            if let Ok(r) = self.load(key) {
                return Ok(r);
            }
        }
        let bare = key.trim_start_matches('/');
        if let Some(r) = self.by_name(bare) {
            return Ok(r);
        }
        if !self.index_complete() {
            let name = format!("/{bare}");
            if let Some(r) = self.all().into_iter().find(|r| r.name == name) {
                return Ok(r);
            }
        }
        let hits: Vec<String> = if key.is_empty() {
            Vec::new()
        } else {
            self.ids()
                .into_iter()
                .filter(|id| id.starts_with(key))
                .collect()
        };
        match hits.as_slice() {
            [id] => self.load(id),
            [] => bail!("no such container: {key}"),
            _ => bail!(
                "{key} matches {} containers; give more of the id",
                hits.len()
            ),
        }
    }

    /// Beside `containers/`, whose entries are the containers' directories only.
    fn names_dir(&self) -> PathBuf {
        self.root.join("names")
    }

    fn index_complete(&self) -> bool {
        self.names_dir().join(".complete").exists()
    }

    /// The container named `name`, through the names index: `<root>/names/<name>` holds
    /// its id. An entry is trusted only when the record it points to has that name, so a
    /// stale one (a create, rename or rm killed half-way) reads as absent.
    pub fn by_name(&self, name: &str) -> Option<Record> {
        check_name(name).ok()?;
        let id = std::fs::read_to_string(self.names_dir().join(name)).ok()?;
        let rec = self.load(id.trim()).ok()?;
        (rec.bare_name() == name).then_some(rec)
    }

    /// The id of the container that holds `name`. The caller holds the set lock and has
    /// called `ensure_index`.
    pub fn name_owner(&self, name: &str) -> Option<String> {
        self.by_name(name).map(|r| r.id)
    }

    /// Builds the names index from the records once, for a root made before it existed.
    /// Under the set lock.
    pub fn ensure_index(&self) -> Result<()> {
        if self.index_complete() {
            return Ok(());
        }
        super::fsutil::mkdir_private(&self.names_dir())?;
        for r in self.all() {
            self.index_name(r.bare_name(), &r.id)?;
        }
        super::fsutil::write_private(&self.names_dir().join(".complete"), b"")
    }

    /// Gives `name` to `id` in the index, before the record takes it. Under the set lock.
    pub fn index_name(&self, name: &str, id: &str) -> Result<()> {
        check_name(name)?;
        check_id(id)?;
        super::fsutil::mkdir_private(&self.names_dir())?;
        super::fsutil::write_private(&self.names_dir().join(name), id.as_bytes())
    }

    /// Takes `name` out of the index if `id` holds it there; after the record let it go.
    pub fn unindex_name(&self, name: &str, id: &str) {
        if check_name(name).is_err() {
            return;
        }
        let p = self.names_dir().join(name);
        if std::fs::read_to_string(&p).is_ok_and(|v| v.trim() == id) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Whether `id` has the form of a container id (64 hex digits). A test, not an error: an
/// error made and dropped would still capture a backtrace under RUST_BACKTRACE=1.
pub fn is_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A container id is 64 hex digits: the only container string that becomes a path (names
/// and prefixes are looked up in the records).
pub fn check_id(id: &str) -> Result<()> {
    if !is_id(id) {
        bail!("no such container: {id:?} is not a container id");
    }
    Ok(())
}

/// Docker's rule for container and volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, and at most
/// 255 bytes (a volume's name is a directory's name).
pub fn check_name_of(kind: &str, name: &str) -> Result<()> {
    if name.len() > 255 {
        let head: String = name.chars().take(24).collect();
        bail!(
            "invalid {kind} name {head:?}... ({} bytes): at most 255 are allowed",
            name.len()
        );
    }
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        bail!("invalid {kind} name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    }
    Ok(())
}

pub fn check_name(name: &str) -> Result<()> {
    check_name_of("container", name)
}

const ADJECTIVES: &[&str] = &[
    "brave",
    "calm",
    "clever",
    "eager",
    "fervent",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nifty",
    "quirky",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "vibrant",
    "wizardly",
    "zealous",
    "bold",
    "cool",
    "dazzling",
    "elated",
    "focused",
    "gallant",
    "hopeful",
    "kind",
    "loving",
    "modest",
    "nostalgic",
    "pensive",
    "relaxed",
    "sweet",
    "trusting",
    "upbeat",
];
const SURNAMES: &[&str] = &[
    "turing",
    "hopper",
    "lovelace",
    "ritchie",
    "thompson",
    "torvalds",
    "knuth",
    "dijkstra",
    "liskov",
    "hamilton",
    "shannon",
    "noether",
    "curie",
    "tesla",
    "kepler",
    "euler",
    "gauss",
    "goldberg",
    "babbage",
    "perlman",
    "lamport",
    "wozniak",
    "cerf",
    "allen",
    "bell",
    "fermi",
    "hodgkin",
    "kare",
    "mccarthy",
    "pike",
    "ramanujan",
    "sammet",
    "wing",
    "yalow",
    "zuse",
];

/// A Docker-style random name (adjective_surname) not yet taken in `taken`.
pub fn random_name(id: &str, taken: impl Fn(&str) -> bool) -> String {
    let seed = u64::from_str_radix(&id[..16], 16).unwrap_or(0);
    for i in 0..64u64 {
        let x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(i * 1442695040888963407);
        let a = ADJECTIVES[(x >> 33) as usize % ADJECTIVES.len()];
        let s = SURNAMES[(x >> 13) as usize % SURNAMES.len()];
        let n = if i < 8 {
            format!("{a}_{s}")
        } else {
            format!("{a}_{s}{}", i)
        };
        if !taken(&n) {
            return n;
        }
    }
    format!("berth_{}", &id[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        let p = RestartPolicy::parse("on-failure:2").unwrap();
        assert!(p.restarts(1, false, 0) && p.restarts(1, false, 1));
        assert!(!p.restarts(1, false, 2) && !p.restarts(0, false, 0));
        assert!(!p.restarts(1, true, 0));
        assert!(RestartPolicy::parse("always")
            .unwrap()
            .restarts(0, false, 99));
        assert!(!RestartPolicy::parse("no").unwrap().restarts(1, false, 0));
        assert!(RestartPolicy::parse("sometimes").is_err());
        assert!(RestartPolicy::parse("always:3").is_err());
    }

    /// find() by full id, name and prefix reads through the names index; a stale entry (a
    /// killed rename) reads as absent, and a root made before the index is found by a scan
    /// until create or rename builds the index.
    #[test]
    fn find_through_the_names_index() {
        let d = tempfile::tempdir().unwrap();
        let cs = Containers::new(d.path());
        let mk = |id: &str, name: &str| {
            super::super::fsutil::mkdir_private(&cs.dir).unwrap();
            super::super::fsutil::mkdir_private(&cs.dir_of(id)).unwrap();
            let rec = Record {
                id: id.into(),
                name: format!("/{name}"),
                ..Record::default()
            };
            cs.save(&rec).unwrap();
        };
        let a = format!("ab{}", "1".repeat(62));
        let b = format!("ac{}", "2".repeat(62));
        // Made before the index: found by scanning.
        mk(&a, "web");
        assert_eq!(cs.find("web").unwrap().id, a);
        assert!(!cs.index_complete());
        cs.ensure_index().unwrap();
        assert!(cs.index_complete());
        assert_eq!(cs.name_owner("web").as_deref(), Some(a.as_str()));
        cs.index_name("db", &b).unwrap();
        mk(&b, "db");
        assert_eq!(cs.find("db").unwrap().id, b);
        assert_eq!(cs.find("/db").unwrap().id, b);
        assert_eq!(cs.find(&b).unwrap().id, b);
        assert_eq!(cs.find("ab1").unwrap().id, a);
        assert!(cs.find("a").unwrap_err().to_string().contains("matches 2"));
        assert!(cs.find("nosuch").is_err());
        // A rename killed after the index took the new name: the entry is stale.
        cs.index_name("cache", &b).unwrap();
        assert!(cs.name_owner("cache").is_none());
        assert!(cs.find("cache").is_err());
        // rm: the entry goes only if it is still the container's.
        cs.unindex_name("web", &b);
        assert!(cs.name_owner("web").is_some());
        cs.unindex_name("web", &a);
        assert!(cs.name_owner("web").is_none());
        // Names that cannot be file names never become paths.
        assert!(cs.by_name("../x").is_none());
        assert!(cs.index_name("a/b", &a).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("web-1").is_ok());
        assert!(check_name("a").is_err());
        assert!(check_name("-x").is_err());
        assert!(check_name("a/b").is_err());
        let id = "0123456789abcdef".repeat(4);
        let n = random_name(&id, |_| false);
        assert!(n.contains('_'));
        let m = random_name(&id, |x| x == n);
        assert_ne!(n, m);
    }
}
