//! `cargo xtask local`: the whole pipeline on this machine, with no AWS account.
//!
//! It starts moto server on a loopback port (or uses the emulator `AWS_ENDPOINT_URL` names) and, in this
//! process, deploys the `local` environment into it by the very path that deploys dev and prod (as `cargo xtask
//! deploy local --yes`: build, generate, terraform init/plan/apply), puts the endpoint credentials into the
//! secret (as `cargo xtask secret local`), starts the bundled receiver as the NiFi endpoint, or delivers to a real
//! sink the options name ([`Sink`]), and runs the real handler as AWS would: a local event source mapping with
//! the deployed mapping's batch size, batching window and maximum concurrency. The aggregator's configuration is
//! the deployed function's environment, read back from the emulator; only the endpoint (the bundled receiver's
//! port chosen now, or the real sink) and path-style S3 addressing are set here.
//!
//! `local` runs a demo (upload, wait, verify, report, stop); `local up` keeps it running with a status line;
//! `load` (see load/mod.rs) drives it at a rate and measures the service level objective.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use app::{Aggregator, RawConfig};
use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use emulator::Moto;
use local_mapping::{Mapping, Scaling};
use receiver::{BasicCredentials, Fault, ReceiverConfig, RunningReceiver, StoredBundle};
use sha2::{Digest, Sha256};

use crate::deployed::Deployed;
use crate::report::{Measurements, Sample};
use crate::sink::Sink;
use crate::target::{self, Aws, Target};
use crate::terraform::{self, Terraform};
use crate::ui::{self, Step};
use crate::{aws, setup};

/// Options shared by `local`, `local up` and `load`: where the run delivers (see [`Sink`]) and the faults of
/// the bundled receiver. Accepted before `up` and after it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StackOptions {
    /// Deliver to this NiFi URL instead of the bundled receiver (its credentials: --stdin or --username).
    #[arg(long, value_name = "URL", global = true)]
    pub nifi_url: Option<String>,
    /// Deliver to this S3-compatible (MinIO) endpoint instead (its access and secret key: --stdin or
    /// --username).
    #[arg(long, value_name = "URL", global = true)]
    pub minio_endpoint: Option<String>,
    /// The bucket in the MinIO endpoint (it must exist).
    #[arg(long, value_name = "BUCKET", global = true)]
    pub minio_bucket: Option<String>,
    /// The real sink's credentials, as `cargo xtask secret` takes them.
    #[command(flatten)]
    pub credentials: crate::secret::ValueArgs,
    /// Make the bundled receiver fail: 503, timeout or drop.
    #[arg(long, value_name = "MODE", value_parser = ["503", "timeout", "drop"], global = true)]
    pub fail: Option<String>,
    /// When the fault starts, in seconds after the files start arriving.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 5,
        requires = "fail",
        global = true
    )]
    pub fail_after: u64,
    /// How long the fault lasts, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30,
        requires = "fail",
        global = true
    )]
    pub fail_for: u64,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub mode: Option<Mode>,
    /// How many files the demo uploads.
    #[arg(long, default_value_t = 300)]
    pub files: usize,
    #[command(flatten)]
    pub stack: StackOptions,
}

#[derive(clap::Subcommand, Debug)]
pub enum Mode {
    /// Keep the stack running, with a live status line, until Ctrl-C.
    Up,
}

/// The running local pipeline.
pub struct LocalStack {
    /// The emulator this run started, if it did not use one named by `AWS_ENDPOINT_URL`; stopped on drop.
    _moto: Option<Moto>,
    /// The emulator's endpoint.
    pub emulator: String,
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub landing_bucket: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub breaker_table: String,
    pub archive_bucket: String,
    /// The bundled receiver, when the run delivers to it.
    pub receiver: Option<RunningReceiver>,
    sink: Sink,
    /// A real sink's deliveries, as the pipeline records them.
    records: Option<Deployed>,
    pub endpoint_url: String,
    /// The Basic credentials the bundled receiver requires (username, password); `None` for another endpoint.
    pub receiver_credentials: Option<(String, String)>,
    /// The aggregator's configuration as deployed, pointed at this stack's endpoint.
    pub config: RawConfig,
    mapping: Mapping,
    max_concurrency: usize,
    stop: AtomicBool,
}

