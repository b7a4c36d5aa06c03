//! Black-box tests of `attach`: through a pty, typed input reaches a `run -dit` container's
//! shell and its output comes back; Ctrl-P Ctrl-Q (or --detach-keys) detaches and the
//! container keeps running; without a tty, stdin and stdout go through pipes.

mod common;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// A pty pair: (master, slave).
fn openpty() -> (std::fs::File, OwnedFd) {
    let (mut m, mut s) = (-1, -1);
    // SAFETY: openpty writes two new descriptors into the given ints; the other arguments
    // may be null.
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    let ws = libc::winsize {
        ws_row: 33,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize that lives across the call; m is open.
    assert_eq!(
        unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) },
        0,
        "set the pty's size"
    );
    // SAFETY: both were just opened and are owned by nothing else.
    unsafe { (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
}

/// Reads from `r` on a thread; the text so far arrives through the channel.
fn reader(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<Vec<u8>>, seen: &mut String, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.contains(what) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(b) => seen.push_str(&String::from_utf8_lossy(&b)),
            Err(_) => panic!("{what:?} never came; saw {seen:?}"),
        }
    }
}

fn wait_exit(c: &mut std::process::Child, secs: u64) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = c.try_wait().expect("wait") {
            return s;
        }
        if t.elapsed() > Duration::from_secs(secs) {
            let _ = c.kill();
            panic!("attach did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn attach_on_pty(w: &World, args: &[&str]) -> (std::process::Child, std::fs::File) {
    let (master, slave) = openpty();
    let child = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(args)
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("spawn attach");
    (child, master)
}

#[test]
fn attach_through_a_pty_then_ctrl_p_ctrl_q_detaches() {
    if !root_or_skip("attach_through_a_pty_then_ctrl_p_ctrl_q_detaches") {
        return;
    }
    let w = World::with_busybox();
    w.run_d(&[
        "-it",
        "--name",
        "att-tty",
        "--network",
        "none",
        "bb:1",
        "sh",
    ]);
    let (mut child, mut master) = attach_on_pty(&w, &["attach", "att-tty"]);
    let rx = reader(master.try_clone().expect("dup"));
    let mut seen = String::new();
    // The shell may not have printed its prompt yet: type until the answer comes.
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(b"echo hel''lo-$((40+2))\r").expect("type");
    wait_for(&rx, &mut seen, "hello-42");
    // The container's pty has the attaching terminal's size.
    master.write_all(b"busybox stty size\r").expect("type");
    wait_for(&rx, &mut seen, "33 101");
    // Ctrl-P Ctrl-Q: attach ends with 0, the container runs on.
    master.write_all(&[0x10, 0x11]).expect("detach keys");
    let st = wait_exit(&mut child, 10);
    assert_eq!(st.code(), Some(0), "attach after detach; saw {seen:?}");
    assert_eq!(w.inspect("att-tty", "{{.State.Status}}"), "running");
    // Attach again with other detach keys; the shell is the same one.
    let (mut child, mut master) =
        attach_on_pty(&w, &["attach", "--detach-keys", "ctrl-a,x", "att-tty"]);
    let rx = reader(master.try_clone().expect("dup"));
    let mut seen = String::new();
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(b"echo again-$((1+1))\r").expect("type");
    wait_for(&rx, &mut seen, "again-2");
    // Ctrl-P Ctrl-Q is now typed into the container, not a detach.
    master.write_all(&[0x10, 0x11]).expect("keys");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "ctrl-p ctrl-q detached"
    );
    // End the line they started in the shell (a "not found" command).
    master.write_all(b"\r").expect("type");
    master.write_all(&[0x01, b'x']).expect("detach keys");
    assert_eq!(wait_exit(&mut child, 10).code(), Some(0));
    assert_eq!(w.inspect("att-tty", "{{.State.Status}}"), "running");
    // `exit` in the shell: attach ends with the container's status.
    let (mut child, mut master) = attach_on_pty(&w, &["attach", "att-tty"]);
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(b"exit 3\r").expect("type");
    assert_eq!(wait_exit(&mut child, 15).code(), Some(3));
    w.eventually(10, "the exit recorded", || {
        w.inspect("att-tty", "{{.State.Status}}") == "exited"
    });
}

#[test]
fn attach_without_a_tty_pipes_stdin_and_stdout() {
    if !root_or_skip("attach_without_a_tty_pipes_stdin_and_stdout") {
        return;
    }
    let w = World::with_busybox();
    let id = w.run_d(&[
        "-i",
        "--init",
        "--name",
        "att-pipe",
        "--network",
        "none",
        "bb:1",
        "cat",
    ]);
    // The monitor binds its socket before `run -d` returns: attach works at once.
    assert!(w
        .root()
        .join("containers")
        .join(&id)
        .join("attach.sock")
        .exists());
    let mut child = Command::new(BIN)
        .arg("--root")
        .arg(w.root())
        .args(["attach", "att-pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn attach");
    let rx = reader(child.stdout.take().expect("stdout"));
    let mut stdin = child.stdin.take().expect("stdin");
    let mut seen = String::new();
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"ping-through-cat\n").expect("write");
    wait_for(&rx, &mut seen, "ping-through-cat\n");
    // Its signal goes to the container (--sig-proxy; --init passes it on to cat): cat dies
    // of SIGTERM, and attach ends with its status.
    let pid = child.id() as i32;
    // SAFETY: kill has no memory effects; pid is our child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(wait_exit(&mut child, 15).code(), Some(143));
    // A stopped container cannot be attached to.
    let out = w.berth(&["attach", "att-pipe"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("start it first"),
        "{}",
        text(&out.stderr)
    );
}

/// `run -it` on a terminal runs under a monitor with this process attached, as Docker's:
/// Ctrl-P Ctrl-Q leaves it running; a command that ends at once still shows its output and
/// gives its status (also with --rm).
#[test]
fn run_it_detaches_with_ctrl_p_ctrl_q() {
    if !root_or_skip("run_it_detaches_with_ctrl_p_ctrl_q") {
        return;
    }
    let w = World::with_busybox();
    let (mut child, mut master) = attach_on_pty(
        &w,
        &[
            "run",
            "-it",
            "--name",
            "run-it",
            "--network",
            "none",
            "bb:1",
            "sh",
        ],
    );
    let rx = reader(master.try_clone().expect("dup"));
    let mut seen = String::new();
    std::thread::sleep(Duration::from_millis(300));
    master.write_all(b"echo run-$((3+4))\r").expect("type");
    wait_for(&rx, &mut seen, "run-7");
    master.write_all(&[0x10, 0x11]).expect("detach keys");
    assert_eq!(wait_exit(&mut child, 10).code(), Some(0), "{seen:?}");
    assert_eq!(w.inspect("run-it", "{{.State.Status}}"), "running");
    let (mut child, master) = attach_on_pty(
        &w,
        &[
            "run",
            "-it",
            "--rm",
            "--network",
            "none",
            "bb:1",
            "sh",
            "-c",
            "echo quick; exit 6",
        ],
    );
    let rx = reader(master);
    // Generous: on the qemu VM the client may join seconds after the container ended.
    assert_eq!(wait_exit(&mut child, 60).code(), Some(6));
    let mut seen = String::new();
    wait_for(&rx, &mut seen, "quick");
}
