//! Running a plan: each needed stage from its FROM, step by step. A step's result is an
//! image (config + manifest blobs, not named) that the next step builds on; filesystem steps
//! (RUN, COPY, ADD, WORKDIR) add a layer and go through the cache, the others change only
//! the config (with the parent's `created`, so they give the same id again).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::copy::{self, Attrs};
use super::fsview::{self, Context, ImageFs, Tree};
use super::instructions::{Cmd, CmdLine, CopyArgs, Instruction};
use super::pack;
use super::plan::{self, Plan, Stage, PROXY_ARGS};
use super::progress::{Progress, Vertex};
use super::state::State;
use super::words::{expand, expand_text, Vars};
use super::{cache, BuildSpec, RunStep, StepRunner};
use super::{fetch, git};
use crate::digest::chain_ids;
use crate::error::{Error, Result};
use crate::layers;
use crate::reference::Reference;
use crate::store::{Image, Store};

/// The run of one build: what all stages share.
pub(super) struct Run<'a, O: Write> {
    pub store: &'a Store,
    pub spec: &'a BuildSpec,
    pub runner: &'a dyn StepRunner,
    pub progress: Progress<O>,
    pub context: Context,
    pub escape: char,
    /// Results of the stages built so far, by index.
    pub done: BTreeMap<usize, Image>,
    /// ARGs before the first FROM: a stage's `ARG NAME` takes its value from here.
    pub meta_args: Vars,
    /// The context files' digests by stat, shared by the stages.
    pub hashes: std::sync::Arc<super::hashes::Hashes>,
}

pub(super) fn at(spec: &BuildSpec, i: &Instruction, msg: impl std::fmt::Display) -> Error {
    Error::Build(format!(
        "{}:{}: {}: {msg}",
        spec.dockerfile_name,
        i.line,
        i.cmd.keyword()
    ))
}

