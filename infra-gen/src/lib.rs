//! Typed model of the pipeline's infrastructure (DESIGN.md §4): an [`Environment`] as written is
//! [validated](Environment::validate) into a [`Validated`] one, composed into a [`Pipeline`] of typed building
//! blocks whose references are typed values, and [rendered](render::render) to Terraform JSON split by component
//! plus the documents of `templates/`. [`output`] writes and drift-checks `generated/<env>/`; [`terraform`]
//! runs the real Terraform over it. [`latency`] checks the latency objective with the latency model.

pub mod config;
pub mod docs;
pub mod function;
pub mod iam;
pub mod identity;
pub mod latency;
pub mod monitoring;
pub mod network;
pub mod output;
pub mod pipeline;
pub mod queue;
pub mod render;
pub mod secrets;
pub mod storage;
pub mod tables;
pub mod terraform;
pub mod tf;

pub use config::{Environment, Kind, Validated, Violations};
pub use pipeline::Pipeline;

/// Validates, composes and renders one environment: file name → content.
pub fn generate(env: Environment) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let validated = env.validate()?;
    Ok(render::render(&Pipeline::new(&validated))?)
}

/// Anything that stops an environment from being generated.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Violations),
    #[error(transparent)]
    Render(#[from] render::RenderError),
}
