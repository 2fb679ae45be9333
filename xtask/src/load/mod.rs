//! `cargo xtask load`: uploads files at a target rate for a duration, measures each file's end-to-end latency,
//! and reports it against the objective with a picture of latency, throughput and backlog.
//!
//! By default it runs against the local stack it starts: a file is delivered when a bundle stored by the bundled
//! receiver lists it (upload finished → bundle stored, hashes checked file by file). With `--env` it runs
//! against a deployed environment instead (`crate::deployed`): a file is delivered when its idempotency record is
//! COMPLETED. Bounded in count and time and stops by itself; the local stack and the local environment are on
//! loopback only.
//!
//! What limits it against moto (5.2.5), measured with py-spy: moto's SQS costs time linear in the queue's
//! depth, and the depth is about the rate times the batching window (60 s: every poller holds its batch open
//! that long). Unpatched, moto's work per message grew with the depth too: each received message's retention
//! check built all the queue's attributes three times (each build counts the visible, in-flight and delayed
//! messages with a clock read per message) and each S3 notification's SendMessage built them once more, so
//! moto kept up to about 15 files/s and 100 files/s for 60 s reached ~7.5 uploads/s. The emulator starts moto
//! through a launcher (`emulator/src/moto_fast.py`) that makes those two paths O(1) with the same results;
//! with it, 100 files/s for 60 s uploads at ~69 files/s (6000 files in 87 s, all delivered). The scans that
//! remain (each ReceiveMessage and each long poll woken by an arrival lists the visible messages; this run's
//! backlog sample, GetQueueAttributes once a second, counts them) read moto's clock once per scan instead of
//! twice per message: at 15 files/s that cost had moto 90% busy before any invocation ran, and now 22% (py-spy
//! and moto's CPU time, 2026-11-26). What remains is per request: moto routes and logs every request under one
//! interpreter lock. The report's achieved rate says whether moto or the pipeline set the pace.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::deployed::Deployed;
use crate::local::{LocalStack, Sent, StackOptions, content, output_dir, settle};
use crate::report::{Measurements, Sample, Written};
use crate::target::{self, Aws};
use crate::ui;

/// The most files one run may upload, whatever rate and duration ask for.
const MAX_FILES: usize = 100_000;
/// The smallest and largest file a run uploads by default (the mean is 100 KB, the seeds' size).
pub const MIN_SIZE: usize = 50_000;
pub const MAX_SIZE: usize = 150_000;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Load this deployed environment instead of starting the local stack: dev, or local while a
    /// `cargo xtask local up` runs (with AWS_ENDPOINT_URL set to its emulator). Never prod.
    #[arg(long, value_name = "ENV", conflicts_with_all = ["nifi_url", "minio_endpoint", "fail"])]
    pub env: Option<String>,
    /// Upload to the deployed environment without asking (its endpoint receives the synthetic files).
    #[arg(long, requires = "env")]
    pub yes: bool,
    /// Files per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// How long to upload, in seconds.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Smallest file, in bytes.
    #[arg(long, default_value_t = MIN_SIZE)]
    pub min_size: usize,
    /// Largest file, in bytes (sizes are spread evenly between the two; the mean is their middle).
    #[arg(long, default_value_t = MAX_SIZE)]
    pub max_size: usize,
    /// How long to wait for the last files after the uploads end, in seconds.
    #[arg(long, default_value_t = 600)]
    pub drain_timeout: u64,
    /// Exit non-zero when the objective is missed (by default only a missing or corrupt file fails the run).
    #[arg(long)]
    pub require_slo: bool,
    #[command(flatten)]
    pub stack: StackOptions,
}

