//! What the dead-letter queue holds, read without consuming it: every message is received (which hides it for
//! the read), parsed, and made visible again at once; none is deleted.
//!
//! Why read the queue rather than keep a record of dead-lettered files: the DLQ holds two kinds of messages. The
//! aggregator sends there what can never be delivered, with its reason as message attributes (`reason`, `kind`,
//! `source_message_id`, `failed_at`: app/src/queue.rs); SQS moves there, by itself, a message received
//! `maxReceiveCount` times, which never passes through the aggregator's code and carries no attribute. A record
//! written by the aggregator would miss the second kind, whose files the report would then call pending or
//! unexplained; the queue itself has both, and "in the DLQ" then means what an operator finds there and what a
//! redrive moves. The price: while the report reads (seconds), the messages are hidden from anyone else reading
//! the DLQ; each receive raises a message's receive count (harmless: the DLQ has no redrive policy of its own);
//! a message someone else holds in flight at that moment is not seen (the report says how many there were);
//! and SQS keeps at most 120,000 messages in flight, beyond which the read stops and says so. A message's body
//! is the original S3 event, so it names its files (and, for a version since deleted, still says when it landed).

use std::collections::{HashMap, HashSet};

use app::event::{Body, ObjectRef, parse_body};
use app::queue::{FAILED_AT_ATTRIBUTE, KIND_ATTRIBUTE, REASON_ATTRIBUTE};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ReportError;
use crate::landed::Landed;

/// The `kind` of a file SQS dead-lettered by itself after `maxReceiveCount` receives.
pub const RECEIVE_LIMIT: &str = "receive-limit";
/// SQS takes at most ten entries per batch call.
const SQS_BATCH: usize = 10;

/// One file a dead-lettered message names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// As the event names it: its version id may be missing (moto's events), its event time is when it landed.
    pub object: ObjectRef,
    /// `gone`, `unreadable`, `oversize` (comma-separated when the message's files failed differently), or
    /// [`RECEIVE_LIMIT`].
    pub kind: String,
    pub reason: String,
    pub message_id: String,
    /// When the aggregator dead-lettered it; unknown for a message SQS moved.
    pub dead_lettered_at: Option<OffsetDateTime>,
}

/// The DLQ's messages, by the files they name.
#[derive(Debug, Default)]
pub struct DeadLetters {
    pub entries: Vec<DeadLetter>,
    /// (bucket, key) → the entries naming that key.
    by_key: HashMap<(String, String), Vec<usize>>,
    /// Messages read.
    pub messages: usize,
    /// Messages that name no file: poison (and test events).
    pub naming_no_file: usize,
    /// Messages someone else held in flight when the read began (not seen).
    pub in_flight_elsewhere: usize,
    /// The read stopped at SQS's limit of messages in flight.
    pub truncated: bool,
}

impl DeadLetters {
    fn add(&mut self, entry: DeadLetter) {
        let key = (entry.object.bucket.clone(), entry.object.key.clone());
        self.by_key.entry(key).or_default().push(self.entries.len());
        self.entries.push(entry);
    }

    /// The entry that names this version: by its version id, or, for an event without one, by its ETag.
    pub fn matching(&self, landed: &Landed) -> Option<usize> {
        let key = (landed.object.bucket.clone(), landed.object.key.clone());
        self.by_key.get(&key)?.iter().copied().find(|&i| {
            let named = &self.entries[i].object;
            match &named.version_id {
                Some(version) => landed.object.version_id.as_ref() == Some(version),
                None => named.etag == landed.object.etag,
            }
        })
    }
}

/// Reads every message of the DLQ at `url` and makes each visible again; `hidden_for` is how long they stay
/// hidden should the reporter stop before that.
pub async fn read(
    sqs: &Client,
    url: &str,
    hidden_for: Duration,
) -> Result<DeadLetters, ReportError> {
    let failed = |detail: String| ReportError::DeadLetters {
        url: url.to_string(),
        detail,
    };
    let counts = crate::backlog::of(sqs, url).await?;
    let mut dead = DeadLetters {
        in_flight_elsewhere: counts.in_flight as usize,
        ..DeadLetters::default()
    };
    if counts.visible == 0 {
        return Ok(dead);
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut receipts: Vec<String> = Vec::new();
    let outcome = loop {
        // A long poll asks every SQS server, so an empty answer means no visible message is left.
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(hidden_for.as_secs().min(43_200) as i32)
            .message_attribute_names("All")
            .send()
            .await;
        let out = match received {
            Ok(out) => out,
            Err(e) if e.code() == Some("OverLimit") => {
                dead.truncated = true;
                break Ok(());
            }
            Err(e) => break Err(failed(DisplayErrorContext(e).to_string())),
        };
        if out.messages().is_empty() {
            break Ok(());
        }
        for message in out.messages() {
            receipts.extend(message.receipt_handle().map(str::to_string));
            let id = message.message_id().unwrap_or_default().to_string();
            if !seen.insert(id.clone()) {
                continue;
            }
            dead.messages += 1;
            let attribute = |name: &str| {
                message
                    .message_attributes()
                    .and_then(|a| a.get(name))
                    .and_then(|v| v.string_value())
                    .map(str::to_string)
            };
            let objects = match parse_body(message.body()) {
                Body::Objects(objects) => objects,
                Body::Poison(_) | Body::TestEvent => {
                    dead.naming_no_file += 1;
                    continue;
                }
            };
            let (kind, reason) = match (attribute(KIND_ATTRIBUTE), attribute(REASON_ATTRIBUTE)) {
                (Some(kind), reason) => (kind, reason.unwrap_or_default()),
                (None, _) => (
                    RECEIVE_LIMIT.to_string(),
                    "moved here by SQS after the queue's maxReceiveCount receives: its invocations kept failing \
                     without a verdict (read the aggregator's log for this message id)"
                        .to_string(),
                ),
            };
            let at = attribute(FAILED_AT_ATTRIBUTE)
                .and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok());
            for object in objects {
                dead.add(DeadLetter {
                    object,
                    kind: kind.clone(),
                    reason: reason.clone(),
                    message_id: id.clone(),
                    dead_lettered_at: at,
                });
            }
        }
    };
    release(sqs, url, &receipts).await.map_err(failed)?;
    outcome.map(|()| dead)
}

/// Makes the messages read visible again at once.
async fn release(sqs: &Client, url: &str, receipts: &[String]) -> Result<(), String> {
    for chunk in receipts.chunks(SQS_BATCH) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, receipt)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = sqs
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        if let Some(failure) = out.failed().first() {
            tracing::warn!(
                code = failure.code(),
                "a dead-letter message could not be made visible again; it is after the read's visibility timeout"
            );
        }
    }
    Ok(())
}
