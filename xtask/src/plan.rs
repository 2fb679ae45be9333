//! `cargo xtask plan <env>`: deploy's path up to the plan summary, applying nothing. With
//! `--detailed-exitcode` it exits like `terraform plan -detailed-exitcode` — 0 no changes, 1 error,
//! 2 changes — so CI can see drift; `--summary-file` writes the summary as Markdown for a PR comment.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::deploy;
use crate::exec::print_dry_run;
use crate::target;
use crate::terraform::Terraform;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Exit 2 when the plan has changes (0 when none, 1 on error), like terraform's -detailed-exitcode.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Use the Lambda zips already in target/lambda/ instead of building.
    #[arg(long)]
    pub skip_build: bool,
    /// Also write the plan summary as Markdown to FILE (for a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
    #[command(flatten)]
    pub common: target::Common,
}

pub fn run(root: &Path, args: Args) -> Result<ExitCode> {
    let target = args.common.target()?;
    let tf = Terraform::new(root, &target, &args.common.terraform)?;
    if args.common.dry_run {
        let steps = deploy::plan_steps(root, &target, &tf, args.skip_build);
        print_dry_run(&format!("cargo xtask plan {}", target.name()), &steps);
        return Ok(ExitCode::SUCCESS);
    }
    let plan = deploy::Plan {
        skip_build: args.skip_build,
        summary_file: args.summary_file.as_deref(),
        summary: deploy::Detail::Full,
    };
    let summary = deploy::build_and_plan(root, &target, &tf, &plan)?;
    Ok(if args.detailed_exitcode && !summary.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
