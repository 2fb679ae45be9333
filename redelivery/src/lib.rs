//! The redelivery schedule: how long a message stays invisible after its files could not be delivered,
//! and how many receives an outage of the endpoint can cost one message.
//!
//! Why it exists: SQS counts every receive toward `maxReceiveCount`, also the receives of an invocation that
//! fails fast because the circuit breaker is open. If failed messages came back after a fixed short delay, a
//! four-day outage would push every message into the dead-letter queue. So the aggregator, for every message
//! it returns to the queue because of the endpoint, sets the message's visibility to `hold_for(receive count)`
//! with ChangeMessageVisibility: doubling from `base` up to `max`. Short blips cost seconds of latency; a long
//! outage costs about one receive per `max`, and messages resume within `max` of the endpoint's recovery.
//!
//! Why this rather than pausing the event source mapping from a controller that watches the endpoint's health
//! check: the controller would be one more component that must itself be deployed, alarmed and trusted (a mapping
//! left disabled stops delivery silently), and the messages already in flight when the outage starts would still
//! need a hold. Holding per receive needs nothing but the queue, and recovery is automatic: the first message that
//! comes back after the endpoint recovers is delivered, and the breaker's probe closes the circuit for the rest.
//!
//! The aggregator reads `base` and `max` from its environment; the infrastructure model sets them and checks,
//! with [`Schedule::receives_within`], that `maxReceiveCount` exceeds the receives the promised outage costs.
//! Both use this one crate, so the invariant cannot drift between code and infrastructure.

use std::time::Duration;

/// SQS's ceiling on a message's visibility timeout (12 hours).
pub const SQS_MAX_VISIBILITY_SECONDS: u32 = 43_200;

/// A validated redelivery schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    base_seconds: u32,
    max_seconds: u32,
}

/// Why a schedule is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("the redelivery base ({0} s) must be at least 1 second")]
    ZeroBase(u32),
    #[error("the redelivery maximum ({max} s) must be at least its base ({base} s)")]
    MaxBelowBase { base: u32, max: u32 },
    #[error(
        "the redelivery maximum ({0} s) exceeds SQS's visibility limit of {SQS_MAX_VISIBILITY_SECONDS} s: lower it"
    )]
    AboveSqsLimit(u32),
}

impl Schedule {
    /// A schedule that doubles from `base_seconds` up to `max_seconds`.
    pub fn new(base_seconds: u32, max_seconds: u32) -> Result<Schedule, ScheduleError> {
        if base_seconds == 0 {
            return Err(ScheduleError::ZeroBase(base_seconds));
        }
        if max_seconds < base_seconds {
            return Err(ScheduleError::MaxBelowBase {
                base: base_seconds,
                max: max_seconds,
            });
        }
        if max_seconds > SQS_MAX_VISIBILITY_SECONDS {
            return Err(ScheduleError::AboveSqsLimit(max_seconds));
        }
        Ok(Schedule {
            base_seconds,
            max_seconds,
        })
    }

    pub fn base_seconds(&self) -> u32 {
        self.base_seconds
    }

    pub fn max_seconds(&self) -> u32 {
        self.max_seconds
    }

    /// How long to hide a message that has been received `receive_count` times (1 for the first receive).
    pub fn hold_for(&self, receive_count: u32) -> Duration {
        let doublings = receive_count.saturating_sub(1).min(31);
        let seconds = u64::from(self.base_seconds)
            .saturating_mul(1u64 << doublings)
            .min(u64::from(self.max_seconds));
        Duration::from_secs(seconds)
    }

    /// An upper bound on how many times one message is received while the endpoint is down for `outage`,
    /// counting the first receive and the one after recovery, if every receive holds it per this schedule.
    pub fn receives_within(&self, outage: Duration) -> u32 {
        let mut elapsed = Duration::ZERO;
        let mut receives: u32 = 1;
        while elapsed <= outage {
            elapsed += self.hold_for(receives);
            receives = receives.saturating_add(1);
        }
        receives
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_double_then_cap() {
        let s = Schedule::new(20, 900).expect("valid");
        let holds: Vec<u64> = (1..=8).map(|n| s.hold_for(n).as_secs()).collect();
        assert_eq!(holds, vec![20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(s.hold_for(0).as_secs(), 20);
        assert_eq!(s.hold_for(u32::MAX).as_secs(), 900);
    }

    #[test]
    fn four_day_outage_costs_about_one_receive_per_max() {
        let s = Schedule::new(20, 900).expect("valid");
        let receives = s.receives_within(Duration::from_secs(4 * 86_400));
        // Receives at 0, 20, 60, 140, 300, 620, 1,260 s, then every 900 s: 389 by 345,600 s, and one after.
        assert_eq!(receives, 390);
    }

    #[test]
    fn short_outage_costs_few_receives() {
        let s = Schedule::new(20, 900).expect("valid");
        assert_eq!(s.receives_within(Duration::from_secs(0)), 2);
        assert_eq!(s.receives_within(Duration::from_secs(19)), 2);
        assert_eq!(s.receives_within(Duration::from_secs(20)), 3);
    }

    #[test]
    fn rejects_invalid_schedules() {
        assert_eq!(Schedule::new(0, 10), Err(ScheduleError::ZeroBase(0)));
        assert_eq!(
            Schedule::new(30, 10),
            Err(ScheduleError::MaxBelowBase { base: 30, max: 10 })
        );
        assert_eq!(
            Schedule::new(30, 50_000),
            Err(ScheduleError::AboveSqsLimit(50_000))
        );
    }
}
