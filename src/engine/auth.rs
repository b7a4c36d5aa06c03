//! Registry credentials where Docker keeps them: `$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json` (dir 0700, file 0600): `{"auths": {"<registry>": {"auth":
//! base64("user:password")}}}`. Docker Hub's key is `https://index.docker.io/v1/`; other
//! registries are keyed by `host[:port]` (keys written with a scheme or a path are found
//! too). Other keys of the file (credsStore, proxies, ...) are kept as they are.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use base64::Engine as _;
use berth_image::auth::Credentials;
use serde_json::{json, Value};

const HUB_KEY: &str = "https://index.docker.io/v1/";

/// The config file: `$DOCKER_CONFIG/config.json` or `$HOME/.docker/config.json`.
pub fn config_path() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("config.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither DOCKER_CONFIG nor HOME is set: where is config.json?")?;
    Ok(PathBuf::from(home).join(".docker").join("config.json"))
}

/// The key a registry's entry has: Docker Hub's legacy URL, else the host[:port].
pub fn key_of(registry: &str) -> String {
    let host = normalize(registry);
    match host.as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => HUB_KEY.to_string(),
        _ => host,
    }
}

/// A key or server as written (`https://host:5000/v1/`) -> `host:5000`.
fn normalize(s: &str) -> String {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.split('/').next().unwrap_or(s).to_string()
}

fn load() -> Result<Value> {
    let p = config_path()?;
    match std::fs::read(&p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
        Ok(b) => serde_json::from_slice(&b).with_context(|| format!("parse {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("read {}", p.display())),
    }
}

fn save(v: &Value) -> Result<()> {
    let p = config_path()?;
    if let Some(dir) = p.parent() {
        if !dir.exists() {
            super::fsutil::mkdir_private(dir)?;
        }
    }
    super::fsutil::write_private(&p, &serde_json::to_vec_pretty(v)?)
}

fn decode(entry: &Value) -> Option<Credentials> {
    let a = entry.get("auth")?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(a.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    })
}

/// Every stored login, by registry key (host[:port], or Docker Hub's URL).
pub fn all() -> BTreeMap<String, Credentials> {
    let Ok(v) = load() else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    if let Some(auths) = v.get("auths").and_then(Value::as_object) {
        for (k, e) in auths {
            if let Some(c) = decode(e) {
                let key = key_of(k);
                if key == HUB_KEY {
                    // Pulls name Docker Hub as docker.io.
                    out.insert("docker.io".to_string(), c.clone());
                }
                out.insert(key, c);
            }
        }
    }
    out
}

/// The stored login for `registry` (as a reference names it), if any.
pub fn credentials_for(registry: &str) -> Option<Credentials> {
    all().remove(&key_of(registry))
}

/// `login`: checks the credentials with the registry, then stores them.
pub fn login(server: &str, c: &Credentials, insecure: &[String]) -> Result<String> {
    let key = key_of(server);
    let host = if key == HUB_KEY {
        "registry-1.docker.io".to_string()
    } else {
        key.clone()
    };
    berth_image::auth::login(&host, insecure, c)?;
    let mut v = load()?;
    if !v.is_object() {
        v = json!({});
    }
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
    let auths = v
        .as_object_mut()
        .map(|o| o.entry("auths").or_insert_with(|| json!({})))
        .context("config.json: not an object")?;
    if !auths.is_object() {
        *auths = json!({});
    }
    if let Some(a) = auths.as_object_mut() {
        // One entry per registry, whatever form an older one was written in.
        a.retain(|k, _| key_of(k) != key);
        a.insert(key.clone(), json!({ "auth": auth }));
    }
    save(&v)?;
    Ok(key)
}

/// `logout`: forgets the registry's login; false if there was none.
pub fn logout(server: &str) -> Result<bool> {
    let key = key_of(server);
    let mut v = load()?;
    let Some(a) = v.get_mut("auths").and_then(Value::as_object_mut) else {
        return Ok(false);
    };
    let before = a.len();
    a.retain(|k, _| key_of(k) != key);
    if a.len() == before {
        return Ok(false);
    }
    save(&v)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(key_of("docker.io"), HUB_KEY);
        assert_eq!(key_of("https://index.docker.io/v1/"), HUB_KEY);
        assert_eq!(key_of("localhost:5000"), "localhost:5000");
        assert_eq!(key_of("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }

    #[test]
    fn decodes_docker_auth() {
        let c = decode(&json!({"auth": "dXNlcjpwYTpzcw=="})).unwrap();
        assert_eq!(c.username, "user");
        assert_eq!(c.password, "pa:ss");
        assert!(decode(&json!({"auth": "!!"})).is_none());
    }
}
