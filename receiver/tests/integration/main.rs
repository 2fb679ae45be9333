//! The receiver's integration tests: over real HTTP(S) on loopback, the binary's flags, bad clients.
//!
//! One test binary for the crate (as ripgrep's tests are), so the crate's tests link once, not once per file;
//! each module is one area, and the helpers they share are modules here or in `test-support`.

mod receiver_binary;

mod receiver;
mod receiver_limits;
mod tls;
