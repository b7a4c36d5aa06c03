//! The content store: an OCI image layout plus unpacked layers, shared by every image.
//!
//! ```text
//! <root>/image/                 (root: /var/lib/berth, --root / BERTH_ROOT)
//!   oci-layout                  {"imageLayoutVersion":"1.0.0"}: OCI tools can read this dir
//!   index.json                  one descriptor per image; the name in
//!                               org.opencontainers.image.ref.name (full reference)
//!   blobs/sha256/<hex>          manifests, configs, layer blobs; verified, immutable
//!   layers/<chain-id hex>/      one unpacked layer (overlay lower dir), shared by chain id
//!   tmp/                        blobs and layers being written (renamed into place);
//!     journal-<pid>-<n>         what a running load/import added (journal.rs)
//!   .index.lock                 flock: read-modify-write of index.json
//!   .gc.lock                    flock: shared by writers for their whole run, exclusive
//!                               for garbage collection (so it never takes a blob that a
//!                               concurrent load has written but not yet referenced)
//! ```
//!
//! Directories are 0700 and files 0600 whatever the umask (fsmode.rs), but for the root of
//! each unpacked layer (0755, or its `./` entry's mode). Every file is written to tmp/ and
//! renamed, so a crash leaves the old or the new state.
//! Reference counting is mark-and-sweep from index.json: nothing to get out of step. A
//! load or import that fails takes back what it added (journal.rs); one that was killed is
//! undone, and tmp/ emptied, by the next berth that opens the store while no other has it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nix::fcntl::{Flock, FlockArg};

use crate::digest::{chain_ids, Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::fsmode;
use crate::journal::{self, Journal, Objects};
use crate::model::{Descriptor, ImageConfig, Index, Manifest, ANNOTATION_REF_NAME};
use crate::model::{MT_OCI_INDEX, MT_OCI_MANIFEST};
use crate::reference::Reference;

pub struct Store {
    dir: PathBuf,
    /// Shared gc lock, held while this handle lives (None inside gc itself).
    gc: Option<Flock<File>>,
    /// What the running load or import added, between `begin` and `commit`/`abort`.
    journal: Mutex<Option<Journal>>,
}

/// One image in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// References naming it (empty: an unnamed image, `<none>`).
    pub names: Vec<Reference>,
    pub manifest_digest: Digest,
    pub manifest: Manifest,
    pub config_digest: Digest,
    pub config: ImageConfig,
}

impl Image {
    /// The image id, as Docker shows it: the config digest.
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }
    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(&self.config.rootfs.diff_ids)
    }
    pub fn size(&self) -> u64 {
        self.manifest.layers.iter().map(|l| l.size).sum()
    }
}

/// A blob being written (`Store::blob_writer`), the one way bytes become a blob: what is
/// written is hashed as it streams to a temp file in tmp/; `commit` fsyncs and verifies it and
/// renames it into blobs/sha256/. Dropped uncommitted (a failed or cancelled download or
/// load), it removes its temp file.
pub struct BlobWriter<'s> {
    store: &'s Store,
    tmp: PathBuf,
    /// None only once `commit` has taken it.
    out: Option<HashingWriter<BufWriter<File>>>,
}

