//! Links, addresses and routes through rtnetlink (no `ip` processes), and network
//! namespaces bound to files.
//!
//! A netlink socket belongs to the network namespace it was opened in, so each call runs on
//! a thread of its own with a current-thread tokio runtime: it opens one connection in the
//! host's namespace, then (for a container) `unshare`s or `setns`es that thread into the
//! container's namespace and opens a second one there. `lo` is brought up with one request
//! on a blocking socket, so a namespace with only `lo` (`--network none`) needs neither the
//! runtime nor the host connection: a plain thread does it. The veth's container end is
//! made directly inside the container's namespace (IFLA_NET_NS_FD in the peer's message),
//! already named `eth0`, with its MAC and MTU: no move, no rename.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, RouteMessageBuilder};

use crate::error::{Error, Result};

/// The interface group of berth's bridges (IFLA_GROUP; `ip link show group 16962`): the
/// firewall drops traffic between them by group, whatever a bridge is named.
pub const BRIDGE_GROUP: u32 = 0x4242;

/// A bridge on the host with the gateway's address.
#[derive(Clone, Debug)]
pub struct Bridge {
    pub name: String,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    pub mtu: u32,
}

/// One veth pair: `host_if` on `bridge`, `ifname` inside the namespace with `addr/prefix`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub host_if: String,
    pub bridge: String,
    pub ifname: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mtu: u32,
    pub mac: [u8; 6],
    /// Whether the default route goes through this one (the first network's).
    pub default_route: bool,
    /// The default route's own MTU when it must be below the link's (see LOCAL_MTU).
    pub route_mtu: Option<u32>,
}

/// The MTU of a bridge network's links when the user gives none: pasta's default, the
/// largest a veth takes in practice. Container to container and host to container traffic
/// stays on the host and moves in 64 KiB packets (as over loopback: 1.75x the throughput of
/// MTU 1500 measured here), while the default route, the way off the host, keeps the
/// uplink's MTU as a route metric (`uplink_mtu`), so TCP's MSS and fragmentation there are
/// what they would be at 1500.
pub const LOCAL_MTU: u32 = 65520;

/// The MTU of the interface the host's default route leaves through (/proc/net/route and
/// /sys/class/net); 1500 where there is none.
pub fn uplink_mtu() -> u32 {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    default_route_iface(&routes)
        .and_then(|i| std::fs::read_to_string(format!("/sys/class/net/{i}/mtu")).ok())
        .and_then(|m| m.trim().parse().ok())
        .filter(|m| (576..=65535).contains(m))
        .unwrap_or(1500)
}

/// Docker's MAC scheme: 02:42 and the IPv4 address, so a MAC derives from the address.
pub fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn nl(op: &'static str, object: &str, e: impl std::fmt::Display) -> Error {
    Error::Netlink {
        op,
        object: object.to_string(),
        err: e.to_string(),
    }
}

fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().raw_os_error(),
        _ => None,
    }
}

/// Runs `f` on a fresh thread with a current-thread runtime and a connection opened in the
/// caller's (host's) network namespace.
fn on_thread<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>>>>
        + Send
        + 'static,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| nl("start", "runtime", e))?;
        rt.block_on(async move {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|e| nl("open", "netlink socket", e))?;
            tokio::spawn(conn);
            f(handle).await
        })
    })
    .join()
    .map_err(|_| nl("join", "netlink thread", "panicked"))?
}

async fn index_of(h: &Handle, name: &str) -> Result<Option<u32>> {
    let mut s = h.link().get().match_name(name).execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(Some(m.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl("get", name, e)),
    }
}

/// Whether the host has a link named `name`.
pub fn exists(name: &str) -> Result<bool> {
    let n = name.to_string();
    on_thread(move |h| Box::pin(async move { Ok(index_of(&h, &n).await?.is_some()) }))
}

