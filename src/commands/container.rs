//! Container verbs: ps, logs, stop, start, restart, kill, rm, inspect, wait, prune.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::cli::{ContainerVerb, Format, KillArgs, LogsArgs, PsArgs, RmArgs, StopArgs};
use crate::engine::container::{Containers, Record, Status};
use crate::engine::lifecycle;
use crate::monitor::logs;

pub fn dispatch(root: &Path, v: ContainerVerb) -> Result<()> {
    match v {
        ContainerVerb::Ps(a) => ps(root, &a),
        ContainerVerb::Port { container, port: p } => port(root, &container, p.as_deref()),
        ContainerVerb::Logs(a) => logs(root, &a),
        ContainerVerb::Stop(a) => stop(root, &a),
        ContainerVerb::Start(a) => start(root, &a.containers),
        ContainerVerb::Restart(a) => restart(root, &a),
        ContainerVerb::Kill(a) => kill(root, &a),
        ContainerVerb::Rm(a) => rm(root, &a),
        // main dispatches these: `inspect` looks at images too (commands/inspect.rs), `run`
        // has its own exit status (commands/run.rs).
        ContainerVerb::Inspect(_) => bail!("inspect is dispatched by main, not here"),
        ContainerVerb::Attach(_) => bail!("attach is dispatched by main, not here"),
        ContainerVerb::Run(_) | ContainerVerb::Create(_) => {
            bail!("run and create are dispatched by main, not here")
        }
        ContainerVerb::Wait(a) => wait(root, &a.containers),
        ContainerVerb::Exec(a) => exec(root, a).map(|_| ()),
        ContainerVerb::Pause(a) => pause(root, &a.containers, true),
        ContainerVerb::Unpause(a) => pause(root, &a.containers, false),
        ContainerVerb::Rename {
            container,
            new_name,
        } => rename(root, &container, &new_name),
        ContainerVerb::Top { container } => top(root, &container),
        ContainerVerb::Stats(a) => stats(root, &a),
        ContainerVerb::Cp { archive, src, dst } => cp(root, &src, &dst, archive),
        ContainerVerb::Update(a) => update(root, &a),
        ContainerVerb::Diff { container: c } => super::snapshot::diff(root, &c),
        ContainerVerb::Commit(a) => super::snapshot::commit(root, a),
        ContainerVerb::Export { output, container } => {
            super::snapshot::export(root, &container, output.as_deref())
        }
    }
}

fn open(root: &Path) -> Result<Containers> {
    lifecycle::heal(root)?;
    Ok(Containers::new(root))
}

fn matches(cs: &Containers, rec: &Record, status: Status, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "name" => rec.bare_name().contains(v.as_str()),
        "id" => rec.id.starts_with(v.as_str()),
        "status" => status.as_str() == v,
        "label" => match v.split_once('=') {
            Some((lk, lv)) => rec.config.labels.get(lk).is_some_and(|x| x == lv),
            None => rec.config.labels.contains_key(v.as_str()),
        },
        "ancestor" => {
            rec.config.image == *v
                || rec.image == *v
                || rec
                    .image
                    .trim_start_matches("sha256:")
                    .starts_with(v.as_str())
                || berth_image::Store::open(&cs.root)
                    .and_then(|s| s.resolve(v))
                    .is_ok_and(|img| img.id().to_string() == rec.image)
        }
        _ => false,
    })
}

