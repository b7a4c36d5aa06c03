//! `berth compose VERB`: the project loaded from the global options, then one call into
//! `crate::compose` per verb.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::{ComposeArgs, ComposeCmd, ComposeCreate};
use crate::compose::apply::{self, service_of, UpOptions};
use crate::compose::attach::{self, Foreground, Prefixer};
use crate::compose::{images, load, plan, show, LoadOptions, Project};
use crate::engine::container::{Containers, Record};
use crate::engine::{self, access, lifecycle};

fn project(a: &ComposeArgs) -> Result<Project> {
    let mut o = LoadOptions::from_process()?;
    o.files = a.files.clone();
    o.project_name = a.project_name.clone();
    o.project_directory = a.project_directory.clone();
    o.env_files = a.env_file.clone();
    o.profiles = a.profile.clone();
    let p = load(&o)?;
    for k in &p.ignored {
        eprintln!("berth: warning: {k} is not supported by berth yet and is ignored");
    }
    Ok(p)
}

/// `--scale web=3` as a map.
fn scales(v: &[String]) -> Result<BTreeMap<String, u32>> {
    v.iter()
        .map(|s| {
            let (k, n) = s
                .split_once('=')
                .with_context(|| format!("--scale {s:?}: want SERVICE=NUM"))?;
            let n = n
                .parse()
                .with_context(|| format!("--scale {s:?}: {n:?} is not a number"))?;
            Ok((k.to_string(), n))
        })
        .collect()
}

fn up_options(c: &ComposeCreate) -> Result<UpOptions> {
    if c.force_recreate && c.no_recreate {
        bail!("--force-recreate and --no-recreate cannot be combined");
    }
    if c.build && c.no_build {
        bail!("--build and --no-build cannot be combined");
    }
    Ok(UpOptions {
        services: c.services.clone(),
        build: c.build,
        no_build: c.no_build,
        force_recreate: c.force_recreate,
        no_recreate: c.no_recreate,
        scale: scales(&c.scale)?,
        remove_orphans: c.remove_orphans,
        ..UpOptions::default()
    })
}

/// The project's containers of `services` (all when empty).
fn of_services(root: &Path, p: &Project, services: &[String], oneoff: bool) -> Result<Vec<Record>> {
    for s in services {
        if plan::service(p, s).is_none() {
            bail!("no such service: {s}");
        }
    }
    Ok(apply::containers(root, &p.name, oneoff)
        .into_iter()
        .filter(|r| services.is_empty() || services.iter().any(|s| s == service_of(r)))
        .collect())
}

fn colour(no_color: bool, ansi: Option<&str>) -> bool {
    !no_color
        && ansi != Some("never")
        && std::env::var_os("NO_COLOR").is_none()
        && (ansi == Some("always") || nix::unistd::isatty(std::io::stdout()).unwrap_or(false))
}

