//! Heals a gap: re-sends, for each unexplained file, the S3 event S3 would have sent, to the source queue, so the
//! aggregator delivers it like any other file. Each message names the exact version the listing found. Safe to
//! run twice: a file the aggregator delivered in the meantime is acknowledged as a duplicate by its idempotency
//! record, not sent again.

use app::event::{ObjectRef, notification};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::error::ReportError;

/// SQS takes at most ten messages per batch.
const SQS_BATCH: usize = 10;

/// Sends one event message per file to the queue at `url`; returns how many were sent.
pub async fn requeue(sqs: &Client, url: &str, files: &[ObjectRef]) -> Result<usize, ReportError> {
    let failed = |detail: String| ReportError::Requeue {
        url: url.to_string(),
        detail,
    };
    let mut sent = 0;
    for chunk in files.chunks(SQS_BATCH) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, file)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(notification(std::slice::from_ref(file)))
                    .build()
                    .map_err(|e| failed(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| failed(DisplayErrorContext(e).to_string()))?;
        if let Some(first) = out.failed().first() {
            return Err(failed(format!(
                "{} of {} messages were refused ({}: {}); {sent} were sent before; run the command again",
                out.failed().len(),
                chunk.len(),
                first.code(),
                first.message().unwrap_or_default()
            )));
        }
        sent += out.successful().len();
    }
    Ok(sent)
}
