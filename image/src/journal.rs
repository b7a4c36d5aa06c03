//! Undoing what a failed or killed load/import wrote, and healing `tmp/`.
//!
//! A load streams blobs into the store and unpacks layers before the index names anything,
//! so a load that fails half-way, or is killed, leaves blobs, layer dirs and temp files
//! nothing refers to. While a load or import runs, it lists what it adds to the store in
//! `tmp/journal-<pid>-<n>` (`blob <hex>` / `layer <hex>` lines, each written before the
//! rename that adds the object). On success the journal goes; on failure, or when its
//! process was killed, `heal` takes away every listed object that nothing references.
//!
//! `heal` runs only under the exclusive gc lock (store.rs): every berth process holds the
//! shared one while it has the store open, so with the exclusive lock in hand no other
//! process is between writing an object and naming it, every journal in `tmp/` is stale and
//! every temp file is garbage. A failing command tries that lock without waiting before it
//! exits; if another berth has the store open, the next command to open it alone heals.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::fsmode;
use crate::store::{remove_tree, Store};

const PREFIX: &str = "journal-";

/// The list of objects one load or import added to the store.
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    pub(crate) fn create(path: PathBuf) -> Result<Journal> {
        let file = fsmode::create_file(&path, fsmode::FILE)?;
        Ok(Journal { file, path })
    }

    /// Notes `what` (`blob` or `layer`) named by `d`; called before the object is renamed
    /// into place, so a kill in between leaves an entry for nothing rather than nothing.
    pub(crate) fn record(&mut self, what: &str, d: &Digest) -> Result<()> {
        let line = format!("{what} {}\n", d.hex());
        self.file
            .write_all(line.as_bytes())
            .ctx("write journal", &self.path)
    }

    /// The load or import named what it wrote: nothing to undo.
    pub(crate) fn remove(self) {
        let _ = fs::remove_file(&self.path);
    }
}

pub(crate) fn journal_name(pid: u32, n: u64) -> String {
    format!("{PREFIX}{pid}-{n}")
}

/// Bytes of the regular files under `p` (a file or a tree; symlinks not followed, each
/// hard-linked inode once): what removing it gives back.
pub(crate) fn tree_size(p: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut BTreeSet<(u64, u64)>) -> u64 {
        let Ok(m) = fs::symlink_metadata(p) else {
            return 0;
        };
        if m.is_dir() {
            let Ok(rd) = fs::read_dir(p) else {
                return 0;
            };
            rd.flatten().map(|e| walk(&e.path(), seen)).sum()
        } else if m.is_file() && (m.nlink() == 1 || seen.insert((m.dev(), m.ino()))) {
            m.len()
        } else {
            0
        }
    }
    walk(p, &mut BTreeSet::new())
}

/// Removes `p` (file or tree); returns the bytes it held.
pub(crate) fn remove_counted(p: &Path) -> Result<u64> {
    let size = tree_size(p);
    remove_tree(p)?;
    Ok(size)
}

/// Chain ids (hex) of the layers some container has mounted: rootfs.rs gives each layer it
/// mounts a short link in `links/`. A layer a container stacks on stays even when no image
/// names it any more (`rmi -f`).
fn linked_layers(store: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Ok(rd) = fs::read_dir(store.join("links")) {
        for e in rd.flatten() {
            if let Ok(t) = fs::read_link(e.path()) {
                if let Some(name) = t.file_name() {
                    out.insert(name.to_string_lossy().into_owned());
                }
            }
        }
    }
    out
}

/// Undoes the stale journals in `tmp/` and empties it. Caller holds the exclusive gc lock.
/// Keeps going past errors; returns the bytes freed and what failed. A journal whose objects
/// cannot be checked against the index (an unreadable index or manifest) is kept.
pub(crate) fn heal(store: &Store) -> (u64, Vec<crate::Error>) {
    let (mut bytes, mut errors) = (0u64, Vec::new());
    let tmp = store.dir().join("tmp");
    let entries: Vec<PathBuf> = match fs::read_dir(&tmp) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(e) => {
            errors.push(crate::Error::Io {
                op: "list",
                path: tmp,
                err: e,
            });
            return (bytes, errors);
        }
    };
    let is_journal = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(PREFIX))
    };
    let mut keep_journals = false;
    if entries.iter().any(|p| is_journal(p)) {
        match store.referenced() {
            Ok((blobs, mut layers)) => {
                layers.extend(linked_layers(store.dir()));
                for j in entries.iter().filter(|p| is_journal(p)) {
                    let (b, mut e) = undo(store, j, &blobs, &layers);
                    bytes += b;
                    errors.append(&mut e);
                }
            }
            Err(e) => {
                keep_journals = true;
                errors.push(e);
            }
        }
    }
    for p in entries {
        if keep_journals && is_journal(&p) {
            continue;
        }
        match remove_counted(&p) {
            Ok(b) => bytes += b,
            Err(e) => errors.push(e),
        }
    }
    (bytes, errors)
}

/// Removes the objects journal `j` lists that are not in `blobs` / `layers`.
fn undo(
    store: &Store,
    j: &Path,
    blobs: &BTreeSet<Digest>,
    layers: &BTreeSet<String>,
) -> (u64, Vec<crate::Error>) {
    let (mut bytes, mut errors) = (0u64, Vec::new());
    let text = match fs::read_to_string(j) {
        Ok(t) => t,
        Err(e) => {
            errors.push(crate::Error::Io {
                op: "read journal",
                path: j.to_path_buf(),
                err: e,
            });
            return (bytes, errors);
        }
    };
    for line in text.lines() {
        // Paths are made from validated digests only, even in our own journal.
        let Some((what, hex)) = line.split_once(' ') else {
            continue;
        };
        let Ok(d) = format!("sha256:{hex}").parse::<Digest>() else {
            continue;
        };
        let path = match what {
            "blob" if !blobs.contains(&d) => store.blob_path(&d),
            "layer" if !layers.contains(d.hex()) => store.layer_dir(&d),
            _ => continue,
        };
        match remove_counted(&path) {
            Ok(b) => bytes += b,
            Err(e) => errors.push(e),
        }
    }
    (bytes, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_size_counts_files_once() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("a"), vec![0u8; 1000]).unwrap();
        fs::write(d.join("sub/b"), vec![0u8; 24]).unwrap();
        fs::hard_link(d.join("a"), d.join("sub/a-again")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("l")).unwrap();
        assert_eq!(tree_size(&d), 1024);
        assert_eq!(remove_counted(&d).unwrap(), 1024);
        assert!(!d.exists());
        assert_eq!(remove_counted(&d).unwrap(), 0, "gone is done");
    }
}
