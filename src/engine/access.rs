//! Getting into a container from outside: `exec` (a new process in its namespaces and
//! cgroup) and `cp` (files both ways, resolved inside the container's root).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use berth_image::rootfs;
use berth_runtime::container as rt;
use nix::fcntl::OFlag;

use super::base::{exit_error, runtime_root, ExitError, EXIT_BERTH};
use super::container::{Containers, Record, Status};
use super::start::{mount_rootfs_privately, use_runtime_binary};
use super::{fscopy, fsutil, lifecycle, spec};
use crate::sys::dup_onto;

pub struct ExecOptions {
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub command: Vec<String>,
}

/// `berth exec`: a new process in the running container's namespaces and cgroup, with the
/// container's process settings (env, user, capabilities, limits) as the base.
pub fn exec(root: &Path, name: &str, o: &ExecOptions) -> Result<i32> {
    lifecycle::heal(root)?;
    let cs = Containers::new(root);
    let rec = cs.find(name)?;
    match lifecycle::current_status(&cs, &rec) {
        Status::Running => {}
        Status::Paused => {
            anyhow::bail!("container {} is paused; unpause it first", rec.bare_name())
        }
        s => anyhow::bail!("container {} is not running ({s})", rec.bare_name()),
    }
    let spec = rt::load_spec(&cs.dir_of(&rec.id))?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(o.command.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    for e in &o.env {
        super::options::check_env(e).context("--env")?;
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        env.retain(|x| x.split_once('=').map(|(k, _)| k) != Some(key));
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    p.set_env(Some(env));
    if let Some(w) = &o.workdir {
        if !w.starts_with('/') {
            anyhow::bail!("--workdir {w:?}: must be absolute");
        }
        p.set_cwd(PathBuf::from(w));
    }
    p.set_terminal(Some(o.tty));
    if let Some(u) = &o.user {
        let init_root = PathBuf::from(format!("/proc/{}/root", rec.state.pid));
        let (uid, gid, extra) = spec::resolve_user(&init_root, u)?;
        let mut user = p.user().clone();
        user.set_uid(uid);
        user.set_gid(gid);
        user.set_additional_gids(Some(extra));
        p.set_user(user);
        if uid != 0 {
            // Docker: a non-root user keeps the container's set as its bounding set only.
            if let Some(mut caps) = p.capabilities().clone() {
                caps.set_effective(None);
                caps.set_permitted(None);
                caps.set_inheritable(None);
                caps.set_ambient(None);
                p.set_capabilities(Some(caps));
            }
        }
    }
    if !o.interactive {
        let null = File::open("/dev/null").context("open /dev/null")?;
        dup_onto(&null, 0)?;
    }
    use_runtime_binary();
    let cmd = o.command.join(" ");
    let exec_id = super::base::new_id()?;
    let ev = |action: &str, extra: Option<(&str, String)>| {
        let mut a = vec![("execID", exec_id.clone())];
        a.extend(extra);
        super::events::container(root, &rec, &format!("{action}: {cmd}"), &a);
    };
    ev("exec_create", None);
    ev("exec_start", None);
    let res = rt::exec(rt::ExecOpts {
        root: &runtime_root(root),
        id: &rec.id,
        process: p,
        console_socket: None,
        pid_file: None,
        detach: o.detach,
        preserve_fds: 0,
    });
    match res {
        Ok(code) => {
            if o.detach {
                println!("{}", rec.id);
            } else {
                super::events::container(
                    root,
                    &rec,
                    "exec_die",
                    &[("execID", exec_id.clone()), ("exitCode", code.to_string())],
                );
            }
            Ok(code)
        }
        Err(e) => {
            let e = anyhow::Error::from(e);
            let (code, msg) = exit_error(&e);
            if code == EXIT_BERTH {
                return Err(e);
            }
            Err(anyhow::Error::new(ExitError { code, msg }))
        }
    }
}

/// The container's root for `cp`: a running container's through its init (so its volumes
/// and mounts are seen). A stopped one's is put together in a mount namespace of this
/// process alone: its overlay, and on it its volumes and bind mounts as the container sees
/// them (read-only ones read-only), which all go away when this process exits; nothing is
/// mounted where other processes would see it.
fn cp_root(cs: &Containers, rec: &Record) -> Result<OwnedFd> {
    if lifecycle::current_status(cs, rec).is_alive() && rec.state.pid > 0 {
        let p = PathBuf::from(format!("/proc/{}/root", rec.state.pid));
        return fscopy::open_dir(&p);
    }
    let dir = cs.dir_of(&rec.id);
    let (_, _, rootfs_dir) = rootfs::paths(&dir);
    mount_rootfs_privately(cs, rec, "cp")?;
    let root = fscopy::open_dir(&rootfs_dir)?;
    for m in rec.mounts.iter().filter(|m| m.kind != "tmpfs") {
        // Resolved inside the root, so a symlink in the image cannot point the mount at a
        // host path; a destination the container never got is left out.
        let Ok(target) = fscopy::open_in(&root, Path::new(&m.destination), OFlag::O_PATH) else {
            continue;
        };
        let bind = nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC;
        nix::mount::mount(
            Some(m.source.as_str()),
            fd_path(&target).as_str(),
            None::<&str>,
            bind,
            None::<&str>,
        )
        .with_context(|| format!("mount {} on {} for cp", m.source, m.destination))?;
        if !m.rw {
            // The fd names the directory under the new mount: open it again, now the mount's
            // root, for the remount.
            let top = fscopy::open_in(&root, Path::new(&m.destination), OFlag::O_PATH)?;
            nix::mount::mount(
                None::<&str>,
                fd_path(&top).as_str(),
                None::<&str>,
                bind | nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .with_context(|| format!("make {} read-only for cp", m.destination))?;
        }
    }
    Ok(root)
}

/// The magic link that names what `fd` is open on, for calls that take a path.
fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd))
}

