//! A container's life after create: the end of a run (record the exit, restart or tear
//! down), stop/kill/remove, and healing what a killed berth or monitor left behind.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use berth_image::rootfs;
use berth_runtime::container as rt;
use berth_runtime::state::Status as RtStatus;
use nix::fcntl::FlockArg;

use super::base::{is_mountpoint, lock_existing, runtime_root};
use super::container::{CState, Containers, Record, Status, ZERO_TIME};
use super::fsutil;
use super::summary::{self, Summary};
use super::teardown::{teardown, Level};

/// Whether something (a monitor, a foreground `berth run`) holds the container's `.lock`.
/// A container whose directory (or lock) is gone is watched by no one: it was removed.
pub fn watched(cs: &Containers, id: &str) -> bool {
    lock_existing(&cs.dir_of(id), ".lock", FlockArg::LockSharedNonblock).is_err()
}

/// Whether the container's init is alive (runtime state and the kernel agree).
pub fn init_alive(cs: &Containers, id: &str) -> bool {
    rt::state(&runtime_root(&cs.root), id).is_ok_and(|s| {
        matches!(
            s.status,
            RtStatus::Running | RtStatus::Paused | RtStatus::Created
        )
    })
}

/// The cgroup file of a container, on v2 or (hybrid, v1) under the controller's hierarchy.
pub fn cgroup_file(cg: &Path, controller: &str, v2: &str, v1: &str) -> Option<std::path::PathBuf> {
    let rel = cg.strip_prefix("/").unwrap_or(cg);
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return Some(base.join(rel).join(v2));
    }
    let p = base.join(controller).join(rel).join(v1);
    p.exists().then_some(p)
}

/// Whether the kernel's OOM killer killed anything in the container's cgroup.
fn oom_killed(cs: &Containers, id: &str) -> bool {
    let Ok(st) = rt::state(&runtime_root(&cs.root), id) else {
        return false;
    };
    let Some(f) = cgroup_file(
        &st.cgroup.path,
        "memory",
        "memory.events",
        "memory.oom_control",
    ) else {
        return false;
    };
    std::fs::read_to_string(f).is_ok_and(|t| {
        t.lines().any(|l| {
            l.strip_prefix("oom_kill ")
                .is_some_and(|n| n.trim().parse::<u64>().unwrap_or(0) > 0)
        })
    })
}

fn mark_exited(s: &mut CState, code: i32) {
    s.status = Status::Exited;
    s.running = false;
    s.paused = false;
    s.restarting = false;
    s.pid = 0;
    s.exit_code = code;
    s.finished_at = berth_runtime::state::now_rfc3339();
}

/// Records the end of a run: exit status, time, OOM kill; removes the runtime container.
/// With `monitored`, the restart policy applies: returns the delay before the restart.
/// Otherwise the overlay is unmounted, and an `--rm` container removed.
pub fn finish(cs: &Containers, id: &str, code: i32, monitored: bool) -> Result<Option<Duration>> {
    let oom = oom_killed(cs, id);
    let errs = teardown(cs, id, Level::Processes);
    let rec = cs.update(id, |r| {
        mark_exited(&mut r.state, code);
        r.state.oom_killed = oom;
        r.state.error = errs.0.join("; ");
    })?;
    if monitored
        && rec.host_config.restart_policy.restarts(
            code,
            rec.state.manually_stopped,
            rec.restart_count,
        )
    {
        let rec = cs.update(id, |r| {
            r.state.status = Status::Restarting;
            r.state.restarting = true;
            r.restart_count += 1;
        })?;
        let n = rec.restart_count.saturating_sub(1).min(7);
        return Ok(Some(Duration::from_millis(100 << n)));
    }
    berth_runtime::debug::step("finish: exit recorded");
    // An --rm container goes whole (remove_dir unmounts too); others keep their record.
    if rec.host_config.auto_remove {
        remove_dir(cs, id, true)?;
    } else {
        release(cs, id)?;
    }
    berth_runtime::debug::step("finish: released");
    Ok(None)
}

