//! The host objects a container owns, and the one routine that takes them down.
//!
//! `create` records each object in the container's record *before* it makes it, so whatever
//! ends a container -- `rm`, `--rm`, a failed create, its monitor seeing the exit, the next
//! command healing after a killed berth -- finds the same list and runs the same code.
//! Teardown goes in reverse order, keeps going past errors (collecting them), and treats an
//! object that is already gone as done; each object's name derives from the container id,
//! so a record that could not be read still leaves the id-derived objects findable.
//! Network attachments (veth, addresses, nft rules, DNS names) join this list.

use std::path::Path;

use berth_image::rootfs;
use berth_runtime::container as rt;
use berth_runtime::debug;
use serde::{Deserialize, Serialize};

use super::base::runtime_root;
use super::container::Containers;
use super::volume::{VolumeName, Volumes};
use super::{fault, fsutil};

/// One kind of thing on the host that exists because of a container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "Type")]
pub enum HostObject {
    /// The overlay mounted at `<dir>/rootfs` (upper and work dirs live in the directory).
    Overlay,
    /// A volume the container mounts; an anonymous one goes with `rm -v` / `--rm`.
    Volume { name: String, anonymous: bool },
    /// The runtime's container: its init and processes, its cgroup `/berth/<id>`, its
    /// state under `<root>/runtime/<id>`.
    Runtime,
    /// Its own network namespace, bound at `<root>/netns/<id>`.
    Netns,
    /// Its place on a bridge network (by id): the veth `vb<ids>`, its address lease, its
    /// published ports in the network's nft table, its name in the others' /etc/hosts.
    Endpoint { network: String },
}

/// How far to take a container down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Its processes only: a restart keeps its mounted root.
    Processes,
    /// What a stopped container does not keep: processes and mounts.
    Stopped,
    /// Everything, the directory and record too; anonymous volumes with `volumes`.
    Removed { volumes: bool },
}

/// What a container owns when its record cannot tell (a `run` killed before it wrote one):
/// the objects whose names derive from the id alone.
fn derived() -> Vec<HostObject> {
    vec![HostObject::Overlay, HostObject::Netns, HostObject::Runtime]
}

/// The errors of one teardown, every one of them (an empty list: all went).
#[derive(Debug, Default)]
pub struct Errors(pub Vec<String>);

impl Errors {
    fn push(&mut self, what: &str, e: impl std::fmt::Display) {
        self.0.push(format!("{what}: {e}"));
    }

    pub fn into_result(self, id: &str) -> anyhow::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "tearing down container {}: {}",
            &id[..id.len().min(12)],
            self.0.join("; ")
        )
    }
}

