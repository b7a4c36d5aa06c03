//! The engine: wires the image store and the runtime together into Docker's container
//! model. Containers are directories with a record (container.rs); detached ones are watched
//! by a monitor process (monitor.rs); stop/rm/heal live in lifecycle.rs.
//!
//! ```text
//! <root>/containers/.lock       flock guarding the set (create, rename, remove, heal)
//! <root>/containers/<id>/       one directory per container
//!   .lock                       held by whatever watches the container (monitor, foreground run)
//!   .state.lock                 guards read-modify-write of container.json
//!   container.json              the record, shaped as `docker inspect` prints it
//!   image, layers               the image id and chain ids it stacks on (rmi/gc keep them)
//!   config.json                 the OCI bundle config made from the image + flags
//!   container.log[.N]           stdout/stderr as JSON lines (detached and foreground)
//!   upper/ work/ rootfs/        overlay over the image's layers; rootfs is the mount
//! <root>/runtime/               berth-runtime's state (--root of the runtime)
//! ```

pub mod access;
pub mod config;
pub mod container;
pub mod fault;
pub mod fscopy;
pub mod fsutil;
pub mod lifecycle;
pub mod logs;
pub mod monitor;
pub mod options;
pub mod seccomp;
pub mod spec;
pub mod teardown;
pub mod volume;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use berth_image::{layers, rootfs, Store};
use berth_runtime::container::{self as rt, CreateOpts};
use nix::fcntl::{Flock, FlockArg, OFlag};

use container::{CConfig, CState, Containers, HostConfig, LogConfig, MountPoint, Record, Status};
use teardown::HostObject;

pub use config::ContainerConfig;

/// A mount: a host path, a volume or a tmpfs at a path in the container.
#[derive(Debug, Clone)]
pub enum Mount {
    Bind {
        src: PathBuf,
        dst: String,
        ro: bool,
    },
    /// A named volume, or an anonymous one (`name: None`), made on first use.
    Volume {
        name: Option<volume::VolumeName>,
        dst: String,
        ro: bool,
        nocopy: bool,
    },
    Tmpfs {
        dst: String,
        options: Vec<String>,
    },
}

/// A fresh 64-hex container id from the kernel's CSPRNG.
pub fn new_id() -> Result<String> {
    let mut b = [0u8; 32];
    let mut f = File::open("/dev/urandom").context("open /dev/urandom")?;
    std::io::Read::read_exact(&mut f, &mut b).context("read /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Exit status for berth's own failures, as Docker uses it.
pub const EXIT_BERTH: i32 = 125;

/// An error that carries the exit status berth should end with (126, 127, ...).
#[derive(Debug)]
pub struct ExitError {
    pub code: i32,
    pub msg: String,
}

impl std::fmt::Display for ExitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ExitError {}

/// The exit status and message for an error: 127 when the command is not found, 126 when it
/// cannot be executed, 125 for everything else (Docker's convention).
pub fn exit_error(e: &anyhow::Error) -> (i32, String) {
    if let Some(x) = e.downcast_ref::<ExitError>() {
        return (x.code, x.msg.clone());
    }
    if let Some(berth_runtime::Error::Init { step, msg }) = e.downcast_ref() {
        if step == "prepare process" && (msg.contains("not found") || msg.contains("no such file"))
        {
            return (127, msg.clone());
        }
        if step == "exec" || msg.contains("ermission denied") {
            return (126, msg.clone());
        }
    }
    (EXIT_BERTH, crate::error_chain(e))
}

/// Takes a flock on `dir/name`, creating the file (0600) if needed. Only for a directory
/// this process made or holds: see [`lock_existing`] for one another process may remove.
pub fn lock_file_named(dir: &Path, name: &str, arg: FlockArg) -> Result<Flock<File>> {
    let p = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(fsutil::FILE_MODE)
        .custom_flags(OFlag::O_CLOEXEC.bits())
        .open(&p)
        .with_context(|| format!("open {}", p.display()))?;
    Flock::lock(f, arg).map_err(|(_, e)| anyhow::anyhow!("flock {}: {e}", p.display()))
}

/// A lock file that already exists, or `Ok(None)` when it (or its directory) is gone. Never
/// creates it: re-creating `.lock` inside a container directory that a monitor or another
/// `rm` is removing made that removal fail with "Directory not empty".
pub fn lock_existing(dir: &Path, name: &str, arg: FlockArg) -> Result<Option<Flock<File>>> {
    let p = dir.join(name);
    let f = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(OFlag::O_CLOEXEC.bits())
        .open(&p)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("open {}", p.display()))),
    };
    match Flock::lock(f, arg) {
        Ok(l) => Ok(Some(l)),
        Err((_, e)) => Err(anyhow::anyhow!("flock {}: {e}", p.display())),
    }
}

