//! Proof of delivery: the daily reconciliation report. For one UTC day it accounts for every object version
//! that landed — delivered (with its bundle, the bundle's place in the archive, and its latency), dead-lettered
//! (with the reason), pending (waiting in the queue), or unexplained (none of these: the headline number, 0 on
//! a healthy day) — writes the report as JSON and HTML, notifies the alarm topic, emits metrics, and can re-send
//! what nothing accounts for. It reads what the aggregator records (the `app` library: identities, idempotency
//! records, DLQ attributes, the archive's layout, EMF) and writes nowhere the aggregator reads.

pub mod account;
pub mod archive;
pub mod backlog;
pub mod config;
pub mod day;
pub mod dead_letters;
pub mod error;
pub mod html;
pub mod inventory;
pub mod landed;
pub mod listing;
pub mod publish;
pub mod reconcile;
pub mod report;
pub mod requeue;
pub mod tally;

pub use config::Config;
pub use day::Day;
pub use error::ReportError;
pub use reconcile::{Reconciliation, Reporter};
pub use report::Report;
