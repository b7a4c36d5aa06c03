//! `berth network create|ls|inspect|rm|prune|connect|disconnect`: Docker's flags become a
//! NetworkConfig or one engine::network call.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::NetworkCmd;
use crate::engine::lifecycle;
use crate::engine::network::{self, NetworkConfig, NetworkRecord, Subnet};

fn pairs(flag: &str, list: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for l in list {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            bail!("{flag} {l:?}: want KEY=VALUE");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn matches(n: &NetworkRecord, filters: &[String]) -> Result<bool> {
    for f in filters {
        let (k, val) = f
            .split_once('=')
            .with_context(|| format!("--filter {f:?}: want KEY=VALUE"))?;
        let ok = match k {
            "name" => n.name.contains(val),
            "id" => n.id.starts_with(val),
            "driver" => n.driver == val,
            "label" => match val.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                None => n.labels.contains_key(val),
            },
            "type" => (val == "builtin") == (n.name == network::DEFAULT),
            _ => bail!("--filter {f:?}: unknown filter {k:?} (name, id, driver, label, type)"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn dispatch(root: &Path, cmd: NetworkCmd) -> Result<()> {
    lifecycle::heal(root)?;
    match cmd {
        NetworkCmd::Create {
            driver,
            subnet,
            gateway,
            ip_range,
            internal,
            label,
            opt,
            mtu,
            name,
        } => {
            let parse = |flag: &str, s: &Option<String>| -> Result<Option<Subnet>> {
                s.as_deref()
                    .map(|v| v.parse::<Subnet>().with_context(|| format!("{flag} {v:?}")))
                    .transpose()
            };
            let n = network::create(
                root,
                &NetworkConfig {
                    name,
                    driver,
                    subnet: parse("--subnet", &subnet)?,
                    gateway,
                    ip_range: parse("--ip-range", &ip_range)?,
                    internal,
                    labels: pairs("--label", &label)?,
                    options: pairs("--opt", &opt)?,
                    mtu,
                },
            )?;
            println!("{}", n.id);
        }
        NetworkCmd::Ls {
            quiet,
            filter,
            format,
            no_trunc,
        } => {
            let mut nets = Vec::new();
            for n in network::list(root)? {
                if matches(&n, &filter)? {
                    nets.push(n);
                }
            }
            let id = |n: &NetworkRecord| {
                if no_trunc {
                    n.id.clone()
                } else {
                    n.short_id().to_string()
                }
            };
            if quiet {
                for n in &nets {
                    println!("{}", id(n));
                }
            } else {
                let rows: Vec<serde_json::Value> = nets
                    .iter()
                    .map(|n| {
                        let labels: Vec<String> =
                            n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        crate::commands::output::row(
                            [
                                ("ID", id(n).into()),
                                ("Name", n.name.clone().into()),
                                ("Driver", n.driver.clone().into()),
                                ("Scope", n.scope.clone().into()),
                                ("IPv6", n.enable_ipv6.to_string().into()),
                                ("Internal", n.internal.to_string().into()),
                                ("Labels", labels.join(",").into()),
                                (
                                    "CreatedAt",
                                    crate::commands::container::created_at(&n.created).into(),
                                ),
                            ],
                            Some(&n.labels),
                        )
                    })
                    .collect();
                let header = serde_json::json!({
                    "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                    "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
                    "Label": "LABEL", "CreatedAt": "CREATED AT",
                });
                crate::commands::output::print_list(
                    &rows,
                    &header,
                    "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                    format.as_deref(),
                )?;
            }
        }
        NetworkCmd::Inspect { format, networks } => {
            let mut out = Vec::new();
            for n in &networks {
                out.push(serde_json::to_value(network::find(root, n)?)?);
            }
            crate::commands::output::print_inspect(&out, format.as_deref())?;
        }
        NetworkCmd::Rm { force, networks } => {
            let mut failed = 0;
            for n in &networks {
                match network::remove(root, n) {
                    Ok(()) => println!("{n}"),
                    Err(_) if force && network::find(root, n).is_err() => {}
                    Err(e) => {
                        eprintln!("berth: {}", crate::error_chain(&e));
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                bail!(
                    "{failed} of {} networks could not be removed",
                    networks.len()
                );
            }
        }
        NetworkCmd::Prune { force } => {
            if !force
                && !crate::commands::output::confirm(
                    "WARNING! This will remove all custom networks not used by at least one container.",
                )?
            {
                return Ok(());
            }
            let gone = network::prune(root)?;
            if !gone.is_empty() {
                println!("Deleted Networks:");
                for n in gone {
                    println!("{n}");
                }
            }
        }
        NetworkCmd::Connect {
            alias,
            ip,
            network: net,
            container,
        } => network::connect(root, &net, &container, &alias, ip)?,
        NetworkCmd::Disconnect {
            force,
            network: net,
            container,
        } => network::disconnect(root, &net, &container, force)?,
    }
    Ok(())
}
