//! What `compose ps`, `ls` and `config` print: rows of the project's containers (as
//! docker compose prints them, a table or JSON lines), projects found by their labels, and
//! the model as YAML or JSON.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use super::apply::{self, service_of};
use super::load::Project;
use super::plan::{L_FILES, L_PROJECT};
use crate::engine::container::Containers;
use crate::engine::lifecycle;
use crate::engine::summary::Summary;

/// What `compose ps` shows.
#[derive(Debug, Clone, Default)]
pub struct PsOptions {
    pub all: bool,
    pub services: Vec<String>,
    pub status: Vec<String>,
    pub json: bool,
    pub quiet: bool,
    pub names_only: bool,
}

/// `compose ps`.
pub fn ps(root: &Path, p: &Project, o: &PsOptions) -> Result<()> {
    let PsOptions {
        all,
        services,
        status,
        json: json_out,
        quiet,
        names_only,
    } = o.clone();
    let cs = Containers::new(root);
    let mut rows = Vec::new();
    for r in apply::containers(root, &p.name, true) {
        let st = lifecycle::current_status(&cs, &r);
        if !all && !st.is_up() && status.is_empty() {
            continue;
        }
        if !status.is_empty() && !status.iter().any(|s| s == st.as_str()) {
            continue;
        }
        if !services.is_empty() && !services.iter().any(|s| s == service_of(&r)) {
            continue;
        }
        rows.push((r, st));
    }
    if quiet {
        for (r, _) in &rows {
            println!("{}", r.id);
        }
        return Ok(());
    }
    if names_only {
        let mut s: Vec<&str> = rows.iter().map(|(r, _)| service_of(r)).collect();
        s.dedup();
        for n in s {
            println!("{n}");
        }
        return Ok(());
    }
    if json_out {
        for (r, st) in &rows {
            let s = Summary::of(r);
            let v = json!({
                "ID": r.id,
                "Name": s.name,
                "Names": s.name,
                "Image": s.image,
                "Command": format!("{:?}", s.command),
                "Project": p.name,
                "Service": service_of(r),
                "CreatedAt": r.created,
                "RunningFor": s.created_ago(),
                "State": st.as_str(),
                "Status": s.status_text(*st),
                "Health": r.state_health(),
                "ExitCode": r.state.exit_code,
                "Labels": s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "Ports": s.ports,
                "Networks": r.host_config.network_mode,
            });
            println!("{v}");
        }
        return Ok(());
    }
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|(r, st)| {
            let s = Summary::of(r);
            [
                s.name.clone(),
                s.image.clone(),
                format!("{:?}", s.command),
                service_of(r).to_string(),
                s.created_ago(),
                s.status_text(*st),
                s.ports,
            ]
        })
        .collect();
    print_table(
        &[
            "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
        ],
        &table,
    );
    Ok(())
}

fn print_table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) {
    let mut w = [0usize; N];
    for (i, h) in head.iter().enumerate() {
        w[i] = h.len();
    }
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:w$}   ", w = w[i]));
            }
        }
        println!("{}", crate::for_terminal(s.trim_end()));
    };
    line(head.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// `compose ls`: projects found by their containers' labels.
pub fn ls(root: &Path, all: bool, json_out: bool, quiet: bool) -> Result<()> {
    let cs = Containers::new(root);
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for r in cs.all() {
        let Some(p) = r.config.labels.get(L_PROJECT) else {
            continue;
        };
        let st = lifecycle::current_status(&cs, &r);
        let e = projects.entry(p.clone()).or_default();
        *e.0.entry(st.as_str().to_string()).or_default() += 1;
        e.1 = r.config.labels.get(L_FILES).cloned().unwrap_or_default();
    }
    let rows: Vec<[String; 3]> = projects
        .into_iter()
        .filter(|(_, (st, _))| all || st.contains_key("running"))
        .map(|(n, (st, files))| {
            let s: Vec<String> = st.iter().map(|(k, c)| format!("{k}({c})")).collect();
            [n, s.join(", "), files]
        })
        .collect();
    if quiet {
        for r in &rows {
            println!("{}", r[0]);
        }
    } else if json_out {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| json!({"Name": r[0], "Status": r[1], "ConfigFiles": r[2]}))
            .collect();
        println!("{}", Value::Array(v));
    } else {
        print_table(&["NAME", "STATUS", "CONFIG FILES"], &rows);
    }
    Ok(())
}

/// The model as `config` prints it.
pub fn config_text(p: &Project, json_out: bool) -> Result<String> {
    if json_out {
        return Ok(format!("{}\n", serde_json::to_string_pretty(&p.model)?));
    }
    serde_saphyr::to_string(&p.model).map_err(|e| anyhow::anyhow!("print the model as YAML: {e}"))
}
