//! What the handler does to SQS messages itself: sends what can never be delivered to the dead-letter queue
//! with its reason, and hides messages it returns for a while: for the redelivery schedule's hold when the
//! endpoint failed (see `redelivery`), briefly when the work was handed back unfinished.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageAttributeValue};

/// SQS takes at most ten entries per batch call.
const SQS_BATCH: usize = 10;

/// The attributes of a message the handler dead-letters, which the daily report reads: why, in words.
pub const REASON_ATTRIBUTE: &str = "reason";
/// ... which kind of failure: `poison`, `gone`, `unreadable`, `oversize` (comma-separated when several).
pub const KIND_ATTRIBUTE: &str = "kind";
/// ... the id of the message in the source queue.
pub const SOURCE_MESSAGE_ID_ATTRIBUTE: &str = "source_message_id";
/// ... and when (RFC 3339).
pub const FAILED_AT_ATTRIBUTE: &str = "failed_at";

/// A message to hide for a while.
#[derive(Debug, Clone)]
pub struct Hold {
    pub message_id: String,
    pub receipt_handle: String,
    pub for_: Duration,
}

/// The queues the handler writes to.
#[derive(Clone)]
pub struct Queues {
    client: Client,
    source_url: String,
    dlq_url: String,
}

impl Queues {
    pub fn new(client: Client, source_url: String, dlq_url: String) -> Queues {
        Queues {
            client,
            source_url,
            dlq_url,
        }
    }

    /// Sends a message's body to the DLQ with why it can never be delivered — attributes `reason` (words),
    /// `kind` (`poison`, `gone`, `unreadable`, `oversize`), `source_message_id`, `failed_at`; the caller then
    /// acknowledges it.
    pub async fn dead_letter(
        &self,
        message_id: &str,
        body: &str,
        reason: &str,
        kind: &str,
    ) -> Result<(), String> {
        let text = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| e.to_string())
        };
        // SQS refuses an empty body; keep the reason as the record even then.
        let body = if body.is_empty() {
            "(empty body)"
        } else {
            body
        };
        self.client
            .send_message()
            .queue_url(&self.dlq_url)
            .message_body(body)
            .message_attributes(REASON_ATTRIBUTE, text(reason)?)
            .message_attributes(KIND_ATTRIBUTE, text(kind)?)
            .message_attributes(SOURCE_MESSAGE_ID_ATTRIBUTE, text(message_id)?)
            .message_attributes(FAILED_AT_ATTRIBUTE, text(&crate::now_rfc3339())?)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        Ok(())
    }

    /// Hides each message for its hold; returns how many could not be changed (they come back after the
    /// queue's visibility timeout instead, which only costs latency).
    pub async fn hold(&self, holds: &[Hold]) -> usize {
        let mut failed = 0;
        for chunk in holds.chunks(SQS_BATCH) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&h.receipt_handle)
                        .visibility_timeout(
                            h.for_
                                .as_secs()
                                .min(redelivery::SQS_MAX_VISIBILITY_SECONDS.into())
                                as i32,
                        )
                        .build()
                        .ok()
                })
                .collect();
            failed += chunk.len() - entries.len();
            match self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.source_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for entry in out.failed() {
                        let message_id = entry
                            .id()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| chunk.get(i))
                            .map_or("unknown", |h| h.message_id.as_str());
                        tracing::warn!(
                            message_id,
                            code = entry.code(),
                            error = entry.message().unwrap_or_default(),
                            sender_fault = entry.sender_fault(),
                            "could not hold a message back; it returns after the queue's visibility timeout"
                        );
                    }
                    failed += out.failed().len();
                }
                Err(e) => {
                    tracing::warn!(error = %DisplayErrorContext(e), "could not hold messages back");
                    failed += chunk.len();
                }
            }
        }
        failed
    }
}