/// Makes the bridge (up, MTU, the gateway's address) if it is not there; idempotent.
pub fn ensure_bridge(bridge: &Bridge) -> Result<()> {
    let b = bridge.clone();
    on_thread(move |h| {
        Box::pin(async move {
            let idx = match index_of(&h, &b.name).await? {
                Some(i) => i,
                None => {
                    let msg = LinkBridge::new(&b.name)
                        .mtu(b.mtu)
                        .link_group(BRIDGE_GROUP)
                        .up()
                        .build();
                    match h.link().add(msg).execute().await {
                        Ok(()) => {}
                        Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
                        Err(e) => return Err(nl("add bridge", &b.name, e)),
                    }
                    index_of(&h, &b.name)
                        .await?
                        .ok_or_else(|| nl("find bridge", &b.name, "gone after it was made"))?
                }
            };
            match h
                .address()
                .add(idx, IpAddr::V4(b.gateway), b.prefix)
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
                Err(e) => {
                    return Err(nl(
                        "add address",
                        &format!("{}/{} on {}", b.gateway, b.prefix, b.name),
                        e,
                    ))
                }
            }
            // A fixed MAC (from the gateway's address, as Docker fixes one): left to the
            // kernel, a bridge takes the lowest MAC among its ports and changes it as
            // containers come and go, and a container whose ARP cache holds the old one sends
            // its answers to the host (a published port on the host's address) to a port
            // instead of the host. Set on every ensure, so bridges made before get it too.
            h.link()
                .set(
                    LinkUnspec::new_with_index(idx)
                        .address(mac_of(b.gateway).to_vec())
                        .up()
                        .build(),
                )
                .execute()
                .await
                .map_err(|e| nl("set the MAC and up", &b.name, e))?;
            Ok(())
        })
    })?;
    // 127.0.0.1 DNAT'd to a container leaves through the bridge: the kernel drops such
    // packets as martians unless route_localnet is on for it (ip-sysctl.rst).
    let p = format!("/proc/sys/net/ipv4/conf/{}/route_localnet", bridge.name);
    std::fs::write(&p, b"1").map_err(|e| Error::io("write", p, e))?;
    Ok(())
}

/// Deletes a host link by name; one that is not there is done.
pub fn delete_link(name: &str) -> Result<()> {
    let n = name.to_string();
    on_thread(move |h| {
        Box::pin(async move {
            let Some(idx) = index_of(&h, &n).await? else {
                return Ok(());
            };
            match h.link().del(idx).execute().await {
                Ok(()) => Ok(()),
                Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(()),
                Err(e) => Err(nl("delete", &n, e)),
            }
        })
    })
}

/// How the thread gets into the container's namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ns {
    /// Make a new one and bind it to the path (which must not exist yet).
    Create,
    /// Join the one bound at the path.
    Join,
}

/// Makes (or joins) the namespace bound at `path`, brings `lo` up, and plugs each endpoint
/// in. Endpoints whose host end exists already are made again (setup is idempotent).
pub fn setup(path: &Path, ns: Ns, eps: &[Endpoint]) -> Result<()> {
    let path = path.to_path_buf();
    if eps.is_empty() {
        // `--network none`: only `lo`, from a plain thread (no runtime, no host connection).
        return std::thread::spawn(move || {
            enter(&path, ns)?;
            loopback_up()
        })
        .join()
        .map_err(|_| nl("join", "netns thread", "panicked"))?;
    }
    let eps = eps.to_vec();
    on_thread(move |host| Box::pin(async move { setup_in(host, path, ns, eps).await }))
}

async fn setup_in(host: Handle, path: PathBuf, ns: Ns, eps: Vec<Endpoint>) -> Result<()> {
    enter(&path, ns)?;
    loopback_up()?;
    let nsfd = File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::io("open", "/proc/thread-self/ns/net", e))?;
    let (conn, inner, _) =
        rtnetlink::new_connection().map_err(|e| nl("open", "netlink socket in the netns", e))?;
    tokio::spawn(conn);
    for ep in eps {
        plug(&host, &inner, nsfd.as_raw_fd(), &ep).await?;
    }
    Ok(())
}