pub fn ps(root: &Path, a: &PsArgs) -> Result<()> {
    let cs = open(root)?;
    let mut filters = Vec::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("--filter {f:?}: want KEY=VALUE"))?;
        if !["name", "id", "status", "label", "ancestor"].contains(&k) {
            bail!("--filter {f:?}: unknown filter {k:?} (name, id, status, label, ancestor)");
        }
        if k == "status" {
            v.parse::<Status>()
                .with_context(|| format!("--filter {f:?}"))?;
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let show_all = a.all || filters.iter().any(|(k, _)| k == "status");
    let mut rows = Vec::new();
    for rec in cs.all().into_iter().rev() {
        let status = lifecycle::current_status(&cs, &rec);
        if status == Status::Creating {
            continue;
        }
        if !show_all && !status.is_up() {
            continue;
        }
        if !matches(&cs, &rec, status, &filters) {
            continue;
        }
        rows.push((rec, status));
    }
    if a.quiet {
        for (rec, _) in &rows {
            println!("{}", if a.no_trunc { &rec.id } else { rec.short_id() });
        }
        return Ok(());
    }
    if a.format == Format::Json {
        for (rec, status) in &rows {
            let labels: Vec<String> = rec
                .config
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "ID": if a.no_trunc { rec.id.as_str() } else { rec.short_id() },
                    "Names": rec.bare_name(),
                    "Image": rec.config.image,
                    "Command": format!("\"{}\"", rec.command_text()),
                    "CreatedAt": rec.created,
                    "State": status,
                    "Status": rec.status_text(*status),
                    "Labels": labels.join(","),
                    "Mounts": rec.mounts.iter().map(|m| if m.name.is_empty() { m.source.clone() } else { m.name.clone() }).collect::<Vec<_>>().join(","),
                    "Ports": "",
                })
            );
        }
        return Ok(());
    }
    let pw = rows
        .iter()
        .map(|(r, _)| r.ports_text().len())
        .max()
        .unwrap_or(0)
        .max(5)
        + 3;
    println!(
        "{:<14}{:<20}{:<24}{:<24}{:<36}{:<pw$}NAMES",
        "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS"
    );
    for (rec, status) in &rows {
        // The command comes from the image: no escape sequence of its reaches the terminal.
        let mut cmd = format!("\"{}\"", crate::escape_controls(&rec.command_text()));
        if !a.no_trunc && cmd.chars().count() > 22 {
            cmd = format!("{}…\"", cmd.chars().take(20).collect::<String>());
        }
        println!(
            "{:<14}{:<20}{:<24}{:<24}{:<36}{:<pw$}{}",
            if a.no_trunc { &rec.id } else { rec.short_id() },
            crate::escape_controls(&rec.config.image),
            cmd,
            rec.created_ago(),
            rec.status_text(*status),
            rec.ports_text(),
            rec.bare_name()
        );
    }
    Ok(())
}

pub fn logs(root: &Path, a: &LogsArgs) -> Result<()> {
    let cs = open(root)?;
    let rec = cs.find(&a.container)?;
    let tail = match a.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .with_context(|| format!("--tail {n:?}: want a number or \"all\""))?,
        ),
    };
    let since = a
        .since
        .as_deref()
        .map(|s| logs::parse_since(s, logs::now()))
        .transpose()?;
    let o = logs::ReadOpts {
        tail,
        since,
        timestamps: a.timestamps,
    };
    let id = rec.id.clone();
    logs::read(&rec.log_path, &o, a.follow, || {
        cs.load(&id)
            .is_ok_and(|r| lifecycle::current_status(&cs, &r) != Status::Exited && r.is_up())
    })
}

fn stop_timeout(rec: &Record, t: Option<u64>) -> Duration {
    Duration::from_secs(
        t.or(rec.config.stop_timeout.map(|x| x.max(0) as u64))
            .unwrap_or(10),
    )
}

/// Runs `f` on each named container; reports each failure, fails if any did.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut failed = 0;
    for n in names {
        match f(n) {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("berth: {}", crate::error_chain(&e));
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} containers failed", names.len());
    }
    Ok(())
}

pub fn stop(root: &Path, a: &StopArgs) -> Result<()> {
    let cs = open(root)?;
    each(&a.containers, |n| {
        let rec = cs.find(n)?;
        lifecycle::stop(&cs, &rec, stop_timeout(&rec, a.time))
    })
}

