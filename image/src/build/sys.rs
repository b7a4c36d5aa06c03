//! The one system call packing needs and nix does not wrap (lgetxattr): this module's only
//! unsafe code.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The value of xattr `name` of `path` (not followed if a symlink); None if it has none.
pub(super) fn get_xattr(path: &Path, name: &CStr) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut buf = [0u8; 256];
    // SAFETY: both strings are NUL-terminated and outlive the call; the buffer pointer and
    // length describe one live array the kernel writes at most `len` bytes into.
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
