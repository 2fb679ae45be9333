//! The aggregator's configuration: environment variables as written, validated once at start into typed values.
//!
//! Every variable is documented in README.md ("Configuration"). A missing or malformed variable is an error that
//! names it and says what it should hold; all of them are reported at once.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use redelivery::Schedule;

/// Where bundles go after they are archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// HTTPS POST to a NiFi ListenHTTP (or HandleHttpRequest) endpoint.
    Nifi { url: String },
    /// PutObject into an S3-compatible store (MinIO), verified with HeadObject.
    Minio { endpoint: String, bucket: String },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub archive_bucket: String,
    pub archive_prefix: String,
    pub idempotency_table: String,
    pub breaker_table: String,
    pub credentials_secret_id: String,
    pub sink: SinkConfig,
    pub dlq_url: String,
    pub source_queue_url: String,
    pub download_concurrency: usize,
    pub gzip_level: u32,
    /// Bundles above this size are archived with a multipart upload.
    pub multipart_threshold: u64,
    pub multipart_part_size: u64,
    /// Objects up to this size are buffered in memory while the bundle is written; larger ones go to a temp file.
    pub memory_spool_limit: u64,
    /// The limits that size the function's temp dir (`BUNDLE_MAX_BYTES` ...).
    pub limits: Limits,
    /// Where bundles are spooled and large downloads wait: the temp dir unless `SPOOL_DIR` says otherwise.
    pub spool_dir: PathBuf,
    pub http_connect_timeout: Duration,
    pub http_timeout: Duration,
    pub secret_cache: Duration,
    pub idempotency_ttl: Duration,
    pub breaker: BreakerConfig,
    pub redelivery: Schedule,
    pub metrics_namespace: String,
    /// Path-style S3 addressing, which emulators on a bare host:port need.
    pub s3_force_path_style: bool,
    /// The name metrics are dimensioned by: the Lambda function's name when it runs in Lambda.
    pub function_name: String,
}

/// What one invocation may take on: designed so that the temp dir holds a bundle and the downloads in flight
/// (`BUNDLE_MAX_BYTES` + max(`DOWNLOAD_BUFFER_BYTES`, `OBJECT_MAX_BYTES`)), and no work outlives the deadline.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest bundle, in compressed bytes; a batch that holds more goes out as several bundles.
    pub bundle_max_bytes: u64,
    /// Objects larger than this (by the event's size) are dead-lettered without being downloaded.
    pub object_max_bytes: u64,
    /// The bytes of downloads in flight at once, by the events' sizes.
    pub download_buffer_bytes: u64,
    /// No archive or delivery starts with less than this left before the deadline.
    pub deadline_margin: Duration,
}

/// What a bundle's tar entry and manifest may add to its one object, at most, beside gzip's framing.
pub const BUNDLE_OVERHEAD_BYTES: u64 = 64 << 10;

/// The largest object a bundle of `bundle_max_bytes` always holds: its tar entry and manifest
/// ([`BUNDLE_OVERHEAD_BYTES`]) and gzip's worst expansion, which for incompressible data is about 1/1000 of it
/// (bundle::MEMBER_OVERHEAD per 1 MiB member) and is counted as 1/512. infra-gen's sizing applies the same rule.
pub fn largest_object_in(bundle_max_bytes: u64) -> u64 {
    bundle_max_bytes.saturating_sub(BUNDLE_OVERHEAD_BYTES) / 513 * 512
}

/// The circuit breaker's tuning.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub cooldown: Duration,
    pub cooldown_max: Duration,
    pub cache: Duration,
}

/// What was wrong with the environment; lists every problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Whose configuration: `aggregator`, `reporter`.
    pub program: &'static str,
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the {}'s configuration is invalid ({} problem(s)); see README.md, section Configuration:",
            self.program,
            self.problems.len()
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

/// The environment as written: variable name to value.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    vars: HashMap<String, String>,
}

impl RawConfig {
    /// Reads the process environment.
    pub fn from_env() -> RawConfig {
        RawConfig {
            vars: std::env::vars().collect(),
        }
    }

    /// Takes the variables from a list of pairs (tests, local runs).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> RawConfig {
        RawConfig {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Every variable, as given (to hand the same configuration to another process).
    pub fn vars(&self) -> impl Iterator<Item = (&String, &String)> {
        self.vars.iter()
    }

    /// Sets one variable, replacing what was there.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.to_string(), value.into());
    }