pub fn start(root: &Path, names: &[String]) -> Result<()> {
    let cs = open(root)?;
    each(names, |n| {
        crate::engine::host::start_detached(&cs, &cs.find(n)?)
    })
}

pub fn restart(root: &Path, a: &StopArgs) -> Result<()> {
    let cs = open(root)?;
    each(&a.containers, |n| {
        let rec = cs.find(n)?;
        lifecycle::stop(&cs, &rec, stop_timeout(&rec, a.time))?;
        crate::engine::host::start_detached(&cs, &cs.load(&rec.id)?)
    })
}

pub fn kill(root: &Path, a: &KillArgs) -> Result<()> {
    let cs = open(root)?;
    let sig = berth_runtime::container::parse_signal(&a.signal)?;
    each(&a.containers, |n| {
        let rec = cs.find(n)?;
        let status = lifecycle::current_status(&cs, &rec);
        if !status.is_alive() {
            bail!("container {} is not running", rec.bare_name());
        }
        if sig == nix::sys::signal::Signal::SIGKILL
            || rt_signal_name(&rec.config.stop_signal) == Some(sig)
        {
            // Docker: killing with the stop signal or SIGKILL counts as a manual stop.
            cs.update(&rec.id, |r| r.state.manually_stopped = true)?;
        }
        lifecycle::signal(&cs, &rec.id, sig, false)
    })
}

fn rt_signal_name(s: &str) -> Option<nix::sys::signal::Signal> {
    berth_runtime::container::parse_signal(s).ok()
}

pub fn rm(root: &Path, a: &RmArgs) -> Result<()> {
    let cs = open(root)?;
    each(&a.containers, |n| {
        let rec = cs.find(n)?;
        lifecycle::remove(&cs, &rec.id, a.force, a.volumes)
    })
}

/// `container prune`: every stopped container; asks first unless `force`.
pub fn prune(root: &Path, force: bool) -> Result<()> {
    if !force
        && !crate::commands::output::confirm("WARNING! This will remove all stopped containers.")?
    {
        return Ok(());
    }
    let cs = open(root)?;
    let mut n = 0;
    for rec in cs.all() {
        if matches!(
            lifecycle::current_status(&cs, &rec),
            Status::Exited | Status::Created
        ) && lifecycle::remove(&cs, &rec.id, false, false).is_ok()
        {
            println!("{}", rec.id);
            n += 1;
        }
    }
    println!("Deleted {n} containers");
    Ok(())
}

