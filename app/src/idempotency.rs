//! Claims on files in DynamoDB, so that repeated S3 events, retried batches and overlapping invocations do not
//! send a file the endpoint already acknowledged: duplicates are removed before delivery. Delivery itself is
//! at least once — docs/delivery-guarantees.md lists the windows in which a file is sent again.
//!
//! States of a record (key `id` = the object's identity: bucket, key and version id or ETag):
//! - absent → **IN_PROGRESS** by one conditional PutItem (the claim), with a lease that ends at the claiming
//!   invocation's deadline and an `owner` (the claiming invocation). A record whose lease has ended, or a COMPLETED one
//!   whose expiry has passed, may be claimed again by the same write.
//! - IN_PROGRESS → **COMPLETED** after delivery, with the bundle id, when the endpoint acknowledged it
//!   (`completed_at_ms`: what an operator asks of a file, and what `cargo xtask load --env` measures) and an
//!   expiry (default 7 days). Expiry is checked here because DynamoDB's TTL deletes late (up to 48 hours).
//! - IN_PROGRESS → absent when delivery fails (the claim is released), so the retry proceeds at once.
//!
//! A claim that finds COMPLETED reports a duplicate (acknowledged, not delivered again); one that finds a live
//! IN_PROGRESS of another owner reports busy (the message is retried later).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::AttributeValue;

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This invocation owns the file now.
    Claimed,
    /// Delivered before, in the given bundle.
    Duplicate { bundle_id: String },
    /// Another invocation holds a live lease on it.
    Busy,
}

/// DynamoDB could not be asked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the idempotency table `{table}` could not be used: {detail}")]
pub struct IdempotencyError {
    pub table: String,
    pub detail: String,
}

/// The claims table.
#[derive(Clone)]
pub struct Idempotency {
    client: Client,
    table: String,
    ttl: Duration,
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

impl Idempotency {
    pub fn new(client: Client, table: String, ttl: Duration) -> Idempotency {
        Idempotency { client, table, ttl }
    }

    fn error(&self, detail: impl Into<String>) -> IdempotencyError {
        IdempotencyError {
            table: self.table.clone(),
            detail: detail.into(),
        }
    }

    /// Claims `id` for `owner` until `lease_until`.
    pub async fn claim(
        &self,
        id: &str,
        owner: &str,
        lease_until: SystemTime,
    ) -> Result<Claim, IdempotencyError> {
        let now = SystemTime::now();
        let now_ms = epoch_ms(now);
        let expires_at = (epoch_ms(now + self.ttl)) / 1000;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", s(id))
            .item("status", s(IN_PROGRESS))
            .item("owner", s(owner))
            .item("lease_until_ms", n(epoch_ms(lease_until)))
            .item("expires_at", n(expires_at))
            .condition_expression(
                "attribute_not_exists(id) OR (#status = :completed AND expires_at_ms < :now) \
                 OR (#status = :in_progress AND lease_until_ms < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => self.why_not(id).await,
            Err(e) => Err(self.error(DisplayErrorContext(e).to_string())),
        }
    }

    /// Reads the record that kept a claim from succeeding.
    async fn why_not(&self, id: &str) -> Result<Claim, IdempotencyError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(DisplayErrorContext(e).to_string()))?
            .item
            .unwrap_or_default();
        Ok(match text(&item, "status") {
            Some(COMPLETED) => Claim::Duplicate {
                bundle_id: text(&item, "bundle_id").unwrap_or("unknown").to_string(),
            },
            _ => Claim::Busy,
        })
    }

    /// Marks `id` delivered in `bundle_id`; only the claim's owner may.
    pub async fn complete(
        &self,
        id: &str,
        owner: &str,
        bundle_id: &str,
    ) -> Result<(), IdempotencyError> {
        let now = SystemTime::now();
        let expires = now + self.ttl;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression(
                "SET #status = :completed, bundle_id = :bundle, completed_at_ms = :now_ms, \
                 expires_at = :expires, expires_at_ms = :expires_ms REMOVE lease_until_ms",
            )
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":bundle", s(bundle_id))
            .expression_attribute_values(":now_ms", n(epoch_ms(now)))
            .expression_attribute_values(":expires", n(epoch_ms(expires) / 1000))
            .expression_attribute_values(":expires_ms", n(epoch_ms(expires)))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await
            .map_err(|e| self.error(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Gives up a claim after a failed delivery, so a retry can claim the file at once.
    pub async fn release(&self, id: &str, owner: &str) -> Result<(), IdempotencyError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", s(id))
            .condition_expression("#owner = :owner AND #status = :in_progress")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        match result {
            // Someone took the claim over after our lease ended: it is theirs now.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(self.error(DisplayErrorContext(e).to_string())),
            Ok(_) => Ok(()),
        }
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}
