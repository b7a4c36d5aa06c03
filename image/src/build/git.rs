//! `ADD <git url>`: a repository checked out with the machine's `git` (as BuildKit does
//! with its git source), `.git` left out. URL forms as BuildKit takes them:
//! `https://host/path.git`, `git://…`, `git@host:path`, with `#ref` and `#ref:subdir`.
//! The ref is fetched at depth 1 when the server allows it (smart HTTP, git://), fully
//! otherwise (dumb HTTP cannot do shallow fetches).

use std::path::Path;
use std::process::{Command, Stdio};

/// A git source: where to fetch, what, and which directory of it to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    pub remote: String,
    /// None: the remote's HEAD.
    pub reference: Option<String>,
    /// None: the whole checkout.
    pub subdir: Option<String>,
}

/// Whether an ADD source names a git repository (BuildKit's `IsGitURL` for the forms
/// above: a `.git` path, `git://` or `git@`).
pub fn is_git(s: &str) -> bool {
    let base = s.split('#').next().unwrap_or(s);
    s.starts_with("git://")
        || s.starts_with("git@")
        || ((s.starts_with("https://") || s.starts_with("http://")) && base.ends_with(".git"))
}

/// Splits `url#ref:subdir`. A ref or a subdir that could be read as an option, or a
/// subdir that climbs out (`..`), is refused.
pub fn parse(s: &str) -> Result<GitSource, String> {
    let (remote, frag) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    let (r, d) = match frag.map(|f| f.split_once(':').unwrap_or((f, ""))) {
        Some((r, d)) => (r, d.trim_matches('/')),
        None => ("", ""),
    };
    let some = |x: &str| (!x.is_empty()).then(|| x.to_string());
    let (reference, subdir) = (some(r), some(d));
    if remote.starts_with('-') || reference.as_deref().is_some_and(|r| r.starts_with('-')) {
        return Err(format!("{s}: a git remote or ref cannot start with '-'"));
    }
    if let Some(d) = &subdir {
        if d.split('/').any(|p| p == "..") {
            return Err(format!(
                "{s}: the subdirectory {d:?} climbs out of the repository"
            ));
        }
    }
    Ok(GitSource {
        remote: remote.to_string(),
        reference,
        subdir,
    })
}

fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        // Never ask for credentials on a terminal; no system or user config.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("git: {e} (ADD of a git repository needs git on the machine)"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("git {}: {}", args.join(" "), err.trim()));
    }
    Ok(())
}

/// Checks `src` out into `dir` (empty), without `.git`.
pub fn checkout(src: &GitSource, dir: &Path) -> Result<(), String> {
    git(dir, &["init", "-q"])?;
    let what = src.reference.as_deref().unwrap_or("HEAD");
    let shallow = git(
        dir,
        &["fetch", "-q", "--depth", "1", "--", &src.remote, what],
    );
    if shallow.is_err() {
        git(dir, &["fetch", "-q", "--", &src.remote, what])
            .map_err(|e| format!("{}#{what}: {e}", src.remote))?;
    }
    git(
        dir,
        &[
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "-q",
            "FETCH_HEAD",
        ],
    )?;
    crate::fsmode::remove_tree(&dir.join(".git")).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_and_fragments() {
        assert!(is_git("https://github.com/a/b.git#main"));
        assert!(is_git("git@github.com:a/b.git"));
        assert!(is_git("git://h/x"));
        assert!(!is_git("https://h/x.tar.gz"));
        let s = parse("https://h/r.git#v1:sub/dir/").unwrap();
        assert_eq!(s.remote, "https://h/r.git");
        assert_eq!(s.reference.as_deref(), Some("v1"));
        assert_eq!(s.subdir.as_deref(), Some("sub/dir"));
        let s = parse("https://h/r.git").unwrap();
        assert_eq!((s.reference, s.subdir), (None, None));
        let s = parse("https://h/r.git#:d").unwrap();
        assert_eq!((s.reference, s.subdir.as_deref()), (None, Some("d")));
        assert!(parse("https://h/r.git#--upload-pack=x").is_err());
        assert!(parse("https://h/r.git#main:../x").is_err());
    }
}
