//! `diff`, `commit`, `export`: a container's filesystem as changes, an image, a tar.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

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
    super::output::write_archive(output, |w| snapshot::export(root, name, w))
}
