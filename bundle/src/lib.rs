//! The bundle: what the aggregator writes, the receiver and replay verify, and `cargo xtask bundle` makes
//! from a directory. A `.tar.gz` — each file at `files/<index>/<escaped key>`, `MANIFEST.json` last (see
//! `layout` and docs/bundle-format.md) — hashed with SHA-256 as it is written to a spool file. With the HTTP
//! headers it travels with (`headers`), it is the whole contract between the senders and the receiver.
//!
//! It is its own crate so that the hot path (deflate, SHA-256, tar) is optimised even in debug builds
//! (see the workspace's `profile.dev.package` section), and so that every tool shares exactly one writer.

pub mod capacity;
pub mod headers;
pub mod layout;
pub mod manifest;
mod members;
mod writer;

/// The gzip level bundles are written at unless configured: libdeflate's level 5 compresses JSON lines
/// better than gzip -6 at about twice its speed (`cargo xtask bench`, docs/performance.md).
pub const DEFAULT_LEVEL: u32 = 5;

pub use layout::entry_path;
pub use members::{BLOCK_SIZE, MEMBER_OVERHEAD, MemberWriter};
pub use writer::{Bundle, BundleError, BundleWriter};
