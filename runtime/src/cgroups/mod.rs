//! Container cgroups on v1, v2 and hybrid hosts.
//!
//! libcgroups applies resources on v2, freezes and lists pids; on v1 the resources are
//! written by `v1.rs` (libcgroups' v1 manager costs more to open than the rest of `create`),
//! and `remove` takes the directories away on both. Creating the
//! directories and joining are done here, because joining is the hot spot of container start:
//! on v1 a parent writing a pid into `cgroup.procs` waits for the kernel's global threadgroup
//! lock and an RCU grace period (6-11 ms here), while a single-threaded child writing `0` into
//! each controller's `tasks` moves only itself and skips that lock (`cgroup_procs_write_start`
//! in kernel/cgroup/cgroup.c). On v2 the child is born inside the cgroup (clone3 with
//! CLONE_INTO_CGROUP), which needs no write at all.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libcgroups::common::{
    create_cgroup_manager, get_cgroup_setup, AnyCgroupManager, CgroupConfig, CgroupManager,
    CgroupSetup, ControllerOpt, FreezerState,
};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxResources, Spec};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::CgroupRecord;

mod devices;
mod v1;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Parent of every container cgroup that has no `cgroupsPath` of its own.
const DEFAULT_PARENT: &str = "berth";
/// v1 controllers berth manages; the same set libcgroups' v1 manager removes.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// How the init joins its cgroup.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub enum Join {
    /// Write `0` into each of these `tasks` files from the still single-threaded init (v1).
    Tasks(Vec<PathBuf>),
    /// Already done: born into the cgroup (v2 clone3) or moved by the parent.
    #[default]
    Done,
}

/// `linux.cgroupsPath` from the spec, or `/<id>` (as crun; the runtime spec leaves it to the
/// runtime). Relative paths are taken below the hierarchy roots too (runc makes them
/// relative to its own cgroup; for a root CLI started from a login shell that would scatter
/// containers under user sessions).
///
/// berth's engine asks for `shared_path(id)`, `/berth/<id>`: its containers share one
/// parent, made by the first and removed by the last (`remove`). A bundle that says nothing
/// gets no parent to make and remove on each run.
pub fn path_for(spec: &Spec, id: &str) -> PathBuf {
    let p = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_else(|| PathBuf::from(id));
    Path::new("/").join(p)
}

/// The cgroupsPath of a container of berth's engine: below the shared `berth` parent.
pub fn shared_path(id: &str) -> String {
    format!("/{DEFAULT_PARENT}/{id}")
}

/// The cgroup setup and the v1 hierarchies are read once per process: they are mounted at
/// boot and do not move while a command runs, and each read of /proc/self/mountinfo costs
/// ~0.1 ms (a `run` needed four). An init gets its parent's list with its config
/// (`seed_v1_hierarchies`); its mount namespace is a copy of the parent's.
static UNIFIED: OnceLock<bool> = OnceLock::new();
static V1_HIERARCHIES: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();

pub fn is_unified() -> Result<bool> {
    if let Some(u) = UNIFIED.get() {
        return Ok(*u);
    }
    let u = match get_cgroup_setup() {
        Ok(CgroupSetup::Unified) => true,
        Ok(_) => false,
        Err(e) => {
            return Err(Error::Cgroup {
                path: CGROUP_ROOT.into(),
                msg: format!("detect cgroup setup: {e}"),
            })
        }
    };
    Ok(*UNIFIED.get_or_init(|| u))
}

/// Every cgroup v1 hierarchy mounted here: (mount point, super options such as
/// "rw,memory"), from /proc/self/mountinfo (proc(5)); read once per process.
pub fn v1_hierarchies() -> Result<Vec<(PathBuf, String)>> {
    if let Some(v) = V1_HIERARCHIES.get() {
        return Ok(v.clone());
    }
    let v = read_v1_hierarchies()?;
    Ok(V1_HIERARCHIES.get_or_init(|| v).clone())
}

/// Gives an init the hierarchies its parent read (see `V1_HIERARCHIES`).
pub fn seed_v1_hierarchies(list: Vec<(PathBuf, String)>) {
    let _ = V1_HIERARCHIES.set(list);
}

fn read_v1_hierarchies() -> Result<Vec<(PathBuf, String)>> {
    let info = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for line in info.lines() {
        // fields: id parent major:minor root mount_point opts [optional...] - fstype source super
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let opts = r.nth(1).unwrap_or("").to_string();
        if let Some(mp) = left.split(' ').nth(4) {
            let mp = PathBuf::from(mp);
            if !out.iter().any(|(m, _)| *m == mp) {
                out.push((mp, opts));
            }
        }
    }
    Ok(out)
}

