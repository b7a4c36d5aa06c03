//! Building images from Dockerfiles: parse (parser.rs, words.rs), plan the stages, run each
//! step into an image config in the store with a layer per filesystem change (pack.rs),
//! skipping steps the cache (cache.rs) already has. RUN steps go through `StepRunner`,
//! which the engine implements: this crate knows nothing of containers.

pub mod ignore;
pub mod instructions;
pub mod parser;
pub mod words;

pub use instructions::{Cmd, CmdLine, Dockerfile, Instruction};
pub use parser::{parse, ParseError};
