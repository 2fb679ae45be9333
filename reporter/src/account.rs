//! What became of one landed file, from what the pipeline recorded of it — the rules of the report, and what
//! each can and cannot know.
//!
//! In order, the first that holds:
//! 1. **delivered**: its idempotency record is COMPLETED (the endpoint acknowledged the bundle that carried it).
//! 2. **dead-lettered**: a message in the DLQ names it (with the aggregator's reason, or SQS's receive limit).
//! 3. **unexplained**, when the source queue is empty: no message of it waits anywhere, whatever its record says.
//! 4. **pending**, when its record says the aggregator has it in hand: IN_PROGRESS (an invocation claimed it; if
//!    the lease has ended, the invocation ended without finishing and the message returns after the visibility
//!    timeout) or HELD (its message went back to the queue at a known time, for a known reason).
//! 5. **unexplained** otherwise: it has no record, so its message never reached the aggregator — every message the
//!    aggregator receives leaves a record (a claim, a hold, a completion) or a DLQ message. Its event was not
//!    sent or was lost, its message was deleted or purged, or its record was deleted or has expired.
//!
//! What the report cannot know: whether the message of a pending file is still in the queue (the report cannot
//! look inside it; a message deleted or purged by hand leaves its file pending until the queue is empty); whether
//! an IN_PROGRESS file whose lease ended was in fact delivered and only its COMPLETED write failed (window 3 of
//! docs/delivery-guarantees.md; it stays pending until its record expires); a message that never reached the
//! aggregator but is still queued behind a backlog older than the file (then its file is unexplained until the
//! backlog clears — the queue-age alarm has fired long before); a HELD mark that could not be written (logged by
//! the aggregator). On a healthy day every file of the day was delivered before the report runs (the schedule
//! leaves the batching window and the function timeout after midnight), so there is nothing to guess: all are
//! delivered or dead-lettered, and unexplained is 0.

use app::idempotency::{HoldReason, Record};
use time::OffsetDateTime;

use crate::dead_letters::DeadLetter;

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    Delivered {
        bundle_id: String,
        completed_at_ms: Option<i64>,
    },
    DeadLettered {
        kind: String,
        reason: String,
    },
    Pending {
        /// What it waits for, in a word (`held: endpoint-failed`, ...), for the counts.
        state: String,
        /// What it waits for, in words, for the lists.
        why: String,
    },
    Unexplained {
        why: String,
    },
}

/// Applies the rules above to one file: its record, the DLQ message naming it, and whether the source queue holds
/// any message at all.
pub fn classify(
    record: Option<&Record>,
    dead: Option<&DeadLetter>,
    queue_empty: bool,
    now: OffsetDateTime,
) -> Fate {
    if let Some(Record::Completed {
        bundle_id,
        completed_at_ms,
    }) = record
    {
        return Fate::Delivered {
            bundle_id: bundle_id.clone(),
            completed_at_ms: *completed_at_ms,
        };
    }
    if let Some(dead) = dead {
        return Fate::DeadLettered {
            kind: dead.kind.clone(),
            reason: dead.reason.clone(),
        };
    }
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let pending = match record {
        Some(Record::InProgress { lease_until_ms }) if *lease_until_ms >= now_ms => Some((
            "in progress".to_string(),
            format!(
                "claimed by an invocation delivering it now (lease until {})",
                at(*lease_until_ms)
            ),
        )),
        Some(Record::InProgress { lease_until_ms }) => Some((
            "claimed, unfinished".to_string(),
            format!(
                "claimed by an invocation that ended without finishing (lease ended {}): its message returns \
                 after the queue's visibility timeout",
                at(*lease_until_ms)
            ),
        )),
        Some(Record::Held { held_at_ms, reason }) => {
            let (state, words) = match reason {
                Some(HoldReason::EndpointFailed) => (
                    "endpoint-failed",
                    "the endpoint failed its delivery; redelivered on the back-off schedule",
                ),
                Some(HoldReason::BreakerOpen) => (
                    "breaker-open",
                    "held by the open circuit breaker; delivered when the endpoint is back",
                ),
                Some(HoldReason::Deferred) => (
                    "deferred",
                    "handed back unfinished (too little time left, or a local I/O error)",
                ),
                Some(HoldReason::Transient) => (
                    "transient",
                    "S3 or DynamoDB failed; retried after the visibility timeout",
                ),
                None => ("held", "its message went back to the queue"),
            };
            Some((
                format!("held: {state}"),
                format!("{words} (held since {})", at(*held_at_ms)),
            ))
        }
        Some(Record::Completed { .. }) | None => None,
    };
    match (pending, queue_empty) {
        (Some((_, why)), true) => Fate::Unexplained {
            why: format!(
                "the source queue is empty, so no message of it is left, yet it was not delivered and is not in \
                 the DLQ; its record says: {why}"
            ),
        },
        (Some((state, why)), false) => Fate::Pending { state, why },
        (None, _) => Fate::Unexplained {
            why: "no record and no DLQ message: the aggregator never received its message (the event was not \
                  sent or was lost, the message was deleted), or its record was deleted or expired"
                .to_string(),
        },
    }
}

/// A time in milliseconds since the epoch, as RFC 3339.
fn at(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(app::rfc3339)
        .unwrap_or_else(|_| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::event::ObjectRef;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 08:00 UTC);
    const BEFORE_MS: i64 = 1_795_000_000_000;

    fn dead() -> DeadLetter {
        DeadLetter {
            object: ObjectRef {
                bucket: "b".into(),
                key: "k".into(),
                version_id: None,
                size: 1,
                etag: "e".into(),
                event_time: String::new(),
            },
            kind: "gone".into(),
            reason: "deleted".into(),
            message_id: "m".into(),
            dead_lettered_at: None,
        }
    }

    #[test]
    fn delivered_wins_then_the_dlq_then_the_records_state() {
        let completed = Record::Completed {
            bundle_id: "b1".into(),
            completed_at_ms: Some(1),
        };
        assert!(matches!(
            classify(Some(&completed), Some(&dead()), true, NOW),
            Fate::Delivered { .. }
        ));
        let held = Record::Held {
            held_at_ms: BEFORE_MS,
            reason: Some(HoldReason::BreakerOpen),
        };
        assert!(matches!(
            classify(Some(&held), Some(&dead()), false, NOW),
            Fate::DeadLettered { kind, .. } if kind == "gone"
        ));
        assert!(matches!(
            classify(Some(&held), None, false, NOW),
            Fate::Pending { state, .. } if state == "held: breaker-open"
        ));
        let ended = Record::InProgress {
            lease_until_ms: BEFORE_MS,
        };
        assert!(matches!(
            classify(Some(&ended), None, false, NOW),
            Fate::Pending { state, .. } if state == "claimed, unfinished"
        ));
    }

    #[test]
    fn an_empty_queue_leaves_nothing_pending_and_no_record_is_unexplained() {
        let held = Record::Held {
            held_at_ms: BEFORE_MS,
            reason: Some(HoldReason::EndpointFailed),
        };
        assert!(matches!(
            classify(Some(&held), None, true, NOW),
            Fate::Unexplained { why } if why.contains("source queue is empty")
        ));
        assert!(matches!(
            classify(None, None, false, NOW),
            Fate::Unexplained { why } if why.starts_with("no record")
        ));
    }
}
