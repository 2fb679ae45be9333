//! The receiver's store directory: `<bundle_id>.tar.gz` plus a `<bundle_id>.json` record per accepted bundle.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use bundle::manifest::Manifest;

use crate::ReceiverError;

/// In-flight uploads are named so that they can never be mistaken for a stored bundle or record.
pub(crate) const TEMP_PREFIX: &str = ".incoming-";
pub(crate) const TEMP_SUFFIX: &str = ".part";

/// The record written next to each stored bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBundle {
    pub bundle_id: String,
    /// Hex SHA-256 of the tar.gz, as computed by the receiver.
    pub sha256: String,
    /// Size of the tar.gz in bytes.
    pub size: u64,
    /// Whether the sender marked it as sent again from the archive (`x-replay: true`).
    pub replay: bool,
    /// The `filename` header, as NiFi would name the flow file.
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub manifest: Manifest,
}

/// Whether a bundle id can name files in the store without escaping it or hiding them.
pub(crate) fn valid_bundle_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub(crate) fn bundle_path(store: &Path, bundle_id: &str) -> PathBuf {
    store.join(format!("{bundle_id}.tar.gz"))
}

pub(crate) fn record_path(store: &Path, bundle_id: &str) -> PathBuf {
    store.join(format!("{bundle_id}.json"))
}

/// Moves a verified upload into place and writes its record, both durably, so a 200 means the bundle survives a crash.
pub(crate) fn persist(
    store: &Path,
    upload: tempfile::NamedTempFile,
    record: &StoredBundle,
) -> Result<(), io::Error> {
    upload.as_file().sync_all()?;
    upload
        .persist(bundle_path(store, &record.bundle_id))
        .map_err(|e| e.error)?;

    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(store)?;
    serde_json::to_writer_pretty(&mut tmp, record)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(record_path(store, &record.bundle_id))
        .map_err(|e| e.error)?;
    sync_dir(store)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Renames are only durable once the directory itself is flushed.
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Reads every record in a store directory, oldest first; usable on the directory of a receiver run as a process.
pub fn read_stored_bundles(store: &Path) -> Result<Vec<StoredBundle>, ReceiverError> {
    let entries = fs::read_dir(store).map_err(|source| ReceiverError::Store {
        path: store.to_owned(),
        source,
    })?;
    let mut bundles = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ReceiverError::Store {
            path: store.to_owned(),
            source,
        })?;
        let path = entry.path();
        let is_record = path.extension().is_some_and(|e| e == "json")
            && !entry.file_name().to_string_lossy().starts_with('.');
        if !is_record {
            continue;
        }
        let raw = fs::read(&path).map_err(|source| ReceiverError::Store {
            path: path.clone(),
            source,
        })?;
        let record: StoredBundle =
            serde_json::from_slice(&raw).map_err(|source| ReceiverError::Record {
                path: path.clone(),
                source,
            })?;
        bundles.push(record);
    }
    bundles.sort_by(|a, b| {
        a.received_at
            .cmp(&b.received_at)
            .then_with(|| a.bundle_id.cmp(&b.bundle_id))
    });
    Ok(bundles)
}

#[cfg(test)]
mod tests {
    use super::valid_bundle_id;

    #[test]
    fn bundle_ids_cannot_escape_the_store() {
        assert!(valid_bundle_id("0190f5e2-7c4b-7a3e-9d8f-1a2b3c4d5e6f"));
        assert!(valid_bundle_id("bundle_1.v2"));
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "a\\b",
            "x y",
            &"a".repeat(201),
        ] {
            assert!(!valid_bundle_id(bad), "{bad:?}");
        }
    }
}
