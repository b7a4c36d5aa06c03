//! Container verbs: ps, logs, stop, start, restart, kill, rm, inspect, wait, prune.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::cli::{ContainerVerb, KillArgs, LogsArgs, PsArgs, RmArgs, StopArgs};
use crate::engine::container::{Containers, Record, Status};
use crate::engine::lifecycle;
use crate::engine::summary::Summary;
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
        ContainerVerb::Top { container, ps_args } => top(root, &container, &ps_args),
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

fn matches(cs: &Containers, rec: &Summary, status: Status, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "name" => rec.name.contains(v.as_str()),
        "id" => rec.id.starts_with(v.as_str()),
        "status" => status.as_str() == v,
        "label" => match v.split_once('=') {
            Some((lk, lv)) => rec.labels.get(lk).is_some_and(|x| x == lv),
            None => rec.labels.contains_key(v.as_str()),
        },
        "ancestor" => {
            rec.image == *v
                || rec.image_id == *v
                || rec
                    .image_id
                    .trim_start_matches("sha256:")
                    .starts_with(v.as_str())
                || berth_image::Store::open(&cs.root)
                    .and_then(|s| s.resolve(v))
                    .is_ok_and(|img| img.id().to_string() == rec.image_id)
        }
        _ => false,
    })
}

pub fn ps(root: &Path, a: &PsArgs) -> Result<()> {
    // Healed and read in one pass: each record is read once.
    let recs = lifecycle::heal_and_list(root)?;
    let cs = Containers::new(root);
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
    // -n N / -l: the last N created, whatever their state (Docker sets --all with them)
    let last = if a.latest {
        Some(1)
    } else {
        a.last.filter(|n| *n > 0)
    };
    let show_all = a.all || last.is_some() || filters.iter().any(|(k, _)| k == "status");
    let mut rows = Vec::new();
    for rec in recs.into_iter().rev() {
        let status = lifecycle::current_status_of(&cs, &rec.id, rec.status);
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
    if let Some(n) = last {
        rows.truncate(n as usize);
    }
    if a.quiet {
        for (rec, _) in &rows {
            println!("{}", if a.no_trunc { &rec.id } else { rec.short_id() });
        }
        return Ok(());
    }
    let size = a.size || a.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let store = if size {
        berth_image::Store::open(root).ok()
    } else {
        None
    };
    let mut table = String::from(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
    );
    if a.size {
        table.push_str("\t{{.Size}}");
    }
    let want = crate::commands::output::fields_read(a.format.as_deref(), &table);
    let values: Vec<Value> = rows
        .iter()
        .map(|(rec, status)| {
            ps_row(
                &cs,
                rec,
                *status,
                !a.no_trunc,
                size.then_some(store.as_ref()),
                want.as_ref(),
            )
        })
        .collect();
    crate::commands::output::print_list(&values, &ps_header(), &table, a.format.as_deref())
}

/// The column titles of Docker's container formatter (cli/command/formatter/container.go).
fn ps_header() -> Value {
    serde_json::json!({
        "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
        "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
        "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS", "Label": "LABEL",
        "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
    })
}

/// Docker's Ellipsis: at most `n` characters, the last one "…" when cut.
pub fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut o: String = s.chars().take(n.saturating_sub(1)).collect();
    o.push('…');
    o
}

/// One container as Docker's container formatter shows it: every field a string. Only
/// the fields in `want` are worked out (None: all).
fn ps_row(
    cs: &Containers,
    rec: &Summary,
    status: Status,
    trunc: bool,
    size: Option<Option<&berth_image::Store>>,
    want: Option<&HashSet<String>>,
) -> Value {
    let mut fields: Vec<(&str, Value)> = Vec::new();
    let mut put = |k: &'static str, v: &dyn Fn() -> String| {
        if want.is_none_or(|w| w.contains(k)) {
            fields.push((k, v().into()));
        }
    };
    put("ID", &|| {
        (if trunc { rec.short_id() } else { &rec.id }).to_string()
    });
    put("Names", &|| rec.name.clone());
    put("Image", &|| rec.image.clone());
    put("Command", &|| {
        let cmd = if trunc {
            ellipsis(&rec.command, 20)
        } else {
            rec.command.clone()
        };
        format!("{cmd:?}")
    });
    put("CreatedAt", &|| created_at(&rec.created));
    put("RunningFor", &|| rec.created_ago());
    put("Ports", &|| rec.ports.clone());
    put("State", &|| status.as_str().to_string());
    put("Status", &|| rec.status_text(status));
    put("Size", &|| match size {
        // Docker's SizeRw when sizes were not asked for
        None => "0B".to_string(),
        Some(store) => {
            let (upper, _, _) = berth_image::rootfs::paths(&cs.dir_of(&rec.id));
            let rw = crate::engine::system::du(&upper);
            let image = store
                .and_then(|s| s.resolve(&rec.image_id).ok())
                .map(|i| i.size())
                .unwrap_or(0);
            if image > 0 {
                format!("{} (virtual {})", human_size(rw), human_size(rw + image))
            } else {
                human_size(rw)
            }
        }
    });
    put("Labels", &|| {
        let labels: Vec<String> = rec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.join(",")
    });
    put("Mounts", &|| {
        let mounts: Vec<String> = rec
            .mounts
            .iter()
            .map(|m| {
                if trunc {
                    ellipsis(&m.name, 15)
                } else {
                    m.name.clone()
                }
            })
            .collect();
        mounts.join(",")
    });
    put("LocalVolumes", &|| {
        rec.mounts.iter().filter(|m| m.volume).count().to_string()
    });
    put("Networks", &|| rec.networks.join(","));
    crate::commands::output::row(fields, Some(&rec.labels))
}

