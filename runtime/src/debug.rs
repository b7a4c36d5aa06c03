//! `--debug`: timestamps of the steps the runtime takes, on stderr, to see where a container
//! start spends its time without a profiler.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Environment variable carrying the parent's start time into a re-executed init.
pub const ENV: &str = "_BERTH_DEBUG_T0";

static ON: AtomicBool = AtomicBool::new(false);
/// CLOCK_MONOTONIC at the start of the command, in ns: the init gets it from its parent so
/// both print on one time line.
static T0: AtomicU64 = AtomicU64::new(0);

fn now_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

pub fn enable() {
    enable_since(now_ns());
}

/// Turns debugging on with the parent's start time (in the init).
pub fn enable_since(t0_ns: u64) {
    T0.store(t0_ns, Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
}

/// The start time to hand to a child, when debugging is on.
pub fn base() -> Option<u64> {
    on().then(|| T0.load(Ordering::Relaxed))
}

pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Prints `+<ms since start> <what>` when debugging is on.
pub fn step(what: &str) {
    if on() {
        let ms = now_ns().saturating_sub(T0.load(Ordering::Relaxed)) as f64 / 1e6;
        // One write(2) per line: the init and its parent share stderr.
        let line = format!("berth-runtime: debug: +{ms:.3}ms {what}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
}
