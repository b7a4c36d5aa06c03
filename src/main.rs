//! `berth`: parse, dispatch, print the error chain once, exit with a meaningful code.

use std::process::ExitCode;

use clap::Parser;

use berth::cli::{Cli, Cmd, ContainerCmd, ContainerVerb, ImageCmd, SystemCmd};
use berth::commands::{container, image, inspect, run, system, volume};
use berth::engine;
use berth::exit::{verb_status, EXIT_BERTH};

fn main() -> ExitCode {
    // A container init re-executed from this binary goes no further.
    berth_runtime::init::maybe_run_init();
    // So is a container's monitor.
    berth::monitor::maybe_run(&engine::host::EngineHost);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if cli.debug {
        berth_runtime::debug::enable();
    }
    let starts = starts_container(&cli.cmd);
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let (code, msg) = engine::exit_error(&e);
            eprintln!("berth: {}", berth::for_terminal(&msg));
            ExitCode::from(verb_status(code, starts).clamp(1, 255) as u8)
        }
    }
}

/// Docker's statuses for what the parser refuses: help and version (also a bare `berth` or
/// `berth image`) succeed, an unknown command is 1, any other usage error (unknown flag, bad
/// value, missing argument) is 125. clap's message is printed as it is.
fn usage_error(e: &clap::Error) -> ExitCode {
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
    ExitCode::from(code)
}

/// The verbs whose own failures exit 125 as Docker's do (exit::verb_status).
fn starts_container(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Run(_)
            | Cmd::Containers(ContainerVerb::Start(_))
            | Cmd::Container {
                cmd: ContainerCmd::Verb(ContainerVerb::Start(_))
            }
    )
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    // `version` reads no root: it works for anyone, before any root exists.
    if let Cmd::Version(a) = &cli.cmd {
        system::version(a.format.as_deref())?;
        return Ok(0);
    }
    // The monitor and the runtime work from "/": the root must not depend on the cwd.
    let root = std::path::absolute(&cli.root)?;
    let root = root.as_path();
    engine::fsutil::check_root(root)?;
    engine::fsutil::prepare_root(root)?;
    match cli.cmd {
        Cmd::Import {
            file,
            reference,
            change,
        } => image::import(root, &file, reference.as_deref(), &change)?,
        Cmd::Load { input, quiet } => image::load(root, input.as_deref(), quiet)?,
        Cmd::Save {
            output,
            format,
            images,
        } => image::save(root, output.as_deref(), &format, &images)?,
        Cmd::Pull {
            image: img,
            platform,
            insecure_registry,
            quiet,
        } => image::pull(root, &img, platform, insecure_registry, quiet)?,
        Cmd::Images {
            quiet,
            format,
            no_trunc,
        } => image::images(root, quiet, format, no_trunc)?,
        Cmd::Tag { source, target } => image::tag(root, &source, &target)?,
        Cmd::Rmi { force, images } => image::rmi(root, force, &images)?,
        Cmd::History { image: img, format } => image::history(root, &img, format)?,
        Cmd::Image { cmd } => match cmd {
            ImageCmd::Inspect { images, format } => {
                image::inspect(root, &images, format.as_deref())?
            }
            ImageCmd::Prune { .. } => image::prune(root)?,
            ImageCmd::Ls { quiet, format } => image::images(root, quiet, format, false)?,
            ImageCmd::Rm { force, images } => image::rmi(root, force, &images)?,
        },
        Cmd::Run(args) => return run::run(root, *args),
        Cmd::Containers(ContainerVerb::Exec(a)) => return container::exec(root, a),
        Cmd::Containers(ContainerVerb::Inspect(a)) => inspect::inspect(root, &a)?,
        Cmd::Containers(v) => container::dispatch(root, v)?,
        Cmd::Volume { cmd } => volume::dispatch(root, cmd)?,
        Cmd::Container { cmd } => match cmd {
            ContainerCmd::Verb(ContainerVerb::Exec(a)) => return container::exec(root, a),
            ContainerCmd::Verb(ContainerVerb::Inspect(a)) => inspect::inspect(root, &a)?,
            ContainerCmd::Verb(v) => container::dispatch(root, v)?,
            ContainerCmd::Prune { .. } => container::prune(root)?,
        },
        Cmd::Version(_) => {}
        Cmd::Info(a)
        | Cmd::System {
            cmd: SystemCmd::Info(a),
        } => system::info(root, a.format.as_deref())?,
    }
    Ok(0)
}