/// Go's time.Time.String() of an RFC 3339 time, as Docker's `CreatedAt` columns show it:
/// "2024-01-02 15:04:05 +0000 UTC".
pub fn created_at(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S +0000 UTC")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// Docker's units.HumanSizeWithPrecision(n, 3): decimal units, three significant digits
/// ("12B", "1.23MB").
pub fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g3(v), units[i])
}

/// Go's %.3g for 0 <= v < 1000: three significant digits, trailing zeros dropped.
fn go_g3(v: f64) -> String {
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
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
    start_each(&open(root)?, names)
}

/// `start` without healing first: for `compose up`'s children, which start the containers
/// it made while the others it made wait, mounted and on their networks, for their own
/// child (a heal would take those down, and their start would set them up again).
pub fn start_made(root: &Path, names: &[String]) -> Result<()> {
    start_each(&Containers::new(root), names)
}

fn start_each(cs: &Containers, names: &[String]) -> Result<()> {
    each(names, |n| {
        crate::engine::host::start_detached(cs, &cs.find(n)?)
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
    cs.ensure_index()?;
    if let Some(other) = cs.name_owner(new) {
        bail!(
            "the name {new:?} is already used by container {}",
            &other[..12]
        );
    }
    cs.index_name(new, &rec.id)?;
    cs.update(&rec.id, |r| r.name = format!("/{new}"))?;
    cs.unindex_name(rec.bare_name(), &rec.id);
    Ok(())
}

/// `top CONTAINER [ps OPTIONS]` as Docker's daemon does it: ps(1) on the host with the
/// options (default `-ef`) and `-q` with the container's pids (again without `-q` when ps
/// refuses the pair, as BSD-style `f` does), then only the lines whose PID column is one of
/// the container's; printed as Docker's CLI prints them (tabwriter, min width 20).
pub fn top(root: &Path, name: &str, ps_args: &[String]) -> Result<()> {
    let cs = open(root)?;
    let rec = cs.find(name)?;
    let status = lifecycle::current_status(&cs, &rec);
    if !status.is_alive() {
        bail!("container {} is not running", rec.bare_name());
    }
    let mut pids = lifecycle::pids(&cs, &rec.id)?;
    pids.sort();
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args
            .iter()
            .flat_map(|a| a.split(' '))
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect()
    };
    let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    let ps = |with_q: bool| {
        let mut c = std::process::Command::new("ps");
        c.args(&args);
        if with_q {
            c.arg("-q").arg(list.join(","));
        }
        c.stdin(std::process::Stdio::null()).output()
    };
    let mut out = ps(true).context("ps")?;
    if !out.status.success() {
        out = ps(false).context("ps")?;
    }
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let table = top_table(&text, &pids)?;
    print!("{}", crate::commands::output::tabwrite_min(&table, 20));
    Ok(())
}

/// ps output -> the header and the lines of `pids`, tab-separated (the last column, the
/// command, keeps its spaces), as Docker's parsePSOutput.
fn top_table(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let pid_col = header
        .iter()
        .position(|t| *t == "PID")
        .context("couldn't find PID field in ps output")?;
    let mut out = header.join("\t");
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        let Some(pid) = f.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let n = header.len().max(1);
        let mut row: Vec<String> = f.iter().take(n - 1).map(|s| s.to_string()).collect();
        row.push(f.get(n - 1..).map(|r| r.join(" ")).unwrap_or_default());
        out.push('\n');
        let row: Vec<String> = row.iter().map(|c| crate::escape_controls(c)).collect();
        out.push_str(&row.join("\t"));
    }
    Ok(out)
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
        let table = a
            .format
            .as_deref()
            .is_none_or(|f| f.trim().starts_with("table"));
        let mut values = Vec::new();
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
            let limit_text = if limit > 0 {
                human_bytes(limit)
            } else {
                "unlimited".into()
            };
            values.push(crate::commands::output::row(
                [
                    ("Container", rec.bare_name().into()),
                    ("ID", rec.short_id().into()),
                    ("Name", rec.bare_name().into()),
                    ("CPUPerc", format!("{cpu:.2}%").into()),
                    (
                        "MemUsage",
                        format!("{} / {limit_text}", human_bytes(s1.mem)).into(),
                    ),
                    ("MemPerc", format!("{mem_pct:.2}%").into()),
                    ("NetIO", "--".into()),
                    ("BlockIO", "--".into()),
                    ("PIDs", s1.pids.to_string().into()),
                    ("MemBytes", s1.mem.into()),
                    ("MemLimitBytes", limit.into()),
                ],
                None,
            ));
        }
        if !a.no_stream && table {
            print!("\x1b[2J\x1b[H");
        }
        let header = serde_json::json!({
            "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
            "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
            "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
        });
        crate::commands::output::print_list(
            &values,
            &header,
            "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.PIDs}}",
            a.format.as_deref(),
        )?;
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
        // Docker's `-`: a tar stream on stdout, or from stdin
        (Some((c, p)), None) if dst == "-" => {
            let rec = cs.find(c)?;
            let out = std::io::stdout().lock();
            crate::engine::access::copy_out_tar(&cs, &rec, Path::new(p), out)
        }
        (None, Some((c, p))) if src == "-" => {
            let rec = cs.find(c)?;
            crate::engine::access::copy_in_tar(&cs, &rec, std::io::stdin().lock(), Path::new(p))
        }
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
    use crate::engine::options;
    let size = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref()
            .map(|s| options::size_or_unlimited(flag, s))
            .transpose()
    };
    let u = crate::engine::update::Update {
        memory: size("--memory", &a.memory)?,
        memory_swap: size("--memory-swap", &a.memory_swap)?,
        cpus: a.cpus,
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.as_deref().map(options::cpuset).transpose()?,
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
