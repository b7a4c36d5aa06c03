//! What a container list (`ps`, `compose ps`) shows of a container, and a cache of it.
//!
//! A `Summary` is the part of a record the list shows. `containers/.summaries` keeps one per
//! container, each with the identity of the `container.json` it was made from (inode number,
//! size and the nanosecond mtime `Containers::save` stamps): a list reads one small file and
//! at most one statx(2) per container instead of reading and parsing every record, and a record
//! saved since (by any berth process, or one killed half-way) no longer matches its entry
//! and is read again. Only `ps`, in its heal under the set's lock, writes the cache; nothing else
//! depends on it, so a missing or unreadable one is rebuilt, never trusted.
//!
//! The cache also holds the containers' generation as it was read before the list that
//! wrote it (`Containers::changing`: every record save, container directory made or
//! removed and rootfs mounted writes a new one first). While the generation is still that
//! one, nothing changed since, not even half-way by a berth that was killed: the entries
//! of containers at rest are used as they are, with no statx, no directory read and no
//! mountinfo. Containers that are up are looked at each time, as their process may have
//! ended.

use std::collections::{BTreeMap, HashSet};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::container::{Containers, Record, Status, ZERO_TIME};

/// One container as a list shows it, the times kept as RFC 3339 so "5 minutes ago" is
/// worked out when shown.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Summary {
    pub id: String,
    /// Without the leading "/".
    pub name: String,
    pub created: String,
    /// The image as the user named it (`Config.Image`).
    pub image: String,
    /// The image's id (`Image`).
    pub image_id: String,
    /// The command line, path and arguments joined by spaces.
    pub command: String,
    pub status: Status,
    #[serde(default = "zero_time", skip_serializing_if = "is_zero_time")]
    pub started_at: String,
    #[serde(default = "zero_time", skip_serializing_if = "is_zero_time")]
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exit_code: i32,
    /// `State.Health.Status`: "" without a healthcheck.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health: String,
    /// `0.0.0.0:8080->80/tcp, 5353/udp`: what it publishes, and the ports it only exposes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ports: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountSummary>,
    /// Its networks; `none` or `host` where that is its mode (Docker lists those too).
    pub networks: Vec<String>,
}

// The cache leaves out what most containers have: no run yet, no ports, labels or mounts.
fn zero_time() -> String {
    ZERO_TIME.to_string()
}
fn is_zero_time(t: &str) -> bool {
    t == ZERO_TIME
}
fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MountSummary {
    /// The volume's name, else the source.
    pub name: String,
    pub volume: bool,
}

