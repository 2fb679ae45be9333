//! Delivers a finished bundle to the endpoint, NiFi (HTTPS POST) or MinIO (PutObject + HeadObject), and
//! classifies failures so the breaker and the metrics know what happened.
//!
//! Shared with `cargo xtask replay`, which delivers archived bundles by this same code with `X-Replay: true`.

mod minio;
mod nifi;

use std::path::PathBuf;
use std::sync::Arc;

pub use minio::MinioSink;
pub use nifi::NifiSink;
pub(crate) use nifi::{build_client, describe};

use crate::bundle::Bundle;
use crate::credentials::SecretError;

/// What travels: a bundle file and what the endpoint is told about it.
#[derive(Debug, Clone)]
pub struct Parcel {
    pub path: PathBuf,
    pub size: u64,
    pub sha256_hex: String,
    pub bundle_id: String,
    pub file_count: usize,
    pub file_name: String,
    /// The archive key; MinIO stores the bundle under the same key.
    pub key: String,
    pub replay: bool,
}

impl Parcel {
    /// The parcel of a freshly built bundle.
    pub fn of(bundle: &Bundle, key: &str) -> Parcel {
        Parcel {
            path: bundle.path().to_path_buf(),
            size: bundle.size,
            sha256_hex: bundle.sha256_hex(),
            bundle_id: bundle.manifest.bundle_id.clone(),
            file_count: bundle.manifest.files.len(),
            file_name: bundle.file_name(),
            key: key.to_string(),
            replay: false,
        }
    }
}

/// Why a delivery failed, as far as what to do about it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No answer within the timeout (or 408).
    Timeout,
    /// Could not connect, or the connection broke.
    Connect,
    /// 503: the endpoint's queue is full.
    Backpressure,
    /// 429.
    Throttled,
    /// Other 5xx.
    ServerError,
    /// 401/403, still after reading the secret again.
    Unauthorized,
    /// Other 4xx: the endpoint refused this bundle; not retried within the invocation.
    Rejected,
    /// The credentials could not be read or used.
    Credentials,
    /// MinIO stored something other than what was sent.
    Verification,
    /// The bundle file could not be read.
    Local,
}

impl FailureKind {
    /// Whether this failure says the endpoint is unavailable, which is what the circuit breaker counts.
    pub fn is_unavailability(self) -> bool {
        matches!(
            self,
            FailureKind::Timeout
                | FailureKind::Connect
                | FailureKind::Backpressure
                | FailureKind::Throttled
                | FailureKind::ServerError
        )
    }

    /// The metric counting failures of this kind.
    pub fn metric(self) -> &'static str {
        match self {
            FailureKind::Timeout => "FailuresTimeout",
            FailureKind::Connect => "FailuresConnect",
            FailureKind::Backpressure => "FailuresBackpressure",
            FailureKind::Throttled => "FailuresThrottled",
            FailureKind::ServerError => "FailuresServerError",
            FailureKind::Unauthorized => "FailuresUnauthorized",
            FailureKind::Rejected => "FailuresRejected",
            FailureKind::Credentials => "FailuresCredentials",
            FailureKind::Verification => "FailuresVerification",
            FailureKind::Local => "FailuresLocal",
        }
    }
}

/// A failed delivery.
#[derive(Debug, Clone, thiserror::Error)]
#[error("delivery of bundle {bundle_id} failed ({kind:?}): {detail}")]
pub struct DeliveryError {
    pub kind: FailureKind,
    pub bundle_id: String,
    pub detail: String,
}

impl DeliveryError {
    fn new(kind: FailureKind, parcel: &Parcel, detail: impl Into<String>) -> DeliveryError {
        DeliveryError {
            kind,
            bundle_id: parcel.bundle_id.clone(),
            detail: detail.into(),
        }
    }

    fn credentials(parcel: &Parcel, e: SecretError) -> DeliveryError {
        DeliveryError::new(FailureKind::Credentials, parcel, e.to_string())
    }
}

/// The configured endpoint.
#[derive(Clone)]
pub enum Sink {
    Nifi(Arc<NifiSink>),
    Minio(Arc<MinioSink>),
}

impl Sink {
    /// Delivers the parcel; Ok only when the endpoint has confirmed it.
    pub async fn deliver(&self, parcel: &Parcel) -> Result<(), DeliveryError> {
        match self {
            Sink::Nifi(s) => s.deliver(parcel).await,
            Sink::Minio(s) => s.deliver(parcel).await,
        }
    }
}
