//! The engine: wires the image store and the runtime together. For now a foreground `run`
//! (detached containers under a monitor come with the containers issue).
//!
//! ```text
//! <root>/containers/<id>/       one directory per container
//!   .lock                       flock held by the berth process that runs it; a directory
//!                               whose lock is free belongs to a berth that died: `heal`
//!   config.json                 the OCI bundle config made from the image + flags
//!   upper/ work/ rootfs/        overlay over the image's layers; rootfs is the mount
//! <root>/runtime/               berth-runtime's state (--root of the runtime)
//! ```

pub mod spec;

use std::path::{Path, PathBuf};

use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};
use berth_image::{layers, rootfs, Store};
use berth_runtime::container::{self as rt, CreateOpts, RunOpts};
use nix::fcntl::{Flock, FlockArg};

pub struct RunOptions {
    pub image: String,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub hostname: Option<String>,
    pub read_only: bool,
    pub mounts: Vec<Mount>,
    pub entrypoint: Option<String>,
    pub user: Option<String>,
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privs: bool,
    pub host_network: bool,
}

/// A mount asked for on the command line.
#[derive(Debug, Clone)]
pub enum Mount {
    Bind { src: PathBuf, dst: String, ro: bool },
    Tmpfs { dst: String, options: Vec<String> },
}

/// A fresh 64-hex container id from the kernel's CSPRNG.
pub fn new_id() -> Result<String> {
    let mut b = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom").context("open /dev/urandom")?;
    std::io::Read::read_exact(&mut f, &mut b).context("read /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Exit status for berth's own failures, as Docker uses it.
pub const EXIT_BERTH: i32 = 125;

fn lock_file(dir: &Path, arg: FlockArg) -> Result<Flock<std::fs::File>> {
    let p = dir.join(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_CLOEXEC.bits())
        .open(&p)
        .with_context(|| format!("open {}", p.display()))?;
    Flock::lock(f, arg).map_err(|(_, e)| anyhow::anyhow!("flock {}: {e}", p.display()))
}

/// Removes what a killed berth left behind: for every container directory whose lock is
/// free, the runtime's container (its processes and cgroup), the overlay mount, the
/// directory. Teardown keeps going past errors; "not found" is done.
pub fn heal(root: &Path) -> Result<()> {
    let dir = root.join("containers");
    if !dir.exists() {
        return Ok(());
    }
    // Exclusive against creators, who hold it shared between mkdir and taking their lock.
    let _guard = lock_file(&dir, FlockArg::LockExclusive)?;
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let cdir = e.path();
        if !cdir.is_dir() {
            continue;
        }
        let Ok(_lock) = lock_file(&cdir, FlockArg::LockExclusiveNonblock) else {
            continue; // a live berth holds it
        };
        let id = e.file_name().to_string_lossy().to_string();
        let _ = rt::delete(&root.join("runtime"), &id, true);
        let (_, _, rootfs_dir) = rootfs::paths(&cdir);
        let _ = rootfs::unmount(&rootfs_dir);
        let _ = std::fs::remove_dir_all(&cdir);
    }
    Ok(())
}

/// Directories of the live containers (their berth still holds the lock).
fn live_containers(root: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(root.join("containers")) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path())
        .filter(|d| d.is_dir() && lock_file(d, FlockArg::LockExclusiveNonblock).is_err())
        .collect()
}

/// Ids of the live containers made from image `image_id`.
pub fn containers_using(root: &Path, image_id: &str) -> Vec<String> {
    live_containers(root)
        .into_iter()
        .filter(|d| std::fs::read_to_string(d.join("image")).is_ok_and(|i| i.trim() == image_id))
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().to_string()))
        .collect()
}

/// Chain ids (hex) of the layers live containers stack on: garbage collection keeps them.
pub fn layers_in_use(root: &Path) -> std::collections::BTreeSet<String> {
    live_containers(root)
        .into_iter()
        .filter_map(|d| std::fs::read_to_string(d.join("layers")).ok())
        .flat_map(|l| l.lines().map(String::from).collect::<Vec<_>>())
        .collect()
}

/// Runs a container in the foreground and removes it; returns its exit status
/// (126: not executable, 127: not found, as Docker).
pub fn run(root: &Path, o: &RunOptions) -> Result<i32> {
    heal(root)?;
    let store = Store::open(root)?;
    let img = store.resolve(&o.image)?;
    layers::ensure(&store, &img.manifest.layers, &img.config)?;
    let id = new_id()?;
    let dir = root.join("containers").join(&id);
    let parent = root.join("containers");
    std::fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
    let creating = lock_file(&parent, FlockArg::LockShared)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    // Held until this process is gone: tells `heal` in other berth processes to keep off.
    let _lock = lock_file(&dir, FlockArg::LockExclusive)?;
    drop(creating);
    let (upper, work, rootfs_dir) = rootfs::paths(&dir);
    // What this container uses, so rmi and prune leave it alone while it lives.
    std::fs::write(dir.join("image"), img.id().to_string())
        .with_context(|| format!("write {}", dir.join("image").display()))?;
    let chains: Vec<String> = img
        .chain_ids()
        .iter()
        .map(|c| c.hex().to_string())
        .collect();
    std::fs::write(dir.join("layers"), chains.join("\n"))
        .with_context(|| format!("write {}", dir.join("layers").display()))?;
    let res = (|| -> Result<i32> {
        rootfs::mount_overlay(&store, &img.chain_ids(), &upper, &work, &rootfs_dir)?;
        let spec = spec::build(&img, o, &id, &rootfs_dir)?;
        std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&spec)?)
            .with_context(|| format!("write {}", dir.join("config.json").display()))?;
        drop(store);
        let rt_root: PathBuf = root.join("runtime");
        let code = rt::run(&RunOpts {
            create: CreateOpts {
                root: &rt_root,
                id: &id,
                bundle: &dir,
                console_socket: None,
                pid_file: None,
                no_pivot: false,
                preserve_fds: 0,
            },
            detach: false,
        });
        match code {
            Ok(c) => Ok(c),
            Err(berth_runtime::Error::Init { step, msg })
                if step == "prepare process" && msg.contains("not found") =>
            {
                eprintln!("berth: {msg}");
                Ok(127)
            }
            Err(berth_runtime::Error::Init { step, msg })
                if step == "exec" || msg.contains("ermission denied") =>
            {
                eprintln!("berth: {msg}");
                Ok(126)
            }
            Err(e) => Err(e.into()),
        }
    })();
    let _ = rootfs::unmount(&rootfs_dir);
    let _ = std::fs::remove_dir_all(&dir);
    res
}
