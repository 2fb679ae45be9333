//! The bundle: what the aggregator writes, the receiver and replay verify, and `cargo xtask bundle` makes
//! from a directory. One `.tar.gz` per batch — each file under its key, `MANIFEST.json` last — hashed with
//! SHA-256 as it is written to a spool file.
//!
//! It is its own crate so that the hot path (deflate, SHA-256, tar) is optimised even in debug builds
//! (see the workspace's `profile.dev.package` section), and so that every tool shares exactly one writer.

pub mod manifest;
mod members;
mod writer;

/// The gzip level bundles are written at unless configured: libdeflate's level 5 compresses JSON lines
/// better than gzip -6 at about twice its speed (`cargo xtask bench`, README "Performance").
pub const DEFAULT_LEVEL: u32 = 5;

pub use members::{BLOCK_SIZE, MemberWriter};
pub use writer::{Bundle, BundleError, BundleWriter, entry_path};