    /// Checks every variable and returns the typed configuration, or every problem found.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let mut v = Validator::new(self, describe);
        let sink = match v.required("SINK").as_deref() {
            Some("nifi") => v
                .required_url("NIFI_URL")
                .map(|url| SinkConfig::Nifi { url }),
            Some("minio") => {
                let endpoint = v.required_url("MINIO_ENDPOINT");
                let bucket = v.required("MINIO_BUCKET");
                endpoint
                    .zip(bucket)
                    .map(|(endpoint, bucket)| SinkConfig::Minio { endpoint, bucket })
            }
            Some(other) => {
                v.problems.push(format!(
                    "SINK is `{other}`: set it to `nifi` (HTTPS POST to NiFi) or `minio` (S3-compatible store)"
                ));
                None
            }
            None => None,
        };
        let base = v.number(
            "REDELIVERY_BASE_SECONDS",
            20u32,
            1,
            redelivery::SQS_MAX_VISIBILITY_SECONDS,
        );
        let max = v.number(
            "REDELIVERY_MAX_SECONDS",
            900u32,
            1,
            redelivery::SQS_MAX_VISIBILITY_SECONDS,
        );
        let redelivery = match Schedule::new(base, max) {
            Ok(s) => Some(s),
            Err(e) => {
                v.problems.push(format!(
                    "REDELIVERY_BASE_SECONDS/REDELIVERY_MAX_SECONDS: {e}"
                ));
                None
            }
        };
        let cooldown = v.number("BREAKER_COOLDOWN_SECONDS", 30u64, 1, 43_200);
        let cooldown_max = v.number("BREAKER_COOLDOWN_MAX_SECONDS", 300u64, 1, 43_200);
        if cooldown_max < cooldown {
            v.problems.push(format!(
                "BREAKER_COOLDOWN_MAX_SECONDS ({cooldown_max}) is below BREAKER_COOLDOWN_SECONDS ({cooldown}): raise it"
            ));
        }
        let multipart_part_size = v.number("MULTIPART_PART_BYTES", 16 << 20, 5 << 20, 5 << 30);
        let limits = v.limits();
        let spool_dir = v.directory("SPOOL_DIR", std::env::temp_dir());
        // Placeholders stand where a problem was recorded; the config is only returned when there is none.
        let config = Config {
            sink: SinkConfig::Nifi { url: String::new() },
            redelivery: Schedule::new(1, 1).map_err(|e| ConfigError {
                program: PROGRAM,
                problems: vec![e.to_string()],
            })?,
            archive_bucket: v.required("ARCHIVE_BUCKET").unwrap_or_default(),
            archive_prefix: v.optional("ARCHIVE_PREFIX", "bundles"),
            idempotency_table: v.required("IDEMPOTENCY_TABLE").unwrap_or_default(),
            breaker_table: v.required("BREAKER_TABLE").unwrap_or_default(),
            credentials_secret_id: v.required("CREDENTIALS_SECRET_ID").unwrap_or_default(),
            dlq_url: v.required_url("DLQ_URL").unwrap_or_default(),
            source_queue_url: v.required_url("SOURCE_QUEUE_URL").unwrap_or_default(),
            download_concurrency: v.number("DOWNLOAD_CONCURRENCY", 32usize, 1, 1024),
            gzip_level: v.number("GZIP_LEVEL", bundle::DEFAULT_LEVEL, 0, 9),
            multipart_threshold: v.number("MULTIPART_THRESHOLD_BYTES", 64 << 20, 5 << 20, 5 << 30),
            multipart_part_size,
            memory_spool_limit: v.number("MEMORY_SPOOL_LIMIT_BYTES", 1 << 20, 0, 1 << 30),
            limits,
            spool_dir,
            http_connect_timeout: Duration::from_millis(v.number(
                "HTTP_CONNECT_TIMEOUT_MS",
                5_000u64,
                1,
                600_000,
            )),
            http_timeout: Duration::from_millis(v.number("HTTP_TIMEOUT_MS", 60_000u64, 1, 900_000)),
            secret_cache: Duration::from_secs(v.number("SECRET_CACHE_SECONDS", 300u64, 0, 86_400)),
            idempotency_ttl: Duration::from_secs(v.number(
                "IDEMPOTENCY_TTL_SECONDS",
                7 * 86_400u64,
                60,
                365 * 86_400,
            )),
            breaker: BreakerConfig {
                failure_threshold: v.number("BREAKER_FAILURE_THRESHOLD", 5u32, 1, 1000),
                cooldown: Duration::from_secs(cooldown),
                cooldown_max: Duration::from_secs(cooldown_max),
                cache: Duration::from_millis(v.number("BREAKER_CACHE_MS", 2_000u64, 0, 60_000)),
            },
            metrics_namespace: v.optional("METRICS_NAMESPACE", "FileAggregator"),
            s3_force_path_style: v.flag("S3_FORCE_PATH_STYLE"),
            function_name: v.optional(
                "AWS_LAMBDA_FUNCTION_NAME",
                &v.optional("FUNCTION_NAME", "aggregator"),
            ),
        };
        match (sink, redelivery) {
            (Some(sink), Some(redelivery)) if v.problems.is_empty() => Ok(Config {
                sink,
                redelivery,
                ..config
            }),
            _ => Err(v.error(PROGRAM)),
        }
    }
}

