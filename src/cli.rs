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

/// The verbs. Every subcommand enum is `defer`red: clap builds a subcommand's arguments only
/// when the command line selects it, instead of the whole tree (some 1 MB of heap and a third
/// of a `berth ps`'s start-up). A doc comment on an `Args` struct or a flattened enum would
/// then replace the variant's help line, so those carry plain comments.
#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Define and run multi-container applications (docker compose)
    Compose(ComposeArgs),
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
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: NetworkCmd,
    },
    /// A network's DNS server (started by berth itself with the network's first container)
    #[command(hide = true)]
    DnsServe { network: String },
    /// Starts containers a `compose up` just made, one child per container (the caller
    /// healed the root: healing here would take down its other made, unstarted containers)
    #[command(hide = true)]
    StartMade { containers: Vec<String> },
    /// Show berth's version, the runtime's, the kernel's, the cgroup version and driver, the storage driver
    Version(FormatArg),
    /// Show system-wide information: containers, images, drivers, kernel, CPUs, memory
    Info(FormatArg),
    /// Show events: what berth commands and monitors did, from the root's event log; follows unless --until
    Events(EventsArgs),
    /// Out of scope: berth does not search registries (Docker Hub's search API); use the registry's web site or `skopeo list-tags`
    Search {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Log in to a registry (credentials kept in ~/.docker/config.json, as Docker keeps them)
    Login {
        /// Username
        #[arg(long, short)]
        username: Option<String>,
        /// Password (visible to other users in the process list: prefer --password-stdin)
        #[arg(long, short)]
        password: Option<String>,
        /// Read the password from stdin
        #[arg(long)]
        password_stdin: bool,
        /// Speak plain http to this registry (localhost and 127.0.0.1 always are)
        #[arg(long = "insecure-registry")]
        insecure_registry: Vec<String>,
        /// Registry (default: Docker Hub)
        server: Option<String>,
    },
    /// Log out from a registry (forget its credentials)
    Logout {
        /// Registry (default: Docker Hub)
        server: Option<String>,
    },
    /// Manage berth: information about the root and the host
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum SystemCmd {
    /// Show events (as `berth events`)
    Events(EventsArgs),
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
pub struct EventsArgs {
    /// Events since: RFC 3339, Unix seconds, or a duration ago (10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Events until (then stop): RFC 3339, Unix seconds, or a duration ago
    #[arg(long)]
    pub until: Option<String>,
    /// Filter: type=, event=, container=, image=, label=KEY[=VALUE], volume=, network=
    #[arg(long, short)]
    pub filter: Vec<String>,
    /// json (one object per line), or a Go template such as '{{.Action}} {{.Actor.ID}}'
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(clap::Args)]
pub struct FormatArg {
    /// json (one line), or a Go template such as '{{.Server.Version}}' or '{{json .}}'
    #[arg(long, short)]
    pub format: Option<String>,
}

// The image verbs with the same name at the top level (`berth pull`) and under `berth image`.
#[derive(Subcommand)]
#[command(defer = true)]
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
        /// table (default), json (one object a line), `table TEMPLATE`, or a Go template
        /// such as '{{.ID}}: {{.Names}}'
        #[arg(long)]
        format: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Only show image ids
    #[arg(long, short)]
    pub quiet: bool,
    /// table (default), json (one object a line), `table TEMPLATE`, or a Go template
    /// such as '{{.ID}}: {{.Names}}'
    #[arg(long)]
    pub format: Option<String>,
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

// The container verbs, at the top level (`berth ps`) and under `berth container`.
#[derive(Subcommand)]
#[command(defer = true)]
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
    /// List a container's published ports, or the host side of one: PORT[/PROTO]
    Port {
        container: String,
        port: Option<String>,
    },
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
    Top {
        container: String,
        /// Options for ps(1) (default -ef), e.g. `aux` or `-o pid,comm`
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Live resource use of containers (CPU, memory, pids), from their cgroups
    Stats(StatsArgs),
    /// Change containers' limits and restart policy (running ones at once)
    Update(UpdateArgs),
    /// Attach this terminal to a running container's input and output (detach: Ctrl-P Ctrl-Q)
    Attach(AttachArgs),
    /// Show the files a container added (A), changed (C) and deleted (D)
    Diff { container: String },
    /// Make a new image from a container's changes
    Commit(CommitArgs),
    /// Write a container's root filesystem as a tar archive (to stdout, or -o FILE)
    Export {
        /// Write to this file instead of stdout
        #[arg(long, short)]
        output: Option<PathBuf>,
        container: String,
    },
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
pub struct AttachArgs {
    /// Keys that detach and leave the container running: ctrl-<c> or a character, comma-separated
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Do not attach stdin
    #[arg(long)]
    pub no_stdin: bool,
    /// Forward signals to the container (not with a tty)
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    pub container: String,
}

#[derive(clap::Args)]
pub struct UpdateArgs {
    /// Memory limit, e.g. 64m, 1g (-1: unlimited)
    #[arg(long, short, allow_negative_numbers = true)]
    pub memory: Option<String>,
    /// Memory plus swap, e.g. 128m (-1: unlimited swap)
    #[arg(long, allow_negative_numbers = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs, e.g. 0.5 (0: no limit)
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(long, short = 'c')]
    pub cpu_shares: Option<u64>,
    /// CPUs the container may run on, e.g. 0-1 or 0,2
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Maximum number of processes (-1: unlimited)
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy: no, on-failure[:N], always, unless-stopped
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct CommitArgs {
    /// Author (e.g. "Jane Doe <jane@example.com>")
    #[arg(long, short)]
    pub author: Option<String>,
    /// Apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, WORKDIR, USER, VOLUME, STOPSIGNAL
    #[arg(long, short)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(long, short)]
    pub message: Option<String>,
    /// Pause the container while committing (--pause=false: do not)
    #[arg(long, short, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG] for the new image
    pub repository: Option<String>,
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
    /// table (default), json (one object a line), `table TEMPLATE`, or a Go template
    /// such as '{{.ID}}: {{.Names}}'
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum NetworkCmd {
    /// Create a bridge network
    Create {
        /// Driver (only bridge)
        #[arg(long, short, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR form (default: the next free one of 172.17-31.0.0/16, 192.168.N.0/20)
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway address (default: the subnet's first)
        #[arg(long)]
        gateway: Option<std::net::Ipv4Addr>,
        /// Containers' addresses come from this part of the subnet
        #[arg(long)]
        ip_range: Option<String>,
        /// No way out of the network
        #[arg(long)]
        internal: bool,
        /// Set metadata: KEY=VALUE
        #[arg(long)]
        label: Vec<String>,
        /// Driver options: com.docker.network.bridge.name=NAME, com.docker.network.driver.mtu=N
        #[arg(long = "opt", short = 'o')]
        opt: Vec<String>,
        /// MTU of the bridge and its containers' interfaces
        #[arg(long)]
        mtu: Option<u32>,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        #[arg(long, short)]
        quiet: bool,
        /// Filter: name=, id=, label=KEY[=VALUE], driver=
        #[arg(long, short)]
        filter: Vec<String>,
        /// table (default), json (one object a line), `table TEMPLATE`, or a Go template
        /// such as '{{.ID}}: {{.Names}}'
        #[arg(long)]
        format: Option<String>,
        /// Do not truncate ids
        #[arg(long)]
        no_trunc: bool,
    },
    /// Show networks as JSON (Docker's shape)
    Inspect {
        /// A Go template, e.g. {{.Id}}, {{json .IPAM}}
        #[arg(long, short)]
        format: Option<String>,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks no container uses
    #[command(alias = "remove")]
    Rm {
        /// Do not fail when a network does not exist
        #[arg(long, short)]
        force: bool,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove every network no container uses; asks first unless -f
    Prune {
        #[arg(long, short)]
        force: bool,
    },
    /// Connect a container to a network
    Connect {
        #[arg(long)]
        alias: Vec<String>,
        #[arg(long)]
        ip: Option<std::net::Ipv4Addr>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        #[arg(long, short)]
        force: bool,
        network: String,
        container: String,
    },
}

#[derive(Subcommand)]
#[command(defer = true)]
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
        /// table (default), json (one object a line), `table TEMPLATE`, or a Go template
        /// such as '{{.ID}}: {{.Names}}'
        #[arg(long)]
        format: Option<String>,
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
#[command(defer = true)]
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
    /// table (default), json (one object a line), `table TEMPLATE`, or a Go template
    /// such as '{{.ID}}: {{.Names}}'
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate ids and commands
    #[arg(long)]
    pub no_trunc: bool,
    /// Show the last N created containers (all states)
    #[arg(long = "last", short = 'n', allow_negative_numbers = true)]
    pub last: Option<i64>,
    /// Show the latest created container (all states)
    #[arg(long, short)]
    pub latest: bool,
    /// Show sizes: the writable layer, and the image under it as "virtual"
    #[arg(long, short)]
    pub size: bool,
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
    /// A Go template, e.g. {{.State.Status}}, {{json .Config}}
    #[arg(long, short)]
    pub format: Option<String>,
    /// Only objects of this type (default: a container, else an image, a volume, a network)
    #[arg(long = "type", value_enum)]
    pub kind: Option<ObjectType>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum PullPolicy {
    Missing,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum ObjectType {
    Container,
    Image,
    Volume,
    Network,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Run in the background under a monitor; print the container id
    #[arg(long, short)]
    pub detach: bool,
    /// Keys that detach from a `run -it` and leave the container running (default ctrl-p,ctrl-q)
    #[arg(long)]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub create: CreateArgs,
}

// What `create` and `run` share: everything a container is made of.
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
    /// Memory plus swap, e.g. 128m (-1: unlimited swap); needs --memory
    #[arg(long, allow_negative_numbers = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit, e.g. 32m: what reclaim works toward under memory pressure
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// CPUs the container may run on, e.g. 0-1 or 0,2
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Size of /dev/shm, e.g. 256m (default 64m)
    #[arg(long)]
    pub shm_size: Option<String>,
    /// OOM score adjustment, -1000 (never killed) to 1000 (killed first)
    #[arg(long, allow_negative_numbers = true)]
    pub oom_score_adj: Option<i64>,
    /// Add a supplementary group: a name from the image's /etc/group, or a gid
    #[arg(long)]
    pub group_add: Vec<String>,
    /// Set a namespaced kernel parameter: KEY=VALUE (net.*, fs.mqueue.*, kernel.shm*/msg*/sem)
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Give the container a host device: HOST[:CONTAINER][:PERMISSIONS] (of r, w, m; default rwm)
    #[arg(long)]
    pub device: Vec<String>,
    /// PID namespace: host (see and signal the host's processes), or the container's own
    #[arg(long, default_value = "")]
    pub pid: String,
    /// IPC namespace: host, private/shareable (its own, the default), none (its own, no /dev/shm)
    #[arg(long, default_value = "")]
    pub ipc: String,
    /// UTS namespace: host (the host's hostname; no --hostname), or the container's own
    #[arg(long, default_value = "")]
    pub uts: String,
    /// Cgroup namespace: private (the default: the container sees its own cgroup as /) or host
    #[arg(long, default_value = "")]
    pub cgroupns: String,
    /// CFS period in microseconds (with --cpu-quota; not with --cpus)
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CFS quota in microseconds per --cpu-period (-1: none; not with --cpus)
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// Read labels from a file: KEY=VALUE lines, # comments
    #[arg(long)]
    pub label_file: Vec<PathBuf>,
    /// Platform of the image: os/arch[/variant]; only this host's runs here
    #[arg(long)]
    pub platform: Option<String>,
    /// Command to run to check health (run by the shell, as the image's HEALTHCHECK CMD)
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between health checks, e.g. 30s, 1m30s (default 30s)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Maximum time one check may take (default 30s)
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Grace time after start during which failing checks do not count (default 0s)
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Time between checks during the start period (default 5s)
    #[arg(long)]
    pub health_start_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy (default 3)
    #[arg(long)]
    pub health_retries: Option<u32>,
    /// Disable any healthcheck, the image's too
    #[arg(long)]
    pub no_healthcheck: bool,
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
    /// Network (default: bridge, the default network): none, host, bridge, NAME, container:NAME, ns:PATH; repeat for several networks
    #[arg(long = "network", alias = "net")]
    pub network: Vec<String>,
    /// IPv4 address on the (first) network
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Another name the container answers to on its networks
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Publish a port: [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp|sctp], ranges as 8000-8010:80-90
    #[arg(long = "publish", short = 'p')]
    pub publish: Vec<String>,
    /// Publish every exposed port on a free host port
    #[arg(long = "publish-all", short = 'P')]
    pub publish_all: bool,
    /// Expose a port (or a range) without publishing it: PORT[-END][/PROTO]
    #[arg(long)]
    pub expose: Vec<String>,
    /// DNS server for /etc/resolv.conf
    #[arg(long)]
    pub dns: Vec<std::net::IpAddr>,
    /// DNS search domain
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// DNS option (e.g. ndots:2)
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a line to /etc/hosts: NAME:IP
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Pull the image first: missing (when not in the store), always, never
    #[arg(long, value_enum, default_value = "missing")]
    pub pull: PullPolicy,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum ImageCmd {
    #[command(flatten)]
    Verb(ImageVerb),
    /// Show an image's manifest and config as JSON
    Inspect {
        /// A Go template, e.g. {{.Id}}, {{json .Config}}
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

    /// Each subcommand's help line, as the parent's help lists it before the deferred build.
    fn abouts(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        for sub in cmd.get_subcommands() {
            let p = format!("{path} {}", sub.get_name());
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push((p.clone(), about));
            abouts(sub, &p, out);
        }
    }

    /// Building a deferred subcommand (what parsing does) must not change the help line its
    /// parent lists: `berth compose --help` starts with what `berth --help` says of compose.
    #[test]
    fn deferred_subcommands_keep_their_help_lines() {
        let mut built = super::Cli::command();
        built.build();
        let mut after = Vec::new();
        abouts(&built, "berth", &mut after);
        assert!(after.len() > 100, "only {} subcommands", after.len());
        for (path, about) in &after {
            assert!(!about.is_empty(), "{path} has no help line");
        }
        // Before the build only the first level is there; compare what it has.
        let mut before = Vec::new();
        abouts(&super::Cli::command(), "berth", &mut before);
        for (path, about) in &before {
            let now = after.iter().find(|(p, _)| p == path).map(|(_, a)| a);
            assert_eq!(now, Some(about), "{path}");
        }
    }
}

// `berth compose`: the project options, then a verb.
#[derive(clap::Args, Debug, Clone)]
#[command(arg_required_else_help = true)]
pub struct ComposeArgs {
    /// Compose file (repeatable; - for stdin); default: compose.yaml or docker-compose.yml here or above
    #[arg(long = "file", short = 'f')]
    pub files: Vec<PathBuf>,
    /// Project name (default: name:, COMPOSE_PROJECT_NAME, or the project directory's name)
    #[arg(long = "project-name", short = 'p')]
    pub project_name: Option<String>,
    /// Project directory: relative paths resolve against it (default: the first file's directory)
    #[arg(long)]
    pub project_directory: Option<PathBuf>,
    /// Variables for interpolation (default: .env in the project directory)
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Enable a profile's services (repeatable)
    #[arg(long)]
    pub profile: Vec<String>,
    /// Accepted for docker compose compatibility (no ANSI colours with never)
    #[arg(long)]
    pub ansi: Option<String>,
    #[command(subcommand)]
    pub cmd: ComposeCmd,
}

#[derive(Subcommand, Debug, Clone)]
#[command(defer = true)]
pub enum ComposeCmd {
    /// Create and start the services' containers (foreground: their logs until Ctrl-C)
    Up(ComposeUp),
    /// Stop and remove the project's containers and networks (-v: volumes too)
    Down(ComposeDown),
    /// List the project's containers
    Ps(ComposePs),
    /// Show the services' output
    Logs(ComposeLogs),
    /// Print the merged, interpolated model
    #[command(alias = "convert")]
    Config(ComposeConfig),
    /// List running compose projects
    Ls(ComposeLs),
    /// Build the services' images
    Build(ComposeServices),
    /// Pull the services' images
    Pull(ComposeServices),
    /// Push the services' images
    Push(ComposeServices),
    /// Create the services' containers without starting them
    Create(ComposeCreate),
    /// Start the services' existing containers
    Start(ComposeServices),
    /// Stop the services' containers
    Stop(ComposeStop),
    /// Restart the services' containers
    Restart(ComposeStop),
    /// Remove the services' stopped containers
    Rm(ComposeRm),
    /// Send a signal to the services' containers
    Kill(ComposeKill),
    /// Pause the services' containers
    Pause(ComposeServices),
    /// Unpause the services' containers
    Unpause(ComposeServices),
    /// Run a command in a running service container
    Exec(ComposeExec),
    /// Run a one-off command in a new container of a service
    Run(ComposeRun),
    /// Show the processes of the services' containers
    Top(ComposeServices),
    /// Print the host address a service's port is published on
    Port(ComposePort),
    /// List the images the services' containers use
    Images(ComposeServices),
    /// Copy files between a service container and the host: SERVICE:SRC DEST or SRC SERVICE:DEST
    Cp(ComposeCp),
    /// Wait for the services' containers to stop; print their exit codes
    Wait(ComposeWait),
    /// Resource use of the services' containers (CPU, memory, pids)
    Stats(ComposeStats),
    /// Follow the services' container events (from berth's event log, as `berth events`)
    Events(ComposeEvents),
    /// Show the compose version berth speaks
    Version,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeServices {
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeCreate {
    /// Build images before creating containers
    #[arg(long)]
    pub build: bool,
    /// Do not build an image that is missing
    #[arg(long)]
    pub no_build: bool,
    /// Recreate containers even if their configuration is unchanged
    #[arg(long)]
    pub force_recreate: bool,
    /// Do not recreate existing containers
    #[arg(long)]
    pub no_recreate: bool,
    /// Scale SERVICE to NUM containers (overrides scale/deploy.replicas)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Remove containers of services no longer in the file
    #[arg(long)]
    pub remove_orphans: bool,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeUp {
    /// Detached: start the containers and return
    #[arg(long, short)]
    pub detach: bool,
    #[command(flatten)]
    pub create: ComposeCreate,
    /// Do not start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Wait for the services to be running and healthy (implies -d)
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds
    #[arg(long)]
    pub wait_timeout: Option<u64>,
    /// Stop every container when one exits (foreground)
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Exit with this service's exit code (implies --abort-on-container-exit)
    #[arg(long, value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Seconds to wait for a container to stop (recreate, Ctrl-C)
    #[arg(long, short = 't')]
    pub timeout: Option<u64>,
    /// Logs without colours
    #[arg(long)]
    pub no_color: bool,
    /// Logs without the name prefix
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Accepted for docker compose compatibility
    #[arg(long)]
    pub quiet_pull: bool,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeDown {
    /// Remove named volumes of the file and anonymous volumes of the containers
    #[arg(long, short)]
    pub volumes: bool,
    /// Remove images: local (those built without an image: name) or all
    #[arg(long, value_name = "local|all")]
    pub rmi: Option<String>,
    /// Remove containers of services no longer in the file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Seconds to wait for a container to stop
    #[arg(long, short = 't')]
    pub timeout: Option<u64>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposePs {
    /// Show stopped containers too
    #[arg(long, short)]
    pub all: bool,
    /// Only ids
    #[arg(long, short)]
    pub quiet: bool,
    /// Only service names
    #[arg(long)]
    pub services: bool,
    /// table or json
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Filter by status (running, exited, ...)
    #[arg(long)]
    pub status: Vec<String>,
    #[arg(value_name = "SERVICE")]
    pub names: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeLogs {
    /// Follow the output
    #[arg(long, short)]
    pub follow: bool,
    /// Lines from the end of each container's log (or "all")
    #[arg(long, short = 'n', default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(long, short)]
    pub timestamps: bool,
    /// No colours
    #[arg(long)]
    pub no_color: bool,
    /// No name prefix
    #[arg(long)]
    pub no_log_prefix: bool,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeConfig {
    /// Print the service names, one a line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one a line
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one a line
    #[arg(long)]
    pub networks: bool,
    /// Print the images, one a line
    #[arg(long)]
    pub images: bool,
    /// Print the profiles, one a line
    #[arg(long)]
    pub profiles: bool,
    /// Only check the files
    #[arg(long, short)]
    pub quiet: bool,
    /// yaml or json
    #[arg(long, default_value = "yaml")]
    pub format: String,
    /// Write to a file instead of stdout
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    pub services_args: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeLs {
    /// Show stopped projects too
    #[arg(long, short)]
    pub all: bool,
    /// Only names
    #[arg(long, short)]
    pub quiet: bool,
    /// table or json
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeStop {
    /// Seconds to wait before killing
    #[arg(long, short = 't')]
    pub timeout: Option<u64>,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeRm {
    /// Do not ask
    #[arg(long, short)]
    pub force: bool,
    /// Stop the containers first
    #[arg(long, short)]
    pub stop: bool,
    /// Remove their anonymous volumes
    #[arg(long, short)]
    pub volumes: bool,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeKill {
    /// Signal to send
    #[arg(long, short, default_value = "SIGKILL")]
    pub signal: String,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeExec {
    /// Run in the background
    #[arg(long, short)]
    pub detach: bool,
    /// No pseudo-terminal (by default one is allocated when stdin and stdout are terminals)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Environment variables
    #[arg(long, short)]
    pub env: Vec<String>,
    /// Working directory
    #[arg(long, short)]
    pub workdir: Option<String>,
    /// User
    #[arg(long, short)]
    pub user: Option<String>,
    /// Which container of the service (1-based)
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeRun {
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run in the background
    #[arg(long, short)]
    pub detach: bool,
    /// Environment variables
    #[arg(long, short)]
    pub env: Vec<String>,
    /// Override the entrypoint
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container name
    #[arg(long)]
    pub name: Option<String>,
    /// Do not start the services it depends on
    #[arg(long)]
    pub no_deps: bool,
    /// No pseudo-terminal (accepted)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// User
    #[arg(long, short)]
    pub user: Option<String>,
    /// Working directory
    #[arg(long, short)]
    pub workdir: Option<String>,
    /// Publish the service's ports
    #[arg(long)]
    pub service_ports: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposePort {
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Which container of the service (1-based)
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: u16,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeCp {
    /// Which container of the service (1-based; default: the first to copy from, all to copy to)
    #[arg(long)]
    pub index: Option<u32>,
    /// Keep uid/gid (archive mode)
    #[arg(long, short)]
    pub archive: bool,
    pub src: String,
    pub dst: String,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeWait {
    /// Take the project down when the containers have stopped
    #[arg(long)]
    pub down_project: bool,
    #[arg(required = true)]
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ComposeEvents {
    /// One JSON object a line: time, type, action, id, service, attributes
    #[arg(long)]
    pub json: bool,
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ComposeStats {
    /// Print one sample and exit
    #[arg(long)]
    pub no_stream: bool,
    /// Show all containers (default: running ones)
    #[arg(long, short)]
    pub all: bool,
    /// table (default), json (one object a line), `table TEMPLATE`, or a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub services: Vec<String>,
}

#[derive(Subcommand)]
#[command(defer = true)]
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

// `berth build`'s flags (Docker's).
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
    /// The build context directory, or - for stdin: a tar archive of the context (plain,
    /// gzip, zstd, xz, bzip2) or a Dockerfile with no context
    pub context: PathBuf,
}
