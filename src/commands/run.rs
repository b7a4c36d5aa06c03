//! `berth run` and `berth create`: flags in Docker's syntax become a ContainerConfig, then one engine call;
//! errors name the flag at fault.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::{CreateArgs, RunArgs};
use crate::engine;
use crate::engine::config::{
    ContainerConfig, LogOptions, NetworkMode, ProcessConfig, Resources, Security,
};
use crate::engine::container::RestartPolicy;
use crate::engine::options::{self, env_file, mount, tmpfs, volume, Ulimit};

pub fn run(root: &Path, a: RunArgs) -> Result<i32> {
    engine::run(root, &config(a.create)?, a.detach)
}

/// `create`: the container made and left in `created` for `start`; its id printed.
pub fn create(root: &Path, a: CreateArgs) -> Result<()> {
    println!("{}", engine::create_stopped(root, &config(a)?)?);
    Ok(())
}

/// The flags of `run`/`create` as the engine's ContainerConfig.
fn config(a: CreateArgs) -> Result<ContainerConfig> {
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
    let mut security = Security {
        read_only_rootfs: a.read_only,
        cap_add: a.cap_add,
        cap_drop: a.cap_drop,
        privileged: a.privileged,
        ..Security::default()
    };
    for o in &a.security_opt {
        security.apply_opt(o)?;
    }
    let network: NetworkMode = a.network.parse()?;
    let restart: RestartPolicy = a.restart.parse()?;
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
    let mut log = LogOptions::default();
    for o in &a.log_opt {
        log.apply_opt(o)?;
    }
    if let Some(s) = &a.stop_signal {
        berth_runtime::container::parse_signal(s)
            .with_context(|| format!("--stop-signal {s:?}"))?;
    }
    let ulimits = a
        .ulimit
        .iter()
        .map(|u| u.parse::<Ulimit>())
        .collect::<Result<Vec<_>>>()?;
    Ok(ContainerConfig {
        image: a.image,
        name: a.name,
        process: ProcessConfig {
            command: a.command,
            // Docker: `--entrypoint ""` clears the image's; one word otherwise.
            entrypoint: a
                .entrypoint
                .map(|e| if e.is_empty() { Vec::new() } else { vec![e] }),
            env,
            workdir: a.workdir,
            user: a.user,
            tty: a.tty,
            open_stdin: a.interactive,
            init: a.init,
            stop_signal: a.stop_signal,
            stop_timeout: a.stop_timeout,
        },
        hostname: a.hostname,
        mounts,
        resources: Resources {
            memory,
            cpus,
            cpu_shares: a.cpu_shares,
            pids_limit: a.pids_limit,
            ulimits,
        },
        security,
        network,
        restart,
        auto_remove: a.rm,
        labels,
        log,
        ports: Vec::new(),
        publish_all: false,
        dns: Default::default(),
        extra_hosts: Vec::new(),
        exposed: Vec::new(),
    })
}
