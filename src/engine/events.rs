//! The event log (`berth events`): there is no daemon to ask, so every berth command and
//! monitor appends what it did to one file under the root, as podman's file backend does.
//!
//! ```text
//! <root>/events.log     0600, one JSON object per line in Docker's event shape
//! <root>/events.log.1   the previous file, after a rotation
//! <root>/events.lock    flock taken only to rotate
//! ```
//!
//! Each event is one `write(2)` of one whole line on a descriptor opened with `O_APPEND`, so
//! lines of concurrent writers never interleave (the kernel moves the offset to the end and
//! writes under the inode lock). When the file passes `LIMIT` the writer that notices renames
//! it to `events.log.1` (under `events.lock`, after looking again): the log holds between one
//! and two `LIMIT`s of history. Writing an event never fails its command: the log is a
//! record, not a part of the operation.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::container::{Record, Status};

/// A file passes this size, and it is rotated.
const LIMIT: u64 = 4 << 20;

/// Docker's event message (`docker events --format json`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The legacy fields Docker still prints for containers and images.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

pub fn log_path(root: &Path) -> PathBuf {
    root.join("events.log")
}

fn old_path(root: &Path) -> PathBuf {
    root.join("events.log.1")
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Event {
    pub fn new(kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let t = now_nanos();
        let legacy = kind == "container" || kind == "image";
        Event {
            status: if legacy { action.into() } else { String::new() },
            id: if legacy { id.into() } else { String::new() },
            from: if kind == "container" {
                attributes.get("image").cloned().unwrap_or_default()
            } else {
                String::new()
            },
            kind: kind.into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: t / 1_000_000_000,
            time_nano: t,
        }
    }

    /// Docker's default line: `TIME TYPE ACTION ID (k=v, k=v)`.
    pub fn text(&self) -> String {
        let secs = self.time_nano.div_euclid(1_000_000_000);
        let nanos = self.time_nano.rem_euclid(1_000_000_000) as u32;
        let t = chrono::DateTime::from_timestamp(secs, nanos)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%dT%H:%M:%S%.9f%:z")
                    .to_string()
            })
            .unwrap_or_default();
        let attrs: Vec<String> = self
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut s = format!("{t} {} {} {}", self.kind, self.action, self.actor.id);
        if !attrs.is_empty() {
            s.push_str(&format!(" ({})", attrs.join(", ")));
        }
        s
    }
}

/// Appends `ev` to the root's log; a failure is reported on stderr under `--debug` only.
pub fn emit(root: &Path, ev: &Event) {
    if let Err(e) = append(root, ev) {
        berth_runtime::debug::step(&format!("event not logged: {e:#}"));
    }
}

fn append(root: &Path, ev: &Event) -> Result<()> {
    let mut line = serde_json::to_vec(ev)?;
    line.push(b'\n');
    let p = log_path(root);
    let mut f = super::fsutil::create_private(&p, true)?;
    // One write of the whole line: O_APPEND makes it land whole after every other line.
    f.write_all(&line)
        .with_context(|| format!("write {}", p.display()))?;
    if f.metadata().map(|m| m.len()).unwrap_or(0) > LIMIT {
        rotate(root)?;
    }
    Ok(())
}

fn rotate(root: &Path) -> Result<()> {
    let _l =
        super::base::lock_file_named(root, "events.lock", nix::fcntl::FlockArg::LockExclusive)?;
    let p = log_path(root);
    // Another writer may have rotated while we waited for the lock.
    if std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0) > LIMIT {
        std::fs::rename(&p, old_path(root)).with_context(|| format!("rotate {}", p.display()))?;
    }
    Ok(())
}

/// A container event with Docker's attributes: name, image, the container's labels, and
/// `extra` (exitCode, signal, oldName, execID...).
pub fn container(root: &Path, rec: &Record, action: &str, extra: &[(&str, String)]) {
    let mut a: BTreeMap<String, String> = rec.config.labels.clone().into_iter().collect();
    a.insert("name".into(), rec.bare_name().to_string());
    a.insert("image".into(), rec.config.image.clone());
    for (k, v) in extra {
        a.insert((*k).to_string(), v.clone());
    }
    emit(root, &Event::new("container", action, &rec.id, a));
}

