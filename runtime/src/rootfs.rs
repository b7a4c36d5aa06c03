//! The container's root filesystem, set up by the init inside its new mount namespace:
//! propagation, the spec's mounts, /dev, pivot_root, masked and read-only paths.
//!
//! Every mount destination is resolved inside the rootfs with openat2(RESOLVE_IN_ROOT), and
//! the mount goes onto the resulting descriptor (`/proc/self/fd/N`), so a symlink in the image
//! (or one swapped in during setup) cannot send a mount to the host (CVE-2021-30465).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mkdirat, mknodat, Mode, SFlag};
use nix::unistd::{chdir, fchdir, pivot_root, symlinkat};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::error::{Error, Result, SysContext};
use crate::sys;

/// Opens `path` inside `root` without leaving it (symlinks and `..` are clamped to `root`).
pub fn open_in_root(root: &impl AsFd, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root.as_fd(), path, how)
}

pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// mkdir -p inside `root`; returns an O_PATH descriptor of the final directory.
///
/// Symlinks met on the way are followed *inside* the rootfs (an absolute target restarts
/// at the rootfs, `..` stops at it), and missing directories are created where the link
/// points, as runc's securejoin does: an image's `/evil -> /host/path` gets a directory
/// `<rootfs>/host/path`, never one on the host.
pub fn mkdir_all_in_root(root: &OwnedFd, path: &Path) -> Result<OwnedFd> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    // Most destinations exist (/proc, /dev, /sys in an image): one openat2 resolves them
    // with the same rules as the walk below (RESOLVE_IN_ROOT), instead of an open and a stat
    // per component.
    if let Ok(fd) = open_in_root(root, path, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        return Ok(fd);
    }
    // Next most: only the last component is missing (/dev/pts on the new /dev tmpfs, each
    // /sys/fs/cgroup/<controller>): its parent resolved the same way, then one mkdirat and
    // an open that follows nothing. Anything else (a dangling symlink as the last
    // component, a missing parent) takes the walk.
    if let (Some(parent), Some(Component::Normal(last))) =
        (path.parent(), path.components().next_back())
    {
        if let Ok(pfd) = open_in_root(root, parent, OFlag::O_DIRECTORY | OFlag::O_RDONLY) {
            if matches!(
                mkdirat(pfd.as_fd(), last, Mode::from_bits_truncate(0o755)),
                Ok(()) | Err(Errno::EEXIST)
            ) {
                if let Ok(fd) = nix::fcntl::openat(
                    pfd.as_fd(),
                    last,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) {
                    return Ok(fd);
                }
            }
        }
    }
    fn names(p: &Path) -> VecDeque<OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    }
    let mut pending = names(path);
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            cur.pop();
            continue;
        }
        let parent = open_in_root(root, &cur, OFlag::O_DIRECTORY | OFlag::O_RDONLY)
            .sys(|| format!("open {}", cur.display()))?;
        let what = || format!("{}", cur.join(&name).display());
        match nix::sys::stat::fstatat(
            parent.as_fd(),
            name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                hops += 1;
                if hops > 40 {
                    return Err(Error::sys(
                        format!("resolve {}", path.display()),
                        Errno::ELOOP,
                    ));
                }
                let target = nix::fcntl::readlinkat(parent.as_fd(), name.as_os_str())
                    .sys(|| format!("readlink {}", what()))?;
                let target = PathBuf::from(target);
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                let mut next = names(&target);
                next.extend(pending);
                pending = next;
            }
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR => {
                cur.push(&name)
            }
            Ok(_) => return Err(Error::sys(format!("mkdir {}", what()), Errno::ENOTDIR)),
            Err(Errno::ENOENT) => {
                match mkdirat(
                    parent.as_fd(),
                    name.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                ) {
                    // Lost a race with someone creating it: look at it again.
                    Ok(()) | Err(Errno::EEXIST) => pending.push_front(name),
                    Err(e) => return Err(Error::sys(format!("mkdir {}", what()), e)),
                }
            }
            Err(e) => return Err(Error::sys(format!("stat {}", what()), e)),
        }
    }
    open_in_root(root, &cur, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .sys(|| format!("open {}", cur.display()))
}