pub async fn run(root: &Path, args: Args) -> Result<()> {
    if !(args.rate > 0.0 && args.rate <= 1000.0) {
        bail!("--rate must be above 0 and at most 1000 files/s");
    }
    if args.min_size > args.max_size || args.max_size > 50 << 20 {
        bail!("--min-size must not exceed --max-size, which must be at most 50 MiB");
    }
    let count = ((args.rate * args.duration as f64).round() as usize).clamp(1, MAX_FILES);
    let (measurements, written) = match &args.env {
        None => {
            let stack = LocalStack::start(root, &args.stack).await?;
            stack.schedule_fault(&args.stack);
            let under = Under::Local(&stack);
            let result = stack.with_mapping(drive(root, &under, &args, count)).await;
            stack.stop().await;
            result??
        }
        Some(name) => {
            let target = target::resolve(name, Aws::from_env())?;
            guard(&target, &args, count)?;
            let deployed = Deployed::connect(&target).await?;
            drive(root, &Under::Deployed(name, &deployed), &args, count).await?
        }
    };
    println!("{}", measurements.text());
    println!("load: {}", written.locations());
    measurements.require_all_delivered()?;
    if args.require_slo && !measurements.meets_slo() {
        bail!("the service level objective was missed");
    }
    Ok(())
}

/// A run against a local stack that is already up: `rate` files/s for `duration` seconds of the default sizes,
/// waiting for every file; what `cargo xtask model local --calibrate` compares the model with.
pub async fn run_on(
    root: &Path,
    stack: &LocalStack,
    rate: f64,
    duration: u64,
) -> Result<Measurements> {
    let args = Args {
        env: None,
        yes: false,
        rate,
        duration,
        min_size: MIN_SIZE,
        max_size: MAX_SIZE,
        drain_timeout: 600,
        require_slo: false,
        stack: StackOptions::default(),
    };
    let count = ((rate * duration as f64).round() as usize).clamp(1, MAX_FILES);
    let (m, _) = stack
        .with_mapping(drive(root, &Under::Local(stack), &args, count))
        .await??;
    println!("{}", m.text());
    Ok(m)
}

/// What a run against a deployed environment may do: never prod (the files would reach its on-premise
/// endpoint), the local environment only on loopback, anything else after confirmation.
fn guard(target: &target::Target, args: &Args, count: usize) -> Result<()> {
    let name = target.name();
    if target.protected() {
        bail!(
            "{name} is protected: a load run would deliver {count} synthetic files to its endpoint. Load dev instead (`cargo xtask load --env dev`)"
        );
    }
    if target.is_local() {
        target.require_reachable()?;
        let endpoint = target.aws.endpoint().unwrap_or_default();
        if !is_loopback(endpoint) {
            bail!(
                "AWS_ENDPOINT_URL is {endpoint}, which is not on this machine: a load run against the local environment targets loopback only (the emulator of a running `cargo xtask local up`)"
            );
        }
        return Ok(());
    }
    let what = format!(
        "uploading {count} files ({:.0} MB) to s3://{}, which {name} delivers to its endpoint,",
        count as f64 * (args.min_size + args.max_size) as f64 / 2.0 / 1e6,
        target.landing_bucket()
    );
    ui::require_confirmable(args.yes, &what)?;
    if !args.yes && !ui::confirm(&format!("Go ahead with {what}?"))? {
        bail!("nothing was uploaded");
    }
    Ok(())
}

/// Whether an endpoint URL's host is this machine.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What a run drives and watches.
enum Under<'a> {
    /// The local stack this run started, with its receiver.
    Local(&'a LocalStack),
    /// A deployed environment, by name.
    Deployed(&'a str, &'a Deployed),
}

