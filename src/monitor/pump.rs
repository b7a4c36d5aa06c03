//! The monitor's loop, shared by `berth` and the small `berth-monitor` binary: pump a
//! container's stdout/stderr into its log in Docker's json-file format (one JSON object per
//! line, `{"log":"text\n","stream":"stdout","time":"2026-11-25T21:30:41.123456789Z"}`,
//! rotated by size into `container.log.1`, `.2`, ...; the oldest has the highest number)
//! until the container's init exits.
//!
//! It uses std and nix only and formats by hand: `berth-monitor` runs this for every
//! detached container for as long as it lives, so what it touches is what it costs.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Default rotation: 10 MiB per file, 3 files (as Docker's `local` driver).
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
pub const DEFAULT_MAX_FILES: u32 = 3;

pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
}

/// The log holds what the container printed (often secrets): 0600, whatever the umask.
fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

impl Writer {
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> std::io::Result<Writer> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
        })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let name = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.max_files == 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(name(self.max_files - 1));
        for i in (1..self.max_files - 1).rev() {
            let _ = std::fs::rename(name(i), name(i + 1));
        }
        std::fs::rename(&self.path, name(1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }

    /// Writes one entry; `line` includes its newline unless it is a partial line.
    pub fn write(&mut self, stream: &str, line: &[u8], now: Duration) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(line.len() + 80);
        out.extend_from_slice(b"{\"log\":\"");
        escape_into(&mut out, line);
        out.extend_from_slice(b"\",\"stream\":\"");
        out.extend_from_slice(stream.as_bytes());
        out.extend_from_slice(b"\",\"time\":\"");
        out.extend_from_slice(&rfc3339(now));
        out.extend_from_slice(b"\"}\n");
        if self.size > 0 && self.size + out.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&out)?;
        self.size += out.len() as u64;
        Ok(())
    }
}

/// JSON string escaping of bytes; invalid UTF-8 becomes U+FFFD as Docker does.
fn escape_into(out: &mut Vec<u8>, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c as usize) >> 4]);
                out.push(HEX[(c as usize) & 15]);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// Splits a stream into lines for the log: complete lines, or a partial one once the
/// buffer holds 16 KiB (Docker's limit for one entry).
#[derive(Default)]
pub struct LineBuf {
    buf: Vec<u8>,
}

pub const MAX_LINE: usize = 16 * 1024;

impl LineBuf {
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(n) = self.buf[start..].iter().position(|&b| b == b'\n') {
            emit(&self.buf[start..start + n + 1]);
            start += n + 1;
        }
        while self.buf.len() - start >= MAX_LINE {
            emit(&self.buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        self.buf.drain(..start);
    }
    pub fn flush(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(&self.buf);
            self.buf.clear();
        }
    }
}

pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn push_num(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut n = v;
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

/// RFC 3339 UTC with nanoseconds (`2026-11-25T21:30:41.123456789Z`), without core::fmt.
/// (year, month, day) of a day number since 1970-01-01: Howard Hinnant's civil_from_days,
/// valid for the proleptic Gregorian calendar. Here rather than a date crate: the monitor
/// formats a timestamp per log line for a container's whole life, and stays small.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn rfc3339(t: Duration) -> Vec<u8> {
    let secs = t.as_secs() as i64;
    let (days, sod) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    let mut out = Vec::with_capacity(30);
    push_num(&mut out, y as u64, 4);
    out.push(b'-');
    push_num(&mut out, m as u64, 2);
    out.push(b'-');
    push_num(&mut out, d as u64, 2);
    out.push(b'T');
    push_num(&mut out, (sod / 3600) as u64, 2);
    out.push(b':');
    push_num(&mut out, (sod % 3600 / 60) as u64, 2);
    out.push(b':');
    push_num(&mut out, (sod % 60) as u64, 2);
    out.push(b'.');
    push_num(&mut out, u64::from(t.subsec_nanos()), 9);
    out.push(b'Z');
    out
}

