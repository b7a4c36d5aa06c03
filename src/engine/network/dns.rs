//! The per-network DNS server as a process: not a daemon. The first container of a network
//! starts it (`berth dns-serve NETID`, hidden; in its own process group, detached), the last
//! one's teardown stops it, and it re-reads the network's leases whenever their directory
//! changes. The socket on `<gateway>:53` is bound here, by the starter, and handed over as
//! the server's stdin: a taken port is known at once, and the server never races a second
//! one for it. A second after it starts, the server also checks the network's accept rules
//! in iptables' FORWARD chain (one that appeared since the network was made).
//!
//! ```text
//! <root>/networks/<id>/dns.pid    0600: the server's pid (written under the leases' lock)
//! ```

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use berth_netns::dns::{self, Zone};
use berth_netns::lease::Held;

use super::{leases_of, net_dir, Lease, NetworkRecord};
use crate::engine::fsutil;

fn pid_path(root: &Path, net_id: &str) -> PathBuf {
    net_dir(root, net_id).join("dns.pid")
}

/// The server's pid when one of ours runs for this network.
pub fn running(root: &Path, net_id: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_path(root, net_id))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = String::from_utf8_lossy(&cmd);
    (cmd.contains("dns-serve") && cmd.contains(net_id)).then_some(pid)
}

/// Makes sure the network's server runs; the caller holds the leases' lock. False when the
/// port is held by another program (the containers then use the host's resolvers).
pub fn ensure(root: &Path, n: &NetworkRecord, _held: &Held<'_>) -> Result<bool> {
    if running(root, &n.id).is_some() {
        return Ok(true);
    }
    let gw = n.gateway()?;
    let bind = || UdpSocket::bind(SocketAddr::from((gw, 53)));
    let sock = match bind() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => return Ok(false),
        // The gateway's address is not on the host yet: a concurrent command is still
        // making the network (its record comes first), or the bridge went. Made here too.
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
            n.ensure_host_objects(root)?;
            match bind() {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => return Ok(false),
                Err(e) => return Err(e).with_context(|| format!("bind the DNS server to {gw}:53")),
            }
        }
        Err(e) => return Err(e).with_context(|| format!("bind the DNS server to {gw}:53")),
    };
    let exe = std::env::current_exe().context("find berth's own binary")?;
    let child = Command::new(exe)
        .arg("--root")
        .arg(root)
        .args(["dns-serve", &n.id])
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(sock)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: a ^C meant for a foreground `run` does not reach it.
        .process_group(0)
        .spawn()
        .context("start the network's DNS server")?;
    fsutil::write_private(&pid_path(root, &n.id), child.id().to_string().as_bytes())?;
    Ok(true)
}

/// Stops the network's server (teardown of its last container, network rm, heal). SIGKILL:
/// it keeps no state, and a server started by a foreground `run` inherited that process's
/// blocked signals. Waited for (reaped when this process started it), so the port is free
/// and nothing of it is left when this returns.
pub fn stop(root: &Path, net_id: &str) {
    if let Some(pid) = running(root, net_id) {
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL);
        for _ in 0..400 {
            use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                // Reaped, or not our child: then gone or a zombie of someone else's.
                Ok(_) => break,
                Err(_) => {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    let state = stat
                        .rsplit(')')
                        .next()
                        .and_then(|s| s.split_whitespace().next());
                    if matches!(state, None | Some("Z") | Some("X")) {
                        break;
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
    }
    let _ = std::fs::remove_file(pid_path(root, net_id));
}

/// The names a network answers: each container's name, aliases, short and full id.
pub fn zone_of(leases: &BTreeMap<String, Lease>, internal: bool, resolv: &str) -> Zone {
    let mut names: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
    for (id, l) in leases {
        let Some(a) = l.addr else { continue };
        let mut keys = vec![
            l.name.clone(),
            id.clone(),
            id[..12.min(id.len())].to_string(),
        ];
        keys.extend(l.aliases.iter().cloned());
        for k in keys {
            let v = names.entry(k.to_ascii_lowercase()).or_default();
            if !v.contains(&a) {
                v.push(a);
            }
        }
    }
    Zone {
        names,
        by_client: BTreeMap::new(),
        upstreams: if internal {
            Vec::new()
        } else {
            dns::upstreams_of(resolv)
        },
    }
}

/// Each of `net_id`'s containers that is on other networks too, by its address here: the
/// names of those networks (`others`: every other network's leases).
fn other_networks_names(
    here: &BTreeMap<String, Lease>,
    others: &[BTreeMap<String, Lease>],
) -> BTreeMap<Ipv4Addr, BTreeMap<String, Vec<Ipv4Addr>>> {
    let mut out = BTreeMap::new();
    for (id, l) in here {
        let Some(a) = l.addr else { continue };
        let mut names: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
        for o in others.iter().filter(|o| o.contains_key(id)) {
            for (k, v) in zone_of(o, true, "").names {
                let e = names.entry(k).or_default();
                for x in v {
                    if !e.contains(&x) {
                        e.push(x);
                    }
                }
            }
        }
        if !names.is_empty() {
            out.insert(a, names);
        }
    }
    out
}

/// When any network's leases last changed (the zone depends on them all).
fn leases_stamp(root: &Path) -> Vec<(std::ffi::OsString, std::time::SystemTime)> {
    let Ok(rd) = std::fs::read_dir(root.join("networks")) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .flatten()
        .filter_map(|e| {
            let m = std::fs::metadata(e.path().join("leases"))
                .and_then(|m| m.modified())
                .ok()?;
            Some((e.file_name(), m))
        })
        .collect();
    v.sort();
    v
}

/// `berth dns-serve NETID`: serves on the socket it was given as stdin until the network
/// has no container left.
pub fn serve(root: &Path, net_id: &str) -> Result<()> {
    let n = super::load(root, net_id)?;
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("take the DNS socket from stdin")?;
    let sock = UdpSocket::from(fd);
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let leases = leases_of(root, net_id);
    let dir = net_dir(root, net_id).join("leases");
    let mut seen = None;
    let mut zone = Zone::default();
    let started = std::time::Instant::now();
    let mut checked = false;
    dns::serve(sock, move || {
        // A second after the network got its first container (so a short `run --rm` never
        // pays for it, and a longer one not on its path): the accept rules reach an iptables
        // FORWARD chain that appeared since the network was made (Docker started later).
        // They depend on the network alone: no lease lock, the table is not rewritten.
        if !checked && started.elapsed() >= std::time::Duration::from_secs(1) {
            checked = true;
            if let Ok(r) = n.rules(root) {
                let _ = berth_netns::firewall::ensure_forward_accepts(&r);
            }
        }
        std::fs::metadata(&dir).ok()?;
        let m = Some(leases_stamp(root));
        if m != seen {
            seen = m;
            let all: BTreeMap<String, Lease> = leases.all();
            if all.is_empty() {
                return None;
            }
            zone = zone_of(&all, n.internal, &resolv);
            let others: Vec<BTreeMap<String, Lease>> = super::records(root)
                .iter()
                .filter(|o| o.id != net_id)
                .map(|o| leases_of(root, &o.id).all())
                .collect();
            zone.by_client = other_networks_names(&all, &others);
        }
        Some(zone.clone())
    })?;
    Ok(())
}