/// Takes container `id` down to `level`, last-made object first. The caller made sure
/// nothing else watches the container.
pub fn teardown(cs: &Containers, id: &str, level: Level) -> Errors {
    let mut errs = Errors::default();
    let rec = cs.load(id).ok();
    let name = rec.as_ref().map(|r| r.bare_name().to_string());
    let objects = match rec {
        Some(r) if !r.host_objects.is_empty() => r.host_objects,
        _ => derived(),
    };
    let dir = cs.dir_of(id);
    let mut volumes_to_remove = Vec::new();
    let mut held = None;
    for o in objects.iter().rev() {
        match o {
            HostObject::Runtime => {
                if let Err(e) = delete_runtime(cs, id) {
                    errs.push("delete the runtime container", e);
                }
                debug::step("teardown: runtime container deleted");
            }
            HostObject::Overlay if level != Level::Processes => {
                let (_, _, rootfs_dir) = rootfs::paths(&dir);
                let res = fault::point("teardown-overlay").and_then(|()| {
                    if let Level::Removed { .. } = level {
                        // The overlay's final sync goes with the directory's deleter.
                        held = rootfs::detach_holding(&rootfs_dir)?;
                        Ok(())
                    } else {
                        rootfs::unmount(&rootfs_dir).map_err(Into::into)
                    }
                });
                if let Err(e) = res {
                    errs.push("unmount the root", e);
                }
                debug::step("teardown: root unmounted");
            }
            // A stopped container holds no namespace, address or port (as Docker's); start
            // makes them again from its plan (network::attach::ensure_up).
            HostObject::Endpoint { network } if level != Level::Processes => {
                // Its processes are gone: with the namespace unbound next, nothing holds it.
                let with_netns = objects.contains(&HostObject::Netns);
                if let Err(e) =
                    super::network::attach::teardown_endpoint(cs, id, network, with_netns)
                {
                    errs.push("take the container off its network", e);
                }
                debug::step("teardown: endpoint down");
            }
            HostObject::Netns if level != Level::Processes => {
                if let Err(e) = super::network::attach::teardown_netns(cs, id) {
                    errs.push("remove the network namespace", e);
                }
            }
            HostObject::Volume {
                name,
                anonymous: true,
            } if level == (Level::Removed { volumes: true }) => {
                volumes_to_remove.push(name.clone());
            }
            _ => {}
        }
    }
    if let Level::Removed { .. } = level {
        debug::step("teardown: objects down");
        // A root still mounted keeps the container, so that `rm` can be tried again.
        if errs.0.is_empty() && dir.exists() {
            // Under the record's lock: an update in flight (a second `rm -f`, the monitor)
            // saves first, and any later one finds the container gone.
            let state_lock = super::base::lock_existing(
                &dir,
                ".state.lock",
                nix::fcntl::FlockArg::LockExclusive,
            );
            // ps's summaries cache must not keep serving a container that is gone.
            let moved = cs
                .changing()
                .and_then(|_c| fsutil::to_trash(&cs.root, &dir));
            drop(state_lock);
            match moved {
                Ok(gone) => {
                    debug::step("teardown: directory in the trash");
                    if let Some(n) = &name {
                        cs.unindex_name(n, id);
                    }
                    if let Err(e) = fsutil::remove_trash_entry(&gone, held.take()) {
                        errs.push("remove the directory", e);
                    }
                }
                Err(e) => errs.push("remove the directory", e),
            }
        }
        // After the record: a volume is in use while any record names it.
        let vs = Volumes::new(&cs.root);
        for name in volumes_to_remove {
            let Ok(n) = VolumeName::new(&name) else {
                continue;
            };
            if vs.get(&n).is_ok() && vs.users(cs, &n).is_empty() {
                if let Err(e) = vs.remove(cs, &n) {
                    errs.push("remove anonymous volume", e);
                }
            }
        }
    }
    errs
}

/// Takes down the runtime's container of `id`: its processes, cgroup and state; gone is
/// done. Its record of the cgroup can be gone while the cgroup stays, so that goes by name.
pub fn delete_runtime(cs: &Containers, id: &str) -> Result<(), berth_runtime::Error> {
    let res = match rt::delete(&runtime_root(&cs.root), id, true) {
        Ok(()) | Err(berth_runtime::Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    };
    remove_cgroup_by_name(id);
    res
}

/// The runtime's record of a cgroup can be gone (its state directory deleted from outside)
/// while the cgroup stays. Its path derives from the id (`/berth/<id>`), so it can be
/// removed by name; a few stat calls when there is nothing to do.
fn remove_cgroup_by_name(id: &str) {
    let rel = Path::new("berth").join(id);
    let base = Path::new("/sys/fs/cgroup");
    if !["", "memory", "pids", "unified"]
        .iter()
        .any(|h| base.join(h).join(&rel).exists())
    {
        return;
    }
    let parents = [
        "", "memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer", "unified",
    ]
    .iter()
    .map(|h| base.join(h).join("berth"))
    .collect();
    // Parents shared with other containers stay (rmdir of a busy one just fails), so the
    // result says nothing about this container's own cgroup; leftovers() in the tests does.
    let _ = berth_runtime::cgroups::remove(&berth_runtime::state::CgroupRecord {
        path: Path::new("/").join(&rel),
        created: parents,
    });
}
