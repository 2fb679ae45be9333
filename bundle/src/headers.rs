//! The HTTP headers a bundle travels with: the wire contract between the senders (the aggregator, replay) and
//! the receiver, beside the manifest inside the bundle.

/// Hex SHA-256 of the body; NiFi's CryptographicHashContent computes the same.
pub const CONTENT_SHA256: &str = "x-content-sha256";
pub const BUNDLE_ID: &str = "x-bundle-id";
pub const FILE_COUNT: &str = "x-file-count";
/// NiFi ListenHTTP names the flow file from this header.
pub const FILENAME: &str = "filename";
/// Set to `true` when a bundle is sent again from the archive.
pub const REPLAY: &str = "x-replay";
/// A tar.gz is opaque bytes to the endpoint: `Content-Encoding: gzip` would make NiFi gunzip it.
pub const BUNDLE_CONTENT_TYPE: &str = "application/gzip";