pub fn dispatch(root: &Path, a: ComposeArgs) -> Result<i32> {
    let ansi = a.ansi.clone();
    match &a.cmd {
        ComposeCmd::Version => {
            println!(
                "Docker Compose version v{} (berth {})",
                plan::COMPOSE_VERSION,
                env!("CARGO_PKG_VERSION")
            );
            return Ok(0);
        }
        ComposeCmd::Ls(l) => {
            show::ls(root, l.all, l.format == "json", l.quiet)?;
            return Ok(0);
        }
        _ => {}
    }
    let p = project(&a)?;
    let pausing = matches!(a.cmd, ComposeCmd::Pause(_));
    match a.cmd {
        ComposeCmd::Version | ComposeCmd::Ls(_) => {}
        ComposeCmd::Config(c) => {
            let text = if c.services {
                lines(p.model.services.keys())
            } else if c.volumes {
                lines(p.model.volumes.keys())
            } else if c.networks {
                lines(p.model.networks.keys())
            } else if c.profiles {
                let ps: BTreeSet<&String> = p
                    .model
                    .services
                    .values()
                    .chain(p.inactive.values())
                    .flat_map(|s| &s.profiles)
                    .collect();
                lines(ps.into_iter())
            } else if c.images {
                lines(
                    p.model
                        .services
                        .iter()
                        .map(|(n, s)| plan::image_of(&p, n, s)),
                )
            } else {
                let mut p = p.clone();
                if !c.services_args.is_empty() {
                    let keep = plan::selection(&p, &c.services_args, false)?;
                    p.model.services.retain(|n, _| keep.contains(n));
                }
                show::config_text(&p, c.format == "json")?
            };
            if c.quiet {
                return Ok(0);
            }
            match &c.output {
                Some(f) => {
                    std::fs::write(f, text).with_context(|| format!("write {}", f.display()))?
                }
                None => print!("{text}"),
            }
        }
        ComposeCmd::Up(u) => {
            let mut o = up_options(&u.create)?;
            o.no_deps = u.no_deps;
            o.timeout = u.timeout;
            if u.wait {
                o.wait = Some(u.wait_timeout);
            }
            let detach = u.detach || u.wait;
            if !detach {
                // Ctrl-C while starting is seen too: the services are stopped after.
                crate::sys::count_interrupts();
            }
            if let Err(e) = apply::up(root, &p, &o) {
                if !detach && crate::sys::interrupts() > 0 {
                    // Ctrl-C while starting: what did start is stopped again, as after.
                    eprintln!("Gracefully stopping...");
                    let recs = of_services(root, &p, &o.services, false)?;
                    for e in apply::stop_groups(
                        root,
                        apply::reverse_groups(&p, recs),
                        u.timeout,
                        false,
                        false,
                    ) {
                        eprintln!("berth: {e}");
                    }
                    return Ok(130);
                }
                return Err(e);
            }
            if detach {
                return Ok(0);
            }
            let selected = plan::selection(&p, &o.services, o.no_deps)?;
            let pf = Prefixer::new(
                &[],
                colour(u.no_color, ansi.as_deref()),
                !u.no_log_prefix,
                false,
            );
            return attach::foreground(
                root,
                &p,
                &selected,
                &pf,
                &Foreground {
                    abort_on_exit: u.abort_on_container_exit || u.exit_code_from.is_some(),
                    exit_code_from: u.exit_code_from,
                    timeout: u.timeout,
                },
            );
        }
        ComposeCmd::Create(c) => {
            let mut o = up_options(&c)?;
            o.no_start = true;
            apply::up(root, &p, &o)?;
        }
        ComposeCmd::Down(d) => {
            apply::down(
                root,
                &p,
                d.volumes,
                d.rmi.as_deref(),
                d.remove_orphans,
                d.timeout,
            )?;
        }
        ComposeCmd::Ps(s) => {
            show::ps(
                root,
                &p,
                &show::PsOptions {
                    all: s.all,
                    services: s.names,
                    status: s.status,
                    json: s.format == "json",
                    quiet: s.quiet,
                    names_only: s.services,
                },
            )?;
        }
        ComposeCmd::Logs(l) => {
            let recs = of_services(root, &p, &l.services, false)?;
            let tail = match l.tail.as_str() {
                "all" | "-1" => None,
                n => Some(
                    n.parse()
                        .with_context(|| format!("--tail {n:?}: want a number or \"all\""))?,
                ),
            };
            let pf = Prefixer::new(
                &recs,
                colour(l.no_color, ansi.as_deref()),
                !l.no_log_prefix,
                l.timestamps,
            );
            attach::logs(root, &recs, &pf, tail, l.follow)?;
        }
        ComposeCmd::Build(s) => {
            let names: Vec<String> = plan::selection(&p, &s.services, true)?
                .into_iter()
                .collect();
            images::build_all(root, &p, &names, false)?;
        }
        ComposeCmd::Pull(s) => {
            for n in plan::selection(&p, &s.services, true)? {
                let svc = plan::service(&p, &n).with_context(|| format!("no such service: {n}"))?;
                if let Some(i) = &svc.image {
                    if svc.build.is_none() || berth_image::Store::open(root)?.resolve(i).is_err() {
                        if svc.build.is_some() {
                            // docker compose: a service that builds is pulled only if it can be.
                            if let Err(e) = images::pull(root, i) {
                                eprintln!("berth: warning: {n}: {e:#}");
                            }
                        } else {
                            images::pull(root, i)?;
                        }
                    }
                }
            }
        }
        ComposeCmd::Push(s) => {
            // `berth push` per service image (those the file names: built ones need `image:`).
            for n in plan::selection(&p, &s.services, true)? {
                let svc = plan::service(&p, &n).with_context(|| format!("no such service: {n}"))?;
                let Some(image) = &svc.image else { continue };
                let st = std::process::Command::new(std::fs::read_link("/proc/self/exe")?)
                    .arg("--root")
                    .arg(root)
                    .args(["push", image])
                    .status()
                    .with_context(|| format!("service {n}: push {image}"))?;
                if !st.success() {
                    bail!("service {n}: push {image} failed");
                }
            }
        }
        ComposeCmd::Start(s) => {
            let recs: Vec<(String, String)> = of_services(root, &p, &s.services, false)?
                .into_iter()
                .filter(|r| !apply::status(root, r).is_alive())
                .map(|r| (r.id.clone(), r.bare_name().to_string()))
                .collect();
            apply::start_all(root, &recs)?;
        }
        ComposeCmd::Stop(s) => {
            let recs = of_services(root, &p, &s.services, true)?;
            errors(apply::stop_groups(
                root,
                apply::reverse_groups(&p, recs),
                s.timeout,
                false,
                false,
            ))?;
        }
        ComposeCmd::Restart(s) => {
            let recs = of_services(root, &p, &s.services, false)?;
            errors(apply::stop_groups(
                root,
                apply::reverse_groups(&p, recs.clone()),
                s.timeout,
                false,
                false,
            ))?;
            let ids: Vec<(String, String)> = recs
                .iter()
                .map(|r| (r.id.clone(), r.bare_name().to_string()))
                .collect();
            apply::start_all(root, &ids)?;
        }
        ComposeCmd::Rm(r) => {
            let cs = Containers::new(root);
            let recs: Vec<Record> = of_services(root, &p, &r.services, true)?
                .into_iter()
                .filter(|x| r.stop || !lifecycle::current_status(&cs, x).is_up())
                .collect();
            if recs.is_empty() {
                eprintln!("No stopped containers");
            }
            errors(apply::stop_groups(
                root,
                apply::reverse_groups(&p, recs),
                None,
                true,
                r.volumes,
            ))?;
        }
        ComposeCmd::Kill(k) => {
            let sig = berth_runtime::container::parse_signal(&k.signal)
                .with_context(|| format!("--signal {:?}", k.signal))?;
            let cs = Containers::new(root);
            for r in of_services(root, &p, &k.services, false)? {
                if apply::status(root, &r).is_alive() {
                    cs.update(&r.id, |x| x.state.manually_stopped = true)?;
                    lifecycle::signal(&cs, &r.id, sig, false)
                        .with_context(|| format!("kill {}", r.bare_name()))?;
                    apply::say("Container", r.bare_name(), "Killed");
                }
            }
        }
        ComposeCmd::Pause(s) | ComposeCmd::Unpause(s) => {
            let frozen = pausing;
            let cs = Containers::new(root);
            for r in of_services(root, &p, &s.services, false)? {
                lifecycle::pause(&cs, &r.id, frozen)?;
                apply::say(
                    "Container",
                    r.bare_name(),
                    if frozen { "Paused" } else { "Unpaused" },
                );
            }
        }
        ComposeCmd::Exec(e) => {
            let r = of_services(root, &p, std::slice::from_ref(&e.service), false)?
                .into_iter()
                .find(|r| apply::number_of(r) == e.index)
                .with_context(|| {
                    format!(
                        "service {:?} is not running (container number {})",
                        e.service, e.index
                    )
                })?;
            return access::exec(
                root,
                &r.id,
                &access::ExecOptions {
                    // As docker compose: stdin attached, and a pseudo-terminal when this
                    // is a terminal, unless -T.
                    interactive: !e.detach,
                    tty: !e.no_tty
                        && !e.detach
                        && nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
                        && nix::unistd::isatty(std::io::stdout()).unwrap_or(false),
                    detach: e.detach,
                    env: e.env,
                    workdir: e.workdir,
                    user: e.user,
                    command: e.command,
                },
            );
        }
        ComposeCmd::Run(r) => return run(root, &p, r),
        ComposeCmd::Top(s) => {
            for r in of_services(root, &p, &s.services, false)? {
                if apply::status(root, &r).is_alive() {
                    println!("{}", r.bare_name());
                    super::container::top(root, &r.id, &[])?;
                    println!();
                }
            }
        }
        ComposeCmd::Port(pa) => {
            let r = of_services(root, &p, std::slice::from_ref(&pa.service), false)?
                .into_iter()
                .find(|r| apply::number_of(r) == pa.index)
                .with_context(|| {
                    format!(
                        "service {:?} has no container number {}",
                        pa.service, pa.index
                    )
                })?;
            let key = format!("{}/{}", pa.private_port, pa.protocol);
            let b = r
                .network_settings
                .ports
                .get(&key)
                .and_then(|b| b.as_ref())
                .and_then(|b| b.first())
                .with_context(|| {
                    format!("no public port '{key}' published for {}", r.bare_name())
                })?;
            println!("{}:{}", b.host_ip, b.host_port);
        }
        ComposeCmd::Cp(c) => cp(root, &p, &c)?,
        ComposeCmd::Events(e) => events(root, &p, &e)?,
        ComposeCmd::Wait(w) => {
            let recs = of_services(root, &p, &w.services, false)?;
            if recs.is_empty() {
                bail!("no containers for {}", w.services.join(", "));
            }
            let ids: Vec<String> = recs.iter().map(|r| r.id.clone()).collect();
            super::container::wait(root, &ids)?;
            if w.down_project {
                apply::down(root, &p, false, None, false, None)?;
            }
        }
        ComposeCmd::Stats(st) => {
            let ids: Vec<String> = of_services(root, &p, &st.services, false)?
                .into_iter()
                .filter(|r| st.all || apply::status(root, r).is_alive())
                .map(|r| r.id)
                .collect();
            if ids.is_empty() {
                // Nothing to sample: the header alone, as docker compose prints.
                if st.format.as_deref().is_none_or(|f| f == "table") {
                    println!("CONTAINER ID   NAME   CPU %   MEM USAGE / LIMIT   MEM %   PIDS");
                }
            } else {
                super::container::stats(
                    root,
                    &crate::cli::StatsArgs {
                        no_stream: st.no_stream,
                        all: true,
                        format: st.format.clone(),
                        containers: ids,
                    },
                )?;
            }
        }
        ComposeCmd::Images(s) => {
            let store = berth_image::Store::open(root)?;
            println!(
                "{:<24}{:<24}{:<12}{:<14}",
                "CONTAINER", "REPOSITORY", "TAG", "IMAGE ID"
            );
            for r in of_services(root, &p, &s.services, false)? {
                let (repo, tag) = r
                    .config
                    .image
                    .rsplit_once(':')
                    .filter(|(_, t)| !t.contains('/'))
                    .unwrap_or((&r.config.image, "latest"));
                let id = store
                    .resolve(&r.image)
                    .map(|i| i.id().hex()[..12].to_string())
                    .unwrap_or_default();
                println!("{:<24}{:<24}{:<12}{:<14}", r.bare_name(), repo, tag, id);
            }
        }
    }
    Ok(0)
}

