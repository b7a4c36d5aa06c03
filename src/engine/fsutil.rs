//! How the engine creates what it keeps under berth's root: directories 0700 and files 0600
//! with the mode set explicitly (never left to the umask), records written to a temp file
//! and renamed, lock files opened without re-creating a directory another process removes.
//!
//! Why 0700: a container's directory holds its environment (secrets passed with `-e`), its
//! logs, and its mounted root; a local user who can reach `<root>/containers/<id>/rootfs`
//! could execute a setuid binary of the image as root on the host. Docker keeps these
//! 0700/0710 and configs 0600. The few directories whose mode a container sees (the
//! volume's `_data`, the overlay's upper dir) are 0755, inside 0700 parents.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

/// Mode of every directory berth keeps under its root.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file berth keeps under its root.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with `mode`, and sets `mode` on `dir` itself even if
/// it existed or the umask took bits away.
pub fn mkdir_mode(dir: &Path, mode: u32) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .with_context(|| format!("create {}", dir.display()))?;
    std::fs::set_permissions(dir, Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", dir.display()))
}

/// `mkdir_mode(dir, 0700)`.
pub fn mkdir_private(dir: &Path) -> Result<()> {
    mkdir_mode(dir, DIR_MODE)
}

/// Opens `path` for writing with mode 0600, whatever the umask and whatever mode a leftover
/// file of that name had.
pub fn create_private(path: &Path, append: bool) -> Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .mode(FILE_MODE)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    f.set_permissions(Permissions::from_mode(FILE_MODE))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(f)
}

/// Writes `data` to `path` (mode 0600) through a temp file renamed into place: a reader sees
/// the old or the new content, never half of it.
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    write_private_as(path, data, false)
}

/// `write_private`, the file's mtime set to the clock's nanoseconds: two writes of one path
/// never leave the same inode number, size and mtime, whatever the filesystem's timestamp
/// granularity (the summary cache, summary.rs, keys on those).
pub fn write_private_stamped(path: &Path, data: &[u8]) -> Result<()> {
    write_private_as(path, data, true)
}

fn write_private_as(path: &Path, data: &[u8], stamp: bool) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = create_private(&tmp, false)?;
    f.write_all(data)
        .with_context(|| format!("write {}", tmp.display()))?;
    if stamp {
        f.set_modified(std::time::SystemTime::now())
            .with_context(|| format!("set the mtime of {}", tmp.display()))?;
    }
    drop(f);
    berth_runtime::replace_file(&tmp, path).with_context(|| format!("write {}", path.display()))
}

/// The entries berth itself makes directly under its root.
const ROOT_ENTRIES: &[&str] = &[
    "containers",
    "image",
    "volumes",
    "runtime",
    "trash",
    "networks",
    "netns",
    "events.log",
    "events.log.1",
    "events.lock",
];

/// Makes the root (0700) or, if it exists, tightens what an older berth made with the
/// umask's modes: the root itself when everything in it is berth's, and berth's own
/// directories in it. A root given with `--root` that holds other things keeps its mode:
/// berth's directories inside it are what protect the state.
pub fn prepare_root(root: &Path) -> Result<()> {
    if !root.exists() {
        return mkdir_private(root);
    }
    let rd = std::fs::read_dir(root).with_context(|| format!("read {}", root.display()))?;
    let mut only_ours = true;
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if ROOT_ENTRIES.contains(&name.as_ref()) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                tighten(&e.path())?;
            }
        } else {
            only_ours = false;
        }
    }
    if only_ours {
        tighten(root)?;
    }
    Ok(())
}

/// Moves `path` (a container's or a volume's directory) out of its namespace into
/// `<root>/trash` in one rename, and returns where it went. Removal is then rename +
/// delete: nobody sees half an object, and a killed removal leaves only trash. Whoever
/// deletes an entry holds a flock on it (flock(1) for a background `rm`), so `empty_trash`
/// leaves an entry that is being deleted alone.
pub fn to_trash(root: &Path, path: &Path) -> Result<std::path::PathBuf> {
    let trash = root.join("trash");
    mkdir_private(&trash)?;
    let gone = trash.join(&super::base::new_id()?[..20]);
    std::fs::rename(path, &gone)
        .with_context(|| format!("move {} to the trash", path.display()))?;
    Ok(gone)
}

/// A scratch directory (0700) in `<root>/trash`, held by its claim while in use: dropped,
/// it is deleted; a killed berth leaves it to the next command's `empty_trash`.
pub struct Scratch {
    path: std::path::PathBuf,
    _claim: nix::fcntl::Flock<File>,
}