/// Brings `lo` (always index 1) up in the calling thread's network namespace: one
/// RTM_NEWLINK request and its acknowledgement on a blocking netlink socket.
fn loopback_up() -> Result<()> {
    use rtnetlink::packet_core::{
        NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
    };
    use rtnetlink::packet_route::RouteNetlinkMessage;
    use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
    let err = |e: std::io::Error| nl("set up", "lo", e);
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(err)?;
    sock.bind_auto().map_err(err)?;
    sock.connect(&SocketAddr::new(0, 0)).map_err(err)?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = 1;
    let mut msg = NetlinkMessage::new(
        header,
        NetlinkPayload::from(RouteNetlinkMessage::SetLink(
            LinkUnspec::new_with_index(1).up().build(),
        )),
    );
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    sock.send(&buf, 0).map_err(err)?;
    let mut reply = Vec::with_capacity(4096);
    sock.recv(&mut reply, 0).map_err(err)?;
    let ack = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply)
        .map_err(|e| nl("set up", "lo", e))?;
    match ack.payload {
        NetlinkPayload::Error(e) if e.code.is_some() => Err(nl("set up", "lo", e.to_io())),
        NetlinkPayload::Error(_) => Ok(()),
        other => Err(nl("set up", "lo", format!("unexpected reply {other:?}"))),
    }
}

/// Puts the calling thread into the namespace at `path`: a new one bound there, or the one
/// already there.
fn enter(path: &Path, ns: Ns) -> Result<()> {
    match ns {
        Ns::Create => {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|err| Error::Sys {
                what: "unshare a network namespace".into(),
                err,
            })?;
            // Only the mount point of the bind below: private whatever the umask.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| Error::io("create", path, e))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|err| Error::Sys {
                what: format!("bind the network namespace to {}", path.display()),
                err,
            })?;
        }
        Ns::Join => {
            let f = File::open(path).map_err(|e| Error::io("open", path, e))?;
            setns(&f, CloneFlags::CLONE_NEWNET).map_err(|err| Error::Sys {
                what: format!("join the network namespace {}", path.display()),
                err,
            })?;
        }
    }
    Ok(())
}

async fn plug(host: &Handle, inner: &Handle, nsfd: i32, ep: &Endpoint) -> Result<()> {
    let br = index_of(host, &ep.bridge)
        .await?
        .ok_or_else(|| Error::BridgeMissing(ep.bridge.clone()))?;
    if let Some(old) = index_of(host, &ep.host_if).await? {
        let _ = host.link().del(old).execute().await;
    }
    if let Some(old) = index_of(inner, &ep.ifname).await? {
        let _ = inner.link().del(old).execute().await;
    }
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(ep.ifname.clone())
        .mtu(ep.mtu)
        .address(ep.mac.to_vec())
        .setns_by_fd(nsfd)
        .build();
    let msg = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(
        rtnetlink::packet_route::link::InfoKind::Veth,
    )
    .name(ep.host_if.clone())
    .mtu(ep.mtu)
    .controller(br)
    .up()
    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
    .build();
    host.link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| nl("add veth", &ep.host_if, e))?;
    let idx = index_of(inner, &ep.ifname)
        .await?
        .ok_or_else(|| nl("find", &ep.ifname, "not in the namespace after it was made"))?;
    inner
        .address()
        .add(idx, IpAddr::V4(ep.addr), ep.prefix)
        .execute()
        .await
        .map_err(|e| nl("add address", &format!("{}/{}", ep.addr, ep.prefix), e))?;
    // Not up at creation: the kernel opens the peer before the pair is joined (ENOTCONN).
    inner
        .link()
        .set(LinkUnspec::new_with_index(idx).up().build())
        .execute()
        .await
        .map_err(|e| nl("set up", &ep.ifname, e))?;
    if ep.default_route {
        let mut r = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(ep.gateway)
            .output_interface(idx)
            .build();
        if let Some(m) = ep.route_mtu.filter(|m| *m < ep.mtu) {
            use rtnetlink::packet_route::route::{RouteAttribute, RouteMetric};
            r.attributes
                .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(m)]));
        }
        inner
            .route()
            .add(r)
            .execute()
            .await
            .map_err(|e| nl("add default route via", &ep.gateway.to_string(), e))?;
    }
    Ok(())
}

