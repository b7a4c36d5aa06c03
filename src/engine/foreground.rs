//! A foreground container's output: to the caller's terminal and into its json-file log
//! (as a monitor writes it for `run -d`), so `logs` shows it too.

use berth_runtime::wait::{Output, Stream};

use crate::monitor::pump::{LineBuf, Writer, DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE};
use crate::monitor::{logs::now, Launched};

use super::container::Record;

/// The rotation limits of a container's log: its `--log-opt max-size=` and `max-file=`, or
/// the defaults.
pub fn limits(rec: &Record) -> (u64, u32) {
    let opt = |k: &str| rec.host_config.log_config.config.get(k);
    let size = opt("max-size")
        .and_then(|s| super::options::parse_size(s).ok())
        .unwrap_or(DEFAULT_MAX_SIZE);
    let files = opt("max-file")
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_MAX_FILES);
    (size, files)
}

/// Waits for a foreground container: signals forwarded, its output written to our stdout
/// and stderr as it comes and into its log as Docker's json-file lines, as `run -d` does,
/// so `logs` shows it too. Returns the exit status.
pub fn tee_foreground(rec: &Record, l: Launched) -> berth_runtime::Result<i32> {
    let (size, files) = limits(rec);
    // No log (say, the disk is full) must not stop the container from being waited for.
    let mut w = Writer::open(&rec.log_path, size, files).ok();
    let mut bufs = [LineBuf::default(), LineBuf::default()];
    let name = |s: Stream| match s {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    };
    let mut log = |s: Stream, data: &[u8], flush: bool| {
        let Some(w) = w.as_mut() else { return };
        let b = &mut bufs[s as usize];
        let emit = |line: &[u8]| {
            let _ = w.write(name(s), line, now());
        };
        if flush {
            b.flush(emit);
        } else {
            b.push(data, emit);
        }
    };
    let status = berth_runtime::wait::forward_and_wait_tee(
        l.pid,
        Output {
            master: l.pty,
            stdout: l.out,
            stderr: l.err,
        },
        &mut |s, data| log(s, data, false),
    );
    for s in [Stream::Stdout, Stream::Stderr] {
        log(s, &[], true);
    }
    status
}
