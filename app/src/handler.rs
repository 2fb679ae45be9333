//! One invocation: an SQS batch in, its files archived and delivered in one or more bundles, the partial batch
//! response out.
//!
//! Order of work: parse every message → find the version each event names (`version`) → dead-letter objects
//! over `OBJECT_MAX_BYTES` → with enough time left, ask the breaker → claim the rest → download them within
//! `DOWNLOAD_BUFFER_BYTES` into bundles of at most `BUNDLE_MAX_BYTES` (`bundler`), archiving and delivering
//! each bundle as soon as it is sealed → mark delivered, or held (the message goes back to the queue), or
//! release (dead-lettered) → decide each message's fate. Files turned away before they were claimed (breaker
//! open, too little time) are marked held on their message's first receive (`idempotency`).
//!
//! A message is reported failed exactly when one of its files was not delivered (and not delivered before).
//! Poison, and messages naming objects that can never be delivered — gone, unreadable, too large — go to the
//! DLQ with the reason and are acknowledged. Work that cannot finish — less than `DEADLINE_MARGIN_MS` left
//! before an archive or a delivery, a local I/O error such as a full temp dir — is handed back: its claims
//! are released and its message is hidden for a short hold, not counted against the endpoint.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::archive::{self, archive_key};
use crate::breaker::{Admission, Breaker, Transition};
use crate::bundler::{Bundler, Downloaded, Leftovers, Sealed};
use crate::config::{Config, SinkConfig};
use crate::credentials::SecretCache;
use crate::delivery::{DeliveryError, FailureKind, MinioSink, NifiSink, Parcel, Sink};
use crate::download::{self, DownloadBudget, FetchError};
use crate::event::{Body, ObjectRef, parse_body};
use crate::idempotency::{Claim, HoldReason, Idempotency};
use crate::metrics::Metrics;
use crate::queue::{Hold, Queues};
use crate::version;

/// What became of one object in this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    Pending,
    Delivered,
    Duplicate,
    /// Another invocation holds it.
    Busy,
    /// Can never be delivered as it is: its message goes to the DLQ with the reason.
    Dead {
        kind: DeadKind,
        reason: String,
    },
    /// Not delivered this time; its message comes back as the retry says.
    Failed(Retry),
}

/// Why a file can never be delivered, as the DLQ message's `kind` attribute names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeadKind {
    /// Deleted, or the version the event names is gone.
    Gone,
    /// Archive storage class, SSE-C, access denied, a key S3 will not take.
    Unreadable,
    /// Over `OBJECT_MAX_BYTES`, or alone still too large for a bundle.
    Oversize,
}

impl DeadKind {
    fn name(self) -> &'static str {
        match self {
            DeadKind::Gone => "gone",
            DeadKind::Unreadable => "unreadable",
            DeadKind::Oversize => "oversize",
        }
    }

    fn metric(self) -> &'static str {
        match self {
            DeadKind::Gone => "FilesMissing",
            DeadKind::Unreadable => "FilesUnreadable",
            DeadKind::Oversize => "FilesOversize",
        }
    }
}

/// When a message whose file was not delivered comes back; the strongest reason among its files wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Retry {
    /// After the queue's visibility timeout: S3 or DynamoDB failed.
    Later,
    /// After a short hold (the redelivery schedule's base): handed back unfinished.
    Deferred,
    /// After the redelivery schedule's back-off: the endpoint failed, or the breaker is open.
    Endpoint,
}

impl Retry {
    /// What the HELD record of a claimed file given up for this reason says.
    fn hold_reason(self) -> HoldReason {
        match self {
            Retry::Later => HoldReason::Transient,
            Retry::Deferred => HoldReason::Deferred,
            Retry::Endpoint => HoldReason::EndpointFailed,
        }
    }
}

/// A message of the batch that named objects.
struct Message {
    id: String,
    receipt_handle: Option<String>,
    receive_count: u32,
    body: String,
    objects: Vec<usize>,
}