fn lock_file(dir: &Path, arg: FlockArg) -> Result<Flock<File>> {
    lock_file_named(dir, ".lock", arg)
}

pub fn runtime_root(root: &Path) -> PathBuf {
    root.join("runtime")
}

/// Ids of the image each container was made from (rmi refuses to remove them).
pub fn containers_using(root: &Path, image_id: &str) -> Vec<String> {
    Containers::new(root)
        .all()
        .into_iter()
        .filter(|r| r.image == image_id)
        .map(|r| r.id)
        .collect()
}

/// Chain ids (hex) of the layers containers stack on: garbage collection keeps them.
pub fn layers_in_use(root: &Path) -> std::collections::BTreeSet<String> {
    let cs = Containers::new(root);
    cs.ids()
        .into_iter()
        .filter_map(|id| std::fs::read_to_string(cs.dir_of(&id).join("layers")).ok())
        .flat_map(|l| l.lines().map(String::from).collect::<Vec<_>>())
        .collect()
}

/// Mounts the container's overlay unless it already is.
pub fn mount_rootfs(cs: &Containers, rec: &Record) -> Result<()> {
    let dir = &cs.dir_of(&rec.id);
    let (upper, work, rootfs_dir) = rootfs::paths(dir);
    if is_mountpoint(&rootfs_dir) {
        return Ok(());
    }
    let chains: Vec<berth_image::Digest> = std::fs::read_to_string(dir.join("layers"))
        .with_context(|| format!("read {}", dir.join("layers").display()))?
        .lines()
        .map(|h| format!("sha256:{h}").parse())
        .collect::<std::result::Result<_, _>>()?;
    let store = Store::open(&cs.root)?;
    // --rm: the writes go with the container, so the upper dir is never synced.
    let volatile = rec.host_config.auto_remove;
    if !volatile {
        // A volatile mount that was not unmounted cleanly leaves this behind, and overlayfs
        // then refuses the upper dir; this container's mounts are not volatile.
        let _ = std::fs::remove_dir_all(work.join("work").join("incompat"));
    }
    rootfs::mount_overlay(&store, &chains, &upper, &work, &rootfs_dir, volatile)?;
    Ok(())
}

pub fn is_mountpoint(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(p), p.parent().map(std::fs::metadata)) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

/// How the container's stdio is wired.
pub enum Attach {
    /// Pipes (or a pty) read by the monitor into the log.
    Monitor,
    /// The caller's terminal: stdin only with -i, a pty proxied with -t.
    Foreground,
}

/// A started container's init and the ends of its stdio that the watcher keeps.
pub struct Launched {
    pub pid: i32,
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub pty: Option<OwnedFd>,
}

/// Points stdio fd `target` (0, 1 or 2) at `fd`.
pub fn dup_onto(fd: &impl AsFd, target: i32) -> Result<()> {
    debug_assert!((0..3).contains(&target));
    // SAFETY: `target` is one of our stdio descriptors, which we mean to replace; nothing in
    // this process holds it as an OwnedFd.
    let new = unsafe { nix::unistd::dup2_raw(fd.as_fd(), target) }.context("dup2")?;
    // The result owns `target`: keep it open.
    let _ = std::os::fd::IntoRawFd::into_raw_fd(new);
    Ok(())
}

/// A pipe for one of the init's output streams: the write end for the init, the read end
/// kept in `keep`.
fn output_pipe(keep: &mut Option<OwnedFd>) -> Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    *keep = Some(r);
    Ok(w)
}

/// Container inits re-execute `berth-runtime` (installed beside berth) rather than berth:
/// a binary half the size starts about 2 ms sooner. Without it, berth itself serves.
pub(crate) fn use_runtime_binary() {
    if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
        let rt = exe.with_file_name("berth-runtime");
        if rt.is_file() {
            berth_runtime::process::set_init_binary(rt);
        }
    }
}

