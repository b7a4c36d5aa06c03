//! Seccomp profiles in Docker's format (`defaultAction`, `syscalls` entries with `includes` /
//! `excludes` on capabilities and architectures) turned into the OCI `linux.seccomp` of one
//! container: entries that do not apply to its capabilities or this architecture drop out.
//! berth's default profile is data: seccomp_default.json.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

pub const DEFAULT_PROFILE: &str = include_str!("seccomp_default.json");

/// Which profile a container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    Default,
    Unconfined,
    /// A profile file's name and text.
    Custom(String, String),
}

/// Docker's architecture names for this build.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .with_context(|| format!("{what}: {x} is not a string"))
            })
            .collect(),
        other => bail!("{what}: {other} is not a list"),
    }
}

/// The OCI seccomp section of profile `text` (named `source` in errors) for a container
/// whose capability set is `caps`.
pub fn to_oci(text: &str, source: &str, caps: &[String]) -> Result<Value> {
    let p: Value = serde_json::from_str(text)
        .with_context(|| format!("seccomp profile {source}: not JSON"))?;
    let default = p["defaultAction"]
        .as_str()
        .with_context(|| format!("seccomp profile {source}: no defaultAction"))?;
    let arch = host_arch();
    let mut out = Vec::new();
    let entries = p["syscalls"].as_array().cloned().unwrap_or_default();
    for (i, e) in entries.iter().enumerate() {
        let what = format!("seccomp profile {source}: syscalls[{i}]");
        let names = if e["names"].is_null() {
            e["name"]
                .as_str()
                .map(|n| vec![n.to_string()])
                .unwrap_or_default()
        } else {
            strings(&e["names"], &format!("{what}.names"))?
        };
        if names.is_empty() {
            bail!("{what}: no names");
        }
        let action = e["action"]
            .as_str()
            .with_context(|| format!("{what}: no action"))?;
        let inc_caps = strings(&e["includes"]["caps"], &format!("{what}.includes.caps"))?;
        let inc_arch = strings(&e["includes"]["arches"], &format!("{what}.includes.arches"))?;
        let exc_caps = strings(&e["excludes"]["caps"], &format!("{what}.excludes.caps"))?;
        let exc_arch = strings(&e["excludes"]["arches"], &format!("{what}.excludes.arches"))?;
        let applies = inc_caps.iter().all(|c| caps.contains(c))
            && (inc_arch.is_empty() || inc_arch.iter().any(|a| a == arch))
            && !exc_caps.iter().any(|c| caps.contains(c))
            && !exc_arch.iter().any(|a| a == arch);
        if !applies {
            continue;
        }
        let mut entry = json!({"names": names, "action": action});
        if let Some(r) = e.get("errnoRet").filter(|v| !v.is_null()) {
            entry["errnoRet"] = r.clone();
        }
        if let Some(a) = e.get("args").filter(|v| !v.is_null()) {
            entry["args"] = a.clone();
        }
        out.push(entry);
    }
    let mut s = json!({"defaultAction": default, "syscalls": out});
    if let Some(r) = p.get("defaultErrnoRet").filter(|v| !v.is_null()) {
        s["defaultErrnoRet"] = r.clone();
    }
    if source != "default" {
        // Checked here so a bad file fails `run` with its name, not later inside the init.
        let oci: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(s.clone())
            .with_context(|| format!("seccomp profile {source}"))?;
        berth_runtime::seccomp::compile(&oci)
            .map_err(|e| anyhow::anyhow!("seccomp profile {source}: {e}"))?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_allowed(s: &Value) -> Vec<String> {
        s["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "SCMP_ACT_ALLOW" && e.get("args").is_none())
            .flat_map(|e| e["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn default_profile_follows_capabilities() {
        let plain = to_oci(DEFAULT_PROFILE, "default", &["CAP_CHOWN".into()]).unwrap();
        assert_eq!(plain["defaultAction"], "SCMP_ACT_ERRNO");
        let allowed = names_allowed(&plain);
        assert!(allowed.contains(&"read".to_string()));
        assert!(!allowed.contains(&"mount".to_string()));
        assert!(!allowed.contains(&"ptrace".to_string()));
        let admin = to_oci(DEFAULT_PROFILE, "default", &["CAP_SYS_ADMIN".into()]).unwrap();
        let allowed = names_allowed(&admin);
        assert!(allowed.contains(&"mount".to_string()) && allowed.contains(&"unshare".to_string()));
        // clone3's ENOSYS rule is for containers without CAP_SYS_ADMIN only.
        let has_clone3_errno = |s: &Value| {
            s["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["errnoRet"] == 38)
        };
        assert!(has_clone3_errno(&plain) && !has_clone3_errno(&admin));
    }

    #[test]
    fn bad_profiles_are_named() {
        let e = to_oci("{", "p.json", &[]).unwrap_err().to_string();
        assert!(e.contains("p.json"), "{e}");
        let e = to_oci(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"]}]}"#,
            "p.json",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("syscalls[0]") && e.contains("no action"), "{e}");
        let e = to_oci(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#, "p.json", &[]).unwrap_err();
        assert!(format!("{e:#}").contains("p.json"));
    }
}