/// What became of one download.
enum Download {
    /// On its way into a bundle.
    Sent,
    /// Not started, or not taken, because the run stopped.
    NotStarted,
    Failed(FetchError),
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
        let named = self.parse(event, &mut metrics, &mut failed).await;
        let (messages, objects, mut fates) = self.identify(named).await;
        // A file is seen for the first time when a message naming it is received for the first time.
        let mut first_receive = vec![false; objects.len()];
        for message in &messages {
            if message.receive_count <= 1 {
                for &i in &message.objects {
                    first_receive[i] = true;
                }
            }
        }
        // While the breaker is open, a held message stays hidden at least until the cool-down ends.
        let mut hold_floor = Duration::ZERO;
        if !objects.is_empty() {
            metrics.add("FilesReceived", objects.len() as f64);
            hold_floor = self
                .process(&objects, &mut fates, &first_receive, deadline, &mut metrics)
                .await;
        }
        for fate in &fates {
            match fate {
                Fate::Dead { kind, .. } => metrics.add(kind.metric(), 1.0),
                Fate::Failed(Retry::Deferred) => metrics.add("FilesDeferred", 1.0),
                _ => {}
            }
        }

        for message in &messages {
            self.settle(message, &fates, hold_floor, &mut failed, &mut holds)
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
            bundles = metrics.count("BundlesDelivered"),
            duplicates = metrics.count("Duplicates"),
            deferred = metrics.count("FilesDeferred"),
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

    /// Reads every message: test events are acknowledged, poison is dead-lettered; the others come back with
    /// the objects their events name.
    async fn parse(
        &self,
        event: SqsEvent,
        metrics: &mut Metrics,
        failed: &mut BTreeSet<String>,
    ) -> Vec<(Message, Vec<ObjectRef>)> {
        let mut named = Vec::new();
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
                    self.dead_letter(
                        &id,
                        record.body.as_deref().unwrap_or(""),
                        &reason,
                        "poison",
                        failed,
                    )
                    .await;
                }
                Body::Objects(list) => named.push((
                    Message {
                        id,
                        receipt_handle: record.receipt_handle,
                        receive_count,
                        body: record.body.unwrap_or_default(),
                        objects: Vec::new(),
                    },
                    list,
                )),
            }
        }
        named
    }

    /// Finds the version each event names when it omits it, then gives every distinct file one index: the
    /// messages with their files' indexes, the files, and the fates of those whose version could not be found.
    async fn identify(
        &self,
        named: Vec<(Message, Vec<ObjectRef>)>,
    ) -> (Vec<Message>, Vec<ObjectRef>, Vec<Fate>) {
        let mut unresolved: HashMap<String, &ObjectRef> = HashMap::new();
        for object in named.iter().flat_map(|(_, list)| list) {
            if object.version_id.is_none() {
                unresolved.entry(object.identity()).or_insert(object);
            }
        }
        let resolved: HashMap<String, Result<Option<String>, FetchError>> =
            futures::stream::iter(unresolved)
                .map(|(id, object)| async move { (id, version::resolve(&self.s3, object).await) })
                .buffer_unordered(self.config.download_concurrency)
                .collect()
                .await;
        let mut messages = Vec::with_capacity(named.len());
        let mut objects: Vec<ObjectRef> = Vec::new();
        let mut fates: Vec<Fate> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (mut message, list) in named {
            for mut object in list {
                let mut fate = Fate::Pending;
                if object.version_id.is_none() {
                    match resolved.get(&object.identity()) {
                        Some(Ok(version)) => object.version_id = version.clone(),
                        Some(Err(e)) => fate = fate_of(e),
                        None => {}
                    }
                }
                let i = *index.entry(object.identity()).or_insert_with(|| {
                    objects.push(object);
                    fates.push(fate);
                    objects.len() - 1
                });
                message.objects.push(i);
            }
            messages.push(message);
        }
        (messages, objects, fates)
    }

    async fn dead_letter(
        &self,
        id: &str,
        body: &str,
        reason: &str,
        kind: &str,
        failed: &mut BTreeSet<String>,
    ) {
        tracing::warn!(message_id = id, reason, kind, "dead-lettering a message");
        if let Err(e) = self.queues.dead_letter(id, body, reason, kind).await {
            // Not acknowledged, so not lost: it comes back, and maxReceiveCount is the last resort.
            tracing::error!(message_id = id, error = %e, "could not send to the DLQ; the message stays in the queue");
            failed.insert(id.to_string());
        }
    }

    /// Size limit, time, breaker, claims, bundles, archive, delivery: sets every pending object's fate.
    /// Returns the breaker's remaining cool-down when it refused delivery.
    async fn process(
        &self,
        objects: &[ObjectRef],
        fates: &mut [Fate],
        first_receive: &[bool],
        deadline: SystemTime,
        metrics: &mut Metrics,
    ) -> Duration {
        let limits = self.config.limits;
        for (object, fate) in objects.iter().zip(fates.iter_mut()) {
            if *fate == Fate::Pending && object.size > limits.object_max_bytes {
                let reason = format!(
                    "{} is {} bytes, more than OBJECT_MAX_BYTES ({}): it was not downloaded; deliver it \
                     another way, or raise OBJECT_MAX_BYTES with BUNDLE_MAX_BYTES and the function's \
                     ephemeral storage",
                    object.display(),
                    object.size,
                    limits.object_max_bytes
                );
                tracing::warn!(object = %object.display(), size = object.size, "object too large; its message goes to the DLQ");
                *fate = Fate::Dead {
                    kind: DeadKind::Oversize,
                    reason,
                };
            }
        }
        if !fates.contains(&Fate::Pending) {
            return Duration::ZERO;
        }

        // Before the breaker, so that a probe is not won only to go unused.
        if self.time_for_work(deadline).is_none() {
            tracing::warn!(
                margin_ms = limits.deadline_margin.as_millis() as u64,
                "too little time left to start; the batch is handed back unclaimed"
            );
            self.mark_held(objects, fates, first_receive, HoldReason::Deferred)
                .await;
            settle_pending(fates, Retry::Deferred);
            return Duration::ZERO;
        }
        let (admission, transition) = self.breaker.admit().await;
        record_transition(metrics, transition);
        if let Admission::Refused { retry_after } = admission {
            metrics.set("BreakerOpen", 1.0);
            metrics.add("FailuresBreakerOpen", 1.0);
            metrics.set("BreakerRetryAfterSeconds", retry_after.as_secs_f64());
            self.mark_held(objects, fates, first_receive, HoldReason::BreakerOpen)
                .await;
            settle_pending(fates, Retry::Endpoint);
            return retry_after;
        }

        // The claims' owner: this invocation (its bundles each have their own id).
        let owner = uuid::Uuid::now_v7().to_string();
        self.claim(objects, fates, &owner, deadline, metrics).await;
        let claimed: Vec<usize> = (0..objects.len())
            .filter(|&i| fates[i] == Fate::Pending)
            .collect();
        if claimed.is_empty() {
            return Duration::ZERO;
        }
        self.bundle_and_deliver(
            objects, &claimed, fates, admission, deadline, &owner, metrics,
        )
        .await;
        if claimed.iter().any(|&i| fates[i] == Fate::Pending) {
            tracing::error!(
                "files were claimed but neither delivered nor failed; they are handed back"
            );
            settle_pending(fates, Retry::Deferred);
        }
        let given_up: Vec<(usize, Option<HoldReason>)> = claimed
            .into_iter()
            .filter_map(|i| match fates[i] {
                Fate::Failed(retry) => Some((i, Some(retry.hold_reason()))),
                Fate::Dead { .. } => Some((i, None)),
                _ => None,
            })
            .collect();
        self.give_up(objects, &given_up, &owner).await;
        Duration::ZERO
    }

    /// Leaves a HELD record for each file still pending that this batch sees for the first time, before its
    /// message goes back to the queue unclaimed; on later receives the record is already there.
    async fn mark_held(
        &self,
        objects: &[ObjectRef],
        fates: &[Fate],
        first_receive: &[bool],
        reason: HoldReason,
    ) {
        let first: Vec<usize> = (0..objects.len())
            .filter(|&i| fates[i] == Fate::Pending && first_receive[i])
            .collect();
        futures::stream::iter(first)
            .for_each_concurrent(self.config.download_concurrency, |i| async move {
                if let Err(e) = self
                    .idempotency
                    .mark_held(&objects[i].identity(), reason)
                    .await
                {
                    // Only the daily report loses: without the mark it cannot tell the file is queued.
                    tracing::warn!(error = %e, "could not record a file as held");
                }
            })
            .await;
    }

    /// The time an archive or a delivery may take now: what is left before the deadline less the margin,
    /// or None when that is nothing.
    fn time_for_work(&self, deadline: SystemTime) -> Option<Duration> {
        deadline
            .duration_since(SystemTime::now())
            .ok()?
            .checked_sub(self.config.limits.deadline_margin)
            .filter(|left| !left.is_zero())
    }

    async fn claim(
        &self,
        objects: &[ObjectRef],
        fates: &mut [Fate],
        owner: &str,
        deadline: SystemTime,
        metrics: &mut Metrics,
    ) {
        let pending: Vec<usize> = (0..objects.len())
            .filter(|&i| fates[i] == Fate::Pending)
            .collect();
        let results: Vec<(usize, _)> = futures::stream::iter(pending)
            .map(|i| async move {
                (
                    i,
                    self.idempotency
                        .claim(&objects[i].identity(), owner, deadline)
                        .await,
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
                    Fate::Failed(Retry::Later)
                }
            };
        }
    }

    /// Downloads the claimed objects, within the byte budget, into bundles of at most the cap (written on a
    /// blocking thread), and archives and delivers each bundle as soon as it is sealed, until every file is
    /// in a delivered bundle or something stops the run: then the rest is handed back.
    #[allow(clippy::too_many_arguments)]
    async fn bundle_and_deliver(
        &self,
        objects: &[ObjectRef],
        claimed: &[usize],
        fates: &mut [Fate],
        admission: Admission,
        deadline: SystemTime,
        owner: &str,
        metrics: &mut Metrics,
    ) {
        let stop = Arc::new(AtomicBool::new(false));
        let (file_tx, file_rx) = mpsc::channel::<Downloaded>(self.config.download_concurrency);
        let (sealed_tx, mut sealed_rx) = mpsc::channel::<Sealed>(1);
        let (go_on_tx, go_on_rx) = std::sync::mpsc::sync_channel::<bool>(1);
        let bundler = Bundler {
            spool_dir: self.config.spool_dir.clone(),
            gzip_level: self.config.gzip_level,
            cap: self.config.limits.bundle_max_bytes,
            stop: stop.clone(),
        };
        let writing =
            tokio::task::spawn_blocking(move || bundler.run(file_rx, sealed_tx, go_on_rx));

        let budget = DownloadBudget::new(self.config.limits.download_buffer_bytes);
        let downloads = async {
            let file_tx = file_tx;
            let downloaded: Vec<(usize, Download)> = futures::stream::iter(claimed.iter().copied())
                .map(|i| {
                    let (budget, stop, file_tx) = (&budget, &stop, &file_tx);
                    async move {
                        (
                            i,
                            self.download(i, &objects[i], budget, stop, file_tx).await,
                        )
                    }
                })
                .buffer_unordered(self.config.download_concurrency)
                .collect()
                .await;
            downloaded
        };
        let deliveries = async {
            let mut admission = admission;
            let mut shipped: Vec<(Vec<usize>, Result<(), Retry>)> = Vec::new();
            let mut stopped_for: Option<Retry> = None;
            while let Some(sealed) = sealed_rx.recv().await {
                let outcome = self.ship(&sealed, &admission, deadline, metrics).await;
                let Sealed {
                    bundle, indexes, ..
                } = sealed;
                match outcome {
                    Ok(()) => {
                        // A probe that succeeded closed the breaker: the next bundles are ordinary deliveries.
                        admission = Admission::Go;
                        metrics.add("FilesDelivered", indexes.len() as f64);
                        for &i in &indexes {
                            record_latency(metrics, &objects[i].event_time);
                        }
                        self.complete(
                            objects,
                            &indexes,
                            owner,
                            &bundle.manifest.bundle_id,
                            metrics,
                        )
                        .await;
                    }
                    Err(retry) => {
                        stopped_for = Some(retry);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                // The spool file goes before the next bundle starts: the temp dir holds one bundle at a time.
                drop(bundle);
                // The bundler waits for this; it is gone only if its thread died, which `writing` reports.
                let _ = go_on_tx.send(outcome.is_ok());
                shipped.push((indexes, outcome));
            }
            (shipped, stopped_for)
        };
        let (downloaded, (shipped, stopped_for)) = tokio::join!(downloads, deliveries);
        let leftovers = writing.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the bundle writer stopped unexpectedly; its files are handed back");
            Leftovers::default()
        });

        let handed_back = stopped_for.unwrap_or(Retry::Deferred);
        for (i, download) in downloaded {
            match download {
                Download::Sent => {}
                Download::NotStarted => fates[i] = Fate::Failed(handed_back),
                Download::Failed(e) => {
                    if matches!(e, FetchError::Local { .. }) {
                        metrics.add("FailuresLocal", 1.0);
                    }
                    fates[i] = fate_of(&e);
                }
            }
        }
        for (indexes, outcome) in shipped {
            let fate = match outcome {
                Ok(()) => Fate::Delivered,
                Err(retry) => Fate::Failed(retry),
            };
            for i in indexes {
                fates[i] = fate.clone();
            }
        }
        for (lost, error) in &leftovers.local {
            tracing::error!(error = %error, files = lost.len(), "a local I/O error stopped the bundle; its files are handed back");
            metrics.add("FailuresLocal", 1.0);
            for &i in lost {
                fates[i] = Fate::Failed(Retry::Deferred);
            }
        }
        for &(i, size) in &leftovers.too_large {
            fates[i] = Fate::Dead {
                kind: DeadKind::Oversize,
                reason: format!(
                    "{}: alone in a bundle it makes {size} bytes, more than BUNDLE_MAX_BYTES ({}); lower \
                     OBJECT_MAX_BYTES or raise BUNDLE_MAX_BYTES",
                    objects[i].display(),
                    self.config.limits.bundle_max_bytes
                ),
            };
        }
        for &i in &leftovers.handed_back {
            fates[i] = Fate::Failed(handed_back);
        }
    }

    /// Downloads one object once the budget has room for it, and passes it to the bundle writer.
    async fn download(
        &self,
        index: usize,
        object: &ObjectRef,
        budget: &DownloadBudget,
        stop: &AtomicBool,
        files: &mpsc::Sender<Downloaded>,
    ) -> Download {
        if stop.load(Ordering::Relaxed) {
            return Download::NotStarted;
        }
        let permit = budget.reserve(object.size).await;
        if stop.load(Ordering::Relaxed) {
            return Download::NotStarted;
        }
        let fetched = match download::fetch(
            &self.s3,
            object,
            self.config.memory_spool_limit,
            &self.config.spool_dir,
        )
        .await
        {
            Ok(fetched) => fetched,
            Err(e) => {
                // A full temp dir stays full for the rest of the run.
                if matches!(e, FetchError::Local { .. }) {
                    stop.store(true, Ordering::Relaxed);
                }
                return Download::Failed(e);
            }
        };
        let file = Downloaded {
            index,
            fetched,
            permit,
        };
        match files.send(file).await {
            Ok(()) => Download::Sent,
            Err(_) => Download::NotStarted,
        }
    }

    /// Archives one sealed bundle, then delivers it, each only when there is time for it; the error says when
    /// its files come back.
    async fn ship(
        &self,
        sealed: &Sealed,
        admission: &Admission,
        deadline: SystemTime,
        metrics: &mut Metrics,
    ) -> Result<(), Retry> {
        let bundle = &sealed.bundle;
        let bundle_id = bundle.manifest.bundle_id.as_str();
        let key = archive_key(
            &self.config.archive_prefix,
            sealed.created,
            &bundle.file_name(),
        );
        let Some(time) = self.time_for_work(deadline) else {
            return Err(deferred(
                metrics,
                bundle_id,
                "too little time left to archive it",
            ));
        };
        let archived = tokio::time::timeout(
            time,
            archive::put_bundle(
                &self.s3,
                &self.config.archive_bucket,
                &key,
                bundle,
                self.config.multipart_threshold,
                self.config.multipart_part_size,
            ),
        )
        .await;
        match archived {
            Err(_) => {
                return Err(deferred(
                    metrics,
                    bundle_id,
                    "the archive write ran into the deadline",
                ));
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "archive failed; the bundle's messages will be retried");
                metrics.add("FailuresArchive", 1.0);
                return Err(Retry::Later);
            }
            Ok(Ok(())) => {}
        }
        tracing::info!(bundle_id, key, files = bundle.manifest.files.len(),
            bytes = bundle.size, sha256 = %bundle.sha256_hex(), "bundle archived");

        let Some(time) = self.time_for_work(deadline) else {
            return Err(deferred(
                metrics,
                bundle_id,
                "too little time left to deliver it",
            ));
        };
        let parcel = Parcel::of(bundle, &key);
        let sent = Instant::now();
        // Bounded by the time left, so no POST is still running when Lambda ends the invocation.
        let result = tokio::time::timeout(time, self.sink.deliver(&parcel)).await;
        metrics.sample("DeliveryLatency", sent.elapsed().as_secs_f64() * 1000.0);
        let Ok(result) = result else {
            return Err(deferred(
                metrics,
                bundle_id,
                "the delivery ran into the deadline",
            ));
        };
        if result.is_ok() {
            self.mark_delivered(&key, bundle_id, metrics).await;
        }
        let transition = match (&result, admission) {
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
                tracing::info!(
                    bundle_id,
                    files = bundle.manifest.files.len(),
                    "bundle delivered"
                );
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
                Err(if kind == FailureKind::Local {
                    Retry::Deferred
                } else {
                    Retry::Endpoint
                })
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
        owner: &str,
        bundle_id: &str,
        metrics: &mut Metrics,
    ) {
        let errors = futures::stream::iter(delivered.iter().copied())
            .map(|i| async move {
                self.idempotency
                    .complete(&objects[i].identity(), owner, bundle_id)
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

    /// Gives up the claims of files not delivered: HELD with the reason for those whose message goes back to
    /// the queue, removed for those dead-lettered (`None`).
    async fn give_up(
        &self,
        objects: &[ObjectRef],
        files: &[(usize, Option<HoldReason>)],
        owner: &str,
    ) {
        futures::stream::iter(files.iter().copied())
            .for_each_concurrent(self.config.download_concurrency, |(i, held)| async move {
                let id = objects[i].identity();
                let result = match held {
                    Some(reason) => self.idempotency.hold(&id, owner, reason).await,
                    None => self.idempotency.release(&id, owner).await,
                };
                if let Err(e) = result {
                    // The lease ends at the deadline anyway; the retry waits for it at most.
                    tracing::warn!(error = %e, "could not give up a claim");
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
        failed: &mut BTreeSet<String>,
        holds: &mut Vec<Hold>,
    ) {
        let mut reasons: Vec<&str> = Vec::new();
        let mut kinds: Vec<&str> = Vec::new();
        for &i in &message.objects {
            if let Fate::Dead { kind, reason } = &fates[i] {
                reasons.push(reason);
                if !kinds.contains(&kind.name()) {
                    kinds.push(kind.name());
                }
            }
        }
        if !reasons.is_empty() {
            self.dead_letter(
                &message.id,
                &message.body,
                &reasons.join("; "),
                &kinds.join(","),
                failed,
            )
            .await;
        }
        let mut undelivered = false;
        let mut retry: Option<Retry> = None;
        for &i in &message.objects {
            match &fates[i] {
                Fate::Busy => undelivered = true,
                Fate::Failed(r) => {
                    undelivered = true;
                    retry = retry.max(Some(*r));
                }
                Fate::Pending => {
                    undelivered = true;
                    retry = retry.max(Some(Retry::Deferred));
                }
                Fate::Delivered | Fate::Duplicate | Fate::Dead { .. } => {}
            }
        }
        if !undelivered {
            return;
        }
        failed.insert(message.id.clone());
        let hold = match retry {
            Some(Retry::Endpoint) => self
                .config
                .redelivery
                .hold_for(message.receive_count)
                .max(hold_floor),
            Some(Retry::Deferred) => {
                Duration::from_secs(self.config.redelivery.base_seconds().into())
            }
            Some(Retry::Later) | None => return,
        };
        if let Some(receipt) = &message.receipt_handle {
            holds.push(Hold {
                message_id: message.id.clone(),
                receipt_handle: receipt.clone(),
                for_: hold,
            });
        }
    }
}

/// The fate of an object that could not be read, by why.
fn fate_of(e: &FetchError) -> Fate {
    match e {
        FetchError::Gone { .. } => {
            tracing::warn!(error = %e, "object gone; its message goes to the DLQ");
            Fate::Dead {
                kind: DeadKind::Gone,
                reason: e.to_string(),
            }
        }
        FetchError::Unreadable { .. } => {
            tracing::warn!(error = %e, "object unreadable; its message goes to the DLQ");
            Fate::Dead {
                kind: DeadKind::Unreadable,
                reason: e.to_string(),
            }
        }
        FetchError::Transient { .. } => {
            tracing::warn!(error = %e, "download failed; the file will be retried");
            Fate::Failed(Retry::Later)
        }
        FetchError::Local { .. } => {
            tracing::error!(error = %e, "the temp dir failed; the file is handed back");
            Fate::Failed(Retry::Deferred)
        }
    }
}

/// Every object still pending gets `retry`.
fn settle_pending(fates: &mut [Fate], retry: Retry) {
    for fate in fates.iter_mut().filter(|f| **f == Fate::Pending) {
        *fate = Fate::Failed(retry);
    }
}

/// Counts and logs a bundle handed back before it could be archived or delivered in time.
fn deferred(metrics: &mut Metrics, bundle_id: &str, why: &str) -> Retry {
    tracing::warn!(
        bundle_id,
        why,
        "bundle handed back: its files come back after a short hold"
    );
    metrics.add("BundlesDeferred", 1.0);
    Retry::Deferred
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