fn lines<T: std::fmt::Display>(it: impl Iterator<Item = T>) -> String {
    it.map(|x| format!("{x}\n")).collect()
}

fn errors(e: Vec<String>) -> Result<()> {
    if e.is_empty() {
        Ok(())
    } else {
        bail!("{}", e.join("; "))
    }
}

/// `compose run`: a one-off container of a service (`PROJECT-SERVICE-run-ID`, labelled
/// oneoff), its dependencies started first unless `--no-deps`.
fn run(root: &Path, p: &Project, r: crate::cli::ComposeRun) -> Result<i32> {
    let s = plan::service(p, &r.service)
        .with_context(|| format!("no such service: {}", r.service))?
        .clone();
    if !r.no_deps && !s.depends_on.is_empty() {
        apply::up(
            root,
            p,
            &UpOptions {
                services: s.depends_on.keys().cloned().collect(),
                ..UpOptions::default()
            },
        )?;
    }
    let image_id = images::ensure_image(root, p, &r.service, &s, false, false)?;
    apply::ensure_networks(root, p, &[r.service.clone()].into_iter().collect())?;
    apply::ensure_volumes(root, p, &[r.service.clone()].into_iter().collect())?;
    let image = plan::image_of(p, &r.service, &s);
    let mut cfg = plan::container_config(
        p,
        &s,
        &plan::Instance {
            service: &r.service,
            number: 1,
            image: &image,
            image_id: &image_id,
        },
    )?;
    let suffix: String = engine::new_id()?[..12].to_string();
    cfg.name = Some(
        r.name
            .clone()
            .unwrap_or_else(|| format!("{}-{}-run-{suffix}", p.name, r.service)),
    );
    cfg.labels.insert(plan::L_ONEOFF.into(), "True".into());
    if !r.service_ports {
        cfg.ports.clear();
    }
    if !r.command.is_empty() {
        cfg.process.command = r.command.clone();
    }
    if let Some(e) = &r.entrypoint {
        cfg.process.entrypoint = Some(plan::split_words(e)?);
    }
    cfg.process.env.extend(r.env.iter().cloned());
    if r.user.is_some() {
        cfg.process.user = r.user.clone();
    }
    if r.workdir.is_some() {
        cfg.process.workdir = r.workdir.clone();
    }
    cfg.auto_remove = r.rm;
    if r.rm {
        cfg.restart = crate::engine::container::RestartPolicy::parse("no")?;
    }
    engine::run(root, &cfg, r.detach)
}