/// Whose configuration this module validates, for its errors.
const PROGRAM: &str = "aggregator";

/// Checks variables one at a time and collects every problem, each naming its variable and what it should hold;
/// the reporter validates its own variables with it too.
pub struct Validator<'a> {
    raw: &'a RawConfig,
    /// What a required variable holds, for the message when it is missing.
    describe: fn(&str) -> &'static str,
    problems: Vec<String>,
}

impl<'a> Validator<'a> {
    pub fn new(raw: &'a RawConfig, describe: fn(&str) -> &'static str) -> Validator<'a> {
        Validator {
            raw,
            describe,
            problems: Vec::new(),
        }
    }

    /// Records a problem the caller found (a rule between variables).
    pub fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    /// Every problem found so far, as `program`'s configuration error.
    pub fn error(self, program: &'static str) -> ConfigError {
        ConfigError {
            program,
            problems: self.problems,
        }
    }

    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    fn get(&self, name: &str) -> Option<String> {
        self.raw
            .vars
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&mut self, name: &str) -> Option<String> {
        let value = self.get(name);
        if value.is_none() {
            self.problems
                .push(format!("{name} is not set: {}", (self.describe)(name)));
        }
        value
    }

    pub fn required_url(&mut self, name: &str) -> Option<String> {
        let value = self.required(name)?;
        if value.starts_with("https://") || value.starts_with("http://") {
            Some(value)
        } else {
            self.problems.push(format!(
                "{name} is `{value}`, not a URL: give it as https://host[:port]/path"
            ));
            None
        }
    }

    pub fn optional(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    /// The size and time limits, checked against each other.
    fn limits(&mut self) -> Limits {
        let bundle_max_bytes: u64 = self.number("BUNDLE_MAX_BYTES", 256 << 20, 128 << 10, 10 << 30);
        let fits = largest_object_in(bundle_max_bytes);
        let object_max_bytes = self.number("OBJECT_MAX_BYTES", fits.min(128 << 20), 1, 10 << 30);
        if object_max_bytes > fits {
            self.problems.push(format!(
                "OBJECT_MAX_BYTES ({object_max_bytes}) does not fit in a bundle of BUNDLE_MAX_BYTES \
                 ({bundle_max_bytes}) with room for its tar entry, manifest and gzip framing: \
                 lower it to {fits} or raise BUNDLE_MAX_BYTES"
            ));
        }
        Limits {
            bundle_max_bytes,
            object_max_bytes,
            download_buffer_bytes: self.number(
                "DOWNLOAD_BUFFER_BYTES",
                64 << 20,
                1 << 10,
                10 << 30,
            ),
            deadline_margin: Duration::from_millis(self.number(
                "DEADLINE_MARGIN_MS",
                10_000u64,
                0,
                900_000,
            )),
        }
    }

    fn directory(&mut self, name: &str, default: PathBuf) -> PathBuf {
        let Some(dir) = self.get(name).map(PathBuf::from) else {
            return default;
        };
        if !dir.is_dir() {
            self.problems.push(format!(
                "{name} is `{}`, which is not a directory: create it, or unset {name} to use the temp dir",
                dir.display()
            ));
        }
        dir
    }

    pub fn flag(&mut self, name: &str) -> bool {
        match self.get(name).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                self.problems
                    .push(format!("{name} is `{other}`: give `true` or `false`"));
                false
            }
        }
    }

    pub fn number<T>(&mut self, name: &str, default: T, min: T, max: T) -> T
    where
        T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
    {
        let Some(text) = self.get(name) else {
            return default;
        };
        match text.parse::<T>() {
            Ok(n) if n >= min && n <= max => n,
            _ => {
                self.problems.push(format!(
                    "{name} is `{text}`: give a whole number from {min} to {max} (default {default})"
                ));
                default
            }
        }
    }
}

