//! Downloads one landing object, streaming, hashing as it goes, into memory or a temp file by size; and says
//! what a failed S3 read means: gone, never readable as it is, or worth retrying.
//!
//! The handler runs many of these at once (bounded by `DOWNLOAD_CONCURRENCY` and, in bytes by the events'
//! sizes, by `DOWNLOAD_BUFFER_BYTES` through [`DownloadBudget`]) and feeds their results to the bundle writer
//! one at a time, so memory and the temp dir hold at most the budget — or one larger object, alone.

use std::fs::File;
use std::io::{self, Cursor, Read, Write};
use std::path::Path;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::event::ObjectRef;
use crate::manifest::FileEntry;

/// A downloaded object.
#[derive(Debug)]
pub struct Fetched {
    pub object: ObjectRef,
    pub size: u64,
    pub etag: String,
    pub version_id: Option<String>,
    pub sha256_hex: String,
    pub data: Spooled,
}

impl Fetched {
    /// The object's record for the manifest (the bundle writer sets its path).
    pub fn entry(&self) -> FileEntry {
        FileEntry {
            bucket: self.object.bucket.clone(),
            key: self.object.key.clone(),
            path: String::new(),
            version_id: self.version_id.clone(),
            size: self.size,
            etag: self.etag.clone(),
            event_time: self.object.event_time.clone(),
            sha256: self.sha256_hex.clone(),
        }
    }
}

/// Where a downloaded object's bytes wait to be written into the bundle.
#[derive(Debug)]
pub enum Spooled {
    Memory(Vec<u8>),
    File(NamedTempFile),
}

impl Spooled {
    /// Reads the bytes from the start.
    pub fn reader(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            Spooled::Memory(bytes) => Box::new(Cursor::new(bytes.as_slice())),
            Spooled::File(file) => Box::new(io::BufReader::new(File::open(file.path())?)),
        })
    }
}

/// Why an object could not be downloaded, by what is to be done about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// It, or the version the event names, does not exist any more: permanent.
    #[error("{object} does not exist ({code}): it was deleted before it could be bundled")]
    Gone { object: String, code: String },
    /// It exists but cannot be read as it is (archive storage class, SSE-C, access denied, a key S3 will not
    /// take): permanent until someone changes the object or the permissions.
    #[error("{object} cannot be read ({code}): {why}")]
    Unreadable {
        object: String,
        code: String,
        why: &'static str,
    },
    /// Throttling, a server error, a timeout, a broken connection: worth retrying.
    #[error("could not download {object}: {detail}")]
    Transient { object: String, detail: String },
    /// The local temp dir could not take it (full, or otherwise failing).
    #[error(
        "could not keep {object} in {dir}: {detail} (the temp dir holds downloads and the bundle)"
    )]
    Local {
        object: String,
        dir: String,
        detail: String,
    },
}

/// What a failed S3 request about an object means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Gone,
    Unreadable(&'static str),
    Transient,
}

/// Classifies an S3 error by its code (and HTTP status when the code says nothing, as for HEAD).
pub fn classify(status: Option<u16>, code: &str) -> ErrorClass {
    match code {
        "NoSuchKey" | "NoSuchVersion" | "NoSuchBucket" => ErrorClass::Gone,
        "InvalidObjectState" => ErrorClass::Unreadable(
            "it is in an archive storage class (GLACIER, DEEP_ARCHIVE) and not restored: restore it, then redrive the message",
        ),
        "AccessDenied" | "AllAccessDisabled" => ErrorClass::Unreadable(
            "access denied: the function's role, the bucket policy or the KMS key policy does not let it read the object",
        ),
        "KeyTooLongError" | "InvalidURI" => {
            ErrorClass::Unreadable("S3 does not accept its key in a request")
        }
        // Clock skew, expired credentials, slow sockets and throttling heal by themselves.
        "RequestTimeout"
        | "RequestTimeTooSkewed"
        | "ExpiredToken"
        | "TokenRefreshRequired"
        | "InternalError"
        | "ServiceUnavailable"
        | "SlowDown" => ErrorClass::Transient,
        _ if code.contains("Throttl") || code.contains("TooManyRequests") => ErrorClass::Transient,
        _ => match status {
            Some(404) => ErrorClass::Gone,
            Some(403) => ErrorClass::Unreadable(
                "access denied (HTTP 403): the function's role, the bucket policy or the KMS key policy does not let it read the object",
            ),
            Some(400) => ErrorClass::Unreadable(
                "S3 refuses the request (HTTP 400): the object is encrypted with a customer-provided key (SSE-C), which the pipeline does not have",
            ),
            _ => ErrorClass::Transient,
        },
    }
}