/// Creates (if needed) and opens a mount destination inside `root`: a directory, or an empty
/// file when the source is a file (bind mounts of single files).
pub fn mount_target(root: &OwnedFd, dest: &Path, file: bool) -> Result<OwnedFd> {
    if !file {
        return mkdir_all_in_root(root, dest);
    }
    if let Ok(fd) = open_in_root(root, dest, OFlag::O_PATH) {
        return Ok(fd);
    }
    let parent = dest.parent().unwrap_or(Path::new("/"));
    let name = dest
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("mount destination {}", dest.display())))?;
    let pfd = mkdir_all_in_root(root, parent)?;
    let pdir = nix::fcntl::openat(
        pfd.as_fd(),
        ".",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys(|| format!("open {}", parent.display()))?;
    match nix::fcntl::openat(
        pdir.as_fd(),
        name,
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::sys(format!("create {}", dest.display()), e)),
    }
    open_in_root(root, dest, OFlag::O_PATH).sys(|| format!("open {}", dest.display()))
}

/// Mount options split into flags, propagation flags and the data string (mount(8)).
#[derive(Debug, PartialEq)]
pub struct MountOpts {
    pub flags: MsFlags,
    pub clear: MsFlags,
    pub propagation: MsFlags,
    /// `rro`, `rnosuid`, `rnodev`, `rnoexec` (as runc): MOUNT_ATTR_* set on the mount and
    /// every mount below it with mount_setattr(2), so `/:/host:ro` leaves no writable
    /// /host/proc, /host/sys or /host/dev beneath it.
    pub recursive_attrs: u64,
    pub data: Vec<String>,
}

pub fn parse_options(options: &[String]) -> MountOpts {
    let mut o = MountOpts {
        flags: MsFlags::empty(),
        clear: MsFlags::empty(),
        propagation: MsFlags::empty(),
        recursive_attrs: 0,
        data: Vec::new(),
    };
    for opt in options {
        let rattr = match opt.as_str() {
            "rro" => sys::MOUNT_ATTR_RDONLY,
            "rnosuid" => sys::MOUNT_ATTR_NOSUID,
            "rnodev" => sys::MOUNT_ATTR_NODEV,
            "rnoexec" => sys::MOUNT_ATTR_NOEXEC,
            _ => 0,
        };
        if rattr != 0 {
            o.recursive_attrs |= rattr;
            continue;
        }
        let (set, clear, prop) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty(), MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty(), MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID, MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty(), MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV, MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty(), MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty(), MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty(), MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty(), MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty(), MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty(), MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty(), MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty(), MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty(), MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty(), MsFlags::empty()),
            "rbind" => (
                MsFlags::MS_BIND | MsFlags::MS_REC,
                MsFlags::empty(),
                MsFlags::empty(),
            ),
            "private" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_PRIVATE),
            "rprivate" => (
                MsFlags::empty(),
                MsFlags::empty(),
                MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            ),
            "shared" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SHARED),
            "rshared" => (
                MsFlags::empty(),
                MsFlags::empty(),
                MsFlags::MS_SHARED | MsFlags::MS_REC,
            ),
            "slave" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SLAVE),
            "rslave" => (
                MsFlags::empty(),
                MsFlags::empty(),
                MsFlags::MS_SLAVE | MsFlags::MS_REC,
            ),
            "unbindable" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_UNBINDABLE),
            "runbindable" => (
                MsFlags::empty(),
                MsFlags::empty(),
                MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
            ),
            _ => {
                o.data.push(opt.clone());
                continue;
            }
        };
        o.flags = (o.flags | set) - clear;
        o.clear |= clear;
        o.propagation |= prop;
    }
    o
}

fn mnt(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    mount(src, target, fstype, flags, data)
}

