//! A throw-away registry for tests: Debian's docker-registry on a free loopback port, its
//! data in the test's directory; `push_layout` fills it with skopeo.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::text;

pub struct Registry {
    child: Child,
    pub addr: String,
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        Registry::start_with(dir, "")
    }

    /// A registry whose config has `extra` appended (e.g. an `auth:` section); ready once
    /// /v2/ answers (200, or 401 when it wants credentials).
    pub fn start_with(dir: &Path, extra: &str) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let tmpl = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/registry/config.yml"
        ))
        .expect("config template");
        let data = dir.join("registry-data");
        let cfg = dir.join("registry.yml");
        std::fs::write(
            &cfg,
            tmpl.replace("@ROOT@", data.to_str().unwrap())
                .replace("@ADDR@", &addr)
                + extra,
        )
        .expect("write config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log")).expect("log"))
            .spawn()
            .expect("start docker-registry (Debian package docker-registry)");
        let reg = Registry { child, addr };
        for _ in 0..200 {
            if let Ok(mut s) = TcpStream::connect(&reg.addr) {
                let _ = write!(s, "GET /v2/ HTTP/1.0\r\n\r\n");
                let mut r = String::new();
                let _ = s.read_to_string(&mut r);
                if [
                    "HTTP/1.1 200",
                    "HTTP/1.0 200",
                    "HTTP/1.1 401",
                    "HTTP/1.0 401",
                ]
                .iter()
                .any(|p| r.starts_with(p))
                {
                    return reg;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("registry did not come up on {}", reg.addr);
    }

    pub fn push_layout(&self, layout: &Path, tag: &str, name: &str) {
        self.push_layout_as(layout, tag, name, "oci");
    }

    /// `format`: "oci", or "v2s2" for Docker schema 2 manifests and a manifest list.
    pub fn push_layout_as(&self, layout: &Path, tag: &str, name: &str, format: &str) {
        let out = Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--dest-tls-verify=false",
                "--format",
                format,
            ])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{name}", self.addr))
            .output()
            .expect("skopeo (Debian package skopeo)");
        assert!(out.status.success(), "skopeo copy: {}", text(&out.stderr));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
