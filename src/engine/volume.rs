//! Named and anonymous volumes: directories under `<root>/volumes/<name>/_data` that outlive
//! the containers using them. A volume that is empty when first mounted is filled with what
//! the image has at the mount point (Docker's copy-up).
//!
//! ```text
//! <root>/volumes/.lock              flock guarding create/remove
//! <root>/volumes/<name>/volume.json  Docker's `volume inspect` shape (+ Anonymous)
//! <root>/volumes/<name>/_data        the data (0755: containers see it), bind-mounted
//! <root>/trash/<random>/              a volume being removed: renamed here first, so a
//!                                     killed `volume rm` never leaves a half volume listed;
//!                                     the next command empties the trash
//! ```
//!
//! Names are [`VolumeName`]s: checked once where they enter, so no path is ever built from
//! an unchecked name (`../x`, `/abs`, `a/b` are refused, not joined).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::base::lock_file_named;
use super::container::Containers;
use super::fsutil;

/// A volume name by Docker's rule (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`, at most 255 bytes): a single
/// path component that is never `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolumeName(String);

impl VolumeName {
    pub fn new(name: &str) -> Result<VolumeName> {
        super::container::check_name_of("volume", name)?;
        Ok(VolumeName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for VolumeName {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<VolumeName> {
        VolumeName::new(s)
    }
}

impl std::fmt::Display for VolumeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    pub scope: String,
    pub options: BTreeMap<String, String>,
    /// berth: made for one container (image VOLUME or `-v /path`), removed with `rm -v`.
    #[serde(default)]
    pub anonymous: bool,
    /// berth: the container an anonymous volume was made for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container: String,
    /// berth: the image's content was copied in (or the volume was not empty) already.
    #[serde(default)]
    pub populated: bool,
}

pub struct Volumes {
    pub dir: PathBuf,
    root: PathBuf,
}

impl Volumes {
    pub fn new(root: &Path) -> Volumes {
        Volumes {
            dir: root.join("volumes"),
            root: root.to_path_buf(),
        }
    }

    fn lock(&self) -> Result<Flock<std::fs::File>> {
        fsutil::mkdir_private(&self.dir)?;
        lock_file_named(&self.dir, ".lock", FlockArg::LockExclusive)
    }

    /// The volume's directory.
    pub fn dir_of(&self, name: &VolumeName) -> PathBuf {
        self.dir.join(name.as_str())
    }

    fn meta(&self, name: &VolumeName) -> PathBuf {
        self.dir_of(name).join("volume.json")
    }

    pub fn get(&self, name: &VolumeName) -> Result<Volume> {
        let p = self.meta(name);
        let data = std::fs::read(&p).map_err(|_| anyhow::anyhow!("no such volume: {name}"))?;
        serde_json::from_slice(&data).with_context(|| format!("parse {}", p.display()))
    }

    fn save(&self, v: &Volume) -> Result<()> {
        let p = self.meta(&VolumeName::new(&v.name)?);
        fsutil::write_private(&p, &serde_json::to_vec_pretty(v)?)
    }

    pub fn all(&self) -> Vec<Volume> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<Volume> = rd
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| VolumeName::new(&e.file_name().to_string_lossy()).ok())
            .filter_map(|n| self.get(&n).ok())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Creates the volume, or returns it if it exists (as `docker volume create` does).
    pub fn create(
        &self,
        name: &VolumeName,
        labels: BTreeMap<String, String>,
        anonymous_for: Option<&str>,
    ) -> Result<Volume> {
        let _l = self.lock()?;
        if let Ok(v) = self.get(name) {
            return Ok(v);
        }
        let dir = self.dir_of(name);
        fsutil::mkdir_private(&dir)?;
        let data = dir.join("_data");
        fsutil::mkdir_mode(&data, 0o755)?;
        let v = Volume {
            name: name.to_string(),
            driver: "local".into(),
            mountpoint: data,
            created_at: berth_runtime::state::now_rfc3339(),
            labels,
            scope: "local".into(),
            options: BTreeMap::new(),
            anonymous: anonymous_for.is_some(),
            container: anonymous_for.unwrap_or_default().to_string(),
            populated: false,
        };
        self.save(&v)?;
        super::events::object(
            &self.root,
            "volume",
            "create",
            &v.name,
            &[("driver", "local")],
        );
        Ok(v)
    }

    /// Marks the volume populated; returns whether it needed copy-up (empty and never
    /// populated before).
    pub fn claim_copy_up(&self, name: &VolumeName) -> Result<bool> {
        let _l = self.lock()?;
        let mut v = self.get(name)?;
        if v.populated {
            return Ok(false);
        }
        let empty = super::fscopy::is_empty_dir(&super::fscopy::open_dir(&v.mountpoint)?)?;
        v.populated = true;
        self.save(&v)?;
        Ok(empty)
    }

    /// Ids of the containers that mount the volume.
    pub fn users(&self, cs: &Containers, name: &VolumeName) -> Vec<String> {
        cs.all()
            .into_iter()
            .filter(|r| {
                r.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name.as_str())
            })
            .map(|r| r.id)
            .collect()
    }

    /// Removes the volume; refuses one in use (as Docker does, also with `-f`). The volume
    /// leaves the namespace in one rename into the trash, then its data is deleted: a
    /// killed `rm` leaves no half volume behind, only trash the next command empties.
    pub fn remove(&self, cs: &Containers, name: &VolumeName) -> Result<()> {
        let _l = self.lock()?;
        self.get(name)?;
        let users = self.users(cs, name);
        if !users.is_empty() {
            bail!(
                "volume {name} is in use by container {}: remove the container first",
                users
                    .iter()
                    .map(|u| &u[..12])
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let gone = fsutil::to_trash(&self.root, &self.dir_of(name))?;
        drop(_l);
        super::events::object(
            &self.root,
            "volume",
            "destroy",
            name.as_str(),
            &[("driver", "local")],
        );
        fsutil::remove_trash_entry_now(&gone)
    }
}

/// Removes the anonymous volumes made for container `id` that no other container uses.
pub fn remove_anonymous_of(root: &Path, id: &str) {
    let vs = Volumes::new(root);
    let cs = Containers::new(root);
    for v in vs.all() {
        if v.anonymous && v.container == id {
            if let Ok(n) = VolumeName::new(&v.name) {
                let _ = vs.remove(&cs, &n);
            }
        }
    }
}
