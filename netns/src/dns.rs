//! A network's DNS server: answers A queries for the names of the network's containers
//! (names, aliases, short ids; every address of a shared name, in rotating order) and
//! relays other queries to the host's resolvers (none for an --internal network).
//!
//! Hand-written over UDP rather than hickory-server: the server needs one record type, one
//! class and a relay, and a 300-line responder with its own parser (fuzzed: fuzz target
//! `dns`) builds in no time and starts in well under a millisecond, which matters because
//! it starts with a network's first container. RFC 1035 §4.1 is the wire format.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::error::{Error, Result};

const TYPE_A: u16 = 1;
#[cfg(test)]
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;

/// One question of a query (the only one: resolvers send one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// Lowercase, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the question ends in the packet (answers copy it).
    pub end: usize,
    /// Recursion desired.
    pub rd: bool,
}

/// Parses a query's header and first question. Refuses responses, compression in the
/// question (not used by resolvers) and names over 255 bytes.
pub fn parse_query(p: &[u8]) -> Result<Query> {
    let bad = |w: &str| Error::Invalid(format!("dns query: {w}"));
    if p.len() < 12 {
        return Err(bad("shorter than a header"));
    }
    let id = u16::from_be_bytes([p[0], p[1]]);
    if p[2] & 0x80 != 0 {
        return Err(bad("a response, not a query"));
    }
    if (p[2] >> 3) & 0x0f != 0 {
        return Err(bad("not a standard query"));
    }
    let qd = u16::from_be_bytes([p[4], p[5]]);
    if qd != 1 {
        return Err(bad("want exactly one question"));
    }
    let mut i = 12;
    let mut labels: Vec<String> = Vec::new();
    let mut total = 0;
    loop {
        let len = *p.get(i).ok_or_else(|| bad("name runs past the end"))? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return Err(bad("compressed or extended label in the question"));
        }
        total += len + 1;
        if total > 255 {
            return Err(bad("name longer than 255 bytes"));
        }
        let l = p
            .get(i..i + len)
            .ok_or_else(|| bad("label runs past the end"))?;
        labels.push(String::from_utf8_lossy(l).to_ascii_lowercase());
        i += len;
    }
    let f = p
        .get(i..i + 4)
        .ok_or_else(|| bad("question without type and class"))?;
    Ok(Query {
        id,
        name: labels.join("."),
        qtype: u16::from_be_bytes([f[0], f[1]]),
        qclass: u16::from_be_bytes([f[2], f[3]]),
        end: i + 4,
        rd: p[2] & 0x01 != 0,
    })
}

/// A response to `q` (asked as `packet`) with `addrs` as A records (TTL 0: containers come
/// and go) and `rcode`.
pub fn response(packet: &[u8], q: &Query, addrs: &[Ipv4Addr], rcode: u8) -> Vec<u8> {
    let mut r = Vec::with_capacity(q.end + addrs.len() * 16);
    r.extend_from_slice(&packet[..2]);
    // QR, opcode 0, AA, RD as asked; RA; rcode.
    r.push(0x84 | u8::from(q.rd));
    r.push(0x80 | (rcode & 0x0f));
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&packet[12..q.end]);
    for a in addrs {
        // The name: a pointer to the question's (offset 12).
        r.extend_from_slice(&[0xc0, 0x0c]);
        r.extend_from_slice(&TYPE_A.to_be_bytes());
        r.extend_from_slice(&CLASS_IN.to_be_bytes());
        r.extend_from_slice(&0u32.to_be_bytes());
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&a.octets());
    }
    r
}

/// A bare error answer (FORMERR when even the header is unusable).
fn error_response(packet: &[u8], rcode: u8) -> Option<Vec<u8>> {
    if packet.len() < 12 {
        return None;
    }
    let mut r = packet[..12].to_vec();
    r[2] = 0x80 | (packet[2] & 0x79);
    r[3] = 0x80 | rcode;
    r[4..12].fill(0);
    Some(r)
}

/// What the server answers from: names (lowercase) to addresses, and where other names go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    pub names: BTreeMap<String, Vec<Ipv4Addr>>,
    /// Names of a client's other networks, by the client's address here: a container on
    /// several networks resolves the names of all of them (as Docker's embedded DNS), and
    /// no one else gets them.
    pub by_client: BTreeMap<Ipv4Addr, BTreeMap<String, Vec<Ipv4Addr>>>,
    /// Empty: nothing is forwarded (--internal).
    pub upstreams: Vec<SocketAddr>,
}

/// What to do with one query.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Answer(Vec<u8>),
    /// Relay the packet to the upstreams.
    Forward,
    Drop,
}

/// The reply to `packet`; `turn` rotates the order of a shared name's addresses.
pub fn reply(packet: &[u8], zone: &Zone, turn: usize) -> Reply {
    reply_to(packet, zone, None, turn)
}