/// Creates and starts the runtime container of `rec` and records it as running.
pub fn start_container(cs: &Containers, rec: &Record, attach: Attach) -> Result<Launched> {
    use_runtime_binary();
    let dir = cs.dir_of(&rec.id);
    mount_rootfs(cs, rec)?;
    let rt_root = runtime_root(&cs.root);
    // Setup is idempotent: a leftover of an earlier run (killed watcher) would make create
    // fail, so its processes go first.
    teardown::teardown(cs, &rec.id, teardown::Level::Processes).into_result(&rec.id)?;
    let mut l = Launched {
        pid: 0,
        out: None,
        err: None,
        stdin: None,
        pty: None,
    };
    let tty = rec.config.tty;
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("open /dev/null")?;
    // The init's stdin, stdout and stderr, handed to the runtime: this process's own stay
    // as they are, so several containers can start at once from one process.
    let mut ends: Vec<OwnedFd> = Vec::new();
    let stdio: [i32; 3] = match attach {
        Attach::Monitor => {
            let stdin = if rec.config.open_stdin {
                let (ir, iw) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
                l.stdin = Some(iw);
                ends.push(ir);
                ends.last().map_or(-1, |f| f.as_raw_fd())
            } else {
                null.as_raw_fd()
            };
            if tty {
                // The pty master comes back from create.
                [stdin, null.as_raw_fd(), null.as_raw_fd()]
            } else {
                ends.push(output_pipe(&mut l.out)?);
                ends.push(output_pipe(&mut l.err)?);
                [
                    stdin,
                    ends[ends.len() - 2].as_raw_fd(),
                    ends[ends.len() - 1].as_raw_fd(),
                ]
            }
        }
        Attach::Foreground => {
            let stdin = if rec.config.open_stdin {
                0
            } else {
                null.as_raw_fd()
            };
            if tty {
                [stdin, 1, 2]
            } else {
                // Output goes through us, to the terminal and the log.
                ends.push(output_pipe(&mut l.out)?);
                ends.push(output_pipe(&mut l.err)?);
                [stdin, ends[0].as_raw_fd(), ends[1].as_raw_fd()]
            }
        }
    };
    fault::point("runtime-create")?;
    let created = rt::create_with(
        &CreateOpts {
            root: &rt_root,
            id: &rec.id,
            bundle: &dir,
            console_socket: None,
            pid_file: None,
            no_pivot: false,
            preserve_fds: 0,
            stdio: Some(stdio),
        },
        tty,
    );
    // The init holds its ends now; ours close.
    drop(ends);
    let created = created?;
    // On failure the caller releases the container (teardown.rs), runtime container and all.
    fault::point("runtime-start")?;
    rt::start(&rt_root, &rec.id)?;
    l.pid = created.pid;
    if let Attach::Monitor = attach {
        l.out = l.out.or(created.pty_master);
    } else {
        l.pty = created.pty_master;
    }
    let now = berth_runtime::state::now_rfc3339();
    cs.update(&rec.id, |r| {
        r.state = CState {
            status: Status::Running,
            running: true,
            pid: l.pid,
            started_at: now,
            finished_at: r.state.finished_at.clone(),
            monitor_pid: std::process::id() as i32,
            manually_stopped: false,
            ..CState::default()
        };
    })?;
    Ok(l)
}