impl<O: Write> Run<'_, O> {
    pub(super) fn x(&self, i: &Instruction, w: &str, vars: &Vars) -> Result<String> {
        expand(w, vars, self.escape).map_err(|e| at(self.spec, i, e))
    }

    fn check_interrupt(&self) -> Result<()> {
        if self.runner.interrupted() {
            return Err(Error::Build("build interrupted".into()));
        }
        Ok(())
    }

    /// An image by reference: from the store, or pulled (always with --pull).
    fn base_image(&mut self, i: &Instruction, name: &str, platform: Option<&str>) -> Result<Image> {
        let r: Reference = name
            .parse()
            .map_err(|e| at(self.spec, i, format!("{name:?}: {e}")))?;
        if !self.spec.pull {
            if let Ok(img) = self.store.resolve(&r.to_string()) {
                return Ok(img);
            }
            if let Ok(img) = self.store.resolve(name) {
                return Ok(img);
            }
        }
        let o = crate::registry::PullOptions {
            platform: platform.map(String::from),
            insecure: self.spec.insecure_registries.clone(),
            credentials: self.spec.credentials.get(&r.registry).cloned(),
        };
        crate::registry::pull(self.store, &r, &o, &|_| {})
            .map_err(|e| at(self.spec, i, format!("pull {r}: {e}")))
    }

    /// Builds stage `st`; returns its image.
    pub fn stage(&mut self, plan: &Plan<'_>, st: &Stage<'_>, single: bool) -> Result<Image> {
        let label = if single {
            String::new()
        } else {
            format!("{} ", st.label())
        };
        let fs_steps = 1 + st
            .body
            .iter()
            .filter(|i| {
                matches!(
                    i.cmd,
                    Cmd::Run { .. } | Cmd::Copy(_) | Cmd::Add(_) | Cmd::Workdir(_)
                )
            })
            .count();
        let mut m = 1;
        let Cmd::From {
            image, platform, ..
        } = &st.from.cmd
        else {
            return Err(Error::Invalid("stage without FROM".into()));
        };
        let base = self.x(st.from, image, &plan.meta_args)?;
        let v = self
            .progress
            .start(&format!("[{label}{m}/{fs_steps}] FROM {base}"));
        let mut s = if let Some(dep) = plan::stage_ref(&plan.stages[..st.index], &base) {
            let img = self.done.get(&dep).ok_or_else(|| {
                at(
                    self.spec,
                    st.from,
                    format!("stage {base:?} is not built yet"),
                )
            })?;
            State::from_image(img)
        } else if base == "scratch" {
            State::scratch()
        } else {
            let platform = match platform {
                Some(p) => Some(self.x(st.from, p, &plan.meta_args)?),
                None => None,
            };
            let img = self.base_image(st.from, &base, platform.as_deref())?;
            State::from_image(&img)
        };
        self.progress.done(&v);
        // The base's ONBUILD triggers run first, then are not inherited.
        let triggers: Vec<String> = s
            .config
            .config
            .other
            .remove("OnBuild")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        for t in &triggers {
            let d = super::parser::parse(&format!("FROM scratch\n{t}\n"), "ONBUILD")
                .map_err(|e| at(self.spec, st.from, format!("ONBUILD trigger {t:?}: {e}")))?;
            let mut i = d.instructions[1].clone();
            i.line = st.from.line;
            self.step(plan, &mut s, &i, &label, 0, fs_steps)?;
        }
        for i in st.body {
            self.check_interrupt()?;
            if matches!(
                i.cmd,
                Cmd::Run { .. } | Cmd::Copy(_) | Cmd::Add(_) | Cmd::Workdir(_)
            ) {
                m += 1;
            }
            self.step(plan, &mut s, i, &label, m, fs_steps)?;
        }
        s.image(self.store)
    }

    /// A filesystem step through the cache: `make` runs it on a miss.
    fn cached(
        &mut self,
        s: &mut State,
        i: &Instruction,
        title: &str,
        extra: &str,
        make: &mut dyn FnMut(&mut Self, &mut State, &Vertex) -> Result<()>,
    ) -> Result<()> {
        let parent = s.id()?;
        let key = cache::key(&[
            &parent.to_string(),
            &i.text,
            &format!("{:?}", heredocs_of(i)),
            &s.args_text(),
            extra,
        ]);
        let v = self.progress.start(title);
        if !self.spec.no_cache {
            if let Some(img) = cache::get(&self.spec.root, self.store, &key) {
                s.config = img.config;
                s.layers = img.manifest.layers;
                self.progress.cached(&v);
                return Ok(());
            }
        }
        if let Err(e) = make(self, s, &v) {
            self.progress.error(&v, &e.to_string());
            return Err(e);
        }
        let img = s.image(self.store)?;
        cache::put(&self.spec.root, &key, &img)?;
        self.progress.done(&v);
        Ok(())
    }

    fn step(
        &mut self,
        plan: &Plan<'_>,
        s: &mut State,
        i: &Instruction,
        label: &str,
        m: usize,
        k: usize,
    ) -> Result<()> {
        let title = format!("[{label}{m}/{k}] {}", i.text);
        let vars = s.vars();
        match &i.cmd {
            Cmd::From { .. } => return Err(at(self.spec, i, "FROM inside a stage")),
            Cmd::Run {
                cmd,
                heredocs,
                network,
            } => {
                let argv = match cmd {
                    CmdLine::Exec(v) => v.clone(),
                    CmdLine::Shell(text) => {
                        let script = match heredocs.as_slice() {
                            [h] if text
                                .trim()
                                .trim_start_matches("<<")
                                .trim_start_matches('-')
                                .trim_matches(['"', '\''])
                                == h.name =>
                            {
                                h.body.clone()
                            }
                            hs => {
                                let mut sc = text.clone();
                                for h in hs {
                                    sc.push('\n');
                                    sc.push_str(&h.body);
                                    sc.push_str(&h.name);
                                }
                                sc
                            }
                        };
                        let mut a = s.shell.clone();
                        a.push(script);
                        a
                    }
                };
                let network = network.clone();
                let extra = format!("network={network:?}");
                self.cached(s, i, &title, &extra, &mut |run, s, v| {
                    run.run_step(s, i, argv.clone(), network.clone(), v)
                })?;
            }
            Cmd::Copy(c) | Cmd::Add(c) => self.copy(plan, s, i, c, &title, &vars)?,
            Cmd::Workdir(w) => {
                let w = self.x(i, w, &vars)?;
                let abs = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{w}", s.workdir())
                };
                let abs = format!("/{}", fsview::clean(&abs));
                s.config.config.working_dir = Some(abs.clone());
                let dirs = layers::ensure(self.store, &s.layers, &s.config)?;
                let img = ImageFs::new(dirs);
                let exists = img
                    .stat(&img.resolve(&abs, true))
                    .is_some_and(|(_, m)| m.is_dir());
                if exists {
                    s.meta(&i.text);
                } else {
                    self.cached(s, i, &title, "", &mut |run, s, _| {
                        fill_layer(run.store, run.spec, s, i, &mut |dir| {
                            copy::make_dirs(dir, &img, &abs, None).map(drop)
                        })
                    })?;
                }
            }
            _ => self.metadata(s, i, &vars)?,
        }
        Ok(())
    }

    fn run_step(
        &mut self,
        s: &mut State,
        i: &Instruction,
        argv: Vec<String>,
        network: Option<String>,
        v: &Vertex,
    ) -> Result<()> {
        let img = s.image(self.store)?;
        let mut env: Vec<String> = s.config.config.env.clone().unwrap_or_default();
        for (k, val) in &s.args {
            if !env
                .iter()
                .any(|e| e.split_once('=').map_or(e.as_str(), |x| x.0) == k)
            {
                env.push(format!("{k}={val}"));
            }
        }
        for p in PROXY_ARGS {
            if let Some(val) = self.spec.build_args.get(*p) {
                if !s.args.contains_key(*p) {
                    env.push(format!("{p}={val}"));
                }
            }
        }
        let step = RunStep {
            image: &img,
            argv: argv.clone(),
            env,
            user: s.config.config.user.clone().filter(|u| !u.is_empty()),
            workdir: Some(s.workdir()),
            network,
        };
        let store = self.store;
        let mut packed = None;
        let mut out = self.progress.output(v);
        let res = self.runner.run(&step, &mut out, &mut |upper| {
            packed = Some(pack::pack(store, upper)?);
            Ok(())
        });
        let tail = out.finish();
        if let Err(e) = res {
            let mut msg = format!(
                "{}:{}: RUN {}: {e}",
                self.spec.dockerfile_name,
                i.line,
                serde_json::to_string(&argv).unwrap_or_default()
            );
            if !tail.is_empty() {
                // One line (the error printer escapes newlines); the progress above
                // has the whole output.
                msg.push_str(" (last output: ");
                msg.push_str(&tail.join(" | "));
                msg.push(')');
            }
            return Err(Error::Build(msg));
        }
        let p = packed.ok_or_else(|| at(self.spec, i, "the step made no layer"))?;
        s.add_layer(p, &i.text);
        Ok(())
    }

    fn copy(
        &mut self,
        plan: &Plan<'_>,
        s: &mut State,
        i: &Instruction,
        c: &CopyArgs,
        title: &str,
        vars: &Vars,
    ) -> Result<()> {
        let add = matches!(i.cmd, Cmd::Add(_));
        let dest = self.x(i, &c.dest, vars)?;
        let mut srcs = Vec::new();
        for src in &c.srcs {
            let e = self.x(i, src, vars)?;
            if !add && (fetch::is_url(&e) || git::is_git(&e)) {
                return Err(at(self.spec, i, format!("{e}: only ADD takes URLs")));
            }
            srcs.push(e);
        }
        // ADD <git url>: checked out into a directory of its own, whose contents (or the
        // subdirectory's) are copied like a context directory's.
        let git_dir = match srcs.iter().find(|x| git::is_git(x)) {
            None => None,
            Some(u) => {
                if srcs.len() != 1 || c.from.is_some() || c.checksum.is_some() {
                    return Err(at(
                        self.spec,
                        i,
                        "a git source is ADD's only source, without --from or --checksum",
                    ));
                }
                let g = git::parse(u).map_err(|e| at(self.spec, i, e))?;
                let dir = TempDir::new(self.store, "git")?;
                git::checkout(&g, &dir.0).map_err(|e| at(self.spec, i, e))?;
                srcs = vec![g.subdir.unwrap_or_else(|| ".".into())];
                Some(dir)
            }
        };
        // ADD <url>...: downloaded first (its content is the cache key), then copied from
        // a directory of their own like context files.
        let urls: Vec<String> = srcs.iter().filter(|x| fetch::is_url(x)).cloned().collect();
        let url_dir = if git_dir.is_some() {
            git_dir
        } else if urls.is_empty() {
            None
        } else {
            if urls.len() != srcs.len() || c.from.is_some() {
                return Err(at(
                    self.spec,
                    i,
                    "URLs cannot be mixed with other sources or --from",
                ));
            }
            let dir = TempDir::new(self.store, "add")?;
            let mut names = Vec::new();
            for u in &urls {
                let name = fetch::file_name(u).map_err(|e| at(self.spec, i, e))?;
                fetch::download(u, &dir.0, &name, c.checksum.as_deref())
                    .map_err(|e| at(self.spec, i, e))?;
                names.push(name);
            }
            srcs = names;
            Some(dir)
        };
        if c.checksum.is_some() && url_dir.is_none() {
            return Err(at(self.spec, i, "--checksum is for URL sources"));
        }
        let url_ctx = url_dir.as_ref().map(|d| Context {
            dir: d.0.clone(),
            ignore: Default::default(),
        });
        let chown = c.chown.as_ref().map(|o| self.x(i, o, vars)).transpose()?;
        let chmod = c
            .chmod
            .as_ref()
            .map(|m| {
                u32::from_str_radix(m, 8).map_err(|_| at(self.spec, i, format!("--chmod={m}")))
            })
            .transpose()?;
        // Heredoc sources are the here-documents, by name.
        let docs: Vec<(String, Vec<u8>)> = c
            .heredocs
            .iter()
            .map(|h| {
                let body = if h.expand {
                    expand_text(&h.body, vars, self.escape).map_err(|e| at(self.spec, i, e))?
                } else {
                    h.body.clone()
                };
                Ok((h.name.clone(), body.into_bytes()))
            })
            .collect::<Result<_>>()?;
        let file_srcs: Vec<String> = srcs
            .iter()
            .filter(|x| !x.starts_with("<<"))
            .cloned()
            .collect();
        // Where the files come from: the context, a stage, or an image.
        let from_img = match &c.from {
            None => None,
            Some(f) => {
                let f = self.x(i, f, vars)?;
                Some(match plan::stage_ref(&plan.stages, &f) {
                    Some(n) => self.done.get(&n).cloned().ok_or_else(|| {
                        at(
                            self.spec,
                            i,
                            format!("--from={f}: stage not built before this one"),
                        )
                    })?,
                    None => self.base_image(i, &f, None)?,
                })
            }
        };
        let from_fs = match &from_img {
            Some(img) => Some(ImageFs::new(layers::ensure(
                self.store,
                &img.manifest.layers,
                &img.config,
            )?)),
            None => None,
        };
        let tree: &dyn fsview::Tree = match (&from_fs, &url_ctx) {
            (Some(f), _) => f,
            (None, Some(u)) => u,
            (None, None) => &self.context,
        };
        let mut matched = Vec::new();
        for src in &file_srcs {
            let m = fsview::matches(tree, src);
            if m.is_empty() {
                return Err(at(
                    self.spec,
                    i,
                    match &c.from {
                        None => format!(
                            "{src:?} not found in the build context (or excluded by .dockerignore)"
                        ),
                        Some(f) => format!("{src:?} not found in {f}"),
                    },
                ));
            }
            matched.extend(m);
        }
        let extra = match &from_img {
            Some(img) => format!("from {}", img.id()),
            None => {
                copy::content_digest(tree, &matched, url_ctx.is_none().then_some(&*self.hashes))
                    .map_err(|e| at(self.spec, i, e))?
                    .to_string()
            }
        };
        let several = matched.len() + docs.len() > 1;
        let workdir = s.workdir();
        let store = self.store;
        self.cached(s, i, title, &extra, &mut |run, s, _| {
            let img = ImageFs::new(layers::ensure(store, &s.layers, &s.config)?);
            let owner = match &chown {
                Some(o) => Some(copy::resolve_owner(&img, o).map_err(|e| at(run.spec, i, e))?),
                None => None,
            };
            // ADD extracts local tar archives (not downloaded ones, as Docker).
            let extract = add && url_ctx.is_none() && from_fs.is_none();
            let a = Attrs {
                owner,
                chmod,
                extract,
            };
            let (target, is_dir) = copy::destination(&img, &dest, &workdir, several);
            if several && !is_dir {
                return Err(at(
                    run.spec,
                    i,
                    format!("with more than one source the destination must be a directory ending in /, not {dest:?}"),
                ));
            }
            let tree: &dyn fsview::Tree = match (&from_fs, &url_ctx) {
                (Some(f), _) => f,
                (None, Some(u)) => u,
                (None, None) => &run.context,
            };
            let docs = &docs;
            let matched = &matched;
            fill_layer(run.store, run.spec, s, i, &mut |dir| {
                for (name, body) in docs {
                    let t = if is_dir { format!("{target}/{name}") } else { target.clone() };
                    copy::write_file(dir, &img, &t, body, a)?;
                }
                copy::copy_into(dir, &img, tree, matched, &target, is_dir, a)
            })
        })
    }
}

