//! One parsed compose file, brought to the long syntax before it is merged: a short form
//! (`"8080:80"`, `./data:/data:ro`, an environment list, `build: ./dir`, a string
//! healthcheck test...) becomes the mapping the compose spec's long form describes, so the
//! merge rules (merge.rs) and the typed model (model.rs) see one shape. Relative host paths
//! become absolute against `base` (the project directory, or the file an `extends` points
//! at). Errors name the key path: `services.web.ports[0]: ...`.

use std::path::Path;

use serde_json::{json, Map, Value};

type R<T> = Result<T, String>;

/// A scalar as compose reads it into a string field: numbers and booleans as written.
pub fn scalar(v: &Value, path: &str) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!(
            "{path}: want a string or number, found {}",
            kind(v)
        )),
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Drops `x-` keys of a mapping (extensions: ignored by the model).
pub fn drop_extensions(m: &mut Map<String, Value>) {
    m.retain(|k, _| !k.starts_with("x-"));
}

/// A string or a list of strings, as a list.
fn string_list(v: &Value, path: &str) -> R<Value> {
    Ok(match v {
        Value::Null => json!([]),
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| scalar(x, &format!("{path}[{i}]")).map(Value::String))
                .collect::<R<_>>()?,
        ),
        x => json!([scalar(x, path)?]),
    })
}

/// A list of `KEY=VALUE` (or `KEY`) or a mapping, as a mapping; `null_ok`: a bare KEY (or a
/// null value) stays null (environment, build args), else it becomes "".
fn list_or_map(v: &Value, path: &str, null_ok: bool) -> R<Value> {
    let mut out = Map::new();
    match v {
        Value::Null => {}
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let s = scalar(x, &format!("{path}[{i}]"))?;
                let (k, val) = match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
                    None if null_ok => (s.clone(), Value::Null),
                    None => (s.clone(), Value::String(String::new())),
                };
                if k.is_empty() {
                    return Err(format!("{path}[{i}]: {s:?} has no name before ="));
                }
                out.insert(k, val);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let val = match x {
                    Value::Null if null_ok => Value::Null,
                    Value::Null => Value::String(String::new()),
                    x => Value::String(scalar(x, &format!("{path}.{k}"))?),
                };
                out.insert(k.clone(), val);
            }
        }
        x => {
            return Err(format!(
                "{path}: want a list or a mapping, found {}",
                kind(x)
            ))
        }
    }
    Ok(Value::Object(out))
}

fn absolute(p: &str, base: &Path) -> String {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return Path::new(&home).join(rest).display().to_string();
        }
    }
    let joined = base.join(p);
    lexical_clean(&joined)
}

/// `/a/./b/../c` -> `/a/c`, without touching the filesystem (the path may not exist yet).
fn lexical_clean(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::RootDir => parts.clear(),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            std::path::Component::Prefix(_) => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// Keys of the compose spec that berth accepts and ignores (each use is warned about): they
/// need kernel or platform features berth does not offer yet.
pub const IGNORED: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup_parent",
    "cpu_count",
    "cpu_percent",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "dns_opt",
    "external_links",
    "gpus",
    "isolation",
    "label_file",
    "mac_address",
    "mem_swappiness",
    "models",
    "oom_kill_disable",
    "post_start",
    "pre_stop",
    "provider",
    "runtime",
    "storage_opt",
    "use_api_socket",
    "userns_mode",
    "volumes_from",
];

