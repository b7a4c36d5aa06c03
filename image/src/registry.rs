//! `pull`: the OCI distribution API through oci-client (anonymous or bearer-token auth from
//! the registry's WWW-Authenticate challenge, http for `--insecure-registry` hosts), Docker
//! schema 2 and OCI manifests, indexes / manifest lists resolved to one platform. Layers
//! download in parallel; every blob is hashed as it streams to disk and renamed into the
//! store only when its digest matches. Blobs already present are skipped, so a pull that
//! was interrupted completes where it stopped; the image is named only at the end.

use std::io::Write;
use std::sync::Arc;

use futures_util::StreamExt;
use oci_client::Client;

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::model::*;
use crate::reference::Reference;
use crate::store::{Image, Store};

/// What a pull reports as it goes (the CLI draws progress bars from these).
#[derive(Debug, Clone)]
pub enum Event {
    Resolved { manifest: Digest, layers: usize },
    LayerStart { digest: Digest, size: u64 },
    LayerProgress { digest: Digest, done: u64 },
    LayerDone { digest: Digest, cached: bool },
    Unpacking,
}

pub struct PullOptions {
    /// `os/arch[/variant]`; default: this host.
    pub platform: Option<String>,
    /// Registries spoken to over plain http (e.g. `localhost:5000`).
    pub insecure: Vec<String>,
    /// Who to pull as (`login`); anonymous without.
    pub credentials: Option<crate::auth::Credentials>,
}

const ACCEPT: &[&str] = &[
    MT_OCI_MANIFEST,
    MT_DOCKER_MANIFEST,
    MT_OCI_INDEX,
    MT_DOCKER_LIST,
];

/// A registry failure as a message. The reference is not repeated: every caller says
/// "pull REF" already. `r` stays for the callers' symmetry.
fn reg_err(_r: &Reference, e: impl std::fmt::Display) -> Error {
    Error::Invalid(e.to_string())
}

/// A client error with its causes ("error sending request for url (...): client error
/// (Connect): tcp connect error: Connection refused (os error 111)"): the cause is what a
/// user can act on (DNS, TLS, refused, HTTP status), so it is shown, each part once.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !line.contains(&m) {
            line.push_str(": ");
            line.push_str(&m);
        }
        cur = c.source();
    }
    line
}

fn parse_platform(p: &str) -> Result<Platform> {
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        [os, arch] => Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: None,
        }),
        [os, arch, v] => Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: Some(v.to_string()),
        }),
        _ => Err(Error::Invalid(format!(
            "--platform {p:?}: want os/arch[/variant], e.g. linux/amd64"
        ))),
    }
}

/// Pulls `r` into the store and names it; returns the image.
pub fn pull(
    store: &Store,
    r: &Reference,
    o: &PullOptions,
    progress: &(dyn Fn(Event) + Sync),
) -> Result<Image> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let want = match &o.platform {
        Some(p) => parse_platform(p)?,
        None => host_platform(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .ctx("start async runtime", "pull")?;
    // Each layer is unpacked as soon as its download ends, on threads of their own, while
    // the others still download; what is left (or failed there) `layers::ensure` does at
    // the end, which also reports the errors.
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(4);
    let (tx, rx) = std::sync::mpsc::channel::<(Descriptor, Digest, Digest)>();
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|sc| {
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                sc.spawn(|| loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((layer, diff_id, chain)) = job else {
                        break;
                    };
                    let _ = crate::layers::ensure_one(store, &layer, &diff_id, &chain);
                })
            })
            .collect();
        let unpack = move |l: Descriptor, d: Digest, c: Digest| {
            let _ = tx.send((l, d, c));
        };
        let pulled = rt.block_on(pull_async(store, r, o, &want, progress, &unpack));
        drop(unpack);
        for t in threads {
            let _ = t.join();
        }
        let img = pulled?;
        crate::layers::ensure(store, &img.manifest.layers, &img.config)?;
        store.name_image(&img)?;
        Ok(img)
    })
}