impl Summary {
    pub fn of(rec: &Record) -> Summary {
        let mut ports = Vec::new();
        for (cport, binds) in &rec.network_settings.ports {
            match binds {
                Some(bs) if !bs.is_empty() => ports.extend(
                    bs.iter()
                        .map(|b| format!("{}:{}->{cport}", b.host_ip, b.host_port)),
                ),
                _ => ports.push(cport.clone()),
            }
        }
        let mut networks: Vec<String> = rec.network_settings.networks.keys().cloned().collect();
        let mode = rec.host_config.network_mode.as_str();
        if networks.is_empty() && matches!(mode, "none" | "host") {
            networks.push(mode.to_string());
        }
        let mut command = vec![rec.path.as_str()];
        command.extend(rec.args.iter().map(String::as_str));
        Summary {
            id: rec.id.clone(),
            name: rec.bare_name().to_string(),
            created: rec.created.clone(),
            image: rec.config.image.clone(),
            image_id: rec.image.clone(),
            command: command.join(" "),
            status: rec.state.status,
            started_at: rec.state.started_at.clone(),
            finished_at: rec.state.finished_at.clone(),
            exit_code: rec.state.exit_code,
            health: rec.state_health(),
            ports: ports.join(", "),
            labels: rec.config.labels.clone(),
            mounts: rec
                .mounts
                .iter()
                .map(|m| MountSummary {
                    name: if m.name.is_empty() {
                        m.source.clone()
                    } else {
                        m.name.clone()
                    },
                    volume: m.kind == "volume",
                })
                .collect(),
            networks,
        }
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// `Up 5 seconds (healthy)`, `Exited (0) 3 seconds ago`, ... for `status` (the record's,
    /// or what the runtime says now).
    pub fn status_text(&self, status: Status) -> String {
        use crate::text::human_duration as ago;
        let health = match self.health.as_str() {
            "" => String::new(),
            "starting" => " (health: starting)".into(),
            h => format!(" ({h})"),
        };
        match status {
            Status::Running => format!("Up {}{health}", ago(since(&self.started_at))),
            Status::Paused => format!("Up {} (Paused)", ago(since(&self.started_at))),
            Status::Restarting => format!(
                "Restarting ({}) {} ago",
                self.exit_code,
                ago(since(&self.finished_at))
            ),
            Status::Exited => format!(
                "Exited ({}) {} ago",
                self.exit_code,
                ago(since(&self.finished_at))
            ),
            Status::Created => "Created".into(),
            other => other.as_str().to_string(),
        }
    }

    /// `5 minutes ago`.
    pub fn created_ago(&self) -> String {
        format!("{} ago", crate::text::human_duration(since(&self.created)))
    }

    /// A build step's container (heal removes those whose build is gone).
    pub fn is_build_step(&self) -> bool {
        self.labels.contains_key(super::build::STEP_LABEL)
    }
}

/// How long ago RFC 3339 time `t` was (zero when it does not parse).
fn since(t: &str) -> std::time::Duration {
    let now = crate::monitor::logs::now().as_nanos() as i128;
    let then = crate::monitor::logs::parse_rfc3339(t).unwrap_or(now);
    std::time::Duration::from_nanos((now - then).max(0) as u64)
}

/// The containers under `dir` whose rootfs is a mount point; None when mountinfo cannot be
/// read or `dir` does not resolve.
fn rootfs_mounts(dir: &Path) -> Option<HashSet<String>> {
    let real = std::fs::canonicalize(dir).ok()?;
    let (_, _, rootfs) = berth_image::rootfs::paths(Path::new(""));
    Some(
        super::fsutil::mount_points()?
            .iter()
            .filter_map(|p| {
                let rel = Path::new(p).strip_prefix(&real).ok()?;
                let id = rel.parent()?;
                (rel.file_name()? == rootfs.as_os_str()).then(|| id.to_string_lossy().into_owned())
            })
            .collect(),
    )
}

/// Which `container.json` a summary was made from (inode number, size, mtime seconds and
/// nanoseconds): any save changes it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key(u64, u64, i64, u32);

#[derive(Serialize, Deserialize, Default)]
struct CacheFile {
    /// The layout's version: a cache of another version is dropped.
    version: u32,
    /// The containers' generation read before the list that wrote it; None for unknown.
    #[serde(default)]
    generation: Option<Vec<u8>>,
    /// Sorted by id.
    entries: Vec<(Key, Summary)>,
}

const VERSION: u32 = 2;
const FILE: &str = ".summaries";

/// The summaries cache of one root, open under the set's lock.
pub struct Cache {
    path: PathBuf,
    /// `containers/`, opened once: each statx is a two-step lookup from it.
    dir: Option<std::fs::File>,
    file: CacheFile,
    changed: bool,
    /// The mount points under `containers/`, read from mountinfo at the first question.
    mounted: std::cell::OnceCell<Option<HashSet<String>>>,
    /// The containers' generation now (`Containers::generation`).
    generation: Option<Vec<u8>>,
}

impl Cache {
    /// The cache of `cs`, to be used at generation `generation` (read under the set's lock,
    /// before the cache).
    pub fn open(cs: &Containers, generation: Option<Vec<u8>>) -> Cache {
        let path = cs.dir.join(FILE);
        let file = std::fs::read(&path)
            .ok()
            .and_then(|d| serde_json::from_slice::<CacheFile>(&d).ok())
            .filter(|f| f.version == VERSION)
            .unwrap_or_default();
        let dir = std::fs::File::open(&cs.dir).ok();
        Cache {
            path,
            dir,
            file,
            changed: false,
            mounted: Default::default(),
            generation,
        }
    }

    /// Whether nothing changed since the cache was written (the generation is the same):
    /// then its ids are all the containers, and the entries of those at rest are theirs.
    pub fn current(&self) -> bool {
        self.generation.is_some() && self.file.generation == self.generation
    }

    /// The ids the cache has entries for, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.file
            .entries
            .iter()
            .map(|(_, s)| s.id.clone())
            .collect()
    }

    /// `id`'s entry, whatever its key: for a cache that is [`Cache::current`].
    pub fn entry(&self, id: &str) -> Option<&Summary> {
        self.find(id).ok().map(|i| &self.file.entries[i].1)
    }

    fn statx(&self, rel: &Path, mask: u32) -> Option<libc::statx> {
        let dir = self.dir.as_ref()?;
        crate::sys::statx_at(dir.as_raw_fd(), rel, mask)
    }

    /// The identity of `id`'s record file now; None when it has none. Taken before the
    /// record is read, so a summary is never filed under a newer key than its content.
    pub fn key(&self, id: &str) -> Option<Key> {
        let stx = self.statx(
            &Path::new(id).join("container.json"),
            libc::STATX_INO | libc::STATX_SIZE | libc::STATX_MTIME,
        )?;
        Some(Key(
            stx.stx_ino,
            stx.stx_size,
            stx.stx_mtime.tv_sec,
            stx.stx_mtime.tv_nsec,
        ))
    }

    /// The summary of `id` if it was made from the record file `key` names.
    pub fn get(&self, id: &str, key: Key) -> Option<&Summary> {
        let i = self.find(id).ok()?;
        let (k, s) = &self.file.entries[i];
        (*k == key).then_some(s)
    }

    fn find(&self, id: &str) -> std::result::Result<usize, usize> {
        self.file
            .entries
            .binary_search_by(|(_, s)| s.id.as_str().cmp(id))
    }