/// Mount points of the v1 hierarchies that carry one of our controllers.
fn v1_mounts() -> Result<Vec<PathBuf>> {
    Ok(v1_hierarchies()?
        .into_iter()
        .filter(|(_, opts)| opts.split(',').any(|o| V1_CONTROLLERS.contains(&o)))
        .map(|(mp, _)| mp)
        .collect())
}

fn cg_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Cgroup {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

/// A step of making the directories failed: `vanished` when a directory on the way was
/// removed under us (ENOENT), which another container's delete does to a shared, empty
/// parent; the whole walk then starts over from the top.
struct MakeErr {
    vanished: bool,
    err: Error,
}

impl MakeErr {
    fn new(path: &Path, e: std::io::Error) -> MakeErr {
        MakeErr::op(path, "create", e)
    }
    fn op(path: &Path, what: &str, e: std::io::Error) -> MakeErr {
        MakeErr {
            vanished: e.kind() == std::io::ErrorKind::NotFound,
            err: cg_err(path, format!("{what}: {e}")),
        }
    }
}

/// mkdir -p below `base`, recording the directories this call created (deepest first).
fn mkdir_below(
    base: &Path,
    rel: &Path,
    created: &mut Vec<PathBuf>,
) -> std::result::Result<(), MakeErr> {
    let mut cur = base.to_path_buf();
    for comp in rel
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
    {
        cur.push(comp);
        match fs::create_dir(&cur) {
            Ok(()) => created.insert(0, cur.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(MakeErr::new(&cur, e)),
        }
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks: copy the parent's.
fn fill_cpuset(dir: &Path) -> std::result::Result<(), MakeErr> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let p = dir.join(file);
        let cur = fs::read_to_string(&p).map_err(|e| MakeErr::op(&p, "read", e))?;
        if cur.trim().is_empty() {
            let parent = dir.parent().unwrap_or(dir).join(file);
            let v = fs::read_to_string(&parent).map_err(|e| MakeErr::op(&parent, "read", e))?;
            fs::write(&p, v.trim()).map_err(|e| MakeErr::op(&p, "write", e))?;
        }
    }
    Ok(())
}

fn enable_v2_controllers(dir: &Path) {
    let Ok(avail) = fs::read_to_string(dir.join("cgroup.controllers")) else {
        return;
    };
    let want: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
    // Writing all at once fails entirely if one controller cannot be enabled; go one by one.
    for c in want {
        let _ = fs::write(dir.join("cgroup.subtree_control"), &c);
    }
}

fn manager(path: &Path, id: &str) -> Result<AnyCgroupManager> {
    create_cgroup_manager(CgroupConfig {
        cgroup_path: path.to_path_buf(),
        systemd_cgroup: false,
        container_name: id.to_string(),
    })
    .map_err(|e| cg_err(path, format!("open: {e}")))
}

/// Creates the container's cgroup and applies its resources (make_dirs + apply), for a
/// parent that moves the init in itself; on error, whatever was created is removed again.
pub fn prepare(path: &Path, id: &str, resources: Option<&LinuxResources>) -> Result<CgroupRecord> {
    let mut record = CgroupRecord {
        path: path.to_path_buf(),
        created: Vec::new(),
    };
    match make_dirs(&mut record).and_then(|_| apply(path, id, resources)) {
        Ok(()) => Ok(record),
        Err(e) => {
            let _ = remove(&record);
            Err(e)
        }
    }
}

/// A libcgroups v2 manager being opened on a helper thread (v1 needs none: `v1.rs`). It
/// needs no directory to exist: so `create` starts it right after the clone and makes the
/// directory meanwhile. Start it only once the process may have threads
/// (after any fork whose child still runs our code). Dropped unused (a create that failed
/// first), it still waits for its thread, so no thread outlives the call that started it.
pub struct Opening(Option<std::thread::JoinHandle<Result<AnyCgroupManager>>>);

impl Opening {
    /// None where no thread can be made: a process that has joined another pid namespace
    /// for its children (setns CLONE_NEWPID, a container of a pod) gets EINVAL from
    /// clone(CLONE_THREAD). `apply_with` then opens the manager in line.
    pub fn start(path: &Path, id: &str) -> Option<Opening> {
        let (path, id) = (path.to_path_buf(), id.to_string());
        std::thread::Builder::new()
            .spawn(move || manager(&path, &id))
            .ok()
            .map(|t| Opening(Some(t)))
    }

    fn finish(mut self, path: &Path) -> Result<AnyCgroupManager> {
        match self.0.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            _ => Err(cg_err(path, "open: the opening thread panicked")),
        }
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

/// Applies `linux.resources` (plus the default device rules): with libcgroups on v2, by
/// `v1.rs` on v1 and hybrid hosts.
pub fn apply(path: &Path, id: &str, resources: Option<&LinuxResources>) -> Result<()> {
    apply_with(None, path, id, resources)
}

/// `apply` with a manager whose opening may have started earlier.
pub fn apply_with(
    opening: Option<Opening>,
    path: &Path,
    id: &str,
    resources: Option<&LinuxResources>,
) -> Result<()> {
    crate::debug::step("cgroup: directories made");
    let default_res = LinuxResources::default();
    let resources = resources.unwrap_or(&default_res);
    let disable_oom_killer = resources
        .memory()
        .as_ref()
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    if !is_unified()? {
        let r = v1::apply(&v1::Dirs::of(path)?, resources, disable_oom_killer);
        crate::debug::step("cgroup: resources applied");
        return r;
    }
    let m = match opening {
        Some(o) => o.finish(path)?,
        None => manager(path, id)?,
    };
    crate::debug::step("cgroup: libcgroups manager opened");
    let opt = ControllerOpt {
        resources,
        disable_oom_killer,
        oom_score_adj: None,
        freezer_state: None,
    };
    m.apply(&opt)
        .map_err(|e| cg_err(path, format!("apply resources: {e}")))?;
    // libcgroups' v2 device filter needs libbpf (its `cgroupsv2_devices` feature): the
    // runtime attaches its own program.
    let rel = path.strip_prefix("/").unwrap_or(path);
    let r = devices::apply(
        &Path::new(CGROUP_ROOT).join(rel),
        resources.devices().as_deref().unwrap_or(&[]),
    );
    crate::debug::step("cgroup: resources applied");
    r
}

/// Creates the container's directories (v2: enabling controllers on the way down; v1: in
/// every hierarchy, cpuset filled in), recording them in `record`, and says how the init
/// will join. The directories are recorded as they are made, so a failure half-way can be
/// undone from the record.
pub fn make_dirs(record: &mut CgroupRecord) -> Result<(Join, Option<OwnedFd>)> {
    let path = record.path.clone();
    let rel = path.strip_prefix("/").unwrap_or(&path);
    make_dirs_in(rel, record)
}

/// The shared `berth` parents of a container at the default `/berth/<id>`: they go with the
/// last container that leaves them, whoever created them (`remove` tries them; rmdir of a
/// busy parent just fails).
fn shared_parents(record: &CgroupRecord, leaves: &[PathBuf]) -> Vec<PathBuf> {
    let rel = record.path.strip_prefix("/").unwrap_or(&record.path);
    if rel.parent() != Some(Path::new(DEFAULT_PARENT)) {
        return Vec::new();
    }
    leaves
        .iter()
        .filter_map(|l| l.parent().map(Path::to_path_buf))
        .collect()
}

/// Whether `remove` finds every directory in `record.created` without the record: the
/// container's own directories (from its path) and the shared `berth` parents. Only a path
/// with new directories above the container's (a `cgroupsPath` with a parent that did not
/// exist) needs its record saved before the init may go on.
pub fn derivable(record: &CgroupRecord) -> bool {
    let rel = record.path.strip_prefix("/").unwrap_or(&record.path);
    let shared = rel.parent() == Some(Path::new(DEFAULT_PARENT));
    record
        .created
        .iter()
        .all(|d| d.ends_with(rel) || (shared && d.ends_with(DEFAULT_PARENT)))
}

fn make_dirs_in(rel: &Path, record: &mut CgroupRecord) -> Result<(Join, Option<OwnedFd>)> {
    let unified = is_unified()?;
    let mut attempt = 0;
    loop {
        match make_dirs_once(unified, rel, &mut record.created) {
            Ok(r) => return Ok(r),
            Err(e) if e.vanished && attempt < 50 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => return Err(e.err),
        }
    }
}

fn make_dirs_once(
    unified: bool,
    rel: &Path,
    created: &mut Vec<PathBuf>,
) -> std::result::Result<(Join, Option<OwnedFd>), MakeErr> {
    if unified {
        let mut cur = PathBuf::from(CGROUP_ROOT);
        enable_v2_controllers(&cur);
        let comps: Vec<_> = rel.components().collect();
        for (i, c) in comps.iter().enumerate() {
            mkdir_below(&cur, Path::new(c.as_os_str()), created)?;
            cur.push(c);
            if i + 1 < comps.len() {
                enable_v2_controllers(&cur);
            }
        }
        let fd = open(
            &cur,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| MakeErr::op(&cur, "open", e.into()))?;
        return Ok((Join::Done, Some(fd)));
    }
    let mut tasks = Vec::new();
    let mounts = v1_mounts().map_err(|err| MakeErr {
        vanished: false,
        err,
    })?;
    for mp in mounts {
        mkdir_below(&mp, rel, created)?;
        let leaf = mp.join(rel);
        if mp.to_string_lossy().contains("cpuset") {
            // Every level, not just the ones we made: a parent another container is creating
            // right now may still be empty, and an empty cpuset refuses tasks (ENOSPC).
            let mut d = mp.clone();
            for c in rel.components() {
                d.push(c);
                fill_cpuset(&d)?;
            }
        }
        tasks.push(leaf.join("tasks"));
    }
    Ok((Join::Tasks(tasks), None))
}

/// How a new process (exec) joins an existing container cgroup.
pub struct Existing {
    pub join: Join,
    pub v2_dir: Option<OwnedFd>,
}

pub fn existing(path: &Path) -> Result<Existing> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if is_unified()? {
        let dir = Path::new(CGROUP_ROOT).join(rel);
        let fd = open(
            &dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| cg_err(&dir, format!("open: {e}")))?;
        return Ok(Existing {
            join: Join::Done,
            v2_dir: Some(fd),
        });
    }
    let tasks = v1_mounts()?
        .into_iter()
        .map(|mp| mp.join(rel).join("tasks"))
        .filter(|t| t.exists())
        .collect();
    Ok(Existing {
        join: Join::Tasks(tasks),
        v2_dir: None,
    })
}

/// The init's half of the fast join: called while the init is still single-threaded.
pub fn join_self(join: &Join) -> Result<()> {
    if let Join::Tasks(files) = join {
        for f in files {
            fs::write(f, "0").map_err(|e| cg_err(f, format!("join: {e}")))?;
        }
    }
    Ok(())
}

/// The slow path: the parent moves `pid` in (used with user namespaces, whose init may not
/// write to the host's cgroupfs, and for `exec`).
pub fn add_pid(path: &Path, id: &str, pid: i32) -> Result<()> {
    manager(path, id)?
        .add_task(nix029::unistd::Pid::from_raw(pid))
        .map_err(|e| cg_err(path, format!("add pid {pid}: {e}")))
}

/// The container's directory in every hierarchy (one on v2).
fn leaf_dirs(path: &Path) -> Result<Vec<PathBuf>> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if is_unified()? {
        return Ok(vec![Path::new(CGROUP_ROOT).join(rel)]);
    }
    Ok(v1_mounts()?.into_iter().map(|mp| mp.join(rel)).collect())
}

/// Kills what is left in the cgroup, removes it and the parents this container created.
/// "Not found" counts as done; keeps going past errors and returns the first.
///
/// This is libcgroups' `remove` (kill the listed pids or write `cgroup.kill`, rmdir with
/// retries) done directly: opening a libcgroups v1 manager reads mountinfo and
/// /proc/self/cgroup once per controller through a verified procfs handle, ~2 ms that
/// `delete` does not need.
pub fn remove(record: &CgroupRecord) -> Result<()> {
    let mut first = None;
    let all_leaves = if record.path.as_os_str().is_empty() {
        Vec::new()
    } else {
        leaf_dirs(&record.path)?
    };
    // Most containers are gone whole by now (processes dead, nothing made below their
    // cgroup): one rmdir per hierarchy. What refuses (busy, or with cgroups below) gets the
    // walk and the kill.
    let leaves: Vec<PathBuf> = all_leaves
        .iter()
        .filter(|l| match fs::remove_dir(l) {
            Ok(()) => false,
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        })
        .cloned()
        .collect();
    // The cgroups something made below the container's (a nested manager, systemd in the
    // container) go too, deepest first, as runc's delete removes them.
    let trees: Vec<Vec<PathBuf>> = leaves
        .iter()
        .filter(|l| l.exists())
        .map(|l| tree_of(l))
        .collect();
    // On v1 every hierarchy holds the same processes: one tree's cgroup.procs names them all.
    if let Some(tree) = trees.first() {
        let kill = tree[0].join("cgroup.kill");
        if !(kill.exists() && fs::write(&kill, "1").is_ok()) {
            for pid in tree.iter().flat_map(|d| procs_of(d).unwrap_or_default()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::SIGKILL,
                );
            }
        }
    }
    let below: Vec<PathBuf> = trees
        .into_iter()
        .flat_map(|t| t.into_iter().skip(1).rev())
        .collect();
    let shared = shared_parents(record, &all_leaves);
    for leaf in below
        .iter()
        .chain(&leaves)
        .chain(record.created.iter())
        .chain(&shared)
    {
        let busy_means_wait = leaves.contains(leaf) || below.contains(leaf);
        // A killed task leaves its cgroup a moment after the signal: EBUSY until then.
        let mut tries = 0;
        loop {
            match fs::remove_dir(leaf) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e)
                    if e.raw_os_error() == Some(libc::EBUSY) && busy_means_wait && tries < 250 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                // A parent shared with another container is still busy: the last one removes it.
                Err(e)
                    if !busy_means_wait
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EBUSY) | Some(libc::ENOTEMPTY)
                        ) =>
                {
                    break
                }
                Err(e) => {
                    first.get_or_insert(cg_err(leaf, format!("remove: {e}")));
                    break;
                }
            }
        }
    }
    first.map_or(Ok(()), Err)
}

