//! `berth run`.

use std::path::Path;

use anyhow::Result;

use crate::engine::{self, RunOptions};

pub fn run(root: &Path, o: RunOptions) -> Result<i32> {
    engine::run(root, &o)
}
