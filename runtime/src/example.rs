//! `spec`: a starter config.json for a bundle, the same container runc's `spec` describes
//! (a shell, the usual /proc, /dev, /sys mounts, a small capability set, masked and
//! read-only kernel paths), and its rootless variant (runc `specconv.ToRootless`: a user
//! namespace mapping the caller to root, no network namespace, /sys bound from the host,
//! no cgroup resources).

use serde_json::{json, Value};

/// The runtime-spec version berth-runtime implements (features `ociVersionMax`).
pub const OCI_VERSION: &str = "1.2.0";

pub fn example(rootless: bool, cgroup_ns: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    // runc adds it on cgroup v2 hosts only, where the namespace's root is the container's
    // own cgroup directory; do the same, so both runtimes write the same file on a host.
    if cgroup_ns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let mut spec = json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        to_rootless(&mut spec);
    }
    spec
}

fn to_rootless(spec: &mut Value) {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let linux = &mut spec["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                continue;
            }
            // An unprivileged user namespace maps one id: uid=/gid= options name others.
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| {
                    let o = o.as_str().unwrap_or("");
                    !o.starts_with("uid=") && !o.starts_with("gid=")
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_a_valid_spec_and_rootless_maps_the_caller() {
        for (rootless, cgroup_ns) in [(false, false), (true, true)] {
            let v = example(rootless, cgroup_ns);
            let spec: oci_spec::runtime::Spec =
                serde_json::from_value(v.clone()).expect("a valid runtime spec");
            use oci_spec::runtime::LinuxNamespaceType as T;
            let ns: Vec<T> = spec
                .linux()
                .as_ref()
                .and_then(|l| l.namespaces().clone())
                .unwrap_or_default()
                .iter()
                .map(|n| n.typ())
                .collect();
            assert_eq!(ns.contains(&T::User), rootless, "{ns:?}");
            assert_eq!(ns.contains(&T::Network), !rootless, "{ns:?}");
            assert_eq!(ns.contains(&T::Cgroup), cgroup_ns, "{ns:?}");
            if rootless {
                assert_eq!(
                    v["linux"]["uidMappings"][0]["hostID"],
                    nix::unistd::geteuid().as_raw()
                );
                assert!(v["linux"].get("resources").is_none());
                assert!(!v.to_string().contains("gid=5"));
            }
        }
    }
}
