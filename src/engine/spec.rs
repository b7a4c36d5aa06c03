//! The OCI runtime config of a container, made from its image config and the run flags,
//! with Docker's defaults: its 14 capabilities, masked and read-only /proc paths.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_image::Image;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use super::config::ContainerConfig;
use super::config::Mount;
use super::options::Ulimit;
use super::seccomp::{self, Seccomp};

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

/// Every capability Linux defines (capabilities(7)), for `--privileged` and `--cap-add ALL`.
const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn cap_name(flag: &str, c: &str) -> Result<String> {
    let up = c.trim().to_ascii_uppercase();
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if !ALL_CAPS.contains(&name.as_str()) {
        bail!("{flag} {c:?}: not a Linux capability");
    }
    Ok(name)
}

/// Every capability this process may still hand on (its bounding set, /proc/self/status
/// CapBnd; ALL_CAPS is in kernel bit order). A host whose bounding set lacks some (this VM
/// lacks CAP_SYS_RESOURCE) cannot give them to a container.
fn all_available() -> Vec<String> {
    let bnd = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The capability set from Docker's defaults and --cap-add/--cap-drop (ALL allowed).
pub fn capabilities(o: &ContainerConfig) -> Result<Vec<String>> {
    if o.security.privileged {
        return Ok(all_available());
    }
    let all = |v: &[String]| v.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    let mut caps: Vec<String> = if all(&o.security.cap_drop) {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if all(&o.security.cap_add) {
        caps = all_available();
    } else {
        for c in &o.security.cap_add {
            let n = cap_name("--cap-add", c)?;
            if !caps.contains(&n) {
                caps.push(n);
            }
        }
    }
    for c in o
        .security
        .cap_drop
        .iter()
        .filter(|c| !c.eq_ignore_ascii_case("ALL"))
    {
        let n = cap_name("--cap-drop", c)?;
        caps.retain(|x| *x != n);
    }
    Ok(caps)
}

/// Reads a file of the container's image without following symlinks out of its root.
fn read_in_root(rootfs: &Path, path: &str) -> Option<String> {
    let root = std::fs::File::open(rootfs).ok()?;
    let fd =
        berth_runtime::rootfs::open_in_root(&root, Path::new(path), nix::fcntl::OFlag::O_RDONLY)
            .ok()?;
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Whether the kernel has mount_setattr(2) (Linux 5.12), which recursive read-only binds use.
pub fn recursive_ro_supported() -> bool {
    let rel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (major, minor) >= (5, 12)
}

/// `name|uid[:group|gid]` resolved with the image's /etc/passwd and /etc/group, as Docker
/// does: (uid, gid, additional gids).
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<(u32, u32, Vec<u32>)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_root(rootfs, "/etc/passwd").unwrap_or_default();
    let groups = read_in_root(rootfs, "/etc/group").unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || f[2] == user));
    let (uid, mut gid, name) = match (user.parse::<u32>(), &entry) {
        (_, Some(f)) => (
            f[2].parse::<u32>()
                .with_context(|| format!("/etc/passwd: bad uid for {}", f[0]))?,
            f[3].parse::<u32>()
                .with_context(|| format!("/etc/passwd: bad gid for {}", f[0]))?,
            Some(f[0].to_string()),
        ),
        (Ok(n), None) => (n, 0, None),
        (Err(_), None) => bail!("user {user:?}: no such user in the image's /etc/passwd"),
    };
    if let Some(g) = group {
        gid = group_id(&groups, g)?;
    }
    // Supplementary groups: every group that lists the user by name.
    let mut extra = Vec::new();
    if let Some(n) = &name {
        for f in groups.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
            if f.len() >= 4 && f[3].split(',').any(|m| m == n) {
                if let Ok(g) = f[2].parse::<u32>() {
                    if g != gid && !extra.contains(&g) {
                        extra.push(g);
                    }
                }
            }
        }
    }
    // (u32)-1 is "unchanged" to setresuid: `-u 4294967295` would stay root. Docker's range.
    for (what, id) in [("uid", uid), ("gid", gid)] {
        if id > berth_runtime::security::MAX_ID {
            bail!(
                "user {spec:?}: {what} {id} is out of range: uids and gids must be in range 0-{}",
                berth_runtime::security::MAX_ID
            );
        }
    }
    Ok((uid, gid, extra))
}

/// A group's id: a number as it is, a name from the image's /etc/group (its text).
fn group_id(groups: &str, g: &str) -> Result<u32> {
    match g.parse::<u32>() {
        Ok(n) => Ok(n),
        Err(_) => groups
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && f[0] == g)
            .map(|f| f[2].parse::<u32>())
            .transpose()
            .with_context(|| format!("/etc/group: bad gid for {g}"))?
            .with_context(|| format!("group {g:?}: no such group in the image's /etc/group")),
    }
}

