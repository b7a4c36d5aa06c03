//! `berth run`: flags in Docker's syntax become RunOptions; errors name the flag at fault.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::RunArgs;
use crate::engine::container::RestartPolicy;
use crate::engine::seccomp::Seccomp;
use crate::engine::{self, Mount, RunOptions};

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

fn env_file(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--env-file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let key = l.split('=').next().unwrap_or("");
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!(
                "--env-file {}:{}: {line:?} is not KEY=VALUE",
                path.display(),
                i + 1
            );
        }
        out.push(l.to_string());
    }
    Ok(out)
}

/// `-v`: `/host:/ctr[:ro]` (bind), `name:/ctr[:ro]` (named volume), `/ctr` (anonymous).
fn volume(v: &str) -> Result<Mount> {
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
            crate::engine::volume::check_name(src).with_context(|| format!("--volume {v:?}"))?;
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
fn mount(spec: &str) -> Result<Mount> {
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
                crate::engine::volume::check_name(&src)
                    .with_context(|| format!("--mount {spec:?}"))?;
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

fn tmpfs(t: &str) -> Result<Mount> {
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

pub fn run(root: &Path, a: RunArgs) -> Result<i32> {
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(env_file(f)?);
    }
    env.extend(a.env.iter().cloned());
    let mut mounts = Vec::new();
    for v in &a.volume {
        mounts.push(volume(v)?);
    }
    for m in &a.mount {
        mounts.push(mount(m)?);
    }
    for t in &a.tmpfs {
        mounts.push(tmpfs(t)?);
    }
    let memory = a
        .memory
        .as_deref()
        .map(parse_size)
        .transpose()
        .context("--memory")?;
    let mut no_new_privs = false;
    let mut seccomp = Seccomp::Default;
    for o in &a.security_opt {
        match o.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                no_new_privs = true
            }
            "no-new-privileges:false" | "no-new-privileges=false" => no_new_privs = false,
            "seccomp=unconfined" | "seccomp:unconfined" => seccomp = Seccomp::Unconfined,
            other => match other
                .strip_prefix("seccomp=")
                .or_else(|| other.strip_prefix("seccomp:"))
            {
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("--security-opt {other:?}: read {file}"))?;
                    seccomp = Seccomp::Custom(file.to_string(), text);
                }
                None => bail!(
                    "--security-opt {other:?}: supported: no-new-privileges[:true|false], seccomp=unconfined|FILE"
                ),
            },
        }
    }
    let host_network = match a.network.as_str() {
        "none" => false,
        "host" => true,
        other => bail!("--network {other:?}: none or host (bridge networks come later)"),
    };
    let restart = RestartPolicy::parse(&a.restart)?;
    if a.rm && restart.name != "no" {
        bail!("conflicting options: --restart {} and --rm", a.restart);
    }
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            bail!("--label {l:?}: want KEY=VALUE");
        }
        labels.insert(k.to_string(), v.to_string());
    }
    let mut log_opts = BTreeMap::new();
    for o in &a.log_opt {
        match o.split_once('=') {
            Some(("max-size", v)) => {
                parse_size(v).with_context(|| format!("--log-opt {o:?}"))?;
                log_opts.insert("max-size".to_string(), v.to_string());
            }
            Some(("max-file", v)) if v.parse::<u32>().is_ok_and(|n| n > 0) => {
                log_opts.insert("max-file".to_string(), v.to_string());
            }
            _ => bail!("--log-opt {o:?}: supported: max-size=SIZE, max-file=N"),
        }
    }
    if let Some(s) = &a.stop_signal {
        berth_runtime::container::parse_signal(s)
            .with_context(|| format!("--stop-signal {s:?}"))?;
    }
    engine::run(
        root,
        &RunOptions {
            image: a.image,
            command: a.command,
            name: a.name,
            detach: a.detach,
            rm: a.rm,
            interactive: a.interactive,
            tty: a.tty,
            labels,
            restart,
            stop_signal: a.stop_signal,
            stop_timeout: a.stop_timeout,
            log_opts,
            security_opt: a.security_opt.clone(),
            seccomp,
            init: a.init,
            env,
            workdir: a.workdir,
            hostname: a.hostname,
            read_only: a.read_only,
            mounts,
            entrypoint: a.entrypoint,
            user: a.user,
            memory,
            cpus: a.cpus,
            cpu_shares: a.cpu_shares,
            pids_limit: a.pids_limit,
            ulimits: a.ulimit,
            cap_add: a.cap_add,
            cap_drop: a.cap_drop,
            privileged: a.privileged,
            no_new_privs,
            host_network,
        },
    )
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
