//! Leases on disk: one JSON file per holder in a directory, read and written under an flock
//! on the directory's `.lock`, so that concurrent `run`s never pick the same address.
//!
//! ```text
//! <dir>/.lock            flock held while a lease is chosen, written or released
//! <dir>/<holder>.json    0600, one per holder (a container id)
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

pub struct Leases {
    dir: PathBuf,
}

/// The held lock of a lease directory; leases are changed only through it.
pub struct Held<'a> {
    leases: &'a Leases,
    _lock: Flock<File>,
}

impl Leases {
    /// The directory must exist (the caller makes it with its mode).
    pub fn new(dir: &Path) -> Leases {
        Leases {
            dir: dir.to_path_buf(),
        }
    }

    pub fn lock(&self) -> Result<Held<'_>> {
        let p = self.dir.join(".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| Error::io("open", &p, e))?;
        let l = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, err)| Error::Sys {
            what: format!("flock {}", p.display()),
            err,
        })?;
        Ok(Held {
            leases: self,
            _lock: l,
        })
    }

    /// Every lease (holder -> value); unreadable files are skipped (a torn write cannot
    /// happen: they are renamed into place).
    pub fn all<T: DeserializeOwned>(&self) -> BTreeMap<String, T> {
        let mut m = BTreeMap::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return m;
        };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let Some(holder) = n.strip_suffix(".json") else {
                continue;
            };
            if let Some(v) = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                m.insert(holder.to_string(), v);
            }
        }
        m
    }

    pub fn get<T: DeserializeOwned>(&self, holder: &str) -> Option<T> {
        std::fs::read(self.dir.join(format!("{holder}.json")))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }
}

impl Held<'_> {
    pub fn put<T: Serialize>(&self, holder: &str, v: &T) -> Result<()> {
        let p = self.leases.dir.join(format!("{holder}.json"));
        let tmp = self.leases.dir.join(format!(".{holder}.tmp"));
        let data = serde_json::to_vec(v).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(&data)
            .map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io("rename into", &p, e))
    }

    /// Gone is done.
    pub fn release(&self, holder: &str) -> Result<()> {
        let p = self.leases.dir.join(format!("{holder}.json"));
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &p, e)),
        }
    }

    pub fn leases(&self) -> &Leases {
        self.leases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_list_release() {
        let d = std::env::temp_dir().join(format!("berth-lease-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let l = Leases::new(&d);
        {
            let h = l.lock().unwrap();
            h.put("a", &1u32).unwrap();
            h.put("b", &2u32).unwrap();
            h.release("a").unwrap();
            h.release("a").unwrap();
        }
        let all: BTreeMap<String, u32> = l.all();
        assert_eq!(all, BTreeMap::from([("b".to_string(), 2)]));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