impl Scratch {
    pub fn new(root: &Path) -> Result<Scratch> {
        let trash = root.join("trash");
        mkdir_private(&trash)?;
        let path = trash.join(&super::base::new_id()?[..20]);
        std::fs::DirBuilder::new()
            .mode(DIR_MODE)
            .create(&path)
            .with_context(|| format!("create {}", path.display()))?;
        let f = File::open(&path).with_context(|| format!("open {}", path.display()))?;
        let claim = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("lock {}: {e}", path.display()))?;
        // Another command's empty_trash may have taken it before the claim.
        if !path.is_dir() {
            anyhow::bail!("scratch directory {} went away: try again", path.display());
        }
        Ok(Scratch {
            path,
            _claim: claim,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = remove_tree(&self.path);
    }
}

/// An exclusive flock on a trash entry, or None if a deleter holds it (or it is gone).
fn claim(entry: &Path) -> Option<nix::fcntl::Flock<File>> {
    let f = File::open(entry).ok()?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).ok()
}

/// Deletes a trash entry here and now, holding its claim.
pub fn remove_trash_entry_now(gone: &Path) -> Result<()> {
    let _claim = claim(gone);
    remove_tree(gone)
}

/// Deletes what killed removals left in the trash: entries no deleter holds. They are
/// unreachable by name, so nothing can be using them.
pub fn empty_trash(root: &Path) {
    let Ok(rd) = std::fs::read_dir(root.join("trash")) else {
        return;
    };
    for e in rd.flatten() {
        let Some(_claim) = claim(&e.path()) else {
            continue; // being deleted
        };
        let _ = remove_tree(&e.path());
    }
}

/// `remove_dir_all` that refuses to descend into a mount (a rootfs whose unmount failed):
/// it detaches such mounts first.
pub fn remove_tree(dir: &Path) -> Result<()> {
    detach_mounts_under(dir)?;
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(anyhow::Error::new(e).context(format!("remove {}", dir.display())))
        }
        _ => Ok(()),
    }
}

/// Detaches every mount below `dir`, deepest first.
fn detach_mounts_under(dir: &Path) -> Result<()> {
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<String> = mount_points()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH)
            .with_context(|| format!("unmount {p}"))?;
    }
    Ok(())
}

/// Every mount point of this mount namespace (/proc/self/mountinfo), as paths; None when
/// mountinfo cannot be read.
pub fn mount_points() -> Option<Vec<String>> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    Some(
        mi.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(unescape_mountinfo)
            .collect(),
    )
}

/// mountinfo writes space, tab, newline and backslash in paths as `\NNN` octal (proc(5)).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A root berth can use: overlayfs takes its layer paths in a mount option string where
/// `,` separates options and `:` separates lower layers, so a root holding either (or a
/// newline) would break every container's mount.
pub fn check_root(root: &Path) -> Result<()> {
    let s = root.to_string_lossy();
    if let Some(c) = s.chars().find(|c| matches!(c, ',' | ':' | '\n' | '\\')) {
        anyhow::bail!(
            "--root {s:?}: berth cannot keep its state under a path holding {c:?} (overlayfs mount options use ',', ':' and '\\' as separators and escapes)"
        );
    }
    Ok(())
}

