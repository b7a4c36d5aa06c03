//! `berth-runtime`: runc's command line over berth's runtime crate, so containerd, runtime
//! test suites and scripts written for runc can drive it.
//!
//! A C `main` (`no_main`): berth_runtime::start_process says what of Rust's start-up
//! it replaces, and why.
#![no_main]

use std::io::Write;
use std::path::PathBuf;

use berth_runtime::container::{self, CreateOpts, ExecOpts, RunOpts};
use berth_runtime::state::DEFAULT_ROOT;
use berth_runtime::Error;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "berth-runtime",
    version,
    about = "OCI runtime with runc's command line (berth)"
)]
struct Cli {
    /// Directory for container state
    #[arg(long, global = true, default_value = DEFAULT_ROOT, env = "BERTH_RUNTIME_ROOT")]
    root: PathBuf,
    /// Write errors and warnings to this file instead of stderr
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log debug information
    #[arg(long, global = true)]
    debug: bool,
    /// Use the systemd cgroup driver: not supported (create, run and update refuse it; other
    /// commands accept it, so that a container can always be cleaned up)
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
struct CreateArgs {
    /// Path to the bundle (directory with config.json)
    #[arg(long, short, default_value = ".")]
    bundle: PathBuf,
    /// File to write the init's pid to
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Unix socket to send the pty master to (process.terminal = true)
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root
    #[arg(long)]
    no_pivot: bool,
    /// Pass this many extra fds (from 3) into the container
    #[arg(long, default_value_t = 0)]
    preserve_fds: i32,
    /// Ignored (accepted for runc compatibility)
    #[arg(long, hide = true)]
    no_new_keyring: bool,
    container_id: String,
}

#[derive(Subcommand)]
#[command(defer = true)]
enum Cmd {
    /// Create a container; its process waits for `start`
    Create(CreateArgs),
    /// Let a created container's process run
    Start { container_id: String },
    /// Create, start and wait; exits with the container's status
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Do not wait for the container
        #[arg(long, short)]
        detach: bool,
    },
    /// Print the runtime-spec state of a container as JSON
    State { container_id: String },
    /// Send a signal (default SIGTERM) to the container's init
    Kill {
        /// Send to all processes in the container
        #[arg(long, short)]
        all: bool,
        container_id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped (or, with --force, running) container
    Delete {
        #[arg(long, short)]
        force: bool,
        container_id: String,
    },
    /// List containers
    List {
        #[arg(long, short, value_enum, default_value = "table")]
        format: Format,
        /// Only print ids
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run a new process in a container
    Exec {
        /// Path to a process.json (runtime-spec Process); otherwise ARGS
        #[arg(long, short)]
        process: Option<PathBuf>,
        #[arg(long, short)]
        detach: bool,
        #[arg(long)]
        pid_file: Option<PathBuf>,
        #[arg(long, short)]
        tty: bool,
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Working directory
        #[arg(long)]
        cwd: Option<String>,
        /// Environment variables (KEY=VALUE)
        #[arg(long, short)]
        env: Vec<String>,
        /// UID[:GID]
        #[arg(long, short)]
        user: Option<String>,
        #[arg(long, default_value_t = 0)]
        preserve_fds: i32,
        container_id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Show the processes of a container
    Ps {
        #[arg(long, short, value_enum, default_value = "table")]
        format: Format,
        container_id: String,
        /// Options for ps(1) in the table format (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze all processes of a container
    Pause { container_id: String },
    /// Thaw a paused container
    Resume { container_id: String },
    /// Print what this runtime supports (runtime-spec features.md)
    Features,
    /// Change the cgroup limits of a container (runc's flags, or -r with a LinuxResources JSON)
    Update(UpdateArgs),
    /// Print cgroup statistics every --interval and OOM kills, as JSON lines (runc's shape)
    Events {
        /// Time between statistics (a Go duration: 5s, 500ms, 1m)
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Print the statistics once and exit
        #[arg(long)]
        stats: bool,
        container_id: String,
    },
    /// Write a starter config.json into the bundle directory
    Spec {
        /// The bundle directory (default: the current one)
        #[arg(long, short)]
        bundle: Option<PathBuf>,
        /// A config for a container run by a non-root user (user namespace, no cgroups)
        #[arg(long)]
        rootless: bool,
    },
    /// Not supported: berth-runtime has no CRIU integration
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Not supported: berth-runtime has no CRIU integration
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(clap::Args)]
struct UpdateArgs {
    /// File with a LinuxResources JSON, or - for stdin; the other flags are then ignored
    #[arg(long, short = 'r')]
    resources: Option<PathBuf>,
    /// Memory limit in bytes (units k, m, g accepted; -1 for none)
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory soft limit in bytes
    #[arg(long, allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Memory plus swap limit in bytes (-1 for unlimited swap)
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// CPU CFS quota in microseconds per period (-1 for none)
    #[arg(long, allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long)]
    cpu_period: Option<u64>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share", visible_alias = "cpu-shares")]
    cpu_share: Option<u64>,
    /// CPUs the container may use (cpuset, e.g. 0-2,4)
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Block IO weight (10-1000)
    #[arg(long)]
    blkio_weight: Option<u16>,
    container_id: String,
}

#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    berth_runtime::start_process();
    let code = runtime_main();
    berth_runtime::end_process(code)
}

fn runtime_main() -> u8 {
    berth_runtime::init::maybe_run_init();
    let cli = Cli::parse();
    if cli.debug {
        berth_runtime::debug::enable();
    }
    let log = cli.log.clone();
    let fmt = cli.log_format;
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            report(&e, log, fmt);
            1
        }
    }
}

fn report(e: &Error, log: Option<PathBuf>, fmt: LogFormat) {
    let line = match fmt {
        LogFormat::Text => format!("berth-runtime: {e}\n"),
        LogFormat::Json => format!(
            "{}\n",
            serde_json::json!({"level": "error", "msg": e.to_string(), "time": berth_runtime::state::now_rfc3339()})
        ),
    };
    // runc writes errors to the log file when one is given (containerd reads it) and to stderr.
    if let Some(p) = log {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
    eprint!("{}", line.strip_prefix("").unwrap_or(&line));
}

fn create_opts<'a>(root: &'a std::path::Path, a: &'a CreateArgs) -> CreateOpts<'a> {
    CreateOpts {
        root,
        id: &a.container_id,
        bundle: &a.bundle,
        console_socket: a.console_socket.as_deref(),
        pid_file: a.pid_file.as_deref(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        stdio: None,
    }
}

fn dispatch(cli: Cli) -> Result<u8, Error> {
    let root = cli.root.as_path();
    if cli.systemd_cgroup && matches!(cli.cmd, Cmd::Create(_) | Cmd::Run { .. } | Cmd::Update(_)) {
        return Err(Error::Invalid(
            "--systemd-cgroup: the systemd cgroup driver is not supported; berth-runtime manages cgroupfs (v1 and v2) itself: leave it off (containerd: SystemdCgroup = false)".into(),
        ));
    }
    match &cli.cmd {
        Cmd::Create(a) => {
            container::create(&create_opts(root, a))?;
        }
        Cmd::Start { container_id } => {
            container::start(root, container_id)?;
        }
        Cmd::Run { create, detach } => {
            let code = container::run(&RunOpts {
                create: create_opts(root, create),
                detach: *detach,
            })?;
            return Ok(code.clamp(0, 255) as u8);
        }
        Cmd::State { container_id } => {
            let st = container::state(root, container_id)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&st.oci_json()).unwrap_or_default()
            );
        }
        Cmd::Kill {
            all,
            container_id,
            signal,
        } => {
            let sig = container::parse_signal(signal)?;
            container::kill_container(root, container_id, sig, *all)?;
        }
        Cmd::Delete {
            force,
            container_id,
        } => container::delete(root, container_id, *force)?,
        Cmd::List { format, quiet } => {
            let all = container::list(root)?;
            if *quiet {
                for s in &all {
                    println!("{}", s.id);
                }
            } else if *format == Format::Json {
                let v: Vec<_> = all.iter().map(|s| s.oci_json()).collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                println!(
                    "{:<24} {:<8} {:<10} {:<40} {:<31} OWNER",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                );
                for s in &all {
                    let pid = if s.status == berth_runtime::state::Status::Stopped {
                        0
                    } else {
                        s.pid
                    };
                    println!(
                        "{:<24} {:<8} {:<10} {:<40} {:<31} root",
                        s.id,
                        pid,
                        s.status.as_str(),
                        s.bundle.display(),
                        s.created
                    );
                }
            }
        }
        Cmd::Exec {
            process,
            detach,
            pid_file,
            tty,
            console_socket,
            cwd,
            env,
            user,
            preserve_fds,
            container_id,
            args,
        } => {
            let process = exec_process(
                process.as_deref(),
                root,
                container_id,
                args,
                *tty,
                cwd,
                env,
                user,
            )?;
            let code = container::exec(ExecOpts {
                root,
                id: container_id,
                process,
                console_socket: console_socket.as_deref(),
                pid_file: pid_file.as_deref(),
                detach: *detach,
                preserve_fds: *preserve_fds,
            })?;
            return Ok(code.clamp(0, 255) as u8);
        }
        Cmd::Ps {
            format,
            container_id,
            ps_args,
        } => {
            let pids = container::ps(root, container_id)?;
            if *format == Format::Json {
                if !ps_args.is_empty() {
                    return Err(Error::Invalid(
                        "ps options are only valid with --format table".into(),
                    ));
                }
                // containerd's shim reads this: a JSON array of host pids.
                println!("{}", serde_json::to_string(&pids).unwrap_or_default());
            } else {
                ps_table(&pids, ps_args)?;
            }
        }
        Cmd::Pause { container_id } => container::pause(root, container_id, true)?,
        Cmd::Resume { container_id } => container::pause(root, container_id, false)?,
        Cmd::Features => println!("{}", features()),
        Cmd::Update(a) => {
            berth_runtime::update::update(root, &a.container_id, &update_resources(a)?)?;
        }
        Cmd::Events {
            interval,
            stats,
            container_id,
        } => {
            use berth_runtime::events;
            let every = events::parse_duration(interval)?;
            let print = |e: &events::Event| {
                let line = serde_json::to_string(e).map_err(|e| Error::Invalid(e.to_string()))?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")
                    .and_then(|()| out.flush())
                    .map_err(|e| Error::io("write events", "stdout", e))
            };
            if *stats {
                print(&events::stats(root, container_id)?)?;
            } else {
                events::watch(root, container_id, every, print)?;
            }
        }
        Cmd::Spec { bundle, rootless } => write_spec(bundle.as_deref(), *rootless)?,
        Cmd::Checkpoint { .. } => {
            return Err(Error::Invalid(
                "checkpoint is not supported: berth-runtime has no CRIU integration; the container is left as it was".into(),
            ))
        }
        Cmd::Restore { .. } => {
            return Err(Error::Invalid(
                "restore is not supported: berth-runtime has no CRIU integration".into(),
            ))
        }
    }
    Ok(0)
}

/// runc's table: ps(1)'s own output (`ps -ef` unless options are given), header and the
/// lines of the container's processes, found by the PID column.
fn ps_table(pids: &[i32], args: &[String]) -> Result<(), Error> {
    let args: Vec<&str> = if args.is_empty() {
        vec!["-ef"]
    } else {
        args.iter().map(String::as_str).collect()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::io("run", "ps", e))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Invalid(format!("no PID column in ps output: {header}")))?;
    println!("{header}");
    for l in lines {
        if let Some(pid) = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&pid) {
                println!("{l}");
            }
        }
    }
    Ok(())
}