pub fn wait(root: &Path, names: &[String]) -> Result<()> {
    let cs = open(root)?;
    for n in names {
        let rec = cs.find(n)?;
        loop {
            let r = cs.load(&rec.id)?;
            let s = lifecycle::current_status(&cs, &r);
            if s == Status::Exited || (s == Status::Created && !lifecycle::watched(&cs, &rec.id)) {
                println!("{}", r.state.exit_code);
                break;
            }
            if !lifecycle::watched(&cs, &rec.id) && !lifecycle::init_alive(&cs, &rec.id) {
                lifecycle::heal(root)?;
                continue;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// The record as `docker inspect` shows it, with the live status.
pub fn inspect_value(cs: &Containers, rec: &Record) -> Result<Value> {
    let status = lifecycle::current_status(cs, rec);
    let mut rec = rec.clone();
    if status != rec.state.status {
        rec.state.status = status;
        rec.state.running = status.is_alive();
        if status == Status::Exited {
            rec.state.pid = 0;
        }
    }
    rec.state.paused = status == Status::Paused;
    Ok(serde_json::to_value(&rec)?)
}

pub fn exec(root: &Path, a: crate::cli::ExecArgs) -> Result<i32> {
    crate::engine::access::exec(
        root,
        &a.container,
        &crate::engine::access::ExecOptions {
            interactive: a.interactive,
            tty: a.tty,
            detach: a.detach,
            env: a.env,
            workdir: a.workdir,
            user: a.user,
            command: a.command,
        },
    )
}

pub fn pause(root: &Path, names: &[String], frozen: bool) -> Result<()> {
    let cs = open(root)?;
    each(names, |n| {
        let rec = cs.find(n)?;
        let status = lifecycle::current_status(&cs, &rec);
        match (frozen, status) {
            (true, Status::Running) | (false, Status::Paused) => {
                lifecycle::pause(&cs, &rec.id, frozen)
            }
            _ => bail!(
                "container {} is {status}, not {}",
                rec.bare_name(),
                if frozen { "running" } else { "paused" }
            ),
        }
    })
}

pub fn rename(root: &Path, old: &str, new: &str) -> Result<()> {
    let cs = open(root)?;
    crate::engine::container::check_name(new)?;
    let _set = cs.lock_set()?;
    let rec = cs.find(old)?;
    if let Some(other) = cs.names().get(new) {
        bail!(
            "the name {new:?} is already used by container {}",
            &other[..12]
        );
    }
    cs.update(&rec.id, |r| r.name = format!("/{new}"))?;
    Ok(())
}

fn proc_field(pid: i32, file: &str, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("?")
        .to_string()
}

pub fn top(root: &Path, name: &str) -> Result<()> {
    let cs = open(root)?;
    let rec = cs.find(name)?;
    let status = lifecycle::current_status(&cs, &rec);
    if !status.is_alive() {
        bail!("container {} is not running", rec.bare_name());
    }
    let mut pids = lifecycle::pids(&cs, &rec.id)?;
    pids.sort();
    println!("{:<8}{:<10}{:<10}CMD", "UID", "PID", "PPID");
    for pid in pids {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> = cmd
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        println!(
            "{:<8}{:<10}{:<10}{}",
            proc_field(pid, "status", "Uid:"),
            pid,
            proc_field(pid, "status", "PPid:"),
            cmd.join(" ")
        );
    }
    Ok(())
}

pub fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2}{}", units[i]).replace(".00B", "B")
}

pub fn stats(root: &Path, a: &crate::cli::StatsArgs) -> Result<()> {
    let cs = open(root)?;
    let recs: Vec<Record> = if a.containers.is_empty() {
        cs.all()
            .into_iter()
            .filter(|r| a.all || lifecycle::current_status(&cs, r) == Status::Running)
            .collect()
    } else {
        a.containers
            .iter()
            .map(|n| cs.find(n))
            .collect::<Result<_>>()?
    };
    loop {
        let first: Vec<_> = recs.iter().map(|r| lifecycle::sample(&cs, &r.id)).collect();
        let t = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(if a.no_stream { 200 } else { 1000 }));
        let dt = t.elapsed().as_nanos() as f64;
        if !a.no_stream && a.format == Format::Table {
            print!("\x1b[2J\x1b[H");
        }
        if a.format == Format::Table {
            println!(
                "{:<14}{:<24}{:<9}{:<24}{:<9}PIDS",
                "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %"
            );
        }
        for (rec, s0) in recs.iter().zip(first) {
            let s1 = lifecycle::sample(&cs, &rec.id);
            let cpu = match (s0.cpu_ns, s1.cpu_ns) {
                (Some(a), Some(b)) if b >= a => (b - a) as f64 / dt * 100.0,
                _ => 0.0,
            };
            let limit = s1.mem_limit.unwrap_or(0);
            let mem_pct = if limit > 0 {
                s1.mem as f64 / limit as f64 * 100.0
            } else {
                0.0
            };
            if a.format == Format::Json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ID": rec.short_id(), "Name": rec.bare_name(),
                        "CPUPerc": format!("{cpu:.2}%"),
                        "MemUsage": format!("{} / {}", human_bytes(s1.mem), if limit > 0 { human_bytes(limit) } else { "unlimited".into() }),
                        "MemPerc": format!("{mem_pct:.2}%"),
                        "MemBytes": s1.mem, "MemLimitBytes": limit, "PIDs": s1.pids,
                    })
                );
            } else {
                println!(
                    "{:<14}{:<24}{:<9}{:<24}{:<9}{}",
                    rec.short_id(),
                    rec.bare_name(),
                    format!("{cpu:.2}%"),
                    format!(
                        "{} / {}",
                        human_bytes(s1.mem),
                        if limit > 0 {
                            human_bytes(limit)
                        } else {
                            "unlimited".into()
                        }
                    ),
                    format!("{mem_pct:.2}%"),
                    s1.pids
                );
            }
        }
        if a.no_stream {
            return Ok(());
        }
    }
}

