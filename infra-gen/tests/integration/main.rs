//! The infrastructure model's tests: every invariant, the IAM statements, and AWS's own rules.
//!
//! One test binary for the crate (as ripgrep's tests are), so the crate's tests link once, not once per file;
//! each module is one area, and the helpers they share are modules here or in `test-support`.

mod common;

mod aws_rules;
mod model;