/// The LinuxResources of an `update`: the JSON of -r, or the flags (runc ignores the flags
/// when -r is given, and so do we).
fn update_resources(a: &UpdateArgs) -> Result<oci_spec::runtime::LinuxResources, Error> {
    use berth_runtime::update::parse_bytes;
    if let Some(src) = &a.resources {
        let data = if src.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                .map_err(|e| Error::io("read", "stdin", e))?;
            buf
        } else {
            std::fs::read(src).map_err(|e| Error::io("read", src, e))?
        };
        return serde_json::from_slice(&data).map_err(|e| Error::InvalidSpec {
            path: src.clone(),
            msg: format!("not a LinuxResources JSON: {e}"),
        });
    }
    let mut v = serde_json::json!({});
    if let Some(m) = &a.memory {
        v["memory"]["limit"] = parse_bytes("memory", m)?.into();
    }
    if let Some(m) = &a.memory_reservation {
        v["memory"]["reservation"] = parse_bytes("memory-reservation", m)?.into();
    }
    if let Some(m) = &a.memory_swap {
        v["memory"]["swap"] = parse_bytes("memory-swap", m)?.into();
    }
    if let Some(q) = a.cpu_quota {
        v["cpu"]["quota"] = q.into();
    }
    if let Some(p) = a.cpu_period {
        v["cpu"]["period"] = p.into();
    }
    if let Some(s) = a.cpu_share {
        v["cpu"]["shares"] = s.into();
    }
    if let Some(c) = &a.cpuset_cpus {
        v["cpu"]["cpus"] = c.as_str().into();
    }
    if let Some(m) = &a.cpuset_mems {
        v["cpu"]["mems"] = m.as_str().into();
    }
    if let Some(p) = a.pids_limit {
        v["pids"]["limit"] = p.into();
    }
    if let Some(w) = a.blkio_weight {
        v["blockIO"]["weight"] = w.into();
    }
    serde_json::from_value(v).map_err(|e| Error::Invalid(format!("update: {e}")))
}

