//! A service of a loaded project as the engine's `ContainerConfig`: names (`PROJECT-SERVICE-N`,
//! `PROJECT_NETWORK`, `PROJECT_VOLUME`), Docker's `com.docker.compose.*` labels, the config
//! hash that tells `up` whether a running container is still what the file says, and the
//! order services start in.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use super::load::{parse_duration, Project};
use super::model::{Service, Shell};
use crate::engine::config::{
    Attachment, ContainerConfig, DnsConfig, LogOptions, Mount, NetworkMode, ProcessConfig,
    Resources, Security,
};
use crate::engine::container::RestartPolicy;
use crate::engine::options::{self, PortSpec, Proto, Ulimit};
use crate::engine::volume::VolumeName;

pub const L_PROJECT: &str = "com.docker.compose.project";
pub const L_SERVICE: &str = "com.docker.compose.service";
pub const L_NUMBER: &str = "com.docker.compose.container-number";
pub const L_ONEOFF: &str = "com.docker.compose.oneoff";
pub const L_HASH: &str = "com.docker.compose.config-hash";
pub const L_WORKDIR: &str = "com.docker.compose.project.working_dir";
pub const L_FILES: &str = "com.docker.compose.project.config_files";
pub const L_VERSION: &str = "com.docker.compose.version";
pub const L_NETWORK: &str = "com.docker.compose.network";
pub const L_VOLUME: &str = "com.docker.compose.volume";
pub const L_IMAGE: &str = "com.docker.compose.image";
pub const L_DEPENDS: &str = "com.docker.compose.depends_on";

/// The compose version berth speaks (labels, `version`).
pub const COMPOSE_VERSION: &str = "2.30.0";

/// `PROJECT-SERVICE-N`, or the service's `container_name`.
pub fn container_name(p: &Project, service: &str, s: &Service, n: u32) -> String {
    match &s.container_name {
        Some(c) => c.clone(),
        None => format!("{}-{service}-{n}", p.name),
    }
}

/// The image a service runs: its `image`, else the one `build` makes, `PROJECT-SERVICE`.
pub fn image_of(p: &Project, service: &str, s: &Service) -> String {
    match &s.image {
        Some(i) => i.clone(),
        None => format!("{}-{service}", p.name),
    }
}

/// A network's name on the host: its `name`, else `PROJECT_KEY` (external: the key).
pub fn network_name(p: &Project, key: &str) -> String {
    match p.model.networks.get(key) {
        Some(d) if d.name.is_some() => d.name.clone().unwrap_or_default(),
        Some(d) if d.external => key.to_string(),
        _ => format!("{}_{key}", p.name),
    }
}

/// A volume's name on the host: its `name`, else `PROJECT_KEY` (external: the key).
pub fn volume_name(p: &Project, key: &str) -> String {
    match p.model.volumes.get(key) {
        Some(d) if d.name.is_some() => d.name.clone().unwrap_or_default(),
        Some(d) if d.external => key.to_string(),
        _ => format!("{}_{key}", p.name),
    }
}

/// The networks a service joins (by key), `default` when it names none and has no
/// network_mode.
pub fn service_networks(s: &Service) -> Vec<String> {
    if s.network_mode.is_some() {
        return Vec::new();
    }
    if s.networks.is_empty() {
        return vec!["default".into()];
    }
    // Docker orders by priority (higher first), then by name.
    let mut v: Vec<(&String, i64)> = s
        .networks
        .iter()
        .map(|(k, n)| (k, n.as_ref().and_then(|n| n.priority).unwrap_or(0)))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter().map(|(k, _)| k.clone()).collect()
}

