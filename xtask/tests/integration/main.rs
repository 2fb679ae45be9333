//! The `cargo xtask` commands run as people and CI run them: guards, bundle, secret, bootstrap, replay, deploy, local,
//! doctor, releases, the workflows.
//!
//! One test binary for the crate (as ripgrep's tests are), so the crate's tests link once, not once per file;
//! each module is one area, and the helpers they share are modules here or in `test-support`.

mod common;

mod aws;
mod bundle;
mod deploy_local;
mod doctor;
mod guards;
mod local;
mod release;
mod workflows;
