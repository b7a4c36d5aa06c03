//! A container on bridge networks: its own network namespace (bound under the root before
//! the runtime starts, handed to it as a path), an address leased per network, a veth pair
//! per network, published ports (leases + the network's nft table); and the way back.
//! Each host object is recorded in the container's record before it is made.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use berth_netns::firewall::{self, PortMap};
use berth_netns::{link, names, ports as hostports};

use super::{find_or_default, leases_of, netns_path, Lease, NetworkRecord, PortLease};
use crate::engine::config::{Attachment, ContainerConfig};
use crate::engine::container::{Containers, EndpointSettings, NetworkSettings, PortBinding};
use crate::engine::options::{PortSpec, Proto};
use crate::engine::teardown::HostObject;
use crate::engine::{fault, fsutil};

/// What a container asked of the network, kept in `<dir>/network.json` so that `start`
/// can set it up again after a stop took it down (a stopped container holds no namespace,
/// address or port, as Docker's).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Default)]
pub struct Plan {
    /// Bridge attachments; empty: `--network none` of a container made before the runtime
    /// made that namespace itself (a namespace with `lo` up, kept for its `start`).
    pub atts: Vec<AttPlan>,
    pub ports: Vec<PortSpec>,
    pub publish_all: bool,
    /// The image's exposed ports and `--expose`.
    pub exposed: Vec<(u16, Proto)>,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AttPlan {
    pub network: String,
    pub aliases: Vec<String>,
    pub ip: Option<Ipv4Addr>,
}

impl Plan {
    pub fn of(o: &ContainerConfig, atts: &[Attachment], image_exposed: &[(u16, Proto)]) -> Plan {
        let mut exposed = image_exposed.to_vec();
        exposed.extend(o.exposed.iter().copied());
        Plan {
            atts: atts
                .iter()
                .map(|a| AttPlan {
                    network: a.network.clone(),
                    aliases: a.aliases.clone(),
                    ip: a.ip,
                })
                .collect(),
            ports: o.ports.clone(),
            publish_all: o.publish_all,
            exposed,
        }
    }
    fn path(cs: &Containers, id: &str) -> PathBuf {
        cs.dir_of(id).join("network.json")
    }
    pub fn load(cs: &Containers, id: &str) -> Option<Plan> {
        std::fs::read(Self::path(cs, id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }
    pub fn save(&self, cs: &Containers, id: &str) -> Result<()> {
        fsutil::write_private(&Self::path(cs, id), &serde_json::to_vec(self)?)
    }
}

pub fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
        Proto::Sctp => "sctp",
    }
}

/// Every published port of this root (another container's is taken).
fn published(root: &std::path::Path) -> Vec<(String, PortLease)> {
    let mut v = Vec::new();
    for n in super::records(root) {
        let leases: BTreeMap<String, Lease> = leases_of(root, &n.id).all();
        for l in leases.into_values() {
            for p in l.ports {
                v.push((l.name.clone(), p));
            }
        }
    }
    v
}

/// `-p` and `-P` as host-port leases: ranges expanded, free ports chosen, every port checked
/// against berth's other containers and the host's programs.
fn resolve_ports(
    root: &std::path::Path,
    specs: &[PortSpec],
    publish_all: bool,
    exposed: &[(u16, Proto)],
) -> Result<Vec<PortLease>> {
    // Host ports wanted: None (any free one), or a range to take the first free port of
    // (one port: that port).
    type Want = (Option<Ipv4Addr>, Option<(u16, u16)>, u16, &'static str);
    let mut want: Vec<Want> = Vec::new();
    for s in specs {
        let host_ip = match s.host_ip {
            None => None,
            Some(std::net::IpAddr::V4(ip)) if ip.is_unspecified() => None,
            Some(std::net::IpAddr::V4(ip)) => Some(ip),
            Some(std::net::IpAddr::V6(ip)) => {
                bail!("-p {ip}: IPv6 host addresses are not supported yet")
            }
        };
        let (c0, c1) = s.container_ports;
        for (i, cport) in (c0..=c1).enumerate() {
            // `8000-8010:80`: the first free port of the range (Docker); `8000-8001:80-81`:
            // port by port.
            let hport = s.host_ports.map(|(h0, h1)| {
                if c0 == c1 {
                    (h0, h1)
                } else {
                    let h = h0.saturating_add(i as u16);
                    (h, h)
                }
            });
            want.push((host_ip, hport, cport, proto_name(s.proto)));
        }
    }
    if publish_all {
        for (port, proto) in exposed {
            let p = proto_name(*proto);
            if !want.iter().any(|w| w.2 == *port && w.3 == p) {
                want.push((None, None, *port, p));
            }
        }
    }
    if want.is_empty() {
        return Ok(Vec::new());
    }
    let others = published(root);
    let mut out: Vec<PortLease> = Vec::new();
    for (host_ip, hport, port, proto) in want {
        let clash = |host_port: u16, l: &PortLease| {
            l.host_port == host_port
                && l.proto == proto
                && (l.host_ip.is_none() || host_ip.is_none() || l.host_ip == host_ip)
        };
        // Whether `h` can be had: not berth's already, not twice here, free on the host.
        let take = |h: u16, out: &[PortLease]| -> Result<()> {
            if let Some((name, _)) = others.iter().find(|(_, l)| clash(h, l)) {
                bail!(
                    "port {h}/{proto} on {} is already published by container {name}",
                    host_ip.map_or("0.0.0.0".into(), |i| i.to_string())
                );
            }
            if out.iter().any(|l| clash(h, l)) {
                bail!("port {h}/{proto} is published twice");
            }
            Ok(hostports::check_free(host_ip, h, proto)?)
        };
        let host_port = match hport {
            None => {
                let h = hostports::free_port(host_ip, proto)?;
                take(h, &out)?;
                h
            }
            Some((h0, h1)) if h0 == h1 => {
                take(h0, &out)?;
                h0
            }
            Some((h0, h1)) => (h0..=h1)
                .find(|h| take(*h, &out).is_ok())
                .with_context(|| {
                    format!("no free host port in {h0}-{h1}/{proto} for container port {port}")
                })?,
        };
        out.push(PortLease {
            host_ip,
            host_port,
            port,
            proto: proto.to_string(),
        });
    }
    Ok(out)
}

/// The address, names and ports container `id` gets on network `n`, leased under the
/// network's lease lock; then the network's table when ports changed, and its DNS server
/// (true when it runs).
fn lease(
    cs: &Containers,
    id: &str,
    n: &NetworkRecord,
    a: &Attachment,
    ifname: &str,
    ports: Vec<PortLease>,
) -> Result<(Lease, bool)> {
    let root = &cs.root;
    let subnet = n.subnet()?;
    let gw = n.gateway()?;
    let leases = leases_of(root, &n.id);
    let held = leases.lock()?;
    let all: BTreeMap<String, Lease> = leases.all();
    let mut used: BTreeSet<Ipv4Addr> = all
        .iter()
        .filter(|(h, _)| h.as_str() != id)
        .filter_map(|(_, l)| l.addr)
        .collect();
    used.insert(gw);
    let addr = match a.ip {
        Some(ip) => {
            if !subnet.is_host(ip) {
                bail!(
                    "--ip {ip}: not a host address of network {}'s subnet {subnet}",
                    n.name
                );
            }
            if used.contains(&ip) {
                let holder = all
                    .iter()
                    .find(|(_, l)| l.addr == Some(ip))
                    .map_or("the gateway".to_string(), |(_, l)| {
                        format!("container {}", l.name)
                    });
                bail!(
                    "--ip {ip}: address already in use on network {} (by {holder})",
                    n.name
                );
            }
            ip
        }
        None => berth_netns::ipam::pick_address(&subnet, n.ip_range().as_ref(), &used)?,
    };
    let name = cs
        .load(id)
        .map(|r| r.bare_name().to_string())
        .unwrap_or_default();
    let l = Lease {
        name,
        addr: Some(addr),
        mac: link::mac_string(&link::mac_of(addr)),
        ifname: ifname.to_string(),
        aliases: a.aliases.clone(),
        ports,
    };
    held.put(id, &l)?;
    berth_runtime::debug::step("network: address leased");
    if !l.ports.is_empty() {
        // Another container publishes a port here, so the table has its ports chain: this
        // container's rules are only added (no rewrite, no wait for the kernel).
        let others_publish = all
            .iter()
            .any(|(h, o)| h.as_str() != id && !o.ports.is_empty());
        let maps: Vec<PortMap> = l
            .ports
            .iter()
            .map(|p| PortMap {
                host_ip: p.host_ip,
                host_port: p.host_port,
                addr,
                port: p.port,
                proto: p.proto.clone(),
            })
            .collect();
        if !others_publish || firewall::add_ports(&n.id, &maps).is_err() {
            n.sync_firewall(root)?;
        }
        berth_runtime::debug::step("network: ports published");
    }
    let dns = super::dns::ensure(root, n, &held)?;
    Ok((l, dns))
}

fn endpoint(id: &str, n: &NetworkRecord, l: &Lease, default_route: bool) -> Result<link::Endpoint> {
    let addr = l.addr.context("lease without an address")?;
    Ok(link::Endpoint {
        host_if: names::veth_host(id, &n.id),
        bridge: n.bridge(),
        ifname: l.ifname.clone(),
        addr,
        prefix: n.subnet()?.prefix(),
        gateway: n.gateway()?,
        mtu: n.mtu(),
        mac: link::mac_of(addr),
        default_route,
        // A network without --mtu runs its links at LOCAL_MTU, its way out at the uplink's.
        route_mtu: n.mtu.is_none().then(link::uplink_mtu),
    })
}

fn settings_of(n: &NetworkRecord, l: &Lease, id: &str) -> EndpointSettings {
    let mut dns = vec![l.name.clone(), id[..12].to_string()];
    dns.extend(l.aliases.iter().cloned());
    EndpointSettings {
        aliases: l.aliases.clone(),
        network_id: n.id.clone(),
        endpoint_id: format!("{}{}", &id[..32], &n.id[..32]),
        gateway: n.gateway().map(|g| g.to_string()).unwrap_or_default(),
        ip_address: l.addr.map(|a| a.to_string()).unwrap_or_default(),
        ip_prefix_len: n.subnet().map(|s| s.prefix()).unwrap_or(0),
        mac_address: l.mac.clone(),
        dns_names: dns,
    }
}

fn port_map(ports: &[PortLease]) -> BTreeMap<String, Option<Vec<PortBinding>>> {
    let mut m: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for p in ports {
        m.entry(format!("{}/{}", p.port, p.proto))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p.host_ip.map_or("0.0.0.0".into(), |i| i.to_string()),
                host_port: p.host_port.to_string(),
            });
    }
    m
}

