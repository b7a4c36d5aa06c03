//! `events`: a container's cgroup statistics and OOM kills, as JSON objects of the shape
//! runc prints (runc `types/events.go`: `{"type": "stats"|"oom", "id": ..., "data": ...}`),
//! because containerd's shim parses exactly that for `ctr task metrics` and the CRI's
//! ContainerStats. The numbers come from libcgroups (v1 and v2); empty values are left out
//! where runc leaves them out (Go's `omitempty`), so a consumer sees the same keys.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::container::refresh;
use crate::error::{Error, Result};
use crate::state::{ContainerDir, State, Status};

/// One line of `events` output.
#[derive(Debug, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub typ: &'static str,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: HashMap<String, Hugetlb>,
    pub intel_rdt: serde_json::Map<String, serde_json::Value>,
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    #[serde(skip_serializing_if = "CpuUsage::is_zero")]
    pub usage: CpuUsage,
    #[serde(skip_serializing_if = "Throttling::is_zero")]
    pub throttling: Throttling,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

impl CpuUsage {
    fn is_zero(&self) -> bool {
        *self == CpuUsage::default()
    }
}

#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    #[serde(skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

impl Throttling {
    fn is_zero(&self) -> bool {
        *self == Throttling::default()
    }
}

/// runc fills this from cpuset files only; libcgroups does not read them, so it is zero.
#[derive(Debug, Default, Serialize)]
pub struct CpuSet {
    pub cpu_exclusive: u64,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

impl MemoryEntry {
    fn is_zero(&self) -> bool {
        *self == MemoryEntry::default()
    }
    fn from(d: &libcgroups::stats::MemoryData) -> MemoryEntry {
        MemoryEntry {
            limit: d.limit,
            usage: d.usage,
            max: d.max_usage,
            failcnt: d.fail_count,
        }
    }
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    #[serde(skip_serializing_if = "MemoryEntry::is_zero")]
    pub usage: MemoryEntry,
    #[serde(skip_serializing_if = "MemoryEntry::is_zero")]
    pub swap: MemoryEntry,
    #[serde(skip_serializing_if = "MemoryEntry::is_zero")]
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP", skip_serializing_if = "MemoryEntry::is_zero")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub raw: HashMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    // runc's tag really is "ioQueueRecursive".
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

fn blkio(v: &[libcgroups::stats::BlkioDeviceStat]) -> Vec<BlkioEntry> {
    v.iter()
        .map(|e| BlkioEntry {
            major: e.major,
            minor: e.minor,
            op: e.op_type.clone().unwrap_or_default(),
            value: e.value,
        })
        .collect()
}

impl From<&libcgroups::stats::Stats> for Stats {
    fn from(s: &libcgroups::stats::Stats) -> Stats {
        let u = &s.cpu.usage;
        let t = &s.cpu.throttling;
        let b = &s.blkio;
        Stats {
            cpu: Cpu {
                usage: CpuUsage {
                    total: u.usage_total,
                    percpu: u.per_core_usage_total.clone(),
                    percpu_kernel: u.per_core_usage_kernel.clone(),
                    percpu_user: u.per_core_usage_user.clone(),
                    kernel: u.usage_kernel,
                    user: u.usage_user,
                },
                throttling: Throttling {
                    periods: t.periods,
                    throttled_periods: t.throttled_periods,
                    throttled_time: t.throttled_time,
                },
            },
            memory: Memory {
                cache: s.memory.cache,
                usage: MemoryEntry::from(&s.memory.memory),
                swap: MemoryEntry::from(&s.memory.memswap),
                kernel: MemoryEntry::from(&s.memory.kernel),
                kernel_tcp: MemoryEntry::from(&s.memory.kernel_tcp),
                raw: s.memory.stats.clone(),
            },
            pids: Pids {
                current: s.pids.current,
                limit: s.pids.limit,
            },
            blkio: Blkio {
                io_service_bytes_recursive: blkio(&b.service_bytes),
                io_serviced_recursive: blkio(&b.serviced),
                io_queued_recursive: blkio(&b.queued),
                io_service_time_recursive: blkio(&b.service_time),
                io_wait_time_recursive: blkio(&b.wait_time),
                io_merged_recursive: blkio(&b.merged),
                io_time_recursive: blkio(&b.time),
                sectors_recursive: blkio(&b.sectors),
            },
            hugetlb: s
                .hugetlb
                .iter()
                .map(|(k, h)| {
                    (
                        k.clone(),
                        Hugetlb {
                            usage: h.usage,
                            max: h.max_usage,
                            failcnt: h.fail_count,
                        },
                    )
                })
                .collect(),
            ..Stats::default()
        }
    }
}

/// The container's state, refusing a stopped one as runc does ("is not running").
fn running(root: &Path, id: &str) -> Result<State> {
    let mut st = ContainerDir::open(root, id)?.load()?;
    refresh(&mut st);
    if matches!(st.status, Status::Stopped | Status::Creating) {
        return Err(Error::WrongState {
            id: st.id.clone(),
            status: st.status.as_str(),
            op: "report events",
        });
    }
    Ok(st)
}

/// `events --stats`: one stats event.
pub fn stats(root: &Path, id: &str) -> Result<Event> {
    let st = running(root, id)?;
    Ok(Event {
        typ: "stats",
        id: id.to_string(),
        data: Some(Stats::from(&crate::cgroups::stats(&st.cgroup.path, id)?)),
    })
}

/// `events [--interval D]`: a stats event every `interval` and an `oom` event for each OOM
/// kill in the container's cgroup, until its init exits. OOM kills are found by polling the
/// kernel's counter (v2 memory.events, v1 memory.oom_control `oom_kill`, Linux 4.13+) ten
/// times a second, which needs no eventfd or inotify registration that a cgroup removed
/// under us would leave dangling.
pub fn watch(
    root: &Path,
    id: &str,
    interval: Duration,
    mut emit: impl FnMut(&Event) -> Result<()>,
) -> Result<()> {
    let st = running(root, id)?;
    let mut ooms = crate::cgroups::oom_kills(&st.cgroup.path);
    let mut next_stats = Instant::now();
    loop {
        let now_ooms = crate::cgroups::oom_kills(&st.cgroup.path);
        for _ in ooms..now_ooms.max(ooms) {
            emit(&Event {
                typ: "oom",
                id: id.to_string(),
                data: None,
            })?;
        }
        ooms = now_ooms.max(ooms);
        let mut cur = st.clone();
        refresh(&mut cur);
        if cur.status == Status::Stopped {
            return Ok(());
        }
        if Instant::now() >= next_stats {
            // A container that just exited may have lost its cgroup: only its end is news.
            if let Ok(s) = crate::cgroups::stats(&st.cgroup.path, id) {
                emit(&Event {
                    typ: "stats",
                    id: id.to_string(),
                    data: Some(Stats::from(&s)),
                })?;
            }
            next_stats += interval;
        }
        let tick = Duration::from_millis(100);
        let wait = next_stats
            .saturating_duration_since(Instant::now())
            .min(tick);
        std::thread::sleep(wait.max(Duration::from_millis(1)));
    }
}

/// A Go duration as runc's `--interval` takes it: "5s", "100ms", "1m30s", "1.5s".
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || Error::Invalid(format!("invalid duration {s:?} for --interval"));
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * secs;
        rest = &rest[unit_len..];
    }
    if total <= 0.0 {
        return Err(Error::Invalid(
            "duration interval must be greater than 0".into(),
        ));
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_go_does() {
        assert_eq!(parse_duration("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_duration("100ms").ok(),
            Some(Duration::from_millis(100))
        );
        assert_eq!(parse_duration("1m30s").ok(), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("1.5s").ok(),
            Some(Duration::from_millis(1500))
        );
        for bad in ["", "5", "s", "5x", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_stats_have_runc_s_keys() {
        let v = serde_json::to_value(Stats::default()).expect("json");
        for k in [
            "cpu",
            "cpuset",
            "memory",
            "pids",
            "blkio",
            "hugetlb",
            "intel_rdt",
            "network_interfaces",
        ] {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
        assert!(v["cpu"].get("usage").is_none(), "{v}");
        assert_eq!(v["network_interfaces"], serde_json::Value::Null);
    }
}
