//! `diff`, `commit`, `export`: a container's filesystem as changes, an image, a tar.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::CommitArgs;
use crate::engine::snapshot::{self, Commit};

pub fn diff(root: &Path, name: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for c in snapshot::diff(root, name)? {
        writeln!(out, "{} {}", c.kind, crate::text::escape_controls(&c.path))?;
    }
    Ok(())
}

/// Prints the new image's id, as Docker does.
pub fn commit(root: &Path, a: CommitArgs) -> Result<()> {
    let img = snapshot::commit(
        root,
        &a.container,
        &Commit {
            author: a.author,
            comment: a.message,
            changes: a.change,
            name: a.repository,
            pause: a.pause,
        },
    )?;
    println!("{}", img.id());
    Ok(())
}

pub fn export(root: &Path, name: &str, output: Option<&Path>) -> Result<()> {
    match output {
        Some(p) => {
            // Written next to the target and renamed: an interrupted export leaves no half file.
            let tmp = p.with_file_name(format!(
                ".{}.berth-tmp",
                p.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            ));
            let f =
                std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            let res = snapshot::export(root, name, &mut w).and_then(|()| Ok(w.flush()?));
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, p).with_context(|| format!("rename to {}", p.display()))
        }
        None => {
            if nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
                bail!("refusing to write an archive to a terminal: use -o FILE or redirect stdout");
            }
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            snapshot::export(root, name, &mut w)?;
            w.flush()?;
            Ok(())
        }
    }
}
