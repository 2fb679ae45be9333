//! The handler's cost and the cold start, measured on the real `aggregator` binary — a release build for this
//! machine — behind a local Lambda runtime API, so that the process's CPU time is the handler's alone.
//!
//! The stack is `cargo xtask local`'s: `local` deployed into moto, the receiver as the endpoint. Files are
//! uploaded, their S3 notifications gathered from the queue as the mapping would, and handed to the
//! aggregator as one SQS event per invocation through `/2018-06-01/runtime/invocation/next`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use app::event::{Body, parse_body};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use futures::StreamExt;
use local_mapping::{Mapping, Poller};
use serde::Serialize;
use tokio::sync::{Mutex, mpsc};

use super::measure::process_cpu_seconds;
use super::{data, median};
use crate::exec::{Cmd, Show};
use crate::local::{LocalStack, StackOptions};

/// Invocations measured; the first also pays for connections and the secret, so the median is reported.
const INVOCATIONS: usize = 3;
/// Cold starts measured; the median is reported.
const COLD_STARTS: usize = 5;
const FUNCTION_NAME: &str = "file-aggregator-bench";
/// The memory the runtime API reports; the environments' setting is what the cost model uses.
const MEMORY_MB: &str = "1024";

#[derive(Debug, Clone, Serialize)]
pub struct HandlerCost {
    pub files_per_invocation: usize,
    pub file_size: usize,
    /// CPU seconds of the aggregator process per invocation, init excluded.
    pub cpu_seconds: Vec<f64>,
    /// Wall time of each invocation, from the event handed over to the response.
    pub wall_seconds: Vec<f64>,
    pub cpu_seconds_per_1000_files: f64,
    pub wall_seconds_per_1000_files: f64,
    pub cold_start_ms: f64,
    pub cold_starts_ms: Vec<f64>,
}

impl HandlerCost {
    pub fn render(&self) -> String {
        format!(
            "  {} invocations of {} files of {} KB: CPU {} s, wall {} s\n  CPU per 1,000 files {:.3} s (median), wall per 1,000 files {:.2} s\n  cold start (process start to first poll of the runtime API) {:.1} ms median of {:?}",
            self.cpu_seconds.len(),
            self.files_per_invocation,
            self.file_size / 1000,
            list(&self.cpu_seconds),
            list(&self.wall_seconds),
            self.cpu_seconds_per_1000_files,
            self.wall_seconds_per_1000_files,
            self.cold_start_ms,
            self.cold_starts_ms
                .iter()
                .map(|m| format!("{m:.1}"))
                .collect::<Vec<_>>(),
        )
    }
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn measure(root: &Path, files: usize) -> Result<HandlerCost> {
    let binary = build(root)?;
    let stack = LocalStack::start_named(root, &StackOptions::default(), "bench").await?;
    let log = root.join("target/bench/aggregator.log");
    let result = measure_on(&stack, &binary, &log, files).await;
    stack.stop().await;
    result
}

/// Builds the aggregator for this machine in release, as the Lambda is built (cargo-lambda only adds the
/// cross-compilation to arm64).
fn build(root: &Path) -> Result<std::path::PathBuf> {
    eprintln!("  building the aggregator (release, first time takes minutes)…");
    Cmd::new(
        "cargo build --release --bin aggregator",
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        root,
    )
    .args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "app",
        "--bin",
        "aggregator",
    ])
    .run_ok(Show::Inherit)?;
    Ok(root.join("target/release/aggregator"))
}

/// Measures `binary`, whose output goes to `log`.
async fn measure_on(
    stack: &LocalStack,
    binary: &Path,
    log: &Path,
    files: usize,
) -> Result<HandlerCost> {
    let environment: Vec<(String, String)> = stack
        .config
        .vars()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain([
            // Production's level: the local environment's debug logging is not what AWS pays for.
            ("RUST_LOG".to_string(), "info".to_string()),
        ])
        .collect();

    let mut cold_starts_ms = Vec::new();
    for _ in 0..COLD_STARTS {
        let api = RuntimeApi::start().await?;
        let started = Instant::now();
        let mut child = api.spawn(binary, &environment, log)?;
        let first_poll = api.first_poll(Duration::from_secs(10)).await;
        let _ = child.kill();
        let _ = child.wait();
        let first_poll = first_poll.context(
            "the aggregator did not poll the runtime API within 10 s: see target/bench/aggregator.log",
        )?;
        cold_starts_ms.push((first_poll - started).as_secs_f64() * 1000.0);
    }

    let api = RuntimeApi::start().await?;
    let mut child = api.spawn(binary, &environment, log)?;
    let outcome = invoke_all(stack, &api, &child, files).await;
    let _ = child.kill();
    let _ = child.wait();
    let (cpu_seconds, wall_seconds) = outcome?;
    let per_1000 = |v: &[f64]| median(v) * 1000.0 / files as f64;
    Ok(HandlerCost {
        files_per_invocation: files,
        file_size: super::THROUGHPUT.file_size,
        cpu_seconds_per_1000_files: per_1000(&cpu_seconds),
        wall_seconds_per_1000_files: per_1000(&wall_seconds),
        cpu_seconds,
        wall_seconds,
        cold_start_ms: median(&cold_starts_ms),
        cold_starts_ms,
    })
}

