//! Fault points for the teardown tests: in a debug build (the one the tests drive),
//! `BERTH_FAULT=<point>` makes the step of that name fail, so a test can check that a
//! failure at any step leaves nothing on the host. Release builds compile the check away.

/// Fails with "injected fault at NAME" when `BERTH_FAULT` names this point (debug builds).
pub fn point(name: &str) -> anyhow::Result<()> {
    #[cfg(debug_assertions)]
    if std::env::var_os("BERTH_FAULT").is_some_and(|v| v == name) {
        anyhow::bail!("injected fault at {name}");
    }
    let _ = name;
    Ok(())
}
