//! A circuit breaker shared by every concurrent instance through one DynamoDB item, so that an unavailable
//! endpoint is not hammered and its recovery is noticed by exactly one probe.
//!
//! States (item `id` = the endpoint):
//! - **CLOSED** (or no item): deliveries go ahead. Each instance counts consecutive unavailability failures
//!   in memory; at the threshold it writes OPEN (conditional on the item still being CLOSED).
//! - **OPEN** until `open_until`: deliveries fail fast without contacting the endpoint. The cool-down doubles
//!   at each failed probe, capped.
//! - **HALF_OPEN**: after the cool-down, the first instance to write HALF_OPEN with itself as `probe_owner`
//!   (conditional on OPEN and the cool-down being over, or on a probe whose lease ran out) delivers as the
//!   probe; every other instance still fails fast. The probe's success writes CLOSED, its failure OPEN.
//!
//! Every transition is a conditional write, so two instances cannot both make it. Reads are cached for a few
//! seconds. If the table cannot be reached, deliveries go ahead (fail open): the endpoint's own errors then
//! still stop at the queue's redelivery schedule, and the error is logged and counted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::config::BreakerConfig;

/// The breaker's state as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Closed,
    Open {
        until_ms: i64,
        cooldown_ms: i64,
    },
    HalfOpen {
        probe_until_ms: i64,
        cooldown_ms: i64,
    },
}

/// What the breaker says about delivering now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Deliver.
    Go,
    /// Deliver as the one probe; report the outcome with `probe_succeeded`/`probe_failed`.
    Probe,
    /// Do not contact the endpoint; try again after `retry_after`.
    Refused { retry_after: Duration },
}

/// A transition this instance made, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    ProbeStarted,
    Closed,
    Reopened,
}

/// The shared breaker, as one instance sees it.
pub struct Breaker {
    client: Client,
    table: String,
    id: String,
    config: BreakerConfig,
    /// Who this instance is when it probes.
    instance: String,
    consecutive_failures: AtomicU32,
    cache: Mutex<Option<(Instant, State)>>,
    /// Table errors since the last time they were taken, for the metrics.
    errors: AtomicU32,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

impl Breaker {
    /// The breaker for endpoint `id` (e.g. the NiFi URL) in `table`.
    pub fn new(
        client: Client,
        table: String,
        id: String,
        config: BreakerConfig,
        instance: String,
    ) -> Breaker {
        Breaker {
            client,
            table,
            id,
            config,
            instance,
            consecutive_failures: AtomicU32::new(0),
            cache: Mutex::new(None),
            errors: AtomicU32::new(0),
        }
    }

    /// Table errors since the last call (the breaker failed open that many times).
    pub fn take_errors(&self) -> u32 {
        self.errors.swap(0, Ordering::Relaxed)
    }

    /// May this instance deliver now?
    pub async fn admit(&self) -> (Admission, Option<Transition>) {
        let state = match self.state().await {
            Ok(state) => state,
            Err(e) => {
                self.table_error("read", &e);
                return (Admission::Go, None);
            }
        };
        let now = now_ms();
        match state {
            State::Closed => (Admission::Go, None),
            State::Open { until_ms, .. } if now < until_ms => (
                Admission::Refused {
                    retry_after: Duration::from_millis((until_ms - now) as u64),
                },
                None,
            ),
            State::HalfOpen { probe_until_ms, .. } if now < probe_until_ms => (
                Admission::Refused {
                    retry_after: Duration::from_millis((probe_until_ms - now) as u64),
                },
                None,
            ),
            State::Open { cooldown_ms, .. } | State::HalfOpen { cooldown_ms, .. } => {
                self.try_probe(now, cooldown_ms).await
            }
        }
    }

    async fn try_probe(&self, now: i64, cooldown_ms: i64) -> (Admission, Option<Transition>) {
        // The probe's lease: long enough for one delivery attempt, after which another instance may probe.
        let probe_until = now + ms(self.config.cooldown.max(Duration::from_secs(60)));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(&self.id))
            .update_expression("SET #state = :half, probe_owner = :me, probe_until_ms = :probe_until")
            .condition_expression(
                "(#state = :open AND open_until_ms <= :now) OR (#state = :half AND probe_until_ms <= :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":half", s("HALF_OPEN"))
            .expression_attribute_values(":open", s("OPEN"))
            .expression_attribute_values(":me", s(&self.instance))
            .expression_attribute_values(":probe_until", n(probe_until))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        self.forget();
        match result {
            Ok(_) => (Admission::Probe, Some(Transition::ProbeStarted)),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => (
                Admission::Refused {
                    retry_after: Duration::from_millis(cooldown_ms.max(1000) as u64),
                },
                None,
            ),
            Err(e) => {
                self.table_error("probe", &DisplayErrorContext(e).to_string());
                (Admission::Go, None)
            }
        }
    }

