//! What a container is made of, as the engine's callers say it: `berth run` (from its flags),
//! and next Dockerfile RUN steps and compose services (from their own files). Nothing here
//! knows clap; the value types parse Docker's syntaxes with `FromStr` (options.rs) and name
//! the value at fault.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use super::container::RestartPolicy;
use super::options::{parse_size, DeviceSpec, PortSpec, Proto, Ulimit};
use super::seccomp::Seccomp;

/// A mount: a host path, a volume or a tmpfs at a path in the container.
#[derive(Debug, Clone)]
pub enum Mount {
    Bind {
        src: PathBuf,
        dst: String,
        ro: bool,
    },
    /// A named volume, or an anonymous one (`name: None`), made on first use.
    Volume {
        name: Option<super::volume::VolumeName>,
        dst: String,
        ro: bool,
        nocopy: bool,
    },
    Tmpfs {
        dst: String,
        options: Vec<String>,
    },
}

/// Everything `create` needs to make a container.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    /// An image reference or id in the store.
    pub image: String,
    /// A unique name; a random one (`adjective_noun`) when None.
    pub name: Option<String>,
    pub process: ProcessConfig,
    pub hostname: Option<String>,
    pub mounts: Vec<Mount>,
    pub resources: Resources,
    pub security: Security,
    pub network: NetworkMode,
    pub restart: RestartPolicy,
    /// Removed with its anonymous volumes when it exits (`--rm`).
    pub auto_remove: bool,
    pub labels: BTreeMap<String, String>,
    pub log: LogOptions,
    /// Published ports (`-p`); only with bridge networks.
    pub ports: Vec<PortSpec>,
    /// `-P`: every exposed port (the image's and `exposed`) on a free host port.
    pub publish_all: bool,
    /// `--dns`, `--dns-search`, `--dns-option`: what /etc/resolv.conf says.
    pub dns: DnsConfig,
    /// `--add-host NAME:IP`: extra lines of /etc/hosts.
    pub extra_hosts: Vec<(String, IpAddr)>,
    /// `--expose` (and compose's `expose`): ports exposed beside the image's.
    pub exposed: Vec<(u16, Proto)>,
    /// Files given by content (compose's configs and secrets from `environment` or
    /// `content`), written into the container's directory and bind-mounted read-only.
    pub files: Vec<FileMount>,
}

/// A file the container sees at `dst` with this content, mode and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMount {
    pub dst: String,
    pub content: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// One network a container joins (`--network NAME --network-alias A --ip IP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// A network's name or id (`bridge` is the default network).
    pub network: String,
    /// Names other containers of the network resolve to this one, beside its name.
    pub aliases: Vec<String>,
    /// A fixed address in the network's subnet; None: the next free one.
    pub ip: Option<Ipv4Addr>,
}

impl Attachment {
    pub fn to(network: &str) -> Attachment {
        Attachment {
            network: network.to_string(),
            aliases: Vec::new(),
            ip: None,
        }
    }
}

/// What the container's /etc/resolv.conf says beside the nameserver berth picks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The container's main process; None and empty fields take the image's values.
#[derive(Debug, Clone, Default)]
pub struct ProcessConfig {
    /// Replaces the image's CMD when not empty.
    pub command: Vec<String>,
    /// Replaces the image's ENTRYPOINT (and then drops its CMD); `Some(vec![])` clears it.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE`, or `KEY` to pass the caller's value on.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// `user[:group]`, names or ids, resolved in the image's /etc/passwd and /etc/group.
    pub user: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    /// A tiny init as PID 1 that reaps zombies and forwards signals.
    pub init: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    /// The process's OOM score adjustment, -1000..=1000 (`--oom-score-adj`).
    pub oom_score_adj: Option<i32>,
    /// More groups for the process (`--group-add`): names from the image's /etc/group, or ids.
    pub group_add: Vec<String>,
    /// The healthcheck (`--health-*`, compose's `healthcheck`); None: the image's. One
    /// without a test keeps the image's test with its own timings (`health::merge`).
    pub health: Option<super::health::HealthConfig>,
}

#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<u64>,
    /// Memory plus swap in bytes (`--memory-swap`); -1: unlimited swap.
    pub memory_swap: Option<i64>,
    /// The soft limit reclaim works toward under pressure (`--memory-reservation`), bytes.
    pub memory_reservation: Option<u64>,
    pub cpus: Option<f64>,
    /// `--cpu-period` / `--cpu-quota` in microseconds (not with `cpus`).
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_shares: Option<u64>,
    /// The CPUs the container may run on (`--cpuset-cpus 0-1,3`).
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<Ulimit>,
    /// Size of /dev/shm in bytes (`--shm-size`); None: Docker's 64 MiB.
    pub shm_size: Option<u64>,
    /// Host devices the container gets (`--device`), with their cgroup permissions.
    pub devices: Vec<DeviceSpec>,
}

#[derive(Debug, Clone)]
pub struct Security {
    pub read_only_rootfs: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    /// The `--security-opt` values as given, for `inspect`.
    pub security_opt: Vec<String>,
    /// Namespaced kernel parameters (`--sysctl net.ipv4.ip_forward=1`), checked by
    /// `options::sysctl`.
    pub sysctls: BTreeMap<String, String>,
    /// `--pid`, `--ipc`, `--uts` (`options::NsModes`): the host's namespaces instead of the
    /// container's own.
    pub namespaces: super::options::NsModes,
}

impl Default for Security {
    fn default() -> Security {
        Security {
            read_only_rootfs: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            privileged: false,
            no_new_privileges: false,
            seccomp: Seccomp::Default,
            security_opt: Vec::new(),
            sysctls: BTreeMap::new(),
            namespaces: Default::default(),
        }
    }
}

