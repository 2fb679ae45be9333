//! `cargo xtask local`: the pipeline end to end on this machine, with no AWS account. For now it runs the
//! end-to-end scenario the tests use (moto server + the receiver + the real handler through the local event
//! source mapping); the local-run issue replaces it with a deployment of generated/local.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::{run, setup};

pub fn run_local(root: &Path) -> Result<()> {
    setup::run_setup(root)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo)
        .args([
            "test",
            "--package",
            "app",
            "--test",
            "aggregator",
            "--",
            "--nocapture",
            "--test-threads",
            "2",
        ])
        .current_dir(root))
}
