//! Services' output, as docker compose shows it: each line prefixed with the container's
//! name, padded and coloured per service (`web-1  | hello`), from the json-file logs the
//! monitors write; and the foreground of `up`: follow every container until all have
//! exited, stop them gracefully on the first Ctrl-C and kill them on the second.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;

use super::apply::{self, service_of};
use super::load::Project;
use crate::engine::container::{Containers, Record};
use crate::engine::lifecycle;
use crate::monitor::logs::{self, ReadOpts};

const COLOURS: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// How lines are prefixed.
#[derive(Clone)]
pub struct Prefixer {
    pub width: usize,
    pub colour: bool,
    pub prefix: bool,
    pub timestamps: bool,
    /// Service name -> its colour index.
    pub services: Vec<String>,
}

impl Prefixer {
    pub fn new(recs: &[Record], colour: bool, prefix: bool, timestamps: bool) -> Prefixer {
        let mut services: Vec<String> = recs.iter().map(|r| service_of(r).to_string()).collect();
        services.dedup();
        Prefixer {
            width: recs.iter().map(|r| r.bare_name().len()).max().unwrap_or(0),
            colour,
            prefix,
            timestamps,
            services,
        }
    }

    pub fn line(&self, r: &Record, text: &str, time: &str) -> String {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = crate::text::escape_controls(text);
        let body = if self.timestamps {
            format!("{time} {text}")
        } else {
            text.to_string()
        };
        if !self.prefix {
            return format!("{body}\n");
        }
        let name = format!("{:w$}  |", r.bare_name(), w = self.width);
        if self.colour {
            let i = self
                .services
                .iter()
                .position(|s| s == service_of(r))
                .unwrap_or(0);
            format!("\x1b[{}m{name}\x1b[0m {body}\n", COLOURS[i % COLOURS.len()])
        } else {
            format!("{name} {body}\n")
        }
    }
}

/// Prints (and with `follow` keeps printing) the logs of `recs`, interleaved as they come.
pub fn logs(
    root: &Path,
    recs: &[Record],
    p: &Prefixer,
    tail: Option<usize>,
    follow: bool,
) -> Result<()> {
    let out = Mutex::new(());
    std::thread::scope(|sc| {
        for r in recs {
            let out = &out;
            sc.spawn(move || {
                let o = ReadOpts {
                    tail,
                    since: None,
                    timestamps: false,
                };
                let cs = Containers::new(root);
                let id = r.id.clone();
                let alive = || {
                    cs.load(&id)
                        .is_ok_and(|x| lifecycle::current_status(&cs, &x).is_up())
                };
                let _ = logs::read_with(&r.log_path, &o, follow, alive, &mut |e| {
                    let line = p.line(r, &e.log, &e.time);
                    let _g = out.lock();
                    let mut so = std::io::stdout().lock();
                    let _ = so.write_all(line.as_bytes());
                    let _ = so.flush();
                });
            });
        }
    });
    Ok(())
}

/// What ends a foreground `up`.
pub struct Foreground {
    pub abort_on_exit: bool,
    pub exit_code_from: Option<String>,
    pub timeout: Option<u64>,
}

/// Follows the project's containers of `services` until every one has exited; the first
/// SIGINT/SIGTERM stops them (dependants first), the second kills them. Returns the exit
/// status `up` gives: the `--exit-code-from` service's, 130 after Ctrl-C, else 0.
pub fn foreground(
    root: &Path,
    p: &Project,
    services: &std::collections::BTreeSet<String>,
    pf: &Prefixer,
    f: &Foreground,
) -> Result<i32> {
    let recs: Vec<Record> = apply::containers(root, &p.name, false)
        .into_iter()
        .filter(|r| services.contains(service_of(r)))
        .collect();
    let mut pf = pf.clone();
    pf.width = recs.iter().map(|r| r.bare_name().len()).max().unwrap_or(0);
    pf.services = {
        let mut s: Vec<String> = recs.iter().map(|r| service_of(r).to_string()).collect();
        s.dedup();
        s
    };
    let cs = Containers::new(root);
    let mut code = 0;
    std::thread::scope(|sc| -> Result<()> {
        let pf = &pf;
        let followed = recs.clone();
        sc.spawn(move || logs(root, &followed, pf, None, true));
        let mut stopping = false;
        let mut killed = false;
        let mut reported = std::collections::BTreeSet::new();
        loop {
            let n = crate::sys::interrupts();
            let mut alive = 0;
            let mut first_exit = None;
            for r in &recs {
                let cur = cs.load(&r.id).unwrap_or_else(|_| r.clone());
                let st = lifecycle::current_status(&cs, &cur);
                if st.is_up()
                    || (lifecycle::watched(&cs, &r.id)
                        && st != crate::engine::container::Status::Exited)
                {
                    alive += 1;
                } else if reported.insert(r.id.clone()) {
                    eprintln!("{} exited with code {}", r.bare_name(), cur.state.exit_code);
                    if f.exit_code_from.as_deref() == Some(service_of(r)) {
                        code = cur.state.exit_code;
                    }
                    first_exit.get_or_insert(cur.state.exit_code);
                }
            }
            if alive == 0 {
                break;
            }
            if n >= 2 && !killed {
                killed = true;
                eprintln!("Killing...");
                for r in &recs {
                    let _ = lifecycle::signal(&cs, &r.id, nix::sys::signal::Signal::SIGKILL, true);
                    let _ = cs.update(&r.id, |x| x.state.manually_stopped = true);
                }
            } else if !stopping && (n >= 1 || (f.abort_on_exit && first_exit.is_some())) {
                stopping = true;
                if n >= 1 {
                    eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                    code = 130;
                } else {
                    eprintln!("Aborting on container exit...");
                }
                let groups = apply::reverse_groups(p, recs.clone());
                let timeout = f.timeout;
                sc.spawn(move || {
                    for e in apply::stop_groups(root, groups, timeout, false, false) {
                        eprintln!("berth: {e}");
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    })?;
    Ok(code)
}