/// Whether a cp source names a directory's contents (`dir/.`): Docker copies what is in it
/// into the destination (made if missing) instead of the directory itself.
pub fn names_contents(p: &str) -> bool {
    p == "." || p.ends_with("/.")
}

/// `cp CONTAINER:SRC DST`.
pub fn copy_out(cs: &Containers, rec: &Record, src: &Path, dst: &Path, keep: bool) -> Result<()> {
    let root_fd = cp_root(cs, rec)?;
    copy_out_at(&root_fd, rec, src, dst, keep)
}

fn copy_out_at(root_fd: &OwnedFd, rec: &Record, src: &Path, dst: &Path, keep: bool) -> Result<()> {
    let contents = names_contents(&src.to_string_lossy());
    let res = (|| {
        let (parent, name) = fscopy::split(src)?;
        let pfd = fscopy::open_in(root_fd, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        nix::sys::stat::fstatat(
            pfd.as_fd(),
            name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|_| {
            anyhow::anyhow!(
                "{}: no such file in container {}",
                src.display(),
                rec.bare_name()
            )
        })?;
        let (ddir, dname) = if dst.is_dir() && !contents {
            (fscopy::open_dir(dst)?, name.clone())
        } else {
            let parent = dst
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let dname = dst
                .file_name()
                .with_context(|| format!("{}: no file name", dst.display()))?;
            (fscopy::open_dir(parent)?, dname.to_os_string())
        };
        fscopy::copy_entry(pfd.as_fd(), &name, ddir.as_fd(), &dname, keep)
    })();
    res
}

/// `cp SRC CONTAINER:DST`.
pub fn copy_in(cs: &Containers, rec: &Record, src: &Path, dst: &Path, keep: bool) -> Result<()> {
    let root_fd = cp_root(cs, rec)?;
    copy_in_at(&root_fd, rec, src, dst, keep)
}

fn copy_in_at(root_fd: &OwnedFd, rec: &Record, src: &Path, dst: &Path, keep: bool) -> Result<()> {
    let contents = names_contents(&src.to_string_lossy());
    let sname = src
        .file_name()
        .with_context(|| format!("{}: no file name", src.display()))?
        .to_os_string();
    if std::fs::symlink_metadata(src).is_err() {
        anyhow::bail!("{}: no such file", src.display());
    }
    let sparent = src
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let sdir = fscopy::open_dir(sparent)?;
    let res = (|| {
        let into = if contents {
            Err(anyhow::anyhow!("the contents go to the directory itself"))
        } else {
            fscopy::open_in(root_fd, dst, OFlag::O_PATH | OFlag::O_DIRECTORY)
        };
        let (ddir, dname) = match into {
            Ok(d) => (d, sname.clone()),
            Err(_) => {
                let (parent, name) = fscopy::split(dst)?;
                let d = fscopy::open_in(root_fd, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
                    .with_context(|| {
                        format!(
                            "{}: no such directory in container {}",
                            parent.display(),
                            rec.bare_name()
                        )
                    })?;
                (d, name)
            }
        };
        fscopy::copy_entry(sdir.as_fd(), &sname, ddir.as_fd(), &dname, keep)
    })();
    res
}

/// `cp CONTAINER:SRC -`: SRC as a tar stream (its name at the top, or for `dir/.` what is
/// in it), written to `out`. The tree is copied out safely first (the same walk as a plain
/// cp) into a scratch directory under the root's trash, then archived without following
/// links.
pub fn copy_out_tar(cs: &Containers, rec: &Record, src: &Path, out: impl Write) -> Result<()> {
    let scratch = fsutil::Scratch::new(&cs.root)?;
    let scratch = scratch.path();
    let res = (|| {
        let root_fd = cp_root(cs, rec)?;
        let contents = names_contents(&src.to_string_lossy());
        let (_, name) = fscopy::split(src)?;
        let top = scratch.join(&name);
        copy_out_at(&root_fd, rec, src, &top, true)?;
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        let entries: Vec<(PathBuf, PathBuf)> = if contents && top.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(&top)?
                .map(|e| e.map(|e| (PathBuf::from(e.file_name()), e.path())))
                .collect::<std::io::Result<_>>()?;
            v.sort();
            v
        } else {
            vec![(PathBuf::from(&name), top.clone())]
        };
        for (n, p) in entries {
            if p.symlink_metadata()?.is_dir() {
                tar.append_dir_all(&n, &p)
            } else {
                tar.append_path_with_name(&p, &n)
            }
            .with_context(|| format!("archive {}", n.display()))?;
        }
        tar.finish().context("write the tar stream")?;
        Ok(())
    })();
    res
}

/// `cp - CONTAINER:DST`: a tar stream from `input` unpacked into the directory DST (which
/// must exist, as Docker's). Unpacked into a fresh private scratch directory first, then
/// copied in entry by entry the safe way, owners kept.
pub fn copy_in_tar(cs: &Containers, rec: &Record, input: impl Read, dst: &Path) -> Result<()> {
    let scratch = fsutil::Scratch::new(&cs.root)?;
    let scratch = scratch.path();
    let res = (|| {
        let root_fd = cp_root(cs, rec)?;
        fscopy::open_in(&root_fd, dst, OFlag::O_PATH | OFlag::O_DIRECTORY).with_context(|| {
            format!(
                "destination {} must be a directory in container {}",
                dst.display(),
                rec.bare_name()
            )
        })?;
        let into = scratch.join("in");
        fsutil::mkdir_private(&into)?;
        let mut ar = tar::Archive::new(input);
        ar.set_preserve_permissions(true);
        ar.set_preserve_ownerships(true);
        ar.set_unpack_xattrs(false);
        ar.unpack(&into)
            .context("unpack the tar stream from stdin")?;
        let mut names: Vec<PathBuf> = std::fs::read_dir(&into)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        for p in names {
            copy_in_at(&root_fd, rec, &p, dst, true)?;
        }
        Ok(())
    })();
    res
}
