//! Container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2026-11-25T21:30:41.123456789Z"}`, rotated by
//! size into `container.log.1`, `.2`, ... (oldest has the highest number).
//!
//! The writer (pump.rs) runs in the monitor; this side reads, for `berth logs`.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

pub use super::pump::now;

/// One parsed entry.
pub struct Entry {
    pub stream: String,
    pub log: String,
    pub time: String,
}

fn parse_entry(line: &str) -> Option<Entry> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(Entry {
        stream: v["stream"].as_str()?.to_string(),
        log: v["log"].as_str()?.to_string(),
        time: v["time"].as_str().unwrap_or_default().to_string(),
    })
}

/// The log files of a container, oldest first.
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for i in (1..100).rev() {
        let p = PathBuf::from(format!("{}.{i}", path.display()));
        if p.exists() {
            v.push(p);
        }
    }
    v.push(path.to_path_buf());
    v
}

/// Parses RFC 3339 (`2026-11-25T21:30:41.5Z`, `...+01:00`; `t` or a space for `T`, `z` for
/// `Z`) into nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i128> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
}

/// `--since`: RFC 3339, Unix seconds (with fraction), or a duration ago (`10m`, `1h30m`, `45s`).
pub fn parse_since(s: &str, now: Duration) -> Result<i128> {
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1e9) as i128);
    }
    let d = parse_duration(s).with_context(|| {
        format!("--since {s:?}: want a timestamp (RFC 3339 or Unix seconds) or a duration like 10m")
    })?;
    Ok(now.as_nanos() as i128 - d.as_nanos() as i128)
}

/// Go-style durations: `300ms`, `10s`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    if s.is_empty() {
        bail!("empty duration");
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = num.parse().with_context(|| format!("duration {s:?}"))?;
        num.clear();
        total += n * match unit.as_str() {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => bail!("duration {s:?}: unknown unit {unit:?} (ms, s, m, h)"),
        };
    }
    if !num.is_empty() {
        bail!("duration {s:?}: a number needs a unit (ms, s, m, h)");
    }
    Ok(Duration::from_secs_f64(total))
}

pub struct ReadOpts {
    pub tail: Option<usize>,
    pub since: Option<i128>,
    pub timestamps: bool,
}

fn print_entry(e: &Entry, o: &ReadOpts) {
    let text = if o.timestamps {
        format!("{} {}", e.time, e.log)
    } else {
        e.log.clone()
    };
    if e.stream == "stderr" {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

fn wanted(e: &Entry, o: &ReadOpts) -> bool {
    match o.since {
        Some(since) => parse_rfc3339(&e.time).is_some_and(|t| t >= since),
        None => true,
    }
}

/// Prints the log; with `follow`, keeps printing while `alive()` says the container runs.
pub fn read(path: &Path, o: &ReadOpts, follow: bool, alive: impl Fn() -> bool) -> Result<()> {
    read_with(path, o, follow, alive, &mut |e| print_entry(e, o))
}

/// As [`read`], each entry handed to `sink` instead of printed (compose prefixes them).
pub fn read_with(
    path: &Path,
    o: &ReadOpts,
    follow: bool,
    alive: impl Fn() -> bool,
    sink: &mut dyn FnMut(&Entry),
) -> Result<()> {
    let mut entries: Vec<Entry> = Vec::new();
    // The live file is read through the handle that is then followed, and following starts
    // where reading stopped: a line written in between is neither lost nor shown twice.
    let mut live: Option<(File, u64, u64)> = None;
    for f in files(path) {
        let Ok(mut file) = File::open(&f) else {
            continue;
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut file, &mut text)
            .with_context(|| format!("read {}", f.display()))?;
        // A last line without its newline is still being written: the follower takes it.
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        for line in text[..whole].lines() {
            if let Some(e) = parse_entry(line) {
                if wanted(&e, o) {
                    entries.push(e);
                }
            }
        }
        if f == path {
            if let Ok(m) = file.metadata() {
                live = Some((file, std::os::unix::fs::MetadataExt::ino(&m), whole as u64));
            }
        }
    }
    let skip = o.tail.map_or(0, |n| entries.len().saturating_sub(n));
    for e in &entries[skip..] {
        sink(e);
    }
    if !follow {
        return Ok(());
    }
    // Follow the live file; reopen it when rotation replaces it.
    let open = || -> Option<(File, u64)> {
        let f = File::open(path).ok()?;
        let ino = std::os::unix::fs::MetadataExt::ino(&f.metadata().ok()?);
        Some((f, ino))
    };
    let (mut file, mut ino, mut pos) = match live {
        Some(x) => x,
        // Not written yet (a monitor that just started): wait for it while the container runs.
        None => loop {
            if let Some((f, i)) = open() {
                break (f, i, 0);
            }
            if !alive() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        },
    };
    let mut pending = String::new();
    loop {
        let running = alive();
        file.seek(SeekFrom::Start(pos))?;
        let mut chunk = String::new();
        let n = std::io::Read::read_to_string(&mut file, &mut chunk).unwrap_or(0);
        pos += n as u64;
        pending.push_str(&chunk);
        while let Some(i) = pending.find('\n') {
            let line: String = pending.drain(..=i).collect();
            if let Some(e) = parse_entry(line.trim_end()) {
                if wanted(&e, o) {
                    sink(&e);
                }
            }
        }
        if let Some((f, i)) = open() {
            if i != ino {
                // Rotated: finish the old file next round from 0 of the new one.
                file = f;
                ino = i;
                pos = 0;
                continue;
            }
        }
        if !running && n == 0 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::pump::{LineBuf, Writer, MAX_LINE};

    #[test]
    fn writes_docker_json_lines_and_rotates() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.log");
        let mut w = Writer::open(&p, 200, 3).unwrap();
        for i in 0..10 {
            w.write("stdout", format!("line \"{i}\"\n").as_bytes(), now())
                .unwrap();
        }
        let fs = files(&p);
        assert_eq!(fs.len(), 3, "{fs:?}");
        let last = std::fs::read_to_string(&p).unwrap();
        let e = parse_entry(last.lines().last().unwrap()).unwrap();
        assert_eq!(e.log, "line \"9\"\n");
        assert_eq!(e.stream, "stdout");
        assert!(parse_rfc3339(&e.time).is_some());
    }

    #[test]
    fn lines_split_at_newlines_and_16k() {
        let mut lb = LineBuf::default();
        let mut got = Vec::new();
        lb.push(b"a\nb", |l| got.push(l.to_vec()));
        lb.push(b"c\n", |l| got.push(l.to_vec()));
        assert_eq!(got, vec![b"a\n".to_vec(), b"bc\n".to_vec()]);
        got.clear();
        lb.push(&vec![b'x'; MAX_LINE + 5], |l| got.push(l.to_vec()));
        assert_eq!(got.len(), 1);
        lb.flush(|l| got.push(l.to_vec()));
        assert_eq!(got[1].len(), 5);
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(
            parse_rfc3339("1970-01-01T01:00:01.5+01:00"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00+01:00"),
            Some(1_767_222_000_000_000_000)
        );
        assert_eq!(parse_rfc3339("1970-01-01 00:00:01z"), Some(1_000_000_000));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00"), None);
        let t = berth_runtime::state::rfc3339(Duration::new(1_764_106_241, 7));
        assert_eq!(parse_rfc3339(&t), Some(1_764_106_241_000_000_007));
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("300ms").unwrap().as_millis(), 300);
        assert!(parse_duration("10").is_err());
        let now = Duration::from_secs(1000);
        assert_eq!(parse_since("10s", now).unwrap(), 990_000_000_000);
    }
}