/// Makes a container from `o`: its directory, record, overlay and OCI config. Returns the
/// record and the held `.lock` of the container.
pub fn create(root: &Path, o: &ContainerConfig) -> Result<(Record, Flock<File>)> {
    let netns = network_namespace(root, &o.network)?;
    let store = Store::open(root)?;
    let img = store.resolve(&o.image)?;
    layers::ensure(&store, &img.manifest.layers, &img.config)?;
    berth_runtime::debug::step("engine: image resolved");
    let cs = Containers::new(root);
    let id = new_id()?;
    let dir = cs.dir_of(&id);
    let lock = {
        let _set = cs.lock_set()?;
        // Read once: random names are tried against it without re-reading every record.
        let taken = cs.names();
        let name = match &o.name {
            Some(n) => {
                container::check_name(n)?;
                if let Some(other) = taken.get(n) {
                    anyhow::bail!(
                        "the name {n:?} is already used by container {}; remove it or pick another name",
                        &other[..12]
                    );
                }
                n.clone()
            }
            None => container::random_name(&id, |n| taken.contains_key(n)),
        };
        fsutil::mkdir_private(&dir)?;
        let lock = lock_file(&dir, FlockArg::LockExclusive)?;
        // Made here, before anyone else can see the container: update() never creates it.
        drop(lock_file_named(&dir, ".state.lock", FlockArg::LockShared)?);
        let rec = Record {
            id: id.clone(),
            name: format!("/{name}"),
            created: berth_runtime::state::now_rfc3339(),
            image: img.id().to_string(),
            state: CState {
                status: Status::Creating,
                started_at: container::ZERO_TIME.into(),
                finished_at: container::ZERO_TIME.into(),
                ..CState::default()
            },
            // Recorded before it is mounted, like every host object after it.
            host_objects: vec![HostObject::Overlay],
            ..Record::default()
        };
        // The record exists before the set lock is released, so the name is taken.
        cs.save(&rec)?;
        lock
    };
    berth_runtime::debug::step("engine: container named and locked");
    let res = (|| -> Result<Record> {
        fsutil::write_private(&dir.join("image"), img.id().to_string().as_bytes())?;
        let chains: Vec<String> = img
            .chain_ids()
            .iter()
            .map(|c| c.hex().to_string())
            .collect();
        fsutil::write_private(&dir.join("layers"), chains.join("\n").as_bytes())?;
        let (upper, work, rootfs_dir) = rootfs::paths(&dir);
        fault::point("overlay")?;
        // --rm: the writes go with the container, so the upper dir is never synced.
        rootfs::mount_overlay(
            &store,
            &img.chain_ids(),
            &upper,
            &work,
            &rootfs_dir,
            o.auto_remove,
        )?;
        berth_runtime::debug::step("engine: overlay mounted");
        let (mounts, points) = resolve_mounts(&cs, &id, &img, o, &rootfs_dir)?;
        fault::point("volumes")?;
        let spec = spec::build(&img, o, &netns, &mounts, &id, &rootfs_dir)?;
        berth_runtime::debug::step("engine: spec built");
        fault::point("spec")?;
        fsutil::write_private(&dir.join("config.json"), &serde_json::to_vec_pretty(&spec)?)?;
        let mut rec = record_of(&cs, &id, &img, o, &spec)?;
        rec.mounts.extend(points);
        // Made by start; recorded now, so a container killed while starting is found.
        rec.host_objects.push(HostObject::Runtime);
        cs.save(&rec)?;
        Ok(rec)
    })();
    match res {
        Ok(rec) => Ok((rec, lock)),
        Err(e) => {
            warn_if_failed(lifecycle::remove_dir(&cs, &id, true));
            Err(e)
        }
    }
}

/// The network namespace `mode` asks for.
fn network_namespace(root: &Path, mode: &config::NetworkMode) -> Result<spec::NetNs> {
    use config::NetworkMode;
    Ok(match mode {
        NetworkMode::None => spec::NetNs::New,
        NetworkMode::Host => spec::NetNs::Host,
        NetworkMode::Path(p) => {
            if !p.exists() {
                anyhow::bail!("--network ns:{}: no such network namespace", p.display());
            }
            spec::NetNs::Join(p.clone())
        }
        NetworkMode::Container(name) => {
            let cs = Containers::new(root);
            let other = cs.find(name)?;
            if !lifecycle::current_status(&cs, &other).is_alive() || other.state.pid <= 0 {
                anyhow::bail!(
                    "--network container:{name}: container {} is not running",
                    other.bare_name()
                );
            }
            spec::NetNs::Join(PathBuf::from(format!("/proc/{}/ns/net", other.state.pid)))
        }
        NetworkMode::Bridge(nets) => anyhow::bail!(
            "--network {}: bridge networks are not built yet; use none, host, container:NAME or ns:PATH",
            nets.join(",")
        ),
    })
}

