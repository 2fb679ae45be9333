//! Questions the model answers by running itself: the highest constant rate a pipeline carries within the
//! objective, and the settings to change when it misses.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::esm::{MAX_BATCH_SIZE, MAXIMUM_CONCURRENCY_RANGE, MappingError, PAYLOAD_LIMIT_BYTES};
use crate::outcome::Outcome;
use crate::service::{Objective, Pipeline};
use crate::sim::simulate_against;
use crate::traffic::{Judged, Phase, Scenario, Sizes, Spacing};

/// The rate above which [`highest_sustained_rate`] stops looking (files/s).
pub const SEARCH_CEILING: f64 = 20_000.0;
/// Files one probe of the search may land, to bound its time and memory.
const PROBE_FILES: f64 = 3_000_000.0;

/// The highest constant rate (files/s, within 5%) whose files meet the objective after the mapping has
/// warmed up and that the pipeline keeps up with (its backlog does not grow); [`SEARCH_CEILING`] when even
/// that does.
pub fn highest_sustained_rate(
    pipeline: &Pipeline,
    sizes: Sizes,
    objective: &Objective,
    seed: u64,
) -> Result<f64, MappingError> {
    let meets = |rate: f64| -> Result<bool, MappingError> {
        // Five minutes to warm up, five judged; shorter at rates where that would be millions of files.
        let phase = Duration::from_secs_f64((PROBE_FILES / rate / 2.0).clamp(120.0, 300.0));
        let scenario = Scenario {
            phases: vec![
                Phase {
                    rate,
                    duration: phase,
                    judged: Judged::WarmUp,
                },
                Phase {
                    rate,
                    duration: phase,
                    judged: Judged::Steady,
                },
            ],
            sizes,
            spacing: Spacing::Poisson,
        };
        let outcome = simulate_against(pipeline, &scenario, seed, objective)?;
        let judged = (phase.as_secs_f64(), 2.0 * phase.as_secs_f64());
        Ok(outcome.meets(objective) && keeps_up(&outcome, pipeline, rate, judged))
    };
    let (mut low, mut high) = (0.0, 1.0);
    while high < SEARCH_CEILING && meets(high)? {
        low = high;
        high *= 2.0;
    }
    if low >= SEARCH_CEILING / 2.0 && high >= SEARCH_CEILING && meets(SEARCH_CEILING)? {
        return Ok(SEARCH_CEILING);
    }
    high = high.min(SEARCH_CEILING);
    while low <= 0.0 || high / low > 1.05 {
        let middle = if low <= 0.0 {
            high / 2.0
        } else {
            (low + high) / 2.0
        };
        if middle < 0.01 {
            break;
        }
        if meets(middle)? {
            low = middle;
        } else {
            high = middle;
        }
    }
    Ok(low)
}

/// Whether the backlog stayed level between the two times: it may differ by what the concurrent batches hold
/// (deliveries come a batch at a time) or 3% of the files landed in between, not more; otherwise it grows
/// without end, however well a short run meets the objective.
fn keeps_up(outcome: &Outcome, pipeline: &Pipeline, rate: f64, (from, to): (f64, f64)) -> bool {
    let backlog_at = |t: f64| {
        let i = outcome.samples.partition_point(|s| s.at <= t);
        i.checked_sub(1).map_or(0, |i| outcome.samples[i].backlog)
    };
    let in_batches = f64::from(pipeline.mapping.maximum_concurrency)
        * f64::from(pipeline.mapping.batch_size)
            .min((PAYLOAD_LIMIT_BYTES / pipeline.service.record_bytes.max(1)) as f64);
    let growth = backlog_at(to) as f64 - backlog_at(from) as f64;
    growth <= in_batches.max(0.03 * rate * (to - from))
}

/// A setting the model can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Setting {
    MaximumConcurrency,
    MemoryMb,
    BatchingWindowSeconds,
    BatchSize,
    /// The link to the endpoint (Mbit/s): not a setting of the stack, but what the network must provide.
    LinkMegabits,
}

impl Setting {
    const ALL: [Setting; 5] = [
        Setting::MaximumConcurrency,
        Setting::MemoryMb,
        Setting::BatchingWindowSeconds,
        Setting::BatchSize,
        Setting::LinkMegabits,
    ];

    fn get(self, p: &Pipeline) -> Option<f64> {
        Some(match self {
            Setting::MaximumConcurrency => f64::from(p.mapping.maximum_concurrency),
            Setting::MemoryMb => f64::from(p.function.memory_mb),
            Setting::BatchingWindowSeconds => p.mapping.window.as_secs_f64(),
            Setting::BatchSize => f64::from(p.mapping.batch_size),
            Setting::LinkMegabits => p.endpoint.bytes_per_second? * 8.0 / 1e6,
        })
    }

