//! `MANIFEST.json`, the last entry of every bundle: what the bundle carries, with a SHA-256 per file.

use serde::{Deserialize, Serialize};

/// The name of the manifest entry inside the tar.
pub const MANIFEST_NAME: &str = "MANIFEST.json";

/// The bundle's table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The schema version: [`crate::layout::FORMAT`] for what this crate writes; 1 (the field is absent)
    /// for bundles written before the `files/<index>/` layout.
    #[serde(default = "format_1")]
    pub format: u32,
    pub bundle_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub files: Vec<FileEntry>,
}

/// One delivered object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub bucket: String,
    /// The object key as S3 has it (decoded).
    pub key: String,
    /// The entry's path inside the tar, `files/<index>/<escaped key>` ([`crate::layout::entry_path`]);
    /// set by the writer.
    pub path: String,
    pub version_id: Option<String>,
    pub size: u64,
    pub etag: String,
    /// The S3 event time (RFC 3339), from which end-to-end latency is measured.
    pub event_time: String,
    /// Hex SHA-256 of the object's bytes.
    pub sha256: String,
}

fn format_1() -> u32 {
    1
}