fn wait_status(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// `berth-monitor health` exits with this status when the health is past `starting`.
pub const HEALTH_SETTLED: i32 = 3;

/// The healthcheck's probes, one at a time: each executes `berth-monitor health ROOT ID`
/// (berth, which runs the test in the container and records the result); the next is due an
/// interval after the last ended (the start interval during the start period, while the
/// health is still `starting`).
pub struct Probes {
    interval: Duration,
    start_period: Duration,
    start_interval: Duration,
    /// A probe reported the health past `starting` (healthy, or unhealthy).
    settled: bool,
    berth: String,
    root: String,
    id: String,
    started: Instant,
    next: Instant,
    running: Option<i32>,
}

impl Probes {
    /// From the loop's HEALTH argument, `INTERVAL_MS,START_PERIOD_MS,START_INTERVAL_MS`.
    pub fn parse(spec: &str, berth: &str, root: &str, id: &str) -> Option<Probes> {
        let v: Vec<u64> = spec
            .split(',')
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        let [i, sp, si] = v.as_slice() else {
            return None;
        };
        let now = Instant::now();
        let mut p = Probes {
            interval: Duration::from_millis((*i).max(1)),
            start_period: Duration::from_millis(*sp),
            start_interval: Duration::from_millis((*si).max(1)),
            settled: false,
            berth: berth.to_string(),
            root: root.to_string(),
            id: id.to_string(),
            started: now,
            next: now,
            running: None,
        };
        p.next = now + p.gap();
        Some(p)
    }

    fn gap(&self) -> Duration {
        if !self.settled && self.started.elapsed() < self.start_period {
            self.start_interval
        } else {
            self.interval
        }
    }

    /// How long poll may sleep before the next probe is due (None: until something else).
    fn wait(&self) -> Option<Duration> {
        match self.running {
            Some(_) => None,
            None => Some(self.next.saturating_duration_since(Instant::now())),
        }
    }

    fn due(&mut self) {
        if self.running.is_some() || Instant::now() < self.next {
            return;
        }
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new(&self.berth)
            .arg0("berth-monitor")
            .args(["health", &self.root, &self.id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match child {
            // Reaped by the loop's waitpid(-1), never through the Child.
            Ok(c) => self.running = Some(c.id() as i32),
            Err(_) => self.next = Instant::now() + self.gap(),
        }
    }

    fn reaped(&mut self, pid: i32, status: Option<i32>) {
        if self.running == Some(pid) {
            self.running = None;
            self.settled |= status == Some(HEALTH_SETTLED);
            self.next = Instant::now() + self.gap();
        }
    }
}

/// Pumps the container's output into the log until the init exits and the pipes drain;
/// returns the init's exit status. With `probes`, runs the healthcheck meanwhile.
pub fn pump(
    pid: i32,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    w: &mut Writer,
    mut probes: Option<Probes>,
    mut hub: Option<super::hub::Hub>,
) -> nix::Result<i32> {
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        mask.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
    crate::sys::ignore_sigpipe();
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    let mut streams: Vec<(OwnedFd, &str, LineBuf, u8)> = Vec::new();
    if let Some(o) = out {
        streams.push((o, "stdout", LineBuf::default(), 1));
    }
    if let Some(e) = err {
        streams.push((e, "stderr", LineBuf::default(), 2));
    }
    let mut status: Option<i32> = None;
    let mut buf = vec![0u8; 32 * 1024];
    let reap = |status: &mut Option<i32>, probes: &mut Option<Probes>| loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(ws) => {
                if ws.pid() == Some(Pid::from_raw(pid)) {
                    *status = wait_status(ws);
                } else if let (Some(p), Some(c)) = (probes.as_mut(), ws.pid()) {
                    p.reaped(c.as_raw(), wait_status(ws));
                }
            }
        }
    };
    reap(&mut status, &mut probes);
    loop {
        if status.is_some() && streams.is_empty() {
            break;
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        for (fd, _, _, _) in &streams {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        let nstreams = fds.len();
        if let Some(h) = &hub {
            for fd in h.fds() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
        }
        // After the init is gone, give leftover writers (its children) a moment.
        let probe_wait = probes.as_ref().and_then(Probes::wait);
        let timeout = if status.is_some() {
            PollTimeout::from(500u16)
        } else if let Some(d) = probe_wait {
            PollTimeout::try_from(d.as_millis().min(60_000) as i32 + 1).unwrap_or(PollTimeout::NONE)
        } else {
            PollTimeout::NONE
        };
        let n = match poll(&mut fds, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e),
        };
        if n == 0 && status.is_some() {
            break;
        }
        if status.is_none() {
            if let Some(p) = probes.as_mut() {
                p.due();
            }
        }
        if n == 0 {
            continue;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(_)) = sfd.read_signal() {}
            reap(&mut status, &mut probes);
        }
        if let Some(h) = hub.as_mut() {
            h.ready(&ready[nstreams..]);
        }
        let mut closed = Vec::new();
        for (i, (fd, name, lb, num)) in streams.iter_mut().enumerate() {
            if !ready[i + 1] {
                continue;
            }
            match nix::unistd::read(fd.as_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    lb.flush(|l| {
                        let _ = w.write(name, l, now());
                    });
                    closed.push(i);
                }
                Ok(n) => {
                    if let Some(h) = hub.as_mut() {
                        h.broadcast(*num, &buf[..n]);
                    }
                    lb.push(&buf[..n], |l| {
                        let _ = w.write(name, l, now());
                    })
                }
            }
        }
        for i in closed.into_iter().rev() {
            streams.remove(i);
        }
    }
    for (_, name, lb, _) in streams.iter_mut() {
        lb.flush(|l| {
            let _ = w.write(name, l, now());
        });
    }
    while status.is_none() {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(ws) => status = wait_status(ws),
            Err(_) => status = Some(255),
        }
    }
    // Attached clients get the exit status (an `--rm` container's record is about to go),
    // then see the socket close.
    if let Some(mut h) = hub {
        h.linger();
        h.broadcast(super::hub::EXIT, &status.unwrap_or(255).to_be_bytes());
    }
    Ok(status.unwrap_or(255))
}