/// Downloads the image; returns it, not yet unpacked (but for what `unpack` was handed)
/// nor named.
async fn pull_async(
    store: &Store,
    r: &Reference,
    o: &PullOptions,
    want: &Platform,
    progress: &(dyn Fn(Event) + Sync),
    unpack: &(dyn Fn(Descriptor, Digest, Digest) + Sync),
) -> Result<Image> {
    let client = Arc::new(crate::auth::client_for(&r.registry, &o.insecure, false));
    // oci-client's reference: registry/repo:tag or @digest.
    let spec = match (&r.digest, &r.tag) {
        (Some(d), _) => format!("{}/{}@{d}", r.registry, r.repository),
        (None, Some(t)) => format!("{}/{}:{t}", r.registry, r.repository),
        (None, None) => format!("{}/{}:latest", r.registry, r.repository),
    };
    let oref: oci_client::Reference = spec.parse().map_err(|e| reg_err(r, e))?;
    let auth = crate::auth::registry_auth(o.credentials.as_ref());
    let (bytes, digest) = client
        .pull_manifest_raw(&oref, &auth, ACCEPT)
        .await
        .map_err(|e| reg_err(r, with_causes(&e)))?;
    let top: Digest = digest.parse()?;
    if Digest::of(&bytes) != top {
        return Err(reg_err(
            r,
            format!("manifest digest mismatch: registry said {top}"),
        ));
    }
    let kind: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| reg_err(r, format!("manifest: {e}")))?;
    let mt = kind.get("mediaType").and_then(|v| v.as_str()).unwrap_or("");
    let is_index = mt == MT_OCI_INDEX
        || mt == MT_DOCKER_LIST
        || (mt.is_empty() && kind.get("manifests").is_some());
    // Store what we got byte for byte: the digests in the index then stay valid.
    store.put_bytes(&bytes)?;
    let (manifest_digest, manifest_bytes) = if is_index {
        let idx: Index =
            serde_json::from_slice(&bytes).map_err(|e| reg_err(r, format!("index: {e}")))?;
        let pick = idx
            .manifests
            .iter()
            .find(|m| {
                m.platform.as_ref().is_some_and(|p| {
                    p.os == want.os
                        && p.architecture == want.architecture
                        && (want.variant.is_none() || p.variant == want.variant)
                })
            })
            .ok_or_else(|| {
                let have: Vec<String> = idx
                    .manifests
                    .iter()
                    .filter_map(|m| m.platform.as_ref())
                    .map(|p| format!("{}/{}", p.os, p.architecture))
                    .collect();
                reg_err(
                    r,
                    format!(
                        "no manifest for {}/{} (index has: {})",
                        want.os,
                        want.architecture,
                        have.join(", ")
                    ),
                )
            })?;
        let by_digest: oci_client::Reference =
            format!("{}/{}@{}", r.registry, r.repository, pick.digest)
                .parse()
                .map_err(|e| reg_err(r, e))?;
        let (b, d) = client
            .pull_manifest_raw(&by_digest, &auth, ACCEPT)
            .await
            .map_err(|e| reg_err(r, with_causes(&e)))?;
        let d: Digest = d.parse()?;
        if b.len() as u64 != pick.size {
            return Err(Error::SizeMismatch {
                what: "manifest",
                digest: pick.digest.to_string(),
                declared: pick.size,
                actual: b.len() as u64,
            });
        }
        if Digest::of(&b) != pick.digest || d != pick.digest {
            return Err(reg_err(
                r,
                format!("manifest {} does not match its digest", pick.digest),
            ));
        }
        store.put_bytes(&b)?;
        (pick.digest.clone(), b.to_vec())
    } else {
        (top.clone(), bytes.to_vec())
    };
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| reg_err(r, format!("manifest: {e}")))?;
    progress(Event::Resolved {
        manifest: manifest_digest.clone(),
        layers: manifest.layers.len(),
    });
    // Config, then the layers in parallel.
    fetch_blob(
        &client,
        &oref,
        store,
        &manifest.config.digest,
        manifest.config.size,
        &|_| {},
    )
    .await?;
    // The chain ids, to unpack each layer as its download ends (none if the config is
    // not what the manifest says: `layers::ensure` reports that at the end).
    let config: ImageConfig = store.read_json(&manifest.config.digest, "image config")?;
    let chains = if config.rootfs.diff_ids.len() == manifest.layers.len() {
        crate::digest::chain_ids(&config.rootfs.diff_ids)
    } else {
        Vec::new()
    };
    let mut tasks = Vec::new();
    for (i, l) in manifest.layers.iter().enumerate() {
        let (client, oref, d, size) = (client.clone(), oref.clone(), l.digest.clone(), l.size);
        let handoff = chains
            .get(i)
            .map(|c| (l.clone(), config.rootfs.diff_ids[i].clone(), c.clone()));
        tasks.push(async move {
            if store.has_blob(&d) {
                progress(Event::LayerDone {
                    digest: d.clone(),
                    cached: true,
                });
                if let Some((l, diff, c)) = handoff {
                    unpack(l, diff, c);
                }
                return Ok(());
            }
            progress(Event::LayerStart {
                digest: d.clone(),
                size,
            });
            let dd = d.clone();
            fetch_blob(&client, &oref, store, &d, size, &|done| {
                progress(Event::LayerProgress {
                    digest: dd.clone(),
                    done,
                })
            })
            .await?;
            progress(Event::LayerDone {
                digest: d,
                cached: false,
            });
            if let Some((l, diff, c)) = handoff {
                unpack(l, diff, c);
            }
            Ok::<(), Error>(())
        });
    }
    for res in futures_util::future::join_all(tasks).await {
        res?;
    }
    progress(Event::Unpacking);
    // Named by its tag; pulled by digest alone, it is unnamed (`<none>`) like Docker's.
    let mut name = r.clone();
    name.digest = None;
    let names = if name.tag.is_some() {
        vec![name]
    } else {
        vec![]
    };
    store.load_image(&manifest_digest, names)
}

/// Streams one blob into the store (`Store::blob_writer`): hashed as it goes, renamed into
/// place only if digest and size match.
async fn fetch_blob(
    client: &Client,
    oref: &oci_client::Reference,
    store: &Store,
    d: &Digest,
    size: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    if store.has_blob(d) {
        return Ok(());
    }
    let mut s = client
        .pull_blob_stream(oref, d.to_string().as_str())
        .await
        .map_err(|e| Error::Invalid(format!("download {d}: {e}")))?;
    // Dropped on an error, the writer takes its temp file with it: a broken download leaves
    // nothing behind (the blobs it completed stay: a pull resumes).
    let mut w = store.blob_writer("pull")?;
    let mut last = 0u64;
    while let Some(chunk) = s.stream.next().await {
        let chunk = chunk.map_err(|e| Error::Invalid(format!("download {d}: {e}")))?;
        w.write_all(&chunk).ctx("write blob", w.path())?;
        let done = w.written();
        if done - last > (1 << 20) || done == size {
            last = done;
            progress(done);
        }
    }
    w.commit(Some(d), Some(size)).map(drop)
}
