//! berth-netns: "give a network namespace an address, a route, a name and ports". It knows
//! nothing of containers or images: the engine hands it ids, names, subnets and paths.
//!
//! - `names`: host object names (bridge, veth) derived from ids, within IFNAMSIZ
//! - `ipam`: subnets (a validated newtype), Docker's pools, address choice (pure)
//! - `lease`: who holds which address, flocked JSON files
//! - `link`: bridges, veths, addresses, routes, netns files (rtnetlink)
//! - `firewall`: one nftables table per network, one atomic batch per change
//! - `ports`: host ports for DNAT: free or held by whom

pub mod error;
pub mod firewall;
pub mod ipam;
pub mod lease;
pub mod link;
pub mod names;
pub mod ports;

pub use error::{Error, Result};
pub use ipam::Subnet;
pub mod dns;
