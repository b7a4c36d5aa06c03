//! Docker's option syntaxes that every way of making a container shares (`run`, and next
//! build steps and compose services): sizes, ulimits, env files, `-v`, `--mount`,
//! `--tmpfs`, published ports. Each parser takes the text as given and names the flag and
//! value at fault in its error; the value types implement `FromStr`.

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use super::config::Mount;
use super::volume::VolumeName;

/// `64m`, `1g`, `512k`, `1048576` (bytes), as docker's --memory.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .with_context(|| format!("size {s:?}: want a number with b, k, m or g"))?;
    if n < 0.0 {
        bail!("size {s:?} is negative");
    }
    let bytes = n * mul as f64;
    // Kernel limits are signed 64-bit: anything above is no limit a user means.
    if bytes > i64::MAX as f64 {
        bail!("size {s:?} is too large (at most 8 EiB)");
    }
    Ok(bytes as u64)
}

/// A size in bytes, written as Docker's flags take it (`64m`, `1g`, `512k`, `1048576`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Size> {
        parse_size(s).map(Size)
    }
}

/// `--ulimit name=soft[:hard]` (one value: both), as Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// setrlimit(2)'s resources by Docker's names.
const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

impl FromStr for Ulimit {
    type Err = anyhow::Error;
    fn from_str(u: &str) -> Result<Ulimit> {
        let (name, vals) = u
            .split_once('=')
            .with_context(|| format!("--ulimit {u:?}: want name=soft[:hard]"))?;
        if !ULIMITS.contains(&name) {
            bail!("--ulimit {u:?}: unknown limit {name:?}");
        }
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        let parse = |v: &str| {
            v.parse::<u64>()
                .with_context(|| format!("--ulimit {u:?}: {v:?} is not a number"))
        };
        let (soft, hard) = (parse(soft)?, parse(hard)?);
        if soft > hard {
            bail!("--ulimit {u:?}: soft limit above hard limit");
        }
        Ok(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        })
    }
}

impl std::fmt::Display for Ulimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}:{}", self.name, self.soft, self.hard)
    }
}

impl Ulimit {
    /// The OCI `process.rlimits` type, `RLIMIT_NOFILE` for `nofile`.
    pub fn rlimit_type(&self) -> String {
        format!("RLIMIT_{}", self.name.to_ascii_uppercase())
    }
}

/// Transport of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

/// `-p [IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/PROTO]`, as Docker: a host port of 0 or
/// none means "any free port"; ranges must be of equal length (or map a range to one port).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortSpec {
    pub host_ip: Option<IpAddr>,
    /// First and last host port; None: chosen from the ephemeral range.
    pub host_ports: Option<(u16, u16)>,
    pub container_ports: (u16, u16),
    pub proto: Proto,
}

fn port_range(s: &str, what: &str, spec: &str) -> Result<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let p = |v: &str| {
        v.parse::<u16>()
            .ok()
            .with_context(|| format!("--publish {spec:?}: invalid {what} port {v:?}"))
    };
    let (a, b) = (p(a)?, p(b)?);
    if a > b {
        bail!("--publish {spec:?}: {what} port range {s:?} runs backwards");
    }
    Ok((a, b))
}

