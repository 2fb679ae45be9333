//! NiFi: an HTTPS POST of the bundle bytes, streamed from the spool file, with Basic auth and/or a client
//! certificate from the secret. On 401/403 the secret is read again and the POST retried once, then a
//! rotation's pending value is tried (see `with_credentials`), so a changed password heals without waiting for
//! the cache to expire. Redirects are never followed.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::{Client, StatusCode};
use tokio::sync::Mutex;
use tokio_util::io::ReaderStream;

use super::{DeliveryError, FailureKind, Parcel};
use crate::credentials::{Credentials, SecretCache};
use crate::headers;

/// What the endpoint answered: its status, and where it pointed if it redirected.
struct Answer {
    status: StatusCode,
    location: Option<String>,
}

/// A NiFi ListenHTTP endpoint.
pub struct NifiSink {
    url: String,
    secrets: Arc<SecretCache>,
    connect_timeout: Duration,
    timeout: Duration,
    /// The HTTP client built for the credentials it was built with (a client certificate is part of it).
    client: Mutex<Option<(Arc<Credentials>, Client)>>,
}

impl NifiSink {
    pub fn new(
        url: String,
        secrets: Arc<SecretCache>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> NifiSink {
        NifiSink {
            url,
            secrets,
            connect_timeout,
            timeout,
            client: Mutex::new(None),
        }
    }

    pub async fn deliver(&self, parcel: &Parcel) -> Result<(), DeliveryError> {
        super::with_credentials(&self.secrets, parcel, |credentials| {
            self.post(parcel, credentials)
        })
        .await
    }

    /// One POST with these credentials; Ok only for a 2xx.
    async fn post(
        &self,
        parcel: &Parcel,
        credentials: Arc<Credentials>,
    ) -> Result<(), DeliveryError> {
        let answer = self.post_once(parcel, &credentials).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        Err(DeliveryError::answered(
            parcel,
            answer.status.as_u16(),
            answer.location.as_deref(),
            &self.url,
        ))
    }

    async fn post_once(
        &self,
        parcel: &Parcel,
        credentials: &Arc<Credentials>,
    ) -> Result<Answer, DeliveryError> {
        let client = self.client_for(credentials, parcel).await?;
        let file = tokio::fs::File::open(&parcel.path).await.map_err(|e| {
            DeliveryError::new(
                FailureKind::Local,
                parcel,
                format!("cannot open the bundle: {e}"),
            )
        })?;
        let basic = basic_auth(credentials);
        let response = client
            .post(&self.url)
            .header(CONTENT_TYPE, headers::BUNDLE_CONTENT_TYPE)
            .header(CONTENT_LENGTH, parcel.size)
            .header(headers::CONTENT_SHA256, &parcel.sha256_hex)
            .header(headers::BUNDLE_ID, &parcel.bundle_id)
            .header(headers::FILE_COUNT, parcel.file_count)
            .header(headers::FILENAME, &parcel.file_name)
            .header(
                headers::REPLAY,
                if parcel.replay { "true" } else { "false" },
            )
            .header(AUTHORIZATION, basic)
            .body(reqwest::Body::wrap_stream(ReaderStream::with_capacity(
                file,
                256 * 1024,
            )))
            .send()
            .await
            .map_err(|e| transport_error(&e, parcel))?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Read (and discard) the body, so a timeout while the endpoint answers counts as a timeout too.
        response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, parcel))?;
        Ok(Answer { status, location })
    }

    async fn client_for(
        &self,
        credentials: &Arc<Credentials>,
        parcel: &Parcel,
    ) -> Result<Client, DeliveryError> {
        let mut cached = self.client.lock().await;
        if let Some((built_for, client)) = cached.as_ref()
            && built_for == credentials
        {
            return Ok(client.clone());
        }
        let client = build_client(credentials, self.connect_timeout, self.timeout)
            .map_err(|detail| DeliveryError::new(FailureKind::Credentials, parcel, detail))?;
        *cached = Some((credentials.clone(), client.clone()));
        Ok(client)
    }
}

/// An HTTP client with TLS 1.2 at least, the timeouts, and the secret's client certificate and CA, if any
/// (also the reachability probe's, so that it trusts exactly what a delivery trusts).
pub(crate) fn build_client(
    credentials: &Credentials,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<Client, String> {
    let mut builder = Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        // A redirect is a failure, never followed: following would turn the POST into a body-less GET whose
        // 200 looks like a delivery, and would send the credentials to wherever the Location points.
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(30));
    if let (Some(cert), Some(key)) = (&credentials.client_cert_pem, &credentials.client_key_pem) {
        let identity =
            reqwest::Identity::from_pem(format!("{key}\n{cert}").as_bytes()).map_err(|_| {
                "the secret's client_cert_pem/client_key_pem are not a usable certificate and key"
                    .to_string()
            })?;
        builder = builder.identity(identity);
    }
    if let Some(ca) = &credentials.ca_cert_pem {
        let certs = reqwest::Certificate::from_pem_bundle(ca.as_bytes())
            .map_err(|_| "the secret's ca_cert_pem is not a usable certificate".to_string())?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("could not build the HTTP client: {e}"))
}

fn basic_auth(credentials: &Credentials) -> HeaderValue {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.username, credentials.password));
    let mut value = HeaderValue::from_str(&format!("Basic {token}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// A request that got no complete answer: a timeout, or a connection that failed or broke.
fn transport_error(e: &reqwest::Error, parcel: &Parcel) -> DeliveryError {
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Connect
    };
    DeliveryError::new(kind, parcel, describe(e))
}

/// A reqwest error in words, with its causes but without the URL (which could carry userinfo).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
