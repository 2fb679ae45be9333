//! Delivers a finished bundle to the endpoint, NiFi (HTTPS POST) or MinIO (PutObject + HeadObject), and
//! classifies failures so the breaker and the metrics know what happened.
//!
//! Shared with `cargo xtask replay`, which delivers archived bundles by this same code with `X-Replay: true`.

mod minio;
mod nifi;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

pub use minio::{MinioSink, store_client};
pub use nifi::NifiSink;
pub(crate) use nifi::{build_client, describe};

use endpoint_credentials::{Credentials, SecretCache, SecretError};

use crate::bundle::Bundle;

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
    /// Any 3xx: the endpoint sent us elsewhere (a login or maintenance page, a moved URL). Never followed,
    /// so neither the bundle nor the credentials go anywhere but the configured endpoint; not retried within
    /// the invocation, and not an unavailability: a misconfiguration is not an outage.
    Redirect,
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

    /// What an HTTP answer other than 2xx means.
    pub fn of_status(status: u16) -> FailureKind {
        match status {
            300..=399 => FailureKind::Redirect,
            408 => FailureKind::Timeout,
            429 => FailureKind::Throttled,
            503 => FailureKind::Backpressure,
            401 | 403 => FailureKind::Unauthorized,
            500..=599 => FailureKind::ServerError,
            _ => FailureKind::Rejected,
        }
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
            FailureKind::Redirect => "FailuresRedirect",
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

    /// The failure an answer other than 2xx from `endpoint` means. A redirect is described by its status and
    /// the host of its `Location` only: the rest of that URL may carry a session, a token or credentials.
    fn answered(
        parcel: &Parcel,
        status: u16,
        location: Option<&str>,
        endpoint: &str,
    ) -> DeliveryError {
        let kind = FailureKind::of_status(status);
        let status_text = match reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
        {
            Some(reason) => format!("{status} {reason}"),
            None => status.to_string(),
        };
        let detail = if kind == FailureKind::Redirect {
            format!(
                "the endpoint answered {status_text}, a redirect to {}; redirects are never followed (the bundle and the credentials go only to the configured endpoint): point the sink's URL at the endpoint itself, or fix the proxy in front of it",
                redirect_target(location, endpoint)
            )
        } else {
            format!("the endpoint answered {status_text}")
        };
        DeliveryError::new(kind, parcel, detail)
    }
}

/// The host a `Location` header points to (relative ones resolve against the endpoint), in words.
fn redirect_target(location: Option<&str>, endpoint: &str) -> String {
    let Some(location) = location else {
        return "nowhere (no Location header)".to_string();
    };
    let resolved = reqwest::Url::parse(endpoint).and_then(|base| base.join(location));
    match resolved.as_ref().ok().and_then(|url| url.host_str()) {
        Some(host) => format!("host {host}"),
        None => "an unreadable Location".to_string(),
    }
}

/// Runs one delivery attempt with the endpoint credentials. When the endpoint refuses them (401/403), reads
/// the secret again and retries once if the value changed; if that is refused too, tries the pending value of
/// a rotation (`AWSPENDING`) once, and adopts it when it is accepted. Values are never logged.
async fn with_credentials<F, Fut>(
    secrets: &SecretCache,
    parcel: &Parcel,
    attempt: F,
) -> Result<(), DeliveryError>
where
    F: Fn(Arc<Credentials>) -> Fut,
    Fut: Future<Output = Result<(), DeliveryError>>,
{
    let credentials =
        |r: Result<_, SecretError>| r.map_err(|e| DeliveryError::credentials(parcel, e));
    let cached = credentials(secrets.get().await)?;
    let mut refused = match attempt(cached.clone()).await {
        Err(e) if e.kind == FailureKind::Unauthorized => e,
        done => return done,
    };
    tracing::warn!(bundle_id = %parcel.bundle_id, "the endpoint refused the credentials; reading the secret again");
    let mut tried = vec![cached];
    secrets.invalidate().await;
    let current = credentials(secrets.get().await)?;
    if !tried.contains(&current) {
        refused = match attempt(current.clone()).await {
            Err(e) if e.kind == FailureKind::Unauthorized => e,
            done => return done,
        };
        tried.push(current);
    }
    let pending = secrets.pending().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not read the pending credentials of a rotation");
        None
    });
    let Some(pending) = pending.filter(|p| !tried.contains(p)) else {
        return Err(refused);
    };
    tracing::warn!(bundle_id = %parcel.bundle_id, "the current credentials were refused; trying the pending ones of a rotation (AWSPENDING)");
    attempt(pending.clone()).await?;
    tracing::info!(bundle_id = %parcel.bundle_id, "the endpoint accepted the pending credentials; they are used until the rotation is promoted");
    secrets.adopt(pending).await;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_is_its_own_kind_and_not_an_outage() {
        for status in [300, 301, 302, 303, 307, 308] {
            assert_eq!(FailureKind::of_status(status), FailureKind::Redirect);
        }
        assert!(!FailureKind::Redirect.is_unavailability());
        assert_eq!(FailureKind::Redirect.metric(), "FailuresRedirect");
        assert_eq!(FailureKind::of_status(503), FailureKind::Backpressure);
        assert_eq!(FailureKind::of_status(404), FailureKind::Rejected);
    }

    #[test]
    fn a_redirect_target_is_shown_by_its_host_only() {
        let endpoint = "https://nifi.onprem.example:9443/contentListener";
        assert_eq!(
            redirect_target(
                Some("https://user:pw@login.example:8443/sso?token=abc"),
                endpoint
            ),
            "host login.example"
        );
        assert_eq!(
            redirect_target(Some("/maintenance.html?x=1"), endpoint),
            "host nifi.onprem.example"
        );
        assert_eq!(
            redirect_target(None, endpoint),
            "nowhere (no Location header)"
        );
    }
}
