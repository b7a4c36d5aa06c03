//! The compose tests' project: a world with busybox and a project directory, `berth
//! compose -p NAME` run in it, `down -v` when dropped.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::{text, World, BIN};

/// A world with busybox and a project directory; `down -v` when dropped.
pub struct Proj {
    pub w: World,
    pub dir: PathBuf,
    pub name: String,
}

impl Proj {
    pub fn new(name: &str, compose: &str) -> Proj {
        let w = World::with_busybox();
        let dir = w.dir.path().join("proj");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("compose.yaml"), compose).expect("write compose.yaml");
        Proj {
            w,
            dir,
            name: format!("{name}{}", std::process::id()),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root")
            .arg(self.w.root())
            .args(["compose", "-p", &self.name])
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run berth compose")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth compose {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `ps -a --format json`, one object per container.
    pub fn ps(&self) -> Vec<Value> {
        self.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("ps json"))
            .collect()
    }

    pub fn id_of(&self, name: &str) -> String {
        self.ps()
            .into_iter()
            .find(|c| c["Name"] == name)
            .map(|c| c["ID"].as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("no container {name}"))
    }
}

impl Drop for Proj {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "-t", "0", "--remove-orphans"]);
    }
}

/// Two services on no network: web (a named and an anonymous volume, $GREETING) and
/// worker, which depends on it.
pub const APP: &str = "services:
  web:
    image: bb:1
    init: true
    network_mode: none
    command: [sh, -c, 'echo web says $$GREETING; exec sleep 1000']
    environment:
      GREETING: ${GREETING:-hello}
    volumes: [data:/data, /scratch]
  worker:
    image: bb:1
    init: true
    network_mode: none
    command: sh -c 'echo worker up; exec sleep 1000'
    depends_on: [web]
volumes:
  data:
";