/// Drops the clean file-backed pages that loading berth mapped (the loader and the kernel's
/// fault-around map text in 64 KiB runs) and turns fault-around off for them, so the loop's
/// resident set is what it touches: the monitor of every container stays under 2 MiB.
/// Pages with private changes (relocations) are left alone; dropping them would lose them.
pub fn shed_startup_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut clean: Vec<(usize, usize)> = Vec::new();
    let mut cur: Option<(usize, usize, bool)> = None;
    let mut dirty = 0u64;
    let mut flush = |cur: &mut Option<(usize, usize, bool)>, dirty: u64| {
        if let Some((a, b, file_ro)) = cur.take() {
            if file_ro && dirty == 0 {
                clean.push((a, b));
            }
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                flush(&mut cur, dirty);
                dirty = 0;
                let perms = f.next().unwrap_or("");
                let inode = f.nth(2).unwrap_or("0");
                let path = f.next().unwrap_or("");
                let file_ro = inode != "0" && path.starts_with('/') && !perms.contains('w');
                cur = Some((a, b, file_ro));
                continue;
            }
        }
        if first == "Private_Dirty:" || first == "Anonymous:" {
            dirty += f.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    flush(&mut cur, dirty);
    for (a, b) in clean {
        crate::sys::drop_clean_pages(a, b);
    }
}

/// `loop ROOT ID PID LOCK OUT ERR STDIN MAXSIZE MAXFILES [BERTH]`: pumps until the init
/// exits; returns its status.
pub fn loop_main(a: &[String]) -> Result<i32, String> {
    if a.len() < 9 {
        return Err("loop: bad arguments".into());
    }
    let pid: i32 = a[2].parse().map_err(|_| "loop: bad pid")?;
    let take = |s: &str| -> Option<OwnedFd> { crate::sys::take_inherited_fd(s.parse().ok()?) };
    let (out, err) = (take(&a[4]), take(&a[5]));
    // Held open so an `-i` container's stdin does not see EOF.
    let stdin = take(&a[6]);
    shed_startup_pages();
    let log = Path::new(&a[0])
        .join("containers")
        .join(&a[1])
        .join("container.log");
    let max_size = a[7].parse().unwrap_or(DEFAULT_MAX_SIZE);
    let max_files = a[8].parse().unwrap_or(DEFAULT_MAX_FILES);
    let mut w = Writer::open(&log, max_size, max_files).map_err(|e| e.to_string())?;
    let probes = match (a.get(9), a.get(10)) {
        (Some(berth), Some(spec)) => Probes::parse(spec, berth, &a[0], &a[1]),
        _ => None,
    };
    // `berth attach` joins here: input goes to the stdin pipe (`-i`), or to the pty master
    // (`-it`: no stderr stream, stdout is the master).
    let input = match (&stdin, &err) {
        (Some(_), None) => out.as_ref().map(|o| o.as_fd()),
        (Some(s), Some(_)) => Some(s.as_fd()),
        (None, _) => None,
    };
    let dir = Path::new(&a[0]).join("containers").join(&a[1]);
    let pty = match &err {
        None => out.as_ref().map(|o| o.as_fd()),
        Some(_) => None,
    };
    let listener = std::env::var(super::hub::LISTENER_ENV)
        .ok()
        .and_then(|n| take(&n))
        .map(std::os::unix::net::UnixListener::from);
    // Not for what this process executes next (finish, a restart's monitor).
    std::env::remove_var(super::hub::LISTENER_ENV);
    let hub = super::hub::Hub::open(&dir, listener, input, pty).ok();
    pump(pid, out, err, &mut w, probes, hub).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_the_runtime_formatter() {
        for t in [
            Duration::new(0, 0),
            Duration::new(1_764_106_241, 7),
            Duration::new(951_782_400, 999_999_999),
        ] {
            assert_eq!(
                String::from_utf8(rfc3339(t)).unwrap(),
                berth_runtime::state::rfc3339(t)
            );
        }
    }
}