/// Mounts one entry of `spec.mounts` under the rootfs.
pub fn mount_one(root: &OwnedFd, m: &Mount, cgroup_v2: bool) -> Result<()> {
    let dest = m.destination();
    let typ = m.typ().clone().unwrap_or_default();
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
    let is_bind = opts.flags.contains(MsFlags::MS_BIND) || typ == "bind";
    let src = m.source().clone().unwrap_or_else(|| PathBuf::from(&typ));
    let what = || format!("mount {} on {}", src.display(), dest.display());
    let data = opts.data.join(",");
    let data = (!data.is_empty()).then_some(data.as_str());

    if is_bind {
        let meta = std::fs::metadata(&src).map_err(|e| Error::io("bind mount source", &src, e))?;
        let target = mount_target(root, dest, !meta.is_dir())?;
        let flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
        mnt(Some(&src), &fd_path(&target), None, flags, None).sys(what)?;
        // A bind mount ignores the other flags: apply them with a remount of the new mount.
        let remount = opts.flags - MsFlags::MS_REC - MsFlags::MS_BIND;
        if !remount.is_empty() {
            let target = open_in_root(root, dest, OFlag::O_PATH).sys(what)?;
            mnt(
                None,
                &fd_path(&target),
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | remount,
                None,
            )
            .sys(|| format!("remount {} with {:?}", dest.display(), remount))?;
        }
        if opts.recursive_attrs != 0 {
            let target = open_in_root(root, dest, OFlag::O_PATH).sys(what)?;
            sys::mount_setattr_recursive(target.as_fd(), opts.recursive_attrs, 0).map_err(|e| {
                let why = if e == Errno::ENOSYS {
                    " (recursive mount options need mount_setattr, Linux 5.12 or newer)"
                } else {
                    ""
                };
                Error::sys(
                    format!("make {} recursively {:?}{why}", dest.display(), m.options()),
                    e,
                )
            })?;
        }
    } else if typ == "cgroup" || typ == "cgroup2" {
        let target = mount_target(root, dest, false)?;
        if cgroup_v2 {
            mnt(
                Some(Path::new("cgroup2")),
                &fd_path(&target),
                Some("cgroup2"),
                opts.flags,
                None,
            )
            .sys(what)?;
        } else {
            mount_cgroup_v1(root, dest, &target, opts.flags)?;
        }
    } else {
        let target = mount_target(root, dest, false)?;
        let t = fd_path(&target);
        match mnt(Some(&src), &t, Some(&typ), opts.flags, data) {
            Ok(()) => {}
            // sysfs cannot be mounted without a new network namespace (or in a user
            // namespace that does not own the netns): bind the host's, as runc does.
            Err(Errno::EPERM) if typ == "sysfs" => {
                mnt(
                    Some(Path::new("/sys")),
                    &t,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )
                .sys(what)?;
                let target = open_in_root(root, dest, OFlag::O_PATH).sys(what)?;
                mnt(
                    None,
                    &fd_path(&target),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | opts.flags,
                    None,
                )
                .sys(what)?;
            }
            Err(e) => return Err(Error::sys(what(), e)),
        }
    }
    if !opts.propagation.is_empty() {
        let target = open_in_root(root, dest, OFlag::O_PATH).sys(what)?;
        mnt(None, &fd_path(&target), None, opts.propagation, None)
            .sys(|| format!("set propagation of {}", dest.display()))?;
    }
    Ok(())
}

