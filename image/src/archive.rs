//! Image archives: `load` of Docker archives (`docker save`, old and OCI-layout style) and
//! OCI archives (`podman save --format oci-archive`, `skopeo copy ... oci-archive:`),
//! gzip-compressed or not; `save` of archives both `docker load` and `podman load` accept
//! (Docker 25's layout: manifest.json + oci-layout + index.json + blobs/sha256); `import` of
//! a root filesystem tarball as a one-layer image (`docker import`).
//!
//! Loading streams every file of the archive into the blob store first (digests verified for
//! files named by digest), then reads the JSON documents from there: archives list
//! manifest.json last, so nothing can be interpreted before the end anyway. The index is
//! only updated at the very end, so a killed load never leaves a half image; what it added
//! is listed in a journal, and a load or import that fails or is killed is taken back
//! (journal.rs).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layers;
use crate::model::*;
use crate::reference::Reference;
use crate::store::{Image, Store};
use crate::unpack::Compression;

fn fmt_err(what: &'static str, path: impl Into<PathBuf>, msg: impl ToString) -> Error {
    Error::Format {
        what,
        path: path.into(),
        msg: msg.to_string(),
    }
}

/// Opens a possibly gzip-compressed stream.
fn decompressed<'a, R: Read + 'a>(r: R) -> Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(1 << 20, r);
    let magic = br.fill_buf().ctx("read", "archive")?.to_vec();
    Ok(match Compression::detect(&magic) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(br)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(br).ctx("zstd", "archive")?)
        }
        Compression::None => Box::new(br),
    })
}

/// The OCI media type of a stored layer blob, from its first bytes.
fn layer_media_type(store: &Store, d: &Digest) -> Result<&'static str> {
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(store.blob_path(d))
        .and_then(|mut f| f.read(&mut magic))
        .ctx("read", store.blob_path(d))?;
    Ok(match Compression::detect(&magic[..n]) {
        Compression::Gzip => MT_OCI_LAYER_GZIP,
        Compression::Zstd => MT_OCI_LAYER_ZSTD,
        Compression::None => MT_OCI_LAYER,
    })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Loads every image of an archive; returns them as stored. A load that fails takes back
/// the blobs and layers it added (store.rs `transaction`).
pub fn load(store: &Store, input: impl Read, source: &Path) -> Result<Vec<Image>> {
    store.transaction(|| load_all(store, input, source))
}

fn load_all(store: &Store, input: impl Read, source: &Path) -> Result<Vec<Image>> {
    let mut ar = tar::Archive::new(decompressed(input)?);
    let mut files: BTreeMap<String, (Digest, u64)> = BTreeMap::new();
    for entry in ar.entries().ctx("read archive", source)? {
        let mut entry = entry.ctx("read archive", source)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry
            .path()
            .ctx("read archive", source)?
            .to_string_lossy()
            .to_string();
        let path = path.trim_start_matches("./").to_string();
        let expected = path
            .strip_prefix("blobs/sha256/")
            .map(|h| format!("sha256:{h}").parse::<Digest>())
            .transpose()
            .map_err(|_| fmt_err("archive entry", &path, "blob name is not a sha256 digest"))?;
        let got = store
            .write_blob(&mut entry, expected.as_ref())
            .map_err(|e| match e {
                Error::DigestMismatch {
                    expected, actual, ..
                } => Error::DigestMismatch {
                    path: source.join(&path),
                    expected,
                    actual,
                },
                e => e,
            })?;
        files.insert(path, got);
    }
    let blob_of = |name: &str| -> Result<Digest> {
        files
            .get(name.trim_start_matches("./"))
            .map(|(d, _)| d.clone())
            .ok_or_else(|| {
                fmt_err(
                    "archive",
                    source,
                    format!("{name} is listed but not in the archive"),
                )
            })
    };
    let mut found: Vec<(Digest, Vec<Reference>)> = Vec::new();
    if files.contains_key("manifest.json") {
        let data = store.read_blob(&blob_of("manifest.json")?)?;
        let entries: Vec<DockerManifestEntry> =
            serde_json::from_slice(&data).map_err(|e| fmt_err("manifest.json in", source, e))?;
        if entries.is_empty() {
            return Err(fmt_err("archive", source, "manifest.json lists no images"));
        }
        for e in entries {
            let config = blob_of(&e.config)?;
            let config_size = files[e.config.trim_start_matches("./")].1;
            let mut layers = Vec::new();
            for l in &e.layers {
                let d = blob_of(l)?;
                let mt = layer_media_type(store, &d)?;
                layers.push(Descriptor::new(
                    mt,
                    d.clone(),
                    files[l.trim_start_matches("./")].1,
                ));
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(MT_OCI_MANIFEST.to_string()),
                config: Descriptor::new(MT_OCI_CONFIG, config, config_size),
                layers,
                annotations: BTreeMap::new(),
            };
            let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
            let md = store.put_bytes(&bytes)?;
            let mut names = Vec::new();
            for t in e.repo_tags.unwrap_or_default() {
                names.push(t.parse::<Reference>()?);
            }
            found.push((md, names));
        }
    } else if files.contains_key("index.json") {
        let data = store.read_blob(&blob_of("index.json")?)?;
        let index: Index =
            serde_json::from_slice(&data).map_err(|e| fmt_err("index.json in", source, e))?;
        if index.manifests.is_empty() {
            return Err(fmt_err("archive", source, "index.json lists no manifests"));
        }
        for desc in index.manifests {
            check_size(store, "manifest", &desc)?;
            let names = names_of(&desc);
            let md = pick_manifest(store, &desc)?;
            found.push((md, names));
        }
    } else {
        return Err(fmt_err(
            "archive",
            source,
            "neither manifest.json (Docker) nor index.json (OCI) found",
        ));
    }
    let mut out = Vec::new();
    for (md, names) in found {
        // A document of the archive that does not parse is named by its digest in the
        // archive, not by the store path it had for a moment.
        let img = store.load_image(&md, names.clone()).map_err(|e| match e {
            Error::Format { what, msg, .. } => Error::Format {
                what,
                path: source.to_path_buf(),
                msg: format!("in manifest {md}: {msg}"),
            },
            e => e,
        })?;
        check_size(store, "config", &img.manifest.config)?;
        for l in &img.manifest.layers {
            check_size(store, "layer", l)?;
        }
        layers::ensure(store, &img.manifest.layers, &img.config)?;
        out.push(img);
    }
    // Only now name them: until here nothing refers to the new blobs.
    for img in &out {
        let desc = Descriptor::new(
            MT_OCI_MANIFEST,
            img.manifest_digest.clone(),
            store
                .blob_path(&img.manifest_digest)
                .metadata()
                .map(|m| m.len())
                .unwrap_or(0),
        );
        if img.names.is_empty() {
            store.tag(None, &desc)?;
        }
        for n in &img.names {
            store.tag(Some(n), &desc)?;
        }
    }
    Ok(out)
}

