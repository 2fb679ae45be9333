//! The aggregator's integration tests: end to end against moto server and the receiver, the sinks, TLS, resilience.
//!
//! One test binary for the crate (as ripgrep's tests are), so the crate's tests link once, not once per file;
//! each module is one area, and the helpers they share are modules here or in `test-support`.

mod common;

mod aggregator;
mod delivery;
mod minio;
mod probe;
mod resilience;
mod tls;
