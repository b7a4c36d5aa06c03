//! Host object names derived from ids, so that teardown finds every object from the ids
//! alone. Interface names must fit IFNAMSIZ (16 bytes with the NUL: 15 characters).

/// The longest interface name the kernel takes.
pub const IFNAMSIZ_MAX: usize = 15;

/// The bridge of network `net_id` (hex): `br-<12hex>`, as Docker names its user bridges.
pub fn bridge(net_id: &str) -> String {
    format!("br-{}", &net_id[..net_id.len().min(12)])
}

/// The host end of the veth joining container `ctr_id` to network `net_id`:
/// `vb` + 7 hex of the container + 6 hex of the network = 15 characters.
pub fn veth_host(ctr_id: &str, net_id: &str) -> String {
    format!(
        "vb{}{}",
        &ctr_id[..ctr_id.len().min(7)],
        &net_id[..net_id.len().min(6)]
    )
}

/// The container end while it is still on the host side (before it moves and is renamed).
pub fn veth_peer_tmp(ctr_id: &str, net_id: &str) -> String {
    format!(
        "vp{}{}",
        &ctr_id[..ctr_id.len().min(7)],
        &net_id[..net_id.len().min(6)]
    )
}

/// Whether `name` is a valid interface name (for `-o com.docker.network.bridge.name`).
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= IFNAMSIZ_MAX
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit() {
        let c = "0123456789abcdef".repeat(4);
        let n = "fedcba9876543210".repeat(4);
        assert_eq!(bridge(&n), "br-fedcba987654");
        assert_eq!(veth_host(&c, &n), "vb0123456fedcba");
        assert!(veth_host(&c, &n).len() <= IFNAMSIZ_MAX);
        assert!(veth_peer_tmp(&c, &n).len() <= IFNAMSIZ_MAX);
        assert!(valid_ifname("berth0"));
        assert!(!valid_ifname("a/b"));
        assert!(!valid_ifname("0123456789abcdef"));
    }
}