fn names_of(desc: &Descriptor) -> Vec<Reference> {
    for key in [ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME] {
        if let Some(v) = desc.annotations.get(key) {
            // ref.name is often only a tag ("latest"): a name needs a repository.
            if let Ok(r) = v.parse::<Reference>() {
                if key == ANNOTATION_CONTAINERD_NAME || v.contains('/') || v.contains(':') {
                    return vec![r];
                }
            }
        }
    }
    Vec::new()
}

/// A manifest, or the host platform's manifest of an index / manifest list.
fn pick_manifest(store: &Store, desc: &Descriptor) -> Result<Digest> {
    let is_index = desc.media_type == MT_OCI_INDEX || desc.media_type == MT_DOCKER_LIST;
    if !is_index {
        return Ok(desc.digest.clone());
    }
    let idx: Index = store.read_json(&desc.digest, "image index")?;
    let host = host_platform();
    let m = idx
        .manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.architecture == host.architecture && p.os == host.os)
        })
        .ok_or_else(|| {
            Error::Invalid(format!(
                "index {} has no manifest for {}/{}",
                desc.digest, host.os, host.architecture
            ))
        })?;
    check_size(store, "manifest", m)?;
    Ok(m.digest.clone())
}

/// A descriptor's size must be its blob's (image-spec descriptor.md): an archive that says
/// otherwise is refused, naming the descriptor.
fn check_size(store: &Store, what: &'static str, desc: &Descriptor) -> Result<()> {
    let p = store.blob_path(&desc.digest);
    let actual = match std::fs::metadata(&p) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::BlobMissing {
                digest: desc.digest.to_string(),
            })
        }
        Err(err) => {
            return Err(Error::Io {
                op: "stat",
                path: p,
                err,
            })
        }
    };
    if actual != desc.size {
        return Err(Error::SizeMismatch {
            what,
            digest: desc.digest.to_string(),
            declared: desc.size,
            actual,
        });
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SaveFormat {
    /// manifest.json (docker load) plus an OCI layout (podman load, OCI tools).
    Docker,
    /// An OCI image layout only.
    Oci,
}

fn add_file(b: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append_data(&mut h, path, data).ctx("write archive", path)
}

/// Writes `images` (each with the names to record) as one archive.
pub fn save(
    store: &Store,
    images: &[(Image, Vec<Reference>)],
    out: impl Write,
    format: SaveFormat,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let mut written = std::collections::BTreeSet::new();
    add_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut index = Index {
        schema_version: 2,
        media_type: Some(MT_OCI_INDEX.to_string()),
        manifests: Vec::new(),
    };
    let mut docker = Vec::new();
    for (img, names) in images {
        let mut blobs = vec![img.manifest_digest.clone(), img.config_digest.clone()];
        blobs.extend(img.manifest.layers.iter().map(|l| l.digest.clone()));
        for d in blobs {
            if !written.insert(d.clone()) {
                continue;
            }
            let p = store.blob_path(&d);
            let mut f = std::fs::File::open(&p).ctx("open blob", &p)?;
            let len = f.metadata().ctx("stat", &p)?.len();
            let mut h = tar::Header::new_ustar();
            h.set_size(len);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append_data(&mut h, format!("blobs/sha256/{}", d.hex()), &mut f)
                .ctx("write archive", &p)?;
        }
        let msize = store
            .blob_path(&img.manifest_digest)
            .metadata()
            .ctx("stat", store.blob_path(&img.manifest_digest))?
            .len();
        let mut desc = Descriptor::new(MT_OCI_MANIFEST, img.manifest_digest.clone(), msize);
        if names.is_empty() {
            index.manifests.push(desc);
        } else {
            for n in names {
                desc.annotations
                    .insert(ANNOTATION_CONTAINERD_NAME.to_string(), n.to_string());
                desc.annotations.insert(
                    ANNOTATION_REF_NAME.to_string(),
                    n.tag.clone().unwrap_or_else(|| "latest".into()),
                );
                index.manifests.push(desc.clone());
            }
        }
        docker.push(serde_json::json!({
            "Config": format!("blobs/sha256/{}", img.config_digest.hex()),
            "RepoTags": names.iter().map(|n| format!("{}:{}", n.familiar_name(), n.tag.clone().unwrap_or_else(|| "latest".into()))).collect::<Vec<_>>(),
            "Layers": img.manifest.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect::<Vec<_>>(),
        }));
    }
    let idx = serde_json::to_vec(&index).map_err(|e| Error::Invalid(e.to_string()))?;
    add_file(&mut b, "index.json", &idx)?;
    if format == SaveFormat::Docker {
        let m = serde_json::to_vec(&docker).map_err(|e| Error::Invalid(e.to_string()))?;
        add_file(&mut b, "manifest.json", &m)?;
    }
    b.into_inner()
        .ctx("finish archive", "output")?
        .flush()
        .ctx("flush", "output")?;
    Ok(())
}

/// `docker import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image
/// with the run settings given as Dockerfile instructions (`--change`). One that fails takes
/// back the blob and layer it added.
pub fn import(
    store: &Store,
    input: &mut dyn Read,
    name: Option<&Reference>,
    changes: &[String],
) -> Result<Image> {
    store.transaction(|| import_one(store, input, name, changes))
}

fn import_one(
    store: &Store,
    input: &mut dyn Read,
    name: Option<&Reference>,
    changes: &[String],
) -> Result<Image> {
    let mut run = RunConfig::default();
    for c in changes {
        apply_change(&mut run, c)?;
    }
    let (blob, size) = store.write_blob(input, None)?;
    let mt = layer_media_type(store, &blob)?;
    // The diff_id is only known after decompressing: unpack once without an expected value.
    let tmp = store.tmp_path("import");
    crate::fsmode::create_dir(&tmp, crate::fsmode::VISIBLE_DIR)?;
    let f = std::fs::File::open(store.blob_path(&blob)).ctx("open", store.blob_path(&blob))?;
    let unpacked =
        crate::unpack::unpack_layer(BufReader::with_capacity(1 << 20, f), &tmp, None, None)
            .map_err(|err| Error::Unpack {
                digest: blob.to_string(),
                err,
            });
    let unpacked = match unpacked {
        Ok(u) => u,
        Err(e) => {
            let _ = crate::store::remove_tree(&tmp);
            return Err(e);
        }
    };
    let diff_id: Digest = unpacked.diff_id.parse()?;
    let dst = store.layer_dir(&diff_id);
    if !dst.exists() {
        if let Err(e) = store.record("layer", &diff_id) {
            let _ = crate::store::remove_tree(&tmp);
            return Err(e);
        }
    }
    if std::fs::rename(&tmp, &dst).is_err() {
        crate::store::remove_tree(&tmp)?;
    }
    let host = host_platform();
    let now = crate::now_rfc3339();
    let config = ImageConfig {
        created: Some(now.clone()),
        architecture: host.architecture,
        os: host.os,
        variant: None,
        config: run,
        rootfs: RootFs {
            typ: "layers".into(),
            diff_ids: vec![diff_id],
        },
        history: vec![History {
            created: Some(now),
            created_by: Some("berth import".into()),
            comment: None,
            empty_layer: false,
        }],
        other: BTreeMap::new(),
    };
    let cbytes = serde_json::to_vec(&config).map_err(|e| Error::Invalid(e.to_string()))?;
    let cd = store.put_bytes(&cbytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MT_OCI_MANIFEST.to_string()),
        config: Descriptor::new(MT_OCI_CONFIG, cd, cbytes.len() as u64),
        layers: vec![Descriptor::new(mt, blob, size)],
        annotations: BTreeMap::new(),
    };
    let mbytes = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    let md = store.put_bytes(&mbytes)?;
    store.tag(
        name,
        &Descriptor::new(MT_OCI_MANIFEST, md.clone(), mbytes.len() as u64),
    )?;
    store.load_image(&md, name.into_iter().cloned().collect())
}

