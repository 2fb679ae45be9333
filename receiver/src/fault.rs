//! Faults the receiver can be told to simulate, so senders can be tested against an unhealthy NiFi.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long a `timeout` fault stalls when the control request does not say.
pub const DEFAULT_TIMEOUT_DELAY: Duration = Duration::from_millis(30_000);

/// What the content path (and the healthcheck) does instead of its normal job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Behave normally.
    #[default]
    None,
    /// Answer 503 without storing, as ListenHTTP does when its output is backpressured.
    Unavailable,
    /// Stall for `delay`, then answer 503 without storing, so a client with a shorter timeout times out.
    Timeout { delay: Duration },
    /// Close the connection without any HTTP response.
    Drop,
}

impl Fault {
    /// The `mode` string of the control API.
    pub fn mode(&self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Unavailable => "503",
            Fault::Timeout { .. } => "timeout",
            Fault::Drop => "drop",
        }
    }
}

/// The body of `POST /_control/fault`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    pub mode: String,
    /// How long the fault lasts; absent means until changed.
    #[serde(default)]
    pub seconds: Option<f64>,
    /// For `timeout`: how long to stall before answering.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

/// What `GET`/`POST /_control/fault` answer: the fault now in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultStatus {
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delay_ms: Option<u64>,
    /// Seconds until the fault ends by itself; absent when it lasts until changed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remaining_seconds: Option<f64>,
}

impl FaultRequest {
    /// Turns the request into a fault and its duration, or says what is wrong with it.
    pub fn parse(&self) -> Result<(Fault, Option<Duration>), String> {
        let fault = match self.mode.as_str() {
            "none" => Fault::None,
            "503" => Fault::Unavailable,
            "timeout" => Fault::Timeout {
                delay: self
                    .delay_ms
                    .map(Duration::from_millis)
                    .unwrap_or(DEFAULT_TIMEOUT_DELAY),
            },
            "drop" => Fault::Drop,
            other => {
                return Err(format!(
                    "unknown fault mode `{other}`: expected one of none, 503, timeout, drop"
                ));
            }
        };
        let lasts = match self.seconds {
            None => None,
            Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => return Err(format!("`seconds` must be a non-negative number, got {s}")),
        };
        Ok((fault, lasts))
    }
}

#[derive(Debug, Default)]
struct Active {
    fault: Fault,
    until: Option<Instant>,
}

/// The fault in force, shared by the server and the in-process handle.
#[derive(Debug, Default)]
pub(crate) struct FaultSwitch {
    active: Mutex<Active>,
}

impl FaultSwitch {
    pub(crate) fn set(&self, fault: Fault, lasts: Option<Duration>) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.fault = fault;
        active.until = lasts.map(|d| Instant::now() + d);
    }

    /// The fault in force now; an expired fault reads as `None` so it ends without anyone calling back.
    pub(crate) fn current(&self) -> Fault {
        self.status_parts().0
    }

    pub(crate) fn status(&self) -> FaultStatus {
        let (fault, remaining) = self.status_parts();
        FaultStatus {
            mode: fault.mode().to_owned(),
            delay_ms: match fault {
                Fault::Timeout { delay } => {
                    Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
                }
                _ => None,
            },
            remaining_seconds: remaining.map(|d| d.as_secs_f64()),
        }
    }

    fn status_parts(&self) -> (Fault, Option<Duration>) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        match active.until {
            Some(until) => {
                let now = Instant::now();
                if now >= until {
                    *active = Active::default();
                    (Fault::None, None)
                } else {
                    (active.fault, Some(until - now))
                }
            }
            None => (active.fault, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_and_defaults() {
        let req = FaultRequest {
            mode: "timeout".into(),
            seconds: None,
            delay_ms: None,
        };
        assert_eq!(
            req.parse(),
            Ok((
                Fault::Timeout {
                    delay: DEFAULT_TIMEOUT_DELAY
                },
                None
            ))
        );
        let req = FaultRequest {
            mode: "503".into(),
            seconds: Some(1.5),
            delay_ms: None,
        };
        assert_eq!(
            req.parse(),
            Ok((Fault::Unavailable, Some(Duration::from_millis(1500))))
        );
        let req = FaultRequest {
            mode: "slow".into(),
            seconds: None,
            delay_ms: None,
        };
        assert!(req.parse().is_err());
        let req = FaultRequest {
            mode: "drop".into(),
            seconds: Some(-1.0),
            delay_ms: None,
        };
        assert!(req.parse().is_err());
    }

    #[test]
    fn a_fault_with_a_duration_expires() {
        let switch = FaultSwitch::default();
        switch.set(Fault::Drop, Some(Duration::ZERO));
        assert_eq!(switch.current(), Fault::None);
        switch.set(Fault::Drop, None);
        assert_eq!(switch.current(), Fault::Drop);
    }
}