/// The events a change of a record means: the one place container state transitions are
/// turned into events (`Containers::save` calls it with the record it replaces).
pub fn transition(root: &Path, old: Option<&Record>, new: &Record) {
    let before = old.map(|r| r.state.status).unwrap_or(Status::Creating);
    let after = new.state.status;
    if let Some(o) = old {
        if o.name != new.name && !o.name.is_empty() {
            container(
                root,
                new,
                "rename",
                &[("oldName", o.name.trim_start_matches('/').to_string())],
            );
        }
    }
    if before == after {
        return;
    }
    match (before, after) {
        (Status::Creating, Status::Created) => container(root, new, "create", &[]),
        (Status::Running, Status::Paused) => container(root, new, "pause", &[]),
        (Status::Paused, Status::Running) => container(root, new, "unpause", &[]),
        (_, Status::Running) => container(root, new, "start", &[]),
        (Status::Running | Status::Paused, Status::Exited) => container(
            root,
            new,
            "die",
            &[("exitCode", new.state.exit_code.to_string())],
        ),
        _ => {}
    }
}

/// An image event: Actor.ID is the image id (or the reference for pull/push/untag, as
/// Docker does), `name` the reference.
pub fn image(root: &Path, action: &str, id: &str, name: &str) {
    let mut a = BTreeMap::new();
    if !name.is_empty() {
        a.insert("name".to_string(), name.to_string());
    }
    emit(root, &Event::new("image", action, id, a));
}

/// A volume or network event: `kind` is "volume" or "network".
pub fn object(root: &Path, kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) {
    let a = attrs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    emit(root, &Event::new(kind, action, id, a));
}

/// What `berth events` selects: `--since`, `--until` (nanoseconds), `--filter`s.
#[derive(Default, Debug)]
pub struct Query {
    pub since: Option<i128>,
    pub until: Option<i128>,
    /// key -> the values any of which may match (Docker: OR within a key, AND across keys).
    pub filters: BTreeMap<String, Vec<String>>,
}

impl Query {
    /// Adds one `--filter key=value`.
    pub fn filter(&mut self, f: &str) -> Result<()> {
        let Some((k, v)) = f.split_once('=') else {
            bail!("--filter {f:?}: want key=value");
        };
        let k = k.trim().to_ascii_lowercase();
        match k.as_str() {
            "type" | "event" | "container" | "image" | "label" | "volume" | "network" => {}
            _ => bail!(
                "--filter {f:?}: unknown key {k:?} (type, event, container, image, label, volume, network)"
            ),
        }
        self.filters.entry(k).or_default().push(v.to_string());
        Ok(())
    }

    pub fn matches(&self, e: &Event) -> bool {
        let t = i128::from(e.time_nano);
        if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u) {
            return false;
        }
        let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
        self.filters.iter().all(|(k, vals)| {
            vals.iter().any(|v| match k.as_str() {
                "type" => e.kind == *v,
                // "exec_start: sh -c" is matched by "exec_start" as Docker does.
                "event" => e.action == *v || e.action.split(':').next() == Some(v.as_str()),
                "container" | "volume" | "network" => {
                    e.kind == *k
                        && (attr("name") == v || (!v.is_empty() && e.actor.id.starts_with(v)))
                }
                "image" => {
                    (e.kind == "image" && (e.actor.id.starts_with(v) || attr("name") == v))
                        || (e.kind == "container" && attr("image") == v)
                }
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => attr(lk) == lv && e.actor.attributes.contains_key(lk),
                    None => e.actor.attributes.contains_key(v.as_str()),
                },
                _ => false,
            })
        })
    }
}

fn parse_line(line: &str) -> Option<Event> {
    serde_json::from_str(line.trim_end()).ok()
}

