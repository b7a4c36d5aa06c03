//! `berth compose` end to end, as root (1/2): config of merged files with interpolation,
//! errors with file and key path, the compose spec's examples against docker-compose,
//! up/ps/logs/down leaving nothing behind, recreate of only what changed, scale,
//! dependency order. Busybox services; tests/compose_services.rs has the rest.

mod common;
#[path = "common/compose.rs"]
mod proj;

use std::process::{Command, Stdio};
use std::time::Instant;

use common::{root_or_skip, text};
use proj::{Proj, APP};
use serde_json::Value;

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
        // The build example's context (config refuses one that does not exist).
        std::fs::create_dir_all(p.dir.join("web")).expect("mkdir web");
        let out = p.run(&["config", "--format", "json"]);
        assert!(out.status.success(), "example {i}: {}", text(&out.stderr));
        let ours: Value = serde_json::from_slice(&out.stdout).expect("json");
        if i == 0 {
            // Configs and secrets are understood (external ones refused only by `up`).
            let e = text(&out.stderr);
            assert!(!e.contains("secrets is not supported"), "{e}");
            assert_eq!(
                ours["services"]["frontend"]["secrets"][0]["source"],
                "server-certificate"
            );
            assert_eq!(ours["configs"]["httpd-config"]["external"], true);
        }
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
                    .map(|p| match p {
                        // docker-compose 1.x keeps a host address form as its string.
                        Value::String(s) => {
                            let s = s.split('/').next().unwrap_or(s);
                            let mut it = s.rsplit(':');
                            let target = it.next().unwrap_or_default().to_string();
                            (target, it.next().unwrap_or_default().to_string())
                        }
                        p => (
                            p["target"].to_string(),
                            p["published"].to_string().trim_matches('"').to_string(),
                        ),
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
fn up_ps_logs_down_leaves_nothing() {
    if !root_or_skip("up_ps_logs_down_leaves_nothing") {
        return;
    }
    let p = Proj::new("life", APP);
    // A follower of the project's events, started before anything happens.
    let mut follower = p
        .cmd(&["events", "--json", "web"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("compose events");
    std::thread::sleep(std::time::Duration::from_millis(800));
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
    // The follower saw web's life, and only web's (read until its destroy, or 20 s).
    let stdout = follower.stdout.take().expect("follower stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut evs: Vec<Value> = Vec::new();
    while let Ok(l) = rx.recv_timeout(std::time::Duration::from_secs(20)) {
        let e: Value = serde_json::from_str(&l).expect("one JSON event a line");
        let done = e["action"] == "destroy";
        evs.push(e);
        if done {
            break;
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let actions: Vec<&str> = evs.iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["create", "start", "destroy"] {
        assert!(actions.contains(&a), "{a} missing: {evs:?}");
    }
    assert!(
        evs.iter()
            .all(|e| e["service"] == "web" && e["id"].as_str().is_some_and(|i| i.starts_with(&id))),
        "{evs:?}"
    );
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
fn logs_tail_timestamps_and_follow() {
    if !root_or_skip("logs_tail_timestamps_and_follow") {
        return;
    }
    let p = Proj::new(
        "logs",
        "services:
  talker:
    image: bb:1
    network_mode: none
    command: sh -c 'echo one; echo two; sleep 1; echo three'
",
    );
    p.ok(&["up", "-d"]);
    // -f follows until the container exits: every line, the last written after a pause.
    let t = Instant::now();
    let all = p.ok(&["logs", "-f", "--no-log-prefix"]);
    assert_eq!(all, "one\ntwo\nthree\n");
    assert!(t.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(p.ok(&["logs", "--tail", "1", "--no-log-prefix"]), "three\n");
    let stamped = p.ok(&["logs", "-t", "--no-color"]);
    let first = stamped.lines().next().unwrap_or_default().to_string();
    let (prefix, rest) = first.split_once(" | ").expect("prefixed");
    assert!(
        prefix.starts_with(&format!("{}-talker-1", p.name)),
        "{first}"
    );
    let (stamp, line) = rest.split_once(' ').expect("timestamp");
    assert!(stamp.starts_with("20") && stamp.ends_with('Z'), "{first}");
    assert_eq!(line, "one");
    // --no-recreate keeps even a changed container.
    let id = p.id_of(&format!("{}-talker-1", p.name));
    std::fs::write(
        p.dir.join("compose.yaml"),
        "services:\n  talker:\n    image: bb:1\n    network_mode: none\n    command: echo changed\n",
    )
    .expect("write");
    p.ok(&["up", "-d", "--no-recreate"]);
    assert_eq!(p.id_of(&format!("{}-talker-1", p.name)), id);
}
