//! `berth-monitor`: the loop of a detached container's monitor, as a binary of its own so
//! that the process that stays for the container's whole life is small. berth starts the
//! container, then executes this; when the container's init exits, this executes berth
//! again (same pid, still the init's parent) to record the exit and restart or clean up.

#[path = "hub.rs"]
mod hub;
#[path = "pump.rs"]
mod pump;
#[allow(dead_code)] // the engine's part of the crate's unsafe calls, unused here
#[path = "../sys.rs"]
mod sys;

use std::os::unix::process::CommandExt;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // berth-monitor loop ROOT ID PID LOCK OUT ERR STDIN MAXSIZE MAXFILES BERTH [HEALTH]
    if !(12..=13).contains(&args.len()) || args[1] != "loop" {
        eprintln!("berth-monitor is started by berth, not by hand");
        std::process::exit(2);
    }
    let a = &args[2..];
    let code = pump::loop_main(a).unwrap_or(255);
    let err = std::process::Command::new(&a[9])
        .arg0("berth-monitor")
        .args(["finish", &a[0], &a[1], &code.to_string(), &a[3]])
        .exec();
    eprintln!("berth-monitor: execute {}: {err}", a[9]);
    std::process::exit(1);
}