    pub fn put(&mut self, key: Key, s: Summary) {
        match self.find(&s.id) {
            Ok(i) if self.file.entries[i].0 == key && self.file.entries[i].1 == s => return,
            Ok(i) => self.file.entries[i] = (key, s),
            Err(i) => self.file.entries.insert(i, (key, s)),
        }
        self.changed = true;
    }

    /// Whether `id`'s rootfs is mounted (a start or a stop killed half-way leaves it so):
    /// one read of mountinfo answers for every container.
    pub fn rootfs_mounted(&self, cs: &Containers, id: &str) -> bool {
        match self.mounted.get_or_init(|| rootfs_mounts(&cs.dir)) {
            Some(ids) => ids.contains(id),
            None => super::base::is_mountpoint(&berth_image::rootfs::paths(&cs.dir_of(id)).2),
        }
    }

    /// Drops the entries of containers not in `ids` and writes the cache if it changed. A
    /// cache that cannot be written is left as it was: the next list reads the records.
    pub fn store(mut self, ids: &[String]) {
        let before = self.file.entries.len();
        self.file
            .entries
            .retain(|(_, s)| ids.binary_search(&s.id).is_ok());
        if !self.changed && self.file.entries.len() == before && self.current() {
            return;
        }
        self.file.version = VERSION;
        self.file.generation = self.generation.take();
        if let Ok(data) = serde_json::to_vec(&self.file) {
            let _ = super::fsutil::write_private(&self.path, &data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str) -> Summary {
        let mut rec = Record {
            id: id.to_string(),
            name: "/web".into(),
            path: "sh".into(),
            args: vec!["-c".into(), "sleep 1".into()],
            ..Default::default()
        };
        rec.state.status = Status::Exited;
        rec.state.started_at = ZERO_TIME.into();
        rec.state.finished_at = "2026-12-03T04:00:00Z".into();
        rec.state.exit_code = 3;
        rec.host_config.network_mode = "none".into();
        Summary::of(&rec)
    }

    #[test]
    fn a_summary_survives_the_cache_with_its_defaults_left_out() {
        let s = summary(&"a".repeat(64));
        assert_eq!(s.name, "web");
        assert_eq!(s.command, "sh -c sleep 1");
        assert_eq!(s.networks, ["none"]);
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            !json.contains("started_at") && !json.contains("labels"),
            "{json}"
        );
        assert!(json.contains("\"exit_code\":3"), "{json}");
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.started_at, ZERO_TIME);
        assert!(back.status_text(Status::Exited).starts_with("Exited (3) "));
    }

    #[test]
    fn the_cache_answers_only_for_the_key_it_was_given_and_keeps_listed_ids() {
        let dir = tempfile::tempdir().unwrap();
        let cs = Containers::new(dir.path());
        std::fs::create_dir_all(&cs.dir).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let mut c = Cache::open(&cs, None);
        let k = Key(1, 2, 3, 4);
        c.put(k, summary(&b));
        c.put(k, summary(&a));
        assert_eq!(c.get(&a, k).map(|s| s.id.as_str()), Some(a.as_str()));
        assert!(c.get(&a, Key(1, 2, 3, 5)).is_none(), "another mtime");
        assert!(c.get(&"c".repeat(64), k).is_none());
        c.store(std::slice::from_ref(&a));
        let c = Cache::open(&cs, None);
        assert!(c.get(&a, k).is_some());
        assert!(c.get(&b, k).is_none(), "a container not listed was kept");
        assert!(!c.current(), "no generation known, none trusted");
        // Another layout's cache is not read.
        std::fs::write(cs.dir.join(FILE), b"{\"version\":99,\"entries\":[]}").unwrap();
        assert!(Cache::open(&cs, None).get(&a, k).is_none());
    }

    #[test]
    fn the_cache_is_current_only_at_the_generation_it_was_written_at() {
        let dir = tempfile::tempdir().unwrap();
        let cs = Containers::new(dir.path());
        std::fs::create_dir_all(&cs.dir).unwrap();
        let a = "a".repeat(64);
        let g0 = cs.generation().unwrap();
        let mut c = Cache::open(&cs, Some(g0.clone()));
        assert!(!c.current(), "an empty cache was never written");
        c.put(Key(1, 2, 3, 4), summary(&a));
        c.store(std::slice::from_ref(&a));
        let c = Cache::open(&cs, cs.generation());
        assert!(c.current());
        assert_eq!(c.ids(), vec![a.clone()]);
        assert_eq!(c.entry(&a).map(|s| s.id.as_str()), Some(a.as_str()));
        // A change announced, even one that never happened (a berth killed before it).
        drop(cs.changing().unwrap());
        let g1 = cs.generation().unwrap();
        assert_ne!(g1, g0);
        assert!(!Cache::open(&cs, Some(g1)).current());
        // While a change is in flight, the generation waits for it.
        let held = cs.changing().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let cs2 = Containers::new(dir.path());
        let t = std::thread::spawn(move || tx.send(cs2.generation()).unwrap());
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(held);
        assert!(rx.recv().unwrap().is_some());
        t.join().unwrap();
    }
}
