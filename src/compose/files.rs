//! Configs and secrets (compose-spec `configs.md`, `secrets.md`) without swarm, as docker
//! compose does them: a service sees each one it names as a read-only file, a config at
//! `/<name>` (or its `target`), a secret at `/run/secrets/<name>` (or
//! `/run/secrets/<target>` for a relative target). A `file` source is bind-mounted; an
//! `environment` (a variable of the project) or `content` source is written into the
//! container's directory (`ContainerConfig.files`) with `mode` (default 0444), `uid` and
//! `gid`. External ones (a swarm's) are accepted by `config` and refused by `up`.

use anyhow::{anyhow, bail, Result};

use super::load::Project;
use super::model::{FileObjectDef, FileRef, Model, Service};
use crate::engine::config::{FileMount, Mount};

fn kinds(is_secret: bool) -> (&'static str, &'static str) {
    if is_secret {
        ("secrets", "secret")
    } else {
        ("configs", "config")
    }
}

/// References and definitions the types cannot check: every name a service uses is
/// defined; each definition has exactly one source; no swarm-only external ones.
pub fn check(m: &Model, file: &str) -> Result<()> {
    for is_secret in [false, true] {
        let (top, one) = kinds(is_secret);
        let defs = if is_secret { &m.secrets } else { &m.configs };
        for (n, d) in defs {
            let given = [
                d.file.is_some(),
                d.environment.is_some(),
                d.content.is_some(),
            ];
            let count = given.iter().filter(|x| **x).count();
            // External ones (a swarm's) pass `config`; a service using one fails at `up`.
            if d.external && count == 0 {
                continue;
            }
            if count != 1 {
                bail!("{file}: {top}.{n}: want exactly one of file, environment or content");
            }
            if is_secret && d.content.is_some() {
                bail!("{file}: {top}.{n}.content: a secret comes from a file or the environment");
            }
        }
        for (sn, s) in &m.services {
            let refs = if is_secret { &s.secrets } else { &s.configs };
            for (i, r) in refs.iter().enumerate() {
                if !defs.contains_key(&r.source) {
                    bail!(
                        "{file}: services.{sn}.{top}[{i}]: {one} {:?} is not declared under the top-level {top}",
                        r.source
                    );
                }
                if let Some(t) = &r.target {
                    if t.split('/').any(|p| p == "..") || t.is_empty() {
                        bail!("{file}: services.{sn}.{top}[{i}].target: {t:?} is not a file path");
                    }
                }
                if let Some(m) = &r.mode {
                    mode_of(m)
                        .map_err(|e| anyhow!("{file}: services.{sn}.{top}[{i}].mode: {e}"))?;
                }
            }
        }
    }
    Ok(())
}

/// `mode`: a number is the mode itself (YAML's `0o440`, as compose-go reads it); YAML 1.1's
/// `0440`, which the parser hands over as a float, and a string are octal digits.
fn mode_of(v: &serde_json::Value) -> Result<u32> {
    let m = match v {
        serde_json::Value::Number(n) if n.is_u64() => n
            .as_u64()
            .and_then(|x| u32::try_from(x).ok())
            .ok_or_else(|| anyhow!("{n} is too big"))?,
        serde_json::Value::Number(n)
            if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f >= 0.0) =>
        {
            let digits = format!("{}", n.as_f64().unwrap_or_default() as u64);
            u32::from_str_radix(&digits, 8).map_err(|_| anyhow!("{digits:?} is not octal"))?
        }
        serde_json::Value::String(s) => {
            let digits = s.trim_start_matches("0o");
            u32::from_str_radix(digits, 8).map_err(|_| anyhow!("{s:?} is not octal"))?
        }
        x => bail!("want an octal mode, found {x}"),
    };
    if m > 0o7777 {
        bail!("{m:o} is more than 7777");
    }
    Ok(m)
}

fn id_of(v: Option<&str>, what: &str) -> Result<u32> {
    match v {
        None => Ok(0),
        Some(s) => s
            .parse()
            .map_err(|_| anyhow!("{what} {s:?}: want a numeric id")),
    }
}

/// Where a service sees `r` (absolute).
fn target(r: &FileRef, is_secret: bool) -> String {
    let t = r.target.clone().unwrap_or_else(|| r.source.clone());
    match (t.starts_with('/'), is_secret) {
        (true, _) => t,
        (false, true) => format!("/run/secrets/{t}"),
        (false, false) => format!("/{t}"),
    }
}

fn content_of(p: &Project, d: &FileObjectDef, at: &str) -> Result<Vec<u8>> {
    if let Some(c) = &d.content {
        return Ok(c.clone().into_bytes());
    }
    let var = d.environment.as_deref().unwrap_or_default();
    p.env
        .get(var)
        .map(|v| v.clone().into_bytes())
        .ok_or_else(|| anyhow!("{at}: environment variable {var:?} is not set"))
}

/// The mounts (file sources) and files (the others) service `s` gets.
pub fn mounts(p: &Project, name: &str, s: &Service) -> Result<(Vec<Mount>, Vec<FileMount>)> {
    let (mut mounts, mut files) = (Vec::new(), Vec::new());
    for is_secret in [false, true] {
        let (top, _) = kinds(is_secret);
        let (refs, defs) = if is_secret {
            (&s.secrets, &p.model.secrets)
        } else {
            (&s.configs, &p.model.configs)
        };
        for (i, r) in refs.iter().enumerate() {
            let at = format!("services.{name}.{top}[{i}]");
            let d = defs
                .get(&r.source)
                .ok_or_else(|| anyhow!("{at}: {:?} is not declared", r.source))?;
            if d.external {
                bail!("{at}: {top}.{} is external: external {top} live in a swarm; give a file or environment source", r.source);
            }
            let dst = target(r, is_secret);
            if let Some(f) = &d.file {
                if !std::path::Path::new(f).exists() {
                    bail!("{at}: {top}.{}.file {f} does not exist", r.source);
                }
                mounts.push(Mount::Bind {
                    src: f.into(),
                    dst,
                    ro: true,
                });
                continue;
            }
            files.push(FileMount {
                dst,
                content: content_of(p, d, &format!("{top}.{}", r.source))?,
                mode: match &r.mode {
                    Some(m) => mode_of(m).map_err(|e| anyhow!("{at}.mode: {e}"))?,
                    None => 0o444,
                },
                uid: id_of(r.uid.as_deref(), &format!("{at}.uid"))?,
                gid: id_of(r.gid.as_deref(), &format!("{at}.gid"))?,
            });
        }
    }
    Ok((mounts, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_modes() {
        let r = |t: Option<&str>| FileRef {
            source: "s".into(),
            target: t.map(String::from),
            ..FileRef::default()
        };
        assert_eq!(target(&r(None), false), "/s");
        assert_eq!(target(&r(None), true), "/run/secrets/s");
        assert_eq!(target(&r(Some("x.txt")), true), "/run/secrets/x.txt");
        assert_eq!(target(&r(Some("/etc/x")), false), "/etc/x");
        assert_eq!(mode_of(&serde_json::json!(288)).unwrap(), 0o440);
        assert_eq!(mode_of(&serde_json::json!(440.0)).unwrap(), 0o440);
        assert_eq!(mode_of(&serde_json::json!("0440")).unwrap(), 0o440);
        assert!(mode_of(&serde_json::json!("9")).is_err());
    }
}
