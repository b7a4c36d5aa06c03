//! Resource limits on cgroup v1 hierarchies, written straight into the container's
//! directories.
//!
//! libcgroups' v1 manager finds each controller's hierarchy by reading /proc/self/mountinfo
//! and /proc/self/cgroup once per controller through a verified procfs handle: about 630
//! system calls and 2.5 ms of CPU per container on a hybrid host, more than all the rest of
//! the runtime's side of `create`. The runtime knows the hierarchies already (one read of
//! mountinfo, `v1_hierarchies`) and the container's directory in each, so what is left is
//! writing the files the kernel's cgroup-v1 documentation names, with the semantics
//! libcgroups gives them (the same values written, in the same order; the memory and swap
//! limits in the order that keeps memsw >= memory, as runc does). cgroup v2 stays with
//! libcgroups: its device rules are an eBPF program.

use std::fmt::Display;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxMemory, LinuxResources};

use super::cg_err;
use crate::error::Result;

/// The container's directory in each v1 hierarchy, with the controllers that hierarchy
/// carries.
pub struct Dirs(Vec<(Vec<String>, PathBuf)>);

impl Dirs {
    /// `rel` below every mounted v1 hierarchy.
    pub fn of(rel: &Path) -> Result<Dirs> {
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        Ok(Dirs(
            super::v1_hierarchies()?
                .into_iter()
                .map(|(mp, opts)| (opts.split(',').map(str::to_string).collect(), mp.join(rel)))
                .collect(),
        ))
    }

    /// The directory in the hierarchy that carries `controller`, if one is mounted.
    fn of_controller(&self, controller: &str) -> Option<&Path> {
        self.0
            .iter()
            .find(|(c, _)| c.iter().any(|c| c == controller))
            .map(|(_, d)| d.as_path())
    }
}

/// Writes `value` into cgroup file `dir/file` (which the kernel made: never created here).
fn write(dir: &Path, file: &str, value: impl Display) -> Result<()> {
    let p = dir.join(file);
    let v = value.to_string();
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p)
        .and_then(|mut f| f.write_all(v.as_bytes()))
        .map_err(|e| cg_err(&p, format!("write {v:?}: {e}")))
}

fn read_i64(dir: &Path, file: &str) -> Result<i64> {
    let p = dir.join(file);
    let s = fs::read_to_string(&p).map_err(|e| cg_err(&p, format!("read: {e}")))?;
    match s.trim() {
        "max" => Ok(i64::MAX),
        t => t
            .parse()
            .map_err(|e| cg_err(&p, format!("read {t:?}: {e}"))),
    }
}

/// Device rules every container gets on top of its own: the default devices (runtime spec
/// config-linux.md "Default Devices") and /dev/console, /dev/pts/*, /dev/ptmx, /dev/net/tun,
/// plus mknod of any node, as runc and libcgroups allow them. (v2: `devices.rs`.)
pub(super) const DEFAULT_ALLOW: &[&str] = &[
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:9 rwm",
    "c 1:8 rwm",
    "c *:* m",
    "b *:* m",
    "c 5:1 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

fn devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for r in rules {
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(dir, file, r)?;
    }
    for r in DEFAULT_ALLOW {
        write(dir, "devices.allow", r)?;
    }
    Ok(())
}

/// memory.limit_in_bytes; 0 means "not given". A limit below the usage is EBUSY: say so
/// with the usage in the message.
fn set_memory(dir: &Path, limit: i64) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    write(dir, "memory.limit_in_bytes", limit).map_err(|e| {
        match (
            read_i64(dir, "memory.usage_in_bytes"),
            read_i64(dir, "memory.max_usage_in_bytes"),
        ) {
            (Ok(usage), Ok(peak)) if usage >= limit || peak >= limit => cg_err(
                dir,
                format!(
                    "cannot set the memory limit to {limit} bytes: usage is {usage} (peak {peak})"
                ),
            ),
            _ => e,
        }
    })
}