impl Under<'_> {
    async fn upload(&self, key: &str, body: Vec<u8>) -> Result<Sent> {
        match self {
            Under::Local(stack) => stack.upload(key, body).await,
            Under::Deployed(_, env) => env.upload(key, body).await,
        }
    }

    async fn sample(&self, started: Instant, sent: &Mutex<HashMap<String, Sent>>) -> Sample {
        match self {
            Under::Local(stack) => stack.sample(started, sent).await,
            Under::Deployed(_, env) => env.sample(started, sent).await,
        }
    }

    async fn settle(
        &self,
        sent: &HashMap<String, Sent>,
        started: Instant,
        upload_span: Duration,
        limit: Duration,
        samples: Vec<Sample>,
    ) -> Result<Measurements> {
        match self {
            Under::Local(stack) => settle(stack, sent, started, upload_span, limit, samples).await,
            Under::Deployed(_, env) => env
                .settle(sent, started, upload_span, limit, samples)
                .await
                .map(|(m, _)| m),
        }
    }

    /// Where the report and plot go, and what the plot's title calls the pipeline.
    fn output(&self, root: &Path) -> (PathBuf, String) {
        match self {
            Under::Local(_) => (output_dir(root), "local stack".into()),
            Under::Deployed(name, _) => (
                root.join("target/load").join(name),
                format!("deployed {name}"),
            ),
        }
    }
}

async fn drive(
    root: &Path,
    under: &Under<'_>,
    args: &Args,
    count: usize,
) -> Result<(Measurements, Written)> {
    let started = Instant::now();
    let sent: Mutex<HashMap<String, Sent>> = Mutex::new(HashMap::new());
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    // Keys of their own per run: a deployed environment remembers delivered files for days, by key and ETag.
    let run = run_id(time::OffsetDateTime::now_utc());
    println!(
        "load: {count} files at {} files/s, {}–{} bytes, under load/{run}/",
        args.rate, args.min_size, args.max_size
    );

    // Uploads are started on the rate's clock, not after the previous one finished, so a slow upload does
    // not lower the rate; at most 64 are in flight.
    let uploads = async {
        use futures::StreamExt;
        let ticks = futures::stream::iter(0..count).then(|i| async move {
            let due = started + interval.mul_f64(i as f64);
            tokio::time::sleep_until(due.into()).await;
            i
        });
        ticks
            .map(|i| {
                let size = args.min_size + (i * 7_919) % (args.max_size - args.min_size + 1);
                let key = format!("load/{run}/{i:06}.json");
                let body = content(i, size);
                let sent = &sent;
                async move {
                    let file = under.upload(&key, body).await?;
                    if let Ok(mut s) = sent.lock() {
                        s.insert(key, file);
                    }
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<()>>()
    };
    // Progress is sampled while uploading too, for the backlog-over-time picture.
    let sampling = async {
        let mut early = Vec::new();
        let uploaded = || sent.lock().map_or(count, |s| s.len());
        while uploaded() < count && started.elapsed() < Duration::from_secs(args.duration * 3 + 60)
        {
            early.push(under.sample(started, &sent).await);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        early
    };
    let (upload_result, samples) = tokio::join!(uploads, sampling);
    upload_result?;
    let upload_span = started.elapsed();
    let sent = sent
        .into_inner()
        .map_err(|_| anyhow::anyhow!("upload bookkeeping poisoned"))?;
    println!(
        "load: uploaded {} files in {upload_span:.1?}; waiting for delivery",
        sent.len()
    );
    let m = under
        .settle(
            &sent,
            started,
            upload_span,
            Duration::from_secs(args.drain_timeout),
            samples,
        )
        .await?;
    let (dir, pipeline) = under.output(root);
    let written = m.write(
        &dir,
        &format!("load-{}fps-{}s", args.rate, args.duration),
        &format!(
            "load test: {count} files at {} files/s for {} s ({pipeline})",
            args.rate, args.duration
        ),
    )?;
    Ok((m, written))
}

/// A run's name, from its start: `20261122T080102Z`.
fn run_id(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_are_told_from_remote_ones() {
        for url in [
            "http://127.0.0.1:5000",
            "http://localhost:4566/",
            "http://[::1]:5000",
            "127.0.0.2:9",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://s3.eu-west-2.amazonaws.com",
            "http://10.0.0.5:5000",
            "http://localhost.example.com:5000",
            "http://[2001:db8::1]:443",
            "",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn run_ids_sort_by_time() {
        let t = time::macros::datetime!(2026-11-22 08:01:02 UTC);
        assert_eq!(run_id(t), "20261122T080102Z");
    }
}
