//! A container's /etc/hosts, /etc/hostname and /etc/resolv.conf, generated in its directory
//! and bind-mounted, in every network mode (Docker does the same). /etc/hosts also names the
//! other containers of its networks (name, aliases, short id); it is rewritten in place
//! (same inode: the bind mount sees it) when a container joins or leaves one of them.
//!
//! ```text
//! <root>/containers/<id>/hosts         0644 (the container's users read it)
//! <root>/containers/<id>/hosts.base    0600: its fixed lines (localhost, --add-host)
//! <root>/containers/<id>/hostname      0644
//! <root>/containers/<id>/resolv.conf   0644
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use super::{leases_of, Lease, NetworkRecord};
use crate::engine::config::{ContainerConfig, DnsConfig, Mount, NetworkMode};
use crate::engine::container::Containers;
use crate::engine::teardown::HostObject;

/// Written in place with a container-readable mode.
fn write_public(p: &Path, data: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o644)
        .open(p)
        .with_context(|| format!("open {}", p.display()))?;
    f.write_all(data)
        .with_context(|| format!("write {}", p.display()))
}

/// The three files for container `id` (own addresses `addrs`), and their mounts; the user's
/// own mounts at those paths win.
pub fn make(
    cs: &Containers,
    id: &str,
    o: &ContainerConfig,
    nameserver: Option<Ipv4Addr>,
) -> Result<Vec<Mount>> {
    let dir = cs.dir_of(id);
    let hostname = crate::engine::spec::container_hostname(o, id);
    let mut base = String::new();
    if o.network == NetworkMode::Host {
        base.push_str(&std::fs::read_to_string("/etc/hosts").unwrap_or_default());
        if !base.ends_with('\n') && !base.is_empty() {
            base.push('\n');
        }
    } else {
        base.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        base.push_str("fe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n");
    }
    for (h, ip) in &o.extra_hosts {
        base.push_str(&format!("{ip}\t{h}\n"));
    }
    crate::engine::fsutil::write_private(&dir.join("hosts.base"), base.as_bytes())?;
    write_public(&dir.join("hostname"), format!("{hostname}\n").as_bytes())?;
    write_hosts(cs, id)?;
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let bridged = matches!(o.network, NetworkMode::Bridge(_));
    write_public(
        &dir.join("resolv.conf"),
        resolv_conf(&o.dns, &host, bridged, nameserver).as_bytes(),
    )?;
    let taken = |d: &str| {
        o.mounts.iter().any(|m| match m {
            Mount::Bind { dst, .. } | Mount::Volume { dst, .. } | Mount::Tmpfs { dst, .. } => {
                dst.trim_end_matches('/') == d
            }
        })
    };
    Ok(["hosts", "hostname", "resolv.conf"]
        .iter()
        .map(|f| (f, format!("/etc/{f}")))
        .filter(|(_, d)| !taken(d))
        .map(|(f, dst)| Mount::Bind {
            src: dir.join(f),
            dst,
            ro: false,
        })
        .collect())
}

/// resolv.conf from the flags, else the network's DNS server (`nameserver`), else the
/// host's: a nameserver on the host's loopback cannot be reached from a container's own
/// namespace, so those are dropped there (as Docker).
pub fn resolv_conf(
    dns: &DnsConfig,
    host: &str,
    bridged: bool,
    nameserver: Option<Ipv4Addr>,
) -> String {
    let mut servers: Vec<String> = dns.servers.iter().map(IpAddr::to_string).collect();
    if servers.is_empty() {
        servers.extend(nameserver.map(|n| n.to_string()));
    }
    let mut search = dns.search.clone();
    let mut options = dns.options.clone();
    let host_servers: Vec<String> = host
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .filter(|s| !bridged || !s.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
        .collect();
    if servers.is_empty() {
        servers = host_servers;
    }
    let words = |key: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter(|r| r.starts_with([' ', '\t']))
            .flat_map(|r| r.split_whitespace().map(String::from).collect::<Vec<_>>())
            .collect()
    };
    if search.is_empty() {
        search = words("search");
    }
    if options.is_empty() {
        options = words("options");
    }
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// The networks container `id` is on, from its record.
pub(super) fn networks_of(cs: &Containers, id: &str) -> Vec<String> {
    cs.load(id)
        .map(|r| {
            r.host_objects
                .iter()
                .filter_map(|o| match o {
                    HostObject::Endpoint { network } => Some(network.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Rewrites container `id`'s /etc/hosts: its own lines, then everyone else on its networks.
pub fn write_hosts(cs: &Containers, id: &str) -> Result<()> {
    let dir = cs.dir_of(id);
    let Ok(base) = std::fs::read_to_string(dir.join("hosts.base")) else {
        return Ok(());
    };
    let hostname = std::fs::read_to_string(dir.join("hostname")).unwrap_or_default();
    let mut out = base;
    let nets = networks_of(cs, id);
    // Its own addresses first (the hostname resolves to them), then the others'.
    for net in &nets {
        if let Some(a) = leases_of(&cs.root, net)
            .get::<Lease>(id)
            .and_then(|l| l.addr)
        {
            out.push_str(&format!("{a}\t{}\n", hostname.trim()));
        }
    }
    for net in nets {
        let leases: BTreeMap<String, Lease> = leases_of(&cs.root, &net).all();
        for (holder, l) in leases {
            let Some(a) = l.addr else { continue };
            if holder == id {
                continue;
            }
            let mut names = vec![l.name.clone()];
            names.extend(l.aliases.iter().cloned());
            names.push(holder[..12].to_string());
            out.push_str(&format!("{a}\t{}\n", names.join(" ")));
        }
    }
    write_public(&dir.join("hosts"), out.as_bytes())
}

/// Rewrites the /etc/hosts of every container on network `n` (one joined or left).
pub fn refresh_hosts(cs: &Containers, n: &NetworkRecord) {
    let leases: BTreeMap<String, Lease> = leases_of(&cs.root, &n.id).all();
    for holder in leases.keys() {
        let _ = write_hosts(cs, holder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_from_host_and_flags() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch a.example b.example\noptions edns0\n";
        let d = DnsConfig::default();
        assert_eq!(
            resolv_conf(&d, host, true, None),
            "nameserver 192.0.2.1\nsearch a.example b.example\noptions edns0\n"
        );
        assert!(resolv_conf(&d, host, false, None).contains("nameserver 127.0.0.53"));
        let d = DnsConfig {
            servers: vec!["10.0.0.2".parse().unwrap()],
            search: vec!["svc.local".into()],
            options: vec!["ndots:2".into()],
        };
        assert_eq!(
            resolv_conf(&d, host, true, None),
            "nameserver 10.0.0.2\nsearch svc.local\noptions ndots:2\n"
        );
        let d = DnsConfig::default();
        assert!(
            resolv_conf(&d, host, true, Some(Ipv4Addr::new(10, 213, 1, 1)))
                .starts_with("nameserver 10.213.1.1\nsearch a.example")
        );
    }
}
