//! What a simulation found: latency percentiles per judged set, the backlog, the invocations, what Lambda
//! bills, and whether the objective holds.

use serde::Serialize;

use crate::service::Objective;

/// The 1-based rank of the share `q` of `total` values (nearest rank).
pub fn nearest_rank(total: usize, q: f64) -> usize {
    ((q * total as f64).ceil() as usize).max(1)
}

/// The value within which a share `q` of `total` lies, where values missing from `sorted` count as never
/// arriving: `None` when the rank falls among them.
pub fn percentile(sorted: &[f64], total: usize, q: f64) -> Option<f64> {
    let total = total.max(sorted.len());
    if total == 0 {
        return None;
    }
    sorted.get(nearest_rank(total, q) - 1).copied()
}

/// Latencies (or durations) at the usual shares, seconds; `None` for files that never arrived.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

impl Percentiles {
    pub fn of(sorted: &[f64], total: usize) -> Percentiles {
        Percentiles {
            count: total,
            p50: percentile(sorted, total, 0.50),
            p95: percentile(sorted, total, 0.95),
            p99: percentile(sorted, total, 0.99),
            p999: percentile(sorted, total, 0.999),
            max: percentile(sorted, total, 1.0),
        }
    }
}

/// The files of one judged set: their sorted latencies and how many there were.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Judgement {
    pub sorted: Vec<f64>,
    pub total: usize,
}

impl Judgement {
    pub fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.sorted, self.total)
    }
}

/// One target of the objective on one set of files, and what the model predicts for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub set: &'static str,
    pub share: f64,
    pub limit: f64,
    pub predicted: Option<f64>,
    pub met: bool,
}

/// The invocations.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Invocations {
    pub count: u64,
    pub timed_out: u64,
    pub endpoint_failures: u64,
    pub bundles: u64,
    pub peak_concurrency: usize,
    pub files_per_invocation: f64,
    /// The largest batch's input bytes: what the function's temp space must hold if it were one bundle.
    pub largest_batch_bytes: u64,
    /// The largest invocation payload, bytes.
    pub largest_payload_bytes: usize,
    pub duration: Percentiles,
}

/// The pipeline's state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    pub at: f64,
    pub landed: usize,
    pub delivered: usize,
    /// Messages in the queue, visible and in flight.
    pub backlog: usize,
}

/// Everything one simulation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub seed: u64,
    pub files: usize,
    pub delivered: usize,
    pub dead_lettered: usize,
    /// End-to-end latency, from landing to the endpoint's acknowledgement.
    pub latency: Percentiles,
    pub steady: Percentiles,
    pub burst: Option<Percentiles>,
    pub peak_backlog: usize,
    pub peak_backlog_at: f64,
    /// The oldest message's age at its worst (the queue's ApproximateAgeOfOldestMessage).
    pub peak_oldest_age: f64,
    pub invocations: Invocations,
    /// Lambda's bill: GB-seconds and requests.
    pub gb_seconds: f64,
    pub requests: u64,
    /// SQS requests of the mapping and the handler: receives (long polls that came back empty included),
    /// deletes and holds; S3's notifications are not counted.
    pub sqs_requests: u64,
    /// When the last file was settled (delivered or dead-lettered), seconds from the start.
    pub finished_at: f64,
    #[serde(skip)]
    pub all_files: Judgement,
    #[serde(skip)]
    pub steady_files: Judgement,
    #[serde(skip)]
    pub burst_files: Judgement,
    #[serde(skip)]
    pub samples: Vec<Sample>,
}

impl Outcome {
    /// Each target of the objective on the steady files and the burst's files.
    pub fn verdicts(&self, objective: &Objective) -> Vec<Verdict> {
        let mut sets = vec![("steady", &self.steady_files)];
        if self.burst_files.total > 0 {
            sets.push(("burst", &self.burst_files));
        }
        let mut verdicts = Vec::new();
        for (set, files) in sets {
            for &(share, limit) in &objective.targets {
                let predicted = percentile(&files.sorted, files.total, share);
                verdicts.push(Verdict {
                    set,
                    share,
                    limit,
                    predicted,
                    met: predicted.is_some_and(|p| p <= limit),
                });
            }
        }
        verdicts
    }

    /// Whether every file arrives and every target holds.
    pub fn meets(&self, objective: &Objective) -> bool {
        self.dead_lettered == 0
            && self.delivered == self.files
            && self.verdicts(objective).iter().all(|v| v.met)
    }

    /// How far from the objective: the worst predicted/limit over the targets; below 1 meets it. A target
    /// that files never reach scores above any that they do, the more so the more files never arrive, so that
    /// a change which delivers more of them counts as closer.
    pub fn shortfall(&self, objective: &Objective) -> f64 {
        let never = |files: &Judgement| {
            1e3 + 1e6 * (1.0 - files.sorted.len() as f64 / files.total.max(1) as f64)
        };
        let mut worst = if self.dead_lettered > 0 {
            never(&self.all_files)
        } else {
            0.0
        };
        for v in self.verdicts(objective) {
            let files = if v.set == "burst" {
                &self.burst_files
            } else {
                &self.steady_files
            };
            worst = worst.max(v.predicted.map_or_else(|| never(files), |p| p / v.limit));
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_count_missing_files_as_never() {
        let sorted: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 10, 0.5), Some(5.0));
        assert_eq!(percentile(&sorted, 10, 0.95), Some(10.0));
        assert_eq!(percentile(&sorted, 20, 0.5), Some(10.0));
        assert_eq!(percentile(&sorted, 20, 0.51), None);
        assert_eq!(percentile(&[], 0, 0.5), None);
    }
}
