//! The xattr system calls unpacking needs and nix does not wrap: this module's only unsafe code.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

#[derive(Clone, Copy)]
pub(super) enum XattrTarget<'a> {
    Fd(BorrowedFd<'a>),
    /// A name in a directory, not followed if it is a symlink.
    Name(BorrowedFd<'a>, &'a OsStr),
}

pub(super) fn set_xattr(target: XattrTarget<'_>, key: &CStr, value: &[u8]) -> Result<(), Errno> {
    let (v, len) = (value.as_ptr().cast(), value.len());
    let rc = match target {
        // SAFETY: `fd` is borrowed, so open for the whole call; `key` is NUL-terminated; `v`
        // and `len` describe one live slice that the kernel only reads.
        XattrTarget::Fd(fd) => unsafe { libc::fsetxattr(fd.as_raw_fd(), key.as_ptr(), v, len, 0) },
        XattrTarget::Name(dir, name) => {
            // No lsetxattrat before Linux 6.13: name the entry through our verified parent
            // fd's /proc link; lsetxattr does not follow the final component.
            let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            p.extend_from_slice(name.as_bytes());
            let p = CString::new(p).map_err(|_| Errno::EINVAL)?;
            // SAFETY: `p` and `key` are NUL-terminated and outlive the call; `v` and `len`
            // describe one live slice that the kernel only reads.
            unsafe { libc::lsetxattr(p.as_ptr(), key.as_ptr(), v, len, 0) }
        }
    };
    Errno::result(rc).map(drop)
}

/// The value of xattr `name` of `path` (not followed if a symlink), for the tests to check.
#[cfg(test)]
pub(super) fn get_xattr(path: &std::path::Path, name: &CStr) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut buf = [0u8; 256];
    // SAFETY: both strings are NUL-terminated and the buffer pointer/length are one live array.
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}