impl FromStr for PortSpec {
    type Err = anyhow::Error;
    fn from_str(spec: &str) -> Result<PortSpec> {
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, "tcp")) => (r, Proto::Tcp),
            Some((r, "udp")) => (r, Proto::Udp),
            Some((r, "sctp")) => (r, Proto::Sctp),
            Some((_, p)) => bail!("--publish {spec:?}: unknown protocol {p:?} (tcp, udp, sctp)"),
            None => (spec, Proto::Tcp),
        };
        // An IPv6 host address is bracketed: [::1]:8080:80.
        let (host_ip, rest) = if let Some(r) = rest.strip_prefix('[') {
            let (ip, r) = r
                .split_once("]:")
                .with_context(|| format!("--publish {spec:?}: unclosed [ of an IPv6 address"))?;
            (Some(ip), r)
        } else {
            match rest.matches(':').count() {
                2 => {
                    let (ip, r) = rest.split_once(':').unwrap_or(("", rest));
                    (Some(ip), r)
                }
                0 | 1 => (None, rest),
                _ => bail!("--publish {spec:?}: want [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]"),
            }
        };
        let host_ip = match host_ip.filter(|i| !i.is_empty()) {
            Some(i) => Some(
                i.parse::<IpAddr>()
                    .ok()
                    .with_context(|| format!("--publish {spec:?}: invalid host address {i:?}"))?,
            ),
            None => None,
        };
        let (host, container) = match rest.split_once(':') {
            Some((h, c)) => (Some(h), c),
            None => (None, rest),
        };
        let container_ports = port_range(container, "container", spec)?;
        if container_ports.0 == 0 {
            bail!("--publish {spec:?}: container port 0 is not a port");
        }
        let host_ports = match host.filter(|h| !h.is_empty()) {
            Some(h) => {
                let r = port_range(h, "host", spec)?;
                let (hn, cn) = (r.1 - r.0, container_ports.1 - container_ports.0);
                if r.0 == 0 && hn == 0 {
                    None
                } else if hn != cn && cn != 0 {
                    bail!("--publish {spec:?}: host and container port ranges differ in length");
                } else {
                    Some(r)
                }
            }
            None => None,
        };
        Ok(PortSpec {
            host_ip,
            host_ports,
            container_ports,
            proto,
        })
    }
}

/// Docker's smallest memory limit: a container below it dies before its init runs.
pub const MIN_MEMORY: u64 = 6 << 20;

/// `-m`/`--memory`: a size of at least 6 MiB.
pub fn memory_limit(s: &str) -> Result<u64> {
    let m = parse_size(s).with_context(|| format!("--memory {s:?}"))?;
    if m < MIN_MEMORY {
        bail!("--memory {s:?}: the minimum memory limit allowed is 6MB");
    }
    Ok(m)
}

