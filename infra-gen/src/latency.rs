//! The latency objective, checked by the latency model: an environment's declared traffic is played through its
//! mapping, function, queue and link (with AWS's service times, `latency_model::service::ServiceTimes::aws`),
//! and an environment the model says would miss the objective is refused with the predicted percentile and the
//! setting to change. `cargo xtask model <env>` shows the full figures, from the same [`pipeline`].

use std::time::Duration;

use aggregator_config as vars;
use latency_model::search::{Advice, Setting, advise};
use latency_model::service::{
    Endpoint, Function, MappingSettings, Objective, Pipeline, QueueSettings, ServiceTimes,
};
use latency_model::traffic::{Burst, Lengths, Sizes, Spacing, Traffic};
use latency_model::{Outcome, Scenario, simulate_against};
use redelivery::{Schedule, ScheduleError};

use crate::config::{Environment, Violation, Violations};
use crate::variables::tuned;

/// The seed validation plays the traffic with: fixed, so `cargo xtask generate` is deterministic.
pub const SEED: u64 = 17;
/// The environment as the latency model sees it, with AWS's service times; an invalid redelivery schedule is
/// the one thing that stops it.
pub fn pipeline(env: &Environment) -> Result<Pipeline, ScheduleError> {
    let schedule = Schedule::new(env.redelivery.base_seconds, env.redelivery.max_seconds)?;
    Ok(Pipeline {
        mapping: MappingSettings {
            batch_size: env.mapping.batch_size,
            window: Duration::from_secs(u64::from(env.mapping.batching_window_seconds)),
            maximum_concurrency: env.mapping.maximum_concurrency,
        },
        function: Function {
            memory_mb: env.function.memory_mb,
            timeout: Duration::from_secs(u64::from(env.function.timeout_seconds)),
            download_concurrency: tuned(env, &vars::DOWNLOAD_CONCURRENCY),
            // The cap bounds the compressed bundle; counting it against input bytes, as the model does, errs
            // on the side of more, smaller bundles.
            bundle_max_bytes: crate::sizing::derive(env).bundle_max_bytes,
            breaker_failure_threshold: tuned(env, &vars::BREAKER_FAILURE_THRESHOLD),
        },
        queue: QueueSettings {
            visibility_timeout: Duration::from_secs(u64::from(
                env.queue.visibility_timeout_seconds,
            )),
            max_receive_count: env.queue.max_receive_count,
            redelivery: schedule,
        },
        endpoint: Endpoint {
            bytes_per_second: Some(f64::from(env.traffic.endpoint_megabits_per_second) * 1e6 / 8.0),
            outage: None,
        },
        service: ServiceTimes::aws(),
    })
}

/// The traffic the environment declares.
pub fn traffic(env: &Environment) -> Traffic {
    let t = &env.traffic;
    Traffic {
        average: f64::from(t.average_files_per_second),
        burst: (t.burst_files_per_second > 0 && t.burst_seconds > 0).then(|| Burst {
            rate: f64::from(t.burst_files_per_second),
            duration: Duration::from_secs(u64::from(t.burst_seconds)),
        }),
        sizes: Sizes::Fixed(u64::from(t.file_bytes)),
        spacing: Spacing::Poisson,
    }
}

/// The objective the environment states: 95% within 2 minutes, 99.9% within its `latency_objective_seconds`.
pub fn objective(env: &Environment) -> Objective {
    Objective::new(f64::from(env.latency_objective_seconds))
}

/// The environment field a model setting is.
pub fn field(setting: Setting) -> &'static str {
    match setting {
        Setting::MaximumConcurrency => "mapping.maximum_concurrency",
        Setting::MemoryMb => "function.memory_mb",
        Setting::BatchingWindowSeconds => "mapping.batching_window_seconds",
        Setting::BatchSize => "mapping.batch_size",
        Setting::LinkMegabits => "traffic.endpoint_megabits_per_second",
    }
}

/// What validation says when the model predicts a miss.
pub fn explain(env: &Environment, outcome: &Outcome, advice: &Advice) -> String {
    let objective = objective(env);
    let missed: Vec<String> = outcome
        .verdicts(&objective)
        .iter()
        .filter(|v| !v.met)
        .map(|v| {
            format!(
                "{} of the {} files within {} s (predicted {})",
                percent(v.share),
                v.set,
                v.limit,
                v.predicted
                    .map_or_else(|| "never".to_string(), |p| format!("{p:.0} s"))
            )
        })
        .collect();
    let t = &env.traffic;
    let mut text = format!(
        "the latency model predicts the declared traffic ({} files/s, bursts of {} files/s for {} s, {} KB files, a {} Mbit/s link) misses the objective: {}",
        t.average_files_per_second,
        t.burst_files_per_second,
        t.burst_seconds,
        t.file_bytes / 1000,
        t.endpoint_megabits_per_second,
        if missed.is_empty() {
            "files are lost".to_string()
        } else {
            missed.join("; ")
        }
    );
    if advice.met && !advice.changes.is_empty() {
        let changes: Vec<String> = advice
            .changes
            .iter()
            .map(|c| format!("{} from {} to {}", field(c.setting), c.from, c.to))
            .collect();
        let then: Vec<String> = objective
            .targets
            .iter()
            .map(|&(share, _)| {
                let worst = advice
                    .outcome
                    .verdicts(&objective)
                    .iter()
                    .filter(|v| v.share == share)
                    .map(|v| v.predicted.unwrap_or(f64::INFINITY))
                    .fold(0.0, f64::max);
                format!("{} within {worst:.0} s", percent(share))
            })
            .collect();
        text.push_str(&format!(
            "; change {} (predicted then: {})",
            changes.join(" and "),
            then.join(", ")
        ));
        if advice.changes.iter().any(|c| {
            c.setting == Setting::MaximumConcurrency
                && c.to > f64::from(env.function.reserved_concurrency)
        }) {
            text.push_str(", with function.reserved_concurrency at least as high");
        }
    } else {
        text.push_str("; no single setting of the mapping, function or link meets it: lower the declared traffic or split the load");
    }
    text.push_str(&format!(
        "; `cargo xtask model {}` shows the full figures",
        env.name
    ));
    text
}

fn percent(share: f64) -> String {
    format!("{}%", (share * 1000.0).round() / 10.0)
}

/// Refuses an environment whose declared traffic the model says would miss the objective.
pub(crate) fn check(env: &Environment, v: &mut Violations) {
    // An invalid schedule is reported by the queue's checks.
    let Ok(pipeline) = pipeline(env) else {
        return;
    };
    let scenario = Scenario::of(&traffic(env), Lengths::VALIDATION);
    let objective = objective(env);
    // Mapping settings Lambda refuses are reported by the mapping's own checks.
    let Ok(outcome) = simulate_against(&pipeline, &scenario, SEED, &objective) else {
        return;
    };
    if outcome.meets(&objective) {
        return;
    }
    let Ok(advice) = advise(&pipeline, &scenario, &objective, SEED) else {
        return;
    };
    let field = match advice.changes.first() {
        Some(change) if advice.met => field(change.setting),
        _ => "traffic",
    };
    v.list.push(Violation {
        field: field.to_string(),
        message: explain(env, &outcome, &advice),
    });
}
