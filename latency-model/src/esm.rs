//! What Lambda's SQS event source mapping does with a queue: its limits, how it cuts a batch, and how many
//! batches it gathers and invokes at once. The local mapping (`local_mapping`) and the simulation (`sim`) both
//! follow these rules, so a local run batches as AWS does and the model predicts what the local run shows.
//!
//! Sources (read 2026-11-22):
//! - "Lambda parameters for Amazon SQS event source mappings",
//!   <https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html>: BatchSize at most 10,000 for
//!   standard queues; MaximumBatchingWindowInSeconds 0..=300.
//! - Lambda API reference, `CreateEventSourceMapping` (BatchSize, MaximumBatchingWindowInSeconds): "when you set
//!   BatchSize to a value greater than 10, you must set MaximumBatchingWindowInSeconds to at least 1"; "Lambda
//!   passes all of the records in the batch to the function in a single call, up to the payload limit for
//!   synchronous invocation (6 MB)".
//! - "Lambda event source mappings", <https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html>:
//!   a batch is invoked when the batching window ends, the batch size is met, or "the payload size reaches 6 MB".
//! - "Configuring scaling behavior for SQS event source mappings",
//!   <https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html>: "When messages are available,
//!   Lambda starts processing five batches at a time with five concurrent invocations of your function. If
//!   messages are still available, Lambda increases the number of processes that are reading batches by up to
//!   300 more instances per minute. [...] When traffic is low, Lambda scales back the processing to five
//!   concurrent batches"; maximum concurrency 2..=1000 bounds the concurrent invocations.
//! - SQS `ReceiveMessage`: at most 10 messages per call, long polls of at most 20 s.

use std::time::Duration;

/// The largest batch size for a standard queue.
pub const MAX_BATCH_SIZE: u32 = 10_000;
/// The largest batch size without a batching window.
pub const MAX_BATCH_SIZE_WITHOUT_WINDOW: u32 = 10;
/// The longest batching window.
pub const MAX_BATCHING_WINDOW_SECONDS: u32 = 300;
/// The invocation payload limit (synchronous invocation, 6 MB as Lambda counts it: 6 MiB).
pub const PAYLOAD_LIMIT_BYTES: usize = 6 * 1024 * 1024;
/// Concurrent batches when messages first become available, and the floor when traffic is low.
pub const INITIAL_CONCURRENCY: u32 = 5;
/// How many more concurrent batches a minute with messages still waiting may add.
pub const SCALE_UP_PER_MINUTE: u32 = 300;
/// How often the mapping reconsiders its concurrency.
pub const SCALE_INTERVAL: Duration = Duration::from_secs(60);
/// The range of the mapping's maximum concurrency.
pub const MAXIMUM_CONCURRENCY_RANGE: std::ops::RangeInclusive<u32> = 2..=1000;
/// SQS returns at most ten messages per receive.
pub const SQS_RECEIVE_MAX: usize = 10;
/// The longest long poll SQS allows.
pub const SQS_LONG_POLL_MAX: Duration = Duration::from_secs(20);
/// `{"Records":[]}`: the event around the records.
pub const EVENT_ENVELOPE_BYTES: usize = 14;

/// A mapping setting Lambda would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error(
        "batch size {0} is outside 1..={MAX_BATCH_SIZE}, Lambda's range for a standard SQS queue: use a value within it"
    )]
    BatchSize(u32),
    #[error(
        "batch size {0} needs a batching window of at least 1 s (Lambda allows at most {MAX_BATCH_SIZE_WITHOUT_WINDOW} without one): set a window or lower the batch size"
    )]
    BatchSizeWithoutWindow(u32),
    #[error(
        "batching window {0:?} exceeds Lambda's maximum of {MAX_BATCHING_WINDOW_SECONDS} s: lower it"
    )]
    Window(Duration),
    #[error(
        "maximum concurrency {0} is outside Lambda's range 2..=1000 for SQS: use a value within it"
    )]
    Concurrency(u32),
}

/// How a mapping batches, checked against Lambda's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRules {
    batch_size: usize,
    window: Duration,
}

impl BatchRules {
    pub fn new(batch_size: u32, window: Duration) -> Result<BatchRules, MappingError> {
        if !(1..=MAX_BATCH_SIZE).contains(&batch_size) {
            return Err(MappingError::BatchSize(batch_size));
        }
        if window > Duration::from_secs(u64::from(MAX_BATCHING_WINDOW_SECONDS)) {
            return Err(MappingError::Window(window));
        }
        if window.is_zero() && batch_size > MAX_BATCH_SIZE_WITHOUT_WINDOW {
            return Err(MappingError::BatchSizeWithoutWindow(batch_size));
        }
        Ok(BatchRules {
            batch_size: batch_size as usize,
            window,
        })
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub fn window(&self) -> Duration {
        self.window
    }
}

/// Whether a received message joins the batch being gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// In the batch; there is room for more.
    Taken,
    /// In the batch, which is now full: invoke.
    Full,
    /// It would take the payload over 6 MB: invoke without it; it starts the next batch.
    Cut,
}

/// A batch being gathered: how many records and how many bytes of invocation payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Batch {
    len: usize,
    payload_bytes: usize,
}

