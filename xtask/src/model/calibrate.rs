//! `cargo xtask model local --calibrate`: is the model right where it can be checked? It starts the local stack
//! (`cargo xtask local`'s: moto, the receiver, the local mapping under Lambda's rules), measures the stack's own
//! service times — moto's S3 GET and PUT, DynamoDB write and SQS request, the receiver's POST — feeds them to
//! the model with the local environment's settings, predicts load runs at 5, 10 and 15 files/s, runs them
//! (`cargo xtask load`'s run), and writes prediction and measurement side by side: p50, p95, p99, max, and both
//! distributions in one SVG. The model is not tuned per run: one set of measured service times for all.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use latency_model::outcome::{Percentiles, percentile};
use latency_model::service::{Backend, Background, Compute, Delay, Pipeline};
use latency_model::traffic::{Sizes, Spacing};
use latency_model::{Scenario, simulate};
use serde::Serialize;

use super::Args;
use super::inputs;
use crate::local::{LocalStack, StackOptions, content};
use crate::report::{Curve, latency_picture};

/// Downloads and claims in flight, as the aggregator's default.
const CONCURRENCY: usize = 32;
const COLORS: [&str; 4] = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd"];

/// The local stack's service times, measured.
#[derive(Debug, Clone, Serialize)]
struct Measured {
    s3_head_latency: f64,
    s3_get_latency: f64,
    s3_get_bytes_per_second: f64,
    s3_put_latency: f64,
    s3_put_bytes_per_second: f64,
    dynamodb_claim_latency: f64,
    dynamodb_complete_latency: f64,
    sqs_request_latency: f64,
    post_round_trip: f64,
    /// moto's time per upload into the landing bucket (its PUT and the notification it sends), and per
    /// request of the mapping's (a receive of one message; a delete batch is taken as costing the same).
    upload_work: f64,
    sqs_request_work: f64,
    /// The receiver checks and unpacks what it receives: its rate is in the bundles' input bytes.
    post_input_bytes_per_second: f64,
    /// The local files' compression (`cargo xtask load` writes repetitive JSON lines).
    compression_ratio: f64,
    cpus: f64,
}

impl Measured {
    /// The model of the local environment on this machine: the stack's service times, moto as one server the
    /// concurrent invocations share with the uploads and the mapping's requests, no notification delay (moto notifies within the PUT), the function
    /// in-process (no invocation overhead, no cold start), the receiver's throughput as the link.
    fn apply(&self, p: &mut Pipeline) {
        let s = &mut p.service;
        s.s3_head_latency = self.s3_head_latency;
        s.s3_get_latency = self.s3_get_latency;
        s.s3_get_bytes_per_second = self.s3_get_bytes_per_second;
        s.function_bytes_per_second = f64::INFINITY;
        s.s3_put_latency = self.s3_put_latency;
        s.s3_put_bytes_per_second = self.s3_put_bytes_per_second;
        s.dynamodb_claim_latency = self.dynamodb_claim_latency;
        s.dynamodb_complete_latency = self.dynamodb_complete_latency;
        s.sqs_request_latency = self.sqs_request_latency;
        s.post_round_trip = self.post_round_trip;
        s.notification_delay = Delay::NONE;
        s.invoke_overhead = 0.0;
        s.cold_start = 0.0;
        s.compute = Compute::Cpus(self.cpus);
        s.backend = Backend::Shared(Background {
            upload: self.upload_work,
            sqs_request: self.sqs_request_work,
        });
        s.compression_ratio = self.compression_ratio;
        p.endpoint.bytes_per_second =
            Some(self.post_input_bytes_per_second / self.compression_ratio);
    }
}

/// One rate: what the model predicted and what the load run measured.
#[derive(Debug, Clone, Serialize)]
struct Comparison {
    rate: f64,
    files: usize,
    predicted: Percentiles,
    measured: Percentiles,
    #[serde(skip)]
    predicted_sorted: Vec<f64>,
    #[serde(skip)]
    measured_sorted: Vec<f64>,
}

