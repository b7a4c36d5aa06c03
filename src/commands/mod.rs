//! One file per group of verbs: arguments in, one engine or store call, output out.

pub mod build;
pub mod compose;
pub mod container;
pub mod events;
pub mod image;
pub mod inspect;
pub mod network;
pub mod output;
pub mod run;
pub mod snapshot;
pub mod system;
pub mod volume;