/// The container end is removed with the namespace or with its host end: deleting the host
/// end takes both (a veth pair goes as one).
pub fn unplug(host_if: &str) -> Result<()> {
    delete_link(host_if)
}

/// Removes an endpoint from inside a running namespace (disconnect): its interface goes, and
/// the host end with it.
pub fn unplug_in(path: &Path, ifname: &str) -> Result<()> {
    let path = path.to_path_buf();
    let ifname = ifname.to_string();
    on_thread(move |_| {
        Box::pin(async move {
            let f = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
            setns(&f, CloneFlags::CLONE_NEWNET).map_err(|err| Error::Sys {
                what: format!("join the network namespace {}", path.display()),
                err,
            })?;
            let (conn, inner, _) = rtnetlink::new_connection()
                .map_err(|e| nl("open", "netlink socket in the netns", e))?;
            tokio::spawn(conn);
            if let Some(i) = index_of(&inner, &ifname).await? {
                inner
                    .link()
                    .del(i)
                    .execute()
                    .await
                    .map_err(|e| nl("delete", &ifname, e))?;
            }
            Ok(())
        })
    })
}

/// Unbinds and removes a namespace file; one that is gone is done. The namespace itself
/// ends with its last process and its last bind.
pub fn remove_netns(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::EINVAL) => {}
        Err(err) => {
            return Err(Error::Sys {
                what: format!("unmount {}", path.display()),
                err,
            })
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// The host's IPv4 routes (not the default route), from /proc/net/route: new networks'
/// subnets must overlap none of them.
pub fn host_routes() -> Vec<crate::Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_routes(&text)
}

/// /proc/net/route: `Iface Destination Gateway Flags RefCnt Use Metric Mask ...`, addresses
/// as little-endian hex.
pub fn parse_routes(text: &str) -> Vec<crate::Subnet> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // The kernel prints the network-order bytes as a native (little-endian) u32.
            let dst = u32::from_str_radix(f.get(1)?, 16).ok()?.swap_bytes();
            let prefix = u32::from_str_radix(f.get(7)?, 16).ok()?.count_ones() as u8;
            if prefix == 0 {
                return None;
            }
            // A host route (/31, /32) counts as the /30 around it: Subnet stops at /30.
            let p = prefix.min(30);
            let net = dst & (u32::MAX << (32 - u32::from(p)));
            crate::Subnet::new(Ipv4Addr::from(net), p).ok()
        })
        .collect()
}

/// The interface of the default route in /proc/net/route (destination and mask 0), if it
/// is a plain interface name (no `/`, not `.` or `..`: it becomes a /sys path).
pub fn default_route_iface(text: &str) -> Option<&str> {
    text.lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 7 && f[1] == "00000000" && f[7] == "00000000")
        .map(|f| f[0])
        .filter(|i| !i.contains('/') && *i != "." && *i != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_from_proc() {
        let t =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                 eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                 docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let r = parse_routes(t);
        assert_eq!(default_route_iface(t), Some("eth0"));
        assert_eq!(
            default_route_iface(&t.replace("eth0\t00000000", "x\t01000000")),
            None
        );
        assert_eq!(default_route_iface(&t.replace("eth0", "..")), None);
        assert_eq!(
            r,
            vec![
                "192.168.0.0/24".parse().unwrap(),
                "172.17.0.0/16".parse().unwrap()
            ]
        );
        assert_eq!(
            mac_string(&mac_of(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}