/// The event source mapping as deployed: its settings, read back from the emulator.
struct DeployedMapping {
    batch_size: usize,
    batching_window: Duration,
    max_concurrency: usize,
}

impl LocalStack {
    /// Starts moto, deploys `local` into it, sets the secret, starts the receiver and the mapping.
    pub async fn start(root: &Path, options: &StackOptions) -> Result<LocalStack> {
        LocalStack::start_named(root, options, "local").await
    }

    /// Starts a stack whose Terraform state (`target/xtask/<name>-run`) and received bundles
    /// (`target/<name>/bundles`) are its own, so that `bench` never touches the state of a `local up`.
    pub async fn start_named(
        root: &Path,
        options: &StackOptions,
        name: &str,
    ) -> Result<LocalStack> {
        // A real sink's credentials are read first: a missing value costs no deployment.
        let sink = Sink::from_options(options)?;
        setup::run_setup(root)?;
        let (moto, aws) = start_emulator()?;
        let target = target::resolve("local", aws)?;
        let emulator = target.aws.endpoint().unwrap_or_default().to_string();
        let outputs = deploy(root, &target, name).await?;
        let output = |name: &str| -> Result<String> {
            terraform::output_string(&outputs, name)
                .with_context(|| format!("the local deployment has no Terraform output `{name}`"))
        };
        let function_name = output("function_name")?;
        let landing_bucket = output("landing_bucket")?;

        let generated = crate::secret::Value::basic("local", &format!("local-{}", uuid_like()))?;
        let credentials = sink.credentials().unwrap_or(&generated);
        let step = Step::start("put the endpoint credentials into the secret");
        crate::secret::put(&target, credentials)
            .await
            .context("putting the endpoint credentials into the local secret")?;
        step.done();

        let sdk = aws::sdk(&target).await;
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        let (deployed, timeout) = deployed_function(&lambda, &function_name)
            .await
            .context("reading the deployed function's configuration from the emulator")?;
        let mapping = take_over_mapping(&lambda, &function_name).await?;

        let mut config = RawConfig::from_pairs(deployed);
        config.set("S3_FORCE_PATH_STYLE", "true");
        sink.configure(&mut config);
        let receiver = match sink {
            Sink::Receiver => {
                let store = root.join(format!("target/{name}/bundles"));
                let _ = std::fs::remove_dir_all(&store);
                let basic = &generated.credentials;
                let receiver = receiver::spawn(
                    ReceiverConfig::new(&store)
                        .with_credentials(BasicCredentials::new(&basic.username, &basic.password)),
                )
                .await?;
                config.set("NIFI_URL", receiver.url());
                Some(receiver)
            }
            Sink::Nifi { .. } | Sink::Minio { .. } => None,
        };
        let validated = config
            .validate()
            .context("the deployed function's configuration")?;
        let receiver_credentials = receiver.as_ref().map(|_| {
            let basic = &generated.credentials;
            (basic.username.clone(), basic.password.clone())
        });
        let endpoint_url = match (&receiver, sink.url()) {
            (Some(r), _) => r.url(),
            (None, url) => url.unwrap_or_default().to_string(),
        };
        // A real sink's deliveries are counted by the pipeline's records.
        let records = receiver
            .is_none()
            .then(|| Deployed::new(&sdk, &landing_bucket, &validated));
        let stack = LocalStack {
            _moto: moto,
            emulator,
            s3: aws::s3(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            landing_bucket,
            queue_url: validated.source_queue_url.clone(),
            dlq_url: validated.dlq_url.clone(),
            breaker_table: validated.breaker_table.clone(),
            archive_bucket: validated.archive_bucket.clone(),
            receiver,
            sink,
            records,
            endpoint_url,
            receiver_credentials,
            config,
            mapping: Mapping {
                queue_url: validated.source_queue_url,
                batch_size: mapping.batch_size,
                batching_window: mapping.batching_window,
                function_timeout: timeout,
            },
            max_concurrency: mapping.max_concurrency,
            stop: AtomicBool::new(false),
            sdk,
        };
        println!(
            "local: mapping batch size {}, batching window {}, maximum concurrency {}; endpoint {}",
            mapping.batch_size,
            ui::elapsed(mapping.batching_window),
            mapping.max_concurrency,
            stack.endpoint_url
        );
        Ok(stack)
    }

    /// Runs the mapping until `halt`, scaled as Lambda's (five concurrent batches at first, more while messages
    /// wait, up to the maximum concurrency), with one aggregator instance per unit of maximum concurrency.
    pub async fn run_mapping(&self) -> Result<()> {
        let config = self.config.validate()?;
        let aggregators: Vec<Aggregator> = (0..self.max_concurrency)
            .map(|_| {
                Aggregator::new(config.clone(), &self.sdk)
                    .with_metrics_writer(Box::new(std::io::sink()))
            })
            .collect();
        let handlers: Vec<_> = aggregators
            .iter()
            .map(|aggregator| move |event, deadline| aggregator.handle(event, deadline))
            .collect();
        self.stop.store(false, Ordering::Relaxed);
        local_mapping::run_mapping(
            &self.sqs,
            &self.mapping,
            Scaling::new(self.max_concurrency as u32),
            &handlers,
            &self.stop,
        )
        .await
        .context("the local event source mapping")
    }

    /// Tells the mapping to stop after the invocations under way.
    pub fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Runs `work` while the mapping runs, then stops the mapping.
    pub async fn with_mapping<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T> {
        let work = async {
            let result = work.await;
            self.halt();
            result
        };
        let (mapping, result) = tokio::join!(self.run_mapping(), work);
        mapping?;
        Ok(result)
    }

    /// Puts a file into the landing bucket, as the external party does.
    pub async fn upload(&self, key: &str, body: Vec<u8>) -> Result<Sent> {
        put_file(&self.s3, &self.landing_bucket, key, body).await
    }

    /// Makes the bundled receiver fail for a while, starting after a delay.
    pub fn schedule_fault(&self, options: &StackOptions) {
        let (Some(mode), Some(receiver)) = (&options.fail, &self.receiver) else {
            return;
        };
        let fault = match mode.as_str() {
            "503" => Fault::Unavailable,
            "timeout" => Fault::Timeout {
                delay: Duration::from_secs(120),
            },
            _ => Fault::Drop,
        };
        let handle = receiver.handle();
        let (after, lasts) = (
            Duration::from_secs(options.fail_after),
            Duration::from_secs(options.fail_for),
        );
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            println!("local: the receiver fails ({}) for {lasts:?}", fault.mode());
            handle.set_fault_for(fault, lasts);
        });
    }

    /// Messages in a queue, visible and in flight; 0 when it cannot be read (a status figure, not a check).
    pub async fn depth(&self, url: &str) -> usize {
        queue_depth(&self.sqs, url).await.unwrap_or(0)
    }

    /// The breaker's stored state, `CLOSED` when there is none.
    pub async fn breaker_state(&self) -> String {
        let Ok(out) = self
            .dynamodb
            .scan()
            .table_name(&self.breaker_table)
            .send()
            .await
        else {
            return "unknown".into();
        };
        out.items()
            .first()
            .and_then(|i| i.get("state"))
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_else(|| "CLOSED".into())
    }

    /// What the bundled receiver stored so far.
    pub fn stored(&self) -> Vec<StoredBundle> {
        self.receiver
            .as_ref()
            .and_then(|r| r.stored_bundles().ok())
            .unwrap_or_default()
    }

    /// Stops the receiver and the emulator.
    pub async fn stop(mut self) {
        if let Some(receiver) = self.receiver.take() {
            receiver.shutdown().await;
        }
    }
}

