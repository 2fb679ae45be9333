//! The report of one day: a versioned, machine-readable document (`report.json`) from which the HTML, the
//! notification and the metrics are all made. Fields are added in new schema versions, never changed in meaning;
//! [`SCHEMA_VERSION`] says which this is, and README.md ("Proof of delivery") documents each field.

use std::collections::BTreeMap;

use latency_model::outcome::nearest_rank;
use latency_model::service::Objective;
use serde::Serialize;

use crate::archive::Archived;
use crate::backlog::Backlog;
use crate::day::Day;
use crate::tally::{Counts, Lists, Tally};

/// What the document is.
pub const SCHEMA: &str = "file-aggregator.reconciliation-report";
/// Its version: raised when a field is added.
pub const SCHEMA_VERSION: u32 = 1;

/// Bucket widths of the latency histogram, in seconds: the smallest that covers the range in at most
/// [`MAX_BUCKETS`] buckets is used.
const BUCKET_SECONDS: [u64; 13] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600];
const MAX_BUCKETS: u64 = 30;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub schema_version: u32,
    pub environment: String,
    /// The UTC day, YYYY-MM-DD.
    pub date: String,
    pub window: Window,
    pub generated_at: String,
    pub source: Source,
    pub counts: Counts,
    pub bytes: Bytes,
    pub dead_lettered_by_kind: BTreeMap<String, u64>,
    pub pending_by_state: BTreeMap<String, u64>,
    pub latency: Latency,
    /// By the UTC hour the files landed in, 0 to 23.
    pub hours: Vec<Hour>,
    pub bundles: Archived,
    /// The source queue when the report ran.
    pub source_queue: Backlog,
    pub dead_letter_queue: DeadLetterQueue,
    /// The 100 oldest files of each list.
    pub oldest: Lists,
    /// Unexplained files beyond the requeue limit, which a requeue would not reach.
    pub unexplained_beyond_requeue_limit: u64,
    /// What the report could not see, or how it read what it saw, in words.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub from: String,
    pub to: String,
}

/// Where the day's versions were read from.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// `list-object-versions` or `s3-inventory`.
    pub kind: &'static str,
    pub bucket: String,
    /// The inventory run's manifest, when it was read.
    pub inventory_manifest: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Bytes {
    pub landed: u64,
    pub delivered: u64,
}

/// Landing to acknowledgement, over the files the pipeline owed delivery: every landed file but those
/// dead-lettered (they can never be delivered as they are) and the delivered files whose record has no time.
/// A percentile whose rank falls among the files not delivered is `null`: not achieved.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub judged: u64,
    pub delivered_untimed: u64,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub p999_ms: Option<u64>,
    pub max_ms: Option<u64>,
    pub objective: Vec<Target>,
    pub histogram: Histogram,
}

/// One target of the objective: `share` of the judged files within `within_ms`.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub share: f64,
    pub within_ms: u64,
    pub achieved_share: Option<f64>,
    pub met: bool,
}

