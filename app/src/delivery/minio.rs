//! MinIO (any S3-compatible store): PutObject with `x-amz-meta-content-sha256`, then HeadObject and compare.
//!
//! The client does not add the SDK's default CRC32 checksum, which some S3-compatible stores, MinIO among
//! them, reject; the HeadObject comparison is the end-to-end check instead.

use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    Credentials as S3Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use tokio::sync::Mutex;

use super::{DeliveryError, FailureKind, Parcel};
use crate::archive::SHA256_METADATA;
use crate::credentials::{Credentials, SecretCache};

/// A bucket in an S3-compatible store; the secret's username/password are its access key and secret key.
pub struct MinioSink {
    endpoint: String,
    bucket: String,
    secrets: Arc<SecretCache>,
    client: Mutex<Option<(Arc<Credentials>, Client)>>,
}

impl MinioSink {
    pub fn new(endpoint: String, bucket: String, secrets: Arc<SecretCache>) -> MinioSink {
        MinioSink {
            endpoint,
            bucket,
            secrets,
            client: Mutex::new(None),
        }
    }

    pub async fn deliver(&self, parcel: &Parcel) -> Result<(), DeliveryError> {
        let client = self.client(parcel).await?;
        let body = ByteStream::from_path(&parcel.path).await.map_err(|e| {
            DeliveryError::new(
                FailureKind::Local,
                parcel,
                format!("cannot read the bundle: {e}"),
            )
        })?;
        client
            .put_object()
            .bucket(&self.bucket)
            .key(&parcel.key)
            .body(body)
            .content_length(parcel.size as i64)
            .content_type(crate::headers::BUNDLE_CONTENT_TYPE)
            .metadata(SHA256_METADATA, &parcel.sha256_hex)
            .metadata("bundle-id", &parcel.bundle_id)
            .metadata("file-count", parcel.file_count.to_string())
            .send()
            .await
            .map_err(|e| self.put_failed(parcel, e))?;
        let head = client
            .head_object()
            .bucket(&self.bucket)
            .key(&parcel.key)
            .send()
            .await
            .map_err(|e| {
                DeliveryError::new(
                    FailureKind::Verification,
                    parcel,
                    format!(
                        "HeadObject after PutObject failed: {}",
                        e.code().unwrap_or("no such object")
                    ),
                )
            })?;
        let stored_hash = head
            .metadata()
            .and_then(|m| m.get(SHA256_METADATA))
            .map(String::as_str);
        let stored_size = head.content_length().map(|n| n as u64);
        if stored_hash != Some(parcel.sha256_hex.as_str()) || stored_size != Some(parcel.size) {
            return Err(DeliveryError::new(
                FailureKind::Verification,
                parcel,
                format!(
                    "the store holds {:?} bytes with content-sha256 {:?}, but {} bytes with {} were sent",
                    stored_size, stored_hash, parcel.size, parcel.sha256_hex
                ),
            ));
        }
        Ok(())
    }

    /// The failure a PutObject error means. The SDK never follows a redirect; a 3xx is described by the
    /// store's status and Location host only, as the NiFi sink does.
    fn put_failed(
        &self,
        parcel: &Parcel,
        e: SdkError<PutObjectError, HttpResponse>,
    ) -> DeliveryError {
        let Some(response) = e.raw_response() else {
            return DeliveryError::new(
                FailureKind::Connect,
                parcel,
                DisplayErrorContext(e).to_string(),
            );
        };
        let location = response.headers().get("location").map(str::to_string);
        let mut error = DeliveryError::answered(
            parcel,
            response.status().as_u16(),
            location.as_deref(),
            &self.endpoint,
        );
        if error.kind != FailureKind::Redirect {
            error.detail = format!("{}: {}", error.detail, DisplayErrorContext(e));
        }
        error
    }

    async fn client(&self, parcel: &Parcel) -> Result<Client, DeliveryError> {
        let credentials = self
            .secrets
            .get()
            .await
            .map_err(|e| DeliveryError::credentials(parcel, e))?;
        let mut cached = self.client.lock().await;
        if let Some((built_for, client)) = cached.as_ref()
            && *built_for == credentials
        {
            return Ok(client.clone());
        }
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .force_path_style(true)
            .credentials_provider(S3Credentials::new(
                credentials.username.clone(),
                credentials.password.clone(),
                None,
                None,
                "endpoint-secret",
            ))
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        let client = Client::from_conf(config);
        *cached = Some((credentials, client.clone()));
        Ok(client)
    }
}