fn uuid_like() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}", Sha256::digest(nanos.to_le_bytes()))[..16].to_string()
}

/// The emulator the stack lives in: the one `AWS_ENDPOINT_URL` names (LocalStack, a moto already running), or
/// a moto server started now on a loopback port (stopped with the stack).
fn start_emulator() -> Result<(Option<Moto>, Aws)> {
    let aws = Aws::from_env();
    if let Some(endpoint) = aws.endpoint() {
        println!("local: using the emulator at {endpoint} (AWS_ENDPOINT_URL)");
        return Ok((None, aws));
    }
    let step = Step::start("start moto server");
    let moto = Moto::start()?;
    step.done_with(&format!("on {}", moto.endpoint()));
    let url = moto.endpoint().to_string();
    Ok((Some(moto), Aws::Emulator { url }))
}

/// Deploys the local environment into the emulator in-process, by the path that deploys dev and prod (as
/// `cargo xtask deploy local --yes`), in a working directory of its own (`target/xtask/<name>-run`), so a local
/// run never shares Terraform state with a deploy of `local` that someone runs by hand.
async fn deploy(root: &Path, target: &Target, name: &str) -> Result<terraform::Outputs> {
    let options = terraform::Options {
        work_dir: Some(root.join(format!("target/xtask/{name}-run"))),
        plugin_dir: None,
        registry: false,
    };
    let tf = Terraform::new(root, target, &options)?;
    let plan = crate::deploy::Plan {
        skip_build: false,
        summary_file: None,
        summary: crate::deploy::Detail::Headline,
    };
    // The build and Terraform block for minutes: off the runtime's worker threads.
    let outcome =
        tokio::task::block_in_place(|| crate::deploy::deploy(root, target, &tf, &plan, true))
            .context("deploying the local environment into the emulator failed")?;
    crate::release::after_deploy(target, &outcome.outputs).await?;
    Ok(outcome.outputs)
}

