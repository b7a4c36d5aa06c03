//! Unpacked layers: each layer blob unpacks once into `layers/<chain id>`, verified against
//! the image config's diff_id, and is shared by every image whose stack has that chain id.
//! The layers of one image unpack in parallel (one thread each, at most one per CPU).

use std::fs::{self, File};
use std::io::BufReader;

use crate::digest::{chain_ids, Digest};
use crate::error::{Error, Result};
use crate::fsmode;
use crate::fsmode::remove_tree;
use crate::model::{Descriptor, ImageConfig};
use crate::store::Store;
use crate::unpack::unpack_layer;

/// Makes sure every layer of an image is unpacked; returns the layer dirs, bottom first.
pub fn ensure(
    store: &Store,
    layers: &[Descriptor],
    config: &ImageConfig,
) -> Result<Vec<std::path::PathBuf>> {
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != layers.len() {
        return Err(Error::Invalid(format!(
            "image has {} layers but its config lists {} diff_ids",
            layers.len(),
            diff_ids.len()
        )));
    }
    let chains = chain_ids(diff_ids);
    let todo: Vec<usize> = (0..layers.len())
        .filter(|&i| !store.layer_dir(&chains[i]).exists())
        .collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    for batch in todo.chunks(workers.max(1)) {
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&i| {
                    let (layer, diff_id, chain) = (&layers[i], &diff_ids[i], &chains[i]);
                    s.spawn(move || unpack_one(store, layer, diff_id, chain))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Invalid("unpack thread panicked".into())))
                })
                .collect()
        });
        for r in results {
            r?;
        }
    }
    Ok(chains.iter().map(|c| store.layer_dir(c)).collect())
}

/// Unpacks one layer (its blob in the store) as `chain` unless it is already: a pull hands
/// each layer over as soon as its download ends.
pub fn ensure_one(
    store: &Store,
    layer: &Descriptor,
    diff_id: &Digest,
    chain: &Digest,
) -> Result<()> {
    if store.layer_dir(chain).exists() {
        return Ok(());
    }
    unpack_one(store, layer, diff_id, chain)
}

fn unpack_one(store: &Store, layer: &Descriptor, diff_id: &Digest, chain: &Digest) -> Result<()> {
    let blob = store.blob_path(&layer.digest);
    let f = File::open(&blob).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::BlobMissing {
            digest: layer.digest.to_string(),
        },
        _ => Error::Io {
            op: "open layer",
            path: blob.clone(),
            err: e,
        },
    })?;
    let tmp = store.tmp_path("layer");
    // The layer's root is a container's `/` when it is the top lower dir: 0755 unless the
    // layer's own `./` entry says otherwise (unpack applies it).
    fsmode::create_dir(&tmp, fsmode::VISIBLE_DIR)?;
    let res = unpack_layer(
        BufReader::with_capacity(1 << 20, f),
        &tmp,
        Some(&layer.digest.to_string()),
        Some(&diff_id.to_string()),
    )
    .map_err(|err| Error::Unpack {
        digest: layer.digest.to_string(),
        err,
    });
    if let Err(e) = res {
        let _ = remove_tree(&tmp);
        return Err(e);
    }
    let dst = store.layer_dir(chain);
    if !dst.exists() {
        if let Err(e) = store.record("layer", chain) {
            let _ = remove_tree(&tmp);
            return Err(e);
        }
    }
    match fs::rename(&tmp, &dst) {
        Ok(()) => Ok(()),
        // Another process unpacked the same layer first: theirs is as good as ours.
        Err(_) if dst.exists() => remove_tree(&tmp),
        Err(e) => {
            let _ = remove_tree(&tmp);
            Err(Error::Io {
                op: "rename layer",
                path: dst,
                err: e,
            })
        }
    }
}
