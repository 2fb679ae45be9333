//! One invocation: an SQS batch in, one bundle archived and delivered, the partial batch response out.
//!
//! Order of work: parse every message → ask the breaker → claim every object → download and bundle the claimed
//! ones → archive → deliver → mark delivered or release → decide each message's fate. A message is reported
//! failed exactly when one of its files was not delivered (and not already delivered before); poison and
//! messages naming deleted objects go to the DLQ with their reason and are acknowledged.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::StreamExt;

use crate::archive::{self, archive_key};
use crate::breaker::{Admission, Breaker, Transition};
use crate::bundle::{Bundle, BundleError, BundleWriter, entry_path};
use crate::config::{Config, SinkConfig};
use crate::credentials::SecretCache;
use crate::delivery::{DeliveryError, FailureKind, MinioSink, NifiSink, Parcel, Sink};
use crate::download::{self, FetchError, Fetched};
use crate::event::{Body, ObjectRef, parse_body};
use crate::idempotency::{Claim, Idempotency};
use crate::manifest::FileEntry;
use crate::metrics::Metrics;
use crate::queue::{Hold, Queues};

/// What became of one object in this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    Pending,
    Delivered,
    Duplicate,
    /// Another invocation holds it.
    Busy,
    /// Deleted before it could be read: permanent.
    Missing(String),
    /// Not delivered this time; `endpoint` when the endpoint (or the breaker) is why, so the message is held.
    Failed {
        endpoint: bool,
    },
}

/// A message of the batch that named objects.
struct Message {
    id: String,
    receipt_handle: Option<String>,
    receive_count: u32,
    body: String,
    objects: Vec<usize>,
}

/// The aggregator with its clients; built once per Lambda instance, used by every invocation.
pub struct Aggregator {
    config: Config,
    s3: aws_sdk_s3::Client,
    sink: Sink,
    idempotency: Idempotency,
    breaker: Breaker,
    queues: Queues,
    metrics_out: Mutex<Box<dyn Write + Send>>,
}

