//! From `-f` files (or the ones docker compose would find) to a checked `Project`: read each
//! file (`-` is stdin), parse the YAML (serde-saphyr: anchors and `<<:` merge keys), interpolate
//! from the environment over `.env` / `--env-file`, normalize to the long syntax, resolve
//! `extends`, merge the files in order, type-check (unknown keys with a "did you mean"),
//! name the project and check the references (depends_on, networks, volumes, cycles). Every
//! error names the file and the key path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value};

use super::interpolate::interpolate_tree;
use super::merge::merge;
use super::model::{Dependency, Model, Service};
use super::normalize;
use super::yaml::{self, apply_tags, TagPath};

/// The files docker compose looks for, in its order of preference.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
pub const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f`; empty: COMPOSE_FILE, else found in the working directory or a parent.
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    /// The process environment (tests pass their own).
    pub environ: BTreeMap<String, String>,
    pub cwd: PathBuf,
    /// stdin's text for `-f -` (read by the caller, so tests and fuzzing pass it).
    pub stdin: Option<String>,
}

impl LoadOptions {
    /// Options with this process's environment and working directory.
    pub fn from_process() -> Result<LoadOptions> {
        Ok(LoadOptions {
            environ: std::env::vars().collect(),
            cwd: std::env::current_dir().context("the current directory")?,
            ..LoadOptions::default()
        })
    }
}

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    /// The project directory: relative paths resolve against it.
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    /// Services of active profiles only; `inactive` holds the others.
    pub model: Model,
    pub inactive: BTreeMap<String, Service>,
    /// Interpolation's variables: the environment over the env files.
    pub env: BTreeMap<String, String>,
    /// `FILE: KEY PATH` of what the files say that berth ignores (warned about).
    pub ignored: Vec<String>,
}

/// Docker's project-name rule: lowercase letters, digits, `-` and `_`, starting with a
/// letter or digit.
pub fn normalize_project_name(s: &str) -> String {
    let t: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    t.trim_start_matches(['-', '_']).to_string()
}

/// The `.env` syntax: `KEY=VALUE`, `export KEY=VALUE`, quotes ('...' literal, "..." with
/// \n escapes), `#` comments; `name` is the file, for messages.
pub fn parse_dotenv(text: &str, name: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
        let Some((k, v)) = l.split_once('=') else {
            // A bare KEY takes nothing here (it is for containers' env files).
            continue;
        };
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            bail!("{name}:{}: {line:?} is not KEY=VALUE", i + 1);
        }
        let v = v.trim();
        let v = if let Some(q) = v.strip_prefix('\'') {
            q.split_once('\'').map(|x| x.0).unwrap_or(q).to_string()
        } else if let Some(q) = v.strip_prefix('"') {
            let body = q.rsplit_once('"').map(|x| x.0).unwrap_or(q);
            body.replace("\\n", "\n").replace("\\\"", "\"")
        } else {
            // An unquoted value ends at ` #`.
            v.split(" #").next().unwrap_or(v).trim().to_string()
        };
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

/// The files to read: `-f`, COMPOSE_FILE, or the default file found in `cwd` or a parent
/// (with its override file beside it).
fn find_files(o: &LoadOptions) -> Result<Vec<PathBuf>> {
    if !o.files.is_empty() {
        return Ok(o
            .files
            .iter()
            .map(|f| {
                if f.as_os_str() == "-" {
                    f.clone()
                } else {
                    o.cwd.join(f)
                }
            })
            .collect());
    }
    if let Some(cf) = o.environ.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = o
            .environ
            .get("COMPOSE_PATH_SEPARATOR")
            .map_or(":", String::as_str);
        return Ok(cf.split(sep).map(|f| o.cwd.join(f)).collect());
    }
    let mut dir = Some(o.cwd.as_path());
    while let Some(d) = dir {
        if let Some(f) = DEFAULT_FILES
            .iter()
            .map(|f| d.join(f))
            .find(|p| p.is_file())
        {
            let mut v = vec![f];
            if let Some(ov) = OVERRIDE_FILES
                .iter()
                .map(|f| d.join(f))
                .find(|p| p.is_file())
            {
                v.push(ov);
            }
            return Ok(v);
        }
        dir = d.parent();
    }
    bail!(
        "no configuration file provided: not found (looked for {} in {} and its parents)",
        DEFAULT_FILES.join(", "),
        o.cwd.display()
    )
}

fn read_file(f: &Path, o: &LoadOptions) -> Result<String> {
    if f.as_os_str() == "-" {
        return match &o.stdin {
            Some(s) => Ok(s.clone()),
            None => {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .context("read the compose file from stdin")?;
                Ok(s)
            }
        };
    }
    std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))
}

fn shown(f: &Path) -> String {
    if f.as_os_str() == "-" {
        "(stdin)".into()
    } else {
        f.display().to_string()
    }
}

