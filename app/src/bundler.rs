//! Writes downloaded files into bundles of at most `BUNDLE_MAX_BYTES`, one after another, on a blocking
//! thread: a bundle is sealed when the next file could take it over the cap, handed over to be archived and
//! delivered, and the next one begins only once the handler says to go on — so the temp dir holds one bundle
//! at a time, besides the downloads in flight.
//!
//! A local I/O error (a full temp dir) or a stop from the handler ends the run: what was not handed over in a
//! bundle is listed in [`Leftovers`], so the handler can release and defer it. Nothing is dropped unlisted.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::mpsc;

use crate::bundle::{Bundle, BundleError, BundleWriter};
use crate::download::Fetched;

/// A downloaded file on its way into a bundle, with its share of the download budget.
pub struct Downloaded {
    /// The object's index in the invocation.
    pub index: usize,
    pub fetched: Fetched,
    /// Released once the bytes are in the bundle.
    pub permit: Option<OwnedSemaphorePermit>,
}

/// A finished bundle and the objects in it.
pub struct Sealed {
    pub bundle: Bundle,
    pub indexes: Vec<usize>,
    pub created: time::OffsetDateTime,
}

/// What became of the files that were not handed over in a bundle.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Not bundled because the run stopped.
    pub handed_back: Vec<usize>,
    /// Lost from a bundle to a local I/O error, with the error.
    pub local: Vec<(Vec<usize>, String)>,
    /// Alone in a bundle that still came out over the cap: the object and the bundle's size.
    pub too_large: Vec<(usize, u64)>,
}

/// The bundle a run is writing.
struct Open {
    writer: BundleWriter,
    indexes: Vec<usize>,
    created: time::OffsetDateTime,
}

/// Writes one invocation's bundles.
pub struct Bundler {
    pub spool_dir: PathBuf,
    pub gzip_level: u32,
    /// `BUNDLE_MAX_BYTES`.
    pub cap: u64,
    /// Set by either side when no more bundles are to be made; downloads check it before they start.
    pub stop: Arc<AtomicBool>,
}

impl Bundler {
    /// Takes files until `files` closes; sends each sealed bundle to `sealed` and waits on `go_on` for whether
    /// to continue. Runs on a blocking thread.
    pub fn run(
        self,
        mut files: mpsc::Receiver<Downloaded>,
        sealed: mpsc::Sender<Sealed>,
        go_on: std::sync::mpsc::Receiver<bool>,
    ) -> Leftovers {
        let mut leftovers = Leftovers::default();
        let mut open: Option<Open> = None;
        while let Some(file) = files.blocking_recv() {
            if self.stopped() {
                leftovers.handed_back.push(file.index);
                continue;
            }
            let entry = file.fetched.entry();
            let full = open.as_ref().is_some_and(|o| {
                !o.writer.is_empty() && o.writer.size_bound_with(&entry) > self.cap
            });
            if full
                && let Some(full) = open.take()
                && !self.seal(full, &sealed, &go_on, &mut leftovers)
            {
                self.stop.store(true, Ordering::Relaxed);
                leftovers.handed_back.push(file.index);
                continue;
            }
            let mut current = match open.take() {
                Some(current) => current,
                None => match self.open() {
                    Ok(current) => current,
                    Err(e) => {
                        self.fail_local(vec![file.index], &e, &mut leftovers);
                        continue;
                    }
                },
            };
            let appended = file
                .fetched
                .data
                .reader()
                .map_err(|source| BundleError::Entry {
                    key: entry.key.clone(),
                    source,
                })
                .and_then(|reader| current.writer.append(entry, reader));
            match appended {
                Ok(()) => {
                    current.indexes.push(file.index);
                    open = Some(current);
                }
                // The tar stream is broken from here on: the whole bundle goes back.
                Err(e) => {
                    let mut lost = current.indexes;
                    lost.push(file.index);
                    self.fail_local(lost, &e, &mut leftovers);
                }
            }
        }
        if let Some(last) = open.take() {
            self.seal(last, &sealed, &go_on, &mut leftovers);
        }
        leftovers
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn open(&self) -> Result<Open, BundleError> {
        let created = time::OffsetDateTime::now_utc();
        Ok(Open {
            writer: BundleWriter::new_in(
                &self.spool_dir,
                uuid::Uuid::now_v7().to_string(),
                crate::rfc3339(created),
                self.gzip_level,
            )?,
            indexes: Vec::new(),
            created,
        })
    }

    fn fail_local(&self, lost: Vec<usize>, e: &BundleError, leftovers: &mut Leftovers) {
        self.stop.store(true, Ordering::Relaxed);
        leftovers.local.push((lost, e.to_string()));
    }

    /// Finishes `open`, hands it over and waits for the word; false when the run is to stop.
    fn seal(
        &self,
        open: Open,
        sealed: &mpsc::Sender<Sealed>,
        go_on: &std::sync::mpsc::Receiver<bool>,
        leftovers: &mut Leftovers,
    ) -> bool {
        let bundle = match open.writer.finish() {
            Ok(bundle) => bundle,
            Err(e) => {
                self.fail_local(open.indexes, &e, leftovers);
                return false;
            }
        };
        // Only a bundle of one file can: every later file was checked against the cap before it went in.
        if bundle.size > self.cap {
            leftovers
                .too_large
                .extend(open.indexes.iter().map(|&i| (i, bundle.size)));
            return true;
        }
        let handed = sealed.blocking_send(Sealed {
            bundle,
            indexes: open.indexes,
            created: open.created,
        });
        if let Err(mpsc::error::SendError(back)) = handed {
            leftovers.handed_back.extend(back.indexes);
            return false;
        }
        go_on.recv().unwrap_or(false)
    }
}
