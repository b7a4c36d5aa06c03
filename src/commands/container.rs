//! Container verbs: ps, logs, stop, start, restart, kill, rm, inspect, wait, prune.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::cli::{
    ContainerVerb, Format, InspectArgs, KillArgs, LogsArgs, PsArgs, RmArgs, StopArgs,
};
use crate::engine::container::{Containers, Record};
use crate::engine::{lifecycle, logs, monitor};

pub fn dispatch(root: &Path, v: ContainerVerb) -> Result<()> {
    match v {
        ContainerVerb::Ps(a) => ps(root, &a),
        ContainerVerb::Logs(a) => logs(root, &a),
        ContainerVerb::Stop(a) => stop(root, &a),
        ContainerVerb::Start(a) => start(root, &a.containers),
        ContainerVerb::Restart(a) => restart(root, &a),
        ContainerVerb::Kill(a) => kill(root, &a),
        ContainerVerb::Rm(a) => rm(root, &a),
        ContainerVerb::Inspect(a) => inspect(root, &a),
        ContainerVerb::Wait(a) => wait(root, &a.containers),
    }
}

fn open(root: &Path) -> Result<Containers> {
    lifecycle::heal(root)?;
    Ok(Containers::new(root))
}

/// "3 seconds", "About a minute", "2 hours": Docker's units.ago.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86400),
        _ => format!("{} weeks", s / 604_800),
    }
}

fn since(t: &str) -> Duration {
    let now = logs::now().as_nanos() as i128;
    let then = logs::parse_rfc3339(t).unwrap_or(now);
    Duration::from_nanos((now - then).max(0) as u64)
}

fn status_text(rec: &Record, status: &str) -> String {
    match status {
        "running" => format!("Up {}", human_duration(since(&rec.state.started_at))),
        "paused" => format!(
            "Up {} (Paused)",
            human_duration(since(&rec.state.started_at))
        ),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            rec.state.exit_code,
            human_duration(since(&rec.state.finished_at))
        ),
        "exited" => format!(
            "Exited ({}) {} ago",
            rec.state.exit_code,
            human_duration(since(&rec.state.finished_at))
        ),
        "created" => "Created".into(),
        other => other.to_string(),
    }
}

fn command_of(rec: &Record) -> String {
    let mut parts = vec![rec.path.clone()];
    parts.extend(rec.args.iter().cloned());
    parts.join(" ")
}

