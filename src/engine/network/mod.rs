//! Bridge networks: their records, the default `bridge` network, and attaching containers
//! (the host side lives in the `berth-netns` crate; this module wires it to containers).
//!
//! ```text
//! <root>/networks/.lock            flock guarding the set (create, remove, prune)
//! <root>/networks/<id>/            0700, one per network
//!   network.json                   the record, shaped as `docker network inspect` prints it
//!   leases/                        0700: <container id>.json (address, names, ports) + .lock
//! <root>/netns/<container id>      a container's network namespace, bound (nsfs)
//! /run/berth-subnets.lock          host-wide: subnets are chosen one at a time, across roots
//! ```

pub mod attach;
pub mod dns;
pub mod files;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_netns::{firewall, lease::Leases, link, names};
use nix::fcntl::FlockArg;
use serde::{Deserialize, Serialize};

use super::base::{lock_file_named, new_id};
use super::container::Containers;
use super::fsutil;

pub use berth_netns::Subnet;

/// What `network create` asks for (Docker's flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkConfig {
    pub name: String,
    /// Only `bridge` (the default when empty).
    pub driver: String,
    /// None: the next free subnet of the pools.
    pub subnet: Option<Subnet>,
    /// None: the subnet's first host address.
    pub gateway: Option<Ipv4Addr>,
    /// Containers' addresses come from this part of the subnet.
    pub ip_range: Option<Subnet>,
    /// No way out of the network (no masquerade, no forwarding to other interfaces, no
    /// forwarded DNS).
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    /// `-o KEY=VALUE`, e.g. `com.docker.network.bridge.name`.
    pub options: BTreeMap<String, String>,
    /// The bridge's and its veths' MTU; None: 1500.
    pub mtu: Option<u32>,
}

/// `IPAM.Config[]` of a network.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    pub subnet: String,
    pub gateway: String,
    #[serde(rename = "IPRange", default, skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub config: Vec<IpamConfig>,
}

/// One container on a network, as `network inspect` shows it under `Containers`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    /// `a.b.c.d/len`.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// A network, shaped as `docker network inspect` prints it.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkRecord {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    /// Container id -> its endpoint; filled in when read (from the leases).
    pub containers: BTreeMap<String, Endpoint>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// The bridge's MTU.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "BerthMTU")]
    pub mtu: Option<u32>,
}

/// The name of the default network.
pub const DEFAULT: &str = "bridge";
/// Docker's option naming the bridge interface.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// A container's hold on a network: what `leases/<id>.json` says.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    /// The container's name (without '/').
    pub name: String,
    pub addr: Option<Ipv4Addr>,
    pub mac: String,
    /// `eth0`, `eth1`, … inside the container.
    pub ifname: String,
    pub aliases: Vec<String>,
    pub ports: Vec<PortLease>,
}

/// A published port as leased: the host side and the container's port.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PortLease {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub port: u16,
    pub proto: String,
}

fn nets_dir(root: &Path) -> PathBuf {
    root.join("networks")
}

pub fn net_dir(root: &Path, id: &str) -> PathBuf {
    nets_dir(root).join(id)
}

pub fn leases_of(root: &Path, id: &str) -> Leases {
    Leases::new(&net_dir(root, id).join("leases"))
}

/// Where container `id`'s network namespace is bound.
pub fn netns_path(root: &Path, id: &str) -> PathBuf {
    root.join("netns").join(id)
}

