//! The designed size and time limits of one invocation: the function's `/tmp` holds the bundle being built and
//! the downloads in flight; one bundle fits in one request to the endpoint; a delivery request ends before the
//! Lambda deadline, and not before the endpoint could have answered it.
//!
//! The aggregator reads the results as `BUNDLE_MAX_BYTES`, `OBJECT_MAX_BYTES`, `DOWNLOAD_BUFFER_BYTES`,
//! `HTTP_TIMEOUT_MS` and `DEADLINE_MARGIN_MS`; these checks are why it can never be handed a batch it cannot
//! deliver because of its size, nor a POST the Lambda timeout would cut.

use std::time::Duration;

use bundle::capacity::{ENTRY_AND_MANIFEST_BYTES, largest_object_in};

use crate::config::{Endpoint, Environment, Violations};

/// Lambda's range for `ephemeral_storage` (MB).
/// Source: <https://docs.aws.amazon.com/lambda/latest/api/API_EphemeralStorage.html>
pub const EPHEMERAL_STORAGE_MB: std::ops::RangeInclusive<u32> = 512..=10_240;
/// Lambda's limit on a synchronous invocation's request payload (6 MB = 6,291,456 bytes: "Request must be
/// smaller than 6291456 bytes for the InvokeFunction operation").
/// Source: <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html> ("Invocation payload").
pub const LAMBDA_INVOKE_PAYLOAD_BYTES: u64 = 6_291_456;
/// The rest of a function URL's event besides the body (request context, headers, the URL): far less in
/// practice; what is left after it is the body's share of the invocation payload.
pub const FUNCTION_URL_EVENT_ALLOWANCE_BYTES: u64 = 64 << 10;
/// The mock receiver's own timeout (its Lambda's `timeout`).
pub const MOCK_RECEIVER_TIMEOUT_SECONDS: u32 = 30;
/// What a mock receiver's answer may take besides its timeout: Lambda's init phase of a cold start (up to
/// 10 s, not counted in the timeout) and the upload of a body of a few MB.
pub const MOCK_RECEIVER_ANSWER_ALLOWANCE: Duration = Duration::from_secs(15);

/// What the endpoint an environment delivers to accepts in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLimits {
    /// The largest body it accepts, when it has a cap.
    pub max_body_bytes: Option<u64>,
    /// How long it may take to answer a request it accepted, when that is bounded.
    pub answers_within: Option<Duration>,
    /// Where the limits come from, for messages and the runbook.
    pub why: &'static str,
}

/// The request cap and answer time of dev's mock receiver, a Lambda behind a function URL.
///
/// A function URL hands the request to the function as an invocation event, and the 6 MB invocation limit
/// applies to that event. A bundle is binary (`Content-Type: application/gzip`), and a function URL puts a
/// binary body into the event base64-encoded (`isBase64Encoded`), 4 bytes for every 3: so the largest bundle
/// is three quarters of what is left of 6 MB after the rest of the event, about 4.45 MiB, not 6 MB.
/// Source: <https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html> (request payload format).
pub fn mock_receiver_limits() -> RequestLimits {
    RequestLimits {
        max_body_bytes: Some(
            (LAMBDA_INVOKE_PAYLOAD_BYTES - FUNCTION_URL_EVENT_ALLOWANCE_BYTES) / 4 * 3,
        ),
        answers_within: Some(
            Duration::from_secs(u64::from(MOCK_RECEIVER_TIMEOUT_SECONDS))
                + MOCK_RECEIVER_ANSWER_ALLOWANCE,
        ),
        why: "the mock receiver is a Lambda behind a function URL: a 6 MB invocation payload carrying the bundle base64-encoded, and its own 30 s timeout after up to 10 s of cold start",
    }
}

impl Endpoint {
    /// What this endpoint accepts in one request.
    pub fn request_limits(&self) -> RequestLimits {
        match self {
            Endpoint::MockReceiver => mock_receiver_limits(),
            Endpoint::OnPremise {
                max_request_bytes, ..
            } => RequestLimits {
                max_body_bytes: *max_request_bytes,
                answers_within: None,
                why: "the on-premise endpoint's declared max_request_bytes",
            },
            Endpoint::LocalProcess { .. } => RequestLimits {
                max_body_bytes: None,
                answers_within: None,
                why: "the receiver the local runner starts",
            },
        }
    }
}

/// The byte budgets of one invocation, as rendered into the aggregator's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// `/tmp`, counted as `ephemeral_storage_mb` × 1,000,000: whether Lambda's MB are 10^6 or 2^20 bytes, the
    /// smaller is assumed.
    pub tmp_bytes: u64,
    /// What `/tmp` keeps free: a tenth, for the filesystem's overhead and the runtime's own files.
    pub tmp_margin_bytes: u64,
    pub bundle_max_bytes: u64,
    pub object_max_bytes: u64,
    pub download_buffer_bytes: u64,
}

impl Sizing {
    /// What one invocation may need in `/tmp` at once: a full bundle's spool and either the downloads in
    /// flight or one object downloaded alone, whichever is larger (the aggregator's `DOWNLOAD_BUFFER_BYTES`).
    pub fn tmp_needed(&self) -> u64 {
        self.bundle_max_bytes + self.download_buffer_bytes.max(self.object_max_bytes)
    }
}

