//! The engine's side of the per-container monitor (`crate::monitor`): what a monitor asks of
//! a container -- start it, record its exit, take it down -- answered with the engine's
//! records, lifecycle and runtime; and handing a container to a new monitor.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use nix::fcntl::{Flock, FlockArg};

use crate::monitor::{self, Host, Launched};

use super::base::{exit_error, lock_existing};
use super::container::{Containers, Record};
use super::foreground::limits;
use super::lifecycle;
use super::start::{start_container, Attach};

/// The engine, as a monitor sees it.
pub struct EngineHost;

impl Host for EngineHost {
    fn start(&self, root: &Path, id: &str) -> Result<Launched> {
        let cs = Containers::new(root);
        let rec = cs.load(id)?;
        start_container(&cs, &rec, Attach::Monitor)
    }

    fn stopped_meanwhile(&self, root: &Path, id: &str) -> Result<bool> {
        Ok(Containers::new(root).load(id)?.state.manually_stopped)
    }

    fn failed_start(&self, root: &Path, id: &str, e: &anyhow::Error) -> (i32, String) {
        let cs = Containers::new(root);
        let (code, msg) = exit_error(e);
        let recorded = lifecycle::record_failed_start(&cs, id, code, &msg);
        let released = lifecycle::release(&cs, id);
        for r in [recorded, released] {
            if let Err(x) = r {
                self.note_error(root, id, &x);
            }
        }
        (code, msg)
    }

    fn release(&self, root: &Path, id: &str) -> Result<()> {
        lifecycle::release(&Containers::new(root), id)
    }

    fn finish(&self, root: &Path, id: &str, code: i32) -> Result<Option<Duration>> {
        lifecycle::finish(&Containers::new(root), id, code, true)
    }

    fn log_limits(&self, root: &Path, id: &str) -> (u64, u32) {
        match Containers::new(root).load(id) {
            Ok(rec) => limits(&rec),
            Err(_) => limits(&Record::default()),
        }
    }

    fn note_error(&self, root: &Path, id: &str, e: &anyhow::Error) {
        let msg = format!("monitor: {}", crate::text::error_chain(e));
        // Nobody reads a monitor's stderr: if even the record cannot take it, it is lost.
        let _ = Containers::new(root).update(id, |r| r.state.error = msg);
    }

    fn exit_status(&self, e: &anyhow::Error) -> (i32, String) {
        exit_error(e)
    }

    fn health_start(&self, root: &Path, id: &str) -> Result<Option<String>> {
        super::health::on_start(root, id)
    }

    fn health_probe(&self, root: &Path, id: &str) -> Result<bool> {
        super::health::probe(root, id)
    }
}

/// Hands a made container, whose `.lock` the caller holds, to a new monitor that starts it;
/// returns once it runs (or failed to start).
pub fn launch(cs: &Containers, id: &str, lock: Flock<File>) -> Result<()> {
    monitor::launch(&EngineHost, &cs.root, id, lock)
}

/// `start`: a created or stopped container under a new monitor; one already watched (so
/// running) is left alone, as Docker's start is a no-op then.
pub fn start_detached(cs: &Containers, rec: &Record) -> Result<()> {
    // Under the set's lock: `heal` (another berth command's, e.g. a `berth start` of
    // another container beside this one) holds each container's lock for a moment under it,
    // and a busy lock must mean a watcher, not a heal passing by.
    let set = cs.lock_set()?;
    let lock = match lock_existing(
        &cs.dir_of(&rec.id),
        ".lock",
        FlockArg::LockExclusiveNonblock,
    ) {
        Ok(Some(l)) => l,
        Ok(None) => anyhow::bail!("no such container: {}", rec.bare_name()),
        Err(_) => return Ok(()),
    };
    drop(set);
    cs.update(&rec.id, |r| r.state.manually_stopped = false)?;
    launch(cs, &rec.id, lock)
}
