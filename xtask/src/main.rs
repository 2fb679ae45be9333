//! `cargo xtask`: the one entry point for people and CI (see README.md).

mod ci;
mod generate;
mod local;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, check, deploy and run the file aggregation pipeline"
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what tests and local runs need: .venv (moto, cargo-lambda, checkov) and the arm64 target.
    Setup,
    /// Run exactly what CI runs: setup, fmt, clippy, all tests, the arm64 Lambda build.
    Ci,
    /// Run the pipeline end to end on this machine against moto server and the bundled receiver.
    Local,
    /// Render every environment into generated/<env>/ (Terraform JSON and documents).
    Generate(generate::Args),
}

fn main() -> Result<()> {
    let root = workspace_root();
    match Cli::parse().command {
        Task::Setup => setup::run_setup(&root),
        Task::Ci => ci::run_ci(&root),
        Task::Local => local::run_local(&root),
        Task::Generate(args) => generate::run(args),
    }
}

/// The workspace root, whatever the current directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command with inherited output; an error names the command and its exit status.
pub fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("could not start {shown}: is it installed? `cargo xtask setup` installs the project's tools"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}