/// Parses, interpolates and normalizes one file's text; `base` resolves relative paths.
/// What the file says that berth ignores is added to `ignored` (`FILE: KEY PATH`).
pub fn parse_file(
    text: &str,
    file: &str,
    env: &BTreeMap<String, String>,
    base: &Path,
    ignored: &mut Vec<String>,
) -> Result<Map<String, Value>> {
    Ok(parse_file_tagged(text, file, env, base, ignored)?.0)
}

/// `parse_file`, with the file's `!reset` / `!override` tags (yaml.rs) for the merge.
pub fn parse_file_tagged(
    text: &str,
    file: &str,
    env: &BTreeMap<String, String>,
    base: &Path,
    ignored: &mut Vec<String>,
) -> Result<(Map<String, Value>, Vec<TagPath>)> {
    let (v, tags) = yaml::parse(text).map_err(|e| anyhow!("{file}: {e}"))?;
    let mut doc = match v {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        x => bail!(
            "{file}: a compose file is a mapping, found {}",
            normalize::kind(&x)
        ),
    };
    for (k, v) in doc.iter_mut() {
        if !k.starts_with("x-") {
            interpolate_tree(v, env, k).map_err(|e| anyhow!("{file}: {e}"))?;
        }
    }
    let skipped = normalize::file(&mut doc, base).map_err(|e| anyhow!("{file}: {e}"))?;
    ignored.extend(skipped.into_iter().map(|k| format!("{file}: {k}")));
    Ok((doc, tags))
}

/// The top-level sections an `include` brings in.
const SECTIONS: &[&str] = &["services", "networks", "volumes", "configs", "secrets"];