impl Security {
    /// Applies one `--security-opt` value: `no-new-privileges[:true|false]`,
    /// `seccomp=unconfined|FILE` (the file is read now, so its errors name it).
    pub fn apply_opt(&mut self, opt: &str) -> Result<()> {
        match opt {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                self.no_new_privileges = true
            }
            "no-new-privileges:false" | "no-new-privileges=false" => {
                self.no_new_privileges = false
            }
            "seccomp=unconfined" | "seccomp:unconfined" => self.seccomp = Seccomp::Unconfined,
            other => match other
                .strip_prefix("seccomp=")
                .or_else(|| other.strip_prefix("seccomp:"))
            {
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("--security-opt {other:?}: read {file}"))?;
                    self.seccomp = Seccomp::Custom(file.to_string(), text);
                }
                None => bail!(
                    "--security-opt {other:?}: supported: no-new-privileges[:true|false], seccomp=unconfined|FILE"
                ),
            },
        }
        self.security_opt.push(opt.to_string());
        Ok(())
    }
}

/// The json-file log's rotation (`--log-opt max-size=,max-file=`).
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub max_size: Option<String>,
    pub max_file: Option<u32>,
}

impl LogOptions {
    /// Applies one `--log-opt KEY=VALUE`.
    pub fn apply_opt(&mut self, o: &str) -> Result<()> {
        match o.split_once('=') {
            Some(("max-size", v)) => {
                parse_size(v).with_context(|| format!("--log-opt {o:?}"))?;
                self.max_size = Some(v.to_string());
            }
            Some(("max-file", v)) if v.parse::<u32>().is_ok_and(|n| n > 0) => {
                self.max_file = v.parse().ok();
            }
            _ => bail!("--log-opt {o:?}: supported: max-size=SIZE, max-file=N"),
        }
        Ok(())
    }

    /// As `HostConfig.LogConfig.Config` records them.
    pub fn as_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if let Some(s) = &self.max_size {
            m.insert("max-size".to_string(), s.clone());
        }
        if let Some(n) = self.max_file {
            m.insert("max-file".to_string(), n.to_string());
        }
        m
    }
}

/// Where the container's network comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Its own network namespace with only `lo`.
    None,
    /// The host's network namespace.
    Host,
    /// Attached to these bridge networks, the first one giving the default route.
    Bridge(Vec<Attachment>),
    /// The network namespace of another container (name or id).
    Container(String),
    /// A network namespace someone else made, by path (e.g. /var/run/netns/x).
    Path(PathBuf),
}

impl NetworkMode {
    /// The name `HostConfig.NetworkMode` shows.
    pub fn name(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge(n) => n
                .first()
                .map(|a| a.network.clone())
                .unwrap_or_else(|| "bridge".into()),
            NetworkMode::Container(c) => format!("container:{c}"),
            NetworkMode::Path(p) => format!("ns:{}", p.display()),
        }
    }
}

impl FromStr for NetworkMode {
    type Err = anyhow::Error;

    /// `none`, `host`, `bridge`, `container:NAME`, `ns:PATH`, or a network's name.
    fn from_str(s: &str) -> Result<NetworkMode> {
        Ok(match s {
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            "" => bail!("--network \"\": want none, host, bridge, container:NAME or ns:PATH"),
            _ => {
                if let Some(c) = s.strip_prefix("container:") {
                    if c.is_empty() {
                        bail!("--network {s:?}: name the container");
                    }
                    NetworkMode::Container(c.to_string())
                } else if let Some(p) = s.strip_prefix("ns:") {
                    if !p.starts_with('/') {
                        bail!("--network {s:?}: the namespace path must be absolute");
                    }
                    NetworkMode::Path(PathBuf::from(p))
                } else {
                    NetworkMode::Bridge(vec![Attachment::to(s)])
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_modes() {
        assert_eq!("none".parse::<NetworkMode>().unwrap(), NetworkMode::None);
        assert_eq!("host".parse::<NetworkMode>().unwrap(), NetworkMode::Host);
        assert_eq!(
            "container:web".parse::<NetworkMode>().unwrap(),
            NetworkMode::Container("web".into())
        );
        assert_eq!(
            "ns:/run/netns/a".parse::<NetworkMode>().unwrap(),
            NetworkMode::Path("/run/netns/a".into())
        );
        assert_eq!(
            "bridge".parse::<NetworkMode>().unwrap(),
            NetworkMode::Bridge(vec![Attachment::to("bridge")])
        );
        for bad in ["", "container:", "ns:rel/path"] {
            let e = bad.parse::<NetworkMode>().unwrap_err().to_string();
            assert!(e.contains("--network"), "{bad}: {e}");
        }
    }

    #[test]
    fn security_and_log_options() {
        let mut s = Security::default();
        s.apply_opt("no-new-privileges").unwrap();
        assert!(s.no_new_privileges);
        s.apply_opt("seccomp=unconfined").unwrap();
        assert!(matches!(s.seccomp, Seccomp::Unconfined));
        let e = s.apply_opt("apparmor=x").unwrap_err().to_string();
        assert!(e.contains("apparmor=x"), "{e}");
        let e = s.apply_opt("seccomp=/nonexistent/p.json").unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/p.json"));
        let mut l = LogOptions::default();
        l.apply_opt("max-size=10m").unwrap();
        l.apply_opt("max-file=3").unwrap();
        assert_eq!(l.as_map().get("max-file").map(String::as_str), Some("3"));
        assert!(l.apply_opt("max-file=0").is_err());
        assert!(l.apply_opt("max-size=lots").is_err());
        assert!(l.apply_opt("mode=non-blocking").is_err());
    }
}