fn set_swap(dir: &Path, swap: i64) -> Result<()> {
    if swap == 0 {
        return Ok(());
    }
    write(dir, "memory.memsw.limit_in_bytes", swap)
}

/// The kernel refuses memsw < memory at every moment, so the order depends on the move:
/// swap first when it grows past the current memory limit, memory first otherwise (both
/// again after, as runc does, so either order ends at the values asked for).
fn memory_and_swap(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let both = |limit: i64, swap: i64, swap_first: bool| -> Result<()> {
        if swap_first {
            set_swap(dir, swap)?;
            set_memory(dir, limit)?;
        }
        set_memory(dir, limit)?;
        set_swap(dir, swap)
    };
    match (m.limit(), m.swap()) {
        (Some(limit), Some(swap)) => {
            let current = read_i64(dir, "memory.limit_in_bytes")?;
            both(limit, swap, swap == -1 || current < swap)
        }
        (Some(-1), None) => both(-1, -1, true),
        (Some(limit), None) => {
            let current = read_i64(dir, "memory.limit_in_bytes")?;
            both(limit, 0, current < 0)
        }
        (None, Some(swap)) => both(0, swap, false),
        (None, None) => Ok(()),
    }
}

fn memory(dir: &Path, m: &LinuxMemory, disable_oom_killer: bool) -> Result<()> {
    memory_and_swap(dir, m)?;
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        write(dir, "memory.soft_limit_in_bytes", r)?;
    }
    write(dir, "memory.oom_control", u8::from(disable_oom_killer))?;
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(cg_err(
                dir,
                format!("memory.swappiness {s} is out of range (0-100)"),
            ));
        }
        write(dir, "memory.swappiness", s)?;
    }
    if let Some(k) = m.kernel() {
        write(dir, "memory.kmem.limit_in_bytes", k)?;
    }
    if let Some(k) = m.kernel_tcp() {
        write(dir, "memory.kmem.tcp.limit_in_bytes", k)?;
    }
    Ok(())
}

