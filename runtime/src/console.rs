//! Terminals: the container's pty is created inside its own devpts, the master goes to the
//! caller over `--console-socket` (SCM_RIGHTS, as runc and containerd expect), and a
//! foreground `run` without a socket proxies between its own terminal and the master.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use crate::error::{Error, Result, SysContext};
use crate::rootfs;

/// In the init: open a pty in the container's devpts, send the master over `console_fd`,
/// make the slave our stdio and controlling terminal, and (for a new container) bind it
/// over /dev/console.
pub fn setup_in_root(root: &OwnedFd, console_fd: RawFd, bind_console: bool) -> Result<()> {
    // The runtime handed this connected socket to the init alone.
    let sock = crate::sys::take_inherited_fd(console_fd)
        .ok_or_else(|| Error::Invalid(format!("console socket fd {console_fd} is not open")))?;
    let master = rootfs::open_in_root(
        root,
        Path::new("/dev/pts/ptmx"),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
    )
    .sys(|| "open /dev/pts/ptmx in the container".into())?;
    crate::sys::pty_unlock(master.as_raw_fd()).sys(|| "unlockpt".into())?;
    let n = crate::sys::pty_number(master.as_raw_fd()).sys(|| "ptsname".into())?;
    let slave = crate::sys::pty_peer(master.as_raw_fd()).sys(|| "open pty slave".into())?;
    if bind_console {
        let target = rootfs::mount_target(root, Path::new("/dev/console"), true)?;
        nix::mount::mount(
            Some(format!("/proc/self/fd/{}", slave.as_raw_fd()).as_str()),
            format!("/proc/self/fd/{}", target.as_raw_fd()).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .sys(|| "bind pty over /dev/console".into())?;
    }
    send_fd(&sock, &master, &format!("/dev/pts/{n}"))?;
    drop(master);
    drop(sock);
    nix::unistd::dup2_stdin(slave.as_fd()).sys(|| "dup pty onto stdin".into())?;
    nix::unistd::dup2_stdout(slave.as_fd()).sys(|| "dup pty onto stdout".into())?;
    nix::unistd::dup2_stderr(slave.as_fd()).sys(|| "dup pty onto stderr".into())?;
    crate::sys::set_controlling_tty(0).sys(|| "set controlling terminal".into())
}

pub fn send_fd(sock: &impl AsRawFd, fd: &impl AsRawFd, name: &str) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map(|_| ())
        .sys(|| "send pty master over the console socket".into())
}

pub fn recv_fd(sock: &impl AsRawFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .sys(|| "receive pty master".into())?;
    for c in msg
        .cmsgs()
        .map_err(|e| Error::sys("read control message", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                return Ok(crate::sys::own_received_fd(*fd));
            }
        }
    }
    Err(Error::Invalid(
        "console socket message carried no descriptor".into(),
    ))
}