    /// The next value to try, further by `step`, or `None` at Lambda's limit.
    fn next(self, p: &Pipeline, step: f64) -> Option<Pipeline> {
        let value = self.get(p)?;
        let mut next = p.clone();
        match self {
            Setting::MaximumConcurrency => {
                let to = ((value * step) as u32).min(*MAXIMUM_CONCURRENCY_RANGE.end());
                (to > p.mapping.maximum_concurrency).then_some(())?;
                next.mapping.maximum_concurrency = to;
            }
            Setting::MemoryMb => {
                let to = ((value * step) as u32).min(10_240);
                (to > p.function.memory_mb).then_some(())?;
                next.function.memory_mb = to;
            }
            Setting::BatchingWindowSeconds => {
                let to = (value / step).floor().max(1.0);
                (to < value).then_some(())?;
                next.mapping.window = Duration::from_secs_f64(to);
            }
            Setting::BatchSize => {
                let to = ((value * step) as u32).min(MAX_BATCH_SIZE);
                (to > p.mapping.batch_size).then_some(())?;
                next.mapping.batch_size = to;
            }
            Setting::LinkMegabits => {
                next.endpoint.bytes_per_second = Some(value * step * 1e6 / 8.0);
            }
        }
        Some(next)
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::MaximumConcurrency => "maximum concurrency",
            Setting::MemoryMb => "memory (MB)",
            Setting::BatchingWindowSeconds => "batching window (s)",
            Setting::BatchSize => "batch size",
            Setting::LinkMegabits => "link to the endpoint (Mbit/s)",
        })
    }
}

/// One setting changed, from what to what.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    pub setting: Setting,
    pub from: f64,
    pub to: f64,
}

/// The settings that would meet the objective (the one that helped most first), and what the model predicts
/// with them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    pub changes: Vec<Change>,
    pub met: bool,
    pub outcome: Outcome,
}

/// Changes one setting at a time, each time the one that brings the predicted percentiles closest to the
/// objective (doubling or halving it, quadrupling when far off), until the objective is met or nothing helps.
pub fn advise(
    pipeline: &Pipeline,
    scenario: &Scenario,
    objective: &Objective,
    seed: u64,
) -> Result<Advice, MappingError> {
    let mut current = pipeline.clone();
    let mut outcome = simulate_against(&current, scenario, seed, objective)?;
    // The settings in the order they were changed: the first is the one that helped most.
    let mut order: Vec<Setting> = Vec::new();
    for _ in 0..16 {
        let shortfall = outcome.shortfall(objective);
        if outcome.meets(objective) {
            break;
        }
        // Nearby first; when no setting helps a little, further (a saturated link or a queue that never
        // drains looks the same at twice the setting as at once).
        let first = if shortfall > 3.0 { 4.0 } else { 2.0 };
        let mut improved = false;
        for step in [first, 16.0, 256.0] {
            let mut best: Option<(f64, Setting, Pipeline, Outcome)> = None;
            for setting in Setting::ALL {
                let Some(candidate) = setting.next(&current, step) else {
                    continue;
                };
                let tried = simulate_against(&candidate, scenario, seed, objective)?;
                let score = tried.shortfall(objective);
                if best.as_ref().is_none_or(|b| score < b.0) {
                    best = Some((score, setting, candidate, tried));
                }
            }
            if let Some((score, setting, candidate, tried)) = best
                && score < shortfall
            {
                current = candidate;
                outcome = tried;
                if !order.contains(&setting) {
                    order.push(setting);
                }
                improved = true;
                break;
            }
        }
        if !improved {
            break;
        }
    }
    let changes = order
        .iter()
        .filter_map(|&setting| {
            let (from, to) = (setting.get(pipeline)?, setting.get(&current)?);
            (from != to).then_some(Change { setting, from, to })
        })
        .collect();
    Ok(Advice {
        changes,
        met: outcome.meets(objective),
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::test_pipeline;

    #[test]
    fn the_highest_sustained_rate_is_what_the_link_carries() {
        let mut p = test_pipeline();
        p.mapping.maximum_concurrency = 20;
        p.endpoint.bytes_per_second = Some(2e6);
        let sizes = Sizes::Fixed(100_000);
        let objective = Objective::default();
        let rate = highest_sustained_rate(&p, sizes, &objective, 1).expect("valid");
        // A 2 MB/s link carries about 130 files/s of 100 KB at a ratio of 6.5.
        assert!((100.0..140.0).contains(&rate), "{rate}");
    }

    #[test]
    fn advice_names_the_setting_that_meets_the_objective() {
        let mut p = test_pipeline();
        p.mapping.maximum_concurrency = 2;
        let scenario = Scenario::steady(
            300.0,
            Duration::from_secs(600),
            Sizes::Fixed(100_000),
            Spacing::Poisson,
        );
        let objective = Objective::default();
        assert!(
            !crate::simulate(&p, &scenario, 1)
                .expect("valid")
                .meets(&objective)
        );
        let advice = advise(&p, &scenario, &objective, 1).expect("valid");
        assert!(advice.met, "{:?}", advice.changes);
        assert!(
            advice
                .changes
                .iter()
                .any(|c| c.setting == Setting::MaximumConcurrency && c.to > 2.0),
            "{:?}",
            advice.changes
        );
    }
}
