//! `berth build`'s engine side: the image crate's builder (image/src/build/) runs the
//! Dockerfile; RUN steps come back here as containers made through the engine API.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use berth_image::build::{BuildSpec, RunStep, StepRunner};
use berth_image::{Reference, Store};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::config::{ContainerConfig, LogOptions, NetworkMode, ProcessConfig};
use super::container::{Containers, RestartPolicy};
use super::{lifecycle, Attach};
use crate::sys::INTERRUPTED;

/// Where the Dockerfile comes from.
#[derive(Debug, Clone)]
pub enum Dockerfile {
    /// A file (default: `<context>/Dockerfile`).
    Path(PathBuf),
    /// The text itself (`-f -`, or a compose file's `dockerfile_inline`).
    Inline(String),
}

/// Everything a build needs: plain data, so the CLI and compose fill it alike
/// (`..Default::default()` for what a caller does not set).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// The context is a scratch directory (`build -`, `StdinContext`): its files' digests
    /// are not remembered.
    pub transient_context: bool,
    /// None: `<context>/Dockerfile`.
    pub dockerfile: Option<Dockerfile>,
    /// References to name the result (`-t`), e.g. `web:latest`.
    pub tags: Vec<String>,
    /// `--build-arg K=V`.
    pub build_args: BTreeMap<String, String>,
    /// `--target STAGE`: the stage to build (default: the last).
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--pull`: pull FROM images even when the store has them.
    pub pull: bool,
    /// `--label K=V` on the final image.
    pub labels: BTreeMap<String, String>,
    /// The network RUN steps see (None: the build default, `build_network()`).
    pub network: Option<NetworkMode>,
    /// `-q`: print only the image id at the end (the caller does); no step output.
    pub quiet: bool,
}

/// The label of a RUN step's container: the next command's heal removes one whose build
/// was killed.
pub const STEP_LABEL: &str = "berth.build.step";

/// The network RUN steps get when none is asked for: the default bridge, as Docker's
/// builder does (egress through its NAT, the host's resolvers through its DNS server).
pub fn build_network() -> NetworkMode {
    NetworkMode::Bridge(vec![crate::engine::config::Attachment::to(
        crate::engine::network::DEFAULT,
    )])
}

/// `build -`: what came on stdin, as Docker takes it: a tar archive (plain, gzip, zstd,
/// xz or bzip2) is the context, extracted into a scratch directory; anything else is a
/// Dockerfile with an empty context.
pub struct StdinContext {
    /// The context directory; deleted when this is dropped.
    pub dir: super::fsutil::Scratch,
    /// The Dockerfile's text when stdin was one.
    pub dockerfile: Option<String>,
}

impl StdinContext {
    pub fn read(root: &Path, mut input: impl std::io::Read) -> Result<StdinContext> {
        super::fsutil::prepare_root(root)?;
        let dir = super::fsutil::Scratch::new(root)?;
        let head =
            berth_image::build::copy::read_head(&mut input).context("read the build context")?;
        let archive = berth_image::build::copy::extract_if_archive(&head, &mut input, dir.path())
            .map_err(|e| anyhow::anyhow!("extract the build context from stdin: {e}"))?;
        let dockerfile = if archive {
            None
        } else {
            let mut rest = head;
            input
                .read_to_end(&mut rest)
                .context("read the Dockerfile from stdin")?;
            Some(String::from_utf8(rest).context(
                "stdin is neither a tar archive (plain, gzip, zstd, xz, bzip2) nor a UTF-8 Dockerfile",
            )?)
        };
        Ok(StdinContext { dir, dockerfile })
    }
}

/// Builds the image `o` describes under `root`, writing BuildKit-style plain progress to
/// `progress`; returns the image id (`sha256:...`).
pub fn build(root: &Path, o: &BuildOptions, progress: &mut dyn Write) -> Result<String> {
    build_with(root, o, progress, false)
}

/// `build`, with `tty`: the progress as a compact live view for a terminal.
pub fn build_with(
    root: &Path,
    o: &BuildOptions,
    progress: &mut dyn Write,
    tty: bool,
) -> Result<String> {
    lifecycle::heal(root)?;
    // Absolute paths: stages on threads of their own must not depend on the working
    // directory (an overlay mount moves it for a moment).
    let root = &std::fs::canonicalize(root).with_context(|| format!("root {}", root.display()))?;
    let context = std::fs::canonicalize(&o.context)
        .with_context(|| format!("build context {}", o.context.display()))?;
    if !context.is_dir() {
        anyhow::bail!("build context {}: not a directory", context.display());
    }
    let (text, name, path) = match &o.dockerfile {
        Some(Dockerfile::Inline(t)) => (t.clone(), "Dockerfile".to_string(), None),
        Some(Dockerfile::Path(p)) => (
            std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?,
            p.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "Dockerfile".into()),
            Some(p.clone()),
        ),
        None => {
            let p = context.join("Dockerfile");
            (
                std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?,
                "Dockerfile".to_string(),
                Some(p),
            )
        }
    };
    let tags = o
        .tags
        .iter()
        .map(|t| {
            t.parse::<Reference>()
                .with_context(|| format!("invalid tag {t:?}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let spec = BuildSpec {
        root: root.to_path_buf(),
        context,
        transient_context: o.transient_context,
        dockerfile_text: text,
        dockerfile_name: name,
        dockerfile_path: path,
        build_args: o.build_args.clone(),
        target: o.target.clone(),
        no_cache: o.no_cache,
        pull: o.pull,
        labels: o.labels.clone(),
        tags,
        insecure_registries: Vec::new(),
        credentials: super::auth::all(),
        tty,
    };
    let store = Store::open(root)?;
    let _interrupts = crate::sys::catch_interrupts();
    let runner = Runner {
        root: root.to_path_buf(),
        network: o.network.clone().unwrap_or_else(build_network),
    };
    let img = berth_image::build::build(&store, &spec, &runner, progress)?;
    let name = o.tags.first().cloned().unwrap_or_default();
    super::events::image(root, "build", &img.id().to_string(), &name);
    Ok(img.id().to_string())
}

/// RUN steps as containers made through the engine.
struct Runner {
    root: PathBuf,
    network: NetworkMode,
}

impl StepRunner for Runner {
    fn run(
        &self,
        step: &RunStep<'_>,
        out: &mut dyn Write,
        commit: &mut dyn FnMut(&Path) -> berth_image::Result<()>,
    ) -> berth_image::Result<()> {
        self.run_step(step, out, commit)
            .map_err(|e| berth_image::Error::Build(crate::error_chain(&e)))
    }

    fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }
}

impl Runner {
    fn config(&self, step: &RunStep<'_>) -> ContainerConfig {
        let network = match step.network.as_deref() {
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            _ => self.network.clone(),
        };
        // /etc/resolv.conf, /etc/hosts and /etc/hostname come with the network mode (the
        // host's resolvers under `host`), as for every container.
        let mounts = Vec::new();
        ContainerConfig {
            image: step.image.id().to_string(),
            name: None,
            process: ProcessConfig {
                command: step.argv.clone(),
                entrypoint: Some(Vec::new()),
                env: step.env.clone(),
                workdir: step.workdir.clone(),
                user: step.user.clone(),
                ..ProcessConfig::default()
            },
            hostname: None,
            mounts,
            resources: Default::default(),
            security: Default::default(),
            network,
            restart: RestartPolicy::parse("no").unwrap_or_default(),
            auto_remove: false,
            labels: BTreeMap::from([(STEP_LABEL.to_string(), "true".to_string())]),
            log: LogOptions::default(),
            ports: Vec::new(),
            publish_all: false,
            dns: Default::default(),
            extra_hosts: Vec::new(),
            exposed: Vec::new(),
            files: Vec::new(),
        }
    }

    fn run_step(
        &self,
        step: &RunStep<'_>,
        out: &mut dyn Write,
        commit: &mut dyn FnMut(&Path) -> berth_image::Result<()>,
    ) -> Result<()> {
        if INTERRUPTED.load(Ordering::SeqCst) {
            anyhow::bail!("interrupted");
        }
        let cs = Containers::new(&self.root);
        let store = Store::open(&self.root)?;
        let cfg = self.config(step);
        let (rec, lock) = super::create_from(&self.root, &store, step.image, &cfg)?;
        let id = rec.id.clone();
        // From here on the container goes whatever happens.
        let res = (|| -> Result<()> {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            let w2 = w.try_clone()?;
            let l = super::start_container(
                &cs,
                &rec,
                Attach::Stdio {
                    stdin: None,
                    stdout: w,
                    stderr: w2,
                },
            )?;
            let (code, interrupted) = wait_step(l.pid, r, out)?;
            lifecycle::finish(&cs, &id, code, false)?;
            if interrupted {
                anyhow::bail!("interrupted");
            }
            if code != 0 {
                anyhow::bail!("did not complete successfully: exit code: {code}");
            }
            let (upper, _, _) = berth_image::rootfs::paths(&cs.dir_of(&id));
            // The mount points the runtime made are not the step's.
            let lower: Vec<PathBuf> = step
                .image
                .chain_ids()
                .iter()
                .rev()
                .map(|c| store.layer_dir(c))
                .collect();
            berth_image::build::pack::prune_mount_points(
                &upper,
                &lower,
                &["etc/resolv.conf", "etc/hosts", "etc/hostname"],
                &["proc", "sys", "dev", "etc"],
            );
            commit(&upper).map_err(anyhow::Error::from)
        })();
        drop(lock);
        let removed = lifecycle::remove(&cs, &id, true, true);
        match (res, removed) {
            (Err(e), Err(r)) => Err(e.context(format!(
                "(and removing step container {}: {r:#})",
                &id[..12]
            ))),
            (Err(e), _) => Err(e),
            (Ok(()), r) => r,
        }
    }
}

/// Waits for the step's init: its output (stdout and stderr on one pipe) to `out`; on
/// SIGINT/SIGTERM it is killed. Returns the exit status and whether it was interrupted.
fn wait_step(pid: i32, r: OwnedFd, out: &mut dyn Write) -> Result<(i32, bool)> {
    let mut status: Option<i32> = None;
    let mut open = true;
    let mut killed = false;
    let mut buf = [0u8; 16 * 1024];
    let mut grace = 0;
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) && !killed && status.is_none() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            killed = true;
        }
        if status.is_none() {
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, c)) => status = Some(c),
                Ok(WaitStatus::Signaled(_, s, _)) => status = Some(128 + s as i32),
                Ok(_) => {}
                Err(nix::errno::Errno::ECHILD) => status = Some(255),
                Err(e) => return Err(e).context("wait for the step"),
            }
        }
        if let Some(c) = status {
            // A child left behind may hold the pipe: a moment to drain, then done.
            if !open || grace > 5 {
                return Ok((c, killed));
            }
        }
        if !open {
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        }
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(50u16)) {
            Ok(0) => {
                if status.is_some() {
                    grace += 1;
                }
                continue;
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e).context("poll the step's output"),
        }
        match nix::unistd::read(&r, &mut buf) {
            Ok(0) => open = false,
            Ok(n) => {
                let _ = out.write_all(&buf[..n]);
            }
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
            Err(_) => open = false,
        }
    }
}
