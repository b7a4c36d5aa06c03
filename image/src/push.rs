//! `push`: an image from the store to an OCI distribution registry through oci-client
//! (anonymous or bearer-token auth from the registry's challenge, http for insecure hosts).
//! Blobs the registry has are skipped (HEAD); the others stream from the store, one PUT
//! each, in parallel; the manifest goes last, byte for byte as stored, so the pushed image has
//! the digests it has here and a pull on another store gets the same ids.

use std::io::Read;
use std::sync::Arc;

use futures_util::stream;
use oci_client::RegistryOperation;

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::model::MT_OCI_MANIFEST;
use crate::reference::Reference;
use crate::store::{Image, Store};

/// What a push reports as it goes.
#[derive(Debug, Clone)]
pub enum PushEvent {
    /// A blob the registry already has.
    Exists(Digest),
    Pushed {
        digest: Digest,
        size: u64,
    },
    Manifest(Digest),
}

pub struct PushOptions {
    /// Registries spoken to over plain http (localhost and 127.0.0.1 always are).
    pub insecure: Vec<String>,
    /// Who to push as (`login`); anonymous without.
    pub credentials: Option<crate::auth::Credentials>,
}

fn push_err(r: &Reference, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("push {r}: {e}"))
}

/// Bytes read from a blob file per request.
const CHUNK: usize = 8 << 20;

/// Pushes `img` as `r`; returns the manifest digest.
pub fn push(
    store: &Store,
    img: &Image,
    r: &Reference,
    o: &PushOptions,
    progress: &(dyn Fn(PushEvent) + Sync),
) -> Result<Digest> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .ctx("start async runtime", "push")?;
    rt.block_on(push_async(store, img, r, o, progress))
}

async fn push_async(
    store: &Store,
    img: &Image,
    r: &Reference,
    o: &PushOptions,
    progress: &(dyn Fn(PushEvent) + Sync),
) -> Result<Digest> {
    // One PUT per blob, streamed from the file (distribution spec "monolithic upload"):
    // no round trip per chunk.
    let client = Arc::new(crate::auth::client_for(&r.registry, &o.insecure, true));
    let spec = format!(
        "{}/{}:{}",
        r.registry,
        r.repository,
        r.tag.clone().unwrap_or_else(|| "latest".into())
    );
    let oref: oci_client::Reference = spec.parse().map_err(|e| push_err(r, e))?;
    client
        .auth(
            &oref,
            &crate::auth::registry_auth(o.credentials.as_ref()),
            RegistryOperation::Push,
        )
        .await
        .map_err(|e| push_err(r, e))?;
    let mut blobs = vec![(img.config_digest.clone(), img.manifest.config.size)];
    blobs.extend(
        img.manifest
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.size)),
    );
    let jobs = blobs.into_iter().map(|(d, size)| {
        let client = client.clone();
        let oref = oref.clone();
        async move {
            let exists = client
                .blob_exists(&oref, &d.to_string())
                .await
                .map_err(|e| push_err(r, e))?;
            if exists {
                progress(PushEvent::Exists(d));
                return Ok(());
            }
            let path = store.blob_path(&d);
            let f = std::fs::File::open(&path).ctx("open blob", &path)?;
            // The file in chunks; a read error ends the stream with that error.
            let chunks = stream::unfold(Some(f), |f| async move {
                let mut f = f?;
                let mut buf = vec![0u8; CHUNK];
                let mut n = 0;
                while n < CHUNK {
                    match f.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Some((
                                Err(oci_client::errors::OciDistributionError::IoError(e)),
                                None,
                            ))
                        }
                    }
                }
                if n == 0 {
                    return None;
                }
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(f)))
            });
            client
                .push_blob_stream(&oref, chunks, &d.to_string(), Some(size))
                .await
                .map_err(|e| push_err(r, format!("blob {d}: {e}")))?;
            progress(PushEvent::Pushed { digest: d, size });
            Ok::<(), Error>(())
        }
    });
    futures_util::future::try_join_all(jobs).await?;
    let bytes = store.read_blob(&img.manifest_digest)?;
    let mt = img
        .manifest
        .media_type
        .clone()
        .unwrap_or_else(|| MT_OCI_MANIFEST.to_string());
    let ct = mt.parse().map_err(|e| push_err(r, e))?;
    client
        .push_manifest_raw(&oref, bytes, ct)
        .await
        .map_err(|e| push_err(r, format!("manifest: {e}")))?;
    progress(PushEvent::Manifest(img.manifest_digest.clone()));
    Ok(img.manifest_digest.clone())
}
