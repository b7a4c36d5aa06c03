//! The OCI runtime config of a container, made from its image config and the run flags,
//! with Docker's defaults: its 14 capabilities, masked and read-only /proc paths.

use anyhow::{bail, Result};
use berth_image::Image;
use oci_spec::runtime::Spec;
use serde_json::json;

use super::RunOptions;

/// Docker's default capability set (moby oci/caps/defaults.go).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn build(img: &Image, o: &RunOptions, id: &str) -> Result<Spec> {
    let c = &img.config.config;
    let mut args: Vec<String> = c.entrypoint.clone().unwrap_or_default();
    if o.command.is_empty() {
        args.extend(c.cmd.clone().unwrap_or_default());
    } else {
        args.extend(o.command.iter().cloned());
    }
    if args.is_empty() {
        bail!(
            "no command given and image {} has no CMD or ENTRYPOINT",
            o.image
        );
    }
    let mut env: Vec<String> = c.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    for e in &o.env {
        let key = e.split_once('=').map(|(k, _)| k).unwrap_or(e);
        env.retain(|x| x.split_once('=').map(|(k, _)| k) != Some(key));
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    let cwd = o
        .workdir
        .clone()
        .or_else(|| c.working_dir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    let (uid, gid) = match c.user.as_deref().filter(|u| !u.is_empty()) {
        None => (0, 0),
        Some(u) => {
            let (a, b) = u.split_once(':').unwrap_or((u, "0"));
            match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) => (a, b),
                _ => bail!("image user {u:?}: user names are resolved from /etc/passwd with the containers issue; use uid[:gid]"),
            }
        }
    };
    let caps = json!(DEFAULT_CAPS);
    let hostname = o.hostname.clone().unwrap_or_else(|| id[..12].to_string());
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": o.read_only},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    Ok(serde_json::from_value(spec)?)
}