/// Resolves `doc`'s top-level `include` (read from `file`; `dir` resolves its paths), as
/// docker compose does: each entry (a path, or `{path: one or a list, project_directory,
/// env_file}`) is loaded as a project of its own -- relative paths against its project
/// directory (default: the first file's directory), interpolated from its own `.env` (or
/// `env_file`) under the process environment, its own includes resolved -- and its
/// services, networks, volumes, configs and secrets added to `doc`. A name defined both
/// here and in an included file, differently, is an error.
fn include(
    doc: &mut Map<String, Value>,
    dir: &Path,
    file: &str,
    environ: &BTreeMap<String, String>,
    ignored: &mut Vec<String>,
    depth: usize,
) -> Result<()> {
    let Some(inc) = doc.remove("include") else {
        return Ok(());
    };
    if depth > 16 {
        bail!("{file}: include: nested too deep (does a file include itself?)");
    }
    let items = match inc {
        Value::Null => Vec::new(),
        Value::Array(a) => a,
        x => bail!(
            "{file}: include: want a list, found {}",
            normalize::kind(&x)
        ),
    };
    let strings = |v: &Value, p: &str| -> Result<Vec<String>> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(String::from)
                        .with_context(|| format!("{file}: {p}: want strings"))
                })
                .collect(),
            x => bail!(
                "{file}: {p}: want a string or a list, found {}",
                normalize::kind(x)
            ),
        }
    };
    for (i, it) in items.iter().enumerate() {
        let p = format!("include[{i}]");
        let (paths, pdir, env_files) = match it {
            Value::String(s) => (vec![s.clone()], None, Vec::new()),
            Value::Object(m) => {
                for k in m.keys() {
                    if !matches!(k.as_str(), "path" | "project_directory" | "env_file") {
                        bail!("{file}: {p}.{k}: unknown key (known: path, project_directory, env_file)");
                    }
                }
                let paths = strings(
                    m.get("path")
                        .with_context(|| format!("{file}: {p}: want path: FILE"))?,
                    &format!("{p}.path"),
                )?;
                let pdir = match m.get("project_directory") {
                    Some(v) => Some(strings(v, &format!("{p}.project_directory"))?.concat()),
                    None => None,
                };
                let envs = match m.get("env_file") {
                    Some(v) => strings(v, &format!("{p}.env_file"))?,
                    None => Vec::new(),
                };
                (paths, pdir, envs)
            }
            x => bail!(
                "{file}: {p}: want a path or a mapping, found {}",
                normalize::kind(x)
            ),
        };
        let paths: Vec<PathBuf> = paths.iter().map(|f| dir.join(f)).collect();
        let Some(first) = paths.first() else {
            bail!("{file}: {p}.path: empty");
        };
        let pdir = match pdir {
            Some(d) => dir.join(d),
            None => first.parent().unwrap_or(Path::new("/")).to_path_buf(),
        };
        let mut env = BTreeMap::new();
        let env_paths: Vec<PathBuf> = if env_files.is_empty() {
            Some(pdir.join(".env"))
                .filter(|d| d.is_file())
                .into_iter()
                .collect()
        } else {
            env_files.iter().map(|e| dir.join(e)).collect()
        };
        for ep in env_paths {
            let t = std::fs::read_to_string(&ep)
                .with_context(|| format!("{file}: {p}.env_file: read {}", ep.display()))?;
            env.extend(parse_dotenv(&t, &ep.display().to_string())?);
        }
        env.extend(environ.clone());
        let mut sub = Value::Object(Map::new());
        let mut names = Vec::new();
        for ip in &paths {
            let iname = ip.display().to_string();
            let text = std::fs::read_to_string(ip)
                .with_context(|| format!("{file}: {p}: read {iname}"))?;
            let (mut idoc, tags) = parse_file_tagged(&text, &iname, &env, &pdir, ignored)?;
            resolve_extends(&mut idoc, ip, &env, 0)?;
            let idir = ip.parent().unwrap_or(Path::new("/")).to_path_buf();
            include(&mut idoc, &idir, &iname, environ, ignored, depth + 1)?;
            apply_tags(&mut sub, &tags);
            merge(&mut sub, Value::Object(idoc), "");
            names.push(iname);
        }
        for top in SECTIONS {
            let Some(Value::Object(defs)) = sub.get(*top) else {
                continue;
            };
            let target = doc
                .entry(top.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if target.is_null() {
                *target = Value::Object(Map::new());
            }
            let Some(target) = target.as_object_mut() else {
                continue;
            };
            for (k, v) in defs {
                match target.get(k) {
                    Some(mine) if mine != v => bail!(
                        "{file}: {top}.{k}: defined here and, differently, in included {}",
                        names.join(", ")
                    ),
                    Some(_) => {}
                    None => {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Resolves `extends` of every service of `doc` (read from `file`).
fn resolve_extends(
    doc: &mut Map<String, Value>,
    file: &Path,
    env: &BTreeMap<String, String>,
    depth: usize,
) -> Result<()> {
    let Some(Value::Object(services)) = doc.get("services").cloned() else {
        return Ok(());
    };
    let mut resolved = Map::new();
    for name in services.keys() {
        let mut stack = Vec::new();
        let s = extended(&services, name, file, env, &mut stack, depth)?;
        resolved.insert(name.clone(), s);
    }
    doc.insert("services".into(), Value::Object(resolved));
    Ok(())
}

fn extended(
    services: &Map<String, Value>,
    name: &str,
    file: &Path,
    env: &BTreeMap<String, String>,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<Value> {
    let f = shown(file);
    let path = format!("services.{name}");
    let mut svc = services
        .get(name)
        .cloned()
        .with_context(|| format!("{f}: {path}: no such service to extend"))?;
    let Some(ext) = svc.as_object_mut().and_then(|m| m.remove("extends")) else {
        return Ok(svc);
    };
    if stack.iter().any(|s| s == name) || depth > 16 {
        bail!(
            "{f}: {path}.extends: circular extends ({} -> {name})",
            stack.join(" -> ")
        );
    }
    stack.push(name.to_string());
    let (base_name, other) = match &ext {
        Value::String(s) => (s.clone(), None),
        Value::Object(m) => (
            m.get("service")
                .and_then(Value::as_str)
                .with_context(|| format!("{f}: {path}.extends: want service: NAME"))?
                .to_string(),
            m.get("file").and_then(Value::as_str).map(String::from),
        ),
        x => bail!(
            "{f}: {path}.extends: want a service name or a mapping, found {}",
            normalize::kind(x)
        ),
    };
    let mut base = match other {
        None => extended(services, &base_name, file, env, stack, depth)?,
        Some(of) => {
            let dir = file.parent().unwrap_or(Path::new("/"));
            let ofile = dir.join(&of);
            let text = std::fs::read_to_string(&ofile)
                .with_context(|| format!("{f}: {path}.extends.file: read {}", ofile.display()))?;
            let odir = ofile.parent().unwrap_or(Path::new("/")).to_path_buf();
            let mut odoc = parse_file(
                &text,
                &ofile.display().to_string(),
                env,
                &odir,
                &mut Vec::new(),
            )?;
            let osvcs = match odoc.remove("services") {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            if !osvcs.contains_key(&base_name) {
                bail!(
                    "{f}: {path}.extends: no service {base_name:?} in {}",
                    ofile.display()
                );
            }
            let mut ostack = Vec::new();
            extended(&osvcs, &base_name, &ofile, env, &mut ostack, depth + 1)?
        }
    };
    if !services.contains_key(&base_name) && ext.is_string() {
        bail!("{f}: {path}.extends: no service {base_name:?}");
    }
    stack.pop();
    merge(&mut base, svc, &path);
    Ok(base)
}

/// serde's "unknown field `x`, expected one of `a`, `b`" with a "did you mean".
fn did_you_mean(msg: &str) -> String {
    let Some(rest) = msg.strip_prefix("unknown field `") else {
        return msg.to_string();
    };
    let Some((field, rest)) = rest.split_once('`') else {
        return msg.to_string();
    };
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let best = expected
        .iter()
        .map(|e| (strsim::damerau_levenshtein(field, e), *e))
        .filter(|(d, e)| *d <= 2.max(e.len() / 3))
        .min();
    match best {
        Some((_, e)) => format!("unknown key {field:?}: did you mean {e:?}?"),
        None => format!("unknown key {field:?} (known: {})", expected.join(", ")),
    }
}

/// Type-checks a normalized document; the error names `file` and the key path.
pub fn typed(doc: Map<String, Value>, file: &str) -> Result<Model> {
    let mut m: Model = serde_path_to_error::deserialize(Value::Object(doc)).map_err(|e| {
        let path = e.path().to_string();
        let msg = did_you_mean(&e.inner().to_string());
        anyhow!("{file}: {path}: {msg}")
    })?;
    // A link is a dependency too (docker compose starts linked services first).
    for s in m.services.values_mut() {
        for l in &s.links {
            let target = l.split_once(':').map_or(l.as_str(), |(t, _)| t);
            s.depends_on
                .entry(target.to_string())
                .or_insert_with(|| Dependency {
                    condition: "service_started".into(),
                    restart: false,
                    required: true,
                });
        }
    }
    Ok(m)
}

/// One file's text to a checked model, as `load` treats each file (no project name, no
/// profiles); `extends: {file: ...}` is read relative to `file`. For fuzzing and tests.
pub fn model_from_text(text: &str, file: &Path, env: &BTreeMap<String, String>) -> Result<Model> {
    let base = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let name = file.display().to_string();
    let mut doc = parse_file(text, &name, env, &base, &mut Vec::new())?;
    resolve_extends(&mut doc, file, env, 0)?;
    let m = typed(doc, &name)?;
    check(&m, &name)?;
    Ok(m)
}

/// Loads the project the options name.
pub fn load(o: &LoadOptions) -> Result<Project> {
    let files = find_files(o)?;
    let first = files.first().context("no compose file")?;
    let working_dir = match &o.project_directory {
        Some(d) => o.cwd.join(d),
        None if first.as_os_str() == "-" => o.cwd.clone(),
        None => first.parent().unwrap_or(Path::new("/")).to_path_buf(),
    };
    let mut env = BTreeMap::new();
    if o.env_files.is_empty() {
        let dot = working_dir.join(".env");
        if dot.is_file() {
            let t =
                std::fs::read_to_string(&dot).with_context(|| format!("read {}", dot.display()))?;
            env.extend(parse_dotenv(&t, &dot.display().to_string())?);
        }
    }
    for ef in &o.env_files {
        let p = o.cwd.join(ef);
        let t =
            std::fs::read_to_string(&p).with_context(|| format!("--env-file {}", p.display()))?;
        env.extend(parse_dotenv(&t, &p.display().to_string())?);
    }
    env.extend(o.environ.clone());
    let mut merged = Value::Object(Map::new());
    let mut ignored = Vec::new();
    for f in &files {
        let text = read_file(f, o)?;
        let name = shown(f);
        let (mut doc, tags) = parse_file_tagged(&text, &name, &env, &working_dir, &mut ignored)?;
        resolve_extends(&mut doc, f, &env, 0)?;
        let dir = if f.as_os_str() == "-" {
            o.cwd.clone()
        } else {
            f.parent().unwrap_or(Path::new("/")).to_path_buf()
        };
        include(&mut doc, &dir, &name, &o.environ, &mut ignored, 0)?;
        // Each file alone first: an unknown key is reported with the file it is in.
        typed(doc.clone(), &name)?;
        // `!reset` / `!override`: what earlier files said at those keys goes first.
        apply_tags(&mut merged, &tags);
        merge(&mut merged, Value::Object(doc), "");
    }
    let names: Vec<String> = files.iter().map(|f| shown(f)).collect();
    let shown_files = names.join(", ");
    let Value::Object(m) = merged else {
        bail!("{shown_files}: not a mapping");
    };
    let mut model = typed(m, &shown_files)?;
    let name = o
        .project_name
        .clone()
        .or_else(|| {
            env.get("COMPOSE_PROJECT_NAME")
                .filter(|s| !s.is_empty())
                .cloned()
        })
        .or_else(|| model.name.clone())
        .unwrap_or_else(|| {
            working_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let name = normalize_project_name(&name);
    if name.is_empty() {
        bail!("project name is empty after normalization: pass -p NAME (lowercase letters, digits, - and _)");
    }
    model.name = Some(name.clone());
    if o.project_directory.is_none() {
        rebase_missing_contexts(&mut model, &working_dir, &o.cwd);
    }
    check(&model, &shown_files)?;
    let mut profiles: BTreeSet<String> = o.profiles.iter().cloned().collect();
    if let Some(p) = env.get("COMPOSE_PROFILES") {
        profiles.extend(p.split(',').filter(|s| !s.is_empty()).map(String::from));
    }
    let mut inactive = BTreeMap::new();
    let all = std::mem::take(&mut model.services);
    for (n, s) in all {
        let active = s.profiles.is_empty()
            || profiles.contains("*")
            || s.profiles.iter().any(|p| profiles.contains(p));
        if active {
            model.services.insert(n, s);
        } else {
            inactive.insert(n, s);
        }
    }
    Ok(Project {
        name,
        working_dir,
        config_files: files.into_iter().filter(|f| f.as_os_str() != "-").collect(),
        model,
        inactive,
        env,
        ignored,
    })
}

/// The seed's layout, one compose file per service (`build: ./user` in
/// user/docker-compose.yml, ... run as `-f user/docker-compose.yml -f order/...` from their
/// parent): by docker compose's rule every relative path resolves against the project
/// directory, the first file's, where `./order` is missing and docker compose stops. When
/// the project directory was not given and a missing local context is a directory under the
/// current one by the same relative path, that one is used, and the user is told.
fn rebase_missing_contexts(m: &mut Model, project_dir: &Path, cwd: &Path) {
    if project_dir == cwd {
        return;
    }
    for (n, s) in m.services.iter_mut() {
        let Some(b) = s.build.as_mut() else { continue };
        let ctx = Path::new(&b.context);
        if !ctx.is_absolute() || ctx.is_dir() {
            continue;
        }
        let Ok(rel) = ctx.strip_prefix(project_dir) else {
            continue;
        };
        let here = cwd.join(rel);
        if here.is_dir() {
            eprintln!(
                "berth compose: service {n:?}: build context {} does not exist; using {} (relative to the current directory; docker compose would stop here, --project-directory says which is meant)",
                b.context,
                here.display()
            );
            b.context = here.display().to_string();
        }
    }
}

/// References and values the types cannot check: every service has an image or a build,
/// depends_on names services without a cycle, networks and named volumes are declared,
/// durations and sizes parse.
pub fn check(m: &Model, file: &str) -> Result<()> {
    for (n, s) in &m.services {
        let p = format!("services.{n}");
        if s.image.is_none() && s.build.is_none() {
            bail!("{file}: {p}: has neither an image nor a build context");
        }
        // A local build context must exist (docker compose: "unable to prepare context");
        // URLs and git contexts are the builder's business.
        if let Some(b) = &s.build {
            if b.context.starts_with('/') && !Path::new(&b.context).is_dir() {
                bail!(
                    "{file}: {p}.build.context: {} is not a directory (service {n:?})",
                    b.context
                );
            }
        }
        for (i, l) in s.links.iter().enumerate() {
            let (target, alias) = l.split_once(':').unwrap_or((l, l));
            if !m.services.contains_key(target) {
                bail!("{file}: {p}.links[{i}]: no such service {target:?}");
            }
            if alias.is_empty() || alias.contains(['/', ':', ' ']) {
                bail!("{file}: {p}.links[{i}]: {alias:?} is not a host name");
            }
        }
        for d in s.depends_on.keys() {
            if !m.services.contains_key(d) {
                bail!("{file}: {p}.depends_on: no such service {d:?}");
            }
        }
        for (d, dep) in &s.depends_on {
            if !matches!(
                dep.condition.as_str(),
                "service_started" | "service_healthy" | "service_completed_successfully"
            ) {
                bail!(
                    "{file}: {p}.depends_on.{d}.condition: {:?} is not service_started, service_healthy or service_completed_successfully",
                    dep.condition
                );
            }
        }
        for net in s.networks.keys() {
            if net != "default" && !m.networks.contains_key(net) {
                bail!("{file}: {p}.networks: network {net:?} is not declared under the top-level networks");
            }
        }
        if let Some(mode) = &s.network_mode {
            if !s.networks.is_empty() {
                bail!("{file}: {p}: network_mode and networks cannot both be set");
            }
            if let Some(other) = mode.strip_prefix("service:") {
                if !m.services.contains_key(other) {
                    bail!("{file}: {p}.network_mode: no such service {other:?}");
                }
            }
        }
        for (i, v) in s.volumes.iter().enumerate() {
            let vp = format!("{p}.volumes[{i}]");
            match v.kind.as_str() {
                "volume" => {
                    if let Some(src) = &v.source {
                        if !m.volumes.contains_key(src) {
                            bail!("{file}: {vp}: volume {src:?} is not declared under the top-level volumes");
                        }
                    }
                }
                "bind" if v.source.is_none() => bail!("{file}: {vp}: a bind mount needs a source"),
                "bind" | "tmpfs" => {}
                k => bail!("{file}: {vp}.type: {k:?} is not volume, bind or tmpfs"),
            }
        }
        if let Some(h) = &s.healthcheck {
            for (k, d) in [
                ("interval", &h.interval),
                ("timeout", &h.timeout),
                ("start_period", &h.start_period),
                ("start_interval", &h.start_interval),
            ] {
                if let Some(d) = d {
                    parse_duration(d).map_err(|e| anyhow!("{file}: {p}.healthcheck.{k}: {e}"))?;
                }
            }
            if let Some(t) = h.test.first() {
                if !matches!(t.as_str(), "CMD" | "CMD-SHELL" | "NONE") {
                    bail!("{file}: {p}.healthcheck.test: starts with {t:?}; want CMD, CMD-SHELL or NONE");
                }
            }
        }
        if let Some(d) = &s.stop_grace_period {
            parse_duration(d).map_err(|e| anyhow!("{file}: {p}.stop_grace_period: {e}"))?;
        }
        if let Some(r) = &s.restart {
            r.parse::<crate::engine::container::RestartPolicy>()
                .map_err(|e| anyhow!("{file}: {p}.restart: {e}"))?;
        }
        if let Some(sz) = &s.mem_limit {
            crate::engine::options::parse_size(sz)
                .map_err(|e| anyhow!("{file}: {p}.mem_limit: {e}"))?;
        }
    }
    super::files::check(m, file)?;
    // A cycle: depth-first, with the path so far.
    fn visit<'a>(
        m: &'a Model,
        n: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        file: &str,
    ) -> Result<()> {
        if done.contains(n) {
            return Ok(());
        }
        if let Some(i) = path.iter().position(|x| *x == n) {
            let mut cyc: Vec<&str> = path[i..].to_vec();
            cyc.push(n);
            bail!(
                "{file}: services.{}.depends_on: dependency cycle: {}",
                path[path.len() - 1],
                cyc.join(" -> ")
            );
        }
        path.push(n);
        if let Some(s) = m.services.get(n) {
            for d in s.depends_on.keys() {
                visit(m, d, path, done, file)?;
            }
        }
        path.pop();
        done.insert(n);
        Ok(())
    }
    let mut done = BTreeSet::new();
    for n in m.services.keys() {
        visit(m, n, &mut Vec::new(), &mut done, file)?;
    }
    Ok(())
}

/// Compose durations: Go's (`1m30s`, `500ms`, `2h`), also `1.5s`; `us`/`ns` too.
pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let t = s.trim();
    if let Some(us) = t.strip_suffix("us") {
        return Ok(std::time::Duration::from_micros(
            us.parse().with_context(|| format!("duration {s:?}"))?,
        ));
    }
    if let Some(ns) = t.strip_suffix("ns") {
        return Ok(std::time::Duration::from_nanos(
            ns.parse().with_context(|| format!("duration {s:?}"))?,
        ));
    }
    crate::monitor::logs::parse_duration(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path, files: &[&str]) -> LoadOptions {
        LoadOptions {
            files: files.iter().map(PathBuf::from).collect(),
            cwd: dir.to_path_buf(),
            environ: [("TAG".to_string(), "1.2".to_string())]
                .into_iter()
                .collect(),
            ..LoadOptions::default()
        }
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn seed_files_merge() {
        let d = tempfile::tempdir().unwrap();
        for (svc, port) in [("user", 5000), ("order", 5001), ("product", 5002)] {
            std::fs::create_dir(d.path().join(svc)).unwrap();
            write(
                &d.path().join(svc),
                "docker-compose.yml",
                &format!("version: '3'\n\nservices:\n  {svc}:\n    build: ./{svc}\n    ports:\n      - \"{port}:{port}\"\n"),
            );
        }
        let files = [
            "user/docker-compose.yml",
            "order/docker-compose.yml",
            "product/docker-compose.yml",
        ];
        // As the seed writes them: user/user is missing, ./user from here is meant.
        let p = load(&opts(d.path(), &files)).unwrap();
        assert_eq!(p.model.services.len(), 3);
        for svc in ["user", "order", "product"] {
            let b = p.model.services[svc].build.as_ref().unwrap();
            assert_eq!(b.context, d.path().join(svc).display().to_string());
        }
        assert_eq!(
            p.model.services["product"].ports[0].published.as_deref(),
            Some("5002")
        );
        assert_eq!(p.name, "user");
        // Where the first file's directory has them, docker compose's rule holds.
        for svc in ["user", "order", "product"] {
            std::fs::create_dir_all(d.path().join("user").join(svc)).unwrap();
        }
        let p = load(&opts(d.path(), &files)).unwrap();
        let b = p.model.services["order"].build.as_ref().unwrap();
        assert_eq!(b.context, d.path().join("user/order").display().to_string());
        // With --project-directory given, a missing context is an error naming it.
        let mut o = opts(d.path(), &files);
        o.project_directory = Some(d.path().join("order"));
        let e = load(&o).unwrap_err().to_string();
        assert!(
            e.contains("build.context") && e.contains("order/order"),
            "{e}"
        );
    }

    #[test]
    fn anchors_merge_keys_extensions_and_interpolation() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), ".env", "PORT=8080\nTAG=from-dotenv\n");
        write(
            d.path(),
            "compose.yaml",
            "name: My_App\nx-common: &common\n  image: bb:${TAG}\n  restart: always\nservices:\n  a:\n    <<: *common\n    ports: [\"${PORT}:80\"]\n  b:\n    <<: *common\n    restart: \"no\"\n    x-note: hi\n",
        );
        write(
            d.path(),
            "compose.override.yaml",
            "services:\n  a:\n    environment:\n      K: v\n",
        );
        let p = load(&opts(d.path(), &[])).unwrap();
        assert_eq!(p.name, "my_app");
        let a = &p.model.services["a"];
        // The environment wins over .env.
        assert_eq!(a.image.as_deref(), Some("bb:1.2"));
        assert_eq!(a.restart.as_deref(), Some("always"));
        assert_eq!(a.ports[0].published.as_deref(), Some("8080"));
        assert_eq!(a.environment["K"].as_deref(), Some("v"));
        assert_eq!(p.model.services["b"].restart.as_deref(), Some("no"));
        assert_eq!(p.config_files.len(), 2);
    }

    #[test]
    fn extends_same_and_other_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("common")).unwrap();
        write(&d.path().join("common"), "base.yml", "services:\n  web:\n    image: bb:1\n    environment: [A=1]\n    volumes: [./data:/data]\n");
        write(
            d.path(),
            "compose.yaml",
            "services:\n  base:\n    image: bb:1\n    command: [sleep, '1']\n  a:\n    extends: base\n    command: [sleep, '2']\n  b:\n    extends:\n      file: common/base.yml\n      service: web\n    environment: {B: '2'}\n",
        );
        let p = load(&opts(d.path(), &[])).unwrap();
        let a = &p.model.services["a"];
        assert_eq!(a.image.as_deref(), Some("bb:1"));
        assert_eq!(
            a.command,
            Some(super::super::model::Shell::List(vec![
                "sleep".into(),
                "2".into()
            ]))
        );
        let b = &p.model.services["b"];
        assert_eq!(b.environment.len(), 2);
        assert_eq!(
            b.volumes[0].source.as_deref(),
            Some(d.path().join("common/data").to_str().unwrap())
        );
    }

    fn err_of(text: &str) -> String {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "compose.yaml", text);
        format!("{:#}", load(&opts(d.path(), &[])).unwrap_err())
    }

    #[test]
    fn errors_name_file_and_key_path() {
        let e = err_of("services:\n  web:\n    imagee: bb\n");
        assert!(e.contains("compose.yaml: services.web.imagee: unknown key \"imagee\": did you mean \"image\"?"), "{e}");
        let e = err_of("services:\n  web:\n    image: bb\n    links: [db]\n");
        assert!(
            e.contains("compose.yaml: services.web.links[0]: no such service \"db\""),
            "{e}"
        );
        let e = err_of("services:\n  web:\n    image: bb\n    depends_on: [db]\n");
        assert!(
            e.contains("compose.yaml: services.web.depends_on: no such service \"db\""),
            "{e}"
        );
        let e = err_of("services:\n  a:\n    image: bb\n    depends_on: [b]\n  b:\n    image: bb\n    depends_on: [a]\n");
        assert!(e.contains("dependency cycle: a -> b -> a"), "{e}");
        let e = err_of("services:\n  web:\n    image: bb\n    ports: [\"80:eighty\"]\n");
        assert!(
            e.contains("compose.yaml: services.web.ports[0]: malformed port"),
            "{e}"
        );
        let e = err_of("services:\n  web:\n    image: ${NOPE:?set NOPE}\n");
        assert!(e.contains("compose.yaml: services.web.image: required variable NOPE is missing a value: set NOPE"), "{e}");
        let e = err_of("services:\n  web:\n    image: bb\n    networks: [front]\n");
        assert!(
            e.contains("services.web.networks: network \"front\" is not declared"),
            "{e}"
        );
        let e = err_of("servces: {}\n");
        assert!(e.contains("did you mean \"services\""), "{e}");
        let e = err_of(
            "services:\n  web:\n    image: bb\n    healthcheck:\n      interval: 5 seconds\n",
        );
        assert!(e.contains("services.web.healthcheck.interval"), "{e}");
    }

    #[test]
    fn profiles_and_names() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "compose.yaml",
            "services:\n  a: {image: bb}\n  dbg: {image: bb, profiles: [debug]}\n",
        );
        let mut o = opts(d.path(), &[]);
        o.project_name = Some("Te.St-1".into());
        let p = load(&o).unwrap();
        assert_eq!(p.name, "test-1");
        assert!(p.inactive.contains_key("dbg"));
        o.profiles = vec!["debug".into()];
        assert!(load(&o).unwrap().model.services.contains_key("dbg"));
        let env = parse_dotenv(
            "# c\nexport A=1\nB='x y'\nC=\"q\\nr\"\nD=v # comment\n",
            ".env",
        )
        .unwrap();
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "x y");
        assert_eq!(env["C"], "q\nr");
        assert_eq!(env["D"], "v");
    }

    #[test]
    fn include_short_and_long_with_their_own_directories() {
        let d = tempfile::tempdir().unwrap();
        for sub in ["db", "api", "api/lib"] {
            std::fs::create_dir(d.path().join(sub)).unwrap();
        }
        write(&d.path().join("db"), ".env", "DBTAG=15\n");
        write(
            &d.path().join("db"),
            "compose.yaml",
            "services:\n  db:\n    image: pg:${DBTAG}\n    volumes: [./data:/data, dbdata:/var]\nvolumes:\n  dbdata: {}\n",
        );
        write(
            &d.path().join("api"),
            "api.yaml",
            "include: [lib/lib.yaml]\nservices:\n  api:\n    image: bb\n    env_file: [./api.env]\n",
        );
        write(&d.path().join("api"), "vars.env", "X=1\n");
        write(
            &d.path().join("api/lib"),
            "lib.yaml",
            "services:\n  lib:\n    image: lib:${X:-none}\n",
        );
        write(
            d.path(),
            "compose.yaml",
            "include:\n  - db/compose.yaml\n  - path: [api/api.yaml]\n    project_directory: api\n    env_file: api/vars.env\nservices:\n  web:\n    image: bb\n    depends_on: [db, api]\n",
        );
        let p = load(&opts(d.path(), &[])).unwrap();
        let m = &p.model;
        assert_eq!(
            m.services.keys().collect::<Vec<_>>(),
            ["api", "db", "lib", "web"]
        );
        // Its own .env, its own directory for relative paths.
        assert_eq!(m.services["db"].image.as_deref(), Some("pg:15"));
        assert_eq!(
            m.services["db"].volumes[0].source.as_deref(),
            Some(d.path().join("db/data").to_str().unwrap())
        );
        assert!(m.volumes.contains_key("dbdata"));
        assert_eq!(
            m.services["api"].env_file[0].path,
            d.path().join("api/api.env").display().to_string()
        );
        // Nested includes are read relative to the file that includes them; the env file
        // of the include feeds its interpolation only.
        assert_eq!(m.services["lib"].image.as_deref(), Some("lib:none"));
        // A service defined both here and in an included file is an error naming both.
        write(
            d.path(),
            "compose.yaml",
            "include: [db/compose.yaml]\nservices:\n  db:\n    image: other\n",
        );
        let e = format!("{:#}", load(&opts(d.path(), &[])).unwrap_err());
        assert!(
            e.contains("services.db: defined here and, differently, in included"),
            "{e}"
        );
        write(d.path(), "compose.yaml", "include: [nope.yaml]\n");
        let e = format!("{:#}", load(&opts(d.path(), &[])).unwrap_err());
        assert!(
            e.contains("include[0]: read") && e.contains("nope.yaml"),
            "{e}"
        );
    }

    #[test]
    fn reset_and_override_tags() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "compose.yaml",
            "services:\n  web:\n    image: bb\n    ports: [\"8080:80\", \"9090:90\"]\n    environment: {A: '1', B: '2'}\n    command: [sleep, '9']\n    labels: {l: v}\n",
        );
        write(
            d.path(),
            "compose.override.yaml",
            "services:\n  web:\n    ports: !override [\"7070:70\"]\n    environment: !override {C: '3'}\n    command: !reset null\n    labels: !reset {}\n",
        );
        let p = load(&opts(d.path(), &[])).unwrap();
        let w = &p.model.services["web"];
        assert_eq!(w.ports.len(), 1);
        assert_eq!(w.ports[0].published.as_deref(), Some("7070"));
        assert_eq!(w.environment.keys().collect::<Vec<_>>(), ["C"]);
        assert!(w.command.is_none());
        assert!(w.labels.is_empty());
    }

    #[test]
    fn stdin_file() {
        let d = tempfile::tempdir().unwrap();
        let mut o = opts(d.path(), &["-"]);
        o.stdin = Some("services:\n  s:\n    image: bb\n".into());
        let p = load(&o).unwrap();
        assert_eq!(p.working_dir, d.path());
        assert!(p.config_files.is_empty());
    }
}
