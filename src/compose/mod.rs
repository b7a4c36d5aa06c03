//! `berth compose`: a compose project (files, model, interpolation, merge) and what `up`,
//! `down` and the other verbs do with it through the engine.
//!
//! load.rs reads and checks the files (normalize.rs, interpolate.rs, merge.rs into
//! model.rs's types); plan.rs turns a service into the engine's ContainerConfig and says
//! what `up` must do; apply.rs does it (containers, networks, volumes, in dependency order).

pub mod apply;
pub mod attach;
pub mod files;
pub mod images;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod plan;
pub mod show;
pub mod yaml;

pub use load::{load, LoadOptions, Project};
