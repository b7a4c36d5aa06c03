//! OCI lifecycle hooks (config.md "POSIX-platform Hooks"): each hook runs with the
//! container state JSON on stdin, its own args/env, and an optional timeout.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Runs `hooks` in order; the first failure stops the sequence (runtime.md says a failing
/// createRuntime/createContainer/startContainer/prestart hook fails the operation).
pub fn run(kind: &'static str, hooks: &[Hook], state_json: &str) -> Result<()> {
    for hook in hooks {
        run_one(kind, hook, state_json)?;
    }
    Ok(())
}

/// Runs every hook, collecting (not stopping at) failures: poststart and poststop errors are
/// only warnings per the spec.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &str) -> Vec<Error> {
    hooks
        .iter()
        .filter_map(|h| run_one(kind, h, state_json).err())
        .collect()
}

fn run_one(kind: &'static str, hook: &Hook, state_json: &str) -> Result<()> {
    let path = hook.path().clone();
    let err = |msg: String| Error::Hook {
        kind,
        path: path.clone(),
        msg,
    };
    let mut cmd = Command::new(&path);
    if let Some(args) = hook.args() {
        // args[0] is argv[0] (execv semantics), like the spec says.
        if let Some((first, rest)) = args.split_first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, first);
            cmd.args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| err(format!("start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not make us fail: ignore EPIPE.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(err(format!("exited with {status}"))),
            Ok(None) => {}
            Err(e) => return Err(err(format!("wait: {e}"))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(err(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or(0)
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