pub fn freeze(path: &Path, id: &str, frozen: bool) -> Result<()> {
    let state = if frozen {
        FreezerState::Frozen
    } else {
        FreezerState::Thawed
    };
    manager(path, id)?
        .freeze(state)
        .map_err(|e| cg_err(path, format!("freeze: {e}")))
}

pub fn is_frozen(path: &Path) -> bool {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let root = Path::new(CGROUP_ROOT);
    if let Ok(s) = fs::read_to_string(root.join(rel).join("cgroup.freeze")) {
        return s.trim() == "1";
    }
    fs::read_to_string(root.join("freezer").join(rel).join("freezer.state"))
        .map(|s| s.trim() == "FROZEN")
        .unwrap_or(false)
}

/// Every process in the container's cgroup and in the cgroups below it, from cgroup.procs
/// read directly (on v1 in the first hierarchy that has the container's directory: the
/// container is in all of them). Not through a libcgroups manager, whose v1 setup reads
/// mountinfo and /proc/self/cgroup once per controller: `kill --all` and `rm -f` wait on it.
pub fn pids(path: &Path) -> Result<Vec<i32>> {
    let Some(top) = leaf_dirs(path)?.into_iter().find(|d| d.is_dir()) else {
        return Err(cg_err(path, "list pids: no such cgroup"));
    };
    let mut out = Vec::new();
    for d in tree_of(&top) {
        out.extend(procs_of(&d).map_err(|e| cg_err(path, e))?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// `top` and every cgroup directory below it, each after its parent.
fn tree_of(top: &Path) -> Vec<PathBuf> {
    let mut out = vec![top.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        for e in fs::read_dir(&out[i]).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(e.path());
            }
        }
        i += 1;
    }
    out
}

/// The pids in one cgroup's cgroup.procs; none when it was removed meanwhile.
fn procs_of(dir: &Path) -> std::result::Result<Vec<i32>, String> {
    let procs = dir.join("cgroup.procs");
    match fs::read_to_string(&procs) {
        Ok(t) => Ok(t.lines().filter_map(|l| l.trim().parse().ok()).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("read {}: {e}", procs.display())),
    }
}

/// The cgroup's statistics (cpu, memory, pids, blkio, hugetlb), read by libcgroups.
pub fn stats(path: &Path, id: &str) -> Result<libcgroups::stats::Stats> {
    manager(path, id)?
        .stats()
        .map_err(|e| cg_err(path, format!("read stats: {e}")))
}

/// How many processes the kernel's OOM killer has killed in the cgroup so far: `oom_kill` of
/// memory.events (v2) or memory.oom_control (v1, Linux 4.13+); 0 when neither is readable.
pub fn oom_kills(path: &Path) -> u64 {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let root = Path::new(CGROUP_ROOT);
    let v2 = root.join(rel).join("memory.events");
    let v1 = root.join("memory").join(rel).join("memory.oom_control");
    let text = fs::read_to_string(&v2)
        .or_else(|_| fs::read_to_string(&v1))
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_is_the_id_and_the_engines_is_under_berth() {
        let spec = Spec::default();
        assert_eq!(path_for(&spec, "abc"), PathBuf::from("/abc"));
        let mut linux = oci_spec::runtime::Linux::default();
        linux.set_cgroups_path(Some(PathBuf::from(shared_path("abc"))));
        let mut spec = Spec::default();
        spec.set_linux(Some(linux));
        assert_eq!(path_for(&spec, "abc"), PathBuf::from("/berth/abc"));
    }
}