/// Unmounts the container's root and marks it unwatched: what a stopped container keeps is
/// its directory and record.
pub fn release(cs: &Containers, id: &str) -> Result<()> {
    teardown(cs, id, Level::Stopped).into_result(id)?;
    cs.update(id, |r| {
        r.state.monitor_pid = 0;
        if r.state.status == Status::Restarting {
            r.state.status = Status::Exited;
            r.state.restarting = false;
        }
    })?;
    Ok(())
}

/// A start that failed: the record says why, with the exit status berth returned.
pub fn record_failed_start(cs: &Containers, id: &str, code: i32, msg: &str) -> Result<()> {
    cs.update(id, |r| {
        let s = &mut r.state;
        s.status = if s.started_at == ZERO_TIME {
            Status::Created
        } else {
            Status::Exited
        };
        s.running = false;
        s.restarting = false;
        s.pid = 0;
        s.exit_code = code;
        s.error = msg.to_string();
    })?;
    Ok(())
}

/// Removes every trace of a container (teardown.rs): processes, cgroup, mounts, its
/// directory (renamed into the trash first, so the container vanishes at once and nobody
/// re-creates a file inside a directory being deleted), and with `volumes` its anonymous
/// volumes. The caller made sure nothing else watches it. A root that cannot be unmounted
/// keeps the container, to be retried.
pub fn remove_dir(cs: &Containers, id: &str, volumes: bool) -> Result<()> {
    let rec = cs.load(id).ok();
    teardown(cs, id, Level::Removed { volumes }).into_result(id)?;
    if let Some(rec) = rec.filter(|r| r.state.status != Status::Creating) {
        super::events::container(&cs.root, &rec, "destroy", &[]);
    }
    Ok(())
}

/// SIGKILL to every process of the container: through the runtime, or, when its state is
/// gone, through the cgroup named after the id.
fn kill_all(cs: &Containers, id: &str) {
    let sig = nix::sys::signal::Signal::SIGKILL;
    if rt::kill_container(&runtime_root(&cs.root), id, sig, true).is_ok() {
        return;
    }
    let rel = Path::new("berth").join(id);
    for h in ["", "pids", "memory", "freezer", "unified"] {
        let dir = Path::new("/sys/fs/cgroup").join(h).join(&rel);
        if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            }
            return;
        }
    }
}

/// Waits until nothing watches the container (its monitor has exited), up to `limit`,
/// calling `tick` between tries. The lock file is opened once and the flock tried on that
/// descriptor: a monitor that removes an `--rm` container renames its directory away before
/// it exits, and only its exit releases the lock, so a path-based check would return while
/// the monitor still runs.
fn wait_for_watcher(cs: &Containers, id: &str, limit: Duration, mut tick: impl FnMut()) -> bool {
    let p = cs.dir_of(id).join(".lock");
    let Ok(mut f) = std::fs::File::open(&p) else {
        return true; // no lock file: removed, or never watched
    };
    let t = Instant::now();
    loop {
        match nix::fcntl::Flock::lock(f, FlockArg::LockSharedNonblock) {
            Ok(_) => return true,
            Err((back, _)) => f = back,
        }
        if t.elapsed() > limit {
            return false;
        }
        tick();
        // A killed monitor is gone within a millisecond or two; a stopping one takes longer.
        let ms = if t.elapsed() < Duration::from_millis(20) {
            1
        } else {
            5
        };
        std::thread::sleep(Duration::from_millis(ms));
    }
}

fn wait_unwatched(cs: &Containers, id: &str, limit: Duration) -> bool {
    wait_for_watcher(cs, id, limit, || {})
}