/// Delivered files by latency: `counts[i]` in `[i × bucket_ms, (i + 1) × bucket_ms)`, `over` beyond.
#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    pub bucket_ms: u64,
    pub counts: Vec<u64>,
    pub over: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Hour {
    pub hour: u8,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterQueue {
    pub messages: u64,
    /// Poison: messages that name no file (not counted as landed).
    pub naming_no_file: u64,
    /// Files of other days the DLQ names.
    pub files_of_other_days: u64,
    /// Files of this day the DLQ names that are no longer in the landing bucket (deleted since they landed):
    /// counted as landed and dead-lettered, from their messages.
    pub files_no_longer_listed: u64,
    /// Messages someone else held in flight when the DLQ was read (not seen).
    pub in_flight_elsewhere: u64,
    /// The read stopped at SQS's limit of messages in flight.
    pub truncated: bool,
}

/// Everything a report is made from besides the tally.
pub struct Inputs {
    pub environment: String,
    pub day: Day,
    pub generated_at: time::OffsetDateTime,
    pub source: Source,
    pub objective: Objective,
    pub bundles: Archived,
    pub source_queue: Backlog,
    pub dead_letter_queue: DeadLetterQueue,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(inputs: Inputs, mut tally: Tally) -> Report {
        let oldest = tally.take_lists();
        let latency = latency(&tally, &inputs.objective);
        Report {
            schema: SCHEMA,
            schema_version: SCHEMA_VERSION,
            environment: inputs.environment,
            date: inputs.day.to_string(),
            window: Window {
                from: app::rfc3339(inputs.day.start()),
                to: app::rfc3339(inputs.day.end()),
            },
            generated_at: app::rfc3339(inputs.generated_at),
            source: inputs.source,
            counts: tally.counts,
            bytes: Bytes {
                landed: tally.bytes_landed,
                delivered: tally.bytes_delivered,
            },
            dead_lettered_by_kind: tally.dead_by_kind,
            pending_by_state: tally.pending_by_state,
            latency,
            hours: tally
                .hours
                .iter()
                .enumerate()
                .map(|(hour, counts)| Hour {
                    hour: hour as u8,
                    counts: *counts,
                })
                .collect(),
            bundles: inputs.bundles,
            source_queue: inputs.source_queue,
            dead_letter_queue: inputs.dead_letter_queue,
            oldest,
            unexplained_beyond_requeue_limit: tally.unexplained_not_kept,
            notes: inputs.notes,
        }
    }

    /// True when every file of the day is delivered or dead-lettered with its reason: nothing waits, nothing
    /// is lost.
    pub fn settled(&self) -> bool {
        self.counts.pending == 0 && self.counts.unexplained == 0
    }

    /// One line: the day and its counts.
    pub fn headline(&self) -> String {
        let c = &self.counts;
        format!(
            "{} {}: {} landed, {} delivered, {} dead-lettered, {} pending, {} unexplained",
            self.environment,
            self.date,
            c.landed,
            c.delivered,
            c.dead_lettered,
            c.pending,
            c.unexplained
        )
    }
}

fn latency(tally: &Tally, objective: &Objective) -> Latency {
    let mut sorted = tally.latencies_ms.clone();
    sorted.sort_unstable();
    let judged = tally
        .counts
        .landed
        .saturating_sub(tally.counts.dead_lettered)
        .saturating_sub(tally.delivered_untimed);
    let percentile = |q: f64| -> Option<u64> {
        if judged == 0 {
            return None;
        }
        sorted.get(nearest_rank(judged as usize, q) - 1).copied()
    };
    let targets = objective
        .targets
        .iter()
        .map(|&(share, within_seconds)| {
            let within_ms = (within_seconds * 1000.0) as u64;
            let achieved = (judged > 0)
                .then(|| sorted.partition_point(|&l| l <= within_ms) as f64 / judged as f64);
            Target {
                share,
                within_ms,
                achieved_share: achieved,
                met: achieved.is_some_and(|a| a >= share),
            }
        })
        .collect();
    let longest_target = objective
        .targets
        .iter()
        .map(|&(_, s)| (s * 1000.0) as u64)
        .max()
        .unwrap_or(180_000);
    Latency {
        judged,
        delivered_untimed: tally.delivered_untimed,
        p50_ms: percentile(0.50),
        p95_ms: percentile(0.95),
        p99_ms: percentile(0.99),
        p999_ms: percentile(0.999),
        max_ms: percentile(1.0),
        objective: targets,
        histogram: histogram(&sorted, longest_target),
    }
}

/// Buckets that cover one and a half times the objective's longest time and the slowest file, up to ten times
/// that time; anything slower is counted as `over`.
fn histogram(sorted: &[u64], longest_target_ms: u64) -> Histogram {
    let slowest = sorted.last().copied().unwrap_or(0);
    let range = (longest_target_ms * 3 / 2).max(slowest.min(longest_target_ms * 10));
    let bucket_ms = BUCKET_SECONDS
        .iter()
        .map(|s| s * 1000)
        .find(|width| range.div_ceil(*width) <= MAX_BUCKETS)
        .unwrap_or(3_600_000);
    let buckets = range.div_ceil(bucket_ms).max(1);
    let mut counts = vec![0; buckets as usize];
    let mut over = 0;
    for &latency in sorted {
        match counts.get_mut((latency / bucket_ms) as usize) {
            Some(count) => *count += 1,
            None => over += 1,
        }
    }
    Histogram {
        bucket_ms,
        counts,
        over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_covers_the_objective_and_counts_the_slowest_beyond() {
        let h = histogram(&[0, 9_999, 10_000, 65_000, 269_999], 180_000);
        assert_eq!(h.bucket_ms, 10_000, "270 s in at most 30 buckets");
        assert_eq!(h.counts.len(), 27);
        assert_eq!(
            (h.counts[0], h.counts[1], h.counts[6], h.counts[26]),
            (2, 1, 1, 1)
        );
        assert_eq!(h.over, 0);
        let h = histogram(&[0, 65_000, 1_799_999, 5_000_000], 180_000);
        assert_eq!(
            h.bucket_ms, 60_000,
            "up to ten times the objective's longest time, 1,800 s"
        );
        assert_eq!(h.counts.len(), 30);
        assert_eq!((h.counts[0], h.counts[1], h.counts[29]), (1, 1, 1));
        assert_eq!(h.over, 1);
    }
}
