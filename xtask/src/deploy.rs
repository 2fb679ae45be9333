//! `cargo xtask deploy <env>`: prerequisites → `cargo lambda build --release` for the environment's
//! architecture → generate → `terraform init` → `terraform plan -out` → the plan's summary → apply of that
//! saved plan after confirmation (`--yes` for CI) → outputs → the release of the published version to the
//! `live` alias ([`crate::release`]). Nothing changed means nothing is applied.
//! `--dry-run` prints every command, with its directory and environment, and runs none.
//!
//! `cargo xtask plan` is this same path up to the summary (see [`crate::plan`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::doctor::{self, Need};
use crate::exec::{DryStep, Show, print_dry_run};
use crate::summary::Summary;
use crate::target::{self, Target};
use crate::terraform::{self, Terraform};
use crate::{lambda, ui};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The environment: local, dev or prod (environments/src/<env>.rs).
    pub env: String,
    /// Apply without asking (CI). Without it, deploy shows the plan summary and asks.
    #[arg(long)]
    pub yes: bool,
    /// Print every command deploy would run, with its working directory and environment; run none.
    #[arg(long)]
    pub dry_run: bool,
    /// Use the Lambda zips already in target/lambda/ (e.g. from CI's build step) instead of building.
    #[arg(long)]
    pub skip_build: bool,
    /// Also write the plan summary as Markdown to FILE (for a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
    #[command(flatten)]
    pub terraform: terraform::Options,
}

pub fn run(root: &Path, args: Args) -> Result<()> {
    let target = target::resolve(&args.env)?;
    let tf = Terraform::new(root, &target, &args.terraform)?;
    let name = target.name().to_string();
    if args.dry_run {
        let mut steps = plan_steps(root, &target, &tf, args.skip_build);
        steps.push(DryStep::Note(if args.yes {
            "no confirmation asked (--yes); apply only when the plan has changes".into()
        } else {
            "ask for confirmation (y/N); apply only when the plan has changes".into()
        }));
        steps.push(DryStep::Run(tf.apply(false)));
        steps.push(DryStep::Run(tf.output()));
        steps.push(DryStep::Note(crate::release::dry_run_note(&target)));
        print_dry_run(&format!("cargo xtask deploy {name}"), &steps);
        return Ok(());
    }
    ui::require_confirmable(args.yes, "the deployment")?;
    let summary = build_and_plan(
        root,
        &target,
        &tf,
        args.skip_build,
        args.summary_file.as_deref(),
    )?;
    if summary.is_empty() {
        println!("No changes: {name} is up to date; nothing to apply.");
    } else {
        if !args.yes && !ui::confirm(&format!("Apply this plan to {name}?"))? {
            bail!("not confirmed: nothing was applied to {name}");
        }
        tf.run_apply(false)?;
        println!("Applied the plan to {name}.");
    }
    let outputs = tf.run_output()?;
    terraform::print_outputs(&name, &outputs);
    crate::runtime()?.block_on(crate::release::after_deploy(&target, &outputs))?;
    if summary
        .changes
        .iter()
        .any(|c| c.address == "aws_secretsmanager_secret.credentials")
    {
        println!(
            "\nNext: put the endpoint credentials with `cargo xtask secret {name}` (the secret is created empty)."
        );
    }
    Ok(())
}

/// What deploy and plan check before anything else.
pub fn needs(target: &Target, skip_build: bool) -> Vec<Need> {
    let mut needs = vec![Need::Terraform];
    if !skip_build {
        needs.extend([Need::CargoLambda, Need::Zig]);
        if target.env().function.architecture == infra_gen::config::Architecture::Arm64 {
            needs.push(Need::Arm64Target);
        }
    }
    // The local environment runs against moto, which takes any key.
    if !target.is_local() {
        needs.push(Need::AwsCredentials);
    }
    needs
}

/// The steps up to the plan summary, for the dry runs of deploy and plan.
pub fn plan_steps(root: &Path, target: &Target, tf: &Terraform, skip_build: bool) -> Vec<DryStep> {
    let needs: Vec<String> = needs(target, skip_build)
        .into_iter()
        .map(|n| n.label().to_string())
        .collect();
    let mut steps = vec![DryStep::Note(format!(
        "check prerequisites: {} (as `cargo xtask doctor` does)",
        needs.join(", ")
    ))];
    if skip_build {
        steps.push(DryStep::Note(format!(
            "use the Lambda zips already built: {}",
            packages(root, target).join(", ")
        )));
    } else {
        steps.push(DryStep::Run(lambda::build(root, target)));
    }
    steps.push(DryStep::Note(format!(
        "render environments/src/{0}.rs into generated/{0}/ (in-process, as `cargo xtask generate --env {0}`)",
        target.name()
    )));
    steps.push(DryStep::Note(tf.prepare_note()));
    steps.push(DryStep::Run(tf.init()));
    steps.push(DryStep::Run(tf.plan(false)));
    steps.push(DryStep::Run(tf.show(false)));
    steps.push(DryStep::Note(
        "print the plan summary: adds, changes, destroys; destroyed and IAM changes in red".into(),
    ));
    steps
}

fn packages(root: &Path, target: &Target) -> Vec<String> {
    lambda::binaries(target)
        .into_iter()
        .map(|bin| terraform::package_path(root, bin).display().to_string())
        .collect()
}

/// Everything up to and including the printed plan summary; shared by deploy and plan.
pub fn build_and_plan(
    root: &Path,
    target: &Target,
    tf: &Terraform,
    skip_build: bool,
    summary_file: Option<&Path>,
) -> Result<Summary> {
    let command = format!("deploy {}", target.name());
    doctor::require(&needs(target, skip_build), root, &command)?;
    if !skip_build {
        lambda::build(root, target).run_ok(Show::Progress)?;
    }
    generate(root, target)?;
    tf.prepare()?;
    tf.run_init()?;
    for bin in lambda::binaries(target) {
        let zip = terraform::package_path(root, bin);
        if !zip.is_file() {
            bail!(
                "the Lambda package {} is missing: {}",
                zip.display(),
                if skip_build {
                    "run without --skip-build, or build it first with `cargo lambda build --release --arm64 --output-format zip`"
                } else {
                    "cargo lambda build did not produce it; see its output above"
                }
            );
        }
    }
    let summary = tf.run_plan(false)?;
    print!("{}", summary.render_text(target.name()));
    if let Some(file) = summary_file {
        std::fs::write(file, summary.render_markdown(target.name()))
            .with_context(|| format!("writing the plan summary to {}", file.display()))?;
    }
    Ok(summary)
}

/// Renders the pipeline `target` validated and composed into generated/<env>/, as `cargo xtask generate`
/// does.
fn generate(root: &Path, target: &Target) -> Result<()> {
    let name = target.name();
    let files = infra_gen::render_checked(&target.pipeline)
        .with_context(|| format!("generating {name}"))?;
    let dir = target.generated_dir(root);
    let changes = infra_gen::output::write(&dir, &files)
        .with_context(|| format!("writing {}", dir.display()))?;
    if changes.is_empty() {
        eprintln!("✓ generated/{name} is up to date");
    } else {
        for change in &changes {
            eprintln!("  {change}");
        }
        eprintln!(
            "✓ generated/{name}: {} files rewritten (commit them with the change to environments/ or infra-gen/)",
            changes.len()
        );
    }
    Ok(())
}
