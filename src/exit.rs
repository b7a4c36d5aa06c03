//! Exit statuses as Docker gives them: 125 for berth's own failures, 126 for a command that
//! cannot be executed, 127 for one that is not found, else the container's own status. A
//! ground-floor module: the engine and the monitor both use it.

/// Exit status for berth's own failures, as Docker uses it.
pub const EXIT_BERTH: i32 = 125;

/// Docker's CLI ends with 125 for its own failures only in the verbs that start a container
/// (`run`, `create`, `start`), where a script must tell them from the container's status;
/// every other verb fails with 1 (`stop nosuch`, `logs nosuch`, `rm` of a running one).
/// Statuses from a failed exec (126, 127) are kept.
pub fn verb_status(code: i32, starts_container: bool) -> i32 {
    if code == EXIT_BERTH && !starts_container {
        1
    } else {
        code
    }
}

/// An error that carries the exit status berth should end with (126, 127, ...).
#[derive(Debug)]
pub struct ExitError {
    pub code: i32,
    pub msg: String,
}

impl std::fmt::Display for ExitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ExitError {}

/// The exit status and message for an error: 127 when the command is not found, 126 when it
/// cannot be executed, 125 for everything else (Docker's convention).
pub fn exit_error(e: &anyhow::Error) -> (i32, String) {
    if let Some(x) = e.downcast_ref::<ExitError>() {
        return (x.code, x.msg.clone());
    }
    if let Some(berth_runtime::Error::Init { step, msg, errno }) = e.downcast_ref() {
        // From the init's typed report: the step that failed and its errno, not the text.
        let finding = step == "prepare process" || step == "exec";
        match (finding, *errno) {
            (true, Some(libc::ENOENT)) => return (127, msg.clone()),
            (true, Some(libc::EACCES | libc::ENOEXEC | libc::EPERM | libc::ENOTDIR)) => {
                return (126, msg.clone())
            }
            (_, _) if step == "exec" => return (126, msg.clone()),
            _ => {}
        }
    }
    (EXIT_BERTH, crate::text::error_chain(e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_container_starting_verbs_keep_125() {
        assert_eq!(super::verb_status(125, true), 125);
        assert_eq!(super::verb_status(125, false), 1);
        assert_eq!(super::verb_status(127, false), 127);
        assert_eq!(super::verb_status(126, true), 126);
    }
}
