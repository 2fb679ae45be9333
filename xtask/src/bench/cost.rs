//! The cost model: Lambda GB-seconds per million files from the handler's measured CPU time, and the monthly
//! cost of the dev and prod environments at the seeds' volumes, from their typed definitions.
//!
//! Prices are AWS list prices (us-east-1, on-demand, arm64) written down here, because the bench has no
//! network; regional prices differ by a few percent. Edit them here when AWS changes them.

use anyhow::{Context, Result};
use serde::Serialize;

use super::handler::HandlerCost;

/// Lambda bills memory; a function gets one vCPU per 1,769 MB (AWS Lambda docs, "memory and computing power").
const MB_PER_VCPU: f64 = 1769.0;
/// The seeds' volume: 10 files/s on average, a 30-day month.
const FILES_PER_MONTH: f64 = 10.0 * 86_400.0 * 30.0;
const FILE_BYTES: f64 = 100_000.0;
/// The seeds' estimate of the aggregator's compute: about 1.2 million GB-s a month for ~26 million files.
const SEEDS_GB_SECONDS_PER_MONTH: f64 = 1_200_000.0;
const HOURS_PER_MONTH: f64 = 730.0;

const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const SQS_REQUEST: f64 = 0.40 / 1e6;
const S3_PUT: f64 = 0.005 / 1000.0;
const S3_GET: f64 = 0.000_4 / 1000.0;
const S3_STANDARD_GB_MONTH: f64 = 0.023;
const S3_DEEP_ARCHIVE_GB_MONTH: f64 = 0.000_99;
const S3_DEEP_ARCHIVE_TRANSITION: f64 = 0.05 / 1000.0;
const DYNAMODB_WRITE: f64 = 0.625 / 1e6;
const INTERFACE_ENDPOINT_HOUR: f64 = 0.01;
const NAT_GATEWAY_HOUR: f64 = 0.045;
const NAT_GATEWAY_GB: f64 = 0.045;
const KMS_KEY_MONTH: f64 = 1.0;
const SECRET_MONTH: f64 = 0.40;
const ALARM_MONTH: f64 = 0.10;
const DASHBOARD_MONTH: f64 = 3.0;
const LOGS_GB: f64 = 0.50;