/// `rm`: refuses a running container unless `force` (then kills it first).
pub fn remove(cs: &Containers, id: &str, force: bool, volumes: bool) -> Result<()> {
    let rec = cs.load(id)?;
    let mut status = current_status(cs, &rec);
    if status == Status::Exited && !force && watched(cs, id) {
        // Its monitor recorded the exit and is still unmounting: a moment, then look again
        // (it may also be restarting the container).
        wait_unwatched(cs, id, Duration::from_secs(10));
        status = current_status(cs, &cs.load(id)?);
    }
    // A "created" container that is watched is being started by its monitor right now.
    let busy = !matches!(status, Status::Exited | Status::Created) || watched(cs, id);
    if busy && !force {
        bail!(
            "container {} is {status}: stop it first or use rm -f",
            rec.bare_name()
        );
    }
    if busy {
        cs.update(id, |r| r.state.manually_stopped = true)?;
        // Frozen processes do not die until thawed.
        let _ = rt::pause(&runtime_root(&cs.root), id, false);
        // The container goes whole, so its monitor's own finish (execute berth, record the
        // exit, tear down) would only be undone: the monitor goes first, and this teardown
        // does it all. A foreground `berth run` watching it is left to finish its run.
        berth_runtime::debug::step("rm: killing the monitor");
        let monitor = kill_monitor(rec.state.monitor_pid, id);
        // The init next, at once: the kernel's teardown of its namespaces (a millisecond)
        // then runs while we wait for the monitor, instead of after the runtime's delete
        // kills it. The monitor is dead or dying by now: it cannot take the exit for a
        // stop of its own and restart the container.
        let _ = rt::kill_container(
            &runtime_root(&cs.root),
            id,
            nix::sys::signal::Signal::SIGKILL,
            false,
        );
        if let Some(gone) = monitor {
            // Its exit releases the container's lock: waiting on its pidfd sees that at once,
            // where the flock tries below would sleep a millisecond at a time.
            use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
            use std::os::fd::AsFd;
            let _ = poll(
                &mut [PollFd::new(gone.as_fd(), PollFlags::POLLIN)],
                PollTimeout::from(200u16),
            );
            berth_runtime::debug::step("rm: monitor gone");
        }
    }
    // Wait for the watcher to finish; with force, keep killing: a monitor that was still
    // starting the container when we first looked may start it after our first kill.
    let mut n = 0u32;
    let stopped = wait_for_watcher(cs, id, Duration::from_secs(30), || {
        n += 1;
        if busy && n % 4 == 1 {
            kill_all(cs, id);
        }
    });
    if !stopped {
        bail!("container {} did not stop", rec.bare_name());
    }
    berth_runtime::debug::step("rm: unwatched");
    let _set = cs.lock_set()?;
    // An --rm container's anonymous volumes go with it, as its monitor would have done.
    remove_dir(cs, id, volumes || rec.host_config.auto_remove)
}

