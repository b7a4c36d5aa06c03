//! `berth version`, `berth info` (`system info`), `system df`, `system prune`: the engine's
//! objects printed as Docker prints them, or as JSON, or through a `-f` template.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::commands::container::{self, human_bytes};
use crate::commands::image::{self, human};
use crate::commands::output::{confirm, print_object};
use crate::commands::volume;
use crate::engine::system;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => crate::escape_controls(s),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn version(format: Option<&str>) -> Result<()> {
    print_object(&system::version(), format, |v| {
        let c = &v["Client"];
        println!("Client:");
        println!(" {:<19}{}", "Version:", s(&c["Version"]));
        println!(" {:<19}{}/{}", "OS/Arch:", s(&c["Os"]), s(&c["Arch"]));
        println!();
        let sv = &v["Server"];
        println!("Server: {}", s(&sv["Platform"]["Name"]));
        for comp in sv["Components"].as_array().into_iter().flatten() {
            println!(" {}:", s(&comp["Name"]));
            println!("  {:<18}{}", "Version:", s(&comp["Version"]));
            let d = &comp["Details"];
            if d.get("Os").is_some() {
                println!("  {:<18}{}/{}", "OS/Arch:", s(&d["Os"]), s(&d["Arch"]));
            }
            for (label, key) in [
                ("Kernel Version:", "KernelVersion"),
                ("Cgroup Version:", "CgroupVersion"),
                ("Cgroup Driver:", "CgroupDriver"),
                ("Storage Driver:", "StorageDriver"),
            ] {
                if let Some(x) = d.get(key) {
                    println!("  {label:<18}{}", s(x));
                }
            }
        }
    })
}

pub fn info(root: &Path, format: Option<&str>) -> Result<()> {
    let mut v = system::info(root)?;
    if format == Some("json") {
        // Docker's `info --format json` carries the client's part too.
        v["ClientInfo"] = serde_json::json!({"Version": system::VERSION, "Debug": v["Debug"]});
    }
    print_object(&v, format, |v| {
        println!("Client:");
        println!(" Version:    {}", system::VERSION);
        println!(" Debug Mode: {}", s(&v["Debug"]));
        println!();
        println!("Server:");
        println!(" Containers: {}", s(&v["Containers"]));
        println!("  Running: {}", s(&v["ContainersRunning"]));
        println!("  Paused: {}", s(&v["ContainersPaused"]));
        println!("  Stopped: {}", s(&v["ContainersStopped"]));
        println!(" Images: {}", s(&v["Images"]));
        println!(" Server Version: {}", s(&v["ServerVersion"]));
        println!(" Storage Driver: {}", s(&v["Driver"]));
        println!(" Logging Driver: {}", s(&v["LoggingDriver"]));
        println!(" Cgroup Driver: {}", s(&v["CgroupDriver"]));
        println!(" Cgroup Version: {}", s(&v["CgroupVersion"]));
        println!(" Runtimes: {}", s(&v["DefaultRuntime"]));
        println!(" Default Runtime: {}", s(&v["DefaultRuntime"]));
        println!(" Security Options:");
        println!("  seccomp");
        println!("   Profile: builtin");
        println!(" Kernel Version: {}", s(&v["KernelVersion"]));
        println!(" Operating System: {}", s(&v["OperatingSystem"]));
        println!(" OSType: {}", s(&v["OSType"]));
        println!(" Architecture: {}", s(&v["Architecture"]));
        println!(" CPUs: {}", s(&v["NCPU"]));
        println!(
            " Total Memory: {}",
            human_bytes(v["MemTotal"].as_u64().unwrap_or(0))
        );
        println!(" Name: {}", s(&v["Name"]));
        println!(" Root Dir: {}", s(&v["DockerRootDir"]));
        println!(" Debug Mode: {}", s(&v["Debug"]));
    })
}

/// Docker's RECLAIMABLE column: "12MB (70%)", the share of the size left out when empty.
fn reclaimable(part: u64, total: u64) -> String {
    if total == 0 {
        return human(part);
    }
    format!("{} ({}%)", human(part), part * 100 / total)
}