/// `reply` for a query from `client`: the network's names first, then those of the
/// client's other networks.
pub fn reply_to(packet: &[u8], zone: &Zone, client: Option<Ipv4Addr>, turn: usize) -> Reply {
    let q = match parse_query(packet) {
        Ok(q) => q,
        Err(_) => return error_response(packet, RCODE_FORMERR).map_or(Reply::Drop, Reply::Answer),
    };
    let key = q.name.trim_end_matches('.');
    let found = zone.names.get(key).or_else(|| {
        client
            .and_then(|c| zone.by_client.get(&c))
            .and_then(|names| names.get(key))
    });
    if let Some(addrs) = found {
        if q.qclass != CLASS_IN {
            return Reply::Answer(response(packet, &q, &[], 0));
        }
        // A name of the network: an A answer, or an empty one for other types (AAAA), so the
        // resolver does not go on asking elsewhere.
        let mut v = addrs.clone();
        if !v.is_empty() {
            let k = turn % v.len();
            v.rotate_left(k);
        }
        if q.qtype != TYPE_A {
            v.clear();
        }
        return Reply::Answer(response(packet, &q, &v, 0));
    }
    // A single label that is no container here is no name anywhere: fail fast. So does
    // everything on a network that forwards nothing.
    if !key.contains('.') || zone.upstreams.is_empty() {
        return Reply::Answer(response(packet, &q, &[], RCODE_NXDOMAIN));
    }
    Reply::Forward
}

/// Asks the upstreams in turn (2 s each); the first answer, or SERVFAIL.
pub fn forward(packet: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for u in upstreams {
        let Ok(s) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.send_to(packet, u).is_err() {
            continue;
        }
        let mut buf = [0u8; 4096];
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            if from == *u && n >= 2 && buf[..2] == packet[..2] {
                return Some(buf[..n].to_vec());
            }
        }
    }
    error_response(packet, RCODE_SERVFAIL)
}

/// The server's loop on `sock`: `zone` is called before each query and returns the current
/// zone, or None when the server should stop (its network has no container left); it is
/// also called once a second while idle.
pub fn serve(sock: UdpSocket, mut zone: impl FnMut() -> Option<Zone>) -> Result<()> {
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| Error::Invalid(format!("dns socket: {e}")))?;
    let mut turn = 0usize;
    let mut buf = [0u8; 1500];
    loop {
        let got = sock.recv_from(&mut buf);
        let Some(z) = zone() else { return Ok(()) };
        let (n, from) = match got {
            Ok(x) => x,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Invalid(format!("dns socket: {e}"))),
        };
        let packet = buf[..n].to_vec();
        turn = turn.wrapping_add(1);
        let client = match from.ip() {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        };
        match reply_to(&packet, &z, client, turn) {
            Reply::Answer(r) => {
                let _ = sock.send_to(&r, from);
            }
            Reply::Forward => {
                // A slow upstream must not hold up the network's own names.
                if let Ok(s) = sock.try_clone() {
                    let ups = z.upstreams.clone();
                    std::thread::spawn(move || {
                        if let Some(r) = forward(&packet, &ups) {
                            let _ = s.send_to(&r, from);
                        }
                    });
                }
            }
            Reply::Drop => {}
        }
    }
}

