//! Fault points for the teardown tests: in a debug build (the one the tests drive),
//! `BERTH_FAULT=<point>` makes the step of that name fail, so a test can check that a
//! failure at any step leaves nothing on the host. Release builds compile the check away.

/// Fails with "injected fault at NAME" when `BERTH_FAULT` names this point (debug builds);
/// `BERTH_FAULT=kill@NAME` SIGKILLs this process there instead (a berth killed half-way,
/// for the healing tests).
pub fn point(name: &str) -> anyhow::Result<()> {
    #[cfg(debug_assertions)]
    if let Some(v) = std::env::var_os("BERTH_FAULT") {
        if v == name {
            anyhow::bail!("injected fault at {name}");
        }
        if v.to_str().and_then(|s| s.strip_prefix("kill@")) == Some(name) {
            let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::SIGKILL);
        }
    }
    let _ = name;
    Ok(())
}