/// cgroup v1 inside the container: a tmpfs with one mount per hierarchy (as runc/Docker do).
fn mount_cgroup_v1(root: &OwnedFd, dest: &Path, target: &OwnedFd, flags: MsFlags) -> Result<()> {
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mnt(
        Some(Path::new("tmpfs")),
        &fd_path(target),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .sys(|| format!("mount tmpfs on {}", dest.display()))?;
    for (mp, super_opts) in crate::cgroups::v1_hierarchies()? {
        let Some(name) = mp.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        let t = mount_target(root, &sub, false)?;
        let data: Vec<&str> = super_opts
            .split(',')
            .filter(|o| *o != "rw" && *o != "ro")
            .collect();
        mnt(
            Some(Path::new("cgroup")),
            &fd_path(&t),
            Some("cgroup"),
            base | flags,
            Some(&data.join(",")),
        )
        .sys(|| format!("mount cgroup {} on {}", data.join(","), sub.display()))?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let t =
            open_in_root(root, dest, OFlag::O_PATH).sys(|| format!("open {}", dest.display()))?;
        mnt(
            None,
            &fd_path(&t),
            None,
            MsFlags::MS_REMOUNT | base | MsFlags::MS_RDONLY,
            Some("mode=755"),
        )
        .sys(|| format!("remount {} read-only", dest.display()))?;
    }
    Ok(())
}

/// The default devices every container gets (runtime spec config-linux.md "Default Devices").
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Creates the default devices and `linux.devices` in the container's /dev. In a user
/// namespace mknod is refused, so the host's node is bind-mounted instead.
pub fn create_devices(root: &OwnedFd, extra: &[LinuxDevice], userns: bool) -> Result<()> {
    type Dev = (PathBuf, SFlag, u64, u64, u32, Option<(u32, u32)>);
    let mut devs: Vec<Dev> = DEFAULT_DEVICES
        .iter()
        .map(|(n, ma, mi)| {
            (
                Path::new("/dev").join(n),
                SFlag::S_IFCHR,
                *ma,
                *mi,
                0o666,
                None,
            )
        })
        .collect();
    for d in extra {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => continue,
        };
        let owner = Some((d.uid().unwrap_or(0), d.gid().unwrap_or(0)));
        devs.push((
            d.path().clone(),
            kind,
            d.major() as u64,
            d.minor() as u64,
            d.file_mode().unwrap_or(0o666),
            owner,
        ));
    }
    for (path, kind, major, minor, mode, owner) in devs {
        let name = path
            .file_name()
            .ok_or_else(|| Error::Invalid(format!("device path {}", path.display())))?;
        let parent = mkdir_all_in_root(root, path.parent().unwrap_or(Path::new("/dev")))?;
        let pdir = nix::fcntl::openat(
            parent.as_fd(),
            ".",
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .sys(|| format!("open {}", path.display()))?;
        let _ = nix::unistd::unlinkat(pdir.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        if userns {
            let t = mount_target(root, &path, true)?;
            mnt(Some(&path), &fd_path(&t), None, MsFlags::MS_BIND, None)
                .sys(|| format!("bind device {}", path.display()))?;
            continue;
        }
        mknodat(
            pdir.as_fd(),
            name,
            kind,
            Mode::from_bits_truncate(mode),
            makedev(major, minor),
        )
        .sys(|| format!("mknod {}", path.display()))?;
        // mknod applies the umask; set the mode and owner the spec asked for.
        let f = nix::fcntl::openat(
            pdir.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .sys(|| format!("open {}", path.display()))?;
        let p = fd_path(&f);
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            &p,
            Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .sys(|| format!("chmod {}", path.display()))?;
        if let Some((u, g)) = owner {
            nix::unistd::chown(&p, Some(u.into()), Some(g.into()))
                .sys(|| format!("chown {}", path.display()))?;
        }
    }
    Ok(())
}

/// The /dev symlinks processes expect (runc's defaults).
pub fn dev_symlinks(root: &OwnedFd) -> Result<()> {
    let dev = mkdir_all_in_root(root, Path::new("/dev"))?;
    let dev = nix::fcntl::openat(
        dev.as_fd(),
        ".",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys(|| "open /dev".into())?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        if name == "ptmx" {
            let _ =
                nix::unistd::unlinkat(dev.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("symlink /dev/{name}"), e)),
        }
    }
    Ok(())
}

/// Whether the spec mounts its own /dev (tmpfs) rather than binding the host's.
pub fn has_own_dev(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        m.destination() == Path::new("/dev")
            && m.typ().as_deref() != Some("bind")
            && !m
                .options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind")
    })
}

/// Makes the mount that holds `rootfs` private (or a slave, for a config asking for slave
/// propagation), walking up while a path is not a mount point (EINVAL), as runc's
/// rootfsParentMountPropagation and crun's make_parent_mount_private do: pivot_root(2)
/// refuses a new root whose parent mount is shared, and a bind mount under a shared parent
/// would propagate to the host.
pub fn make_parent_private(rootfs: &Path, slave: bool) -> Result<()> {
    let flag = if slave {
        MsFlags::MS_SLAVE
    } else {
        MsFlags::MS_PRIVATE
    };
    let mut path = rootfs;
    loop {
        match mount(None::<&str>, path, None::<&str>, flag, None::<&str>) {
            Ok(()) => return Ok(()),
            Err(Errno::EINVAL) if path != Path::new("/") => {
                path = path.parent().unwrap_or(Path::new("/"));
            }
            Err(e) => {
                return Err(Error::sys(
                    format!("make the mount of {} {flag:?}", path.display()),
                    e,
                ))
            }
        }
    }
}

/// Without a mount namespace of its own the container may not change the caller's mounts:
/// it is only chrooted into its rootfs (runc does the same).
pub fn chroot_into(rootfs: &Path) -> Result<()> {
    chdir(rootfs).sys(|| format!("chdir {}", rootfs.display()))?;
    nix::unistd::chroot(".").sys(|| format!("chroot {}", rootfs.display()))?;
    chdir("/").sys(|| "chdir /".into())
}

/// pivot_root(2) into `rootfs` without a temporary directory: pivot onto ".", then lazily
/// unmount the old root that now sits on top (the trick runc and lxc use).
pub fn pivot(rootfs: &Path) -> Result<()> {
    let old = nix::fcntl::open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys(|| "open /".into())?;
    chdir(rootfs).sys(|| format!("chdir {}", rootfs.display()))?;
    pivot_root(".", ".").sys(|| format!("pivot_root {}", rootfs.display()))?;
    fchdir(old.as_fd()).sys(|| "fchdir old root".into())?;
    // Keep the unmount from propagating to the host's mounts.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .sys(|| "make old root rslave".into())?;
    umount2(".", MntFlags::MNT_DETACH).sys(|| "unmount old root".into())?;
    chdir("/").sys(|| "chdir /".into())
}