/// The budgets of an environment: what it sets, and for what it leaves open, the derived values.
pub fn derive(env: &Environment) -> Sizing {
    let f = &env.function;
    let tmp_bytes = u64::from(f.ephemeral_storage_mb) * 1_000_000;
    let limits = env.sink.endpoint().request_limits();
    let bundle_max_bytes = f.bundle_max_bytes.unwrap_or_else(|| {
        let half = tmp_bytes / 2;
        limits.max_body_bytes.map_or(half, |cap| cap.min(half))
    });
    let object_max_bytes = f
        .object_max_bytes
        .unwrap_or_else(|| aggregator_config::default_object_max_bytes(bundle_max_bytes));
    Sizing {
        tmp_bytes,
        tmp_margin_bytes: tmp_bytes / 10,
        bundle_max_bytes,
        object_max_bytes,
        download_buffer_bytes: f.download_buffer_bytes,
    }
}

/// Derives the budgets an environment leaves open and checks every limit; violations go into `v`.
pub(crate) fn check(env: &Environment, v: &mut Violations) -> Sizing {
    let f = &env.function;
    if !EPHEMERAL_STORAGE_MB.contains(&f.ephemeral_storage_mb) {
        v.push(
            "function.ephemeral_storage_mb",
            format!(
                "{} MB is outside Lambda's range {}..={} MB (https://docs.aws.amazon.com/lambda/latest/api/API_EphemeralStorage.html): use a value within it",
                f.ephemeral_storage_mb,
                EPHEMERAL_STORAGE_MB.start(),
                EPHEMERAL_STORAGE_MB.end()
            ),
        );
    }
    let limits = env.sink.endpoint().request_limits();
    let sizing = derive(env);
    let Sizing {
        tmp_bytes,
        bundle_max_bytes,
        object_max_bytes,
        ..
    } = sizing;
    if let Some(cap) = limits.max_body_bytes
        && bundle_max_bytes > cap
    {
        v.push(
            "function.bundle_max_bytes",
            format!(
                "{bundle_max_bytes} bytes is more than the endpoint accepts in one request ({cap} bytes: {}), so every full bundle would be refused: lower it to at most {cap}, or leave it unset to derive it",
                limits.why
            ),
        );
    }
    if object_max_bytes == 0 || object_max_bytes > largest_object_in(bundle_max_bytes) {
        v.push(
            "function.object_max_bytes",
            format!(
                "{object_max_bytes} bytes with its tar entry, the manifest ({ENTRY_AND_MANIFEST_BYTES} bytes) and gzip's worst expansion (1/512) does not fit in a bundle of {bundle_max_bytes} bytes, so such an object could never be delivered: use 1..={} bytes",
                largest_object_in(bundle_max_bytes)
            ),
        );
    }
    if sizing.download_buffer_bytes == 0 {
        v.push(
            "function.download_buffer_bytes",
            "0 bytes lets no download start: use at least one object's worth".into(),
        );
    }
    let needed = sizing.tmp_needed() + sizing.tmp_margin_bytes;
    if needed > tmp_bytes {
        v.push(
            "function.ephemeral_storage_mb",
            format!(
                "{} MB of /tmp cannot hold a full bundle ({bundle_max_bytes} bytes) and the larger of the downloads in flight ({}) and the largest object ({object_max_bytes}) with a tenth kept free ({} bytes): a full disk would fail the batch on every retry; raise it to at least {} MB or lower function.bundle_max_bytes, download_buffer_bytes or object_max_bytes",
                f.ephemeral_storage_mb,
                sizing.download_buffer_bytes,
                sizing.tmp_margin_bytes,
                (sizing.tmp_needed() * 10 / 9).div_ceil(1_000_000)
            ),
        );
    }
    check_time(env, &limits, v);
    sizing
}

/// A delivery request waits as long as the endpoint may take to answer, and ends before the Lambda deadline.
fn check_time(env: &Environment, limits: &RequestLimits, v: &mut Violations) {
    let f = &env.function;
    let timeout = Duration::from_secs(u64::from(f.timeout_seconds));
    if f.http_timeout.is_zero() || f.deadline_margin < Duration::from_secs(1) {
        v.push(
            "function.http_timeout",
            format!(
                "the HTTP timeout ({} ms) and the deadline margin ({} ms) must be positive, the margin at least 1 s",
                f.http_timeout.as_millis(),
                f.deadline_margin.as_millis()
            ),
        );
    }
    if let Some(answer) = limits.answers_within
        && f.http_timeout < answer
    {
        v.push(
            "function.http_timeout",
            format!(
                "{} s is shorter than the endpoint may take to answer ({} s: {}): the aggregator would give up on bundles the endpoint still accepts and send them again; raise it to at least {} s",
                f.http_timeout.as_secs_f64(),
                answer.as_secs(),
                limits.why,
                answer.as_secs()
            ),
        );
    }
    if f.http_timeout + f.deadline_margin > timeout {
        v.push(
            "function.http_timeout",
            format!(
                "the HTTP timeout ({} s) plus the deadline margin ({} s) exceeds the Lambda timeout ({} s), so a delivery could still be running when Lambda ends the invocation (a duplicate later): lower one of them or raise function.timeout_seconds",
                f.http_timeout.as_secs_f64(),
                f.deadline_margin.as_secs_f64(),
                f.timeout_seconds
            ),
        );
    }
}
