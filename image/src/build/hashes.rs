//! The content digests of a build context's files, remembered by their stat (size, mtime,
//! ctime, inode) so that a rebuild reads only the files that changed: a COPY of a large
//! source tree is keyed without reading it all again. Kept per context directory:
//!
//! ```text
//! <root>/build-cache/context/<sha256 of the context path>.json    0600
//! ```
//!
//! A file written in place keeps its inode but gets a new ctime, which no user can set
//! back, so a changed file is never taken for the old one.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::fsmode;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    digest: Digest,
}

/// The remembered digests of one context.
pub struct Hashes {
    path: PathBuf,
    inner: Mutex<(HashMap<String, Entry>, bool)>,
}

fn stamp(m: &Metadata) -> (u64, i64, i64, u64) {
    (
        m.len(),
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        m.ino(),
    )
}

impl Hashes {
    /// Those of `context` under `root` (none yet: empty).
    pub fn load(root: &Path, context: &Path) -> Hashes {
        let name = Digest::of(context.as_os_str().as_encoded_bytes());
        let path = super::cache::dir(root)
            .join("context")
            .join(format!("{}.json", name.hex()));
        let map = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Hashes {
            path,
            inner: Mutex::new((map, false)),
        }
    }

    /// None remembered and none kept: a context that is a scratch directory (`build -`).
    pub fn transient() -> Hashes {
        Hashes {
            path: PathBuf::new(),
            inner: Mutex::new((HashMap::new(), false)),
        }
    }

    /// The digest of `rel` if its stat is the one remembered.
    pub fn get(&self, rel: &str, m: &Metadata) -> Option<Digest> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = g.0.get(rel)?;
        ((e.size, e.mtime_ns, e.ctime_ns, e.ino) == stamp(m)).then(|| e.digest.clone())
    }

    pub fn put(&self, rel: &str, m: &Metadata, d: &Digest) {
        let (size, mtime_ns, ctime_ns, ino) = stamp(m);
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.insert(
            rel.to_string(),
            Entry {
                size,
                mtime_ns,
                ctime_ns,
                ino,
                digest: d.clone(),
            },
        );
        g.1 = true;
    }

    /// Writes them back if they changed (best effort: without them a build only reads more).
    pub fn save(&self) {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !g.1 || self.path.as_os_str().is_empty() {
            return;
        }
        let Some(dir) = self.path.parent() else {
            return;
        };
        if fsmode::ensure_dir(dir, fsmode::DIR).is_err() {
            return;
        }
        let Ok(data) = serde_json::to_vec(&g.0) else {
            return;
        };
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
        if let Ok(mut f) = fsmode::create_file(&tmp, fsmode::FILE) {
            use std::io::Write;
            if f.write_all(&data).is_ok() && std::fs::rename(&tmp, &self.path).is_ok() {
                return;
            }
        }
        let _ = std::fs::remove_file(&tmp);
    }
}

impl Drop for Hashes {
    /// Saved when the build lets go of them, whether it succeeded or not.
    fn drop(&mut self) {
        self.save();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_until_the_file_changes() {
        let root = tempfile::tempdir().unwrap();
        let ctx = tempfile::tempdir().unwrap();
        let f = ctx.path().join("a");
        std::fs::write(&f, "one").unwrap();
        let h = Hashes::load(root.path(), ctx.path());
        let m = std::fs::metadata(&f).unwrap();
        assert!(h.get("a", &m).is_none());
        h.put("a", &m, &Digest::of(b"one"));
        h.save();
        let h = Hashes::load(root.path(), ctx.path());
        assert_eq!(h.get("a", &m), Some(Digest::of(b"one")));
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&f, "two").unwrap();
        assert!(h.get("a", &std::fs::metadata(&f).unwrap()).is_none());
    }
}