pub async fn run(root: &Path, env: &infra_gen::Environment, args: &Args) -> Result<()> {
    if env.kind != infra_gen::Kind::Local {
        bail!(
            "calibration runs the local stack: use `cargo xtask model local --calibrate` (the model of {} needs AWS's service times)",
            env.name
        );
    }
    if !(1..=3600).contains(&args.duration) {
        bail!("--duration must be 1..=3600 seconds of uploads per rate");
    }
    if args.rates.is_empty()
        || args
            .rates
            .iter()
            .any(|r| !(r.is_finite() && *r > 0.0 && *r <= 50.0))
    {
        bail!(
            "--rates must be one or more rates in (0, 50] files/s: above ~15 files/s moto, not the pipeline, sets the pace"
        );
    }
    let started = Instant::now();
    let stack = LocalStack::start(root, &StackOptions::default()).await?;
    let result = calibrate(root, env, args, &stack).await;
    stack.stop().await;
    println!(
        "calibration: {:.1} minutes in all",
        started.elapsed().as_secs_f64() / 60.0
    );
    result
}

async fn calibrate(
    root: &Path,
    env: &infra_gen::Environment,
    args: &Args,
    stack: &LocalStack,
) -> Result<()> {
    println!("calibration: measuring the local stack's service times");
    let measured = measure(stack).await?;
    println!("{}", serde_json::to_string_pretty(&measured)?);
    let figures = inputs::handler_figures(root)?;
    let mut pipeline = super::pipeline(env, &figures)?;
    measured.apply(&mut pipeline);
    let sizes = Sizes::Uniform {
        min: crate::load::MIN_SIZE as u64,
        max: crate::load::MAX_SIZE as u64,
    };
    let mut comparisons = Vec::new();
    for &rate in &args.rates {
        let scenario = Scenario::steady(
            rate,
            Duration::from_secs(args.duration),
            sizes,
            Spacing::Regular,
        );
        let predicted = simulate(&pipeline, &scenario, args.seed)?;
        println!(
            "calibration: {rate} files/s for {} s — predicted p50 {:.1} s, p95 {:.1} s; running the load",
            args.duration,
            predicted.latency.p50.unwrap_or(f64::NAN),
            predicted.latency.p95.unwrap_or(f64::NAN)
        );
        let load = crate::load::run_on(root, stack, rate, args.duration).await?;
        let mut measured_sorted: Vec<f64> =
            load.latencies.iter().map(Duration::as_secs_f64).collect();
        measured_sorted.sort_by(f64::total_cmp);
        comparisons.push(Comparison {
            rate,
            files: load.files_uploaded,
            predicted: predicted.latency,
            measured: Percentiles::of(&measured_sorted, load.files_uploaded),
            predicted_sorted: predicted.all_files.sorted,
            measured_sorted,
        });
    }
    let table = render(&comparisons, &figures.source);
    print!("{table}");
    let dir = super::output_dir(root);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = dir.join("calibration.json");
    std::fs::write(
        &json,
        serde_json::to_vec_pretty(&serde_json::json!({
            "duration_seconds": args.duration,
            "seed": args.seed,
            "handler": figures,
            "measured_service_times": measured,
            "pipeline": pipeline,
            "runs": comparisons,
        }))?,
    )
    .with_context(|| format!("writing {}", json.display()))?;
    let curves: Vec<Curve> = comparisons
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            let color = COLORS[i % COLORS.len()];
            [
                Curve {
                    label: format!("{} files/s model", c.rate),
                    sorted: &c.predicted_sorted,
                    total: c.files,
                    color,
                    dashed: true,
                },
                Curve {
                    label: format!("{} files/s measured", c.rate),
                    sorted: &c.measured_sorted,
                    total: c.files,
                    color,
                    dashed: false,
                },
            ]
        })
        .collect();
    let svg = dir.join("calibration.svg");
    std::fs::write(
        &svg,
        latency_picture(
            &format!(
                "local stack: the model (dashed) against load runs (solid), {} s of uploads each",
                args.duration
            ),
            &curves,
        ),
    )
    .with_context(|| format!("writing {}", svg.display()))?;
    println!("calibration: {} and {}", json.display(), svg.display());
    Ok(())
}

fn render(comparisons: &[Comparison], source: &str) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "\nmodel against measurement (local stack; handler figures: {source})\nrate    files   {:>22} {:>22} {:>22} {:>22}\n",
        "p50 model / measured", "p95", "p99", "max"
    );
    for c in comparisons {
        let _ = write!(s, "{:<7} {:>5}  ", format!("{}/s", c.rate), c.files);
        for (model, measured) in [
            (c.predicted.p50, c.measured.p50),
            (c.predicted.p95, c.measured.p95),
            (c.predicted.p99, c.measured.p99),
            (c.predicted.max, c.measured.max),
        ] {
            let cell = match (model, measured) {
                (Some(m), Some(x)) => {
                    format!("{m:.1}/{x:.1} ({:+.0}%)", (m - x) / x.max(1e-9) * 100.0)
                }
                _ => "never".into(),
            };
            let _ = write!(s, " {cell:>22}");
        }
        s.push('\n');
    }
    s
}