fn check_name(n: &str) -> Result<()> {
    let ok = n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && n.len() <= 128;
    if !ok {
        bail!("invalid network name {n:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    }
    Ok(())
}

fn load(root: &Path, id: &str) -> Result<NetworkRecord> {
    let p = net_dir(root, id).join("network.json");
    let data = std::fs::read(&p).with_context(|| format!("read {}", p.display()))?;
    serde_json::from_slice(&data).with_context(|| format!("parse {}", p.display()))
}

fn records(root: &Path) -> Vec<NetworkRecord> {
    let Ok(rd) = std::fs::read_dir(nets_dir(root)) else {
        return Vec::new();
    };
    let mut v: Vec<NetworkRecord> = rd
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| load(root, &e.file_name().to_string_lossy()).ok())
        .collect();
    v.sort_by(|a, b| a.created.cmp(&b.created));
    v
}

impl NetworkRecord {
    pub fn subnet(&self) -> Result<Subnet> {
        let c = self
            .ipam
            .config
            .first()
            .with_context(|| format!("network {}: no IPAM config", self.name))?;
        Ok(c.subnet.parse()?)
    }
    pub fn gateway(&self) -> Result<Ipv4Addr> {
        let c = self
            .ipam
            .config
            .first()
            .with_context(|| format!("network {}: no IPAM config", self.name))?;
        c.gateway
            .parse()
            .with_context(|| format!("network {}: gateway {:?}", self.name, c.gateway))
    }
    pub fn ip_range(&self) -> Option<Subnet> {
        self.ipam
            .config
            .first()
            .and_then(|c| c.ip_range.parse().ok())
    }
    pub fn bridge(&self) -> String {
        self.options
            .get(OPT_BRIDGE_NAME)
            .cloned()
            .unwrap_or_else(|| names::bridge(&self.id))
    }
    pub fn mtu(&self) -> u32 {
        self.mtu.unwrap_or(link::LOCAL_MTU)
    }
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The firewall rules this network and its containers' leases ask for.
    pub fn rules(&self, root: &Path) -> Result<firewall::NetRules> {
        let leases: BTreeMap<String, Lease> = leases_of(root, &self.id).all();
        let mut ports = Vec::new();
        for l in leases.values() {
            let Some(addr) = l.addr else { continue };
            for p in &l.ports {
                ports.push(firewall::PortMap {
                    host_ip: p.host_ip,
                    host_port: p.host_port,
                    addr,
                    port: p.port,
                    proto: p.proto.clone(),
                });
            }
        }
        Ok(firewall::NetRules {
            id: self.id.clone(),
            bridge: self.bridge(),
            subnet: self.subnet()?,
            internal: self.internal,
            ports,
        })
    }

    /// The bridge and the table, made or rewritten (idempotent).
    pub fn ensure_host_objects(&self, root: &Path) -> Result<()> {
        let sn = self.subnet()?;
        link::ensure_bridge(&link::Bridge {
            name: self.bridge(),
            gateway: self.gateway()?,
            prefix: sn.prefix(),
            mtu: self.mtu(),
        })
        .with_context(|| format!("network {}: make its bridge", self.name))?;
        self.sync_firewall(root)?;
        if !self.internal && firewall::ensure_ip_forward()? {
            eprintln!("berth: net.ipv4.ip_forward was off; turned it on for bridge networks");
        }
        Ok(())
    }

    /// Rewrites the network's nft table from its leases; the caller holds the leases' lock.
    pub fn sync_firewall(&self, root: &Path) -> Result<()> {
        firewall::sync(&self.rules(root)?)
            .with_context(|| format!("network {}: write its nft table", self.name))
    }
}

/// Makes a network (its subnet from the pools unless given), with its bridge and nft table.
pub fn create(root: &Path, c: &NetworkConfig) -> Result<NetworkRecord> {
    check_name(&c.name)?;
    if !c.driver.is_empty() && c.driver != "bridge" {
        bail!(
            "network {}: driver {:?} is not supported (only bridge)",
            c.name,
            c.driver
        );
    }
    fsutil::prepare_root(root)?;
    fsutil::mkdir_private(&nets_dir(root))?;
    let _set = lock_file_named(&nets_dir(root), ".lock", FlockArg::LockExclusive)?;
    let all = records(root);
    if all.iter().any(|n| n.name == c.name) {
        bail!("network with name {} already exists", c.name);
    }
    // Host-wide: two roots choosing at once must not take the same free subnet.
    let _subnets = lock_file_named(
        Path::new("/run"),
        "berth-subnets.lock",
        FlockArg::LockExclusive,
    )?;
    let mut taken: Vec<Subnet> = all.iter().filter_map(|n| n.subnet().ok()).collect();
    let routes = link::host_routes();
    let subnet = match c.subnet {
        Some(s) => {
            if let Some(o) = all
                .iter()
                .find(|n| n.subnet().is_ok_and(|t| t.overlaps(&s)))
            {
                bail!(
                    "invalid pool request: pool {s} overlaps with network {} ({})",
                    o.name,
                    o.ipam
                        .config
                        .first()
                        .map(|c| c.subnet.as_str())
                        .unwrap_or("")
                );
            }
            if let Some(r) = routes.iter().find(|r| r.overlaps(&s)) {
                bail!("invalid pool request: pool {s} overlaps with a route of the host ({r})");
            }
            s
        }
        None => {
            taken.extend(routes);
            berth_netns::ipam::pick_subnet(&taken)?
        }
    };
    let gateway = match c.gateway {
        Some(g) if !subnet.is_host(g) => {
            bail!("--gateway {g}: not a host address of the subnet {subnet}")
        }
        Some(g) => g,
        None => subnet.first_host(),
    };
    if let Some(r) = &c.ip_range {
        if !subnet.covers(r) {
            bail!("--ip-range {r}: not inside the subnet {subnet}");
        }
    }
    if let Some(m) = c.mtu {
        if !(68..=65535).contains(&m) {
            bail!("--mtu {m}: want 68..65535");
        }
    }
    let mut options = c.options.clone();
    if let Some(b) = options.get(OPT_BRIDGE_NAME) {
        if !names::valid_ifname(b) {
            bail!("-o {OPT_BRIDGE_NAME}={b:?}: not a valid interface name (at most 15 of [a-zA-Z0-9_.-])");
        }
        if all.iter().any(|n| &n.bridge() == b) || link::exists(b)? {
            bail!("-o {OPT_BRIDGE_NAME}={b}: that interface exists already");
        }
    }
    let mtu = c
        .mtu
        .or_else(|| options.get(OPT_MTU).and_then(|m| m.parse().ok()));
    if let Some(m) = mtu {
        options.insert(OPT_MTU.into(), m.to_string());
    }
    let id = new_id()?;
    let rec = NetworkRecord {
        name: c.name.clone(),
        id: id.clone(),
        created: berth_runtime::state::now_rfc3339(),
        scope: "local".into(),
        driver: "bridge".into(),
        enable_ipv6: false,
        ipam: Ipam {
            driver: "default".into(),
            options: BTreeMap::new(),
            config: vec![IpamConfig {
                subnet: subnet.to_string(),
                gateway: gateway.to_string(),
                ip_range: c.ip_range.map(|r| r.to_string()).unwrap_or_default(),
            }],
        },
        internal: c.internal,
        attachable: false,
        ingress: false,
        containers: BTreeMap::new(),
        options,
        labels: c.labels.clone(),
        mtu,
    };
    let dir = net_dir(root, &id);
    fsutil::mkdir_private(&dir)?;
    fsutil::mkdir_private(&dir.join("leases"))?;
    // Recorded before the bridge and table are made: a killed create leaves a network that
    // `rm` or `prune` takes down by its id.
    fsutil::write_private(&dir.join("network.json"), &serde_json::to_vec_pretty(&rec)?)?;
    if let Err(e) =
        super::fault::point("network-create").and_then(|()| rec.ensure_host_objects(root))
    {
        let _ = take_down(root, &rec);
        return Err(e);
    }
    event(root, "create", &rec.id, &rec.name, None);
    Ok(rec)
}

/// A network event as Docker's: Actor.ID the network's id, `name` and `type` attributes,
/// `container` for connect/disconnect.
fn event(root: &Path, action: &str, id: &str, name: &str, container: Option<&str>) {
    let mut a = vec![("name", name), ("type", "bridge")];
    a.extend(container.map(|c| ("container", c)));
    crate::engine::events::object(root, "network", action, id, &a);
}

/// The bridge, table and directory of a network, every one tried.
fn take_down(root: &Path, n: &NetworkRecord) -> Result<()> {
    let mut errs = Vec::new();
    let step = berth_runtime::debug::step;
    dns::stop(root, &n.id);
    step("network rm: DNS server stopped");
    if let Err(e) = firewall::remove(&n.id, &n.bridge()) {
        errs.push(format!("remove its nft table: {e}"));
    }
    step("network rm: table removed");
    if let Err(e) = super::fault::point("network-rm-bridge") {
        errs.push(e.to_string());
    }
    if let Err(e) = link::delete_link(&n.bridge()) {
        errs.push(format!("delete bridge {}: {e}", n.bridge()));
    }
    step("network rm: bridge deleted");
    if errs.is_empty() {
        let dir = net_dir(root, &n.id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                errs.push(format!("remove {}: {e}", dir.display()));
            }
        }
    }
    if errs.is_empty() {
        event(root, "destroy", &n.id, &n.name, None);
        Ok(())
    } else {
        bail!("removing network {}: {}", n.name, errs.join("; "))
    }
}

