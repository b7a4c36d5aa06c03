//! A service's image: found in the store, built (one `berth build` child per image, side by
//! side, their output prefixed with the service's name) or pulled.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Context, Result};
use berth_image::Store;

use super::apply::{berth, say};
use super::load::Project;
use super::model::Service;
use super::plan;
use crate::engine;

/// The image id a service runs: found in the store, built (`build`, or missing and the
/// service has a build section) or pulled.
pub fn ensure_image(
    root: &Path,
    p: &Project,
    name: &str,
    s: &Service,
    build: bool,
    no_build: bool,
) -> Result<String> {
    let image = plan::image_of(p, name, s);
    let store = Store::open(root)?;
    let found = store.resolve(&image).ok().map(|i| i.id().to_string());
    if let Some(b) = &s.build {
        if build || (found.is_none() && !no_build) {
            return build_service(root, p, name, s, b, false);
        }
    }
    if let Some(id) = found {
        return Ok(id);
    }
    if s.build.is_some() {
        bail!("service {name}: image {image} is not built (--no-build)");
    }
    pull(root, &image).with_context(|| format!("service {name}: image {image} is not here"))
}

/// Builds the images of `services` (those with a build section), all at once: each by a
/// `berth build` child, its output prefixed with the service's name. Services that build
/// the same image name build it once.
pub fn build_all(root: &Path, p: &Project, services: &[String], no_cache: bool) -> Result<()> {
    let mut seen = BTreeSet::new();
    let mut children = Vec::new();
    for n in services {
        let Some(s) = plan::service(p, n) else {
            continue;
        };
        let Some(b) = &s.build else { continue };
        let image = plan::image_of(p, n, s);
        if !seen.insert(image.clone()) {
            continue;
        }
        let mut c = berth(root)?;
        c.args(["build", "--progress", "plain", "-t", &image]);
        for t in &b.tags {
            c.args(["-t", t]);
        }
        match (&b.dockerfile_inline, &b.dockerfile) {
            (Some(_), _) => {
                c.args(["-f", "-"]);
            }
            (None, Some(f)) => {
                c.arg("-f").arg(Path::new(&b.context).join(f));
            }
            (None, None) => {}
        }
        for (k, v) in &b.args {
            match v.as_ref().or_else(|| p.env.get(k)) {
                Some(v) => c.arg("--build-arg").arg(format!("{k}={v}")),
                None => continue,
            };
        }
        if let Some(t) = &b.target {
            c.args(["--target", t]);
        }
        for (k, v) in &b.labels {
            c.arg("--label").arg(format!("{k}={v}"));
        }
        if let Some(net) = &b.network {
            c.args(["--network", net]);
        }
        if no_cache || b.no_cache {
            c.arg("--no-cache");
        }
        if b.pull {
            c.arg("--pull");
        }
        c.arg(&b.context);
        c.stdin(if b.dockerfile_inline.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        // A Ctrl-C at the terminal reaches the builds too: each stops its step and cleans
        // up, and up, seeing them fail, starts nothing.
        .stderr(Stdio::piped());
        eprintln!(" Service {n}  Building");
        let mut child = c
            .spawn()
            .with_context(|| format!("service {n}: start berth build"))?;
        if let (Some(text), Some(mut stdin)) = (&b.dockerfile_inline, child.stdin.take()) {
            std::io::Write::write_all(&mut stdin, text.as_bytes())
                .with_context(|| format!("service {n}: dockerfile_inline"))?;
        }
        children.push((n.clone(), child));
    }
    let results: Vec<(String, bool)> = std::thread::scope(|sc| {
        let hs: Vec<_> = children
            .into_iter()
            .map(|(n, mut child)| {
                let out = child.stdout.take();
                let err = child.stderr.take();
                sc.spawn(move || {
                    let prefix = |r: Option<Box<dyn std::io::Read + Send>>, name: String| {
                        std::thread::spawn(move || {
                            if let Some(r) = r {
                                for l in std::io::BufRead::lines(std::io::BufReader::new(r))
                                    .map_while(Result::ok)
                                {
                                    eprintln!("{name} | {l}");
                                }
                            }
                        })
                    };
                    let a = prefix(
                        out.map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
                        n.clone(),
                    );
                    let b = prefix(
                        err.map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
                        n.clone(),
                    );
                    let ok = child.wait().is_ok_and(|st| st.success());
                    let _ = (a.join(), b.join());
                    (n, ok)
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.clone())
        .collect();
    for (n, ok) in &results {
        if *ok {
            say("Service", n, "Built");
        }
    }
    if !failed.is_empty() {
        bail!(
            "failed to build service {}: see its output above",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Pulls `image` from its registry.
pub fn pull(root: &Path, image: &str) -> Result<String> {
    use berth_image::registry::{self, PullOptions};
    let r: berth_image::Reference = image.parse()?;
    let store = Store::open(root)?;
    eprintln!(" Image {image}  Pulling");
    let img = registry::pull(
        &store,
        &r,
        &PullOptions {
            platform: None,
            insecure: Vec::new(),
            credentials: crate::engine::auth::credentials_for(&r.registry),
        },
        &|_| {},
    )
    .with_context(|| format!("pull {image}"))?;
    say("Image", image, "Pulled");
    Ok(img.id().to_string())
}

/// Builds a service's image, tagged as it runs it; returns the image id.
pub fn build_service(
    root: &Path,
    p: &Project,
    name: &str,
    s: &Service,
    b: &super::model::Build,
    no_cache: bool,
) -> Result<String> {
    use crate::engine::build::{BuildOptions, Dockerfile};
    let image = plan::image_of(p, name, s);
    let context = std::path::PathBuf::from(&b.context);
    let dockerfile = match (&b.dockerfile_inline, &b.dockerfile) {
        (Some(t), _) => Some(Dockerfile::Inline(t.clone())),
        (None, Some(f)) => Some(Dockerfile::Path(context.join(f))),
        (None, None) => None,
    };
    let mut build_args = BTreeMap::new();
    for (k, v) in &b.args {
        match v {
            Some(v) => {
                build_args.insert(k.clone(), v.clone());
            }
            None => {
                if let Some(v) = p.env.get(k) {
                    build_args.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let mut tags = vec![image.clone()];
    tags.extend(b.tags.iter().cloned());
    let o = BuildOptions {
        context,
        dockerfile,
        tags,
        build_args,
        target: b.target.clone(),
        no_cache: no_cache || b.no_cache,
        pull: b.pull,
        labels: b.labels.clone(),
        network: match b.network.as_deref() {
            Some(n) => Some(n.parse()?),
            None => None,
        },
        quiet: false,
        transient_context: false,
    };
    eprintln!(" Service {name}  Building");
    let id = engine::build::build(root, &o, &mut std::io::stderr())
        .with_context(|| format!("service {name}: build {}", b.context))?;
    say("Service", name, "Built");
    Ok(id)
}