#[derive(Debug, Clone, Serialize)]
pub struct CostModel {
    /// GB-s per million files if the handler kept every vCPU it is given busy: CPU seconds × 1.769 GB.
    pub gb_seconds_per_million_cpu_bound: f64,
    /// GB-s per million files at the measured wall time (moto and the local receiver included) and dev's memory.
    pub gb_seconds_per_million_measured_wall: f64,
    pub seeds_gb_seconds_per_million: f64,
    pub environments: Vec<EnvironmentCost>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentCost {
    pub name: String,
    pub memory_mb: u32,
    pub lines: Vec<(String, f64)>,
    pub total_per_month: f64,
}

pub fn model(handler: &HandlerCost) -> Result<CostModel> {
    let cpu_per_file = handler.cpu_seconds_per_1000_files / 1000.0;
    let wall_per_file = handler.wall_seconds_per_1000_files / 1000.0;
    let mut environments = Vec::new();
    for name in ["dev", "prod"] {
        let env =
            environments::by_name(name).with_context(|| format!("no environment `{name}`"))?;
        environments.push(environment_cost(&env, cpu_per_file));
    }
    let dev_gb = environments
        .first()
        .map_or(1.0, |e| f64::from(e.memory_mb) / 1024.0);
    Ok(CostModel {
        gb_seconds_per_million_cpu_bound: cpu_per_file * 1e6 * MB_PER_VCPU / 1024.0,
        gb_seconds_per_million_measured_wall: wall_per_file * 1e6 * dev_gb,
        seeds_gb_seconds_per_million: SEEDS_GB_SECONDS_PER_MONTH / (FILES_PER_MONTH / 1e6),
        environments,
    })
}

fn environment_cost(env: &infra_gen::Environment, cpu_per_file: f64) -> EnvironmentCost {
    let memory_gb = f64::from(env.function.memory_mb) / 1024.0;
    let vcpus = (f64::from(env.function.memory_mb) / MB_PER_VCPU).min(6.0);
    // Below one vCPU the function gets a share of one; above, bundling spreads over the cores it has.
    let duration_per_file = cpu_per_file / vcpus.max(f64::MIN_POSITIVE);
    let gb_seconds = FILES_PER_MONTH * duration_per_file * memory_gb;
    // At the seeds' rate a 60 s window gathers ~600 files, well under the batch size.
    let files_per_invocation = (10.0 * f64::from(env.mapping.batching_window_seconds))
        .clamp(1.0, f64::from(env.mapping.batch_size));
    let invocations = FILES_PER_MONTH / files_per_invocation;
    let gb_month = FILES_PER_MONTH * FILE_BYTES / 1e9;
    let ratio = 6.5;
    let azs = env.network.private_subnets.len() as f64;
    let mut lines = vec![
        (
            "Lambda compute (CPU-bound estimate)".to_string(),
            gb_seconds * LAMBDA_ARM_GB_SECOND,
        ),
        ("Lambda requests".to_string(), invocations * LAMBDA_REQUEST),
        // S3 sends one message per file; the mapping receives and deletes in tens.
        (
            "SQS requests".to_string(),
            FILES_PER_MONTH * 1.2 * SQS_REQUEST,
        ),
        (
            "S3 PUT landing (billed to the bucket owner)".to_string(),
            FILES_PER_MONTH * S3_PUT,
        ),
        (
            "S3 GET by the aggregator".to_string(),
            FILES_PER_MONTH * S3_GET,
        ),
        (
            "S3 PUT archive bundles + Deep Archive transition".to_string(),
            invocations * (S3_PUT + S3_DEEP_ARCHIVE_TRANSITION),
        ),
        (
            format!(
                "S3 landing storage ({} days)",
                env.storage.landing_expiry_days
            ),
            gb_month * f64::from(env.storage.landing_expiry_days) / 30.0 * S3_STANDARD_GB_MONTH,
        ),
        (
            format!(
                "S3 archive: Standard {} days, then Deep Archive (first month's data, per month)",
                env.storage.archive_deep_archive_after_days
            ),
            gb_month / ratio * S3_STANDARD_GB_MONTH + gb_month / ratio * S3_DEEP_ARCHIVE_GB_MONTH,
        ),
        // Claim and completion: two writes per file.
        (
            "DynamoDB idempotency writes".to_string(),
            FILES_PER_MONTH * 2.0 * DYNAMODB_WRITE,
        ),
        (
            format!(
                "VPC interface endpoints ({} × {azs} AZs)",
                env.network.interface_endpoints.len()
            ),
            env.network.interface_endpoints.len() as f64
                * azs
                * INTERFACE_ENDPOINT_HOUR
                * HOURS_PER_MONTH,
        ),
        (
            "KMS keys, secret, alarms, dashboard".to_string(),
            2.0 * KMS_KEY_MONTH + SECRET_MONTH + 12.0 * ALARM_MONTH + DASHBOARD_MONTH,
        ),
        // About 1 KB of JSON log per file at info.
        (
            "CloudWatch Logs ingestion".to_string(),
            FILES_PER_MONTH * 1000.0 / 1e9 * LOGS_GB,
        ),
    ];
    if env.network.public_subnet.is_some() {
        lines.push((
            "NAT gateway (to the mock endpoint), bundles through it".to_string(),
            NAT_GATEWAY_HOUR * HOURS_PER_MONTH + gb_month / ratio * NAT_GATEWAY_GB,
        ));
    }
    let total_per_month = lines.iter().map(|(_, c)| c).sum();
    EnvironmentCost {
        name: env.name.clone(),
        memory_mb: env.function.memory_mb,
        lines,
        total_per_month,
    }
}

impl CostModel {
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "  Lambda GB-s per million files: {:.0} CPU-bound (CPU s × 1.769 GB), {:.0} at the measured wall time; the seeds estimated {:.0} ({:.1}× ours, CPU-bound)\n",
            self.gb_seconds_per_million_cpu_bound,
            self.gb_seconds_per_million_measured_wall,
            self.seeds_gb_seconds_per_million,
            self.seeds_gb_seconds_per_million
                / self.gb_seconds_per_million_cpu_bound.max(f64::MIN_POSITIVE),
        );
        let _ = writeln!(
            s,
            "  monthly, at the seeds' volume ({:.1} million files of {} KB), us-east-1 list prices:",
            FILES_PER_MONTH / 1e6,
            FILE_BYTES / 1000.0
        );
        for env in &self.environments {
            let _ = writeln!(s, "  {} ({} MB):", env.name, env.memory_mb);
            for (what, cost) in &env.lines {
                let _ = writeln!(s, "    {what:<78} ${cost:>9.2}");
            }
            let _ = writeln!(s, "    {:<78} ${:>9.2}", "total", env.total_per_month);
        }
        s
    }
}