/// One `--change` (Dockerfile syntax): CMD, ENTRYPOINT, ENV, WORKDIR, EXPOSE, USER, LABEL,
/// STOPSIGNAL, VOLUME.
pub fn apply_change(run: &mut RunConfig, change: &str) -> Result<()> {
    let bad = |why: &str| Error::Invalid(format!("--change {change:?}: {why}"));
    let (instr, rest) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("want INSTRUCTION ARGUMENTS"))?;
    let rest = rest.trim();
    let cmd_form = |s: &str| -> Result<Vec<String>> {
        if s.starts_with('[') {
            serde_json::from_str::<Vec<String>>(s)
                .map_err(|e| bad(&format!("exec form is not a JSON string array: {e}")))
        } else {
            Ok(vec!["/bin/sh".into(), "-c".into(), s.to_string()])
        }
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => run.cmd = Some(cmd_form(rest)?),
        "ENTRYPOINT" => run.entrypoint = Some(cmd_form(rest)?),
        "WORKDIR" => run.working_dir = Some(rest.to_string()),
        "USER" => run.user = Some(rest.to_string()),
        "STOPSIGNAL" => run.stop_signal = Some(rest.to_string()),
        "ENV" => {
            let env = run.env.get_or_insert_with(Vec::new);
            let pairs: Vec<(String, String)> = if rest.contains('=') {
                rest.split_whitespace()
                    .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string())).ok_or_else(|| bad("want KEY=VALUE")))
                    .collect::<Result<_>>()?
            } else {
                let (k, v) = rest.split_once(char::is_whitespace).ok_or_else(|| bad("want KEY VALUE"))?;
                vec![(k.to_string(), v.trim().to_string())]
            };
            for (k, v) in pairs {
                env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "EXPOSE" => {
            let ports = run.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                ports.insert(p, serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = run.volumes.get_or_insert_with(BTreeMap::new);
            let list = if rest.starts_with('[') { cmd_form(rest)? } else { rest.split_whitespace().map(String::from).collect() };
            for v in list {
                vols.insert(v, serde_json::json!({}));
            }
        }
        "LABEL" => {
            let labels = run.labels.get_or_insert_with(BTreeMap::new);
            for kv in rest.split_whitespace() {
                let (k, v) = kv.split_once('=').ok_or_else(|| bad("want KEY=VALUE"))?;
                labels.insert(k.trim_matches('"').to_string(), v.trim_matches('"').to_string());
            }
        }
        other => return Err(bad(&format!("{other} is not one of CMD, ENTRYPOINT, ENV, WORKDIR, EXPOSE, USER, LABEL, STOPSIGNAL, VOLUME"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut r = RunConfig::default();
        apply_change(&mut r, r#"CMD ["/bin/sh", "-c", "echo hi"]"#).unwrap();
        apply_change(&mut r, "ENTRYPOINT /entry.sh").unwrap();
        apply_change(&mut r, "ENV A=1 B=2").unwrap();
        apply_change(&mut r, "ENV A 3").unwrap();
        apply_change(&mut r, "EXPOSE 5000 53/udp").unwrap();
        apply_change(&mut r, "WORKDIR /app").unwrap();
        apply_change(&mut r, "USER nobody").unwrap();
        assert_eq!(r.cmd.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(r.entrypoint.unwrap(), ["/bin/sh", "-c", "/entry.sh"]);
        assert_eq!(r.env.unwrap(), ["B=2", "A=3"]);
        let ports: Vec<String> = r.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["5000/tcp", "53/udp"]);
        assert_eq!(r.working_dir.unwrap(), "/app");
        assert!(apply_change(&mut RunConfig::default(), "RUN x").is_err());
        assert!(apply_change(&mut RunConfig::default(), "CMD [oops").is_err());
    }
}
