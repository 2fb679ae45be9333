//! `cargo xtask`: the one entry point for people and CI (see README.md).

mod generate;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, check, deploy and run the file aggregation pipeline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render every environment into generated/<env>/ (Terraform JSON and documents).
    Generate(generate::Args),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate(args) => generate::run(args),
    }
}
