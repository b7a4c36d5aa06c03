//! `update`: a container's limits and restart policy, changed in its record (inspect's
//! HostConfig), in its OCI config (the next start), and, when its processes are up, in its
//! live cgroup through the runtime's `update` (merged into what is in force, as runc does).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::base::runtime_root;
use super::container::{Containers, RestartPolicy};
use super::lifecycle;

/// What changes; None: left as it is.
#[derive(Debug, Default, Clone)]
pub struct Update {
    /// Bytes (-1: unlimited).
    pub memory: Option<i64>,
    /// Memory plus swap, bytes (-1: unlimited swap).
    pub memory_swap: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    /// -1 or 0: unlimited.
    pub pids_limit: Option<i64>,
    pub restart: Option<RestartPolicy>,
}

impl Update {
    /// The resources part as OCI `LinuxResources` JSON (only what is given).
    fn resources(&self) -> Result<Value> {
        let mut r = serde_json::Map::new();
        let mut mem = serde_json::Map::new();
        if let Some(m) = self.memory {
            mem.insert("limit".into(), json!(m));
        }
        if let Some(s) = self.memory_swap {
            mem.insert("swap".into(), json!(s));
        }
        if !mem.is_empty() {
            r.insert("memory".into(), Value::Object(mem));
        }
        let mut cpu = serde_json::Map::new();
        if let Some(c) = self.cpus {
            if c < 0.0 {
                bail!("--cpus {c}: must not be negative");
            }
            // 0: no limit (Docker); the quota -1 says so to the cgroup.
            let quota = if c == 0.0 { -1 } else { (c * 100_000.0) as i64 };
            cpu.insert("quota".into(), json!(quota));
            cpu.insert("period".into(), json!(100_000));
        }
        if let Some(s) = self.cpu_shares {
            cpu.insert("shares".into(), json!(s));
        }
        if let Some(c) = &self.cpuset_cpus {
            cpu.insert("cpus".into(), json!(c));
        }
        if !cpu.is_empty() {
            r.insert("cpu".into(), Value::Object(cpu));
        }
        if let Some(p) = self.pids_limit {
            // Docker: 0 and -1 both mean unlimited.
            r.insert("pids".into(), json!({"limit": if p <= 0 { -1 } else { p }}));
        }
        Ok(Value::Object(r))
    }
}

/// Updates container `name`; a running (or paused) one's cgroup changes at once.
pub fn update(root: &Path, name: &str, u: &Update) -> Result<()> {
    let cs = Containers::new(root);
    let rec = cs.find(name)?;
    if u.restart.is_some() && rec.host_config.auto_remove {
        bail!(
            "container {}: the restart policy cannot be updated because the container is removed when it exits (--rm)",
            rec.bare_name()
        );
    }
    if let (Some(m), Some(s)) = (u.memory, u.memory_swap) {
        if m > 0 && s > 0 && s < m {
            bail!(
                "--memory-swap {s}: must be at least --memory ({m}), as it counts memory and swap"
            );
        }
    }
    let upd: oci_spec::runtime::LinuxResources =
        serde_json::from_value(u.resources()?).context("the resources to update")?;
    // The live cgroup first: a limit the kernel refuses (below the usage) changes nothing.
    let status = lifecycle::current_status(&cs, &rec);
    if status.is_alive() {
        berth_runtime::update::update(&runtime_root(root), &rec.id, &upd)
            .with_context(|| format!("update the cgroup of container {}", rec.bare_name()))?;
    }
    // The OCI config, so the next start has the same limits.
    let dir = cs.dir_of(&rec.id);
    let mut spec = berth_runtime::container::load_spec(&dir)?;
    if let Some(linux) = spec.linux().clone() {
        let mut linux = linux;
        let merged = berth_runtime::update::merge(linux.resources().as_ref(), &upd)?;
        linux.set_resources(Some(merged));
        spec.set_linux(Some(linux));
        super::fsutil::write_private(&dir.join("config.json"), &serde_json::to_vec_pretty(&spec)?)?;
    }
    let rec = cs.update(&rec.id, |r| {
        let h = &mut r.host_config;
        if let Some(m) = u.memory {
            h.memory = m.max(0);
        }
        if let Some(s) = u.memory_swap {
            h.memory_swap = s;
        }
        if let Some(c) = u.cpus {
            h.nano_cpus = (c * 1e9) as i64;
        }
        if let Some(s) = u.cpu_shares {
            h.cpu_shares = s as i64;
        }
        if let Some(c) = &u.cpuset_cpus {
            h.cpuset_cpus = c.clone();
        }
        if let Some(p) = u.pids_limit {
            h.pids_limit = (p > 0).then_some(p);
        }
        if let Some(p) = &u.restart {
            h.restart_policy = p.clone();
        }
    })?;
    super::events::container(root, &rec, "update", &[]);
    Ok(())
}
