//! `berth`: parse, dispatch, print the error chain once, exit with a meaningful code.
//!
//! A C `main` (`no_main`): berth_runtime::start_process says what of Rust's start-up
//! it replaces, and why.
#![no_main]

use std::path::Path;

use clap::{CommandFactory, FromArgMatches};

use berth::cli::{
    BuilderCmd, Cli, Cmd, ContainerCmd, ContainerVerb, ImageCmd, ImageVerb, ObjectType, SystemCmd,
};
use berth::commands::{
    build, compose, container, events, image, inspect, network, run, system, volume,
};
use berth::engine;
use berth::exit::{verb_status, EXIT_BERTH};

#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    berth_runtime::start_process();
    let code = berth_main();
    berth_runtime::end_process(code)
}

fn berth_main() -> u8 {
    // A container init re-executed from this binary goes no further.
    berth_runtime::init::maybe_run_init();
    // So is a container's monitor.
    berth::monitor::maybe_run(&engine::host::EngineHost);
    no_error_backtraces();
    let mut cmd = Cli::command();
    let parsed = cmd
        .try_get_matches_from_mut(drop_in_args(std::env::args_os()))
        .and_then(|mut m| Cli::from_arg_matches_mut(&mut m).map_err(|e| e.format(&mut cmd)));
    // Not dropped: freeing clap's tree of every verb is a tenth of a short command's own
    // work, and the process ends soon.
    std::mem::forget(cmd);
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if cli.debug {
        berth_runtime::debug::enable();
    }
    let starts = starts_container(&cli.cmd);
    if !streams_a_container(&cli.cmd) {
        // `berth ps -q | head -1`: a closed stdout ends the listing quietly, as Docker's
        // CLI does, instead of a panic in println!. Verbs that pump a container's output
        // keep SIGPIPE ignored: they must outlive a reader that went away.
        berth::sys::default_sigpipe();
    }
    match dispatch(cli) {
        Ok(code) => code.clamp(0, 255) as u8,
        Err(e) => {
            let (code, msg) = engine::exit_error(&e);
            eprintln!("berth: {}", berth::for_terminal(&msg));
            verb_status(code, starts).clamp(1, 255) as u8
        }
    }
}

/// berth prints an error's chain, never a backtrace of it; but under RUST_BACKTRACE=1 anyhow
/// captures one for every error made, also one made and dropped on a path that goes on, and
/// in a static binary the first capture sorts the unwind table of the whole binary: 3-14 ms
/// a command (`run -d` + `rm -f`: 24 -> 42 ms). RUST_LIB_BACKTRACE=0 turns the captures off
/// unless the user set that variable; a panic still follows RUST_BACKTRACE. Called while the
/// process has one thread, before anything reads the environment.
fn no_error_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
}

/// Drop-in names: invoked as `docker-compose` (a link to berth) berth is `berth compose`;
/// as `docker` it is berth.
fn drop_in_args(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = args.collect();
    let name = v
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "docker-compose" {
        v.insert(1, "compose".into());
    }
    v
}

/// Docker's statuses for what the parser refuses: help and version (also a bare `berth` or
/// `berth image`) succeed, an unknown command is 1, any other usage error (unknown flag, bad
/// value, missing argument) is 125. clap's message is printed as it is.
fn usage_error(e: &clap::Error) -> u8 {
    use clap::error::ErrorKind;
    let code = match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        ErrorKind::InvalidSubcommand => 1,
        _ => EXIT_BERTH as u8,
    };
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // A bare `berth`, as a bare `docker`: the help on stdout.
        print!("{}", e.render());
    } else {
        // Nothing more can be said if stderr (or stdout, for help) is closed.
        let _ = e.print();
    }
    code
}

/// The container verb `cmd` names, top-level or under `container`.
fn verb_of(cmd: &Cmd) -> Option<&ContainerVerb> {
    match cmd {
        Cmd::Containers(v) => Some(v),
        Cmd::Container {
            cmd: ContainerCmd::Verb(v),
        } => Some(v),
        _ => None,
    }
}

/// The verbs whose own failures exit 125 as Docker's do (exit::verb_status).
fn starts_container(cmd: &Cmd) -> bool {
    matches!(
        verb_of(cmd),
        Some(ContainerVerb::Run(_) | ContainerVerb::Create(_) | ContainerVerb::Start(_))
    )
}