/// Sets container `id` up on the networks `atts` (the first gives the default route and
/// carries the published ports); no attachment (a `--network none` container of an earlier
/// berth, whose config.json joins the namespace by path): a namespace with only `lo`, up. Returns
/// the namespace's path and the DNS server of its first network when that runs.
pub fn setup(cs: &Containers, id: &str, plan: &Plan) -> Result<(PathBuf, Option<Ipv4Addr>)> {
    let root = &cs.root;
    let path = netns_path(root, id);
    fsutil::mkdir_private(&root.join("netns"))?;
    // Recorded before it is made (create records it with the container; a start after a
    // stop may find it gone from the record).
    if !cs.load(id)?.host_objects.contains(&HostObject::Netns) {
        cs.update(id, |r| {
            if !r.host_objects.contains(&HostObject::Netns) {
                r.host_objects.push(HostObject::Netns)
            }
        })?;
    }
    if plan.atts.is_empty() {
        link::setup(&path, link::Ns::Create, &[])
            .with_context(|| format!("make the network namespace {}", path.display()))?;
        return Ok((path, None));
    }
    let mut eps = Vec::new();
    let mut settings = NetworkSettings::default();
    let mut seen = BTreeSet::new();
    let mut nets: Vec<NetworkRecord> = Vec::new();
    let mut nameserver = None;
    for (i, a) in plan.atts.iter().enumerate() {
        let n = find_or_default(root, &a.network)?;
        berth_runtime::debug::step("network: found");
        if !seen.insert(n.id.clone()) {
            bail!("--network {}: given twice", a.network);
        }
        let obj = HostObject::Endpoint {
            network: n.id.clone(),
        };
        cs.update(id, |r| {
            if !r.host_objects.contains(&obj) {
                r.host_objects.push(obj.clone())
            }
        })?;
        fault::point("network-lease")?;
        let ports = if i == 0 {
            resolve_ports(root, &plan.ports, plan.publish_all, &plan.exposed)?
        } else {
            Vec::new()
        };
        let att = Attachment {
            network: a.network.clone(),
            aliases: a.aliases.clone(),
            ip: a.ip,
        };
        let (l, dns) = lease(cs, id, &n, &att, &format!("eth{i}"), ports)?;
        if i == 0 && dns {
            nameserver = Some(n.gateway()?);
        }
        berth_runtime::debug::step("network: leased");
        eps.push(endpoint(id, &n, &l, i == 0)?);
        if i == 0 {
            settings.ports = port_map(&l.ports);
            settings.ip_address = l.addr.map(|a| a.to_string()).unwrap_or_default();
            settings.gateway = n.gateway()?.to_string();
            settings.mac_address = l.mac.clone();
            settings.ip_prefix_len = n.subnet()?.prefix();
        }
        settings
            .networks
            .insert(n.name.clone(), settings_of(&n, &l, id));
        nets.push(n);
    }
    fault::point("network-link")?;
    plug(root, &path, link::Ns::Create, &eps, &nets)?;
    berth_runtime::debug::step("network: linked");
    cs.update(id, |r| r.network_settings = settings)?;
    Ok((path, nameserver))
}