/// Normalizes a whole file's top-level mapping in place; returns the key paths of what
/// was ignored (IGNORED).
pub fn file(doc: &mut Map<String, Value>, base: &Path) -> R<Vec<String>> {
    let mut ignored = Vec::new();
    drop_extensions(doc);
    if let Some(s) = doc.get_mut("services") {
        match s {
            Value::Null => *s = json!({}),
            Value::Object(services) => {
                for (name, svc) in services.iter_mut() {
                    let path = format!("services.{name}");
                    match svc {
                        Value::Null => *svc = json!({}),
                        Value::Object(m) => {
                            for k in IGNORED {
                                if m.remove(*k).is_some() {
                                    ignored.push(format!("{path}.{k}"));
                                }
                            }
                            service(m, base, &path)?
                        }
                        x => return Err(format!("{path}: want a mapping, found {}", kind(x))),
                    }
                }
            }
            x => return Err(format!("services: want a mapping, found {}", kind(x))),
        }
    }
    for top in ["networks", "volumes", "configs", "secrets"] {
        let Some(s) = doc.get_mut(top) else { continue };
        match s {
            Value::Null => *s = json!({}),
            Value::Object(defs) => {
                for (name, d) in defs.iter_mut() {
                    let path = format!("{top}.{name}");
                    match d {
                        Value::Null => *d = json!({}),
                        Value::Object(m) => {
                            drop_extensions(m);
                            if let Some(l) = m.get_mut("labels") {
                                *l = list_or_map(l, &format!("{path}.labels"), false)?;
                            }
                            // Legacy `external: {name: x}`.
                            if let Some(Value::Object(e)) = m.get("external").cloned() {
                                m.insert("external".into(), Value::Bool(true));
                                if let Some(n) = e.get("name") {
                                    m.insert("name".into(), n.clone());
                                }
                            }
                            if top == "configs" || top == "secrets" {
                                if let Some(Value::String(f)) = m.get("file") {
                                    let abs = absolute(f, base);
                                    m.insert("file".into(), Value::String(abs));
                                }
                            }
                            if top == "volumes" || top == "networks" {
                                if let Some(o) = m.get_mut("driver_opts") {
                                    *o = list_or_map(o, &format!("{path}.driver_opts"), false)?;
                                }
                            }
                        }
                        x => return Err(format!("{path}: want a mapping, found {}", kind(x))),
                    }
                }
            }
            x => return Err(format!("{top}: want a mapping, found {}", kind(x))),
        }
    }
    Ok(ignored)
}