/// Removes a network that no container uses, with its bridge and rules. The default network
/// goes only by its id (by name Docker refuses: it is pre-defined).
pub fn remove(root: &Path, name_or_id: &str) -> Result<()> {
    heal(root);
    let _set = lock_file_named(&nets_dir(root), ".lock", FlockArg::LockExclusive)?;
    let n = find(root, name_or_id)?;
    if n.name == DEFAULT && name_or_id == DEFAULT {
        bail!("{DEFAULT} is a pre-defined network and cannot be removed (remove it by its id)");
    }
    if !n.containers.is_empty() {
        let users: Vec<&str> = n.containers.values().map(|e| e.name.as_str()).collect();
        bail!(
            "error while removing network: network {} has active endpoints ({})",
            n.name,
            users.join(", ")
        );
    }
    super::fault::point("network-rm")?;
    take_down(root, &n)
}

/// Every network, each with its containers.
pub fn list(root: &Path) -> Result<Vec<NetworkRecord>> {
    Ok(records(root)
        .into_iter()
        .map(|n| with_containers(root, n))
        .collect())
}

fn with_containers(root: &Path, mut n: NetworkRecord) -> NetworkRecord {
    let prefix = n.subnet().map(|s| s.prefix()).unwrap_or(0);
    let leases: BTreeMap<String, Lease> = leases_of(root, &n.id).all();
    n.containers = leases
        .into_iter()
        .map(|(id, l)| {
            (
                id.clone(),
                Endpoint {
                    name: l.name,
                    // As the container's NetworkSettings says it (attach::settings_of).
                    endpoint_id: format!(
                        "{}{}",
                        &id[..32.min(id.len())],
                        &n.id[..32.min(n.id.len())]
                    ),
                    mac_address: l.mac,
                    ipv4_address: l.addr.map(|a| format!("{a}/{prefix}")).unwrap_or_default(),
                    ipv6_address: String::new(),
                },
            )
        })
        .collect();
    n
}

