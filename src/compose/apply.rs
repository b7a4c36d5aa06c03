//! What `up`, `create` and `down` do to the host, through the engine: images (found, built
//! or pulled), the project's networks and volumes, containers converged to the model in
//! dependency order (unchanged ones left alone, changed ones recreated, a service's extra
//! replicas removed), and everything the project made taken down again in reverse.
//!
//! Containers are made in this process; they are started by `berth start` child processes,
//! one per container and all of a level at once: a monitor is forked from a single-threaded
//! process (sys::fork_single_threaded), and processes give the parallelism for free.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use berth_image::Store;

use super::images;
use super::load::Project;
use super::model::Service;
use super::plan::{self, Instance, L_HASH, L_NUMBER, L_ONEOFF, L_PROJECT, L_SERVICE};
use crate::engine::container::{Containers, Record, Status};
use crate::engine::{self, lifecycle, network, volume};

/// What `up`/`create` were asked.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub services: Vec<String>,
    pub no_deps: bool,
    pub build: bool,
    pub no_build: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub scale: BTreeMap<String, u32>,
    pub remove_orphans: bool,
    /// Leave them created (`compose create`).
    pub no_start: bool,
    /// Seconds a container being recreated has to stop.
    pub timeout: Option<u64>,
    /// Wait for every service to be running (and healthy, with a healthcheck); seconds.
    pub wait: Option<Option<u64>>,
}

/// Progress lines as docker compose prints them (` ✔ Container p-web-1  Started`), on stderr.
pub fn say(kind: &str, name: &str, what: &str) {
    eprintln!(" \u{2714} {kind} {name}  {what}");
}

/// The project's containers (one-off `run` containers too when `oneoff`), by service then
/// number.
pub fn containers(root: &Path, project: &str, oneoff: bool) -> Vec<Record> {
    let mut v: Vec<Record> = Containers::new(root)
        .all()
        .into_iter()
        .filter(|r| r.config.labels.get(L_PROJECT).map(String::as_str) == Some(project))
        .filter(|r| oneoff || r.config.labels.get(L_ONEOFF).map(String::as_str) != Some("True"))
        .collect();
    v.sort_by_key(|r| (service_of(r).to_string(), number_of(r)));
    v
}

pub fn service_of(r: &Record) -> &str {
    r.config.labels.get(L_SERVICE).map_or("", String::as_str)
}

