//! Process security settings applied by the init just before exec: rlimits, user and groups,
//! the five capability sets, no_new_privs. (Seccomp is in seccomp.rs.)

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimit, PosixRlimitType, User};

use crate::error::{Error, Result};

fn resource(t: PosixRlimitType) -> Option<Resource> {
    use PosixRlimitType as T;
    Some(match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Applies `process.rlimits`. Raising a hard limit above the host's needs CAP_SYS_RESOURCE;
/// when that is refused, say which limit and what the host allows.
pub fn set_rlimits(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let Some(r) = resource(l.typ()) else {
            return Err(Error::Invalid(format!("unsupported rlimit {:?}", l.typ())));
        };
        if let Err(e) = setrlimit(r, l.soft(), l.hard()) {
            let (_, host_hard) = getrlimit(r).unwrap_or((0, 0));
            let msg = if e == nix::errno::Errno::EPERM && l.hard() > host_hard {
                format!(
                    "rlimit {:?} soft={} hard={}: the hard limit exceeds this host's {} and raising it needs CAP_SYS_RESOURCE",
                    l.typ(), l.soft(), l.hard(), host_hard
                )
            } else {
                format!(
                    "rlimit {:?} soft={} hard={}: {e}",
                    l.typ(),
                    l.soft(),
                    l.hard()
                )
            };
            return Err(Error::Invalid(msg));
        }
    }
    Ok(())
}

/// setgroups, setresgid, setresuid: groups first, since after setuid we may no longer can.
/// The largest uid or gid a process may be given: ids are signed 32-bit in much of the
/// kernel and libc, and (u32)-1 means "leave unchanged" to setresuid(2)/setresgid(2), so a
/// config with uid 4294967295 would run as root. runc and Docker refuse the same range.
pub const MAX_ID: u32 = i32::MAX as u32;

/// Refuses a process user whose uid, gid or an additional gid is above [`MAX_ID`].
pub fn check_user(user: &User) -> std::result::Result<(), String> {
    let gids = user.additional_gids().clone().unwrap_or_default();
    for (what, id) in [("uid", user.uid()), ("gid", user.gid())]
        .into_iter()
        .chain(gids.into_iter().map(|g| ("additionalGids", g)))
    {
        if id > MAX_ID {
            return Err(format!(
                "process.user.{what} {id}: uids and gids must be in range 0-{MAX_ID}"
            ));
        }
    }
    Ok(())
}

pub fn set_user(user: &User, userns_without_setgroups: bool) -> Result<()> {
    check_user(user).map_err(Error::Invalid)?;
    let gid = Gid::from_raw(user.gid());
    if !userns_without_setgroups {
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        setgroups(&groups).map_err(|e| Error::sys("setgroups", e))?;
    }
    setresgid(gid, gid, gid).map_err(|e| Error::sys(format!("setresgid {gid}"), e))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).map_err(|e| Error::sys(format!("setresuid {uid}"), e))?;
    if let Some(mask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    Ok(())
}

fn parse_set(names: Option<&oci_spec::runtime::Capabilities>) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for c in names.into_iter().flatten() {
        // oci-spec's Capability prints without the prefix (AUDIT_WRITE); caps wants CAP_*.
        if let Ok(cap) = Capability::from_str(&format!("CAP_{c}")) {
            out.insert(cap);
        }
    }
    out
}

/// Drops every capability not in the bounding set. Done before setuid so the later
/// capset can only shrink what remains.
pub fn drop_bounding(c: &LinuxCapabilities) -> Result<()> {
    let keep = parse_set(c.bounding().as_ref());
    for cap in caps::all() {
        if !keep.contains(&cap) {
            match caps::drop(None, CapSet::Bounding, cap) {
                Ok(()) => {}
                // Capabilities newer than this kernel do not exist to drop.
                Err(_)
                    if !caps::runtime::procfs_all_supported(None)
                        .map(|s| s.contains(&cap))
                        .unwrap_or(true) => {}
                Err(e) => return Err(Error::Invalid(format!("drop {cap} from bounding set: {e}"))),
            }
        }
    }
    Ok(())
}

/// Sets effective, permitted, inheritable and ambient to exactly the spec's sets.
pub fn set_caps(c: &LinuxCapabilities) -> Result<()> {
    let set = |which: CapSet, want: CapsHashSet| {
        caps::set(None, which, &want)
            .map_err(|e| Error::Invalid(format!("set {which:?} capabilities: {e}")))
    };
    // Order matters (capabilities(7)): each capset(2) must leave effective within permitted,
    // so shrink effective first, then permitted; inheritable may only stay within
    // permitted once CAP_SETPCAP is gone; ambient needs both permitted and inheritable.
    set(CapSet::Effective, parse_set(c.effective().as_ref()))?;
    set(CapSet::Permitted, parse_set(c.permitted().as_ref()))?;
    set(CapSet::Inheritable, parse_set(c.inheritable().as_ref()))?;
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| Error::Invalid(format!("clear ambient: {e}")))?;
    // An ambient capability must also be permitted and inheritable; specs from `runc spec`
    // list ambient caps without inheritable ones. Like runc, skip those instead of failing.
    let inheritable = parse_set(c.inheritable().as_ref());
    for cap in parse_set(c.ambient().as_ref()) {
        if inheritable.contains(&cap) {
            caps::raise(None, CapSet::Ambient, cap)
                .map_err(|e| Error::Invalid(format!("raise ambient {cap}: {e}")))?;
        }
    }
    Ok(())
}

/// Keep the permitted set across setuid (PR_SET_KEEPCAPS) so set_caps can decide.
pub fn keep_caps(on: bool) -> Result<()> {
    nix::sys::prctl::set_keepcaps(on).map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)", e))
}

pub fn no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", e))
}

/// Whether AppArmor is enabled on this host: the same test as runc's and libapparmor's
/// (securityfs has an `apparmor` directory and the module parameter says `Y`).
pub fn apparmor_enabled() -> bool {
    std::path::Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|b| b.first() == Some(&b'Y'))
}

/// The error for a profile that cannot be applied because AppArmor is off.
pub fn apparmor_unavailable(profile: &str) -> String {
    format!("process.apparmorProfile {profile:?}: apparmor is not enabled on this host")
}

/// Has the kernel switch to AppArmor profile `profile` at the next execve(2): what
/// libapparmor's aa_change_onexec does, writing `exec PROFILE` to the task's
/// attr/apparmor/exec (attr/exec before Linux 5.8; proc(5), apparmor(7)).
pub fn apparmor_exec(profile: &str) -> Result<()> {
    if !apparmor_enabled() {
        return Err(Error::Invalid(apparmor_unavailable(profile)));
    }
    let mut path = "/proc/thread-self/attr/apparmor/exec";
    if !std::path::Path::new(path).exists() {
        path = "/proc/thread-self/attr/exec";
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("exec {profile}").as_bytes()))
        .map_err(|e| Error::io("apply apparmor profile", path, e))
}