/// The hash of what a container of `s` is made from (the service's model and the image id),
/// without the replica count: a change recreates, a scale does not.
pub fn config_hash(s: &Service, image_id: &str) -> String {
    let mut s = s.clone();
    s.scale = None;
    if let Some(d) = &mut s.deploy {
        d.replicas = None;
    }
    let json = serde_json::to_string(&s).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(json.as_bytes());
    h.update(b"\0");
    h.update(image_id.as_bytes());
    let d = h.finalize();
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A command string split as compose does (shell words: quotes and backslashes, no shell).
pub fn split_words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => bail!("unclosed ' in {s:?}"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => bail!("unclosed \" in {s:?}"),
                        },
                        Some(x) => cur.push(x),
                        None => bail!("unclosed \" in {s:?}"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

fn shell(s: &Shell) -> Result<Vec<String>> {
    match s {
        Shell::List(l) => Ok(l.clone()),
        Shell::String(s) => split_words(s),
    }
}

/// What a container of a service needs besides the model: its number, the image id it
/// runs and the container name other services' `network_mode: service:` point at.
pub struct Instance<'a> {
    pub service: &'a str,
    pub number: u32,
    /// The reference the container is made from (shown as its image) and its id (hashed).
    pub image: &'a str,
    pub image_id: &'a str,
}

/// The engine's config for container `i.number` of service `i.service`.
pub fn container_config(p: &Project, s: &Service, i: &Instance) -> Result<ContainerConfig> {
    let at = |what: &str| format!("services.{}.{what}", i.service);
    let mut env = Vec::new();
    for ef in &s.env_file {
        let path = std::path::Path::new(&ef.path);
        if !path.exists() && !ef.required {
            continue;
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: read {}", at("env_file"), ef.path))?;
        for line in options::parse_env_text(&text, &ef.path)? {
            match line.split_once('=') {
                Some(_) => env.push(line),
                None => {
                    if let Some(v) = p.env.get(&line) {
                        env.push(format!("{line}={v}"));
                    }
                }
            }
        }
    }
    for (k, v) in &s.environment {
        match v {
            Some(v) => env.push(format!("{k}={v}")),
            None => {
                if let Some(v) = p.env.get(k) {
                    env.push(format!("{k}={v}"));
                }
            }
        }
    }
    let mut mounts = Vec::new();
    for (n, v) in s.volumes.iter().enumerate() {
        let here = at(&format!("volumes[{n}]"));
        mounts.push(match v.kind.as_str() {
            "bind" => {
                let src = v.source.clone().unwrap_or_default();
                let create = v
                    .bind
                    .as_ref()
                    .and_then(|b| b.create_host_path)
                    .unwrap_or(true);
                if !std::path::Path::new(&src).exists() {
                    if !create {
                        bail!("{here}: bind source {src} does not exist");
                    }
                    crate::engine::fsutil::mkdir_mode(std::path::Path::new(&src), 0o755)
                        .or_else(|_| std::fs::create_dir_all(&src).map_err(anyhow::Error::from))
                        .with_context(|| format!("{here}: create {src}"))?;
                }
                Mount::Bind {
                    src: src.into(),
                    dst: v.target.clone(),
                    ro: v.read_only,
                }
            }
            "volume" => Mount::Volume {
                name: match &v.source {
                    Some(src) => {
                        Some(VolumeName::new(&volume_name(p, src)).with_context(|| here.clone())?)
                    }
                    None => None,
                },
                dst: v.target.clone(),
                ro: v.read_only,
                nocopy: v.volume.as_ref().is_some_and(|o| o.nocopy),
            },
            "tmpfs" => {
                let mut o = Vec::new();
                if let Some(t) = &v.tmpfs {
                    if let Some(sz) = &t.size {
                        o.push(format!(
                            "size={}",
                            super::normalize::scalar(sz, &here).map_err(|e| anyhow!(e))?
                        ));
                    }
                    if let Some(m) = t.mode {
                        o.push(format!("mode={m:o}"));
                    }
                }
                Mount::Tmpfs {
                    dst: v.target.clone(),
                    options: o,
                }
            }
            k => bail!("{here}: type {k:?} is not bind, volume or tmpfs"),
        });
    }
    for t in &s.tmpfs {
        mounts.push(options::tmpfs(t).with_context(|| at("tmpfs"))?);
    }
    let (file_mounts, given_files) = super::files::mounts(p, i.service, s)?;
    mounts.extend(file_mounts);
    let network = match s.network_mode.as_deref() {
        Some("none") => NetworkMode::None,
        Some("host") => NetworkMode::Host,
        Some(m) if m.starts_with("service:") => {
            let other = &m["service:".len()..];
            let os =
                p.model.services.get(other).with_context(|| {
                    format!("{}: no such service {other:?}", at("network_mode"))
                })?;
            NetworkMode::Container(container_name(p, other, os, 1))
        }
        Some(m) if m.starts_with("container:") => NetworkMode::Container(m[10..].to_string()),
        Some("bridge") => NetworkMode::Bridge(vec![Attachment::to("bridge")]),
        Some(m) => bail!(
            "{}: {m:?} is not none, host, bridge, service:NAME or container:NAME",
            at("network_mode")
        ),
        None => {
            let mut atts = Vec::new();
            for key in service_networks(s) {
                let sn = s.networks.get(&key).cloned().flatten().unwrap_or_default();
                let mut aliases = vec![i.service.to_string()];
                if let Some(c) = &s.container_name {
                    aliases.push(c.clone());
                }
                aliases.extend(sn.aliases.iter().cloned());
                for a in link_aliases(p, i.service) {
                    if !aliases.contains(&a) {
                        aliases.push(a);
                    }
                }
                let ip = match &sn.ipv4_address {
                    Some(a) => Some(a.parse::<Ipv4Addr>().with_context(|| {
                        format!(
                            "{}: {a:?} is not an IPv4 address",
                            at(&format!("networks.{key}.ipv4_address"))
                        )
                    })?),
                    None => None,
                };
                atts.push(Attachment {
                    network: network_name(p, &key),
                    aliases,
                    ip,
                });
            }
            NetworkMode::Bridge(atts)
        }
    };
    let mut ports = Vec::new();
    for (n, port) in s.ports.iter().enumerate() {
        let host_ports = match port.published.as_deref().filter(|x| !x.is_empty()) {
            None => None,
            Some(pb) => {
                let (a, b) = pb.split_once('-').unwrap_or((pb, pb));
                let parse = |x: &str| {
                    x.parse::<u16>().with_context(|| {
                        format!(
                            "{}: published port {pb:?} is not a port or range",
                            at(&format!("ports[{n}]"))
                        )
                    })
                };
                let (a, b) = (parse(a)?, parse(b)?);
                // Replicas share the range: container N takes its Nth port.
                let n = a as u32 + i.number.saturating_sub(1);
                if b > a && n <= b as u32 {
                    Some((n as u16, n as u16))
                } else {
                    Some((a, b))
                }
            }
        };
        let host_ip = match port.host_ip.as_deref().filter(|x| !x.is_empty()) {
            Some(ip) => Some(ip.parse::<IpAddr>().with_context(|| {
                format!(
                    "{}: {ip:?} is not an address",
                    at(&format!("ports[{n}].host_ip"))
                )
            })?),
            None => None,
        };
        ports.push(PortSpec {
            host_ip,
            host_ports: host_ports.filter(|h| *h != (0, 0)),
            container_ports: (port.target, port.target),
            proto: proto(&port.protocol).with_context(|| at(&format!("ports[{n}].protocol")))?,
        });
    }
    let mut exposed = Vec::new();
    for e in &s.expose {
        let (num, pr) = e.split_once('/').unwrap_or((e, "tcp"));
        let (a, b) = num.split_once('-').unwrap_or((num, num));
        let parse = |x: &str| {
            x.parse::<u16>()
                .with_context(|| format!("{}: {e:?} is not a port", at("expose")))
        };
        let pr = proto(pr).with_context(|| at("expose"))?;
        for port in parse(a)?..=parse(b)? {
            exposed.push((port, pr));
        }
    }
    let mut extra_hosts = Vec::new();
    for h in &s.extra_hosts {
        let (name, ip) = h
            .split_once(':')
            .with_context(|| format!("{}: {h:?} is not HOST:IP", at("extra_hosts")))?;
        let ip: IpAddr = ip
            .trim_matches(['[', ']'])
            .parse()
            .with_context(|| format!("{}: {h:?}: {ip:?} is not an address", at("extra_hosts")))?;
        extra_hosts.push((name.to_string(), ip));
    }
    let dns = DnsConfig {
        servers: s
            .dns
            .iter()
            .map(|d| {
                d.parse()
                    .with_context(|| format!("{}: {d:?} is not an address", at("dns")))
            })
            .collect::<Result<_>>()?,
        search: s.dns_search.clone(),
        options: Vec::new(),
    };
    let limits = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.clone())
        .unwrap_or_default();
    let memory = match limits.memory.as_ref().or(s.mem_limit.as_ref()) {
        Some(m) => {
            Some(options::parse_size(m).with_context(|| at("deploy.resources.limits.memory"))?)
        }
        None => None,
    };
    let cpus = match &limits.cpus {
        Some(c) => Some(c.parse::<f64>().with_context(|| {
            format!(
                "{}: {c:?} is not a number",
                at("deploy.resources.limits.cpus")
            )
        })?),
        None => s.cpus,
    };
    let ulimits = s
        .ulimits
        .iter()
        .map(|(name, u)| {
            format!("{name}={}:{}", u.soft, u.hard)
                .parse::<Ulimit>()
                .with_context(|| at(&format!("ulimits.{name}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut security = Security {
        read_only_rootfs: s.read_only,
        cap_add: s.cap_add.clone(),
        cap_drop: s.cap_drop.clone(),
        privileged: s.privileged,
        ..Security::default()
    };
    for o in &s.security_opt {
        security.apply_opt(o).with_context(|| at("security_opt"))?;
    }
    let mode = |m: &Option<String>| m.clone().unwrap_or_default();
    security.namespaces = options::NsModes::new(
        [
            &mode(&s.pid),
            &mode(&s.ipc),
            &mode(&s.uts),
            &mode(&s.cgroup),
        ],
        s.hostname.is_some(),
    )
    .with_context(|| at("pid, ipc, uts, cgroup"))?;
    let host_network = matches!(network, NetworkMode::Host);
    for (k, v) in &s.sysctls {
        let (k, v) = options::sysctl(
            &format!("{k}={v}"),
            host_network,
            security.namespaces.ipc_host(),
        )
        .with_context(|| at(&format!("sysctls.{k}")))?;
        security.sysctls.insert(k, v);
    }
    let size = |key: &str, v: &Option<String>| {
        v.as_deref()
            .map(|x| options::parse_size(x).with_context(|| at(key)))
            .transpose()
    };
    let memory_swap = s
        .memswap_limit
        .as_deref()
        .map(|x| {
            options::size_or_unlimited("--memory-swap", x).with_context(|| at("memswap_limit"))
        })
        .transpose()?;
    let memory_reservation = size("mem_reservation", &s.mem_reservation)?;
    options::check_memory(memory, memory_swap, memory_reservation)
        .with_context(|| at("memswap_limit, mem_reservation"))?;
    let shm_size = size("shm_size", &s.shm_size)?;
    let cpuset_cpus = s
        .cpuset
        .as_deref()
        .map(|c| options::cpuset(c).with_context(|| at("cpuset")))
        .transpose()?;
    let devices = s
        .devices
        .iter()
        .enumerate()
        .map(|(n, d)| {
            d.parse::<options::DeviceSpec>()
                .with_context(|| at(&format!("devices[{n}]")))
        })
        .collect::<Result<Vec<_>>>()?;
    let oom_score_adj = s
        .oom_score_adj
        .map(|n| options::oom_score_adj(n).with_context(|| at("oom_score_adj")))
        .transpose()?;
    let restart: RestartPolicy = s
        .restart
        .as_deref()
        .unwrap_or("no")
        .parse()
        .with_context(|| at("restart"))?;
    let stop_timeout = match &s.stop_grace_period {
        Some(d) => Some(
            parse_duration(d)
                .with_context(|| at("stop_grace_period"))?
                .as_secs() as i64,
        ),
        None => None,
    };
    let mut log = LogOptions::default();
    if let Some(opts) = s
        .logging
        .as_ref()
        .and_then(|l| l.get("options"))
        .and_then(|o| o.as_object())
    {
        for (k, v) in opts {
            let v = super::normalize::scalar(v, &at("logging.options")).map_err(|e| anyhow!(e))?;
            log.apply_opt(&format!("{k}={v}"))
                .with_context(|| at("logging.options"))?;
        }
    }
    let mut labels = s.labels.clone();
    labels.extend(labels_of(p, i.service, i.number));
    labels.insert(L_HASH.into(), config_hash(s, i.image_id));
    labels.insert(L_IMAGE.into(), i.image_id.to_string());
    if !s.depends_on.is_empty() {
        let deps: Vec<String> = s
            .depends_on
            .iter()
            .map(|(d, c)| format!("{d}:{}:{}", c.condition, c.restart))
            .collect();
        labels.insert(L_DEPENDS.into(), deps.join(","));
    }
    Ok(ContainerConfig {
        image: i.image.to_string(),
        name: Some(container_name(p, i.service, s, i.number)),
        process: ProcessConfig {
            command: match &s.command {
                Some(c) => shell(c).with_context(|| at("command"))?,
                None => Vec::new(),
            },
            entrypoint: match &s.entrypoint {
                Some(e) => Some(shell(e).with_context(|| at("entrypoint"))?),
                None => None,
            },
            env,
            workdir: s.working_dir.clone(),
            user: s.user.clone(),
            tty: s.tty,
            open_stdin: s.stdin_open,
            init: s.init.unwrap_or(false),
            stop_signal: s.stop_signal.clone(),
            stop_timeout,
            oom_score_adj,
            group_add: s.group_add.clone(),
            health: health_config(i.service, s)?,
        },
        hostname: s.hostname.clone(),
        mounts,
        resources: Resources {
            memory,
            memory_swap,
            memory_reservation,
            cpus,
            cpu_period: s.cpu_period,
            cpu_quota: s.cpu_quota,
            cpu_shares: s.cpu_shares,
            cpuset_cpus,
            pids_limit: limits.pids.or(s.pids_limit),
            ulimits,
            shm_size,
            devices,
        },
        security,
        network,
        restart,
        auto_remove: false,
        labels,
        log,
        ports,
        publish_all: false,
        dns,
        extra_hosts,
        exposed,
        files: given_files,
    })
}

/// The names other services' `links: [SERVICE:ALIAS]` give `service`: its containers answer
/// to them on their networks (to every container there, not only the linking one).
fn link_aliases(p: &Project, service: &str) -> Vec<String> {
    p.model
        .services
        .values()
        .flat_map(|s| s.links.iter())
        .filter_map(|l| l.split_once(':'))
        .filter(|(t, a)| *t == service && *a != service)
        .map(|(_, a)| a.to_string())
        .collect()
}

/// A service's healthcheck as the record keeps it (Docker's `Config.Healthcheck`); None
/// when it says none (the image's, if any, applies); `["NONE"]` when it is disabled.
pub fn health_config(
    name: &str,
    s: &Service,
) -> Result<Option<crate::engine::health::HealthConfig>> {
    let Some(h) = &s.healthcheck else {
        return Ok(None);
    };
    if h.disable || h.test.first().is_some_and(|t| t == "NONE") {
        return Ok(Some(crate::engine::health::HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }));
    }
    if h.test.is_empty() {
        return Ok(None);
    }
    let ns = |d: &Option<String>, k: &str| -> Result<u64> {
        Ok(match d {
            Some(d) => parse_duration(d)
                .with_context(|| format!("services.{name}.healthcheck.{k}"))?
                .as_nanos() as u64,
            None => 0,
        })
    };
    Ok(Some(crate::engine::health::HealthConfig {
        test: h.test.clone(),
        interval: ns(&h.interval, "interval")?,
        timeout: ns(&h.timeout, "timeout")?,
        start_period: ns(&h.start_period, "start_period")?,
        start_interval: ns(&h.start_interval, "start_interval")?,
        retries: h.retries.unwrap_or(0),
    }))
}

fn proto(p: &str) -> Result<Proto> {
    Ok(match p {
        "tcp" | "" => Proto::Tcp,
        "udp" => Proto::Udp,
        "sctp" => Proto::Sctp,
        _ => bail!("unknown protocol {p:?} (tcp, udp, sctp)"),
    })
}

/// The labels every container of the project carries (Docker's, so scripts find them).
pub fn labels_of(p: &Project, service: &str, number: u32) -> BTreeMap<String, String> {
    let files: Vec<String> = p
        .config_files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    [
        (L_PROJECT, p.name.clone()),
        (L_SERVICE, service.to_string()),
        (L_NUMBER, number.to_string()),
        (L_ONEOFF, "False".to_string()),
        (L_WORKDIR, p.working_dir.display().to_string()),
        (L_FILES, files.join(",")),
        (L_VERSION, COMPOSE_VERSION.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `names` and (unless `no_deps`) everything they depend on; all services when empty.
pub fn selection(p: &Project, names: &[String], no_deps: bool) -> Result<BTreeSet<String>> {
    if names.is_empty() {
        return Ok(p.model.services.keys().cloned().collect());
    }
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        let s = p
            .model
            .services
            .get(&n)
            .or_else(|| p.inactive.get(&n))
            .with_context(|| format!("no such service: {n}"))?;
        if out.insert(n.clone()) && !no_deps {
            todo.extend(s.depends_on.keys().cloned());
        }
    }
    Ok(out)
}

/// Services in start order, as levels: every service of a level depends only on earlier
/// levels (those of a level start in parallel).
pub fn levels(p: &Project, selected: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while placed.len() < selected.len() {
        let level: Vec<String> = selected
            .iter()
            .filter(|n| !placed.contains(*n))
            .filter(|n| {
                service(p, n).is_none_or(|s| {
                    s.depends_on
                        .keys()
                        .all(|d| placed.contains(d) || !selected.contains(d))
                })
            })
            .cloned()
            .collect();
        if level.is_empty() {
            // A cycle (load checked there is none); start the rest anyway.
            out.push(
                selected
                    .iter()
                    .filter(|n| !placed.contains(*n))
                    .cloned()
                    .collect(),
            );
            break;
        }
        placed.extend(level.iter().cloned());
        out.push(level);
    }
    out
}

/// A service, active or not.
pub fn service<'a>(p: &'a Project, name: &str) -> Option<&'a Service> {
    p.model.services.get(name).or_else(|| p.inactive.get(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            split_words("sh -c 'echo a  b' \"x\\\"y\" z\\ w").unwrap(),
            vec!["sh", "-c", "echo a  b", "x\"y", "z w"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_words("a ''").unwrap(), vec!["a", ""]);
        assert!(split_words("'x").is_err());
    }

    fn project(yaml: &str) -> Project {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("compose.yaml"), yaml).unwrap();
        super::super::load(&super::super::LoadOptions {
            cwd: d.path().to_path_buf(),
            project_name: Some("p".into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn service_to_container_config() {
        let p = project(
            "services:\n  web:\n    image: bb:1\n    command: sh -c 'echo hi'\n    environment: {A: '1'}\n    ports: ['127.0.0.1:8080:80/udp']\n    volumes: [data:/data:ro, {type: tmpfs, target: /t, tmpfs: {size: 1m}}]\n    networks:\n      front: {aliases: [w], ipv4_address: 10.5.0.5}\n    restart: always\n    stop_grace_period: 1m\n    ulimits: {nofile: {soft: 10, hard: 20}}\n    extra_hosts: ['h:1.2.3.4']\n    deploy: {replicas: 2, resources: {limits: {memory: 64m, cpus: '0.5'}}}\n  db:\n    image: bb:1\n    depends_on: [web]\nnetworks:\n  front: {}\nvolumes:\n  data: {}\n",
        );
        let s = &p.model.services["web"];
        assert_eq!(s.replicas(), 2);
        let c = container_config(
            &p,
            s,
            &Instance {
                service: "web",
                number: 2,
                image: "bb:1",
                image_id: "sha256:ab",
            },
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("p-web-2"));
        assert_eq!(c.process.command, vec!["sh", "-c", "echo hi"]);
        assert_eq!(c.process.env, vec!["A=1"]);
        assert_eq!(c.ports[0].host_ports, Some((8080, 8080)));
        assert_eq!(c.ports[0].proto, Proto::Udp);
        assert!(
            matches!(&c.mounts[0], Mount::Volume { name: Some(n), ro: true, .. } if n.as_str() == "p_data")
        );
        assert!(
            matches!(&c.mounts[1], Mount::Tmpfs { options, .. } if options == &vec!["size=1m".to_string()])
        );
        let NetworkMode::Bridge(a) = &c.network else {
            panic!("{:?}", c.network)
        };
        assert_eq!(a[0].network, "p_front");
        assert_eq!(a[0].aliases, vec!["web", "w"]);
        assert_eq!(a[0].ip, Some("10.5.0.5".parse().unwrap()));
        assert_eq!(c.restart.name, "always");
        assert_eq!(c.process.stop_timeout, Some(60));
        assert_eq!(c.resources.memory, Some(64 << 20));
        assert_eq!(c.resources.cpus, Some(0.5));
        assert_eq!(c.labels[L_PROJECT], "p");
        assert_eq!(c.labels[L_NUMBER], "2");
        assert_eq!(c.extra_hosts[0].0, "h");
        let db = &p.model.services["db"];
        let c = container_config(
            &p,
            db,
            &Instance {
                service: "db",
                number: 1,
                image: "bb:1",
                image_id: "x",
            },
        )
        .unwrap();
        let NetworkMode::Bridge(a) = &c.network else {
            panic!()
        };
        assert_eq!(a[0].network, "p_default");
        let all = selection(&p, &[], false).unwrap();
        assert_eq!(
            levels(&p, &all),
            vec![vec!["web".to_string()], vec!["db".to_string()]]
        );
        assert_eq!(selection(&p, &["db".into()], true).unwrap().len(), 1);
        assert_eq!(selection(&p, &["db".into()], false).unwrap().len(), 2);
        // A scale does not change the hash; an environment change does.
        let mut s2 = s.clone();
        s2.scale = Some(5);
        assert_eq!(config_hash(s, "i"), config_hash(&s2, "i"));
        s2.environment.insert("B".into(), None);
        assert_ne!(config_hash(s, "i"), config_hash(&s2, "i"));
    }
}
