//! Puts a finished bundle into the archive bucket, the record that replay reads, before it is delivered, and
//! marks it delivered (a tag) once the endpoint acknowledged it.
//!
//! The object carries the bundle's hex SHA-256 as user metadata `content-sha256` (what replay and people
//! compare) and S3's own SHA-256 checksum (base64 of the raw digest), which S3 verifies on upload. Above the
//! multipart threshold the upload is multipart; S3's checksum is then a composite of the parts' checksums,
//! while `content-sha256` stays the hash of the whole bundle.

use std::io::{Read, Seek, SeekFrom};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, Tag, Tagging};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::bundle::Bundle;

/// User metadata key holding the hex SHA-256 of the bundle.
pub const SHA256_METADATA: &str = "content-sha256";

/// Object tag set on an archived bundle once the endpoint acknowledged it: `delivered-at=<RFC 3339 UTC>`.
///
/// A bundle is archived before every delivery attempt, so the archive also holds attempts the endpoint
/// never acknowledged; replay by time range sends only tagged bundles unless told otherwise. A tag rather
/// than a metadata copy or a key move: one cheap request, on any storage class without a restore (Deep
/// Archive), readable without reading the object; a copy would rewrite the whole bundle.
pub const DELIVERED_TAG: &str = "delivered-at";

/// Why an archive request failed.
#[derive(Debug, thiserror::Error)]
#[error("bundle {bundle_id} at s3://{bucket}/{key}: {detail}")]
pub struct ArchiveError {
    pub bundle_id: String,
    pub bucket: String,
    pub key: String,
    pub detail: String,
}

/// Tags the archived bundle at `key` as delivered at `at` (it replaces the object's tag set: the aggregator
/// writes no other tag).
pub async fn mark_delivered(
    s3: &Client,
    bucket: &str,
    key: &str,
    bundle_id: &str,
    at: time::OffsetDateTime,
) -> Result<(), ArchiveError> {
    let tagging = Tagging::builder()
        .tag_set(
            Tag::builder()
                .key(DELIVERED_TAG)
                .value(crate::rfc3339(at))
                .build()
                .map_err(|e| e.to_string())
                .map_err(|detail| tag_error(bundle_id, bucket, key, detail))?,
        )
        .build()
        .map_err(|e| tag_error(bundle_id, bucket, key, e.to_string()))?;
    s3.put_object_tagging()
        .bucket(bucket)
        .key(key)
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| tag_error(bundle_id, bucket, key, DisplayErrorContext(e).to_string()))?;
    Ok(())
}

/// When the archived bundle at `key` was marked delivered, if it was.
pub async fn delivered_at(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<String>, ArchiveError> {
    let tags = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| ArchiveError {
            bundle_id: key.rsplit('/').next().unwrap_or(key).to_string(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            detail: format!(
                "could not read its tags (replay needs s3:GetObjectTagging): {}",
                e.code().unwrap_or("unknown error")
            ),
        })?;
    Ok(tags
        .tag_set()
        .iter()
        .find(|t| t.key() == DELIVERED_TAG)
        .map(|t| t.value().to_string()))
}

fn tag_error(bundle_id: &str, bucket: &str, key: &str, detail: String) -> ArchiveError {
    ArchiveError {
        bundle_id: bundle_id.to_string(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        detail: format!("could not tag it {DELIVERED_TAG}: {detail}"),
    }
}

/// The archive key of a bundle: `<prefix>/YYYY/MM/DD/HH/<bundle-id>.tar.gz`, by the bundle's creation time.
pub fn archive_key(prefix: &str, created_at: time::OffsetDateTime, file_name: &str) -> String {
    format!(
        "{prefix}/{:04}/{:02}/{:02}/{:02}/{file_name}",
        created_at.year(),
        u8::from(created_at.month()),
        created_at.day(),
        created_at.hour()
    )
}

/// Uploads `bundle` to `bucket`/`key`; multipart when it is larger than `multipart_threshold`.
pub async fn put_bundle(
    s3: &Client,
    bucket: &str,
    key: &str,
    bundle: &Bundle,
    multipart_threshold: u64,
    part_size: u64,
) -> Result<(), ArchiveError> {
    let fail = |detail: String| ArchiveError {
        bundle_id: bundle.manifest.bundle_id.clone(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        detail: format!("could not archive it: {detail}"),
    };
    if bundle.size <= multipart_threshold {
        let body = ByteStream::from_path(bundle.path())
            .await
            .map_err(|e| fail(format!("could not read the spool file: {e}")))?;
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .content_length(bundle.size as i64)
            .content_type(bundle::headers::BUNDLE_CONTENT_TYPE)
            .metadata(SHA256_METADATA, bundle.sha256_hex())
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(bundle.sha256_base64())
            .send()
            .await
            .map_err(|e| fail(DisplayErrorContext(e).to_string()))?;
        return Ok(());
    }
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(bundle::headers::BUNDLE_CONTENT_TYPE)
        .metadata(SHA256_METADATA, bundle.sha256_hex())
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .map_err(|e| fail(DisplayErrorContext(e).to_string()))?;
    let upload_id = upload
        .upload_id()
        .ok_or_else(|| fail("S3 returned no upload id".into()))?
        .to_string();
    match upload_parts(s3, bucket, key, &upload_id, bundle, part_size).await {
        Ok(()) => Ok(()),
        Err(detail) => {
            // Abort so the parts do not linger (and cost) until a lifecycle rule removes them.
            let _ = s3
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            Err(fail(detail))
        }
    }
}

async fn upload_parts(
    s3: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    bundle: &Bundle,
    part_size: u64,
) -> Result<(), String> {
    let mut file = std::fs::File::open(bundle.path()).map_err(|e| e.to_string())?;
    let mut parts = Vec::new();
    let mut offset = 0u64;
    let mut number = 1i32;
    while offset < bundle.size {
        let len = part_size.min(bundle.size - offset);
        let mut buf = vec![0u8; len as usize];
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| e.to_string())?;
        file.read_exact(&mut buf).map_err(|e| e.to_string())?;
        let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&buf));
        let part = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_sha256(&checksum)
            .body(ByteStream::from(buf))
            .send()
            .await
            .map_err(|e| format!("part {number}: {}", e.code().unwrap_or("error")))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_string))
                .checksum_sha256(checksum)
                .build(),
        );
        offset += len;
        number += 1;
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| DisplayErrorContext(e).to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_partitioned_by_hour() {
        let t = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(
            archive_key("bundles", t, "id.tar.gz"),
            "bundles/2026/01/02/03/id.tar.gz"
        );
    }
}