fn matches(cs: &Containers, rec: &Record, status: &str, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "name" => rec.bare_name().contains(v.as_str()),
        "id" => rec.id.starts_with(v.as_str()),
        "status" => status == v,
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
        filters.push((k.to_string(), v.to_string()));
    }
    let show_all = a.all || filters.iter().any(|(k, _)| k == "status");
    let mut rows = Vec::new();
    for rec in cs.all().into_iter().rev() {
        let status = lifecycle::current_status(&cs, &rec);
        if status == "creating" {
            continue;
        }
        if !show_all && !matches!(status.as_str(), "running" | "paused" | "restarting") {
            continue;
        }
        if !matches(&cs, &rec, &status, &filters) {
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
                    "Command": format!("\"{}\"", command_of(rec)),
                    "CreatedAt": rec.created,
                    "State": status,
                    "Status": status_text(rec, status),
                    "Labels": labels.join(","),
                    "Mounts": rec.mounts.iter().map(|m| if m.name.is_empty() { m.source.clone() } else { m.name.clone() }).collect::<Vec<_>>().join(","),
                    "Ports": "",
                })
            );
        }
        return Ok(());
    }
    println!(
        "{:<14}{:<20}{:<24}{:<18}{:<28}{:<8}NAMES",
        "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS"
    );
    for (rec, status) in &rows {
        let mut cmd = format!("\"{}\"", command_of(rec));
        if !a.no_trunc && cmd.chars().count() > 22 {
            cmd = format!("{}…\"", cmd.chars().take(20).collect::<String>());
        }
        println!(
            "{:<14}{:<20}{:<24}{:<18}{:<28}{:<8}{}",
            if a.no_trunc { &rec.id } else { rec.short_id() },
            rec.config.image,
            cmd,
            format!("{} ago", human_duration(since(&rec.created))),
            status_text(rec, status),
            "",
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
            .is_ok_and(|r| lifecycle::current_status(&cs, &r) != "exited" && r.is_up())
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

fn start_one(cs: &Containers, rec: &Record) -> Result<()> {
    let dir = cs.dir_of(&rec.id);
    let lock = match crate::engine::lock_file_named(
        &dir,
        ".lock",
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    ) {
        Ok(l) => l,
        Err(_) => return Ok(()), // already running: Docker's start is a no-op then
    };
    cs.update(&rec.id, |r| r.state.manually_stopped = false)?;
    monitor::launch(cs, &rec.id, &lock)?;
    // The monitor shares the lock: dropping the Flock would unlock it for both.
    std::mem::forget(lock);
    Ok(())
}

pub fn start(root: &Path, names: &[String]) -> Result<()> {
    let cs = open(root)?;
    each(names, |n| start_one(&cs, &cs.find(n)?))
}

pub fn restart(root: &Path, a: &StopArgs) -> Result<()> {
    let cs = open(root)?;
    each(&a.containers, |n| {
        let rec = cs.find(n)?;
        lifecycle::stop(&cs, &rec, stop_timeout(&rec, a.time))?;
        start_one(&cs, &cs.load(&rec.id)?)
    })
}

pub fn kill(root: &Path, a: &KillArgs) -> Result<()> {
    let cs = open(root)?;
    let sig = berth_runtime::container::parse_signal(&a.signal)?;
    each(&a.containers, |n| {
        let rec = cs.find(n)?;
        let status = lifecycle::current_status(&cs, &rec);
        if !matches!(status.as_str(), "running" | "paused") {
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
        lifecycle::remove(&cs, &rec.id, a.force)
    })
}

pub fn prune(root: &Path) -> Result<()> {
    let cs = open(root)?;
    let mut n = 0;
    for rec in cs.all() {
        if matches!(
            lifecycle::current_status(&cs, &rec).as_str(),
            "exited" | "created"
        ) && lifecycle::remove(&cs, &rec.id, false).is_ok()
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
            if s == "exited" || (s == "created" && !lifecycle::watched(&cs, &rec.id)) {
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
        rec.state.status = status.clone();
        rec.state.running = status == "running" || status == "paused";
        if status == "exited" {
            rec.state.pid = 0;
        }
    }
    rec.state.paused = status == "paused";
    Ok(serde_json::to_value(&rec)?)
}

pub fn inspect(root: &Path, a: &InspectArgs) -> Result<()> {
    let cs = open(root)?;
    let mut out = Vec::new();
    for n in &a.names {
        match cs.find(n) {
            Ok(rec) => out.push(inspect_value(&cs, &rec)?),
            Err(e) => match berth_image::Store::open(root)
                .map_err(anyhow::Error::from)
                .and_then(|s| crate::commands::image::inspect_value(&s, n))
            {
                Ok(v) => out.push(v),
                Err(_) => return Err(e),
            },
        }
    }
    print_inspect(&out, a.format.as_deref())
}

pub fn print_inspect(out: &[Value], format: Option<&str>) -> Result<()> {
    match format {
        None => println!("{}", serde_json::to_string_pretty(out)?),
        Some(t) => {
            for v in out {
                println!("{}", render(t, v)?);
            }
        }
    }
    Ok(())
}

/// The part of Go's text/template that `docker inspect -f` users write: `{{.A.B}}` and
/// `{{json .A}}`.
pub fn render(t: &str, v: &Value) -> Result<String> {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let j = rest[i..]
            .find("}}")
            .with_context(|| format!("--format {t:?}: unclosed {{{{"))?;
        let expr = rest[i + 2..i + j].trim();
        let (json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        if !path.starts_with('.') {
            bail!("--format {t:?}: {expr:?} is not .Field or json .Field");
        }
        let mut cur = v;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            cur = cur
                .get(part)
                .with_context(|| format!("--format {t:?}: no field {part:?} in {path}"))?;
        }
        match (json, cur) {
            (false, Value::String(s)) => out.push_str(s),
            (false, Value::Null) => out.push_str("<no value>"),
            _ => out.push_str(&cur.to_string()),
        }
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let v = serde_json::json!({"State": {"Status": "exited", "ExitCode": 3, "OOMKilled": true}, "Name": "/x"});
        assert_eq!(
            render("{{.State.Status}} {{.State.ExitCode}}", &v).unwrap(),
            "exited 3"
        );
        assert_eq!(render("{{ .State.OOMKilled }}", &v).unwrap(), "true");
        assert_eq!(render("{{json .State.Status}}", &v).unwrap(), "\"exited\"");
        assert!(render("{{.Nope}}", &v).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(7300)), "2 hours");
    }
}
