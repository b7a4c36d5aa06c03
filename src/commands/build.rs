//! `berth build` and `berth builder prune`: flags in, one engine call, the image id out.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_image::Store;

use crate::cli::{BuildArgs, ProgressMode};
use crate::engine::build::{BuildOptions, Dockerfile, StdinContext};
use crate::engine::config::NetworkMode;

fn key_values(flag: &str, items: &[String], from_env: bool) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for it in items {
        match it.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            None if from_env && !it.is_empty() => {
                // `--build-arg KEY`: the value from berth's environment, if set.
                if let Ok(v) = std::env::var(it) {
                    out.insert(it.clone(), v);
                }
            }
            _ => bail!("{flag} {it:?}: want KEY=VALUE"),
        }
    }
    Ok(out)
}

pub fn build(root: &Path, a: BuildArgs) -> Result<()> {
    // `build -`: the context (a tar) or the Dockerfile (anything else) from stdin.
    let stdin = if a.context.as_os_str() == "-" {
        if a.file.as_deref() == Some("-") {
            bail!("-f - with context -: stdin cannot be both the context and the Dockerfile");
        }
        Some(StdinContext::read(root, std::io::stdin().lock())?)
    } else {
        None
    };
    let dockerfile = match (a.file.as_deref(), &stdin) {
        (
            _,
            Some(StdinContext {
                dockerfile: Some(t),
                ..
            }),
        ) => {
            if let Some(f) = &a.file {
                bail!("-f {f}: stdin was a Dockerfile, not a context to find {f} in");
            }
            Some(Dockerfile::Inline(t.clone()))
        }
        // With a tar context, -f names a file inside it (as Docker).
        (Some(f), Some(s)) => Some(Dockerfile::Path(
            s.dir.path().join(f.trim_start_matches('/')),
        )),
        (None, _) => None,
        (Some("-"), None) => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("read the Dockerfile from stdin")?;
            Some(Dockerfile::Inline(t))
        }
        (Some(p), None) => Some(Dockerfile::Path(p.into())),
    };
    let network = match a.network.as_deref() {
        None | Some("default") => None,
        Some(n @ ("none" | "host")) => Some(n.parse::<NetworkMode>()?),
        Some(n) => bail!("--network {n:?}: want default, none or host"),
    };
    let quiet = a.quiet || a.progress == ProgressMode::Quiet;
    let o = BuildOptions {
        context: match &stdin {
            Some(s) => s.dir.path().to_path_buf(),
            None => a.context.clone(),
        },
        transient_context: stdin.is_some(),
        dockerfile,
        tags: a.tags.clone(),
        build_args: key_values("--build-arg", &a.build_args, true)?,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        labels: key_values("--label", &a.labels, false)?,
        network,
        quiet,
    };
    let tty = match a.progress {
        ProgressMode::Tty => true,
        ProgressMode::Auto => nix::unistd::isatty(std::io::stderr()).unwrap_or(false),
        _ => false,
    };
    let id = if quiet {
        crate::engine::build::build(root, &o, &mut std::io::sink())?
    } else {
        crate::engine::build::build_with(root, &o, &mut std::io::stderr().lock(), tty)?
    };
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id).with_context(|| format!("--iidfile {}", f.display()))?;
    }
    if a.quiet {
        println!("{id}");
    }
    Ok(())
}

/// `builder prune`: the cache forgotten, then what only it held collected.
pub fn prune(root: &Path, force: bool) -> Result<()> {
    if !force && !crate::commands::output::confirm("WARNING! This will remove all build cache.")? {
        return Ok(());
    }
    let n = berth_image::build::cache::clear(root)?;
    let (blobs, layers, bytes) = Store::gc(root, &crate::engine::layers_in_use(root))?;
    println!(
        "Deleted {n} build cache entries, {blobs} blobs and {layers} layers\nTotal reclaimed space: {bytes} B"
    );
    Ok(())
}
