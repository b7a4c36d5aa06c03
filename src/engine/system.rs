//! What `version` and `info` report: berth's versions, this host (kernel, cgroups, CPUs,
//! memory) and the root's contents, shaped as Docker's API objects (`types.Version`,
//! `system.Info`) so `--format json` and `-f '{{.Server.Version}}'` read the same fields.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use super::container::{Containers, Status};
use super::lifecycle;

/// berth's version; the runtime and the image store are built from the same workspace, so
/// they share it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The storage driver of every container (the record's `Driver`).
pub const STORAGE_DRIVER: &str = "overlay";

/// berth makes its cgroups itself under `/sys/fs/cgroup`, never through systemd.
pub const CGROUP_DRIVER: &str = "cgroupfs";

/// "2" on a unified hierarchy (cgroup.controllers at the top), else "1".
pub fn cgroup_version() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

fn read_trimmed(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The kernel's release, as `uname -r` prints it.
pub fn kernel_version() -> String {
    read_trimmed("/proc/sys/kernel/osrelease")
}

/// Go's name for this architecture, which Docker prints in `version` (amd64, arm64).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `PRETTY_NAME` of /etc/os-release (os-release(5)), else "Linux".
fn operating_system() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// MemTotal of /proc/meminfo, in bytes.
fn mem_total() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// `docker version`'s object: the client, and the "server" (berth has none running, so it is
/// this same binary) with its components, the engine's details carrying the kernel, the
/// cgroup version and driver and the storage driver.
pub fn version() -> Value {
    let kernel = kernel_version();
    json!({
        "Client": {
            "Platform": {"Name": "berth"},
            "Version": VERSION,
            "Os": "linux",
            "Arch": go_arch(),
        },
        "Server": {
            "Platform": {"Name": "berth (daemonless)"},
            "Components": [
                {
                    "Name": "Engine",
                    "Version": VERSION,
                    "Details": {
                        "Os": "linux",
                        "Arch": go_arch(),
                        "KernelVersion": kernel,
                        "CgroupVersion": cgroup_version(),
                        "CgroupDriver": CGROUP_DRIVER,
                        "StorageDriver": STORAGE_DRIVER,
                    }
                },
                {"Name": "berth-runtime", "Version": VERSION, "Details": {}},
            ],
            "Version": VERSION,
            "Os": "linux",
            "Arch": go_arch(),
            "KernelVersion": kernel,
        }
    })
}

/// `docker info`'s object for the root: counts of containers by state and of images, and
/// the host's facts.
pub fn info(root: &Path) -> Result<Value> {
    lifecycle::heal(root)?;
    let cs = Containers::new(root);
    let (mut running, mut paused, mut stopped, mut total) = (0, 0, 0, 0);
    for rec in cs.all() {
        match lifecycle::current_status(&cs, &rec) {
            Status::Creating => continue,
            Status::Running | Status::Restarting => running += 1,
            Status::Paused => paused += 1,
            _ => stopped += 1,
        }
        total += 1;
    }
    let images: std::collections::BTreeSet<String> = berth_image::Store::open(root)?
        .images()?
        .iter()
        .map(|i| i.id().to_string())
        .collect();
    Ok(json!({
        "Containers": total,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images.len(),
        "Driver": STORAGE_DRIVER,
        "LoggingDriver": "json-file",
        "CgroupDriver": CGROUP_DRIVER,
        "CgroupVersion": cgroup_version(),
        "Runtimes": {"berth-runtime": {"path": "berth-runtime"}},
        "DefaultRuntime": "berth-runtime",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "KernelVersion": kernel_version(),
        "OperatingSystem": operating_system(),
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": mem_total(),
        "Name": read_trimmed("/proc/sys/kernel/hostname"),
        "DockerRootDir": root.display().to_string(),
        "ServerVersion": VERSION,
        "Debug": berth_runtime::debug::on(),
    }))
}

/// Bytes of the files under `dir` (not following symlinks; a directory that cannot be read
/// counts as what could be read of it).
pub fn du(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                todo.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

/// What `system df` reports, as Docker's API object: each image (size, containers using it),
/// each container (its writable layer's size, state), each volume (size, containers using it).
pub fn df(root: &Path) -> Result<Value> {
    lifecycle::heal(root)?;
    let cs = Containers::new(root);
    let recs = cs.all();
    let mut containers = Vec::new();
    for rec in &recs {
        let status = lifecycle::current_status(&cs, rec);
        if status == Status::Creating {
            continue;
        }
        containers.push(json!({
            "Id": rec.id,
            "Names": [rec.name],
            "Image": rec.config.image,
            "ImageID": rec.image,
            "Command": std::iter::once(rec.path.clone()).chain(rec.args.iter().cloned()).collect::<Vec<_>>().join(" "),
            "Created": rec.created,
            "State": status.as_str(),
            "SizeRw": du(&cs.dir_of(&rec.id).join("upper")),
            "LocalVolumes": rec.mounts.iter().filter(|m| m.kind == "volume").count(),
        }));
    }
    let store = berth_image::Store::open(root)?;
    let mut images = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for img in store.images()? {
        let id = img.id().to_string();
        if !seen.insert(id.clone()) {
            continue;
        }
        images.push(json!({
            "Id": id,
            "RepoTags": img.names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "Created": img.config.created,
            "Size": img.size(),
            "Containers": recs.iter().filter(|r| r.image == id).count(),
        }));
    }
    let vols = super::volume::Volumes::new(root);
    let mut volumes = Vec::new();
    for v in vols.all() {
        let links = super::volume::VolumeName::new(&v.name)
            .map(|n| vols.users(&cs, &n).len())
            .unwrap_or(0);
        volumes.push(json!({
            "Name": v.name,
            "Anonymous": v.anonymous,
            "UsageData": {"Size": du(&v.mountpoint), "RefCount": links},
        }));
    }
    Ok(json!({"Images": images, "Containers": containers, "Volumes": volumes}))
}