/// The local stack's service times, each measured as the aggregator uses the service: GETs and claims 32 at
/// a time, archive PUTs and POSTs one at a time at two sizes (a latency and a rate).
async fn measure(stack: &LocalStack) -> Result<Measured> {
    let var = |name: &str| {
        stack
            .config
            .vars()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v.clone())
            .with_context(|| format!("the local deployment's function has no {name}"))
    };
    let bucket = &var("ARCHIVE_BUCKET")?;
    let table = &var("IDEMPOTENCY_TABLE")?;
    let run = uuid::Uuid::now_v7().to_string();

    // GETs of two sizes, 32 at a time: each slot's time is latency + size / rate. HEADs (the version lookup
    // moto's version-less events cost) of the same objects, 32 at a time.
    let mut per_get = Vec::new();
    let mut heads = (0usize, 0.0f64);
    for size in [20_000usize, 150_000] {
        let keys: Vec<String> = (0..96)
            .map(|i| format!("calibration/{run}/get-{size}-{i}"))
            .collect();
        for_each_concurrently(&keys, |key| async move {
            stack
                .s3
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(ByteStream::from(content(0, size)))
                .send()
                .await
                .map(drop)
                .map_err(anyhow::Error::from)
        })
        .await?;
        let t = Instant::now();
        for_each_concurrently(&keys, |key| async move {
            let out = stack
                .s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await?;
            out.body.collect().await?;
            anyhow::Ok(())
        })
        .await?;
        per_get.push((
            size as f64,
            t.elapsed().as_secs_f64() * CONCURRENCY as f64 / keys.len() as f64,
        ));
        let t = Instant::now();
        for_each_concurrently(&keys, |key| async move {
            stack
                .s3
                .head_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .map(drop)
                .map_err(anyhow::Error::from)
        })
        .await?;
        heads = (heads.0 + keys.len(), heads.1 + t.elapsed().as_secs_f64());
    }
    let s3_head_latency = heads.1 * CONCURRENCY as f64 / heads.0.max(1) as f64;
    let (s3_get_latency, s3_get_bytes_per_second) = fit(&per_get);

    // Claims and completions, 32 at a time, by the handler's own idempotency store: moto parses each
    // request's condition and update expressions, so their cost depends on what the handler writes.
    let store = app::idempotency::Idempotency::new(
        stack.dynamodb.clone(),
        table.clone(),
        Duration::from_secs(3600),
    );
    let store = &store;
    let ids: Vec<String> = (0..128).map(|i| format!("calibration/{run}#{i}")).collect();
    let owner = &format!("calibration-{run}");
    let lease = std::time::SystemTime::now() + Duration::from_secs(600);
    let t = Instant::now();
    for_each_concurrently(&ids, |id| async move {
        match store.claim(&id, owner, lease).await? {
            app::idempotency::Claim::Claimed => Ok(()),
            other => bail!("a calibration claim of {id} was refused: {other:?}"),
        }
    })
    .await?;
    let dynamodb_claim_latency = t.elapsed().as_secs_f64() * CONCURRENCY as f64 / ids.len() as f64;
    let t = Instant::now();
    for_each_concurrently(&ids, |id| async move {
        store
            .complete(&id, owner, "calibration")
            .await
            .map_err(anyhow::Error::from)
    })
    .await?;
    let dynamodb_complete_latency =
        t.elapsed().as_secs_f64() * CONCURRENCY as f64 / ids.len() as f64;

    // Archive PUTs of two sizes, one at a time.
    let mut per_put = Vec::new();
    for size in [1_000_000usize, 8_000_000] {
        let mut times = Vec::new();
        for i in 0..3 {
            let body = content(i, size);
            let t = Instant::now();
            stack
                .s3
                .put_object()
                .bucket(bucket)
                .key(format!("calibration/{run}/put-{size}-{i}"))
                .body(ByteStream::from(body))
                .send()
                .await
                .context("an archive PUT to moto")?;
            times.push(t.elapsed().as_secs_f64());
        }
        per_put.push((size as f64, median(&times)));
    }
    let (s3_put_latency, s3_put_bytes_per_second) = fit(&per_put);

    let sqs_request_latency = measure_sqs(stack, &run).await?;
    let (upload_work, sqs_request_work) = measure_uploads(stack, &run).await?;
    let (post_round_trip, post_input_bytes_per_second, compression_ratio) =
        measure_post(stack).await?;
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    Ok(Measured {
        s3_head_latency,
        s3_get_latency,
        s3_get_bytes_per_second,
        s3_put_latency,
        s3_put_bytes_per_second,
        dynamodb_claim_latency,
        dynamodb_complete_latency,
        sqs_request_latency,
        post_round_trip,
        upload_work,
        sqs_request_work,
        post_input_bytes_per_second,
        compression_ratio,
        // moto works on one core while the handler downloads and bundles on the others.
        cpus: (cpus.saturating_sub(1)).max(1) as f64,
    })
}