fn record_of(
    cs: &Containers,
    id: &str,
    img: &berth_image::Image,
    o: &ContainerConfig,
    spec: &oci_spec::runtime::Spec,
) -> Result<Record> {
    let mut rec = cs.load(id)?;
    let c = &img.config.config;
    let process = spec.process().clone().unwrap_or_default();
    let args = process.args().clone().unwrap_or_default();
    rec.path = args.first().cloned().unwrap_or_default();
    rec.args = args.iter().skip(1).cloned().collect();
    rec.state.status = Status::Created;
    rec.driver = "overlay".into();
    rec.log_path = cs.dir_of(id).join("container.log");
    let mut labels = c.labels.clone().unwrap_or_default();
    labels.extend(o.labels.clone());
    rec.config = CConfig {
        hostname: spec.hostname().clone().unwrap_or_default(),
        user: o
            .process
            .user
            .clone()
            .or_else(|| c.user.clone())
            .unwrap_or_default(),
        tty: o.process.tty,
        open_stdin: o.process.open_stdin,
        env: process.env().clone().unwrap_or_default(),
        cmd: if o.process.command.is_empty() {
            c.cmd.clone()
        } else {
            Some(o.process.command.clone())
        },
        image: o.image.clone(),
        volumes: c
            .volumes
            .clone()
            .unwrap_or_default()
            .into_keys()
            .map(|k| (k, serde_json::json!({})))
            .collect(),
        working_dir: process.cwd().display().to_string(),
        entrypoint: match &o.process.entrypoint {
            Some(e) => Some(e.clone()),
            None => c.entrypoint.clone(),
        },
        labels: labels.into_iter().collect(),
        stop_signal: o
            .process
            .stop_signal
            .clone()
            .or_else(|| c.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into()),
        stop_timeout: o.process.stop_timeout,
        exposed_ports: c
            .exposed_ports
            .clone()
            .unwrap_or_default()
            .into_keys()
            .map(|k| (k, serde_json::json!({})))
            .collect(),
    };
    let mut binds = Vec::new();
    let mut tmpfs = BTreeMap::new();
    let mut mounts = Vec::new();
    for m in &o.mounts {
        match m {
            Mount::Bind { src, dst, ro } => {
                binds.push(format!(
                    "{}:{dst}{}",
                    src.display(),
                    if *ro { ":ro" } else { "" }
                ));
                mounts.push(MountPoint {
                    kind: "bind".into(),
                    source: src.display().to_string(),
                    destination: dst.clone(),
                    mode: if *ro { "ro".into() } else { String::new() },
                    rw: !ro,
                    ..MountPoint::default()
                });
            }
            Mount::Tmpfs { dst, options } => {
                tmpfs.insert(dst.clone(), options.join(","));
            }
            Mount::Volume { name, dst, ro, .. } => {
                if let Some(n) = name {
                    binds.push(format!("{n}:{dst}{}", if *ro { ":ro" } else { "" }));
                }
            }
        }
    }
    rec.mounts = mounts;
    rec.host_config = HostConfig {
        binds,
        log_config: LogConfig {
            kind: "json-file".into(),
            config: o.log.as_map(),
        },
        network_mode: o.network.name(),
        restart_policy: o.restart.clone(),
        auto_remove: o.auto_remove,
        cap_add: o.security.cap_add.clone(),
        cap_drop: o.security.cap_drop.clone(),
        privileged: o.security.privileged,
        readonly_rootfs: o.security.read_only_rootfs,
        security_opt: o.security.security_opt.clone(),
        tmpfs,
        memory: o.resources.memory.unwrap_or(0) as i64,
        nano_cpus: o.resources.cpus.map_or(0, |c| (c * 1e9) as i64),
        cpu_shares: o.resources.cpu_shares.unwrap_or(0) as i64,
        pids_limit: o.resources.pids_limit,
        ulimits: o.resources.ulimits.iter().map(|u| u.to_string()).collect(),
        init: o.process.init,
    };
    Ok(rec)
}