/// The endpoints plugged in; a missing bridge (a create killed half-way, or the bridge
/// deleted from outside) is made again, once.
fn plug(
    root: &std::path::Path,
    path: &std::path::Path,
    ns: link::Ns,
    eps: &[link::Endpoint],
    nets: &[NetworkRecord],
) -> Result<()> {
    let ctx = || format!("set up the network namespace {}", path.display());
    match link::setup(path, ns, eps) {
        Err(berth_netns::Error::BridgeMissing(b)) => {
            for n in nets.iter().filter(|n| n.bridge() == b) {
                n.ensure_host_objects(root)?;
            }
            link::setup(path, link::Ns::Join, eps).with_context(ctx)
        }
        r => r.with_context(ctx),
    }
}

/// `start`: the network a stop took down, set up again from the container's plan.
pub fn ensure_up(cs: &Containers, id: &str) -> Result<()> {
    if netns_path(&cs.root, id).exists() {
        return Ok(());
    }
    let Some(plan) = Plan::load(cs, id) else {
        return Ok(());
    };
    setup(cs, id, &plan)?;
    if !plan.atts.is_empty() {
        let _ = super::files::write_hosts(cs, id);
        announce(cs, id);
    }
    Ok(())
}

/// After the container's files exist: the other containers of its networks learn its name.
pub fn announce(cs: &Containers, id: &str) {
    for net in super::files::networks_of(cs, id) {
        if let Ok(n) = super::find(&cs.root, &net) {
            super::files::refresh_hosts(cs, &n);
        }
    }
}

