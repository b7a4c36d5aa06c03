//! Image references with Docker's grammar (distribution/reference): `busybox` is
//! `docker.io/library/busybox:latest`, `host:port/repo:tag`, `repo@sha256:...`.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

pub const DEFAULT_REGISTRY: &str = "docker.io";

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub registry: String,
    /// Path without the registry, e.g. `library/busybox`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

fn bad(s: &str, why: &str) -> Error {
    Error::InvalidReference {
        reference: s.to_string(),
        reason: why.to_string(),
    }
}

fn valid_component(c: &str) -> bool {
    // path-component: [a-z0-9]+ (separator [a-z0-9]+)* with separators ., _, __, -+
    if c.is_empty() || !c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit()) {
        return false;
    }
    if !c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit()) {
        return false;
    }
    let bytes = c.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let ch = bytes[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        // a separator run
        let start = i;
        while i < bytes.len() && matches!(bytes[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        // Neither a name character nor a separator (`a^b`, an ESC): without this check the
        // empty run passed as a separator and the loop never advanced.
        if i == start {
            return false;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Reference> {
        if s.is_empty() || s.len() > 255 + 128 + 72 {
            return Err(bad(s, "empty or too long"));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (
                n,
                Some(d.parse::<Digest>().map_err(|_| bad(s, "invalid digest"))?),
            ),
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag (a ':' before it is a registry port).
        let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].find(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad(s, "invalid tag"));
            }
        }
        let (registry, repo) = match name.split_once('/') {
            // The first component is a registry if it looks like a host: has a '.' or ':',
            // or is "localhost" (Docker's rule).
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if registry
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')))
        {
            return Err(bad(s, "invalid registry host"));
        }
        if repo.is_empty() || !repo.split('/').all(valid_component) {
            return Err(bad(
                s,
                "invalid repository name (lowercase letters, digits and . _ - separators)",
            ));
        }
        let repository = if registry == DEFAULT_REGISTRY && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

impl Reference {
    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form `docker images` prints: `busybox`, `localhost:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        s.parse::<Reference>().unwrap().to_string()
    }

    #[test]
    fn docker_normalisation() {
        assert_eq!(r("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(r("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(r("user/app"), "docker.io/user/app:latest");
        assert_eq!(r("localhost:5000/app:v1"), "localhost:5000/app:v1");
        assert_eq!(r("localhost/app"), "localhost/app:latest");
        assert_eq!(r("quay.io/a/b/c:t"), "quay.io/a/b/c:t");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            r(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            r(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
        let x: Reference = "shop/user-service:dev".parse().unwrap();
        assert_eq!(x.familiar_name(), "shop/user-service");
    }

    #[test]
    fn bad_references() {
        for bad in [
            "",
            "UPPER",
            "a:b:c",
            "app:",
            "a//b",
            "-a",
            "a@sha256:12",
            "a:bad tag",
            "a/.b",
            // Characters outside the grammar once made the parser spin forever.
            "a^b",
            "evil\x1b[31m:1",
            "x/y\u{9b}z",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad:?} accepted");
        }
    }
}
