//! A local stand-in for Lambda's SQS event source mapping, for emulators (which do not run mappings) and tests:
//! long-polls the queue for a batch, invokes the real handler with an SQS event, and deletes exactly the
//! messages the handler did not report as failed. The rest become visible again after their visibility
//! timeout, and the queue's redrive policy dead-letters them as it would in AWS.
//!
//! It follows Lambda's rules as `latency_model::esm` states them (with their sources): batch size at most
//! 10,000 (10 without a window), batching window at most 300 s, a batch cut before the record that would take
//! the invocation payload over 6 MB (that message starts the next batch), and [`run_mapping`]'s concurrent
//! batches start at five and grow by up to 300 a minute while messages wait, up to the maximum concurrency.
//! The latency model follows the same rules, so what a local run shows is what the model predicts.
//!
//! It is a crate of its own: the Lambda crate never runs it (in AWS, Lambda is the mapping), and `emulator`
//! starts processes; this runs any handler the way Lambda's mapping would, for `cargo xtask local` and tests.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use latency_model::esm::{
    Batch, BatchRules, MappingError, Offer, SCALE_INTERVAL, SQS_LONG_POLL_MAX, SQS_RECEIVE_MAX,
    Scaler,
};

/// The long poll for a receive with `remaining` of the window (or idle wait) left: whole seconds, rounded up.
///
/// Rounded up, not down, so the last fraction of a second of a window is one long poll that returns as soon as a
/// message arrives, as Lambda's pollers do, instead of short polls (`WaitTimeSeconds` 0) repeated as fast as
/// the queue answers; the window may run over by under a second.
fn receive_wait(remaining: Duration) -> i32 {
    let whole = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    whole.clamp(1, SQS_LONG_POLL_MAX.as_secs()) as i32
}

/// What the mapping invokes: anything that answers an SQS batch by its deadline. A closure is one, so the
/// aggregator is invoked as `|event, deadline| aggregator.handle(event, deadline)` and this crate need not
/// know it.
pub trait Handler {
    fn handle(
        &self,
        event: SqsEvent,
        deadline: SystemTime,
    ) -> impl Future<Output = SqsBatchResponse>;
}

impl<F, Answer> Handler for F
where
    F: Fn(SqsEvent, SystemTime) -> Answer,
    Answer: Future<Output = SqsBatchResponse>,
{
    fn handle(
        &self,
        event: SqsEvent,
        deadline: SystemTime,
    ) -> impl Future<Output = SqsBatchResponse> {
        self(event, deadline)
    }
}

/// How the mapping batches.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub queue_url: String,
    pub batch_size: usize,
    pub batching_window: Duration,
    /// How long the handler may run (the function timeout); the deadline given to it.
    pub function_timeout: Duration,
}

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub received: usize,
    pub failed: usize,
    pub deleted: usize,
    /// The highest `ApproximateReceiveCount` in the batch: how close a message came to the redrive limit.
    pub max_receive_count: u32,
}

/// Why the mapping cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("the local event source mapping could not use the queue {queue}: {detail}")]
    Queue { queue: String, detail: String },
    #[error("the local event source mapping of {queue} is not one Lambda would accept: {source}")]
    Invalid {
        queue: String,
        #[source]
        source: MappingError,
    },
    #[error(
        "the local event source mapping needs one handler per unit of maximum concurrency ({needed}), got {got}"
    )]
    Handlers { needed: usize, got: usize },
}

/// The mapping's poller: gathers one batch at a time.
pub struct Poller {
    sqs: Client,
    mapping: Mapping,
    rules: BatchRules,
    /// The messages the last batch could not take without passing 6 MB: they start the next.
    carried: Mutex<Vec<SqsMessage>>,
}

impl Poller {
    /// A poller for `mapping`, refused when Lambda would refuse the mapping.
    pub fn new(sqs: Client, mapping: Mapping) -> Result<Poller, PollError> {
        let rules = BatchRules::new(
            u32::try_from(mapping.batch_size).unwrap_or(u32::MAX),
            mapping.batching_window,
        )
        .map_err(|source| PollError::Invalid {
            queue: mapping.queue_url.clone(),
            source,
        })?;
        Ok(Poller {
            sqs,
            mapping,
            rules,
            carried: Mutex::new(Vec::new()),
        })
    }

    fn error(&self, detail: String) -> PollError {
        PollError::Queue {
            queue: self.mapping.queue_url.clone(),
            detail,
        }
    }

