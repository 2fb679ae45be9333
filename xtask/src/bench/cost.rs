//! The bill: the monthly cost of an environment per resource, from its typed definition, a month's usage (from
//! the latency model's invocations, or from the handler's measured CPU time for the bench) and the price table
//! of a region; the settings that would cut it and what each saves; and the seeds' estimate beside it.
//!
//! Prices are list prices (on-demand, before free tiers), written down here because nothing here reaches
//! AWS. Each table says where its figures come from and when they were read; re-read them with
//! `aws pricing get-products --region us-east-1 --service-code <code> --filters
//! Type=TERM_MATCH,Field=regionCode,Value=<region>` and edit them here when AWS changes them.

use anyhow::{Context, Result};
use serde::Serialize;

use super::handler::HandlerCost;
use infra_gen::config::{Architecture, Endpoint, Environment};

/// The seeds' volume: 10 files/s on average, a 30-day month.
pub const FILES_PER_MONTH: f64 = 10.0 * 86_400.0 * 30.0;
const FILE_BYTES: f64 = 100_000.0;
/// The seeds' estimate of the aggregator's compute: about 1.2 million GB-s a month for ~26 million files. It is
/// the only line of the seeds' estimate this repository records (README, Performance); the seeds' other lines
/// are not known.
pub const SEEDS_GB_SECONDS_PER_MONTH: f64 = 1_200_000.0;
const HOURS_PER_MONTH: f64 = 730.0;
const GB: f64 = 1e9;
/// CloudWatch Logs stores compressed bytes; JSON lines compress about this much.
const LOG_STORAGE_RATIO: f64 = 0.15;
/// Bytes of logs per invocation: START/END/REPORT, "batch done", one EMF line of metrics.
const LOG_BYTES_PER_INVOCATION: f64 = 3_500.0;
/// Bytes of logs per bundle: "bundle archived", "bundle delivered".
const LOG_BYTES_PER_BUNDLE: f64 = 700.0;
/// EMF metric names the aggregator emits on every invocation (dimension `Function`): each is a custom metric.
const CUSTOM_METRICS: f64 = 20.0;
/// EMF metric names the daily report emits (reporter/src/publish.rs).
const REPORT_METRICS: f64 = 10.0;
/// A DynamoDB idempotency record (key, status, owner, times, bundle id): under 1 KB, one request unit a write.
const RECORD_BYTES: f64 = 400.0;
/// Deep Archive keeps 40 KB per object besides the data: 8 KB at the Standard rate, 32 KB at its own.
const DEEP_ARCHIVE_OVERHEAD_STANDARD: f64 = 8_192.0;
const DEEP_ARCHIVE_OVERHEAD_ARCHIVE: f64 = 32_768.0;
/// The month of operation the archive's storage is shown for: it grows every month by a month of bundles.
pub const ARCHIVE_MONTH: f64 = 12.0;

/// A region's prices, USD.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Prices {
    pub region: &'static str,
    pub source: &'static str,
    /// Figures that could not be read from an AWS price file here: pricing-page figures as remembered.
    pub unverified: &'static str,
    pub lambda_gb_second_arm: f64,
    pub lambda_gb_second_x86: f64,
    pub lambda_request: f64,
    pub sqs_request: f64,
    pub s3_put: f64,
    pub s3_get: f64,
    pub s3_standard_gb_month: f64,
    pub s3_deep_archive_gb_month: f64,
    /// A PUT or lifecycle transition into Deep Archive.
    pub s3_deep_archive_request: f64,
    pub dynamodb_write: f64,
    pub dynamodb_read: f64,
    pub dynamodb_gb_month: f64,
    pub dynamodb_pitr_gb_month: f64,
    pub interface_endpoint_hour: f64,
    pub interface_endpoint_gb: f64,
    pub nat_hour: f64,
    pub nat_gb: f64,
    pub public_ipv4_hour: f64,
    pub internet_out_gb: f64,
    pub kms_key_month: f64,
    pub kms_request: f64,
    pub secret_month: f64,
    pub secret_request: f64,
    pub alarm_metric_month: f64,
    pub composite_alarm_month: f64,
    pub dashboard_month: f64,
    pub custom_metric_month: f64,
    pub logs_ingest_gb: f64,
    pub logs_vended_gb: f64,
    pub logs_storage_gb_month: f64,
    /// S3 Inventory, per object listed.
    pub s3_inventory_object: f64,
}

