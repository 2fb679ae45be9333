//! MinIO (any S3-compatible store): a PutObject the store verifies on arrival, then a HeadObject whose answer
//! must prove the store holds exactly the bundle.
//!
//! The bundle's SHA-256 is known before the PUT, so it travels as the `x-amz-checksum-sha256` header (base64,
//! a plain header: not a trailer, not aws-chunked, which some stores refuse) together with `Content-MD5`; a
//! store that checks either (MinIO, AWS, s3s-fs check both; s3rver and older Ceph only Content-MD5) refuses
//! bytes changed on the way with BadDigest. The SDK adds no checksum of its own (its default CRC32 is refused
//! by some stores). After the PUT, what the *store* reports must match: the SHA-256 checksum it computed (with
//! checksum mode), or else its ETag, which for a single-part PUT is the MD5 of what it received; and the size.
//! Our own `content-sha256` metadata is compared too, but it proves nothing alone: the store stores it as sent.

use std::io::Read;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    Credentials as S3Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumMode;
use base64::Engine;
use endpoint_credentials::{Credentials, SecretCache};
use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::{DeliveryError, FailureKind, Parcel};
use crate::archive::SHA256_METADATA;

/// Error codes with which a store says the bytes it received do not match the digests sent with them.
const DIGEST_MISMATCH_CODES: [&str; 4] = [
    "BadDigest",
    "InvalidDigest",
    "XAmzContentChecksumMismatch",
    "XAmzContentSHA256Mismatch",
];

/// A bucket in an S3-compatible store; the secret's username/password are its access key and secret key.
pub struct MinioSink {
    endpoint: String,
    bucket: String,
    secrets: Arc<SecretCache>,
    client: Mutex<Option<(Arc<Credentials>, Client)>>,
}

/// The bundle file's digests, read from the file itself just before it is sent.
struct Digests {
    sha256_base64: String,
    md5_hex: String,
    md5_base64: String,
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
        let digests = digests(parcel).await?;
        super::with_credentials(&self.secrets, parcel, |credentials| {
            self.put_and_verify(parcel, &digests, credentials)
        })
        .await
    }

    async fn put_and_verify(
        &self,
        parcel: &Parcel,
        digests: &Digests,
        credentials: Arc<Credentials>,
    ) -> Result<(), DeliveryError> {
        let client = self.client_for(credentials).await;
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
            .content_type(bundle::headers::BUNDLE_CONTENT_TYPE)
            .content_md5(&digests.md5_base64)
            .checksum_sha256(&digests.sha256_base64)
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
            .checksum_mode(ChecksumMode::Enabled)
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
        verify(&head, parcel, digests)
            .map_err(|detail| DeliveryError::new(FailureKind::Verification, parcel, detail))
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
        if error.kind == FailureKind::Redirect {
            return error;
        }
        let code = e.code().unwrap_or("no error code");
        if DIGEST_MISMATCH_CODES.contains(&code) {
            error.kind = FailureKind::Verification;
        }
        error.detail = match e.message() {
            Some(message) => format!("{} ({code}: {message})", error.detail),
            None => format!("{} ({code})", error.detail),
        };
        error
    }

    async fn client_for(&self, credentials: Arc<Credentials>) -> Client {
        let mut cached = self.client.lock().await;
        if let Some((built_for, client)) = cached.as_ref()
            && *built_for == credentials
        {
            return client.clone();
        }
        let client = store_client(&self.endpoint, &credentials);
        *cached = Some((credentials, client.clone()));
        client
    }
}

/// A client of the store at `endpoint`, signing with the secret's username and password as access key and
/// secret key: path-style, and with no checksum of the SDK's own (which some stores refuse).
pub fn store_client(endpoint: &str, credentials: &Credentials) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
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
    Client::from_conf(config)
}

/// Reads the bundle file once for its SHA-256 (which must be the parcel's: the header is what the store
/// checks) and its MD5.
async fn digests(parcel: &Parcel) -> Result<Digests, DeliveryError> {
    let path = parcel.path.clone();
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<u8>, Vec<u8>)> {
        let mut file = std::fs::File::open(path)?;
        let (mut sha256, mut md5) = (Sha256::new(), Md5::new());
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sha256.update(&buf[..n]);
            md5.update(&buf[..n]);
        }
        Ok((sha256.finalize().to_vec(), md5.finalize().to_vec()))
    })
    .await;
    let local = |detail: String| DeliveryError::new(FailureKind::Local, parcel, detail);
    let (sha256, md5) = match read {
        Ok(Ok(digests)) => digests,
        Ok(Err(e)) => return Err(local(format!("cannot read the bundle: {e}"))),
        Err(e) => return Err(local(format!("the digest task failed: {e}"))),
    };
    if hex::encode(&sha256) != parcel.sha256_hex {
        return Err(local(format!(
            "the bundle file hashes to {} but was built as {}: it changed on disk; it is not sent",
            hex::encode(&sha256),
            parcel.sha256_hex
        )));
    }
    let base64 = base64::engine::general_purpose::STANDARD;
    Ok(Digests {
        sha256_base64: base64.encode(&sha256),
        md5_hex: hex::encode(&md5),
        md5_base64: base64.encode(&md5),
    })
}

/// Whether the store's HeadObject proves it holds the bundle; the reason when it does not.
fn verify(head: &HeadObjectOutput, parcel: &Parcel, digests: &Digests) -> Result<(), String> {
    let size = head.content_length().map(|n| n as u64);
    if size != Some(parcel.size) {
        return Err(format!(
            "the store holds {size:?} bytes, but {} were sent",
            parcel.size
        ));
    }
    let metadata = head
        .metadata()
        .and_then(|m| m.get(SHA256_METADATA))
        .map(String::as_str);
    if metadata != Some(parcel.sha256_hex.as_str()) {
        return Err(format!(
            "the stored object's content-sha256 metadata is {metadata:?}, but {} was sent",
            parcel.sha256_hex
        ));
    }
    // The checksum the store computed and verified is the proof; without one, the ETag of a single-part PUT
    // is the MD5 the store computed of what it received.
    match head.checksum_sha256() {
        Some(checksum) if checksum == digests.sha256_base64 => Ok(()),
        Some(checksum) => Err(format!(
            "the store reports SHA-256 checksum {checksum}, but the bundle's is {}",
            digests.sha256_base64
        )),
        None => {
            let etag = head
                .e_tag()
                .map(|e| e.trim_matches('"').to_ascii_lowercase());
            if etag.as_deref() == Some(digests.md5_hex.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "the store reports no SHA-256 checksum and ETag {etag:?}, not the bundle's MD5 {}: what it stored differs from what was sent (a store that encrypts must report the checksum with checksum mode enabled)",
                    digests.md5_hex
                ))
            }
        }
    }
}
