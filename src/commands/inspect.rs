//! `berth inspect [--type container|image|volume|network] NAME...`: a container by name or
//! id, else an image by reference or id, else a volume, else a network; each printed as
//! `docker inspect` does.

use std::path::Path;

use anyhow::{bail, Result};
use serde_json::Value;

use crate::cli::{InspectArgs, ObjectType};
use crate::commands::output::print_inspect;
use crate::commands::{container, image};
use crate::engine::container::Containers;
use crate::engine::lifecycle;
use crate::engine::volume::{VolumeName, Volumes};

pub fn inspect(root: &Path, a: &InspectArgs) -> Result<()> {
    // Only what is inspected is healed (below): inspect reads one record whatever the
    // number of containers.
    let cs = Containers::new(root);
    let mut out = Vec::new();
    for n in &a.names {
        out.push(match a.kind {
            Some(kind) => one(root, &cs, kind, n)?,
            // Docker's order: a container, an image, a volume; the container's error is
            // the one said when none is found.
            None => match one(root, &cs, ObjectType::Container, n) {
                Ok(v) => v,
                Err(e) => match one(root, &cs, ObjectType::Image, n)
                    .or_else(|_| one(root, &cs, ObjectType::Volume, n))
                    .or_else(|_| one(root, &cs, ObjectType::Network, n))
                {
                    Ok(v) => v,
                    Err(_) => bail!(
                        "no such object: {}",
                        if e.to_string().contains("no such container") {
                            n.to_string()
                        } else {
                            format!("{n}: {e:#}")
                        }
                    ),
                },
            },
        });
    }
    print_inspect(&out, a.format.as_deref())
}

fn one(root: &Path, cs: &Containers, kind: ObjectType, n: &str) -> Result<Value> {
    match kind {
        ObjectType::Container => {
            let rec = lifecycle::heal_container(cs, cs.find(n)?)?
                .ok_or_else(|| anyhow::anyhow!("no such container: {n}"))?;
            container::inspect_value(cs, &rec)
        }
        ObjectType::Image => image::inspect_value(&berth_image::Store::open(root)?, n),
        ObjectType::Volume => Ok(serde_json::to_value(
            Volumes::new(root).get(&VolumeName::new(n)?)?,
        )?),
        ObjectType::Network => Ok(serde_json::to_value(crate::engine::network::find(
            root, n,
        )?)?),
    }
}