/// US East (N. Virginia). Source: the AWS pricing pages of each service (aws.amazon.com/<service>/pricing),
/// on-demand, as recorded in this file's first version, 2026-11-22; DynamoDB on-demand after the 2024-11-01
/// price reduction.
pub const US_EAST_1: Prices = Prices {
    region: "us-east-1",
    source: "AWS pricing pages, US East (N. Virginia), on-demand list prices recorded 2026-11-22",
    unverified: "none besides the source's date: not re-read from this machine (no network)",
    lambda_gb_second_arm: 0.000_013_333_4,
    lambda_gb_second_x86: 0.000_016_666_7,
    lambda_request: 0.20 / 1e6,
    sqs_request: 0.40 / 1e6,
    s3_put: 0.005 / 1000.0,
    s3_get: 0.000_4 / 1000.0,
    s3_standard_gb_month: 0.023,
    s3_deep_archive_gb_month: 0.000_99,
    s3_deep_archive_request: 0.05 / 1000.0,
    dynamodb_write: 0.625 / 1e6,
    dynamodb_read: 0.125 / 1e6,
    dynamodb_gb_month: 0.25,
    dynamodb_pitr_gb_month: 0.20,
    interface_endpoint_hour: 0.01,
    interface_endpoint_gb: 0.01,
    nat_hour: 0.045,
    nat_gb: 0.045,
    public_ipv4_hour: 0.005,
    internet_out_gb: 0.09,
    kms_key_month: 1.0,
    kms_request: 0.03 / 10_000.0,
    secret_month: 0.40,
    secret_request: 0.05 / 10_000.0,
    alarm_metric_month: 0.10,
    composite_alarm_month: 0.50,
    dashboard_month: 3.0,
    custom_metric_month: 0.30,
    logs_ingest_gb: 0.50,
    logs_vended_gb: 0.50,
    logs_storage_gb_month: 0.03,
    s3_inventory_object: 0.002_5 / 1e6,
};

/// Europe (London), the environments' region. Source: the AWS Price List Bulk API offer files for eu-west-2
/// (`https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/<ServiceCode>/current/eu-west-2/index.json`;
/// usage types `EUW2-Lambda-GB-Second-ARM`, `EUW2-Requests-Tier1` (SQS), `EUW2-TimedStorage-ByteHrs`,
/// `EUW2-Requests-Tier1/2` (S3), `EUW2-VpcEndpoint-Hours/Bytes`, `EUW2-NatGateway-Hours/Bytes`,
/// `EUW2-PublicIPv4:InUseAddress`, `EUW2-DataTransfer-Out-Bytes`, `eu-west-2-KMS-Keys/Requests`,
/// `EUW2-AWSSecretsManager-Secrets`, `EUW2-CW:AlarmMonitorUsage`, `EUW2-CW:MetricMonitorUsage`,
/// `EUW2-DataProcessing-Bytes` and `EUW2-TimedStorage-ByteHrs` (CloudWatch Logs)), offer files published
/// 2026-09-11 to 2026-10-01 as transcribed in a public cost document read 2026-11-22.
pub const EU_WEST_2: Prices = Prices {
    region: "eu-west-2",
    source: "AWS Price List offer files, eu-west-2 (published 2026-09/10), transcription read 2026-11-22",
    unverified: "S3 Deep Archive storage and requests, DynamoDB (on-demand after the 2024-11 halving of \
                 London's $1.4846 per million writes), composite alarms, dashboards, vended logs and S3 Inventory \
                 (us-east-1's price)",
    lambda_gb_second_arm: 0.000_013_333_4,
    lambda_gb_second_x86: 0.000_016_666_7,
    lambda_request: 0.20 / 1e6,
    sqs_request: 0.40 / 1e6,
    s3_put: 0.005_3 / 1000.0,
    s3_get: 0.000_42 / 1000.0,
    s3_standard_gb_month: 0.024,
    s3_deep_archive_gb_month: 0.001_8,
    s3_deep_archive_request: 0.06 / 1000.0,
    dynamodb_write: 0.742_3 / 1e6,
    dynamodb_read: 0.148_5 / 1e6,
    dynamodb_gb_month: 0.29,
    dynamodb_pitr_gb_month: 0.232,
    interface_endpoint_hour: 0.011,
    interface_endpoint_gb: 0.01,
    nat_hour: 0.05,
    nat_gb: 0.05,
    public_ipv4_hour: 0.005,
    internet_out_gb: 0.09,
    kms_key_month: 1.0,
    kms_request: 0.03 / 10_000.0,
    secret_month: 0.40,
    secret_request: 0.05 / 10_000.0,
    alarm_metric_month: 0.10,
    composite_alarm_month: 0.50,
    dashboard_month: 3.0,
    custom_metric_month: 0.30,
    logs_ingest_gb: 0.598_5,
    logs_vended_gb: 0.598_5,
    logs_storage_gb_month: 0.031_5,
    s3_inventory_object: 0.002_5 / 1e6,
};

