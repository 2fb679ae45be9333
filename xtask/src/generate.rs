//! `cargo xtask generate`: renders every environment into generated/<env>/ and checks for drift.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Do not write; exit non-zero listing the files that are stale.
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args) -> Result<()> {
    let _ = args.check;
    anyhow::bail!("not yet implemented")
}
