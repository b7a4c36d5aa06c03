//! Read-only views of the trees a build copies from and into: an image's unpacked layers
//! seen as one filesystem (top layer first, overlayfs whiteouts and opaque directories
//! honoured, symlinks in parent paths resolved inside the image), and the build context
//! (a host directory filtered by .dockerignore). Neither is mounted.

use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::ignore::Matcher;
use super::sys::get_xattr;

/// A tree to copy from: entries by `/`-separated relative path ("" is the root).
pub trait Tree {
    /// The entry at `rel` (not followed if a symlink): where its bytes are, its metadata.
    fn stat(&self, rel: &str) -> Option<(PathBuf, Metadata)>;
    /// The names in directory `rel`, sorted.
    fn list(&self, rel: &str) -> Vec<String>;
    /// A directory walked only for what an exception may re-include beneath it: it is
    /// copied only if something beneath it is.
    fn hidden(&self, _rel: &str) -> bool {
        false
    }
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// Cleans a path inside a tree: no leading `/`, no `.` or empty elements, `..` stops at the
/// root (a path cannot leave the tree).
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for el in p.split('/') {
        match el {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            e => out.push(e),
        }
    }
    out.join("/")
}

fn is_whiteout(m: &Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// An image's filesystem from its unpacked layer directories.
pub struct ImageFs {
    /// Top layer first.
    layers: Vec<PathBuf>,
}

impl ImageFs {
    /// `layers` bottom first, as `layers::ensure` returns them.
    pub fn new(mut layers: Vec<PathBuf>) -> ImageFs {
        layers.reverse();
        ImageFs { layers }
    }

    /// The entry at `rel` as written (no symlinks followed).
    fn raw(&self, rel: &str) -> Option<(PathBuf, Metadata)> {
        let rel = clean(rel);
        if rel.is_empty() {
            let top = self.layers.first()?;
            return fs::symlink_metadata(top).ok().map(|m| (top.clone(), m));
        }
        let parts: Vec<&str> = rel.split('/').collect();
        'layers: for l in &self.layers {
            // A parent deleted or replaced by a non-directory in this layer hides the rest.
            let mut p = l.clone();
            for (i, part) in parts.iter().enumerate() {
                p.push(part);
                match fs::symlink_metadata(&p) {
                    Ok(m) if is_whiteout(&m) => return None,
                    Ok(m) if i + 1 == parts.len() => return Some((p, m)),
                    Ok(m) if m.is_dir() => {
                        if get_xattr(&p, c"trusted.overlay.opaque").as_deref() == Some(b"y") {
                            // Nothing below this directory in lower layers.
                            let rest = parts[i + 1..].join("/");
                            return fs::symlink_metadata(p.join(&rest))
                                .ok()
                                .filter(|m| !is_whiteout(m))
                                .map(|m| (p.join(rest), m));
                        }
                    }
                    Ok(_) => return None,
                    Err(_) => continue 'layers,
                }
            }
        }
        None
    }

    /// `rel` with the symlinks among its parents (and, with `last`, itself) resolved within
    /// the image, as the kernel would inside a container whose `/` is the image.
    pub fn resolve(&self, rel: &str, last: bool) -> String {
        let mut todo: Vec<String> = clean(rel).split('/').map(String::from).collect();
        todo.reverse();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            if part.is_empty() || part == "." {
                continue;
            }
            if part == ".." {
                done.pop();
                continue;
            }
            let cand = join(&done.join("/"), &part);
            let follow = last || !todo.is_empty();
            match self.raw(&cand) {
                Some((p, m)) if follow && m.file_type().is_symlink() && hops < 40 => {
                    hops += 1;
                    let Ok(t) = fs::read_link(&p) else {
                        done.push(part);
                        continue;
                    };
                    let t = t.to_string_lossy().to_string();
                    if t.starts_with('/') {
                        done.clear();
                    }
                    for x in t.split('/').rev() {
                        todo.push(x.to_string());
                    }
                }
                _ => done.push(part),
            }
        }
        done.join("/")
    }

    /// A file's content (symlinks followed), e.g. /etc/passwd.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        let (p, m) = self.raw(&self.resolve(rel, true))?;
        if !m.is_file() {
            return None;
        }
        fs::read(p).ok()
    }
}

impl Tree for ImageFs {
    fn stat(&self, rel: &str) -> Option<(PathBuf, Metadata)> {
        self.raw(&self.resolve(rel, false))
    }

    fn list(&self, rel: &str) -> Vec<String> {
        let rel = self.resolve(rel, true);
        let mut seen = std::collections::BTreeMap::new();
        for l in &self.layers {
            let p = if rel.is_empty() {
                l.clone()
            } else {
                l.join(&rel)
            };
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => break,
                Err(_) => continue,
            }
            if let Ok(rd) = fs::read_dir(&p) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    let visible = e.metadata().is_ok_and(|m| !is_whiteout(&m));
                    seen.entry(name).or_insert(visible);
                }
            }
            if get_xattr(&p, c"trusted.overlay.opaque").as_deref() == Some(b"y") {
                break;
            }
        }
        seen.into_iter()
            .filter(|(_, v)| *v)
            .map(|(n, _)| n)
            .collect()
    }
}

/// The build context: a host directory, less what .dockerignore excludes.
#[derive(Clone)]
pub struct Context {
    pub dir: PathBuf,
    pub ignore: Matcher,
}

