//! The instructions that change only the image config: ENV, ARG, LABEL, USER, EXPOSE,
//! VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER.

use std::collections::BTreeMap;

use super::exec::{at, Run};
use super::instructions::{Cmd, CmdLine, Instruction};
use super::state::{health_json, State};
use super::words::{expand, Vars};
use crate::error::Result;

impl<O: std::io::Write> Run<'_, O> {
    /// The instructions that change only the config.
    pub(super) fn metadata(&mut self, s: &mut State, i: &Instruction, vars: &Vars) -> Result<()> {
        let spec = self.spec;
        let kv = |run: &Self, w: &str| -> Result<(String, String)> {
            let e = run.x(i, w, vars)?;
            match e.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(at(spec, i, format!("{e:?} is not key=value"))),
            }
        };
        let shell_form = |s: &State, l: &CmdLine| match l {
            CmdLine::Exec(v) => v.clone(),
            CmdLine::Shell(t) => {
                let mut a = s.shell.clone();
                a.push(t.clone());
                a
            }
        };
        match &i.cmd {
            Cmd::Env(words) => {
                for w in words {
                    // Every pair sees the values from before the line (Docker: `ENV a=bye
                    // b=$a` gives b the old a).
                    let e = expand(w, vars, self.escape).map_err(|e| at(spec, i, e))?;
                    let (k, v) = e
                        .split_once('=')
                        .ok_or_else(|| at(spec, i, format!("{e:?} is not key=value")))?;
                    s.set_env(k, v);
                }
            }
            Cmd::Arg(words) => {
                for w in words {
                    let e = self.x(i, w, &s.vars())?;
                    let (k, default) = match e.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (e.clone(), None),
                    };
                    let val = spec
                        .build_args
                        .get(&k)
                        .cloned()
                        .or(default)
                        .or_else(|| self.meta_default(&k));
                    if let Some(v) = val {
                        s.args.insert(k, v);
                    }
                }
            }
            Cmd::Label(words) => {
                for w in words {
                    let (k, v) = kv(self, w)?;
                    s.config
                        .config
                        .labels
                        .get_or_insert_with(BTreeMap::new)
                        .insert(k, v);
                }
            }
            Cmd::User(u) => s.config.config.user = Some(self.x(i, u, vars)?),
            Cmd::Expose(ports) => {
                for p in ports {
                    let p = self.x(i, p, vars)?;
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    s.config
                        .config
                        .exposed_ports
                        .get_or_insert_with(BTreeMap::new)
                        .insert(p, serde_json::json!({}));
                }
            }
            Cmd::Volume(vols) => {
                for v in vols {
                    let v = self.x(i, v, vars)?;
                    s.config
                        .config
                        .volumes
                        .get_or_insert_with(BTreeMap::new)
                        .insert(v, serde_json::json!({}));
                }
            }
            Cmd::Cmd(l) => {
                s.config.config.cmd = Some(shell_form(s, l));
                s.cmd_set = true;
            }
            Cmd::Entrypoint(l) => {
                s.config.config.entrypoint = Some(shell_form(s, l));
                if !s.cmd_set {
                    s.config.config.cmd = None;
                }
            }
            Cmd::Shell(v) => {
                s.shell = v.clone();
                s.config
                    .config
                    .other
                    .insert("Shell".into(), serde_json::json!(v));
            }
            Cmd::StopSignal(sig) => s.config.config.stop_signal = Some(self.x(i, sig, vars)?),
            Cmd::Healthcheck(h) => {
                let hc = health_json(h).map_err(|e| at(spec, i, e))?;
                s.config.config.other.insert("Healthcheck".into(), hc);
            }
            Cmd::Onbuild(t) => {
                let list = s
                    .config
                    .config
                    .other
                    .entry("OnBuild".to_string())
                    .or_insert_with(|| serde_json::json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(serde_json::json!(t));
                }
            }
            Cmd::Maintainer(m) => {
                s.config.other.insert("author".into(), serde_json::json!(m));
            }
            _ => return Err(at(spec, i, "not a metadata instruction")),
        }
        s.meta(&i.text);
        Ok(())
    }

    fn meta_default(&self, k: &str) -> Option<String> {
        self.meta_args.get(k).cloned()
    }
}
