//! Merging normalized compose files (`-f a -f b`, override files, `extends`) by the compose
//! spec's merge rules (compose-spec `merge.md`): mappings merge key by key, the later value
//! wins for scalars, sequences append -- except `command`, `entrypoint` and
//! `healthcheck.test`, which the later file replaces, and the unique resources: `ports`
//! (by host ip, target, published, protocol) and `volumes` (by target), where a later entry
//! replaces the earlier one with the same key. Lists of plain strings append without
//! repeating an entry.

use serde_json::{Map, Value};

/// Merges `over` into `base`; `path` is the dotted key path of `base` (`services.web`).
pub fn merge(base: &mut Value, over: Value, path: &str) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => merge_maps(b, o, path),
        (Value::Array(b), Value::Array(o)) => merge_seq(b, o, path),
        (b, o) => *b = o,
    }
}

fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn in_service(path: &str) -> bool {
    path.starts_with("services.") && path.matches('.').count() == 2
}

fn merge_maps(b: &mut Map<String, Value>, o: Map<String, Value>, path: &str) {
    for (k, v) in o {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let replace = (in_service(&p) && matches!(k.as_str(), "command" | "entrypoint"))
            || (k == "test" && last_key(path) == "healthcheck");
        match b.get_mut(&k) {
            Some(existing) if !replace && !existing.is_null() => merge(existing, v, &p),
            _ => {
                b.insert(k, v);
            }
        }
    }
}

/// The key that makes a port or volume entry unique.
fn unique_key(kind: &str, v: &Value) -> Option<String> {
    match kind {
        "ports" => Some(format!(
            "{}|{}|{}|{}",
            v.get("host_ip").and_then(Value::as_str).unwrap_or_default(),
            v.get("target").map(|t| t.to_string()).unwrap_or_default(),
            v.get("published")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            v.get("protocol").and_then(Value::as_str).unwrap_or("tcp"),
        )),
        "volumes" => v.get("target").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

fn merge_seq(b: &mut Vec<Value>, o: Vec<Value>, path: &str) {
    let kind = last_key(path);
    let unique = in_service(path) && matches!(kind, "ports" | "volumes");
    for v in o {
        if unique {
            if let Some(k) = unique_key(kind, &v) {
                if let Some(i) = b
                    .iter()
                    .position(|x| unique_key(kind, x).as_ref() == Some(&k))
                {
                    b[i] = v;
                    continue;
                }
            }
        } else if v.is_string() && b.contains(&v) {
            continue;
        }
        b.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_rules() {
        let mut a = json!({"services": {"foo": {
            "image": "a", "command": ["echo", "foo"], "dns": ["1.1.1.1"],
            "environment": {"A": "1", "B": "2"},
            "ports": [{"target": 80, "published": "8080", "protocol": "tcp"}],
            "volumes": [{"type": "volume", "source": "foo", "target": "/work"}],
            "healthcheck": {"test": ["CMD", "a"], "retries": 3},
        }}});
        let b = json!({"services": {"foo": {
            "image": "b", "command": ["echo", "bar"], "dns": ["8.8.8.8", "1.1.1.1"],
            "environment": {"B": "3"},
            "ports": [{"target": 80, "published": "8080", "protocol": "tcp", "host_ip": "127.0.0.1"},
                      {"target": 443, "published": "8443", "protocol": "tcp"}],
            "volumes": [{"type": "volume", "source": "bar", "target": "/work"}],
            "healthcheck": {"test": ["CMD", "b"]},
        }, "bar": {"image": "x"}}});
        merge(&mut a, b, "");
        let f = &a["services"]["foo"];
        assert_eq!(f["image"], "b");
        assert_eq!(f["command"], json!(["echo", "bar"]));
        assert_eq!(f["dns"], json!(["1.1.1.1", "8.8.8.8"]));
        assert_eq!(f["environment"], json!({"A": "1", "B": "3"}));
        assert_eq!(f["ports"].as_array().unwrap().len(), 3);
        assert_eq!(
            f["volumes"],
            json!([{"type": "volume", "source": "bar", "target": "/work"}])
        );
        assert_eq!(
            f["healthcheck"],
            json!({"test": ["CMD", "b"], "retries": 3})
        );
        assert_eq!(a["services"]["bar"]["image"], "x");
    }
}