/// `--cpus`: from 0.01 to the number of CPUs the host has, as Docker.
pub fn cpus(n: f64, host_cpus: usize) -> Result<f64> {
    if !n.is_finite() || !(0.01..=host_cpus as f64).contains(&n) {
        bail!("--cpus {n}: range of CPUs is from 0.01 to {host_cpus}.00, as there are only {host_cpus} CPUs available");
    }
    Ok(n)
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]` (and compose's `devices`), as Docker parses it:
/// the container path defaults to the host's, the permissions (a set of r, w, m) to rwm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    pub host: std::path::PathBuf,
    pub container: String,
    pub permissions: String,
}

fn device_permissions(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 3
        && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        && p.chars().collect::<std::collections::BTreeSet<_>>().len() == p.len()
}

impl FromStr for DeviceSpec {
    type Err = anyhow::Error;
    fn from_str(d: &str) -> Result<DeviceSpec> {
        let parts: Vec<&str> = d.split(':').collect();
        let (host, container, permissions) = match parts[..] {
            [h] => (h, h, "rwm"),
            [h, p] if device_permissions(p) => (h, h, p),
            [h, c] => (h, c, "rwm"),
            [h, c, p] => (h, c, p),
            _ => bail!("--device {d:?}: want HOST[:CONTAINER][:PERMISSIONS]"),
        };
        let container = if container.is_empty() {
            host
        } else {
            container
        };
        if !device_permissions(permissions) {
            bail!("--device {d:?}: permissions {permissions:?} are not a set of r, w and m");
        }
        for (what, p) in [("host", host), ("container", container)] {
            if !p.starts_with('/') {
                bail!("--device {d:?}: the {what} path must be absolute");
            }
        }
        if container.split('/').any(|c| c == "..") || container == "/" {
            bail!("--device {d:?}: the container path must name a file, without ..");
        }
        Ok(DeviceSpec {
            host: host.into(),
            container: clean(Path::new(container)).display().to_string(),
            permissions: permissions.to_string(),
        })
    }
}

/// A size flag that also takes -1 for "unlimited" (`--memory-swap -1`), in bytes.
pub fn size_or_unlimited(flag: &str, s: &str) -> Result<i64> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    Ok(s.parse::<Size>()
        .with_context(|| format!("{flag} {s:?}"))?
        .0 as i64)
}

/// A CPU list as the kernel writes it (`0-3,6`): the CPUs it names.
fn cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if a > b || b > 8191 {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

/// `--cpuset-cpus`: a CPU list (`0-1`, `0,2`) of CPUs this host has online, as Docker
/// checks it (the cgroup would refuse the others at start, without saying which).
pub fn cpuset(s: &str) -> Result<String> {
    let want = cpu_list(s)
        .with_context(|| format!("--cpuset-cpus {s:?}: want a list of CPUs such as 0-2,4"))?;
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    if let Some(have) = cpu_list(&online) {
        if let Some(c) = want.iter().find(|c| !have.contains(c)) {
            bail!(
                "--cpuset-cpus {s:?}: CPU {c} is not available (this host has {})",
                online.trim()
            );
        }
    }
    Ok(s.trim().to_string())
}

/// `--pid`, `--ipc` and `--uts` as Docker takes them: `host` shares the host's namespace;
/// the default (empty) is the container's own. `--ipc` also takes `private` and
/// `shareable` (both the container's own here: another container may join it through
/// `container:` only with the network), and `none` (its own, without /dev/shm).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsModes {
    pub pid: String,
    pub ipc: String,
    pub uts: String,
    /// `--cgroupns host|private`.
    pub cgroup: String,
}

impl NsModes {
    /// Checks and keeps the modes (pid, ipc, uts, cgroup); `hostname`: whether a hostname
    /// was asked for.
    pub fn new(modes: [&str; 4], hostname: bool) -> Result<NsModes> {
        let [pid, ipc, uts, cgroup] = modes;
        let check = |flag: &str, v: &str, ok: &[&str]| -> Result<String> {
            if ok.contains(&v) {
                return Ok(v.to_string());
            }
            if v.starts_with("container:") {
                bail!("--{flag} {v:?}: joining another container's {flag} namespace is not supported (only --network container:NAME)");
            }
            bail!("--{flag} {v:?}: want {}", ok[1..].join(" or "));
        };
        let m = NsModes {
            pid: check("pid", pid, &["", "host", "private"])?,
            ipc: check("ipc", ipc, &["", "host", "private", "shareable", "none"])?,
            uts: check("uts", uts, &["", "host"])?,
            cgroup: check("cgroupns", cgroup, &["", "host", "private"])?,
        };
        if m.uts_host() && hostname {
            bail!("conflicting options: --hostname and --uts host (the container would rename the host)");
        }
        Ok(m)
    }
    pub fn pid_host(&self) -> bool {
        self.pid == "host"
    }
    pub fn ipc_host(&self) -> bool {
        self.ipc == "host"
    }
    pub fn uts_host(&self) -> bool {
        self.uts == "host"
    }
    pub fn cgroup_host(&self) -> bool {
        self.cgroup == "host"
    }
}

/// `--platform`: berth runs images of this host's platform only (no emulation); `os/arch`
/// of anything else is refused, naming both.
pub fn platform(p: &str) -> Result<()> {
    let host = berth_image::model::host_platform();
    let mut parts = p.trim().split('/');
    let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if os != host.os || arch != host.architecture {
        bail!(
            "--platform {p:?}: this host runs {}/{} images only (no emulation)",
            host.os,
            host.architecture
        );
    }
    Ok(())
}

/// The sysctls that live in a container's own IPC namespace (Docker's list); `net.*` in its
/// network namespace and `fs.mqueue.*` in its IPC namespace are allowed by prefix.
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// `--sysctl KEY=VALUE` (and compose's `sysctls`): only sysctls a container has a namespace
/// of its own for, as Docker allows; `net.*` not with the host's network namespace, the
/// IPC ones not with the host's IPC namespace.
pub fn sysctl(kv: &str, host_network: bool, host_ipc: bool) -> Result<(String, String)> {
    let (k, v) = kv
        .split_once('=')
        .with_context(|| format!("--sysctl {kv:?}: want KEY=VALUE"))?;
    let (k, v) = (k.trim(), v.trim());
    berth_runtime::container::check_sysctl_name(k)
        .map_err(|_| anyhow::anyhow!("--sysctl {kv:?}: {k:?} is not a sysctl name"))?;
    let net = k.starts_with("net.");
    if !(net || k.starts_with("fs.mqueue.") || IPC_SYSCTLS.contains(&k)) {
        bail!("--sysctl {kv:?}: {k} is not namespaced, so not allowed in a container (allowed: net.*, fs.mqueue.*, {})", IPC_SYSCTLS.join(", "));
    }
    if net && host_network {
        bail!("--sysctl {kv:?}: not allowed with the host's network namespace (--network host)");
    }
    if !net && host_ipc {
        bail!("--sysctl {kv:?}: not allowed with the host's IPC namespace (--ipc host)");
    }
    if v.contains('\n') || v.contains('\0') {
        bail!("--sysctl {kv:?}: the value must be one line");
    }
    Ok((k.to_string(), v.to_string()))
}

/// `--oom-score-adj`: -1000 (never killed) to 1000 (killed first).
pub fn oom_score_adj(n: i64) -> Result<i32> {
    if !(-1000..=1000).contains(&n) {
        bail!("--oom-score-adj {n}: must be between -1000 and 1000");
    }
    Ok(n as i32)
}

/// The memory options together, as Docker checks them: swap needs a memory limit and is at
/// least that limit (-1: unlimited); the reservation stays below the limit.
pub fn check_memory(
    memory: Option<u64>,
    swap: Option<i64>,
    reservation: Option<u64>,
) -> Result<()> {
    if let Some(s) = swap {
        let Some(m) = memory else {
            bail!("--memory-swap needs --memory: it is the limit of memory plus swap");
        };
        if s != -1 && (s < 0 || (s as u64) < m) {
            bail!("--memory-swap {s}: must be at least --memory ({m} bytes), or -1 for unlimited swap");
        }
    }
    if let (Some(m), Some(r)) = (memory, reservation) {
        if r > m {
            bail!("--memory-reservation ({r} bytes) must not be above --memory ({m} bytes)");
        }
    }
    Ok(())
}

/// `-e KEY[=VALUE]`: a name is needed, and no NUL can reach execve.
pub fn check_env(e: &str) -> Result<()> {
    let key = e.split('=').next().unwrap_or("");
    if key.is_empty() || e.contains('\0') {
        bail!("invalid environment variable: {e:?}");
    }
    Ok(())
}

pub fn env_file(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--env-file {}", path.display()))?;
    parse_env_text(&text, &path.display().to_string())
}

/// The lines of an env file (`name` is the file, for messages): `KEY=VALUE` or a bare `KEY`
/// (taken from berth's environment later), blank lines and `#` comments skipped.
pub fn parse_env_text(text: &str, name: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let key = l.split('=').next().unwrap_or("");
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!("--env-file {name}:{}: {line:?} is not KEY=VALUE", i + 1);
        }
        out.push(l.to_string());
    }
    Ok(out)
}

