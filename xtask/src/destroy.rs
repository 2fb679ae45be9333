//! `cargo xtask destroy <env>`: removes an environment's stack. An environment marked protected (prod,
//! `prevent_destroy`) is refused unless `--i-understand-this-destroys-<env>` is given; any other asks the user
//! to type its name (`--yes` for CI). Versioned buckets that still hold objects stop the destroy before
//! anything is touched, unless `--empty-buckets` says to delete their every version first (after the
//! confirmation). Terraform runs a saved `plan -destroy`, summarised, then applied: what is confirmed is
//! exactly what is destroyed. The Terraform state bucket made by `bootstrap` is never touched.

use std::path::Path;

use anyhow::{Result, bail};
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};

use crate::doctor::{self, Need};
use crate::exec::{DryStep, print_dry_run};
use crate::target::{self, Target};
use crate::terraform::Terraform;
use crate::{aws, buckets, ui};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Delete every object version in the environment's versioned buckets (landing, archive) first.
    /// This deletes the archive: its bundles can no longer be replayed.
    #[arg(long)]
    pub empty_buckets: bool,
    #[command(flatten)]
    pub common: target::Common,
    #[command(flatten)]
    pub acknowledged: Acknowledged,
}

/// The protected environments the user acknowledged destroying, one flag per protected environment
/// (`--i-understand-this-destroys-prod`): the flag names the environment, so it cannot be pasted onto another.
#[derive(Debug, Clone, Default)]
pub struct Acknowledged(Vec<String>);

fn ack_id(env: &str) -> String {
    format!("i_understand_this_destroys_{env}")
}

impl FromArgMatches for Acknowledged {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let names = environments::all()
            .into_iter()
            .filter(|env| env.prevent_destroy)
            .map(|env| env.name)
            .filter(|name| matches!(matches.try_get_one::<bool>(&ack_id(name)), Ok(Some(true))))
            .collect();
        Ok(Acknowledged(names))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for Acknowledged {
    fn augment_args(cmd: Command) -> Command {
        environments::all()
            .into_iter()
            .filter(|env| env.prevent_destroy)
            .fold(cmd, |cmd, env| {
                cmd.arg(
                    Arg::new(ack_id(&env.name))
                        .long(format!("i-understand-this-destroys-{}", env.name))
                        .action(ArgAction::SetTrue)
                        .help(format!(
                            "Allow destroying {}, which is protected (prevent_destroy): its data is deleted",
                            env.name
                        )),
                )
            })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

pub fn run(root: &Path, args: Args) -> Result<()> {
    let target = args.common.target()?;
    let name = target.name().to_string();
    if target.protected() && !args.acknowledged.0.contains(&name) {
        bail!(
            "refusing to destroy {name}: it is protected (prevent_destroy in environments/src/{name}.rs), because its data must survive.\n\
             If you really mean to destroy it, pass --i-understand-this-destroys-{name}. Terraform will still refuse the resources \
             marked prevent_destroy until that is set to false in environments/src/{name}.rs and deployed."
        );
    }
    let tf = Terraform::new(root, &target, &args.common.terraform)?;
    let buckets = [target.landing_bucket(), target.archive_bucket()];
    if args.common.dry_run {
        let steps = vec![
            DryStep::Note(format!(
                "check prerequisites: {} (as `cargo xtask doctor` does)",
                needs(&target)
                    .iter()
                    .map(|n| n.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            DryStep::Note(tf.prepare_note()),
            DryStep::Run(tf.init()),
            DryStep::Note(format!(
                "count the object versions in s3://{} (AWS SDK); stop if any unless --empty-buckets",
                buckets.join(" and s3://")
            )),
            DryStep::Run(tf.plan(true)),
            DryStep::Run(tf.show(true)),
            DryStep::Note(format!(
                "print the destroy summary; {}",
                if args.common.yes {
                    "no confirmation asked (--yes)".to_string()
                } else {
                    format!("ask to type {name:?} to confirm")
                }
            )),
            DryStep::Note(if args.empty_buckets {
                "delete every object version and delete marker in those buckets (AWS SDK)".into()
            } else {
                "leave the buckets' objects alone (no --empty-buckets)".into()
            }),
            DryStep::Run(tf.apply(true)),
        ];
        print_dry_run(&format!("cargo xtask destroy {name}"), &steps);
        return Ok(());
    }
    ui::require_confirmable(args.common.yes, "destroying an environment")?;
    doctor::require(&needs(&target), root, &format!("destroy {name}"))?;
    tf.prepare()?;
    tf.run_init()?;

    let runtime = tokio::runtime::Runtime::new()?;
    let s3 = runtime.block_on(async { aws::s3(&aws::sdk(&target).await) });
    let mut to_empty = Vec::new();
    for bucket in buckets {
        if let Some(n) = runtime.block_on(buckets::count_versions(&s3, bucket))?
            && n > 0
        {
            to_empty.push((bucket, n));
        }
    }
    if !to_empty.is_empty() && !args.empty_buckets {
        let list: Vec<String> = to_empty
            .iter()
            .map(|(b, n)| format!("s3://{b} ({n} object versions)"))
            .collect();
        bail!(
            "{} still hold objects, and Terraform cannot delete a non-empty bucket: nothing was destroyed.\n\
             Pass --empty-buckets to delete every version first (the archive's bundles can then no longer be replayed).",
            list.join(" and ")
        );
    }

    let summary = tf.run_plan(true)?;
    let text = summary.render_text(&name);
    ui::log(&text);
    print!("{text}");
    if summary.is_empty() {
        println!("Nothing to destroy in {name}.");
        return Ok(());
    }
    if !args.common.yes && !ui::type_to_confirm(&name)? {
        bail!("the name typed was not {name:?}: nothing was destroyed");
    }
    for (bucket, _) in &to_empty {
        let step = ui::Step::start(format!("empty s3://{bucket}"));
        let deleted = runtime.block_on(buckets::empty(&s3, bucket))?;
        step.done_with(&format!("{deleted} versions deleted"));
    }
    tf.run_apply(true)?;
    println!("{name} is destroyed.");
    Ok(())
}

fn needs(target: &Target) -> Vec<Need> {
    if target.is_local() {
        vec![Need::Terraform]
    } else {
        vec![Need::Terraform, Need::AwsCredentials]
    }
}