impl Aggregator {
    /// Builds the clients from the SDK configuration (which carries `AWS_ENDPOINT_URL` for emulators).
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Aggregator {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(config.s3_force_path_style)
                .build(),
        );
        let secrets = Arc::new(SecretCache::new(
            aws_sdk_secretsmanager::Client::new(sdk),
            config.credentials_secret_id.clone(),
            config.secret_cache,
        ));
        let (sink, endpoint_id) = match &config.sink {
            SinkConfig::Nifi { url } => (
                Sink::Nifi(Arc::new(NifiSink::new(
                    url.clone(),
                    secrets,
                    config.http_connect_timeout,
                    config.http_timeout,
                ))),
                url.clone(),
            ),
            SinkConfig::Minio { endpoint, bucket } => (
                Sink::Minio(Arc::new(MinioSink::new(
                    endpoint.clone(),
                    bucket.clone(),
                    secrets,
                ))),
                format!("{endpoint}/{bucket}"),
            ),
        };
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        Aggregator {
            s3,
            sink,
            idempotency: Idempotency::new(
                dynamodb.clone(),
                config.idempotency_table.clone(),
                config.idempotency_ttl,
            ),
            breaker: Breaker::new(
                dynamodb,
                config.breaker_table.clone(),
                endpoint_id,
                config.breaker,
                uuid::Uuid::new_v4().to_string(),
            ),
            queues: Queues::new(
                aws_sdk_sqs::Client::new(sdk),
                config.source_queue_url.clone(),
                config.dlq_url.clone(),
            ),
            metrics_out: Mutex::new(Box::new(std::io::stdout())),
            config,
        }
    }

    /// Sends the EMF metrics somewhere other than stdout (tests capture them).
    pub fn with_metrics_writer(self, out: Box<dyn Write + Send>) -> Aggregator {
        Aggregator {
            metrics_out: Mutex::new(out),
            ..self
        }
    }

    /// Handles one SQS batch; `deadline` is when the invocation must have answered.
    pub async fn handle(&self, event: SqsEvent, deadline: SystemTime) -> SqsBatchResponse {
        let started = Instant::now();
        let mut metrics = Metrics::default();
        let mut failed: BTreeSet<String> = BTreeSet::new();
        let mut holds: Vec<Hold> = Vec::new();
        let (messages, objects) = self.parse(event, &mut metrics, &mut failed).await;
        let mut fates = vec![Fate::Pending; objects.len()];
        // While the breaker is open, a held message stays hidden at least until the cool-down ends.
        let mut hold_floor = Duration::ZERO;
        if !objects.is_empty() {
            metrics.add("FilesReceived", objects.len() as f64);
            hold_floor = self
                .process(&objects, &mut fates, deadline, &mut metrics)
                .await;
        }

        for message in &messages {
            self.settle(
                message,
                &fates,
                hold_floor,
                &mut metrics,
                &mut failed,
                &mut holds,
            )
            .await;
        }
        if !holds.is_empty() {
            let unheld = self.queues.hold(&holds).await;
            metrics.add("MessagesHeld", (holds.len() - unheld) as f64);
        }
        metrics.add("MessagesFailed", failed.len() as f64);
        metrics.add("BreakerErrors", f64::from(self.breaker.take_errors()));
        metrics.set("InvocationMillis", started.elapsed().as_millis() as f64);
        if let Ok(mut out) = self.metrics_out.lock() {
            metrics.emit(
                &self.config.metrics_namespace,
                &self.config.function_name,
                &mut **out,
            );
        }
        tracing::info!(
            messages = messages.len(),
            files = objects.len(),
            delivered = metrics.count("FilesDelivered"),
            duplicates = metrics.count("Duplicates"),
            failed_messages = failed.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch done"
        );
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failure
            })
            .collect();
        response
    }

    /// Reads every message: test events are acknowledged, poison is dead-lettered, objects are collected once.
    async fn parse(
        &self,
        event: SqsEvent,
        metrics: &mut Metrics,
        failed: &mut BTreeSet<String>,
    ) -> (Vec<Message>, Vec<ObjectRef>) {
        let mut messages = Vec::new();
        let mut objects: Vec<ObjectRef> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for record in event.records {
            let Some(id) = record.message_id.clone() else {
                tracing::error!(
                    "an SQS record without a message id cannot be acknowledged or failed; skipped"
                );
                continue;
            };
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            match parse_body(record.body.as_deref()) {
                Body::TestEvent => metrics.add("TestEvents", 1.0),
                Body::Poison(reason) => {
                    metrics.add("PoisonMessages", 1.0);
                    self.dead_letter(&id, record.body.as_deref().unwrap_or(""), &reason, failed)
                        .await;
                }
                Body::Objects(list) => {
                    let indexes = list
                        .into_iter()
                        .map(|object| {
                            *index.entry(object.identity()).or_insert_with(|| {
                                objects.push(object);
                                objects.len() - 1
                            })
                        })
                        .collect();
                    messages.push(Message {
                        id,
                        receipt_handle: record.receipt_handle,
                        receive_count,
                        body: record.body.unwrap_or_default(),
                        objects: indexes,
                    });
                }
            }
        }
        (messages, objects)
    }

    async fn dead_letter(&self, id: &str, body: &str, reason: &str, failed: &mut BTreeSet<String>) {
        tracing::warn!(message_id = id, reason, "dead-lettering a message");
        if let Err(e) = self.queues.dead_letter(id, body, reason).await {
            // Not acknowledged, so not lost: it comes back, and maxReceiveCount is the last resort.
            tracing::error!(message_id = id, error = %e, "could not send to the DLQ; the message stays in the queue");
            failed.insert(id.to_string());
        }
    }

    /// Breaker, claims, bundle, archive, delivery: sets every object's fate. Returns the breaker's
    /// remaining cool-down when it refused delivery.
    async fn process(
        &self,
        objects: &[ObjectRef],
        fates: &mut [Fate],
        deadline: SystemTime,
        metrics: &mut Metrics,
    ) -> Duration {
        let (admission, transition) = self.breaker.admit().await;
        record_transition(metrics, transition);
        if let Admission::Refused { retry_after } = admission {
            metrics.set("BreakerOpen", 1.0);
            metrics.add("FailuresBreakerOpen", 1.0);
            metrics.set("BreakerRetryAfterSeconds", retry_after.as_secs_f64());
            fates.fill(Fate::Failed { endpoint: true });
            return retry_after;
        }

        let created = time::OffsetDateTime::now_utc();
        let bundle_id = uuid::Uuid::now_v7().to_string();
        self.claim(objects, fates, &bundle_id, deadline, metrics)
            .await;
        let claimed: Vec<usize> = (0..objects.len())
            .filter(|&i| fates[i] == Fate::Pending)
            .collect();
        if claimed.is_empty() {
            return Duration::ZERO;
        }

        let bundle = self
            .build(objects, &claimed, fates, bundle_id.clone(), created)
            .await;
        let in_bundle: Vec<usize> = claimed
            .iter()
            .copied()
            .filter(|&i| fates[i] == Fate::Pending)
            .collect();
        let outcome = match bundle {
            Ok(bundle) if !bundle.manifest.files.is_empty() => {
                self.archive_and_deliver(&bundle, created, admission, metrics)
                    .await
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(bundle_id, error = %e, "could not build the bundle");
                metrics.add("FailuresLocal", 1.0);
                Err(false)
            }
        };
        match outcome {
            Ok(()) => {
                for &i in &in_bundle {
                    fates[i] = Fate::Delivered;
                    record_latency(metrics, &objects[i].event_time);
                }
                metrics.add("FilesDelivered", in_bundle.len() as f64);
                self.complete(objects, &in_bundle, &bundle_id, metrics)
                    .await;
            }
            Err(endpoint) => {
                for &i in &in_bundle {
                    fates[i] = Fate::Failed { endpoint };
                }
            }
        }
        let to_release: Vec<usize> = claimed
            .into_iter()
            .filter(|&i| matches!(fates[i], Fate::Failed { .. } | Fate::Missing(_)))
            .collect();
        self.release(objects, &to_release, &bundle_id).await;
        Duration::ZERO
    }

    async fn claim(
        &self,
        objects: &[ObjectRef],
        fates: &mut [Fate],
        owner: &str,
        deadline: SystemTime,
        metrics: &mut Metrics,
    ) {
        let results: Vec<(usize, _)> = futures::stream::iter(objects.iter().enumerate())
            .map(|(i, o)| async move {
                (
                    i,
                    self.idempotency.claim(&o.identity(), owner, deadline).await,
                )
            })
            .buffer_unordered(self.config.download_concurrency)
            .collect()
            .await;
        for (i, result) in results {
            fates[i] = match result {
                Ok(Claim::Claimed) => Fate::Pending,
                Ok(Claim::Duplicate { bundle_id }) => {
                    tracing::info!(object = %objects[i].display(), bundle_id, "already delivered; acknowledged");
                    metrics.add("Duplicates", 1.0);
                    Fate::Duplicate
                }
                Ok(Claim::Busy) => {
                    metrics.add("FilesBusy", 1.0);
                    Fate::Busy
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not claim a file; it will be retried");
                    metrics.add("FailuresIdempotency", 1.0);
                    Fate::Failed { endpoint: false }
                }
            };
        }
    }

    /// Downloads the claimed objects concurrently and writes them into one bundle on a blocking thread.
    async fn build(
        &self,
        objects: &[ObjectRef],
        claimed: &[usize],
        fates: &mut [Fate],
        bundle_id: String,
        created: time::OffsetDateTime,
    ) -> Result<Bundle, BundleError> {
        let created_at = crate::rfc3339(created);
        let writer = BundleWriter::new(bundle_id, created_at, self.config.gzip_level)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Fetched>(4);
        let writing = tokio::task::spawn_blocking(move || -> Result<Bundle, BundleError> {
            let mut writer = writer;
            while let Some(fetched) = rx.blocking_recv() {
                let entry = FileEntry {
                    bucket: fetched.object.bucket.clone(),
                    key: fetched.object.key.clone(),
                    path: entry_path(&fetched.object.key),
                    version_id: fetched.version_id.clone(),
                    size: fetched.size,
                    etag: fetched.etag.clone(),
                    event_time: fetched.object.event_time.clone(),
                    sha256: fetched.sha256_hex.clone(),
                };
                let reader = fetched.data.reader().map_err(|source| BundleError::Entry {
                    key: entry.key.clone(),
                    source,
                })?;
                writer.append(entry, reader)?;
            }
            writer.finish()
        });
        let limit = self.config.memory_spool_limit;
        let mut downloads = futures::stream::iter(claimed.iter().copied())
            .map(|i| async move { (i, download::fetch(&self.s3, &objects[i], limit).await) })
            .buffer_unordered(self.config.download_concurrency);
        let mut writer_gone = false;
        while let Some((i, result)) = downloads.next().await {
            match result {
                Ok(fetched) => {
                    if writer_gone || tx.send(fetched).await.is_err() {
                        writer_gone = true;
                        fates[i] = Fate::Failed { endpoint: false };
                    }
                }
                Err(FetchError::NotFound { object, code }) => {
                    tracing::warn!(object, code, "object missing; its message goes to the DLQ");
                    fates[i] = Fate::Missing(format!("{object} does not exist ({code})"));
                }
                Err(e @ FetchError::Transient { .. }) => {
                    tracing::warn!(error = %e, "download failed; the file will be retried");
                    fates[i] = Fate::Failed { endpoint: false };
                }
            }
        }
        drop(tx);
        match writing.await {
            Ok(result) => result,
            Err(e) => Err(BundleError::Finish(std::io::Error::other(e.to_string()))),
        }
    }

    /// Archives, then delivers. `Err(true)` when the endpoint failed, `Err(false)` for anything else.
    async fn archive_and_deliver(
        &self,
        bundle: &Bundle,
        created: time::OffsetDateTime,
        admission: Admission,
        metrics: &mut Metrics,
    ) -> Result<(), bool> {
        let key = archive_key(&self.config.archive_prefix, created, &bundle.file_name());
        if let Err(e) = archive::put_bundle(
            &self.s3,
            &self.config.archive_bucket,
            &key,
            bundle,
            self.config.multipart_threshold,
            self.config.multipart_part_size,
        )
        .await
        {
            tracing::error!(error = %e, "archive failed; the bundle's messages will be retried");
            metrics.add("FailuresArchive", 1.0);
            return Err(false);
        }
        tracing::info!(bundle_id = %bundle.manifest.bundle_id, key, files = bundle.manifest.files.len(),
            bytes = bundle.size, sha256 = %bundle.sha256_hex(), "bundle archived");

        let parcel = Parcel::of(bundle, &key);
        let sent = Instant::now();
        let result = self.sink.deliver(&parcel).await;
        metrics.sample("DeliveryLatency", sent.elapsed().as_secs_f64() * 1000.0);
        if result.is_ok() {
            self.mark_delivered(&key, &bundle.manifest.bundle_id, metrics)
                .await;
        }
        let transition = match (&result, &admission) {
            (Ok(()), Admission::Probe) => self.breaker.probe_succeeded().await,
            (Ok(()), _) => {
                self.breaker.succeeded();
                None
            }
            (Err(e), Admission::Probe) if e.kind.is_unavailability() => {
                self.breaker.probe_failed().await
            }
            (Err(e), _) if e.kind.is_unavailability() => self.breaker.failed().await,
            (Err(_), _) => None,
        };
        record_transition(metrics, transition);
        match result {
            Ok(()) => {
                metrics.add("BundlesDelivered", 1.0);
                metrics.add("BytesIn", bundle.bytes_in as f64);
                metrics.add("BytesOut", bundle.size as f64);
                if bundle.size > 0 {
                    metrics.set(
                        "CompressionRatio",
                        bundle.bytes_in as f64 / bundle.size as f64,
                    );
                }
                if !matches!(transition, Some(Transition::Opened | Transition::Reopened)) {
                    metrics.set("BreakerOpen", 0.0);
                }
                tracing::info!(bundle_id = %bundle.manifest.bundle_id, files = bundle.manifest.files.len(), "bundle delivered");
                Ok(())
            }
            Err(DeliveryError {
                kind,
                bundle_id,
                detail,
            }) => {
                metrics.add("DeliveryFailures", 1.0);
                metrics.add(kind.metric(), 1.0);
                tracing::warn!(bundle_id, kind = ?kind, error = %detail, "delivery failed; the bundle's messages will be retried");
                Err(kind != FailureKind::Local)
            }
        }
    }

    /// Tags the archived bundle `delivered-at` (what range replay sends). A failure is counted, never turned
    /// into a failed delivery: the endpoint has the bundle.
    async fn mark_delivered(&self, key: &str, bundle_id: &str, metrics: &mut Metrics) {
        let now = time::OffsetDateTime::now_utc();
        let bucket = &self.config.archive_bucket;
        if let Err(e) = archive::mark_delivered(&self.s3, bucket, key, bundle_id, now).await {
            tracing::warn!(error = %e, "delivered, but not marked so in the archive: range replay skips it unless --include-attempts");
            metrics.add("FailuresArchiveTag", 1.0);
        }
    }

    async fn complete(
        &self,
        objects: &[ObjectRef],
        delivered: &[usize],
        bundle_id: &str,
        metrics: &mut Metrics,
    ) {
        let errors = futures::stream::iter(delivered.iter().copied())
            .map(|i| async move {
                self.idempotency
                    .complete(&objects[i].identity(), bundle_id, bundle_id)
                    .await
            })
            .buffer_unordered(self.config.download_concurrency)
            .filter(|r| std::future::ready(r.is_err()))
            .count()
            .await;
        if errors > 0 {
            // The files were delivered; a retry of the same event may deliver them again, which the
            // receiver tolerates (bundle ids differ). Never report a delivered file as failed.
            tracing::error!(
                errors,
                bundle_id,
                "delivered, but could not mark every file completed"
            );
            metrics.add("FailuresIdempotency", errors as f64);
        }
    }

    async fn release(&self, objects: &[ObjectRef], indexes: &[usize], owner: &str) {
        futures::stream::iter(indexes.iter().copied())
            .for_each_concurrent(self.config.download_concurrency, |i| async move {
                if let Err(e) = self
                    .idempotency
                    .release(&objects[i].identity(), owner)
                    .await
                {
                    // The lease ends at the deadline anyway; the retry waits for it at most.
                    tracing::warn!(error = %e, "could not release a claim");
                }
            })
            .await;
    }

    /// Decides one message's fate from its objects'.
    async fn settle(
        &self,
        message: &Message,
        fates: &[Fate],
        hold_floor: Duration,
        metrics: &mut Metrics,
        failed: &mut BTreeSet<String>,
        holds: &mut Vec<Hold>,
    ) {
        let missing: Vec<&str> = message
            .objects
            .iter()
            .filter_map(|&i| match &fates[i] {
                Fate::Missing(reason) => Some(reason.as_str()),
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            metrics.add("FilesMissing", missing.len() as f64);
            self.dead_letter(&message.id, &message.body, &missing.join("; "), failed)
                .await;
        }
        let undelivered: Vec<&Fate> = message
            .objects
            .iter()
            .map(|&i| &fates[i])
            .filter(|f| matches!(f, Fate::Busy | Fate::Failed { .. } | Fate::Pending))
            .collect();
        if undelivered.is_empty() {
            return;
        }
        let endpoint = undelivered
            .iter()
            .any(|f| matches!(f, Fate::Failed { endpoint: true }));
        failed.insert(message.id.clone());
        if endpoint && let Some(receipt) = &message.receipt_handle {
            holds.push(Hold {
                message_id: message.id.clone(),
                receipt_handle: receipt.clone(),
                for_: self
                    .config
                    .redelivery
                    .hold_for(message.receive_count)
                    .max(hold_floor),
            });
        }
    }
}

fn record_transition(metrics: &mut Metrics, transition: Option<Transition>) {
    let Some(transition) = transition else { return };
    tracing::warn!(transition = ?transition, "circuit breaker transition");
    match transition {
        Transition::Opened => {
            metrics.add("BreakerOpened", 1.0);
            metrics.set("BreakerOpen", 1.0);
        }
        Transition::ProbeStarted => metrics.add("BreakerProbes", 1.0),
        Transition::Closed => {
            metrics.add("BreakerClosed", 1.0);
            metrics.set("BreakerOpen", 0.0);
        }
        Transition::Reopened => {
            metrics.add("BreakerReopened", 1.0);
            metrics.set("BreakerOpen", 1.0);
        }
    }
}

fn record_latency(metrics: &mut Metrics, event_time: &str) {
    if let Ok(t) =
        time::OffsetDateTime::parse(event_time, &time::format_description::well_known::Rfc3339)
    {
        let age = time::OffsetDateTime::now_utc() - t;
        metrics.sample("EndToEndLatency", age.whole_milliseconds().max(0) as f64);
    }
}
