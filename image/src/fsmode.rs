//! Explicit modes for every directory and file the image crate makes under berth's root:
//! the mode passed to mkdir/open is only an upper bound the umask may cut down further, and
//! a umask of 0 would leave group/other bits we never meant. So each is created with its
//! mode and then chmod'ed (fchmod for files) to exactly that mode, whatever the umask.
//!
//! The store is 0700/0600: unpacked layers hold setuid binaries and device nodes, blobs may
//! hold secrets baked into images. The exceptions are the directories whose mode a
//! container sees as its `/`: the root of each unpacked layer (an overlay lower dir), a
//! container's overlay upper dir and its rootfs mountpoint are 0755, as Docker makes them.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// Directories of the store.
pub const DIR: u32 = 0o700;
/// Files of the store.
pub const FILE: u32 = 0o600;
/// Directories a container sees the mode of as its `/` (layer roots, upper dir, rootfs).
pub const VISIBLE_DIR: u32 = 0o755;

/// Creates the directory `p` (which must not exist) with exactly `mode`.
pub fn create_dir(p: &Path, mode: u32) -> Result<()> {
    DirBuilder::new().mode(mode).create(p).ctx("create", p)?;
    // We just made it a directory: there is no symlink here to follow.
    fs::set_permissions(p, Permissions::from_mode(mode)).ctx("chmod", p)
}

/// Makes sure `p` is a directory; one this call creates (parents included) gets exactly
/// `mode`, one that exists keeps its mode.
pub fn ensure_dir(p: &Path, mode: u32) -> Result<()> {
    match fs::metadata(p) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(Error::Io {
                op: "create",
                path: p.to_path_buf(),
                err: std::io::Error::new(ErrorKind::AlreadyExists, "exists, not a directory"),
            })
        }
        Err(_) => {}
    }
    if let Some(parent) = p.parent() {
        if !parent.as_os_str().is_empty() {
            ensure_dir(parent, mode)?;
        }
    }
    match create_dir(p, mode) {
        // Made by someone else in the meantime: theirs is as good.
        Err(Error::Io { err, .. }) if err.kind() == ErrorKind::AlreadyExists && p.is_dir() => {
            Ok(())
        }
        r => r,
    }
}

/// Sets an existing directory or file (not a symlink) to `mode` if it has another one: a
/// store made by an older berth has 0755 directories and 0644 files. Missing is fine.
pub fn restrict(p: &Path, mode: u32) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if !m.file_type().is_symlink() && m.permissions().mode() & 0o7777 != mode => {
            fs::set_permissions(p, Permissions::from_mode(mode)).ctx("chmod", p)
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::Io {
            op: "stat",
            path: p.to_path_buf(),
            err,
        }),
    }
}

/// Creates the new file `p` (never through a symlink) with exactly `mode`.
pub fn create_file(p: &Path, mode: u32) -> Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(p)
        .ctx("create", p)?;
    f.set_permissions(Permissions::from_mode(mode))
        .ctx("chmod", p)?;
    Ok(f)
}

/// Opens a lock file, creating it 0600 (and bringing an older one to 0600).
pub fn open_lock(p: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(p)
        .ctx("open lock", p)?;
    let m = f.metadata().ctx("stat", p)?;
    if m.permissions().mode() & 0o7777 != FILE {
        f.set_permissions(Permissions::from_mode(FILE))
            .ctx("chmod", p)?;
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn modes_are_exact_and_existing_dirs_are_kept() {
        let t = tempfile::tempdir().unwrap();
        let deep = t.path().join("a/b/c");
        ensure_dir(&deep, DIR).unwrap();
        for p in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&t.path().join(p)), DIR, "{p}");
        }
        fs::set_permissions(&deep, Permissions::from_mode(0o750)).unwrap();
        ensure_dir(&deep, DIR).unwrap();
        assert_eq!(mode(&deep), 0o750, "an existing directory keeps its mode");
        restrict(&deep, DIR).unwrap();
        assert_eq!(mode(&deep), DIR);
        restrict(&t.path().join("missing"), DIR).unwrap();
        let f = t.path().join("f");
        drop(create_file(&f, FILE).unwrap());
        assert_eq!(mode(&f), FILE);
        assert!(
            create_file(&f, FILE).is_err(),
            "create_file never reuses a file"
        );
        create_dir(&t.path().join("v"), VISIBLE_DIR).unwrap();
        assert_eq!(mode(&t.path().join("v")), VISIBLE_DIR);
        assert!(ensure_dir(&f, DIR).is_err(), "a file is not a directory");
        let l = t.path().join("l");
        fs::write(&l, "").unwrap();
        fs::set_permissions(&l, Permissions::from_mode(0o644)).unwrap();
        drop(open_lock(&l).unwrap());
        assert_eq!(mode(&l), FILE);
    }

    /// A layer's root is VISIBLE_DIR unless the layer has a `./` entry, whose mode it takes
    /// (Docker's unpacker does the same); the entries keep the modes the tar gives them.
    #[test]
    fn layer_root_takes_the_mode_of_its_dot_entry() {
        fn layer(root_mode: Option<u32>) -> Vec<u8> {
            let mut b = tar::Builder::new(Vec::new());
            let mut add = |name: &str, kind: tar::EntryType, m: u32, data: &[u8]| {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(kind);
                h.set_mode(m);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(1_700_000_000);
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append_data(&mut h, name, data).unwrap();
            };
            if let Some(m) = root_mode {
                add("./", tar::EntryType::Directory, m, b"");
            }
            add("./secret/", tar::EntryType::Directory, 0o700, b"");
            add("./secret/f", tar::EntryType::Regular, 0o640, b"x");
            b.into_inner().unwrap()
        }
        let t = tempfile::tempdir().unwrap();
        for (root_mode, want) in [(None, VISIBLE_DIR), (Some(0o750), 0o750)] {
            let dest = t.path().join(format!("{root_mode:?}"));
            create_dir(&dest, VISIBLE_DIR).unwrap();
            crate::unpack::unpack_layer(&layer(root_mode)[..], &dest, None, None).unwrap();
            assert_eq!(mode(&dest), want, "{root_mode:?}");
            assert_eq!(mode(&dest.join("secret")), 0o700);
            assert_eq!(mode(&dest.join("secret/f")), 0o640);
        }
    }
}