/// SIGKILL to the container's monitor process, if `pid` is still the monitor of `id` (its
/// command line says so: a reused pid is left alone). Returns a pidfd of the killed monitor,
/// opened before the check, so it is of that very process.
fn kill_monitor(pid: i32, id: &str) -> Option<std::os::fd::OwnedFd> {
    if pid <= 0 {
        return None;
    }
    let pidfd = berth_runtime::pidfd_open(pid).ok();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut args = cmdline.split(|b| *b == 0);
    let is_monitor = args.next() == Some(super::super::monitor::ARGV0.as_bytes())
        && args.any(|a| a == id.as_bytes());
    if !is_monitor {
        return None;
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    pidfd
}

/// The status a container is in now: the record, corrected by the kernel when nothing
/// watches it any more (a killed monitor).
pub fn current_status(cs: &Containers, rec: &Record) -> Status {
    current_status_of(cs, &rec.id, rec.state.status)
}

/// `current_status` of container `id` whose record says `s`.
pub fn current_status_of(cs: &Containers, id: &str, s: Status) -> Status {
    if !s.is_up() || watched(cs, id) {
        return s;
    }
    match rt::state(&runtime_root(&cs.root), id).map(|s| s.status) {
        Ok(RtStatus::Paused) => Status::Paused,
        Ok(RtStatus::Running | RtStatus::Created) => Status::Running,
        _ => Status::Exited,
    }
}

/// Signals the container's init (`all`: every process in its cgroup).
pub fn signal(cs: &Containers, id: &str, sig: nix::sys::signal::Signal, all: bool) -> Result<()> {
    rt::kill_container(&runtime_root(&cs.root), id, sig, all)?;
    if let Ok(rec) = cs.load(id) {
        super::events::container(
            &cs.root,
            &rec,
            "kill",
            &[("signal", (sig as i32).to_string())],
        );
    }
    Ok(())
}

/// Whether a signal sent to `pid` now would reach it: false only when `pid` is the init of
/// its own pid namespace and has no handler for `sig` (the kernel drops such a signal), or
/// when it is gone.
fn takes_signal(pid: i32, sig: nix::sys::signal::Signal) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    if field("NSpid:").and_then(|v| v.split_whitespace().last()) != Some("1") {
        return true; // not a namespace's init: the default action applies
    }
    let bit = 1u64 << (sig as i32 - 1);
    field("SigCgt:")
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .is_some_and(|mask| mask & bit != 0)
}

/// `stop`: the stop signal, then SIGKILL after `timeout`; returns once the exit is recorded.
pub fn stop(cs: &Containers, rec: &Record, timeout: Duration) -> Result<()> {
    let id = &rec.id;
    cs.update(id, |r| r.state.manually_stopped = true)?;
    if current_status(cs, rec) == Status::Paused {
        let _ = rt::pause(&runtime_root(&cs.root), id, false);
    }
    let sig = rt::parse_signal(&rec.config.stop_signal)?;
    let gone = |cs: &Containers| !init_alive(cs, id);
    if !gone(cs) {
        let init = rt::state(&runtime_root(&cs.root), id).map_or(0, |s| s.pid);
        let _ = signal(cs, id, sig, false);
        // The init of a pid namespace gets only the signals it has a handler for: the kernel
        // drops the rest, it does not queue them. A process stopped while it is still
        // starting (a Python app that sets its SIGTERM handler after its imports) would
        // otherwise never see the signal and be killed at the end of the grace period. So
        // the signal goes again once the init can take it: never twice to one that took it.
        let mut dropped = init > 0 && !takes_signal(init, sig);
        let t = Instant::now();
        while !gone(cs) && t.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(10));
            if dropped && takes_signal(init, sig) {
                let _ = rt::kill_container(&runtime_root(&cs.root), id, sig, false);
                dropped = false;
            }
        }
        if !gone(cs) {
            kill_all(cs, id);
        }
    }
    if !wait_unwatched(cs, id, Duration::from_secs(30)) {
        bail!("container {} did not stop", rec.bare_name());
    }
    heal_one(cs, id);
    super::events::container(
        &cs.root,
        &cs.load(id).unwrap_or_else(|_| rec.clone()),
        "stop",
        &[],
    );
    Ok(())
}