/// `spec`: config.json in the bundle directory, never over an existing one (runc's rule).
fn write_spec(bundle: Option<&std::path::Path>, rootless: bool) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = bundle.unwrap_or(std::path::Path::new("."));
    let path = dir.join("config.json");
    let unified = berth_runtime::cgroups::is_unified().unwrap_or(false);
    let spec = berth_runtime::example::example(rootless, unified);
    let data = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                Error::Invalid(format!("file {} exists: remove it first", path.display()))
            }
            _ => Error::io("create", &path, e),
        })?;
    f.write_all(&data)
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|e| Error::io("write", &path, e))
}

/// The process for `exec`: a process.json, or ARGS on top of the container's own process
/// (env, user, capabilities, cwd inherited as runc does).
#[allow(clippy::too_many_arguments)]
fn exec_process(
    file: Option<&std::path::Path>,
    root: &std::path::Path,
    id: &str,
    args: &[String],
    tty: bool,
    cwd: &Option<String>,
    env: &[String],
    user: &Option<String>,
) -> Result<oci_spec::runtime::Process, Error> {
    if let Some(f) = file {
        let data = std::fs::read(f).map_err(|e| Error::io("read", f, e))?;
        return serde_json::from_slice(&data).map_err(|e| Error::InvalidSpec {
            path: f.to_path_buf(),
            msg: e.to_string(),
        });
    }
    if args.is_empty() {
        return Err(Error::Invalid(
            "exec needs --process FILE or a command".into(),
        ));
    }
    let st = container::state(root, id)?;
    let spec = container::load_spec(&st.bundle)?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(args.to_vec()));
    p.set_terminal(Some(tty));
    if let Some(c) = cwd {
        p.set_cwd(c.into());
    }
    let mut e = p.env().clone().unwrap_or_default();
    e.extend(env.iter().cloned());
    p.set_env(Some(e));
    if let Some(u) = user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let parse = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Invalid(format!("--user {u:?}: want UID[:GID]")))
        };
        let mut usr = p.user().clone();
        usr.set_uid(parse(uid)?);
        usr.set_gid(parse(gid)?);
        p.set_user(usr);
    }
    Ok(p)
}

