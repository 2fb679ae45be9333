//! The environments as generated, and the repository standing alone: drift of generated/, documents and their links, checkov, terraform validate and apply against moto, limits, TLS-only policies.
//!
//! One test binary for the crate (as ripgrep's tests are), so the crate's tests link once, not once per file;
//! each module is one area, and the helpers they share are modules here or in `test-support`.

mod common;

mod checks;
mod documents;
mod drift;
mod limits;
mod moto_apply;
mod on_premise_route;
mod operations;
mod tls_only;
