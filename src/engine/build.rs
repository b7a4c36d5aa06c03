//! `berth build`'s engine side: the image crate's builder (image/src/build/) runs the
//! Dockerfile; RUN steps come back here as containers made through the engine API.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::config::NetworkMode;

/// Where the Dockerfile comes from.
#[derive(Debug, Clone)]
pub enum Dockerfile {
    /// A file (default: `<context>/Dockerfile`).
    Path(PathBuf),
    /// The text itself (`-f -`, or a compose file's `dockerfile_inline`).
    Inline(String),
}

/// Everything a build needs: plain data, so the CLI and compose fill it alike.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// None: `<context>/Dockerfile`.
    pub dockerfile: Option<Dockerfile>,
    /// References to name the result (`-t`), e.g. `web:latest`.
    pub tags: Vec<String>,
    /// `--build-arg K=V`.
    pub build_args: BTreeMap<String, String>,
    /// `--target STAGE`: the stage to build (default: the last).
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--pull`: pull FROM images even when the store has them.
    pub pull: bool,
    /// `--label K=V` on the final image.
    pub labels: BTreeMap<String, String>,
    /// The network RUN steps see (None: the build default, `BUILD_NETWORK`).
    pub network: Option<NetworkMode>,
    /// `-q`: print only the image id at the end (the caller does); no step output.
    pub quiet: bool,
}

/// The network RUN steps get when none is asked for. Host for now; the default bridge once
/// networks land (change this one constant).
pub const BUILD_NETWORK: NetworkMode = NetworkMode::Host;

/// Builds the image `o` describes under `root`, writing BuildKit-style plain progress to
/// `progress`; returns the image id (`sha256:...`).
pub fn build(root: &Path, o: &BuildOptions, progress: &mut dyn Write) -> Result<String> {
    let _ = (root, progress);
    anyhow::bail!(
        "build of {}: berth build is not implemented yet",
        o.context.display()
    )
}