/// Whether a mapping's function ARN (`arn:aws:lambda:<region>:<account>:function:<name>[:<version or alias>]`)
/// invokes `function_name`: the queue is mapped to the `live` alias, whose ARN carries it as a qualifier.
fn invokes(arn: &str, function_name: &str) -> bool {
    arn.split_once(":function:")
        .is_some_and(|(_, rest)| rest.split(':').next() == Some(function_name))
}

/// Reads the deployed event source mapping's settings, then disables the emulator's own run of it: the local
/// poller is the mapping, so the emulator's copy must not consume the queue too. moto runs an enabled SQS
/// mapping itself, synchronously inside every SendMessage (so inside every S3 PutObject's notification): it
/// receives up to the batch size (1000) of visible messages, tries to invoke the function in docker once per
/// message, fails, and makes them visible again. That bumps every waiting message's receive count per upload
/// (toward the redrive limit), steals messages from the poller, and costs moto time quadratic in the queue's
/// depth: at 100 files/s uploads fell to ~3/s and nothing was delivered. AWS (dev, prod) keeps it enabled.
async fn take_over_mapping(
    lambda: &aws_sdk_lambda::Client,
    function_name: &str,
) -> Result<DeployedMapping> {
    // Listed unfiltered: moto does not filter by a function's name, only by its ARN.
    let mappings = lambda
        .list_event_source_mappings()
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws::describe(&e)))
        .context("reading the deployed event source mapping")?;
    let mapping = mappings
        .event_source_mappings()
        .iter()
        .find(|m| {
            m.function_arn()
                .is_some_and(|arn| invokes(arn, function_name))
        })
        .context("the local deployment has no event source mapping for the function")?;
    let settings = DeployedMapping {
        batch_size: mapping.batch_size().unwrap_or(10).max(1) as usize,
        batching_window: Duration::from_secs(
            mapping
                .maximum_batching_window_in_seconds()
                .unwrap_or(0)
                .max(0) as u64,
        ),
        max_concurrency: mapping
            .scaling_config()
            .and_then(|s| s.maximum_concurrency())
            .unwrap_or(2)
            .max(1) as usize,
    };
    let uuid = mapping
        .uuid()
        .context("the deployed event source mapping has no UUID")?;
    lambda
        .update_event_source_mapping()
        .uuid(uuid)
        .enabled(false)
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws::describe(&e)))
        .context("disabling the emulator's own run of the event source mapping")?;
    Ok(settings)
}

