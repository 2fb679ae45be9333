//! Writes one bundle as a stream: tar entries → gzip members → SHA-256 and a spool file.
//!
//! Nothing of the bundle is held in memory beyond a few compression blocks and one entry's reader, so a
//! bundle of thousands of files costs the same memory as one of ten. The writer is synchronous (tar is);
//! the handler drives it from a blocking thread while the compression workers use the other cores.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::manifest::{FileEntry, MANIFEST_NAME, Manifest};
use crate::members::MemberWriter;

/// A finished bundle on disk.
#[derive(Debug)]
pub struct Bundle {
    pub manifest: Manifest,
    /// The spool file; removed when the bundle is dropped.
    pub file: NamedTempFile,
    /// Raw SHA-256 of the compressed bytes.
    pub sha256: [u8; 32],
    /// Size of the compressed bytes.
    pub size: u64,
    /// Sum of the files' sizes.
    pub bytes_in: u64,
}

impl Bundle {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    pub fn sha256_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.sha256)
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The file name the bundle travels under (`filename` header, archive key suffix).
    pub fn file_name(&self) -> String {
        format!("{}.tar.gz", self.manifest.bundle_id)
    }
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "could not write the bundle's spool file in {dir}: {source} (is the temp dir full? /tmp holds the bundle)"
    )]
    Spool {
        dir: String,
        #[source]
        source: io::Error,
    },
    #[error("could not add `{key}` to the bundle: {source}")]
    Entry {
        key: String,
        #[source]
        source: io::Error,
    },
    #[error("could not start the compressor: {0}")]
    Compressor(#[source] io::Error),
    #[error("could not finish the bundle: {0}")]
    Finish(#[source] io::Error),
}

/// Counts and hashes what passes through to the spool file.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A bundle being written.
pub struct BundleWriter {
    bundle_id: String,
    created_at: String,
    tar: tar::Builder<MemberWriter<HashingWriter<BufWriter<File>>>>,
    spool: NamedTempFile,
    files: Vec<FileEntry>,
    bytes_in: u64,
}

impl BundleWriter {
    /// Starts a bundle spooled in the temp dir, compressed on every core.
    pub fn new(
        bundle_id: String,
        created_at: String,
        gzip_level: u32,
    ) -> Result<BundleWriter, BundleError> {
        BundleWriter::new_in(&std::env::temp_dir(), bundle_id, created_at, gzip_level)
    }

    /// Starts a bundle spooled in `dir` (where it is to be kept, so that keeping it is a rename).
    pub fn new_in(
        dir: &Path,
        bundle_id: String,
        created_at: String,
        gzip_level: u32,
    ) -> Result<BundleWriter, BundleError> {
        let spool_error = |source| BundleError::Spool {
            dir: dir.display().to_string(),
            source,
        };
        let spool = tempfile::Builder::new()
            .prefix("bundle-")
            .suffix(".tar.gz")
            .tempfile_in(dir)
            .map_err(spool_error)?;
        let file = spool.reopen().map_err(spool_error)?;
        let hashing = HashingWriter {
            inner: BufWriter::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
            written: 0,
        };
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let gzip =
            MemberWriter::new(hashing, gzip_level, threads).map_err(BundleError::Compressor)?;
        let mut tar = tar::Builder::new(gzip);
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(BundleWriter {
            bundle_id,
            created_at,
            tar,
            spool,
            files: Vec::new(),
            bytes_in: 0,
        })
    }

    /// Appends one file; `entry.size` must be the number of bytes `data` yields.
    pub fn append(&mut self, entry: FileEntry, data: impl Read) -> Result<(), BundleError> {
        let mut header = tar::Header::new_gnu();
        header.set_size(entry.size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(mtime_of(&entry.event_time));
        self.tar
            .append_data(&mut header, &entry.path, data)
            .map_err(|source| BundleError::Entry {
                key: entry.key.clone(),
                source,
            })?;
        self.bytes_in += entry.size;
        self.files.push(entry);
        Ok(())
    }

    /// How many files the bundle holds so far.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Appends `MANIFEST.json`, closes the gzip stream and returns the bundle with its hash.
    pub fn finish(mut self) -> Result<Bundle, BundleError> {
        let manifest = Manifest {
            bundle_id: self.bundle_id,
            created_at: self.created_at,
            files: self.files,
        };
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| BundleError::Finish(e.into()))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(mtime_of(&manifest.created_at));
        self.tar
            .append_data(&mut header, MANIFEST_NAME, json.as_slice())
            .map_err(BundleError::Finish)?;
        let gzip = self.tar.into_inner().map_err(BundleError::Finish)?;
        let mut hashing = gzip.finish().map_err(BundleError::Finish)?;
        hashing.flush().map_err(BundleError::Finish)?;
        let file = hashing
            .inner
            .into_inner()
            .map_err(|e| BundleError::Finish(e.into_error()))?;
        file.sync_all().map_err(BundleError::Finish)?;
        Ok(Bundle {
            manifest,
            file: self.spool,
            sha256: hashing.hasher.finalize().into(),
            size: hashing.written,
            bytes_in: self.bytes_in,
        })
    }
}

/// The tar mtime of an entry: its S3 event time, so the same files always make the same entries.
fn mtime_of(rfc3339: &str) -> u64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp().max(0) as u64)
        .unwrap_or(0)
}

/// The path an object takes inside the tar: its key, unless the key would not be a safe relative path.
pub fn entry_path(key: &str) -> String {
    let unsafe_component = key
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..");
    if key.is_empty() || unsafe_component {
        format!(
            "unsafe-keys/{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        )
    } else {
        key.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;

    fn entry(key: &str, data: &[u8]) -> FileEntry {
        FileEntry {
            bucket: "b".into(),
            key: key.into(),
            path: entry_path(key),
            version_id: None,
            size: data.len() as u64,
            etag: "e".into(),
            event_time: "2026-11-22T01:02:03Z".into(),
            sha256: hex::encode(Sha256::digest(data)),
        }
    }

    #[test]
    fn writes_entries_then_manifest_with_matching_hash() {
        let mut w =
            BundleWriter::new("id-1".into(), "2026-11-22T01:02:04Z".into(), 6).expect("writer");
        let long_key = format!("{}/file with space+ü.txt", "d".repeat(150));
        w.append(entry("a.txt", b"hello"), &b"hello"[..])
            .expect("append");
        w.append(entry(&long_key, b"world"), &b"world"[..])
            .expect("append");
        w.append(entry("../escape", b"x"), &b"x"[..])
            .expect("append");
        let bundle = w.finish().expect("finish");

        let bytes = std::fs::read(bundle.path()).expect("read spool");
        assert_eq!(bytes.len() as u64, bundle.size);
        assert_eq!(Sha256::digest(&bytes).as_slice(), &bundle.sha256);
        let mut archive = tar::Archive::new(MultiGzDecoder::new(bytes.as_slice()));
        let names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names[0], "a.txt");
        assert_eq!(names[1], long_key);
        assert!(names[2].starts_with("unsafe-keys/"));
        assert_eq!(names[3], MANIFEST_NAME);
        assert_eq!(bundle.manifest.files[2].key, "../escape");
        assert_eq!(bundle.bytes_in, 11);
    }

    #[test]
    fn unsafe_keys_are_renamed() {
        for key in ["", "/abs", "a//b", "./a", "a/..", "dir/"] {
            assert!(entry_path(key).starts_with("unsafe-keys/"), "{key}");
        }
        assert_eq!(entry_path("a/b c/d+e%f=g"), "a/b c/d+e%f=g");
    }
}