/// `-v`: `/host:/ctr[:ro]` (bind), `name:/ctr[:ro]` (named volume), `/ctr` (anonymous).
pub fn volume(v: &str) -> Result<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => bail!("--volume {v:?}: want /host/path:/container/path[:ro] or name:/path[:ro]"),
    };
    if !dst.starts_with('/') {
        bail!("--volume {v:?}: the container path must be absolute");
    }
    let mut ro = false;
    let mut nocopy = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => ro = true,
            "rw" => ro = false,
            "nocopy" => nocopy = true,
            "z" | "Z" => {}
            other => bail!("--volume {v:?}: unknown option {other:?} (ro, rw, nocopy)"),
        }
    }
    // Docker >= 23: `.`, `..`, `./x` and `../x` are host paths relative to the current
    // directory; any other source without a leading slash names a volume.
    let relative = matches!(src, "." | "..") || src.starts_with("./") || src.starts_with("../");
    if src.is_empty() || !(src.starts_with('/') || relative) {
        let name = if src.is_empty() {
            None
        } else {
            Some(VolumeName::new(src).with_context(|| format!("--volume {v:?}"))?)
        };
        return Ok(Mount::Volume {
            name,
            dst: dst.into(),
            ro,
            nocopy,
        });
    }
    let src = if relative {
        let cwd = std::env::current_dir()
            .with_context(|| format!("--volume {v:?}: the current directory"))?;
        clean(&cwd.join(src))
    } else {
        clean(Path::new(src))
    };
    // A missing host path is made by `ensure_bind_source` when the container is created,
    // as Docker's `-v` does (`--mount type=bind` refuses instead).
    Ok(Mount::Bind {
        src,
        dst: dst.into(),
        ro,
    })
}