/// The [`FetchError`] an S3 error about `object` amounts to.
pub fn s3_error<E: ProvideErrorMetadata>(
    e: &SdkError<E, HttpResponse>,
    object: &ObjectRef,
) -> FetchError {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or("unknown").to_string();
    let class = match e {
        SdkError::ConstructionFailure(_) => {
            ErrorClass::Unreadable("no request can be made for its key")
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => ErrorClass::Transient,
        _ => classify(status, &code),
    };
    match class {
        ErrorClass::Gone => FetchError::Gone {
            object: object.display(),
            code,
        },
        ErrorClass::Unreadable(why) => FetchError::Unreadable {
            object: object.display(),
            code,
            why,
        },
        ErrorClass::Transient => FetchError::Transient {
            object: object.display(),
            detail: format!(
                "{code} (HTTP {})",
                status.map_or("-".into(), |s| s.to_string())
            ),
        },
    }
}

/// Bounds the bytes of downloads in flight by the sizes the events give: a download starts when its size
/// fits in what is left of the budget; one larger than the whole budget waits for all of it.
#[derive(Clone)]
pub struct DownloadBudget {
    kib: Arc<Semaphore>,
    total_kib: u32,
}

impl DownloadBudget {
    pub fn new(bytes: u64) -> DownloadBudget {
        let total_kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        DownloadBudget {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// Waits until `size` bytes fit; the reservation lasts as long as the permit.
    pub async fn reserve(&self, size: u64) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(size.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .min(self.total_kib);
        // The semaphore is never closed, so this only fails if that changes; a download then goes unbounded.
        self.kib.clone().acquire_many_owned(kib).await.ok()
    }
}

/// Downloads `object` (the version it names), keeping at most `memory_limit` bytes in memory and the rest
/// in a temp file in `spool_dir`.
pub async fn fetch(
    s3: &Client,
    object: &ObjectRef,
    memory_limit: u64,
    spool_dir: &Path,
) -> Result<Fetched, FetchError> {
    let transient = |detail: String| FetchError::Transient {
        object: object.display(),
        detail,
    };
    let local = |e: io::Error| FetchError::Local {
        object: object.display(),
        dir: spool_dir.display().to_string(),
        detail: e.to_string(),
    };
    let response = s3
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id.clone())
        .send()
        .await
        .map_err(|e| s3_error(&e, object))?;
    let etag = response
        .e_tag()
        .unwrap_or(&object.etag)
        .trim_matches('"')
        .to_string();
    let version_id = response
        .version_id()
        .map(str::to_string)
        .or(object.version_id.clone());
    let mut body = response.body;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut memory: Vec<u8> = Vec::new();
    let mut file: Option<NamedTempFile> = None;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| transient(format!("the download broke off: {e}")))?
    {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        match &mut file {
            Some(f) => f.write_all(&chunk).map_err(local)?,
            None if size > memory_limit => {
                let mut f = tempfile::Builder::new()
                    .prefix("download-")
                    .tempfile_in(spool_dir)
                    .map_err(local)?;
                f.write_all(&memory).map_err(local)?;
                f.write_all(&chunk).map_err(local)?;
                memory = Vec::new();
                file = Some(f);
            }
            None => memory.extend_from_slice(&chunk),
        }
    }
    let data = match file {
        Some(mut f) => {
            f.flush().map_err(local)?;
            Spooled::File(f)
        }
        None => Spooled::Memory(memory),
    };
    Ok(Fetched {
        object: object.clone(),
        size,
        etag,
        version_id,
        sha256_hex: hex::encode(hasher.finalize()),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classes moto cannot produce (it does not implement SSE-C or evaluate IAM) are pinned here; the
    /// others are exercised against moto in tests/integration/aggregator.rs.
    #[test]
    fn s3_errors_are_classified_by_code_then_status() {
        for (status, code) in [
            (404, "NoSuchKey"),
            (404, "NoSuchVersion"),
            (404, "NotFound"),
        ] {
            assert_eq!(classify(Some(status), code), ErrorClass::Gone, "{code}");
        }
        for (status, code, says) in [
            (403, "InvalidObjectState", "archive storage class"),
            (403, "AccessDenied", "access denied"),
            (403, "Forbidden", "access denied"),
            (400, "InvalidRequest", "SSE-C"),
            (400, "BadRequest", "SSE-C"),
            (400, "KeyTooLongError", "key"),
        ] {
            match classify(Some(status), code) {
                ErrorClass::Unreadable(why) => assert!(why.contains(says), "{code}: {why}"),
                other => panic!("{code} is {other:?}"),
            }
        }
        for (status, code) in [
            (503, "SlowDown"),
            (500, "InternalError"),
            (502, "unknown"),
            (400, "RequestTimeout"),
            (403, "RequestTimeTooSkewed"),
            (400, "ExpiredToken"),
            (400, "KMS.ThrottlingException"),
            (429, "TooManyRequests"),
        ] {
            assert_eq!(
                classify(Some(status), code),
                ErrorClass::Transient,
                "{code}"
            );
        }
    }
}
