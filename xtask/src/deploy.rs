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
    /// Use the Lambda zips already in target/lambda/ (e.g. from CI's build step) instead of building.
    #[arg(long)]
    pub skip_build: bool,
    /// Also write the plan summary as Markdown to FILE (for a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
    #[command(flatten)]
    pub common: target::Common,
}

pub fn run(root: &Path, args: Args) -> Result<()> {
    let target = args.common.target()?;
    let tf = Terraform::new(root, &target, &args.common.terraform)?;
    let name = target.name().to_string();
    let yes = args.common.yes;
    if args.common.dry_run {
        let mut steps = plan_steps(root, &target, &tf, args.skip_build);
        steps.push(DryStep::Note(if yes {
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
    let placeholders = infra_gen::on_premise::environment_placeholders(target.env());
    if !placeholders.is_empty() {
        bail!(
            "refusing to deploy {name}: environments/src/{name}.rs still has documentation values where the network team's belong ({}); replace them (generated/{name}/RUNBOOK.md, \"The route to on-premise\", says what to ask for), run `cargo xtask generate`, then deploy",
            placeholders.join("; ")
        );
    }
    ui::require_confirmable(yes, "the deployment")?;
    let outcome = deploy(
        root,
        &target,
        &tf,
        &Plan {
            skip_build: args.skip_build,
            summary_file: args.summary_file.as_deref(),
            summary: Detail::Full,
        },
        yes,
    )?;
    terraform::print_outputs(&name, &outcome.outputs);
    crate::aws::runtime()?.block_on(crate::release::after_deploy(&target, &outcome.outputs))?;
    if outcome
        .summary
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

/// How the plan is made and shown.
pub struct Plan<'a> {
    /// Use the Lambda zips already built.
    pub skip_build: bool,
    /// Also write the summary as Markdown here.
    pub summary_file: Option<&'a Path>,
    /// How much of the summary the terminal gets (all of it goes to the log).
    pub summary: Detail,
}

/// How much of a plan's summary is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every change, with destroys and IAM marked: what deploy and plan are for.
    Full,
    /// The counts only: for `cargo xtask local`, whose plan is always the whole local stack.
    Headline,
}

/// What a deployment did.
pub struct Outcome {
    pub summary: Summary,
    pub outputs: terraform::Outputs,
}

/// Builds, plans, shows the summary, applies it when it changes anything (after confirmation unless `yes`),
/// and reads the outputs: the deployment `cargo xtask deploy` and `cargo xtask local` both run.
pub fn deploy(
    root: &Path,
    target: &Target,
    tf: &Terraform,
    plan: &Plan,
    yes: bool,
) -> Result<Outcome> {
    let name = target.name();
    let summary = build_and_plan(root, target, tf, plan)?;
    if summary.is_empty() {
        println!("No changes: {name} is up to date; nothing to apply.");
    } else {
        if !yes && !ui::confirm(&format!("Apply this plan to {name}?"))? {
            bail!("not confirmed: nothing was applied to {name}");
        }
        tf.run_apply(false)?;
        println!("Applied the plan to {name}.");
    }
    let outputs = tf.run_output()?;
    Ok(Outcome { summary, outputs })
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
    plan: &Plan,
) -> Result<Summary> {
    let skip_build = plan.skip_build;
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
    let text = summary.render_text(target.name());
    ui::log(&text);
    match plan.summary {
        Detail::Full => print!("{text}"),
        Detail::Headline => println!("{}", ui::bold(&summary.headline(target.name()))),
    }
    if let Some(file) = plan.summary_file {
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