/// An absolute path with `.` and `..` taken out lexically (Go's filepath.Clean).
fn clean(p: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// `-v /missing:/ctr`: Docker makes a missing bind source as a directory (0755, as root).
pub fn ensure_bind_source(m: &Mount) -> Result<()> {
    if let Mount::Bind { src, .. } = m {
        if std::fs::symlink_metadata(src).is_err() {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(src)
                .with_context(|| format!("create the bind source {}", src.display()))?;
            // explicit, whatever the umask
            std::fs::set_permissions(src, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("chmod {}", src.display()))?;
        }
    }
    Ok(())
}

/// `--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=64m]`.
pub fn mount(spec: &str) -> Result<Mount> {
    let mut kind = "volume";
    let (mut src, mut dst) = (String::new(), String::new());
    let (mut ro, mut nocopy) = (false, false);
    let mut tmpfs_opts = Vec::new();
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => kind = v,
            "source" | "src" => src = v.to_string(),
            "target" | "destination" | "dst" => dst = v.to_string(),
            "readonly" | "ro" => ro = v.is_empty() || v == "true" || v == "1",
            "volume-nocopy" => nocopy = v.is_empty() || v == "true",
            "tmpfs-size" => tmpfs_opts.push(format!("size={v}")),
            "tmpfs-mode" => tmpfs_opts.push(format!("mode={v}")),
            "bind-propagation" | "consistency" => {}
            other => bail!("--mount {spec:?}: unknown field {other:?}"),
        }
    }
    if !dst.starts_with('/') {
        bail!("--mount {spec:?}: target must be an absolute path");
    }
    Ok(match kind {
        "bind" => {
            if !src.starts_with('/') {
                bail!("--mount {spec:?}: a bind source must be an absolute host path");
            }
            if !Path::new(&src).exists() {
                bail!("--mount {spec:?}: host path {src} does not exist");
            }
            Mount::Bind {
                src: src.into(),
                dst,
                ro,
            }
        }
        "volume" => {
            let name = if src.is_empty() {
                None
            } else {
                Some(VolumeName::new(&src).with_context(|| format!("--mount {spec:?}"))?)
            };
            Mount::Volume {
                name,
                dst,
                ro,
                nocopy,
            }
        }
        "tmpfs" => Mount::Tmpfs {
            dst,
            options: tmpfs_opts,
        },
        other => bail!("--mount {spec:?}: type {other:?} is not bind, volume or tmpfs"),
    })
}

