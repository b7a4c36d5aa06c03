//! `berth run` and `berth create`: flags in Docker's syntax become a ContainerConfig, then one engine call;
//! errors name the flag at fault.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::{CreateArgs, PullPolicy, RunArgs};
use crate::engine;
use crate::engine::config::{
    ContainerConfig, DnsConfig, LogOptions, NetworkMode, ProcessConfig, Resources, Security,
};
use crate::engine::container::RestartPolicy;
use crate::engine::health::HealthConfig;
use crate::engine::options::{self, env_file, mount, parse_size, tmpfs, volume, Ulimit};

pub fn run(root: &Path, a: RunArgs) -> Result<i32> {
    let keys = engine::attach::parse_detach_keys(
        a.detach_keys
            .as_deref()
            .unwrap_or(engine::attach::DEFAULT_DETACH_KEYS),
    )
    .context("--detach-keys")?;
    // `-it` on a terminal: under a monitor, attached, so the detach keys work (Docker's
    // way); otherwise the foreground run streams itself.
    let attach = !a.detach
        && a.create.tty
        && a.create.interactive
        && nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    ensure_image(root, &a.create)?;
    let c = config(a.create)?;
    if attach {
        return engine::attach::run_attached(root, &c, &keys);
    }
    engine::run(root, &c, a.detach)
}

/// `create`: the container made and left in `created` for `start`; its id printed.
pub fn create(root: &Path, a: CreateArgs) -> Result<()> {
    ensure_image(root, &a)?;
    println!("{}", engine::create_stopped(root, &config(a)?)?);
    Ok(())
}

/// `--pull missing|always|never`, as Docker's run: an image that is not in the store is
/// pulled first ("Unable to find image 'X' locally" on stderr), `always` pulls anyway,
/// `never` leaves the store's answer ("no such image") to the engine.
fn ensure_image(root: &Path, a: &CreateArgs) -> Result<()> {
    let have = || {
        berth_image::Store::open(root)
            .and_then(|s| s.resolve(&a.image))
            .is_ok()
    };
    match a.pull {
        PullPolicy::Never => return Ok(()),
        PullPolicy::Missing if have() => return Ok(()),
        PullPolicy::Missing => eprintln!(
            "Unable to find image '{}' locally",
            crate::for_terminal(&a.image)
        ),
        PullPolicy::Always => {}
    }
    // the progress goes to stderr; the pulled name that `pull` prints is not run's output
    crate::commands::image::pull_quietly(root, &a.image)
}

/// The flags of `run`/`create` as the engine's ContainerConfig.
fn config(a: CreateArgs) -> Result<ContainerConfig> {
    let network = network_mode(&a)?;
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(env_file(f)?);
    }
    env.extend(a.env.iter().cloned());
    let mut mounts = Vec::new();
    for v in &a.volume {
        let m = volume(v)?;
        options::ensure_bind_source(&m)?;
        mounts.push(m);
    }
    for m in &a.mount {
        mounts.push(mount(m)?);
    }
    for t in &a.tmpfs {
        mounts.push(tmpfs(t)?);
    }
    let memory = a.memory.as_deref().map(options::memory_limit).transpose()?;
    let memory_swap = a
        .memory_swap
        .as_deref()
        .map(|s| options::size_or_unlimited("--memory-swap", s))
        .transpose()?;
    let memory_reservation = a
        .memory_reservation
        .as_deref()
        .map(|s| parse_size(s).with_context(|| format!("--memory-reservation {s:?}")))
        .transpose()?;
    let shm_size = a
        .shm_size
        .as_deref()
        .map(|s| parse_size(s).with_context(|| format!("--shm-size {s:?}")))
        .transpose()?;
    let cpuset_cpus = a.cpuset_cpus.as_deref().map(options::cpuset).transpose()?;
    let oom_score_adj = a.oom_score_adj.map(options::oom_score_adj).transpose()?;
    let health = health_flags(&a)?;
    let devices = a
        .device
        .iter()
        .map(|d| d.parse::<options::DeviceSpec>())
        .collect::<Result<Vec<_>>>()?;
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
    security.namespaces =
        options::NsModes::new([&a.pid, &a.ipc, &a.uts, &a.cgroupns], a.hostname.is_some())?;
    if let Some(p) = &a.platform {
        options::platform(p)?;
    }
    let host_network = matches!(network, NetworkMode::Host);
    for kv in &a.sysctl {
        let (k, v) = options::sysctl(kv, host_network, security.namespaces.ipc_host())?;
        security.sysctls.insert(k, v);
    }
    let ports = a
        .publish
        .iter()
        .map(|p| p.parse::<options::PortSpec>())
        .collect::<Result<Vec<_>>>()?;
    if (!ports.is_empty() || a.publish_all) && !matches!(network, NetworkMode::Bridge(_)) {
        bail!(
            "-p/-P: published ports need a bridge network (--network bridge or a network's name)"
        );
    }
    let mut exposed = Vec::new();
    for e in &a.expose {
        let s: options::PortSpec = e.parse().with_context(|| format!("--expose {e:?}"))?;
        if s.host_ports.is_some() || s.host_ip.is_some() {
            bail!("--expose {e:?}: want PORT[-END][/PROTO]");
        }
        for p in s.container_ports.0..=s.container_ports.1 {
            exposed.push((p, s.proto));
        }
    }
    let mut extra_hosts = Vec::new();
    for h in &a.add_host {
        let (name, ip) = h
            .split_once(':')
            .or_else(|| h.split_once('='))
            .with_context(|| format!("--add-host {h:?}: want NAME:IP"))?;
        let ip: std::net::IpAddr = ip
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .with_context(|| format!("--add-host {h:?}: invalid address"))?;
        if name.is_empty() {
            bail!("--add-host {h:?}: want NAME:IP");
        }
        extra_hosts.push((name.to_string(), ip));
    }
    let dns = DnsConfig {
        servers: a.dns.clone(),
        search: a.dns_search.clone(),
        options: a.dns_option.clone(),
    };
    let restart: RestartPolicy = a.restart.parse()?;
    if a.rm && restart.name != "no" {
        bail!("conflicting options: --restart {} and --rm", a.restart);
    }
    let mut labels = BTreeMap::new();
    let mut label_lines = Vec::new();
    for f in &a.label_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("--label-file {}", f.display()))?;
        label_lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    // The flags after the files, so that a flag wins over a file's line (as Docker).
    label_lines.extend(a.label.iter().cloned());
    for l in &label_lines {
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
            oom_score_adj,
            group_add: a.group_add,
            health,
        },
        hostname: a.hostname,
        mounts,
        resources: Resources {
            memory,
            memory_swap,
            memory_reservation,
            cpus,
            cpu_period: a.cpu_period,
            cpu_quota: a.cpu_quota,
            cpu_shares: a.cpu_shares,
            cpuset_cpus,
            pids_limit: a.pids_limit,
            ulimits,
            shm_size,
            devices,
        },
        security,
        network,
        restart,
        auto_remove: a.rm,
        labels,
        log,
        ports,
        publish_all: a.publish_all,
        dns,
        extra_hosts,
        exposed,
        files: Vec::new(),
    })
}

