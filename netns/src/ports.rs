//! Host ports for published container ports: whether one is free (by trying to bind it, as
//! nothing but the kernel knows every program's sockets), who holds it when it is not (from
//! /proc/net/{tcp,udp}* and the processes' descriptors), and a free one for `-P`. The DNAT
//! itself is in firewall.rs; there is no userland proxy.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use crate::error::{Error, Result};

fn bind(ip: Ipv4Addr, port: u16, proto: &str) -> std::io::Result<u16> {
    let a = SocketAddrV4::new(ip, port);
    match proto {
        "udp" => UdpSocket::bind(a)
            .and_then(|s| s.local_addr())
            .map(|a| a.port()),
        // sctp: the TCP check is the best guess without an SCTP socket API in std.
        _ => TcpListener::bind(a)
            .and_then(|s| s.local_addr())
            .map(|a| a.port()),
    }
}

/// Fails with who holds it when another program has `port`/`proto` on `ip` (None: any).
pub fn check_free(ip: Option<Ipv4Addr>, port: u16, proto: &str) -> Result<()> {
    let ip = ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    match bind(ip, port, proto) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(Error::PortTaken {
            addr: ip.to_string(),
            port,
            proto: proto.to_string(),
            holder: holder(port, proto),
        }),
        // An address that is not the host's: DNAT would never see it either.
        Err(e) => Err(Error::Invalid(format!(
            "cannot publish {ip}:{port}/{proto}: {e}"
        ))),
    }
}

/// A port the kernel picks as free now (its ephemeral range), for `-P` and `-p CPORT`.
pub fn free_port(ip: Option<Ipv4Addr>, proto: &str) -> Result<u16> {
    let ip = ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    bind(ip, 0, proto).map_err(|e| Error::Invalid(format!("find a free {proto} port: {e}")))
}

/// "process PID (COMM)" holding a socket bound to `port`, or a plain word when none is found.
pub fn holder(port: u16, proto: &str) -> String {
    let files: &[&str] = match proto {
        "udp" => &["/proc/net/udp", "/proc/net/udp6"],
        _ => &["/proc/net/tcp", "/proc/net/tcp6"],
    };
    let inodes: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| socket_inodes(&t, port, proto != "udp"))
        .collect();
    if inodes.is_empty() {
        return "another program".into();
    }
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return "another program".into();
    };
    for p in rd.flatten() {
        let pid = p.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(l) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let l = l.to_string_lossy();
            if inodes.iter().any(|i| l == format!("socket:[{i}]")) {
                let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                return format!("process {pid} ({})", comm.trim());
            }
        }
    }
    "another program".into()
}

/// Inodes of the sockets in a /proc/net/{tcp,udp} table bound to local `port` (listening
/// ones only for TCP).
pub fn socket_inodes(table: &str, port: u16, listening_only: bool) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f.get(1)?;
            let p = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            let listening = f.get(3) == Some(&"0A");
            (p == port && (listening || !listening_only))
                .then(|| f.get(9).map(|s| s.to_string()))?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_from_proc() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0\n\
           1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0\n";
        assert_eq!(socket_inodes(t, 8080, true), vec!["4242"]);
        assert_eq!(socket_inodes(t, 8080, false), vec!["4242", "4343"]);
        assert!(socket_inodes(t, 80, false).is_empty());
    }

    #[test]
    fn taken_port_names_its_holder() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let e = check_free(Some(Ipv4Addr::LOCALHOST), port, "tcp").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&format!("port {port}/tcp")), "{msg}");
        assert!(
            msg.contains(&format!("process {}", std::process::id())),
            "{msg}"
        );
        drop(l);
        check_free(Some(Ipv4Addr::LOCALHOST), port, "tcp").unwrap();
    }
}
