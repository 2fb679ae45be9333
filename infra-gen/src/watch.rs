//! How long each alarm a release depends on looks before it speaks: the latency objective's alarms, over
//! windows the declared traffic fills, and the function's alarms. A canary must bake long enough for every
//! alarm it watches to judge a whole period of its traffic; validation refuses one that would not.

use std::time::Duration;

use crate::config::{Environment, Release, Violations};
use crate::monitoring::Percentile;

/// The period of the function's error and throttle alarms.
pub const FUNCTION_ALARM_PERIOD_SECONDS: u32 = 300;
/// A percentile over fewer files is decided by one or two late files, which pages nobody usefully: a latency
/// window holds at least this many files beyond its percentile at the declared average rate.
pub const FILES_BEYOND_PERCENTILE: f64 = 5.0;
/// Latency windows are whole multiples of this: the aggregator reports once per invocation, and invocations
/// come every batching window (up to a minute), so shorter windows would hold one report or none.
pub const LATENCY_WINDOW_STEP_SECONDS: u32 = 300;
/// The longest latency window: an alarm that looks further back is a report, not an alarm.
pub const LATENCY_WINDOW_MAX_SECONDS: u32 = 3600;

/// One target of the latency objective as an alarm watches it: the percentile of `EndToEndLatency` over
/// `period_seconds` must stay at or below `limit_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyWatch {
    pub percentile: Percentile,
    pub limit_seconds: u32,
    pub period_seconds: u32,
}

impl LatencyWatch {
    /// The Terraform name of its alarm: `latency_p95`, `latency_p999`.
    pub fn alarm_name(&self) -> &'static str {
        match self.percentile.tenths {
            950 => "latency_p95",
            999 => "latency_p999",
            _ => "latency_objective",
        }
    }
}

/// The objective's targets (the latency model's: 95% within 2 minutes, 99.9% within
/// `latency_objective_seconds`), each with the shortest window that holds [`FILES_BEYOND_PERCENTILE`] files
/// beyond its percentile at the declared average rate, in steps of [`LATENCY_WINDOW_STEP_SECONDS`].
pub fn latency_watches(env: &Environment) -> Vec<LatencyWatch> {
    let rate = f64::from(env.traffic.average_files_per_second);
    crate::latency::objective(env)
        .targets
        .iter()
        .map(|&(share, limit)| {
            let files = FILES_BEYOND_PERCENTILE / (1.0 - share).max(f64::EPSILON);
            let seconds = if rate > 0.0 {
                files / rate
            } else {
                f64::INFINITY
            };
            let step = f64::from(LATENCY_WINDOW_STEP_SECONDS);
            let steps = (seconds / step).ceil().max(1.0);
            let period = (steps * step).min(f64::from(LATENCY_WINDOW_MAX_SECONDS)) as u32;
            LatencyWatch {
                percentile: Percentile::of_share(share),
                limit_seconds: limit.round() as u32,
                period_seconds: period,
            }
        })
        .collect()
}

/// The shortest bake that lets every alarm a canary watches judge a whole period with the canary in it: the
/// longest of their periods, plus one step for CloudWatch to receive the last reports and evaluate.
pub fn shortest_bake(env: &Environment) -> Duration {
    let longest = latency_watches(env)
        .iter()
        .map(|w| w.period_seconds)
        .chain([FUNCTION_ALARM_PERIOD_SECONDS])
        .max()
        .unwrap_or(FUNCTION_ALARM_PERIOD_SECONDS);
    Duration::from_secs(u64::from(longest + LATENCY_WINDOW_STEP_SECONDS))
}

/// Refuses a canary that is not one (no weight, or most of the traffic) or that ends before its alarms can
/// speak.
pub(crate) fn check_release(env: &Environment, v: &mut Violations) {
    let Release::Canary {
        weight_percent,
        bake,
    } = env.release
    else {
        return;
    };
    if !(1..=50).contains(&weight_percent) {
        v.push(
            "release",
            format!(
                "a canary weight of {weight_percent}% is not a canary: use 1..=50 percent (or Release::AllAtOnce)"
            ),
        );
    }
    let shortest = shortest_bake(env);
    if bake < shortest {
        v.push(
            "release",
            format!(
                "a canary baking {} s ends before its alarms can judge it: the longest watched alarm window is {} s (the latency windows follow the declared traffic) plus {LATENCY_WINDOW_STEP_SECONDS} s for CloudWatch to evaluate; bake at least {} s",
                bake.as_secs(),
                shortest.as_secs() - u64::from(LATENCY_WINDOW_STEP_SECONDS),
                shortest.as_secs()
            ),
        );
    }
}