/// The price table of a region.
pub fn prices(region: &str) -> Result<&'static Prices> {
    [&US_EAST_1, &EU_WEST_2]
        .into_iter()
        .find(|p| p.region == region)
        .with_context(|| {
            format!("there is no price table for {region}: add one to xtask/src/bench/cost.rs (eu-west-2 and us-east-1 are there)")
        })
}

/// What an environment does in a month.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub files: f64,
    pub file_bytes: f64,
    pub compression_ratio: f64,
    pub gb_seconds: f64,
    pub invocations: f64,
    pub bundles: f64,
    /// The mapping's and the handler's SQS requests (receives, deletes, holds, idle long polls); S3's
    /// notifications are one more per file.
    pub sqs_requests: f64,
}

impl Usage {
    /// A month of `files` at the rates a run of the latency model showed (per file, per invocation).
    pub fn from_model(
        outcome: &latency_model::Outcome,
        files: f64,
        file_bytes: f64,
        ratio: f64,
    ) -> Usage {
        let per_file = |x: f64| x / outcome.files.max(1) as f64 * files;
        Usage {
            files,
            file_bytes,
            compression_ratio: ratio,
            gb_seconds: per_file(outcome.gb_seconds),
            invocations: per_file(outcome.requests as f64),
            bundles: per_file(outcome.invocations.bundles as f64),
            sqs_requests: per_file(outcome.sqs_requests as f64),
        }
    }

    fn bundle_gb(&self) -> f64 {
        self.files * self.file_bytes / self.compression_ratio.max(1.0) / GB
    }
}

/// One line of the bill.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub resource: String,
    /// How the cost comes about, in words and numbers.
    pub basis: String,
    pub cost: f64,
}

fn line(resource: &str, basis: String, cost: f64) -> Line {
    Line {
        resource: resource.to_string(),
        basis,
        cost,
    }
}

/// Interface endpoints are billed per endpoint and availability zone.
fn endpoint_hours(env: &Environment) -> f64 {
    env.network.interface_endpoints.len() as f64 * env.network.private_subnets.len() as f64
}