/// A file the run uploaded, to check what arrives against.
pub struct Sent {
    pub sha256: String,
    pub size: u64,
    /// The identities its idempotency record may have (`ObjectRef::identity`): by version id, as S3's events
    /// for a versioned bucket name it, and by ETag, for emulators whose events leave the version out (moto).
    pub identities: Vec<String>,
    /// When S3 acknowledged the upload, by this machine's clock.
    pub uploaded_at: time::OffsetDateTime,
}

/// Puts a file into a landing bucket, as the external party does, and says what was sent.
pub async fn put_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<Sent> {
    let sha256 = hex::encode(Sha256::digest(&body));
    let size = body.len() as u64;
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .with_context(|| format!("uploading s3://{bucket}/{key}"))?;
    let uploaded_at = time::OffsetDateTime::now_utc();
    // The event S3 sends names the same object: its ETag without the quotes the response carries.
    let mut object = app::event::ObjectRef {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: out.version_id().map(str::to_string),
        size,
        etag: out
            .e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_string(),
        event_time: String::new(),
    };
    let mut identities = vec![object.identity()];
    if object.version_id.take().is_some() {
        identities.push(object.identity());
    }
    Ok(Sent {
        sha256,
        size,
        identities,
        uploaded_at,
    })
}

/// Messages in a queue, visible and in flight.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<usize> {
    local_mapping::queue_depth(sqs, url)
        .await
        .with_context(|| format!("reading the depth of {url}"))
}

/// A deployed function's environment variables and timeout.
pub async fn deployed_function(
    lambda: &aws_sdk_lambda::Client,
    function_name: &str,
) -> Result<(HashMap<String, String>, Duration)> {
    let function = lambda
        .get_function_configuration()
        .function_name(function_name)
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws::describe(&e)))
        .with_context(|| format!("reading the configuration of function {function_name}"))?;
    let environment = function
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    let timeout = Duration::from_secs(function.timeout().unwrap_or(60).max(1) as u64);
    Ok((environment, timeout))
}

impl LocalStack {
    /// The pipeline's progress now, for the picture over time.
    pub async fn sample(&self, started: Instant, sent: &Mutex<HashMap<String, Sent>>) -> Sample {
        match &self.records {
            Some(records) => records.sample(started, sent).await,
            None => {
                let uploaded = sent.lock().map_or(0, |s| s.len());
                self.receiver_sample(started, uploaded).await
            }
        }
    }

    /// The progress at the bundled receiver: every file of every stored bundle counts.
    async fn receiver_sample(&self, started: Instant, uploaded: usize) -> Sample {
        Sample {
            at: started.elapsed().as_secs_f64(),
            uploaded,
            delivered: self.stored().iter().map(|b| b.manifest.files.len()).sum(),
            backlog: self.depth(&self.queue_url).await,
        }
    }

    /// Files and bundles delivered so far, whoever uploaded them: at the bundled receiver, or as the pipeline
    /// recorded them for a real sink.
    async fn delivered_so_far(&self) -> Result<(usize, usize)> {
        if let Some(records) = &self.records {
            return records.recorded_deliveries().await;
        }
        let bundles = self.stored();
        let files = bundles.iter().map(|b| b.manifest.files.len()).sum();
        Ok((files, bundles.len()))
    }
}

/// After the uploads: waits until every sent file is in a stored bundle (or `limit` passes), sampling progress
/// every second, then checks and measures what arrived. For a real sink, the pipeline's records say what was
/// delivered, and a MinIO store must hold every bundle that carried a file, intact.
pub async fn settle(
    stack: &LocalStack,
    sent: &HashMap<String, Sent>,
    started: Instant,
    upload_span: Duration,
    limit: Duration,
    mut samples: Vec<Sample>,
) -> Result<Measurements> {
    if let Some(records) = &stack.records {
        let (m, bundles) = records
            .settle(sent, started, upload_span, limit, samples)
            .await?;
        stack
            .sink
            .verify_store(&stack.s3, &stack.archive_bucket, &bundles)
            .await?;
        return Ok(m);
    }
    let why = format!(
        "; batching window {}",
        ui::elapsed(stack.mapping.batching_window)
    );
    sample_until_delivered(sent.len(), limit, &why, &mut samples, || async {
        let mut sample = stack.receiver_sample(started, sent.len()).await;
        // This run's files only.
        sample.delivered = delivered_keys(&stack.stored(), sent).len();
        Ok(sample)
    })
    .await?;
    let mut m = measure(stack, sent)?;
    m.samples = samples;
    m.upload_span = upload_span;
    m.dead_letters = queue_depth(&stack.sqs, &stack.dlq_url).await?;
    Ok(m)
}

