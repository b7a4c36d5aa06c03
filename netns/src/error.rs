//! The netns crate's error type: each variant names the operation and the object (interface,
//! subnet, file, rule) it failed on.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid subnet {0:?}: {1}")]
    InvalidSubnet(String, String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "no free subnet left in the pools (every candidate overlaps a route or another network)"
    )]
    PoolsExhausted,
    #[error("subnet {subnet}: no free address left")]
    SubnetFull { subnet: String },
    #[error("address {addr} is already in use on subnet {subnet} (by {holder})")]
    AddressTaken {
        addr: String,
        subnet: String,
        holder: String,
    },
    #[error("{what} {path}: {err}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },
    #[error("netlink: {op} {object}: {err}")]
    Netlink {
        op: &'static str,
        object: String,
        err: String,
    },
    #[error("bridge {0} does not exist")]
    BridgeMissing(String),
    #[error("nft: {0}")]
    Nft(String),
    #[error("port {port}/{proto} on {addr} is taken by {holder}")]
    PortTaken {
        addr: String,
        port: u16,
        proto: String,
        holder: String,
    },
    #[error("{what}: {err}")]
    Sys { what: String, err: nix::Error },
}

impl Error {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, err: std::io::Error) -> Error {
        Error::Io {
            what,
            path: path.into(),
            err,
        }
    }
}
