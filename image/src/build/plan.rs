//! The stages of a Dockerfile and which of them a build needs: ARGs before the first FROM
//! (the meta args, usable in FROM lines), each FROM starting a stage (`AS name`), the target
//! (`--target`, else the last stage), and the stages it depends on through `FROM <stage>`
//! and `COPY --from=<stage|index>`. Only those are built, in file order.

use std::collections::BTreeMap;

use super::instructions::{Cmd, Dockerfile, Instruction};
use super::words::{expand, Vars};

/// One stage: its FROM and the instructions after it.
#[derive(Debug)]
pub struct Stage<'d> {
    pub index: usize,
    pub name: Option<String>,
    pub from: &'d Instruction,
    pub body: &'d [Instruction],
}

impl Stage<'_> {
    /// How BuildKit's progress names it: `build`, or `stage-1`.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// The plan of a build.
#[derive(Debug)]
pub struct Plan<'d> {
    pub meta_args: Vars,
    pub stages: Vec<Stage<'d>>,
    /// Indexes of the stages to build, in order; the last is the target.
    pub needed: Vec<usize>,
    /// The stages each stage needs built first (by index).
    pub deps: Vec<Vec<usize>>,
    /// Build args no ARG declared (Docker warns about them).
    pub unused_args: Vec<String>,
}

/// The args Docker passes to RUN steps without an ARG line, and keeps out of the cache key
/// and the image's history.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Splits `d` into stages and picks those `target` needs. Errors name the line.
pub fn plan<'d>(
    d: &'d Dockerfile,
    file: &str,
    build_args: &BTreeMap<String, String>,
    target: Option<&str>,
) -> Result<Plan<'d>, String> {
    // BuildKit's automatic platform args, usable in FROM lines (and in a stage that
    // declares them): this host's platform, for the build and for the target.
    let mut meta_args = Vars::new();
    let hp = crate::model::host_platform();
    let platform = format!("{}/{}", hp.os, hp.architecture);
    for (k, v) in [
        ("BUILDPLATFORM", platform.as_str()),
        ("BUILDOS", hp.os.as_str()),
        ("BUILDARCH", hp.architecture.as_str()),
        ("TARGETPLATFORM", platform.as_str()),
        ("TARGETOS", hp.os.as_str()),
        ("TARGETARCH", hp.architecture.as_str()),
    ] {
        meta_args.insert(k.to_string(), v.to_string());
    }
    let mut declared: Vec<String> = meta_args.keys().cloned().collect();
    let first_from = d
        .instructions
        .iter()
        .position(|i| matches!(i.cmd, Cmd::From { .. }))
        .unwrap_or(d.instructions.len());
    for i in &d.instructions[..first_from] {
        if let Cmd::Arg(words) = &i.cmd {
            for w in words {
                let w = expand(w, &meta_args, d.escape)
                    .map_err(|e| format!("{file}:{}: {e}", i.line))?;
                let (k, v) = match w.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (w.clone(), None),
                };
                declared.push(k.clone());
                if let Some(v) = build_args.get(&k).cloned().or(v) {
                    meta_args.insert(k, v);
                }
            }
        }
    }
    let mut stages = Vec::new();
    let froms: Vec<usize> = (first_from..d.instructions.len())
        .filter(|&i| matches!(d.instructions[i].cmd, Cmd::From { .. }))
        .collect();
    for (n, &start) in froms.iter().enumerate() {
        let end = froms.get(n + 1).copied().unwrap_or(d.instructions.len());
        let from = &d.instructions[start];
        let Cmd::From { name, .. } = &from.cmd else {
            continue;
        };
        if let Some(nm) = name {
            if let Some(s) = stages
                .iter()
                .find(|s: &&Stage| s.name.as_deref() == Some(nm))
            {
                return Err(format!(
                    "{file}:{}: stage name {nm:?} is already used by the stage on line {}",
                    from.line, s.from.line
                ));
            }
        }
        stages.push(Stage {
            index: n,
            name: name.clone(),
            from,
            body: &d.instructions[start + 1..end],
        });
        for i in &d.instructions[start + 1..end] {
            if let Cmd::Arg(words) = &i.cmd {
                for w in words {
                    declared.push(w.split_once('=').map_or(w.as_str(), |(k, _)| k).to_string());
                }
            }
        }
    }
    let target_idx = match target {
        Some(t) => stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&t.to_ascii_lowercase()))
            .ok_or_else(|| format!("--target {t}: no stage of that name in {file}"))?,
        None => stages.len() - 1,
    };
    let mut want = vec![false; stages.len()];
    let mut deps = vec![Vec::new(); stages.len()];
    let mut todo = vec![target_idx];
    while let Some(s) = todo.pop() {
        if want[s] {
            continue;
        }
        want[s] = true;
        let st = &stages[s];
        let mut refs = Vec::new();
        if let Cmd::From { image, .. } = &st.from.cmd {
            refs.push((
                st.from,
                expand(image, &meta_args, d.escape).unwrap_or_default(),
            ));
        }
        for i in st.body {
            if let Cmd::Copy(c) | Cmd::Add(c) = &i.cmd {
                if let Some(f) = &c.from {
                    refs.push((i, f.clone()));
                }
            }
        }
        for (i, r) in refs {
            if let Some(dep) = stage_ref(&stages[..s], &r) {
                todo.push(dep);
                deps[s].push(dep);
            } else if r.parse::<usize>().is_ok() {
                return Err(format!(
                    "{file}:{}: stage {r} does not exist before this one",
                    i.line
                ));
            }
        }
    }
    let unused_args = build_args
        .keys()
        .filter(|k| !declared.contains(k) && !PROXY_ARGS.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(Plan {
        meta_args,
        needed: (0..stages.len()).filter(|&i| want[i]).collect(),
        deps,
        stages,
        unused_args,
    })
}