/// A network by name, full id or unique id prefix, with its containers.
pub fn find(root: &Path, name_or_id: &str) -> Result<NetworkRecord> {
    let all = records(root);
    let hit = all
        .iter()
        .find(|n| n.name == name_or_id || n.id == name_or_id)
        .cloned()
        .or_else(|| {
            let hits: Vec<&NetworkRecord> = all
                .iter()
                .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id))
                .collect();
            (hits.len() == 1).then(|| hits[0].clone())
        });
    match hit {
        Some(n) => Ok(with_containers(root, n)),
        None => bail!("network {name_or_id} not found"),
    }
}

/// The network `name` (the default one made on first use).
pub fn find_or_default(root: &Path, name: &str) -> Result<NetworkRecord> {
    match find(root, name) {
        Ok(n) => Ok(n),
        Err(e) if name != DEFAULT => Err(e),
        Err(_) => match create(
            root,
            &NetworkConfig {
                name: DEFAULT.into(),
                driver: "bridge".into(),
                ..NetworkConfig::default()
            },
        ) {
            Ok(n) => Ok(n),
            // Made by a concurrent command in between.
            Err(e) => find(root, name).map_err(|_| e),
        },
    }
}

/// Attaches container `container` (name or id, created or running) to network `net`.
pub fn connect(
    root: &Path,
    net: &str,
    container: &str,
    aliases: &[String],
    ip: Option<Ipv4Addr>,
) -> Result<()> {
    let cs = Containers::new(root);
    let rec = cs.find(container)?;
    attach::connect(&cs, &rec, net, aliases, ip)?;
    if let Ok(n) = find(root, net) {
        event(root, "connect", &n.id, &n.name, Some(&rec.id));
    }
    Ok(())
}

/// Detaches a container from a network (`force`: even if the container is not found).
pub fn disconnect(root: &Path, net: &str, container: &str, force: bool) -> Result<()> {
    let cs = Containers::new(root);
    let rec = match cs.find(container) {
        Ok(r) => r,
        Err(_) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    attach::disconnect(&cs, &rec, net)?;
    if let Ok(n) = find(root, net) {
        event(root, "disconnect", &n.id, &n.name, Some(&rec.id));
    }
    Ok(())
}

/// Removes every network no container uses (the default `bridge` stays); their names.
pub fn prune(root: &Path) -> Result<Vec<String>> {
    heal(root);
    let mut gone = Vec::new();
    for n in list(root)? {
        if n.name == DEFAULT || !n.containers.is_empty() {
            continue;
        }
        remove(root, &n.id)?;
        gone.push(n.name);
    }
    Ok(gone)
}

/// What a killed berth left: leases of containers that no longer exist (with their veths
/// and ports), namespace files without a container. Cheap when there are no networks.
pub fn heal(root: &Path) {
    let cs = Containers::new(root);
    let nets = records(root);
    for n in &nets {
        let leases = leases_of(root, &n.id);
        let all: BTreeMap<String, Lease> = leases.all();
        let stale: Vec<&String> = all.keys().filter(|id| !cs.dir_of(id).exists()).collect();
        if stale.is_empty() {
            continue;
        }
        let Ok(held) = leases.lock() else { continue };
        let mut ports = false;
        for id in stale {
            let _ = link::unplug(&names::veth_host(id, &n.id));
            ports |= all.get(id).is_some_and(|l| !l.ports.is_empty());
            let _ = held.release(id);
        }
        if ports {
            let _ = n.sync_firewall(root);
        }
        if leases.all::<Lease>().is_empty() {
            dns::stop(root, &n.id);
        }
        drop(held);
        files::refresh_hosts(&cs, n);
    }
    if let Ok(rd) = std::fs::read_dir(root.join("netns")) {
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if !cs.dir_of(&id).exists() {
                let _ = link::remove_netns(&e.path());
            }
        }
    }
}
