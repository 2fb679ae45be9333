//! `cargo xtask load`: uploads files at a target rate for a duration against the local stack, measures each
//! file's end-to-end latency (upload finished → bundle stored at the receiver; the manifests say which bundle
//! carried which file), and reports it against the objective with a picture of latency, throughput and backlog.
//!
//! Bounded in count and time and stops by itself; everything it contacts is on loopback.
//!
//! What limits it against moto (5.2.5), measured with py-spy: moto's SQS costs time linear in the queue's
//! depth, and the depth is about the rate times the batching window (60 s: every poller holds its batch open
//! that long). Unpatched, moto's work per message grew with the depth too: each received message's retention
//! check built all the queue's attributes three times (each build counts the visible, in-flight and delayed
//! messages with a clock read per message) and each S3 notification's SendMessage built them once more, so
//! moto kept up to about 15 files/s and 100 files/s for 60 s reached ~7.5 uploads/s. The emulator starts moto
//! through a launcher (`emulator/src/moto_fast.py`) that makes those two paths O(1) with the same results;
//! with it, 100 files/s for 60 s uploads at ~69 files/s (6000 files in 87 s, all delivered). What remains is
//! per request: each ReceiveMessage lists the visible messages, this run's backlog sample (GetQueueAttributes,
//! once a second) counts them, and moto routes and logs every request under one interpreter lock. The
//! report's achieved rate says whether moto or the pipeline set the pace.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::local::{LocalStack, Sent, StackOptions, content, output_dir, settle};

/// The most files one run may upload, whatever rate and duration ask for.
const MAX_FILES: usize = 100_000;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// How long to upload, in seconds.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Smallest file, in bytes.
    #[arg(long, default_value_t = 50_000)]
    pub min_size: usize,
    /// Largest file, in bytes (sizes are spread evenly between the two; the mean is their middle).
    #[arg(long, default_value_t = 150_000)]
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
    let stack = LocalStack::start(root, &args.stack).await?;
    let result = stack.with_mapping(drive(&stack, &args, count)).await;
    stack.stop().await;
    let (measurements, report_path, svg_path) = result??;
    println!("{}", measurements.text());
    println!(
        "load: report {}, plot {}",
        report_path.display(),
        svg_path.display()
    );
    if measurements.files_delivered != measurements.files_uploaded {
        bail!(
            "{} of {} files did not arrive",
            measurements.files_uploaded - measurements.files_delivered,
            measurements.files_uploaded
        );
    }
    if args.require_slo && !measurements.meets_slo() {
        bail!("the service level objective was missed");
    }
    Ok(())
}

async fn drive(
    stack: &LocalStack,
    args: &Args,
    count: usize,
) -> Result<(
    crate::report::Measurements,
    std::path::PathBuf,
    std::path::PathBuf,
)> {
    let started = Instant::now();
    stack.schedule_fault(&args.stack);
    let sent: Mutex<HashMap<String, Sent>> = Mutex::new(HashMap::new());
    let uploaded = AtomicUsize::new(0);
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    println!(
        "load: {count} files at {} files/s, {}–{} bytes",
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
                let key = format!("load/{i:06}.json");
                let body = content(i, size);
                let sent = &sent;
                let uploaded = &uploaded;
                async move {
                    let sha256 = hex::encode(Sha256::digest(&body));
                    stack.upload(&key, body).await?;
                    let at = time::OffsetDateTime::now_utc();
                    if let Ok(mut s) = sent.lock() {
                        s.insert(
                            key,
                            Sent {
                                sha256,
                                uploaded_at: at,
                            },
                        );
                    }
                    uploaded.fetch_add(1, Ordering::Relaxed);
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
        while uploaded.load(Ordering::Relaxed) < count
            && started.elapsed() < Duration::from_secs(args.duration * 3 + 60)
        {
            early.push(
                stack
                    .sample(started, uploaded.load(Ordering::Relaxed))
                    .await,
            );
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
    let m = settle(
        stack,
        &sent,
        started,
        upload_span,
        Duration::from_secs(args.drain_timeout),
        samples,
    )
    .await?;
    let dir = output_dir(crate::workspace_root().as_path());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!("load-{}fps-{}s", args.rate, args.duration);
    let report_path = dir.join(format!("{stem}.txt"));
    let svg_path = dir.join(format!("{stem}.svg"));
    std::fs::write(&report_path, m.text())?;
    std::fs::write(
        &svg_path,
        m.svg(&format!(
            "load test: {count} files at {} files/s for {} s (local stack)",
            args.rate, args.duration
        )),
    )?;
    Ok((m, report_path, svg_path))
}