/// Heals one container nothing watches: a half-made one goes; one whose monitor died gets
/// its exit recorded once its init is gone; a stopped one loses leftover mounts.
/// Heals container `id`; returns its record when it was read and left as it was (so a
/// listing need not read it again; a watched one's as read without its lock), None when it
/// changed or went.
fn heal_one(cs: &Containers, id: &str) -> Option<Record> {
    // Most records need nothing: a created or stopped container whose rootfs is not mounted.
    // Those are read without taking the container's lock (a record is replaced whole, never
    // written in place); anything else is looked at again under the lock.
    let unlocked = cs.load(id).ok();
    if unlocked.as_ref().is_some_and(|r| at_rest(cs, r)) {
        return unlocked;
    }
    let _lock = match lock_existing(&cs.dir_of(id), ".lock", FlockArg::LockExclusiveNonblock) {
        Ok(Some(l)) => l,
        Ok(None) => {
            // Gone already, or a `berth run` killed between mkdir and lock.
            if cs.dir_of(id).exists() {
                note_errors(cs, id, remove_dir(cs, id, true));
            }
            return None;
        }
        Err(_) => return unlocked, // watched: its monitor keeps the record true
    };
    let rec = match cs.load(id) {
        Ok(r) if r.state.status != Status::Creating => r,
        // A `berth run` killed before the container was made.
        _ => {
            note_errors(cs, id, remove_dir(cs, id, true));
            return None;
        }
    };
    if rec.config.labels.contains_key(super::build::STEP_LABEL) {
        // A build step whose build was killed (it held the lock): nothing will use it.
        let errs = teardown(cs, id, Level::Processes);
        note_errors(cs, id, errs.into_result(id));
        note_errors(cs, id, remove_dir(cs, id, true));
        return None;
    }
    if rec.state.status.is_up() {
        if init_alive(cs, id) {
            return Some(rec); // the truth: it runs, unwatched
        }
        let code = if rec.state.status == Status::Restarting {
            rec.state.exit_code
        } else {
            255
        };
        let errs = teardown(cs, id, Level::Processes);
        note_errors(
            cs,
            id,
            cs.update(id, |r| {
                mark_exited(&mut r.state, code);
                if code == 255 {
                    r.state.error =
                        "the container's monitor died; its exit status is unknown".into();
                }
            })
            .map(|_| ()),
        );
        note_errors(cs, id, errs.into_result(id));
        if rec.host_config.auto_remove {
            note_errors(cs, id, remove_dir(cs, id, true));
        }
        return None;
    }
    let (_, _, rootfs_dir) = rootfs::paths(&cs.dir_of(id));
    if is_mountpoint(&rootfs_dir) {
        note_errors(cs, id, release(cs, id));
        return None;
    }
    Some(rec)
}

/// A record heal has nothing to do for: not running or being made, not a build step, its
/// rootfs not mounted.
fn at_rest(cs: &Containers, rec: &Record) -> bool {
    settled(
        rec.state.status,
        rec.config.labels.contains_key(super::build::STEP_LABEL),
    ) && !is_mountpoint(&rootfs::paths(&cs.dir_of(&rec.id)).2)
}

/// `at_rest` but for the mount: a status no process stands behind, not a build step's.
fn settled(status: Status, build_step: bool) -> bool {
    !status.is_up() && status != Status::Creating && !build_step
}

/// Heal runs for whatever command comes next and must not fail it: what it could not
/// undo is written into the container's record (State.Error), where `inspect` shows it.
fn note_errors(cs: &Containers, id: &str, res: Result<()>) {
    if let Err(e) = res {
        let msg = crate::text::error_chain(&e);
        if cs.update(id, |r| r.state.error = msg.clone()).is_err() {
            // No record left to hold it: say it on stderr, once.
            eprintln!("berth: warning: {msg}");
        }
    }
}

/// Removes or records what killed berth processes and monitors left behind.
pub fn heal(root: &Path) -> Result<()> {
    heal_each(root, false, |_| {})
}

/// `heal`, then every container's summary, oldest first (`ps`).
pub fn heal_and_list(root: &Path) -> Result<Vec<Summary>> {
    let mut all = Vec::new();
    heal_each(root, true, |s| all.push(s.clone()))?;
    all.sort_by(|a, b| a.created.cmp(&b.created));
    Ok(all)
}