/// The `--no-pivot` fallback: move the rootfs over / and chroot (escapable with
/// CAP_SYS_CHROOT; only for filesystems where pivot_root is impossible, e.g. ramfs).
pub fn move_root(rootfs: &Path) -> Result<()> {
    chdir(rootfs).sys(|| format!("chdir {}", rootfs.display()))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .sys(|| "move rootfs to /".into())?;
    nix::unistd::chroot(".").sys(|| "chroot".into())?;
    chdir("/").sys(|| "chdir /".into())
}

/// Masks a path after pivot_root: /dev/null over files, a read-only tmpfs over directories.
pub fn mask_path(path: &Path) -> Result<()> {
    let res = match std::fs::metadata(path) {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        ),
        Ok(_) => mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        ),
    };
    match res {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::sys(format!("mask {}", path.display()), e)),
    }
}

/// Remounts an existing path read-only (after pivot_root), keeping its other flags.
pub fn readonly_path(path: &Path) -> Result<()> {
    match mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    ) {
        Ok(()) => {}
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::sys(format!("bind {} read-only", path.display()), e)),
    }
    remount_ro(path)
}

/// MS_REMOUNT|MS_BIND|MS_RDONLY, keeping nosuid/nodev/noexec: a remount that drops a locked
/// flag is refused with EPERM.
pub fn remount_ro(path: &Path) -> Result<()> {
    let st = nix::sys::statvfs::statvfs(path).sys(|| format!("statvfs {}", path.display()))?;
    use nix::sys::statvfs::FsFlags;
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (f, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if st.flags().contains(f) {
            flags |= m;
        }
    }
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .sys(|| format!("remount {} read-only", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn open_dir(p: &Path) -> OwnedFd {
        nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap()
    }

    /// What mkdir_all_in_root made is the directory inside the root: `made` relative to it.
    fn is_inside(fd: &OwnedFd, root: &Path, made: &str) -> bool {
        let got = std::fs::read_link(fd_path(fd)).unwrap();
        got == root.join(made)
    }

    #[test]
    fn mkdir_all_in_root_makes_missing_directories_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        std::fs::create_dir_all(root.join("dev")).unwrap();
        let r = open_dir(&root);
        // The last component only, then a whole missing chain, then one that exists.
        let fd = mkdir_all_in_root(&r, Path::new("/dev/pts")).unwrap();
        assert!(is_inside(&fd, &root, "dev/pts"));
        let fd = mkdir_all_in_root(&r, Path::new("/sys/fs/cgroup/cpu")).unwrap();
        assert!(is_inside(&fd, &root, "sys/fs/cgroup/cpu"));
        let fd = mkdir_all_in_root(&r, Path::new("/dev")).unwrap();
        assert!(is_inside(&fd, &root, "dev"));
        // A file where a directory is wanted is an error, not replaced.
        std::fs::write(root.join("dev/null"), "").unwrap();
        assert!(mkdir_all_in_root(&r, Path::new("/dev/null")).is_err());
    }

    #[test]
    fn mkdir_all_in_root_follows_symlinks_inside_the_root_only() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("rootfs");
        let host = t.path().join("host");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        let r = open_dir(&root);
        // The last component a dangling symlink to a host path that exists on the host.
        std::os::unix::fs::symlink(&host, root.join("evil")).unwrap();
        let fd = mkdir_all_in_root(&r, Path::new("/evil")).unwrap();
        let inside = host
            .strip_prefix("/")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(is_inside(&fd, &root, &inside));
        // ... and one in the middle, with `..` that would climb out.
        std::os::unix::fs::symlink("../../..", root.join("up")).unwrap();
        let fd = mkdir_all_in_root(&r, Path::new("/up/etc/made")).unwrap();
        assert!(is_inside(&fd, &root, "etc/made"));
        assert_eq!(
            std::fs::read_dir(&host).unwrap().count(),
            0,
            "wrote on the host"
        );
    }

    #[test]
    fn options() {
        let o = parse_options(&v(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, v(&["mode=755", "size=65536k"]));
        let o = parse_options(&v(&["rbind", "ro", "rprivate"]));
        assert!(o
            .flags
            .contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(o.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        let o = parse_options(&v(&["ro", "rw"]));
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
    }
}
