//! How many messages a queue holds now, by state, from its attributes. Of the source queue the report can know
//! no more (receiving would take messages from the aggregator and undo their redelivery holds), but an empty
//! queue proves that no file is waiting in it; of the DLQ it says whether there is anything to read.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

use crate::error::ReportError;

/// A queue's messages (SQS's approximate counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    /// Waiting to be received.
    pub visible: u64,
    /// Received and not yet deleted: in an invocation, or hidden for a redelivery hold.
    pub in_flight: u64,
    pub delayed: u64,
}

impl Backlog {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// Reads the queue's counts.
pub async fn of(sqs: &Client, url: &str) -> Result<Backlog, ReportError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| ReportError::Counts {
            url: url.to_string(),
            detail: DisplayErrorContext(e).to_string(),
        })?;
    let count = |name: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Backlog {
        visible: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}
