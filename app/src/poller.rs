//! A local stand-in for Lambda's SQS event source mapping, for emulators (which do not run mappings) and tests:
//! long-polls the queue for a batch (batch size, batching window), invokes the real handler with an SQS event,
//! and deletes exactly the messages the handler did not report as failed. The rest become visible again after
//! their visibility timeout, and the queue's redrive policy dead-letters them as it would in AWS.

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

use crate::Aggregator;

/// SQS returns at most ten messages per receive.
const SQS_RECEIVE_MAX: i32 = 10;

/// The longest long poll SQS allows, in seconds.
const SQS_WAIT_MAX: u64 = 20;

/// The long poll for a receive with `remaining` of the window (or idle wait) left: whole seconds, rounded up.
///
/// Rounded up, not down, so the last fraction of a second of a window is one long poll that returns as soon as a
/// message arrives, as Lambda's pollers do, instead of short polls (`WaitTimeSeconds` 0) repeated as fast as
/// the queue answers; the window may run over by under a second.
fn receive_wait(remaining: Duration) -> i32 {
    let whole = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    whole.clamp(1, SQS_WAIT_MAX) as i32
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

/// Why polling failed.
#[derive(Debug, thiserror::Error)]
#[error("the local event source mapping could not use the queue {queue}: {detail}")]
pub struct PollError {
    pub queue: String,
    pub detail: String,
}

/// The mapping's poller.
pub struct Poller {
    sqs: Client,
    mapping: Mapping,
}

impl Poller {
    pub fn new(sqs: Client, mapping: Mapping) -> Poller {
        Poller { sqs, mapping }
    }

    fn error(&self, detail: String) -> PollError {
        PollError {
            queue: self.mapping.queue_url.clone(),
            detail,
        }
    }

    /// Gathers one batch: up to `batch_size` messages, waiting at most the batching window once one arrived
    /// (and at most `idle` for the first).
    pub async fn next_batch(&self, idle: Duration) -> Result<Vec<SqsMessage>, PollError> {
        let mut batch: Vec<SqsMessage> = Vec::new();
        let started = Instant::now();
        let mut first_at: Option<Instant> = None;
        loop {
            let waited = first_at.map_or(started.elapsed(), |t| t.elapsed());
            let limit = if first_at.is_some() {
                self.mapping.batching_window
            } else {
                idle
            };
            if batch.len() >= self.mapping.batch_size || waited >= limit {
                break;
            }
            let wait = receive_wait(limit - waited);
            let want = (self.mapping.batch_size - batch.len()).min(SQS_RECEIVE_MAX as usize) as i32;
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.mapping.queue_url)
                .max_number_of_messages(want)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| self.error(DisplayErrorContext(e).to_string()))?;
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
                message.attributes = m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), v))
                    .collect();
                message.event_source = Some("aws:sqs".into());
                batch.push(message);
            }
        }
        Ok(batch)
    }

    /// Gathers a batch and, if there is one, invokes the handler with it and deletes what succeeded.
    pub async fn invoke_once(
        &self,
        aggregator: &Aggregator,
        idle: Duration,
    ) -> Result<Invocation, PollError> {
        let batch = self.next_batch(idle).await?;
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
        let response = aggregator.handle(event, deadline).await;
        let failed: std::collections::HashSet<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        let to_delete: Vec<&(String, String)> = receipts
            .iter()
            .filter(|(id, _)| !failed.contains(id))
            .collect();
        for chunk in to_delete.chunks(SQS_RECEIVE_MAX as usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_fraction_of_a_window_is_one_long_poll_not_short_polls() {
        assert_eq!(receive_wait(Duration::from_millis(1)), 1);
        assert_eq!(receive_wait(Duration::from_millis(999)), 1);
        assert_eq!(receive_wait(Duration::from_millis(1_001)), 2);
        assert_eq!(receive_wait(Duration::from_secs(3)), 3);
        assert_eq!(receive_wait(Duration::from_secs(60)), 20);
    }
}