/// `--health-*` and `--no-healthcheck` as Docker takes them: None when none is given (the
/// image's healthcheck applies); timings without `--health-cmd` apply to the image's test.
fn health_flags(a: &CreateArgs) -> Result<Option<HealthConfig>> {
    let timings = [
        ("--health-interval", &a.health_interval),
        ("--health-timeout", &a.health_timeout),
        ("--health-start-period", &a.health_start_period),
        ("--health-start-interval", &a.health_start_interval),
    ];
    let given = a.health_cmd.is_some()
        || a.health_retries.is_some()
        || timings.iter().any(|(_, v)| v.is_some());
    if a.no_healthcheck {
        if given {
            bail!("--no-healthcheck conflicts with the --health-* options");
        }
        return Ok(Some(HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        }));
    }
    if !given {
        return Ok(None);
    }
    let mut ns = [0u64; 4];
    for (n, (flag, v)) in ns.iter_mut().zip(timings) {
        if let Some(v) = v {
            let d =
                crate::compose::load::parse_duration(v).with_context(|| format!("{flag} {v:?}"))?;
            if d.is_zero() {
                bail!("{flag} {v:?}: must be above 0");
            }
            *n = d.as_nanos() as u64;
        }
    }
    let test = match &a.health_cmd {
        Some(c) if c.trim().is_empty() => bail!("--health-cmd: empty command"),
        Some(c) => vec!["CMD-SHELL".into(), c.clone()],
        None => Vec::new(),
    };
    Ok(Some(HealthConfig {
        test,
        interval: ns[0],
        timeout: ns[1],
        start_period: ns[2],
        start_interval: ns[3],
        retries: a.health_retries.unwrap_or(0),
    }))
}

/// `--network` (repeatable), `--ip`, `--network-alias`: several names make one bridge mode
/// with an attachment each (the first gets the address and aliases); other modes stand alone.
fn network_mode(a: &CreateArgs) -> Result<NetworkMode> {
    let names: Vec<&str> = if a.network.is_empty() {
        vec![DEFAULT_NETWORK]
    } else {
        a.network.iter().map(String::as_str).collect()
    };
    let mut atts = Vec::new();
    for n in &names {
        match n.parse::<NetworkMode>()? {
            NetworkMode::Bridge(mut v) => atts.append(&mut v),
            other if names.len() == 1 => {
                if a.ip.is_some() || !a.network_alias.is_empty() {
                    bail!("--ip and --network-alias need a bridge network, not --network {n}");
                }
                return Ok(other);
            }
            _ => bail!("--network {n}: cannot be combined with other networks"),
        }
    }
    if let Some(first) = atts.first_mut() {
        first.ip = a.ip;
        first.aliases = a.network_alias.clone();
    }
    Ok(NetworkMode::Bridge(atts))
}

/// The network a container gets without `--network`: the default bridge, as Docker.
const DEFAULT_NETWORK: &str = "bridge";