/// Applies `r` to the container's directories (made already). The order is libcgroups':
/// cpu, cpuset, devices, hugetlb, blkio, memory, pids, net_prio, net_cls.
pub fn apply(dirs: &Dirs, r: &LinuxResources, disable_oom_killer: bool) -> Result<()> {
    let at = |c: &str| dirs.of_controller(c);
    if let (Some(cpu), Some(d)) = (r.cpu(), at("cpu")) {
        let nonzero = |v: Option<u64>| v.filter(|v| *v != 0);
        if let Some(v) = nonzero(cpu.shares()) {
            write(d, "cpu.shares", v)?;
        }
        if let Some(v) = nonzero(cpu.period()) {
            write(d, "cpu.cfs_period_us", v)?;
        }
        if let Some(v) = cpu.quota().filter(|v| *v != 0) {
            write(d, "cpu.cfs_quota_us", v)?;
        }
        if let Some(v) = cpu.burst() {
            write(d, "cpu.cfs_burst_us", v)?;
        }
        if let Some(v) = cpu.realtime_runtime().filter(|v| *v != 0) {
            write(d, "cpu.rt_runtime_us", v)?;
        }
        if let Some(v) = nonzero(cpu.realtime_period()) {
            write(d, "cpu.rt_period_us", v)?;
        }
        if let Some(v) = cpu.idle() {
            write(d, "cpu.idle", v)?;
        }
    }
    if let (Some(cpu), Some(d)) = (r.cpu(), at("cpuset")) {
        if let Some(v) = cpu.cpus() {
            write(d, "cpuset.cpus", v)?;
        }
        if let Some(v) = cpu.mems() {
            write(d, "cpuset.mems", v)?;
        }
    }
    if let Some(d) = at("devices") {
        devices(d, r.devices().as_deref().unwrap_or(&[]))?;
    }
    if let (Some(limits), Some(d)) = (r.hugepage_limits(), at("hugetlb")) {
        for l in limits {
            let size = l.page_size();
            let digits: String = size.chars().take_while(|c| c.is_ascii_digit()).collect();
            if !digits.parse::<u64>().is_ok_and(u64::is_power_of_two) {
                return Err(cg_err(
                    d,
                    format!("hugepage size {size:?} is not a power of two"),
                ));
            }
            write(d, &format!("hugetlb.{size}.limit_in_bytes"), l.limit())?;
            let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
            if d.join(&rsvd).exists() {
                write(d, &rsvd, l.limit())?;
            }
        }
    }
    if let (Some(b), Some(d)) = (r.block_io(), at("blkio")) {
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            // Kernels without CFQ have only BFQ's file.
            let file = if d.join("blkio.weight").exists() {
                "blkio.weight"
            } else {
                "blkio.bfq.weight"
            };
            write(d, file, w)?;
        }
        for (file, list) in [
            (
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ] {
            for t in list.iter().flatten() {
                write(d, file, format!("{}:{} {}", t.major(), t.minor(), t.rate()))?;
            }
        }
    }
    if let (Some(m), Some(d)) = (r.memory(), at("memory")) {
        memory(d, m, disable_oom_killer)?;
    }
    if let (Some(p), Some(d)) = (r.pids(), at("pids")) {
        let limit = p.limit();
        if limit > 0 {
            write(d, "pids.max", limit)?;
        } else {
            write(d, "pids.max", "max")?;
        }
    }
    if let Some(n) = r.network() {
        if let (Some(prios), Some(d)) = (n.priorities(), at("net_prio")) {
            let map: String = prios.iter().map(|p| p.to_string()).collect();
            write(d, "net_prio.ifpriomap", map.trim())?;
        }
        if let (Some(id), Some(d)) = (n.class_id(), at("net_cls")) {
            write(d, "net_cls.classid", id)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory standing in for the container's cgroup in each hierarchy, with the files
    /// the kernel would have made (empty, or holding `limit`).
    fn fake(controllers: &[&str], files: &[(&str, &str)]) -> (tempfile::TempDir, Dirs) {
        let t = tempfile::tempdir().unwrap();
        let mut v = Vec::new();
        for c in controllers {
            let d = t.path().join(c);
            fs::create_dir_all(&d).unwrap();
            for (f, content) in files {
                fs::write(d.join(f), content).unwrap();
            }
            v.push((c.split(',').map(str::to_string).collect(), d));
        }
        (t, Dirs(v))
    }

    fn res(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    fn read(d: &Dirs, c: &str, f: &str) -> String {
        fs::read_to_string(d.of_controller(c).unwrap().join(f)).unwrap()
    }

    const FILES: &[(&str, &str)] = &[
        ("cpu.shares", ""),
        ("cpu.cfs_period_us", ""),
        ("cpu.cfs_quota_us", ""),
        ("cpuset.cpus", ""),
        ("cpuset.mems", ""),
        ("devices.allow", ""),
        ("devices.deny", ""),
        ("memory.limit_in_bytes", "9223372036854771712"),
        ("memory.memsw.limit_in_bytes", ""),
        ("memory.soft_limit_in_bytes", ""),
        ("memory.oom_control", ""),
        ("memory.swappiness", ""),
        ("pids.max", ""),
        ("hugetlb.2MB.limit_in_bytes", ""),
        ("blkio.bfq.weight", ""),
        ("blkio.throttle.read_bps_device", ""),
        ("net_cls.classid", ""),
        ("net_prio.ifpriomap", ""),
    ];

    #[test]
    fn every_limit_lands_in_its_controllers_file() {
        let (_t, d) = fake(
            &[
                "rw,cpu,cpuacct",
                "cpuset",
                "devices",
                "memory",
                "pids",
                "hugetlb",
                "blkio",
                "net_cls,net_prio",
            ],
            FILES,
        );
        let r = res(serde_json::json!({
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 4, "minor": 64, "access": "r"}],
            "memory": {"limit": 104857600, "swap": 209715200, "reservation": 52428800, "swappiness": 10},
            "pids": {"limit": 42},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}
        }));
        apply(&d, &r, true).unwrap();
        assert_eq!(read(&d, "cpu", "cpu.shares"), "512");
        assert_eq!(read(&d, "cpuacct", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&d, "cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(read(&d, "cpuset", "cpuset.cpus"), "0");
        assert_eq!(read(&d, "cpuset", "cpuset.mems"), "0");
        // A plain file keeps only the last write: the deny-all, then the last default allow.
        assert_eq!(read(&d, "devices", "devices.deny"), "a *:* rwm");
        assert_eq!(read(&d, "devices", "devices.allow"), "c 10:200 rwm");
        assert_eq!(read(&d, "memory", "memory.limit_in_bytes"), "104857600");
        assert_eq!(
            read(&d, "memory", "memory.memsw.limit_in_bytes"),
            "209715200"
        );
        assert_eq!(read(&d, "memory", "memory.soft_limit_in_bytes"), "52428800");
        assert_eq!(read(&d, "memory", "memory.oom_control"), "1");
        assert_eq!(read(&d, "memory", "memory.swappiness"), "10");
        assert_eq!(read(&d, "pids", "pids.max"), "42");
        assert_eq!(read(&d, "hugetlb", "hugetlb.2MB.limit_in_bytes"), "4194304");
        assert_eq!(read(&d, "blkio", "blkio.bfq.weight"), "300");
        assert_eq!(
            read(&d, "blkio", "blkio.throttle.read_bps_device"),
            "8:0 1048576"
        );
        assert_eq!(read(&d, "net_cls", "net_cls.classid"), "1048577");
        assert_eq!(read(&d, "net_prio", "net_prio.ifpriomap"), "eth0 5");
    }

    #[test]
    fn unlimited_pids_and_absent_values_are_written_as_the_kernel_wants() {
        let (_t, d) = fake(&["cpu", "pids", "memory"], FILES);
        let r = res(serde_json::json!({
            "cpu": {"shares": 0},
            "pids": {"limit": 0},
            "memory": {"limit": -1}
        }));
        apply(&d, &r, false).unwrap();
        assert_eq!(read(&d, "cpu", "cpu.shares"), "", "0 means not given");
        assert_eq!(read(&d, "pids", "pids.max"), "max");
        assert_eq!(read(&d, "memory", "memory.limit_in_bytes"), "-1");
        assert_eq!(read(&d, "memory", "memory.memsw.limit_in_bytes"), "-1");
        assert_eq!(read(&d, "memory", "memory.oom_control"), "0");
    }

    #[test]
    fn bad_values_name_the_file_and_the_value() {
        let (_t, d) = fake(&["memory", "hugetlb"], FILES);
        let e = apply(
            &d,
            &res(serde_json::json!({"memory": {"swappiness": 101}})),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("swappiness 101"), "{e}");
        let e = apply(
            &d,
            &res(serde_json::json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]})),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"3MB\""), "{e}");
        // A controller file the kernel did not make is an error naming it, not a new file.
        let (_t2, d2) = fake(&["pids"], &[]);
        let e = apply(&d2, &res(serde_json::json!({"pids": {"limit": 5}})), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pids.max"), "{e}");
        assert!(!d2.of_controller("pids").unwrap().join("pids.max").exists());
    }

    /// A hierarchy that is not mounted is skipped, as libcgroups skips an unsupported one.
    #[test]
    fn a_missing_hierarchy_is_skipped() {
        let (_t, d) = fake(&["pids"], FILES);
        let r = res(serde_json::json!({"cpu": {"shares": 512}, "pids": {"limit": 7}}));
        apply(&d, &r, false).unwrap();
        assert_eq!(read(&d, "pids", "pids.max"), "7");
    }
}
