//! The reporter's configuration: environment variables as written (app's [`RawConfig`]), validated once into
//! typed values by the same validator as the aggregator's, every problem reported at once. README.md, section
//! "Proof of delivery", lists every variable; the infrastructure model sets them from the environment.

use std::time::Duration;

use app::RawConfig;
use app::config::{ConfigError, Validator};
use latency_model::service::Objective;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The environment's name, for the report's title and the notification.
    pub environment: String,
    pub landing_bucket: String,
    pub idempotency_table: String,
    pub archive_bucket: String,
    pub archive_prefix: String,
    pub source_queue_url: String,
    pub dlq_url: String,
    pub reports_bucket: String,
    /// Reports go under `<prefix>/YYYY-MM-DD/`.
    pub reports_prefix: String,
    /// The alarm topic the summary is published to.
    pub topic_arn: String,
    /// When set, the day's versions come from this S3 Inventory (`<destination prefix>/<bucket>/<config id>` in
    /// the reports bucket) instead of listing the landing bucket.
    pub inventory_prefix: Option<String>,
    /// Prefixes of the landing bucket listed at once.
    pub list_concurrency: usize,
    /// Batches of 100 records read from the idempotency table at once.
    pub lookup_concurrency: usize,
    /// How long messages of the DLQ stay hidden while they are read, should the reporter stop before it makes
    /// them visible again: its timeout.
    pub dlq_read_visibility: Duration,
    /// The unexplained files kept for `--requeue-unexplained`; beyond it the report says how many more there are.
    pub requeue_limit: usize,
    pub objective: Objective,
    pub metrics_namespace: String,
    /// The name metrics are dimensioned by: the Lambda function's name when it runs in Lambda.
    pub function_name: String,
    pub s3_force_path_style: bool,
}

const PROGRAM: &str = "reporter";

impl Config {
    /// Checks every variable; the configuration, or every problem.
    pub fn from_raw(raw: &RawConfig) -> Result<Config, ConfigError> {
        let mut v = Validator::new(raw, describe);
        let config = Config {
            environment: v.optional("ENVIRONMENT", "unnamed"),
            landing_bucket: v.required("LANDING_BUCKET").unwrap_or_default(),
            idempotency_table: v.required("IDEMPOTENCY_TABLE").unwrap_or_default(),
            archive_bucket: v.required("ARCHIVE_BUCKET").unwrap_or_default(),
            archive_prefix: v.optional("ARCHIVE_PREFIX", "bundles"),
            source_queue_url: v.required_url("SOURCE_QUEUE_URL").unwrap_or_default(),
            dlq_url: v.required_url("DLQ_URL").unwrap_or_default(),
            reports_bucket: v.required("REPORTS_BUCKET").unwrap_or_default(),
            reports_prefix: v.optional("REPORTS_PREFIX", "reports"),
            topic_arn: v.required("TOPIC_ARN").unwrap_or_default(),
            inventory_prefix: Some(v.optional("INVENTORY_PREFIX", ""))
                .filter(|p| !p.is_empty())
                .map(|p| p.trim_end_matches('/').to_string()),
            list_concurrency: v.number("LIST_CONCURRENCY", 8usize, 1, 256),
            lookup_concurrency: v.number("LOOKUP_CONCURRENCY", 16usize, 1, 256),
            dlq_read_visibility: Duration::from_secs(v.number(
                "DLQ_READ_SECONDS",
                900u64,
                30,
                43_200,
            )),
            requeue_limit: v.number("REQUEUE_LIMIT", 100_000usize, 1, 10_000_000),
            objective: Objective::new(v.number("OBJECTIVE_P999_SECONDS", 180u32, 1, 86_400).into()),
            metrics_namespace: v.optional("METRICS_NAMESPACE", "FileAggregator"),
            function_name: v.optional(
                "AWS_LAMBDA_FUNCTION_NAME",
                &v.optional("FUNCTION_NAME", "reporter"),
            ),
            s3_force_path_style: v.flag("S3_FORCE_PATH_STYLE"),
        };
        if v.is_valid() {
            Ok(config)
        } else {
            Err(v.error(PROGRAM))
        }
    }
}

/// What a required variable holds, for the error message.
fn describe(name: &str) -> &'static str {
    match name {
        "LANDING_BUCKET" => "the bucket files land in (Terraform output `landing_bucket`)",
        "IDEMPOTENCY_TABLE" => {
            "the aggregator's table of file claims (Terraform output `idempotency_table`)"
        }
        "ARCHIVE_BUCKET" => {
            "the bucket bundles are archived in (Terraform output `archive_bucket`)"
        }
        "SOURCE_QUEUE_URL" => "the queue the aggregator is fed from (Terraform output `queue_url`)",
        "DLQ_URL" => "the dead-letter queue (Terraform output `dlq_url`)",
        "REPORTS_BUCKET" => "the bucket reports are written to (Terraform output `reports_bucket`)",
        "TOPIC_ARN" => "the SNS topic the summary goes to (Terraform output `alarm_topic_arn`)",
        _ => "see README.md",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_variable_is_named_and_defaults_apply() {
        let error = Config::from_raw(&RawConfig::from_pairs([("LIST_CONCURRENCY", "0")]))
            .expect_err("incomplete");
        let text = error.to_string();
        assert!(
            text.starts_with("the reporter's configuration is invalid"),
            "{text}"
        );
        for name in [
            "LANDING_BUCKET",
            "IDEMPOTENCY_TABLE",
            "ARCHIVE_BUCKET",
            "SOURCE_QUEUE_URL",
            "DLQ_URL",
            "REPORTS_BUCKET",
            "TOPIC_ARN",
            "LIST_CONCURRENCY is `0`",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
        let config = Config::from_raw(&RawConfig::from_pairs([
            ("LANDING_BUCKET", "landing"),
            ("IDEMPOTENCY_TABLE", "claims"),
            ("ARCHIVE_BUCKET", "archive"),
            ("SOURCE_QUEUE_URL", "http://sqs/queue"),
            ("DLQ_URL", "http://sqs/dlq"),
            ("REPORTS_BUCKET", "reports"),
            ("TOPIC_ARN", "arn:aws:sns:eu-west-2:123456789012:alarms"),
            ("INVENTORY_PREFIX", "inventory/landing/daily/"),
        ]))
        .expect("valid");
        assert_eq!(config.archive_prefix, "bundles");
        assert_eq!(config.reports_prefix, "reports");
        assert_eq!(
            config.inventory_prefix.as_deref(),
            Some("inventory/landing/daily")
        );
        assert_eq!(
            config.objective.targets,
            vec![(0.95, 120.0), (0.999, 180.0)]
        );
    }
}