/// Volumes resolved to bind mounts of their data (made, and filled from the image when
/// empty, as needed), plus the image's VOLUMEs as anonymous volumes; and their records.
fn resolve_mounts(
    cs: &Containers,
    id: &str,
    img: &berth_image::Image,
    o: &ContainerConfig,
    rootfs_dir: &Path,
) -> Result<(Vec<Mount>, Vec<MountPoint>)> {
    let vols = volume::Volumes::new(&cs.root);
    let mut wanted = o.mounts.clone();
    let taken = |d: &str, w: &[Mount]| {
        w.iter().any(|m| match m {
            Mount::Bind { dst, .. } | Mount::Volume { dst, .. } | Mount::Tmpfs { dst, .. } => {
                dst.trim_end_matches('/') == d.trim_end_matches('/')
            }
        })
    };
    for v in img
        .config
        .config
        .volumes
        .clone()
        .unwrap_or_default()
        .into_keys()
    {
        if !taken(&v, &wanted) {
            wanted.push(Mount::Volume {
                name: None,
                dst: v,
                ro: false,
                nocopy: false,
            });
        }
    }
    let mut mounts = Vec::new();
    let mut points = Vec::new();
    let mut root_fd = None;
    for m in wanted {
        let Mount::Volume {
            name,
            dst,
            ro,
            nocopy,
        } = m
        else {
            mounts.push(m);
            continue;
        };
        let anonymous = name.is_none();
        let name = match name {
            Some(n) => n,
            None => volume::VolumeName::new(&new_id()?)?,
        };
        cs.update(id, |r| {
            r.host_objects.push(HostObject::Volume {
                name: name.to_string(),
                anonymous,
            })
        })?;
        let v = vols.create(&name, BTreeMap::new(), anonymous.then_some(id))?;
        if vols.claim_copy_up(&name)? && !nocopy {
            // Docker's copy-up: the image's files at the mount point seed the volume.
            let rfd = match &root_fd {
                Some(f) => f,
                None => root_fd.insert(fscopy::open_dir(rootfs_dir)?),
            };
            let (parent, last) = fscopy::split(Path::new(&dst))?;
            if let Ok(pfd) = fscopy::open_in(rfd, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
                if fscopy::is_dir_at(&pfd, &last) {
                    let vdir = fscopy::open_dir(&vols.dir_of(&name))?;
                    fscopy::copy_entry(
                        pfd.as_fd(),
                        &last,
                        vdir.as_fd(),
                        std::ffi::OsStr::new("_data"),
                        true,
                    )
                    .with_context(|| format!("copy {dst} of the image into volume {name}"))?;
                }
            }
        }
        mounts.push(Mount::Bind {
            src: v.mountpoint.clone(),
            dst: dst.clone(),
            ro,
        });
        points.push(MountPoint {
            kind: "volume".into(),
            name: name.to_string(),
            source: v.mountpoint.display().to_string(),
            destination: dst,
            mode: if ro { "ro".into() } else { "z".into() },
            rw: !ro,
            anonymous,
        });
    }
    Ok((mounts, points))
}

/// The clean-up after a failure failed too: the first error is the one to return; this one
/// is said as a warning, so neither is lost.
fn warn_if_failed(res: Result<()>) {
    if let Err(e) = res {
        eprintln!("berth: warning: {}", crate::error_chain(&e));
    }
}

/// `berth run`: creates the container, then starts it under a monitor (`detach`: prints
/// the id) or in the foreground (returns its exit status).
pub fn run(root: &Path, o: &ContainerConfig, detach: bool) -> Result<i32> {
    lifecycle::heal(root)?;
    berth_runtime::debug::step("engine: healed");
    let cs = Containers::new(root);
    let (rec, lock) = create(root, o)?;
    if detach {
        if let Err(e) = monitor::launch(&cs, &rec.id, lock) {
            warn_if_failed(lifecycle::remove(&cs, &rec.id, true, true));
            return Err(e);
        }
        println!("{}", rec.id);
        return Ok(0);
    }
    let l = match start_container(&cs, &rec, Attach::Foreground) {
        Ok(l) => l,
        Err(e) => {
            let (code, msg) = exit_error(&e);
            warn_if_failed(lifecycle::record_failed_start(&cs, &rec.id, code, &msg));
            warn_if_failed(lifecycle::release(&cs, &rec.id));
            if o.auto_remove {
                drop(lock);
                warn_if_failed(lifecycle::remove(&cs, &rec.id, true, true));
            }
            return Err(e);
        }
    };
    let status = logs::tee_foreground(&rec, l);
    let code = match &status {
        Ok(c) => *c,
        Err(_) => 255,
    };
    let finished = lifecycle::finish(&cs, &rec.id, code, false);
    berth_runtime::debug::step("engine: exit recorded, container released");
    drop(lock);
    status?;
    finished?;
    Ok(code)
}
