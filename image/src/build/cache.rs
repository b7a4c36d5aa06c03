//! The build cache: a step's key -> the image (manifest) it made.
//!
//! ```text
//! <root>/build-cache/           0700
//!   <key hex>                   0600: the manifest digest of the step's result
//! ```
//!
//! The key is the sha256 of the parent image id, the instruction's text, the build args the
//! stage sees and, for COPY/ADD, the content and metadata of its sources (cache.rs does not
//! know which: the builder hands it the parts). HEALTHCHECK and ONBUILD are keyed by their
//! text like any instruction (CVE-2024-24557: the classic builder once matched images that
//! differed only there). The images an entry names are not in index.json: `Store::gc` keeps
//! them (`referenced`), `builder prune` (`clear`) lets them go.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::{chain_ids, Digest};
use crate::error::{IoContext, Result};
use crate::fsmode;
use crate::model::{ImageConfig, Manifest};
use crate::store::{Image, Store};

pub fn dir(root: &Path) -> PathBuf {
    root.join("build-cache")
}

/// The key of a step from its parts.
pub fn key(parts: &[&str]) -> Digest {
    let mut s = String::new();
    for p in parts {
        // Length-prefixed: no two different part lists give the same text.
        s.push_str(&format!("{}:{p}\n", p.len()));
    }
    Digest::of(s.as_bytes())
}

/// The cached image of `key`, if it and all its blobs are still in the store.
pub fn get(root: &Path, store: &Store, key: &Digest) -> Option<Image> {
    let text = fs::read_to_string(dir(root).join(key.hex())).ok()?;
    let m: Digest = text.trim().parse().ok()?;
    let img = store.load_image(&m, Vec::new()).ok()?;
    img.manifest
        .layers
        .iter()
        .all(|l| store.has_blob(&l.digest))
        .then_some(img)
}

/// Records `img` as the result of `key`.
pub fn put(root: &Path, key: &Digest, img: &Image) -> Result<()> {
    let d = dir(root);
    fsmode::ensure_dir(&d, fsmode::DIR)?;
    // Unique per process and call: parallel stages may put the same key at once.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = d.join(format!(".{}-{}-{n}", key.hex(), std::process::id()));
    {
        use std::io::Write;
        let mut f = fsmode::create_file(&tmp, fsmode::FILE)?;
        f.write_all(img.manifest_digest.to_string().as_bytes())
            .ctx("write", &tmp)?;
    }
    fs::rename(&tmp, d.join(key.hex())).ctx("rename", d.join(key.hex()))
}

/// The blobs and unpacked layers (chain id hex) the cache's images hold: garbage
/// collection keeps them.
pub fn referenced(root: &Path, store_dir: &Path) -> (BTreeSet<Digest>, BTreeSet<String>) {
    let mut blobs = BTreeSet::new();
    let mut layers = BTreeSet::new();
    let Ok(rd) = fs::read_dir(dir(root)) else {
        return (blobs, layers);
    };
    let blob = |d: &Digest| store_dir.join("blobs/sha256").join(d.hex());
    for e in rd.flatten() {
        let Ok(text) = fs::read_to_string(e.path()) else {
            continue;
        };
        let Ok(m) = text.trim().parse::<Digest>() else {
            continue;
        };
        let Some(manifest) = fs::read(blob(&m))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        else {
            continue;
        };
        blobs.insert(m);
        blobs.insert(manifest.config.digest.clone());
        blobs.extend(manifest.layers.iter().map(|l| l.digest.clone()));
        if let Some(c) = fs::read(blob(&manifest.config.digest))
            .ok()
            .and_then(|b| serde_json::from_slice::<ImageConfig>(&b).ok())
        {
            layers.extend(
                chain_ids(&c.rootfs.diff_ids)
                    .into_iter()
                    .map(|c| c.hex().to_string()),
            );
        }
    }
    (blobs, layers)
}

/// `builder prune`: forgets every entry; returns how many there were. The next garbage
/// collection takes what only they held.
pub fn clear(root: &Path) -> Result<usize> {
    let d = dir(root);
    let n = fs::read_dir(&d).map(|r| r.count()).unwrap_or(0);
    fsmode::remove_tree(&d)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Descriptor, ImageConfig, RootFs, MT_OCI_CONFIG, MT_OCI_MANIFEST};

    #[test]
    fn keys_entries_and_what_gc_keeps() {
        // Parts are length-prefixed: moving a boundary changes the key.
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_eq!(key(&["a", "b"]), key(&["a", "b"]));
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let layer = store.put_bytes(b"not really a layer").unwrap();
        let cfg = ImageConfig {
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: vec![Digest::of(b"diff")],
            },
            ..ImageConfig::default()
        };
        let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
        let cd = store.put_bytes(&cfg_bytes).unwrap();
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MT_OCI_MANIFEST.into()),
            config: Descriptor::new(MT_OCI_CONFIG, cd.clone(), cfg_bytes.len() as u64),
            layers: vec![Descriptor::new("x", layer.clone(), 18)],
            annotations: Default::default(),
        };
        let md = store
            .put_bytes(&serde_json::to_vec(&manifest).unwrap())
            .unwrap();
        let img = store.load_image(&md, Vec::new()).unwrap();
        let k = key(&["parent", "RUN x"]);
        assert!(get(root.path(), &store, &k).is_none());
        put(root.path(), &k, &img).unwrap();
        assert_eq!(get(root.path(), &store, &k).unwrap().manifest_digest, md);
        let (blobs, layers) = referenced(root.path(), store.dir());
        assert!(blobs.contains(&md) && blobs.contains(&cd) && blobs.contains(&layer));
        assert!(layers.contains(Digest::of(b"diff").hex()));
        // A blob gone (a gc before the cache kept them): a miss, not an error.
        std::fs::remove_file(store.blob_path(&layer)).unwrap();
        assert!(get(root.path(), &store, &k).is_none());
        assert_eq!(clear(root.path()).unwrap(), 1);
        assert!(referenced(root.path(), store.dir()).0.is_empty());
    }
}