/// The monthly bill of `env` for `usage` at `prices`, per resource.
pub fn monthly(env: &Environment, usage: &Usage, prices: &Prices) -> Vec<Line> {
    let p = prices;
    let u = usage;
    let files = u.files;
    let input_gb = files * u.file_bytes / GB;
    let bundle_gb = u.bundle_gb();
    let memory_gb = f64::from(env.function.memory_mb) / 1024.0;
    let gb_second = match env.function.architecture {
        Architecture::Arm64 => p.lambda_gb_second_arm,
        Architecture::X86_64 => p.lambda_gb_second_x86,
    };
    let landing_days = f64::from(env.storage.landing_expiry_days);
    let standard_days = f64::from(env.storage.archive_deep_archive_after_days);
    let records_gb = files / 30.0 * 7.0 * RECORD_BYTES / GB;
    let log_gb = (u.invocations * LOG_BYTES_PER_INVOCATION + u.bundles * LOG_BYTES_PER_BUNDLE) / GB;
    let retention_months =
        f64::from(env.function.log_retention_days).min(ARCHIVE_MONTH * 30.0) / 30.0;
    // Nine alarms, one of them anomaly detection (three metrics): six on health, two on the daily report.
    let alarms = 9.0 + 2.0;
    let mut lines = vec![
        line(
            "Lambda compute",
            format!(
                "{:.0} GB-s ({} MB, {:.2} s per invocation)",
                u.gb_seconds,
                env.function.memory_mb,
                u.gb_seconds / u.invocations.max(1.0) / memory_gb
            ),
            u.gb_seconds * gb_second,
        ),
        line(
            "Lambda requests",
            format!(
                "{:.0} invocations ({:.0} files each)",
                u.invocations,
                files / u.invocations.max(1.0)
            ),
            u.invocations * p.lambda_request,
        ),
        line(
            "SQS requests",
            format!(
                "{:.1} M: S3's notifications, the mapping's receives and deletes",
                (files + u.sqs_requests) / 1e6
            ),
            (files + u.sqs_requests) * p.sqs_request,
        ),
        line(
            "S3 PUT into landing (billed to the bucket owner)",
            format!("{:.1} M PUTs", files / 1e6),
            files * p.s3_put,
        ),
        line(
            "S3 GET by the aggregator",
            format!("{:.1} M GETs", files / 1e6),
            files * p.s3_get,
        ),
        line(
            "S3 landing storage",
            format!("{:.0} GB held {landing_days:.0} days", input_gb),
            input_gb * landing_days / 30.0 * p.s3_standard_gb_month,
        ),
        line(
            "S3 archive PUTs and Deep Archive transitions",
            format!("{:.0} bundles", u.bundles),
            u.bundles * (p.s3_put + p.s3_deep_archive_request),
        ),
        line(
            "S3 archive storage",
            format!(
                "month {ARCHIVE_MONTH:.0}: {bundle_gb:.0} GB/month, {standard_days:.0} days in Standard, then Deep Archive"
            ),
            bundle_gb * standard_days / 30.0 * p.s3_standard_gb_month
                + bundle_gb
                    * (ARCHIVE_MONTH - standard_days / 30.0).max(0.0)
                    * p.s3_deep_archive_gb_month
                + u.bundles
                    * ARCHIVE_MONTH
                    * (DEEP_ARCHIVE_OVERHEAD_STANDARD * p.s3_standard_gb_month
                        + DEEP_ARCHIVE_OVERHEAD_ARCHIVE * p.s3_deep_archive_gb_month)
                    / GB,
        ),
        line(
            "DynamoDB writes",
            format!(
                "{:.1} M: a claim and a completion per file",
                2.0 * files / 1e6
            ),
            2.0 * files * p.dynamodb_write + u.invocations * p.dynamodb_read,
        ),
        line(
            "DynamoDB storage and point-in-time recovery",
            format!("{records_gb:.1} GB of records kept 7 days"),
            records_gb * (p.dynamodb_gb_month + p.dynamodb_pitr_gb_month),
        ),
        line(
            "VPC interface endpoints",
            format!(
                "{} endpoints × {} AZs, and the bytes through them",
                env.network.interface_endpoints.len(),
                env.network.private_subnets.len()
            ),
            endpoint_hours(env) * HOURS_PER_MONTH * p.interface_endpoint_hour
                + (files * 2_000.0 / GB + log_gb) * p.interface_endpoint_gb,
        ),
        line(
            "KMS key and requests",
            "one key; S3 Bucket Keys, SQS and DynamoDB key caching keep requests near 100,000"
                .into(),
            p.kms_key_month + 100_000.0 * p.kms_request,
        ),
        line(
            "Secrets Manager",
            "one secret, read every 5 minutes per instance".into(),
            p.secret_month + 20_000.0 * p.secret_request,
        ),
        line(
            "CloudWatch alarms, metrics, dashboard",
            format!(
                "{alarms:.0} alarm metrics, a composite, {:.0} EMF metrics, a dashboard",
                CUSTOM_METRICS + REPORT_METRICS
            ),
            alarms * p.alarm_metric_month
                + if env.alarms.composite {
                    p.composite_alarm_month
                } else {
                    0.0
                }
                + (CUSTOM_METRICS + REPORT_METRICS) * p.custom_metric_month
                + p.dashboard_month,
        ),
        line(
            "CloudWatch Logs",
            format!(
                "{:.2} GB ingested, kept {} days",
                log_gb, env.function.log_retention_days
            ),
            log_gb * p.logs_ingest_gb
                + log_gb * LOG_STORAGE_RATIO * retention_months * p.logs_storage_gb_month,
        ),
    ];
    lines.push(daily_report(env, usage, prices, gb_second));
    match env.sink.endpoint() {
        Endpoint::OnPremise { .. } => lines.push(line(
            "Data transfer out to the on-premise endpoint",
            format!("{bundle_gb:.0} GB of bundles at internet/VPN rates (Direct Connect: about a quarter)"),
            bundle_gb * p.internet_out_gb,
        )),
        Endpoint::MockReceiver | Endpoint::LocalProcess { .. } => {}
    }
    if env.network.public_subnet.is_some() {
        lines.push(line(
            "NAT gateway and its address",
            format!("{bundle_gb:.0} GB of bundles to the mock receiver through it"),
            HOURS_PER_MONTH * (p.nat_hour + p.public_ipv4_hour) + bundle_gb * p.nat_gb,
        ));
    }
    lines
}

