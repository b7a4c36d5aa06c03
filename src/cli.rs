//! The `berth` command line: clap derive structs only (Docker's verbs and flags).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    arg_required_else_help = true,
    about = "A daemonless, Docker-compatible container engine",
    long_about = "berth runs containers the way docker does, without a daemon: images, containers, volumes, networks, compose."
)]
pub struct Cli {
    /// Root of berth's state (images, containers)
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    pub root: PathBuf,
    /// Log the steps berth takes, with timings, to stderr
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
pub enum Cmd {
    #[command(flatten)]
    ImageVerbs(ImageVerb),
    /// List images
    Images(ImagesArgs),
    /// Remove images (names; the image goes with its last name)
    Rmi(RmiArgs),
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    #[command(flatten)]
    Containers(ContainerVerb),
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Manage the build cache
    Builder {
        #[command(subcommand)]
        cmd: BuilderCmd,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        cmd: VolumeCmd,
    },
    /// Show berth's version, the runtime's, the kernel's, the cgroup version and driver, the storage driver
    Version(FormatArg),
    /// Show system-wide information: containers, images, drivers, kernel, CPUs, memory
    Info(FormatArg),
    /// Manage berth: information about the root and the host
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
    },
}

#[derive(Subcommand)]
pub enum SystemCmd {
    /// Show system-wide information (as `berth info`)
    Info(FormatArg),
    /// Show disk usage: images, containers (their writable layers), local volumes
    Df {
        /// Show each image, container and volume
        #[arg(long, short)]
        verbose: bool,
        /// json (one line per type), or a Go template such as '{{.Type}} {{.Size}}'
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove stopped containers and unused image data (-a: unused images, --volumes: unused anonymous volumes); asks first unless -f
    Prune {
        /// Remove every image no container uses, not only unreferenced data
        #[arg(long, short)]
        all: bool,
        /// Prune anonymous volumes no container uses too
        #[arg(long)]
        volumes: bool,
        /// Do not ask for confirmation
        #[arg(long, short)]
        force: bool,
    },
}

#[derive(clap::Args)]
pub struct FormatArg {
    /// json (one line), or a Go template such as '{{.Server.Version}}' or '{{json .}}'
    #[arg(long, short)]
    pub format: Option<String>,
}

/// The image verbs with the same name at the top level (`berth pull`) and under `berth image`.
#[derive(Subcommand)]
pub enum ImageVerb {
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Import a root filesystem tarball as an image (like `docker import`)
    Import {
        /// Tarball (plain, gzip or zstd), or - for stdin
        file: String,
        /// Name for the image, e.g. busybox:latest
        reference: Option<String>,
        /// Dockerfile instruction to apply: CMD, ENTRYPOINT, ENV, WORKDIR, EXPOSE, USER, LABEL, VOLUME, STOPSIGNAL
        #[arg(long, short)]
        change: Vec<String>,
    },
    /// Load images from a Docker or OCI archive (gzip or not)
    Load {
        /// Archive to read (default stdin)
        #[arg(long, short)]
        input: Option<PathBuf>,
        /// Print only image ids
        #[arg(long, short)]
        quiet: bool,
    },
    /// Save images to an archive that `docker load` and `podman load` accept
    Save {
        /// Output file (default stdout)
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// docker-archive (default; also an OCI layout) or oci-archive
        #[arg(long, default_value = "docker-archive")]
        format: String,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Pull an image from a registry (OCI distribution API)
    Pull {
        /// Reference, e.g. busybox, localhost:5000/app:1, repo@sha256:...
        image: String,
        /// Platform of a multi-platform image: os/arch[/variant] (default: this host's)
        #[arg(long)]
        platform: Option<String>,
        /// Speak plain http to this registry (localhost and 127.0.0.1 always are)
        #[arg(long = "insecure-registry")]
        insecure_registry: Vec<String>,
        /// No progress output
        #[arg(long, short)]
        quiet: bool,
    },
    /// Push an image to a registry (OCI distribution API)
    Push {
        /// Reference, e.g. localhost:5000/app:1
        image: String,
        /// Speak plain http to this registry (localhost and 127.0.0.1 always are)
        #[arg(long = "insecure-registry")]
        insecure_registry: Vec<String>,
        /// No progress output
        #[arg(long, short)]
        quiet: bool,
    },
    /// Give an image another name
    Tag { source: String, target: String },
    /// Show the history of an image
    History {
        image: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Only show image ids
    #[arg(long, short)]
    pub quiet: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Show full ids
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(clap::Args)]
pub struct RmiArgs {
    /// Remove even if used, and all names of an image given by id
    #[arg(long, short)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// The container verbs, at the top level (`berth ps`) and under `berth container`.
#[derive(Subcommand)]
pub enum ContainerVerb {
    /// Run a command in a new container
    #[command(disable_help_flag = true)]
    Run(Box<RunArgs>),
    /// Create a container without starting it (`start` runs it); print its id
    #[command(disable_help_flag = true)]
    Create(Box<CreateArgs>),
    /// List containers
    #[command(alias = "ls", alias = "list")]
    Ps(PsArgs),
    /// Print a container's logs
    Logs(LogsArgs),
    /// Stop containers: the stop signal, then SIGKILL after the timeout
    Stop(StopArgs),
    /// Start stopped containers (under a new monitor)
    Start(NamesArg),
    /// Stop and start containers
    Restart(StopArgs),
    /// Send a signal to containers' main process
    Kill(KillArgs),
    /// Remove containers
    Rm(RmArgs),
    /// Show containers, images or volumes as JSON, as docker inspect does
    Inspect(InspectArgs),
    /// Wait for containers to stop; print their exit codes
    Wait(NamesArg),
    /// Run a command in a running container
    #[command(disable_help_flag = true)]
    Exec(ExecArgs),
    /// Freeze all processes of containers
    Pause(NamesArg),
    /// Thaw paused containers
    Unpause(NamesArg),
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Show the processes of a container
    Top { container: String },
    /// Live resource use of containers (CPU, memory, pids), from their cgroups
    Stats(StatsArgs),
    /// Copy files between a container and the host: CONTAINER:SRC DEST or SRC CONTAINER:DEST
    Cp {
        /// Keep uid/gid (archive mode)
        #[arg(long, short)]
        archive: bool,
        src: String,
        dst: String,
    },
}

#[derive(clap::Args)]
pub struct ExecArgs {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Keep stdin open
    #[arg(long, short)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(long, short)]
    pub tty: bool,
    /// Run in the background
    #[arg(long, short)]
    pub detach: bool,
    /// Set environment variables
    #[arg(long, short)]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(long, short)]
    pub workdir: Option<String>,
    /// User: name|uid[:group|gid]
    #[arg(long, short)]
    pub user: Option<String>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Print one sample and exit
    #[arg(long)]
    pub no_stream: bool,
    /// Show all containers (default: running ones)
    #[arg(long, short)]
    pub all: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    pub containers: Vec<String>,
}

#[derive(Subcommand)]
pub enum VolumeCmd {
    /// Create a volume (a random name if none is given)
    Create {
        /// Set metadata: KEY=VALUE
        #[arg(long, short)]
        label: Vec<String>,
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        #[arg(long, short)]
        quiet: bool,
        /// Filter: label=KEY[=VALUE], dangling=true|false, name=
        #[arg(long, short)]
        filter: Vec<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Show volumes as JSON
    Inspect {
        #[arg(long, short)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes (never one a container uses)
    #[command(alias = "remove")]
    Rm {
        /// Accepted for Docker compatibility; a volume in use is still refused
        #[arg(long, short)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused anonymous volumes (-a: all unused volumes); asks first unless -f
    Prune {
        /// All unused volumes, named ones too
        #[arg(long, short)]
        all: bool,
        /// Do not ask for confirmation
        #[arg(long, short)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum ContainerCmd {
    #[command(flatten)]
    Verb(ContainerVerb),
    /// Remove all stopped containers; asks first unless -f
    Prune {
        /// Do not ask for confirmation
        #[arg(long, short)]
        force: bool,
    },
}

#[derive(clap::Args)]
pub struct NamesArg {
    /// Container names or ids (unique prefixes do)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all containers (default: running ones)
    #[arg(long, short)]
    pub all: bool,
    /// Only show ids
    #[arg(long, short)]
    pub quiet: bool,
    /// Filter: name=, label=KEY[=VALUE], status=, ancestor=, id=
    #[arg(long, short)]
    pub filter: Vec<String>,
    /// table, or json (one object per line)
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Do not truncate ids and commands
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Follow the log while the container runs
    #[arg(long, short)]
    pub follow: bool,
    /// Number of lines from the end (or "all")
    #[arg(
        long,
        short = 'n',
        default_value = "all",
        allow_negative_numbers = true
    )]
    pub tail: String,
    /// Prefix each line with its timestamp
    #[arg(long, short)]
    pub timestamps: bool,
    /// Only lines since: RFC 3339, Unix seconds, or a duration ago (10m)
    #[arg(long)]
    pub since: Option<String>,
    pub container: String,
}

#[derive(clap::Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL (default: the container's --stop-timeout, or 10)
    #[arg(long, short = 't')]
    pub time: Option<u64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct KillArgs {
    /// Signal to send (name or number)
    #[arg(long, short, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Kill and remove running containers
    #[arg(long, short)]
    pub force: bool,
    /// Also remove the container's anonymous volumes
    #[arg(long, short)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Go-template subset: {{.State.Status}}, {{json .Config}}
    #[arg(long, short)]
    pub format: Option<String>,
    /// Only objects of this type (default: a container, else an image, else a volume)
    #[arg(long = "type", value_enum)]
    pub kind: Option<ObjectType>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum ObjectType {
    Container,
    Image,
    Volume,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Run in the background under a monitor; print the container id
    #[arg(long, short)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// What `create` and `run` share: everything a container is made of.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// Print help (-h is --hostname, as in docker run)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Name of the container (default: a random adjective_surname)
    #[arg(long)]
    pub name: Option<String>,
    /// Keep stdin open
    #[arg(long, short)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(long, short)]
    pub tty: bool,
    /// Set metadata: KEY=VALUE
    #[arg(long, short)]
    pub label: Vec<String>,
    /// Restart policy: no, on-failure[:N], always, unless-stopped
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Signal that stops the container (default: the image's STOPSIGNAL, or SIGTERM)
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Seconds stop waits before SIGKILL
    #[arg(long, allow_negative_numbers = true)]
    pub stop_timeout: Option<i64>,
    /// Log options: max-size=10m, max-file=3
    #[arg(long)]
    pub log_opt: Vec<String>,
    /// Set environment variables (KEY=VALUE, or KEY to pass the caller's value)
    #[arg(long, short)]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines, # comments)
    #[arg(long)]
    pub env_file: Vec<std::path::PathBuf>,
    /// Working directory inside the container
    #[arg(long, short)]
    pub workdir: Option<String>,
    /// Container host name
    #[arg(long, short = 'h')]
    pub hostname: Option<String>,
    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Bind mount or volume: /host/path:/ctr/path[:ro], name:/ctr/path[:ro], or /ctr/path (anonymous)
    #[arg(long, short)]
    pub volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=64m]
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs: /container/path[:size=64m,mode=1777]
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Override the image's ENTRYPOINT
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// User: name|uid[:group|gid], names from the image's /etc/passwd and /etc/group
    #[arg(long, short)]
    pub user: Option<String>,
    /// Memory limit, e.g. 64m, 1g
    #[arg(long, short)]
    pub memory: Option<String>,
    /// Number of CPUs, e.g. 0.5
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(long, short = 'c')]
    pub cpu_shares: Option<u64>,
    /// Maximum number of processes (-1: unlimited)
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// ulimit: name=soft[:hard], e.g. nofile=1024:2048
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add Linux capabilities (e.g. NET_ADMIN, ALL)
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities (e.g. CHOWN, ALL)
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// All capabilities, all devices, no masked or read-only /proc paths
    #[arg(long)]
    pub privileged: bool,
    /// Run a small init as PID 1 that reaps zombies and forwards signals
    #[arg(long)]
    pub init: bool,
    /// Security options: no-new-privileges[:true|false], seccomp=unconfined|PROFILE.json
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Network: none (own empty network namespace, the default for now) or host
    #[arg(long, default_value = "none")]
    pub network: String,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Subcommand)]
pub enum ImageCmd {
    #[command(flatten)]
    Verb(ImageVerb),
    /// Show an image's manifest and config as JSON
    Inspect {
        /// Go-template subset: {{.Id}}, {{json .Config}}
        #[arg(long, short)]
        format: Option<String>,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove what no image refers to (blobs, layers, leftovers of interrupted loads); asks first unless -f
    Prune {
        /// Also remove every image no container uses
        #[arg(long, short)]
        all: bool,
        /// Do not ask for confirmation
        #[arg(long, short)]
        force: bool,
    },
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Remove images
    #[command(alias = "remove")]
    Rm(RmiArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}

#[derive(Subcommand)]
pub enum BuilderCmd {
    /// Remove the build cache
    Prune {
        /// Remove all of it (the only kind berth has)
        #[arg(long, short)]
        all: bool,
        /// Do not ask for confirmation
        #[arg(long, short)]
        force: bool,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum ProgressMode {
    Auto,
    Plain,
    Tty,
    Quiet,
}

/// `berth build`'s flags (Docker's).
#[derive(clap::Args)]
pub struct BuildArgs {
    /// Name and optionally a tag, e.g. web:1 (repeatable)
    #[arg(long = "tag", short = 't')]
    pub tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile; - for stdin)
    #[arg(long = "file", short = 'f')]
    pub file: Option<String>,
    /// A build-time variable KEY=VALUE (KEY alone: from the environment)
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// The stage to build (default: the last)
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the cache
    #[arg(long)]
    pub no_cache: bool,
    /// Pull FROM images even if they are in the store
    #[arg(long)]
    pub pull: bool,
    /// A label KEY=VALUE on the image (repeatable)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// The network of RUN steps: default, none or host
    #[arg(long)]
    pub network: Option<String>,
    /// Progress output: auto, plain, tty, quiet
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Print only the image id
    #[arg(long, short)]
    pub quiet: bool,
    /// Write the image id to this file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// The build context directory
    pub context: PathBuf,
}
