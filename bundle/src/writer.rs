//! Writes one bundle as a stream: tar entries → gzip members → SHA-256 and a spool file.
//!
//! Nothing of the bundle is held in memory beyond a few compression blocks and one entry's reader, so a
//! bundle of thousands of files costs the same memory as one of ten. The writer is synchronous (tar is);
//! the handler drives it from a blocking thread while the compression workers use the other cores.
//!
//! It also knows, before a file is appended, the most the finished bundle could then weigh
//! ([`BundleWriter::size_bound_with`]), so a caller with a byte cap can close a bundle before it would pass it.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::layout::{FORMAT, entry_path};
use crate::manifest::{FileEntry, MANIFEST_NAME, Manifest};
use crate::members::MemberWriter;

/// A tar header block, and the unit tar pads everything to.
const TAR_BLOCK: u64 = 512;
/// The longest path a tar header holds itself; longer ones take a GNU long-name entry before the header.
const TAR_NAME_FIELD: usize = 100;
/// The two zero blocks that end a tar.
const TAR_END: u64 = 2 * TAR_BLOCK;
/// What a file's record can add to the pretty-printed manifest beyond its compact JSON (indentation,
/// line breaks, the separating comma).
const PRETTY_ENTRY_OVERHEAD: u64 = 128;

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
    /// The most the manifest can weigh with the files so far.
    manifest_bound: u64,
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
        let empty = Manifest {
            format: FORMAT,
            bundle_id,
            created_at,
            files: Vec::new(),
        };
        let manifest_bound = json_len(&empty, true) + PRETTY_ENTRY_OVERHEAD;
        Ok(BundleWriter {
            bundle_id: empty.bundle_id,
            created_at: empty.created_at,
            tar,
            spool,
            files: Vec::new(),
            bytes_in: 0,
            manifest_bound,
        })
    }

    /// Appends one file at the next `files/<index>/` path; `entry.size` must be the number of bytes `data`
    /// yields. The writer sets `entry.path` (the layout is its to decide); what the caller put there is replaced.
    pub fn append(&mut self, mut entry: FileEntry, data: impl Read) -> Result<(), BundleError> {
        entry.path = entry_path(self.files.len(), &entry.key);
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
        self.manifest_bound += json_len(&entry, false) + PRETTY_ENTRY_OVERHEAD;
        self.files.push(entry);
        Ok(())
    }

    /// The most the finished bundle (spool file) can weigh if `entry` is appended next and the bundle is then
    /// finished: compressed bytes so far, plus every byte still to be compressed — what the compressor holds,
    /// this file's tar entry, the manifest's — at gzip's worst expansion.
    pub fn size_bound_with(&self, entry: &FileEntry) -> u64 {
        let path = entry_path(self.files.len(), &entry.key);
        let record = FileEntry {
            path,
            ..entry.clone()
        };
        let manifest = self.manifest_bound + json_len(&record, false) + PRETTY_ENTRY_OVERHEAD;
        let more = tar_entry_len(record.path.len(), entry.size)
            + tar_entry_len(MANIFEST_NAME.len(), manifest)
            + TAR_END;
        self.tar.get_ref().size_bound_after(more)
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
            format: FORMAT,
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

/// The bytes a tar entry takes: its header, a GNU long-name entry when the path does not fit the header,
/// and the data padded to whole blocks.
fn tar_entry_len(path_len: usize, size: u64) -> u64 {
    let long_name = if path_len >= TAR_NAME_FIELD {
        TAR_BLOCK + (path_len as u64 + 1).next_multiple_of(TAR_BLOCK)
    } else {
        0
    };
    TAR_BLOCK + long_name + size.next_multiple_of(TAR_BLOCK)
}

/// The length of `value` as JSON, compact or pretty, without keeping the text.
fn json_len(value: &impl serde::Serialize, pretty: bool) -> u64 {
    let mut counter = ByteCounter(0);
    let written = if pretty {
        serde_json::to_writer_pretty(&mut counter, value)
    } else {
        serde_json::to_writer(&mut counter, value)
    };
    // Plain structs of strings and numbers always serialize; were one not to, count it as too large to fit.
    written.map_or(u64::MAX / 4, |()| counter.0)
}

struct ByteCounter(u64);

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
            path: String::new(),
            version_id: None,
            size: data.len() as u64,
            etag: "e".into(),
            event_time: "2026-11-22T01:02:03Z".into(),
            sha256: hex::encode(Sha256::digest(data)),
        }
    }

    fn entry_names(bytes: &[u8]) -> Vec<String> {
        tar::Archive::new(MultiGzDecoder::new(bytes))
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                String::from_utf8_lossy(&e.path_bytes()).into_owned()
            })
            .collect()
    }

    #[test]
    fn writes_indexed_entries_then_the_manifest_with_matching_hash() {
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
        let names = entry_names(&bytes);
        assert_eq!(
            names,
            [
                "files/000000/a.txt".to_string(),
                format!("files/000001/{long_key}"),
                "files/000002/%2E%2E/escape".to_string(),
                MANIFEST_NAME.to_string(),
            ]
        );
        let paths: Vec<&str> = bundle
            .manifest
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(paths, names[..3]);
        assert_eq!(bundle.manifest.files[2].key, "../escape");
        assert_eq!(bundle.manifest.format, FORMAT);
        assert_eq!(bundle.bytes_in, 11);
    }

    /// Incompressible files under keys whose manifest records grow most (control bytes are six bytes each
    /// in JSON): at every cut the finished bundle is within the bound given before its last file.
    #[test]
    fn the_size_bound_given_before_a_file_holds_once_the_bundle_is_finished() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        };
        let files: Vec<(String, Vec<u8>)> = (0..12)
            .map(|i| {
                let key = format!("{}/{i}", "\u{1}".repeat(200 + i * 70));
                (key, noise([0, 1, 511, 512, 300_000, 1 << 20][i % 6] + i))
            })
            .collect();
        for n in [1, 2, 6, 12] {
            let mut w =
                BundleWriter::new("id".into(), "2026-11-22T01:02:04Z".into(), 5).expect("writer");
            let mut bound = 0;
            for (key, data) in &files[..n] {
                let e = entry(key, data);
                bound = w.size_bound_with(&e);
                w.append(e, data.as_slice()).expect("append");
            }
            let bundle = w.finish().expect("finish");
            assert!(
                bundle.size <= bound,
                "{n} files: {} bytes, bound {bound}",
                bundle.size
            );
            // Tight enough to cut near the cap: what is still in the compressor counts uncompressed.
            assert!(
                bound - bundle.size < 8 << 20,
                "{n} files: bound {bound}, size {}",
                bundle.size
            );
        }
    }
}
