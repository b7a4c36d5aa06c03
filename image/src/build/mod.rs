//! Building images from Dockerfiles: parse (parser.rs, words.rs), plan the stages
//! (plan.rs), run each step into an image in the store (exec.rs) with a layer per
//! filesystem change (copy.rs fills one, pack.rs tars it), skipping steps the cache
//! (cache.rs) already has. RUN steps go through `StepRunner`, which the engine implements
//! with containers: this crate knows nothing of them.
//!
//! ```text
//! exec.rs      stages and steps: FROM, RUN, COPY/ADD, WORKDIR, the metadata instructions
//!   ├─ plan.rs       stages, meta ARGs, --target, the stages needed
//!   ├─ copy.rs       COPY/ADD/WORKDIR into a fresh layer dir (Docker's dir rules, chown)
//!   │    └─ fsview.rs  an image's layers and the context (.dockerignore) as trees
//!   ├─ pack.rs       a directory -> a gzip layer blob (overlay whiteouts -> .wh.)
//!   ├─ cache.rs      step key -> image, under <root>/build-cache/
//!   └─ progress.rs   BuildKit's plain progress
//! parser.rs    text -> instructions.rs (typed), words.rs (substitution), ignore.rs
//! ```

pub mod cache;
pub mod copy;
mod exec;
pub mod fetch;
pub mod fsview;
pub mod git;
pub mod hashes;
pub mod ignore;
pub mod instructions;
mod meta;
pub mod pack;
pub mod parser;
pub mod plan;
pub mod progress;
mod state;
mod sys;
pub mod words;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use exec::build;
pub use instructions::{Cmd, CmdLine, Dockerfile, Instruction};
pub use parser::{parse, ParseError};
pub use state::duration_ns;

use crate::error::Result;
use crate::reference::Reference;
use crate::store::Image;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// berth's root (the cache lives in `<root>/build-cache/`).
    pub root: PathBuf,
    /// The context directory.
    pub context: PathBuf,
    /// The context is a scratch directory made for this build (`build -`): its files'
    /// digests are not remembered for the next build.
    pub transient_context: bool,
    pub dockerfile_text: String,
    /// How errors name the Dockerfile (its path as given).
    pub dockerfile_name: String,
    /// Where the Dockerfile is (None: inline): a `<Dockerfile>.dockerignore` beside it
    /// is used instead of the context's `.dockerignore`, as BuildKit does.
    pub dockerfile_path: Option<PathBuf>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// Pull FROM images even if the store has them.
    pub pull: bool,
    /// Labels on the final image.
    pub labels: BTreeMap<String, String>,
    /// Names of the final image.
    pub tags: Vec<Reference>,
    /// Registries pulled from over plain http.
    pub insecure_registries: Vec<String>,
    /// Who to pull base images as, by registry (`login`).
    pub credentials: std::collections::BTreeMap<String, crate::auth::Credentials>,
    /// Progress as a compact live view for a terminal, not BuildKit's plain lines.
    pub tty: bool,
}

/// A RUN step as the engine gets it.
pub struct RunStep<'a> {
    /// The image to run on: the state before the step, in the store but not named.
    pub image: &'a Image,
    pub argv: Vec<String>,
    /// `KEY=VALUE`: the image's ENV, the stage's ARGs, proxy build args.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// `RUN --network=` (default, none, host); None: the build's network.
    pub network: Option<String>,
}

/// Runs RUN steps: implemented by the engine with containers. Independent stages run on
/// threads of their own, so one runner serves several steps at once.
pub trait StepRunner: Sync {
    /// Runs `step.argv` in a container made from `step.image`, its stdout and stderr into
    /// `out`. If it exits 0, calls `commit` with the container's upper directory (its
    /// changes) before the container goes; otherwise (or on SIGINT) fails, saying why. The
    /// container is gone either way.
    fn run(
        &self,
        step: &RunStep<'_>,
        out: &mut dyn Write,
        commit: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> Result<()>;

    /// Whether the user asked the build to stop (SIGINT): checked between steps.
    fn interrupted(&self) -> bool {
        false
    }
}
