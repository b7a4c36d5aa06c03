//! Healthchecks, run by the container's monitor rather than a daemon: the check's settings
//! live in the record as Docker's `Config.Healthcheck` (durations in nanoseconds), its state
//! as `State.Health` (`starting`, `healthy`, `unhealthy`, the failing streak, the last five
//! probes). The monitor's loop (monitor/pump.rs) runs a probe at each interval by executing
//! `berth-monitor health ROOT ID`, which lands in [`probe`]: the test runs in the container
//! as `berth exec` would run it, killed after the timeout; the result updates the record.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::container::Containers;

/// Docker's defaults: every 30 s, 30 s to answer, 3 failures in a row make it unhealthy.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETRIES: u32 = 3;
/// During the start period, probes come this often (Docker's `start_interval` default).
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);

/// `Config.Healthcheck`, as `docker inspect` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["CMD", args...]`, `["CMD-SHELL", "command"]`, or `["NONE"]` (disabled).
    pub test: Vec<String>,
    /// Nanoseconds; 0: the default.
    #[serde(default)]
    pub interval: u64,
    #[serde(default)]
    pub timeout: u64,
    #[serde(default)]
    pub start_period: u64,
    #[serde(default)]
    pub start_interval: u64,
    #[serde(default)]
    pub retries: u32,
}

/// The healthcheck a container gets from its image's and the one given (Docker's rule): the
/// given one wins; given timings without a test apply to the image's test.
pub fn merge(image: Option<HealthConfig>, given: Option<HealthConfig>) -> Option<HealthConfig> {
    match given {
        None => image,
        Some(g) if !g.test.is_empty() => Some(g),
        Some(g) => image.map(|i| {
            let pick = |a: u64, b: u64| if a == 0 { b } else { a };
            HealthConfig {
                test: i.test,
                interval: pick(g.interval, i.interval),
                timeout: pick(g.timeout, i.timeout),
                start_period: pick(g.start_period, i.start_period),
                start_interval: pick(g.start_interval, i.start_interval),
                retries: if g.retries == 0 { i.retries } else { g.retries },
            }
        }),
    }
}

impl HealthConfig {
    pub fn enabled(&self) -> bool {
        matches!(
            self.test.first().map(String::as_str),
            Some("CMD" | "CMD-SHELL")
        )
    }

    fn or(ns: u64, d: Duration) -> Duration {
        if ns == 0 {
            d
        } else {
            Duration::from_nanos(ns)
        }
    }

    pub fn interval(&self) -> Duration {
        Self::or(self.interval, DEFAULT_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        Self::or(self.timeout, DEFAULT_TIMEOUT)
    }
    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }
    pub fn start_interval(&self) -> Duration {
        Self::or(self.start_interval, DEFAULT_START_INTERVAL)
    }
    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }

    /// What the monitor's loop needs to schedule probes, in its argv:
    /// `INTERVAL_MS,START_PERIOD_MS,START_INTERVAL_MS`.
    pub fn schedule(&self) -> String {
        format!(
            "{},{},{}",
            self.interval().as_millis(),
            self.start_period().as_millis(),
            self.start_interval().as_millis()
        )
    }

    /// The command the probe runs in the container.
    pub fn command(&self) -> Vec<String> {
        match self.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), self.test[1..].join(" ")],
            Some("CMD") => self.test[1..].to_vec(),
            _ => Vec::new(),
        }
    }
}

/// One probe's result (`State.Health.Log[]`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthLog {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// `State.Health`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy, unhealthy
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthLog>,
}

impl Health {
    pub fn starting() -> Health {
        Health {
            status: "starting".into(),
            ..Health::default()
        }
    }
}

/// Reset at each start of the container: health is `starting` again. Returns the probe
/// schedule for the monitor, None without a healthcheck.
pub fn on_start(root: &Path, id: &str) -> Result<Option<String>> {
    let cs = Containers::new(root);
    let rec = cs.load(id)?;
    let Some(h) = rec.config.healthcheck.filter(HealthConfig::enabled) else {
        return Ok(None);
    };
    cs.update(id, |r| r.state.health = Some(Health::starting()))?;
    Ok(Some(h.schedule()))
}

