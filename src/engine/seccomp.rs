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

    /// What the kernel answers for one call with every program of `progs` installed: each
    /// filter runs and the most restrictive action wins (seccomp(2)).
    fn decide(progs: &[berth_runtime::seccomp::Program], nr: libc::c_long, arg0: u64) -> u32 {
        use berth_runtime::seccomp::bpf;
        let arch = bpf::AUDIT_ARCH.unwrap();
        let args = [arg0, 0, 0, 0, 0, 0];
        let action = |r: u32| (r & libc::SECCOMP_RET_ACTION_FULL) as i32;
        progs
            .iter()
            .rev()
            .map(|p| bpf::run(&p.0, arch, nr as u32, &args).unwrap())
            .fold(libc::SECCOMP_RET_ALLOW, |best, r| {
                if action(r) < action(best) {
                    r
                } else {
                    best
                }
            })
    }

    /// Docker's default profile, compiled as a container without CAP_SYS_ADMIN gets it: a
    /// short binary search (it was a 1,547-instruction chain), and the calls its argument
    /// rules are about decide as Docker's do.
    #[test]
    fn default_profile_compiles_short_and_decides_as_dockers() {
        let oci = to_oci(DEFAULT_PROFILE, "default", &["CAP_CHOWN".into()]).unwrap();
        let progs = berth_runtime::seccomp::compile(&serde_json::from_value(oci).unwrap()).unwrap();
        let len: usize = progs.iter().map(|p| p.0.len()).sum();
        assert!(len < 200, "{len} instructions");
        let (allow, eperm) = (libc::SECCOMP_RET_ALLOW, libc::SECCOMP_RET_ERRNO | 1);
        let d = |nr, arg0| decide(&progs, nr, arg0);
        assert_eq!(d(libc::SYS_getpid, 0), allow);
        assert_eq!(d(libc::SYS_read, 0), allow);
        assert_eq!(d(libc::SYS_mount, 0), eperm);
        assert_eq!(d(libc::SYS_unshare, 0), eperm);
        assert_eq!(d(libc::SYS_clone3, 0), libc::SECCOMP_RET_ERRNO | 38);
        // clone: namespaces need CAP_SYS_ADMIN; a plain fork-like clone does not.
        assert_eq!(d(libc::SYS_clone, libc::SIGCHLD as u64), allow);
        assert_eq!(d(libc::SYS_clone, libc::CLONE_NEWUSER as u64), eperm);
        assert_eq!(
            d(libc::SYS_clone, 1 << 32 | libc::CLONE_NEWNS as u64),
            eperm
        );
        // personality: the listed personas, and the query.
        for ok in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
            assert_eq!(d(libc::SYS_personality, ok), allow, "{ok:#x}");
        }
        assert_eq!(d(libc::SYS_personality, 0x0040000), eperm); // ADDR_NO_RANDOMIZE
        assert_eq!(d(libc::SYS_personality, 1 << 32), eperm);
        // socket: everything but AF_VSOCK.
        assert_eq!(d(libc::SYS_socket, libc::AF_INET as u64), allow);
        assert_eq!(d(libc::SYS_socket, libc::AF_VSOCK as u64), eperm);
        // A number no profile names, and an x32 call.
        assert_eq!(d(1000, 0), eperm);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(d(0x4000_0000 | libc::SYS_getpid, 0), eperm);
        }
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
