//! Releases of the aggregator. Terraform publishes a version on every change and creates the `live` alias
//! the queue invokes; from then on the alias is this module's: after `cargo xtask deploy` applied, it moves the
//! alias to the published version as the environment says (`Environment.release`: at once, or as a canary that
//! watches the error and latency alarms and promotes or rolls back by itself), and `cargo xtask rollback <env>`
//! moves it back. The decisions are pure functions ([`decide`]); [`alias`] makes the calls.

mod alias;
pub mod decide;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use infra_gen::config::Release;

use self::alias::{Alarms, Live};
use self::decide::{AliasState, Canary, Rollback, Shift, Verdict};
use crate::target::{self, Target};
use crate::{aws, terraform, ui};

/// How often a canary looks at its alarms (CloudWatch evaluates them once a minute).
pub const POLL: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub env: target::Env,
    /// The version to serve [default: the one the alias served before the live one; during a canary, the old
    /// version alone]. A version newer than the live one is released on purpose (a rolled-back one too).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<u32>,
    /// Move the alias without asking (there is no terminal in CI).
    #[arg(long)]
    pub yes: bool,
}

/// One environment's alias and the alarms its canary watches.
struct Releaser {
    env: String,
    live: Live,
    alarms: Alarms,
}

impl Releaser {
    async fn of(target: &Target) -> Result<Releaser> {
        let sdk = aws::sdk(target).await;
        let pipeline = &target.pipeline;
        Ok(Releaser {
            env: target.name().to_owned(),
            live: Live {
                lambda: aws_sdk_lambda::Client::new(&sdk),
                function: pipeline.aggregator.function_name.clone(),
                alias: pipeline.aggregator_live.alias_name.to_owned(),
            },
            alarms: Alarms {
                cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
                names: pipeline
                    .release_alarms()
                    .iter()
                    .map(|a| a.alarm_name.clone())
                    .collect(),
            },
        })
    }
}

