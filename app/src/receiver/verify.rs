//! Checks an unpacked bundle against its `MANIFEST.json`, the way the NiFi flow would, before anything is stored;
//! within the receiver's limits on unpacked bytes and entries, so a gzip bomb stops early.
//!
//! The manifest is the last entry, named `MANIFEST.json` at the top level; in a format-2 bundle every other
//! entry is under `files/` (docs/bundle-format.md). A bundle without `format` in its manifest is format 1,
//! written before that layout (archived bundles still replay): its files may be anywhere but the last entry.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::limits::Limits;
use crate::bundle::layout::{self, OutsideFiles, Place};
use crate::manifest::{MANIFEST_NAME, Manifest};

/// A manifest far above any real bundle's is refused rather than read into memory.
const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;
/// A rejection names at most this many problems, so one broken bundle cannot produce an enormous answer.
const MAX_PROBLEMS: usize = 20;

/// Why a bundle does not match what it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the body is not a readable tar.gz: {0}")]
    Unreadable(#[source] io::Error),
    #[error("the bundle has no {MANIFEST_NAME}")]
    NoManifest,
    #[error("{MANIFEST_NAME} is not the last entry of the bundle (`{0}` follows it)")]
    ManifestNotLast(String),
    #[error("{MANIFEST_NAME} is not valid: {0}")]
    BadManifest(String),
    #[error(transparent)]
    Outside(#[from] OutsideFiles),
    #[error("the bundle does not match its manifest: {}", .0.join("; "))]
    Mismatch(Vec<String>),
    #[error(
        "the bundle unpacks to more than {0} bytes, this receiver's limit (--max-unpacked-bytes); verification stopped there"
    )]
    UnpackedTooLarge(u64),
    #[error("the bundle holds more than {0} entries, this receiver's limit (--max-entries)")]
    TooManyEntries(u64),
}

/// What the headers of the request claimed.
#[derive(Debug, Clone)]
pub(crate) struct Claimed<'a> {
    pub bundle_id: &'a str,
    pub file_count: u64,
}

#[derive(Debug)]
struct Seen {
    size: u64,
    sha256: String,
}

/// Reads the tar.gz at `path` once, hashing every entry as it streams by, and checks the result; stops as soon
/// as it unpacks to more than the limits allow.
pub(crate) fn verify_bundle(
    path: &Path,
    claimed: &Claimed<'_>,
    limits: &Limits,
) -> Result<Manifest, VerifyError> {
    let file = File::open(path).map_err(VerifyError::Unreadable)?;
    let exceeded = Rc::new(Cell::new(false));
    let mut archive = tar::Archive::new(Bounded {
        inner: MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, file)),
        left: limits.max_unpacked_bytes,
        exceeded: exceeded.clone(),
    });
    // Whatever layer reports it (tar wraps read errors), a read past the bound is that, not a broken bundle.
    let unreadable = |e: io::Error| {
        if exceeded.get() {
            VerifyError::UnpackedTooLarge(limits.max_unpacked_bytes)
        } else {
            VerifyError::Unreadable(e)
        }
    };
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut problems = Problems::default();
    let mut manifest: Option<Manifest> = None;
    // Known to be wrong only once the manifest (the last entry) says the bundle is format 2.
    let mut first_outside: Option<String> = None;
    let mut entries = 0u64;

    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(VerifyError::TooManyEntries(limits.max_entries));
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if manifest.is_some() {
            return Err(VerifyError::ManifestNotLast(name));
        }
        let place = layout::place_of(&entry.path_bytes());
        if place == Place::Outside && first_outside.is_none() {
            first_outside = Some(name.clone());
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            // Directory entries carry no content; tar tools add them freely.
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            problems.push(format!("entry `{name}` is not a regular file ({kind:?})"));
            continue;
        }
        if place == Place::Manifest {
            if entry.size() > MAX_MANIFEST_BYTES {
                return Err(VerifyError::BadManifest(format!(
                    "{} bytes is too large",
                    entry.size()
                )));
            }
            let mut raw = Vec::new();
            entry.read_to_end(&mut raw).map_err(unreadable)?;
            let parsed: Manifest = serde_json::from_slice(&raw)
                .map_err(|e| VerifyError::BadManifest(e.to_string()))?;
            manifest = Some(parsed);
            continue;
        }
        let mut hasher = Sha256::new();
        let size = io::copy(&mut entry, &mut HashWriter(&mut hasher)).map_err(unreadable)?;
        let sha256 = hex::encode(hasher.finalize());
        if seen.insert(name.clone(), Seen { size, sha256 }).is_some() {
            problems.push(format!("entry `{name}` appears more than once"));
        }
    }

    let manifest = manifest.ok_or(VerifyError::NoManifest)?;
    if let Some(name) = first_outside.filter(|_| manifest.format >= layout::FORMAT) {
        return Err(OutsideFiles(name).into());
    }
    check(&manifest, &seen, claimed, &mut problems);
    if problems.list.is_empty() {
        Ok(manifest)
    } else {
        Err(VerifyError::Mismatch(problems.finish()))
    }
}

fn check(
    manifest: &Manifest,
    seen: &HashMap<String, Seen>,
    claimed: &Claimed<'_>,
    problems: &mut Problems,
) {
    if manifest.bundle_id != claimed.bundle_id {
        problems.push(format!(
            "manifest bundle_id `{}` differs from the x-bundle-id header `{}`",
            manifest.bundle_id, claimed.bundle_id
        ));
    }
    let listed = manifest.files.len() as u64;
    if listed != claimed.file_count {
        problems.push(format!(
            "manifest lists {listed} files but the x-file-count header says {}",
            claimed.file_count
        ));
    }
    let mut listed_paths = HashSet::new();
    for file in &manifest.files {
        if !listed_paths.insert(file.path.as_str()) {
            problems.push(format!("manifest lists `{}` more than once", file.path));
            continue;
        }
        match seen.get(&file.path) {
            None => problems.push(format!(
                "file `{}` is listed in the manifest but missing from the bundle",
                file.path
            )),
            Some(entry) => {
                if entry.size != file.size {
                    problems.push(format!(
                        "file `{}` is {} bytes but the manifest says {}",
                        file.path, entry.size, file.size
                    ));
                }
                if !entry.sha256.eq_ignore_ascii_case(&file.sha256) {
                    problems.push(format!(
                        "file `{}` has sha256 {} but the manifest says {}",
                        file.path, entry.sha256, file.sha256
                    ));
                }
            }
        }
    }
    let mut unlisted: Vec<&String> = seen
        .keys()
        .filter(|p| !listed_paths.contains(p.as_str()))
        .collect();
    unlisted.sort();
    for path in unlisted {
        problems.push(format!(
            "entry `{path}` is in the bundle but not in the manifest"
        ));
    }
}

#[derive(Default)]
struct Problems {
    list: Vec<String>,
    more: usize,
}

impl Problems {
    fn push(&mut self, problem: String) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(problem);
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.list.push(format!("and {} more problems", self.more));
        }
        self.list
    }
}

/// Passes what it reads on, and fails (noting why) once more than `left` bytes have passed.
struct Bounded<R> {
    inner: R,
    left: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.exceeded.set(true);
            return Err(io::Error::other("the unpacked size limit was reached"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