/// The daily report: a record read per file (eventually consistent: half a read unit), the landing bucket's
/// versions listed once a day (every version it keeps, not only the day's) or read from its S3 Inventory, and the
/// function's compute at most (its timeout at its memory, every day: it is not measured).
fn daily_report(env: &Environment, usage: &Usage, prices: &Prices, gb_second: f64) -> Line {
    let p = prices;
    let r = &env.reporter;
    let versions_a_day = usage.files / 30.0 * f64::from(env.storage.landing_expiry_days);
    let (how, listing) = if r.inventory {
        ("inventoried", versions_a_day * 30.0 * p.s3_inventory_object)
    } else {
        // A LIST request, 1,000 versions a page, is priced as a PUT.
        ("listed", versions_a_day / 1000.0 * 30.0 * p.s3_put)
    };
    let compute = 30.0 * f64::from(r.timeout_seconds) * f64::from(r.memory_mb) / 1024.0;
    line(
        "Daily report (records read, versions listed, compute at most)",
        format!(
            "{:.1} M records read, {:.1} M versions {how} a day, at most {compute:.0} GB-s",
            usage.files / 1e6,
            versions_a_day / 1e6
        ),
        usage.files * 0.5 * p.dynamodb_read + listing + compute * gb_second,
    )
}

/// A setting that would cut the bill, and what it saves at a usage.
#[derive(Debug, Clone, Serialize)]
pub struct Saving {
    pub setting: &'static str,
    pub what: &'static str,
    pub saves: f64,
}

/// The settings that would cut the bill of `env`, each with its monthly saving at `usage`.
pub fn savings(env: &Environment, usage: &Usage, prices: &Prices) -> Vec<Saving> {
    let p = prices;
    let endpoints = endpoint_hours(env) * HOURS_PER_MONTH * p.interface_endpoint_hour;
    let azs = env.network.private_subnets.len() as f64;
    let bundle_gb = usage.bundle_gb();
    // The traffic the interface endpoints carry (messages, logs): through a NAT gateway it costs per GB.
    let api_gb = usage.files * 2_000.0 / GB + usage.invocations * LOG_BYTES_PER_INVOCATION / GB;
    let nat = HOURS_PER_MONTH * (p.nat_hour + p.public_ipv4_hour);
    let mut list = vec![
        Saving {
            setting: "network.interface_endpoints in one AZ",
            what: "each interface endpoint in one subnet instead of every private subnet: the Lambda in the other AZ reaches it across AZs; an AZ outage takes the endpoints down",
            saves: endpoints * (azs - 1.0) / azs.max(1.0),
        },
        Saving {
            setting: "network: a NAT gateway instead of the interface endpoints",
            what: "AWS APIs (SQS, KMS, Secrets Manager, Logs, CloudWatch, SNS) reached through one NAT gateway over their public endpoints, still TLS; S3 and DynamoDB stay on their free gateway endpoints",
            saves: endpoints
                - if env.network.public_subnet.is_some() {
                    0.0
                } else {
                    nat
                }
                - api_gb * p.nat_gb,
        },
        Saving {
            setting: "idempotency: one write per file",
            what: "the claim per file, the completion as one record per bundle (listing its files) instead of one per file",
            saves: usage.files * p.dynamodb_write,
        },
        Saving {
            setting: "storage: bundles written straight into DEEP_ARCHIVE",
            what: "PutObject with StorageClass DEEP_ARCHIVE instead of 30 days in Standard and a lifecycle transition: replaying a bundle then always needs a restore (12 to 48 hours)",
            saves: bundle_gb * f64::from(env.storage.archive_deep_archive_after_days) / 30.0
                * (p.s3_standard_gb_month - p.s3_deep_archive_gb_month)
                + usage.bundles * p.s3_put,
        },
        Saving {
            setting: "landing bucket: Requester Pays",
            what: "the uploader pays its PUTs (a contract change, not a saving for both parties); every PUT must then carry x-amz-request-payer",
            saves: usage.files * p.s3_put,
        },
    ];
    if env.network.public_subnet.is_some() {
        list.push(Saving {
            setting: "dev: no NAT gateway",
            what: "the mock receiver reached without one (the aggregator of dev outside the VPC, or the receiver in it): dev only",
            saves: nat + bundle_gb * p.nat_gb,
        });
    }
    list.retain(|s| s.saves > 0.005);
    list
}