/// Heals every container under the set's lock, handing the summary of each that is left to
/// `f`; then the networks. A container whose cached summary (summary.rs) is still that of
/// its record, and which is at rest, costs one statx(2): its record is not read. Only a
/// list (`list`) writes the cache: the other verbs leave the root as they found it, but
/// for what they did.
fn heal_each(root: &Path, list: bool, mut f: impl FnMut(&Summary)) -> Result<()> {
    fsutil::empty_trash(root);
    let cs = Containers::new(root);
    if !cs.dir.exists() {
        return Ok(());
    }
    let set = cs.lock_set()?;
    let mut cache = summary::Cache::open(&cs, cs.generation());
    // Unchanged since the cache was written: its ids are all there are, and its entries of
    // containers at rest are theirs (summary.rs).
    let current = cache.current();
    let ids = if current { cache.ids() } else { cs.ids() };
    for id in &ids {
        if let Some(s) = cache
            .entry(id)
            .filter(|s| current && settled(s.status, s.is_build_step()))
        {
            f(s);
            continue;
        }
        let mut key = cache.key(id);
        if let Some(s) = key.and_then(|k| cache.get(id, k)) {
            if settled(s.status, s.is_build_step()) && !cache.rootfs_mounted(&cs, id) {
                f(s);
                continue;
            }
        }
        let rec = match heal_one(&cs, id) {
            Some(r) => Some(r),
            None => {
                // Changed or gone: its key again, before it is read again.
                key = cache.key(id);
                cs.load(id).ok()
            }
        };
        if let Some(rec) = rec {
            let s = Summary::of(&rec);
            f(&s);
            if let Some(k) = key {
                cache.put(k, s);
            }
        }
    }
    if list {
        cache.store(&ids);
    }
    drop(set);
    super::network::heal(root);
    Ok(())
}

/// `heal` of one container only, for a verb that reads just that one (`inspect`): its cost
/// does not grow with the number of containers, and one at rest costs nothing more. Returns
/// the record as it is after, None when heal removed the container.
pub fn heal_container(cs: &Containers, rec: Record) -> Result<Option<Record>> {
    if at_rest(cs, &rec) {
        return Ok(Some(rec));
    }
    let _set = cs.lock_set()?;
    Ok(heal_one(cs, &rec.id).or_else(|| cs.load(&rec.id).ok()))
}

/// `pause`/`unpause`: freezes or thaws the container's cgroup and records it.
pub fn pause(cs: &Containers, id: &str, frozen: bool) -> Result<()> {
    rt::pause(&runtime_root(&cs.root), id, frozen)?;
    cs.update(id, |r| {
        r.state.status = if frozen {
            Status::Paused
        } else {
            Status::Running
        };
        r.state.paused = frozen;
    })?;
    Ok(())
}

/// The processes in the container's cgroup.
pub fn pids(cs: &Containers, id: &str) -> Result<Vec<i32>> {
    Ok(rt::ps(&runtime_root(&cs.root), id)?)
}

/// One reading of a container's cgroup counters.
#[derive(Default)]
pub struct Sample {
    pub cpu_ns: Option<u64>,
    pub mem: u64,
    pub mem_limit: Option<u64>,
    pub pids: u64,
}

pub fn sample(cs: &Containers, id: &str) -> Sample {
    let Ok(st) = rt::state(&runtime_root(&cs.root), id) else {
        return Sample::default();
    };
    let cg = &st.cgroup.path;
    let read = |ctl: &str, v2: &str, v1: &str| -> Option<String> {
        std::fs::read_to_string(cgroup_file(cg, ctl, v2, v1)?).ok()
    };
    let num = |s: Option<String>| s.and_then(|t| t.trim().parse::<u64>().ok());
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let cpu_ns = if v2 {
        read("cpu", "cpu.stat", "").and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .map(|us| us * 1000)
        })
    } else {
        num(read("cpuacct", "", "cpuacct.usage"))
    };
    let mem = num(read("memory", "memory.current", "memory.usage_in_bytes")).unwrap_or(0);
    let mem_limit =
        num(read("memory", "memory.max", "memory.limit_in_bytes")).filter(|l| *l < (1u64 << 62));
    let pids = num(read("pids", "pids.current", "pids.current")).unwrap_or(0);
    Sample {
        cpu_ns,
        mem,
        mem_limit,
        pids,
    }
}