/// What a required variable holds, for the error message.
fn describe(name: &str) -> &'static str {
    match name {
        "ARCHIVE_BUCKET" => {
            "the S3 bucket bundles are archived in (Terraform output `archive_bucket`)"
        }
        "IDEMPOTENCY_TABLE" => {
            "the DynamoDB table of file claims (Terraform output `idempotency_table`)"
        }
        "BREAKER_TABLE" => {
            "the DynamoDB table holding the circuit breaker (Terraform output `breaker_table`)"
        }
        "CREDENTIALS_SECRET_ID" => "the Secrets Manager secret with the endpoint credentials",
        "SINK" => "`nifi` or `minio`",
        "NIFI_URL" => "the NiFi ListenHTTP URL, e.g. https://nifi.example:9443/contentListener",
        "MINIO_ENDPOINT" => "the MinIO endpoint URL, e.g. https://minio.example:9000",
        "MINIO_BUCKET" => "the MinIO bucket bundles are put into",
        "DLQ_URL" => "the dead-letter queue's URL (poison messages are sent there)",
        "SOURCE_QUEUE_URL" => {
            "the URL of the queue the function is fed from (held messages are hidden there)"
        }
        _ => "see README.md",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> RawConfig {
        RawConfig::from_pairs([
            ("ARCHIVE_BUCKET", "archive"),
            ("IDEMPOTENCY_TABLE", "claims"),
            ("BREAKER_TABLE", "breaker"),
            ("CREDENTIALS_SECRET_ID", "secret"),
            ("SINK", "nifi"),
            ("NIFI_URL", "https://nifi.example/contentListener"),
            ("DLQ_URL", "http://sqs/dlq"),
            ("SOURCE_QUEUE_URL", "http://sqs/queue"),
        ])
    }

    #[test]
    fn minimal_environment_gets_defaults() {
        let config = minimal().validate().expect("valid");
        assert_eq!(config.gzip_level, bundle::DEFAULT_LEVEL);
        assert_eq!(config.download_concurrency, 32);
        assert_eq!(config.redelivery.base_seconds(), 20);
        assert_eq!(config.secret_cache, Duration::from_secs(300));
        assert_eq!(config.limits.bundle_max_bytes, 256 << 20);
        assert_eq!(config.limits.object_max_bytes, 128 << 20);
        assert_eq!(config.limits.download_buffer_bytes, 64 << 20);
        assert_eq!(config.limits.deadline_margin, Duration::from_secs(10));
        assert_eq!(config.spool_dir, std::env::temp_dir());
        assert_eq!(
            config.sink,
            SinkConfig::Nifi {
                url: "https://nifi.example/contentListener".into()
            }
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_name() {
        let mut raw = RawConfig::from_pairs([("SINK", "ftp"), ("GZIP_LEVEL", "11")]);
        raw.set("DOWNLOAD_CONCURRENCY", "lots");
        let err = raw.validate().expect_err("invalid");
        let text = err.to_string();
        for name in [
            "ARCHIVE_BUCKET",
            "IDEMPOTENCY_TABLE",
            "BREAKER_TABLE",
            "CREDENTIALS_SECRET_ID",
            "DLQ_URL",
            "SOURCE_QUEUE_URL",
            "SINK is `ftp`",
            "GZIP_LEVEL is `11`",
            "DOWNLOAD_CONCURRENCY is `lots`",
        ] {
            assert!(text.contains(name), "missing {name} in:\n{text}");
        }
    }

    #[test]
    fn minio_needs_endpoint_and_bucket() {
        let mut raw = minimal();
        raw.set("SINK", "minio");
        let text = raw.validate().expect_err("invalid").to_string();
        assert!(text.contains("MINIO_ENDPOINT is not set"), "{text}");
        assert!(text.contains("MINIO_BUCKET is not set"), "{text}");
        raw.set("MINIO_ENDPOINT", "http://127.0.0.1:9000");
        raw.set("MINIO_BUCKET", "bundles");
        assert!(matches!(
            raw.validate().expect("valid").sink,
            SinkConfig::Minio { .. }
        ));
    }

    #[test]
    fn an_object_limit_that_cannot_fit_a_bundle_is_rejected_and_a_small_cap_lowers_the_default() {
        let mut raw = minimal();
        raw.set("BUNDLE_MAX_BYTES", (1u64 << 20).to_string());
        let limits = raw.validate().expect("valid").limits;
        assert_eq!(limits.object_max_bytes, largest_object_in(1 << 20));
        raw.set("OBJECT_MAX_BYTES", (1u64 << 20).to_string());
        raw.set("SPOOL_DIR", "/nonexistent/spool");
        let text = raw.validate().expect_err("invalid").to_string();
        assert!(
            text.contains("OBJECT_MAX_BYTES (1048576) does not fit"),
            "{text}"
        );
        assert!(text.contains("lower it to 980992"), "{text}");
        assert!(text.contains("SPOOL_DIR is `/nonexistent/spool`"), "{text}");
    }

    #[test]
    fn inconsistent_schedules_are_rejected() {
        let mut raw = minimal();
        raw.set("REDELIVERY_BASE_SECONDS", "600");
        raw.set("REDELIVERY_MAX_SECONDS", "60");
        raw.set("BREAKER_COOLDOWN_SECONDS", "60");
        raw.set("BREAKER_COOLDOWN_MAX_SECONDS", "10");
        let text = raw.validate().expect_err("invalid").to_string();
        assert!(text.contains("REDELIVERY_MAX_SECONDS"), "{text}");
        assert!(text.contains("BREAKER_COOLDOWN_MAX_SECONDS (10)"), "{text}");
    }
}