/// Normalizes one service's mapping in place.
pub fn service(m: &mut Map<String, Value>, base: &Path, path: &str) -> R<()> {
    drop_extensions(m);
    let keys: Vec<String> = m.keys().cloned().collect();
    for k in keys {
        let p = format!("{path}.{k}");
        let Some(v) = m.get_mut(&k) else { continue };
        let new = match k.as_str() {
            "build" => Some(build(v, base, &p)?),
            "environment" => Some(list_or_map(v, &p, true)?),
            "labels" | "sysctls" => Some(list_or_map(v, &p, false)?),
            "env_file" => Some(env_files(v, base, &p)?),
            "configs" | "secrets" => Some(file_refs(v, &p)?),
            "ports" => Some(ports(v, &p)?),
            "expose" => Some(string_list(v, &p)?),
            "volumes" => Some(volumes(v, base, &p)?),
            "networks" => Some(match v {
                Value::Array(a) => {
                    let mut out = Map::new();
                    for (i, n) in a.iter().enumerate() {
                        out.insert(scalar(n, &format!("{p}[{i}]"))?, Value::Null);
                    }
                    Value::Object(out)
                }
                Value::Object(_) => v.clone(),
                x => return Err(format!("{p}: want a list or a mapping, found {}", kind(x))),
            }),
            "depends_on" => Some(match v {
                Value::Array(a) => {
                    let mut out = Map::new();
                    for (i, n) in a.iter().enumerate() {
                        out.insert(scalar(n, &format!("{p}[{i}]"))?, json!({}));
                    }
                    Value::Object(out)
                }
                Value::Object(o) => {
                    let mut o = o.clone();
                    for (_, d) in o.iter_mut() {
                        if d.is_null() {
                            *d = json!({});
                        }
                    }
                    Value::Object(o)
                }
                x => return Err(format!("{p}: want a list or a mapping, found {}", kind(x))),
            }),
            "healthcheck" => {
                if let Value::Object(h) = v {
                    if let Some(t) = h.get_mut("test") {
                        let new = match &*t {
                            Value::String(s) => json!(["CMD-SHELL", s]),
                            x => string_list(x, &format!("{p}.test"))?,
                        };
                        *t = new;
                    }
                    for d in ["interval", "timeout", "start_period", "start_interval"] {
                        if let Some(x) = h.get_mut(d) {
                            *x = Value::String(scalar(x, &format!("{p}.{d}"))?);
                        }
                    }
                }
                None
            }
            "command" | "entrypoint" => match v {
                Value::Array(_) => Some(string_list(v, &p)?),
                Value::Null => None,
                x => Some(Value::String(scalar(x, &p)?)),
            },
            "tmpfs" | "dns" | "dns_search" | "cap_add" | "cap_drop" | "security_opt"
            | "profiles" | "group_add" | "links" => Some(string_list(v, &p)?),
            "extra_hosts" => Some(match v {
                Value::Object(o) => Value::Array(
                    o.iter()
                        .map(|(h, ip)| {
                            scalar(ip, &format!("{p}.{h}"))
                                .map(|ip| Value::String(format!("{h}:{ip}")))
                        })
                        .collect::<R<_>>()?,
                ),
                x => {
                    let l = string_list(x, &p)?;
                    Value::Array(
                        l.as_array()
                            .into_iter()
                            .flatten()
                            .map(|e| {
                                let s = e.as_str().unwrap_or_default();
                                // `host=ip` is the newer form; `host:ip` the classic one.
                                Value::String(match s.split_once('=') {
                                    Some((h, ip)) => format!("{h}:{ip}"),
                                    None => s.to_string(),
                                })
                            })
                            .collect(),
                    )
                }
            }),
            "ulimits" => {
                if let Value::Object(o) = v {
                    for (name, u) in o.iter_mut() {
                        if let Value::Number(n) = u {
                            *u = json!({"soft": n, "hard": n});
                        } else if let Value::String(s) = u {
                            let n: u64 = s
                                .parse()
                                .map_err(|_| format!("{p}.{name}: {s:?} is not a number"))?;
                            *u = json!({"soft": n, "hard": n});
                        }
                    }
                }
                None
            }
            "mem_limit" | "memswap_limit" | "mem_reservation" | "shm_size" | "cpuset" | "pid"
            | "ipc" | "uts" | "cgroup" | "stop_grace_period" | "working_dir" | "user"
            | "hostname" | "container_name" | "image" | "stop_signal" | "restart"
            | "network_mode" => match v {
                Value::Null => None,
                x => Some(Value::String(scalar(x, &p)?)),
            },
            // Short `HOST[:CONTAINER[:PERMISSIONS]]` or long `{source, target, permissions}`.
            "devices" => Some(match v {
                Value::Array(a) => Value::Array(
                    a.iter()
                        .enumerate()
                        .map(|(i, d)| {
                            let at = format!("{p}[{i}]");
                            Ok(Value::String(match d {
                                Value::Object(m) => {
                                    let field = |k: &str| {
                                        m.get(k)
                                            .map(|x| scalar(x, &format!("{at}.{k}")))
                                            .transpose()
                                    };
                                    let src = field("source")?
                                        .ok_or_else(|| format!("{at}: a device needs a source"))?;
                                    let dst = field("target")?.unwrap_or_else(|| src.clone());
                                    let perms =
                                        field("permissions")?.unwrap_or_else(|| "rwm".into());
                                    format!("{src}:{dst}:{perms}")
                                }
                                x => scalar(x, &at)?,
                            }))
                        })
                        .collect::<R<_>>()?,
                ),
                x => return Err(format!("{p}: want a list, found {}", kind(x))),
            }),
            "cpu_shares" | "oom_score_adj" | "cpu_period" | "cpu_quota" => match v {
                Value::String(x) => Some(json!(x
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| { format!("{p}: {x:?} is not a whole number") })?)),
                _ => None,
            },
            "deploy" => {
                if let Some(Value::Object(l)) = v.pointer_mut("/resources/limits") {
                    for f in ["cpus", "memory"] {
                        if let Some(x) = l.get_mut(f) {
                            *x = Value::String(scalar(x, &format!("{p}.resources.limits.{f}"))?);
                        }
                    }
                }
                if let Some(l) = v.get_mut("labels") {
                    *l = list_or_map(l, &format!("{p}.labels"), false)?;
                }
                None
            }
            _ => None,
        };
        if let Some(n) = new {
            m.insert(k, n);
        }
    }
    Ok(())
}

fn build(v: &Value, base: &Path, p: &str) -> R<Value> {
    let mut m = match v {
        Value::String(s) => {
            let mut m = Map::new();
            m.insert("context".into(), Value::String(s.clone()));
            m
        }
        Value::Object(m) => m.clone(),
        x => return Err(format!("{p}: want a path or a mapping, found {}", kind(x))),
    };
    drop_extensions(&mut m);
    let ctx = match m.get("context") {
        Some(c) => scalar(c, &format!("{p}.context"))?,
        None => ".".into(),
    };
    // A URL context (git, http) stays as written.
    let ctx = if ctx.contains("://") || ctx.starts_with("git@") {
        ctx
    } else {
        absolute(&ctx, base)
    };
    m.insert("context".into(), Value::String(ctx));
    if let Some(a) = m.get_mut("args") {
        *a = list_or_map(a, &format!("{p}.args"), true)?;
    }
    if let Some(l) = m.get_mut("labels") {
        *l = list_or_map(l, &format!("{p}.labels"), false)?;
    }
    if let Some(t) = m.get_mut("tags") {
        *t = string_list(t, &format!("{p}.tags"))?;
    }
    Ok(Value::Object(m))
}

