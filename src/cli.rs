//! The `berth` command line: clap derive structs only (Docker's verbs and flags).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
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
    /// List images
    Images {
        /// Only show image ids
        #[arg(long, short)]
        quiet: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Show full ids
        #[arg(long)]
        no_trunc: bool,
    },
    /// Give an image another name
    Tag { source: String, target: String },
    /// Remove images (names; the image goes with its last name)
    Rmi {
        /// Remove even if used, and all names of an image given by id
        #[arg(long, short)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Show the history of an image
    History {
        image: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Run a command in a new container (in the foreground; detached containers come later)
    #[command(disable_help_flag = true)]
    Run(Box<RunArgs>),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Print help (-h is --hostname, as in docker run)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Remove the container when it exits (always done until detached containers exist)
    #[arg(long)]
    pub rm: bool,
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
    /// Bind mount a host path: /host/path:/container/path[:ro]
    #[arg(long, short)]
    pub volume: Vec<String>,
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
    #[arg(long)]
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
    /// Security options: no-new-privileges[:true|false]
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
    /// Show an image's manifest and config as JSON
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove what no image refers to (blobs, layers, leftovers of interrupted loads)
    Prune {
        /// Do not ask (berth never asks; accepted for Docker compatibility)
        #[arg(long, short)]
        force: bool,
    },
    /// List images
    Ls {
        #[arg(long, short)]
        quiet: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Remove images
    Rm {
        #[arg(long, short)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