/// A ReceiveMessage that finds messages, on a queue of its own.
async fn measure_sqs(stack: &LocalStack, run: &str) -> Result<f64> {
    let name = format!("calibration-{}", &run[..8.min(run.len())]);
    let url = stack
        .sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .context("creating a calibration queue in moto")?
        .queue_url
        .context("moto returned no queue URL")?;
    let mut times = Vec::new();
    let result = async {
        for i in 0..50 {
            stack
                .sqs
                .send_message()
                .queue_url(&url)
                .message_body(format!("calibration {i}"))
                .send()
                .await?;
        }
        for _ in 0..5 {
            let t = Instant::now();
            stack
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send()
                .await?;
            times.push(t.elapsed().as_secs_f64());
        }
        anyhow::Ok(())
    }
    .await;
    let _ = stack.sqs.delete_queue().queue_url(&url).send().await;
    result.context("timing SQS requests in moto")?;
    Ok(median(&times))
}

/// moto's time per upload and per receive, as the load run asks for them: files of the load's mean size put
/// into the landing bucket (each PUT also sends its notification to the queue), then those notifications
/// received one per request, the way the mapping's long polls mostly find them. Each 32 at a time, so moto is
/// never idle and the time per request is its work. The notifications are deleted after (the mapping is not
/// running yet); the objects stay in the landing bucket, outside the load runs' keys.
async fn measure_uploads(stack: &LocalStack, run: &str) -> Result<(f64, f64)> {
    const UPLOADS: usize = 128;
    let size = (crate::load::MIN_SIZE + crate::load::MAX_SIZE) / 2;
    let keys: Vec<String> = (0..UPLOADS)
        .map(|i| format!("calibration/{run}/upload-{i:03}.json"))
        .collect();
    let t = Instant::now();
    for_each_concurrently(&keys, |key| async move {
        crate::local::put_file(&stack.s3, &stack.landing_bucket, &key, content(0, size))
            .await
            .map(drop)
    })
    .await?;
    let upload_work = t.elapsed().as_secs_f64() / UPLOADS as f64;

    let receipts = std::sync::Mutex::new(Vec::new());
    let slots: Vec<String> = (0..UPLOADS).map(|i| i.to_string()).collect();
    let t = Instant::now();
    for_each_concurrently(&slots, |_| async {
        let out = stack
            .sqs
            .receive_message()
            .queue_url(&stack.queue_url)
            .max_number_of_messages(1)
            .send()
            .await
            .context("receiving a calibration notification from moto")?;
        let mut held = receipts
            .lock()
            .map_err(|_| anyhow::anyhow!("receipt bookkeeping poisoned"))?;
        held.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.receipt_handle.clone()),
        );
        Ok(())
    })
    .await?;
    let sqs_request_work = t.elapsed().as_secs_f64() / UPLOADS as f64;
    let mut receipts = receipts
        .into_inner()
        .map_err(|_| anyhow::anyhow!("receipt bookkeeping poisoned"))?;
    // A receive that raced another for the last message found none: collect what is left.
    while receipts.len() < UPLOADS {
        let out = stack
            .sqs
            .receive_message()
            .queue_url(&stack.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .context("receiving the last calibration notifications from moto")?;
        if out.messages().is_empty() {
            break;
        }
        receipts.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.receipt_handle.clone()),
        );
    }
    for chunk in receipts.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, receipt)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .context("a delete entry")
            })
            .collect::<Result<Vec<_>>>()?;
        let out = stack
            .sqs
            .delete_message_batch()
            .queue_url(&stack.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .context("deleting the calibration notifications")?;
        // One left behind would come back into a load run and be bundled with its files.
        if let Some(failed) = out.failed().first() {
            bail!(
                "moto kept a calibration notification ({}): start the calibration again",
                failed.message().unwrap_or(failed.code())
            );
        }
    }
    if receipts.len() < UPLOADS {
        bail!(
            "{} of {UPLOADS} calibration uploads notified the queue: the landing bucket's notification is not working",
            receipts.len()
        );
    }
    Ok((upload_work, sqs_request_work))
}

