//! `berth events` / `system events`: the root's event log, selected and printed; it follows
//! the log (as `docker events` does) unless `--until` is given.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::EventsArgs;
use crate::engine::events::{self, Query};
use crate::monitor::logs;

pub fn events(root: &Path, a: &EventsArgs) -> Result<()> {
    let now = logs::now();
    let mut q = Query {
        since: a
            .since
            .as_deref()
            .map(|s| logs::parse_since(s, now).context("--since"))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|s| logs::parse_since(s, now).context("--until"))
            .transpose()?,
        ..Query::default()
    };
    for f in &a.filter {
        q.filter(f)?;
    }
    // Without --since, only what happens from now on, as Docker's.
    if q.since.is_none() && q.until.is_none() {
        q.since = Some(now.as_nanos() as i128);
    }
    let follow = a.until.is_none();
    let mut out = std::io::stdout().lock();
    let mut failed = None;
    events::read(root, &q, follow, |e| {
        let line = match a.format.as_deref() {
            None | Some("") => Ok(crate::text::escape_controls(&e.text())),
            Some("json") => serde_json::to_string(e).map_err(anyhow::Error::from),
            Some(t) => serde_json::to_value(e)
                .map_err(anyhow::Error::from)
                .map(go_fields)
                .and_then(|v| super::output::render(t, &v))
                .map(|s| crate::text::escape_controls(&s)),
        };
        // A reader that went away (`| head -1`) ends the follow quietly.
        let res = line.and_then(|l| {
            writeln!(out, "{l}")
                .and_then(|()| out.flush())
                .map_err(Into::into)
        });
        match res {
            Ok(()) => true,
            Err(e) => {
                if !e.chain().any(|c| {
                    c.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                }) {
                    failed = Some(e);
                }
                false
            }
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Docker's templates see an event's Go fields: `.Status`, `.ID`, `.From`, `.Scope`,
/// `.Time`, `.TimeNano` beside `.Type`, `.Action` and `.Actor`, while `{{json .}}` prints
/// the message's JSON names (`status`, `id`, `timeNano`): the Go names are hidden keys.
fn go_fields(mut v: serde_json::Value) -> serde_json::Value {
    use crate::template::METHOD;
    if let serde_json::Value::Object(m) = &mut v {
        for (json, go) in [
            ("status", "Status"),
            ("id", "ID"),
            ("from", "From"),
            ("scope", "Scope"),
            ("time", "Time"),
            ("timeNano", "TimeNano"),
        ] {
            let x = m.get(json).cloned().unwrap_or_else(|| "".into());
            m.insert(format!("{METHOD}{go}"), x);
        }
    }
    v
}