impl BlobWriter<'_> {
    /// The temp file, for messages.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.out.as_ref().map_or(0, |w| w.count)
    }

    /// Flushes and fsyncs the blob, checks it has the `expected` digest (and `size`, when
    /// given) and renames it into the store. Returns its digest and size.
    pub fn commit(mut self, expected: Option<&Digest>, size: Option<u64>) -> Result<(Digest, u64)> {
        let Some(out) = self.out.take() else {
            return Err(Error::Invalid(format!(
                "blob {:?}: committed twice",
                self.tmp
            )));
        };
        let (buf, digest, n) = out.finish();
        let f = buf.into_inner().map_err(|e| Error::Io {
            op: "write blob",
            path: self.tmp.clone(),
            err: e.into_error(),
        })?;
        f.sync_all().ctx("fsync", &self.tmp)?;
        let digest_ok = expected.is_none_or(|exp| *exp == digest);
        if !digest_ok || size.is_some_and(|s| s != n) {
            let (expected, actual) = match (expected, size) {
                (Some(exp), Some(size)) => (
                    format!("{exp} ({size} bytes)"),
                    format!("{digest} ({n} bytes)"),
                ),
                (exp, _) => (
                    exp.map(Digest::to_string).unwrap_or_default(),
                    digest.to_string(),
                ),
            };
            return Err(Error::DigestMismatch {
                path: self.tmp.clone(),
                expected,
                actual,
            });
        }
        let dst = self.store.blob_path(&digest);
        if !dst.exists() {
            self.store.record("blob", &digest)?;
        }
        fs::rename(&self.tmp, &dst).ctx("rename blob", &dst)?;
        // In place: nothing left for `drop` to remove.
        self.tmp = PathBuf::new();
        Ok((digest, n))
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.out {
            Some(w) => w.write(buf),
            None => Err(std::io::Error::other("blob already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn lock(path: &Path, arg: FlockArg) -> Result<Flock<File>> {
    let f = fsmode::open_lock(path)?;
    Flock::lock(f, arg).map_err(|(_, e)| flock_err(path, e))
}

fn flock_err(path: &Path, e: nix::errno::Errno) -> Error {
    Error::Io {
        op: "flock",
        path: path.to_path_buf(),
        err: e.into(),
    }
}

impl Store {
    /// Opens (creating) the store under `root`; holds the shared gc lock until dropped.
    pub fn open(root: &Path) -> Result<Store> {
        let dir = root.join("image");
        for d in ["blobs/sha256", "layers", "tmp"] {
            fsmode::ensure_dir(&dir.join(d), fsmode::DIR)?;
        }
        // Unpacked layers hold setuid binaries and device nodes: keep other users out. An
        // older berth made these 0755 and its files 0644; blobs and layers inside are
        // covered once their directories are closed.
        for d in ["", "blobs", "blobs/sha256", "layers", "tmp", "links"] {
            fsmode::restrict(&dir.join(d), fsmode::DIR)?;
        }
        for f in ["oci-layout", "index.json"] {
            fsmode::restrict(&dir.join(f), fsmode::FILE)?;
        }
        let layout = dir.join("oci-layout");
        if !layout.exists() {
            write_atomic(&dir, &layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        // Alone with the store (no other berth holds the gc lock): what a killed load or
        // import left is garbage now. Otherwise a later command heals it.
        let path = dir.join(".gc.lock");
        let gc = match Flock::lock(fsmode::open_lock(&path)?, FlockArg::LockExclusiveNonblock) {
            Ok(gc) => {
                let mut store = Store::handle(dir.clone(), None);
                let _ = journal::heal(&store);
                gc.relock(FlockArg::LockShared)
                    .map_err(|e| flock_err(&path, e))?;
                store.gc = Some(gc);
                return Ok(store);
            }
            Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                Flock::lock(f, FlockArg::LockShared).map_err(|(_, e)| flock_err(&path, e))?
            }
            Err((_, e)) => return Err(flock_err(&path, e)),
        };
        Ok(Store::handle(dir, Some(gc)))
    }

    fn handle(dir: PathBuf, gc: Option<Flock<File>>) -> Store {
        Store {
            dir,
            gc,
            journal: Mutex::new(None),
        }
    }

    /// Starts a journal of what this handle adds to the store (a load or an import).
    pub fn begin(&self) -> Result<()> {
        let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let name = journal::journal_name(std::process::id(), n);
        let j = Journal::create(self.dir.join("tmp").join(name))?;
        *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = Some(j);
        Ok(())
    }

    /// What was added since `begin` is named in the index: drop the journal.
    pub fn commit(&self) {
        let j = self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(j) = j {
            j.remove();
        }
    }

    /// Takes back what was added since `begin` and nothing references, with every stale
    /// temp file, if no other berth has the store open; otherwise the journal stays for
    /// the next command that opens the store alone. Best effort: this runs on a failure
    /// path, and whatever it leaves `image prune` removes.
    pub fn abort(&self) {
        let j = self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(j);
        let Some(gc) = &self.gc else { return };
        // Converting the lock may drop it for a moment (flock(2)): then only a gc can get in
        // between, which removes what we would have.
        if gc.relock(FlockArg::LockExclusiveNonblock).is_ok() {
            let _ = journal::heal(self);
        }
        let _ = gc.relock(FlockArg::LockShared);
    }

    /// Notes an object this handle is about to add, if a journal is running.
    pub(crate) fn record(&self, what: &str, d: &Digest) -> Result<()> {
        let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        match j.as_mut() {
            Some(j) => j.record(what, d),
            None => Ok(()),
        }
    }

    /// Runs `f` (a load or an import) with a journal: committed if it succeeds, aborted
    /// (what it added taken back) if it fails.
    pub fn transaction<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.begin()?;
        let res = f();
        match &res {
            Ok(_) => self.commit(),
            Err(_) => self.abort(),
        }
        res
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn tmp_path(&self, what: &str) -> PathBuf {
        let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join("tmp")
            .join(format!("{what}-{}-{n}", std::process::id()))
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(d.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).exists()
    }

    /// A new blob written through `Write`: hashed on its way to a temp file `tmp/<what>-..`,
    /// then verified and renamed into place by `BlobWriter::commit`.
    pub fn blob_writer(&self, what: &str) -> Result<BlobWriter<'_>> {
        let tmp = self.tmp_path(what);
        let f = fsmode::create_file(&tmp, fsmode::FILE)?;
        let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, f));
        Ok(BlobWriter {
            store: self,
            tmp,
            out: Some(out),
        })
    }

    /// Streams `r` into a new blob; verifies `expected` if given. Returns digest and size.
    pub fn write_blob(&self, r: &mut dyn Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let mut w = self.blob_writer("blob")?;
        std::io::copy(r, &mut w).ctx("write blob", w.path())?;
        w.commit(expected, None)
    }

    pub fn put_bytes(&self, data: &[u8]) -> Result<Digest> {
        let d = Digest::of(data);
        if !self.has_blob(&d) {
            self.write_blob(&mut &data[..], Some(&d))?;
        }
        Ok(d)
    }

    /// Reads a (small) blob and checks it still has its digest.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let data = match fs::read(&p) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::BlobMissing {
                    digest: d.to_string(),
                })
            }
            Err(e) => {
                return Err(Error::Io {
                    op: "read blob",
                    path: p,
                    err: e,
                })
            }
        };
        let actual = Digest::of(&data);
        if actual != *d {
            return Err(Error::DigestMismatch {
                path: p,
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(data)
    }

    pub fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        d: &Digest,
        what: &'static str,
    ) -> Result<T> {
        let data = self.read_blob(d)?;
        serde_json::from_slice(&data).map_err(|e| Error::Format {
            what,
            path: self.blob_path(d),
            msg: e.to_string(),
        })
    }

    pub fn layer_dir(&self, chain: &Digest) -> PathBuf {
        self.dir.join("layers").join(chain.hex())
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    pub fn read_index(&self) -> Result<Index> {
        let p = self.index_path();
        match fs::read(&p) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| Error::Format {
                what: "image index",
                path: p,
                msg: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index {
                schema_version: 2,
                media_type: Some(MT_OCI_INDEX.to_string()),
                manifests: Vec::new(),
            }),
            Err(e) => Err(Error::Io {
                op: "read",
                path: p,
                err: e,
            }),
        }
    }

    /// Read-modify-write of index.json under the index lock.
    pub fn update_index(&self, f: impl FnOnce(&mut Index) -> Result<()>) -> Result<()> {
        let _l = lock(&self.dir.join(".index.lock"), FlockArg::LockExclusive)?;
        let mut idx = self.read_index()?;
        f(&mut idx)?;
        let data = serde_json::to_vec_pretty(&idx).map_err(|e| Error::Invalid(e.to_string()))?;
        write_atomic(&self.dir, &self.index_path(), &data)
    }

    /// Points `name` at the manifest `desc` (moving the name off any other image); an image
    /// left without names and not added unnamed is dropped from the index.
    pub fn tag(&self, name: Option<&Reference>, desc: &Descriptor) -> Result<()> {
        self.update_index(|idx| {
            let key = name.map(|n| n.to_string());
            idx.manifests.retain(|m| {
                let mname = m.annotations.get(ANNOTATION_REF_NAME);
                match (&key, mname) {
                    (Some(k), Some(n)) => n != k,
                    // An unnamed entry for the same manifest is replaced by this one.
                    (_, None) => m.digest != desc.digest,
                    (None, Some(_)) => true,
                }
            });
            let mut d = desc.clone();
            d.annotations.remove(ANNOTATION_REF_NAME);
            if let Some(k) = key {
                d.annotations.insert(ANNOTATION_REF_NAME.to_string(), k);
            } else if idx.manifests.iter().any(|m| m.digest == desc.digest) {
                return Ok(()); // already named: nothing to add
            }
            idx.manifests.push(d);
            Ok(())
        })
    }

    /// The tail of pull, load and import, once an image's blobs and layers are in place:
    /// records it in index.json under each of its names, or unnamed (`<none>`) if it has none.
    /// Until then nothing refers to what they added.
    pub fn name_image(&self, img: &Image) -> Result<()> {
        let path = self.blob_path(&img.manifest_digest);
        let size = fs::metadata(&path).ctx("stat", &path)?.len();
        let desc = Descriptor::new(MT_OCI_MANIFEST, img.manifest_digest.clone(), size);
        if img.names.is_empty() {
            return self.tag(None, &desc);
        }
        for n in &img.names {
            self.tag(Some(n), &desc)?;
        }
        Ok(())
    }

    /// Removes a name; returns whether it existed.
    pub fn untag(&self, name: &Reference) -> Result<bool> {
        let key = name.to_string();
        let mut found = false;
        self.update_index(|idx| {
            let before = idx.manifests.len();
            idx.manifests
                .retain(|m| m.annotations.get(ANNOTATION_REF_NAME) != Some(&key));
            found = idx.manifests.len() != before;
            Ok(())
        })?;
        Ok(found)
    }

    /// Drops every index entry of a manifest (all its names).
    pub fn remove_manifest(&self, d: &Digest) -> Result<()> {
        self.update_index(|idx| {
            idx.manifests.retain(|m| m.digest != *d);
            Ok(())
        })
    }

    /// All images, one per manifest, with their names.
    pub fn images(&self) -> Result<Vec<Image>> {
        let idx = self.read_index()?;
        let mut by_manifest: BTreeMap<Digest, Vec<Reference>> = BTreeMap::new();
        for m in &idx.manifests {
            let names = by_manifest.entry(m.digest.clone()).or_default();
            if let Some(n) = m.annotations.get(ANNOTATION_REF_NAME) {
                if let Ok(r) = n.parse::<Reference>() {
                    names.push(r);
                }
            }
        }
        let mut out = Vec::new();
        for (digest, names) in by_manifest {
            out.push(self.load_image(&digest, names)?);
        }
        Ok(out)
    }

    pub fn load_image(&self, manifest_digest: &Digest, names: Vec<Reference>) -> Result<Image> {
        let manifest: Manifest = self.read_json(manifest_digest, "image manifest")?;
        let config: ImageConfig = self.read_json(&manifest.config.digest, "image config")?;
        Ok(Image {
            names,
            manifest_digest: manifest_digest.clone(),
            config_digest: manifest.config.digest.clone(),
            manifest,
            config,
        })
    }

    /// Finds an image by reference (`busybox`, `busybox:1`, `host/repo@sha256:..`) or by id
    /// (full or unique prefix of the config digest, with or without `sha256:`).
    pub fn resolve(&self, what: &str) -> Result<Image> {
        let images = self.images()?;
        if let Ok(r) = what.parse::<Reference>() {
            if let Some(img) = images.iter().find(|i| {
                i.names.contains(&r)
                    || (r.digest.as_ref() == Some(&i.manifest_digest)
                        && i.names.iter().any(|n| n.name() == r.name()))
            }) {
                return Ok(img.clone());
            }
        }
        let hex = what.strip_prefix("sha256:").unwrap_or(what);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&Image> = images
                .iter()
                .filter(|i| {
                    i.id().hex().starts_with(hex) || i.manifest_digest.hex().starts_with(hex)
                })
                .collect();
            match hits.len() {
                1 => return Ok(hits[0].clone()),
                0 => {}
                _ => {
                    return Err(Error::Ambiguous(
                        what.to_string(),
                        hits.iter()
                            .map(|i| i.id().short().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ))
                }
            }
        }
        Err(Error::ImageNotFound(what.to_string()))
    }

    /// What the index references: the blobs of its images and the chain ids (hex) of their
    /// layers. Fails if a named image cannot be read (then nothing may be swept).
    pub(crate) fn referenced_objects(&self) -> Result<(BTreeSet<Digest>, BTreeSet<String>)> {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for img in self.images()? {
            blobs.insert(img.manifest_digest.clone());
            blobs.insert(img.config_digest.clone());
            blobs.extend(img.manifest.layers.iter().map(|l| l.digest.clone()));
            layers.extend(img.chain_ids().into_iter().map(|c| c.hex().to_string()));
        }
        Ok((blobs, layers))
    }

    /// Mark and sweep: removes blobs, layers and temp files nothing in index.json refers to,
    /// keeping the layers in `in_use` (chain id hex of layers live containers stack on).
    /// Returns (blobs removed, layers removed, bytes freed).
    pub fn gc(root: &Path, in_use: &BTreeSet<String>) -> Result<(usize, usize, u64)> {
        let dir = root.join("image");
        if !dir.exists() {
            return Ok((0, 0, 0));
        }
        // Exclusive: no writer is between writing a blob and naming it.
        let _l = lock(&dir.join(".gc.lock"), FlockArg::LockExclusive)?;
        let store = Store::handle(dir.clone(), None);
        let (mut blobs, mut layers) = store.referenced_objects()?;
        layers.extend(in_use.iter().cloned());
        // The build cache's images are not in the index (build/cache.rs).
        let (cb, cl) = crate::build::cache::referenced(root, &dir);
        blobs.extend(cb);
        layers.extend(cl);
        let (mut nb, mut nl, mut bytes) = (0, 0, 0u64);
        for e in fs::read_dir(dir.join("blobs/sha256"))
            .ctx("list", dir.join("blobs/sha256"))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().to_string();
            let keep = format!("sha256:{name}")
                .parse::<Digest>()
                .is_ok_and(|d| blobs.contains(&d));
            if !keep {
                bytes += journal::remove_counted(&e.path())?;
                nb += 1;
            }
        }
        for e in fs::read_dir(dir.join("layers"))
            .ctx("list", dir.join("layers"))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().to_string();
            if !layers.contains(&name) {
                bytes += journal::remove_counted(&e.path())?;
                nl += 1;
            }
        }
        // Temp files and stale journals (whose objects were swept above) go too.
        for e in fs::read_dir(dir.join("tmp"))
            .ctx("list", dir.join("tmp"))?
            .flatten()
        {
            bytes += journal::remove_counted(&e.path())?;
        }
        // Short overlay links whose layer is gone (rootfs.rs).
        if let Ok(rd) = fs::read_dir(dir.join("links")) {
            for e in rd.flatten() {
                if !e.path().exists() {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok((nb, nl, bytes))
    }
}

/// Writes `data` to `path` through a temp file in `dir`/tmp and a rename.
pub fn write_atomic(dir: &Path, path: &Path, data: &[u8]) -> Result<()> {
    let tmp = dir.join("tmp").join(format!(
        ".{}-{}-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = fsmode::create_file(&tmp, fsmode::FILE)?;
    f.write_all(data).ctx("write", &tmp)?;
    f.sync_all().ctx("fsync", &tmp)?;
    fs::rename(&tmp, path).ctx("rename", path)
}

impl Objects for Store {
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn blob_path(&self, d: &Digest) -> PathBuf {
        Store::blob_path(self, d)
    }
    fn layer_dir(&self, chain: &Digest) -> PathBuf {
        Store::layer_dir(self, chain)
    }
    fn referenced(&self) -> Result<(BTreeSet<Digest>, BTreeSet<String>)> {
        self.referenced_objects()
    }
}
