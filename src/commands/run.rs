//! `berth run`: flags in Docker's syntax become RunOptions; errors name the flag at fault.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::RunArgs;
use crate::engine::container::RestartPolicy;
use crate::engine::options::{self, env_file, mount, parse_size, tmpfs, volume};
use crate::engine::seccomp::Seccomp;
use crate::engine::{self, RunOptions};

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
    let memory = a.memory.as_deref().map(options::memory_limit).transpose()?;
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpus = a.cpus.map(|c| options::cpus(c, host_cpus)).transpose()?;
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
            cpus,
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
