//! `berth compose` end to end, as root: config of merged files with interpolation, errors
//! with file and key path, up/ps/logs/down leaving nothing behind, recreate of only what
//! changed, dependency order, healthchecks (service_healthy, --wait), foreground up and
//! SIGINT, scale, one-off run, and the `docker-compose` drop-in name. Busybox services.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{root_or_skip, text, World, BIN};
use serde_json::Value;

/// A world with busybox and a project directory; `down -v` when dropped.
struct Proj {
    w: World,
    dir: PathBuf,
    name: String,
}

impl Proj {
    fn new(name: &str, compose: &str) -> Proj {
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

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root")
            .arg(self.w.root())
            .args(["compose", "-p", &self.name])
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run berth compose")
    }

    fn ok(&self, args: &[&str]) -> String {
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
    fn ps(&self) -> Vec<Value> {
        self.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("ps json"))
            .collect()
    }

    fn id_of(&self, name: &str) -> String {
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

#[test]
fn config_merges_files_and_interpolates() {
    if !root_or_skip("config_merges_files_and_interpolates") {
        return;
    }
    let p = Proj::new(
        "cfg",
        "version: '3'\nx-base: &base\n  image: bb:1\n  restart: always\nservices:\n  web:\n    <<: *base\n    ports: [\"${WEB_PORT:-8080}:80\"]\n    environment: [A=1]\n  db:\n    <<: *base\n    volumes: [data:/data]\nvolumes:\n  data:\n",
    );
    std::fs::write(
        p.dir.join("override.yaml"),
        "services:\n  web:\n    environment:\n      B: ${B_VALUE:?set B_VALUE}\n    ports: [\"9090:90\"]\n",
    )
    .expect("write");
    let out = p
        .cmd(&[
            "-f",
            "compose.yaml",
            "-f",
            "override.yaml",
            "config",
            "--format",
            "json",
        ])
        .env("B_VALUE", "two")
        .env("WEB_PORT", "8181")
        .output()
        .expect("config");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let web = &v["services"]["web"];
    assert_eq!(web["image"], "bb:1");
    assert_eq!(web["environment"]["A"], "1");
    assert_eq!(web["environment"]["B"], "two");
    assert_eq!(web["ports"][0]["published"], "8181");
    assert_eq!(web["ports"][1]["published"], "9090");
    assert_eq!(v["services"]["db"]["restart"], "always");
    let out = p
        .cmd(&["-f", "compose.yaml", "-f", "override.yaml", "config"])
        .env("B_VALUE", "two")
        .output()
        .expect("config");
    let yaml = text(&out.stdout);
    assert!(
        yaml.contains("published: '8080'") || yaml.contains("published: \"8080\""),
        "{yaml}"
    );
    assert_eq!(p.ok(&["config", "--services"]), "db\nweb\n");
    assert_eq!(p.ok(&["config", "--volumes"]), "data\n");
    // The compose file from stdin.
    let mut c = p.cmd(&["-f", "-", "config", "--services"]);
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        b"services:\n  only: {image: bb:1}\n",
    )
    .expect("write");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(text(&out.stdout), "only\n");
}

#[test]
fn errors_name_file_and_key_path() {
    if !root_or_skip("errors_name_file_and_key_path") {
        return;
    }
    let cases = [
        (
            "services:\n  a: {image: bb:1, depends_on: [b]}\n  b: {image: bb:1, depends_on: [a]}\n",
            "dependency cycle",
        ),
        (
            "services:\n  a: {image: bb:1, depends_on: [nope]}\n",
            "services.a.depends_on: no such service \"nope\"",
        ),
        (
            "services:\n  a: {image: \"bb:${TAG:?TAG must be set}\"}\n",
            "services.a.image: required variable TAG is missing a value: TAG must be set",
        ),
        (
            "services:\n  a: {image: bb:1, ports: [\"80:80:80:80\"]}\n",
            "services.a.ports[0]: malformed port",
        ),
        (
            "services:\n  a: {image: bb:1, enviroment: [A=1]}\n",
            "services.a.enviroment: unknown key \"enviroment\": did you mean \"environment\"?",
        ),
        (
            "services:\n  a: {image: bb:1, ports: [\"${X\"]}\n",
            "services.a.ports[0]: unclosed",
        ),
    ];
    for (yaml, want) in cases {
        let p = Proj::new("err", yaml);
        let out = p
            .cmd(&["config"])
            .env_remove("TAG")
            .output()
            .expect("config");
        assert!(!out.status.success(), "{yaml}");
        let e = text(&out.stderr);
        let file = p.dir.join("compose.yaml");
        assert!(e.contains(&format!("{}: ", file.display())), "{yaml}: {e}");
        assert!(e.contains(want), "{yaml}: want {want:?} in {e}");
    }
}

const APP: &str = "services:
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

#[test]
fn up_ps_logs_down_leaves_nothing() {
    if !root_or_skip("up_ps_logs_down_leaves_nothing") {
        return;
    }
    let p = Proj::new("life", APP);
    let t = Instant::now();
    p.ok(&["up", "-d"]);
    eprintln!("compose up -d of 2 services: {:?}", t.elapsed());
    let ps = p.ps();
    assert_eq!(ps.len(), 2, "{ps:?}");
    for c in &ps {
        assert_eq!(c["State"], "running", "{c}");
        assert_eq!(c["Project"], p.name.as_str());
    }
    let web = format!("{}-web-1", p.name);
    let id = p.id_of(&web);
    // Docker's labels, so scripts find the containers with plain `ps --filter`.
    let labels: Value =
        serde_json::from_str(&p.w.inspect(&web, "{{json .Config.Labels}}")).expect("labels");
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(
        labels["com.docker.compose.project.working_dir"],
        p.dir.to_str().unwrap_or_default()
    );
    assert_eq!(
        labels["com.docker.compose.config-hash"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    let filtered = p.w.ok(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", p.name),
    ]);
    assert_eq!(filtered.lines().count(), 2, "{filtered}");
    let ids: Vec<String> = ps
        .iter()
        .map(|c| c["ID"].as_str().unwrap_or_default().to_string())
        .collect();
    p.w.eventually(10, "both services logged", || {
        let logs = p.ok(&["logs", "--no-color"]);
        logs.lines()
            .any(|l| l.starts_with(&web) && l.ends_with(" | web says hello"))
            && logs.contains("-worker-1  | worker up")
    });
    assert_eq!(
        p.ok(&["logs", "--no-log-prefix", "web"]).trim(),
        "web says hello"
    );
    let vols = p.w.ok(&["volume", "ls", "-q"]);
    assert!(vols.contains(&format!("{}_data", p.name)), "{vols}");
    let t = Instant::now();
    p.ok(&["down", "-v"]);
    eprintln!("compose down -v of 2 services: {:?}", t.elapsed());
    for i in &ids {
        p.w.assert_gone(i);
    }
    assert!(p.ps().is_empty());
    assert_eq!(p.w.ok(&["volume", "ls", "-q"]).trim(), "", "no volume left");
    let _ = id;
}

#[test]
fn up_again_recreates_only_what_changed_and_scales() {
    if !root_or_skip("up_again_recreates_only_what_changed_and_scales") {
        return;
    }
    let p = Proj::new("recreate", APP);
    p.ok(&["up", "-d"]);
    let web = format!("{}-web-1", p.name);
    let worker = format!("{}-worker-1", p.name);
    let (w1, k1) = (p.id_of(&web), p.id_of(&worker));
    p.ok(&["up", "-d"]);
    assert_eq!(
        (p.id_of(&web), p.id_of(&worker)),
        (w1.clone(), k1.clone()),
        "nothing changed, nothing recreated"
    );
    let out = p
        .cmd(&["up", "-d"])
        .env("GREETING", "bonjour")
        .output()
        .expect("up");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let w2 = p.id_of(&web);
    assert_ne!(w2, w1, "web's environment changed: recreated");
    assert_eq!(p.id_of(&worker), k1, "worker unchanged: left alone");
    p.w.eventually(10, "the new web logged", || {
        p.ok(&["logs", "web"]).contains("web says bonjour")
    });
    // The named volume survived the recreate; --force-recreate makes new containers.
    let out = p
        .cmd(&["up", "-d", "--force-recreate", "worker"])
        .env("GREETING", "bonjour")
        .output()
        .expect("up");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(p.id_of(&worker), k1);
    assert_eq!(
        p.id_of(&web),
        w2,
        "a dependency that did not change is not recreated"
    );
    // Scale out and back.
    let out = p
        .cmd(&["up", "-d", "--scale", "worker=3"])
        .env("GREETING", "bonjour")
        .output()
        .expect("up");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names: Vec<String> = p
        .ps()
        .iter()
        .map(|c| c["Name"].as_str().unwrap_or_default().to_string())
        .collect();
    for n in 1..=3 {
        assert!(
            names.contains(&format!("{}-worker-{n}", p.name)),
            "{names:?}"
        );
    }
    assert_eq!(p.id_of(&web), w2, "scaling worker left web alone");
    let out = p
        .cmd(&["up", "-d"])
        .env("GREETING", "bonjour")
        .output()
        .expect("up");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(p.ps().len(), 2);
}

#[test]
fn dependency_order_and_completed_successfully() {
    if !root_or_skip("dependency_order_and_completed_successfully") {
        return;
    }
    let p = Proj::new(
        "order",
        "services:
  init:
    image: bb:1
    network_mode: none
    command: sh -c 'sleep 0.3; echo ready > /data/flag'
    volumes: [shared:/data]
  app:
    image: bb:1
    init: true
    network_mode: none
    command: sh -c 'cat /data/flag; exec sleep 1000'
    volumes: [shared:/data]
    depends_on:
      init: {condition: service_completed_successfully}
  broken:
    image: bb:1
    network_mode: none
    command: sh -c 'exit 3'
    profiles: [bad]
  needs_broken:
    image: bb:1
    network_mode: none
    command: 'true'
    profiles: [bad]
    depends_on:
      broken: {condition: service_completed_successfully}
volumes:
  shared:
",
    );
    p.ok(&["up", "-d"]);
    let app = format!("{}-app-1", p.name);
    p.w.eventually(10, "app read the flag", || {
        p.ok(&["logs", "app"]).contains("ready")
    });
    assert_eq!(p.w.inspect(&app, "{{.State.Status}}"), "running");
    // Services of an inactive profile are not started, but can be named.
    assert!(!p.ok(&["ps", "-a"]).contains("broken"));
    let out = p.run(&["--profile", "bad", "up", "-d"]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(
        e.contains("\"broken\" didn't complete successfully") && e.contains("exited with 3"),
        "{e}"
    );
    assert!(!p
        .ok(&["--profile", "bad", "ps", "-a"])
        .contains("needs_broken"));
    p.ok(&["--profile", "bad", "down", "-v"]);
}

#[test]
fn healthchecks_gate_dependants_and_wait() {
    if !root_or_skip("healthchecks_gate_dependants_and_wait") {
        return;
    }
    let p = Proj::new(
        "health",
        "services:
  db:
    image: bb:1
    init: true
    network_mode: none
    command: sh -c 'sleep 0.5; touch /tmp/up; exec sleep 1000'
    healthcheck:
      test: [CMD, sh, -c, 'test -e /tmp/up']
      interval: 200ms
      retries: 20
  app:
    image: bb:1
    init: true
    network_mode: none
    command: sleep 1000
    depends_on:
      db: {condition: service_healthy}
  sick:
    image: bb:1
    init: true
    network_mode: none
    command: sleep 1000
    profiles: [sick]
    healthcheck:
      test: exit 1
      interval: 100ms
      retries: 2
  patient:
    image: bb:1
    network_mode: none
    command: sleep 1000
    profiles: [sick]
    depends_on:
      sick: {condition: service_healthy}
",
    );
    p.ok(&["up", "-d"]);
    let db = format!("{}-db-1", p.name);
    assert_eq!(p.w.inspect(&db, "{{.State.Health.Status}}"), "healthy");
    let app = format!("{}-app-1", p.name);
    let started = |n: &str| p.w.inspect(n, "{{.State.StartedAt}}");
    assert!(started(&app) > started(&db));
    assert!(p.ok(&["ps"]).contains("(healthy)"));
    // A failing check keeps its dependant from starting and fails --wait, naming it.
    let out = p.run(&["--profile", "sick", "up", "-d"]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(
        e.contains(&format!("{}-sick-1 is unhealthy", p.name)),
        "{e}"
    );
    assert!(!p.ok(&["--profile", "sick", "ps", "-a"]).contains("patient"));
    let out = p.run(&["--profile", "sick", "up", "--wait", "sick", "db"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("sick-1 is unhealthy"),
        "{}",
        text(&out.stderr)
    );
    let health: Value =
        serde_json::from_str(&p.w.inspect(&format!("{}-sick-1", p.name), "{{json .State.Health}}"))
            .expect("json");
    assert_eq!(health["Status"], "unhealthy");
    assert!(
        health["FailingStreak"].as_u64().unwrap_or(0) >= 2,
        "{health}"
    );
    assert_eq!(health["Log"][0]["ExitCode"], 1);
    p.ok(&["--profile", "sick", "down"]);
}

#[test]
fn foreground_up_streams_prefixed_logs_and_stops_on_sigint() {
    if !root_or_skip("foreground_up_streams_prefixed_logs_and_stops_on_sigint") {
        return;
    }
    let p = Proj::new("fg", APP);
    let mut child = p
        .cmd(&["up", "--no-color"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    let web = format!("{}-web-1", p.name);
    p.w.eventually(15, "web running", || {
        p.run(&["ps", "--format", "json"]).status.success()
            && text(&p.run(&["ps", "--format", "json"]).stdout)
                .matches("\"running\"")
                .count()
                == 2
    });
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let t = Instant::now();
    let out = loop {
        if let Some(_st) = child.try_wait().expect("wait") {
            break child.wait_with_output().expect("output");
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "up did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        stdout.contains(&format!("{web}     | web says hello")),
        "{stdout}"
    );
    assert!(stdout.contains("| worker up"), "{stdout}");
    assert!(stderr.contains("Gracefully stopping"), "{stderr}");
    for c in p.ps() {
        assert_eq!(c["State"], "exited", "{c}");
    }
}

#[test]
fn run_one_off_and_drop_in_name() {
    if !root_or_skip("run_one_off_and_drop_in_name") {
        return;
    }
    let p = Proj::new("oneoff", APP);
    let out = p.run(&[
        "run",
        "--rm",
        "--no-deps",
        "web",
        "sh",
        "-c",
        "echo one-off $GREETING; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("one-off hello"),
        "{}",
        text(&out.stdout)
    );
    assert!(p.ps().is_empty(), "--rm removed it");
    // Invoked as docker-compose, berth is berth compose.
    let link = p.w.dir.path().join("docker-compose");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");
    let out = Command::new(&link)
        .arg("--root")
        .arg(p.w.root())
        .args(["config", "--services"])
        .current_dir(&p.dir)
        .output()
        .expect("docker-compose");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "web\nworker\n");
}

#[test]
fn project_network_names_ports_and_replicas() {
    if !root_or_skip("project_network_names_ports_and_replicas") {
        return;
    }
    let port = 21000 + (std::process::id() % 5000) as u16 * 3;
    let serve = "sh -c 'mkdir -p /www && hostname > /www/index.html && exec busybox httpd -f -p 80 -h /www'";
    let named = format!("named{}", std::process::id());
    let p = Proj::new(
        "net",
        &format!(
            "services:
  web:
    image: bb:1
    command: {serve}
    ports: [\"{port}-{}:80\"]
    deploy: {{replicas: 3}}
  other:
    image: bb:1
    container_name: {named}
    command: {serve}
    networks: [default, back]
  client:
    image: bb:1
    init: true
    command: sleep 1000
    networks:
      back:
        aliases: [the-client]
networks:
  default:
    ipam:
      config: [{{subnet: 10.{a}.{b}.0/24}}]
  back:
    internal: true
    ipam:
      config: [{{subnet: 10.{a}.{c}.0/24}}]
",
            port + 2,
            a = 100 + std::process::id() % 100,
            b = (std::process::id() / 100) % 120,
            c = 128 + (std::process::id() / 100) % 120,
        ),
    );
    p.ok(&["up", "-d"]);
    let nets = p.w.ok(&["network", "ls"]);
    assert!(
        nets.contains(&format!("{}_default", p.name)) && nets.contains(&format!("{}_back", p.name)),
        "{nets}"
    );
    let ids: Vec<String> = p
        .ps()
        .iter()
        .map(|c| c["ID"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids.len(), 5);
    // Each replica on its own host port, answering with its own hostname.
    let mut hosts = std::collections::BTreeSet::new();
    for n in 0..3 {
        let mut got = String::new();
        p.w.eventually(10, "web answers on the host port", || {
            got = Command::new("busybox")
                .args(["wget", "-qO-", &format!("http://127.0.0.1:{}/", port + n)])
                .output()
                .map(|o| text(&o.stdout))
                .unwrap_or_default();
            !got.is_empty()
        });
        hosts.insert(got.trim().to_string());
    }
    assert_eq!(hosts.len(), 3, "three replicas answered: {hosts:?}");
    let ports = p.ok(&["port", "--index", "2", "web", "80"]);
    assert_eq!(ports.trim(), format!("0.0.0.0:{}", port + 1));
    // By service name and container_name on the project network; the client reaches
    // `other` on the internal network it shares with it, not `web`, which is not on it.
    let exec = |args: &[&str]| p.run(&[&["exec", "client"][..], args].concat());
    let out = exec(&["busybox", "wget", "-qO-", &format!("http://{named}/")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = exec(&["busybox", "wget", "-qO-", "http://other/"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = p.run(&["exec", "other", "busybox", "wget", "-qO-", "http://web/"]);
    assert!(
        out.status.success(),
        "other is on the default network too: {}",
        text(&out.stderr)
    );
    assert!(
        hosts.contains(text(&out.stdout).trim()),
        "{}",
        text(&out.stdout)
    );
    let out = exec(&["busybox", "wget", "-T", "2", "-qO-", "http://web/"]);
    assert!(!out.status.success(), "client is not on web's network");
    p.ok(&["down", "-t", "1"]);
    for id in &ids {
        p.w.assert_gone(id);
    }
    let nets = p.w.ok(&["network", "ls"]);
    assert!(
        !nets.contains(&p.name),
        "down removed the project's networks: {nets}"
    );
}

#[test]
fn builds_run_side_by_side_and_rebuild_recreates() {
    if !root_or_skip("builds_run_side_by_side_and_rebuild_recreates") {
        return;
    }
    let p = Proj::new(
        "build",
        "services:
  a:
    build: ./a
    network_mode: none
  b:
    build:
      context: .
      dockerfile_inline: |
        FROM bb:1
        ARG WORD
        RUN echo b-$$WORD > /word
        CMD [\"cat\", \"/word\"]
      args: {WORD: inline}
    network_mode: none
    image: custom-b:1
",
    );
    std::fs::create_dir(p.dir.join("a")).expect("mkdir");
    std::fs::write(
        p.dir.join("a/Dockerfile"),
        "FROM bb:1\nRUN echo a-one > /word\nCMD [\"cat\", \"/word\"]\n",
    )
    .expect("write");
    let out = p.run(&["up", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e = text(&out.stderr);
    assert!(
        e.contains("a | ") && e.contains("b | "),
        "build output prefixed per service: {e}"
    );
    let images = p.w.ok(&["images"]);
    assert!(
        images.contains(&format!("{}-a", p.name)) && images.contains("custom-b"),
        "{images}"
    );
    let mut l = String::new();
    let t = Instant::now();
    while !(l.contains("a-one") && l.contains("b-inline")) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "both ran: logs {l:?}, ps {}",
            p.ok(&["ps", "-a"])
        );
        std::thread::sleep(Duration::from_millis(50));
        l = p.ok(&["logs"]);
    }
    let a1 = p.id_of(&format!("{}-a-1", p.name));
    let b1 = p.id_of(&format!("{}-b-1", p.name));
    // A changed Dockerfile: `up --build` rebuilds, and only the container of the changed
    // image is recreated.
    std::fs::write(
        p.dir.join("a/Dockerfile"),
        "FROM bb:1\nRUN echo a-two > /word\nCMD [\"cat\", \"/word\"]\n",
    )
    .expect("write");
    p.ok(&["up", "-d", "--build"]);
    assert_ne!(p.id_of(&format!("{}-a-1", p.name)), a1);
    assert_eq!(p.id_of(&format!("{}-b-1", p.name)), b1);
    p.w.eventually(10, "a rebuilt", || p.ok(&["logs", "a"]).contains("a-two"));
    p.ok(&["down", "--rmi", "local"]);
    let images = p.w.ok(&["images"]);
    assert!(
        !images.contains(&format!("{}-a", p.name)),
        "--rmi local removed the built image: {images}"
    );
    assert!(
        images.contains("custom-b"),
        "--rmi local keeps images with a name of their own: {images}"
    );
}

/// Examples from the compose specification (its illustrative application, and the forms of
/// its services, networks and healthcheck sections): berth's `config` reads them, and where
/// Debian's docker-compose is installed, both say the same of every service.
#[test]
fn compose_spec_examples_through_config() {
    if !root_or_skip("compose_spec_examples_through_config") {
        return;
    }
    let examples = [
        "services:
  frontend:
    image: example/webapp
    ports:
      - \"443:8043\"
    networks:
      - front-tier
      - back-tier
    configs:
      - httpd-config
    secrets:
      - server-certificate
  backend:
    image: example/database
    volumes:
      - db-data:/etc/data
    networks:
      - back-tier
volumes:
  db-data:
    driver: flocker
    driver_opts:
      size: \"10GiB\"
configs:
  httpd-config:
    external: true
secrets:
  server-certificate:
    external: true
networks:
  front-tier: {}
  back-tier: {}
",
        "services:
  web:
    build:
      context: ./web
      args: [GIT_COMMIT=cdc3b19]
    ports: [\"8000:5000\", \"127.0.0.1:8001:5001/udp\"]
    environment:
      - DEBUG=1
      - RACK_ENV=development
    command: bundle exec thin -p 3000
    depends_on:
      db:
        condition: service_healthy
  db:
    image: postgres
    environment:
      POSTGRES_PASSWORD: example
    healthcheck:
      test: [\"CMD-SHELL\", \"pg_isready -U postgres\"]
      interval: 10s
      timeout: 5s
      retries: 5
",
        "version: '3.8'
services:
  app:
    image: nginx
    expose: [\"3000\"]
    volumes:
      - type: bind
        source: ./static
        target: /opt/app/static
        read_only: true
      - /var/lib/mysql
    networks:
      app_net:
        ipv4_address: 172.16.238.10
        aliases: [alias1]
networks:
  app_net:
    ipam:
      driver: default
      config:
        - subnet: \"172.16.238.0/24\"
",
    ];
    let peer = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    for (i, yaml) in examples.iter().enumerate() {
        let p = Proj::new(&format!("spec{i}"), yaml);
        let out = p.run(&["config", "--format", "json"]);
        assert!(out.status.success(), "example {i}: {}", text(&out.stderr));
        let ours: Value = serde_json::from_slice(&out.stdout).expect("json");
        let Some(peer) = peer else { continue };
        let out = Command::new(peer)
            .args(["config"])
            .current_dir(&p.dir)
            .output()
            .expect("docker-compose");
        if !out.status.success() {
            eprintln!(
                "docker-compose config failed on example {i}: {}",
                text(&out.stderr)
            );
            continue;
        }
        let theirs: Value =
            serde_saphyr::from_str(&text(&out.stdout)).expect("docker-compose's yaml");
        let (os, ts) = (&ours["services"], &theirs["services"]);
        let names = |v: &Value| {
            v.as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(names(os), names(ts), "example {i}: services");
        for n in names(os) {
            let (o, t) = (&os[&n], &ts[&n]);
            assert_eq!(o["image"], t["image"], "example {i}: {n}.image");
            assert_eq!(
                names(&o["networks"]),
                names(&t["networks"]),
                "example {i}: {n}.networks"
            );
            assert_eq!(
                o["environment"], t["environment"],
                "example {i}: {n}.environment"
            );
            let ports = |v: &Value| -> Vec<(String, String)> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            p["target"].to_string(),
                            p["published"].to_string().trim_matches('"').to_string(),
                        )
                    })
                    .collect()
            };
            assert_eq!(
                ports(&o["ports"]),
                ports(&t["ports"]),
                "example {i}: {n}.ports"
            );
            let targets = |v: &Value| -> Vec<String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| match x {
                        Value::String(s) => s.split(':').nth(1).unwrap_or(s).to_string(),
                        x => x["target"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            };
            assert_eq!(
                targets(&o["volumes"]),
                targets(&t["volumes"]),
                "example {i}: {n}.volumes"
            );
            if let Some(b) = t.get("build") {
                assert_eq!(
                    o["build"]["context"], b["context"],
                    "example {i}: {n}.build.context"
                );
            }
        }
    }
}

#[test]
fn exit_code_from_stops_the_others() {
    if !root_or_skip("exit_code_from_stops_the_others") {
        return;
    }
    let p = Proj::new(
        "exitcode",
        "services:
  job:
    image: bb:1
    network_mode: none
    command: sh -c 'sleep 0.5; echo job done; exit 3'
  server:
    image: bb:1
    init: true
    network_mode: none
    command: sleep 1000
",
    );
    let t = Instant::now();
    let out = p.run(&["up", "--no-color", "--exit-code-from", "job"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(
        text(&out.stdout).contains("| job done"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("exited with code 3"),
        "{}",
        text(&out.stderr)
    );
    for c in p.ps() {
        assert_eq!(c["State"], "exited", "{c}");
    }
}

#[test]
fn image_healthcheck_applies_unless_disabled() {
    if !root_or_skip("image_healthcheck_applies_unless_disabled") {
        return;
    }
    let p = Proj::new(
        "imghc",
        "services:
  hc:
    build: ./hc
    image: hc-img:1
    network_mode: none
  app:
    image: bb:1
    init: true
    network_mode: none
    command: sleep 1000
    depends_on:
      hc: {condition: service_healthy}
  off:
    image: hc-img:1
    network_mode: none
    healthcheck: {disable: true}
    depends_on: [hc]
",
    );
    std::fs::create_dir(p.dir.join("hc")).expect("mkdir");
    std::fs::write(
        p.dir.join("hc/Dockerfile"),
        "FROM bb:1\nHEALTHCHECK --interval=200ms --retries=3 CMD true\nCMD [\"sleep\", \"1000\"]\n",
    )
    .expect("write");
    p.ok(&["up", "-d"]);
    let hc = format!("{}-hc-1", p.name);
    assert_eq!(p.w.inspect(&hc, "{{.State.Health.Status}}"), "healthy");
    let off = format!("{}-off-1", p.name);
    assert_eq!(
        p.w.inspect(&off, "{{json .Config.Healthcheck.Test}}"),
        "[\"NONE\"]"
    );
    let state: Value = serde_json::from_str(&p.w.inspect(&off, "{{json .State}}")).expect("state");
    assert!(state.get("Health").is_none(), "{state}");
    p.ok(&["down", "-t", "0"]);
}