/// The bill at several scales, side by side, with the seeds' estimate.
#[derive(Debug, Clone, Serialize)]
pub struct Bill {
    pub environment: String,
    pub prices: Prices,
    pub scales: Vec<f64>,
    pub usage: Vec<Usage>,
    /// Per resource, the cost at each scale.
    pub lines: Vec<(String, Vec<f64>, String)>,
    pub totals: Vec<f64>,
    /// The seeds' compute line at 1×, the only one they recorded.
    pub seeds_compute: f64,
    pub savings: Vec<(String, String, Vec<f64>)>,
}

/// The bill of `env` at each scale's usage.
pub fn bill(env: &Environment, scales: &[f64], usage: &[Usage], prices: &Prices) -> Bill {
    let per_scale: Vec<Vec<Line>> = usage.iter().map(|u| monthly(env, u, prices)).collect();
    let lines = per_scale
        .first()
        .map(|first| {
            first
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    (
                        l.resource.clone(),
                        per_scale.iter().map(|s| s[i].cost).collect(),
                        l.basis.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let totals = per_scale
        .iter()
        .map(|s| s.iter().map(|l| l.cost).sum())
        .collect();
    let per_scale_savings: Vec<Vec<Saving>> =
        usage.iter().map(|u| savings(env, u, prices)).collect();
    let savings = per_scale_savings
        .first()
        .map(|first| {
            first
                .iter()
                .map(|s| {
                    let each = per_scale_savings
                        .iter()
                        .map(|list| {
                            list.iter()
                                .find(|x| x.setting == s.setting)
                                .map_or(0.0, |x| x.saves)
                        })
                        .collect();
                    (s.setting.to_string(), s.what.to_string(), each)
                })
                .collect()
        })
        .unwrap_or_default();
    let gb_second = match env.function.architecture {
        Architecture::Arm64 => prices.lambda_gb_second_arm,
        Architecture::X86_64 => prices.lambda_gb_second_x86,
    };
    Bill {
        environment: env.name.clone(),
        prices: *prices,
        scales: scales.to_vec(),
        usage: usage.to_vec(),
        lines,
        totals,
        seeds_compute: SEEDS_GB_SECONDS_PER_MONTH * gb_second,
        savings,
    }
}

impl Bill {
    /// The table: one column per scale, the seeds' estimate beside 1×, what dominates, what would cut it.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let scales: Vec<String> = self.scales.iter().map(|x| format!("{x}×")).collect();
        let _ = writeln!(
            s,
            "{} in {}, USD a month ({})",
            self.environment, self.prices.region, self.prices.source
        );
        let _ = writeln!(s, "  unverified prices: {}", self.prices.unverified);
        let _ = write!(s, "  {:<48}", "resource");
        for x in &scales {
            let _ = write!(s, " {x:>10}");
        }
        let _ = writeln!(s, " {:>11}", "seeds (1×)");
        for (resource, costs, _) in &self.lines {
            let _ = write!(s, "  {resource:<48}");
            for c in costs {
                let _ = write!(s, " {c:>10.2}");
            }
            if resource == "Lambda compute" {
                let _ = writeln!(s, " {:>11.2}", self.seeds_compute);
            } else {
                let _ = writeln!(s, " {:>11}", "—");
            }
        }
        let _ = write!(s, "  {:<48}", "total");
        for t in &self.totals {
            let _ = write!(s, " {t:>10.2}");
        }
        let reconstructed = self.totals.first().copied().unwrap_or(0.0)
            - self
                .lines
                .first()
                .and_then(|l| l.1.first())
                .copied()
                .unwrap_or(0.0)
            + self.seeds_compute;
        let _ = writeln!(s, " {reconstructed:>11.2}");
        let _ = writeln!(
            s,
            "  seeds (1×): only their compute line is recorded ({:.1} M GB-s a month); their total is reconstructed as ours with their compute",
            SEEDS_GB_SECONDS_PER_MONTH / 1e6
        );
        for (i, x) in scales.iter().enumerate() {
            let mut ranked: Vec<(&String, f64)> = self
                .lines
                .iter()
                .map(|(r, costs, _)| (r, costs[i]))
                .collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let total = self.totals[i].max(f64::MIN_POSITIVE);
            let top: Vec<String> = ranked
                .iter()
                .take(3)
                .map(|(r, c)| format!("{r} {:.0}%", c / total * 100.0))
                .collect();
            let _ = writeln!(s, "  dominates at {x}: {}", top.join(", "));
        }
        let _ = writeln!(
            s,
            "  settings that would cut it (saving a month at {}):",
            scales.join(", ")
        );
        for (setting, what, each) in &self.savings {
            let amounts: Vec<String> = each.iter().map(|v| format!("${v:.2}")).collect();
            let _ = writeln!(s, "    {setting}: {} — {what}", amounts.join(" / "));
        }
        s
    }
}

/// What the bench reports: GB-seconds per million files from the handler's CPU time, and the bill of dev and
/// prod at the seeds' volume in their region.
#[derive(Debug, Clone, Serialize)]
pub struct CostModel {
    /// GB-s per million files if the handler kept every vCPU it is given busy: CPU seconds × 1.769 GB.
    pub gb_seconds_per_million_cpu_bound: f64,
    /// GB-s per million files at the measured wall time (moto and the local receiver included) and dev's memory.
    pub gb_seconds_per_million_measured_wall: f64,
    pub seeds_gb_seconds_per_million: f64,
    pub bills: Vec<Bill>,
}

pub fn model(handler: &HandlerCost) -> Result<CostModel> {
    let cpu_per_file = handler.cpu_seconds_per_1000_files / 1000.0;
    let wall_per_file = handler.wall_seconds_per_1000_files / 1000.0;
    let mut bills = Vec::new();
    let mut dev_gb = 1.0;
    for name in ["dev", "prod"] {
        let env =
            environments::by_name(name).with_context(|| format!("no environment `{name}`"))?;
        let memory_gb = f64::from(env.function.memory_mb) / 1024.0;
        if name == "dev" {
            dev_gb = memory_gb;
        }
        let vcpus = f64::from(env.function.memory_mb) / latency_model::service::MB_PER_VCPU;
        // At the seeds' rate a window gathers the rate × window files, at most the batch size.
        let per_invocation = (10.0 * f64::from(env.mapping.batching_window_seconds))
            .clamp(1.0, f64::from(env.mapping.batch_size));
        let invocations = FILES_PER_MONTH / per_invocation;
        let usage = Usage {
            files: FILES_PER_MONTH,
            file_bytes: FILE_BYTES,
            compression_ratio: 6.5,
            gb_seconds: FILES_PER_MONTH * cpu_per_file / vcpus.max(f64::MIN_POSITIVE) * memory_gb,
            invocations,
            bundles: invocations,
            sqs_requests: FILES_PER_MONTH * 0.2,
        };
        let prices = prices(&env.region)?;
        bills.push(bill(&env, &[1.0], &[usage], prices));
    }
    Ok(CostModel {
        gb_seconds_per_million_cpu_bound: cpu_per_file * 1e6 * latency_model::service::MB_PER_VCPU
            / 1024.0,
        gb_seconds_per_million_measured_wall: wall_per_file * 1e6 * dev_gb,
        seeds_gb_seconds_per_million: SEEDS_GB_SECONDS_PER_MONTH / (FILES_PER_MONTH / 1e6),
        bills,
    })
}

impl CostModel {
    pub fn render(&self) -> String {
        let mut s = format!(
            "  Lambda GB-s per million files: {:.0} CPU-bound (CPU s × 1.769 GB), {:.0} at the measured wall time; the seeds estimated {:.0} ({:.1}× ours, CPU-bound)\n  monthly, at the seeds' volume ({:.1} million files of {} KB), CPU-bound compute (`cargo xtask model <env> --cost` uses the latency model's invocations instead):\n",
            self.gb_seconds_per_million_cpu_bound,
            self.gb_seconds_per_million_measured_wall,
            self.seeds_gb_seconds_per_million,
            self.seeds_gb_seconds_per_million
                / self.gb_seconds_per_million_cpu_bound.max(f64::MIN_POSITIVE),
            FILES_PER_MONTH / 1e6,
            FILE_BYTES / 1000.0
        );
        for bill in &self.bills {
            s.push_str(&bill.render());
        }
        s
    }
}
