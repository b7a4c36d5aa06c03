//! `berth compose`, end to end as root: `include`, `!reset` / `!override`, configs and
//! secrets seen by the services, a build context that does not exist, `cp`, `wait`,
//! `stats`. Busybox services on no network.

mod common;
#[path = "common/compose.rs"]
#[allow(dead_code)]
mod proj;

use common::{root_or_skip, text};
use proj::Proj;
use serde_json::Value;

#[test]
fn include_and_merge_tags_through_config() {
    if !root_or_skip("include_and_merge_tags_through_config") {
        return;
    }
    let p = Proj::new(
        "inc",
        "include:\n  - db/compose.yaml\nservices:\n  web:\n    image: bb:1\n    ports: [\"8080:80\"]\n    environment: {A: '1'}\n    command: [sleep, '5']\n    depends_on: [db]\n",
    );
    std::fs::create_dir_all(p.dir.join("db")).expect("mkdir");
    std::fs::write(p.dir.join("db/.env"), "DB_IMAGE=bb:1\n").expect("write");
    std::fs::write(
        p.dir.join("db/compose.yaml"),
        "services:\n  db:\n    image: ${DB_IMAGE}\n    volumes: [./data:/data]\n",
    )
    .expect("write");
    std::fs::write(
        p.dir.join("compose.override.yaml"),
        "services:\n  web:\n    ports: !override [\"9090:90\"]\n    environment: !override {B: '2'}\n    command: !reset []\n",
    )
    .expect("write");
    let out = p.run(&["config", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let db = &v["services"]["db"];
    assert_eq!(db["image"], "bb:1");
    assert_eq!(
        db["volumes"][0]["source"],
        p.dir.join("db/data").display().to_string()
    );
    let web = &v["services"]["web"];
    assert_eq!(web["ports"].as_array().map(Vec::len), Some(1));
    assert_eq!(web["ports"][0]["published"], "9090");
    assert_eq!(web["environment"], serde_json::json!({"B": "2"}));
    assert!(web.get("command").is_none(), "{web}");
    // A build context that is not there: config fails, naming the service and the path.
    let p = Proj::new("ctx", "services:\n  app:\n    build: ./nope\n");
    let out = p.run(&["config"]);
    let e = text(&out.stderr);
    assert!(!out.status.success(), "{e}");
    assert!(
        e.contains("services.app.build.context")
            && e.contains(&p.dir.join("nope").display().to_string()),
        "{e}"
    );
}

#[test]
fn configs_secrets_cp_wait_stats() {
    if !root_or_skip("configs_secrets_cp_wait_stats") {
        return;
    }
    let p = Proj::new(
        "files",
        "services:
  app:
    image: bb:1
    init: true
    network_mode: none
    command: [sleep, '1000']
    configs:
      - app.conf
      - source: inline
        target: /etc/inline.txt
        mode: 0o440
        uid: '1000'
    secrets:
      - token
      - source: keyfile
        target: key.pem
  job:
    image: bb:1
    network_mode: none
    command: [sh, -c, 'sleep 1; exit 3']
configs:
  app.conf:
    file: ./app.conf
  inline:
    content: \"port=$${PORT} pw=${PW}\"
secrets:
  token:
    environment: PW
  keyfile:
    file: ./key.pem
",
    );
    std::fs::write(p.dir.join("app.conf"), "from a file\n").expect("write");
    std::fs::write(p.dir.join("key.pem"), "KEY\n").expect("write");
    let out = p
        .cmd(&["up", "-d"])
        .env("PW", "s3cret")
        .output()
        .expect("up");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exec = |cmd: &str| p.ok(&["exec", "app", "sh", "-c", cmd]);
    assert_eq!(exec("cat /app.conf"), "from a file\n");
    assert_eq!(exec("cat /etc/inline.txt"), "port=${PORT} pw=s3cret");
    assert_eq!(exec("stat -c '%a %u' /etc/inline.txt"), "440 1000\n");
    assert_eq!(exec("cat /run/secrets/token"), "s3cret");
    assert_eq!(exec("stat -c %a /run/secrets/token"), "444\n");
    assert_eq!(exec("cat /run/secrets/key.pem"), "KEY\n");
    // Read-only, as docker compose mounts them.
    let out = p.run(&["exec", "app", "sh", "-c", "echo x > /run/secrets/token"]);
    assert!(!out.status.success());
    // cp both ways.
    std::fs::write(p.dir.join("in.txt"), "copied in\n").expect("write");
    p.ok(&["cp", "in.txt", "app:/tmp/in.txt"]);
    assert_eq!(exec("cat /tmp/in.txt"), "copied in\n");
    let back = p.dir.join("back.txt");
    p.ok(&["cp", "app:/tmp/in.txt", back.to_str().expect("path")]);
    assert_eq!(std::fs::read_to_string(&back).expect("read"), "copied in\n");
    let out = p.run(&["cp", "nosuch:/x", "y"]);
    assert!(!out.status.success());
    // stats --no-stream: one line per running container of the service.
    let s = p.ok(&["stats", "--no-stream", "app"]);
    let name = format!("{}-app-1", p.name);
    assert!(s.contains(&name) && !s.contains("-job-"), "{s}");
    // wait: the job's exit code.
    assert_eq!(p.ok(&["wait", "job"]).trim(), "3");
    // An environment secret whose variable is not set fails `up`, naming it.
    p.ok(&["down", "-t", "0"]);
    let out = p.cmd(&["up", "-d"]).env_remove("PW").output().expect("up");
    let e = text(&out.stderr);
    assert!(
        !out.status.success() && e.contains("\"PW\" is not set"),
        "{e}"
    );
}