/// At most this much of a probe's output is kept (Docker keeps 4 KiB).
const MAX_OUTPUT: usize = 4096;

/// Runs one probe of container `id` and records its result.
pub fn probe(root: &Path, id: &str) -> Result<bool> {
    let cs = Containers::new(root);
    let rec = cs.load(id)?;
    let Some(h) = rec.config.healthcheck.clone().filter(HealthConfig::enabled) else {
        return Ok(true);
    };
    let exe = std::fs::read_link("/proc/self/exe")?;
    let start = berth_runtime::state::now_rfc3339();
    let t0 = Instant::now();
    let mut child = Command::new(exe)
        .arg("--root")
        .arg(root)
        .arg("exec")
        .arg(id)
        .args(h.command())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Both streams into one buffer, read on threads so a chatty probe cannot block.
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            b
        })
    })
    .collect();
    let (code, timed_out) = loop {
        if let Some(st) = child.try_wait()? {
            break (st.code().unwrap_or(1), false);
        }
        if t0.elapsed() > h.timeout() {
            let _ = child.kill();
            let _ = child.wait();
            break (-1, true);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = Vec::new();
    for r in readers {
        out.extend(r.join().unwrap_or_default());
    }
    out.truncate(MAX_OUTPUT);
    let mut output = String::from_utf8_lossy(&out).into_owned();
    if timed_out {
        output = format!("Health check exceeded timeout ({:?})", h.timeout());
    }
    let end = berth_runtime::state::now_rfc3339();
    let in_start_period = crate::monitor::logs::parse_rfc3339(&rec.state.started_at)
        .zip(crate::monitor::logs::parse_rfc3339(&start))
        .is_some_and(|(s, n)| n - s < h.start_period().as_nanos() as i128);
    let mut settled = false;
    cs.update(id, |r| {
        let health = r.state.health.get_or_insert_with(Health::starting);
        health.log.push(HealthLog {
            start,
            end,
            exit_code: code,
            output,
        });
        let n = health.log.len();
        if n > 5 {
            health.log.drain(..n - 5);
        }
        if code == 0 {
            health.status = "healthy".into();
            health.failing_streak = 0;
        } else if !(in_start_period && health.status == "starting") {
            // Failures in the start period do not count until a probe has passed.
            health.failing_streak += 1;
            if health.failing_streak >= h.retries() {
                health.status = "unhealthy".into();
            }
        }
        settled = health.status != "starting";
    })?;
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_timings_apply_to_the_images_test_and_a_given_test_wins() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "probe".into()],
            interval: 5,
            timeout: 6,
            retries: 7,
            ..HealthConfig::default()
        };
        let timings = HealthConfig {
            interval: 1,
            ..HealthConfig::default()
        };
        let m = merge(Some(image.clone()), Some(timings.clone())).unwrap();
        assert_eq!(
            (m.test.clone(), m.interval, m.timeout, m.retries),
            (image.test.clone(), 1, 6, 7)
        );
        assert_eq!(merge(None, Some(timings)), None);
        assert_eq!(merge(Some(image.clone()), None), Some(image.clone()));
        let own = HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        };
        assert_eq!(merge(Some(image), Some(own.clone())), Some(own));
    }

    #[test]
    fn config() {
        let h = HealthConfig {
            test: vec!["CMD-SHELL".into(), "wget -q localhost".into()],
            interval: 1_000_000_000,
            ..HealthConfig::default()
        };
        assert!(h.enabled());
        assert_eq!(h.command(), vec!["/bin/sh", "-c", "wget -q localhost"]);
        assert_eq!(h.schedule(), "1000,0,5000");
        assert_eq!(h.retries(), 3);
        assert!(!HealthConfig {
            test: vec!["NONE".into()],
            ..h.clone()
        }
        .enabled());
        let c = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            ..h
        };
        assert_eq!(c.command(), vec!["true"]);
    }
}
