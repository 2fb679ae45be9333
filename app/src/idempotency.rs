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
//! - IN_PROGRESS → **HELD** when this invocation could not deliver it and its message goes back to the queue
//!   (`held_at_ms`, `hold_reason`: [`HoldReason`]); absent → HELD when the open breaker, or too little time
//!   left, turns a file away before it is claimed, on its message's first receive only (later receives of the
//!   same message write nothing, so an outage costs one write per file, not one per receive). A HELD record
//!   may be claimed at once, like an absent one; it says the file is waiting in the queue, which is what the
//!   daily report (`reporter`) needs to tell a waiting file from a lost one.
//! - IN_PROGRESS → absent when the file is dead-lettered (its DLQ message is then the record).
//!
//! A claim that finds COMPLETED reports a duplicate (acknowledged, not delivered again); one that finds a live
//! IN_PROGRESS of another owner reports busy (the message is retried later).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::AttributeValue;

/// The `status` of a claimed record.
pub const IN_PROGRESS: &str = "IN_PROGRESS";
/// The `status` of a delivered file's record.
pub const COMPLETED: &str = "COMPLETED";
/// The `status` of a file whose message went back to the queue.
pub const HELD: &str = "HELD";
/// DynamoDB's BatchGetItem takes at most 100 keys per request.
const KEYS_PER_BATCH: usize = 100;

/// Why a file's message went back to the queue, as its HELD record's `hold_reason` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// The endpoint failed the delivery; the message comes back on the redelivery schedule.
    EndpointFailed,
    /// The circuit breaker was open, so the endpoint was not tried.
    BreakerOpen,
    /// Handed back unfinished (too little time left, a local I/O error); it comes back after a short hold.
    Deferred,
    /// S3 or DynamoDB failed; it comes back after the queue's visibility timeout.
    Transient,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::EndpointFailed => "endpoint-failed",
            HoldReason::BreakerOpen => "breaker-open",
            HoldReason::Deferred => "deferred",
            HoldReason::Transient => "transient",
        }
    }

    pub fn parse(text: &str) -> Option<HoldReason> {
        [
            HoldReason::EndpointFailed,
            HoldReason::BreakerOpen,
            HoldReason::Deferred,
            HoldReason::Transient,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// What a file's record says, as the daily report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An invocation claimed it; its lease ends at `lease_until_ms`.
    InProgress { lease_until_ms: i64 },
    /// The endpoint acknowledged the bundle `bundle_id` at `completed_at_ms`.
    Completed {
        bundle_id: String,
        /// None in records written before the aggregator recorded it.
        completed_at_ms: Option<i64>,
    },
    /// Its message went back to the queue at `held_at_ms`.
    Held {
        held_at_ms: i64,
        reason: Option<HoldReason>,
    },
}

impl Record {
    /// Reads a record's item; None for an item that is none of the states (a record written by hand).
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Record> {
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
        };
        match text(item, "status")? {
            IN_PROGRESS => Some(Record::InProgress {
                lease_until_ms: number("lease_until_ms").unwrap_or(0),
            }),
            COMPLETED => Some(Record::Completed {
                bundle_id: text(item, "bundle_id")?.to_string(),
                completed_at_ms: number("completed_at_ms"),
            }),
            HELD => Some(Record::Held {
                held_at_ms: number("held_at_ms").unwrap_or(0),
                reason: text(item, "hold_reason").and_then(HoldReason::parse),
            }),
            _ => None,
        }
    }
}

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
                "attribute_not_exists(id) OR #status = :held \
                 OR (#status = :completed AND expires_at_ms < :now) \
                 OR (#status = :in_progress AND lease_until_ms < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":held", s(HELD))
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

    /// Gives up a claim of a file that is dead-lettered: its DLQ message is its record from now on.
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
        // A failed condition: someone took the claim over after our lease ended, so it is theirs now.
        self.unless_condition_failed(result)
    }

    /// Gives up a claim after a failed delivery, leaving a HELD record that a retry may claim at once.
    pub async fn hold(
        &self,
        id: &str,
        owner: &str,
        reason: HoldReason,
    ) -> Result<(), IdempotencyError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression(
                "SET #status = :held, held_at_ms = :now, hold_reason = :reason \
                 REMOVE #owner, lease_until_ms",
            )
            .condition_expression("#owner = :owner AND #status = :in_progress")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":held", s(HELD))
            .expression_attribute_values(":now", n(epoch_ms(SystemTime::now())))
            .expression_attribute_values(":reason", s(reason.as_str()))
            .send()
            .await;
        // A failed condition: someone took the claim over after our lease ended, so it is theirs now.
        self.unless_condition_failed(result)
    }

    /// Records that a file was turned away before it was claimed and its message went back to the queue, unless
    /// the file already has a record (which says more).
    pub async fn mark_held(&self, id: &str, reason: HoldReason) -> Result<(), IdempotencyError> {
        let now = SystemTime::now();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", s(id))
            .item("status", s(HELD))
            .item("held_at_ms", n(epoch_ms(now)))
            .item("hold_reason", s(reason.as_str()))
            .item("expires_at", n(epoch_ms(now + self.ttl) / 1000))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        // A failed condition: the file has a record already.
        self.unless_condition_failed(result)
    }

    /// A conditional write's outcome, where a failed condition is not an error.
    fn unless_condition_failed<T, E>(&self, result: Result<T, E>) -> Result<(), IdempotencyError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match result {
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(self.error(DisplayErrorContext(e).to_string())),
            Ok(_) => Ok(()),
        }
    }

    /// The records of `ids` that exist (100 keys a request; eventually consistent, at half the price: readers
    /// look at records written seconds to hours before); an id without a record, or with one in no known state,
    /// is absent from the map.
    pub async fn lookup(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Record>, IdempotencyError> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(KEYS_PER_BATCH) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| HashMap::from([("id".to_string(), s(id))]))
                .collect();
            let mut pause = Duration::from_millis(50);
            // Keys DynamoDB leaves unprocessed (throttling) are asked again after a growing pause; the SDK's
            // retries cover failed requests, not these.
            while !keys.is_empty() {
                let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .build()
                    .map_err(|e| self.error(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| self.error(DisplayErrorContext(e).to_string()))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let (Some(id), Some(record)) = (text(item, "id"), Record::from_item(item)) {
                        found.insert(id.to_string(), record);
                    }
                }
                keys = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
        Ok(found)
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}
