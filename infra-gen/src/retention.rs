//! How long a landed file stays readable against how long its message may wait for it.
//!
//! The aggregator reads a file by its version when its message comes, which can be long after it landed: during
//! an outage of the endpoint a message waits out the outage in the source queue. So both the current version and
//! a replaced (noncurrent) version of a landing object must outlive that wait, or a key overwritten during an
//! outage loses its first version before it was delivered. And a dead-lettered file can be redriven only while
//! its object exists: the redrive window is what the landing lifecycle leaves after the longest wait before a
//! message is dead-lettered; the runbook and the dead-letter alarm state it.

use std::time::Duration;

use redelivery::Schedule;

use crate::config::{Environment, Violations};

const DAY: Duration = Duration::from_secs(86_400);
/// Kept on top of the outage and the last hold: failures besides the endpoint's (crashes, throttling) and
/// the delivery of the backlog after recovery.
pub const LANDING_MARGIN: Duration = DAY;
/// The least time an operator has, after a message is dead-lettered, to redrive it while its file exists.
pub const MIN_REDRIVE_WINDOW: Duration = DAY;

/// The landing lifecycle against the queue's waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long a landed version is kept at least (the shorter of the current and noncurrent expiries; a
    /// version becomes noncurrent only after it landed).
    pub landing_lifetime: Duration,
    /// The longest a message may wait in the source queue before it is delivered: the outage to survive, the
    /// last hold after recovery, and [`LANDING_MARGIN`].
    pub longest_wait: Duration,
    /// An upper bound on how long after landing a message is dead-lettered: `maxReceiveCount` receives, each
    /// followed by the longer of its hold and the queue's visibility timeout (a crashed invocation). It assumes
    /// the mapping keeps polling; a message waiting behind a backlog waits that long on top.
    pub longest_wait_before_dead_letter: Duration,
    /// How long a dead-lettered file can still be redriven, at least: landing lifetime minus the above.
    pub redrive_window: Duration,
}

/// Computes the waits and checks the landing lifecycle against them; violations go into `v`.
pub(crate) fn check(env: &Environment, schedule: Schedule, v: &mut Violations) -> Retention {
    let s = &env.storage;
    let longest_wait = env.redelivery.outage_to_survive
        + Duration::from_secs(u64::from(schedule.max_seconds()))
        + LANDING_MARGIN;
    let needed_days = longest_wait.as_secs().div_ceil(DAY.as_secs());
    for (field, days, what) in [
        (
            "storage.landing_expiry_days",
            s.landing_expiry_days,
            "current objects expire",
        ),
        (
            "storage.landing_noncurrent_expiry_days",
            s.landing_noncurrent_expiry_days,
            "replaced versions expire",
        ),
    ] {
        if u64::from(days) < needed_days {
            v.push(
                field,
                format!(
                    "{what} after {days} days, but a message may wait {} for its file (the outage to survive, {} s for the last hold, and a day's margin), so its file could be gone when it is delivered: raise it to at least {needed_days} days",
                    human_up(longest_wait),
                    schedule.max_seconds()
                ),
            );
        }
    }
    let visibility = Duration::from_secs(u64::from(env.queue.visibility_timeout_seconds));
    let longest_wait_before_dead_letter = (1..=env.queue.max_receive_count)
        .map(|receive| schedule.hold_for(receive).max(visibility))
        .sum::<Duration>();
    let landing_lifetime = DAY * s.landing_expiry_days.min(s.landing_noncurrent_expiry_days);
    let redrive_window = landing_lifetime.saturating_sub(longest_wait_before_dead_letter);
    if redrive_window < MIN_REDRIVE_WINDOW {
        v.push(
            "storage.landing_expiry_days",
            format!(
                "landed files are kept {}, but a message can take up to {} to be dead-lettered ({} receives, each followed by its hold or the {} s visibility timeout), which leaves {} to redrive it while its file exists, less than the {} an operator needs: keep landed files longer or lower queue.max_receive_count",
                human(landing_lifetime),
                human_up(longest_wait_before_dead_letter),
                env.queue.max_receive_count,
                env.queue.visibility_timeout_seconds,
                human(redrive_window),
                human(MIN_REDRIVE_WINDOW)
            ),
        );
    }
    Retention {
        landing_lifetime,
        longest_wait,
        longest_wait_before_dead_letter,
        redrive_window,
    }
}

/// A bound in days and hours, rounded up ("5 days 5 h"): what "at most" may say of an upper bound.
pub fn human_up(d: Duration) -> String {
    human(Duration::from_secs(d.as_secs().div_ceil(3_600) * 3_600))
}

/// A duration in days and hours, rounded down ("1 day 19 h"), the way the runbook and alarms state a time
/// someone has.
pub fn human(d: Duration) -> String {
    let hours = d.as_secs() / 3_600;
    let (days, hours) = (hours / 24, hours % 24);
    match (days, hours) {
        (0, h) => format!("{h} h"),
        (1, 0) => "1 day".into(),
        (d, 0) => format!("{d} days"),
        (1, h) => format!("1 day {h} h"),
        (d, h) => format!("{d} days {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_days_and_hours_rounded_down() {
        let h = |hours: u64| Duration::from_secs(hours * 3_600);
        assert_eq!(human(h(5) + Duration::from_secs(3_599)), "5 h");
        assert_eq!(human(h(24)), "1 day");
        assert_eq!(human(h(43)), "1 day 19 h");
        assert_eq!(human(h(48)), "2 days");
        assert_eq!(human(h(124)), "5 days 4 h");
        assert_eq!(human_up(h(124) + Duration::from_secs(1)), "5 days 5 h");
        assert_eq!(human_up(h(124)), "5 days 4 h");
    }
}
