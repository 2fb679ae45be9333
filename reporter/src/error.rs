//! Why a report could not be made or published; each says what was being read or written and what to check.

use app::idempotency::IdempotencyError;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "could not list the versions of s3://{bucket}/{prefix}: {detail} (the reporter needs s3:ListBucketVersions on the landing bucket)"
    )]
    Listing {
        bucket: String,
        prefix: String,
        detail: String,
    },
    #[error("could not read the S3 Inventory under s3://{bucket}/{prefix}: {detail}")]
    Inventory {
        bucket: String,
        prefix: String,
        detail: String,
    },
    #[error(transparent)]
    Records(#[from] IdempotencyError),
    #[error(
        "could not read the dead-letter queue {url}: {detail} (the reporter needs sqs:ReceiveMessage, sqs:ChangeMessageVisibility and sqs:GetQueueAttributes on it)"
    )]
    DeadLetters { url: String, detail: String },
    #[error(
        "could not read the message counts of the queue {url}: {detail} (the reporter needs sqs:GetQueueAttributes on it)"
    )]
    Counts { url: String, detail: String },
    #[error(
        "could not list the archive s3://{bucket}/{prefix}: {detail} (the reporter needs s3:ListBucket on the archive)"
    )]
    Archive {
        bucket: String,
        prefix: String,
        detail: String,
    },
    #[error(
        "could not write s3://{bucket}/{key}: {detail} (the reporter needs s3:PutObject there)"
    )]
    Write {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error(
        "could not publish the summary to {topic}: {detail} (the reporter needs sns:Publish on it)"
    )]
    Notify { topic: String, detail: String },
    #[error("the report's HTML template {0}")]
    Template(String),
    #[error("could not send the re-delivery messages to {url}: {detail}")]
    Requeue { url: String, detail: String },
}