/// `system df`: a row per type (Images, Containers, Local Volumes, Build Cache) as Docker
/// prints it; `-v` each object too; `--format json` a line per type.
pub fn df(root: &Path, verbose: bool, format: Option<&str>) -> Result<()> {
    let d = system::df(root)?;
    let list = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    let (images, containers, volumes) = (list("Images"), list("Containers"), list("Volumes"));
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    let sum = |l: &[Value], f: &dyn Fn(&Value) -> (u64, bool)| {
        l.iter().fold((0, 0, 0, 0), |(t, a, s, r), v| {
            let (size, active) = f(v);
            (
                t + 1,
                a + active as u64,
                s + size,
                r + if active { 0 } else { size },
            )
        })
    };
    let rows = [
        (
            "Images",
            sum(&images, &|v| (n(v, "Size"), n(v, "Containers") > 0)),
        ),
        (
            "Containers",
            sum(&containers, &|v| {
                let up = matches!(
                    v["State"].as_str(),
                    Some("running" | "paused" | "restarting")
                );
                (n(v, "SizeRw"), up)
            }),
        ),
        (
            "Local Volumes",
            sum(&volumes, &|v| {
                (
                    n(&v["UsageData"], "Size"),
                    n(&v["UsageData"], "RefCount") > 0,
                )
            }),
        ),
        ("Build Cache", (0, 0, 0, 0)),
    ];
    let objects: Vec<Value> = rows
        .iter()
        .map(|(kind, (total, active, size, rec))| {
            serde_json::json!({
                "Type": kind, "TotalCount": total.to_string(), "Active": active.to_string(),
                "Size": human(*size), "Reclaimable": reclaimable(*rec, *size),
            })
        })
        .collect();
    if !verbose || format.is_some_and(|f| !f.trim().is_empty() && f.trim() != "table") {
        let header = serde_json::json!({
            "Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
            "Reclaimable": "RECLAIMABLE",
        });
        return crate::commands::output::print_list(
            &objects,
            &header,
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
            format,
        );
    }
    println!("Images space usage:\n");
    println!(
        "{:<40}{:<15}{:<12}{:<12}CONTAINERS",
        "REPOSITORY:TAG", "IMAGE ID", "SIZE", "CREATED"
    );
    for i in &images {
        let tags: Vec<String> = i["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        let id = s(&i["Id"]);
        let id = id.trim_start_matches("sha256:");
        let created = s(&i["Created"]);
        println!(
            "{:<40}{:<15}{:<12}{:<12}{}",
            if tags.is_empty() {
                "<none>:<none>".to_string()
            } else {
                tags.join(", ")
            },
            id.get(..12).unwrap_or(id),
            human(n(i, "Size")),
            created.get(..10).unwrap_or(&created),
            n(i, "Containers")
        );
    }
    println!("\nContainers space usage:\n");
    println!(
        "{:<15}{:<20}{:<15}{:<12}{:<12}NAMES",
        "CONTAINER ID", "IMAGE", "LOCAL VOLUMES", "SIZE", "STATUS"
    );
    for c in &containers {
        let id = s(&c["Id"]);
        println!(
            "{:<15}{:<20}{:<15}{:<12}{:<12}{}",
            id.get(..12).unwrap_or(&id),
            s(&c["Image"]),
            n(c, "LocalVolumes"),
            human(n(c, "SizeRw")),
            s(&c["State"]),
            s(&c["Names"][0]).trim_start_matches('/')
        );
    }
    println!("\nLocal Volumes space usage:\n");
    println!("{:<66}{:<8}SIZE", "VOLUME NAME", "LINKS");
    for v in &volumes {
        println!(
            "{:<66}{:<8}{}",
            s(&v["Name"]),
            n(&v["UsageData"], "RefCount"),
            human(n(&v["UsageData"], "Size"))
        );
    }
    println!("\nBuild cache usage: 0B");
    Ok(())
}

/// `system prune`: stopped containers, unreferenced image data (`-a`: every unused image),
/// with `--volumes` unused anonymous volumes; one question for all, as Docker asks it.
pub fn prune(root: &Path, all: bool, volumes: bool, force: bool) -> Result<()> {
    let mut warning = String::from("WARNING! This will remove:\n  - all stopped containers\n");
    if volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if all {
        "  - all images without at least one container associated to them"
    } else {
        "  - all data no image refers to (blobs, layers, leftovers of interrupted loads)"
    });
    if !force && !confirm(&warning)? {
        return Ok(());
    }
    container::prune(root, true)?;
    if volumes {
        volume::prune(root, false, true)?;
    }
    image::prune(root, all, true)
}
