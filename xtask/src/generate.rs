//! `cargo xtask generate`: renders every environment into generated/<env>/ (Terraform JSON and documents) and
//! the aggregator's variables into README.md's Configuration table, checks for drift with `--check`, and runs
//! `terraform validate` on each environment with `--validate`.

use std::path::Path;

use anyhow::{Context, Result, bail};

#[derive(clap::Args)]
pub struct Args {
    /// Do not write; exit non-zero listing the files that are stale.
    #[arg(long)]
    check: bool,
    /// Also run `terraform init -backend=false` and `terraform validate` on a copy of each environment
    /// (providers from TF_PLUGIN_DIR or another mirror when one is present, else from the registry).
    #[arg(long)]
    validate: bool,
    /// Only this environment (default: all).
    #[arg(long)]
    env: Option<String>,
}

pub fn run(root: &Path, args: Args) -> Result<()> {
    let generated = root.join("generated");
    let envs = match &args.env {
        Some(name) => vec![crate::target::environment(name)?],
        None => environments::all(),
    };
    let mut stale = Vec::new();
    for env in envs {
        let name = env.name.clone();
        let files = infra_gen::generate(env).with_context(|| format!("generating {name}"))?;
        let dir = generated.join(&name);
        if args.check {
            stale.extend(infra_gen::output::stale(&dir, &files)?);
        } else {
            for change in infra_gen::output::write(&dir, &files)? {
                println!("{change}");
            }
        }
        if args.validate {
            let providers = infra_gen::terraform::Providers::find();
            infra_gen::terraform::validate(&dir, providers)
                .with_context(|| format!("terraform validate of generated/{name}"))?;
            println!("terraform validate: generated/{name} is valid");
        }
    }
    let readme = root.join("README.md");
    match infra_gen::output::readme(&readme, !args.check)? {
        Some(change) if args.check => stale.push(change),
        Some(change) => println!("{change}"),
        None => {}
    }
    if !stale.is_empty() {
        for s in &stale {
            eprintln!("{s}");
        }
        bail!(
            "{} generated files are stale: run `cargo xtask generate` and commit generated/ and README.md",
            stale.len()
        );
    }
    Ok(())
}
