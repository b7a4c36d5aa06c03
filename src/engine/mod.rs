//! The engine: wires the image store and the runtime together into Docker's container
//! model. Containers are directories with a record (container.rs); detached ones are watched
//! by a monitor process (monitor.rs); stop/rm/heal live in lifecycle.rs.
//!
//! ```text
//! <root>/containers/.lock       flock guarding the set (create, rename, remove, heal)
//! <root>/containers/.summaries  what `ps` shows of each container, by record key (summary.rs)
//! <root>/containers/.gen        the containers' generation, new before each change (container.rs)
//! <root>/containers/<id>/       one directory per container
//!   .lock                       held by whatever watches the container (monitor, foreground run)
//!   .state.lock                 guards read-modify-write of container.json
//!   container.json              the record, shaped as `docker inspect` prints it
//!   layers                      the chain ids it stacks on (rmi/gc keep them)
//!   config.json                 the OCI bundle config made from the image + flags
//!   container.log[.N]           stdout/stderr as JSON lines (detached and foreground)
//!   upper/ work/ rootfs/        overlay over the image's layers; rootfs is the mount
//! <root>/runtime/               berth-runtime's state (--root of the runtime)
//! ```

pub mod access;
pub mod attach;
pub mod auth;
pub mod base;
pub mod build;
pub mod config;
pub mod container;
pub mod events;
pub mod fault;
pub mod foreground;
pub mod fscopy;
pub mod fsutil;
pub mod health;
pub mod host;
pub mod lifecycle;
pub mod network;
pub mod options;
pub mod seccomp;
pub mod snapshot;
pub mod spec;
pub mod start;
pub mod summary;
pub mod system;
pub mod teardown;
pub mod update;
pub mod volume;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use berth_image::{layers, rootfs, Store};
use nix::fcntl::{Flock, FlockArg, OFlag};

use container::{CConfig, CState, Containers, HostConfig, LogConfig, MountPoint, Record, Status};
use teardown::HostObject;

pub use base::{
    exit_error, is_mountpoint, lock_existing, lock_file_named, new_id, runtime_root, ExitError,
    EXIT_BERTH,
};
pub use config::{ContainerConfig, Mount};
pub use start::{start_container, Attach};

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

/// Makes a container from `o`: its directory, record, overlay and OCI config. Returns the
/// record and the held `.lock` of the container.
pub fn create(root: &Path, o: &ContainerConfig) -> Result<(Record, Flock<File>)> {
    let store = Store::open(root)?;
    let img = store.resolve(&o.image)?;
    create_from(root, &store, &img, o)
}