impl<O: Write> Run<'_, O> {
    /// Builds the stages `ready` (none needs another) each on a thread of its own, their
    /// progress relayed here line by line. Every stage runs to its end; the first error
    /// (in stage order) is returned.
    fn side_by_side(
        &mut self,
        p: &Plan<'_>,
        ready: &[usize],
        single: bool,
    ) -> Result<Vec<(usize, Image)>> {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let results: Vec<(usize, Result<Image>)> = std::thread::scope(|sc| {
            let handles: Vec<_> = ready
                .iter()
                .map(|&n| {
                    let mut sub = Run {
                        store: self.store,
                        spec: self.spec,
                        runner: self.runner,
                        progress: self.progress.beside(tx.clone()),
                        context: self.context.clone(),
                        escape: self.escape,
                        done: self.done.clone(),
                        meta_args: self.meta_args.clone(),
                        hashes: self.hashes.clone(),
                    };
                    sc.spawn(move || (n, sub.stage(p, &p.stages[n], single)))
                })
                .collect();
            drop(tx);
            for chunk in rx {
                self.progress.relay(&chunk);
            }
            handles
                .into_iter()
                .zip(ready)
                .map(|(h, &n)| {
                    h.join().unwrap_or_else(|_| {
                        (
                            n,
                            Err(Error::Build(format!("stage {n}: its thread panicked"))),
                        )
                    })
                })
                .collect()
        });
        results
            .into_iter()
            .map(|(n, r)| r.map(|img| (n, img)))
            .collect()
    }

    pub(super) fn write_final(&mut self, img: &Image) -> Result<Image> {
        let mut s = State::from_image(img);
        if !self.spec.labels.is_empty() {
            s.config
                .config
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(self.spec.labels.clone());
        }
        let mut out = s.image(self.store)?;
        out.names = self.spec.tags.clone();
        Ok(out)
    }
}

