//! The shop example (examples/shop) on berth without compose: the python:3.7 base image made
//! by scripts/make-python-image.sh from Debian packages (ssl, sqlite3, pip through this
//! machine's TLS-intercepting proxy), and the three Flask services in containers on the host
//! network, checked end to end by examples/shop/smoke.sh. Needs root, mmdebstrap, and the
//! Debian mirror and PyPI (both reachable here and in CI).

mod common;

use common::{root_or_skip, text, World, BIN};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Makes (or takes from the cache) the python image and imports it as `python:3.7`.
fn python_image(w: &World) {
    let out = Command::new(repo().join("scripts/make-python-image.sh"))
        .arg("--root")
        .arg(w.root())
        .env("BERTH", BIN)
        .stdin(Stdio::null())
        .output()
        .expect("run make-python-image.sh");
    assert!(
        out.status.success(),
        "make-python-image.sh failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn must(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Three ports free on this host right now (the services bind 0.0.0.0 on the host network).
fn free_ports() -> [u16; 3] {
    let ls: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("0.0.0.0:0").expect("bind"))
        .collect();
    let p: Vec<u16> = ls
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect();
    [p[0], p[1], p[2]]
}

#[test]
fn python_image_has_ssl_sqlite_pip_and_the_host_trust() {
    if !root_or_skip("python_image_has_ssl_sqlite_pip_and_the_host_trust") {
        return;
    }
    let w = World::new();
    python_image(&w);
    let py = ["run", "--rm", "--network", "host", "python:3.7"];
    let run = |extra: &[&str]| {
        let mut a = py.to_vec();
        a.extend_from_slice(extra);
        must(&format!("berth {a:?}"), w.berth(&a))
    };
    assert_eq!(
        run(&["python", "-c", "import ssl, sqlite3; print(1)"]).trim(),
        "1"
    );
    // `python` and `pip` on PATH as in the official image; pip may install system-wide.
    assert!(run(&["pip", "--version"]).starts_with("pip "));
    assert!(
        run(&[
            "sh",
            "-c",
            "ls /usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null | wc -l"
        ])
        .trim()
            == "0",
        "the PEP 668 marker is still there"
    );
    // The host's CA bundle, byte for byte: what makes TLS through the proxy work.
    let host = std::fs::read("/etc/ssl/certs/ca-certificates.crt").expect("host CA bundle");
    let inside = run(&["cat", "/etc/ssl/certs/ca-certificates.crt"]);
    assert!(
        inside.as_bytes() == host.as_slice(),
        "the image's CA bundle is not the host's"
    );
    let env = run(&["env"]);
    assert!(
        env.contains("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        "{env}"
    );
    // PyPI over TLS from inside the container.
    let out = run(&["pip", "install", "flask"]);
    assert!(
        out.contains("Successfully installed") || out.contains("already satisfied"),
        "{out}"
    );
    // Trimmed: no man pages, apt lists or caches.
    assert_eq!(
        run(&[
            "sh",
            "-c",
            "ls /usr/share/man /var/lib/apt/lists /var/cache/apt/archives 2>/dev/null | grep -v -e : -e '^partial$' -e '^lock$' -e '^$' | wc -l"
        ])
        .trim(),
        "0"
    );
}

#[test]
fn shop_services_work_in_containers_and_keep_orders_on_a_volume() {
    if !root_or_skip("shop_services_work_in_containers_and_keep_orders_on_a_volume") {
        return;
    }
    let w = World::new();
    python_image(&w);
    let site = must(
        "purelib",
        w.berth(&[
            "run",
            "--rm",
            "python:3.7",
            "python",
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ]),
    )
    .trim()
    .to_string();
    // What the Dockerfiles' `RUN pip install flask` adds, in a volume over the site dir.
    let flask = format!("flask:{site}");
    must(
        "pip install flask",
        w.berth(&[
            "run",
            "--rm",
            "--network",
            "host",
            "-v",
            &flask,
            "python:3.7",
            "pip",
            "install",
            "-q",
            "flask",
        ]),
    );
    let [pu, po, pp] = free_ports();
    let shop = repo().join("examples/shop");
    let start = |svc: &str, port: u16, extra: &[String]| -> String {
        let app = format!("{}:/app.py:ro", shop.join(svc).join("app.py").display());
        let flask_ro = format!("{flask}:ro");
        let data = format!("{svc}-data:/data");
        let port_env = format!("PORT={port}");
        let name = format!("shop-{svc}");
        let mut a: Vec<&str> = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "host",
            "-e",
            &port_env,
            "-v",
            &app,
            "-v",
            &flask_ro,
            "-v",
            &data,
        ];
        a.extend(extra.iter().map(String::as_str));
        a.extend(["python:3.7", "python", "/app.py"]);
        let id = w.ok(&a).trim().to_string();
        let url = format!("http://127.0.0.1:{port}/health");
        w.eventually(30, &format!("{svc} answering {url}"), || {
            Command::new("curl")
                .args(["-fsS", "-m", "2", "-o", "/dev/null", &url])
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        });
        id
    };
    let order_env = vec![
        "-e".to_string(),
        format!("USER_URL=http://127.0.0.1:{pu}"),
        "-e".to_string(),
        format!("PRODUCT_URL=http://127.0.0.1:{pp}"),
    ];
    let user = start("user", pu, &[]);
    let product = start("product", pp, &[]);
    let order = start("order", po, &order_env);

    let smoke = || {
        Command::new(shop.join("smoke.sh"))
            .env("USER_PORT", pu.to_string())
            .env("ORDER_PORT", po.to_string())
            .env("PRODUCT_PORT", pp.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run smoke.sh")
    };
    let out = must("smoke.sh", smoke());
    assert!(out.contains("smoke: PASS"), "{out}");
    let orders = |port: u16| {
        let o = Command::new("curl")
            .args([
                "-fsS",
                "-m",
                "5",
                &format!("http://127.0.0.1:{port}/orders"),
            ])
            .output()
            .expect("curl");
        must("GET /orders", o)
    };
    let before = orders(po);
    assert!(before.contains("\"total\":10.0"), "{before}");

    // SIGTERM stops a service at once (as PID 1 it would otherwise ignore it until the kill).
    let t = Instant::now();
    w.ok(&["stop", "-t", "20", &order]);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "stop took {:?}",
        t.elapsed()
    );
    assert_eq!(w.inspect(&order, "{{.State.ExitCode}}"), "0");
    w.ok(&["rm", &order]);
    w.assert_gone(&order);
    // A new order container on the same volume still has the order.
    let order2 = start("order", po, &order_env);
    assert_eq!(orders(po), before);
    for id in [&order2, &product, &user] {
        w.ok(&["rm", "-f", id]);
        w.assert_gone(id);
    }
    // And with the services gone, smoke.sh fails, saying which endpoint is down.
    let out = Command::new(shop.join("smoke.sh"))
        .env("USER_PORT", pu.to_string())
        .env("ORDER_PORT", po.to_string())
        .env("PRODUCT_PORT", pp.to_string())
        .env("SMOKE_WAIT", "1")
        .output()
        .expect("smoke.sh");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!("127.0.0.1:{pu}/health")),
        "{}",
        text(&out.stderr)
    );
}
