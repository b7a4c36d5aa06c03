//! Named and anonymous volumes: directories under `<root>/volumes/<name>/_data` that outlive
//! the containers using them. A volume that is empty when first mounted is filled with what
//! the image has at the mount point (Docker's copy-up).
//!
//! ```text
//! <root>/volumes/.lock              flock guarding create/remove
//! <root>/volumes/<name>/volume.json  Docker's `volume inspect` shape (+ Anonymous)
//! <root>/volumes/<name>/_data        the data, bind-mounted into containers
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::container::Containers;
use super::lock_file_named;

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
}

pub fn check_name(name: &str) -> Result<()> {
    super::container::check_name_of("volume", name)
}

impl Volumes {
    pub fn new(root: &Path) -> Volumes {
        Volumes {
            dir: root.join("volumes"),
        }
    }

    fn lock(&self) -> Result<Flock<std::fs::File>> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("create {}", self.dir.display()))?;
        lock_file_named(&self.dir, ".lock", FlockArg::LockExclusive)
    }

    fn meta(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        let p = self.meta(name);
        let data = std::fs::read(&p).map_err(|_| anyhow::anyhow!("no such volume: {name}"))?;
        serde_json::from_slice(&data).with_context(|| format!("parse {}", p.display()))
    }

    fn save(&self, v: &Volume) -> Result<()> {
        let p = self.meta(&v.name);
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(v)?)
            .with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, &p).with_context(|| format!("write {}", p.display()))
    }

    pub fn all(&self) -> Vec<Volume> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<Volume> = rd
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| self.get(&e.file_name().to_string_lossy()).ok())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Creates the volume, or returns it if it exists (as `docker volume create` does).
    pub fn create(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous_for: Option<&str>,
    ) -> Result<Volume> {
        check_name(name)?;
        let _l = self.lock()?;
        if let Ok(v) = self.get(name) {
            return Ok(v);
        }
        let data = self.dir.join(name).join("_data");
        std::fs::create_dir_all(&data).with_context(|| format!("create {}", data.display()))?;
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
        Ok(v)
    }

    /// Marks the volume populated; returns whether it needed copy-up (empty and never
    /// populated before).
    pub fn claim_copy_up(&self, name: &str) -> Result<bool> {
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
    pub fn users(&self, cs: &Containers, name: &str) -> Vec<String> {
        cs.all()
            .into_iter()
            .filter(|r| {
                r.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|r| r.id)
            .collect()
    }

    /// Removes the volume; refuses one in use unless `force`... even then (as Docker).
    pub fn remove(&self, cs: &Containers, name: &str) -> Result<()> {
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
        let d = self.dir.join(name);
        std::fs::remove_dir_all(&d).with_context(|| format!("remove {}", d.display()))
    }
}

/// Removes the anonymous volumes made for container `id` that no other container uses.
pub fn remove_anonymous_of(root: &Path, id: &str) {
    let vs = Volumes::new(root);
    let cs = Containers::new(root);
    for v in vs.all() {
        if v.anonymous && v.container == id {
            let _ = vs.remove(&cs, &v.name);
        }
    }
}