/// A layer made by filling a fresh directory, packed and adopted as the unpacked layer.
fn fill_layer(
    store: &Store,
    spec: &BuildSpec,
    s: &mut State,
    i: &Instruction,
    fill: &mut dyn FnMut(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    let dir = store.tmp_path("build-layer");
    crate::fsmode::create_dir(&dir, crate::fsmode::VISIBLE_DIR)?;
    let res = (|| {
        fill(&dir).map_err(|e| at(spec, i, e))?;
        let p = pack::pack(store, &dir)?;
        let mut diffs = s.config.rootfs.diff_ids.clone();
        diffs.push(p.diff_id.clone());
        let chain = chain_ids(&diffs)
            .pop()
            .ok_or_else(|| Error::Invalid("no chain".into()))?;
        pack::adopt(store, &dir, &chain)?;
        s.add_layer(p, &i.text);
        Ok(())
    })();
    if res.is_err() {
        let _ = crate::fsmode::remove_tree(&dir);
    }
    res
}

fn heredocs_of(i: &Instruction) -> Vec<(String, String, bool)> {
    let hs = match &i.cmd {
        Cmd::Run { heredocs, .. } => heredocs,
        Cmd::Copy(c) | Cmd::Add(c) => &c.heredocs,
        _ => return Vec::new(),
    };
    hs.iter()
        .map(|h| (h.name.clone(), h.body.clone(), h.expand))
        .collect()
}

/// Builds `spec` with `runner` for RUN steps; returns the final image, named in the store.
pub fn build(
    store: &Store,
    spec: &BuildSpec,
    runner: &dyn StepRunner,
    out: &mut dyn Write,
) -> Result<Image> {
    let mut progress = Progress::new(out, spec.tty);
    let v = progress.start(&format!(
        "[internal] load build definition from {}",
        spec.dockerfile_name
    ));
    let d = super::parser::parse(&spec.dockerfile_text, &spec.dockerfile_name)
        .map_err(Error::Dockerfile)?;
    progress.done(&v);
    let v = progress.start("[internal] load .dockerignore");
    let beside = spec.dockerfile_path.as_ref().map(|p| {
        let mut name = p.as_os_str().to_os_string();
        name.push(".dockerignore");
        std::path::PathBuf::from(name)
    });
    let ignore_path = match beside {
        Some(b) if b.is_file() => b,
        _ => spec.context.join(".dockerignore"),
    };
    let ignore_text = std::fs::read_to_string(&ignore_path).unwrap_or_default();
    let ignore = super::ignore::Matcher::new(&ignore_text).map_err(Error::Build)?;
    progress.done(&v);
    let p = plan::plan(
        &d,
        &spec.dockerfile_name,
        &spec.build_args,
        spec.target.as_deref(),
    )
    .map_err(Error::Build)?;
    let mut run = Run {
        store,
        spec,
        runner,
        progress,
        context: Context {
            dir: spec.context.clone(),
            ignore,
        },
        escape: d.escape,
        done: BTreeMap::new(),
        meta_args: p.meta_args.clone(),
        hashes: std::sync::Arc::new(if spec.transient_context {
            super::hashes::Hashes::transient()
        } else {
            super::hashes::Hashes::load(&spec.root, &spec.context)
        }),
    };
    let single = p.stages.len() == 1;
    let target = *p
        .needed
        .last()
        .ok_or_else(|| Error::Build("nothing to build".into()))?;
    // In waves: every stage whose dependencies are built, side by side.
    let mut left = p.needed.clone();
    while !left.is_empty() {
        run.check_interrupt()?;
        let ready: Vec<usize> = left
            .iter()
            .copied()
            .filter(|n| p.deps[*n].iter().all(|d| run.done.contains_key(d)))
            .collect();
        if ready.is_empty() {
            return Err(Error::Build(
                "stages depend on each other in a circle".into(),
            ));
        }
        left.retain(|n| !ready.contains(n));
        if ready.len() == 1 || spec.tty {
            for n in ready {
                let img = run.stage(&p, &p.stages[n], single)?;
                run.done.insert(n, img);
            }
        } else {
            for (n, img) in run.side_by_side(&p, &ready, single)? {
                run.done.insert(n, img);
            }
        }
    }
    let last = run
        .done
        .get(&target)
        .cloned()
        .ok_or_else(|| Error::Build("the target stage was not built".into()))?;
    let v = run.progress.start("exporting to image");
    let img = run.write_final(&last)?;
    // Its layers are unpacked now, so the first container does not wait for them.
    layers::ensure(store, &img.manifest.layers, &img.config)?;
    store.name_image(&img)?;
    run.progress
        .note(&v, &format!("writing image {} done", img.id()));
    for t in &img.names {
        run.progress.note(&v, &format!("naming to {t} done"));
    }
    run.progress.done(&v);
    if !p.unused_args.is_empty() {
        run.progress.note(
            &v,
            &format!(
                "[Warning] One or more build-args {:?} were not consumed",
                p.unused_args
            ),
        );
    }
    Ok(img)
}

/// A directory in the store's tmp/, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(store: &Store, what: &str) -> Result<TempDir> {
        let p = store.tmp_path(what);
        crate::fsmode::create_dir(&p, crate::fsmode::DIR)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = crate::fsmode::remove_tree(&self.0);
    }
}