/// Takes container `id` off network `net_id`: its veth (both ends), its lease, its ports.
/// Gone is done. `with_netns`: the namespace goes next, and the veth with it -- the kernel
/// destroys a dead namespace's interfaces (and their peers) in the background, which spares
/// the caller the ~10-20 ms a veth deletion waits for RCU.
pub fn teardown_endpoint(cs: &Containers, id: &str, net_id: &str, with_netns: bool) -> Result<()> {
    let root = &cs.root;
    if !with_netns {
        link::unplug(&names::veth_host(id, net_id))?;
    }
    fault::point("teardown-endpoint")?;
    let n = match super::load(root, net_id) {
        Ok(n) => n,
        Err(_) => return Ok(()),
    };
    let leases = leases_of(root, net_id);
    let held = leases.lock()?;
    let had: Option<Lease> = leases.get(id);
    held.release(id)?;
    if had.is_some_and(|l| !l.ports.is_empty()) {
        firewall::write_table(&n.rules(root)?)
            .with_context(|| format!("network {}: write its nft table", n.name))?;
    }
    if leases.all::<Lease>().is_empty() {
        super::dns::stop(root, net_id);
    }
    drop(held);
    super::files::refresh_hosts(cs, &n);
    Ok(())
}

/// The namespace file of container `id`; gone is done.
pub fn teardown_netns(cs: &Containers, id: &str) -> Result<()> {
    link::remove_netns(&netns_path(&cs.root, id))?;
    Ok(())
}