/// `CONTAINER:PATH` → (container, path); a plain path (or one with a slash before the colon)
/// is the host's.
fn split_ref(s: &str) -> Option<(&str, &str)> {
    let (c, p) = s.split_once(':')?;
    if c.is_empty() || c.contains('/') {
        return None;
    }
    Some((c, p))
}

pub fn cp(root: &Path, src: &str, dst: &str, archive: bool) -> Result<()> {
    let cs = open(root)?;
    match (split_ref(src), split_ref(dst)) {
        (Some((c, p)), None) => {
            let rec = cs.find(c)?;
            crate::engine::access::copy_out(&cs, &rec, Path::new(p), Path::new(dst), archive)
        }
        (None, Some((c, p))) => {
            let rec = cs.find(c)?;
            crate::engine::access::copy_in(&cs, &rec, Path::new(src), Path::new(p), archive)
        }
        (Some(_), Some(_)) => bail!("cp between two containers is not supported (nor by docker)"),
        (None, None) => bail!("one of {src:?} and {dst:?} must be CONTAINER:PATH"),
    }
}

/// `berth port CONTAINER [PORT[/PROTO]]`.
fn port(root: &Path, container: &str, want: Option<&str>) -> Result<()> {
    let cs = open(root)?;
    let rec = cs.find(container)?;
    let want = want.map(|w| {
        if w.contains('/') {
            w.to_string()
        } else {
            format!("{w}/tcp")
        }
    });
    let mut found = false;
    for (cport, binds) in &rec.network_settings.ports {
        if want.as_ref().is_some_and(|w| w != cport) {
            continue;
        }
        for b in binds.iter().flatten() {
            found = true;
            if want.is_some() {
                println!("{}:{}", b.host_ip, b.host_port);
            } else {
                println!("{cport} -> {}:{}", b.host_ip, b.host_port);
            }
        }
    }
    if let (Some(w), false) = (want, found) {
        bail!("no public port '{w}' published for {}", rec.bare_name());
    }
    Ok(())
}

/// `update`: Docker's flags in, one engine call per container.
fn update(root: &Path, a: &crate::cli::UpdateArgs) -> Result<()> {
    use crate::engine::options::Size;
    let size = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        match v.as_deref() {
            None => Ok(None),
            Some("-1") => Ok(Some(-1)),
            Some(s) => Ok(Some(
                s.parse::<Size>()
                    .with_context(|| format!("{flag} {s:?}"))?
                    .0 as i64,
            )),
        }
    };
    let u = crate::engine::update::Update {
        memory: size("--memory", &a.memory)?,
        memory_swap: size("--memory-swap", &a.memory_swap)?,
        cpus: a.cpus,
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        pids_limit: a.pids_limit,
        restart: a
            .restart
            .as_deref()
            .map(crate::engine::container::RestartPolicy::parse)
            .transpose()?,
    };
    if u.memory.is_none()
        && u.memory_swap.is_none()
        && u.cpus.is_none()
        && u.cpu_shares.is_none()
        && u.cpuset_cpus.is_none()
        && u.pids_limit.is_none()
        && u.restart.is_none()
    {
        bail!("you must provide one or more flags when using this command");
    }
    open(root)?;
    each(&a.containers, |n| {
        crate::engine::update::update(root, n, &u)
    })
}
