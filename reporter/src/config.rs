//! The reporter's configuration: environment variables as written (app's [`RawConfig`]), validated once into
//! typed values by the same validator as the aggregator's, through entries of the same kinds (and the
//! aggregator's own entries for the variables they share), every problem reported at once. docs/daily-report.md
//! lists every variable; the infrastructure model sets them from the environment.

use std::time::Duration;

use aggregator_config::{self as vars, Need, Number, Required, Shape, Text, Unit};
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
        let mut v = Validator::new(raw);
        let config = Config {
            environment: v.text(&ENVIRONMENT),
            landing_bucket: v.required(&LANDING_BUCKET).unwrap_or_default(),
            idempotency_table: v.required(&vars::IDEMPOTENCY_TABLE).unwrap_or_default(),
            archive_bucket: v.required(&vars::ARCHIVE_BUCKET).unwrap_or_default(),
            archive_prefix: v.text(&vars::ARCHIVE_PREFIX),
            source_queue_url: v.required(&vars::SOURCE_QUEUE_URL).unwrap_or_default(),
            dlq_url: v.required(&vars::DLQ_URL).unwrap_or_default(),
            reports_bucket: v.required(&REPORTS_BUCKET).unwrap_or_default(),
            reports_prefix: v.text(&REPORTS_PREFIX),
            topic_arn: v.required(&TOPIC_ARN).unwrap_or_default(),
            inventory_prefix: Some(v.text(&INVENTORY_PREFIX))
                .filter(|p| !p.is_empty())
                .map(|p| p.trim_end_matches('/').to_string()),
            list_concurrency: v.number(&LIST_CONCURRENCY),
            lookup_concurrency: v.number(&LOOKUP_CONCURRENCY),
            dlq_read_visibility: Duration::from_secs(v.number(&DLQ_READ_SECONDS)),
            requeue_limit: v.number(&REQUEUE_LIMIT),
            objective: Objective::new(v.number(&OBJECTIVE_P999_SECONDS).into()),
            metrics_namespace: v.text(&vars::METRICS_NAMESPACE),
            function_name: v
                .get(vars::LAMBDA_FUNCTION_NAME)
                .unwrap_or_else(|| v.text(&FUNCTION_NAME)),
            s3_force_path_style: v.flag(&vars::S3_FORCE_PATH_STYLE),
        };
        if v.is_valid() {
            Ok(config)
        } else {
            Err(v.error(PROGRAM))
        }
    }
}

// The reporter's own variables (docs/daily-report.md); those it shares with the aggregator are the aggregator's
// entries (aggregator-config).
const ENVIRONMENT: Text = Text {
    name: "ENVIRONMENT",
    default: "unnamed",
    meaning: "the environment's name, for the report's title and the notification",
};
const LANDING_BUCKET: Required = Required {
    name: "LANDING_BUCKET",
    need: Need::Always,
    shape: Shape::Name,
    meaning: "the bucket files land in (Terraform output `landing_bucket`)",
};
const REPORTS_BUCKET: Required = Required {
    name: "REPORTS_BUCKET",
    need: Need::Always,
    shape: Shape::Name,
    meaning: "the bucket reports are written to (Terraform output `reports_bucket`)",
};
const REPORTS_PREFIX: Text = Text {
    name: "REPORTS_PREFIX",
    default: "reports",
    meaning: "reports go under `<prefix>/YYYY-MM-DD/`",
};
const TOPIC_ARN: Required = Required {
    name: "TOPIC_ARN",
    need: Need::Always,
    shape: Shape::Name,
    meaning: "the SNS topic the summary goes to (Terraform output `alarm_topic_arn`)",
};
const INVENTORY_PREFIX: Text = Text {
    name: "INVENTORY_PREFIX",
    default: "",
    meaning: "the S3 Inventory the day's versions come from instead of listing the landing bucket",
};
const LIST_CONCURRENCY: Number<usize> = Number {
    name: "LIST_CONCURRENCY",
    default: 8,
    min: 1,
    max: 256,
    unit: Unit::Count,
    meaning: "prefixes of the landing bucket listed at once",
};
const LOOKUP_CONCURRENCY: Number<usize> = Number {
    name: "LOOKUP_CONCURRENCY",
    default: 16,
    min: 1,
    max: 256,
    unit: Unit::Count,
    meaning: "batches of 100 records read from the idempotency table at once",
};
const DLQ_READ_SECONDS: Number<u64> = Number {
    name: "DLQ_READ_SECONDS",
    default: 900,
    min: 30,
    max: 43_200,
    unit: Unit::Time,
    meaning: "how long DLQ messages stay hidden while they are read, should the reporter stop: its timeout",
};
const REQUEUE_LIMIT: Number<usize> = Number {
    name: "REQUEUE_LIMIT",
    default: 100_000,
    min: 1,
    max: 10_000_000,
    unit: Unit::Count,
    meaning: "the unexplained files kept for `--requeue-unexplained`",
};
const OBJECTIVE_P999_SECONDS: Number<u32> = Number {
    name: "OBJECTIVE_P999_SECONDS",
    default: 180,
    min: 1,
    max: 86_400,
    unit: Unit::Time,
    meaning: "the environment's latency objective for 99.9% of files",
};
const FUNCTION_NAME: Text = Text {
    default: "reporter",
    ..vars::FUNCTION_NAME
};

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