/// A service's `configs` / `secrets`: `- NAME` becomes `{source: NAME}`.
fn file_refs(v: &Value, p: &str) -> R<Value> {
    let Value::Array(a) = v else {
        return Err(format!("{p}: want a list, found {}", kind(v)));
    };
    let mut out = Vec::new();
    for (i, x) in a.iter().enumerate() {
        out.push(match x {
            Value::String(s) => json!({ "source": s }),
            Value::Object(m) => {
                let mut m = m.clone();
                for k in ["uid", "gid"] {
                    if let Some(n @ Value::Number(_)) = m.get(k) {
                        let t = n.to_string();
                        m.insert(k.into(), Value::String(t));
                    }
                }
                Value::Object(m)
            }
            x => {
                return Err(format!(
                    "{p}[{i}]: want a name or a mapping, found {}",
                    kind(x)
                ))
            }
        });
    }
    Ok(Value::Array(out))
}

fn env_files(v: &Value, base: &Path, p: &str) -> R<Value> {
    let items = match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        x => vec![x.clone()],
    };
    let mut out = Vec::new();
    for (i, x) in items.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        let (path, required) = match x {
            Value::Object(o) => (
                scalar(o.get("path").ok_or(format!("{ip}: want a path"))?, &ip)?,
                o.get("required").and_then(Value::as_bool).unwrap_or(true),
            ),
            x => (scalar(x, &ip)?, true),
        };
        out.push(json!({"path": absolute(&path, base), "required": required}));
    }
    Ok(Value::Array(out))
}

fn ports(v: &Value, p: &str) -> R<Value> {
    let Value::Array(a) = v else {
        return Err(format!("{p}: want a list, found {}", kind(v)));
    };
    let mut out = Vec::new();
    for (i, x) in a.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        match x {
            Value::Object(o) => {
                let mut o = o.clone();
                drop_extensions(&mut o);
                let target = o.get("target").ok_or(format!("{ip}: want a target port"))?;
                let t = scalar(target, &format!("{ip}.target"))?;
                let t: u16 = t
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("{ip}.target: {t:?} is not a port"))?;
                o.insert("target".into(), json!(t));
                if let Some(pb) = o.get_mut("published") {
                    *pb = Value::String(scalar(pb, &format!("{ip}.published"))?);
                }
                out.push(Value::Object(o));
            }
            x => {
                let s = scalar(x, &ip)?;
                out.extend(short_port(&s).map_err(|e| format!("{ip}: {e}"))?);
            }
        }
    }
    Ok(Value::Array(out))
}

/// `[IP:][HOST[-END]:]CONTAINER[-END][/PROTO]` as one long-syntax entry per container port.
pub fn short_port(s: &str) -> R<Vec<Value>> {
    let spec: crate::engine::options::PortSpec = s
        .parse()
        .map_err(|e: anyhow::Error| format!("malformed port {s:?}: {e:#}"))?;
    let proto = match spec.proto {
        crate::engine::options::Proto::Tcp => "tcp",
        crate::engine::options::Proto::Udp => "udp",
        crate::engine::options::Proto::Sctp => "sctp",
    };
    let (c0, c1) = spec.container_ports;
    let mut out = Vec::new();
    for (n, c) in (c0..=c1).enumerate() {
        let mut m = Map::new();
        m.insert("target".into(), json!(c));
        if let Some((h0, h1)) = spec.host_ports {
            let published = if c0 == c1 && h0 != h1 {
                format!("{h0}-{h1}")
            } else {
                (h0 as usize + n).min(65535).to_string()
            };
            m.insert("published".into(), Value::String(published));
        }
        if let Some(ip) = spec.host_ip {
            m.insert("host_ip".into(), Value::String(ip.to_string()));
        }
        m.insert("protocol".into(), Value::String(proto.into()));
        m.insert("mode".into(), Value::String("ingress".into()));
        out.push(Value::Object(m));
    }
    Ok(out)
}

