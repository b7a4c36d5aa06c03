//! A stage's state between build steps: the image config and layers so far, the stage's
//! ARGs and SHELL; written to the store as an (unnamed) image when a step needs one.

use std::collections::BTreeMap;

use super::instructions::Health;
use super::pack;
use super::plan::PROXY_ARGS;
use super::words::Vars;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::model::{
    host_platform, Descriptor, History, ImageConfig, Manifest, RootFs, MT_OCI_CONFIG,
    MT_OCI_MANIFEST,
};
use crate::store::{Image, Store};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A stage's state between steps.
pub(super) struct State {
    pub(super) config: ImageConfig,
    pub(super) layers: Vec<Descriptor>,
    /// Declared ARGs and their values (what RUN sees and the cache keys on).
    pub(super) args: Vars,
    pub(super) shell: Vec<String>,
    /// CMD set in this stage (ENTRYPOINT then keeps it).
    pub(super) cmd_set: bool,
}

impl State {
    pub(super) fn from_image(img: &Image) -> State {
        let shell = img
            .config
            .config
            .other
            .get("Shell")
            .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        State {
            config: img.config.clone(),
            layers: img.manifest.layers.clone(),
            args: Vars::new(),
            shell,
            cmd_set: false,
        }
    }

    pub(super) fn scratch() -> State {
        let p = host_platform();
        State {
            config: ImageConfig {
                architecture: p.architecture,
                os: p.os,
                rootfs: RootFs {
                    typ: "layers".into(),
                    diff_ids: Vec::new(),
                },
                ..ImageConfig::default()
            },
            layers: Vec::new(),
            args: Vars::new(),
            shell: vec!["/bin/sh".into(), "-c".into()],
            cmd_set: false,
        }
    }

    pub(super) fn config_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.config).map_err(|e| Error::Invalid(e.to_string()))
    }

    /// The id the current state has as an image.
    pub(super) fn id(&self) -> Result<Digest> {
        Ok(Digest::of(&self.config_bytes()?))
    }

    /// Writes the state as an image (config and manifest blobs).
    pub(super) fn image(&self, store: &Store) -> Result<Image> {
        let cfg = self.config_bytes()?;
        let cd = store.put_bytes(&cfg)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MT_OCI_MANIFEST.into()),
            config: Descriptor::new(MT_OCI_CONFIG, cd.clone(), cfg.len() as u64),
            layers: self.layers.clone(),
            annotations: BTreeMap::new(),
        };
        let md = store.put_bytes(
            &serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?,
        )?;
        Ok(Image {
            names: Vec::new(),
            manifest_digest: md,
            manifest,
            config_digest: cd,
            config: self.config.clone(),
        })
    }

    /// Variables for substitution: the stage's ARGs, then its ENV over them.
    pub(super) fn vars(&self) -> Vars {
        let mut v = self.args.clone();
        for e in self.config.config.env.iter().flatten() {
            if let Some((k, val)) = e.split_once('=') {
                v.insert(k.to_string(), val.to_string());
            }
        }
        v
    }

    pub(super) fn set_env(&mut self, k: &str, v: &str) {
        let env = self.config.config.env.get_or_insert_with(Vec::new);
        let prefix = format!("{k}=");
        match env.iter_mut().find(|e| e.starts_with(&prefix) || *e == k) {
            Some(e) => *e = format!("{k}={v}"),
            None => env.push(format!("{k}={v}")),
        }
    }

    pub(super) fn workdir(&self) -> String {
        self.config
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }

    pub(super) fn history(&mut self, text: &str, empty: bool, created: Option<String>) {
        self.config.history.push(History {
            created,
            created_by: Some(format!("{text} # buildkit")),
            comment: Some("berth build".into()),
            empty_layer: empty,
        });
    }

    /// A metadata step: the history says so; `created` stays the parent's.
    pub(super) fn meta(&mut self, text: &str) {
        let created = self.config.created.clone();
        self.history(text, true, created);
    }

    pub(super) fn add_layer(&mut self, p: pack::Packed, text: &str) {
        self.layers.push(p.descriptor);
        self.config.rootfs.diff_ids.push(p.diff_id);
        let t = now();
        self.config.created = Some(t.clone());
        self.history(text, false, Some(t));
    }

    /// Stage args as `k=v` lines (the cache key part RUN steps see).
    pub(super) fn args_text(&self) -> String {
        self.args
            .iter()
            .filter(|(k, _)| !PROXY_ARGS.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }
}

/// HEALTHCHECK as the config's `Healthcheck` object (durations in nanoseconds).
pub(super) fn health_json(h: &Health) -> std::result::Result<serde_json::Value, String> {
    let mut o = serde_json::Map::new();
    o.insert("Test".into(), serde_json::json!(h.test));
    for (k, v) in [
        ("Interval", &h.interval),
        ("Timeout", &h.timeout),
        ("StartPeriod", &h.start_period),
        ("StartInterval", &h.start_interval),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), serde_json::json!(duration_ns(v)?));
        }
    }
    if let Some(r) = h.retries {
        o.insert("Retries".into(), serde_json::json!(r));
    }
    Ok(serde_json::Value::Object(o))
}

/// Go's duration syntax as Docker takes it: `30s`, `1m30s`, `500ms`, `1h`.
pub fn duration_ns(s: &str) -> std::result::Result<u64, String> {
    let bad = || format!("duration {s:?}: want a number and a unit, e.g. 30s, 1m30s, 500ms");
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(n);
        let num: f64 = num.parse().map_err(|_| bad())?;
        let u = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let mult = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += num * mult;
        rest = tail;
    }
    Ok(total as u64)
}