fn features() -> String {
    let caps: Vec<String> = caps_all();
    serde_json::to_string_pretty(&serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro","rw","nosuid","suid","nodev","dev","noexec","exec","sync","async","dirsync","remount","mand","nomand","atime","noatime","diratime","nodiratime","relatime","norelatime","strictatime","bind","rbind","private","rprivate","shared","rshared","slave","rslave","unbindable","runbindable","rro","rnosuid","rnodev","rnoexec"],
        "linux": {
            "namespaces": ["cgroup","ipc","mount","network","pid","user","uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW","SCMP_ACT_ERRNO","SCMP_ACT_KILL","SCMP_ACT_KILL_THREAD","SCMP_ACT_KILL_PROCESS","SCMP_ACT_TRAP","SCMP_ACT_TRACE","SCMP_ACT_LOG"],
                "operators": ["SCMP_CMP_NE","SCMP_CMP_LT","SCMP_CMP_LE","SCMP_CMP_EQ","SCMP_CMP_GE","SCMP_CMP_GT","SCMP_CMP_MASKED_EQ"],
                "archs": ["SCMP_ARCH_X86_64"]
            },
            "apparmor": {"enabled": berth_runtime::security::apparmor_enabled()},
            "selinux": {"enabled": false}
        },
        "annotations": {"org.opencontainers.runc.version": "berth-runtime"}
    }))
    .unwrap_or_default()
}

fn caps_all() -> Vec<String> {
    let mut v: Vec<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
    v.sort();
    v
}
