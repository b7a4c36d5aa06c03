//! berth's images: bytes from an archive (later a registry or a Dockerfile) become verified
//! blobs in an OCI content store and unpacked layers that containers stack with overlayfs.
//! Knows nothing of containers, namespaces or networks.

pub mod archive;
pub mod digest;
pub mod error;
pub mod fsmode;
mod journal;
pub mod layers;
pub mod model;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod store;
pub mod text;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub use store::{Image, Store};

/// RFC 3339 UTC timestamp (seconds), for `created` fields.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (days-to-civil from H. Hinnant).
pub fn rfc3339(secs: i64) -> String {
    let (days, sod) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}
