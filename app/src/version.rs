//! Finds the object version an S3 event names when the event omits its version id, so that a file has one
//! identity — bucket, key, version id — whichever form of the event brings it.
//!
//! Events of a versioned bucket carry `versionId` in AWS; moto's do not, nor may a hand-made or replayed
//! event. Without it the identity used to fall back to the ETag, and the same version was delivered twice
//! when it came once with and once without. So: one HeadObject of the key; when the current version has the
//! event's ETag, that is the version (the usual case, one cheap request); otherwise the newest version with
//! that ETag (ListObjectVersions, which needs `s3:ListBucketVersions`). An unversioned bucket has no version
//! ids: there the ETag stays the identity, and an object overwritten since the event is gone.

use aws_sdk_s3::Client;

use crate::download::{FetchError, s3_error};
use crate::event::ObjectRef;

/// The version id of the object `object` names (None in an unversioned bucket), or why it cannot be known.
pub async fn resolve(s3: &Client, object: &ObjectRef) -> Result<Option<String>, FetchError> {
    if object.version_id.is_some() {
        return Ok(object.version_id.clone());
    }
    let head = s3
        .head_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .send()
        .await;
    match head {
        Ok(head) => {
            let version = head
                .version_id()
                .filter(|v| *v != "null")
                .map(str::to_string);
            let etag = head.e_tag().unwrap_or_default().trim_matches('"');
            if object.etag.is_empty() || etag == object.etag {
                return Ok(version);
            }
            if version.is_none() {
                return Err(FetchError::Gone {
                    object: object.display(),
                    code: format!(
                        "overwritten in an unversioned bucket: the event's ETag {} is no longer there",
                        object.etag
                    ),
                });
            }
        }
        // The current version may be a delete marker while the named one lives on as noncurrent.
        Err(e) => match s3_error(&e, object) {
            FetchError::Gone { .. } => {}
            other => return Err(other),
        },
    }
    find_by_etag(s3, object).await
}

/// The newest version of the key with the event's ETag.
async fn find_by_etag(s3: &Client, object: &ObjectRef) -> Result<Option<String>, FetchError> {
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(&object.bucket)
            .prefix(&object.key)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|e| match s3_error(&e, object) {
                FetchError::Unreadable { object, code, .. } => FetchError::Unreadable {
                    object,
                    code,
                    why: "its event has no version id and the current version is another one; finding the \
                          version needs s3:ListBucketVersions on the landing bucket",
                },
                other => other,
            })?;
        // Keys come in order, and the key itself before every longer key it is a prefix of.
        for version in page.versions() {
            if version.key() != Some(object.key.as_str()) {
                return Err(no_such_version(object));
            }
            if version.e_tag().unwrap_or_default().trim_matches('"') == object.etag {
                return Ok(version
                    .version_id()
                    .filter(|v| *v != "null")
                    .map(str::to_string));
            }
        }
        if page.is_truncated() != Some(true) {
            return Err(no_such_version(object));
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
}

fn no_such_version(object: &ObjectRef) -> FetchError {
    FetchError::Gone {
        object: object.display(),
        code: format!("no version has the event's ETag {}", object.etag),
    }
}
