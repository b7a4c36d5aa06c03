//! `update`: changes the cgroup limits of a created, running or paused container, as runc's
//! `update` does for containerd's shim (which sends a LinuxResources JSON on stdin) and for
//! `docker update`.
//!
//! An update names only what changes. It is merged into the resources in force (the
//! config's, plus earlier updates, kept in the state), and the merged whole is applied, so an
//! update of the memory limit leaves the CPU quota (and the device rules) as they were; a
//! quota given without a period keeps the old period, as in runc.

use std::path::Path;

use oci_spec::runtime::LinuxResources;
use serde_json::Value;

use crate::container::refresh;
use crate::error::{Error, Result};
use crate::state::{ContainerDir, Status};

/// Merges `update` into the container's resources, applies them, and records them.
pub fn update(root: &Path, id: &str, update: &LinuxResources) -> Result<LinuxResources> {
    let dir = ContainerDir::open(root, id)?;
    let mut st = dir.load()?;
    refresh(&mut st);
    // runc: "container not running" for a stopped one: its cgroup may be gone already.
    if matches!(st.status, Status::Stopped | Status::Creating) {
        return Err(Error::WrongState {
            id: st.id.clone(),
            status: st.status.as_str(),
            op: "update",
        });
    }
    let merged = merge(st.resources.as_ref(), update)?;
    crate::cgroups::apply(&st.cgroup.path, id, Some(&merged))?;
    st.resources = Some(merged.clone());
    dir.save(&st)?;
    Ok(merged)
}

/// `base` with every field that `update` sets replaced (objects merged key by key, arrays
/// and values replaced; a JSON null in the update means "not given").
pub fn merge(base: Option<&LinuxResources>, update: &LinuxResources) -> Result<LinuxResources> {
    let to_json = |r: &LinuxResources| {
        serde_json::to_value(r).map_err(|e| Error::Invalid(format!("resources: {e}")))
    };
    let mut merged = match base {
        Some(b) => to_json(b)?,
        None => Value::Object(Default::default()),
    };
    deep_merge(&mut merged, to_json(update)?);
    serde_json::from_value(merged).map_err(|e| Error::Invalid(format!("merged resources: {e}")))
}

fn deep_merge(base: &mut Value, update: Value) {
    match (base, update) {
        (Value::Object(b), Value::Object(u)) => {
            for (k, v) in u {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => deep_merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, u) if !u.is_null() => *b = u,
        _ => {}
    }
}

/// The value of a size flag (`--memory 512m`): bytes, or a number with a unit b/k/m/g/t/p
/// (powers of 1024, as Docker's RAMInBytes that runc uses), or -1 for unlimited.
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let bad = || Error::Invalid(format!("invalid value for --{flag}: {s:?}"));
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            let exp = "kmgtp".find(c).unwrap_or(0) as u32 + 1;
            (&t[..t.len() - 1], 1024f64.powi(exp as i32))
        }
        _ => (t, 1.0),
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    let v = n * mult;
    if v > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).expect("resources")
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let base = res(serde_json::json!({
            "memory": {"limit": 1048576000},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512},
            "pids": {"limit": 42},
            "devices": [{"allow": false, "access": "rwm"}]
        }));
        let m = merge(
            Some(&base),
            &res(serde_json::json!({"cpu": {"quota": 20000}, "pids": {"limit": 7}})),
        )
        .expect("merge");
        let cpu = m.cpu().clone().expect("cpu");
        assert_eq!(cpu.quota(), Some(20000));
        assert_eq!(cpu.period(), Some(100000));
        assert_eq!(cpu.shares(), Some(512));
        assert_eq!(
            m.memory().as_ref().and_then(|x| x.limit()),
            Some(1048576000)
        );
        assert_eq!(m.pids().as_ref().map(|p| p.limit()), Some(7));
        assert_eq!(m.devices().as_ref().map(|d| d.len()), Some(1));
        let m = merge(None, &res(serde_json::json!({"memory": {"limit": 5}}))).expect("merge");
        assert_eq!(m.memory().as_ref().and_then(|x| x.limit()), Some(5));
    }

    #[test]
    fn sizes_parse_as_runc_does() {
        assert_eq!(parse_bytes("memory", "1024").ok(), Some(1024));
        assert_eq!(parse_bytes("memory", "512m").ok(), Some(512 << 20));
        assert_eq!(parse_bytes("memory", "1.5G").ok(), Some(3 << 29));
        assert_eq!(parse_bytes("memory", "2kb").ok(), Some(2048));
        assert_eq!(parse_bytes("memory", "-1").ok(), Some(-1));
        for bad in ["", "x", "-5", "1q", "nan"] {
            let e = parse_bytes("memory", bad).expect_err(bad);
            assert!(e.to_string().contains("--memory"), "{e}");
        }
    }
}
