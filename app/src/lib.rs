//! The file aggregator: turns an SQS batch of S3 events into verified tar.gz bundles, archives them and
//! delivers them to NiFi or MinIO; plus the NiFi-compatible receiver used by tests, local runs and dev.

pub mod archive;
pub mod breaker;
pub mod bundler;
pub mod config;
pub mod credentials;
pub mod delivery;
pub mod download;
pub mod event;
pub mod handler;
pub mod headers;
pub mod idempotency;
pub mod metrics;
pub mod poller;
pub mod probe;
pub mod queue;
pub mod receiver;
pub mod version;

pub use bundle::{self, manifest};
pub use config::{Config, RawConfig};
pub use handler::Aggregator;

/// A time as RFC 3339 (UTC), the format of manifests and DLQ attributes.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Logs as one JSON object per line, without timestamps (Lambda adds its own), filtered by `RUST_LOG` (default
/// `info`): what every Lambda binary of the pipeline starts with.
pub fn init_lambda_logs() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
}

/// Now, as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}
