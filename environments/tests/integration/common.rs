//! Helpers shared by the integration tests: paths from the workspace root and the tools they run. A missing
//! tool fails the test with what to run; nothing is skipped. Terraform runs through
//! `infra_gen::terraform`, with the offline provider mirror when one is configured and the registry
//! otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("environments/ is inside the workspace")
        .to_path_buf()
}

pub fn generated(env: &str) -> PathBuf {
    workspace().join("generated").join(env)
}

/// Every environment's name.
pub fn names() -> Vec<String> {
    environments::names()
}

/// A tool of the project's Python environment, or a failure saying to run `cargo xtask setup`.
pub fn venv_tool(tool: &'static str) -> PathBuf {
    emulator::venv_tool(tool).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a command; its combined output and whether it succeeded.
pub fn run(command: &mut Command) -> (bool, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}