/// `--group-add`: each group's id (names from the image's /etc/group), in range.
fn added_groups(rootfs: &Path, names: &[String]) -> Result<Vec<u32>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let groups = read_in_root(rootfs, "/etc/group").unwrap_or_default();
    names
        .iter()
        .map(|g| {
            let id = group_id(&groups, g).with_context(|| format!("--group-add {g:?}"))?;
            if id > berth_runtime::security::MAX_ID {
                bail!("--group-add {g:?}: gid {id} is out of range");
            }
            Ok(id)
        })
        .collect()
}

/// The home directory of `uid` in the image's /etc/passwd, "/" without an entry.
fn home_of(rootfs: &Path, uid: u32) -> String {
    read_in_root(rootfs, "/etc/passwd")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid) && !f[5].is_empty())
        .map_or_else(|| "/".to_string(), |f| f[5].to_string())
}

fn rlimits(ulimits: &[Ulimit]) -> Vec<Value> {
    ulimits
        .iter()
        .map(|u| json!({"type": u.rlimit_type(), "soft": u.soft, "hard": u.hard}))
        .collect()
}

/// The nodes `--device` names, as the spec's `linux.devices` (made in the container's /dev
/// with the host node's type, numbers, mode and owner) and device-cgroup rules allowing
/// each with its permissions. A directory gives every device below it (as Docker), at the
/// same place below the container path; symlinks inside it are not followed.
fn host_devices(list: &[super::options::DeviceSpec]) -> Result<(Vec<Value>, Vec<Value>)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    fn add(
        meta: &std::fs::Metadata,
        dst: &str,
        perms: &str,
        nodes: &mut Vec<Value>,
        rules: &mut Vec<Value>,
    ) -> bool {
        let ft = meta.file_type();
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            return false;
        };
        let (major, minor) = (
            nix::sys::stat::major(meta.rdev()),
            nix::sys::stat::minor(meta.rdev()),
        );
        nodes.push(
            json!({"path": dst, "type": kind, "major": major, "minor": minor,
            "fileMode": meta.mode() & 0o777, "uid": meta.uid(), "gid": meta.gid()}),
        );
        rules.push(
            json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": perms}),
        );
        true
    }
    fn walk(
        dir: &Path,
        dst: &str,
        perms: &str,
        nodes: &mut Vec<Value>,
        rules: &mut Vec<Value>,
    ) -> Result<()> {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("--device: read the directory {}", dir.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("--device: read {}", dir.display()))?;
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            let name = e.file_name();
            let sub = format!("{dst}/{}", name.to_string_lossy());
            if meta.is_dir() {
                walk(&e.path(), &sub, perms, nodes, rules)?;
            } else {
                add(&meta, &sub, perms, nodes, rules);
            }
        }
        Ok(())
    }
    let (mut nodes, mut rules) = (Vec::new(), Vec::new());
    for d in list {
        let meta = std::fs::metadata(&d.host).with_context(|| {
            format!("--device {}: no such device on the host", d.host.display())
        })?;
        if meta.is_dir() {
            walk(
                &d.host,
                &d.container,
                &d.permissions,
                &mut nodes,
                &mut rules,
            )?;
        } else if !add(&meta, &d.container, &d.permissions, &mut nodes, &mut rules) {
            bail!(
                "--device {}: not a device (a character or block special file, or a directory of them)",
                d.host.display()
            );
        }
    }
    Ok((nodes, rules))
}

/// The container's hostname: `--hostname`, the host's with `--uts host`, else the first 12
/// digits of its id (as Docker).
pub fn container_hostname(o: &ContainerConfig, id: &str) -> String {
    match &o.hostname {
        Some(h) => h.clone(),
        None if o.security.namespaces.uts_host() => nix::unistd::gethostname().map_or_else(
            |_| id[..12].to_string(),
            |h| h.to_string_lossy().into_owned(),
        ),
        None => id[..12].to_string(),
    }
}

/// Docker's /dev/shm: 64 MiB unless `--shm-size` says otherwise.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// The size of the container's /dev/shm, in bytes.
fn shm_size(o: &ContainerConfig) -> Result<u64> {
    match o.resources.shm_size {
        Some(0) => bail!("--shm-size: must be above 0"),
        Some(n) => Ok(n),
        None => Ok(DEFAULT_SHM_SIZE),
    }
}

