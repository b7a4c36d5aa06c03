//! nftables: one table per network (`ip berth_<12hex>`), rewritten whole as one atomic batch
//! (`nft -f -`) whenever the network's rules change, and deleted with the network. Rewriting
//! the whole table from the network's state means no rule outlives what made it: a removed
//! container's DNAT goes with the next rewrite, and a rewrite after a killed berth heals.
//!
//! Other tables are never touched, with one exception the kernel forces: a packet must be
//! accepted by every base chain on its hook, so when iptables-nft's `ip filter FORWARD`
//! exists (Docker, a firewall), rules that accept the network's traffic are inserted there,
//! only in forms iptables-nft reads back (so iptables, Docker and podman can still use the
//! chain), marked with the comment `berth_<12hex>`, found again by that comment or the
//! bridge's name and deleted on teardown (as netavark does for its iptables driver).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::ipam::Subnet;

/// A published port: `host_ip:host_port` -> `addr:port` of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMap {
    /// None: every address of the host (including 127.0.0.1).
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub addr: Ipv4Addr,
    pub port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub proto: String,
}

/// Everything one network's table says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetRules {
    /// The network's id (hex); the table is `berth_<12hex>`.
    pub id: String,
    pub bridge: String,
    pub subnet: Subnet,
    pub internal: bool,
    pub ports: Vec<PortMap>,
}

/// The table of network `id`.
pub fn table_name(id: &str) -> String {
    format!("berth_{}", &id[..id.len().min(12)])
}

impl NetRules {
    /// The batch that replaces the network's table (made first if absent, so the delete
    /// never fails; nft applies the whole file atomically or nothing).
    pub fn batch(&self) -> String {
        let t = table_name(&self.id);
        let br = &self.bridge;
        let sn = self.subnet;
        let mut b = String::new();
        let _ = writeln!(b, "table ip {t} {{}}\ndelete table ip {t}\ntable ip {t} {{");
        // Forward: isolation from berth's other bridges (by interface group, whatever their
        // names); internal: no way out or in.
        let _ = writeln!(
            b,
            "  chain forward {{\n    type filter hook forward priority filter; policy accept;"
        );
        if self.internal {
            let _ = writeln!(b, "    iifname \"{br}\" oifname != \"{br}\" drop");
            let _ = writeln!(b, "    oifname \"{br}\" iifname != \"{br}\" drop");
        } else {
            // From outside, only answers and published ports come in (the FORWARD accept
            // rules above let everything through to the bridge).
            let _ = writeln!(
                b,
                "    oifname \"{br}\" iifname != \"{br}\" ct state new ct status != dnat drop"
            );
            let g = crate::link::BRIDGE_GROUP;
            let _ = writeln!(
                b,
                "    iifname \"{br}\" oifname != \"{br}\" oifgroup {g} drop"
            );
            let _ = writeln!(
                b,
                "    oifname \"{br}\" iifname != \"{br}\" iifgroup {g} drop"
            );
        }
        let _ = writeln!(b, "  }}");
        let _ = writeln!(
            b,
            "  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;"
        );
        if !self.internal {
            let _ = writeln!(b, "    ip saddr {sn} oifname != \"{br}\" masquerade");
        }
        if !self.ports.is_empty() {
            // 127.0.0.1 DNAT'd out of the bridge, and hairpin (a container reaching another
            // through a host address): the answer must come back through the host.
            let _ = writeln!(b, "    oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade");
            let _ = writeln!(
                b,
                "    oifname \"{br}\" ip saddr {sn} ct status dnat masquerade"
            );
        }
        let _ = writeln!(b, "  }}");
        if !self.ports.is_empty() {
            let _ = writeln!(b, "  chain ports {{");
            for p in &self.ports {
                let _ = writeln!(b, "    {}", port_rule(p));
            }
            let _ = writeln!(b, "  }}");
            let _ = writeln!(
                b,
                "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump ports\n  }}"
            );
            let _ = writeln!(
                b,
                "  chain output {{\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump ports\n  }}"
            );
        }
        let _ = writeln!(b, "}}");
        b
    }

