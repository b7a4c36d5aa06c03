//! Typed Dockerfile instructions, as the parser (parser.rs) makes them from the text. Words
//! that Docker substitutes variables in are kept raw (quotes and escapes in place); the
//! builder expands them with the stage's ARGs and ENVs when it reaches them.

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// The escape character (`# escape=`): `\` or `` ` ``.
    pub escape: char,
    /// `# syntax=` when given (recorded; berth has one frontend).
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// 1-based line of its keyword.
    pub line: usize,
    /// Its text with continuations joined (for the cache key, history and progress).
    pub text: String,
    pub cmd: Cmd,
}

/// A command line in exec (JSON array) or shell form.
#[derive(Debug, Clone, PartialEq)]
pub enum CmdLine {
    Exec(Vec<String>),
    Shell(String),
}

/// A here-document (`<<EOF`, `<<-EOF`, `<<"EOF"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
    /// Unquoted delimiter: variables in the body are expanded (COPY; RUN leaves it to the
    /// shell).
    pub expand: bool,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CopyArgs {
    /// Raw sources (or heredoc names for heredocs).
    pub srcs: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub checksum: Option<String>,
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// `["NONE"]` disables an inherited check; otherwise `CMD`/`CMD-SHELL` and the words.
    pub test: Vec<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    From {
        /// Raw: ARGs declared before the first FROM are substituted.
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        cmd: CmdLine,
        heredocs: Vec<Heredoc>,
        /// `--network=` of this step (default, none, host).
        network: Option<String>,
    },
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Copy(CopyArgs),
    Add(CopyArgs),
    /// Raw `key=value` words (the legacy `ENV key value` made into one).
    Env(Vec<String>),
    /// Raw `name` or `name=default` words.
    Arg(Vec<String>),
    Label(Vec<String>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Healthcheck(Health),
    Shell(Vec<String>),
    StopSignal(String),
    /// The trigger's text, run when the image is used as a base.
    Onbuild(String),
    Maintainer(String),
}

impl Cmd {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Cmd::From { .. } => "FROM",
            Cmd::Run { .. } => "RUN",
            Cmd::Cmd(_) => "CMD",
            Cmd::Entrypoint(_) => "ENTRYPOINT",
            Cmd::Copy(_) => "COPY",
            Cmd::Add(_) => "ADD",
            Cmd::Env(_) => "ENV",
            Cmd::Arg(_) => "ARG",
            Cmd::Label(_) => "LABEL",
            Cmd::Workdir(_) => "WORKDIR",
            Cmd::User(_) => "USER",
            Cmd::Expose(_) => "EXPOSE",
            Cmd::Volume(_) => "VOLUME",
            Cmd::Healthcheck(_) => "HEALTHCHECK",
            Cmd::Shell(_) => "SHELL",
            Cmd::StopSignal(_) => "STOPSIGNAL",
            Cmd::Onbuild(_) => "ONBUILD",
            Cmd::Maintainer(_) => "MAINTAINER",
        }
    }
}