/// `create` from an image already at hand, named in the store or not (a build step's
/// intermediate image); `o.image` is only recorded.
pub fn create_from(
    root: &Path,
    store: &Store,
    img: &berth_image::Image,
    o: &ContainerConfig,
) -> Result<(Record, Flock<File>)> {
    let netns = network_namespace(root, &o.network)?;
    layers::ensure(store, &img.manifest.layers, &img.config)?;
    berth_runtime::debug::step("engine: image resolved");
    let cs = Containers::new(root);
    let id = new_id()?;
    let dir = cs.dir_of(&id);
    let lock = {
        let _set = cs.lock_set()?;
        cs.ensure_index()?;
        let name = match &o.name {
            Some(n) => {
                container::check_name(n)?;
                if let Some(other) = cs.name_owner(n) {
                    anyhow::bail!(
                        "the name {n:?} is already used by container {}; remove it or pick another name",
                        &other[..12]
                    );
                }
                n.clone()
            }
            None => container::random_name(&id, |n| cs.name_owner(n).is_some()),
        };
        // The name is the container's from here: the index first, then the record.
        cs.index_name(&name, &id)?;
        // A directory without a record yet: ps must look, also if we are killed now.
        let changing = cs.changing()?;
        fsutil::mkdir_private(&dir)?;
        let lock = base::lock_file(&dir, FlockArg::LockExclusive)?;
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
            // Recorded before they are made, like every host object after them (a
            // namespace of its own for a bridge network, made below).
            host_objects: if matches!(o.network, config::NetworkMode::Bridge(_)) {
                vec![HostObject::Overlay, HostObject::Netns]
            } else {
                vec![HostObject::Overlay]
            },
            ..Record::default()
        };
        // The record exists before the set lock is released, so the name is taken.
        cs.save(&rec)?;
        drop(changing);
        lock
    };
    berth_runtime::debug::step("engine: container named and locked");
    let res = (|| -> Result<Record> {
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
            store,
            &img.chain_ids(),
            &upper,
            &work,
            &rootfs_dir,
            o.auto_remove,
        )?;
        berth_runtime::debug::step("engine: overlay mounted");
        let (mut mounts, points) = resolve_mounts(&cs, &id, img, o, &rootfs_dir)?;
        fault::point("volumes")?;
        // Its own namespace for a bridge network: made now, before the runtime starts, and
        // again by `start` after a stop. `none` is the runtime's new namespace, with `lo` up
        // (as Docker's): nothing outside the container's processes holds it, and no network
        // can be connected to it later (attach::connect), so nothing needs it kept.
        let plan = match &o.network {
            config::NetworkMode::Bridge(atts) => {
                Some(network::attach::Plan::of(o, atts, &exposed_of(img)))
            }
            _ => None,
        };
        let (netns, nameserver) = match &plan {
            Some(p) => {
                p.save(&cs, &id)?;
                let (path, ns) = network::attach::setup(&cs, &id, p)?;
                (spec::NetNs::Join(path), ns)
            }
            None => (netns, None),
        };
        mounts.extend(network::files::make(&cs, &id, o, nameserver)?);
        mounts.extend(given_files(&dir, &o.files)?);
        berth_runtime::debug::step("engine: network set up");
        let spec = spec::build(img, o, &netns, &mounts, &id, &rootfs_dir)?;
        berth_runtime::debug::step("engine: spec built");
        fault::point("spec")?;
        fsutil::write_private(&dir.join("config.json"), &serde_json::to_vec_pretty(&spec)?)?;
        let mut rec = record_of(&cs, &id, img, o, &spec)?;
        rec.mounts.extend(points);
        // Made by start; recorded now, so a container killed while starting is found.
        rec.host_objects.push(HostObject::Runtime);
        cs.save(&rec)?;
        if matches!(o.network, config::NetworkMode::Bridge(_)) {
            network::attach::announce(&cs, &id);
        }
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

/// The ports the image exposes ("80/tcp"), for `-P`.
fn exposed_of(img: &berth_image::Image) -> Vec<(u16, options::Proto)> {
    img.config
        .config
        .exposed_ports
        .clone()
        .unwrap_or_default()
        .into_keys()
        .filter_map(|k| {
            let (p, proto) = k.split_once('/').unwrap_or((&k, "tcp"));
            let proto = match proto {
                "udp" => options::Proto::Udp,
                "sctp" => options::Proto::Sctp,
                _ => options::Proto::Tcp,
            };
            Some((p.parse().ok()?, proto))
        })
        .collect()
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
        // Made in create, once the container has an id (network::attach::setup).
        NetworkMode::Bridge(_) => spec::NetNs::New,
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
        // The image's HEALTHCHECK (Docker's shape), or the one given (run's flags, compose).
        healthcheck: health::merge(
            c.other
                .get("Healthcheck")
                .and_then(|h| serde_json::from_value(h.clone()).ok()),
            o.process.health.clone(),
        ),
        hostname: spec::container_hostname(o, id),
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
        memory_swap: o.resources.memory_swap.unwrap_or(0),
        cpuset_cpus: o.resources.cpuset_cpus.clone().unwrap_or_default(),
        memory_reservation: o.resources.memory_reservation.unwrap_or(0) as i64,
        shm_size: o.resources.shm_size.unwrap_or(spec::DEFAULT_SHM_SIZE) as i64,
        oom_score_adj: o.process.oom_score_adj.unwrap_or(0).into(),
        group_add: o.process.group_add.clone(),
        sysctls: o.security.sysctls.clone(),
        pid_mode: o.security.namespaces.pid.clone(),
        // Docker shows its default, "private", rather than nothing.
        ipc_mode: match o.security.namespaces.ipc.as_str() {
            "" => "private".into(),
            m => m.to_string(),
        },
        uts_mode: o.security.namespaces.uts.clone(),
        cgroupns_mode: match o.security.namespaces.cgroup.as_str() {
            "" => "private".into(),
            m => m.to_string(),
        },
        cpu_period: o.resources.cpu_period.unwrap_or(0) as i64,
        cpu_quota: o.resources.cpu_quota.unwrap_or(0),
        devices: o
            .resources
            .devices
            .iter()
            .map(|d| container::DeviceMapping {
                path_on_host: d.host.display().to_string(),
                path_in_container: d.container.clone(),
                cgroup_permissions: d.permissions.clone(),
            })
            .collect(),
        ulimits: o.resources.ulimits.iter().map(|u| u.to_string()).collect(),
        init: o.process.init,
    };
    Ok(rec)
}

/// `ContainerConfig.files` written to `<container>/files/<n>` (the directory 0700; each
/// file with its own mode and owner, which the container sees) and bind-mounted read-only.
/// They go with the container's directory.
fn given_files(dir: &Path, files: &[config::FileMount]) -> Result<Vec<Mount>> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let fdir = dir.join("files");
    fsutil::mkdir_private(&fdir)?;
    let mut out = Vec::new();
    for (n, f) in files.iter().enumerate() {
        let p = fdir.join(n.to_string());
        let _ = std::fs::remove_file(&p);
        let mut h = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&p)
            .with_context(|| format!("create {} for {}", p.display(), f.dst))?;
        h.write_all(&f.content)
            .with_context(|| format!("write {}", p.display()))?;
        std::os::unix::fs::fchown(&h, Some(f.uid), Some(f.gid))
            .with_context(|| format!("chown {} for {}", p.display(), f.dst))?;
        h.set_permissions(std::fs::Permissions::from_mode(f.mode & 0o7777))
            .with_context(|| format!("chmod {} for {}", p.display(), f.dst))?;
        out.push(Mount::Bind {
            src: p,
            dst: f.dst.clone(),
            ro: true,
        });
    }
    Ok(out)
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

/// `berth create`: the container made, its lock let go, left `created` until `start` hands
/// it to a monitor (`host::start_detached`). Returns its id.
pub fn create_stopped(root: &Path, o: &ContainerConfig) -> Result<String> {
    lifecycle::heal(root)?;
    let (rec, lock) = create(root, o)?;
    drop(lock);
    Ok(rec.id)
}

/// `berth run`: creates the container, then starts it under a monitor (`detach`: prints
/// the id) or in the foreground (returns its exit status).
pub fn run(root: &Path, o: &ContainerConfig, detach: bool) -> Result<i32> {
    lifecycle::heal(root)?;
    berth_runtime::debug::step("engine: healed");
    let cs = Containers::new(root);
    let (rec, lock) = create(root, o)?;
    if detach {
        if let Err(e) = host::launch(&cs, &rec.id, lock) {
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
    let status = foreground::tee_foreground(&rec, l);
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
