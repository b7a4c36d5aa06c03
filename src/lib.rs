//! The berth engine as a library: the CLI's argument structs, its verbs, and the engine
//! they call. `main.rs` parses and dispatches; fuzz targets and other front ends (compose,
//! build) reach the same code through here.

pub mod cli;
pub mod commands;
pub mod engine;
pub mod pump;

/// The error and its causes on one line, each said once: the library errors already name
/// their source in their message, so a cause the line already holds is not repeated.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if line.contains(&msg) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&msg);
    }
    line
}