    fn take_carried(&self) -> Vec<SqsMessage> {
        self.carried
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// Gathers one batch: up to `batch_size` messages and at most 6 MB of event, waiting at most the batching
    /// window once one arrived (and at most `idle` for the first).
    pub async fn next_batch(&self, idle: Duration) -> Result<Vec<SqsMessage>, PollError> {
        let mut gathering = Gathering {
            rules: &self.rules,
            batch: Vec::new(),
            tally: Batch::default(),
            carry: Vec::new(),
        };
        let started = Instant::now();
        let mut first_at: Option<Instant> = None;
        for message in self.take_carried() {
            first_at.get_or_insert_with(Instant::now);
            gathering.admit(message);
        }
        loop {
            let waited = first_at.map_or(started.elapsed(), |t| t.elapsed());
            let limit = if first_at.is_some() {
                self.mapping.batching_window
            } else {
                idle
            };
            if gathering.full() || waited >= limit {
                break;
            }
            let wait = receive_wait(limit - waited);
            let want =
                (self.rules.batch_size() - gathering.batch.len()).min(SQS_RECEIVE_MAX) as i32;
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.mapping.queue_url)
                .max_number_of_messages(want)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await;
            let out = match received {
                Ok(out) => out,
                // What was gathered is in flight: dropped with the error, it would stay hidden for the
                // queue's visibility timeout before anyone handled it. It is invoked now instead.
                Err(e) if !gathering.batch.is_empty() => {
                    tracing::warn!(
                        error = %DisplayErrorContext(e),
                        messages = gathering.batch.len(),
                        "a receive failed while a batch was gathering: invoking what it has"
                    );
                    break;
                }
                Err(e) => return Err(self.error(DisplayErrorContext(e).to_string())),
            };
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() && first_at.is_some() && self.mapping.batching_window.is_zero() {
                break;
            }
            for m in messages {
                first_at.get_or_insert_with(Instant::now);
                let mut message = SqsMessage::default();
                message.message_id = m.message_id;
                message.receipt_handle = m.receipt_handle;
                message.body = m.body;
                message.md5_of_body = m.md5_of_body;
                message.attributes = m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), v))
                    .collect();
                message.event_source = Some("aws:sqs".into());
                gathering.admit(message);
            }
        }
        if let Ok(mut carried) = self.carried.lock() {
            *carried = gathering.carry;
        }
        Ok(gathering.batch)
    }

    /// Gathers a batch and, if there is one, invokes the handler with it and deletes what succeeded.
    pub async fn invoke_once(
        &self,
        handler: &impl Handler,
        idle: Duration,
    ) -> Result<Invocation, PollError> {
        let batch = self.next_batch(idle).await?;
        self.invoke(handler, batch).await
    }

    /// Invokes the handler with the messages carried past the last cut, if any: a poller the mapping scales
    /// down hands them on instead of holding them until their visibility timeout.
    pub async fn invoke_carried(&self, handler: &impl Handler) -> Result<Invocation, PollError> {
        let batch = self.take_carried();
        self.invoke(handler, batch).await
    }

    async fn invoke(
        &self,
        handler: &impl Handler,
        batch: Vec<SqsMessage>,
    ) -> Result<Invocation, PollError> {
        if batch.is_empty() {
            return Ok(Invocation::default());
        }
        let receipts: Vec<(String, String)> = batch
            .iter()
            .filter_map(|m| Some((m.message_id.clone()?, m.receipt_handle.clone()?)))
            .collect();
        let max_receive_count = batch
            .iter()
            .filter_map(|m| m.attributes.get("ApproximateReceiveCount")?.parse().ok())
            .max()
            .unwrap_or(0);
        let mut event = SqsEvent::default();
        event.records = batch;
        let deadline = SystemTime::now() + self.mapping.function_timeout;
        let response = handler.handle(event, deadline).await;
        let failed: std::collections::HashSet<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        let to_delete: Vec<&(String, String)> = receipts
            .iter()
            .filter(|(id, _)| !failed.contains(id))
            .collect();
        for chunk in to_delete.chunks(SQS_RECEIVE_MAX) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, (_, receipt))| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .ok()
                })
                .collect();
            self.sqs
                .delete_message_batch()
                .queue_url(&self.mapping.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.error(DisplayErrorContext(e).to_string()))?;
        }
        Ok(Invocation {
            received: receipts.len(),
            failed: failed.len(),
            deleted: to_delete.len(),
            max_receive_count,
        })
    }
}

