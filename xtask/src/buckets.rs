//! Counting and deleting every object version of a versioned bucket, for `destroy --empty-buckets`:
//! Terraform cannot delete a bucket that still holds versions or delete markers, and the model does not set
//! `force_destroy`, so emptying is a deliberate, separate act.

use anyhow::{Context, Result};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

/// Object versions and delete markers in `bucket`; `None` when the bucket does not exist.
pub async fn count_versions(s3: &Client, bucket: &str) -> Result<Option<u64>> {
    let mut count = 0u64;
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await;
        let page = match page {
            Ok(page) => page,
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "listing s3://{bucket}: {}",
                    crate::aws::describe(&e)
                ));
            }
        };
        count += page.versions().len() as u64 + page.delete_markers().len() as u64;
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
    Ok(Some(count))
}

/// Deletes every version and delete marker in `bucket`, 1,000 at a time; returns how many.
pub async fn empty(s3: &Client, bucket: &str) -> Result<u64> {
    let mut deleted = 0u64;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(1000)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("listing s3://{bucket}: {}", crate::aws::describe(&e)))?;
        let mut ids = Vec::new();
        for v in page.versions() {
            ids.push(identifier(v.key(), v.version_id())?);
        }
        for m in page.delete_markers() {
            ids.push(identifier(m.key(), m.version_id())?);
        }
        if ids.is_empty() {
            return Ok(deleted);
        }
        let n = ids.len() as u64;
        let answer = s3
            .delete_objects()
            .bucket(bucket)
            .delete(
                Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("deleting from s3://{bucket}: {}", crate::aws::describe(&e))
            })?;
        if let Some(error) = answer.errors().first() {
            anyhow::bail!(
                "S3 refused to delete {} from s3://{bucket}: {}",
                error.key().unwrap_or("an object"),
                error.message().or(error.code()).unwrap_or("unknown error")
            );
        }
        deleted += n;
    }
}

fn identifier(key: Option<&str>, version: Option<&str>) -> Result<ObjectIdentifier> {
    ObjectIdentifier::builder()
        .key(key.context("S3 listed a version without a key")?)
        .set_version_id(version.map(str::to_string))
        .build()
        .context("building the delete request")
}
