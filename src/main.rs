//! `berth`: parse, dispatch, print the error chain once, exit with a meaningful code.

use std::process::ExitCode;

use clap::Parser;

use berth::cli::{Cli, Cmd, ContainerCmd, ContainerVerb, ImageCmd};
use berth::commands::{container, image, inspect, run, volume};
use berth::engine;

fn main() -> ExitCode {
    // A container init re-executed from this binary goes no further.
    berth_runtime::init::maybe_run_init();
    // So is a container's monitor.
    berth::monitor::maybe_run(&engine::host::EngineHost);
    let cli = Cli::parse();
    if cli.debug {
        berth_runtime::debug::enable();
    }
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let (code, msg) = engine::exit_error(&e);
            eprintln!("berth: {}", berth::for_terminal(&msg));
            ExitCode::from(code.clamp(1, 255) as u8)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
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
    }
    Ok(0)
}
