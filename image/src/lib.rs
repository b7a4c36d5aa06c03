//! berth's images: bytes from an archive (later a registry or a Dockerfile) become verified
//! blobs in an OCI content store and unpacked layers that containers stack with overlayfs.
//! Knows nothing of containers, namespaces or networks.

pub mod archive;
pub mod digest;
pub mod error;
pub mod fsmode;
mod journal;
pub mod layers;
pub mod model;
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