/// Calls `out` for each logged event `q` selects, oldest first; with `follow` (no `--until`
/// given) it keeps reading new lines as they are appended, across rotations, until `out`
/// returns false. `--until` in the future waits until then.
pub fn read(
    root: &Path,
    q: &Query,
    follow: bool,
    mut out: impl FnMut(&Event) -> bool,
) -> Result<()> {
    // The old file first, when what is asked may be in it.
    if let Ok(f) = std::fs::File::open(old_path(root)) {
        for line in std::io::BufReader::new(f).lines() {
            let Ok(line) = line else { break };
            if let Some(e) = parse_line(&line) {
                if q.matches(&e) && !out(&e) {
                    return Ok(());
                }
            }
        }
    }
    let p = log_path(root);
    let mut f = match std::fs::File::open(&p) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("open {}", p.display())),
    };
    let mut pending = String::new();
    loop {
        if let Some(file) = f.as_mut() {
            let mut buf = String::new();
            file.read_to_string(&mut buf)
                .with_context(|| format!("read {}", p.display()))?;
            pending.push_str(&buf);
            // Only whole lines: a writer's line may be read half-written.
            while let Some(i) = pending.find('\n') {
                let line: String = pending.drain(..=i).collect();
                if let Some(e) = parse_line(&line) {
                    if q.matches(&e) && !out(&e) {
                        return Ok(());
                    }
                }
            }
        }
        let now = now_nanos() as i128;
        let done = match q.until {
            Some(u) => now > u,
            None => !follow,
        };
        if done {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
        // Rotated (another inode at the path) or made: read the rest of the old one first
        // (done above on the next turn), then switch.
        let at_path = std::fs::metadata(&p).ok().map(|m| m.ino());
        let ours = f.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.ino());
        if at_path.is_some() && at_path != ours {
            if let Some(file) = f.as_mut() {
                let mut rest = String::new();
                let _ = file.read_to_string(&mut rest);
                pending.push_str(&rest);
                while let Some(i) = pending.find('\n') {
                    let line: String = pending.drain(..=i).collect();
                    if let Some(e) = parse_line(&line) {
                        if q.matches(&e) && !out(&e) {
                            return Ok(());
                        }
                    }
                }
            }
            pending.clear();
            f = std::fs::File::open(&p).ok();
            if let Some(file) = f.as_mut() {
                let _ = file.rewind();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        let a = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Event::new(kind, action, id, a)
    }

    #[test]
    fn filters_and_or() {
        let e = ev(
            "container",
            "start",
            "abcdef",
            &[("name", "web"), ("image", "busybox"), ("app", "shop")],
        );
        let mut q = Query::default();
        assert!(q.matches(&e));
        q.filter("type=container").unwrap();
        q.filter("event=stop").unwrap();
        assert!(!q.matches(&e));
        q.filter("event=start").unwrap();
        assert!(q.matches(&e));
        q.filter("container=abc").unwrap();
        q.filter("image=busybox").unwrap();
        q.filter("label=app=shop").unwrap();
        assert!(q.matches(&e));
        let mut q2 = Query::default();
        q2.filter("container=other").unwrap();
        assert!(!q2.matches(&e));
        assert!(Query::default().filter("bogus=1").is_err());
        assert!(Query::default().filter("type").is_err());
    }

    #[test]
    fn shape_and_text() {
        let e = ev(
            "container",
            "die",
            "abc",
            &[("exitCode", "3"), ("name", "x")],
        );
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "die");
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["Actor"]["Attributes"]["exitCode"], "3");
        assert_eq!(v["status"], "die");
        assert!(v["timeNano"].as_i64().unwrap() > 0);
        let t = e.text();
        assert!(
            t.ends_with(" container die abc (exitCode=3, name=x)"),
            "{t}"
        );
        let n = ev("network", "create", "nid", &[]);
        let v: serde_json::Value = serde_json::to_value(&n).unwrap();
        assert!(v.get("status").is_none());
    }

    #[test]
    fn appends_rotates_and_reads_both() {
        let d = tempdir();
        let e = ev("volume", "create", "v1", &[]);
        emit(&d, &e);
        std::fs::write(log_path(&d), vec![b' '; LIMIT as usize + 1]).unwrap();
        emit(&d, &ev("volume", "destroy", "v1", &[]));
        assert!(old_path(&d).exists());
        emit(&d, &ev("volume", "create", "v2", &[]));
        let mut seen = Vec::new();
        read(&d, &Query::default(), false, |e| {
            seen.push(format!("{} {}", e.action, e.actor.id));
            true
        })
        .unwrap();
        assert_eq!(seen, ["destroy v1", "create v2"]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(log_path(&d))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&d);
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "berth-events-{}-{}",
            std::process::id(),
            now_nanos()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