fn volumes(v: &Value, base: &Path, p: &str) -> R<Value> {
    let Value::Array(a) = v else {
        return Err(format!("{p}: want a list, found {}", kind(v)));
    };
    let mut out = Vec::new();
    for (i, x) in a.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        let mut m = match x {
            Value::Object(o) => {
                let mut o = o.clone();
                drop_extensions(&mut o);
                o
            }
            x => short_volume(&scalar(x, &ip)?).map_err(|e| format!("{ip}: {e}"))?,
        };
        if m.get("type").and_then(Value::as_str) == Some("bind") {
            if let Some(Value::String(src)) = m.get("source") {
                let abs = absolute(src, base);
                m.insert("source".into(), Value::String(abs));
            }
        }
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

/// `[SOURCE:]TARGET[:MODE]`: a path source (`/`, `.`, `~`) is a bind, a name a volume, none
/// an anonymous volume; MODE is `ro`, `rw`, `nocopy`, `z`, `Z` (comma-separated).
fn short_volume(s: &str) -> R<Map<String, Value>> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, target, mode) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [a, b] if b.starts_with('/') => (Some(*a), *b, ""),
        [t, m] => (None, *t, *m),
        [a, b, m] => (Some(*a), *b, *m),
        _ => {
            return Err(format!(
                "malformed volume {s:?}: want [SOURCE:]TARGET[:MODE]"
            ))
        }
    };
    if !target.starts_with('/') {
        return Err(format!(
            "malformed volume {s:?}: the target {target:?} must be an absolute path"
        ));
    }
    let mut m = Map::new();
    let kind = match src {
        None => "volume",
        Some(p) if p.starts_with('/') || p.starts_with('.') || p.starts_with('~') => "bind",
        Some("") => return Err(format!("malformed volume {s:?}: empty source")),
        Some(_) => "volume",
    };
    m.insert("type".into(), Value::String(kind.into()));
    if let Some(src) = src {
        m.insert("source".into(), Value::String(src.into()));
    }
    m.insert("target".into(), Value::String(target.into()));
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => {
                m.insert("read_only".into(), Value::Bool(true));
            }
            "rw" | "z" | "Z" | "cached" | "delegated" | "consistent" => {}
            "nocopy" => {
                m.insert("volume".into(), json!({"nocopy": true}));
            }
            o => {
                return Err(format!(
                    "malformed volume {s:?}: unknown mode {o:?} (ro, rw, nocopy, z, Z)"
                ))
            }
        }
    }
    if kind == "bind" {
        m.insert("bind".into(), json!({"create_host_path": true}));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_become_long() {
        let mut m = json!({
            "build": "./user",
            "environment": ["A=1", "B"],
            "labels": {"n": 1},
            "ports": ["5000:5000", 80, "127.0.0.1:8000-8001:80-81/udp"],
            "volumes": ["data:/data:ro", "./src:/src", "/anon"],
            "networks": ["front"],
            "depends_on": ["db"],
            "healthcheck": {"test": "true", "interval": "5s"},
            "extra_hosts": {"h": "1.2.3.4"},
            "ulimits": {"nofile": 100},
            "x-ignored": 1,
        });
        let obj = m.as_object_mut().unwrap();
        service(obj, Path::new("/proj"), "services.s").unwrap();
        assert_eq!(m["build"]["context"], "/proj/user");
        assert_eq!(m["environment"], json!({"A": "1", "B": null}));
        assert_eq!(m["labels"], json!({"n": "1"}));
        assert_eq!(m["ports"].as_array().unwrap().len(), 4);
        assert_eq!(m["ports"][0]["published"], "5000");
        assert_eq!(
            m["ports"][1],
            json!({"target": 80, "protocol": "tcp", "mode": "ingress"})
        );
        assert_eq!(m["ports"][3]["published"], "8001");
        assert_eq!(m["ports"][3]["protocol"], "udp");
        assert_eq!(m["volumes"][0]["read_only"], true);
        assert_eq!(m["volumes"][1]["source"], "/proj/src");
        assert_eq!(m["volumes"][2]["type"], "volume");
        assert_eq!(m["networks"], json!({"front": null}));
        assert_eq!(m["depends_on"], json!({"db": {}}));
        assert_eq!(m["healthcheck"]["test"], json!(["CMD-SHELL", "true"]));
        assert_eq!(m["extra_hosts"], json!(["h:1.2.3.4"]));
        assert_eq!(m["ulimits"]["nofile"], json!({"soft": 100, "hard": 100}));
        assert!(m.get("x-ignored").is_none());
    }

    #[test]
    fn errors_name_the_path() {
        let mut m = json!({"ports": ["5000:5000", "80:http"]});
        let e = service(m.as_object_mut().unwrap(), Path::new("/"), "services.web").unwrap_err();
        assert!(
            e.starts_with("services.web.ports[1]: malformed port"),
            "{e}"
        );
        let mut m = json!({"volumes": ["a:b:c:d"]});
        let e = service(m.as_object_mut().unwrap(), Path::new("/"), "services.web").unwrap_err();
        assert!(
            e.starts_with("services.web.volumes[0]: malformed volume"),
            "{e}"
        );
        assert_eq!(lexical_clean(Path::new("/a/./b/../c")), "/a/c");
    }
}
