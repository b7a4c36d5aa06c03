//! Bridge networks: their records, the default `bridge` network, and attaching containers
//! (the host side lives in the `berth-netns` crate; this module wires it to containers).
//!
//! ```text
//! <root>/networks/.lock            flock guarding the set (create, remove, prune, leases)
//! <root>/networks/<id>/            0700, one per network
//!   network.json                   the record, shaped as `docker network inspect` prints it
//! ```

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

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

/// Makes a network (its subnet from the pools unless given; the bridge and firewall rules
/// are made when its first container joins).
pub fn create(root: &Path, c: &NetworkConfig) -> Result<NetworkRecord> {
    let _ = (root, c);
    bail!("network create: bridge networks are not built yet")
}

/// Removes a network that no container uses, with its bridge, rules and DNS server.
pub fn remove(root: &Path, name_or_id: &str) -> Result<()> {
    let _ = root;
    bail!("network rm {name_or_id}: bridge networks are not built yet")
}

/// Every network, the default `bridge` one included once it exists.
pub fn list(root: &Path) -> Result<Vec<NetworkRecord>> {
    let _ = root;
    Ok(Vec::new())
}

/// A network by name, full id or unique id prefix.
pub fn find(root: &Path, name_or_id: &str) -> Result<NetworkRecord> {
    let _ = root;
    bail!("network {name_or_id} not found")
}

/// Attaches container `container` (name or id, created or running) to network `net`.
pub fn connect(
    root: &Path,
    net: &str,
    container: &str,
    aliases: &[String],
    ip: Option<Ipv4Addr>,
) -> Result<()> {
    let _ = (root, aliases, ip);
    bail!("network connect {net} {container}: bridge networks are not built yet")
}

/// Detaches a container from a network (`force`: even if the container is not found).
pub fn disconnect(root: &Path, net: &str, container: &str, force: bool) -> Result<()> {
    let _ = (root, force);
    bail!("network disconnect {net} {container}: bridge networks are not built yet")
}

/// Removes every network no container uses (the default `bridge` stays); their names.
pub fn prune(root: &Path) -> Result<Vec<String>> {
    let _ = root;
    Ok(Vec::new())
}