async fn invoke_all(
    stack: &LocalStack,
    api: &RuntimeApi,
    child: &Child,
    files: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    api.first_poll(Duration::from_secs(10))
        .await
        .context("the aggregator never polled the runtime API: see target/bench/aggregator.log")?;
    let poller = Poller::new(
        stack.sqs.clone(),
        Mapping {
            queue_url: stack.queue_url.clone(),
            batch_size: files,
            batching_window: Duration::from_secs(30),
            function_timeout: Duration::from_secs(900),
        },
    )?;
    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    for invocation in 0..INVOCATIONS {
        let keys: Vec<String> = (0..files)
            .map(|i| format!("bench/{invocation}/{i:05}.jsonl"))
            .collect();
        futures::stream::iter(keys.iter().enumerate())
            .map(|(i, key)| {
                stack.upload(
                    key,
                    data::file(invocation * files + i, super::THROUGHPUT.file_size),
                )
            })
            .buffer_unordered(16)
            .collect::<Vec<Result<_>>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        // Counted in objects, not messages: the queue also holds S3's test event, which carries none.
        let mut event = SqsEvent::default();
        let mut objects = 0;
        while objects < files {
            let batch = poller.next_batch(Duration::from_secs(20)).await?;
            if batch.is_empty() {
                bail!("only {objects} of {files} notifications reached the queue within 20 s");
            }
            objects += batch
                .iter()
                .map(|m| match parse_body(m.body.as_deref()) {
                    Body::Objects(o) => o.len(),
                    Body::TestEvent | Body::Poison(_) => 0,
                })
                .sum::<usize>();
            event.records.extend(batch);
        }
        let before = process_cpu_seconds(child.id())?;
        let started = Instant::now();
        let response = api.invoke(&event).await?;
        wall.push(started.elapsed().as_secs_f64());
        cpu.push(process_cpu_seconds(child.id())? - before);
        if !response.batch_item_failures.is_empty() {
            bail!(
                "invocation {invocation}: {} of {files} files failed; see target/bench/aggregator.log",
                response.batch_item_failures.len()
            );
        }
        eprintln!(
            "  invocation {}: {files} files, CPU {:.2} s, wall {:.2} s",
            invocation + 1,
            cpu[invocation],
            wall[invocation]
        );
    }
    let delivered: usize = stack.stored().iter().map(|b| b.manifest.files.len()).sum();
    if delivered != files * INVOCATIONS {
        bail!(
            "the receiver has {delivered} files, not the {} the invocations reported delivered",
            files * INVOCATIONS
        );
    }
    Ok((cpu, wall))
}

/// What the runtime API shares between its routes and the bench.
struct Shared {
    events: Mutex<mpsc::Receiver<(String, String)>>,
    polls: mpsc::UnboundedSender<Instant>,
    responses: mpsc::UnboundedSender<(String, Result<String, String>)>,
}

/// A Lambda runtime API on a loopback port: hands out events, collects responses.
struct RuntimeApi {
    address: std::net::SocketAddr,
    events: mpsc::Sender<(String, String)>,
    polls: Mutex<mpsc::UnboundedReceiver<Instant>>,
    responses: Mutex<mpsc::UnboundedReceiver<(String, Result<String, String>)>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    async fn start() -> Result<RuntimeApi> {
        let (events, events_rx) = mpsc::channel(1);
        let (polls_tx, polls) = mpsc::unbounded_channel();
        let (responses_tx, responses) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(events_rx),
            polls: polls_tx,
            responses: responses_tx,
        });
        let router = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the runtime API to a loopback port")?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi {
            address,
            events,
            polls: Mutex::new(polls),
            responses: Mutex::new(responses),
            server,
        })
    }

    fn spawn(
        &self,
        binary: &Path,
        environment: &[(String, String)],
        log_path: &Path,
    ) -> Result<Child> {
        let log = std::fs::File::create(log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        Command::new(binary)
            .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", self.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{FUNCTION_NAME}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))
    }

    async fn first_poll(&self, within: Duration) -> Result<Instant> {
        tokio::time::timeout(within, self.polls.lock().await.recv())
            .await
            .ok()
            .flatten()
            .context("no poll of the runtime API")
    }

    async fn invoke(&self, event: &SqsEvent) -> Result<SqsBatchResponse> {
        let id = uuid::Uuid::new_v4().to_string();
        self.events
            .send((id.clone(), serde_json::to_string(event)?))
            .await
            .context("the runtime API stopped")?;
        let (answered, outcome) =
            tokio::time::timeout(Duration::from_secs(900), self.responses.lock().await.recv())
                .await
                .context("no response within the function's 900 s")?
                .context("the runtime API stopped")?;
        if answered != id {
            bail!("the runtime API got a response for {answered}, not {id}");
        }
        match outcome {
            Ok(body) => serde_json::from_str(&body)
                .context("the handler's response is not a batch response"),
            Err(error) => bail!("the handler failed: {error}"),
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Result<(HeaderMap, String), StatusCode> {
    let _ = shared.polls.send(Instant::now());
    let (id, body) = shared
        .events
        .lock()
        .await
        .recv()
        .await
        .ok_or(StatusCode::GONE)?;
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + Duration::from_secs(900);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        format!("arn:aws:lambda:eu-west-2:123456789012:function:{FUNCTION_NAME}"),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".into(),
    );
    set("content-type", "application/json".into());
    Ok((headers, body))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = shared.responses.send((id, Ok(body)));
    StatusCode::ACCEPTED
}

async fn error(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = shared.responses.send((id, Err(body)));
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: String) -> StatusCode {
    let _ = shared.responses.send(("init".into(), Err(body)));
    StatusCode::ACCEPTED
}