/// What deploy's dry run says it would do after the apply.
pub fn dry_run_note(target: &Target) -> String {
    let alias = target.pipeline.aggregator_live.alias_name;
    match target.env().release {
        Release::AllAtOnce => format!(
            "move alias {alias} to the version the apply published (output aggregator_version), all at once"
        ),
        Release::Canary {
            weight_percent,
            bake,
        } => format!(
            "move alias {alias} to the version the apply published as a canary: {weight_percent}% for {} s while {} stay out of ALARM (checked every {} s), then 100%; or back to the old version when one fires",
            bake.as_secs(),
            target
                .pipeline
                .release_alarms()
                .iter()
                .map(|a| a.alarm_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            POLL.as_secs()
        ),
    }
}

/// After deploy's apply: moves the alias to the version the apply published, as the environment says.
pub async fn after_deploy(
    target: &Target,
    outputs: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let published = terraform::output_string(outputs, "aggregator_version")
        .context("the deployment has no output aggregator_version: run `cargo xtask generate` and deploy again")?;
    let published: u32 = published.parse().with_context(|| {
        format!("output aggregator_version is {published:?}, not a version: is publish off?")
    })?;
    let releaser = Releaser::of(target).await?;
    let alias = releaser.live.read().await?;
    release(
        &releaser,
        &alias,
        decide::shift(&alias, published, target.env().release),
        POLL,
    )
    .await
}

async fn release(r: &Releaser, alias: &AliasState, shift: Shift, poll: Duration) -> Result<()> {
    let env = &r.env;
    match shift {
        Shift::UpToDate {
            version,
            interrupted,
        } => {
            if let Some(canary) = interrupted {
                r.live
                    .point(
                        version,
                        None,
                        &alias.record.rolled_back(canary.version, version),
                    )
                    .await?;
                println!(
                    "Ended an interrupted canary of version {}: every invocation goes to version {version}.",
                    canary.version
                );
            }
            println!("Release: {} serves version {version}.", r.live.alias);
        }
        Shift::HeldBack { version, live } => println!(
            "Release: version {version} was rolled back, so {} stays at version {live}. Deploy a fix (a new version), or release it on purpose: `cargo xtask rollback {env} --to {version}`.",
            r.live.alias
        ),
        Shift::AllAtOnce { from, to } => {
            r.live
                .point(to, None, &alias.record.released(from, to))
                .await?;
            println!(
                "Release: {} moved from version {from} to version {to}, all at once.",
                r.live.alias
            );
        }
        Shift::Canary {
            from,
            to,
            weight_percent,
            bake,
        } => {
            let canary = Canary {
                version: to,
                weight: f64::from(weight_percent) / 100.0,
            };
            run_canary(r, alias, from, canary, bake, poll).await?;
        }
    }
    Ok(())
}

/// Sends `canary.weight` of the invocations to the new version for `bake`, looking at the alarms every
/// `poll`; then all of them, or none as soon as an alarm fires. Fails when the canary did not pass, so a deploy
/// that did not release does not look like one that did.
async fn run_canary(
    r: &Releaser,
    alias: &AliasState,
    from: u32,
    canary: Canary,
    bake: Duration,
    poll: Duration,
) -> Result<()> {
    let to = canary.version;
    let firing = decide::already_firing(&r.alarms.states().await);
    if !firing.is_empty() {
        if alias.canary.is_some() {
            r.live.point(from, None, &alias.record).await?;
        }
        bail!(
            "not starting the canary of version {to}: {}; it could not tell its own effect from that. {} stays at version {from}: clear the cause, then deploy again",
            firing.join(", "),
            r.live.alias
        );
    }
    r.live.point(from, Some(canary), &alias.record).await?;
    println!(
        "Canary: {:.0}% of invocations go to version {to} (version {from} keeps the rest) for {} s, while {} stay out of ALARM.",
        canary.weight * 100.0,
        bake.as_secs(),
        r.alarms.names.join(", ")
    );
    let verdict = match bake_until_verdict(r, bake, poll).await {
        Ok(verdict) => verdict,
        Err(error) => {
            // Whatever stopped the watch, the canary must not keep running unwatched.
            let restored = r.live.point(from, None, &alias.record).await;
            let state = match restored {
                Ok(()) => format!("{} serves version {from} alone again", r.live.alias),
                Err(_) => format!(
                    "{} may still send {:.0}% to version {to}: run `cargo xtask rollback {}`",
                    r.live.alias,
                    canary.weight * 100.0,
                    r.env
                ),
            };
            return Err(error.context(format!("the canary of version {to} stopped; {state}")));
        }
    };
    match verdict {
        Verdict::RollBack(why) => {
            r.live
                .point(from, None, &alias.record.rolled_back(to, from))
                .await?;
            bail!(
                "the canary of version {to} was rolled back: {}. {} serves version {from} alone; a deploy will not release version {to} again (deploy a fix)",
                why.join(", "),
                r.live.alias
            )
        }
        Verdict::Promote => {
            r.live
                .point(to, None, &alias.record.released(from, to))
                .await?;
            println!(
                "Canary passed: {} serves version {to} (was version {from}).",
                r.live.alias
            );
            Ok(())
        }
    }
}

/// Looks at the alarms every `poll` until the canary's verdict is not to wait.
async fn bake_until_verdict(r: &Releaser, bake: Duration, poll: Duration) -> Result<Verdict> {
    let started = tokio::time::Instant::now();
    let mut shown = String::new();
    loop {
        let states = r.alarms.states().await;
        let elapsed = started.elapsed();
        match decide::judge(&states, elapsed, bake) {
            Some(verdict) => return Ok(verdict),
            None => {
                let summary: Vec<String> = states
                    .iter()
                    .map(|(name, state)| format!("{name} {state}"))
                    .collect();
                let summary = summary.join(", ");
                if summary != shown {
                    println!("  after {} s: {summary}", elapsed.as_secs());
                    shown = summary;
                }
                tokio::time::sleep(poll.min(bake.saturating_sub(elapsed))).await;
            }
        }
    }
}

/// `cargo xtask rollback <env>`.
pub async fn rollback(args: RollbackArgs) -> Result<()> {
    let target = args.env.target()?;
    target.require_reachable()?;
    ui::require_confirmable(args.yes, "the rollback")?;
    let r = Releaser::of(&target).await?;
    let alias = r.live.read().await?;
    let published = r.live.published().await?;
    let plan = decide::rollback(&alias, args.to, &published)?;
    let (from, to) = match plan {
        Rollback::CancelCanary { live, canary } => (canary.version, live),
        Rollback::To { from, to } => (from, to),
    };
    let question = match plan {
        Rollback::CancelCanary { canary, .. } => format!(
            "Cancel the canary of version {} ({:.0}% of invocations) in {}, so version {to} serves alone?",
            canary.version,
            canary.weight * 100.0,
            r.env
        ),
        Rollback::To { .. } => format!(
            "Point {} of {} from version {from} to version {to}?",
            r.live.alias, r.env
        ),
    };
    if !args.yes && !ui::confirm(&question)? {
        bail!(
            "not confirmed: {} still serves version {}",
            r.live.alias,
            alias.version
        );
    }
    r.live.point(to, None, &plan.record(&alias.record)).await?;
    println!(
        "Rolled back {}: {} serves {} instead of {}.",
        r.env,
        r.live.alias,
        r.live.describe(to).await,
        r.live.describe(from).await
    );
    if to < from {
        println!(
            "A deploy will not release version {from} again; deploy a fix, or `cargo xtask rollback {} --to {from}` to serve it on purpose.",
            r.env
        );
    }
    Ok(())
}

#[cfg(test)]
mod moto_tests;