/// Takes a sample every second until one counts `total` files delivered or `limit` has passed, with a live
/// line of where delivery stands (`why` says what the wait is made of: the batching window).
pub async fn sample_until_delivered<F>(
    total: usize,
    limit: Duration,
    why: &str,
    samples: &mut Vec<Sample>,
    mut sample: impl FnMut() -> F,
) -> Result<()>
where
    F: std::future::Future<Output = Result<Sample>>,
{
    let deadline = Instant::now() + limit;
    let step = Step::start(format!("deliver {total} files"));
    loop {
        let now = sample().await?;
        samples.push(now);
        let status = format!(
            "{} / {total} delivered, {} elapsed{why}",
            now.delivered,
            ui::elapsed(Duration::from_secs_f64(now.at))
        );
        if now.delivered >= total {
            step.done_with(&status);
            return Ok(());
        }
        if Instant::now() > deadline {
            step.fail();
            // The report says what is missing.
            return Ok(());
        }
        step.status(&status);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn delivered_keys<'a>(
    bundles: &'a [StoredBundle],
    sent: &HashMap<String, Sent>,
) -> HashMap<&'a str, usize> {
    let mut keys = HashMap::new();
    for bundle in bundles {
        for file in &bundle.manifest.files {
            if sent.contains_key(&file.key) {
                *keys.entry(file.key.as_str()).or_insert(0) += 1;
            }
        }
    }
    keys
}

/// Checks what arrived against what was sent, file by file, and measures it.
pub fn measure(stack: &LocalStack, sent: &HashMap<String, Sent>) -> Result<Measurements> {
    let bundles = stack.stored();
    let mut m = Measurements {
        files_uploaded: sent.len(),
        ..Measurements::default()
    };
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for bundle in &bundles {
        // The receiver checked hash and manifest before it stored; check the stored bytes once more.
        if let Some(receiver) = &stack.receiver {
            let bytes = std::fs::read(receiver.bundle_path(&bundle.bundle_id))
                .with_context(|| format!("reading stored bundle {}", bundle.bundle_id))?;
            if hex::encode(Sha256::digest(&bytes)) != bundle.sha256 {
                bail!(
                    "stored bundle {} does not match its SHA-256",
                    bundle.bundle_id
                );
            }
        }
        let mut counted = false;
        for file in &bundle.manifest.files {
            let Some(original) = sent.get(&file.key) else {
                continue;
            };
            if file.sha256 != original.sha256 {
                bail!(
                    "{} arrived with SHA-256 {} but was sent with {}",
                    file.key,
                    file.sha256,
                    original.sha256
                );
            }
            *seen.entry(file.key.as_str()).or_insert(0) += 1;
            m.bytes_in += file.size;
            let latency = bundle.received_at - original.uploaded_at;
            m.latencies
                .push(Duration::from_secs_f64(latency.as_seconds_f64().max(0.0)));
            counted = true;
        }
        if counted {
            m.bundles += 1;
            m.bytes_out += bundle.size;
        }
    }
    if let Some((key, n)) = seen.iter().find(|(_, n)| **n > 1) {
        bail!("{key} was delivered {n} times");
    }
    m.files_delivered = seen.len();
    Ok(m)
}

/// A file of `size` bytes: text that compresses as real records do.
pub fn content(i: usize, size: usize) -> Vec<u8> {
    let line = format!(
        "{{\"file\":{i},\"reading\":{},\"status\":\"ok\"}}\n",
        i * 7919 % 1000
    );
    line.as_bytes()
        .iter()
        .cycle()
        .take(size.max(1))
        .copied()
        .collect()
}