/// A batch being gathered, and the messages received past its cut.
struct Gathering<'a> {
    rules: &'a BatchRules,
    batch: Vec<SqsMessage>,
    tally: Batch,
    /// Received but past the 6 MB cut: they start the next batch, in order.
    carry: Vec<SqsMessage>,
}

impl Gathering<'_> {
    fn full(&self) -> bool {
        !self.carry.is_empty() || self.batch.len() >= self.rules.batch_size()
    }

    fn admit(&mut self, message: SqsMessage) {
        if self.full() {
            self.carry.push(message);
            return;
        }
        match self.tally.offer(self.rules, record_bytes(&message)) {
            Offer::Taken | Offer::Full => self.batch.push(message),
            Offer::Cut => self.carry.push(message),
        }
    }
}

/// A record's bytes in the invocation event, as Lambda counts the 6 MB payload: its JSON.
pub fn record_bytes(message: &SqsMessage) -> usize {
    serde_json::to_vec(message).map_or(0, |json| json.len())
}

/// How the mapping scales its concurrent batches.
#[derive(Debug, Clone, Copy)]
pub struct Scaling {
    pub maximum_concurrency: u32,
    /// How often it reconsiders (Lambda: a minute; tests shorten it).
    pub interval: Duration,
}

impl Scaling {
    pub fn new(maximum_concurrency: u32) -> Scaling {
        Scaling {
            maximum_concurrency,
            interval: SCALE_INTERVAL,
        }
    }
}

/// Runs the mapping until `stop`: as many concurrent batches as Lambda's scaling allows (five at first, up to
/// 300 more a minute while messages wait in the queue, halving toward five when none do, never more than the
/// maximum concurrency), each gathering and invoking with its own handler (`handlers[i]` for batch `i`).
pub async fn run_mapping<H: Handler>(
    sqs: &Client,
    mapping: &Mapping,
    scaling: Scaling,
    handlers: &[H],
    stop: &AtomicBool,
) -> Result<(), PollError> {
    let invalid = |source| PollError::Invalid {
        queue: mapping.queue_url.clone(),
        source,
    };
    let mut scaler = Scaler::new(scaling.maximum_concurrency).map_err(invalid)?;
    if handlers.len() < scaler.maximum() {
        return Err(PollError::Handlers {
            needed: scaler.maximum(),
            got: handlers.len(),
        });
    }
    let pollers = handlers
        .iter()
        .take(scaler.maximum())
        .map(|_| Poller::new(sqs.clone(), mapping.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let active = AtomicUsize::new(scaler.target());
    let idle = Duration::from_secs(1);
    let batches = pollers
        .iter()
        .zip(handlers)
        .enumerate()
        .map(|(i, (poller, handler))| {
            let active = &active;
            async move {
                while !stop.load(Ordering::Relaxed) {
                    let result = if i < active.load(Ordering::Relaxed) {
                        poller.invoke_once(handler, idle).await
                    } else {
                        tokio::time::sleep(idle).await;
                        poller.invoke_carried(handler).await
                    };
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "local event source mapping");
                        tokio::time::sleep(idle).await;
                    }
                }
            }
        });
    let scale = async {
        let mut next = Instant::now() + scaling.interval;
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() < next {
                tokio::time::sleep(Duration::from_millis(100).min(scaling.interval)).await;
                continue;
            }
            next += scaling.interval;
            match visible_messages(sqs, &mapping.queue_url).await {
                Ok(visible) => active.store(scaler.tick(visible > 0), Ordering::Relaxed),
                Err(e) => tracing::warn!(error = %e, "local event source mapping: scaling"),
            }
        }
    };
    tokio::join!(futures::future::join_all(batches), scale);
    Ok(())
}

/// The messages waiting to be received (not those in flight): what the mapping scales on.
async fn visible_messages(sqs: &Client, queue_url: &str) -> Result<usize, PollError> {
    count_messages(
        sqs,
        queue_url,
        &[QueueAttributeName::ApproximateNumberOfMessages],
    )
    .await
}

/// The messages in a queue, visible and in flight: zero once every message has been handled and deleted.
pub async fn queue_depth(sqs: &Client, queue_url: &str) -> Result<usize, PollError> {
    count_messages(
        sqs,
        queue_url,
        &[
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ],
    )
    .await
}

