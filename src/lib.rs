//! The berth engine as a library: the CLI's argument structs, its verbs, and the engine
//! they call. `main.rs` parses and dispatches; fuzz targets and other front ends (compose,
//! build) reach the same code through here.

pub mod cli;
pub mod commands;
pub mod compose;
pub mod engine;
pub mod exit;
pub mod monitor;
pub mod sys;
pub mod template;

pub mod text;

pub use text::{error_chain, escape_controls, for_terminal};