pub async fn run(root: &Path, args: Args) -> Result<()> {
    let stack = LocalStack::start(root, &args.stack).await?;
    let result = match args.mode {
        Some(Mode::Up) => stack.with_mapping(up(&stack)).await,
        None => stack.with_mapping(demo(root, &stack, &args)).await,
    };
    let result = result.and_then(|r| r);
    stack.stop().await;
    result
}

async fn demo(root: &Path, stack: &LocalStack, args: &Args) -> Result<()> {
    let started = Instant::now();
    stack.schedule_fault(&args.stack);
    let mut sent = HashMap::new();
    let step = Step::start(format!("upload {} files", args.files));
    let uploads = upload_all(
        stack,
        (0..args.files)
            .map(|i| {
                (
                    format!("demo/{i:05}.json"),
                    content(i, 2_000 + i * 37 % 8_000),
                )
            })
            .collect(),
    )
    .await?;
    for (key, s) in uploads {
        sent.insert(key, s);
    }
    step.done();
    let upload_span = started.elapsed();
    let m = settle(
        stack,
        &sent,
        started,
        upload_span,
        Duration::from_secs(600),
        Vec::new(),
    )
    .await?;
    println!("{}", m.text());
    let written = m.write(
        &output_dir(root),
        "demo",
        &format!("cargo xtask local: {} files", m.files_uploaded),
    )?;
    m.require_all_delivered()?;
    println!("local: every file arrived intact");
    println!("local: {}", written.locations());
    Ok(())
}

/// Uploads files 16 at a time, recording when each upload finished.
async fn upload_all(
    stack: &LocalStack,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Vec<(String, Sent)>> {
    use futures::StreamExt;
    let results: Vec<Result<(String, Sent)>> = futures::stream::iter(files)
        .map(|(key, body)| async move {
            let sent = stack.upload(&key, body).await?;
            Ok((key, sent))
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn up(stack: &LocalStack) -> Result<()> {
    println!("local: the stack is up");
    println!("  endpoint        {}", stack.endpoint_url);
    println!("  landing bucket  {}", stack.landing_bucket);
    println!("  queue           {}", stack.queue_url);
    println!("  dead letters    {}", stack.dlq_url);
    println!(
        "  upload a file:  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {} s3 cp ./file.txt s3://{}/",
        stack.emulator, stack.landing_bucket
    );
    println!(
        "  daily report:   AWS_ENDPOINT_URL={} cargo xtask report local --date {}",
        stack.emulator,
        time::OffsetDateTime::now_utc().date()
    );
    println!("  stop:           Ctrl-C");
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let (files, bundles) = stack.delivered_so_far().await?;
        let line = format!(
            "files delivered {files}  bundles {bundles}  queue {}  dlq {}  breaker {}",
            stack.depth(&stack.queue_url).await,
            stack.depth(&stack.dlq_url).await,
            stack.breaker_state().await
        );
        if crate::ui::interactive() {
            print!("\r\x1b[2K{line}");
            let _ = std::io::Write::flush(&mut std::io::stdout());
        } else {
            println!("{line}");
        }
        tokio::select! {
            _ = &mut ctrl_c => break,
            () = tokio::time::sleep(Duration::from_secs(if crate::ui::interactive() { 1 } else { 10 })) => {}
        }
    }
    println!("\nlocal: shutting down");
    Ok(())
}

/// Where reports and plots go.
pub fn output_dir(root: &Path) -> PathBuf {
    root.join("target/local")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_to_the_functions_alias_or_the_function_itself_invokes_it() {
        let function = "arn:aws:lambda:eu-west-1:123456789012:function:local-aggregator";
        assert!(invokes(function, "local-aggregator"));
        assert!(invokes(&format!("{function}:live"), "local-aggregator"));
        assert!(invokes(&format!("{function}:7"), "local-aggregator"));
        assert!(!invokes(
            &format!("{function}-old:live"),
            "local-aggregator"
        ));
        assert!(!invokes(function, "aggregator"));
    }
}