impl Tree for Context {
    fn stat(&self, rel: &str) -> Option<(PathBuf, Metadata)> {
        let rel = clean(rel);
        let p = if rel.is_empty() {
            self.dir.clone()
        } else {
            self.dir.join(&rel)
        };
        let m = fs::symlink_metadata(&p).ok()?;
        // An excluded directory still holds what an exception re-includes.
        if !rel.is_empty()
            && self.ignore.excluded(&rel)
            && !(m.is_dir() && self.ignore.has_exceptions())
        {
            return None;
        }
        Some((p, m))
    }

    fn hidden(&self, rel: &str) -> bool {
        let rel = clean(rel);
        !rel.is_empty() && self.ignore.excluded(&rel)
    }

    fn list(&self, rel: &str) -> Vec<String> {
        let rel = clean(rel);
        let p = if rel.is_empty() {
            self.dir.clone()
        } else {
            self.dir.join(&rel)
        };
        let mut names: Vec<String> = fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.retain(|n| {
            let full = join(&rel, n);
            // An excluded directory is still walked if an exception may re-include a path
            // beneath it.
            !self.ignore.excluded(&full)
                || (self.ignore.has_exceptions()
                    && fs::symlink_metadata(self.dir.join(&full)).is_ok_and(|m| m.is_dir()))
        });
        names.sort();
        names
    }
}

/// The entries of `tree` that match the source pattern `src` (a path or a glob with `*`,
/// `?`, `[..]`), as relative paths, sorted.
pub fn matches(tree: &dyn Tree, src: &str) -> Vec<String> {
    let src = clean(src);
    if !src.contains(['*', '?', '[']) {
        return tree.stat(&src).map(|_| vec![src]).unwrap_or_default();
    }
    let parts: Vec<&str> = src.split('/').collect();
    let mut found = vec![String::new()];
    for part in parts {
        let mut next = Vec::new();
        for dir in &found {
            if !part.contains(['*', '?', '[']) {
                let cand = join(dir, part);
                if tree.stat(&cand).is_some() {
                    next.push(cand);
                }
                continue;
            }
            let pat: Vec<char> = part.chars().collect();
            for name in tree.list(dir) {
                let n: Vec<char> = name.chars().collect();
                if super::ignore::glob(&pat, &n) {
                    let cand = join(dir, &name);
                    if tree.stat(&cand).is_some() {
                        next.push(cand);
                    }
                }
            }
        }
        found = next;
    }
    found.sort();
    found.dedup();
    found
}

/// Every path beneath `rel` in `tree` (rel itself first), depth first in name order.
pub fn walk(tree: &dyn Tree, rel: &str, out: &mut Vec<(String, PathBuf, Metadata)>) {
    let Some((p, m)) = tree.stat(rel) else {
        return;
    };
    let is_dir = m.is_dir();
    let at = out.len();
    out.push((rel.to_string(), p, m));
    if is_dir {
        for n in tree.list(rel) {
            walk(tree, &join(rel, &n), out);
        }
        if out.len() == at + 1 && tree.hidden(rel) {
            out.pop();
        }
    }
}

/// The path of `rel` (cleaned) under `root` on the host.
pub fn host_path(root: &Path, rel: &str) -> PathBuf {
    let rel = clean(rel);
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_seen_as_one_tree() {
        let d = tempfile::tempdir().unwrap();
        let (l0, l1) = (d.path().join("l0"), d.path().join("l1"));
        fs::create_dir_all(l0.join("usr/bin")).unwrap();
        fs::write(l0.join("usr/bin/sh"), "sh").unwrap();
        fs::write(l0.join("usr/bin/gone"), "x").unwrap();
        std::os::unix::fs::symlink("usr/bin", l0.join("bin")).unwrap();
        fs::create_dir_all(l1.join("usr/bin")).unwrap();
        fs::write(l1.join("usr/bin/new"), "n").unwrap();
        nix::sys::stat::mknod(
            &l1.join("usr/bin/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let fs_ = ImageFs::new(vec![l0.clone(), l1.clone()]);
        assert_eq!(fs_.list("usr/bin"), vec!["new", "sh"]);
        assert_eq!(fs_.list("bin"), vec!["new", "sh"]);
        assert!(fs_.stat("usr/bin/gone").is_none());
        assert_eq!(fs_.resolve("bin/x", false), "usr/bin/x");
        assert_eq!(fs_.read("/bin/sh").unwrap(), b"sh");
        assert_eq!(fs_.stat("bin/sh").unwrap().0, l0.join("usr/bin/sh"));
        assert_eq!(
            matches(&fs_, "usr/bin/*"),
            vec!["usr/bin/new", "usr/bin/sh"]
        );
    }

    #[test]
    fn context_honours_dockerignore() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("src/gen")).unwrap();
        fs::write(d.path().join("a.py"), "").unwrap();
        fs::write(d.path().join("b.tmp"), "").unwrap();
        fs::write(d.path().join("keep.tmp"), "").unwrap();
        fs::write(d.path().join("src/gen/x"), "").unwrap();
        let c = Context {
            dir: d.path().to_path_buf(),
            ignore: Matcher::new("*.tmp\n!keep.tmp\nsrc/gen\n").unwrap(),
        };
        assert_eq!(c.list(""), vec!["a.py", "keep.tmp", "src"]);
        assert_eq!(matches(&c, "*.tmp"), vec!["keep.tmp"]);
        assert!(c.stat("src/gen/x").is_none());
        let mut all = Vec::new();
        walk(&c, "", &mut all);
        let names: Vec<&str> = all.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(names, ["", "a.py", "keep.tmp", "src"]);
    }
}