    /// The rules for iptables' FORWARD chain (inserted at its top), so that a DROP policy
    /// there does not stop the network's traffic. Only forms iptables-nft reads back
    /// (`-i/-o IF -m comment -j ACCEPT`): a native `ct` expression there would make it call
    /// the whole chain incompatible, breaking Docker and podman. Strictness (only answers
    /// and published ports may come in from outside) lives in berth's own table.
    pub fn forward_accepts(&self) -> Vec<String> {
        let br = &self.bridge;
        let c = table_name(&self.id);
        if self.internal {
            return vec![format!(
                "iifname \"{br}\" oifname \"{br}\" counter accept comment \"{c}\""
            )];
        }
        vec![
            format!("iifname \"{br}\" counter accept comment \"{c}\""),
            format!("oifname \"{br}\" counter accept comment \"{c}\""),
        ]
    }
}

/// The nft command, found once: by its path where Debian installs it, so a spawn does not
/// try every PATH entry before /usr/sbin; else through PATH.
fn nft() -> Command {
    static PATH: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    let p = PATH.get_or_init(|| {
        ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .unwrap_or("nft")
    });
    Command::new(p)
}

/// Runs one nft batch (`nft -f -`); the batch is applied whole or not at all.
pub fn apply(batch: &str) -> Result<()> {
    let mut c = nft()
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft(format!("run nft (Debian package nftables): {e}")))?;
    if let Some(mut i) = c.stdin.take() {
        i.write_all(batch.as_bytes())
            .map_err(|e| Error::Nft(format!("write the batch to nft: {e}")))?;
    }
    let out = c
        .wait_with_output()
        .map_err(|e| Error::Nft(format!("wait for nft: {e}")))?;
    if !out.status.success() {
        return Err(Error::Nft(format!(
            "{} (batch:\n{batch})",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Handles of the network's rules in iptables-nft's `ip filter FORWARD`: those carrying its
/// comment natively, or naming its bridge (berth's own interface: iptables-nft keeps
/// `-m comment` as a match nft does not show, and iptables cannot list a chain another
/// program left unreadable). None when that chain does not exist (nothing to accept in).
fn forward_rules_marked(comment: &str, bridge: &str) -> Result<Option<Vec<u64>>> {
    Ok(forward_chain()?.map(|v| marked_handles(&v, comment, bridge)))
}

/// `nft -j list chain ip filter FORWARD`; None when that chain does not exist.
fn forward_chain() -> Result<Option<serde_json::Value>> {
    let out = nft()
        .args(["-j", "list", "chain", "ip", "filter", "FORWARD"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::Nft(format!("run nft (Debian package nftables): {e}")))?;
    if !out.status.success() {
        return Ok(None);
    }
    serde_json::from_slice(&out.stdout)
        .map(Some)
        .map_err(|e| Error::Nft(format!("nft -j list chain ip filter FORWARD: {e}")))
}

/// The handles of the rules of a `nft -j` listing whose comment is `comment` or that match
/// on the interface `bridge`.
pub fn marked_handles(v: &serde_json::Value, comment: &str, bridge: &str) -> Vec<u64> {
    let quoted = serde_json::Value::String(bridge.to_string()).to_string();
    v.get("nftables")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("rule"))
                .filter(|r| {
                    r.get("comment").and_then(|c| c.as_str()) == Some(comment)
                        || r.get("expr")
                            .is_some_and(|e| e.to_string().contains(&quoted))
                })
                .filter_map(|r| r.get("handle").and_then(|h| h.as_u64()))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes the network's table and, when iptables-nft's FORWARD chain exists, its accept
/// rules there (the old ones deleted), in one batch.
pub fn sync(r: &NetRules) -> Result<()> {
    let mut batch = r.batch();
    if let Some(old) = forward_rules_marked(&table_name(&r.id), &r.bridge)? {
        for h in old {
            let _ = writeln!(batch, "delete rule ip filter FORWARD handle {h}");
        }
        for rule in r.forward_accepts().iter().rev() {
            let _ = writeln!(batch, "insert rule ip filter FORWARD {rule}");
        }
    }
    apply(&batch)
}

/// Rewrites the network's table alone: for a change of its containers' ports, which leaves
/// the accept rules in iptables' FORWARD chain as they are (they depend on the network
/// only). One nft run instead of two.
pub fn write_table(r: &NetRules) -> Result<()> {
    apply(&r.batch())
}

/// Adds published ports to a table that already has its `ports` chain (another container
/// of the network publishes one), at the chain's top, so a rule left by a container that
/// went without a rewrite cannot shadow them. Additions only: a batch that deletes a rule
/// waits for the kernel's RCU grace period (~15 ms here), one that only adds does not.
/// Fails, changing nothing, when the chain is missing; the caller then rewrites the table.
pub fn add_ports(id: &str, ports: &[PortMap]) -> Result<()> {
    let t = table_name(id);
    let mut batch = String::new();
    for p in ports {
        let _ = writeln!(batch, "insert rule ip {t} ports {}", port_rule(p));
    }
    apply(&batch)
}

/// One DNAT rule of the `ports` chain.
fn port_rule(p: &PortMap) -> String {
    let daddr = p
        .host_ip
        .map(|ip| format!("ip daddr {ip} "))
        .unwrap_or_default();
    format!(
        "{daddr}{} dport {} dnat to {}:{}",
        p.proto, p.host_port, p.addr, p.port
    )
}

/// Only the accept rules in iptables' FORWARD chain, when that chain exists and they are
/// not all there (a chain that appeared after the network was made). They depend on the
/// network alone, not on its containers, so no lease lock is needed.
pub fn ensure_forward_accepts(r: &NetRules) -> Result<()> {
    let Some(old) = forward_rules_marked(&table_name(&r.id), &r.bridge)? else {
        return Ok(());
    };
    let want = r.forward_accepts();
    if old.len() == want.len() {
        return Ok(());
    }
    // The first line fails when the network's table is gone (a `network rm` since, or
    // racing: this runs in the DNS server, whose nft child outlives its SIGKILL), and with
    // it the whole batch: the rules never outlive their table.
    let mut batch = format!("add chain ip {} forward\n", table_name(&r.id));
    for h in old {
        let _ = writeln!(batch, "delete rule ip filter FORWARD handle {h}");
    }
    for rule in want.iter().rev() {
        let _ = writeln!(batch, "insert rule ip filter FORWARD {rule}");
    }
    apply(&batch)
}

/// Deletes the network's table and its rules in iptables' FORWARD chain (`bridge`: its
/// bridge's name), in one batch; what is gone is done. The same batch sweeps accept rules
/// whose table no longer exists (left by an older berth's race with `network rm`): a table
/// and its rules are made in one batch, so such a rule belongs to no live network, whichever
/// root made it. The list of tables is read only when the chain holds another network's.
/// Tried twice: a rule changed between listing and deleting (see ensure_forward_accepts)
/// fails the batch, and a second listing sees it.
pub fn remove(id: &str, bridge: &str) -> Result<()> {
    let t = table_name(id);
    let attempt = || {
        let mut batch = format!("table ip {t} {{}}\ndelete table ip {t}\n");
        if let Some(v) = forward_chain()? {
            let mut doomed = marked_handles(&v, &t, bridge);
            if !orphan_handles(&v, std::slice::from_ref(&t)).is_empty() {
                let live: Vec<String> = tables()?
                    .into_iter()
                    .map(|x| format!("berth_{x}"))
                    .filter(|x| *x != t)
                    .collect();
                for (h, _) in orphan_handles(&v, &live) {
                    if !doomed.contains(&h) {
                        doomed.push(h);
                    }
                }
            }
            for h in doomed {
                let _ = writeln!(batch, "delete rule ip filter FORWARD handle {h}");
            }
        }
        apply(&batch)
    };
    attempt().or_else(|_| attempt())
}

/// The (handle, comment) of each rule of a `nft -j` listing whose comment is a berth
/// network's table name not among `live`.
pub fn orphan_handles(v: &serde_json::Value, live: &[String]) -> Vec<(u64, String)> {
    v.get("nftables")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("rule"))
                .filter_map(|r| {
                    let c = r.get("comment")?.as_str()?;
                    let hex = c.strip_prefix("berth_")?;
                    let ours = hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit());
                    (ours && !live.iter().any(|l| l == c))
                        .then(|| Some((r.get("handle")?.as_u64()?, c.to_string())))?
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Tables of berth networks on the host (`berth_<12hex>`), for healing.
pub fn tables() -> Result<Vec<String>> {
    let out = nft()
        .args(["list", "tables", "ip"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::Nft(format!("run nft (Debian package nftables): {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("table ip berth_"))
        .map(|s| s.trim().to_string())
        .collect())
}

/// Turns on IPv4 forwarding if it is off; true when it had to (the caller says so once).
pub fn ensure_ip_forward() -> Result<bool> {
    let p = "/proc/sys/net/ipv4/ip_forward";
    let v = std::fs::read_to_string(p).map_err(|e| Error::io("read", p, e))?;
    if v.trim() == "1" {
        return Ok(false);
    }
    std::fs::write(p, b"1").map_err(|e| Error::io("write", p, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(internal: bool, ports: Vec<PortMap>) -> NetRules {
        NetRules {
            id: "0123456789abcdef".into(),
            bridge: "br-0123456789ab".into(),
            subnet: "10.213.7.0/24".parse().unwrap(),
            internal,
            ports,
        }
    }

    #[test]
    fn network_batch() {
        let b = rules(false, vec![]).batch();
        assert!(
            b.starts_with("table ip berth_0123456789ab {}\ndelete table ip berth_0123456789ab\n")
        );
        assert!(b.contains("ip saddr 10.213.7.0/24 oifname != \"br-0123456789ab\" masquerade"));
        assert!(b.contains("oifgroup 16962 drop"));
        assert!(!b.contains("dnat to"));
        assert!(!b.contains("hook prerouting"));
    }

    #[test]
    fn internal_has_no_way_out() {
        let r = rules(true, vec![]);
        let b = r.batch();
        assert!(!b.contains("masquerade"));
        assert!(b.contains("iifname \"br-0123456789ab\" oifname != \"br-0123456789ab\" drop"));
        assert_eq!(
            r.forward_accepts(),
            vec!["iifname \"br-0123456789ab\" oifname \"br-0123456789ab\" counter accept comment \"berth_0123456789ab\""]
        );
    }

    #[test]
    fn published_port_batch() {
        let b = rules(
            false,
            vec![
                PortMap {
                    host_ip: None,
                    host_port: 8080,
                    addr: Ipv4Addr::new(10, 213, 7, 2),
                    port: 80,
                    proto: "tcp".into(),
                },
                PortMap {
                    host_ip: Some(Ipv4Addr::LOCALHOST),
                    host_port: 5353,
                    addr: Ipv4Addr::new(10, 213, 7, 3),
                    port: 53,
                    proto: "udp".into(),
                },
            ],
        )
        .batch();
        assert!(b.contains("    tcp dport 8080 dnat to 10.213.7.2:80\n"));
        assert!(b.contains("    ip daddr 127.0.0.1 udp dport 5353 dnat to 10.213.7.3:53\n"));
        assert!(b.contains("type nat hook output priority -100"));
        assert!(b.contains("fib daddr type local jump ports"));
        assert!(b.contains("oifname \"br-0123456789ab\" ip saddr 127.0.0.0/8 masquerade"));
        assert!(b.contains("ct status dnat masquerade"));
    }

    #[test]
    fn finds_orphan_rules() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"nftables":[{"metainfo":{}},{"chain":{"name":"FORWARD"}},
            {"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":7,"comment":"berth_0123456789ab","expr":[]}},
            {"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":8,"comment":"berth_aaaaaaaaaaaa","expr":[]}},
            {"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":9,"comment":"berth_mine","expr":[]}},
            {"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":10,"expr":[]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            orphan_handles(&v, &["berth_0123456789ab".to_string()]),
            vec![(8, "berth_aaaaaaaaaaaa".to_string())]
        );
    }

    #[test]
    fn finds_marked_rules() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"nftables":[{"metainfo":{}},{"chain":{"name":"FORWARD"}},
            {"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":7,"comment":"berth_0123456789ab","expr":[]}},
            {"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":8,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"br-0123456789ab"}},{"accept":null}]}},
            {"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":9,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"br-0123456789abc"}}]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            marked_handles(&v, "berth_0123456789ab", "br-0123456789ab"),
            vec![7, 8]
        );
    }
}