    /// A delivery (not a probe) succeeded.
    pub fn succeeded(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// A delivery (not a probe) failed with an unavailability failure; may open the breaker.
    pub async fn failed(&self) -> Option<Transition> {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < self.config.failure_threshold {
            return None;
        }
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let result = self
            .write_open(ms(self.config.cooldown))
            .condition_expression("attribute_not_exists(id) OR #state = :closed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":closed", s("CLOSED"))
            .send()
            .await;
        self.forget();
        self.transition_result(result.map(|_| ()), Transition::Opened, "open")
    }

    /// The write that opens the breaker for `cooldown` ms; the caller adds the condition it may do so under.
    fn write_open(
        &self,
        cooldown: i64,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("id", s(&self.id))
            .item("state", s("OPEN"))
            .item("open_until_ms", n(now_ms() + cooldown))
            .item("cooldown_ms", n(cooldown))
            .item("opened_by", s(&self.instance))
    }

    /// The probe delivered: close the breaker.
    pub async fn probe_succeeded(&self) -> Option<Transition> {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", s(&self.id))
            .item("state", s("CLOSED"))
            .condition_expression("#state = :half AND probe_owner = :me")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":half", s("HALF_OPEN"))
            .expression_attribute_values(":me", s(&self.instance))
            .send()
            .await;
        self.forget();
        self.transition_result(result.map(|_| ()), Transition::Closed, "close")
    }

    /// The probe failed: reopen with a longer cool-down.
    pub async fn probe_failed(&self) -> Option<Transition> {
        let previous = match self.state().await {
            Ok(State::HalfOpen { cooldown_ms, .. }) => cooldown_ms,
            _ => ms(self.config.cooldown),
        };
        let cooldown = (previous.saturating_mul(2)).min(ms(self.config.cooldown_max));
        let result = self
            .write_open(cooldown)
            .condition_expression("#state = :half AND probe_owner = :me")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":half", s("HALF_OPEN"))
            .expression_attribute_values(":me", s(&self.instance))
            .send()
            .await;
        self.forget();
        self.transition_result(result.map(|_| ()), Transition::Reopened, "reopen")
    }

    fn transition_result<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        result: Result<(), E>,
        transition: Transition,
        what: &str,
    ) -> Option<Transition> {
        match result {
            Ok(()) => Some(transition),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => None,
            Err(e) => {
                self.table_error(what, &e.to_string());
                None
            }
        }
    }

    /// The stored state, from the cache while it is fresh.
    pub async fn state(&self) -> Result<State, String> {
        if let Ok(cache) = self.cache.lock()
            && let Some((read, state)) = cache.as_ref()
            && read.elapsed() < self.config.cache
        {
            return Ok(state.clone());
        }
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(&self.id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?
            .item
            .unwrap_or_default();
        let state = parse_state(&item, ms(self.config.cooldown));
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((Instant::now(), state.clone()));
        }
        Ok(state)
    }

    fn forget(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            *cache = None;
        }
    }

    fn table_error(&self, what: &str, detail: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(table = %self.table, operation = what, error = %detail,
            "circuit breaker table unavailable; delivering anyway (fail open)");
    }
}

fn parse_state(item: &HashMap<String, AttributeValue>, default_cooldown: i64) -> State {
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let cooldown_ms = number("cooldown_ms").unwrap_or(default_cooldown);
    match item
        .get("state")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
    {
        Some("OPEN") => State::Open {
            until_ms: number("open_until_ms").unwrap_or(0),
            cooldown_ms,
        },
        Some("HALF_OPEN") => State::HalfOpen {
            probe_until_ms: number("probe_until_ms").unwrap_or(0),
            cooldown_ms,
        },
        _ => State::Closed,
    }
}
