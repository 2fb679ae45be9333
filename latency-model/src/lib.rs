//! A model of the pipeline's latency, deterministic for a seed: files land ([`traffic`]), S3 notifies the queue,
//! Lambda's event source mapping batches and invokes ([`esm`]: the rules the local mapping follows too), the
//! handler works through each batch ([`service`]: the service times, measured or published and cited), and the
//! endpoint acknowledges (with an optional outage). [`sim`] plays it; [`outcome`] says what it found;
//! [`search`] finds the highest rate that meets the objective and the settings that would meet it.
//!
//! `cargo xtask model <env>` runs it for an environment, and infra-gen's validation runs it on the traffic each
//! environment declares, so a configuration that would miss the objective is refused before it is deployed.

pub mod esm;
pub mod outcome;
pub mod rng;
pub mod search;
pub mod service;
mod shared;
pub mod sim;
pub mod traffic;

pub use outcome::Outcome;
pub use service::{Objective, Pipeline};
pub use sim::{simulate, simulate_against};
pub use traffic::{Scenario, Traffic};