/// The earlier stage `r` names (by name, or by index), if any.
pub fn stage_ref(earlier: &[Stage<'_>], r: &str) -> Option<usize> {
    let lower = r.to_ascii_lowercase();
    if let Some(s) = earlier
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(s.index);
    }
    r.parse::<usize>().ok().filter(|&i| i < earlier.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::parse;

    #[test]
    fn only_needed_stages_in_order() {
        let d = parse(
            "ARG BASE=bb\nFROM $BASE AS a\nFROM bb AS unused\nFROM a AS b\nCOPY --from=0 /x /x\nFROM scratch\nCOPY --from=b /x /x\n",
            "Dockerfile",
        )
        .unwrap();
        let args = BTreeMap::from([("NOPE".to_string(), "1".to_string())]);
        let p = plan(&d, "Dockerfile", &args, None).unwrap();
        assert_eq!(p.needed, vec![0, 2, 3]);
        assert_eq!(p.deps[3], vec![2]);
        assert_eq!(p.deps[2], vec![0, 0]);
        assert_eq!(p.meta_args.get("BASE").map(String::as_str), Some("bb"));
        assert_eq!(p.unused_args, vec!["NOPE"]);
        let p = plan(&d, "Dockerfile", &BTreeMap::new(), Some("B")).unwrap();
        assert_eq!(p.needed, vec![0, 2]);
        let e = plan(&d, "Dockerfile", &BTreeMap::new(), Some("zzz")).unwrap_err();
        assert!(e.contains("zzz"), "{e}");
        let over = BTreeMap::from([("BASE".to_string(), "other".to_string())]);
        let p = plan(&d, "Dockerfile", &over, None).unwrap();
        assert_eq!(p.meta_args.get("BASE").map(String::as_str), Some("other"));
        let d = parse("FROM bb AS a\nFROM bb AS a\n", "Dockerfile").unwrap();
        assert!(plan(&d, "Dockerfile", &BTreeMap::new(), None)
            .unwrap_err()
            .contains("Dockerfile:2"));
    }
}