impl Batch {
    /// Offers a record of `record_bytes` (its JSON in the event) to the batch.
    pub fn offer(&mut self, rules: &BatchRules, record_bytes: usize) -> Offer {
        let separator = usize::from(self.len > 0);
        let payload = self.payload().saturating_add(record_bytes + separator);
        // A single record always fits: SQS messages are far below 6 MB.
        if self.len > 0 && payload > PAYLOAD_LIMIT_BYTES {
            return Offer::Cut;
        }
        self.len += 1;
        self.payload_bytes += record_bytes + separator;
        if self.len >= rules.batch_size {
            Offer::Full
        } else {
            Offer::Taken
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The invocation event's size in bytes, envelope included.
    pub fn payload(&self) -> usize {
        EVENT_ENVELOPE_BYTES + self.payload_bytes
    }
}

/// How many batches the mapping gathers and invokes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaler {
    maximum: u32,
    target: u32,
}

impl Scaler {
    pub fn new(maximum_concurrency: u32) -> Result<Scaler, MappingError> {
        if !MAXIMUM_CONCURRENCY_RANGE.contains(&maximum_concurrency) {
            return Err(MappingError::Concurrency(maximum_concurrency));
        }
        Ok(Scaler {
            maximum: maximum_concurrency,
            target: INITIAL_CONCURRENCY.min(maximum_concurrency),
        })
    }

    /// Concurrent batches now.
    pub fn target(&self) -> usize {
        self.target as usize
    }

    pub fn maximum(&self) -> usize {
        self.maximum as usize
    }

    /// Once a [`SCALE_INTERVAL`]: with messages still waiting, up to 300 more (at most the maximum); without,
    /// back toward five. How fast Lambda scales back is not documented: halving per interval is assumed.
    pub fn tick(&mut self, messages_waiting: bool) -> usize {
        let floor = INITIAL_CONCURRENCY.min(self.maximum);
        self.target = if messages_waiting {
            (self.target + SCALE_UP_PER_MINUTE).min(self.maximum)
        } else {
            (self.target / 2).max(floor)
        };
        self.target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(batch: u32, window: u64) -> BatchRules {
        BatchRules::new(batch, Duration::from_secs(window)).expect("valid rules")
    }

    #[test]
    fn lambda_s_limits_are_refused_with_the_setting_named() {
        assert_eq!(
            BatchRules::new(10_001, Duration::from_secs(60)),
            Err(MappingError::BatchSize(10_001))
        );
        assert_eq!(
            BatchRules::new(0, Duration::from_secs(60)),
            Err(MappingError::BatchSize(0))
        );
        let long = BatchRules::new(100, Duration::from_secs(301)).expect_err("too long");
        assert!(long.to_string().contains("maximum of 300 s"), "{long}");
        assert_eq!(
            BatchRules::new(11, Duration::ZERO),
            Err(MappingError::BatchSizeWithoutWindow(11))
        );
        assert!(BatchRules::new(10_000, Duration::from_secs(300)).is_ok());
        assert!(BatchRules::new(10, Duration::ZERO).is_ok());
        assert_eq!(Scaler::new(1), Err(MappingError::Concurrency(1)));
        assert_eq!(Scaler::new(1001), Err(MappingError::Concurrency(1001)));
    }

    #[test]
    fn a_batch_is_cut_before_the_record_that_would_pass_six_mb() {
        let rules = rules(10_000, 60);
        let mut batch = Batch::default();
        let record = 1_000_000;
        for _ in 0..6 {
            assert_eq!(batch.offer(&rules, record), Offer::Taken);
        }
        assert_eq!(batch.offer(&rules, record), Offer::Cut);
        assert_eq!(batch.len(), 6);
        assert!(batch.payload() <= PAYLOAD_LIMIT_BYTES);
        // The cut record fits in an empty batch.
        let mut next = Batch::default();
        assert_eq!(next.offer(&rules, record), Offer::Taken);
    }

    #[test]
    fn a_batch_is_full_at_the_batch_size() {
        let rules = rules(3, 60);
        let mut batch = Batch::default();
        assert_eq!(batch.offer(&rules, 10), Offer::Taken);
        assert_eq!(batch.offer(&rules, 10), Offer::Taken);
        assert_eq!(batch.offer(&rules, 10), Offer::Full);
        assert_eq!(batch.payload(), EVENT_ENVELOPE_BYTES + 3 * 10 + 2);
    }

    #[test]
    fn concurrency_starts_at_five_and_grows_by_300_a_minute_up_to_the_maximum() {
        let mut s = Scaler::new(1000).expect("valid");
        assert_eq!(s.target(), 5);
        assert_eq!(s.tick(true), 305);
        assert_eq!(s.tick(true), 605);
        assert_eq!(s.tick(true), 905);
        assert_eq!(s.tick(true), 1000);
        assert_eq!(s.tick(false), 500);
        for _ in 0..10 {
            s.tick(false);
        }
        assert_eq!(s.target(), 5);
        let mut small = Scaler::new(2).expect("valid");
        assert_eq!(small.target(), 2);
        assert_eq!(small.tick(true), 2);
        let mut ten = Scaler::new(10).expect("valid");
        assert_eq!((ten.target(), ten.tick(true)), (5, 10));
    }
}
