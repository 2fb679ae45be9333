//! The infrastructure model's tests: every invariant, the IAM statements, AWS's own rules, monitoring, the route to
//! on-premise, releases.
//!
//! One test binary for the crate (as ripgrep's tests are), so the crate's tests link once, not once per file;
//! each module is one area, and the helpers they share are modules here or in `test-support`.

mod common;

mod aws_rules;
mod model;
mod monitoring;
mod on_premise;
mod release;