/// The host's resolvers (port 53) from resolv.conf text; loopback ones are kept: the server
/// runs in the host's namespace, where they answer.
pub fn upstreams_of(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|s| s.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// A query packet for `name` (tests and the fuzz seed).
pub fn query_packet(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.').filter(|l| !l.is_empty()) {
        p.push(l.len() as u8);
        p.extend_from_slice(l.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&CLASS_IN.to_be_bytes());
    p
}

/// The A addresses of a response (tests).
pub fn answers_of(r: &[u8]) -> Vec<Ipv4Addr> {
    if r.len() < 12 {
        return Vec::new();
    }
    let Ok(q) = parse_query(&{
        let mut x = r.to_vec();
        if x.len() > 2 {
            x[2] &= 0x7f;
        }
        x
    }) else {
        return Vec::new();
    };
    let an = u16::from_be_bytes([r[6], r[7]]) as usize;
    let mut out = Vec::new();
    let mut i = q.end;
    for _ in 0..an {
        // Pointer name (2) + type, class, ttl, rdlength (10) + rdata.
        let Some(h) = r.get(i..i + 12) else { break };
        let len = u16::from_be_bytes([h[10], h[11]]) as usize;
        if let Some(d) = r.get(i + 12..i + 12 + len) {
            if len == 4 {
                out.push(Ipv4Addr::new(d[0], d[1], d[2], d[3]));
            }
        }
        i += 12 + len;
    }
    out
}

/// The response code of a response (tests).
pub fn rcode_of(r: &[u8]) -> u8 {
    r.get(3).map_or(0xff, |b| b & 0x0f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        Zone {
            names: BTreeMap::from([
                ("web".into(), vec![Ipv4Addr::new(10, 213, 1, 2)]),
                (
                    "api".into(),
                    vec![
                        Ipv4Addr::new(10, 213, 1, 3),
                        Ipv4Addr::new(10, 213, 1, 4),
                        Ipv4Addr::new(10, 213, 1, 5),
                    ],
                ),
            ]),
            upstreams: vec!["192.0.2.53:53".parse().unwrap()],
            by_client: BTreeMap::new(),
        }
    }

    #[test]
    fn a_client_on_two_networks_gets_the_other_ones_names() {
        let mut z = zone();
        let client = Ipv4Addr::new(10, 213, 1, 9);
        z.by_client.insert(
            client,
            BTreeMap::from([("db".into(), vec![Ipv4Addr::new(10, 214, 0, 2)])]),
        );
        let p = query_packet(3, "db", TYPE_A);
        let Reply::Answer(r) = reply_to(&p, &z, Some(client), 0) else {
            panic!("no answer")
        };
        assert_eq!(answers_of(&r), vec![Ipv4Addr::new(10, 214, 0, 2)]);
        // Another client of this network does not see it.
        let Reply::Answer(r) = reply_to(&p, &z, Some(Ipv4Addr::new(10, 213, 1, 2)), 0) else {
            panic!("no answer")
        };
        assert_eq!(rcode_of(&r), RCODE_NXDOMAIN);
        // The network's own names come first.
        let p = query_packet(4, "web", TYPE_A);
        let Reply::Answer(r) = reply_to(&p, &z, Some(client), 0) else {
            panic!("no answer")
        };
        assert_eq!(answers_of(&r), vec![Ipv4Addr::new(10, 213, 1, 2)]);
    }

    #[test]
    fn parses_a_query() {
        let p = query_packet(0x1234, "Web.Example.", TYPE_A);
        let q = parse_query(&p).unwrap();
        assert_eq!(q.id, 0x1234);
        assert_eq!(q.name, "web.example");
        assert_eq!(q.qtype, TYPE_A);
        assert_eq!(q.end, p.len());
        assert!(parse_query(&p[..p.len() - 1]).is_err());
        assert!(parse_query(&p[..5]).is_err());
    }

    #[test]
    fn answers_names_and_rotates_shared_ones() {
        let z = zone();
        let p = query_packet(7, "web", TYPE_A);
        let Reply::Answer(r) = reply(&p, &z, 0) else {
            panic!("no answer")
        };
        assert_eq!(&r[..2], &[0, 7]);
        assert_eq!(rcode_of(&r), 0);
        assert_eq!(answers_of(&r), vec![Ipv4Addr::new(10, 213, 1, 2)]);
        let p = query_packet(8, "API", TYPE_A);
        let firsts: Vec<Ipv4Addr> = (0..3)
            .map(|t| match reply(&p, &z, t) {
                Reply::Answer(r) => {
                    let a = answers_of(&r);
                    assert_eq!(a.len(), 3);
                    a[0]
                }
                _ => panic!("no answer"),
            })
            .collect();
        let mut d = firsts.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 3, "rotation: {firsts:?}");
        // AAAA for a container: an empty answer, not a forward.
        let Reply::Answer(r) = reply(&query_packet(9, "web", TYPE_AAAA), &z, 0) else {
            panic!("no answer")
        };
        assert_eq!(rcode_of(&r), 0);
        assert!(answers_of(&r).is_empty());
    }

    #[test]
    fn unknown_names_fail_fast_or_go_upstream() {
        let z = zone();
        let Reply::Answer(r) = reply(&query_packet(1, "nosuch", TYPE_A), &z, 0) else {
            panic!("single label forwarded")
        };
        assert_eq!(rcode_of(&r), RCODE_NXDOMAIN);
        assert_eq!(
            reply(&query_packet(1, "deb.debian.org", TYPE_A), &z, 0),
            Reply::Forward
        );
        let internal = Zone {
            upstreams: vec![],
            ..zone()
        };
        let Reply::Answer(r) = reply(&query_packet(1, "deb.debian.org", TYPE_A), &internal, 0)
        else {
            panic!("internal forwarded")
        };
        assert_eq!(rcode_of(&r), RCODE_NXDOMAIN);
    }

    #[test]
    fn garbage_gets_formerr_or_nothing() {
        assert_eq!(reply(&[1, 2, 3], &zone(), 0), Reply::Drop);
        let mut p = query_packet(3, "web", TYPE_A);
        p[12] = 0xc0;
        let Reply::Answer(r) = reply(&p, &zone(), 0) else {
            panic!("no formerr")
        };
        assert_eq!(rcode_of(&r), RCODE_FORMERR);
    }

    #[test]
    fn upstreams_from_resolv_conf() {
        assert_eq!(
            upstreams_of("nameserver 10.255.255.53\nsearch x\nnameserver ::1\n"),
            vec![
                "10.255.255.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }
}
