//! `berth volume create|ls|inspect|rm|prune`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::VolumeCmd;
use crate::engine::container::Containers;
use crate::engine::volume::{Volume, VolumeName, Volumes};
use crate::engine::{lifecycle, new_id};

fn labels_of(list: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for l in list {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            bail!("--label {l:?}: want KEY=VALUE");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn matches(v: &Volume, used: bool, filters: &[String]) -> Result<bool> {
    for f in filters {
        let (k, val) = f
            .split_once('=')
            .with_context(|| format!("--filter {f:?}: want KEY=VALUE"))?;
        let ok = match k {
            "name" => v.name.contains(val),
            "dangling" => (val == "true" || val == "1") != used,
            "label" => match val.split_once('=') {
                Some((lk, lv)) => v.labels.get(lk).is_some_and(|x| x == lv),
                None => v.labels.contains_key(val),
            },
            _ => bail!("--filter {f:?}: unknown filter {k:?} (name, label, dangling)"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn dispatch(root: &Path, cmd: VolumeCmd) -> Result<()> {
    lifecycle::heal(root)?;
    let vs = Volumes::new(root);
    let cs = Containers::new(root);
    match cmd {
        VolumeCmd::Create { label, name } => {
            let name = VolumeName::new(&name.unwrap_or(new_id()?))?;
            let v = vs.create(&name, labels_of(&label)?, None)?;
            println!("{}", v.name);
        }
        VolumeCmd::Ls {
            quiet,
            filter,
            format,
        } => {
            let mut rows = Vec::new();
            for v in vs.all() {
                let used = !vs.users(&cs, &VolumeName::new(&v.name)?).is_empty();
                if matches(&v, used, &filter)? {
                    rows.push(v);
                }
            }
            if quiet {
                for v in rows {
                    println!("{}", v.name);
                }
            } else {
                let values: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|v| {
                        let labels: Vec<String> =
                            v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
                        crate::commands::output::row(
                            [
                                ("Name", v.name.clone().into()),
                                ("Driver", v.driver.clone().into()),
                                ("Scope", v.scope.clone().into()),
                                ("Mountpoint", v.mountpoint.display().to_string().into()),
                                ("Labels", labels.join(",").into()),
                                ("Links", "N/A".into()),
                                ("Size", "N/A".into()),
                            ],
                            Some(&v.labels),
                        )
                    })
                    .collect();
                let header = serde_json::json!({
                    "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                    "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Label": "LABEL",
                    "Links": "LINKS", "Size": "SIZE",
                });
                crate::commands::output::print_list(
                    &values,
                    &header,
                    "table {{.Driver}}\t{{.Name}}",
                    format.as_deref(),
                )?;
            }
        }
        VolumeCmd::Inspect { format, names } => {
            let mut out = Vec::new();
            for n in &names {
                out.push(serde_json::to_value(vs.get(&VolumeName::new(n)?)?)?);
            }
            crate::commands::output::print_inspect(&out, format.as_deref())?;
        }
        VolumeCmd::Rm { names, .. } => {
            let mut failed = 0;
            for n in &names {
                match VolumeName::new(n).and_then(|v| vs.remove(&cs, &v)) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("berth: {}", crate::error_chain(&e));
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} of {} volumes could not be removed", names.len());
            }
        }
        VolumeCmd::Prune { all, force } => prune(root, all, force)?,
    }
    Ok(())
}

/// `volume prune`: anonymous volumes no container uses (with `all`, named ones too); asks
/// first unless `force`.
pub fn prune(root: &Path, all: bool, force: bool) -> Result<()> {
    let warning = if all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !force && !crate::commands::output::confirm(warning)? {
        return Ok(());
    }
    lifecycle::heal(root)?;
    let vs = Volumes::new(root);
    let cs = Containers::new(root);
    let mut n = 0;
    for v in vs.all() {
        let name = VolumeName::new(&v.name)?;
        if (all || v.anonymous) && vs.users(&cs, &name).is_empty() && vs.remove(&cs, &name).is_ok()
        {
            println!("{}", v.name);
            n += 1;
        }
    }
    println!("Deleted {n} volumes");
    Ok(())
}