/// `network connect`: one more network for a container that has its own namespace.
pub fn connect(
    cs: &Containers,
    rec: &crate::engine::container::Record,
    net: &str,
    aliases: &[String],
    ip: Option<Ipv4Addr>,
) -> Result<()> {
    let path = netns_path(&cs.root, &rec.id);
    let mut plan = match Plan::load(cs, &rec.id) {
        Some(p) if !p.atts.is_empty() => p,
        _ => bail!(
            "container {} is not on a bridge network (its network mode is {}): it cannot be connected",
            rec.bare_name(),
            rec.host_config.network_mode
        ),
    };
    let n = find_or_default(&cs.root, net)?;
    let on = super::files::networks_of(cs, &rec.id);
    if on.contains(&n.id) {
        bail!(
            "container {} is already on network {}",
            rec.bare_name(),
            n.name
        );
    }
    let id = rec.id.clone();
    cs.update(&id, |r| {
        r.host_objects.push(HostObject::Endpoint {
            network: n.id.clone(),
        })
    })?;
    // The next free ethN inside.
    let used: BTreeSet<String> = on
        .iter()
        .filter_map(|nid| leases_of(&cs.root, nid).get::<Lease>(&id))
        .map(|l| l.ifname)
        .collect();
    let ifname = (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !used.contains(n))
        .unwrap_or_default();
    let a = Attachment {
        network: n.name.clone(),
        aliases: aliases.to_vec(),
        ip,
    };
    plan.atts.push(AttPlan {
        network: n.name.clone(),
        aliases: aliases.to_vec(),
        ip,
    });
    plan.save(cs, &id)?;
    if !path.exists() {
        // Stopped: it joins when it starts.
        return Ok(());
    }
    let res = (|| -> Result<()> {
        let (l, _) = lease(cs, &id, &n, &a, &ifname, Vec::new())?;
        let ep = endpoint(&id, &n, &l, on.is_empty())?;
        plug(
            &cs.root,
            &path,
            link::Ns::Join,
            &[ep],
            std::slice::from_ref(&n),
        )?;
        cs.update(&id, |r| {
            r.network_settings
                .networks
                .insert(n.name.clone(), settings_of(&n, &l, &id));
        })?;
        Ok(())
    })();
    if let Err(e) = res {
        let _ = teardown_endpoint(cs, &id, &n.id, false);
        let _ = cs.update(&id, |r| {
            r.host_objects.retain(|o| {
                o != &HostObject::Endpoint {
                    network: n.id.clone(),
                }
            })
        });
        return Err(e);
    }
    let _ = super::files::write_hosts(cs, &id);
    super::files::refresh_hosts(cs, &n);
    Ok(())
}

/// `network disconnect`.
pub fn disconnect(
    cs: &Containers,
    rec: &crate::engine::container::Record,
    net: &str,
) -> Result<()> {
    let n = super::find(&cs.root, net)?;
    let obj = HostObject::Endpoint {
        network: n.id.clone(),
    };
    if !rec.host_objects.contains(&obj) {
        bail!(
            "container {} is not connected to network {}",
            rec.bare_name(),
            n.name
        );
    }
    teardown_endpoint(cs, &rec.id, &n.id, false)?;
    if let Some(mut plan) = Plan::load(cs, &rec.id) {
        plan.atts
            .retain(|a| a.network != n.name && a.network != n.id && !n.id.starts_with(&a.network));
        plan.save(cs, &rec.id)?;
    }
    cs.update(&rec.id, |r| {
        r.host_objects.retain(|o| o != &obj);
        r.network_settings.networks.remove(&n.name);
    })?;
    let _ = super::files::write_hosts(cs, &rec.id);
    Ok(())
}