/// `compose cp`: `SERVICE:PATH` on one side. From a service: its `--index` container (the
/// first by default); to a service: that one, or every container of it.
fn cp(root: &Path, p: &Project, c: &crate::cli::ComposeCp) -> Result<()> {
    let side = |s: &str| -> Option<(String, String)> {
        let (svc, path) = s.split_once(':')?;
        (!svc.is_empty() && !svc.contains('/') && plan::service(p, svc).is_some())
            .then(|| (svc.to_string(), path.to_string()))
    };
    let (svc, from) = match (side(&c.src), side(&c.dst)) {
        (Some((s, _)), None) => (s, true),
        (None, Some((s, _))) => (s, false),
        (Some(_), Some(_)) => {
            bail!("copying between services is not supported (nor by docker compose)")
        }
        (None, None) => bail!(
            "one of {:?} and {:?} must be SERVICE:PATH with a service of the project",
            c.src,
            c.dst
        ),
    };
    let mut recs: Vec<Record> = of_services(root, p, std::slice::from_ref(&svc), false)?;
    recs.sort_by_key(apply::number_of);
    let recs: Vec<Record> = match c.index {
        Some(n) => recs
            .into_iter()
            .filter(|r| apply::number_of(r) == n)
            .collect(),
        None if from => recs.into_iter().take(1).collect(),
        None => recs,
    };
    if recs.is_empty() {
        bail!(
            "service {svc:?} has no container{}",
            c.index.map(|n| format!(" number {n}")).unwrap_or_default()
        );
    }
    for r in recs {
        let with_id = |s: &str| match s.split_once(':') {
            Some((x, path)) if x == svc => format!("{}:{path}", r.id),
            _ => s.to_string(),
        };
        super::container::cp(root, &with_id(&c.src), &with_id(&c.dst), c.archive)?;
    }
    Ok(())
}