/// The sum of SQS's approximate counts `attributes` of a queue.
async fn count_messages(
    sqs: &Client,
    queue_url: &str,
    attributes: &[QueueAttributeName],
) -> Result<usize, PollError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .set_attribute_names(Some(attributes.to_vec()))
        .send()
        .await
        .map_err(|e| PollError::Queue {
            queue: queue_url.to_string(),
            detail: DisplayErrorContext(e).to_string(),
        })?;
    Ok(out
        .attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<usize>().ok()).sum())
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An S3 ObjectCreated notification as S3 writes it (the documented event structure, with values of the
    /// sizes AWS uses), as the SQS record Lambda hands the function: messageId, a receipt handle of the length
    /// SQS issues, the attributes, md5OfBody, eventSourceARN and awsRegion.
    fn realistic_record() -> SqsMessage {
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-2","eventTime":"2026-11-22T08:01:02.345Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AWS:AROAEXAMPLEROLEID1234:uploader-session"},"requestParameters":{"sourceIPAddress":"198.51.100.23"},"responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},"s3":{"s3SchemaVersion":"1.0","configurationId":"file-aggregator-prod-landing-created","bucket":{"name":"file-aggregator-prod-landing","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::file-aggregator-prod-landing"},"object":{"key":"incoming/2026/11/22/sensor-000123-20261122T080102Z.json","size":102400,"eTag":"d41d8cd98f00b204e9800998ecf8427e","versionId":"3HL4kqtJlcpXroDTDmjVBH40Nrjfkd.Ab","sequencer":"0055AED6DCD90281E5"}}}]}"#;
        let mut record = SqsMessage::default();
        record.message_id = Some("059f36b4-87a3-44ab-83d2-661975830a7d".into());
        record.receipt_handle = Some(format!(
            "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{}",
            "x".repeat(300)
        ));
        record.body = Some(body.into());
        record.md5_of_body = Some("e4e68fb7bd0e697a0ae8f1bb342846b3".into());
        record.attributes = [
            ("ApproximateReceiveCount", "1"),
            ("SentTimestamp", "1763798462345"),
            ("SenderId", "AROAEXAMPLEROLEID1234:S3-PROD-END"),
            ("ApproximateFirstReceiveTimestamp", "1763798462400"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn =
            Some("arn:aws:sqs:eu-west-2:111122223333:file-aggregator-prod-queue".into());
        record.aws_region = Some("eu-west-2".into());
        record
    }

    #[test]
    fn the_model_counts_a_notification_record_as_the_event_serializes_it() {
        let bytes = record_bytes(&realistic_record());
        let modelled = latency_model::service::ServiceTimes::aws().record_bytes;
        let error = (bytes as f64 - modelled as f64).abs() / bytes as f64;
        assert!(
            error < 0.1,
            "a record serializes to {bytes} bytes, the model assumes {modelled}"
        );
    }

    #[test]
    fn a_mapping_lambda_would_refuse_is_refused_with_the_limit_named() {
        let sqs = Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .build(),
        );
        let mapping = |batch_size, seconds| Mapping {
            queue_url: "http://127.0.0.1:1/queue".into(),
            batch_size,
            batching_window: Duration::from_secs(seconds),
            function_timeout: Duration::from_secs(60),
        };
        for (batch, window, words) in [
            (10_001, 60, "1..=10000"),
            (100, 301, "maximum of 300 s"),
            (11, 0, "batching window of at least 1 s"),
        ] {
            match Poller::new(sqs.clone(), mapping(batch, window)) {
                Ok(_) => panic!("batch size {batch} with a {window} s window was accepted"),
                Err(e) => assert!(e.to_string().contains(words), "{e}"),
            }
        }
        assert!(Poller::new(sqs.clone(), mapping(10_000, 300)).is_ok());
        assert!(Poller::new(sqs, mapping(10, 0)).is_ok());
    }

    #[test]
    fn the_last_fraction_of_a_window_is_one_long_poll_not_short_polls() {
        assert_eq!(receive_wait(Duration::from_millis(1)), 1);
        assert_eq!(receive_wait(Duration::from_millis(999)), 1);
        assert_eq!(receive_wait(Duration::from_millis(1_001)), 2);
        assert_eq!(receive_wait(Duration::from_secs(3)), 3);
        assert_eq!(receive_wait(Duration::from_secs(60)), 20);
    }
}
