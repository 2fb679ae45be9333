//! Counters of what the receiver did, for tests and for watching a local run.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A snapshot of the receiver's counters, as `GET /_control/stats` answers them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every request except those to `/_control/*`.
    pub requests: u64,
    /// Bundles stored, duplicates included.
    pub stored: u64,
    /// Bundles stored whose id had been stored before.
    pub duplicates: u64,
    /// Rejections by reason (`bad_header`, `hash_mismatch`, `content_encoding`, `manifest_mismatch`, ...).
    pub rejected: BTreeMap<String, u64>,
    /// Requests refused for missing or wrong credentials.
    pub unauthorized: u64,
    /// Requests answered by a fault instead of normally.
    pub faulted: u64,
    /// TLS handshakes that failed (no or untrusted client certificate, client distrusting us, timeout, ...).
    #[serde(default)]
    pub tls_handshake_failures: u64,
    /// Ids of stored bundles, each once, in the order first stored.
    pub stored_bundle_ids: Vec<String>,
}

impl Stats {
    /// All rejections, whatever the reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    inner: Mutex<Stats>,
}

impl Counters {
    fn with<R>(&self, f: impl FnOnce(&mut Stats) -> R) -> R {
        // A panic elsewhere cannot leave the counters half-updated in a way that matters, so poisoning is ignored.
        let mut stats = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut stats)
    }

    pub(crate) fn snapshot(&self) -> Stats {
        self.with(|s| s.clone())
    }

    pub(crate) fn request(&self) {
        self.with(|s| s.requests += 1);
    }

    pub(crate) fn unauthorized(&self) {
        self.with(|s| s.unauthorized += 1);
    }

    pub(crate) fn faulted(&self) {
        self.with(|s| s.faulted += 1);
    }

    pub(crate) fn tls_handshake_failed(&self) {
        self.with(|s| s.tls_handshake_failures += 1);
    }

    pub(crate) fn rejected(&self, reason: &str) {
        self.with(|s| *s.rejected.entry(reason.to_owned()).or_default() += 1);
    }

    /// Counts a stored bundle; returns whether its id had been stored before.
    pub(crate) fn stored(&self, bundle_id: &str) -> bool {
        self.with(|s| {
            s.stored += 1;
            let duplicate = s.stored_bundle_ids.iter().any(|id| id == bundle_id);
            if duplicate {
                s.duplicates += 1;
            } else {
                s.stored_bundle_ids.push(bundle_id.to_owned());
            }
            duplicate
        })
    }
}