/// `compose events`: the project's container events as they happen, in docker compose's
/// line (`TIME container ACTION ID (k=v, ...)`) or its JSON object; ends quietly when the
/// reader goes away.
fn events(root: &Path, p: &Project, a: &crate::cli::ComposeEvents) -> Result<()> {
    use crate::engine::events::{self, Query};
    use std::io::Write;
    for s in &a.services {
        if !p.model.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let mut q = Query::default();
    q.filter("type=container")?;
    q.filter(&format!("label=com.docker.compose.project={}", p.name))?;
    q.since = Some(crate::monitor::logs::now().as_nanos() as i128);
    let mut out = std::io::stdout().lock();
    events::read(root, &q, true, |e| {
        let attrs = &e.actor.attributes;
        let service = attrs
            .get("com.docker.compose.service")
            .cloned()
            .unwrap_or_default();
        if !a.services.is_empty() && !a.services.contains(&service) {
            return true;
        }
        let time =
            chrono::DateTime::from_timestamp_nanos(e.time_nano).with_timezone(&chrono::Local);
        let line = if a.json {
            serde_json::json!({
                "time": time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                "type": "container",
                "action": e.action,
                "id": e.actor.id,
                "service": service,
                "attributes": attrs,
            })
            .to_string()
        } else {
            let kv: Vec<String> = attrs
                .iter()
                .filter(|(k, _)| !k.starts_with("com.docker.compose."))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(
                "{} container {} {} ({})",
                time.format("%Y-%m-%d %H:%M:%S%.6f"),
                e.action,
                e.actor.id,
                kv.join(", ")
            )
        };
        writeln!(out, "{}", crate::text::escape_controls(&line))
            .and_then(|()| out.flush())
            .is_ok()
    })
}
