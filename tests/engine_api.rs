//! The engine as a library, as build steps and compose will call it: a typed
//! ContainerConfig, `create`, and `start_container` with stdio the caller chose -- two
//! containers started side by side from one process, each writing into its own pipes, this
//! process's own stdout and stderr untouched.

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use berth::engine::config::{
    ContainerConfig, LogOptions, NetworkMode, ProcessConfig, Resources, Security,
};
use berth::engine::container::{Containers, RestartPolicy};
use berth::engine::{self, lifecycle, Attach};
use common::*;

fn config(name: &str, script: &str) -> ContainerConfig {
    ContainerConfig {
        image: "bb:1".into(),
        name: Some(name.into()),
        process: ProcessConfig {
            command: vec!["sh".into(), "-c".into(), script.into()],
            ..ProcessConfig::default()
        },
        hostname: None,
        mounts: Vec::new(),
        resources: Resources::default(),
        security: Security::default(),
        network: NetworkMode::None,
        restart: RestartPolicy::parse("no").unwrap(),
        auto_remove: false,
        labels: BTreeMap::new(),
        log: LogOptions::default(),
        ports: Vec::new(),
        publish_all: false,
        dns: Default::default(),
        extra_hosts: Vec::new(),
        exposed: Vec::new(),
        files: Vec::new(),
    }
}

#[test]
fn two_containers_start_from_one_process_with_their_own_stdio() {
    if !root_or_skip("two_containers_start_from_one_process_with_their_own_stdio") {
        return;
    }
    // The container's init re-executes this binary unless told otherwise: berth serves.
    berth_runtime::process::set_init_binary(BIN.into());
    let w = World::with_busybox();
    let root = w.root();
    let cs = Containers::new(&root);
    let mut running = Vec::new();
    for (name, word) in [("api-a", "alpha"), ("api-b", "beta")] {
        let (rec, lock) = engine::create(
            &root,
            &config(name, &format!("echo {word}; echo {word}-err >&2; exit 3")),
        )
        .expect("create");
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        let (err_r, err_w) = nix::unistd::pipe().unwrap();
        let l = engine::start_container(
            &cs,
            &rec,
            Attach::Stdio {
                stdin: None,
                stdout: out_w,
                stderr: err_w,
            },
        )
        .expect("start");
        running.push((rec, lock, l.pid, out_r, err_r, word));
    }
    for (rec, lock, pid, out_r, err_r, word) in running {
        let mut out = String::new();
        std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
        let mut err = String::new();
        std::fs::File::from(err_r).read_to_string(&mut err).unwrap();
        assert_eq!(out, format!("{word}\n"));
        assert_eq!(err, format!("{word}-err\n"));
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
        assert!(
            matches!(status, nix::sys::wait::WaitStatus::Exited(_, 3)),
            "{status:?}"
        );
        lifecycle::finish(&cs, &rec.id, 3, false).expect("finish");
        drop(lock);
        assert_eq!(w.inspect(&rec.id, "{{.State.ExitCode}}"), "3");
        w.ok(&["rm", &rec.id]);
        w.assert_gone(&rec.id);
    }
}
