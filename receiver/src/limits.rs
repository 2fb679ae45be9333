//! How much a client may make the receiver read, unpack and wait for: the bounds that keep a bad client (a
//! huge body, a gzip bomb, a client that sends slowly or stops) from filling the disk, the memory, or holding a
//! connection for ever.

use std::time::Duration;

/// The receiver's bounds; [`Limits::default`] suits bundles up to the aggregator's default cap with room to spare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body accepted, in bytes: above it 413, before anything beyond it is written.
    pub max_body_bytes: u64,
    /// The most bytes a bundle may unpack to while it is verified: above it 413, as soon as it is reached.
    pub max_unpacked_bytes: u64,
    /// The most tar entries a bundle may hold: above it 422.
    pub max_entries: u64,
    /// How long the receiver waits for a request's headers (all of them) and for each next piece of its body;
    /// a body that stalls longer gets 408 and the connection is closed.
    pub read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            // Twice the aggregator's default bundle cap (BUNDLE_MAX_BYTES, 256 MiB).
            max_body_bytes: 512 << 20,
            // 16 x the largest body: text and JSON bundles unpack 5-10 x; a gzip bomb unpacks ~1000 x.
            max_unpacked_bytes: 8 << 30,
            // A bundle holds one entry per file of a batch (at most 10,000 messages) plus the manifest.
            max_entries: 100_000,
            read_timeout: Duration::from_secs(30),
        }
    }
}
