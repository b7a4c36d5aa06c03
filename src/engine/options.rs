//! Docker's option syntaxes that every way of making a container shares (`run`, and next
//! build steps and compose services): sizes, env files, `-v`, `--mount`, `--tmpfs`. Each
//! parser takes the text as given and names the flag and value at fault in its error.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::Mount;

/// `64m`, `1g`, `512k`, `1048576` (bytes), as docker's --memory.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("size {s:?}: want a number with b, k, m or g"))?;
    if n < 0.0 {
        bail!("size {s:?} is negative");
    }
    Ok((n * mul as f64) as u64)
}

pub fn env_file(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--env-file {}", path.display()))?;
    parse_env_text(&text, &path.display().to_string())
}

/// The lines of an env file (`name` is the file, for messages): `KEY=VALUE` or a bare `KEY`
/// (taken from berth's environment later), blank lines and `#` comments skipped.
pub fn parse_env_text(text: &str, name: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let key = l.split('=').next().unwrap_or("");
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!("--env-file {name}:{}: {line:?} is not KEY=VALUE", i + 1);
        }
        out.push(l.to_string());
    }
    Ok(out)
}

/// `-v`: `/host:/ctr[:ro]` (bind), `name:/ctr[:ro]` (named volume), `/ctr` (anonymous).
pub fn volume(v: &str) -> Result<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => bail!("--volume {v:?}: want /host/path:/container/path[:ro] or name:/path[:ro]"),
    };
    if !dst.starts_with('/') {
        bail!("--volume {v:?}: the container path must be absolute");
    }
    let mut ro = false;
    let mut nocopy = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => ro = true,
            "rw" => ro = false,
            "nocopy" => nocopy = true,
            "z" | "Z" => {}
            other => bail!("--volume {v:?}: unknown option {other:?} (ro, rw, nocopy)"),
        }
    }
    if src.is_empty() || !src.starts_with('/') {
        if !src.is_empty() {
            super::volume::check_name(src).with_context(|| format!("--volume {v:?}"))?;
        }
        return Ok(Mount::Volume {
            name: (!src.is_empty()).then(|| src.to_string()),
            dst: dst.into(),
            ro,
            nocopy,
        });
    }
    if !Path::new(src).exists() {
        bail!("--volume {v:?}: host path {src} does not exist");
    }
    Ok(Mount::Bind {
        src: src.into(),
        dst: dst.into(),
        ro,
    })
}

/// `--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=64m]`.
pub fn mount(spec: &str) -> Result<Mount> {
    let mut kind = "volume";
    let (mut src, mut dst) = (String::new(), String::new());
    let (mut ro, mut nocopy) = (false, false);
    let mut tmpfs_opts = Vec::new();
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => kind = v,
            "source" | "src" => src = v.to_string(),
            "target" | "destination" | "dst" => dst = v.to_string(),
            "readonly" | "ro" => ro = v.is_empty() || v == "true" || v == "1",
            "volume-nocopy" => nocopy = v.is_empty() || v == "true",
            "tmpfs-size" => tmpfs_opts.push(format!("size={v}")),
            "tmpfs-mode" => tmpfs_opts.push(format!("mode={v}")),
            "bind-propagation" | "consistency" => {}
            other => bail!("--mount {spec:?}: unknown field {other:?}"),
        }
    }
    if !dst.starts_with('/') {
        bail!("--mount {spec:?}: target must be an absolute path");
    }
    Ok(match kind {
        "bind" => {
            if !src.starts_with('/') {
                bail!("--mount {spec:?}: a bind source must be an absolute host path");
            }
            if !Path::new(&src).exists() {
                bail!("--mount {spec:?}: host path {src} does not exist");
            }
            Mount::Bind {
                src: src.into(),
                dst,
                ro,
            }
        }
        "volume" => {
            if !src.is_empty() {
                super::volume::check_name(&src).with_context(|| format!("--mount {spec:?}"))?;
            }
            Mount::Volume {
                name: (!src.is_empty()).then_some(src),
                dst,
                ro,
                nocopy,
            }
        }
        "tmpfs" => Mount::Tmpfs {
            dst,
            options: tmpfs_opts,
        },
        other => bail!("--mount {spec:?}: type {other:?} is not bind, volume or tmpfs"),
    })
}

pub fn tmpfs(t: &str) -> Result<Mount> {
    let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
    if !dst.starts_with('/') {
        bail!("--tmpfs {t:?}: the container path must be absolute");
    }
    Ok(Mount::Tmpfs {
        dst: dst.into(),
        options: opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("512K").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("1.5m").unwrap(), 3 << 19);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn volumes() {
        assert!(matches!(
            volume("/tmp:/data:ro").unwrap(),
            Mount::Bind { ro: true, .. }
        ));
        assert!(matches!(
            volume("data:/data").unwrap(),
            Mount::Volume {
                name: Some(_),
                ro: false,
                ..
            }
        ));
        assert!(matches!(
            volume("/data").unwrap(),
            Mount::Volume { name: None, .. }
        ));
        assert!(volume("bad/name:/data").is_err());
        assert!(matches!(
            mount("type=volume,source=db,target=/var/db,readonly").unwrap(),
            Mount::Volume { ro: true, .. }
        ));
        assert!(matches!(
            mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap(),
            Mount::Tmpfs { .. }
        ));
        assert!(mount("type=bind,source=/nonexistent-berth,target=/x").is_err());
        assert!(mount("type=nfs,target=/x").is_err());
        assert!(volume("/nonexistent-berth-x:/data")
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
        assert!(volume("/tmp:/data:bogus").is_err());
    }
}