pub fn tmpfs(t: &str) -> Result<Mount> {
    let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
    if !dst.starts_with('/') {
        bail!("--tmpfs {t:?}: the container path must be absolute");
    }
    Ok(Mount::Tmpfs {
        dst: dst.into(),
        options: opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctls_a_container_may_set_and_the_ones_it_may_not() {
        assert_eq!(
            sysctl("net.ipv4.ip_forward=1", false, true).unwrap(),
            ("net.ipv4.ip_forward".into(), "1".into())
        );
        assert!(sysctl("kernel.shmmax=1000000", true, false).is_ok());
        assert!(sysctl("fs.mqueue.msg_max=20", false, false).is_ok());
        let e = format!(
            "{:#}",
            sysctl("net.core.somaxconn=1024", true, false).unwrap_err()
        );
        assert!(e.contains("--network host"), "{e}");
        let e = format!("{:#}", sysctl("kernel.shmmax=1", false, true).unwrap_err());
        assert!(e.contains("--ipc host"), "{e}");
        for (bad, why) in [
            ("kernel.hostname=x", "not namespaced"),
            ("vm.swappiness=0", "not namespaced"),
            ("net.ipv4.ip_forward", "KEY=VALUE"),
            ("net/../../etc=1", "not a sysctl name"),
            ("net.core.x=1\nkernel.y=2", "one line"),
        ] {
            let e = format!("{:#}", sysctl(bad, false, false).unwrap_err());
            assert!(e.contains(why) && e.contains("--sysctl"), "{bad}: {e}");
        }
    }

    #[test]
    fn cpusets_are_cpu_lists_of_this_hosts_cpus() {
        assert_eq!(cpuset("0").unwrap(), "0");
        assert_eq!(cpu_list("0-2,4"), Some(vec![0, 1, 2, 4]));
        for bad in ["", "a", "2-1", "0-", "0,,1", "99999"] {
            assert!(cpuset(bad).is_err(), "{bad}");
        }
        let e = format!("{:#}", cpuset("0-4095").unwrap_err());
        assert!(e.contains("is not available"), "{e}");
    }

    #[test]
    fn memory_swap_and_reservation_are_checked_against_the_limit() {
        let m = Some(64 << 20);
        assert!(check_memory(m, Some(128 << 20), Some(32 << 20)).is_ok());
        assert!(check_memory(m, Some(-1), None).is_ok());
        assert!(check_memory(None, None, Some(32 << 20)).is_ok());
        let e = format!(
            "{:#}",
            check_memory(None, Some(128 << 20), None).unwrap_err()
        );
        assert!(e.contains("needs --memory"), "{e}");
        let e = format!("{:#}", check_memory(m, Some(32 << 20), None).unwrap_err());
        assert!(e.contains("at least --memory"), "{e}");
        let e = format!("{:#}", check_memory(m, None, Some(128 << 20)).unwrap_err());
        assert!(e.contains("--memory-reservation"), "{e}");
        assert!(oom_score_adj(-1000).is_ok() && oom_score_adj(1001).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("512K").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("1.5m").unwrap(), 3 << 19);
        assert!(parse_size("lots").is_err());
        for bad in ["nan", "NaN", "inf", "-inf", "1e30", "-1m"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(memory_limit("1k").unwrap_err().to_string().contains("6MB"));
        assert_eq!(memory_limit("6m").unwrap(), 6 << 20);
        assert!(cpus(f64::NAN, 2).is_err());
        assert!(cpus(0.0001, 2).is_err());
        assert!(cpus(1000.0, 2)
            .unwrap_err()
            .to_string()
            .contains("only 2 CPUs"));
        assert_eq!(cpus(1.5, 2).unwrap(), 1.5);
        assert!(check_env("=x").is_err());
        assert!(check_env("").is_err());
        assert!(check_env("A=b").is_ok());
        assert!(check_env("PASSTHROUGH").is_ok());
        assert_eq!("2g".parse::<Size>().unwrap(), Size(2 << 30));
    }

    #[test]
    fn ulimits() {
        let u: Ulimit = "nofile=1024:2048".parse().unwrap();
        assert_eq!(
            (u.soft, u.hard, u.rlimit_type().as_str()),
            (1024, 2048, "RLIMIT_NOFILE")
        );
        let u: Ulimit = "nproc=64".parse().unwrap();
        assert_eq!((u.soft, u.hard), (64, 64));
        assert_eq!(u.to_string(), "nproc=64:64");
        for (bad, want) in [
            ("nofile", "want name=soft[:hard]"),
            ("bogus=1", "unknown limit"),
            ("nofile=x", "not a number"),
            ("nofile=10:5", "soft limit above hard"),
        ] {
            let e = bad.parse::<Ulimit>().unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("--ulimit"), "{bad}: {e}");
        }
    }

    #[test]
    fn published_ports() {
        let p: PortSpec = "8080:80".parse().unwrap();
        assert_eq!(
            (p.host_ports, p.container_ports, p.proto),
            (Some((8080, 8080)), (80, 80), Proto::Tcp)
        );
        let p: PortSpec = "127.0.0.1:5000:5000/udp".parse().unwrap();
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p.proto, Proto::Udp);
        let p: PortSpec = "80".parse().unwrap();
        assert_eq!((p.host_ports, p.container_ports), (None, (80, 80)));
        let p: PortSpec = "127.0.0.1::80".parse().unwrap();
        assert_eq!(p.host_ports, None);
        let p: PortSpec = "[::1]:8080:80".parse().unwrap();
        assert_eq!(p.host_ip, Some("::1".parse().unwrap()));
        let p: PortSpec = "8000-8010:9000-9010".parse().unwrap();
        assert_eq!(
            (p.host_ports, p.container_ports),
            (Some((8000, 8010)), (9000, 9010))
        );
        let p: PortSpec = "8000-8010:80".parse().unwrap();
        assert_eq!(p.host_ports, Some((8000, 8010)));
        for (bad, want) in [
            ("80/icmp", "unknown protocol"),
            ("99999:80", "invalid host port"),
            ("8080:0", "container port 0"),
            ("1-3:1-2", "differ in length"),
            ("x.y:80:80", "invalid host address"),
            ("9-1:80", "runs backwards"),
            ("a:b:c:d", "want [IP:]"),
        ] {
            let e = bad.parse::<PortSpec>().unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("--publish"), "{bad}: {e}");
        }
    }

    #[test]
    fn volumes() {
        assert!(matches!(
            volume("/tmp:/data:ro").unwrap(),
            Mount::Bind { ro: true, .. }
        ));
        assert!(matches!(
            volume("data:/data").unwrap(),
            Mount::Volume {
                name: Some(_),
                ro: false,
                ..
            }
        ));
        assert!(matches!(
            volume("/data").unwrap(),
            Mount::Volume { name: None, .. }
        ));
        assert!(volume("bad/name:/data").is_err());
        assert!(matches!(
            mount("type=volume,source=db,target=/var/db,readonly").unwrap(),
            Mount::Volume { ro: true, .. }
        ));
        assert!(matches!(
            mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap(),
            Mount::Tmpfs { .. }
        ));
        assert!(mount("type=bind,source=/nonexistent-berth,target=/x").is_err());
        assert!(mount("type=nfs,target=/x").is_err());
        // -v makes a missing host path at create time; relative forms are from the cwd
        assert!(matches!(
            volume("/nonexistent-berth-x/../y/:/data").unwrap(),
            Mount::Bind { src, .. } if src == Path::new("/y")
        ));
        let cwd = std::env::current_dir().unwrap();
        assert!(matches!(
            volume("./a/b:/data").unwrap(),
            Mount::Bind { src, .. } if src == cwd.join("a/b")
        ));
        assert!(matches!(
            volume("../a:/data").unwrap(),
            Mount::Bind { src, .. } if src == cwd.parent().unwrap_or(&cwd).join("a")
        ));
        assert!(matches!(volume("ab:/data").unwrap(), Mount::Volume { .. }));
        assert!(volume("/tmp:/data:bogus").is_err());
    }
}
