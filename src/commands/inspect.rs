//! `berth inspect NAME...`: a container by name or id, else an image by reference or id,
//! each printed as `docker inspect` does.

use std::path::Path;

use anyhow::Result;

use crate::cli::InspectArgs;
use crate::commands::output::print_inspect;
use crate::commands::{container, image};
use crate::engine::container::Containers;
use crate::engine::lifecycle;

pub fn inspect(root: &Path, a: &InspectArgs) -> Result<()> {
    lifecycle::heal(root)?;
    let cs = Containers::new(root);
    let mut out = Vec::new();
    for n in &a.names {
        match cs.find(n) {
            Ok(rec) => out.push(container::inspect_value(&cs, &rec)?),
            Err(e) => match berth_image::Store::open(root)
                .map_err(anyhow::Error::from)
                .and_then(|s| image::inspect_value(&s, n))
            {
                Ok(v) => out.push(v),
                Err(_) => return Err(e),
            },
        }
    }
    print_inspect(&out, a.format.as_deref())
}