/// POSTs of two bundle sizes to the bundled receiver, which checks, unpacks and stores each: its round trip,
/// its rate in input bytes, and the local files' compression ratio.
async fn measure_post(stack: &LocalStack) -> Result<(f64, f64, f64)> {
    let (username, password) = stack
        .receiver_credentials
        .clone()
        .context("calibration needs the bundled receiver (no --nifi-url or --minio-endpoint)")?;
    let client = reqwest::Client::new();
    let scratch = tempfile::tempdir().context("a scratch directory for calibration bundles")?;
    let mut per_post = Vec::new();
    let (mut bytes_in, mut bytes_out) = (0.0f64, 0.0f64);
    for files in [10usize, 80] {
        let dir = scratch.path().join(format!("files-{files}"));
        std::fs::create_dir_all(&dir)?;
        for i in 0..files {
            std::fs::write(
                dir.join(format!("calibration-{i:03}.json")),
                content(i, 100_000),
            )?;
        }
        let mut times = Vec::new();
        let mut size = 0.0;
        for _ in 0..3 {
            let bundle =
                crate::bundle::bundle_dir(&dir, scratch.path(), app::bundle::DEFAULT_LEVEL)?;
            let body = std::fs::read(bundle.path())?;
            size = bundle.bytes_in as f64;
            bytes_in += bundle.bytes_in as f64;
            bytes_out += body.len() as f64;
            let t = Instant::now();
            let response = client
                .post(&stack.endpoint_url)
                .basic_auth(&username, Some(&password))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    app::bundle::headers::BUNDLE_CONTENT_TYPE,
                )
                .header(app::bundle::headers::CONTENT_SHA256, bundle.sha256_hex())
                .header(
                    app::bundle::headers::BUNDLE_ID,
                    bundle.manifest.bundle_id.clone(),
                )
                .header(
                    app::bundle::headers::FILE_COUNT,
                    bundle.manifest.files.len(),
                )
                .header(app::bundle::headers::FILENAME, bundle.file_name())
                .body(body)
                .send()
                .await
                .context("posting a calibration bundle to the receiver")?;
            times.push(t.elapsed().as_secs_f64());
            if !response.status().is_success() {
                bail!(
                    "the receiver refused a calibration bundle: {}",
                    response.status()
                );
            }
        }
        per_post.push((size, median(&times)));
    }
    let (round_trip, rate) = fit(&per_post);
    Ok((round_trip, rate, bytes_in / bytes_out.max(1.0)))
}

async fn for_each_concurrently<F, Fut>(keys: &[String], work: F) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    futures::stream::iter(keys.iter().cloned())
        .map(work)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<Result<()>>>()
        .await
        .into_iter()
        .collect()
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, v.len(), 0.5).unwrap_or(0.0)
}

/// A latency and a rate through two (size, time) points: time = latency + size / rate. A rate that does not
/// show (the larger took no longer) is taken as unlimited.
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let [(b1, t1), (b2, t2)] = points else {
        return (points.first().map_or(0.0, |p| p.1), f64::INFINITY);
    };
    let slope = (t2 - t1) / (b2 - b1);
    if slope <= 0.0 {
        return (t1.min(*t2), f64::INFINITY);
    }
    ((t1 - slope * b1).max(0.0), 1.0 / slope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_points_give_a_latency_and_a_rate() {
        let (latency, rate) = fit(&[(1e6, 0.03 + 1e6 / 50e6), (8e6, 0.03 + 8e6 / 50e6)]);
        assert!((latency - 0.03).abs() < 1e-9 && (rate - 50e6).abs() < 1.0);
        let (latency, rate) = fit(&[(1e6, 0.02), (8e6, 0.01)]);
        assert_eq!((latency, rate), (0.01, f64::INFINITY));
    }
}