pub fn number_of(r: &Record) -> u32 {
    r.config
        .labels
        .get(L_NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A container's status now (the kernel corrects a record nobody watches).
pub fn status(root: &Path, r: &Record) -> Status {
    lifecycle::current_status(&Containers::new(root), r)
}

/// The berth binary, to run `berth start` children.
pub(super) fn berth(root: &Path) -> Result<Command> {
    let exe = std::fs::read_link("/proc/self/exe").context("find the berth binary")?;
    let mut c = Command::new(exe);
    c.arg("--root").arg(root).stdin(Stdio::null());
    Ok(c)
}

/// Starts made containers, all at once, each by a `berth start` child; waits for all.
pub fn start_all(root: &Path, recs: &[(String, String)]) -> Result<()> {
    let mut children = Vec::new();
    for (id, name) in recs {
        let child = berth(root)?
            .args(["start-made", id])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // A Ctrl-C for a foreground `up` must not kill a start half-way.
            .process_group(0)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        children.push((name.clone(), child));
    }
    let mut errors = Vec::new();
    let cs = Containers::new(root);
    for ((id, _), (name, child)) in recs.iter().zip(children) {
        let out = child
            .wait_with_output()
            .with_context(|| format!("start {name}"))?;
        // `berth start` leaves a container someone watches alone: it must have started.
        let never = cs
            .load(id)
            .is_ok_and(|r| r.state.status == Status::Created && !lifecycle::watched(&cs, id));
        if out.status.success() && never {
            errors.push(format!("container {name}: did not start"));
        } else if out.status.success() {
            say("Container", &name, "Started");
        } else {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let msg = msg.strip_prefix("berth: ").unwrap_or(&msg).to_string();
            errors.push(format!("container {name}: {msg}"));
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}

/// The project's networks that `services` join: made (labelled) unless they exist; an
/// external one must exist.
pub fn ensure_networks(root: &Path, p: &Project, services: &BTreeSet<String>) -> Result<()> {
    let mut keys = BTreeSet::new();
    for n in services {
        if let Some(s) = plan::service(p, n) {
            keys.extend(plan::service_networks(s));
        }
    }
    for key in keys {
        let name = plan::network_name(p, &key);
        let def = p.model.networks.get(&key).cloned().unwrap_or_default();
        if network::find(root, &name).is_ok() {
            continue;
        }
        if def.external {
            bail!("network {name} declared as external, but could not be found");
        }
        let ipam = def
            .ipam
            .as_ref()
            .and_then(|i| i.config.first())
            .cloned()
            .unwrap_or_default();
        let at = |f: &str| format!("networks.{key}.ipam.config[0].{f}");
        let mut labels = def.labels.clone();
        labels.insert(L_PROJECT.into(), p.name.clone());
        labels.insert(plan::L_NETWORK.into(), key.clone());
        labels.insert(plan::L_VERSION.into(), plan::COMPOSE_VERSION.into());
        let c = network::NetworkConfig {
            name: name.clone(),
            driver: def.driver.clone().unwrap_or_default(),
            subnet: match &ipam.subnet {
                Some(s) => Some(
                    s.parse()
                        .map_err(|e| anyhow::anyhow!("{}: {e}", at("subnet")))?,
                ),
                None => None,
            },
            gateway: match &ipam.gateway {
                Some(g) => Some(
                    g.parse()
                        .with_context(|| format!("{}: {g:?}", at("gateway")))?,
                ),
                None => None,
            },
            ip_range: match &ipam.ip_range {
                Some(s) => Some(
                    s.parse()
                        .map_err(|e| anyhow::anyhow!("{}: {e}", at("ip_range")))?,
                ),
                None => None,
            },
            internal: def.internal,
            labels,
            options: def.driver_opts.clone(),
            mtu: None,
        };
        network::create(root, &c).with_context(|| format!("network {name}"))?;
        say("Network", &name, "Created");
    }
    Ok(())
}

/// The project's named volumes that `services` mount: made (labelled) unless they exist;
/// an external one must exist.
pub fn ensure_volumes(root: &Path, p: &Project, services: &BTreeSet<String>) -> Result<()> {
    let vols = volume::Volumes::new(root);
    let mut keys = BTreeSet::new();
    for n in services {
        if let Some(s) = plan::service(p, n) {
            for v in &s.volumes {
                if v.kind == "volume" {
                    if let Some(src) = &v.source {
                        keys.insert(src.clone());
                    }
                }
            }
        }
    }
    for key in keys {
        let name = volume::VolumeName::new(&plan::volume_name(p, &key))
            .with_context(|| format!("volumes.{key}"))?;
        let def = p.model.volumes.get(&key).cloned().unwrap_or_default();
        if vols.get(&name).is_ok() {
            continue;
        }
        if def.external {
            bail!("volume {name} declared as external, but could not be found");
        }
        let mut labels = def.labels.clone();
        labels.insert(L_PROJECT.into(), p.name.clone());
        labels.insert(plan::L_VOLUME.into(), key.clone());
        labels.insert(plan::L_VERSION.into(), plan::COMPOSE_VERSION.into());
        vols.create(&name, labels, None)?;
        say("Volume", name.as_str(), "Created");
    }
    Ok(())
}

/// Stops (if running) and removes a container.
pub fn stop_and_remove(root: &Path, r: &Record, timeout: Option<u64>, volumes: bool) -> Result<()> {
    let cs = Containers::new(root);
    if status(root, r).is_alive() {
        let t = Duration::from_secs(
            timeout
                .or(r.config.stop_timeout.map(|t| t.max(0) as u64))
                .unwrap_or(10),
        );
        lifecycle::stop(&cs, r, t)?;
    }
    lifecycle::remove(&cs, &r.id, true, volumes)
}

/// Stops containers, those of a group at once (threads), in order of the groups.
pub fn stop_groups(
    root: &Path,
    groups: Vec<Vec<Record>>,
    timeout: Option<u64>,
    remove: bool,
    volumes: bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    for g in groups {
        let results: Vec<(String, Result<()>)> = std::thread::scope(|sc| {
            let hs: Vec<_> = g
                .iter()
                .filter(|r| remove || status(root, r).is_alive())
                .map(|r| {
                    let name = r.bare_name().to_string();
                    (
                        name,
                        sc.spawn(move || -> Result<()> {
                            let cs = Containers::new(root);
                            if remove {
                                stop_and_remove(root, r, timeout, volumes)
                            } else {
                                let t = Duration::from_secs(
                                    timeout
                                        .or(r.config.stop_timeout.map(|t| t.max(0) as u64))
                                        .unwrap_or(10),
                                );
                                lifecycle::stop(&cs, r, t)
                            }
                        }),
                    )
                })
                .collect();
            hs.into_iter()
                .map(|(n, h)| {
                    (
                        n,
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("panicked"))),
                    )
                })
                .collect()
        });
        for (n, r) in results {
            match r {
                Ok(()) => say("Container", &n, if remove { "Removed" } else { "Stopped" }),
                Err(e) => errors.push(format!("container {n}: {}", crate::error_chain(&e))),
            }
        }
    }
    errors
}

/// Groups a project's containers for stopping: dependants before what they depend on
/// (the reverse of the start levels); services the model no longer has come first.
pub fn reverse_groups(p: &Project, recs: Vec<Record>) -> Vec<Vec<Record>> {
    let all: BTreeSet<String> = p
        .model
        .services
        .keys()
        .chain(p.inactive.keys())
        .cloned()
        .collect();
    let levels = plan::levels(p, &all);
    let mut groups: Vec<Vec<Record>> = Vec::new();
    let (known, orphans): (Vec<Record>, Vec<Record>) =
        recs.into_iter().partition(|r| all.contains(service_of(r)));
    if !orphans.is_empty() {
        groups.push(orphans);
    }
    let mut known = known;
    for level in levels.into_iter().rev() {
        let (g, rest): (Vec<Record>, Vec<Record>) = known
            .into_iter()
            .partition(|r| level.iter().any(|l| l == service_of(r)));
        known = rest;
        if !g.is_empty() {
            groups.push(g);
        }
    }
    groups
}

/// `up` / `create`: converges the selected services to the model.
pub fn up(root: &Path, p: &Project, o: &UpOptions) -> Result<()> {
    lifecycle::heal(root)?;
    let selected = plan::selection(p, &o.services, o.no_deps)?;
    for n in o.scale.keys() {
        if !selected.contains(n) {
            bail!("--scale {n}: no such service in the selection");
        }
    }
    // Orphans: containers of services the model does not have.
    let known: BTreeSet<&String> = p.model.services.keys().chain(p.inactive.keys()).collect();
    let orphans: Vec<Record> = containers(root, &p.name, false)
        .into_iter()
        .filter(|r| !known.contains(&service_of(r).to_string()))
        .collect();
    if !orphans.is_empty() {
        if o.remove_orphans {
            let errs = stop_groups(root, vec![orphans], o.timeout, true, false);
            if !errs.is_empty() {
                bail!("{}", errs.join("; "));
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|r| r.bare_name()).collect();
            eprintln!(
                "berth: warning: found orphan containers ({}) for this project; remove them with --remove-orphans",
                names.join(", ")
            );
        }
    }
    // Images first: a build that fails leaves nothing started. Builds run side by side.
    let store = Store::open(root)?;
    let to_build: Vec<String> = selected
        .iter()
        .filter(|n| {
            plan::service(p, n).is_some_and(|s| {
                s.build.is_some()
                    && (o.build
                        || (!o.no_build && store.resolve(&plan::image_of(p, n, s)).is_err()))
            })
        })
        .cloned()
        .collect();
    images::build_all(root, p, &to_build, false)?;
    let mut images = BTreeMap::new();
    for n in &selected {
        let s = plan::service(p, n).with_context(|| format!("no such service: {n}"))?;
        images.insert(
            n.clone(),
            images::ensure_image(root, p, n, s, false, o.no_build)?,
        );
    }
    ensure_networks(root, p, &selected)?;
    ensure_volumes(root, p, &selected)?;
    for level in plan::levels(p, &selected) {
        // A Ctrl-C of a foreground up while it starts: nothing more is started.
        if crate::sys::interrupts() > 0 {
            bail!("interrupted");
        }
        for n in &level {
            let s = plan::service(p, n).with_context(|| format!("no such service: {n}"))?;
            wait_dependencies(root, p, n, s, &selected)?;
        }
        let mut to_start = Vec::new();
        for n in &level {
            let s = plan::service(p, n).with_context(|| format!("no such service: {n}"))?;
            // --force-recreate and --no-recreate are for the services named (all when none
            // are); dependencies pulled in are recreated only if they changed.
            let named = o.services.is_empty() || o.services.contains(n);
            let mut so = o.clone();
            if !named {
                so.force_recreate = false;
                so.no_recreate = false;
            }
            to_start.extend(converge(root, p, n, s, &images[n], &so)?);
        }
        if !o.no_start {
            start_all(root, &to_start)?;
        }
    }
    if let Some(limit) = o.wait {
        wait_running(root, p, &selected, limit)?;
    }
    Ok(())
}

/// Makes, keeps or recreates the containers of one service; returns those to start.
fn converge(
    root: &Path,
    p: &Project,
    name: &str,
    s: &Service,
    image_id: &str,
    o: &UpOptions,
) -> Result<Vec<(String, String)>> {
    let want = o.scale.get(name).copied().unwrap_or_else(|| s.replicas());
    if s.container_name.is_some() && want > 1 {
        bail!(
            "services.{name}: container_name {:?} cannot be used by {want} replicas",
            s.container_name.as_deref().unwrap_or_default()
        );
    }
    let hash = plan::config_hash(s, image_id);
    let existing: Vec<Record> = containers(root, &p.name, false)
        .into_iter()
        .filter(|r| service_of(r) == name)
        .collect();
    let mut to_start = Vec::new();
    let mut kept: BTreeMap<u32, Record> = BTreeMap::new();
    let mut extra = Vec::new();
    for r in existing {
        let n = number_of(&r);
        if n == 0 || n > want || kept.contains_key(&n) {
            extra.push(r);
        } else {
            kept.insert(n, r);
        }
    }
    // Scaled down: the highest numbers go, as docker compose does.
    let errs = stop_groups(root, vec![extra], o.timeout, true, false);
    if !errs.is_empty() {
        bail!("{}", errs.join("; "));
    }
    for number in 1..=want {
        let image = plan::image_of(p, name, s);
        let cfg = plan::container_config(
            p,
            s,
            &Instance {
                service: name,
                number,
                image: &image,
                image_id,
            },
        )?;
        let cname = cfg.name.clone().unwrap_or_default();
        if let Some(r) = kept.remove(&number) {
            let changed = r.config.labels.get(L_HASH) != Some(&hash);
            if o.force_recreate || (changed && !o.no_recreate) {
                eprintln!(" Container {cname}  Recreate");
                stop_and_remove(root, &r, o.timeout, false)?;
            } else {
                if !status(root, &r).is_alive() {
                    to_start.push((r.id.clone(), cname));
                } else {
                    say("Container", &cname, "Running");
                }
                continue;
            }
        }
        let (rec, lock) = engine::create(root, &cfg)
            .with_context(|| format!("service {name}: create container {cname}"))?;
        drop(lock);
        say("Container", &cname, "Created");
        to_start.push((rec.id, cname));
    }
    Ok(to_start)
}

/// How often a wait looks at the containers' records again: a dependency's health shows
/// there the moment its monitor writes it, and the dependant should start within a blink.
const POLL: Duration = Duration::from_millis(25);

/// Waits until what `name` depends on is as its conditions ask: started (done by the
/// level order), healthy, or exited 0.
fn wait_dependencies(
    root: &Path,
    p: &Project,
    name: &str,
    s: &Service,
    selected: &BTreeSet<String>,
) -> Result<()> {
    for (dep, d) in &s.depends_on {
        if !selected.contains(dep) {
            continue;
        }
        match d.condition.as_str() {
            "service_healthy" => {
                // The service's healthcheck, or its image's: the containers' records say.
                let has_check = containers(root, &p.name, false)
                    .iter()
                    .filter(|r| service_of(r) == dep)
                    .all(|r| r.config.healthcheck.as_ref().is_some_and(|h| h.enabled()));
                if !has_check {
                    bail!("services.{name}.depends_on.{dep}: condition service_healthy, but {dep} has no healthcheck");
                }
                eprintln!(" Container {}-{dep}  Waiting", p.name);
                loop {
                    let recs: Vec<Record> = containers(root, &p.name, false)
                        .into_iter()
                        .filter(|r| service_of(r) == dep)
                        .collect();
                    let health: Vec<String> = recs.iter().map(|r| health_of(root, r)).collect();
                    if !health.is_empty() && health.iter().all(|h| h == "healthy") {
                        say("Container", &format!("{}-{dep}", p.name), "Healthy");
                        break;
                    }
                    if health.iter().any(|h| h == "unhealthy") {
                        bail!(
                            "dependency failed to start: container {} is unhealthy",
                            recs[0].bare_name()
                        );
                    }
                    if recs.iter().any(|r| !status(root, r).is_alive()) {
                        bail!(
                            "dependency failed to start: container {} exited",
                            recs[0].bare_name()
                        );
                    }
                    std::thread::sleep(POLL);
                }
            }
            "service_completed_successfully" => loop {
                let recs: Vec<Record> = containers(root, &p.name, false)
                    .into_iter()
                    .filter(|r| service_of(r) == dep)
                    .collect();
                let done: Vec<Option<i32>> = recs
                    .iter()
                    .map(|r| {
                        let r = Containers::new(root)
                            .load(&r.id)
                            .unwrap_or_else(|_| r.clone());
                        (!status(root, &r).is_alive()
                            && !lifecycle::watched(&Containers::new(root), &r.id))
                        .then_some(r.state.exit_code)
                    })
                    .collect();
                if let Some((r, Some(c))) = recs
                    .iter()
                    .zip(&done)
                    .find(|(_, c)| matches!(c, Some(c) if *c != 0))
                {
                    bail!("service {dep:?} didn't complete successfully: container {} exited with {c}", r.bare_name());
                }
                if done.iter().all(Option::is_some) {
                    break;
                }
                std::thread::sleep(POLL);
            },
            _ => {}
        }
    }
    Ok(())
}

/// A container's health as `ps` shows it: "" (no healthcheck), starting, healthy, unhealthy.
pub fn health_of(root: &Path, r: &Record) -> String {
    let r = Containers::new(root)
        .load(&r.id)
        .unwrap_or_else(|_| r.clone());
    r.state_health()
}

/// `--wait`: every selected service's containers running (and healthy, with a check).
fn wait_running(
    root: &Path,
    p: &Project,
    selected: &BTreeSet<String>,
    limit: Option<u64>,
) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let mut pending = Vec::new();
        for r in containers(root, &p.name, false) {
            if !selected.contains(service_of(&r)) {
                continue;
            }
            let st = status(root, &r);
            let h = health_of(root, &r);
            if h == "unhealthy" {
                bail!("container {} is unhealthy", r.bare_name());
            }
            if !st.is_alive() {
                let code = Containers::new(root)
                    .load(&r.id)
                    .map(|x| x.state.exit_code)
                    .unwrap_or(0);
                bail!("container {} exited ({code})", r.bare_name());
            }
            if h == "starting" {
                pending.push(r.bare_name().to_string());
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if limit.is_some_and(|l| t0.elapsed() > Duration::from_secs(l)) {
            bail!("timed out waiting for {}", pending.join(", "));
        }
        std::thread::sleep(POLL);
    }
}

/// `down`: the project's containers stopped and removed (dependants first), then its
/// networks, then (`volumes`) its volumes, then (`rmi`) its images.
pub fn down(
    root: &Path,
    p: &Project,
    volumes: bool,
    rmi: Option<&str>,
    remove_orphans: bool,
    timeout: Option<u64>,
) -> Result<()> {
    lifecycle::heal(root)?;
    let known: BTreeSet<String> = p
        .model
        .services
        .keys()
        .chain(p.inactive.keys())
        .cloned()
        .collect();
    let all = containers(root, &p.name, true);
    let (mine, orphans): (Vec<Record>, Vec<Record>) =
        all.into_iter().partition(|r| known.contains(service_of(r)));
    let mut recs = mine;
    if remove_orphans {
        recs.extend(orphans);
    } else if !orphans.is_empty() {
        let names: Vec<&str> = orphans.iter().map(|r| r.bare_name()).collect();
        eprintln!("berth: warning: found orphan containers ({}) for this project; remove them with --remove-orphans", names.join(", "));
    }
    let images: BTreeSet<String> = recs.iter().map(|r| r.config.image.clone()).collect();
    let mut errors = stop_groups(root, reverse_groups(p, recs), timeout, true, volumes);
    // Networks: those up made (labelled with the project), unless a container still uses one.
    for n in network::list(root).unwrap_or_default() {
        if n.labels.get(L_PROJECT) != Some(&p.name) {
            continue;
        }
        match network::remove(root, &n.name) {
            Ok(()) => say("Network", &n.name, "Removed"),
            Err(e) => errors.push(format!("network {}: {}", n.name, crate::error_chain(&e))),
        }
    }
    if volumes {
        let vols = volume::Volumes::new(root);
        let cs = Containers::new(root);
        for v in vols.all() {
            if v.labels.get(L_PROJECT) != Some(&p.name) {
                continue;
            }
            let Ok(name) = volume::VolumeName::new(&v.name) else {
                continue;
            };
            match vols.remove(&cs, &name) {
                Ok(()) => say("Volume", &v.name, "Removed"),
                Err(e) => errors.push(format!("volume {}: {}", v.name, crate::error_chain(&e))),
            }
        }
    }
    if let Some(mode) = rmi {
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for (n, s) in p.model.services.iter().chain(p.inactive.iter()) {
            match mode {
                "all" => {
                    wanted.insert(plan::image_of(p, n, s));
                }
                "local" if s.image.is_none() => {
                    wanted.insert(plan::image_of(p, n, s));
                }
                "local" => {}
                m => bail!("--rmi {m:?}: want local or all"),
            }
        }
        if mode == "all" {
            wanted.extend(images);
        }
        let store = Store::open(root)?;
        for i in wanted {
            let Ok(img) = store.resolve(&i) else { continue };
            match store.remove_manifest(&img.manifest_digest) {
                Ok(_) => say("Image", &i, "Removed"),
                Err(e) => errors.push(format!("image {i}: {e}")),
            }
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}
