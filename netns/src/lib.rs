//! berth-netns: "give a network namespace an address, a route, a name and ports". It knows
//! nothing of containers or images: the engine hands it ids, names, subnets and paths.
//!
//! - `names`: host object names (bridge, veth) derived from ids, within IFNAMSIZ
//! - `ipam`: subnets (a validated newtype), pools, address choice (pure)

pub mod error;
pub mod ipam;
pub mod names;

pub use error::{Error, Result};
pub use ipam::Subnet;