/// The network namespace a container gets, its `NetworkMode` resolved by the engine.
pub enum NetNs {
    Host,
    New,
    /// An existing namespace: another container's, or one made by someone else.
    Join(std::path::PathBuf),
}

/// The spec for `o` on `img`; `mounts` are the user's mounts with volumes resolved to binds.
pub fn build(
    img: &Image,
    o: &ContainerConfig,
    netns: &NetNs,
    user_mounts: &[Mount],
    id: &str,
    rootfs: &Path,
) -> Result<Spec> {
    let c = &img.config.config;
    let mut args: Vec<String> = match &o.process.entrypoint {
        Some(e) => e.clone(),
        None => c.entrypoint.clone().unwrap_or_default(),
    };
    if o.process.command.is_empty() {
        // Docker: --entrypoint resets the image's CMD too.
        if o.process.entrypoint.is_none() {
            args.extend(c.cmd.clone().unwrap_or_default());
        }
    } else {
        args.extend(o.process.command.iter().cloned());
    }
    if args.is_empty() {
        bail!(
            "no command given and image {} has no CMD or ENTRYPOINT",
            o.image
        );
    }
    let ns = &o.security.namespaces;
    let hostname = container_hostname(o, id);
    let mut env: Vec<String> = c.env.clone().unwrap_or_default();
    // Docker's defaults, each overridden by the image's or the user's: HOSTNAME, and
    // TERM=xterm when there is a terminal (daemon/container.go CreateDaemonEnvironment).
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if o.process.tty && !has(&env, "TERM") {
        env.insert(0, "TERM=xterm".into());
    }
    if !has(&env, "HOSTNAME") {
        env.insert(0, format!("HOSTNAME={hostname}"));
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    for e in &o.process.env {
        super::options::check_env(e).context("--env")?;
        let key = e.split_once('=').map(|(k, _)| k).unwrap_or(e);
        env.retain(|x| x.split_once('=').map(|(k, _)| k) != Some(key));
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    let cwd = o
        .process
        .workdir
        .clone()
        .or_else(|| c.working_dir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        bail!("working directory {cwd:?} is invalid: it must be an absolute path (--workdir)");
    }
    let user = o
        .process
        .user
        .clone()
        .or_else(|| c.user.clone())
        .filter(|u| !u.is_empty());
    let (uid, gid, mut extra_gids) = match &user {
        None => (0, 0, Vec::new()),
        Some(u) => resolve_user(rootfs, u)?,
    };
    for g in added_groups(rootfs, &o.process.group_add)? {
        if g != gid && !extra_gids.contains(&g) {
            extra_gids.push(g);
        }
    }
    // runc's rule, which Docker users see: HOME from the user's passwd entry, "/" if none.
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(rootfs, uid)));
    }
    let cap_list = capabilities(o)?;
    let seccomp = match &o.security.seccomp {
        _ if o.security.privileged => None,
        Seccomp::Unconfined => None,
        Seccomp::Default => Some(seccomp::to_oci(
            seccomp::DEFAULT_PROFILE,
            "default",
            &cap_list,
        )?),
        Seccomp::Custom(name, text) => Some(seccomp::to_oci(text, name, &cap_list)?),
    };
    let caps = json!(cap_list);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
    ];
    // The host's IPC namespace comes with the host's /dev/shm (and no mqueue of its own),
    // as Docker; `--ipc none` has no /dev/shm at all.
    match ns.ipc.as_str() {
        "host" => mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]})),
        "none" => {}
        _ => mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}", shm_size(o)?)]})),
    }
    if !ns.ipc_host() {
        mounts.push(json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}));
    }
    mounts.extend([
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if o.security.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": [if o.security.privileged { "rw" } else { "ro" }, "nosuid", "noexec", "nodev"]}),
    ]);
    for m in user_mounts {
        mounts.push(match m {
            Mount::Bind { src, dst, ro } => {
                let mut opts = vec!["rbind", "rprivate"];
                if *ro {
                    opts.push("ro");
                    // Every mount under the source read-only too (Docker >= 25): without
                    // it, `-v /:/host:ro` leaves /host/proc and /host/sys writable.
                    if recursive_ro_supported() {
                        opts.push("rro");
                    } else {
                        eprintln!("berth: warning: -v {}:{dst}:ro: mounts below {} stay writable in the container (recursive read-only needs Linux 5.12)", src.display(), src.display());
                    }
                }
                json!({"destination": dst, "type": "bind", "source": src, "options": opts})
            }
            Mount::Volume { .. } => bail!("volume mounts must be resolved before the spec"),
            Mount::Tmpfs { dst, options } => {
                let mut opts = vec!["nosuid".to_string(), "nodev".to_string()];
                opts.extend(options.iter().cloned());
                json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": opts})
            }
        });
    }
    let mut namespaces = vec![json!({"type": "mount"})];
    for (kind, host) in [
        ("cgroup", ns.cgroup_host()),
        ("pid", ns.pid_host()),
        ("ipc", ns.ipc_host()),
        ("uts", ns.uts_host()),
    ] {
        if !host {
            namespaces.push(json!({ "type": kind }));
        }
    }
    match netns {
        NetNs::Host => {}
        NetNs::New => namespaces.push(json!({"type": "network"})),
        NetNs::Join(path) => namespaces.push(json!({"type": "network", "path": path})),
    }
    let mut resources = json!({"devices": [{"allow": o.security.privileged, "access": "rwm"}]});
    let (device_nodes, device_rules) = host_devices(&o.resources.devices)?;
    if let Some(rules) = resources["devices"].as_array_mut() {
        rules.extend(device_rules);
    }
    let r = &o.resources;
    super::options::check_memory(r.memory, r.memory_swap, r.memory_reservation)?;
    let mut memory = serde_json::Map::new();
    if let Some(m) = r.memory {
        memory.insert("limit".into(), json!(m));
    }
    if let Some(s) = r.memory_swap {
        memory.insert("swap".into(), json!(s));
    }
    if let Some(m) = r.memory_reservation {
        memory.insert("reservation".into(), json!(m));
    }
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if let Some(c) = o.resources.cpus {
        if c <= 0.0 {
            bail!("--cpus {c}: must be above 0");
        }
        cpu.insert("quota".into(), json!((c * 100_000.0) as i64));
        cpu.insert("period".into(), json!(100_000));
    }
    if r.cpus.is_some() && (r.cpu_period.is_some() || r.cpu_quota.is_some()) {
        bail!("conflicting options: --cpus and --cpu-period/--cpu-quota cannot both be set");
    }
    if let Some(p) = r.cpu_period {
        if !(1000..=1_000_000).contains(&p) {
            bail!("--cpu-period {p}: must be between 1000 and 1000000 microseconds");
        }
        cpu.insert("period".into(), json!(p));
    }
    if let Some(q) = r.cpu_quota {
        if q != -1 && q < 1000 {
            bail!("--cpu-quota {q}: must be at least 1000 microseconds (or -1: no limit)");
        }
        cpu.insert("quota".into(), json!(q));
    }
    if let Some(s) = o.resources.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(c) = &o.resources.cpuset_cpus {
        // Checked against the online CPUs where the flag or key was read (options::cpuset).
        cpu.insert("cpus".into(), json!(c));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = o.resources.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    let masked = if o.security.privileged {
        json!([])
    } else {
        json!([
            "/proc/asound",
            "/proc/acpi",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
            "/sys/devices/virtual/powercap"
        ])
    };
    let readonly = if o.security.privileged {
        json!([])
    } else {
        json!([
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger"
        ])
    };
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": o.process.tty,
            "user": {"uid": uid, "gid": gid, "additionalGids": extra_gids},
            "args": args,
            "env": env,
            "cwd": cwd,
            // Docker: a non-root user keeps the set only as its bounding set.
            "capabilities": if uid == 0 {
                json!({"bounding": caps, "effective": caps, "permitted": caps})
            } else {
                json!({"bounding": caps})
            },
            "rlimits": rlimits(&o.resources.ulimits),
            "noNewPrivileges": o.security.no_new_privileges
        },
        "root": {"path": "rootfs", "readonly": o.security.read_only_rootfs},
        "hostname": if ns.uts_host() { Value::Null } else { json!(hostname) },
        "mounts": mounts,
        "linux": {
            // Every container below one `berth` parent, as the engine's teardown expects.
            "cgroupsPath": berth_runtime::cgroups::shared_path(id),
            "resources": resources,
            "namespaces": namespaces,
            "maskedPaths": masked,
            "readonlyPaths": readonly,
            "devices": device_nodes
        }
    });
    let mut spec = spec;
    if let Some(s) = seccomp {
        spec["linux"]["seccomp"] = s;
    }
    // Both checked where the flag or key was read (options::oom_score_adj, options::sysctl).
    if let Some(n) = o.process.oom_score_adj {
        spec["process"]["oomScoreAdj"] = json!(n);
    }
    if !o.security.sysctls.is_empty() {
        spec["linux"]["sysctl"] = json!(o.security.sysctls);
    }
    if o.process.init {
        spec["annotations"] = json!({ berth_runtime::reaper::ANNOTATION: "true" });
    }
    Ok(serde_json::from_value(spec)?)
}