/// Deletes a trash entry without waiting for it: what was removed is already out of every
/// namespace (renamed into the trash), so only its blocks remain, and deleting a
/// container's directories costs 5-30 ms of ext4 work that `run --rm` and `rm` need not
/// wait for. A fork of this process does it (mounts below were detached first), or, from
/// a process with threads (which may not fork to run Rust code), a detached `rm -rf
/// --one-file-system`; if neither can be started, the deletion happens here. Whatever a
/// killed deleter leaves, the next command's `empty_trash` takes.
pub fn remove_trash_entry(gone: &Path, hold: Option<std::os::fd::OwnedFd>) -> Result<()> {
    let trash = gone
        .parent()
        .is_some_and(|p| p.file_name().is_some_and(|n| n == "trash"));
    if !trash {
        anyhow::bail!("{} is not in the trash", gone.display());
    }
    detach_mounts_under(gone)?;
    // The entry's claim (its flock, which keeps empty_trash away) goes with the deleter: it
    // holds the claim as long as it runs.
    let Some(claimed) = claim(gone) else {
        return Ok(()); // another deleter has it
    };
    let claimed = crate::sys::into_fd_keeping_lock(claimed);
    // A fork, not an exec: rm(1)'s exec, dynamic loading, locale and CPU probing were
    // three fifths of its CPU, and the deleter runs beside the next container's start.
    if let Ok(fork) = crate::sys::fork_single_threaded() {
        match fork {
            nix::unistd::ForkResult::Child => {
                // Out of the caller's session (a ^C for it is not for us) and holding none
                // of its descriptors but the claim and the overlay's last one (`hold`, a
                // detached rootfs::detach_holding), which end with us.
                let _ = nix::unistd::setsid();
                let keep: Vec<RawFd> = std::iter::once(claimed.as_raw_fd())
                    .chain(hold.as_ref().map(|h| h.as_raw_fd()))
                    .collect();
                crate::sys::only_descriptors(&keep);
                // Nothing is mounted below `gone` (detached above), and nothing mounts in
                // the trash.
                let code = i32::from(std::fs::remove_dir_all(gone).is_err());
                crate::sys::exit_child(code)
            }
            // Our copies of the claim and `hold` close; the deleter's keep them.
            nix::unistd::ForkResult::Parent { .. } => return Ok(()),
        }
    }
    // The claim is rm's stdout, which `rm -rf` never writes.
    let spawned = std::process::Command::new(system_tool("rm"))
        .args(["-rf", "--one-file-system", "--"])
        .arg(gone)
        // `hold` (a detached overlay, rootfs::detach_holding) goes with the deleter as its
        // stdin, which rm -f does not read: the overlay ends when it does.
        .stdin(hold.map_or_else(std::process::Stdio::null, std::process::Stdio::from))
        .stdout(std::process::Stdio::from(claimed))
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(_child) => Ok(()), // not waited for: it outlives us if need be
        Err(_) => remove_trash_entry_now(gone),
    }
}

/// Where Debian installs `name` (util-linux and coreutils tools), else the bare name for a
/// PATH search: spawning by path saves the failed execve(2) of every PATH entry before
/// /usr/bin, which `run --rm` otherwise waits for.
fn system_tool(name: &str) -> std::path::PathBuf {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| name.into())
}

fn tighten(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(dir).with_context(|| format!("stat {}", dir.display()))?;
    if m.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
            .with_context(|| format!("chmod {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn modes_ignore_the_umask() {
        let t = tempfile::tempdir().unwrap();
        // SAFETY: umask has no preconditions; the old mask is put back below.
        let old = unsafe { libc::umask(0) };
        let d = t.path().join("a/b");
        mkdir_private(&d).unwrap();
        write_private(&d.join("f"), b"x").unwrap();
        let f = create_private(&d.join("log"), true).unwrap();
        drop(f);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        assert_eq!(mode(&t.path().join("a")), 0o700);
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&d.join("f")), 0o600);
        assert_eq!(mode(&d.join("log")), 0o600);
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape_mountinfo("/a\\040b/c"), "/a b/c");
        assert_eq!(unescape_mountinfo("/x\\134y"), "/x\\y");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn roots_with_overlay_separators_are_refused() {
        for bad in ["/tmp/a,b", "/tmp/a:b", "/tmp/a\nb"] {
            let e = check_root(Path::new(bad)).unwrap_err().to_string();
            assert!(e.contains("--root"), "{e}");
        }
        check_root(Path::new("/var/lib/berth")).unwrap();
        check_root(Path::new("/tmp/with space")).unwrap();
    }

    #[test]
    fn prepare_root_tightens_only_a_berth_root() {
        let t = tempfile::tempdir().unwrap();
        let ours = t.path().join("ours");
        std::fs::create_dir_all(ours.join("containers")).unwrap();
        std::fs::set_permissions(&ours, Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(ours.join("containers"), Permissions::from_mode(0o755)).unwrap();
        prepare_root(&ours).unwrap();
        assert_eq!(mode(&ours), 0o700);
        assert_eq!(mode(&ours.join("containers")), 0o700);

        let shared = t.path().join("shared");
        std::fs::create_dir_all(shared.join("volumes")).unwrap();
        std::fs::write(shared.join("notes.txt"), "mine").unwrap();
        std::fs::set_permissions(&shared, Permissions::from_mode(0o755)).unwrap();
        prepare_root(&shared).unwrap();
        assert_eq!(mode(&shared), 0o755, "a shared root keeps its mode");
        assert_eq!(mode(&shared.join("volumes")), 0o700);

        let fresh = t.path().join("fresh/root");
        prepare_root(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }
}
