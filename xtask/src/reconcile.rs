//! `cargo xtask report <env> [--date YYYY-MM-DD] [--requeue-unexplained [--max N] [--yes]]`: the daily
//! reconciliation report of a day, made now by the reporter's own code (`reporter::Reporter`) with the deployed
//! reporter function's configuration, so it reads and writes exactly what the scheduled run does: the report goes
//! to the reports bucket and its summary to the alarm topic, and a copy to `target/report/<env>/<day>/`.
//!
//! With `--requeue-unexplained` it then re-sends an S3 event for each unexplained file to the source queue, after
//! asking (or with `--yes`), at most `--max`; the aggregator delivers them like any other file, and its idempotency
//! makes a second run harmless. The local environment is reported against the emulator of a running
//! `cargo xtask local up` (`AWS_ENDPOINT_URL`).
//!
//! Not the load run's report (`report.rs`): that one measures a load test.

use std::path::Path;

use anyhow::{Context, Result, bail};
use app::RawConfig;
use reporter::{Config, Day, Reporter};

use crate::local::deployed_function;
use crate::{aws, target, ui};

/// Files shown before the requeue question.
const SHOWN: usize = 10;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub env: target::Env,
    /// The UTC day to report [default: yesterday].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,
    /// After the report, re-send an S3 event for each unexplained file to the source queue (asks first).
    #[arg(long)]
    pub requeue_unexplained: bool,
    /// Re-send at most this many files.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        requires = "requeue_unexplained"
    )]
    pub max: usize,
    /// Do not ask before re-sending (scripts).
    #[arg(long, requires = "requeue_unexplained")]
    pub yes: bool,
}

pub async fn run(root: &Path, args: Args) -> Result<()> {
    let target = args.env.target()?;
    target.require_reachable()?;
    let day = match &args.date {
        Some(date) => Day::parse(date)?,
        None => Day::before(time::OffsetDateTime::now_utc()),
    };
    if args.requeue_unexplained {
        ui::require_confirmable(args.yes, "the requeue")?;
    }
    let sdk = aws::sdk(&target).await;
    let function = &target.pipeline.reporter.reporter.function_name;
    let (environment, _) = deployed_function(&aws_sdk_lambda::Client::new(&sdk), function)
        .await
        .with_context(|| {
            format!(
                "is {env} deployed in {region}? (`cargo xtask deploy {env}`; the AWS credentials must allow lambda:GetFunctionConfiguration on {function})",
                env = target.name(),
                region = target.region()
            )
        })?;
    let mut raw = RawConfig::from_pairs(environment);
    // An emulator on a bare host:port has no per-bucket host names.
    if target.aws.endpoint().is_some() {
        raw.set("S3_FORCE_PATH_STYLE", "true");
    }
    let config = Config::from_raw(&raw)
        .with_context(|| format!("the configuration of the deployed function {function}"))?;
    // Metrics become metrics only in Lambda's logs; here they would be noise.
    let reporter = Reporter::new(config, &sdk).with_metrics_writer(Box::new(std::io::sink()));
    let step = ui::Step::start(format!("report of {} {day}", target.name()));
    let reconciliation = match reporter.reconcile(day).await {
        Ok(r) => r,
        Err(e) => {
            step.fail();
            return Err(e.into());
        }
    };
    let at = reporter.publish(&reconciliation).await?;
    step.done();
    let report = &reconciliation.report;
    let copy = root
        .join("target/report")
        .join(target.name())
        .join(report.date.as_str());
    std::fs::create_dir_all(&copy).with_context(|| format!("creating {}", copy.display()))?;
    std::fs::write(
        copy.join("report.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    std::fs::write(copy.join("report.html"), reporter::html::render(report)?)?;
    println!("{}", reporter::publish::message(report, &at).1);
    println!("A copy: {}", copy.join("report.html").display());
    if !args.requeue_unexplained {
        return Ok(());
    }
    let unexplained = &reconciliation.unexplained;
    if unexplained.is_empty() {
        println!("Nothing to requeue: no file of {day} is unexplained.");
        return Ok(());
    }
    let sending = unexplained.len().min(args.max);
    println!(
        "\n{} unexplained file(s); re-sending {sending} to {}:",
        report.counts.unexplained,
        reporter.config().source_queue_url
    );
    for file in unexplained.iter().take(SHOWN) {
        println!(
            "  s3://{}/{} (version {})",
            file.bucket,
            file.key,
            file.version_id.as_deref().unwrap_or("none")
        );
    }
    if unexplained.len() > SHOWN {
        println!("  ... and {} more", unexplained.len() - SHOWN);
    }
    if !args.yes && !ui::confirm(&format!("Re-send these {sending} file(s)?"))? {
        bail!("not confirmed: nothing was re-sent");
    }
    let sent = reporter
        .requeue_unexplained(&reconciliation, args.max)
        .await?;
    println!(
        "Re-sent {sent} file(s). Once the pipeline has delivered them (within minutes), `cargo xtask report {} --date {day}` says how many are left.",
        target.name()
    );
    Ok(())
}
