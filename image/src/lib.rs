//! berth's images: bytes from a registry or an archive (later a Dockerfile) become verified
//! blobs in an OCI content store and unpacked layers that containers stack with overlayfs.
//! Knows nothing of containers, namespaces or networks.
//!
//! ```text
//! registry.rs  archive.rs    the ways in (pull; load, import) and out (save)
//!   ├─ layers.rs             a stack's layers unpacked once per chain id
//!   │    └─ unpack/          one layer blob -> one directory, safely, with its digests
//!   └─ store.rs              blobs (BlobWriter, the one writer), index.json (name_image), gc
//!        └─ journal.rs       what a load/import added, taken back if it fails or is killed
//! rootfs.rs                  an image's layers as an overlay for one container
//! ground floor               digest.rs reference.rs model.rs error.rs fsmode.rs text.rs
//! ```

pub mod archive;
pub mod auth;
pub mod build;
pub mod commit;
pub mod digest;
pub mod error;
pub mod fsmode;
mod journal;
pub mod layers;
pub mod model;
pub mod push;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod store;
pub mod text;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub use store::{Image, Store};
