//! Typed model of the pipeline's infrastructure (DESIGN.md §4): an [`Environment`] as written is
//! [validated](Environment::validate) into a [`Validated`] one, composed into a [`Pipeline`] of typed building
//! blocks whose references are typed values, and [rendered](render::render) to Terraform JSON split by component
//! plus the documents of `templates/`; the rendered module is then held to AWS's own rules
//! ([`conformance`]), which the emulator does not enforce, and the declared traffic to the latency objective
//! ([`latency`], with the latency model). [`output`] writes and drift-checks `generated/<env>/`; [`terraform`]
//! runs the real Terraform over it.

pub mod aws_rules;
pub mod cidr;
pub mod config;
pub mod conformance;
pub mod docs;
pub mod documents;
pub mod function;
pub mod iam;
pub mod identity;
pub mod latency;
pub mod link;
pub mod monitoring;
pub mod network;
pub mod on_premise;
pub mod output;
pub mod pipeline;
pub mod queue;
pub mod render;
pub mod retention;
pub mod schedule;
pub mod secrets;
pub mod sizing;
pub mod storage;
pub mod tables;
pub mod terraform;
pub mod tf;
pub mod watch;

use std::collections::BTreeMap;

pub use config::{Environment, Kind, Validated, Violations};
pub use pipeline::Pipeline;

/// Validates, composes and renders one environment, and checks what was rendered against AWS's rules:
/// file name → content, or every violation.
pub fn generate(env: Environment) -> Result<BTreeMap<String, String>, Error> {
    render_checked(&Pipeline::new(&env.validate()?))
}

/// Renders a pipeline already composed from a validated environment, and checks what was rendered against
/// AWS's rules: file name → content, or every violation.
pub fn render_checked(pipeline: &Pipeline) -> Result<BTreeMap<String, String>, Error> {
    let files = render::render(pipeline)?;
    conformance::check(&pipeline.validated.env().name, &files)?;
    Ok(files)
}

/// Anything that stops an environment from being generated.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Violations),
    #[error(transparent)]
    Render(#[from] render::RenderError),
}
