//! Address management, pure (no I/O, unit-tested without root): the `Subnet` newtype, the
//! pools new networks take their subnets from (Docker's defaults: 172.17.0.0/16 …
//! 172.31.0.0/16, then 192.168.0.0/20 … 192.168.240.0/20), skipping any subnet that overlaps
//! a route on the host or another network, and the choice of a free address in a subnet.
//! Leases on disk (who holds which address) are `lease.rs`.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// An IPv4 network `a.b.c.d/len` whose host bits are zero (`10.1.2.3/24` is refused: Docker
/// refuses it too, and an address with host bits is a typo more often than not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet> {
        let s = format!("{addr}/{prefix}");
        if prefix > 30 {
            return Err(Error::InvalidSubnet(
                s,
                "a prefix longer than /30 leaves no room for a gateway and a host".into(),
            ));
        }
        if u32::from(addr) & !mask(prefix) != 0 {
            return Err(Error::InvalidSubnet(
                s,
                format!(
                    "host bits are set (the network is {}/{prefix})",
                    Ipv4Addr::from(u32::from(addr) & mask(prefix))
                ),
            ));
        }
        Ok(Subnet { addr, prefix })
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    fn first(&self) -> u32 {
        u32::from(self.addr)
    }
    fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last())
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.first()
    }
    /// Whether the two share any address.
    pub fn overlaps(&self, o: &Subnet) -> bool {
        self.first() <= o.last() && o.first() <= self.last()
    }
    /// Whether `o` lies wholly inside this one.
    pub fn covers(&self, o: &Subnet) -> bool {
        self.first() <= o.first() && o.last() <= self.last()
    }
    /// The first host address: the gateway unless the user named another.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + 1)
    }
    /// Whether `ip` can be given to a host: inside, neither the network nor the broadcast.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && u32::from(ip) != self.first() && u32::from(ip) != self.last()
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = |why: &str| Error::InvalidSubnet(s.to_string(), why.to_string());
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| bad("want ADDRESS/LENGTH"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| bad("the length must be 0..32"))?;
        Subnet::new(addr, prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The pools, in order: Docker's default address pools.
pub fn default_pools() -> impl Iterator<Item = Subnet> {
    let a = (17u8..=31).map(|b| Subnet {
        addr: Ipv4Addr::new(172, b, 0, 0),
        prefix: 16,
    });
    let b = (0u8..16).map(|i| Subnet {
        addr: Ipv4Addr::new(192, 168, i * 16, 0),
        prefix: 20,
    });
    a.chain(b)
}

/// The first pool subnet that overlaps none of `taken` (other networks' subnets and the
/// host's routes; a default route is not passed in: it overlaps everything).
pub fn pick_subnet(taken: &[Subnet]) -> Result<Subnet> {
    default_pools()
        .find(|c| !taken.iter().any(|t| t.overlaps(c)))
        .ok_or(Error::PoolsExhausted)
}

/// A free host address of `subnet` (within `range` when given), none of `used` (the gateway
/// is among them). Taken in order from the bottom after the gateway, so that a released
/// address is the first to be used again.
pub fn pick_address(
    subnet: &Subnet,
    range: Option<&Subnet>,
    used: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let r = range.unwrap_or(subnet);
    (r.first()..=r.last())
        .map(Ipv4Addr::from)
        .find(|ip| subnet.is_host(*ip) && !used.contains(ip))
        .ok_or_else(|| Error::SubnetFull {
            subnet: r.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        x.parse().unwrap()
    }

    #[test]
    fn parse_and_print() {
        assert_eq!(s("10.213.1.0/24").to_string(), "10.213.1.0/24");
        assert!("10.213.1.1/24".parse::<Subnet>().is_err());
        assert!("10.213.1.0".parse::<Subnet>().is_err());
        assert!("10.213.1.0/33".parse::<Subnet>().is_err());
        assert!("10.213.1.0/31".parse::<Subnet>().is_err());
        assert!("fd00::/64".parse::<Subnet>().is_err());
        let e = "10.0.0.5/8".parse::<Subnet>().unwrap_err().to_string();
        assert!(e.contains("10.0.0.0/8"), "{e}");
    }

    #[test]
    fn overlap() {
        assert!(s("10.0.0.0/8").overlaps(&s("10.1.0.0/16")));
        assert!(s("10.1.0.0/16").overlaps(&s("10.0.0.0/8")));
        assert!(!s("10.1.0.0/16").overlaps(&s("10.2.0.0/16")));
        assert!(s("10.0.0.0/8").covers(&s("10.1.0.0/16")));
        assert!(!s("10.1.0.0/16").covers(&s("10.0.0.0/8")));
    }

    #[test]
    fn pools_skip_routes_and_networks() {
        assert_eq!(pick_subnet(&[]).unwrap(), s("172.17.0.0/16"));
        // A host route inside 172.17/16 and a network on 172.18/16.
        let taken = [s("172.17.5.0/24"), s("172.18.0.0/16")];
        assert_eq!(pick_subnet(&taken).unwrap(), s("172.19.0.0/16"));
        // All of 172.16/12 routed: the 192.168 pools.
        assert_eq!(
            pick_subnet(&[s("172.16.0.0/12")]).unwrap(),
            s("192.168.0.0/20")
        );
        assert_eq!(
            pick_subnet(&[s("172.16.0.0/12"), s("192.168.0.0/24")]).unwrap(),
            s("192.168.16.0/20")
        );
    }

    #[test]
    fn pools_exhausted() {
        let e = pick_subnet(&[s("172.16.0.0/12"), s("192.168.0.0/16")]).unwrap_err();
        assert!(matches!(e, Error::PoolsExhausted));
    }

    #[test]
    fn addresses_in_order_and_reused() {
        let n = s("10.213.9.0/29");
        let mut used = BTreeSet::from([n.first_host()]);
        let mut got = Vec::new();
        while let Ok(ip) = pick_address(&n, None, &used) {
            used.insert(ip);
            got.push(ip);
        }
        // .0 network, .1 gateway, .7 broadcast.
        assert_eq!(got.len(), 5);
        assert_eq!(got[0], Ipv4Addr::new(10, 213, 9, 2));
        assert!(matches!(
            pick_address(&n, None, &used),
            Err(Error::SubnetFull { .. })
        ));
        // Released: the same address is the next one handed out.
        used.remove(&Ipv4Addr::new(10, 213, 9, 4));
        assert_eq!(
            pick_address(&n, None, &used).unwrap(),
            Ipv4Addr::new(10, 213, 9, 4)
        );
    }

    #[test]
    fn ip_range() {
        let n = s("10.213.9.0/24");
        let r = s("10.213.9.128/25");
        let used = BTreeSet::from([n.first_host()]);
        assert_eq!(
            pick_address(&n, Some(&r), &used).unwrap(),
            Ipv4Addr::new(10, 213, 9, 128)
        );
    }
}