/// Verbs that stream a running container's output and reap it: run, exec, start.
fn streams_a_container(cmd: &Cmd) -> bool {
    use berth::cli::ComposeCmd;
    if let Cmd::Compose(c) = cmd {
        return matches!(
            c.cmd,
            ComposeCmd::Up(_) | ComposeCmd::Logs(_) | ComposeCmd::Run(_) | ComposeCmd::Exec(_)
        );
    }
    matches!(
        verb_of(cmd),
        Some(
            ContainerVerb::Run(_)
                | ContainerVerb::Exec(_)
                | ContainerVerb::Start(_)
                | ContainerVerb::Attach(_)
        )
    )
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    // `version` reads no root: it works for anyone, before any root exists.
    if let Cmd::Version(a) = &cli.cmd {
        system::version(a.format.as_deref())?;
        return Ok(0);
    }
    // login/logout touch the user's config.json only, not berth's root.
    if let Cmd::Login {
        username,
        password,
        password_stdin,
        insecure_registry,
        server,
    } = cli.cmd
    {
        image::login(
            server.as_deref(),
            username,
            password,
            password_stdin,
            &insecure_registry,
        )?;
        return Ok(0);
    }
    if let Cmd::Logout { server } = &cli.cmd {
        image::logout(server.as_deref())?;
        return Ok(0);
    }
    // The monitor and the runtime work from "/": the root must not depend on the cwd.
    let root = std::path::absolute(&cli.root)?;
    let root = root.as_path();
    engine::fsutil::check_root(root)?;
    engine::fsutil::prepare_root(root)?;
    match cli.cmd {
        Cmd::Compose(a) => return compose::dispatch(root, a),
        Cmd::ImageVerbs(v) => image_verb(root, v)?,
        Cmd::Images(a) => image::images(root, a.quiet, a.format.as_deref(), a.no_trunc)?,
        Cmd::Rmi(a) => image::rmi(root, a.force, &a.images)?,
        Cmd::Image { cmd } => match cmd {
            ImageCmd::Verb(v) => image_verb(root, v)?,
            ImageCmd::Inspect { images, format } => {
                image::inspect(root, &images, format.as_deref())?
            }
            ImageCmd::Prune { all, force } => image::prune(root, all, force)?,
            ImageCmd::Ls(a) => image::images(root, a.quiet, a.format.as_deref(), a.no_trunc)?,
            ImageCmd::Rm(a) => image::rmi(root, a.force, &a.images)?,
        },
        Cmd::Containers(v) => return container_verb(root, v),
        Cmd::Container { cmd } => match cmd {
            // `container inspect` is `inspect --type container`.
            ContainerCmd::Verb(ContainerVerb::Inspect(mut a)) => {
                a.kind = Some(ObjectType::Container);
                inspect::inspect(root, &a)?
            }
            ContainerCmd::Verb(v) => return container_verb(root, v),
            ContainerCmd::Prune { force } => container::prune(root, force)?,
        },
        Cmd::Volume { cmd } => volume::dispatch(root, cmd)?,
        Cmd::Network { cmd } => network::dispatch(root, cmd)?,
        Cmd::Builder {
            cmd: BuilderCmd::Prune { all: _, force },
        } => build::prune(root, force)?,
        Cmd::DnsServe { network: n } => berth::engine::network::dns::serve(root, &n)?,
        Cmd::StartMade { containers } => container::start_made(root, &containers)?,
        Cmd::Version(_) | Cmd::Login { .. } | Cmd::Logout { .. } => {}
        Cmd::Search { .. } => anyhow::bail!(
            "search is out of scope for berth: it does not search registries (see berth search --help)"
        ),
        Cmd::Events(a)
        | Cmd::System {
            cmd: SystemCmd::Events(a),
        } => events::events(root, &a)?,
        Cmd::Info(a)
        | Cmd::System {
            cmd: SystemCmd::Info(a),
        } => system::info(root, a.format.as_deref())?,
        Cmd::System {
            cmd: SystemCmd::Df { verbose, format },
        } => system::df(root, verbose, format.as_deref())?,
        Cmd::System {
            cmd:
                SystemCmd::Prune {
                    all,
                    volumes,
                    force,
                },
        } => system::prune(root, all, volumes, force)?,
    }
    Ok(0)
}

/// The image verbs that have the same name at the top level and under `image`.
fn image_verb(root: &Path, v: ImageVerb) -> anyhow::Result<()> {
    match v {
        ImageVerb::Build(a) => build::build(root, *a),
        ImageVerb::Import {
            file,
            reference,
            change,
        } => image::import(root, &file, reference.as_deref(), &change),
        ImageVerb::Load { input, quiet } => image::load(root, input.as_deref(), quiet),
        ImageVerb::Save {
            output,
            format,
            images,
        } => image::save(root, output.as_deref(), &format, &images),
        ImageVerb::Pull {
            image: img,
            platform,
            insecure_registry,
            quiet,
        } => image::pull(root, &img, platform, insecure_registry, quiet),
        ImageVerb::Push {
            image: img,
            insecure_registry,
            quiet,
        } => image::push(root, &img, insecure_registry, quiet),
        ImageVerb::Tag { source, target } => image::tag(root, &source, &target),
        ImageVerb::History { image: img, format } => image::history(root, &img, format.as_deref()),
    }
}

/// The container verbs, at the top level and under `container`; those with an exit status
/// of their own (run, exec) return it.
fn container_verb(root: &Path, v: ContainerVerb) -> anyhow::Result<i32> {
    match v {
        ContainerVerb::Run(a) => run::run(root, *a),
        ContainerVerb::Create(a) => run::create(root, *a).map(|()| 0),
        ContainerVerb::Exec(a) => container::exec(root, a),
        ContainerVerb::Inspect(a) => inspect::inspect(root, &a).map(|()| 0),
        ContainerVerb::Attach(a) => engine::attach::attach(
            root,
            &a.container,
            &engine::attach::AttachOptions {
                detach_keys: engine::attach::parse_detach_keys(&a.detach_keys)?,
                no_stdin: a.no_stdin,
                sig_proxy: a.sig_proxy,
            },
        ),
        v => container::dispatch(root, v).map(|()| 0),
    }
}
