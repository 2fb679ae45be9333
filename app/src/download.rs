//! Downloads one landing object, streaming, hashing as it goes, into memory or a temp file by size.
//!
//! The handler runs many of these at once (bounded by `DOWNLOAD_CONCURRENCY`) and feeds their results to the
//! bundle writer one at a time, so memory is bounded by concurrency × `MEMORY_SPOOL_LIMIT_BYTES`.

use std::fs::File;
use std::io::{self, Cursor, Read, Write};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::event::ObjectRef;

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

/// Why an object could not be downloaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// It does not exist (deleted before it was processed): permanent.
    #[error("{object} does not exist any more ({code}): it was deleted before it could be bundled")]
    NotFound { object: String, code: String },
    /// Anything else: worth retrying.
    #[error("could not download {object}: {detail}")]
    Transient { object: String, detail: String },
}

/// Downloads `object`, keeping at most `memory_limit` bytes in memory.
pub async fn fetch(
    s3: &Client,
    object: &ObjectRef,
    memory_limit: u64,
) -> Result<Fetched, FetchError> {
    let transient = |detail: String| FetchError::Transient {
        object: object.display(),
        detail,
    };
    let response = s3
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id.clone())
        .send()
        .await
        .map_err(|e| {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let code = e.code().unwrap_or("unknown").to_string();
            if status == Some(404) || code == "NoSuchKey" || code == "NoSuchVersion" {
                FetchError::NotFound {
                    object: object.display(),
                    code,
                }
            } else {
                transient(format!(
                    "{code} (HTTP {})",
                    status.map_or("-".into(), |s| s.to_string())
                ))
            }
        })?;
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
            Some(f) => f.write_all(&chunk),
            None if size > memory_limit => {
                let mut f = NamedTempFile::new()
                    .map_err(|e| transient(format!("no temp file for a large object: {e}")))?;
                let written = f.write_all(&memory).and_then(|()| f.write_all(&chunk));
                memory = Vec::new();
                file = Some(f);
                written
            }
            None => {
                memory.extend_from_slice(&chunk);
                Ok(())
            }
        }
        .map_err(|e| transient(format!("could not spool it to the temp dir: {e}")))?;
    }
    let data = match file {
        Some(mut f) => {
            f.flush()
                .map_err(|e| transient(format!("could not spool it to the temp dir: {e}")))?;
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
